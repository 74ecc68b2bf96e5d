/*
 * Configuration loader. Every key is one row of a table (name, type, bounds,
 * default, where it is stored, validator, environment override), sections
 * and array items are tables too, and one walker parses the file with them.
 * The file is validated whole before anything is used: shape and values
 * first (the table order), then references between sections, then the files
 * it names (certificates, keys, grant key), then environment overrides. The
 * first problem stops loading with exactly one message
 * "file: json.path: rule, got value" (docs/config.md), written by jfield.
 */
#include "config.h"
#include "ids.h"

#include <arpa/inet.h>
#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config_int.h"
#include "issue.h"
#include "jfield.h"
#include "namepol.h"
#include "secret.h"

#define CONFIG_FILE_MAX (4 * 1024 * 1024)
#define CONFIG_TOPIC_MAX 249 /* Kafka's own limit */
#define CONFIG_PORT_MAX 65535
#define CONFIG_SECTION_KEYS_MAX 32 /* keys of the largest object (a CA) */
#define DEFAULT_CONFIG_PATH "var/demo/config.json"

static const char *const service_names[SERVICE_COUNT] = {"gateway", "worker", "approver"};

#define DEFAULT_KEY_TYPES (KT_RSA | KT_EC)
#define DEFAULT_KEY_SIZES (RSA_2048 | RSA_4096)
#define DEFAULT_CURVES (CURVE_P256 | CURVE_P384)
#define DEFAULT_EXTENSIONS (EXT_SERVER_AUTH | EXT_CLIENT_AUTH)
#define DEFAULT_APPROVALS 1
#define DEFAULT_PRIORITY 0

typedef jfield_rule str_rule;

void
config_ctx_init(struct ctx *c, const char *file, int flags, char *err)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->prefix, sizeof(c->prefix), "%s: ", file);
	c->j.prefix = c->prefix;
	c->j.err = err;
	c->j.errlen = CONFIG_ERR_MAX;
	c->flags = flags;
	err[0] = '\0';
}

int
config_fail_oom(struct ctx *c)
{
	return fail(c, NULL, "out of memory");
}

static int
is_id_char(int ch)
{
	return isalnum(ch) || ch == '.' || ch == '_' || ch == '-';
}

static const char *
rule_nonempty(const char *s)
{
	return s[0] == '\0' ? "must not be empty" : NULL;
}

/* Subject values (a CA's fixed ones, a tenant's organizations): subject_value_check's rules. */
#define RULE_SUBJECT(fn, kind)                                                                     \
	static const char *fn(const char *s)                                                       \
	{                                                                                          \
		return subject_value_check(kind, s);                                               \
	}
RULE_SUBJECT(rule_subject_o, NA_O)
RULE_SUBJECT(rule_subject_ou, NA_OU)
RULE_SUBJECT(rule_subject_l, NA_L)
RULE_SUBJECT(rule_subject_st, NA_ST)
RULE_SUBJECT(rule_subject_c, NA_C)
RULE_SUBJECT(rule_subject_email, NA_EMAIL)
RULE_SUBJECT(rule_subject_serial, NA_SERIAL)

static const char *
rule_topic(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= CONFIG_TOPIC_MAX || !is_id_char((unsigned char)s[i]))
			break;
	return (i == 0 || s[i] != '\0') ? "must be 1..249 of A-Z a-z 0-9 . _ -" : NULL;
}

static const char *
rule_prefix(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= CONFIG_PREFIX_MAX || !isgraph((unsigned char)s[i]))
			break;
	return (i == 0 || s[i] != '\0') ? "must be 1..64 printable characters without spaces"
					: NULL;
}

/* 1 if s[0..len) is "host:port" with a non-empty host and port 1..65535. */
static int
hostport_ok(const char *s, size_t len)
{
	const char *colon = NULL;
	long port = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] == ':')
			colon = s + i;
		else if (isspace((unsigned char)s[i]) || s[i] == '/' || s[i] == ',')
			return 0;
	}
	if (colon == NULL || colon == s || colon + 1 == s + len || colon[1] == '0')
		return 0;
	for (i = (size_t)(colon + 1 - s); i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return 0;
		port = port * 10 + (s[i] - '0');
		if (port > CONFIG_PORT_MAX)
			return 0;
	}
	return 1;
}

static const char *
rule_listen(const char *s)
{
	return hostport_ok(s, strlen(s)) ? NULL : "must be host:port with port 1..65535";
}

static const char *
rule_brokers(const char *s)
{
	const char *comma;

	for (;;) {
		comma = strchr(s, ',');
		if (!hostport_ok(s, comma != NULL ? (size_t)(comma - s) : strlen(s)))
			return "must be a comma-separated list of host:port";
		if (comma == NULL)
			return NULL;
		s = comma + 1;
	}
}

static const char *
rule_redis_url(const char *s)
{
	static const char scheme[] = "redis://";
	const char *slash;
	size_t i;

	if (strncmp(s, scheme, sizeof(scheme) - 1) != 0)
		return "must be redis://host:port[/db]";
	s += sizeof(scheme) - 1;
	slash = strchr(s, '/');
	if (!hostport_ok(s, slash != NULL ? (size_t)(slash - s) : strlen(s)))
		return "must be redis://host:port[/db]";
	if (slash != NULL) {
		for (i = 1; slash[i] != '\0'; i++)
			if (!isdigit((unsigned char)slash[i]) || i > 2)
				return "must be redis://host:port[/db]";
		if (i == 1)
			return "must be redis://host:port[/db]";
	}
	return NULL;
}

static const char *
rule_webhook_url(const char *s)
{
	if ((strncmp(s, "http://", 7) == 0 && s[7] != '\0') ||
	    (strncmp(s, "https://", 8) == 0 && s[8] != '\0'))
		return NULL;
	return "must be an http:// or https:// URL";
}

static int url_host_ok(const char *s, size_t len);

static const char *
rule_smtp_url(const char *s)
{
	const char *host = strncmp(s, "smtp://", 7) == 0 ? s + 7 : NULL;

	if (host == NULL || strlen(s) > CONFIG_URL_MAX || !hostport_ok(host, strlen(host)))
		return "must be smtp://host:port (the relay; TLS is chosen by smtp.tls)";
	return NULL;
}

/* notifications.webhooks.allow: "*", a DNS name (and its subdomains) or a CIDR. */
static const char *
rule_hook_allow(const char *s)
{
	struct cidr c;
	const char *why;

	if (strcmp(s, "*") == 0 || url_host_ok(s, strlen(s)) ||
	    (strchr(s, '/') != NULL && roster_cidr_parse(s, &c, &why) == 0))
		return NULL;
	return "must be \"*\", a DNS name or an IPv4/IPv6 CIDR address/prefix";
}

/* 1 if s[0..len) is a DNS name or IPv4 address: labels of A-Z a-z 0-9 -, no empty label. */
static int
url_host_ok(const char *s, size_t len)
{
	size_t i, label = 0;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (isalnum((unsigned char)s[i]) || (s[i] == '-' && label > 0)) {
			label++;
		} else {
			return 0;
		}
	}
	return label > 0;
}

/*
 * RFC 5280 4.2.2.1 / 4.2.1.13 over HTTP: "http://host[:port]/path", host a
 * DNS name or IPv4 address, a non-empty path of printable ASCII without
 * spaces, query or fragment (relying parties fetch it as is).
 */
static const char *
rule_http_url(const char *s)
{
	static const char scheme[] = "http://";
	static const char rule[] =
	    "must be an http://host[:port]/path URL (RFC 5280: no https, "
	    "query, fragment or spaces; at most " STR(CONFIG_URL_MAX) " characters)";
	const char *host, *slash, *colon;
	size_t i;

	if (strlen(s) > CONFIG_URL_MAX || strncmp(s, scheme, sizeof(scheme) - 1) != 0)
		return rule;
	host = s + sizeof(scheme) - 1;
	if ((slash = strchr(host, '/')) == NULL || slash[1] == '\0')
		return rule;
	colon = memchr(host, ':', (size_t)(slash - host));
	if (colon != NULL ? !hostport_ok(host, (size_t)(slash - host)) ||
				!url_host_ok(host, (size_t)(colon - host))
			  : !url_host_ok(host, (size_t)(slash - host)))
		return rule;
	for (i = 0; slash[i] != '\0'; i++)
		if (!isgraph((unsigned char)slash[i]) || slash[i] == '?' || slash[i] == '#')
			return rule;
	return NULL;
}

