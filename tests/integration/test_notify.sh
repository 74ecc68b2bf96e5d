#!/usr/bin/env bash
# Notifications that reach the requester, against the real stack: /me
# webhooks and e-mail opt-in on the gateway, the private-address refusal at
# registration and again at send time, every end state (issued, failed,
# rejected) and pending approval on pki.notify, by e-mail through the stack's
# SMTP sink (scripts/smtp-sink.py, $MAIL_DIR) and to the user's own signed
# webhook (tests/integration/webhook_receiver.py), each once per request; a
# bulk batch told once to its owner with counts by state.
#
# The demo config allows users' webhooks to any public host only. The gateway
# and the approver are restarted with a copy that also allows 127.0.0.0/8
# (the receiver's address), the approver once more with the demo config (the
# send-time check), and both with the demo config at the end.
. "$(dirname "$0")/lib.sh"
set +e

GW=$GATEWAY_URL
AP=$APPROVER_URL
pkictl=${PKICTL:-$ROOT/build/release/pkictl}
work=$(mktemp -d "${TMPDIR:-/tmp}/notify-test.XXXXXX")
RECEIVER_PID=
COPY=$(dirname "$TEST_CONFIG")/config-notify-test.json
PKCOPY=$(dirname "$TEST_CONFIG")/config-notify-pkictl.json
restore() {
	[[ -n $RECEIVER_PID ]] && kill "$RECEIVER_PID" 2>/dev/null
	rm -f "$COPY" "$PKCOPY"
	(unset PKI_CONFIG; stack restart-gateway && stack restart-approver) >"$work/restore.log" 2>&1 ||
		fail notify_restore_services "$(tail -n 5 "$work/restore.log")"
	rm -rf "$work"
}
trap 'restore; lib_exit' EXIT

# me USER METHOD PATH [BODY]: a /me call; sets HTTP_STATUS, HTTP_BODY, HTTP_LOCATION
# and keeps the answer for the OpenAPI check.
me() {
	local -a a=(-s --max-time 30 -X "$2" -D "$work/headers" -w '\n%{content_type}\n%{http_code}')
	[[ -n $1 ]] && a+=(-H "$(auth "$1")")
	[[ -n ${4:-} ]] && a+=(-H 'Content-Type: application/json' --data-binary "$4")
	local out
	out=$(curl "${a[@]}" "$GW$3" 2>/dev/null)
	HTTP_STATUS=${out##*$'\n'}
	out=${out%$'\n'*}
	HTTP_BODY=${out%$'\n'*}
	HTTP_LOCATION=$(tr -d '\r' <"$work/headers" | sed -n 's/^[Ll]ocation: //p')
	answer_keep "$work/answers.jsonl" "$2" "$3" "$HTTP_STATUS" "${out##*$'\n'}" "$HTTP_BODY"
}
body() { jq -r "$1" <<<"$HTTP_BODY" 2>/dev/null; }

# submit USER CA CN: POST /csr/process with an openssl CSR; sets REQ_ID.
n=0
submit() {
	n=$((n + 1))
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/$n.key" \
		-subj "/CN=$3" -addext "subjectAltName=DNS:$3" -out "$work/$n.csr" 2>/dev/null
	REQ_ID=$(jq -n --rawfile csr "$work/$n.csr" --arg cn "$3" --arg ca "$2" \
		'{csr_data: $csr, common_name: $cn, validity_days: 30, ca_id: $ca}' |
		curl -s --max-time 30 -H "$(auth "$1")" -H 'Content-Type: application/json' \
			--data-binary @- "$GW/csr/process" | jq -r '.request_id // empty')
}
state_is() { [[ $(redis_cli HGET "pki:req:$1" state) == "$2" ]]; }
topic_msgs() { kcat_b -C -t pki.notify -o beginning -e -q -f '%k\t%s\n' 2>/dev/null | awk -F'\t' -v k="$1" '$1 == k { print $2 }'; }
# notified KEY JQ: a pki.notify message keyed KEY matches JQ.
notified() { topic_msgs "$1" | jq -se "any(.[]; $2)" >/dev/null 2>&1; }
# mailed TO JQ: a message to TO in the sink matches JQ.
mailed() { jq -se --arg to "$1" "any(.[]; (.rcpt_tos | index(\$to) != null) and ($2))" "$MAIL_DIR/mail.jsonl" >/dev/null 2>&1; }
mails_about() { jq -s --arg id "$1" '[.[] | select(.subject | contains($id))] | length' "$MAIL_DIR/mail.jsonl" 2>/dev/null; }
hooked() { jq -se --arg id "$1" --arg e "$2" 'any(.[]; .path == "/alice" and .event == $e and
	.body.request_id == $id and .signature_ok and .answered == 200)' "$work/hooks.jsonl" >/dev/null 2>&1; }
# restart WHAT CONFIG: restarts the gateway or the approver with CONFIG ("" = the demo's).
restart() {
	if [[ -n $2 ]]; then PKI_CONFIG=$2 stack "restart-$1"; else (unset PKI_CONFIG; stack "restart-$1"); fi >"$work/restart.log" 2>&1 ||
		fail "restart_$1" "$(tail -n 5 "$work/restart.log")"
}
receiver() {
	python3 "$ROOT/tests/integration/webhook_receiver.py" --port-file "$work/port" --log "$work/hooks.jsonl" "$@" \
		>>"$work/receiver.log" 2>&1 &
	RECEIVER_PID=$!
	wait_for 10 test -s "$work/port"
}

run=${RUN_ID//[^0-9a-z]/}
ISSUING=$(cred .cas.issuing)
APPROVAL=$(cred .cas.approval)

# ---------------------------------------------------------------- the demo's settings and its mail
check_contains stack_runs_smtp_sink "smtp       running" "$(stack status 2>&1)"
check_contains stack_prints_where_mail_is \
	"Demo mail (SMTP sink): smtp://127.0.0.1:$PKI_SMTP_PORT; each message is a file in $(cd "$PKI_VAR" && pwd)/mail/" \
	"$(stack urls 2>&1)"
check demo_config_mails_the_sink jq -e --arg u "smtp://127.0.0.1:$PKI_SMTP_PORT" \
	'.notifications.smtp.url == $u and .notifications.smtp.tls == "none" and .notifications.webhooks.allow == ["*"]' "$TEST_CONFIG"

# pkictl notify set writes the section; config_load refuses a bad value, naming its key.
install -m 600 "$TEST_CONFIG" "$PKCOPY"
out=$("$pkictl" notify set --smtp-url smtp://relay.acme.test:587 --smtp-from pki@acme.test --smtp-tls tls \
	--webhooks-allow 'hooks.acme.test,10.9.0.0/16' --webhooks-allow-private --config "$PKCOPY" 2>&1)
check pkictl_notify_set jq -e '.notifications == {smtp: {url: "smtp://relay.acme.test:587", from: "pki@acme.test",
	tls: "tls"}, webhooks: {allow: ["hooks.acme.test", "10.9.0.0/16"], allow_private: true}}' "$PKCOPY"
