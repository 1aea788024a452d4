#!/usr/bin/env bash
# Runs the e2e suite's scenarios against the kind clusters (up.sh, then
# workloads.sh). Each prints its figures; the script fails on the first
# scenario with a failed request.
# Usage: deploy/kind/scenarios.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
need docker kubectl

mapfile -t only_b < <(target only-b)
mapfile -t echo_all < <(target echo)
mapfile -t echo_v1 < <(target echo v1)
mapfile -t echo_v2 < <(target echo v2)

log "service only in cluster2, called from cluster1 (through cluster2's east-west gateway)"
call 1 "${only_b[@]}" --n 200
log "service in every cluster, called from cluster1"
call 1 "${echo_all[@]}" --n 300
log "subset v1 / v2 through the east-west gateways"
call 1 "${echo_v1[@]}" --n 200
call 1 "${echo_v2[@]}" --n 200
log "north-south: ingress in cluster1 (TCP :9000) to only-b in cluster2"
ingress_call --n 200
log "all scenarios passed"
