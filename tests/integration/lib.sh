# shellcheck shell=bash
# Sourced by every tests/integration/test_*.sh. tests/run.sh starts the test
# stack once before the suites run; a suite can also be run on its own
# against a stack started with the same environment.
#
# Result lines on stdout: "PASS: <name>" / "FAIL: <name>" (details indented
# below a FAIL). The suite exits 1 when anything failed.
#
# Variables:  ROOT PKI_VAR KAFKA_BROKERS REDIS_PORT GATEWAY_URL APPROVER_URL
#             CREDENTIALS TEST_CONFIG PYTHON TOPICS[] RUN_ID
# Results:    pass NAME | fail NAME [DETAIL...] | check NAME CMD... |
#             check_eq NAME EXPECTED ACTUAL | check_contains NAME NEEDLE TEXT
# Waiting:    wait_for SECONDS CMD...
# HTTP:       http_status URL [CURL_ARGS...]  (prints the code, 000 = no answer)
#             http METHOD URL [BODY [CURL_ARGS...]]  (sets HTTP_STATUS, HTTP_BODY)
#             status_is CODE URL  (for wait_for)
# Identity:   cred JQ_FILTER | token USER | auth USER  ("Authorization: Bearer …")
# Stack:      stack SUBCOMMAND (scripts/stack.sh with the test environment),
#             stop_redis start_redis stop_kafka start_kafka
#             redis_cli ARGS... | kcat_b ARGS... (as pki-admin, over TLS)
#             topic_dump TOPIC (its JSON object messages, one a line)
# Kafka TLS:  KAFKA_TLS_DIR KCAT_ADMIN_CONF kcat_conf (kafka_tls.sh)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1

export PKI_VAR=${PKI_VAR:-var/test}
export PKI_KAFKA_PORT=${PKI_KAFKA_PORT:-29092}
export PKI_KAFKA_CONTROLLER_PORT=${PKI_KAFKA_CONTROLLER_PORT:-29093}
export PKI_REDIS_PORT=${PKI_REDIS_PORT:-26379}
export PKI_SMTP_PORT=${PKI_SMTP_PORT:-22525}
export PKI_GATEWAY_LISTEN=${PKI_GATEWAY_LISTEN:-127.0.0.1:28080}
export PKI_APPROVER_LISTEN=${PKI_APPROVER_LISTEN:-127.0.0.1:28081}

KAFKA_BROKERS=127.0.0.1:$PKI_KAFKA_PORT
REDIS_PORT=$PKI_REDIS_PORT
GATEWAY_URL=http://$PKI_GATEWAY_LISTEN
APPROVER_URL=http://$PKI_APPROVER_LISTEN
CREDENTIALS=$PKI_VAR/demo/credentials.json
TEST_CONFIG=${PKI_CONFIG:-$PKI_VAR/demo/config.json}
MAIL_DIR=$PKI_VAR/mail # the stack's SMTP sink: NNNNNN.eml and mail.jsonl
PYTHON=$ROOT/.cache/venv/bin/python
TOPICS=(pki.issue pki.submit pki.approval pki.results pki.issued pki.audit pki.notify pki.issue.dlq)
# shellcheck source=tests/integration/kafka_tls.sh
. "$ROOT/tests/integration/kafka_tls.sh"
# Unique per run, for payloads and names that must not collide with earlier runs.
RUN_ID=$(date +%s)-$$-$RANDOM

LIB_FAILED=0

pass() { printf 'PASS: %s\n' "$1"; }

