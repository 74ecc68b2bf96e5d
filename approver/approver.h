/*
 * pki-approver: holds requests awaiting manual approval in Redis, serves the
 * admin API and dashboard, publishes grants, expires and notifies.
 *
 * Redis (P = config redis.prefix), besides the shared request records
 * (store.h):
 *   P pending               sorted set: request ids awaiting a decision, scored
 *                           by submission time (oldest first)
 *   P pending:{id}          hash: the pending request (fields below) and the
 *                           approvals so far ("approvals": JSON array of
 *                           {"admin","time"}); state pending | approved
 *   P pending:expiry        sorted set: pending ids scored by expires_at
 *   P pending:outbox        sorted set: approved ids whose grant is not yet
 *                           published, scored by the next publishing attempt
 *   P decisions             list: recent decisions, newest first (JSON)
 * plus the webhook queue of webhook.h; notifications read the users'
 * channels (me.h) and mark a request's record ("notified") and its batch
 * ("notified") once they told of its end.
 */
#ifndef PKI_APPROVER_H
#define PKI_APPROVER_H

#include <cJSON.h>
#include <pthread.h>
#include <stdatomic.h>

#include "audit.h"
#include "config.h"
#include "http.h"
#include "kafka.h"
#include "redis.h"
#include "store.h"
#include "svc.h"
#include "webhook.h"

struct issue_msg;

#define APPROVER_BODY_MAX (64 * 1024)
#define APPROVER_GROUP "pki-approver"                 /* consumer group of the approval topic */
#define APPROVER_RESULTS_GROUP "pki-approver-results" /* and of the results topic */
#define APPROVER_POLL_MS 500
/*
 * How long the broker may hold the results consumer's fetch to gather more
 * (kafka_consumer_new): telling of a request's end may wait that long, and
 * the broker serves a few fetches a second instead of one per worker batch.
 */
#define APPROVER_RESULTS_WAIT_MS 200
#define APPROVER_SWEEP_MS 1000       /* expiry and outbox timer */
#define APPROVER_WEBHOOK_TICK_MS 250 /* webhook queue timer */
#define APPROVER_WEBHOOK_BATCH 16
#define APPROVER_OUTBOX_RETRY_S 10 /* an unpublished grant is retried after this */
#define APPROVER_PRODUCE_TIMEOUT_MS (KAFKA_MESSAGE_TIMEOUT_MS + 500)
#define APPROVER_DECISIONS_MAX 200 /* entries kept in P decisions */
#define APPROVER_DECISIONS_PAGE 20 /* decisions listed by default */
#define APPROVER_LIST_MAX 10000    /* pending ids read for one listing */
#define APPROVER_PAGE_DEFAULT 50
#define APPROVER_PAGE_MAX 500
#define APPROVER_REASON_MAX 500 /* rejection reason, characters */
#define APPROVER_KEY_MAX 512

/*
 * Notification events (pki.notify "event", webhook X-PKI-Event): "pending"
 * to the admins; to the requester the request's state name
 * (pending_approval, approved, issued, failed, rejected, expired); to a
 * batch's owner "batch_ended".
 */
#define NOTE_PENDING "pending"
#define NOTE_BATCH_ENDED "batch_ended"
#define NOTIFY_ENDED 4 /* the end states a batch counts: issued, failed, rejected, expired */
extern const char *const notify_ended[NOTIFY_ENDED];

/* Prometheus counters of GET /metrics. */
struct approver_metrics {
	atomic_ullong pw_checks;    /* scrypt runs */
	atomic_ullong pw_limited;   /* attempts beyond the limit: not checked */
	atomic_ullong pw_unchecked; /* attempts that could not be counted: not checked */
	atomic_ullong queue_calls;  /* Redis round trips of the queue (ap_redis) */
};

struct approver {
	const struct config *cfg;
	struct approver_metrics m;
	struct store store;
	struct webhook_queue wq;
	struct kafka_producer *kp;
	struct http_server *http;
	struct svc_health health; /* as last checked by the main loop */
	pthread_t intake_thr, results_thr, sweep_thr, webhook_thr;
	int intake_up, results_up, sweep_up, webhook_up;
};

/*
 * One pending request as read from P pending:{id}. Strings are owned; free
 * with pending_free.
 */
