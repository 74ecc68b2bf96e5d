/*
 * The name policy (lib/pki/namepol.h): each kind of entry, deny over allow,
 * wildcards, a CA's lists intersected with the tenant's, the CN and SANs of
 * a real CSR, and what ca-template shows.
 */
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "csrfix.h"
#include "issue_int.h"
#include "namepol.h"
#include "test.h"

static char *acme_dns[] = {"acme.test", "=host.acme.example", NULL};
static char *acme_ip[] = {"10.0.0.0/8", "2001:db8::/32", NULL};
static char *acme_email[] = {"acme.test", NULL};
static char *acme_uri[] = {"https://acme.test/api/", "spiffe://ACME.test", NULL};
static char *acme_deny_dns[] = {"secret.acme.test", NULL};
static char *acme_deny_ip[] = {"10.9.0.0/16", NULL};

/* Tenant acme: the lists above, wildcards as given. */
static struct tenant
acme(int wildcards)
{
	struct tenant t = {.id = "acme", .name = "Acme"};

	t.names.set = 1;
	t.names.allow = (struct name_lists){acme_dns, acme_ip, acme_email, acme_uri};
	t.names.deny = (struct name_lists){acme_deny_dns, acme_deny_ip, NULL, NULL};
	t.names.wildcards = wildcards;
	return t;
}

/* Checks one name; returns the message of its violation or "" when allowed. */
static const char *
check(enum name_kind k, const char *name, const struct tenant *t, const struct ca *ca)
{
	static struct violations vs;
	int rc;

	memset(&vs, 0, sizeof(vs));
	rc = namepol_check_name(k, name, "csr_data", t, ca, &vs);
	if (rc == 0) {
		CHECK_INT(vs.n, 0);
		return "";
	}
	CHECK_INT(vs.n, 1);
	CHECK_STR(vs.v[0].code, "name_not_allowed");
	CHECK_STR(vs.v[0].field, "csr_data");
	return vs.v[0].message;
}

#define ALLOWED(k, n, t, ca) CHECK_STR(check(k, n, t, ca), "")
#define REFUSED(k, n, t, ca, msg) CHECK_STR(check(k, n, t, ca), msg)

TEST(namepol_dns_exact_and_subdomains)
{
	struct tenant t = acme(0);

	ALLOWED(NK_DNS, "acme.test", &t, NULL);
	ALLOWED(NK_DNS, "www.acme.test", &t, NULL);
	ALLOWED(NK_DNS, "a.b.ACME.Test", &t, NULL);
	ALLOWED(NK_DNS, "host.acme.example", &t, NULL);
	REFUSED(NK_DNS, "www.host.acme.example", &t, NULL,
		"DNS name www.host.acme.example: not within tenant acme's allowed names "
		"(acme.test, =host.acme.example)");
	REFUSED(NK_DNS, "acme.example", &t, NULL,
		"DNS name acme.example: not within tenant acme's allowed names (acme.test, "
		"=host.acme.example)");
	/* A label boundary, not a string suffix. */
	REFUSED(NK_DNS, "evilacme.test", &t, NULL,
		"DNS name evilacme.test: not within tenant acme's allowed names (acme.test, "
		"=host.acme.example)");
	REFUSED(NK_DNS, "www.globex.example", &t, NULL,
		"DNS name www.globex.example: not within tenant acme's allowed names (acme.test, "
		"=host.acme.example)");
}

TEST(namepol_deny_wins)
{
	struct tenant t = acme(1);

	REFUSED(NK_DNS, "secret.acme.test", &t, NULL,
		"DNS name secret.acme.test: denied by tenant acme's deny entry secret.acme.test");
	REFUSED(NK_DNS, "a.Secret.acme.test", &t, NULL,
		"DNS name a.Secret.acme.test: denied by tenant acme's deny entry "
		"secret.acme.test");
	ALLOWED(NK_DNS, "notsecret.acme.test", &t, NULL);
	REFUSED(NK_IP, "10.9.1.1", &t, NULL,
		"IP address 10.9.1.1: denied by tenant acme's deny entry 10.9.0.0/16");
	ALLOWED(NK_IP, "10.10.1.1", &t, NULL);
}

