/*
 * One message of the issue topic: decode, re-check against the CA's policy,
 * make sure a record exists, hold back what needs an approval, claim, sign,
 * store, publish. Every step is safe to repeat: a message may arrive twice,
 * or again after a worker died at any point (see docs in worker.h and the
 * comments at each step).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admit.h"
#include "admitjson.h"
#include "audit.h"
#include "log.h"
#include "job.h"
#include "select.h"

/* Repeats a store call while Redis is unreachable, backing off; rc keeps the last answer. */
#define JOB_STORE(rc, call)                                                                        \
	do {                                                                                       \
		int a_ = 0;                                                                        \
		while (((rc) = (call)) == STORE_EDOWN && worker_backoff(&a_) == 0)                 \
			;                                                                          \
	} while (0)

void
job_audit(struct job *j, const char *event, const char *actor, const char *detail)
{
	job_audit_ex(j, event, actor, detail, 0);
}

void
job_audit_ex(struct job *j, const char *event, const char *actor, const char *detail, int quiet)
{
	struct audit_event ev = {
	    .event = event,
	    .request_id = j->m->request_id,
	    .actor = actor != NULL ? actor : j->w->opts.name,
	    .tenant = j->m->tenant,
	    .ca_id = j->ca != NULL ? j->ca->id : j->m->ca_id,
	    .client_ip = j->m->client_ip,
	    .detail = detail,
	    .quiet = quiet,
	};
	struct worker_thread *t = j->t;
	struct worker_audit *a;
	char *json;

	/* Inside a batch: kept for worker_audit_flush (each alone if that fails). */
	if (t == NULL || t->batch == NULL || (json = audit_encode(&ev)) == NULL) {
		audit_emit(j->w->kp, j->cfg->topics.audit, &ev);
		return;
	}
	if (t->naudits == t->caudits) {
		size_t c = t->caudits ? 2 * t->caudits : WORKER_BATCH_MAX;

		if ((a = realloc(t->audits, c * sizeof(*a))) == NULL) {
			free(json);
			audit_emit(j->w->kp, j->cfg->topics.audit, &ev);
			return;
		}
		t->audits = a;
		t->caudits = c;
	}
	audit_log(&ev);
	a = &t->audits[t->naudits++];
	snprintf(a->key, sizeof(a->key), "%s", ev.request_id);
	a->json = json;
}

/*
 * Sends payload to topic and waits for the broker's acknowledgement,
 * retrying with backoff while Kafka is down. 0, or -1 when stopping first.
 */
static int
job_produce(struct job *j, const char *topic, const char *key, const char *payload)
{
	return worker_produce(j->w, topic, key, payload);
}

/* Sends the message as it came to the dead-letter topic (dlq_encode). */
static enum process_result
job_dlq(struct job *j, const char *error)
{
	const struct kafka_msg *km = j->km;
	char *text = NULL, *key = NULL;
	enum process_result res = PROCESS_ABANDON;

	log_warn("%s[%d]@%lld: to %s: %s", km->topic, (int)km->partition, (long long)km->offset,
		 j->cfg->topics.dlq, error);
	if (dlq_encode(km, error, time(NULL), &text, &key) < 0)
		goto out;
	if (job_produce(j, j->cfg->topics.dlq, key, text) == 0)
		res = PROCESS_DONE;
out:
	free(key);
	free(text);
	return res;
}

/* The claim ended its request: its grant, if any, can never claim again. */
static void
job_grant_spent(struct job *j)
{
	if (j->claimed && j->grant_ok && store_grant_spent(j->s, j->m->grant.mac) != 0)
		log_msg(LOG_WARN, j->m->request_id, "grant not marked spent");
}

/*
 * The admission decision (lib/pki/admit.h), as the gateway made it, for the
 * requester j->user (NULL: a name no user has, refused), then the grant of a
 * manual-approval CA. Problems go to j->vs; nothing is written.
 */
