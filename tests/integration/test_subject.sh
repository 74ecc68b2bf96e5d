#!/usr/bin/env bash
# The subject policy over HTTP on the demo stack, as alice (tenant acme,
# organizations "Acme Corp" and "Acme"), with CSRs from openssl, keytool,
# certtool and Python cryptography:
#   demo-issuing (the private default): the subjects people type and tools
#     write are issued; an O of another tenant is dropped with a warning;
#     emailAddress is dropped; no CA/B Forum policy identifier;
#   demo-strict: OU refused, L required, C fixed to FR, a foreign O refused;
#   demo-cabf (profile cabf_tls): DV/OV shapes, no OU, at most 398 days,
#     the DV/OV policy identifiers.
# The 202 answer and the poll show the subject and the warnings; the record
# holds them (Redis fields subject, warnings); what is issued passes
# openssl verify and pkilint (RFC 5280; CA/B Forum for demo-cabf).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

TMP=$PKI_VAR/tmp/subject-test
rm -rf "$TMP"
mkdir -p "$TMP/pkilint"
PREFIX=$(jq -r '.redis.prefix // "pki:"' "$TEST_CONFIG")
ISSUING=$(cred .cas.issuing) STRICT=$(cred .cas.strict) CABF=$(cred .cas.cabf)
ROOT_PEM=$PKI_VAR/demo/cas/$(cred .cas.root).crt
ANSWERS=$TMP/answers.jsonl

# ossl NAME SUBJ CN: openssl req -subj SUBJ (a DNS SAN of CN) into $TMP/NAME.csr.
ossl() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/$1.key" \
		-subj "$2" -addext "subjectAltName=DNS:$3" -out "$TMP/$1.csr" 2>/dev/null
}

# submit NAME CA CN [DAYS]: POST /csr/process as alice; HTTP_STATUS, HTTP_BODY.
submit() {
	local body
	body=$(jq -n --rawfile csr "$TMP/$1.csr" --arg cn "$3" --arg ca "$2" --argjson d "${4:-30}" \
		'{csr_data: $csr, common_name: $cn, validity_days: $d, ca_id: $ca}')
	http POST "$GATEWAY_URL/csr/process" "$body" -H "$(auth alice)"
	answer_keep "$ANSWERS" POST /csr/process "$HTTP_STATUS" application/json "$HTTP_BODY"
}

# poll ID: long-polls until issued or failed; HTTP_BODY holds the last answer.
poll() {
	local i
	for ((i = 0; i < 3; i++)); do
		http GET "$GATEWAY_URL/csr/requests/$1?wait=10" "" -H "$(auth alice)"
		case $(jq -r .status <<<"$HTTP_BODY") in issued | failed) break ;; esac
	done
	answer_keep "$ANSWERS" GET "/csr/requests/$1" "$HTTP_STATUS" application/json "$HTTP_BODY"
}

# issued NAME CA CN WANT_SUBJECT WANT_WARNINGS_JSON [DAYS]: submits NAME,
# expects 202 with that subject and those warnings ([code...]), polls until
# issued, checks the poll says the same and the certificate carries it.
# The certificate is kept for pkilint.
issued() {
	local name=$1 ca=$2 cn=$3 want=$4 warns=$5 id cert
	submit "$name" "$ca" "$cn" "${6:-30}"
	check_eq "subject $name: 202" 202 "$HTTP_STATUS"
	check_eq "subject $name: answer subject" "$want" "$(jq -r .subject <<<"$HTTP_BODY")"
	check_eq "subject $name: answer warnings" "$warns" "$(jq -c '[.warnings[].code]' <<<"$HTTP_BODY")"
	id=$(jq -r .request_id <<<"$HTTP_BODY")
	WARNINGS=$(jq -c .warnings <<<"$HTTP_BODY")
	poll "$id"
	check_eq "subject $name: issued" issued "$(jq -r .status <<<"$HTTP_BODY")"
	check_eq "subject $name: poll subject" "$want" "$(jq -r .subject <<<"$HTTP_BODY")"
	check_eq "subject $name: poll warnings" "$WARNINGS" "$(jq -c .warnings <<<"$HTTP_BODY")"
	cert=$TMP/pkilint/$name.crt
	jq -r .certificate <<<"$HTTP_BODY" >"$cert"
	jq -r .chain <<<"$HTTP_BODY" >"$TMP/pkilint/$name.chain.pem"
	cp "$ROOT_PEM" "$TMP/pkilint/$name.root.pem"
	# RFC 5280 lints for all: the CA/B Forum ones would call the demo's names
	# (acme.example, URLs on 127.0.0.1) internal and count 200 days as the
	# longest validity since 2026-03 (ballot SC-081), not the profile's 398.
	echo '{"server_auth": true, "rfc5280_only": true}' >"$TMP/pkilint/$name.json"
	check "subject $name: openssl verify" openssl verify -x509_strict -purpose sslserver \
		-CAfile "$ROOT_PEM" -untrusted "$TMP/pkilint/$name.chain.pem" "$cert"
	check_eq "subject $name: certificate subject" "$want" \
		"$(openssl x509 -in "$cert" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')"
	LAST_ID=$id LAST_CERT=$cert
}

