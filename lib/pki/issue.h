/*
 * Issuance core: CSR intake, validation against the request and the CA,
 * certificate profile, pre-issuance lint and signing. Pure functions over
 * bytes, plain policy structs (roster.h) and keys; no network, no config parsing. Used by the
 * gateway (fast fail) and the workers (enforcement).
 */
#ifndef PKI_ISSUE_H
#define PKI_ISSUE_H

#include <stdarg.h>
#include <stddef.h>
#include <time.h>

#include "roster.h"

#define CSR_MAX_BYTES (64 * 1024)
#define CSR_MAX_SANS 100
#define CSR_MAX_CN 64
#define ISSUE_BACKDATE_S 3600 /* notBefore = now - this, never more than 1 h */
#define VIOLATION_MAX 128
#define CABF_MAX_VALIDITY_DAYS 398 /* CA/B Forum TLS Baseline Requirements 6.3.2 */
#define SUBJECT_TEXT_MAX 2048      /* the issued subject as RFC 4514 text */
#define SUBJECT_WARNINGS_MAX 32    /* one per subject attribute of a CSR at most */

/* One policy or input violation: stable code, field, message a user can act on. */
struct violation {
	const char *code; /* static string, e.g. "csr_signature_invalid" */
	char field[48];   /* "csr_data", "common_name", "validity_days", "extensions", "ca_id" */
	char message[256];
};

struct violations {
	size_t n;       /* first: a list with none touches one page of its 40 KiB */
	size_t dropped; /* violations beyond VIOLATION_MAX, not stored */
	struct violation v[VIOLATION_MAX];
};

/* Fills v (code static; field and message copied, cut to fit). */
void violation_vset(struct violation *v, const char *code, const char *field, const char *fmt,
		    va_list ap) __attribute__((format(printf, 4, 0)));

/*
 * An empty list (caller frees): only the counts are set, entries are
 * written as they are added (a zeroed list is 40 KiB of memset per request).
 * NULL without memory.
 */
struct violations *violations_new(void);

/* Empties vs for reuse (the counts only, as violations_new). */
void violations_clear(struct violations *vs);

/* Adds a violation (beyond VIOLATION_MAX only counted in dropped). */
void violations_add(struct violations *vs, const char *code, const char *field, const char *fmt,
		    ...) __attribute__((format(printf, 4, 5)));

/* A parsed, signature-verified CSR. Opaque owner of its buffers. */
struct csr;

struct csr_info {
	unsigned key_type;   /* KT_RSA, KT_EC, KT_ED25519 */
	int key_bits;        /* RSA modulus bits, EC field bits, 256 for Ed25519 */
	unsigned curve;      /* CURVE_* for EC, 0 otherwise */
	const char *sig_alg; /* "sha256WithRSAEncryption", "ecdsa-with-SHA256", ... */
	/* Subject attributes, UTF-8, NULL when absent. */
	const char *cn, *o, *ou, *c, *st, *l, *email;
	const char *subject;         /* one-line RFC 4514 form, for display */
	const char *const *dns_sans; /* NULL-terminated */
	const char *const *ip_sans;  /* textual */
	const char *const *email_sans;
	const char *const *uri_sans;
	size_t nsans;           /* total */
	unsigned requested_ext; /* EKUs asked for in the CSR, as enum ext_bit */
	int requests_ca;        /* basicConstraints CA:TRUE asked for */
};

/*
 * Parses a CSR as people paste it (at most CSR_MAX_BYTES, exactly one CSR):
 * DER, one PEM block with any text around it, or bare base64 of the DER;
 * verifies its signature and algorithms. Returns 0 and *out (free with
 * csr_free), or -1 with the reasons added to vs. Thread-safe.
 */
int csr_parse(const void *buf, size_t len, struct csr **out, struct violations *vs);
void csr_free(struct csr *c);
const struct csr_info *csr_info(const struct csr *c);
/*
 * The CSR's DER as one canonical "CERTIFICATE REQUEST" PEM block, whatever
 * form it came in: what is passed on and hashed. Caller frees; NULL without
 * memory.
 */
