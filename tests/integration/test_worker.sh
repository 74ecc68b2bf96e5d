#!/usr/bin/env bash
# pki-worker against the running test stack (real Kafka, Redis, gateway and
# two workers): issuance end to end for CSRs made now by openssl, certtool,
# Python cryptography and keytool; bulk messages straight onto the issue
# topic; the approval gate and its grants; the dead-letter topic; duplicates;
# 500 concurrent submits; long-poll wake-up latency; Redis down mid-run; a
# worker killed mid-load.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

TMP=$PKI_VAR/tmp/worker-test
rm -rf "$TMP"
mkdir -p "$TMP"
TOOL=("$PYTHON" "$ROOT/tests/integration/worker_tool.py")

DEMO=$(dirname "$TEST_CONFIG")
ALICE=$(token alice)
ISSUING=$(cred .cas.issuing)
APPROVAL=$(cred .cas.approval)
ROOT_CERT=$DEMO/$(jq -r '.cas[] | select(.type == "root" or .parent == null) | .cert' "$TEST_CONFIG" | head -n 1)
GRANT_KEY=$DEMO/$(jq -r .grant_key "$TEST_CONFIG")
PREFIX=$(jq -r '.redis.prefix // "pki:"' "$TEST_CONFIG")
T_ISSUE=pki.issue T_RESULTS=pki.results T_ISSUED=pki.issued T_APPROVAL=pki.approval
T_DLQ=pki.issue.dlq T_AUDIT=pki.audit
# Seconds allowed for one request to end, and for a killed worker's share to move.
SETTLE_S=30
TAKEOVER_S=90
LOAD_N=500
LOAD_PAR=50
KDOWN_N=40
KILL_N=400
KILL_PAR=20
LATENCY_MAX_MS=100
LATENCY_SAMPLES=5

state_of() { redis_cli --raw HGET "${PREFIX}req:$1" state; }
field_of() { redis_cli --raw HGET "${PREFIX}req:$1" "$2"; }
state_is() { [[ $(state_of "$1") == "$2" ]]; }
all_issued() {
	local id
	for id in "$@"; do state_is "$id" issued || return 1; done
}

# Whole topic, one value per line.
# Only JSON lines: other suites put plain-text probes on the same topics.
# Values of topic whose JSON field `field` equals value.
topic_find() { topic_dump "$1" | jq -c --arg v "$3" "select(.$2? == \$v)" 2>/dev/null; }
# How many serial reservations name request id (or all of them with no id).
serial_count() {
	redis_cli EVAL "local n = 0
		for _, k in ipairs(redis.call('KEYS', ARGV[1])) do
			if ARGV[2] == '' or redis.call('GET', k) == ARGV[2] then n = n + 1 end
		end
		return n" 0 "${PREFIX}serial:*" "${1:-}"
}
worker_pids() { cat "$PKI_VAR"/run/worker-*.pid 2>/dev/null; }
longpoll_waiting() {
	curl -s --max-time 2 "$GATEWAY_URL/metrics" | grep -qE '^pki_gateway_longpoll_waiting [1-9]'
}
produce() { kcat_b -P -t "$T_ISSUE" -k "$1" "$2"; }

# submit CSR_FILE CN DAYS CA [EXTENSIONS_JSON]: prints the request id (empty on refusal).
submit() {
	local body
	body=$(jq -n --rawfile csr "$1" --arg cn "$2" --argjson d "$3" --arg ca "$4" \
		--argjson ext "${5:-null}" \
		'{csr_data: $csr, common_name: $cn, validity_days: $d, ca_id: $ca}
		 + (if $ext == null then {} else {extensions: $ext} end)')
	http POST "$GATEWAY_URL/csr/process" "$body" -H "$(auth alice)"
	printf 'HTTP %s %s\n' "$HTTP_STATUS" "$HTTP_BODY" >"$TMP/last-submit"
	[[ $HTTP_STATUS == 202 ]] && jq -r .request_id <<<"$HTTP_BODY"
}

# poll ID: long-polls until terminal (SETTLE_S at most); the last answer in REQ.
poll() {
	local deadline=$((SECONDS + SETTLE_S))
	REQ=
	while ((SECONDS < deadline)); do
		http GET "$GATEWAY_URL/csr/requests/$1?wait=5" "" -H "$(auth alice)"
		REQ=$HTTP_BODY
		case $(jq -r .status <<<"$REQ" 2>/dev/null) in
		issued | failed | rejected | expired) return 0 ;;
		esac
	done
	return 1
}

