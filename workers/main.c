/* pki-worker: arguments → config (with CA keys) → Kafka, Redis → consume until SIGTERM. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "redis.h"
#include "svc.h"
#include "worker.h"

/* First assignment: from now on messages on the issue topic reach this worker. */
static void
worker_on_assign(void *arg, int npartitions)
{
	struct worker *w = arg;

	if (!w->ready) {
		w->ready = 1;
		log_info("ready");
	}
}

int
main(int argc, char **argv)
{
	struct config *cfg = NULL;
	struct worker w = {0};
	const char *topics[2];
	char kerr[KAFKA_ERR_MAX], client_id[64];
	struct kafka_msg m;
	struct redis *r;
	int code, rc;

	if (svc_start("worker", argc, argv, CONFIG_LOAD_KEYS, &cfg, &code) != SVC_RUN)
		return code;
	code = 1;
	w.cfg = cfg;
	snprintf(client_id, sizeof(client_id), "pki-worker-%ld", (long)getpid());
	if ((w.kp = kafka_producer_new(cfg->kafka_brokers, client_id, kerr)) == NULL) {
		log_error("%s", kerr);
		goto out;
	}
	if ((r = redis_thread(cfg->redis_url)) == NULL)
		goto out;
	if (!redis_ping(r))
		log_warn("redis %s not reachable yet", cfg->redis_url);
	topics[0] = cfg->topics.issue;
	topics[1] = NULL;
	if ((w.kc = kafka_consumer_new(cfg->kafka_brokers, cfg->kafka_group, topics, client_id,
				       worker_on_assign, &w, kerr)) == NULL) {
		log_error("%s", kerr);
		goto out;
	}
	log_info("subscribed to %s in group %s", cfg->topics.issue, cfg->kafka_group);
	while (!svc_stopping()) {
		if ((rc = kafka_consumer_poll(w.kc, &m, WORKER_POLL_MS)) < 0)
			goto out;
		if (rc == 0)
			continue;
		/*
		 * Issuance lands with the worker's handler; until then a message
		 * is left unacknowledged (its offset is not stored), so nothing
		 * is lost.
		 */
		log_info("message %s[%d]@%lld (%zu bytes): not processed by this build", m.topic,
			 (int)m.partition, (long long)m.offset, m.len);
		kafka_msg_release(&m);
	}
	code = 0;
out:
	kafka_consumer_free(w.kc);
	kafka_producer_free(w.kp);
	config_free(cfg);
	log_info("stopped");
	return code;
}
