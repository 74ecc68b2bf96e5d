/*
 * The admin JSON API (admins only; bearer API key or a dashboard session,
 * whose unsafe calls need the CSRF token):
 *
 *   GET  /admin/api/pending                 ?ca= &tenant= &requester= &limit= &offset=
 *   GET  /admin/api/pending/{id}            with the decoded CSR
 *   POST /admin/api/pending/{id}/approve
 *   POST /admin/api/pending/{id}/reject     {"reason": "..."} (required)
 *   GET  /admin/api/decisions               ?limit=  recent decisions, newest first
 *   GET  /admin/api/webhooks/{id}           webhook deliveries of request id
 *   GET  /admin/api/me                      the caller
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admit.h"
#include "admitjson.h"
#include "approver.h"
#include "audit.h"
#include "auth.h"
#include "ids.h"
#include "issue.h"
#include "log.h"
#include "msg.h"
#include "session.h"

#define API_PREFIX "/admin/api/"
#define API_FILTER_MAX 64

/* The admin making req, or NULL after answering 401/403 (or 503). */
static const struct user *
api_user(struct approver *ap, struct http_req *req)
{
	static const char *const www[] = {"WWW-Authenticate", "Bearer", NULL};
	const char *a = http_header(req, "Authorization");
	const struct user *u;
	char detail[160];

	if (a != NULL) {
		u = auth_bearer(ap->cfg, a);
	} else {
		u = session_user(ap->cfg, &session_admin, req);
		if (req->replied)
			return NULL; /* CSRF refused or the session store is down */
	}
	if (u == NULL) {
		ap_audit(ap, AUDIT_REJECTED, NULL, NULL, NULL, req->client_ip,
			 a == NULL ? "401 admin API: no API key or session"
				   : "401 admin API: unknown API key");
		http_reply_error(req, 401, "unauthorized", "Authorization", NULL, www,
				 a == NULL ? "missing Authorization: Bearer <admin API key> (or a "
					     "dashboard session)"
					   : "API key not recognized");
		return NULL;
	}
	if (u->role != ROLE_ADMIN) {
		snprintf(detail, sizeof(detail), "403 admin API: %s is not an admin", u->name);
		ap_audit(ap, AUDIT_REJECTED, NULL, NULL, u->name, req->client_ip, detail);
		http_reply_error(req, 403, "not_admin", "Authorization", NULL, NULL,
				 "user %s has role %s; the admin API needs an admin", u->name,
				 u->role == ROLE_AUDITOR ? "auditor" : "requester");
		return NULL;
	}
	return u;
}

static void
add_time(cJSON *o, const char *name, long long t)
{
	char buf[32];
	struct tm tm;
	time_t tt = (time_t)t;

	if (t <= 0) {
		cJSON_AddNullToObject(o, name);
		return;
	}
	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cJSON_AddStringToObject(o, name, buf);
}

static void
add_str(cJSON *o, const char *name, const char *v)
{
	if (v != NULL && v[0] != '\0')
		cJSON_AddStringToObject(o, name, v);
	else
		cJSON_AddNullToObject(o, name);
}

static void
add_names(cJSON *a, const char *prefix, const char *const *v)
{
	char buf[CSR_MAX_CN * 4 + 16];

	for (; v != NULL && *v != NULL; v++) {
		snprintf(buf, sizeof(buf), "%s:%s", prefix, *v);
		cJSON_AddItemToArray(a, cJSON_CreateString(buf));
	}
}

static void
add_exts(cJSON *o, const char *name, unsigned bits)
{
	cJSON *a = cJSON_AddArrayToObject(o, name);
	unsigned b;

	for (b = 1; b <= EXT_CODE_SIGNING; b <<= 1)
		if ((bits & b) && ext_name(b) != NULL)
			cJSON_AddItemToArray(a, cJSON_CreateString(ext_name(b)));
}

/*
 * Under j: the subject the CA's subject policy makes of csr c for request m
 * ("issued_subject") and what it drops or replaces ("subject_warnings"), as
 * the gateway answered and the worker will sign.
 */