# check_cert NAME CN DAYS "SAN..." EKU: the certificate in REQ chains to the
# root and carries what was asked for.
check_cert() {
	local name=$1 cn=$2 days=$3 sans=$4 eku=$5 d=$TMP/$1 want got nb na now
	mkdir -p "$d"
	jq -r .certificate <<<"$REQ" >"$d/cert.pem"
	jq -r .chain <<<"$REQ" >"$d/chain.pem"
	check "$name: openssl verify -CAfile root -untrusted chain" \
		openssl verify -CAfile "$ROOT_CERT" -untrusted "$d/chain.pem" "$d/cert.pem"
	got=$(openssl x509 -in "$d/cert.pem" -noout -subject -nameopt RFC2253 2>&1)
	check_eq "$name: subject CN" "subject=CN=$cn" "$got"
	want=$(tr ' ' '\n' <<<"$sans" | sed '/^$/d' | sort | paste -sd,)
	got=$(openssl x509 -in "$d/cert.pem" -noout -ext subjectAltName 2>/dev/null | sed 1d |
		tr ',' '\n' | sed 's/^ *//; s/^IP Address:/IP:/' | sed '/^$/d' | sort | paste -sd,)
	check_eq "$name: SANs" "$want" "$got"
	check_eq "$name: SANs in the response" "$(sed 's/DNS://g' <<<"$want")" \
		"$(jq -r '.sans // [] | sort | join(",")' <<<"$REQ")"
	nb=$(date -d "$(openssl x509 -in "$d/cert.pem" -noout -startdate | cut -d= -f2)" +%s)
	na=$(date -d "$(openssl x509 -in "$d/cert.pem" -noout -enddate | cut -d= -f2)" +%s)
	now=$(date +%s)
	# notBefore is backdated at most an hour (never before the CA's own); the
	# period counts both ends (RFC 5280), so it may end one second early.
	if ((na - nb <= days * 86400 && na - nb >= days * 86400 - 1 && nb <= now &&
		nb >= now - 3600 - 60)); then
		pass "$name: validity $days days"
	else
		fail "$name: validity $days days" "notBefore $nb, notAfter $na, now $now"
	fi
	got=$(openssl x509 -in "$d/cert.pem" -noout -ext extendedKeyUsage 2>/dev/null | sed 1d | sed 's/^ *//')
	check_eq "$name: EKU" "$eku" "$got"
	check_eq "$name: serial in response matches certificate" \
		"$(openssl x509 -in "$d/cert.pem" -noout -serial | cut -d= -f2 | tr A-F a-f | sed 's/^0*//')" \
		"$(jq -r .serial <<<"$REQ" | sed 's/^0*//')"
}

# issue_case NAME CSR CN DAYS "SANS" EXT_JSON EKU
issue_case() {
	local name=$1 id
	id=$(submit "$2" "$3" "$4" "$ISSUING" "$6")
	if [[ -z $id ]]; then
		fail "$name: submitted" "$(cat "$TMP/last-submit")"
		return
	fi
	if poll "$id" && [[ $(jq -r .status <<<"$REQ") == issued ]]; then
		pass "$name: issued"
	else
		fail "$name: issued" "$REQ"
		return
	fi
	check_eq "$name: key type in response" "$8" "$(jq -r .key_type <<<"$REQ")"
	check_cert "$name" "$3" "$4" "$5" "$7"
	# The record names its CA's chain, kept once, instead of holding a copy.
	local sha
	sha=$(field_of "$id" chain_sha256)
	check_eq "$name: record holds no chain of its own" "" "$(field_of "$id" chain)"
	check_eq "$name: chain_sha256 is the chain's SHA-256" "$sha" \
		"$(jq -j .chain <<<"$REQ" | sha256sum | cut -d' ' -f1)"
	check_eq "$name: chain kept under ${PREFIX}chain:{sha256}" "$(jq -j .chain <<<"$REQ")" \
		"$(redis_cli --raw GET "${PREFIX}chain:$sha")"
	# Its values all fit Redis's listpack limit (scripts/stack.sh): one allocation.
	check_eq "$name: record kept as one listpack" listpack \
		"$(redis_cli --raw OBJECT ENCODING "${PREFIX}req:$id")"
}

# ------------------------------------------------------------ options
WORKER_BIN=${BUILD:-build/release}/pki-worker
check worker_help_lists_options bash -c \
	'"$0" --help 2>&1 | grep -q -- "--threads N" && "$0" --help 2>&1 | grep -q -- "--lease-seconds N"' \
	"$WORKER_BIN"
check worker_bad_threads_refused bash -c \
	'! "$0" --threads 0 --check-config 2>&1 >/dev/null && "$0" --threads 0 2>&1 | grep -q "threads: must be an integer 1..64, got \"0\""' \
	"$WORKER_BIN"

# ------------------------------------------------------------ CSR tools
cn=ossl-$RUN_ID.acme.example
openssl req -new -newkey rsa:2048 -nodes -keyout "$TMP/ossl.key" -subj "/CN=$cn" \
	-addext "subjectAltName=DNS:$cn,DNS:alt-$cn" -out "$TMP/ossl.csr" 2>/dev/null
