/*
 * Decisions: approve (m of n, atomic), reject with a reason, and publishing
 * the signed grant to the issue topic once enough approvals are in.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "approver.h"
#include "audit.h"
#include "log.h"
#include "msg.h"

#define DECIDE_DETAIL_MAX 700

/* Moves the outbox entry of id ahead so that the sweeper retries it later. */
static void
outbox_later(struct approver *ap, const char *id)
{
	char key[APPROVER_KEY_MAX], when[24];
	const char *argv[] = {"ZADD", key, "XX", when, id};
	redisReply *rep;

	ap_key(ap, key, "pending:outbox", NULL);
	snprintf(when, sizeof(when), "%lld", (long long)time(NULL) + APPROVER_OUTBOX_RETRY_S);
	if ((rep = ap_redis(ap, 5, argv)) != NULL)
		freeReplyObject(rep);
}

int
decide_publish(struct approver *ap, const char *id)
{
	struct pending *p = NULL;
	struct issue_msg *m = NULL;
	char err[MSG_ERR_MAX], *payload = NULL;
	enum req_state cur = REQ_NONE;
	long long now = (long long)time(NULL);
	int rc = -1, krc;

	if ((krc = pending_get(ap, id, &p)) != 0) {
		if (krc == STORE_ENOTFOUND)
			pending_published(ap, id); /* published by another approver meanwhile */
		return krc == STORE_ENOTFOUND ? 0 : -1;
	}
	if (strcmp(p->state, "approved") != 0)
		goto out;
	if (msg_issue_decode(p->msg, strlen(p->msg), &m, err) != 0) {
		log_msg(LOG_ERROR, id, "stored request does not decode: %s", err);
		goto out;
	}
	if (!ap->cfg->grant_key_loaded ||
	    grant_sign(ap->cfg->grant_key, sizeof(ap->cfg->grant_key), m, now + GRANT_TTL_S) != 0) {
		log_msg(LOG_ERROR, id, "cannot sign the approval grant (grant key %s)",
			ap->cfg->grant_key_loaded ? "rejected the fields" : "not loaded");
		goto out;
	}
	if ((payload = msg_issue_encode(m)) == NULL)
		goto out;
	krc = store_transition(&ap->store, id, REQ_APPROVED, REQ_QUEUED, NULL, &cur);
	if (krc == STORE_ECONFLICT && cur != REQ_QUEUED) {
		/* Moved past queued: an earlier publish arrived and a worker took it. */
		log_msg(LOG_INFO, id, "already %s; grant not published again", req_state_name(cur));
		pending_published(ap, id);
		rc = 0;
		goto out;
	}
	if (krc != 0 && krc != STORE_ECONFLICT)
		goto out;
	krc = kafka_produce_sync(ap->kp, ap->cfg->topics.issue, id, payload, strlen(payload),
				 APPROVER_PRODUCE_TIMEOUT_MS);
	if (krc != 0) {
		log_msg(LOG_WARN, id, "publishing the approved request failed (%d); will retry",
			krc);
		goto out;
	}
	pending_published(ap, id);
	ap_audit(ap, AUDIT_QUEUED, id, p, "approver", NULL, "grant published to the issue topic");
	rc = 0;
out:
	if (rc != 0)
		outbox_later(ap, id);
	free(payload);
	msg_issue_free(m);
	pending_free(p);
	return rc;
}

/*
 * Loads pending id for a decision by u, answering 404/409/403 itself.
 * Returns the record or NULL after answering.
 */
