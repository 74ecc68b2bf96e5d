/*
 * Kafka message formats, version 1 (JSON Schemas under schemas/), and the approval
 * grant that lets a request for a manual-approval CA be signed.
 *
 * Issue request (topic issue, key request id; schemas/issue-request.schema.json):
 *   {"v":1, "request_id", "csr", "common_name", "validity_days",
 *    "ca_id"?, "extensions"?: [names], "purpose"?, "tenant", "requester",
 *    "email"?, "client_ip"?, "batch_id"?, "submitted_at" (unix s),
 *    "grant"?: {"request_id","ca_id","request_sha256","expires_at","mac"}}
 * Approval (topic approval): {"v":1, "reason", "request": <issue request>,
 *    "approval_password"?} (the password only from the gateway, checked by
 *    the approver alone; never stored, never forwarded)
 * Result (topic results), issued (topic issued), audit (topic audit): see
 * the encoders below.
 *
 * Grant MAC: HMAC-SHA256(grant key, "pki-grant-v2\n" request_id "\n" ca_id
 * "\n" request_sha256 "\n" expires_at) as lowercase hex, where
 * request_sha256 is the SHA-256 (hex) of msg_canonical(m, "pki-grant-v2",
 * NULL): every field that shapes the certificate (the CSR by its hash, so
 * its subject and SANs; common name, validity, extensions, purpose, CA,
 * tenant, requester, request and batch id). A copy with any of them changed
 * does not verify. The worker records each grant's use at the claim
 * (store_claim), so a grant signs once.
 */
#ifndef PKI_MSG_H
#define PKI_MSG_H

#include <cJSON.h>
#include <stddef.h>
#include <time.h>

#include "admit.h"
#include "ids.h"
#include "reqstate.h"

#define MSG_VERSION 1
#define MSG_ERR_MAX 256
#define MSG_ID_MAX ID_BUF /* request ids, CA ids, tenant and user names, and the NUL */
#define MSG_NAME_MAX 256 /* common names, emails, purposes, batch ids */
#define MSG_CSR_MAX (64 * 1024)
#define GRANT_TTL_S (24 * 3600) /* a grant not used within this is refused */
#define MSG_PASSWORD_MAX 256    /* approval_password, bytes */
/* Longest canonical form: thirteen lines of a name and a value of MSG_NAME_MAX at most. */
#define MSG_CANONICAL_MAX (16 + 13 * (MSG_NAME_MAX + 64))

struct grant {
	char request_id[MSG_ID_MAX];
	char ca_id[MSG_ID_MAX];
	char request_sha256[65]; /* of the canonical request fields */
	long long expires_at;    /* unix seconds */
	char mac[65];
};

struct issue_msg {
	char *request_id;
	char *csr; /* PEM */
	char *common_name;
	int validity_days;
	char *ca_id;         /* NULL: the worker selects with the hints below */
	unsigned extensions; /* enum ext_bit; 0: the CA's default */
	char *purpose;       /* NULL when not given */
	char *tenant;
	char *requester; /* user name (an id) */
	char *email;     /* NULL when not known */
	char *client_ip; /* NULL for bulk */
	char *batch_id;  /* NULL unless bulk */
	long long batch_size; /* declared size of the batch, 0 when not given */
	long long submitted_at;
	char csr_sha256[65]; /* msg_csr_hash's cache: "" until asked; csr must not change after */
	int has_grant;
	struct grant grant;
};

/* The admission request (lib/pki/admit.h) of m for user u (NULL: unknown); points into m. */
void msg_admit_request(const struct issue_msg *m, const struct user *u, struct admit_request *rq);

/* Frees every string of m and m itself. NULL is safe. */
void msg_issue_free(struct issue_msg *m);

/* m as a JSON object (caller frees with cJSON_Delete), NULL when out of memory. */
cJSON *msg_issue_to_json(const struct issue_msg *m);
/* m as a JSON text (caller frees with free), NULL when out of memory. */
char *msg_issue_encode(const struct issue_msg *m);

/*
 * Validates o against the v1 schema (required keys, types, lengths, no
 * unknown keys) and returns 0 with *out (free with msg_issue_free), or -1
 * with "field: rule, got X" in err (MSG_ERR_MAX). Nothing is allocated on
 * failure.
 */
int msg_issue_from_json(const cJSON *o, struct issue_msg **out, char *err);
/* The same from text (len bytes, need not be NUL-terminated). */
int msg_issue_decode(const void *buf, size_t len, struct issue_msg **out, char *err);

/*
 * As msg_issue_from_json for a bulk submission (lib/wire/bulk.h): tenant,
 * requester and submitted_at may be left out (the verified key decides
 * them), email, client_ip and grant may not appear, and the keys in extra
 * (NULL-terminated, may be NULL) are skipped for the caller to read.
 */
int msg_bulk_from_json(const cJSON *o, const char *const *extra, struct issue_msg **out,
		       char *err);

