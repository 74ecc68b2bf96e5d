/*
 * The roster: the CAs, users and tenants that the issuance core decides
 * over, as plain structs and bit sets. The config loader (config.h) fills
 * them from the file; here nothing is parsed, read from disk or fetched,
 * so selection, admission and policy can be run (and tested) from structs
 * alone.
 */
#ifndef PKI_ROSTER_H
#define PKI_ROSTER_H

#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#define CA_MAX_VALIDITY_DAYS 3650 /* upper bound of a CA's max_validity_days */

enum ca_type { CA_ROOT, CA_INTERMEDIATE };
enum ca_status { CA_ACTIVE, CA_DISABLED };
enum user_role { ROLE_REQUESTER, ROLE_ADMIN, ROLE_AUDITOR };

/* Bit sets; names as in the config file. */
enum key_type_bit { KT_RSA = 1, KT_EC = 2, KT_ED25519 = 4 };
enum curve_bit { CURVE_P256 = 1, CURVE_P384 = 2, CURVE_P521 = 4 };
enum ext_bit {
	EXT_SERVER_AUTH = 1,
	EXT_CLIENT_AUTH = 2,
	EXT_EMAIL_PROTECTION = 4,
	EXT_CODE_SIGNING = 8,
};
/* allowed_key_sizes: RSA modulus bits, bit set over 2048, 3072, 4096. */
enum rsa_size_bit { RSA_2048 = 1, RSA_3072 = 2, RSA_4096 = 4 };

/* Subject attribute kinds the subject policy names; NA_OTHER is every other type. */
enum name_attr_kind { NA_CN, NA_O, NA_OU, NA_C, NA_ST, NA_L, NA_EMAIL, NA_SERIAL, NA_OTHER };
/* What a CA does with one subject attribute of a CSR (names as in the config file). */
enum subject_action { SUBJ_CSR, SUBJ_REQUIRED, SUBJ_DROP, SUBJ_REFUSE };
/* What a CA does with attributes it does not name, and with an O not the tenant's. */
enum subject_fallback { SUBJ_FALLBACK_DROP, SUBJ_FALLBACK_REFUSE };
/* private: the operator's policy only; cabf_tls: the CA/Browser Forum TLS rules too. */
enum ca_profile { PROFILE_PRIVATE, PROFILE_CABF_TLS };

struct subject_policy {
	unsigned action[NA_OTHER]; /* enum subject_action, per enum name_attr_kind */
	unsigned other;            /* enum subject_fallback */
	unsigned organization;     /* enum subject_fallback */
	char *fixed[NA_OTHER];     /* value that replaces the CSR's (wins over action), or NULL */
};

struct cidr {
	int family; /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	int prefix;
};

/*
 * The names a tenant (or a CA, intersected with its tenants') may put in a
 * certificate, by kind; lists are NULL-terminated, NULL or empty: none.
 */
struct name_lists {
	char **dns;   /* "domain" (it and every name under it), "=exact", or "*" */
	char **ip;    /* "addr/prefix" (IPv4, IPv6) or "*" */
	char **email; /* a mailbox domain (mailboxes at exactly that host) or "*" */
	char **uri;   /* a prefix, scheme and host compared case-insensitively, or "*" */
};

struct name_policy {
	int set; /* configured; a tenant without names may have no name at all */
	struct name_lists allow, deny;
	int wildcards; /* "*.x" allowed when every name it covers is allowed and none denied */
};

struct ca_selection {
	char **tenants; /* NULL-terminated; empty list means any */
	char **purposes;
	char **email_patterns; /* fnmatch(3) patterns, case-insensitive */
	struct cidr *cidrs;
	size_t ncidrs;
	int priority; /* higher wins */
};

struct webhook {
	char *url;
	char *secret; /* HMAC-SHA256 key */
};

