#!/usr/bin/env bash
# Chaos scenarios against the kind clusters (after up.sh and workloads.sh).
# Each runs a paced load from cluster1's client to only-b (in cluster2) in
# the background, injects a fault, heals it, and prints the figures of the
# load during the fault and of a load after the heal (which must succeed
# fully: the mesh recovered).
# Usage: deploy/kind/chaos.sh [scenario ...]
#   scenarios: kill-daemon kill-gateway partition loss latency apiserver
#              token keyring remove-cluster (default: all that apply)
# APISERVER_OUTAGE (seconds, default 120) sets the API-server outage.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
need docker kind kubectl

mapfile -t only_b < <(target only-b)
ip2=$(node_ip 2)
rate=50

# under_fault starts a load of $1 seconds in the background; its figures
# land in $KIND_WORK/load.out. wait_load waits for it and prints them.
under_fault() {
  call 1 "${only_b[@]}" --rate "$rate" --n $(($1 * rate)) >"$KIND_WORK/load.out" 2>&1 &
  load_pid=$!
}
wait_load() {
  local status=0
  wait "$load_pid" || status=$?
  printf 'during the fault: %s\n' "$(cat "$KIND_WORK/load.out")"
  return "$status"
}
recovered() {
  log "after the heal (must fully succeed)"
  call 1 "${only_b[@]}" --n 200
}

kill_daemon() {
  log "kill -9 the daemons of cluster1 and cluster2; the last good config keeps serving"
  under_fault 20
  kill_container 1 app=istio-eastwestgateway meshgate
  kill_container 2 app=istio-eastwestgateway meshgate
  wait_load # must succeed: gateways and clients keep their config
  wait_rollout 1 istio-system istio-eastwestgateway
  wait_rollout 2 istio-system istio-eastwestgateway
  recovered
}

kill_gateway() {
  log "kill cluster2's east-west gateway; it restarts"
  under_fault 20
  kill_container 2 istio=eastwestgateway envoy
  wait_load || true # requests fail while the gateway is down
  wait_rollout 2 istio-system istio-eastwestgateway
  recovered
}

# node_rules inserts ($1=-I) or deletes ($1=-D) rules on cluster1's node
# that drop traffic to and from cluster2's node ($2...: extra match).
node_rules() {
  local op=$1
  shift
  node 1 iptables "$op" FORWARD -d "$ip2" "$@" -j DROP
  node 1 iptables "$op" OUTPUT -d "$ip2" "$@" -j DROP
  node 1 iptables "$op" INPUT -s "$ip2" "$@" -j DROP
}

partition() {
  log "partition cluster1's node from cluster2's node (iptables DROP), then heal"
  under_fault 20
  node_rules -I
  wait_load || true
  node_rules -D
  recovered
}

loss() {
  log "10% packet loss between cluster1 and cluster2 (iptables statistic)"
  node_rules -I -m statistic --mode random --probability 0.1
  under_fault 20
  wait_load || true
  node_rules -D -m statistic --mode random --probability 0.1
  recovered
}

latency() {
  log "200 ms latency on cluster1's node (tc netem: Docker hosts have it)"
  node 1 tc qdisc add dev eth0 root netem delay 200ms
  under_fault 10
  wait_load || true
  node 1 tc qdisc del dev eth0 root
  recovered
}

apiserver() {
  log "cluster2's API server down for ${APISERVER_OUTAGE}s (static pod manifest moved away)"
  node 2 mv /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/kube-apiserver.yaml.off
  under_fault "$APISERVER_OUTAGE"
  wait_load # fail-static: endpoints stay, traffic flows
  node 2 mv /etc/kubernetes/kube-apiserver.yaml.off /etc/kubernetes/manifests/kube-apiserver.yaml
  k 2 wait --for=condition=Ready node --all --timeout=300s
  recovered
}

token() {
  log "rotate cluster2's remote-secret token (new create-remote-secret applied in cluster1)"
  under_fault 20
  meshgate create-remote-secret --kubeconfig "$KIND_WORK/internal-2.kubeconfig" --cluster-id "$(cluster_id 2)" |
    k 1 apply -f -
  wait_load
  recovered
}

# daemon_cli runs the meshgate CLI inside cluster $1's daemon pod, against
# its admin API (the default loopback address).
daemon_cli() {
  local i=$1
  shift
  k "$i" -n istio-system exec deploy/istio-eastwestgateway -c meshgate -- meshgate "$@"
}

keyring() {
  log "rotate the gossip key on every daemon: install, use, remove the old (meshgate keyring)"
  local key old fp i
  key=$(meshgate keyring generate)
  old=$(daemon_cli 1 keyring list | awk '{print $1}')
  under_fault 20
  for i in $(clusters); do daemon_cli "$i" keyring install "$key"; done
  for i in $(clusters); do daemon_cli "$i" keyring use "$key"; done
  for i in $(clusters); do
    for fp in $old; do daemon_cli "$i" keyring remove "$fp"; done
  done
  wait_load
  for i in $(clusters); do daemon_cli "$i" members; done
  recovered
}

remove_cluster() {
  [ "$KIND_CLUSTERS" = 3 ] || {
    log "remove-cluster needs KIND_CLUSTERS=3; not run"
    return 0
  }
  log "delete cluster3; its endpoints are withdrawn by the fail-static policy"
  kind delete cluster --name "$(cluster_name 3)"
  mapfile -t echo_v2 < <(target echo v2)
  # echo v2 now runs only in cluster2: calls succeed once cluster3's
  # gateway is withdrawn (bounded by the policy).
  local n
  for n in $(seq 1 60); do
    if call 1 "${echo_v2[@]}" --n 50; then
      log "echo v2 fully served by cluster2 after $n rounds"
      return 0
    fi
  done
  die "cluster3's endpoints were never withdrawn"
}

scenarios=("$@")
if [ "${#scenarios[@]}" -eq 0 ]; then
  scenarios=(kill-daemon kill-gateway partition loss latency apiserver token keyring remove-cluster)
fi
for s in "${scenarios[@]}"; do
  case "$s" in
  kill-daemon) kill_daemon ;;
  kill-gateway) kill_gateway ;;
  partition) partition ;;
  loss) loss ;;
  latency) latency ;;
  apiserver) apiserver ;;
  token) token ;;
  keyring) keyring ;;
  remove-cluster) remove_cluster ;;
  *) die "unknown scenario $s" ;;
  esac
done
log "chaos scenarios done"
