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
	/* Escaped by letter; every other byte below 0x20 as \u00XX. */
	static const char plain[] = "\"\\\b\f\n\r\t", letter[] = "\"\\bfnrt";
	const unsigned char *p, *run;
	const char *e;
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
		if ((e = strchr(plain, *p)) != NULL) {
			esc[0] = '\\';
			esc[1] = letter[e - plain];
			jsonw_put(w, esc, 2);
		} else {
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
