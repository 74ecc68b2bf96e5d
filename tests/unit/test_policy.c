/* Policy: request-level violations, all collected, with exact codes. */
#include <stdlib.h>
#include <string.h>

#include "csrfix.h"
#include "issue_int.h"
#include "test.h"
#include "../testca.h"

static struct csr *
load(const char *file)
{
	struct violations vs = {0};
	struct csr *c = NULL;
	size_t len;
	unsigned char *buf = fix_csr("good", file, &len);

	if (csr_parse(buf, len, &c, &vs) != 0)
		test_fail(__FILE__, __LINE__, "%s: %s", file, fix_codes(&vs));
	free(buf);
	return c;
}

enum ca_tweak {
	T_NONE,
	T_DISABLED,
	T_ROOT,
	T_EC_ONLY,
	T_RSA_2048_4096,
	T_P256_ONLY,
	T_MAX_397,
	T_CLIENT_ONLY,
	T_SERVER_ONLY,
};

struct policy_case {
	const char *name;
	const char *csr;
	const char *cn; /* NULL: the CSR's CN */
	int days;
	unsigned ext;
	enum ca_tweak tweak;
	const char *expect[4]; /* codes that must all be present; empty: accepted */
};

static const struct policy_case cases[] = {
    {"ok", "openssl-p256.pem", NULL, 90, 0, T_NONE, {NULL}},
    {"ok case-insensitive dns cn",
     "openssl-p256.pem",
     "P256.OpenSSL.Example.COM",
     90,
     0,
     T_NONE,
     {NULL}},
    {"ok max validity", "openssl-p256.pem", NULL, 3650, 0, T_NONE, {NULL}},
    {"ok one day", "openssl-rsa2048.pem", NULL, 1, 0, T_NONE, {NULL}},
    {"ok client", "openssl-client.pem", NULL, 30, EXT_CLIENT_AUTH, T_NONE, {NULL}},
    {"ok email", "openssl-email.pem", NULL, 30, 0, T_NONE, {NULL}},
    {"cn mismatch", "openssl-p256.pem", "other.example.com", 90, 0, T_NONE, {"cn_mismatch"}},
    {"cn non-dns exact", "openssl-email.pem", "Alice@example.com", 90, 0, T_NONE, {"cn_mismatch"}},
    {"cn empty", "openssl-p256.pem", "", 90, 0, T_NONE, {"common_name_missing"}},
    {"validity 0", "openssl-p256.pem", NULL, 0, 0, T_NONE, {"validity_out_of_range"}},
    {"validity -1", "openssl-p256.pem", NULL, -1, 0, T_NONE, {"validity_out_of_range"}},
    {"validity 3651", "openssl-p256.pem", NULL, 3651, 0, T_NONE, {"validity_out_of_range"}},
    {"validity over ca max",
     "openssl-p256.pem",
     NULL,
     398,
     0,
     T_MAX_397,
     {"validity_out_of_range"}},
    {"validity at ca max", "openssl-p256.pem", NULL, 397, 0, T_MAX_397, {NULL}},
    {"disabled ca", "openssl-p256.pem", NULL, 90, 0, T_DISABLED, {"ca_disabled"}},
    {"root ca", "openssl-p256.pem", NULL, 90, 0, T_ROOT, {"ca_is_root"}},
    {"key type", "openssl-rsa2048.pem", NULL, 90, 0, T_EC_ONLY, {"key_type_not_allowed"}},
    {"ed25519 type", "openssl-ed25519.pem", NULL, 90, 0, T_EC_ONLY, {"key_type_not_allowed"}},
    {"key size", "openssl-rsa3072.pem", NULL, 90, 0, T_RSA_2048_4096, {"key_size_not_allowed"}},
    {"curve", "openssl-p384.pem", NULL, 90, 0, T_P256_ONLY, {"curve_not_allowed"}},
    {"ext not allowed",
     "openssl-p256.pem",
     NULL,
     90,
     EXT_CODE_SIGNING,
     T_NONE,
     {"extension_not_allowed"}},
    {"csr eku not allowed",
     "openssl-email.pem",
     NULL,
     90,
     0,
     T_SERVER_ONLY,
     {"extension_not_allowed"}},
    {"default not allowed",
     "openssl-nosan.pem",
     NULL,
     90,
     0,
     T_CLIENT_ONLY,
     {"extension_not_allowed"}},
    {"server cn not dns",
     "openssl-email.pem",
     NULL,
     90,
     EXT_SERVER_AUTH,
     T_NONE,
     {"cn_invalid_dns", "san_missing"}},
    {"all at once",
     "openssl-rsa2048.pem",
     "nope.example.com",
     0,
     EXT_CODE_SIGNING,
     T_DISABLED,
     {"ca_disabled", "cn_mismatch", "validity_out_of_range", "extension_not_allowed"}},
    {"root and key",
     "openssl-p384.pem",
     NULL,
     3651,
     0,
     T_ROOT,
     {"ca_is_root", "validity_out_of_range", NULL}},
};

static void
tweak(struct ca *ca, enum ca_tweak t)
{
	switch (t) {
	case T_NONE:
		break;
	case T_DISABLED:
		ca->status = CA_DISABLED;
		break;
	case T_ROOT:
		ca->type = CA_ROOT;
		break;
	case T_EC_ONLY:
		ca->allowed_key_types = KT_EC;
		break;
	case T_RSA_2048_4096:
		ca->allowed_key_sizes = RSA_2048 | RSA_4096;
		break;
	case T_P256_ONLY:
		ca->allowed_curves = CURVE_P256;
		break;
	case T_MAX_397:
		ca->max_validity_days = 397;
		break;
	case T_CLIENT_ONLY:
		ca->allowed_extensions = EXT_CLIENT_AUTH;
		break;
	case T_SERVER_ONLY:
		ca->allowed_extensions = EXT_SERVER_AUTH;
		break;
	}
}