static void
add_issued_subject(cJSON *j, const struct config *cfg, const struct issue_msg *m,
		   const struct csr *c)
{
	struct roster r = config_roster(cfg);
	const struct ca *ca = roster_ca_find(&r, m->ca_id);
	struct violations *vs = violations_new();
	struct subject_notes *notes = calloc(1, sizeof(*notes));
	struct issue_request ir;
	char *warnings = NULL;
	cJSON *w;

	if (ca == NULL || vs == NULL || notes == NULL)
		goto out;
	admit_issue_request(&r, m->tenant, m->common_name, m->validity_days, m->extensions, &ir);
	policy_check(c, &ir, ca, vs, notes);
	if (notes->subject[0] == '\0' || (warnings = admit_warnings_text(notes)) == NULL)
		goto out;
	add_str(j, "issued_subject", notes->subject);
	if ((w = cJSON_Parse(warnings)) != NULL)
		cJSON_AddItemToObject(j, "subject_warnings", w);
out:
	free(warnings);
	free(notes);
	free(vs);
}

/* The CSR of the stored request, decoded. */
static void
add_csr(cJSON *o, const struct config *cfg, const struct pending *p)
{
	struct issue_msg *m = NULL;
	struct violations *vs = violations_new();
	struct csr *c = NULL;
	const struct csr_info *in;
	char err[MSG_ERR_MAX];
	cJSON *j, *a, *rq;

	if (vs == NULL || msg_issue_decode(p->msg, strlen(p->msg), &m, err) != 0) {
		cJSON_AddStringToObject(o, "csr_error", vs == NULL ? "out of memory" : err);
		goto out;
	}
	rq = cJSON_AddObjectToObject(o, "requested");
	cJSON_AddNumberToObject(rq, "validity_days", m->validity_days);
	add_exts(rq, "extensions", m->extensions);
	add_str(rq, "purpose", m->purpose);
	cJSON_AddStringToObject(o, "csr_pem", m->csr);
	if (csr_parse(m->csr, strlen(m->csr), &c, vs) != 0) {
		cJSON_AddStringToObject(o, "csr_error",
					vs->n > 0 ? vs->v[0].message : "the CSR does not parse");
		goto out;
	}
	in = csr_info(c);
	j = cJSON_AddObjectToObject(o, "csr");
	add_str(j, "subject", in->subject);
	add_issued_subject(j, cfg, m, c);
	add_str(j, "common_name", in->cn);
	add_str(j, "organization", in->o);
	add_str(j, "organizational_unit", in->ou);
	add_str(j, "country", in->c);
	add_str(j, "email", in->email);
	a = cJSON_AddArrayToObject(j, "sans");
	add_names(a, "DNS", in->dns_sans);
	add_names(a, "IP", in->ip_sans);
	add_names(a, "email", in->email_sans);
	add_names(a, "URI", in->uri_sans);
	cJSON_AddStringToObject(j, "key_type", key_type_name(in->key_type));
	cJSON_AddNumberToObject(j, "key_size", in->key_bits);
	add_str(j, "curve",
		in->curve == CURVE_P256   ? "P-256"
		: in->curve == CURVE_P384 ? "P-384"
		: in->curve == CURVE_P521 ? "P-521"
					  : NULL);
	add_str(j, "signature_algorithm", in->sig_alg);
	add_exts(j, "requested_extensions", in->requested_ext);
	cJSON_AddBoolToObject(j, "requests_ca", in->requests_ca);
out:
	csr_free(c);
	free(vs);
	msg_issue_free(m);
}

