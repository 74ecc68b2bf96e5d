/*
 * Notifications: one event on the notify topic, a signed webhook to every
 * URL configured on the request's CA and tenant and to every webhook the
 * requester registered (/me/webhooks), and an e-mail when the requester
 * opted in (/me/notifications); each audited, each delivery queued in Redis
 * (webhook.h). docs/notifications.md describes the events.
 *
 * Event (pki.notify, key request id or batch id; also the webhook body),
 * schemas/notify.schema.json:
 *   {"v":1, "event", "request_id" | "batch_id", "ca_id"?, "tenant",
 *    "requester", "common_name"?, "audience": "admins" | "requester",
 *    "recipients": [{"user","email"}], "state"?, "actor"?, "reason"?,
 *    "code"?, "serial"?, "expires_at"?, "poll_url", "counts"?, "total"?,
 *    "time"}
 * "pending" goes to the admins who may decide; the rest to the requester
 * (a batch's requests: only "batch_ended", once, to the batch's owner).
 *
 * The cost for a request whose requester has no channels of their own: one
 * Redis script (notify_lua_read: dedup, the record, the channels, the
 * batch) and one message on the notify topic.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "approver.h"
#include "audit.h"
#include "log.h"
#include "me.h"
#include "msg.h"
#include "svc.h"

#define NOTIFY_DETAIL_MAX 600
#define NOTIFY_TARGET_MAX 160
#define NOTIFY_MAIL_MAX 8192 /* one e-mail, headers and body */

int
ap_admin_scope(const struct user *u, const char *ca_id, const char *tenant)
{
	return roster_admin_scope(u, ca_id, tenant);
}

void
ap_audit(struct approver *ap, const char *event, const char *request_id, const struct pending *p,
	 const char *actor, const char *client_ip, const char *detail)
{
	struct audit_event ev = {
	    .event = event,
	    .request_id = request_id,
	    .actor = actor,
	    .tenant = p != NULL ? p->tenant : NULL,
	    .ca_id = p != NULL ? p->ca_id : NULL,
	    .client_ip = client_ip,
	    .detail = detail,
	};

	audit_emit(ap->kp, ap->cfg->topics.audit, &ev);
}

static void
add_opt(cJSON *o, const char *name, const char *v)
{
	if (v != NULL && v[0] != '\0')
		cJSON_AddStringToObject(o, name, v);
}

static void
add_recipient(cJSON *a, const char *user, const char *email)
{
	cJSON *r = cJSON_CreateObject();

	cJSON_AddStringToObject(r, "user", user);
	if (email != NULL)
		cJSON_AddStringToObject(r, "email", email);
	else
		cJSON_AddNullToObject(r, "email");
	cJSON_AddItemToArray(a, r);
}

/*
 * A new event with the fields every event starts with (v, event, the
 * request, audience) and an empty recipients array in *rec. NULL when out
 * of memory. Caller frees.
 */
static cJSON *
event_new(const char *event, const char *id, const char *ca_id, const char *tenant,
	  const char *requester, const char *common_name, const char *audience, cJSON **rec)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL)
		return NULL;
	cJSON_AddNumberToObject(o, "v", MSG_VERSION);
	cJSON_AddStringToObject(o, "event", event);
	add_opt(o, "request_id", id);
	add_opt(o, "ca_id", ca_id);
	add_opt(o, "tenant", tenant);
	add_opt(o, "requester", requester);
	add_opt(o, "common_name", common_name);
	cJSON_AddStringToObject(o, "audience", audience);
	if ((*rec = cJSON_AddArrayToObject(o, "recipients")) == NULL) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* Queues body to each of n webhooks (target kind:id:index). Returns how many were queued. */
static int
notify_hooks(struct approver *ap, const struct webhook *w, size_t n, const char *kind,
	     const char *owner, const char *event, const char *id, const char *body)
{
	char target[NOTIFY_TARGET_MAX], did[WEBHOOK_ID_MAX];
	size_t i;
	int k = 0;

	for (i = 0; i < n; i++) {
		snprintf(target, sizeof(target), "%s:%s:%zu", kind, owner, i);
		if (webhook_enqueue(&ap->wq, target, w[i].url, event, id, body, did) == 0)
			k++;
		else
			log_msg(LOG_ERROR, id, "webhook to %s not queued (Redis down)", w[i].url);
	}
	return k;
}

