#!/usr/bin/env bash
# Prints the table of issue 16: for each synthetic world (test/bench/world),
# `meshgate translate` as a whole process (wall time, CPU time, peak RSS),
# istiod's own generation code on the same YAML (the istio-oracle of
# ../shared/tools, whole process) and the generation alone (meshgate's
# "translated" phase / the oracle's "istiod generation" line).
#
#   test/bench/perf.sh [--no-istiod] [--runs N] [--worlds "ingress:1000 ingress:5000 eastwest:5000 ingress:10000"]
#
# The istiod column takes ~100 s per 5k world; --no-istiod skips it. The
# oracle binary: $ISTIO_ORACLE, else ${XDG_CACHE_HOME:-~/.cache}/meshgate/istio-oracle/istio-oracle
# (built as test/oracle/README.md says). Worlds are cached in $PERF_DIR
# (default ${TMPDIR:-/tmp}/meshgate-perf). Each figure is the range over --runs runs.
# On a shared machine, look at the load average printed first: wall times
# grow with it, CPU times much less.
set -euo pipefail
cd "$(dirname "$0")/../.."
istiod=1
runs=1
worlds="ingress:1000 ingress:5000 eastwest:5000 ingress:10000"
while [ $# -gt 0 ]; do
  case "$1" in
    --no-istiod) istiod=0 ;;
    --runs) runs=$2; shift ;;
    --worlds) worlds=$2; shift ;;
    *) echo "usage: $0 [--no-istiod] [--runs N] [--worlds \"kind:services ...\"]" >&2; exit 1 ;;
  esac
  shift
done
dir=${PERF_DIR:-${TMPDIR:-/tmp}/meshgate-perf}
oracle=${ISTIO_ORACLE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshgate/istio-oracle/istio-oracle}
if [ "$istiod" = 1 ] && [ ! -x "$oracle" ]; then
  echo "no istio-oracle at $oracle (see test/oracle/README.md); use --no-istiod" >&2
  exit 1
fi
mkdir -p "$dir"
go build -o "$dir/meshgate" ./cmd/meshgate
go build -o "$dir/mkworld" ./test/bench/mkworld
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), load $(cut -d' ' -f1-3 /proc/loadavg), cpus $(nproc)"

# range MIN-MAX of numbers (one per line), printed with format $1
range() { sort -g | awk -v f="$1" 'NR==1{lo=$1} {hi=$1} END{ if (NR==0) print "-"; else if (sprintf(f,lo)==sprintf(f,hi)) printf f"\n", lo; else printf f"–"f"\n", lo, hi }'; }

printf '| world | meshgate translate (whole process) | istiod, same YAML (whole process) | generation only: meshgate / istiod |\n'
printf '|---|---|---|---|\n'
for w in $worlds; do
  kind=${w%%:*}; n=${w##*:}
  world="$dir/$kind-$n"
  if [ ! -f "$world/proxies.yaml" ]; then
    objs=$("$dir/mkworld" -services "$n" -gateway "$kind" "$world")
    echo "$objs" > "$world.objects"
  fi
  objs=$(cut -d' ' -f1 "$world.objects")
  size=$(du -sm "$world" | cut -f1)
  label=istio=ingressgateway; net=()
  if [ "$kind" = eastwest ]; then label=istio=eastwestgateway; net=(--network network1); fi
  : > "$dir/mg.wall"; : > "$dir/mg.cpu"; : > "$dir/mg.rss"; : > "$dir/mg.gen"
  for _ in $(seq "$runs"); do
    /usr/bin/time -f '%e %U %S %M' -o "$dir/time" "$dir/meshgate" translate -f "$world" --label "$label" "${net[@]}" \
      --log-level debug --log-format json > "$dir/out.json" 2> "$dir/err.json"
    read -r wall user sys rss < "$dir/time"
    echo "$wall" >> "$dir/mg.wall"; echo "$user $sys" | awk '{print $1+$2}' >> "$dir/mg.cpu"; echo $((rss / 1024)) >> "$dir/mg.rss"
    grep '"msg":"translated"' "$dir/err.json" | sed 's/.*"seconds":\([0-9.e-]*\).*/\1/' >> "$dir/mg.gen"
  done
  mg="$(range '%.2f' < "$dir/mg.wall") s (CPU $(range '%.2f' < "$dir/mg.cpu") s), $(range '%d' < "$dir/mg.rss") MB"
  is="skipped"; isgen="-"
  if [ "$istiod" = 1 ]; then
    : > "$dir/is.wall"; : > "$dir/is.rss"; : > "$dir/is.gen"
    for _ in $(seq "$runs"); do
      rm -rf "$dir/oracle-out"
      /usr/bin/time -f '%e %M' -o "$dir/time" "$oracle" -in "$world" -out "$dir/oracle-out" > /dev/null 2> "$dir/oracle.err" || {
        echo "istio-oracle failed on $world:" >&2; tail -5 "$dir/oracle.err" >&2; exit 1; }
      read -r wall rss < "$dir/time"
      echo "$wall" >> "$dir/is.wall"; echo $((rss / 1024)) >> "$dir/is.rss"
      sed -n 's/^istiod generation [^:]*: \([0-9.]*\) s$/\1/p' "$dir/oracle.err" >> "$dir/is.gen"
    done
    is="$(range '%.1f' < "$dir/is.wall") s, $(range '%d' < "$dir/is.rss") MB"
    isgen=$(range '%.3f' < "$dir/is.gen")
  fi
  printf '| %s %dk services (%d objects, %d MB) | %s | %s | %s s / %s s |\n' "$kind" $((n / 1000)) "$objs" "$size" "$mg" "$is" \
    "$(range '%.3f' < "$dir/mg.gen")" "$isgen"
done
