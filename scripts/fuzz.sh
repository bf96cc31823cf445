#!/usr/bin/env bash
# fuzz.sh — runs every fuzz target of the module, one after the other, each
# for FUZZTIME (default 1m) with one worker, and prints a table of
# executions and findings at the end. FUZZ (a regular expression) selects
# targets by package path or name, e.g. FUZZ=yamlfile or FUZZ=FuzzParse$.
#
# FUZZFLAGS is passed to go test, e.g. FUZZFLAGS=-fuzzminimizetime=5s for
# targets whose inputs are slow to run (store's FuzzOpen writes a file and
# fsyncs per input: minimizing each new 16 KB input takes go test's default
# 60 s, during which nothing else is tried).
#
# Each target holds every input to a memory budget (internal/membound), so a
# parser that allocates without bound fails like a crash. A failing input is
# written by `go test` under the package's testdata/fuzz/<target>/; keep it
# there as a seed once the bug is fixed.
#
#   make fuzz FUZZTIME=5m            # all targets, 5 minutes each
#   FUZZ=stats FUZZTIME=30s ./scripts/fuzz.sh
set -uo pipefail

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-1m}
FUZZ=${FUZZ:-.}
FUZZFLAGS=${FUZZFLAGS:-}
LOG=${FUZZLOG:-$(mktemp -d)/fuzz}
mkdir -p "$LOG"

# Targets are found in the sources (go test -list would build every
# package's tests first): "dir/file_test.go:func FuzzX(f *testing.F) {".
module=$($GO list -m)
targets=()
while IFS= read -r line; do
	dir=$(dirname "${line%%:*}")
	t=$(sed -E 's/.*func (Fuzz[A-Za-z0-9_]*)\(.*/\1/' <<<"$line")
	pkg="$module/${dir#./}"
	[ "$dir" = . ] && pkg=$module
	if printf '%s %s\n' "$pkg" "$t" | grep -Eq -- "$FUZZ"; then
		targets+=("$pkg $t")
	fi
done < <(git grep -o -E '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' -- '*_test.go' | sort -u)
if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz: no target matches $FUZZ" >&2
	exit 2
fi

failed=0
summary=()
for entry in "${targets[@]}"; do
	read -r pkg t <<<"$entry"
	out="$LOG/${pkg//\//_}.$t.log"
	echo "== $pkg $t ($FUZZTIME)"
	# shellcheck disable=SC2086 # FUZZFLAGS is a list of flags
	if $GO test -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" -parallel 1 $FUZZFLAGS "$pkg" >"$out" 2>&1; then
		result=ok
	else
		result=FAIL
		failed=1
		grep -E -- '--- FAIL|Failing input|allocated|panic:|membound' "$out" | head -5
	fi
	execs=$(grep -Eo 'execs: [0-9]+' "$out" | tail -1 | grep -Eo '[0-9]+')
	summary+=("$(printf '%-55s %-24s %12s  %s' "${pkg#github.com/canaryproj/canary/}" "$t" "${execs:-?}" "$result")")
done

echo
printf '%-55s %-24s %12s  %s\n' package target executions result
printf '%s\n' "${summary[@]}"
echo "logs: $LOG"
exit $failed