# refused NAME CA CN CODE [DAYS]: 422 with that code as the answer's error.
refused() {
	submit "$1" "$2" "$3" "${5:-30}"
	check_eq "subject $1: 422 $4" "422 $4" "$HTTP_STATUS $(jq -r .error.code <<<"$HTTP_BODY")"
	REFUSAL=$(jq -r .error.message <<<"$HTTP_BODY")
}

# policies CERT: the certificatePolicies OIDs of CERT, or "none".
policies() {
	local p
	p=$(openssl x509 -in "$1" -noout -ext certificatePolicies 2>/dev/null | sed -n 's/^ *Policy: //p')
	echo "${p:-none}"
}

cn() { echo "$1-$RANDOM-$RUN_ID.acme.example"; }

# --- demo-issuing: the private default -------------------------------------

# The issue's example: openssl req -subj "/C=FR/O=Acme/CN=www.acme.example".
c=$(cn www)
ossl typed "/C=FR/O=Acme/CN=$c" "$c"
issued typed "$ISSUING" "$c" "CN=$c,O=Acme,C=FR" '[]'
check_eq "subject typed: no CA/B Forum policy from a private CA" none "$(policies "$LAST_CERT")"
check_eq "subject typed: record subject" "CN=$c,O=Acme,C=FR" \
	"$(redis_cli --raw HGET "${PREFIX}req:$LAST_ID" subject)"
check_eq "subject typed: record warnings" '[]' "$(redis_cli --raw HGET "${PREFIX}req:$LAST_ID" warnings)"

# Java keytool, its usual -dname (CN, OU, O, L, ST, C), label NEW CERTIFICATE REQUEST.
c=$(cn kt)
ks=$TMP/kt.p12
keytool -genkeypair -keystore "$ks" -storetype PKCS12 -storepass changeit -alias k -keyalg EC \
	-groupname secp256r1 -dname "CN=$c, OU=Sales, O=Acme Corp, L=Paris, ST=Ile-de-France, C=FR" \
	-ext "SAN=dns:$c" >/dev/null 2>&1
keytool -certreq -keystore "$ks" -storepass changeit -alias k -ext "SAN=dns:$c" \
	-file "$TMP/keytool.csr" >/dev/null 2>&1
issued keytool "$ISSUING" "$c" "CN=$c,OU=Sales,O=Acme Corp,L=Paris,ST=Ile-de-France,C=FR" '[]'
# The same CSR at demo-strict: OU refused.
cp "$TMP/keytool.csr" "$TMP/keytool-strict.csr"
refused keytool-strict "$STRICT" "$c" subject_attribute_not_allowed
check_contains "subject keytool-strict: message" \
	"subject OU=Sales: CA $STRICT refuses OU (subject.attributes.OU: refuse)" "$REFUSAL"

