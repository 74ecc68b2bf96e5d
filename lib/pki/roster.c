#include "roster.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>

/* 1 if s is in the NULL-terminated list v (NULL: empty). */
static int
roster_strv_has(char *const *v, const char *s)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		if (strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

const struct ca *
roster_ca_find(const struct roster *r, const char *id)
{
	size_t i;

	if (id == NULL)
		return NULL;
	for (i = 0; i < r->ncas; i++)
		if (strcmp(r->cas[i].id, id) == 0)
			return &r->cas[i];
	return NULL;
}

const struct tenant *
roster_tenant_find(const struct roster *r, const char *id)
{
	size_t i;

	if (id == NULL)
		return NULL;
	for (i = 0; i < r->ntenants; i++)
		if (strcmp(r->tenants[i].id, id) == 0)
			return &r->tenants[i];
	return NULL;
}

int
roster_scope_all(char *const *v)
{
	return roster_strv_has(v, ROSTER_SCOPE_ALL);
}

/* 1 if the scope list v covers s: names it or is "*"; empty covers nothing. */
static int
roster_scope_has(char *const *v, const char *s)
{
	return s != NULL && (roster_scope_all(v) || roster_strv_has(v, s));
}

int
roster_user_may_use(const struct user *u, const struct ca *ca)
{
	size_t i;
	int tenant_ok;

	if (u == NULL || ca == NULL || u->role == ROLE_AUDITOR)
		return 0;
	if (roster_strv_has(ca->users, u->name) || roster_strv_has(ca->tenants, u->tenant) ||
	    roster_strv_has(u->cas, ca->id))
		return 1;
	if (u->role != ROLE_ADMIN || !roster_scope_has(u->admin_cas, ca->id))
		return 0;
	/* A CA open to no tenant is only for a tenant scope of "*". */
	if (roster_scope_all(u->admin_tenants))
		return 1;
	tenant_ok = 0;
	for (i = 0; ca->tenants != NULL && ca->tenants[i] != NULL; i++)
		tenant_ok |= roster_strv_has(u->admin_tenants, ca->tenants[i]);
	return tenant_ok;
}

int
roster_tenant_admin(const struct user *u, const char *tenant)
{
	return u != NULL && u->role == ROLE_ADMIN && roster_scope_has(u->admin_tenants, tenant);
}

int
roster_admin_scope(const struct user *u, const char *ca_id, const char *tenant)
{
	return roster_tenant_admin(u, tenant) && roster_scope_has(u->admin_cas, ca_id);
}

int
roster_cidr_parse(const char *s, struct cidr *out, const char **why)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/'), *p;
	int width, prefix = 0, i;

	*why = "must be an IPv4 or IPv6 CIDR address/prefix";
	if (slash == NULL || (size_t)(slash - s) >= sizeof(addr))
		return -1;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, addr, out->addr) == 1) {
		out->family = AF_INET;
		width = 32;
	} else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
		out->family = AF_INET6;
		width = 128;
	} else {
		return -1;
	}
	p = slash + 1;
	if (*p == '\0' || (p[0] == '0' && p[1] != '\0'))
		return -1;
	for (; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		prefix = prefix * 10 + (*p - '0');
		if (prefix > width)
			return -1;
	}
	out->prefix = prefix;
	for (i = prefix; i < width; i++)
		if (out->addr[i / 8] & (0x80 >> (i % 8))) {
			*why = "must have no host bits set after the prefix";
			return -1;
		}
	return 0;
}

