#!/usr/bin/env bash
# Hostile inputs against the running test stack: every case of tests/hostile
# (raw HTTP requests, CSRs, Kafka messages; tests/hostile/gen.py writes them,
# each NNN-name.expect holds its answer) is sent and must get exactly its
# expected status, code and field (HTTP) or outcome (Kafka: dead letter,
# failed result with its code, or dropped), with no request record stored by
# an HTTP case; bodies sent a byte a second end within the connection
# timeout while other clients are answered; afterwards nothing was signed
# (pki.issued unchanged) and every service is healthy.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

CASES=$ROOT/tests/hostile
PREFIX=$(jq -r '.redis.prefix // "pki:"' "$TEST_CONFIG")
# A byte a second must end within the gateway's connection timeout and this margin.
SLOW_TIMEOUT_S=$(jq -r '.limits.connection_timeout_s // 15' "$TEST_CONFIG")
SLOW_MARGIN_S=10
SLOW_BYTES=$((SLOW_TIMEOUT_S + SLOW_MARGIN_S + 5))
TMP=$PKI_VAR/tmp/hostile-test
rm -rf "$TMP"
mkdir -p "$TMP"

export HOST=$PKI_GATEWAY_LISTEN RUN=$RUN_ID PREFIX
TOKEN=$(token alice) ISSUING=$(cred .cas.issuing) APPROVAL=$(cred .cas.approval)
KEY_ID=$(cred .users.alice.bulk.key_id)
export TOKEN ISSUING APPROVAL KEY_ID
export REDIS_CMD="$ROOT/scripts/stack.sh redis-cli --raw"
export COUNT_CMD="$REDIS_CMD EVAL \"return #redis.call('KEYS', ARGV[1])\" 0 '${PREFIX}req:*'"
export KCAT="kcat -F $KCAT_ADMIN_CONF -b $KAFKA_BROKERS"
TOOL=("$PYTHON" "$ROOT/tests/integration/hostile_tool.py")

issued_count() { kcat_b -C -t pki.issued -o beginning -e -q -f '%o\n' 2>/dev/null | wc -l; }
ISSUED_BEFORE=$(issued_count)

# Two clients sending a body a byte a second, meanwhile the cases run.
for i in 1 2; do
	"${TOOL[@]}" slow "$HOST" "$SLOW_BYTES" >"$TMP/slow-$i" 2>&1 &
done

"${TOOL[@]}" http "$CASES/http"
"${TOOL[@]}" csr "$CASES/csr"
"${TOOL[@]}" kafka "$CASES/kafka"

wait
for i in 1 2; do
	s=$(cat "$TMP/slow-$i")
	if [[ $s =~ ^[0-9]+$ ]] && ((s <= SLOW_TIMEOUT_S + SLOW_MARGIN_S)); then
		pass "hostile slow body $i: a byte a second ends after ${s}s (limit ${SLOW_TIMEOUT_S}s + ${SLOW_MARGIN_S}s)"
	else
		fail "hostile slow body $i: a byte a second ends within $((SLOW_TIMEOUT_S + SLOW_MARGIN_S))s" "got: $s"
	fi
done

check_eq "hostile: nothing signed (pki.issued unchanged)" "$ISSUED_BEFORE" "$(issued_count)"
check_eq "hostile: gateway healthy afterwards" 200 "$(http_status "$GATEWAY_URL/healthz")"
check_eq "hostile: approver healthy afterwards" 200 "$(http_status "$APPROVER_URL/healthz")"
check "hostile: every service still running" stack status
