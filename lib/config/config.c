/*
 * Configuration loader. The file is validated whole before anything is used:
 * shape and values first (fixed order of sections), then references between
 * sections, then the files it names (certificates, keys, grant key), then
 * environment overrides. The first problem stops loading with exactly one
 * message "file: json.path: rule, got value" (docs/config.md).
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "issue.h"
#include "secret.h"

#define CONFIG_FILE_MAX (4 * 1024 * 1024)
#define CONFIG_PATH_MAX 256  /* longest JSON path in a message */
#define CONFIG_GOT_MAX 80    /* longest quoted value in a message */
#define CONFIG_TOPIC_MAX 249 /* Kafka's own limit */
#define CONFIG_PREFIX_MAX 64 /* Redis key prefix */
#define CONFIG_PORT_MAX 65535
#define CONFIG_APPROVALS_MAX 10
#define CONFIG_APPROVAL_TTL_MIN_S 60
#define CONFIG_APPROVAL_TTL_MAX_S (30 * 24 * 3600)
#define CONFIG_PRIORITY_MAX 1000
#define CONFIG_KEY_MODE_MASK 077 /* no access for group or others */
#define GRANT_KEY_LEN 32
_Static_assert(CONFIG_BULK_SECRET_BYTES == GRANT_KEY_LEN,
	       "bulk secrets are read as grant keys are");
#define DEFAULT_CONFIG_PATH "var/demo/config.json"
#define DEFAULT_GATEWAY_LISTEN "127.0.0.1:8080"
#define DEFAULT_APPROVER_LISTEN "127.0.0.1:8081"
#define DEFAULT_KAFKA_GROUP "pki-workers"
#define DEFAULT_REDIS_PREFIX "pki:"

#define REQUIRED 1
#define OPTIONAL 0

/* Loader state: the file name for messages, the message buffer, the result. */
struct ctx {
	const char *file;
	char *err;
	struct config *cfg;
	int flags;
};

struct name_bit {
	const char *name;
	unsigned bit;
};

static const struct name_bit ca_types[] = {{"root", CA_ROOT}, {"intermediate", CA_INTERMEDIATE}};
static const struct name_bit ca_statuses[] = {{"active", CA_ACTIVE}, {"disabled", CA_DISABLED}};
static const struct name_bit roles[] = {
    {"requester", ROLE_REQUESTER}, {"admin", ROLE_ADMIN}, {"auditor", ROLE_AUDITOR}};
static const struct name_bit key_types[] = {
    {"RSA", KT_RSA}, {"EC", KT_EC}, {"Ed25519", KT_ED25519}};
static const struct name_bit curves[] = {
    {"P-256", CURVE_P256}, {"P-384", CURVE_P384}, {"P-521", CURVE_P521}};
static const char *const service_names[SERVICE_COUNT] = {"gateway", "worker", "approver"};
static const struct name_bit key_sizes[] = {
    {"2048", RSA_2048}, {"3072", RSA_3072}, {"4096", RSA_4096}};
static const unsigned ext_bits[] = {EXT_SERVER_AUTH, EXT_CLIENT_AUTH, EXT_EMAIL_PROTECTION,
				    EXT_CODE_SIGNING};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define STR_(x) #x
#define STR(x) STR_(x)

#define DEFAULT_KEY_TYPES (KT_RSA | KT_EC)
#define DEFAULT_KEY_SIZES (RSA_2048 | RSA_4096)
#define DEFAULT_CURVES (CURVE_P256 | CURVE_P384)
#define DEFAULT_EXTENSIONS (EXT_SERVER_AUTH | EXT_CLIENT_AUTH)
#define DEFAULT_APPROVALS 1

