# Shared by the gateway suites (test_gateway.sh, test_issue_flow.sh): a
# dedicated PKI and config (CAs, users, selection rules the tests rely on),
# and pki-gateway / pki-worker processes on the test stack's Kafka and Redis.
# Source it from the repository root. Kafka and Redis come from lib.sh when
# it provides them, otherwise from scripts/stack.sh (infra only), stopped at
# exit if this file started them.

PKI_VAR=${PKI_VAR:-var/test}
PKI_KAFKA_PORT=${PKI_KAFKA_PORT:-29092}
PKI_KAFKA_CONTROLLER_PORT=${PKI_KAFKA_CONTROLLER_PORT:-29093}
PKI_REDIS_PORT=${PKI_REDIS_PORT:-26379}
export PKI_VAR PKI_KAFKA_PORT PKI_KAFKA_CONTROLLER_PORT PKI_REDIS_PORT
# The broker and its certificates are the test stack's (the demo PKI's
# infrastructure CA), also when stack.sh runs with this suite's config.
export PKI_KAFKA_TLS_DIR=${PKI_KAFKA_TLS_DIR:-$PKI_VAR/demo/kafka}
# shellcheck source=tests/integration/kafka_tls.sh
. tests/integration/kafka_tls.sh

BUILD=${BUILD:-build/release}
GW_PORT=${PKI_TEST_GATEWAY_PORT:-28130}
GW=http://127.0.0.1:$GW_PORT
GW_DIR=$PKI_VAR/gwtest
GW_CONFIG=$GW_DIR/config.json
KAFKA=127.0.0.1:$PKI_KAFKA_PORT
# redis-cli as pki-admin (when the stack's Redis has users).
REDIS_CLI=(scripts/stack.sh redis-cli)
APPROVAL_PASSWORD=approve-me-please
FIXTURES=tests/fixtures/csr/good

GWENV_PIDS=()
GWENV_STARTED_INFRA=
GWENV_PASSED=0
GWENV_FAILED=0

