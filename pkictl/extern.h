/* pkictl: private interfaces shared by the command files. */
#ifndef PKICTL_EXTERN_H
#define PKICTL_EXTERN_H

#include <cJSON.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <sys/types.h>

#include "bulk.h"
#include "ids.h"

#define PKICTL_ID_MAX ID_MAX /* ids of CAs, tenants and users; also file names */
#define PKICTL_NAME_MAX 128  /* display names */
#define PKICTL_CN_MAX 64     /* X.520 ub-common-name */
#define PKICTL_ORG_MAX 64    /* X.520 ub-organization-name */
#define PKICTL_EMAIL_MAX 254 /* RFC 5321 path limit */
#define PKICTL_PASSWORD_MIN 8
#define PKICTL_PASSWORD_MAX 1024
#define PKICTL_CA_DAYS_MAX 9125 /* 25 years: the longest CA certificate we write */
#define PKICTL_ROOT_DAYS_DEFAULT 3650
#define PKICTL_INT_DAYS_DEFAULT 1825
#define PKICTL_PATHLEN_MAX 8
#define PKICTL_SERIAL_BYTES 20 /* 159 random bits, positive, the RFC 5280 maximum length */
#define SECRET_FILE_MODE 0600 /* grant key, bulk key secrets, bulk producer profiles */
#define PKICTL_FLAGS_MAX 48
#define PKICTL_PAIR_KEY_MAX 32 /* NAME of a NAME=VALUE item (subject attribute names) */
#define PKICTL_CRL_DAYS_DEFAULT 7
#define PKICTL_CRL_DAYS_MAX 365     /* the CA/B Forum limit for CRLs covering CA certificates */
#define PKICTL_CRL_MODE 0644        /* public: the gateway serves it */
#define PKICTL_TLS_DAYS_DEFAULT 397 /* Kafka TLS certificates (pkictl kafka cert) */
#define PKICTL_STR_(x) #x
#define PKICTL_STR(x) PKICTL_STR_(x)

/* ---- errors (err.c) ---- */

/* Prints "pkictl: <message>" on stderr. */
void pk_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "pkictl: <what>: <OpenSSL error queue>" on stderr and clears the queue. */
void pk_sslerr(const char *what);

/* ---- command-line flags (args.c) ---- */

struct flag {
	const char *name;    /* "--id" */
	const char *metavar; /* "ID"; NULL for a boolean flag */
	const char *help;
	const char **value; /* valued flags: set to the argument */
	int *set;           /* boolean flags: set to 1 */
	int required;
};

struct command {
	const char *group; /* "ca", or NULL for a top-level command */
	const char *name;  /* "init-root" */
	const char *usage; /* one line after the command name */
	const char *summary;
	int (*run)(const struct command *cmd, int argc, char **argv);
};

/*
 * Parses argv (after the command words) against flags plus the common
 * --config PATH and --help. Returns 0 with *config_path set (default from the
 * environment), 1 when help was printed, -1 after printing an error.
 */
int args_parse(const struct command *cmd, const struct flag *flags, size_t nflags, int argc,
	       char **argv, const char **config_path);
/* As args_parse, plus exactly one operand (an argument not after a --flag) into *operand. */
int args_parse_operand(const struct command *cmd, const struct flag *flags, size_t nflags, int argc,
		       char **argv, const char **config_path, const char **operand);
/* Prints the command's usage and flag table on stdout. */
void args_help(const struct command *cmd, const struct flag *flags, size_t nflags);
/* "pkictl ca init-root" into buf. Returns buf. */
const char *args_cmdname(const struct command *cmd, char *buf, size_t len);

/* ---- values (values.c) ---- */

typedef int (*item_check_fn)(const char *flag, const char *item);

/* 0 if s is an id (ids.h), else -1 after printing the rule. */
int check_id(const char *flag, const char *s);
/* 0 if s is printable UTF-8 text of 1..max bytes, no control characters. */
int check_text(const char *flag, const char *s, size_t max);
int check_email(const char *flag, const char *s);
int check_country(const char *flag, const char *s);
/* "host:port" with port 1..65535. */
int check_hostport(const char *flag, const char *s);
/* Parses a decimal integer in [min, max] into *out. */
int parse_int(const char *flag, const char *s, long min, long max, long *out);
/* Splits "a,b" into a new cJSON array of strings, each passing check (may be NULL). */
int parse_list(const char *flag, const char *s, item_check_fn check, cJSON **out);
/* Splits "K=V,K=V" into a new cJSON object of strings (no empty K or V, no K twice). */
int parse_pairs(const char *flag, const char *s, cJSON **out);
/* Same, for integers each in the set allowed (n entries). */
int parse_int_list(const char *flag, const char *s, const long *allowed, size_t n, cJSON **out);
/* Reads one line (without its newline) of at most PKICTL_PASSWORD_MAX bytes. Caller frees. */
int read_secret_line(int fd, const char *what, char **out);

