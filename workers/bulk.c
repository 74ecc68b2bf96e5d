/*
 * The decode step of a message: the issue topic's requests as they are; the
 * submit topic's bulk messages only once their signature is checked, and
 * then acting for the signing key's user, whatever their fields claim.
 *
 * A bulk message is refused before anything is stored: unknown key, missing
 * or bad signature (auth_invalid), a tenant or requester field naming someone
 * else than the key's user (identity_mismatch), a batch another user made
 * (batch_not_owned). The refusal is a failed result on the results topic and
 * an audit event (bulk_refused). A refused message whose request id names a
 * request that exists gets the audit event only: a result would contradict
 * that request's own outcome.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "bulk.h"
#include "ids.h"
#include "log.h"
#include "worker.h"

_Static_assert(CONFIG_BULK_SECRET_BYTES == BULK_SECRET_BYTES, "config and bulk secrets agree");
_Static_assert(ID_MAX < MSG_ID_MAX, "a configured key id fits auth.key_id");

#define BULK_AUTH_INVALID "auth_invalid"
#define BULK_IDENTITY_MISMATCH "identity_mismatch"
#define BULK_BATCH_NOT_OWNED "batch_not_owned"
#define BULK_DETAIL_MAX (MSG_ERR_MAX + 64)

/*
 * Answers a refused bulk message m: the audit event (actor: the key's user
 * when verified, else the worker), then the failed result unless a request
 * with m's id exists. DECODE_REFUSED, or DECODE_STOP when stopping first.
 */
static enum decode_result
bulk_refuse(struct worker_thread *t, const struct issue_msg *m, const struct user *u,
	    const char *code, const char *message)
{
	struct worker *w = t->w;
	char detail[BULK_DETAIL_MAX];
	enum req_state state;
	struct audit_event ev = {
	    .event = AUDIT_BULK_REFUSED,
	    .request_id = m->request_id,
	    .actor = u != NULL ? u->name : w->opts.name,
	    .tenant = u != NULL ? u->tenant : NULL,
	    .detail = detail,
	};
	char *result;
	int attempt = 0, rc;

	snprintf(detail, sizeof(detail), "%s: %s", code, message);
	audit_emit(w->kp, w->cfg->topics.audit, &ev);
	while ((rc = store_get_state(&w->store, m->request_id, &state)) == STORE_EDOWN)
		if (worker_backoff(&attempt) < 0)
			return DECODE_STOP;
	if (rc == 0) {
		log_msg(LOG_WARN, m->request_id,
			"bulk message refused (%s); request %s exists, so no result is published",
			code, m->request_id);
		return DECODE_REFUSED;
	}
	if ((result = msg_result_encode(&(struct msg_result){.request_id = m->request_id,
							     .status = REQ_FAILED,
							     .code = code,
							     .message = message})) == NULL)
		return DECODE_STOP;
	rc = worker_produce(w, w->cfg->topics.results, m->request_id, result);
	free(result);
	return rc == 0 ? DECODE_REFUSED : DECODE_STOP;
}

/* The request part of a bulk message whose auth member is not well-formed; NULL if none. */
static struct issue_msg *
bulk_request_only(const struct kafka_msg *km)
{
	static const char *const extra[] = {"auth", NULL};
	struct issue_msg *m = NULL;
	char err[MSG_ERR_MAX];
	cJSON *o;

	if ((o = msg_parse(km->value, km->len, err)) == NULL)
		return NULL;
	if (msg_bulk_from_json(o, extra, &m, err) != 0)
		m = NULL;
	cJSON_Delete(o);
	return m;
}

/* Replaces *field by a copy of value. 0, or -1 without memory. */
static int
bulk_set(char **field, const char *value)
{
	char *c = strdup(value);

	if (c == NULL)
		return -1;
	free(*field);
	*field = c;
	return 0;
}

/*
 * Checks that the fields m carries about identity agree with u. NULL when
 * they do, else the refusal's message in buf.
 */
static const char *
bulk_identity(const struct issue_msg *m, const struct bulk_key *k, const struct user *u, char *buf,
	      size_t len)
{
	if (m->tenant != NULL && strcmp(m->tenant, u->tenant) != 0) {
		snprintf(buf, len, "tenant: key %s acts for tenant %s, the message names \"%.64s\"",
			 k->id, u->tenant, m->tenant);
		return buf;
	}
	if (m->requester != NULL && strcmp(m->requester, u->name) != 0) {
		snprintf(buf, len,
			 "requester: key %s acts for user %s, the message names \"%.64s\"", k->id,
			 u->name, m->requester);
		return buf;
	}
	return NULL;
}

