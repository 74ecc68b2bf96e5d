/*
 * Pre-issuance lint over the to-be-signed certificate bytes, re-parsed from
 * scratch: what is checked is what would be signed. Fail closed: anything not
 * understood is an error.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "der.h"
#include "issue_int.h"
#include "oids.h"

#define SERIAL_MIN_OCTETS 16 /* at least 128 bits of entropy were asked for */
#define SERIAL_MAX_OCTETS 20 /* RFC 5280 4.1.2.2 */
#define CLOCK_SLACK_S 300    /* notBefore may sit this far before now - backdate */
#define DAY_S 86400
#define KU_DIGITAL_SIGNATURE 0x80
#define KU_KEY_ENCIPHERMENT 0x20

enum { X_BC, X_KU, X_EKU, X_SAN, X_SKI, X_AKI, X_CP, X_AIA, X_CRLDP, X_N };

struct lint_state {
	struct violations *vs;
	int errors;
	unsigned key_type;
	const unsigned char *cn;
	size_t cn_len;
	unsigned eku;
	int seen[X_N];
	int san_dns, san_ip, san_email, san_cn_match;
	int cp;
};

static void __attribute__((format(printf, 2, 3)))
lint_err(struct lint_state *ls, const char *fmt, ...)
{
	char msg[220];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ls->errors++;
	violations_add(ls->vs, "lint_error", "certificate", "pre-issuance lint: %s", msg);
}

static void
lint_string(struct lint_state *ls, const char *what, const struct der_tlv *v, int need_printable,
	    int need_ia5)
{
	size_t i;

	if (need_printable && v->tag != DER_PRINTABLESTRING)
		lint_err(ls, "%s must be a PrintableString", what);
	else if (need_ia5 && v->tag != DER_IA5STRING)
		lint_err(ls, "%s must be an IA5String", what);
	else if (v->tag != DER_UTF8STRING && v->tag != DER_PRINTABLESTRING &&
		 v->tag != DER_IA5STRING)
		lint_err(ls,
			 "%s has string type 0x%02x; RFC 5280 wants UTF8String or PrintableString",
			 what, v->tag);
	if (v->len == 0)
		lint_err(ls, "%s is empty", what);
	for (i = 0; i < v->len; i++) {
		unsigned char ch = v->val[i];
		if (ch < 0x20 || ch == 0x7f) {
			lint_err(ls, "%s contains a NUL or control character", what);
			break;
		}
		if (v->tag == DER_PRINTABLESTRING && !str_printable_char(ch)) {
			lint_err(ls, "%s has a character outside PrintableString", what);
			break;
		}
		if (v->tag == DER_IA5STRING && ch >= 0x80) {
			lint_err(ls, "%s has a non-ASCII character in an IA5String", what);
			break;
		}
	}
	if (v->tag == DER_UTF8STRING && !str_utf8_valid(v->val, v->len))
		lint_err(ls, "%s is not valid UTF-8", what);
}

static void
lint_subject(struct lint_state *ls, const struct der_tlv *name)
{
	struct der d = der_inner(name), rd, ad;
	struct der_tlv rdn, atv, oid, val;
	size_t chars, i;
	int ncn = 0;

	while (d.len) {
		if (der_expect(&d, DER_SET, &rdn) != 0) {
			lint_err(ls, "subject: malformed RDN");
			return;
		}
		rd = der_inner(&rdn);
		while (rd.len) {
			if (der_expect(&rd, DER_SEQUENCE, &atv) != 0) {
				lint_err(ls, "subject: malformed attribute");
				return;
			}
			ad = der_inner(&atv);
			if (der_expect(&ad, DER_OID, &oid) != 0 || der_next(&ad, &val) != 0 ||
			    ad.len) {
				lint_err(ls, "subject: malformed attribute");
				return;
			}
			if (OID_EQ(&oid, oid_cn)) {
				ncn++;
				lint_string(ls, "subject CN", &val, 0, 0);
				for (i = 0, chars = 0; i < val.len; i++)
					if ((val.val[i] & 0xc0) != 0x80)
						chars++;
				if (chars > CSR_MAX_CN)
					lint_err(ls, "subject CN longer than %d characters",
						 CSR_MAX_CN);
				ls->cn = val.val;
				ls->cn_len = val.len;
			} else if (OID_EQ(&oid, oid_c)) {
				lint_string(ls, "subject C", &val, 1, 0);
				if (val.len != 2)
					lint_err(ls, "subject C must be 2 letters");
			} else if (OID_EQ(&oid, oid_email_address)) {
				lint_string(ls, "subject emailAddress", &val, 0, 1);
			} else {
				lint_string(ls, "subject attribute", &val, 0, 0);
			}
		}
	}
	if (ncn != 1)
		lint_err(ls, "subject must hold exactly one CN, has %d", ncn);
}

