#!/usr/bin/env bash
# Certificates issued by the issuance core from every good CSR fixture verify
# against their chain (openssl verify, GnuTLS certtool) and pass pkilint.
#
# 0. tests/fixtures/csr/generate.sh --check: the committed fixtures still match
#    their manifest and claims.
# 1. tests/tools/selftest_check_certs.sh: the checkers pass good and fail bad
#    certificates made by a throwaway CA (so a green result here means something).
# 2. PKI_TEST_CERT_OUT=<dir> build/release/unit-tests issue_fixtures_write: the
#    core writes, for each good fixture <file> in tests/fixtures/csr/manifest.json,
#    <dir>/<file>.crt (e.g. openssl-p256.der.crt), <file>.chain.pem (issuer
#    chain, leaf's issuer first), <file>.root.pem and <file>.json
#    ({"server_auth": bool}).
# 3. One cert per good fixture (a missing one is a failure), carrying the CSR's
#    public key and every SAN the manifest lists for it.
# 4. tests/tools/check_certs.sh on the dir; its PASS/FAIL lines pass through.
. "$(dirname "$0")/lib.sh"

manifest=tests/fixtures/csr/manifest.json
unit=${PKI_UNIT_TESTS:-build/release/unit-tests}
out=$(mktemp -d "${TMPDIR:-/tmp}/core-certs.XXXXXX")
trap 'rm -rf "$out"; lib_exit' EXIT

# through CMD...: runs CMD with its PASS/FAIL lines passed through; its
# failures count towards this suite's exit status.
through() {
	"$@" 2>&1 | tee "$out/through.log"
	grep -q '^FAIL: ' "$out/through.log" && LIB_FAILED=$((LIB_FAILED + 1))
	return 0
}

check csr-fixtures-check tests/fixtures/csr/generate.sh --check
through tests/tools/selftest_check_certs.sh

[ -x "$unit" ] || make -s "$unit" >&2
log=$out/unit.log
mkdir -p "$out/certs"
PKI_TEST_CERT_OUT=$out/certs "$unit" issue_fixtures_write >"$log" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q '^PASS: issue_fixtures_write$' "$log"; then
	pass core-certs-write
else
	fail core-certs-write "unit-tests issue_fixtures_write exited $rc without 'PASS: issue_fixtures_write':" \
		"$(tail -n 20 "$log")"
fi

# san_list CMD...: the SANs as "DNS:x", "IP:y", "email:z" lines.
san_list() {
	"$@" -noout -ext subjectAltName 2>/dev/null | sed -n '2,$p' | tr ',' '\n' |
		sed -e 's/^ *//' -e 's/^IP Address:/IP:/' | grep -v '^$'
}
csr_of() {
	local f=tests/fixtures/csr/good/$1
	case $1 in *.der) openssl req -inform DER -in "$f" "${@:2}" ;; *) openssl req -in "$f" "${@:2}" ;; esac
}

while read -r file; do
	crt=$out/certs/$file.crt
	if [ ! -s "$crt" ]; then
		fail "core-certs-written $file" "no $file.crt from issue_fixtures_write"
		continue
	fi
	pass "core-certs-written $file"
	form=PEM
	grep -q -- "-----BEGIN CERTIFICATE-----" "$crt" || form=DER
	if [ "$(openssl x509 -inform $form -in "$crt" -noout -pubkey 2>&1)" = "$(csr_of "$file" -noout -pubkey 2>&1)" ]; then
		pass "core-certs-key $file"
	else
		fail "core-certs-key $file" "the certificate's public key is not the CSR's"
	fi
	have=$(san_list openssl x509 -inform $form -in "$crt")
	missing=$(jq -r --arg f "$file" '.good[$f] | (.dns_sans | map("DNS:" + .)) + (.ip_sans | map("IP:" + .))
		+ (.email_sans | map("email:" + .)) | .[]' "$manifest" | grep -vxF -f <(echo "$have") || true)
	if [ -z "$missing" ]; then
		pass "core-certs-sans $file"
	else
		fail "core-certs-sans $file" "requested SANs missing from the certificate: ${missing//$'\n'/ }" "has: ${have//$'\n'/ }"
	fi
done < <(jq -r '.good | keys[]' "$manifest")

for crt in "$out"/certs/*.crt; do
	[ -e "$crt" ] || break
	name=$(basename "$crt" .crt)
	jq -e --arg f "$name" '.good | has($f)' "$manifest" >/dev/null ||
		echo "    note: $name.crt is not named after a good fixture; checked below all the same"
done

if compgen -G "$out/certs/*.crt" >/dev/null; then
	through tests/tools/check_certs.sh "$out/certs"
else
	fail core-certs-check "no certificates to check"
fi
