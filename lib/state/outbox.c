/* The gateway's outbox (outbox.h): one script per step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "outbox.h"

/* KEYS msg, due; ARGV the ids. */
static const char outbox_lua_del[] = "redis.call('ZREM', KEYS[2], unpack(ARGV))\n"
				     "return redis.call('HDEL', KEYS[1], unpack(ARGV))\n";

/*
 * KEYS msg, due; ARGV now, next due, max: the entries due, each moved to the
 * next due time, as {id, "{topic}\n{payload}"} pairs (an entry without its
 * message is dropped).
 */
static const char outbox_lua_take[] =
    "local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])\n"
    "local out = {}\n"
    "for _, id in ipairs(ids) do\n"
    "  local m = redis.call('HGET', KEYS[1], id)\n"
    "  if m then\n"
    "    redis.call('ZADD', KEYS[2], ARGV[2], id)\n"
    "    out[#out + 1] = id\n"
    "    out[#out + 1] = m\n"
    "  else\n"
    "    redis.call('ZREM', KEYS[2], id)\n"
    "  end\n"
    "end\n"
    "return out\n";

#define OUTBOX_KEY_MAX 256

/* The two keys of s's outbox. */
static void
outbox_keys(const struct store *s, char msg[OUTBOX_KEY_MAX], char due[OUTBOX_KEY_MAX])
{
	snprintf(msg, OUTBOX_KEY_MAX, "%soutbox:msg", s->prefix);
	snprintf(due, OUTBOX_KEY_MAX, "%soutbox:due", s->prefix);
}

/* The entry's text, "{topic}\n{payload}" (caller frees), or NULL without memory. */
static char *
outbox_entry(const char *topic, const char *payload)
{
	size_t tl = strlen(topic), pl = strlen(payload);
	char *m;

	if ((m = malloc(tl + 1 + pl + 1)) == NULL)
		return NULL;
	memcpy(m, topic, tl);
	m[tl] = '\n';
	memcpy(m + tl + 1, payload, pl + 1);
	return m;
}

int
outbox_add_record(const struct store *s, const struct req_record *rec, const char *topic,
		  const char *payload)
{
	char msg[OUTBOX_KEY_MAX], due[OUTBOX_KEY_MAX], when[24], *m;
	struct store_entry e = {msg, due, rec->id, NULL, when};
	int rc;

	if ((m = outbox_entry(topic, payload)) == NULL)
		return STORE_EDOWN;
	e.value = m;
	outbox_keys(s, msg, due);
	snprintf(when, sizeof(when), "%lld", (long long)time(NULL) + OUTBOX_GRACE_S);
	rc = store_create_with(s, rec, &e);
	free(m);
	return rc;
}

int
outbox_del(const struct store *s, const char *id)
{
	return outbox_del_many(s, &id, 1);
}

int
outbox_del_many(const struct store *s, const char *const *ids, size_t n)
{
	char msg[OUTBOX_KEY_MAX], due[OUTBOX_KEY_MAX];
	const char *argv[5 + OUTBOX_DEL_MAX] = {"EVAL", outbox_lua_del, "2", msg, due};
	redisReply *rep;

	if (n == 0)
		return 0;
	if (n > OUTBOX_DEL_MAX)
		return STORE_EINVAL;
	outbox_keys(s, msg, due);
	memcpy(&argv[5], ids, n * sizeof(*ids));
	if ((rep = store_run(s, (int)(5 + n), argv)) == NULL)
		return STORE_EDOWN;
	freeReplyObject(rep);
	return 0;
}

int
outbox_sweep(const struct store *s, outbox_fn fn, void *arg)
{
	char msg[OUTBOX_KEY_MAX], due[OUTBOX_KEY_MAX], now[24], next[24], max[16];
	const char *argv[] = {"EVAL", outbox_lua_take, "2", msg, due, now, next, max};
	long long t = (long long)time(NULL);
	redisReply *rep, *id, *m;
	const char *nl;
	size_t i;
	int n = 0;

	outbox_keys(s, msg, due);
	snprintf(now, sizeof(now), "%lld", t);
	snprintf(next, sizeof(next), "%lld", t + OUTBOX_GRACE_S);
	snprintf(max, sizeof(max), "%d", OUTBOX_SWEEP_MAX);
	if ((rep = store_run(s, 8, argv)) == NULL)
		return STORE_EDOWN;
	for (i = 0; rep->type == REDIS_REPLY_ARRAY && i + 1 < rep->elements; i += 2) {
		id = rep->element[i];
		m = rep->element[i + 1];
		if (id->type != REDIS_REPLY_STRING || m->type != REDIS_REPLY_STRING ||
		    (nl = memchr(m->str, '\n', m->len)) == NULL)
			continue;
		m->str[nl - m->str] = '\0'; /* the topic ends there; the payload follows */
		n++;
		if (fn(arg, id->str, m->str, nl + 1) == 0)
			outbox_del(s, id->str);
	}
	freeReplyObject(rep);
	return n;
}