static const char *
rule_email(const char *s)
{
	const char *at = strchr(s, '@');

	if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@') != NULL ||
	    strpbrk(s, " \t\r\n") != NULL)
		return "must be an email address (local@domain)";
	return NULL;
}

static const char *
rule_scrypt(const char *s)
{
	return secret_scrypt_valid(s) ? NULL
				      : "must be a scrypt hash scrypt$N$r$p$salt_b64$hash_b64";
}

static const char *
rule_name_dns(const char *s)
{
	return namepol_entry_rule(NK_DNS, s);
}

static const char *
rule_name_ip(const char *s)
{
	return namepol_entry_rule(NK_IP, s);
}

static const char *
rule_name_email(const char *s)
{
	return namepol_entry_rule(NK_EMAIL, s);
}

static const char *
rule_name_uri(const char *s)
{
	return namepol_entry_rule(NK_URI, s);
}

/* admin_tenants, admin_cas: ids, or "*" for all. */
static const char *
rule_scope(const char *s)
{
	return strcmp(s, ROSTER_SCOPE_ALL) == 0 || id_rule(s) == NULL
		   ? NULL
		   : "must be an id ([A-Za-z0-9._-], 1..64) or \"*\" (all)";
}

/* Frees a NULL-terminated string list. */
static void
strv_free(char **v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* ---- The table ---- */

/* How a key's value is read and stored. */
enum ktype {
	K_STR,   /* char *, strdup'd; rule; default def */
	K_INT,   /* int in min..max; default idef */
	K_LONG,  /* long in min..max; default idef */
	K_BOOL,  /* int 0/1; default false */
	K_ENUM,  /* unsigned index into names; required */
	K_BITS,  /* unsigned bit set (1 << index) over names; non-empty, no repeats; default idef */
	K_STRV,  /* char **, NULL-terminated, each checked by rule, no repeats; default empty */
	K_CIDRS, /* struct cidr * and its count (count_off) */
	K_SHA256, /* unsigned char[32] from "sha256:<hex>" */
	K_OBJ,    /* a section stored in the same struct (off added) */
	K_ARRAY,  /* an array of sections: element pointer at off, count at count_off */
};

/* A name list of an enumeration or bit set. */
struct names {
	const char *const *v;
	size_t n;
	int numeric;                           /* the items are JSON integers (RSA sizes) */
	const char *const *(*list)(size_t *n); /* instead of v and n: a list kept elsewhere */
};

/* The names of nm and their count. */
static const char *const *
names_get(const struct names *nm, size_t *n)
{
	if (nm->list != NULL)
		return nm->list(n);
	*n = nm->n;
	return nm->v;
}

/* Row flags. */
#define KEY_REQUIRED JF_REQUIRED
#define KEY_SKIP_ABSENT 4 /* K_OBJ: absent means none of its keys (not their defaults) */
#define KEY_CHECK_FIRST 8 /* check runs before the key is read (it decides presence) */

struct section;

/* One configuration key. */
struct key {
	const char *name;
	enum ktype type;
	int flags;
	long long min, max;        /* K_INT, K_LONG */
	long long idef;            /* K_INT, K_LONG, K_BITS default */
	const char *def;           /* K_STR default */
	size_t off;                /* offsetof of the value in the section's struct */
	size_t count_off;          /* K_ARRAY, K_CIDRS: offsetof of the size_t count */
	str_rule rule;             /* K_STR, K_STRV */
	const struct names *names; /* K_ENUM, K_BITS */
	const struct section *sub; /* K_OBJ, K_ARRAY */
	const char *env;           /* K_STR: environment variable that overrides it */
	/* A rule across keys of the same object; base is the section's struct. */
	int (*check)(struct ctx *c, const struct key *k, const cJSON *obj, const char *path,
		     void *base);
};

/* An object: its keys in the order they are checked; elem: struct size of an array item. */
struct section {
	const struct key *keys;
	size_t nkeys;
	size_t elem;
	int (*after)(struct ctx *c, const char *path, void *base);
};

static const char *const ca_type_names[] = {"root", "intermediate"};
static const char *const smtp_tls_names[] = {"starttls", "tls", "none"};
static const char *const ca_status_names[] = {"active", "disabled"};
static const char *const role_names[] = {"requester", "admin", "auditor"};
static const char *const key_type_names[] = {"RSA", "EC", "Ed25519"};
static const char *const curve_names[] = {"P-256", "P-384", "P-521"};
static const char *const key_size_names[] = {"2048", "3072", "4096"};
static const struct names ca_types = {ca_type_names, NELEM(ca_type_names), 0, NULL};
static const struct names smtp_tls = {smtp_tls_names, NELEM(smtp_tls_names), 0, NULL};
static const struct names ca_statuses = {ca_status_names, NELEM(ca_status_names), 0, NULL};
static const struct names roles = {role_names, NELEM(role_names), 0, NULL};
static const struct names key_types = {key_type_names, NELEM(key_type_names), 0, NULL};
static const struct names curves = {curve_names, NELEM(curve_names), 0, NULL};
static const struct names key_sizes = {key_size_names, NELEM(key_size_names), 1, NULL};
static const struct names exts = {.list = ext_name_list};
static const char *const profile_names[] = {"private", "cabf_tls"};
static const char *const action_names[] = {"csr", "required", "drop", "refuse"};
static const char *const cn_action_names[] = {"csr", "required"}; /* a CN is always issued */
static const char *const fallback_names[] = {"drop", "refuse"};
static const struct names profiles = {profile_names, NELEM(profile_names), 0, NULL};
static const struct names actions = {action_names, NELEM(action_names), 0, NULL};
static const struct names cn_actions = {cn_action_names, NELEM(cn_action_names), 0, NULL};
static const struct names fallbacks = {fallback_names, NELEM(fallback_names), 0, NULL};
_Static_assert(CA_ROOT == 0 && CA_INTERMEDIATE == 1 && CA_ACTIVE == 0 && CA_DISABLED == 1 &&
		   ROLE_REQUESTER == 0 && ROLE_ADMIN == 1 && ROLE_AUDITOR == 2,
	       "enums are indexes into their name lists");
_Static_assert(KT_RSA == 1 && KT_EC == 2 && KT_ED25519 == 4 && CURVE_P256 == 1 && CURVE_P384 == 2 &&
		   CURVE_P521 == 4 && RSA_2048 == 1 && RSA_3072 == 2 && RSA_4096 == 4 &&
		   EXT_SERVER_AUTH == 1 && EXT_CLIENT_AUTH == 2 && EXT_EMAIL_PROTECTION == 4 &&
		   EXT_CODE_SIGNING == 8,
	       "bit sets are 1 << index into their name lists");
_Static_assert(PROFILE_PRIVATE == 0 && PROFILE_CABF_TLS == 1 && SUBJ_CSR == 0 &&
		   SUBJ_REQUIRED == 1 && SUBJ_DROP == 2 && SUBJ_REFUSE == 3 &&
		   SUBJ_FALLBACK_DROP == 0 && SUBJ_FALLBACK_REFUSE == 1,
	       "subject policy enums are indexes into their name lists");

#define SECTION(keys, elem, after)                                                                 \
	{                                                                                          \
		keys, NELEM(keys), elem, after                                                     \
	}
#define SUB(s) .sub = &(s)

/*
 * Cross-key rules, each run where its row says (KEY_CHECK_FIRST: before the
 * key is read). Each returns 0, or -1 with the message naming that key.
 */

/* parent: required for an intermediate, absent for a root (before it is read). */
static int
check_parent(struct ctx *c, const struct key *k, const cJSON *obj, const char *path, void *base)
{
	const struct ca *ca = base;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, k->name);
	char kp[CONFIG_PATH_MAX], g[CONFIG_GOT_MAX];

	path_key(kp, path, k->name);
	if (v == NULL && ca->type == CA_INTERMEDIATE)
		return fail(c, kp, "missing required key");
	if (v != NULL && ca->type == CA_ROOT)
		return fail(c, kp, "must be absent for a root, got %s", got(v, g));
	return 0;
}