/* Writes "file: path: message" into c->err; returns -1 for `return fail(...)`. */
static int __attribute__((format(printf, 3, 4)))
fail(struct ctx *c, const char *path, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (path != NULL && path[0] != '\0')
		n = snprintf(c->err, CONFIG_ERR_MAX, "%s: %s: ", c->file, path);
	else
		n = snprintf(c->err, CONFIG_ERR_MAX, "%s: ", c->file);
	if (n < 0 || n >= CONFIG_ERR_MAX)
		return -1;
	va_start(ap, fmt);
	vsnprintf(c->err + n, CONFIG_ERR_MAX - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static int
fail_oom(struct ctx *c)
{
	return fail(c, NULL, "out of memory");
}

/* Appends src to out (CONFIG_PATH_MAX bytes, holding used bytes), cutting what does not fit. */
static void
path_append(char out[CONFIG_PATH_MAX], size_t used, const char *src)
{
	size_t n = strlen(src);

	if (n > CONFIG_PATH_MAX - 1 - used)
		n = CONFIG_PATH_MAX - 1 - used;
	memcpy(out + used, src, n);
	out[used + n] = '\0';
}

/* out = parent.key (or key at the top level); out and parent are distinct buffers. */
static void
path_key(char out[CONFIG_PATH_MAX], const char *parent, const char *key)
{
	out[0] = '\0';
	path_append(out, 0, parent);
	if (out[0] != '\0')
		path_append(out, strlen(out), ".");
	path_append(out, strlen(out), key);
}

/* out = parent[i]. */
static void
path_idx(char out[CONFIG_PATH_MAX], const char *parent, size_t i)
{
	char idx[24];

	snprintf(idx, sizeof(idx), "[%zu]", i);
	out[0] = '\0';
	path_append(out, 0, parent);
	path_append(out, strlen(out), idx);
}

static const char *
type_name(const cJSON *v)
{
	if (cJSON_IsString(v))
		return "string";
	if (cJSON_IsNumber(v))
		return "number";
	if (cJSON_IsBool(v))
		return "boolean";
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsArray(v))
		return "array";
	if (cJSON_IsObject(v))
		return "object";
	return "invalid";
}

/* Quotes s for a message: printable ASCII kept, others as \xNN, long values cut with "...". */
static const char *
quote(const char *s, char out[CONFIG_GOT_MAX])
{
	size_t o = 0, room = CONFIG_GOT_MAX - 6; /* quote, "...", quote, NUL */

	out[o++] = '"';
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		size_t need = (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') ? 1 : 4;

		if (o + need > room) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (need == 1)
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, 5, "\\x%02x", ch);
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

/* A JSON value as it appears in a message: quoted strings, numbers, true/false, or the type. */
static const char *
got(const cJSON *v, char out[CONFIG_GOT_MAX])
{
	if (cJSON_IsString(v))
		return quote(v->valuestring, out);
	if (cJSON_IsNumber(v)) {
		snprintf(out, CONFIG_GOT_MAX, "%.15g", v->valuedouble);
		return out;
	}
	if (cJSON_IsTrue(v))
		return "true";
	if (cJSON_IsFalse(v))
		return "false";
	return type_name(v);
}

/*
 * Checks that obj is an object whose keys are all in allowed (NULL-ended)
 * and appear once. Returns 0 or -1 with the message set.
 */
static int
check_object(struct ctx *c, const cJSON *obj, const char *path, const char *const *allowed)
{
	const cJSON *it, *prev;
	char kp[CONFIG_PATH_MAX];
	size_t i;

	if (!cJSON_IsObject(obj))
		return fail(c, path, "must be an object, got %s", type_name(obj));
	cJSON_ArrayForEach(it, obj)
	{
		path_key(kp, path, it->string);
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(allowed[i], it->string) == 0)
				break;
		if (allowed[i] == NULL)
			return fail(c, kp, "unknown key");
		for (prev = obj->child; prev != it; prev = prev->next)
			if (strcmp(prev->string, it->string) == 0)
				return fail(c, kp, "duplicate key");
	}
	return 0;
}

/* Finds key in obj. Missing and required: -1 with message; missing and optional: 0, *out NULL. */
static int
member(struct ctx *c, const cJSON *obj, const char *path, const char *key, int required,
       const cJSON **out)
{
	char kp[CONFIG_PATH_MAX];

	*out = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (*out == NULL && required) {
		path_key(kp, path, key);
		return fail(c, kp, "missing required key");
	}
	return 0;
}

/* A rule over a string value: NULL when s is fine, else the rule ("must be ..."). */
typedef const char *(*str_rule)(const char *s);

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

static const char *
rule_id(const char *s)
{
	return id_valid(s) ? NULL : "must be " ID_RULE;
}

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

	do {
		comma = strchr(s, ',');
		if (!hostport_ok(s, comma != NULL ? (size_t)(comma - s) : strlen(s)))
			return "must be a comma-separated list of host:port";
		s = comma + 1;
	} while (comma != NULL);
	return NULL;
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

/* Checks v against rule; path names v. */
static int
check_str(struct ctx *c, const cJSON *v, const char *path, str_rule rule)
{
	char g[CONFIG_GOT_MAX];
	const char *r;

	if (!cJSON_IsString(v))
		return fail(c, path, "must be a string, got %s", type_name(v));
	if ((r = rule(v->valuestring)) != NULL)
		return fail(c, path, "%s, got %s", r, quote(v->valuestring, g));
	return 0;
}

/* Sets *dst to a copy of obj.key checked by rule, or of def when absent (def may be NULL). */
static int
get_str(struct ctx *c, const cJSON *obj, const char *path, const char *key, int required,
	str_rule rule, const char *def, char **dst)
{
	char kp[CONFIG_PATH_MAX];
	const cJSON *v;
	const char *s = def;

	if (member(c, obj, path, key, required, &v) != 0)
		return -1;
	if (v != NULL) {
		path_key(kp, path, key);
		if (check_str(c, v, kp, rule) != 0)
			return -1;
		s = v->valuestring;
	}
	if (s != NULL && (*dst = strdup(s)) == NULL)
		return fail_oom(c);
	return 0;
}

/* Sets *dst to the integer obj.key in min..max, or def when absent. */
static int
get_int(struct ctx *c, const cJSON *obj, const char *path, const char *key, long min, long max,
	long def, long *dst)
{
	char kp[CONFIG_PATH_MAX], g[CONFIG_GOT_MAX];
	const cJSON *v;
	double d;

	if (member(c, obj, path, key, OPTIONAL, &v) != 0)
		return -1;
	if (v == NULL) {
		*dst = def;
		return 0;
	}
	path_key(kp, path, key);
	if (!cJSON_IsNumber(v))
		return fail(c, kp, "must be an integer, got %s", type_name(v));
	d = v->valuedouble;
	if (d != (double)(long long)d)
		return fail(c, kp, "must be an integer, got %s", got(v, g));
	if (d < (double)min || d > (double)max)
		return fail(c, kp, "must be %ld..%ld, got %s", min, max, got(v, g));
	*dst = (long)d;
	return 0;
}

static int
get_bool(struct ctx *c, const cJSON *obj, const char *path, const char *key, int *dst)
{
	char kp[CONFIG_PATH_MAX];
	const cJSON *v;

	if (member(c, obj, path, key, OPTIONAL, &v) != 0)
		return -1;
	if (v == NULL) {
		*dst = 0;
		return 0;
	}
	path_key(kp, path, key);
	if (!cJSON_IsBool(v))
		return fail(c, kp, "must be a boolean, got %s", type_name(v));
	*dst = cJSON_IsTrue(v);
	return 0;
}

/* "one of a, b, c" for a message. */
static const char *
choices(const struct name_bit *tab, size_t n, char *out, size_t outlen)
{
	size_t i, o = 0;

	out[0] = '\0';
	for (i = 0; i < n && o < outlen; i++)
		o += (size_t)snprintf(out + o, outlen - o, "%s%s", i ? ", " : "", tab[i].name);
	return out;
}

/* Looks a string value up in tab; -1 with "must be one of ..." when it is not there. */
static int
lookup(struct ctx *c, const cJSON *v, const char *path, const struct name_bit *tab, size_t n,
       unsigned *bit)
{
	char list[CONFIG_PATH_MAX], g[CONFIG_GOT_MAX];
	size_t i;

	if (!cJSON_IsString(v))
		return fail(c, path, "must be a string, got %s", type_name(v));
	for (i = 0; i < n; i++)
		if (strcmp(v->valuestring, tab[i].name) == 0) {
			*bit = tab[i].bit;
			return 0;
		}
	return fail(c, path, "must be one of %s, got %s", choices(tab, n, list, sizeof(list)),
		    quote(v->valuestring, g));
}

/* Sets *dst from the required string obj.key, one of tab. */
static int
get_enum(struct ctx *c, const cJSON *obj, const char *path, const char *key,
	 const struct name_bit *tab, size_t n, unsigned *dst)
{
	char kp[CONFIG_PATH_MAX];
	const cJSON *v;

	if (member(c, obj, path, key, REQUIRED, &v) != 0)
		return -1;
	path_key(kp, path, key);
	return lookup(c, v, kp, tab, n, dst);
}

/* How one array item becomes a bit: by name, by RSA size, by extension name. */
enum bits_kind { BITS_NAMES, BITS_SIZES, BITS_EXTENSIONS };

static int
item_bit(struct ctx *c, const cJSON *v, const char *path, enum bits_kind kind,
	 const struct name_bit *tab, size_t n, unsigned *bit)
{
	char g[CONFIG_GOT_MAX], list[CONFIG_PATH_MAX];
	size_t i, o = 0;

	if (kind == BITS_NAMES)
		return lookup(c, v, path, tab, n, bit);
	if (kind == BITS_EXTENSIONS) {
		if (!cJSON_IsString(v))
			return fail(c, path, "must be a string, got %s", type_name(v));
		if ((*bit = ext_from_name(v->valuestring)) != 0)
			return 0;
		for (i = 0; i < NELEM(ext_bits); i++)
			o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "",
					      ext_name(ext_bits[i]));
		return fail(c, path, "must be one of %s, got %s", list, quote(v->valuestring, g));
	}
	if (!cJSON_IsNumber(v))
		return fail(c, path, "must be an integer, got %s", type_name(v));
	for (i = 0; i < n; i++)
		if (v->valuedouble == strtod(tab[i].name, NULL)) {
			*bit = tab[i].bit;
			return 0;
		}
	for (i = 0; i < n; i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
				      i == 0 ? "" : (i + 1 == n ? " or " : ", "), tab[i].name);
	return fail(c, path, "must be %s, got %s", list, got(v, g));
}

