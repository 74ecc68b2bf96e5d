#!/usr/bin/env bash
# Bulk issuance benchmark: BENCH_BULK_N (default 50000) EC P-256 CSRs made by
# Python cryptography (cached per N), signed as alice's bulk messages with
# `pkictl bulk sign`, and for each case (1, then 2 worker processes):
#   1. a fresh stack (scripts/stack.sh, private ports and state) with no
#      worker running; every message produced onto the submit topic with
#      alice's producer certificate (the producer's time printed apart);
#      then a wait (at most QUIET_MAX_S) for the stack to idle;
#   2. the workers started; timed from their start to the last of the N
#      results on the results topic (its messages' own timestamps);
#   3. checked: N distinct requests issued on the results topic, N
#      certificates on the issued topic with N distinct serials, every
#      request issued in Redis; nothing else on either topic but the warm-up's.
# Before step 1 in each case, the same workers issue BENCH_BULK_WARMUP
# (20000) requests of another batch unmeasured, and stop; again with another
# batch each round until the broker's JIT compilers took under
# BENCH_BULK_JIT_QUIET_PCT (10) % of a core over the round, at most
# BENCH_BULK_WARMUP_ROUNDS (8) rounds: a fresh broker compiles its hot paths
# only after tens of thousands of requests, and a broker in service has long
# done so (a 20000-request warm-up left 11 s of compiling in the drain).
# Beside it, measured in the same run with the stack down: the two-thread
# crypto bound for EC P-256 (build/release/bench) and cfssl's sign API
# (cfssl serve, closed loop with tests/bench/loadgen, the same CSRs).
# Prints, per case:
#   bench detail load_average case=NAME la1=X
#   bench detail bulk-warmup workers=K rounds=R requests=N jit_pct_last_round=X
#   bench detail bulk-produce messages=N seconds=X per_s=N
#   bench detail bulk-pin workers=K worker-1=cpu0 ... (with BENCH_BULK_PIN=1)
#   bench detail bulk-drain workers=K results=N first_result_s=X last_result_s=X aof_rewrites=N
#     (aof_rewrites: Redis's during the drain; left in, as a store in service
#     pays them too: one each time its AOF doubles)
#   bench detail bulk-bound workers=K before=N after=N mean=N
#     (the two-thread bound just before the drain and once the stack idles
#     after it; the ratio uses the mean)
#   bench detail bulk cpu_ms_per_request workers=K gateway=X workers=X kafka=X redis=X approver=X kafka_jit=X
#     (kafka_jit: the part of kafka's CPU that its JIT compilers took)
#   bench detail bulk redis_per_request workers=K commands=X reads=X
#   bench detail bulk kafka_per_request workers=K requests=X produce=X fetch=X commit=X
#   bench bulk workers=K issued=N certs_per_s=N bound_2core_per_s=N ratio=X cfssl_signs_per_s=N
#   bench rss workers=K gateway_mib=X approver_mib=X worker-1_mib=X ... kafka_mib=X redis_mib=X
#   bench detail rss_peak workers=K ... (the same, VmHWM: the peak during the case)
# and PASS:/FAIL: lines. Exits non-zero when a request is lost or duplicated,
# a stage fails, or the 2-worker ratio is below BENCH_BULK_MIN_RATIO (0.3).
set -euo pipefail
cd "$(dirname "$0")/../.."