static void
lint_san(struct lint_state *ls, struct der *ev)
{
	struct der_tlv seq, gn;
	struct der s;
	const char *why;
	int n = 0, cn_dns, cn_email;
	unsigned char ip[16];
	char cnbuf[CSR_MAX_CN * 4 + 1];
	int cn_ip_len = 0;

	if (der_expect(ev, DER_SEQUENCE, &seq) != 0 || ev->len || seq.len == 0) {
		lint_err(ls, "subjectAltName malformed or empty");
		return;
	}
	cn_dns = ls->cn && dns_name_like((const char *)ls->cn, ls->cn_len);
	cn_email = ls->cn && memchr(ls->cn, '@', ls->cn_len) != NULL;
	if (ls->cn && ls->cn_len < sizeof(cnbuf)) {
		memcpy(cnbuf, ls->cn, ls->cn_len);
		cnbuf[ls->cn_len] = '\0';
		if (inet_pton(AF_INET, cnbuf, ip) == 1)
			cn_ip_len = 4;
		else if (inet_pton(AF_INET6, cnbuf, ip) == 1)
			cn_ip_len = 16;
	}
	s = der_inner(&seq);
	while (s.len) {
		if (der_next(&s, &gn) != 0) {
			lint_err(ls, "subjectAltName: malformed GeneralName");
			return;
		}
		n++;
		if (gn.tag == 0x82) {
			ls->san_dns++;
			if (!dns_name_valid((const char *)gn.val, gn.len, 1, &why))
				lint_err(ls, "SAN DNS name invalid: %s", why);
			if (cn_dns && ascii_casecmp_eq((const char *)gn.val, gn.len,
						       (const char *)ls->cn, ls->cn_len))
				ls->san_cn_match = 1;
		} else if (gn.tag == 0x87) {
			ls->san_ip++;
			if (gn.len != 4 && gn.len != 16)
				lint_err(ls, "SAN IP address of %zu octets", gn.len);
			if (cn_ip_len && gn.len == (size_t)cn_ip_len &&
			    memcmp(gn.val, ip, gn.len) == 0)
				ls->san_cn_match = 1;
		} else if (gn.tag == 0x81 || gn.tag == 0x86) {
			struct der_tlv t = gn;
			t.tag = DER_IA5STRING;
			lint_string(ls, gn.tag == 0x81 ? "SAN email" : "SAN URI", &t, 0, 1);
			if (gn.tag == 0x81) {
				ls->san_email++;
				if (cn_email && ascii_casecmp_eq((const char *)gn.val, gn.len,
								 (const char *)ls->cn, ls->cn_len))
					ls->san_cn_match = 1;
			}
		} else {
			lint_err(ls, "SAN entry of type 0x%02x is not issued", gn.tag);
		}
	}
	if (n > CSR_MAX_SANS + 1)
		lint_err(ls, "%d SAN entries; at most %d", n, CSR_MAX_SANS + 1);
}

