/* The pending queue in Redis: intake, approvals, endings, each one atomic Lua step. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "approver.h"
#include "log.h"
#include "msg.h"
#include "redis.h"

#define PENDING_ARGS_MAX 48
#define PENDING_FROM_MAX 128 /* the state names that may move to pending_approval */

/*
 * Intake. KEYS req, pending:{id}, pending, pending:expiry, channel; ARGV id,
 * now, expires_at, score, the name of pending_approval, the names of the
 * states that may move to it (comma-separated), then the pending hash as
 * field/value pairs. {2, state}: decided already, or {2, ""}: no record
 * (intake_check drops such messages first: the record is the gateway's or a
 * worker's, never made here); {1, state}: duplicate; {0, state before}: new.
 */
static const char lua_intake[] = STORE_LUA_BATCH_MOVE
    "local st = redis.call('HGET', KEYS[1], 'state')\n"
    "local pend, from = ARGV[5], {}\n"
    "for n in string.gmatch(ARGV[6], '[^,]+') do from[n] = true end\n"
    "if not st then return {2, ''} end\n"
    "if not from[st] and st ~= pend then return {2, st} end\n"
    "if redis.call('EXISTS', KEYS[2]) == 1 then return {1, st or ''} end\n"
    "redis.call('HSET', KEYS[2], unpack(ARGV, 7))\n"
    "redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])\n"
    "redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])\n"
    "if st ~= pend then\n"
    "  redis.call('HSET', KEYS[1], 'state', pend, 'updated', ARGV[2])\n"
    "  batch_move(KEYS[1], st, pend)\n"
    "  redis.call('PUBLISH', KEYS[5], pend)\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'approval_expires_at', ARGV[3])\n"
    "return {0, st or ''}\n";

/*
 * Approve. KEYS pending:{id}, pending, pending:expiry, pending:outbox, req,
 * channel; ARGV id, admin, now, required, the names of pending_approval and
 * approved. See APPROVE_*. (The pending entry's own state, pending or
 * approved, is the entry's, not a request state.)
 */
static const char lua_approve[] = STORE_LUA_BATCH_MOVE
    "local ps = redis.call('HGET', KEYS[1], 'state')\n"
    "local rs = redis.call('HGET', KEYS[5], 'state')\n"
    "if ps ~= 'pending' or rs ~= ARGV[5] then return {0, rs or ''} end\n"
    "local a = cjson.decode(redis.call('HGET', KEYS[1], 'approvals') or '[]')\n"
    "for _, x in ipairs(a) do\n"
    "  if x.admin == ARGV[2] then return {2, cjson.encode(a)} end\n"
    "end\n"
    "a[#a + 1] = {admin = ARGV[2], time = tonumber(ARGV[3])}\n"
    "local enc = cjson.encode(a)\n"
    "redis.call('HSET', KEYS[1], 'approvals', enc)\n"
    "if #a < tonumber(ARGV[4]) then return {1, enc} end\n"
    "local names = {}\n"
    "for i, x in ipairs(a) do names[i] = x.admin end\n"
    "redis.call('HSET', KEYS[1], 'state', 'approved', 'decided_at', ARGV[3])\n"
    "redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "redis.call('ZREM', KEYS[3], ARGV[1])\n"
    "redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])\n"
    "redis.call('HSET', KEYS[5], 'state', ARGV[6], 'updated', ARGV[3],\n"
    "  'approved_by', table.concat(names, ','))\n"
    "batch_move(KEYS[5], ARGV[5], ARGV[6])\n"
    "redis.call('PUBLISH', KEYS[6], ARGV[6])\n"
    "return {3, enc}\n";

/*
 * End (reject, expire). KEYS pending:{id}, pending, pending:expiry, req,
 * channel; ARGV id, now, to, code, message, actor, only_due, the name of
 * pending_approval.
 * {1, hash}: done; {0, state}: not pending (stale entries are cleaned);
 * {2, state}: not due yet.
 */
