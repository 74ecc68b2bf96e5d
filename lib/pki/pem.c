/*
 * A CSR as people paste it: one CERTIFICATE REQUEST (or NEW CERTIFICATE
 * REQUEST) PEM block, with any text before and after it (certtool and
 * openssl -text print a dump first), or bare base64 of the DER. Strict
 * base64 inside; whitespace (CRLF, indentation) anywhere is fine.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "csr_int.h"

#define PEM_LABEL_REQ "CERTIFICATE REQUEST"
#define PEM_LABEL_NEWREQ "NEW CERTIFICATE REQUEST"
#define PEM_BEGIN "-----BEGIN "
#define PEM_DASHES "-----"
#define PEM_LABEL_MAX 40 /* longest label quoted back in a message */
#define PEM_LINE 48      /* DER bytes per line written: 64 base64 characters */

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

/* One "-----BEGIN label-----" line found in the input. */
struct pem_block {
	const unsigned char *label; /* not NUL-terminated */
	size_t label_len;
	const unsigned char *body; /* right after the BEGIN line's dashes */
};

/* 1 if b's label is one a CSR is written under. */
static int
pem_is_csr(const struct pem_block *b)
{
	return (b->label_len == strlen(PEM_LABEL_REQ) &&
		memcmp(b->label, PEM_LABEL_REQ, b->label_len) == 0) ||
	       (b->label_len == strlen(PEM_LABEL_NEWREQ) &&
		memcmp(b->label, PEM_LABEL_NEWREQ, b->label_len) == 0);
}

/*
 * Finds the next BEGIN line in [p, end) into *b. Returns 1, or 0 when
 * there is none. A BEGIN without its closing dashes on the line has the
 * rest of the line as label and no body.
 */
static int
pem_next(const unsigned char *p, const unsigned char *end, struct pem_block *b)
{
	const unsigned char *e;

	if ((p = mem_find(p, (size_t)(end - p), PEM_BEGIN)) == NULL)
		return 0;
	b->label = p + strlen(PEM_BEGIN);
	for (e = b->label; e < end && *e != '\n' && *e != '\r'; e++)
		if ((size_t)(end - e) >= strlen(PEM_DASHES) &&
		    memcmp(e, PEM_DASHES, strlen(PEM_DASHES)) == 0)
			break;
	b->label_len = (size_t)(e - b->label);
	b->body = e < end && *e == '-' ? e + strlen(PEM_DASHES) : NULL;
	return 1;
}

/* 1 if s[0..n) holds only base64 characters, '=' and whitespace, and some base64. */
static int
pem_is_bare_base64(const unsigned char *s, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		if (b64_val(s[i]) >= 0)
			k++;
		else if (s[i] != '=' && !is_space(s[i]))
			return 0;
	}
	return k > 0;
}

/* Decodes base64 text s[0..n) into a fresh buffer. 0, or -1 with a violation (what names it). */
static int
pem_b64(const unsigned char *s, size_t n, const char *what, unsigned char **der, size_t *der_len,
	struct violations *vs)
{
	const char *why = NULL;
	unsigned char *out;
	long dl;

	if ((out = malloc(n * 3 / 4 + 4)) == NULL) {
		violations_add(vs, "internal_error", "csr_data", "out of memory");
		return -1;
	}
	if ((dl = b64_decode(s, n, out, &why)) <= 0) {
		violations_add(vs, "csr_malformed", "csr_data", "%s: %s", what,
			       why ? why : "empty base64");
		free(out);
		return -1;
	}
	*der = out;
	*der_len = (size_t)dl;
	return 0;
}

int
pem_decode(const unsigned char *s, size_t n, unsigned char **der, size_t *der_len,
	   struct violations *vs)
{
	const unsigned char *end = s + n, *endline, *p;
	struct pem_block b, csr = {0}, other = {0};
	char endmark[sizeof(PEM_DASHES "END " PEM_LABEL_NEWREQ PEM_DASHES)];
	size_t ncsr = 0, nother = 0;

	for (p = s; pem_next(p, end, &b); p = b.body != NULL ? b.body : b.label) {
		if (pem_is_csr(&b) && b.body != NULL) {
			if (ncsr++ == 0)
				csr = b;
		} else if (nother++ == 0) {
			other = b;
		}
	}
	if (ncsr == 0 && nother == 0) {
		if (pem_is_bare_base64(s, n))
			return pem_b64(s, n, "base64 DER (no PEM armour)", der, der_len, vs);
		violations_add(vs, "csr_malformed", "csr_data",
			       "CSR is neither DER, PEM nor base64: expected a '" PEM_BEGIN
			       PEM_LABEL_REQ PEM_DASHES "' block");
		return -1;
	}
	if (ncsr == 0) {
		violations_add(vs, "csr_malformed", "csr_data",
			       "PEM block is '%.*s', expected '" PEM_LABEL_REQ "'",
			       (int)(other.label_len < PEM_LABEL_MAX ? other.label_len : PEM_LABEL_MAX),
			       other.label);
		return -1;
	}
	if (ncsr > 1 || nother > 0) {
		if (ncsr > 1)
			violations_add(vs, "csr_multiple", "csr_data",
				       "input holds %zu CSR PEM blocks: send exactly one CSR", ncsr);
		else
			violations_add(vs, "csr_multiple", "csr_data",
				       "input holds a '%.*s' PEM block besides the CSR: send only "
				       "the CSR",
				       (int)(other.label_len < PEM_LABEL_MAX ? other.label_len
									    : PEM_LABEL_MAX),
				       other.label);
		return -1;
	}
	snprintf(endmark, sizeof(endmark), PEM_DASHES "END %.*s" PEM_DASHES, (int)csr.label_len,
		 csr.label);
	if ((endline = mem_find(csr.body, (size_t)(end - csr.body), endmark)) == NULL) {
		violations_add(vs, "csr_malformed", "csr_data", "PEM has no '%s' line", endmark);
		return -1;
	}
	if (memchr(csr.body, ':', (size_t)(endline - csr.body)) != NULL) {
		violations_add(vs, "csr_malformed", "csr_data",
			       "PEM headers (e.g. Proc-Type) are not accepted in a CSR");
		return -1;
	}
	return pem_b64(csr.body, (size_t)(endline - csr.body), "PEM body", der, der_len, vs);
}

char *
pem_append(char *s, size_t *slen, const char *label, const unsigned char *der, size_t len)
{
	size_t lines = (len + PEM_LINE - 1) / PEM_LINE, need, o, i, chunk;
	char *ns;

	need = *slen + 2 * (strlen(label) + 32) + lines * (PEM_LINE / 3 * 4 + 1) + 1;
	if ((ns = realloc(s, need)) == NULL) {
		free(s);
		return NULL;
	}
	o = *slen;
	o += (size_t)sprintf(ns + o, PEM_BEGIN "%s" PEM_DASHES "\n", label);
	for (i = 0; i < len; i += PEM_LINE) {
		chunk = len - i < PEM_LINE ? len - i : PEM_LINE;
		o += (size_t)EVP_EncodeBlock((unsigned char *)ns + o, der + i, (int)chunk);
		ns[o++] = '\n';
	}
	o += (size_t)sprintf(ns + o, PEM_DASHES "END %s" PEM_DASHES "\n", label);
	*slen = o;
	return ns;
}