/* Sets *dst to the bit set of the non-empty array obj.key (no repeats), or def when absent. */
static int
get_bits(struct ctx *c, const cJSON *obj, const char *path, const char *key, enum bits_kind kind,
	 const struct name_bit *tab, size_t n, unsigned def, unsigned *dst)
{
	char kp[CONFIG_PATH_MAX], ip[CONFIG_PATH_MAX], g[CONFIG_GOT_MAX];
	const cJSON *v, *it;
	unsigned set = 0, bit = 0;
	size_t i = 0;

	if (member(c, obj, path, key, OPTIONAL, &v) != 0)
		return -1;
	if (v == NULL) {
		*dst = def;
		return 0;
	}
	path_key(kp, path, key);
	if (!cJSON_IsArray(v))
		return fail(c, kp, "must be an array, got %s", type_name(v));
	if (cJSON_GetArraySize(v) == 0)
		return fail(c, kp, "must not be empty");
	cJSON_ArrayForEach(it, v)
	{
		path_idx(ip, kp, i++);
		if (item_bit(c, it, ip, kind, tab, n, &bit) != 0)
			return -1;
		if (set & bit)
			return fail(c, ip, "duplicate value, got %s", got(it, g));
		set |= bit;
	}
	*dst = set;
	return 0;
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

/*
 * Sets *dst to a NULL-terminated copy of the array of strings obj.key (each
 * checked by rule, no repeats); an empty list when absent.
 */
static int
get_strv(struct ctx *c, const cJSON *obj, const char *path, const char *key, str_rule rule,
	 char ***dst)
{
	char kp[CONFIG_PATH_MAX], ip[CONFIG_PATH_MAX], g[CONFIG_GOT_MAX];
	const cJSON *v, *it;
	char **list = NULL;
	size_t i = 0, j, n = 0;
	int rc = -1;

	if (member(c, obj, path, key, OPTIONAL, &v) != 0)
		return -1;
	path_key(kp, path, key);
	if (v != NULL && !cJSON_IsArray(v))
		return fail(c, kp, "must be an array, got %s", type_name(v));
	if (v != NULL)
		n = (size_t)cJSON_GetArraySize(v);
	if ((list = calloc(n + 1, sizeof(*list))) == NULL)
		return fail_oom(c);
	if (v != NULL) {
		cJSON_ArrayForEach(it, v)
		{
			path_idx(ip, kp, i);
			if (check_str(c, it, ip, rule) != 0)
				goto out;
			for (j = 0; j < i; j++)
				if (strcmp(list[j], it->valuestring) == 0) {
					fail(c, ip, "duplicate value, got %s",
					     quote(it->valuestring, g));
					goto out;
				}
			if ((list[i] = strdup(it->valuestring)) == NULL) {
				fail_oom(c);
				goto out;
			}
			i++;
		}
	}
	*dst = list;
	list = NULL;
	rc = 0;
out:
	strv_free(list);
	return rc;
}

/*
 * Parses "addr/prefix" strictly: inet_pton address, decimal prefix without
 * sign or leading zeros within the family's width, no host bits set.
 * Returns 0, or -1 with a static rule in *why.
 */
static int
cidr_parse(const char *s, struct cidr *out, const char **why)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/'), *p;
	int width, prefix = 0, i;

	*why = "must be an IPv4 or IPv6 CIDR address/prefix";
	if (slash == NULL || (size_t)(slash - s) >= sizeof(addr))
		return -1;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, addr, out->addr) == 1) {
		out->family = AF_INET;
		width = 32;
	} else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
		out->family = AF_INET6;
		width = 128;
	} else {
		return -1;
	}
	p = slash + 1;
	if (*p == '\0' || (p[0] == '0' && p[1] != '\0'))
		return -1;
	for (; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		prefix = prefix * 10 + (*p - '0');
		if (prefix > width)
			return -1;
	}
	out->prefix = prefix;
	for (i = prefix; i < width; i++)
		if (out->addr[i / 8] & (0x80 >> (i % 8))) {
			*why = "must have no host bits set after the prefix";
			return -1;
		}
	return 0;
}

static int
get_cidrs(struct ctx *c, const cJSON *obj, const char *path, struct ca_selection *sel)
{
	char kp[CONFIG_PATH_MAX], ip[CONFIG_PATH_MAX], g[CONFIG_GOT_MAX];
	const cJSON *v, *it;
	const char *why;
	size_t i = 0;

	if (member(c, obj, path, "client_cidrs", OPTIONAL, &v) != 0)
		return -1;
	if (v == NULL)
		return 0;
	path_key(kp, path, "client_cidrs");
	if (!cJSON_IsArray(v))
		return fail(c, kp, "must be an array, got %s", type_name(v));
	if (cJSON_GetArraySize(v) > 0 &&
	    (sel->cidrs = calloc((size_t)cJSON_GetArraySize(v), sizeof(*sel->cidrs))) == NULL)
		return fail_oom(c);
	cJSON_ArrayForEach(it, v)
	{
		path_idx(ip, kp, i);
		if (!cJSON_IsString(it))
			return fail(c, ip, "must be a string, got %s", type_name(it));
		if (cidr_parse(it->valuestring, &sel->cidrs[i], &why) != 0)
			return fail(c, ip, "%s, got %s", why, quote(it->valuestring, g));
		sel->ncidrs = ++i;
	}
	return 0;
}

static int
get_webhooks(struct ctx *c, const cJSON *obj, const char *path, struct webhook **dst, size_t *n)
{
	static const char *const keys[] = {"url", "secret", NULL};
	char kp[CONFIG_PATH_MAX], ip[CONFIG_PATH_MAX];
	const cJSON *v, *it;
	size_t i = 0;

	if (member(c, obj, path, "webhooks", OPTIONAL, &v) != 0)
		return -1;
	if (v == NULL)
		return 0;
	path_key(kp, path, "webhooks");
	if (!cJSON_IsArray(v))
		return fail(c, kp, "must be an array, got %s", type_name(v));
	if (cJSON_GetArraySize(v) > 0 &&
	    (*dst = calloc((size_t)cJSON_GetArraySize(v), sizeof(**dst))) == NULL)
		return fail_oom(c);
	cJSON_ArrayForEach(it, v)
	{
		path_idx(ip, kp, i);
		*n = ++i;
		if (check_object(c, it, ip, keys) != 0 ||
		    get_str(c, it, ip, "url", REQUIRED, rule_webhook_url, NULL,
			    &(*dst)[i - 1].url) != 0 ||
		    get_str(c, it, ip, "secret", REQUIRED, rule_nonempty, NULL,
			    &(*dst)[i - 1].secret) != 0)
			return -1;
	}
	return 0;
}

/* Calls one element parser per item of the required array top[key]; *n counts started items. */
static int
get_array(struct ctx *c, const cJSON *top, const char *key, size_t elem, void **dst, size_t *n,
	  int (*parse)(struct ctx *, const cJSON *, const char *, void *))
{
	char ip[CONFIG_PATH_MAX];
	const cJSON *v, *it;
	size_t i = 0;

	if (member(c, top, "", key, REQUIRED, &v) != 0)
		return -1;
	if (!cJSON_IsArray(v))
		return fail(c, key, "must be an array, got %s", type_name(v));
	if ((*dst = calloc((size_t)cJSON_GetArraySize(v) + 1, elem)) == NULL)
		return fail_oom(c);
	cJSON_ArrayForEach(it, v)
	{
		path_idx(ip, key, i);
		*n = ++i;
		if (parse(c, it, ip, (char *)*dst + (i - 1) * elem) != 0)
			return -1;
	}
	return 0;
}

static int
parse_tenant(struct ctx *c, const cJSON *obj, const char *path, void *dst)
{
	static const char *const keys[] = {"id", "name", "webhooks", NULL};
	struct tenant *t = dst;

	if (check_object(c, obj, path, keys) != 0 ||
	    get_str(c, obj, path, "id", REQUIRED, rule_id, NULL, &t->id) != 0 ||
	    get_str(c, obj, path, "name", REQUIRED, rule_nonempty, NULL, &t->name) != 0 ||
	    get_webhooks(c, obj, path, &t->webhooks, &t->nwebhooks) != 0)
		return -1;
	return 0;
}

static int
parse_selection(struct ctx *c, const cJSON *ca, const char *path, struct ca_selection *sel)
{
	static const char *const keys[] = {"tenants",      "purposes", "email_patterns",
					   "client_cidrs", "priority", NULL};
	char sp[CONFIG_PATH_MAX];
	const cJSON *v;
	long prio = 0;

	if (member(c, ca, path, "selection", OPTIONAL, &v) != 0)
		return -1;
	path_key(sp, path, "selection");
	if (v != NULL && check_object(c, v, sp, keys) != 0)
		return -1;
	/* An absent selection behaves as an empty object: every list empty. */
	if (get_strv(c, v, sp, "tenants", rule_id, &sel->tenants) != 0 ||
	    get_strv(c, v, sp, "purposes", rule_nonempty, &sel->purposes) != 0 ||
	    get_strv(c, v, sp, "email_patterns", rule_nonempty, &sel->email_patterns) != 0 ||
	    get_cidrs(c, v, sp, sel) != 0 ||
	    get_int(c, v, sp, "priority", -CONFIG_PRIORITY_MAX, CONFIG_PRIORITY_MAX, 0, &prio) != 0)
		return -1;
	sel->priority = (int)prio;
	return 0;
}