static const char lua_end[] = STORE_LUA_BATCH_MOVE
    "local ps = redis.call('HGET', KEYS[1], 'state')\n"
    "local rs = redis.call('HGET', KEYS[4], 'state')\n"
    "if ps ~= 'pending' then\n"
    "  if not ps then\n"
    "    redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "    redis.call('ZREM', KEYS[3], ARGV[1])\n"
    "  end\n"
    "  return {0, rs or ''}\n"
    "end\n"
    "if ARGV[7] == '1' and\n"
    "   tonumber(redis.call('HGET', KEYS[1], 'expires_at') or '0') > tonumber(ARGV[2]) then\n"
    "  return {2, rs or ''}\n"
    "end\n"
    "local h = redis.call('HGETALL', KEYS[1])\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "redis.call('ZREM', KEYS[3], ARGV[1])\n"
    "if rs ~= ARGV[8] then return {0, rs or ''} end\n"
    "redis.call('HSET', KEYS[4], 'state', ARGV[3], 'updated', ARGV[2], 'error_code', ARGV[4],\n"
    "  'error_message', ARGV[5], 'decided_by', ARGV[6])\n"
    "batch_move(KEYS[4], ARGV[8], ARGV[3])\n"
    "redis.call('PUBLISH', KEYS[5], ARGV[3])\n"
    "return {1, h}\n";

void
ap_key(const struct approver *ap, char *out, const char *kind, const char *id)
{
	if (id != NULL)
		snprintf(out, APPROVER_KEY_MAX, "%s%s:%s", ap->cfg->redis_prefix, kind, id);
	else
		snprintf(out, APPROVER_KEY_MAX, "%s%s", ap->cfg->redis_prefix, kind);
}

redisReply *
ap_redis(struct approver *ap, int argc, const char **argv)
{
	ap->m.queue_calls++;
	return store_run(&ap->store, argc, argv);
}

/* {int, string} reply: the int (or -1 when malformed) and the string in cur. */
static long long
reply_pair(const redisReply *rep, char *cur)
{
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
	    rep->element[0]->type != REDIS_REPLY_INTEGER)
		return -1;
	if (cur != NULL)
		snprintf(cur, STORE_ID_MAX, "%s",
			 rep->element[1]->type == REDIS_REPLY_STRING ? rep->element[1]->str : "");
	return rep->element[0]->integer;
}

int
pending_intake(struct approver *ap, const struct issue_msg *m, const char *reason,
	       const char *msg_json, long long expires_at, int approvals_required, char *cur)
{
	char kreq[APPROVER_KEY_MAX], kpend[APPROVER_KEY_MAX], kset[APPROVER_KEY_MAX];
	char kexp[APPROVER_KEY_MAX], chan[APPROVER_KEY_MAX];
	char now[24], exp[24], sub[24], req[16], vd[16], from[PENDING_FROM_MAX] = "";
	const char *argv[PENDING_ARGS_MAX];
	enum req_state st;
	long long t = (long long)time(NULL);
	redisReply *rep;
	int argc = 0;
	long long rc;

	ap_key(ap, kreq, "req", m->request_id);
	ap_key(ap, kpend, "pending", m->request_id);
	ap_key(ap, kset, "pending", NULL);
	ap_key(ap, kexp, "pending:expiry", NULL);
	store_channel(&ap->store, m->request_id, chan, sizeof(chan));
	snprintf(now, sizeof(now), "%lld", t);
	snprintf(exp, sizeof(exp), "%lld", expires_at);
	snprintf(sub, sizeof(sub), "%lld", m->submitted_at > 0 ? m->submitted_at : t);
	snprintf(req, sizeof(req), "%d", approvals_required);
	snprintf(vd, sizeof(vd), "%d", m->validity_days);
	for (st = REQ_NONE + 1; st < REQ_NSTATE; st++) /* the edges into pending_approval */
		if (req_state_allowed(st, REQ_PENDING))
			snprintf(from + strlen(from), sizeof(from) - strlen(from), "%s%s",
				 from[0] ? "," : "", req_state_name(st));
#define ARG(v) (argv[argc++] = (v))
#define PAIR(k, v)                                                                                 \
	do {                                                                                       \
		ARG(k);                                                                            \
		ARG((v) != NULL ? (v) : "");                                                       \
	} while (0)
	ARG("EVAL");
	ARG(lua_intake);
	ARG("5");
	ARG(kreq);
	ARG(kpend);
	ARG(kset);
	ARG(kexp);
	ARG(chan);
	ARG(m->request_id);
	ARG(now);
	ARG(exp);
	ARG(sub);
	ARG(req_state_name(REQ_PENDING));
	ARG(from);
	PAIR("id", m->request_id);
	PAIR("state", "pending");
	PAIR("ca_id", m->ca_id);
	PAIR("tenant", m->tenant);
	PAIR("requester", m->requester);
	PAIR("email", m->email);
	PAIR("client_ip", m->client_ip);
	PAIR("common_name", m->common_name);
	PAIR("validity_days", vd);
	PAIR("reason", reason);
	PAIR("msg", msg_json);
	PAIR("approvals", "[]");
	PAIR("approvals_required", req);
	PAIR("submitted_at", sub);
	PAIR("received_at", now);
	PAIR("expires_at", exp);
#undef PAIR
#undef ARG
	if ((rep = ap_redis(ap, argc, argv)) == NULL)
		return STORE_EDOWN;
	rc = reply_pair(rep, cur);
	freeReplyObject(rep);
	if (rc < 0)
		return STORE_EDOWN;
	return (int)rc;
}