static void
lint_extension(struct lint_state *ls, const struct der_tlv *ext, const struct lint_ctx *lc)
{
	struct der d = der_inner(ext), ev, s;
	struct der_tlv oid, crit, val, seq, t;
	char txt[CSR_OID_TEXT];
	int critical = 0, which;

	if (der_expect(&d, DER_OID, &oid) != 0) {
		lint_err(ls, "extension without OID");
		return;
	}
	if (der_peek(&d, DER_BOOLEAN)) {
		if (der_expect(&d, DER_BOOLEAN, &crit) != 0 || crit.val[0] != 0xff) {
			lint_err(ls, "extension critical flag must be omitted when FALSE (DER)");
			return;
		}
		critical = 1;
	}
	if (der_expect(&d, DER_OCTET_STRING, &val) != 0 || d.len) {
		lint_err(ls, "extension value malformed");
		return;
	}
	which = OID_EQ(&oid, oid_ext_bc)      ? X_BC
		: OID_EQ(&oid, oid_ext_ku)    ? X_KU
		: OID_EQ(&oid, oid_ext_eku)   ? X_EKU
		: OID_EQ(&oid, oid_ext_san)   ? X_SAN
		: OID_EQ(&oid, oid_ext_ski)   ? X_SKI
		: OID_EQ(&oid, oid_ext_aki)   ? X_AKI
		: OID_EQ(&oid, oid_ext_cp)    ? X_CP
		: OID_EQ(&oid, oid_ext_aia)   ? X_AIA
		: OID_EQ(&oid, oid_ext_crldp) ? X_CRLDP
					      : -1;
	if (which < 0) {
		der_oid_text(oid.val, oid.len, txt, sizeof(txt));
		lint_err(ls, "unknown %sextension %s", critical ? "critical " : "", txt);
		return;
	}
	if (ls->seen[which]++) {
		der_oid_text(oid.val, oid.len, txt, sizeof(txt));
		lint_err(ls, "duplicate extension %s", txt);
		return;
	}
	ev = der_inner(&val);
	switch (which) {
	case X_BC:
		if (!critical)
			lint_err(ls, "basicConstraints must be critical");
		if (der_expect(&ev, DER_SEQUENCE, &seq) != 0 || ev.len || seq.len != 0)
			lint_err(ls, "basicConstraints must be CA:FALSE without pathLen");
		break;
	case X_KU:
		if (!critical)
			lint_err(ls, "keyUsage must be critical");
		if (der_expect(&ev, DER_BIT_STRING, &t) != 0 || ev.len || t.len != 2) {
			lint_err(ls, "keyUsage malformed");
			break;
		}
		if (!(t.val[1] & KU_DIGITAL_SIGNATURE))
			lint_err(ls, "keyUsage lacks digitalSignature");
		if (t.val[1] & ~(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT))
			lint_err(ls, "keyUsage has bits a leaf must not have (e.g. keyCertSign)");
		if ((t.val[1] & KU_KEY_ENCIPHERMENT) && ls->key_type != KT_RSA)
			lint_err(ls, "keyUsage keyEncipherment on a non-RSA key");
		break;
	case X_EKU:
		if (critical)
			lint_err(ls, "extendedKeyUsage must not be critical");
		if (der_expect(&ev, DER_SEQUENCE, &seq) != 0 || ev.len || seq.len == 0) {
			lint_err(ls, "extendedKeyUsage malformed or empty");
			break;
		}
		s = der_inner(&seq);
		while (s.len) {
			if (der_expect(&s, DER_OID, &t) != 0) {
				lint_err(ls, "extendedKeyUsage malformed");
				break;
			}
			unsigned bit = OID_EQ(&t, oid_eku_server)   ? EXT_SERVER_AUTH
				       : OID_EQ(&t, oid_eku_client) ? EXT_CLIENT_AUTH
				       : OID_EQ(&t, oid_eku_email)  ? EXT_EMAIL_PROTECTION
				       : OID_EQ(&t, oid_eku_code)   ? EXT_CODE_SIGNING
								    : 0;
			if (bit == 0 || !(lc->allowed_eku & bit)) {
				der_oid_text(t.val, t.len, txt, sizeof(txt));
				lint_err(ls, "extendedKeyUsage %s outside the CA's policy", txt);
			}
			ls->eku |= bit;
		}
		break;
	case X_SAN:
		if (critical)
			lint_err(ls,
				 "subjectAltName must not be critical when the subject has a CN");
		lint_san(ls, &ev);
		break;
	case X_SKI:
		if (critical || der_expect(&ev, DER_OCTET_STRING, &t) != 0 || ev.len || t.len == 0)
			lint_err(ls, "subjectKeyIdentifier malformed or critical");
		break;
	case X_CP:
		s = ev;
		if (critical || der_expect(&s, DER_SEQUENCE, &seq) != 0 || s.len ||
		    (s = der_inner(&seq), der_expect(&s, DER_SEQUENCE, &t)) != 0 || s.len ||
		    (s = der_inner(&t), der_expect(&s, DER_OID, &t)) != 0 || s.len ||
		    (!OID_EQ(&t, oid_cabf_dv) && !OID_EQ(&t, oid_cabf_ov)))
			lint_err(
			    ls, "certificatePolicies must hold one CA/B Forum DV or OV identifier");
		ls->cp = 1;
		break;
	case X_AIA:
	case X_CRLDP:
		if (critical || der_expect(&ev, DER_SEQUENCE, &seq) != 0 || ev.len || seq.len == 0)
			lint_err(ls, "%s malformed or critical",
				 which == X_AIA ? "authorityInfoAccess" : "cRLDistributionPoints");
		break;
	case X_AKI:
		if (critical || der_expect(&ev, DER_SEQUENCE, &seq) != 0 || ev.len) {
			lint_err(ls, "authorityKeyIdentifier malformed or critical");
			break;
		}
		s = der_inner(&seq);
		if (der_next(&s, &t) != 0 || t.tag != 0x80 || s.len || t.len != lc->aki_len ||
		    memcmp(t.val, lc->aki, t.len) != 0)
			lint_err(ls, "authorityKeyIdentifier is not the issuer's key identifier");
		break;
	}
}