/* The operator's webhooks of ca_id and tenant (either may be NULL). Returns how many were queued.
 */
static int
notify_operator_hooks(struct approver *ap, const char *ca_id, const char *tenant, const char *event,
		      const char *id, const char *body)
{
	const struct ca *ca = ca_id != NULL ? config_ca_find(ap->cfg, ca_id) : NULL;
	size_t i;
	int n = 0;

	if (ca != NULL)
		n += notify_hooks(ap, ca->webhooks, ca->nwebhooks, "ca", ca->id, event, id, body);
	for (i = 0; tenant != NULL && i < ap->cfg->ntenants; i++)
		if (strcmp(ap->cfg->tenants[i].id, tenant) == 0)
			n += notify_hooks(ap, ap->cfg->tenants[i].webhooks,
					  ap->cfg->tenants[i].nwebhooks, "tenant",
					  ap->cfg->tenants[i].id, event, id, body);
	return n;
}

/* Publishes body on the notify topic (key id) and audits what went where. */
static void
notify_finish(struct approver *ap, const struct note *n, const char *body, const char *audience,
	      int nrec, int nhooks, int nmail)
{
	char detail[NOTIFY_DETAIL_MAX];
	const char *key = n->id != NULL ? n->id : n->batch_id;
	struct audit_event ev = {.event = AUDIT_NOTIFICATION,
				 .request_id = key,
				 .actor = n->actor != NULL ? n->actor : "approver",
				 .tenant = n->tenant,
				 .ca_id = n->ca_id,
				 .detail = detail};

	if (kafka_produce(ap->kp, ap->cfg->topics.notify, key, body, strlen(body)) != 0)
		log_msg(LOG_WARN, key, "notification %s not queued on %s", n->event,
			ap->cfg->topics.notify);
	snprintf(detail, sizeof(detail),
		 "%s to %s: %d recipient(s), %d webhook(s), %d e-mail(s)%s%s", n->event, audience,
		 nrec, nhooks, nmail, n->batch_id != NULL ? "; batch " : "",
		 n->batch_id != NULL ? n->batch_id : "");
	audit_emit(ap->kp, ap->cfg->topics.audit, &ev);
}

void
notify_admins(struct approver *ap, const struct pending *p, const char *reason)
{
	const struct config *cfg = ap->cfg;
	struct note n = {.event = NOTE_PENDING,
			 .id = p->id,
			 .ca_id = p->ca_id,
			 .tenant = p->tenant,
			 .reason = reason};
	char *body;
	cJSON *o, *rec;
	size_t i;
	int nrec = 0;

	if ((o = event_new(NOTE_PENDING, p->id, p->ca_id, p->tenant, p->requester, p->common_name,
			   "admins", &rec)) == NULL)
		return;
	for (i = 0; i < cfg->nusers; i++)
		if (ap_admin_scope(&cfg->users[i], p->ca_id, p->tenant)) {
			add_recipient(rec, cfg->users[i].name, cfg->users[i].email);
			nrec++;
		}
	add_opt(o, "reason", reason);
	if (p->expires_at > 0)
		cJSON_AddNumberToObject(o, "expires_at", (double)p->expires_at);
	cJSON_AddNumberToObject(o, "time", (double)time(NULL));
	body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (body == NULL)
		return;
	notify_finish(ap, &n, body, "admins", nrec,
		      notify_operator_hooks(ap, p->ca_id, p->tenant, NOTE_PENDING, p->id, body), 0);
	free(body);
}

/* s with CR, LF and other control characters replaced by spaces (no header or line injection). */
static void
mail_clean(char *out, size_t outlen, const char *s)
{
	size_t i;

	snprintf(out, outlen, "%s", s != NULL ? s : "");
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = ' ';
}

/* Appends "label: value\r\n" to the text at b (cap NOTIFY_MAIL_MAX) when value is set. */
static void
mail_line(char *b, const char *label, const char *value)
{
	char v[NOTIFY_DETAIL_MAX];
	size_t len = strlen(b);

	if (value == NULL || value[0] == '\0' || len >= NOTIFY_MAIL_MAX)
		return;
	mail_clean(v, sizeof(v), value);
	snprintf(b + len, NOTIFY_MAIL_MAX - len, "%s: %s\r\n", label, v);
}

