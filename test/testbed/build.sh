#!/usr/bin/env bash
# build.sh: build kube-apiserver and etcd for the project's Kubernetes tests.
#
# Prints, as the last line on stdout, a directory holding the executables
# `kube-apiserver` and `etcd`; everything else goes to stderr.
#
#   1. KUBEBUILDER_ASSETS, if set and holding both executables: used as is,
#      nothing is built.
#   2. Otherwise the cache directory
#        ${MESHGATE_TESTBED_CACHE:-$HOME/.cache/meshgate/testbed}/k8s-<k8s version>-etcd-<etcd version>/
#      is reused when its stamp matches the hash of go.mod, go.sum,
#      cmd/etcd/main.go and this script; else both are built there (cold:
#      ~12 minutes and ~2.9 GB on 2 cores; relinking after a small change
#      takes seconds while the Go build cache is warm).
#
# Options:
#   --no-build   never build: print the directory if it is usable, else exit 3
#                with the command to run (test/kubetest uses this).
#
# Environment: MESHGATE_TESTBED_CACHE (cache root), MESHGATE_TESTBED_P
# (go build -p, default 2: the machine's cores are shared).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
no_build=0
for arg in "$@"; do
	case $arg in
	--no-build) no_build=1 ;;
	-h | --help)
		sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "build.sh: unknown argument $arg" >&2
		exit 2
		;;
	esac
done

log() { echo "build.sh: $*" >&2; }

has_binaries() { [[ -x $1/kube-apiserver && -x $1/etcd ]]; }

if [[ -n ${KUBEBUILDER_ASSETS:-} ]]; then
	if has_binaries "$KUBEBUILDER_ASSETS"; then
		echo "$KUBEBUILDER_ASSETS"
		exit 0
	fi
	log "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS lacks kube-apiserver or etcd; using the testbed cache"
fi

# The versions come from go.mod, the one place that names them.
mod_version() { awk -v m="$1" '{ sub(/^require /, "") } $1 == m && !v { v = $2 } END { print v }' "$here/go.mod"; }
k8s_version=$(mod_version k8s.io/kubernetes)
etcd_version=$(mod_version go.etcd.io/etcd/server/v3)
if [[ -z $k8s_version || -z $etcd_version ]]; then
	log "cannot read the k8s.io/kubernetes and etcd versions from $here/go.mod"
	exit 1
fi

cache_root=${MESHGATE_TESTBED_CACHE:-$HOME/.cache/meshgate/testbed}
dir=$cache_root/k8s-$k8s_version-etcd-$etcd_version
key=$(cd "$here" && cat go.mod go.sum cmd/etcd/main.go build.sh | sha256sum | cut -d' ' -f1)

fresh() { has_binaries "$dir" && [[ -f $dir/stamp && $(<"$dir/stamp") == "$key" ]]; }

if fresh; then
	echo "$dir"
	exit 0
fi
if ((no_build)); then
	log "no up-to-date kube-apiserver and etcd in $dir"
	log "build them once (cold: ~12 min, ~3 GB RAM, ~6 GB Go build cache) with:"
	log "    $here/build.sh"
	log "or point KUBEBUILDER_ASSETS at a directory holding kube-apiserver and etcd"
	exit 3
fi

mkdir -p "$cache_root"
exec 9>"$cache_root/.lock"
log "waiting for the build lock $cache_root/.lock"
flock 9
if fresh; then # built by another process while we waited
	echo "$dir"
	exit 0
fi

# Version stamp, as Kubernetes' hack/lib/version.sh sets it; without it the
# server reports v0.0.0-master.
minor=${k8s_version#v*.}
minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
	ldflags+=" -X $pkg.gitTreeState=clean"
done

tmp=$(mktemp -d "$cache_root/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log "building kube-apiserver $k8s_version and etcd $etcd_version into $dir (go build -p ${MESHGATE_TESTBED_P:-2})"
start=$SECONDS
(cd "$here" && go build -p "${MESHGATE_TESTBED_P:-2}" -trimpath -ldflags "$ldflags" \
	-o "$tmp/" k8s.io/kubernetes/cmd/kube-apiserver ./cmd/etcd)
mkdir -p "$dir"
mv -f "$tmp/kube-apiserver" "$tmp/etcd" "$dir/"
echo "$key" >"$tmp/stamp"
mv -f "$tmp/stamp" "$dir/stamp"
log "built in $((SECONDS - start)) s: $("$dir/kube-apiserver" --version)"
echo "$dir"
