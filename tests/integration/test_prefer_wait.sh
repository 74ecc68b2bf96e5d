#!/usr/bin/env bash
# POST /csr/process with Prefer: wait=N (RFC 7240): 201 with the issued
# request, the failure when it fails, 202 at once for pending approval, 202
# without Preference-Applied when the time runs out, header syntax,
# Idempotency-Key replays, and no CPU spent while requests wait.
set -uo pipefail
cd "$(dirname "$0")/../.."
[[ -f tests/integration/lib.sh ]] && . tests/integration/lib.sh
. tests/integration/gateway_env.sh

WAIT_CPU_TICKS_MAX=100 # gateway CPU (1/100 s) for ten requests waiting 5 s each
WAIT_CONCURRENT=10

trap gwenv_exit EXIT
gwenv_infra_up || { fail prefer_infra "Kafka/Redis not available"; exit 1; }
gwenv_pki || { fail prefer_pki_setup; exit 1; }
gwenv_gateway_up || { fail prefer_gateway_start; exit 1; }
ROOT_PEM=$GW_DIR/cas/test-root.crt
ISSUING=$(fixture_json openssl-p256.pem '{ca_id: "acme-issuing"}')
APPROVAL=$(fixture_json openssl-p256.pem '{ca_id: "acme-approval"}')

# prefer_submit TOKEN JSON PREFER [curl args...]: submit with the curl args,
# then "Prefer: PREFER"; ELAPSED_MS is its time.
prefer_submit() {
	local token=$1 json=$2 prefer=$3 t0
	shift 3
	t0=$(now_ms)
	submit "$token" "$json" "$@" -H "Prefer: $prefer"
	ELAPSED_MS=$(($(now_ms) - t0))
}

# cpu_ticks PID: user + system CPU time of the process (all threads), in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# --- without a worker: nothing ends ------------------------------------------
prefer_submit "$ALICE" "$APPROVAL" "wait=20"
expect prefer_pending_approval_202 test "$CODE" = 202 -a "$(jbody .status)" = pending_approval
expect prefer_pending_approval_at_once test "$ELAPSED_MS" -lt 2000
expect prefer_pending_approval_not_applied test -z "$(header preference-applied)"

pkey=prefer-pending-$RANDOM$RANDOM
submit "$ALICE" "$APPROVAL" -H "Idempotency-Key: $pkey"
pid=$(jbody .request_id)
prefer_submit "$ALICE" "$APPROVAL" "wait=20" -H "Idempotency-Key: $pkey"
expect prefer_pending_replay_202_at_once test "$CODE" = 202 -a "$(jbody .request_id)" = "$pid" \
	-a "$(jbody .status)" = pending_approval -a "$ELAPSED_MS" -lt 2000 -a -z "$(header preference-applied)"

prefer_submit "$ALICE" "$ISSUING" "wait=abc"
expect prefer_bad_value_ignored test "$CODE" = 202 -a "$(jbody .status)" = queued -a "$ELAPSED_MS" -lt 2000
expect prefer_bad_value_not_applied test -z "$(header preference-applied)"

# Ten requests wait 5 s each at once while no worker runs. A thread spinning
# for any of them would cost the gateway seconds of CPU; sleeping costs none.
one_wait() {
	local t0=$(now_ms)
	curl -s -D "$GW_DIR/wait-$1.hdrs" -o "$GW_DIR/wait-$1.body" -w '%{http_code}' \
		-H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' -H 'Prefer: wait=5' \
		--data-binary "$ISSUING" "$GW/csr/process" >"$GW_DIR/wait-$1.code"
	echo $(($(now_ms) - t0)) >"$GW_DIR/wait-$1.ms"
}
before=$(cpu_ticks "$GW_PID")
waiting=()
for ((i = 1; i <= WAIT_CONCURRENT; i++)); do
	one_wait "$i" &
	waiting+=($!)
done
wait "${waiting[@]}"
ticks=$(($(cpu_ticks "$GW_PID") - before))
ok=0
for ((i = 1; i <= WAIT_CONCURRENT; i++)); do
	ms=$(cat "$GW_DIR/wait-$i.ms")
	[[ $(cat "$GW_DIR/wait-$i.code") == 202 && $(jq -r .status "$GW_DIR/wait-$i.body") == queued ]] &&
		((ms >= 4900 && ms < 8000)) && ! grep -qi '^preference-applied:' "$GW_DIR/wait-$i.hdrs" &&
		ok=$((ok + 1))
done
answer_keep "$GW_DIR/answers.jsonl" POST /csr/process "$(cat "$GW_DIR/wait-1.code")" application/json \
	"$(cat "$GW_DIR/wait-1.body")" "$(tr -d '\r' <"$GW_DIR/wait-1.hdrs")"
expect prefer_timeout_202_after_wait_without_preference_applied test "$ok" = "$WAIT_CONCURRENT"
echo "gateway CPU while $WAIT_CONCURRENT requests waited 5 s: $ticks ticks (bound $WAIT_CPU_TICKS_MAX)"
expect prefer_wait_no_busy_loop test "$ticks" -lt "$WAIT_CPU_TICKS_MAX"

# --- one worker whose config differs from the gateway's, so that a request
# can fail there: acme-issuing allows at most 100 days.
jq '(.cas[] | select(.id == "acme-issuing") | .max_validity_days) = 100' "$GW_CONFIG" >"$GW_DIR/worker.json" &&
	chmod 600 "$GW_DIR/worker.json"
