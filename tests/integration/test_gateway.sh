#!/usr/bin/env bash
# Gateway against real Kafka and Redis: every 4xx path, cross-tenant
# refusals, idempotency, approval routing, long-poll wake-up, Kafka or Redis
# stopped → 503, /healthz and /metrics. Needs no worker.
set -uo pipefail
cd "$(dirname "$0")/../.."
[[ -f tests/integration/lib.sh ]] && . tests/integration/lib.sh
. tests/integration/gateway_env.sh

trap gwenv_exit EXIT
gwenv_infra_up || { fail gateway_infra "Kafka/Redis not available"; exit 1; }
gwenv_pki || { fail gateway_pki_setup; exit 1; }
gwenv_gateway_up || { fail gateway_start; exit 1; }
"${REDIS_CLI[@]}" --scan --pattern 'gwtest:*' | xargs -r "${REDIS_CLI[@]}" del >/dev/null

GOOD=$(fixture_json openssl-p256.pem)
GOOD_CN=$(jq -r .common_name <<<"$GOOD")

# --- health and metrics ------------------------------------------------------
req GET /healthz ""
expect healthz_ok test "$CODE" = 200 -a "$(jbody .kafka)" = up -a "$(jbody .redis)" = up
req GET /metrics ""
expect metrics_prometheus_text grep -q '^pki_gateway_requests_total [0-9]' <<<"$BODY"
req GET /nowhere ""
expect unknown_route_404 test "$CODE" = 404 -a "$(jbody .error.code)" = not_found
req GET /csr/process "$ALICE"
expect process_get_405 test "$CODE" = 405 -a "$(header allow)" = POST

# --- 401 ---------------------------------------------------------------------
submit "" "$GOOD"
expect submit_no_key_401 test "$CODE" = 401 -a "$(header www-authenticate)" = Bearer
submit "pki_not-a-real-key" "$GOOD"
expect submit_bad_key_401 test "$CODE" = 401 -a "$(jbody .error.field)" = Authorization
req POST /csr/process "" -H "Authorization: Basic $ALICE" -H 'Content-Type: application/json' --data-binary "$GOOD"
expect submit_basic_scheme_401 test "$CODE" = 401
req GET /cas ""
expect cas_no_key_401 test "$CODE" = 401
req GET /csr/requests/00000000-0000-4000-8000-000000000000 "nope"
expect poll_bad_key_401 test "$CODE" = 401

# --- 413 / 415 / 400 ---------------------------------------------------------
head -c 70000 /dev/zero | tr '\0' 'a' >"$GW_DIR/big"
req POST /csr/process "$ALICE" -H 'Content-Type: application/json' --data-binary @"$GW_DIR/big"
expect submit_body_too_large_413 test "$CODE" = 413 -a "$(jbody .error.code)" = body_too_large
req POST /csr/process "$ALICE" -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary @"$GW_DIR/big"
expect submit_chunked_too_large_413 test "$CODE" = 413
req POST /csr/process "$ALICE" -H 'Content-Type: text/plain' --data-binary "$GOOD"
expect submit_text_plain_415 test "$CODE" = 415 -a "$(jbody .error.code)" = unsupported_media_type
req POST /csr/process "$ALICE" --data-binary "$GOOD" -H 'Content-Type:'
expect submit_no_content_type_415 test "$CODE" = 415
submit "$ALICE" '{"csr_data": '
expect submit_invalid_json_400 test "$CODE" = 400 -a "$(jbody .error.code)" = invalid_json
submit "$ALICE" '[1,2]'
expect submit_json_array_400 test "$CODE" = 400 -a "$(jbody .error.code)" = invalid_body

