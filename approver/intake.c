/*
 * Consumers: the approval topic (requests become pending) and the results
 * topic (every request's end, told to its requester or its batch's owner;
 * each fetched batch with one Redis round trip). Offsets are stored only
 * after Redis took the message (at-least-once); the intake script makes a
 * redelivery harmless.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admit.h"
#include "approver.h"
#include "audit.h"
#include "log.h"
#include "msg.h"
#include "svc.h"

#define INTAKE_RETRY_MS 1000 /* Redis down: wait, then try the same message again */
#define INTAKE_DETAIL_MAX 300
#define INTAKE_BATCH_MAX NOTIFY_BATCH_MAX /* messages handed on together */

/* 1 when the record's value a and the message's b are the same text (both absent too). */
static int
intake_same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/*
 * The message is a claim: it must describe the request the gateway or a
 * worker recorded (same requester, tenant, CA and CSR), and that requester
 * must still be admitted to that CA (lib/pki/admit.h). A message that does
 * not match its record is dropped and audited, the record left alone; a
 * request no longer admitted is failed. Returns 0 with *ca and the record's
 * state in *state to go on, 1 when done with the message, STORE_EDOWN to
 * retry.
 */
static int
intake_check(struct approver *ap, const struct issue_msg *m, const struct ca **ca,
	     enum req_state *state)
{
	struct req_record *r = NULL;
	struct violations *vs = NULL;
	struct admit_request rq;
	struct admit_result ad = {0};
	const struct roster ro = config_roster(ap->cfg);
	char hash[65], detail[INTAKE_DETAIL_MAX];
	int rc;

	if ((rc = store_get(&ap->store, m->request_id, &r)) == STORE_EDOWN)
		return STORE_EDOWN;
	msg_csr_sha256(m->csr, hash);
	if (rc != 0 || !intake_same(r->requester, m->requester) ||
	    !intake_same(r->tenant, m->tenant) || !intake_same(r->ca_id, m->ca_id) ||
	    !intake_same(r->csr_sha256, hash)) {
		snprintf(detail, sizeof(detail),
			 "approval message does not match the recorded request (%s); dropped",
			 rc != 0 ? "no record" : "requester, tenant, CA or CSR differ");
		log_msg(LOG_ERROR, m->request_id, "%s", detail);
		ap_audit(ap, AUDIT_REJECTED, m->request_id, NULL, "approver", NULL, detail);
		rc = 1;
		goto out;
	}
	if ((vs = violations_new()) == NULL) {
		rc = STORE_EDOWN;
		goto out;
	}
	msg_admit_request(m, config_user_find(ap->cfg, m->requester), &rq);
	if (m->ca_id == NULL)
		violations_add(vs, "ca_not_found", "ca_id", "ca_id: required for approval");
	else
		admit_check(&ro, &rq, &ad, vs);
	if (vs->n > 0) {
		struct req_record f = {.error_code = (char *)vs->v[0].code,
				       .error_message = (char *)vs->v[0].message};

		snprintf(detail, sizeof(detail), "%s: %s", vs->v[0].code, vs->v[0].message);
		log_msg(LOG_WARN, m->request_id, "not admitted for approval: %s", detail);
		if (store_transition(&ap->store, m->request_id, REQ_PENDING, REQ_FAILED, &f,
				     NULL) == 0) {
			char *res =
			    msg_result_encode(&(struct msg_result){.request_id = m->request_id,
								   .status = REQ_FAILED,
								   .ca_id = m->ca_id,
								   .batch_id = m->batch_id,
								   .code = vs->v[0].code,
								   .message = vs->v[0].message});

			ap_audit(ap, AUDIT_FAILED, m->request_id, NULL, "approver", NULL, detail);
			if (res == NULL || kafka_produce(ap->kp, ap->cfg->topics.results,
							 m->request_id, res, strlen(res)) != 0)
				log_msg(LOG_WARN, m->request_id,
					"result of the refusal not queued");
			free(res);
		}
		rc = 1;
		goto out;
	}
	*ca = ad.ca;
	*state = r->state;
	rc = 0;
out:
	csr_free(ad.csr);
	free(vs);
	req_record_free(r);
	return rc;
}

/*
 * The approval password of a request entering the queue (record pending,
 * no pending entry yet: a redelivered message is not checked twice). NULL
 * when there is none to check; else the reason to queue it with, *verdict
 * set.
 */
static const char *
intake_password(struct approver *ap, const struct issue_msg *m, const struct ca *ca,
		enum req_state state, const char *password, enum pw_verdict *verdict)
{
	struct pending *p = NULL;

	if (password == NULL || state != REQ_PENDING)
		return NULL;
	if (pending_get(ap, m->request_id, &p) != STORE_ENOTFOUND) {
		pending_free(p);
		return NULL;
	}
	*verdict = password_check(ap, m, ca, password);
	return password_reason(*verdict);
}

