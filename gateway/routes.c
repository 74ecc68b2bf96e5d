/* Request routing, /healthz and /metrics. */
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "auth.h"
#include "gateway.h"
#include "session.h"
#include "svc.h"

#define ROUTE_REQUESTS "/csr/requests/"
#define ROUTE_TEMPLATE "/csr/ca-template/"
#define ROUTE_BATCHES "/csr/batches/"
#define ROUTE_UPLOAD "/csr/upload"
#define ROUTE_CA_CERT "/ca/"
#define ROUTE_CRL "/crl/"
#define ROUTE_ME "/me/"

const struct user *
gateway_auth(struct gateway *gw, struct http_req *req)
{
	static const char *const hdr[] = {"WWW-Authenticate", "Bearer", NULL};
	const char *a = http_header(req, "Authorization");
	const struct user *u = auth_bearer(gw->cfg, a);
	struct audit_event ev = {0};

	/* Browser pages: the login session's cookie, CSRF token checked on POST. */
	if (u == NULL && a == NULL && (u = session_user(gw->cfg, &session_gateway, req)) == NULL &&
	    req->replied)
		return NULL;
	if (u != NULL)
		return limits_rate(gw, req, u) == 0 ? u : NULL;
	ev.event = AUDIT_REJECTED;
	ev.client_ip = req->client_ip;
	ev.detail = a == NULL ? "401: no bearer API key" : "401: unknown API key";
	audit_emit(gw->kp, gw->cfg->topics.audit, &ev);
	http_reply_error(req, 401, "unauthorized", "Authorization", NULL, hdr,
			 a == NULL ? "missing Authorization: Bearer <API key>"
				   : "API key not recognized");
	return NULL;
}

void
route_method(struct http_req *req, const char *allow)
{
	const char *hdr[] = {"Allow", allow, NULL};

	http_reply_error(req, 405, "method_not_allowed", NULL, NULL, hdr,
			 "%s %s: method not allowed (allowed: %s)", req->method, req->path, allow);
}

void
gateway_metrics(struct gateway *gw, struct http_req *req)
{
	struct kafka_stats ks;
	char buf[2048];
	int n;

	kafka_producer_stats(gw->kp, &ks);
	n = snprintf(
	    buf, sizeof(buf),
	    "# HELP pki_gateway_requests_total HTTP requests received.\n"
	    "# TYPE pki_gateway_requests_total counter\n"
	    "pki_gateway_requests_total %llu\n"
	    "# HELP pki_gateway_responses_total HTTP responses by status class.\n"
	    "# TYPE pki_gateway_responses_total counter\n"
	    "pki_gateway_responses_total{class=\"2xx\"} %llu\n"
	    "pki_gateway_responses_total{class=\"4xx\"} %llu\n"
	    "pki_gateway_responses_total{class=\"5xx\"} %llu\n"
	    "# HELP pki_gateway_submits_total POST /csr/process outcomes.\n"
	    "# TYPE pki_gateway_submits_total counter\n"
	    "pki_gateway_submits_total{outcome=\"accepted\"} %llu\n"
	    "pki_gateway_submits_total{outcome=\"rejected\"} %llu\n"
	    "pki_gateway_submits_total{outcome=\"unavailable\"} %llu\n"
	    "# HELP pki_gateway_polls_total GET /csr/requests/{id} calls.\n"
	    "# TYPE pki_gateway_polls_total counter\n"
	    "pki_gateway_polls_total %llu\n"
	    "# HELP pki_gateway_longpoll_waiting Long-polls waiting now.\n"
	    "# TYPE pki_gateway_longpoll_waiting gauge\n"
	    "pki_gateway_longpoll_waiting %ld\n"
	    "# HELP pki_gateway_limited_total Requests answered 429 by a limit.\n"
	    "# TYPE pki_gateway_limited_total counter\n"
	    "pki_gateway_limited_total{limit=\"rate\"} %llu\n"
	    "pki_gateway_limited_total{limit=\"waiters\"} %llu\n"
	    "# HELP pki_gateway_kafka_messages_total Kafka delivery reports.\n"
	    "# TYPE pki_gateway_kafka_messages_total counter\n"
	    "pki_gateway_kafka_messages_total{result=\"delivered\"} %llu\n"
	    "pki_gateway_kafka_messages_total{result=\"failed\"} %llu\n",
	    (unsigned long long)gw->m.requests, (unsigned long long)gw->m.responses_2xx,
	    (unsigned long long)gw->m.responses_4xx, (unsigned long long)gw->m.responses_5xx,
	    (unsigned long long)gw->m.submits_accepted, (unsigned long long)gw->m.submits_rejected,
	    (unsigned long long)gw->m.submits_unavailable, (unsigned long long)gw->m.polls,
	    (long)gw->m.longpoll_waiting, (unsigned long long)gw->m.limited_rate,
	    (unsigned long long)gw->m.limited_waiters, (unsigned long long)ks.delivered,
	    (unsigned long long)ks.failed);
	http_reply(req, 200, "text/plain; version=0.0.4", buf, (size_t)n, NULL);
}

