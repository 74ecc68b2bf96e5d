/*
 * CSR intake: PEM or DER, strict DER parse of PKCS#10 with our own reader
 * (byte spans kept for the certificate builder): subject, SANs, requested
 * extensions. PEM, strings and keys are read by pem.c, asn1str.c and
 * pubkey.c (csr_int.h).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csr_int.h"
#include "oids.h"

#define ARENA_FACTOR 8   /* arena bytes per DER byte: worst case UTF-8 growth + texts */
#define ARENA_EXTRA 4096 /* pointer arrays and fixed texts */

/* ---- arena ---- */

static void *
arena_alloc(struct csr *c, size_t n)
{
	void *p;

	n = (n + 7) & ~(size_t)7;
	if (n > c->arena_cap - c->arena_len)
		return NULL;
	p = c->arena + c->arena_len;
	c->arena_len += n;
	return p;
}

static char *
arena_strndup(struct csr *c, const void *s, size_t n)
{
	char *p = arena_alloc(c, n + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* A DER string as UTF-8 in c's arena (asn1str_to_utf8); NULL when the arena is exhausted. */
static char *
csr_string(struct csr *c, unsigned tag, const unsigned char *v, size_t n, size_t *outlen,
	   unsigned *flags)
{
	char *out = arena_alloc(c, ASN1STR_UTF8_MAX(n));

	if (out != NULL)
		asn1str_to_utf8(out, tag, v, n, outlen, flags);
	return out;
}

/* Reads one Name into c->attrs. Returns 0 or -1 when malformed. */
static int
name_parse(struct csr *c, const struct der_tlv *name)
{
	struct der d = der_inner(name), rd, ad;
	struct der_tlv rdn, atv, oid, val;
	struct name_attr *na;

	while (d.len) {
		if (der_expect(&d, DER_SET, &rdn) != 0 || rdn.len == 0)
			return -1;
		rd = der_inner(&rdn);
		while (rd.len) {
			if (der_expect(&rd, DER_SEQUENCE, &atv) != 0)
				return -1;
			ad = der_inner(&atv);
			if (der_expect(&ad, DER_OID, &oid) != 0 || der_next(&ad, &val) != 0 ||
			    ad.len)
				return -1;
			if (c->nattrs == CSR_MAX_ATTRS)
				return -1;
			na = &c->attrs[c->nattrs++];
			na->kind = OID_EQ(&oid, oid_cn)              ? NA_CN
				   : OID_EQ(&oid, oid_o)             ? NA_O
				   : OID_EQ(&oid, oid_ou)            ? NA_OU
				   : OID_EQ(&oid, oid_c)             ? NA_C
				   : OID_EQ(&oid, oid_st)            ? NA_ST
				   : OID_EQ(&oid, oid_l)             ? NA_L
				   : OID_EQ(&oid, oid_email_address) ? NA_EMAIL
				   : OID_EQ(&oid, oid_serial_number) ? NA_SERIAL
								     : NA_OTHER;
			der_oid_text(oid.val, oid.len, na->oid, sizeof(na->oid));
			na->tag = val.tag;
			na->raw = val.val;
			na->raw_len = val.len;
			if ((val.tag & 0x20) != 0) /* constructed values: not a string */
				return -1;
			if ((na->utf8 = csr_string(c, val.tag, val.val, val.len, &na->utf8_len,
						   &na->flags)) == NULL)
				return -1;
			/* RFC 5280 string types: C PrintableString, emailAddress IA5String, the
			 * rest DirectoryString (UTF8String or PrintableString for new
			 * certificates). */
			if (na->kind == NA_C &&
			    (val.tag != DER_PRINTABLESTRING || na->utf8_len != 2))
				na->flags |= STR_BAD_TYPE;
			else if (na->kind == NA_EMAIL && val.tag != DER_IA5STRING)
				na->flags |= STR_BAD_TYPE;
			else if (na->kind != NA_C && na->kind != NA_EMAIL && na->kind != NA_OTHER &&
				 val.tag != DER_UTF8STRING && val.tag != DER_PRINTABLESTRING)
				na->flags |= STR_BAD_TYPE;
			if (na->kind == NA_CN)
				c->ncn++;
		}
	}
	return 0;
}

/* RFC 4514 one-line subject, most significant last (CN first as usually printed). */
static const char *
subject_line(struct csr *c)
{
	size_t cap = 1, i, o = 0;
	char *s;

	for (i = 0; i < c->nattrs; i++)
		cap += 2 * c->attrs[i].utf8_len + CSR_OID_TEXT + 2;
	if ((s = arena_alloc(c, cap)) == NULL)
		return NULL;
	for (i = c->nattrs; i-- > 0;) {
		const struct name_attr *na = &c->attrs[i];
		const char *key = subject_attr_label(na->kind);

		if (o)
			s[o++] = ',';
		o += (size_t)sprintf(s + o, "%s=", key != NULL ? key : na->oid);
		o += rfc4514_escape(s + o, na->utf8, na->utf8_len);
	}
	s[o] = '\0';
	return s;
}

/* Reads GeneralNames of a SAN extension. Returns 0 or -1 when malformed. */
static int
san_parse(struct csr *c, const unsigned char *v, size_t n)
{
	struct der d = {v, n}, s, tmp;
	struct der_tlv seq, gn;
	struct san *sn;
	size_t count = 0, idx[4] = {0, 0, 0, 0}, kind[4] = {0, 0, 0, 0};
	char ipbuf[INET6_ADDRSTRLEN];
	unsigned flags;

	if (der_expect(&d, DER_SEQUENCE, &seq) != 0 || d.len || seq.len == 0)
		return -1;
	/* First pass: count, to size the arrays. */
	s = der_inner(&seq);
	tmp = s;
	while (tmp.len) {
		if (der_next(&tmp, &gn) != 0)
			return -1;
		kind[gn.tag == 0x82 ? 0 : gn.tag == 0x81 ? 1 : gn.tag == 0x86 ? 2 : 3]++;
		count++;
	}
	if (c->sans != NULL) /* a second SAN extension is reported as a duplicate, not merged */
		return 0;
	/* Off the arena: a SAN of 6 DER bytes takes far more than the arena's share. */
	if ((c->sans = calloc(count, sizeof(struct san))) == NULL)
		return -1;
	c->dns = c->sans;
	c->email = c->dns + kind[0];
	c->uri = c->email + kind[1];
	c->ip = c->uri + kind[2];
	while (s.len) {
		der_next(&s, &gn);
		switch (gn.tag) {
		case 0x82: /* dNSName */
		case 0x81: /* rfc822Name */
		case 0x86: /* uniformResourceIdentifier */
			sn = gn.tag == 0x82   ? &c->dns[idx[0]++]
			     : gn.tag == 0x81 ? &c->email[idx[1]++]
					      : &c->uri[idx[2]++];
			sn->raw = gn.val;
			sn->raw_len = gn.len;
			if ((sn->text = csr_string(c, DER_IA5STRING, gn.val, gn.len, &sn->len,
						   &flags)) == NULL)
				return -1;
			sn->flags = flags;
			break;
		case 0x87: /* iPAddress */
			sn = &c->ip[idx[3]++];
			sn->raw = gn.val;
			sn->raw_len = gn.len;
			sn->flags = 0;
			if (gn.len == 4 || gn.len == 16) {
				inet_ntop(gn.len == 4 ? AF_INET : AF_INET6, gn.val, ipbuf,
					  sizeof(ipbuf));
				sn->text = arena_strndup(c, ipbuf, strlen(ipbuf));
			} else {
				sn->text = "(invalid address length)";
				sn->flags = STR_BAD_CHARS;
			}
			if (sn->text == NULL)
				return -1;
			sn->len = strlen(sn->text);
			break;
		default:
			if (gn.tag != 0xa0 && gn.tag != 0xa1 && gn.tag != 0xa3 && gn.tag != 0xa4 &&
			    gn.tag != 0xa5 && gn.tag != 0x88)
				return -1;
			c->nother_sans++;
			break;
		}
	}
	c->ndns = idx[0], c->nemail = idx[1], c->nuri = idx[2], c->nip = idx[3];
	return 0;
}

static int
eku_parse(struct csr *c, const unsigned char *v, size_t n)
{
	struct der d = {v, n}, s;
	struct der_tlv seq, oid;

	if (der_expect(&d, DER_SEQUENCE, &seq) != 0 || d.len || seq.len == 0)
		return -1;
	s = der_inner(&seq);
	while (s.len) {
		if (der_expect(&s, DER_OID, &oid) != 0)
			return -1;
		if (OID_EQ(&oid, oid_eku_server))
			c->info.requested_ext |= EXT_SERVER_AUTH;
		else if (OID_EQ(&oid, oid_eku_client))
			c->info.requested_ext |= EXT_CLIENT_AUTH;
		else if (OID_EQ(&oid, oid_eku_email))
			c->info.requested_ext |= EXT_EMAIL_PROTECTION;
		else if (OID_EQ(&oid, oid_eku_code))
			c->info.requested_ext |= EXT_CODE_SIGNING;
		else if (OID_EQ(&oid, oid_eku_any))
			c->eku_any = 1;
		else {
			if (c->eku_unknown++ == 0)
				der_oid_text(oid.val, oid.len, c->eku_unknown_oid,
					     sizeof(c->eku_unknown_oid));
		}
	}
	return 0;
}

static int
bc_parse(struct csr *c, const unsigned char *v, size_t n, int critical)
{
	struct der d = {v, n}, s;
	struct der_tlv seq, b, pl;

	if (der_expect(&d, DER_SEQUENCE, &seq) != 0 || d.len)
		return -1;
	s = der_inner(&seq);
	if (der_peek(&s, DER_BOOLEAN)) {
		if (der_expect(&s, DER_BOOLEAN, &b) != 0 || b.len != 1)
			return -1;
		if (b.val[0]) {
			c->info.requests_ca = 1;
			c->requests_ca_critical = critical;
		}
	}
	if (s.len && (der_expect(&s, DER_INTEGER, &pl) != 0 || (pl.val[0] & 0x80)))
		return -1;
	return s.len ? -1 : 0;
}

/* Reads the extensionRequest's Extensions. Returns 0 or -1 when malformed. */
static int
extensions_parse(struct csr *c, const struct der_tlv *exts)
{
	struct der d = der_inner(exts), ed;
	struct der_tlv ext, oid, crit, val;
	struct csr_ext *ce;
	size_t i;
	int critical, r = 0;

	while (d.len) {
		if (der_expect(&d, DER_SEQUENCE, &ext) != 0)
			return -1;
		ed = der_inner(&ext);
		if (der_expect(&ed, DER_OID, &oid) != 0)
			return -1;
		critical = 0;
		if (der_peek(&ed, DER_BOOLEAN)) {
			/* DER: TRUE is 0xff; FALSE is the DEFAULT, so never encoded */
			if (der_expect(&ed, DER_BOOLEAN, &crit) != 0 || crit.len != 1 ||
			    crit.val[0] != 0xff)
				return -1;
			critical = 1;
		}
		if (der_expect(&ed, DER_OCTET_STRING, &val) != 0 || ed.len)
			return -1;
		if (c->nexts == CSR_MAX_EXTS)
			return -1;
		ce = &c->exts[c->nexts];
		der_oid_text(oid.val, oid.len, ce->oid, sizeof(ce->oid));
		ce->critical = critical;
		ce->known = 1;
		for (i = 0; i < c->nexts; i++)
			if (strcmp(c->exts[i].oid, ce->oid) == 0 && c->dup_ext[0] == '\0')
				snprintf(c->dup_ext, sizeof(c->dup_ext), "%s", ce->oid);
		c->nexts++;
		if (OID_EQ(&oid, oid_ext_san))
			r = san_parse(c, val.val, val.len);
		else if (OID_EQ(&oid, oid_ext_eku))
			r = eku_parse(c, val.val, val.len);
		else if (OID_EQ(&oid, oid_ext_bc))
			r = bc_parse(c, val.val, val.len, critical);
		else if (!OID_EQ(&oid, oid_ext_ku) && !OID_EQ(&oid, oid_ext_ski))
			ce->known = 0; /* content ignored; refused by policy when critical */
		if (r != 0)
			return -1;
	}
	return 0;
}

/* Reads the [0] attributes. Returns 0, -1 malformed. */
static int
attributes_parse(struct csr *c, const struct der_tlv *attrs, const char **why)
{
	struct der d = der_inner(attrs), ad, vd;
	struct der_tlv attr, oid, set, val;
	int seen_extreq = 0, nattrs = 0;

	while (d.len) {
		if (nattrs++ == CSR_MAX_REQ_ATTRS) {
			*why = "more than " CSR_MAX_REQ_ATTRS_TEXT " attributes";
			return -1;
		}
		if (der_expect(&d, DER_SEQUENCE, &attr) != 0)
			return -1;
		ad = der_inner(&attr);
		if (der_expect(&ad, DER_OID, &oid) != 0 || der_expect(&ad, DER_SET, &set) != 0 ||
		    ad.len || set.len == 0) /* values: SET SIZE (1..MAX) */
			return -1;
		if (!OID_EQ(&oid, oid_extension_request)) {
			vd =
			    der_inner(&set); /* other attributes (challengePassword, ...) ignored */
			while (vd.len)
				if (der_next(&vd, &val) != 0)
					return -1;
			continue;
		}
		if (seen_extreq++) {
			*why = "two extensionRequest attributes";
			return -1;
		}
		vd = der_inner(&set);
		if (der_expect(&vd, DER_SEQUENCE, &val) != 0 || vd.len) {
			*why = "extensionRequest must hold exactly one Extensions value";
			return -1;
		}
		if (extensions_parse(c, &val) != 0) {
			*why = "malformed extension in extensionRequest";
			return -1;
		}
	}
	return 0;
}

/* Fills c->info from the parsed fields. 0, or -1 without memory. */
static int
csr_fill_info(struct csr *c)
{
	struct csr_info *ci = &c->info;
	const char **lists[4], **l;
	struct san *src[4] = {c->dns, c->ip, c->email, c->uri};
	size_t cnt[4] = {c->ndns, c->nip, c->nemail, c->nuri}, i, k;
	const char **slot[NA_OTHER + 1] = {
	    &ci->cn, &ci->o, &ci->ou,   &ci->c,
	    &ci->st, &ci->l, &ci->email}; /* serialNumber, others: not listed */

	for (i = 0; i < c->nattrs; i++) /* first of each kind */
		if (slot[c->attrs[i].kind] != NULL && *slot[c->attrs[i].kind] == NULL)
			*slot[c->attrs[i].kind] = c->attrs[i].utf8;
	if ((l = c->san_lists = calloc(cnt[0] + cnt[1] + cnt[2] + cnt[3] + 4, sizeof(*l))) == NULL)
		return -1;
	for (k = 0; k < 4; k++) {
		lists[k] = l;
		for (i = 0; i < cnt[k]; i++)
			*l++ = src[k][i].text;
		*l++ = NULL;
	}
	ci->dns_sans = lists[0];
	ci->ip_sans = lists[1];
	ci->email_sans = lists[2];
	ci->uri_sans = lists[3];
	ci->nsans = c->ndns + c->nip + c->nemail + c->nuri + c->nother_sans;
	ci->subject = subject_line(c);
	return ci->subject != NULL ? 0 : -1;
}

/*
 * Parses the DER CSR in c->der. Returns 0, or -1 with violations.
 */
static int
csr_parse_der(struct csr *c, struct violations *vs)
{
	struct der d = {c->der, c->der_len}, o, ri;
	struct der_tlv outer, info, ver, name, spki, attrs, alg, sig, extra;
	struct sigalg sa;
	struct pubkey pk;
	const char *why = NULL;
	char whybuf[200];
	long version;
	int r, rc = -1, keybad = 0;

	memset(&pk, 0, sizeof(pk));
	if (der_expect(&d, DER_SEQUENCE, &outer) != 0) {
		violations_add(vs, "csr_malformed", "csr_data",
			       "CSR is not a complete DER SEQUENCE (truncated or not a CSR)");
		return -1;
	}
	if (d.len) {
		if (der_expect(&d, DER_SEQUENCE, &extra) == 0 && d.len == 0)
			violations_add(
			    vs, "csr_multiple", "csr_data",
			    "input holds a second DER object after the CSR: send exactly one CSR");
		else
			violations_add(vs, "csr_trailing_data", "csr_data",
				       "%zu bytes of data after the CSR's DER encoding",
				       c->der_len - DER_TLV_FULL_LEN(&outer));
		return -1;
	}
	o = der_inner(&outer);
	if (der_expect(&o, DER_SEQUENCE, &info) != 0 || der_expect(&o, DER_SEQUENCE, &alg) != 0 ||
	    der_expect(&o, DER_BIT_STRING, &sig) != 0 || o.len) {
		violations_add(
		    vs, "csr_malformed", "csr_data",
		    "not a PKCS#10 CertificationRequest (expected info, algorithm, signature)");
		return -1;
	}
	ri = der_inner(&info);
	if (der_expect(&ri, DER_INTEGER, &ver) != 0 || der_expect(&ri, DER_SEQUENCE, &name) != 0 ||
	    der_expect(&ri, DER_SEQUENCE, &spki) != 0) {
		violations_add(vs, "csr_malformed", "csr_data",
			       "CertificationRequestInfo malformed (version, subject, public key)");
		return -1;
	}
	if (der_small_uint(&ver, &version) != 0 || version != 0) {
		violations_add(vs, "csr_malformed", "csr_data",
			       "CSR version must be 0 (v1), got %s%ld",
			       version < 0 ? "a negative value " : "",
			       der_small_uint(&ver, &version) == 0 ? version : -1L);
		return -1;
	}
	if (ri.len) {
		if (der_expect(&ri, DER_CTX0, &attrs) != 0 || ri.len) {
			violations_add(
			    vs, "csr_malformed", "csr_data",
			    "CertificationRequestInfo: malformed attributes or extra data");
			return -1;
		}
		if (attributes_parse(c, &attrs, &why) != 0) {
			violations_add(vs, "csr_malformed", "csr_data", "CSR attributes: %s",
				       why ? why : "malformed attribute");
			return -1;
		}
	}
	c->subject = name.hdr;
	c->subject_len = DER_TLV_FULL_LEN(&name);
	c->spki = spki.hdr;
	c->spki_len = DER_TLV_FULL_LEN(&spki);
	if (name_parse(c, &name) != 0) {
		violations_add(vs, "csr_malformed", "csr_data", "CSR subject name is malformed");
		return -1;
	}
	if ((r = spki_parse(c, &spki, &pk, vs)) == -1) {
		violations_add(vs, "csr_malformed", "csr_data", "CSR public key is malformed");
		return -1;
	}
	keybad = r != 0;
	whybuf[0] = '\0';
	r = sigalg_parse(&alg, &sa, whybuf, sizeof(whybuf));
	if (r == -1) {
		violations_add(vs, "csr_malformed", "csr_data",
			       "CSR signature algorithm is malformed");
		return -1;
	}
	if (r == -2) {
		violations_add(vs, "signature_algorithm_not_allowed", "csr_data", "%s", whybuf);
		return -1;
	}
	if (keybad)
		return -1;
	c->info.sig_alg = sa.name;
	if (sig.val[0] != 0) {
		violations_add(vs, "csr_malformed", "csr_data",
			       "CSR signature BIT STRING has unused bits");
		return -1;
	}
	if ((sa.kind == SIG_RSA || sa.kind == SIG_PSS) != (c->info.key_type == KT_RSA) ||
	    (sa.kind == SIG_ECDSA) != (c->info.key_type == KT_EC)) {
		violations_add(vs, "csr_signature_invalid", "csr_data",
			       "signature algorithm %s does not match the %s public key", sa.name,
			       key_type_name(c->info.key_type));
		return -1;
	}
	r = signature_verify(&c->info, &pk, &sa, info.hdr, DER_TLV_FULL_LEN(&info), sig.val + 1,
			     sig.len - 1);
	if (r == -1) {
		violations_add(vs, "csr_malformed", "csr_data",
			       "CSR public key is invalid (not a valid %s key)",
			       c->info.key_type == KT_EC ? "EC point on the curve" : "public");
		return -1;
	}
	if (r == 0) {
		violations_add(vs, "csr_signature_invalid", "csr_data",
			       "CSR signature does not verify with its public key (%s): the CSR "
			       "was altered or "
			       "signed with another key",
			       sa.name);
		return -1;
	}
	if (csr_fill_info(c) != 0) {
		violations_add(vs, "internal_error", "csr_data", "out of memory");
		return -1;
	}
	rc = 0;
	return rc;
}

static int
csr_from_der(unsigned char *der, size_t len, struct csr **out, struct violations *vs)
{
	struct csr *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		free(der);
		violations_add(vs, "internal_error", "csr_data", "out of memory");
		return -1;
	}
	c->der = der;
	c->der_len = len;
	c->arena_cap = len * ARENA_FACTOR + ARENA_EXTRA;
	if ((c->arena = malloc(c->arena_cap)) == NULL) {
		csr_free(c);
		violations_add(vs, "internal_error", "csr_data", "out of memory");
		return -1;
	}
	if (csr_parse_der(c, vs) != 0) {
		csr_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

int
csr_parse(const void *buf, size_t len, struct csr **out, struct violations *vs)
{
	const unsigned char *s = buf;
	unsigned char *der = NULL;
	size_t der_len = 0;

	if (len > CSR_MAX_BYTES) {
		violations_add(vs, "csr_too_large", "csr_data",
			       "CSR is %zu bytes; the limit is %d bytes", len, CSR_MAX_BYTES);
		return -1;
	}
	if (len == 0 || buf == NULL) {
		violations_add(vs, "csr_malformed", "csr_data", "CSR is empty");
		return -1;
	}
	if (s[0] == DER_SEQUENCE) {
		if ((der = malloc(len)) == NULL) {
			violations_add(vs, "internal_error", "csr_data", "out of memory");
			return -1;
		}
		memcpy(der, s, len);
		der_len = len;
	} else if (pem_decode(s, len, &der, &der_len, vs) != 0) {
		return -1;
	}
	return csr_from_der(der, der_len, out, vs);
}

void
csr_free(struct csr *c)
{
	if (c == NULL)
		return;
	free(c->der);
	free(c->arena);
	free(c->sans);
	free(c->san_lists);
	free(c);
}

const struct csr_info *
csr_info(const struct csr *c)
{
	return &c->info;
}

char *
csr_pem(const struct csr *c)
{
	size_t len = 0;

	return pem_append(NULL, &len, "CERTIFICATE REQUEST", c->der, c->der_len);
}
