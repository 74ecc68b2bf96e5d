/* Violations: the list every check of the issuance core adds its findings to. */
#include <stdarg.h>
#include <stdio.h>

#include "issue.h"

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
	v->code = code;
	snprintf(v->field, sizeof(v->field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(v->message, sizeof(v->message), fmt, ap);
	va_end(ap);
}