struct pending {
	char *id, *state, *ca_id, *tenant, *requester, *email, *client_ip, *common_name;
	char *reason;    /* why it needs approval (from the approval message) */
	char *msg;       /* the issue request JSON as received */
	char *approvals; /* JSON array text */
	long long submitted_at, received_at, expires_at;
	int approvals_required;
	int validity_days;
};

/* ---- pending.c: the Redis side, every step atomic in Lua */

/* Key of kind for id into out (APPROVER_KEY_MAX): "P kind" or "P kind:id". */
void ap_key(const struct approver *ap, char *out, const char *kind, const char *id);
/* store_run on the approver's store (no pipe: this thread's connection). */
redisReply *ap_redis(struct approver *ap, int argc, const char **argv);

/* Intake outcomes. */
#define PENDING_NEW 0
#define PENDING_DUPLICATE 1 /* already pending: nothing changed */
#define PENDING_DECIDED 2   /* the request moved on already: nothing changed */
/*
 * Stores m (needing approval for reason, msg_json as received) as pending
 * unless it is already there or decided; state → pending_approval with
 * approval_expires_at. Returns PENDING_* (the state seen in cur,
 * STORE_ID_MAX) or STORE_EDOWN.
 */
int pending_intake(struct approver *ap, const struct issue_msg *m, const char *reason,
		   const char *msg_json, long long expires_at, int approvals_required, char *cur);

/* Reads pending id. 0 and *out, STORE_ENOTFOUND, STORE_EDOWN. */
int pending_get(struct approver *ap, const char *id, struct pending **out);
void pending_free(struct pending *p);

/* What a listing filters and counts on, of one pending request. */
#define PENDING_INDEX_FIELDS 5 /* id, state, ca_id, tenant, requester */

/*
 * The queue for a listing in one Redis call: for each id in P pending,
 * oldest first (at most APPROVER_LIST_MAX), PENDING_INDEX_FIELDS strings
 * ("" when absent), flat. Caller frees with freeReplyObject; NULL when
 * Redis is down.
 */
redisReply *pending_index(struct approver *ap);
/*
 * Reads the n pending requests ids in one Redis call into out[0..n-1]
 * (NULL for one gone meanwhile; free each with pending_free). 0 or
 * STORE_EDOWN.
 */
int pending_get_many(struct approver *ap, const char *const *ids, size_t n, struct pending **out);

/* Approve outcomes. */
#define APPROVE_NOT_PENDING 0
#define APPROVE_RECORDED 1 /* counted; more approvals needed */
#define APPROVE_REPEATED 2 /* this admin approved already */
#define APPROVE_COMPLETE 3 /* enough: state approved, grant to publish */
/*
 * Adds admin's approval to id atomically. approvals (malloc'd JSON array
 * text, may be NULL) gets the approvals after the call; cur the request's
 * state when not pending. Returns APPROVE_* or STORE_EDOWN.
 */
int pending_approve(struct approver *ap, const char *id, const char *admin, int required,
		    char **approvals, char *cur);

/*
 * Ends pending id in state to (rejected | expired) with error code and
 * message, by actor. With only_due, only when its expiry time has passed.
 * Returns 1 when done (*out, may be NULL, gets the pending record as it
 * was), 0 when not pending (cur gets the state) or not due, STORE_EDOWN.
 */
int pending_end(struct approver *ap, const char *id, enum req_state to, const char *code,
		const char *message, const char *actor, int only_due, struct pending **out,
		char *cur);

/* Drops pending id (published) from P pending:{id} and the outbox. */
int pending_published(struct approver *ap, const char *id);

/* Pushes a decision onto P decisions (trimmed to APPROVER_DECISIONS_MAX). */
void decisions_add(struct approver *ap, const struct pending *p, const char *decision,
		   const char *actor, const char *approvals, const char *reason);

/* ---- decide.c */

/*
 * Publishes the grant for approved request id: signs it with the grant key,
 * moves approved → queued and sends it to the issue topic. 0, or -1 (left in
 * the outbox for a retry, logged).
 */
int decide_publish(struct approver *ap, const char *id);
/* POST …/approve and …/reject by admin u (scope checked here); answer req. */
void decide_approve(struct approver *ap, struct http_req *req, const struct user *u,
		    const char *id);
