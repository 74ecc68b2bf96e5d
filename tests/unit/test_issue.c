/* Profile, lint and signing: every good fixture issued by CAs of each key type,
 * verified with OpenSSL; lint rejections; serial hook; validity clamps. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "csrfix.h"
#include "der.h"
#include "issue_int.h"
#include "test.h"
#include "../testca.h"

#define DAY 86400
#define SLACK 120
#define FIXTURE_DAYS 90 /* under the CA/B Forum maximum for TLS server certificates */

static const char *const ca_tags[] = {"ec-p256", "ec-p384", "ec-p521",
				      "rsa2048", "rsa4096", "ed25519"};

static struct csr *
parse_file(const char *sub, const char *file)
{
	struct violations vs = {0};
	struct csr *c = NULL;
	size_t len;
	unsigned char *buf = fix_csr(sub, file, &len);

	if (csr_parse(buf, len, &c, &vs) != 0)
		test_fail(__FILE__, __LINE__, "%s: %s", file, fix_codes(&vs));
	free(buf);
	return c;
}

/* openssl verify equivalent: leaf against root, with the CA cert as untrusted chain. */
static void
verify_chain(const char *what, X509 *leaf, const struct testca *t)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	int ok;

	X509_STORE_add_cert(st, t->root);
	sk_X509_push(untrusted, t->ca.cert);
	X509_STORE_CTX_init(ctx, st, leaf, untrusted);
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
	ok = X509_verify_cert(ctx);
	if (ok != 1)
		test_fail(__FILE__, __LINE__, "%s: verify: %s", what,
			  X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	sk_X509_free(untrusted);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
}

static int
has_dns_san(X509 *x, const char *name)
{
	GENERAL_NAMES *gns = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int i, found = 0;

	for (i = 0; gns && i < sk_GENERAL_NAME_num(gns); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gns, i);
		if (g->type == GEN_DNS && (size_t)g->d.ia5->length == strlen(name) &&
		    strncasecmp((char *)g->d.ia5->data, name, strlen(name)) == 0)
			found = 1;
	}
	GENERAL_NAMES_free(gns);
	return found;
}

static unsigned
cert_eku(X509 *x)
{
	uint32_t x509_eku;

	X509_check_purpose(x, -1, 0);
	x509_eku = X509_get_extended_key_usage(x);
	return ((x509_eku & XKU_SSL_SERVER) ? EXT_SERVER_AUTH : 0) |
	       ((x509_eku & XKU_SSL_CLIENT) ? EXT_CLIENT_AUTH : 0) |
	       ((x509_eku & XKU_SMIME) ? EXT_EMAIL_PROTECTION : 0) |
	       ((x509_eku & XKU_CODE_SIGN) ? EXT_CODE_SIGNING : 0);
}

