/* pki-gateway: the public HTTP API. Holds no CA private key. */
#ifndef PKI_GATEWAY_H
#define PKI_GATEWAY_H

#include <stdatomic.h>

#include "config.h"
#include "http.h"
#include "kafka.h"
#include "store.h"

#define GATEWAY_BODY_MAX (64 * 1024) /* POST /csr/process cap (413 beyond) */
#define GATEWAY_WAIT_MAX_S 30        /* ?wait=N upper bound */
#define GATEWAY_RETRY_AFTER_S "1"    /* Retry-After while a request is in flight */
#define GATEWAY_RETRY_PENDING_S "30" /* Retry-After while it waits for an admin */
#define GATEWAY_RETRY_DOWN_S "5"     /* Retry-After on 503 */
#define GATEWAY_PRODUCE_TIMEOUT_MS (KAFKA_MESSAGE_TIMEOUT_MS + 500)
#define GATEWAY_PURPOSE_MAX 64
#define GATEWAY_BATCH_PAGE_DEFAULT 100 /* GET /csr/batches/{id}: requests per page ... */
#define GATEWAY_BATCH_PAGE_MAX 1000    /* ... and at most (?limit=) */

/* Prometheus counters, one per line of /metrics. */
struct gateway_metrics {
	atomic_ullong requests; /* every HTTP request */
	atomic_ullong responses_2xx, responses_4xx, responses_5xx;
	atomic_ullong submits_accepted;    /* 202 from POST /csr/process */
	atomic_ullong submits_rejected;    /* 4xx from POST /csr/process */
	atomic_ullong submits_unavailable; /* 503: Kafka or Redis down */
	atomic_ullong polls;
	atomic_long longpoll_waiting; /* gauge */
};

struct waiters;

struct gateway {
	const struct config *cfg;
	struct store store; /* records in Redis, from cfg */
	struct kafka_producer *kp;
	struct http_server *http;
	struct waiters *waiters;
	struct gateway_metrics m;
	/*
	 * Route hook for the browser pages (/csr/upload...): called for every
	 * path starting with "/csr/upload"; NULL answers 404 there.
	 */
	http_handler_fn upload;
};

/* Long-poll wake-ups (waiters.c). */
struct waiter;
/* Starts the subscriber thread. NULL on failure. */
struct waiters *waiters_start(const struct config *cfg);
/* Wakes every waiter (now and later) and stops the thread. NULL is safe. */
void waiters_stop(struct waiters *ws);
/* waiters_stop, then frees; only once no connection thread can use it. NULL is safe. */
void waiters_free(struct waiters *ws);
/* Registers interest in request id before its state is read (no lost wake-up). */
struct waiter *waiter_add(struct waiters *ws, const char *id);
/* Sleeps until id changes state (1) or timeout_ms passes (0). */
int waiter_wait(struct waiters *ws, struct waiter *w, long timeout_ms);
void waiter_remove(struct waiters *ws, struct waiter *w);

/*
 * Authenticated caller of req, or NULL after answering 401. Every /csr and
 * /cas route starts with it.
 */
const struct user *gateway_auth(struct gateway *gw, struct http_req *req);

/*
 * POST /csr/process for user u with the request fields as a JSON object
 * (from a JSON or form body). idem_key may be NULL. Answers req. Exposed for
 * the browser pages, which submit through the same path.
 */
void gateway_submit(struct gateway *gw, struct http_req *req, const struct user *u,
		    const cJSON *fields, const char *idem_key);
void gateway_process(struct gateway *gw, struct http_req *req); /* POST /csr/process */
void gateway_request_get(struct gateway *gw, struct http_req *req, const char *id);
/* GET /csr/batches/{id} (batches.c): counts by state and a page of request ids. */
void gateway_batch_get(struct gateway *gw, struct http_req *req, const char *id);
void gateway_cas(struct gateway *gw, struct http_req *req);
/* GET /ca/{id}.crt and GET /crl/{id}.crl (cafiles.c); rest is "{id}.crt" / "{id}.crl". No auth. */
void gateway_ca_cert(struct gateway *gw, struct http_req *req, const char *rest);
void gateway_crl(struct gateway *gw, struct http_req *req, const char *rest);
void gateway_ca_template(struct gateway *gw, struct http_req *req, const char *ca_id);
/* The template object of ca (fields of GET /csr/ca-template). Caller frees. */
cJSON *gateway_ca_json(const struct ca *ca);

/* Top-level request router (http_handler_fn); app is the struct gateway. */
void gateway_route(void *app, struct http_req *req);

/* GET /metrics in Prometheus text format. */
void gateway_metrics(struct gateway *gw, struct http_req *req);

/* The /csr/upload pages (upload.c), installed as gw->upload; app is the struct gateway. */
void upload_route(void *app, struct http_req *req);

#endif
