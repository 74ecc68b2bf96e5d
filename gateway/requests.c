/* GET /csr/requests/{id}: status and result, optionally long-polled. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "clock.h"
#include "gateway.h"
#include "ids.h"
#include "log.h"
#include "svc.h"

#define REQUESTS_RECHECK_MS 5000 /* re-read even without an event (missed publish) */

static void
json_add_opt(cJSON *o, const char *name, const char *v)
{
	if (v != NULL)
		cJSON_AddStringToObject(o, name, v);
}

void
json_add_time(cJSON *o, const char *name, long long unix_s)
{
	char buf[32];
	struct tm tm;
	time_t t;

	if (unix_s == 0)
		return;
	t = (time_t)unix_s;
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cJSON_AddStringToObject(o, name, buf);
}

/* Left out when 0 (absent). */
static void
json_add_int(cJSON *o, const char *name, long long v)
{
	if (v != 0)
		cJSON_AddNumberToObject(o, name, (double)v);
}

/* Adds the parsed JSON text v under name; skipped when it does not parse. */
static void
json_add_raw(cJSON *o, const char *name, const char *v)
{
	cJSON *j;

	if (v != NULL && (j = cJSON_Parse(v)) != NULL)
		cJSON_AddItemToObject(o, name, j);
}

/* The values of the record's SANs ({type, value} objects, admitjson.h) as strings under name. */
static void
json_add_san_values(cJSON *o, const char *name, const char *sans)
{
	cJSON *j = sans != NULL ? cJSON_Parse(sans) : NULL, *a, *it, *v;

	if (j == NULL || (a = cJSON_AddArrayToObject(o, name)) == NULL)
		goto out;
	cJSON_ArrayForEach(it, j)
	{
		v = cJSON_IsObject(it) ? cJSON_GetObjectItemCaseSensitive(it, "value") : it;
		if (cJSON_IsString(v))
			cJSON_AddItemToArray(a, cJSON_CreateString(v->valuestring));
	}
out:
	cJSON_Delete(j);
}

cJSON *
gateway_request_json(const struct req_record *r)
{
	cJSON *o = cJSON_CreateObject(), *e, *vs;
	const cJSON *field;
	char url[128];

	snprintf(url, sizeof(url), "/csr/requests/%s", r->id);
	cJSON_AddStringToObject(o, "request_id", r->id);
	cJSON_AddStringToObject(o, "status",
				r->state != REQ_NONE ? req_state_name(r->state) : "unknown");
	cJSON_AddStringToObject(o, "poll_url", url);
	json_add_opt(o, "tenant", r->tenant);
	json_add_opt(o, "requester", r->requester);
	json_add_opt(o, "ca_id", r->ca_id);
	json_add_opt(o, "ca_reason", r->ca_reason);
	json_add_opt(o, "common_name", r->common_name);
	json_add_int(o, "validity_days", r->validity_days);
	json_add_opt(o, "subject", r->subject);
	json_add_raw(o, "warnings", r->warnings != NULL ? r->warnings : "[]");
	json_add_opt(o, "batch_id", r->batch_id);
	json_add_time(o, "created_at", r->created);
	json_add_time(o, "updated_at", r->updated);
	if (r->state == REQ_PENDING)
		json_add_time(o, "approval_expires_at", r->approval_expires_at);
	if (r->error_code != NULL) {
		e = cJSON_AddObjectToObject(o, "error");
		cJSON_AddStringToObject(e, "code", r->error_code);
		cJSON_AddStringToObject(e, "message",
					r->error_message != NULL ? r->error_message : "");
		json_add_raw(o, "violations", r->violations);
		/* The first violation's field, as in every error answer (null when none). */
		vs = cJSON_GetObjectItemCaseSensitive(o, "violations");
		field = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(vs, 0), "field");
		if (cJSON_IsString(field))
			cJSON_AddStringToObject(e, "field", field->valuestring);
		else
			cJSON_AddNullToObject(e, "field");
	}
	if (r->state == REQ_ISSUED) {
		json_add_opt(o, "serial", r->serial);
		json_add_opt(o, "certificate", r->certificate);
		json_add_opt(o, "chain", r->chain);
		json_add_san_values(o, "sans", r->sans);
		json_add_time(o, "not_before", r->not_before);
		json_add_time(o, "not_after", r->not_after);
		json_add_opt(o, "key_type", r->key_type);
		json_add_int(o, "key_size", r->key_bits);
	}
	return o;
}