/*
 * A right password approves at once, as one approval of one required: the
 * grant goes out through the outbox like an admin's. 0, or -1 when Redis
 * failed (the request then waits for an admin).
 */
static int
intake_grant(struct approver *ap, const char *id)
{
	struct pending *p = NULL;
	char cur[STORE_ID_MAX], *approvals = NULL;
	int rc = -1;

	if (pending_get(ap, id, &p) != 0)
		return -1;
	if (pending_approve(ap, id, APPROVER_PASSWORD_ACTOR, 1, &approvals, cur) !=
	    APPROVE_COMPLETE)
		goto out;
	ap_audit(ap, AUDIT_APPROVED, id, p, APPROVER_PASSWORD_ACTOR, p->client_ip,
		 "approval password accepted");
	decisions_add(ap, p, "approved", APPROVER_PASSWORD_ACTOR, approvals, NULL);
	if (decide_publish(ap, id) != 0)
		log_msg(LOG_WARN, id, "grant left in the outbox for a retry");
	rc = 0;
out:
	free(approvals);
	pending_free(p);
	return rc;
}

/* Takes one approval message. 0 when done with it (stored, duplicate or refused), -1 to retry. */
static int
intake_one(struct approver *ap, const struct kafka_msg *km)
{
	struct issue_msg *m = NULL;
	struct pending *p = NULL;
	const struct ca *ca;
	char err[MSG_ERR_MAX], cur[STORE_ID_MAX], detail[INTAKE_DETAIL_MAX], *reason = NULL;
	char *json = NULL, *password = NULL;
	const char *why;
	enum req_state state = REQ_NONE;
	enum pw_verdict verdict = PW_UNCHECKED;
	long long expires;
	int rc = 0, required, checked;

	if (msg_approval_decode(km->value, km->len, &m, &reason, &password, err) != 0) {
		log_error("approval message at %s[%d]@%lld refused: %s", km->topic,
			  (int)km->partition, (long long)km->offset, err);
		return 0;
	}
	if ((rc = intake_check(ap, m, &ca, &state)) != 0) {
		rc = rc == STORE_EDOWN ? -1 : 0;
		goto out;
	}
	checked = (why = intake_password(ap, m, ca, state, password, &verdict)) != NULL;
	if (!checked)
		why = reason;
	expires =
	    (m->submitted_at > 0 ? m->submitted_at : (long long)time(NULL)) + ca->approval_ttl_s;
	required = ca->approvals_required > 0 ? ca->approvals_required : 1;
	if ((json = msg_issue_encode(m)) == NULL) {
		rc = -1;
		goto out;
	}
	rc = pending_intake(ap, m, why, json, expires, required, cur);
	if (rc == STORE_EDOWN) {
		rc = -1;
		goto out;
	}
	if (rc == PENDING_DUPLICATE) {
		log_msg(LOG_INFO, m->request_id, "approval message redelivered; already pending");
	} else if (rc == PENDING_DECIDED) {
		log_msg(LOG_INFO, m->request_id,
			"approval message for a request already %s; ignored", cur);
	} else if (checked && verdict == PW_RIGHT && intake_grant(ap, m->request_id) == 0) {
		log_msg(LOG_INFO, m->request_id, "approval password accepted; granted");
	} else if (pending_get(ap, m->request_id, &p) == 0) {
		if (checked && verdict == PW_WRONG)
			ap_audit(ap, AUDIT_PASSWORD_WRONG, m->request_id, p, m->requester,
				 m->client_ip, why);
		snprintf(detail, sizeof(detail), "%s; %d approval(s) required; expires at %lld",
			 why, required, expires);
		ap_audit(ap, AUDIT_PENDING, m->request_id, p, "approver", m->client_ip, detail);
		notify_admins(ap, p, why);
		if (notify_request(ap, m->request_id, REQ_PENDING, why, NULL) != 0)
			log_msg(LOG_WARN, m->request_id,
				"pending approval: requester not notified (Redis down)");
	}
	rc = 0;
out:
	pending_free(p);
	free(json);
	free(reason);
	if (password != NULL)
		OPENSSL_cleanse(password, strlen(password));
	free(password);
	msg_issue_free(m);
	return rc;
}

/* Takes approval messages one by one; returns how many, from the first, are done. */
static size_t
intake_batch(struct approver *ap, const struct kafka_msg *km, size_t n)
{
	size_t i;

	for (i = 0; i < n && intake_one(ap, &km[i]) == 0; i++)
		;
	return i;
}

/*
 * A consumer's handler: takes km[0..n-1] (n <= INTAKE_BATCH_MAX) in order
 * and returns how many of them, from the first, are done; their offsets are
 * stored, the rest are handed to it again after INTAKE_RETRY_MS.
 */
