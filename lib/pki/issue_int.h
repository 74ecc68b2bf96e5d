/*
 * Internals shared by csr.c, policy.c, profile.c, lint.c and signer.c: the
 * parsed CSR with byte spans into its own DER copy, and the OIDs used.
 */
#ifndef PKI_ISSUE_INT_H
#define PKI_ISSUE_INT_H

#include <stddef.h>

#include "der.h"
#include "issue.h"

#define CSR_MAX_ATTRS 32 /* subject attributes kept; more is refused as malformed */
#define CSR_MAX_EXTS 32  /* extensions in the extensionRequest */
/* CSR attributes (extensionRequest, challengePassword, ...); more is refused as malformed */
#define CSR_MAX_REQ_ATTRS 16
#define CSR_MAX_REQ_ATTRS_TEXT "16"
#define CSR_OID_TEXT 64

/* Problems found in a subject attribute or SAN string, checked by policy_check. */
enum str_flag {
	STR_CTRL = 1,     /* NUL or a control character */
	STR_BAD_UTF8 = 2, /* invalid UTF-8 (or invalid UCS-2/UCS-4) */
	STR_BAD_TYPE = 4, /* string type not allowed for this attribute by RFC 5280 */
	STR_BAD_CHARS =
	    8, /* characters outside the string type's set (PrintableString, IA5String) */
};

struct name_attr {
	enum name_attr_kind kind;
	char oid[CSR_OID_TEXT];   /* dotted, for messages */
	unsigned tag;             /* DER string tag */
	const unsigned char *raw; /* the value's contents inside the CSR's DER */
	size_t raw_len;
	const char *utf8; /* converted value (arena) */
	size_t utf8_len;  /* may contain NUL */
	unsigned flags;   /* enum str_flag */
};

struct san {
	const char *text; /* arena; IP in text form */
	size_t len;
	const unsigned char *raw; /* contents in the DER (IP: 4 or 16 octets) */
	size_t raw_len;
	unsigned flags; /* enum str_flag */
};

struct csr_ext {
	char oid[CSR_OID_TEXT];
	int critical;
	int known;
};

struct csr {
	struct csr_info info;
	unsigned char *der; /* the CSR, owned */
	size_t der_len;
	const unsigned char *subject; /* full Name TLV inside der */
	size_t subject_len;
	const unsigned char *spki; /* full SubjectPublicKeyInfo TLV */
	size_t spki_len;
	const unsigned char
	    *pubkey_bits; /* subjectPublicKey BIT STRING contents after the unused-bits octet */
	size_t pubkey_bits_len;
	struct name_attr attrs[CSR_MAX_ATTRS];
	size_t nattrs;
	int ncn; /* CN attributes seen */
	struct san *dns, *ip, *email, *uri; /* slices of sans */
	size_t ndns, nip, nemail, nuri;
	struct san *sans;          /* owned: every SAN, sized by count (not the arena) */
	const char **san_lists;    /* owned: csr_info's four NULL-ended lists */
	size_t nother_sans; /* otherName, directoryName, ...: not supported */
	struct csr_ext exts[CSR_MAX_EXTS];
	size_t nexts;
	char dup_ext[CSR_OID_TEXT]; /* first extension seen twice, or "" */
	unsigned eku_unknown;       /* EKU OIDs outside enum ext_bit */
	int eku_any;                /* anyExtendedKeyUsage asked for */
	char eku_unknown_oid[CSR_OID_TEXT];
	int requests_ca_critical;
	/* Storage for strings and pointer arrays. */
	char *arena;
	size_t arena_len, arena_cap;
};

/* One attribute of the issued subject: from the CSR (its bytes) or fixed by the CA. */
struct subject_atv {
	enum name_attr_kind kind;
	unsigned tag;             /* DER string tag */
	const unsigned char *val; /* contents as encoded */
	size_t len;
	const char *utf8; /* for the text form */
	size_t utf8_len;
};

/* What policy decided for the certificate; filled by policy_eval. */
enum cn_san_kind { CN_SAN_NONE, CN_SAN_DNS, CN_SAN_IP, CN_SAN_EMAIL };
struct plan {
	unsigned eku;            /* enum ext_bit, never 0 */
	enum cn_san_kind cn_san; /* how the CN joins the SAN, when not already there */
	int cabf;                /* CA/B Forum TLS profile: server_auth under a cabf_tls CA */
	int cabf_ov;             /* cabf: organization in the subject (OV), else DV */
	unsigned char cn_ip[16];
	size_t cn_ip_len;
	int subject_rebuilt; /* 0: the CSR's subject byte for byte; 1: encoded from atv */
	/* the issued subject, most significant first: kept CSR attributes and fixed ones */
	struct subject_atv atv[CSR_MAX_ATTRS + NA_OTHER];
	size_t natv;
	struct subject_notes notes;
};

