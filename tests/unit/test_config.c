/*
 * Config loader tests. Each test builds a tiny PKI in a fresh temp dir (root
 * and intermediate EC P-256, plus deliberately wrong files), writes a valid
 * base config, and either loads it or a mutation of it.
 */
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "secret.h"
#include "test.h"

#define TMPDIR_MAX 256
#define MSG_MAX 1024
#define CERT_DAYS 3650
#define SECRET_MODE 0600
#define OPEN_MODE 0644

/* The temp dir of this test process and its config file. */
static char dir[TMPDIR_MAX];
static char cfg_path[TMPDIR_MAX + 32];
static char approval_hash[SECRET_HASH_MAX];

static const char grant_hex[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

static void
write_file(const char *name, const void *data, size_t len, mode_t mode)
{
	char p[TMPDIR_MAX + 64];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	unlink(p);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	CHECK(fd >= 0);
	CHECK(write(fd, data, len) == (ssize_t)len);
	CHECK(fchmod(fd, mode) == 0);
	close(fd);
}

static void
write_key(const char *name, EVP_PKEY *k, mode_t mode)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long n;

	CHECK(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1);
	n = BIO_get_mem_data(b, &data);
	write_file(name, data, (size_t)n, mode);
	BIO_free(b);
}

static void
write_cert(const char *name, X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long n;

	CHECK(PEM_write_bio_X509(b, x) == 1);
	n = BIO_get_mem_data(b, &data);
	write_file(name, data, (size_t)n, OPEN_MODE);
	BIO_free(b);
}

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	CHECK(e != NULL);
	CHECK(X509_add_ext(x, e, -1) == 1);
	X509_EXTENSION_free(e);
}

