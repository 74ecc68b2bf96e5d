/*
 * Configuration files: the paths the config names made absolute (relative
 * to its folder), and the files each process needs read and checked at
 * start: the grant key, the bulk keys' secrets, the CA certificates, chains
 * and keys, a service's Redis password file. Secret files must give group
 * and others no access.
 */
#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config_int.h"

#define CONFIG_KEY_MODE_MASK 077 /* no access for group or others */
#define GRANT_KEY_LEN 32
_Static_assert(CONFIG_BULK_SECRET_BYTES == GRANT_KEY_LEN,
	       "bulk secrets are read as grant keys are");

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

/*
 * 1 when flags ask for ca's key: a CA that signs requests (an intermediate
 * with api_issuance) with CONFIG_LOAD_KEYS, any with CONFIG_LOAD_ROOT_KEYS.
 */
static int
config_key_wanted(const struct ca *ca, int flags)
{
	if (flags & CONFIG_LOAD_ROOT_KEYS)
		return 1;
	return (flags & CONFIG_LOAD_KEYS) && ca->type == CA_INTERMEDIATE && ca->api_issuance;
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
	const struct ca *up = ca;
	char p[CONFIG_PATH_MAX], g[CONFIG_GOT_MAX];

	if ((ca->chain = sk_X509_new_null()) == NULL)
		return fail_oom(c);
	/* config_refs_check made every parent exist and lead to a root. */
	while (up->parent != NULL) {
		up = config_ca_find(c->cfg, up->parent);
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

int
config_files_load(struct ctx *c)
{
	struct config *cfg = c->cfg;
	size_t i;

	if (((c->flags & CONFIG_LOAD_GRANT_KEY) && load_grant_key(c) != 0) ||
	    (!(c->flags & CONFIG_LOAD_GRANT_KEY) && resolve(c, &cfg->grant_key_path) != 0) ||
	    load_bulk_keys(c) != 0)
		return -1;
	/* Only resolved: each service reads its own password file (config_redis_login). */
	for (i = 0; i < SERVICE_COUNT; i++)
		if (cfg->redis_users[i].password_file != NULL &&
		    resolve(c, &cfg->redis_users[i].password_file) != 0)
			return -1;
	if (cfg->notify.smtp_password_file != NULL &&
	    resolve(c, &cfg->notify.smtp_password_file) != 0)
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
		if (config_key_wanted(&cfg->cas[i], c->flags) && load_key(c, &cfg->cas[i], i) != 0)
			return -1;
	}
	return 0;
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
		return fail(
		    c, what,
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
	struct ctx c;
	char buf[CONFIG_REDIS_PASSWORD_MAX + 3];
	size_t n;
	int rc = -1;
	FILE *fp;

	config_ctx_init(&c, cfgfile, 0, err);
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
config_redis_login(const struct config *cfg, const char *service, const char **user, char *password,
		   char *err)
{
	char what[CONFIG_PATH_MAX];
	size_t i;

	for (i = 0; i < SERVICE_COUNT; i++)
		if (strcmp(config_service_name((enum service)i), service) == 0)
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
