/*
 * Configuration references: ids and names unique, and every name that points
 * into another section (a CA's parent, tenants, users, CAs, a bulk key's
 * user) naming an entry there. Runs on the parsed config, before any file
 * is read.
 */
#include <stdio.h>
#include <string.h>

#include "config_int.h"

/* Fields of the parsed arrays by which uniqueness and references are checked. */
static const char *
tenant_id(const struct config *cfg, size_t i)
{
	return cfg->tenants[i].id;
}
static const char *
tenant_name(const struct config *cfg, size_t i)
{
	return cfg->tenants[i].name;
}
static const char *
ca_id(const struct config *cfg, size_t i)
{
	return cfg->cas[i].id;
}
static const char *
ca_name(const struct config *cfg, size_t i)
{
	return cfg->cas[i].name;
}
static const char *
user_name(const struct config *cfg, size_t i)
{
	return cfg->users[i].name;
}
static const char *
bulk_key_id(const struct config *cfg, size_t i)
{
	return cfg->bulk_keys[i].id;
}

/* Fails on the first value of field that repeats an earlier one in array arr. */
static int
check_unique(struct ctx *c, const char *arr, const char *field, size_t n,
	     const char *(*get)(const struct config *, size_t))
{
	char p[CONFIG_PATH_MAX], g[CONFIG_GOT_MAX];
	size_t i, j;

	for (i = 0; i < n; i++)
		for (j = 0; j < i; j++)
			if (strcmp(get(c->cfg, i), get(c->cfg, j)) == 0) {
				snprintf(p, sizeof(p), "%s[%zu].%s", arr, i, field);
				return fail(c, p, "duplicate of %s[%zu].%s, got %s", arr, j, field,
					    quote(get(c->cfg, i), g));
			}
	return 0;
}

/* Index of the entry of arr whose key equals s, or -1. */
static long
find(const struct config *cfg, size_t n, const char *(*get)(const struct config *, size_t),
     const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(get(cfg, i), s) == 0)
			return (long)i;
	return -1;
}

/* Every item of list must name an entry (found by get) of the array called what. */
static int
check_refs(struct ctx *c, const char *path, char *const *list, size_t n,
	   const char *(*get)(const struct config *, size_t), const char *what)
{
	char ip[CONFIG_PATH_MAX], g[CONFIG_GOT_MAX];
	size_t i;

	for (i = 0; list[i] != NULL; i++)
		if (find(c->cfg, n, get, list[i]) < 0) {
			path_idx(ip, path, i);
			return fail(c, ip, "must name an entry of %s, got %s", what,
				    quote(list[i], g));
		}
	return 0;
}

/* An admin scope list: ["*"] (all) alone, or entries of the array called what. */
static int
check_scope(struct ctx *c, const char *path, char *const *list, size_t n,
	    const char *(*get)(const struct config *, size_t), const char *what)
{
	char ip[CONFIG_PATH_MAX], g[CONFIG_GOT_MAX];
	size_t i;

	if (!roster_scope_all(list))
		return check_refs(c, path, list, n, get, what);
	for (i = 0; list[i] != NULL; i++)
		if (strcmp(list[i], ROSTER_SCOPE_ALL) != 0) {
			path_idx(ip, path, i);
			return fail(c, ip, "must be absent beside \"*\" (all %s), got %s", what,
				    quote(list[i], g));
		}
	return 0;
}

static int
check_ref(struct ctx *c, const char *path, const char *s, size_t n,
	  const char *(*get)(const struct config *, size_t), const char *what)
{
	char g[CONFIG_GOT_MAX];

	if (find(c->cfg, n, get, s) < 0)
		return fail(c, path, "must name an entry of %s, got %s", what, quote(s, g));
	return 0;
}

