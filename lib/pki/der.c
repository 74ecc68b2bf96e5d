/* Strict DER reader and DER writer (see der.h). */
#include "der.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
der_next(struct der *d, struct der_tlv *t)
{
	size_t i, n, len, hl;

	if (d->len < 2)
		return -1;
	if ((d->p[0] & 0x1f) == 0x1f) /* high tag numbers: not used by X.509 */
		return -1;
	t->tag = d->p[0];
	if (d->p[1] < 0x80) {
		len = d->p[1];
		hl = 2;
	} else {
		n = d->p[1] & 0x7f;
		if (n == 0 || n > DER_MAX_LEN_OCTETS ||
		    d->len < 2 + n) /* 0x80: indefinite, BER only */
			return -1;
		if (d->p[2] == 0) /* leading zero octet: not minimal */
			return -1;
		len = 0;
		for (i = 0; i < n; i++)
			len = (len << 8) | d->p[2 + i];
		if (len < 0x80) /* long form for a short length: not minimal */
			return -1;
		hl = 2 + n;
	}
	if (len > d->len - hl)
		return -1;
	t->hdr = d->p;
	t->hdr_len = hl;
	t->val = d->p + hl;
	t->len = len;
	d->p += hl + len;
	d->len -= hl + len;
	return 0;
}

int
der_expect(struct der *d, unsigned tag, struct der_tlv *t)
{
	if (der_next(d, t) != 0 || t->tag != tag)
		return -1;
	/* Primitive universal types with DER content rules checked here once. */
	switch (tag) {
	case DER_BOOLEAN:
		if (t->len != 1 || (t->val[0] != 0 && t->val[0] != 0xff))
			return -1;
		break;
	case DER_INTEGER:
		if (t->len == 0)
			return -1;
		if (t->len > 1 && ((t->val[0] == 0 && !(t->val[1] & 0x80)) ||
				   (t->val[0] == 0xff && (t->val[1] & 0x80))))
			return -1;
		break;
	case DER_NULL:
		if (t->len != 0)
			return -1;
		break;
	case DER_OID:
		/* Non-empty, last octet ends a subidentifier, no 0x80 padding at a subidentifier
		 * start. */
		if (t->len == 0 || (t->val[t->len - 1] & 0x80))
			return -1;
		for (size_t i = 0; i < t->len; i++)
			if (t->val[i] == 0x80 && (i == 0 || !(t->val[i - 1] & 0x80)))
				return -1;
		break;
	case DER_BIT_STRING:
		if (t->len == 0 || t->val[0] > 7 || (t->len == 1 && t->val[0] != 0))
			return -1;
		break;
	default:
		break;
	}
	return 0;
}

struct der
der_inner(const struct der_tlv *t)
{
	struct der d = {t->val, t->len};

	return d;
}

int
der_peek(const struct der *d, unsigned tag)
{
	return d->len > 0 && d->p[0] == tag;
}

int
der_oid_eq(const struct der_tlv *t, const unsigned char *oid, size_t oid_len)
{
	return t->len == oid_len && memcmp(t->val, oid, oid_len) == 0;
}

int
der_small_uint(const struct der_tlv *t, long *v)
{
	size_t i;
	long r = 0;

	if (t->len == 0 || t->len > 4 || (t->val[0] & 0x80))
		return -1;
	for (i = 0; i < t->len; i++)
		r = (r << 8) | t->val[i];
	*v = r;
	return 0;
}

void
der_oid_text(const unsigned char *oid, size_t len, char *buf, size_t buflen)
{
	size_t i, o = 0;
	unsigned long v = 0;
	int first = 1, w;

	buf[0] = '\0';
	for (i = 0; i < len && o < buflen; i++) {
		if (v > (~0UL >> 8)) {
			snprintf(buf, buflen, "(oid too long)");
			return;
		}
		v = (v << 7) | (oid[i] & 0x7f);
		if (oid[i] & 0x80)
			continue;
		if (first) {
			unsigned long a = v < 80 ? v / 40 : 2;
			w = snprintf(buf + o, buflen - o, "%lu.%lu", a, v - a * 40);
			first = 0;
		} else {
			w = snprintf(buf + o, buflen - o, ".%lu", v);
		}
		if (w < 0)
			return;
		o += (size_t)w;
		v = 0;
	}
}

void
dbuf_init(struct dbuf *b, unsigned char *stack, size_t cap)
{
	b->p = stack;
	b->len = 0;
	b->cap = stack != NULL ? cap : 0;
	b->err = 0;
	b->heap = 0;
}

static int
dbuf_reserve(struct dbuf *b, size_t n)
{
	size_t ncap;
	unsigned char *np;

	if (b->err)
		return -1;
	if (b->len + n <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 256;
	while (ncap < b->len + n)
		ncap *= 2;
	if ((np = malloc(ncap)) == NULL) {
		b->err = 1;
		return -1;
	}
	if (b->len)
		memcpy(np, b->p, b->len);
	if (b->heap)
		free(b->p);
	b->p = np;
	b->cap = ncap;
	b->heap = 1;
	return 0;
}

void
dbuf_free(struct dbuf *b)
{
	if (b->heap)
		free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->err = b->heap = 0;
}

void
dbuf_put(struct dbuf *b, const void *data, size_t n)
{
	if (n == 0 || dbuf_reserve(b, n) != 0)
		return;
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

size_t
der_header(unsigned char *out, unsigned tag, size_t len)
{
	out[0] = (unsigned char)tag;
	if (len < 0x80) {
		out[1] = (unsigned char)len;
		return 2;
	}
	if (len <= 0xff) {
		out[1] = 0x81;
		out[2] = (unsigned char)len;
		return 3;
	}
	if (len <= 0xffff) {
		out[1] = 0x82;
		out[2] = (unsigned char)(len >> 8);
		out[3] = (unsigned char)len;
		return 4;
	}
	if (len <= 0xffffff) {
		out[1] = 0x83;
		out[2] = (unsigned char)(len >> 16);
		out[3] = (unsigned char)(len >> 8);
		out[4] = (unsigned char)len;
		return 5;
	}
	out[1] = 0x84;
	out[2] = (unsigned char)(len >> 24);
	out[3] = (unsigned char)(len >> 16);
	out[4] = (unsigned char)(len >> 8);
	out[5] = (unsigned char)len;
	return 6;
}

void
dbuf_tlv(struct dbuf *b, unsigned tag, const void *val, size_t n)
{
	unsigned char h[6];
	size_t hl = der_header(h, tag, n);

	if (dbuf_reserve(b, hl + n) != 0)
		return;
	memcpy(b->p + b->len, h, hl);
	if (n)
		memcpy(b->p + b->len + hl, val, n);
	b->len += hl + n;
}

size_t
dbuf_begin(struct dbuf *b)
{
	return b->len;
}

void
dbuf_end(struct dbuf *b, unsigned tag, size_t mark)
{
	unsigned char h[6];
	size_t n, hl;

	if (b->err)
		return;
	n = b->len - mark;
	hl = der_header(h, tag, n);
	if (dbuf_reserve(b, hl) != 0)
		return;
	memmove(b->p + mark + hl, b->p + mark, n);
	memcpy(b->p + mark, h, hl);
	b->len += hl;
}
