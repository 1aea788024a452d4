#!/usr/bin/env bash
# Deploys the e2e suite's world into the kind clusters made by up.sh, the
# same as the namespace suite (test/e2e/shared_test.go):
#   cluster1: echo v1, the client, the ingress gateway (TCP :9000 -> only-b)
#   cluster2: echo v1, echo v2, only-b v1, the client
#   cluster3: echo v2, the client (with KIND_CLUSTERS=3)
# Echo pods and clients get SVIDs from `meshgate cert issue --cacerts`
# (their cluster's intermediate) in Secrets; pods are labelled
# security.istio.io/tlsMode=istio, as sidecar injection would.
# Usage: deploy/kind/workloads.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
need docker kind kubectl go

# svid_secret issues an SVID for service account $2 of namespace e2e in
# cluster $1 and stores it in Secret svid-$2.
svid_secret() {
  local i=$1 sa=$2 out=$KIND_WORK/svid-$1-$2
  meshgate cert issue --cacerts "$KIND_WORK/pki/cacerts-$(cluster_id "$i")" \
    --spiffe-id "$(workload_id e2e "$sa")" --out "$out" --svid-ttl 72h >/dev/null
  k "$i" -n e2e create secret generic "svid-$sa" --from-file="$out" --dry-run=client -o yaml | k "$i" apply -f -
}

# echo_deploy deploys echo pods of service $2, version $3 in cluster $1.
echo_deploy() {
  local i=$1 svc=$2 version=$3
  k "$i" apply -f - <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: $svc-$version, namespace: e2e}
spec:
  selector: {matchLabels: {app: $svc, version: $version}}
  template:
    metadata:
      labels: {app: $svc, version: $version, security.istio.io/tlsMode: istio}
    spec:
      serviceAccountName: $svc
      containers:
      - name: echo
        image: $MESHGATE_IMAGE
        command: [/usr/local/bin/e2e-workload, echo, --listen, "0.0.0.0:8080", --cert-dir, /etc/svid,
                  --cluster, $(cluster_id "$i"), --service, $svc.e2e.svc.cluster.local, --version, $version]
        env: [{name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
        volumeMounts: [{name: svid, mountPath: /etc/svid}]
      volumes: [{name: svid, secret: {secretName: svid-$svc}}]
YAML
}

service() {
  local i=$1 svc=$2
  k "$i" apply -f - <<YAML
apiVersion: v1
kind: ServiceAccount
metadata: {name: $svc, namespace: e2e}
---
apiVersion: v1
kind: Service
metadata: {name: $svc, namespace: e2e, labels: {app: $svc}}
spec:
  selector: {app: $svc}
  ports: [{name: tcp-echo, port: 8080, targetPort: 8080}]
YAML
}

# routing applies the echo DestinationRule and the clients' egress
# Gateway and routes (each route gives the clients one cluster over CDS/EDS).
routing() {
  k "$1" apply -f - <<'YAML'
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: e2e}
spec:
  host: echo.e2e.svc.cluster.local
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: client, namespace: e2e}
spec:
  selector: {app: e2e-client}
  servers:
  - port: {number: 15001, name: tls, protocol: TLS}
    tls: {mode: PASSTHROUGH}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: client, namespace: e2e}
spec:
  gateways: [client]
  hosts: ["*.client.e2e"]
  tls:
  - match: [{port: 15001, sniHosts: [echo.client.e2e]}]
    route: [{destination: {host: echo.e2e.svc.cluster.local, port: {number: 8080}}}]
  - match: [{port: 15001, sniHosts: [v1.echo.client.e2e]}]
    route: [{destination: {host: echo.e2e.svc.cluster.local, port: {number: 8080}, subset: v1}}]
  - match: [{port: 15001, sniHosts: [v2.echo.client.e2e]}]
    route: [{destination: {host: echo.e2e.svc.cluster.local, port: {number: 8080}, subset: v2}}]
  - match: [{port: 15001, sniHosts: [only-b.client.e2e]}]
    route: [{destination: {host: only-b.e2e.svc.cluster.local, port: {number: 8080}}}]
YAML
}

# client deploys an idle client pod; scenarios.sh runs e2e-workload call in it.
client() {
  k "$1" apply -f - <<YAML
apiVersion: v1
kind: ServiceAccount
metadata: {name: client, namespace: e2e}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: client, namespace: e2e}
spec:
  selector: {matchLabels: {app: e2e-client}}
  template:
    metadata:
      labels: {app: e2e-client}
    spec:
      serviceAccountName: client
      containers:
      - name: client
        image: $MESHGATE_IMAGE
        command: [/usr/local/bin/e2e-workload, idle]
        env:
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
        volumeMounts: [{name: svid, mountPath: /etc/svid}]
      volumes: [{name: svid, secret: {secretName: svid-client}}]
YAML
}

ingress() {
  install_gateway_ingress=$KIND_WORK/bootstrap-ingress.json
  local secure
  mapfile -t secure < <(gateway_bootstrap)
  meshgate bootstrap --node-id "router~0.0.0.0~istio-ingressgateway.istio-system~istio-system.svc.cluster.local" \
    "${secure[@]}" --cluster-id "$(cluster_id 1)" --network "$(network 1)" \
    --label istio=ingressgateway >"$install_gateway_ingress"
  k 1 -n istio-system create configmap istio-ingressgateway-bootstrap --from-file=bootstrap.json="$install_gateway_ingress" \
    --dry-run=client -o yaml | k 1 apply -f -
  k 1 apply -f - <<YAML
apiVersion: v1
kind: ServiceAccount
metadata: {name: istio-ingressgateway, namespace: istio-system}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  template:
    metadata: {labels: {istio: ingressgateway}}
$(gateway_spec istio-ingressgateway istio-ingressgateway-bootstrap)
---
apiVersion: v1
kind: Service
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  externalIPs: [$(node_ip 1)]
  ports: [{name: tcp, port: 9000, targetPort: 9000}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: ingress, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 9000, name: tcp, protocol: TCP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ingress, namespace: istio-system}
spec:
  gateways: [ingress]
  hosts: ["*"]
  tcp:
  - match: [{port: 9000}]
    route: [{destination: {host: only-b.e2e.svc.cluster.local, port: {number: 8080}}}]
YAML
  wait_rollout 1 istio-system istio-ingressgateway
}

for i in $(clusters); do
  log "workloads in $(cluster_id "$i")"
  k "$i" create namespace e2e --dry-run=client -o yaml | k "$i" apply -f -
  service "$i" echo
  svid_secret "$i" echo
  svid_secret "$i" client
  routing "$i"
  client "$i"
done
echo_deploy 1 echo v1
echo_deploy 2 echo v1
echo_deploy 2 echo v2
service 2 only-b
svid_secret 2 only-b
echo_deploy 2 only-b v1
if [ "$KIND_CLUSTERS" = 3 ]; then echo_deploy 3 echo v2; fi
ingress
for i in $(clusters); do
  k "$i" -n e2e wait --for=condition=Available deployment --all --timeout=300s
done
log "workloads ready; next: deploy/kind/scenarios.sh"
