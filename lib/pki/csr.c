/*
 * CSR intake: PEM or DER, strict DER parse of PKCS#10 with our own reader
 * (byte spans kept for the certificate builder), algorithm and key checks,
 * signature verification with per-thread cached OpenSSL contexts.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "der.h"
#include "issue_int.h"
#include "oids.h"

#define PEM_LABEL_REQ "CERTIFICATE REQUEST"
#define PEM_LABEL_NEWREQ "NEW CERTIFICATE REQUEST"
#define RSA_EXPONENT_ALLOWED 65537
#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 4096
#define ARENA_FACTOR 8   /* arena bytes per DER byte: worst case UTF-8 growth + texts */
#define ARENA_EXTRA 4096 /* pointer arrays and fixed texts */
#define ED25519_KEY_LEN 32
#define MAX_DIGEST 64

void
violations_add(struct violations *vs, const char *code, const char *field, const char *fmt, ...)
{
	struct violation *v;
	va_list ap;

	if (vs == NULL)
		return;
	if (vs->n >= VIOLATION_MAX) {
		vs->dropped++;
		return;
	}
	v = &vs->v[vs->n++];
	v->code = code;
	snprintf(v->field, sizeof(v->field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(v->message, sizeof(v->message), fmt, ap);
	va_end(ap);
}

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

/* ---- string conversion ---- */

/* Appends code point cp as UTF-8 to out; returns bytes written. */
static size_t
utf8_put(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

int
str_utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0, k, need;
	uint32_t cp, min;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			need = 1, cp = s[i] & 0x1f, min = 0x80;
		} else if ((s[i] & 0xf0) == 0xe0) {
			need = 2, cp = s[i] & 0x0f, min = 0x800;
		} else if ((s[i] & 0xf8) == 0xf0) {
			need = 3, cp = s[i] & 0x07, min = 0x10000;
		} else {
			return 0;
		}
		if (n - i <= need)
			return 0;
		for (k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}

int
str_printable_char(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       strchr(" '()+,-./:=?", ch) != NULL;
}

/*
 * Converts a DER string (tag, contents) to UTF-8 in the arena and sets flags.
 * Returns the string or NULL when the arena is exhausted.
 */
static char *
string_to_utf8(struct csr *c, unsigned tag, const unsigned char *v, size_t n, size_t *outlen,
	       unsigned *flags)
{
	char *out;
	size_t i, o = 0;
	uint32_t cp;

	*flags = 0;
	if ((out = arena_alloc(c, n * 2 + 4)) == NULL) /* Latin-1 and UCS-2 at most double */
		return NULL;
	switch (tag) {
	case DER_UTF8STRING:
		if (!str_utf8_valid(v, n))
			*flags |= STR_BAD_UTF8;
		memcpy(out, v, n);
		o = n;
		break;
	case DER_PRINTABLESTRING:
	case DER_IA5STRING:
		for (i = 0; i < n; i++) {
			if (v[i] >= 0x80)
				*flags |= STR_BAD_CHARS;
			else if (tag == DER_PRINTABLESTRING && v[i] >= 0x20 && v[i] != 0x7f &&
				 !str_printable_char(v[i]))
				*flags |= STR_BAD_CHARS;
			if (v[i] >= 0x80)
				o +=
				    utf8_put(out + o, v[i]); /* shown as Latin-1, as OpenSSL does */
			else
				out[o++] = (char)v[i];
		}
		break;
	case DER_T61STRING:
		for (i = 0; i < n; i++)
			o += utf8_put(out + o, v[i]);
		break;
	case DER_BMPSTRING:
		if (n % 2)
			*flags |= STR_BAD_UTF8;
		for (i = 0; i + 1 < n; i += 2) {
			cp = ((uint32_t)v[i] << 8) | v[i + 1];
			if (cp >= 0xd800 && cp <= 0xdfff) {
				*flags |= STR_BAD_UTF8;
				continue;
			}
			o += utf8_put(out + o, cp);
		}
		break;
	case DER_UNIVERSALSTRING:
		if (n % 4)
			*flags |= STR_BAD_UTF8;
		for (i = 0; i + 3 < n; i += 4) {
			cp = ((uint32_t)v[i] << 24) | ((uint32_t)v[i + 1] << 16) |
			     ((uint32_t)v[i + 2] << 8) | v[i + 3];
			if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
				*flags |= STR_BAD_UTF8;
				continue;
			}
			o += utf8_put(out + o, cp);
		}
		break;
	default:
		*flags |= STR_BAD_TYPE;
		memcpy(out, v, n);
		o = n;
		break;
	}
	out[o] = '\0';
	for (i = 0; i < o; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			*flags |= STR_CTRL;
	*outlen = o;
	return out;
}

/* ---- base64 / PEM ---- */

static int
b64_val(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

static int
is_space(unsigned char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* Decodes base64 (whitespace ignored, strict padding) into out (>= n*3/4). Returns length or -1. */
static long
b64_decode(const unsigned char *s, size_t n, unsigned char *out, const char **why)
{
	size_t i, o = 0, q = 0, pad = 0;
	uint32_t acc = 0;
	int v;

	for (i = 0; i < n; i++) {
		if (is_space(s[i]))
			continue;
		if (s[i] == '=') {
			pad++;
			if (pad > 2 || q < 2) {
				*why = "misplaced '=' padding";
				return -1;
			}
			continue;
		}
		if (pad) {
			*why = "data after '=' padding";
			return -1;
		}
		if ((v = b64_val(s[i])) < 0) {
			*why = "invalid base64 character";
			return -1;
		}
		acc = (acc << 6) | (uint32_t)v;
		if (++q == 4) {
			out[o++] = (unsigned char)(acc >> 16);
			out[o++] = (unsigned char)(acc >> 8);
			out[o++] = (unsigned char)acc;
			q = 0;
			acc = 0;
		}
	}
	if (pad) {
		if (q + pad != 4) {
			*why = "wrong base64 padding";
			return -1;
		}
		if (q == 2) {
			if (acc & 0xf)
				goto nonzero;
			out[o++] = (unsigned char)(acc >> 4);
		} else {
			if (acc & 0x3)
				goto nonzero;
			out[o++] = (unsigned char)(acc >> 10);
			out[o++] = (unsigned char)(acc >> 2);
		}
	} else if (q != 0) {
		*why = "base64 length is not a multiple of 4";
		return -1;
	}
	return (long)o;
nonzero:
	*why = "non-canonical base64 padding bits";
	return -1;
}

static const unsigned char *
mem_find(const unsigned char *h, size_t hn, const char *needle)
{
	size_t nn = strlen(needle);

	if (nn > hn)
		return NULL;
	return memmem(h, hn, needle, nn);
}

/*
 * Extracts the one CSR from PEM text into a fresh DER buffer.
 * Returns 0 and *der, *der_len (caller frees), or -1 with a violation.
 */
static int
pem_decode(const unsigned char *s, size_t n, unsigned char **der, size_t *der_len,
	   struct violations *vs)
{
	const unsigned char *p = s, *end = s + n, *body, *endline, *after;
	char endmark[64];
	const char *label, *why = NULL;
	unsigned char *out = NULL;
	long dl;
	size_t ll;

	while (p < end && is_space(*p))
		p++;
	if ((size_t)(end - p) < 11 || memcmp(p, "-----BEGIN ", 11) != 0) {
		violations_add(
		    vs, "csr_malformed", "csr_data",
		    "CSR is neither DER nor PEM: expected '-----BEGIN CERTIFICATE REQUEST-----'");
		return -1;
	}
	p += 11;
	if ((size_t)(end - p) >= strlen(PEM_LABEL_REQ "-----") &&
	    memcmp(p, PEM_LABEL_REQ "-----", strlen(PEM_LABEL_REQ "-----")) == 0)
		label = PEM_LABEL_REQ;
	else if ((size_t)(end - p) >= strlen(PEM_LABEL_NEWREQ "-----") &&
		 memcmp(p, PEM_LABEL_NEWREQ "-----", strlen(PEM_LABEL_NEWREQ "-----")) == 0)
		label = PEM_LABEL_NEWREQ;
	else {
		const unsigned char *e = p;
		while (e < end && e - p < 40 && *e != '-' && *e != '\n')
			e++;
		violations_add(vs, "csr_malformed", "csr_data",
			       "PEM block is '%.*s', expected 'CERTIFICATE REQUEST'", (int)(e - p),
			       p);
		return -1;
	}
	body = p + strlen(label) + 5;
	snprintf(endmark, sizeof(endmark), "-----END %s-----", label);
	if ((endline = mem_find(body, (size_t)(end - body), endmark)) == NULL) {
		violations_add(vs, "csr_malformed", "csr_data", "PEM has no '%s' line", endmark);
		return -1;
	}
	if (mem_find(body, (size_t)(endline - body), "-----BEGIN ") != NULL) {
		violations_add(
		    vs, "csr_multiple", "csr_data",
		    "PEM holds a second BEGIN line before the END line: send exactly one CSR");
		return -1;
	}
	if (memchr(body, ':', (size_t)(endline - body)) != NULL) {
		violations_add(vs, "csr_malformed", "csr_data",
			       "PEM headers (e.g. Proc-Type) are not accepted in a CSR");
		return -1;
	}
	after = endline + strlen(endmark);
	ll = (size_t)(end - after);
	while (after < end && is_space(*after))
		after++;
	if (after < end) {
		if (mem_find(after, (size_t)(end - after), "-----BEGIN ") != NULL)
			violations_add(vs, "csr_multiple", "csr_data",
				       "input holds more than one PEM block: send exactly one CSR");
		else
			violations_add(vs, "csr_trailing_data", "csr_data",
				       "%zu bytes of data after the END line",
				       (size_t)(end - after));
		return -1;
	}
	(void)ll;
	if ((out = malloc((size_t)(endline - body) * 3 / 4 + 4)) == NULL) {
		violations_add(vs, "internal_error", "csr_data", "out of memory");
		return -1;
	}
	if ((dl = b64_decode(body, (size_t)(endline - body), out, &why)) <= 0) {
		violations_add(vs, "csr_malformed", "csr_data", "PEM body: %s",
			       why ? why : "empty base64");
		free(out);
		return -1;
	}
	*der = out;
	*der_len = (size_t)dl;
	return 0;
}

/* ---- OpenSSL caches ---- */

#define NCURVES 3

/*
 * Per-thread verification state. For EC, one key per curve serves as a
 * template: each CSR's point is set into it (a cheap provider call, checked
 * to be on the curve) and its verify context, initialised once, is reused.
 * Building a fresh key and context per CSR costs about as much as the
 * verification itself and takes provider locks.
 */
struct vcache {
	EVP_PKEY_CTX *fromdata_ec, *fromdata_rsa;
	EVP_MD_CTX *mdctx; /* for Ed25519 */
	EVP_PKEY *ec_tmpl[NCURVES];
	EVP_PKEY_CTX *ec_vctx[NCURVES];
};

static pthread_once_t csr_once = PTHREAD_ONCE_INIT;
static pthread_key_t vcache_key;
static EVP_MD *md_sha1, *md_sha256, *md_sha384, *md_sha512;

static void
vcache_free(void *p)
{
	struct vcache *vc = p;

	if (vc == NULL)
		return;
	for (int i = 0; i < NCURVES; i++) {
		EVP_PKEY_CTX_free(vc->ec_vctx[i]);
		EVP_PKEY_free(vc->ec_tmpl[i]);
	}
	EVP_PKEY_CTX_free(vc->fromdata_ec);
	EVP_PKEY_CTX_free(vc->fromdata_rsa);
	EVP_MD_CTX_free(vc->mdctx);
	free(vc);
}

static void
csr_init_once(void)
{
	pthread_key_create(&vcache_key, vcache_free);
	md_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL); /* key identifiers only */
	md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	md_sha384 = EVP_MD_fetch(NULL, "SHA384", NULL);
	md_sha512 = EVP_MD_fetch(NULL, "SHA512", NULL);
}

/* Per-thread contexts for building public keys; NULL on allocation failure. */
static struct vcache *
vcache_get(void)
{
	struct vcache *vc;

	pthread_once(&csr_once, csr_init_once);
	if ((vc = pthread_getspecific(vcache_key)) != NULL)
		return vc;
	if ((vc = calloc(1, sizeof(*vc))) == NULL)
		return NULL;
	vc->fromdata_ec = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	vc->fromdata_rsa = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	vc->mdctx = EVP_MD_CTX_new();
	if (vc->fromdata_ec == NULL || vc->fromdata_rsa == NULL || vc->mdctx == NULL ||
	    EVP_PKEY_fromdata_init(vc->fromdata_ec) <= 0 ||
	    EVP_PKEY_fromdata_init(vc->fromdata_rsa) <= 0) {
		vcache_free(vc);
		return NULL;
	}
	pthread_setspecific(vcache_key, vc);
	return vc;
}

/* Fetched digest for 256/384/512, shared by all threads. */
const EVP_MD *
issue_md(int bits)
{
	pthread_once(&csr_once, csr_init_once);
	if (bits == 160)
		return md_sha1;
	return bits == 256 ? md_sha256 : bits == 384 ? md_sha384 : bits == 512 ? md_sha512 : NULL;
}

/* ---- parsing ---- */

enum sig_kind { SIG_RSA, SIG_PSS, SIG_ECDSA, SIG_ED25519 };

struct sigalg {
	enum sig_kind kind;
	int md_bits; /* 256, 384, 512; 0 for Ed25519 */
	int pss_salt;
	const char *name;
};

static const char *
curve_name(unsigned curve)
{
	return curve == CURVE_P256 ? "P-256" : curve == CURVE_P384 ? "P-384" : "P-521";
}

static int
hash_alg_bits(struct der_tlv *alg_seq)
{
	struct der d = der_inner(alg_seq), pd;
	struct der_tlv oid, par;
	int bits;

	if (der_expect(&d, DER_OID, &oid) != 0)
		return -1;
	if (OID_EQ(&oid, oid_sha256))
		bits = 256;
	else if (OID_EQ(&oid, oid_sha384))
		bits = 384;
	else if (OID_EQ(&oid, oid_sha512))
		bits = 512;
	else
		return 0;
	if (d.len) { /* parameters: absent or NULL */
		if (der_expect(&d, DER_NULL, &par) != 0 || d.len)
			return -1;
	}
	(void)pd;
	return bits;
}

/*
 * Reads a signatureAlgorithm. Returns 0, -1 when malformed (csr_malformed),
 * -2 when the algorithm is not allowed (message in *why).
 */
static int
sigalg_parse(const struct der_tlv *alg, struct sigalg *sa, char *why, size_t whylen)
{
	struct der d = der_inner(alg), pd, fd;
	struct der_tlv oid, par, f, h, mgfoid, mgfpar;
	char txt[CSR_OID_TEXT];
	int mgf_bits = 256;
	long v;

	memset(sa, 0, sizeof(*sa));
	if (der_expect(&d, DER_OID, &oid) != 0)
		return -1;
	if (OID_EQ(&oid, oid_sha256_rsa) || OID_EQ(&oid, oid_sha384_rsa) ||
	    OID_EQ(&oid, oid_sha512_rsa)) {
		sa->kind = SIG_RSA;
		sa->md_bits = OID_EQ(&oid, oid_sha256_rsa)   ? 256
			      : OID_EQ(&oid, oid_sha384_rsa) ? 384
							     : 512;
		sa->name = sa->md_bits == 256   ? "sha256WithRSAEncryption"
			   : sa->md_bits == 384 ? "sha384WithRSAEncryption"
						: "sha512WithRSAEncryption";
		if (d.len && (der_expect(&d, DER_NULL, &par) != 0 || d.len))
			return -1;
		return 0;
	}
	if (OID_EQ(&oid, oid_ecdsa_sha256) || OID_EQ(&oid, oid_ecdsa_sha384) ||
	    OID_EQ(&oid, oid_ecdsa_sha512)) {
		sa->kind = SIG_ECDSA;
		sa->md_bits = OID_EQ(&oid, oid_ecdsa_sha256)   ? 256
			      : OID_EQ(&oid, oid_ecdsa_sha384) ? 384
							       : 512;
		sa->name = sa->md_bits == 256   ? "ecdsa-with-SHA256"
			   : sa->md_bits == 384 ? "ecdsa-with-SHA384"
						: "ecdsa-with-SHA512";
		return d.len ? -1 : 0; /* RFC 5758: parameters absent */
	}
	if (OID_EQ(&oid, oid_ed25519)) {
		sa->kind = SIG_ED25519;
		sa->name = "ED25519";
		return d.len ? -1 : 0;
	}
	if (OID_EQ(&oid, oid_rsassa_pss)) {
		/* RSASSA-PSS-params: [0] hash, [1] mgf, [2] saltLength, [3] trailerField. */
		sa->kind = SIG_PSS;
		sa->name = "rsassaPss";
		sa->md_bits = 0;
		sa->pss_salt = 20;
		if (der_expect(&d, DER_SEQUENCE, &par) != 0 || d.len)
			return -1;
		pd = der_inner(&par);
		if (der_peek(&pd, 0xa0)) {
			if (der_expect(&pd, 0xa0, &f) != 0)
				return -1;
			fd = der_inner(&f);
			if (der_expect(&fd, DER_SEQUENCE, &h) != 0 || fd.len)
				return -1;
			if ((sa->md_bits = hash_alg_bits(&h)) < 0)
				return -1;
		}
		if (der_peek(&pd, 0xa1)) {
			if (der_expect(&pd, 0xa1, &f) != 0)
				return -1;
			fd = der_inner(&f);
			if (der_expect(&fd, DER_SEQUENCE, &h) != 0 || fd.len)
				return -1;
			fd = der_inner(&h);
			if (der_expect(&fd, DER_OID, &mgfoid) != 0 ||
			    der_expect(&fd, DER_SEQUENCE, &mgfpar) != 0 || fd.len)
				return -1;
			if (!OID_EQ(&mgfoid, oid_mgf1)) {
				snprintf(
				    why, whylen,
				    "RSASSA-PSS with a mask generation function other than MGF1");
				return -2;
			}
			if ((mgf_bits = hash_alg_bits(&mgfpar)) < 0)
				return -1;
		} else {
			mgf_bits = 0; /* default MGF1 with SHA-1 */
		}
		if (der_peek(&pd, 0xa2)) {
			if (der_expect(&pd, 0xa2, &f) != 0)
				return -1;
			fd = der_inner(&f);
			if (der_expect(&fd, DER_INTEGER, &h) != 0 || fd.len ||
			    der_small_uint(&h, &v) != 0)
				return -1;
			sa->pss_salt = (int)v;
		}
		if (der_peek(&pd, 0xa3)) {
			if (der_expect(&pd, 0xa3, &f) != 0)
				return -1;
			fd = der_inner(&f);
			if (der_expect(&fd, DER_INTEGER, &h) != 0 || fd.len ||
			    der_small_uint(&h, &v) != 0)
				return -1;
			if (v != 1)
				return -1;
		}
		if (pd.len)
			return -1;
		if (sa->md_bits == 0 || mgf_bits != sa->md_bits) {
			snprintf(why, whylen,
				 "RSASSA-PSS must use SHA-256, SHA-384 or SHA-512 for both the "
				 "hash and MGF1");
			return -2;
		}
		return 0;
	}
	der_oid_text(oid.val, oid.len, txt, sizeof(txt));
	snprintf(why, whylen,
		 "signature algorithm %s%s is not allowed: use SHA-256/384/512 with RSA, "
		 "RSASSA-PSS or ECDSA, or Ed25519",
		 txt,
		 (oid.len == 9 && memcmp(oid.val, oid_sha256_rsa, 8) == 0 &&
		  (oid.val[8] == 4 || oid.val[8] == 5))
		     ? (oid.val[8] == 4 ? " (md5WithRSAEncryption)" : " (sha1WithRSAEncryption)")
		 : (oid.len == 7 && memcmp(oid.val, oid_ecdsa_sha256, 6) == 0)
		     ? " (ecdsa-with-SHA1)"
		     : "");
	return -2;
}

/* Bit length of a positive big-endian integer (leading zero octet already allowed). */
static int
uint_bits(const unsigned char *v, size_t n)
{
	int b;

	while (n && *v == 0)
		v++, n--;
	if (n == 0)
		return 0;
	for (b = 8; b > 0 && !(*v & (1u << (b - 1))); b--)
		;
	return (int)(n - 1) * 8 + b;
}

struct pubkey {
	const unsigned char *n, *e; /* RSA, big-endian, leading zero stripped */
	size_t nlen, elen;
	const unsigned char *point; /* EC point or Ed25519 key */
	size_t point_len;
};

/*
 * Reads SubjectPublicKeyInfo. Returns 0, -1 when malformed, -2 with violations added.
 */
static int
spki_parse(struct csr *c, const struct der_tlv *spki, struct pubkey *pk, struct violations *vs)
{
	struct der d = der_inner(spki), ad, kd;
	struct der_tlv alg, oid, par, bits, seq, n, e;
	struct csr_info *ci = &c->info;
	char txt[CSR_OID_TEXT];
	size_t flen;
	long ev;

	if (der_expect(&d, DER_SEQUENCE, &alg) != 0 || der_expect(&d, DER_BIT_STRING, &bits) != 0 ||
	    d.len)
		return -1;
	if (bits.val[0] != 0)
		return -1;
	c->pubkey_bits = bits.val + 1;
	c->pubkey_bits_len = bits.len - 1;
	ad = der_inner(&alg);
	if (der_expect(&ad, DER_OID, &oid) != 0)
		return -1;
	if (OID_EQ(&oid, oid_rsa_encryption)) {
		ci->key_type = KT_RSA;
		if (der_expect(&ad, DER_NULL, &par) != 0 || ad.len)
			return -1;
		kd.p = c->pubkey_bits;
		kd.len = c->pubkey_bits_len;
		if (der_expect(&kd, DER_SEQUENCE, &seq) != 0 || kd.len)
			return -1;
		kd = der_inner(&seq);
		if (der_expect(&kd, DER_INTEGER, &n) != 0 ||
		    der_expect(&kd, DER_INTEGER, &e) != 0 || kd.len)
			return -1;
		if ((n.val[0] & 0x80) || (e.val[0] & 0x80))
			return -1;
		pk->n = n.val, pk->nlen = n.len;
		pk->e = e.val, pk->elen = e.len;
		while (pk->nlen > 1 && pk->n[0] == 0)
			pk->n++, pk->nlen--;
		while (pk->elen > 1 && pk->e[0] == 0)
			pk->e++, pk->elen--;
		ci->key_bits = uint_bits(n.val, n.len);
		if (der_small_uint(&e, &ev) != 0 || ev != RSA_EXPONENT_ALLOWED) {
			violations_add(vs, "rsa_exponent_not_allowed", "csr_data",
				       "RSA public exponent must be 65537%s",
				       e.len > 4 ? " (got a large exponent)" : "");
			if (e.len <= 4 && der_small_uint(&e, &ev) == 0) {
				vs->n--; /* replace with the exact value */
				violations_add(vs, "rsa_exponent_not_allowed", "csr_data",
					       "RSA public exponent must be 65537, got %ld", ev);
			}
			return -2;
		}
		if (ci->key_bits != 2048 && ci->key_bits != 3072 && ci->key_bits != 4096) {
			violations_add(vs, "key_size_not_allowed", "csr_data",
				       "RSA key of %d bits: use 2048, 3072 or 4096 bits",
				       ci->key_bits);
			return -2;
		}
		return 0;
	}
	if (OID_EQ(&oid, oid_ec_public_key)) {
		ci->key_type = KT_EC;
		if (der_peek(&ad, DER_SEQUENCE)) {
			violations_add(vs, "ec_explicit_params", "csr_data",
				       "EC key with explicit curve parameters: use a named curve "
				       "(P-256, P-384 or P-521)");
			return -2;
		}
		if (der_expect(&ad, DER_OID, &par) != 0 || ad.len) {
			if (ad.len == 0 || der_peek(&ad, DER_NULL))
				violations_add(
				    vs, "curve_not_allowed", "csr_data",
				    "EC key without a named curve: use P-256, P-384 or P-521");
			else
				return -1;
			return -2;
		}
		if (OID_EQ(&par, oid_p256))
			ci->curve = CURVE_P256, ci->key_bits = 256;
		else if (OID_EQ(&par, oid_p384))
			ci->curve = CURVE_P384, ci->key_bits = 384;
		else if (OID_EQ(&par, oid_p521))
			ci->curve = CURVE_P521, ci->key_bits = 521;
		else {
			der_oid_text(par.val, par.len, txt, sizeof(txt));
			violations_add(vs, "curve_not_allowed", "csr_data",
				       "EC curve %s is not supported: use P-256, P-384 or P-521",
				       txt);
			return -2;
		}
		flen = ((size_t)ci->key_bits + 7) / 8;
		pk->point = c->pubkey_bits;
		pk->point_len = c->pubkey_bits_len;
		if (!((pk->point_len == 1 + 2 * flen && pk->point[0] == 4) ||
		      (pk->point_len == 1 + flen && (pk->point[0] == 2 || pk->point[0] == 3))))
			return -1;
		return 0;
	}
	if (OID_EQ(&oid, oid_ed25519)) {
		ci->key_type = KT_ED25519;
		ci->key_bits = 256;
		if (ad.len || c->pubkey_bits_len != ED25519_KEY_LEN)
			return -1;
		pk->point = c->pubkey_bits;
		pk->point_len = c->pubkey_bits_len;
		return 0;
	}
	der_oid_text(oid.val, oid.len, txt, sizeof(txt));
	violations_add(vs, "key_type_not_allowed", "csr_data",
		       "public key algorithm %s%s is not supported: use RSA, EC "
		       "(P-256/P-384/P-521) or Ed25519",
		       txt, OID_EQ(&oid, oid_dsa) ? " (DSA)" : "");
	return -2;
}

/* Builds an EVP_PKEY from the parsed key without the generic decoder. */
static EVP_PKEY *
pubkey_build(struct vcache *vc, const struct csr_info *ci, const struct pubkey *pk)
{
	EVP_PKEY *pkey = NULL;
	OSSL_PARAM params[3];
	unsigned char nle[RSA_MAX_BITS / 8 + 1], ele[8];
	size_t i;

	switch (ci->key_type) {
	case KT_RSA:
		if (pk->nlen > sizeof(nle) || pk->elen > sizeof(ele))
			return NULL;
		for (i = 0; i < pk->nlen; i++) /* OSSL_PARAM BNs are native-endian */
			nle[i] = pk->n[pk->nlen - 1 - i];
		for (i = 0; i < pk->elen; i++)
			ele[i] = pk->e[pk->elen - 1 - i];
		params[0] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_RSA_N, nle, pk->nlen);
		params[1] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_RSA_E, ele, pk->elen);
		params[2] = OSSL_PARAM_construct_end();
		if (EVP_PKEY_fromdata(vc->fromdata_rsa, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
			return NULL;
		return pkey;
	case KT_EC:
		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
							     (char *)curve_name(ci->curve), 0);
		params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
							      (void *)pk->point, pk->point_len);
		params[2] = OSSL_PARAM_construct_end();
		if (EVP_PKEY_fromdata(vc->fromdata_ec, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
			return NULL;
		return pkey;
	case KT_ED25519:
		return EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, pk->point,
						      pk->point_len);
	}
	return NULL;
}

static int
curve_index(unsigned curve)
{
	return curve == CURVE_P256 ? 0 : curve == CURVE_P384 ? 1 : 2;
}

/*
 * The thread's verify context for ci's curve with pk's point loaded.
 * Returns NULL when the point is invalid or on allocation failure.
 */
static EVP_PKEY_CTX *
ec_verify_ctx(struct vcache *vc, const struct csr_info *ci, const struct pubkey *pk)
{
	int i = curve_index(ci->curve);

	if (vc->ec_vctx[i] != NULL) {
		if (EVP_PKEY_set_octet_string_param(vc->ec_tmpl[i],
						    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pk->point,
						    pk->point_len) != 1)
			return NULL;
		return vc->ec_vctx[i];
	}
	if ((vc->ec_tmpl[i] = pubkey_build(vc, ci, pk)) == NULL)
		return NULL;
	if ((vc->ec_vctx[i] = EVP_PKEY_CTX_new_from_pkey(NULL, vc->ec_tmpl[i], NULL)) == NULL ||
	    EVP_PKEY_verify_init(vc->ec_vctx[i]) <= 0) {
		EVP_PKEY_CTX_free(vc->ec_vctx[i]);
		EVP_PKEY_free(vc->ec_tmpl[i]);
		vc->ec_vctx[i] = NULL;
		vc->ec_tmpl[i] = NULL;
		return NULL;
	}
	return vc->ec_vctx[i];
}

/* Verifies sig over tbs. Returns 1 valid, 0 invalid, -1 when the key cannot be used. */
static int
signature_verify(const struct csr_info *ci, const struct pubkey *pk, const struct sigalg *sa,
		 const unsigned char *tbs, size_t tbs_len, const unsigned char *sig, size_t sig_len)
{
	struct vcache *vc;
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char md[MAX_DIGEST];
	unsigned mdlen = 0;
	const EVP_MD *mdt = NULL;
	int rc = -1;

	if ((vc = vcache_get()) == NULL)
		return -1;
	if (sa->kind == SIG_ECDSA) {
		/* ECDSA needs no digest setting on the context: the digest is ours. */
		if ((mdt = issue_md(sa->md_bits)) == NULL ||
		    EVP_Digest(tbs, tbs_len, md, &mdlen, mdt, NULL) <= 0)
			return -1;
		if ((pctx = ec_verify_ctx(vc, ci, pk)) == NULL)
			return -1;
		return EVP_PKEY_verify(pctx, sig, sig_len, md, mdlen) == 1;
	}
	if ((pkey = pubkey_build(vc, ci, pk)) == NULL)
		goto out;
	if (sa->kind == SIG_ED25519) {
		EVP_MD_CTX_reset(vc->mdctx);
		if (EVP_DigestVerifyInit_ex(vc->mdctx, NULL, NULL, NULL, NULL, pkey, NULL) <= 0)
			goto out;
		rc = EVP_DigestVerify(vc->mdctx, sig, sig_len, tbs, tbs_len) == 1;
		goto out;
	}
	mdt = issue_md(sa->md_bits);
	if (mdt == NULL || EVP_Digest(tbs, tbs_len, md, &mdlen, mdt, NULL) <= 0)
		goto out;
	if ((pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL ||
	    EVP_PKEY_verify_init(pctx) <= 0 || EVP_PKEY_CTX_set_signature_md(pctx, mdt) <= 0)
		goto out;
	if (sa->kind == SIG_PSS &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
	     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, mdt) <= 0 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, sa->pss_salt) <= 0))
		goto out;
	rc = EVP_PKEY_verify(pctx, sig, sig_len, md, mdlen) == 1;
out:
	EVP_PKEY_CTX_free(pctx);
	EVP_PKEY_free(pkey);
	return rc;
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
								     : NA_OTHER;
			der_oid_text(oid.val, oid.len, na->oid, sizeof(na->oid));
			na->tag = val.tag;
			if ((val.tag & 0x20) != 0) /* constructed values: not a string */
				return -1;
			if ((na->utf8 = string_to_utf8(c, val.tag, val.val, val.len, &na->utf8_len,
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
	static const char *const kn[] = {"CN", "O", "OU", "C", "ST", "L", "emailAddress", NULL};
	size_t cap = 1, i, k, o = 0;
	char *s;

	for (i = 0; i < c->nattrs; i++)
		cap += 2 * c->attrs[i].utf8_len + CSR_OID_TEXT + 2;
	if ((s = arena_alloc(c, cap)) == NULL)
		return NULL;
	for (i = c->nattrs; i-- > 0;) {
		const struct name_attr *na = &c->attrs[i];
		const char *key = kn[na->kind] ? kn[na->kind] : na->oid;

		if (o)
			s[o++] = ',';
		o += (size_t)sprintf(s + o, "%s=", key);
		for (k = 0; k < na->utf8_len; k++) {
			unsigned char ch = (unsigned char)na->utf8[k];
			if ((ch != 0 && strchr(",+\"\\<>;=", ch) != NULL) ||
			    ((k == 0) && (ch == '#' || ch == ' ')) ||
			    (k == na->utf8_len - 1 && ch == ' '))
				s[o++] = '\\';
			s[o++] = ch >= 0x20 && ch != 0x7f ? (char)ch : '?';
		}
	}
	s[o] = '\0';
	return s;
}

static int
ascii_lower_eq(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
		if (x >= 'A' && x <= 'Z')
			x += 32;
		if (y >= 'A' && y <= 'Z')
			y += 32;
		if (x != y)
			return 0;
	}
	return 1;
}

int
ascii_casecmp_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && ascii_lower_eq(a, b, alen);
}

/* Reads GeneralNames of a SAN extension. Returns 0 or -1 when malformed. */
static int
san_parse(struct csr *c, const unsigned char *v, size_t n)
{
	struct der d = {v, n}, s, tmp;
	struct der_tlv seq, gn;
	struct san *sn;
	size_t count = 0, idx[4] = {0, 0, 0, 0};
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
		count++;
	}
	if (c->dns != NULL) /* a second SAN extension is reported as a duplicate, not merged */
		return 0;
	c->dns = arena_alloc(c, sizeof(struct san) * count);
	c->ip = arena_alloc(c, sizeof(struct san) * count);
	c->email = arena_alloc(c, sizeof(struct san) * count);
	c->uri = arena_alloc(c, sizeof(struct san) * count);
	if (!c->dns || !c->ip || !c->email || !c->uri)
		return -1;
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
			if ((sn->text = string_to_utf8(c, DER_IA5STRING, gn.val, gn.len, &sn->len,
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
				sn->text = arena_strndup(c, "(invalid address length)", 24);
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
		if (der_expect(&s, DER_BOOLEAN, &b) != 0)
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
			if (der_expect(&ed, DER_BOOLEAN, &crit) != 0)
				return -1;
			critical = crit.val[0] != 0;
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
	int seen_extreq = 0;

	while (d.len) {
		if (der_expect(&d, DER_SEQUENCE, &attr) != 0)
			return -1;
		ad = der_inner(&attr);
		if (der_expect(&ad, DER_OID, &oid) != 0 || der_expect(&ad, DER_SET, &set) != 0 ||
		    ad.len)
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

static void
csr_fill_info(struct csr *c)
{
	struct csr_info *ci = &c->info;
	const char **lists[4];
	struct san *src[4] = {c->dns, c->ip, c->email, c->uri};
	size_t cnt[4] = {c->ndns, c->nip, c->nemail, c->nuri}, i, k;
	const char **slot[7] = {&ci->cn, &ci->o, &ci->ou, &ci->c, &ci->st, &ci->l, &ci->email};

	for (i = 0; i < c->nattrs; i++) /* first of each kind */
		if (c->attrs[i].kind != NA_OTHER && *slot[c->attrs[i].kind] == NULL)
			*slot[c->attrs[i].kind] = c->attrs[i].utf8;
	for (k = 0; k < 4; k++) {
		lists[k] = arena_alloc(c, sizeof(char *) * (cnt[k] + 1));
		if (lists[k] == NULL)
			continue;
		for (i = 0; i < cnt[k]; i++)
			lists[k][i] = src[k][i].text;
		lists[k][cnt[k]] = NULL;
	}
	ci->dns_sans = lists[0];
	ci->ip_sans = lists[1];
	ci->email_sans = lists[2];
	ci->uri_sans = lists[3];
	ci->nsans = c->ndns + c->nip + c->nemail + c->nuri + c->nother_sans;
	ci->subject = subject_line(c);
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
	csr_fill_info(c);
	if (c->info.subject == NULL || c->info.dns_sans == NULL || c->info.uri_sans == NULL) {
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
	free(c);
}

const struct csr_info *
csr_info(const struct csr *c)
{
	return &c->info;
}
