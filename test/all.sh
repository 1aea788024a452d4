#!/usr/bin/env bash
# The whole test suite: formatting, vet, unit + golden + oracle-agreement tests,
# in-process integration tests (real gRPC, memberlist, TLS), and the tiers that
# need extra tools, which this script builds or installs first.
# Usage: ./test/all.sh            (CI runs exactly this; see .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then echo "not gofmt-ed:"; echo "$unformatted"; exit 1; fi

echo "== go vet"
go vet ./...

echo "== testbed: kube-apiserver + etcd (cached; ~12 min on a cold machine)"
export KUBEBUILDER_ASSETS="$(test/testbed/build.sh | tail -n 1)"

echo "== go test (unit, golden, oracle agreement, integration, Kubernetes)"
go test -count=1 -timeout 30m ./...

echo "== all tiers passed"