static int
parse_ca(struct ctx *c, const cJSON *obj, const char *path, void *dst)
{
	static const char *const keys[] = {"id",
					   "name",
					   "type",
					   "parent",
					   "status",
					   "api_issuance",
					   "cert",
					   "key",
					   "requires_manual_approval",
					   "approval_password_hash",
					   "approvals_required",
					   "approval_ttl_seconds",
					   "max_validity_days",
					   "allowed_key_types",
					   "allowed_key_sizes",
					   "allowed_curves",
					   "allowed_extensions",
					   "selection",
					   "tenants",
					   "users",
					   "webhooks",
					   "ca_issuers_url",
					   "crl_url",
					   "crl",
					   NULL};
	char kp[CONFIG_PATH_MAX], g[CONFIG_GOT_MAX];
	struct ca *ca = dst;
	unsigned type = 0, status = 0;
	long n = 0;
	const cJSON *v;

	if (check_object(c, obj, path, keys) != 0 ||
	    get_str(c, obj, path, "id", REQUIRED, rule_id, NULL, &ca->id) != 0 ||
	    get_str(c, obj, path, "name", REQUIRED, rule_nonempty, NULL, &ca->name) != 0 ||
	    get_enum(c, obj, path, "type", ca_types, NELEM(ca_types), &type) != 0)
		return -1;
	ca->type = (enum ca_type)type;
	if (member(c, obj, path, "parent", ca->type == CA_INTERMEDIATE, &v) != 0)
		return -1;
	path_key(kp, path, "parent");
	if (v != NULL && ca->type == CA_ROOT)
		return fail(c, kp, "must be absent for a root, got %s", got(v, g));
	if (get_str(c, obj, path, "parent", OPTIONAL, rule_id, NULL, &ca->parent) != 0 ||
	    get_enum(c, obj, path, "status", ca_statuses, NELEM(ca_statuses), &status) != 0 ||
	    get_bool(c, obj, path, "api_issuance", &ca->api_issuance) != 0)
		return -1;
	ca->status = (enum ca_status)status;
	if (ca->type == CA_ROOT && ca->api_issuance) {
		path_key(kp, path, "api_issuance");
		return fail(c, kp,
			    "must be false for a root (roots never sign through the request "
			    "API), got true");
	}
	if (get_str(c, obj, path, "cert", REQUIRED, rule_nonempty, NULL, &ca->cert_path) != 0 ||
	    get_str(c, obj, path, "key", REQUIRED, rule_nonempty, NULL, &ca->key_path) != 0 ||
	    get_bool(c, obj, path, "requires_manual_approval", &ca->requires_manual_approval) != 0)
		return -1;
	if (member(c, obj, path, "approval_password_hash", OPTIONAL, &v) != 0)
		return -1;
	if (v == NULL && ca->requires_manual_approval) {
		path_key(kp, path, "approval_password_hash");
		return fail(c, kp, "missing required key (requires_manual_approval is true)");
	}
	if (get_str(c, obj, path, "approval_password_hash", OPTIONAL, rule_scrypt, NULL,
		    &ca->approval_password_hash) != 0 ||
	    get_int(c, obj, path, "approvals_required", 1, CONFIG_APPROVALS_MAX, DEFAULT_APPROVALS,
		    &n) != 0)
		return -1;
	ca->approvals_required = (int)n;
	if (get_int(c, obj, path, "approval_ttl_seconds", CONFIG_APPROVAL_TTL_MIN_S,
		    CONFIG_APPROVAL_TTL_MAX_S, CONFIG_DEFAULT_APPROVAL_TTL_S,
		    &ca->approval_ttl_s) != 0 ||
	    get_int(c, obj, path, "max_validity_days", 1, CONFIG_MAX_VALIDITY_DAYS,
		    CONFIG_MAX_VALIDITY_DAYS, &n) != 0)
		return -1;
	ca->max_validity_days = (int)n;
	if (get_bits(c, obj, path, "allowed_key_types", BITS_NAMES, key_types, NELEM(key_types),
		     DEFAULT_KEY_TYPES, &ca->allowed_key_types) != 0 ||
	    get_bits(c, obj, path, "allowed_key_sizes", BITS_SIZES, key_sizes, NELEM(key_sizes),
		     DEFAULT_KEY_SIZES, &ca->allowed_key_sizes) != 0 ||
	    get_bits(c, obj, path, "allowed_curves", BITS_NAMES, curves, NELEM(curves),
		     DEFAULT_CURVES, &ca->allowed_curves) != 0 ||
	    get_bits(c, obj, path, "allowed_extensions", BITS_EXTENSIONS, NULL, 0,
		     DEFAULT_EXTENSIONS, &ca->allowed_extensions) != 0 ||
	    parse_selection(c, obj, path, &ca->selection) != 0 ||
	    get_strv(c, obj, path, "tenants", rule_id, &ca->tenants) != 0 ||
	    get_strv(c, obj, path, "users", rule_id, &ca->users) != 0 ||
	    get_webhooks(c, obj, path, &ca->webhooks, &ca->nwebhooks) != 0 ||
	    get_str(c, obj, path, "ca_issuers_url", OPTIONAL, rule_http_url, NULL,
		    &ca->ca_issuers_url) != 0 ||
	    get_str(c, obj, path, "crl_url", OPTIONAL, rule_http_url, NULL, &ca->crl_url) != 0 ||
	    get_str(c, obj, path, "crl", OPTIONAL, rule_nonempty, NULL, &ca->crl_path) != 0)
		return -1;
	/* A distribution point nobody can fill would be a URL pointing at nothing. */
	if (ca->crl_url != NULL && ca->crl_path == NULL) {
		path_key(kp, path, "crl");
		return fail(c, kp, "missing required key (crl_url is set)");
	}
	return 0;
}

static int
parse_user(struct ctx *c, const cJSON *obj, const char *path, void *dst)
{
	static const char *const keys[] = {"name",          "email",        "role",
					   "tenant",        "api_key_hash", "cas",
					   "admin_tenants", "admin_cas",    NULL};
	char kp[CONFIG_PATH_MAX], g[CONFIG_GOT_MAX];
	struct user *u = dst;
	unsigned role = 0;
	const cJSON *v;

	if (check_object(c, obj, path, keys) != 0 ||
	    get_str(c, obj, path, "name", REQUIRED, rule_id, NULL, &u->name) != 0 ||
	    get_str(c, obj, path, "email", REQUIRED, rule_email, NULL, &u->email) != 0 ||
	    get_enum(c, obj, path, "role", roles, NELEM(roles), &role) != 0 ||
	    get_str(c, obj, path, "tenant", REQUIRED, rule_id, NULL, &u->tenant) != 0 ||
	    member(c, obj, path, "api_key_hash", REQUIRED, &v) != 0)
		return -1;
	u->role = (enum user_role)role;
	path_key(kp, path, "api_key_hash");
	if (!cJSON_IsString(v))
		return fail(c, kp, "must be a string, got %s", type_name(v));
	if (secret_hash_parse(v->valuestring, u->api_key_hash) != 0)
		return fail(c, kp, "must be sha256:<64 lowercase hex>, got %s",
			    quote(v->valuestring, g));
	if (get_strv(c, obj, path, "cas", rule_id, &u->cas) != 0 ||
	    get_strv(c, obj, path, "admin_tenants", rule_id, &u->admin_tenants) != 0 ||
	    get_strv(c, obj, path, "admin_cas", rule_id, &u->admin_cas) != 0)
		return -1;
	if (u->role != ROLE_ADMIN) {
		if (u->admin_tenants[0] != NULL || u->admin_cas[0] != NULL) {
			path_key(kp, path,
				 u->admin_tenants[0] != NULL ? "admin_tenants" : "admin_cas");
			return fail(c, kp,
				    "must be empty unless role is admin, got a non-empty list");
		}
	}
	return 0;
}