bad_field() { # name jq-edit field code
	submit "$ALICE" "$(jq -c "$2" <<<"$GOOD")"
	expect "$1" test "$CODE" = 400 -a "$(jbody .error.field)" = "$3" -a "$(jbody .error.code)" = "$4"
}
bad_field submit_missing_csr_400 'del(.csr_data)' csr_data missing_field
bad_field submit_csr_not_string_400 '.csr_data = 5' csr_data invalid_field
bad_field submit_missing_cn_400 'del(.common_name)' common_name missing_field
bad_field submit_cn_too_long_400 '.common_name = ("a" * 65)' common_name invalid_field
bad_field submit_missing_validity_400 'del(.validity_days)' validity_days missing_field
bad_field submit_validity_zero_400 '.validity_days = 0' validity_days invalid_field
bad_field submit_validity_3651_400 '.validity_days = 3651' validity_days invalid_field
bad_field submit_validity_fraction_400 '.validity_days = 1.5' validity_days invalid_field
bad_field submit_validity_text_400 '.validity_days = "ten"' validity_days invalid_field
bad_field submit_unknown_field_400 '.colour = "red"' colour unknown_field
bad_field submit_extension_unknown_400 '.extensions = ["server_auth", "ca_sign"]' extensions invalid_field
bad_field submit_extensions_type_400 '.extensions = 3' extensions invalid_field
bad_field submit_ca_id_charset_400 '.ca_id = "a b"' ca_id invalid_field
bad_field submit_purpose_charset_400 '.purpose_category = "t l s"' purpose_category invalid_field
submit "$ALICE" "$GOOD" -H 'Idempotency-Key: has space'
expect submit_bad_idempotency_key_400 test "$CODE" = 400 -a "$(jbody .error.field)" = Idempotency-Key
expect validity_message_names_rule grep -q 'validity_days: must be an integer 1..3650' <<<"$(submit "$ALICE" "$(jq -c '.validity_days=0' <<<"$GOOD")"; echo "$BODY")"

# --- 422 ---------------------------------------------------------------------
submit "$ALICE" "$(jq -c '.csr_data = "-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n-----END CERTIFICATE REQUEST-----\n"' <<<"$GOOD")"
expect submit_garbage_csr_422 test "$CODE" = 422 -a "$(jbody .error.field)" = csr_data -a "$(jbody '.violations | length')" -ge 1
submit "$ALICE" "$(jq -c '.common_name = "other.example.com"' <<<"$GOOD")"
expect submit_cn_mismatch_422 test "$CODE" = 422 -a "$(jbody '[.violations[].field] | index("common_name") != null')" = true
submit "$ALICE" "$(jq -c '.validity_days = 398 | .ca_id = "acme-issuing"' <<<"$GOOD")"
expect submit_validity_over_ca_max_422 test "$CODE" = 422 -a "$(jbody '[.violations[].field] | index("validity_days") != null')" = true
submit "$ALICE" "$(jq -c '.extensions = ["code_signing"] | .ca_id = "acme-issuing"' <<<"$GOOD")"
expect submit_extension_not_allowed_422 test "$CODE" = 422 -a "$(jbody '[.violations[].field] | index("extensions") != null')" = true
submit "$ALICE" "$(jq -c '.ca_id = "test-root"' <<<"$GOOD")"
expect submit_root_ca_422 test "$CODE" = 422 -a "$(jbody .error.code)" = ca_not_issuing
expect submit_root_ca_message grep -q 'roots never sign' <<<"$BODY"
submit "$ALICE" "$(jq -c '.ca_id = "acme-off"' <<<"$GOOD")"
expect submit_ca_without_api_issuance_422 test "$CODE" = 422 -a "$(jbody .error.code)" = ca_not_issuing
submit "$BOB" "$(jq -c '.purpose_category = "tls"' <<<"$GOOD")"
expect submit_no_suitable_ca_422 test "$CODE" = 422 -a "$(jbody .error.code)" = no_suitable_ca
expect no_suitable_ca_names_tried grep -q 'tried globex-ca (purpose tls not selected' <<<"$BODY"
submit "$ALICE" "$(jq -c '.tenant_id = "globex"' <<<"$GOOD")"
expect submit_other_tenant_422 test "$CODE" = 422 -a "$(jbody .error.code)" = tenant_not_allowed -a "$(jbody .error.field)" = tenant_id