struct ca {
	char *id;
	char *name;
	enum ca_type type;
	char *parent; /* id of the issuer, NULL for a root */
	enum ca_status status;
	int api_issuance; /* signs through the request API; never for a root */
	char *cert_path;  /* absolute after load */
	char *key_path;
	/* RFC 5280 AIA caIssuers and CRL distribution point (http:// only), or NULL. */
	char *ca_issuers_url;
	char *crl_url;
	char *crl_path;         /* this CA's current DER CRL (absolute after load), or NULL */
	X509 *cert;             /* loaded at start */
	EVP_PKEY *key;          /* loaded only when config_load is asked to (workers, pkictl) */
	STACK_OF(X509) * chain; /* issuer chain above this CA, up to and including the root */

	int requires_manual_approval;
	char *approval_password_hash; /* "scrypt$N$r$p$salt_b64$hash_b64" or NULL */
	int approvals_required;       /* m of n, >= 1 */
	long approval_ttl_s;
	int max_validity_days;       /* 1..CA_MAX_VALIDITY_DAYS */
	unsigned allowed_key_types;  /* enum key_type_bit */
	unsigned allowed_key_sizes;  /* enum rsa_size_bit */
	unsigned allowed_curves;     /* enum curve_bit */
	unsigned allowed_extensions; /* enum ext_bit */
	struct ca_selection selection;
	char **tenants; /* tenants whose users may use it; empty means none by tenant */
	char **users;   /* user names who may use it */
	struct webhook *webhooks;
	size_t nwebhooks;
	unsigned profile; /* enum ca_profile */
	struct subject_policy subject;
	/* Subject fields for the ca-template endpoint, from the certificate. */
	char *common_name;
	char *organization;
	char *country;
	struct name_policy names; /* when set, intersected with the tenant's */
};

struct user {
	char *name;
	char *email;
	enum user_role role;
	char *tenant;
	unsigned char api_key_hash[32]; /* SHA-256 of the API key */
	char **cas;                     /* CA ids this user may use (beyond tenant grants) */
	char **admin_tenants;           /* admins: tenants they act for; empty = none, "*" = all */
	char **admin_cas;               /* admins: CAs they act for; empty = none, "*" = all */
};

struct tenant {
	char *id;
	char *name;
	struct webhook *webhooks;
	size_t nwebhooks;
	char **organizations; /* the O values its certificates may carry; NULL-terminated */
	struct name_policy names;
};

/* What selection and admission look at; config_roster (config.h) makes one from a config. */
struct roster {
	const struct ca *cas;
	size_t ncas;
	const struct user *users;
	size_t nusers;
	const struct tenant *tenants;
	size_t ntenants;
};

/* The CA with this id in r, or NULL (also for a NULL id). */
const struct ca *roster_ca_find(const struct roster *r, const char *id);

/* The tenant with this id in r, or NULL (also for a NULL id). */
const struct tenant *roster_tenant_find(const struct roster *r, const char *id);

/* An admin scope list entry that covers every tenant or CA. */
#define ROSTER_SCOPE_ALL "*"

/*
 * 1 if u may request certificates from ca: a user or tenant grant of the
 * CA, a CA grant of the user, or an admin whose admin_cas and
 * admin_tenants both cover it (empty: none, "*": all); never an auditor.
 * 0 otherwise, also when u or ca is NULL.
 */
int roster_user_may_use(const struct user *u, const struct ca *ca);

/* 1 if u is an admin acting for tenant (admin_tenants names it or is "*"); 0 otherwise. */
int roster_tenant_admin(const struct user *u, const char *tenant);

/* 1 if u is an admin acting for both ca_id and tenant (each list names it or is "*"). */
int roster_admin_scope(const struct user *u, const char *ca_id, const char *tenant);

/* 1 if the scope list v (admin_tenants, admin_cas) is "*": every tenant or CA. */
int roster_scope_all(char *const *v);

/*
 * Parses "addr/prefix" strictly: inet_pton address, decimal prefix without
 * sign or leading zeros within the family's width, no host bits set.
 * Returns 0, or -1 with a static rule in *why.
 */
int roster_cidr_parse(const char *s, struct cidr *out, const char **why);

#endif
