/* Violations: the list every check of the issuance core adds its findings to. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "issue.h"

void
violation_vset(struct violation *v, const char *code, const char *field, const char *fmt,
	       va_list ap)
{
	char *p;

	v->code = code;
	snprintf(v->field, sizeof(v->field), "%s", field);
	vsnprintf(v->message, sizeof(v->message), fmt, ap);
	/* The message quotes what the CSR holds, or was cut mid-character: the answer is UTF-8. */
	if (!str_utf8_valid((const unsigned char *)v->message, strlen(v->message)))
		for (p = v->message; *p != '\0'; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
}

struct violations *
violations_new(void)
{
	struct violations *vs = malloc(sizeof(*vs));

	if (vs != NULL)
		violations_clear(vs);
	return vs;
}

void
violations_clear(struct violations *vs)
{
	vs->n = vs->dropped = 0;
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
