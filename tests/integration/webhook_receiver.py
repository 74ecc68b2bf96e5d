#!/usr/bin/env python3
"""Test receiver for the approver's signed webhooks.

Listens on 127.0.0.1 (port 0 = any free port, written to --port-file) and
accepts POSTs on the paths given with --secret PATH=SECRET. For every POST it
checks the X-PKI-Signature header (sha256=<hex HMAC-SHA256(secret,
timestamp "." body)>) against X-PKI-Timestamp, that the timestamp is within
--max-skew seconds, and that the body is JSON; it answers 500 to the first
--fail-first attempts of each delivery id (X-PKI-Delivery), then 200 — a bad
signature always gets 401. Each POST is appended as one JSON line to --log:

  {"path", "delivery", "event", "timestamp", "signature_ok", "fresh",
   "answered", "attempt", "body"}

GET /deliveries returns the log as a JSON array.
"""
import argparse
import hashlib
import hmac
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--secret", action="append", default=[], metavar="PATH=SECRET")
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--max-skew", type=int, default=300)
    args = ap.parse_args()
    secrets = {}
    for s in args.secret:
        path, _, sec = s.partition("=")
        if not path.startswith("/") or not sec:
            ap.error(f"--secret: expected /path=secret, got {s!r}")
        secrets[path] = sec.encode()
    lock = threading.Lock()
    attempts = {}
    records = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *a):
            pass

        def _send(self, code, obj):
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path != "/deliveries":
                self._send(404, {"error": "no such path"})
                return
            with lock:
                self._send(200, records)

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n)
            secret = secrets.get(self.path)
            if secret is None:
                self._send(404, {"error": f"no receiver at {self.path}"})
                return
            ts = self.headers.get("X-PKI-Timestamp", "")
            sig = self.headers.get("X-PKI-Signature", "")
            delivery = self.headers.get("X-PKI-Delivery", "")
            want = "sha256=" + hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
            sig_ok = hmac.compare_digest(want, sig)
            try:
                fresh = abs(time.time() - int(ts)) <= args.max_skew
            except ValueError:
                fresh = False
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            with lock:
                attempts[delivery] = attempts.get(delivery, 0) + 1
                attempt = attempts[delivery]
                if not sig_ok or not fresh or parsed is None:
                    code = 401
                elif attempt <= args.fail_first:
                    code = 500
                else:
                    code = 200
                rec = {
                    "path": self.path, "delivery": delivery,
                    "event": self.headers.get("X-PKI-Event"), "timestamp": ts,
                    "signature_ok": sig_ok, "fresh": fresh, "answered": code,
                    "attempt": attempt, "received": time.time(), "body": parsed,
                }
                records.append(rec)
                with open(args.log, "a", encoding="utf-8") as f:
                    f.write(json.dumps(rec) + "\n")
            self._send(code, {"ok": code == 200})

    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    with open(args.port_file + ".tmp", "w", encoding="utf-8") as f:
        f.write(str(srv.server_address[1]))
    os.replace(args.port_file + ".tmp", args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