# --- names a tenant may have (acme: the fixtures' domain, acme.test, acme.example; deny secret.acme.test)
# name_csr FILE CN [SAN]: an openssl CSR for CN (SAN: extra subjectAltName entries).
name_csr() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$GW_DIR/$1.key" \
		-subj "/CN=$2" -addext "subjectAltName=DNS:$2${3:+,$3}" -out "$GW_DIR/$1.csr" 2>/dev/null
}
name_body() { jq -n --rawfile csr "$GW_DIR/$1.csr" --arg cn "$2" '{csr_data: $csr, common_name: $cn, validity_days: 30}'; }
name_csr globex www.globex.example
submit "$ALICE" "$(name_body globex www.globex.example)"
expect name_other_tenant_422 test "$CODE" = 422 -a "$(jbody .error.code)" = name_not_allowed -a "$(jbody .error.field)" = common_name
expect name_other_tenant_message test "$(jbody .error.message)" = \
	"DNS name www.globex.example: not within tenant acme's allowed names (example.com, acme.test, acme.example)"
name_csr sans www.acme.test "DNS:api.globex.test,IP:192.0.2.9,IP:198.51.100.1,email:ops@globex.test"
submit "$ALICE" "$(name_body sans www.acme.test)"
expect name_each_refused_san_one_violation test "$CODE" = 422 -a \
	"$(jbody '[.violations[] | select(.code == "name_not_allowed") | .message | split(":")[0]] | join(",")')" = \
	"DNS name api.globex.test,IP address 198.51.100.1,e-mail address ops@globex.test"
name_csr deny a.secret.acme.test
submit "$ALICE" "$(name_body deny a.secret.acme.test)"
expect name_deny_wins_422 test "$CODE" = 422 -a "$(jbody .error.code)" = name_not_allowed
expect name_deny_message test "$(jbody .error.message)" = \
	"DNS name a.secret.acme.test: denied by tenant acme's deny entry secret.acme.test"
name_csr wild '*.api.acme.test'
submit "$ALICE" "$(name_body wild '*.api.acme.test')"
expect name_wildcard_allowed_202 test "$CODE" = 202
name_csr wildsecret '*.acme.test'
submit "$ALICE" "$(name_body wildsecret '*.acme.test')"
expect name_wildcard_covering_denied_422 test "$CODE" = 422 -a "$(jbody .error.code)" = name_not_allowed
submit "$BOB" "$(name_body wild '*.api.acme.test')"
expect name_wildcard_other_tenant_422 test "$CODE" = 422 -a "$(jbody .error.code)" = name_not_allowed
req GET /csr/ca-template/acme-issuing "$ALICE"
expect template_names test "$(jq -c .names <<<"$BODY")" = \
	'{"allow":{"dns":["example.com","acme.test","acme.example"],"ip":["192.0.2.0/24"],"email":["example.com"],"uri":[]},"deny":{"dns":["secret.acme.test"],"ip":[],"email":[],"uri":[]},"wildcards":true}'
req GET /csr/ca-template/globex-ca "$BOB"
expect template_names_own_tenant test "$(jq -c '[.names.allow.dns, .names.wildcards]' <<<"$BODY")" = \
	'[["example.com","globex.test","globex.example"],false]'

# --- 404: CAs of other tenants look like unknown ones -----------------------
submit "$ALICE" "$(jq -c '.ca_id = "no-such-ca"' <<<"$GOOD")"
expect submit_unknown_ca_404 test "$CODE" = 404 -a "$(jbody .error.field)" = ca_id
submit "$ALICE" "$(jq -c '.ca_id = "globex-ca"' <<<"$GOOD")"
msg_other=$(jbody .error.message | sed 's/globex-ca/X/')
expect submit_other_tenants_ca_404 test "$CODE" = 404 -a "$(jbody .error.code)" = ca_not_found
submit "$ALICE" "$(jq -c '.ca_id = "X"' <<<"$GOOD")"
expect submit_other_tenants_ca_indistinguishable test "$msg_other" = "$(jbody .error.message)"
req GET /csr/ca-template/globex-ca "$ALICE"
expect template_other_tenant_404 test "$CODE" = 404
req GET /csr/ca-template/no-such-ca "$ALICE"
expect template_unknown_404 test "$CODE" = 404
req GET /csr/ca-template/globex-ca "$BOB"
expect template_own_200 test "$CODE" = 200 -a "$(jbody '.id')" = globex-ca
expect template_exact_fields test "$(jbody '[keys[]] | sort | join(",")')" = \
	"allowed_curves,allowed_extensions,allowed_key_sizes,allowed_key_types,common_name,country,id,max_validity_days,name,names,organization,requires_manual_approval"
