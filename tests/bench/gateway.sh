#!/usr/bin/env bash
# Gateway benchmark, beside cfssl's sign API measured in the same run with the
# same CSRs:
#   1. cfssl signs/s: `cfssl serve` on loopback (EC P-256 CA), closed loop,
#      BENCH_CONNS keep-alive connections, BENCH_DURATION_S after a warm-up.
#      Measured first, with the stack down, so cfssl has the machine to itself.
#   2. Gateway accepted submits/s: the full stack (scripts/stack.sh, private
#      ports and state in $BENCH_VAR), POST /csr/process as alice to the
#      automatic demo CA, same connections and duration; counts 202s only.
#      The compared line is measured with the workers stopped, so that what
#      is measured is the gateway's acceptance and not issuance sharing its
#      cores; their backlog must be issued afterwards. Then a bound line (what
#      a gateway costing only its CSR signature check could accept beside the
#      broker, the store and the load generator as measured), and a detail
#      line with the workers issuing meanwhile.
#   3. Latency submit→issued: open loop at BENCH_RATE/s, then at
#      BENCH_HIGH_RATE/s, for BENCH_RATE_DURATION_S, each accepted request
#      long-polled with GET /csr/requests/{id}?wait=30; from the scheduled
#      send time to the answer saying "issued". cfssl's latency at the same
#      rates (to its sign answer, which carries the certificate) is measured
#      in step 1, the stack's after unmeasured rounds at BENCH_RATE/s that
#      warm the broker's JIT and one AOF rewrite (see aof_compact). Where the
#      time goes: the Kafka timestamps of each request's pki.issue message
#      (the gateway's send) and pki.results message (the worker's).
# Prints:
#   bench gateway submits_per_s=N cfssl_signs_per_s=N ratio=X
#   bench gateway cpu_ms_per_request gateway=X cfssl=Y
#   bench detail gateway-bound ... max_ratio=X
#   bench detail latency-warmup rate_per_s=N rounds=N jit_pct_last_round=X
#   bench detail aof-compact before=latency seconds=N
#   bench latency rate_per_s=N p50_ms=X p99_ms=X issued=N  (RATE, HIGH_RATE)
#   bench detail latency-counts rate_per_s=N ... aof_rewrites=N  (Redis's, during the run)
#   bench detail latency-one-call rate_per_s=N p50_ms=X p99_ms=X issued=N polls=N aof_rewrites=N
#     (RATE, each submit with Prefer: wait=30: answered 201 with the certificate)
#   bench detail cfssl-latency rate_per_s=N p50_ms=X p99_ms=X  (each rate)
#   bench rss workers=N gateway_mib=X approver_mib=X worker-K_mib=X ... kafka_mib=X redis_mib=X
# each measured case preceded by "bench detail load_average case=NAME la1=X",
# plus the load generator's detail lines. Exits non-zero (and prints no
# latency line) when nothing is issued or a stage fails.
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD=${BUILD:-build/release}
CSRS=${BENCH_CSRS:-1000}
CONNS=${BENCH_CONNS:-64}
WARMUP=${BENCH_WARMUP_S:-2}
STACK_WARMUP=${BENCH_STACK_WARMUP_S:-10}  # unmeasured load on the fresh stack first
GATEWAY_WARMUP=${BENCH_GATEWAY_WARMUP_S:-20}  # unmeasured load with the workers stopped
DURATION=${BENCH_DURATION_S:-10}
RATE=${BENCH_RATE:-1000}
HIGH_RATE=${BENCH_HIGH_RATE:-2000}    # measured after RATE (0: skip)
RATE_DURATION=${BENCH_RATE_DURATION_S:-10}
# Unmeasured open-loop rounds at RATE before the latency runs, until a round
# leaves the broker's JIT compilers under JIT_QUIET_PCT of a core: cold, they
# put the 1,000/s p99 at seconds, and a broker in service has long been warm.
LAT_WARM_ROUNDS=${BENCH_LATENCY_WARMUP_ROUNDS:-6}  # at most (0: none)
JIT_QUIET_PCT=${BENCH_JIT_QUIET_PCT:-10}
LOW_RATE=${BENCH_LOW_RATE:-200}       # also measured first, as a detail line (0: skip)
RATE_CONNS=${BENCH_RATE_CONNS:-2000}  # open loop: at most this many connections
DRAIN=${BENCH_DRAIN_S:-60}            # open loop: wait this long for the last answers
SETTLE=${BENCH_SETTLE_S:-240}         # wait at most this long for the backlog to drain
ISSUE_TIMEOUT=30                      # one request must be issued within this many seconds
CFSSL_PORT=${BENCH_CFSSL_PORT:-18888}
export PKI_VAR=${BENCH_VAR:-var/bench}
export PKI_KAFKA_PORT=${BENCH_KAFKA_PORT:-19192}
export PKI_KAFKA_CONTROLLER_PORT=${BENCH_KAFKA_CONTROLLER_PORT:-19193}
export PKI_REDIS_PORT=${BENCH_REDIS_PORT:-16479}
export PKI_GATEWAY_LISTEN=${BENCH_GATEWAY_LISTEN:-127.0.0.1:18180}
export PKI_APPROVER_LISTEN=${BENCH_APPROVER_LISTEN:-127.0.0.1:18181}
# Issue consumers: PKI_WORKERS processes x PKI_WORKER_THREADS group consumers,
# no more useful than pki.issue has partitions. Each thread takes what its
# consumer has fetched as one batch, with one Redis round trip per stage
# (workers/fast.c). One thread each: at 1,000/s, five alternating runs gave
# p50 16-21 ms against 21-35 ms with two, and the workers 8% less CPU per
# request for the same Kafka requests (docs/performance.md, "HTTP path").
export PKI_WORKERS=${BENCH_WORKERS:-2}
export PKI_WORKER_THREADS=${BENCH_WORKER_THREADS:-1}
export PKI_ISSUE_PARTITIONS=${BENCH_ISSUE_PARTITIONS:-8}
export PKI_TOPIC_PARTITIONS=${BENCH_TOPIC_PARTITIONS:-3}
export BUILD
unset PKI_CONFIG

