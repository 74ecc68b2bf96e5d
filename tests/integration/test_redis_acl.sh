#!/usr/bin/env bash
# Redis ACLs on the test stack's Redis (users and rules from pkictl, the ACL
# file from the stack's config): no access without a login, the default user
# off, script writes kept across a restart, each service user refused what it does not need (NOPERM), a wrong
# password refused and reported by the service as a refusal, not an outage,
# and a service whose password file others can read refuses to start.
. "$(dirname "$0")/lib.sh"
set +e

work=$(mktemp -d "${TMPDIR:-/tmp}/redis-acl-test.XXXXXX")
GW_PID=
trap '[[ -n $GW_PID ]] && kill "$GW_PID" 2>/dev/null; rm -rf "$work"; lib_exit' EXIT

cfgdir=$(dirname "$TEST_CONFIG")
P=$(jq -r '.redis.prefix // "pki:"' "$TEST_CONFIG")
user_of() { jq -r ".redis.users.$1.user // empty" "$TEST_CONFIG"; }
GW_USER=$(user_of gateway) WK_USER=$(user_of worker) AP_USER=$(user_of approver)
if [[ -z $GW_USER || -z $WK_USER || -z $AP_USER || ! -f $PKI_VAR/run/redis-admin.pass ]]; then
	fail redis_acl_configured "$TEST_CONFIG has no redis.users or Redis runs without its ACL file"
	exit 1
fi
pass redis_acl_configured

# anon ARGS...: redis-cli without a login. as SERVICE ARGS...: logged in as
# that service's user with the password from its own file.
anon() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@" 2>&1; }
as() {
	local svc=$1 file
	shift
	file=$cfgdir/$(jq -r ".redis.users.$svc.password_file" "$TEST_CONFIG")
	REDISCLI_AUTH=$(<"$file") redis-cli --user "$(user_of "$svc")" -h 127.0.0.1 -p "$REDIS_PORT" "$@" 2>&1
}

# allowed NAME OUTPUT: PASS unless Redis refused (an ACL error).
allowed() {
	if grep -qE "NOPERM|NOAUTH|WRONGPASS|can't" <<<"$2"; then fail "$1" "refused: $2"; else pass "$1"; fi
}

# ---- the suites before this one ran their services under these users, never refused
denied=$(redis_cli ACL LOG 128 | grep -A1 -x username | grep -v -x -e username -e -- | sort | uniq -c)
check_eq redis_acl_no_service_refused_so_far "" \
	"$(grep -E " ($GW_USER|$WK_USER|$AP_USER|gwtest-.*)\$" <<<"$denied")"

# ---- no login, the default user, a wrong password
check_contains redis_acl_anonymous_noauth "NOAUTH" "$(anon PING)"
check_contains redis_acl_anonymous_read_noauth "NOAUTH" "$(anon HGET "${P}req:x" state)"
check_contains redis_acl_default_user_off "WRONGPASS" "$(anon AUTH default anything)"
check_contains redis_acl_default_user_no_empty_password "WRONGPASS" "$(anon AUTH default "")"
check_contains redis_acl_wrong_password "WRONGPASS" \
	"$(REDISCLI_AUTH=not-the-password redis-cli --user "$GW_USER" -h 127.0.0.1 -p "$REDIS_PORT" PING 2>&1)"
check_eq redis_acl_admin_logs_in PONG "$(redis_cli PING)"

# ---- each service user: what it uses works, the rest is refused
allowed redis_acl_gateway_reads_records "$(as gateway HGET "${P}req:no-such-request" state)"
check_contains redis_acl_gateway_flushall_noperm "NOPERM" "$(as gateway FLUSHALL)"
check_contains redis_acl_gateway_config_noperm "NOPERM" "$(as gateway CONFIG GET maxmemory)"
check_contains redis_acl_gateway_keys_noperm "NOPERM" "$(as gateway KEYS '*')"
check_contains redis_acl_gateway_other_prefix_noperm "NOPERM" "$(as gateway GET "other-$P"x)"
check_contains redis_acl_gateway_serial_noperm "NOPERM" "$(as gateway SET "${P}serial:demo:01" x NX)"
check_contains redis_acl_gateway_acl_noperm "NOPERM" "$(as gateway ACL SETUSER "$GW_USER" +@all)"
check_contains redis_acl_gateway_other_channel_noperm "NOPERM" "$(as gateway PUBLISH other 1)"

allowed redis_acl_worker_reads_records "$(as worker HGET "${P}req:no-such-request" state)"
check_contains redis_acl_worker_flushall_noperm "NOPERM" "$(as worker FLUSHALL)"
check_contains redis_acl_worker_del_noperm "NOPERM" "$(as worker DEL "${P}req:x")"
check_contains redis_acl_worker_sessions_noperm "NOPERM" "$(as worker HGETALL "${P}session:x")"
check_contains redis_acl_worker_script_other_channel_refused "can't publish" \
	"$(as worker EVAL "return redis.call('PUBLISH', 'other', 1)" 0)"

allowed redis_acl_approver_reads_queue "$(as approver ZRANGE "${P}pending" 0 0)"
check_contains redis_acl_approver_serial_noperm "NOPERM" "$(as approver SET "${P}serial:demo:01" x NX)"
check_contains redis_acl_approver_serial_in_script_noperm "NOPERM" \
	"$(as approver EVAL "return redis.call('SET', KEYS[1], 'x')" 1 "${P}serial:demo:01")"
