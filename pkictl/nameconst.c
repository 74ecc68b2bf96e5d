/*
 * pkictl ca init-intermediate --name-constraints-tenant: a tenant's names
 * (config "names") as an RFC 5280 nameConstraints value in OpenSSL's
 * config syntax, so relying parties refuse what the service would refuse.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"
#include "namepol.h"

#define NC_MAX (16 * 1024) /* the extension's text; far above any sane tenant */

/* A growing "permitted;DNS:a,excluded;IP:..." text. */
struct nc_buf {
	char text[NC_MAX];
	size_t len;
	int overflow;
};

static void
nc_add(struct nc_buf *b, const char *subtree, const char *type, const char *value)
{
	int n = snprintf(b->text + b->len, sizeof(b->text) - b->len, "%s%s;%s:%s",
			 b->len ? "," : "", subtree, type, value);

	if (n < 0 || (size_t)n >= sizeof(b->text) - b->len)
		b->overflow = 1;
	else
		b->len += (size_t)n;
}

/* "addr/prefix" as OpenSSL's "addr/mask" into out (2 * INET6_ADDRSTRLEN). */
static int
nc_ip(const char *cidr, char *out, size_t outlen)
{
	char a[INET6_ADDRSTRLEN], m[INET6_ADDRSTRLEN];
	unsigned char mask[16] = {0};
	struct cidr c;
	const char *why;
	int i;

	if (roster_cidr_parse(cidr, &c, &why) != 0)
		return -1;
	for (i = 0; i < c.prefix; i++)
		mask[i / 8] |= (unsigned char)(0x80 >> (i % 8));
	inet_ntop(c.family, c.addr, a, sizeof(a));
	inet_ntop(c.family, mask, m, sizeof(m));
	snprintf(out, outlen, "%s/%s", a, m);
	return 0;
}

/*
 * The entries of one list (kind k, JSON array arr) as subtrees. A "*"
 * leaves the kind unconstrained (returns 1); deny's exact DNS names are
 * skipped (an excluded subtree would refuse the names under them too).
 * Returns 0, 1, or -1 after printing why an entry cannot be a constraint.
 */
static int
nc_list(struct nc_buf *b, const char *subtree, enum name_kind k, const cJSON *arr,
	const char *tenant)
{
	static const char *const types[] = {"DNS", "IP", "email", "URI"};
	char v[2 * INET6_ADDRSTRLEN + 2];
	const cJSON *it;
	const char *s, *host;
	size_t hl;

	cJSON_ArrayForEach(it, arr)
	{
		if (!cJSON_IsString(it))
			continue;
		s = it->valuestring;
		if (strcmp(s, NAMEPOL_ANY) == 0)
			return 1;
		if (k == NK_DNS && s[0] == NAMEPOL_EXACT) {
			if (strcmp(subtree, "excluded") == 0)
				continue;
			s++;
		}
		if (k == NK_IP && nc_ip(s, v, sizeof(v)) == 0)
			s = v;
		if (k == NK_URI) {
			/* RFC 5280 4.2.1.10: a URI constraint is a host. */
			host = strstr(s, "://");
			hl = host != NULL ? strcspn(host + 3, "/?#:@") : 0;
			if (hl == 0 || hl >= sizeof(v)) {
				pk_err("--name-constraints-tenant: tenant %s's uri entry \"%s\" has "
				       "no host to constrain",
				       tenant, it->valuestring);
				return -1;
			}
			snprintf(v, sizeof(v), "%.*s", (int)hl, host + 3);
			s = v;
		}
		nc_add(b, subtree, types[k], s);
	}
	return 0;
}

char *
nameconst_from_tenant(struct cfgfile *cf, const char *tenant)
{
	static const char *const kinds[] = {"dns", "ip", "email", "uri"};
	const cJSON *t = cfgfile_find(cf, "tenants", "id", tenant), *names, *allow, *deny;
	struct nc_buf *b = NULL;
	char *out = NULL;
	size_t k, permitted;
	int rc;

	if (t == NULL) {
		pk_err("--name-constraints-tenant: no tenant with id \"%s\" in %s", tenant,
		       cf->path);
		return NULL;
	}
	names = cJSON_GetObjectItemCaseSensitive(t, "names");
	allow = cJSON_GetObjectItemCaseSensitive(names, "allow");
	deny = cJSON_GetObjectItemCaseSensitive(names, "deny");
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	memcpy(b->text, "critical", 9);
	b->len = 8;
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		permitted = b->len;
		rc = nc_list(b, "permitted", (enum name_kind)k,
			     cJSON_GetObjectItemCaseSensitive(allow, kinds[k]), tenant);
		if (rc < 0)
			goto out;
		if (rc == 1) /* "*": that kind stays unconstrained */
			b->len = permitted;
		b->text[b->len] = '\0';
		if (nc_list(b, "excluded", (enum name_kind)k,
			    cJSON_GetObjectItemCaseSensitive(deny, kinds[k]), tenant) < 0)
			goto out;
	}
	if (b->overflow) {
		pk_err("--name-constraints-tenant: tenant %s's names exceed %d bytes", tenant,
		       NC_MAX);
		goto out;
	}
	if (b->len == 8) {
		pk_err("--name-constraints-tenant: tenant %s has no names to constrain to "
		       "(pkictl tenant add --names-dns ...)",
		       tenant);
		goto out;
	}
	out = strdup(b->text);
out:
	free(b);
	return out;
}