/* Checks the issued certificate against the profile. */
static void
check_cert(const char *what, const struct issued *is, const struct csr *c, const struct testca *t,
	   int days, unsigned want_eku, X509 **out)
{
	const unsigned char *p = is->der;
	X509 *x = d2i_X509(NULL, &p, (long)is->der_len);
	const ASN1_INTEGER *sn;
	const struct csr_info *ci = csr_info(c);
	time_t now = time(NULL), ca_nb, ca_na;
	struct tm tm;
	EVP_PKEY *cpk;
	int crit = -1, i;
	ASN1_BIT_STRING *ku;
	BASIC_CONSTRAINTS *bc;

	if (x == NULL || p != is->der + is->der_len)
		test_fail(__FILE__, __LINE__, "%s: issued DER does not parse", what);
	CHECK_INT(X509_get_version(x), 2);
	sn = X509_get0_serialNumber(x);
	CHECK_INT(sn->length, SERIAL_LEN);
	CHECK(sn->type == V_ASN1_INTEGER); /* positive */
	CHECK_INT(strlen(is->serial_hex), 2 * SERIAL_LEN);
	CHECK_INT(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(t->ca.cert)), 0);
	/* subject: the CSR's bytes */
	{
		unsigned char *sd = NULL;
		int sl = i2d_X509_NAME(X509_get_subject_name(x), &sd);
		CHECK(sl > 0 && (size_t)sl == c->subject_len &&
		      memcmp(sd, c->subject, (size_t)sl) == 0);
		OPENSSL_free(sd);
	}
	/* public key: the CSR's SubjectPublicKeyInfo */
	{
		unsigned char *kd = NULL;
		int kl = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &kd);
		CHECK(kl > 0 && (size_t)kl == c->spki_len && memcmp(kd, c->spki, (size_t)kl) == 0);
		OPENSSL_free(kd);
	}
	bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
	CHECK(bc != NULL && !bc->ca && crit == 1);
	BASIC_CONSTRAINTS_free(bc);
	ku = X509_get_ext_d2i(x, NID_key_usage, &crit, NULL);
	CHECK(ku != NULL && crit == 1);
	CHECK(ASN1_BIT_STRING_get_bit(ku, 0));                             /* digitalSignature */
	CHECK_INT(ASN1_BIT_STRING_get_bit(ku, 2), ci->key_type == KT_RSA); /* keyEncipherment */
	CHECK(!ASN1_BIT_STRING_get_bit(ku, 5));                            /* keyCertSign */
	ASN1_BIT_STRING_free(ku);
	CHECK_INT(cert_eku(x), want_eku);
	if (ci->cn != NULL && dns_name_like(ci->cn, strlen(ci->cn)))
		CHECK(has_dns_san(x, ci->cn));
	for (i = 0; ci->dns_sans[i] != NULL; i++)
		CHECK(has_dns_san(x, ci->dns_sans[i]));
	CHECK(X509_get0_subject_key_id(x) != NULL);
	CHECK(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(x),
				    X509_get0_subject_key_id(t->ca.cert)) == 0);
	/* validity: backdated at most 1 h, never before the issuer, notAfter = now + days */
	ASN1_TIME_to_tm(X509_get0_notBefore(t->ca.cert), &tm);
	ca_nb = timegm(&tm);
	ASN1_TIME_to_tm(X509_get0_notAfter(t->ca.cert), &tm);
	ca_na = timegm(&tm);
	CHECK(is->not_before >= now - ISSUE_BACKDATE_S - SLACK && is->not_before <= now);
	CHECK(is->not_before >= ca_nb);
	CHECK(is->not_after <= ca_na);
	if (now + (time_t)days * DAY < ca_na)
		CHECK_INT(is->not_after, is->not_before + (time_t)days * DAY - 1);
	CHECK(is->not_after - is->not_before + 1 <= (time_t)days * DAY);
	/* signature by the CA */
	cpk = X509_get0_pubkey(t->ca.cert);
	CHECK_INT(X509_verify(x, cpk), 1);
	verify_chain(what, x, t);
	CHECK(strstr(is->cert_pem, "-----BEGIN CERTIFICATE-----\n") == is->cert_pem);
	CHECK(strstr(is->chain_pem, "-----BEGIN CERTIFICATE-----") == is->chain_pem);
	if (out != NULL)
		*out = x;
	else
		X509_free(x);
}

static unsigned
manifest_eku(cJSON *g)
{
	cJSON *a;
	unsigned eku = 0;

	cJSON_ArrayForEach(a, cJSON_GetObjectItem(g, "eku")) eku |= ext_from_name(a->valuestring);
	return eku ? eku : EXT_SERVER_AUTH;
}

