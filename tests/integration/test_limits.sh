#!/usr/bin/env bash
# Limits against exhaustion (config limits, docs/security.md): connections
# per client address (500 slow clients from one address; another address is
# still served), the time a request body may take, long-poll waiters per API
# key, request rates per key and per tenant (429 with Retry-After, then
# served again), fail-closed without Redis, CA files and /healthz from
# memory, and the admin queue listing's Redis round trips with thousands
# of entries.
set -uo pipefail
cd "$(dirname "$0")/../.."
[[ -f tests/integration/lib.sh ]] && . tests/integration/lib.sh
. tests/integration/gateway_env.sh

SLOW_CLIENTS=500
PER_IP=64
TIMEOUT_S=4
WAITERS=2
KEY_BURST=8    # rate 1/s
TENANT_BURST=10 # rate 1/s
QUEUE_FAKE=3000

SLOW_PID=
FAKE_PREFIX=
lim_exit() {
	local rc=$?
	[[ -n $SLOW_PID ]] && kill "$SLOW_PID" 2>/dev/null
	# The fake queue entries go, whatever happened.
	[[ -n $FAKE_PREFIX ]] && queue_fake del >/dev/null 2>&1
	(exit "$rc") # gwenv_exit reads the suite's status from $?
	gwenv_exit
}
trap lim_exit EXIT
gwenv_infra_up || { fail limits_infra "Kafka/Redis not available"; exit 1; }
gwenv_pki || { fail limits_pki_setup; exit 1; }
# A second globex user: the tenant's bucket is shared by bob and dave.
DAVE=$($BUILD/pkictl user add --config "$GW_CONFIG" --name dave --email dave@globex.example \
	--role requester --tenant globex 2>>"$GW_DIR/pkictl.log") || { fail limits_user_setup; exit 1; }
jq --argjson ip $PER_IP --argjson t $TIMEOUT_S --argjson w $WAITERS --argjson kb $KEY_BURST \
	--argjson tb $TENANT_BURST '.limits = {connections_per_ip: $ip, connection_timeout_s: $t,
		waiters_per_key: $w, requests_per_key: {rate_per_s: 1, burst: $kb},
		requests_per_tenant: {rate_per_s: 1, burst: $tb}}' "$GW_CONFIG" >"$GW_CONFIG.tmp" &&
	cat "$GW_CONFIG.tmp" >"$GW_CONFIG" && rm -f "$GW_CONFIG.tmp"
gwenv_gateway_up || { fail limits_gateway_start; exit 1; }
"${REDIS_CLI[@]}" --scan --pattern 'gwtest:rl:*' | xargs -r "${REDIS_CLI[@]}" del >/dev/null
HOST=127.0.0.1
APPROVAL=$(fixture_json openssl-p256.pem '{ca_id: "acme-approval"}')
GLOBEX=$(fixture_json openssl-p256.pem '{ca_id: "globex-ca"}')

