/*
 * Audit events: one JSON object per stage of a request, produced to the
 * audit topic (key request id) and written to the log (claimed and linted,
 * and any event marked quiet, which the outcome's line implies, at debug
 * level only).
 *
 *   {"v":1, "event", "request_id", "actor", "tenant", "ca_id", "client_ip",
 *    "time" (RFC 3339 UTC, ms), "detail"}   (absent values are null)
 */
#ifndef PKI_AUDIT_H
#define PKI_AUDIT_H

#include "kafka.h"

/* Every event name the processes use; schemas/audit.schema.json lists the same. */
#define AUDIT_RECEIVED "received"
#define AUDIT_REJECTED "rejected"
#define AUDIT_CA_SELECTED "ca_selected"
#define AUDIT_PENDING "pending_approval"
#define AUDIT_QUEUED "queued"
#define AUDIT_CLAIMED "claimed"
#define AUDIT_LINTED "linted"
#define AUDIT_ISSUED "issued"
#define AUDIT_FAILED "failed"
#define AUDIT_APPROVED "approved"
#define AUDIT_EXPIRED "expired"
#define AUDIT_PASSWORD_WRONG "approval_password_wrong" /* approver */
#define AUDIT_APPROVAL_GIVEN "approval_given"          /* one admin's approval, more needed */
#define AUDIT_DECISION_REFUSED "decision_refused"
#define AUDIT_NOTIFICATION "notification"
#define AUDIT_WEBHOOK "webhook_delivery"
#define AUDIT_ADMIN_LOGIN "admin_login"
#define AUDIT_ADMIN_LOGOUT "admin_logout"
#define AUDIT_BULK_REFUSED "bulk_refused" /* worker: a bulk message refused before admission */

struct audit_event {
	const char *event;
	const char *request_id;
	const char *actor; /* user name, or the process for system steps */
	const char *tenant;
	const char *ca_id;
	const char *client_ip;
	const char *detail; /* reason, code or note; may be NULL */
	int quiet;          /* logged at debug level only (its outcome's line implies it) */
};

/* ev as the JSON text above (caller frees), NULL when out of memory. */
char *audit_encode(const struct audit_event *ev);

/* Writes ev to the log (at debug level when quiet or routine). */
void audit_log(const struct audit_event *ev);

/*
 * Logs ev and queues it on topic through kp (without waiting; kp may be NULL
 * to only log). Returns 0 when queued (or only logged), -1 when the producer
 * refused it (still logged).
 */
int audit_emit(struct kafka_producer *kp, const char *topic, const struct audit_event *ev);

#endif
