#!/usr/bin/env bash
# pkictl: init, tenants, root and intermediate CAs of every key type, users,
# password hashing; every refused command names its flag and changes nothing.
. "$(dirname "$0")/lib.sh"
# Each check reads exit codes itself; a failing command must not end the suite.
set +e

root=$(cd "$(dirname "$0")/../.." && pwd)
pkictl=${PKICTL:-$root/build/release/pkictl}
[ -x "$pkictl" ] || make -s -C "$root" build/release/pkictl >&2
work=$(mktemp -d "${TMPDIR:-/tmp}/pkictl-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
cfg=$work/pki/config.json
cas=$work/pki/cas
ctl() { "$pkictl" "$@" --config "$cfg"; }

# check NAME COMMAND...: PASS when the command succeeds.
check() {
	local name=$1
	shift
	if "$@" >/dev/null 2>&1; then pass "$name"; else fail "$name"; fi
}
# verdict NAME: PASS when the command just before it succeeded.
verdict() {
	if [ $? -eq 0 ]; then pass "$1"; else fail "$1"; fi
}
mode_of() { stat -c %a "$1"; }
fails() { ! "$@"; }
# Fingerprint of everything under the PKI folder: names, modes and contents.
state() { (cd "$work/pki" && find . -type f -printf '%p %m\n' | sort && find . -type f -exec cat {} + | sha256sum); }
field() { jq -r "$1" "$cfg"; }

# ---- init ----
check pkictl_init ctl init --kafka-brokers 127.0.0.1:29092 --redis-url redis://127.0.0.1:26379/0 \
	--gateway-listen 127.0.0.1:28080 --approver-listen 127.0.0.1:28081
check pkictl_init_config_mode [ "$(mode_of "$cfg")" = 600 ]
[ "$(mode_of "$work/pki/grant.key")" = 600 ] && [ "$(stat -c %s "$work/pki/grant.key")" = 32 ]
verdict pkictl_init_grant_key
check pkictl_init_shape jq -e '.listen.gateway == "127.0.0.1:28080" and
	.listen.approver == "127.0.0.1:28081" and .kafka.brokers == "127.0.0.1:29092" and
	.kafka.topics == {issue: "pki.issue", approval: "pki.approval", results: "pki.results",
		issued: "pki.issued", audit: "pki.audit", notify: "pki.notify", dlq: "pki.issue.dlq", submit: "pki.submit"} and
	.redis.url == "redis://127.0.0.1:26379/0" and .grant_key == "grant.key" and
	.tenants == [] and .cas == [] and .users == []' "$cfg"
# Redis users: a password file each (0600, 64 hex digits), the ACL file with
# their SHA-256 hashes and the default user off, the services' entries.
acl=$work/pki/redis/users.acl
ok=1
for u in pki-gateway pki-worker pki-approver pki-admin; do
	f=$work/pki/redis/$u.pass
	[ "$(mode_of "$f")" = 600 ] && grep -qxE '[0-9a-f]{64}' "$f" &&
		grep -q "^user $u reset on #$(tr -d '\n' <"$f" | sha256sum | cut -d' ' -f1) " "$acl" || ok=0
done
[ $ok = 1 ]
verdict pkictl_init_redis_passwords
check pkictl_init_redis_acl_mode [ "$(mode_of "$acl")" = 600 ]
check pkictl_init_redis_default_off grep -qx 'user default off resetpass ~\* &\* +@all' "$acl"
check pkictl_init_redis_users jq -e '.redis.users == {
	gateway: {user: "pki-gateway", password_file: "redis/pki-gateway.pass"},
	worker: {user: "pki-worker", password_file: "redis/pki-worker.pass"},
	approver: {user: "pki-approver", password_file: "redis/pki-approver.pass"}}' "$cfg"
# The ACL file follows redis.prefix: written again after a change.
jq '.redis.prefix = "t1:"' "$cfg" >"$cfg.tmp" && mv "$cfg.tmp" "$cfg" && chmod 600 "$cfg"
ctl redis acl 2>/dev/null && grep -q ' ~t1:req:\* ' "$acl" && ! grep -q '~pki:' "$acl" &&
	[ "$(mode_of "$acl")" = 600 ]
verdict pkictl_redis_acl_follows_prefix
jq '.redis.prefix = "pki:"' "$cfg" >"$cfg.tmp" && mv "$cfg.tmp" "$cfg" && chmod 600 "$cfg"
ctl redis acl 2>/dev/null
chmod 644 "$work/pki/redis/pki-worker.pass"
out=$(ctl redis acl 2>&1)
[ $? -ne 0 ] && [[ $out == *"redis.users.worker.password_file: file"*"must not be accessible by group or others"* ]]
verdict pkictl_redis_acl_password_mode_refused
chmod 600 "$work/pki/redis/pki-worker.pass"

before=$(state)
out=$(ctl init 2>&1)
[ $? -ne 0 ] && [ "$before" = "$(state)" ] && [[ $out == *"already exists"* ]]
verdict pkictl_init_refuses_existing

