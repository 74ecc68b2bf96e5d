/*
 * Certificate profile: the TBSCertificate is built only from validated byte
 * spans of the CSR (subject, public key, SANs) and fixed, pre-encoded
 * extensions. Nothing from the CSR's extensionRequest is copied.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "der.h"
#include "issue_int.h"
#include "oids.h"

#define UTCTIME_LAST_YEAR 2049 /* RFC 5280 4.1.2.5: UTCTime through 2049 */
#define UTCTIME_FIRST_YEAR 1950
#define SKI_LEN 20
#define TBS_STACK 2048

/* Fixed extensions, DER. */
static const unsigned char ext_bc_leaf[] = {0x30, 0x0c, 0x06, 0x03, 0x55, 0x1d, 0x13,
					    0x01, 0x01, 0xff, 0x04, 0x02, 0x30, 0x00};
static const unsigned char ext_ku_sig[] = {/* digitalSignature */
					   0x30, 0x0e, 0x06, 0x03, 0x55, 0x1d, 0x0f, 0x01,
					   0x01, 0xff, 0x04, 0x04, 0x03, 0x02, 0x07, 0x80};
static const unsigned char ext_ku_rsa[] = {/* digitalSignature, keyEncipherment */
					   0x30, 0x0e, 0x06, 0x03, 0x55, 0x1d, 0x0f, 0x01,
					   0x01, 0xff, 0x04, 0x04, 0x03, 0x02, 0x05, 0xa0};
static const unsigned char version_v3[] = {0xa0, 0x03, 0x02, 0x01, 0x02};