/* api_issuance: never true on a root. */
static int
check_api_issuance(struct ctx *c, const struct key *k, const cJSON *obj, const char *path,
		   void *base)
{
	const struct ca *ca = base;
	char kp[CONFIG_PATH_MAX];

	if (ca->type != CA_ROOT || !ca->api_issuance)
		return 0;
	path_key(kp, path, k->name);
	return fail(c, kp,
		    "must be false for a root (roots never sign through the request API), got "
		    "true");
}

/* approval_password_hash: required once requires_manual_approval is true. */
static int
check_password_hash(struct ctx *c, const struct key *k, const cJSON *obj, const char *path,
		    void *base)
{
	const struct ca *ca = base;
	char kp[CONFIG_PATH_MAX];

	if (cJSON_GetObjectItemCaseSensitive(obj, k->name) != NULL || !ca->requires_manual_approval)
		return 0;
	path_key(kp, path, k->name);
	return fail(c, kp, "missing required key (requires_manual_approval is true)");
}

/* A distribution point nobody can fill would be a URL pointing at nothing. */
static int
check_crl(struct ctx *c, const struct key *k, const cJSON *obj, const char *path, void *base)
{
	const struct ca *ca = base;
	char kp[CONFIG_PATH_MAX];

	if (ca->crl_url == NULL || ca->crl_path != NULL)
		return 0;
	path_key(kp, path, k->name);
	return fail(c, kp, "missing required key (crl_url is set)");
}

/* admin_tenants and admin_cas: empty unless the user is an admin. */
static int
check_admin_lists(struct ctx *c, const struct key *k, const cJSON *obj, const char *path,
		  void *base)
{
	const struct user *u = base;
	char kp[CONFIG_PATH_MAX];

	if (u->role == ROLE_ADMIN || (u->admin_tenants[0] == NULL && u->admin_cas[0] == NULL))
		return 0;
	path_key(kp, path, u->admin_tenants[0] != NULL ? "admin_tenants" : "admin_cas");
	return fail(c, kp, "must be empty unless role is admin, got a non-empty list");
}

/* names: its presence is the policy's set flag (absent on a tenant: no names at all). */
static int
check_names_set(struct ctx *c, const struct key *k, const cJSON *obj, const char *path,
		void *base)
{
	struct name_policy *np = (struct name_policy *)((char *)base + k->off);

	np->set = cJSON_GetObjectItemCaseSensitive(obj, k->name) != NULL;
	return 0;
}

/* redis.users.NAME.user must differ from the services' before it (one Redis user per service). */
static int
check_redis_user(struct ctx *c, const struct key *k, const cJSON *obj, const char *path, void *base)
{
	const struct redis_user *u = ((struct config *)base)->redis_users;
	size_t i = (k->off - offsetof(struct config, redis_users)) / sizeof(*u), j;
	char kp[CONFIG_PATH_MAX], g[CONFIG_GOT_MAX];

	for (j = 0; j < i; j++)
		if (strcmp(u[j].user, u[i].user) == 0) {
			snprintf(kp, sizeof(kp), "%s.%s.user", path, service_names[i]);
			return fail(c, kp,
				    "must differ from redis.users.%s.user (one Redis user per "
				    "service), got %s",
				    service_names[j], quote(u[i].user, g));
		}
	return 0;
}

static const char *const tls_fields[SERVICE_COUNT] = {"kafka.tls.gateway", "kafka.tls.worker",
						      "kafka.tls.approver"};

/* kafka.tls.ca is one bundle for every service: each service's entry gets a copy. */
static int
tls_after(struct ctx *c, const char *path, void *base)
{
	struct kafka_tls *t = ((struct config *)base)->kafka_tls;
	size_t i;

	for (i = 0; i < SERVICE_COUNT; i++) {
		t[i].field = tls_fields[i];
		if (i > 0 && (t[i].ca = strdup(t[0].ca)) == NULL)
			return fail_oom(c);
	}
	return 0;
}

/* smtp.password_file goes with smtp.user. */
static int
smtp_after(struct ctx *c, const char *path, void *base)
{
	const struct notify_cfg *n = base;
	char kp[CONFIG_PATH_MAX];

	if ((n->smtp_user == NULL) == (n->smtp_password_file == NULL))
		return 0;
	path_key(kp, path, n->smtp_user != NULL ? "password_file" : "user");
	return fail(c, kp, "missing required key (smtp.user and smtp.password_file go together)");
}

/* The CIDRs of webhooks.allow, parsed once; public_url defaults to the gateway's listener. */
static int
notify_after(struct ctx *c, const char *path, void *base)
{
	struct notify_cfg *n = &((struct config *)base)->notify;
	const char *why;
	size_t i, k = 0;

	for (i = 0; n->hook_allow[i] != NULL; i++)
		if (strchr(n->hook_allow[i], '/') != NULL)
			k++;
	if (i > CONFIG_HOOK_ALLOW_MAX)
		return fail(c, "notifications.webhooks.allow",
			    "must have at most %d entries, got %zu", CONFIG_HOOK_ALLOW_MAX, i);
	if (k > 0 && (n->hook_cidrs = calloc(k, sizeof(*n->hook_cidrs))) == NULL)
		return fail_oom(c);
	for (i = 0; n->hook_allow[i] != NULL; i++)
		if (strchr(n->hook_allow[i], '/') != NULL &&
		    roster_cidr_parse(n->hook_allow[i], &n->hook_cidrs[n->nhook_cidrs++], &why) !=
			0)
			return fail(c, "notifications.webhooks.allow", "%s", why);
	if (n->public_url == NULL &&
	    asprintf(&n->public_url, "http://%s", ((struct config *)base)->gateway_listen) < 0) {
		n->public_url = NULL;
		return fail_oom(c);
	}
	return 0;
}

/* At least one CA, unless config_load was asked to accept none. */
static int
top_after(struct ctx *c, const char *path, void *base)
{
	if (c->cfg->ncas == 0 && !(c->flags & CONFIG_LOAD_NO_CA))
		return fail(c, "cas", "must list at least one CA, got an empty array");
	return notify_after(c, path, base);
}

#define STRKEY(n, fl, r, d, st, field)                                                             \
	{                                                                                          \
		.name = n, .type = K_STR, .flags = fl, .rule = r, .def = d,                        \
		.off = offsetof(st, field)                                                         \
	}
#define STRVKEY(n, r, st, field)                                                                   \
	{                                                                                          \
		.name = n, .type = K_STRV, .rule = r, .off = offsetof(st, field)                   \
	}
#define INTKEY(n, t, lo, hi, d, st, field)                                                         \
	{                                                                                          \
		.name = n, .type = t, .min = lo, .max = hi, .idef = d, .off = offsetof(st, field)  \
	}
#define BITSKEY(n, nm, d, st, field)                                                               \
	{                                                                                          \
		.name = n, .type = K_BITS, .names = &nm, .idef = d, .off = offsetof(st, field)     \
	}
#define ARRAYKEY(n, fl, s, st, field, count)                                                       \
	{                                                                                          \
		.name = n, .type = K_ARRAY, .flags = fl, SUB(s), .off = offsetof(st, field),       \
		.count_off = offsetof(st, count)                                                   \
	}
/* A service's entry (kafka.tls.NAME, redis.users.NAME): required, stored in cfg->arr[svc]. */
#define SVCKEY(n, svc, s, arr, chk)                                                                \
	{                                                                                          \
		.name = n, .type = K_OBJ, .flags = KEY_REQUIRED, SUB(s),                           \
		.off = offsetof(struct config, arr[svc]), .check = chk                             \
	}

static const struct key webhook_keys[] = {
    STRKEY("url", KEY_REQUIRED, rule_webhook_url, NULL, struct webhook, url),
    STRKEY("secret", KEY_REQUIRED, rule_nonempty, NULL, struct webhook, secret),
};
static const struct section webhook_section = SECTION(webhook_keys, sizeof(struct webhook), NULL);