fail() {
	local name=$1
	shift
	LIB_FAILED=$((LIB_FAILED + 1))
	printf 'FAIL: %s\n' "$name"
	(($# > 0)) && printf '%s\n' "$@" | sed 's/^/    /'
	return 0
}

# check NAME CMD...: PASS when CMD exits 0; otherwise FAIL with its output.
check() {
	local name=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if ((rc == 0)); then
		pass "$name"
	else
		fail "$name" "exit $rc: $*" "$(tail -n 20 <<<"$out")"
	fi
}

check_eq() {
	if [[ $2 == "$3" ]]; then pass "$1"; else fail "$1" "expected: $2" "got:      $3"; fi
}

check_contains() {
	if [[ $3 == *"$2"* ]]; then pass "$1"; else fail "$1" "expected to contain: $2" "got: $(head -c 2000 <<<"$3")"; fi
}

# answer_keep FILE METHOD PATH STATUS CONTENT_TYPE BODY [HEADERS]: appends
# one HTTP answer to FILE as a JSON line, for answers_check. HEADERS: the
# answer's header lines ("Name: value"), when its headers are to be checked.
answer_keep() {
	jq -cn --arg m "$2" --arg p "$3" --argjson s "${4:-0}" --arg ct "$5" --arg b "$6" \
		--arg h "${7-}" --argjson kh "$(($# > 6))" \
		'{method: $m, path: $p, status: $s, content_type: $ct, body: $b} +
		 if $kh == 1 then {headers: ([$h | split("\n")[] | capture("^(?<k>[^:]+):\\s*(?<v>.*)$")
		   | {(.k | ascii_downcase): .v}] | add // {})} else {} end' >>"$1" 2>/dev/null
}

# answers_check NAME SPEC FILE MIN: every answer kept in FILE (at least MIN)
# matches schemas/SPEC (path, method, status, content type, JSON body).
answers_check() {
	local out
	if out=$("$PYTHON" "$ROOT/tests/integration/check_openapi.py" "$ROOT/schemas/$2" "$3" "$4" 2>&1); then
		pass "$1 ($out)"
	else
		fail "$1" "$out"
	fi
}

# wait_for SECONDS CMD...: polls CMD every 0.2 s; 0 once it succeeds, 1 when
# SECONDS pass first.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS >= deadline)) && return 1
		sleep 0.2
	done
	return 0
}

http_status() {
	local url=$1
	shift
	curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" "$url" 2>/dev/null
	return 0
}

status_is() { [[ $(http_status "$2") == "$1" ]]; }

# http METHOD URL [BODY [CURL_ARGS...]]: sets HTTP_STATUS and HTTP_BODY.
# A BODY is sent as application/json unless CURL_ARGS set a Content-Type.
http() {
	local method=$1 url=$2 out
	local -a args=(-s --max-time 30 -X "$method" -w '\n%{http_code}')
	if (($# >= 3)); then
		args+=(--data-binary "$3")
		[[ " ${*:4} " == *"Content-Type"* ]] || args+=(-H 'Content-Type: application/json')
		args+=("${@:4}")
	fi
	out=$(curl "${args[@]}" "$url" 2>/dev/null)
	HTTP_STATUS=${out##*$'\n'}
	HTTP_BODY=${out%$'\n'*}
	[[ $out == *$'\n'* ]] || HTTP_BODY=
	[[ -n $HTTP_STATUS ]] || HTTP_STATUS=000
}

cred() { jq -er "$1" "$CREDENTIALS"; }
token() { cred ".users[\"$1\"].token"; }
auth() { printf 'Authorization: Bearer %s' "$(token "$1")"; }

stack() { "$ROOT/scripts/stack.sh" "$@"; }
stop_redis() { stack stop-redis >/dev/null; }
start_redis() { stack start-redis >/dev/null; }
stop_kafka() { stack stop-kafka >/dev/null; }
start_kafka() { stack start-kafka >/dev/null; }

# As pki-admin when the stack's Redis has users (scripts/stack.sh redis-cli).
redis_cli() { stack redis-cli "$@"; }
kcat_b() { kcat -F "$KCAT_ADMIN_CONF" -b "$KAFKA_BROKERS" "$@"; }
# topic_dump TOPIC: the messages of TOPIC that are JSON objects, one a line,
# less those keyed hostile-* (test_hostile.sh's broken ones, and what they caused).
topic_dump() {
	kcat_b -C -t "$1" -o beginning -e -q -f '%k\t%s\n' 2>/dev/null | grep -av '^hostile-' | cut -f 2- |
		jq -cR 'fromjson? | objects' 2>/dev/null || true
}

lib_exit() {
	local rc=$?
	((rc == 0 && LIB_FAILED > 0)) && rc=1
	exit "$rc"
}
trap lib_exit EXIT
