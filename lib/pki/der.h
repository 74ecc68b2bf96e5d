/*
 * Minimal strict DER reader and a growable DER writer, for the issuance path
 * (CSR intake, certificate building, lint). Only single-byte tags and definite
 * minimal lengths are accepted: X.509 needs nothing more.
 */
#ifndef PKI_DER_H
#define PKI_DER_H

#include <stddef.h>

#define DER_MAX_LEN_OCTETS 4 /* lengths up to 4 GiB-1; CSRs are at most 64 KiB anyway */

enum der_tag {
	DER_BOOLEAN = 0x01,
	DER_INTEGER = 0x02,
	DER_BIT_STRING = 0x03,
	DER_OCTET_STRING = 0x04,
	DER_NULL = 0x05,
	DER_OID = 0x06,
	DER_UTF8STRING = 0x0c,
	DER_PRINTABLESTRING = 0x13,
	DER_T61STRING = 0x14,
	DER_IA5STRING = 0x16,
	DER_UTCTIME = 0x17,
	DER_GENERALIZEDTIME = 0x18,
	DER_UNIVERSALSTRING = 0x1c,
	DER_BMPSTRING = 0x1e,
	DER_SEQUENCE = 0x30,
	DER_SET = 0x31,
	DER_CTX0 = 0xa0, /* [0] constructed */
	DER_CTX1 = 0xa1,
	DER_CTX3 = 0xa3,
};

/* A cursor over bytes not owned by it. */
struct der {
	const unsigned char *p;
	size_t len;
};

/* One element: hdr points at the tag, val at the contents. */
struct der_tlv {
	unsigned tag;
	const unsigned char *hdr;
	size_t hdr_len;
	const unsigned char *val;
	size_t len;
};

/* Reads the next element of d into t and advances d. Returns 0, or -1 when d is empty or malformed.
 */
int der_next(struct der *d, struct der_tlv *t);
/* der_next, and the tag must be tag. */
int der_expect(struct der *d, unsigned tag, struct der_tlv *t);
/* Cursor over t's contents. */
struct der der_inner(const struct der_tlv *t);
/* 1 if the next element of d has the given tag (d is not advanced). */
int der_peek(const struct der *d, unsigned tag);
/* Whole encoding (header + contents) length of t. */
#define DER_TLV_FULL_LEN(t) ((t)->hdr_len + (t)->len)

/* OID bytes (contents only) compare: 1 when equal. */
int der_oid_eq(const struct der_tlv *t, const unsigned char *oid, size_t oid_len);
/* Small non-negative INTEGER into *v; -1 when negative, non-minimal or too big. */
int der_small_uint(const struct der_tlv *t, long *v);
/* Dotted text of an OID into buf (for messages). */
void der_oid_text(const unsigned char *oid, size_t len, char *buf, size_t buflen);

/* Growable output buffer, starting in a caller's buffer. */
struct dbuf {
	unsigned char *p;
	size_t len, cap;
	int err;  /* allocation failed; later writes are no-ops */
	int heap; /* p was allocated here (grew past the caller's stack buffer) */
};

void dbuf_init(struct dbuf *b, unsigned char *stack, size_t cap);
void dbuf_free(struct dbuf *b);
void dbuf_put(struct dbuf *b, const void *data, size_t n);
/* Appends tag, length and contents. */
void dbuf_tlv(struct dbuf *b, unsigned tag, const void *val, size_t n);
/* Starts a constructed element; returns the mark to pass to dbuf_end. */
size_t dbuf_begin(struct dbuf *b);
/* Wraps everything written since mark in tag + length. */
void dbuf_end(struct dbuf *b, unsigned tag, size_t mark);
/* Writes a header for tag/len into out (at least 6 bytes); returns its length. */
size_t der_header(unsigned char *out, unsigned tag, size_t len);

#endif
