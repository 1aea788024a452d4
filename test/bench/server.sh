#!/usr/bin/env bash
# Prints the xDS server's figures of issue 16 (incremental changes, memory per
# gateway, fan-out, the daemon): Go benchmarks of xds/server, then a real
# `meshgate run` on generated worlds with a fleet of gateways
# (test/bench/fleet). Figures only: nothing here fails on a time or a size.
#
#   test/bench/server.sh                 # everything (1k/5k/10k worlds; ~10 min on 2 cores)
#   SIZES="1000" GATEWAYS=50 test/bench/server.sh daemon
#   test/bench/server.sh go              # only the Go benchmarks
#
# Worlds: N Services (5 endpoints each, Endpoints objects), one VirtualService
# each on one ingress Gateway (port 80), 100 services per file, written by
# gen_world below into a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
what=${1:-all}
SIZES=${SIZES:-"1000 5000 10000"}
GATEWAYS=${GATEWAYS:-50}
work=$(mktemp -d)
daemon_pid=""
cleanup() {
	if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

gen_world() { # DIR N
	python3 - "$1" "$2" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d, exist_ok=True)
with open(os.path.join(d, "gateway.yaml"), "w") as f:
    f.write("""apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
""")
for start in range(0, n, 100):
    docs = []
    for i in range(start, min(start + 100, n)):
        name, ns = "svc%05d" % i, "ns%d" % (i % 50)
        ips = "\n".join("  - ip: 10.%d.%d.%d" % (i // 256 % 256, i % 256, k + 1) for k in range(5))
        docs.append("""apiVersion: v1
kind: Service
metadata: {name: %(name)s, namespace: %(ns)s}
spec:
  clusterIP: 10.96.%(a)d.%(b)d
  selector: {app: %(name)s}
  ports: [{name: http, port: 8080, targetPort: 8080}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: %(name)s, namespace: %(ns)s}
subsets:
- addresses:
%(ips)s
  ports: [{name: http, port: 8080, protocol: TCP}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: %(name)s, namespace: %(ns)s}
spec:
  hosts: [%(name)s.example.com]
  gateways: [istio-system/gw]
  http:
  - route:
    - destination: {host: %(name)s.%(ns)s.svc.cluster.local, port: {number: 8080}}
""" % dict(name=name, ns=ns, a=i // 256 % 256, b=i % 256, ips=ips))
    with open(os.path.join(d, "svc-%05d.yaml" % start), "w") as f:
        f.write("---\n".join(docs))
EOF
}

rss_mb() { awk '/^VmRSS:/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }

run_go() {
	echo "== xds/server Go benchmarks (1000 services; ns/op is wall time on a shared machine)"
	go test ./xds/server -run '^$' -bench 'BenchmarkEndpointChange$' -benchtime 2000x -benchmem | grep -E '^Benchmark'
	go test ./xds/server -run '^$' -bench 'BenchmarkGatewayFleet' -benchtime 5x | grep -E '^Benchmark'
}

run_daemon() {
	go build -o "$work/meshgate" ./cmd/meshgate
	go build -o "$work/fleet" ./test/bench/fleet
	printf '== meshgate run on generated worlds, %s gateways\n' "$GATEWAYS"
	printf '%-9s %-10s %-9s %-12s %-14s %-10s %s\n' services ready-ms rss-MB connect-ms rss-gw-MB edit-ms endpoint-acks
	for n in $SIZES; do
		dir="$work/world-$n"
		gen_world "$dir" "$n"
		start=$(date +%s%N)
		"$work/meshgate" run --config-dir "$dir" --xds-address 127.0.0.1:25010 --monitoring-address 127.0.0.1:25014 \
			--admin-address "unix:$work/admin.sock" --log-level warn 2>"$work/daemon-$n.log" &
		daemon_pid=$!
		until curl -sf -o /dev/null http://127.0.0.1:25014/readyz; do
			kill -0 "$daemon_pid" || { cat "$work/daemon-$n.log"; exit 1; }
			sleep 0.05 # polling another process's readiness: no event to wait on
		done
		ready=$((($(date +%s%N) - start) / 1000000))
		rss=$(rss_mb "$daemon_pid")
		# One endpoint of svc00000 moves: the file of the first 100 services changes.
		out=$("$work/fleet" -xds 127.0.0.1:25010 -metrics http://127.0.0.1:25014/metrics -gateways "$GATEWAYS" \
			-edit "$dir/svc-00000.yaml" -from "ip: 10.0.0.1" -to "ip: 10.250.0.1")
		rss_gw=$(rss_mb "$daemon_pid")
		printf '%-9s %-10s %-9s %-12s %-14s %-10s %s\n' "$n" "$ready" "$rss" \
			"$(awk '/^connect-all-ms/ {print $2}' <<<"$out")" "$rss_gw" \
			"$(awk '/^edit-to-all-gateways-ms/ {print $2}' <<<"$out")" \
			"$(awk '/^endpoint-acks-counted/ {print $2 "/" $4}' <<<"$out")"
		kill "$daemon_pid"
		wait "$daemon_pid" 2>/dev/null || true
		daemon_pid=""
		rm -rf "$dir"
	done
}

case "$what" in
go) run_go ;;
daemon) run_daemon ;;
all) run_go; run_daemon ;;
*) echo "usage: $0 [all|go|daemon]" >&2; exit 2 ;;
esac