/*
 * The e-mail of n to address to: RFC 5322 headers and a plain-text body
 * naming the request (or batch), its state and the poll URL. Caller frees.
 */
static char *
mail_build(struct approver *ap, const struct note *n, const char *to, const char *poll_url)
{
	const struct notify_cfg *nc = &ap->cfg->notify;
	char *b = malloc(NOTIFY_MAIL_MAX), date[64], subject[NOTIFY_TARGET_MAX * 2];
	char counts[NOTIFY_DETAIL_MAX], what[NOTIFY_DETAIL_MAX];
	time_t now = time(NULL);
	struct tm tm;
	size_t i;

	if (b == NULL)
		return NULL;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	if (n->batch_id != NULL) {
		snprintf(subject, sizeof(subject), "Certificate batch %s: all %lld requests ended",
			 n->batch_id, n->total);
		counts[0] = '\0';
		for (i = 0; i < NOTIFY_ENDED; i++)
			snprintf(counts + strlen(counts), sizeof(counts) - strlen(counts),
				 "%s%s %lld", i > 0 ? ", " : "", notify_ended[i], n->counts[i]);
		snprintf(what, sizeof(what),
			 "Your batch %s of %lld certificate requests has ended.", n->batch_id,
			 n->total);
	} else {
		snprintf(subject, sizeof(subject), "Certificate request %s: %s", n->id, n->state);
		snprintf(what, sizeof(what), "Your certificate request %s is now %s.", n->id,
			 n->state);
	}
	snprintf(b, NOTIFY_MAIL_MAX,
		 "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\n"
		 "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
		 "Auto-Submitted: auto-generated\r\n\r\n%s\r\n\r\n",
		 nc->smtp_from, to, subject, date, what);
	mail_line(b, "Request", n->id);
	mail_line(b, "Batch", n->batch_id);
	mail_line(b, "State", n->batch_id != NULL ? NULL : n->state);
	mail_line(b, "Counts", n->batch_id != NULL ? counts : NULL);
	mail_line(b, "Common name", n->common_name);
	mail_line(b, "CA", n->ca_id);
	mail_line(b, "Serial", n->serial);
	mail_line(b, "Reason", n->reason);
	mail_line(b, "Error code", n->code);
	mail_line(b, "Decided by", n->actor);
	mail_line(b, "Poll URL", poll_url);
	return b;
}

/* The event JSON of n for its requester (poll_url and recipient given). Caller frees. */
static char *
note_json(const struct note *n, const char *email, const char *poll_url)
{
	cJSON *o, *c, *rec;
	char *body;
	size_t i;

	if ((o = event_new(n->event, n->id, n->ca_id, n->tenant, n->requester, n->common_name,
			   "requester", &rec)) == NULL)
		return NULL;
	add_opt(o, "batch_id", n->batch_id);
	add_recipient(rec, n->requester, email);
	add_opt(o, "state", n->state);
	add_opt(o, "actor", n->actor);
	add_opt(o, "reason", n->reason);
	add_opt(o, "code", n->code);
	add_opt(o, "serial", n->serial);
	cJSON_AddStringToObject(o, "poll_url", poll_url);
	if (n->batch_id != NULL) {
		c = cJSON_AddObjectToObject(o, "counts");
		for (i = 0; i < NOTIFY_ENDED; i++)
			cJSON_AddNumberToObject(c, notify_ended[i], (double)n->counts[i]);
		cJSON_AddNumberToObject(o, "total", (double)n->total);
	}
	cJSON_AddNumberToObject(o, "time", (double)time(NULL));
	body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return body;
}

