/*
 * Notifications: one event on the notify topic and a signed webhook to every
 * URL configured on the request's CA and tenant, each audited.
 *
 * Event (pki.notify, key request id; also the webhook body):
 *   {"v":1, "event": pending|approved|rejected|expired|issued, "request_id",
 *    "ca_id", "tenant", "requester", "common_name", "audience": "admins" |
 *    "requester", "recipients": [{"user","email"}], "actor"?, "reason"?,
 *    "serial"?, "expires_at"?, "time"}
 * "pending" goes to the admins who may decide; the rest to the requester.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "approver.h"
#include "audit.h"
#include "log.h"
#include "msg.h"
#include "svc.h"

#define NOTIFY_DETAIL_MAX 600
#define NOTIFY_TARGET_MAX 160

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

void
notify_event(struct approver *ap, const char *event, const struct pending *p, const char *actor,
	     const char *detail, const char *serial)
{
	const struct config *cfg = ap->cfg;
	const struct ca *ca = config_ca_find(cfg, p->ca_id);
	const struct user *req_user =
	    p->requester != NULL ? config_user_find(cfg, p->requester) : NULL;
	int admins = strcmp(event, NOTE_PENDING) == 0, nrec = 0, nhooks = 0;
	char audit_detail[NOTIFY_DETAIL_MAX], *body;
	cJSON *o = cJSON_CreateObject(), *rec;
	size_t i;

	if (o == NULL)
		return;
	cJSON_AddNumberToObject(o, "v", MSG_VERSION);
	cJSON_AddStringToObject(o, "event", event);
	cJSON_AddStringToObject(o, "request_id", p->id);
	cJSON_AddStringToObject(o, "ca_id", p->ca_id);
	add_opt(o, "tenant", p->tenant);
	add_opt(o, "requester", p->requester);
	add_opt(o, "common_name", p->common_name);
	cJSON_AddStringToObject(o, "audience", admins ? "admins" : "requester");
	rec = cJSON_AddArrayToObject(o, "recipients");
	if (admins) {
		for (i = 0; i < cfg->nusers; i++)
			if (ap_admin_scope(&cfg->users[i], p->ca_id, p->tenant)) {
				add_recipient(rec, cfg->users[i].name, cfg->users[i].email);
				nrec++;
			}
	} else if (p->requester != NULL) {
		add_recipient(rec, p->requester,
			      p->email != NULL && p->email[0] ? p->email
			      : req_user != NULL              ? req_user->email
							      : NULL);
		nrec++;
	}
	add_opt(o, "actor", actor);
	add_opt(o, "reason", detail);
	add_opt(o, "serial", serial);
	if (p->expires_at > 0 && admins)
		cJSON_AddNumberToObject(o, "expires_at", (double)p->expires_at);
	cJSON_AddNumberToObject(o, "time", (double)time(NULL));
	body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (body == NULL)
		return;
	if (kafka_produce(ap->kp, cfg->topics.notify, p->id, body, strlen(body)) != 0)
		log_msg(LOG_WARN, p->id, "notification %s not queued on %s", event,
			cfg->topics.notify);
	if (ca != NULL)
		nhooks +=
		    notify_hooks(ap, ca->webhooks, ca->nwebhooks, "ca", ca->id, event, p->id, body);
	for (i = 0; p->tenant != NULL && i < cfg->ntenants; i++)
		if (strcmp(cfg->tenants[i].id, p->tenant) == 0)
			nhooks +=
			    notify_hooks(ap, cfg->tenants[i].webhooks, cfg->tenants[i].nwebhooks,
					 "tenant", cfg->tenants[i].id, event, p->id, body);
	snprintf(audit_detail, sizeof(audit_detail), "%s to %s: %d recipient(s), %d webhook(s)",
		 event, admins ? "admins" : "requester", nrec, nhooks);
	ap_audit(ap, AUDIT_NOTIFICATION, p->id, p, actor != NULL ? actor : "approver", NULL,
		 audit_detail);
	free(body);
}

/* webhook_secret_fn: "ca:ID:N" or "tenant:ID:N" → that webhook's secret. */
static const char *
notify_secret(void *arg, const char *target)
{
	struct approver *ap = arg;
	const struct webhook *w = NULL;
	char kind[16], owner[NOTIFY_TARGET_MAX];
	size_t n = 0, i;
	unsigned idx;

	if (sscanf(target, "%15[^:]:%159[^:]:%u", kind, owner, &idx) != 3)
		return NULL;
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
	return w != NULL && idx < n ? w[idx].secret : NULL;
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
