/*
 * Identifiers: CA, tenant, user, request, batch and bulk key ids share one
 * rule, written here once and used by the config, the HTTP API, the Kafka
 * messages, the approver and pkictl: 1..ID_MAX characters of A-Z a-z 0-9
 * . _ -, the first a letter or digit.
 */
#ifndef PKI_IDS_H
#define PKI_IDS_H

#define ID_MAX 63             /* longest id */
#define ID_BUF (ID_MAX + 1)   /* an id and its NUL */
#define ID_RULE "1..63 characters of A-Z a-z 0-9 . _ - starting with a letter or digit"

/* 1 when s (NUL-terminated) is an id, else 0. */
int id_valid(const char *s);

/* The id rule as a field rule: NULL when s is an id, else "must be " ID_RULE (jfield_rule). */
const char *id_rule(const char *s);

/* The same for the n bytes at s (not NUL-terminated, e.g. a URL path segment). */
int id_valid_n(const char *s, unsigned long n);

#endif
