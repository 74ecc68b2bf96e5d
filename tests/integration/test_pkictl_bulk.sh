#!/usr/bin/env bash
# pkictl bulk against the running stack: a 2,000-CSR batch through bulk
# submit, an interrupted submit resumed (nothing issued twice), failures.jsonl
# for bad CSRs, bulk sign pushed with kcat, and the usage errors.
. "$(dirname "$0")/lib.sh"
set +e

pkictl=${PKICTL:-$ROOT/build/release/pkictl}
[ -x "$pkictl" ] || make -s -C "$ROOT" build/release/pkictl >&2
work=$(mktemp -d "${TMPDIR:-/tmp}/pkictl-bulk.XXXXXX")
trap 'rm -rf "$work"' EXIT
CA=$(cred .cas.issuing)
ROOT_PEM=$PKI_VAR/demo/cas/$(cred .cas.root).crt
KEY_ID=$(cred .users.alice.bulk.key_id)
BIG=${PKI_BULK_TEST_SIZE:-2000}
export PKI_API_KEY
PKI_API_KEY=$(token alice)

bulk() { "$pkictl" bulk "$@" --config "$TEST_CONFIG"; }

# csrs DIR N PREFIX [bad]: N P-256 CSRs DIR/PREFIXnnnn.csr with CN PREFIXnnnn.acme.example;
# "bad" breaks the signature of the first one.
csrs() {
	"$PYTHON" - "$@" <<'EOF'
import sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
import base64
d, n, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
bad = len(sys.argv) > 4
for i in range(n):
    name = f"{prefix}{i:04d}"
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name}.acme.example")]))
           .sign(key, hashes.SHA256()))
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    if bad and i == 0:
        der[-3] ^= 0x01  # inside the ECDSA signature: still parses, no longer verifies
    b64 = base64.encodebytes(bytes(der)).decode().replace("\n", "")
    body = "\n".join(b64[j:j + 64] for j in range(0, len(b64), 64))
    with open(f"{d}/{name}.csr", "w") as f:
        f.write(f"-----BEGIN CERTIFICATE REQUEST-----\n{body}\n-----END CERTIFICATE REQUEST-----\n")
EOF
}

# request_ids BATCH NAME...: the ids pkictl must use, computed apart (plan: b + 32 hex of
# SHA-256(key_id "\n" batch "\n" NAME)).
request_ids() {
	"$PYTHON" -c '
import hashlib, sys
k, b = sys.argv[1], sys.argv[2]
for n in sys.argv[3:]:
    print("b" + hashlib.sha256(f"{k}\n{b}\n{n}".encode()).digest()[:16].hex())' "$KEY_ID" "$@"
}

# batch_get ID: the batch's first page into HTTP_BODY (alice's key).
batch_get() { HTTP_BODY=$(curl -s --max-time 30 -H "$(auth alice)" "$GATEWAY_URL/csr/batches/$1?limit=1000"); }
# batch_ids ID: every request id of the batch, one a line, sorted.
batch_ids() {
	local cursor= page
	while :; do
		HTTP_BODY=$(curl -s --max-time 30 -H "$(auth alice)" "$GATEWAY_URL/csr/batches/$1?limit=1000${cursor:+&cursor=$cursor}")
		jq -r '.requests[].request_id' <<<"$HTTP_BODY"
		cursor=$(jq -r '.next_cursor // empty' <<<"$HTTP_BODY")
		[[ -n $cursor ]] || break
	done | sort
}
batch_count() { batch_get "$1"; jq -r ".counts.$2 // 0" <<<"$HTTP_BODY"; }
batch_total() { batch_get "$1"; jq -r '.total // 0' <<<"$HTTP_BODY"; }
batch_has() { (($(batch_total "$1") >= $2)); }
batch_issued() { (($(batch_count "$1" issued) == $2)); }
batch_of() { grep -o 'batch [A-Za-z0-9._-]*' "$1" | head -1 | cut -d' ' -f2; }

