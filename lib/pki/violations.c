/* Violations: the list every check of the issuance core adds its findings to. */
#include <stdarg.h>
#include <stdio.h>

#include "issue.h"

void
violation_vset(struct violation *v, const char *code, const char *field, const char *fmt,
	       va_list ap)
{
	v->code = code;
	snprintf(v->field, sizeof(v->field), "%s", field);
	vsnprintf(v->message, sizeof(v->message), fmt, ap);
}

void
violations_add(struct violations *vs, const char *code, const char *field, const char *fmt, ...)
{
	struct violation *v;
	va_list ap;

	if (vs == NULL)
		return;
	if (vs->n >= VIOLATION_MAX) {
		vs->dropped++;
		return;
	}
	v = &vs->v[vs->n++];
	va_start(ap, fmt);
	violation_vset(v, code, field, fmt, ap);
	va_end(ap);
}