cJSON *
api_pending_json(const struct config *cfg, const struct pending *p, int detail)
{
	cJSON *o = cJSON_CreateObject(),
	      *a = cJSON_Parse(p->approvals != NULL ? p->approvals : "[]");

	if (a == NULL || !cJSON_IsArray(a)) {
		cJSON_Delete(a);
		a = cJSON_CreateArray();
	}
	cJSON_AddStringToObject(o, "request_id", p->id);
	cJSON_AddStringToObject(
	    o, "status",
	    req_state_name(strcmp(p->state, "pending") == 0 ? REQ_PENDING : REQ_APPROVED));
	cJSON_AddStringToObject(o, "ca_id", p->ca_id);
	add_str(o, "tenant", p->tenant);
	add_str(o, "requester", p->requester);
	add_str(o, "email", p->email);
	add_str(o, "client_ip", p->client_ip);
	add_str(o, "common_name", p->common_name);
	cJSON_AddNumberToObject(o, "validity_days", p->validity_days);
	add_str(o, "reason", p->reason);
	add_time(o, "submitted_at", p->submitted_at);
	add_time(o, "received_at", p->received_at);
	add_time(o, "expires_at", p->expires_at);
	cJSON_AddNumberToObject(o, "approvals_required", p->approvals_required);
	cJSON_AddNumberToObject(o, "approvals_missing",
				p->approvals_required - cJSON_GetArraySize(a) > 0
				    ? p->approvals_required - cJSON_GetArraySize(a)
				    : 0);
	cJSON_AddItemToObject(o, "approvals", a);
	if (detail)
		add_csr(o, cfg, p);
	return o;
}

/* Reads a filter argument (identifier characters only). 0, or -1 after answering 400. */
static int
api_filter(struct http_req *req, const char *name, const char **out)
{
	const char *v = http_query(req, name);
	size_t i;

	*out = NULL;
	if (v == NULL || v[0] == '\0')
		return 0;
	for (i = 0; v[i] != '\0'; i++)
		if (!isalnum((unsigned char)v[i]) && strchr("._-@", v[i]) == NULL)
			break;
	if (v[i] != '\0' || i >= API_FILTER_MAX) {
		http_reply_error(req, 400, "invalid_query", name, NULL, NULL,
				 "%s: must be 1..%d letters, digits, '.', '_', '-' or '@', got "
				 "\"%.64s\"",
				 name, API_FILTER_MAX - 1, v);
		return -1;
	}
	*out = v;
	return 0;
}

/* Reads an integer argument in lo..hi (def when absent). 0, or -1 after answering 400. */
static int
api_int(struct http_req *req, const char *name, long lo, long hi, long def, long *out)
{
	const char *v = http_query(req, name);
	char *end = NULL;
	long n;

	*out = def;
	if (v == NULL || v[0] == '\0')
		return 0;
	n = strtol(v, &end, 10);
	if (*end != '\0' || n < lo || n > hi) {
		http_reply_error(req, 400, "invalid_query", name, NULL, NULL,
				 "%s: must be an integer %ld..%ld, got \"%.32s\"", name, lo, hi, v);
		return -1;
	}
	*out = n;
	return 0;
}

/* counts[ca_id] += 1. */
static void
api_count(cJSON *counts, const char *ca_id)
{
	cJSON *c = cJSON_GetObjectItemCaseSensitive(counts, ca_id);

	if (c != NULL)
		cJSON_SetNumberValue(c, c->valuedouble + 1);
	else
		cJSON_AddNumberToObject(counts, ca_id, 1);
}

/* 1 if s equals the filter f (NULL: no filter). */
static int
api_match(const char *f, const char *s)
{
	return f == NULL || strcmp(f, s) == 0;
}

/*
 * GET /admin/api/pending: two Redis calls whatever the queue's length (the
 * index of every pending request, then the page's records), a page of at
 * most limits.admin_list_max.
 */