TEST(namepol_wildcards)
{
	struct tenant off = acme(0), on = acme(1);

	REFUSED(NK_DNS, "*.www.acme.test", &off, NULL,
		"DNS name *.www.acme.test: wildcard names not allowed for tenant acme "
		"(names.wildcards is false)");
	ALLOWED(NK_DNS, "*.www.acme.test", &on, NULL);
	/* *.acme.test covers secret.acme.test, which is denied. */
	REFUSED(NK_DNS, "*.acme.test", &on, NULL,
		"DNS name *.acme.test: denied by tenant acme's deny entry secret.acme.test");
	/* *.secret.acme.test is under the denied domain. */
	REFUSED(NK_DNS, "*.secret.acme.test", &on, NULL,
		"DNS name *.secret.acme.test: denied by tenant acme's deny entry "
		"secret.acme.test");
	/* An exact entry cannot cover a wildcard: *.host.acme.example covers other names. */
	REFUSED(NK_DNS, "*.acme.example", &on, NULL,
		"DNS name *.acme.example: not within tenant acme's allowed names (acme.test, "
		"=host.acme.example)");
	/* A deny entry two labels below is not one of the names *.acme.test stands for. */
	{
		char *deep[] = {"x.y.acme.test", NULL};
		struct tenant t = on;

		t.names.deny.dns = deep;
		ALLOWED(NK_DNS, "*.acme.test", &t, NULL);
		deep[0] = "=y.acme.test";
		REFUSED(NK_DNS, "*.acme.test", &t, NULL,
			"DNS name *.acme.test: denied by tenant acme's deny entry =y.acme.test");
	}
}

TEST(namepol_ip_cidr_v4_v6)
{
	struct tenant t = acme(0);

	ALLOWED(NK_IP, "10.0.0.1", &t, NULL);
	ALLOWED(NK_IP, "10.255.255.255", &t, NULL);
	REFUSED(NK_IP, "11.0.0.1", &t, NULL,
		"IP address 11.0.0.1: not within tenant acme's allowed names (10.0.0.0/8, "
		"2001:db8::/32)");
	ALLOWED(NK_IP, "2001:db8::1", &t, NULL);
	ALLOWED(NK_IP, "2001:db8:ffff::1", &t, NULL);
	REFUSED(NK_IP, "2001:db9::1", &t, NULL,
		"IP address 2001:db9::1: not within tenant acme's allowed names (10.0.0.0/8, "
		"2001:db8::/32)");
	/* An IPv4-mapped address is not in an IPv4 range: families never mix. */
	REFUSED(NK_IP, "::ffff:10.0.0.1", &t, NULL,
		"IP address ::ffff:10.0.0.1: not within tenant acme's allowed names "
		"(10.0.0.0/8, 2001:db8::/32)");
}

TEST(namepol_email_domain)
{
	struct tenant t = acme(0);

	ALLOWED(NK_EMAIL, "alice@acme.test", &t, NULL);
	ALLOWED(NK_EMAIL, "alice@ACME.TEST", &t, NULL);
	/* Mailboxes at exactly that host: not at a subdomain. */
	REFUSED(NK_EMAIL, "alice@mail.acme.test", &t, NULL,
		"e-mail address alice@mail.acme.test: not within tenant acme's allowed names "
		"(acme.test)");
	REFUSED(NK_EMAIL, "acme.test@globex.test", &t, NULL,
		"e-mail address acme.test@globex.test: not within tenant acme's allowed names "
		"(acme.test)");
}

TEST(namepol_uri_prefix_case_rules)
{
	struct tenant t = acme(0);

	ALLOWED(NK_URI, "https://acme.test/api/v1", &t, NULL);
	/* Scheme and host case-insensitive... */
	ALLOWED(NK_URI, "HTTPS://ACME.Test/api/v1", &t, NULL);
	ALLOWED(NK_URI, "spiffe://acme.test/ns/web", &t, NULL);
	ALLOWED(NK_URI, "spiffe://acme.test", &t, NULL);
	/* ...the path byte for byte. */
	REFUSED(NK_URI, "https://acme.test/API/v1", &t, NULL,
		"URI https://acme.test/API/v1: not within tenant acme's allowed names "
		"(https://acme.test/api/, spiffe://ACME.test)");
	/* A prefix ending with the host is that host, not a longer one. */
	REFUSED(NK_URI, "spiffe://acme.test.evil/x", &t, NULL,
		"URI spiffe://acme.test.evil/x: not within tenant acme's allowed names "
		"(https://acme.test/api/, spiffe://ACME.test)");
	REFUSED(NK_URI, "spiffe://acme.test@evil/x", &t, NULL,
		"URI spiffe://acme.test@evil/x: not within tenant acme's allowed names "
		"(https://acme.test/api/, spiffe://ACME.test)");
}