# ---- Kafka TLS: the infrastructure CA and its certificates ----
kdir=$work/pki/kafka
check pkictl_init_kafka_tls jq -e '.kafka.tls == {ca: "kafka/ca.pem",
	gateway: {cert: "kafka/pki-gateway.crt", key: "kafka/pki-gateway.key"},
	worker: {cert: "kafka/pki-worker.crt", key: "kafka/pki-worker.key"},
	approver: {cert: "kafka/pki-approver.crt", key: "kafka/pki-approver.key"}}' "$cfg"
check pkictl_init_infra_key_modes [ "$(mode_of "$work/pki/infra/root.key")$(mode_of "$work/pki/infra/ca.key")$(mode_of "$kdir/pki-worker.key")" = 600600600 ]
check pkictl_init_infra_pathlen0 bash -c 'openssl x509 -in "$0" -noout -text | grep -q "CA:TRUE, pathlen:0"' "$work/pki/infra/ca.crt"
for s in gateway worker approver; do
	check "pkictl_init_kafka_cert_$s" openssl verify -x509_strict -purpose sslclient -CAfile "$kdir/ca.pem" "$kdir/pki-$s.crt"
done
text=$(openssl x509 -in "$kdir/pki-gateway.crt" -noout -text)
[[ $(openssl x509 -in "$kdir/pki-gateway.crt" -noout -subject) == "subject=CN = pki-gateway" ]] &&
	grep -q 'TLS Web Client Authentication$' <<<"$text" && ! grep -q 'Server Authentication' <<<"$text" &&
	grep -q 'NIST CURVE: P-256' <<<"$text" && [ "$(grep -c BEGIN "$kdir/pki-gateway.crt")" = 2 ] &&
	head -1 "$kdir/pki-gateway.key" | grep -qx -- '-----BEGIN PRIVATE KEY-----'
verdict pkictl_kafka_client_cert_profile
check pkictl_kafka_cert_bulk ctl kafka cert bulk-test
check pkictl_kafka_cert_bulk_files [ "$(mode_of "$kdir/bulk-test.key")" = 600 -a ! -e "$kdir/bulk-test.keystore.pem" ]
check pkictl_kafka_cert_server ctl kafka cert kafka-broker --server 127.0.0.1,localhost,kafka.example
text=$(openssl x509 -in "$kdir/kafka-broker.crt" -noout -text)
grep -q 'IP Address:127.0.0.1, DNS:localhost, DNS:kafka.example' <<<"$text" &&
	grep -q 'TLS Web Server Authentication, TLS Web Client Authentication' <<<"$text" &&
	[ "$(mode_of "$kdir/kafka-broker.keystore.pem")" = 600 ] &&
	head -1 "$kdir/kafka-broker.keystore.pem" | grep -qx -- '-----BEGIN PRIVATE KEY-----' &&
	[ "$(grep -c 'BEGIN CERTIFICATE' "$kdir/kafka-broker.keystore.pem")" = 2 ]
verdict pkictl_kafka_cert_server_profile
before=$(state)
out=$(ctl kafka cert bulk-test 2>&1)
[ $? -ne 0 ] && [ "$before" = "$(state)" ] && [[ $out == *"already exists"* ]]
verdict pkictl_kafka_cert_refuses_existing
out=$(ctl kafka cert 'bulk test' 2>&1)
[ $? -ne 0 ] && [ "$before" = "$(state)" ] &&
	[[ $out == *'NAME: must be 1..63 characters of A-Z a-z 0-9 . _ - starting with a letter or digit, got "bulk test"'* ]]
verdict pkictl_kafka_cert_bad_name
out=$(ctl kafka cert srv --server 127.0.0.1,bad_host 2>&1)
[ $? -ne 0 ] && [ "$before" = "$(state)" ] && [[ $out == *'--server: '*'got "bad_host"'* ]]
verdict pkictl_kafka_cert_bad_server
out=$(ctl kafka cert 2>&1)
[ $? -ne 0 ] && [[ $out == *"NAME: required"* ]]
verdict pkictl_kafka_cert_needs_name
check pkictl_kafka_init_idempotent bash -c '"$0" kafka init --config "$1" 2>/dev/null' "$pkictl" "$cfg"
check pkictl_kafka_init_idempotent_state [ "$before" = "$(state)" ]
# A config made before Kafka had TLS: kafka init adds the CA, certificates and kafka.tls.
old=$work/old/config.json
mkdir -p "$work/old" && jq 'del(.kafka.tls)' "$cfg" >"$old" && chmod 600 "$old" && cp -p "$work/pki/grant.key" "$work/old/"
check pkictl_kafka_init_old_config "$pkictl" kafka init --config "$old"
check pkictl_kafka_init_old_config_tls jq -e '.kafka.tls.worker.cert == "kafka/pki-worker.crt"' "$old"
check pkictl_kafka_init_old_config_certs openssl verify -CAfile "$work/old/kafka/ca.pem" "$work/old/kafka/pki-approver.crt"

