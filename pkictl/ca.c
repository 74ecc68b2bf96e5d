/* pkictl ca init-root / init-intermediate. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "extern.h"
#include "issue.h"
#include "secret.h"

#define CA_DIR "cas"
#define CA_DIR_MODE 0700
#define ROOT_KEY_USAGE "critical,keyCertSign,cRLSign"
#define INT_KEY_USAGE "critical,keyCertSign,cRLSign,digitalSignature"
#define INT_MAX_VALIDITY_DEFAULT "397"
#define INT_KEY_TYPES_DEFAULT "RSA,EC"
#define INT_KEY_SIZES_DEFAULT "2048,3072,4096"
#define INT_CURVES_DEFAULT "P-256,P-384"
#define INT_EXTENSIONS_DEFAULT "server_auth,client_auth"
#define CIDR_TEXT_MAX 64

/* Flags both CA commands take. */
struct ca_opts {
	const char *id, *name, *key, *days, *org, *country, *path_len;
};

#define CA_COMMON_FLAGS(o, keydefault, daysdefault)                                                  \
	{                                                                                            \
	    "--id",  "ID", "CA id: config key and file name ([A-Za-z0-9._-], 1..64)",                \
	    &(o).id, NULL, 1},                                                                       \
	    {"--name", "CN", "subject common name, also the CA's display name", &(o).name, NULL, 1}, \
	    {"--key",                                                                                \
	     "KEY",                                                                                  \
	     "rsa2048 | rsa3072 | rsa4096 | ec-p256 | ec-p384 (default " keydefault ")",             \
	     &(o).key,                                                                               \
	     NULL,                                                                                   \
	     0},                                                                                     \
	    {"--days",  "N",  "certificate lifetime in days (default " daysdefault ")",              \
	     &(o).days, NULL, 0},                                                                    \
	    {"--org", "O", "subject organization", &(o).org, NULL, 0},                               \
	{                                                                                            \
		"--country", "C", "subject country, two capital letters", &(o).country, NULL, 0      \
	}

/* Checks the flags both commands share and fills p and *ks. */
static int
ca_opts_check(struct cfgfile *cf, const struct ca_opts *o, const char *keydefault, long daysdefault,
	      struct cert_params *p, const struct keyspec **ks)
{
	long v;

	if (check_id("--id", o->id) != 0 || check_text("--name", o->name, PKICTL_CN_MAX) != 0 ||
	    (o->org != NULL && check_text("--org", o->org, PKICTL_ORG_MAX) != 0) ||
	    (o->country != NULL && check_country("--country", o->country) != 0))
		return -1;
	if (cfgfile_find(cf, "cas", "id", o->id) != NULL) {
		pk_err("--id: a CA with id \"%s\" already exists in %s", o->id, cf->path);
		return -1;
	}
	if (cfgfile_find(cf, "cas", "name", o->name) != NULL) {
		pk_err("--name: a CA named \"%s\" already exists in %s (names must be unique)",
		       o->name, cf->path);
		return -1;
	}
	if ((*ks = keyspec_find(o->key ? o->key : keydefault)) == NULL) {
		pk_err("--key: must be one of %s, got \"%s\"", keyspec_names(), o->key);
		return -1;
	}
	p->cn = o->name;
	p->org = o->org;
	p->country = o->country;
	p->days = daysdefault;
	if (o->days != NULL && parse_int("--days", o->days, 1, PKICTL_CA_DAYS_MAX, &p->days) != 0)
		return -1;
	if (o->path_len != NULL) {
		if (parse_int("--path-len", o->path_len, 0, PKICTL_PATHLEN_MAX, &v) != 0)
			return -1;
		p->pathlen = (int)v;
	}
	return 0;
}

/*
 * Generates the key, signs the certificate, writes both under cas/, completes
 * entry (ownership passes to the config) and commits the config.
 */
