# shellcheck shell=bash
# Settings and helpers shared by the kind scripts. Sourced, never run.
#
# Environment (all optional):
#   KIND_CLUSTERS        number of clusters, 2 or 3 (default 2)
#   KIND_PREFIX          cluster name prefix (default meshgate): meshgate-1, meshgate-2, ...
#   MESHGATE_IMAGE       image holding meshgate and e2e-workload (default meshgate/meshgate:e2e)
#   ENVOY_IMAGE          Envoy image of the gateways (default envoyproxy/envoy:v1.36-latest)
#   MESHGATE_MANIFESTS   the daemon's manifests, rendered per cluster (default deploy/meshgate)
#   MESHGATE_XDS         the daemon's secure xDS port as gateways see it (default meshgate.istio-system.svc:15012)
#   MESHGATE_XDS_NAME    the DNS name gateways verify in the daemon's certificate (default meshgate.istio-system.svc)
#   KIND_WORK            directory of generated files (default .kind-work in the repository)
#   APISERVER_OUTAGE     seconds an API server stays down in chaos.sh (default 120)

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KIND_CLUSTERS=${KIND_CLUSTERS:-2}
KIND_PREFIX=${KIND_PREFIX:-meshgate}
MESHGATE_IMAGE=${MESHGATE_IMAGE:-meshgate/meshgate:e2e}
ENVOY_IMAGE=${ENVOY_IMAGE:-envoyproxy/envoy:v1.36-latest}
MESHGATE_MANIFESTS=${MESHGATE_MANIFESTS:-$REPO/deploy/meshgate}
MESHGATE_XDS=${MESHGATE_XDS:-meshgate.istio-system.svc:15012}
MESHGATE_XDS_NAME=${MESHGATE_XDS_NAME:-meshgate.istio-system.svc}
KIND_WORK=${KIND_WORK:-$REPO/.kind-work}
APISERVER_OUTAGE=${APISERVER_OUTAGE:-120}
TRUST_DOMAIN=cluster.local
export REPO KIND_CLUSTERS KIND_PREFIX MESHGATE_IMAGE ENVOY_IMAGE MESHGATE_MANIFESTS MESHGATE_XDS MESHGATE_XDS_NAME KIND_WORK APISERVER_OUTAGE TRUST_DOMAIN

log() { printf '== %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# need fails unless every named tool is installed.
need() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null || die "$t is required (these scripts need Docker, kind, kubectl, openssl and go)"
  done
}

check_count() {
  case "$KIND_CLUSTERS" in
  2 | 3) ;;
  *) die "KIND_CLUSTERS=$KIND_CLUSTERS: want 2 or 3" ;;
  esac
}

clusters() { seq 1 "$KIND_CLUSTERS"; }
cluster_name() { printf '%s-%s' "$KIND_PREFIX" "$1"; }
cluster_id() { printf 'cluster%s' "$1"; }
network() { printf 'net%s' "$1"; }
kctx() { printf 'kind-%s' "$(cluster_name "$1")"; }

# k runs kubectl against cluster number $1.
k() {
  local i=$1
  shift
  kubectl --context "$(kctx "$i")" "$@"
}

# node_ip prints the Docker address of cluster $1's node: the address other
# clusters reach its east-west gateway and API server at.
node_ip() {
  docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$(cluster_name "$1")-control-plane"
}

# node runs a command on cluster $1's node.
node() {
  local i=$1
  shift
  docker exec "$(cluster_name "$i")-control-plane" "$@"
}

# meshgate runs the meshgate CLI of this checkout on the host.
meshgate() { go run "$REPO/cmd/meshgate" "$@"; }

# workload_id prints the SPIFFE ID of service account $2 in namespace $1.
workload_id() { printf 'spiffe://%s/ns/%s/sa/%s' "$TRUST_DOMAIN" "$1" "$2"; }

# wait_rollout waits for a deployment of cluster $1 (namespace $2, name $3).
wait_rollout() { k "$1" -n "$2" rollout status "deployment/$3" --timeout=300s; }