/* redis.users: one login per service, each its own user (optional: absent means no AUTH). */
static int
parse_redis_users(struct ctx *c, const cJSON *redis)
{
	static const char *const svc_keys[] = {"gateway", "worker", "approver", NULL};
	static const char *const login_keys[] = {"user", "password_file", NULL};
	struct redis_user *u = c->cfg->redis_users;
	char p[CONFIG_PATH_MAX], kp[CONFIG_PATH_MAX], g[CONFIG_GOT_MAX];
	const cJSON *users, *o;
	size_t i, j;

	if (member(c, redis, "redis", "users", OPTIONAL, &users) != 0)
		return -1;
	if (users == NULL)
		return 0;
	if (check_object(c, users, "redis.users", svc_keys) != 0)
		return -1;
	for (i = 0; i < SERVICE_COUNT; i++) {
		path_key(p, "redis.users", service_names[i]);
		if (member(c, users, "redis.users", service_names[i], REQUIRED, &o) != 0 ||
		    check_object(c, o, p, login_keys) != 0 ||
		    get_str(c, o, p, "user", REQUIRED, rule_id, NULL, &u[i].user) != 0 ||
		    get_str(c, o, p, "password_file", REQUIRED, rule_nonempty, NULL,
			    &u[i].password_file) != 0)
			return -1;
		for (j = 0; j < i; j++)
			if (strcmp(u[j].user, u[i].user) == 0) {
				path_key(kp, p, "user");
				return fail(c, kp,
					    "must differ from redis.users.%s.user (one Redis user "
					    "per service), got %s",
					    service_names[j], quote(u[i].user, g));
			}
	}
	return 0;
}

static const char *const tls_fields[SERVICE_COUNT] = {"kafka.tls.gateway", "kafka.tls.worker",
						      "kafka.tls.approver"};

/*
 * kafka.tls: {"ca", "gateway": {"cert", "key"}, "worker": ..., "approver": ...}.
 * Absent: every service talks plaintext. Present: every service has an entry.
 */
static int
parse_kafka_tls(struct ctx *c, const cJSON *kafka)
{
	static const char *const tls_keys[] = {"ca", "gateway", "worker", "approver", NULL};
	static const char *const client_keys[] = {"cert", "key", NULL};
	struct kafka_tls *t = c->cfg->kafka_tls;
	char kp[CONFIG_PATH_MAX];
	const cJSON *tls, *svc;
	size_t i;

	if (member(c, kafka, "kafka", "tls", OPTIONAL, &tls) != 0)
		return -1;
	if (tls == NULL)
		return 0;
	if (check_object(c, tls, "kafka.tls", tls_keys) != 0)
		return -1;
	for (i = 0; i < SERVICE_COUNT; i++) {
		path_key(kp, "kafka.tls", service_names[i]);
		t[i].field = tls_fields[i];
		if (get_str(c, tls, "kafka.tls", "ca", REQUIRED, rule_nonempty, NULL, &t[i].ca) !=
			0 ||
		    member(c, tls, "kafka.tls", service_names[i], REQUIRED, &svc) != 0 ||
		    check_object(c, svc, kp, client_keys) != 0 ||
		    get_str(c, svc, kp, "cert", REQUIRED, rule_nonempty, NULL, &t[i].cert) != 0 ||
		    get_str(c, svc, kp, "key", REQUIRED, rule_nonempty, NULL, &t[i].key) != 0)
			return -1;
	}
	return 0;
}

static int
parse_bulk_key(struct ctx *c, const cJSON *obj, const char *path, void *dst)
{
	static const char *const keys[] = {"id", "user", "secret_file", NULL};
	struct bulk_key *k = dst;

	if (check_object(c, obj, path, keys) != 0 ||
	    get_str(c, obj, path, "id", REQUIRED, rule_id, NULL, &k->id) != 0 ||
	    get_str(c, obj, path, "user", REQUIRED, rule_id, NULL, &k->user) != 0 ||
	    get_str(c, obj, path, "secret_file", REQUIRED, rule_nonempty, NULL, &k->secret_path) !=
		0)
		return -1;
	return 0;
}

/* The optional bulk_keys array: absent is the same as empty. */
static int
parse_bulk_keys(struct ctx *c, const cJSON *root)
{
	const cJSON *v;

	if (member(c, root, "", "bulk_keys", OPTIONAL, &v) != 0 || v == NULL)
		return 0;
	return get_array(c, root, "bulk_keys", sizeof(struct bulk_key), (void **)&c->cfg->bulk_keys,
			 &c->cfg->nbulk_keys, parse_bulk_key);
}

static int
parse_top(struct ctx *c, const cJSON *root)
{
	static const char *const top_keys[] = {
	    "listen", "kafka", "redis", "grant_key", "tenants", "cas", "users", "bulk_keys", NULL};
	static const char *const listen_keys[] = {"gateway", "approver", NULL};
	static const char *const kafka_keys[] = {"brokers", "group", "topics", "tls", NULL};
	static const char *const topic_keys[] = {"issue",  "approval", "results", "issued", "audit",
						 "notify", "dlq",      "submit",  NULL};
	static const char *const redis_keys[] = {"url", "prefix", "users", NULL};
	struct config *cfg = c->cfg;
	struct topics *t = &cfg->topics;
	const cJSON *listen, *kafka, *topics, *redis;

	if (check_object(c, root, "", top_keys) != 0 ||
	    member(c, root, "", "listen", OPTIONAL, &listen) != 0 ||
	    (listen != NULL && check_object(c, listen, "listen", listen_keys) != 0) ||
	    get_str(c, listen, "listen", "gateway", OPTIONAL, rule_listen, DEFAULT_GATEWAY_LISTEN,
		    &cfg->gateway_listen) != 0 ||
	    get_str(c, listen, "listen", "approver", OPTIONAL, rule_listen, DEFAULT_APPROVER_LISTEN,
		    &cfg->approver_listen) != 0)
		return -1;
	if (member(c, root, "", "kafka", REQUIRED, &kafka) != 0 ||
	    check_object(c, kafka, "kafka", kafka_keys) != 0 ||
	    get_str(c, kafka, "kafka", "brokers", REQUIRED, rule_brokers, NULL,
		    &cfg->kafka_brokers) != 0 ||
	    get_str(c, kafka, "kafka", "group", OPTIONAL, rule_topic, DEFAULT_KAFKA_GROUP,
		    &cfg->kafka_group) != 0 ||
	    member(c, kafka, "kafka", "topics", OPTIONAL, &topics) != 0 ||
	    (topics != NULL && check_object(c, topics, "kafka.topics", topic_keys) != 0))
		return -1;
	if (get_str(c, topics, "kafka.topics", "issue", 0, rule_topic, "pki.issue", &t->issue) ||
	    get_str(c, topics, "kafka.topics", "approval", 0, rule_topic, "pki.approval",
		    &t->approval) ||
	    get_str(c, topics, "kafka.topics", "results", 0, rule_topic, "pki.results",
		    &t->results) ||
	    get_str(c, topics, "kafka.topics", "issued", 0, rule_topic, "pki.issued", &t->issued) ||
	    get_str(c, topics, "kafka.topics", "audit", 0, rule_topic, "pki.audit", &t->audit) ||
	    get_str(c, topics, "kafka.topics", "notify", 0, rule_topic, "pki.notify", &t->notify) ||
	    get_str(c, topics, "kafka.topics", "dlq", 0, rule_topic, "pki.issue.dlq", &t->dlq) ||
	    get_str(c, topics, "kafka.topics", "submit", 0, rule_topic, "pki.submit", &t->submit) ||
	    parse_kafka_tls(c, kafka) != 0)
		return -1;
	if (member(c, root, "", "redis", REQUIRED, &redis) != 0 ||
	    check_object(c, redis, "redis", redis_keys) != 0 ||
	    get_str(c, redis, "redis", "url", REQUIRED, rule_redis_url, NULL, &cfg->redis_url) !=
		0 ||
	    get_str(c, redis, "redis", "prefix", OPTIONAL, rule_prefix, DEFAULT_REDIS_PREFIX,
		    &cfg->redis_prefix) != 0 ||
	    parse_redis_users(c, redis) != 0 ||
	    get_str(c, root, "", "grant_key", REQUIRED, rule_nonempty, NULL,
		    &cfg->grant_key_path) != 0)
		return -1;
	if (get_array(c, root, "tenants", sizeof(struct tenant), (void **)&cfg->tenants,
		      &cfg->ntenants, parse_tenant) != 0 ||
	    get_array(c, root, "cas", sizeof(struct ca), (void **)&cfg->cas, &cfg->ncas,
		      parse_ca) != 0 ||
	    get_array(c, root, "users", sizeof(struct user), (void **)&cfg->users, &cfg->nusers,
		      parse_user) != 0 ||
	    parse_bulk_keys(c, root) != 0)
		return -1;
	if (cfg->ncas == 0 && !(c->flags & CONFIG_LOAD_NO_CA))
		return fail(c, "cas", "must list at least one CA, got an empty array");
	return 0;
}

