/*
 * The timer: expires pending requests whose approval TTL has passed, and
 * retries publishing grants that did not reach the issue topic. Safe with
 * several approvers: each expiry is one compare-and-set script (only one
 * process wins), and outbox entries are claimed by moving their score.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "approver.h"
#include "audit.h"
#include "log.h"
#include "msg.h"
#include "svc.h"

#define EXPIRY_BATCH 100
#define OUTBOX_BATCH 20
#define EXPIRY_MSG_MAX 200

/* KEYS set; ARGV cutoff, new score, max: ids scored <= cutoff, moved to the new score. */
static const char lua_claim[] =
    "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])\n"
    "for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end\n"
    "return ids\n";

static void
expire_one(struct approver *ap, const char *id)
{
	struct pending *old = NULL;
	const struct ca *ca;
	char msg[EXPIRY_MSG_MAX], *res;
	int rc;

	snprintf(msg, sizeof(msg), "no administrator decided before the approval period ended");
	rc = pending_end(ap, id, REQ_EXPIRED, "approval_expired", msg, "approver", 1, &old, NULL);
	if (rc != 1 || old == NULL) {
		pending_free(old);
		return;
	}
	ca = config_ca_find(ap->cfg, old->ca_id);
	snprintf(msg, sizeof(msg),
		 "not enough approvals within the approval period of CA %s (%ld s)", old->ca_id,
		 ca != NULL ? ca->approval_ttl_s : 0L);
	ap_audit(ap, AUDIT_EXPIRED, id, old, "approver", NULL, msg);
	if ((res = msg_result_encode(&(struct msg_result){.request_id = id,
							  .status = REQ_EXPIRED,
							  .ca_id = old->ca_id,
							  .code = "approval_expired",
							  .message = msg})) != NULL) {
		if (kafka_produce(ap->kp, ap->cfg->topics.results, id, res, strlen(res)) != 0)
			log_msg(LOG_WARN, id, "result of the expiry not queued");
		free(res);
	}
	decisions_add(ap, old, "expired", "approver", NULL, msg);
	pending_free(old);
}

/* Claims ids of set kind scored at or below cutoff (moving them to next). NULL on failure. */
static redisReply *
claim(struct approver *ap, const char *kind, long long cutoff, long long next, int max)
{
	char key[APPROVER_KEY_MAX], c[24], n[24], m[16];
	const char *argv[] = {"EVAL", lua_claim, "1", key, c, n, m};

	ap_key(ap, key, kind, NULL);
	snprintf(c, sizeof(c), "%lld", cutoff);
	snprintf(n, sizeof(n), "%lld", next);
	snprintf(m, sizeof(m), "%d", max);
	return ap_redis(ap, 7, argv);
}

static void
sweep_once(struct approver *ap)
{
	char key[APPROVER_KEY_MAX], now[24], max[16];
	const char *argv[] = {"ZRANGEBYSCORE", key, "-inf", now, "LIMIT", "0", max};
	long long t = (long long)time(NULL);
	redisReply *rep;
	size_t i;

	ap_key(ap, key, "pending:expiry", NULL);
	snprintf(now, sizeof(now), "%lld", t);
	snprintf(max, sizeof(max), "%d", EXPIRY_BATCH);
	if ((rep = ap_redis(ap, 7, argv)) != NULL) {
		for (i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++)
			if (rep->element[i]->type == REDIS_REPLY_STRING)
				expire_one(ap, rep->element[i]->str);
		freeReplyObject(rep);
	}
	/* Grants approved but not yet published (publish failed, or the process died). */
	if ((rep = claim(ap, "pending:outbox", t - APPROVER_OUTBOX_RETRY_S,
			 t + APPROVER_OUTBOX_RETRY_S, OUTBOX_BATCH)) != NULL) {
		for (i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++)
			if (rep->element[i]->type == REDIS_REPLY_STRING) {
				log_msg(LOG_INFO, rep->element[i]->str,
					"retrying the publication of its grant");
				decide_publish(ap, rep->element[i]->str);
			}
		freeReplyObject(rep);
	}
}

void *
sweep_run(void *arg)
{
	struct approver *ap = arg;
	const char *env = getenv("PKI_APPROVER_SWEEP_MS");
	int ms = env != NULL && atoi(env) > 0 ? atoi(env) : APPROVER_SWEEP_MS;

	while (!svc_wait(ms))
		sweep_once(ap);
	return NULL;
}