out=$("$pkictl" notify set --smtp-url http://relay.acme.test --smtp-from pki@acme.test --config "$PKCOPY" 2>&1)
check_contains pkictl_notify_set_refuses_bad_url "notifications.smtp.url: must be smtp://host:port" "$out"
check pkictl_notify_set_leaves_file_on_error jq -e '.notifications.smtp.tls == "tls"' "$PKCOPY"

# ---------------------------------------------------------------- /me with the demo config
me "" GET /me/notifications
check_eq me_needs_api_key 401 "$HTTP_STATUS"
me alice GET /me/notifications
check me_email_off_by_default jq -e '.email == false and .address == "alice@acme.example"' <<<"$HTTP_BODY"
me alice PUT /me/notifications '{"email": "yes"}'
check me_email_must_be_boolean jq -e '.error.code == "invalid_field" and .error.field == "email" and
	(.error.message | test("email: must be a boolean, got string"))' <<<"$HTTP_BODY"
me alice PUT /me/notifications '{"email": true, "sms": true}'
check_eq me_notifications_unknown_key "400 invalid_field" "$HTTP_STATUS $(body .error.code)"
me alice PUT /me/notifications '{"email": true}'
check_eq me_email_opt_in "200 true" "$HTTP_STATUS $(body .email)"
me alice GET /me/notifications
check_eq me_email_opt_in_kept true "$(body .email)"
me alice DELETE /me/notifications
check_eq me_notifications_methods 405 "$HTTP_STATUS"

# Loopback is refused while the operator allows only public hosts ("*").
me alice POST /me/webhooks '{"url": "http://127.0.0.1/"}'
check me_webhook_loopback_refused jq -e '.error.code == "webhook_url_refused" and .error.field == "url" and
	(.error.message | test("address 127.0.0.1 is loopback, link-local, private or reserved"))' <<<"$HTTP_BODY"
me alice POST /me/webhooks '{"url": "http://169.254.169.254/latest/meta-data/"}'
check_eq me_webhook_link_local_refused "400 webhook_url_refused" "$HTTP_STATUS $(body .error.code)"
me alice POST /me/webhooks '{"url": "ftp://hooks.acme.example/"}'
check me_webhook_scheme_refused jq -e '.error.message | test("must be an http:// or https:// URL")' <<<"$HTTP_BODY"
me alice POST /me/webhooks '{"link": "https://hooks.acme.example/"}'
check_eq me_webhook_unknown_key "400 invalid_field" "$HTTP_STATUS $(body .error.code)"
me alice GET /me/webhooks
check_eq me_webhooks_none_stored 0 "$(body '.webhooks | length')"

# ---------------------------------------------------------------- loopback allowed by the operator
jq '.notifications.webhooks.allow = ["*", "127.0.0.0/8"]' "$TEST_CONFIG" >"$COPY"
chmod 600 "$COPY"
restart gateway "$COPY"
restart approver "$COPY"
receiver
PORT=$(<"$work/port")
me alice POST /me/webhooks "{\"url\": \"http://127.0.0.1:$PORT/alice\"}"
HOOK_ID=$(body .id)
SECRET=$(body .secret)
check me_webhook_registered jq -e --arg u "http://127.0.0.1:$PORT/alice" '.url == $u and
	(.secret | test("^whsec_[0-9a-f]{64}$")) and (.id | test("^[0-9a-f]{32}$"))' <<<"$HTTP_BODY"
check_eq me_webhook_201_location "201 /me/webhooks/$HOOK_ID" "$HTTP_STATUS $HTTP_LOCATION"
me alice GET /me/webhooks
check me_webhook_secret_shown_once jq -e --arg id "$HOOK_ID" '[.webhooks[] | select(.id == $id)] | length == 1 and
	all(.[]; has("secret") | not)' <<<"$HTTP_BODY"
me bob GET /me/webhooks
check_eq me_webhooks_are_per_user 0 "$(body '.webhooks | length')"
# The receiver again, on the same port, now knowing the secret.
kill "$RECEIVER_PID" 2>/dev/null
wait "$RECEIVER_PID" 2>/dev/null
rm -f "$work/port"
receiver --port "$PORT" --secret "/alice=$SECRET"

# ---------------------------------------------------------------- issued (automatic CA)
submit alice "$ISSUING" "auto-$run.acme.example"
I=$REQ_ID
wait_for 30 state_is "$I" issued && pass notify_auto_request_issued || fail notify_auto_request_issued "request '$I'"
if wait_for 30 notified "$I" '.event == "issued" and .audience == "requester" and .recipients[0].user == "alice" and
	.recipients[0].email == "alice@acme.example" and (.serial | length > 0) and (.poll_url | endswith("/csr/requests/'"$I"'"))'; then
	pass notify_issued_on_topic
else
	fail notify_issued_on_topic "$(topic_msgs "$I")"
fi
if wait_for 30 mailed alice@acme.example '.subject == "Certificate request '"$I"': issued" and
	(.body | contains("'"$I"'") and contains("State: issued") and contains("Poll URL: '"$GW/csr/requests/$I"'"))'; then
	pass notify_issued_mailed
else
	fail notify_issued_mailed "$(tail -n 3 "$MAIL_DIR/mail.jsonl" 2>/dev/null)"
fi
wait_for 30 hooked "$I" issued && pass notify_issued_user_webhook_signed ||
	fail notify_issued_user_webhook_signed "$(tail -n 3 "$work/hooks.jsonl" 2>/dev/null)"

# bob has no channels: the topic only, no delivery queued.
submit bob "$(cred .cas.globex)" "plain-$run.globex.example"
Q=$REQ_ID
wait_for 30 notified "$Q" '.event == "issued" and .recipients[0].user == "bob"' && pass notify_without_channels_topic_only ||
	fail notify_without_channels_topic_only "request '$Q'"
check_eq notify_without_channels_no_delivery "0 0" "$(redis_cli LLEN "pki:webhook:req:$Q") $(mails_about "$Q")"

# ---------------------------------------------------------------- pending approval, then rejected
submit alice "$APPROVAL" "held-$run.acme.example"
P=$REQ_ID
if wait_for 30 notified "$P" '.event == "pending_approval" and .audience == "requester" and .recipients[0].user == "alice" and
	(.reason | length > 0)'; then
	pass notify_pending_approval_to_requester
else
	fail notify_pending_approval_to_requester "$(topic_msgs "$P")"
fi
check notify_pending_still_to_admins notified "$P" '.event == "pending" and .audience == "admins"'
wait_for 30 mailed alice@acme.example '.subject == "Certificate request '"$P"': pending_approval" and (.body | contains("Reason: "))' &&
	pass notify_pending_approval_mailed || fail notify_pending_approval_mailed
wait_for 30 hooked "$P" pending_approval && pass notify_pending_approval_user_webhook || fail notify_pending_approval_user_webhook
reason="not for production names ($run)"
curl -s --max-time 30 -H "$(auth admin)" -H 'Content-Type: application/json' \
	--data-binary "{\"reason\": \"$reason\"}" "$AP/admin/api/pending/$P/reject" >/dev/null
wait_for 30 notified "$P" '.event == "rejected" and .code == "approval_rejected" and .actor == "admin" and
	.reason == "'"$reason"'"' && pass notify_rejected_to_requester || fail notify_rejected_to_requester "$(topic_msgs "$P")"
wait_for 30 mailed alice@acme.example '.subject == "Certificate request '"$P"': rejected" and
	(.body | contains("Reason: '"$reason"'") and contains("Decided by: admin"))' && pass notify_rejected_mailed || fail notify_rejected_mailed
wait_for 30 hooked "$P" rejected && pass notify_rejected_user_webhook || fail notify_rejected_user_webhook

# ---------------------------------------------------------------- failed, told once
# A worker's failure outcome on pki.results (twice: a redelivery) for a record of alice's.
F=notify-failed-$run
redis_cli HSET "pki:req:$F" state failed requester alice email alice@acme.example tenant acme \
	ca_id "$ISSUING" common_name "failed-$run.acme.example" error_code csr_signature_invalid \
	error_message "CSR signature does not verify" >/dev/null
result=$(jq -cn --arg id "$F" --arg ca "$ISSUING" '{v: 1, request_id: $id, status: "failed", ca_id: $ca,
	code: "csr_signature_invalid", message: "CSR signature does not verify", time: now | floor}')
for _ in 1 2; do printf '%s\t%s\n' "$F" "$result" | kcat_b -P -t pki.results -K $'\t' 2>/dev/null; done
wait_for 30 notified "$F" '.event == "failed" and .code == "csr_signature_invalid" and .reason == "CSR signature does not verify"' &&
	pass notify_failed_to_requester || fail notify_failed_to_requester "$(topic_msgs "$F")"
wait_for 30 mailed alice@acme.example '.subject == "Certificate request '"$F"': failed" and
	(.body | contains("Error code: csr_signature_invalid"))' && pass notify_failed_mailed || fail notify_failed_mailed
sleep 2 # time for the redelivered result to be consumed
check_eq notify_once_per_request "1 1" "$(topic_msgs "$F" | grep -c .) $(mails_about "$F")"
check_eq notify_issued_once "1 1" "$(topic_msgs "$I" | grep -c .) $(mails_about "$I")"

# ---------------------------------------------------------------- many results: one Redis round trip per fetch
# MANY records of bob's (no channels) and their failed results on pki.results,
# each twice (redelivered), produced at once: every request told once, and
# the approver's Redis round trips far fewer than the results.
MANY=300
mp=many-$run-
GLOBEX=$(cred .cas.globex)
redis_cli EVAL "for i = 1, tonumber(ARGV[2]) do redis.call('HSET', ARGV[1] .. i, 'state', 'failed',
	'requester', 'bob', 'tenant', 'globex', 'ca_id', ARGV[3], 'common_name', 'many.globex.example',
	'error_code', 'csr_signature_invalid', 'error_message', 'CSR signature does not verify') end" \
	0 "pki:req:$mp" "$MANY" "$GLOBEX" >/dev/null