static void
api_list(struct approver *ap, struct http_req *req, const struct user *u)
{
	const char *ca, *tenant, *requester, **page = NULL;
	long limit, offset, total = 0;
	redisReply *ix = NULL, **f;
	struct pending **recs = NULL;
	cJSON *o = NULL, *items, *counts;
	size_t i, n = 0;

	if (api_filter(req, "ca", &ca) < 0 || api_filter(req, "tenant", &tenant) < 0 ||
	    api_filter(req, "requester", &requester) < 0 ||
	    api_int(req, "limit", 1, APPROVER_PAGE_MAX, APPROVER_PAGE_DEFAULT, &limit) < 0 ||
	    api_int(req, "offset", 0, APPROVER_LIST_MAX, 0, &offset) < 0)
		return;
	if (limit > ap->cfg->limits.admin_list_max)
		limit = ap->cfg->limits.admin_list_max;
	if ((page = calloc((size_t)limit, sizeof(*page))) == NULL ||
	    (recs = calloc((size_t)limit, sizeof(*recs))) == NULL) {
		http_reply_error(req, 500, "internal", NULL, NULL, NULL, "out of memory");
		goto out;
	}
	if ((ix = pending_index(ap)) == NULL)
		goto down;
	o = cJSON_CreateObject();
	items = cJSON_AddArrayToObject(o, "items");
	counts = cJSON_AddObjectToObject(o, "counts_by_ca");
	for (i = 0; i < ix->elements; i += PENDING_INDEX_FIELDS) {
		f = &ix->element[i]; /* id, state, ca_id, tenant, requester */
		if (f[0]->type != REDIS_REPLY_STRING || f[1]->type != REDIS_REPLY_STRING ||
		    f[2]->type != REDIS_REPLY_STRING || f[3]->type != REDIS_REPLY_STRING ||
		    f[4]->type != REDIS_REPLY_STRING || strcmp(f[1]->str, "pending") != 0 ||
		    !ap_admin_scope(u, f[2]->str, f[3]->str[0] != '\0' ? f[3]->str : NULL))
			continue;
		/* Counts per CA: everything in scope, before the filters. */
		api_count(counts, f[2]->str);
		if (!api_match(ca, f[2]->str) || !api_match(tenant, f[3]->str) ||
		    !api_match(requester, f[4]->str))
			continue;
		if (total >= offset && total < offset + limit)
			page[n++] = f[0]->str;
		total++;
	}
	if (pending_get_many(ap, page, n, recs) != 0)
		goto down;
	for (i = 0; i < n; i++)
		if (recs[i] != NULL)
			cJSON_AddItemToArray(items, api_pending_json(ap->cfg, recs[i], 0));
	cJSON_AddNumberToObject(o, "total", (double)total);
	cJSON_AddNumberToObject(o, "offset", (double)offset);
	cJSON_AddNumberToObject(o, "limit", (double)limit);
	if (offset + limit < total)
		cJSON_AddNumberToObject(o, "next_offset", (double)(offset + limit));
	else
		cJSON_AddNullToObject(o, "next_offset");
	http_reply_json(req, 200, o, NULL);
	goto out;
down:
	http_reply_error(req, 503, "store_unavailable", NULL, NULL, NULL,
			 "request store (Redis) unavailable");
out:
	for (i = 0; recs != NULL && i < n; i++)
		pending_free(recs[i]);
	cJSON_Delete(o);
	if (ix != NULL)
		freeReplyObject(ix);
	free(recs);
	free(page);
}

static void
api_detail(struct approver *ap, struct http_req *req, const struct user *u, const char *id)
{
	struct pending *p = NULL;
	enum req_state state;
	int rc = pending_get(ap, id, &p);
	cJSON *o;

	if (rc == STORE_EDOWN) {
		http_reply_error(req, 503, "store_unavailable", NULL, NULL, NULL,
				 "request store (Redis) unavailable");
		return;
	}
	if (rc != 0) {
		if (store_get_state(&ap->store, id, &state) == 0)
			http_reply_error(req, 404, "not_pending", "id", NULL, NULL,
					 "request %s is %s, not pending approval", id,
					 req_state_name(state));
		else
			http_reply_error(req, 404, "request_not_found", "id", NULL, NULL,
					 "no request \"%.64s\"", id);
		return;
	}
	if (!ap_admin_scope(u, p->ca_id, p->tenant)) {
		http_reply_error(req, 403, "outside_scope", "id", NULL, NULL,
				 "admin %s may not act on CA %s for tenant %s", u->name, p->ca_id,
				 p->tenant != NULL ? p->tenant : "-");
	} else {
		o = api_pending_json(ap->cfg, p, 1);
		http_reply_json(req, 200, o, NULL);
		cJSON_Delete(o);
	}
	pending_free(p);
}

