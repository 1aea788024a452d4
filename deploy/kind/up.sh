#!/usr/bin/env bash
# Creates KIND_CLUSTERS (2 or 3) kind clusters, one network each, and installs
# meshgate in every one: the daemon (from $MESHGATE_MANIFESTS with a
# per-cluster config), an Envoy east-west gateway on 15443 (Service labelled
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

# install_meshgate installs the daemon in cluster $1. Contract with the
# manifests: a kustomize base in istio-system that runs `meshgate run
# --config /etc/meshgate/config.yaml` from ConfigMap meshgate-config, mounts
# Secret cacerts at /etc/cacerts, copies gossip.keys of Secret
# meshgate-gossip to the writable /var/run/meshgate/gossip.keys (the daemon
# rewrites it on key rotation), labels its pods app=meshgate, uses image
# name "meshgate", and has a Service "meshgate" (xDS 15010).
install_meshgate() {
  local i=$1 overlay=$KIND_WORK/overlay-$1
  [ -f "$MESHGATE_MANIFESTS/kustomization.yaml" ] ||
    die "no kustomization in $MESHGATE_MANIFESTS (set MESHGATE_MANIFESTS to the daemon's manifests)"
  k "$i" create namespace istio-system --dry-run=client -o yaml | k "$i" apply -f -
  local ca
  ca=$KIND_WORK/pki/cacerts-$(cluster_id "$i")
  k "$i" -n istio-system create secret generic cacerts --from-file="$ca/ca-cert.pem" --from-file="$ca/ca-key.pem" \
    --from-file="$ca/root-cert.pem" --from-file="$ca/cert-chain.pem" --dry-run=client -o yaml | k "$i" apply -f -
  k "$i" -n istio-system create secret generic meshgate-gossip --from-file=gossip.keys="$KIND_WORK/gossip.keys" \
    --dry-run=client -o yaml | k "$i" apply -f -
  # Gossip crosses networks at the node's address (pod addresses are not
  # routed between kind clusters); every daemon joins cluster 1's.
  local join="[]"
  [ "$i" = 1 ] || join="[$(node_ip 1):7946]"
  mkdir -p "$overlay"
  cat >"$overlay/config.yaml" <<YAML
cluster-id: $(cluster_id "$i")
network: $(network "$i")
trust-domain: $TRUST_DOMAIN
mesh-id: e2e
xds-address: 0.0.0.0:15010
admin-address: 0.0.0.0:15014
cacerts: /etc/cacerts
gossip-address: 0.0.0.0:7946
gossip-advertise: $(node_ip "$i"):7946
gossip-key-file: /var/run/meshgate/gossip.keys
join: $join
YAML
  cat >"$overlay/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: istio-system
resources: [$(realpath --relative-to="$overlay" "$MESHGATE_MANIFESTS")]
images: [{name: meshgate, newName: ${MESHGATE_IMAGE%:*}, newTag: ${MESHGATE_IMAGE##*:}}]
configMapGenerator:
- {name: meshgate-config, files: [config.yaml], behavior: create}
generatorOptions: {disableNameSuffixHash: true}
YAML
  k "$i" apply -k "$overlay"
  k "$i" apply -f - <<YAML
apiVersion: v1
kind: Service
metadata: {name: meshgate-gossip, namespace: istio-system}
spec:
  selector: {app: meshgate}
  externalIPs: [$(node_ip "$i")]
  ports:
  - {name: gossip-tcp, port: 7946, protocol: TCP}
  - {name: gossip-udp, port: 7946, protocol: UDP}
YAML
  wait_rollout "$i" istio-system meshgate
}

# install_gateway installs an Envoy gateway named $2 in cluster $1 with
# labels $3 (k=v,k=v), bootstrapped by `meshgate bootstrap`.
install_gateway() {
  local i=$1 name=$2 args=() kv kvs
  IFS=, read -ra kvs <<<"$3"
  for kv in "${kvs[@]}"; do args+=(--label "$kv"); done
  meshgate bootstrap --node-id "router~0.0.0.0~$name.istio-system~istio-system.svc.cluster.local" \
    --xds-address "$MESHGATE_XDS" --cluster-id "$(cluster_id "$i")" --network "$(network "$i")" \
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
    spec:
      serviceAccountName: $name
      containers:
      - name: envoy
        image: $ENVOY_IMAGE
        args: [-c, /etc/envoy/bootstrap.json, --log-level, warn]
        volumeMounts: [{name: bootstrap, mountPath: /etc/envoy}]
      volumes: [{name: bootstrap, configMap: {name: $name-bootstrap}}]
YAML
  wait_rollout "$i" istio-system "$name"
}

for i in $(clusters); do
  log "meshgate in $(cluster_id "$i")"
  install_meshgate "$i"
  install_gateway "$i" istio-eastwestgateway "istio=eastwestgateway,topology.istio.io/network=$(network "$i")"
  k "$i" apply -f - <<YAML
apiVersion: v1
kind: Service
metadata:
  name: istio-eastwestgateway
  namespace: istio-system
  labels: {istio: eastwestgateway, topology.istio.io/network: $(network "$i")}
spec:
  selector: {istio: eastwestgateway}
  externalIPs: [$(node_ip "$i")]
  ports: [{name: tls, port: 15443, targetPort: 15443}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: cross-network-gateway, namespace: istio-system}
spec:
  selector: {istio: eastwestgateway}
  servers:
  - port: {number: 15443, name: tls, protocol: TLS}
    tls: {mode: AUTO_PASSTHROUGH}
    hosts: ["*.local"]
YAML
done

# Remote secrets: cluster 1 gets every other cluster's; gossip carries them
# on, so N clusters need N-1 joins. The kubeconfig given to
# create-remote-secret must name the API server as other clusters' pods
# reach it (kind's --internal kubeconfig: https://<node>:6443).
for i in $(clusters); do
  [ "$i" = 1 ] && continue
  log "join $(cluster_id "$i") to $(cluster_id 1)"
  kind get kubeconfig --internal --name "$(cluster_name "$i")" >"$KIND_WORK/internal-$i.kubeconfig"
  meshgate create-remote-secret --kubeconfig "$KIND_WORK/internal-$i.kubeconfig" --name "$(cluster_id "$i")" |
    k 1 apply -f -
done
log "up: $KIND_CLUSTERS clusters; next: deploy/kind/workloads.sh"
