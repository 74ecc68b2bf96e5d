#!/usr/bin/env bash
# Exactly-once under faults, against the running test stack: a batch of
# signed bulk messages goes onto the submit topic in chunks and a share of
# the requests comes through the gateway's HTTP submit (each with an
# Idempotency-Key, sent again with it when no answer comes), while workers
# are SIGKILLed at random moments and started again, Redis is SIGKILLed and
# started again once (it replays its AOF), the Kafka broker is restarted
# once, and the gateway is SIGKILLed during the HTTP submits and started
# again. Afterwards every request (each bulk message, each id answered 202)
# must have exactly one terminal state within a bounded time, at most one
# certificate, serials unique per CA, and pki.issued must hold exactly the
# certificates Redis records as issued. Prints the "faults ..." line.
#
# Environment: PKI_FAULTS_REQUESTS [3000] requests in all (bulk and HTTP),
# PKI_FAULTS_WORKER_KILLS [5], PKI_FAULTS_GATEWAY_KILLS [3],
# PKI_FAULTS_HTTP_SHARE [10] percent of the requests sent over HTTP,
# PKI_FAULTS_SETTLE_S [240] time allowed after the last fault for every
# request to end.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

N=${PKI_FAULTS_REQUESTS:-3000}
WORKER_KILLS=${PKI_FAULTS_WORKER_KILLS:-5}
GATEWAY_KILLS=${PKI_FAULTS_GATEWAY_KILLS:-3}
HTTP_SHARE=${PKI_FAULTS_HTTP_SHARE:-10}
SETTLE_S=${PKI_FAULTS_SETTLE_S:-240}
HTTP_N=$((N * HTTP_SHARE / 100))
BULK_N=$((N - HTTP_N))
CHUNKS=$((WORKER_KILLS + 4)) # bulk messages go out in this many chunks, one per fault
HTTP_PAR=2 # slow enough that every gateway kill lands while submits run

TMP=$PKI_VAR/tmp/faults-test
rm -rf "$TMP"
mkdir -p "$TMP"
TOOL=("$PYTHON" "$ROOT/tests/integration/faults_tool.py")
PREFIX=$(jq -r '.redis.prefix // "pki:"' "$TEST_CONFIG")
ISSUING=$(cred .cas.issuing)
ALICE=$(token alice)
PROFILE=$(cred .users.alice.bulk.profile)
RUN=$RUN_ID
HTTP_PID= PRODUCERS=()
worker_kills=0 gateway_kills=0 redis_restarts=0 kafka_restarts=0
trap 'kill $HTTP_PID "${PRODUCERS[@]}" 2>/dev/null || true; lib_exit' EXIT

pid_file() { cat "$PKI_VAR/run/$1.pid" 2>/dev/null; }
workers() { (cd "$PKI_VAR/run" && ls -- worker-*.pid 2>/dev/null | sed 's/\.pid$//'); }
# Whatever of the stack is not running (a killed worker, the gateway) again.
restart_missing() { stack start-workers >>"$TMP/stack.log" 2>&1; }
pause() { sleep "$(awk -v s="$RANDOM" -v a="$1" -v b="$2" 'BEGIN { srand(s); printf "%.2f", a + rand() * (b - a) }')"; }

# What Redis acknowledged is on disk before the answer (scripts/stack.sh).
check_eq "Redis: AOF on, fsync before each answer" "yes always" \
	"$(redis_cli --raw CONFIG GET appendonly | sed -n 2p) $(redis_cli --raw CONFIG GET appendfsync | sed -n 2p)"

# ------------------------------------------------------------ the load
"${TOOL[@]}" bulk --profile "$PROFILE" --ca "$ISSUING" --run "$RUN" --n "$BULK_N" --out "$TMP/bulk.tsv"
check_eq "$BULK_N signed bulk messages made" "$BULK_N" "$(wc -l <"$TMP/bulk.tsv")"
split -n "l/$CHUNKS" -d -a 3 "$TMP/bulk.tsv" "$TMP/chunk."
CHUNK_FILES=("$TMP"/chunk.*)
cut -f 1 "$TMP/bulk.tsv" >"$TMP/ids"

