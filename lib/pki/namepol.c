/*
 * Name policy (namepol.h). One relation decides everything: entry x covers
 * y, where y is a name or another entry of the same kind. A name is allowed
 * when an allow entry covers it and no deny entry does; the intersection of
 * two allow lists keeps each entry that the other list covers.
 */
#include "namepol.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "issue_int.h"

#define NAMEPOL_LIST_TEXT 120 /* the entries quoted in a message */
#define NAMEPOL_NAME_TEXT 80  /* the name quoted in a message */

static const char *const kind_label[] = {"DNS name", "IP address", "e-mail address", "URI"};

/* The list of kind k in nl. */
static char *const *
list_of(const struct name_lists *nl, enum name_kind k)
{
	switch (k) {
	case NK_DNS:
		return nl->dns;
	case NK_IP:
		return nl->ip;
	case NK_EMAIL:
		return nl->email;
	case NK_URI:
		return nl->uri;
	}
	return NULL;
}

/* 1 if DNS name n (no wildcard) is dom or a name under it; ASCII case-insensitive. */
static int
dns_within(const char *n, const char *dom)
{
	size_t nl = strlen(n), dl = strlen(dom);

	if (nl == dl)
		return ascii_casecmp_eq(n, nl, dom, dl);
	return nl > dl && n[nl - dl - 1] == '.' && ascii_casecmp_eq(n + nl - dl, dl, dom, dl);
}

/* An IP address or "addr/prefix" as a range; -1 if neither. */
static int
ip_range(const char *s, struct cidr *out)
{
	const char *why;

	memset(out, 0, sizeof(*out));
	if (strchr(s, '/') != NULL)
		return roster_cidr_parse(s, out, &why);
	if (inet_pton(AF_INET, s, out->addr) == 1) {
		out->family = AF_INET;
		out->prefix = 32;
	} else if (inet_pton(AF_INET6, s, out->addr) == 1) {
		out->family = AF_INET6;
		out->prefix = 128;
	} else {
		return -1;
	}
	return 0;
}