static int
ca_create(struct cfgfile *cf, const char *id, const struct keyspec *ks, const struct cert_params *p,
	  X509 *issuer, EVP_PKEY *issuer_key, cJSON *entry)
{
	char *dir = NULL, *keypath = NULL, *certpath = NULL, *crlpath = NULL,
	     rel[PKICTL_ID_MAX + 16];
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	cJSON *cas;
	int rc = -1;

	if ((cas = cfgfile_array(cf, "cas")) == NULL)
		goto out;
	if ((dir = cfgfile_resolve(cf, CA_DIR)) == NULL)
		goto out;
	if (asprintf(&keypath, "%s/%s.key", dir, id) < 0) {
		keypath = NULL;
		goto out;
	}
	if (asprintf(&certpath, "%s/%s.crt", dir, id) < 0) {
		certpath = NULL;
		goto out;
	}
	if (asprintf(&crlpath, "%s/%s.crl", dir, id) < 0) {
		crlpath = NULL;
		goto out;
	}
	if (access(keypath, F_OK) == 0 || access(certpath, F_OK) == 0 ||
	    access(crlpath, F_OK) == 0) {
		pk_err("--id: %s, %s or %s already exists; refusing to overwrite a CA's files",
		       keypath, certpath, crlpath);
		goto out;
	}
	if ((key = key_generate(ks)) == NULL ||
	    (cert = cert_build(p, key, issuer, issuer_key)) == NULL)
		goto out;
	if (mkdirs(dir, CA_DIR_MODE) != 0 || key_write_new(keypath, key) != 0)
		goto out;
	if (cfgfile_track(cf, keypath) != 0) {
		unlink(keypath);
		goto out;
	}
	if (cert_write_new(certpath, cert) != 0)
		goto out;
	if (cfgfile_track(cf, certpath) != 0) {
		unlink(certpath);
		goto out;
	}
	/* The first CRL, so a crl_url in the entry answers from the start. */
	if (crl_write(crlpath, cert, key, PKICTL_CRL_DAYS_DEFAULT, NULL) != 0)
		goto out;
	if (cfgfile_track(cf, crlpath) != 0) {
		unlink(crlpath);
		goto out;
	}
	snprintf(rel, sizeof(rel), "%s/%s.crt", CA_DIR, id);
	cJSON_AddStringToObject(entry, "cert", rel);
	snprintf(rel, sizeof(rel), "%s/%s.key", CA_DIR, id);
	cJSON_AddStringToObject(entry, "key", rel);
	snprintf(rel, sizeof(rel), "%s/%s.crl", CA_DIR, id);
	cJSON_AddStringToObject(entry, "crl", rel);
	cJSON_AddItemToArray(cas, entry);
	entry = NULL;
	if (cfgfile_commit(cf) != 0)
		goto out;
	pk_err("CA %s created: %s (key %s, mode 0600; CRL %s)", id, certpath, keypath, crlpath);
	rc = 0;
out:
	cJSON_Delete(entry);
	EVP_PKEY_free(key);
	X509_free(cert);
	free(dir);
	free(keypath);
	free(certpath);
	free(crlpath);
	return rc;
}

int
cmd_ca_init_root(const struct command *cmd, int argc, char **argv)
{
	struct ca_opts o = {0};
	const char *config;
	struct cert_params p = {.key_usage = ROOT_KEY_USAGE, .pathlen = -1};
	const struct flag flags[] = {
	    CA_COMMON_FLAGS(o, "ec-p384", "3650"),
	    {"--path-len", "N", "basicConstraints pathLenConstraint (default: none)", &o.path_len,
	     NULL, 0},
	};
	const struct keyspec *ks;
	struct cfgfile *cf = NULL;
	cJSON *entry = NULL;
	int rc;

	if ((rc = args_parse(cmd, flags, sizeof(flags) / sizeof(flags[0]), argc, argv, &config)))
		return rc > 0 ? 0 : -1;
	rc = -1;
	if (cfgfile_open(config, &cf) != 0 ||
	    ca_opts_check(cf, &o, "ec-p384", PKICTL_ROOT_DAYS_DEFAULT, &p, &ks) != 0)
		goto out;
	if ((entry = cJSON_CreateObject()) == NULL)
		goto out;
	cJSON_AddStringToObject(entry, "id", o.id);
	cJSON_AddStringToObject(entry, "name", o.name);
	cJSON_AddStringToObject(entry, "type", "root");
	cJSON_AddStringToObject(entry, "status", "active");
	cJSON_AddBoolToObject(entry, "api_issuance", 0);
	rc = ca_create(cf, o.id, ks, &p, NULL, NULL, entry);
	entry = NULL;
out:
	cJSON_Delete(entry);
	cfgfile_free(cf);
	return rc;
}

