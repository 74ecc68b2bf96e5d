#!/usr/bin/env bash
# Secrets only where they are needed, approval password guessing, and grants
# bound to every field that shapes the certificate, against the real stack:
#
# - which files each service opens at start (strace): no root CA key ever,
#   a worker only the keys of the CAs it signs for, the grant key only the
#   approver and the workers;
# - the approver checks approval passwords (the gateway forwards them): a
#   right one is granted at once, a wrong one waits for an admin;
# - 50 parallel wrong guesses for one user and CA: at most 5 scrypt checks
#   (the approver's /metrics), the rest 429 with Retry-After; the approver's
#   own count holds against approval messages that skip the gateway; a
#   counter that cannot be written fails closed in both;
# - an approved message copied with any shaping field changed is not signed,
#   and the same grant does not sign twice, even with its record deleted.
#
# The test's operator principals (Kafka and Redis pki-admin) play a
# compromised gateway: they write pki.issue, pki.approval and records.
. "$(dirname "$0")/lib.sh"
set +e

GW=$GATEWAY_URL
AP=$APPROVER_URL
DEMO=$PKI_VAR/demo
PW=$(cred .approval_password)
work=$(mktemp -d "${TMPDIR:-/tmp}/secrets-test.XXXXXX")
trap 'rm -rf "$work"; lib_exit' EXIT
run=${RUN_ID//[^0-9a-z]/}
cn() { printf '%s-%s.acme.test' "$1" "$run"; }

csr_new() { # FILE CN
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
		-subj "/CN=$2" -addext "subjectAltName=DNS:$2" -out "$1" 2>/dev/null
}
body_for() { # CSR CN CA [PASSWORD]: a POST /csr/process body
	jq -n --rawfile csr "$1" --arg cn "$2" --arg ca "$3" --arg pw "${4:-}" \
		'{csr_data: $csr, common_name: $cn, validity_days: 30, ca_id: $ca,
		  extensions: ["server_auth"]} + (if $pw == "" then {} else {approval_password: $pw} end)'
}
submit() { http POST "$GW/csr/process" "$1" -H "$(auth alice)"; }
state_of() { redis_cli HGET "pki:req:$1" state; }
state_in() { [[ " ${*:2} " == *" $(state_of "$1") "* ]]; }
topic_msgs() { kcat_b -C -t "$1" -o beginning -e -q -f '%k\t%s\n' 2>/dev/null | awk -F'\t' -v k="$2" '$1 == k { print $2 }'; }
issued_count() { kcat_b -C -t pki.issued -o beginning -e -q -f '%s\n' 2>/dev/null | jq -r --arg i "$1" 'select(.request_id == $i) | .serial' | grep -c .; }
metric() { curl -s "$AP/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
checks() { metric pki_approver_password_checks_total; }

# ------------------------------------------------------------ what each service opens
ROOT_KEY=$(jq -r '.cas[] | select(.type == "root") | .key' "$TEST_CONFIG")
GRANT_KEY=$(jq -r .grant_key "$TEST_CONFIG")
opened() { # SERVICE: the files it opens while loading its config
	strace -f -qq -e trace=open,openat -o "$work/$1.trace" \
		"build/release/pki-$1" --config "$TEST_CONFIG" --check-config >/dev/null 2>&1
	grep -o '"[^"]*"' "$work/$1.trace" | tr -d '"'
}
for svc in gateway worker approver; do
	opened "$svc" >"$work/$svc.files"
	check "$svc: loads its config" grep -q 'config.json$' "$work/$svc.files"
	check "$svc: never opens a root CA key" bash -c "! grep -q '/${ROOT_KEY##*/}\$' '$work/$svc.files'"
done
check "gateway: never opens the grant key" bash -c "! grep -q '/${GRANT_KEY##*/}\$' '$work/gateway.files'"
check "gateway: opens no CA key" bash -c "! grep -q '\\.key\$' <(grep -v 'redis/\\|kafka/' '$work/gateway.files')"
check "approver: opens the grant key (it makes grants)" grep -q "/${GRANT_KEY##*/}\$" "$work/approver.files"
check "worker: opens the grant key (it verifies grants)" grep -q "/${GRANT_KEY##*/}\$" "$work/worker.files"
signing=$(jq -r '.cas[] | select(.type == "intermediate" and .api_issuance == true) | .key' "$TEST_CONFIG" | sort -u)
others=$(jq -r '.cas[] | select(.type == "root" or .api_issuance != true) | .key' "$TEST_CONFIG" | sort -u)
missing=
for k in $signing; do grep -q "/${k##*/}\$" "$work/worker.files" || missing+=" $k"; done
check_eq "worker: opens the key of every CA it signs for" "" "$missing"
extra=
for k in $others; do grep -q "/${k##*/}\$" "$work/worker.files" && extra+=" $k"; done
check_eq "worker: opens no key of a CA it does not sign for" "" "$extra"

# ------------------------------------------------------------ compose: each service its own files
compose/split-config.sh "$DEMO" "$work/split" 2>"$work/split.err"
check_eq "compose split: runs on the demo folder" "" "$(cat "$work/split.err")"
files() { (cd "$work/split/$1" && find . -type f | sed 's|^\./||' | sort); }
for svc in gateway worker approver; do
	check "compose split: $svc starts with only its files" env -u PKI_CONFIG \
		"build/release/pki-$svc" --config "$work/split/$svc/config.json" --check-config
	check_eq "compose split: $svc has no root or infrastructure key, no credentials" "" \
		"$(files "$svc" | grep -E "^infra/|credentials|/${ROOT_KEY##*/}\$")"
	others=$(for o in gateway worker approver; do [[ $o != "$svc" ]] && printf 'pki-%s\.(key|pass)$|' "$o"; done)
	check_eq "compose split: $svc has no other service's Kafka key or Redis password" "" \
		"$(files "$svc" | grep -E "${others%|}")"
done
check_eq "compose split: gateway has no private key but its Kafka one, no grant key" "kafka/pki-gateway.key" \
	"$(files gateway | grep -E '\.key$|grant' | tr '\n' ' ' | sed 's/ $//')"
check_eq "compose split: approver's keys: the grant key and its Kafka key" \
	"$GRANT_KEY kafka/pki-approver.key" "$(files approver | grep -E '\.key$|grant' | tr '\n' ' ' | sed 's/ $//')"
check_eq "compose split: worker's CA keys are those it signs for" "$(printf '%s\n' $signing | tr '\n' ' ')" \
	"$(files worker | grep '^cas/.*\.key$' | sort -u | tr '\n' ' ')"
check "compose split: worker has the grant key and the bulk keys" bash -c \
	"[[ -f '$work/split/worker/$GRANT_KEY' ]] && [[ \$(jq -r '.bulk_keys[].secret_file' '$TEST_CONFIG' | while read -r f; do [[ -f '$work/split/worker/'\$f ]] || echo missing; done) == '' ]]"
check "compose: each service mounts only its own volume" "$PYTHON" -c '
import sys, yaml
c = yaml.safe_load(open("compose/docker-compose.yml"))["services"]
for s in ("gateway", "worker", "approver"):
    assert c[s]["volumes"] == ["conf-%s:/etc/pki:ro" % s], (s, c[s]["volumes"])
assert "config-split" in c and all(
    "config-split" in c[s]["depends_on"] for s in ("gateway", "worker", "approver"))
'

# ------------------------------------------------------------ the approver checks the password
c0=$(checks)
csr_new "$work/ok.csr" "$(cn ok)"
submit "$(body_for "$work/ok.csr" "$(cn ok)" demo-approval "$PW")"
OK=$(jq -r '.request_id // empty' <<<"$HTTP_BODY")
check_eq "right password: 202, waiting for the approver" "202 pending_approval" "$HTTP_STATUS $(jq -r .status <<<"$HTTP_BODY")"
if wait_for 30 state_in "$OK" issued; then pass "right password: granted by the approver, issued"; else fail "right password: granted by the approver, issued" "state $(state_of "$OK")"; fi
check_eq "right password: one scrypt check" 1 "$(($(checks) - c0))"
check_eq "right password: approved as the password" "approval password" "$(redis_cli HGET "pki:req:$OK" approved_by)"
ISSUE_MSG=$(topic_msgs pki.issue "$OK" | jq -c 'select(.grant != null)' | head -n 1)
check "right password: the grant binds the request fields" jq -e '.grant.request_sha256 | test("^[0-9a-f]{64}$")' <<<"$ISSUE_MSG"
if topic_msgs pki.issue "$OK" | grep -qF -- "$PW"; then
	fail "right password: not forwarded to pki.issue"
else
	pass "right password: not forwarded to pki.issue"
fi
if redis_cli HGETALL "pki:req:$OK" | grep -qF -- "$PW" || redis_cli HGETALL "pki:pending:$OK" | grep -qF -- "$PW"; then
	fail "right password: never stored in Redis"
else
	pass "right password: never stored in Redis"
fi

c0=$(checks)
csr_new "$work/bad.csr" "$(cn bad)"
submit "$(body_for "$work/bad.csr" "$(cn bad)" demo-approval "not-$PW")"
BAD=$(jq -r '.request_id // empty' <<<"$HTTP_BODY")
if wait_for 30 bash -c "[[ \$(scripts/stack.sh redis-cli HGET pki:pending:$BAD reason) == approval_password_wrong ]]"; then
	pass "wrong password: waits for an admin, reason approval_password_wrong"
else
	fail "wrong password: waits for an admin, reason approval_password_wrong" "reason $(redis_cli HGET "pki:pending:$BAD" reason)"
fi
check_eq "wrong password: state pending_approval" pending_approval "$(state_of "$BAD")"
check_eq "wrong password: one scrypt check" 1 "$(($(checks) - c0))"
wait_for 20 bash -c "kcat -F '$KCAT_ADMIN_CONF' -b '$KAFKA_BROKERS' -C -t pki.audit -o beginning -e -q -f '%k %s\n' 2>/dev/null | grep -F '$BAD' | grep -q approval_password_wrong"
check_contains "wrong password: audit event names the requester" '"actor":"alice"' \
	"$(topic_msgs pki.audit "$BAD" | grep approval_password_wrong)"

# ------------------------------------------------------------ 50 parallel guesses
c0=$(checks)
csr_new "$work/guess.csr" "$(cn guess)"
body_for "$work/guess.csr" "$(cn guess)" demo-approval-2 wrong-guess >"$work/guess.json"
guess() {
	curl -s -o /dev/null -D - -w 'STATUS %{http_code}\n' -H "$1" -H 'Content-Type: application/json' \
		--data-binary @"$2" "$3/csr/process" | tr -d '\r' | awk '/^STATUS/ { s = $2 } tolower($1) == "retry-after:" { r = $2 } END { print s, (r == "" ? "-" : r) }'
}
export -f guess
seq 50 | xargs -P 50 -I{} bash -c 'guess "$0" "$1" "$2"' "$(auth alice)" "$work/guess.json" "$GW" >"$work/guesses"
check_eq "50 parallel guesses: 5 accepted" 5 "$(grep -c '^202 ' "$work/guesses")"
check_eq "50 parallel guesses: 45 refused 429" 45 "$(grep -c '^429 ' "$work/guesses")"
check_eq "50 parallel guesses: every 429 has Retry-After" 45 "$(grep -cE '^429 [0-9]+$' "$work/guesses")"
wait_for 30 bash -c "(( \$(curl -s '$AP/metrics' | awk '\$1 == \"pki_approver_password_checks_total\" { print \$2 }') - $c0 >= 5 ))"
sleep 2 # anything more would show now
n=$(($(checks) - c0))
if ((n >= 1 && n <= 5)); then pass "50 parallel guesses: at most 5 scrypt checks ($n)"; else fail "50 parallel guesses: at most 5 scrypt checks" "got $n"; fi
http POST "$GW/csr/process" "$(body_for "$work/guess.csr" "$(cn guess)" demo-approval-2 "$PW")" -H "$(auth alice)"
check_eq "after the guesses the right password waits too (429)" "429 too_many_password_attempts approval_password" \
	"$HTTP_STATUS $(jq -r '.error.code + " " + .error.field' <<<"$HTTP_BODY")"

# ------------------------------------------------------------ the approver counts on its own
# Approval messages that skip the gateway (a compromised one): records as
# the gateway writes them, then one approval message each with a guess.
csr_new "$work/direct.csr" "$(cn direct)"
csr_hash=$(sha256sum <"$work/direct.csr" | cut -d' ' -f1)
direct_msg() { # ID PASSWORD CA REQUESTER: "ID<TAB>approval message"
	jq -cn --rawfile csr "$work/direct.csr" --arg id "$1" --arg pw "$2" --arg ca "$3" --arg r "$4" \
		--arg cn "$(cn direct)" \
		'{v: 1, reason: "approval_password_given", approval_password: $pw,
		  request: {v: 1, request_id: $id, csr: $csr, common_name: $cn, validity_days: 30,
			    ca_id: $ca, extensions: ["server_auth"], tenant: "acme", requester: $r,
			    submitted_at: (now | floor)}} | "\($id)\t\(tojson)"' -r
}
direct_record() { # ID CA REQUESTER
	redis_cli HSET "pki:req:$1" id "$1" state pending_approval requester "$3" tenant acme \
		ca_id "$2" csr_sha256 "$csr_hash" created "$(date +%s)" updated "$(date +%s)" >/dev/null
}
c0=$(checks)
l0=$(metric 'pki_approver_password_refused_total{why="limited"}')
for i in $(seq 12); do
	direct_record "direct-$run-$i" demo-approval admin2
	direct_msg "direct-$run-$i" "guess-$i" demo-approval admin2
done | kcat_b -P -t pki.approval -K $'\t' 2>/dev/null
wait_for 40 bash -c "[[ -n \$(scripts/stack.sh redis-cli HGET pki:pending:direct-$run-12 reason) ]]"
n=$(($(checks) - c0))
check_eq "approver alone: 12 direct guesses, 5 scrypt checks" 5 "$n"
check_eq "approver alone: 7 refused unchecked" 7 "$(($(metric 'pki_approver_password_refused_total{why="limited"}') - l0))"
check_eq "approver alone: beyond the limit the reason says so" too_many_password_attempts \
	"$(redis_cli HGET "pki:pending:direct-$run-12" reason)"

# ------------------------------------------------------------ fail closed
# A counter Redis refuses to count (a key of another type: every INCR errs).
redis_cli DEL "pki:rl:pwchk:alice:demo-approval-short" >/dev/null
redis_cli HSET "pki:rl:pwchk:alice:demo-approval-short" broken 1 >/dev/null
c0=$(checks)
u0=$(metric 'pki_approver_password_refused_total{why="counter_unavailable"}')
direct_record "closed-$run" demo-approval-short alice
direct_msg "closed-$run" "$PW" demo-approval-short alice | kcat_b -P -t pki.approval -K $'\t' 2>/dev/null
wait_for 30 bash -c "[[ -n \$(scripts/stack.sh redis-cli HGET pki:pending:closed-$run reason) ]]"
check_eq "approver: counter failing, even the right password is not checked" "approval_password_unchecked pending_approval 0" \
	"$(redis_cli HGET "pki:pending:closed-$run" reason) $(state_of "closed-$run") $(($(checks) - c0))"
check_eq "approver: counter failing is counted in /metrics" 1 \
	"$(($(metric 'pki_approver_password_refused_total{why="counter_unavailable"}') - u0))"
redis_cli DEL "pki:rl:pwchk:alice:demo-approval-short" >/dev/null

redis_cli HSET "pki:rl:pw:alice:demo-approval-short" broken 1 >/dev/null
csr_new "$work/closed.csr" "$(cn closed)"
submit "$(body_for "$work/closed.csr" "$(cn closed)" demo-approval-short "$PW")"
check_eq "gateway: counter failing, 503 and nothing sent" "503 approval_password" \
	"$HTTP_STATUS $(jq -r .error.field <<<"$HTTP_BODY")"
redis_cli DEL "pki:rl:pw:alice:demo-approval-short" >/dev/null
stop_redis
submit "$(body_for "$work/closed.csr" "$(cn closed)" demo-approval-short "$PW")"
check_eq "gateway: Redis down, the password path answers 503" 503 "$HTTP_STATUS"
start_redis
wait_for 30 status_is 200 "$GW/healthz"
check_eq "Redis restart: what scripts wrote is kept" issued "$(state_of "$OK")"

# ------------------------------------------------------------ grants: every field bound, used once
# The approved message of $OK (issued above) as copies with one field
# changed, each after deleting the record (a record writer could): none is
# signed. The original again: its grant was used, it is not signed twice.
alt_csr=$(csr_new "$work/alt.csr" "$(cn ok)" && cat "$work/alt.csr")
declare -A ALTER=(
	[csr]=".csr = \$alt"
	[common_name]=".common_name = \"$(cn other)\""
	[validity_days]='.validity_days = 31'
	[ca_id]='.ca_id = "demo-approval-2"'
	[extensions]='.extensions = ["server_auth", "client_auth"]'
	[purpose]='.purpose = "tls"'
	[tenant]='.tenant = "globex"'
	[requester]='.requester = "admin2"'
	[batch_id]=".batch_id = \"batch-$run\""
	[request_id]=".request_id = \"copy-$run\""
)
replay() { # JSON: deletes its record, sends it to pki.issue, waits for the worker
	local id
	id=$(jq -r .request_id <<<"$1")
	redis_cli DEL "pki:req:$id" "pki:pending:$id" >/dev/null
	printf '%s\n' "$1" | kcat_b -P -t pki.issue -k "$id" 2>/dev/null
	wait_for 30 state_in "$id" pending_approval failed
}
check_eq "grant: its use recorded by the worker, spent" spent \
	"$(redis_cli GET "pki:grant:$(jq -r .grant.mac <<<"$ISSUE_MSG")")"
n_issued=$(issued_count "$OK")
check_eq "grant: the approved request was issued once" 1 "$n_issued"
for f in "${!ALTER[@]}"; do
	copy=$(jq -c --arg alt "$alt_csr" "${ALTER[$f]}" <<<"$ISSUE_MSG")
	id=$(jq -r .request_id <<<"$copy")
	replay "$copy"
	st=$(state_of "$id")
	if [[ $st == pending_approval || $st == failed ]] && [[ -z $(redis_cli HGET "pki:req:$id" certificate) ]]; then
		pass "grant: copy with $f changed is not signed ($st)"
	else
		fail "grant: copy with $f changed is not signed" "state $st"
	fi
done
check_eq "grant: no copy reached pki.issued" 1 "$(issued_count "$OK")"
check_eq "grant: a changed copy is not signed (request_id)" 0 "$(issued_count "copy-$run")"
why=$(topic_msgs pki.approval "$OK" | jq -r 'select(.reason | startswith("grant:")) | .reason' | sort -u)
check_contains "grant: changed fields named in the worker's reason" "made for other request fields" "$why"

replay "$ISSUE_MSG"
check_eq "grant: replayed with its record deleted, refused as used" "failed approval_grant_used" \
	"$(state_of "$OK") $(redis_cli HGET "pki:req:$OK" error_code)"
sleep 2
check_eq "grant: still one certificate for the request" 1 "$(issued_count "$OK")"
