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