void
notify_requester(struct approver *ap, const struct note *n, const struct channels *ch)
{
	const struct user *u = config_user_find(ap->cfg, n->requester);
	const char *email = n->email != NULL && n->email[0] ? n->email
			    : u != NULL                     ? u->email
							    : NULL;
	const char *key = n->id != NULL ? n->id : n->batch_id;
	char poll[NETGUARD_URL_MAX + STORE_ID_MAX * 2], target[NOTIFY_TARGET_MAX];
	char mailto[NOTIFY_TARGET_MAX], did[WEBHOOK_ID_MAX], *body, *mail = NULL;
	int nhooks = 0, nmail = 0;
	size_t i;

	snprintf(poll, sizeof(poll), "%s/csr/%s/%s", ap->cfg->notify.public_url,
		 n->id != NULL ? "requests" : "batches", key);
	if ((body = note_json(n, email, poll)) == NULL)
		return;
	nhooks = notify_operator_hooks(ap, n->ca_id, n->tenant, n->event, key, body);
	for (i = 0; ch != NULL && i < ch->nhooks; i++) {
		snprintf(target, sizeof(target), "%s%s:%s", WEBHOOK_USER_TARGET, n->requester,
			 ch->hooks[i].id);
		if (webhook_enqueue(&ap->wq, target, ch->hooks[i].url, n->event, key, body, did) ==
		    0)
			nhooks++;
		else
			log_msg(LOG_ERROR, key, "webhook to %s not queued (Redis down)",
				ch->hooks[i].url);
	}
	if (ch != NULL && ch->email && email != NULL && ap->cfg->notify.smtp_url != NULL &&
	    (mail = mail_build(ap, n, email, poll)) != NULL) {
		snprintf(mailto, sizeof(mailto), "%s%s", WEBHOOK_MAILTO, email);
		snprintf(target, sizeof(target), "mail:%s", n->requester);
		if (webhook_enqueue(&ap->wq, target, mailto, n->event, key, mail, did) == 0)
			nmail++;
		else
			log_msg(LOG_ERROR, key, "e-mail to %s not queued (Redis down)", email);
	}
	notify_finish(ap, n, body, "requester", 1, nhooks, nmail);
	free(mail);
	free(body);
}

/*
 * KEYS the records of up to NOTIFY_BATCH_MAX requests; ARGV prefix, then one
 * character per key: "1" for a terminal state (told once per request: the
 * record's "notified" field; and the batch check), "0" otherwise. Returns
 * one answer per key, in order: nil (no record), 0 (notified already), or
 * {1, fields (NOTIFY_FIELDS), email, hooks, batch} where email is "1" when
 * the requester opted in, hooks a flat list of id, url and batch, when this
 * was the last request of its batch to end, {owner, total, counts
 * (NOTIFY_ENDED), owner's email, owner's hooks, tenant}. A user's channels are read
 * once per call. With no keys and ARGV[2] '': ARGV from 3 are batch ids, and
 * the answer is that batch answer (or {}) for each.
 */
static const char notify_lua_read[] =
    "local known = {}\n"
    "local function channels(user)\n"
    "  if not user then return '0', {} end\n"
    "  if known[user] then return known[user][1], known[user][2] end\n"
    "  local base = ARGV[1] .. 'me:' .. user\n"
    "  local hooks = {}\n"
    "  for _, j in ipairs(redis.call('HVALS', base .. ':hooks')) do\n"
    "    local ok, h = pcall(cjson.decode, j)\n"
    "    if ok and type(h) == 'table' and h.id and h.url then\n"
    "      hooks[#hooks + 1] = h.id; hooks[#hooks + 1] = h.url end\n"
    "  end\n"
    "  known[user] = {redis.call('HGET', base, 'email') or '0', hooks}\n"
    "  return known[user][1], known[user][2]\n"
    "end\n"
    "local function batch_end(b)\n"
    "  local bk = ARGV[1] .. 'batch:' .. b\n"
    "  local h = redis.call('HMGET', bk, 'owner', 'size', 'issued', 'failed', 'rejected',\n"
    "    'expired', 'tenant')\n"
    "  local total = redis.call('ZCARD', bk .. ':ids')\n"
    "  local want = tonumber(h[2] or '0')\n"
    "  if want == 0 then want = total end\n"
    "  local ended = 0\n"
    "  for i = 3, 6 do ended = ended + tonumber(h[i] or '0') end\n"
    "  if h[1] and want > 0 and ended >= want and\n"
    "     redis.call('HSETNX', bk, 'notified', '1') == 1 then\n"
    "    local e, hooks = channels(h[1])\n"
    "    return {h[1], tostring(total), h[3] or '0', h[4] or '0', h[5] or '0',\n"
    "      h[6] or '0', e, hooks, h[7] or false}\n"
    "  end\n"
    "  return {}\n"
    "end\n"
    "local function one(key, terminal)\n"
    "  if redis.call('EXISTS', key) == 0 then return false end\n"
    "  if terminal and redis.call('HSETNX', key, 'notified', '1') == 0 then return 0 end\n"
    "  local f = redis.call('HMGET', key, 'requester', 'email', 'tenant', 'ca_id',\n"
    "    'common_name', 'batch_id', 'serial', 'error_code', 'error_message', 'decided_by')\n"
    "  if f[6] then return {1, f, '0', {}, terminal and batch_end(f[6]) or {}} end\n"
    "  local e, hooks = channels(f[1])\n"
    "  return {1, f, e, hooks, {}}\n"
    "end\n"
    "local out = {}\n"
    "if ARGV[2] == '' then\n"
    "  for i, b in ipairs(ARGV) do if i > 2 then out[i - 2] = batch_end(b) end end\n"
    "  return out\n"
    "end\n"
    "for i, key in ipairs(KEYS) do out[i] = one(key, string.sub(ARGV[2], i, i) == '1') end\n"
    "return out\n";