static void
api_decisions(struct approver *ap, struct http_req *req, const struct user *u)
{
	char key[APPROVER_KEY_MAX];
	const char *argv[] = {"LRANGE", key, "0", "-1"};
	const cJSON *ca, *tenant;
	redisReply *rep;
	cJSON *o, *items, *d;
	long limit;
	size_t i;

	if (api_int(req, "limit", 1, APPROVER_DECISIONS_MAX, APPROVER_DECISIONS_PAGE, &limit) < 0)
		return;
	ap_key(ap, key, "decisions", NULL);
	if ((rep = ap_redis(ap, 4, argv)) == NULL) {
		http_reply_error(req, 503, "store_unavailable", NULL, NULL, NULL,
				 "request store (Redis) unavailable");
		return;
	}
	o = cJSON_CreateObject();
	items = cJSON_AddArrayToObject(o, "items");
	for (i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements &&
		    cJSON_GetArraySize(items) < limit;
	     i++) {
		if (rep->element[i]->type != REDIS_REPLY_STRING ||
		    (d = cJSON_Parse(rep->element[i]->str)) == NULL)
			continue;
		ca = cJSON_GetObjectItemCaseSensitive(d, "ca_id");
		tenant = cJSON_GetObjectItemCaseSensitive(d, "tenant");
		if (cJSON_IsString(ca) && cJSON_IsString(tenant) &&
		    ap_admin_scope(u, ca->valuestring, tenant->valuestring))
			cJSON_AddItemToArray(items, d);
		else
			cJSON_Delete(d);
	}
	freeReplyObject(rep);
	http_reply_json(req, 200, o, NULL);
	cJSON_Delete(o);
}

/* Webhook deliveries of request id (status, attempts, last outcome, log). */
static void
api_webhooks(struct approver *ap, struct http_req *req, const struct user *u, const char *id)
{
	static const char *const fields[] = {"id",      "event",    "target",      "url",
					     "status",  "attempts", "last_code",   "last_error",
					     "created", "updated",  "delivered_at"};
	/* Counts, HTTP codes and unix times are answered as numbers. */
	static const char numeric[] = {0, 0, 0, 0, 0, 1, 1, 0, 1, 1, 1};
	_Static_assert(sizeof(numeric) == sizeof(fields) / sizeof(fields[0]), "one flag a field");
	char key[APPROVER_KEY_MAX], hkey[APPROVER_KEY_MAX + 64], rkey[APPROVER_KEY_MAX];
	const char *argv[] = {"LRANGE", key, "0", "-1"};
	const char *scope[] = {"HMGET", rkey, "ca_id", "tenant"};
	redisReply *rep, *h, *s;
	cJSON *o, *items, *d, *log;
	size_t i, j;

	ap_key(ap, rkey, "req", id);
	if ((s = ap_redis(ap, 4, scope)) == NULL) {
		http_reply_error(req, 503, "store_unavailable", NULL, NULL, NULL,
				 "request store (Redis) unavailable");
		return;
	}
	if (s->type != REDIS_REPLY_ARRAY || s->elements != 2 ||
	    s->element[0]->type != REDIS_REPLY_STRING) {
		freeReplyObject(s);
		http_reply_error(req, 404, "request_not_found", "id", NULL, NULL,
				 "no request \"%.64s\"", id);
		return;
	}
	if (!ap_admin_scope(u, s->element[0]->str,
			    s->element[1]->type == REDIS_REPLY_STRING ? s->element[1]->str
								      : NULL)) {
		freeReplyObject(s);
		http_reply_error(req, 403, "outside_scope", "id", NULL, NULL,
				 "admin %s may not see request %s", u->name, id);
		return;
	}
	freeReplyObject(s);
	snprintf(key, sizeof(key), "%swebhook:req:%s", ap->cfg->redis_prefix, id);
	if ((rep = ap_redis(ap, 4, argv)) == NULL) {
		http_reply_error(req, 503, "store_unavailable", NULL, NULL, NULL,
				 "request store (Redis) unavailable");
		return;
	}
	o = cJSON_CreateObject();
	items = cJSON_AddArrayToObject(o, "items");
	for (i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
		const char *hget[2 + sizeof(fields) / sizeof(fields[0])] = {"HMGET", hkey};
		const char *lr[] = {"LRANGE", hkey, "0", "-1"};

		if (rep->element[i]->type != REDIS_REPLY_STRING)
			continue;
		snprintf(hkey, sizeof(hkey), "%swebhook:%s", ap->cfg->redis_prefix,
			 rep->element[i]->str);
		for (j = 0; j < sizeof(fields) / sizeof(fields[0]); j++)
			hget[2 + j] = fields[j];
		if ((h = ap_redis(ap, (int)(sizeof(hget) / sizeof(hget[0])), hget)) == NULL)
			continue;
		d = cJSON_CreateObject();
		for (j = 0; h->type == REDIS_REPLY_ARRAY && j < h->elements; j++) {
			if (h->element[j]->type != REDIS_REPLY_STRING)
				continue;
			if (numeric[j] && h->element[j]->str[0] != '\0')
				cJSON_AddNumberToObject(d, fields[j],
							strtod(h->element[j]->str, NULL));
			else if (!numeric[j])
				cJSON_AddStringToObject(d, fields[j], h->element[j]->str);
		}
		freeReplyObject(h);
		snprintf(hkey, sizeof(hkey), "%swebhook:%s:log", ap->cfg->redis_prefix,
			 rep->element[i]->str);
		log = cJSON_AddArrayToObject(d, "log");
		if ((h = ap_redis(ap, 4, lr)) != NULL) {
			for (j = 0; h->type == REDIS_REPLY_ARRAY && j < h->elements; j++)
				if (h->element[j]->type == REDIS_REPLY_STRING)
					cJSON_AddItemToArray(
					    log, cJSON_CreateString(h->element[j]->str));
			freeReplyObject(h);
		}
		cJSON_AddItemToArray(items, d);
	}
	freeReplyObject(rep);
	http_reply_json(req, 200, o, NULL);
	cJSON_Delete(o);
}