static struct pending *
decide_load(struct approver *ap, struct http_req *req, const struct user *u, const char *id,
	    const char *what)
{
	struct pending *p = NULL;
	char detail[DECIDE_DETAIL_MAX];
	enum req_state state;
	int rc = pending_get(ap, id, &p);

	if (rc == STORE_EDOWN) {
		http_reply_error(req, 503, "store_unavailable", NULL, NULL, NULL,
				 "request store (Redis) unavailable");
		return NULL;
	}
	if (rc == STORE_ENOTFOUND || strcmp(p->state, "pending") != 0) {
		if (store_get_state(&ap->store, id, &state) != 0) {
			http_reply_error(req, 404, "request_not_found", "id", NULL, NULL,
					 "no request \"%.64s\"", id);
		} else {
			snprintf(detail, sizeof(detail), "409: %s of a request in state %s", what,
				 req_state_name(state));
			ap_audit(ap, AUDIT_DECISION_REFUSED, id, p, u->name, req->client_ip,
				 detail);
			http_reply_error(
			    req, 409, "not_pending", "id", NULL, NULL,
			    "request %s is %s, not pending approval; nothing to %s", id,
			    state == REQ_PENDING ? "being decided" : req_state_name(state), what);
		}
		pending_free(p);
		return NULL;
	}
	if (!ap_admin_scope(u, p->ca_id, p->tenant)) {
		snprintf(detail, sizeof(detail), "403: %s outside the admin's scope", what);
		ap_audit(ap, AUDIT_DECISION_REFUSED, id, p, u->name, req->client_ip, detail);
		http_reply_error(req, 403, "outside_scope", "id", NULL, NULL,
				 "admin %s may not act on CA %s for tenant %s", u->name, p->ca_id,
				 p->tenant != NULL ? p->tenant : "-");
		pending_free(p);
		return NULL;
	}
	return p;
}

/* Answers {"request_id","status","approvals","approvals_required"[,"reason"]}. */
static void
decide_reply(struct http_req *req, const struct pending *p, enum req_state status,
	     const char *approvals, const char *reason)
{
	cJSON *o = cJSON_CreateObject(), *a = cJSON_Parse(approvals != NULL ? approvals : "[]");

	cJSON_AddStringToObject(o, "request_id", p->id);
	cJSON_AddStringToObject(o, "status", req_state_name(status));
	cJSON_AddItemToObject(o, "approvals", a != NULL ? a : cJSON_CreateArray());
	cJSON_AddNumberToObject(o, "approvals_required", p->approvals_required);
	if (reason != NULL)
		cJSON_AddStringToObject(o, "reason", reason);
	http_reply_json(req, 200, o, NULL);
	cJSON_Delete(o);
}

void
decide_approve(struct approver *ap, struct http_req *req, const struct user *u, const char *id)
{
	struct pending *p;
	char cur[STORE_ID_MAX], detail[DECIDE_DETAIL_MAX], *approvals = NULL;
	int rc, required;

	if ((p = decide_load(ap, req, u, id, "approve")) == NULL)
		return;
	if (p->requester != NULL && strcmp(p->requester, u->name) == 0) {
		ap_audit(ap, AUDIT_DECISION_REFUSED, id, p, u->name, req->client_ip,
			 "403: self-approval refused");
		http_reply_error(req, 403, "self_approval", "id", NULL, NULL,
				 "admin %s requested %s and may not approve their own request",
				 u->name, id);
		goto out;
	}
	required = p->approvals_required > 0 ? p->approvals_required : 1;
	rc = pending_approve(ap, id, u->name, required, &approvals, cur);
	switch (rc) {
	case APPROVE_NOT_PENDING:
		ap_audit(ap, AUDIT_DECISION_REFUSED, id, p, u->name, req->client_ip,
			 "409: approve of a request no longer pending");
		http_reply_error(req, 409, "not_pending", "id", NULL, NULL,
				 "request %s is %s, not pending approval; nothing to approve", id,
				 cur[0] ? cur : "gone");
		break;
	case APPROVE_REPEATED:
		ap_audit(ap, AUDIT_DECISION_REFUSED, id, p, u->name, req->client_ip,
			 "409: second approval by the same admin");
		http_reply_error(req, 409, "already_approved", "id", NULL, NULL,
				 "admin %s already approved %s; another admin must add the next "
				 "approval (%d required)",
				 u->name, id, required);
		break;
	case APPROVE_RECORDED:
		snprintf(detail, sizeof(detail), "approval by %s; approvals %s of %d required",
			 u->name, approvals != NULL ? approvals : "?", required);
		ap_audit(ap, AUDIT_APPROVAL_GIVEN, id, p, u->name, req->client_ip, detail);
		decide_reply(req, p, REQ_PENDING, approvals, NULL);
		break;
	case APPROVE_COMPLETE:
		snprintf(detail, sizeof(detail), "approved (%d of %d): %s", required, required,
			 approvals != NULL ? approvals : "");
		ap_audit(ap, AUDIT_APPROVED, id, p, u->name, req->client_ip, detail);
		decisions_add(ap, p, "approved", u->name, approvals, NULL);
		if (notify_request(ap, id, REQ_APPROVED, NULL, NULL) != 0)
			log_msg(LOG_WARN, id, "approved: requester not notified (Redis down)");
		decide_reply(req, p, decide_publish(ap, id) == 0 ? REQ_QUEUED : REQ_APPROVED,
			     approvals, NULL);
		break;
	default:
		http_reply_error(req, 503, "store_unavailable", NULL, NULL, NULL,
				 "request store (Redis) unavailable");
	}
out:
	free(approvals);
	pending_free(p);
}

