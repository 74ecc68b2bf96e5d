#!/usr/bin/env bash
# Intake against the running test stack: CSRs as people paste them (certtool's
# printed output, keytool's label, openssl -text, CRLF and blanks, base64 DER,
# a DER file on a multipart form) issued over HTTP; two CSRs refused; every
# SAN of a 45-IP and a 100-name CSR stored, shown by the admin API and issued
# exactly; a worker whose issuing -> issued reply is lost while Redis is
# paused still announces its certificate. Each certificate passes pkilint.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

TMP=$PKI_VAR/tmp/intake-test
LINT=$TMP/lint
rm -rf "$TMP"
mkdir -p "$TMP" "$LINT"
ISSUING=$(cred .cas.issuing)
APPROVAL=$(cred .cas.approval)
PREFIX=$(jq -r '.redis.prefix // "pki:"' "$TEST_CONFIG")
DEMO=$(dirname "$TEST_CONFIG")
ROOT_CERT=$DEMO/$(jq -r '.cas[] | select(.type == "root" or .parent == null) | .cert' "$TEST_CONFIG" | head -n 1)
SETTLE_S=30
PAUSE_S=6          # Redis stopped this long: longer than a command and its one retry (2 x 2 s)
LOST_SETTLE_S=60   # the paused request ends within this

field_of() { redis_cli --raw HGET "${PREFIX}req:$1" "$2"; }

# submit_form CURL_ARGS...: POST /csr/process as alice with curl's -F fields; HTTP_STATUS, HTTP_BODY.
submit_form() {
	local out
	out=$(curl -s --max-time 30 -w '\n%{http_code}' -H "$(auth alice)" "$@" "$GATEWAY_URL/csr/process")
	HTTP_STATUS=${out##*$'\n'}
	HTTP_BODY=${out%$'\n'*}
}

# submit_body JSON [CURL_ARGS...]: POST /csr/process as alice; REQ_ID on 202.
submit_body() {
	local body=$1
	shift
	http POST "$GATEWAY_URL/csr/process" "$body" -H "$(auth alice)" "$@"
	REQ_ID=
	[[ $HTTP_STATUS == 202 ]] && REQ_ID=$(jq -r .request_id <<<"$HTTP_BODY")
}

# submit_text FILE CN [CA]: the file's text, as it is, in csr_data.
submit_text() {
	submit_body "$(jq -n --rawfile csr "$1" --arg cn "$2" --arg ca "${3:-$ISSUING}" \
		'{csr_data: $csr, common_name: $cn, validity_days: 30, ca_id: $ca}')"
}

# wait_issued ID: long-polls until terminal; the answer in REQ; 0 when issued.
wait_issued() {
	local deadline=$((SECONDS + ${2:-$SETTLE_S}))
	REQ=
	while ((SECONDS < deadline)); do
		http GET "$GATEWAY_URL/csr/requests/$1?wait=5" "" -H "$(auth alice)"
		REQ=$HTTP_BODY
		case $(jq -r .status <<<"$REQ" 2>/dev/null) in
		issued) return 0 ;;
		failed | rejected | expired) return 1 ;;
		esac
	done
	return 1
}

# keep_cert NAME: the issued certificate in REQ, its chain and root, into
# LINT for pkilint at the end (tests/tools/lint_certs.py; RFC 5280 lints).
keep_cert() {
	jq -r .certificate <<<"$REQ" >"$LINT/$1.crt"
	jq -r .chain <<<"$REQ" >"$LINT/$1.chain.pem"
	cp "$ROOT_CERT" "$LINT/$1.root.pem"
	echo '{"server_auth": false}' >"$LINT/$1.json"
}

