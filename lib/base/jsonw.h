/*
 * Writing small JSON objects straight into a caller's buffer, for the lines
 * written on every request (log lines, audit events), where building a cJSON
 * tree would cost more than the rest of the line.
 */
#ifndef PKI_JSONW_H
#define PKI_JSONW_H

#include <stddef.h>

/* A buffer being written; once a write did not fit, err is set and stays set. */
struct jsonw {
	char *buf;
	size_t cap, len;
	int err;
};

/* Appends s as is (no quoting). */
void jsonw_raw(struct jsonw *w, const char *s);
/* Appends s as a JSON string, quoted and escaped as cJSON does; NULL gives null. */
void jsonw_str(struct jsonw *w, const char *s);
/* Appends ,"name":value (or "name":value first in the object, after "{"). */
void jsonw_field(struct jsonw *w, const char *name, const char *s);
/* Current time as RFC 3339 UTC with milliseconds ("2026-01-02T03:04:05.678Z"). */
void jsonw_now(char out[32]);

#endif