/* Fields of the parsed arrays by which uniqueness and references are checked. */
static const char *
tenant_id(const struct config *cfg, size_t i)
{
	return cfg->tenants[i].id;
}
static const char *
tenant_name(const struct config *cfg, size_t i)
{
	return cfg->tenants[i].name;
}
static const char *
ca_id(const struct config *cfg, size_t i)
{
	return cfg->cas[i].id;
}
static const char *
ca_name(const struct config *cfg, size_t i)
{
	return cfg->cas[i].name;
}
static const char *
user_name(const struct config *cfg, size_t i)
{
	return cfg->users[i].name;
}
static const char *
bulk_key_id(const struct config *cfg, size_t i)
{
	return cfg->bulk_keys[i].id;
}

/* Fails on the first value of field that repeats an earlier one in array arr. */
static int
check_unique(struct ctx *c, const char *arr, const char *field, size_t n,
	     const char *(*get)(const struct config *, size_t))
{
	char p[CONFIG_PATH_MAX], g[CONFIG_GOT_MAX];
	size_t i, j;

	for (i = 0; i < n; i++)
		for (j = 0; j < i; j++)
			if (strcmp(get(c->cfg, i), get(c->cfg, j)) == 0) {
				snprintf(p, sizeof(p), "%s[%zu].%s", arr, i, field);
				return fail(c, p, "duplicate of %s[%zu].%s, got %s", arr, j, field,
					    quote(get(c->cfg, i), g));
			}
	return 0;
}

/* Index of the entry of arr whose key equals s, or -1. */
static long
find(const struct config *cfg, size_t n, const char *(*get)(const struct config *, size_t),
     const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(get(cfg, i), s) == 0)
			return (long)i;
	return -1;
}

/* Every item of list must name an entry (found by get) of the array called what. */
static int
check_refs(struct ctx *c, const char *path, char *const *list, size_t n,
	   const char *(*get)(const struct config *, size_t), const char *what)
{
	char ip[CONFIG_PATH_MAX], g[CONFIG_GOT_MAX];
	size_t i;

	for (i = 0; list[i] != NULL; i++)
		if (find(c->cfg, n, get, list[i]) < 0) {
			path_idx(ip, path, i);
			return fail(c, ip, "must name an entry of %s, got %s", what,
				    quote(list[i], g));
		}
	return 0;
}

static int
check_ref(struct ctx *c, const char *path, const char *s, size_t n,
	  const char *(*get)(const struct config *, size_t), const char *what)
{
	char g[CONFIG_GOT_MAX];

	if (find(c->cfg, n, get, s) < 0)
		return fail(c, path, "must name an entry of %s, got %s", what, quote(s, g));
	return 0;
}

static int
check_references(struct ctx *c)
{
	struct config *cfg = c->cfg;
	char p[CONFIG_PATH_MAX], g[CONFIG_GOT_MAX];
	size_t i, j, steps;
	long k;

	if (check_unique(c, "tenants", "id", cfg->ntenants, tenant_id) != 0 ||
	    check_unique(c, "tenants", "name", cfg->ntenants, tenant_name) != 0 ||
	    check_unique(c, "cas", "id", cfg->ncas, ca_id) != 0 ||
	    check_unique(c, "cas", "name", cfg->ncas, ca_name) != 0 ||
	    check_unique(c, "users", "name", cfg->nusers, user_name) != 0)
		return -1;
	for (i = 0; i < cfg->nusers; i++)
		for (j = 0; j < i; j++)
			if (memcmp(cfg->users[i].api_key_hash, cfg->users[j].api_key_hash, 32) ==
			    0) {
				snprintf(p, sizeof(p), "users[%zu].api_key_hash", i);
				return fail(c, p, "duplicate of users[%zu].api_key_hash", j);
			}
	for (i = 0; i < cfg->ncas; i++) {
		struct ca *ca = &cfg->cas[i];

		if (ca->parent != NULL) {
			snprintf(p, sizeof(p), "cas[%zu].parent", i);
			if (strcmp(ca->parent, ca->id) == 0)
				return fail(c, p, "must name another CA, got %s",
					    quote(ca->parent, g));
			if (check_ref(c, p, ca->parent, cfg->ncas, ca_id, "cas") != 0)
				return -1;
			/* Following parents must reach a root within ncas steps. */
			for (k = (long)i, steps = 0; cfg->cas[k].parent != NULL; steps++) {
				if (steps > cfg->ncas)
					return fail(c, p,
						    "must lead to a root, got a cycle "
						    "through %s",
						    quote(ca->parent, g));
				k = find(cfg, cfg->ncas, ca_id, cfg->cas[k].parent);
				if (k < 0)
					break; /* reported at that CA */
			}
		}
		snprintf(p, sizeof(p), "cas[%zu].selection.tenants", i);
		if (check_refs(c, p, ca->selection.tenants, cfg->ntenants, tenant_id, "tenants") !=
		    0)
			return -1;
		snprintf(p, sizeof(p), "cas[%zu].tenants", i);
		if (check_refs(c, p, ca->tenants, cfg->ntenants, tenant_id, "tenants") != 0)
			return -1;
		snprintf(p, sizeof(p), "cas[%zu].users", i);
		if (check_refs(c, p, ca->users, cfg->nusers, user_name, "users") != 0)
			return -1;
	}
	for (i = 0; i < cfg->nusers; i++) {
		struct user *u = &cfg->users[i];

		snprintf(p, sizeof(p), "users[%zu].tenant", i);
		if (check_ref(c, p, u->tenant, cfg->ntenants, tenant_id, "tenants") != 0)
			return -1;
		snprintf(p, sizeof(p), "users[%zu].cas", i);
		if (check_refs(c, p, u->cas, cfg->ncas, ca_id, "cas") != 0)
			return -1;
		snprintf(p, sizeof(p), "users[%zu].admin_tenants", i);
		if (check_refs(c, p, u->admin_tenants, cfg->ntenants, tenant_id, "tenants") != 0)
			return -1;
		snprintf(p, sizeof(p), "users[%zu].admin_cas", i);
		if (check_refs(c, p, u->admin_cas, cfg->ncas, ca_id, "cas") != 0)
			return -1;
	}
	if (check_unique(c, "bulk_keys", "id", cfg->nbulk_keys, bulk_key_id) != 0)
		return -1;
	for (i = 0; i < cfg->nbulk_keys; i++) {
		snprintf(p, sizeof(p), "bulk_keys[%zu].user", i);
		if (check_ref(c, p, cfg->bulk_keys[i].user, cfg->nusers, user_name, "users") != 0)
			return -1;
	}
	return 0;
}

/* Replaces *p (relative to dir unless absolute) by its absolute form. */
static int
resolve(struct ctx *c, char **p)
{
	char *abs;

	if ((*p)[0] == '/')
		return 0;
	if (asprintf(&abs, "%s/%s", c->cfg->dir, *p) < 0)
		return fail_oom(c);
	free(*p);
	*p = abs;
	return 0;
}

/* Opens a file named by the config for reading; on failure names the key and the errno. */
static FILE *
open_named(struct ctx *c, const char *path, const char *file)
{
	FILE *fp = fopen(file, "rb");

	if (fp == NULL)
		fail(c, path, "cannot read %s: %s", file, strerror(errno));
	return fp;
}