TEST(issue_good_fixtures_every_ca)
{
	cJSON *good = cJSON_GetObjectItem(fix_manifest(), "good"), *g;
	size_t k, n = 0;
	char what[256];

	for (k = 0; k < sizeof(ca_tags) / sizeof(ca_tags[0]); k++) {
		struct testca t;
		struct signer *s;

		CHECK_INT(testca_load(&t, fix_ca_dir(), ca_tags[k]), 0);
		CHECK((s = signer_new(&t.ca)) != NULL);
		cJSON_ArrayForEach(g, good)
		{
			struct violations vs = {0};
			struct csr *c = parse_file("good", g->string);
			const char *orgs[2] = {csr_info(c)->o,
					       NULL}; /* the CSR's O is the tenant's */
			struct issue_request rq = {.common_name = csr_info(c)->cn,
						   .validity_days = 397,
						   .organizations = orgs};
			struct issued *is = NULL;

			snprintf(what, sizeof(what), "%s by %s", g->string, ca_tags[k]);
			if (signer_issue(s, c, &rq, NULL, NULL, &is, &vs) != 0)
				test_fail(__FILE__, __LINE__, "%s: %s", what, fix_codes(&vs));
			check_cert(what, is, c, &t, 397, manifest_eku(g), NULL);
			issued_free(is);
			csr_free(c);
			n++;
		}
		signer_free(s);
		testca_free(&t);
	}
	CHECK(n >= 6 * 20);
}

/* Which signature algorithm each CA key gets. */
TEST(issue_digest_by_ca_key)
{
	static const struct {
		const char *tag;
		int nid;
	} want[] = {
	    {"ec-p256", NID_ecdsa_with_SHA256},       {"ec-p384", NID_ecdsa_with_SHA384},
	    {"ec-p521", NID_ecdsa_with_SHA512},       {"rsa2048", NID_sha256WithRSAEncryption},
	    {"rsa4096", NID_sha384WithRSAEncryption}, {"ed25519", NID_ED25519},
	};
	size_t k;

	for (k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
		struct testca t;
		struct signer *s;
		struct violations vs = {0};
		struct csr *c = parse_file("good", "openssl-p256.pem");
		const char *orgs[2] = {csr_info(c)->o, NULL}; /* the CSR's O is the tenant's */
		struct issue_request rq = {
		    .common_name = csr_info(c)->cn, .validity_days = 30, .organizations = orgs};
		struct issued *is = NULL;
		X509 *x;
		const unsigned char *p;

		CHECK_INT(testca_load(&t, fix_ca_dir(), want[k].tag), 0);
		CHECK((s = signer_new(&t.ca)) != NULL);
		CHECK_INT(signer_issue(s, c, &rq, NULL, NULL, &is, &vs), 0);
		p = is->der;
		x = d2i_X509(NULL, &p, (long)is->der_len);
		CHECK_INT(X509_get_signature_nid(x), want[k].nid);
		X509_free(x);
		issued_free(is);
		csr_free(c);
		signer_free(s);
		testca_free(&t);
	}
}

static int
write_file(const char *dir, const char *name, const char *suffix, const char *data)
{
	char path[1024];
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "%s/%s%s", dir, name, suffix);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	rc = fputs(data, f) < 0 ? -1 : 0;
	return fclose(f) == 0 ? rc : -1;
}

static char *
x509_pem(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	PEM_write_bio_X509(b, x);
	n = BIO_get_mem_data(b, &data);
	out = strndup(data, (size_t)n);
	BIO_free(b);
	return out;
}

/*
 * Issues every good fixture with a CA of a matching key type (RSA CSRs by the
 * RSA-2048 CA, EC by the CA of the same curve, Ed25519 by the P-256 CA) and
 * checks each; when PKI_TEST_CERT_OUT names a directory, writes <file>.crt,
 * <file>.chain.pem, <file>.root.pem and <file>.json for the external checks
 * (openssl verify, certtool, pkilint).
 */