/* The parent's certificate and key, checked for use as the issuer of a CA with pathlen. */
static int
parent_load(struct cfgfile *cf, const char *id, int pathlen, X509 **certp, EVP_PKEY **keyp)
{
	cJSON *e = cfgfile_find(cf, "cas", "id", id), *c, *k, *st;
	char *certpath = NULL, *keypath = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	long plen;
	int rc = -1;

	if (e == NULL) {
		pk_err("--parent: no CA with id \"%s\" in %s", id, cf->path);
		goto out;
	}
	c = cJSON_GetObjectItemCaseSensitive(e, "cert");
	k = cJSON_GetObjectItemCaseSensitive(e, "key");
	st = cJSON_GetObjectItemCaseSensitive(e, "status");
	if (!cJSON_IsString(c) || !cJSON_IsString(k)) {
		pk_err("--parent: CA \"%s\" has no cert and key paths in %s", id, cf->path);
		goto out;
	}
	if (cJSON_IsString(st) && strcmp(st->valuestring, "active") != 0) {
		pk_err("--parent: CA \"%s\" must be active, it is %s", id, st->valuestring);
		goto out;
	}
	if ((certpath = cfgfile_resolve(cf, c->valuestring)) == NULL ||
	    (keypath = cfgfile_resolve(cf, k->valuestring)) == NULL ||
	    (cert = cert_load(certpath)) == NULL || (key = key_load(keypath)) == NULL)
		goto out;
	if (X509_check_private_key(cert, key) != 1) {
		pk_err("--parent: %s does not match the certificate %s", keypath, certpath);
		goto out;
	}
	if (X509_check_ca(cert) < 1 || !(X509_get_key_usage(cert) & KU_KEY_CERT_SIGN)) {
		pk_err("--parent: %s is not a CA certificate allowed to sign certificates",
		       certpath);
		goto out;
	}
	plen = X509_get_pathlen(cert);
	if (plen == 0) {
		pk_err("--parent: CA \"%s\" has pathlen 0 and may not sign CA certificates", id);
		goto out;
	}
	if (plen > 0 && pathlen >= plen) {
		pk_err("--path-len: must be below the parent's pathlen %ld, got %d", plen, pathlen);
		goto out;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0) {
		pk_err("--parent: CA \"%s\" has expired", id);
		goto out;
	}
	*certp = cert;
	*keyp = key;
	cert = NULL;
	key = NULL;
	rc = 0;
out:
	X509_free(cert);
	EVP_PKEY_free(key);
	free(certpath);
	free(keypath);
	return rc;
}

static int
check_key_type(const char *flag, const char *s)
{
	if (strcmp(s, "RSA") == 0 || strcmp(s, "EC") == 0 || strcmp(s, "Ed25519") == 0)
		return 0;
	pk_err("%s: each must be RSA, EC or Ed25519, got \"%s\"", flag, s);
	return -1;
}

static int
check_curve(const char *flag, const char *s)
{
	if (strcmp(s, "P-256") == 0 || strcmp(s, "P-384") == 0 || strcmp(s, "P-521") == 0)
		return 0;
	pk_err("%s: each must be P-256, P-384 or P-521, got \"%s\"", flag, s);
	return -1;
}

static int
check_extension(const char *flag, const char *s)
{
	if (ext_from_name(s) != 0)
		return 0;
	pk_err("%s: each must be server_auth, client_auth, email_protection or code_signing, "
	       "got \"%s\"",
	       flag, s);
	return -1;
}

static int
check_purpose(const char *flag, const char *s)
{
	return check_id(flag, s);
}

static int
check_pattern(const char *flag, const char *s)
{
	return check_text(flag, s, PKICTL_EMAIL_MAX);
}

static int
check_cidr(const char *flag, const char *s)
{
	char addr[CIDR_TEXT_MAX];
	const char *slash = strchr(s, '/');
	unsigned char buf[16];
	long prefix;
	int v6;

	if (slash == NULL || (size_t)(slash - s) >= sizeof(addr)) {
		pk_err("%s: each must be ADDRESS/PREFIX, got \"%s\"", flag, s);
		return -1;
	}
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	v6 = strchr(addr, ':') != NULL;
	if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, buf) != 1) {
		pk_err("%s: \"%s\" is not an IPv4 or IPv6 address", flag, addr);
		return -1;
	}
	return parse_int(flag, slash + 1, 0, v6 ? 128 : 32, &prefix);
}

