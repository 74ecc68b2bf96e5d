#!/usr/bin/env bash
# Every test suite: builds (release and ASan+UBSan), runs the C unit tests
# under both, replays the fuzz corpora under ASan+UBSan (tests/fuzz/replay.sh),
# the load generator's self-test and the library's layer check
# (tests/tools/check_layers.sh), starts the test stack once
# (Redis, Kafka, gateway, workers, approver on the test ports, state in
# var/test, wiped first), runs every tests/integration/test_*.sh and
# tests/browser/*.test.mjs, stops the stack (also on failure or interrupt)
# and checks nothing of it is left.
#
# Counts the "PASS: " / "FAIL: " lines of all suites; a suite that exits
# non-zero without printing a FAIL counts as one failure under its name.
# Ends with "N passed, N failed"; exits 1 if anything failed.
#
#   tests/run.sh                   everything
#   tests/run.sh SUITE...          only these integration/browser suites
#                                  (still builds and runs the unit tests)
set -uo pipefail
cd "$(dirname "$0")/.."

# Unit tests see no PKI_* setting of the caller's shell (the config loader
# reads several; the fault run's PKI_FAULTS_* pass); the stack variables
# are exported once the stack starts.
for v in $(compgen -e | grep '^PKI_'); do
	case $v in PKI_SUITE_TIMEOUT | PKI_CHROMIUM | PKI_LOG_LEVEL | PKI_TEST_PORT_OFFSET | PKI_FAULTS_*) ;; *) unset "$v" ;; esac
done
# PKI_TEST_PORT_OFFSET (default 0) moves every test port and the state
# folder, so that two checkouts can run their suites side by side.
OFF=${PKI_TEST_PORT_OFFSET:-0}
[[ $OFF =~ ^[0-9]{1,4}$ ]] && ((OFF < 1000)) || { echo "PKI_TEST_PORT_OFFSET: 0..999, got $OFF" >&2; exit 2; }
PKI_VAR=var/test
((OFF > 0)) && PKI_VAR=var/test-$OFF
PKI_KAFKA_PORT=$((29092 + OFF)) PKI_KAFKA_CONTROLLER_PORT=$((29093 + OFF)) PKI_REDIS_PORT=$((26379 + OFF))
PKI_SMTP_PORT=$((22525 + OFF))
PKI_GATEWAY_LISTEN=127.0.0.1:$((28080 + OFF)) PKI_APPROVER_LISTEN=127.0.0.1:$((28081 + OFF))
# The gateway suites' own gateway (tests/integration/gateway_env.sh).
export PKI_TEST_GATEWAY_PORT=$((28130 + OFF))
export PKI_CHROMIUM=${PKI_CHROMIUM:-$(command -v chromium || true)}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
STACK_PORTS=("$PKI_KAFKA_PORT" "$PKI_KAFKA_CONTROLLER_PORT" "$PKI_REDIS_PORT" "$PKI_SMTP_PORT"
	"${PKI_GATEWAY_LISTEN##*:}" "${PKI_APPROVER_LISTEN##*:}")
# This suite runs twice: also with the services of the ASan+UBSan build,
# where a sanitizer report in their logs fails it (gateway_env.sh).
ASAN_SUITE=tests/integration/test_gateway.sh
# A suite running longer than this (seconds) is stopped and counted failed.
SUITE_TIMEOUT=${PKI_SUITE_TIMEOUT:-900}

PASSED=0
FAILED=0
STACK_STARTED=
OUT=$(mktemp -d)

banner() { printf '\n=== %s\n' "$*"; }

# record NAME: one runner-level failure, printed like a suite's.
record_fail() { printf 'FAIL: %s\n' "$1"; FAILED=$((FAILED + 1)); }
record_pass() { printf 'PASS: %s\n' "$1"; PASSED=$((PASSED + 1)); }

