/* pki-gateway: the public HTTP API. Holds no CA private key. */
#ifndef PKI_GATEWAY_H
#define PKI_GATEWAY_H

#include <pthread.h>
#include <stdatomic.h>

#include "config.h"
#include "http.h"
#include "kafka.h"
#include "store.h"
#include "svc.h"

#define GATEWAY_BODY_MAX (64 * 1024) /* POST /csr/process cap (413 beyond) */
#define GATEWAY_WAIT_MAX_S 30        /* ?wait=N and Prefer: wait=N upper bound */
#define GATEWAY_RETRY_AFTER_S "1"    /* Retry-After while a request is in flight */
#define GATEWAY_RETRY_PENDING_S "30" /* Retry-After while it waits for an admin */
#define GATEWAY_RETRY_DOWN_S "5"     /* Retry-After on 503 */
#define GATEWAY_PRODUCE_TIMEOUT_MS (KAFKA_MESSAGE_TIMEOUT_MS + 500)
#define GATEWAY_PURPOSE_MAX 64
#define GATEWAY_BATCH_PAGE_DEFAULT 100 /* GET /csr/batches/{id}: requests per page ... */
#define GATEWAY_BATCH_PAGE_MAX 1000    /* ... and at most (?limit=) */
#define GATEWAY_SENT_MAX 4096          /* published ids awaiting one outbox drop */

/* Prometheus counters, one per line of /metrics. */
struct gateway_metrics {
	atomic_ullong requests; /* every HTTP request */
	atomic_ullong responses_2xx, responses_4xx, responses_5xx;
	atomic_ullong
	    submits_accepted; /* POST /csr/process recorded (202, or after a Prefer wait) */
	atomic_ullong submits_rejected;    /* 4xx from POST /csr/process */
	atomic_ullong submits_unavailable; /* 503: Kafka or Redis down */
	atomic_ullong polls;
	atomic_long longpoll_waiting; /* gauge */
	atomic_ullong limited_rate;   /* 429: limits.requests_per_key / _per_tenant */
	atomic_ullong limited_waiters; /* 429: limits.waiters_per_key */
};

struct waiters;
struct cafiles;

struct gateway {
	const struct config *cfg;
	struct store store; /* records in Redis, from cfg */
	struct kafka_producer *kp;
	struct http_server *http;
	struct waiters *waiters;
	struct gateway_metrics m;
	atomic_int *key_waiters;  /* waits now, per cfg->users entry (limits.c) */
	struct cafiles *cafiles;  /* public CA files in memory (cafiles.c) */
	struct svc_health health; /* as last checked by the main loop */
	/* Published requests whose outbox entries the main loop drops together (submit.c). */
	pthread_mutex_t sent_mu;
	char (*sent)[STORE_ID_MAX], (*sent_spare)[STORE_ID_MAX]; /* GATEWAY_SENT_MAX each */
	size_t nsent;
	/*
	 * Route hook for the browser pages (/csr/upload...): called for every
	 * path starting with "/csr/upload"; NULL answers 404 there.
	 */
	http_handler_fn upload;
};

/* Long-poll wake-ups (waiters.c). */
struct waiter;
typedef void (*waiter_fn)(void *arg);
/* Starts the subscriber thread. NULL on failure. */
struct waiters *waiters_start(const struct config *cfg);
/* Wakes every waiter (now and later) and stops the thread. NULL is safe. */
void waiters_stop(struct waiters *ws);
/* waiters_stop, then frees; only once no request can use it (http_stop). NULL is safe. */
void waiters_free(struct waiters *ws);
/* Registers interest in request id before its state is read (no lost wake-up). */
struct waiter *waiter_add(struct waiters *ws, const char *id);
/*
 * Arms w: fn(arg) is called once, from the subscriber thread, when its id
 * changes state or timeout_ms passes. Returns 1 without arming when the id
 * changed since w was added or last armed, or the waiters stopped; 0.
 */
int waiter_arm(struct waiters *ws, struct waiter *w, long timeout_ms, waiter_fn fn, void *arg);
/* Unregisters and frees w (disarmed: its call back does not come). NULL is safe. */
void waiter_remove(struct waiters *ws, struct waiter *w);

/* Limits (limits.c). limits_start allocates the waiter counts: 0 or -1. */
int limits_start(struct gateway *gw);
void limits_free(struct gateway *gw);
/* A long-poll slot of u's API key: 0, or -1 after answering 429. Give it back once done. */
int limits_wait_take(struct gateway *gw, struct http_req *req, const struct user *u);
void limits_wait_give(struct gateway *gw, const struct user *u);
/* A token of u's and u's tenant's request rate: 0, or -1 after answering 429 (503 without Redis).
 */