int
lint_tbs(const unsigned char *tbs, size_t len, const struct lint_ctx *lc, struct violations *vs)
{
	struct lint_state ls;
	struct der d = {tbs, len}, in, vd, x;
	struct der_tlv seq, ver, serial, alg, issuer, validity, nbt, nat, subject, spki, exts,
	    exseq, ext, kalg, koid, vint;
	time_t nb = 0, na = 0;
	int i;
	static const char *const xn[] = {"basicConstraints",     "keyUsage",
					 "extendedKeyUsage",     "subjectAltName",
					 "subjectKeyIdentifier", "authorityKeyIdentifier"};
	enum { X_REQUIRED = X_AKI + 1 };

	memset(&ls, 0, sizeof(ls));
	ls.vs = vs;
	if (der_expect(&d, DER_SEQUENCE, &seq) != 0 || d.len) {
		lint_err(&ls, "TBSCertificate is not one DER SEQUENCE");
		return -1;
	}
	in = der_inner(&seq);
	if (der_expect(&in, DER_CTX0, &ver) != 0 || (vd = der_inner(&ver), 0) ||
	    der_expect(&vd, DER_INTEGER, &vint) != 0 || vd.len || vint.len != 1 ||
	    vint.val[0] != 2) {
		lint_err(&ls, "version must be v3");
		return -1;
	}
	if (der_expect(&in, DER_INTEGER, &serial) != 0 ||
	    der_expect(&in, DER_SEQUENCE, &alg) != 0 ||
	    der_expect(&in, DER_SEQUENCE, &issuer) != 0 ||
	    der_expect(&in, DER_SEQUENCE, &validity) != 0 ||
	    der_expect(&in, DER_SEQUENCE, &subject) != 0 ||
	    der_expect(&in, DER_SEQUENCE, &spki) != 0 || der_expect(&in, DER_CTX3, &exts) != 0 ||
	    in.len) {
		lint_err(&ls, "TBSCertificate structure malformed or has unexpected fields");
		return -1;
	}
	if (serial.val[0] & 0x80)
		lint_err(&ls, "serial number is negative");
	if (serial.len > SERIAL_MAX_OCTETS)
		lint_err(&ls, "serial number longer than %d octets", SERIAL_MAX_OCTETS);
	if (serial.len < SERIAL_MIN_OCTETS)
		lint_err(&ls, "serial number shorter than %d octets (128 random bits)",
			 SERIAL_MIN_OCTETS);
	if (DER_TLV_FULL_LEN(&alg) != lc->sigalg_len || memcmp(alg.hdr, lc->sigalg, lc->sigalg_len))
		lint_err(&ls, "signature algorithm is not the CA's");
	if (DER_TLV_FULL_LEN(&issuer) != lc->issuer_len ||
	    memcmp(issuer.hdr, lc->issuer, lc->issuer_len))
		lint_err(&ls, "issuer is not the CA's subject");
	vd = der_inner(&validity);
	if (der_next(&vd, &nbt) != 0 || der_next(&vd, &nat) != 0 || vd.len ||
	    der_time_parse(&nbt, &nb) != 0 || der_time_parse(&nat, &na) != 0) {
		lint_err(
		    &ls,
		    "validity times malformed (UTCTime before 2050, GeneralizedTime after, Z)");
	} else {
		if (na <= nb)
			lint_err(&ls, "notAfter is not after notBefore");
		if (nb < lc->issuer_not_before)
			lint_err(&ls, "notBefore precedes the issuer's notBefore");
		if (na > lc->issuer_not_after)
			lint_err(&ls, "notAfter is after the issuer's notAfter");
		if (nb > lc->now || nb < lc->now - ISSUE_BACKDATE_S - CLOCK_SLACK_S)
			lint_err(&ls, "notBefore is not within the %d s backdate of now",
				 ISSUE_BACKDATE_S);
		if (na - nb + 1 > (time_t)lc->validity_days * DAY_S)
			lint_err(&ls, "validity period longer than the requested %d days",
				 lc->validity_days);
	}
	lint_subject(&ls, &subject);
	x = der_inner(&spki);
	if (der_expect(&x, DER_SEQUENCE, &kalg) != 0 || (vd = der_inner(&kalg), 0) ||
	    der_expect(&vd, DER_OID, &koid) != 0) {
		lint_err(&ls, "subjectPublicKeyInfo malformed");
	} else {
		ls.key_type = OID_EQ(&koid, oid_rsa_encryption)  ? KT_RSA
			      : OID_EQ(&koid, oid_ec_public_key) ? KT_EC
			      : OID_EQ(&koid, oid_ed25519)       ? KT_ED25519
								 : 0;
		if (ls.key_type == 0)
			lint_err(&ls, "subject public key algorithm not issued");
	}
	x = der_inner(&exts);
	if (der_expect(&x, DER_SEQUENCE, &exseq) != 0 || x.len) {
		lint_err(&ls, "extensions malformed");
		return -1;
	}
	x = der_inner(&exseq);
	while (x.len) {
		if (der_expect(&x, DER_SEQUENCE, &ext) != 0) {
			lint_err(&ls, "extension malformed");
			return -1;
		}
		lint_extension(&ls, &ext, lc);
	}
	for (i = 0; i < X_REQUIRED; i++)
		if (i != X_SAN && !ls.seen[i])
			lint_err(&ls, "%s missing", xn[i]);
	if (lc->cabf && (ls.eku & EXT_SERVER_AUTH) && !ls.cp)
		lint_err(&ls,
			 "server_auth certificate without certificatePolicies (CA/Browser Forum "
			 "profile)");
	if (!lc->cabf && ls.cp)
		lint_err(&ls, "certificatePolicies with CA/Browser Forum identifiers from a CA "
			      "without the cabf_tls profile");
	if ((ls.eku & EXT_SERVER_AUTH) && ls.san_dns + ls.san_ip == 0)
		lint_err(&ls, "server_auth certificate without a DNS or IP subjectAltName");
	if (ls.cn != NULL && !ls.san_cn_match && (ls.seen[X_SAN] || (ls.eku & EXT_SERVER_AUTH)) &&
	    (dns_name_like((const char *)ls.cn, ls.cn_len) || memchr(ls.cn, '@', ls.cn_len) ||
	     (ls.eku & EXT_SERVER_AUTH)))
		lint_err(&ls, "CN is not among the subjectAltNames");
	return ls.errors ? -1 : 0;
}
