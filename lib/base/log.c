#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jsonw.h"

#define LOG_LINE_MAX 8192
/* A line: the message with every byte escaped to six, plus the other fields. */
#define LOG_JSON_MAX (6 * LOG_LINE_MAX + 512)

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

/* Writes the line into w (from its start). */
static void
log_line(struct jsonw *w, const char *ts, enum log_level lvl, const char *request_id,
	 const char *msg)
{
	w->len = 0;
	w->err = 0;
	jsonw_raw(w, "{");
	jsonw_field(w, "time", ts);
	jsonw_field(w, "level", log_names[lvl]);
	jsonw_field(w, "service", log_service);
	if (request_id != NULL)
		jsonw_field(w, "request_id", request_id);
	jsonw_field(w, "msg", msg);
	jsonw_raw(w, "}");
}

void
log_msg(enum log_level lvl, const char *request_id, const char *fmt, ...)
{
	char msg[LOG_LINE_MAX], ts[32], line[2 * LOG_LINE_MAX], *big = NULL;
	struct jsonw w = {line, sizeof(line) - 1, 0, 0}; /* room for the newline */
	va_list ap;

	if (lvl < log_min)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	jsonw_now(ts);
	log_line(&w, ts, lvl, request_id, msg);
	if (w.err && (big = malloc(LOG_JSON_MAX)) != NULL) { /* many bytes escaped */
		w.buf = big;
		w.cap = LOG_JSON_MAX - 1;
		log_line(&w, ts, lvl, request_id, msg);
	}
	if (w.err) /* an outsized request id: the line without it */
		log_line(&w, ts, lvl, NULL, msg);
	if (!w.err) { /* only out of memory with a message of control characters */
		w.buf[w.len] = '\n';
		(void)!write(STDERR_FILENO, w.buf, w.len + 1);
	}
	free(big);
}