# GnuTLS certtool, from a template with O of another tenant: dropped, with a warning.
c=$(cn ct)
certtool --generate-privkey --key-type ecdsa --curve secp256r1 --outfile "$TMP/ct.key" 2>/dev/null
printf 'cn = "%s"\norganization = "Globex"\ncountry = FR\ndns_name = "%s"\n' "$c" "$c" >"$TMP/ct.tmpl"
certtool --generate-request --load-privkey "$TMP/ct.key" --template "$TMP/ct.tmpl" 2>/dev/null |
	sed -n '/-----BEGIN/,/-----END/p' >"$TMP/certtool.csr"
issued certtool "$ISSUING" "$c" "CN=$c,C=FR" '["subject_attribute_dropped"]'
check_eq "subject certtool: warning message" \
	"O=Globex dropped: not one of tenant acme's organizations (Acme Corp, Acme)" \
	"$(jq -r '.[0].message' <<<"$WARNINGS")"
check_eq "subject certtool: record warnings" "$WARNINGS" \
	"$(redis_cli --raw HGET "${PREFIX}req:$LAST_ID" warnings)"

# Python cryptography, with an emailAddress (dropped by default) and O Acme Corp.
c=$(cn py)
"$PYTHON" - "$c" "$TMP/pyca.csr" <<'EOF'
import sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
cn, out = sys.argv[1], sys.argv[2]
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                  x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme Corp"),
                  x509.NameAttribute(NameOID.COMMON_NAME, cn),
                  x509.NameAttribute(NameOID.EMAIL_ADDRESS, "pki@acme.example")])
csr = (x509.CertificateSigningRequestBuilder().subject_name(name)
       .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
       .sign(key, hashes.SHA256()))
open(out, "wb").write(csr.public_bytes(serialization.Encoding.PEM))
EOF
issued pyca "$ISSUING" "$c" "CN=$c,O=Acme Corp,C=FR" '["subject_attribute_dropped"]'
check_eq "subject pyca: warning message" \
	"emailAddress=pki@acme.example dropped: CA $ISSUING drops emailAddress" \
	"$(jq -r '.[0].message' <<<"$WARNINGS")"

# --- demo-strict: refuse, required, fixed, organization refuse --------------

c=$(cn strict)
ossl strict-ok "/C=US/L=Paris/O=Acme/CN=$c" "$c"
issued strict-ok "$STRICT" "$c" "CN=$c,O=Acme,L=Paris,C=FR" '["subject_attribute_fixed"]'
check_eq "subject strict-ok: warning message" "C=US replaced: CA $STRICT fixes C=FR" \
	"$(jq -r '.[0].message' <<<"$WARNINGS")"
c=$(cn strict)
ossl strict-no-l "/O=Acme/CN=$c" "$c"
refused strict-no-l "$STRICT" "$c" subject_attribute_missing
check_eq "subject strict-no-l: message" \
	"subject has no L: CA $STRICT requires it (subject.attributes.L: required)" "$REFUSAL"
c=$(cn strict)
ossl strict-globex "/L=Paris/O=Globex/CN=$c" "$c"
refused strict-globex "$STRICT" "$c" organization_not_allowed
check_eq "subject strict-globex: message" \
	"subject O=Globex: not one of tenant acme's organizations (Acme Corp, Acme); CA $STRICT refuses it" \
	"$REFUSAL"

# --- demo-cabf: the CA/Browser Forum TLS profile ------------------------------

c=$(cn dv)
ossl cabf-dv "/C=FR/CN=$c" "$c"
issued cabf-dv "$CABF" "$c" "CN=$c,C=FR" '[]' 398
check_eq "subject cabf-dv: DV policy identifier" 2.23.140.1.2.1 "$(policies "$LAST_CERT")"
c=$(cn ov)
ossl cabf-ov "/C=FR/L=Paris/O=Acme/CN=$c" "$c"
issued cabf-ov "$CABF" "$c" "CN=$c,O=Acme,L=Paris,C=FR" '[]'
check_eq "subject cabf-ov: OV policy identifier" 2.23.140.1.2.2 "$(policies "$LAST_CERT")"
c=$(cn ov)
ossl cabf-typed "/C=FR/O=Acme/CN=$c" "$c"
refused cabf-typed "$CABF" "$c" subject_not_allowed_for_server_auth
c=$(cn ou)
ossl cabf-ou "/C=FR/L=Paris/O=Acme/OU=Sales/CN=$c" "$c"
refused cabf-ou "$CABF" "$c" subject_not_allowed_for_server_auth
check_contains "subject cabf-ou: names OU" "subject attribute OU is not allowed" "$REFUSAL"
c=$(cn dv)
ossl cabf-399 "/C=FR/CN=$c" "$c"
refused cabf-399 "$CABF" "$c" validity_out_of_range 399
check_eq "subject cabf-399: message" \
	"validity_days must be 1..398 for this CA (CA/Browser Forum TLS profile), got 399" "$REFUSAL"

