#include "jsonw.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static void
jsonw_put(struct jsonw *w, const char *s, size_t n)
{
	if (w->err || w->len + n >= w->cap) {
		w->err = 1;
		return;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

void
jsonw_raw(struct jsonw *w, const char *s)
{
	jsonw_put(w, s, strlen(s));
}

void
jsonw_str(struct jsonw *w, const char *s)
{
	const unsigned char *p, *run;
	char esc[8];

	if (s == NULL) {
		jsonw_put(w, "null", 4);
		return;
	}
	jsonw_put(w, "\"", 1);
	for (p = run = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p >= 0x20 && *p != '"' && *p != '\\')
			continue;
		jsonw_put(w, (const char *)run, (size_t)(p - run));
		switch (*p) {
		case '"':
			jsonw_put(w, "\\\"", 2);
			break;
		case '\\':
			jsonw_put(w, "\\\\", 2);
			break;
		case '\b':
			jsonw_put(w, "\\b", 2);
			break;
		case '\f':
			jsonw_put(w, "\\f", 2);
			break;
		case '\n':
			jsonw_put(w, "\\n", 2);
			break;
		case '\r':
			jsonw_put(w, "\\r", 2);
			break;
		case '\t':
			jsonw_put(w, "\\t", 2);
			break;
		default:
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			jsonw_put(w, esc, 6);
		}
		run = p + 1;
	}
	jsonw_put(w, (const char *)run, (size_t)(p - run));
	jsonw_put(w, "\"", 1);
}

void
jsonw_field(struct jsonw *w, const char *name, const char *s)
{
	if (w->len > 0 && w->buf[w->len - 1] != '{')
		jsonw_put(w, ",", 1);
	jsonw_str(w, name);
	jsonw_put(w, ":", 1);
	jsonw_str(w, s);
}

void
jsonw_now(char out[32])
{
	/* strftime only when the second changes: this runs for every log line. */
	static __thread time_t sec = -1;
	static __thread char prefix[24];
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	if (tv.tv_sec != sec) {
		gmtime_r(&tv.tv_sec, &tm);
		strftime(prefix, sizeof(prefix), "%Y-%m-%dT%H:%M:%S", &tm);
		sec = tv.tv_sec;
	}
	snprintf(out, 32, "%s.%03dZ", prefix, (int)(tv.tv_usec / 1000));
}
