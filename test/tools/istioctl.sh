#!/usr/bin/env bash
# istioctl.sh: build the real istioctl for test/istiocompat's tests.
#
# Prints, as the last line on stdout, the path of an `istioctl` executable;
# everything else goes to stderr.
#
#   1. MESHGATE_ISTIOCTL, if set and executable: used as is, nothing built.
#   2. Otherwise
#        ${XDG_CACHE_HOME:-$HOME/.cache}/meshgate/istioctl-<version>/istioctl
#      where <version> is the istio.io/istio version test/istiocompat/go.mod
#      requires (the oracle's). It is reused while its stamp equals the hash
#      of that version and this script; else it is built there with
#      `go install istio.io/istio/istioctl/cmd/istioctl@<version>`: Istio's
#      own go.mod decides every dependency, as for a release (cold: see
#      test/istiocompat/README.md; concurrent runs wait on a flock).
#
# Options:
#   --no-build   never build: print the path if it is usable, else exit 3
#                with the command to run.
#
# Environment: MESHGATE_ISTIOCTL (an istioctl to use), MESHGATE_ISTIOCTL_P
# (go build -p, default 2: the machine's cores are shared).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
gomod=$here/../istiocompat/go.mod
no_build=0
for arg in "$@"; do
	case $arg in
	--no-build) no_build=1 ;;
	-h | --help)
		sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "istioctl.sh: unknown argument $arg" >&2
		exit 2
		;;
	esac
done

log() { echo "istioctl.sh: $*" >&2; }

if [[ -n ${MESHGATE_ISTIOCTL:-} ]]; then
	if [[ -x $MESHGATE_ISTIOCTL ]]; then
		echo "$MESHGATE_ISTIOCTL"
		exit 0
	fi
	log "MESHGATE_ISTIOCTL=$MESHGATE_ISTIOCTL is not executable; using the cache"
fi

version=$(awk '{ sub(/^require /, "") } $1 == "istio.io/istio" && !v { v = $2 } END { print v }' "$gomod")
if [[ -z $version ]]; then
	log "cannot read the istio.io/istio version from $gomod"
	exit 1
fi
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/meshgate
dir=$cache_root/istioctl-$version
bin=$dir/istioctl
# Only the version and this script decide the build (not the rest of go.mod).
key=$( (echo "$version" && cat "$here/istioctl.sh") | sha256sum | cut -d' ' -f1)

fresh() { [[ -x $bin && -f $dir/stamp && $(<"$dir/stamp") == "$key" ]]; }

if fresh; then
	echo "$bin"
	exit 0
fi
if ((no_build)); then
	log "no up-to-date istioctl in $dir; build it once with:"
	log "    $here/istioctl.sh"
	exit 3
fi

mkdir -p "$cache_root"
exec 9>"$cache_root/.istioctl.lock"
log "waiting for the build lock $cache_root/.istioctl.lock"
flock 9
if fresh; then # built by another process while we waited
	echo "$bin"
	exit 0
fi

# The version istioctl reports (istioctl version --remote=false), as Istio's
# Makefile stamps it.
ldflags="-s -w -X istio.io/istio/pkg/version.buildVersion=$version -X istio.io/istio/pkg/version.buildStatus=Clean"
tmp=$(mktemp -d "$cache_root/.istioctl.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log "building istioctl $version into $dir (go install -p ${MESHGATE_ISTIOCTL_P:-2})"
start=$SECONDS
# go install pkg@version ignores any go.mod around it: run it outside the repo.
(cd "$tmp" && GOBIN=$tmp go install -p "${MESHGATE_ISTIOCTL_P:-2}" -trimpath \
	-ldflags "$ldflags" "istio.io/istio/istioctl/cmd/istioctl@$version")
mkdir -p "$dir"
mv -f "$tmp/istioctl" "$bin"
echo "$key" >"$tmp/stamp"
mv -f "$tmp/stamp" "$dir/stamp"
log "built in $((SECONDS - start)) s: $("$bin" version --remote=false 2>/dev/null || echo '?')"
echo "$bin"