void
gateway_route(void *app, struct http_req *req)
{
	struct gateway *gw = app;
	int get = strcmp(req->method, "GET") == 0;

	gw->m.requests++;
	const char *p = req->path;

	if (get && strcmp(p, "/healthz") == 0)
		svc_healthz(req, &gw->health);
	else if (get && strcmp(p, "/metrics") == 0)
		gateway_metrics(gw, req);
	else if (strcmp(p, "/csr/process") == 0)
		strcmp(req->method, "POST") == 0 ? gateway_process(gw, req)
						 : route_method(req, "POST");
	else if (strncmp(p, ROUTE_REQUESTS, strlen(ROUTE_REQUESTS)) == 0)
		get ? gateway_request_get(gw, req, p + strlen(ROUTE_REQUESTS))
		    : route_method(req, "GET");
	else if (strncmp(p, ROUTE_BATCHES, strlen(ROUTE_BATCHES)) == 0)
		get ? gateway_batch_get(gw, req, p + strlen(ROUTE_BATCHES))
		    : route_method(req, "GET");
	else if (strncmp(p, ROUTE_TEMPLATE, strlen(ROUTE_TEMPLATE)) == 0)
		get ? gateway_ca_template(gw, req, p + strlen(ROUTE_TEMPLATE))
		    : route_method(req, "GET");
	else if (strncmp(p, ROUTE_CA_CERT, strlen(ROUTE_CA_CERT)) == 0)
		get ? gateway_ca_cert(gw, req, p + strlen(ROUTE_CA_CERT))
		    : route_method(req, "GET");
	else if (strncmp(p, ROUTE_CRL, strlen(ROUTE_CRL)) == 0)
		get ? gateway_crl(gw, req, p + strlen(ROUTE_CRL)) : route_method(req, "GET");
	else if (strncmp(p, ROUTE_ME, strlen(ROUTE_ME)) == 0)
		gateway_me(gw, req, p + strlen(ROUTE_ME) - 1);
	else if (strcmp(p, "/cas") == 0)
		get ? gateway_cas(gw, req) : route_method(req, "GET");
	else if (strncmp(p, ROUTE_UPLOAD, strlen(ROUTE_UPLOAD)) == 0 && gw->upload != NULL)
		gw->upload(gw, req);
	else
		http_reply_error(req, 404, "not_found", NULL, NULL, NULL, "no route for %s %s",
				 req->method, req->path);
	gateway_count(gw, req);
}

void
gateway_count(struct gateway *gw, const struct http_req *req)
{
	if (req->parked)
		return;
	if (req->status >= 500)
		gw->m.responses_5xx++;
	else if (req->status >= 400)
		gw->m.responses_4xx++;
	else
		gw->m.responses_2xx++;
}