N=${BENCH_BULK_N:-50000}
CASES=${BENCH_BULK_WORKERS:-1 2}     # worker processes per case
MIN_RATIO=${BENCH_BULK_MIN_RATIO:-0.3} # required with 2 workers
TIMEOUT=${BENCH_BULK_TIMEOUT_S:-$((120 + N / 50))} # one drain, at most
STALL=${BENCH_BULK_STALL_S:-60}      # no new result for this long: give up
BOUND_N=4000                         # bench's issuance cases; its bound loops are timed
CFSSL_CSRS=1000                      # distinct bodies in cfssl's closed loop
WARM_N=${BENCH_BULK_WARMUP:-20000}   # requests issued unmeasured per warm-up round (0: none)
WARM_ROUNDS=${BENCH_BULK_WARMUP_ROUNDS:-8}   # warm-up rounds, at most
JIT_QUIET_PCT=${BENCH_BULK_JIT_QUIET_PCT:-10} # warm-up done: the broker's JIT took under this % of a core
PIN=${BENCH_BULK_PIN:-}              # 1: worker-I pinned to core I-1 (mod cores) in the drain
CONNS=${BENCH_CONNS:-64}
WARMUP=${BENCH_WARMUP_S:-2}
DURATION=${BENCH_DURATION_S:-10}
POLL_S=1 # the drain's end is read from its results' own timestamps
QUIET_MAX_S=30 # after a stack start, wait at most this long for it to idle
QUIET_TICKS_PCT=10 # idle: the stack's processes took under this % of a core for a second
OFF=${PKI_TEST_PORT_OFFSET:-0}
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "bench-bulk: BENCH_BULK_N: a positive integer, got $N" >&2; exit 2; }
[[ $OFF =~ ^[0-9]{1,3}$ ]] || { echo "bench-bulk: PKI_TEST_PORT_OFFSET: 0..999, got $OFF" >&2; exit 2; }

BUILD=${BUILD:-build/release}
CFSSL_PORT=$((18988 + OFF))
export PKI_VAR=${BENCH_BULK_VAR:-var/bench-bulk}
export PKI_KAFKA_PORT=$((19292 + OFF))
export PKI_KAFKA_CONTROLLER_PORT=$((19293 + OFF))
export PKI_REDIS_PORT=$((16579 + OFF))
export PKI_SMTP_PORT=$((12725 + OFF))
export PKI_GATEWAY_LISTEN=127.0.0.1:$((18280 + OFF))
export PKI_APPROVER_LISTEN=127.0.0.1:$((18281 + OFF))
# Three threads per worker on two cores: while some wait on Redis or on
# Kafka's acknowledgement, another signs (two left a fifth of the cores idle).
export PKI_WORKER_THREADS=${BENCH_WORKER_THREADS:-3}
# A multiple of every case's consumers (3 and 6): with 8, two threads held
# two partitions each and drained the last quarter of the backlog alone.
export PKI_ISSUE_PARTITIONS=${BENCH_ISSUE_PARTITIONS:-12}
export PKI_TOPIC_PARTITIONS=${BENCH_TOPIC_PARTITIONS:-3}
export BUILD
unset PKI_CONFIG PKI_WORKERS

CACHE=$PKI_VAR/csrs-$N # kept between runs: requests.jsonl, cfssl.jsonl
WORK=$PKI_VAR/bench
CREDS=$PKI_VAR/demo/credentials.json
PYTHON=${PYTHON:-.cache/venv/bin/python}
DOMAIN=acme.example # within alice's tenant's names

say() { printf 'bench-bulk: %s\n' "$*" >&2; }
die() {
	printf 'bench-bulk: error: %s\n' "$*" >&2
	exit 1
}
now_ms() { date +%s%3N; }

# ------------------------------------------------------------ accounting
# The measuring helpers shared with gateway.sh (loadavg, load_average_line,
# cpu_ticks, stack_cpu, rss_mib, stack_rss, kv, port_open; HZ).
. tests/bench/lib.sh

# cpu_ms_named BEFORE AFTER N NAME...: " NAME=ms" of CPU per request for each
# NAME of two stack_cpu snapshots, in that order (0 for a process absent from both).
cpu_ms_named() {
	local before=$1 after=$2 n=$3
	shift 3
	awk -v n="$n" -v hz="$HZ" -v names="$*" 'NR == FNR { b[$1] = $2; next } { a[$1] = $2 }
		END { k = split(names, w, " ")
			for (i = 1; i <= k; i++)
				printf " %s=%.3f", w[i], (a[w[i]] - b[w[i]]) * 1000 / hz / (n > 0 ? n : 1) }' \
		<(echo "$before") <(echo "$after")
}

