/*
 * pkictl kafka init / kafka cert: the infrastructure CA and the Kafka TLS
 * certificates it signs (one per service, per bulk producer, the broker's).
 *
 * The infrastructure root and intermediate are apart from every issuing
 * hierarchy on purpose: the broker trusts only them, so a certificate a
 * tenant gets from an issuing CA never authenticates to Kafka. No service
 * loads either key; only pkictl signs with the intermediate.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "extern.h"

#define INFRA_DIR "infra"
#define KAFKA_DIR "kafka"
#define KAFKA_DIR_MODE 0700
#define INFRA_ROOT_CN "PKI Infrastructure Root"
#define INFRA_CA_CN "PKI Infrastructure CA"
#define INFRA_KEY "ec-p256"
#define INFRA_ROOT_KEY_USAGE "critical,keyCertSign,cRLSign"
#define INFRA_CA_KEY_USAGE "critical,keyCertSign,cRLSign,digitalSignature"
#define TLS_KEY_USAGE "critical,digitalSignature" /* ECDSA signs the handshake */
#define TLS_CLIENT_EKU "clientAuth"
#define TLS_SERVER_EKU "serverAuth,clientAuth" /* the broker also connects to itself */
#define KAFKA_TRUST_FILE KAFKA_DIR "/ca.pem"
#define SAN_MAX 1024
#define HOST_MAX 253 /* a DNS name's longest text form */

/* The services' principals, in the order of enum service (kafka.tls.gateway, ...). */
static const char *const service_principals[SERVICE_COUNT] = {"pki-gateway", "pki-worker",
							      "pki-approver"};

/* The infrastructure CA's files, absolute. */
struct infra {
	char *root_crt, *root_key, *ca_crt, *ca_key, *trust;
};

static void
infra_free(struct infra *in)
{
	free(in->root_crt);
	free(in->root_key);
	free(in->ca_crt);
	free(in->ca_key);
	free(in->trust);
}

static int
infra_paths(struct cfgfile *cf, struct infra *in)
{
	memset(in, 0, sizeof(*in));
	if ((in->root_crt = cfgfile_resolve(cf, INFRA_DIR "/root.crt")) == NULL ||
	    (in->root_key = cfgfile_resolve(cf, INFRA_DIR "/root.key")) == NULL ||
	    (in->ca_crt = cfgfile_resolve(cf, INFRA_DIR "/ca.crt")) == NULL ||
	    (in->ca_key = cfgfile_resolve(cf, INFRA_DIR "/ca.key")) == NULL ||
	    (in->trust = cfgfile_resolve(cf, KAFKA_TRUST_FILE)) == NULL) {
		infra_free(in);
		return -1;
	}
	return 0;
}

/* Registers path, just written when written is 0, with cf; removes it if that fails. */
static int
tracked(struct cfgfile *cf, const char *path, int written)
{
	if (written != 0)
		return -1;
	if (cfgfile_track(cf, path) != 0) {
		unlink(path);
		return -1;
	}
	return 0;
}

/* 1 if all of the infrastructure CA's files exist, 0 if none does, -1 (printed) otherwise. */
static int
infra_exists(const struct infra *in)
{
	const char *files[] = {in->root_crt, in->root_key, in->ca_crt, in->ca_key, in->trust};
	size_t i, n = 0;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		n += access(files[i], F_OK) == 0;
	if (n == 0 || n == sizeof(files) / sizeof(files[0]))
		return n != 0;
	pk_err("infrastructure CA: only some of %s, %s, %s, %s, %s exist; restore them or remove "
	       "all to start over",
	       in->root_crt, in->root_key, in->ca_crt, in->ca_key, in->trust);
	return -1;
}

/* Generates the infrastructure root and intermediate and writes their files and the trust bundle.
 */
