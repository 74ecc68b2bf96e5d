/* POST /csr/process: authenticate, validate, choose the CA, record, publish. */
#include <ctype.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admit.h"
#include "admitjson.h"
#include "audit.h"
#include "auth.h"
#include "gateway.h"
#include "ids.h"
#include "issue.h"
#include "jfield.h"
#include "log.h"
#include "msg.h"
#include "outbox.h"
#include "ratelimit.h"
#include "select.h"

#define SUBMIT_MSG_MAX 1024
#define SUBMIT_EXTS_MAX 128

/* The fields of one submission, checked for shape (400) but not yet for policy. */
struct submit {
	const char *csr;
	const char *common_name;
	int validity_days;
	const char *ca_id;
	const char *tenant_id;
	const char *purpose;
	const char *password;
	unsigned exts;
	char exts_text[SUBMIT_EXTS_MAX];
};

/*
 * Everything known about the request while it is being handled, kept while
 * it is parked (for its delivery report, then its Prefer wait). Owned by
 * whichever step has it; submit_end frees it.
 */
struct submit_ctx {
	struct gateway *gw;
	struct http_req *req; /* the current call's */
	const struct user *u;
	char id[STORE_ID_MAX];
	const char *tenant; /* in the roster */
	const struct ca *ca;
	char *subject, *warnings; /* admission's notes (JSON text), once admitted */
	int recorded;             /* a Redis record exists */
	char *idem_key;
	int idem_bound;
	long wait_s;          /* Prefer: wait=N, 0 when absent */
	int slot;             /* holds a long-poll slot of u's key (given back by submit_end) */
	enum req_state state; /* published in */
	const char *note;     /* static text */
	struct http_park *park;
	int sent_rc; /* the delivery report's */
};

/* Frees c and gives back its long-poll slot. NULL is safe. */
static void
submit_end(struct submit_ctx *c)
{
	if (c == NULL)
		return;
	if (c->slot)
		limits_wait_give(c->gw, c->u);
	free(c->subject);
	free(c->warnings);
	free(c->idem_key);
	free(c);
}

static void
submit_audit(struct submit_ctx *c, const char *event, const char *detail)
{
	struct audit_event ev = {
	    .event = event,
	    .request_id = c->id,
	    .actor = c->u->name,
	    .tenant = c->tenant != NULL ? c->tenant : c->u->tenant,
	    .ca_id = c->ca != NULL ? c->ca->id : NULL,
	    .client_ip = c->req->client_ip,
	    .detail = detail,
	};

	audit_emit(c->gw->kp, c->gw->cfg->topics.audit, &ev);
}

/*
 * Refuses the request: answers status with {"error":{code,message,field}}
 * (plus extra, consumed), audits "rejected" and counts it.
 */
