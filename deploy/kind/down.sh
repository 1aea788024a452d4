#!/usr/bin/env bash
# Deletes the kind clusters made by up.sh and the generated files.
# Usage: deploy/kind/down.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
need kind
for i in 1 2 3; do
  name=$(cluster_name "$i")
  if kind get clusters | grep -qx "$name"; then kind delete cluster --name "$name"; fi
done
rm -rf "$KIND_WORK"
