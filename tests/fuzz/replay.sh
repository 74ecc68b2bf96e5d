#!/usr/bin/env bash
# Replays every committed corpus (tests/fuzz/corpus/NAME/*) through its
# target built with ASan + UBSan and the replay main (build/asan/fuzz-NAME,
# made by `make asan`; any C compiler, no libFuzzer). A sanitizer report,
# a leak or an abort fails the target. PASS/FAIL per target; each target
# needs a corpus and each corpus a target.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build/asan}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
failed=0
for d in tests/fuzz/corpus/*/; do
	t=$(basename "$d")
	[[ -f tests/fuzz/fuzz_$t.c ]] || { echo "FAIL: fuzz corpus $t (no tests/fuzz/fuzz_$t.c)"; failed=1; }
done
for src in tests/fuzz/fuzz_*.c; do
	t=${src#tests/fuzz/fuzz_}
	t=${t%.c}
	files=(tests/fuzz/corpus/"$t"/*)
	if [[ ! -e ${files[0]} ]]; then
		echo "FAIL: fuzz replay $t (no corpus in tests/fuzz/corpus/$t)"
		failed=1
	elif out=$("$BUILD/fuzz-$t" "${files[@]}" 2>&1); then
		echo "PASS: fuzz replay $t ($(tail -n 1 <<<"$out"))"
	else
		echo "FAIL: fuzz replay $t"
		tail -n 30 <<<"$out" | sed 's/^/    /'
		failed=1
	fi
done
exit $failed
