#!/usr/bin/env bash
# Regenerates the expected istiod output (istio/, istio-flags/, oracle-error.txt) of every golden case with the
# Istio oracle (istiod's own config generation run offline, see test/oracle/README.md).
#
# Usage: test/oracle/refresh.sh [CASE_DIR_NAME...]      (default: every case under xds/translate/testdata/cases)
#
# Oracle binary: $ISTIO_ORACLE, else a cached build in ${XDG_CACHE_HOME:-$HOME/.cache}/meshgate/istio-oracle
# built from ${ISTIO_ORACLE_SRC:-../shared/tools/istio-oracle} (relative to the repository root: the project's
# shared tools sit next to the checkout).
# A cold build takes about 10 minutes and ~3 GB of memory on 2 cores; the binary is reused afterwards.
#
# Per case directory:
#   *.yaml (but proxies.yaml)  input; the oracle reads every *.yaml / *.yml of the directory
#   rejected.yaml              objects istiod's validation rejects. The oracle must refuse the whole input with them
#                              (its message goes to oracle-error.txt); istio/ is then generated without rejected.yaml,
#                              which is what a cluster whose admission webhook refused those objects serves.
#   flags.env                  KEY=value lines (istiod feature flags): istio-flags/ is generated with them set,
#                              istio/ always with istiod's defaults.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cases="$root/xds/translate/testdata/cases"

oracle_bin() {
  if [[ -n "${ISTIO_ORACLE:-}" ]]; then
    echo "$ISTIO_ORACLE"
    return
  fi
  local cache="${XDG_CACHE_HOME:-$HOME/.cache}/meshgate/istio-oracle"
  local src="${ISTIO_ORACLE_SRC:-$root/../shared/tools/istio-oracle}"
  [[ -f "$src/main.go" ]] || { echo "refresh: no istio-oracle source in $src: set ISTIO_ORACLE to a built binary or ISTIO_ORACLE_SRC to its source" >&2; exit 1; }
  if [[ ! -x "$cache/istio-oracle" ]]; then
    echo "building istio-oracle from $src into $cache (cold build ~10 min on 2 cores, ~3 GB RAM)..." >&2
    mkdir -p "$cache"
    cp -f "$src"/go.mod "$src"/go.sum "$src"/main.go "$cache"/
    (cd "$cache" && go build -o istio-oracle .) >&2
  fi
  echo "$cache/istio-oracle"
}

ORACLE="$(oracle_bin)"
[[ -x "$ORACLE" ]] || { echo "refresh: oracle binary $ORACLE is not executable" >&2; exit 1; }

# run_oracle IN_DIR OUT_DIR [ENV...]: stdout/stderr of the oracle go to OUT_DIR.log; returns its exit status
run_oracle() {
  local in="$1" out="$2"
  shift 2
  rm -rf "$out"
  env "$@" "$ORACLE" -in "$in" -out "$out" >"$out.log" 2>&1 || return
  # listener order follows Go map iteration in istiod: sort it so that the golden files are stable
  python3 "$here/normalize.py" "$out"
}

# flag_env CASE_DIR: the KEY=value lines of flags.env (comments and blank lines dropped)
flag_env() {
  grep -Ev '^[[:space:]]*(#|$)' "$1/flags.env" || true
}

refresh_case() {
  local dir="$1" name
  name="$(basename "$dir")"
  local tmp
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  local input="$dir"
  rm -rf "$dir/istio" "$dir/istio-flags" "$dir/oracle-error.txt"
  if [[ -f "$dir/rejected.yaml" ]]; then
    if run_oracle "$dir" "$tmp/full"; then
      echo "refresh: $name: rejected.yaml is present but the oracle accepted the input" >&2
      return 1
    fi
    # the oracle's own error message, without its timing lines
    grep -v '^istiod generation ' "$tmp/full.log" | sed -e 's/[[:space:]]*$//' | sed -e '/^$/d' >"$dir/oracle-error.txt"
    mkdir "$tmp/in"
    find "$dir" -maxdepth 1 \( -name '*.yaml' -o -name '*.yml' \) ! -name rejected.yaml -exec cp {} "$tmp/in/" \;
    input="$tmp/in"
  fi
  if ! run_oracle "$input" "$tmp/out"; then
    echo "refresh: $name: oracle failed:" >&2
    cat "$tmp/out.log" >&2
    return 1
  fi
  mv "$tmp/out" "$dir/istio"
  local summary
  summary="$(grep -v '^istiod generation ' "$tmp/out.log" | sed -e "s#$tmp/out#istio#")"
  if [[ -f "$dir/flags.env" ]]; then
    local -a envs
    mapfile -t envs < <(flag_env "$dir")
    if ! run_oracle "$input" "$tmp/flags" "${envs[@]}"; then
      echo "refresh: $name: oracle failed with ${envs[*]}:" >&2
      cat "$tmp/flags.log" >&2
      return 1
    fi
    mv "$tmp/flags" "$dir/istio-flags"
    summary+=" | with ${envs[*]}: $(grep -v '^istiod generation ' "$tmp/flags.log" | sed -e "s#$tmp/flags#istio-flags#")"
  fi
  [[ -f "$dir/oracle-error.txt" ]] && summary+=" (input with rejected.yaml refused by the oracle)"
  echo "$name: $summary"
}

declare -a dirs=()
if [[ $# -gt 0 ]]; then
  for c in "$@"; do dirs+=("$cases/$(basename "$c")"); done
else
  for d in "$cases"/*/; do
    d="${d%/}"
    [[ "$(basename "$d")" == _* ]] && continue
    dirs+=("$d")
  done
fi

fails=0
for d in "${dirs[@]}"; do
  [[ -d "$d" ]] || { echo "refresh: no such case $d" >&2; fails=$((fails + 1)); continue; }
  refresh_case "$d" || fails=$((fails + 1))
done
echo "refresh: ${#dirs[@]} cases, $fails failures (oracle: $ORACLE)"
[[ $fails -eq 0 ]]