/* The record fields notify_lua_read returns, in its order. */
enum {
	NF_REQUESTER,
	NF_EMAIL,
	NF_TENANT,
	NF_CA,
	NF_CN,
	NF_BATCH,
	NF_SERIAL,
	NF_CODE,
	NF_MESSAGE,
	NF_DECIDED_BY,
	NOTIFY_FIELDS
};

const char *const notify_ended[NOTIFY_ENDED] = {"issued", "failed", "rejected", "expired"};

static const char *
reply_str(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_STRING ? r->str : NULL;
}

/* The channels of reply e (email flag) and h (flat id, url list) into ch (borrowing h). */
static void
channels_read(const redisReply *e, const redisReply *h, struct channels *ch, struct chan_hook *buf)
{
	size_t i;

	ch->email = reply_str(e) != NULL && strcmp(e->str, "1") == 0;
	ch->hooks = buf;
	ch->nhooks = 0;
	for (i = 0;
	     h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements && ch->nhooks < ME_HOOKS_MAX;
	     i += 2)
		if (reply_str(h->element[i]) != NULL && reply_str(h->element[i + 1]) != NULL) {
			buf[ch->nhooks].id = h->element[i]->str;
			buf[ch->nhooks].url = h->element[i + 1]->str;
			ch->nhooks++;
		}
}

/*
 * Tells the owner of batch_id that it ended, with the counts, if b is
 * notify_lua_read's batch answer saying so (the script marked it told).
 */
static void
notify_batch_ended(struct approver *ap, const char *batch_id, const redisReply *b)
{
	struct chan_hook hooks[ME_HOOKS_MAX];
	struct channels ch;
	struct note n = {0};
	long long counts[NOTIFY_ENDED];
	size_t i;

	if (b->type != REDIS_REPLY_ARRAY || b->elements != 9 || reply_str(b->element[0]) == NULL)
		return;
	n.event = NOTE_BATCH_ENDED;
	n.tenant = reply_str(b->element[8]);
	n.batch_id = batch_id;
	n.requester = b->element[0]->str;
	n.total = reply_str(b->element[1]) != NULL ? atoll(b->element[1]->str) : 0;
	for (i = 0; i < NOTIFY_ENDED; i++)
		counts[i] =
		    reply_str(b->element[2 + i]) != NULL ? atoll(b->element[2 + i]->str) : 0;
	n.counts = counts;
	channels_read(b->element[6], b->element[7], &ch, hooks);
	notify_requester(ap, &n, &ch);
}

