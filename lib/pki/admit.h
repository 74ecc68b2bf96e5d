/*
 * Admission: the one decision, for HTTP submissions and for messages on the
 * Kafka topics alike, of whether a request may go on, in this order:
 * identity (an authenticated user, never a name taken from a field) →
 * tenant → CA (named, with an access check, or selected) → CSR and CA
 * policy, and the names the tenant and CA allow (namepol.h) → approval
 * route. Nothing is stored here; callers map the answer to their medium:
 * the gateway to an HTTP status (admit_http_status), the worker to a
 * failed result, both with the same code and message.
 */
#ifndef PKI_ADMIT_H
#define PKI_ADMIT_H

#include "issue.h"
#include "roster.h"
#include "select.h"

struct admit_request {
	const struct user *user; /* the authenticated requester; NULL: unknown (refused) */
	const char *requester;   /* the name claimed, for the message when user is NULL */
	const char *tenant_id;   /* the tenant asked for; NULL: the user's own */
	const char *ca_id;       /* NULL: selected from tenant, purpose, email, client_ip */
	const char *purpose;     /* may be NULL */
	const char *client_ip;   /* NULL for bulk submissions */
	const char *csr;         /* PEM or DER text, NUL-terminated */
	const char *common_name;
	int validity_days;
	unsigned extensions; /* enum ext_bit */
};

struct admit_result {
	const char *tenant;  /* in the roster */
	const struct ca *ca; /* NULL when refused before a CA was known */
	char reason[SELECT_REASON_MAX];
	struct csr *csr;            /* parsed CSR when it parsed; caller frees with csr_free */
	int needs_approval;         /* the CA requires manual approval */
	struct subject_notes notes; /* the subject to be issued and the warnings, once admitted */
};

/*
 * Decides rq against the CAs, users and tenants of r. Returns 0 when
 * admitted, or -1 with at least one violation in vs (the first is the
 * answer's code). *out is filled as far as the checks got (its csr must be
 * freed either way). Thread-safe.
 */
int admit_check(const struct roster *r, const struct admit_request *rq, struct admit_result *out,
		struct violations *vs);

/*
 * The issue_request for a request of tenant (its organizations from r) with
 * these fields: what admission checks and the signer signs against. ir
 * points into r and the arguments.
 */
void admit_issue_request(const struct roster *r, const char *tenant, const char *common_name,
			 int validity_days, unsigned extensions, struct issue_request *ir);

/* The HTTP status for a violation code (404 for an unknown CA, else 422). */
unsigned admit_http_status(const char *code);

#endif