static int
infra_create(struct cfgfile *cf, const struct infra *in)
{
	struct cert_params rp = {.cn = INFRA_ROOT_CN,
				 .days = PKICTL_ROOT_DAYS_DEFAULT,
				 .pathlen = -1,
				 .key_usage = INFRA_ROOT_KEY_USAGE};
	struct cert_params ip = {.cn = INFRA_CA_CN,
				 .days = PKICTL_INT_DAYS_DEFAULT,
				 .pathlen = 0,
				 .key_usage = INFRA_CA_KEY_USAGE};
	const struct keyspec *ks = keyspec_find(INFRA_KEY);
	EVP_PKEY *rkey = NULL, *ikey = NULL;
	X509 *rcert = NULL, *icert = NULL, *trust[2];
	char *dir = NULL;
	int rc = -1;

	if ((dir = cfgfile_resolve(cf, INFRA_DIR)) == NULL || mkdirs(dir, KAFKA_DIR_MODE) != 0)
		goto out;
	free(dir);
	if ((dir = cfgfile_resolve(cf, KAFKA_DIR)) == NULL || mkdirs(dir, KAFKA_DIR_MODE) != 0)
		goto out;
	if ((rkey = key_generate(ks)) == NULL ||
	    (rcert = cert_build(&rp, rkey, NULL, NULL)) == NULL ||
	    (ikey = key_generate(ks)) == NULL ||
	    (icert = cert_build(&ip, ikey, rcert, rkey)) == NULL)
		goto out;
	trust[0] = icert;
	trust[1] = rcert;
	if (tracked(cf, in->root_key, key_write_new(in->root_key, rkey)) != 0 ||
	    tracked(cf, in->root_crt, cert_write_new(in->root_crt, rcert)) != 0 ||
	    tracked(cf, in->ca_key, key_write_new(in->ca_key, ikey)) != 0 ||
	    tracked(cf, in->ca_crt, cert_write_new(in->ca_crt, icert)) != 0 ||
	    tracked(cf, in->trust, bundle_write_new(in->trust, NULL, trust, 2)) != 0)
		goto out;
	pk_err("infrastructure CA created: %s (root %s; keys mode 0600), trust bundle %s",
	       in->ca_crt, in->root_crt, in->trust);
	rc = 0;
out:
	free(dir);
	EVP_PKEY_free(rkey);
	EVP_PKEY_free(ikey);
	X509_free(rcert);
	X509_free(icert);
	return rc;
}

/* A host for --server: an IPv4/IPv6 address or a DNS name ([A-Za-z0-9.-], no leading dot or dash).
 */
static int
check_host(const char *flag, const char *s)
{
	unsigned char a[16];
	size_t i, n = strlen(s);

	if (inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1)
		return 0;
	if (n == 0 || n > HOST_MAX || s[0] == '.' || s[0] == '-' || s[n - 1] == '.')
		goto bad;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '-'))
			goto bad;
	return 0;
bad:
	pk_err("%s: each item must be an IP address or a DNS name ([A-Za-z0-9.-]), got \"%s\"",
	       flag, s);
	return -1;
}

/* subjectAltName value (OpenSSL config syntax) for the hosts; -1 when too long. */
static int
san_build(const cJSON *hosts, char *out, size_t len)
{
	const cJSON *h;
	unsigned char a[16];
	size_t used = 0;
	int n;

	out[0] = '\0';
	cJSON_ArrayForEach(h, hosts)
	{
		const char *s = h->valuestring;
		int ip = inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;

		n = snprintf(out + used, len - used, "%s%s:%s", used ? "," : "", ip ? "IP" : "DNS",
			     s);
		if (n < 0 || (size_t)n >= len - used) {
			pk_err("--server: more names than fit in %d bytes", SAN_MAX);
			return -1;
		}
		used += (size_t)n;
	}
	return 0;
}

/*
 * Issues kafka/NAME.crt (leaf + infrastructure CA) and kafka/NAME.key for
 * CN=name, signed by (ca, cakey); with hosts, a server certificate for them
 * and kafka/NAME.keystore.pem (key, then the chain) for the broker.
 */
