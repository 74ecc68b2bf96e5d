#!/usr/bin/env bash
# The local stack on loopback: Redis (AOF), a single-node KRaft Kafka broker,
# an SMTP sink (scripts/smtp-sink.py: the demo's mail lands in
# $PKI_VAR/mail/), pki-gateway, PKI_WORKERS x pki-worker and pki-approver.
#
# Usage: scripts/stack.sh up|down|run|status
#        scripts/stack.sh start-redis|stop-redis|restart-redis|start-kafka|stop-kafka
#        scripts/stack.sh redis-cli ARGS...  (redis-cli as pki-admin on the stack's Redis)
#        scripts/stack.sh restart-approver|restart-gateway|stop-workers|start-workers
#        scripts/stack.sh urls     what `up` prints: addresses, demo mail, credentials
#        scripts/stack.sh acls     topics and ACLs again, e.g. after
#                                  `pkictl kafka cert bulk-NAME` (no restart)
#
# Environment (defaults in brackets):
#   PKI_VAR [var]                      state: redis/, kafka/, log/, run/, demo/
#   PKI_KAFKA_PORT [19092]             PKI_KAFKA_CONTROLLER_PORT [19093]
#   PKI_REDIS_PORT [16379]              PKI_SMTP_PORT [12525] (the SMTP sink)
#   PKI_GATEWAY_LISTEN [127.0.0.1:8080] PKI_APPROVER_LISTEN [127.0.0.1:8081]
#   PKI_WORKERS [2]                    PKI_ISSUE_PARTITIONS [12] (pki.issue, pki.submit)
#   PKI_TOPIC_PARTITIONS [3]           partitions of every other topic
#   PKI_CONFIG [$PKI_VAR/demo/config.json, created on first up]
#   PKI_KAFKA_TLS_DIR [the config's kafka/] the broker's keystore
#                                      (kafka-broker.keystore.pem), the trust
#                                      bundle (ca.pem), the pki-admin
#                                      certificate the stack's own Kafka
#                                      calls use, and bulk-*.crt (their ACLs)
#   PKI_KAFKA_HEAP [-Xms256m -Xmx512m]
#   BUILD [build/release]              where the service binaries are
#   PKI_STACK_INFRA_ONLY [unset]       1: Redis and Kafka only (no build, no services)
#
# Every process started here carries PKI_STACK_VAR=<absolute PKI_VAR> in its
# environment; `down` uses it to find strays whose pidfile is gone.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PKI_VAR=${PKI_VAR:-var}
KAFKA_PORT=${PKI_KAFKA_PORT:-19092}
KAFKA_CPORT=${PKI_KAFKA_CONTROLLER_PORT:-19093}
REDIS_PORT=${PKI_REDIS_PORT:-16379}
SMTP_PORT=${PKI_SMTP_PORT:-12525}
GATEWAY_LISTEN=${PKI_GATEWAY_LISTEN:-127.0.0.1:8080}
APPROVER_LISTEN=${PKI_APPROVER_LISTEN:-127.0.0.1:8081}
WORKERS=${PKI_WORKERS:-2}
# 12: an even share for 1, 2, 3, 4 or 6 consumers (workers x threads);
# a consumer with one partition more than another finishes a backlog last.
ISSUE_PARTITIONS=${PKI_ISSUE_PARTITIONS:-12}
TOPIC_PARTITIONS=${PKI_TOPIC_PARTITIONS:-3}
KAFKA_HEAP=${PKI_KAFKA_HEAP:--Xms256m -Xmx512m}
BUILD=${BUILD:-build/release}
INFRA_ONLY=${PKI_STACK_INFRA_ONLY:-}

TOPICS=(pki.issue pki.submit pki.approval pki.results pki.issued pki.audit pki.notify pki.issue.dlq)
KAFKA_LIBS=$ROOT/.cache/kafka/libs
KAFKA_LOG4J=$ROOT/scripts/kafka/log4j2.properties
KAFKA_PROPS_IN=$ROOT/scripts/kafka/server.properties.in
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java

# Seconds to wait for readiness, and for a process to exit after SIGTERM.
REDIS_READY_TIMEOUT=30
KAFKA_READY_TIMEOUT=150
SERVICE_READY_TIMEOUT=60
SERVICE_STOP_TIMEOUT=10
KAFKA_STOP_TIMEOUT=30
REDIS_STOP_TIMEOUT=10
SMTP_READY_TIMEOUT=20

