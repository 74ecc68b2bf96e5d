#!/usr/bin/env python3
"""Sends the hostile cases of tests/hostile and checks each answer (test_hostile.sh).

  http DIR    each NNN-name.req as raw bytes on its own connection
  csr DIR     each NNN-name.der|pem in csr_data of a JSON submit
  kafka DIR   each NNN-name.json onto its topic, then waits for every outcome
  slow URL    a body a byte a second: prints the seconds until the answer or close

Prints "PASS: hostile <kind> NAME" or "FAIL: ..." with the details indented.
HOSTILE_RECORD=1 writes each 4xx answer that stored nothing into its .expect (for review).
Per HTTP and CSR case the number of request records in Redis must not change
(count_cmd: a command printing it). Settings from the environment: HOST
(host:port of the gateway), TOKEN, ISSUING, APPROVAL, KEY_ID, RUN, COUNT_CMD,
KCAT (the kcat command line, space-separated), REDIS_CMD, PREFIX.
"""
import base64
import glob
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time

ANSWER_TIMEOUT_S = 15
KAFKA_SETTLE_S = 90
ENV = os.environ


def result(ok, name, details=()):
    print("%s: %s" % ("PASS" if ok else "FAIL", name))
    if not ok:
        for d in details:
            print("    " + str(d)[:600])
    sys.stdout.flush()
    return ok


def cases(d, exts):
    for p in sorted(glob.glob(os.path.join(d, "*.expect"))):
        base = p[: -len(".expect")]
        for e in exts:
            if os.path.exists(base + "." + e):
                with open(p) as f:
                    yield os.path.basename(base), base + "." + e, dict(json.load(f), _path=p)


def fill(raw):
    tok = ENV["TOKEN"].encode()
    return (raw.replace(b"@TOKEN8@", tok[:8]).replace(b"@TOKEN@", tok)
            .replace(b"@HOST@", ENV["HOST"].encode()))


def exchange(raw):
    """(status, body bytes) of one request on its own connection; status 0 when closed unanswered."""
    host, port = ENV["HOST"].rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=ANSWER_TIMEOUT_S)
    data = b""
    try:
        try:
            s.sendall(raw)
        except OSError:
            pass  # refused mid-body: the answer may still be there
        while True:
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            if not b:
                break
            data += b
    finally:
        s.close()
    if not data.startswith(b"HTTP/1."):
        return 0, data
    head, _, body = data.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        out, rest = b"", body
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            n = int(size.split(b";")[0] or b"0", 16)
            if n == 0:
                break
            out, rest = out + rest[:n], rest[n + 2 :]
        body = out
    return int(head.split(b" ")[1]), body


def count():
    return subprocess.run(ENV["COUNT_CMD"], shell=True, capture_output=True, text=True).stdout.strip()


def check_answer(kind, name, status, body, exp, before):
    err = {}
    try:
        err = json.loads(body).get("error") or {}
    except (ValueError, AttributeError):
        pass
    got = {"status": status, "code": err.get("code"), "field": err.get("field")}
    want = {k: exp.get(k) for k in ("status", "code", "field")}
    after = count()
    details = []
    if ENV.get("HOSTILE_RECORD") and status >= 400 and status < 500 and after == before:
        with open(exp["_path"], "w") as f:
            f.write(json.dumps(got) + "\n")
        want = got
    if got != want:
        details += ["expected %s" % json.dumps(want), "got      %s" % json.dumps(got), body[:300]]
    if after != before:
        details.append("request records: %s before, %s after" % (before, after))
    return result(not details, "hostile %s %s: %s %s" % (kind, name, want["status"], want["code"]), details)


def run_http(d):
    for name, path, exp in cases(d, ["req"]):
        before = count()
        with open(path, "rb") as f:
            status, body = exchange(fill(f.read()))
        check_answer("http", name, status, body, exp, before)


def run_csr(d):
    for name, path, exp in cases(d, ["der", "pem"]):
        with open(path, "rb") as f:
            data = f.read()
        if path.endswith(".der"):
            b64 = base64.encodebytes(data).decode()
            text = "-----BEGIN CERTIFICATE REQUEST-----\n%s-----END CERTIFICATE REQUEST-----\n" % b64
        else:
            text = data.decode("latin-1")
        m = re.search(rb"\x06\x03\x55\x04\x03[\x0c\x13\x16\x1e]([\x00-\x7f])", data)
        cn = "h000.acme.example"
        if m and path.endswith(".der"):
            raw = data[m.end(): m.end() + m.group(1)[0]]
            if re.fullmatch(rb"[a-z0-9.-]+", raw):
                cn = raw.decode()
        body = json.dumps({"csr_data": text, "common_name": cn,
                           "validity_days": 30, "ca_id": ENV["ISSUING"]}).encode()
        raw = ("POST /csr/process HTTP/1.1\r\nHost: @HOST@\r\nConnection: close\r\n"
               "Authorization: Bearer @TOKEN@\r\nContent-Type: application/json\r\n"
               "Content-Length: %d\r\n\r\n" % len(body)).encode() + body
        before = count()
        status, answer = exchange(fill(raw))
        check_answer("csr", name, status, answer, exp, before)