static const struct key listen_keys[] = {
    {.name = "gateway",
     .type = K_STR,
     .rule = rule_listen,
     .def = "127.0.0.1:8080",
     .off = offsetof(struct config, gateway_listen),
     .env = "PKI_GATEWAY_LISTEN"},
    {.name = "approver",
     .type = K_STR,
     .rule = rule_listen,
     .def = "127.0.0.1:8081",
     .off = offsetof(struct config, approver_listen),
     .env = "PKI_APPROVER_LISTEN"},
};
static const struct section listen_section = SECTION(listen_keys, 0, NULL);

static const struct key topic_keys[] = {
    STRKEY("issue", 0, rule_topic, "pki.issue", struct topics, issue),
    STRKEY("approval", 0, rule_topic, "pki.approval", struct topics, approval),
    STRKEY("results", 0, rule_topic, "pki.results", struct topics, results),
    STRKEY("issued", 0, rule_topic, "pki.issued", struct topics, issued),
    STRKEY("audit", 0, rule_topic, "pki.audit", struct topics, audit),
    STRKEY("notify", 0, rule_topic, "pki.notify", struct topics, notify),
    STRKEY("dlq", 0, rule_topic, "pki.issue.dlq", struct topics, dlq),
    STRKEY("submit", 0, rule_topic, "pki.submit", struct topics, submit),
};
static const struct section topic_section = SECTION(topic_keys, 0, NULL);

static const struct key tls_client_keys[] = {
    STRKEY("cert", KEY_REQUIRED, rule_nonempty, NULL, struct kafka_tls, cert),
    STRKEY("key", KEY_REQUIRED, rule_nonempty, NULL, struct kafka_tls, key),
};
static const struct section tls_client_section = SECTION(tls_client_keys, 0, NULL);

static const struct key tls_keys[] = {
    STRKEY("ca", KEY_REQUIRED, rule_nonempty, NULL, struct config, kafka_tls[0].ca),
    SVCKEY("gateway", SERVICE_GATEWAY, tls_client_section, kafka_tls, NULL),
    SVCKEY("worker", SERVICE_WORKER, tls_client_section, kafka_tls, NULL),
    SVCKEY("approver", SERVICE_APPROVER, tls_client_section, kafka_tls, NULL),
};
static const struct section tls_section = SECTION(tls_keys, 0, tls_after);

static const struct key kafka_keys[] = {
    {.name = "brokers",
     .type = K_STR,
     .flags = KEY_REQUIRED,
     .rule = rule_brokers,
     .off = offsetof(struct config, kafka_brokers),
     .env = "PKI_KAFKA_BROKERS"},
    STRKEY("group", 0, rule_topic, "pki-workers", struct config, kafka_group),
    {.name = "topics", .type = K_OBJ, SUB(topic_section), .off = offsetof(struct config, topics)},
    {.name = "tls", .type = K_OBJ, .flags = KEY_SKIP_ABSENT, SUB(tls_section)},
};
static const struct section kafka_section = SECTION(kafka_keys, 0, NULL);

static const struct key login_keys[] = {
    STRKEY("user", KEY_REQUIRED, id_rule, NULL, struct redis_user, user),
    STRKEY("password_file", KEY_REQUIRED, rule_nonempty, NULL, struct redis_user, password_file),
};
static const struct section login_section = SECTION(login_keys, 0, NULL);

static const struct key redis_user_keys[] = {
    SVCKEY("gateway", SERVICE_GATEWAY, login_section, redis_users, check_redis_user),
    SVCKEY("worker", SERVICE_WORKER, login_section, redis_users, check_redis_user),
    SVCKEY("approver", SERVICE_APPROVER, login_section, redis_users, check_redis_user),
};
static const struct section redis_user_section = SECTION(redis_user_keys, 0, NULL);

static const struct key redis_keys[] = {
    {.name = "url",
     .type = K_STR,
     .flags = KEY_REQUIRED,
     .rule = rule_redis_url,
     .off = offsetof(struct config, redis_url),
     .env = "PKI_REDIS_URL"},
    {.name = "prefix",
     .type = K_STR,
     .rule = rule_prefix,
     .def = "pki:",
     .off = offsetof(struct config, redis_prefix),
     .env = "PKI_REDIS_PREFIX"},
    {.name = "users", .type = K_OBJ, .flags = KEY_SKIP_ABSENT, SUB(redis_user_section)},
};
static const struct section redis_section = SECTION(redis_keys, 0, NULL);

static const struct key name_list_keys[] = {
    STRVKEY("dns", rule_name_dns, struct name_lists, dns),
    STRVKEY("ip", rule_name_ip, struct name_lists, ip),
    STRVKEY("email", rule_name_email, struct name_lists, email),
    STRVKEY("uri", rule_name_uri, struct name_lists, uri),
};
static const struct section name_list_section = SECTION(name_list_keys, 0, NULL);

static const struct key names_keys[] = {
    {.name = "allow",
     .type = K_OBJ,
     SUB(name_list_section),
     .off = offsetof(struct name_policy, allow)},
    {.name = "deny",
     .type = K_OBJ,
     SUB(name_list_section),
     .off = offsetof(struct name_policy, deny)},
    {.name = "wildcards", .type = K_BOOL, .off = offsetof(struct name_policy, wildcards)},
};
static const struct section names_section = SECTION(names_keys, 0, NULL);

/* The names row of a tenant or CA (st): absent means not set. */
#define NAMESKEY(st)                                                                               \
	{                                                                                          \
		.name = "names", .type = K_OBJ, .flags = KEY_SKIP_ABSENT | KEY_CHECK_FIRST,        \
		SUB(names_section), .off = offsetof(st, names), .check = check_names_set           \
	}

static const struct key tenant_keys[] = {
    STRKEY("id", KEY_REQUIRED, id_rule, NULL, struct tenant, id),
    STRKEY("name", KEY_REQUIRED, rule_nonempty, NULL, struct tenant, name),
    ARRAYKEY("webhooks", 0, webhook_section, struct tenant, webhooks, nwebhooks),
    STRVKEY("organizations", rule_subject_o, struct tenant, organizations),
    NAMESKEY(struct tenant),
};
static const struct section tenant_section = SECTION(tenant_keys, sizeof(struct tenant), NULL);

static const struct key selection_keys[] = {
    STRVKEY("tenants", id_rule, struct ca_selection, tenants),
    STRVKEY("purposes", rule_nonempty, struct ca_selection, purposes),
    STRVKEY("email_patterns", rule_nonempty, struct ca_selection, email_patterns),
    {.name = "client_cidrs",
     .type = K_CIDRS,
     .off = offsetof(struct ca_selection, cidrs),
     .count_off = offsetof(struct ca_selection, ncidrs)},
    INTKEY("priority", K_INT, -CONFIG_PRIORITY_MAX, CONFIG_PRIORITY_MAX, DEFAULT_PRIORITY,
	   struct ca_selection, priority),
};
static const struct section selection_section = SECTION(selection_keys, 0, NULL);

#define ENUMKEY(n, nm, d, st, field)                                                               \
	{                                                                                          \
		.name = n, .type = K_ENUM, .names = &nm, .idef = d, .off = offsetof(st, field)     \
	}
#define SUBJ_ACTION(n, nm, d, kind) ENUMKEY(n, nm, d, struct subject_policy, action[kind])
#define SUBJ_FIXED(n, r, kind) STRKEY(n, 0, r, NULL, struct subject_policy, fixed[kind])

/* The default lets through what openssl, keytool and certtool put in a subject. */
static const struct key subject_attribute_keys[] = {
    SUBJ_ACTION("CN", cn_actions, SUBJ_REQUIRED, NA_CN),
    SUBJ_ACTION("O", actions, SUBJ_CSR, NA_O),
    SUBJ_ACTION("OU", actions, SUBJ_CSR, NA_OU),
    SUBJ_ACTION("L", actions, SUBJ_CSR, NA_L),
    SUBJ_ACTION("ST", actions, SUBJ_CSR, NA_ST),
    SUBJ_ACTION("C", actions, SUBJ_CSR, NA_C),
    SUBJ_ACTION("emailAddress", actions, SUBJ_DROP, NA_EMAIL),
    SUBJ_ACTION("serialNumber", actions, SUBJ_DROP, NA_SERIAL),
};
static const struct section subject_attribute_section = SECTION(subject_attribute_keys, 0, NULL);

