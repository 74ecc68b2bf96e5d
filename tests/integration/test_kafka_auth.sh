#!/usr/bin/env bash
# Kafka's trust boundary, against the test stack's real broker: mutual TLS
# with certificates of the infrastructure CA only (principal = CN), and each
# principal's ACLs. Every refusal below is the broker's; the command that
# shows it is printed with each FAIL.
. "$(dirname "$0")/lib.sh"
# Each check reads exit codes itself; a failing command must not end the suite.
set +e

PKICTL=$ROOT/build/release/pkictl
WORKER=$ROOT/build/release/pki-worker
KCAT_TIMEOUT=30 # seconds per kcat call
LOG_WAIT=30     # seconds for a service to log a refusal
work=$(mktemp -d "${TMPDIR:-/tmp}/kafka-auth-test.XXXXXX")
WORKER_PID=
cleanup() {
	[[ -n $WORKER_PID ]] && kill "$WORKER_PID" 2>/dev/null
	rm -rf "$work"
	[[ -n ${CFG_COPY:-} ]] && rm -f "$CFG_COPY"
}
trap 'cleanup; lib_exit' EXIT

topic() { jq -r --arg k "$1" --arg d "$2" '.kafka.topics[$k] // $d' "$TEST_CONFIG"; }
T_ISSUE=$(topic issue pki.issue)
T_SUBMIT=$(topic submit pki.submit)
T_APPROVAL=$(topic approval pki.approval)
T_RESULTS=$(topic results pki.results)
GROUP=$(jq -r '.kafka.group // "pki-workers"' "$TEST_CONFIG")

# as CONF KCAT_ARGS...: kcat with only the properties in CONF (not pki-admin's).
as() {
	local conf=$1
	shift
	timeout "$KCAT_TIMEOUT" kcat -F "$conf" -b "$KAFKA_BROKERS" -m 10 "$@" 2>&1
}

# refused NAME EXPECTED CONF KCAT_ARGS...: PASS when kcat fails with EXPECTED in its output.
refused() {
	local name=$1 want=$2 out rc
	shift 2
	out=$(as "$@")
	rc=$?
	if ((rc != 0)) && [[ $out == *"$want"* ]]; then
		pass "$name"
	else
		fail "$name" "kcat -F $* exited $rc; expected an error containing: $want" \
			"$(tail -n 5 <<<"$out")"
	fi
}

# allowed NAME CONF KCAT_ARGS...: PASS when kcat succeeds.
allowed() {
	local name=$1 out rc
	shift
	out=$(as "$@")
	rc=$?
	if ((rc == 0)) && [[ $out != *"ERROR"* && $out != *"failed"* ]]; then
		pass "$name"
	else
		fail "$name" "kcat -F $* exited $rc" "$(tail -n 5 <<<"$out")"
	fi
}

# ---- who may connect at all ----
: >"$work/plaintext.conf"
refused kafka_auth_plaintext_refused "Broker transport failure" "$work/plaintext.conf" -L
printf '%s\n' security.protocol=ssl "ssl.ca.location=$KAFKA_TLS_DIR/ca.pem" >"$work/nocert.conf"
refused kafka_auth_no_certificate_refused_in_handshake "SSL" "$work/nocert.conf" -L

# A certificate from another CA, naming the super user.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=Foreign CA" \
	-addext basicConstraints=critical,CA:TRUE -keyout "$work/foreign-ca.key" -out "$work/foreign-ca.crt" 2>/dev/null &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=pki-admin" \
		-keyout "$work/foreign.key" -out "$work/foreign.csr" 2>/dev/null &&
	printf 'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\n' >"$work/client.ext" &&
	openssl x509 -req -in "$work/foreign.csr" -CA "$work/foreign-ca.crt" -CAkey "$work/foreign-ca.key" \
		-CAcreateserial -days 30 -extfile "$work/client.ext" -out "$work/foreign.crt" 2>/dev/null
check kafka_auth_foreign_cert_made test -s "$work/foreign.crt"
kcat_conf "$work/foreign" "$work/foreign.conf"
refused kafka_auth_foreign_ca_as_pki_admin_refused "SSL" "$work/foreign.conf" -L

# A certificate a tenant got from this PKI's issuing CA, naming a service.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=pki-worker" \
	-keyout "$work/tenant.key" -out "$work/tenant.csr" 2>/dev/null
http POST "$GATEWAY_URL/csr/process" "$(jq -n --rawfile csr "$work/tenant.csr" \
	'{csr_data: $csr, common_name: "pki-worker", validity_days: 30, extensions: ["client_auth"]}')" \
	-H "$(auth alice)"
id=$(jq -r '.request_id // empty' <<<"$HTTP_BODY")
http GET "$GATEWAY_URL/csr/requests/$id?wait=20" "" -H "$(auth alice)"
jq -r '.certificate // empty' <<<"$HTTP_BODY" >"$work/tenant.crt"
if [[ $(openssl x509 -in "$work/tenant.crt" -noout -subject 2>/dev/null) == "subject=CN = pki-worker" ]]; then
	pass kafka_auth_tenant_cert_issued_by_issuing_ca