static void
job_check(struct job *j)
{
	const struct issue_msg *m = j->m;
	const struct roster ro = config_roster(j->cfg);
	struct admit_request rq;
	struct admit_result ad;

	snprintf(j->csr_hash, sizeof(j->csr_hash), "%s", msg_csr_hash(j->m));
	msg_admit_request(m, j->user, &rq);
	admit_check(&ro, &rq, &ad, j->vs);
	j->ca = ad.ca;
	j->csr = ad.csr;
	j->notes = ad.notes;
	j->tenant = ad.tenant;
	snprintf(j->reason, sizeof(j->reason), "%s", ad.reason);
	if (j->vs->n > 0 || !ad.needs_approval)
		return;
	if (!m->has_grant)
		snprintf(j->grant_why, sizeof(j->grant_why), "approval_grant_missing");
	else if (!j->cfg->grant_key_loaded)
		snprintf(j->grant_why, sizeof(j->grant_why), "approval_grant_unverifiable");
	else if (grant_verify(j->cfg->grant_key, sizeof(j->cfg->grant_key), j->m, j->ca->id,
			      time(NULL), j->grant_why) == 1)
		j->grant_ok = 1;
}

int
job_record(struct job *j, struct req_record *rec)
{
	const struct issue_msg *m = j->m;
	unsigned bit;

	memset(rec, 0, sizeof(*rec));
	j->exts[0] = '\0';
	for (bit = 1; bit <= EXT_CODE_SIGNING; bit <<= 1)
		if (m->extensions & bit)
			snprintf(j->exts + strlen(j->exts), sizeof(j->exts) - strlen(j->exts),
				 "%s%s", j->exts[0] ? "," : "", ext_name(bit));
	rec->id = m->request_id;
	rec->state = REQ_RECEIVED;
	rec->tenant = m->tenant;
	rec->requester = m->requester;
	rec->email = m->email;
	rec->client_ip = m->client_ip;
	rec->ca_id = j->ca != NULL ? j->ca->id : m->ca_id;
	rec->ca_reason = j->ca != NULL ? j->reason : NULL;
	rec->common_name = m->common_name;
	rec->validity_days = m->validity_days;
	rec->extensions = j->exts[0] ? j->exts : NULL;
	rec->purpose = m->purpose;
	rec->batch_id = m->batch_id;
	rec->csr_sha256 = j->csr_hash;
	if (j->csr != NULL) {
		const struct csr_info *ci = csr_info(j->csr);

		rec->subject = j->vs->n == 0 ? j->notes.subject : (char *)ci->subject;
		rec->warnings = j->vs->n == 0 ? admit_warnings_text(&j->notes) : NULL;
		rec->key_type = (char *)key_type_name(ci->key_type);
		rec->key_bits = ci->key_bits;
		if ((rec->sans = admit_sans_text(ci)) == NULL) {
			free(rec->warnings);
			rec->warnings = NULL;
			return -1;
		}
	}
	return 0;
}

/* Writes the record of a message that did not come through the gateway (state received). */
static int
job_create(struct job *j)
{
	struct req_record rec;
	int rc;

	if (job_record(j, &rec) < 0)
		return -1;
	JOB_STORE(rc, store_create(j->s, &rec));
	free(rec.sans);
	free(rec.warnings);
	if (rc == 0) {
		job_audit(j, AUDIT_RECEIVED, j->m->requester, "from the issue topic");
		if (j->ca != NULL)
			job_audit(j, AUDIT_CA_SELECTED, j->m->requester, j->reason);
	}
	return rc == STORE_EDOWN ? -1 : 0;
}

/* 1 if the record's value for a field the message also names differs from it. */
static int
job_differs(const char *rec_value, const char *msg_value)
{
	return rec_value != NULL && msg_value != NULL && strcmp(rec_value, msg_value) != 0;
}

/*
 * Loads (or creates) the record and checks the message agrees with it.
 * Returns 0 with j->state set, 1 with a reason in err when the message
 * contradicts the record (it must not act on it), -1 when stopping.
 */