# send_chunk: the next chunk onto the submit topic in the background; a
# chunk kcat could not deliver (the broker restarting) is sent again whole
# (its messages then come twice, which the workers must absorb too).
next_chunk=0
send_chunk() {
	local c=${CHUNK_FILES[next_chunk]:-}
	[[ -n $c ]] || return 0
	next_chunk=$((next_chunk + 1))
	(until kcat_b -P -t pki.submit -K $'\t' -X message.timeout.ms=60000 <"$c" 2>>"$TMP/kcat.err"; do
		echo "chunk $c sent again" >>"$TMP/kcat.err"
		sleep 1
	done) &
	PRODUCERS+=($!)
}
# issued_by WORKER: certificates its log shows (the audit line of each).
issued_by() { grep -c 'audit issued' "$PKI_VAR/log/$1.log" 2>/dev/null; }

"${TOOL[@]}" http --url "$GATEWAY_URL" --token "$ALICE" --ca "$ISSUING" --run "$RUN" \
	--n "$HTTP_N" --par "$HTTP_PAR" --out "$TMP/http.jsonl" &
HTTP_PID=$!
send_chunk

# ------------------------------------------------------------ the faults
# The gateway while the HTTP submits run; then for each worker kill a chunk
# goes out and its victim is killed once it has signed a random few of it:
# mid-batch, between a claim and its outcome. Redis and the broker are
# restarted under a chunk of their own.
for ((k = 0; k < GATEWAY_KILLS; k++)); do
	pause 0.1 0.5
	kill -0 "$HTTP_PID" 2>/dev/null || break
	if kill -KILL "$(pid_file gateway)" 2>/dev/null; then
		gateway_kills=$((gateway_kills + 1))
		pause 0.1 0.5
		restart_missing
	fi