req GET /csr/ca-template/acme-issuing "$ALICE"
expect template_values test "$(jbody '.organization + "/" + .country + "/" + (.max_validity_days|tostring) + "/" + (.allowed_key_sizes|map(tostring)|join(" ")) + "/" + (.requires_manual_approval|tostring)')" = "Acme/US/397/2048 3072 4096/false"
req GET /cas "$ALICE"
expect cas_alice test "$(jbody '[.cas[].id] | sort | join(",")')" = "acme-approval,acme-issuing"
req GET /cas "$BOB"
expect cas_bob test "$(jbody '[.cas[].id] | join(",")')" = "globex-ca"

# --- 202, polling, cross-tenant reads ----------------------------------------
submit "$ALICE" "$GOOD"
ID=$(jbody .request_id)
expect submit_accepted_202 test "$CODE" = 202 -a "$(jbody .status)" = queued -a "$(jbody .poll_url)" = "/csr/requests/$ID"
expect submit_location_header test "$(header location)" = "/csr/requests/$ID"
req GET "/csr/requests/$ID" "$ALICE"
expect poll_own_200 test "$CODE" = 200 -a "$(jbody .request_id)" = "$ID" -a "$(jbody .ca_id)" = acme-issuing
expect poll_retry_after_while_queued test "$(header retry-after)" = 1
expect poll_records_selection_reason grep -q 'selected: tenant acme, email alice@acme.example matches' <<<"$(jbody .ca_reason)"
req GET "/csr/requests/$ID" "$BOB"
expect poll_other_tenant_404 test "$CODE" = 404
req GET "/csr/requests/$ID" "$CAROL"
expect poll_same_tenant_other_user_404 test "$CODE" = 404
req GET "/csr/requests/$ID" "$ADMIN"
expect poll_tenant_admin_200 test "$CODE" = 200
req GET /csr/requests/00000000-0000-4000-8000-000000000000 "$ALICE"
expect poll_unknown_404 test "$CODE" = 404
req GET "/csr/requests/..%2F..%2Fetc" "$ALICE"
expect poll_bad_id_404 test "$CODE" = 404
expect issue_message_on_topic test -n "$(topic_msgs $T_ISSUE "$ID")"
PY=${PYTHON:-python3}
[[ -x $PY ]] || PY=python3
if "$PY" -c 'import jsonschema' 2>/dev/null; then
	topic_msgs $T_ISSUE "$ID" | head -1 >"$GW_DIR/issue.json"
	expect issue_message_matches_schema "$PY" -c '
import json, sys, jsonschema
s = json.load(open("schemas/issue-request.schema.json"))
jsonschema.Draft202012Validator(s).validate(json.load(open(sys.argv[1])))' "$GW_DIR/issue.json"
	topic_msgs $T_AUDIT "$ID" >"$GW_DIR/audit.jsonl"
	expect audit_events_match_schema "$PY" -c '
import json, sys, jsonschema
s = json.load(open("schemas/audit.schema.json"))
evs = [json.loads(l) for l in open(sys.argv[1])]
for e in evs: jsonschema.Draft202012Validator(s).validate(e)
# One key'"'"'s messages may span partitions (docs/architecture.md): by time, not topic order.
names = [e["event"] for e in sorted(evs, key=lambda e: e["time"])]
assert set(names[:3]) == {"received", "ca_selected", "queued"}, names' "$GW_DIR/audit.jsonl"
fi
expect audit_in_logs grep -q "\"request_id\":\"$ID\",\"msg\":\"audit queued" "$GW_DIR/gateway.log"