# kafka_requests: "TYPE COUNT" per request type the broker has served so far
# (JMX, tests/bench/kafka_requests.java); nothing when the JVM has no attach API.
kafka_requests() {
	java tests/bench/kafka_requests.java "$(<"$PKI_VAR/run/kafka.pid")" 2>>"$WORK/kafka-requests.err" || true
}
# kafka_per_request BEFORE AFTER N: " requests=X produce=X fetch=X commit=X"
# per request; requests counts every client request (not the broker's own
# KRaft Broker*/Controller* ones).
kafka_per_request() {
	awk -v n="$3" 'NR == FNR { b[$1] = $2; next } { d = $2 - b[$1]
			if ($1 !~ /^(Broker|Controller)/) all += d
			if ($1 == "Produce") p = d; if ($1 == "Fetch") f = d; if ($1 == "OffsetCommit") c = d }
		END { n = n > 0 ? n : 1
			printf " requests=%.3f produce=%.3f fetch=%.3f commit=%.3f", all / n, p / n, f / n, c / n }' \
		<(echo "$1") <(echo "$2")
}

cfssl_pid=
stack_started=
cleanup() {
	local rc=$? pid
	for pid in $cfssl_pid; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	[[ -n $stack_started ]] && scripts/stack.sh down >/dev/null 2>&1
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v cfssl >/dev/null || die "cfssl not found (Debian package golang-cfssl; run scripts/deps.sh)"
[[ -x $PYTHON ]] || die "no $PYTHON (run scripts/deps.sh)"
make -s "$BUILD/bench" "$BUILD/loadgen" "$BUILD/pkictl" || die "build failed"

# A fresh state every run (a new demo PKI, so new bulk keys); the CSRs stay.
scripts/stack.sh down >/dev/null 2>&1 || true
find "$PKI_VAR" -mindepth 1 -maxdepth 1 ! -name "csrs-$N" -exec rm -rf {} + 2>/dev/null || true
mkdir -p "$WORK"

# ------------------------------------------------------------ CSRs
# One key and one name per CSR: requests.jsonl for pkictl bulk sign, and the
# first CFSSL_CSRS as cfssl sign bodies.
if [[ ! -s $CACHE/requests.jsonl || ! -s $CACHE/cfssl.jsonl ]]; then
	say "generating $N EC P-256 CSRs (Python cryptography) into $CACHE"
	mkdir -p "$CACHE"
	t0=$(now_ms)
	"$PYTHON" - "$N" "$CFSSL_CSRS" "$DOMAIN" "$CACHE" <<'EOF' || die "CSR generation failed"
import json, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
n, ncf, dom, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
with open(f"{out}/requests.jsonl.tmp", "w") as req, open(f"{out}/cfssl.jsonl.tmp", "w") as cf:
    for i in range(n):
        name = f"bulk{i:06d}"
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name}.{dom}")]))
               .sign(key, hashes.SHA256()))
        pem = csr.public_bytes(serialization.Encoding.PEM).decode()
        req.write(json.dumps({"name": name, "csr": pem, "validity_days": 30,
                              "extensions": ["server_auth"]}) + "\n")
        if i < ncf:
            cf.write(json.dumps({"certificate_request": pem}) + "\n")
EOF
	mv "$CACHE/requests.jsonl.tmp" "$CACHE/requests.jsonl"
	mv "$CACHE/cfssl.jsonl.tmp" "$CACHE/cfssl.jsonl"
	say "CSRs made in $(awk -v ms=$(($(now_ms) - t0)) 'BEGIN { printf "%.1f", ms / 1000 }') s"
fi
[[ $(wc -l <"$CACHE/requests.jsonl") == "$N" ]] || die "$CACHE/requests.jsonl: expected $N lines"

# ------------------------------------------------------------ crypto bound
# The bench binary's interleaved bound loops: two threads of bare ECDSA P-256
# verify + sign, the figure the pipeline is compared to.
# bound_line: its "bench machine ..." line. The machine's speed drifts over
# minutes here (shared cores), so each case measures it again just before
# and just after its drain, and its ratio uses the mean of the two.
bound_line() {
	local out line
	out=$(BENCH_CA=ec-p256 "$BUILD/bench" "$BOUND_N") || true
	line=$(grep '^bench machine ca=ec-p256 ' <<<"$out") ||
		die "bench printed no two-thread bound: $out"
	[[ $(kv "$line" bound_2threads_per_s) =~ ^[1-9][0-9]*$ ]] || die "bad two-thread bound in: $line"
	echo "$line"
}
load_average_line bound-2core
bound_line