size_t
der_time_encode(time_t t, unsigned char *out)
{
	struct tm tm;
	char buf[20];
	int year, n;

	gmtime_r(&t, &tm);
	year = tm.tm_year + 1900;
	if (year >= UTCTIME_FIRST_YEAR && year <= UTCTIME_LAST_YEAR) {
		n = snprintf(buf, sizeof(buf), "%02d%02d%02d%02d%02d%02dZ", year % 100,
			     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		out[0] = DER_UTCTIME;
	} else {
		n = snprintf(buf, sizeof(buf), "%04d%02d%02d%02d%02d%02dZ", year, tm.tm_mon + 1,
			     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		out[0] = DER_GENERALIZEDTIME;
	}
	out[1] = (unsigned char)n;
	memcpy(out + 2, buf, (size_t)n);
	return (size_t)n + 2;
}

static int
digits(const unsigned char *p, int n)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

int
der_time_parse(const struct der_tlv *t, time_t *out)
{
	const unsigned char *p = t->val;
	struct tm tm;
	int year, off;

	memset(&tm, 0, sizeof(tm));
	if (t->tag == DER_UTCTIME && t->len == 13) {
		year = digits(p, 2);
		if (year < 0)
			return -1;
		year += year < 50 ? 2000 : 1900;
		off = 2;
	} else if (t->tag == DER_GENERALIZEDTIME && t->len == 15) {
		year = digits(p, 4);
		if (year < 0 || (year >= UTCTIME_FIRST_YEAR && year <= UTCTIME_LAST_YEAR))
			return -1; /* RFC 5280: GeneralizedTime only from 2050 */
		off = 4;
	} else {
		return -1;
	}
	if (p[t->len - 1] != 'Z')
		return -1;
	tm.tm_year = year - 1900;
	tm.tm_mon = digits(p + off, 2) - 1;
	tm.tm_mday = digits(p + off + 2, 2);
	tm.tm_hour = digits(p + off + 4, 2);
	tm.tm_min = digits(p + off + 6, 2);
	tm.tm_sec = digits(p + off + 8, 2);
	if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour < 0 || tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 || tm.tm_sec < 0 ||
	    tm.tm_sec > 59)
		return -1;
	*out = timegm(&tm);
	return 0;
}

static void
put_oid(struct dbuf *b, const unsigned char *oid, size_t n)
{
	dbuf_tlv(b, DER_OID, oid, n);
}

/* extnValue of the SAN: CN (when it joins) first, then the CSR's names in order. */
static void
put_san(struct dbuf *b, const struct csr *c, const struct plan *plan)
{
	size_t m = dbuf_begin(b), i;
	const struct name_attr *cn = NULL;

	for (i = 0; i < c->nattrs && cn == NULL; i++)
		if (c->attrs[i].kind == NA_CN)
			cn = &c->attrs[i];
	if (cn != NULL && plan->cn_san == CN_SAN_DNS)
		dbuf_tlv(b, 0x82, cn->utf8, cn->utf8_len);
	else if (cn != NULL && plan->cn_san == CN_SAN_EMAIL)
		dbuf_tlv(b, 0x81, cn->utf8, cn->utf8_len);
	else if (plan->cn_san == CN_SAN_IP)
		dbuf_tlv(b, 0x87, plan->cn_ip, plan->cn_ip_len);
	for (i = 0; i < c->ndns; i++)
		dbuf_tlv(b, 0x82, c->dns[i].raw, c->dns[i].raw_len);
	for (i = 0; i < c->nip; i++)
		dbuf_tlv(b, 0x87, c->ip[i].raw, c->ip[i].raw_len);
	for (i = 0; i < c->nemail; i++)
		dbuf_tlv(b, 0x81, c->email[i].raw, c->email[i].raw_len);
	for (i = 0; i < c->nuri; i++)
		dbuf_tlv(b, 0x86, c->uri[i].raw, c->uri[i].raw_len);
	dbuf_end(b, DER_SEQUENCE, m);
}

int
profile_build_tbs(const struct csr *c, const struct plan *plan, const struct tbs_params *tp,
		  struct dbuf *out)
{
	unsigned char t[24], ski[EVP_MAX_MD_SIZE];
	unsigned skilen = 0;
	size_t tbs, m, ext, e, v, n;
	int has_san;

	has_san = c->ndns + c->nip + c->nemail + c->nuri > 0 || plan->cn_san != CN_SAN_NONE;
	if (EVP_Digest(c->pubkey_bits, c->pubkey_bits_len, ski, &skilen, issue_md(160), NULL) <=
		0 ||
	    skilen != SKI_LEN)
		return -1;
	tbs = dbuf_begin(out);
	dbuf_put(out, version_v3, sizeof(version_v3));
	dbuf_tlv(out, DER_INTEGER, tp->serial, tp->serial_len);
	dbuf_put(out, tp->sigalg, tp->sigalg_len);
	dbuf_put(out, tp->issuer, tp->issuer_len);
	v = dbuf_begin(out);
	n = der_time_encode(tp->not_before, t);
	dbuf_put(out, t, n);
	n = der_time_encode(tp->not_after, t);
	dbuf_put(out, t, n);
	dbuf_end(out, DER_SEQUENCE, v);
	subject_encode(c, plan, out);
	dbuf_put(out, c->spki, c->spki_len);

	ext = dbuf_begin(out);
	e = dbuf_begin(out);
	dbuf_put(out, ext_bc_leaf, sizeof(ext_bc_leaf));
	if (c->info.key_type == KT_RSA)
		dbuf_put(out, ext_ku_rsa, sizeof(ext_ku_rsa));
	else
		dbuf_put(out, ext_ku_sig, sizeof(ext_ku_sig));
	/* extendedKeyUsage, not critical */
	m = dbuf_begin(out);
	put_oid(out, oid_ext_eku, sizeof(oid_ext_eku));
	n = dbuf_begin(out);
	v = dbuf_begin(out);
	if (plan->eku & EXT_SERVER_AUTH)
		put_oid(out, oid_eku_server, sizeof(oid_eku_server));
	if (plan->eku & EXT_CLIENT_AUTH)
		put_oid(out, oid_eku_client, sizeof(oid_eku_client));
	if (plan->eku & EXT_CODE_SIGNING)
		put_oid(out, oid_eku_code, sizeof(oid_eku_code));
	if (plan->eku & EXT_EMAIL_PROTECTION)
		put_oid(out, oid_eku_email, sizeof(oid_eku_email));
	dbuf_end(out, DER_SEQUENCE, v);
	dbuf_end(out, DER_OCTET_STRING, n);
	dbuf_end(out, DER_SEQUENCE, m);
	/* subjectAltName: critical only when the subject is empty (never: a CN is required) */
	if (has_san) {
		m = dbuf_begin(out);
		put_oid(out, oid_ext_san, sizeof(oid_ext_san));
		n = dbuf_begin(out);
		put_san(out, c, plan);
		dbuf_end(out, DER_OCTET_STRING, n);
		dbuf_end(out, DER_SEQUENCE, m);
	}
	/* certificatePolicies for TLS servers of a cabf_tls CA: the CA/B Forum DV or OV
	 * identifier; a private CA asserts no policy */
	if (plan->cabf) {
		m = dbuf_begin(out);
		put_oid(out, oid_ext_cp, sizeof(oid_ext_cp));
		n = dbuf_begin(out);
		v = dbuf_begin(out);
		size_t pi = dbuf_begin(out);
		if (plan->cabf_ov)
			put_oid(out, oid_cabf_ov, sizeof(oid_cabf_ov));
		else
			put_oid(out, oid_cabf_dv, sizeof(oid_cabf_dv));
		dbuf_end(out, DER_SEQUENCE, pi);
		dbuf_end(out, DER_SEQUENCE, v);
		dbuf_end(out, DER_OCTET_STRING, n);
		dbuf_end(out, DER_SEQUENCE, m);
	}
	if (tp->extra_ext_len)
		dbuf_put(out, tp->extra_ext, tp->extra_ext_len);
	/* subjectKeyIdentifier: SHA-1 of the subjectPublicKey bits (RFC 5280 4.2.1.2 method 1) */
	m = dbuf_begin(out);
	put_oid(out, oid_ext_ski, sizeof(oid_ext_ski));
	n = dbuf_begin(out);
	dbuf_tlv(out, DER_OCTET_STRING, ski, skilen);
	dbuf_end(out, DER_OCTET_STRING, n);
	dbuf_end(out, DER_SEQUENCE, m);
	/* authorityKeyIdentifier: keyIdentifier [0] only */
	m = dbuf_begin(out);
	put_oid(out, oid_ext_aki, sizeof(oid_ext_aki));
	n = dbuf_begin(out);
	v = dbuf_begin(out);
	dbuf_tlv(out, 0x80, tp->aki, tp->aki_len);
	dbuf_end(out, DER_SEQUENCE, v);
	dbuf_end(out, DER_OCTET_STRING, n);
	dbuf_end(out, DER_SEQUENCE, m);

	dbuf_end(out, DER_SEQUENCE, e);
	dbuf_end(out, DER_CTX3, ext);
	dbuf_end(out, DER_SEQUENCE, tbs);
	return out->err ? -1 : 0;
}