# ---- usage errors: exit 2, a message naming the flag or file ----
mkdir -p "$work/usage"
csrs "$work/usage" 1 u
out=$(bulk submit "$work/usage" 2>&1)
rc=$?
[[ $rc == 2 && $out == *"--as USER: required"* ]] && pass bulk_usage_needs_as || fail bulk_usage_needs_as "exit $rc" "$out"
out=$(bulk submit --as alice --colour red "$work/usage" 2>&1)
rc=$?
[[ $rc == 2 && $out == *"unknown flag --colour"* ]] && pass bulk_usage_unknown_flag || fail bulk_usage_unknown_flag "exit $rc" "$out"
out=$(bulk submit --as alice "$work/nowhere" 2>&1)
rc=$?
[[ $rc == 2 && $out == *"$work/nowhere: No such file"* ]] && pass bulk_usage_missing_input || fail bulk_usage_missing_input "exit $rc" "$out"
printf '{"name":"a","csr":"x"}\n{"name":"b"}\n' >"$work/usage/bad.jsonl"
out=$(bulk submit --as alice "$work/usage/bad.jsonl" 2>&1)
rc=$?
[[ $rc == 2 && $out == *"bad.jsonl:2: \"csr\": required"* ]] && pass bulk_usage_bad_jsonl_line || fail bulk_usage_bad_jsonl_line "exit $rc" "$out"
out=$(PKI_API_KEY= bulk submit --as alice "$work/usage" 2>&1)
rc=$?
[[ $rc == 2 && $out == *"--api-key-file FILE or \$PKI_API_KEY"* ]] && pass bulk_usage_needs_api_key || fail bulk_usage_needs_api_key "exit $rc" "$out"
out=$(bulk submit --as bob "$work/usage" --profile "$(cred .users.alice.bulk.profile)" 2>&1)
rc=$?
[[ $rc == 2 && $out == *"the profile is user \"alice\"'s, not --as bob"* ]] && pass bulk_usage_profile_of_another_user || fail bulk_usage_profile_of_another_user "exit $rc" "$out"

# ---- a large batch: every certificate written, the batch's counts agree ----
big=$work/big
mkdir -p "$big"
t0=$(date +%s.%N)
csrs "$big" "$BIG" big
t1=$(date +%s.%N)
bulk submit --as alice --ca "$CA" "$big" >"$work/big.out" 2>"$work/big.err"
rc=$?
t2=$(date +%s.%N)
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
echo "    $BIG CSRs made in $(secs "$t0" "$t1") s; bulk submit took $(secs "$t1" "$t2") s"
{ grep 'bulk: sending' "$work/big.err" | tail -1; grep 'bulk submit: batch' "$work/big.err" | tail -1; } | sed 's/^/    /'
check_eq bulk_big_exit_0 0 "$rc"
check_eq bulk_big_all_certificates "$BIG $BIG" "$(find "$big" -name '*.crt' | wc -l) $(find "$big" -name '*.chain.pem' | wc -l)"
missing=0
for f in "$big"/*.csr; do
	n=${f%.csr}
	[[ -s $n.crt && -s $n.chain.pem ]] || missing=$((missing + 1))
done
check_eq bulk_big_every_name_has_its_files 0 "$missing"
bad=0
for i in 0000 0001 0777 $(printf '%04d' $((BIG - 1))); do
	n=$big/big$i
	openssl verify -CAfile "$ROOT_PEM" -untrusted "$n.chain.pem" "$n.crt" >/dev/null 2>&1 || bad=$((bad + 1))
	[[ $(openssl x509 -in "$n.crt" -noout -subject) == *"CN = big$i.acme.example"* ]] || bad=$((bad + 1))
	[[ $(openssl x509 -in "$n.crt" -noout -pubkey) == $(openssl req -in "$n.csr" -noout -pubkey) ]] || bad=$((bad + 1))
done
check_eq bulk_big_sample_verifies_with_its_chain 0 "$bad"
B=$(batch_of "$work/big.err")
check_eq bulk_big_batch_counts "$BIG 0 $BIG" "$(batch_count "$B" issued) $(batch_count "$B" failed) $(batch_total "$B")"
check_eq bulk_big_no_failures_file 0 "$(ls "$big"/failures.jsonl 2>/dev/null | wc -l)"

# ---- failures: a CSR whose signature is broken (worker) and one that is no CSR (local) ----
fd=$work/fail
mkdir -p "$fd"
csrs "$fd" 3 f bad
printf -- '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n' >"$fd/garbage.csr"
bulk submit --as alice --ca "$CA" --timeout 120 "$fd" >/dev/null 2>"$work/fail.err"
rc=$?
check_eq bulk_failures_exit_1 1 "$rc"
check_eq bulk_failures_two_issued "f0001.crt f0002.crt" "$(cd "$fd" && ls -- *.crt | tr '\n' ' ' | sed 's/ $//')"
check_eq bulk_failures_listed "$(printf 'csr_signature_invalid f0000\ncsr_malformed garbage\n' | sort)" \
	"$(jq -r '"\(.code) \(.name)"' "$fd/failures.jsonl" 2>&1 | sort)"
want=$(request_ids "$(batch_of "$work/fail.err")" f0000)
check_eq bulk_failures_have_request_id_and_message "$want 1" \
	"$(jq -r 'select(.name == "f0000") | "\(.request_id) \(.message | length > 0)"' "$fd/failures.jsonl" | sed 's/true/1/')"

# ---- interrupted, then run again: the same ids, nothing twice ----
N=300
rd=$work/resume
mkdir -p "$rd"
csrs "$rd" "$N" r
# 40 a second: the first run is stopped well before it has sent all N.
bulk submit --as alice --ca "$CA" --rate 40 "$rd" >/dev/null 2>"$work/resume1.err" &
pid=$!
wait_for 30 grep -q 'bulk submit: batch' "$work/resume1.err"
R=$(batch_of "$work/resume1.err")
wait_for 30 batch_has "$R" 20
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
sleep 2 # let the workers finish what was sent
first=$(batch_total "$R")
((first > 0 && first < N)) && pass "bulk_resume_first_run_partial ($first of $N recorded)" ||
	fail bulk_resume_first_run_partial "recorded $first of $N"
bulk submit --as alice --ca "$CA" "$rd" >/dev/null 2>"$work/resume2.err"
rc=$?
check_eq bulk_resume_exit_0 0 "$rc"
check_eq bulk_resume_same_batch "$R" "$(batch_of "$work/resume2.err")"
again=$(grep -o '[0-9]* already with the gateway' "$work/resume2.err" | cut -d' ' -f1)
((again >= first && again < N)) && pass "bulk_resume_sends_only_the_rest ($again already there)" ||
	fail bulk_resume_sends_only_the_rest "$(cat "$work/resume2.err")"
check_eq bulk_resume_all_certificates "$N" "$(find "$rd" -name '*.crt' | wc -l)"
mapfile -t names < <(cd "$rd" && ls -- *.csr | sed 's/\.csr$//')
request_ids "$R" "${names[@]}" | sort >"$work/resume.want"
batch_ids "$R" >"$work/resume.got"
check_eq bulk_resume_batch_has_exactly_the_ids "$N identical" \
	"$(wc -l <"$work/resume.got") $(cmp -s "$work/resume.want" "$work/resume.got" && echo identical || echo different)"
check_eq bulk_resume_batch_counts "$N $N" "$(batch_count "$R" issued) $(batch_total "$R")"
# pki.issued: one serial per request id of the batch (an announcement may repeat, a signature not).
kcat_b -C -t pki.issued -o beginning -e -q -f '%s\n' 2>/dev/null |
	jq -r --rawfile ids "$work/resume.want" \
		'select(.request_id as $r | $ids | contains($r)) | "\(.request_id) \(.serial)"' |
	sort -u >"$work/resume.issued"
check_eq bulk_resume_each_issued_once "$N $N" \
	"$(wc -l <"$work/resume.issued") $(cut -d' ' -f1 "$work/resume.issued" | sort -u | wc -l)"
# The written certificates are those serials.
s=$(openssl x509 -in "$rd/r0000.crt" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//')
id0=$(request_ids "$R" r0000)
check_eq bulk_resume_file_is_the_issued_one "$id0 $s" "$(grep "^$id0 " "$work/resume.issued" | sed 's/ 0*/ /')"

