/* GET /cas and GET /csr/ca-template/{caId}. */
#include <string.h>

#include "gateway.h"
#include "issue.h"
#include "namepol.h"

static void
json_add_strn(cJSON *o, const char *name, const char *v)
{
	if (v != NULL)
		cJSON_AddStringToObject(o, name, v);
	else
		cJSON_AddNullToObject(o, name);
}

cJSON *
gateway_ca_json(const struct ca *ca)
{
	static const struct {
		unsigned bit;
		const char *name;
	} curves[] = {{CURVE_P256, "P-256"}, {CURVE_P384, "P-384"}, {CURVE_P521, "P-521"}};
	static const struct {
		unsigned bit;
		int bits;
	} sizes[] = {{RSA_2048, 2048}, {RSA_3072, 3072}, {RSA_4096, 4096}};
	cJSON *o = cJSON_CreateObject(), *a;
	unsigned bit;
	size_t i;

	cJSON_AddStringToObject(o, "id", ca->id);
	cJSON_AddStringToObject(o, "name", ca->name);
	json_add_strn(o, "common_name", ca->common_name);
	json_add_strn(o, "organization", ca->organization);
	json_add_strn(o, "country", ca->country);
	cJSON_AddBoolToObject(o, "requires_manual_approval", ca->requires_manual_approval);
	cJSON_AddNumberToObject(o, "max_validity_days", ca->max_validity_days);
	a = cJSON_AddArrayToObject(o, "allowed_key_sizes");
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		if (ca->allowed_key_sizes & sizes[i].bit)
			cJSON_AddItemToArray(a, cJSON_CreateNumber(sizes[i].bits));
	a = cJSON_AddArrayToObject(o, "allowed_extensions");
	for (bit = EXT_SERVER_AUTH; bit <= EXT_CODE_SIGNING; bit <<= 1)
		if (ca->allowed_extensions & bit)
			cJSON_AddItemToArray(a, cJSON_CreateString(ext_name(bit)));
	a = cJSON_AddArrayToObject(o, "allowed_key_types");
	for (bit = KT_RSA; bit <= KT_ED25519; bit <<= 1)
		if (ca->allowed_key_types & bit)
			cJSON_AddItemToArray(a, cJSON_CreateString(key_type_name(bit)));
	a = cJSON_AddArrayToObject(o, "allowed_curves");
	for (i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
		if (ca->allowed_curves & curves[i].bit)
			cJSON_AddItemToArray(a, cJSON_CreateString(curves[i].name));
	return o;
}

/* Adds {"dns": [...], "ip": [...], "email": [...], "uri": [...]} of nl to o under name. */
static void
json_add_name_lists(cJSON *o, const char *name, const struct name_lists *nl)
{
	static const char *const kinds[] = {"dns", "ip", "email", "uri"};
	char **const lists[] = {nl->dns, nl->ip, nl->email, nl->uri};
	cJSON *l = cJSON_AddObjectToObject(o, name), *a;
	size_t i, j;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		a = cJSON_AddArrayToObject(l, kinds[i]);
		for (j = 0; lists[i] != NULL && lists[i][j] != NULL; j++)
			cJSON_AddItemToArray(a, cJSON_CreateString(lists[i][j]));
	}
}

/*
 * Adds "names": what a user of tenant may request from ca (namepol_effective).
 * Returns 0, or -1 when out of memory.
 */
static int
json_add_names(cJSON *o, const struct config *cfg, const char *tenant, const struct ca *ca)
{
	struct roster ro = config_roster(cfg);
	struct name_policy np;
	cJSON *n;

	if (namepol_effective(roster_tenant_find(&ro, tenant), ca, &np) < 0)
		return -1;
	n = cJSON_AddObjectToObject(o, "names");
	json_add_name_lists(n, "allow", &np.allow);
	json_add_name_lists(n, "deny", &np.deny);
	cJSON_AddBoolToObject(n, "wildcards", np.wildcards);
	namepol_free(&np);
	return 0;
}

/* 1 if u may request certificates from ca through the API. */
static int
gateway_ca_usable(const struct user *u, const struct ca *ca)
{
	return ca->type == CA_INTERMEDIATE && ca->status == CA_ACTIVE && ca->api_issuance &&
	       roster_user_may_use(u, ca);
}

void
gateway_cas(struct gateway *gw, struct http_req *req)
{
	const struct user *u = gateway_auth(gw, req);
	cJSON *o, *a;
	size_t i;

	if (u == NULL)
		return;
	o = cJSON_CreateObject();
	a = cJSON_AddArrayToObject(o, "cas");
	for (i = 0; i < gw->cfg->ncas; i++)
		if (gateway_ca_usable(u, &gw->cfg->cas[i]))
			cJSON_AddItemToArray(a, gateway_ca_json(&gw->cfg->cas[i]));
	http_reply_json(req, 200, o, NULL);
	cJSON_Delete(o);
}

void
gateway_ca_template(struct gateway *gw, struct http_req *req, const char *ca_id)
{
	const struct user *u = gateway_auth(gw, req);
	const struct ca *ca;
	cJSON *o;

	if (u == NULL)
		return;
	ca = config_ca_find(gw->cfg, ca_id);
	/* Unknown and not-yours look the same: other tenants' CAs are not revealed. */
	if (ca == NULL || !roster_user_may_use(u, ca)) {
		http_reply_error(req, 404, "ca_not_found", "caId", NULL, NULL,
				 "no CA \"%.64s\" available to user %s", ca_id, u->name);
		return;
	}
	o = gateway_ca_json(ca);
	if (json_add_names(o, gw->cfg, u->tenant, ca) < 0) {
		cJSON_Delete(o);
		http_reply_error(req, 500, "internal", NULL, NULL, NULL, "out of memory");
		return;
	}
	http_reply_json(req, 200, o, NULL);
	cJSON_Delete(o);
}