/* ---- subject.c */

/* Number of UTF-8 code points of s (n bytes); bytes of invalid sequences count as one each. */
size_t utf8_count(const char *s, size_t n);

/* "CN", "O", ..., "serialNumber" for a kind, NULL for NA_OTHER. */
const char *subject_attr_label(enum name_attr_kind kind);

/*
 * Applies ca's subject policy (and the tenant's organizations in req) to c's
 * subject: fills plan's atv list, subject_rebuilt and notes, adds refusals
 * to vs.
 */
void subject_eval(const struct csr *c, const struct issue_request *req, const struct ca *ca,
		  struct violations *vs, struct plan *plan);

/* Writes the Name TLV of the issued subject (plan from subject_eval) into out. */
void subject_encode(const struct csr *c, const struct plan *plan, struct dbuf *out);

/*
 * Writes v (n bytes of UTF-8) escaped as an RFC 4514 attribute value into
 * out, which has room for 2 * n bytes; control bytes become '?'. Returns the
 * length written.
 */
size_t rfc4514_escape(char *out, const char *v, size_t n);

/* policy_check that also returns the plan (when plan is not NULL). */
int policy_eval(const struct csr *c, const struct issue_request *req, const struct ca *ca,
		struct violations *vs, struct plan *plan);

/* What the linter needs to know besides the TBS bytes. */
struct lint_ctx {
	const unsigned char *sigalg; /* expected AlgorithmIdentifier TLV */
	size_t sigalg_len;
	const unsigned char *issuer; /* CA subject Name TLV */
	size_t issuer_len;
	const unsigned char *aki; /* expected key identifier */
	size_t aki_len;
	time_t issuer_not_before, issuer_not_after;
	time_t now;
	int validity_days;    /* requested */
	unsigned allowed_eku; /* CA policy */
	int cabf; /* CA/B Forum TLS profile: certificatePolicies required, else absent */
};

/*
 * Lints a to-be-signed certificate. Adds every finding to vs with code
 * "lint_error" and field "certificate". Returns 0 when clean, -1 otherwise.
 */
int lint_tbs(const unsigned char *tbs, size_t len, const struct lint_ctx *lc,
	     struct violations *vs);

/* Fetched SHA-256/384/512 (bits; 160 gives SHA-1 for key identifiers), shared by all threads. */
const EVP_MD *issue_md(int bits);

/* Parses an X.509 Time (UTCTime or GeneralizedTime, "Z" form, RFC 5280 year rule). -1 if invalid.
 */
int der_time_parse(const struct der_tlv *t, time_t *out);
/* Encodes t as UTCTime (before 2050) or GeneralizedTime into out (>= 18 bytes); returns TLV length.
 */
size_t der_time_encode(time_t t, unsigned char *out);

/* Inputs of the certificate profile besides the CSR and the plan. */
struct tbs_params {
	const unsigned char *serial; /* INTEGER contents, positive, minimal */
	size_t serial_len;
	const unsigned char *sigalg; /* AlgorithmIdentifier TLV of the CA's signature */
	size_t sigalg_len;
	const unsigned char *issuer; /* CA subject Name TLV */
	size_t issuer_len;
	const unsigned char *aki; /* CA key identifier */
	size_t aki_len;
	time_t not_before, not_after;
	const unsigned char *extra_ext; /* pre-encoded AIA / CRL DP extensions, or NULL */
	size_t extra_ext_len;
};

/* Builds the TBSCertificate DER into out. Returns 0, or -1 on allocation failure. */
int profile_build_tbs(const struct csr *c, const struct plan *plan, const struct tbs_params *tp,
		      struct dbuf *out);

#define SERIAL_LEN                                                                                 \
	20 /* octets; 158 random bits: top bit clear (positive), next bit set (minimal) */

/* 1 if ch is in the PrintableString set. */
int str_printable_char(unsigned char ch);

/* 1 if s (len bytes) is a syntactically valid DNS name; wildcard allowed as the whole leftmost
 * label. */
int dns_name_valid(const char *s, size_t len, int allow_wildcard, const char **why);
/* 1 if s looks like a DNS name (letters, digits, '-', '.', leading "*.") and is not an address. */
int dns_name_like(const char *s, size_t len);
/* ASCII case-insensitive equality of two byte strings. */
int ascii_casecmp_eq(const char *a, size_t alen, const char *b, size_t blen);

/*
 * Appends der (len bytes) as a PEM block with label to the malloc'd string s
 * of *slen bytes (NULL and 0 to start one). Returns the new string (*slen
 * updated), or NULL with s freed.
 */
char *pem_append(char *s, size_t *slen, const char *label, const unsigned char *der, size_t len);

#endif
