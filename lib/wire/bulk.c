#include "bulk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ids.h"
#include "issue.h"
#include "jfield.h"
#include "secret.h"

size_t
bulk_canonical(struct issue_msg *m, const char *key_id, char buf[BULK_CANONICAL_MAX])
{
	if (strlen(key_id) >= MSG_NAME_MAX)
		return 0;
	return msg_canonical(m, BULK_DOMAIN, key_id, buf);
}

int
bulk_sign(const unsigned char secret[BULK_SECRET_BYTES], const char *key_id, struct issue_msg *m,
	  struct bulk_auth *a)
{
	char c[BULK_CANONICAL_MAX];
	size_t n;

	if (strlen(key_id) >= sizeof(a->key_id) || (n = bulk_canonical(m, key_id, c)) == 0)
		return -1;
	snprintf(a->key_id, sizeof(a->key_id), "%s", key_id);
	return secret_hmac_hex(secret, BULK_SECRET_BYTES, c, n, a->sig) == 0 ? 0 : -1;
}

int
bulk_verify(const unsigned char secret[BULK_SECRET_BYTES], struct issue_msg *m,
	    const struct bulk_auth *a)
{
	struct bulk_auth want;

	if (bulk_sign(secret, a->key_id, m, &want) < 0)
		return 0;
	return strlen(a->sig) == 64 && secret_equal(want.sig, a->sig, 64);
}

char *
bulk_encode(const struct issue_msg *m, const struct bulk_auth *a)
{
	struct issue_msg copy = *m;
	cJSON *o, *auth;
	char *s = NULL;

	copy.email = copy.client_ip = NULL;
	copy.has_grant = 0;
	if ((o = msg_issue_to_json(&copy)) == NULL)
		return NULL;
	cJSON_DeleteItemFromObjectCaseSensitive(o, "submitted_at");
	if (m->tenant == NULL)
		cJSON_DeleteItemFromObjectCaseSensitive(o, "tenant");
	if (m->requester == NULL)
		cJSON_DeleteItemFromObjectCaseSensitive(o, "requester");
	if ((auth = cJSON_AddObjectToObject(o, "auth")) != NULL &&
	    cJSON_AddStringToObject(auth, "key_id", a->key_id) != NULL &&
	    cJSON_AddStringToObject(auth, "alg", BULK_ALG) != NULL &&
	    cJSON_AddStringToObject(auth, "sig", a->sig) != NULL)
		s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static const char *
bulk_rule_alg(const char *s)
{
	return strcmp(s, BULK_ALG) == 0 ? NULL : "must be \"" BULK_ALG "\"";
}

/* Reads the auth member of o into a, with the decoders' field checks (jfield.h). 0 or -1 with err. */
static int
bulk_auth_from_json(const cJSON *o, struct bulk_auth *a, char *err)
{
	static const char *const keys[] = {"key_id", "alg", "sig", NULL};
	const struct jfield j = {.err = err, .errlen = MSG_ERR_MAX, .prefix = ""};
	const cJSON *auth;
	const char *id, *alg, *sig;

	if (jfield_member(&j, o, "", "auth", JF_REQUIRED, &auth) < 0 ||
	    jfield_keys(&j, auth, "auth", keys) < 0 ||
	    jfield_str(&j, auth, "auth", "key_id", JF_REQUIRED, ID_MAX, id_rule, &id) < 0 ||
	    jfield_str(&j, auth, "auth", "alg", JF_REQUIRED, 0, bulk_rule_alg, &alg) < 0 ||
	    jfield_str(&j, auth, "auth", "sig", JF_REQUIRED, 0, msg_rule_hex64, &sig) < 0)
		return -1;
	snprintf(a->key_id, sizeof(a->key_id), "%s", id);
	snprintf(a->sig, sizeof(a->sig), "%s", sig);
	return 0;
}

int
bulk_decode(const void *buf, size_t len, struct issue_msg **out, struct bulk_auth *a, char *err)
{
	static const char *const extra[] = {"auth", NULL};
	cJSON *o = msg_parse(buf, len, err);
	int rc = -1;

	if (o == NULL)
		return -1;
	if (msg_bulk_from_json(o, extra, out, err) == 0) {
		if (bulk_auth_from_json(o, a, err) == 0)
			rc = 0;
		else {
			msg_issue_free(*out);
			*out = NULL;
		}
	}
	cJSON_Delete(o);
	return rc;
}