/* 1 if range x holds all of range y. */
static int
ip_covers(const char *x, const char *y)
{
	struct cidr a, b;
	int full, rest;

	if (ip_range(x, &a) != 0 || ip_range(y, &b) != 0 || a.family != b.family ||
	    a.prefix > b.prefix)
		return 0;
	full = a.prefix / 8;
	rest = a.prefix % 8;
	if (memcmp(a.addr, b.addr, (size_t)full) != 0)
		return 0;
	return rest == 0 || ((a.addr[full] ^ b.addr[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/* Length of u's scheme and authority ("https://Host:443"), compared case-insensitively. */
static size_t
uri_head_len(const char *u)
{
	const char *colon = strchr(u, ':');
	size_t n;

	if (colon == NULL)
		return 0;
	n = (size_t)(colon - u) + 1;
	if (colon[1] == '/' && colon[2] == '/')
		n += 2 + strcspn(colon + 3, "/?#");
	return n;
}

/*
 * 1 if u starts with prefix p: scheme and host case-insensitively, the rest
 * byte for byte. A prefix that ends with the host matches that host only
 * ("https://a.test" is not a prefix of "https://a.test.evil/").
 */
static int
uri_has_prefix(const char *p, const char *u)
{
	size_t pl = strlen(p), ul = strlen(u), head = uri_head_len(p);

	if (pl > ul || !ascii_casecmp_eq(p, head, u, head) || memcmp(p + head, u + head, pl - head))
		return 0;
	return pl != head || pl == ul || strchr("/?#:", u[pl]) != NULL;
}

/* The host of mailbox m (after its last '@'), or m itself when it is a domain. */
static const char *
email_domain(const char *m)
{
	const char *at = strrchr(m, '@');

	return at != NULL ? at + 1 : m;
}

/*
 * 1 if entry x of kind k covers y: a name, or (entry set) another entry of
 * the lists. A DNS name y is one name; a DNS entry y is its subtree unless
 * it is "=name".
 */
static int
covers(enum name_kind k, const char *x, const char *y, int entry)
{
	int exact = !entry;

	if (strcmp(x, NAMEPOL_ANY) == 0)
		return 1;
	if (strcmp(y, NAMEPOL_ANY) == 0)
		return 0;
	switch (k) {
	case NK_DNS:
		if (entry && y[0] == NAMEPOL_EXACT) {
			y++;
			exact = 1;
		}
		if (x[0] == NAMEPOL_EXACT)
			return exact && ascii_casecmp_eq(x + 1, strlen(x + 1), y, strlen(y));
		return dns_within(y, x);
	case NK_IP:
		return ip_covers(x, y);
	case NK_EMAIL:
		return ascii_casecmp_eq(x, strlen(x), email_domain(y), strlen(email_domain(y)));
	case NK_URI:
		return uri_has_prefix(x, y);
	}
	return 0;
}

/* The parent domain of DNS entry or name s ("b.c" for "a.b.c" or "=a.b.c"), or "". */
static const char *
dns_parent(const char *s)
{
	const char *dot;

	if (s[0] == NAMEPOL_EXACT)
		s++;
	dot = strchr(s, '.');
	return dot != NULL ? dot + 1 : "";
}

/*
 * The entry of v that matches name n of kind k, or NULL. For a wildcard
 * "*.base" and allow: an entry covering every name under base; for deny:
 * an entry covering any name "label.base".
 */
static const char *
list_match(char *const *v, enum name_kind k, const char *n, int deny)
{
	const char *base = NULL;
	size_t i;

	if (k == NK_DNS && n[0] == '*' && n[1] == '.')
		base = n + 2;
	for (i = 0; v != NULL && v[i] != NULL; i++) {
		if (base == NULL ? covers(k, v[i], n, 0)
				 : covers(k, v[i], base, 1) ||
				       (deny && ascii_casecmp_eq(dns_parent(v[i]),
								 strlen(dns_parent(v[i])), base,
								 strlen(base))))
			return v[i];
	}
	return NULL;
}

/* v joined by ", " into buf (cap bytes), "none" when empty, "..." when cut. */
static const char *
list_text(char *const *v, char *buf, size_t cap)
{
	size_t i, o = 0;
	int n;

	buf[0] = '\0';
	for (i = 0; v != NULL && v[i] != NULL; i++) {
		n = snprintf(buf + o, cap - o, "%s%s", i ? ", " : "", v[i]);
		if (n < 0 || (size_t)n >= cap - o) {
			snprintf(buf + (o < cap - 4 ? o : cap - 4), 4, "...");
			return buf;
		}
		o += (size_t)n;
	}
	return i ? buf : "none";
}

int
namepol_check_name(enum name_kind k, const char *name, const char *field,
		   const struct tenant *t, const struct ca *ca, struct violations *vs)
{
	static const struct name_policy none;
	const struct name_policy *tp = t != NULL ? &t->names : &none;
	const struct name_policy *cp = ca != NULL && ca->names.set ? &ca->names : NULL;
	const char *tid = t != NULL ? t->id : "(unknown)", *hit;
	char list[NAMEPOL_LIST_TEXT];

	if (k == NK_DNS && name[0] == '*' && (!tp->wildcards || (cp != NULL && !cp->wildcards))) {
		violations_add(vs, "name_not_allowed", field,
			       "%s %.*s: wildcard names not allowed for %s %s "
			       "(names.wildcards is false)",
			       kind_label[k], NAMEPOL_NAME_TEXT, name, tp->wildcards ? "CA" : "tenant",
			       tp->wildcards ? ca->id : tid);
		return -1;
	}
	if ((hit = list_match(list_of(&tp->deny, k), k, name, 1)) != NULL) {
		violations_add(vs, "name_not_allowed", field,
			       "%s %.*s: denied by tenant %s's deny entry %s", kind_label[k],
			       NAMEPOL_NAME_TEXT, name, tid, hit);
		return -1;
	}
	if (cp != NULL && (hit = list_match(list_of(&cp->deny, k), k, name, 1)) != NULL) {
		violations_add(vs, "name_not_allowed", field, "%s %.*s: denied by CA %s's deny entry %s",
			       kind_label[k], NAMEPOL_NAME_TEXT, name, ca->id, hit);
		return -1;
	}
	if (list_match(list_of(&tp->allow, k), k, name, 0) == NULL) {
		violations_add(vs, "name_not_allowed", field,
			       "%s %.*s: not within tenant %s's allowed names (%s)", kind_label[k],
			       NAMEPOL_NAME_TEXT, name, tid,
			       list_text(list_of(&tp->allow, k), list, sizeof(list)));
		return -1;
	}
	if (cp != NULL && list_match(list_of(&cp->allow, k), k, name, 0) == NULL) {
		violations_add(vs, "name_not_allowed", field, "%s %.*s: not within CA %s's names (%s)",
			       kind_label[k], NAMEPOL_NAME_TEXT, name, ca->id,
			       list_text(list_of(&cp->allow, k), list, sizeof(list)));
		return -1;
	}
	return 0;
}

/* The kind of the CN's value as a name; -1 when it is none (a person's name, say). */
static int
cn_kind(const char *cn, size_t len)
{
	unsigned char ip[16];

	if (strlen(cn) != len)
		return -1;
	if (inet_pton(AF_INET, cn, ip) == 1 || inet_pton(AF_INET6, cn, ip) == 1)
		return NK_IP;
	if (dns_name_like(cn, len))
		return NK_DNS;
	if (strchr(cn, '@') != NULL)
		return NK_EMAIL;
	return -1;
}

int
namepol_check(const struct csr *c, const struct tenant *t, const struct ca *ca,
	      struct violations *vs)
{
	const struct san *lists[] = {c->dns, c->ip, c->email, c->uri};
	const size_t counts[] = {c->ndns, c->nip, c->nemail, c->nuri};
	const char *cn = NULL;
	int rc = 0, ck = -1;
	size_t i, j;

	for (i = 0; i < c->nattrs; i++)
		if (c->attrs[i].kind == NA_CN && !(c->attrs[i].flags & STR_CTRL)) {
			cn = c->attrs[i].utf8;
			ck = cn_kind(cn, c->attrs[i].utf8_len);
			break;
		}
	if (ck >= 0 && namepol_check_name((enum name_kind)ck, cn, "common_name", t, ca, vs) < 0)
		rc = -1;
	for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		for (j = 0; j < counts[i]; j++) {
			const struct san *s = &lists[i][j];

			/* Invalid ones are policy's violations; the CN was checked above. */
			if (s->flags != 0 || strlen(s->text) != s->len ||
			    ((int)i == ck && ascii_casecmp_eq(s->text, s->len, cn, strlen(cn))))
				continue;
			if (namepol_check_name((enum name_kind)i, s->text, "csr_data", t, ca, vs) < 0)
				rc = -1;
		}
	return rc;
}

/* Appends a copy of s to *v (n entries so far) unless present. Returns 0 or -1. */
static int
strv_add(char ***v, size_t *n, const char *s)
{
	char **nv;
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcmp((*v)[i], s) == 0)
			return 0;
	if ((nv = realloc(*v, (*n + 2) * sizeof(*nv))) == NULL)
		return -1;
	*v = nv;
	if ((nv[*n] = strdup(s)) == NULL)
		return -1;
	nv[++*n] = NULL;
	return 0;
}

/* Every entry of a that b covers, and of b that a covers, into a new *out. */
static int
list_intersect(enum name_kind k, char *const *a, char *const *b, char ***out)
{
	size_t i, j, n = 0;

	if ((*out = calloc(1, sizeof(**out))) == NULL)
		return -1;
	for (i = 0; a != NULL && a[i] != NULL; i++)
		for (j = 0; b != NULL && b[j] != NULL; j++)
			if ((covers(k, b[j], a[i], 1) && strv_add(out, &n, a[i]) < 0) ||
			    (!covers(k, b[j], a[i], 1) && covers(k, a[i], b[j], 1) &&
			     strv_add(out, &n, b[j]) < 0))
				return -1;
	return 0;
}

/* a and b (either may be NULL) into a new *out, without repeats. */
static int
list_union(char *const *a, char *const *b, char ***out)
{
	char *const *src[] = {a, b};
	size_t i, j, n = 0;

	if ((*out = calloc(1, sizeof(**out))) == NULL)
		return -1;
	for (i = 0; i < 2; i++)
		for (j = 0; src[i] != NULL && src[i][j] != NULL; j++)
			if (strv_add(out, &n, src[i][j]) < 0)
				return -1;
	return 0;
}

/* The lists of nl as an array indexed by enum name_kind. */
#define LISTS(nl)                                                                                  \
	{                                                                                          \
		&(nl).dns, &(nl).ip, &(nl).email, &(nl).uri                                        \
	}

int
namepol_effective(const struct tenant *t, const struct ca *ca, struct name_policy *out)
{
	static const struct name_policy none;
	const struct name_policy *tp = t != NULL ? &t->names : &none;
	const struct name_policy *cp = ca != NULL && ca->names.set ? &ca->names : NULL;
	char ***allow[] = LISTS(out->allow), ***deny[] = LISTS(out->deny);
	enum name_kind k;

	memset(out, 0, sizeof(*out));
	out->set = tp->set;
	out->wildcards = tp->wildcards && (cp == NULL || cp->wildcards);
	for (k = NK_DNS; k <= NK_URI; k++) {
		char *const *ta = list_of(&tp->allow, k), *const *td = list_of(&tp->deny, k);

		if ((cp != NULL ? list_intersect(k, ta, list_of(&cp->allow, k), allow[k])
				: list_union(ta, NULL, allow[k])) < 0 ||
		    list_union(td, cp != NULL ? list_of(&cp->deny, k) : NULL, deny[k]) < 0) {
			namepol_free(out);
			return -1;
		}
	}
	return 0;
}

/* Frees a NULL-terminated list. */
static void
strv_free(char **v)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

void
namepol_free(struct name_policy *np)
{
	enum name_kind k;

	if (np == NULL)
		return;
	for (k = NK_DNS; k <= NK_URI; k++) {
		strv_free((char **)list_of(&np->allow, k));
		strv_free((char **)list_of(&np->deny, k));
	}
	memset(&np->allow, 0, sizeof(np->allow));
	memset(&np->deny, 0, sizeof(np->deny));
}

const char *
namepol_entry_rule(enum name_kind k, const char *s)
{
	const char *why, *at;
	struct cidr cr;

	if (strcmp(s, NAMEPOL_ANY) == 0)
		return NULL;
	switch (k) {
	case NK_DNS:
		/* A domain needs a dot: "com" would hand out a whole top-level domain. */
		if (dns_name_valid(s + (s[0] == NAMEPOL_EXACT), strlen(s) - (s[0] == NAMEPOL_EXACT),
				   0, &why) &&
		    (s[0] == NAMEPOL_EXACT || strchr(s, '.') != NULL))
			return NULL;
		return "must be a domain with a dot (it and the names under it), =name (that name "
		       "only) or *";
	case NK_IP:
		return roster_cidr_parse(s, &cr, &why) == 0
			   ? NULL
			   : "must be an IPv4 or IPv6 CIDR address/prefix without host bits, or *";
	case NK_EMAIL:
		at = strchr(s, '@');
		return at == NULL && dns_name_valid(s, strlen(s), 0, &why)
			   ? NULL
			   : "must be a mailbox domain (no '@') or *";
	case NK_URI:
		return uri_head_len(s) > 0 && strpbrk(s, " \t\r\n") == NULL
			   ? NULL
			   : "must be a URI prefix starting with a scheme (https://host/...) or *";
	}
	return "unknown name kind";
}
