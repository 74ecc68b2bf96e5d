/* CA selection: table of (tenant, purpose, email, client IP) → chosen CA or refusal. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "select.h"
#include "test.h"

static char *acme[] = {"acme", NULL}, *globex[] = {"globex", NULL}, *tls[] = {"tls", NULL},
	    *code[] = {"code", NULL}, *acme_mail[] = {"*@acme.example", NULL},
	    *acme_mail_uc[] = {"*@ACME.EXAMPLE", NULL}, *none[] = {NULL}, *all[] = {"*", NULL};

static struct cidr
cidr(const char *a, int prefix)
{
	struct cidr c = {0};

	c.prefix = prefix;
	if (inet_pton(AF_INET, a, c.addr) == 1)
		c.family = AF_INET;
	else if (inet_pton(AF_INET6, a, c.addr) == 1)
		c.family = AF_INET6;
	return c;
}

static struct cidr net10[1], net_v6[1];

static struct ca
mkca(const char *id, enum ca_type type, enum ca_status st, char **tenants, char **purposes,
     char **emails, struct cidr *cidrs, size_t ncidrs, int priority, char **access)
{
	struct ca c = {0};

	c.id = (char *)id;
	c.name = (char *)id;
	c.type = type;
	c.status = st;
	c.api_issuance = type == CA_INTERMEDIATE;
	c.selection.tenants = tenants;
	c.selection.purposes = purposes;
	c.selection.email_patterns = emails;
	c.selection.cidrs = cidrs;
	c.selection.ncidrs = ncidrs;
	c.selection.priority = priority;
	c.tenants = access;
	c.users = none;
	return c;
}

static struct ca cas[10];
static struct user users[4];
static struct roster ro; /* selection needs only the CAs and users */

static void
setup(void)
{
	size_t n = 0;

	net10[0] = cidr("10.0.0.0", 8);
	net_v6[0] = cidr("fd00::", 8);
	cas[n++] =
	    mkca("a-acme-tls", CA_INTERMEDIATE, CA_ACTIVE, acme, tls, acme_mail, net10, 1, 0, acme);
	cas[n++] =
	    mkca("b-acme-any", CA_INTERMEDIATE, CA_ACTIVE, acme, none, none, NULL, 0, 5, acme);
	cas[n++] =
	    mkca("b0-acme-any", CA_INTERMEDIATE, CA_ACTIVE, acme, none, none, NULL, 0, 5, acme);
	cas[n++] = mkca("c-acme-email", CA_INTERMEDIATE, CA_ACTIVE, acme, none, acme_mail_uc, NULL,
			0, 0, acme);
	cas[n++] =
	    mkca("d-globex", CA_INTERMEDIATE, CA_ACTIVE, globex, none, none, NULL, 0, 0, globex);
	cas[n++] = mkca("e-disabled", CA_INTERMEDIATE, CA_DISABLED, acme, tls, acme_mail, net10, 1,
			99, acme);
	cas[n++] = mkca("f-root", CA_ROOT, CA_ACTIVE, acme, none, none, NULL, 0, 99, acme);
	cas[n++] =
	    mkca("g-acme-code", CA_INTERMEDIATE, CA_ACTIVE, acme, code, none, NULL, 0, 3, acme);
	cas[n++] =
	    mkca("h-acme-v6", CA_INTERMEDIATE, CA_ACTIVE, acme, none, none, net_v6, 1, 0, acme);
	ro.cas = cas;
	ro.ncas = n;
	users[0] = (struct user){.name = "alice",
				 .email = "alice@acme.example",
				 .role = ROLE_REQUESTER,
				 .tenant = "acme",
				 .cas = none};
	users[1] = (struct user){.name = "bob",
				 .email = "bob@globex.example",
				 .role = ROLE_REQUESTER,
				 .tenant = "globex",
				 .cas = none};
	users[2] = (struct user){.name = "admin",
				 .email = "admin@example.org",
				 .role = ROLE_ADMIN,
				 .tenant = "acme",
				 .cas = none,
				 .admin_tenants = all,
				 .admin_cas = all};
	users[3] = (struct user){.name = "ivan",
				 .email = "ivan@initech.example",
				 .role = ROLE_REQUESTER,
				 .tenant = "initech",
				 .cas = none};
	ro.users = users;
	ro.nusers = 4;
}