# ------------------------------------------------------------ cfssl
say "cfssl: $CONNS connections, ${WARMUP}s warm-up, ${DURATION}s measured"
cfssl_start "$WORK" "$CFSSL_PORT" "$CACHE/cfssl.jsonl"
load_average_line cfssl
cf_line=$("$BUILD/loadgen" closed "127.0.0.1:$CFSSL_PORT" /api/v1/cfssl/sign "$CACHE/cfssl.jsonl" \
	-c "$CONNS" -w "$WARMUP" -d "$DURATION" -s 200)
echo "bench detail cfssl $cf_line"
cf_rate=$(kv "$cf_line" per_s)
[[ $(kv "$cf_line" ok) -gt 0 ]] || die "cfssl: no successful sign in the measured window"
kill "$cfssl_pid"
wait "$cfssl_pid" 2>/dev/null || true
cfssl_pid=

# ------------------------------------------------------------ stack
# stack_fresh: the stack with empty Redis and Kafka, the demo PKI kept, and
# no worker running.
stack_fresh() {
	scripts/stack.sh down >/dev/null 2>&1 || true
	rm -rf "$PKI_VAR"/{redis,kafka,log,run,mail}
	stack_started=1
	if ! PKI_WORKERS=0 scripts/stack.sh up >"$WORK/stack-up.log" 2>&1; then
		# One retry: a start-up race in the stack script shows up now and then.
		say "stack: first start failed ($(grep -m1 'error:' "$WORK/stack-up.log" || true)); retrying"
		PKI_WORKERS=0 scripts/stack.sh up >>"$WORK/stack-up.log" 2>&1 || {
			tail -n 20 "$WORK/stack-up.log" >&2
			die "stack: start failed (log: $WORK/stack-up.log)"
		}
	fi
}

# stack_quiet: waits (at most QUIET_MAX_S) until the fresh stack idles, so
# that the broker's start-up work is not counted as the drain's.
stack_quiet() {
	local i a b
	for ((i = 0; i < QUIET_MAX_S; i++)); do
		a=$(stack_ticks)
		sleep 1
		b=$(stack_ticks)
		(((b - a) * 100 < HZ * QUIET_TICKS_PCT)) && return 0
	done
	say "stack: still busy after ${QUIET_MAX_S}s; measuring anyway"
}

# topic KEY: the config's name of a topic.
topic() { jq -r --arg k "$1" '.kafka.topics[$k] // "pki.\($k)"' "$PKI_VAR/demo/config.json"; }
KCAT_ADMIN=(-b "127.0.0.1:$PKI_KAFKA_PORT" -X security.protocol=ssl
	-X "ssl.ca.location=$PKI_VAR/demo/kafka/ca.pem"
	-X "ssl.certificate.location=$PKI_VAR/demo/kafka/pki-admin.crt"
	-X "ssl.key.location=$PKI_VAR/demo/kafka/pki-admin.key")
# dump TOPIC FORMAT: every message of TOPIC so far, in kcat's FORMAT.
dump() { kcat "${KCAT_ADMIN[@]}" -C -t "$1" -o beginning -e -q -f "$2"; }

# mine FILE: its lines whose first field is one of the batch's request ids.
mine() { awk -F'\t' 'NR == FNR { id[$1]; next } $1 in id' "$WORK/ids" "$1"; }
# check NAME EXPECTED ACTUAL: records a failed check of the current case.
case_failed=
check() {
	[[ $2 == "$3" ]] && return 0
	echo "FAIL: bench bulk workers=$k $1: expected $2, got $3"
	case_failed=1
}

