#!/bin/sh
# Runs xdsdiff.py on every oracle output of the golden cases (istio flavour) and prints one line per
# output plus the count of identical ones. Exit 1 when any output differs or the tool fails.
# Usage: test/tools/agreement.sh [-v]   (-v prints the differing paths too)
set -u
cd "$(dirname "$0")/../.." || exit 2
verbose=${1:-}
total=0 same=0 status=0
for l in xds/translate/testdata/cases/*/istio*/*/listeners.json; do
	d=$(dirname "$l"); c=$(dirname "$(dirname "$d")"); p=$(basename "$d")
	v=$(basename "$(dirname "$d")"); v=${v#istio}; v=${v#-}
	g=$c/golden/$p${v:+.$v}.json
	out=$(python3 test/tools/xdsdiff.py "$d" "$g" 2>&1); rc=$?
	total=$((total + 1))
	if [ $rc -eq 0 ]; then same=$((same + 1)); else status=1; fi
	echo "$(basename "$c")/$p${v:+ ($v)}: $(echo "$out" | tail -n 1)"
	[ "$verbose" = "-v" ] && [ $rc -ne 0 ] && echo "$out" | sed '$d' | sed 's/^/    /'
done
echo "identical: $same/$total"
exit $status
