#include "ratelimit.h"

#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "redis.h"

/* KEYS counter; ARGV window: INCR, EXPIRE on the first hit; returns the count. */
static const char rl_lua_hit[] = "local n = redis.call('INCR', KEYS[1])\n"
				 "if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end\n"
				 "return n\n";

/* KEYS counter: {count, ttl}. */
static const char rl_lua_peek[] = "local n = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
				  "return {n, redis.call('TTL', KEYS[1])}\n";

static redisReply *
rl_run(const char *redis_url, int argc, const char **argv)
{
	struct redis *r = redis_thread(redis_url);
	redisReply *rep;

	if (r == NULL || (rep = redis_cmdv(r, argc, argv, NULL)) == NULL)
		return NULL;
	if (rep->type == REDIS_REPLY_ERROR) {
		log_error("ratelimit: redis: %s", rep->str);
		freeReplyObject(rep);
		return NULL;
	}
	return rep;
}

int
ratelimit_exceeded(const char *redis_url, const char *prefix, const char *bucket, int limit,
		   int *retry_after_s)
{
	char key[RATELIMIT_KEY_MAX];
	const char *argv[] = {"EVAL", rl_lua_peek, "1", key};
	redisReply *rep;
	int rc = RATELIMIT_EDOWN;

	snprintf(key, sizeof(key), "%srl:%s", prefix, bucket);
	if ((rep = rl_run(redis_url, 4, argv)) == NULL)
		return RATELIMIT_EDOWN;
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
	    rep->element[0]->type == REDIS_REPLY_INTEGER &&
	    rep->element[1]->type == REDIS_REPLY_INTEGER) {
		rc = rep->element[0]->integer >= limit;
		if (rc && retry_after_s != NULL)
			*retry_after_s =
			    rep->element[1]->integer > 0 ? (int)rep->element[1]->integer : 1;
	}
	freeReplyObject(rep);
	return rc;
}

int
ratelimit_hit(const char *redis_url, const char *prefix, const char *bucket, int window_s)
{
	char key[RATELIMIT_KEY_MAX], win[16];
	const char *argv[] = {"EVAL", rl_lua_hit, "1", key, win};
	redisReply *rep;
	int rc = RATELIMIT_EDOWN;

	snprintf(key, sizeof(key), "%srl:%s", prefix, bucket);
	snprintf(win, sizeof(win), "%d", window_s);
	if ((rep = rl_run(redis_url, 5, argv)) == NULL)
		return RATELIMIT_EDOWN;
	if (rep->type == REDIS_REPLY_INTEGER)
		rc = (int)rep->integer;
	freeReplyObject(rep);
	return rc;
}