static const struct key subject_fixed_keys[] = {
    SUBJ_FIXED("O", rule_subject_o, NA_O),
    SUBJ_FIXED("OU", rule_subject_ou, NA_OU),
    SUBJ_FIXED("L", rule_subject_l, NA_L),
    SUBJ_FIXED("ST", rule_subject_st, NA_ST),
    SUBJ_FIXED("C", rule_subject_c, NA_C),
    SUBJ_FIXED("emailAddress", rule_subject_email, NA_EMAIL),
    SUBJ_FIXED("serialNumber", rule_subject_serial, NA_SERIAL),
};
static const struct section subject_fixed_section = SECTION(subject_fixed_keys, 0, NULL);

static const struct key subject_keys[] = {
    {.name = "attributes", .type = K_OBJ, SUB(subject_attribute_section)},
    ENUMKEY("other", fallbacks, SUBJ_FALLBACK_DROP, struct subject_policy, other),
    {.name = "fixed", .type = K_OBJ, SUB(subject_fixed_section)},
    ENUMKEY("organization", fallbacks, SUBJ_FALLBACK_DROP, struct subject_policy, organization),
};
static const struct section subject_section = SECTION(subject_keys, 0, NULL);

static const struct key ca_keys[] = {
    STRKEY("id", KEY_REQUIRED, id_rule, NULL, struct ca, id),
    STRKEY("name", KEY_REQUIRED, rule_nonempty, NULL, struct ca, name),
    {.name = "type",
     .type = K_ENUM,
     .flags = KEY_REQUIRED,
     .names = &ca_types,
     .off = offsetof(struct ca, type)},
    {.name = "parent",
     .type = K_STR,
     .flags = KEY_CHECK_FIRST,
     .rule = id_rule,
     .off = offsetof(struct ca, parent),
     .check = check_parent},
    {.name = "status",
     .type = K_ENUM,
     .flags = KEY_REQUIRED,
     .names = &ca_statuses,
     .off = offsetof(struct ca, status)},
    {.name = "api_issuance",
     .type = K_BOOL,
     .off = offsetof(struct ca, api_issuance),
     .check = check_api_issuance},
    STRKEY("cert", KEY_REQUIRED, rule_nonempty, NULL, struct ca, cert_path),
    STRKEY("key", KEY_REQUIRED, rule_nonempty, NULL, struct ca, key_path),
    {.name = "requires_manual_approval",
     .type = K_BOOL,
     .off = offsetof(struct ca, requires_manual_approval)},
    {.name = "approval_password_hash",
     .type = K_STR,
     .flags = KEY_CHECK_FIRST,
     .rule = rule_scrypt,
     .off = offsetof(struct ca, approval_password_hash),
     .check = check_password_hash},
    INTKEY("approvals_required", K_INT, 1, CONFIG_APPROVALS_MAX, DEFAULT_APPROVALS, struct ca,
	   approvals_required),
    INTKEY("approval_ttl_seconds", K_LONG, CONFIG_APPROVAL_TTL_MIN_S, CONFIG_APPROVAL_TTL_MAX_S,
	   CONFIG_DEFAULT_APPROVAL_TTL_S, struct ca, approval_ttl_s),
    INTKEY("max_validity_days", K_INT, 1, CONFIG_MAX_VALIDITY_DAYS, CONFIG_MAX_VALIDITY_DAYS,
	   struct ca, max_validity_days),
    BITSKEY("allowed_key_types", key_types, DEFAULT_KEY_TYPES, struct ca, allowed_key_types),
    BITSKEY("allowed_key_sizes", key_sizes, DEFAULT_KEY_SIZES, struct ca, allowed_key_sizes),
    BITSKEY("allowed_curves", curves, DEFAULT_CURVES, struct ca, allowed_curves),
    BITSKEY("allowed_extensions", exts, DEFAULT_EXTENSIONS, struct ca, allowed_extensions),
    {.name = "selection",
     .type = K_OBJ,
     SUB(selection_section),
     .off = offsetof(struct ca, selection)},
    STRVKEY("tenants", id_rule, struct ca, tenants),
    STRVKEY("users", id_rule, struct ca, users),
    ARRAYKEY("webhooks", 0, webhook_section, struct ca, webhooks, nwebhooks),
    STRKEY("ca_issuers_url", 0, rule_http_url, NULL, struct ca, ca_issuers_url),
    STRKEY("crl_url", 0, rule_http_url, NULL, struct ca, crl_url),
    {.name = "crl",
     .type = K_STR,
     .rule = rule_nonempty,
     .off = offsetof(struct ca, crl_path),
     .check = check_crl},
    ENUMKEY("profile", profiles, PROFILE_PRIVATE, struct ca, profile),
    {.name = "subject", .type = K_OBJ, SUB(subject_section), .off = offsetof(struct ca, subject)},
    NAMESKEY(struct ca),
};
static const struct section ca_section = SECTION(ca_keys, sizeof(struct ca), NULL);

static const struct key user_keys[] = {
    STRKEY("name", KEY_REQUIRED, id_rule, NULL, struct user, name),
    STRKEY("email", KEY_REQUIRED, rule_email, NULL, struct user, email),
    {.name = "role",
     .type = K_ENUM,
     .flags = KEY_REQUIRED,
     .names = &roles,
     .off = offsetof(struct user, role)},
    STRKEY("tenant", KEY_REQUIRED, id_rule, NULL, struct user, tenant),
    {.name = "api_key_hash",
     .type = K_SHA256,
     .flags = KEY_REQUIRED,
     .off = offsetof(struct user, api_key_hash)},
    STRVKEY("cas", id_rule, struct user, cas),
    STRVKEY("admin_tenants", rule_scope, struct user, admin_tenants),
    {.name = "admin_cas",
     .type = K_STRV,
     .rule = rule_scope,
     .off = offsetof(struct user, admin_cas),
     .check = check_admin_lists},
};
static const struct section user_section = SECTION(user_keys, sizeof(struct user), NULL);

static const struct key bulk_key_keys[] = {
    STRKEY("id", KEY_REQUIRED, id_rule, NULL, struct bulk_key, id),
    STRKEY("user", KEY_REQUIRED, id_rule, NULL, struct bulk_key, user),
    STRKEY("secret_file", KEY_REQUIRED, rule_nonempty, NULL, struct bulk_key, secret_path),
};
static const struct section bulk_key_section =
    SECTION(bulk_key_keys, sizeof(struct bulk_key), NULL);

static const struct key smtp_keys[] = {
    STRKEY("url", KEY_REQUIRED, rule_smtp_url, NULL, struct notify_cfg, smtp_url),
    STRKEY("from", KEY_REQUIRED, rule_email, NULL, struct notify_cfg, smtp_from),
    {.name = "tls",
     .type = K_ENUM,
     .flags = KEY_REQUIRED,
     .names = &smtp_tls,
     .off = offsetof(struct notify_cfg, smtp_tls)},
    STRKEY("user", 0, rule_nonempty, NULL, struct notify_cfg, smtp_user),
    STRKEY("password_file", 0, rule_nonempty, NULL, struct notify_cfg, smtp_password_file),
};
static const struct section smtp_section = SECTION(smtp_keys, 0, smtp_after);

static const struct key hook_policy_keys[] = {
    STRVKEY("allow", rule_hook_allow, struct notify_cfg, hook_allow),
    {.name = "allow_private", .type = K_BOOL, .off = offsetof(struct notify_cfg, allow_private)},
};
static const struct section hook_policy_section = SECTION(hook_policy_keys, 0, NULL);

static const struct key notify_keys[] = {
    {.name = "smtp", .type = K_OBJ, .flags = KEY_SKIP_ABSENT, SUB(smtp_section)},
    {.name = "webhooks", .type = K_OBJ, SUB(hook_policy_section)},
    STRKEY("public_url", 0, rule_webhook_url, NULL, struct notify_cfg, public_url),
};
static const struct section notify_section = SECTION(notify_keys, 0, NULL);

/* A token bucket's keys (struct rate_limit) with its defaults. */
#define RATE_KEYS(rate, burst_)                                                                    \
	{                                                                                          \
		INTKEY("rate_per_s", K_INT, 1, CONFIG_RATE_MAX, rate, struct rate_limit,           \
		       rate_per_s),                                                                \
		    INTKEY("burst", K_INT, 1, CONFIG_RATE_MAX, burst_, struct rate_limit, burst),  \
	}