static int
tls_cert_issue(struct cfgfile *cf, const char *name, const cJSON *hosts, long days, X509 *ca,
	       EVP_PKEY *cakey)
{
	struct cert_params p = {.cn = name,
				.days = days,
				.pathlen = -1,
				.key_usage = TLS_KEY_USAGE,
				.leaf = 1,
				.ext_key_usage = hosts ? TLS_SERVER_EKU : TLS_CLIENT_EKU};
	char san[SAN_MAX], rel[PKICTL_ID_MAX + 32];
	char *crt = NULL, *key = NULL, *store = NULL;
	EVP_PKEY *k = NULL;
	X509 *x = NULL, *chain[2];
	int rc = -1;

	snprintf(rel, sizeof(rel), KAFKA_DIR "/%s.crt", name);
	crt = cfgfile_resolve(cf, rel);
	snprintf(rel, sizeof(rel), KAFKA_DIR "/%s.key", name);
	key = cfgfile_resolve(cf, rel);
	snprintf(rel, sizeof(rel), KAFKA_DIR "/%s.keystore.pem", name);
	store = cfgfile_resolve(cf, rel);
	if (crt == NULL || key == NULL || store == NULL)
		goto out;
	if (access(crt, F_OK) == 0 || access(key, F_OK) == 0 || access(store, F_OK) == 0) {
		pk_err("%s: %s or its key already exists; refusing to overwrite it (remove both to "
		       "issue a new one)",
		       name, crt);
		goto out;
	}
	if (hosts != NULL) {
		if (san_build(hosts, san, sizeof(san)) != 0)
			goto out;
		p.san = san;
	}
	if ((k = key_generate(keyspec_find(INFRA_KEY))) == NULL ||
	    (x = cert_build(&p, k, ca, cakey)) == NULL)
		goto out;
	chain[0] = x;
	chain[1] = ca;
	if (tracked(cf, key, key_write_new(key, k)) != 0 ||
	    tracked(cf, crt, bundle_write_new(crt, NULL, chain, 2)) != 0 ||
	    (hosts != NULL && tracked(cf, store, bundle_write_new(store, k, chain, 2)) != 0))
		goto out;
	pk_err("kafka certificate for principal %s: %s (key %s, mode 0600)%s%s", name, crt, key,
	       hosts ? "; keystore " : "", hosts ? store : "");
	rc = 0;
out:
	EVP_PKEY_free(k);
	X509_free(x);
	free(crt);
	free(key);
	free(store);
	return rc;
}

/* Loads the infrastructure intermediate for signing; an error names `pkictl kafka init`. */
static int
infra_load(const struct infra *in, X509 **ca, EVP_PKEY **cakey)
{
	if (access(in->ca_crt, F_OK) != 0) {
		pk_err("%s: no infrastructure CA beside this config; create it with 'pkictl kafka "
		       "init'",
		       in->ca_crt);
		return -1;
	}
	if ((*ca = cert_load(in->ca_crt)) == NULL)
		return -1;
	if ((*cakey = key_load(in->ca_key)) == NULL) {
		X509_free(*ca);
		*ca = NULL;
		return -1;
	}
	return 0;
}

/* Adds kafka.tls naming the trust bundle and each service's certificate, unless present. */
static int
tls_config_add(struct cfgfile *cf)
{
	cJSON *kafka = cJSON_GetObjectItemCaseSensitive(cf->root, "kafka"), *tls, *svc;
	char rel[PKICTL_ID_MAX + 32];
	size_t i;

	if (!cJSON_IsObject(kafka)) {
		pk_err("%s: kafka: must be an object", cf->path);
		return -1;
	}
	if (cJSON_GetObjectItemCaseSensitive(kafka, "tls") != NULL)
		return 0;
	if ((tls = cJSON_AddObjectToObject(kafka, "tls")) == NULL)
		return -1;
	cJSON_AddStringToObject(tls, "ca", KAFKA_TRUST_FILE);
	for (i = 0; i < SERVICE_COUNT; i++) {
		if ((svc = cJSON_AddObjectToObject(tls, config_service_name((enum service)i))) ==
		    NULL)
			return -1;
		snprintf(rel, sizeof(rel), KAFKA_DIR "/%s.crt", service_principals[i]);
		cJSON_AddStringToObject(svc, "cert", rel);
		snprintf(rel, sizeof(rel), KAFKA_DIR "/%s.key", service_principals[i]);
		cJSON_AddStringToObject(svc, "key", rel);
	}
	return 0;
}

