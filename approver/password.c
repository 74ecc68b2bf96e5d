/*
 * The approval password: the approver is the one process that checks it,
 * because it is the one that makes grants. Each attempt is counted in Redis
 * (ratelimit.h) before scrypt runs, so parallel guesses cannot pass the
 * limit; when the count cannot be made the password is not checked at all.
 * scrypt runs only on the intake thread, one check at a time: a flood of
 * guesses waits in Kafka, never in memory.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "approver.h"
#include "log.h"
#include "msg.h"
#include "ratelimit.h"
#include "secret.h"

/* bucket (RATELIMIT_KEY_MAX) of kind for m's requester and CA. */
static void
password_bucket(char *out, const char *kind, const struct issue_msg *m)
{
	snprintf(out, RATELIMIT_KEY_MAX, "%s:%s:%s", kind, m->requester, m->ca_id);
}

enum pw_verdict
password_check(struct approver *ap, const struct issue_msg *m, const struct ca *ca,
	       const char *password)
{
	const struct config *cfg = ap->cfg;
	char bucket[RATELIMIT_KEY_MAX];
	int rc;

	if (ca->approval_password_hash == NULL)
		return PW_WRONG; /* no password set: none is right */
	password_bucket(bucket, RATELIMIT_BUCKET_APPROVER_PW, m);
	rc = ratelimit_take(cfg->redis_url, cfg->redis_prefix, bucket, RATELIMIT_PASSWORD_MAX,
			    RATELIMIT_PASSWORD_WINDOW_S, NULL);
	if (rc == RATELIMIT_EDOWN) {
		ap->m.pw_unchecked++;
		log_msg(LOG_WARN, m->request_id,
			"approval password not checked: its attempt could not be counted");
		return PW_UNCHECKED;
	}
	if (rc == 1) {
		ap->m.pw_limited++;
		return PW_LIMITED;
	}
	ap->m.pw_checks++;
	if (secret_scrypt_verify(password, ca->approval_password_hash) != 1)
		return PW_WRONG;
	/* A right password is no guess: it gives its attempts back (gateway's and ours). */
	if (ratelimit_give_back(cfg->redis_url, cfg->redis_prefix, bucket) != 0)
		log_msg(LOG_WARN, m->request_id, "attempt counter not lowered");
	password_bucket(bucket, RATELIMIT_BUCKET_GATEWAY_PW, m);
	if (ratelimit_give_back(cfg->redis_url, cfg->redis_prefix, bucket) != 0)
		log_msg(LOG_WARN, m->request_id, "gateway's attempt counter not lowered");
	return PW_RIGHT;
}

const char *
password_reason(enum pw_verdict v)
{
	switch (v) {
	case PW_RIGHT:
		return "approval_password_accepted";
	case PW_WRONG:
		return "approval_password_wrong";
	case PW_LIMITED:
		return "too_many_password_attempts";
	case PW_UNCHECKED:
		break;
	}
	return "approval_password_unchecked";
}

void
password_metrics(struct approver *ap, struct http_req *req)
{
	char buf[1024];
	int n;

	n = snprintf(buf, sizeof(buf),
		     "# HELP pki_approver_password_checks_total Approval passwords checked "
		     "(scrypt runs).\n"
		     "# TYPE pki_approver_password_checks_total counter\n"
		     "pki_approver_password_checks_total %llu\n"
		     "# HELP pki_approver_password_refused_total Approval passwords not checked.\n"
		     "# TYPE pki_approver_password_refused_total counter\n"
		     "pki_approver_password_refused_total{why=\"limited\"} %llu\n"
		     "pki_approver_password_refused_total{why=\"counter_unavailable\"} %llu\n"
		     "# HELP pki_approver_queue_redis_calls_total Redis round trips of the queue.\n"
		     "# TYPE pki_approver_queue_redis_calls_total counter\n"
		     "pki_approver_queue_redis_calls_total %llu\n",
		     (unsigned long long)ap->m.pw_checks, (unsigned long long)ap->m.pw_limited,
		     (unsigned long long)ap->m.pw_unchecked, (unsigned long long)ap->m.queue_calls);
	http_reply(req, 200, "text/plain; version=0.0.4", buf, (size_t)n, NULL);
}
