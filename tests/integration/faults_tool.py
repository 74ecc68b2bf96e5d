#!/usr/bin/env python3
"""Load and accounting for test_faults.sh (standard library plus `cryptography`).

  bulk --profile FILE --ca CA --run RUN --n N --out FILE
      N signed bulk messages (bulk_tool's canonical form), one per line as
      "request_id<TAB>json" for kcat -K; a few keys are shared by all CSRs
      (each CSR is still signed apart: its subject differs)
  http --url URL --token T --ca CA --run RUN --n N --par P --out FILE
      N submits through the gateway, P at a time, each with its own
      Idempotency-Key; a submit that gets no answer or a 5xx is sent again
      with the same key (what a client does when the gateway dies under it)
      until it is answered; one JSON line per submit
  check --ids FILE --records FILE --issued FILE
      the accounting: FILE of request ids accepted (bulk ids and every id
      answered 202), their records ("id state serial ca_id" lines, "-" for
      none) and the messages on pki.issued; prints one JSON summary
"""
import argparse
import collections
import concurrent.futures
import json
import random
import sys
import time
import urllib.error
import urllib.request

import bulk_tool

KEYS = 4  # distinct keys the CSRs share
TERMINAL = {"issued", "failed", "rejected", "expired"}
RETRY_PAUSE_S = 0.3
HTTP_DEADLINE_S = 300


def csr_maker():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(KEYS)]

    def make(i, cn):
        b = x509.CertificateSigningRequestBuilder().subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])).add_extension(
            x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
        csr = b.sign(keys[i % KEYS], hashes.SHA256())
        return csr.public_bytes(serialization.Encoding.PEM).decode()
    return make


def cmd_bulk(a):
    make = csr_maker()
    prof = json.load(open(a.profile))
    secret = bytes.fromhex(prof["secret"])
    with open(a.out, "w") as out:
        for i in range(a.n):
            rid = "fb-%s-%d" % (a.run, i)
            cn = "fb%d-%s.acme.example" % (i, a.run)
            m = {"v": 1, "request_id": rid, "csr": make(i, cn), "common_name": cn,
                 "validity_days": 30, "ca_id": a.ca}
            sig = bulk_tool.hmac.new(secret, bulk_tool.canonical(m, prof["key_id"]),
                                     bulk_tool.hashlib.sha256).hexdigest()
            m["auth"] = {"key_id": prof["key_id"], "alg": "HMAC-SHA256", "sig": sig}
            out.write("%s\t%s\n" % (rid, json.dumps(m, separators=(",", ":"))))


def post(url, token, body, idem):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    req.add_header("Authorization", "Bearer " + token)
    req.add_header("Content-Type", "application/json")
    req.add_header("Idempotency-Key", idem)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"{}")
        except ValueError:
            return e.code, {}
    except (OSError, ValueError) as e:  # refused, reset, cut short: no answer
        return 0, {"error": str(e)}


def http_one(a, make, i):
    cn = "fh%d-%s.acme.example" % (i, a.run)
    body = {"csr_data": make(i, cn), "common_name": cn, "validity_days": 30, "ca_id": a.ca}
    idem = "faults-%s-%d" % (a.run, i)
    tries = 0
    deadline = time.time() + HTTP_DEADLINE_S
    while True:
        tries += 1
        st, r = post(a.url + "/csr/process", a.token, body, idem)
        if (st != 0 and st < 500) or time.time() > deadline:
            break
        time.sleep(RETRY_PAUSE_S * random.uniform(0.5, 1.5))
    return {"i": i, "idem": idem, "http": st, "tries": tries,
            "id": r.get("request_id") if st == 202 else None,
            "state": r.get("status"), "error": r.get("error") if st != 202 else None}


def cmd_http(a):
    make = csr_maker()
    with concurrent.futures.ThreadPoolExecutor(max_workers=a.par) as ex, open(a.out, "w") as out:
        for res in ex.map(lambda i: http_one(a, make, i), range(a.n)):
            out.write(json.dumps(res) + "\n")
            out.flush()


def cmd_check(a):
    ids = [l.strip() for l in open(a.ids) if l.strip()]
    rec = {}
    for line in open(a.records):
        f = line.split()
        if len(f) == 4:
            rec[f[0]] = {"state": f[1], "serial": f[2], "ca": f[3]}
    certs = collections.defaultdict(set)  # request id -> {(ca, serial)} on pki.issued
    on_topic = 0
    for line in open(a.issued):
        try:
            m = json.loads(line)
        except ValueError:
            continue
        if m.get("request_id") in rec:
            on_topic += 1
            certs[m["request_id"]].add((m.get("ca_id"), (m.get("serial") or "").lower()))
    want = set(ids)
    lost, stuck, dup = [], [], []
    states = collections.Counter()
    serial_owner = {}
    for rid in sorted(want):
        r = rec.get(rid)
        if r is None or r["state"] == "-":
            lost.append(rid)
            continue
        states[r["state"]] += 1
        if r["state"] not in TERMINAL:
            stuck.append(rid)
        c = certs.get(rid, set())
        if len(c) > 1:
            dup.append(rid)
        if r["state"] == "issued":
            mine = (r["ca"], r["serial"].lower())
            if c != {mine}:
                (lost if not c else dup).append(rid)  # not published, or another serial
            if serial_owner.setdefault(mine, rid) != rid:
                dup.append(rid)
        elif c:
            dup.append(rid)  # a certificate for a request that did not end issued
    for (ca, serial), owners in collections.Counter(
            s for c in certs.values() for s in c).items():
        if owners > 1:
            dup.append("serial %s of %s on pki.issued %d times" % (serial, ca, owners))
    certs_on_topic = sum(len(c) for c in certs.values())
    print(json.dumps({
        "requests": len(want), "states": states, "issued": states["issued"],
        "failed": sum(states[s] for s in TERMINAL if s != "issued"),
        "certs_on_topic": certs_on_topic, "messages_on_topic": on_topic,
        "lost": len(set(lost)), "duplicated": len(set(dup)), "stuck": len(set(stuck)),
        "examples": {"lost": lost[:5], "duplicated": dup[:5], "stuck": stuck[:5]}}))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bulk")
    for n in ("--profile", "--ca", "--run", "--out"):
        b.add_argument(n, required=True)
    b.add_argument("--n", type=int, required=True)
    b.set_defaults(fn=cmd_bulk)
    h = sub.add_parser("http")
    for n in ("--url", "--token", "--ca", "--run", "--out"):
        h.add_argument(n, required=True)
    h.add_argument("--n", type=int, required=True)
    h.add_argument("--par", type=int, default=8)
    h.set_defaults(fn=cmd_http)
    c = sub.add_parser("check")
    for n in ("--ids", "--records", "--issued"):
        c.add_argument(n, required=True)
    c.set_defaults(fn=cmd_check)
    a = p.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
