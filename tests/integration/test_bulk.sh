#!/usr/bin/env bash
# Signed bulk messages on the submit topic against the running test stack
# (real Kafka, Redis, workers, gateway, approver): a message signed with a
# demo user's bulk key is issued as that user; every refusal (unknown key,
# bad or missing signature, a field changed after signing, tenant or
# requester naming someone else, another user's batch) is a failed result
# with its code and an audit event, and leaves nothing in Redis and no
# certificate; a manual-approval CA holds the request for approval; the batch
# endpoint's counts and pages match the batch's requests, for its owner and
# its tenant's admin only. Messages are signed by bulk_tool.py, which writes
# the canonical form apart from lib/wire/bulk.c.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

TMP=$PKI_VAR/tmp/bulk-test
rm -rf "$TMP"
mkdir -p "$TMP"
TOOL=("$PYTHON" "$ROOT/tests/integration/bulk_tool.py")
WTOOL=("$PYTHON" "$ROOT/tests/integration/worker_tool.py")
ANSWERS=$TMP/answers.jsonl

PREFIX=$(jq -r '.redis.prefix // "pki:"' "$TEST_CONFIG")
ISSUING=$(cred .cas.issuing)
APPROVAL=$(cred .cas.approval)
ALICE_PROFILE=$(cred .users.alice.bulk.profile)
BOB_PROFILE=$(cred .users.bob.bulk.profile)
ALICE_KEY=$(cred .users.alice.bulk.key_id)
T_SUBMIT=pki.submit T_RESULTS=pki.results T_ISSUED=pki.issued T_AUDIT=pki.audit
T_APPROVAL=pki.approval
SETTLE_S=30
BATCH_N=7     # requests in the batch read through the endpoint
PAGE_LIMIT=3  # so that the batch takes several pages

state_of() { redis_cli --raw HGET "${PREFIX}req:$1" state; }
field_of() { redis_cli --raw HGET "${PREFIX}req:$1" "$2"; }
state_is() { [[ $(state_of "$1") == "$2" ]]; }
topic_find() { topic_dump "$1" | jq -c --arg v "$3" "select(.$2? == \$v)" 2>/dev/null; }
result_of() { topic_find "$T_RESULTS" request_id "$1" | tail -n 1; }
has_result() { [[ -n $(result_of "$1") ]]; }
# produce FILE: the message in FILE onto the submit topic, keyed by its request id.
produce() { kcat_b -P -t "$T_SUBMIT" -k "$(jq -r .request_id "$1")" "$1"; }
# get PATH USER: GET on the gateway as USER, kept for the OpenAPI check.
get() {
	http GET "$GATEWAY_URL$1" "" -H "$(auth "$2")"
	answer_keep "$ANSWERS" GET "$1" "$HTTP_STATUS" application/json "$HTTP_BODY"
}
# msg NAME PROFILE [bulk_tool options]: a signed message for a fresh CSR into $TMP/NAME.json,
# for a name of the profile's tenant (MSG_CN: another name).
msg() {
	local name=$1 profile=$2 dom=acme.example cn
	[[ $profile == "$BOB_PROFILE" ]] && dom=globex.example
	cn=${MSG_CN:-$1-$RUN_ID.$dom}
	shift 2
	"${WTOOL[@]}" csr "$cn" "$cn" >"$TMP/$name.csr"
	"${TOOL[@]}" msg --profile "$profile" --id "$name-$RUN_ID" --csr "$TMP/$name.csr" \
		--cn "$cn" "$@" >"$TMP/$name.json"
}

# accepted NAME STATE WHAT: produces $TMP/NAME.json (kept for the schema
# check) and expects its request to reach STATE.
accepted() {
	local rid=$1-$RUN_ID
	cat "$TMP/$1.json" >>"$TMP/submitted.jsonl"
	produce "$TMP/$1.json"
	if wait_for "$SETTLE_S" state_is "$rid" "$2"; then
		pass "$3"
	else
		fail "$3" "state: $(state_of "$rid")" "$(tail -n 3 "$PKI_VAR"/log/worker-*.log)"
	fi
}