# same_key NAME CSR_FILE: the issued certificate (in REQ) verifies and holds the CSR's key.
same_key() {
	keep_cert "$1"
	if openssl verify -CAfile "$ROOT_CERT" -untrusted "$LINT/$1.chain.pem" "$LINT/$1.crt" >/dev/null 2>&1 &&
		[[ $(openssl x509 -in "$LINT/$1.crt" -noout -pubkey) == "$(openssl req -in "$2" -noout -pubkey 2>/dev/null ||
			openssl req -inform DER -in "$2" -noout -pubkey)" ]]; then
		pass "$1: issued, verifies, holds the CSR's key"
	else
		fail "$1: issued, verifies, holds the CSR's key" "$REQ"
	fi
}

# paste_case NAME FILE CN KEYFILE: submits FILE's text; issued with the key of KEYFILE's CSR.
paste_case() {
	submit_text "$2" "$3"
	if [[ -z $REQ_ID ]]; then
		fail "$1: accepted" "HTTP $HTTP_STATUS $HTTP_BODY"
		return
	fi
	pass "$1: accepted"
	if wait_issued "$REQ_ID"; then same_key "$1" "$4"; else fail "$1: issued" "$REQ"; fi
}

# ------------------------------------------------------------ CSRs as people paste them
cn=certtool-$RUN_ID.acme.example
certtool --generate-privkey --key-type ecdsa --outfile "$TMP/gt.key" 2>/dev/null
printf 'cn = "%s"\ndns_name = "%s"\n' "$cn" "$cn" >"$TMP/gt.tmpl"
# As certtool prints it: the text dump, then the PEM block.
certtool --generate-request --load-privkey "$TMP/gt.key" --template "$TMP/gt.tmpl" \
	>"$TMP/certtool.out" 2>/dev/null
sed -n '/^-----BEGIN/,/^-----END/p' "$TMP/certtool.out" >"$TMP/certtool.csr"
check_contains certtool_output_has_text_first "Certificate Request Information" "$(head -n 1 "$TMP/certtool.out")"
paste_case certtool_printed_output "$TMP/certtool.out" "$cn" "$TMP/certtool.csr"

cn=keytool-$RUN_ID.acme.example
keytool -genkeypair -keyalg EC -groupname secp256r1 -alias k -dname "CN=$cn" -ext "san=dns:$cn" \
	-keystore "$TMP/ks.p12" -storetype PKCS12 -storepass changeit -keypass changeit >/dev/null 2>&1
keytool -certreq -alias k -keystore "$TMP/ks.p12" -storepass changeit -ext "san=dns:$cn" \
	-file "$TMP/keytool.csr" >/dev/null 2>&1
check_contains keytool_label "BEGIN NEW CERTIFICATE REQUEST" "$(head -n 1 "$TMP/keytool.csr")"
paste_case keytool_new_certificate_request "$TMP/keytool.csr" "$cn" "$TMP/keytool.csr"

cn=text-$RUN_ID.acme.example
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/ossl.key" \
	-subj "/CN=$cn" -addext "subjectAltName=DNS:$cn" -out "$TMP/ossl.csr" 2>/dev/null
# openssl req -text: the dump first; then CRLF line ends and indentation, as from a mail.
openssl req -in "$TMP/ossl.csr" -text >"$TMP/ossl-text.out"
sed -e 's/^/   /' -e 's/$/ \r/' "$TMP/ossl-text.out" >"$TMP/ossl-crlf.out"
paste_case openssl_text_dump "$TMP/ossl-text.out" "$cn" "$TMP/ossl.csr"
cn=crlf-$RUN_ID.acme.example
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/crlf.key" \
	-subj "/CN=$cn" -addext "subjectAltName=DNS:$cn" -text -out "$TMP/crlf.csr" 2>/dev/null
sed -e 's/^/   /' -e 's/$/ \r/' "$TMP/crlf.csr" >"$TMP/crlf.out"
paste_case crlf_and_indentation "$TMP/crlf.out" "$cn" "$TMP/crlf.csr"

cn=b64-$RUN_ID.acme.example
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/b64.key" \
	-subj "/CN=$cn" -addext "subjectAltName=DNS:$cn" -outform DER -out "$TMP/b64.der" 2>/dev/null
base64 -w 76 "$TMP/b64.der" >"$TMP/b64.txt"
paste_case base64_der_without_armour "$TMP/b64.txt" "$cn" "$TMP/b64.der"

cn=der-$RUN_ID.acme.example
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/der.key" \
	-subj "/CN=$cn" -addext "subjectAltName=DNS:$cn" -outform DER -out "$TMP/req.der" 2>/dev/null
submit_form -F "csr_data=@$TMP/req.der;type=application/octet-stream" -F "common_name=$cn" -F validity_days=30 -F "ca_id=$ISSUING"
if [[ $HTTP_STATUS == 202 ]]; then
	pass "der_file_multipart: accepted"
	REQ_ID=$(jq -r .request_id <<<"$HTTP_BODY")
	if wait_issued "$REQ_ID"; then same_key der_file_multipart "$TMP/req.der"; else fail "der_file_multipart: issued" "$REQ"; fi
else
	fail "der_file_multipart: accepted" "HTTP $HTTP_STATUS $HTTP_BODY"
fi
# What goes on to the workers is the one canonical PEM, not the paste.
msg=$(topic_dump pki.issue | jq -c --arg id "$REQ_ID" 'select(.request_id == $id)' | head -n 1)
check_eq der_file_passed_on_as_pem "-----BEGIN CERTIFICATE REQUEST-----" "$(jq -r '.csr | split("\n")[0]' <<<"$msg")"
check_eq der_file_passed_on_same_der "$(base64 -w 0 "$TMP/req.der")" \
	"$(jq -r .csr <<<"$msg" | openssl req -outform DER 2>/dev/null | base64 -w 0)"

# Two CSRs in one paste: 400 csr_multiple, nothing recorded.
cat "$TMP/ossl.csr" "$TMP/crlf.csr" >"$TMP/two.csr"
before=$(redis_cli --raw EVAL "return #redis.call('KEYS', ARGV[1])" 0 "${PREFIX}req:*")
submit_text "$TMP/two.csr" "text-$RUN_ID.acme.example"
check_eq two_csrs_400_csr_multiple "400 csr_multiple csr_data" \
	"$HTTP_STATUS $(jq -r '"\(.error.code) \(.error.field)"' <<<"$HTTP_BODY")"
check_contains two_csrs_message_says_one "send exactly one CSR" "$(jq -r .error.message <<<"$HTTP_BODY")"
check_eq two_csrs_nothing_recorded "$before" \
	"$(redis_cli --raw EVAL "return #redis.call('KEYS', ARGV[1])" 0 "${PREFIX}req:*")"
# A DER file with a second CSR after it, on the form: the same.
cat "$TMP/req.der" "$TMP/b64.der" >"$TMP/two.der"
submit_form -F "csr_data=@$TMP/two.der" -F "common_name=der-$RUN_ID.acme.example" -F validity_days=30 -F "ca_id=$ISSUING"
check_eq two_der_csrs_400_csr_multiple "400 csr_multiple" "$HTTP_STATUS $(jq -r .error.code <<<"$HTTP_BODY")"

# ------------------------------------------------------------ every SAN, as shown and as issued
# many_sans NAME CN SAN_CONFIG: pending on the approval CA; the record, the
# admin API and (approved) the certificate hold exactly the CSR's names.
many_sans() {
	local name=$1 cn=$2 want rec api cert id
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/$name.key" \
		-subj "/CN=$cn" -addext "subjectAltName=$3" -out "$TMP/$name.csr" 2>/dev/null
	want=$(openssl req -in "$TMP/$name.csr" -noout -text | sed -n '/Subject Alternative Name/{n;p}' |
		tr ',' '\n' | sed -e 's/^ *//' -e 's/^IP Address:/IP:/' | sed '/^$/d' | sort)
	submit_text "$TMP/$name.csr" "$cn" "$APPROVAL"
	id=$REQ_ID
	if [[ -z $id ]]; then
		fail "$name: accepted" "HTTP $HTTP_STATUS $HTTP_BODY"
		return
	fi
	check_eq "$name: accepted, pending" pending_approval "$(jq -r .status <<<"$HTTP_BODY")"
	check_eq "$name: names in the CSR" "$4" "$(wc -l <<<"$want")"
	rec=$(field_of "$id" sans | jq -r '.[] | "\(.type):\(.value)"' |
		sed -e 's/^dns:/DNS:/' -e 's/^ip:/IP:/' -e 's/^uri:/URI:/' | sort)
	check_eq "$name: every SAN stored with the request" "$want" "$rec"
	wait_for 20 bash -c "curl -s -o /dev/null -w '%{http_code}' -H '$(auth admin)' \
		'$APPROVER_URL/admin/api/pending/$id' | grep -qx 200"
	http GET "$APPROVER_URL/admin/api/pending/$id" "" -H "$(auth admin)"
	api=$(jq -r '.csr.sans[]' <<<"$HTTP_BODY" | sort)
	check_eq "$name: admin API shows every SAN" "$want" "$api"
	http POST "$APPROVER_URL/admin/api/pending/$id/approve" "{}" -H "$(auth admin)"
	if [[ $HTTP_STATUS != 200 ]]; then
		fail "$name: approved" "HTTP $HTTP_STATUS $HTTP_BODY"
		return
	fi
	if ! wait_issued "$id"; then
		fail "$name: issued" "$REQ"
		return
	fi
	keep_cert "$name"
	cert=$(openssl x509 -in "$LINT/$name.crt" -noout -ext subjectAltName | sed 1d | tr ',' '\n' |
		sed -e 's/^ *//' -e 's/^IP Address:/IP:/' | sed '/^$/d' | sort)
	check_eq "$name: the certificate holds exactly those" "$want" "$cert"
	check_eq "$name: the poll lists them" "$(sed 's/^[A-Za-z]*://' <<<"$want" | sort)" \
		"$(jq -r '.sans[]' <<<"$REQ" | sort)"
}

cn=ip45-$RUN_ID.acme.example
sans="DNS:$cn"
for i in $(seq 1 45); do sans+=",IP:10.45.$((i / 200)).$((i % 200 + 1))"; done
many_sans ip45 "$cn" "$sans" 46

cn=mixed100-$RUN_ID.acme.example
sans="DNS:$cn"
for i in $(seq 1 99); do
	case $((i % 4)) in
	0) sans+=",DNS:h$i-$RUN_ID.acme.example" ;;
	1) sans+=",IP:10.100.0.$i" ;;
	2) sans+=",email:u$i@acme.example" ;;
	3) sans+=",URI:https://acme.example/u/$i" ;;
	esac