check_contains redis_acl_approver_script_undeclared_key_refused "can't access" \
	"$(as approver EVAL "return redis.call('SET', '${P}serial:demo:01', 'x')" 0)"
check_contains redis_acl_approver_ratelimit_noperm "NOPERM" "$(as approver INCR "${P}rl:x")"
check_contains redis_acl_gateway_batch_write_noperm "NOPERM" "$(as gateway HINCRBY "${P}batch:x" issued 1)"
check_contains redis_acl_approver_subscribe_noperm "NOPERM" "$(as approver SUBSCRIBE "${P}ev:x")"
# Grant uses are the workers' alone: no record writer can reset one.
check_contains redis_acl_gateway_grant_noperm "NOPERM" "$(as gateway SET "${P}grant:x" x)"
check_contains redis_acl_approver_grant_noperm "NOPERM" "$(as approver DEL "${P}grant:x")"
check_contains redis_acl_worker_grant_del_noperm "NOPERM" "$(as worker DEL "${P}grant:x")"
allowed redis_acl_worker_grant_set "$(as worker SET "${P}grant:acl-test" x EX 5)"
# The approver counts password attempts (its own and the gateway's), nothing else under rl:.
allowed redis_acl_approver_password_count "$(as approver EVAL "return redis.call('INCR', KEYS[1])" 1 "${P}rl:pwchk:acl-test")"
check_contains redis_acl_approver_other_ratelimit_noperm "NOPERM" \
	"$(as approver EVAL "return redis.call('INCR', KEYS[1])" 1 "${P}rl:session:acl-test")"
redis_cli DEL "${P}grant:acl-test" "${P}rl:pwchk:acl-test" >/dev/null
check_eq redis_acl_no_serial_written "0" "$(redis_cli EXISTS "${P}serial:demo:01")"

# ---- a service's own password file: mode and content
cp -a "$cfgdir" "$work/cfg"
gwpass=$work/cfg/$(jq -r '.redis.users.gateway.password_file' "$TEST_CONFIG")
chmod 644 "$gwpass"
out=$(env -u PKI_CONFIG -u PKI_REDIS_URL -u PKI_KAFKA_BROKERS PKI_GATEWAY_LISTEN=127.0.0.1:1 \
	timeout 20 "$ROOT/${BUILD:-build/release}/pki-gateway" --config "$work/cfg/config.json" 2>&1)
rc=$?
check_eq redis_acl_password_file_mode_refused_exit 1 "$rc"
check_contains redis_acl_password_file_mode_refused_message \
	"redis.users.gateway.password_file: file $gwpass must not be accessible by group or others (chmod 600), got mode 0644" "$out"
out=$(env -u PKI_CONFIG "$ROOT/${BUILD:-build/release}/pki-worker" --check-config --config "$work/cfg/config.json" 2>&1)
check_contains redis_acl_other_services_file_not_read "config.json: ok" "$out"

chmod 600 "$gwpass"
printf 'not-the-password-of-the-gateway\n' >"$gwpass"
listen=${PKI_GATEWAY_LISTEN%:*}:$((${PKI_GATEWAY_LISTEN##*:} + 120))
env -u PKI_CONFIG -u PKI_REDIS_URL -u PKI_KAFKA_BROKERS PKI_GATEWAY_LISTEN="$listen" \
	"$ROOT/${BUILD:-build/release}/pki-gateway" --config "$work/cfg/config.json" >"$work/gw.log" 2>&1 &
GW_PID=$!
if wait_for 20 grep -F "refused AUTH as user $GW_USER: WRONGPASS" "$work/gw.log"; then
	pass redis_acl_wrong_password_logged_as_refusal
else
	fail redis_acl_wrong_password_logged_as_refusal "$(tail -n 5 "$work/gw.log")"
fi
if wait_for 20 status_is 503 "http://$listen/healthz"; then
	http GET "http://$listen/healthz"
	check_eq redis_acl_wrong_password_healthz_redis_down down "$(jq -r .redis <<<"$HTTP_BODY")"
else
	fail redis_acl_wrong_password_healthz_redis_down "no 503 from http://$listen/healthz"
fi
kill "$GW_PID" 2>/dev/null
wait "$GW_PID" 2>/dev/null
GW_PID=

# The refusals above are in Redis's ACL log; clear them for the suites after this one.
redis_cli ACL LOG RESET >/dev/null

# ---- what scripts write survives a restart: Redis replays the AOF as the
# default user and re-checks each MULTI/EXEC (a script's writes) against its
# ACL, so the default user is off but keeps its permissions.
key=${P}req:acl-persist-$RUN_ID
allowed redis_acl_script_write "$(as worker EVAL "return redis.call('HSET', KEYS[1], 'state', 'kept')" 1 "$key")"
stop_redis
start_redis
wait_for 30 bash -c "[[ \$(scripts/stack.sh redis-cli PING 2>/dev/null) == PONG ]]"
check_eq redis_acl_script_write_survives_restart kept "$(redis_cli HGET "$key" state)"
check_eq redis_acl_aof_replayed_whole "" "$(grep -F 'ACLs rules changed' "$PKI_VAR/log/redis.log" | tail -n 1)"
check_contains redis_acl_default_user_still_off "NOAUTH" "$(anon PING)"
redis_cli DEL "$key" >/dev/null
