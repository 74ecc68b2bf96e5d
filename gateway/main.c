/* pki-gateway: arguments → config → Kafka, Redis, HTTP → wait for SIGTERM. */
#include <stdlib.h>

#include "gateway.h"
#include "log.h"
#include "redis.h"
#include "svc.h"

int
main(int argc, char **argv)
{
	struct config *cfg = NULL;
	struct gateway gw = {0};
	char kerr[KAFKA_ERR_MAX], herr[HTTP_ERR_MAX], rerr[REDIS_ERR_MAX];
	struct redis *r;
	int code;

	if (svc_start("gateway", argc, argv, 0, &cfg, &code) != SVC_RUN)
		return code;
	code = 1;
	gw.cfg = cfg;
	gw.store.redis_url = cfg->redis_url;
	gw.store.prefix = cfg->redis_prefix;
	gw.upload = upload_route;
	if ((gw.store.pipe = redis_pipe_new(cfg->redis_url, rerr)) == NULL) {
		log_error("%s", rerr);
		goto out;
	}
	if ((gw.kp = kafka_producer_new(cfg->kafka_brokers, "pki-gateway",
					&cfg->kafka_tls[SERVICE_GATEWAY], KAFKA_LINGER_MS, kerr)) ==
	    NULL) {
		log_error("%s", kerr);
		goto out;
	}
	/* Not fatal: /healthz reports what is down until it comes back. */
	if ((r = redis_thread(cfg->redis_url)) == NULL)
		goto out;
	svc_health_check(&gw.health, gw.kp, cfg->redis_url);
	if (!gw.health.kafka_up)
		log_warn("kafka %s not reachable yet", cfg->kafka_brokers);
	if (!gw.health.redis_up)
		log_warn("redis %s not reachable yet", cfg->redis_url);
	if ((gw.cafiles = cafiles_new(cfg)) == NULL) {
		log_error("cannot encode the CA certificates (out of memory?)");
		goto out;
	}
	if (limits_start(&gw) < 0 || gateway_outbox_start(&gw) < 0) {
		log_error("out of memory");
		goto out;
	}
	if ((gw.waiters = waiters_start(cfg)) == NULL) {
		log_error("cannot start the long-poll thread");
		goto out;
	}
	if ((gw.http = http_start(cfg->gateway_listen, GATEWAY_BODY_MAX, &cfg->limits,
				  gateway_route, &gw, herr)) == NULL) {
		log_error("%s", herr);
		goto out;
	}
	log_info("listening on http://%s", cfg->gateway_listen);
	while (!svc_wait(SVC_HEALTH_CHECK_MS)) {
		svc_health_check(&gw.health, gw.kp, cfg->redis_url);
		cafiles_refresh(gw.cafiles);
		gateway_outbox_sweep(&gw);
	}
	code = 0;
out:
	/* Long-polls end first (their requests resumed), so that http_stop finds none parked. */
	waiters_stop(gw.waiters);
	http_stop(gw.http);
	gateway_outbox_stop(&gw);
	waiters_free(gw.waiters);
	limits_free(&gw);
	cafiles_free(gw.cafiles);
	kafka_producer_free(gw.kp);
	redis_pipe_free(gw.store.pipe);
	config_free(cfg);
	log_info("stopped");
	return code;
}