# A request record stays one listpack (a single allocation, saved as one
# string by an AOF rewrite) while each value fits: a certificate in PEM
# is 0.7-2 KB, past Redis's default of 64 bytes.
REDIS_LISTPACK_VALUE=4096

mkdir -p "$PKI_VAR"
VAR=$(cd "$PKI_VAR" && pwd)
RUN=$VAR/run
LOG=$VAR/log
MAIL=$VAR/mail
CONFIG=${PKI_CONFIG:-$PKI_VAR/demo/config.json}
# Absolute: the broker resolves paths against its own working directory.
KAFKA_TLS_DIR=$(realpath -m "${PKI_KAFKA_TLS_DIR:-$(dirname "$CONFIG")/kafka}")
KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT
# The super user of the stack's own Kafka calls (kcat, topics and ACLs).
KAFKA_ADMIN_TLS=(-X security.protocol=ssl -X "ssl.ca.location=$KAFKA_TLS_DIR/ca.pem"
	-X "ssl.certificate.location=$KAFKA_TLS_DIR/pki-admin.crt"
	-X "ssl.key.location=$KAFKA_TLS_DIR/pki-admin.key")
REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0

say() { printf 'stack: %s\n' "$*"; }
die() { printf 'stack: error: %s\n' "$*" >&2; exit 1; }

# Seconds since the epoch with milliseconds, and an elapsed-time formatter.
now_ms() { date +%s%3N; }
since() { local d=$(($(now_ms) - $1)); printf '%d.%ds' $((d / 1000)) $((d % 1000 / 100)); }

service_names() {
	local i
	echo gateway
	for ((i = 1; i <= WORKERS; i++)); do echo "worker-$i"; done
	echo approver
}

# pid_of NAME: prints the pid recorded for NAME if that process is alive and
# was started by this stack (same PKI_STACK_VAR); otherwise prints nothing.
pid_of() {
	local f=$RUN/$1.pid pid
	[[ -f $f ]] || return 0
	pid=$(<"$f")
	[[ $pid =~ ^[0-9]+$ ]] || return 0
	owned_by_stack "$pid" && echo "$pid"
	return 0
}

owned_by_stack() { grep -qzxF "PKI_STACK_VAR=$VAR" "/proc/$1/environ" 2>/dev/null; }