check pkictl_tenant_add_acme ctl tenant add --id acme --name "Acme Corp" \
	--names-dns acme.test,=host.acme.example --names-ip 10.0.0.0/8,2001:db8::/32 \
	--names-email acme.test --names-uri https://acme.test/api/ --deny-dns secret.acme.test \
	--deny-ip 10.9.0.0/16 --names-wildcards
check pkictl_tenant_add_globex env PKI_CONFIG="$cfg" "$pkictl" tenant add --id globex --name Globex
check pkictl_tenant_names jq -e '.tenants == [
	{id: "acme", name: "Acme Corp", webhooks: [], names: {
		allow: {dns: ["acme.test", "=host.acme.example"], ip: ["10.0.0.0/8", "2001:db8::/32"],
			email: ["acme.test"], uri: ["https://acme.test/api/"]},
		deny: {dns: ["secret.acme.test"], ip: ["10.9.0.0/16"], email: [], uri: []},
		wildcards: true}},
	{id: "globex", name: "Globex", webhooks: []}]' "$cfg"

# ---- root CAs ----
check pkictl_root_ec_p384 ctl ca init-root --id root --name "Test Root" --org "Test Org" --country DE
check pkictl_root_rsa4096_short ctl ca init-root --id rsaroot --name "RSA Root" --key rsa4096 \
	--days 30 --path-len 1