/* Adds the array parsed from value (or dflt when value is NULL) to obj under key. */
static int
add_list(cJSON *obj, const char *key, const char *flag, const char *value, const char *dflt,
	 item_check_fn check)
{
	cJSON *arr;

	if (value == NULL && dflt == NULL)
		return cJSON_AddArrayToObject(obj, key) ? 0 : -1;
	if (parse_list(flag, value ? value : dflt, check, &arr) != 0)
		return -1;
	cJSON_AddItemToObject(obj, key, arr);
	return 0;
}

/* A list holds s. */
static int
list_has(const cJSON *arr, const char *s)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, arr)
	{
		if (cJSON_IsString(it) && strcmp(it->valuestring, s) == 0)
			return 1;
	}
	return 0;
}

struct int_opts {
	const char *parent, *manual, *pw_file, *pw_env, *approvals, *ttl, *max_validity;
	const char *tenants, *users, *extensions, *key_types, *curves, *key_sizes;
	const char *purposes, *email_patterns, *cidrs, *priority, *sel_tenants;
	const char *ca_issuers_url, *crl_url, *nc_tenant;
	const char *profile, *subject, *subject_fixed, *subject_other, *subject_org;
	int manual_approval, no_api, disabled;
};

/* The approval password from --approval-password-file or --approval-password-env, hashed. */
static int
approval_hash(const struct int_opts *io, char *out, size_t outlen)
{
	char *pw = NULL;
	const char *env;
	int fd, rc = -1;

	if (io->pw_file != NULL) {
		fd = strcmp(io->pw_file, "-") == 0 ? 0 : open(io->pw_file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			pk_err("--approval-password-file: cannot open %s", io->pw_file);
			goto out;
		}
		rc = read_secret_line(fd, "--approval-password-file", &pw);
		if (fd != 0)
			close(fd);
		if (rc != 0)
			goto out;
		rc = -1;
	} else {
		env = getenv(io->pw_env);
		if (env == NULL || (pw = strdup(env)) == NULL) {
			pk_err("--approval-password-env: variable %s is not set", io->pw_env);
			goto out;
		}
		if (strlen(pw) < PKICTL_PASSWORD_MIN || strlen(pw) > PKICTL_PASSWORD_MAX) {
			pk_err("--approval-password-env: must be %d..%d characters, got %zu",
			       PKICTL_PASSWORD_MIN, PKICTL_PASSWORD_MAX, strlen(pw));
			goto out;
		}
	}
	if (secret_scrypt_hash(pw, out, outlen) != 0) {
		pk_err("hashing the approval password failed");
		goto out;
	}
	rc = 0;
out:
	if (pw != NULL) {
		OPENSSL_cleanse(pw, strlen(pw));
		free(pw);
	}
	return rc;
}

/* Approval fields of an intermediate. */
static int
int_approval(const struct int_opts *io, cJSON *e)
{
	char hash[SECRET_HASH_MAX];
	long v;

	if (!io->manual_approval) {
		const char *stray = io->pw_file     ? "--approval-password-file"
				    : io->pw_env    ? "--approval-password-env"
				    : io->approvals ? "--approvals-required"
				    : io->ttl       ? "--approval-ttl-seconds"
						    : NULL;
		if (stray != NULL) {
			pk_err("%s: only allowed with --manual-approval", stray);
			return -1;
		}
		cJSON_AddBoolToObject(e, "requires_manual_approval", 0);
		return 0;
	}
	if (io->pw_file != NULL && io->pw_env != NULL) {
		pk_err("--approval-password-file and --approval-password-env: give at most one");
		return -1;
	}
	cJSON_AddBoolToObject(e, "requires_manual_approval", 1);
	if (io->pw_file != NULL || io->pw_env != NULL) {
		if (approval_hash(io, hash, sizeof(hash)) != 0)
			return -1;
		cJSON_AddStringToObject(e, "approval_password_hash", hash);
	}
	v = 1;
	if (io->approvals != NULL &&
	    parse_int("--approvals-required", io->approvals, 1, CONFIG_APPROVALS_MAX, &v) != 0)
		return -1;
	cJSON_AddNumberToObject(e, "approvals_required", (double)v);
	if (io->ttl != NULL) {
		if (parse_int("--approval-ttl-seconds", io->ttl, CONFIG_APPROVAL_TTL_MIN_S,
			      CONFIG_APPROVAL_TTL_MAX_S, &v) != 0)
			return -1;
		cJSON_AddNumberToObject(e, "approval_ttl_seconds", (double)v);
	}
	return 0;
}