void decide_reject(struct approver *ap, struct http_req *req, const struct user *u, const char *id);

/* ---- password.c */

enum pw_verdict { PW_RIGHT, PW_WRONG, PW_LIMITED, PW_UNCHECKED };
/* The approver's name in approvals made by a right password (no user name has spaces). */
#define APPROVER_PASSWORD_ACTOR "approval password"

/*
 * Counts password's attempt for m's requester and CA, then (within the
 * limit) checks it against ca's scrypt hash: PW_RIGHT, PW_WRONG, PW_LIMITED,
 * or PW_UNCHECKED when the count failed (fail closed). Intake thread only.
 */
enum pw_verdict password_check(struct approver *ap, const struct issue_msg *m, const struct ca *ca,
			       const char *password);
/* The pending reason for a verdict ("approval_password_wrong", ...). */
const char *password_reason(enum pw_verdict v);
/* GET /metrics: the password counters. */
void password_metrics(struct approver *ap, struct http_req *req);

/* ---- intake.c, expiry.c: threads */
void *intake_run(void *arg);
void *results_run(void *arg);
void *sweep_run(void *arg);
void *webhook_run(void *arg);

/* ---- notify.c */

/* What one requester event says; strings borrowed, NULL when absent. */
struct note {
	const char *event; /* a state name, or NOTE_BATCH_ENDED */
	const char *id;    /* request id; NULL for a batch event */
	const char *state, *ca_id, *tenant, *requester, *email, *common_name;
	const char *actor, *reason, *code, *serial;
	const char *batch_id;    /* batch events */
	const long long *counts; /* per notify_ended state */
	long long total;
};

/* A user's own channels, borrowed from a Redis reply. */
struct chan_hook {
	const char *id, *url;
};
struct channels {
	int email; /* opted in */
	const struct chan_hook *hooks;
	size_t nhooks;
};

/* "pending" about p (why: reason) to the admins who may decide, and the operator's webhooks. */
void notify_admins(struct approver *ap, const struct pending *p, const char *reason);

/*
 * n to its requester: the notify topic, the operator's webhooks of its CA
 * and tenant, the requester's own webhooks and e-mail (ch, may be NULL).
 */
void notify_requester(struct approver *ap, const struct note *n, const struct channels *ch);

/*
 * Tells the requester of request id that it is now in state (reason, serial
 * may be NULL: read from the record). A terminal state is told once per
 * request (the record's "notified" mark); a batch's requests are told
 * nothing, their batch's owner once when the last of them ended. 0, or -1
 * when Redis failed (retry).
 */
int notify_request(struct approver *ap, const char *id, enum req_state state, const char *reason,
		   const char *serial);

/* One request to tell of as notify_request does; strings borrowed. */
struct notify_item {
	const char *id;
	enum req_state state;
	const char *reason, *serial; /* may be NULL */
};
#define NOTIFY_BATCH_MAX 256 /* requests told with one Redis round trip */
/*
 * notify_request for n (at most NOTIFY_BATCH_MAX) requests with one Redis
 * script call for all of them. 0, or -1 when Redis failed (retry: a request
 * is marked once, so none is told twice), n is too large or memory ran out.
 */
int notify_requests(struct approver *ap, const struct notify_item *items, size_t n);
/*
 * For each of the n (at most NOTIFY_BATCH_MAX) bulk batches named, with one
 * Redis script call for all: tells its owner once that it ended, if it has.
 * 0, or -1 as notify_requests.
 */
int notify_batches(struct approver *ap, const char *const *batch_ids, size_t n);

/* Audits event about p (may be NULL with request_id given) by actor. */
void ap_audit(struct approver *ap, const char *event, const char *request_id,
	      const struct pending *p, const char *actor, const char *client_ip,
	      const char *detail);

/* 1 if admin u may act on requests of ca_id for tenant (role and scope). */
int ap_admin_scope(const struct user *u, const char *ca_id, const char *tenant);

/* ---- api.c */
void api_route(struct approver *ap, struct http_req *req);
/* The JSON of p for the API (summary; with detail, the decoded CSR and the subject cfg would
 * issue). Caller frees. */
cJSON *api_pending_json(const struct config *cfg, const struct pending *p, int detail);

/* ---- dashboard.c */
void dashboard_route(struct approver *ap, struct http_req *req);

#endif
