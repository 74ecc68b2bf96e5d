#!/usr/bin/env bash
# Self-test of the load generator against tests/bench/loadgen/fake_server.py:
# closed-loop counting by status, chunked answers, open-loop submit then
# long-poll until issued, one-call answers (201) needing no poll, open loop
# against a synchronous service (-s),
# connections the server closes. PASS:/FAIL: lines.
set -euo pipefail
cd "$(dirname "$0")/../../.."
BUILD=${BUILD:-build/release}
make -s "$BUILD/loadgen"
tmp=$(mktemp -d)
srv_pid=
cleanup() {
	[[ -n $srv_pid ]] && kill "$srv_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
python3 tests/bench/loadgen/fake_server.py >"$tmp/srv.out" &
srv_pid=$!
for ((i = 0; i < 100; i++)); do
	grep -q '^ready' "$tmp/srv.out" 2>/dev/null && break
	sleep 0.1
done
port=$(awk '/^ready/ { print $2 }' "$tmp/srv.out")
[[ -n $port ]] || { echo "FAIL: loadgen_selftest_server (no port)"; exit 1; }
printf '{"a":1}\n\n{"b":2}\n' >"$tmp/bodies"
kv() { sed -n "s/.*\b$2=\([^ ]*\).*/\1/p" <<<"$1"; }
fails=0
check() { # NAME CONDITION-TEXT LINE
	if eval "$2"; then echo "PASS: $1"; else
		echo "FAIL: $1 ($2; got: $3)"
		fails=$((fails + 1))
	fi
}

line=$("$BUILD/loadgen" closed "127.0.0.1:$port" /submit "$tmp/bodies" -c 2 -w 0 -d 1 -s 202 2>/dev/null)
check loadgen_closed_counts_expected_status \
	'(( $(kv "$line" ok) > 0 && $(kv "$line" other) == 0 && $(kv "$line" errors) == 0 ))' "$line"
check loadgen_closed_keeps_connections '(( $(kv "$line" connections_opened) == 2 ))' "$line"
line=$("$BUILD/loadgen" closed "127.0.0.1:$port" /submit "$tmp/bodies" -c 2 -w 0 -d 1 -s 200 2>/dev/null)
check loadgen_closed_counts_other_status \
	'(( $(kv "$line" ok) == 0 && $(kv "$line" other) > 0 ))' "$line"
line=$("$BUILD/loadgen" open "127.0.0.1:$port" /submit "$tmp/bodies" -r 50 -d 2 -c 20 -W 1 -D 10 \
	-p /requests/ 2>/dev/null)
check loadgen_open_sends_on_schedule '(( $(kv "$line" sent) == 100 && $(kv "$line" accepted) == 100 ))' "$line"
check loadgen_open_polls_until_issued \
	'(( $(kv "$line" issued) == 100 && $(kv "$line" polls) == 200 && $(kv "$line" unfinished) == 0 && $(kv "$line" errors) == 0 ))' "$line"
check loadgen_open_latency_positive '[[ $(kv "$line" p99_ms) != 0.0 ]]' "$line"
line=$("$BUILD/loadgen" open "127.0.0.1:$port" /submit "$tmp/bodies" -r 50 -d 2 -c 20 -W 1 -D 10 \
	-p /requests/ -H "Prefer: wait=1" 2>/dev/null)
check loadgen_open_one_call_answer_needs_no_poll \
	'(( $(kv "$line" issued) == 100 && $(kv "$line" polls) == 100 && $(kv "$line" errors) == 0 && $(kv "$line" refused) == 0 ))' "$line"
line=$("$BUILD/loadgen" open "127.0.0.1:$port" /submit "$tmp/bodies" -r 50 -d 1 -c 20 -D 10 -s 202 \
	2>/dev/null)
check loadgen_open_sync_answer_is_outcome \
	'(( $(kv "$line" issued) == 50 && $(kv "$line" polls) == 0 && $(kv "$line" refused) == 0 && $(kv "$line" unfinished) == 0 ))' "$line"
line=$("$BUILD/loadgen" open "127.0.0.1:$port" /submit "$tmp/bodies" -r 50 -d 1 -c 20 -D 10 -s 200 \
	2>/dev/null)
check loadgen_open_sync_other_status_refused \
	'(( $(kv "$line" issued) == 0 && $(kv "$line" refused) == 50 && $(kv "$line" polls) == 0 ))' "$line"
if "$BUILD/loadgen" open "127.0.0.1:$port" submit "$tmp/bodies" 2>"$tmp/err"; then
	echo "FAIL: loadgen_rejects_bad_path (accepted a path without /)"
	fails=$((fails + 1))
else
	check loadgen_rejects_bad_path 'grep -q "path: must start with /" "$tmp/err"' "$(cat "$tmp/err")"
fi
exit $((fails > 0))