/* Secret files must not be accessible by group or others. */
static int
check_mode(struct ctx *c, const char *path, const char *file, FILE *fp)
{
	struct stat st;

	if (fstat(fileno(fp), &st) != 0)
		return fail(c, path, "cannot stat %s: %s", file, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail(c, path, "must be a regular file, got something else at %s", file);
	if (st.st_mode & CONFIG_KEY_MODE_MASK)
		return fail(c, path,
			    "file %s must not be accessible by group or others (chmod 600), "
			    "got mode %04o",
			    file, (unsigned)(st.st_mode & 07777));
	return 0;
}

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/*
 * Reads a 32-byte secret from file (named by config key `key`, mode checked):
 * 64 hex digits with optional trailing whitespace, or, when raw_ok, exactly
 * 32 raw bytes.
 */
static int
read_secret32(struct ctx *c, const char *key, const char *file, int raw_ok,
	      unsigned char out[GRANT_KEY_LEN])
{
	const char *forms = raw_ok ? "32 raw bytes or 64 hex digits" : "64 hex digits";
	unsigned char buf[2 * GRANT_KEY_LEN + 2];
	size_t n, i;
	int rc = -1, hi, lo;
	FILE *fp;

	if ((fp = open_named(c, key, file)) == NULL)
		return -1;
	if (check_mode(c, key, file, fp) != 0)
		goto out;
	n = fread(buf, 1, sizeof(buf), fp);
	/* Only the hex form may carry trailing whitespace; raw is exactly 32 bytes. */
	while (n > 2 * GRANT_KEY_LEN && isspace(buf[n - 1]))
		n--;
	if (raw_ok && n == GRANT_KEY_LEN && fgetc(fp) == EOF) {
		memcpy(out, buf, GRANT_KEY_LEN);
	} else if (n == 2 * GRANT_KEY_LEN && fgetc(fp) == EOF) {
		for (i = 0; i < GRANT_KEY_LEN; i++) {
			hi = hexval(buf[2 * i]);
			lo = hexval(buf[2 * i + 1]);
			if (hi < 0 || lo < 0)
				break;
			out[i] = (unsigned char)(hi << 4 | lo);
		}
		if (i < GRANT_KEY_LEN) {
			fail(c, key, "file %s must hold %s, got a non-hex character", file, forms);
			goto out;
		}
	} else {
		fail(c, key, "file %s must hold %s, got %s", file, forms,
		     n > 2 * GRANT_KEY_LEN ? "more" : "a different length");
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	fclose(fp);
	return rc;
}

/* The grant key file: exactly 32 raw bytes, or 64 hex digits with optional trailing whitespace. */
static int
load_grant_key(struct ctx *c)
{
	struct config *cfg = c->cfg;

	if (resolve(c, &cfg->grant_key_path) != 0 ||
	    read_secret32(c, "grant_key", cfg->grant_key_path, 1, cfg->grant_key) != 0)
		return -1;
	cfg->grant_key_loaded = 1;
	return 0;
}

/* Resolves each bulk key's secret_file; reads the secrets only with CONFIG_LOAD_BULK_KEYS. */
static int
load_bulk_keys(struct ctx *c)
{
	struct config *cfg = c->cfg;
	char p[CONFIG_PATH_MAX];
	size_t i;

	for (i = 0; i < cfg->nbulk_keys; i++) {
		struct bulk_key *k = &cfg->bulk_keys[i];

		snprintf(p, sizeof(p), "bulk_keys[%zu].secret_file", i);
		if (resolve(c, &k->secret_path) != 0)
			return -1;
		if (!(c->flags & CONFIG_LOAD_BULK_KEYS))
			continue;
		if (read_secret32(c, p, k->secret_path, 0, k->secret) != 0)
			return -1;
		k->loaded = 1;
	}
	return 0;
}

/* Never prompts for a passphrase: encrypted keys are refused. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

/* UTF-8 copy of the first nid entry of name, "" when absent. */
static char *
subject_field(const X509_NAME *name, int nid)
{
	unsigned char *utf8 = NULL;
	char *s;
	int i = X509_NAME_get_index_by_NID(name, nid, -1);

	if (i < 0 ||
	    ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i))) < 0)
		return strdup("");
	s = strdup((char *)utf8);
	OPENSSL_free(utf8);
	return s;
}

/* Loads ca's certificate (a CA certificate; a root self-signed) and its subject fields. */
static int
load_cert(struct ctx *c, struct ca *ca, size_t idx)
{
	char p[CONFIG_PATH_MAX];
	const X509_NAME *subj;
	FILE *fp;

	snprintf(p, sizeof(p), "cas[%zu].cert", idx);
	if (resolve(c, &ca->cert_path) != 0 || (fp = open_named(c, p, ca->cert_path)) == NULL)
		return -1;
	ca->cert = PEM_read_X509(fp, NULL, no_passphrase, NULL);
	fclose(fp);
	if (ca->cert == NULL)
		return fail(c, p, "must be a PEM certificate, got unparsable data in %s",
			    ca->cert_path);
	if (!(X509_get_extension_flags(ca->cert) & EXFLAG_CA))
		return fail(c, p,
			    "must be a CA certificate (basicConstraints CA:TRUE), got one "
			    "without it in %s",
			    ca->cert_path);
	if (ca->type == CA_ROOT && X509_verify(ca->cert, X509_get0_pubkey(ca->cert)) != 1)
		return fail(c, p,
			    "must be self-signed for a root, got a certificate in %s that its "
			    "own key does not verify",
			    ca->cert_path);
	subj = X509_get_subject_name(ca->cert);
	if ((ca->common_name = subject_field(subj, NID_commonName)) == NULL ||
	    (ca->organization = subject_field(subj, NID_organizationName)) == NULL ||
	    (ca->country = subject_field(subj, NID_countryName)) == NULL)
		return fail_oom(c);
	return 0;
}

/* Loads ca's private key: file mode, format, and that it belongs to ca->cert. */
static int
load_key(struct ctx *c, struct ca *ca, size_t idx)
{
	char p[CONFIG_PATH_MAX];
	FILE *fp;
	int rc = -1;

	snprintf(p, sizeof(p), "cas[%zu].key", idx);
	if ((fp = open_named(c, p, ca->key_path)) == NULL)
		return -1;
	if (check_mode(c, p, ca->key_path, fp) != 0)
		goto out;
	if ((ca->key = PEM_read_PrivateKey(fp, NULL, no_passphrase, NULL)) == NULL) {
		fail(c, p, "must be an unencrypted PEM private key, got unparsable data in %s",
		     ca->key_path);
		goto out;
	}
	if (EVP_PKEY_eq(ca->key, X509_get0_pubkey(ca->cert)) != 1) {
		fail(c, p,
		     "must match the certificate of cas[%zu].cert, got the key in %s that "
		     "does not",
		     idx, ca->key_path);
		goto out;
	}
	rc = 0;
out:
	fclose(fp);
	return rc;
}

/* Builds ca->chain (parent's cert up to the root) and checks the parent signed ca->cert. */
static int
build_chain(struct ctx *c, struct ca *ca, size_t idx)
{
	struct config *cfg = c->cfg;
	const struct ca *up = ca;
	char p[CONFIG_PATH_MAX], g[CONFIG_GOT_MAX];
	long k;

	if ((ca->chain = sk_X509_new_null()) == NULL)
		return fail_oom(c);
	while (up->parent != NULL) {
		k = find(cfg, cfg->ncas, ca_id, up->parent);
		up = &cfg->cas[k];
		if (!X509_up_ref(up->cert))
			return fail_oom(c);
		if (!sk_X509_push(ca->chain, up->cert)) {
			X509_free(up->cert); /* drops the reference just taken */
			return fail_oom(c);
		}
	}
	if (ca->parent != NULL) {
		const X509 *parent = sk_X509_value(ca->chain, 0);

		snprintf(p, sizeof(p), "cas[%zu].cert", idx);
		if (X509_verify(ca->cert, X509_get0_pubkey(parent)) != 1)
			return fail(c, p,
				    "must be signed by the key of parent %s, got %s whose "
				    "signature it does not verify",
				    quote(ca->parent, g), ca->cert_path);
	}
	return 0;
}

