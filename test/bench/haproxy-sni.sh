#!/usr/bin/env bash
# Compare meshgate's built-in gateway with HAProxy doing SNI passthrough
# (req.ssl_sni) and with a direct connection, on this machine, in one run.
#
#   test/bench/haproxy-sni.sh [benchtime] [count]
#
# The Go benchmarks start a real go-control-plane ADS server, the gateway,
# a TLS backend and (when installed) haproxy; they print:
#   BenchmarkTLSThroughput/{direct,gateway,haproxy}   MB/s of one TLS stream
#   BenchmarkTLSThroughputInterleaved                 the same, targets taking turns
#   BenchmarkConnectLatency                           connect+handshake p50/p99 per target
# On a shared machine prefer the interleaved figures: load hits every target alike.
set -euo pipefail
cd "$(dirname "$0")/../.."
benchtime=${1:-3s}
count=${2:-3}
if ! command -v haproxy >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y haproxy >/dev/null
  else
    echo "haproxy not installed: the comparison rows will be missing" >&2
  fi
fi
command -v haproxy >/dev/null && haproxy -v | head -1
echo "load: $(cut -d' ' -f1-3 /proc/loadavg), cpus: $(nproc)"
go test ./xds/dataplane -run '^$' -bench 'TLSThroughput|ConnectLatency' \
  -benchtime "$benchtime" -count "$count" 2>&1 | grep -E '^(Benchmark|goos|goarch|cpu|ok|FAIL)'