TEST(policy_request_cases)
{
	size_t i, k;
	struct testca t;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct policy_case *pc = &cases[i];
		struct violations vs = {0};
		struct csr *c = load(pc->csr);
		struct issue_request rq = {0};
		int rc;

		CHECK_INT(testca_load(&t, fix_ca_dir(), "ec-p256"), 0);
		tweak(&t.ca, pc->tweak);
		rq.common_name = pc->cn ? pc->cn : csr_info(c)->cn;
		rq.validity_days = pc->days;
		rq.extensions = pc->ext;
		rc = policy_check(c, &rq, &t.ca, &vs, NULL);
		if (pc->expect[0] == NULL && rc != 0)
			test_fail(__FILE__, __LINE__, "%s: refused: %s", pc->name, fix_codes(&vs));
		if (pc->expect[0] != NULL && rc == 0)
			test_fail(__FILE__, __LINE__, "%s: accepted", pc->name);
		for (k = 0; k < 4 && pc->expect[k] != NULL; k++)
			if (!fix_has_code(&vs, pc->expect[k]))
				test_fail(__FILE__, __LINE__, "%s: missing %s; got %s", pc->name,
					  pc->expect[k], fix_codes(&vs));
		for (k = 0; k < vs.n; k++)
			CHECK(strlen(vs.v[k].field) > 0 && strlen(vs.v[k].message) > 10);
		csr_free(c);
		testca_free(&t);
	}
}

TEST(policy_fields_named)
{
	struct violations vs = {0};
	struct csr *c = load("openssl-p256.pem");
	struct testca t;
	struct issue_request rq = {
	    .common_name = "x.example.com", .validity_days = 0, .extensions = EXT_CODE_SIGNING};
	size_t i;

	CHECK_INT(testca_load(&t, fix_ca_dir(), "ec-p256"), 0);
	t.ca.status = CA_DISABLED;
	CHECK(policy_check(c, &rq, &t.ca, &vs, NULL) != 0);
	for (i = 0; i < vs.n; i++) {
		if (strcmp(vs.v[i].code, "cn_mismatch") == 0)
			CHECK_STR(vs.v[i].field, "common_name");
		if (strcmp(vs.v[i].code, "validity_out_of_range") == 0)
			CHECK_STR(vs.v[i].field, "validity_days");
		if (strcmp(vs.v[i].code, "extension_not_allowed") == 0)
			CHECK_STR(vs.v[i].field, "extensions");
		if (strcmp(vs.v[i].code, "ca_disabled") == 0)
			CHECK_STR(vs.v[i].field, "ca_id");
	}
	CHECK(strstr(fix_codes(&vs), "x.example.com") !=
	      NULL); /* what was seen is in the message */
	csr_free(c);
	testca_free(&t);
}

TEST(policy_dns_names)
{
	static const struct {
		const char *name;
		int ok;
	} t[] = {
	    {"example.com", 1},
	    {"a.b.c.example.com", 1},
	    {"*.example.com", 1},
	    {"xn--bcher-kva.example", 1},
	    {"a-b.example.com", 1},
	    {"*.com", 0},
	    {"foo.*.example.com", 0},
	    {"f*o.example.com", 0},
	    {"**.example.com", 0},
	    {"-bad-.example.com", 0},
	    {"bad-.example.com", 0},
	    {"exa mple.com", 0},
	    {"example..com", 0},
	    {"example.com.", 0},
	    {".example.com", 0},
	    {"under_score.example.com", 0},
	    {"1.2.3.4", 0},
	    {"", 0},
	    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", 0}, /* 64 */
	    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", 1},  /* 63 */
	};
	size_t i;
	const char *why;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (dns_name_valid(t[i].name, strlen(t[i].name), 1, &why) != t[i].ok)
			test_fail(__FILE__, __LINE__, "dns_name_valid(%s) != %d", t[i].name,
				  t[i].ok);
	CHECK(!dns_name_valid("*.example.com", 13, 0, &why));
	/* 254 characters: over the limit */
	char longname[300];
	memset(longname, 'a', sizeof(longname));
	for (i = 50; i < 254; i += 50)
		longname[i] = '.';
	CHECK(!dns_name_valid(longname, 254, 1, &why));
	CHECK(dns_name_valid(longname, 253, 1, &why));
	CHECK(ascii_casecmp_eq("Example.COM", 11, "example.com", 11));
	CHECK(!ascii_casecmp_eq("example.con", 11, "example.com", 11));
}

TEST(policy_violations_overflow_counted)
{
	struct violations *vs = calloc(1, sizeof(*vs));
	int i;

	for (i = 0; i < VIOLATION_MAX + 5; i++)
		violations_add(vs, "x", "f", "m %d", i);
	CHECK_INT(vs->n, VIOLATION_MAX);
	CHECK_INT(vs->dropped, 5);
	/* A full list still makes policy_check fail on a new violation. */
	struct csr *c = load("openssl-p256.pem");
	struct testca t;
	struct issue_request rq = {
	    .common_name = "other.example.com", .validity_days = 90, .extensions = 0};
	CHECK_INT(testca_load(&t, fix_ca_dir(), "ec-p256"), 0);
	CHECK(policy_check(c, &rq, &t.ca, vs, NULL) != 0);
	csr_free(c);
	testca_free(&t);
	free(vs);
}