# --- a bulk message (pki.submit, alice's bulk key): the same policy ---------
c=$(cn bulk)
ossl bulk "/C=FR/O=Globex/CN=$c" "$c"
rid=subject-bulk-$RUN_ID
"$PYTHON" "$ROOT/tests/integration/bulk_tool.py" msg --profile "$(cred .users.alice.bulk.profile)" \
	--id "$rid" --csr "$TMP/bulk.csr" --cn "$c" --ca "$ISSUING" --extensions server_auth >"$TMP/bulk.json"
kcat_b -P -t pki.submit -k "$rid" "$TMP/bulk.json" 2>/dev/null
field() { redis_cli --raw HGET "${PREFIX}req:$rid" "$1"; }
state_is() { [[ $(field state) == "$1" ]]; }
if wait_for 40 state_is issued; then pass "subject bulk: issued"; else fail "subject bulk: issued" "state: $(field state)"; fi
check_eq "subject bulk: record subject" "CN=$c,C=FR" "$(field subject)"
check_eq "subject bulk: record warnings" '["subject_attribute_dropped"]' "$(field warnings | jq -c '[.[].code]')"
check_eq "subject bulk: certificate subject" "CN=$c,C=FR" \
	"$(field certificate | openssl x509 -noout -subject -nameopt RFC2253 | sed 's/^subject=//')"

# --- the admin sees the subject that will be issued -------------------------
# A manual-approval CA: the approver's detail shows the subject the CA's
# policy makes of the CSR (O=Globex dropped for acme) and the warning.
APPROVAL=$(cred .cas.approval)
c=approval-subject.acme.example
ossl approval-globex "/C=FR/O=Globex/CN=$c" "$c"
submit approval-globex "$APPROVAL" "$c"
check_eq "subject approval: 202 pending" "202 pending_approval" "$HTTP_STATUS $(jq -r .status <<<"$HTTP_BODY")"
aid=$(jq -r .request_id <<<"$HTTP_BODY")
want=$(jq -r .subject <<<"$HTTP_BODY")
check_eq "subject approval: answer drops O" "CN=$c,C=FR" "$want"
admin_sees() {
	http GET "$APPROVER_URL/admin/api/pending/$aid" "" -H "$(auth admin)"
	[[ $HTTP_STATUS == 200 ]]
}
if wait_for 60 admin_sees; then pass "subject approval: queued"; else fail "subject approval: queued" "$HTTP_STATUS $HTTP_BODY"; fi
check "subject approval: admin sees the CSR's subject" grep -q "O=Globex" <<<"$(jq -r .csr.subject <<<"$HTTP_BODY")"
check_eq "subject approval: admin sees the issued subject" "$want" "$(jq -r .csr.issued_subject <<<"$HTTP_BODY")"
check_eq "subject approval: admin sees the warning" '["subject_attribute_dropped"]' \
	"$(jq -c '[.csr.subject_warnings[].code]' <<<"$HTTP_BODY")"

# --- what was issued passes pkilint; the answers match the OpenAPI ----------
out=$("$PYTHON" "$ROOT/tests/tools/lint_certs.py" "$TMP/pkilint" 2>&1)
rc=$?
echo "$out"
((rc == 0)) || grep -q '^FAIL: ' <<<"$out" || fail "subject pkilint" "$out"
answers_check "subject answers match openapi" openapi.yaml "$ANSWERS" 20