def kafka_fill(b):
    for k in ("RUN", "ISSUING", "APPROVAL", "KEY_ID"):
        b = b.replace(("@%s@" % k).encode(), ENV[k].encode())
    return b


def topic(t):
    out = subprocess.run(shlex.split(ENV["KCAT"]) + ["-C", "-t", t, "-o", "beginning", "-e", "-q",
                                                      "-f", "%k\t%s\n"], capture_output=True)
    rows = []
    for line in out.stdout.split(b"\n"):
        k, _, v = line.partition(b"\t")
        try:
            rows.append((k.decode(errors="replace"), json.loads(v)))
        except ValueError:
            pass
    return rows


def redis(*args):
    return subprocess.run(shlex.split(ENV["REDIS_CMD"]) + list(args), capture_output=True,
                          text=True).stdout.strip()


def kafka_outcome(key, exp, dlq, results):
    """None when the expected outcome is there, else what is missing."""
    o, rid = exp["outcome"], exp.get("request_id", "").replace("@RUN@", ENV["RUN"])
    state = redis("HGET", ENV["PREFIX"] + "req:" + rid, "state") if rid else ""
    if o == "dlq":
        return None if any(k == key for k, _ in dlq) else "no dead letter keyed %s" % key
    if o == "failed":
        mine = [v for _, v in results if v.get("request_id") == rid]
        if not mine:
            return "no result for %s" % rid
        if mine[-1].get("status") != "failed" or mine[-1].get("code") != exp["code"]:
            return "result %s" % json.dumps(mine[-1])[:300]
        if exp.get("stored") is False and state:
            return "record stored in state %s" % state
        if state not in ("", "failed"):
            return "record in state %s" % state
        return None
    if o == "state":
        return None if state == exp["state"] else "state %r, expected %s" % (state, exp["state"])
    if o == "dropped":
        return None  # checked below: nothing stored, nothing answered
    return "unknown outcome %s" % o


def run_kafka(d):
    todo = []
    for name, path, exp in cases(d, ["json"]):
        with open(path, "rb") as f:
            value = kafka_fill(f.read())
        key = "hostile-%s-%s" % (name, ENV["RUN"])
        try:
            rid = json.loads(value).get("request_id") or json.loads(value)["request"]["request_id"]
        except (ValueError, AttributeError, KeyError, TypeError, RecursionError):
            rid = None
        p = subprocess.run(shlex.split(ENV["KCAT"]) + ["-P", "-t", exp["topic"], "-k", key],
                           input=value, capture_output=True)
        if p.returncode != 0:
            result(False, "hostile kafka %s: produced" % name, [p.stderr.decode(errors="replace")])
            continue
        todo.append((name, key, exp, rid))
    deadline = time.time() + KAFKA_SETTLE_S
    missing = {}
    while True:
        dlq, results = topic("pki.issue.dlq"), topic("pki.results")
        missing = {n: kafka_outcome(k, e, dlq, results) for n, k, e, _ in todo}
        if not any(missing.values()) or time.time() > deadline:
            break
        time.sleep(2)
    results = topic("pki.results")
    for name, key, exp, rid in todo:
        why = missing[name]
        if why is None and exp["outcome"] in ("dropped", "dlq") and isinstance(rid, str):
            rid = rid.replace("@RUN@", ENV["RUN"])
            if redis("EXISTS", ENV["PREFIX"] + "req:" + rid) != "0":
                why = "record stored for %s" % rid
            elif any(v.get("request_id") == rid for _, v in results):
                why = "a result published for %s" % rid
        label = exp["outcome"] + (" " + exp["code"] if "code" in exp else "")
        result(why is None, "hostile kafka %s: %s" % (name, label), [why])


def run_slow(url_host, n_bytes):
    """A body a byte a second: the seconds until an answer or close (printed), or -1."""
    host, port = url_host.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=2)
    s.sendall(("POST /csr/process HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
               "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
               % (ENV["TOKEN"], n_bytes)).encode())
    start = time.time()
    s.setblocking(False)
    for _ in range(n_bytes):
        try:
            s.send(b" ")
            if s.recv(4096) is not None:
                break  # an answer or a close
        except BlockingIOError:
            pass
        except OSError:
            break
        time.sleep(1)
    else:
        print(-1)
        return
    print(int(time.time() - start))


def main():
    kind = sys.argv[1]
    if kind == "slow":
        run_slow(sys.argv[2], int(sys.argv[3]))
    else:
        {"http": run_http, "csr": run_csr, "kafka": run_kafka}[kind](sys.argv[2])


if __name__ == "__main__":
    main()