LOADGEN=$BUILD/loadgen
WORK=$PKI_VAR/bench
DOMAIN=bench.acme.example

# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
say() { printf 'bench-gateway: %s\n' "$*" >&2; }
die() {
	printf 'bench-gateway: error: %s\n' "$*" >&2
	exit 1
}

# open_loop NAME HOST:PORT PATH BODIES RATE [loadgen options]: one open-loop
# run of RATE_DURATION seconds; prints the loadgen line.
open_loop() {
	local name=$1 addr=$2 path=$3 bodies=$4 rate=$5
	shift 5
	say "$name: open loop at $rate/s for ${RATE_DURATION}s (load average $(loadavg))"
	"$LOADGEN" open "$addr" "$path" "$bodies" -r "$rate" -d "$RATE_DURATION" \
		-c "$RATE_CONNS" -D "$DRAIN" "$@"
}

cfssl_pid=
stack_started=
cleanup() {
	local rc=$?
	if [[ -n $cfssl_pid ]]; then
		kill "$cfssl_pid" 2>/dev/null || true
		wait "$cfssl_pid" 2>/dev/null || true
	fi
	[[ -n $stack_started ]] && scripts/stack.sh down >/dev/null 2>&1
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v cfssl >/dev/null || die "cfssl not found (Debian package golang-cfssl; run scripts/deps.sh)"
make -s "$LOADGEN" || die "building $LOADGEN failed"
selftest=$(tests/bench/loadgen/selftest.sh 2>&1) ||
	die "the load generator's self-test failed: $(grep FAIL <<<"$selftest" || tail -n 5 <<<"$selftest")"

# A fresh state directory every run: an empty Redis and Kafka, a new demo PKI.
scripts/stack.sh down >/dev/null 2>&1 || true
rm -rf "$PKI_VAR"
mkdir -p "$WORK/csr"

# ------------------------------------------------------------ CSR pool
# EC P-256, one key and one CN per CSR. Both body files list the same CSRs in
# the same order, one JSON body per line (PEM newlines escaped as \n).
say "generating $CSRS EC P-256 CSRs"
for ((i = 1; i <= CSRS; i++)); do
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
		-subj "/CN=host-$i.$DOMAIN" -out "$WORK/csr/$i.pem" 2>/dev/null ||
		die "openssl req failed for CSR $i"
done
: >"$WORK/gateway.jsonl"
: >"$WORK/cfssl.jsonl"
for ((i = 1; i <= CSRS; i++)); do echo "$WORK/csr/$i.pem"; done |
	xargs awk -v dom="$DOMAIN" -v gw="$WORK/gateway.jsonl" -v cf="$WORK/cfssl.jsonl" '
		FNR == 1 { pem = "" }
		{ pem = pem $0 "\\n" }
		/-----END CERTIFICATE REQUEST-----/ {
			n = FILENAME; sub(/.*\//, "", n); sub(/\.pem$/, "", n)
			printf "{\"csr_data\":\"%s\",\"common_name\":\"host-%s.%s\",\"validity_days\":30,\"extensions\":[\"server_auth\"]}\n", pem, n, dom >> gw
			printf "{\"certificate_request\":\"%s\"}\n", pem >> cf
		}'
[[ $(wc -l <"$WORK/gateway.jsonl") == "$CSRS" && $(wc -l <"$WORK/cfssl.jsonl") == "$CSRS" ]] ||
	die "expected $CSRS request bodies in $WORK/gateway.jsonl and $WORK/cfssl.jsonl"

# ------------------------------------------------------------ cfssl
say "cfssl: CA (EC P-256) and cfssl serve on 127.0.0.1:$CFSSL_PORT"
cfssl_start "$WORK" "$CFSSL_PORT" "$WORK/cfssl.jsonl"
say "cfssl: $CONNS connections, ${WARMUP}s warm-up, ${DURATION}s measured"
cf_load=$(loadavg)
load_average_line cfssl
cf_cpu0="cfssl $(cpu_ticks "$cfssl_pid")"
cf_line=$("$LOADGEN" closed "127.0.0.1:$CFSSL_PORT" /api/v1/cfssl/sign "$WORK/cfssl.jsonl" \
	-c "$CONNS" -w "$WARMUP" -d "$DURATION" -s 200)
echo "bench detail cfssl $cf_line"
# Per answer of the whole run, warm-up included, as the CPU counts it.
cf_ms=$(cpu_per_request "$cf_cpu0" "cfssl $(cpu_ticks "$cfssl_pid")" "$(kv "$cf_line" answers)")
echo "bench detail cfssl cpu_ms_per_request$cf_ms"
cf_rate=$(kv "$cf_line" per_s)
[[ $(kv "$cf_line" ok) -gt 0 ]] || die "cfssl: no successful sign in the measured window"
# Latency at the same offered rates as the gateway's below: for cfssl the
# sign answer is the certificate, so latency runs to that answer (-s 200).
for rate in "$LOW_RATE" "$RATE" "$HIGH_RATE"; do
	((rate > 0)) || continue
	load_average_line "cfssl-latency-$rate"
	line=$(open_loop cfssl "127.0.0.1:$CFSSL_PORT" /api/v1/cfssl/sign "$WORK/cfssl.jsonl" \
		"$rate" -s 200)
	echo "bench detail cfssl-latency-run $line"
	[[ $(kv "$line" issued) -gt 0 ]] || die "cfssl: nothing signed at $rate/s ($line)"
	echo "bench detail cfssl-latency rate_per_s=$rate p50_ms=$(kv "$line" p50_ms) p99_ms=$(kv "$line" p99_ms)"
done
kill "$cfssl_pid"
wait "$cfssl_pid" 2>/dev/null || true
cfssl_pid=

# ------------------------------------------------------------ stack
say "stack: starting in $PKI_VAR (gateway $PKI_GATEWAY_LISTEN, Kafka $PKI_KAFKA_PORT, Redis $PKI_REDIS_PORT)"
stack_started=1
if ! scripts/stack.sh up >"$WORK/stack-up.log" 2>&1; then
	# One retry: a start-up race in the stack script shows up now and then.
	say "stack: first start failed ($(grep -m1 'error:' "$WORK/stack-up.log" || true)); retrying"
	scripts/stack.sh up >>"$WORK/stack-up.log" 2>&1 || {
		tail -n 20 "$WORK/stack-up.log" >&2
		die "stack: start failed (log: $WORK/stack-up.log)"
	}
fi
CREDS=$PKI_VAR/demo/credentials.json
# The bench pushes ~1000 requests/s and as many long-polls through one key
# from one address: the gateway runs with limits above that (its own config).
jq '.limits = {connections_per_ip: 2048, waiters_per_key: 2048,
	requests_per_key: {rate_per_s: 1000000, burst: 1000000},
	requests_per_tenant: {rate_per_s: 1000000, burst: 1000000}}' "$PKI_VAR/demo/config.json" \
	>"$WORK/config.json" && cat "$WORK/config.json" >"$PKI_VAR/demo/config.json" ||
	die "stack: cannot set the bench's limits"
scripts/stack.sh restart-gateway >>"$WORK/stack-up.log" 2>&1 || die "stack: gateway restart failed"
TOKEN=$(jq -r .users.alice.token "$CREDS")
CA=$(jq -r .cas.issuing "$CREDS")
[[ -n $TOKEN && $TOKEN != null && -n $CA && $CA != null ]] || die "no alice token or issuing CA in $CREDS"
GW=http://$PKI_GATEWAY_LISTEN
AUTH="Authorization: Bearer $TOKEN"

# One request end to end first: it must be accepted, and (when workers run)
# issued by the automatic CA.
head -n 1 "$WORK/gateway.jsonl" |
	curl -sS --max-time 10 -H "$AUTH" -H 'Content-Type: application/json' --data-binary @- \
		-o "$WORK/submit-one.json" -w '%{http_code}' "$GW/csr/process" >"$WORK/submit-one.code" ||
	die "gateway: submit failed"
[[ $(<"$WORK/submit-one.code") == 202 ]] ||
	die "gateway: submit answered $(<"$WORK/submit-one.code"): $(head -c 300 "$WORK/submit-one.json")"
[[ $(jq -r .ca_id "$WORK/submit-one.json") == "$CA" ]] ||
	die "gateway: expected the automatic choice $CA, got $(jq -c . "$WORK/submit-one.json")"
one_id=$(jq -r .request_id "$WORK/submit-one.json")
# Long-polls it until it is terminal or ISSUE_TIMEOUT seconds have passed.
deadline=$((SECONDS + ISSUE_TIMEOUT))
one_state=
while ((SECONDS < deadline)); do
	curl -sS --max-time $((ISSUE_TIMEOUT + 5)) -H "$AUTH" "$GW/csr/requests/$one_id?wait=$ISSUE_TIMEOUT" \
		>"$WORK/poll-one.json" || die "gateway: poll of $one_id failed"
	one_state=$(jq -r .status "$WORK/poll-one.json")
	[[ $one_state =~ ^(issued|failed|rejected|expired)$ ]] && break
done
if [[ $one_state == issued ]]; then
	jq -r .certificate "$WORK/poll-one.json" >"$WORK/cert-one.pem"
	openssl x509 -in "$WORK/cert-one.pem" -noout -subject | grep -qF "host-1.$DOMAIN" ||
		die "gateway: request $one_id is issued but carries no certificate for host-1.$DOMAIN"
fi

PREFIX=$(jq -r '.redis.prefix // "pki:"' "$PKI_VAR/demo/config.json")
# count_state STATE...: requests recorded in Redis in one of these states.
count_state() {
	scripts/stack.sh redis-cli --eval /dev/stdin , "${PREFIX}req:*" "$*" <<'EOF'
local n, cursor, want = 0, "0", {}
for w in string.gmatch(ARGV[2], "%S+") do want[w] = true end
repeat
	local r = redis.call("SCAN", cursor, "MATCH", ARGV[1], "COUNT", 1000)
	cursor = r[1]
	for _, k in ipairs(r[2]) do
		if redis.call("TYPE", k).ok == "hash" then
			local s = redis.call("HGET", k, "state")
			if s and want[s] then n = n + 1 end
		end
	end
until cursor == "0"
return n
EOF
}
# backlog: requests recorded in Redis that are not terminal yet.
backlog() { count_state queued issuing received; }
# settle: waits until the workers have worked off every earlier request;
# with a backlog of at least DRAIN_MIN, prints the rate at which they did.
DRAIN_MIN=1000
settle() {
	local left first t0 deadline=$((SECONDS + SETTLE))
	say "waiting for the workers to drain the backlog (at most ${SETTLE}s)"
	t0=$(date +%s%N)
	first=$(backlog)
	left=$first
	while ((left > 0)); do
		((SECONDS >= deadline)) && die "workers: $left requests still queued or issuing after ${SETTLE}s"
		sleep 0.5
		left=$(backlog)
	done
	if ((first >= DRAIN_MIN)); then
		awk -v n="$first" -v t0="$t0" -v t1="$(date +%s%N)" 'BEGIN {
			s = (t1 - t0) / 1e9
			printf "bench detail workers drained=%d in_s=%.1f issued_per_s=%.0f (gateway idle)\n", n, s, n / s }'
	fi
}

