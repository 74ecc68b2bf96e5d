#!/usr/bin/env bash
# The demo PKI of scripts/demo-init.sh: credentials.json shape, CA chains,
# key file modes, and no secret in the clear in the config.
. "$(dirname "$0")/lib.sh"
# Each check reads exit codes itself; a failing command must not end the suite.
set +e

root=$(cd "$(dirname "$0")/../.." && pwd)
demo=$PKI_VAR/demo
if [ ! -e "$demo/config.json" ]; then
	"$root/scripts/demo-init.sh" "$demo" >&2 || fail demo_init "scripts/demo-init.sh $demo failed"
fi
cfg=$demo/config.json
creds=$demo/credentials.json
cas=$demo/cas

# check NAME COMMAND...: PASS when the command succeeds.
check() {
	local name=$1
	shift
	if "$@" >/dev/null 2>&1; then pass "$name"; else fail "$name"; fi
}
fails() { ! "$@"; }
mode_of() { stat -c %a "$1"; }

check demo_credentials_shape jq -e '
	(keys == ["admin_url", "approval_password", "cas", "gateway", "kafka", "users"]) and
	(.gateway | test("^http://[^/]+:[0-9]+$")) and
	(.admin_url | test("^http://[^/]+:[0-9]+$")) and
	(.approval_password | type == "string" and length >= 16) and
	(.users | keys | contains(["admin", "alice", "bob"])) and
	([.users[] | keys - ["bulk"] == ["tenant", "token"]] | all) and
	([.users[].token | test("^pki_[A-Za-z0-9_-]{43}$")] | all) and
	(.users.alice.tenant == "acme" and .users.bob.tenant == "globex" and
	 .users.admin.tenant == "acme") and
	(.cas | contains({root: "demo-root", issuing: "demo-issuing", approval: "demo-approval",
		  globex: "demo-globex"}))' "$creds"
check demo_credentials_addresses jq -e --slurpfile c "$cfg" '.gateway == "http://" + $c[0].listen.gateway and
	.admin_url == "http://" + $c[0].listen.approver' "$creds"
check demo_credentials_mode [ "$(mode_of "$creds")" = 600 ]
# Bulk producers: alice and bob each have a key in the config, its secret
# file and a profile (0600), and Kafka client file paths under the demo folder.
dabs=$(cd "$demo" && pwd)
check demo_credentials_bulk jq -e --arg d "$dabs" --slurpfile c "$cfg" '
	(.kafka.bootstrap == $c[0].kafka.brokers) and (.kafka.ca == "\($d)/kafka/ca.pem") and
	([("alice", "bob") as $u | .users[$u].bulk.profile == "\($d)/bulk/\($u).json" and
	  .kafka.producers[$u] == {cert: "\($d)/kafka/bulk-\($u).crt", key: "\($d)/kafka/bulk-\($u).key"} and
	  ([$c[0].bulk_keys[] | select(.id == $creds[0].users[$u].bulk.key_id) | .user] == [$u])] | all)
	' --slurpfile creds "$creds" "$creds"
for u in alice bob; do
	kid=$(jq -r ".users.$u.bulk.key_id" "$creds")
	check "demo_bulk_files_0600_$u" [ "$(mode_of "$demo/bulk/keys/$kid.key")$(mode_of "$demo/bulk/$u.json")" = 600600 ]
	check "demo_bulk_profile_$u" jq -e --arg k "$kid" --arg u "$u" --arg s "$(cat "$demo/bulk/keys/$kid.key")" \
		'.user == $u and .key_id == $k and .secret == $s' "$demo/bulk/$u.json"
done

# Every intermediate verifies against the root; demo-globex has no leaf, so its
# chain is checked the same leaf-less way, plus its pathlen.
for id in demo-issuing demo-approval demo-globex; do
	check "demo_chain_$id" openssl verify -x509_strict -CAfile "$cas/demo-root.crt" "$cas/$id.crt"
	check "demo_pathlen0_$id" grep -q 'CA:TRUE, pathlen:0' \
		<<<"$(openssl x509 -in "$cas/$id.crt" -noout -text)"
	check "demo_config_entry_$id" jq -e --arg id "$id" '.cas[] | select(.id == $id) |
		.type == "intermediate" and .parent == "demo-root" and .status == "active" and
		.api_issuance == true and .cert == "cas/\($id).crt" and .key == "cas/\($id).key"' "$cfg"