char *csr_pem(const struct csr *c);

/* What the requester asked for, and for whom. */
struct issue_request {
	const char *common_name;
	int validity_days;
	unsigned extensions;              /* enum ext_bit; 0 means the CA's default (server_auth) */
	const char *tenant;               /* for messages; may be NULL */
	const char *const *organizations; /* the tenant's O values, NULL-terminated; NULL: none */
};

/* The subject a certificate gets under the CA's subject policy, and what changed. */
struct subject_notes {
	char subject[SUBJECT_TEXT_MAX]; /* RFC 4514, most significant last: "CN=x,O=y,C=FR" */
	struct violation warnings[SUBJECT_WARNINGS_MAX]; /* dropped or replaced attributes */
	size_t nwarnings;
};

/*
 * Checks csr and req against ca's policy (key type/size/curve, names, SANs,
 * validity, extensions, CA status and type, subject policy). Adds every
 * violation to vs. When notes is not NULL it gets the subject that would be
 * issued and the warnings. Returns 0 when there are no violations, -1
 * otherwise.
 */
int policy_check(const struct csr *c, const struct issue_request *req, const struct ca *ca,
		 struct violations *vs, struct subject_notes *notes);

/* Result of a signature. Free with issued_free. */
struct issued {
	char serial_hex[41]; /* lowercase, no separators */
	char *cert_pem;
	char *chain_pem; /* issuer chain, leaf's issuer first */
	unsigned char *der;
	size_t der_len;
	time_t not_before, not_after;
};
void issued_free(struct issued *is);

/*
 * Serial uniqueness hook: return 0 if serial_hex was reserved for this
 * certificate, 1 if already taken (a fresh serial is drawn), -1 on error.
 */
typedef int (*serial_reserve_fn)(void *arg, const char *serial_hex);

/*
 * The chain that goes with ca's certificates: ca's own certificate, then its
 * parents up to the root, as PEM (caller frees); NULL when out of memory.
 */
char *ca_chain_pem(const struct ca *ca);

/* One per CA key; holds the signing context. Not shared between threads. */
struct signer;
/* ca->key must be loaded. Returns NULL on error. */
struct signer *signer_new(const struct ca *ca);
void signer_free(struct signer *s);

/*
 * Optional URLs put in every certificate s issues: authorityInfoAccess
 * caIssuers and cRLDistributionPoints (either may be NULL). TLS server
 * certificates need both under the CA/Browser Forum rules. Returns 0 or -1.
 */
int signer_set_urls(struct signer *s, const char *ca_issuers_url, const char *crl_url);

/*
 * policy_check, then builds the TBS, lints it (fail closed), signs it and
 * checks the signed TBS equals the linted one. reserve may be NULL.
 * Returns 0 and *out, or -1 with reasons in vs (nothing signed).
 */
int signer_issue(struct signer *s, const struct csr *c, const struct issue_request *req,
		 serial_reserve_fn reserve, void *arg, struct issued **out, struct violations *vs);

/* Name <-> bit helpers for config and JSON. Return 0 for an unknown name. */
unsigned ext_from_name(const char *name);
const char *ext_name(unsigned bit);
/* Every extension name, in bit order (the name of 1 << i); *n set to their count. */
const char *const *ext_name_list(size_t *n);
/* "RSA", "EC", "Ed25519" for one enum key_type_bit, "unknown" otherwise. */
const char *key_type_name(unsigned kt);

/*
 * NULL when v may be fixed as the value of subject attribute kind (enum
 * name_attr_kind): RFC 5280 length, string type and characters; else why not.
 */
const char *subject_value_check(unsigned kind, const char *v);

/* 1 if s is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int str_utf8_valid(const unsigned char *s, size_t n);

#endif