submit "$ALICE" "$(jq -c '.ca_id = "acme-issuing" | .extensions = ["server_auth","client_auth"]' <<<"$GOOD")"
expect submit_explicit_ca_202 test "$CODE" = 202 -a "$(jbody .ca_id)" = acme-issuing
submit "$ADMIN" "$GOOD"
expect submit_admin_202 test "$CODE" = 202
req POST /csr/process "$ALICE" --data-urlencode "csr_data@$FIXTURES/openssl-p256.pem" \
	--data-urlencode "common_name=$GOOD_CN" --data-urlencode validity_days=30 \
	--data-urlencode extensions=server_auth,client_auth
expect submit_form_urlencoded_202 test "$CODE" = 202 -a "$(jbody .status)" = queued
req POST /csr/process "$ALICE" -F "csr_data=<$FIXTURES/openssl-p256.pem" -F "common_name=$GOOD_CN" -F validity_days=30
expect submit_multipart_202 test "$CODE" = 202
req POST /csr/process "$ALICE" --data-urlencode "csr_data@$FIXTURES/openssl-p256.pem" --data-urlencode validity_days=30
expect submit_form_missing_cn_400 test "$CODE" = 400 -a "$(jbody .error.field)" = common_name
# A multipart part without a field name (found by make fuzz: it crashed the
# gateway, also before login): 400, and the gateway still answers.
NONAME=$'--xyz\r\nContent-Disposition: form-data; filename="csr.pem"\r\n\r\nx\r\n--xyz--\r\n'
req POST /csr/process "$ALICE" -H 'Content-Type: multipart/form-data; boundary=xyz' --data-binary "$NONAME"
expect submit_multipart_unnamed_part_400 test "$CODE" = 400 -a "$(jbody .error.code)" = invalid_form
# (curl alone: the browser pages are not in openapi.yaml)
CODE=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: multipart/form-data; boundary=xyz' \
	--data-binary "$NONAME" "$GW/csr/upload/login")
expect upload_login_multipart_unnamed_part_400 test "$CODE" = 400
req GET /healthz ""
expect healthz_after_unnamed_part test "$CODE" = 200

# --- automatic selection through the API (tenant, purpose, email, client address) ---
select_case() { # name token extra-jq want-ca want-status
	submit "$2" "$(jq -c "$3" <<<"$GOOD")"
	expect "$1" test "$CODE" = 202 -a "$(jbody .ca_id)" = "$4" -a "$(jbody .status)" = "$5"
}
select_case select_alice_default "$ALICE" . acme-issuing queued
select_case select_alice_purpose_tls "$ALICE" '.purpose_category = "tls"' acme-issuing queued
select_case select_alice_purpose_manual "$ALICE" '.purpose_category = "manual"' acme-approval pending_approval
select_case select_admin_email_not_matching "$ADMIN" . acme-approval pending_approval
select_case select_bob_purpose_web "$BOB" '.purpose_category = "web"' globex-ca queued
submit "$ADMIN" "$(jq -c '.purpose_category = "tls"' <<<"$GOOD")"
expect select_admin_tls_no_suitable_ca test "$CODE" = 422 -a "$(jbody .error.code)" = no_suitable_ca
expect select_admin_tls_reasons grep -q 'acme-issuing (email admin@example.org matches no pattern), acme-approval (purpose tls not selected' <<<"$BODY"
submit "$ADMIN" "$(jq -c '.tenant_id = "globex"' <<<"$GOOD")"
expect select_admin_outside_scope_422 test "$CODE" = 422 -a "$(jbody .error.code)" = tenant_not_allowed

