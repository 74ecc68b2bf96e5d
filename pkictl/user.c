/* pkictl user add / password hash. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"
#include "secret.h"

#define API_KEY_BUF (4 + SECRET_API_KEY_LEN + 1)
#define HASH_TEXT_BUF 72

static const char *const roles[] = {"requester", "admin", "auditor"};

static int
check_role(const char *flag, const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(s, roles[i]) == 0)
			return 0;
	pk_err("%s: must be requester, admin or auditor, got \"%s\"", flag, s);
	return -1;
}

/* Adds list (from flag value, or empty) to obj under key; each item must name an entry of
 * array refkey by reffield. */
static int
add_refs(struct cfgfile *cf, cJSON *obj, const char *key, const char *flag, const char *value,
	 const char *refkey, const char *reffield)
{
	cJSON *arr;

	if (value == NULL)
		return cJSON_AddArrayToObject(obj, key) ? 0 : -1;
	if (parse_list(flag, value, check_id, &arr) != 0)
		return -1;
	cJSON_AddItemToObject(obj, key, arr);
	return cfgfile_check_refs(cf, flag, arr, refkey, reffield);
}

/* An admin scope flag: "*" (every one, written out) or a list of ids as add_refs. */
static int
add_scope(struct cfgfile *cf, cJSON *obj, const char *key, const char *flag, const char *value,
	  const char *refkey)
{
	cJSON *arr;

	if (value == NULL || strcmp(value, ROSTER_SCOPE_ALL) != 0)
		return add_refs(cf, obj, key, flag, value, refkey, "id");
	if ((arr = cJSON_AddArrayToObject(obj, key)) == NULL)
		return -1;
	cJSON_AddItemToArray(arr, cJSON_CreateString(ROSTER_SCOPE_ALL));
	return 0;
}

int
cmd_user_add(const struct command *cmd, int argc, char **argv)
{
	const char *name = NULL, *email = NULL, *role = NULL, *tenant = NULL, *cas = NULL;
	const char *admin_tenants = NULL, *admin_cas = NULL, *config;
	const struct flag flags[] = {
	    {"--name", "NAME", "user name ([A-Za-z0-9._-], 1..64)", &name, NULL, 1},
	    {"--email", "EMAIL", "contact address", &email, NULL, 1},
	    {"--role", "ROLE", "requester | admin | auditor", &role, NULL, 1},
	    {"--tenant", "ID", "the user's tenant", &tenant, NULL, 1},
	    {"--cas", "LIST", "CA ids the user may use beyond its tenant's", &cas, NULL, 0},
	    {"--admin-tenants", "LIST", "admins: tenants they act for, * for all (default none)",
	     &admin_tenants, NULL, 0},
	    {"--admin-cas", "LIST", "admins: CAs they act for, * for all (default none)",
	     &admin_cas, NULL, 0},
	};
	char key[API_KEY_BUF] = "", hash[HASH_TEXT_BUF];
	unsigned char digest[32];
	struct cfgfile *cf = NULL;
	cJSON *users, *u = NULL;
	int rc;

	if ((rc = args_parse(cmd, flags, sizeof(flags) / sizeof(flags[0]), argc, argv, &config)))
		return rc > 0 ? 0 : -1;
	rc = -1;
	if (check_id("--name", name) != 0 || check_email("--email", email) != 0 ||
	    check_role("--role", role) != 0 || check_id("--tenant", tenant) != 0)
		goto out;
	if (strcmp(role, "admin") != 0 && (admin_tenants != NULL || admin_cas != NULL)) {
		pk_err("%s: only allowed with --role admin, got --role %s",
		       admin_tenants ? "--admin-tenants" : "--admin-cas", role);
		goto out;
	}
	if (cfgfile_open(config, &cf) != 0 || (users = cfgfile_array(cf, "users")) == NULL)
		goto out;
	if (cfgfile_find(cf, "users", "name", name) != NULL) {
		pk_err("--name: a user named \"%s\" already exists in %s", name, config);
		goto out;
	}
	if (cfgfile_find(cf, "tenants", "id", tenant) == NULL) {
		pk_err("--tenant: no tenant with id \"%s\" in %s", tenant, config);
		goto out;
	}
	if (secret_api_key_new(key, sizeof(key)) != 0) {
		pk_err("generating the API key failed");
		goto out;
	}
	secret_api_key_hash(key, digest);
	secret_hash_format(digest, hash);
	if ((u = cJSON_CreateObject()) == NULL)
		goto out;
	cJSON_AddStringToObject(u, "name", name);
	cJSON_AddStringToObject(u, "email", email);
	cJSON_AddStringToObject(u, "role", role);
	cJSON_AddStringToObject(u, "tenant", tenant);
	cJSON_AddStringToObject(u, "api_key_hash", hash);
	if (add_refs(cf, u, "cas", "--cas", cas, "cas", "id") != 0)
		goto out;
	if (strcmp(role, "admin") == 0 &&
	    (add_scope(cf, u, "admin_tenants", "--admin-tenants", admin_tenants, "tenants") != 0 ||
	     add_scope(cf, u, "admin_cas", "--admin-cas", admin_cas, "cas") != 0))
		goto out;
	cJSON_AddItemToArray(users, u);
	u = NULL;
	if (cfgfile_commit(cf) != 0)
		goto out;
	/* The only copy: stdout gets the key alone, so scripts can capture it. */
	printf("%s\n", key);
	if (fflush(stdout) != 0) {
		pk_err("writing the API key to stdout failed");
		goto out;
	}
	pk_err("user %s added; the API key above is shown once and stored only as its SHA-256",
	       name);
	rc = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	cJSON_Delete(u);
	cfgfile_free(cf);
	return rc;
}

int
cmd_password_hash(const struct command *cmd, int argc, char **argv)
{
	const char *config;
	char *pw = NULL, hash[SECRET_HASH_MAX];
	int rc;

	if ((rc = args_parse(cmd, NULL, 0, argc, argv, &config)))
		return rc > 0 ? 0 : -1;
	rc = -1;
	if (read_secret_line(0, "password on stdin", &pw) != 0)
		goto out;
	if (secret_scrypt_hash(pw, hash, sizeof(hash)) != 0) {
		pk_err("hashing the password failed");
		goto out;
	}
	printf("%s\n", hash);
	rc = 0;
out:
	if (pw != NULL) {
		OPENSSL_cleanse(pw, strlen(pw));
		free(pw);
	}
	return rc;
}