issue_case openssl "$TMP/ossl.csr" "$cn" 30 "DNS:$cn DNS:alt-$cn" '["server_auth","client_auth"]' \
	"TLS Web Server Authentication, TLS Web Client Authentication" RSA

cn=gnutls-$RUN_ID.acme.example
certtool --generate-privkey --key-type ecdsa --curve secp256r1 --outfile "$TMP/gnutls.key" 2>/dev/null
printf 'cn = "%s"\ndns_name = "%s"\n' "$cn" "$cn" >"$TMP/gnutls.tmpl"
# certtool prints a text dump before the PEM block; keep the block.
certtool --generate-request --load-privkey "$TMP/gnutls.key" --template "$TMP/gnutls.tmpl" 2>/dev/null |
	sed -n '/^-----BEGIN/,/^-----END/p' >"$TMP/gnutls.csr"
issue_case certtool "$TMP/gnutls.csr" "$cn" 90 "DNS:$cn" null "TLS Web Server Authentication" EC

cn=pyca-$RUN_ID.acme.example
"${TOOL[@]}" csr "$cn" "$cn" "www.$cn" >"$TMP/pyca.csr"
issue_case cryptography "$TMP/pyca.csr" "$cn" 397 "DNS:$cn DNS:www.$cn" '["client_auth"]' \
	"TLS Web Client Authentication" EC

cn=keytool-$RUN_ID.acme.example
keytool -genkeypair -keyalg RSA -keysize 2048 -alias k -dname "CN=$cn" -ext "san=dns:$cn" \
	-keystore "$TMP/ks.p12" -storetype PKCS12 -storepass changeit -keypass changeit \
	>/dev/null 2>&1
keytool -certreq -alias k -keystore "$TMP/ks.p12" -storepass changeit -ext "san=dns:$cn" \
	-file "$TMP/keytool.csr" >/dev/null 2>&1
issue_case keytool "$TMP/keytool.csr" "$cn" 7 "DNS:$cn" null "TLS Web Server Authentication" RSA

# The repository's fixture of every generator: its names (under example.com)
# are not acme's, so each is refused, one name_not_allowed per name, and
# nothing is queued. (test_issue_flow.sh issues them under a config whose
# tenant may have them.)
for f in tests/fixtures/csr/good/{openssl-p384,certtool-rsa2048,pyca-p256,keytool-p256}.pem; do
	[[ -f $f ]] || continue
	fcn=$(openssl req -in "$f" -noout -subject -nameopt RFC2253 2>/dev/null | sed -n 's/^subject=.*CN=\([^,]*\).*/\1/p')
	id=$(submit "$f" "$fcn" 30 "$ISSUING")
	read -r _ st body <"$TMP/last-submit"
	check_eq "fixture $(basename "$f" .pem): refused, name_not_allowed for the CN and its www SAN" \
		"422 name_not_allowed:$fcn name_not_allowed:www.$fcn " \
		"$st $(jq -r '[.violations[] | "\(.code):\(.message | split(" ")[2] | rtrimstr(":"))"] | join(" ")' <<<"$body") $id"
done

# ------------------------------------------------------------ bulk messages
cn=bulk-$RUN_ID.acme.example
"${TOOL[@]}" csr "$cn" "$cn" >"$TMP/bulk.csr"
batch=batch-$RUN_ID
id=bulk-$RUN_ID
"${TOOL[@]}" msg --id "$id" --csr "$TMP/bulk.csr" --cn "$cn" --days 60 --ca "$ISSUING" \
	--tenant acme --requester alice --batch "$batch" >"$TMP/bulk.json"
produce "$id" "$TMP/bulk.json"
if wait_for "$SETTLE_S" state_is "$id" issued; then
	pass "bulk message for $ISSUING: issued without passing the gateway"
else
	fail "bulk message for $ISSUING: issued without passing the gateway" "state: $(state_of "$id")"
fi
http GET "$GATEWAY_URL/csr/requests/$id" "" -H "$(auth admin)"
REQ=$HTTP_BODY
check_eq "bulk: record readable through the gateway by the tenant's admin" issued "$(jq -r .status <<<"$REQ")"
check_cert "bulk" "$cn" 60 "DNS:$cn" "TLS Web Server Authentication"
serial=$(field_of "$id" serial)
res=$(topic_find "$T_RESULTS" request_id "$id")
check_eq "bulk: one result on $T_RESULTS, issued, with serial and batch" "issued $serial $batch" \
	"$(jq -r '[.status, .serial, .batch_id] | join(" ")' <<<"$res")"