static int
job_load(struct job *j, char *err, size_t errlen)
{
	struct req_record *rec = NULL;
	int rc, created = 0;

	for (;;) {
		JOB_STORE(rc, store_get(j->s, j->m->request_id, &rec));
		if (rc == STORE_EDOWN)
			return -1;
		if (rc == 0)
			break;
		if (created++ > 0 || job_create(j) < 0) /* created, yet not found: give up */
			return -1;
	}
	rc = 0;
	if (job_differs(rec->csr_sha256, j->csr_hash) || job_differs(rec->ca_id, j->m->ca_id) ||
	    job_differs(rec->common_name, j->m->common_name) ||
	    (rec->validity_days != 0 && rec->validity_days != j->m->validity_days) ||
	    job_differs(rec->tenant, j->m->tenant)) {
		snprintf(err, errlen,
			 "request_id: %s is recorded with another csr, ca_id, common_name, "
			 "validity_days or tenant than this message carries; not processed",
			 j->m->request_id);
		rc = 1;
	}
	j->state = rec->state;
	req_record_free(rec);
	return rc;
}

/* Moves from j->state to `to` (no claim needed). STEP_AGAIN either way, ABANDON if stopping. */
static enum step
job_move(struct job *j, enum req_state to)
{
	enum req_state cur = REQ_NONE;
	int rc;

	JOB_STORE(rc, store_transition(j->s, j->m->request_id, j->state, to, NULL, &cur));
	if (rc == STORE_EDOWN)
		return STEP_ABANDON;
	if (rc == 0)
		j->state = to;
	else if (rc == STORE_ECONFLICT)
		j->state = cur;
	else
		return STEP_DONE; /* gone, or an edge the graph forbids: nothing safe to do */
	return STEP_AGAIN;
}

/* Marks the record published: a later copy of the message publishes nothing. */
static enum step
job_mark_published(const struct store *s, const char *id)
{
	static const struct req_record mark = {.published = 1};
	int rc;

	JOB_STORE(rc, store_set_fields(s, id, &mark));
	return rc == STORE_EDOWN ? STEP_ABANDON : STEP_DONE;
}

/* Queues o's messages in b: issued (when there is one), then results. 0 or kafka_batch_send's. */
static int
job_send_outcome(struct job *j, struct kafka_batch *b, const struct job_outcome *o,
		 const char *issued, const char *result)
{
	int rc = 0;

	if (issued != NULL)
		rc = kafka_batch_send(j->w->kp, b, j->cfg->topics.issued, o->serial, issued,
				      strlen(issued));
	if (rc == 0)
		rc = kafka_batch_send(j->w->kp, b, j->cfg->topics.results, o->id, result,
				      strlen(result));
	return rc;
}

/*
 * Publishes o: issued → issued topic (key serial) and results; failed →
 * results. Inside a batch (t->batch) the sends join it and the record is
 * marked published once the batch is acknowledged (worker.c); otherwise
 * both sends are waited for together, retried with backoff, then marked.
 */
static enum step
job_announce(struct job *j, const struct job_outcome *o)
{
	struct worker_thread *t = j->t;
	char *result = NULL, *issued = NULL;
	enum step st = STEP_ABANDON;
	struct kafka_batch *b;
	int issued_state = o->state == REQ_ISSUED, attempt = 0, rc;
	struct msg_result res = {.request_id = o->id,
				 .status = issued_state ? REQ_ISSUED : REQ_FAILED,
				 .ca_id = o->ca_id,
				 .batch_id = o->batch_id};
	struct msg_issued iss = {.serial = o->serial,
				 .ca_id = o->ca_id,
				 .request_id = o->id,
				 .tenant = o->tenant,
				 .requester = o->requester,
				 .subject = o->subject,
				 .not_before = o->not_before,
				 .not_after = o->not_after,
				 .certificate = o->certificate};

	if (issued_state) {
		res.serial = o->serial;
		res.certificate = o->certificate;
		res.chain = o->chain;
	} else {
		res.code = o->error_code;
		res.message = o->error_message;
	}
	result = msg_result_encode(&res);
	if (issued_state)
		issued = msg_issued_encode(&iss);
	if (result == NULL || (issued_state && issued == NULL))
		goto out;
	if (t->batch != NULL && t->nmarks < WORKER_BATCH_MAX &&
	    job_send_outcome(j, t->batch, o, issued, result) == 0) {
		snprintf(t->marks[t->nmarks++], STORE_ID_MAX, "%s", o->id);
		st = STEP_DONE;
		goto out;
	}
	if (t->batch != NULL)
		t->batch_failed = 1; /* a send of this batch may be missing: redo it unbatched */
	for (;;) {
		rc = -1;
		if ((b = kafka_batch_new()) != NULL) {
			rc = job_send_outcome(j, b, o, issued, result);
			rc = kafka_batch_wait(b, WORKER_PRODUCE_TIMEOUT_MS) != 0 ? -1 : rc;
		}
		if (rc == 0)
			break;
		log_msg(LOG_WARN, o->id, "publishing the outcome failed (%d); retrying", rc);
		if (worker_backoff(&attempt) < 0)
			goto out;
	}
	st = job_mark_published(j->s, o->id);
out:
	free(result);
	free(issued);
	return st;
}

