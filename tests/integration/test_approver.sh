#!/usr/bin/env bash
# Manual approval against the real stack: intake from Kafka into Redis, the
# admin API (auth, scope, detail, filters), approve / reject / 2-of-n /
# self-approval / concurrent approvals, the dashboard session and CSRF,
# restart of the approver, expiry, notifications and signed webhooks with
# retries (tests/integration/webhook_receiver.py), and the limit on
# approval password attempts.
#
# The approver is restarted once with a copy of the config that adds webhooks
# (the restart is itself a test: pending requests must survive it) and once
# more at the end with the original config.
. "$(dirname "$0")/lib.sh"
set +e

AP=$APPROVER_URL
GW=$GATEWAY_URL
work=$(mktemp -d "${TMPDIR:-/tmp}/approver-test.XXXXXX")
RECEIVER_PID=
AP2_PID=
cleanup() {
	[[ -n $RECEIVER_PID ]] && kill "$RECEIVER_PID" 2>/dev/null
	[[ -n $AP2_PID ]] && kill "$AP2_PID" 2>/dev/null
	rm -rf "$work"
	[[ -n ${TEST_CONFIG_COPY:-} ]] && rm -f "$TEST_CONFIG_COPY"
}
trap 'cleanup; lib_exit' EXIT

# call USER METHOD URL [JSON_BODY] [CURL_ARGS...]: sets HTTP_STATUS, HTTP_BODY.
# USER "" sends no Authorization.
call() {
	local user=$1 method=$2 url=$3 out
	shift 3
	local -a a=(-s --max-time 30 -X "$method" -w '\n%{content_type}\n%{http_code}')
	[[ -n $user ]] && a+=(-H "Authorization: Bearer $(token "$user")")
	if (($# > 0)); then
		[[ -n $1 ]] && a+=(-H 'Content-Type: application/json' --data-binary "$1")
		shift
	fi
	out=$(curl "${a[@]}" "$@" "$url" 2>/dev/null)
	HTTP_STATUS=${out##*$'\n'}
	out=${out%$'\n'*}
	HTTP_BODY=${out%$'\n'*}
	[[ -n $HTTP_STATUS ]] || HTTP_STATUS=000
	# Every answer is kept, per service, for the OpenAPI checks at the end.
	local svc=ap
	[[ $url == "$GW"* ]] && svc=gw
	answer_keep "$work/answers-$svc.jsonl" "$method" "/${url#*://*/}" "$HTTP_STATUS" "${out##*$'\n'}" \
		"$HTTP_BODY"
}
body() { jq -r "$1" <<<"$HTTP_BODY" 2>/dev/null; }

# submit USER CA CN [PASSWORD]: POST /csr/process; sets REQ_ID (empty on failure).
n_csr=0
submit() {
	local user=$1 ca=$2 cn=$3 pw=${4:-} f
	n_csr=$((n_csr + 1))
	f=$work/$n_csr
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$f.key" \
		-subj "/CN=$cn" -addext "subjectAltName=DNS:$cn" -out "$f.csr" 2>/dev/null
	jq -n --rawfile csr "$f.csr" --arg cn "$cn" --arg ca "$ca" --arg pw "$pw" \
		'{csr_data: $csr, common_name: $cn, validity_days: 30, ca_id: $ca,
		  extensions: ["server_auth"]} + (if $pw == "" then {} else {approval_password: $pw} end)' \
		>"$f.json"
	call "$user" POST "$GW/csr/process" "$(<"$f.json")"
	REQ_ID=$(body '.request_id // empty')
}

# In the pending list as seen by USER?
listed() { call "$2" GET "$AP/admin/api/pending?limit=500" && [[ $(body "[.items[].request_id] | index(\"$1\") != null") == true ]]; }
state_of() { redis_cli HGET "pki:req:$1" state; }
state_is() { [[ $(state_of "$1") == "$2" ]]; }
# Values of topic messages keyed KEY, one JSON per line.
topic_msgs() { kcat_b -C -t "$1" -o beginning -e -q -f '%k\t%s\n' 2>/dev/null | awk -F'\t' -v k="$2" '$1 == k { print $2 }'; }
topic_count() { topic_msgs "$1" "$2" | grep -c .; }
topic_has() { topic_msgs "$1" "$2" | jq -se "any(.[]; $3)" >/dev/null 2>&1; }

run=$RUN_ID
cn() { printf '%s-%s.acme.example' "$1" "${run//[^0-9a-z]/}"; }

# ---------------------------------------------------------------- expiry (started first: 60 s TTL)
submit alice demo-approval-short "$(cn expiry)"
EXP_ID=$REQ_ID
EXP_T0=$SECONDS
check_eq expiry_submitted_pending pending_approval "$(body .status)"

# ---------------------------------------------------------------- intake
submit alice demo-approval "$(cn first)"
A=$REQ_ID
check_eq submit_pending_202 "202 pending_approval" "$HTTP_STATUS $(body .status)"
if wait_for 30 listed "$A" admin; then pass intake_pending_listed; else fail intake_pending_listed "$A not in the queue"; fi
check_eq intake_redis_pending_hash pending "$(redis_cli HGET "pki:pending:$A" state)"
check intake_redis_sorted_set test -n "$(redis_cli ZSCORE pki:pending "$A")"
check intake_redis_expiry_index test -n "$(redis_cli ZSCORE pki:pending:expiry "$A")"
check_eq intake_state_pending_approval pending_approval "$(state_of "$A")"
exp=$(redis_cli HGET "pki:req:$A" approval_expires_at)
created=$(redis_cli HGET "pki:req:$A" created)
check_eq intake_expiry_is_ca_ttl 604800 "$((exp - created))"
call alice GET "$GW/csr/requests/$A"
check_eq intake_requester_sees_expiry "pending_approval $(date -u -d "@$exp" +%Y-%m-%dT%H:%M:%SZ)" \
	"$(body '"\(.status) \(.approval_expires_at)"')"

# Redelivery: the very same approval message again does not add an entry.
orig=$(topic_msgs pki.approval "$A" | head -n 1)
approvals_before=$(redis_cli HGET "pki:pending:$A" received_at)
printf '%s\n' "$orig" | kcat_b -P -t pki.approval -k "$A" 2>/dev/null
if wait_for 20 bash -c "[[ \$(kcat -F '$KCAT_ADMIN_CONF' -b $KAFKA_BROKERS -C -t pki.approval -o beginning -e -q -f '%k\n' 2>/dev/null | grep -cx '$A') -ge 2 ]]"; then
	sleep 3 # the approver consumes it
	call admin GET "$AP/admin/api/pending?limit=500"
	check_eq duplicate_message_one_entry 1 "$(body "[.items[] | select(.request_id == \"$A\")] | length")"
	check_eq duplicate_message_keeps_record "$approvals_before" "$(redis_cli HGET "pki:pending:$A" received_at)"
	check_contains duplicate_message_logged "redelivered" "$(grep -F "$A" "$PKI_VAR/log/approver.log")"
else
	fail duplicate_message_republished "could not republish the approval message of $A"
fi

# ---------------------------------------------------------------- intake re-checks the claim
# An approval message is a claim: it must describe the request the gateway or
# a worker recorded, and its requester must still be admitted to its CA.
# (Only the gateway and the workers may write the topic; here the test's
# operator principal writes it, as a compromised one of them would.)
forge() { # ID REQUESTER TENANT CA: the approval message of $A, made over for another request
	jq -c --arg id "$1" --arg r "$2" --arg t "$3" --arg ca "$4" '.request.request_id = $id |
		.request.requester = $r | .request.tenant = $t | .request.ca_id = $ca' <<<"$orig"
}
record() { # ID REQUESTER TENANT CA: a record as the gateway writes one, pending approval
	redis_cli HSET "pki:req:$1" id "$1" state pending_approval requester "$2" tenant "$3" \
		ca_id "$4" csr_sha256 "$(jq -j .request.csr <<<"$orig" | sha256sum | cut -d' ' -f1)" \
		created "$(date +%s)" updated "$(date +%s)" >/dev/null
}
X1=forged-other-$run X2=forged-norecord-$run X3=forged-noaccess-$run
record "$X1" alice acme demo-approval
record "$X3" bob globex demo-approval
forge "$X1" admin2 acme demo-approval | kcat_b -P -t pki.approval -k "$X1" 2>/dev/null
forge "$X2" alice acme demo-approval | kcat_b -P -t pki.approval -k "$X2" 2>/dev/null
forge "$X3" bob globex demo-approval | kcat_b -P -t pki.approval -k "$X3" 2>/dev/null
dropped() { [[ $(grep -F "$1" "$PKI_VAR/log/approver.log" | grep -c 'does not match the recorded request') -ge 1 ]]; }
if wait_for 30 state_is "$X3" failed; then
	check_eq intake_requester_without_access_failed "ca_not_found" "$(redis_cli HGET "pki:req:$X3" error_code)"
else
	fail intake_requester_without_access_failed "state: $(state_of "$X3")"
fi
check intake_result_for_refused_request wait_for 20 topic_has pki.results "$X3" '.status == "failed" and .code == "ca_not_found"'
# A name outside the requester's tenant's names: intake's admission refuses it too.
X4=forged-name-$run gcn=www-$run.globex.example
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/x4.key" \
	-subj "/CN=$gcn" -addext "subjectAltName=DNS:$gcn" -out "$work/x4.csr" 2>/dev/null
x4=$(forge "$X4" alice acme demo-approval | jq -c --rawfile csr "$work/x4.csr" --arg cn "$gcn" \
	'.request.csr = $csr | .request.common_name = $cn')
redis_cli HSET "pki:req:$X4" id "$X4" state pending_approval requester alice tenant acme \
	ca_id demo-approval csr_sha256 "$(jq -j .request.csr <<<"$x4" | sha256sum | cut -d' ' -f1)" \
	created "$(date +%s)" updated "$(date +%s)" >/dev/null
printf '%s\n' "$x4" | kcat_b -P -t pki.approval -k "$X4" 2>/dev/null
if wait_for 30 state_is "$X4" failed; then
	check_eq intake_name_outside_tenant_failed "name_not_allowed 0" \
		"$(redis_cli HGET "pki:req:$X4" error_code) $(redis_cli EXISTS "pki:pending:$X4")"
else
	fail intake_name_outside_tenant_failed "state: $(state_of "$X4")" "$(grep -F "$X4" "$PKI_VAR/log/approver.log" | tail -3)"
fi
for x in "$X1" "$X2"; do
	if wait_for 20 dropped "$x"; then pass "intake_drops_mismatched_claim ${x%%-$run}"; else
		fail "intake_drops_mismatched_claim ${x%%-$run}" "$(grep -F "$x" "$PKI_VAR/log/approver.log" | tail -3)"
	fi
done
check_eq intake_mismatch_leaves_record "pending_approval alice" \
	"$(state_of "$X1") $(redis_cli HGET "pki:req:$X1" requester)"
call admin GET "$AP/admin/api/pending?limit=500"
check_eq intake_forged_not_listed 0 \
	"$(body "[.items[] | select(.request_id == \"$X1\" or .request_id == \"$X2\" or .request_id == \"$X3\")] | length")"
check_eq intake_no_pending_entry_for_forged "0 0 0" \
	"$(redis_cli EXISTS "pki:pending:$X1") $(redis_cli EXISTS "pki:pending:$X2") $(redis_cli EXISTS "pki:pending:$X3")"

# ---------------------------------------------------------------- webhooks on, approver restarted
TEST_CONFIG_COPY=$(dirname "$TEST_CONFIG")/config-approver-test.json
python3 "$ROOT/tests/integration/webhook_receiver.py" --port-file "$work/port" --log "$work/hooks.jsonl" \
	--secret "/ca=ca-secret-$run" --secret "/tenant=tenant-secret-$run" --fail-first 2 \
	>"$work/receiver.log" 2>&1 &
RECEIVER_PID=$!
wait_for 10 test -s "$work/port"
HOOK=http://127.0.0.1:$(cat "$work/port")
jq --arg u "$HOOK" --arg cs "ca-secret-$run" --arg ts "tenant-secret-$run" '
	(.cas[] | select(.id == "demo-approval") | .webhooks) = [{url: ($u + "/ca"), secret: $cs}] |
	(.tenants[] | select(.id == "acme") | .webhooks) = [{url: ($u + "/tenant"), secret: $ts}]' \
	"$TEST_CONFIG" >"$TEST_CONFIG_COPY"
chmod 600 "$TEST_CONFIG_COPY"
if PKI_CONFIG=$TEST_CONFIG_COPY stack restart-approver >"$work/restart.log" 2>&1; then
	pass approver_restart
else
	fail approver_restart "$(tail -n 5 "$work/restart.log")"
fi
if listed "$A" admin; then pass pending_survives_restart; else fail pending_survives_restart "$HTTP_STATUS $HTTP_BODY"; fi

# A second approver on the same Redis and Kafka group: decisions, expiry and
# webhooks must still happen once (it stops at the end of the suite).
AP2_LISTEN=${PKI_APPROVER_LISTEN%:*}:$((${PKI_APPROVER_LISTEN##*:} + 50))
AP2=http://$AP2_LISTEN
env PKI_STACK_VAR="$(cd "$PKI_VAR" && pwd)" PKI_CONFIG="$TEST_CONFIG_COPY" \
	PKI_KAFKA_BROKERS="$KAFKA_BROKERS" PKI_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" \
	PKI_APPROVER_LISTEN="$AP2_LISTEN" "$ROOT/${BUILD:-build/release}/pki-approver" \
	>"$work/approver2.log" 2>&1 &
AP2_PID=$!
if wait_for 20 status_is 200 "$AP2/healthz"; then pass second_approver_up; else fail second_approver_up "$(tail -n 5 "$work/approver2.log")"; fi

# ---------------------------------------------------------------- authentication and scope
call "" GET "$AP/admin/api/pending"
check_eq api_no_key_401 401 "$HTTP_STATUS"
call "" GET "$AP/admin/api/pending" "" -H "Authorization: Bearer pki_not-a-key"
check_eq api_bad_key_401 401 "$HTTP_STATUS"
call alice GET "$AP/admin/api/pending"
check_eq api_requester_403 "403 not_admin" "$HTTP_STATUS $(body .error.code)"
call alice POST "$AP/admin/api/pending/$A/approve" "{}"
check_eq api_requester_approve_403 403 "$HTTP_STATUS"
call admin-globex GET "$AP/admin/api/pending?limit=500"
check_eq api_other_tenant_admin_list_hides 200:false "$HTTP_STATUS:$(body "[.items[].tenant] | index(\"acme\") != null")"
call admin-globex GET "$AP/admin/api/pending/$A"
check_eq api_other_tenant_admin_detail_403 "403 outside_scope" "$HTTP_STATUS $(body .error.code)"
call admin-globex POST "$AP/admin/api/pending/$A/approve" "{}"
check_eq api_other_tenant_admin_approve_403 "403 outside_scope" "$HTTP_STATUS $(body .error.code)"
check_eq api_refused_approve_changes_nothing "pending_approval []" \
	"$(state_of "$A") $(redis_cli HGET "pki:pending:$A" approvals)"

# ---------------------------------------------------------------- detail
call admin GET "$AP/admin/api/pending/$A"
check_eq detail_200 200 "$HTTP_STATUS"
check_eq detail_subject "CN=$(cn first)" "$(body .csr.subject)"
check_eq detail_sans "DNS:$(cn first)" "$(body '.csr.sans | join(",")')"
check_eq detail_key "EC 256 P-256" "$(body '"\(.csr.key_type) \(.csr.key_size) \(.csr.curve)"')"
check_eq detail_requested "30 server_auth" "$(body '"\(.requested.validity_days) \(.requested.extensions | join(","))"')"
check_eq detail_people "alice acme 127.0.0.1" "$(body '"\(.requester) \(.tenant) \(.client_ip)"')"
check detail_times jq -e '(.submitted_at | test("^20[0-9-]+T")) and (.expires_at | test("^20[0-9-]+T")) and
	.approvals == [] and .approvals_required == 1' <<<"$HTTP_BODY"
call admin GET "$AP/admin/api/pending/not-a-request"
check_eq detail_unknown_404 404 "$HTTP_STATUS"

# ---------------------------------------------------------------- listing: filters, order, pages
submit alice demo-approval-2 "$(cn dual)"
D=$REQ_ID
submit admin demo-approval "$(cn self)"
S=$REQ_ID
wait_for 30 listed "$D" admin
wait_for 30 listed "$S" admin
call admin GET "$AP/admin/api/pending?ca=demo-approval-2&limit=500"
check list_filter_ca jq -e '(.items | length) >= 1 and all(.items[]; .ca_id == "demo-approval-2")' <<<"$HTTP_BODY"
call admin GET "$AP/admin/api/pending?requester=admin&limit=500"
check list_filter_requester jq -e --arg s "$S" '([.items[].request_id] | index($s) != null) and
	all(.items[]; .requester == "admin")' <<<"$HTTP_BODY"
call admin GET "$AP/admin/api/pending?tenant=globex"
check_eq list_filter_tenant "200 0" "$HTTP_STATUS $(body '.items | length')"
call admin GET "$AP/admin/api/pending?limit=500"
check list_oldest_first jq -e '[.items[].submitted_at] as $t | $t == ($t | sort)' <<<"$HTTP_BODY"
check list_counts_by_ca jq -e '.counts_by_ca["demo-approval"] >= 2 and .counts_by_ca["demo-approval-2"] >= 1' <<<"$HTTP_BODY"
total=$(body .total)
call admin GET "$AP/admin/api/pending?limit=1&offset=1"
check list_pagination jq -e --argjson t "$total" '(.items | length) == 1 and .total == $t and
	(if $t > 2 then .next_offset == 2 else .next_offset == null end)' <<<"$HTTP_BODY"
call admin GET "$AP/admin/api/pending?limit=0"
check_eq list_bad_limit_400 "400 limit" "$HTTP_STATUS $(body .error.field)"

# ---------------------------------------------------------------- self-approval, then 2-of-n
call admin POST "$AP/admin/api/pending/$S/approve" "{}"
check_eq self_approval_403 "403 self_approval" "$HTTP_STATUS $(body .error.code)"
check_eq self_approval_changes_nothing "pending_approval" "$(state_of "$S")"

call admin POST "$AP/admin/api/pending/$D/approve" "{}"
check_eq two_of_n_first_approval "200 pending_approval 1 2" \
	"$HTTP_STATUS $(body '"\(.status) \(.approvals | length) \(.approvals_required)"')"
check_eq two_of_n_still_pending pending_approval "$(state_of "$D")"
call admin POST "$AP/admin/api/pending/$D/approve" "{}"
check_eq two_of_n_same_admin_twice_409 "409 already_approved" "$HTTP_STATUS $(body .error.code)"
call admin GET "$AP/admin/api/pending/$D"
check_eq two_of_n_approvals_so_far "admin" "$(body '[.approvals[].admin] | join(",")')"
call admin2 POST "$AP/admin/api/pending/$D/approve" "{}"
check_eq two_of_n_second_approval "200 queued admin,admin2" \
	"$HTTP_STATUS $(body '"\(.status) \([.approvals[].admin] | join(","))"')"
check_eq two_of_n_approved_by "admin,admin2" "$(redis_cli HGET "pki:req:$D" approved_by)"
check two_of_n_grant_published topic_has pki.issue "$D" '.grant.mac | test("^[0-9a-f]{64}$")'

# Another admin approves the self-submitted one.
call admin2 POST "$AP/admin/api/pending/$S/approve" "{}"
check_eq other_admin_approves_own_request_of_admin "200 queued" "$HTTP_STATUS $(body .status)"

# ---------------------------------------------------------------- reject (with webhooks)
call admin POST "$AP/admin/api/pending/$A/reject" '{}'
check_eq reject_without_reason_400 "400 reason" "$HTTP_STATUS $(body .error.field)"
call admin POST "$AP/admin/api/pending/$A/reject" '{"reason": "   "}'
check_eq reject_blank_reason_400 400 "$HTTP_STATUS"
reason="CN is not in the service inventory ($run)"
call admin POST "$AP/admin/api/pending/$A/reject" "$(jq -n --arg r "$reason" '{reason: $r}')"
check_eq reject_200 "200 rejected" "$HTTP_STATUS $(body .status)"
call alice GET "$GW/csr/requests/$A"
check_eq reject_client_sees_reason "rejected|approval_rejected|$reason" \
	"$(body '"\(.status)|\(.error.code)|\(.error.message)"')"
check reject_result_published topic_has pki.results "$A" '.status == "rejected" and .code == "approval_rejected"'
call admin POST "$AP/admin/api/pending/$A/approve" "{}"
check_eq decision_after_reject_409 "409 not_pending" "$HTTP_STATUS $(body .error.code)"
call admin2 POST "$AP/admin/api/pending/$A/reject" '{"reason": "again"}'
check_eq reject_after_reject_409 409 "$HTTP_STATUS"
check_eq reject_leaves_queue "" "$(redis_cli ZSCORE pki:pending "$A")"
call admin GET "$AP/admin/api/decisions?limit=50"
check decisions_recent jq -e --arg a "$A" --arg r "$reason" 'any(.items[]; .request_id == $a and
	.decision == "rejected" and .actor == "admin" and .reason == $r)' <<<"$HTTP_BODY"

# ---------------------------------------------------------------- approve → issued, verified
submit alice demo-approval "$(cn approve)"
B=$REQ_ID
wait_for 30 listed "$B" admin
call admin POST "$AP/admin/api/pending/$B/approve" "{}"
check_eq approve_200 "200 queued" "$HTTP_STATUS $(body .status)"
check approve_grant_published topic_has pki.issue "$B" '.grant.request_id == "'"$B"'" and .grant.ca_id == "demo-approval"'
issued=
for _ in 1 2 3; do
	call alice GET "$GW/csr/requests/$B?wait=20"
	[[ $(body .status) == issued ]] && { issued=1; break; }
done
if [[ -n $issued ]]; then
	pass approve_client_sees_issued
	body .certificate >"$work/b.crt"
	body .chain >"$work/b-chain.pem"
	check approve_certificate_verifies openssl verify -CAfile "$PKI_VAR/demo/cas/demo-root.crt" \
		-untrusted "$work/b-chain.pem" "$work/b.crt"
	check_contains approve_certificate_subject "CN=$(cn approve)" \
		"$(openssl x509 -in "$work/b.crt" -noout -subject -nameopt RFC2253)"
else
	fail approve_client_sees_issued "state after approval: $(body .status) $(body .error.message)"
fi

# ---------------------------------------------------------------- concurrent approvals → one certificate
submit alice demo-approval "$(cn race)"
E=$REQ_ID
wait_for 30 listed "$E" admin
racers=()
for u in admin admin2; do
	# One admin at each approver.
	url=$AP
	[[ $u == admin2 ]] && url=$AP2
	(call "$u" POST "$url/admin/api/pending/$E/approve" "{}"; echo "$HTTP_STATUS" >"$work/race.$u") &
	racers+=($!)
done
wait "${racers[@]}"
check_eq concurrent_one_wins "200 409" "$(sort -n "$work"/race.* | tr '\n' ' ' | sed 's/ $//')"
sleep 2
check_eq concurrent_one_issue_message 1 "$(topic_count pki.issue "$E")"
if wait_for 60 state_is "$E" issued; then
	check_eq concurrent_one_certificate 1 "$(redis_cli --scan --pattern 'pki:serial:demo-approval:*' |
		while read -r k; do redis_cli GET "$k"; done | grep -cx "$E")"
else
	fail concurrent_one_certificate "$E is $(state_of "$E"), not issued"
fi

# ---------------------------------------------------------------- dashboard session and CSRF
jar=$work/cookies
submit alice demo-approval "$(cn csrf)"
G=$REQ_ID
wait_for 30 listed "$G" admin
code=$(curl -s -o /dev/null -w '%{http_code}' -c "$jar" --data-urlencode "api_key=$(token alice)" "$AP/admin/login")
check_eq dashboard_login_requester_403 403 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' -c "$jar" --data-urlencode "api_key=$(token admin)" "$AP/admin/login")
check_eq dashboard_login_303 303 "$code"
check dashboard_cookie_flags grep -q 'pki_admin' "$jar"
hdrs=$(curl -s -D - -o /dev/null --data-urlencode "api_key=$(token admin)" "$AP/admin/login")
check_contains dashboard_cookie_httponly_samesite "HttpOnly; SameSite=Strict" "$hdrs"
page=$(curl -s -b "$jar" "$AP/admin")
csrf=$(grep -o 'name="csrf-token" content="[0-9a-f]*"' <<<"$page" | sed 's/.*content="//; s/"$//')
check dashboard_page_has_csrf test ${#csrf} -eq 64
code=$(curl -s -o /dev/null -w '%{http_code}' -b "$jar" "$AP/admin/api/pending")
check_eq dashboard_session_reads_api 200 "$code"
out=$(curl -s -w '\n%{http_code}' -b "$jar" -X POST -H 'Content-Type: application/json' \
	--data '{"reason":"no csrf"}' "$AP/admin/api/pending/$G/reject")
check_eq csrf_missing_403 "403 csrf_failed" "${out##*$'\n'} $(jq -r .error.code <<<"${out%$'\n'*}")"
out=$(curl -s -w '\n%{http_code}' -b "$jar" -X POST -H "X-CSRF-Token: ${csrf//[0-9a-f]/0}" \
	-H 'Content-Type: application/json' --data '{"reason":"bad csrf"}' "$AP/admin/api/pending/$G/reject")
check_eq csrf_wrong_403 403 "${out##*$'\n'}"
check_eq csrf_refused_changes_nothing pending_approval "$(state_of "$G")"
out=$(curl -s -w '\n%{http_code}' -b "$jar" -X POST -H "X-CSRF-Token: $csrf" \
	-H 'Content-Type: application/json' --data '{"reason":"rejected from the dashboard"}' \
	"$AP/admin/api/pending/$G/reject")
check_eq csrf_ok_200 200 "${out##*$'\n'}"
code=$(curl -s -o /dev/null -w '%{http_code}' -b "$jar" -X POST "$AP/admin/logout" --data "csrf_token=nope")
check_eq logout_without_csrf_403 403 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' -b "$jar" -c "$jar" -X POST "$AP/admin/logout" --data "csrf_token=$csrf")
check_eq logout_303 303 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' -b "$jar" "$AP/admin/api/pending")
check_eq logout_ends_session 401 "$code"

# ---------------------------------------------------------------- notifications and webhooks
check notify_pending_to_admins topic_has pki.notify "$A" '.event == "pending" and .audience == "admins" and
	([.recipients[].user] | index("admin") != null and index("admin2") != null and index("admin-globex") == null)'
check notify_rejected_to_requester topic_has pki.notify "$A" '.event == "rejected" and .audience == "requester" and
	.recipients[0].user == "alice" and .reason == "'"$reason"'"'
check notify_approved_to_requester topic_has pki.notify "$B" '.event == "approved" and .recipients[0].user == "alice"'
if [[ -n $issued ]]; then
	if wait_for 30 topic_has pki.notify "$B" '.event == "issued"'; then pass notify_issued_to_requester
	else fail notify_issued_to_requester "no issued notification for $B"; fi
fi
# Every notification of this run's requests matches schemas/notify.schema.json.
for id in "$A" "$B" "$D" "$S"; do topic_msgs pki.notify "$id"; done >"$work/notify.jsonl"
check notify_messages_match_schema "$PYTHON" - "$ROOT/schemas/notify.schema.json" "$work/notify.jsonl" <<'PY'
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
n = 0
for line in open(sys.argv[2]):
    jsonschema.validate(json.loads(line), schema)
    n += 1
sys.exit(0 if n >= 6 else f"only {n} notifications")
PY
delivered() { jq -se --arg id "$1" --arg p "$2" --arg e "$3" 'any(.[]; .body.request_id == $id and .path == $p and
	.event == $e and .answered == 200)' "$work/hooks.jsonl" >/dev/null 2>&1; }
if wait_for 30 delivered "$A" /ca rejected; then
	pass webhook_ca_delivered
else
	fail webhook_ca_delivered "$(cat "$work/hooks.jsonl" 2>/dev/null | tail -n 5)"
fi
wait_for 30 delivered "$A" /tenant rejected && pass webhook_tenant_delivered || fail webhook_tenant_delivered
rec=$(jq -sc --arg id "$A" '[.[] | select(.body.request_id == $id and .path == "/ca" and .event == "rejected")]' "$work/hooks.jsonl")
check_eq webhook_retried_then_delivered "500,500,200" "$(jq -r '[.[].answered] | map(tostring) | join(",")' <<<"$rec")"
check_eq webhook_same_delivery_id_on_retries 1 "$(jq -r '[.[].delivery] | unique | length' <<<"$rec")"
check webhook_signatures_valid jq -e 'length == 3 and all(.[]; .signature_ok and .fresh)' <<<"$rec"
check webhook_body_content jq -e --arg r "$reason" '.[-1].body | .event == "rejected" and .audience == "requester" and
	.reason == $r and .ca_id == "demo-approval" and .tenant == "acme" and .v == 1' <<<"$rec"
check webhook_backoff_grows jq -e '(.[1].received - .[0].received) >= 0.8 and
	(.[2].received - .[1].received) >= (.[1].received - .[0].received) * 1.5' <<<"$rec"
did=$(jq -r '.[0].delivery' <<<"$rec")
check_eq webhook_outcome_recorded "delivered 3 200" \
	"$(redis_cli HMGET "pki:webhook:$did" status attempts last_code | tr '\n' ' ' | sed 's/ $//')"
check_eq webhook_attempt_log 3 "$(redis_cli LLEN "pki:webhook:$did:log")"
call admin GET "$AP/admin/api/webhooks/$A"
check webhook_api_lists_deliveries jq -e 'any(.items[]; .status == "delivered" and .event == "rejected")' <<<"$HTTP_BODY"
check webhook_audited topic_has pki.audit "$A" '.event == "webhook_delivery" and (.detail | test("^delivered rejected"))'
# A forged signature is refused by the receiver (the check can fail).
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-PKI-Timestamp: 1' -H 'X-PKI-Signature: sha256=00' \
	-H 'X-PKI-Delivery: forged' --data '{}' "$HOOK/ca")
check_eq webhook_receiver_refuses_forgery 401 "$code"
# Only events of the CA / tenant with webhooks went out: the globex-free 2-of-n CA has none on the CA path.
check_eq webhook_only_configured_targets 0 "$(jq -s --arg d "$D" '[.[] | select(.body.request_id == $d and .path == "/ca")] | length' "$work/hooks.jsonl")"

# ---------------------------------------------------------------- audit
check audit_pending topic_has pki.audit "$A" '.event == "pending_approval" and .actor == "approver"'
check audit_rejected_by_admin topic_has pki.audit "$A" '.event == "rejected" and .actor == "admin" and .detail == "'"$reason"'"'
check audit_approval_given topic_has pki.audit "$D" '.event == "approval_given" and .actor == "admin"'
check audit_approved topic_has pki.audit "$D" '.event == "approved" and .actor == "admin2"'
check audit_refused_self topic_has pki.audit "$S" '.event == "decision_refused" and .actor == "admin"'
check audit_notification topic_has pki.audit "$A" '.event == "notification" and (.detail | test("^rejected to requester"))'

# ---------------------------------------------------------------- approval password limit
# The gateway counts each attempt before forwarding it; the approver checks
# it (test_secrets.sh has the parallel guesses and the approver's own count).
pw=$(cred .approval_password)
codes=
pw_ids=()
for i in 1 2 3 4 5 6; do
	submit alice demo-approval-short "$(cn "pw$i")" "wrong-password-$i"
	codes+="$HTTP_STATUS "
	[[ -n $REQ_ID ]] && pw_ids+=("$REQ_ID")
done
check_eq password_wrong_limited "202 202 202 202 202 429 " "$codes"
check_eq password_429_code too_many_password_attempts "$(body .error.code)"
submit alice demo-approval-short "$(cn pwok)" "$pw"
check_eq password_right_also_limited 429 "$HTTP_STATUS"
hdr=$(curl -s -D - -o /dev/null -H "$(auth alice)" -H 'Content-Type: application/json' \
	--data-binary "$(<"$work/$n_csr.json")" "$GW/csr/process")
check password_429_retry_after grep -qi '^Retry-After: [0-9]' <<<"$hdr"
submit alice demo-approval "$(cn pwother)" "wrong-password-other-ca"
check_eq password_limit_per_ca 202 "$HTTP_STATUS"
audited() { # every id in pw_ids has the approver's approval_password_wrong event by alice
	local id
	for id in "${pw_ids[@]}"; do
		topic_has pki.audit "$id" '.event == "approval_password_wrong" and .actor == "alice"' || return 1
	done
}
if wait_for 30 audited; then pass password_wrong_audited; else fail password_wrong_audited "not all of ${pw_ids[*]}"; fi
check_eq password_wrong_reason approval_password_wrong "$(redis_cli HGET "pki:pending:${pw_ids[0]}" reason)"

# ---------------------------------------------------------------- expiry
left=$((EXP_T0 + 100 - SECONDS))
((left < 5)) && left=5
if wait_for "$left" state_is "$EXP_ID" expired; then
	pass expiry_state_expired
else
	fail expiry_state_expired "$EXP_ID is $(state_of "$EXP_ID") after $((SECONDS - EXP_T0)) s"
fi
call alice GET "$GW/csr/requests/$EXP_ID"
check_eq expiry_client_sees_code "expired approval_expired" "$(body '"\(.status) \(.error.code)"')"
check_eq expiry_result_published_once 1 "$(topic_msgs pki.results "$EXP_ID" | jq -s '[.[] | select(.status == "expired")] | length')"
check_eq expiry_requester_notified_once 1 "$(topic_msgs pki.notify "$EXP_ID" | jq -s '[.[] | select(.event == "expired" and .recipients[0].user == "alice")] | length')"
check expiry_audited topic_has pki.audit "$EXP_ID" '.event == "expired"'
check_eq expiry_leaves_queue "" "$(redis_cli ZSCORE pki:pending "$EXP_ID")"
call admin POST "$AP/admin/api/pending/$EXP_ID/approve" "{}"
check_eq expiry_then_approve_409 409 "$HTTP_STATUS"

# ---------------------------------------------------------------- back to the original config
kill "$AP2_PID" 2>/dev/null
wait "$AP2_PID" 2>/dev/null
AP2_PID=
check_eq second_approver_clean_stop "" "$(grep -E 'AddressSanitizer|runtime error|"level":"error"' "$work/approver2.log" | head -n 3)"
if (unset PKI_CONFIG; stack restart-approver) >"$work/restart.log" 2>&1; then
	pass approver_restart_original_config
else
	fail approver_restart_original_config "$(tail -n 5 "$work/restart.log")"
fi

# Every answer of the approver's admin API and of the gateway in this suite
# matches its OpenAPI description.
answers_check ap_answers_match_approver-openapi.yaml approver-openapi.yaml "$work/answers-ap.jsonl" 30
answers_check gw_answers_match_openapi.yaml openapi.yaml "$work/answers-gw.jsonl" 10