int
kafka_setup(struct cfgfile *cf)
{
	X509 *ca = NULL;
	EVP_PKEY *cakey = NULL;
	struct infra in;
	char rel[PKICTL_ID_MAX + 32], *crt = NULL;
	size_t i;
	int have, rc = -1;

	if (infra_paths(cf, &in) != 0)
		return -1;
	if ((have = infra_exists(&in)) < 0 || (have == 0 && infra_create(cf, &in) != 0) ||
	    infra_load(&in, &ca, &cakey) != 0)
		goto out;
	for (i = 0; i < SERVICE_COUNT; i++) {
		snprintf(rel, sizeof(rel), KAFKA_DIR "/%s.crt", service_principals[i]);
		free(crt);
		if ((crt = cfgfile_resolve(cf, rel)) == NULL)
			goto out;
		if (access(crt, F_OK) != 0 &&
		    tls_cert_issue(cf, service_principals[i], NULL, PKICTL_TLS_DAYS_DEFAULT, ca,
				   cakey) != 0)
			goto out;
	}
	rc = tls_config_add(cf);
out:
	free(crt);
	X509_free(ca);
	EVP_PKEY_free(cakey);
	infra_free(&in);
	return rc;
}

int
cmd_kafka_init(const struct command *cmd, int argc, char **argv)
{
	struct cfgfile *cf = NULL;
	const char *config;
	int rc;

	if ((rc = args_parse(cmd, NULL, 0, argc, argv, &config)))
		return rc > 0 ? 0 : -1;
	rc = -1;
	if (cfgfile_open(config, &cf) != 0 || kafka_setup(cf) != 0 || cfgfile_commit(cf) != 0)
		goto out;
	pk_err("kafka.tls set in %s; the services connect with TLS from their next start", config);
	rc = 0;
out:
	cfgfile_free(cf);
	return rc;
}

int
cmd_kafka_cert(const struct command *cmd, int argc, char **argv)
{
	const char *name = NULL, *server = NULL, *days = NULL, *config;
	const struct flag flags[] = {
	    {"--server", "HOST,...",
	     "a server certificate (serverAuth) for these DNS names and IP addresses, and a "
	     "keystore",
	     &server, NULL, 0},
	    {"--days", "N", "lifetime in days (default " PKICTL_STR(PKICTL_TLS_DAYS_DEFAULT) ")",
	     &days, NULL, 0},
	};
	struct cfgfile *cf = NULL;
	cJSON *hosts = NULL;
	X509 *ca = NULL;
	EVP_PKEY *cakey = NULL;
	struct infra in = {0};
	long d = PKICTL_TLS_DAYS_DEFAULT;
	int rc;

	/* NAME comes first: `pkictl kafka cert bulk-alice --config ...`. */
	if (argc > 0 && strncmp(argv[0], "-", 1) != 0) {
		name = argv[0];
		argc--;
		argv++;
	}
	if ((rc = args_parse(cmd, flags, sizeof(flags) / sizeof(flags[0]), argc, argv, &config)))
		return rc > 0 ? 0 : -1;
	rc = -1;
	if (name == NULL) {
		pk_err("kafka cert: NAME: required (the principal, e.g. bulk-alice); see 'pkictl "
		       "kafka cert --help'");
		goto out;
	}
	if (check_id("NAME", name) != 0 ||
	    (server != NULL && parse_list("--server", server, check_host, &hosts) != 0) ||
	    (days != NULL && parse_int("--days", days, 1, PKICTL_CA_DAYS_MAX, &d) != 0))
		goto out;
	if (cfgfile_open(config, &cf) != 0 || infra_paths(cf, &in) != 0 ||
	    infra_load(&in, &ca, &cakey) != 0 || tls_cert_issue(cf, name, hosts, d, ca, cakey) != 0)
		goto out;
	/* The config itself is unchanged; committing keeps the new files. */
	if (cfgfile_commit(cf) != 0)
		goto out;
	rc = 0;
out:
	cJSON_Delete(hosts);
	X509_free(ca);
	EVP_PKEY_free(cakey);
	infra_free(&in);
	cfgfile_free(cf);
	return rc;
}