done
many_sans mixed100 "$cn" "$sans" 100

# ------------------------------------------------------------ a lost reply on issuing -> issued
# The stack's workers stop; one worker talks to Redis through a proxy that
# stops Redis (SIGSTOP) as the worker's issuing -> issued move goes by (the
# one command carrying a certificate field: scripts go by their hash) and
# resumes it PAUSE_S later: the worker's command and its retry time out,
# Redis then runs the move, and the reply is lost. The worker's next try
# must find the move its own and announce the certificate.
stack stop-workers >/dev/null
python3 "$ROOT/tests/integration/redis_pause_proxy.py" --redis "$REDIS_PORT" \
	--redis-pid "$(cat "$PKI_VAR/run/redis.pid")" --match certificate --match issued \
	--pause-s "$PAUSE_S" --port-file "$TMP/proxy.port" --log "$TMP/proxy.log" \
	>"$TMP/proxy.out" 2>&1 &
PROXY_PID=$!
wait_for 10 test -s "$TMP/proxy.port"
env PKI_CONFIG="$TEST_CONFIG" PKI_KAFKA_BROKERS="$KAFKA_BROKERS" \
	PKI_REDIS_URL="redis://127.0.0.1:$(cat "$TMP/proxy.port")/0" PKI_WORKER_NAME=worker-lostreply \
	"$ROOT/${BUILD:-build/release}/pki-worker" --threads 1 >"$TMP/worker.log" 2>&1 &
