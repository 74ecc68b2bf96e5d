#!/usr/bin/env bash
# End to end through the workers: submit → Kafka → worker → Redis → poll.
# Every case here needs a worker that signs (pki-worker consuming the issue
# topic); they fail until it does.
set -uo pipefail
cd "$(dirname "$0")/../.."
[[ -f tests/integration/lib.sh ]] && . tests/integration/lib.sh
. tests/integration/gateway_env.sh

CONCURRENCY=${PKI_TEST_CONCURRENCY:-500}
PARALLEL=${PKI_TEST_PARALLEL:-50}

trap gwenv_exit EXIT
gwenv_infra_up || { fail flow_infra "Kafka/Redis not available"; exit 1; }
gwenv_pki || { fail flow_pki_setup; exit 1; }
gwenv_gateway_up || { fail flow_gateway_start; exit 1; }
expect flow_workers_ready gwenv_workers_up 2
ROOT_PEM=$GW_DIR/cas/test-root.crt

# poll_final ID TOKEN: long-polls until a terminal state or 30 s; BODY holds the last answer.
poll_final() {
	local i
	for ((i = 0; i < 2; i++)); do
		req GET "/csr/requests/$1?wait=15" "$2"
		case $(jbody .status) in issued | failed | rejected | expired) return 0 ;; esac
	done
	return 1
}

