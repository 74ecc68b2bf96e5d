#include "roster.h"

#include <string.h>

/* 1 if the NULL-terminated list v is NULL or empty. */
static int
roster_strv_empty(char *const *v)
{
	return v == NULL || v[0] == NULL;
}

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
roster_user_may_use(const struct user *u, const struct ca *ca)
{
	size_t i;
	int tenant_ok;

	if (u == NULL || ca == NULL || u->role == ROLE_AUDITOR)
		return 0;
	if (roster_strv_has(ca->users, u->name) || roster_strv_has(ca->tenants, u->tenant) ||
	    roster_strv_has(u->cas, ca->id))
		return 1;
	if (u->role != ROLE_ADMIN)
		return 0;
	/* Admin scope: admin_cas (empty = all) and admin_tenants (empty = all) both hold. */
	if (!roster_strv_empty(u->admin_cas) && !roster_strv_has(u->admin_cas, ca->id))
		return 0;
	if (roster_strv_empty(u->admin_tenants))
		return 1;
	tenant_ok = 0;
	for (i = 0; ca->tenants != NULL && ca->tenants[i] != NULL; i++)
		tenant_ok |= roster_strv_has(u->admin_tenants, ca->tenants[i]);
	return tenant_ok;
}

int
roster_tenant_admin(const struct user *u, const char *tenant)
{
	if (u == NULL || u->role != ROLE_ADMIN || tenant == NULL)
		return 0;
	return roster_strv_empty(u->admin_tenants) || roster_strv_has(u->admin_tenants, tenant);
}