# Result lines: lib.sh's pass/fail when it was sourced, the same format otherwise.
declare -F pass >/dev/null || pass() { printf 'PASS: %s\n' "$1"; }
declare -F fail >/dev/null || fail() {
	printf 'FAIL: %s\n' "$1"
	(($# > 1)) && printf '    %s\n' "${@:2}"
	return 0
}
# expect NAME CMD...: PASS when CMD succeeds, else FAIL with the last HTTP answer.
expect() {
	local name=$1
	shift
	if "$@"; then
		GWENV_PASSED=$((GWENV_PASSED + 1))
		pass "$name"
	else
		GWENV_FAILED=$((GWENV_FAILED + 1))
		fail "$name" "failed: $*" "last answer: ${CODE:-} ${BODY:0:400}"
	fi
}

now_ms() { date +%s%3N; }

kafka_up() { kcat -F "$KCAT_ADMIN_CONF" -b "$KAFKA" -L -m 3 >/dev/null 2>&1; }
redis_up() { [[ $("${REDIS_CLI[@]}" ping 2>/dev/null) == PONG ]]; }

gwenv_infra_up() {
	if kafka_up && redis_up; then
		return 0
	fi
	PKI_STACK_INFRA_ONLY=1 scripts/stack.sh up >&2 || return 1
	GWENV_STARTED_INFRA=1
}

gwenv_cleanup() {
	local p
	for p in "${GWENV_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${GWENV_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	GWENV_PIDS=()
	if [[ -n $GWENV_STARTED_INFRA ]]; then
		PKI_STACK_INFRA_ONLY=1 scripts/stack.sh down >&2
	fi
}

# With an ASan+UBSan build (BUILD=build/asan), a sanitizer report in a log
# of the processes started here (gateway, workers, pkictl) is a FAIL.
gwenv_sanitizers() {
	local hits
	[[ $BUILD == *asan* ]] || return 0
	hits=$(grep -HE '^==[0-9]+==ERROR: |^SUMMARY: [A-Za-z]+Sanitizer|runtime error:' "$GW_DIR"/*.log 2>/dev/null)
	if [[ -z $hits ]]; then
		GWENV_PASSED=$((GWENV_PASSED + 1))
		pass no_sanitizer_report
	else
		GWENV_FAILED=$((GWENV_FAILED + 1))
		fail no_sanitizer_report "$(head -n 20 <<<"$hits")"
	fi
}

# EXIT trap of the suites: stops what they started; exit 1 after any FAIL.
gwenv_exit() {
	local rc=$?
	gwenv_cleanup
	gwenv_sanitizers
	((GWENV_PASSED + GWENV_FAILED > 0)) && echo "gateway suite: $GWENV_PASSED passed, $GWENV_FAILED failed" >&2
	((rc == 0 && (GWENV_FAILED > 0 || ${LIB_FAILED:-0} > 0))) && rc=1
	exit "$rc"
}

# Writes the PKI under $GW_DIR: root, acme-issuing (automatic, selection
# tenant acme + purpose tls + *@acme.example + 127.0.0.0/8), acme-approval
# (manual approval with $APPROVAL_PASSWORD), globex-ca (purpose web), a
# disabled intermediate; users alice, carol (acme requesters), bob (globex),
# admin (acme admin). Tokens in ALICE, CAROL, BOB, ADMIN.
# The fixture CSRs' names (tests/fixtures/csr) are under example.com: in
# this suite's own config both tenants may have them, besides their own.
GW_FIXTURE_DOMAIN=example.com

gwenv_pki() {
	local P=$BUILD/pkictl C=$GW_CONFIG
	rm -rf "$GW_DIR"
	mkdir -p "$GW_DIR"
	{
		$P init --config "$C" --kafka-brokers "$KAFKA" \
			--redis-url "redis://127.0.0.1:$PKI_REDIS_PORT/0" --redis-prefix "gwtest:" \
			--gateway-listen "127.0.0.1:$GW_PORT" --kafka-group gwtest-workers &&
			$P tenant add --config "$C" --id acme --name Acme \
				--names-dns "$GW_FIXTURE_DOMAIN,acme.test,acme.example" \
				--names-ip 192.0.2.0/24 --names-email "$GW_FIXTURE_DOMAIN" \
				--deny-dns secret.acme.test --names-wildcards &&
			$P tenant add --config "$C" --id globex --name Globex \
				--names-dns "$GW_FIXTURE_DOMAIN,globex.test,globex.example" &&
			$P ca init-root --config "$C" --id test-root --name "Gateway Test Root" &&
			$P ca init-intermediate --config "$C" --id acme-issuing --parent test-root \
				--name "Acme Issuing" --org Acme --country US --tenants acme \
				--purposes tls --email-patterns '*@acme.example' --cidrs 127.0.0.0/8 \
				--priority 10 --key-types RSA,EC,Ed25519 &&
			printf '%s\n' "$APPROVAL_PASSWORD" >"$GW_DIR/approval.pw" &&
			$P ca init-intermediate --config "$C" --id acme-approval --parent test-root \
				--name "Acme Approval" --tenants acme --manual-approval \
				--approval-password-file "$GW_DIR/approval.pw" --purposes manual &&
			$P ca init-intermediate --config "$C" --id globex-ca --parent test-root \
				--name "Globex CA" --tenants globex --purposes web &&
			$P ca init-intermediate --config "$C" --id acme-off --parent test-root \
				--name "Acme Closed" --tenants acme --no-api-issuance
	} >"$GW_DIR/pkictl.log" 2>&1 || {
		cat "$GW_DIR/pkictl.log" >&2
		return 1
	}
	# Own topics and consumer group: the stack's workers never see these
	# messages. Own Redis users too (gwtest-gateway, ...): their keys are
	# under gwtest:. The services' Kafka certificates: the stack's, since its
	# broker trusts only its own infrastructure CA (stack.sh gives the
	# principals ACLs on these topics and group too). Limits above what the
	# suites push through one key (hundreds of submits at once, many waits);
	# test_limits.sh sets its own.
	jq --arg d "$KAFKA_TLS_DIR" '.kafka.topics |= with_entries(.value |= sub("^pki\\."; "gwtest.")) |
		.limits = {waiters_per_key: 256, requests_per_key: {rate_per_s: 10000, burst: 10000},
			requests_per_tenant: {rate_per_s: 10000, burst: 10000}} |
		.redis.users |= with_entries(.value.user |= sub("^pki-"; "gwtest-")) |
		.kafka.tls = {ca: "\($d)/ca.pem",
			gateway: {cert: "\($d)/pki-gateway.crt", key: "\($d)/pki-gateway.key"},
			worker: {cert: "\($d)/pki-worker.crt", key: "\($d)/pki-worker.key"},
			approver: {cert: "\($d)/pki-approver.crt", key: "\($d)/pki-approver.key"}}' \
		"$C" >"$C.tmp" &&
		mv "$C.tmp" "$C" && chmod 600 "$C" &&
		$P redis acl --config "$C" >>"$GW_DIR/pkictl.log" 2>&1 || return 1
	PKI_CONFIG=$C PKI_STACK_INFRA_ONLY=1 scripts/stack.sh up >>"$GW_DIR/pkictl.log" 2>&1 &&
		gwenv_redis_users >>"$GW_DIR/pkictl.log" 2>&1 || {
		cat "$GW_DIR/pkictl.log" >&2
		return 1
	}
	T_ISSUE=gwtest.issue T_APPROVAL=gwtest.approval T_RESULTS=gwtest.results
	T_ISSUED=gwtest.issued T_AUDIT=gwtest.audit
	ALICE=$($P user add --config "$C" --name alice --email alice@acme.example --role requester --tenant acme 2>>"$GW_DIR/pkictl.log") &&
		CAROL=$($P user add --config "$C" --name carol --email carol@acme.example --role requester --tenant acme 2>>"$GW_DIR/pkictl.log") &&
		BOB=$($P user add --config "$C" --name bob --email bob@globex.example --role requester --tenant globex 2>>"$GW_DIR/pkictl.log") &&
		ADMIN=$($P user add --config "$C" --name admin --email admin@example.org --role admin --tenant acme --admin-tenants acme --admin-cas '*' 2>>"$GW_DIR/pkictl.log")
}

# Adds the test config's Redis users to the running Redis (as pki-admin) and
# saves them in the ACL file it was started with, so that they survive the
# suites' Redis restarts. A Redis without users: the test config gets none.
gwenv_redis_users() {
	local -a w
	if [[ ! -f $PKI_VAR/run/redis-admin.pass ]]; then
		jq 'del(.redis.users)' "$GW_CONFIG" >"$GW_CONFIG.tmp" && mv "$GW_CONFIG.tmp" "$GW_CONFIG" &&
			chmod 600 "$GW_CONFIG"
		return
	fi
	# read -a: the rules' glob characters stay as they are.
	while read -r -a w; do
		[[ ${w[0]} == user && ${w[1]} == gwtest-* ]] || continue
		[[ $("${REDIS_CLI[@]}" ACL SETUSER "${w[@]:1}") == OK ]] || return 1
	done <"$GW_DIR/redis/users.acl"
	[[ $("${REDIS_CLI[@]}" ACL SAVE) == OK ]]
}

# Starts NAME (gateway|worker) with the test config; logs under $GW_DIR.
gwenv_spawn() {
	local name=$1 log=$GW_DIR/$1.log
	[[ $name == worker* ]] && bin=pki-worker || bin=pki-gateway
	# The stack's address overrides must not apply to these processes.
	env -u PKI_GATEWAY_LISTEN -u PKI_APPROVER_LISTEN -u PKI_KAFKA_BROKERS -u PKI_REDIS_URL \
		-u PKI_REDIS_PREFIX -u PKI_CONFIG "$BUILD/$bin" --config "$GW_CONFIG" 2>>"$log" &
	GWENV_PIDS+=($!)
	LAST_PID=$!
}

gwenv_gateway_up() {
	local i
	gwenv_spawn gateway
	GW_PID=$LAST_PID
	for ((i = 0; i < 100; i++)); do
		[[ $(curl -s -o /dev/null -w '%{http_code}' "$GW/healthz") == 200 ]] && return 0
		sleep 0.1
	done
	echo "gateway did not become healthy; log:" >&2
	tail -20 "$GW_DIR/gateway.log" >&2
	return 1
}

# workers_up N: starts N workers and waits until each logged "ready".
gwenv_workers_up() {
	local n=$1 i k
	for ((k = 1; k <= n; k++)); do
		gwenv_spawn "worker-$k"
	done
	for ((i = 0; i < 300; i++)); do
		local ready=0
		for ((k = 1; k <= n; k++)); do
			grep -q '"msg":"ready"' "$GW_DIR/worker-$k.log" 2>/dev/null && ready=$((ready + 1))
		done
		((ready == n)) && return 0
		sleep 0.1
	done
	return 1
}

# req METHOD PATH TOKEN [curl args...]: sets CODE, BODY, HDRS.
req() {
	local method=$1 path=$2 token=$3 out
	shift 3
	local -a auth=()
	[[ -n $token ]] && auth=(-H "Authorization: Bearer $token")
	out=$(curl -s -D "$GW_DIR/hdrs" -o "$GW_DIR/body" -w '%{http_code}' -X "$method" \
		"${auth[@]}" "$@" "$GW$path")
	CODE=$out
	BODY=$(cat "$GW_DIR/body")
	HDRS=$(tr -d '\r' <"$GW_DIR/hdrs")
	# Every answer is kept for answers_check (both in lib.sh, which every
	# suite using this file sources first).
	answer_keep "$GW_DIR/answers.jsonl" "$method" "$path" "$CODE" "$(header content-type)" "$BODY" "$HDRS"
}

# submit TOKEN JSON [curl args...]: POST /csr/process with a JSON body.
submit() {
	local token=$1 json=$2
	shift 2
	req POST /csr/process "$token" -H 'Content-Type: application/json' --data-binary "$json" "$@"
}

# fixture_json FILE [jq extra]: a submit body for a good fixture CSR.
fixture_json() {
	local f=$1 extra=${2:-}
	jq -n --rawfile csr "$FIXTURES/$f" \
		--arg cn "$(jq -r --arg f "$f" '.good[$f].cn' tests/fixtures/csr/manifest.json)" \
		"{csr_data: \$csr, common_name: \$cn, validity_days: 30} ${extra:++ $extra}"
}

jbody() { jq -r "$1" <<<"$BODY" 2>/dev/null; }
header() { grep -i "^$1:" <<<"$HDRS" | head -1 | cut -d' ' -f2-; }

# The messages on topic whose key is id (all partitions, from the start).
topic_msgs() {
	kcat -F "$KCAT_ADMIN_CONF" -b "$KAFKA" -C -t "$1" -e -q -f '%k\t%s\n' 2>/dev/null | awk -F'\t' -v k="$2" '$1 == k { print $2 }'
}