/* ---- the JSON config file (cfgfile.c) ---- */

struct cfgfile {
	char *path; /* as given */
	char *dir;  /* its directory */
	cJSON *root;
	mode_t mode;    /* mode to write with */
	char **created; /* files made for this change, removed unless committed */
	size_t ncreated;
	int committed;
	int is_new; /* from cfgfile_new: commit must not replace an existing file */
};

/* Reads and parses path. Returns 0 and *out (cfgfile_free), or -1 after printing an error. */
int cfgfile_open(const char *path, struct cfgfile **out);
/* A new, not yet existing config at path holding root (ownership passes). */
int cfgfile_new(const char *path, cJSON *root, struct cfgfile **out);
/*
 * Writes the document to a temporary file beside path, validates it with
 * config_load(CONFIG_LOAD_KEYS) and renames it into place (for a new config:
 * links, so an existing file is never replaced). Returns 0, or -1 after
 * printing the validation error; on failure the old file is untouched.
 */
int cfgfile_commit(struct cfgfile *cf);
/* Frees; files registered with cfgfile_track are removed unless committed. */
void cfgfile_free(struct cfgfile *cf);
/* Registers a file created for this change. Returns 0 or -1. */
int cfgfile_track(struct cfgfile *cf, const char *path);
/* Absolute or config-relative path rel resolved against cf->dir. Caller frees. */
char *cfgfile_resolve(const struct cfgfile *cf, const char *rel);
/* The array at key in the root object, created when missing; NULL if key holds a non-array. */
cJSON *cfgfile_array(struct cfgfile *cf, const char *key);
/* The object in array key whose field equals value, or NULL. */
cJSON *cfgfile_find(struct cfgfile *cf, const char *key, const char *field, const char *value);
/* 0 if every string in list names an object in array key (by field); else prints an error. */
int cfgfile_check_refs(struct cfgfile *cf, const char *flag, const cJSON *list, const char *key,
		       const char *field);
/*
 * Writes len bytes of data to a new file at path (never an existing file or a
 * symlink) with mode, synced. Returns 0, or -1 after printing an error with
 * nothing left at path.
 */
int file_write_new(const char *path, const void *data, size_t len, mode_t mode);
/* Makes dir (and missing parents) with mode. Returns 0 or -1 after printing an error. */
int mkdirs(const char *dir, mode_t mode);

/* ---- keys and CA certificates (cert.c) ---- */

struct keyspec {
	const char *name; /* "rsa2048", "ec-p256", ... */
	const char *alg;  /* "RSA" or "EC" */
	int bits;
	const char *curve; /* "P-256", NULL for RSA */
};

struct cert_params {
	const char *cn;
	const char *org;     /* may be NULL */
	const char *country; /* may be NULL */
	long days;
	int pathlen;               /* -1: no pathLenConstraint */
	const char *key_usage;     /* OpenSSL config syntax, e.g. "critical,keyCertSign,cRLSign" */
	int leaf;                  /* end entity (CA:FALSE) instead of a CA */
	const char *ext_key_usage; /* NULL, or e.g. "clientAuth" */
	const char *san;           /* NULL, or e.g. "DNS:localhost,IP:127.0.0.1" */
	const char *name_constraints; /* NULL, or e.g. "critical,permitted;DNS:acme.test" */
};

/* Looks up a --key name. Returns NULL for an unknown one. */
const struct keyspec *keyspec_find(const char *name);
/* Names of all key specs, ", "-separated, for messages. */
const char *keyspec_names(void);
/* Fresh key pair, or NULL after printing an error. */
EVP_PKEY *key_generate(const struct keyspec *ks);
/* Writes key as PKCS#8 PEM to a new file of mode 0600 (never exists before). Returns 0 or -1. */
int key_write_new(const char *path, EVP_PKEY *key);
int cert_write_new(const char *path, X509 *cert);
/*
 * Writes key (may be NULL) then the certificates as PEM to a new file, of
 * mode 0600 when it holds a key. Returns 0 or -1 after printing an error.
 */