# kill_suite_leftovers NAME: ends what a suite started in the background and
# left running, except the stack's own processes (they carry PKI_STACK_VAR).
kill_suite_leftovers() {
	local pid env
	for pid in /proc/[0-9]*; do
		pid=${pid#/proc/}
		# 2>/dev/null first: it also silences "<" for a process gone meanwhile
		env=$(tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ") || continue
		grep -qxF "PKI_SUITE_MARK=$1@$$" <<<"$env" || continue
		grep -q '^PKI_STACK_VAR=' <<<"$env" && continue
		kill "$pid" 2>/dev/null || true
	done
}

# run_suite NAME CMD...: runs CMD with its output on the terminal and counts
# its result lines.
run_suite() {
	local name=$1 log rc p f tailpid
	shift
	banner "$name"
	log=$OUT/suite.log
	: >"$log"
	# The output goes to a file, not a pipe: a process a suite leaves behind
	# would hold a pipe open and the runner would wait for it forever.
	tail -n +1 -f "$log" &
	tailpid=$!
	rc=0
	PKI_SUITE_MARK=$name@$$ timeout --foreground -k 10 "$SUITE_TIMEOUT" "$@" >"$log" 2>&1 || rc=$?
	kill_suite_leftovers "$name"
	sleep 0.3
	kill "$tailpid" 2>/dev/null
	wait "$tailpid" 2>/dev/null || true
	p=$(grep -c '^PASS: ' "$log")
	f=$(grep -c '^FAIL: ' "$log")
	PASSED=$((PASSED + p))
	FAILED=$((FAILED + f))
	# A suite that handled Ctrl-C itself exits 130; bash then does not run
	# our INT trap, so treat that as the interrupt.
	((rc == 130)) && interrupted
	if ((rc == 124 || rc == 137)); then
		record_fail "$name (timed out after ${SUITE_TIMEOUT}s)"
	elif ((rc != 0 && f == 0)); then
		record_fail "$name (exited $rc without a FAIL line)"
	elif ((rc == 0 && p + f == 0)); then
		record_fail "$name (ran no test)"
	fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Stops the stack and checks that nothing of it is left.
teardown() {
	local left busy=() p
	[[ -n $STACK_STARTED ]] || return 0
	STACK_STARTED=
	banner "stopping the test stack"
	scripts/stack.sh down
	left=$(grep -lzxF "PKI_STACK_VAR=$(cd "$PKI_VAR" && pwd)" /proc/[0-9]*/environ 2>/dev/null |
		sed -e 's|^/proc/||' -e 's|/environ$||')
	if [[ -z $left ]]; then
		record_pass "stack down leaves no process"
	else
		record_fail "stack down leaves no process"
		ps -o pid,args -p "$(echo $left | tr ' ' ',')" | sed 's/^/    /'
	fi
	for p in "${STACK_PORTS[@]}"; do port_open "$p" && busy+=("$p"); done
	if ((${#busy[@]} == 0)); then
		record_pass "stack down frees ports ${STACK_PORTS[*]}"
	else
		record_fail "stack down frees ports ${STACK_PORTS[*]}"
		echo "    still listening: ${busy[*]}"
	fi
}

finish() {
	local rc=$?
	trap - EXIT INT TERM
	teardown
	rm -rf "$OUT"
	echo
	echo "$PASSED passed, $FAILED failed"
	((FAILED > 0 || rc != 0)) && exit 1
	exit 0
}
interrupted() {
	echo
	record_fail "run interrupted"
	exit 130
}
trap finish EXIT
trap interrupted INT TERM

scripts/deps.sh || { record_fail "dependencies (scripts/deps.sh)"; exit 1; }

banner "build (release, asan)"
if make -s; then record_pass "build release"; else record_fail "build release"; exit 1; fi
if make -s asan; then record_pass "build asan"; else record_fail "build asan"; exit 1; fi

run_suite "unit tests (release)" build/release/unit-tests
run_suite "unit tests (asan+ubsan)" build/asan/unit-tests
# Every committed fuzz corpus through its target (tests/fuzz/replay.sh).
run_suite "fuzz corpus replay (asan+ubsan)" bash tests/fuzz/replay.sh
run_suite "load generator self-test" bash tests/bench/loadgen/selftest.sh
# No lower layer of lib/ includes a higher one (the order: the Makefile's LAYERS).
run_suite "library layers" bash tests/tools/check_layers.sh

# Suites to run: the arguments, or all of them.
if (($# > 0)); then
	SUITES=("$@")
else
	SUITES=(tests/integration/test_*.sh tests/browser/*.test.mjs)
fi

banner "starting the test stack ($PKI_VAR)"
export PKI_VAR PKI_KAFKA_PORT PKI_KAFKA_CONTROLLER_PORT PKI_REDIS_PORT PKI_SMTP_PORT
export PKI_GATEWAY_LISTEN PKI_APPROVER_LISTEN
scripts/stack.sh down >/dev/null # leftovers of an interrupted earlier run
rm -rf "$PKI_VAR"
STACK_STARTED=1
if ! scripts/stack.sh up; then
	record_fail "test stack up"
	for s in "${SUITES[@]}"; do [[ -e $s ]] && record_fail "$s (not run: no stack)"; done
	exit 1
fi
# The suites push hundreds of requests a second through one API key; the
# limits themselves are held by test_limits.sh on a gateway of its own.
cfg=$PKI_VAR/demo/config.json
if ! { jq '.limits = {waiters_per_key: 256, requests_per_key: {rate_per_s: 10000, burst: 10000},
		requests_per_tenant: {rate_per_s: 10000, burst: 10000}}' "$cfg" >"$cfg.tmp" &&
	cat "$cfg.tmp" >"$cfg" && rm -f "$cfg.tmp" && scripts/stack.sh restart-gateway >/dev/null; }; then
	record_fail "test stack limits"
	exit 1
fi

for s in "${SUITES[@]}"; do
	[[ -e $s ]] || continue
	case $s in
	"$ASAN_SUITE")
		run_suite "$s" bash "$s"
		run_suite "$s (asan+ubsan services)" env BUILD=build/asan bash "$s"
		;;
	*.sh) run_suite "$s" bash "$s" ;;
	*.mjs) run_suite "$s" node "$s" ;;
	*) record_fail "$s (unknown suite type)" ;;
	esac
done
