/* Configuration: one JSON file (schemas/config.schema.json), validated whole at start. */
#ifndef PKI_CONFIG_H
#define PKI_CONFIG_H

#include <stddef.h>

#include "roster.h"

#define CONFIG_MAX_VALIDITY_DAYS CA_MAX_VALIDITY_DAYS
#define CONFIG_DEFAULT_APPROVAL_TTL_S (7 * 24 * 3600)
#define CONFIG_ERR_MAX 512
#define CONFIG_URL_MAX 1024         /* ca_issuers_url, crl_url */
#define CONFIG_BULK_SECRET_BYTES 32 /* a bulk key's HMAC-SHA256 secret */
/* Bounds of cas[] keys, as the table checks them (pkictl asks for values within them). */
#define CONFIG_APPROVALS_MAX 10
#define CONFIG_APPROVAL_TTL_MIN_S 60
#define CONFIG_APPROVAL_TTL_MAX_S (30 * 24 * 3600)
#define CONFIG_PRIORITY_MAX 1000  /* selection.priority is -MAX..MAX */
#define CONFIG_PREFIX_MAX 64      /* redis.prefix: printable, no spaces */
#define CONFIG_GRANT_KEY_BYTES 32 /* the approval grants' HMAC key */

/* The services; each uses only its own credentials (kafka.tls.NAME, redis.users.NAME). */
enum service { SERVICE_GATEWAY, SERVICE_WORKER, SERVICE_APPROVER, SERVICE_COUNT };

#define CONFIG_REDIS_PASSWORD_MIN 16
#define CONFIG_REDIS_PASSWORD_MAX 128

/* One service's Redis login; the password stays in its file until the service reads it. */
struct redis_user {
	char *user;
	char *password_file; /* absolute after load */
};

/*
 * One service's Kafka TLS files (PEM, absolute after load): the CA bundle to
 * trust, its client certificate (with chain) and its PKCS#8 key. All NULL:
 * plaintext. config_load checks only their names; the Kafka client reads them.
 */
struct kafka_tls {
	char *ca, *cert, *key;
	const char *field; /* "kafka.tls.worker", for messages (static) */
};

/* A bulk producer's signing key (bulk_keys): its messages act as user. */
struct bulk_key {
	char *id;
	char *user;        /* names an entry of users */
	char *secret_path; /* absolute after load */
	unsigned char secret[CONFIG_BULK_SECRET_BYTES];
	int loaded; /* secret read (CONFIG_LOAD_BULK_KEYS) */
};

/* SMTP transport security (notifications.smtp.tls). */
enum smtp_tls { SMTP_TLS_STARTTLS, SMTP_TLS_TLS, SMTP_TLS_NONE };

#define CONFIG_HOOK_ALLOW_MAX 64 /* notifications.webhooks.allow entries */

/*
 * notifications: the SMTP relay for e-mail (smtp_url NULL: no e-mail) and
 * the rule for users' own webhooks (hook_allow empty: none may register).
 */
struct notify_cfg {
	char *smtp_url;           /* smtp://host:port */
	char *smtp_from;          /* envelope and From: address */
	enum smtp_tls smtp_tls;   /* default starttls */
	char *smtp_user;          /* NULL: no AUTH */
	char *smtp_password_file; /* absolute after load; required with smtp_user */
	char *public_url;  /* base of the poll URL in messages; default http://listen.gateway */
	char **hook_allow; /* host names (and subdomains), "*", or CIDRs */
	struct cidr *hook_cidrs; /* the CIDR entries of hook_allow, parsed */
	size_t nhook_cidrs;
	int allow_private; /* loopback, link-local and private addresses allowed */
};

/*
 * limits: bounds against exhaustion (docs/security.md). Connections count
 * per client address in each HTTP service; waiters per API key in each
 * gateway process; request rates in Redis, shared by every gateway.
 */
#define CONFIG_CONNECTIONS_MAX 2048 /* limits.connections_per_ip upper bound */
#define CONFIG_TIMEOUT_MAX_S 3600
#define CONFIG_WAITERS_MAX CONFIG_CONNECTIONS_MAX /* a waiter holds a connection */
#define CONFIG_RATE_MAX 1000000
#define CONFIG_ADMIN_LIST_MAX 500 /* limits.admin_list_max upper bound */

/* A token bucket: rate_per_s tokens a second, at most burst saved up. */
struct rate_limit {
	int rate_per_s, burst;
};

struct limits {
	int connections_per_ip;   /* open connections per client address */
	int connection_timeout_s; /* idle time, and the time to send a request body */
	int waiters_per_key;      /* ?wait and Prefer: wait at once per API key (429 beyond) */
	struct rate_limit per_key, per_tenant; /* authenticated requests (429 beyond) */
	int admin_list_max;                    /* admin queue listing: entries per page */
};

struct topics {
	char *issue, *approval, *results, *issued, *audit, *notify, *dlq;
	char *submit; /* bulk ingress: signed requests from bulk producers */
};