ap_calls() { curl -s --max-time 10 "$AP/metrics" | awk '$1 == "pki_approver_queue_redis_calls_total" { print $2 }'; }
many_told() {
	[[ $(redis_cli EVAL "local n = 0 for i = 1, tonumber(ARGV[2]) do
		n = n + redis.call('HEXISTS', ARGV[1] .. i, 'notified') end return n" 0 "pki:req:$mp" "$MANY") == "$MANY" ]]
}
calls0=$(ap_calls)
for _ in 1 2; do
	for ((i = 1; i <= MANY; i++)); do
		printf '%s%d\t{"v":1,"request_id":"%s%d","status":"failed","ca_id":"%s","code":"csr_signature_invalid","message":"CSR signature does not verify","time":1}\n' \
			"$mp" "$i" "$mp" "$i" "$GLOBEX"
	done
done >"$work/many.txt"
kcat_b -P -t pki.results -K $'\t' -l "$work/many.txt" 2>/dev/null
wait_for 60 many_told && pass notify_many_results_told || fail notify_many_results_told
sleep 2 # time for the redelivered results to be consumed
calls=$(($(ap_calls) - calls0))
told=$(kcat_b -C -t pki.notify -o beginning -e -q -f '%k\n' 2>/dev/null | grep -c "^$mp")
check_eq notify_many_results_once "$MANY" "$told"
# One script call per fetched batch (up to 256 results), not one per result.
((calls <= MANY / 10)) && pass notify_many_results_batched ||
	fail notify_many_results_batched "$calls Redis round trips for $((2 * MANY)) results"

# ---------------------------------------------------------------- a batch: its owner once, with counts
bd=$work/batch
mkdir -p "$bd"
for i in 0 1 2; do
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
		-subj "/CN=bn$i-$run.acme.example" -outform DER -out "$bd/b$i.der" 2>/dev/null
done
# b0's signature broken (the last byte of the DER is inside it): the worker fails it.
"$PYTHON" -c 'import sys; p = sys.argv[1]; d = bytearray(open(p, "rb").read()); d[-3] ^= 1; open(p, "wb").write(d)' "$bd/b0.der"
for i in 0 1 2; do openssl base64 -in "$bd/b$i.der" | sed '1i -----BEGIN CERTIFICATE REQUEST-----
$a -----END CERTIFICATE REQUEST-----' >"$bd/b$i.csr"; rm -f "$bd/b$i.der"; done
PKI_API_KEY=$(token alice) "$pkictl" bulk submit --as alice --ca "$ISSUING" --batch "nb-$run" --timeout 120 \
	--config "$TEST_CONFIG" "$bd" >/dev/null 2>"$work/bulk.err"
B=nb-$run
if wait_for 60 notified "$B" '.event == "batch_ended" and .batch_id == "'"$B"'" and .requester == "alice" and
	.counts == {"issued": 2, "failed": 1, "rejected": 0, "expired": 0} and .total == 3 and (.poll_url | endswith("/csr/batches/'"$B"'"))'; then
	pass notify_batch_ended_once_with_counts
else
	fail notify_batch_ended_once_with_counts "$(topic_msgs "$B")" "$(tail -n 3 "$work/bulk.err")"
fi
wait_for 30 mailed alice@acme.example '.subject == "Certificate batch '"$B"': all 3 requests ended" and
	(.body | contains("issued 2, failed 1, rejected 0, expired 0"))' && pass notify_batch_mailed || fail notify_batch_mailed
members=$(redis_cli ZRANGE "pki:batch:$B:ids" 0 -1)
per_request=0
for id in $members; do per_request=$((per_request + $(topic_msgs "$id" | grep -c .))); done
check_eq notify_batch_not_per_request "3 0 1" "$(wc -w <<<"$members") $per_request $(topic_msgs "$B" | grep -c .)"

# ---------------------------------------------------------------- the address checked again at send time
restart approver ""
submit alice "$ISSUING" "late-$run.acme.example"
L=$REQ_ID
refused() {
	local did
	for did in $(redis_cli LRANGE "pki:webhook:req:$L" 0 -1); do
		[[ $(redis_cli HGET "pki:webhook:$did" target) == "user:alice:$HOOK_ID" ]] || continue
		[[ $(redis_cli HGET "pki:webhook:$did" status) == failed ]] &&
			[[ $(redis_cli HGET "pki:webhook:$did" last_error) == *"address 127.0.0.1 is loopback"* ]] && return 0
	done
	return 1
}
wait_for 30 refused && pass notify_user_webhook_rechecked_at_send || fail notify_user_webhook_rechecked_at_send
check_eq notify_refused_webhook_never_reached 0 "$(jq -s --arg id "$L" '[.[] | select(.body.request_id == $id)] | length' "$work/hooks.jsonl")"

# ---------------------------------------------------------------- delete, opt out, schemas
me alice DELETE "/me/webhooks/$HOOK_ID"
check_eq me_webhook_deleted 204 "$HTTP_STATUS"
me alice DELETE "/me/webhooks/$HOOK_ID"
check_eq me_webhook_delete_unknown "404 not_found" "$HTTP_STATUS $(body .error.code)"
me alice PUT /me/notifications '{"email": false}'
check_eq me_email_opt_out "200 false" "$HTTP_STATUS $(body .email)"
answers_check me_answers_match_openapi openapi.yaml "$work/answers.jsonl" 15
for k in "$I" "$Q" "$P" "$F" "$B" "$L"; do topic_msgs "$k"; done >"$work/notify.jsonl"
check notify_messages_match_schema "$PYTHON" "$ROOT/tests/integration/check_schemas.py" "$ROOT/schemas" \
	notify.schema.json "$work/notify.jsonl" 8
