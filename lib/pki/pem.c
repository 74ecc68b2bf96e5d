/* PEM armour of a CSR: one CERTIFICATE REQUEST block, strict base64. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csr_int.h"

#define PEM_LABEL_REQ "CERTIFICATE REQUEST"
#define PEM_LABEL_NEWREQ "NEW CERTIFICATE REQUEST"

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

int
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
