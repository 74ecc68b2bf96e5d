#!/usr/bin/python3
"""A local SMTP sink for the demo and the tests (Debian's python3-aiosmtpd).

Every message it accepts is written to DIR as NNNNNN.eml (the message as
received, to read with any mail reader or `cat`) and appended to
DIR/mail.jsonl as one JSON object per line: {"n", "received", "mail_from",
"rcpt_tos", "subject", "body", "auth"}. Accepts any sender and recipient.
Plain SMTP unless --cert/--key are given: then STARTTLS is required, or with
--tls TLS from the first byte; --auth USER:PASSWORD requires AUTH (over TLS).

Usage: scripts/smtp-sink.py --port PORT --dir DIR [--host 127.0.0.1]
           [--cert PEM --key PEM [--tls]] [--auth USER:PASSWORD]
"""
import argparse
import email
import email.policy
import json
import os
import signal
import ssl
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class Sink:
    def __init__(self, folder):
        self.folder = folder
        self.lock = threading.Lock()
        self.n = len([f for f in os.listdir(folder) if f.endswith(".eml")])

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content or envelope.content,
                                       policy=email.policy.default)
        part = msg.get_body(preferencelist=("plain",))
        body = part.get_content() if part is not None else ""
        with self.lock:
            self.n += 1
            name = os.path.join(self.folder, "%06d.eml" % self.n)
            with open(name, "wb") as f:
                f.write(envelope.original_content or envelope.content)
            rec = {"n": self.n, "received": time.time(), "mail_from": envelope.mail_from,
                   "rcpt_tos": envelope.rcpt_tos, "subject": str(msg.get("Subject", "")),
                   "body": body, "auth": session.authenticated}
            with open(os.path.join(self.folder, "mail.jsonl"), "a", encoding="utf-8") as f:
                f.write(json.dumps(rec) + "\n")
        print("smtp-sink: message %d from %s to %s: %s" %
              (self.n, envelope.mail_from, ",".join(envelope.rcpt_tos), rec["subject"]), flush=True)
        return "250 OK"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--auth", metavar="USER:PASSWORD")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    kw = {}
    if a.cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.cert, a.key)
        kw = {"ssl_context": ctx} if a.tls else {"tls_context": ctx, "require_starttls": True}
    if a.auth:
        user, _, password = a.auth.partition(":")

        def check(server, session, envelope, mechanism, data):
            ok = data.login.decode() == user and data.password.decode() == password
            return AuthResult(success=ok, handled=False)  # the server answers 235 or 535

        kw.update(authenticator=check, auth_required=True, auth_require_tls=bool(a.cert))
    ctl = Controller(Sink(a.dir), hostname=a.host, port=a.port, **kw)
    ctl.start()
    print("smtp-sink: listening on %s:%d, mail in %s" % (a.host, a.port, a.dir), flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    ctl.stop()


if __name__ == "__main__":
    main()
