/*
 * Name policy: which DNS names, IP addresses, e-mail addresses and URIs a
 * tenant may have in a certificate (struct name_policy, roster.h), and a
 * CA's own lists intersected with the tenant's. Deny wins over allow; a
 * tenant without names may have none. Pure: structs in, violations out.
 */
#ifndef PKI_NAMEPOL_H
#define PKI_NAMEPOL_H

#include "issue.h"
#include "roster.h"

enum name_kind { NK_DNS, NK_IP, NK_EMAIL, NK_URI };

#define NAMEPOL_ANY "*"   /* a list entry matching every name of its kind */
#define NAMEPOL_EXACT '=' /* a DNS entry "=name": that name only */

/*
 * Checks one name of kind k for tenant t (NULL: unknown, no names) and ca
 * (NULL or names not set: no CA lists): allowed by both, denied by
 * neither. Returns 0 when allowed, or -1 with one name_not_allowed
 * violation for field, naming the name and the rule it missed.
 */
int namepol_check_name(enum name_kind k, const char *name, const char *field,
		       const struct tenant *t, const struct ca *ca, struct violations *vs);

/*
 * Checks every name in c's CN (when it is a DNS name, IP or e-mail
 * address; field common_name) and SANs (field csr_data) with
 * namepol_check_name. Returns 0 when all are allowed, -1 otherwise.
 */
int namepol_check(const struct csr *c, const struct tenant *t, const struct ca *ca,
		  struct violations *vs);

/*
 * The names a requester of tenant t may get from ca, as lists: allow the
 * intersection, deny the union, wildcards when both allow them. *out owns
 * its lists (namepol_free). Returns 0, or -1 when out of memory.
 */
int namepol_effective(const struct tenant *t, const struct ca *ca, struct name_policy *out);

/* Frees the lists of np (not np itself); NULL is safe. */
void namepol_free(struct name_policy *np);

/* NULL if s is a valid entry of kind k's lists, else the rule ("must be ..."). */
const char *namepol_entry_rule(enum name_kind k, const char *s);

#endif