WORKER_PID=$!
# Never leaves Redis stopped or the extra processes running; keeps $?.
lost_cleanup() {
	local rc=$?
	kill -CONT "$(cat "$PKI_VAR/run/redis.pid")" 2>/dev/null
	kill "$WORKER_PID" "$PROXY_PID" 2>/dev/null
	wait "$WORKER_PID" "$PROXY_PID" 2>/dev/null
	return "$rc"
}
trap 'lost_cleanup; lib_exit' EXIT
if wait_for 60 grep -q '"msg":"ready"' "$TMP/worker.log"; then
	pass lost_reply_worker_ready
else
	fail lost_reply_worker_ready "$(tail -n 5 "$TMP/worker.log")"
fi
cn=lost-$RUN_ID.acme.example
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/lost.key" \
	-subj "/CN=$cn" -addext "subjectAltName=DNS:$cn" -out "$TMP/lost.csr" 2>/dev/null
submit_text "$TMP/lost.csr" "$cn"
id=$REQ_ID
if [[ -n $id ]] && wait_issued "$id" "$LOST_SETTLE_S"; then
	pass lost_reply_request_issued
	keep_cert lost_reply
else
	fail lost_reply_request_issued "HTTP $HTTP_STATUS $HTTP_BODY" "$REQ" "$(tail -n 20 "$TMP/worker.log")"