int limits_rate(struct gateway *gw, struct http_req *req, const struct user *u);

/*
 * Authenticated caller of req within its request rate, or NULL after
 * answering 401 (or 429, limits_rate). Every /csr, /cas and /me route
 * starts with it.
 */
const struct user *gateway_auth(struct gateway *gw, struct http_req *req);

/* The lists of published ids (gateway.sent): 0, or -1 without memory. */
int gateway_outbox_start(struct gateway *gw);
/* Drops the outbox entries of the ids published since the last call, then frees. */
void gateway_outbox_stop(struct gateway *gw);
/*
 * Drops the outbox entries of the requests published since the last call,
 * then sends again what a gateway recorded but may not have published (it
 * died in between): the outbox entries due (outbox.h). Called every second.
 */
void gateway_outbox_sweep(struct gateway *gw);

/*
 * POST /csr/process for user u with the request fields as a JSON object
 * (from a JSON or form body). idem_key may be NULL; wait_s is the Prefer:
 * wait preference (0..GATEWAY_WAIT_MAX_S), for which the caller took a
 * long-poll slot of u's key that this gives back. Answers req, or parks it.
 */
void gateway_submit(struct gateway *gw, struct http_req *req, const struct user *u,
		    const cJSON *fields, const char *idem_key, long wait_s);
void gateway_process(struct gateway *gw, struct http_req *req); /* POST /csr/process */
void gateway_request_get(struct gateway *gw, struct http_req *req, const char *id);
/* The body of GET /csr/requests/{id} for r. Caller frees. */
cJSON *gateway_request_json(const struct req_record *r);
enum wait_until {
	WAIT_CHANGED, /* ?wait=N: any state change */
	WAIT_SETTLED, /* Prefer: wait=N: a terminal state or pending_approval */
};
/*
 * Answers req once a wait for request id ends: rc 0 with r, the record as
 * last read (borrowed), or a STORE_E* code with r NULL.
 */
typedef void (*request_done_fn)(struct gateway *gw, struct http_req *req, const char *id, int rc,
				const struct req_record *r, void *arg);
/*
 * Reads request id; with wait_s > 0, parks req on a long-poll waiter until
 * until holds or wait_s passes, reading it again on each wake-up; then
 * done(gw, req, rc, r, arg), at once when there is nothing to wait for.
 */
void gateway_request_wait(struct gateway *gw, struct http_req *req, const char *id, long wait_s,
			  enum wait_until until, request_done_fn done, void *arg);
/* GET /csr/batches/{id} (batches.c): counts by state and a page of request ids. */
void gateway_batch_get(struct gateway *gw, struct http_req *req, const char *id);
void gateway_cas(struct gateway *gw, struct http_req *req);
/* The public CAs' certificates and CRLs, read once (cafiles.c). NULL when out of memory. */
struct cafiles *cafiles_new(const struct config *cfg);
/* Reads again each CRL file that changed; from one thread only (the main loop). */
void cafiles_refresh(struct cafiles *cf);
void cafiles_free(struct cafiles *cf); /* NULL is safe */
/* GET /ca/{id}.crt and GET /crl/{id}.crl (cafiles.c); rest is "{id}.crt" / "{id}.crl". No auth. */
void gateway_ca_cert(struct gateway *gw, struct http_req *req, const char *rest);
void gateway_crl(struct gateway *gw, struct http_req *req, const char *rest);
void gateway_ca_template(struct gateway *gw, struct http_req *req, const char *ca_id);
/* The template object of ca (fields of GET /csr/ca-template). Caller frees. */
cJSON *gateway_ca_json(const struct ca *ca);

/* /me/webhooks and /me/notifications (me.c): the caller's own channels; rest after "/me". */
void gateway_me(struct gateway *gw, struct http_req *req, const char *rest);
/* Adds name: unix_s as RFC 3339 UTC to o; left out when 0 (absent). */
void json_add_time(cJSON *o, const char *name, long long unix_s);

/* Answers 405 naming the allowed methods ("GET, POST"). */
void route_method(struct http_req *req, const char *allow);

/* Top-level request router (http_handler_fn); app is the struct gateway. */
void gateway_route(void *app, struct http_req *req);
/* Counts req's answer by status class; nothing while it is parked (its continuation counts). */
void gateway_count(struct gateway *gw, const struct http_req *req);

/* GET /metrics in Prometheus text format. */
void gateway_metrics(struct gateway *gw, struct http_req *req);

/* The /csr/upload pages (upload.c), installed as gw->upload; app is the struct gateway. */
void upload_route(void *app, struct http_req *req);

#endif
