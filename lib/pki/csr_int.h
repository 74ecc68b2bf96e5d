/*
 * Inside the CSR reader (csr.c), split by job: PEM armour (pem.c), ASN.1
 * strings (asn1str.c), signature algorithms, public keys and signature
 * checks (pubkey.c). Not for use outside lib/pki.
 */
#ifndef PKI_CSR_INT_H
#define PKI_CSR_INT_H

#include <stddef.h>

#include "der.h"
#include "issue_int.h"

/* ---- pem.c */

/*
 * Extracts the one CSR from PEM text into a fresh DER buffer.
 * Returns 0 and *der, *der_len (caller frees), or -1 with a violation.
 */
int pem_decode(const unsigned char *s, size_t n, unsigned char **der, size_t *der_len,
	       struct violations *vs);

/* ---- asn1str.c */

/* Bytes asn1str_to_utf8 may write for n content bytes: Latin-1 and UCS-2 at most double. */
#define ASN1STR_UTF8_MAX(n) ((n)*2 + 4)

/*
 * Converts a DER string (tag, contents v of n bytes) to UTF-8 into out
 * (ASN1STR_UTF8_MAX(n) bytes), NUL-terminated; sets *outlen (the value may
 * hold NUL) and *flags (enum str_flag).
 */
void asn1str_to_utf8(char *out, unsigned tag, const unsigned char *v, size_t n, size_t *outlen,
		     unsigned *flags);

/* ---- pubkey.c */

enum sig_kind { SIG_RSA, SIG_PSS, SIG_ECDSA, SIG_ED25519 };

struct sigalg {
	enum sig_kind kind;
	int md_bits; /* 256, 384, 512; 0 for Ed25519 */
	int pss_salt;
	const char *name;
};

struct pubkey {
	const unsigned char *n, *e; /* RSA, big-endian, leading zero stripped */
	size_t nlen, elen;
	const unsigned char *point; /* EC point or Ed25519 key */
	size_t point_len;
};

/*
 * Reads a signatureAlgorithm. Returns 0, -1 when malformed (csr_malformed),
 * -2 when the algorithm is not allowed (message in *why).
 */
int sigalg_parse(const struct der_tlv *alg, struct sigalg *sa, char *why, size_t whylen);

/*
 * Reads SubjectPublicKeyInfo into c's key fields (info, spki, pubkey_bits)
 * and *pk (spans into c->der). Returns 0, -1 when malformed, -2 with
 * violations added.
 */
int spki_parse(struct csr *c, const struct der_tlv *spki, struct pubkey *pk, struct violations *vs);

/* Verifies sig over tbs. Returns 1 valid, 0 invalid, -1 when the key cannot be used. */
int signature_verify(const struct csr_info *ci, const struct pubkey *pk, const struct sigalg *sa,
		     const unsigned char *tbs, size_t tbs_len, const unsigned char *sig,
		     size_t sig_len);

#endif
