# shellcheck shell=bash
# Sourced by the benchmark scripts (gateway.sh, bulk.sh): what a measured
# case costs the machine. The stack's processes are those with a pidfile in
# $PKI_VAR/run (scripts/stack.sh: gateway, approver, worker-K, kafka, redis).
#
#   loadavg                         the 1-minute load average
#   load_average_line CASE          "bench detail load_average case=CASE la1=X"
#   cpu_ticks PID                   user + system clock ticks of PID so far
#   jit_ticks PID                   ticks of PID's JIT compiler threads (a JVM's
#                                   "C1/C2 CompilerThread"), 0 for others
#   kafka_jit_mark                  "JIT_TICKS MS": the broker's JIT ticks and the time now
#   kafka_jit_pct MARK              % of a core the broker's JIT took since MARK
#   stack_cpu                       "name ticks" per stack process, workers summed,
#                                   plus kafka_jit: the part of kafka's that is JIT
#   stack_ticks                     the stack's processes' ticks, summed
#   cpu_per_request BEFORE AFTER N  " name=ms ..." CPU milliseconds per request
#   rss_mib PID                     resident memory of PID in MiB, one decimal
#   stack_rss                       " name_mib=X ..." for gateway, approver, each
#                                   worker-K, kafka and redis
#   kv LINE KEY                     the value of KEY=value in LINE
#   redis_info SECTION FIELD        a field of the stack Redis's INFO SECTION
#   aof_rewrites                    how many AOF rewrites Redis has made since it started
#   port_open HOST PORT             true when something listens there
#   cfssl_start DIR PORT BODIES     an EC P-256 CA in DIR and `cfssl serve` on
#                                   127.0.0.1:PORT (sets cfssl_pid), checked with
#                                   BODIES' first sign request and openssl verify;
#                                   calls the script's die on failure

HZ=$(getconf CLK_TCK)

loadavg() { cut -d' ' -f1 /proc/loadavg; }
load_average_line() { echo "bench detail load_average case=$1 la1=$(loadavg)"; }
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
kv() { sed -n "s/.*\b$2=\([^ ]*\).*/\1/p" <<<"$1"; }
redis_info() { scripts/stack.sh redis-cli INFO "$1" | tr -d '\r' | sed -n "s/^$2://p"; }
aof_rewrites() { redis_info persistence aof_rewrites; }

# CPU ticks of pid and of its children it has waited for (Redis's AOF rewrites).
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
jit_ticks() {
	local t n=0
	for t in /proc/"$1"/task/*; do
		if [[ $(<"$t/comm") == C[12]\ CompilerThre* ]] 2>/dev/null; then
			n=$((n + $(cpu_ticks "${t#/proc/}")))
		fi
	done
	echo "$n"
}
kafka_jit_mark() { echo "$(jit_ticks "$(<"$PKI_VAR/run/kafka.pid")") $(date +%s%3N)"; }
kafka_jit_pct() {
	awk -v m="$1" -v now="$(kafka_jit_mark)" -v hz="$HZ" 'BEGIN {
		split(m, a, " "); split(now, b, " "); ms = b[2] - a[2]
		printf "%.1f", (b[1] - a[1]) * 1000 / hz * 100 / (ms > 0 ? ms : 1) }'
}
stack_cpu() {
	local f name
	for f in "$PKI_VAR"/run/*.pid; do
		name=$(basename "$f" .pid)
		[[ $name == worker-* ]] && name=workers
		echo "$name $(cpu_ticks "$(<"$f")")"
		if [[ $name == kafka ]]; then echo "kafka_jit $(jit_ticks "$(<"$f")")"; fi
	done | awk '{ t[$1] += $2 } END { for (n in t) print n, t[n] }' | sort
}
stack_ticks() { stack_cpu | awk '$1 != "kafka_jit" { t += $2 } END { print t + 0 }'; }
cpu_per_request() {
	awk -v n="$3" -v hz="$HZ" 'NR == FNR { b[$1] = $2; next }
		{ printf " %s=%.3f", $1, ($2 - b[$1]) * 1000 / hz / (n > 0 ? n : 1) }' \
		<(echo "$1") <(echo "$2")
}

# rss_mib PID [FIELD]: the process's VmRSS (or FIELD of /proc/PID/status,
# e.g. VmHWM, the peak) in MiB.
rss_mib() { awk -v f="${2:-VmRSS}:" '$1 == f { printf "%.1f", $2 / 1024; x = 1 } END { if (!x) printf "0" }' "/proc/$1/status" 2>/dev/null || echo 0; }
# stack_rss [FIELD]: " name_mib=X" of gateway, approver, each worker-K, kafka, redis.
stack_rss() {
	local f
	for f in "$PKI_VAR"/run/{gateway,approver}.pid "$PKI_VAR"/run/worker-*.pid \
		"$PKI_VAR"/run/{kafka,redis}.pid; do
		[[ -f $f ]] && printf ' %s_mib=%s' "$(basename "$f" .pid)" "$(rss_mib "$(<"$f")" "${1:-}")"
	done
	echo
}

CFSSL_READY_TIMEOUT=20
cfssl_start() {
	local dir=$1 port=$2 bodies=$3 i
	port_open 127.0.0.1 "$port" && die "cfssl: 127.0.0.1:$port is already in use"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$dir/cfssl-ca-key.pem" -out "$dir/cfssl-ca.pem" -days 30 \
		-subj "/CN=cfssl bench CA" -addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null || die "cfssl: CA creation failed"
	echo '{"signing": {"default": {"expiry": "720h", "usages": ["digital signature", "server auth"]}}}' \
		>"$dir/cfssl-config.json"
	# -loglevel 2 (warnings): cfssl's per-request INFO lines would slow it down.
	cfssl serve -address 127.0.0.1 -port "$port" -ca "$dir/cfssl-ca.pem" \
		-ca-key "$dir/cfssl-ca-key.pem" -config "$dir/cfssl-config.json" -loglevel 2 \
		>"$dir/cfssl.log" 2>&1 &
	cfssl_pid=$!
	for ((i = 0; i < CFSSL_READY_TIMEOUT * 10; i++)); do
		port_open 127.0.0.1 "$port" && break
		kill -0 "$cfssl_pid" 2>/dev/null || die "cfssl serve exited: $(tail -n 5 "$dir/cfssl.log")"
		sleep 0.1
	done
	port_open 127.0.0.1 "$port" || die "cfssl serve not listening after ${CFSSL_READY_TIMEOUT}s"
	head -n 1 "$bodies" |
		curl -sS --max-time 10 --data-binary @- "http://127.0.0.1:$port/api/v1/cfssl/sign" \
			>"$dir/cfssl-one.json" || die "cfssl: sign request failed"
	jq -e '.success == true' "$dir/cfssl-one.json" >/dev/null ||
		die "cfssl: sign refused: $(head -c 300 "$dir/cfssl-one.json")"
	jq -r .result.certificate "$dir/cfssl-one.json" >"$dir/cfssl-one.pem"
	openssl verify -CAfile "$dir/cfssl-ca.pem" "$dir/cfssl-one.pem" >/dev/null 2>&1 ||
		die "cfssl: the signed certificate does not verify"
}