fi
check_eq lost_reply_redis_was_paused_and_resumed "paused resumed" "$(awk '{print $2}' "$TMP/proxy.log" | paste -sd' ')"
check_contains lost_reply_worker_saw_its_move "made by an earlier try under this claim" "$(cat "$TMP/worker.log")"
serial=$(field_of "$id" serial)
wait_for 20 bash -c "kcat -F '$KCAT_ADMIN_CONF' -b '$KAFKA_BROKERS' -C -t pki.issued -o beginning -e -q \
	-f '%s\n' 2>/dev/null | grep -F '\"$serial\"' | grep -qF '$id'"
issued=$(topic_dump pki.issued | jq -c --arg id "$id" 'select(.request_id == $id)')
check_eq lost_reply_certificate_on_pki_issued "$serial" "$(jq -r .serial <<<"$issued" | head -n 1)"
check_eq lost_reply_certificate_on_pki_issued_once 1 "$(grep -c . <<<"$issued")"
check_eq lost_reply_issued_audited 1 \
	"$(topic_dump pki.audit | jq -c --arg id "$id" 'select(.request_id == $id and .event == "issued")' | grep -c .)"
check_eq lost_reply_result_published 1 "$(field_of "$id" published)"
check_eq lost_reply_one_serial_reserved 1 \
	"$(redis_cli --raw EVAL "local n = 0
		for _, k in ipairs(redis.call('KEYS', ARGV[1])) do
			if redis.call('GET', k) == ARGV[2] then n = n + 1 end
		end
		return n" 0 "${PREFIX}serial:*" "$id")"
lost_cleanup
trap lib_exit EXIT
if stack start-workers >"$TMP/start-workers.log" 2>&1; then
	pass stack_workers_back
else
	fail stack_workers_back "$(tail -n 5 "$TMP/start-workers.log")"
fi

# Every certificate issued here passes pkilint's RFC 5280 lints.
lint=$("$PYTHON" tests/tools/lint_certs.py "$LINT" 2>&1)
rc=$?
printf '%s\n' "$lint" | grep -E '^(PASS|FAIL): pkilint|^    '
if ((rc != 0)); then
	grep -q '^FAIL' <<<"$lint" && LIB_FAILED=$((LIB_FAILED + 1)) || fail pkilint_ran "$lint"
fi
