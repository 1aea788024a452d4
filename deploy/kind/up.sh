#!/usr/bin/env bash
# Creates KIND_CLUSTERS (2 or 3) kind clusters, one network each, and installs
# meshgate in every one from $MESHGATE_MANIFESTS (deploy/meshgate): the
# daemon beside an Envoy east-west gateway on 15443 (Service labelled
# topology.istio.io/network, external IP = the node's Docker address) and
# the AUTO_PASSTHROUGH Gateway; then joins the clusters (remote secrets).
# Then run workloads.sh, scenarios.sh and chaos.sh; down.sh removes it all.
# Usage: deploy/kind/up.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
need docker kind kubectl openssl go
check_count

log "image $MESHGATE_IMAGE"
docker build -f "$REPO/deploy/kind/Dockerfile" -t "$MESHGATE_IMAGE" "$REPO"

"$REPO/deploy/kind/pki.sh"

for i in $(clusters); do
  name=$(cluster_name "$i")
  if ! kind get clusters | grep -qx "$name"; then
    log "kind cluster $name"
    cat >"$KIND_WORK/kind-$i.yaml" <<YAML
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
networking:
  podSubnet: 10.$((10 + i)).0.0/16
  serviceSubnet: 10.$((20 + i)).0.0/16
YAML
    kind create cluster --name "$name" --config "$KIND_WORK/kind-$i.yaml" --wait 120s
  fi
  kind load docker-image "$MESHGATE_IMAGE" --name "$name"
done

# The mesh's gossip key, shared by every daemon (meshgate keyring generate).
if [ ! -f "$KIND_WORK/gossip.keys" ]; then
  meshgate keyring generate >"$KIND_WORK/gossip.keys"
fi

# install_meshgate installs deploy/meshgate (the daemon beside the Envoy
# east-west gateway, one pod) in cluster $1, rendered for the cluster: its
# id, network and image; gossip advertised and the east-west gateway reached
# at the node's Docker address (pod addresses are not routed between kind
# clusters); every daemon joins cluster 1's.
install_meshgate() {
  local i=$1 ca ip join=""
  ip=$(node_ip "$i")
  k "$i" create namespace istio-system --dry-run=client -o yaml | k "$i" apply -f -
  ca=$KIND_WORK/pki/cacerts-$(cluster_id "$i")
  k "$i" -n istio-system create secret generic cacerts --from-file="$ca/ca-cert.pem" --from-file="$ca/ca-key.pem" \
    --from-file="$ca/root-cert.pem" --from-file="$ca/cert-chain.pem" --dry-run=client -o yaml | k "$i" apply -f -
  k "$i" -n istio-system create secret generic meshgate-gossip --from-file=gossip.keys="$KIND_WORK/gossip.keys" \
    --dry-run=client -o yaml | k "$i" apply -f -
  mesh_root "$i"
  [ "$i" = 1 ] || join="        - --join=$(node_ip 1):7946"
  # Cluster 1 admits the others through their remote secrets (below); the
  # others admit every other cluster by id.
  local admit="" o
  if [ "$i" != 1 ]; then
    for o in $(clusters); do
      [ "$o" = "$i" ] || admit="$admit${admit:+,}$(cluster_id "$o")"
    done
  fi
  local f
  for f in "$MESHGATE_MANIFESTS"/*.yaml; do
    sed -e "s|ghcr.io/meshgate/meshgate:latest|$MESHGATE_IMAGE|" \
      -e "s|envoyproxy/envoy:v1.36-latest|$ENVOY_IMAGE|" \
      -e "s|topology.istio.io/network: network1|topology.istio.io/network: $(network "$i")|" \
      -e "s|CLUSTER_ID: cluster1|CLUSTER_ID: $(cluster_id "$i")|" \
      -e "s|NETWORK: network1|NETWORK: $(network "$i")|" \
      -e "s|MESH_ID: mesh1|MESH_ID: e2e|" \
      -e "s|ADMIT_CLUSTERS: \"\"|ADMIT_CLUSTERS: \"$admit\"|" \
      -e "s|--gossip-advertise=\$(POD_IP):7946|--gossip-advertise=$ip:7946|" \
      "$f"
    printf '%s\n' "---"
  done | awk -v join="$join" '{print} /--gossip-advertise=/ && join != "" {print join}' | k "$i" apply -f -
  # kind has no load balancer: the gateway and gossip Services take the
  # node's address (the daemon finds the gateway through it).
  local svc
  for svc in istio-eastwestgateway meshgate-gossip; do
    k "$i" -n istio-system patch service "$svc" --type merge -p "{\"spec\":{\"type\":\"ClusterIP\",\"externalIPs\":[\"$ip\"]}}"
  done
  wait_rollout "$i" istio-system istio-eastwestgateway
}

# install_gateway installs an Envoy gateway named $2 in cluster $1 with
# labels $3 (k=v,k=v), bootstrapped by `meshgate bootstrap`, beside meshgate
# agent (the secure xDS port with its own service account's token).
install_gateway() {
  local i=$1 name=$2 args=() kv kvs
  IFS=, read -ra kvs <<<"$3"
  for kv in "${kvs[@]}"; do args+=(--label "$kv"); done
  mapfile -t -O "${#args[@]}" args < <(gateway_bootstrap)
  meshgate bootstrap --node-id "router~0.0.0.0~$name.istio-system~istio-system.svc.cluster.local" \
    --cluster-id "$(cluster_id "$i")" --network "$(network "$i")" \
    --admin-address 127.0.0.1:15000 "${args[@]}" >"$KIND_WORK/bootstrap-$name-$i.json"
  k "$i" -n istio-system create configmap "$name-bootstrap" --from-file=bootstrap.json="$KIND_WORK/bootstrap-$name-$i.json" \
    --dry-run=client -o yaml | k "$i" apply -f -
  local match labels
  match=$(printf '%s\n' "${kvs[@]}" | sed 's/=/: /; s/^/      /')
  labels=$(printf '%s\n' "${kvs[@]}" | sed 's/=/: /; s/^/        /')
  k "$i" apply -f - <<YAML
apiVersion: v1
kind: ServiceAccount
metadata: {name: $name, namespace: istio-system}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: $name, namespace: istio-system}
spec:
  selector:
    matchLabels:
$match
  template:
    metadata:
      labels:
$labels
$(gateway_spec "$name" "$name-bootstrap")
YAML
  wait_rollout "$i" istio-system "$name"
}

for i in $(clusters); do
  log "meshgate in $(cluster_id "$i")"
  install_meshgate "$i"
done

# Remote secrets: cluster 1 gets every other cluster's; gossip carries them
# on, so N clusters need N-1 joins. The kubeconfig given to
# create-remote-secret must name the API server as other clusters' pods
# reach it (kind's --internal kubeconfig: https://<node>:6443).
for i in $(clusters); do
  [ "$i" = 1 ] && continue
  log "join $(cluster_id "$i") to $(cluster_id 1)"
  kind get kubeconfig --internal --name "$(cluster_name "$i")" >"$KIND_WORK/internal-$i.kubeconfig"
  meshgate create-remote-secret --kubeconfig "$KIND_WORK/internal-$i.kubeconfig" --cluster-id "$(cluster_id "$i")" |
    k 1 apply -f -
done
log "up: $KIND_CLUSTERS clusters; next: deploy/kind/workloads.sh"
