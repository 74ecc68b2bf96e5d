/* pki-approver: arguments → config → Kafka, Redis, HTTP → wait for SIGTERM. */
#include <string.h>

#include "approver.h"
#include "log.h"
#include "redis.h"
#include "svc.h"

static void
approver_route(void *app, struct http_req *req)
{
	struct approver *ap = app;

	if (strcmp(req->method, "GET") == 0 && strcmp(req->path, "/healthz") == 0)
		svc_healthz(req, ap->kp, ap->cfg->redis_url);
	else
		http_reply_error(req, 404, "not_found", NULL, NULL, NULL, "no route for %s %s",
				 req->method, req->path);
}

int
main(int argc, char **argv)
{
	struct config *cfg = NULL;
	struct approver ap = {0};
	char kerr[KAFKA_ERR_MAX], herr[HTTP_ERR_MAX];
	struct redis *r;
	int code;

	if (svc_start("approver", argc, argv, 0, &cfg, &code) != SVC_RUN)
		return code;
	code = 1;
	ap.cfg = cfg;
	if ((ap.kp = kafka_producer_new(cfg->kafka_brokers, "pki-approver", kerr)) == NULL) {
		log_error("%s", kerr);
		goto out;
	}
	if (!kafka_producer_up(ap.kp))
		log_warn("kafka %s not reachable yet", cfg->kafka_brokers);
	if ((r = redis_thread(cfg->redis_url)) == NULL)
		goto out;
	if (!redis_ping(r))
		log_warn("redis %s not reachable yet", cfg->redis_url);
	if ((ap.http = http_start(cfg->approver_listen, APPROVER_BODY_MAX, approver_route, &ap,
				  herr)) == NULL) {
		log_error("%s", herr);
		goto out;
	}
	log_info("listening on http://%s", cfg->approver_listen);
	while (!svc_wait(1000))
		;
	code = 0;
out:
	http_stop(ap.http);
	kafka_producer_free(ap.kp);
	config_free(cfg);
	log_info("stopped");
	return code;
}
