/* pkictl init / tenant add. init also makes the infrastructure CA and Kafka TLS (kafka.c). */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "extern.h"
#include "namepol.h"

#define CONFIG_DIR_MODE 0700
#define GRANT_KEY_FILE "grant.key"
#define REDIS_SCHEME "redis://"
#define DEFAULT_GATEWAY_LISTEN "127.0.0.1:8080"
#define DEFAULT_APPROVER_LISTEN "127.0.0.1:8081"
#define DEFAULT_KAFKA_BROKERS "127.0.0.1:19092"
#define DEFAULT_KAFKA_GROUP "pki-workers"
#define DEFAULT_REDIS_URL "redis://127.0.0.1:16379/0"
#define DEFAULT_REDIS_PREFIX "pki:"

/* Topic names of DESIGN.md. */
static const char *const topics[][2] = {
    {"issue", "pki.issue"},   {"approval", "pki.approval"}, {"results", "pki.results"},
    {"issued", "pki.issued"}, {"audit", "pki.audit"},       {"notify", "pki.notify"},
    {"dlq", "pki.issue.dlq"}, {"submit", "pki.submit"},
};

/* "redis://HOST:PORT[/DB]". */
static int
check_redis_url(const char *flag, const char *s)
{
	char hostport[256];
	size_t n;

	if (strncmp(s, REDIS_SCHEME, strlen(REDIS_SCHEME)) != 0) {
		pk_err("%s: must be %sHOST:PORT[/DB], got \"%s\"", flag, REDIS_SCHEME, s);
		return -1;
	}
	s += strlen(REDIS_SCHEME);
	n = strcspn(s, "/");
	if (n >= sizeof(hostport)) {
		pk_err("%s: host too long", flag);
		return -1;
	}
	memcpy(hostport, s, n);
	hostport[n] = '\0';
	return check_hostport(flag, hostport);
}