res=$(topic_find "$T_ISSUED" request_id "$id")
check_eq "bulk: one message on $T_ISSUED with the serial" "$serial" "$(jq -r .serial <<<"$res")"
check_eq "bulk: batch counter issued=1" 1 "$(redis_cli --raw HGET "${PREFIX}batch:$batch" issued)"
# One key's messages may span partitions (docs/architecture.md): the events, not their order.
got=$(topic_find "$T_AUDIT" request_id "$id" | jq -s -r '[.[].event | select(. == "claimed" or . == "linted" or . == "issued")] | sort | join(" ")')
check_eq "bulk: audit events claimed, linted, issued" "claimed issued linted" "$got"

# A bulk message that breaks the CA's policy ends failed, with its code, counted once.
id=bulkbad-$RUN_ID
"${TOOL[@]}" msg --id "$id" --csr "$TMP/bulk.csr" --cn "other-$cn" --days 60 --ca "$ISSUING" \
	--tenant acme --requester alice --batch "$batch" >"$TMP/bulkbad.json"
produce "$id" "$TMP/bulkbad.json"
if wait_for "$SETTLE_S" state_is "$id" failed; then
	pass "bulk message with CN not in the CSR: failed"
else
	fail "bulk message with CN not in the CSR: failed" "state: $(state_of "$id")"
fi
res=$(topic_find "$T_RESULTS" request_id "$id")
check_eq "bulk policy failure: result failed with the record's code" \
	"failed $(field_of "$id" error_code)" "$(jq -r '[.status, .code] | join(" ")' <<<"$res")"
[[ -n $(field_of "$id" error_code) && -z $(field_of "$id" serial) ]] &&
	pass "bulk policy failure: error code recorded, no serial" ||
	fail "bulk policy failure: error code recorded, no serial" "$(redis_cli HGETALL "${PREFIX}req:$id")"
check_eq "bulk policy failure: batch counter failed=1" 1 "$(redis_cli --raw HGET "${PREFIX}batch:$batch" failed)"

# A field in a message is a claim: a requester no user has, a tenant the
# requester does not belong to, a CA the requester may not use, a name
# outside the tenant's names: each ends failed with the admission's code,
# and nothing is signed.
gcn=www-$RUN_ID.globex.example
"${TOOL[@]}" csr "$gcn" "$gcn" >"$TMP/globex.csr"
for spec in "mallory acme $ISSUING requester_unknown" \
	"alice globex $(cred .cas.globex) tenant_not_allowed" "bob globex $ISSUING ca_not_found" \
	"alice acme $ISSUING name_not_allowed globex $gcn"; do
	read -r who tenant ca code csr mcn <<<"$spec"
	id=claim-$who-$code-$RUN_ID
	"${TOOL[@]}" msg --id "$id" --csr "$TMP/${csr:-bulk}.csr" --cn "${mcn:-$cn}" --days 60 \
		--ca "$ca" --tenant "$tenant" --requester "$who" >"$TMP/$id.json"
	produce "$id" "$TMP/$id.json"
	name="issue topic: requester $who, tenant $tenant, CA $ca: failed $code, not signed"
	if wait_for "$SETTLE_S" state_is "$id" failed; then
		check_eq "$name" "$code 0" "$(field_of "$id" error_code) $(serial_count "$id")"
	else
		fail "$name" "state: $(state_of "$id")"
	fi
done

# ------------------------------------------------------------ approval CA
cn=appr-$RUN_ID.acme.example
"${TOOL[@]}" csr "$cn" "$cn" >"$TMP/appr.csr"
# approval_case NAME GRANT EXPECTED_STATE
approval_case() {
	local name=$1 grant=$2 want=$3 id=appr-$2-$RUN_ID
	local -a g=()
	[[ $grant != none ]] && g=(--grant "$grant" --grant-key "$GRANT_KEY")
	"${TOOL[@]}" msg --id "$id" --csr "$TMP/appr.csr" --cn "$cn" --days 30 --ca "$APPROVAL" \
		--tenant acme --requester alice "${g[@]}" >"$TMP/$id.json"
	produce "$id" "$TMP/$id.json"
	if wait_for "$SETTLE_S" state_is "$id" "$want"; then
		pass "$name: $want"
	else
		fail "$name: $want" "state: $(state_of "$id")"
	fi
	if [[ $want == pending_approval ]]; then
		check_eq "$name: no certificate, no serial reserved" "none 0" \
			"$(field_of "$id" certificate | grep -q . && echo some || echo none) $(serial_count "$id")"
		[[ -n $(topic_find "$T_APPROVAL" request.request_id "$id") ]] &&
			pass "$name: sent to $T_APPROVAL" || fail "$name: sent to $T_APPROVAL"
	fi
}
approval_case "bulk message for $APPROVAL without grant" none pending_approval
approval_case "bulk message for $APPROVAL with a forged grant" forged pending_approval
approval_case "bulk message for $APPROVAL with an expired grant" expired pending_approval
approval_case "bulk message for $APPROVAL with a valid grant" valid issued
got=$(topic_find "$T_APPROVAL" request.request_id "appr-forged-$RUN_ID" | jq -r .reason)
check_contains "forged grant: approval reason names the MAC" "MAC" "$got"