else
	fail kafka_auth_tenant_cert_issued_by_issuing_ca "request $id: $HTTP_STATUS $(head -c 300 <<<"$HTTP_BODY")"
fi
kcat_conf "$work/tenant" "$work/tenant.conf"
refused kafka_auth_tenant_cert_as_pki_worker_refused "SSL" "$work/tenant.conf" -L

# ---- a bulk producer: its own principal, pki.submit only ----
# A new one is refused until the ACL step runs again; no broker restart.
late=bulk-late-$RUN_ID
check kafka_auth_bulk_cert_made "$PKICTL" kafka cert "$late" --config "$TEST_CONFIG"
kcat_conf "$late" "$work/late.conf"
printf 'late-%s\n' "$RUN_ID" | refused kafka_auth_new_bulk_refused_before_acls "Topic authorization failed" \
	"$work/late.conf" -P -t "$T_SUBMIT" -k "late-$RUN_ID"
check kafka_auth_acl_step_reruns stack acls
printf 'late-%s\n' "$RUN_ID" | allowed kafka_auth_new_bulk_writes_submit_after_acls \
	"$work/late.conf" -P -t "$T_SUBMIT" -k "late-$RUN_ID" -X enable.idempotence=true

[[ -e $KAFKA_TLS_DIR/bulk-test.crt ]] || "$PKICTL" kafka cert bulk-test --config "$TEST_CONFIG" 2>/dev/null
stack acls >/dev/null
key=bulk-$RUN_ID
# denied PRINCIPAL ACTION RESOURCE: the broker refuses PRINCIPAL (its kafka/
# certificate) to write or read a topic, or to join a group.
denied() {
	local who=$1 what=$2 res=$3 conf=$work/$1.conf
	[[ -e $conf ]] || kcat_conf "$who" "$conf"
	case $what in
	write) printf 'x\n' | refused "kafka_auth_${who}_writes_${res}_refused" "Topic authorization failed" \
		"$conf" -P -t "$res" -k "$key" ;;
	read) refused "kafka_auth_${who}_reads_${res}_refused" "Topic authorization failed" \
		"$conf" -C -t "$res" -o beginning -e -q ;;
	join) refused "kafka_auth_${who}_joins_${res}_refused" "Group authorization failed" \
		"$conf" -G "$res" "$T_SUBMIT" -e -q ;;
	esac
}
# A bulk producer, then each service outside what it uses.
while read -r who what res; do
	denied "$who" "$what" "$res"
done <<EOF
bulk-test    write $T_ISSUE
bulk-test    write $T_APPROVAL
bulk-test    read  $T_RESULTS
bulk-test    join  $GROUP
pki-gateway  read  $T_ISSUE
pki-gateway  join  $GROUP
pki-gateway  write $T_RESULTS
pki-gateway  write $T_SUBMIT
pki-worker   write $T_ISSUE
pki-worker   read  $T_APPROVAL
pki-approver write $T_APPROVAL
pki-approver write $T_SUBMIT
EOF
printf '{"probe":"%s"}\n' "$key" | allowed kafka_auth_bulk_writes_submit \
	"$work/bulk-test.conf" -P -t "$T_SUBMIT" -k "$key" -X enable.idempotence=true -X acks=all
got=$(timeout "$KCAT_TIMEOUT" kcat -F "$KCAT_ADMIN_CONF" -b "$KAFKA_BROKERS" -C -t "$T_SUBMIT" -o beginning -e -q -f '%k\n' 2>/dev/null)
check_contains kafka_auth_bulk_message_on_submit "$key" "$got"

# ---- a service that is refused says so: principal and topic or group ----
CFG_COPY=$(dirname "$TEST_CONFIG")/config-kafka-auth-test.json
# worker_refusal NAME CERT_BASE PATTERN: a worker connecting with CERT_BASE.crt logs PATTERN.
worker_refusal() {
	local name=$1 base=$2 want=$3 log=$work/$1.log
	jq --arg c "$base.crt" --arg k "$base.key" '.kafka.tls.worker = {cert: $c, key: $k}' \
		"$TEST_CONFIG" >"$CFG_COPY" && chmod 600 "$CFG_COPY"
	env -u PKI_CONFIG PKI_WORKER_NAME="auth-test" "$WORKER" --config "$CFG_COPY" \
		--threads 1 2>"$log" &
	WORKER_PID=$!
	if wait_for "$LOG_WAIT" grep -qF -- "$want" "$log"; then
		pass "$name"
	else
		fail "$name" "expected in the worker's log: $want" "$(tail -n 5 "$log")"
	fi
	kill "$WORKER_PID" 2>/dev/null
	wait "$WORKER_PID" 2>/dev/null
	WORKER_PID=
}
worker_refusal kafka_auth_service_logs_denied_group "$KAFKA_TLS_DIR/bulk-test" \
	"principal bulk-test may not join group $GROUP (broker ACL)"
worker_refusal kafka_auth_service_logs_refused_handshake "$work/tenant" \
	"refused as principal pki-worker"
