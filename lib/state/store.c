#include "store.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hex.h"
#include "log.h"
#include "redis.h"

#define STORE_KEY_MAX 512
#define STORE_ARGS_MAX 80

#define STORE_NUM_MAX 24    /* a long long as decimal text and its NUL */
#define STORE_CHAINS_MAX 64 /* chains kept in memory (one per CA that issued) */

/* How a field of struct req_record is held. */
enum store_ftype {
	FT_TEXT,  /* char *, the hash value as is */
	FT_NUM,   /* long long, decimal in the hash; 0 is absent */
	FT_STATE, /* enum req_state, its name in the hash */
};

/* The one conversion between struct req_record and the hash: name, type, member. */
static const struct {
	const char *name;
	enum store_ftype type;
	size_t off;
} store_fields[] = {
#define T(n)                                                                                       \
	{                                                                                          \
#n, FT_TEXT, offsetof(struct req_record, n)                                        \
	}
#define N(n)                                                                                       \
	{                                                                                          \
#n, FT_NUM, offsetof(struct req_record, n)                                         \
	}
    /* clang-format off */
    T(id),
    {"state", FT_STATE, offsetof(struct req_record, state)},
    T(tenant),
    T(requester),
    T(email),
    T(client_ip),
    T(ca_id),
    T(ca_reason),
    T(common_name),
    N(validity_days),
    T(extensions),
    T(purpose),
    T(batch_id),
    T(csr_sha256),
    N(created),
    N(updated),
    T(error_code),
    T(error_message),
    T(violations),
    T(serial),
    T(certificate),
    T(chain),
    T(chain_sha256),
    T(subject),
    T(warnings),
    T(sans),
    N(not_before),
    N(not_after),
    T(key_type),
    N(key_bits),
    N(published),
    N(approval_expires_at),
/* clang-format on */
#undef N
#undef T
};
#define STORE_NFIELDS (sizeof(store_fields) / sizeof(store_fields[0]))

/* CAS: KEYS[1] record, KEYS[2] channel; ARGV from, to, then field/value pairs. */
static const char store_lua_transition[] =
    STORE_LUA_BATCH_MOVE "local cur = redis.call('HGET', KEYS[1], 'state')\n"
			 "if not cur then return {0, ''} end\n"
			 "if cur ~= ARGV[1] then return {1, cur} end\n"
			 "redis.call('HSET', KEYS[1], 'state', ARGV[2], unpack(ARGV, 3))\n"
			 "batch_move(KEYS[1], cur, ARGV[2])\n"
			 "redis.call('PUBLISH', KEYS[2], ARGV[2])\n"
			 "return {2, ARGV[2]}\n";

/*
 * Create only if absent: KEYS[1] record; ARGV field/value pairs. With
 * KEYS[2] (a hash) and KEYS[3] (a sorted set), the last three ARGV are a
 * member, its value in the hash and its score in the set (store_entry),
 * written too. A record of a batch joins the batch's id list and counts in
 * its first state.
 */
static const char store_lua_create[] =
    STORE_LUA_BATCH_MOVE "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end\n"
			 "local n = #ARGV\n"
			 "if KEYS[3] then\n"
			 "  n = n - 3\n"
			 "  redis.call('HSET', KEYS[2], ARGV[n + 1], ARGV[n + 2])\n"
			 "  redis.call('ZADD', KEYS[3], ARGV[n + 3], ARGV[n + 1])\n"
			 "end\n"
			 "redis.call('HSET', KEYS[1], unpack(ARGV, 1, n))\n"
			 "local bk = batch_key(KEYS[1])\n"
			 "if bk then\n"
			 "  redis.call('ZADD', bk .. '" STORE_BATCH_IDS_SUFFIX
			 "', 0, redis.call('HGET', KEYS[1], 'id'))\n"
			 "  batch_move(KEYS[1], nil, redis.call('HGET', KEYS[1], 'state'))\n"
			 "end\n"
			 "return 1\n";

/*
 * KEYS[1] idem key; ARGV id, body hash, ttl, record key prefix, orphan age.
 * A key whose request has no record after the orphan age (its gateway died
 * before recording it) is bound again; younger: {3, id}, still being recorded.
 */