/* Tells what notify_lua_read answered for it (rep, one element of its reply) about it. */
static void
notify_answer(struct approver *ap, const struct notify_item *it, const redisReply *rep)
{
	struct chan_hook hooks[ME_HOOKS_MAX];
	struct channels ch;
	struct note n = {0};
	const redisReply *f, *b;

	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 5 ||
	    rep->element[1]->type != REDIS_REPLY_ARRAY ||
	    rep->element[1]->elements != NOTIFY_FIELDS)
		return; /* no record, or notified already */
	f = rep->element[1];
	b = rep->element[4];
	n.requester = reply_str(f->element[NF_REQUESTER]);
	n.tenant = reply_str(f->element[NF_TENANT]);
	n.ca_id = reply_str(f->element[NF_CA]);
	if (n.requester == NULL || n.ca_id == NULL)
		return; /* not a request of this service */
	n.event = req_state_name(it->state);
	n.state = n.event;
	if (reply_str(f->element[NF_BATCH]) == NULL) {
		n.id = it->id;
		n.email = reply_str(f->element[NF_EMAIL]);
		n.common_name = reply_str(f->element[NF_CN]);
		n.serial =
		    it->state == REQ_ISSUED
			? (it->serial != NULL ? it->serial : reply_str(f->element[NF_SERIAL]))
			: NULL;
		n.code = req_state_terminal(it->state) && it->state != REQ_ISSUED
			     ? reply_str(f->element[NF_CODE])
			     : NULL;
		n.reason = it->reason != NULL ? it->reason
			   : n.code != NULL   ? reply_str(f->element[NF_MESSAGE])
					      : NULL;
		n.actor = it->state == REQ_REJECTED ? reply_str(f->element[NF_DECIDED_BY]) : NULL;
		channels_read(rep->element[2], rep->element[3], &ch, hooks);
		notify_requester(ap, &n, &ch);
	} else {
		notify_batch_ended(ap, reply_str(f->element[NF_BATCH]), b);
	}
}

int
notify_requests(struct approver *ap, const struct notify_item *items, size_t n)
{
	const char *argv[NOTIFY_BATCH_MAX + 5];
	char nkeys[16], flags[NOTIFY_BATCH_MAX + 1], (*keys)[APPROVER_KEY_MAX] = NULL;
	redisReply *rep = NULL;
	size_t i;
	int argc = 0, rc = -1;

	if (n == 0)
		return 0;
	if (n > NOTIFY_BATCH_MAX || (keys = calloc(n, sizeof(*keys))) == NULL)
		goto out;
	snprintf(nkeys, sizeof(nkeys), "%zu", n);
	argv[argc++] = "EVAL";
	argv[argc++] = notify_lua_read;
	argv[argc++] = nkeys;
	for (i = 0; i < n; i++) {
		ap_key(ap, keys[i], "req", items[i].id);
		argv[argc++] = keys[i];
		flags[i] = req_state_terminal(items[i].state) ? '1' : '0';
	}
	flags[n] = '\0';
	argv[argc++] = ap->cfg->redis_prefix;
	argv[argc++] = flags;
	if ((rep = ap_redis(ap, argc, argv)) == NULL)
		goto out;
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == n)
		for (i = 0; i < n; i++)
			notify_answer(ap, &items[i], rep->element[i]);
	else
		log_error("notify: unexpected answer of the notification script; %zu request(s) "
			  "not told",
			  n);
	rc = 0;
out:
	freeReplyObject(rep);
	free(keys);
	return rc;
}

int
notify_batches(struct approver *ap, const char *const *batch_ids, size_t n)
{
	const char *argv[NOTIFY_BATCH_MAX + 5];
	redisReply *rep = NULL;
	size_t i;
	int argc = 0;

	if (n == 0)
		return 0;
	if (n > NOTIFY_BATCH_MAX)
		return -1;
	argv[argc++] = "EVAL";
	argv[argc++] = notify_lua_read;
	argv[argc++] = "0";
	argv[argc++] = ap->cfg->redis_prefix;
	argv[argc++] = "";
	for (i = 0; i < n; i++)
		argv[argc++] = batch_ids[i];
	if ((rep = ap_redis(ap, argc, argv)) == NULL)
		return -1;
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == n)
		for (i = 0; i < n; i++)
			notify_batch_ended(ap, batch_ids[i], rep->element[i]);
	else
		log_error("notify: unexpected answer of the batch check; %zu batch(es) not told",
			  n);
	freeReplyObject(rep);
	return 0;
}

