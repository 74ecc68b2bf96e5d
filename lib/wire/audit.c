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
	char ts[32]; /* filled below: the members hold its address */
	const struct msg_member m[] = {
	    MSG_STR_NULL("event", ev->event), MSG_STR_NULL("request_id", ev->request_id),
	    MSG_STR_NULL("actor", ev->actor), MSG_STR_NULL("tenant", ev->tenant),
	    MSG_STR_NULL("ca_id", ev->ca_id), MSG_STR_NULL("client_ip", ev->client_ip),
	    MSG_STR_NULL("time", ts),         MSG_STR_NULL("detail", ev->detail),
	};

	jsonw_now(ts);
	return msg_flat(m, sizeof(m) / sizeof(m[0]));
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