/*
 * Publishes the outcome of a finished request from its record, unless the
 * record says it was published already. Requests ended by the approver
 * (rejected, expired) are its to announce.
 */
static enum step
job_publish(struct job *j)
{
	struct req_record *r = NULL;
	struct job_outcome o;
	enum step st = STEP_DONE;
	size_t i;
	int rc;

	/* A copy in the same batch: the first one's sends are still in flight. */
	for (i = 0; j->t->batch != NULL && i < j->t->nmarks; i++)
		if (strcmp(j->t->marks[i], j->m->request_id) == 0)
			return STEP_DONE;
	JOB_STORE(rc, store_get(j->s, j->m->request_id, &r));
	if (rc != 0)
		return rc == STORE_EDOWN ? STEP_ABANDON : STEP_DONE;
	if (r->published == 1 || (r->state != REQ_ISSUED && r->state != REQ_FAILED))
		goto out;
	memset(&o, 0, sizeof(o));
	o.id = r->id;
	o.state = r->state;
	o.ca_id = r->ca_id;
	o.batch_id = r->batch_id;
	o.serial = r->serial;
	o.certificate = r->certificate;
	o.chain = r->chain;
	o.tenant = r->tenant;
	o.requester = r->requester;
	o.subject = r->subject;
	o.not_before = r->not_before;
	o.not_after = r->not_after;
	o.error_code = r->error_code != NULL ? r->error_code : "failed";
	o.error_message = r->error_message != NULL ? r->error_message : "";
	st = job_announce(j, &o);
out:
	req_record_free(r);
	return st;
}

/* Violations as the JSON array text stored on the record. Caller frees. */
static char *
job_violations_json(const struct violations *vs)
{
	cJSON *o = admit_violations_json(vs);
	char *s = o != NULL ? cJSON_PrintUnformatted(cJSON_GetObjectItem(o, "violations")) : NULL;

	cJSON_Delete(o);
	return s;
}

/* Ends the request failed with the first violation's code (all of them recorded). */
static enum step
job_fail(struct job *j, const struct violations *vs)
{
	char *vjson = job_violations_json(vs), detail[JOB_DETAIL_MAX];
	struct req_record set = {.error_code = (char *)vs->v[0].code,
				 .error_message = (char *)vs->v[0].message,
				 .violations = vjson != NULL ? vjson : "[]"};
	enum req_state cur = REQ_NONE;
	int rc;

	JOB_STORE(rc, store_transition_ex(j->s, j->m->request_id, j->state, REQ_FAILED, &set,
					  j->claimed ? j->claim : NULL, j->m->batch_id, &cur));
	free(vjson);
	if (rc == STORE_EDOWN)
		return STEP_ABANDON;
	if (rc == STORE_ECONFLICT) {
		j->state = cur;
		return STEP_AGAIN;
	}
	if (rc != 0) {
		log_msg(LOG_WARN, j->m->request_id, "not failed: %s",
			rc == STORE_ELEASE ? "the claim passed to another worker" : "no record");
		return STEP_DONE;
	}
	j->state = REQ_FAILED;
	job_grant_spent(j);
	snprintf(detail, sizeof(detail), "%s: %s", vs->v[0].code, vs->v[0].message);
	job_audit(j, AUDIT_FAILED, NULL, detail);
	return job_publish(j);
}