static const struct key key_rate_keys[] = RATE_KEYS(50, 200);
static const struct section key_rate_section = SECTION(key_rate_keys, 0, NULL);
static const struct key tenant_rate_keys[] = RATE_KEYS(500, 2000);
static const struct section tenant_rate_section = SECTION(tenant_rate_keys, 0, NULL);
#define RATEKEY(n, s, field)                                                                       \
	{                                                                                          \
		.name = n, .type = K_OBJ, SUB(s), .off = offsetof(struct limits, field)            \
	}

static const struct key limit_keys[] = {
    INTKEY("connections_per_ip", K_INT, 1, CONFIG_CONNECTIONS_MAX, 64, struct limits,
	   connections_per_ip),
    INTKEY("connection_timeout_s", K_INT, 1, CONFIG_TIMEOUT_MAX_S, 15, struct limits,
	   connection_timeout_s),
    INTKEY("waiters_per_key", K_INT, 0, CONFIG_WAITERS_MAX, 8, struct limits, waiters_per_key),
    RATEKEY("requests_per_key", key_rate_section, per_key),
    RATEKEY("requests_per_tenant", tenant_rate_section, per_tenant),
    INTKEY("admin_list_max", K_INT, 1, CONFIG_ADMIN_LIST_MAX, 200, struct limits, admin_list_max),
};
static const struct section limit_section = SECTION(limit_keys, 0, NULL);

static const struct key top_keys[] = {
    {.name = "listen", .type = K_OBJ, SUB(listen_section)},
    {.name = "kafka", .type = K_OBJ, .flags = KEY_REQUIRED, SUB(kafka_section)},
    {.name = "redis", .type = K_OBJ, .flags = KEY_REQUIRED, SUB(redis_section)},
    STRKEY("grant_key", KEY_REQUIRED, rule_nonempty, NULL, struct config, grant_key_path),
    ARRAYKEY("tenants", KEY_REQUIRED, tenant_section, struct config, tenants, ntenants),
    ARRAYKEY("cas", KEY_REQUIRED, ca_section, struct config, cas, ncas),
    ARRAYKEY("users", KEY_REQUIRED, user_section, struct config, users, nusers),
    ARRAYKEY("bulk_keys", 0, bulk_key_section, struct config, bulk_keys, nbulk_keys),
    {.name = "notifications",
     .type = K_OBJ,
     SUB(notify_section),
     .off = offsetof(struct config, notify)},
    {.name = "limits", .type = K_OBJ, SUB(limit_section), .off = offsetof(struct config, limits)},
};
static const struct section top_section = SECTION(top_keys, 0, top_after);

/* ---- The walker ---- */

static int parse_section(struct ctx *c, const struct section *s, const cJSON *obj, const char *path,
			 char *base);

/* One bit-set item: a name, or an RSA size written as an integer. */
static int
item_bit(struct ctx *c, const cJSON *v, const char *path, const struct names *nm, unsigned *bit)
{
	char g[CONFIG_GOT_MAX], list[CONFIG_PATH_MAX];
	size_t i, n, o = 0;
	const char *const *names = names_get(nm, &n);

	if (!nm->numeric) {
		if (jfield_enum(&c->j, v, path, names, n, &i) != 0)
			return -1;
		*bit = 1u << i;
		return 0;
	}
	if (!cJSON_IsNumber(v))
		return fail(c, path, "must be an integer, got %s", jfield_type(v));
	for (i = 0; i < n; i++)
		if (v->valuedouble == strtod(names[i], NULL)) {
			*bit = 1u << i;
			return 0;
		}
	for (i = 0; i < n; i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
				      i == 0 ? "" : (i + 1 == n ? " or " : ", "), names[i]);
	return fail(c, path, "must be %s, got %s", list, got(v, g));
}

/* The non-empty array v of k's names as a bit set, without repeats. */
static int
parse_bits(struct ctx *c, const struct key *k, const cJSON *v, const char *kp, unsigned *dst)
{
	char ip[CONFIG_PATH_MAX], g[CONFIG_GOT_MAX];
	const cJSON *it;
	unsigned set = 0, bit = 0;
	size_t i = 0;

	if (!cJSON_IsArray(v))
		return fail(c, kp, "must be an array, got %s", jfield_type(v));
	if (cJSON_GetArraySize(v) == 0)
		return fail(c, kp, "must not be empty");
	cJSON_ArrayForEach(it, v)
	{
		path_idx(ip, kp, i++);
		if (item_bit(c, it, ip, k->names, &bit) != 0)
			return -1;
		if (set & bit)
			return fail(c, ip, "duplicate value, got %s", got(it, g));
		set |= bit;
	}
	*dst = set;
	return 0;
}

/* A NULL-terminated copy of the strings of v (NULL: empty), each checked by rule, no repeats. */
static int
parse_strv(struct ctx *c, const cJSON *v, const char *kp, str_rule rule, char ***dst)
{
	char ip[CONFIG_PATH_MAX], g[CONFIG_GOT_MAX];
	const cJSON *it;
	const char *s;
	char **list = NULL;
	size_t i = 0, j, n = 0;
	int rc = -1;

	if (v != NULL && !cJSON_IsArray(v))
		return fail(c, kp, "must be an array, got %s", jfield_type(v));
	if (v != NULL)
		n = (size_t)cJSON_GetArraySize(v);
	if ((list = calloc(n + 1, sizeof(*list))) == NULL)
		return fail_oom(c);
	cJSON_ArrayForEach(it, v)
	{
		path_idx(ip, kp, i);
		if (jfield_check_str(&c->j, it, ip, 0, rule, &s) != 0)
			goto out;
		for (j = 0; j < i; j++)
			if (strcmp(list[j], s) == 0) {
				fail(c, ip, "duplicate value, got %s", quote(s, g));
				goto out;
			}
		if ((list[i++] = strdup(s)) == NULL) {
			fail_oom(c);
			goto out;
		}
	}
	*dst = list;
	list = NULL;
	rc = 0;
out:
	strv_free(list);
	return rc;
}

/* The array v of "addr/prefix" strings into a new *dst of *n entries. */
static int
parse_cidrs(struct ctx *c, const cJSON *v, const char *kp, struct cidr **dst, size_t *n)
{
	char ip[CONFIG_PATH_MAX], g[CONFIG_GOT_MAX];
	const cJSON *it;
	const char *why;
	size_t i = 0;

	if (!cJSON_IsArray(v))
		return fail(c, kp, "must be an array, got %s", jfield_type(v));
	if (cJSON_GetArraySize(v) > 0 &&
	    (*dst = calloc((size_t)cJSON_GetArraySize(v), sizeof(**dst))) == NULL)
		return fail_oom(c);
	cJSON_ArrayForEach(it, v)
	{
		path_idx(ip, kp, i);
		if (!cJSON_IsString(it))
			return fail(c, ip, "must be a string, got %s", jfield_type(it));
		if (roster_cidr_parse(it->valuestring, &(*dst)[i], &why) != 0)
			return fail(c, ip, "%s, got %s", why, quote(it->valuestring, g));
		*n = ++i;
	}
	return 0;
}

/* Parses each item of v with k->sub into a new array; the count covers every started item. */
static int
parse_array(struct ctx *c, const struct key *k, const cJSON *v, const char *kp, char *base)
{
	const size_t elem = k->sub->elem;
	char ip[CONFIG_PATH_MAX];
	const cJSON *it;
	char **dst = (char **)(base + k->off);
	size_t *n = (size_t *)(base + k->count_off), i = 0;

	if (!cJSON_IsArray(v))
		return fail(c, kp, "must be an array, got %s", jfield_type(v));
	if ((*dst = calloc((size_t)cJSON_GetArraySize(v) + 1, elem)) == NULL)
		return fail_oom(c);
	cJSON_ArrayForEach(it, v)
	{
		path_idx(ip, kp, i);
		*n = ++i;
		if (parse_section(c, k->sub, it, ip, *dst + (i - 1) * elem) != 0)
			return -1;
	}
	return 0;
}