text=$(openssl x509 -in "$cas/root.crt" -noout -text)
check pkictl_root_key_mode [ "$(mode_of "$cas/root.key")" = 600 ]
check pkictl_root_self_signed openssl verify -x509_strict -CAfile "$cas/root.crt" "$cas/root.crt"
check pkictl_root_ca_no_pathlen grep -qx '  *CA:TRUE' <<<"$text"
check pkictl_infra_apart_from_issuing fails openssl verify -CAfile "$kdir/ca.pem" "$cas/root.crt"
check pkictl_root_key_usage grep -qx '  *Certificate Sign, CRL Sign' <<<"$text"
check pkictl_root_critical [ "$(grep -cE 'X509v3 (Basic Constraints|Key Usage): critical' <<<"$text")" = 2 ]
check pkictl_root_sha384 grep -q 'Signature Algorithm: ecdsa-with-SHA384' <<<"$text"
check pkictl_root_subject grep -q 'Subject: C = DE, O = Test Org, CN = Test Root' <<<"$text"
check pkictl_root_v3 grep -q 'Version: 3 (0x2)' <<<"$text"
serial=$(openssl x509 -in "$cas/root.crt" -noout -serial | cut -d= -f2)
[ ${#serial} -ge 32 ] && [[ $serial =~ ^[0-7] ]]
verdict pkictl_root_serial_128bit
check pkictl_root_entry jq -e '.cas[0] == {id: "root", name: "Test Root", type: "root",
	status: "active", api_issuance: false, cert: "cas/root.crt", key: "cas/root.key",
	crl: "cas/root.crl"}' "$cfg"
check pkictl_rsaroot_pathlen grep -q 'CA:TRUE, pathlen:1' \
	<<<"$(openssl x509 -in "$cas/rsaroot.crt" -noout -text)"
check pkictl_rsaroot_sha256 grep -q 'sha256WithRSAEncryption' \
	<<<"$(openssl x509 -in "$cas/rsaroot.crt" -noout -text)"

# ---- intermediates, one per key type, each with a leaf made by openssl ----
declare -A keytext=([rsa2048]='Public-Key: (2048 bit)' [rsa3072]='Public-Key: (3072 bit)'
	[rsa4096]='Public-Key: (4096 bit)' [ec-p256]='NIST CURVE: P-256' [ec-p384]='NIST CURVE: P-384')
root_ski=$(grep -A1 'Subject Key Identifier' <<<"$text" | tail -1 | tr -d ' ')
for k in rsa2048 rsa3072 rsa4096 ec-p256 ec-p384; do
	id=int-$k
	check "pkictl_intermediate_$k" ctl ca init-intermediate --id "$id" --parent root \
		--name "Issuing $k" --key "$k" --org "Test Org" --tenants acme
	t=$(openssl x509 -in "$cas/$id.crt" -noout -text)
	check "pkictl_intermediate_${k}_key_mode" [ "$(mode_of "$cas/$id.key")" = 600 ]
	check "pkictl_intermediate_${k}_key_type" grep -qF "${keytext[$k]}" <<<"$t"
	check "pkictl_intermediate_${k}_pathlen0" grep -q 'CA:TRUE, pathlen:0' <<<"$t"
	check "pkictl_intermediate_${k}_key_usage" grep -qx \
		'  *Digital Signature, Certificate Sign, CRL Sign' <<<"$t"
	check "pkictl_intermediate_${k}_aki_is_root_ski" grep -qx "  *$root_ski" \
		<<<"$(grep -A1 'Authority Key Identifier' <<<"$t" | tail -1)"
	check "pkictl_intermediate_${k}_signed_sha384" grep -q 'Signature Algorithm: ecdsa-with-SHA384' <<<"$t"
	check "pkictl_intermediate_${k}_verifies" openssl verify -x509_strict -CAfile "$cas/root.crt" "$cas/$id.crt"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=leaf.acme.example" \
		-keyout "$work/leaf.key" -out "$work/leaf.csr" 2>/dev/null
	openssl x509 -req -in "$work/leaf.csr" -CA "$cas/$id.crt" -CAkey "$cas/$id.key" \
		-CAcreateserial -days 10 -out "$work/leaf.crt" 2>/dev/null
	check "pkictl_intermediate_${k}_chain_with_leaf" openssl verify -x509_strict \
		-CAfile "$cas/root.crt" -untrusted "$cas/$id.crt" "$work/leaf.crt"
	rm -f "$cas"/*.srl "$work"/leaf.*
done
check pkictl_intermediate_entry jq -e '.cas[] | select(.id == "int-ec-p256") |
	.type == "intermediate" and .parent == "root" and .api_issuance == true and
	.status == "active" and .requires_manual_approval == false and .tenants == ["acme"] and
	.max_validity_days == 397 and .selection.tenants == ["acme"]' "$cfg"

# notAfter never beyond the parent's; a pathlen-1 root may sign a pathlen-0 CA only.
check pkictl_intermediate_clamped ctl ca init-intermediate --id int-short --parent rsaroot \
	--name "Short" --key rsa2048 --days 9000
check pkictl_intermediate_clamped_notafter [ "$(openssl x509 -in "$cas/int-short.crt" -noout -enddate)" = \
	"$(openssl x509 -in "$cas/rsaroot.crt" -noout -enddate)" ]
check pkictl_intermediate_signed_sha256_by_rsa grep -q 'sha256WithRSAEncryption' \
	<<<"$(openssl x509 -in "$cas/int-short.crt" -noout -text)"

# Three levels: a pathlen-1 intermediate signs a pathlen-0 one.
check pkictl_intermediate_pathlen1 ctl ca init-intermediate --id int-mid --parent root \
	--name "Middle" --path-len 1
check pkictl_intermediate_under_intermediate ctl ca init-intermediate --id int-low --parent int-mid \
	--name "Low" --key rsa2048
check pkictl_three_level_chain openssl verify -x509_strict -CAfile "$cas/root.crt" \
	-untrusted "$cas/int-mid.crt" "$cas/int-low.crt"

# Manual approval with a password from a file and a full policy.
printf 'correct horse battery\n' >"$work/pw"
check pkictl_intermediate_manual ctl ca init-intermediate --id int-manual --parent root \
	--name "Manual" --manual-approval --approval-password-file "$work/pw" --approvals-required 2 \
	--approval-ttl-seconds 3600 --max-validity-days 90 --tenants acme,globex \
	--extensions client_auth,email_protection --key-types EC --curves P-384 \
	--purposes vpn,mail --email-patterns '*@acme.example' --cidrs 10.0.0.0/8,fd00::/8 --priority 7
check pkictl_intermediate_manual_entry jq -e '.cas[] | select(.id == "int-manual") |
	.requires_manual_approval == true and .approvals_required == 2 and
	.approval_ttl_seconds == 3600 and .max_validity_days == 90 and
	.allowed_key_types == ["EC"] and .allowed_curves == ["P-384"] and
	.allowed_extensions == ["client_auth", "email_protection"] and
	.tenants == ["acme", "globex"] and
	.selection == {tenants: ["acme", "globex"], purposes: ["vpn", "mail"],
		email_patterns: ["*@acme.example"], client_cidrs: ["10.0.0.0/8", "fd00::/8"], priority: 7} and
	(.approval_password_hash | startswith("scrypt$"))' "$cfg"
check pkictl_password_not_in_config fails grep -q 'correct horse' "$cfg"
# scrypt$N$r$p$salt$hash must verify the password.
scrypt_ok() {
	python3 - "$1" "$2" <<'PY'
import base64, hashlib, hmac, sys
pw, enc = sys.argv[1], sys.argv[2]
_, n, r, p, salt, h = enc.split("$")
want = base64.b64decode(h)
got = hashlib.scrypt(pw.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                     maxmem=128 * 1024 * 1024, dklen=len(want))
sys.exit(0 if hmac.compare_digest(got, want) else 1)
PY
}
hash=$(field '.cas[] | select(.id == "int-manual") | .approval_password_hash')
check pkictl_approval_hash_verifies scrypt_ok "correct horse battery" "$hash"
check pkictl_approval_hash_rejects_other fails scrypt_ok "wrong horse battery" "$hash"

# ---- CRLs and the AIA / CRL distribution point URLs ----
check pkictl_intermediate_urls ctl ca init-intermediate --id int-urls --parent root \
	--name "With URLs" --ca-issuers-url http://127.0.0.1:28080/ca/int-urls.crt \
	--crl-url http://127.0.0.1:28080/crl/int-urls.crl
check pkictl_intermediate_urls_entry jq -e '.cas[] | select(.id == "int-urls") |
	.ca_issuers_url == "http://127.0.0.1:28080/ca/int-urls.crt" and
	.crl_url == "http://127.0.0.1:28080/crl/int-urls.crl" and .crl == "cas/int-urls.crl"' "$cfg"
check pkictl_root_first_crl jq -e '.cas[] | select(.id == "root") | .crl == "cas/root.crl"' "$cfg"
check pkictl_crl_mode [ "$(mode_of "$cas/int-urls.crl")" = 644 ]
int_ski=$(openssl x509 -in "$cas/int-urls.crt" -noout -ext subjectKeyIdentifier | tail -1 | tr -d ' ')
crl_text() { openssl crl -inform DER -in "$cas/int-urls.crl" -noout -text; }
t=$(crl_text)
check pkictl_crl_issuer grep -q 'Issuer: CN *= *With URLs' <<<"$t"
check pkictl_crl_v2 grep -q 'Version 2' <<<"$t"
check pkictl_crl_aki_is_ca_ski grep -qx "  *$int_ski" <<<"$(grep -A1 'Authority Key Identifier' <<<"$t" | tail -1)"
check pkictl_crl_number_1 grep -qx '  *1' <<<"$(grep -A1 'CRL Number' <<<"$t" | tail -1)"
check pkictl_crl_no_entries grep -q 'No Revoked Certificates' <<<"$t"
check pkictl_crl_signed_by_ca openssl crl -inform DER -in "$cas/int-urls.crl" -noout -CAfile "$cas/int-urls.crt"
# nextUpdate - lastUpdate in whole days.
crl_days() {
	local last next
	last=$(openssl crl -inform DER -in "$cas/int-urls.crl" -noout -lastupdate | cut -d= -f2)
	next=$(openssl crl -inform DER -in "$cas/int-urls.crl" -noout -nextupdate | cut -d= -f2)
	echo $(( ($(date -d "$next" +%s) - $(date -d "$last" +%s)) / 86400 ))
}
check_eq pkictl_crl_next_update_default_7_days 7 "$(crl_days)"
check pkictl_ca_crl ctl ca crl --id int-urls --days 3
t=$(crl_text)
check pkictl_crl_number_increments grep -qx '  *2' <<<"$(grep -A1 'CRL Number' <<<"$t" | tail -1)"
check_eq pkictl_crl_next_update_days 3 "$(crl_days)"
check pkictl_ca_crl_again ctl ca crl --id int-urls
check pkictl_crl_number_3 grep -qx '  *3' <<<"$(grep -A1 'CRL Number' <<<"$(crl_text)" | tail -1)"
# A leaf of that CA checks against its CRL (and fails without one).
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=crl.acme.example" \
	-keyout "$work/leaf.key" -out "$work/leaf.csr" 2>/dev/null
openssl x509 -req -in "$work/leaf.csr" -CA "$cas/int-urls.crt" -CAkey "$cas/int-urls.key" \
	-CAcreateserial -days 10 -out "$work/leaf.crt" 2>/dev/null
openssl crl -inform DER -in "$cas/int-urls.crl" -out "$work/int.crl.pem"
openssl crl -inform DER -in "$cas/root.crl" -out "$work/root.crl.pem"
check pkictl_crl_verify_leaf openssl verify -crl_check -CAfile "$cas/root.crt" \
	-untrusted "$cas/int-urls.crt" -CRLfile "$work/int.crl.pem" "$work/leaf.crt"
check pkictl_crl_verify_all openssl verify -crl_check_all -CAfile "$cas/root.crt" \
	-untrusted "$cas/int-urls.crt" -CRLfile "$work/int.crl.pem" -CRLfile "$work/root.crl.pem" \
	"$work/leaf.crt"
check pkictl_crl_verify_needs_crl fails openssl verify -crl_check -CAfile "$cas/root.crt" \
	-untrusted "$cas/int-urls.crt" "$work/leaf.crt"
rm -f "$cas"/*.srl "$work"/leaf.* "$work"/*.crl.pem
# A file that is not this CA's CRL is never replaced (its number would be lost).
cp "$cas/int-urls.crl" "$work/saved.crl"
cp "$cas/root.crl" "$cas/int-urls.crl"
out=$(ctl ca crl --id int-urls 2>&1)
[ $? -ne 0 ] && [[ $out == *"not a CRL signed by this CA"* ]] && cmp -s "$cas/root.crl" "$cas/int-urls.crl"
verdict pkictl_crl_refuses_foreign_file
cp "$work/saved.crl" "$cas/int-urls.crl"

# ---- nameConstraints from a tenant's names ----
check pkictl_intermediate_name_constraints ctl ca init-intermediate --id int-acme --parent root \
	--name "Acme Constrained" --tenants acme --name-constraints-tenant acme
t=$(openssl x509 -in "$cas/int-acme.crt" -noout -text)
check pkictl_name_constraints_critical grep -q 'X509v3 Name Constraints: critical' <<<"$t"
nc=$(sed -n '/Name Constraints/,/X509v3 [A-Z][a-z]* Key Identifier/p' <<<"$t" | tr -d ' ' | paste -sd' ')
check_eq pkictl_name_constraints_subtrees \
	"X509v3NameConstraints:critical Permitted: DNS:acme.test DNS:host.acme.example IP:10.0.0.0/255.0.0.0 IP:2001:DB8:0:0:0:0:0:0/FFFF:FFFF:0:0:0:0:0:0 email:acme.test URI:acme.test Excluded: DNS:secret.acme.test IP:10.9.0.0/255.255.0.0" \
	"$(sed 's/ X509v3[A-Za-z]*KeyIdentifier.*//' <<<"$nc")"
check pkictl_name_constraints_ca_names jq -e --slurpfile c "$cfg" '.cas[] | select(.id == "int-acme") |
	.names == ($c[0].tenants[] | select(.id == "acme") | .names)' "$cfg"
# leaf NAME SAN: a leaf of int-acme with that subjectAltName, in $work/NAME.crt.
leaf() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
		-keyout "$work/$1.key" -out "$work/$1.csr" 2>/dev/null
	printf 'subjectAltName=%s\n' "$2" >"$work/$1.ext"
	openssl x509 -req -in "$work/$1.csr" -CA "$cas/int-acme.crt" -CAkey "$cas/int-acme.key" \
		-CAcreateserial -days 10 -extfile "$work/$1.ext" -out "$work/$1.crt" 2>/dev/null
}
nc_verify() { openssl verify -x509_strict -CAfile "$cas/root.crt" -untrusted "$cas/int-acme.crt" "$work/$1.crt" 2>&1; }
leaf www.acme.test "DNS:www.acme.test,IP:10.1.2.3,email:ops@acme.test,URI:https://acme.test/api/x"
check pkictl_name_constraints_leaf_inside_verifies nc_verify www.acme.test
leaf www.globex.example "DNS:www.globex.example"
out=$(nc_verify www.globex.example)
[ $? -ne 0 ] && [[ $out == *"permitted subtree violation"* ]]
verdict pkictl_name_constraints_openssl_refuses_outside
leaf x.secret.acme.test "DNS:x.secret.acme.test"
out=$(nc_verify x.secret.acme.test)
[ $? -ne 0 ] && [[ $out == *"excluded subtree violation"* ]]
verdict pkictl_name_constraints_openssl_refuses_denied
leaf ip.acme.test "DNS:ip.acme.test,IP:192.0.2.1"
check pkictl_name_constraints_openssl_refuses_other_ip fails nc_verify ip.acme.test
rm -f "$cas"/*.srl "$work"/*.acme.test.* "$work"/www.globex.example.*

# ---- users ----
key=$(ctl user add --name alice --email alice@acme.example --role requester --tenant acme \
	--cas int-ec-p256 2>"$work/err")
[[ $key =~ ^pki_[A-Za-z0-9_-]{43}$ ]]
verdict pkictl_user_add_stdout_only_key
check pkictl_user_add_hint_on_stderr grep -q 'shown once' "$work/err"
digest=$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)
check pkictl_user_add_stores_hash [ "$(field '.users[] | select(.name == "alice") | .api_key_hash')" = \
	"sha256:$digest" ]
check pkictl_user_add_no_clear_key fails grep -qF "$key" "$cfg"
check pkictl_user_add_admin ctl user add --name root-admin --email admin@acme.example --role admin \
	--tenant acme --admin-tenants acme,globex
check pkictl_user_admin_entry jq -e '.users[] | select(.name == "root-admin") |
	.role == "admin" and .admin_tenants == ["acme", "globex"] and .admin_cas == []' "$cfg"
check pkictl_user_add_auditor ctl user add --name audit --email audit@acme.example --role auditor \
	--tenant globex
check pkictl_user_add_admin_all ctl user add --name ops --email ops@acme.example --role admin \
	--tenant acme --admin-tenants '*' --admin-cas '*'
check pkictl_user_admin_all_entry jq -e '.users[] | select(.name == "ops") |
	.admin_tenants == ["*"] and .admin_cas == ["*"]' "$cfg"
# --check-config: each tenant without names and each "*" operator is named.
out=$("$root/build/release/pki-gateway" --config "$cfg" --check-config 2>&1)
check pkictl_check_config_ok grep -q ': ok$' <<<"$out"
check pkictl_check_config_names_tenant_without_names \
	grep -qF 'tenants[1] (globex): no names: its users may have no name at all' <<<"$out"
check pkictl_check_config_names_star_operator \
	grep -qF 'users[3] (ops): operator of every tenant and every CA' <<<"$out"
check pkictl_check_config_only_those fails grep -qE 'note: (tenants\[0\]|users\[[012]\])' <<<"$out"

# ---- bulk keys ----
secret=$(ctl user add-bulk-key --user alice 2>"$work/err")
[[ $secret =~ ^[0-9a-f]{64}$ ]]
verdict pkictl_bulk_key_stdout_only_secret
check pkictl_bulk_key_entry jq -e '.bulk_keys == [{"id": "alice-1", "user": "alice",
	"secret_file": "bulk/keys/alice-1.key"}]' "$cfg"
[ "$(mode_of "$work/pki/bulk/keys/alice-1.key")" = 600 ] &&
	[ "$(tr -d '\n' <"$work/pki/bulk/keys/alice-1.key")" = "$secret" ]
verdict pkictl_bulk_key_secret_file_0600
pdir=$(cd "$work/pki" && pwd)
[ "$(mode_of "$work/pki/bulk/alice.json")" = 600 ] &&
	jq -e --arg s "$secret" --arg d "$pdir" '.user == "alice" and .key_id == "alice-1" and
	.secret == $s and .kafka.bootstrap == "127.0.0.1:29092" and .kafka.ca == "\($d)/kafka/ca.pem" and
	.kafka.cert == "\($d)/kafka/bulk-alice.crt" and .kafka.key == "\($d)/kafka/bulk-alice.key"' \
	"$work/pki/bulk/alice.json" >/dev/null
verdict pkictl_bulk_key_profile
check pkictl_bulk_key_second_id bash -c '"$0" user add-bulk-key --user alice --id alice-ci --config "$1" |
	grep -qE "^[0-9a-f]{64}$" && jq -e ".bulk_keys[1].id == \"alice-ci\"" "$1"' "$pkictl" "$cfg"

# ---- password hash ----
hash=$(printf 'another secret\n' | "$pkictl" password hash)
check pkictl_password_hash scrypt_ok "another secret" "$hash"
check pkictl_password_hash_short bash -c '! printf "short\n" | "$0" password hash' "$pkictl"

# ---- refused commands: exit non-zero, name the flag, change nothing ----
printf 'tiny\n' >"$work/shortpw"
refusals=(
	"--key|ca init-root --id r2 --name R2 --key dsa1024"
	"--id|ca init-root --id -bad --name R2"
	"--id|ca init-root --id root --name Another"
	"--name|ca init-root --id r2 --name 'Test Root'"
	"--name|ca init-root --id r2"
	"--days|ca init-root --id r2 --name R2 --days 0"
	"--days|ca init-root --id r2 --name R2 --days many"
	"--country|ca init-root --id r2 --name R2 --country Germany"
	"--frobnicate|ca init-root --id r2 --name R2 --frobnicate"
	"--path-len|ca init-root --id r2 --name R2 --path-len 99"
	"--parent|ca init-intermediate --id i9 --parent nope --name I9"
	"--parent|ca init-intermediate --id i9 --parent int-ec-p256 --name I9"
	"--path-len|ca init-intermediate --id i9 --parent rsaroot --name I9 --path-len 1"
	"--parent|ca init-intermediate --id i9 --parent int-low --name I9"
	"--tenants|ca init-intermediate --id i9 --parent root --name I9 --tenants nope"
	"--users|ca init-intermediate --id i9 --parent root --name I9 --users nobody"
	"--extensions|ca init-intermediate --id i9 --parent root --name I9 --extensions ocsp_signing"
	"--key-sizes|ca init-intermediate --id i9 --parent root --name I9 --key-sizes 1024"
	"--key-sizes|ca init-intermediate --id i9 --parent root --name I9 --key-types EC --key-sizes 2048"
	"--key-types|ca init-intermediate --id i9 --parent root --name I9 --key-types DSA"
	"--curves|ca init-intermediate --id i9 --parent root --name I9 --curves P-192"
	"--cidrs|ca init-intermediate --id i9 --parent root --name I9 --cidrs 10.0.0.0/33"
	"--cidrs|ca init-intermediate --id i9 --parent root --name I9 --cidrs example.com/8"
	"--priority|ca init-intermediate --id i9 --parent root --name I9 --priority 5000"
	"--max-validity-days|ca init-intermediate --id i9 --parent root --name I9 --max-validity-days 4000"
	"--tenants|ca init-intermediate --id i9 --parent root --name I9 --tenants acme,,globex"
	"--tenants|ca init-intermediate --id i9 --parent root --name I9 --tenants acme,acme"
	"--approvals-required|ca init-intermediate --id i9 --parent root --name I9 --approvals-required 2"
	"--approval-password-env|ca init-intermediate --id i9 --parent root --name I9 --manual-approval --approval-password-env PKICTL_TEST_UNSET"
	"--approval-password-file|ca init-intermediate --id i9 --parent root --name I9 --manual-approval --approval-password-file $work/shortpw"
	"--approvals-required|ca init-intermediate --id i9 --parent root --name I9 --manual-approval --approvals-required 0"
	"--crl-url|ca init-intermediate --id i9 --parent root --name I9 --crl-url https://pki.example/i9.crl"
	"--ca-issuers-url|ca init-intermediate --id i9 --parent root --name I9 --ca-issuers-url http://pki.example/"
	"--id|ca crl --id nope"
	"--days|ca crl --id root --days 400"
	"--days|ca crl --id root --days 0"
	"--email|user add --name carol --email carol --role requester --tenant acme"
	"--role|user add --name carol --email carol@acme.example --role superuser --tenant acme"
	"--tenant|user add --name carol --email carol@acme.example --role requester --tenant initech"
	"--cas|user add --name carol --email carol@acme.example --role requester --tenant acme --cas nope"
	"--admin-cas|user add --name carol --email carol@acme.example --role requester --tenant acme --admin-cas root"
	"--name|user add --name alice --email alice2@acme.example --role requester --tenant acme"
	"--name|user add --name 'carol smith' --email carol@acme.example --role requester --tenant acme"
	"--id|tenant add --id acme --name Other"
	"--user|user add-bulk-key --user mallory"
	"--user|user add-bulk-key"
	"--id|user add-bulk-key --user alice --id alice-1"
	"--id|user add-bulk-key --user alice --id 'bad id'"
	"--id|user add-bulk-key --user alice --id k234567890123456789012345678901234567890123456789012345678901234"
	"--name|tenant add --id initech --name Globex"
	"--names-dns|tenant add --id initech --name Initech --names-dns com"
	"--names-dns|tenant add --id initech --name Initech --names-dns '*.initech.test'"
	"--names-ip|tenant add --id initech --name Initech --names-ip 10.0.0.1/8"
	"--names-email|tenant add --id initech --name Initech --names-email a@initech.test"
	"--names-uri|tenant add --id initech --name Initech --names-uri initech.test"
	"--deny-dns|tenant add --id initech --name Initech --deny-dns 'bad name'"
	"--name-constraints-tenant|ca init-intermediate --id i9 --parent root --name I9 --name-constraints-tenant globex"
	"--name-constraints-tenant|ca init-intermediate --id i9 --parent root --name I9 --name-constraints-tenant nope"
	"--admin-tenants|user add --name carol --email carol@acme.example --role admin --tenant acme --admin-tenants nope"
)
for r in "${refusals[@]}"; do
	want=${r%%|*}
	eval "args=(${r#*|})"
	name="pkictl_refuses_${args[0]}_${args[1]}_${want#--}_$(printf '%s' "$r" | cksum | cut -c1-6)"
	before=$(state)
	out=$(ctl "${args[@]}" 2>"$work/err")
	rc=$?
	if [ $rc -ne 0 ] && [ -z "$out" ] && grep -qe "$want" "$work/err" && [ "$before" = "$(state)" ]; then
		pass "$name"
	else
		fail "$name" "rc=$rc stdout=$out stderr=$(head -c 300 "$work/err")"
	fi
done

# Flag values rejected by config_load after the edit also change nothing: a CA
# key readable by others makes every later edit fail, and no API key is shown.
chmod 644 "$cas/root.key"
before=$(state)
out=$(ctl user add --name carol --email carol@acme.example --role requester --tenant acme 2>"$work/err")
[ $? -ne 0 ] && [ -z "$out" ] && \
	[ "$before" = "$(state)" ] && grep -q 'cas\[0\].key' "$work/err" && grep -q 'nothing was changed' "$work/err"
verdict pkictl_validation_failure_changes_nothing
before=$(state)
check pkictl_validation_failure_removes_new_files fails ctl ca init-intermediate \
	--id int-late --parent root --name Late
check pkictl_validation_failure_removes_new_files_state [ "$before" = "$(state)" ]
chmod 600 "$cas/root.key"

# A new config with a bad value is not created at all.
check pkictl_init_bad_brokers bash -c '! "$0" init --config "$1" --kafka-brokers nohost 2>/dev/null && [ ! -e "$1" ] && [ ! -e "${1%/*}/grant.key" ]' \
	"$pkictl" "$work/other/config.json"

# Help and dispatch.
check pkictl_help "$pkictl" --help
check pkictl_help_intermediate_lists_flags bash -c '"$0" ca init-intermediate --help | grep -q -- "--approval-password-env VAR"' "$pkictl"
check pkictl_unknown_command bash -c '"$0" frobnicate 2>&1; [ $? -eq 2 ]' "$pkictl"
out=$("$pkictl" tenant add --config "$work/none.json" --id x --name y 2>&1)
[ $? -ne 0 ] && [[ $out == *"none.json: cannot open"*"pkictl init"* ]]
verdict pkictl_missing_config