TEST(issue_fixtures_write)
{
	cJSON *good = cJSON_GetObjectItem(fix_manifest(), "good"), *g;
	const char *dir = getenv("PKI_TEST_CERT_OUT");
	size_t n = 0;

	if (dir != NULL)
		mkdir(dir, 0755);
	cJSON_ArrayForEach(g, good)
	{
		struct violations vs = {0};
		struct csr *c = parse_file("good", g->string);
		const struct csr_info *ci = csr_info(c);
		const char *tag = ci->key_type == KT_RSA    ? "rsa2048"
				  : ci->curve == CURVE_P384 ? "ec-p384"
				  : ci->curve == CURVE_P521 ? "ec-p521"
							    : "ec-p256";
		const char *orgs[2] = {ci->o, NULL}; /* the CSR's O is the tenant's */
		struct issue_request rq = {
		    .common_name = ci->cn, .validity_days = FIXTURE_DAYS, .organizations = orgs};
		struct issued *is = NULL;
		struct testca t;
		struct signer *s;
		unsigned eku = manifest_eku(g);
		char json[64], *root;

		CHECK_INT(testca_load(&t, fix_ca_dir(), tag), 0);
		t.ca.profile = PROFILE_CABF_TLS; /* the fixtures have OV subjects: linted as CA/B */
		CHECK((s = signer_new(&t.ca)) != NULL);
		CHECK_INT(signer_set_urls(s, "http://pki.example.com/ca/issuing.crt",
					  "http://pki.example.com/crl/issuing.crl"),
			  0);
		if (signer_issue(s, c, &rq, NULL, NULL, &is, &vs) != 0)
			test_fail(__FILE__, __LINE__, "%s: %s", g->string, fix_codes(&vs));
		X509 *x = NULL;
		check_cert(g->string, is, c, &t, FIXTURE_DAYS, eku, &x);
		/* signer_set_urls: caIssuers and CRL distribution point present, not critical */
		CHECK(X509_get_ext_by_NID(x, NID_info_access, -1) >= 0);
		CHECK(X509_get_ext_by_NID(x, NID_crl_distribution_points, -1) >= 0);
		CHECK_INT(X509_EXTENSION_get_critical(
			      X509_get_ext(x, X509_get_ext_by_NID(x, NID_info_access, -1))),
			  0);
		CHECK_INT(X509_get_ext_by_NID(x, NID_certificate_policies, -1) >= 0,
			  (eku & EXT_SERVER_AUTH) != 0);
		X509_free(x);
		if (dir != NULL) {
			snprintf(json, sizeof(json), "{\"server_auth\": %s}\n",
				 (eku & EXT_SERVER_AUTH) ? "true" : "false");
			root = x509_pem(t.root);
			CHECK_INT(write_file(dir, g->string, ".crt", is->cert_pem), 0);
			CHECK_INT(write_file(dir, g->string, ".chain.pem", is->chain_pem), 0);
			CHECK_INT(write_file(dir, g->string, ".root.pem", root), 0);
			CHECK_INT(write_file(dir, g->string, ".json", json), 0);
			free(root);
		}
		issued_free(is);
		signer_free(s);
		testca_free(&t);
		csr_free(c);
		n++;
	}
	CHECK(n >= 20);
}

TEST(issue_refuses_without_signing)
{
	static const struct {
		const char *file, *code;
	} bad[] = {
	    {"ca-true.pem", "csr_requests_ca"},
	    {"ca-true-critical.pem", "csr_requests_ca"},
	    {"unknown-critical.pem", "csr_unknown_critical_extension"},
	    {"eku-codesigning.pem", "extension_not_allowed"},
	    {"san-wildcard-middle.pem", "san_invalid_wildcard"},
	};
	struct testca t;
	struct signer *s;
	size_t k;
	int calls = 0;

	CHECK_INT(testca_load(&t, fix_ca_dir(), "ec-p256"), 0);
	CHECK((s = signer_new(&t.ca)) != NULL);
	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct violations vs = {0};
		struct csr *c = parse_file("bad", bad[k].file);
		const char *orgs[2] = {csr_info(c)->o, NULL}; /* the CSR's O is the tenant's */
		struct issue_request rq = {
		    .common_name = csr_info(c)->cn, .validity_days = 30, .organizations = orgs};
		struct issued *is = (struct issued *)&calls; /* must stay untouched */

		CHECK(signer_issue(s, c, &rq, NULL, NULL, &is, &vs) != 0);
		CHECK(is == (struct issued *)&calls);
		if (!fix_has_code(&vs, bad[k].code))
			test_fail(__FILE__, __LINE__, "%s: expected %s, got %s", bad[k].file,
				  bad[k].code, fix_codes(&vs));
		csr_free(c);
	}
	/* A disabled CA and a root CA sign nothing either. */
	{
		struct violations vs = {0};
		struct csr *c = parse_file("good", "openssl-p256.pem");
		const char *orgs[2] = {csr_info(c)->o, NULL}; /* the CSR's O is the tenant's */
		struct issue_request rq = {
		    .common_name = csr_info(c)->cn, .validity_days = 30, .organizations = orgs};
		struct issued *is = NULL;
		t.ca.status = CA_DISABLED;
		t.ca.type = CA_ROOT;
		CHECK(signer_issue(s, c, &rq, NULL, NULL, &is, &vs) != 0);
		CHECK(is == NULL && fix_has_code(&vs, "ca_disabled") &&
		      fix_has_code(&vs, "ca_is_root"));
		csr_free(c);
	}
	signer_free(s);
	testca_free(&t);
}

