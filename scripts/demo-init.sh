#!/usr/bin/env bash
# Creates the demo PKI in OUTDIR (default var/demo): config.json, grant.key,
# cas/ (root, three intermediates), users, bulk keys for alice and bob (bulk/:
# secrets and producer profiles), and credentials.json holding the API keys,
# the approval password, the bulk key ids and the bulk producers' Kafka
# files; redis/ (Redis users' passwords and the ACL file); infra/ (the
# infrastructure CA) and kafka/ (the services' Kafka client certificates, the
# broker's keystore, the pki-admin and bulk producer certificates). When
# OUTDIR/config.json exists, only adds what is missing of the Kafka TLS part
# (a demo made before it) and the notifications section with the Redis ACL
# that goes with it (a demo made before notifications). Addresses come from
# PKI_GATEWAY_LISTEN, PKI_APPROVER_LISTEN, PKI_KAFKA_BROKERS, PKI_REDIS_URL
# and PKI_SMTP_URL (the stack's SMTP sink, default smtp://127.0.0.1:12525).
set -euo pipefail

here=$(pwd)
cd "$(dirname "$0")/.."
root=$(pwd)
out=${1:-var/demo}
case $out in /*) ;; *) [ $# -gt 0 ] && out="$here/$out" || out="$root/$out" ;; esac

pkictl=${PKICTL:-$root/build/release/pkictl}
if [ ! -x "$pkictl" ]; then
	make -s -C "$root" build/release/pkictl >&2
fi

# The broker's certificate: its SANs are the addresses clients dial (the
# local stack's 127.0.0.1, compose's service name kafka); librdkafka checks
# them (ssl.endpoint.identification.algorithm=https). pki-admin: the stack's
# and the tests' own super user.
kafka_certs() {
	local cfg=$1
	[ -e "${cfg%/*}/kafka/kafka-broker.crt" ] ||
		"$pkictl" kafka cert kafka-broker --server 127.0.0.1,localhost,kafka --config "$cfg"
	[ -e "${cfg%/*}/kafka/pki-admin.crt" ] || "$pkictl" kafka cert pki-admin --config "$cfg"
}

# Mail goes to the stack's SMTP sink (plain SMTP on loopback); users may
# register webhooks to any public host, never to private addresses.
notify_init() {
	"$pkictl" notify set --smtp-url "${PKI_SMTP_URL:-smtp://127.0.0.1:12525}" \
		--smtp-from pki@localhost --smtp-tls none --webhooks-allow '*' --config "$1"
}

if [ -e "$out/config.json" ]; then
	if ! jq -e .notifications "$out/config.json" >/dev/null 2>&1; then
		echo "demo-init: adding notifications (SMTP sink, webhook rule) to $out" >&2
		notify_init "$out/config.json"
		"$pkictl" redis acl --config "$out/config.json"
	fi
	if [ ! -e "$out/kafka/kafka-broker.keystore.pem" ]; then
		echo "demo-init: adding the Kafka TLS certificates to $out" >&2
		"$pkictl" kafka init --config "$out/config.json"
		kafka_certs "$out/config.json"
		exit 0
	fi
	echo "demo-init: $out/config.json exists; leaving the demo PKI as it is" >&2
	exit 0
fi
for f in cas grant.key redis bulk credentials.json infra kafka; do
	if [ -e "$out/$f" ]; then
		echo "demo-init: $out/$f exists but $out/config.json does not;" \
			"remove $out to start over" >&2
		exit 1
	fi
done

gateway=${PKI_GATEWAY_LISTEN:-127.0.0.1:8080}
approver=${PKI_APPROVER_LISTEN:-127.0.0.1:8081}
brokers=${PKI_KAFKA_BROKERS:-127.0.0.1:19092}
redis=${PKI_REDIS_URL:-redis://127.0.0.1:16379/0}

umask 077
mkdir -p "$out"
# Everything is built in a staging folder and moved in at the end, config.json
# last, so an interrupted run never leaves a config the guard above would keep.
stage=$(mktemp -d "$out/.demo-init.XXXXXX")
trap 'rm -rf "$stage"' EXIT
cfg=$stage/config.json
# Runs pkictl on the staged config; its notes are shown only when it fails.
ctl() {
	if ! "$pkictl" "$@" --config "$cfg" 2>"$stage/stderr"; then
		cat "$stage/stderr" >&2
		echo "demo-init: failed: pkictl $*" >&2
		return 1
	fi
}

ctl init --gateway-listen "$gateway" --approver-listen "$approver" \
	--kafka-brokers "$brokers" --redis-url "$redis"
# init also made infra/ and the services' certificates in kafka/.
kafka_certs "$cfg" 2>"$stage/stderr" || { cat "$stage/stderr" >&2; exit 1; }
notify_init "$cfg" 2>"$stage/stderr" || { cat "$stage/stderr" >&2; exit 1; }
# The organization names (subject O) and the names (DNS, IP, e-mail, URI)
# each tenant's certificates may carry (docs/issuance.md).
ctl tenant add --id acme --name "Acme Corp" --organizations "Acme Corp,Acme" \
	--names-dns acme.test,acme.example --names-wildcards --names-ip 10.0.0.0/8 \
	--names-email acme.example --names-uri https://acme.example/
ctl tenant add --id globex --name "Globex" --organizations Globex \
	--names-dns globex.test,globex.example

# AIA caIssuers and CRL distribution point URLs the gateway answers
# (GET /ca/ID.crt, GET /crl/ID.crl); pkictl writes each CA's first CRL.
urls() { printf -- '--ca-issuers-url\nhttp://%s/ca/%s.crt\n--crl-url\nhttp://%s/crl/%s.crl\n' \
	"$gateway" "$1" "$gateway" "$1"; }
mapfile -t issuing_urls < <(urls demo-issuing)
mapfile -t approval_urls < <(urls demo-approval)
mapfile -t globex_urls < <(urls demo-globex)
mapfile -t approval2_urls < <(urls demo-approval-2)
mapfile -t approval_short_urls < <(urls demo-approval-short)
mapfile -t cabf_urls < <(urls demo-cabf)

ctl ca init-root --id demo-root --name "Demo Root CA" --key ec-p384 \
	--org "Demo PKI" --country US --days 3650
ctl ca init-intermediate --id demo-issuing --parent demo-root --name "Demo Issuing CA" \
	--key ec-p256 --org "Demo PKI" --country US --days 1825 \
	--tenants acme --max-validity-days 397 --extensions server_auth,client_auth \
	--purposes tls --email-patterns '*@acme.example' --priority 10 "${issuing_urls[@]}"

approval_password=$(openssl rand -base64 18 | tr '+/' '-_')
DEMO_APPROVAL_PASSWORD=$approval_password \
	ctl ca init-intermediate --id demo-approval --parent demo-root --name "Demo Approval CA" \
	--key ec-p256 --org "Demo PKI" --country US --days 1825 \
	--manual-approval --approval-password-env DEMO_APPROVAL_PASSWORD --approvals-required 1 \
	--tenants acme --max-validity-days 397 --extensions server_auth,client_auth \
	--priority 0 "${approval_urls[@]}"
ctl ca init-intermediate --id demo-globex --parent demo-root --name "Globex Issuing CA" \
	--key rsa2048 --org "Globex" --country US --days 1825 \
	--tenants globex --max-validity-days 397 --extensions server_auth,client_auth \
	--priority 10 "${globex_urls[@]}"

# Approval test beds: dual control (2 of n) and a short approval period
# (the configuration minimum); purpose-restricted so that CA selection
# without ca_id never lands on them.
DEMO_APPROVAL_PASSWORD=$approval_password \
	ctl ca init-intermediate --id demo-approval-2 --parent demo-root --name "Demo Dual-Control CA" \
	--key ec-p256 --org "Demo PKI" --country US --days 1825 \
	--manual-approval --approval-password-env DEMO_APPROVAL_PASSWORD --approvals-required 2 \
	--tenants acme --max-validity-days 397 --extensions server_auth,client_auth \
	--purposes dual-control --priority 0 "${approval2_urls[@]}"
DEMO_APPROVAL_PASSWORD=$approval_password \
	ctl ca init-intermediate --id demo-approval-short --parent demo-root \
	--name "Demo Short-Approval CA" --key ec-p256 --org "Demo PKI" --country US --days 1825 \
	--manual-approval --approval-password-env DEMO_APPROVAL_PASSWORD --approval-ttl-seconds 60 \
	--tenants acme,globex --max-validity-days 397 --extensions server_auth,client_auth \
	--purposes short-approval --priority 0 "${approval_short_urls[@]}"

# Subject policy test beds (docs/issuance.md), purpose-restricted like the
# approval ones: demo-strict refuses OU and a foreign O, requires L and
# writes C=FR; demo-cabf follows the CA/Browser Forum TLS profile (DV/OV
# subjects, their policy identifiers, no OU, at most 398 days whatever its
# maximum says).
ctl ca init-intermediate --id demo-strict --parent demo-root --name "Demo Strict-Subject CA" \
	--key ec-p256 --org "Demo PKI" --country US --days 1825 --tenants acme \
	--max-validity-days 397 --extensions server_auth,client_auth \
	--subject OU=refuse,L=required --subject-fixed C=FR --subject-organization refuse \
	--purposes strict-subject --priority 0
ctl ca init-intermediate --id demo-cabf --parent demo-root --name "Demo CA/B Forum TLS CA" \
	--key ec-p256 --org "Demo PKI" --country US --days 1825 --tenants acme \
	--max-validity-days 825 --extensions server_auth,client_auth --profile cabf_tls \
	--purposes cabf-tls --priority 0 "${cabf_urls[@]}"

# A disabled CA: configured for acme, signs nothing (admission refuses it).
ctl ca init-intermediate --id demo-disabled --parent demo-root --name "Demo Disabled CA" \
	--key ec-p256 --org "Demo PKI" --country US --days 1825 --tenants acme --disabled \
	--purposes disabled --priority 0

alice=$(ctl user add --name alice --email alice@acme.example --role requester --tenant acme)
bob=$(ctl user add --name bob --email bob@globex.example --role requester --tenant globex)
# Admin scopes are written out (empty means none): acme's admins act for
# acme on every CA, globex's for globex; there is no cross-tenant operator.
admin=$(ctl user add --name admin --email admin@acme.example --role admin --tenant acme \
	--admin-tenants acme --admin-cas '*')
admin2=$(ctl user add --name admin2 --email admin2@acme.example --role admin --tenant acme \
	--admin-tenants acme --admin-cas '*')
admin_globex=$(ctl user add --name admin-globex --email admin@globex.example --role admin \
	--tenant globex --admin-tenants globex --admin-cas '*')

# Bulk producers: a signing key each (the secret is also in the profile
# bulk/USER.json); their Kafka client certificates are kafka/bulk-USER.crt/.key.
ctl user add-bulk-key --user alice --id alice-bulk-1 >/dev/null
ctl user add-bulk-key --user bob --id bob-bulk-1 >/dev/null
ctl kafka cert bulk-alice
ctl kafka cert bulk-bob

jq -n --arg gw "http://$gateway" --arg admin_url "http://$approver" \
	--arg pw "$approval_password" --arg alice "$alice" --arg bob "$bob" --arg admin "$admin" \
	--arg admin2 "$admin2" --arg admin_globex "$admin_globex" --arg out "$out" \
	--arg brokers "$brokers" \
	'def producer(u): {cert: "\($out)/kafka/bulk-\(u).crt", key: "\($out)/kafka/bulk-\(u).key"};
	 {gateway: $gw, admin_url: $admin_url, approval_password: $pw,
	  users: {alice: {token: $alice, tenant: "acme",
			  bulk: {key_id: "alice-bulk-1", profile: "\($out)/bulk/alice.json"}},
		  bob: {token: $bob, tenant: "globex",
			bulk: {key_id: "bob-bulk-1", profile: "\($out)/bulk/bob.json"}},
		  admin: {token: $admin, tenant: "acme"},
		  admin2: {token: $admin2, tenant: "acme"},
		  "admin-globex": {token: $admin_globex, tenant: "globex"}},
	  cas: {root: "demo-root", issuing: "demo-issuing", approval: "demo-approval",
		globex: "demo-globex", approval2: "demo-approval-2",
		approval_short: "demo-approval-short", disabled: "demo-disabled",
		strict: "demo-strict", cabf: "demo-cabf"},
	  kafka: {bootstrap: $brokers, ca: "\($out)/kafka/ca.pem",
		  producers: {alice: producer("alice"), bob: producer("bob")}}}' \
	>"$stage/credentials.json"
chmod 600 "$stage/credentials.json"
# The profiles name files under the folder they were made in: the staging one.
for p in "$stage"/bulk/*.json; do
	jq --arg s "$stage" --arg o "$out" \
		'.kafka |= map_values(if startswith($s + "/") then $o + ltrimstr($s) else . end)' \
		"$p" >"$p.tmp" && mv "$p.tmp" "$p"
done

mv "$stage/cas" "$stage/grant.key" "$stage/redis" "$stage/bulk" "$stage/credentials.json" \
	"$stage/infra" "$stage/kafka" "$out/"
mv "$cfg" "$out/config.json"
echo "demo-init: demo PKI in $out (credentials in $out/credentials.json)" >&2