void
pending_free(struct pending *p)
{
	if (p == NULL)
		return;
	free(p->id);
	free(p->state);
	free(p->ca_id);
	free(p->tenant);
	free(p->requester);
	free(p->email);
	free(p->client_ip);
	free(p->common_name);
	free(p->reason);
	free(p->msg);
	free(p->approvals);
	free(p);
}

/* A pending record from a flat field/value array (HGETALL). NULL when empty or out of memory. */
static struct pending *
pending_from_pairs(redisReply **e, size_t n)
{
	struct pending *p = calloc(1, sizeof(*p));
	static const struct {
		const char *name;
		size_t off;
	} strs[] = {
#define S(f) {#f, offsetof(struct pending, f)}
	    S(id),        S(state),       S(ca_id),  S(tenant), S(requester), S(email),
	    S(client_ip), S(common_name), S(reason), S(msg),    S(approvals),
#undef S
	};
	size_t i, j;

	if (p == NULL || n == 0) {
		free(p);
		return NULL;
	}
	for (i = 0; i + 1 < n; i += 2) {
		const char *k = e[i]->str, *v = e[i + 1]->str;

		if (e[i]->type != REDIS_REPLY_STRING || e[i + 1]->type != REDIS_REPLY_STRING)
			continue;
		for (j = 0; j < sizeof(strs) / sizeof(strs[0]); j++)
			if (strcmp(k, strs[j].name) == 0) {
				char **dst = (char **)((char *)p + strs[j].off);

				free(*dst);
				*dst = strdup(v);
			}
		if (strcmp(k, "submitted_at") == 0)
			p->submitted_at = atoll(v);
		else if (strcmp(k, "received_at") == 0)
			p->received_at = atoll(v);
		else if (strcmp(k, "expires_at") == 0)
			p->expires_at = atoll(v);
		else if (strcmp(k, "approvals_required") == 0)
			p->approvals_required = atoi(v);
		else if (strcmp(k, "validity_days") == 0)
			p->validity_days = atoi(v);
	}
	if (p->id == NULL || p->state == NULL || p->ca_id == NULL || p->msg == NULL) {
		pending_free(p);
		return NULL;
	}
	return p;
}

int
pending_get(struct approver *ap, const char *id, struct pending **out)
{
	char key[APPROVER_KEY_MAX];
	const char *argv[] = {"HGETALL", key};
	redisReply *rep;
	struct pending *p;

	ap_key(ap, key, "pending", id);
	if ((rep = ap_redis(ap, 2, argv)) == NULL)
		return STORE_EDOWN;
	p = rep->type == REDIS_REPLY_ARRAY ? pending_from_pairs(rep->element, rep->elements) : NULL;
	freeReplyObject(rep);
	if (p == NULL)
		return STORE_ENOTFOUND;
	*out = p;
	return 0;
}

/* KEYS P pending; ARGV at most: id and PENDING_INDEX_FIELDS - 1 fields of each, flat. */
static const char lua_index[] =
    "local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)\n"
    "local out = {}\n"
    "for _, id in ipairs(ids) do\n"
    "  local h = redis.call('HMGET', KEYS[1] .. ':' .. id, 'state', 'ca_id', 'tenant',\n"
    "                       'requester')\n"
    "  out[#out + 1] = id\n"
    "  for i = 1, 4 do out[#out + 1] = h[i] or '' end\n"
    "end\n"
    "return out\n";