/* A certificate for key named cn, issued by issuer (NULL: self) and signed by signer. */
static X509 *
make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *signer, int ca)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	CHECK(x != NULL && n != NULL);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), (long)CERT_DAYS * 86400);
	X509_NAME_add_entry_by_txt(n, "C", MBSTRING_ASC, (const unsigned char *)"US", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"Test Org", -1, -1,
				   0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : n);
	X509_NAME_free(n);
	X509_set_pubkey(x, key);
	add_ext(x, issuer != NULL ? issuer : x, NID_basic_constraints,
		ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	add_ext(x, issuer != NULL ? issuer : x, NID_key_usage,
		ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
	CHECK(X509_sign(x, signer, EVP_sha256()) > 0);
	return x;
}

/* Hash line for a user whose API key is "<name>-key". */
static void
user_hash(const char *name, char out[80])
{
	char key[64];
	unsigned char d[32];

	snprintf(key, sizeof(key), "%s-key", name);
	secret_api_key_hash(key, d);
	secret_hash_format(d, out);
}

static const char base_fmt[] =
    "{\n"
    "  \"listen\": {\"gateway\": \"127.0.0.1:8080\", \"approver\": \"127.0.0.1:8081\"},\n"
    "  \"kafka\": {\"brokers\": \"127.0.0.1:19092\"},\n"
    "  \"redis\": {\"url\": \"redis://127.0.0.1:16379/0\"},\n"
    "  \"grant_key\": \"grant.key\",\n"
    "  \"tenants\": [\n"
    "    {\"id\": \"acme\", \"name\": \"Acme\"},\n"
    "    {\"id\": \"globex\", \"name\": \"Globex\", \"webhooks\": [{\"url\": "
    "\"http://127.0.0.1:9999/hook\", \"secret\": \"s3cret\"}]}\n"
    "  ],\n"
    "  \"cas\": [\n"
    "    {\"id\": \"root\", \"name\": \"Test Root\", \"type\": \"root\", \"status\": \"active\",\n"
    "     \"cert\": \"root.crt\", \"key\": \"root.key\"},\n"
    "    {\"id\": \"issuing\", \"name\": \"Test Issuing\", \"type\": \"intermediate\", \"parent\": "
    "\"root\",\n"
    "     \"status\": \"active\", \"api_issuance\": true, \"cert\": \"int.crt\", \"key\": "
    "\"int.key\",\n"
    "     \"max_validity_days\": 397, \"allowed_key_types\": [\"RSA\", \"EC\", \"Ed25519\"],\n"
    "     \"allowed_key_sizes\": [2048, 3072, 4096], \"allowed_curves\": [\"P-256\"],\n"
    "     \"allowed_extensions\": [\"server_auth\"],\n"
    "     \"selection\": {\"tenants\": [\"acme\"], \"purposes\": [\"tls\"], \"email_patterns\": "
    "[\"*@acme.example\"],\n"
    "                   \"client_cidrs\": [\"127.0.0.0/8\", \"fd00::/8\"], \"priority\": 10},\n"
    "     \"tenants\": [\"acme\"], \"users\": [], \"webhooks\": [],\n"
    "     \"ca_issuers_url\": \"http://pki.example:8080/ca/issuing.crt\",\n"
    "     \"crl_url\": \"http://127.0.0.1:8080/crl/issuing.crl\", \"crl\": \"issuing.crl\"},\n"
    "    {\"id\": \"approval\", \"name\": \"Test Approval\", \"type\": \"intermediate\", "
    "\"parent\": \"root\",\n"
    "     \"status\": \"disabled\", \"api_issuance\": true, \"cert\": \"int.crt\", \"key\": "
    "\"int.key\",\n"
    "     \"requires_manual_approval\": true, \"approval_password_hash\": \"%s\",\n"
    "     \"approvals_required\": 2, \"approval_ttl_seconds\": 3600,\n"
    "     \"tenants\": [\"globex\"], \"users\": [\"alice\"]}\n"
    "  ],\n"
    "  \"users\": [\n"
    "    {\"name\": \"alice\", \"email\": \"alice@acme.example\", \"role\": \"requester\", "
    "\"tenant\": \"acme\", \"api_key_hash\": \"%s\"},\n"
    "    {\"name\": \"bob\", \"email\": \"bob@globex.example\", \"role\": \"requester\", "
    "\"tenant\": \"globex\", \"api_key_hash\": \"%s\", \"cas\": [\"issuing\"]},\n"
    "    {\"name\": \"admin\", \"email\": \"admin@example.org\", \"role\": \"admin\", "
    "\"tenant\": \"acme\", \"api_key_hash\": \"%s\", \"admin_tenants\": [\"globex\"], "
    "\"admin_cas\": [\"*\"]},\n"
    "    {\"name\": \"super\", \"email\": \"super@example.org\", \"role\": \"admin\", "
    "\"tenant\": \"acme\", \"api_key_hash\": \"%s\", \"admin_tenants\": [\"*\"], "
    "\"admin_cas\": [\"*\"]},\n"
    "    {\"name\": \"audit\", \"email\": \"audit@example.org\", \"role\": \"auditor\", "
    "\"tenant\": \"acme\", \"api_key_hash\": \"%s\"}\n"
    "  ]\n"
    "}\n";

static char *
base_json(void)
{
	char h[5][80];
	char *s;

	user_hash("alice", h[0]);
	user_hash("bob", h[1]);
	user_hash("admin", h[2]);
	user_hash("super", h[3]);
	user_hash("audit", h[4]);
	CHECK(asprintf(&s, base_fmt, approval_hash, h[0], h[1], h[2], h[3], h[4]) > 0);
	return s;
}

/* Removes the temp dir; also runs at exit so a failing test leaves nothing behind. */
static void
cleanup(void)
{
	char cmd[TMPDIR_MAX + 16];

	if (dir[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	dir[0] = '\0';
}

static void
rm_rf(void)
{
	cleanup();
}

/* Creates the temp dir with the PKI, the grant key and the base config. */
static void
setup(void)
{
	const char *tmp = getenv("TMPDIR");
	EVP_PKEY *rk, *ik, *ok;
	X509 *root, *inter, *bad, *leaf;
	char *json;

	snprintf(dir, sizeof(dir), "%s/pki-config-XXXXXX", tmp != NULL ? tmp : "/tmp");
	CHECK(mkdtemp(dir) != NULL);
	atexit(cleanup);
	snprintf(cfg_path, sizeof(cfg_path), "%s/config.json", dir);
	rk = EVP_EC_gen("P-256");
	ik = EVP_EC_gen("P-256");
	ok = EVP_EC_gen("P-256");
	CHECK(rk != NULL && ik != NULL && ok != NULL);
	root = make_cert(rk, "Test Root", NULL, rk, 1);
	inter = make_cert(ik, "Test Issuing", root, rk, 1);
	bad = make_cert(ik, "Test Issuing", root, ok, 1); /* claims root, signed by another key */
	leaf = make_cert(ok, "leaf.example", NULL, ok, 0);
	write_cert("root.crt", root);
	write_cert("int.crt", inter);
	write_cert("bad-int.crt", bad);
	write_cert("leaf.crt", leaf);
	write_file("garbage.crt", "not a certificate\n", 18, OPEN_MODE);
	write_file("garbage.key", "not a key\n", 10, SECRET_MODE);
	write_key("root.key", rk, SECRET_MODE);
	write_key("int.key", ik, SECRET_MODE);
	write_key("other.key", ok, SECRET_MODE);
	write_key("open.key", ik, OPEN_MODE);
	write_file("grant.key", grant_hex, strlen(grant_hex), SECRET_MODE);
	CHECK(secret_scrypt_hash("approve me", approval_hash, sizeof(approval_hash)) == 0);
	json = base_json();
	write_file("config.json", json, strlen(json), OPEN_MODE);
	free(json);
	X509_free(root);
	X509_free(inter);
	X509_free(bad);
	X509_free(leaf);
	EVP_PKEY_free(rk);
	EVP_PKEY_free(ik);
	EVP_PKEY_free(ok);
}

/*
 * Follows a path like "cas[1].selection.client_cidrs[0]" in root. Returns the
 * container of the last step; *key is its name (objects) or *idx its index.
 */
static cJSON *
walk(cJSON *root, const char *path, char *key, int *idx)
{
	cJSON *cur = root, *parent = NULL;
	const char *p = path;
	size_t n;

	while (*p != '\0') {
		parent = cur;
		*idx = -1;
		if (*p == '[') {
			*idx = atoi(p + 1);
			p = strchr(p, ']') + 1;
			cur = cJSON_GetArrayItem(parent, *idx);
		} else {
			n = strcspn(p, ".[");
			memcpy(key, p, n);
			key[n] = '\0';
			p += n;
			cur = cJSON_GetObjectItemCaseSensitive(parent, key);
		}
		if (*p == '.')
			p++;
		if (*p != '\0')
			CHECK(cur != NULL);
	}
	return parent;
}

/* Sets path to the JSON value (NULL deletes it) in root. */
static void
set_path(cJSON *root, const char *path, const char *value)
{
	cJSON *parent, *v = NULL;
	char key[64];
	int idx = -1;

	parent = walk(root, path, key, &idx);
	if (value != NULL)
		CHECK((v = cJSON_Parse(value)) != NULL);
	if (idx >= 0 && v == NULL)
		cJSON_DeleteItemFromArray(parent, idx);
	else if (idx >= 0)
		CHECK(cJSON_ReplaceItemInArray(parent, idx, v));
	else if (v == NULL)
		cJSON_DeleteItemFromObjectCaseSensitive(parent, key);
	else if (cJSON_GetObjectItemCaseSensitive(parent, key) != NULL)
		CHECK(cJSON_ReplaceItemInObjectCaseSensitive(parent, key, v));
	else
		CHECK(cJSON_AddItemToObject(parent, key, v));
}

/* Writes the base config with path set to value and, when path2 is not NULL, path2 to value2. */
static void
mutate2(const char *path, const char *value, const char *path2, const char *value2)
{
	char *text = base_json();
	cJSON *root = cJSON_Parse(text);

	CHECK(root != NULL);
	set_path(root, path, value);
	if (path2 != NULL)
		set_path(root, path2, value2);
	free(text);
	text = cJSON_Print(root);
	write_file("config.json", text, strlen(text), OPEN_MODE);
	free(text);
	cJSON_Delete(root);
}

static void
mutate(const char *path, const char *value)
{
	mutate2(path, value, NULL, NULL);
}

/* Replaces every "$D" in tmpl by the temp dir. */
static void
expand(const char *tmpl, char out[MSG_MAX])
{
	size_t o = 0;

	for (; *tmpl != '\0' && o < MSG_MAX - TMPDIR_MAX - 1; tmpl++) {
		if (tmpl[0] == '$' && tmpl[1] == 'D') {
			o += (size_t)snprintf(out + o, MSG_MAX - o, "%s", dir);
			tmpl++;
		} else {
			out[o++] = *tmpl;
		}
	}
	out[o] = '\0';
}

static struct config *
load_ok(int flags)
{
	struct config *cfg = NULL;
	char err[CONFIG_ERR_MAX];

	if (config_load(cfg_path, flags, &cfg, err) != 0)
		test_fail(__FILE__, __LINE__, "config_load: %s", err);
	CHECK(cfg != NULL);
	return cfg;
}

/* Loads the config expecting failure with exactly the message $D/config.json: tail. */
static void
load_fails(int flags, const char *tail)
{
	struct config *cfg = NULL;
	char err[CONFIG_ERR_MAX], want[MSG_MAX], tmpl[MSG_MAX];

	snprintf(tmpl, sizeof(tmpl), "$D/config.json: %s", tail);
	expand(tmpl, want);
	CHECK(config_load(cfg_path, flags, &cfg, err) < 0);
	CHECK(cfg == NULL);
	CHECK_STR(err, want);
}

#define URL_RULE                                                                                   \
	"must be an http://host[:port]/path URL (RFC 5280: no https, query, fragment or spaces; "  \
	"at most 1024 characters)"

struct broken {
	const char *path;  /* JSON path in the base config */
	const char *value; /* JSON to put there; NULL removes the key */
	const char *msg;   /* expected message after "<file>: "; $D is the temp dir */
};

/* kafka.tls with the gateway's and approver's entries, and worker as given. */
#define TLS_WITH(worker)                                                                           \
	"{\"ca\": \"kafka/ca.pem\", \"gateway\": {\"cert\": \"g.crt\", \"key\": \"g.key\"}, "      \
	"\"approver\": {\"cert\": \"a.crt\", \"key\": \"a.key\"}, " worker "}"

static const struct broken broken[] = {
    {"extra", "1", "extra: unknown key"},
    {"cas[0].colour", "\"red\"", "cas[0].colour: unknown key"},
    {"cas", NULL, "cas: missing required key"},
    {"cas", "[]", "cas: must list at least one CA, got an empty array"},
    {"cas", "{}", "cas: must be an array, got object"},
    {"cas[1].id", NULL, "cas[1].id: missing required key"},
    {"cas[1].id", "\"has space\"",
     "cas[1].id: must be 1..63 characters of A-Z a-z 0-9 . _ - starting with a letter or digit, "
     "got "
     "\"has space\""},
    {"cas[1].max_validity_days", "\"397\"",
     "cas[1].max_validity_days: must be an integer 1..3650, got string"},
    {"cas[1].max_validity_days", "0",
     "cas[1].max_validity_days: must be an integer 1..3650, got 0"},
    {"cas[1].max_validity_days", "3651",
     "cas[1].max_validity_days: must be an integer 1..3650, got 3651"},
    {"cas[1].max_validity_days", "1.5",
     "cas[1].max_validity_days: must be an integer 1..3650, got 1.5"},
    {"cas[1].allowed_key_sizes", "[1024]",
     "cas[1].allowed_key_sizes[0]: must be 2048, 3072 or 4096, got 1024"},
    {"cas[1].allowed_key_sizes", "[]", "cas[1].allowed_key_sizes: must not be empty"},
    {"cas[1].allowed_curves", "[\"P-256\", \"P-192\"]",
     "cas[1].allowed_curves[1]: must be one of P-256, P-384, P-521, got \"P-192\""},
    {"cas[1].allowed_curves", "[\"P-256\", \"P-256\"]",
     "cas[1].allowed_curves[1]: duplicate value, got \"P-256\""},
    {"cas[1].allowed_key_types", "[\"DSA\"]",
     "cas[1].allowed_key_types[0]: must be one of RSA, EC, Ed25519, got \"DSA\""},
    {"cas[1].allowed_extensions", "[\"any\"]",
     "cas[1].allowed_extensions[0]: must be one of server_auth, client_auth, "
     "email_protection, code_signing, got \"any\""},
    {"cas[0].api_issuance", "true",
     "cas[0].api_issuance: must be false for a root (roots never sign through the request "
     "API), got true"},
    {"cas[0].api_issuance", "\"no\"", "cas[0].api_issuance: must be a boolean, got string"},
    {"cas[0].parent", "\"issuing\"", "cas[0].parent: must be absent for a root, got \"issuing\""},
    {"cas[1].parent", NULL, "cas[1].parent: missing required key"},
    {"cas[1].parent", "\"nope\"", "cas[1].parent: must name an entry of cas, got \"nope\""},
    {"cas[1].parent", "\"issuing\"", "cas[1].parent: must name another CA, got \"issuing\""},
    {"cas[2].id", "\"issuing\"", "cas[2].id: duplicate of cas[1].id, got \"issuing\""},
    {"cas[2].name", "\"Test Root\"", "cas[2].name: duplicate of cas[0].name, got \"Test Root\""},
    {"cas[1].status", "\"paused\"",
     "cas[1].status: must be one of active, disabled, got \"paused\""},
    {"cas[1].type", "\"leaf\"", "cas[1].type: must be one of root, intermediate, got \"leaf\""},
    {"users[0].role", "\"root\"",
     "users[0].role: must be one of requester, admin, auditor, got \"root\""},
    {"users[0].tenant", "\"initech\"",
     "users[0].tenant: must name an entry of tenants, got \"initech\""},
    {"users[0].api_key_hash", "\"sha256:abc\"",
     "users[0].api_key_hash: must be sha256:<64 lowercase hex>, got \"sha256:abc\""},
    {"users[0].email", "\"alice\"",
     "users[0].email: must be an email address (local@domain), got \"alice\""},
    {"users[0].admin_cas", "[\"root\"]",
     "users[0].admin_cas: must be empty unless role is admin, got a non-empty list"},
    {"users[1].cas", "[\"nope\"]", "users[1].cas[0]: must name an entry of cas, got \"nope\""},
    {"users[3].name", "\"alice\"", "users[3].name: duplicate of users[0].name, got \"alice\""},
    {"tenants[1].id", "\"acme\"", "tenants[1].id: duplicate of tenants[0].id, got \"acme\""},
    {"tenants[0].names", "{\"allow\": {\"dns\": [\"com\"]}}",
     "tenants[0].names.allow.dns[0]: must be a domain with a dot (it and the names under it), "
     "=name (that name only) or *, got \"com\""},
    {"tenants[0].names", "{\"deny\": {\"ip\": [\"10.0.0.1/8\"]}}",
     "tenants[0].names.deny.ip[0]: must be an IPv4 or IPv6 CIDR address/prefix without host "
     "bits, or *, got \"10.0.0.1/8\""},
    {"tenants[0].names", "{\"allow\": {\"email\": [\"a@acme.test\"]}}",
     "tenants[0].names.allow.email[0]: must be a mailbox domain (no '@') or *, got "
     "\"a@acme.test\""},
    {"tenants[0].names", "{\"allow\": {\"uri\": [\"acme.test\"]}}",
     "tenants[0].names.allow.uri[0]: must be a URI prefix starting with a scheme "
     "(https://host/...) or *, got \"acme.test\""},
    {"tenants[0].names", "{\"allow\": {\"fqdn\": []}}",
     "tenants[0].names.allow.fqdn: unknown key"},
    {"cas[1].names", "{\"wildcards\": \"yes\"}",
     "cas[1].names.wildcards: must be a boolean, got string"},
    {"users[2].admin_tenants", "[\"*\", \"acme\"]",
     "users[2].admin_tenants[1]: must be absent beside \"*\" (all tenants), got \"acme\""},
    {"users[2].admin_cas", "[\"all\"]",
     "users[2].admin_cas[0]: must name an entry of cas, got \"all\""},
    {"tenants[1].webhooks[0].url", "\"ftp://x\"",
     "tenants[1].webhooks[0].url: must be an http:// or https:// URL, got \"ftp://x\""},
    {"cas[1].ca_issuers_url", "\"https://pki.example/ca/issuing.crt\"",
     "cas[1].ca_issuers_url: " URL_RULE ", got \"https://pki.example/ca/issuing.crt\""},
    {"cas[1].ca_issuers_url", "\"http://pki.example\"",
     "cas[1].ca_issuers_url: " URL_RULE ", got \"http://pki.example\""},
    {"cas[1].ca_issuers_url", "\"http://pki.example/\"",
     "cas[1].ca_issuers_url: " URL_RULE ", got \"http://pki.example/\""},
    {"cas[1].ca_issuers_url", "\"http://pki.example:0/ca.crt\"",
     "cas[1].ca_issuers_url: " URL_RULE ", got \"http://pki.example:0/ca.crt\""},
    {"cas[1].ca_issuers_url", "\"http://user@pki.example/ca.crt\"",
     "cas[1].ca_issuers_url: " URL_RULE ", got \"http://user@pki.example/ca.crt\""},
    {"cas[1].ca_issuers_url", "42", "cas[1].ca_issuers_url: must be a string, got number"},
    {"cas[1].crl_url", "\"http://pki.example/crl/x.crl?v=1\"",
     "cas[1].crl_url: " URL_RULE ", got \"http://pki.example/crl/x.crl?v=1\""},
    {"cas[1].crl_url", "\"http://pki.example/a b.crl\"",
     "cas[1].crl_url: " URL_RULE ", got \"http://pki.example/a b.crl\""},
    {"cas[1].crl_url", "\"http://-pki.example/x.crl\"",
     "cas[1].crl_url: " URL_RULE ", got \"http://-pki.example/x.crl\""},
    {"cas[1].crl", NULL, "cas[1].crl: missing required key (crl_url is set)"},
    {"cas[1].crl", "\"\"", "cas[1].crl: must not be empty, got \"\""},
    {"cas[2].approval_password_hash", NULL,
     "cas[2].approval_password_hash: missing required key (requires_manual_approval is true)"},
    {"cas[2].approval_password_hash", "\"scrypt$3$8$1$AAAA$BBBB\"",
     "cas[2].approval_password_hash: must be a scrypt hash scrypt$N$r$p$salt_b64$hash_b64, got "
     "\"scrypt$3$8$1$AAAA$BBBB\""},
    {"cas[2].approvals_required", "0",
     "cas[2].approvals_required: must be an integer 1..10, got 0"},
    {"cas[2].approval_ttl_seconds", "59",
     "cas[2].approval_ttl_seconds: must be an integer 60..2592000, got 59"},
    {"cas[2].users", "[\"mallory\"]",
     "cas[2].users[0]: must name an entry of users, got \"mallory\""},
    {"cas[1].selection.client_cidrs[0]", "\"10.0.0.0/33\"",
     "cas[1].selection.client_cidrs[0]: must be an IPv4 or IPv6 CIDR address/prefix, got "
     "\"10.0.0.0/33\""},
    {"cas[1].selection.client_cidrs[0]", "\"10.0.0.1/8\"",
     "cas[1].selection.client_cidrs[0]: must have no host bits set after the prefix, got "
     "\"10.0.0.1/8\""},
    {"cas[1].selection.client_cidrs[1]", "\"fd00::/08\"",
     "cas[1].selection.client_cidrs[1]: must be an IPv4 or IPv6 CIDR address/prefix, got "
     "\"fd00::/08\""},
    {"cas[1].selection.tenants", "[\"initech\"]",
     "cas[1].selection.tenants[0]: must name an entry of tenants, got \"initech\""},
    {"cas[1].selection.priority", "1001",
     "cas[1].selection.priority: must be an integer -1000..1000, got 1001"},
    {"cas[1].selection.region", "\"eu\"", "cas[1].selection.region: unknown key"},
    {"cas[1].profile", "\"cabf\"",
     "cas[1].profile: must be one of private, cabf_tls, got \"cabf\""},
    {"cas[1].subject", "{\"attributes\": {\"CN\": \"drop\"}}",
     "cas[1].subject.attributes.CN: must be one of csr, required, got \"drop\""},
    {"cas[1].subject", "{\"attributes\": {\"OU\": \"keep\"}}",
     "cas[1].subject.attributes.OU: must be one of csr, required, drop, refuse, got \"keep\""},
    {"cas[1].subject", "{\"attributes\": {\"title\": \"csr\"}}",
     "cas[1].subject.attributes.title: unknown key"},
    {"cas[1].subject", "{\"other\": \"csr\"}",
     "cas[1].subject.other: must be one of drop, refuse, got \"csr\""},
    {"cas[1].subject", "{\"organization\": \"keep\"}",
     "cas[1].subject.organization: must be one of drop, refuse, got \"keep\""},
    {"cas[1].subject", "{\"fixed\": {\"CN\": \"x\"}}", "cas[1].subject.fixed.CN: unknown key"},
    {"cas[1].subject", "{\"fixed\": {\"C\": \"fr\"}}",
     "cas[1].subject.fixed.C: must be 2 capital letters (ISO 3166), got \"fr\""},
    {"cas[1].subject", "{\"fixed\": {\"serialNumber\": \"a_b\"}}",
     "cas[1].subject.fixed.serialNumber: must hold PrintableString characters only (RFC 5280), "
     "got \"a_b\""},
    {"cas[1].subject",
     "{\"fixed\": {\"O\": \"12345678901234567890123456789012345678901234567890123456789012345\"}}",
     "cas[1].subject.fixed.O: longer than RFC 5280 allows (O, OU, serialNumber 64; L, ST 128; "
     "emailAddress 255 characters), got "
     "\"12345678901234567890123456789012345678901234567890123456789012345\""},
    {"tenants[0].organizations", "[\"Acme\", \"Acme\"]",
     "tenants[0].organizations[1]: duplicate value, got \"Acme\""},
    {"tenants[0].organizations", "[\"\"]",
     "tenants[0].organizations[0]: must not be empty, got \"\""},
    {"listen.gateway", "\"127.0.0.1\"",
     "listen.gateway: must be host:port with port 1..65535, got \"127.0.0.1\""},
    {"listen.approver", "\"127.0.0.1:65536\"",
     "listen.approver: must be host:port with port 1..65535, got \"127.0.0.1:65536\""},
    {"kafka.brokers", "\"a:1,,b:2\"",
     "kafka.brokers: must be a comma-separated list of host:port, got \"a:1,,b:2\""},
    {"kafka.topics", "{\"issue\": \"bad topic\"}",
     "kafka.topics.issue: must be 1..249 of A-Z a-z 0-9 . _ -, got \"bad topic\""},
    {"kafka.tls", "{\"ca\": \"kafka/ca.pem\"}", "kafka.tls.gateway: missing required key"},
    {"kafka.tls", TLS_WITH("\"worker\": {\"cert\": \"w.crt\"}"),
     "kafka.tls.worker.key: missing required key"},
    {"kafka.tls", TLS_WITH("\"worker\": {\"cert\": \"w.crt\", \"key\": \"\"}"),
     "kafka.tls.worker.key: must not be empty, got \"\""},
    {"kafka.tls", TLS_WITH("\"worker\": {\"cert\": \"w.crt\", \"key\": \"k\", \"pw\": 1}"),
     "kafka.tls.worker.pw: unknown key"},
    {"kafka.tls", TLS_WITH("\"worker\": \"w.crt\""),
     "kafka.tls.worker: must be an object, got string"},
    {"redis.url", "\"http://127.0.0.1:6379\"",
     "redis.url: must be redis://host:port[/db], got \"http://127.0.0.1:6379\""},
    {"redis", NULL, "redis: missing required key"},
    {"redis.users", "{\"gateway\": {\"user\": \"gw\", \"password_file\": \"gw.pass\"}}",
     "redis.users.worker: missing required key"},
    {"redis.users", "{\"gateway\": 1}", "redis.users.gateway: must be an object, got number"},
    {"redis.users", "{\"gateway\": {\"user\": \"gw\"}}",
     "redis.users.gateway.password_file: missing required key"},
    {"redis.users", "{\"gateway\": {\"user\": \"has space\", \"password_file\": \"p\"}}",
     "redis.users.gateway.user: must be 1..63 characters of A-Z a-z 0-9 . _ - starting with a "
     "letter or "
     "digit, got \"has space\""},
    {"redis.users", "{\"cli\": {}}", "redis.users.cli: unknown key"},
    {"redis.users",
     "{\"gateway\": {\"user\": \"gw\", \"password_file\": \"gw.pass\"}, \"worker\": "
     "{\"user\": \"gw\", \"password_file\": \"wk.pass\"}, \"approver\": {\"user\": \"ap\", "
     "\"password_file\": \"ap.pass\"}}",
     "redis.users.worker.user: must differ from redis.users.gateway.user (one Redis user per "
     "service), got \"gw\""},
    {"grant_key", "42", "grant_key: must be a string, got number"},
    {"grant_key", "\"nope.key\"", "grant_key: cannot read $D/nope.key: No such file or directory"},
    {"cas[1].cert", "\"missing.crt\"",
     "cas[1].cert: cannot read $D/missing.crt: No such file or directory"},
    {"cas[1].cert", "\"garbage.crt\"",
     "cas[1].cert: must be a PEM certificate, got unparsable data in $D/garbage.crt"},
    {"cas[1].cert", "\"leaf.crt\"",
     "cas[1].cert: must be a CA certificate (basicConstraints CA:TRUE), got one without it in "
     "$D/leaf.crt"},
    {"cas[0].cert", "\"int.crt\"",
     "cas[0].cert: must be self-signed for a root, got a certificate in $D/int.crt that its own "
     "key does not verify"},
    {"cas[1].cert", "\"bad-int.crt\"",
     "cas[1].cert: must be signed by the key of parent \"root\", got $D/bad-int.crt whose "
     "signature it does not verify"},
    {"cas[1].key", "\"other.key\"",
     "cas[1].key: must match the certificate of cas[1].cert, got the key in $D/other.key that "
     "does not"},
    {"cas[1].key", "\"open.key\"",
     "cas[1].key: file $D/open.key must not be accessible by group or others (chmod 600), got "
     "mode 0644"},
    {"cas[1].key", "\"garbage.key\"",
     "cas[1].key: must be an unencrypted PEM private key, got unparsable data in "
     "$D/garbage.key"},
    /* notifications */
    {"notifications",
     "{\"smtp\": {\"url\": \"http://relay:25\", \"from\": \"p@x.test\", \"tls\": \"none\"}}",
     "notifications.smtp.url: must be smtp://host:port (the relay; TLS is chosen by smtp.tls), got "
     "\"http://relay:25\""},
    {"notifications",
     "{\"smtp\": {\"url\": \"smtp://relay:25\", \"from\": \"p@x.test\", \"tls\": \"ssl\"}}",
     "notifications.smtp.tls: must be one of starttls, tls, none, got \"ssl\""},
    {"notifications", "{\"smtp\": {\"url\": \"smtp://relay:25\", \"from\": \"p@x.test\"}}",
     "notifications.smtp.tls: missing required key"},
    {"notifications",
     "{\"smtp\": {\"url\": \"smtp://relay:25\", \"from\": \"p@x.test\", \"tls\": \"tls\", "
     "\"user\": \"u\"}}",
     "notifications.smtp.password_file: missing required key (smtp.user and smtp.password_file go "
     "together)"},
    {"notifications", "{\"webhooks\": {\"allow\": [\"*\", \"10.0.0.1/8\"]}}",
     "notifications.webhooks.allow[1]: must be \"*\", a DNS name or an IPv4/IPv6 CIDR "
     "address/prefix, got \"10.0.0.1/8\""},
    {"notifications", "{\"webhooks\": {\"allow_private\": \"yes\"}}",
     "notifications.webhooks.allow_private: must be a boolean, got string"},
    {"notifications", "{\"public_url\": \"ftp://pki.acme.test\"}",
     "notifications.public_url: must be an http:// or https:// URL, got \"ftp://pki.acme.test\""},
};

/* Every case runs (one process, one PKI); each mismatch is printed, then the test fails. */
TEST(config_broken_table)
{
	struct config *cfg;
	char err[CONFIG_ERR_MAX], want[MSG_MAX], tmpl[MSG_MAX];
	size_t i, bad = 0;

	setup();
	for (i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		mutate(broken[i].path, broken[i].value);
		snprintf(tmpl, sizeof(tmpl), "$D/config.json: %s", broken[i].msg);
		expand(tmpl, want);
		cfg = NULL;
		if (config_load(cfg_path, CONFIG_LOAD_KEYS | CONFIG_LOAD_GRANT_KEY, &cfg, err) ==
		    0) {
			config_free(cfg);
			snprintf(err, sizeof(err), "(loaded)");
		}
		if (strcmp(err, want) != 0) {
			fprintf(stderr, "case %zu (%s):\n    got:      %s\n    expected: %s\n", i,
				broken[i].path, err, want);
			bad++;
		}
	}
	rm_rf();
	if (bad > 0)
		test_fail(__FILE__, __LINE__, "%zu of %zu broken configs gave another message", bad,
			  i);
}

TEST(config_broken_syntax)
{
	static const char text[] = "{\n  \"listen\": {\n    \"gateway\": \"x\",,\n  }\n}\n";

	setup();
	write_file("config.json", text, strlen(text), OPEN_MODE);
	load_fails(0, "line 3, column 21: invalid JSON");
	write_file("config.json", "[]", 2, OPEN_MODE);
	load_fails(0, "must be an object, got array");
	write_file("config.json", "{} x", 4, OPEN_MODE);
	load_fails(0, "line 1, column 4: invalid JSON");
	write_file("config.json", "{\"redis\": 1, \"redis\": 2}", 24, OPEN_MODE);
	load_fails(0, "redis: duplicate key");
	unlink(cfg_path);
	load_fails(0, "cannot read: No such file or directory");
	rm_rf();
}

TEST(config_broken_parent_cycle)
{
	setup();
	mutate2("cas[1].parent", "\"approval\"", "cas[2].parent", "\"issuing\"");
	load_fails(0, "cas[1].parent: must lead to a root, got a cycle through \"approval\"");
	rm_rf();
}

TEST(config_grant_key_rules)
{
	unsigned char raw[32];
	struct config *cfg;

	setup();
	write_file("grant.key", grant_hex, strlen(grant_hex), OPEN_MODE);
	load_fails(CONFIG_LOAD_GRANT_KEY,
		   "grant_key: file $D/grant.key must not be accessible by group or others "
		   "(chmod 600), got mode 0644");
	write_file("grant.key", "abcd\n", 5, SECRET_MODE);
	load_fails(CONFIG_LOAD_GRANT_KEY,
		   "grant_key: file $D/grant.key must hold 32 raw bytes or 64 hex digits, got a "
		   "different length");
	write_file("grant.key", "zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		   64, SECRET_MODE);
	load_fails(CONFIG_LOAD_GRANT_KEY,
		   "grant_key: file $D/grant.key must hold 32 raw bytes or 64 hex digits, got a "
		   "non-hex character");
	/* Raw bytes and hex with a newline both load. */
	memset(raw, 0xab, sizeof(raw));
	write_file("grant.key", raw, sizeof(raw), SECRET_MODE);
	cfg = load_ok(CONFIG_LOAD_GRANT_KEY);
	CHECK(cfg->grant_key_loaded);
	CHECK(memcmp(cfg->grant_key, raw, sizeof(raw)) == 0);
	config_free(cfg);
	write_file("grant.key",
		   "0001020304050607080910111213141516171819202122232425262728293031\n", 65,
		   SECRET_MODE);
	cfg = load_ok(CONFIG_LOAD_GRANT_KEY);
	CHECK_INT(cfg->grant_key[1], 0x01);
	CHECK_INT(cfg->grant_key[31], 0x31);
	config_free(cfg);
	/* Without CONFIG_LOAD_GRANT_KEY (the gateway) the file is never opened. */
	write_file("grant.key", "abcd\n", 5, OPEN_MODE);
	cfg = load_ok(0);
	CHECK(!cfg->grant_key_loaded);
	CHECK(strstr(cfg->grant_key_path, "/grant.key") != NULL);
	config_free(cfg);
	rm_rf();
}

/* config_redis_login of service fails with exactly "$D/config.json: " + tail. */
static void
login_fails(const struct config *cfg, const char *service, const char *tail)
{
	char password[CONFIG_REDIS_PASSWORD_MAX + 1], err[CONFIG_ERR_MAX], want[MSG_MAX],
	    tmpl[MSG_MAX];
	const char *user = NULL;

	snprintf(tmpl, sizeof(tmpl), "$D/config.json: %s", tail);
	expand(tmpl, want);
	CHECK_INT(config_redis_login(cfg, service, &user, password, err), -1);
	CHECK_STR(err, want);
}

/* redis.users: each service reads only its own password file, checked like a key. */
TEST(config_redis_login)
{
	static const char users[] =
	    "{\"gateway\": {\"user\": \"pki-gateway\", \"password_file\": \"gw.pass\"},"
	    " \"worker\": {\"user\": \"pki-worker\", \"password_file\": \"missing.pass\"},"
	    " \"approver\": {\"user\": \"pki-approver\", \"password_file\": \"/nowhere/ap\"}}";
	static const char pw[] = "0123456789abcdef0123456789abcdef\n";
	char password[CONFIG_REDIS_PASSWORD_MAX + 1], err[CONFIG_ERR_MAX];
	const char *user = NULL;
	struct config *cfg;

	setup();
	/* No redis.users: no login. */
	cfg = load_ok(0);
	CHECK_INT(config_redis_login(cfg, "gateway", &user, password, err), 0);
	config_free(cfg);
	/* Loading reads no password file: the worker's is missing, the approver's elsewhere. */
	mutate("redis.users", users);
	write_file("gw.pass", pw, strlen(pw), SECRET_MODE);
	cfg = load_ok(0);
	CHECK_INT(config_redis_login(cfg, "gateway", &user, password, err), 1);
	CHECK_STR(user, "pki-gateway");
	CHECK_STR(password, "0123456789abcdef0123456789abcdef");
	login_fails(cfg, "worker",
		    "redis.users.worker.password_file: cannot read $D/missing.pass: No such file "
		    "or directory");
	write_file("gw.pass", pw, strlen(pw), OPEN_MODE);
	login_fails(cfg, "gateway",
		    "redis.users.gateway.password_file: file $D/gw.pass must not be accessible by "
		    "group or others (chmod 600), got mode 0644");
	write_file("gw.pass", "short\n", 6, SECRET_MODE);
	login_fails(cfg, "gateway",
		    "redis.users.gateway.password_file: file $D/gw.pass must hold one line of "
		    "16..128 characters, got 5");
	write_file("gw.pass", "0123456789 abcdef0123\n", 22, SECRET_MODE);
	login_fails(cfg, "gateway",
		    "redis.users.gateway.password_file: file $D/gw.pass must hold printable "
		    "characters without spaces, got byte 0x20 at offset 10");
	config_free(cfg);
	rm_rf();
}

TEST(config_valid_loads)
{
	struct config *cfg;
	const struct ca *root, *iss, *appr;

	setup();
	cfg = load_ok(CONFIG_LOAD_KEYS | CONFIG_LOAD_GRANT_KEY);
	CHECK_STR(cfg->path, cfg_path);
	CHECK_INT(cfg->ncas, 3);
	CHECK_INT(cfg->nusers, 5);
	CHECK_INT(cfg->ntenants, 2);
	root = config_ca_find(cfg, "root");
	iss = config_ca_find(cfg, "issuing");
	appr = config_ca_find(cfg, "approval");
	CHECK(root != NULL && iss != NULL && appr != NULL);
	CHECK(config_ca_find(cfg, "nope") == NULL);
	CHECK_INT(root->type, CA_ROOT);
	CHECK_INT(iss->type, CA_INTERMEDIATE);
	CHECK_STR(iss->parent, "root");
	CHECK(root->key == NULL && iss->key != NULL); /* a root's key only for pkictl */
	CHECK(root->chain != NULL);
	CHECK_INT(sk_X509_num(root->chain), 0);
	CHECK_INT(sk_X509_num(iss->chain), 1);
	CHECK_INT(X509_cmp(sk_X509_value(iss->chain, 0), root->cert), 0);
	CHECK_STR(iss->common_name, "Test Issuing");
	CHECK_STR(iss->organization, "Test Org");
	CHECK_STR(iss->country, "US");
	CHECK(iss->cert_path[0] == '/');
	CHECK(strstr(iss->cert_path, "/int.crt") != NULL);
	CHECK(iss->api_issuance);
	CHECK_INT(iss->max_validity_days, 397);
	CHECK_INT(iss->allowed_key_types, KT_RSA | KT_EC | KT_ED25519);
	CHECK_INT(iss->allowed_key_sizes, RSA_2048 | RSA_3072 | RSA_4096);
	CHECK_INT(iss->allowed_curves, CURVE_P256);
	CHECK_INT(iss->allowed_extensions, EXT_SERVER_AUTH);
	CHECK_STR(iss->selection.tenants[0], "acme");
	CHECK(iss->selection.tenants[1] == NULL);
	CHECK_STR(iss->selection.purposes[0], "tls");
	CHECK_STR(iss->selection.email_patterns[0], "*@acme.example");
	CHECK_INT(iss->selection.ncidrs, 2);
	CHECK_INT(iss->selection.cidrs[0].family, AF_INET);
	CHECK_INT(iss->selection.cidrs[0].prefix, 8);
	CHECK_INT(iss->selection.cidrs[0].addr[0], 127);
	CHECK_INT(iss->selection.cidrs[1].family, AF_INET6);
	CHECK_INT(iss->selection.cidrs[1].addr[0], 0xfd);
	CHECK_INT(iss->selection.priority, 10);
	CHECK_STR(iss->ca_issuers_url, "http://pki.example:8080/ca/issuing.crt");
	CHECK_STR(iss->crl_url, "http://127.0.0.1:8080/crl/issuing.crl");
	CHECK(iss->crl_path[0] == '/');
	CHECK(strstr(iss->crl_path, "/issuing.crl") != NULL);
	CHECK_INT(appr->status, CA_DISABLED);
	CHECK(appr->requires_manual_approval);
	CHECK_INT(secret_scrypt_verify("approve me", appr->approval_password_hash), 1);
	CHECK_INT(appr->approvals_required, 2);
	CHECK_INT(appr->approval_ttl_s, 3600);
	CHECK_STR(cfg->tenants[1].webhooks[0].url, "http://127.0.0.1:9999/hook");
	CHECK_STR(cfg->tenants[1].webhooks[0].secret, "s3cret");
	CHECK_INT(cfg->tenants[0].nwebhooks, 0);
	CHECK(cfg->grant_key_loaded);
	CHECK_INT(cfg->grant_key[31], 0x1f);
	config_free(cfg);
	rm_rf();
}

/* kafka.tls: names only (no file is opened), made absolute against the config's folder. */
TEST(config_kafka_tls)
{
	struct config *cfg;

	setup();
	cfg = load_ok(0);
	CHECK(cfg->kafka_tls[SERVICE_WORKER].ca == NULL); /* absent: plaintext */
	config_free(cfg);
	mutate("kafka.tls",
	       TLS_WITH("\"worker\": {\"cert\": \"kafka/w.crt\", \"key\": \"/k/w.key\"}"));
	cfg = load_ok(0);
	CHECK(cfg->kafka_tls[SERVICE_WORKER].ca[0] == '/');
	CHECK(strstr(cfg->kafka_tls[SERVICE_WORKER].ca, "/kafka/ca.pem") != NULL);
	CHECK(strstr(cfg->kafka_tls[SERVICE_WORKER].cert, "/kafka/w.crt") != NULL);
	CHECK_STR(cfg->kafka_tls[SERVICE_WORKER].key, "/k/w.key");
	CHECK(strstr(cfg->kafka_tls[SERVICE_GATEWAY].cert, "/g.crt") != NULL);
	CHECK(strstr(cfg->kafka_tls[SERVICE_APPROVER].key, "/a.key") != NULL);
	CHECK_STR(config_service_name(SERVICE_APPROVER), "approver");
	config_free(cfg);
	rm_rf();
}

TEST(config_defaults)
{
	struct config *cfg;
	const struct ca *root;

	setup();
	mutate("listen", NULL);
	cfg = load_ok(0);
	root = config_ca_find(cfg, "root");
	CHECK(root->key == NULL); /* keys only with CONFIG_LOAD_KEYS */
	CHECK_INT(root->status, CA_ACTIVE);
	CHECK(!root->api_issuance);
	CHECK(!root->requires_manual_approval);
	CHECK(root->approval_password_hash == NULL);
	CHECK_INT(root->max_validity_days, CONFIG_MAX_VALIDITY_DAYS);
	CHECK_INT(root->approvals_required, 1);
	CHECK_INT(root->approval_ttl_s, CONFIG_DEFAULT_APPROVAL_TTL_S);
	CHECK_INT(root->allowed_key_types, KT_RSA | KT_EC);
	CHECK_INT(root->allowed_key_sizes, RSA_2048 | RSA_4096);
	CHECK_INT(root->allowed_curves, CURVE_P256 | CURVE_P384);
	CHECK_INT(root->allowed_extensions, EXT_SERVER_AUTH | EXT_CLIENT_AUTH);
	CHECK(root->tenants != NULL && root->tenants[0] == NULL);
	CHECK(root->users != NULL && root->users[0] == NULL);
	CHECK(root->selection.tenants != NULL && root->selection.tenants[0] == NULL);
	CHECK_INT(root->selection.ncidrs, 0);
	CHECK_INT(root->selection.priority, 0);
	CHECK_INT(root->nwebhooks, 0);
	CHECK(root->ca_issuers_url == NULL && root->crl_url == NULL && root->crl_path == NULL);
	/* subject policy: what openssl, keytool and certtool write passes; no CA/B profile */
	CHECK_INT(root->profile, PROFILE_PRIVATE);
	CHECK_INT(root->subject.action[NA_CN], SUBJ_REQUIRED);
	CHECK_INT(root->subject.action[NA_O], SUBJ_CSR);
	CHECK_INT(root->subject.action[NA_OU], SUBJ_CSR);
	CHECK_INT(root->subject.action[NA_L], SUBJ_CSR);
	CHECK_INT(root->subject.action[NA_ST], SUBJ_CSR);
	CHECK_INT(root->subject.action[NA_C], SUBJ_CSR);
	CHECK_INT(root->subject.action[NA_EMAIL], SUBJ_DROP);
	CHECK_INT(root->subject.action[NA_SERIAL], SUBJ_DROP);
	CHECK_INT(root->subject.other, SUBJ_FALLBACK_DROP);
	CHECK_INT(root->subject.organization, SUBJ_FALLBACK_DROP);
	CHECK(root->subject.fixed[NA_O] == NULL);
	CHECK(cfg->tenants[0].organizations != NULL && cfg->tenants[0].organizations[0] == NULL);
	CHECK_STR(cfg->gateway_listen, "127.0.0.1:8080");
	CHECK_STR(cfg->approver_listen, "127.0.0.1:8081");
	CHECK_STR(cfg->kafka_group, "pki-workers");
	CHECK_STR(cfg->topics.issue, "pki.issue");
	CHECK_STR(cfg->topics.approval, "pki.approval");
	CHECK_STR(cfg->topics.results, "pki.results");
	CHECK_STR(cfg->topics.issued, "pki.issued");
	CHECK_STR(cfg->topics.audit, "pki.audit");
	CHECK_STR(cfg->topics.notify, "pki.notify");
	CHECK_STR(cfg->topics.dlq, "pki.issue.dlq");
	CHECK_STR(cfg->redis_prefix, "pki:");
	CHECK(config_user_find(cfg, "alice")->cas[0] == NULL);
	config_free(cfg);
	rm_rf();
}

TEST(config_subject_policy_loads)
{
	struct config *cfg;
	const struct ca *iss;

	setup();
	mutate2("cas[1].subject",
		"{\"attributes\": {\"CN\": \"csr\", \"OU\": \"refuse\", \"L\": \"required\", "
		"\"emailAddress\": \"csr\"}, \"other\": \"refuse\", \"fixed\": {\"O\": \"Acme "
		"Corp\", \"C\": \"FR\"}, \"organization\": \"refuse\"}",
		"tenants[0].organizations", "[\"Acme Corp\", \"Acme\"]");
	cfg = load_ok(0);
	iss = config_ca_find(cfg, "issuing");
	CHECK_INT(iss->subject.action[NA_CN], SUBJ_CSR);
	CHECK_INT(iss->subject.action[NA_OU], SUBJ_REFUSE);
	CHECK_INT(iss->subject.action[NA_L], SUBJ_REQUIRED);
	CHECK_INT(iss->subject.action[NA_ST], SUBJ_CSR); /* unnamed: its default */
	CHECK_INT(iss->subject.action[NA_EMAIL], SUBJ_CSR);
	CHECK_INT(iss->subject.action[NA_SERIAL], SUBJ_DROP);
	CHECK_INT(iss->subject.other, SUBJ_FALLBACK_REFUSE);
	CHECK_INT(iss->subject.organization, SUBJ_FALLBACK_REFUSE);
	CHECK_STR(iss->subject.fixed[NA_O], "Acme Corp");
	CHECK_STR(iss->subject.fixed[NA_C], "FR");
	CHECK(iss->subject.fixed[NA_OU] == NULL);
	CHECK_STR(cfg->tenants[0].organizations[0], "Acme Corp");
	CHECK_STR(cfg->tenants[0].organizations[1], "Acme");
	CHECK(cfg->tenants[0].organizations[2] == NULL);
	config_free(cfg);
	mutate("cas[1].profile", "\"cabf_tls\"");
	cfg = load_ok(0);
	CHECK_INT(config_ca_find(cfg, "issuing")->profile, PROFILE_CABF_TLS);
	config_free(cfg);
	rm_rf();
}

/* notifications: defaults, and a whole section with the allow-list's CIDRs parsed once. */
TEST(config_notifications)
{
	struct config *cfg;

	setup();
	mutate("listen", NULL);
	cfg = load_ok(0);
	CHECK(cfg->notify.smtp_url == NULL);
	CHECK(cfg->notify.hook_allow != NULL && cfg->notify.hook_allow[0] == NULL);
	CHECK_INT(cfg->notify.allow_private, 0);
	CHECK_STR(cfg->notify.public_url, "http://127.0.0.1:8080");
	config_free(cfg);
	mutate("notifications",
	       "{\"smtp\": {\"url\": \"smtp://relay.acme.test:587\", \"from\": \"pki@acme.test\", "
	       "\"tls\": \"starttls\"}, \"webhooks\": {\"allow\": [\"hooks.acme.test\", "
	       "\"10.1.0.0/16\", \"fd00::/8\"], \"allow_private\": true}, "
	       "\"public_url\": \"https://pki.acme.test\"}");
	cfg = load_ok(0);
	CHECK_STR(cfg->notify.smtp_url, "smtp://relay.acme.test:587");
	CHECK_INT(cfg->notify.smtp_tls, SMTP_TLS_STARTTLS);
	CHECK(cfg->notify.smtp_user == NULL);
	CHECK_STR(cfg->notify.hook_allow[0], "hooks.acme.test");
	CHECK_INT(cfg->notify.nhook_cidrs, 2);
	CHECK_INT(cfg->notify.hook_cidrs[0].prefix, 16);
	CHECK_INT(cfg->notify.hook_cidrs[1].family, AF_INET6);
	CHECK_INT(cfg->notify.allow_private, 1);
	CHECK_STR(cfg->notify.public_url, "https://pki.acme.test");
	config_free(cfg);
	rm_rf();
}

TEST(config_keys_checked_only_when_loaded)
{
	struct config *cfg;

	setup();
	/* A world-readable or wrong key is not read at all without CONFIG_LOAD_KEYS. */
	mutate("cas[1].key", "\"open.key\"");
	cfg = load_ok(0);
	CHECK(config_ca_find(cfg, "issuing")->key == NULL);
	config_free(cfg);
	load_fails(CONFIG_LOAD_KEYS, "cas[1].key: file $D/open.key must not be accessible by group "
				     "or others (chmod 600), got mode 0644");
	rm_rf();
}

/*
 * The worker's flags open the keys of the CAs that sign requests and no
 * other: a root's key file and an intermediate's without api_issuance may
 * be missing altogether. Only pkictl's CONFIG_LOAD_ROOT_KEYS reads them.
 */
TEST(config_root_key_never_loaded)
{
	const int worker = CONFIG_LOAD_KEYS | CONFIG_LOAD_BULK_KEYS | CONFIG_LOAD_GRANT_KEY;
	struct config *cfg;

	setup();
	mutate("cas[0].key", "\"gone-root.key\"");
	cfg = load_ok(worker);
	CHECK(config_ca_find(cfg, "root")->key == NULL);
	CHECK(config_ca_find(cfg, "issuing")->key != NULL);
	config_free(cfg);
	load_fails(CONFIG_LOAD_ROOT_KEYS,
		   "cas[0].key: cannot read $D/gone-root.key: No such file or directory");
	mutate2("cas[2].key", "\"gone-int.key\"", "cas[2].api_issuance", "false");
	cfg = load_ok(worker);
	CHECK(config_ca_find(cfg, "approval")->key == NULL);
	config_free(cfg);
	load_fails(worker | CONFIG_LOAD_ROOT_KEYS,
		   "cas[2].key: cannot read $D/gone-int.key: No such file or directory");
	rm_rf();
}

TEST(config_env_overrides)
{
	struct config *cfg;

	setup();
	setenv("PKI_KAFKA_BROKERS", "10.0.0.1:9092,10.0.0.2:9092", 1);
	setenv("PKI_REDIS_URL", "redis://10.0.0.3:6379/2", 1);
	setenv("PKI_REDIS_PREFIX", "test:", 1);
	setenv("PKI_GATEWAY_LISTEN", "0.0.0.0:28080", 1);
	setenv("PKI_APPROVER_LISTEN", "[::1]:28081", 1);
	cfg = load_ok(0);
	CHECK_STR(cfg->kafka_brokers, "10.0.0.1:9092,10.0.0.2:9092");
	CHECK_STR(cfg->redis_url, "redis://10.0.0.3:6379/2");
	CHECK_STR(cfg->redis_prefix, "test:");
	CHECK_STR(cfg->gateway_listen, "0.0.0.0:28080");
	CHECK_STR(cfg->approver_listen, "[::1]:28081");
	config_free(cfg);
	setenv("PKI_REDIS_URL", "localhost", 1);
	load_fails(0, "redis.url (from environment PKI_REDIS_URL): must be redis://host:port[/db], "
		      "got \"localhost\"");
	/* Empty means unset. */
	setenv("PKI_REDIS_URL", "", 1);
	cfg = load_ok(0);
	CHECK_STR(cfg->redis_url, "redis://127.0.0.1:16379/0");
	config_free(cfg);
	rm_rf();
}

TEST(config_default_path)
{
	unsetenv("PKI_CONFIG");
	CHECK_STR(config_default_path(), "var/demo/config.json");
	setenv("PKI_CONFIG", "/etc/pki/config.json", 1);
	CHECK_STR(config_default_path(), "/etc/pki/config.json");
}

TEST(config_user_by_key)
{
	struct config *cfg;
	const struct user *u;

	setup();
	cfg = load_ok(0);
	u = config_user_by_key(cfg, "alice-key");
	CHECK(u != NULL);
	CHECK_STR(u->name, "alice");
	CHECK_STR(config_user_by_key(cfg, "audit-key")->name, "audit");
	CHECK(config_user_by_key(cfg, "alice-key ") == NULL);
	CHECK(config_user_by_key(cfg, "") == NULL);
	CHECK(config_user_by_key(cfg, NULL) == NULL);
	CHECK(config_user_find(cfg, "bob") == &cfg->users[1]);
	CHECK(config_user_find(cfg, "nobody") == NULL);
	config_free(cfg);
	rm_rf();
}

/* config_notes: one line per note, appended to the buffer arg (MSG_MAX). */
static void
notes_collect(const char *note, void *arg)
{
	char *buf = arg;

	snprintf(buf + strlen(buf), MSG_MAX - strlen(buf), "%s\n", note);
}

TEST(config_names_and_notes)
{
	char notes[MSG_MAX] = "";
	struct config *cfg;

	setup();
	mutate2("tenants[0].names",
	       "{\"allow\": {\"dns\": [\"acme.test\", \"=h.acme.example\"], \"ip\": "
	       "[\"10.0.0.0/8\", \"*\"], \"uri\": [\"https://acme.test/\"]}, \"deny\": "
	       "{\"dns\": [\"secret.acme.test\"]}, \"wildcards\": true}",
		"cas[1].names", "{\"allow\": {\"dns\": [\"www.acme.test\"]}}");
	cfg = load_ok(0);
	CHECK_INT(cfg->tenants[0].names.set, 1);
	CHECK_STR(cfg->tenants[0].names.allow.dns[1], "=h.acme.example");
	CHECK_STR(cfg->tenants[0].names.allow.ip[1], "*");
	CHECK(cfg->tenants[0].names.allow.email[0] == NULL);
	CHECK_STR(cfg->tenants[0].names.deny.dns[0], "secret.acme.test");
	CHECK_INT(cfg->tenants[0].names.wildcards, 1);
	/* Absent: not set, so no names at all (fail closed). */
	CHECK_INT(cfg->tenants[1].names.set, 0);
	CHECK_INT(cfg->cas[1].names.set, 1);
	CHECK_INT(cfg->cas[1].names.wildcards, 0);
	CHECK_INT(cfg->cas[2].names.set, 0);
	config_notes(cfg, notes_collect, notes);
	CHECK_STR(notes, "tenants[1] (globex): no names: its users may have no name at all in a "
			 "certificate\n"
			 "users[2] (admin): operator of every CA (admin_cas \"*\")\n"
			 "users[3] (super): operator of every tenant and every CA\n");
	config_free(cfg);
	rm_rf();
}

TEST(config_user_may_use)
{
	struct config *cfg;
	const struct ca *root, *iss, *appr;
	const struct user *alice, *bob, *admin, *super, *audit;
	char *scoped_cas[] = {"root", NULL}, *none[] = {NULL}, *all[] = {"*", NULL};
	struct user scoped;

	setup();
	cfg = load_ok(0);
	root = config_ca_find(cfg, "root");
	iss = config_ca_find(cfg, "issuing");
	appr = config_ca_find(cfg, "approval");
	alice = config_user_find(cfg, "alice");
	bob = config_user_find(cfg, "bob");
	admin = config_user_find(cfg, "admin");
	super = config_user_find(cfg, "super");
	audit = config_user_find(cfg, "audit");
	/* alice: issuing by tenant acme, approval by the CA's user list. */
	CHECK_INT(config_user_may_use(alice, iss), 1);
	CHECK_INT(config_user_may_use(alice, appr), 1);
	CHECK_INT(config_user_may_use(alice, root), 0);
	/* bob: approval by tenant globex, issuing by his own cas list. */
	CHECK_INT(config_user_may_use(bob, appr), 1);
	CHECK_INT(config_user_may_use(bob, iss), 1);
	CHECK_INT(config_user_may_use(bob, root), 0);
	/* admin scoped to globex: own tenant's CA, globex CAs, not the tenant-less root. */
	CHECK_INT(config_user_may_use(admin, iss), 1);
	CHECK_INT(config_user_may_use(admin, appr), 1);
	CHECK_INT(config_user_may_use(admin, root), 0);
	/* admin with "*" scopes: everything. */
	CHECK_INT(config_user_may_use(super, root), 1);
	CHECK_INT(config_user_may_use(super, appr), 1);
	/* auditors never request, even from their tenant's CA. */
	CHECK_INT(config_user_may_use(audit, iss), 0);
	/* admin_cas limits an admin to the listed CAs. */
	scoped = *super;
	scoped.tenant = "initech";
	scoped.admin_cas = scoped_cas;
	scoped.admin_tenants = all;
	CHECK_INT(config_user_may_use(&scoped, root), 1);
	CHECK_INT(config_user_may_use(&scoped, iss), 0);
	/* Scopes fail closed: empty lists act for nothing, "*" must be written out. */
	scoped.admin_tenants = none;
	CHECK_INT(config_user_may_use(&scoped, root), 0);
	scoped.admin_cas = none;
	scoped.admin_tenants = all;
	CHECK_INT(config_user_may_use(&scoped, root), 0);
	CHECK_INT(roster_tenant_admin(&scoped, "globex"), 1);
	scoped.admin_tenants = none;
	CHECK_INT(roster_tenant_admin(&scoped, "globex"), 0);
	CHECK_INT(roster_admin_scope(super, "approval", "globex"), 1);
	CHECK_INT(roster_admin_scope(admin, "approval", "globex"), 1);
	CHECK_INT(roster_admin_scope(admin, "approval", "acme"), 0);
	scoped.admin_cas = scoped_cas;
	scoped.admin_tenants = all;
	CHECK_INT(config_user_may_use(NULL, iss), 0);
	CHECK_INT(config_user_may_use(alice, NULL), 0);
	/* Selection and admission ask the roster (roster.h): the same answer for every pair. */
	CHECK_INT(roster_user_may_use(&scoped, root), 1);
	CHECK_INT(roster_user_may_use(&scoped, iss), 0);
	for (size_t i = 0; i < cfg->nusers; i++)
		for (size_t k = 0; k < cfg->ncas; k++)
			CHECK_INT(roster_user_may_use(&cfg->users[i], &cfg->cas[k]),
				  config_user_may_use(&cfg->users[i], &cfg->cas[k]));
	config_free(cfg);
	rm_rf();
}

/* A bulk_keys entry of the base config, as JSON text. */
#define BULK_KEY(id, user, file)                                                                   \
	"{\"id\": \"" id "\", \"user\": \"" user "\", \"secret_file\": \"" file "\"}"

TEST(config_bulk_keys)
{
	static const char hex[] =
	    "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f";
	const struct bulk_key *k;
	struct config *cfg;

	setup();
	/* Absent: no bulk keys. */
	cfg = load_ok(CONFIG_LOAD_BULK_KEYS);
	CHECK_INT(cfg->nbulk_keys, 0);
	CHECK(config_bulk_key_find(cfg, "alice-1") == NULL);
	config_free(cfg);

	write_file("alice.key", hex, strlen(hex), SECRET_MODE);
	mutate("bulk_keys", "[" BULK_KEY("alice-1", "alice", "alice.key") "]");
	/* Without the flag the secret is not read (the gateway and approver never see it). */
	cfg = load_ok(0);
	CHECK_INT(cfg->nbulk_keys, 1);
	k = config_bulk_key_find(cfg, "alice-1");
	CHECK(k != NULL && !k->loaded);
	CHECK_STR(k->user, "alice");
	config_free(cfg);
	cfg = load_ok(CONFIG_LOAD_BULK_KEYS);
	k = config_bulk_key_find(cfg, "alice-1");
	CHECK(k != NULL && k->loaded);
	CHECK_INT(k->secret[0], 0xf0);
	CHECK_INT(k->secret[31], 0x0f);
	config_free(cfg);

	/* A world-readable secret is refused only where it is read. */
	write_file("alice.key", hex, strlen(hex), OPEN_MODE);
	cfg = load_ok(0);
	config_free(cfg);
	load_fails(CONFIG_LOAD_BULK_KEYS,
		   "bulk_keys[0].secret_file: file $D/alice.key must not be accessible by group or "
		   "others (chmod 600), got mode 0644");
	write_file("alice.key", "abcd\n", 5, SECRET_MODE);
	load_fails(CONFIG_LOAD_BULK_KEYS, "bulk_keys[0].secret_file: file $D/alice.key must hold "
					  "64 hex digits, got a different length");
	write_file("alice.key", grant_hex, 32, SECRET_MODE); /* 32 bytes: raw is not a bulk form */
	load_fails(CONFIG_LOAD_BULK_KEYS, "bulk_keys[0].secret_file: file $D/alice.key must hold "
					  "64 hex digits, got a different length");
	mutate("bulk_keys", "[" BULK_KEY("alice-1", "alice", "nope.key") "]");
	load_fails(CONFIG_LOAD_BULK_KEYS,
		   "bulk_keys[0].secret_file: cannot read $D/nope.key: No such file or directory");

	mutate("bulk_keys", "[" BULK_KEY("alice-1", "mallory", "alice.key") "]");
	load_fails(0, "bulk_keys[0].user: must name an entry of users, got \"mallory\"");
	mutate("bulk_keys", "[" BULK_KEY("alice-1", "alice", "alice.key") ", " BULK_KEY(
				"alice-1", "bob", "bob.key") "]");
	load_fails(0, "bulk_keys[1].id: duplicate of bulk_keys[0].id, got \"alice-1\"");
	mutate("bulk_keys", "[" BULK_KEY("has space", "alice", "alice.key") "]");
	load_fails(
	    0,
	    "bulk_keys[0].id: must be 1..63 characters of A-Z a-z 0-9 . _ - starting with a letter "
	    "or digit, got \"has space\"");
	mutate("bulk_keys",
	       "[" BULK_KEY("k234567890123456789012345678901234567890123456789012345678901234",
			    "alice", "alice.key") "]");
	load_fails(
	    0,
	    "bulk_keys[0].id: must be 1..63 characters of A-Z a-z 0-9 . _ - starting with a letter "
	    "or digit, got "
	    "\"k234567890123456789012345678901234567890123456789012345678901234\"");
	mutate("bulk_keys", "[{\"id\": \"a\", \"user\": \"alice\"}]");
	load_fails(0, "bulk_keys[0].secret_file: missing required key");
	mutate("bulk_keys", "[{\"id\": \"a\", \"user\": \"alice\", \"secret_file\": \"x\", "
			    "\"secret\": \"00\"}]");
	load_fails(0, "bulk_keys[0].secret: unknown key");
	mutate("bulk_keys", "{}");
	load_fails(0, "bulk_keys: must be an array, got object");
	rm_rf();
}
