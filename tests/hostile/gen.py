#!/usr/bin/env python3
"""Writes the hostile-input cases of tests/hostile/{csr,http,kafka}.

CSRs come from openssl (odd key types and curves), python cryptography
(keys, signatures) and hand-built DER (malformed encodings, odd names). HTTP
cases are raw requests; Kafka cases are message values. A case's expected
answer (NNN-name.expect) is reviewed by hand: this script writes one only
where none exists, and never overwrites it.

    .cache/venv/bin/python tests/hostile/gen.py
"""
import base64
import json
import os
import subprocess
import sys
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import der  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DOMAIN = "acme.example"  # the test tenant's names (the demo user alice)


def write(kind, n, name, data, ext, expect):
    d = os.path.join(HERE, kind)
    os.makedirs(d, exist_ok=True)
    base = os.path.join(d, "%03d-%s" % (n, name))
    with open(base + "." + ext, "wb") as f:
        f.write(data)
    if not os.path.exists(base + ".expect"):
        with open(base + ".expect", "w") as f:
            f.write(json.dumps(expect) + "\n")


def pem(b, label="CERTIFICATE REQUEST"):
    body = base64.encodebytes(b).decode().replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return ("-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, "\n".join(lines), label)).encode()


# ------------------------------------------------------------------ CSRs
P256 = ec.generate_private_key(ec.SECP256R1())
P256_SPKI = P256.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def signed(info, key=P256):
    """A hand-built CertificationRequestInfo signed with an EC P-256 key."""
    return der.csr(info, der.seq(der.oid(der.OID_ECDSA_SHA256)),
                   key.sign(info, ec.ECDSA(hashes.SHA256())))


def cn_of(n):
    return "h%03d.%s" % (n, DOMAIN)


def plain_info(n, attrs=None, subject=None, spki=P256_SPKI):
    cn = cn_of(n)
    if attrs is None:
        attrs = der.ext_request(der.ext(der.OID_SAN, der.san(der.dns(cn))))
    return der.cri(subject or der.name(cn), spki, attrs)


def with_san(n, *gns):
    return signed(plain_info(n, der.ext_request(der.ext(der.OID_SAN, der.san(*gns)))))


def crypto_csr(n, key, algo=hashes.SHA256(), san=True):
    cn = cn_of(n)
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
    if san:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
    return b.sign(key, algo).public_bytes(serialization.Encoding.DER)


def openssl_csr(n, genpkey_args, req_args=()):
    cn = cn_of(n)
    with tempfile.TemporaryDirectory() as t:
        key = os.path.join(t, "k.pem")
        subprocess.run(["openssl", "genpkey", "-out", key] + genpkey_args, check=True,
                       capture_output=True)
        out = subprocess.run(["openssl", "req", "-new", "-key", key, "-subj", "/CN=" + cn,
                              "-addext", "subjectAltName=DNS:" + cn, "-outform", "DER"]
                             + list(req_args), check=True, capture_output=True)
        return out.stdout


def spki(alg_oid, key_bytes, params=b""):
    return der.seq(der.seq(der.oid(alg_oid), params), der.bitstring(key_bytes))


def ber_indefinite(b):
    """The outer SEQUENCE of DER b re-encoded with an indefinite length."""
    hdr = 2 if b[1] < 0x80 else 2 + (b[1] & 0x7F)
    return b"\x30\x80" + b[hdr:] + b"\x00\x00"


def long_len(b, extra=1):
    """The outer header of DER b with a longer length form than needed (BER)."""
    hdr = 2 if b[1] < 0x80 else 2 + (b[1] & 0x7F)
    n = len(b) - hdr
    lb = n.to_bytes(((n.bit_length() + 7) // 8) + extra, "big")
    return b"\x30" + bytes([0x80 | len(lb)]) + lb + b[hdr:]


def csr_cases():
    good = signed(plain_info(0))
    c = []

    def add(name, data, code, ext="der", status=422):
        c.append((name, data, ext, {"status": status, "code": code, "field": "csr_data"}))

    # Encodings: BER where DER is required, broken lengths and tags.
    add("ber-indefinite-outer", ber_indefinite(good), "csr_malformed")
    info = plain_info(1)
    add("ber-indefinite-info", der.seq(b"\x30\x80" + info[4 if info[1] == 0x82 else 3:] + b"\x00\x00",
                                       der.seq(der.oid(der.OID_ECDSA_SHA256)),
                                       der.bitstring(b"\x30\x06\x02\x01\x01\x02\x01\x01")), "csr_malformed")
    add("ber-long-length", long_len(good), "csr_malformed")
    add("ber-long-length-9-bytes", long_len(good, 7), "csr_malformed")
    add("length-beyond-end", b"\x30\x84\x7f\xff\xff\xff" + good[4:], "csr_malformed")
    add("length-ffffffff", b"\x30\x84\xff\xff\xff\xff" + good[4:], "csr_malformed")
    add("length-short-by-one", good[:2] + bytes([good[2], good[3] - 1]) + good[4:], "csr_malformed")
    add("truncated-half", good[: len(good) // 2], "csr_malformed")
    add("truncated-one-byte", good[:-1], "csr_malformed")
    add("trailing-byte", good + b"\x00", "csr_trailing_data")
    add("trailing-csr", good + good, "csr_trailing_data")
    add("empty-sequence", b"\x30\x00", "csr_malformed")
    add("single-byte", b"\x30", "csr_malformed")
    add("not-a-sequence", b"\x04\x03abc", "csr_malformed")
    add("high-tag-number", b"\x3f\x81\x80\x01\x00", "csr_malformed")
    add("nested-sequences-10000", b"\x30\x80" * 10000 + b"\x00\x00" * 10000, "csr_malformed")
    add("version-1", signed(der.cri(der.name(cn_of(2)), P256_SPKI,
                                    der.ext_request(der.ext(der.OID_SAN, der.san(der.dns(cn_of(2))))),
                                    version=der.integer(1))), "csr_malformed")
    add("version-negative", signed(der.cri(der.name(cn_of(3)), P256_SPKI,
                                           der.ext_request(der.ext(der.OID_SAN, der.san(der.dns(cn_of(3))))),
                                           version=b"\x02\x01\xff")), "csr_malformed")
    add("version-leading-zero", signed(der.cri(der.name(cn_of(4)), P256_SPKI,
                                               der.ext_request(der.ext(der.OID_SAN, der.san(der.dns(cn_of(4))))),
                                               version=b"\x02\x02\x00\x00")), "csr_malformed")
    add("version-huge", signed(der.cri(der.name(cn_of(5)), P256_SPKI,
                                       der.ext_request(der.ext(der.OID_SAN, der.san(der.dns(cn_of(5))))),
                                       version=der.integer(2 ** 200))), "csr_malformed")
    # OIDs: overlong arcs, padded arcs, empty.
    for nm, body in [("oid-padded-arc", b"\x55\x80\x04\x03"), ("oid-empty", b""),
                     ("oid-arc-200-bytes", b"\x2a" + b"\xff" * 199 + b"\x7f"),
                     ("oid-4000-bytes", b"\x2a" + b"\x81" * 3998 + b"\x01"),
                     ("oid-unterminated-arc", b"\x55\x04\x83")]:
        subj = der.seq(der.set_(der.seq(der.tlv(0x06, body), der.utf8(cn_of(6)))))
        add("subject-" + nm, signed(plain_info(6, subject=subj)), "csr_malformed")
    add("ext-oid-padded", signed(plain_info(7, der.seq(der.oid(der.OID_EXT_REQ), der.set_(der.seq(
        der.seq(der.tlv(0x06, b"\x55\x1d\x80\x11"), der.octets(der.san(der.dns(cn_of(7)))))))))), "csr_malformed")
    # DER booleans and defaults.
    add("critical-bool-0x01", signed(plain_info(8, der.ext_request(
        der.seq(der.oid(der.OID_SAN), b"\x01\x01\x01", der.octets(der.san(der.dns(cn_of(8))))))) ), "csr_malformed")
    add("critical-false-encoded", signed(plain_info(9, der.ext_request(
        der.ext(der.OID_SAN, der.san(der.dns(cn_of(9))), critical=False)))), "csr_malformed")
    # Signatures.
    bad = bytearray(good)
    bad[-5] ^= 0x01
    add("signature-flipped-bit", bytes(bad), "csr_signature_invalid")
    add("signature-empty", der.csr(plain_info(10), der.seq(der.oid(der.OID_ECDSA_SHA256)), b""),
        "csr_signature_invalid")
    add("signature-unused-bits-7", der.seq(plain_info(11), der.seq(der.oid(der.OID_ECDSA_SHA256)),
                                           der.bitstring(b"\x30\x06\x02\x01\x01\x02\x01\x01", 7)),
        "csr_malformed")
    add("signature-alg-md5-rsa", der.csr(plain_info(12), der.seq(der.oid("1.2.840.113549.1.1.4"), b"\x05\x00"),
                                         b"\x00" * 256), "csr_signature_invalid")
    add("signature-alg-unknown-oid", der.csr(plain_info(13), der.seq(der.oid("1.2.3.4.5.6.7")),
                                             b"\x00" * 64), "csr_signature_invalid")
    info = plain_info(14)
    add("sha1-ecdsa", der.csr(info, der.seq(der.oid("1.2.840.10045.4.1")), P256.sign(info, ec.ECDSA(hashes.SHA1()))),
        "csr_signature_invalid")
    # Extensions: duplicated, huge, unknown critical, CA, broken values.
    s = der.ext(der.OID_SAN, der.san(der.dns(cn_of(15))))
    add("duplicate-san", signed(plain_info(15, der.ext_request(s, s))), "csr_duplicate_extension")
    add("duplicate-ext-request-attr", signed(plain_info(16, der.ext_request(s) + der.ext_request(s))),
        "csr_malformed")
    add("unknown-critical-ext", signed(plain_info(17, der.ext_request(
        s, der.ext("1.3.6.1.4.1.99999.1", der.octets(b"x"), critical=True)))), "csr_unknown_critical_extension")
    add("basic-constraints-ca", signed(plain_info(18, der.ext_request(
        s, der.ext(der.OID_BC, der.seq(der.boolean(True)), critical=True)))), "csr_requests_ca")
    many = [der.ext("1.3.6.1.4.1.99999.%d" % i, der.octets(b"v")) for i in range(2000)]
    add("exts-2000-unknown", signed(plain_info(19, der.ext_request(der.ext(der.OID_SAN, der.san(der.dns(cn_of(19)))),
                                                                  *many))), "csr_malformed")
    add("san-value-garbage", signed(plain_info(21, der.ext_request(der.ext(der.OID_SAN, b"\xde\xad\xbe\xef")))),
        "csr_malformed")
    add("san-empty-sequence", signed(plain_info(22, der.ext_request(der.ext(der.OID_SAN, der.seq())))),
        "csr_malformed")
    add("ext-request-empty-set", signed(plain_info(23, der.seq(der.oid(der.OID_EXT_REQ), der.set_()))),
        "csr_malformed")
    add("ext-request-not-sequence", signed(plain_info(24, der.seq(der.oid(der.OID_EXT_REQ),
                                                                  der.set_(der.octets(b"x"))))), "csr_malformed")
    add("attributes-2000", signed(plain_info(25, der.ext_request(s) + b"".join(
        der.seq(der.oid(der.OID_CHALLENGE), der.set_(der.utf8("p%d" % i))) for i in range(2000)))), "csr_malformed")
    add("attribute-empty-values", signed(plain_info(26, der.ext_request(s) + der.seq(der.oid(der.OID_CHALLENGE), der.set_()))),
        "csr_malformed")
    add("san-1000-names", with_san(27, *[der.dns("n%d.%s" % (i, DOMAIN)) for i in range(1000)]), "csr_too_many_sans")
    # Odd GeneralNames.
    cn = cn_of(28)
    add("gn-x400-address", with_san(28, der.dns(cn), der.ctx(3, der.seq(der.seq()))), "san_unsupported_type")
    add("gn-edi-party", with_san(29, der.dns(cn_of(29)), der.ctx(5, der.ctx(1, der.utf8("x")))), "san_unsupported_type")
    add("gn-other-name-upn", with_san(30, der.dns(cn_of(30)), der.ctx(0, der.oid("1.3.6.1.4.1.311.20.2.3") + der.ctx(0, der.utf8("a@" + DOMAIN)))),
        "san_unsupported_type")
    add("gn-registered-id", with_san(31, der.dns(cn_of(31)), der.tlv(0x88, der.oid_body("1.2.3.4"))), "san_unsupported_type")
    add("gn-directory-name", with_san(32, der.dns(cn_of(32)), der.ctx(4, der.name("x"))), "san_unsupported_type")
    add("gn-tag-9", with_san(33, der.dns(cn_of(33)), der.tlv(0x89, b"x")), "csr_malformed")
    add("gn-ip-5-bytes", with_san(34, der.dns(cn_of(34)), der.tlv(0x87, b"\x0a\x00\x00\x01\x00")), "san_invalid_ip")
    add("gn-ip-empty", with_san(35, der.dns(cn_of(35)), der.tlv(0x87, b"")), "san_invalid_ip")
    add("gn-ip-with-mask", with_san(36, der.dns(cn_of(36)), der.tlv(0x87, b"\x0a\x00\x00\x00\xff\x00\x00\x00")), "san_invalid_ip")
    add("gn-ip-outside-tenant", with_san(37, der.dns(cn_of(37)), der.tlv(0x87, b"\xc0\xa8\x00\x01")), "name_not_allowed")
    add("gn-ipv6-outside-tenant", with_san(38, der.dns(cn_of(38)), der.tlv(0x87, b"\x20\x01\x0d\xb8" + b"\x00" * 11 + b"\x01")), "name_not_allowed")
    add("gn-uri-with-nul", with_san(39, der.dns(cn_of(39)), der.tlv(0x86, b"https://acme.example/\x00x")), "san_invalid_uri")
    add("gn-uri-javascript", with_san(40, der.dns(cn_of(40)), der.tlv(0x86, b"javascript:alert(1)")), "san_invalid_uri")
    add("gn-email-with-nul", with_san(41, der.dns(cn_of(41)), der.tlv(0x81, b"a\x00@acme.example")), "san_invalid_email")
    add("gn-email-utf8", with_san(42, der.dns(cn_of(42)), der.tlv(0x81, "ü@acme.example".encode())), "san_invalid_email")
    add("gn-email-outside", with_san(43, der.dns(cn_of(43)), der.tlv(0x81, b"a@globex.example")), "name_not_allowed")
    for i, (nm, d, code) in enumerate([
            ("dns-nul", b"a\x00.acme.example", "san_invalid_dns"),
            ("dns-utf8-idn", "bücher.acme.example".encode(), "san_invalid_dns"),
            ("dns-punycode-empty", b"xn--.acme.example", "san_invalid_dns"),
            ("dns-punycode-bad", b"xn--a-.acme.example", "san_invalid_dns"),
            ("dns-punycode-outside", b"xn--acme-exmple-hcb.test", "name_not_allowed"),
            ("dns-homograph-acme", b"xn--cme-8cd.example", "name_not_allowed"),
            ("dns-rtl-label", "שלום.acme.example".encode(), "san_invalid_dns"),
            ("dns-fullwidth-dot", "a．acme.example".encode(), "san_invalid_dns"),
            ("dns-trailing-dot", b"a.acme.example.", "san_invalid_dns"),
            ("dns-leading-dot", b".acme.example", "san_invalid_dns"),
            ("dns-double-dot", b"a..acme.example", "san_invalid_dns"),
            ("dns-label-64", b"a" * 64 + b".acme.example", "san_invalid_dns"),
            ("dns-name-300", (b"abcdefghi." * 29) + b"acme.example", "san_invalid_dns"),
            ("dns-underscore", b"a_b.acme.example", "san_invalid_dns"),
            ("dns-space", b"a b.acme.example", "san_invalid_dns"),
            ("dns-wildcard-middle", b"a.*.acme.example", "san_invalid_wildcard"),
            ("dns-wildcard-double", b"*.*.acme.example", "san_invalid_wildcard"),
            ("dns-wildcard-partial", b"a*.acme.example", "san_invalid_wildcard"),
            ("dns-wildcard-alone", b"*", "san_invalid_wildcard"),
            ("dns-outside-tenant", b"a.globex.test", "name_not_allowed"),
            ("dns-suffix-trick", b"acme.example.globex.test", "name_not_allowed"),
            ("dns-empty", b"", "san_invalid_dns"),
            ("dns-hyphen-start", b"-a.acme.example", "san_invalid_dns"),
            ("dns-ip-literal", b"10.0.0.1", "san_invalid_dns")]):
        n = 44 + i
        add("san-" + nm, with_san(n, der.dns(cn_of(n)), der.tlv(0x82, d)), code)
    # Subject oddities.
    add("cn-bmpstring", signed(plain_info(70, subject=der.seq(der.set_(der.seq(der.oid(der.OID_CN), der.tlv(0x1E, cn_of(70).encode("utf-16-be"))))))),
        "name_invalid_string_type")
    add("cn-invalid-utf8", signed(plain_info(71, subject=der.seq(der.set_(der.seq(der.oid(der.OID_CN), der.utf8(b"h071\xff\xfe.acme.example")))))),
        "name_invalid_characters")
    add("cn-nul", signed(plain_info(72, subject=der.seq(der.set_(der.seq(der.oid(der.OID_CN), der.utf8(b"h072.acme.example\x00.globex.test")))))),
        "name_invalid_characters")
    add("cn-overlong-utf8", signed(plain_info(73, subject=der.seq(der.set_(der.seq(der.oid(der.OID_CN), der.utf8(b"h\xc0\xaf.acme.example")))))),
        "name_invalid_characters")
    add("subject-1000-rdns", signed(plain_info(74, subject=der.seq(*[der.set_(der.seq(der.oid("2.5.4.11"), der.utf8("ou%d" % i))) for i in range(1000)],
                                                                  der.set_(der.seq(der.oid(der.OID_CN), der.utf8(cn_of(74))))))), "csr_malformed")
    add("subject-cn-200-chars", signed(plain_info(75, subject=der.name("a" * 188 + "." + DOMAIN))), "name_too_long")
    # Keys and curves not allowed.
    add("key-dsa-2048", crypto_csr(76, dsa.generate_private_key(2048)), "key_type_not_allowed")
    add("key-rsa-1024", crypto_csr(77, rsa.generate_private_key(65537, 1024)), "key_size_not_allowed")
    add("key-rsa-8192", openssl_csr(78, ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:8192"]), "key_size_not_allowed")
    add("key-rsa-exponent-3", crypto_csr(79, rsa.generate_private_key(3, 2048)), "key_exponent_not_allowed")
    add("key-rsa-2047", openssl_csr(80, ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2047"]), "key_size_not_allowed")
    add("key-secp256k1", crypto_csr(81, ec.generate_private_key(ec.SECP256K1())), "key_curve_not_allowed")
    add("key-brainpoolp256r1", crypto_csr(82, ec.generate_private_key(ec.BrainpoolP256R1())), "key_curve_not_allowed")
    add("key-brainpoolp384r1", crypto_csr(83, ec.generate_private_key(ec.BrainpoolP384R1())), "key_curve_not_allowed")
    add("key-secp192r1", openssl_csr(84, ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime192v1"]), "key_curve_not_allowed")
    add("key-secp224r1", crypto_csr(85, ec.generate_private_key(ec.SECP224R1())), "key_curve_not_allowed")
    add("key-ed448", crypto_csr(86, ed448.Ed448PrivateKey.generate(), None), "key_type_not_allowed")
    add("key-ec-explicit-params", openssl_csr(87, ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                                                   "-pkeyopt", "ec_param_enc:explicit"]), "key_curve_not_allowed")
    add("key-sm2", openssl_csr(88, ["-algorithm", "SM2"]), "key_curve_not_allowed")
    ed = ed25519.Ed25519PrivateKey.generate()

    def ed_signed(info):
        return der.csr(info, der.seq(der.oid("1.3.101.112")), ed.sign(info))

    add("key-x25519-in-csr", ed_signed(plain_info(89, spki=spki("1.3.101.110", os.urandom(32)))), "key_type_not_allowed")
    add("key-x448-in-csr", ed_signed(plain_info(90, spki=spki("1.3.101.111", os.urandom(56)))), "key_type_not_allowed")
    add("key-rsa-pss-spki", openssl_csr(91, ["-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048"]), "key_type_not_allowed")
    add("key-ec-point-not-on-curve", signed(plain_info(92, spki=spki(der.OID_EC_PUBKEY, b"\x04" + b"\x01" * 64, der.oid(der.OID_P256)))),
        "csr_malformed")
    add("key-ec-point-infinity", signed(plain_info(93, spki=spki(der.OID_EC_PUBKEY, b"\x00", der.oid(der.OID_P256)))), "csr_malformed")
    add("key-ec-no-params", signed(plain_info(94, spki=spki(der.OID_EC_PUBKEY, P256_SPKI[-65:]))), "csr_malformed")
    add("key-rsa-exponent-even", signed(plain_info(95, spki=spki("1.2.840.113549.1.1.1", der.seq(der.integer(2 ** 2047 + 1), der.integer(65536)), b"\x05\x00"))),
        "csr_malformed")
    add("key-rsa-modulus-negative", signed(plain_info(96, spki=spki("1.2.840.113549.1.1.1", der.seq(der.integer(-(2 ** 2047)), der.integer(65537)), b"\x05\x00"))),
        "csr_malformed")
    add("key-unknown-algorithm", signed(plain_info(97, spki=spki("1.2.3.4.5", b"\x00" * 32))), "key_type_not_allowed")
    # Text around the DER: PEM and paste oddities.
    add("pem-bad-base64", b"-----BEGIN CERTIFICATE REQUEST-----\n!!!!notbase64$$$$\n-----END CERTIFICATE REQUEST-----\n",
        "csr_malformed", "pem")
    add("pem-no-footer", pem(good).split(b"-----END")[0], "csr_malformed", "pem")
    add("pem-two-csrs", pem(good) + pem(signed(plain_info(98))), "csr_multiple", "pem", 400)
    add("pem-certificate-label", pem(good, "CERTIFICATE"), "csr_malformed", "pem")
    add("pem-private-key", P256.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()), "csr_malformed", "pem")
    add("pem-label-mismatch", pem(good).replace(b"END CERTIFICATE REQUEST", b"END X509 CRL"), "csr_malformed", "pem")
    add("pem-nul-in-base64", pem(good).replace(b"\n", b"\n\x00", 2), "csr_malformed", "pem")
    return c


# ------------------------------------------------------------------ HTTP
def http_cases():
    """(name, raw request bytes, expected). @TOKEN@ and @HOST@ are filled in by the runner."""
    c = []
    ok_csr = pem(signed(plain_info(199))).decode()
    base = {"csr_data": ok_csr, "common_name": cn_of(199), "validity_days": 30}

    def req(body, ctype="application/json", headers=(), method="POST", path="/csr/process",
            auth=True):
        h = ["%s %s HTTP/1.1" % (method, path), "Host: @HOST@", "Connection: close"]
        if auth:
            h.append("Authorization: Bearer @TOKEN@")
        if ctype is not None:
            h.append("Content-Type: " + ctype)
        h += list(headers)
        if body is not None:
            if isinstance(body, str):
                body = body.encode()
            h.append("Content-Length: %d" % len(body))
        return ("\r\n".join(h) + "\r\n\r\n").encode() + (body or b"")

    def add(name, raw, status, code, field=None):
        c.append((name, raw, {"status": status, "code": code, "field": field}))

    def js(**over):
        d = dict(base)
        for k, v in over.items():
            if v is KeyError:
                d.pop(k, None)
            else:
                d[k] = v
        return json.dumps(d)

    # JSON type confusion, field by field.
    for f, vals in [("csr_data", [1, 1.5, True, [], {}, ["x"]]),
                    ("common_name", [1, True, [], {"a": 1}, "a" * 65]),
                    ("validity_days", ["abc", 1.5, -1, 0, 3651, True, [30], {"d": 30}, "30x", "0x1e", " 30",
                                       "1e2", 1e300, -0.0, 9007199254740993]),
                    ("ca_id", [1, True, [], {}]),
                    ("tenant_id", [1, [], {}]),
                    ("purpose_category", [1, [], {}]),
                    ("extensions", [1, {}, [1], ["nope"], "server_auth,nope", [[]], "x" * 300]),
                    ("approval_password", [1, [], {}])]:
        for i, v in enumerate(vals):
            add("json-%s-%d" % (f.replace("_", "-"), i), req(js(**{f: v})), 400, "invalid_field", f)
    add("json-missing-csr", req(js(csr_data=KeyError)), 400, "missing_field", "csr_data")
    add("json-missing-validity", req(js(validity_days=KeyError)), 400, "missing_field", "validity_days")
    add("json-unknown-field", req(js(admin=True)), 400, "unknown_field", "admin")
    add("json-unknown-field-proto", req(js(__proto__={"admin": True})), 400, "unknown_field", "__proto__")
    for i, b in enumerate(["[]", '"x"', "1", "null", "true", "[%s]" % js()]):
        add("json-body-not-object-%d" % i, req(b), 400, "invalid_body")
    # Syntax: empty, trailing, comments, duplicate keys, nesting, numbers, UTF-8, NUL.
    for nm, b in [("empty", ""), ("trailing-garbage", js() + "x"), ("two-objects", js() + js()),
                  ("comment", "/*c*/" + js()), ("single-quotes", "{'csr_data': 'x'}"),
                  ("trailing-comma", js()[:-1] + ",}"), ("unterminated", js()[:-1]),
                  ("nan", js()[:-1] + ', "validity_days": NaN}'),
                  ("infinity", '{"validity_days": Infinity}'), ("hex-number", '{"validity_days": 0x1e}'),
                  ("leading-zero", '{"validity_days": 030}'), ("plus-sign", '{"validity_days": +30}'),
                  ("deep-array-30000", "[" * 30000 + "]" * 30000),
                  ("deep-object-5000", '{"a":' * 5000 + "1" + "}" * 5000),
                  ("raw-nul", js().replace('"common_name"', '"common\x00_name"')),
                  ("lone-surrogate-escape", js(common_name=None).replace("null", '"\\ud800"')),
                  ("bad-escape", js(common_name=None).replace("null", '"\\x41"'))]:
        add("json-syntax-" + nm, req(b), 400, "invalid_json")
    add("json-invalid-utf8-value", req(js(common_name="h199.acme.example").encode().replace(b"h199", b"h\xff\xfe9")), 400, "invalid_json")
    add("json-invalid-utf8-key", req(js().encode().replace(b'"common_name"', b'"common\xc0\xafname"')), 400, "invalid_json")
    add("json-overlong-utf8-slash", req(js().encode().replace(b"h199", b"h\xc0\xaf9")), 400, "invalid_json")
    add("json-nul-escape-cn", req(js(common_name="h199.acme.example\u0000.globex.test")), 400, "invalid_json")
    add("json-nul-escape-key", req(js().replace('"common_name"', '"common_name\\u0000x"')), 400, "invalid_json")
    add("json-nul-escape-ca", req(js(ca_id="x\u0000")), 400, "invalid_json")
    dup = js()[:-1]
    add("json-dup-validity", req(dup + ', "validity_days": 3650}'), 400, "invalid_json")
    add("json-dup-csr", req(dup + ', "csr_data": "x"}'), 400, "invalid_json")
    add("json-dup-tenant", req(dup + ', "tenant_id": "acme", "tenant_id": "globex"}'), 400, "invalid_json")
    add("json-dup-ca-case", req(dup + ', "CA_ID": "x"}'), 400, "unknown_field", "CA_ID")
    add("json-huge-number-text", req(js().replace('"validity_days": 30', '"validity_days": 1' + "0" * 400)), 400, "invalid_field", "validity_days")
    add("json-huge-exponent", req(js().replace('"validity_days": 30', '"validity_days": 1e999999999')), 400, "invalid_field", "validity_days")
    add("json-tiny-exponent", req(js().replace('"validity_days": 30', '"validity_days": 30e-999999999')), 400, "invalid_field", "validity_days")
    add("json-number-30-point-0001", req(js().replace('"validity_days": 30', '"validity_days": 30.0001')), 400, "invalid_field", "validity_days")
    # Content types.
    for i, ct in enumerate(["text/plain", "application/xml", "application/jsonx", "json", "application/json-patch+json",
                            "*/*", "", "multipart/mixed; boundary=x", "application/octet-stream", "text/json"]):
        add("ctype-%d" % i, req(js(), ct), 415, "unsupported_media_type")
    add("ctype-none", req(js(), None), 415, "unsupported_media_type")
    add("ctype-duplicated", req(js(), "application/json", ["Content-Type: text/plain"]), 400, "duplicate_header", "Content-Type")
    # Authorization and headers.
    for nm, a in [("none", None), ("basic", "Basic YWxpY2U6eA=="), ("empty-bearer", "Bearer"),
                  ("bearer-space", "Bearer "), ("lowercase-scheme-wrong-token", "bearer nope"),
                  ("token-8k", "Bearer " + "A" * 8192), ("token-with-tab", "Bearer @TOKEN@\tx"),
                  ("token-suffix", "Bearer @TOKEN@x"), ("token-prefix", "Bearer x@TOKEN@"),
                  ("double-bearer", "Bearer Bearer @TOKEN@"), ("token-truncated", "Bearer @TOKEN8@")]:
        add("auth-" + nm, req(js(), headers=[] if a is None else ["Authorization: " + a], auth=False), 401, "unauthorized", "Authorization")
    add("auth-duplicated-valid-invalid", req(js(), headers=["Authorization: Bearer nope"]), 400, "duplicate_header", "Authorization")
    add("auth-duplicated-invalid-valid", req(js(), auth=False, headers=["Authorization: Bearer nope", "Authorization: Bearer @TOKEN@"]),
        400, "duplicate_header", "Authorization")
    add("auth-duplicated-same", req(js(), headers=["Authorization: Bearer @TOKEN@"]), 400, "duplicate_header", "Authorization")
    add("idem-key-space", req(js(), headers=["Idempotency-Key: a b"]), 400, "invalid_header", "Idempotency-Key")
    add("idem-key-200", req(js(), headers=["Idempotency-Key: " + "k" * 200]), 400, "invalid_header", "Idempotency-Key")
    add("idem-key-utf8", req(js(), headers=["Idempotency-Key: ключ"]), 400, "invalid_header", "Idempotency-Key")
    add("idem-key-duplicated", req(js(), headers=["Idempotency-Key: a", "Idempotency-Key: b"]), 400, "duplicate_header", "Idempotency-Key")
    add("header-64k", req(js(), headers=["X-Big: " + "a" * 65536]), 431, None)
    add("headers-2000", req(js(), headers=["X-H%d: v" % i for i in range(2000)]), 431, None)
    add("url-100k", req(js(), path="/csr/process?" + "a" * 100000), 414, None)
    add("content-length-huge", req(None, headers=["Content-Length: 99999999999999"]) + js().encode(), 413, "body_too_large")
    add("content-length-negative", req(None, headers=["Content-Length: -1"]) + js().encode(), 400, None)
    add("content-length-two-values", req(None, headers=["Content-Length: 5", "Content-Length: 6"]) + b"abcdef", 400, "duplicate_header", "Content-Length")
    add("body-65k", req(json.dumps({"csr_data": "A" * 70000})), 413, "body_too_large")
    add("chunked-body-65k", req(None, headers=["Transfer-Encoding: chunked"]) +
        b"".join(b"1000\r\n" + b"A" * 4096 + b"\r\n" for _ in range(17)) + b"0\r\n\r\n", 413, "body_too_large")
    add("chunked-bad-size", req(None, headers=["Transfer-Encoding: chunked"]) + b"zz\r\nabc\r\n0\r\n\r\n", 400, None)
    add("header-no-colon", req(js(), headers=["NoColonHere"]), 400, None)
    add("method-garbage", req(js(), method="P\x01ST"), 400, None)
    add("version-http-2", req(js()).replace(b"HTTP/1.1", b"HTTP/2.0", 1), 505, None)
    add("method-get", req(None, method="GET"), 405, "method_not_allowed")
    add("method-put", req(js(), method="PUT"), 405, "method_not_allowed")
    # Forms: urlencoded and multipart edge cases.
    form = "csr_data=%s&common_name=%s&validity_days=30" % (
        __import__("urllib.parse").parse.quote(ok_csr, safe=""), cn_of(199))
    U = "application/x-www-form-urlencoded"
    add("form-bad-percent", req(form + "&purpose_category=%zz", U), 400, "invalid_form")
    add("form-percent-nul", req(form.replace("validity_days=30", "validity_days=3%000"), U), 400, "invalid_form")
    add("form-duplicate-field", req(form + "&validity_days=3650", U), 400, "invalid_form")
    add("form-unknown-field", req(form + "&admin=1", U), 400, "unknown_field", "admin")
    add("form-no-equals", req(form.replace("validity_days=30", "validity_days"), U), 400, "missing_field", "validity_days")
    add("form-validity-text", req(form.replace("validity_days=30", "validity_days=thirty"), U), 400, "invalid_field", "validity_days")
    add("form-5000-fields", req(form + "".join("&f%d=1" % i for i in range(5000)), U), 400, "invalid_form")
    add("form-invalid-utf8", req(form.replace("common_name=h199", "common_name=h%FF%FE199"), U), 400, "invalid_form")
    add("form-empty", req("", U), 400, "missing_field", "csr_data")

    def mp(parts, boundary="XyZ", close=True, ctype=None):
        body = b""
        for hdrs, val in parts:
            body += b"--" + boundary.encode() + b"\r\n" + "".join(h + "\r\n" for h in hdrs).encode() + b"\r\n" + val + b"\r\n"
        if close:
            body += b"--" + boundary.encode() + b"--\r\n"
        return req(body, ctype or "multipart/form-data; boundary=" + boundary)

    def part(nm, val):
        return (['Content-Disposition: form-data; name="%s"' % nm], val.encode() if isinstance(val, str) else val)

    parts = [part("csr_data", ok_csr), part("common_name", cn_of(199)), part("validity_days", "30")]
    add("multipart-no-boundary", mp(parts, ctype="multipart/form-data"), 400, "invalid_form")
    add("multipart-wrong-boundary", mp(parts, ctype="multipart/form-data; boundary=other"), 400, "invalid_form")
    add("multipart-unterminated", mp(parts, close=False), 400, "invalid_form")
    add("multipart-duplicate-part", mp(parts + [part("validity_days", "3650")]), 400, "invalid_form")
    add("multipart-part-no-name", mp(parts + [(["Content-Disposition: form-data"], b"x")]), 400, "invalid_form")
    add("multipart-unknown-part", mp(parts + [part("admin", "1")]), 400, "unknown_field", "admin")
    add("multipart-nested", mp(parts + [(['Content-Disposition: form-data; name="x"', "Content-Type: multipart/mixed; boundary=in"],
                                        b"--in\r\n\r\nx\r\n--in--")]), 400, "unknown_field", "x")
    add("multipart-filename-4k", mp([(['Content-Disposition: form-data; name="csr_data"; filename="%s"' % ("f" * 4096),
                                       "Content-Type: application/octet-stream"], b"\x30\x03\x02\x01\x00")] + parts[1:]),
        422, "csr_malformed", "csr_data")
    add("multipart-der-file-garbage", mp([(['Content-Disposition: form-data; name="csr_data"; filename="x.der"',
                                            "Content-Type: application/octet-stream"], b"\x30\x80\x00\x00\xff")] + parts[1:]),
        422, "csr_malformed", "csr_data")
    add("multipart-nul-in-field", mp([part("csr_data", ok_csr), part("common_name", "h199\x00.acme.example"), part("validity_days", "30")]),
        400, "invalid_form")
    add("multipart-empty-body", req(b"", "multipart/form-data; boundary=XyZ"), 400, "invalid_form")
    return c


# ------------------------------------------------------------------ Kafka
def kafka_cases():
    """(name, topic, value bytes, expected). The runner fills @RUN@, @ISSUING@, @APPROVAL@, @KEY_ID@."""
    c = []
    csr_pem = pem(signed(plain_info(299))).decode()
    rid = "hostile-%03d-@RUN@"

    def issue(n, **over):
        m = {"v": 1, "request_id": rid % n, "csr": csr_pem, "common_name": cn_of(299), "validity_days": 30,
             "ca_id": "@ISSUING@", "tenant": "acme", "requester": "alice", "submitted_at": 1700000000}
        for k, v in over.items():
            if v is KeyError:
                m.pop(k, None)
            else:
                m[k] = v
        return m

    def add(name, topic, value, expect):
        if not isinstance(value, (bytes, str)):
            value = json.dumps(value)
        if isinstance(value, str):
            value = value.encode()
        c.append((name, topic, value, expect))

    n = len(c)
    dlq = {"outcome": "dlq"}
    for name, v in [("not-json", b"hello"), ("binary", bytes(range(256))), ("whitespace", b"  "),
                    ("json-array", b"[1,2]"), ("truncated", json.dumps(issue(0))[:-5].encode()),
                    ("invalid-utf8", json.dumps(issue(0)).encode().replace(b"alice", b"al\xffce")),
                    ("deep-nesting", b"[" * 100000 + b"]" * 100000),
                    ("1mb", json.dumps(issue(0, purpose="x" * 990000)).encode())]:
        add("issue-" + name, "pki.issue", v, dlq)
    for i, (name, over) in enumerate([("version-2", {"v": 2}), ("version-string", {"v": "1"}), ("version-missing", {"v": KeyError}),
                                      ("missing-csr", {"csr": KeyError}), ("missing-request-id", {"request_id": KeyError}),
                                      ("extra-field", {"admin": True}), ("validity-string", {"validity_days": "30"}),
                                      ("request-id-slash", {"request_id": "../../etc"}),
                                      ("request-id-1k", {"request_id": "a" * 1000})]):
        add("issue-" + name, "pki.issue", issue(100 + i, **over), dlq)
    # Well-formed requests that policy refuses: a failed result with its code.
    k1 = pem(crypto_csr(298, ec.generate_private_key(ec.SECP256K1()))).decode()
    add("issue-secp256k1-key", "pki.issue", issue(120, csr=k1, common_name=cn_of(298)),
        {"outcome": "failed", "request_id": rid % 120, "code": "curve_not_allowed"})
    add("issue-common-name-not-the-csrs", "pki.issue", issue(121, common_name="x.globex.test"),
        {"outcome": "failed", "request_id": rid % 121, "code": "cn_mismatch"})
    add("issue-forged-grant", "pki.issue", issue(122, ca_id="@APPROVAL@", grant={
        "request_id": rid % 122, "ca_id": "@APPROVAL@", "request_sha256": "0" * 64, "expires_at": 4102444800,
        "mac": "0" * 64}), {"outcome": "state", "request_id": rid % 122, "state": "expired"})
    # Bulk messages with wrong signatures: refused before anything is stored.
    for i, (name, auth) in enumerate([("bad-sig", {"key_id": "@KEY_ID@", "sig": "A" * 43}),
                                      ("unknown-key", {"key_id": "nokey", "sig": "A" * 43}),
                                      ("auth-missing", None), ("auth-string", "x"),
                                      ("sig-empty", {"key_id": "@KEY_ID@", "sig": ""}),
                                      ("sig-huge", {"key_id": "@KEY_ID@", "sig": "A" * 100000})]):
        m = issue(130 + i, tenant=KeyError, requester=KeyError, submitted_at=KeyError)
        if auth is not None:
            m["auth"] = auth
        add("submit-" + name, "pki.submit", m,
            {"outcome": "failed", "request_id": rid % (130 + i), "code": "auth_invalid", "stored": False})
    add("submit-not-json", "pki.submit", b"{nope", dlq)
    add("submit-1mb", "pki.submit", json.dumps(issue(140, purpose="y" * 990000)).encode(), dlq)
    # Approval messages the approver must drop: no such record, or broken.
    for i, (name, v) in enumerate([("not-json", b"\x00\x01"), ("no-record", {"v": 1, "reason": "approval_password_missing", "request": issue(150)}),
                                   ("version-9", {"v": 9, "reason": "x", "request": issue(151)}),
                                   ("request-not-object", {"v": 1, "reason": "x", "request": "x"}),
                                   ("forged-password", {"v": 1, "reason": "approval_password_given", "request": issue(152, ca_id="@APPROVAL@"),
                                                        "approval_password": "guess"}),
                                   ("1mb", {"v": 1, "reason": "x" * 990000, "request": issue(153)})]):
        add("approval-" + name, "pki.approval", v, {"outcome": "dropped"})
    return c


def main():
    n = 0
    for name, data, ext, expect in csr_cases():
        n += 1
        write("csr", n, name, data, ext, expect)
    n = 0
    for name, raw, expect in http_cases():
        n += 1
        write("http", n, name, raw, "req", expect)
    n = 0
    for name, topic, value, expect in kafka_cases():
        n += 1
        write("kafka", n, name, value, "json", dict(expect, topic=topic))


if __name__ == "__main__":
    main()