struct config {
	char *path;            /* the file it was read from */
	char *dir;             /* its directory; relative paths in the file are relative to it */
	char *gateway_listen;  /* "127.0.0.1:8080" */
	char *approver_listen; /* "127.0.0.1:8081" */
	char *kafka_brokers;
	char *kafka_group;
	struct topics topics;
	struct kafka_tls kafka_tls[SERVICE_COUNT]; /* kafka.tls.gateway, .worker, .approver */
	char *redis_url;                           /* redis://host:port/db */
	char *redis_prefix;
	struct redis_user redis_users[SERVICE_COUNT]; /* all NULL without redis.users: no AUTH */
	char *grant_key_path; /* HMAC key of the approver (signs) and workers (verify) */
	unsigned char grant_key[CONFIG_GRANT_KEY_BYTES];
	int grant_key_loaded;
	struct ca *cas;
	size_t ncas;
	struct user *users;
	size_t nusers;
	struct tenant *tenants;
	size_t ntenants;
	struct bulk_key *bulk_keys; /* secrets loaded only with CONFIG_LOAD_BULK_KEYS */
	size_t nbulk_keys;
	struct notify_cfg notify;
	struct limits limits;
};

/* Flags for config_load. */
/*
 * Secrets are read only when asked for, so that each process holds only its
 * own: no service asks for CONFIG_LOAD_ROOT_KEYS, and a root's key is never
 * opened without it.
 */
#define CONFIG_LOAD_KEYS 1       /* keys of the intermediates with api_issuance (worker, pkictl) */
#define CONFIG_LOAD_NO_CA 2      /* accept an empty cas list (pkictl, while setting up) */
#define CONFIG_LOAD_BULK_KEYS 4  /* read the bulk keys' secrets (worker, pkictl) */
#define CONFIG_LOAD_GRANT_KEY 8  /* read the grant key (approver: signs; worker: verifies) */
#define CONFIG_LOAD_ROOT_KEYS 16 /* every other CA's key too, roots included (pkictl only) */

/*
 * Reads, validates and returns the config at path (environment overrides
 * applied: PKI_KAFKA_BROKERS, PKI_REDIS_URL, PKI_REDIS_PREFIX,
 * PKI_GATEWAY_LISTEN, PKI_APPROVER_LISTEN).
 * Returns 0 and *out (caller frees with config_free), or a negative code and
 * a message "path: key.path: rule, got X" in err (CONFIG_ERR_MAX bytes).
 */
int config_load(const char *path, int flags, struct config **out, char *err);
void config_free(struct config *cfg);

/* "gateway", "worker", "approver": the key of s under kafka.tls and redis.users. */
const char *config_service_name(enum service s);

/* Path of the config to use: $PKI_CONFIG, else "var/demo/config.json". */
const char *config_default_path(void);

/* NULL if s passes the ca_issuers_url/crl_url rule, else the rule ("must be ..."). */
const char *config_url_rule(const char *s);

/*
 * The Redis login of service (a config_service_name): returns 1 with *user
 * set and the password read from its redis.users entry's password_file into
 * password (CONFIG_REDIS_PASSWORD_MAX + 1 bytes); 0 when the config has no
 * redis.users (connect without AUTH); -1 with a message naming the key, the
 * rule and what was seen in err (CONFIG_ERR_MAX). Reads no other file.
 */
int config_redis_login(const struct config *cfg, const char *service, const char **user,
		       char *password, char *err);

/*
 * Reads a Redis password file: a regular file without group or other
 * access, holding one line of CONFIG_REDIS_PASSWORD_MIN..MAX printable
 * characters without spaces (a final newline is allowed). Returns 0 with the
 * password in password (CONFIG_REDIS_PASSWORD_MAX + 1 bytes), or -1 with
 * "cfgfile: what: rule, got ..." in err (CONFIG_ERR_MAX).
 */
int config_password_read(const char *cfgfile, const char *what, const char *file, char *password,
			 char *err);

/* The CAs, users and tenants of cfg as the pki layer takes them (roster.h); points into cfg. */
static inline struct roster
config_roster(const struct config *cfg)
{
	struct roster r = {
	    .cas = cfg->cas,
	    .ncas = cfg->ncas,
	    .users = cfg->users,
	    .nusers = cfg->nusers,
	    .tenants = cfg->tenants,
	    .ntenants = cfg->ntenants,
	};

	return r;
}

#define CONFIG_KEY_NAMES_MAX 8

/* One key of the configuration table, as the schema and docs/config.md describe it. */
struct config_key_info {
	const char *path; /* "cas[].max_validity_days": "." between keys, "[]" for array items */
	const char *type; /* JSON type: "string", "integer", "boolean", "array", "object" */
	int required;
	int has_bounds; /* integers: min..max inclusive */
	long long min, max;
	const char *names[CONFIG_KEY_NAMES_MAX]; /* enumerations (of the items, for arrays) */
	size_t nnames;
	int numeric_names; /* the names are integers written as text */
	const char *def;   /* a string's default, or NULL */
	const char *env;   /* the environment variable overriding it, or NULL */
};

/* Calls fn for every key of the table, parents before their keys; info lives for the call. */
void config_keys_walk(void (*fn)(const struct config_key_info *info, void *arg), void *arg);

const struct ca *config_ca_find(const struct config *cfg, const char *id);
const struct user *config_user_by_key(const struct config *cfg, const char *api_key);
const struct user *config_user_find(const struct config *cfg, const char *name);
/* The bulk key with this id, or NULL. */
const struct bulk_key *config_bulk_key_find(const struct config *cfg, const char *id);
/*
 * Calls fn with one line for each thing an operator should know that is not
 * an error: each tenant without names (fail closed: no names at all) and
 * each admin with a scope of "*" (every tenant or CA).
 */
void config_notes(const struct config *cfg, void (*fn)(const char *note, void *arg), void *arg);

/* As roster_user_may_use (roster.h), which selection and admission use. */
int config_user_may_use(const struct user *u, const struct ca *ca);

#endif