/* NULL when s is 64 lowercase hex digits, else the rule (a jfield_rule). */
const char *msg_rule_hex64(const char *s);

/*
 * Parses len bytes of JSON text (at most MSG_TEXT_MAX): one value, UTF-8, no
 * NUL (raw or \u0000), no object naming a key twice. NULL with err; caller
 * frees the tree.
 */
cJSON *msg_parse(const void *buf, size_t len, char *err);
#define MSG_TEXT_MAX (MSG_CSR_MAX * 2)
#define MSG_BATCH_SIZE_MAX 1000000

/* The SHA-256 of m->csr as lowercase hex, computed on the first call and kept in m. */
const char *msg_csr_hash(struct issue_msg *m);

/* SHA-256 of csr (a NUL-terminated string) as lowercase hex into out[65]. */
void msg_csr_sha256(const char *csr, char out[65]);

/*
 * The canonical form of m's signed fields into buf, returning its length or
 * 0 when a value is too long: domain "\n", then for each of request_id,
 * batch_id, batch_size, csr_sha256, common_name, validity_days, ca_id,
 * purpose, extensions, tenant, requester (and key_id when not NULL) the line
 * "NAME=LEN:VALUE\n", or "NAME\n" when absent (extensions: the set names in
 * bit order joined by ","). Computes m's CSR hash if not yet known.
 */
size_t msg_canonical(struct issue_msg *m, const char *domain, const char *key_id,
		     char buf[MSG_CANONICAL_MAX]);

/*
 * Grants m (its ca_id must be set): fills m->grant, expiring at expires_at,
 * MAC'd with key (keylen bytes), and sets m->has_grant. 0, or -1 when a field
 * is too long.
 */
int grant_sign(const unsigned char *key, size_t keylen, struct issue_msg *m, long long expires_at);

/*
 * 1 when m carries a grant made with key for exactly m's request id and
 * shaping fields and for ca_id (the CA the worker will sign with), not
 * expired at now; 0 otherwise (the reason in why, MSG_ERR_MAX, may be NULL).
 * The MAC is compared in constant time.
 */
int grant_verify(const unsigned char *key, size_t keylen, struct issue_msg *m, const char *ca_id,
		 time_t now, char *why);

/*
 * Approval message: {"v":1,"reason":reason,"request":<issue request>} plus
 * "approval_password" when password is not NULL. Caller frees.
 */
char *msg_approval_encode(const struct issue_msg *m, const char *reason, const char *password);
/*
 * Decodes an approval message; *reason and *password (NULL when absent;
 * caller cleanses and frees) are malloc'd copies. 0 or -1 with err.
 */
int msg_approval_decode(const void *buf, size_t len, struct issue_msg **out, char **reason,
			char **password, char *err);

/*
 * Result message (topic results, key request id): {"v":1, "request_id",
 * "status": "issued"|"failed"|"rejected"|"expired", "ca_id"?, "batch_id"?,
 * "serial"?, "certificate"?, "chain"?, "code"?, "message"?, "time"}.
 * NULL strings are left out.
 */
struct msg_result {
	const char *request_id;
	enum req_state status;
	const char *ca_id, *batch_id;
	const char *serial, *certificate, *chain; /* issued */
	const char *code, *message;               /* failed, rejected, expired */
};
/* r as a JSON text. Caller frees; NULL when out of memory. */
char *msg_result_encode(const struct msg_result *r);

/* A member of a flat JSON object (msg_flat). */
struct msg_member {
	const char *name; /* plain: written unescaped */
	enum {
		MSG_M_STR,      /* str, left out when NULL */
		MSG_M_STR_NULL, /* str, null when NULL */
		MSG_M_NUM,      /* num */
	} kind;
	const char *str;
	long long num;
};
#define MSG_STR(name, s)                                                                           \
	{                                                                                          \
		name, MSG_M_STR, s, 0                                                              \
	}
#define MSG_STR_NULL(name, s)                                                                      \
	{                                                                                          \
		name, MSG_M_STR_NULL, s, 0                                                         \
	}
#define MSG_NUM(name, n)                                                                           \
	{                                                                                          \
		name, MSG_M_NUM, NULL, n                                                           \
	}

/*
 * {"v":MSG_VERSION, then the n members} as JSON text, as cJSON would print
 * it, without building a tree: the outcomes and audit events of every
 * request are written with it. Caller frees; NULL when out of memory.
 */
char *msg_flat(const struct msg_member *m, size_t n);

/*
 * Issued message (topic issued, key serial; the system of record):
 * {"v":1, "serial", "ca_id", "request_id", "tenant"?, "requester"?,
 *  "subject"?, "not_before", "not_after" (unix s), "certificate", "time"}.
 */
struct msg_issued {
	const char *serial, *ca_id, *request_id;
	const char *tenant, *requester, *subject; /* NULL: left out */
	long long not_before, not_after;
	const char *certificate; /* PEM */
};
/* i as a JSON text. Caller frees; NULL when out of memory. */
char *msg_issued_encode(const struct msg_issued *i);

#endif