/* KEYS the pending hashes: HGETALL of each. */
static const char lua_get_many[] =
    "local out = {}\n"
    "for i, k in ipairs(KEYS) do out[i] = redis.call('HGETALL', k) end\n"
    "return out\n";

redisReply *
pending_index(struct approver *ap)
{
	char key[APPROVER_KEY_MAX], max[16];
	const char *argv[] = {"EVAL", lua_index, "1", key, max};
	redisReply *rep;

	ap_key(ap, key, "pending", NULL);
	snprintf(max, sizeof(max), "%d", APPROVER_LIST_MAX);
	if ((rep = ap_redis(ap, 5, argv)) != NULL &&
	    (rep->type != REDIS_REPLY_ARRAY || rep->elements % PENDING_INDEX_FIELDS != 0)) {
		freeReplyObject(rep);
		rep = NULL;
	}
	return rep;
}

int
pending_get_many(struct approver *ap, const char *const *ids, size_t n, struct pending **out)
{
	const char **argv = calloc(n + 3, sizeof(*argv));
	char(*keys)[APPROVER_KEY_MAX] = calloc(n > 0 ? n : 1, sizeof(*keys));
	char nkeys[24];
	redisReply *rep = NULL, *h;
	size_t i;
	int rc = STORE_EDOWN;

	if (argv == NULL || keys == NULL)
		goto out;
	snprintf(nkeys, sizeof(nkeys), "%zu", n);
	argv[0] = "EVAL";
	argv[1] = lua_get_many;
	argv[2] = nkeys;
	for (i = 0; i < n; i++) {
		ap_key(ap, keys[i], "pending", ids[i]);
		argv[i + 3] = keys[i];
	}
	if ((rep = ap_redis(ap, (int)n + 3, argv)) == NULL || rep->type != REDIS_REPLY_ARRAY ||
	    rep->elements != n)
		goto out;
	for (i = 0; i < n; i++) {
		h = rep->element[i];
		out[i] = h->type == REDIS_REPLY_ARRAY ? pending_from_pairs(h->element, h->elements)
						      : NULL;
	}
	rc = 0;
out:
	if (rep != NULL)
		freeReplyObject(rep);
	free(keys);
	free(argv);
	return rc;
}

int
pending_approve(struct approver *ap, const char *id, const char *admin, int required,
		char **approvals, char *cur)
{
	char kpend[APPROVER_KEY_MAX], kset[APPROVER_KEY_MAX], kexp[APPROVER_KEY_MAX];
	char kout[APPROVER_KEY_MAX], kreq[APPROVER_KEY_MAX], chan[APPROVER_KEY_MAX];
	char now[24], req[16];
	const char *argv[] = {"EVAL",
			      lua_approve,
			      "6",
			      kpend,
			      kset,
			      kexp,
			      kout,
			      kreq,
			      chan,
			      id,
			      admin,
			      now,
			      req,
			      req_state_name(REQ_PENDING),
			      req_state_name(REQ_APPROVED)};
	redisReply *rep;
	long long rc;

	ap_key(ap, kpend, "pending", id);
	ap_key(ap, kset, "pending", NULL);
	ap_key(ap, kexp, "pending:expiry", NULL);
	ap_key(ap, kout, "pending:outbox", NULL);
	ap_key(ap, kreq, "req", id);
	store_channel(&ap->store, id, chan, sizeof(chan));
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	snprintf(req, sizeof(req), "%d", required);
	if ((rep = ap_redis(ap, (int)(sizeof(argv) / sizeof(argv[0])), argv)) == NULL)
		return STORE_EDOWN;
	rc = reply_pair(rep, NULL);
	if (rc == APPROVE_NOT_PENDING && cur != NULL)
		reply_pair(rep, cur);
	if (approvals != NULL)
		*approvals = rc > 0 && rep->element[1]->type == REDIS_REPLY_STRING
				 ? strdup(rep->element[1]->str)
				 : NULL;
	freeReplyObject(rep);
	return rc < 0 ? STORE_EDOWN : (int)rc;
}

