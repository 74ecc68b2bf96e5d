#!/usr/bin/env python3
"""Signed bulk messages for test_bulk.sh, with the canonical form written
here apart from lib/wire/bulk.c (standard library only).

  msg --profile FILE --id ID --csr FILE --cn CN [options]
      prints one bulk message (schemas/bulk-request.schema.json) signed with
      the profile's key; --secret-hex and --key-id sign with another key,
      --tamper NAME=VALUE changes a field after signing, --no-auth leaves
      auth out.
"""
import argparse
import hashlib
import hmac
import json
import sys

EXT_ORDER = ["server_auth", "client_auth", "email_protection", "code_signing"]
FIELDS = ["request_id", "batch_id", "batch_size", "csr_sha256", "common_name", "validity_days",
          "ca_id", "purpose", "extensions", "tenant", "requester"]


def canonical(m, key_id, domain="pki-bulk-v1"):
    """msg_canonical (lib/wire/msg.c); key_id None: no key_id line (grants)."""
    out = [domain]
    for name in FIELDS + (["key_id"] if key_id is not None else []):
        if name == "key_id":
            v = key_id
        elif name == "csr_sha256":
            v = hashlib.sha256(m["csr"].encode()).hexdigest()
        elif name == "extensions":
            v = ",".join(e for e in EXT_ORDER if e in m.get("extensions", [])) or None
        else:
            v = m.get(name)
        if v is None:
            out.append(name)
        else:
            v = str(v)
            out.append("%s=%d:%s" % (name, len(v.encode()), v))
    return ("\n".join(out) + "\n").encode()


def cmd_msg(a):
    prof = json.load(open(a.profile))
    secret = bytes.fromhex(a.secret_hex or prof["secret"])
    key_id = a.key_id or prof["key_id"]
    m = {"v": 1, "request_id": a.id, "csr": open(a.csr).read(), "common_name": a.cn,
         "validity_days": a.days}
    for name in ("ca_id", "batch_id", "purpose", "tenant", "requester"):
        if getattr(a, name) is not None:
            m[name] = getattr(a, name)
    if a.batch_size is not None:
        m["batch_size"] = a.batch_size
    if a.extensions:
        m["extensions"] = a.extensions.split(",")
    sig = hmac.new(secret, canonical(m, key_id), hashlib.sha256).hexdigest()
    if not a.no_auth:
        m["auth"] = {"key_id": key_id, "alg": "HMAC-SHA256", "sig": sig}
    for t in a.tamper or []:
        name, value = t.split("=", 1)
        m[name] = int(value) if name in ("validity_days", "batch_size") else value
    sys.stdout.write(json.dumps(m, separators=(",", ":")) + "\n")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("msg")
    m.add_argument("--profile", required=True)
    m.add_argument("--id", required=True)
    m.add_argument("--csr", required=True)
    m.add_argument("--cn", required=True)
    m.add_argument("--days", type=int, default=30)
    m.add_argument("--ca", dest="ca_id")
    m.add_argument("--batch", dest="batch_id")
    m.add_argument("--batch-size", type=int)
    m.add_argument("--purpose")
    m.add_argument("--tenant")
    m.add_argument("--requester")
    m.add_argument("--extensions")
    m.add_argument("--key-id")
    m.add_argument("--secret-hex")
    m.add_argument("--tamper", action="append")
    m.add_argument("--no-auth", action="store_true")
    m.set_defaults(fn=cmd_msg)
    a = p.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