/* The reason from a JSON or form body; NULL after answering 400. Caller frees. */
static char *
decide_reason(struct http_req *req)
{
	char ct[64], err[HTTP_ERR_MAX], *r = NULL;
	const cJSON *it;
	cJSON *body = NULL;
	size_t n, i;

	http_content_type(req, ct, sizeof(ct));
	if (strcmp(ct, "application/json") == 0)
		body = req->body != NULL ? cJSON_ParseWithLength(req->body, req->body_len) : NULL;
	else if (strcmp(ct, "application/x-www-form-urlencoded") == 0 ||
		 strcmp(ct, "multipart/form-data") == 0)
		body = http_form_parse(req, err);
	it = cJSON_GetObjectItemCaseSensitive(body, "reason");
	if (!cJSON_IsString(it)) {
		http_reply_error(req, 400, "missing_field", "reason", NULL, NULL,
				 "reason: required, a JSON string (or form field) saying why the "
				 "request is rejected; it is shown to the requester");
		goto out;
	}
	for (i = 0, n = 0; it->valuestring[i] != '\0'; i++)
		if (((unsigned char)it->valuestring[i] & 0xc0) != 0x80)
			n++; /* characters, not bytes */
	for (i = 0; isspace((unsigned char)it->valuestring[i]); i++)
		;
	if (it->valuestring[i] == '\0' || n > APPROVER_REASON_MAX) {
		http_reply_error(req, 400, "invalid_field", "reason", NULL, NULL,
				 "reason: must be 1..%d characters and not only spaces, got %zu",
				 APPROVER_REASON_MAX, n);
		goto out;
	}
	for (i = 0; it->valuestring[i] != '\0'; i++)
		if ((unsigned char)it->valuestring[i] < 0x20 && it->valuestring[i] != '\n' &&
		    it->valuestring[i] != '\t') {
			http_reply_error(req, 400, "invalid_field", "reason", NULL, NULL,
					 "reason: control character 0x%02x at byte %zu",
					 (unsigned)it->valuestring[i], i);
			goto out;
		}
	r = strdup(it->valuestring);
out:
	cJSON_Delete(body);
	return r;
}

void
decide_reject(struct approver *ap, struct http_req *req, const struct user *u, const char *id)
{
	struct pending *p = NULL, *old = NULL;
	char cur[STORE_ID_MAX], *reason, *res = NULL;
	int rc;

	if ((reason = decide_reason(req)) == NULL)
		return;
	if ((p = decide_load(ap, req, u, id, "reject")) == NULL)
		goto out;
	rc = pending_end(ap, id, REQ_REJECTED, "approval_rejected", reason, u->name, 0, &old, cur);
	if (rc == STORE_EDOWN) {
		http_reply_error(req, 503, "store_unavailable", NULL, NULL, NULL,
				 "request store (Redis) unavailable");
		goto out;
	}
	if (rc == 0) {
		ap_audit(ap, AUDIT_DECISION_REFUSED, id, p, u->name, req->client_ip,
			 "409: reject of a request no longer pending");
		http_reply_error(req, 409, "not_pending", "id", NULL, NULL,
				 "request %s is %s, not pending approval; nothing to reject", id,
				 cur[0] ? cur : "gone");
		goto out;
	}
	ap_audit(ap, AUDIT_REJECTED, id, p, u->name, req->client_ip, reason);
	if ((res = msg_result_encode(&(struct msg_result){.request_id = id,
							  .status = REQ_REJECTED,
							  .ca_id = p->ca_id,
							  .code = "approval_rejected",
							  .message = reason})) != NULL &&
	    kafka_produce(ap->kp, ap->cfg->topics.results, id, res, strlen(res)) != 0)
		log_msg(LOG_WARN, id, "result of the rejection not queued");
	decisions_add(ap, p, "rejected", u->name, NULL, reason);
	decide_reply(req, p, REQ_REJECTED, old != NULL ? old->approvals : p->approvals, reason);
out:
	free(res);
	free(reason);
	pending_free(old);
	pending_free(p);
}
