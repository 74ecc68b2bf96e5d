#!/usr/bin/env bash
# Checks issued certificates: usage: tests/tools/check_certs.sh DIR
#
# For every <name>.crt in DIR, with <name>.chain.pem (issuer chain, the leaf's
# issuer first), <name>.root.pem and <name>.json ({"server_auth": bool}) beside it:
#   openssl verify -x509_strict -CAfile root -untrusted chain  (-purpose sslserver
#       when server_auth)                                 -> PASS/FAIL: openssl-verify <name>
#   certtool --verify --verify-profile medium over cert + chain against root
#       (--verify-purpose serverAuth when server_auth)    -> PASS/FAIL: certtool-verify <name>
# then tests/tools/lint_certs.py DIR (pkilint)            -> PASS/FAIL: pkilint <name>
# Exit status 0 when everything passed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
PY=python3
[ -x "$root/.cache/venv/bin/python3" ] && PY="$root/.cache/venv/bin/python3"
SERVER_AUTH_OID=1.3.6.1.5.5.7.3.1

dir=${1:-}
if [ -z "$dir" ] || [ ! -d "$dir" ]; then
	echo "usage: check_certs.sh DIR" >&2
	exit 2
fi

failed=0
fail() { echo "FAIL: $1"; failed=1; }
oneline() { tr '\n' ' ' | sed -e 's/  */ /g' -e 's/ $//'; }

shopt -s nullglob
certs=("$dir"/*.crt)
if [ ${#certs[@]} -eq 0 ]; then
	fail "check-certs: no .crt files in $dir"
	exit 1
fi

for crt in "${certs[@]}"; do
	name=$(basename "$crt" .crt)
	chain=$dir/$name.chain.pem rootca=$dir/$name.root.pem meta=$dir/$name.json
	missing=""
	for f in "$chain" "$rootca" "$meta"; do [ -e "$f" ] || missing="$missing $(basename "$f")"; done
	if [ -n "$missing" ]; then
		fail "openssl-verify $name: missing$missing"
		fail "certtool-verify $name: missing$missing"
		continue
	fi
	server_auth=$(jq -r '.server_auth' "$meta" 2>/dev/null)
	ossl_purpose=() gnutls_purpose=()
	if [ "$server_auth" = true ]; then
		ossl_purpose=(-purpose sslserver)
		gnutls_purpose=(--verify-purpose "$SERVER_AUTH_OID")
	fi

	form=PEM
	grep -q -- "-----BEGIN CERTIFICATE-----" "$crt" || form=DER
	if out=$(openssl verify -x509_strict "${ossl_purpose[@]}" -CAfile "$rootca" -untrusted "$chain" \
		<(openssl x509 -inform "$form" -in "$crt") 2>&1); then
		echo "PASS: openssl-verify $name"
	else
		fail "openssl-verify $name: $(echo "$out" | oneline)"
	fi

	if out=$({ openssl x509 -inform "$form" -in "$crt"; cat "$chain"; } |
		certtool --verify --verify-profile medium "${gnutls_purpose[@]}" \
			--load-ca-certificate "$rootca" 2>&1); then
		echo "PASS: certtool-verify $name"
	else
		fail "certtool-verify $name: $(echo "$out" | grep -E 'output:|Output:|rror' | oneline)"
	fi
done

"$PY" "$here/lint_certs.py" "$dir" || failed=1
exit $failed