static void
api_method(struct http_req *req, const char *allow)
{
	const char *hdr[] = {"Allow", allow, NULL};

	http_reply_error(req, 405, "method_not_allowed", NULL, NULL, hdr,
			 "%s %s: method not allowed (allowed: %s)", req->method, req->path, allow);
}

void
api_route(struct approver *ap, struct http_req *req)
{
	const char *p = req->path + strlen(API_PREFIX), *slash;
	int get = strcmp(req->method, "GET") == 0, post = strcmp(req->method, "POST") == 0;
	char id[STORE_ID_MAX];
	const struct user *u;
	size_t n;

	if ((u = api_user(ap, req)) == NULL)
		return;
	if (strcmp(p, "pending") == 0) {
		get ? api_list(ap, req, u) : api_method(req, "GET");
		return;
	}
	if (strcmp(p, "decisions") == 0) {
		get ? api_decisions(ap, req, u) : api_method(req, "GET");
		return;
	}
	if (strcmp(p, "me") == 0) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "user", u->name);
		add_str(o, "tenant", u->tenant);
		cJSON_AddStringToObject(o, "role", "admin");
		http_reply_json(req, 200, o, NULL);
		cJSON_Delete(o);
		return;
	}
	if (strncmp(p, "webhooks/", 9) == 0 && id_valid_n(p + 9, strlen(p + 9))) {
		get ? api_webhooks(ap, req, u, p + 9) : api_method(req, "GET");
		return;
	}
	if (strncmp(p, "pending/", 8) != 0)
		goto notfound;
	p += 8;
	slash = strchr(p, '/');
	n = slash != NULL ? (size_t)(slash - p) : strlen(p);
	if (!id_valid_n(p, n))
		goto notfound;
	memcpy(id, p, n);
	id[n] = '\0';
	if (slash == NULL)
		get ? api_detail(ap, req, u, id) : api_method(req, "GET");
	else if (strcmp(slash, "/approve") == 0)
		post ? decide_approve(ap, req, u, id) : api_method(req, "POST");
	else if (strcmp(slash, "/reject") == 0)
		post ? decide_reject(ap, req, u, id) : api_method(req, "POST");
	else
		goto notfound;
	return;
notfound:
	http_reply_error(req, 404, "not_found", NULL, NULL, NULL, "no route for %s %s", req->method,
			 req->path);
}