# verify_issued NAME FIXTURE: the certificate in BODY chains to the root and
# carries what was asked for.
verify_issued() {
	local name=$1 f=$2 d=$GW_DIR/$1
	mkdir -p "$d"
	expect "${name}_status_issued" test "$(jbody .status)" = issued
	[[ $(jbody .status) == issued ]] || return 0 # the field checks below would only repeat it
	jbody .certificate >"$d/cert.pem"
	jbody .chain >"$d/chain.pem"
	expect "${name}_openssl_verify" openssl verify -CAfile "$ROOT_PEM" -untrusted "$d/chain.pem" "$d/cert.pem"
	local serial cn want_cn sans want_sans days
	serial=$(openssl x509 -in "$d/cert.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//')
	expect "${name}_serial_matches" test "$serial" = "$(jbody .serial | sed 's/^0*//')"
	cn=$(openssl x509 -in "$d/cert.pem" -noout -subject -nameopt multiline | awk -F' = ' '/commonName/ {print $2}')
	want_cn=$(jq -r --arg f "$f" '.good[$f].cn' tests/fixtures/csr/manifest.json)
	expect "${name}_cn_matches" test "$cn" = "$want_cn"
	sans=$(openssl x509 -in "$d/cert.pem" -noout -ext subjectAltName 2>/dev/null | tail -n +2 | tr ',' '\n' | sed -n 's/^ *DNS://p' | sort | tr '\n' ' ')
	want_sans=$(jq -r --arg f "$f" '.good[$f].dns_sans[]' tests/fixtures/csr/manifest.json | sort | tr '\n' ' ')
	expect "${name}_sans_match" test "$sans" = "$want_sans"
	expect "${name}_response_sans" test "$(jbody '.sans | sort | join(" ")') " = "$want_sans"
	# RFC 5280 counts both ends: a 30-day certificate ends 30 d - 1 s after it starts.
	days=$((($(date -d "$(openssl x509 -in "$d/cert.pem" -noout -enddate | cut -d= -f2)" +%s) - $(date -d "$(openssl x509 -in "$d/cert.pem" -noout -startdate | cut -d= -f2)" +%s) + 1) / 86400))
	expect "${name}_validity_days" test "$days" = 30
	expect "${name}_key_type" test "$(jbody .key_type)" = "$(jq -r --arg f "$f" '.good[$f].key_type' tests/fixtures/csr/manifest.json)"
	expect "${name}_key_size" test "$(jbody .key_size)" = "$(jq -r --arg f "$f" '.good[$f].key_bits' tests/fixtures/csr/manifest.json)"
	expect "${name}_not_ca" sh -c "openssl x509 -in '$d/cert.pem' -noout -ext basicConstraints | grep -q 'CA:FALSE'"
}

on_issued_topic() {
	[[ -n $(kcat -F "$KCAT_ADMIN_CONF" -b "$KAFKA" -C -t $T_ISSUED -e -q -f '%s\n' 2>/dev/null | grep '^{' |
		jq -r --arg i "$1" 'select(.request_id == $i) | .serial') ]]
}
on_results_topic() { [[ $(topic_msgs $T_RESULTS "$1" | jq -r .status) == issued ]]; }
# eventually CMD...: CMD succeeds within 5 s.
eventually() {
	local i
	for ((i = 0; i < 20; i++)); do
		"$@" && return 0
		sleep 0.25
	done
	return 1
}

# --- CSRs from each generator: submit → issued --------------------------------
for f in openssl-rsa2048.pem certtool-p256.pem pyca-p256.pem keytool-rsa2048.pem pyca-ed25519.pem; do
	name=flow_$(basename "$f" .pem | tr -c 'a-z0-9\n' '_')
	submit "$ALICE" "$(fixture_json "$f" '{ca_id: "acme-issuing"}')"
	id=$(jbody .request_id)
	if [[ $CODE != 202 ]]; then
		fail "${name}_accepted" "code=$CODE body=$BODY"
		continue
	fi
	poll_final "$id" "$ALICE"
	verify_issued "$name" "$f"
	# Redis is written before the topics, so a poll can see "issued" first.
	expect "${name}_on_issued_topic" eventually on_issued_topic "$id"
	expect "${name}_on_results_topic" eventually on_results_topic "$id"
done

# --- long-poll answers within 100 ms of issuance -----------------------------
# The workers are held (SIGSTOP) until both the Redis subscription that
# timestamps the "issued" event and the long-poll are in place; otherwise a
# fast worker could finish before either is listening.
mapfile -t flow_workers < <(pgrep -f -- "pki-worker --config $GW_CONFIG")
kill -STOP "${flow_workers[@]}" 2>/dev/null
submit "$ALICE" "$(fixture_json openssl-p256.pem '{ca_id: "acme-issuing"}')"
id=$(jbody .request_id)
rm -f "$GW_DIR/issued_at" "$GW_DIR/polled_at"
("${REDIS_CLI[@]}" subscribe "gwtest:ev:$id" | while read -r line; do
	[[ $line == issued ]] && { now_ms >"$GW_DIR/issued_at"; break; }
done) &
sub=$!
(curl -s -o "$GW_DIR/lp_body" -H "Authorization: Bearer $ALICE" "$GW/csr/requests/$id?wait=10" &&
	now_ms >"$GW_DIR/polled_at") &
lp=$!
sleep 0.5
kill -CONT "${flow_workers[@]}" 2>/dev/null
wait "$lp"
sleep 0.2
kill "$sub" 2>/dev/null
wait "$sub" 2>/dev/null
if [[ -s $GW_DIR/issued_at && -s $GW_DIR/polled_at ]]; then
	expect flow_longpoll_within_100ms test $(($(cat "$GW_DIR/polled_at") - $(cat "$GW_DIR/issued_at"))) -lt 100
else
	fail flow_longpoll_within_100ms "no issued event or no long-poll answer (status $(jq -r .status "$GW_DIR/lp_body" 2>/dev/null))"
fi

# --- manual approval ------------------------------------------------------------
APPR=$(fixture_json openssl-p256.pem '{ca_id: "acme-approval"}')
# The gateway holds no grant key: without an approver (none runs here) even
# the right password leaves the request waiting (test_secrets.sh: granted).
submit "$ALICE" "$(jq -c --arg p "$APPROVAL_PASSWORD" '.approval_password = $p' <<<"$APPR")"
rid=$(jbody .request_id)
submit "$ALICE" "$(jq -c '.approval_password = "not it"' <<<"$APPR")"
wid=$(jbody .request_id)
sleep 5
req GET "/csr/requests/$wid" "$ALICE"
expect flow_approval_wrong_password_stays_pending test "$(jbody .status)" = pending_approval -a "$(jbody .certificate)" = null
req GET "/csr/requests/$rid" "$ALICE"
expect flow_approval_gateway_alone_never_grants test "$(jbody .status)" = pending_approval -a "$(jbody .certificate)" = null

# A message straight onto the issue topic for the approval CA: never signed.
bulk_msg() { # id [grant-json]
	jq -cn --rawfile csr "$FIXTURES/openssl-p256.pem" --arg id "$1" --argjson g "${2:-null}" \
		'{v: 1, request_id: $id, csr: $csr, common_name: "p256.openssl.example.com",
		  validity_days: 30, ca_id: "acme-approval", tenant: "acme", requester: "alice",
		  submitted_at: now | floor} + (if $g == null then {} else {grant: $g} end)'
}
kid=kcat-$RANDOM$RANDOM
bulk_msg "$kid" | kcat -F "$KCAT_ADMIN_CONF" -b "$KAFKA" -P -t $T_ISSUE -k "$kid"
fid=forged-$RANDOM$RANDOM
bulk_msg "$fid" "$(jq -cn --arg id "$fid" '{request_id: $id, ca_id: "acme-approval", request_sha256: ("0" * 64), expires_at: 4102444800, mac: ("a" * 64)}')" |
	kcat -F "$KCAT_ADMIN_CONF" -b "$KAFKA" -P -t $T_ISSUE -k "$fid"