/* Fails the request with a single violation. */
static enum step
job_fail1(struct job *j, const char *code, const char *field, const char *message)
{
	struct violations *vs = violations_new();
	enum step st;

	if (vs == NULL)
		return STEP_ABANDON;
	violations_add(vs, code, field, "%s", message);
	st = job_fail(j, vs);
	free(vs);
	return st;
}

/*
 * A manual-approval CA without a valid grant: the request goes to the
 * approval topic and waits as pending_approval. Published first, then the
 * state: if the worker dies between the two, the copy of this message does
 * it again and the approver keys pending requests by id.
 */
static enum step
job_to_approval(struct job *j)
{
	char *payload = msg_approval_encode(j->m, j->grant_why, NULL);
	char detail[JOB_DETAIL_MAX];
	enum step st;

	if (payload == NULL)
		return STEP_ABANDON;
	if (job_produce(j, j->cfg->topics.approval, j->m->request_id, payload) < 0) {
		free(payload);
		return STEP_ABANDON;
	}
	free(payload);
	st = job_move(j, REQ_PENDING);
	if (st == STEP_AGAIN && j->state == REQ_PENDING) {
		snprintf(detail, sizeof(detail), "CA %s requires approval: %s", j->ca->id,
			 j->grant_why);
		job_audit(j, AUDIT_PENDING, NULL, detail);
		return STEP_DONE;
	}
	return st;
}

/*
 * Claims the request (queued → issuing, or an issuing one whose claim is
 * older than the lease). While another worker holds a live claim, waits:
 * it either finishes (the state moves on) or its lease runs out.
 */
static enum step
job_claim(struct job *j)
{
	char detail[JOB_DETAIL_MAX];
	enum req_state cur = REQ_NONE;
	int rc, waited = 0;

	snprintf(j->claim, sizeof(j->claim), "%s/%ld/t%d/%llu", j->w->opts.name, (long)getpid(),
		 j->t->index, ++j->t->attempts);
	for (;;) {
		JOB_STORE(rc, store_claim(j->s, j->m->request_id, j->claim, j->w->opts.lease_s,
					  j->grant_ok ? j->m->grant.mac : NULL,
					  (long)(j->m->grant.expires_at - (long long)time(NULL)),
					  &cur));
		if (rc == STORE_EDOWN)
			return STEP_ABANDON;
		if (rc == STORE_EUSED)
			return job_fail1(j, "approval_grant_used", "grant",
					 "grant: used already by another claim; a grant lets one "
					 "request be signed once");
		if (rc == 0 || rc == 1) {
			j->claimed = 1;
			j->state = REQ_ISSUING;
			snprintf(detail, sizeof(detail), "%s %s",
				 rc == 1 ? "re-took stale claim as" : "claim", j->claim);
			job_audit(j, AUDIT_CLAIMED, NULL, detail);
			return STEP_AGAIN;
		}
		if (rc != STORE_ECONFLICT)
			return STEP_DONE;
		if (cur != REQ_ISSUING) {
			j->state = cur;
			return STEP_AGAIN;
		}
		if (waited == 0)
			log_msg(LOG_INFO, j->m->request_id,
				"claimed by another worker; waiting for it to finish or for its "
				"%lds lease to run out",
				j->w->opts.lease_s);
		if (worker_backoff(&waited) < 0)
			return STEP_ABANDON;
	}
}

/* Serial hook: store_serial_reserve_cb, remembering whether Redis failed. */
struct job_serial {
	struct store_serial_ctx ctx;
	int down;
};

static int
job_reserve(void *arg, const char *serial_hex)
{
	struct job_serial *js = arg;
	int rc = store_serial_reserve_cb(&js->ctx, serial_hex);

	if (rc < 0)
		js->down = 1;
	return rc;
}

/* For a serial stored later (store_finish_each): nothing to reserve now. */
static int
job_reserve_later(void *arg, const char *serial_hex)
{
	(void)arg;
	(void)serial_hex;
	return 0;
}