/* ?wait=N: 0 when absent; -1 after answering 400. */
static int
request_wait_arg(struct http_req *req, long *wait_s)
{
	const char *w = http_query(req, "wait");
	char *end = NULL;
	long v;

	*wait_s = 0;
	if (w == NULL || w[0] == '\0')
		return 0;
	v = strtol(w, &end, 10);
	if (*end != '\0' || v < 0 || v > GATEWAY_WAIT_MAX_S) {
		http_reply_error(req, 400, "invalid_query", "wait", NULL, NULL,
				 "wait: must be an integer 0..%d (seconds), got \"%.32s\"",
				 GATEWAY_WAIT_MAX_S, w);
		return -1;
	}
	*wait_s = v;
	return 0;
}

/* 1 when a wait for until is over in state s (first: the state first read). */
static int
request_wait_over(enum wait_until until, enum req_state first, enum req_state s)
{
	if (s == REQ_NONE || req_state_terminal(s))
		return 1;
	return until == WAIT_SETTLED ? s == REQ_PENDING : s != first;
}

/* A long-poll in progress: parked between reads. */
struct rwait {
	struct gateway *gw;
	struct waiter *w;
	char id[STORE_ID_MAX];
	enum wait_until until;
	enum req_state first; /* the state first read */
	long long deadline_ms;
	struct req_record *r;    /* the last read */
	const struct user *slot; /* whose long-poll slot to give back; NULL when none */
	struct http_park *park;
	request_done_fn done;
	void *arg;
};

/* Ends the wait: done with the last read (rc), then frees everything. */
static void
rwait_end(struct rwait *rw, struct http_req *req, int rc)
{
	struct gateway *gw = rw->gw;

	waiter_remove(gw->waiters, rw->w);
	if (rw->slot != NULL)
		limits_wait_give(gw, rw->slot);
	rw->done(gw, req, rw->id, rc, rc == 0 ? rw->r : NULL, rw->arg);
	req_record_free(rw->r);
	free(rw);
}

static void
rwait_wake(void *arg)
{
	http_resume(((struct rwait *)arg)->park);
}

static void rwait_cont(void *app, struct http_req *req, void *arg);

/* After a read (rc): ends the wait, or parks req until the next change or the deadline. */
static void
rwait_step(struct rwait *rw, struct http_req *req, int rc)
{
	long long left = rw->deadline_ms - clock_ms();

	if (rc != 0 || request_wait_over(rw->until, rw->first, rw->r->state) || left <= 0 ||
	    svc_stopping()) {
		rw->gw->m.longpoll_waiting--;
		rwait_end(rw, req, rc);
		return;
	}
	rw->park = http_park(req, rwait_cont, rw);
	if (waiter_arm(rw->gw->waiters, rw->w,
		       left < REQUESTS_RECHECK_MS ? left : REQUESTS_RECHECK_MS, rwait_wake,
		       rw) != 0)
		http_resume(rw->park); /* changed meanwhile: read again at once */
}

/* A wake-up (a change, the recheck or the deadline): reads the record again. */
static void
rwait_cont(void *app, struct http_req *req, void *arg)
{
	struct rwait *rw = arg;
	struct gateway *gw = rw->gw; /* rw may be freed by the step */

	(void)app;
	req_record_free(rw->r);
	rw->r = NULL;
	rwait_step(rw, req, store_get(&gw->store, rw->id, &rw->r));
	gateway_count(gw, req);
}

/*
 * Waits on w (added before r was read; both taken over) for until, at most
 * wait_s, holding slot's long-poll slot (NULL: none), then done(...).
 */
static void
request_wait_on(struct gateway *gw, struct http_req *req, struct waiter *w, struct req_record *r,
		long wait_s, enum wait_until until, const struct user *slot, request_done_fn done,
		void *arg)
{
	struct rwait *rw = calloc(1, sizeof(*rw));

	if (rw == NULL) { /* answered without the wait */
		waiter_remove(gw->waiters, w);
		if (slot != NULL)
			limits_wait_give(gw, slot);
		done(gw, req, r->id, 0, r, arg);
		req_record_free(r);
		return;
	}
	rw->gw = gw;
	rw->w = w;
	snprintf(rw->id, sizeof(rw->id), "%s", r->id);
	rw->until = until;
	rw->first = r->state;
	rw->deadline_ms = clock_ms() + wait_s * 1000;
	rw->r = r;
	rw->slot = slot;
	rw->done = done;
	rw->arg = arg;
	gw->m.longpoll_waiting++;
	rwait_step(rw, req, 0);
}