int
pending_end(struct approver *ap, const char *id, enum req_state to, const char *code,
	    const char *message, const char *actor, int only_due, struct pending **out, char *cur)
{
	char kpend[APPROVER_KEY_MAX], kset[APPROVER_KEY_MAX], kexp[APPROVER_KEY_MAX];
	char kreq[APPROVER_KEY_MAX], chan[APPROVER_KEY_MAX], now[24];
	const char *argv[] = {"EVAL",
			      lua_end,
			      "5",
			      kpend,
			      kset,
			      kexp,
			      kreq,
			      chan,
			      id,
			      now,
			      req_state_name(to),
			      code,
			      message,
			      actor,
			      only_due ? "1" : "0",
			      req_state_name(REQ_PENDING)};
	redisReply *rep;
	int rc;

	ap_key(ap, kpend, "pending", id);
	ap_key(ap, kset, "pending", NULL);
	ap_key(ap, kexp, "pending:expiry", NULL);
	ap_key(ap, kreq, "req", id);
	store_channel(&ap->store, id, chan, sizeof(chan));
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	if ((rep = ap_redis(ap, (int)(sizeof(argv) / sizeof(argv[0])), argv)) == NULL)
		return STORE_EDOWN;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
	    rep->element[0]->type != REDIS_REPLY_INTEGER) {
		rc = STORE_EDOWN;
	} else if (rep->element[0]->integer == 1 && rep->element[1]->type == REDIS_REPLY_ARRAY) {
		rc = 1;
		if (out != NULL)
			*out =
			    pending_from_pairs(rep->element[1]->element, rep->element[1]->elements);
	} else {
		rc = 0;
		if (cur != NULL)
			reply_pair(rep, cur);
	}
	freeReplyObject(rep);
	return rc;
}

int
pending_published(struct approver *ap, const char *id)
{
	char kpend[APPROVER_KEY_MAX], kout[APPROVER_KEY_MAX];
	const char *del[] = {"DEL", kpend}, *zrem[] = {"ZREM", kout, id};
	redisReply *rep;
	int rc = 0;

	ap_key(ap, kpend, "pending", id);
	ap_key(ap, kout, "pending:outbox", NULL);
	if ((rep = ap_redis(ap, 2, del)) == NULL)
		rc = -1;
	else
		freeReplyObject(rep);
	if ((rep = ap_redis(ap, 3, zrem)) == NULL)
		rc = -1;
	else
		freeReplyObject(rep);
	return rc;
}

void
decisions_add(struct approver *ap, const struct pending *p, const char *decision, const char *actor,
	      const char *approvals, const char *reason)
{
	char key[APPROVER_KEY_MAX], last[16], *s;
	cJSON *o = cJSON_CreateObject(), *a;
	redisReply *rep;

	if (o == NULL)
		return;
	cJSON_AddStringToObject(o, "request_id", p->id);
	cJSON_AddStringToObject(o, "decision", decision);
	if (actor != NULL)
		cJSON_AddStringToObject(o, "actor", actor);
	cJSON_AddStringToObject(o, "ca_id", p->ca_id);
	cJSON_AddStringToObject(o, "tenant", p->tenant != NULL ? p->tenant : "");
	cJSON_AddStringToObject(o, "requester", p->requester != NULL ? p->requester : "");
	cJSON_AddStringToObject(o, "common_name", p->common_name != NULL ? p->common_name : "");
	if ((a = cJSON_Parse(approvals != NULL ? approvals : p->approvals)) == NULL ||
	    !cJSON_IsArray(a)) {
		cJSON_Delete(a);
		a = cJSON_CreateArray();
	}
	cJSON_AddItemToObject(o, "approvals", a);
	if (reason != NULL)
		cJSON_AddStringToObject(o, "reason", reason);
	cJSON_AddNumberToObject(o, "time", (double)time(NULL));
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (s == NULL)
		return;
	ap_key(ap, key, "decisions", NULL);
	snprintf(last, sizeof(last), "%d", APPROVER_DECISIONS_MAX - 1);
	{
		const char *push[] = {"LPUSH", key, s}, *trim[] = {"LTRIM", key, "0", last};

		if ((rep = ap_redis(ap, 3, push)) != NULL)
			freeReplyObject(rep);
		if ((rep = ap_redis(ap, 4, trim)) != NULL)
			freeReplyObject(rep);
	}
	free(s);
}