int
notify_request(struct approver *ap, const char *id, enum req_state state, const char *reason,
	       const char *serial)
{
	const struct notify_item it = {
	    .id = id, .state = state, .reason = reason, .serial = serial};

	return notify_requests(ap, &it, 1);
}

/* A user's webhook secret from P me:{user}:hooks. 0, 1 (gone) or -1 (Redis down). */
static int
notify_user_secret(struct approver *ap, const char *user, const char *id, char *out)
{
	char key[APPROVER_KEY_MAX];
	const char *argv[] = {"HGET", key, id};
	redisReply *rep;
	cJSON *o = NULL;
	const cJSON *sec;
	int rc = 1;

	me_key(&ap->store, key, sizeof(key), user, ME_KEY_HOOKS);
	if ((rep = ap_redis(ap, 3, argv)) == NULL)
		return -1;
	if (rep->type == REDIS_REPLY_STRING && (o = cJSON_Parse(rep->str)) != NULL &&
	    cJSON_IsString(sec = cJSON_GetObjectItemCaseSensitive(o, "secret")) &&
	    strlen(sec->valuestring) < WEBHOOK_SECRET_MAX) {
		snprintf(out, WEBHOOK_SECRET_MAX, "%s", sec->valuestring);
		rc = 0;
	}
	if (rep->type == REDIS_REPLY_STRING)
		OPENSSL_cleanse(rep->str, rep->len);
	cJSON_Delete(o);
	freeReplyObject(rep);
	return rc;
}

/* webhook_secret_fn: "ca:ID:N", "tenant:ID:N" (config) or "user:NAME:HOOK" (Redis). */
static int
notify_secret(void *arg, const char *target, char *out)
{
	struct approver *ap = arg;
	const struct webhook *w = NULL;
	char kind[16], owner[NOTIFY_TARGET_MAX], hook[ME_HOOK_ID_MAX];
	size_t n = 0, i;
	unsigned idx;

	if (sscanf(target, "user:%159[^:]:%32s", owner, hook) == 2)
		return notify_user_secret(ap, owner, hook, out);
	if (sscanf(target, "%15[^:]:%159[^:]:%u", kind, owner, &idx) != 3)
		return 1;
	if (strcmp(kind, "ca") == 0) {
		const struct ca *ca = config_ca_find(ap->cfg, owner);

		if (ca != NULL) {
			w = ca->webhooks;
			n = ca->nwebhooks;
		}
	} else if (strcmp(kind, "tenant") == 0) {
		for (i = 0; i < ap->cfg->ntenants; i++)
			if (strcmp(ap->cfg->tenants[i].id, owner) == 0) {
				w = ap->cfg->tenants[i].webhooks;
				n = ap->cfg->tenants[i].nwebhooks;
			}
	}
	if (w == NULL || idx >= n || strlen(w[idx].secret) >= WEBHOOK_SECRET_MAX)
		return 1;
	snprintf(out, WEBHOOK_SECRET_MAX, "%s", w[idx].secret);
	return 0;
}

/* webhook_outcome_fn: audits each attempt. */
static void
notify_outcome(void *arg, const struct webhook_outcome *o)
{
	struct approver *ap = arg;
	struct audit_event ev = {
	    .event = AUDIT_WEBHOOK, .request_id = o->request_id, .actor = "approver"};
	char detail[NOTIFY_DETAIL_MAX], outcome[WEBHOOK_ERR_MAX + 16];

	if (o->error != NULL)
		snprintf(outcome, sizeof(outcome), "%s", o->error);
	else
		snprintf(outcome, sizeof(outcome), "HTTP %d", o->code);
	snprintf(detail, sizeof(detail), "%s %s delivery %s attempt %d to %s: %s", o->status,
		 o->event, o->id, o->attempt, o->url, outcome);
	ev.detail = detail;
	audit_emit(ap->kp, ap->cfg->topics.audit, &ev);
}

void *
webhook_run(void *arg)
{
	struct approver *ap = arg;

	while (!svc_wait(APPROVER_WEBHOOK_TICK_MS))
		while (webhook_run_due(&ap->wq, APPROVER_WEBHOOK_BATCH, notify_secret,
				       notify_outcome, ap) == APPROVER_WEBHOOK_BATCH &&
		       !svc_stopping())
			;
	return NULL;
}
