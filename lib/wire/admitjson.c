#include "admitjson.h"

#include <stdlib.h>

/* [{code, field, message}...] of the n violations v, or NULL without memory. */
static cJSON *
violation_array(const struct violation *vv, size_t n)
{
	cJSON *a = cJSON_CreateArray(), *v;
	size_t i;

	if (a == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if ((v = cJSON_CreateObject()) == NULL)
			goto fail;
		cJSON_AddItemToArray(a, v);
		if (cJSON_AddStringToObject(v, "code", vv[i].code) == NULL ||
		    cJSON_AddStringToObject(v, "field", vv[i].field) == NULL ||
		    cJSON_AddStringToObject(v, "message", vv[i].message) == NULL)
			goto fail;
	}
	return a;
fail:
	cJSON_Delete(a);
	return NULL;
}

cJSON *
admit_violations_json(const struct violations *vs)
{
	cJSON *o = cJSON_CreateObject(), *a = violation_array(vs->v, vs->n);

	if (o == NULL || a == NULL) {
		cJSON_Delete(o);
		cJSON_Delete(a);
		return NULL;
	}
	cJSON_AddItemToObject(o, "violations", a);
	return o;
}

char *
admit_warnings_text(const struct subject_notes *notes)
{
	cJSON *a = violation_array(notes->warnings, notes->nwarnings);
	char *s = a != NULL ? cJSON_PrintUnformatted(a) : NULL;

	cJSON_Delete(a);
	return s;
}
