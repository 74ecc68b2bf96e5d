#!/usr/bin/env bash
# The longest legal id of each kind (lib/base/ids.h: 63 characters of
# A-Z a-z 0-9 . _ -, a letter or digit first) through the config, HTTP and
# Kafka, and one character more refused everywhere by the same rule:
# - pkictl makes a tenant, root and intermediate CA, user and bulk key with
#   63-character ids in a scratch config that every service then loads; 64
#   is refused naming the flag, and a hand-edited 64 fails --check-config;
# - HTTP: a submit naming a 63-character CA id gets past the id check (404
#   ca_not_found), 64 is a 400 invalid_field naming ca_id; request and batch
#   paths of 63 characters are read;
# - Kafka: a signed bulk message and an issue message with a 63-character
#   request id and batch id are issued and readable over HTTP; 64 goes to
#   the dead-letter topic naming the field, and nothing is stored.
# Unit side (message decoders): tests/unit/test_ids.c.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

TMP=$PKI_VAR/tmp/ids-test
rm -rf "$TMP"
mkdir -p "$TMP"
PKICTL=$ROOT/build/release/pkictl
TOOL=("$PYTHON" "$ROOT/tests/integration/bulk_tool.py")
WTOOL=("$PYTHON" "$ROOT/tests/integration/worker_tool.py")
ID_MAX=63
RULE="must be 1..63 characters of A-Z a-z 0-9 . _ - starting with a letter or digit"
PREFIX=$(jq -r '.redis.prefix // "pki:"' "$TEST_CONFIG")
ISSUING=$(cred .cas.issuing)
ALICE_PROFILE=$(cred .users.alice.bulk.profile)
T_SUBMIT=pki.submit T_ISSUE=pki.issue T_DLQ=pki.issue.dlq
SETTLE_S=30