# ------------------------------------------------------------ dead letters
printf 'not json at all %s \001\002\377' "$RUN_ID" >"$TMP/garbage.bin"
produce "garbage-$RUN_ID" "$TMP/garbage.bin"
want=$(base64 -w0 "$TMP/garbage.bin")
if wait_for "$SETTLE_S" bash -c "kcat -F '$KCAT_ADMIN_CONF' -b '$KAFKA_BROKERS' -C -t '$T_DLQ' -o beginning -e -q -f '%s\n' | grep -qF '$want'"; then
	pass "garbage bytes go to $T_DLQ with the original bytes"
else
	fail "garbage bytes go to $T_DLQ with the original bytes"
fi
got=$(topic_dump "$T_DLQ" | jq -c --arg w "$want" 'select(.value_base64 == $w)' | head -n 1)
check_eq "dead letter names its source and carries an error" "$T_ISSUE garbage-$RUN_ID true" \
	"$(jq -r '[.topic, .key, (.error | length > 0)] | join(" ")' <<<"$got")"
# A key that is not UTF-8 text is kept as key_base64 (the dead letter stays valid JSON).
bkey=$(printf 'bin-%s-\377\376' "$RUN_ID" | base64 -w0)
printf 'bin-%s-\377\376|not json %s' "$RUN_ID" "$RUN_ID" | kcat_b -P -t "$T_ISSUE" -K '|'
if wait_for "$SETTLE_S" bash -c "kcat -F '$KCAT_ADMIN_CONF' -b '$KAFKA_BROKERS' -C -t '$T_DLQ' -o beginning -e -q -f '%s\n' | grep -qF '$bkey'"; then
	got=$(topic_dump "$T_DLQ" | jq -c --arg k "$bkey" 'select(.key_base64 == $k)' | head -n 1)
	check_eq "binary key: dead letter carries key_base64, no key" "true false" \
		"$(jq -r '[(.value_base64 | @base64d | startswith("not json")), has("key")] | join(" ")' <<<"$got")"
else
	fail "binary key: dead letter carries key_base64, no key" "no dead letter with key_base64 $bkey"
fi
jq -c 'del(.csr)' "$TMP/bulk.json" | sed "s/bulk-$RUN_ID/nocsr-$RUN_ID/" >"$TMP/nocsr.json"
produce "nocsr-$RUN_ID" "$TMP/nocsr.json"
wait_for "$SETTLE_S" bash -c "kcat -F '$KCAT_ADMIN_CONF' -b '$KAFKA_BROKERS' -C -t '$T_DLQ' -o beginning -e -q -f '%s\n' | grep -qF 'nocsr-$RUN_ID'"
got=$(topic_find "$T_DLQ" key "nocsr-$RUN_ID" | jq -r .error)
check_contains "schema-invalid message: dead letter names the missing field" "csr" "$got"
check_eq "schema-invalid message: no record made" "" "$(state_of "nocsr-$RUN_ID")"

# ------------------------------------------------------------ duplicates
id=dup-$RUN_ID
cn=dup-$RUN_ID.acme.example
"${TOOL[@]}" csr "$cn" "$cn" >"$TMP/dup.csr"
"${TOOL[@]}" msg --id "$id" --csr "$TMP/dup.csr" --cn "$cn" --ca "$ISSUING" --tenant acme \
	--requester alice >"$TMP/dup.json"
"${TOOL[@]}" msg --id "dupsentinel-$RUN_ID" --csr "$TMP/dup.csr" --cn "$cn" --ca "$ISSUING" \
	--tenant acme --requester alice >"$TMP/dupsentinel.json"
# Same key: same partition, processed in order, so the sentinel ends after both copies.
cat "$TMP/dup.json" "$TMP/dup.json" "$TMP/dupsentinel.json" | kcat_b -P -t "$T_ISSUE" -k "$id"
if wait_for "$SETTLE_S" state_is "dupsentinel-$RUN_ID" issued && state_is "$id" issued; then
	pass "same message twice: issued"
else
	fail "same message twice: issued" "state: $(state_of "$id")"
fi
check_eq "same message twice: one serial reserved" 1 "$(serial_count "$id")"
check_eq "same message twice: one certificate on $T_ISSUED" 1 \
	"$(topic_find "$T_ISSUED" request_id "$id" | jq -r .serial | sort -u | wc -l)"
check_eq "same message twice: one issued audit event" 1 \
	"$(topic_find "$T_AUDIT" request_id "$id" | jq -r 'select(.event == "issued") | .event' | wc -l)"
# A message reusing a recorded request id with another CSR is not acted on.
"${TOOL[@]}" msg --id "$id" --csr "$TMP/bulk.csr" --cn "bulk-$RUN_ID.acme.example" --ca "$ISSUING" \
	--tenant acme --requester alice >"$TMP/hijack.json"