# call runs the e2e client of cluster $1 (e2e-workload call, in its pod)
# with the remaining arguments; it prints one line of figures and fails
# when a request failed.
call() {
  local i=$1
  shift
  k "$i" -n e2e exec deploy/client -- /usr/local/bin/e2e-workload call --xds "$MESHGATE_XDS" --xds-server-name "$MESHGATE_XDS_NAME" \
    --network "$(network "$i")" --cluster-id "$(cluster_id "$i")" "$@"
}

# target prints the call arguments for service $1 (optional subset $2).
target() {
  printf -- '--target\n%s.e2e.svc.cluster.local:8080\n--server-id\n%s\n' "$1" "$(workload_id e2e "$1")"
  if [ -n "${2:-}" ]; then printf -- '--subset\n%s\n' "$2"; fi
}

# ingress_call sends plain TCP requests to cluster 1's ingress gateway from
# a container on kind's Docker network (outside every cluster).
ingress_call() {
  docker run --rm --network kind --entrypoint /usr/local/bin/e2e-workload "$MESHGATE_IMAGE" \
    call --plain "$(node_ip 1):9000" "$@"
}

# kill_container kills (SIGKILL) container $3 of the pods labelled $2 in
# cluster $1's istio-system, through the node's CRI: the pod stays, the
# container restarts (kill -9 of one process, not a pod deletion).
kill_container() {
  local i=$1 sel=$2 name=$3 pod
  pod=$(k "$i" -n istio-system get pod -l "$sel" -o jsonpath='{.items[0].metadata.name}')
  docker exec "$(cluster_name "$i")-control-plane" sh -c \
    "crictl ps -q --name '^$name\$' --label io.kubernetes.pod.name=$pod | xargs -r crictl stop --timeout 0"
}

# mesh_root stores the mesh root in ConfigMap meshgate-root of cluster $1's
# istio-system: meshgate agent verifies the daemon's certificate with it.
mesh_root() {
  k "$1" -n istio-system create configmap meshgate-root --from-file=root-cert.pem="$KIND_WORK/pki/root-cert.pem" \
    --dry-run=client -o yaml | k "$1" apply -f -
}

# gateway_bootstrap prints `meshgate bootstrap` flags that connect Envoy to
# the daemon's secure port with meshgate agent's SDS socket.
gateway_bootstrap() {
  printf -- '--xds-address\n%s\n--xds-server-name\n%s\n--sds-socket\n/var/run/meshgate/sds/sds.sock\n' "$MESHGATE_XDS" "$MESHGATE_XDS_NAME"
}

# gateway_spec prints the pod spec (Deployment template indentation) of an
# Envoy gateway with service account $1 and bootstrap ConfigMap $2: meshgate
# agent beside Envoy (projected token, audience istio-ca; the mesh root),
# sharing the SDS socket; both run as 1337, the socket's owner.
gateway_spec() {
  cat <<YAML
    spec:
      serviceAccountName: $1
      securityContext: {runAsNonRoot: true, runAsUser: 1337, runAsGroup: 1337, fsGroup: 1337}
      containers:
      - name: agent
        image: $MESHGATE_IMAGE
        args: [agent, --xds-address=$MESHGATE_XDS, --xds-server-name=$MESHGATE_XDS_NAME,
          --ca-root=/etc/meshgate/root/root-cert.pem, --sds-socket=/var/run/meshgate/sds/sds.sock]
        volumeMounts:
        - {name: istio-token, mountPath: /var/run/secrets/tokens, readOnly: true}
        - {name: mesh-root, mountPath: /etc/meshgate/root, readOnly: true}
        - {name: sds, mountPath: /var/run/meshgate/sds}
      - name: envoy
        image: $ENVOY_IMAGE
        args: [-c, /etc/envoy/bootstrap.json, --log-level, warn]
        volumeMounts:
        - {name: bootstrap, mountPath: /etc/envoy}
        - {name: sds, mountPath: /var/run/meshgate/sds}
      volumes:
      - {name: bootstrap, configMap: {name: $2}}
      - {name: mesh-root, configMap: {name: meshgate-root}}
      - {name: sds, emptyDir: {medium: Memory}}
      - name: istio-token
        projected: {sources: [{serviceAccountToken: {audience: istio-ca, expirationSeconds: 43200, path: istio-token}}]}
YAML
}