int
job_make(struct job *j, int reserve, enum step *st)
{
	const struct roster ro = config_roster(j->cfg);
	struct issue_request ir;
	struct job_serial js = {{j->s, j->ca->id, j->m->request_id}, 0};
	struct signer *sg = worker_signer(j->t, j->ca);
	struct violations *vs = violations_new();
	int attempt = 0, rc = -1;

	*st = STEP_ABANDON;
	issued_free(j->is); /* signed again: an earlier certificate was never stored */
	free(j->subject);
	free(j->sans);
	j->is = NULL;
	j->subject = j->sans = NULL;
	if (vs == NULL)
		return -1;
	admit_issue_request(&ro, j->tenant, j->m->common_name, j->m->validity_days,
			    j->m->extensions, &ir);
	if (sg == NULL) {
		*st = job_fail1(j, "ca_unavailable", "ca_id", "the CA's signing key is not usable");
		goto out;
	}
	for (;;) {
		violations_clear(vs);
		js.down = 0;
		if (signer_issue(sg, j->csr, &ir, reserve ? job_reserve : job_reserve_later, &js,
				 &j->is, vs) == 0)
			break;
		if (!js.down) {
			if (vs->n == 0)
				violations_add(vs, "internal_error", "certificate",
					       "signing failed");
			*st = job_fail(j, vs);
			goto out;
		}
		log_msg(LOG_WARN, j->m->request_id, "serial reservation: Redis down; retrying");
		if (worker_backoff(&attempt) < 0)
			goto out;
	}
	job_audit(j, AUDIT_LINTED, NULL, "pre-issuance lint passed");
	/* Malformed (never for what the signer made): the CSR's subject and no SANs below. */
	certinfo_read(j->is->der, j->is->der_len, &j->subject, &j->sans);
	rc = 0;
out:
	free(vs);
	return rc;
}

void
job_cert_fields(const struct job *j, struct req_record *set)
{
	const struct csr_info *ci = csr_info(j->csr);

	memset(set, 0, sizeof(*set));
	set->serial = j->is->serial_hex;
	set->certificate = j->is->cert_pem;
	/* The chain is the CA's, kept once in Redis (worker_run); the record names it. */
	set->chain_sha256 = j->w->chain_sha[j->ca - j->cfg->cas];
	set->subject = j->subject != NULL ? j->subject : (char *)ci->subject;
	set->sans = j->sans != NULL ? j->sans : "[]";
	set->not_before = (long long)j->is->not_before;
	set->not_after = (long long)j->is->not_after;
	set->key_type = (char *)key_type_name(ci->key_type);
	set->key_bits = ci->key_bits;
}

void
job_discarded(const struct job *j, int rc, enum req_state cur)
{
	log_msg(LOG_WARN, j->m->request_id, "certificate serial %s discarded: %s (now %s)",
		j->is->serial_hex,
		rc == STORE_ELEASE ? "the claim passed to another worker" : "the request moved on",
		req_state_name(cur));
}

enum step
job_issued(struct job *j)
{
	char detail[JOB_DETAIL_MAX];
	/* What was just stored, without reading it back. */
	struct job_outcome o = {
	    .id = j->m->request_id,
	    .state = REQ_ISSUED,
	    .ca_id = j->ca->id,
	    .batch_id = j->m->batch_id,
	    .serial = j->is->serial_hex,
	    .certificate = j->is->cert_pem,
	    .chain = j->is->chain_pem,
	    .tenant = j->m->tenant,
	    .requester = j->m->requester,
	    .subject = j->subject != NULL ? j->subject : csr_info(j->csr)->subject,
	    .not_before = (long long)j->is->not_before,
	    .not_after = (long long)j->is->not_after,
	};

	j->state = REQ_ISSUED;
	job_grant_spent(j);
	snprintf(detail, sizeof(detail), "serial %s", j->is->serial_hex);
	job_audit(j, AUDIT_ISSUED, NULL, detail);
	return job_announce(j, &o);
}

/*
 * Signs under the claim and stores the certificate with the terminal
 * transition (checked against the claim, batch counted in the same script).
 * If the claim was lost meanwhile, this certificate is never stored or
 * published: the worker that re-took the claim produces the one certificate.
 */