produce "$id" "$TMP/hijack.json"
wait_for "$SETTLE_S" bash -c "kcat -F '$KCAT_ADMIN_CONF' -b '$KAFKA_BROKERS' -C -t '$T_DLQ' -o beginning -e -q -f '%s\n' | grep -F '\"key\":\"$id\"' | grep -q 'another csr'"
check_contains "request id reused with another CSR: refused to $T_DLQ" "another csr" \
	"$(topic_find "$T_DLQ" key "$id" | jq -r .error)"
check_eq "request id reused with another CSR: still one serial" 1 "$(serial_count "$id")"

# ------------------------------------------------------------ crashed claim holders
# A record left `issuing` by a worker that died after claiming: the next copy
# of the message re-takes the claim once it is older than the lease (10 s by
# default), never while it is fresh, and the request ends with one certificate.
# claim_case NAME AGE_S: AGE_S is how old the dead worker's claim is.
claim_case() {
	local name=$1 age=$2 id=ghost-$2-$RUN_ID cn now
	cn=$id.acme.example
	"${TOOL[@]}" csr "$cn" "$cn" >"$TMP/$id.csr"
	"${TOOL[@]}" msg --id "$id" --csr "$TMP/$id.csr" --cn "$cn" --ca "$ISSUING" --tenant acme \
		--requester alice >"$TMP/$id.json"
	now=$(redis_cli --raw TIME | head -n 1)
	redis_cli HSET "${PREFIX}req:$id" id "$id" state issuing tenant acme requester alice \
		ca_id "$ISSUING" common_name "$cn" validity_days 30 \
		csr_sha256 "$(sha256sum <"$TMP/$id.csr" | cut -d' ' -f1)" \
		claim ghost/1/t0/1 claimed_at $((now - age)) created "$now" updated "$now" >/dev/null
	produce "$id" "$TMP/$id.json"
	if ((age < 10)); then
		sleep 3
		check_eq "$name: not taken while the claim is fresh" issuing "$(state_of "$id")"
	fi
	if wait_for "$SETTLE_S" state_is "$id" issued; then
		pass "$name: re-taken and issued"
	else
		fail "$name: re-taken and issued" "state: $(state_of "$id")"
	fi
	check_eq "$name: one re-take, one serial, new holder" "1 1 ghost=no" \
		"$(field_of "$id" reclaims) $(serial_count "$id") ghost=$([[ $(field_of "$id" claim) == ghost/* ]] && echo yes || echo no)"
	check_contains "$name: audit says the stale claim was re-taken" "re-took" \
		"$(topic_find "$T_AUDIT" request_id "$id" | jq -r 'select(.event == "claimed") | .detail')"
}
claim_case "claim of a dead worker, 60 s old" 60
claim_case "claim of a dead worker, fresh" 0

# ------------------------------------------------------------ long-poll latency
latencies=()
pids=$(worker_pids)
for ((i = 0; i < LATENCY_SAMPLES; i++)); do
	cn=lp-$i-$RUN_ID.acme.example
	"${TOOL[@]}" csr "$cn" "$cn" >"$TMP/lp.csr"
	# Workers paused: the long-poll is surely waiting before the certificate exists.
	# shellcheck disable=SC2086
	kill -STOP $pids
	id=$(submit "$TMP/lp.csr" "$cn" 30 "$ISSUING")
	"${TOOL[@]}" longpoll "$GATEWAY_URL" "$ALICE" "$id" 10 >"$TMP/lp.json" &
	lp=$!
	# Resume the workers once the gateway holds the long-poll.
	wait_for 5 longpoll_waiting
	# shellcheck disable=SC2086
	kill -CONT $pids
	wait "$lp"
	fin=$(field_of "$id" finished_ms)
	read -r start end st < <(jq -r '"\(.start_ms) \(.end_ms) \(.status)"' "$TMP/lp.json")
	if [[ $st != issued || -z $fin ]] || ((start >= fin)); then
		fail "long-poll sample $i waits for issuance" "status $st start $start finished $fin"
		continue
	fi
	latencies+=($((end - fin)))