# sign INPUT BATCH OUT: alice's signed messages for INPUT's requests (key,
# a tab, the message: what kcat -K '\t' produces) into OUT.
sign() {
	"$BUILD/pkictl" bulk sign --as alice --ca "$(jq -r .cas.issuing "$CREDS")" --batch "$2" \
		--config "$PKI_VAR/demo/config.json" "$1" >"$3" 2>"$WORK/sign.err" ||
		die "pkictl bulk sign: $(tail -n 3 "$WORK/sign.err")"
}
# produce FILE: its messages onto the submit topic as alice's producer.
produce() {
	kcat -b "$(jq -r .kafka.bootstrap "$CREDS")" -X security.protocol=ssl \
		-X "ssl.ca.location=$(jq -r .kafka.ca "$CREDS")" \
		-X "ssl.certificate.location=$(jq -r .kafka.producers.alice.cert "$CREDS")" \
		-X "ssl.key.location=$(jq -r .kafka.producers.alice.key "$CREDS")" \
		-P -t "$T_SUBMIT" -K $'\t' -l "$1" 2>"$WORK/produce.err" ||
		die "kcat produce failed: $(tail -n 3 "$WORK/produce.err")"
}
# results_at_least N: the results topic holds N messages or more.
# (Summed end offsets: the producers use no transactions, so an offset is a
# message; reading every message each time would load the broker.)
results_at_least() { (($(results_count) >= $1)); }
# results_count: the messages on the results topic so far (0 when unknown);
# one kcat call once the topic's partitions are known (results_parts).
results_parts=
results_count() {
	[[ -n $results_parts ]] || results_parts=$(kcat "${KCAT_ADMIN[@]}" -L -t "$T_RESULTS" 2>/dev/null |
		awk -v t="$T_RESULTS" '$1 == "partition" { printf " -t %s:%d:-1", t, $2 }')
	[[ -n $results_parts ]] || { echo 0; return; }
	# shellcheck disable=SC2086 # results_parts holds several -t options
	kcat "${KCAT_ADMIN[@]}" -Q $results_parts 2>/dev/null | awk '{ n += $NF } END { print n + 0 }'
}
# warm_up K FILE TOTAL: FILE's messages produced, then K workers started to
# issue them (as in the drain) until the results topic holds TOTAL, and stop.
warm_up() {
	local deadline=$((SECONDS + TIMEOUT))
	produce "$2"
	PKI_WORKERS=$1 scripts/stack.sh start-workers >>"$WORK/stack-up.log" 2>&1 ||
		die "stack: starting $1 workers failed"
	until results_at_least "$3"; do
		((SECONDS < deadline)) || die "warm-up: fewer than $3 results after ${TIMEOUT}s"
		sleep 1
	done
	scripts/stack.sh stop-workers >>"$WORK/stack-up.log" 2>&1 || die "stack: stopping the workers failed"
}
# warm_rounds K: warm-up rounds (a batch of WARM each) until the broker's JIT
# is quiet; sets warm_total.
warm_rounds() {
	local r mark pct=
	for ((r = 1; r <= WARM_ROUNDS; r++)); do
		# Each round's requests: the same CSRs in another batch (other ids).
		if [[ ! -s $WORK/warm-$r.txt ]]; then
			head -n "$WARM" "$CACHE/requests.jsonl" >"$WORK/warm.jsonl"
			sign "$WORK/warm.jsonl" "bench-warm-$N-$r" "$WORK/warm-$r.txt"
		fi
		say "case workers=$1: warm-up round $r, $WARM requests of another batch"
		mark=$(kafka_jit_mark)
		warm_up "$1" "$WORK/warm-$r.txt" $((warm_total + WARM))
		warm_total=$((warm_total + WARM))
		pct=$(kafka_jit_pct "$mark")
		say "warm-up round $r: the broker's JIT compilers took $pct% of a core"
		awk -v p="$pct" -v q="$JIT_QUIET_PCT" 'BEGIN { exit !(p < q) }' && break
	done
	echo "bench detail bulk-warmup workers=$1 rounds=$((r > WARM_ROUNDS ? WARM_ROUNDS : r)) requests=$warm_total jit_pct_last_round=$pct"
}

# pin_workers K: worker-I on core I-1 (modulo the cores), all its threads,
# from its readiness on; prints which.
pin_workers() {
	local i line="bench detail bulk-pin workers=$1"
	for ((i = 1; i <= $1; i++)); do
		taskset -a -p -c $(((i - 1) % $(nproc))) "$(<"$PKI_VAR/run/worker-$i.pid")" >/dev/null ||
			die "taskset failed for worker-$i"
		line+=" worker-$i=cpu$(((i - 1) % $(nproc)))"
	done
	echo "$line (pinned once ready)"
}