/* Issuance policy, selection rules and grants of an intermediate. */
static int
int_policy(struct cfgfile *cf, const struct int_opts *io, cJSON *e)
{
	static const long sizes[] = {2048, 3072, 4096};
	const char *selflag = io->sel_tenants ? "--selection-tenants" : "--tenants";
	cJSON *arr, *sel;
	long v;

	if (parse_int("--max-validity-days",
		      io->max_validity ? io->max_validity : INT_MAX_VALIDITY_DEFAULT, 1,
		      CONFIG_MAX_VALIDITY_DAYS, &v) != 0)
		return -1;
	cJSON_AddNumberToObject(e, "max_validity_days", (double)v);
	if (add_list(e, "allowed_key_types", "--key-types", io->key_types, INT_KEY_TYPES_DEFAULT,
		     check_key_type) != 0)
		return -1;
	arr = cJSON_GetObjectItemCaseSensitive(e, "allowed_key_types");
	if (io->key_sizes != NULL && !list_has(arr, "RSA")) {
		pk_err("--key-sizes: RSA sizes given but --key-types does not allow RSA");
		return -1;
	}
	if (io->curves != NULL && !list_has(arr, "EC")) {
		pk_err("--curves: curves given but --key-types does not allow EC");
		return -1;
	}
	if (parse_int_list("--key-sizes", io->key_sizes ? io->key_sizes : INT_KEY_SIZES_DEFAULT,
			   sizes, sizeof(sizes) / sizeof(sizes[0]), &arr) != 0)
		return -1;
	cJSON_AddItemToObject(e, "allowed_key_sizes", arr);
	if (add_list(e, "allowed_curves", "--curves", io->curves, INT_CURVES_DEFAULT,
		     check_curve) != 0 ||
	    add_list(e, "allowed_extensions", "--extensions", io->extensions,
		     INT_EXTENSIONS_DEFAULT, check_extension) != 0)
		return -1;

	if ((sel = cJSON_AddObjectToObject(e, "selection")) == NULL ||
	    add_list(sel, "tenants", selflag, io->sel_tenants ? io->sel_tenants : io->tenants, NULL,
		     check_id) != 0 ||
	    cfgfile_check_refs(cf, selflag, cJSON_GetObjectItem(sel, "tenants"), "tenants", "id") !=
		0 ||
	    add_list(sel, "purposes", "--purposes", io->purposes, NULL, check_purpose) != 0 ||
	    add_list(sel, "email_patterns", "--email-patterns", io->email_patterns, NULL,
		     check_pattern) != 0 ||
	    add_list(sel, "client_cidrs", "--cidrs", io->cidrs, NULL, check_cidr) != 0)
		return -1;
	v = 0;
	if (io->priority != NULL && parse_int("--priority", io->priority, -CONFIG_PRIORITY_MAX,
					      CONFIG_PRIORITY_MAX, &v) != 0)
		return -1;
	cJSON_AddNumberToObject(sel, "priority", (double)v);

	if (add_list(e, "tenants", "--tenants", io->tenants, NULL, check_id) != 0 ||
	    cfgfile_check_refs(cf, "--tenants", cJSON_GetObjectItem(e, "tenants"), "tenants",
			       "id") != 0 ||
	    add_list(e, "users", "--users", io->users, NULL, check_id) != 0 ||
	    cfgfile_check_refs(cf, "--users", cJSON_GetObjectItem(e, "users"), "users", "name") !=
		0 ||
	    cJSON_AddArrayToObject(e, "webhooks") == NULL)
		return -1;
	return 0;
}