int
config_refs_check(struct ctx *c)
{
	struct config *cfg = c->cfg;
	char p[CONFIG_PATH_MAX], g[CONFIG_GOT_MAX];
	size_t i, j, steps;
	long k;

	if (check_unique(c, "tenants", "id", cfg->ntenants, tenant_id) != 0 ||
	    check_unique(c, "tenants", "name", cfg->ntenants, tenant_name) != 0 ||
	    check_unique(c, "cas", "id", cfg->ncas, ca_id) != 0 ||
	    check_unique(c, "cas", "name", cfg->ncas, ca_name) != 0 ||
	    check_unique(c, "users", "name", cfg->nusers, user_name) != 0)
		return -1;
	for (i = 0; i < cfg->nusers; i++)
		for (j = 0; j < i; j++)
			if (memcmp(cfg->users[i].api_key_hash, cfg->users[j].api_key_hash, 32) ==
			    0) {
				snprintf(p, sizeof(p), "users[%zu].api_key_hash", i);
				return fail(c, p, "duplicate of users[%zu].api_key_hash", j);
			}
	for (i = 0; i < cfg->ncas; i++) {
		struct ca *ca = &cfg->cas[i];

		if (ca->parent != NULL) {
			snprintf(p, sizeof(p), "cas[%zu].parent", i);
			if (strcmp(ca->parent, ca->id) == 0)
				return fail(c, p, "must name another CA, got %s",
					    quote(ca->parent, g));
			if (check_ref(c, p, ca->parent, cfg->ncas, ca_id, "cas") != 0)
				return -1;
			/* Following parents must reach a root within ncas steps. */
			for (k = (long)i, steps = 0; cfg->cas[k].parent != NULL; steps++) {
				if (steps > cfg->ncas)
					return fail(c, p,
						    "must lead to a root, got a cycle "
						    "through %s",
						    quote(ca->parent, g));
				k = find(cfg, cfg->ncas, ca_id, cfg->cas[k].parent);
				if (k < 0)
					break; /* reported at that CA */
			}
		}
		snprintf(p, sizeof(p), "cas[%zu].selection.tenants", i);
		if (check_refs(c, p, ca->selection.tenants, cfg->ntenants, tenant_id, "tenants") !=
		    0)
			return -1;
		snprintf(p, sizeof(p), "cas[%zu].tenants", i);
		if (check_refs(c, p, ca->tenants, cfg->ntenants, tenant_id, "tenants") != 0)
			return -1;
		snprintf(p, sizeof(p), "cas[%zu].users", i);
		if (check_refs(c, p, ca->users, cfg->nusers, user_name, "users") != 0)
			return -1;
	}
	for (i = 0; i < cfg->nusers; i++) {
		struct user *u = &cfg->users[i];

		snprintf(p, sizeof(p), "users[%zu].tenant", i);
		if (check_ref(c, p, u->tenant, cfg->ntenants, tenant_id, "tenants") != 0)
			return -1;
		snprintf(p, sizeof(p), "users[%zu].cas", i);
		if (check_refs(c, p, u->cas, cfg->ncas, ca_id, "cas") != 0)
			return -1;
		snprintf(p, sizeof(p), "users[%zu].admin_tenants", i);
		if (check_scope(c, p, u->admin_tenants, cfg->ntenants, tenant_id, "tenants") != 0)
			return -1;
		snprintf(p, sizeof(p), "users[%zu].admin_cas", i);
		if (check_scope(c, p, u->admin_cas, cfg->ncas, ca_id, "cas") != 0)
			return -1;
	}
	if (check_unique(c, "bulk_keys", "id", cfg->nbulk_keys, bulk_key_id) != 0)
		return -1;
	for (i = 0; i < cfg->nbulk_keys; i++) {
		snprintf(p, sizeof(p), "bulk_keys[%zu].user", i);
		if (check_ref(c, p, cfg->bulk_keys[i].user, cfg->nusers, user_name, "users") != 0)
			return -1;
	}
	return 0;
}

void
config_notes(const struct config *cfg, void (*fn)(const char *note, void *arg), void *arg)
{
	char note[CONFIG_ERR_MAX];
	size_t i;

	for (i = 0; i < cfg->ntenants; i++)
		if (!cfg->tenants[i].names.set) {
			snprintf(note, sizeof(note),
				 "tenants[%zu] (%s): no names: its users may have no name at all in "
				 "a certificate",
				 i, cfg->tenants[i].id);
			fn(note, arg);
		}
	for (i = 0; i < cfg->nusers; i++) {
		const struct user *u = &cfg->users[i];

		if (roster_scope_all(u->admin_tenants) || roster_scope_all(u->admin_cas)) {
			snprintf(note, sizeof(note), "users[%zu] (%s): operator of every %s", i,
				 u->name,
				 roster_scope_all(u->admin_tenants) && roster_scope_all(u->admin_cas)
				     ? "tenant and every CA"
				 : roster_scope_all(u->admin_tenants) ? "tenant (admin_tenants \"*\")"
								      : "CA (admin_cas \"*\")");
			fn(note, arg);
		}
	}
}