# longest PREFIX [LEN]: PREFIX, this run's id and padding to LEN (default ID_MAX) characters.
longest() {
	local s=$1${RUN_ID//[^A-Za-z0-9]/.}.
	while ((${#s} < ${2:-$ID_MAX})); do s+=x; done
	printf '%s' "${s:0:${2:-$ID_MAX}}"
}
state_of() { redis_cli --raw HGET "${PREFIX}req:$1" state; }
state_is() { [[ $(state_of "$1") == "$2" ]]; }
topic_find() { topic_dump "$1" | jq -c --arg v "$3" "select(.$2? == \$v)" 2>/dev/null; }
has_dead_letter() { [[ -n $(topic_find "$T_DLQ" key "$1") ]]; }
# produced WHAT TOPIC ID FILE: FILE onto TOPIC keyed ID; PASS when request ID is issued.
produced() {
	kcat_b -P -t "$2" -k "$3" "$4"
	if wait_for "$SETTLE_S" state_is "$3" issued; then
		pass "$1: issued"
	else
		fail "$1: issued" "state: $(state_of "$3")"
	fi
}
# dead_letter WHAT TOPIC KEY FILE FIELD: FILE onto TOPIC keyed KEY; PASS when
# its dead letter's error gives FIELD the id rule.
dead_letter() {
	kcat_b -P -t "$2" -k "$3" "$4"
	if wait_for "$SETTLE_S" has_dead_letter "$3"; then
		check_contains "$1: dead letter names the rule" "$5: $RULE" \
			"$(topic_find "$T_DLQ" key "$3" | jq -r .error)"
	else
		fail "$1: dead letter names the rule" "no dead letter keyed $3"
	fi
}

# ------------------------------------------------------------ config (pkictl)
cfg=$TMP/pki/config.json
ctl() { "$PKICTL" "$@" --config "$cfg"; }
T=$(longest t) C=$(longest c) I=$(longest i) U=$(longest u) K=$(longest k)
check "scratch config: pkictl init" ctl init --kafka-brokers "$KAFKA_BROKERS" \
	--redis-url "redis://127.0.0.1:$REDIS_PORT/0"
check "scratch config: pkictl kafka init" ctl kafka init
check "config: tenant id of $ID_MAX characters added" ctl tenant add --id "$T" --name "Tenant 63"
check "config: root CA id of $ID_MAX characters made" ctl ca init-root --id "$C" --name "Root 63"
check "config: intermediate CA id of $ID_MAX characters made, for that tenant" \
	ctl ca init-intermediate --id "$I" --parent "$C" --name "Int 63" --tenants "$T"
check "config: user name of $ID_MAX characters added" ctl user add --name "$U" \
	--email u@acme.example --role requester --tenant "$T" --cas "$I"
check "config: bulk key id of $ID_MAX characters added" ctl user add-bulk-key --user "$U" --id "$K"
check_eq "config: the ids are stored as given" "$T $C $I $U $K $U" \
	"$(jq -r '[.tenants[0].id, .cas[0].id, .cas[1].id, .users[0].name, .bulk_keys[0].id,
		.bulk_keys[0].user] | join(" ")' "$cfg")"
for svc in gateway worker approver; do
	check "config with $ID_MAX-character ids: pki-$svc --check-config loads it" \
		"$ROOT/build/release/pki-$svc" --config "$cfg" --check-config
done
before=$(sha256sum <"$cfg")
# refused64 WHAT FLAG COMMAND...: refused naming FLAG and the rule, the config unchanged.
refused64() {
	local what=$1 flag=$2 out
	shift 2
	out=$(ctl "$@" 2>&1)
	if [[ $? -ne 0 && $out == *"$flag: $RULE, got"* && $(sha256sum <"$cfg") == "$before" ]]; then
		pass "config: $what of 64 characters refused by the id rule"
	else
		fail "config: $what of 64 characters refused by the id rule" "$out"
	fi
}
refused64 "tenant id" --id tenant add --id "x$T" --name "Tenant 64"
refused64 "root CA id" --id ca init-root --id "x$C" --name "Root 64"
refused64 "intermediate CA id" --id ca init-intermediate --id "x$I" --parent "$C" --name "Int 64"
refused64 "user name" --name user add --name "x$U" --email u@acme.example --role requester \
	--tenant "$T"
refused64 "bulk key id" --id user add-bulk-key --user "$U" --id "x$K"
# The same rule when the file is edited by hand: the load names the key.
jq --arg id "x$K" '.bulk_keys[0].id = $id' "$cfg" >"$TMP/edited.json"
out=$("$ROOT/build/release/pki-gateway" --config "$TMP/edited.json" --check-config 2>&1)
check_contains "config: a hand-written bulk key id of 64 characters fails the load" \
	"bulk_keys[0].id: $RULE" "$out"
jq --arg id "x$T" '.tenants[0].id = $id' "$cfg" >"$TMP/edited.json"
out=$("$ROOT/build/release/pki-gateway" --config "$TMP/edited.json" --check-config 2>&1)
check_contains "config: a hand-written tenant id of 64 characters fails the load" \
	"tenants[0].id: $RULE" "$out"

# ------------------------------------------------------------ HTTP
cn=ids-$RUN_ID.acme.example
"${WTOOL[@]}" csr "$cn" "$cn" >"$TMP/http.csr"
# submit CA_ID: POST /csr/process as alice naming CA_ID.
submit() {
	http POST "$GATEWAY_URL/csr/process" "$(jq -n --rawfile csr "$TMP/http.csr" --arg cn "$cn" \
		--arg ca "$1" '{csr_data: $csr, common_name: $cn, validity_days: 30, ca_id: $ca}')" \
		-H "$(auth alice)"
}
submit "$(longest c)"
check_eq "HTTP: a submit naming an unknown CA id of $ID_MAX characters passes the id check: 404 ca_not_found" \
	"404 ca_not_found" "$HTTP_STATUS $(jq -r .error.code <<<"$HTTP_BODY")"
submit "$(longest c 64)"
check_eq "HTTP: a submit naming a CA id of 64 characters: 400 invalid_field on ca_id" \
	"400 invalid_field ca_id" \
	"$HTTP_STATUS $(jq -r '[.error.code, .error.field] | join(" ")' <<<"$HTTP_BODY")"

# ------------------------------------------------------------ Kafka
# A signed bulk message (submit topic) and an issue message (issue topic),
# each with a request id and a batch id of 63 characters.
rid=$(longest b) batch=$(longest B)
"${TOOL[@]}" msg --profile "$ALICE_PROFILE" --id "$rid" --csr "$TMP/http.csr" --cn "$cn" \
	--ca "$ISSUING" --batch "$batch" >"$TMP/bulk.json"
produced "Kafka: bulk message with a request id and batch id of $ID_MAX characters" \
	"$T_SUBMIT" "$rid" "$TMP/bulk.json"
http GET "$GATEWAY_URL/csr/requests/$rid" "" -H "$(auth alice)"
check_eq "HTTP: GET /csr/requests/{id of $ID_MAX characters}: 200 issued, in its batch" \
	"200 issued $batch" "$HTTP_STATUS $(jq -r '[.status, .batch_id] | join(" ")' <<<"$HTTP_BODY")"
http GET "$GATEWAY_URL/csr/batches/$batch" "" -H "$(auth alice)"
check_eq "HTTP: GET /csr/batches/{id of $ID_MAX characters}: 200, one request issued" "200 1 1" \
	"$HTTP_STATUS $(jq -r '[.total, .counts.issued] | join(" ")' <<<"$HTTP_BODY")"

irid=$(longest q) ibatch=$(longest Q)
icn=ids-q-$RUN_ID.acme.example
"${WTOOL[@]}" csr "$icn" "$icn" >"$TMP/issue.csr"
"${WTOOL[@]}" msg --id "$irid" --csr "$TMP/issue.csr" --cn "$icn" --tenant acme \
	--requester alice --ca "$ISSUING" --batch "$ibatch" >"$TMP/issue.json"
produced "Kafka: issue message with a request id and batch id of $ID_MAX characters" \
	"$T_ISSUE" "$irid" "$TMP/issue.json"

# One character more: the worker's decoder refuses it by the same rule.
for what in request_id batch_id; do
	# A batch id no earlier message used, so "nothing stored" covers the batch too.
	r64=$(longest b 64) b64=$(longest D)
	[[ $what == batch_id ]] && r64=$(longest c) b64=$(longest D 64)
	"${TOOL[@]}" msg --profile "$ALICE_PROFILE" --id "$r64" --csr "$TMP/http.csr" --cn "$cn" \
		--ca "$ISSUING" --batch "$b64" >"$TMP/bulk64.json"
	dead_letter "Kafka: bulk message with a $what of 64 characters" "$T_SUBMIT" "$r64" \
		"$TMP/bulk64.json" "$what"
	check_eq "Kafka: bulk message with a $what of 64 characters: nothing stored" "0 0" \
		"$(redis_cli --raw EXISTS "${PREFIX}req:$r64") $(redis_cli --raw EXISTS "${PREFIX}batch:$b64")"
done
r64=$(longest q 64)
"${WTOOL[@]}" msg --id "$r64" --csr "$TMP/issue.csr" --cn "$icn" --tenant acme \
	--requester alice --ca "$ISSUING" >"$TMP/issue64.json"
dead_letter "Kafka: issue message with a request_id of 64 characters" "$T_ISSUE" "$r64" \
	"$TMP/issue64.json" request_id
check_eq "Kafka: issue message with a request_id of 64 characters: nothing stored" 0 \
	"$(redis_cli --raw EXISTS "${PREFIX}req:$r64")"