typedef size_t (*consume_fn)(struct approver *ap, const struct kafka_msg *km, size_t n);

/*
 * Polls topic in group until stopping: waits for a message, takes with it
 * what the consumer has fetched already (at most INTAKE_BATCH_MAX) and hands
 * them to fn together.
 */
static void
consume(struct approver *ap, const char *group, const char *topic, const char *name,
	int fetch_wait_ms, consume_fn fn)
{
	const char *topics[] = {topic, NULL};
	struct kafka_consumer *c;
	struct kafka_msg km[INTAKE_BATCH_MAX];
	char err[KAFKA_ERR_MAX];
	size_t n, done, d, i;
	int rc = 0;

	if ((c = kafka_consumer_new(ap->cfg->kafka_brokers, group, topics, name,
				    &ap->cfg->kafka_tls[SERVICE_APPROVER], fetch_wait_ms, NULL,
				    NULL, err)) == NULL) {
		log_error("%s: %s", name, err);
		svc_request_stop();
		return;
	}
	log_info("%s: consuming %s as group %s", name, topic, group);
	while (!svc_stopping()) {
		for (n = 0; n < INTAKE_BATCH_MAX; n++)
			if ((rc = kafka_consumer_poll(c, &km[n], n == 0 ? APPROVER_POLL_MS : 0)) <=
			    0)
				break;
		if (n == 0) {
			if (rc < 0)
				svc_wait(INTAKE_RETRY_MS);
			continue;
		}
		for (done = 0;;) {
			d = fn(ap, km + done, n - done);
			for (i = done; i < done + d; i++)
				kafka_consumer_done(c, &km[i]);
			done += d;
			if (done == n || svc_wait(INTAKE_RETRY_MS))
				break;
		}
		for (i = 0; i < n; i++)
			kafka_msg_release(&km[i]);
	}
	kafka_consumer_free(c);
}

void *
intake_run(void *arg)
{
	struct approver *ap = arg;

	consume(ap, APPROVER_GROUP, ap->cfg->topics.approval, "pki-approver-intake", 0,
		intake_batch);
	return NULL;
}

/*
 * A result message as a request to tell of: 0 and *it (borrowing from o),
 * or -1 when it names no request or no end state.
 */
static int
result_item(const cJSON *o, struct notify_item *it, const char **batch_id)
{
	const cJSON *batch = cJSON_GetObjectItemCaseSensitive(o, "batch_id");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "request_id");
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "status");
	const cJSON *serial = cJSON_GetObjectItemCaseSensitive(o, "serial");
	const cJSON *message = cJSON_GetObjectItemCaseSensitive(o, "message");
	enum req_state state = cJSON_IsString(st) ? req_state_parse(st->valuestring) : REQ_NONE;

	if (!cJSON_IsString(id) || !req_state_terminal(state))
		return -1;
	it->id = id->valuestring;
	it->state = state;
	it->reason = cJSON_IsString(message) ? message->valuestring : NULL;
	it->serial = cJSON_IsString(serial) ? serial->valuestring : NULL;
	*batch_id = cJSON_IsString(batch) ? batch->valuestring : NULL;
	return 0;
}

/*
 * Result messages: tells each request's requester of its end, all of them
 * with one Redis round trip; a bulk batch's requests are told only to the
 * batch's owner once the batch ends, so theirs is one check per batch named
 * in the messages, in a second round trip. All done, or none (Redis down:
 * retried; those marked already are not told twice).
 */
static size_t
results_batch(struct approver *ap, const struct kafka_msg *km, size_t n)
{
	cJSON *o[INTAKE_BATCH_MAX];
	struct notify_item it[INTAKE_BATCH_MAX] = {0};
	const char *batches[INTAKE_BATCH_MAX], *b;
	size_t i, j, k = 0, nb = 0;
	int rc;

	for (i = 0; i < n; i++) {
		if (result_item(o[i] = cJSON_ParseWithLength(km[i].value, km[i].len), &it[k], &b) !=
		    0)
			continue;
		if (b == NULL) {
			k++;
			continue;
		}
		for (j = 0; j < nb && strcmp(batches[j], b) != 0; j++)
			;
		if (j == nb)
			batches[nb++] = b;
	}
	rc = notify_requests(ap, it, k);
	if (rc == 0)
		rc = notify_batches(ap, batches, nb);
	for (i = 0; i < n; i++)
		cJSON_Delete(o[i]);
	return rc == 0 ? n : 0;
}

void *
results_run(void *arg)
{
	struct approver *ap = arg;

	consume(ap, APPROVER_RESULTS_GROUP, ap->cfg->topics.results, "pki-approver-results",
		APPROVER_RESULTS_WAIT_MS, results_batch);
	return NULL;
}