# submit_loop WARMUP_S DURATION_S: the gateway's closed loop (counting 202s);
# prints the loadgen line.
submit_loop() {
	"$LOADGEN" closed "$PKI_GATEWAY_LISTEN" /csr/process "$WORK/gateway.jsonl" -H "$AUTH" \
		-c "$CONNS" -w "$1" -d "$2" -s 202
}

# Kafka's JVM starts cold: one unmeasured run, then the workers catch up, so
# that the measured run starts from a warm stack and an empty backlog.
say "gateway: warming the stack for ${STACK_WARMUP}s"
submit_loop 0 "$STACK_WARMUP" >/dev/null
if [[ $one_state == issued ]]; then settle; fi
# ratio A B: A/B with two decimals (0 when B is 0).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
# per_request CPU_S N: milliseconds per request, three decimals.
per_request() { awk -v s="$1" -v n="$2" 'BEGIN { printf "%.3f", (n > 0 ? s * 1000 / n : 0) }'; }

# The compared line: what the gateway accepts, with the workers stopped so
# that they do not take the same two cores (where they run, each accepted
# request is also issued, a signature and more, so the accepted rate cannot
# pass the signing rate of a plain signer). Their backlog is issued once
# they are back: settle below fails the run if it is not.
# Kafka's JIT compiles for the load it sees: without consumers the broker
# only appends, and its first ten seconds of that cost two to three times
# its CPU per request of the next ones. So an unmeasured run first.
say "gateway: workers stopped, $CONNS connections, ${GATEWAY_WARMUP}s unmeasured, then ${WARMUP}s warm-up, ${DURATION}s measured"
scripts/stack.sh stop-workers >>"$WORK/stack-up.log" 2>&1 || die "stack: stopping the workers failed"
submit_loop 0 "$GATEWAY_WARMUP" >/dev/null
gw_load=$(loadavg)
load_average_line gateway
gw_cpu0=$(stack_cpu)
gw_line=$(submit_loop "$WARMUP" "$DURATION")
gw_cpu1=$(stack_cpu)
echo "bench detail gateway $gw_line"
gw_ms="$(cpu_per_request "$gw_cpu0" "$gw_cpu1" "$(kv "$gw_line" answers)")"
gw_ms+=" loadgen=$(per_request "$(kv "$gw_line" loadgen_cpu_s)" "$(kv "$gw_line" answers)")"
echo "bench detail gateway cpu_ms_per_request$gw_ms (workers stopped)"
gw_rate=$(kv "$gw_line" per_s)
[[ $(kv "$gw_line" ok) -gt 0 ]] || die "gateway: no 202 in the measured window"
echo "bench gateway submits_per_s=$gw_rate cfssl_signs_per_s=$cf_rate ratio=$(ratio "$gw_rate" "$cf_rate")"
# Both per answer of a whole closed-loop run: the gateway's (all 202 when
# other=0 errors=0 above) with the workers stopped, cfssl's each a signature.
echo "bench gateway cpu_ms_per_request gateway=$(kv "$gw_ms" gateway) cfssl=$(kv "$cf_ms" cfssl)"