done
check demo_root_self_signed openssl verify -x509_strict -CAfile "$cas/demo-root.crt" "$cas/demo-root.crt"
check demo_root_not_api jq -e '.cas[] | select(.id == "demo-root") | .type == "root" and
	.api_issuance == false' "$cfg"
# A leaf signed by demo-issuing verifies through the whole chain.
work=$(mktemp -d "${TMPDIR:-/tmp}/demo-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=www.acme.example" \
	-keyout "$work/leaf.key" -out "$work/leaf.csr" 2>/dev/null
openssl x509 -req -in "$work/leaf.csr" -CA "$cas/demo-issuing.crt" -CAkey "$cas/demo-issuing.key" \
	-CAserial "$work/serial" -CAcreateserial -days 1 -out "$work/leaf.crt" 2>/dev/null
check demo_chain_leaf_demo-issuing openssl verify -x509_strict -CAfile "$cas/demo-root.crt" \
	-untrusted "$cas/demo-issuing.crt" "$work/leaf.crt"

check demo_policy_issuing jq -e '.cas[] | select(.id == "demo-issuing") |
	.requires_manual_approval == false and .tenants == ["acme"]' "$cfg"
check demo_policy_approval jq -e '.cas[] | select(.id == "demo-approval") |
	.requires_manual_approval == true and .tenants == ["acme"] and
	(.approval_password_hash | startswith("scrypt$"))' "$cfg"
check demo_policy_globex jq -e '.cas[] | select(.id == "demo-globex") | .tenants == ["globex"]' "$cfg"
check demo_users jq -e '[.users[] | {name, role, tenant}] == [
	{name: "alice", role: "requester", tenant: "acme"},
	{name: "bob", role: "requester", tenant: "globex"},
	{name: "admin", role: "admin", tenant: "acme"},
	{name: "admin2", role: "admin", tenant: "acme"},
	{name: "admin-globex", role: "admin", tenant: "globex"}] and
	(.users[] | select(.name == "admin") | .admin_tenants == ["acme"] and .admin_cas == ["*"]) and
	(.users[] | select(.name == "admin2") | .admin_tenants == ["acme"]) and
	(.users[] | select(.name == "admin-globex") | .admin_tenants == ["globex"])' "$cfg"
check demo_names jq -e '[.tenants[] | {id, names}] == [
	{id: "acme", names: {allow: {dns: ["acme.test", "acme.example"], ip: ["10.0.0.0/8"],
		email: ["acme.example"], uri: ["https://acme.example/"]},
		deny: {dns: [], ip: [], email: [], uri: []}, wildcards: true}},
	{id: "globex", names: {allow: {dns: ["globex.test", "globex.example"], ip: [], email: [], uri: []},
		deny: {dns: [], ip: [], email: [], uri: []}, wildcards: false}}]' "$cfg"
# --check-config names each operator of every tenant or CA (none of every tenant in the demo).
notes=$("$root/build/release/pki-gateway" --config "$cfg" --check-config 2>&1)
check demo_check_config_names_star_operators grep -qF "users[2] (admin): operator of every CA (admin_cas \"*\")" <<<"$notes"
check demo_check_config_no_cross_tenant_operator fails grep -q 'every tenant' <<<"$notes"
check demo_policy_approval_2 jq -e '.cas[] | select(.id == "demo-approval-2") |
	.requires_manual_approval == true and .approvals_required == 2' "$cfg"
check demo_policy_approval_short jq -e '.cas[] | select(.id == "demo-approval-short") |
	.requires_manual_approval == true and .approval_ttl_seconds == 60' "$cfg"
check demo_policy_disabled jq -e '.cas[] | select(.id == "demo-disabled") |
	.status == "disabled" and .tenants == ["acme"]' "$cfg"
check demo_tenant_organizations jq -e '[.tenants[] | {id, organizations}] == [
	{id: "acme", organizations: ["Acme Corp", "Acme"]}, {id: "globex", organizations: ["Globex"]}]' "$cfg"
check demo_policy_strict jq -e '.cas[] | select(.id == "demo-strict") | .subject == {
	attributes: {OU: "refuse", L: "required"}, fixed: {C: "FR"}, organization: "refuse"}' "$cfg"