static const char store_lua_idem[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "local sp = v and string.find(v, ' ', 1, true)\n"
    "if v and not sp then return {2, v} end\n"
    "if v then\n"
    "  local id = string.sub(v, 1, sp - 1)\n"
    "  if string.sub(v, sp + 1) ~= ARGV[2] then return {2, id} end\n"
    "  if redis.call('EXISTS', ARGV[4] .. id) == 1 then return {1, id} end\n"
    "  local age = tonumber(ARGV[3]) - redis.call('TTL', KEYS[1])\n"
    "  if age < tonumber(ARGV[5]) then return {3, id} end\n"
    "end\n"
    "redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. ARGV[2], 'EX', ARGV[3])\n"
    "return {0, ARGV[1]}\n";

/* KEYS[1] idem key; ARGV id: delete only if it still names id. */
static const char store_lua_idem_release[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "if v and string.sub(v, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. ' ' then\n"
    "  return redis.call('DEL', KEYS[1])\n"
    "end\n"
    "return 0\n";

static void *
store_member(const struct req_record *rec, size_t i)
{
	return (char *)rec + store_fields[i].off;
}

void
req_record_free(struct req_record *rec)
{
	size_t i;

	if (rec == NULL)
		return;
	for (i = 0; i < STORE_NFIELDS; i++)
		if (store_fields[i].type == FT_TEXT)
			free(*(char **)store_member(rec, i));
	free(rec);
}

int
req_record_set(struct req_record *rec, const char *name, const char *value)
{
	char **p, *c = NULL, *end;
	enum req_state st;
	long long n;
	size_t i;

	for (i = 0; i < STORE_NFIELDS; i++)
		if (strcmp(store_fields[i].name, name) == 0)
			break;
	if (i == STORE_NFIELDS)
		return -1;
	switch (store_fields[i].type) {
	case FT_STATE:
		if (value != NULL && (st = req_state_parse(value)) == REQ_NONE)
			return -1;
		*(enum req_state *)store_member(rec, i) = value != NULL ? st : REQ_NONE;
		return 0;
	case FT_NUM:
		n = 0;
		if (value != NULL && (n = strtoll(value, &end, 10), end == value || *end != '\0'))
			return -1;
		*(long long *)store_member(rec, i) = n;
		return 0;
	case FT_TEXT:
		break;
	}
	if (value != NULL && (c = strdup(value)) == NULL)
		return -1;
	p = store_member(rec, i);
	free(*p);
	*p = c;
	return 0;
}

/* Room for the hash text of every field of a record (store_pairs). */
struct store_pairs {
	char num[STORE_NFIELDS][STORE_NUM_MAX];
};

/*
 * Appends the present fields of rec (all but id and state unless with_key)
 * to argv as name, value pairs, the numbers written into buf. Returns the
 * new argc, or -1 when argv (max entries) is too small.
 */
static int
store_pairs(const struct req_record *rec, int with_key, const char **argv, int argc, int max,
	    struct store_pairs *buf)
{
	const char *v;
	long long n;
	size_t i;

	for (i = 0; rec != NULL && i < STORE_NFIELDS; i++) {
		v = NULL;
		switch (store_fields[i].type) {
		case FT_TEXT:
			v = *(char *const *)store_member(rec, i);
			if (!with_key && i == 0)
				v = NULL; /* id */
			break;
		case FT_NUM:
			if ((n = *(const long long *)store_member(rec, i)) != 0) {
				snprintf(buf->num[i], sizeof(buf->num[i]), "%lld", n);
				v = buf->num[i];
			}
			break;
		case FT_STATE:
			if (with_key && rec->state != REQ_NONE)
				v = req_state_name(rec->state);
			break;
		}
		if (v == NULL)
			continue;
		if (argc + 2 > max)
			return -1;
		argv[argc++] = store_fields[i].name;
		argv[argc++] = v;
	}
	return argc;
}

void
store_id_new(char *out)
{
	unsigned char b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		abort();             /* no CSPRNG: nothing safe to do */
	b[6] = (b[6] & 0x0f) | 0x40; /* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80; /* RFC 4122 variant */
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

static void
store_key(const struct store *s, char *out, size_t outlen, const char *kind, const char *a,
	  const char *b)
{
	if (b != NULL)
		snprintf(out, outlen, "%s%s:%s:%s", s->prefix, kind, a, b);
	else
		snprintf(out, outlen, "%s%s:%s", s->prefix, kind, a);
}

void
store_channel(const struct store *s, const char *id, char *out, size_t outlen)
{
	store_key(s, out, outlen, "ev", id, NULL);
}

/* Runs argv on the pipe or this thread's connection. NULL (logged) when Redis failed. */
redisReply *
store_run(const struct store *s, int argc, const char **argv)
{
	struct redis *r;
	redisReply *rep;

	if (s->pipe != NULL)
		rep = redis_pipe_cmdv(s->pipe, argc, argv);
	else
		rep = (r = redis_thread(s->redis_url)) != NULL ? redis_cmdv(r, argc, argv, NULL)
							       : NULL;
	if (rep == NULL)
		return NULL;
	if (rep->type == REDIS_REPLY_ERROR) {
		log_error("redis: %s: %s", argv[0], rep->str);
		freeReplyObject(rep);
		return NULL;
	}
	return rep;
}

/* Reads an {int, string} script reply. Returns the int, or -1 when malformed. */
static long long
store_pair(const redisReply *rep, const char **str)
{
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
	    rep->element[0]->type != REDIS_REPLY_INTEGER ||
	    rep->element[1]->type != REDIS_REPLY_STRING)
		return -1;
	*str = rep->element[1]->str;
	return rep->element[0]->integer;
}

static void
store_now(char *out, size_t outlen)
{
	snprintf(out, outlen, "%lld", (long long)time(NULL));
}

int
store_create(const struct store *s, const struct req_record *rec)
{
	return store_create_with(s, rec, NULL);
}

int
store_create_with(const struct store *s, const struct req_record *rec, const struct store_entry *e)
{
	const char *argv[STORE_ARGS_MAX];
	char key[STORE_KEY_MAX];
	struct store_pairs buf;
	struct req_record r;
	redisReply *rep;
	int argc = 0, rc;

	if (rec->id == NULL || rec->state == REQ_NONE)
		return STORE_EINVAL;
	r = *rec; /* shallow: only the two stamps differ */
	if (r.created == 0)
		r.created = (long long)time(NULL);
	if (r.updated == 0)
		r.updated = (long long)time(NULL);
	store_key(s, key, sizeof(key), "req", rec->id, NULL);
	argv[argc++] = "EVAL";
	argv[argc++] = store_lua_create;
	argv[argc++] = e != NULL ? "3" : "1";
	argv[argc++] = key;
	if (e != NULL) {
		argv[argc++] = e->hash;
		argv[argc++] = e->zset;
	}
	if ((argc = store_pairs(&r, 1, argv, argc, STORE_ARGS_MAX - 3, &buf)) < 0)
		return STORE_EINVAL;
	if (e != NULL) {
		argv[argc++] = e->member;
		argv[argc++] = e->value;
		argv[argc++] = e->score;
	}
	if ((rep = store_run(s, argc, argv)) == NULL)
		return STORE_EDOWN;
	rc = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1 ? 0 : STORE_EEXIST;
	freeReplyObject(rep);
	return rc;
}

/*
 * One state move by script (store_lua_transition, or store_lua_transition_ex
 * when claim is not NULL: then it is the claim to check, "" for none). The
 * answers of both: {0} no record, {1, cur} another state, {2, to} moved,
 * {3, cur} another claim, {4, to} moved already under this claim: an
 * earlier try whose reply was lost (Redis paused, connection cut) made the
 * move, so it is this caller's own and counts as done.
 */
static int
store_move(const struct store *s, const char *script, const char *id, enum req_state from,
	   enum req_state to, const char *claim, const struct req_record *set, enum req_state *cur)
{
	const char *argv[STORE_ARGS_MAX], *str = NULL;
	char key[STORE_KEY_MAX], chan[STORE_KEY_MAX], now[32];
	struct store_pairs buf;
	redisReply *rep;
	long long code;
	int argc = 0, rc;

	if (!req_state_allowed(from, to)) {
		log_error("store: %s: transition %s -> %s refused", id, req_state_name(from),
			  req_state_name(to));
		return STORE_EINVAL;
	}
	store_key(s, key, sizeof(key), "req", id, NULL);
	store_channel(s, id, chan, sizeof(chan));
	store_now(now, sizeof(now));
	argv[argc++] = "EVAL";
	argv[argc++] = script;
	argv[argc++] = "2";
	argv[argc++] = key;
	argv[argc++] = chan;
	argv[argc++] = req_state_name(from);
	argv[argc++] = req_state_name(to);
	if (claim != NULL)
		argv[argc++] = claim;
	argv[argc++] = "updated";
	argv[argc++] = now;
	if ((argc = store_pairs(set, 0, argv, argc, STORE_ARGS_MAX, &buf)) < 0)
		return STORE_EINVAL;
	if ((rep = store_run(s, argc, argv)) == NULL)
		return STORE_EDOWN;
	code = store_pair(rep, &str);
	if (code == 4)
		log_msg(LOG_INFO, id,
			"%s: made by an earlier try under this claim (its reply was lost)",
			req_state_name(to));
	rc = code == 2 || code == 4 ? 0
	     : code == 1            ? STORE_ECONFLICT
	     : code == 3            ? STORE_ELEASE
	     : code == 0            ? STORE_ENOTFOUND
				    : STORE_EDOWN;
	if (cur != NULL)
		*cur = req_state_parse(str);
	freeReplyObject(rep);
	return rc;
}

int
store_transition(const struct store *s, const char *id, enum req_state from, enum req_state to,
		 const struct req_record *set, enum req_state *cur)
{
	return store_move(s, store_lua_transition, id, from, to, NULL, set, cur);
}

int
store_chain_put(const struct store *s, const char *chain, char sha[HEX_SHA256_BUF])
{
	char key[STORE_KEY_MAX];
	const char *argv[3] = {"SET", key, chain};
	redisReply *rep;

	if (hex_sha256(chain, strlen(chain), sha) != 0)
		return STORE_EDOWN;
	store_key(s, key, sizeof(key), "chain", sha, NULL);
	if ((rep = store_run(s, 3, argv)) == NULL)
		return STORE_EDOWN;
	freeReplyObject(rep);
	return 0;
}

/*
 * The chains records name, kept by the hash that names them (content
 * addressed, so never stale), read from Redis once per process.
 */
static struct {
	pthread_mutex_t mu;
	size_t n;
	struct {
		char sha[HEX_SHA256_BUF];
		char *pem;
	} e[STORE_CHAINS_MAX];
} store_chains = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* The index of sha in store_chains, or store_chains.n when absent. Caller holds mu. */
static size_t
store_chain_index(const char *sha)
{
	size_t i;

	for (i = 0; i < store_chains.n; i++)
		if (strcmp(store_chains.e[i].sha, sha) == 0)
			break;
	return i;
}

/*
 * The chain P chain:{sha} holds (a copy: caller frees), or NULL when it has
 * none or Redis failed. Only a chain that hashes to its name is kept.
 */
static char *
store_chain_get(const struct store *s, const char *sha)
{
	char key[STORE_KEY_MAX], got[HEX_SHA256_BUF], *pem = NULL;
	const char *argv[] = {"GET", key};
	redisReply *rep;
	size_t i;

	pthread_mutex_lock(&store_chains.mu);
	if ((i = store_chain_index(sha)) < store_chains.n)
		pem = strdup(store_chains.e[i].pem);
	pthread_mutex_unlock(&store_chains.mu);
	if (pem != NULL)
		return pem;
	store_key(s, key, sizeof(key), "chain", sha, NULL);
	if ((rep = store_run(s, 2, argv)) == NULL)
		return NULL;
	if (rep->type == REDIS_REPLY_STRING)
		pem = strdup(rep->str);
	freeReplyObject(rep);
	if (pem == NULL || hex_sha256(pem, strlen(pem), got) != 0 || strcmp(got, sha) != 0)
		return pem; /* as read; not kept */
	pthread_mutex_lock(&store_chains.mu);
	if ((i = store_chain_index(sha)) == store_chains.n && i < STORE_CHAINS_MAX &&
	    (store_chains.e[i].pem = strdup(pem)) != NULL) {
		memcpy(store_chains.e[i].sha, sha, HEX_SHA256_BUF);
		store_chains.n++;
	}
	pthread_mutex_unlock(&store_chains.mu);
	return pem;
}

int
store_get(const struct store *s, const char *id, struct req_record **out)
{
	char key[STORE_KEY_MAX];
	const char *argv[] = {"HGETALL", key};
	struct req_record *rec = NULL;
	redisReply *rep;
	size_t i;
	int rc = STORE_EDOWN;

	store_key(s, key, sizeof(key), "req", id, NULL);
	if ((rep = store_run(s, 2, argv)) == NULL)
		return STORE_EDOWN;
	if (rep->type != REDIS_REPLY_ARRAY && rep->type != 9 /* RESP3 map */)
		goto out;
	if (rep->elements == 0) {
		rc = STORE_ENOTFOUND;
		goto out;
	}
	if ((rec = calloc(1, sizeof(*rec))) == NULL)
		goto out;
	for (i = 0; i + 1 < rep->elements; i += 2)
		if (rep->element[i]->type == REDIS_REPLY_STRING &&
		    rep->element[i + 1]->type == REDIS_REPLY_STRING)
			req_record_set(rec, rep->element[i]->str, rep->element[i + 1]->str);
	if (rec->id == NULL)
		req_record_set(rec, "id", id);
	if (rec->chain == NULL && rec->chain_sha256 != NULL &&
	    strlen(rec->chain_sha256) == HEX_SHA256_BUF - 1)
		rec->chain = store_chain_get(s, rec->chain_sha256);
	*out = rec;
	rec = NULL;
	rc = 0;
out:
	req_record_free(rec);
	freeReplyObject(rep);
	return rc;
}

int
store_get_state(const struct store *s, const char *id, enum req_state *state)
{
	const char *argv[3];
	char key[STORE_KEY_MAX];
	redisReply *rep;
	int rc;

	store_key(s, key, sizeof(key), "req", id, NULL);
	argv[0] = "HGET";
	argv[1] = key;
	argv[2] = "state";
	if ((rep = store_run(s, 3, argv)) == NULL)
		return STORE_EDOWN;
	if (rep->type == REDIS_REPLY_STRING) {
		*state = req_state_parse(rep->str);
		rc = 0;
	} else {
		rc = STORE_ENOTFOUND;
	}
	freeReplyObject(rep);
	return rc;
}

int
store_idem_claim(const struct store *s, const char *tenant, const char *key,
		 const char *body_sha256, const char *id, char *existing)
{
	const char *argv[9], *str = NULL;
	char k[STORE_KEY_MAX], rk[STORE_KEY_MAX], ttl[32], orphan[32];
	redisReply *rep;
	long long code;
	int rc;

	store_key(s, k, sizeof(k), "idem", tenant, key);
	store_key(s, rk, sizeof(rk), "req", "", NULL);
	snprintf(ttl, sizeof(ttl), "%d", STORE_IDEM_TTL_S);
	snprintf(orphan, sizeof(orphan), "%d", STORE_IDEM_ORPHAN_S);
	argv[0] = "EVAL";
	argv[1] = store_lua_idem;
	argv[2] = "1";
	argv[3] = k;
	argv[4] = id;
	argv[5] = body_sha256;
	argv[6] = ttl;
	argv[7] = rk;
	argv[8] = orphan;
	if ((rep = store_run(s, 9, argv)) == NULL)
		return STORE_EDOWN;
	code = store_pair(rep, &str);
	rc = code == 0   ? 0
	     : code == 1 ? 1
	     : code == 2 ? STORE_ECONFLICT
	     : code == 3 ? STORE_EBUSY
			 : STORE_EDOWN;
	if (existing != NULL && str != NULL)
		snprintf(existing, STORE_ID_MAX, "%s", str);
	freeReplyObject(rep);
	return rc;
}

int
store_idem_release(const struct store *s, const char *tenant, const char *key, const char *id)
{
	const char *argv[5];
	char k[STORE_KEY_MAX];
	redisReply *rep;

	store_key(s, k, sizeof(k), "idem", tenant, key);
	argv[0] = "EVAL";
	argv[1] = store_lua_idem_release;
	argv[2] = "1";
	argv[3] = k;
	argv[4] = id;
	if ((rep = store_run(s, 5, argv)) == NULL)
		return STORE_EDOWN;
	freeReplyObject(rep);
	return 0;
}

int
store_serial_reserve(const struct store *s, const char *ca_id, const char *serial_hex,
		     const char *request_id)
{
	const char *argv[4];
	char k[STORE_KEY_MAX];
	redisReply *rep;
	int rc;

	store_key(s, k, sizeof(k), "serial", ca_id, serial_hex);
	argv[0] = "SET";
	argv[1] = k;
	argv[2] = request_id;
	argv[3] = "NX";
	if ((rep = store_run(s, 4, argv)) == NULL)
		return STORE_EDOWN;
	rc = rep->type == REDIS_REPLY_STATUS ? 0 : 1; /* nil: taken */
	freeReplyObject(rep);
	return rc;
}

int
store_serial_reserve_cb(void *arg, const char *serial_hex)
{
	struct store_serial_ctx *c = arg;
	int rc = store_serial_reserve(c->s, c->ca_id, serial_hex, c->request_id);

	return rc < 0 ? -1 : rc;
}

/*
 * KEYS[1] record; ARGV claim, lease seconds, the names of queued and
 * issuing. Not published: see store.h.
 */
static const char store_lua_claim[] = STORE_LUA_BATCH_MOVE
    "local cur = redis.call('HGET', KEYS[1], 'state')\n"
    "if not cur then return {0, ''} end\n"
    "local now = tonumber(redis.call('TIME')[1])\n"
    "local queued, issuing = ARGV[3], ARGV[4]\n"
    "if cur == queued then\n"
    "  if KEYS[2] and not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'EX', ARGV[5]) then\n"
    "    return {4, cur}\n"
    "  end\n"
    "  redis.call('HSET', KEYS[1], 'state', issuing, 'claim', ARGV[1], 'claimed_at', now,\n"
    "             'updated', now)\n"
    "  batch_move(KEYS[1], queued, issuing)\n"
    "  return {2, issuing}\n"
    "end\n"
    "if cur == issuing and redis.call('HGET', KEYS[1], 'claim') == ARGV[1] then\n"
    "  return {2, issuing}\n"
    "end\n"
    "if cur == issuing then\n"
    "  local at = tonumber(redis.call('HGET', KEYS[1], 'claimed_at') or '0') or 0\n"
    "  if now - at >= tonumber(ARGV[2]) then\n"
    "    if KEYS[2] then\n"
    "      local used = redis.call('GET', KEYS[2])\n"
    "      if used and used ~= redis.call('HGET', KEYS[1], 'claim') then return {4, cur} end\n"
    "      redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[5])\n"
    "    end\n"
    "    redis.call('HSET', KEYS[1], 'claim', ARGV[1], 'claimed_at', now, 'updated', now)\n"
    "    redis.call('HINCRBY', KEYS[1], 'reclaims', 1)\n"
    "    return {3, issuing}\n"
    "  end\n"
    "end\n"
    "return {1, cur}\n";

/*
 * The guarded move of store_transition_ex, in two halves around an optional
 * check (the serial reservation of store_finish_each). KEYS[1] record,
 * KEYS[2] channel; ARGV from, to, claim or '', then (STORE_MOVE_PAIRS) pairs.
 */
#define STORE_LUA_MOVE_HEAD STORE_LUA_BATCH_MOVE STORE_LUA_MOVE_CHECK
#define STORE_LUA_MOVE_CHECK                                                                       \
	"local h = redis.call('HMGET', KEYS[1], 'state', 'claim', 'id', 'batch_id')\n"             \
	"local cur = h[1]\n"                                                                       \
	"if not cur then return {0, ''} end\n"                                                     \
	"if cur == ARGV[2] and ARGV[3] ~= '' and h[2] == ARGV[3] then return {4, cur} end\n"       \
	"if cur ~= ARGV[1] then return {1, cur} end\n"                                             \
	"if ARGV[3] ~= '' and h[2] ~= ARGV[3] then return {3, cur} end\n"
#define STORE_LUA_MOVE_TAIL                                                                        \
	"local t = redis.call('TIME')\n"                                                           \
	"local ms = tostring(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))\n"         \
	"redis.call('HSET', KEYS[1], 'state', ARGV[2], 'finished_ms', ms, unpack(ARGV, 4))\n"      \
	"batch_move(KEYS[1], cur, ARGV[2], h[4])\n"                                                \
	"redis.call('PUBLISH', KEYS[2], ARGV[2])\n"                                                \
	"return {2, ARGV[2]}\n"

static const char store_lua_transition_ex[] = STORE_LUA_MOVE_HEAD STORE_LUA_MOVE_TAIL;

/*
 * Lua frame of the store_*_each scripts: the body between STORE_LUA_EACH_HEAD
 * and STORE_LUA_EACH_TAIL runs for each item as item(KEYS, ARGV), with the
 * item's own keys and arguments. The script's KEYS are the items' keys in
 * order; its ARGV holds, per item, the item's key count, its argument count,
 * then its arguments. The reply is each item's {code, state}; an item whose
 * body fails answers {-1, error} and the others go on. batch_move only
 * counts, and the counts each batch moved are written once at the end: one
 * HINCRBY per batch and state instead of two per item.
 */
#define STORE_LUA_EACH_HEAD                                                                        \
	STORE_LUA_BATCH_KEY                                                                        \
	"local moved = {}\n"                                                                       \
	"local function batch_move(rk, from, to, b)\n"                                             \
	"  local bk = batch_key(rk, b)\n"                                                          \
	"  if not bk or from == to then return end\n"                                              \
	"  local m = moved[bk] or {}\n"                                                            \
	"  moved[bk] = m\n"                                                                        \
	"  if from and from ~= '' then m[from] = (m[from] or 0) - 1 end\n"                         \
	"  if to then m[to] = (m[to] or 0) + 1 end\n"                                              \
	"end\n"                                                                                    \
	"local function item(KEYS, ARGV)\n"
#define STORE_LUA_EACH_TAIL                                                                        \
	"end\n"                                                                                    \
	"local out, k, a = {}, 1, 1\n"                                                             \
	"while a <= #ARGV do\n"                                                                    \
	"  local nk, na = tonumber(ARGV[a]), tonumber(ARGV[a + 1])\n"                              \
	"  local ok, r = pcall(item, {unpack(KEYS, k, k + nk - 1)},\n"                             \
	"                      {unpack(ARGV, a + 2, a + 1 + na)})\n"                               \
	"  if not ok then r = {-1, tostring(type(r) == 'table' and r.err or r)} end\n"             \
	"  out[#out + 1] = r\n"                                                                    \
	"  k, a = k + nk, a + 2 + na\n"                                                            \
	"end\n"                                                                                    \
	"for bk, m in pairs(moved) do\n"                                                           \
	"  for st, d in pairs(m) do\n"                                                             \
	"    if d ~= 0 then redis.call('HINCRBY', bk, st, d) end\n"                                \
	"  end\n"                                                                                  \
	"end\n"                                                                                    \
	"return out\n"

/*
 * For each item: store_lua_transition_ex, reserving the serial first:
 * KEYS[3] the serial's key, which must be free or this request's (HGET id);
 * {5, cur} when another request holds it.
 */
static const char store_lua_finish_each[] = STORE_LUA_EACH_HEAD STORE_LUA_MOVE_CHECK
    "local id = h[3]\n"
    "local sv = redis.call('GET', KEYS[3])\n"
    "if sv and sv ~= id then return {5, cur} end\n"
    "if not sv then redis.call('SET', KEYS[3], id) end\n" STORE_LUA_MOVE_TAIL STORE_LUA_EACH_TAIL;

/*
 * For each item: KEYS[1] record; ARGV claim, lease (unused: a fresh claim),
 * the names of queued, issuing and received, the five values a record must
 * agree with (csr_sha256, ca_id, common_name, validity_days, tenant; '' not
 * checked), the request id, its batch_id or '', then the new record's
 * pairs. {0, ''} created, claimed; {2, cur} claimed from cur; {3, cur} held
 * under this claim already; {1, cur} left alone.
 */
static const char store_lua_admit_each[] = STORE_LUA_EACH_HEAD
    "local h = redis.call('HMGET', KEYS[1], 'state', 'claim', 'batch_id', 'csr_sha256',\n"
    "                     'ca_id', 'common_name', 'validity_days', 'tenant')\n"
    "local cur = h[1]\n"
    "local now = redis.call('TIME')[1]\n"
    "local claim, issuing = ARGV[1], ARGV[4]\n"
    "if not cur then\n"
    "  local n = #ARGV\n"
    "  ARGV[n + 1], ARGV[n + 2], ARGV[n + 3] = 'state', issuing, 'claim'\n"
    "  ARGV[n + 4], ARGV[n + 5], ARGV[n + 6] = claim, 'claimed_at', now\n"
    "  redis.call('HSET', KEYS[1], unpack(ARGV, 13))\n"
    "  local b = ARGV[12] ~= '' and ARGV[12]\n"
    "  local bk = batch_key(KEYS[1], b)\n"
    "  if bk then\n"
    "    redis.call('ZADD', bk .. '" STORE_BATCH_IDS_SUFFIX "', 0, ARGV[11])\n"
    "    batch_move(KEYS[1], nil, issuing, b)\n"
    "  end\n"
    "  return {0, ''}\n"
    "end\n"
    "for i = 1, 5 do\n"
    "  local want, have = ARGV[5 + i], h[3 + i]\n"
    "  if want ~= '' and have and have ~= want then return {1, cur} end\n"
    "end\n"
    "if cur == issuing and h[2] == claim then return {3, cur} end\n"
    "if cur == ARGV[3] or cur == ARGV[5] then\n"
    "  redis.call('HSET', KEYS[1], 'state', issuing, 'claim', claim, 'claimed_at', now,\n"
    "             'updated', now)\n"
    "  batch_move(KEYS[1], cur, issuing, h[3])\n"
    "  return {2, cur}\n"
    "end\n"
    "return {1, cur}\n" STORE_LUA_EACH_TAIL;

/* KEYS[1] record; ARGV pairs. */
static const char store_lua_set[] = "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
				    "redis.call('HSET', KEYS[1], unpack(ARGV))\n"
				    "return 1\n";

/* The key recording the use of the grant whose MAC is mac ("P grant:{mac}"). */
static void
store_grant_key(const struct store *s, const char *mac, char *out, size_t outlen)
{
	store_key(s, out, outlen, "grant", mac, NULL);
}

int
store_claim(const struct store *s, const char *id, const char *claim, long lease_s,
	    const char *grant_mac, long grant_ttl_s, enum req_state *cur)
{
	const char *argv[10], *str = NULL;
	char key[STORE_KEY_MAX], gkey[STORE_KEY_MAX], lease[32], gttl[32];
	redisReply *rep;
	long long code;
	int rc;

	store_key(s, key, sizeof(key), "req", id, NULL);
	snprintf(lease, sizeof(lease), "%ld", lease_s);
	snprintf(gttl, sizeof(gttl), "%ld", grant_ttl_s > 0 ? grant_ttl_s : 1);
	argv[0] = "EVAL";
	argv[1] = store_lua_claim;
	argv[2] = grant_mac != NULL ? "2" : "1";
	argv[3] = key;
	if (grant_mac != NULL) {
		store_grant_key(s, grant_mac, gkey, sizeof(gkey));
		argv[4] = gkey;
	}
	argv[4 + (grant_mac != NULL)] = claim;
	argv[5 + (grant_mac != NULL)] = lease;
	argv[6 + (grant_mac != NULL)] = req_state_name(REQ_QUEUED);
	argv[7 + (grant_mac != NULL)] = req_state_name(REQ_ISSUING);
	argv[8 + (grant_mac != NULL)] = gttl;
	if ((rep = store_run(s, 9 + (grant_mac != NULL), argv)) == NULL)
		return STORE_EDOWN;
	code = store_pair(rep, &str);
	rc = code == 2   ? 0
	     : code == 3 ? 1
	     : code == 1 ? STORE_ECONFLICT
	     : code == 4 ? STORE_EUSED
	     : code == 0 ? STORE_ENOTFOUND
			 : STORE_EDOWN;
	if (cur != NULL)
		*cur = req_state_parse(str);
	freeReplyObject(rep);
	return rc;
}

int
store_grant_spent(const struct store *s, const char *grant_mac)
{
	char key[STORE_KEY_MAX];
	const char *argv[] = {"SET", key, STORE_GRANT_SPENT, "XX", "KEEPTTL"};
	redisReply *rep;

	store_grant_key(s, grant_mac, key, sizeof(key));
	if ((rep = store_run(s, 5, argv)) == NULL)
		return STORE_EDOWN;
	freeReplyObject(rep);
	return 0;
}

int
store_transition_ex(const struct store *s, const char *id, enum req_state from, enum req_state to,
		    const struct req_record *set, const char *claim, const char *batch_id,
		    enum req_state *cur)
{
	(void)batch_id; /* the record's own batch_id decides, in the script */
	return store_move(s, store_lua_transition_ex, id, from, to, claim != NULL ? claim : "", set,
			  cur);
}

int
store_set_fields(const struct store *s, const char *id, const struct req_record *set)
{
	const char *argv[STORE_ARGS_MAX];
	char key[STORE_KEY_MAX];
	struct store_pairs buf;
	redisReply *rep;
	int argc = 0, rc;

	store_key(s, key, sizeof(key), "req", id, NULL);
	argv[argc++] = "EVAL";
	argv[argc++] = store_lua_set;
	argv[argc++] = "1";
	argv[argc++] = key;
	if ((argc = store_pairs(set, 0, argv, argc, STORE_ARGS_MAX, &buf)) < 0)
		return STORE_EINVAL;
	if (argc == 4)
		return 0;
	if ((rep = store_run(s, argc, argv)) == NULL)
		return STORE_EDOWN;
	rc = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1 ? 0 : STORE_ENOTFOUND;
	freeReplyObject(rep);
	return rc;
}

/* KEYS: records; ARGV[1], ARGV[2]: the field and value set on each that exists. */
static const char store_lua_set_each[] = "for _, k in ipairs(KEYS) do\n"
					 "  if redis.call('EXISTS', k) == 1 then\n"
					 "    redis.call('HSET', k, ARGV[1], ARGV[2])\n"
					 "  end\n"
					 "end\n"
					 "return 1\n";

int
store_set_field_each(const struct store *s, const char *const *ids, size_t n, const char *name,
		     const char *value)
{
	const char **argv = NULL;
	char(*keys)[STORE_KEY_MAX] = NULL, nkeys[24];
	redisReply *rep;
	int rc = STORE_EDOWN;
	size_t i, argc = 0;

	if (n == 0)
		return 0;
	if ((argv = calloc(n + 5, sizeof(*argv))) == NULL ||
	    (keys = calloc(n, sizeof(*keys))) == NULL)
		goto out;
	snprintf(nkeys, sizeof(nkeys), "%zu", n);
	argv[argc++] = "EVAL";
	argv[argc++] = store_lua_set_each;
	argv[argc++] = nkeys;
	for (i = 0; i < n; i++) {
		store_key(s, keys[i], sizeof(keys[i]), "req", ids[i], NULL);
		argv[argc++] = keys[i];
	}
	argv[argc++] = name;
	argv[argc++] = value;
	if ((rep = store_run(s, (int)argc, argv)) == NULL)
		goto out;
	rc = rep->type == REDIS_REPLY_INTEGER ? 0 : STORE_EDOWN;
	freeReplyObject(rep);
out:
	free(keys);
	free(argv);
	return rc;
}

const enum req_state store_batch_states[STORE_NSTATES] = {REQ_RECEIVED, REQ_QUEUED,   REQ_PENDING,
							  REQ_APPROVED, REQ_ISSUING,  REQ_ISSUED,
							  REQ_FAILED,   REQ_REJECTED, REQ_EXPIRED};

/*
 * KEYS[1] batch; ARGV owner, tenant, size ('' unknown), now. {0, owner}: it
 * is the caller's (made now, or before); {1, owner}: another user's.
 */
static const char store_lua_batch_claim[] =
    "local o = redis.call('HGET', KEYS[1], 'owner')\n"
    "if not o then\n"
    "  redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'tenant', ARGV[2], 'created', ARGV[4])\n"
    "  o = ARGV[1]\n"
    "end\n"
    "if o ~= ARGV[1] then return {1, o} end\n"
    "if ARGV[3] ~= '' then redis.call('HSETNX', KEYS[1], 'size', ARGV[3]) end\n"
    "return {0, o}\n";

int
store_batch_claim(const struct store *s, const char *id, const char *owner, const char *tenant,
		  long long size, char *other)
{
	const char *argv[8], *str = NULL;
	char key[STORE_KEY_MAX], sz[32] = "", now[32];
	redisReply *rep;
	long long code;
	int rc;

	store_key(s, key, sizeof(key), "batch", id, NULL);
	if (size > 0)
		snprintf(sz, sizeof(sz), "%lld", size);
	store_now(now, sizeof(now));
	argv[0] = "EVAL";
	argv[1] = store_lua_batch_claim;
	argv[2] = "1";
	argv[3] = key;
	argv[4] = owner;
	argv[5] = tenant;
	argv[6] = sz;
	argv[7] = now;
	if ((rep = store_run(s, 8, argv)) == NULL)
		return STORE_EDOWN;
	code = store_pair(rep, &str);
	rc = code == 0 ? 0 : code == 1 ? STORE_ECONFLICT : STORE_EDOWN;
	if (other != NULL)
		snprintf(other, STORE_ID_MAX, "%s", str != NULL ? str : "");
	freeReplyObject(rep);
	return rc;
}

void
batch_info_free(struct batch_info *info)
{
	if (info == NULL)
		return;
	free(info->owner);
	free(info->tenant);
	free(info);
}

/* KEYS[1] batch, KEYS[2] its ids: the hash as pairs, then the number of ids. */
static const char store_lua_batch_get[] = "local h = redis.call('HGETALL', KEYS[1])\n"
					  "if #h == 0 then return {} end\n"
					  "h[#h + 1] = 'total'\n"
					  "h[#h + 1] = tostring(redis.call('ZCARD', KEYS[2]))\n"
					  "return h\n";

/* Sets the field name of info from the hash value v. */
static int
batch_info_set(struct batch_info *info, const char *name, const char *v)
{
	size_t i;

	if (strcmp(name, "owner") == 0)
		return (info->owner = strdup(v)) != NULL ? 0 : -1;
	if (strcmp(name, "tenant") == 0)
		return (info->tenant = strdup(v)) != NULL ? 0 : -1;
	if (strcmp(name, "size") == 0)
		info->size = strtoll(v, NULL, 10);
	else if (strcmp(name, "total") == 0)
		info->total = strtoll(v, NULL, 10);
	else if (strcmp(name, "created") == 0)
		info->created = strtoll(v, NULL, 10);
	for (i = 0; i < STORE_NSTATES; i++)
		if (strcmp(name, req_state_name(store_batch_states[i])) == 0)
			info->counts[i] = strtoll(v, NULL, 10);
	return 0;
}

int
store_batch_get(const struct store *s, const char *id, struct batch_info **out)
{
	const char *argv[5];
	char key[STORE_KEY_MAX], ids[STORE_KEY_MAX];
	struct batch_info *info = NULL;
	redisReply *rep;
	size_t i;
	int rc = STORE_EDOWN;

	store_key(s, key, sizeof(key), "batch", id, NULL);
	store_key(s, ids, sizeof(ids), "batch", id, STORE_BATCH_IDS_SUFFIX + 1);
	argv[0] = "EVAL";
	argv[1] = store_lua_batch_get;
	argv[2] = "2";
	argv[3] = key;
	argv[4] = ids;
	if ((rep = store_run(s, 5, argv)) == NULL)
		return STORE_EDOWN;
	if (rep->type != REDIS_REPLY_ARRAY)
		goto out;
	if (rep->elements == 0) {
		rc = STORE_ENOTFOUND;
		goto out;
	}
	if ((info = calloc(1, sizeof(*info))) == NULL)
		goto out;
	for (i = 0; i + 1 < rep->elements; i += 2)
		if (rep->element[i]->type == REDIS_REPLY_STRING &&
		    rep->element[i + 1]->type == REDIS_REPLY_STRING &&
		    batch_info_set(info, rep->element[i]->str, rep->element[i + 1]->str) != 0)
			goto out;
	if (info->owner == NULL) { /* counts of a batch no bulk message made: not a batch */
		rc = STORE_ENOTFOUND;
		goto out;
	}
	*out = info;
	info = NULL;
	rc = 0;
out:
	batch_info_free(info);
	freeReplyObject(rep);
	return rc;
}

/*
 * KEYS[1] batch ids; ARGV after ('' from the first), limit + 1, record key
 * prefix: id, state pairs in id order.
 */
static const char store_lua_batch_page[] =
    "local lo = ARGV[1] == '' and '-' or '(' .. ARGV[1]\n"
    "local ids = redis.call('ZRANGEBYLEX', KEYS[1], lo, '+', 'LIMIT', 0, tonumber(ARGV[2]))\n"
    "local out = {}\n"
    "for _, id in ipairs(ids) do\n"
    "  out[#out + 1] = id\n"
    "  out[#out + 1] = redis.call('HGET', ARGV[3] .. id, 'state') or ''\n"
    "end\n"
    "return out\n";

int
store_batch_page(const struct store *s, const char *id, const char *after, size_t limit,
		 struct batch_item *items, size_t *n, int *more)
{
	const char *argv[7];
	char key[STORE_KEY_MAX], ids[STORE_KEY_MAX], req[STORE_KEY_MAX], lim[24];
	redisReply *rep;
	size_t i, got;

	if (limit == 0 || limit > STORE_BATCH_PAGE_MAX)
		return STORE_EINVAL;
	store_key(s, key, sizeof(key), "batch", id, NULL);
	store_key(s, ids, sizeof(ids), "batch", id, STORE_BATCH_IDS_SUFFIX + 1);
	snprintf(req, sizeof(req), "%sreq:", s->prefix);
	snprintf(lim, sizeof(lim), "%zu", limit + 1);
	argv[0] = "EVAL";
	argv[1] = store_lua_batch_page;
	argv[2] = "1";
	argv[3] = ids;
	argv[4] = after != NULL ? after : "";
	argv[5] = lim;
	argv[6] = req;
	if ((rep = store_run(s, 7, argv)) == NULL)
		return STORE_EDOWN;
	if (rep->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(rep);
		return STORE_EDOWN;
	}
	got = rep->elements / 2;
	*more = got > limit;
	for (i = 0, *n = 0; i < got && i < limit; i++) {
		const redisReply *a = rep->element[2 * i], *b = rep->element[2 * i + 1];

		if (a->type != REDIS_REPLY_STRING || b->type != REDIS_REPLY_STRING)
			continue;
		snprintf(items[*n].id, sizeof(items[*n].id), "%s", a->str);
		items[*n].state = req_state_parse(b->str);
		(*n)++;
	}
	freeReplyObject(rep);
	return 0;
}

/* One item of a store_*_each call: its keys, then its arguments. */
struct store_cmd {
	const char *argv[STORE_ARGS_MAX];
	int argc, nkeys;
	char key[STORE_KEY_MAX], chan[STORE_KEY_MAX], skey[STORE_KEY_MAX], now[STORE_NUM_MAX];
	char check[STORE_NUM_MAX], nk[STORE_NUM_MAX], na[STORE_NUM_MAX];
	struct store_pairs buf;
};

/*
 * The one script call of n items made by build (STORE_LUA_EACH_HEAD's
 * frame): "EVAL", script, the key count, every item's keys, then per item
 * its counts and arguments. Returns the argument count, with argv (caller
 * frees) in *out, or -1 without memory.
 */
static int
store_each_argv(const char *script, struct store_cmd *c, size_t n, char nkeys[STORE_NUM_MAX],
		const char ***out)
{
	const char **argv;
	size_t i, total = 3, keys = 0;
	int k, argc = 0;

	for (i = 0; i < n; i++) {
		total += (size_t)c[i].argc + 2;
		keys += (size_t)c[i].nkeys;
	}
	if ((argv = malloc(total * sizeof(*argv))) == NULL)
		return -1;
	snprintf(nkeys, STORE_NUM_MAX, "%zu", keys);
	argv[argc++] = "EVAL";
	argv[argc++] = script;
	argv[argc++] = nkeys;
	for (i = 0; i < n; i++)
		for (k = 0; k < c[i].nkeys; k++)
			argv[argc++] = c[i].argv[k];
	for (i = 0; i < n; i++) {
		snprintf(c[i].nk, sizeof(c[i].nk), "%d", c[i].nkeys);
		snprintf(c[i].na, sizeof(c[i].na), "%d", c[i].argc - c[i].nkeys);
		argv[argc++] = c[i].nk;
		argv[argc++] = c[i].na;
		for (k = c[i].nkeys; k < c[i].argc; k++)
			argv[argc++] = c[i].argv[k];
	}
	*out = argv;
	return argc;
}

/*
 * The frame of the *_each calls: n items, the i-th made by build (0, or
 * STORE_EINVAL when it cannot be), run by script in one call; each item's
 * {code, state} answer (code -1 without one) goes to answer, which returns
 * that item's rc. Returns STORE_EINVAL when an item cannot be built
 * (nothing is sent, no answer given); else STORE_EDOWN when an item's rc is
 * (without memory or Redis, every item's); else 0.
 */
static int
store_each(const struct store *s, const char *script, size_t n, void *arg,
	   int (*build)(const struct store *s, void *arg, size_t i, struct store_cmd *c),
	   int (*answer)(void *arg, size_t i, long long code, enum req_state cur))
{
	struct store_cmd *cmds = NULL;
	const char **argv = NULL, *str;
	char nkeys[STORE_NUM_MAX];
	redisReply *rep = NULL;
	long long code;
	size_t i;
	int argc, rc = 0;

	if (n > STORE_EACH_MAX)
		return STORE_EINVAL;
	if (n == 0)
		return 0;
	if ((cmds = malloc(n * sizeof(*cmds))) != NULL) {
		for (i = 0; i < n && rc == 0; i++) {
			cmds[i].argc = cmds[i].nkeys = 0;
			rc = build(s, arg, i, &cmds[i]);
		}
		if (rc != 0)
			goto out;
		if ((argc = store_each_argv(script, cmds, n, nkeys, &argv)) > 0)
			rep = store_run(s, argc, argv);
	}
	if (rep != NULL && (rep->type != REDIS_REPLY_ARRAY || rep->elements != n)) {
		log_error("redis: %s: %zu answers for %zu items", argv[0],
			  rep->type == REDIS_REPLY_ARRAY ? rep->elements : 0, n);
		freeReplyObject(rep);
		rep = NULL;
	}
	for (i = 0; i < n; i++) {
		str = NULL;
		code = rep != NULL ? store_pair(rep->element[i], &str) : -1;
		if (code == -1 && str != NULL)
			log_error("redis: item %zu of %zu: %s", i + 1, n, str);
		if (answer(arg, i, code,
			   code >= 0 && str != NULL ? req_state_parse(str) : REQ_NONE) ==
		    STORE_EDOWN)
			rc = STORE_EDOWN;
	}
out:
	freeReplyObject(rep);
	free(argv);
	free(cmds);
	return rc;
}

static int
store_admit_build(const struct store *s, void *arg, size_t i, struct store_cmd *c)
{
	const struct store_admit *a = (const struct store_admit *)arg + i;
	struct req_record r = *a->rec; /* shallow: the state and the stamps differ */

	r.state = REQ_NONE;
	r.created = r.created != 0 ? r.created : (long long)time(NULL);
	r.updated = r.created;
	store_key(s, c->key, sizeof(c->key), "req", r.id, NULL);
	snprintf(c->check, sizeof(c->check), "%lld", r.validity_days);
	c->argv[c->argc++] = c->key;
	c->nkeys = 1;
	c->argv[c->argc++] = a->claim;
	c->argv[c->argc++] = "0";
	c->argv[c->argc++] = req_state_name(REQ_QUEUED);
	c->argv[c->argc++] = req_state_name(REQ_ISSUING);
	c->argv[c->argc++] = req_state_name(REQ_RECEIVED);
	c->argv[c->argc++] = r.csr_sha256 != NULL ? r.csr_sha256 : "";
	c->argv[c->argc++] = r.ca_id != NULL ? r.ca_id : "";
	c->argv[c->argc++] = r.common_name != NULL ? r.common_name : "";
	c->argv[c->argc++] = r.validity_days != 0 ? c->check : "";
	c->argv[c->argc++] = r.tenant != NULL ? r.tenant : "";
	c->argv[c->argc++] = r.id;
	c->argv[c->argc++] = r.batch_id != NULL ? r.batch_id : "";
	c->argc = store_pairs(&r, 1, c->argv, c->argc, STORE_ARGS_MAX, &c->buf);
	return c->argc < 0 ? STORE_EINVAL : 0;
}

static int
store_admit_answer(void *arg, size_t i, long long code, enum req_state cur)
{
	struct store_admit *a = (struct store_admit *)arg + i;

	a->cur = cur;
	a->rc = code == 0 || code == 2 || code == 3 ? 0 : code == 1 ? STORE_ECONFLICT : STORE_EDOWN;
	return a->rc;
}

int
store_admit_each(const struct store *s, struct store_admit *a, size_t n)
{
	return store_each(s, store_lua_admit_each, n, a, store_admit_build, store_admit_answer);
}

static int
store_finish_build(const struct store *s, void *arg, size_t i, struct store_cmd *c)
{
	const struct store_finish *f = (const struct store_finish *)arg + i;

	if (f->set == NULL || f->set->serial == NULL)
		return STORE_EINVAL;
	store_key(s, c->key, sizeof(c->key), "req", f->id, NULL);
	store_channel(s, f->id, c->chan, sizeof(c->chan));
	store_key(s, c->skey, sizeof(c->skey), "serial", f->ca_id, f->set->serial);
	store_now(c->now, sizeof(c->now));
	c->argv[c->argc++] = c->key;
	c->argv[c->argc++] = c->chan;
	c->argv[c->argc++] = c->skey;
	c->nkeys = 3;
	c->argv[c->argc++] = req_state_name(REQ_ISSUING);
	c->argv[c->argc++] = req_state_name(REQ_ISSUED);
	c->argv[c->argc++] = f->claim;
	c->argv[c->argc++] = "updated";
	c->argv[c->argc++] = c->now;
	c->argc = store_pairs(f->set, 0, c->argv, c->argc, STORE_ARGS_MAX, &c->buf);
	return c->argc < 0 ? STORE_EINVAL : 0;
}

static int
store_finish_answer(void *arg, size_t i, long long code, enum req_state cur)
{
	struct store_finish *f = (struct store_finish *)arg + i;

	f->cur = cur;
	if (code == 4)
		log_msg(LOG_INFO, f->id,
			"issued: made by an earlier try under this claim (its reply was lost)");
	f->rc = code == 2 || code == 4 ? 0
		: code == 1            ? STORE_ECONFLICT
		: code == 3            ? STORE_ELEASE
		: code == 5            ? STORE_EEXIST
		: code == 0            ? STORE_ENOTFOUND
				       : STORE_EDOWN;
	return f->rc;
}

int
store_finish_each(const struct store *s, struct store_finish *f, size_t n)
{
	return store_each(s, store_lua_finish_each, n, f, store_finish_build, store_finish_answer);
}