int bundle_write_new(const char *path, EVP_PKEY *key, X509 *const *certs, size_t ncerts);
/* Loads a PEM key or certificate. Returns NULL after printing an error. */
EVP_PKEY *key_load(const char *path);
X509 *cert_load(const char *path);
/*
 * Builds and signs a certificate for key: a CA, or an end entity when p->leaf.
 * issuer and issuer_key NULL means self-signed. notAfter is clamped to the
 * issuer's. Returns NULL after an error.
 */
X509 *cert_build(const struct cert_params *p, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key);

/* SHA-384 for P-384 and larger EC keys, SHA-256 otherwise (the default for Ed25519: none). */
const EVP_MD *digest_for(EVP_PKEY *signer);

/* ---- CRLs (crl.c) ---- */

/*
 * Signs a v2 CRL for the CA (cert, key) with no revoked entries, thisUpdate
 * now, nextUpdate now + days, AKI and a CRL number one above the CRL already
 * at path (1 when there is none), and writes it DER to path atomically with
 * mode PKICTL_CRL_MODE. A file at path that is not a CRL signed by this CA is
 * an error (the number is never reset silently). On success *number is the
 * new CRL number (may be NULL). Returns 0 or -1 after printing an error.
 */
int crl_write(const char *path, X509 *cert, EVP_PKEY *key, long days, long *number);

/* ---- Redis users (redis.c) ---- */

/*
 * For pkictl init: writes a new random password per Redis user
 * (redis/NAME.pass, 0600), adds redis.users to the redis object of the new
 * config and writes redis/users.acl for prefix. Every file is tracked in cf
 * (removed unless the config is committed). Returns 0 or -1 after an error.
 */
int redis_users_init(struct cfgfile *cf, cJSON *redis, const char *prefix);

/* ---- Kafka TLS (kafka.c) ---- */

/*
 * Makes what is missing of: the infrastructure CA (infra/), its trust bundle
 * (kafka/ca.pem), the services' client certificates (kafka/pki-gateway.crt,
 * ...) and kafka.tls in the config. New files are tracked by cf. Returns 0 or
 * -1 after printing an error.
 */
int kafka_setup(struct cfgfile *cf);

/* ---- bulk input, ids and the producer profile (bulkin.c) ---- */

#define BULK_ERR_MAX 512
#define BULK_NAME_MAX 128      /* NAME of NAME.csr / a jsonl "name": also a file name */
#define BULK_REQUEST_ID_HEX 32 /* "b" + 32 hex: the first 16 bytes of a SHA-256 */
#define BULK_REQUEST_ID_BUF (1 + BULK_REQUEST_ID_HEX + 1)
#define BULK_BATCH_PREFIX "auto-" /* default batch ids: "auto-" + 32 hex */
#define BULK_BATCH_ID_BUF 64      /* MSG_ID_MAX */
#define BULK_VALIDITY_DEFAULT 90  /* days, when neither --validity nor the line says */
#define BULK_ITEMS_MAX 1000000    /* MSG_BATCH_SIZE_MAX */
#define BULK_CODE_MAX 64          /* failure codes ("csr_signature_invalid") */

/* Progress of one request through pkictl bulk submit. */
enum bulk_item_state {
	BULK_ITEM_NEW,   /* to be sent */
	BULK_ITEM_LOCAL, /* refused before sending (code, message); never sent */
	BULK_ITEM_SENT,  /* handed to the producer, or already known to the gateway */
	BULK_ITEM_DONE,  /* terminal: files written or failure recorded */
};

/* One CSR to submit, named NAME (the file NAME.csr/NAME.pem or the jsonl "name"). */
struct bulk_item {
	char *name;
	char *csr;         /* PEM text */
	char *common_name; /* given, or the CSR's subject CN */
	int validity_days;
	char *ca_id;         /* NULL: the worker selects the CA */
	unsigned extensions; /* enum ext_bit; 0: the CA's default */
	char *purpose;       /* NULL when not given */
	char *out_dir;       /* where NAME.crt and NAME.chain.pem go (borrowed from the input) */
	char request_id[BULK_REQUEST_ID_BUF];
	enum bulk_item_state state;
	int delivered;            /* acknowledged by the broker in this run */
	char code[BULK_CODE_MAX]; /* failure code and message, when failed ("" otherwise) */
	char *message;
};

