#include "admitjson.h"

cJSON *
admit_violations_json(const struct violations *vs)
{
	cJSON *o = cJSON_CreateObject(), *a, *v;
	size_t i;

	if (o == NULL || (a = cJSON_AddArrayToObject(o, "violations")) == NULL)
		goto fail;
	for (i = 0; i < vs->n; i++) {
		if ((v = cJSON_CreateObject()) == NULL)
			goto fail;
		cJSON_AddItemToArray(a, v);
		if (cJSON_AddStringToObject(v, "code", vs->v[i].code) == NULL ||
		    cJSON_AddStringToObject(v, "field", vs->v[i].field) == NULL ||
		    cJSON_AddStringToObject(v, "message", vs->v[i].message) == NULL)
			goto fail;
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}
