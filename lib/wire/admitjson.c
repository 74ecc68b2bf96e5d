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

int
admit_san_add(cJSON *a, const char *type, const char *value)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL || !cJSON_AddItemToArray(a, o) ||
	    cJSON_AddStringToObject(o, "type", type) == NULL ||
	    cJSON_AddStringToObject(o, "value", value) == NULL)
		return -1;
	return 0;
}

char *
admit_sans_text(const struct csr_info *ci)
{
	const char *const *lists[] = {ci->dns_sans, ci->ip_sans, ci->email_sans, ci->uri_sans};
	static const char *const types[] = {SAN_TYPE_DNS, SAN_TYPE_IP, SAN_TYPE_EMAIL,
					    SAN_TYPE_URI};
	const char *const *v;
	cJSON *a = cJSON_CreateArray();
	char *s = NULL;
	size_t k;

	for (k = 0; a != NULL && k < sizeof(types) / sizeof(types[0]); k++)
		for (v = lists[k]; v != NULL && *v != NULL; v++)
			if (admit_san_add(a, types[k], *v) != 0)
				goto out;
	if (a != NULL)
		s = cJSON_PrintUnformatted(a);
out:
	cJSON_Delete(a);
	return s;
}
