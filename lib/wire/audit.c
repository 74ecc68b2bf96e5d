#include "audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "log.h"
#include "msg.h"

char *
audit_encode(const struct audit_event *ev)
{
	const char *const names[] = {"event", "request_id", "actor", "tenant",
				     "ca_id", "client_ip",  "time",  "detail"};
	const char *vals[] = {ev->event, ev->request_id, ev->actor, ev->tenant,
			      ev->ca_id, ev->client_ip,  NULL,      ev->detail};
	char ts[32], v[16];
	struct jsonw w = {0};
	size_t i, cap = 64;

	jsonw_now(ts);
	vals[6] = ts;
	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
		cap += strlen(names[i]) + 8 + (vals[i] != NULL ? 6 * strlen(vals[i]) : 0);
	if ((w.buf = malloc(cap)) == NULL)
		return NULL;
	w.cap = cap;
	snprintf(v, sizeof(v), "{\"v\":%d", MSG_VERSION);
	jsonw_raw(&w, v);
	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
		jsonw_field(&w, names[i], vals[i]);
	jsonw_raw(&w, "}");
	return w.buf; /* cap covers every byte escaped to six: err cannot be set */
}

/*
 * 1 for the steps between a claim and its outcome, which the outcome's own
 * line implies: on the audit topic like every event, in the log only at
 * debug level (a worker issuing thousands a second would spend more on
 * these lines than on signing).
 */
static int
audit_routine(const char *event)
{
	return strcmp(event, AUDIT_CLAIMED) == 0 || strcmp(event, AUDIT_LINTED) == 0;
}

void
audit_log(const struct audit_event *ev)
{
	log_msg(ev->quiet || audit_routine(ev->event) ? LOG_DEBUG : LOG_INFO, ev->request_id,
		"audit %s actor=%s tenant=%s ca=%s client=%s%s%s", ev->event,
		ev->actor ? ev->actor : "-", ev->tenant ? ev->tenant : "-",
		ev->ca_id ? ev->ca_id : "-", ev->client_ip ? ev->client_ip : "-",
		ev->detail ? ": " : "", ev->detail ? ev->detail : "");
}

int
audit_emit(struct kafka_producer *kp, const char *topic, const struct audit_event *ev)
{
	char *s;
	int rc = 0;

	audit_log(ev);
	if (kp == NULL)
		return 0;
	if ((s = audit_encode(ev)) == NULL)
		return -1;
	rc = kafka_produce(kp, topic, ev->request_id, s, strlen(s));
	free(s);
	return rc;
}