/* --profile and the subject policy flags into e; the config loader checks the values. */
static int
int_subject(const struct int_opts *io, cJSON *e)
{
	cJSON *subj, *obj;

	if (io->profile != NULL && cJSON_AddStringToObject(e, "profile", io->profile) == NULL)
		return -1;
	if (io->subject == NULL && io->subject_fixed == NULL && io->subject_other == NULL &&
	    io->subject_org == NULL)
		return 0;
	if ((subj = cJSON_AddObjectToObject(e, "subject")) == NULL)
		return -1;
	if (io->subject != NULL) {
		if (parse_pairs("--subject", io->subject, &obj) != 0)
			return -1;
		cJSON_AddItemToObject(subj, "attributes", obj);
	}
	if (io->subject_fixed != NULL) {
		if (parse_pairs("--subject-fixed", io->subject_fixed, &obj) != 0)
			return -1;
		cJSON_AddItemToObject(subj, "fixed", obj);
	}
	if ((io->subject_other != NULL &&
	     cJSON_AddStringToObject(subj, "other", io->subject_other) == NULL) ||
	    (io->subject_org != NULL &&
	     cJSON_AddStringToObject(subj, "organization", io->subject_org) == NULL))
		return -1;
	return 0;
}

/* Checks --ca-issuers-url and --crl-url with the config's own rule and stores them in e. */
static int
int_urls(const struct int_opts *io, cJSON *e)
{
	const char *flag[] = {"--ca-issuers-url", "--crl-url"};
	const char *key[] = {"ca_issuers_url", "crl_url"};
	const char *val[] = {io->ca_issuers_url, io->crl_url};
	const char *rule;
	size_t i;

	for (i = 0; i < 2; i++) {
		if (val[i] == NULL)
			continue;
		if ((rule = config_url_rule(val[i])) != NULL) {
			pk_err("%s: %s, got \"%s\"", flag[i], rule, val[i]);
			return -1;
		}
		if (cJSON_AddStringToObject(e, key[i], val[i]) == NULL)
			return -1;
	}
	return 0;
}