# What any gateway could accept here: the CPU that the broker, the store and
# the load generator spent per accepted request in the run above, plus one
# CSR signature check (OpenSSL's own ECDSA P-256 verify loop), on all cores.
verify_per_s=$(openssl speed -seconds 2 ecdsap256 2>/dev/null | awk '/nistp256/ { print $NF }')
# gw_ms: " name=ms ..." as printed above; every process but the gateway counts.
awk -v ms="$gw_ms" -v v="$verify_per_s" -v cores="$(nproc)" -v cf="$cf_rate" '
	BEGIN {
		n = split(ms, f, " ")
		for (i = 1; i <= n; i++) { split(f[i], kv, "="); if (kv[1] != "gateway") others += kv[2] }
		vms = v > 0 ? 1000 / v : 0
		floor = others + vms
		max = floor > 0 ? cores * 1000 / floor : 0
		printf "bench detail gateway-bound others_ms=%.3f verify_ms=%.3f floor_ms=%.3f max_submits_per_s=%.0f max_ratio=%.2f (Kafka, Redis, approver and load generator as measured above, plus one CSR signature check, on %d cores: a gateway costing nothing else)\n",
			others, vms, floor, max, (cf > 0 ? max / cf : 0), cores
	}'

scripts/stack.sh start-workers >>"$WORK/stack-up.log" 2>&1 || die "stack: restarting the workers failed"
if [[ $one_state == issued ]]; then
	settle
	failed=$(count_state failed)
	((failed == 0)) || die "workers: $failed of the accepted requests ended failed"