/* Writes CONFIG_GRANT_KEY_BYTES random bytes to a new file of mode 0600. */
static int
grant_key_write(const char *path)
{
	unsigned char key[CONFIG_GRANT_KEY_BYTES];
	int rc;

	if (RAND_bytes(key, sizeof(key)) != 1) {
		pk_sslerr("RAND_bytes");
		return -1;
	}
	rc = file_write_new(path, key, sizeof(key), SECRET_FILE_MODE);
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

static cJSON *
init_document(const char *gw, const char *ap, const char *brokers, const char *group,
	      const char *redis, const char *prefix)
{
	cJSON *root = cJSON_CreateObject(), *o, *t;
	size_t i;

	if (root == NULL)
		return NULL;
	o = cJSON_AddObjectToObject(root, "listen");
	cJSON_AddStringToObject(o, "gateway", gw);
	cJSON_AddStringToObject(o, "approver", ap);
	o = cJSON_AddObjectToObject(root, "kafka");
	cJSON_AddStringToObject(o, "brokers", brokers);
	cJSON_AddStringToObject(o, "group", group);
	t = cJSON_AddObjectToObject(o, "topics");
	for (i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
		cJSON_AddStringToObject(t, topics[i][0], topics[i][1]);
	o = cJSON_AddObjectToObject(root, "redis");
	cJSON_AddStringToObject(o, "url", redis);
	cJSON_AddStringToObject(o, "prefix", prefix);
	cJSON_AddStringToObject(root, "grant_key", GRANT_KEY_FILE);
	cJSON_AddArrayToObject(root, "tenants");
	cJSON_AddArrayToObject(root, "cas");
	cJSON_AddArrayToObject(root, "users");
	return root;
}

int
cmd_init(const struct command *cmd, int argc, char **argv)
{
	const char *gw = DEFAULT_GATEWAY_LISTEN, *ap = DEFAULT_APPROVER_LISTEN;
	const char *brokers = DEFAULT_KAFKA_BROKERS, *group = DEFAULT_KAFKA_GROUP;
	const char *redis = DEFAULT_REDIS_URL, *prefix = DEFAULT_REDIS_PREFIX, *config;
	const struct flag flags[] = {
	    {"--gateway-listen", "HOST:PORT",
	     "gateway address (default " DEFAULT_GATEWAY_LISTEN ")", &gw, NULL, 0},
	    {"--approver-listen", "HOST:PORT",
	     "approver address (default " DEFAULT_APPROVER_LISTEN ")", &ap, NULL, 0},
	    {"--kafka-brokers", "LIST", "HOST:PORT,... (default " DEFAULT_KAFKA_BROKERS ")",
	     &brokers, NULL, 0},
	    {"--kafka-group", "NAME", "worker consumer group (default " DEFAULT_KAFKA_GROUP ")",
	     &group, NULL, 0},
	    {"--redis-url", "URL", "redis://HOST:PORT/DB (default " DEFAULT_REDIS_URL ")", &redis,
	     NULL, 0},
	    {"--redis-prefix", "PREFIX", "Redis key prefix (default " DEFAULT_REDIS_PREFIX ")",
	     &prefix, NULL, 0},
	};
	struct cfgfile *cf = NULL;
	cJSON *root = NULL, *list = NULL;
	char *grant = NULL;
	int rc;

	if ((rc = args_parse(cmd, flags, sizeof(flags) / sizeof(flags[0]), argc, argv, &config)))
		return rc > 0 ? 0 : -1;
	rc = -1;
	if (check_hostport("--gateway-listen", gw) != 0 ||
	    check_hostport("--approver-listen", ap) != 0 ||
	    parse_list("--kafka-brokers", brokers, check_hostport, &list) != 0 ||
	    check_id("--kafka-group", group) != 0 || check_redis_url("--redis-url", redis) != 0 ||
	    check_text("--redis-prefix", prefix, CONFIG_PREFIX_MAX) != 0)
		goto out;
	if ((root = init_document(gw, ap, brokers, group, redis, prefix)) == NULL)
		goto out;
	if (cfgfile_new(config, root, &cf) != 0) {
		root = NULL;
		goto out;
	}
	root = NULL;
	if ((grant = cfgfile_resolve(cf, GRANT_KEY_FILE)) == NULL)
		goto out;
	if (access(grant, F_OK) == 0) {
		pk_err("--config: %s already exists beside the new config; refusing to replace it",
		       grant);
		goto out;
	}
	if (mkdirs(cf->dir, CONFIG_DIR_MODE) != 0 || grant_key_write(grant) != 0)
		goto out;
	if (cfgfile_track(cf, grant) != 0) {
		unlink(grant);
		goto out;
	}
	if (redis_users_init(cf, cJSON_GetObjectItemCaseSensitive(cf->root, "redis"), prefix) != 0)
		goto out;
	if (kafka_setup(cf) != 0 || cfgfile_commit(cf) != 0)
		goto out;
	pk_err("config written: %s (grant key %s, Redis users in redis/, Kafka certificates in "
	       "kafka/, mode 0600)",
	       config, grant);
	rc = 0;
out:
	cJSON_Delete(list);
	cJSON_Delete(root);
	free(grant);
	cfgfile_free(cf);
	return rc;
}

static int
check_organization(const char *flag, const char *s)
{
	return check_text(flag, s, PKICTL_ORG_MAX);
}

/* Kinds of the --names-KIND and --deny-KIND flags, in enum name_kind order. */
static const char *const name_kinds[] = {"dns", "ip", "email", "uri"};
#define NAME_KINDS (sizeof(name_kinds) / sizeof(name_kinds[0]))

/* One --names-KIND / --deny-KIND item: the config's rule for that kind (the flag's suffix). */
static int
check_name_entry(const char *flag, const char *item)
{
	const char *kind = strrchr(flag, '-') + 1, *rule = "unknown kind";
	size_t k;

	for (k = 0; k < NAME_KINDS; k++)
		if (strcmp(kind, name_kinds[k]) == 0)
			rule = namepol_entry_rule((enum name_kind)k, item);
	if (rule == NULL)
		return 0;
	pk_err("%s: %s, got \"%s\"", flag, rule, item);
	return -1;
}

/* Adds {"dns": [...], ...} of the flags' lists (each may be NULL: empty) to obj under key. */
static int
name_lists_add(cJSON *obj, const char *key, const char *prefix, const char *const *lists)
{
	char flag[32];
	cJSON *o = cJSON_AddObjectToObject(obj, key), *arr;
	size_t k;

	for (k = 0; o != NULL && k < NAME_KINDS; k++) {
		if (lists[k] == NULL) {
			if (cJSON_AddArrayToObject(o, name_kinds[k]) == NULL)
				return -1;
			continue;
		}
		snprintf(flag, sizeof(flag), "%s-%s", prefix, name_kinds[k]);
		if (parse_list(flag, lists[k], check_name_entry, &arr) != 0)
			return -1;
		cJSON_AddItemToObject(o, name_kinds[k], arr);
	}
	return o == NULL ? -1 : 0;
}

/* 1 if any of the n lists is given. */
static int
any_given(const char *const *lists, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++)
		if (lists[k] != NULL)
			return 1;
	return 0;
}

int
cmd_tenant_add(const struct command *cmd, int argc, char **argv)
{
	const char *id = NULL, *name = NULL, *orgs = NULL, *config;
	const char *allow[NAME_KINDS] = {NULL}, *deny[NAME_KINDS] = {NULL};
	int wildcards = 0;
	const struct flag flags[] = {
	    {"--id", "ID", "tenant id ([A-Za-z0-9._-], 1..64)", &id, NULL, 1},
	    {"--name", "NAME", "display name", &name, NULL, 1},
	    {"--organizations", "LIST", "the O values its certificates may carry", &orgs, NULL, 0},
	    {"--names-dns", "LIST", "DNS names it may have: domain (and names under it), =name, *",
	     &allow[NK_DNS], NULL, 0},
	    {"--names-ip", "LIST", "IP ranges it may have: address/prefix, *", &allow[NK_IP], NULL,
	     0},
	    {"--names-email", "LIST", "e-mail domains it may have, *", &allow[NK_EMAIL], NULL, 0},
	    {"--names-uri", "LIST", "URI prefixes it may have, *", &allow[NK_URI], NULL, 0},
	    {"--names-wildcards", NULL, "*.domain names allowed where all they cover is", NULL,
	     &wildcards, 0},
	    {"--deny-dns", "LIST", "DNS names refused even when allowed", &deny[NK_DNS], NULL, 0},
	    {"--deny-ip", "LIST", "IP ranges refused", &deny[NK_IP], NULL, 0},
	    {"--deny-email", "LIST", "e-mail domains refused", &deny[NK_EMAIL], NULL, 0},
	    {"--deny-uri", "LIST", "URI prefixes refused", &deny[NK_URI], NULL, 0},
	};
	struct cfgfile *cf = NULL;
	cJSON *tenants, *t = NULL, *arr = NULL, *names;
	int rc;

	if ((rc = args_parse(cmd, flags, sizeof(flags) / sizeof(flags[0]), argc, argv, &config)))
		return rc > 0 ? 0 : -1;
	rc = -1;
	if (check_id("--id", id) != 0 || check_text("--name", name, PKICTL_NAME_MAX) != 0 ||
	    cfgfile_open(config, &cf) != 0 || (tenants = cfgfile_array(cf, "tenants")) == NULL)
		goto out;
	if (cfgfile_find(cf, "tenants", "id", id) != NULL) {
		pk_err("--id: a tenant with id \"%s\" already exists in %s", id, config);
		goto out;
	}
	if (cfgfile_find(cf, "tenants", "name", name) != NULL) {
		pk_err("--name: a tenant named \"%s\" already exists in %s (names must be unique)",
		       name, config);
		goto out;
	}
	if (orgs != NULL && parse_list("--organizations", orgs, check_organization, &arr) != 0)
		goto out;
	if ((t = cJSON_CreateObject()) == NULL)
		goto out;
	cJSON_AddStringToObject(t, "id", id);
	cJSON_AddStringToObject(t, "name", name);
	cJSON_AddArrayToObject(t, "webhooks");
	if (arr != NULL) {
		cJSON_AddItemToObject(t, "organizations", arr);
		arr = NULL;
	}
	/* Without names the tenant may have none (fail closed); --check-config says so. */
	if ((any_given(allow, NAME_KINDS) || any_given(deny, NAME_KINDS) || wildcards) &&
	    ((names = cJSON_AddObjectToObject(t, "names")) == NULL ||
	     name_lists_add(names, "allow", "--names", allow) != 0 ||
	     name_lists_add(names, "deny", "--deny", deny) != 0 ||
	     cJSON_AddBoolToObject(names, "wildcards", wildcards) == NULL))
		goto out;
	cJSON_AddItemToArray(tenants, t);
	t = NULL;
	if (cfgfile_commit(cf) != 0)
		goto out;
	pk_err("tenant %s added", id);
	rc = 0;
out:
	cJSON_Delete(arr);
	cJSON_Delete(t);
	cfgfile_free(cf);
	return rc;
}