/* Reads key k of obj (NULL: an absent object) into base + k->off, or its default. */
static int
parse_key(struct ctx *c, const struct key *k, const cJSON *obj, const char *path, char *base)
{
	char kp[CONFIG_PATH_MAX], g[CONFIG_GOT_MAX];
	void *dst = base + k->off;
	const char *const *names;
	const cJSON *v;
	const char *s;
	long long n;
	size_t i, count;

	if (jfield_member(&c->j, obj, path, k->name, k->flags & KEY_REQUIRED, &v) < 0)
		return -1;
	path_key(kp, path, k->name);
	switch (k->type) {
	case K_STR:
		s = k->def;
		if (v != NULL && jfield_check_str(&c->j, v, kp, 0, k->rule, &s) != 0)
			return -1;
		if (s != NULL && (*(char **)dst = strdup(s)) == NULL)
			return fail_oom(c);
		return 0;
	case K_INT:
	case K_LONG:
		n = k->idef;
		if (v != NULL && jfield_check_int(&c->j, v, kp, k->min, k->max, &n) != 0)
			return -1;
		if (k->type == K_INT)
			*(int *)dst = (int)n;
		else
			*(long *)dst = (long)n;
		return 0;
	case K_BOOL:
		*(int *)dst = 0;
		return jfield_bool(&c->j, obj, path, k->name, 0, (int *)dst) < 0 ? -1 : 0;
	case K_ENUM:
		*(unsigned *)dst =
		    (unsigned)k->idef; /* absent: the default (a required key fails above) */
		if (v == NULL)
			return 0;
		names = names_get(k->names, &count);
		if (jfield_enum(&c->j, v, kp, names, count, &i) != 0)
			return -1;
		*(unsigned *)dst = (unsigned)i;
		return 0;
	case K_BITS:
		*(unsigned *)dst = (unsigned)k->idef;
		return v == NULL ? 0 : parse_bits(c, k, v, kp, dst);
	case K_STRV:
		return parse_strv(c, v, kp, k->rule, dst);
	case K_CIDRS:
		return v == NULL ? 0 : parse_cidrs(c, v, kp, dst, (size_t *)(base + k->count_off));
	case K_SHA256:
		if (!cJSON_IsString(v))
			return fail(c, kp, "must be a string, got %s", jfield_type(v));
		if (secret_hash_parse(v->valuestring, dst) != 0)
			return fail(c, kp, "must be sha256:<64 lowercase hex>, got %s",
				    quote(v->valuestring, g));
		return 0;
	case K_OBJ:
		if (v == NULL && (k->flags & KEY_SKIP_ABSENT))
			return 0;
		return parse_section(c, k->sub, v, kp, dst);
	case K_ARRAY:
		return v == NULL ? 0 : parse_array(c, k, v, kp, base);
	}
	return fail(c, kp, "unknown key type");
}

/*
 * Parses obj (NULL: absent, every key at its default) with section s into
 * base: first unknown and duplicate keys, then each key in table order with
 * its cross-key rule, then the section's own rule.
 */
static int
parse_section(struct ctx *c, const struct section *s, const cJSON *obj, const char *path,
	      char *base)
{
	const char *names[CONFIG_SECTION_KEYS_MAX + 1];
	const struct key *k;
	size_t i;

	for (i = 0; i < s->nkeys && i < CONFIG_SECTION_KEYS_MAX; i++)
		names[i] = s->keys[i].name;
	names[i] = NULL;
	if (obj != NULL && jfield_keys(&c->j, obj, path, names) != 0)
		return -1;
	for (i = 0; i < s->nkeys; i++) {
		k = &s->keys[i];
		if (k->check != NULL && (k->flags & KEY_CHECK_FIRST) &&
		    k->check(c, k, obj, path, base) != 0)
			return -1;
		if (parse_key(c, k, obj, path, base) != 0)
			return -1;
		if (k->check != NULL && !(k->flags & KEY_CHECK_FIRST) &&
		    k->check(c, k, obj, path, base) != 0)
			return -1;
	}
	return s->after != NULL ? s->after(c, path, base) : 0;
}

/* Applies the environment overrides of section s's rows (and its objects') into base. */
static int
apply_env_section(struct ctx *c, const struct section *s, const char *path, char *base)
{
	char kp[CONFIG_PATH_MAX], p[CONFIG_PATH_MAX + 64], g[CONFIG_GOT_MAX];
	const struct key *k;
	const char *v, *r;
	char *copy, **dst;
	size_t i;

	for (i = 0; i < s->nkeys; i++) {
		k = &s->keys[i];
		path_key(kp, path, k->name);
		if (k->type == K_OBJ && apply_env_section(c, k->sub, kp, base + k->off) != 0)
			return -1;
		if (k->env == NULL || (v = getenv(k->env)) == NULL || v[0] == '\0')
			continue;
		if ((r = k->rule(v)) != NULL) {
			snprintf(p, sizeof(p), "%s (from environment %s)", kp, k->env);
			return fail(c, p, "%s, got %s", r, quote(v, g));
		}
		if ((copy = strdup(v)) == NULL)
			return fail_oom(c);
		dst = (char **)(base + k->off);
		free(*dst);
		*dst = copy;
	}
	return 0;
}

static const char *const ktype_names[] = {
    [K_STR] = "string",    [K_INT] = "integer", [K_LONG] = "integer", [K_BOOL] = "boolean",
    [K_ENUM] = "string",   [K_BITS] = "array",  [K_STRV] = "array",   [K_CIDRS] = "array",
    [K_SHA256] = "string", [K_OBJ] = "object",  [K_ARRAY] = "array",
};

/* Calls fn for each row of s and, depth first, of its objects and array items. */
static void
walk_section(const struct section *s, const char *path,
	     void (*fn)(const struct config_key_info *, void *), void *arg)
{
	char kp[CONFIG_PATH_MAX], ip[CONFIG_PATH_MAX + 2];
	struct config_key_info info;
	const struct key *k;
	size_t i, j, n;

	for (i = 0; i < s->nkeys; i++) {
		k = &s->keys[i];
		path_key(kp, path, k->name);
		memset(&info, 0, sizeof(info));
		info.path = kp;
		info.type = ktype_names[k->type];
		info.required = (k->flags & KEY_REQUIRED) != 0;
		info.has_bounds = k->type == K_INT || k->type == K_LONG;
		info.min = k->min;
		info.max = k->max;
		info.def = k->def;
		info.env = k->env;
		if (k->names != NULL) {
			const char *const *names = names_get(k->names, &n);

			for (j = 0; j < n && j < CONFIG_KEY_NAMES_MAX; j++)
				info.names[j] = names[j];
			info.nnames = j;
			info.numeric_names = k->names->numeric;
		}
		fn(&info, arg);
		if (k->type == K_OBJ)
			walk_section(k->sub, kp, fn, arg);
		if (k->type == K_ARRAY) {
			snprintf(ip, sizeof(ip), "%s[]", kp);
			walk_section(k->sub, ip, fn, arg);
		}
	}
}

void
config_keys_walk(void (*fn)(const struct config_key_info *, void *), void *arg)
{
	walk_section(&top_section, "", fn, arg);
}

#define CONFIG_FILE_CHUNK (64 * 1024) /* the first read buffer, doubled up to past the max */

/* Reads the whole file (at most CONFIG_FILE_MAX) NUL-terminated into *out. */
static int
read_file(struct ctx *c, const char *file, char **out)
{
	char *buf = NULL, *nb;
	size_t n = 0, cap = CONFIG_FILE_CHUNK;
	FILE *fp;
	int rc = -1;

	if ((fp = fopen(file, "rb")) == NULL)
		return fail(c, NULL, "cannot read: %s", strerror(errno));
	/* The buffer grows with the file: a config is a few KiB, not the cap. */
	for (;;) {
		if ((nb = realloc(buf, cap + 1)) == NULL) {
			fail_oom(c);
			goto out;
		}
		buf = nb;
		n += fread(buf + n, 1, cap - n, fp);
		if (n < cap || cap > CONFIG_FILE_MAX)
			break;
		cap *= 2;
	}
	if (ferror(fp)) {
		fail(c, NULL, "cannot read: %s", strerror(errno));
		goto out;
	}
	if (n > CONFIG_FILE_MAX) {
		fail(c, NULL, "must be at most %d bytes, got more", CONFIG_FILE_MAX);
		goto out;
	}
	buf[n] = '\0';
	if (strlen(buf) != n) {
		fail(c, NULL, "must be text, got a NUL byte at offset %zu", strlen(buf));
		goto out;
	}
	*out = buf;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	fclose(fp);
	return rc;
}