/*
 * Makes m's batch u's, or finds it is. 0, 1 when another user's, -1 when
 * stopping. A batch's owner never changes once bound, so the thread keeps
 * the last one it saw bound and asks Redis only when the batch or user differs.
 */
static int
bulk_batch(struct worker_thread *t, const struct issue_msg *m, const struct user *u)
{
	int attempt = 0, rc;

	if (t->batch_user == u && strcmp(t->batch_id, m->batch_id) == 0)
		return 0;
	while ((rc = store_batch_claim(&t->w->store, m->batch_id, u->name, u->tenant, m->batch_size,
				       NULL)) == STORE_EDOWN)
		if (worker_backoff(&attempt) < 0)
			return -1;
	if (rc == 0 && strlen(m->batch_id) < sizeof(t->batch_id)) {
		snprintf(t->batch_id, sizeof(t->batch_id), "%s", m->batch_id);
		t->batch_user = u;
	}
	return rc == 0 ? 0 : 1;
}

/* A bulk message of the submit topic (see worker_decode). */
static enum decode_result
bulk_admit(struct worker_thread *t, const struct kafka_msg *km, struct issue_msg **out,
	   const struct user **user, char *err)
{
	const struct config *cfg = t->w->cfg;
	const struct bulk_key *k;
	const struct user *u;
	struct issue_msg *m = NULL;
	struct bulk_auth a;
	char why[MSG_ERR_MAX];
	const char *mismatch;
	enum decode_result res;

	memset(&a, 0, sizeof(a));
	if (bulk_decode(km->value, km->len, &m, &a, err) != 0) {
		/* A well-formed request with a broken auth member: unauthenticated, not unparsable
		 */
		if ((m = bulk_request_only(km)) == NULL)
			return DECODE_BAD;
		res = bulk_refuse(t, m, NULL, BULK_AUTH_INVALID, err);
		goto out;
	}
	k = config_bulk_key_find(cfg, a.key_id);
	if (k == NULL || !k->loaded) {
		snprintf(why, sizeof(why), "auth.key_id: no bulk key \"%s\"", a.key_id);
		res = bulk_refuse(t, m, NULL, BULK_AUTH_INVALID, why);
		goto out;
	}
	if (!bulk_verify(k->secret, m, &a)) {
		snprintf(why, sizeof(why),
			 "auth.sig: not the signature of this message under key %s", k->id);
		res = bulk_refuse(t, m, NULL, BULK_AUTH_INVALID, why);
		goto out;
	}
	u = config_user_find(cfg, k->user); /* config_load checked it exists */
	if (u == NULL) {
		snprintf(why, sizeof(why), "auth.key_id: key %s names no user", k->id);
		res = bulk_refuse(t, m, NULL, BULK_AUTH_INVALID, why);
		goto out;
	}
	if ((mismatch = bulk_identity(m, k, u, why, sizeof(why))) != NULL) {
		res = bulk_refuse(t, m, u, BULK_IDENTITY_MISMATCH, mismatch);
		goto out;
	}
	/* From here on the request acts for u, and for nothing the message said. */
	if (bulk_set(&m->tenant, u->tenant) != 0 || bulk_set(&m->requester, u->name) != 0 ||
	    bulk_set(&m->email, u->email) != 0) {
		res = DECODE_STOP;
		goto out;
	}
	free(m->client_ip);
	m->client_ip = NULL;
	if (m->submitted_at == 0)
		m->submitted_at = (long long)time(NULL);
	if (m->batch_id != NULL) {
		switch (bulk_batch(t, m, u)) {
		case 0:
			break;
		case 1:
			snprintf(why, sizeof(why), "batch_id: batch \"%s\" belongs to another user",
				 m->batch_id);
			res = bulk_refuse(t, m, u, BULK_BATCH_NOT_OWNED, why);
			goto out;
		default:
			res = DECODE_STOP;
			goto out;
		}
	}
	*out = m;
	*user = u;
	m = NULL;
	res = DECODE_OK;
out:
	msg_issue_free(m);
	return res;
}

enum decode_result
worker_decode(struct worker_thread *t, const struct kafka_msg *km, struct issue_msg **out,
	      const struct user **user, char *err)
{
	if (km->topic != NULL && strcmp(km->topic, t->w->cfg->topics.submit) == 0)
		return bulk_admit(t, km, out, user, err);
	if (msg_issue_decode(km->value, km->len, out, err) < 0)
		return DECODE_BAD;
	*user = config_user_find(t->w->cfg, (*out)->requester);
	return DECODE_OK;
}