# --- idempotency -------------------------------------------------------------
KEY=idem-$RANDOM$RANDOM
submit "$ALICE" "$GOOD" -H "Idempotency-Key: $KEY"
first=$(jbody .request_id)
submit "$ALICE" "$GOOD" -H "Idempotency-Key: $KEY"
expect idempotent_same_body_same_id test "$CODE" = 202 -a "$(jbody .request_id)" = "$first"
submit "$ALICE" "$(jq -c '.validity_days = 31' <<<"$GOOD")" -H "Idempotency-Key: $KEY"
expect idempotent_other_body_409 test "$CODE" = 409 -a "$(jbody .error.code)" = idempotency_conflict
submit "$BOB" "$(fixture_json openssl-p256.pem '{purpose_category: "web"}')" -H "Idempotency-Key: $KEY"
expect idempotency_scoped_by_tenant test "$CODE" = 202 -a "$(jbody .request_id)" != "$first"
expect idempotent_one_message test "$(topic_msgs $T_ISSUE "$first" | wc -l)" = 1
KEY2=idem-$RANDOM$RANDOM
submit "$ALICE" "$(jq -c '.validity_days = 0' <<<"$GOOD")" -H "Idempotency-Key: $KEY2"
submit "$ALICE" "$GOOD" -H "Idempotency-Key: $KEY2"
expect idempotency_key_free_after_refusal test "$CODE" = 202