static enum step
job_sign(struct job *j)
{
	struct req_record set;
	enum req_state cur = REQ_NONE;
	enum step st;
	int rc;

	if (job_make(j, 1, &st) < 0)
		return st;
	job_cert_fields(j, &set);
	JOB_STORE(rc, store_transition_ex(j->s, j->m->request_id, REQ_ISSUING, REQ_ISSUED, &set,
					  j->claim, j->m->batch_id, &cur));
	if (rc == STORE_EDOWN)
		return STEP_ABANDON; /* the claim's lease lets the next attempt re-take it */
	if (rc != 0) {
		job_discarded(j, rc, cur);
		return STEP_DONE;
	}
	return job_issued(j);
}

/* One step of the state machine from j->state. */
static enum step
job_step(struct job *j)
{
	enum req_state s = j->state;

	if (req_state_terminal(s))
		return job_publish(j);
	if (s == REQ_ISSUING && !j->claimed)
		return job_claim(j);
	if (j->vs->n > 0) {
		if (s == REQ_PENDING)
			return STEP_DONE; /* held for an admin; the approver decides */
		return job_fail(j, j->vs);
	}
	if (j->ca->requires_manual_approval && !j->grant_ok) {
		if (s == REQ_PENDING)
			return STEP_DONE; /* already waiting for an admin */
		if (s == REQ_RECEIVED || s == REQ_QUEUED)
			return job_to_approval(j);
		return job_fail1(j, "approval_grant_invalid", "grant", j->grant_why);
	}
	if (s == REQ_PENDING)
		return job_move(j, REQ_APPROVED);
	if (s == REQ_RECEIVED || s == REQ_APPROVED) {
		enum step st = job_move(j, REQ_QUEUED);

		if (st == STEP_AGAIN && j->state == REQ_QUEUED)
			job_audit(j, AUDIT_QUEUED, NULL, NULL);
		return st;
	}
	if (s == REQ_QUEUED)
		return job_claim(j);
	if (s == REQ_ISSUING)
		return job_sign(j);
	log_msg(LOG_WARN, j->m->request_id, "unknown state \"%s\"; left alone", req_state_name(s));
	return STEP_DONE;
}

int
job_open(struct worker_thread *t, const struct kafka_msg *km, struct job *j,
	 enum process_result *res)
{
	char err[JOB_TEXT_MAX];

	memset(j, 0, sizeof(*j));
	j->t = t;
	j->w = t->w;
	j->cfg = t->w->cfg;
	j->s = &t->w->store;
	j->km = km;
	*res = PROCESS_DONE;
	switch (worker_decode(t, km, &j->m, &j->user, err)) {
	case DECODE_OK:
		break;
	case DECODE_BAD:
		*res = job_dlq(j, err);
		return 0;
	case DECODE_REFUSED:
		return 0;
	case DECODE_STOP:
		*res = PROCESS_ABANDON;
		return 0;
	}
	if ((j->vs = violations_new()) == NULL) {
		*res = PROCESS_ABANDON;
		return 0;
	}
	job_check(j);
	return 1;
}

enum process_result
job_continue(struct job *j)
{
	enum step st = STEP_AGAIN;
	int steps;

	for (steps = 0; st == STEP_AGAIN && steps < WORKER_STEPS_MAX; steps++)
		st = job_step(j);
	if (st == STEP_AGAIN)
		log_msg(LOG_ERROR, j->m->request_id, "state still moving after %d steps (%s); left",
			steps, req_state_name(j->state));
	return st == STEP_ABANDON ? PROCESS_ABANDON : PROCESS_DONE;
}

enum process_result
job_run(struct job *j)
{
	char err[JOB_TEXT_MAX];
	int rc;

	if ((rc = job_load(j, err, sizeof(err))) < 0)
		return PROCESS_ABANDON;
	if (rc > 0) {
		job_audit(j, AUDIT_REJECTED, NULL, err);
		return job_dlq(j, err);
	}
	return job_continue(j);
}

void
job_close(struct job *j)
{
	issued_free(j->is);
	free(j->subject);
	free(j->sans);
	csr_free(j->csr);
	free(j->vs);
	msg_issue_free(j->m);
	memset(j, 0, sizeof(*j));
}

enum process_result
process_message(struct worker_thread *t, const struct kafka_msg *km)
{
	struct job j;
	enum process_result res;

	if (job_open(t, km, &j, &res))
		res = job_run(&j);
	job_close(&j);
	return res;
}
