#!/usr/bin/env bash
# Fuzz every input parser: finds each Go fuzz target in the module (the
# packages whose tests declare a func Fuzz..., listed with
# `go test -list '^Fuzz'`) and runs them one at a time for SECONDS each
# (default 15), printing one line per target. It stops at the first
# failure, prints the fuzzer's output, and exits 1; the failing input is in
# the package's testdata/fuzz/<Target>/, where committing it keeps it as a
# regression test.
#
# Go 1.26's fuzzing coordinator can fail a target at the end of -fuzztime
# with a bare "context deadline exceeded" although nothing failed (a race
# between the deadline and its workers' context, golang/go#75804, fixed in
# Go 1.27). A failure that prints exactly that, writes no failing input and
# adds nothing to testdata/fuzz/<Target>/ is reported as such and counted as
# a pass; any other failure stops the run.
#
# Usage: tests/fuzz.sh [SECONDS]      (make fuzz FUZZTIME=SECONDS)
#
# Environment: GO (go); FUZZMINIMIZETIME (2s), the time the fuzzer spends
# shrinking each new input (the default 60s can eat a short run);
# FUZZPARALLEL, the number of fuzzing workers (GOMAXPROCS).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-15}
GO=${GO:-go}
minimize=${FUZZMINIMIZETIME:-2s}
case $secs in '' | *[!0-9]*)
	echo "usage: $0 [SECONDS]" >&2
	exit 2
	;;
esac
parallel=()
if [ -n "${FUZZPARALLEL:-}" ]; then parallel=(-parallel "$FUZZPARALLEL"); fi

# corpus_files DIR: the names in a target's corpus folder, one a line.
corpus_files() { if [ -d "$1" ]; then ls -A "$1"; fi; }

# deadline_race LOG: the fuzzer failed with nothing but the coordinator's
# own "context deadline exceeded" (golang/go#75804): no failing input
# written, no panic, no hang, no other error line.
deadline_race() {
	grep -qxF '    context deadline exceeded' "$1" &&
		! grep -qE 'Failing input written|panic:|fuzzing process hung|terminated unexpectedly|_test\.go:[0-9]+:' "$1"
}

log=$(mktemp)
trap 'rm -f "$log"' EXIT

mapfile -t dirs < <(grep -rlE --include='*_test.go' --exclude-dir=testdata --exclude-dir=.git --exclude-dir=node_modules \
	'^func Fuzz[A-Za-z0-9_]*\(' . | xargs -r -n1 dirname | sort -u)
if [ ${#dirs[@]} -eq 0 ]; then
	echo "fuzz: no fuzz targets found" >&2
	exit 1
fi

start=$SECONDS
count=0
for dir in "${dirs[@]}"; do
	pkg=${dir#./}
	if ! "$GO" test -list '^Fuzz' "./$pkg" >"$log" 2>&1; then
		echo "FAIL  $pkg: go test -list" >&2
		cat "$log" >&2
		exit 1
	fi
	mapfile -t targets < <(grep -E '^Fuzz[A-Za-z0-9_]*$' "$log" || true)
	for target in "${targets[@]}"; do
		t0=$SECONDS
		corpus=$dir/testdata/fuzz/$target
		before=$(corpus_files "$corpus")
		note=
		if "$GO" test -run '^$' -fuzz "^${target}\$" -fuzztime "${secs}s" -fuzzminimizetime "$minimize" "${parallel[@]}" "./$pkg" >"$log" 2>&1; then
			:
		elif deadline_race "$log" && [ "$(corpus_files "$corpus")" = "$before" ]; then
			note=" (stopped by the Go fuzzer's deadline race, golang/go#75804: no failing input)"
		else
			printf 'FAIL  %-20s %-22s %4ds\n' "$pkg" "$target" $((SECONDS - t0))
			cat "$log"
			exit 1
		fi
		execs=$(grep -oE 'execs: [0-9]+' "$log" | tail -1 | cut -d' ' -f2 || true) # none in a run too short to report
		printf 'ok    %-20s %-22s %4ds  %s execs%s\n' "$pkg" "$target" $((SECONDS - t0)) "${execs:-?}" "$note"
		count=$((count + 1))
	done
done
echo "fuzz: $count targets passed, ${secs}s each, $((SECONDS - start))s in all"