TEST(select_table)
{
	static const struct {
		int user;
		const char *tenant, *purpose, *email, *ip;
		const char *want;  /* CA id, or NULL for a refusal */
		const char *words; /* substring of the reason or of the refusal */
	} t[] = {
	    /* Every criterion matches: the most specific CA. */
	    {0, "acme", "tls", "alice@acme.example", "10.1.2.3", "a-acme-tls",
	     "client 10.1.2.3 in 10.0.0.0/8"},
	    /* No purpose given: a-acme-tls still matches, its purpose rule not counted. */
	    {0, "acme", NULL, "alice@acme.example", "10.1.2.3", "a-acme-tls", "3 criteria"},
	    /* Address outside a-acme-tls's range: tenant + email (case-insensitive) wins. */
	    {0, "acme", "tls", "alice@acme.example", "192.168.1.1", "c-acme-email",
	     "matches *@ACME.EXAMPLE"},
	    {0, "acme", NULL, "ALICE@Acme.Example", "192.168.1.1", "c-acme-email", "2 criteria"},
	    /* A purpose other than a CA's excludes it. */
	    {0, "acme", "smime", "x@else.example", "10.1.2.3", "b-acme-any", "1 criteria"},
	    /* Equal specificity (2): priority 3 beats 0. */
	    {0, "acme", "code", "alice@acme.example", "192.168.1.1", "g-acme-code", "priority 3"},
	    /* IPv6 range match. */
	    {0, "acme", NULL, "other@else.example", "fd12::1", "h-acme-v6", "in fd00::/8"},
	    /*
	     * No purpose: g-acme-code is not excluded but its purpose does not
	     * count; among 1-criterion matches priority 5 wins, then the smaller id.
	     */
	    {0, "acme", NULL, "other@else.example", "192.168.1.1", "b-acme-any", "priority 5"},
	    /* Another tenant's user sees only its CAs. */
	    {1, "globex", NULL, "bob@globex.example", "10.1.2.3", "d-globex", "tenant globex"},
	    /* Admin choosing a tenant. */
	    {2, "globex", NULL, "admin@example.org", "10.1.2.3", "d-globex", "tenant globex"},
	    /* Requester of acme asking for globex matches nothing of its own. */
	    {0, "globex", NULL, "alice@acme.example", "10.1.2.3", NULL,
	     "b-acme-any (tenant globex not selected)"},
	    {0, "globex", "tls", "alice@acme.example", "10.1.2.3", NULL,
	     "no CA matches tenant globex, purpose tls, email alice@acme.example, client 10.1.2.3"},
	    /* No CA open to this user at all. */
	    {3, "initech", NULL, "ivan@initech.example", "10.1.2.3", NULL,
	     "no active intermediate CA is open to user ivan"},
	};
	size_t i;

	setup();
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct select_query q = {t[i].tenant, t[i].purpose, t[i].email, t[i].ip};
		struct select_result r;
		char tried[SELECT_TRIED_MAX];
		int rc = select_ca(&ro, &users[t[i].user], &q, &r, tried);

		if (t[i].want != NULL) {
			if (rc != 0)
				test_fail(__FILE__, __LINE__, "case %zu: refused: %s", i, tried);
			if (strcmp(r.ca->id, t[i].want) != 0 ||
			    strstr(r.reason, t[i].words) == NULL)
				test_fail(__FILE__, __LINE__,
					  "case %zu: got %s (%s), want %s with \"%s\"", i, r.ca->id,
					  r.reason, t[i].want, t[i].words);
		} else if (rc == 0 || strstr(tried, t[i].words) == NULL) {
			test_fail(__FILE__, __LINE__, "case %zu: rc %d, tried \"%s\", want \"%s\"",
				  i, rc, tried, t[i].words);
		}
	}
}

TEST(select_never_roots_or_disabled)
{
	struct select_query q = {"acme", "tls", "alice@acme.example", "10.9.9.9"};
	struct select_result r;
	char tried[SELECT_TRIED_MAX];

	setup();
	/* e-disabled (99) and f-root (99) outrank everything but must never be chosen. */
	CHECK_INT(select_ca(&ro, &users[2], &q, &r, tried), 0);
	CHECK_STR(r.ca->id, "a-acme-tls");
	CHECK(strstr(tried, "e-disabled") == NULL);
	CHECK(strstr(tried, "f-root") == NULL);
}

TEST(select_cidr_match_edges)
{
	struct cidr c24 = cidr("192.168.1.0", 24), c0 = cidr("0.0.0.0", 0),
		    c31 = cidr("10.0.0.2", 31), c6 = cidr("2001:db8::", 32);

	CHECK(select_cidr_match(&c24, "192.168.1.255"));
	CHECK(!select_cidr_match(&c24, "192.168.2.0"));
	CHECK(select_cidr_match(&c0, "8.8.8.8"));
	CHECK(select_cidr_match(&c31, "10.0.0.3"));
	CHECK(!select_cidr_match(&c31, "10.0.0.4"));
	CHECK(select_cidr_match(&c6, "2001:db8:ffff::1"));
	CHECK(!select_cidr_match(&c6, "2001:db9::1"));
	CHECK(!select_cidr_match(&c6, "192.168.1.1"));
	CHECK(!select_cidr_match(&c24, "not-an-ip"));
	CHECK(!select_cidr_match(&c24, NULL));
}
