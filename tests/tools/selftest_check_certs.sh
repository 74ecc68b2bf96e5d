#!/usr/bin/env bash
# Proves check_certs.sh (openssl verify, certtool, pkilint) passes good
# certificates and fails bad ones. Issues certificates from the CSR fixtures
# with a throwaway root + issuing CA made by `openssl x509 -req`:
#   ov-p256, ov-rsa2048   CA/B Forum OV-style server certs    -> all PASS
#   client-p256           client_auth only (no CA/B lint)     -> all PASS
#   nosan-p256            server_auth without SAN, DV policy  -> pkilint FAIL
#   noaki-p256            private server_auth (no policy, RFC 5280 lint)
#                         without authorityKeyIdentifier       -> pkilint FAIL
#   wrongroot-p256        verified against an unrelated root  -> openssl/certtool FAIL
# Prints PASS/FAIL lines named selftest-check-certs-<case>.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
csr=tests/fixtures/csr/good
printf '[req]\ndistinguished_name = dn\nprompt = no\n[dn]\n' >"$tmp/req.cnf"
cat >"$tmp/ext.cnf" <<'EOF'
[root]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[issuing]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ov]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = none
authorityKeyIdentifier = keyid
subjectAltName = DNS:$ENV::CN
certificatePolicies = 2.23.140.1.2.2
authorityInfoAccess = caIssuers;URI:http://ca.example.com/issuing.crt
crlDistributionPoints = URI:http://ca.example.com/issuing.crl
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
subjectAltName = DNS:$ENV::CN
[nosan]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
authorityKeyIdentifier = keyid
certificatePolicies = 2.23.140.1.2.1
[noaki]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = none
subjectAltName = DNS:$ENV::CN
EOF
cat "$tmp/req.cnf" "$tmp/ext.cnf" >"$tmp/ca.cnf"
export CN=unused
mkca() { # NAME SUBJ
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/$1.key" \
		-subj "$2" -days 30 -config "$tmp/ca.cnf" -extensions root -out "$tmp/$1.pem" 2>/dev/null
}
mkca root "/C=US/O=Selftest/CN=Selftest Root"
mkca other "/C=US/O=Selftest/CN=Unrelated Root"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/issuing.key" \
	-subj "/C=US/O=Selftest/CN=Selftest Issuing" -config "$tmp/req.cnf" -out "$tmp/issuing.csr" 2>/dev/null
openssl x509 -req -in "$tmp/issuing.csr" -CA "$tmp/root.pem" -CAkey "$tmp/root.key" -set_serial 1 \
	-days 20 -extfile "$tmp/ext.cnf" -extensions issuing -out "$tmp/issuing.pem" 2>/dev/null

out=$tmp/certs
mkdir -p "$out"
issue() { # NAME CSR PROFILE SERVER_AUTH ROOT
	CN=$(openssl req -in "$2" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= //p')
	export CN
	openssl x509 -req -in "$2" -CA "$tmp/issuing.pem" -CAkey "$tmp/issuing.key" \
		-set_serial "0x$(openssl rand -hex 16)" -days 10 -extfile "$tmp/ext.cnf" -extensions "$3" \
		-out "$out/$1.crt" 2>/dev/null
	cp "$tmp/issuing.pem" "$out/$1.chain.pem"
	cp "$tmp/$5.pem" "$out/$1.root.pem"
	echo "{\"server_auth\": $4}" >"$out/$1.json"
}
issue ov-p256 $csr/openssl-p256.pem ov true root
issue ov-rsa2048 $csr/openssl-rsa2048.pem ov true root
issue client-p256 $csr/openssl-client.pem client false root
issue nosan-p256 $csr/openssl-nosan.pem nosan true root
issue noaki-p256 $csr/openssl-p256.pem noaki true root
issue wrongroot-p256 $csr/pyca-p256.pem ov true other

tests/tools/check_certs.sh "$out" >"$tmp/result" 2>&1
rc=$?
sed 's/^/    /' "$tmp/result"
expect() { # CASE LINE...
	local c=$1 l
	shift
	for l in "$@"; do
		if ! grep -q "^$l" "$tmp/result"; then
			echo "FAIL: selftest-check-certs-$c (expected a line '$l')"
			return
		fi
	done
	echo "PASS: selftest-check-certs-$c"
}
for n in ov-p256 ov-rsa2048 client-p256; do
	expect "$n" "PASS: openssl-verify $n$" "PASS: certtool-verify $n$" "PASS: pkilint $n$"
done
expect nosan-p256 "PASS: openssl-verify nosan-p256$" "FAIL: pkilint nosan-p256: .*ERROR"
expect noaki-p256 "FAIL: pkilint noaki-p256: lint_pkix_cert: .*ERROR"
expect wrongroot-p256 "FAIL: openssl-verify wrongroot-p256" "FAIL: certtool-verify wrongroot-p256"
if [ $rc -ne 0 ]; then echo "PASS: selftest-check-certs-exit-status"; else
	echo "FAIL: selftest-check-certs-exit-status (check_certs.sh exited 0 with bad certificates)"; fi
