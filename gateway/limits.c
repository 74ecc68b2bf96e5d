/*
 * Limits of authenticated callers (limits in the config): long-poll waiters
 * per API key, counted in this process, and request rates per key and per
 * tenant, counted in Redis for every gateway. Both answer 429 with
 * Retry-After. The rate is checked fail-closed: without Redis the request
 * is answered 503, as a submit or poll would be.
 */
#include <stdio.h>
#include <stdlib.h>

#include "gateway.h"
#include "log.h"
#include "ratelimit.h"

#define LIMITS_SECONDS_MAX 16 /* digits of a Retry-After */

/* u's waiter count: users are the config's own, so their index names them. */
static atomic_int *
limits_waiters_of(struct gateway *gw, const struct user *u)
{
	const struct user *first = gw->cfg->users;

	if (gw->key_waiters == NULL || u < first || u >= first + gw->cfg->nusers)
		return NULL;
	return &gw->key_waiters[u - first];
}

int
limits_start(struct gateway *gw)
{
	gw->key_waiters = calloc(gw->cfg->nusers > 0 ? gw->cfg->nusers : 1, sizeof(atomic_int));
	return gw->key_waiters != NULL ? 0 : -1;
}

void
limits_free(struct gateway *gw)
{
	free(gw->key_waiters);
	gw->key_waiters = NULL;
}

int
limits_wait_take(struct gateway *gw, struct http_req *req, const struct user *u)
{
	static const char *const hdr[] = {"Retry-After", GATEWAY_RETRY_AFTER_S, NULL};
	atomic_int *n = limits_waiters_of(gw, u);

	if (n == NULL)
		return 0;
	if (atomic_fetch_add(n, 1) < gw->cfg->limits.waiters_per_key)
		return 0;
	atomic_fetch_sub(n, 1);
	gw->m.limited_waiters++;
	http_reply_error(req, 429, "too_many_waiters", NULL, NULL, hdr,
			 "API key of %s already has %d requests waiting (limits.waiters_per_key); "
			 "poll without waiting or retry later",
			 u->name, gw->cfg->limits.waiters_per_key);
	return -1;
}

void
limits_wait_give(struct gateway *gw, const struct user *u)
{
	atomic_int *n = limits_waiters_of(gw, u);

	if (n != NULL)
		atomic_fetch_sub(n, 1);
}

int
limits_rate(struct gateway *gw, struct http_req *req, const struct user *u)
{
	const struct limits *lim = &gw->cfg->limits;
	char secs[LIMITS_SECONDS_MAX];
	const char *hdr[] = {"Retry-After", secs, NULL};
	int retry_s = 0, rc;

	rc = ratelimit_bucket_take(gw->cfg->redis_url, gw->cfg->redis_prefix, u->name,
				   &lim->per_key, u->tenant, &lim->per_tenant, &retry_s);
	if (rc == 0)
		return 0;
	if (rc == RATELIMIT_EDOWN) {
		hdr[1] = GATEWAY_RETRY_DOWN_S;
		http_reply_error(req, 503, "store_unavailable", NULL, NULL, hdr,
				 "request store (Redis) unavailable");
		return -1;
	}
	gw->m.limited_rate++;
	snprintf(secs, sizeof(secs), "%d", retry_s > 0 ? retry_s : 1);
	http_reply_error(req, 429, "rate_limited", NULL, NULL, hdr,
			 "too many requests for API key of %s or tenant %s "
			 "(limits.requests_per_key, requests_per_tenant); retry after %s s",
			 u->name, u->tenant, secs);
	return -1;
}