/* Parses text as JSON; on a syntax error reports its line and column (1-based). */
static cJSON *
parse_json(struct ctx *c, const char *text)
{
	const char *end = NULL, *p;
	cJSON *root;
	int line = 1, col = 1;

	root = cJSON_ParseWithOpts(text, &end, 1);
	if (root != NULL)
		return root;
	if (end == NULL)
		end = text;
	for (p = text; p < end && *p != '\0'; p++) {
		if (*p == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	fail(c, NULL, "line %d, column %d: invalid JSON", line, col);
	return NULL;
}

/* Directory of path, made absolute. */
static int
config_dir(struct ctx *c, const char *path)
{
	const char *slash = strrchr(path, '/');
	char *d, *abs;

	if (slash == NULL)
		d = strdup(".");
	else if (slash == path)
		d = strdup("/");
	else
		d = strndup(path, (size_t)(slash - path));
	if (d == NULL)
		return fail_oom(c);
	abs = realpath(d, NULL);
	if (abs == NULL) {
		fail(c, NULL, "cannot resolve directory %s: %s", d, strerror(errno));
		free(d);
		return -1;
	}
	free(d);
	c->cfg->dir = abs;
	return 0;
}

int
config_load(const char *path, int flags, struct config **out, char *err)
{
	struct ctx c;
	char *text = NULL;
	cJSON *root = NULL;
	int rc = -1;

	config_ctx_init(&c, path, flags, err);
	if ((c.cfg = calloc(1, sizeof(*c.cfg))) == NULL) {
		fail_oom(&c);
		goto out;
	}
	if ((c.cfg->path = strdup(path)) == NULL) {
		fail_oom(&c);
		goto out;
	}
	if (read_file(&c, path, &text) != 0 || (root = parse_json(&c, text)) == NULL ||
	    parse_section(&c, &top_section, root, "", (char *)c.cfg) != 0 ||
	    config_refs_check(&c) != 0 || config_dir(&c, path) != 0 || config_files_load(&c) != 0 ||
	    apply_env_section(&c, &top_section, "", (char *)c.cfg) != 0)
		goto out;
	*out = c.cfg;
	c.cfg = NULL;
	rc = 0;
out:
	cJSON_Delete(root);
	free(text);
	config_free(c.cfg);
	return rc;
}

static void
webhooks_free(struct webhook *w, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(w[i].url);
		if (w[i].secret != NULL)
			OPENSSL_cleanse(w[i].secret, strlen(w[i].secret));
		free(w[i].secret);
	}
	free(w);
}

static void
ca_free_fields(struct ca *ca)
{
	size_t i;

	free(ca->id);
	free(ca->name);
	free(ca->parent);
	free(ca->cert_path);
	free(ca->key_path);
	free(ca->ca_issuers_url);
	free(ca->crl_url);
	free(ca->crl_path);
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	sk_X509_pop_free(ca->chain, X509_free);
	free(ca->approval_password_hash);
	strv_free(ca->selection.tenants);
	strv_free(ca->selection.purposes);
	strv_free(ca->selection.email_patterns);
	free(ca->selection.cidrs);
	strv_free(ca->tenants);
	strv_free(ca->users);
	webhooks_free(ca->webhooks, ca->nwebhooks);
	for (i = 0; i < NA_OTHER; i++)
		free(ca->subject.fixed[i]);
	namepol_free(&ca->names);
	free(ca->common_name);
	free(ca->organization);
	free(ca->country);
}

void
config_free(struct config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->dir);
	free(cfg->gateway_listen);
	free(cfg->approver_listen);
	free(cfg->kafka_brokers);
	free(cfg->kafka_group);
	free(cfg->topics.issue);
	free(cfg->topics.approval);
	free(cfg->topics.results);
	free(cfg->topics.issued);
	free(cfg->topics.audit);
	free(cfg->topics.notify);
	free(cfg->topics.dlq);
	free(cfg->topics.submit);
	for (i = 0; i < SERVICE_COUNT; i++) {
		free(cfg->kafka_tls[i].ca);
		free(cfg->kafka_tls[i].cert);
		free(cfg->kafka_tls[i].key);
	}
	free(cfg->redis_url);
	free(cfg->redis_prefix);
	for (i = 0; i < SERVICE_COUNT; i++) {
		free(cfg->redis_users[i].user);
		free(cfg->redis_users[i].password_file);
	}
	free(cfg->grant_key_path);
	OPENSSL_cleanse(cfg->grant_key, sizeof(cfg->grant_key));
	for (i = 0; i < cfg->ncas; i++)
		ca_free_fields(&cfg->cas[i]);
	free(cfg->cas);
	for (i = 0; i < cfg->nusers; i++) {
		free(cfg->users[i].name);
		free(cfg->users[i].email);
		free(cfg->users[i].tenant);
		strv_free(cfg->users[i].cas);
		strv_free(cfg->users[i].admin_tenants);
		strv_free(cfg->users[i].admin_cas);
	}
	free(cfg->users);
	for (i = 0; i < cfg->ntenants; i++) {
		free(cfg->tenants[i].id);
		free(cfg->tenants[i].name);
		webhooks_free(cfg->tenants[i].webhooks, cfg->tenants[i].nwebhooks);
		strv_free(cfg->tenants[i].organizations);
		namepol_free(&cfg->tenants[i].names);
	}
	free(cfg->tenants);
	for (i = 0; i < cfg->nbulk_keys; i++) {
		free(cfg->bulk_keys[i].id);
		free(cfg->bulk_keys[i].user);
		free(cfg->bulk_keys[i].secret_path);
		OPENSSL_cleanse(cfg->bulk_keys[i].secret, sizeof(cfg->bulk_keys[i].secret));
	}
	free(cfg->bulk_keys);
	free(cfg->notify.smtp_url);
	free(cfg->notify.smtp_from);
	free(cfg->notify.smtp_user);
	free(cfg->notify.smtp_password_file);
	free(cfg->notify.public_url);
	strv_free(cfg->notify.hook_allow);
	free(cfg->notify.hook_cidrs);
	free(cfg);
}

const char *
config_service_name(enum service s)
{
	return (unsigned)s < SERVICE_COUNT ? service_names[s] : "?";
}

const char *
config_default_path(void)
{
	const char *p = getenv("PKI_CONFIG");

	return p != NULL && p[0] != '\0' ? p : DEFAULT_CONFIG_PATH;
}

const char *
config_url_rule(const char *s)
{
	return rule_http_url(s);
}

const struct ca *
config_ca_find(const struct config *cfg, const char *id)
{
	struct roster r = config_roster(cfg);

	return roster_ca_find(&r, id);
}

const struct user *
config_user_find(const struct config *cfg, const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < cfg->nusers; i++)
		if (strcmp(cfg->users[i].name, name) == 0)
			return &cfg->users[i];
	return NULL;
}

const struct bulk_key *
config_bulk_key_find(const struct config *cfg, const char *id)
{
	size_t i;

	if (id == NULL)
		return NULL;
	for (i = 0; i < cfg->nbulk_keys; i++)
		if (strcmp(cfg->bulk_keys[i].id, id) == 0)
			return &cfg->bulk_keys[i];
	return NULL;
}

const struct user *
config_user_by_key(const struct config *cfg, const char *api_key)
{
	unsigned char digest[32];
	const struct user *found = NULL;
	size_t i;
	int eq;

	if (api_key == NULL)
		return NULL;
	secret_api_key_hash(api_key, digest);
	/* Compare against every user: the time does not depend on which one matches. */
	for (i = 0; i < cfg->nusers; i++) {
		eq = secret_equal(digest, cfg->users[i].api_key_hash, sizeof(digest));
		if (eq && found == NULL)
			found = &cfg->users[i];
	}
	OPENSSL_cleanse(digest, sizeof(digest));
	return found;
}

int
config_user_may_use(const struct user *u, const struct ca *ca)
{
	return roster_user_may_use(u, ca);
}