fi

# The same load with the workers issuing meanwhile (a detail line).
say "gateway with workers issuing: $CONNS connections, ${WARMUP}s warm-up, ${DURATION}s measured"
load_average_line gateway-issuing
gi_cpu0=$(stack_cpu)
gi_line=$(submit_loop "$WARMUP" "$DURATION")
echo "bench detail gateway-issuing $gi_line"
echo "bench detail gateway-issuing cpu_ms_per_request$(cpu_per_request "$gi_cpu0" "$(stack_cpu)" \
	"$(kv "$gi_line" answers)") (workers issue meanwhile)"
echo "bench detail gateway-issuing submits_per_s=$(kv "$gi_line" per_s) cfssl_signs_per_s=$cf_rate" \
	"ratio=$(ratio "$(kv "$gi_line" per_s)" "$cf_rate")"

# ------------------------------------------------------------ latency
# Without issuance there is no latency to measure: say so, print no number.
[[ $one_state == issued ]] ||
	die "latency: request $one_id was \"$one_state\" ${ISSUE_TIMEOUT}s after its submit; are workers issuing? (logs: $PKI_VAR/log/worker-*.log)"

# latency RATE: one open-loop run against the gateway; prints the loadgen line.
latency() {
	open_loop gateway "$PKI_GATEWAY_LISTEN" /csr/process "$WORK/gateway.jsonl" "$1" \
		-H "$AUTH" -W 30 "${@:2}"
}
KCAT_CONF=$PKI_VAR/bench-kcat.conf
printf '%s\n' security.protocol=ssl "ssl.ca.location=$PKI_VAR/demo/kafka/ca.pem" \
	"ssl.certificate.location=$PKI_VAR/demo/kafka/pki-admin.crt" \
	"ssl.key.location=$PKI_VAR/demo/kafka/pki-admin.key" >"$KCAT_CONF"
