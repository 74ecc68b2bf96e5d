"""DER (and deliberately broken BER) building blocks for the hostile CSRs."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "csr"))
import mkcsr  # noqa: E402

OID_CN = "2.5.4.3"
OID_EXT_REQ = "1.2.840.113549.1.9.14"
OID_CHALLENGE = "1.2.840.113549.1.9.7"
OID_SAN = "2.5.29.17"
OID_BC = "2.5.29.19"
OID_ECDSA_SHA256 = "1.2.840.10045.4.3.2"
OID_EC_PUBKEY = "1.2.840.10045.2.1"
OID_P256 = "1.2.840.10045.3.1.7"


length, tlv, seq, oid, integer = mkcsr.der_len, mkcsr.tlv, mkcsr.seq, mkcsr.der_oid, mkcsr.der_int


def set_(*items):
    return tlv(0x31, b"".join(items))


def ctx(n, content, constructed=True):
    return tlv((0xA0 if constructed else 0x80) | n, content)


def boolean(v):
    return tlv(0x01, b"\xff" if v else b"\x00")


def octets(b):
    return tlv(0x04, b)


def bitstring(b, unused=0):
    return tlv(0x03, bytes([unused]) + b)


def utf8(s):
    return tlv(0x0C, s.encode() if isinstance(s, str) else s)


def ia5(s):
    return tlv(0x16, s.encode() if isinstance(s, str) else s)


def oid_body(dotted):
    return oid(dotted)[2:]


def name(cn):
    return seq(set_(seq(oid(OID_CN), utf8(cn))))


def ext(ext_oid, value, critical=None):
    crit = b"" if critical is None else boolean(critical)
    return seq(oid(ext_oid), crit, octets(value))


def ext_request(*exts):
    return seq(oid(OID_EXT_REQ), set_(seq(*exts)))


def san(*general_names):
    return seq(*general_names)


def dns(n):
    return ctx(2, n.encode() if isinstance(n, str) else n, constructed=False)


def cri(subject, spki, attrs=b"", version=b"\x02\x01\x00"):
    return seq(version, subject, spki, ctx(0, attrs))


def csr(info, sig_alg, sig):
    return seq(info, sig_alg, bitstring(sig))