# ------------------------------------------------------------ a signed message is issued
: >"$TMP/submitted.jsonl"
batch=b1-$RUN_ID
id=ok-$RUN_ID
msg ok "$ALICE_PROFILE" --ca "$ISSUING" --batch "$batch" --extensions server_auth
accepted ok issued "bulk message signed with $ALICE_KEY: issued"
check_eq "issued bulk request: requester and tenant are the key's user's" "alice acme alice@acme.example" \
	"$(field_of "$id" requester) $(field_of "$id" tenant) $(field_of "$id" email)"
check_eq "issued bulk request: no client IP" "" "$(field_of "$id" client_ip)"
wait_for "$SETTLE_S" has_result "$id"
check_eq "issued bulk request: result issued on $T_RESULTS with its batch" "issued $batch" \
	"$(result_of "$id" | jq -r '[.status, .batch_id] | join(" ")')"
check_eq "issued bulk request: certificate on $T_ISSUED names alice of acme" "alice acme" \
	"$(topic_find "$T_ISSUED" request_id "$id" | jq -r '[.requester, .tenant] | join(" ")')"

# Fields that name the key's own user and tenant are accepted.
msg same "$ALICE_PROFILE" --ca "$ISSUING" --tenant acme --requester alice
accepted same issued "bulk message whose tenant and requester are the key's: issued"

# A name outside the key's tenant's names (the demo's acme has acme.test and
# acme.example): admission refuses it on the bulk path as on HTTP, failed
# with name_not_allowed, nothing signed.
MSG_CN=www-$RUN_ID.globex.example msg globexname "$ALICE_PROFILE" --ca "$ISSUING"
accepted globexname failed "bulk message from alice for a globex name: failed"
check_eq "bulk globex name: code name_not_allowed, no serial" "name_not_allowed " \
	"$(field_of "globexname-$RUN_ID" error_code) $(field_of "globexname-$RUN_ID" serial)"
check_contains "bulk globex name: the message names the name and the rule" \
	"DNS name www-$RUN_ID.globex.example: not within tenant acme's allowed names (acme.test, acme.example)" \
	"$(field_of "globexname-$RUN_ID" error_message)"
check_eq "bulk globex name: no certificate" "" "$(topic_find "$T_ISSUED" request_id "globexname-$RUN_ID")"

# ------------------------------------------------------------ refusals
# refused NAME CODE WHAT: the message NAME ends failed with CODE on the
# results topic, with an audit event, and nothing in Redis or on the issued topic.
refused() {
	local name=$1 code=$2 what=$3 rid=$1-$RUN_ID res
	if wait_for "$SETTLE_S" has_result "$rid"; then
		res=$(result_of "$rid")
		check_eq "$what: failed with $code" "failed $code" "$(jq -r '[.status, .code] | join(" ")' <<<"$res")"
	else
		fail "$what: failed with $code" "no result for $rid on $T_RESULTS"
	fi
	check_eq "$what: nothing in Redis" 0 "$(redis_cli --raw EXISTS "${PREFIX}req:$rid")"
	check_eq "$what: no certificate" "" "$(topic_find "$T_ISSUED" request_id "$rid")"
	check_contains "$what: audit event bulk_refused with the code" "bulk_refused $code:" \
		"$(topic_find "$T_AUDIT" request_id "$rid" | jq -r '[.event, .detail] | join(" ")')"
}

msg unknown "$ALICE_PROFILE" --ca "$ISSUING" --key-id no-such-key
msg badsig "$ALICE_PROFILE" --ca "$ISSUING" \
	--secret-hex 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
msg tampered "$ALICE_PROFILE" --ca "$ISSUING" --tamper validity_days=31
msg tamperca "$ALICE_PROFILE" --ca "$ISSUING" --tamper ca_id=demo-globex
msg noauth "$ALICE_PROFILE" --ca "$ISSUING" --no-auth
msg othertenant "$ALICE_PROFILE" --ca "$ISSUING" --tenant globex
msg otheruser "$ALICE_PROFILE" --ca "$ISSUING" --requester admin
msg otherbatch "$BOB_PROFILE" --ca demo-globex --batch "$batch"
for n in unknown badsig tampered tamperca othertenant otheruser otherbatch; do
	cat "$TMP/$n.json" >>"$TMP/submitted.jsonl"
done
for n in unknown badsig tampered tamperca noauth othertenant otheruser otherbatch; do
	produce "$TMP/$n.json"