done
for ((k = 0; k < WORKER_KILLS; k++)); do
	mapfile -t ws < <(workers)
	victim=${ws[RANDOM % ${#ws[@]}]}
	goal=$(($(issued_by "$victim") + 5 + RANDOM % 40))
	send_chunk
	wait_for 20 bash -c "(( \$(grep -c 'audit issued' '$PKI_VAR/log/$victim.log') >= $goal ))"
	if kill -KILL "$(pid_file "$victim")" 2>/dev/null; then
		worker_kills=$((worker_kills + 1))
		pause 0 1
		restart_missing
	fi
	if ((k == WORKER_KILLS / 3)); then
		# SIGKILL, not a shutdown: what Redis acknowledged must come back from its AOF.
		send_chunk
		pause 0.3 1.5
		kill -KILL "$(pid_file redis)" 2>/dev/null && redis_restarts=$((redis_restarts + 1))
		rm -f "$PKI_VAR/run/redis.pid"
		pause 0.5 2
		start_redis || fail "Redis started again"
	fi
	if ((k == 2 * WORKER_KILLS / 3)); then
		send_chunk
		pause 0.3 1.5
		stop_kafka && kafka_restarts=$((kafka_restarts + 1))
		pause 0.5 2
		start_kafka || fail "Kafka started again"
	fi
done
while ((next_chunk < ${#CHUNK_FILES[@]})); do send_chunk; done
restart_missing

t0=$SECONDS
wait "${PRODUCERS[@]}"
PRODUCERS=()
wait "$HTTP_PID"
HTTP_PID=
check_eq "every HTTP submit answered in the end (no 5xx or silence left)" "$HTTP_N" \
	"$(jq -s '[.[] | select(.http == 202)] | length' "$TMP/http.jsonl")"
jq -r 'select(.id != null) | .id' "$TMP/http.jsonl" >>"$TMP/ids"
sort -u -o "$TMP/ids" "$TMP/ids"

# ------------------------------------------------------------ settle
# records: "id state serial ca_id" for every id ("-" for a missing field).
records() {
	sed "s/^/HMGET ${PREFIX}req:/; s/\$/ state serial ca_id/" "$TMP/ids" |
		redis_cli --csv 2>/dev/null | sed -e 's/NULL/-/g' -e 's/"//g' -e 's/,/ /g' |
		paste -d ' ' "$TMP/ids" - >"$TMP/records"
}
# all_ended: every request recorded and in a terminal state (a bulk message
# not consumed yet has no record: waited for too; none by the end is lost).
all_ended() {
	records
	! awk '$2 != "issued" && $2 != "failed" && $2 != "rejected" && $2 != "expired"' \
		"$TMP/records" | grep -q .
}
if wait_for "$SETTLE_S" all_ended; then
	pass "every request ended within ${SETTLE_S}s of the last fault ($((SECONDS - t0))s)"
else
	fail "every request ended within ${SETTLE_S}s of the last fault" \
		"$(awk '{ print $2 }' "$TMP/records" | sort | uniq -c)"
fi
records
# pki.issued read three times, the union kept: one read (kcat -e) now and
# then stops short of messages that are on the topic (seen once with
# lz4-compressed batches: 65 certificates missing from the read, all in the
# broker's log segments); a certificate missing from all three is missing.
for ((r = 0; r < 3; r++)); do
	kcat_b -C -t pki.issued -o beginning -e -q -f '%s\n' 2>/dev/null | grep '^{' || true
done | sort -u >"$TMP/issued.jsonl"

# ------------------------------------------------------------ accounting
"${TOOL[@]}" check --ids "$TMP/ids" --records "$TMP/records" --issued "$TMP/issued.jsonl" >"$TMP/check.json"
read -r requests issued failed lost duplicated stuck certs < <(jq -r \
	'"\(.requests) \(.issued) \(.failed) \(.lost) \(.duplicated) \(.stuck) \(.certs_on_topic)"' "$TMP/check.json")
echo "faults requests=$requests worker_kills=$worker_kills gateway_kills=$gateway_kills" \
	"redis_restarts=$redis_restarts kafka_restarts=$kafka_restarts issued=$issued failed=$failed" \
	"lost=$lost duplicated=$duplicated stuck=$stuck"
details=$(jq -c '{states, examples, messages_on_topic}' "$TMP/check.json")
check_eq "faults: every request accounted for ($BULK_N bulk messages, $HTTP_N HTTP submits answered 202)" \
	"$N" "$requests"
check_eq "faults: lost=0 (a record in Redis for every request, its certificate published)" 0 "$lost"
[[ $lost == 0 ]] || echo "    $details"
check_eq "faults: duplicated=0 (at most one certificate each, serials unique per CA)" 0 "$duplicated"
[[ $duplicated == 0 ]] || echo "    $details"
check_eq "faults: stuck=0 (every request in a terminal state)" 0 "$stuck"
check_eq "faults: certificates on pki.issued = issued in Redis" "$issued" "$certs"
check_eq "faults: faults made as asked" "$WORKER_KILLS $GATEWAY_KILLS 1 1" \
	"$worker_kills $gateway_kills $redis_restarts $kafka_restarts"

# ------------------------------------------------------------ the gateway's two rules, one by one
# What a gateway dying at the wrong moment leaves, made by hand: the race
# above may or may not hit these windows on a given run.
WTOOL=("$PYTHON" "$ROOT/tests/integration/worker_tool.py")
state_of() { redis_cli --raw HGET "${PREFIX}req:$1" state; }
state_is() { [[ $(state_of "$1") == "$2" ]]; }
# Recorded queued, its message only in the outbox (the gateway died before the publish).
id=outbox-$RUN cn=outbox-$RUN.acme.example
"${WTOOL[@]}" csr "$cn" "$cn" >"$TMP/outbox.csr"
"${WTOOL[@]}" msg --id "$id" --csr "$TMP/outbox.csr" --cn "$cn" --ca "$ISSUING" --tenant acme \
	--requester alice >"$TMP/outbox.json"
now=$(date +%s)
redis_cli HSET "${PREFIX}req:$id" id "$id" state queued tenant acme requester alice \
	ca_id "$ISSUING" common_name "$cn" validity_days 30 \
	csr_sha256 "$(sha256sum <"$TMP/outbox.csr" | cut -d' ' -f1)" created "$now" updated "$now" >/dev/null
redis_cli HSET "${PREFIX}outbox:msg" "$id" "pki.issue"$'\n'"$(cat "$TMP/outbox.json")" >/dev/null
redis_cli ZADD "${PREFIX}outbox:due" "$((now - 1))" "$id" >/dev/null
# And an entry whose record was never written (the gateway died before it).
redis_cli HSET "${PREFIX}outbox:msg" "norecord-$RUN" "pki.issue"$'\n''{}' >/dev/null
redis_cli ZADD "${PREFIX}outbox:due" "$((now - 1))" "norecord-$RUN" >/dev/null
if wait_for 30 state_is "$id" issued; then
	pass "a recorded request whose publish the gateway never saw confirmed: sent again, issued"
else
	fail "a recorded request whose publish the gateway never saw confirmed: sent again, issued" \
		"state: $(state_of "$id")" "$(grep -F "$id" "$PKI_VAR/log/gateway.log" | tail -n 3)"
fi
# Both entries gone (the one without a record dropped unsent).
outbox_gone() { [[ -z $(redis_cli HMGET "${PREFIX}outbox:msg" "$id" "norecord-$RUN" | tr -d '\n') ]]; }
if wait_for 10 outbox_gone; then
	pass "outbox entries sent or dropped"
else
	fail "outbox entries sent or dropped" "$(redis_cli HKEYS "${PREFIX}outbox:msg")"
fi
check_eq "the entry without a record: nothing sent for it" "" \
	"$(grep -F "norecord-$RUN" "$PKI_VAR/log/gateway.log" | grep -F 'sent again')"

# An Idempotency-Key bound to a request that has no record: answered 503
# while it may still be being written, bound to the new request after
# STORE_IDEM_ORPHAN_S (10 s), never answered with the id that does not exist.
cn=idem-$RUN.acme.example
"${WTOOL[@]}" csr "$cn" "$cn" >"$TMP/idem.csr"
body=$(jq -cn --rawfile csr "$TMP/idem.csr" --arg cn "$cn" --arg ca "$ISSUING" \
	'{csr_data: $csr, common_name: $cn, validity_days: 30, ca_id: $ca}')
hash=$(printf '%s' "$body" | sha256sum | cut -d' ' -f1)
ikey=${PREFIX}idem:acme:orphan-$RUN
redis_cli SET "$ikey" "ghost-$RUN $hash" EX 86400 >/dev/null
http POST "$GATEWAY_URL/csr/process" "$body" -H "$(auth alice)" -H "Idempotency-Key: orphan-$RUN"
check_eq "Idempotency-Key of a request not recorded yet: 503 idempotency_in_progress" \
	"503 idempotency_in_progress" "$HTTP_STATUS $(jq -r .error.code <<<"$HTTP_BODY" 2>/dev/null)"
redis_cli SET "$ikey" "ghost-$RUN $hash" EX $((86400 - 11)) >/dev/null
http POST "$GATEWAY_URL/csr/process" "$body" -H "$(auth alice)" -H "Idempotency-Key: orphan-$RUN"
nid=$(jq -r .request_id <<<"$HTTP_BODY" 2>/dev/null)
if [[ $HTTP_STATUS == 202 && -n $nid && $nid != "ghost-$RUN" ]] && wait_for 30 state_is "$nid" issued; then
	pass "Idempotency-Key of a request never recorded: bound to a new request, issued"
else
	fail "Idempotency-Key of a request never recorded: bound to a new request, issued" \
		"HTTP $HTTP_STATUS $HTTP_BODY" "state: $(state_of "$nid")"
fi
http POST "$GATEWAY_URL/csr/process" "$body" -H "$(auth alice)" -H "Idempotency-Key: orphan-$RUN"
check_eq "the same key again: the new request" "$nid" "$(jq -r .request_id <<<"$HTTP_BODY" 2>/dev/null)"

# The stack is whole again for the suites after this one.
check_eq "faults: the stack runs again in full" 0 "$(stack status >/dev/null 2>&1; echo $?)"
