/*
 * Outbound notifications, through libcurl: signed webhooks (an HTTP(S) POST
 * of a JSON body, signed with HMAC-SHA256) and e-mail (SMTP to the
 * configured relay), delivered from a Redis-held queue with retries and
 * exponential backoff. A delivery whose url is "mailto:ADDRESS" is an
 * e-mail whose body is the whole message; any other is a webhook.
 *
 * Every delivery carries
 *
 *   Content-Type: application/json
 *   X-PKI-Event: <event name>
 *   X-PKI-Delivery: <delivery id>          (the same on every retry)
 *   X-PKI-Timestamp: <unix seconds of this attempt>
 *   X-PKI-Signature: sha256=<hex HMAC-SHA256(secret, timestamp "." body)>
 *
 * A receiver recomputes the HMAC over the timestamp, a dot and the raw body,
 * compares in constant time and refuses old timestamps (replay). A 2xx answer
 * is a delivery; anything else (or no answer within WEBHOOK_TIMEOUT_MS) is
 * retried after WEBHOOK_BACKOFF_BASE_MS * 2^(attempt-1) (capped at
 * WEBHOOK_BACKOFF_MAX_MS), WEBHOOK_MAX_ATTEMPTS attempts in all.
 *
 * Redis (P = prefix):
 *   P webhook:{did}        hash: id, event, request_id, target, url, body, status
 *                          (pending | delivered | failed), attempts, last_code,
 *                          last_error, created, updated, next_at (ms)
 *   P webhook:{did}:log    list: one line per attempt "time attempt outcome"
 *   P webhook:due          sorted set: did scored by the next attempt (unix ms)
 *   P webhook:req:{id}     list: the delivery ids of request id
 * Records expire WEBHOOK_RECORD_TTL_S after their last update. A delivery is
 * claimed by moving its score WEBHOOK_LEASE_MS ahead in one Lua step, so
 * several processes can drain one queue; a claimer that dies leaves the
 * delivery to be retried when the lease runs out.
 */
#ifndef PKI_WEBHOOK_H
#define PKI_WEBHOOK_H

#include <stddef.h>

#include "netguard.h"

#define WEBHOOK_TIMEOUT_MS 5000
#define WEBHOOK_MAX_ATTEMPTS 6
#define WEBHOOK_BACKOFF_BASE_MS 1000
#define WEBHOOK_BACKOFF_MAX_MS (5 * 60 * 1000)
#define WEBHOOK_LEASE_MS (WEBHOOK_TIMEOUT_MS * 3)
#define WEBHOOK_RECORD_TTL_S (7 * 24 * 3600)
#define WEBHOOK_ERR_MAX 256
#define WEBHOOK_ID_MAX 40
#define WEBHOOK_SIG_MAX 72 /* "sha256=" + 64 hex + NUL */
#define WEBHOOK_SECRET_MAX 128
#define WEBHOOK_EREFUSED (-2) /* webhook_post: the guard refused the address */
#define WEBHOOK_MAILTO "mailto:"
#define WEBHOOK_USER_TARGET "user:" /* a user's own webhook: guarded by netguard */

#define WEBHOOK_SIG_HEADER "X-PKI-Signature"
#define WEBHOOK_TS_HEADER "X-PKI-Timestamp"
#define WEBHOOK_EVENT_HEADER "X-PKI-Event"
#define WEBHOOK_ID_HEADER "X-PKI-Delivery"

/*
 * "sha256=<hex>" of HMAC-SHA256(secret, "<ts>.<body>") into out
 * (WEBHOOK_SIG_MAX). Returns 0 or -1.
 */
int webhook_sign(const char *secret, long long ts, const char *body, size_t len, char *out);

/*
 * POSTs body (len bytes, application/json) to an http:// or https:// url
 * with extra headers (NULL or a NULL-terminated name, value list); https
 * verifies the server against the system trust store (or SSL_CERT_FILE /
 * SSL_CERT_DIR when set) and the URL's host name or address. With guard,
 * every address connected to must pass netguard_addr_check. No redirects,
 * no proxy. Returns 0 with the HTTP status in *status once an answer was
 * read; WEBHOOK_EREFUSED with the reason in err (WEBHOOK_ERR_MAX) when the
 * guard refused every address; -1 with a message in err when the URL is
 * bad or the transport failed. Connects within timeout_ms,
 * finishes within twice that.
 */
int webhook_post(const char *url, const char *const *headers, const char *body, size_t len,
		 int timeout_ms, const struct notify_cfg *guard, int *status, char *err);

/*
 * Sends message (an RFC 5322 message, CRLF lines) to the address to through
 * n's SMTP relay (TLS as n->smtp_tls says; AUTH with n->smtp_user and
 * password when set). 0, or -1 with a message in err (WEBHOOK_ERR_MAX).
 */
int webhook_mail(const struct notify_cfg *n, const char *password, const char *to,
		 const char *message, int timeout_ms, char *err);

/* Delay before attempt n+1 after n failed attempts (n >= 1), in ms. */
long webhook_backoff_ms(int attempts);

/* The queue: everything borrowed. */
struct webhook_queue {
	const char *redis_url;
	const char *prefix;
	const struct notify_cfg *notify; /* SMTP relay and users' webhook guard */
	const char *smtp_password;       /* NULL without smtp.user */
};

/*
 * Queues one delivery of body for event about request_id to url; target
 * names where the url and secret came from (e.g. "ca:demo-approval:0"), so
 * the secret itself never sits in Redis. The delivery id goes to did
 * (WEBHOOK_ID_MAX). Due at once. Returns 0 or -1 (Redis down, logged).
 */
int webhook_enqueue(const struct webhook_queue *q, const char *target, const char *url,
		    const char *event, const char *request_id, const char *body, char *did);

/* What happened to one attempt, for the caller's audit. */
struct webhook_outcome {
	const char *id, *event, *request_id, *target, *url;
	int attempt;
	int code;           /* HTTP status, 0 when there was no answer */
	const char *error;  /* transport error or NULL */
	const char *status; /* delivered | pending (will retry) | failed (gave up) */
};

/*
 * Copies the secret for target into out (WEBHOOK_SECRET_MAX): returns 0, 1
 * when target no longer exists (the delivery then fails without a request),
 * -1 when it could not be read (retried).
 */
typedef int (*webhook_secret_fn)(void *arg, const char *target, char *out);
typedef void (*webhook_outcome_fn)(void *arg, const struct webhook_outcome *o);

/*
 * Claims up to max due deliveries and makes one attempt at each, recording
 * the outcome and rescheduling or finishing it; calls outcome (may be NULL)
 * after each attempt. Returns the number attempted, or -1 when Redis failed.
 */
int webhook_run_due(const struct webhook_queue *q, int max, webhook_secret_fn secret,
		    webhook_outcome_fn outcome, void *arg);

#endif