done
refused unknown auth_invalid "unknown key"
refused badsig auth_invalid "signature made with another secret"
refused tampered auth_invalid "validity_days changed after signing"
refused tamperca auth_invalid "ca_id changed after signing"
refused noauth auth_invalid "no auth member"
refused othertenant identity_mismatch "tenant naming another tenant"
refused otheruser identity_mismatch "requester naming another user"
refused otherbatch batch_not_owned "bob's message naming alice's batch"
check_eq "the refused message did not join alice's batch" "alice 1" \
	"$(redis_cli --raw HGET "${PREFIX}batch:$batch" owner) $(redis_cli --raw ZCARD "${PREFIX}batch:$batch:ids")"

# A refused message naming an existing request does not contradict its outcome.
jq -c --arg id "$id" '.request_id = $id | .auth.key_id = "no-such-key"' "$TMP/ok.json" >"$TMP/dup.json"
before=$(topic_find "$T_RESULTS" request_id "$id" | wc -l)
produce "$TMP/dup.json"
msg marker "$ALICE_PROFILE" --ca "$ISSUING" --key-id no-such-key
produce "$TMP/marker.json"
wait_for "$SETTLE_S" has_result "marker-$RUN_ID"
check_eq "refused message reusing an issued request's id: no result for it, the request stays issued" \
	"$before issued" "$(topic_find "$T_RESULTS" request_id "$id" | wc -l) $(state_of "$id")"

# ------------------------------------------------------------ manual-approval CA
msg manual "$ALICE_PROFILE" --ca "$APPROVAL"
accepted manual pending_approval "bulk message for manual-approval CA $APPROVAL: pending approval"
check_eq "bulk message for $APPROVAL: on $T_APPROVAL as alice of acme, never signed" "alice acme " \
	"$(topic_find "$T_APPROVAL" request.request_id "manual-$RUN_ID" | head -n 1 |
		jq -r '[.request.requester, .request.tenant] | join(" ")') $(field_of "manual-$RUN_ID" serial)"

# ------------------------------------------------------------ batches
batch2=b2-$RUN_ID
ids=()
for ((i = 1; i <= BATCH_N; i++)); do
	msg "b2r$i" "$ALICE_PROFILE" --ca "$ISSUING" --batch "$batch2" --batch-size "$BATCH_N"
	cat "$TMP/b2r$i.json" >>"$TMP/submitted.jsonl"
	produce "$TMP/b2r$i.json"
	ids+=("b2r$i-$RUN_ID")
done
all_done() {
	local i
	for i in "${ids[@]}"; do state_is "$i" issued || return 1; done
}
if wait_for "$SETTLE_S" all_done; then
	pass "batch of $BATCH_N: every request issued"
else
	fail "batch of $BATCH_N: every request issued" "$(for i in "${ids[@]}"; do state_of "$i"; done | sort | uniq -c)"
fi
# The same messages again (redelivery): nothing counts twice.
for ((i = 1; i <= 3; i++)); do produce "$TMP/b2r$i.json"; done
msg b2late "$ALICE_PROFILE" --ca "$ISSUING" --key-id no-such-key
produce "$TMP/b2late.json"
wait_for "$SETTLE_S" has_result "b2late-$RUN_ID"

get "/csr/batches/$batch2" alice
check_eq "GET /csr/batches/{id} as its owner: 200" 200 "$HTTP_STATUS"
check_eq "batch counts: issued = total = declared = $BATCH_N, nothing in another state" \
	"$BATCH_N $BATCH_N $BATCH_N 0 alice acme" \
	"$(jq -r '[.counts.issued, .total, .declared_size,
		([.counts | to_entries[] | select(.key != "issued") | .value] | add),
		.owner, .tenant] | join(" ")' <<<"$HTTP_BODY")"
# Every page, following next_cursor: each id once, all of them, with its state.
: >"$TMP/pages"
cursor= pages=0
while :; do
	get "/csr/batches/$batch2?limit=$PAGE_LIMIT${cursor:+&cursor=$cursor}" alice
	[[ $HTTP_STATUS == 200 ]] || break
	jq -r '.requests[] | "\(.request_id) \(.state)"' <<<"$HTTP_BODY" >>"$TMP/pages"
	pages=$((pages + 1))
	cursor=$(jq -r '.next_cursor // empty' <<<"$HTTP_BODY")
	[[ -n $cursor && $pages -lt 100 ]] || break