# ---- bulk sign, pushed with kcat ----
sd=$work/signed
mkdir -p "$sd/out"
csrs "$sd" 5 s
for f in "$sd"/*.csr; do
	jq -cn --arg n "$(basename "$f" .csr)" --rawfile c "$f" '{name: $n, csr: $c, validity_days: 30}'
done >"$sd/requests.jsonl"
S=signed-$RUN_ID
bulk sign --as alice --ca "$CA" --batch "$S" "$sd/requests.jsonl" >"$sd/signed.txt" 2>"$work/sign.err"
check_eq bulk_sign_exit_0 0 "$?"
check_eq bulk_sign_lines_key_tab_value "5 5" \
	"$(wc -l <"$sd/signed.txt") $(awk -F'\t' 'NF == 2 && $1 == substr($2, index($2, "\"request_id\":\"") + 14, 33)' "$sd/signed.txt" | wc -l)"
check_eq bulk_sign_ids_are_the_plan_ids "$(request_ids "$S" s0000 s0001 s0002 s0003 s0004)" "$(cut -f1 "$sd/signed.txt")"
tls=()
if [[ -r $(cred .kafka.producers.alice.cert 2>/dev/null) ]]; then
	tls=(-X security.protocol=ssl -X "ssl.ca.location=$(cred .kafka.ca)"
		-X "ssl.certificate.location=$(cred .kafka.producers.alice.cert)"
		-X "ssl.key.location=$(cred .kafka.producers.alice.key)")
fi
kcat -b "$(cred .kafka.bootstrap)" "${tls[@]}" -P -t pki.submit -K $'\t' -l "$sd/signed.txt"
check_eq bulk_sign_kcat_push_ok 0 "$?"
wait_for 60 batch_issued "$S" 5
check_eq bulk_sign_pushed_batch_issued "5 5" "$(batch_count "$S" issued) $(batch_total "$S")"
# submit on the same input and batch: finds them all, sends none, writes the files.
bulk submit --as alice --ca "$CA" --batch "$S" --out "$sd/out" "$sd/requests.jsonl" >/dev/null 2>"$work/sign2.err"
rc=$?
check_eq bulk_sign_then_submit_sends_nothing "0 5 already with the gateway, sending 0" \
	"$rc $(grep -o '[0-9]* already with the gateway, sending [0-9]*' "$work/sign2.err")"
check_eq bulk_sign_then_submit_writes_jsonl_out 5 "$(find "$sd/out" -name '*.crt' | wc -l)"