# Every live process carrying this stack's marker (strays included).
stack_pids() {
	grep -lzxF "PKI_STACK_VAR=$VAR" /proc/[0-9]*/environ 2>/dev/null |
		sed -e 's|^/proc/||' -e 's|/environ$||' || true
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# need_port_free NAME HOST PORT
need_port_free() {
	port_open "$2" "$3" && die "$1: $2:$3 is already in use by a process this stack did not start"
	return 0
}

# spawn NAME LOGFILE CMD...: starts CMD in its own session with the stack
# marker, output appended to LOGFILE, pid to $RUN/NAME.pid.
spawn() {
	local name=$1 logf=$2
	shift 2
	mkdir -p "$RUN" "$LOG"
	setsid env PKI_STACK_VAR="$VAR" "$@" >>"$logf" 2>&1 </dev/null &
	echo $! >"$RUN/$name.pid"
}

# wait_until NAME TIMEOUT LOGFILE CMD...: polls CMD until it succeeds; fails
# when NAME dies or TIMEOUT seconds pass, showing the end of LOGFILE.
wait_until() {
	local name=$1 timeout=$2 logf=$3 deadline
	shift 3
	deadline=$(($(date +%s) + timeout))
	while ! "$@"; do
		# kill -0, not pid_of: a just-spawned child may not have exec'd yet.
		if ! kill -0 "$(cat "$RUN/$name.pid" 2>/dev/null)" 2>/dev/null; then
			rm -f "$RUN/$name.pid"
			show_log_tail "$logf"
			die "$name exited during start-up (log: $logf)"
		fi
		if (($(date +%s) >= deadline)); then
			show_log_tail "$logf"
			die "$name not ready after ${timeout}s (log: $logf)"
		fi
		sleep 0.2
	done
}

show_log_tail() {
	[[ -f $1 ]] || return 0
	printf -- '--- last lines of %s ---\n' "$1" >&2
	tail -n 20 "$1" >&2
	printf -- '---\n' >&2
}

# log_has_since FILE OFFSET PATTERN: PATTERN (fixed string) appears in FILE
# after byte OFFSET. (grep reads to the end: with -q, tail could die of SIGPIPE
# and pipefail would turn a match into a failure.)
log_has_since() { [[ -f $1 ]] && tail -c +$(($2 + 1)) "$1" | grep -F -- "$3" >/dev/null; }
log_size() { if [[ -f $1 ]]; then stat -c %s "$1"; else echo 0; fi; }

# stop TIMEOUT NAME...: SIGTERM to every NAME at once, SIGKILL to those still
# alive after TIMEOUT seconds; removes their pidfiles.
stop() {
	local timeout=$1 name pid deadline left
	shift
	local -a pids=()
	for name in "$@"; do
		pid=$(pid_of "$name")
		if [[ -n $pid ]]; then
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$pid")
			say "$name: stopping (pid $pid)"
		fi
		rm -f "$RUN/$name.pid"
	done
	((${#pids[@]} == 0)) && return 0
	deadline=$(($(date +%s) + timeout))
	while :; do
		left=()
		for pid in "${pids[@]}"; do
			kill -0 "$pid" 2>/dev/null && left+=("$pid")
		done
		((${#left[@]} == 0)) && return 0
		if (($(date +%s) >= deadline)); then
			say "killing ${left[*]} after ${timeout}s"
			kill -KILL "${left[@]}" 2>/dev/null || true
			sleep 0.2
			return 0
		fi
		sleep 0.1
	done
}

# ---------------------------------------------------------------- redis
# pki-admin's password, copied from the config Redis was started with, for
# this script's and the tests' redis-cli calls (absent: Redis has no users).
REDIS_ADMIN_PASS=$RUN/redis-admin.pass

# The ACL file beside the config when it names Redis users (redis.users);
# nothing for a config from before them (Redis then starts without users).
redis_aclfile() {
	[[ -f $CONFIG ]] && jq -e '.redis.users' "$CONFIG" >/dev/null 2>&1 || return 0
	echo "$(cd "$(dirname "$CONFIG")" && pwd)/redis/users.acl"
}

# redis_cli [--exec] ARGS...: redis-cli on the stack's Redis, as pki-admin when
# Redis has users (the password in redis-cli's environment only, never in
# this script's: the services must not inherit it); --exec replaces this shell.
redis_cli() {
	local pw=
	local -a run=() user=()
	[[ ${1:-} == --exec ]] && { run=(exec); shift; }
	[[ -f $REDIS_ADMIN_PASS ]] && { pw=$(<"$REDIS_ADMIN_PASS"); user=(--user pki-admin); }
	REDISCLI_AUTH=$pw "${run[@]}" redis-cli "${user[@]}" -h 127.0.0.1 -p "$REDIS_PORT" "$@"
}
redis_ping() { [[ $(redis_cli ping 2>/dev/null) == PONG ]]; }

start_redis() {
	local t0 acl
	local -a acl_args=()
	if [[ -n $(pid_of redis) ]]; then
		redis_ping && return 0
	else
		need_port_free redis 127.0.0.1 "$REDIS_PORT"
		mkdir -p "$VAR/redis" "$RUN"
		acl=$(redis_aclfile)
		if [[ -n $acl ]]; then
			[[ -f $acl ]] || die "redis: $acl missing (the config names Redis users); write it with: pkictl redis acl --config $CONFIG"
			install -m 600 "${acl%/*}/pki-admin.pass" "$REDIS_ADMIN_PASS" || die "redis: no ${acl%/*}/pki-admin.pass"
			acl_args=(--aclfile "$acl")
		else
			rm -f "$REDIS_ADMIN_PASS"
		fi
		t0=$(now_ms)
		spawn redis "$LOG/redis.out" redis-server --bind 127.0.0.1 --port "$REDIS_PORT" \
			--protected-mode yes --appendonly yes --appendfsync always --save "" --rdbcompression no \
			--hash-max-listpack-value "$REDIS_LISTPACK_VALUE" --dir "$VAR/redis" "${acl_args[@]}" \
			--logfile "$LOG/redis.log" --daemonize no --set-proc-title no
	fi
	wait_until redis "$REDIS_READY_TIMEOUT" "$LOG/redis.log" redis_ping
	[[ -n ${t0:-} ]] && say "redis: ready on 127.0.0.1:$REDIS_PORT${acl:+ (ACL users from $acl)} ($(since "$t0"))"
	return 0
}

stop_redis() { stop "$REDIS_STOP_TIMEOUT" redis; }

# ---------------------------------------------------------------- smtp sink
smtp_ready() { port_open 127.0.0.1 "$SMTP_PORT"; }

start_smtp() {
	[[ -n $(pid_of smtp) ]] && smtp_ready && return 0
	need_port_free smtp 127.0.0.1 "$SMTP_PORT"
	spawn smtp "$LOG/smtp.log" /usr/bin/python3 "$ROOT/scripts/smtp-sink.py" \
		--port "$SMTP_PORT" --dir "$MAIL"
	wait_until smtp "$SMTP_READY_TIMEOUT" "$LOG/smtp.log" smtp_ready
	say "smtp sink: ready on 127.0.0.1:$SMTP_PORT, mail in $MAIL"
}

stop_smtp() { stop "$SERVICE_STOP_TIMEOUT" smtp; }

# ---------------------------------------------------------------- kafka
kafka_java() { "$JAVA" -Dlog4j2.configurationFile="$KAFKA_LOG4J" -Dkafka.logs.dir="$LOG" \
	-Djava.awt.headless=true -cp "$KAFKA_LIBS/*" "$@"; }

# A Kafka cluster id: 16 random bytes, base64url without padding.
new_cluster_id() {
	local id
	while :; do
		id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
		[[ $id != -* ]] && break
	done
	echo "$id"
}

# The broker's and the stack's own TLS files must exist.
kafka_tls_check() {
	local f
	for f in kafka-broker.keystore.pem ca.pem pki-admin.crt pki-admin.key; do
		[[ -r $KAFKA_TLS_DIR/$f ]] ||
			die "kafka: no $KAFKA_TLS_DIR/$f; make it with 'pkictl kafka init' and" \
				"'pkictl kafka cert kafka-broker --server 127.0.0.1,localhost' /" \
				"'pkictl kafka cert pki-admin' (scripts/demo-init.sh does all three)"
	done
}

kafka_format() {
	local dir=$VAR/kafka
	mkdir -p "$dir"
	sed -e "s|@PORT@|$KAFKA_PORT|g" -e "s|@CONTROLLER_PORT@|$KAFKA_CPORT|g" \
		-e "s|@DATA_DIR@|$dir/data|g" -e "s|@KEYSTORE@|$KAFKA_TLS_DIR/kafka-broker.keystore.pem|g" \
		-e "s|@TRUSTSTORE@|$KAFKA_TLS_DIR/ca.pem|g" "$KAFKA_PROPS_IN" >"$dir/server.properties"
	[[ -f $dir/data/meta.properties ]] && return 0
	rm -rf "$dir/data"
	new_cluster_id >"$dir/cluster.id"
	kafka_java kafka.tools.StorageTool format --standalone --cluster-id "$(<"$dir/cluster.id")" \
		--config "$dir/server.properties" >>"$LOG/kafka-format.log" 2>&1 ||
		{ show_log_tail "$LOG/kafka-format.log"; die "kafka: formatting $dir/data failed"; }
}

kafka_ready() { log_has_since "$LOG/kafka.log" "$1" "Kafka Server started" && kcat_meta >/dev/null; }
kcat_meta() { kcat -b "$KAFKA_BROKERS" "${KAFKA_ADMIN_TLS[@]}" -L -J -m 5 2>/dev/null; }

start_kafka() {
	local t0 off
	[[ -d $KAFKA_LIBS ]] || die "kafka: no broker jars in ${KAFKA_LIBS#"$ROOT"/}; run scripts/deps.sh"
	if [[ -n $(pid_of kafka) ]]; then
		wait_until kafka "$KAFKA_READY_TIMEOUT" "$LOG/kafka.log" kcat_meta_quiet
		return 0
	fi
	need_port_free kafka 127.0.0.1 "$KAFKA_PORT"
	need_port_free kafka-controller 127.0.0.1 "$KAFKA_CPORT"
	kafka_tls_check
	mkdir -p "$LOG" "$RUN"
	t0=$(now_ms)
	kafka_format
	off=$(log_size "$LOG/kafka.log")
	# shellcheck disable=SC2086 # KAFKA_HEAP holds several flags
	spawn kafka "$LOG/kafka.log" "$JAVA" $KAFKA_HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
		-Dlog4j2.configurationFile="$KAFKA_LOG4J" -Dkafka.logs.dir="$LOG" \
		-Djava.awt.headless=true -cp "$KAFKA_LIBS/*" kafka.Kafka "$VAR/kafka/server.properties"
	wait_until kafka "$KAFKA_READY_TIMEOUT" "$LOG/kafka.log" kafka_ready "$off"
	say "kafka: ready on $KAFKA_BROKERS ($(since "$t0"))"
}
kcat_meta_quiet() { kcat_meta >/dev/null; }

stop_kafka() { stop "$KAFKA_STOP_TIMEOUT" kafka; }

# Topic names: the defaults, plus those named in the config when it exists.
topic_list() {
	{
		printf '%s\n' "${TOPICS[@]}"
		[[ -f $CONFIG ]] && jq -r '.kafka.topics // {} | .[]' "$CONFIG" 2>/dev/null
	} | sort -u
}

# The topic creator (one admin request for all topics), rebuilt when its
# source changes.
topic_tool() {
	local src=$ROOT/scripts/kafka/create-topics.c bin=$ROOT/build/tools/create-topics
	if [[ ! -x $bin || $src -nt $bin ]]; then
		mkdir -p "${bin%/*}"
		# shellcheck disable=SC2046 # pkg-config prints several flags
		cc -std=c11 -O1 -Wall -Wextra -Werror -o "$bin" "$src" $(pkg-config --cflags --libs rdkafka) ||
			die "kafka: cannot build $src"
	fi
	echo "$bin"
}

# -n KEY=NAME arguments of the topic tool: the config's topic names and group.
acl_names() {
	[[ -f $CONFIG ]] || return 0
	jq -r '(.kafka.topics // {} | to_entries[] | "-n\n\(.key)=\(.value)"),
		(.kafka.group // empty | "-n\nworkers=\(.)")' "$CONFIG"
}

# -b PRINCIPAL arguments: one per bulk producer certificate (kafka/bulk-*.crt).
bulk_principals() {
	local f
	for f in "$KAFKA_TLS_DIR"/bulk-*.crt; do
		[[ -e $f ]] || continue
		f=${f##*/}
		printf -- '-b\n%s\n' "${f%.crt}"
	done
}

# Creates the missing topics and (again: it only adds) every principal's ACLs.
create_topics() {
	local have t tool out
	local -a want=() args=()
	kafka_tls_check
	have=$(kcat_meta | jq -r '.topics[].topic') || die "kafka: cannot list topics on $KAFKA_BROKERS"
	while read -r t; do
		grep -qxF -- "$t" <<<"$have" && continue
		if [[ $t == pki.issue || $t == pki.submit ]]; then want+=("$t:$ISSUE_PARTITIONS"); else want+=("$t:$TOPIC_PARTITIONS"); fi
	done < <(topic_list)
	for t in "${want[@]}"; do args+=(-t "$t"); done
	mapfile -t -O "${#args[@]}" args < <(acl_names)
	mapfile -t -O "${#args[@]}" args < <(bulk_principals)
	tool=$(topic_tool)
	out=$("$tool" "${KAFKA_ADMIN_TLS[@]}" "${args[@]}" -a "$KAFKA_BROKERS" 2>&1) ||
		{ printf '%s\n' "$out" >&2; die "kafka: creating topics and ACLs failed"; }
	printf '%s\n' "$out" >>"$LOG/kafka-topics.log"
	((${#want[@]} == 0)) || say "kafka: created topics ${want[*]}"
	say "kafka: $(grep '^acls:' <<<"$out")"
}

# ---------------------------------------------------------------- services
build_services() {
	if [[ $BUILD == build/asan ]]; then
		make -s asan
	else
		make -s BUILD="$BUILD"
	fi
}

demo_init() {
	[[ -n ${PKI_CONFIG:-} ]] && return 0
	# A demo made before Kafka had TLS gets its certificates (demo-init.sh adds them).
	# ... and one made before notifications its SMTP sink and webhook rule.
	[[ -f $PKI_VAR/demo/config.json && -f $PKI_VAR/demo/kafka/kafka-broker.keystore.pem ]] &&
		jq -e .notifications "$PKI_VAR/demo/config.json" >/dev/null 2>&1 && return 0
	say "demo: creating the demo PKI (or its Kafka certificates) in $PKI_VAR/demo"
	PKI_GATEWAY_LISTEN=$GATEWAY_LISTEN PKI_APPROVER_LISTEN=$APPROVER_LISTEN \
		PKI_KAFKA_BROKERS=$KAFKA_BROKERS PKI_REDIS_URL=$REDIS_URL BUILD=$BUILD \
		PKI_SMTP_URL=smtp://127.0.0.1:$SMTP_PORT \
		scripts/demo-init.sh "$PKI_VAR/demo" || die "demo: scripts/demo-init.sh failed"
	[[ -f $PKI_VAR/demo/config.json ]] || die "demo: scripts/demo-init.sh wrote no $PKI_VAR/demo/config.json"
}

binary_of() {
	case $1 in
	gateway) echo "$BUILD/pki-gateway" ;;
	approver) echo "$BUILD/pki-approver" ;;
	worker-*) echo "$BUILD/pki-worker" ;;
	esac
}

healthz_code() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$1/healthz" 2>/dev/null || true
}
healthz_ok() { [[ $(healthz_code "$1") == 200 ]]; }

# service_ready NAME OFFSET
service_ready() {
	case $1 in
	gateway) healthz_ok "$GATEWAY_LISTEN" ;;
	approver) healthz_ok "$APPROVER_LISTEN" ;;
	worker-*) log_has_since "$LOG/$1.log" "$2" '"msg":"ready"' ;;
	esac
}

start_services() {
	local name bin t0
	local -A offs=()
	for name in $(service_names); do
		bin=$(binary_of "$name")
		[[ -x $bin ]] || die "$name: $bin missing (build failed?)"
		[[ -n $(pid_of "$name") ]] && continue
		case $name in
		gateway) need_port_free gateway "${GATEWAY_LISTEN%:*}" "${GATEWAY_LISTEN##*:}" ;;
		approver) need_port_free approver "${APPROVER_LISTEN%:*}" "${APPROVER_LISTEN##*:}" ;;
		esac
		offs[$name]=$(log_size "$LOG/$name.log")
		spawn "$name" "$LOG/$name.log" env PKI_CONFIG="$CONFIG" \
			PKI_KAFKA_BROKERS="$KAFKA_BROKERS" PKI_REDIS_URL="$REDIS_URL" \
			PKI_GATEWAY_LISTEN="$GATEWAY_LISTEN" PKI_APPROVER_LISTEN="$APPROVER_LISTEN" \
			PKI_WORKER_NAME="$name" "$bin"
	done
	t0=$(now_ms)
	for name in $(service_names); do
		wait_until "$name" "$SERVICE_READY_TIMEOUT" "$LOG/$name.log" \
			service_ready "$name" "${offs[$name]:-0}"
	done
	say "services: gateway, $WORKERS workers, approver ready ($(since "$t0"))"
}

stop_services() {
	# shellcheck disable=SC2046 # one name per word
	stop "$SERVICE_STOP_TIMEOUT" $(service_names) $(cd "$RUN" 2>/dev/null && ls -- worker-*.pid 2>/dev/null | sed 's/\.pid$//')
}

print_urls() {
	local creds=${CONFIG%/*}/credentials.json
	cat <<EOF

  Gateway (public API):  http://$GATEWAY_LISTEN      CSR form: http://$GATEWAY_LISTEN/csr/upload
  Approver (admin):      http://$APPROVER_LISTEN/admin
  Kafka:                 $KAFKA_BROKERS (mutual TLS)      Redis: $REDIS_URL
  Kafka admin (kcat):    kcat -b $KAFKA_BROKERS ${KAFKA_ADMIN_TLS[*]} -L
  Redis as pki-admin:    scripts/stack.sh redis-cli ARGS...
  Demo mail (SMTP sink): smtp://127.0.0.1:$SMTP_PORT; each message is a file in $MAIL/ (NNNNNN.eml, and mail.jsonl)
  Config:                $CONFIG
  Credentials:           $creds
  Logs:                  $PKI_VAR/log/     Stop with: make down

EOF
	[[ -r $creds ]] || return 0
	jq -r '"  API keys (Authorization: Bearer ...):",
		(.users | to_entries[] | "    \(.key): \(.value.token)  (tenant \(.value.tenant))"),
		"  Approval password (\(.cas.approval)): \(.approval_password)",
		"  Bulk keys (pki.submit; profile = key id, secret, Kafka client files):",
		(.users | to_entries[] | select(.value.bulk != null) |
			"    \(.key): \(.value.bulk.key_id)  \(.value.bulk.profile)"),
		(.kafka // empty | "  Kafka client files (bootstrap \(.bootstrap)): CA \(.ca)",
			(.producers // {} | to_entries[] |
				"    bulk-\(.key): \(.value.cert)  \(.value.key)")),
		"  Bulk submit (see README): PKI_API_KEY=$(jq -r .users.alice.token \($c)) \\",
		"    build/release/pkictl bulk submit --as alice --config \($cfg) DIR_OF_CSRS",
		""' --arg c "$creds" --arg cfg "$CONFIG" "$creds"
}

# ---------------------------------------------------------------- commands
cmd_up() {
	local t0
	t0=$(now_ms)
	if [[ -z $INFRA_ONLY ]]; then
		build_services || die "build failed"
	fi
	demo_init # also with INFRA_ONLY: the broker's certificate comes from it
	start_redis
	start_smtp
	start_kafka
	create_topics
	if [[ -n $INFRA_ONLY ]]; then
		say "up (Redis and Kafka only) in $(since "$t0")"
		return 0
	fi
	start_services
	say "up in $(since "$t0")"
	print_urls
}

cmd_down() {
	local pid left
	stop_services
	stop_kafka
	stop_smtp
	stop_redis
	# Strays: anything still carrying the marker (a pidfile lost or overwritten).
	left=$(stack_pids)
	if [[ -n $left ]]; then
		say "stopping strays: $(echo $left)"
		# shellcheck disable=SC2086
		kill -TERM $left 2>/dev/null || true
		sleep 2
		for pid in $(stack_pids); do kill -KILL "$pid" 2>/dev/null || true; done
	fi
	rm -f "$RUN"/*.pid
	return 0
}

cmd_status() {
	local name pid rc=0
	for name in redis smtp kafka $(service_names); do
		pid=$(pid_of "$name")
		if [[ -n $pid ]]; then
			printf '%-10s running  pid %s\n' "$name" "$pid"
		else
			printf '%-10s stopped\n' "$name"
			rc=3
		fi
	done
	return $rc
}

cmd_run() {
	local tail_pid=
	trap 'trap - INT TERM; [[ -n $tail_pid ]] && kill "$tail_pid" 2>/dev/null; echo; cmd_down; exit 130' INT TERM
	cmd_up || { cmd_down; exit 1; }
	say "logs follow; Ctrl-C stops everything"
	local -a logs=("$LOG/redis.log" "$LOG/smtp.log" "$LOG/kafka.log")
	local name
	[[ -z $INFRA_ONLY ]] && for name in $(service_names); do logs+=("$LOG/$name.log"); done
	tail -n 0 -F "${logs[@]}" &
	tail_pid=$!
	# Ends when the stack is stopped from elsewhere (make down).
	while compgen -G "$RUN/*.pid" >/dev/null; do sleep 1; done
	kill "$tail_pid" 2>/dev/null || true
	say "stack stopped"
}

case ${1:-} in
up)
	trap 'rc=$?; if ((rc != 0)); then say "up failed; stopping what runs"; cmd_down; fi' EXIT
	cmd_up
	;;
down) cmd_down ;;
run) cmd_run ;;
status) cmd_status ;;
urls) print_urls ;;
start-redis) start_redis ;;
stop-redis) stop_redis ;;
restart-redis) stop_redis && start_redis ;;
redis-cli)
	shift
	redis_cli --exec "$@"
	;;
start-kafka) start_kafka ;;
stop-kafka) stop_kafka ;;
# Restarts only the approver (with PKI_CONFIG, when set, as its config).
restart-approver) stop "$SERVICE_STOP_TIMEOUT" approver && start_services ;;
restart-gateway) stop "$SERVICE_STOP_TIMEOUT" gateway && start_services ;;
# Stops the workers (the gateway's own acceptance rate is measured so), and
# starts what is not running again.
stop-workers) stop "$SERVICE_STOP_TIMEOUT" $(service_names | grep '^worker-') ;;
start-workers) start_services ;;
# Topics and ACLs again on the running broker: after `pkictl kafka cert
# bulk-NAME`, this gives the new principal its ACL without a restart.
acls) create_topics ;;
*)
	echo "usage: $0 up|down|run|status|urls|start-redis|stop-redis|restart-redis|redis-cli|start-kafka|stop-kafka|restart-approver|restart-gateway|stop-workers|start-workers|acls" >&2
	exit 2
	;;
esac