# --- manual approval ---------------------------------------------------------
APPR=$(jq -c '.ca_id = "acme-approval"' <<<"$GOOD")
submit "$ALICE" "$APPR"
pid=$(jbody .request_id)
expect approval_no_password_pending test "$CODE" = 202 -a "$(jbody .status)" = pending_approval
expect approval_no_password_on_approval_topic test "$(topic_msgs $T_APPROVAL "$pid" | jq -r .reason)" = approval_password_missing
expect approval_no_password_not_on_issue_topic test -z "$(topic_msgs $T_ISSUE "$pid")"
req GET "/csr/requests/$pid" "$ALICE"
expect approval_pending_poll test "$(jbody .status)" = pending_approval -a "$(header retry-after)" = 30
# The gateway checks no password (it holds no grant key): it forwards it to
# the approver in the approval message, and nothing goes to the issue topic.
for np in "wrong:wrong-$APPROVAL_PASSWORD" "right:$APPROVAL_PASSWORD"; do
	n=${np%%:*} pw=${np#*:}
	submit "$ALICE" "$(jq -c --arg p "$pw" '.approval_password = $p' <<<"$APPR")"
	wid=$(jbody .request_id)
	expect "approval_password_${n}_pending" test "$CODE" = 202 -a "$(jbody .status)" = pending_approval
	expect "approval_password_${n}_forwarded" test "$(topic_msgs $T_APPROVAL "$wid" | jq -r '.reason + " " + .approval_password')" = "approval_password_given $pw"
	expect "approval_password_${n}_no_grant" test -z "$(topic_msgs $T_ISSUE "$wid")$(topic_msgs $T_APPROVAL "$wid" | jq -r '.request.grant // empty')"
done
expect approval_password_never_in_record test -z "$("${REDIS_CLI[@]}" hgetall "gwtest:req:$wid" | grep -F "$APPROVAL_PASSWORD")"

# --- long-poll ---------------------------------------------------------------
req GET "/csr/requests/$ID?wait=31" "$ALICE"
expect longpoll_wait_over_30_400 test "$CODE" = 400 -a "$(jbody .error.field)" = wait
req GET "/csr/requests/$ID?wait=abc" "$ALICE"
expect longpoll_wait_text_400 test "$CODE" = 400
t0=$(now_ms)
req GET "/csr/requests/$ID?wait=1" "$ALICE"
dt=$(($(now_ms) - t0))
expect longpoll_times_out_unchanged test "$CODE" = 200 -a "$(jbody .status)" = queued -a "$dt" -ge 950 -a "$dt" -lt 2500
# Move the request on as a worker would (the store's script publishes the state).
(sleep 1; "${REDIS_CLI[@]}" eval "redis.call('HSET', KEYS[1], 'state', 'issuing'); redis.call('PUBLISH', KEYS[2], 'issuing'); return redis.call('TIME')" 2 "gwtest:req:$ID" "gwtest:ev:$ID" >"$GW_DIR/moved_at") &
mover=$!
t0=$(now_ms)
req GET "/csr/requests/$ID?wait=10" "$ALICE"
t1=$(now_ms)
wait "$mover"
moved_ms=$(awk 'NR==1{s=$1} NR==2{u=$1} END{printf "%.0f", s*1000 + u/1000}' "$GW_DIR/moved_at")
expect longpoll_wakes_on_change test "$(jbody .status)" = issuing -a $((t1 - t0)) -lt 3000
expect longpoll_within_100ms test $((t1 - moved_ms)) -lt 100 -a $((t1 - moved_ms)) -ge 0
echo "longpoll: answered $((t1 - moved_ms)) ms after the change" >&2
expect longpoll_other_user_404 test "$(req GET "/csr/requests/$ID?wait=5" "$BOB"; echo "$CODE")" = 404
req GET /metrics ""
expect metrics_count_submits grep -q 'pki_gateway_submits_total{outcome="accepted"} [1-9]' <<<"$BODY"

# --- Kafka stopped → 503 fast, marked failed; restarted → accepted --------------
scripts/stack.sh stop-kafka >"$GW_DIR/stack.log" 2>&1
t0=$(now_ms)
submit "$ALICE" "$GOOD"
dt=$(($(now_ms) - t0))
expect kafka_down_503 test "$CODE" = 503 -a "$(jbody .error.code)" = queue_unavailable
expect kafka_down_under_1s test "$dt" -lt 1000
expect kafka_down_retry_after test -n "$(header retry-after)"
fid=$(jbody .error.message | grep -o '[0-9a-f]\{8\}-[0-9a-f-]\{27\}')
req GET "/csr/requests/$fid" "$ALICE"
expect kafka_down_request_failed test "$(jbody .status)" = failed -a "$(jbody .error.code)" = kafka_unavailable
healthz_is() { req GET /healthz "" && [[ $CODE == "$1" ]]; }
wait_for 3 healthz_is 503 # /healthz tells what the once-a-second check saw
expect healthz_kafka_down_503 test "$CODE" = 503 -a "$(jbody .kafka)" = down -a "$(jbody .redis)" = up
scripts/stack.sh start-kafka >>"$GW_DIR/stack.log" 2>&1
ok=
for ((i = 0; i < 60; i++)); do
	submit "$ALICE" "$GOOD"
	[[ $CODE == 202 ]] && { ok=1; break; }
	sleep 0.5
done
expect kafka_back_accepted test -n "$ok"
wait_for 3 healthz_is 200
expect healthz_kafka_back_200 test "$CODE" = 200

# --- Redis stopped → 503 ------------------------------------------------------
scripts/stack.sh stop-redis >>"$GW_DIR/stack.log" 2>&1
wait_for 3 healthz_is 503 # /healthz tells what the once-a-second check saw
expect healthz_redis_down_503 test "$CODE" = 503 -a "$(jbody .redis)" = down
submit "$ALICE" "$GOOD"
expect redis_down_submit_503 test "$CODE" = 503 -a "$(jbody .error.code)" = store_unavailable
req GET "/csr/requests/$ID" "$ALICE"
expect redis_down_poll_503 test "$CODE" = 503
scripts/stack.sh start-redis >>"$GW_DIR/stack.log" 2>&1
wait_for 3 healthz_is 200
expect healthz_redis_back_200 test "$CODE" = 200
req GET "/csr/requests/$ID" "$ALICE"
expect redis_back_poll_200 test "$CODE" = 200
submit "$ALICE" "$GOOD"
expect redis_back_submit_202 test "$CODE" = 202

# --- clean stop ----------------------------------------------------------------
kill -TERM "$GW_PID"
t0=$(now_ms)
wait "$GW_PID"
rc=$?
expect gateway_sigterm_exit_0 test "$rc" = 0 -a $(($(now_ms) - t0)) -lt 3000
GWENV_PIDS=()
answers_check gateway_answers_match_openapi openapi.yaml "$GW_DIR/answers.jsonl" 80