metric() { curl -s "$GW/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
threads() { awk '/^Threads:/ { print $2 }' "/proc/$GW_PID/status"; }

# --- config: the limits are checked like every key -------------------------------
jq '.limits.connections_per_ip = 0' "$GW_CONFIG" >"$GW_DIR/bad.json"
out=$("$BUILD/pki-gateway" --config "$GW_DIR/bad.json" --check-config 2>&1)
expect limits_config_bounds_checked grep -q 'limits.connections_per_ip' <<<"$out"

# --- 500 slow clients from one address --------------------------------------------
base_threads=$(threads)
python3 tests/integration/slow_clients.py hold "$HOST" "$GW_PORT" $SLOW_CLIENTS 30 >"$GW_DIR/slow.out" &
SLOW_PID=$!
wait_for 20 grep -q held= "$GW_DIR/slow.out"
sleep 2
held=$(grep -o 'held=[0-9]*' "$GW_DIR/slow.out" | tail -1 | cut -d= -f2)
expect limits_per_ip_holds_at_most_limit test "${held:-999}" -le $PER_IP -a "${held:-0}" -ge $((PER_IP / 2))
expect limits_per_ip_threads_bounded test "$(threads)" -le $((base_threads + PER_IP + 8))
# Another client (127.0.0.2, loopback is 127/8) is answered meanwhile.
t0=$(now_ms)
submit "$BOB" "$GLOBEX" --interface 127.0.0.2 --max-time 10
expect limits_other_address_submit_answered test "$CODE" = 202 -a "$(($(now_ms) - t0))" -lt 5000
req GET /healthz "" --interface 127.0.0.2 --max-time 5
expect limits_other_address_healthz test "$CODE" = 200
# The slow address itself gets no further connection while it holds its limit.
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$GW/healthz")
expect limits_same_address_refused test "$code" = 000
kill "$SLOW_PID" 2>/dev/null
wait "$SLOW_PID" 2>/dev/null
SLOW_PID=
expect limits_same_address_served_again wait_for 10 status_is 200 "$GW/healthz"

# --- a body a byte a second: closed after connection_timeout_s --------------------
out=$(python3 tests/integration/slow_clients.py body "$HOST" "$GW_PORT" 60)
secs=$(sed -n 's/.*closed_after_s=\([0-9]*\).*/\1/p' <<<"$out")
expect limits_slow_body_closed test -n "$secs" -a "${secs:-0}" -ge $((TIMEOUT_S - 1)) -a "${secs:-0}" -le $((TIMEOUT_S + 3))
expect limits_slow_body_logged grep -q 'request body not sent within' "$GW_DIR/gateway.log"

# --- long-poll waiters per API key --------------------------------------------------
submit "$CAROL" "$APPROVAL"
PID_ID=$(jbody .request_id)
expect limits_waiters_setup test "$CODE" = 202 -a "$(jbody .status)" = pending_approval
waiter_pids=()
for ((i = 0; i < WAITERS; i++)); do
	curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $CAROL" \
		"$GW/csr/requests/$PID_ID?wait=6" >"$GW_DIR/waiter.$i" &
	waiter_pids+=($!)
done
waiting_is() { [[ $(metric pki_gateway_longpoll_waiting) == "$1" ]]; }
wait_for 5 waiting_is $WAITERS
req GET "/csr/requests/$PID_ID?wait=6" "$CAROL"
expect limits_waiter_beyond_429 test "$CODE" = 429 -a "$(jbody .error.code)" = too_many_waiters
expect limits_waiter_retry_after test -n "$(header retry-after)"
before=$("${REDIS_CLI[@]}" --scan --pattern 'gwtest:req:*' | wc -l)
submit "$CAROL" "$APPROVAL" -H 'Prefer: wait=5'
expect limits_prefer_wait_beyond_429 test "$CODE" = 429 -a "$(jbody .error.code)" = too_many_waiters
expect limits_prefer_wait_429_records_nothing test "$("${REDIS_CLI[@]}" --scan --pattern 'gwtest:req:*' | wc -l)" = "$before"
req GET "/csr/requests/$PID_ID" "$CAROL"
expect limits_waiter_plain_poll_served test "$CODE" = 200
# Per key: alice (same tenant) may wait meanwhile.
submit "$ALICE" "$APPROVAL"
aid=$(jbody .request_id)
req GET "/csr/requests/$aid?wait=1" "$ALICE"
expect limits_waiters_per_key_not_global test "$CODE" = 200
wait "${waiter_pids[@]}"
# A wait longer than connection_timeout_s is not an idle connection.
expect limits_waits_longer_than_timeout_answered test "$(cat "$GW_DIR"/waiter.*)" = 200200
req GET "/csr/requests/$PID_ID?wait=1" "$CAROL"
expect limits_waiter_slots_given_back test "$CODE" = 200
expect limits_waiters_metric test "$(metric 'pki_gateway_limited_total{limit="waiters"}')" = 2

# --- requests per API key: token bucket, 429 with Retry-After, then served again --------
sleep $((TENANT_BURST / 1 + 1)) # the tenant's bucket refills (1/s)
ok=0
for ((i = 0; i < 3 * KEY_BURST; i++)); do
	req GET /cas "$ALICE"
	[[ $CODE == 200 ]] || break
	ok=$((ok + 1))
done
expect limits_key_429 test "$CODE" = 429 -a "$(jbody .error.code)" = rate_limited
ra=$(header retry-after)
expect limits_key_retry_after test "${ra:-0}" -ge 1 -a "${ra:-0}" -le 2
expect limits_key_burst_served test "$ok" -ge $KEY_BURST -a "$ok" -le $((2 * KEY_BURST))
# The tenant still has tokens: carol is served, so the 429 was alice's key.
req GET /cas "$CAROL"
expect limits_key_other_key_served test "$CODE" = 200
sleep "${ra:-1}"
req GET /cas "$ALICE"
expect limits_key_recovers_after_retry_after test "$CODE" = 200
# Shared through Redis: the bucket is a key there, expiring once full again.
ttl=$("${REDIS_CLI[@]}" pttl gwtest:rl:key:alice)
expect limits_key_bucket_in_redis test "${ttl:--2}" -gt 0
# ... but not in the AOF: a take is no write Redis must fsync (the records are).
aof_dir="$("${REDIS_CLI[@]}" --raw CONFIG GET dir | sed -n 2p)/$("${REDIS_CLI[@]}" --raw CONFIG GET appenddirname | sed -n 2p)"
aof_incr=$(find "$aof_dir" -name '*.incr.aof' 2>/dev/null | head -n 1)
expect limits_key_bucket_not_in_aof test -n "$aof_incr" -a \
	"$(cat "$aof_dir"/*.incr.aof | tr -d '\r' | grep -a -A 2 -xE 'HSET|PEXPIRE' | grep -ac 'gwtest:rl:key:')" = 0

# --- requests per tenant: bob empties it, dave (same tenant) is limited early ----------
sleep $((TENANT_BURST + 1))
for ((i = 0; i < 3 * KEY_BURST; i++)); do
	req GET /cas "$BOB"
	[[ $CODE == 200 ]] || break
done
expect limits_tenant_bob_limited test "$CODE" = 429
dave_ok=0
for ((i = 0; i < KEY_BURST; i++)); do
	req GET /cas "$DAVE"
	[[ $CODE == 200 ]] || break
	dave_ok=$((dave_ok + 1))
done
expect limits_tenant_429 test "$CODE" = 429 -a -n "$(header retry-after)"
expect limits_tenant_limits_dave_before_his_key test "$dave_ok" -lt $KEY_BURST
expect limits_rate_metric test "$(metric 'pki_gateway_limited_total{limit="rate"}')" -ge 3

# --- CA files and /healthz from memory ------------------------------------------
crl_path=$(jq -r '.cas[] | select(.id == "acme-issuing") | .crl' "$GW_CONFIG")
[[ $crl_path == /* ]] || crl_path=$GW_DIR/$crl_path
# crl_get: the CRL into $GW_DIR/crl.der, CODE its status.
crl_get() { CODE=$(curl -s -o "$GW_DIR/crl.der" -w '%{http_code}' --max-time 10 "$GW/crl/acme-issuing.crl"); }
crl_get
cp "$GW_DIR/crl.der" "$GW_DIR/crl1.der"
same_crl() { cmp -s "$1" "$2" && [[ $CODE == 200 ]]; }
expect limits_crl_served same_crl "$GW_DIR/crl1.der" "$crl_path"
# No file is opened for a request: traced, and served with the file gone.
strace -f -qq -e trace=open,openat -p "$GW_PID" -o "$GW_DIR/strace.out" 2>"$GW_DIR/strace.err" &
tpid=$!
sleep 1
expect limits_crl_strace_attached kill -0 "$tpid"
for ((i = 0; i < 20; i++)); do
	curl -s -o /dev/null "$GW/crl/acme-issuing.crl"
	curl -s -o /dev/null "$GW/ca/acme-issuing.crt"
done
sleep 0.5
kill "$tpid" 2>/dev/null
wait "$tpid" 2>/dev/null
# The main loop stats the file once a second and opens it only when it changed.
expect limits_crl_no_open_per_request test "$(grep -c "$(basename "$crl_path")" "$GW_DIR/strace.out")" = 0
mv "$crl_path" "$crl_path.away"
sleep 1.5
crl_get
expect limits_crl_served_with_file_gone same_crl "$GW_DIR/crl.der" "$GW_DIR/crl1.der"
echo garbage >"$crl_path"
sleep 1.5
crl_get
expect limits_crl_bad_file_keeps_last_good same_crl "$GW_DIR/crl.der" "$GW_DIR/crl1.der"
mv "$crl_path.away" "$crl_path"
"$BUILD/pkictl" ca crl --config "$GW_CONFIG" --id acme-issuing >>"$GW_DIR/pkictl.log" 2>&1
crl_changed() { crl_get && [[ $CODE == 200 ]] && ! cmp -s "$GW_DIR/crl.der" "$GW_DIR/crl1.der"; }
expect limits_crl_resigned_served_from_refresh wait_for 5 crl_changed
expect limits_crl_resigned_is_the_file cmp -s "$GW_DIR/crl.der" "$crl_path"
# /healthz asks Redis nothing: 50 answers, PINGs only from the once-a-second checks.
pings() { "${REDIS_CLI[@]}" info commandstats | tr -d '\r' | sed -n 's/^cmdstat_ping:calls=\([0-9]*\).*/\1/p'; }
p0=$(pings)
seq 50 | xargs -P 10 -I{} curl -s -o /dev/null "$GW/healthz"
p1=$(pings)
expect limits_healthz_from_memory test $((p1 - p0)) -lt 25

# --- fail closed without Redis: the rate cannot be counted -> 503 ---------------------
scripts/stack.sh stop-redis >>"$GW_DIR/stack.log" 2>&1
req GET /cas "$ALICE"
expect limits_rate_redis_down_503 test "$CODE" = 503 -a -n "$(header retry-after)"
scripts/stack.sh start-redis >>"$GW_DIR/stack.log" 2>&1
cas_ok() { req GET /cas "$CAROL" && [[ $CODE == 200 ]]; }
expect limits_rate_redis_back_200 wait_for 10 cas_ok

# --- the admin queue listing: bounded Redis round trips (the stack's approver) ----
FAKE_PREFIX=$(jq -r '.redis.prefix // "pki:"' "$TEST_CONFIG")
# queue_fake add|del: QUEUE_FAKE pending requests straight into the stack's Redis.
queue_fake() {
	"${REDIS_CLI[@]}" eval "
		for i = 1, tonumber(ARGV[2]) do
			local id = string.format('limits-fake-%06d', i)
			if ARGV[1] == 'add' then
				redis.call('ZADD', KEYS[1], i, id)
				redis.call('HSET', KEYS[1] .. ':' .. id, 'id', id, 'state', 'pending',
					'ca_id', 'demo-approval', 'tenant', 'acme', 'requester', 'alice',
					'msg', '{}', 'approvals_required', '1', 'submitted_at', '1700000000')
			else
				redis.call('ZREM', KEYS[1], id)
				redis.call('DEL', KEYS[1] .. ':' .. id)
			end
		end
		return redis.call('ZCARD', KEYS[1])" 1 "${FAKE_PREFIX}pending" "$1" $QUEUE_FAKE
}
n=$(queue_fake add)
expect limits_queue_filled test "${n:-0}" -ge $QUEUE_FAKE
apm() { curl -s "$APPROVER_URL/metrics" | awk '$1 == "pki_approver_queue_redis_calls_total" { print $2 }'; }
hgetalls() { "${REDIS_CLI[@]}" info commandstats | tr -d '\r' | sed -n 's/^cmdstat_hgetall:calls=\([0-9]*\).*/\1/p'; }
c0=$(apm) h0=$(hgetalls)
t0=$(now_ms)
http GET "$APPROVER_URL/admin/api/pending?limit=500" "" -H "$(auth admin)"
dt=$(($(now_ms) - t0))
c1=$(apm) h1=$(hgetalls)
expect limits_listing_200 test "$HTTP_STATUS" = 200
expect limits_listing_total test "$(jq .total <<<"$HTTP_BODY")" -ge $QUEUE_FAKE
expect limits_listing_page_capped test "$(jq '.items | length' <<<"$HTTP_BODY")" = 200 -a "$(jq .limit <<<"$HTTP_BODY")" = 200
expect limits_listing_next_offset test "$(jq .next_offset <<<"$HTTP_BODY")" = 200
# Two calls for the listing (the index, the page); the approver's timers may add a few.
expect limits_listing_round_trips_bounded test -n "$c0" -a $((c1 - c0)) -le 8
# No HGETALL per queued request: at most the page's.
expect limits_listing_hgetall_page_only test $((h1 - h0)) -le 220
expect limits_listing_fast test "$dt" -lt 3000
http GET "$APPROVER_URL/admin/api/pending?limit=50&offset=2990" "" -H "$(auth admin)"
expect limits_listing_deep_page test "$HTTP_STATUS" = 200 -a "$(jq '.items | length' <<<"$HTTP_BODY")" -ge 10
n=$(queue_fake del)
FAKE_PREFIX=
expect limits_queue_emptied test "${n:-1}" -lt $QUEUE_FAKE

answers_check limits_answers_match_openapi openapi.yaml "$GW_DIR/answers.jsonl" 10
