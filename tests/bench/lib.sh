# shellcheck shell=bash
# Sourced by the benchmark scripts (gateway.sh, bulk.sh): what a measured
# case costs the machine. The stack's processes are those with a pidfile in
# $PKI_VAR/run (scripts/stack.sh: gateway, approver, worker-K, kafka, redis).
#
#   loadavg                         the 1-minute load average
#   load_average_line CASE          "bench detail load_average case=CASE la1=X"
#   cpu_ticks PID                   user + system clock ticks of PID so far
#   stack_cpu                       "name ticks" per stack process, workers summed
#   cpu_per_request BEFORE AFTER N  " name=ms ..." CPU milliseconds per request
#   rss_mib PID                     resident memory of PID in MiB, one decimal
#   stack_rss                       " name_mib=X ..." for gateway, approver, each
#                                   worker-K, kafka and redis
#   kv LINE KEY                     the value of KEY=value in LINE
#   port_open HOST PORT             true when something listens there

HZ=$(getconf CLK_TCK)

loadavg() { cut -d' ' -f1 /proc/loadavg; }
load_average_line() { echo "bench detail load_average case=$1 la1=$(loadavg)"; }
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
kv() { sed -n "s/.*\b$2=\([^ ]*\).*/\1/p" <<<"$1"; }

cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
stack_cpu() {
	local f name
	for f in "$PKI_VAR"/run/*.pid; do
		name=$(basename "$f" .pid)
		[[ $name == worker-* ]] && name=workers
		echo "$name $(cpu_ticks "$(<"$f")")"
	done | awk '{ t[$1] += $2 } END { for (n in t) print n, t[n] }' | sort
}
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