static void submit_reject(struct submit_ctx *c, unsigned status, const char *code,
			  const char *field, cJSON *extra, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void
submit_reject(struct submit_ctx *c, unsigned status, const char *code, const char *field,
	      cJSON *extra, const char *fmt, ...)
{
	char msg[SUBMIT_MSG_MAX], detail[SUBMIT_MSG_MAX + 64];
	const char *hdr[] = {"Retry-After", GATEWAY_RETRY_DOWN_S, NULL};
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(detail, sizeof(detail), "%d %s: %s", status, code, msg);
	submit_audit(c, status == 503 ? AUDIT_FAILED : AUDIT_REJECTED, detail);
	if (c->idem_bound)
		store_idem_release(&c->gw->store, c->tenant, c->idem_key, c->id);
	if (status == 503)
		c->gw->m.submits_unavailable++;
	else
		c->gw->m.submits_rejected++;
	http_reply_error(c->req, status, code, field, extra, status == 503 ? hdr : NULL, "%s", msg);
}

/*
 * Reads string field name of the body (checked by rule when not NULL; an
 * empty or null optional field counts as absent, as form bodies send them).
 * -1 after answering 400 with jfield's "name: rule, got what".
 */
static int
submit_str(struct submit_ctx *c, const cJSON *f, const char *name, int required, size_t max,
	   jfield_rule rule, const char **out)
{
	char err[SUBMIT_MSG_MAX];
	const struct jfield j = {.err = err, .errlen = sizeof(err), .prefix = ""};
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(f, name);
	int rc;

	*out = NULL;
	if (!required && cJSON_IsString(it) && it->valuestring[0] == '\0')
		return 0;
	rc = jfield_member(&j, f, "", name, JF_NULL_ABSENT | (required ? JF_REQUIRED : 0), &it);
	if (rc < 0)
		submit_reject(c, 400, "missing_field", name, NULL, "%s", err);
	else if (rc > 0 && jfield_check_str(&j, it, name, max, rule, out) != 0)
		submit_reject(c, 400, "invalid_field", name, NULL, "%s", err);
	else
		return 0;
	return -1;
}

/* Adds extension item i (a string node) to sb; -1 after answering 400. */
static int
submit_ext(struct submit_ctx *c, struct submit *sb, const cJSON *e, size_t i)
{
	char err[SUBMIT_MSG_MAX], ip[JFIELD_PATH_MAX];
	const struct jfield j = {.err = err, .errlen = sizeof(err), .prefix = ""};
	size_t n, k;
	const char *const *names = ext_name_list(&n);

	jfield_path_idx(ip, "extensions", i);
	if (jfield_enum(&j, e, ip, names, n, &k) != 0) {
		submit_reject(c, 400, "invalid_field", "extensions", NULL, "%s", err);
		return -1;
	}
	if (!(sb->exts & 1u << k)) {
		sb->exts |= 1u << k;
		snprintf(sb->exts_text + strlen(sb->exts_text),
			 sizeof(sb->exts_text) - strlen(sb->exts_text), "%s%s",
			 sb->exts_text[0] ? "," : "", names[k]);
	}
	return 0;
}

/* extensions: an array of names, or (form bodies) a comma-separated list. */
static int
submit_exts(struct submit_ctx *c, const cJSON *f, struct submit *sb)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(f, "extensions"), *e;
	char buf[SUBMIT_EXTS_MAX * 2], *save = NULL;
	cJSON tok = {.type = cJSON_String};
	size_t i = 0;

	if (it == NULL || cJSON_IsNull(it))
		return 0;
	if (cJSON_IsArray(it)) {
		cJSON_ArrayForEach(e, it)
		{
			if (submit_ext(c, sb, e, i++) < 0)
				return -1;
		}
		return 0;
	}
	if (!cJSON_IsString(it) || strlen(it->valuestring) >= sizeof(buf)) {
		submit_reject(c, 400, "invalid_field", "extensions", NULL,
			      "extensions: must be an array of names or a comma-separated list");
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", it->valuestring);
	for (tok.valuestring = strtok_r(buf, ", ", &save); tok.valuestring != NULL;
	     tok.valuestring = strtok_r(NULL, ", ", &save))
		if (submit_ext(c, sb, &tok, i++) < 0)
			return -1;
	return 0;
}

/* validity_days: a JSON integer, or its decimal text (form bodies). -1 after answering 400. */
static int
submit_validity(struct submit_ctx *c, const cJSON *f, struct submit *sb)
{
	char err[SUBMIT_MSG_MAX];
	const struct jfield j = {.err = err, .errlen = sizeof(err), .prefix = ""};
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(f, "validity_days");
	cJSON number = {.type = cJSON_Number};
	char *end = NULL;
	long long v;

	if (cJSON_IsString(it) && it->valuestring[0] == '\0')
		it = NULL;
	if (it == NULL || cJSON_IsNull(it)) {
		jfield_member(&j, NULL, "", "validity_days", JF_REQUIRED, &it);
		submit_reject(c, 400, "missing_field", "validity_days", NULL, "%s", err);
		return -1;
	}
	/* Decimal digits only: no sign, space, exponent or hexadecimal. */
	if (cJSON_IsString(it) &&
	    strspn(it->valuestring, "0123456789") == strlen(it->valuestring)) {
		number.valuedouble = strtod(it->valuestring, &end);
		it = &number;
	}
	if (jfield_check_int(&j, it, "validity_days", 1, CONFIG_MAX_VALIDITY_DAYS, &v) != 0) {
		submit_reject(c, 400, "invalid_field", "validity_days", NULL, "%s", err);
		return -1;
	}
	sb->validity_days = (int)v;
	return 0;
}

/* Shape checks of every field (400). 0, or -1 after answering. */
static int
submit_fields(struct submit_ctx *c, const cJSON *f, struct submit *sb)
{
	static const char *const known[] = {"csr_data",   "common_name",       "validity_days",
					    "ca_id",      "tenant_id",         "purpose_category",
					    "extensions", "approval_password", NULL};
	const cJSON *it;
	size_t i;

	memset(sb, 0, sizeof(*sb));
	if (!cJSON_IsObject(f)) {
		submit_reject(c, 400, "invalid_body", NULL, NULL, "body: must be a JSON object");
		return -1;
	}
	cJSON_ArrayForEach(it, f)
	{
		for (i = 0; known[i] != NULL && strcmp(known[i], it->string) != 0; i++)
			;
		if (known[i] == NULL) {
			submit_reject(c, 400, "unknown_field", it->string, NULL,
				      "%.64s: unknown field; accepted: csr_data, common_name, "
				      "validity_days, ca_id, tenant_id, purpose_category, "
				      "extensions, approval_password",
				      it->string);
			return -1;
		}
	}
	if (submit_str(c, f, "csr_data", 1, CSR_MAX_BYTES, NULL, &sb->csr) < 0 ||
	    submit_str(c, f, "common_name", 1, CSR_MAX_CN, NULL, &sb->common_name) < 0 ||
	    submit_validity(c, f, sb) < 0 ||
	    submit_str(c, f, "ca_id", 0, STORE_ID_MAX - 1, id_rule, &sb->ca_id) < 0 ||
	    submit_str(c, f, "tenant_id", 0, STORE_ID_MAX - 1, id_rule, &sb->tenant_id) < 0 ||
	    submit_str(c, f, "purpose_category", 0, GATEWAY_PURPOSE_MAX, id_rule, &sb->purpose) <
		0 ||
	    submit_exts(c, f, sb) < 0 ||
	    submit_str(c, f, "approval_password", 0, MSG_PASSWORD_MAX, NULL, &sb->password) < 0)
		return -1;
	return 0;
}

/*
 * The admission decision (lib/pki/admit.h) for the checked fields; *ad is
 * filled (its csr freed by the caller). -1 after answering with the first
 * violation's status and every violation.
 */
static int
submit_admit(struct submit_ctx *c, const struct submit *sb, struct admit_result *ad)
{
	struct admit_request rq = {
	    .user = c->u,
	    .tenant_id = sb->tenant_id,
	    .ca_id = sb->ca_id,
	    .purpose = sb->purpose,
	    .client_ip = c->req->client_ip,
	    .csr = sb->csr,
	    .common_name = sb->common_name,
	    .validity_days = sb->validity_days,
	    .extensions = sb->exts,
	};
	const struct roster ro = config_roster(c->gw->cfg);
	struct violations *vs = violations_new();
	int rc = -1;

	if (vs == NULL) {
		memset(ad, 0, sizeof(*ad));
		submit_reject(c, 503, "unavailable", NULL, NULL, "out of memory");
		return -1;
	}
	rc = admit_check(&ro, &rq, ad, vs);
	c->tenant = ad->tenant;
	c->ca = ad->ca;
	if (rc == 0 && ((c->subject = strdup(ad->notes.subject)) == NULL ||
			(c->warnings = admit_warnings_text(&ad->notes)) == NULL)) {
		submit_reject(c, 503, "unavailable", NULL, NULL, "out of memory");
		rc = -1;
	} else if (rc < 0)
		submit_reject(c, admit_http_status(vs->v[0].code), vs->v[0].code, vs->v[0].field,
			      ad->ca != NULL ? admit_violations_json(vs) : NULL, "%s",
			      vs->v[0].message);
	free(vs);
	return rc;
}

/* Answers 202 for request id in state. */
static void
submit_accepted(struct submit_ctx *c, const char *id, enum req_state state, const char *note)
{
	char url[128];
	const char *hdr[] = {"Location", url, NULL};
	cJSON *o = cJSON_CreateObject();

	snprintf(url, sizeof(url), "/csr/requests/%s", id);
	cJSON_AddStringToObject(o, "request_id", id);
	cJSON_AddStringToObject(o, "status", req_state_name(state));
	cJSON_AddStringToObject(o, "poll_url", url);
	if (c->ca != NULL)
		cJSON_AddStringToObject(o, "ca_id", c->ca->id);
	if (c->subject != NULL) {
		cJSON_AddStringToObject(o, "subject", c->subject);
		cJSON_AddItemToObject(o, "warnings", cJSON_Parse(c->warnings));
	}
	if (note != NULL)
		cJSON_AddStringToObject(o, "message", note);
	http_reply_json(c->req, 202, o, hdr);
	cJSON_Delete(o);
}

/*
 * HTTP status of a request that ended without a certificate, by its error
 * code: 500 for the service's own faults, else 422 (a policy violation the
 * worker found, a bad grant, a rejection, an expiry).
 */
static unsigned
submit_failed_status(const char *code)
{
	static const char *const faults[] = {"internal_error", "ca_unavailable", "lint_error"};
	size_t i;

	for (i = 0; code != NULL && i < sizeof(faults) / sizeof(faults[0]); i++)
		if (strcmp(code, faults[i]) == 0)
			return 500;
	return 422;
}

/*
 * The end of a Prefer wait for request id: issued, 201 with the poll body;
 * ended otherwise, the poll body with its error's status; still on its way,
 * 202 as without Prefer. Preference-Applied only on the answers the wait
 * decided. Ends c.
 */
static void
submit_waited(struct gateway *gw, struct http_req *req, const char *id, int rc,
	      const struct req_record *r, void *arg)
{
	struct submit_ctx *c = arg;
	char url[128], applied[32];
	const char *hdr[] = {"Preference-Applied", applied, "Location", url, NULL};
	cJSON *o;

	(void)gw;
	c->req = req;
	if (rc != 0 || !req_state_terminal(r->state)) {
		submit_accepted(c, id, r != NULL ? r->state : c->state, c->note);
		submit_end(c);
		return;
	}
	snprintf(url, sizeof(url), "/csr/requests/%s", id);
	snprintf(applied, sizeof(applied), "wait=%ld", c->wait_s);
	o = gateway_request_json(r);
	if (r->state == REQ_ISSUED) {
		http_reply_json(req, 201, o, hdr);
	} else {
		hdr[2] = NULL; /* no Location: nothing was created */
		http_reply_json(req, submit_failed_status(r->error_code), o, hdr);
	}
	cJSON_Delete(o);
	submit_end(c);
}

/*
 * Answers for request id, accepted in state: with Prefer: wait=N and unless
 * it waits for an administrator, first parks on a long-poll waiter until it
 * ends or N s pass (submit_waited). Ends c.
 */
static void
submit_answer(struct submit_ctx *c, const char *id, enum req_state state)
{
	c->gw->m.submits_accepted++;
	c->state = state;
	if (c->wait_s == 0 || state == REQ_PENDING) {
		submit_accepted(c, id, state, c->note);
		submit_end(c);
		return;
	}
	gateway_request_wait(c->gw, c->req, id, c->wait_s, WAIT_SETTLED, submit_waited, c);
}

/*
 * Idempotency-Key: binds the key to this request unless it already names
 * one. Returns 0 to go on, 1 when answered with a replay (c ended), -1 when
 * answered with an error (a conflict too).
 */
static int
submit_idem(struct submit_ctx *c, const cJSON *fields)
{
	char *canon = NULL, hash[65], existing[STORE_ID_MAX];
	enum req_state state;
	int rc;

	if (c->idem_key == NULL)
		return 0;
	if ((canon = cJSON_PrintUnformatted(fields)) == NULL) {
		submit_reject(c, 503, "unavailable", NULL, NULL, "out of memory");
		return -1;
	}
	msg_csr_sha256(canon, hash);
	free(canon);
	rc = store_idem_claim(&c->gw->store, c->tenant, c->idem_key, hash, c->id, existing);
	if (rc == 0) {
		c->idem_bound = 1;
		return 0;
	}
	if (rc == STORE_ECONFLICT) {
		submit_reject(c, 409, "idempotency_conflict", "Idempotency-Key", NULL,
			      "Idempotency-Key \"%s\" was used for request %s with another body",
			      c->idem_key, existing);
		return -1;
	}
	if (rc == STORE_EBUSY) {
		submit_reject(
		    c, 503, "idempotency_in_progress", "Idempotency-Key", NULL,
		    "Idempotency-Key \"%s\": request %s is still being recorded; retry later",
		    c->idem_key, existing);
		return -1;
	}
	if (rc == 1) {
		if (store_get_state(&c->gw->store, existing, &state) != 0)
			state = REQ_RECEIVED;
		log_msg(LOG_INFO, existing, "idempotent replay of key %s", c->idem_key);
		c->ca = NULL;
		submit_answer(c, existing, state); /* ends c */
		return 1;
	}
	submit_reject(c, 503, "store_unavailable", NULL, NULL, "request store unavailable");
	return -1;
}

/* Marks the recorded request failed after a publishing error. 1 if it had moved on. */
static int
submit_fail(struct submit_ctx *c, enum req_state from, const char *msg)
{
	struct req_record set = {.error_code = "kafka_unavailable", .error_message = (char *)msg};
	enum req_state cur = REQ_NONE;
	int rc = store_transition(&c->gw->store, c->id, from, REQ_FAILED, &set, &cur);

	if (rc == STORE_ECONFLICT && !req_state_terminal(cur)) {
		/* A worker or the approver took it: the message did arrive. */
		return 1;
	}
	return 0;
}

/*
 * Request id was published (or failed): its outbox entry goes with the next
 * drop, one script for many; when the list is full, at once. An entry whose
 * drop is lost (Redis down, the gateway killed) is found by a sweep, which
 * drops it when the record has moved on and otherwise sends it again (a
 * copy counts once).
 */
static void
submit_sent(struct gateway *gw, const char *id)
{
	pthread_mutex_lock(&gw->sent_mu);
	if (gw->nsent < GATEWAY_SENT_MAX) {
		snprintf(gw->sent[gw->nsent++], STORE_ID_MAX, "%s", id);
		id = NULL;
	}
	pthread_mutex_unlock(&gw->sent_mu);
	if (id != NULL)
		outbox_del(&gw->store, id);
}

/*
 * The delivery report came (rc): answers 202 in the state the record was
 * created in, or marks the request failed and answers 503. Ends c.
 */
static void
submit_sent_answer(struct submit_ctx *c, int rc)
{
	const char *ev = c->state == REQ_PENDING ? AUDIT_PENDING : AUDIT_QUEUED;

	/* Sent, or marked failed: the outbox has nothing left to send (a sweep checks too). */
	submit_sent(c->gw, c->id);
	if (rc != 0 && !submit_fail(c, c->state,
				    rc == KAFKA_EDOWN ? "message queue unreachable"
						      : "message queue did not confirm")) {
		submit_reject(c, 503, "queue_unavailable", NULL, NULL,
			      "the message queue is unavailable; request %s was marked failed, "
			      "retry later",
			      c->id);
		submit_end(c);
		return;
	}
	submit_audit(c, ev, c->note);
	submit_answer(c, c->id, c->state);
}

static void
submit_sent_cont(void *app, struct http_req *req, void *arg)
{
	struct submit_ctx *c = arg;
	struct gateway *gw = c->gw; /* c may be freed by the answer */

	(void)app;
	c->req = req;
	submit_sent_answer(c, c->sent_rc);
	gateway_count(gw, req);
}

/* The delivery report, in the producer's thread: resumes the parked request. */
static void
submit_sent_report(void *arg, int rc)
{
	struct submit_ctx *c = arg;

	c->sent_rc = rc;
	http_resume(c->park);
}

/*
 * Sends the message to topic, parking the request until its delivery
 * report, then answers (submit_sent_answer). Ends c.
 */
static void
submit_publish(struct submit_ctx *c, const char *topic, const char *payload)
{
	struct kafka_batch *b = kafka_batch_new();
	int rc =
	    b != NULL ? kafka_batch_send(c->gw->kp, b, topic, c->id, payload, strlen(payload)) : -1;

	if (rc != 0) {
		kafka_batch_wait(b, 0); /* nothing pending: frees it */
		submit_sent_answer(c, rc);
		return;
	}
	c->park = http_park(c->req, submit_sent_cont, c);
	kafka_batch_then(b, submit_sent_report, c);
}

/*
 * Counts an approval password attempt for its user and CA before the
 * password goes on to the approver, which alone checks it (and counts
 * again: it trusts no gateway). Beyond the limit, 429 at once; Redis
 * unreachable, 503: nothing is forwarded uncounted. 0 to go on, -1 after
 * answering.
 */
static int
submit_pw_take(struct submit_ctx *c, const struct submit *sb)
{
	char bucket[2 * STORE_ID_MAX + 16], ra[16];
	const char *hdr[] = {"Retry-After", ra, NULL};
	int retry = 1, rc;

	if (sb->password == NULL || !c->ca->requires_manual_approval)
		return 0;
	snprintf(bucket, sizeof(bucket), "%s:%s:%s", RATELIMIT_BUCKET_GATEWAY_PW, c->u->name,
		 c->ca->id);
	rc = ratelimit_take(c->gw->cfg->redis_url, c->gw->cfg->redis_prefix, bucket,
			    RATELIMIT_PASSWORD_MAX, RATELIMIT_PASSWORD_WINDOW_S, &retry);
	if (rc == 0)
		return 0;
	if (rc == RATELIMIT_EDOWN) {
		submit_reject(c, 503, "store_unavailable", "approval_password", NULL,
			      "approval_password: the attempt counter (Redis) is unavailable; "
			      "nothing was sent, retry later");
		return -1;
	}
	snprintf(ra, sizeof(ra), "%d", retry);
	submit_audit(c, AUDIT_REJECTED, "429: approval password attempts over the limit");
	c->gw->m.submits_rejected++;
	http_reply_error(c->req, 429, "too_many_password_attempts", "approval_password", NULL, hdr,
			 "approval_password: more than %d attempts by %s for CA %s within %d s; "
			 "retry after %d s",
			 RATELIMIT_PASSWORD_MAX, c->u->name, c->ca->id, RATELIMIT_PASSWORD_WINDOW_S,
			 retry);
	return -1;
}

/*
 * Writes the new record, in the state it is published in (queued or
 * pending_approval), with its message (payload for topic) in the outbox: one
 * script, before the message exists that a worker or the approver would
 * look the record up for; a gateway dying after it leaves the entry for a
 * sweep to send. 0 or -1 after answering 503.
 */
static int
submit_record(struct submit_ctx *c, const struct submit *sb, const struct csr *csr,
	      const char *reason, const char *csr_hash, enum req_state state, const char *topic,
	      const char *payload)
{
	const struct csr_info *ci = csr_info(csr);
	struct req_record rec;
	int rc;

	memset(&rec, 0, sizeof(rec));
	rec.id = c->id;
	rec.state = state;
	rec.tenant = (char *)c->tenant;
	rec.requester = c->u->name;
	rec.email = c->u->email;
	rec.client_ip = c->req->client_ip;
	rec.ca_id = c->ca->id;
	rec.ca_reason = (char *)reason;
	rec.common_name = (char *)sb->common_name;
	rec.validity_days = sb->validity_days;
	rec.extensions = sb->exts_text[0] ? (char *)sb->exts_text : NULL;
	rec.purpose = (char *)sb->purpose;
	rec.csr_sha256 = (char *)csr_hash;
	rec.subject = c->subject;
	rec.warnings = c->warnings;
	rec.key_type = (char *)key_type_name(ci->key_type);
	rec.key_bits = ci->key_bits;
	if ((rec.sans = admit_sans_text(ci)) == NULL) {
		submit_reject(c, 503, "unavailable", NULL, NULL, "out of memory");
		return -1;
	}
	rc = outbox_add_record(&c->gw->store, &rec, topic, payload);
	free(rec.sans);
	if (rc != 0) {
		submit_reject(c, 503, "store_unavailable", NULL, NULL, "request store unavailable");
		return -1;
	}
	c->recorded = 1;
	return 0;
}

void
gateway_submit(struct gateway *gw, struct http_req *req, const struct user *u, const cJSON *fields,
	       const char *idem_key, long wait_s)
{
	struct submit_ctx *c = calloc(1, sizeof(*c));
	struct submit sb;
	struct admit_result ad = {0};
	struct issue_msg m;
	char csr_hash[65], *payload = NULL, *kept = NULL, *csr_canon = NULL;
	const char *note = NULL, *approval_reason = NULL, *topic;
	const char *pw = NULL;
	enum req_state state;
	int rc;

	if (c == NULL || (idem_key != NULL && (c->idem_key = strdup(idem_key)) == NULL)) {
		free(c);
		if (wait_s > 0)
			limits_wait_give(gw, u);
		http_reply_error(req, 503, "unavailable", NULL, NULL, NULL, "out of memory");
		return;
	}
	c->gw = gw;
	c->req = req;
	c->u = u;
	c->wait_s = wait_s;
	c->slot = wait_s > 0;
	store_id_new(c->id);
	submit_audit(c, AUDIT_RECEIVED, NULL);
	if (submit_fields(c, fields, &sb) < 0 || submit_admit(c, &sb, &ad) < 0)
		goto out;
	/* Passed on and hashed as one canonical PEM, whatever form was pasted. */
	if ((csr_canon = csr_pem(ad.csr)) == NULL) {
		submit_reject(c, 503, "unavailable", NULL, NULL, "out of memory");
		goto out;
	}
	sb.csr = csr_canon;
	if (submit_pw_take(c, &sb) != 0)
		goto out;
	if ((rc = submit_idem(c, fields)) != 0) {
		if (rc == 1)
			c = NULL; /* ended by the replay's answer */
		goto out;
	}
	msg_csr_sha256(sb.csr, csr_hash);
	submit_audit(c, AUDIT_CA_SELECTED, ad.reason);

	memset(&m, 0, sizeof(m));
	m.request_id = c->id;
	m.csr = (char *)sb.csr;
	m.common_name = (char *)sb.common_name;
	m.validity_days = sb.validity_days;
	m.ca_id = c->ca->id;
	m.extensions = sb.exts;
	m.purpose = (char *)sb.purpose;
	m.tenant = (char *)c->tenant;
	m.requester = u->name;
	m.email = u->email;
	m.client_ip = req->client_ip;
	m.submitted_at = (long long)time(NULL);
	if (c->ca->requires_manual_approval) {
		/* The gateway holds no grant key: the approver checks the password and grants. */
		pw = sb.password != NULL && c->ca->approval_password_hash != NULL ? sb.password
										  : NULL;
		approval_reason =
		    pw != NULL ? "approval_password_given" : "approval_password_missing";
		note = pw != NULL ? "approval password sent to the approver for checking"
				  : "CA requires approval; waiting for an administrator";
	}
	payload = approval_reason != NULL ? msg_approval_encode(&m, approval_reason, pw)
					  : msg_issue_encode(&m);
	/* The outbox keeps no password: a copy sent again waits for an administrator. */
	kept = pw != NULL ? msg_approval_encode(&m, "approval_password_missing", NULL) : payload;
	if (payload == NULL || kept == NULL) {
		submit_reject(c, 503, "unavailable", NULL, NULL, "out of memory");
		goto out;
	}
	state = approval_reason != NULL ? REQ_PENDING : REQ_QUEUED;
	topic = approval_reason != NULL ? gw->cfg->topics.approval : gw->cfg->topics.issue;
	if (submit_record(c, &sb, ad.csr, ad.reason, csr_hash, state, topic, kept) < 0)
		goto out;
	c->state = state;
	c->note = note;
	submit_publish(c, topic, payload); /* ends c */
	c = NULL;
out:
	submit_end(c);
	if (kept != payload)
		free(kept);
	if (payload != NULL && pw != NULL)
		OPENSSL_cleanse(payload, strlen(payload)); /* it held the password */
	free(payload);
	free(csr_canon);
	csr_free(ad.csr);
}

/* 1 if the Idempotency-Key is printable ASCII without spaces, 1..STORE_IDEM_KEY_MAX. */
static int
submit_idem_key_ok(const char *k)
{
	size_t i;

	for (i = 0; k[i] != '\0'; i++)
		if (k[i] <= ' ' || k[i] > '~')
			return 0;
	return i > 0 && i <= STORE_IDEM_KEY_MAX;
}

/* Refusal before a request id exists (header, media type, body syntax): audited, counted. */
static void
process_reject(struct gateway *gw, struct http_req *req, const struct user *u, unsigned status,
	       const char *code, const char *field, const char *msg)
{
	struct audit_event ev = {.event = AUDIT_REJECTED,
				 .actor = u->name,
				 .tenant = u->tenant,
				 .client_ip = req->client_ip};
	char detail[HTTP_ERR_MAX + 64];

	snprintf(detail, sizeof(detail), "%u %s: %s", status, code, msg);
	ev.detail = detail;
	audit_emit(gw->kp, gw->cfg->topics.audit, &ev);
	gw->m.submits_rejected++;
	http_reply_error(req, status, code, field, NULL, NULL, "%s", msg);
}

void
gateway_process(struct gateway *gw, struct http_req *req)
{
	/* Headers that name one value: two of them are ambiguous, not a list. */
	static const char *const single[] = {"Authorization", "Content-Type", "Content-Length",
					     "Idempotency-Key"};
	const struct user *u;
	const char *idem = http_header(req, "Idempotency-Key");
	size_t i;
	char err[HTTP_ERR_MAX], msg[HTTP_ERR_MAX + 64];
	cJSON *fields = NULL;
	long wait_s;

	for (i = 0; i < sizeof(single) / sizeof(single[0]); i++)
		if (http_header_count(req, single[i]) > 1) {
			snprintf(msg, sizeof(msg), "%s: sent more than once", single[i]);
			http_reply_error(req, 400, "duplicate_header", single[i], NULL, NULL, "%s",
					 msg);
			return;
		}
	if ((u = gateway_auth(gw, req)) == NULL)
		return;
	if (idem != NULL && !submit_idem_key_ok(idem)) {
		snprintf(msg, sizeof(msg),
			 "Idempotency-Key: must be 1..%d printable characters without spaces",
			 STORE_IDEM_KEY_MAX);
		process_reject(gw, req, u, 400, "invalid_header", "Idempotency-Key", msg);
		return;
	}
	switch (http_body_fields(req, msg_parse, &fields, err)) {
	case 0:
		break;
	case HTTP_EMEDIA:
		process_reject(gw, req, u, 415, "unsupported_media_type", NULL, err);
		return;
	case HTTP_EJSON:
		process_reject(gw, req, u, 400, "invalid_json", NULL, err);
		return;
	default:
		process_reject(gw, req, u, 400, "invalid_form", NULL, err);
		return;
	}
	/* A wait beyond the key's limit is refused before anything is recorded. */
	if ((wait_s = http_prefer_wait(req, GATEWAY_WAIT_MAX_S)) == 0 ||
	    limits_wait_take(gw, req, u) == 0)
		gateway_submit(gw, req, u, fields, idem, wait_s); /* the slot taken over */
	cJSON_Delete(fields);
}

/*
 * An outbox entry due (outbox.h): sent again while its record is still in
 * the state it was published in. 0 when done with it, -1 to keep it.
 */
static int
submit_resend(void *arg, const char *id, const char *topic, const char *payload)
{
	struct gateway *gw = arg;
	enum req_state state;
	int rc = store_get_state(&gw->store, id, &state);

	if (rc == STORE_ENOTFOUND || (rc == 0 && state != REQ_QUEUED && state != REQ_PENDING))
		return 0; /* never recorded, or the message arrived */
	if (rc != 0)
		return -1;
	if (kafka_produce_sync(gw->kp, topic, id, payload, strlen(payload),
			       GATEWAY_PRODUCE_TIMEOUT_MS) != 0)
		return -1;
	log_msg(LOG_WARN, id, "sent again to %s: its publish was not confirmed", topic);
	return 0;
}

int
gateway_outbox_start(struct gateway *gw)
{
	pthread_mutex_init(&gw->sent_mu, NULL);
	gw->sent = calloc(GATEWAY_SENT_MAX, sizeof(*gw->sent));
	gw->sent_spare = calloc(GATEWAY_SENT_MAX, sizeof(*gw->sent_spare));
	return gw->sent != NULL && gw->sent_spare != NULL ? 0 : -1;
}

/* Drops the outbox entries of the ids published since the last call. */
static void
submit_sent_flush(struct gateway *gw)
{
	const char *ids[OUTBOX_DEL_MAX];
	char(*list)[STORE_ID_MAX];
	size_t n, i, k;

	pthread_mutex_lock(&gw->sent_mu);
	list = gw->sent;
	n = gw->nsent;
	gw->sent = gw->sent_spare;
	gw->sent_spare = list;
	gw->nsent = 0;
	pthread_mutex_unlock(&gw->sent_mu);
	for (i = 0; i < n; i += k) {
		for (k = 0; k < OUTBOX_DEL_MAX && i + k < n; k++)
			ids[k] = list[i + k];
		if (outbox_del_many(&gw->store, ids, k) != 0)
			log_warn("outbox: %zu published entries not dropped (Redis down); a sweep "
				 "drops them later",
				 k);
	}
}

void
gateway_outbox_stop(struct gateway *gw)
{
	if (gw->sent == NULL && gw->sent_spare == NULL)
		return;
	if (gw->sent != NULL && gw->sent_spare != NULL)
		submit_sent_flush(gw);
	free(gw->sent);
	free(gw->sent_spare);
	gw->sent = gw->sent_spare = NULL;
	pthread_mutex_destroy(&gw->sent_mu);
}

void
gateway_outbox_sweep(struct gateway *gw)
{
	submit_sent_flush(gw);
	outbox_sweep(&gw->store, submit_resend, gw);
}