check demo_policy_cabf jq -e '.cas[] | select(.id == "demo-cabf") | .profile == "cabf_tls"' "$cfg"
check demo_policy_private jq -e '[.cas[] | select(.id != "demo-cabf") | .profile // "private"] |
	all(. == "private")' "$cfg"

modes_ok=0
for f in "$cas"/*.key "$demo/grant.key"; do
	[ "$(mode_of "$f")" = 600 ] || modes_ok=1
done
[ "$(ls "$cas"/*.key | wc -l)" = 9 ] && [ $modes_ok = 0 ]
if [ $? -eq 0 ]; then pass demo_key_modes; else fail demo_key_modes; fi

# No API key or approval password in the clear; each stored hash matches its key.
for u in alice bob admin admin2 admin-globex; do
	token=$(jq -r --arg u "$u" '.users[$u].token' "$creds")
	check "demo_no_clear_token_$u" fails grep -qF "$token" "$cfg"
	digest=$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)
	check "demo_token_hash_$u" jq -e --arg u "$u" --arg h "sha256:$digest" \
		'.users[] | select(.name == $u) | .api_key_hash == $h' "$cfg"
done
password=$(jq -r .approval_password "$creds")
check demo_no_clear_approval_password fails grep -qF "$password" "$cfg"
hash=$(jq -r '.cas[] | select(.id == "demo-approval") | .approval_password_hash' "$cfg")
python3 - "$password" "$hash" <<'PY'
import base64, hashlib, hmac, sys
pw, enc = sys.argv[1], sys.argv[2]
_, n, r, p, salt, h = enc.split("$")
want = base64.b64decode(h)
got = hashlib.scrypt(pw.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                     maxmem=128 * 1024 * 1024, dklen=len(want))
sys.exit(0 if hmac.compare_digest(got, want) else 1)
PY
if [ $? -eq 0 ]; then pass demo_approval_password_hash; else fail demo_approval_password_hash; fi

# A second run leaves everything as it is.
before=$(cat "$cfg" "$creds" "$cas"/* | sha256sum)
"$root/scripts/demo-init.sh" "$demo" 2>/dev/null
[ $? -eq 0 ] && [ "$before" = "$(cat "$cfg" "$creds" "$cas"/* | sha256sum)" ]
if [ $? -eq 0 ]; then pass demo_init_idempotent; else fail demo_init_idempotent; fi

# Scopes fail closed (live, on the running stack): acme's admin no longer
# reads globex's requests or CA templates; globex's own admin does.
name=scope-$RUN_ID.globex.example
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
	-addext "subjectAltName=DNS:$name" -keyout "$work/scope.key" -out "$work/scope.csr" 2>/dev/null
http POST "$GATEWAY_URL/csr/process" "$(jq -n --rawfile csr "$work/scope.csr" --arg cn "$name" \
	'{csr_data: $csr, common_name: $cn, validity_days: 30, ca_id: "demo-globex"}')" -H "$(auth bob)"
gid=$(jq -r '.request_id // empty' <<<"$HTTP_BODY")
check_eq demo_scope_bob_globex_name_accepted 202 "$HTTP_STATUS"
http GET "$GATEWAY_URL/csr/requests/$gid" "" -H "$(auth admin)"
check_eq demo_scope_acme_admin_no_globex_request 404 "$HTTP_STATUS"
http GET "$GATEWAY_URL/csr/ca-template/demo-globex" "" -H "$(auth admin)"
check_eq demo_scope_acme_admin_no_globex_template 404 "$HTTP_STATUS"
http GET "$GATEWAY_URL/csr/requests/$gid" "" -H "$(auth admin-globex)"
check_eq demo_scope_globex_admin_reads_globex_request 200 "$HTTP_STATUS"
http GET "$GATEWAY_URL/csr/ca-template/demo-globex" "" -H "$(auth admin-globex)"
check_eq demo_scope_globex_admin_globex_template 200 "$HTTP_STATUS"
http GET "$GATEWAY_URL/csr/ca-template/demo-issuing" "" -H "$(auth alice)"
check_eq demo_template_names_acme \
	'{"dns":["acme.test","acme.example"],"ip":["10.0.0.0/8"],"email":["acme.example"],"uri":["https://acme.example/"]} true' \
	"$(jq -c '.names.allow' <<<"$HTTP_BODY") $(jq -c '.names.wildcards' <<<"$HTTP_BODY")"
