/* pki-gateway: the public HTTP API. Holds no CA private key. */
#ifndef PKI_GATEWAY_H
#define PKI_GATEWAY_H

#include <stdatomic.h>

#include "config.h"
#include "http.h"
#include "kafka.h"

#define GATEWAY_BODY_MAX (64 * 1024) /* POST /csr/process cap (413 beyond) */

/* Prometheus counters, one per line of /metrics. */
struct gateway_metrics {
	atomic_ullong requests;   /* every HTTP request */
	atomic_ullong responses_2xx, responses_4xx, responses_5xx;
	atomic_ullong submits_accepted;   /* 202 from POST /csr/process */
	atomic_ullong submits_rejected;   /* 4xx from POST /csr/process */
	atomic_ullong submits_unavailable; /* 503: Kafka or Redis down */
	atomic_ullong polls;
	atomic_long longpoll_waiting; /* gauge */
};

struct gateway {
	const struct config *cfg;
	struct kafka_producer *kp;
	struct http_server *http;
	struct gateway_metrics m;
	/*
	 * Route hook for the browser pages (/csr/upload...): called for every
	 * path starting with "/csr/upload"; NULL answers 404 there.
	 */
	http_handler_fn upload;
};

/* Top-level request router (http_handler_fn); app is the struct gateway. */
void gateway_route(void *app, struct http_req *req);

/* GET /metrics in Prometheus text format. */
void gateway_metrics(struct gateway *gw, struct http_req *req);

/* The /csr/upload pages (upload.c), installed as gw->upload; app is the struct gateway. */
void upload_route(void *app, struct http_req *req);

#endif
