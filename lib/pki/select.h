/*
 * CA selection for requests without a ca_id. Candidates: active
 * intermediates with api_issuance that the caller may use
 * (roster_user_may_use). Each selection criterion of a CA (tenants,
 * purposes, email patterns, client CIDRs) that is non-empty must match the
 * query. A request without purpose_category is not refused by a CA's
 * purpose rule, but the rule does not count toward its specificity either
 * (tenant, email and client address are always known). The most
 * specific match (most criteria matched) wins, then the higher priority,
 * then the smaller id.
 */
#ifndef PKI_SELECT_H
#define PKI_SELECT_H

#include <stddef.h>

#include "roster.h"

#define SELECT_REASON_MAX 512
#define SELECT_TRIED_MAX 2048

struct select_query {
	const char *tenant;    /* required */
	const char *purpose;   /* may be NULL */
	const char *email;     /* may be NULL */
	const char *client_ip; /* textual IPv4/IPv6, may be NULL */
};

struct select_result {
	const struct ca *ca;
	int specificity;                /* criteria matched */
	char reason[SELECT_REASON_MAX]; /* "tenant acme, purpose tls, ...; priority 10" */
};

/*
 * Picks the CA of r for u and q. Returns 0 and *out, or -1 with a message naming
 * the query and each candidate tried with why it did not match in tried
 * (SELECT_TRIED_MAX).
 */
int select_ca(const struct roster *r, const struct user *u, const struct select_query *q,
	      struct select_result *out, char *tried);

/* 1 if textual address ip lies in c. */
int select_cidr_match(const struct cidr *c, const char *ip);

#endif