WARM=$((WARM_N < N ? WARM_N : N))
rc=0
ratio2=
for k in $CASES; do
	say "case workers=$k: fresh stack in $PKI_VAR"
	case_failed=
	stack_fresh
	T_SUBMIT=$(topic submit) T_RESULTS=$(topic results) T_ISSUED=$(topic issued)
	results_parts=
	if [[ ! -s $WORK/signed.txt ]]; then
		say "signing $N bulk messages as alice (pkictl bulk sign)"
		sign "$CACHE/requests.jsonl" "bench-$N" "$WORK/signed.txt"
		[[ $(wc -l <"$WORK/signed.txt") == "$N" ]] || die "pkictl bulk sign wrote no $N messages"
		cut -f 1 "$WORK/signed.txt" | sort >"$WORK/ids"
	fi
	warm_total=0
	if ((WARM > 0)); then warm_rounds "$k"; fi

	# Pre-push: every message on the submit topic before any worker runs.
	t0=$(now_ms)
	produce "$WORK/signed.txt"
	awk -v n="$N" -v ms=$(($(now_ms) - t0)) 'BEGIN {
		printf "bench detail bulk-produce messages=%d seconds=%.1f per_s=%.0f\n", n, ms / 1000, n * 1000 / (ms > 0 ? ms : 1) }'
	check "messages on $T_SUBMIT" "$((N + warm_total))" "$(dump "$T_SUBMIT" '%k\n' | wc -l)"

	# The broker's JMX agent starts at the first count of its requests:
	# started here, its class loading and JIT compiling are over before
	# the drain (stack_quiet waits for them) instead of falling into it.
	kafka_requests >/dev/null
	stack_quiet
	bound0=$(kv "$(bound_line)" bound_2threads_per_s)
	kreq0=$(kafka_requests)
	# The drain: from the workers' start to the Nth result's timestamp.
	load_average_line "bulk-workers-$k"
	cpu0=$(stack_cpu)
	cmd0=$(redis_info stats total_commands_processed)
	reads0=$(redis_info stats total_reads_processed)
	aof0=$(aof_rewrites)
	t0=$(now_ms)
	PKI_WORKERS=$k scripts/stack.sh start-workers >>"$WORK/stack-up.log" 2>&1 ||
		die "stack: starting $k workers failed"
	if [[ -n $PIN ]]; then pin_workers "$k"; fi
	deadline=$((SECONDS + TIMEOUT))
	# Progress from the results topic's end offsets, not a consumer: a
	# reader of every result during the drain would load the broker and
	# the cores it measures. The results themselves are read afterwards.
	seen=0 last=$SECONDS
	while :; do
		got=$(($(results_count) - warm_total))
		((got >= N)) && break
		((got > seen)) && seen=$got last=$SECONDS
		((SECONDS - last >= STALL)) && break
		((SECONDS >= deadline)) && break
		sleep "$POLL_S"
	done
	cpu1=$(stack_cpu)
	cmd1=$(redis_info stats total_commands_processed)
	reads1=$(redis_info stats total_reads_processed)
	aofs=$(($(aof_rewrites) - aof0))
	kreq1=$(kafka_requests)
	dump_results=$WORK/results-$k.tsv # the batch's: request id, timestamp (ms)
	dump "$T_RESULTS" '%k\t%T\n' | mine /dev/stdin | cut -f 2 >"$dump_results"
	got=$(wc -l <"$dump_results")
	((got >= N)) || say "workers=$k: $got of $N results after $((SECONDS - last))s without a new one"
	read -r first_ms last_ms < <(awk 'NR == 1 || $1 < a { a = $1 } $1 > b { b = $1 } END { print a, b }' "$dump_results")
	secs=$(awk -v a="$t0" -v b="${last_ms:-$t0}" 'BEGIN { printf "%.3f", (b - a) / 1000 }')
	awk -v k="$k" -v n="$got" -v a="$t0" -v f="${first_ms:-$t0}" -v l="${last_ms:-$t0}" -v r="$aofs" 'BEGIN {
		printf "bench detail bulk-drain workers=%d results=%d first_result_s=%.3f last_result_s=%.3f aof_rewrites=%d\n", k, n, (f - a) / 1000, (l - a) / 1000, r }'

	# Counted again from the topics and Redis, after the clock stopped.
	dump "$T_RESULTS" '%s\n' | jq -r '[.request_id, .status] | @tsv' >"$WORK/results-full.tsv"
	dump "$T_ISSUED" '%s\n' | jq -r '[.request_id, .serial] | @tsv' >"$WORK/issued.tsv"
	issued=$(mine "$WORK/results-full.tsv" | awk -F'\t' '$2 == "issued" { print $1 }' | sort -u | wc -l)
	check "distinct requests of the batch issued on $T_RESULTS" "$N" "$issued"
	check "results of the batch on $T_RESULTS" "$N" "$(mine "$WORK/results-full.tsv" | wc -l)"
	check "messages on $T_RESULTS (the warm-up's too)" "$((N + warm_total))" "$(wc -l <"$WORK/results-full.tsv")"
	check "certificates of the batch on $T_ISSUED" "$N" "$(mine "$WORK/issued.tsv" | cut -f 1 | sort -u | wc -l)"
	check "messages on $T_ISSUED (the warm-up's too)" "$((N + warm_total))" "$(wc -l <"$WORK/issued.tsv")"
	check "distinct serials on $T_ISSUED" "$((N + warm_total))" "$(cut -f 2 "$WORK/issued.tsv" | sort -u | wc -l)"
	prefix=$(jq -r '.redis.prefix // "pki:"' "$PKI_VAR/demo/config.json")
	check "requests issued in Redis" "$N" "$(sed "s/^/HGET ${prefix}req:/; s/\$/ state/" "$WORK/ids" |
		scripts/stack.sh redis-cli --raw | grep -cx issued || true)"

	# The bound again once the stack idles after the drain (its checks above
	# took a while), so that both are measured alike.
	stack_quiet
	bound1=$(kv "$(bound_line)" bound_2threads_per_s)
	[[ -n $bound0 && -n $bound1 ]] || die "no two-thread bound around the drain"
	bound=$(((bound0 + bound1) / 2))
	echo "bench detail bulk-bound workers=$k before=$bound0 after=$bound1 mean=$bound"
	echo "bench detail bulk cpu_ms_per_request workers=$k$(cpu_ms_named "$cpu0" "$cpu1" "$got" \
		gateway workers kafka redis approver kafka_jit)"
	awk -v k="$k" -v n="$got" -v c="$((cmd1 - cmd0))" -v r="$((reads1 - reads0))" 'BEGIN {
		n = n > 0 ? n : 1
		printf "bench detail bulk redis_per_request workers=%d commands=%.2f reads=%.2f\n", k, c / n, r / n }'
	[[ -n $kreq0 && -n $kreq1 ]] &&
		echo "bench detail bulk kafka_per_request workers=$k$(kafka_per_request "$kreq0" "$kreq1" "$got")"
	rate=$(awk -v n="$issued" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
	ratio=$(awk -v a="$rate" -v b="$bound" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
	echo "bench bulk workers=$k issued=$issued certs_per_s=$rate bound_2core_per_s=$bound ratio=$ratio cfssl_signs_per_s=$cf_rate"
	echo "bench rss workers=$k$(stack_rss)"
	echo "bench detail rss_peak workers=$k$(stack_rss VmHWM)"
	if [[ -n $case_failed ]]; then
		rc=1
	else
		echo "PASS: bench bulk workers=$k: $N requests issued once each in ${secs}s"
	fi
	if [[ $k == 2 ]]; then ratio2=$ratio; fi
done

if [[ -n $ratio2 ]]; then
	if awk -v r="$ratio2" -v m="$MIN_RATIO" 'BEGIN { exit !(r >= m) }'; then
		echo "PASS: bench bulk workers=2 ratio $ratio2 >= $MIN_RATIO"
	else
		echo "FAIL: bench bulk workers=2 ratio $ratio2 < $MIN_RATIO"
		rc=1
	fi
fi
exit "$rc"