/*
 * Reads request id into *r, and with wait_s > 0 first adds *w (NULL
 * otherwise), so that no wake-up after the read is lost. store_get's code.
 */
static int
request_read(struct gateway *gw, const char *id, long wait_s, struct waiter **w,
	     struct req_record **r)
{
	*w = wait_s > 0 && gw->waiters != NULL ? waiter_add(gw->waiters, id) : NULL;
	return store_get(&gw->store, id, r);
}

void
gateway_request_wait(struct gateway *gw, struct http_req *req, const char *id, long wait_s,
		     enum wait_until until, request_done_fn done, void *arg)
{
	struct waiter *w;
	struct req_record *r = NULL;
	int rc = request_read(gw, id, wait_s, &w, &r);

	if (rc == 0 && w != NULL && !request_wait_over(until, r->state, r->state)) {
		request_wait_on(gw, req, w, r, wait_s, until, NULL, done, arg);
		return;
	}
	waiter_remove(gw->waiters, w);
	done(gw, req, id, rc, rc == 0 ? r : NULL, arg);
	req_record_free(r);
}

/* 1 if u may read r: its requester, or an admin of its tenant. */
static int
request_visible(const struct user *u, const struct req_record *r)
{
	if (r->requester != NULL && r->tenant != NULL && strcmp(r->requester, u->name) == 0 &&
	    strcmp(r->tenant, u->tenant) == 0)
		return 1;
	return r->tenant != NULL && roster_tenant_admin(u, r->tenant);
}

/* Answers GET /csr/requests/{id} with the read (rc, r). */
static void
request_reply(struct gateway *gw, struct http_req *req, const char *id, int rc,
	      const struct req_record *r, void *arg)
{
	const char *hdr[] = {"Retry-After", GATEWAY_RETRY_AFTER_S, NULL};
	const char *down[] = {"Retry-After", GATEWAY_RETRY_DOWN_S, NULL};
	cJSON *o;

	(void)gw;
	(void)arg;
	if (rc == STORE_ENOTFOUND) {
		http_reply_error(req, 404, "request_not_found", "id", NULL, NULL,
				 "no request \"%s\"", id);
	} else if (rc != 0) {
		http_reply_error(req, 503, "store_unavailable", NULL, NULL, down,
				 "request store unavailable");
	} else {
		if (r->state == REQ_PENDING)
			hdr[1] = GATEWAY_RETRY_PENDING_S;
		o = gateway_request_json(r);
		http_reply_json(req, 200, o, req_state_terminal(r->state) ? NULL : hdr);
		cJSON_Delete(o);
	}
}

void
gateway_request_get(struct gateway *gw, struct http_req *req, const char *id)
{
	const struct user *u = gateway_auth(gw, req);
	struct req_record *r = NULL;
	struct waiter *w;
	long wait_s;
	int rc;

	if (u == NULL)
		return;
	gw->m.polls++;
	if (!id_valid(id)) { /* a request id (ids.h): no such request can exist */
		http_reply_error(req, 404, "request_not_found", "id", NULL, NULL,
				 "no request \"%.64s\"", id);
		return;
	}
	if (request_wait_arg(req, &wait_s) < 0)
		return;
	/* One read checks visibility, so strangers cannot long-poll, and is the wait's first. */
	if ((rc = request_read(gw, id, wait_s, &w, &r)) == 0 && !request_visible(u, r))
		rc = STORE_ENOTFOUND;
	if (rc == 0 && w != NULL && !req_state_terminal(r->state)) {
		if (limits_wait_take(gw, req, u) == 0) {
			/* w, r and the slot taken over */
			request_wait_on(gw, req, w, r, wait_s, WAIT_CHANGED, u, request_reply,
					NULL);
			return;
		}
	} else {
		request_reply(gw, req, id, rc, r, NULL);
	}
	waiter_remove(gw->waiters, w);
	req_record_free(r);
}
