#!/usr/bin/env bash
# One admission path: the same table of requests, each from alice (tenant
# acme), once through the gateway's HTTP API and once as a signed bulk
# message on the submit topic. Both must answer with the same code and
# message (HTTP: the error; bulk: the failed result on the results topic),
# and a manual-approval CA holds both for approval. Nothing refused is signed.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

TMP=$PKI_VAR/tmp/admission-test
rm -rf "$TMP"
mkdir -p "$TMP"
BTOOL=("$PYTHON" "$ROOT/tests/integration/bulk_tool.py")
PREFIX=$(jq -r '.redis.prefix // "pki:"' "$TEST_CONFIG")
PROFILE=$(cred .users.alice.bulk.profile)
ISSUING=$(cred .cas.issuing)
T_SUBMIT=pki.submit T_RESULTS=pki.results
SETTLE_S=40

# name | ca_id | common name ("" = the CSR's) | validity days | extensions | key | expected code
CASES=(
	"other-tenant-ca|$(cred .cas.globex)||30|server_auth|ec|ca_not_found"
	"root-ca|$(cred .cas.root)||30|server_auth|ec|ca_not_issuing"
	"disabled-ca|$(cred .cas.disabled)||30|server_auth|ec|ca_not_issuing"
	"unknown-ca|no-such-ca||30|server_auth|ec|ca_not_found"
	"cn-not-in-csr|$ISSUING|other-$RUN_ID.acme.example|30|server_auth|ec|cn_mismatch"
	"validity-too-long|$ISSUING||1000|server_auth|ec|validity_out_of_range"
	"extension-not-allowed|$ISSUING||30|code_signing|ec|extension_not_allowed"
	"rsa-1024|$ISSUING||30|server_auth|rsa1024|key_size_not_allowed"
	"manual-approval-ca|$(cred .cas.approval)||30|server_auth|ec|pending_approval"
)

state_of() { redis_cli --raw HGET "${PREFIX}req:$1" state; }
result_of() {
	kcat_b -C -t "$T_RESULTS" -o beginning -e -q -f '%s\n' 2>/dev/null | grep '^{' |
		jq -c --arg id "$1" 'select(.request_id == $id)' 2>/dev/null | tail -n 1
}
has_result() { [[ -n $(result_of "$1") ]]; }
state_is() { [[ $(state_of "$1") == "$2" ]]; }
serials_of() {
	redis_cli EVAL "local n = 0
		for _, k in ipairs(redis.call('KEYS', ARGV[1])) do
			if redis.call('GET', k) == ARGV[2] then n = n + 1 end
		end
		return n" 0 "${PREFIX}serial:*" "$1"
}

# csr NAME CN KEY: a CSR with CN and a DNS SAN into $TMP/NAME.csr.
csr() {
	local -a key=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
	[[ $3 == rsa1024 ]] && key=(-newkey rsa:1024)
	openssl req -new "${key[@]}" -nodes -keyout "$TMP/$1.key" -subj "/CN=$2" \
		-addext "subjectAltName=DNS:$2" -out "$TMP/$1.csr" 2>/dev/null
}

for row in "${CASES[@]}"; do
	IFS='|' read -r name ca cn days exts key want <<<"$row"
	csr_cn=$name-$RUN_ID.acme.example
	csr "$name" "$csr_cn" "$key"
	[[ -n $cn ]] || cn=$csr_cn

	# Through HTTP.
	body=$(jq -n --rawfile csr "$TMP/$name.csr" --arg cn "$cn" --argjson d "$days" --arg ca "$ca" \
		--arg e "$exts" '{csr_data: $csr, common_name: $cn, validity_days: $d, ca_id: $ca,
		extensions: ($e | split(","))}')
	http POST "$GATEWAY_URL/csr/process" "$body" -H "$(auth alice)" -H 'Content-Type: application/json'
	if [[ $want == pending_approval ]]; then
		http_got="$HTTP_STATUS $(jq -r .status <<<"$HTTP_BODY")"
	else
		http_got="$(jq -r '"\(.error.code) \(.error.message)"' <<<"$HTTP_BODY")"
	fi

	# Through the bulk topic, signed with alice's bulk key.
	rid=adm-$name-$RUN_ID
	"${BTOOL[@]}" msg --profile "$PROFILE" --id "$rid" --csr "$TMP/$name.csr" --cn "$cn" \
		--days "$days" --ca "$ca" --extensions "$exts" >"$TMP/$name.json"
	kcat_b -P -t "$T_SUBMIT" -k "$rid" "$TMP/$name.json" 2>/dev/null
	if [[ $want == pending_approval ]]; then
		wait_for "$SETTLE_S" state_is "$rid" pending_approval
		check_eq "admission $name: HTTP 202 pending_approval" "202 pending_approval" "$http_got"
		check_eq "admission $name: bulk request pending approval" pending_approval "$(state_of "$rid")"
	else
		wait_for "$SETTLE_S" has_result "$rid"
		bulk_got=$(result_of "$rid" | jq -r '"\(.code) \(.message)"')
		check_eq "admission $name: HTTP answers $want" "$want" "${http_got%% *}"
		check_eq "admission $name: HTTP and bulk give the same code and message" "$http_got" "$bulk_got"
		check_eq "admission $name: bulk request failed, nothing signed" "failed 0" \
			"$(state_of "$rid") $(serials_of "$rid")"
	fi
done

# The same CSR accepted by both when nothing is wrong.
csr ok "ok-$RUN_ID.acme.example" ec
body=$(jq -n --rawfile csr "$TMP/ok.csr" --arg cn "ok-$RUN_ID.acme.example" --arg ca "$ISSUING" \
	'{csr_data: $csr, common_name: $cn, validity_days: 30, ca_id: $ca, extensions: ["server_auth"]}')
http POST "$GATEWAY_URL/csr/process" "$body" -H "$(auth alice)" -H 'Content-Type: application/json'
check_eq "admission ok: HTTP 202" 202 "$HTTP_STATUS"
"${BTOOL[@]}" msg --profile "$PROFILE" --id "adm-ok-$RUN_ID" --csr "$TMP/ok.csr" \
	--cn "ok-$RUN_ID.acme.example" --ca "$ISSUING" --extensions server_auth >"$TMP/ok.json"
kcat_b -P -t "$T_SUBMIT" -k "adm-ok-$RUN_ID" "$TMP/ok.json" 2>/dev/null
if wait_for "$SETTLE_S" state_is "adm-ok-$RUN_ID" issued; then
	pass "admission ok: bulk request issued"
else
	fail "admission ok: bulk request issued" "state: $(state_of "adm-ok-$RUN_ID")"
fi
