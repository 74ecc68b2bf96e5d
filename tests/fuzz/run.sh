#!/usr/bin/env bash
# Builds the libFuzzer target (clang, ASan + UBSan) over intake, policy,
# profile, lint and signing, and runs it for FUZZ_SECONDS (default 60) on a
# copy of the committed seed corpus. Prints the executions run.
set -euo pipefail
cd "$(dirname "$0")/../.."
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
out=build/fuzz
mkdir -p "$out/corpus"
flags="-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined $(printf -- "-I%s " lib/*/)"
# The whole issuance core: it stands on its own (tests/tools/check_layers.sh).
srcs=$(echo lib/pki/*.c)
clang $flags -o "$out/fuzz_issue" tests/fuzz/fuzz_issue.c $srcs $(pkg-config --libs openssl) -lpthread
cp -n tests/fuzz/corpus/* "$out/corpus/" 2>/dev/null || true
log=$out/fuzz.log
set +e
"$out/fuzz_issue" -max_total_time="$FUZZ_SECONDS" -max_len=70000 -timeout=10 -rss_limit_mb=4096 \
	-print_final_stats=1 "$out/corpus" >"$log" 2>&1
rc=$?
set -e
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
tail -n 5 "$log"
echo "fuzz issue-core seconds=$FUZZ_SECONDS executions=${execs:-0} exit=$rc"
if [ $rc -eq 0 ]; then echo "PASS: fuzz issue-core"; else echo "FAIL: fuzz issue-core (see $log)"; fi
exit $rc
