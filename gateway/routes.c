/* Request routing, /healthz and /metrics. */
#include <stdio.h>
#include <string.h>

#include "gateway.h"
#include "svc.h"

void
gateway_metrics(struct gateway *gw, struct http_req *req)
{
	struct kafka_stats ks;
	char buf[2048];
	int n;

	kafka_producer_stats(gw->kp, &ks);
	n = snprintf(buf, sizeof(buf),
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
		     "# HELP pki_gateway_kafka_messages_total Kafka delivery reports.\n"
		     "# TYPE pki_gateway_kafka_messages_total counter\n"
		     "pki_gateway_kafka_messages_total{result=\"delivered\"} %llu\n"
		     "pki_gateway_kafka_messages_total{result=\"failed\"} %llu\n",
		     (unsigned long long)gw->m.requests, (unsigned long long)gw->m.responses_2xx,
		     (unsigned long long)gw->m.responses_4xx,
		     (unsigned long long)gw->m.responses_5xx,
		     (unsigned long long)gw->m.submits_accepted,
		     (unsigned long long)gw->m.submits_rejected,
		     (unsigned long long)gw->m.submits_unavailable,
		     (unsigned long long)gw->m.polls, (long)gw->m.longpoll_waiting,
		     (unsigned long long)ks.delivered, (unsigned long long)ks.failed);
	http_reply(req, 200, "text/plain; version=0.0.4", buf, (size_t)n, NULL);
}

void
gateway_route(void *app, struct http_req *req)
{
	struct gateway *gw = app;
	int get = strcmp(req->method, "GET") == 0;

	gw->m.requests++;
	if (get && strcmp(req->path, "/healthz") == 0)
		svc_healthz(req, gw->kp, gw->cfg->redis_url);
	else if (get && strcmp(req->path, "/metrics") == 0)
		gateway_metrics(gw, req);
	else if (strncmp(req->path, "/csr/upload", 11) == 0 && gw->upload != NULL)
		gw->upload(gw, req);
	else
		http_reply_error(req, 404, "not_found", NULL, NULL, NULL, "no route for %s %s",
				 req->method, req->path);
	if (req->status >= 500)
		gw->m.responses_5xx++;
	else if (req->status >= 400)
		gw->m.responses_4xx++;
	else
		gw->m.responses_2xx++;
}