int
cmd_ca_init_intermediate(const struct command *cmd, int argc, char **argv)
{
	struct ca_opts o = {0};
	struct int_opts io = {0};
	const char *config;
	struct cert_params p = {.key_usage = INT_KEY_USAGE, .pathlen = 0};
	const struct flag flags[] = {
	    CA_COMMON_FLAGS(o, "ec-p256", "1825, never beyond the parent"),
	    {"--parent", "ID", "id of the issuing CA in the config", &io.parent, NULL, 1},
	    {"--path-len", "N", "basicConstraints pathLenConstraint (default 0)", &o.path_len, NULL,
	     0},
	    {"--no-api-issuance", NULL, "do not sign through the request API", NULL, &io.no_api, 0},
	    {"--disabled", NULL, "status disabled: configured, but signs nothing", NULL, &io.disabled,
	     0},
	    {"--manual-approval", NULL, "requests wait for an admin's approval", NULL,
	     &io.manual_approval, 0},
	    {"--approval-password-file", "FILE",
	     "approval password: first line of FILE (- = stdin)", &io.pw_file, NULL, 0},
	    {"--approval-password-env", "VAR", "approval password from environment variable VAR",
	     &io.pw_env, NULL, 0},
	    {"--approvals-required", "N", "approvals needed, m of n (default 1)", &io.approvals,
	     NULL, 0},
	    {"--approval-ttl-seconds", "N", "pending approvals expire after N s", &io.ttl, NULL, 0},
	    {"--max-validity-days", "N", "longest certificate it issues (default 397)",
	     &io.max_validity, NULL, 0},
	    {"--tenants", "LIST", "tenants whose users may use it", &io.tenants, NULL, 0},
	    {"--users", "LIST", "users who may use it", &io.users, NULL, 0},
	    {"--extensions", "LIST", "allowed EKUs (default " INT_EXTENSIONS_DEFAULT ")",
	     &io.extensions, NULL, 0},
	    {"--key-types", "LIST", "RSA,EC,Ed25519 (default " INT_KEY_TYPES_DEFAULT ")",
	     &io.key_types, NULL, 0},
	    {"--curves", "LIST", "P-256,P-384,P-521 (default " INT_CURVES_DEFAULT ")", &io.curves,
	     NULL, 0},
	    {"--key-sizes", "LIST", "RSA bits 2048,3072,4096 (default all)", &io.key_sizes, NULL,
	     0},
	    {"--selection-tenants", "LIST", "selection rule: tenants (default --tenants)",
	     &io.sel_tenants, NULL, 0},
	    {"--purposes", "LIST", "selection rule: purpose categories", &io.purposes, NULL, 0},
	    {"--email-patterns", "LIST", "selection rule: requester email patterns",
	     &io.email_patterns, NULL, 0},
	    {"--cidrs", "LIST", "selection rule: client address ranges", &io.cidrs, NULL, 0},
	    {"--priority", "N", "selection rule: priority, higher wins (default 0)", &io.priority,
	     NULL, 0},
	    {"--ca-issuers-url", "URL", "AIA caIssuers URL put in the certificates it signs",
	     &io.ca_issuers_url, NULL, 0},
	    {"--crl-url", "URL", "CRL distribution point put in the certificates it signs",
	     &io.crl_url, NULL, 0},
	    {"--profile", "NAME", "private (default) or cabf_tls (CA/Browser Forum TLS rules)",
	     &io.profile, NULL, 0},
	    {"--subject", "LIST", "subject policy: ATTR=csr|required|drop|refuse,...", &io.subject,
	     NULL, 0},
	    {"--subject-fixed", "LIST",
	     "subject attributes written instead of the CSR's: ATTR=VALUE,...", &io.subject_fixed,
	     NULL, 0},
	    {"--subject-other", "ACTION", "attributes the policy does not name: drop or refuse",
	     &io.subject_other, NULL, 0},
	    {"--subject-organization", "ACTION",
	     "an O not among the tenant's organizations: drop or refuse", &io.subject_org, NULL, 0},
	    {"--name-constraints-tenant", "ID",
	     "put tenant ID's names into critical nameConstraints and the CA's names",
	     &io.nc_tenant, NULL, 0},
	};
	const struct keyspec *ks;
	struct cfgfile *cf = NULL;
	EVP_PKEY *pkey = NULL;
	X509 *pcert = NULL;
	cJSON *entry = NULL;
	char *nc = NULL;
	int rc;

	if ((rc = args_parse(cmd, flags, sizeof(flags) / sizeof(flags[0]), argc, argv, &config)))
		return rc > 0 ? 0 : -1;
	rc = -1;
	if (cfgfile_open(config, &cf) != 0 ||
	    ca_opts_check(cf, &o, "ec-p256", PKICTL_INT_DAYS_DEFAULT, &p, &ks) != 0 ||
	    check_id("--parent", io.parent) != 0)
		goto out;
	if (io.nc_tenant != NULL && (nc = nameconst_from_tenant(cf, io.nc_tenant)) == NULL)
		goto out;
	p.name_constraints = nc;
	if ((entry = cJSON_CreateObject()) == NULL)
		goto out;
	cJSON_AddStringToObject(entry, "id", o.id);
	cJSON_AddStringToObject(entry, "name", o.name);
	cJSON_AddStringToObject(entry, "type", "intermediate");
	cJSON_AddStringToObject(entry, "parent", io.parent);
	cJSON_AddStringToObject(entry, "status", io.disabled ? "disabled" : "active");
	cJSON_AddBoolToObject(entry, "api_issuance", !io.no_api);
	if (int_urls(&io, entry) != 0 || int_approval(&io, entry) != 0 ||
	    int_policy(cf, &io, entry) != 0 || int_subject(&io, entry) != 0 ||
	    parent_load(cf, io.parent, p.pathlen, &pcert, &pkey) != 0)
		goto out;
	/* The service refuses before signing what relying parties would refuse. */
	if (nc != NULL && !cJSON_AddItemToObject(entry, "names",
						 cJSON_Duplicate(cJSON_GetObjectItem(cfgfile_find(
								     cf, "tenants", "id", io.nc_tenant),
								 "names"),
								 1)))
		goto out;
	rc = ca_create(cf, o.id, ks, &p, pcert, pkey, entry);
	entry = NULL;
out:
	free(nc);
	cJSON_Delete(entry);
	EVP_PKEY_free(pkey);
	X509_free(pcert);
	cfgfile_free(cf);
	return rc;
}