GW_CONFIG=$GW_DIR/worker.json gwenv_spawn worker-1
expect prefer_worker_ready wait_for 30 grep -q '"msg":"ready"' "$GW_DIR/worker-1.log"

prefer_submit "$ALICE" "$ISSUING" "wait=20"
expect prefer_issued_201 test "$CODE" = 201 -a "$(jbody .status)" = issued
expect prefer_issued_preference_applied test "$(header preference-applied)" = wait=20
expect prefer_issued_before_the_time_is_up test "$ELAPSED_MS" -lt 10000
expect prefer_issued_location test "$(header location)" = "$(jbody .poll_url)"
for f in serial certificate chain subject sans not_before not_after key_type key_size; do
	expect "prefer_issued_has_$f" test "$(jbody ".$f != null")" = true
done
id=$(jbody .request_id)
mkdir -p "$GW_DIR/issued"
jbody .certificate >"$GW_DIR/issued/cert.pem"
jbody .chain >"$GW_DIR/issued/chain.pem"
expect prefer_issued_openssl_verify openssl verify -CAfile "$ROOT_PEM" -untrusted "$GW_DIR/issued/chain.pem" \
	"$GW_DIR/issued/cert.pem"
expect prefer_issued_key_is_the_csr_key test "$(openssl x509 -in "$GW_DIR/issued/cert.pem" -noout -pubkey)" = \
	"$(openssl req -in "$FIXTURES/openssl-p256.pem" -noout -pubkey)"
expect prefer_issued_serial_matches test "$(openssl x509 -in "$GW_DIR/issued/cert.pem" -noout -serial |
	cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//')" = "$(jbody .serial | sed 's/^0*//')"
posted=$(jq -S . <<<"$BODY")
req GET "/csr/requests/$id" "$ALICE"
expect prefer_issued_body_is_the_poll_body test "$posted" = "$(jq -S . <<<"$BODY")"

# Header syntax: other preferences, case, spaces, parameters, several headers, a cap.
prefer_submit "$ALICE" "$ISSUING" "respond-async, WAIT = 15 ; x=\"a,b\""
expect prefer_syntax_mixed_201 test "$CODE" = 201 -a "$(header preference-applied)" = wait=15
prefer_submit "$ALICE" "$ISSUING" "wait=12" -H "Prefer: return=minimal"
expect prefer_syntax_second_header_201 test "$CODE" = 201 -a "$(header preference-applied)" = wait=12
prefer_submit "$ALICE" "$ISSUING" "wait=300"
expect prefer_syntax_capped_at_30 test "$CODE" = 201 -a "$(header preference-applied)" = wait=30

# With the approval password the request still goes to the approver, which
# alone checks it and grants (test_secrets.sh): pending, answered at once.
prefer_submit "$ALICE" "$(jq -c --arg p "$APPROVAL_PASSWORD" '.approval_password = $p' <<<"$APPROVAL")" "wait=20"
expect prefer_approval_password_pending_202 test "$CODE" = 202 -a "$(jbody .ca_id)" = acme-approval \
	-a "$(jbody .status)" = pending_approval -a "$ELAPSED_MS" -lt 2000 -a -z "$(header preference-applied)"

# Idempotency-Key: a replay answers as a new request would, Prefer included.
key=prefer-$RANDOM$RANDOM
submit "$ALICE" "$ISSUING" -H "Idempotency-Key: $key" -H "Prefer: wait=20"
first_id=$(jbody .request_id) first_serial=$(jbody .serial)
expect prefer_idem_first_201 test "$CODE" = 201
submit "$ALICE" "$ISSUING" -H "Idempotency-Key: $key" -H "Prefer: wait=5"
expect prefer_idem_replay_201_same_certificate test "$CODE" = 201 -a "$(jbody .request_id)" = "$first_id" \
	-a "$(jbody .serial)" = "$first_serial" -a "$(header preference-applied)" = wait=5
submit "$ALICE" "$ISSUING" -H "Idempotency-Key: $key"
expect prefer_idem_replay_without_prefer_202 test "$CODE" = 202 -a "$(jbody .request_id)" = "$first_id" \
	-a "$(jbody .status)" = issued

# Failure within the wait: a policy violation found by the worker.
prefer_submit "$ALICE" "$(fixture_json openssl-p256.pem '{ca_id: "acme-issuing", validity_days: 200}')" "wait=20"
expect prefer_failed_422 test "$CODE" = 422 -a "$(jbody .status)" = failed
expect prefer_failed_error test "$(jbody .error.code)" = validity_out_of_range -a "$(jbody .error.field)" = validity_days
expect prefer_failed_violations test "$(jbody '.violations[0].code')" = validity_out_of_range
expect prefer_failed_preference_applied test "$(header preference-applied)" = wait=20
expect prefer_failed_no_certificate test "$(jbody .certificate)" = null
fid=$(jbody .request_id)
req GET "/csr/requests/$fid" "$ALICE"
expect prefer_failed_poll_agrees test "$(jbody .status)" = failed -a "$(jbody .error.code)" = validity_out_of_range

req GET /metrics ""
expect prefer_no_waiter_left grep -q '^pki_gateway_longpoll_waiting 0$' <<<"$BODY"

answers_check prefer_answers_match_openapi openapi.yaml "$GW_DIR/answers.jsonl" 15