struct reserve_state {
	int calls, taken, fail;
	char seen[4][2 * SERIAL_LEN + 1];
};

static int
reserve(void *arg, const char *hex)
{
	struct reserve_state *r = arg;

	if (r->calls < 4)
		snprintf(r->seen[r->calls], sizeof(r->seen[0]), "%s", hex);
	r->calls++;
	if (r->fail)
		return -1;
	return r->calls <= r->taken ? 1 : 0;
}

TEST(issue_serial_reserve_hook)
{
	struct testca t;
	struct signer *s;
	struct csr *c = parse_file("good", "openssl-p256.pem");
	const char *orgs[2] = {csr_info(c)->o, NULL}; /* the CSR's O is the tenant's */
	struct issue_request rq = {
	    .common_name = csr_info(c)->cn, .validity_days = 30, .organizations = orgs};
	struct reserve_state r = {0};
	struct violations vs = {0};
	struct issued *is = NULL;

	CHECK_INT(testca_load(&t, fix_ca_dir(), "ec-p256"), 0);
	CHECK((s = signer_new(&t.ca)) != NULL);
	r.taken = 2;
	CHECK_INT(signer_issue(s, c, &rq, reserve, &r, &is, &vs), 0);
	CHECK_INT(r.calls, 3);
	CHECK(strcmp(r.seen[0], r.seen[1]) != 0 && strcmp(r.seen[1], r.seen[2]) != 0);
	CHECK_STR(is->serial_hex, r.seen[2]);
	CHECK(is->serial_hex[0] >= '4' &&
	      is->serial_hex[0] <= '7'); /* 01xxxxxx: positive, 20 octets */
	issued_free(is);
	is = NULL;
	memset(&r, 0, sizeof(r));
	r.fail = 1;
	CHECK(signer_issue(s, c, &rq, reserve, &r, &is, &vs) != 0);
	CHECK(is == NULL && fix_has_code(&vs, "internal_error"));
	memset(&r, 0, sizeof(r));
	r.taken = 1000;
	vs.n = 0;
	CHECK(signer_issue(s, c, &rq, reserve, &r, &is, &vs) != 0);
	CHECK(is == NULL);
	signer_free(s);
	testca_free(&t);
	csr_free(c);
}

/* A CA certificate made here with the given validity window around now. */
static void
short_ca(struct testca *t, long nb_offset, long na_offset)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	memset(t, 0, sizeof(*t));
	t->ca.key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1234567);
	X509_NAME_add_entry_by_txt(n, "C", MBSTRING_ASC, (const unsigned char *)"US", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"Short", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"Short CA", -1, -1,
				   0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_gmtime_adj(X509_getm_notBefore(x), nb_offset);
	X509_gmtime_adj(X509_getm_notAfter(x), na_offset);
	X509_set_pubkey(x, t->ca.key);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage, "critical,keyCertSign,cRLSign");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_key_identifier, "hash");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	X509_sign(x, t->ca.key, EVP_sha256());
	X509_NAME_free(n);
	t->ca.cert = x;
	X509_up_ref(x);
	t->root = x; /* self-signed: its own root */
	t->ca.chain = sk_X509_new_null();
	t->ca.id = "short";
	t->ca.type = CA_INTERMEDIATE;
	t->ca.status = CA_ACTIVE;
	t->ca.max_validity_days = CONFIG_MAX_VALIDITY_DAYS;
	t->ca.allowed_key_types = KT_RSA | KT_EC | KT_ED25519;
	t->ca.allowed_key_sizes = RSA_2048 | RSA_3072 | RSA_4096;
	t->ca.allowed_curves = CURVE_P256 | CURVE_P384 | CURVE_P521;
	t->ca.allowed_extensions = EXT_SERVER_AUTH | EXT_CLIENT_AUTH;
}

