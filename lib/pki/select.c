#include "select.h"

#include <arpa/inet.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

int
select_cidr_match(const struct cidr *c, const char *ip)
{
	unsigned char a[16];
	int family, full, rest;

	if (ip == NULL)
		return 0;
	if (inet_pton(AF_INET, ip, a) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, ip, a) == 1)
		family = AF_INET6;
	else
		return 0;
	if (family != c->family)
		return 0;
	full = c->prefix / 8;
	rest = c->prefix % 8;
	if (memcmp(a, c->addr, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((a[full] ^ c->addr[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

static int
strv_len(char *const *v)
{
	int n = 0;

	while (v != NULL && v[n] != NULL)
		n++;
	return n;
}

/* Appends to a bounded buffer, truncating quietly. */
static void
buf_add(char *buf, size_t cap, const char *fmt, ...)
{
	size_t n = strlen(buf);
	va_list ap;

	if (n + 1 >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + n, cap - n, fmt, ap);
	va_end(ap);
}

static void
cidr_format(const struct cidr *c, char *out, size_t outlen)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(c->family, c->addr, a, sizeof(a));
	snprintf(out, outlen, "%s/%d", a, c->prefix);
}

/*
 * Matches q against ca's rule. Returns the number of criteria matched, or -1
 * with why (cap bytes) naming the first criterion that failed. reason gets
 * what matched.
 */
static int
select_match(const struct ca *ca, const struct select_query *q, char *reason, size_t rcap,
	     char *why, size_t wcap)
{
	const struct ca_selection *sel = &ca->selection;
	int n = 0, i, hit;
	char cs[64];

	reason[0] = '\0';
	if (strv_len(sel->tenants) > 0) {
		for (i = 0, hit = 0; sel->tenants[i] != NULL && !hit; i++)
			hit = strcmp(sel->tenants[i], q->tenant) == 0;
		if (!hit) {
			snprintf(why, wcap, "tenant %s not selected", q->tenant);
			return -1;
		}
		buf_add(reason, rcap, "tenant %s, ", q->tenant);
		n++;
	}
	if (strv_len(sel->purposes) > 0 && q->purpose != NULL) {
		for (i = 0, hit = 0; sel->purposes[i] != NULL && !hit; i++)
			hit = strcasecmp(sel->purposes[i], q->purpose) == 0;
		if (!hit) {
			snprintf(why, wcap, "purpose %s not selected, serves %s%s", q->purpose,
				 sel->purposes[0], sel->purposes[1] != NULL ? ", ..." : "");
			return -1;
		}
		buf_add(reason, rcap, "purpose %s, ", q->purpose);
		n++;
	}
	if (strv_len(sel->email_patterns) > 0) {
		for (i = 0, hit = 0; q->email != NULL && sel->email_patterns[i] != NULL && !hit;
		     i++)
			hit = fnmatch(sel->email_patterns[i], q->email, FNM_CASEFOLD) == 0;
		if (!hit) {
			snprintf(why, wcap, "email %s matches no pattern",
				 q->email != NULL ? q->email : "(none)");
			return -1;
		}
		buf_add(reason, rcap, "email %s matches %s, ", q->email,
			sel->email_patterns[i - 1]);
		n++;
	}
	if (sel->ncidrs > 0) {
		size_t k;

		for (k = 0, hit = 0; k < sel->ncidrs && !hit; k++)
			hit = select_cidr_match(&sel->cidrs[k], q->client_ip);
		if (!hit) {
			snprintf(why, wcap, "client %s in no range",
				 q->client_ip != NULL ? q->client_ip : "(none)");
			return -1;
		}
		cidr_format(&sel->cidrs[k - 1], cs, sizeof(cs));
		buf_add(reason, rcap, "client %s in %s, ", q->client_ip, cs);
		n++;
	}
	if (n == 0)
		buf_add(reason, rcap, "no selection criteria (matches any), ");
	buf_add(reason, rcap, "%d criteria, priority %d", n, sel->priority);
	return n;
}

/* 1 if candidate (n criteria) ranks above the best so far. */
static int
select_better(const struct ca *ca, int n, const struct select_result *best)
{
	if (best->ca == NULL)
		return 1;
	if (n != best->specificity)
		return n > best->specificity;
	if (ca->selection.priority != best->ca->selection.priority)
		return ca->selection.priority > best->ca->selection.priority;
	return strcmp(ca->id, best->ca->id) < 0;
}

int
select_ca(const struct roster *r, const struct user *u, const struct select_query *q,
	  struct select_result *out, char *tried)
{
	struct select_result best;
	char reason[SELECT_REASON_MAX], why[256];
	size_t i;
	int n, candidates = 0;

	memset(&best, 0, sizeof(best));
	tried[0] = '\0';
	buf_add(tried, SELECT_TRIED_MAX, "no CA matches tenant %s, purpose %s, email %s, client %s",
		q->tenant, q->purpose != NULL ? q->purpose : "(none)",
		q->email != NULL ? q->email : "(none)",
		q->client_ip != NULL ? q->client_ip : "(none)");
	for (i = 0; i < r->ncas; i++) {
		const struct ca *ca = &r->cas[i];

		if (ca->type != CA_INTERMEDIATE || ca->status != CA_ACTIVE || !ca->api_issuance ||
		    !roster_user_may_use(u, ca))
			continue;
		buf_add(tried, SELECT_TRIED_MAX, "%s %s", candidates == 0 ? "; tried" : ",",
			ca->id);
		candidates++;
		if ((n = select_match(ca, q, reason, sizeof(reason), why, sizeof(why))) < 0) {
			buf_add(tried, SELECT_TRIED_MAX, " (%s)", why);
			continue;
		}
		if (select_better(ca, n, &best)) {
			best.ca = ca;
			best.specificity = n;
			snprintf(best.reason, sizeof(best.reason), "selected: %.490s", reason);
		}
		buf_add(tried, SELECT_TRIED_MAX, " (matched)");
	}
	if (candidates == 0)
		buf_add(tried, SELECT_TRIED_MAX, "; no active intermediate CA is open to user %s",
			u->name);
	if (best.ca == NULL)
		return -1;
	*out = best;
	return 0;
}