TEST(namepol_fail_closed_and_any)
{
	struct tenant bare = {.id = "initech", .name = "Initech"}, any = bare;
	char *star[] = {"*", NULL};

	REFUSED(NK_DNS, "www.initech.test", &bare, NULL,
		"DNS name www.initech.test: not within tenant initech's allowed names (none)");
	REFUSED(NK_IP, "10.0.0.1", NULL, NULL,
		"IP address 10.0.0.1: not within tenant (unknown)'s allowed names (none)");
	any.names.set = 1;
	any.names.allow = (struct name_lists){star, star, star, star};
	ALLOWED(NK_DNS, "anything.example", &any, NULL);
	ALLOWED(NK_IP, "192.0.2.1", &any, NULL);
	ALLOWED(NK_EMAIL, "x@y.example", &any, NULL);
	ALLOWED(NK_URI, "urn:x:y", &any, NULL);
	/* "*" allows no wildcard unless wildcards is set. */
	CHECK(strstr(check(NK_DNS, "*.x.example", &any, NULL), "wildcard names not allowed") !=
	      NULL);
	any.names.deny.ip = star;
	REFUSED(NK_IP, "192.0.2.1", &any, NULL,
		"IP address 192.0.2.1: denied by tenant initech's deny entry *");
}

TEST(namepol_ca_intersects)
{
	struct tenant t = acme(1);
	struct ca ca = {.id = "demo-x"};
	char *ca_dns[] = {"www.acme.test", "acme.example", NULL}, *ca_deny[] = {"=old.www.acme.test",
										   NULL};
	struct name_policy np;

	ca.names.set = 1;
	ca.names.allow.dns = ca_dns;
	ca.names.deny.dns = ca_deny;
	ALLOWED(NK_DNS, "a.www.acme.test", &t, &ca);
	REFUSED(NK_DNS, "api.acme.test", &t, &ca,
		"DNS name api.acme.test: not within CA demo-x's names (www.acme.test, "
		"acme.example)");
	/* acme.example is the CA's, but not the tenant's (only =host.acme.example). */
	REFUSED(NK_DNS, "x.acme.example", &t, &ca,
		"DNS name x.acme.example: not within tenant acme's allowed names (acme.test, "
		"=host.acme.example)");
	REFUSED(NK_DNS, "old.www.acme.test", &t, &ca,
		"DNS name old.www.acme.test: denied by CA demo-x's deny entry =old.www.acme.test");
	REFUSED(NK_DNS, "*.www.acme.test", &t, &ca,
		"DNS name *.www.acme.test: wildcard names not allowed for CA demo-x "
		"(names.wildcards is false)");
	/* No IP list on the CA: no IP addresses from it. */
	REFUSED(NK_IP, "10.0.0.1", &t, &ca,
		"IP address 10.0.0.1: not within CA demo-x's names (none)");

	/* What ca-template shows: the intersection, the union of denies. */
	CHECK_INT(namepol_effective(&t, &ca, &np), 0);
	CHECK_STR(np.allow.dns[0], "www.acme.test");
	CHECK_STR(np.allow.dns[1], "=host.acme.example");
	CHECK(np.allow.dns[2] == NULL);
	CHECK(np.allow.ip[0] == NULL);
	CHECK_STR(np.deny.dns[0], "secret.acme.test");
	CHECK_STR(np.deny.dns[1], "=old.www.acme.test");
	CHECK(np.deny.dns[2] == NULL);
	CHECK_INT(np.wildcards, 0);
	namepol_free(&np);
	/* Without CA lists: the tenant's own. */
	CHECK_INT(namepol_effective(&t, NULL, &np), 0);
	CHECK_STR(np.allow.dns[0], "acme.test");
	CHECK_STR(np.allow.ip[1], "2001:db8::/32");
	CHECK_STR(np.allow.uri[0], "https://acme.test/api/");
	CHECK_INT(np.wildcards, 1);
	namepol_free(&np);
}