TEST(issue_validity_clamped_to_issuer)
{
	struct testca t;
	struct signer *s;
	struct csr *c = parse_file("good", "openssl-p256.pem");
	const char *orgs[2] = {csr_info(c)->o, NULL}; /* the CSR's O is the tenant's */
	struct issue_request rq = {
	    .common_name = csr_info(c)->cn, .validity_days = 90, .organizations = orgs};
	struct violations vs = {0};
	struct issued *is = NULL;
	time_t now = time(NULL);

	short_ca(&t, -60, 10 * DAY);
	CHECK((s = signer_new(&t.ca)) != NULL);
	CHECK_INT(signer_issue(s, c, &rq, NULL, NULL, &is, &vs), 0);
	CHECK(is->not_before >= now - 60 - 2 &&
	      is->not_before <= now - 60 + 2); /* issuer's notBefore */
	CHECK(is->not_after >= now + 10 * DAY - 2 && is->not_after <= now + 10 * DAY + 2);
	check_cert("short ca", is, c, &t, 90, EXT_SERVER_AUTH, NULL);
	issued_free(is);
	signer_free(s);
	testca_free(&t);
	/* An expired CA issues nothing. */
	short_ca(&t, -10 * DAY, -DAY);
	CHECK((s = signer_new(&t.ca)) != NULL);
	is = NULL;
	CHECK(signer_issue(s, c, &rq, NULL, NULL, &is, &vs) != 0);
	CHECK(is == NULL && fix_has_code(&vs, "ca_expired"));
	signer_free(s);
	testca_free(&t);
	csr_free(c);
}

TEST(issue_time_encoding)
{
	unsigned char b[24];
	struct der d;
	struct der_tlv t;
	time_t v;
	struct tm tm = {0};
	size_t n;

	tm.tm_year = 2049 - 1900, tm.tm_mon = 11, tm.tm_mday = 31, tm.tm_hour = 23, tm.tm_min = 59,
	tm.tm_sec = 59;
	n = der_time_encode(timegm(&tm), b);
	CHECK_INT(b[0], DER_UTCTIME);
	CHECK(n == 15 && memcmp(b + 2, "491231235959Z", 13) == 0);
	d.p = b, d.len = n;
	CHECK_INT(der_next(&d, &t), 0);
	CHECK_INT(der_time_parse(&t, &v), 0);
	CHECK_INT(v, timegm(&tm));
	n = der_time_encode(timegm(&tm) + 1, b);
	CHECK_INT(b[0], DER_GENERALIZEDTIME);
	CHECK(n == 17 && memcmp(b + 2, "20500101000000Z", 15) == 0);
	d.p = b, d.len = n;
	CHECK_INT(der_next(&d, &t), 0);
	CHECK_INT(der_time_parse(&t, &v), 0);
	CHECK_INT(v, timegm(&tm) + 1);
	/* GeneralizedTime before 2050 is refused by the lint's reader */
	memcpy(b,
	       "\x18\x0f"
	       "20490101000000Z",
	       17);
	d.p = b, d.len = 17;
	CHECK_INT(der_next(&d, &t), 0);
	CHECK(der_time_parse(&t, &v) != 0);
}

/* ---- lint over TBS built with OpenSSL, each broken in one way ---- */

enum breakage {
	B_NONE,
	B_CA_TRUE,
	B_NO_SAN,
	B_NEG_SERIAL,
	B_SHORT_SERIAL,
	B_UNKNOWN_CRIT,
	B_EKU_CODE,
	B_KU_KEYENC_EC,
	B_AFTER_ISSUER,
	B_DUP_EXT,
	B_CN_NOT_IN_SAN,
	B_NO_BC,
	B_ANY_EKU,
	B_WRONG_ISSUER,
	B_BMP_CN,
	B_LONG_VALIDITY,
	B_KU_CERTSIGN,
	B_N
};

