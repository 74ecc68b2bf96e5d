#include "ratelimit.h"

#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "redis.h"

/* KEYS counter; ARGV window: INCR, EXPIRE on the first attempt (or a lost one); {count, ttl}. */
static const char rl_lua_take[] = "local n = redis.call('INCR', KEYS[1])\n"
				  "local ttl = redis.call('TTL', KEYS[1])\n"
				  "if n == 1 or ttl < 0 then\n"
				  "  redis.call('EXPIRE', KEYS[1], ARGV[1])\n"
				  "  ttl = tonumber(ARGV[1])\n"
				  "end\n"
				  "return {n, ttl}\n";

/* KEYS counter: DECR unless already 0 or gone. */
static const char rl_lua_give_back[] =
    "if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end\n"
    "return 0\n";

/*
 * KEYS the user's and the tenant's bucket; ARGV rate and burst of each.
 * Tokens refill from the time of the last take (Redis TIME, the same clock
 * for every gateway). Returns 0 after taking from both, else the
 * milliseconds until both hold a token.
 *
 * The buckets stay out of the AOF and replicas (REPL_NONE): a bucket is
 * refilled within seconds anyway, so a restart that forgets them grants one
 * burst, while logging them made every take, twice per request, a write
 * that Redis fsyncs before it answers (42 us of its CPU per take against 20).
 */
static const char rl_lua_bucket[] =
    "redis.set_repl(redis.REPL_NONE)\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local level, wait = {}, 0\n"
    "for i = 1, 2 do\n"
    "  local rate, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])\n"
    "  local b = redis.call('HMGET', KEYS[i], 'tokens', 'ms')\n"
    "  local tokens, ms = tonumber(b[1]) or burst, tonumber(b[2]) or now\n"
    "  tokens = math.min(burst, tokens + math.max(0, now - ms) * rate / 1000)\n"
    "  level[i] = tokens\n"
    "  if tokens < 1 then wait = math.max(wait, math.ceil((1 - tokens) * 1000 / rate)) end\n"
    "end\n"
    "if wait > 0 then return wait end\n"
    "for i = 1, 2 do\n"
    "  local rate, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])\n"
    "  redis.call('HSET', KEYS[i], 'tokens', tostring(level[i] - 1), 'ms', now)\n"
    "  redis.call('PEXPIRE', KEYS[i], math.ceil(burst * 1000 / rate) + 1000)\n"
    "end\n"
    "return 0\n";

int
ratelimit_bucket_take(const char *redis_url, const char *prefix, const char *user,
		      const struct rate_limit *per_user, const char *tenant,
		      const struct rate_limit *per_tenant, int *retry_after_s)
{
	char kuser[RATELIMIT_KEY_MAX], ktenant[RATELIMIT_KEY_MAX], a[4][16];
	const char *argv[] = {"EVAL", rl_lua_bucket, "2", kuser, ktenant, a[0], a[1], a[2], a[3]};
	struct redis *r = redis_thread(redis_url);
	redisReply *rep;
	int rc = RATELIMIT_EDOWN;

	snprintf(kuser, sizeof(kuser), "%srl:" RATELIMIT_BUCKET_KEY ":%s", prefix, user);
	snprintf(ktenant, sizeof(ktenant), "%srl:" RATELIMIT_BUCKET_TENANT ":%s", prefix, tenant);
	snprintf(a[0], sizeof(a[0]), "%d", per_user->rate_per_s);
	snprintf(a[1], sizeof(a[1]), "%d", per_user->burst);
	snprintf(a[2], sizeof(a[2]), "%d", per_tenant->rate_per_s);
	snprintf(a[3], sizeof(a[3]), "%d", per_tenant->burst);
	if (r == NULL || (rep = redis_cmdv(r, 9, argv, NULL)) == NULL)
		return RATELIMIT_EDOWN;
	if (rep->type == REDIS_REPLY_INTEGER) {
		rc = rep->integer > 0;
		if (rc)
			*retry_after_s = (int)((rep->integer + 999) / 1000);
	} else if (rep->type == REDIS_REPLY_ERROR) {
		log_error("ratelimit: redis: %s", rep->str);
	}
	freeReplyObject(rep);
	return rc;
}

/* Runs script on bucket's key with the optional argument; the reply or NULL (logged). */
static redisReply *
rl_run(const char *redis_url, const char *prefix, const char *script, const char *bucket,
       const char *arg)
{
	char key[RATELIMIT_KEY_MAX];
	const char *argv[] = {"EVAL", script, "1", key, arg};
	struct redis *r = redis_thread(redis_url);
	redisReply *rep;

	snprintf(key, sizeof(key), "%srl:%s", prefix, bucket);
	if (r == NULL || (rep = redis_cmdv(r, arg != NULL ? 5 : 4, argv, NULL)) == NULL)
		return NULL;
	if (rep->type == REDIS_REPLY_ERROR) {
		log_error("ratelimit: redis: %s", rep->str);
		freeReplyObject(rep);
		return NULL;
	}
	return rep;
}

int
ratelimit_take(const char *redis_url, const char *prefix, const char *bucket, int limit,
	       int window_s, int *retry_after_s)
{
	char win[16];
	redisReply *rep;
	int rc = RATELIMIT_EDOWN;

	snprintf(win, sizeof(win), "%d", window_s);
	if ((rep = rl_run(redis_url, prefix, rl_lua_take, bucket, win)) == NULL)
		return RATELIMIT_EDOWN;
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
	    rep->element[0]->type == REDIS_REPLY_INTEGER &&
	    rep->element[1]->type == REDIS_REPLY_INTEGER) {
		rc = rep->element[0]->integer > limit;
		if (rc && retry_after_s != NULL)
			*retry_after_s =
			    rep->element[1]->integer > 0 ? (int)rep->element[1]->integer : 1;
	}
	freeReplyObject(rep);
	return rc;
}

int
ratelimit_give_back(const char *redis_url, const char *prefix, const char *bucket)
{
	redisReply *rep = rl_run(redis_url, prefix, rl_lua_give_back, bucket, NULL);

	if (rep == NULL)
		return RATELIMIT_EDOWN;
	freeReplyObject(rep);
	return 0;
}