done
check_eq "batch pages of $PAGE_LIMIT: $(((BATCH_N + PAGE_LIMIT - 1) / PAGE_LIMIT)) pages" \
	"$(((BATCH_N + PAGE_LIMIT - 1) / PAGE_LIMIT))" "$pages"
check_eq "batch pages list every request once, each issued" \
	"$(printf '%s issued\n' "${ids[@]}" | sort)" "$(sort "$TMP/pages")"
get "/csr/batches/$batch2" admin
check_eq "GET /csr/batches/{id} as an admin of its tenant: 200" 200 "$HTTP_STATUS"
get "/csr/batches/$batch2" bob
check_eq "GET /csr/batches/{id} as another tenant's user: 404" "404 batch_not_found" \
	"$HTTP_STATUS $(jq -r .error.code <<<"$HTTP_BODY")"
nf_body=$HTTP_BODY
get "/csr/batches/$batch2" admin-globex
check_eq "GET /csr/batches/{id} as another tenant's admin: 404" 404 "$HTTP_STATUS"
get "/csr/batches/nosuch-$RUN_ID" alice
check_eq "GET /csr/batches/{id} of no batch: the same 404 as not yours" \
	"$(jq -c '.error | del(.message)' <<<"$nf_body")" "$(jq -c '.error | del(.message)' <<<"$HTTP_BODY")"
get "/csr/batches/$batch2?limit=0" alice
check_eq "GET /csr/batches/{id}?limit=0: 400 naming limit" "400 limit" \
	"$HTTP_STATUS $(jq -r .error.field <<<"$HTTP_BODY")"
get "/csr/batches/$batch2?limit=1001" alice
check_eq "GET /csr/batches/{id}?limit=1001: 400" 400 "$HTTP_STATUS"
get "/csr/batches/$batch2?cursor=a%20b" alice
check_eq "GET /csr/batches/{id}?cursor=bad: 400 naming cursor" "400 cursor" \
	"$HTTP_STATUS $(jq -r .error.field <<<"$HTTP_BODY")"
http GET "$GATEWAY_URL/csr/batches/$batch2" ""
answer_keep "$ANSWERS" GET "/csr/batches/$batch2" "$HTTP_STATUS" application/json "$HTTP_BODY"
check_eq "GET /csr/batches/{id} without an API key: 401" 401 "$HTTP_STATUS"

# The counts stay in step with the states through an approval too.
batch3=b3-$RUN_ID
msg b3 "$ALICE_PROFILE" --ca "$APPROVAL" --batch "$batch3"
accepted b3 pending_approval "batch with a manual-approval request: pending approval"
get "/csr/batches/$batch3" alice
check_eq "batch with a manual-approval request: pending_approval 1, total 1" "1 1" \
	"$(jq -r '[.counts.pending_approval, .total] | join(" ")' <<<"$HTTP_BODY")"

# ------------------------------------------------------------ schemas
check "messages put on $T_SUBMIT match schemas/bulk-request.schema.json" \
	"$PYTHON" tests/integration/check_schemas.py schemas bulk-request.schema.json "$TMP/submitted.jsonl" 10
topic_dump "$T_RESULTS" >"$TMP/results.jsonl"
check "every message on $T_RESULTS matches schemas/result.schema.json" \
	"$PYTHON" tests/integration/check_schemas.py schemas result.schema.json "$TMP/results.jsonl"
topic_dump "$T_AUDIT" >"$TMP/audit.jsonl"
check "every message on $T_AUDIT matches schemas/audit.schema.json" \
	"$PYTHON" tests/integration/check_schemas.py schemas audit.schema.json "$TMP/audit.jsonl"
topic_dump "$T_APPROVAL" >"$TMP/approval.jsonl"
check "every message on $T_APPROVAL matches schemas/approval.schema.json" \
	"$PYTHON" tests/integration/check_schemas.py schemas approval.schema.json "$TMP/approval.jsonl"
answers_check "batch endpoint answers match openapi.yaml" openapi.yaml "$ANSWERS" 10