struct bulk_input {
	struct bulk_item *items; /* sorted by name, names unique */
	size_t n;
	int is_dir;    /* a folder of NAME.csr/NAME.pem, else a jsonl file */
	char *out_dir; /* the folder itself, or the jsonl output folder */
};

/* What a request gets when its line does not say (ca_id may be NULL). */
struct bulk_defaults {
	int validity_days;
	const char *ca_id;
	const char *out_dir; /* jsonl: output folder; NULL: the jsonl file's folder */
};

/*
 * Reads path: a folder (every regular NAME.csr, and every NAME.pem holding a
 * CSR other than NAME.chain.pem; hidden files skipped) or a JSON Lines file
 * (one object per line: "name", "csr" required; "common_name",
 * "validity_days", "ca_id", "extensions", "purpose" optional; blank lines
 * skipped). A CSR that cannot be used locally (unparseable when its common
 * name must be read from it, no CN, too large) becomes a BULK_ITEM_LOCAL
 * item; a malformed file, line, name or duplicate name fails the whole read.
 * Returns 0 and *out (bulkin_free), or -1 with "where: rule, got X" in err
 * (BULK_ERR_MAX).
 */
int bulkin_read(const char *path, const struct bulk_defaults *d, struct bulk_input **out,
		char *err);
void bulkin_free(struct bulk_input *in);

/* The subject CN of the PEM CSR into out (len). 0, or -1 with the reason in err. */
int bulkin_csr_cn(const char *pem, char *out, size_t len, char *err);

/* "b" + hex of the first 16 bytes of SHA-256(key_id "\n" batch_id "\n" name) into out. */
void bulk_request_id(const char *key_id, const char *batch_id, const char *name,
		     char out[BULK_REQUEST_ID_BUF]);

/*
 * The default batch id: BULK_BATCH_PREFIX + hex of the first 16 bytes of a
 * SHA-256 over key_id and, for every item in name order, its name, the
 * SHA-256 of its CSR, common name, validity, CA, purpose and extensions. The
 * same input under the same key gives the same batch (and request ids).
 */
void bulk_batch_default(const char *key_id, const struct bulk_input *in,
			char out[BULK_BATCH_ID_BUF]);

/* A bulk producer's profile, bulk/USER.json (see README "Bulk submissions"). */
struct bulk_profile {
	char *user, *key_id;
	unsigned char secret[BULK_SECRET_BYTES];
	char *bootstrap;       /* Kafka bootstrap servers, NULL: the config's */
	char *ca, *cert, *key; /* TLS client files, NULL: plaintext */
};

/* Reads and checks the profile at path. 0 and *out (bulk_profile_free), or -1 with err. */
int bulk_profile_load(const char *path, struct bulk_profile **out, char *err);
void bulk_profile_free(struct bulk_profile *p);

/* ---- commands ---- */

int cmd_init(const struct command *cmd, int argc, char **argv);
int cmd_tenant_add(const struct command *cmd, int argc, char **argv);
int cmd_ca_init_root(const struct command *cmd, int argc, char **argv);
int cmd_ca_init_intermediate(const struct command *cmd, int argc, char **argv);

/* ---- nameConstraints (nameconst.c) ---- */

/*
 * Tenant tenant's names in cf as a critical nameConstraints value (OpenSSL
 * config syntax): allow lists as permitted subtrees ("*": that kind
 * unconstrained), deny lists as excluded ones. Returns a string the caller
 * frees, or NULL after printing why (no such tenant, no names, a URI
 * prefix without a host).
 */
char *nameconst_from_tenant(struct cfgfile *cf, const char *tenant);
int cmd_ca_crl(const struct command *cmd, int argc, char **argv);
int cmd_user_add(const struct command *cmd, int argc, char **argv);
int cmd_user_add_bulk_key(const struct command *cmd, int argc, char **argv);
int cmd_password_hash(const struct command *cmd, int argc, char **argv);
int cmd_notify_set(const struct command *cmd, int argc, char **argv);
int cmd_redis_acl(const struct command *cmd, int argc, char **argv);
int cmd_kafka_init(const struct command *cmd, int argc, char **argv);
int cmd_kafka_cert(const struct command *cmd, int argc, char **argv);
int cmd_bulk_submit(const struct command *cmd, int argc, char **argv);
int cmd_bulk_sign(const struct command *cmd, int argc, char **argv);

#endif
