#!/usr/bin/env bash
# make fuzz: builds every libFuzzer target (tests/fuzz/fuzz_NAME.c) with
# clang, ASan and UBSan into build/fuzz and runs each in turn on a copy of
# its committed corpus (tests/fuzz/corpus/NAME; what it adds stays in
# build/fuzz/corpus/NAME), for FUZZ_SECONDS (default 60) or, when FUZZ_EXECS
# is set, for that many executions. FUZZ_TARGETS="http kafka" picks targets.
# Prints one line per target, then the sum:
#   fuzz NAME seconds=N executions=N exit=N
#   fuzz total targets=N seconds=N executions=N failed=N
# (gcc -Werror gates warnings; clang's own stay warnings here.)
# A finding is saved as build/fuzz/NAME-crash-*; the exit status is 1 then.
set -euo pipefail
cd "$(dirname "$0")/../.."
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_EXECS=${FUZZ_EXECS:-}
out=build/fuzz
targets=${FUZZ_TARGETS:-$(ls tests/fuzz/fuzz_*.c | sed 's|.*/fuzz_||; s|\.c$||')}

make -s -j2 BUILD=$out CC=clang OPT="-O1 -g -fno-omit-frame-pointer" \
	SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" \
	EXTRA_CFLAGS=-Wno-error EXTRA_LDFLAGS=-fsanitize=fuzzer FUZZ_MAIN= $(printf "$out/fuzz-%s " $targets)

if [[ -n $FUZZ_EXECS ]]; then limit=(-runs="$FUZZ_EXECS"); else limit=(-max_total_time="$FUZZ_SECONDS"); fi
n=0 total=0 failed=0 start_all=$SECONDS
for t in $targets; do
	mkdir -p "$out/corpus/$t"
	cp -n tests/fuzz/corpus/"$t"/* "$out/corpus/$t/" 2>/dev/null || true
	log=$out/$t.log
	start=$SECONDS
	set +e
	"$out/fuzz-$t" "${limit[@]}" -max_len=70000 -timeout=10 -rss_limit_mb=4096 \
		-print_final_stats=1 -artifact_prefix="$out/$t-" "$out/corpus/$t" >"$log" 2>&1
	rc=$?
	set -e
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	echo "fuzz $t seconds=$((SECONDS - start)) executions=${execs:-0} exit=$rc"
	if ((rc == 0)); then
		echo "PASS: fuzz $t"
	else
		echo "FAIL: fuzz $t (see $log)"
		tail -n 20 "$log" | sed 's/^/    /'
		failed=$((failed + 1))
	fi
	n=$((n + 1)) total=$((total + ${execs:-0}))
done
echo "fuzz total targets=$n seconds=$((SECONDS - start_all)) executions=$total failed=$failed"
((failed == 0))
