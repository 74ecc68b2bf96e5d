/*
 * Bulk submissions (topic submit, key request id): an issue request signed
 * by a bulk producer's key, so that the worker takes the requester from the
 * verified key and never from a field of the message.
 *
 *   {"v":1, "request_id", "csr", "common_name", "validity_days", "ca_id"?,
 *    "extensions"?, "purpose"?, "batch_id"?, "batch_size"?, "tenant"?,
 *    "requester"?, "auth": {"key_id", "alg": "HMAC-SHA256", "sig"}}
 *
 * sig = HMAC-SHA256(the key's 32-byte secret, canonical) in lowercase hex.
 * canonical = "pki-bulk-v1\n" then, for each of request_id, batch_id,
 * batch_size, csr_sha256, common_name, validity_days, ca_id, purpose,
 * extensions, tenant, requester, key_id in this order, the line
 * "NAME=LEN:VALUE\n" when
 * present (LEN: the value's length in bytes; integers in decimal; csr_sha256:
 * the SHA-256 of the "csr" string as sent, 64 lowercase hex digits, so that
 * the worker hashes the CSR once for the signature and its record; extensions:
 * the names of the set ones in the order server_auth, client_auth,
 * email_protection, code_signing, joined by ","), or "NAME\n" when absent.
 * Schema: schemas/bulk-request.schema.json.
 */
#ifndef PKI_BULK_H
#define PKI_BULK_H

#include <stddef.h>

#include "msg.h"

#define BULK_DOMAIN "pki-bulk-v1"
#define BULK_ALG "HMAC-SHA256"
#define BULK_SECRET_BYTES 32

struct bulk_auth {
	char key_id[MSG_ID_MAX];
	char sig[65];
};

#define BULK_CANONICAL_MAX MSG_CANONICAL_MAX

/*
 * msg_canonical(m, BULK_DOMAIN, key_id, buf): the canonical form of m signed
 * under key_id and its length, or 0 when a value is too long for it.
 */
size_t bulk_canonical(struct issue_msg *m, const char *key_id, char buf[BULK_CANONICAL_MAX]);

/* Signs m with secret under key_id into a. Returns 0, or -1 (key_id too long, no memory). */
int bulk_sign(const unsigned char secret[BULK_SECRET_BYTES], const char *key_id,
	      struct issue_msg *m, struct bulk_auth *a);

/* 1 when a.sig is the signature of m under a.key_id with secret (constant time), else 0. */
int bulk_verify(const unsigned char secret[BULK_SECRET_BYTES], struct issue_msg *m,
		const struct bulk_auth *a);

/*
 * m with its auth member as JSON text (caller frees). Only the bulk fields of
 * m are written (no email, client_ip, grant, submitted_at). NULL without memory.
 */
char *bulk_encode(const struct issue_msg *m, const struct bulk_auth *a);

/*
 * Decodes a bulk message: the request into *out (msg_issue_free) and its auth
 * member into a. Returns 0, or -1 with "field: rule, got X" in err
 * (MSG_ERR_MAX); a message without a well-formed auth member fails here.
 */
int bulk_decode(const void *buf, size_t len, struct issue_msg **out, struct bulk_auth *a,
		char *err);

#endif