/* A signed CSR with subject CN cn and SANs san (OpenSSL syntax, may be NULL). */
static struct csr *
csr_make(const char *cn, const char *san)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509_REQ *req = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	struct violations vs = {0};
	unsigned char *der = NULL;
	struct csr *c = NULL;
	int dl;

	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	X509_REQ_set_subject_name(req, n);
	X509_REQ_set_pubkey(req, k);
	if (san != NULL) {
		sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name,
								 san));
		X509_REQ_add_extensions(req, exts);
	}
	CHECK(X509_REQ_sign(req, k, EVP_sha256()) > 0);
	dl = i2d_X509_REQ(req, &der);
	CHECK(dl > 0);
	CHECK_INT(csr_parse(der, (size_t)dl, &c, &vs), 0);
	OPENSSL_free(der);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(n);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
	return c;
}

TEST(namepol_csr_cn_and_every_san)
{
	struct tenant t = acme(0);
	struct violations vs = {0};
	struct csr *c;

	/* The CN alone is checked (field common_name). */
	c = csr_make("www.globex.example", NULL);
	CHECK_INT(namepol_check(c, &t, NULL, &vs), -1);
	CHECK_INT(vs.n, 1);
	CHECK_STR(vs.v[0].field, "common_name");
	CHECK(strstr(vs.v[0].message, "DNS name www.globex.example: not within tenant acme") !=
	      NULL);
	csr_free(c);

	/* Each refused SAN is one violation; the CN repeated as a SAN counts once. */
	memset(&vs, 0, sizeof(vs));
	c = csr_make("www.acme.test", "DNS:www.acme.test,DNS:www.globex.test,IP:10.0.0.1,"
				      "IP:192.0.2.7,email:bob@globex.test,URI:https://acme.test/api/x,"
				      "URI:https://globex.test/");
	CHECK_INT(namepol_check(c, &t, NULL, &vs), -1);
	CHECK_INT(vs.n, 4);
	CHECK(strstr(vs.v[0].message, "DNS name www.globex.test") != NULL);
	CHECK(strstr(vs.v[1].message, "IP address 192.0.2.7") != NULL);
	CHECK(strstr(vs.v[2].message, "e-mail address bob@globex.test") != NULL);
	CHECK(strstr(vs.v[3].message, "URI https://globex.test/") != NULL);
	CHECK_STR(vs.v[3].field, "csr_data");
	csr_free(c);

	/* An IP or e-mail CN is a name too; a person's name is not. */
	memset(&vs, 0, sizeof(vs));
	c = csr_make("192.0.2.1", NULL);
	CHECK_INT(namepol_check(c, &t, NULL, &vs), -1);
	CHECK(strstr(vs.v[0].message, "IP address 192.0.2.1") != NULL);
	csr_free(c);
	memset(&vs, 0, sizeof(vs));
	c = csr_make("eve@globex.test", NULL);
	CHECK_INT(namepol_check(c, &t, NULL, &vs), -1);
	CHECK(strstr(vs.v[0].message, "e-mail address eve@globex.test") != NULL);
	csr_free(c);
	memset(&vs, 0, sizeof(vs));
	c = csr_make("Alice Example", "DNS:api.acme.test");
	CHECK_INT(namepol_check(c, &t, NULL, &vs), 0);
	csr_free(c);
}

TEST(namepol_entry_rules)
{
	CHECK(namepol_entry_rule(NK_DNS, "acme.test") == NULL);
	CHECK(namepol_entry_rule(NK_DNS, "=localhost") == NULL);
	CHECK(namepol_entry_rule(NK_DNS, "*") == NULL);
	CHECK(namepol_entry_rule(NK_DNS, "com") != NULL);
	CHECK(namepol_entry_rule(NK_DNS, "*.acme.test") != NULL);
	CHECK(namepol_entry_rule(NK_IP, "10.0.0.0/8") == NULL);
	CHECK(namepol_entry_rule(NK_IP, "10.0.0.1/8") != NULL);
	CHECK(namepol_entry_rule(NK_IP, "10.0.0.1") != NULL);
	CHECK(namepol_entry_rule(NK_EMAIL, "acme.test") == NULL);
	CHECK(namepol_entry_rule(NK_EMAIL, "a@acme.test") != NULL);
	CHECK(namepol_entry_rule(NK_URI, "https://acme.test/") == NULL);
	CHECK(namepol_entry_rule(NK_URI, "acme.test") != NULL);
}