sleep 8
for x in "$kid" "$fid"; do
	n=$(kcat -F "$KCAT_ADMIN_CONF" -b "$KAFKA" -C -t $T_ISSUED -e -q -f '%s\n' 2>/dev/null | jq -r --arg i "$x" 'select(.request_id == $i) | .serial' | wc -l)
	st=$("${REDIS_CLI[@]}" hget "gwtest:req:$x" state)
	expect "flow_kcat_${x%%-*}_approval_ca_not_signed" test "$n" = 0 -a "$st" != issued
	expect "flow_kcat_${x%%-*}_routed_to_approval" test -n "$(topic_msgs $T_APPROVAL "$x")"
done

# --- many concurrent submits: every one issued exactly once -----------------------
one_submit() {
	local out
	out=$(curl -s -w '\n%{http_code}' -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' \
		--data-binary @"$GW_DIR/conc.json" "$GW/csr/process")
	jq -r '.request_id // empty' <<<"${out%$'\n'*}" 2>/dev/null | grep . ||
		echo "ERR ${out##*$'\n'} $(jq -r '.error.code' <<<"${out%$'\n'*}" 2>/dev/null)"
}
export -f one_submit
# accepted_only FILE: shows why submits in FILE were refused (its ERR lines,
# with the gateway log's end), then leaves only the accepted request ids.
accepted_only() {
	if grep -q ERR "$1"; then
		grep ERR "$1" | sort | uniq -c | sort -rn | head -5 | sed 's/^/    refused: /'
		tail -5 "$GW_DIR/gateway.log" | sed 's/^/    gateway.log: /'
	fi
	sed -i '/^ERR/d' "$1"
}
export ALICE GW GW_DIR
fixture_json openssl-p256.pem '{ca_id: "acme-issuing"}' >"$GW_DIR/conc.json"
seq "$CONCURRENCY" | xargs -P "$PARALLEL" -I{} bash -c one_submit >"$GW_DIR/conc.ids"
expect flow_concurrent_all_accepted test "$(grep -c -v ERR "$GW_DIR/conc.ids")" = "$CONCURRENCY"
accepted_only "$GW_DIR/conc.ids" # what follows checks the accepted ones
accepted=$(wc -l <"$GW_DIR/conc.ids")
# count_issued FILE SECONDS: waits until every request id in FILE is issued or
# SECONDS pass, then prints how many are.
count_issued() {
	local deadline=$(($(date +%s) + $2)) left id n=0
	while (($(date +%s) < deadline)); do
		left=0
		while read -r id; do
			[[ $("${REDIS_CLI[@]}" hget "gwtest:req:$id" state) == issued ]] || { left=1; break; }
		done <"$1"
		((left == 0)) && break
		sleep 1
	done
	while read -r id; do
		[[ $("${REDIS_CLI[@]}" hget "gwtest:req:$id" state) == issued ]] && n=$((n + 1))
	done <"$1"
	echo "$n"
}
expect flow_concurrent_all_issued test "$(count_issued "$GW_DIR/conc.ids" $((30 + CONCURRENCY / 10)))" = "$accepted"
# Delivery is at least once: an announcement may come twice, always with the
# same certificate. What counts is one serial per request, one request per serial.
kcat -F "$KCAT_ADMIN_CONF" -b "$KAFKA" -C -t $T_ISSUED -e -q -f '%s\n' 2>/dev/null | jq -r '.request_id + " " + .serial' |
	sort -u >"$GW_DIR/issued.all"
dups=$(grep -F -f "$GW_DIR/conc.ids" "$GW_DIR/issued.all" | cut -d' ' -f1 | uniq -d | wc -l)
expect flow_concurrent_one_certificate_each test "$dups" = 0 -a "$(grep -c -F -f "$GW_DIR/conc.ids" "$GW_DIR/issued.all")" = "$accepted"
expect flow_concurrent_serials_unique test "$(cut -d' ' -f2 "$GW_DIR/issued.all" | sort | uniq -d | wc -l)" = 0

# --- a broker that stalls now and then (a JVM pause, a starved core) ----------
# Submits wait for it instead of being refused, and every one is issued.
kpid=$(cat "$PKI_VAR/run/kafka.pid" 2>/dev/null)
if [[ -z $kpid ]] || ! kill -0 "$kpid" 2>/dev/null; then
	fail flow_kafka_stalls_setup "no Kafka pid in $PKI_VAR/run/kafka.pid"
else
	rm -f "$GW_DIR/stall.done" "$GW_DIR/stall.count"
	( # 0.7 s stopped out of every 1.5 s until the submits are done (1 min at most)
		trap 'kill -CONT "$kpid"' EXIT
		for ((i = 1; i <= 40; i++)); do
			[[ -e $GW_DIR/stall.done ]] && break
			kill -STOP "$kpid"
			sleep 0.7
			kill -CONT "$kpid"
			echo "$i" >"$GW_DIR/stall.count"
			sleep 0.8
		done
	) &
	staller=$!
	# Rounds of 100 submits, 20 at a time, until three stalls have passed.
	: >"$GW_DIR/stall.ids"
	for ((round = 0; round < 12; round++)); do
		seq 100 | xargs -P 20 -I{} bash -c one_submit >>"$GW_DIR/stall.ids"
		(($(cat "$GW_DIR/stall.count" 2>/dev/null || echo 0) >= 3)) && break
	done
	touch "$GW_DIR/stall.done"
	wait "$staller"
	kill -CONT "$kpid"
	sent=$(wc -l <"$GW_DIR/stall.ids")
	expect flow_kafka_stalls_all_accepted test "$(grep -c -v ERR "$GW_DIR/stall.ids")" = "$sent"
	expect flow_kafka_stalls_overlapped test "$(cat "$GW_DIR/stall.count" 2>/dev/null || echo 0)" -ge 3
	accepted_only "$GW_DIR/stall.ids"
	expect flow_kafka_stalls_all_issued test "$(count_issued "$GW_DIR/stall.ids" 60)" = "$(wc -l <"$GW_DIR/stall.ids")"
fi

# Every certificate the workers issued above passes pkilint's RFC 5280 lint
# and its chain lint (the test CAs publish no revocation URLs and the names
# carry O/L/ST, so the CA/Browser Forum lints would only report that).
mkdir -p "$GW_DIR/pkilint"
for d in "$GW_DIR"/flow_*/; do
	n=$(basename "$d")
	[[ -s $d/cert.pem ]] || continue
	cp "$d/cert.pem" "$GW_DIR/pkilint/$n.crt"
	cp "$d/chain.pem" "$GW_DIR/pkilint/$n.chain.pem"
	cp "$ROOT_PEM" "$GW_DIR/pkilint/$n.root.pem"
	echo '{"server_auth": false}' >"$GW_DIR/pkilint/$n.json"
done
expect flow_pkilint_certificates test "$(find "$GW_DIR/pkilint" -name '*.crt' | wc -l)" -ge 5
out=$("${PYTHON:-.cache/venv/bin/python}" tests/tools/lint_certs.py "$GW_DIR/pkilint" 2>&1) ||
	grep -q '^FAIL: ' <<<"$out" || fail flow_pkilint "$out"
echo "$out"

answers_check flow_answers_match_openapi openapi.yaml "$GW_DIR/answers.jsonl" 10
