#!/usr/bin/env bash
# GET /ca/{id}.crt and GET /crl/{id}.crl on the running stack: fetched at the
# URLs the config puts in issued certificates (ca_issuers_url, crl_url),
# checked with openssl, a re-signed CRL served without a restart (within
# seconds: the gateway serves it from memory), unknown
# names 404. No authentication.
. "$(dirname "$0")/lib.sh"
set +e

pkictl=${PKICTL:-$ROOT/build/release/pkictl}
[ -x "$pkictl" ] || make -s -C "$ROOT" build/release/pkictl >&2
work=$(mktemp -d "${TMPDIR:-/tmp}/cafiles-test.XXXXXX")
trap 'rm -rf "$work"; lib_exit' EXIT

ca=$(cred '.cas.issuing')
root_id=$(cred '.cas.root')
cfgdir=$(dirname "$TEST_CONFIG")
aia=$(jq -r --arg id "$ca" '.cas[] | select(.id == $id) | .ca_issuers_url' "$TEST_CONFIG")
cdp=$(jq -r --arg id "$ca" '.cas[] | select(.id == $id) | .crl_url' "$TEST_CONFIG")
check_eq cafiles_config_aia_url "$GATEWAY_URL/ca/$ca.crt" "$aia"
check_eq cafiles_config_crl_url "$GATEWAY_URL/crl/$ca.crl" "$cdp"

# fetch URL OUT: body to OUT, prints "status content-type".
fetch() { curl -s --max-time 10 -o "$2" -w '%{http_code} %{content_type}' "$1"; }

check_eq cafiles_cert_status "200 application/pkix-cert" "$(fetch "$aia" "$work/ca.der")"
openssl x509 -inform DER -in "$work/ca.der" -out "$work/ca.pem" 2>/dev/null
check cafiles_cert_is_the_ca cmp -s <(openssl x509 -in "$work/ca.pem" -outform DER) \
	<(openssl x509 -in "$cfgdir/cas/$ca.crt" -outform DER)
check_eq cafiles_root_cert_status "200 application/pkix-cert" \
	"$(fetch "$GATEWAY_URL/ca/$root_id.crt" "$work/root.der")"
openssl x509 -inform DER -in "$work/root.der" -out "$work/root.pem" 2>/dev/null
check cafiles_served_chain_verifies openssl verify -x509_strict -CAfile "$work/root.pem" "$work/ca.pem"

check_eq cafiles_crl_status "200 application/pkix-crl" "$(fetch "$cdp" "$work/ca.crl")"
check cafiles_crl_signed_by_ca openssl crl -inform DER -in "$work/ca.crl" -noout -CAfile "$work/ca.pem"
check cafiles_crl_is_the_file cmp -s "$work/ca.crl" "$cfgdir/cas/$ca.crl"
crl_number() { openssl crl -inform DER -in "$1" -noout -crlnumber | sed "s/.*=0x//"; }
n1=$(crl_number "$work/ca.crl")

# A leaf of that CA carrying the configured URLs: every file it points at is
# fetched from the gateway and the chain checks with the CRL.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=cafiles.acme.example" \
	-keyout "$work/leaf.key" -out "$work/leaf.csr" 2>/dev/null
printf 'authorityInfoAccess = caIssuers;URI:%s\ncrlDistributionPoints = URI:%s\n' "$aia" "$cdp" \
	>"$work/ext.cnf"
openssl x509 -req -in "$work/leaf.csr" -CA "$cfgdir/cas/$ca.crt" -CAkey "$cfgdir/cas/$ca.key" \
	-CAcreateserial -CAserial "$work/ca.srl" -days 10 -extfile "$work/ext.cnf" \
	-out "$work/leaf.pem" 2>/dev/null
leaf_text=$(openssl x509 -in "$work/leaf.pem" -noout -text)
url_aia=$(grep -o 'CA Issuers - URI:[^ ]*' <<<"$leaf_text" | sed 's/.*URI://')
url_cdp=$(grep -A3 'CRL Distribution Points' <<<"$leaf_text" | grep -o 'URI:[^ ]*' | sed 's/URI://')
fetch "$url_aia" "$work/leaf-issuer.der" >/dev/null
fetch "$url_cdp" "$work/leaf-crl.der" >/dev/null
openssl x509 -inform DER -in "$work/leaf-issuer.der" -out "$work/leaf-issuer.pem" 2>/dev/null
openssl crl -inform DER -in "$work/leaf-crl.der" -out "$work/leaf-crl.pem" 2>/dev/null
check cafiles_leaf_verifies_with_served_crl openssl verify -crl_check -CAfile "$work/root.pem" \
	-untrusted "$work/leaf-issuer.pem" -CRLfile "$work/leaf-crl.pem" "$work/leaf.pem"
check cafiles_leaf_needs_the_crl bash -c '! openssl verify -crl_check -CAfile "$0" -untrusted "$1" "$2"' \
	"$work/root.pem" "$work/leaf-issuer.pem" "$work/leaf.pem"

# Re-signed with pkictl: served without a restart once the gateway's
# once-a-second look at the file has seen it.
check cafiles_resign "$pkictl" ca crl --config "$TEST_CONFIG" --id "$ca"
crl_is_new() { fetch "$cdp" "$work/ca2.crl" >/dev/null && [[ $(crl_number "$work/ca2.crl") != "$n1" ]]; }
wait_for 5 crl_is_new
check_eq cafiles_resigned_crl_served "$((16#${n1:-0} + 1))" "$((16#$(crl_number "$work/ca2.crl")))"

# Unknown names, wrong suffixes, other methods.
for p in /ca/nope.crt /crl/nope.crl "/ca/$ca.pem" "/crl/$ca.crt" /ca/.crt /crl/ /ca/; do
	check_eq "cafiles_404_${p//\//_}" 404 "$(http_status "$GATEWAY_URL$p")"
done
check_eq cafiles_post_405 405 "$(http_status "$aia" -X POST)"
