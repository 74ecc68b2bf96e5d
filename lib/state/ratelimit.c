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
