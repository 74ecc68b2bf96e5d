#!/usr/bin/env bash
# The stack itself: every topic carries a message end to end, Redis answers
# with AOF on, and the services' /healthz follows Redis and Kafka going away
# and coming back.
. "$(dirname "$0")/lib.sh"

# Seconds allowed for /healthz to notice a dependency going or coming back.
HEALTH_DOWN_TIMEOUT=10
HEALTH_UP_TIMEOUT=30
CONSUME_TIMEOUT=20

# Whatever a check below stops is started again, also when it fails midway.
restore() {
	redis_cli ping >/dev/null 2>&1 || start_redis
	kcat_b -L -m 5 >/dev/null 2>&1 || start_kafka
}
trap 'restore; lib_exit' EXIT

# --- topics: partitions, and a produced message is consumed back
meta=$(kcat_b -L -J -m 10 2>/dev/null)
for t in "${TOPICS[@]}"; do
	parts=$(jq -r --arg t "$t" '.topics[] | select(.topic == $t) | .partitions | length' <<<"$meta")
	want=${PKI_TOPIC_PARTITIONS:-3}
	[[ $t == pki.issue || $t == pki.submit ]] && want=${PKI_ISSUE_PARTITIONS:-12}
	check_eq "topic $t exists with $want partitions" "$want" "${parts:-missing}"
done

for t in "${TOPICS[@]}"; do
	payload="stack-test $t $RUN_ID"
	if ! err=$(printf '%s\n' "$payload" | kcat_b -P -t "$t" -k "stack-test-$RUN_ID" 2>&1); then
		fail "kcat round trip on $t" "produce failed: $err"
		continue
	fi
	got=$(timeout "$CONSUME_TIMEOUT" kcat -F "$KCAT_ADMIN_CONF" -b "$KAFKA_BROKERS" -C -t "$t" -o beginning -e -q -f '%k %s\n' 2>/dev/null)
	check_contains "kcat round trip on $t" "stack-test-$RUN_ID $payload" "$got"
done

# --- redis
check_eq "redis answers PONG" PONG "$(redis_cli ping 2>&1)"
check_eq "redis has AOF on" "appendonly yes" "$(redis_cli config get appendonly 2>&1 | paste -sd' ')"

# --- /healthz follows its dependencies
health_url() { if [[ $1 == gateway ]]; then echo "$GATEWAY_URL/healthz"; else echo "$APPROVER_URL/healthz"; fi; }

# expect_health SVC CODE SECONDS WHAT: /healthz of SVC reaches CODE in time.
expect_health() {
	local url name="$1 /healthz is $2 within ${3}s $4"
	url=$(health_url "$1")
	if wait_for "$3" status_is "$2" "$url"; then
		pass "$name"
	else
		fail "$name" "last status: $(http_status "$url")"
	fi
}

# health_cycle DEP: stop DEP, both services turn 503; start it, both 200.
health_cycle() {
	local dep=$1 svc
	for svc in gateway approver; do
		check_eq "$svc /healthz is 200 before stopping $dep" 200 "$(http_status "$(health_url $svc)")"
	done
	"stop_$dep"
	for svc in gateway approver; do expect_health $svc 503 "$HEALTH_DOWN_TIMEOUT" "of $dep stopping"; done
	"start_$dep"
	for svc in gateway approver; do expect_health $svc 200 "$HEALTH_UP_TIMEOUT" "of $dep returning"; done
}

health_cycle redis
health_cycle kafka