static int
load_files(struct ctx *c)
{
	struct config *cfg = c->cfg;
	size_t i;

	if (load_grant_key(c) != 0 || load_bulk_keys(c) != 0)
		return -1;
	/* Only resolved: each service reads its own password file (config_redis_login). */
	for (i = 0; i < SERVICE_COUNT; i++)
		if (cfg->redis_users[i].password_file != NULL &&
		    resolve(c, &cfg->redis_users[i].password_file) != 0)
			return -1;
	/* Named only: each service reads its own files when it connects. */
	for (i = 0; i < SERVICE_COUNT && cfg->kafka_tls[i].ca != NULL; i++)
		if (resolve(c, &cfg->kafka_tls[i].ca) != 0 ||
		    resolve(c, &cfg->kafka_tls[i].cert) != 0 ||
		    resolve(c, &cfg->kafka_tls[i].key) != 0)
			return -1;
	for (i = 0; i < cfg->ncas; i++)
		if (load_cert(c, &cfg->cas[i], i) != 0 || resolve(c, &cfg->cas[i].key_path) != 0 ||
		    (cfg->cas[i].crl_path != NULL && resolve(c, &cfg->cas[i].crl_path) != 0))
			return -1;
	for (i = 0; i < cfg->ncas; i++) {
		if (build_chain(c, &cfg->cas[i], i) != 0)
			return -1;
		if ((c->flags & CONFIG_LOAD_KEYS) && load_key(c, &cfg->cas[i], i) != 0)
			return -1;
	}
	return 0;
}

/* Applies one environment override to *dst after checking it with rule. */
static int
env_override(struct ctx *c, const char *var, const char *key, str_rule rule, char **dst)
{
	const char *v = getenv(var);
	char p[CONFIG_PATH_MAX], g[CONFIG_GOT_MAX];
	const char *r;
	char *copy;

	if (v == NULL || v[0] == '\0')
		return 0;
	if ((r = rule(v)) != NULL) {
		snprintf(p, sizeof(p), "%s (from environment %s)", key, var);
		return fail(c, p, "%s, got %s", r, quote(v, g));
	}
	if ((copy = strdup(v)) == NULL)
		return fail_oom(c);
	free(*dst);
	*dst = copy;
	return 0;
}

static int
apply_env(struct ctx *c)
{
	struct config *cfg = c->cfg;

	if (env_override(c, "PKI_KAFKA_BROKERS", "kafka.brokers", rule_brokers,
			 &cfg->kafka_brokers) != 0 ||
	    env_override(c, "PKI_REDIS_URL", "redis.url", rule_redis_url, &cfg->redis_url) != 0 ||
	    env_override(c, "PKI_REDIS_PREFIX", "redis.prefix", rule_prefix, &cfg->redis_prefix) !=
		0 ||
	    env_override(c, "PKI_GATEWAY_LISTEN", "listen.gateway", rule_listen,
			 &cfg->gateway_listen) != 0 ||
	    env_override(c, "PKI_APPROVER_LISTEN", "listen.approver", rule_listen,
			 &cfg->approver_listen) != 0)
		return -1;
	return 0;
}

/* Reads the whole file (at most CONFIG_FILE_MAX) NUL-terminated into *out. */
static int
read_file(struct ctx *c, const char *file, char **out)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *fp;
	int rc = -1;

	if ((fp = fopen(file, "rb")) == NULL)
		return fail(c, NULL, "cannot read: %s", strerror(errno));
	if ((buf = malloc(CONFIG_FILE_MAX + 1)) == NULL) {
		fail_oom(c);
		goto out;
	}
	n = fread(buf, 1, CONFIG_FILE_MAX + 1, fp);
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
	struct ctx c = {.file = path, .err = err, .flags = flags};
	char *text = NULL;
	cJSON *root = NULL;
	int rc = -1;

	err[0] = '\0';
	if ((c.cfg = calloc(1, sizeof(*c.cfg))) == NULL) {
		fail_oom(&c);
		goto out;
	}
	if ((c.cfg->path = strdup(path)) == NULL) {
		fail_oom(&c);
		goto out;
	}
	if (read_file(&c, path, &text) != 0 || (root = parse_json(&c, text)) == NULL ||
	    parse_top(&c, root) != 0 || check_references(&c) != 0 || config_dir(&c, path) != 0 ||
	    load_files(&c) != 0 || apply_env(&c) != 0)
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
	}
	free(cfg->tenants);
	for (i = 0; i < cfg->nbulk_keys; i++) {
		free(cfg->bulk_keys[i].id);
		free(cfg->bulk_keys[i].user);
		free(cfg->bulk_keys[i].secret_path);
		OPENSSL_cleanse(cfg->bulk_keys[i].secret, sizeof(cfg->bulk_keys[i].secret));
	}
	free(cfg->bulk_keys);
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

/* The password file's content: one line of printable characters without spaces. */
static int
password_parse(struct ctx *c, const char *what, const char *file, char *buf, size_t n)
{
	size_t i;

	if (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
	if (n < CONFIG_REDIS_PASSWORD_MIN || n > CONFIG_REDIS_PASSWORD_MAX)
		return fail(c, what,
			    "file %s must hold one line of " STR(CONFIG_REDIS_PASSWORD_MIN) ".." STR(
				CONFIG_REDIS_PASSWORD_MAX) " characters, got %zu",
			    file, n);
	for (i = 0; i < n; i++)
		if (!isgraph((unsigned char)buf[i]))
			return fail(c, what,
				    "file %s must hold printable characters without spaces, got "
				    "byte 0x%02x at offset %zu",
				    file, (unsigned char)buf[i], i);
	return 0;
}

int
config_password_read(const char *cfgfile, const char *what, const char *file, char *password,
		     char *err)
{
	struct ctx c = {.file = cfgfile, .err = err};
	char buf[CONFIG_REDIS_PASSWORD_MAX + 3];
	size_t n;
	int rc = -1;
	FILE *fp;

	if ((fp = open_named(&c, what, file)) == NULL)
		return -1;
	if (check_mode(&c, what, file, fp) != 0)
		goto out;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	if (password_parse(&c, what, file, buf, n) != 0)
		goto out;
	memcpy(password, buf, strlen(buf) + 1);
	rc = 0;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	fclose(fp);
	return rc;
}

int
config_redis_login(const struct config *cfg, const char *service, const char **user,
		   char *password, char *err)
{
	char what[CONFIG_PATH_MAX];
	size_t i;

	for (i = 0; i < SERVICE_COUNT; i++)
		if (strcmp(service_names[i], service) == 0)
			break;
	if (i == SERVICE_COUNT || cfg->redis_users[i].user == NULL)
		return 0;
	snprintf(what, sizeof(what), "redis.users.%s.password_file", service);
	if (config_password_read(cfg->path, what, cfg->redis_users[i].password_file, password,
				 err) != 0)
		return -1;
	*user = cfg->redis_users[i].user;
	return 1;
}

const struct ca *
config_ca_find(const struct config *cfg, const char *id)
{
	size_t i;

	if (id == NULL)
		return NULL;
	for (i = 0; i < cfg->ncas; i++)
		if (strcmp(cfg->cas[i].id, id) == 0)
			return &cfg->cas[i];
	return NULL;
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

static int
strv_empty(char *const *v)
{
	return v == NULL || v[0] == NULL;
}

static int
strv_has(char *const *v, const char *s)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		if (strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

int
config_user_may_use(const struct user *u, const struct ca *ca)
{
	size_t i;
	int tenant_ok;

	if (u == NULL || ca == NULL || u->role == ROLE_AUDITOR)
		return 0;
	if (strv_has(ca->users, u->name) || strv_has(ca->tenants, u->tenant) ||
	    strv_has(u->cas, ca->id))
		return 1;
	if (u->role != ROLE_ADMIN)
		return 0;
	/* Admin scope: admin_cas (empty = all) and admin_tenants (empty = all) both hold. */
	if (!strv_empty(u->admin_cas) && !strv_has(u->admin_cas, ca->id))
		return 0;
	if (strv_empty(u->admin_tenants))
		return 1;
	tenant_ok = 0;
	for (i = 0; ca->tenants != NULL && ca->tenants[i] != NULL; i++)
		tenant_ok |= strv_has(u->admin_tenants, ca->tenants[i]);
	return tenant_ok;
}
