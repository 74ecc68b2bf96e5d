#!/usr/bin/env python3
"""Helpers for test_worker.sh (standard library plus `cryptography`).

  csr CN [SAN...]            a fresh P-256 CSR (PEM) from Python cryptography
  msg [options]              an issue-request message (schemas/issue-request.schema.json)
  load URL TOKEN CA N PAR    N concurrent submits (PAR threads) through the gateway,
                             each polled until terminal; prints a JSON summary
  longpoll URL TOKEN ID WAIT one long-poll; prints {"start_ms","end_ms","status"}
"""
import argparse
import concurrent.futures
import hashlib
import hmac
import json
import sys
import time
import urllib.error
import urllib.request

import bulk_tool


def now_ms():
    return int(time.time() * 1000)


def make_csr(cn, sans):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]),
                            critical=False)
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def cmd_csr(a):
    sys.stdout.write(make_csr(a.cn, a.san))


def cmd_msg(a):
    csr = open(a.csr).read()
    m = {"v": 1, "request_id": a.id, "csr": csr, "common_name": a.cn,
         "validity_days": a.days, "tenant": a.tenant, "requester": a.requester,
         "submitted_at": int(time.time())}
    if a.ca:
        m["ca_id"] = a.ca
    if a.batch:
        m["batch_id"] = a.batch
    if a.extensions:
        m["extensions"] = a.extensions.split(",")
    if a.grant:
        key = open(a.grant_key, "rb").read()
        exp = int(time.time()) + (-60 if a.grant == "expired" else 3600)
        h = hashlib.sha256(bulk_tool.canonical(m, None, "pki-grant-v2")).hexdigest()
        text = "pki-grant-v2\n%s\n%s\n%s\n%d" % (a.id, a.ca, h, exp)
        mac = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
        if a.grant == "forged":
            mac = hmac.new(b"not the grant key", text.encode(), hashlib.sha256).hexdigest()
        m["grant"] = {"request_id": a.id, "ca_id": a.ca, "request_sha256": h,
                      "expires_at": exp, "mac": mac}
    print(json.dumps(m, separators=(",", ":")))


def call(method, url, token, body=None, timeout=40):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


TERMINAL = {"issued", "failed", "rejected", "expired"}


def one(url, token, ca, i, run):
    cn = "load-%s-%d.acme.example" % (run, i)
    st, r = call("POST", url + "/csr/process", token,
                 {"csr_data": make_csr(cn, [cn]), "common_name": cn, "validity_days": 30,
                  "ca_id": ca})
    if st != 202:
        return {"i": i, "submit": st, "error": r}
    rid = r["request_id"]
    deadline = time.time() + 120
    while time.time() < deadline:
        st, r = call("GET", "%s/csr/requests/%s?wait=20" % (url, rid), token)
        if st == 200 and r.get("status") in TERMINAL:
            break
    return {"i": i, "id": rid, "status": r.get("status"), "serial": r.get("serial"),
            "done_ms": now_ms()}


def cmd_load(a):
    run = "%d" % now_ms()
    t0 = now_ms()
    with concurrent.futures.ThreadPoolExecutor(max_workers=a.parallel) as ex:
        res = list(ex.map(lambda i: one(a.url, a.token, a.ca, i, run), range(a.n)))
    t1 = now_ms()
    issued = [r for r in res if r.get("status") == "issued"]
    serials = [r["serial"] for r in issued if r.get("serial")]
    print(json.dumps({
        "n": a.n, "accepted": sum(1 for r in res if "id" in r), "issued": len(issued),
        "unique_serials": len(set(serials)), "elapsed_ms": t1 - t0,
        "ids": [r["id"] for r in res if "id" in r],
        "problems": [r for r in res if r.get("status") != "issued"][:5]}))


def cmd_longpoll(a):
    start = now_ms()
    st, r = call("GET", "%s/csr/requests/%s?wait=%d" % (a.url, a.id, a.wait), a.token)
    print(json.dumps({"start_ms": start, "end_ms": now_ms(), "http": st,
                      "status": r.get("status")}))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("csr")
    c.add_argument("cn")
    c.add_argument("san", nargs="*")
    c.set_defaults(fn=cmd_csr)
    m = sub.add_parser("msg")
    for n in ("id", "csr", "cn", "tenant", "requester"):
        m.add_argument("--" + n, required=True)
    m.add_argument("--days", type=int, default=30)
    m.add_argument("--ca")
    m.add_argument("--batch")
    m.add_argument("--extensions")
    m.add_argument("--grant", choices=("valid", "forged", "expired"))
    m.add_argument("--grant-key")
    m.set_defaults(fn=cmd_msg)
    lo = sub.add_parser("load")
    lo.add_argument("url")
    lo.add_argument("token")
    lo.add_argument("ca")
    lo.add_argument("n", type=int)
    lo.add_argument("parallel", type=int)
    lo.set_defaults(fn=cmd_load)
    lp = sub.add_parser("longpoll")
    lp.add_argument("url")
    lp.add_argument("token")
    lp.add_argument("id")
    lp.add_argument("wait", type=int)
    lp.set_defaults(fn=cmd_longpoll)
    a = p.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