static void
add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *val)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, v3, nid, val);

	if (e == NULL)
		test_fail(__FILE__, __LINE__, "ext %d %s", nid, val);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
}

static void
add_raw_ext(X509 *x, const char *oid, int crit, const unsigned char *der, int len)
{
	ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *e;

	ASN1_OCTET_STRING_set(os, der, len);
	e = X509_EXTENSION_create_by_OBJ(NULL, o, crit, os);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	ASN1_OBJECT_free(o);
	ASN1_OCTET_STRING_free(os);
}

/* TBS DER of a leaf for csr c issued by t, broken as b. */
static unsigned char *
crafted_tbs(const struct testca *t, const void *unused, enum breakage b, size_t *len,
	    EVP_PKEY *leafkey, time_t now)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	X509V3_CTX v3;
	unsigned char serial[SERIAL_LEN], *der = NULL;
	BIGNUM *bn;
	int l;

	(void)unused;
	RAND_bytes(serial, sizeof(serial));
	serial[0] = (serial[0] & 0x3f) | 0x40;
	if (b == B_NEG_SERIAL)
		serial[0] |= 0x80;
	bn = BN_bin2bn(serial, b == B_SHORT_SERIAL ? 8 : SERIAL_LEN, NULL);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	if (b == B_NEG_SERIAL) /* as an INTEGER with the top bit set: negative */
		X509_get_serialNumber(x)->type = V_ASN1_NEG_INTEGER;
	BN_free(bn);
	X509_set_version(x, 2);
	if (b == B_BMP_CN)
		X509_NAME_add_entry_by_txt(n, "CN", V_ASN1_BMPSTRING,
					   (const unsigned char *)"\0a\0.\0c\0o", 8, -1, 0);
	else
		X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
					   (const unsigned char *)"a.example.com", -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_NAME_free(n);
	if (b == B_WRONG_ISSUER)
		X509_set_issuer_name(x, X509_get_subject_name(t->root));
	else
		X509_set_issuer_name(x, X509_get_subject_name(t->ca.cert));
	X509_time_adj_ex(X509_getm_notBefore(x), 0, -600, &now);
	if (b == B_AFTER_ISSUER)
		X509_time_adj_ex(X509_getm_notAfter(x), 365 * 30, 0, &now);
	else if (b == B_LONG_VALIDITY)
		X509_time_adj_ex(X509_getm_notAfter(x), 30, -600, &now); /* one second too long */
	else
		X509_time_adj_ex(X509_getm_notAfter(x), 30, -601, &now);
	X509_set_pubkey(x, leafkey);
	X509V3_set_ctx(&v3, t->ca.cert, x, NULL, NULL, 0);
	if (b != B_NO_BC)
		add_ext(x, &v3, NID_basic_constraints,
			b == B_CA_TRUE ? "critical,CA:TRUE" : "critical,CA:FALSE");
	add_ext(x, &v3, NID_key_usage,
		b == B_KU_KEYENC_EC  ? "critical,digitalSignature,keyEncipherment"
		: b == B_KU_CERTSIGN ? "critical,digitalSignature,keyCertSign"
				     : "critical,digitalSignature");
	add_ext(x, &v3, NID_ext_key_usage,
		b == B_EKU_CODE  ? "serverAuth,codeSigning"
		: b == B_ANY_EKU ? "serverAuth,anyExtendedKeyUsage"
				 : "serverAuth");
	if (b != B_NO_SAN)
		add_ext(x, &v3, NID_subject_alt_name,
			b == B_CN_NOT_IN_SAN ? "DNS:b.example.com" : "DNS:a.example.com");
	add_raw_ext(x, "2.5.29.32", 0,
		    (const unsigned char *)"\x30\x0a\x30\x08\x06\x06\x67\x81\x0c\x01\x02\x01", 12);
	add_ext(x, &v3, NID_subject_key_identifier, "hash");
	add_ext(x, &v3, NID_authority_key_identifier, "keyid:always");
	if (b == B_DUP_EXT)
		add_ext(x, &v3, NID_subject_key_identifier, "hash");
	if (b == B_UNKNOWN_CRIT)
		add_raw_ext(x, "1.3.6.1.4.1.55555.1", 1, (const unsigned char *)"\x05\x00", 2);
	/* the signature algorithm field as the CA signer writes it (ecdsa-with-SHA256) */
	X509_ALGOR_set0((X509_ALGOR *)X509_get0_tbs_sigalg(x), OBJ_nid2obj(NID_ecdsa_with_SHA256),
			V_ASN1_UNDEF, NULL);
	l = i2d_re_X509_tbs(x, &der);
	X509_free(x);
	*len = (size_t)l;
	return der;
}