# stamps TOPIC FROM_MS TO_MS: "key timestamp_ms" of TOPIC's messages sent in [FROM, TO).
stamps() {
	kcat -F "$KCAT_CONF" -b "127.0.0.1:$PKI_KAFKA_PORT" -C -t "$1" -o "s@$2" -o "e@$3" -e -q \
		-f '%k %T\n' 2>/dev/null || true
}
# latency_parts RATE FROM_MS TO_MS: for the requests the gateway sent to
# pki.issue in [FROM, TO), the time from that send to the worker's result on
# pki.results; the rest of the latency is the submit before it and the
# long-poll answer after it.
latency_parts() {
	awk 'NR == FNR { if (!($1 in sent)) sent[$1] = $2; next }
		($1 in sent) && !($1 in done) { done[$1] = 1; print $2 - sent[$1] }' \
		<(stamps pki.issue "$2" "$3") <(stamps pki.results "$2" "$(($3 + DRAIN * 1000))") |
		sort -n | awk -v rate="$1" '{ d[++n] = $1 }
		function pct(p) { return n ? d[int((n - 1) * p) + 1] : 0 }
		END {
			printf "bench detail latency-parts rate_per_s=%d requests=%d issue_to_result_p50_ms=%d issue_to_result_p99_ms=%d (pki.issue to pki.results timestamps: queue, claim, signing, storing)\n",
				rate, n, pct(0.50), pct(0.99)
		}'
}

# latency_warmup: the unmeasured rounds (LAT_WARM_ROUNDS above).
latency_warmup() {
	local r mark pct=
	for ((r = 1; r <= LAT_WARM_ROUNDS; r++)); do
		settle
		say "latency warm-up round $r: open loop at $RATE/s, unmeasured"
		mark=$(kafka_jit_mark)
		latency "$RATE" >/dev/null
		pct=$(kafka_jit_pct "$mark")
		say "latency warm-up round $r: the broker's JIT compilers took $pct% of a core"
		awk -v p="$pct" -v q="$JIT_QUIET_PCT" 'BEGIN { exit !(p < q) }' && break
	done
	((LAT_WARM_ROUNDS > 0)) &&
		echo "bench detail latency-warmup rate_per_s=$RATE rounds=$((r > LAT_WARM_ROUNDS ? LAT_WARM_ROUNDS : r)) jit_pct_last_round=$pct"
	return 0
}
latency_warmup

