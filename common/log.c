#include "log.h"

#include <cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 8192

static const char *log_service = "pki";
static enum log_level log_min = LOG_INFO;
static const char *const log_names[] = {"debug", "info", "warn", "error"};

void
log_init(const char *service)
{
	const char *lvl = getenv("PKI_LOG_LEVEL");

	log_service = service;
	if (lvl != NULL && strcmp(lvl, "debug") == 0)
		log_min = LOG_DEBUG;
}

void
log_set_level(enum log_level min)
{
	log_min = min;
}

void
log_msg(enum log_level lvl, const char *request_id, const char *fmt, ...)
{
	char msg[LOG_LINE_MAX], ts[40], *line = NULL;
	struct timeval tv;
	struct tm tm;
	cJSON *o = NULL;
	va_list ap;
	size_t n;

	if (lvl < log_min)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", (long)(tv.tv_usec / 1000));

	if ((o = cJSON_CreateObject()) == NULL)
		return;
	cJSON_AddStringToObject(o, "time", ts);
	cJSON_AddStringToObject(o, "level", log_names[lvl]);
	cJSON_AddStringToObject(o, "service", log_service);
	if (request_id != NULL)
		cJSON_AddStringToObject(o, "request_id", request_id);
	cJSON_AddStringToObject(o, "msg", msg);
	if ((line = cJSON_PrintUnformatted(o)) != NULL) {
		n = strlen(line);
		line[n] = '\n'; /* cJSON allocates n+1; the NUL becomes the newline */
		(void)!write(STDERR_FILENO, line, n + 1);
		free(line);
	}
	cJSON_Delete(o);
}