TEST(lint_rejects_broken_tbs)
{
	static const char *const names[B_N] = {"none",
					       "CA:TRUE",
					       "no SAN",
					       "negative serial",
					       "short serial",
					       "unknown critical",
					       "codeSigning EKU",
					       "keyEncipherment on EC",
					       "after issuer",
					       "duplicate extension",
					       "CN not in SAN",
					       "no basicConstraints",
					       "anyEKU",
					       "wrong issuer",
					       "BMPString CN",
					       "longer than requested",
					       "keyCertSign"};
	struct testca t;
	struct lint_ctx lc;
	EVP_PKEY *leaf = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	unsigned char *issuer = NULL;
	static const unsigned char sigalg[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
					       0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
	time_t now = time(NULL);
	struct tm tm;
	int b;

	CHECK_INT(testca_load(&t, fix_ca_dir(), "ec-p256"), 0);
	memset(&lc, 0, sizeof(lc));
	lc.sigalg = sigalg;
	lc.sigalg_len = sizeof(sigalg);
	lc.issuer_len = (size_t)i2d_X509_NAME(X509_get_subject_name(t.ca.cert), &issuer);
	lc.issuer = issuer;
	lc.aki = ASN1_STRING_get0_data(X509_get0_subject_key_id(t.ca.cert));
	lc.aki_len = (size_t)ASN1_STRING_length(X509_get0_subject_key_id(t.ca.cert));
	ASN1_TIME_to_tm(X509_get0_notBefore(t.ca.cert), &tm);
	lc.issuer_not_before = timegm(&tm) - 3600; /* the test CA may be minutes old */
	ASN1_TIME_to_tm(X509_get0_notAfter(t.ca.cert), &tm);
	lc.issuer_not_after = timegm(&tm);
	lc.now = now;
	lc.validity_days = 30;
	lc.allowed_eku = EXT_SERVER_AUTH | EXT_CLIENT_AUTH;
	lc.cabf = 1; /* the crafted TBS carries the CA/B Forum OV identifier */
	for (b = 0; b < B_N; b++) {
		struct violations vs = {0};
		size_t len;
		unsigned char *tbs = crafted_tbs(&t, NULL, (enum breakage)b, &len, leaf, now);
		int rc = lint_tbs(tbs, len, &lc, &vs);

		if (b == B_NONE && rc != 0)
			test_fail(__FILE__, __LINE__, "clean TBS refused: %s", fix_codes(&vs));
		if (b != B_NONE && (rc == 0 || !fix_has_code(&vs, "lint_error")))
			test_fail(__FILE__, __LINE__, "lint let through: %s", names[b]);
		OPENSSL_free(tbs);
	}
	/* A private CA asserts no CA/B Forum policy: the same clean TBS is refused. */
	{
		struct violations vs = {0};
		size_t len;
		unsigned char *tbs = crafted_tbs(&t, NULL, B_NONE, &len, leaf, now);

		lc.cabf = 0;
		CHECK(lint_tbs(tbs, len, &lc, &vs) != 0);
		CHECK(strstr(vs.v[0].message, "certificatePolicies") != NULL);
		OPENSSL_free(tbs);
	}
	OPENSSL_free(issuer);
	EVP_PKEY_free(leaf);
	testca_free(&t);
}