# aof_wait N WHAT T0: until Redis has made more than N rewrites and runs
# none; dies naming WHAT once SETTLE seconds have passed since T0.
aof_wait() {
	until (($(aof_rewrites) > $1)) && (($(redis_info persistence aof_rewrite_in_progress) == 0)); do
		((SECONDS - $3 < SETTLE)) || die "redis: $2 ran over ${SETTLE}s"
		sleep 0.5
	done
}
# aof_compact: one AOF rewrite now, waited for. The closed loops above left
# some 200,000 records, and Redis rewrites its AOF each time it doubles: a
# rewrite inside a 10 s run (4.4 s of writing, after a fork of the whole
# dataset) took one run's p99 at 1,000/s to 290 ms. Rewritten here, the
# runs below write far less than a doubling; each still says whether one ran.
aof_compact() {
	local t0=$SECONDS n0
	aof_wait -1 "an automatic AOF rewrite" "$t0"
	n0=$(aof_rewrites)
	scripts/stack.sh redis-cli BGREWRITEAOF | grep -q 'rewriting started' ||
		die "redis: BGREWRITEAOF refused"
	aof_wait "$n0" "the AOF rewrite" "$t0"
	echo "bench detail aof-compact before=latency seconds=$((SECONDS - t0))"
}
settle
aof_compact

for rate in "$LOW_RATE" "$RATE" "$HIGH_RATE"; do
	((rate > 0)) || continue
	settle
	load_average_line "latency-$rate"
	aof0=$(aof_rewrites)
	t0=$(date +%s%3N)
	line=$(latency "$rate")
	t1=$(date +%s%3N)
	echo "bench detail latency-run $line"
	issued=$(kv "$line" issued)
	((issued > 0)) || die "latency: nothing issued at $rate/s ($line)"
	tag="bench latency"
	((rate == LOW_RATE)) && tag="bench detail latency" # the low rate: a detail
	echo "$tag rate_per_s=$rate p50_ms=$(kv "$line" p50_ms) p99_ms=$(kv "$line" p99_ms) issued=$issued"
	echo "bench detail latency-counts rate_per_s=$rate sent=$(kv "$line" sent) issued=$issued" \
		"errors=$(($(kv "$line" errors) + $(kv "$line" refused) + $(kv "$line" failed)))" \
		"unfinished=$(kv "$line" unfinished) send_lag_max_ms=$(kv "$line" send_lag_max_ms)" \
		"aof_rewrites=$(($(aof_rewrites) - aof0))"
	latency_parts "$rate" "$t0" "$t1"
done
# The same at RATE with the one-call answer: the submit itself waits
# (Prefer: wait=30) and answers 201 with the certificate, no poll.
if ((RATE > 0)); then
	settle
	load_average_line latency-one-call
	aof0=$(aof_rewrites)
	line=$(latency "$RATE" -H "Prefer: wait=30")
	echo "bench detail latency-one-call-run $line"
	echo "bench detail latency-one-call rate_per_s=$RATE p50_ms=$(kv "$line" p50_ms)" \
		"p99_ms=$(kv "$line" p99_ms) issued=$(kv "$line" issued) polls=$(kv "$line" polls)" \
		"aof_rewrites=$(($(aof_rewrites) - aof0))"
fi
workers=$(scripts/stack.sh status 2>/dev/null | grep -c '^worker-.*running' || true)
echo "bench rss workers=$workers$(stack_rss)"
echo "bench detail rss_peak workers=$workers$(stack_rss VmHWM)"
echo "bench note: $(nproc) cores shared by Kafka, Redis, gateway, $workers workers x $PKI_WORKER_THREADS" \
	"threads ($PKI_ISSUE_PARTITIONS pki.issue partitions, $PKI_TOPIC_PARTITIONS for the other topics), approver and the load generator; cfssl ran alone before the stack started; load average at the start of the" \
	"cfssl run $cf_load, of the gateway run $gw_load"
