#!/usr/bin/env python3
"""Lints issued certificates with pkilint.

usage: lint_certs.py DIR

For every <name>.crt in DIR (PEM or DER), with <name>.chain.pem (issuer chain,
the leaf's issuer first), <name>.root.pem and <name>.json ({"server_auth": bool,
optionally "rfc5280_only": true}) beside it:
  - the certificate must load with Python cryptography;
  - server_auth certificates that carry a CA/Browser Forum reserved policy
    OID (2.23.140.1.2.x; a CA with profile cabf_tls writes them):
    lint_cabf_serverauth_cert lint --detect (CA/B Forum TLS Baseline
    Requirements; it runs the RFC 5280 validations of lint_pkix_cert too,
    minus the few the BRs supersede, e.g. a wildcard dNSName), unless the
    .json says "rfc5280_only" (a test PKI whose names and URLs the BRs call
    internal);
  - other certificates (a private CA's TLS certificates too): lint_pkix_cert
    lint (RFC 5280); its invalid_domain_name_syntax finding on a wildcard
    dNSName ("*.x", RFC 6125) is shown as a note, not counted;
  - all: lint_pkix_signer_signee_cert_chain lint with the first chain
    certificate as issuer (names, key identifiers, signature).
Findings of severity ERROR or FATAL fail the certificate; WARNING and NOTICE
are printed under it (indented, not counted). Prints one line per certificate:
  PASS: pkilint <name>
  FAIL: pkilint <name>: <findings>
Exit status 0 when every certificate passes, 1 otherwise (also when DIR holds
no certificate or pkilint is not installed).

pkilint is looked for in .cache/venv/bin of the repository, then next to the
running Python, then on PATH.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from cryptography import x509

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FATAL_SEVERITIES = ("ERROR", "FATAL")
SHOWN_SEVERITIES = ("WARNING", "NOTICE")
CABF_POLICY_PREFIX = "2.23.140.1.2."
WILDCARD_FINDING = "invalid_domain_name_syntax"
PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\s*", re.S)


def find_tool(name):
    for d in (os.path.join(ROOT, ".cache", "venv", "bin"), os.path.dirname(sys.executable)):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return shutil.which(name)


def load_cert(path):
    data = open(path, "rb").read()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def has_cabf_policy(cert):
    """True when cert asserts a CA/Browser Forum TLS reserved policy OID."""
    try:
        cp = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    except x509.ExtensionNotFound:
        return False
    return any(p.policy_identifier.dotted_string.startswith(CABF_POLICY_PREFIX) for p in cp)


def wildcard_names(cert):
    """The wildcard dNSNames of cert's subjectAltName."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [n for n in san.get_values_for_type(x509.DNSName) if n.startswith("*.")]


def run_lint(argv):
    """Runs one pkilint CLI with JSON output; returns (findings, problem).
    findings: [(severity, code, message, node_path)]."""
    r = subprocess.run(argv + ["-f", "JSON"], capture_output=True, text=True)
    try:
        doc = json.loads(r.stdout)
    except ValueError:
        err = (r.stderr.strip().splitlines() or ["no output"])[-1]
        return [], f"{os.path.basename(argv[0])} failed (exit {r.returncode}): {err}"
    out = []
    for res in doc.get("results", []):
        for fd in res.get("finding_descriptions", []):
            out.append((fd["severity"], fd["code"], fd.get("message"), res.get("node_path", "")))
    return out, None


def lint_one(d, name, tools):
    """Returns (errors, notes) for <name>.crt in d."""
    crt = os.path.join(d, name + ".crt")
    errors, notes = [], []
    for suffix in (".chain.pem", ".root.pem", ".json"):
        if not os.path.exists(os.path.join(d, name + suffix)):
            errors.append(f"missing {name}{suffix}")
    if errors:
        return errors, notes
    try:
        cert = load_cert(crt)
    except Exception as e:  # noqa: BLE001 - any parse error is the finding
        return [f"cryptography cannot load {name}.crt: {e}"], notes
    try:
        meta = json.load(open(os.path.join(d, name + ".json")))
        server_auth = meta["server_auth"]
        if not isinstance(server_auth, bool):
            raise ValueError(f"server_auth is {server_auth!r}, expected true or false")
    except Exception as e:  # noqa: BLE001
        return [f"{name}.json: {e}"], notes
    chain = open(os.path.join(d, name + ".chain.pem"), "rb").read()
    m = PEM_CERT.search(chain)
    if not m:
        return [f"{name}.chain.pem holds no PEM certificate"], notes
    with tempfile.NamedTemporaryFile(suffix=".pem") as issuer:
        issuer.write(m.group(0))
        issuer.flush()
        wildcards = wildcard_names(cert)
        if server_auth and has_cabf_policy(cert) and not meta.get("rfc5280_only", False):
            runs = [[tools["lint_cabf_serverauth_cert"], "lint", "--detect", crt]]
        else:
            runs = [[tools["lint_pkix_cert"], "lint", crt]]
        runs.append([tools["lint_pkix_signer_signee_cert_chain"], "lint", issuer.name, crt])
        for argv in runs:
            findings, problem = run_lint(argv)
            if problem:
                errors.append(problem)
            linter = os.path.basename(argv[0])
            for sev, code, msg, node in findings:
                text = f"{linter}: {sev} {code}" + (f" ({msg})" if msg else "") + f" at {node}"
                if sev in FATAL_SEVERITIES and not (wildcards and code.endswith(WILDCARD_FINDING)):
                    errors.append(text)
                elif sev in SHOWN_SEVERITIES:
                    notes.append(text)
    return errors, notes


def main():
    if len(sys.argv) != 2 or not os.path.isdir(sys.argv[1]):
        print("usage: lint_certs.py DIR", file=sys.stderr)
        return 2
    d = sys.argv[1]
    names = sorted(f[: -len(".crt")] for f in os.listdir(d) if f.endswith(".crt"))
    if not names:
        print(f"FAIL: pkilint: no .crt files in {d}")
        return 1
    tools = {t: find_tool(t) for t in
             ("lint_pkix_cert", "lint_pkix_signer_signee_cert_chain", "lint_cabf_serverauth_cert")}
    missing = [t for t, p in tools.items() if p is None]
    failed = 0
    for name in names:
        if missing:
            errors, notes = [f"pkilint not installed ({', '.join(missing)} not found; run scripts/deps.sh)"], []
        else:
            errors, notes = lint_one(d, name, tools)
        if errors:
            failed += 1
            print(f"FAIL: pkilint {name}: " + "; ".join(errors))
        else:
            print(f"PASS: pkilint {name}")
        for n in notes:
            print(f"    {n}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