done
max=$(printf '%s\n' "${latencies[@]}" | sort -n | tail -n 1)
if ((${#latencies[@]} == LATENCY_SAMPLES && max <= LATENCY_MAX_MS)); then
	pass "long-poll answers within ${LATENCY_MAX_MS} ms of issuance (ms: ${latencies[*]})"
else
	fail "long-poll answers within ${LATENCY_MAX_MS} ms of issuance" "ms: ${latencies[*]}"
fi
echo "measure longpoll_wake_ms=${latencies[*]}"

# ------------------------------------------------------------ Redis down mid-run
ids=()
before=$(serial_count)
stop_redis
for ((i = 0; i < 5; i++)); do
	id=rdown-$i-$RUN_ID
	cn=$id.acme.example
	"${TOOL[@]}" csr "$cn" "$cn" >"$TMP/$id.csr"
	"${TOOL[@]}" msg --id "$id" --csr "$TMP/$id.csr" --cn "$cn" --ca "$ISSUING" --tenant acme \
		--requester alice >"$TMP/$id.json"
	produce "$id" "$TMP/$id.json"
	ids+=("$id")
done
sleep 2
start_redis
ok=1
wait_for "$SETTLE_S" all_issued "${ids[@]}" || ok=0
((ok)) && pass "Redis down mid-run: messages wait and are issued after it returns" ||
	fail "Redis down mid-run: messages wait and are issued after it returns" \
		"$(for id in "${ids[@]}"; do echo "$id $(state_of "$id")"; done)"
check_eq "Redis down mid-run: one serial per request" 5 $(($(serial_count) - before))

# ------------------------------------------------------------ Kafka down mid-run
# Bulk messages in flight when the broker stops: results that cannot be
# published are retried, offsets not committed come again, and every request
# still ends with one certificate once the broker is back.
ids=()
: >"$TMP/kdown.json"
for ((i = 0; i < KDOWN_N; i++)); do
	id=kdown-$i-$RUN_ID
	"${TOOL[@]}" msg --id "$id" --csr "$TMP/dup.csr" --cn "dup-$RUN_ID.acme.example" --ca "$ISSUING" \
		--tenant acme --requester alice >>"$TMP/kdown.json"
	ids+=("$id")
done
# One message a line, no key: spread over the partitions.
kcat_b -P -t "$T_ISSUE" <"$TMP/kdown.json"
stop_kafka
sleep 1
start_kafka
ok=1
wait_for "$TAKEOVER_S" all_issued "${ids[@]}" || ok=0
((ok)) && pass "Kafka stopped mid-run: every message issued after it returns" ||
	fail "Kafka stopped mid-run: every message issued after it returns" \
		"$(for id in "${ids[@]}"; do echo "$id $(state_of "$id")"; done | grep -v ' issued$' | head)"
bad=0
for id in "${ids[@]}"; do (($(serial_count "$id") == 1)) || bad=$((bad + 1)); done
check_eq "Kafka stopped mid-run: one serial per request" 0 "$bad"
wait_for "$SETTLE_S" bash -c "[[ \$(kcat -F '$KCAT_ADMIN_CONF' -b '$KAFKA_BROKERS' -C -t '$T_RESULTS' -o beginning -e -q -f '%s\n' | grep -c 'kdown-[0-9]*-$RUN_ID') -ge $KDOWN_N ]]"
got=$(topic_dump "$T_ISSUED" | jq -r --arg r "$RUN_ID" 'select(.request_id | test("^kdown-[0-9]+-" + $r + "$")) | "\(.request_id) \(.serial)"' | sort -u)
check_eq "Kafka stopped mid-run: one certificate per request on $T_ISSUED" "$KDOWN_N $KDOWN_N" \
	"$(cut -d' ' -f1 <<<"$got" | sed '/^$/d' | sort -u | wc -l) $(sed '/^$/d' <<<"$got" | wc -l)"

# ------------------------------------------------------------ 500 concurrent submits
before=$(serial_count)
"${TOOL[@]}" load "$GATEWAY_URL" "$ALICE" "$ISSUING" "$LOAD_N" "$LOAD_PAR" >"$TMP/load.json"
read -r acc iss uniq ms < <(jq -r '"\(.accepted) \(.issued) \(.unique_serials) \(.elapsed_ms)"' "$TMP/load.json")
check_eq "$LOAD_N concurrent submits: all accepted, issued, serials unique" \
	"$LOAD_N $LOAD_N $LOAD_N" "$acc $iss $uniq"
check_eq "$LOAD_N concurrent submits: $LOAD_N serial keys reserved" "$LOAD_N" $(($(serial_count) - before))
jq -r '.ids[]' "$TMP/load.json" | sort >"$TMP/load.ids"
topic_dump "$T_ISSUED" | jq -r '.request_id' | sort | grep -Fxf "$TMP/load.ids" >"$TMP/load.issued"
check_eq "$LOAD_N concurrent submits: one message each on $T_ISSUED" "$LOAD_N 0" \
	"$(wc -l <"$TMP/load.issued") $(uniq -d "$TMP/load.issued" | wc -l)"
echo "measure concurrent_submits=$LOAD_N parallel=$LOAD_PAR submit_to_all_issued_ms=$ms"

# ------------------------------------------------------------ worker killed mid-load
victim=$(cat "$PKI_VAR/run/worker-1.pid" 2>/dev/null)
before=$(serial_count)
off=$(stat -c %s "$PKI_VAR/log/worker-1.log")
"${TOOL[@]}" load "$GATEWAY_URL" "$ALICE" "$ISSUING" "$KILL_N" "$KILL_PAR" >"$TMP/kill.json" &
loadpid=$!
# Kill once this worker has signed a few of them, while the load still runs.
wait_for "$SETTLE_S" bash -c "(( \$(tail -c +$((off + 1)) '$PKI_VAR/log/worker-1.log' | grep -c 'audit issued') >= 10 ))"
t0=$SECONDS
kill -KILL "$victim" 2>/dev/null
if kill -0 "$loadpid" 2>/dev/null; then
	pass "worker SIGKILLed while the load runs"
else
	fail "worker SIGKILLed while the load runs" "the load had already finished"
fi
wait "$loadpid"
took=$((SECONDS - t0))
read -r acc iss uniq < <(jq -r '"\(.accepted) \(.issued) \(.unique_serials)"' "$TMP/kill.json")
check_eq "worker SIGKILLed mid-load: every request issued, serials unique" "$KILL_N $KILL_N $KILL_N" "$acc $iss $uniq"
if ((took <= TAKEOVER_S)); then
	pass "worker SIGKILLed mid-load: the other worker finished within ${TAKEOVER_S}s (${took}s)"
else
	fail "worker SIGKILLed mid-load: the other worker finished within ${TAKEOVER_S}s" "${took}s"
fi
jq -r '.ids[]' "$TMP/kill.json" | sort >"$TMP/kill.ids"
topic_dump "$T_ISSUED" | jq -r '"\(.request_id) \(.serial)"' | sort -u |
	awk 'NR == FNR { want[$1] = 1; next } ($1 in want) { print $1 }' "$TMP/kill.ids" - >"$TMP/kill.issued"
check_eq "worker SIGKILLed mid-load: one certificate per request on $T_ISSUED" "$KILL_N 0" \
	"$(sort -u "$TMP/kill.issued" | wc -l) $(uniq -d "$TMP/kill.issued" | wc -l)"
check_eq "worker SIGKILLed mid-load: no request left issuing" 0 \
	"$(for id in $(cat "$TMP/kill.ids"); do state_of "$id"; done | grep -vc '^issued$')"
echo "measure sigkill_requests=$KILL_N all_issued_after_kill_s=$took serials_reserved=$(($(serial_count) - before))"
# Back to two workers for the suites after this one: the killed one is
# started again as the stack starts it (its marker, pidfile and log).
spawn_worker() {
	local var
	var=$(cd "$PKI_VAR" && pwd)
	setsid env PKI_STACK_VAR="$var" PKI_CONFIG="$TEST_CONFIG" PKI_KAFKA_BROKERS="$KAFKA_BROKERS" \
		PKI_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" PKI_WORKER_NAME=worker-1 \
		"${BUILD:-build/release}/pki-worker" >>"$PKI_VAR/log/worker-1.log" 2>&1 </dev/null &
	echo $! >"$PKI_VAR/run/worker-1.pid"
}
off=$(stat -c %s "$PKI_VAR/log/worker-1.log")
spawn_worker
if wait_for 60 bash -c "tail -c +$((off + 1)) '$PKI_VAR/log/worker-1.log' | grep -F '\"msg\":\"ready\"' >/dev/null"; then
	pass "killed worker restarted and rejoined the group"
else
	fail "killed worker restarted and rejoined the group" "$(tail -n 5 "$PKI_VAR/log/worker-1.log")"
fi

# --- every message on the stack's output topics matches its schema -----------
# (the whole run so far: this suite's and the earlier suites'; plain-text
# probes of the stack suite are left out by topic_dump)
for t in "$T_RESULTS:result" "$T_ISSUED:issued" "$T_APPROVAL:approval" "$T_AUDIT:audit" \
	"$T_DLQ:dlq" "pki.notify:notify"; do
	topic_dump "${t%%:*}" >"$TMP/schema.jsonl"
	if out=$("$PYTHON" tests/integration/check_schemas.py schemas "${t##*:}.schema.json" "$TMP/schema.jsonl" 2>&1); then
		pass "every message on ${t%%:*} matches schemas/${t##*:}.schema.json ($out)"
	else
		fail "every message on ${t%%:*} matches schemas/${t##*:}.schema.json" "$out"
	fi
done
# The audit schema names exactly the events the code can emit.
coded=$(sed -n 's/^#define AUDIT_[A-Z_]* "\([a-z_]*\)".*/\1/p' lib/wire/audit.h | sort)
schema=$(jq -r '.properties.event.enum[]' schemas/audit.schema.json | sort)
check_eq "audit events in lib/wire/audit.h and schemas/audit.schema.json agree" "$coded" "$schema"
if grep -rnE '(ap_audit|submit_audit|job_audit)\([^,]+, "' approver gateway workers; then
	fail "audit event names come from lib/wire/audit.h" "string literals above"
else
	pass "audit event names come from lib/wire/audit.h"
fi
