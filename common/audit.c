#include "audit.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "log.h"
#include "msg.h"

static void
audit_add(cJSON *o, const char *name, const char *value)
{
	if (value != NULL)
		cJSON_AddStringToObject(o, name, value);
	else
		cJSON_AddNullToObject(o, name);
}

char *
audit_encode(const struct audit_event *ev)
{
	char ts[40], *s = NULL;
	struct timeval tv;
	struct tm tm;
	cJSON *o;
	size_t n;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
	if ((o = cJSON_CreateObject()) == NULL)
		return NULL;
	cJSON_AddNumberToObject(o, "v", MSG_VERSION);
	audit_add(o, "event", ev->event);
	audit_add(o, "request_id", ev->request_id);
	audit_add(o, "actor", ev->actor);
	audit_add(o, "tenant", ev->tenant);
	audit_add(o, "ca_id", ev->ca_id);
	audit_add(o, "client_ip", ev->client_ip);
	audit_add(o, "time", ts);
	audit_add(o, "detail", ev->detail);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

int
audit_emit(struct kafka_producer *kp, const char *topic, const struct audit_event *ev)
{
	char *s;
	int rc = 0;

	log_msg(LOG_INFO, ev->request_id, "audit %s actor=%s tenant=%s ca=%s client=%s%s%s",
		ev->event, ev->actor ? ev->actor : "-", ev->tenant ? ev->tenant : "-",
		ev->ca_id ? ev->ca_id : "-", ev->client_ip ? ev->client_ip : "-",
		ev->detail ? ": " : "", ev->detail ? ev->detail : "");
	if (kp == NULL)
		return 0;
	if ((s = audit_encode(ev)) == NULL)
		return -1;
	rc = kafka_produce(kp, topic, ev->request_id, s, strlen(s));
	free(s);
	return rc;
}
