/* CSR intake: fixtures from real generators, hostile inputs, and a differential
 * test of our DER parser against OpenSSL's (tests/refcsr.h). */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "admit.h"
#include "admitjson.h"
#include "csrfix.h"
#include "issue_int.h"
#include "test.h"
#include "../refcsr.h"
#include "../testca.h"

#define MIN_BAD_FIXTURES 40
#define MUTATION_STEPS 97 /* mutated positions per fixture (spread over its length) */

static unsigned
key_type_of(const char *s)
{
	return strcmp(s, "RSA") == 0 ? KT_RSA : strcmp(s, "EC") == 0 ? KT_EC : KT_ED25519;
}

static void
check_list(const char *what, const char *file, const char *const *got, cJSON *want)
{
	size_t n = 0;
	cJSON *it;

	cJSON_ArrayForEach(it, want)
	{
		int found = 0;
		for (size_t i = 0; got[i] != NULL; i++)
			if (strcmp(got[i], it->valuestring) == 0)
				found = 1;
		if (!found)
			test_fail(__FILE__, __LINE__, "%s: %s %s not extracted", file, what,
				  it->valuestring);
		n++;
	}
	while (got[0] != NULL)
		got++, n--;
	CHECK_INT(n, 0);
}

static const char *
attr_by_key(const struct csr_info *ci, const char *k)
{
	return strcmp(k, "CN") == 0             ? ci->cn
	       : strcmp(k, "O") == 0            ? ci->o
	       : strcmp(k, "OU") == 0           ? ci->ou
	       : strcmp(k, "C") == 0            ? ci->c
	       : strcmp(k, "ST") == 0           ? ci->st
	       : strcmp(k, "L") == 0            ? ci->l
	       : strcmp(k, "emailAddress") == 0 ? ci->email
						: NULL;
}

TEST(csr_good_fixtures_parse)
{
	cJSON *good = cJSON_GetObjectItem(fix_manifest(), "good"), *g, *a;
	size_t n = 0, len;

	cJSON_ArrayForEach(g, good)
	{
		struct violations vs = {0};
		struct csr *c = NULL;
		unsigned char *buf = fix_csr("good", g->string, &len);
		const struct csr_info *ci;
		unsigned eku = 0;

		if (csr_parse(buf, len, &c, &vs) != 0)
			test_fail(__FILE__, __LINE__, "%s refused: %s", g->string, fix_codes(&vs));
		ci = csr_info(c);
		CHECK_STR(ci->cn, cJSON_GetObjectItem(g, "cn")->valuestring);
		CHECK_INT(ci->key_type,
			  key_type_of(cJSON_GetObjectItem(g, "key_type")->valuestring));
		CHECK_INT(ci->key_bits, cJSON_GetObjectItem(g, "key_bits")->valueint);
		CHECK_STR(ci->sig_alg, cJSON_GetObjectItem(g, "sig_alg")->valuestring);
		if (ci->key_type == KT_EC) {
			const char *cv = cJSON_GetObjectItem(g, "curve")->valuestring;
			CHECK_INT(ci->curve, strcmp(cv, "P-256") == 0   ? CURVE_P256
					     : strcmp(cv, "P-384") == 0 ? CURVE_P384
									: CURVE_P521);
		}
		check_list("DNS SAN", g->string, ci->dns_sans, cJSON_GetObjectItem(g, "dns_sans"));
		check_list("IP SAN", g->string, ci->ip_sans, cJSON_GetObjectItem(g, "ip_sans"));
		check_list("email SAN", g->string, ci->email_sans,
			   cJSON_GetObjectItem(g, "email_sans"));
		cJSON_ArrayForEach(a, cJSON_GetObjectItem(g, "subject"))
		{
			const char *got = attr_by_key(ci, a->string);
			if (got == NULL || strcmp(got, a->valuestring) != 0)
				test_fail(__FILE__, __LINE__, "%s: subject %s = %s, expected %s",
					  g->string, a->string, got ? got : "(none)",
					  a->valuestring);
		}
		cJSON_ArrayForEach(a, cJSON_GetObjectItem(g, "eku")) eku |=
		    ext_from_name(a->valuestring);
		CHECK_INT(ci->requested_ext, eku);
		CHECK(ci->subject != NULL && strstr(ci->subject, "CN=") != NULL);
		CHECK_INT(ci->requests_ca, 0);
		csr_free(c);
		free(buf);
		n++;
	}
	CHECK(n >= 20);
}

/* Parse, then policy against an EC P-256 intermediate allowing server and client auth. */
static void
run_bad(const unsigned char *buf, size_t len, struct violations *vs, const struct ca *ca)
{
	struct csr *c = NULL;

	if (csr_parse(buf, len, &c, vs) != 0)
		return;
	struct issue_request rq = {.common_name =
				       csr_info(c)->cn ? csr_info(c)->cn : "x.example.com",
				   .validity_days = 90,
				   .extensions = 0};
	CHECK(policy_check(c, &rq, ca, vs, NULL) != 0);
	csr_free(c);
}

TEST(csr_bad_fixtures_codes)
{
	cJSON *bad = cJSON_GetObjectItem(fix_manifest(), "bad"), *b;
	struct testca t;
	size_t n = 0, len, failures = 0;

	CHECK_INT(testca_load(&t, fix_ca_dir(), "ec-p256"), 0);
	t.ca.allowed_extensions = EXT_SERVER_AUTH | EXT_CLIENT_AUTH;
	cJSON_ArrayForEach(b, bad)
	{
		struct violations vs = {0};
		const char *want = cJSON_GetObjectItem(b, "expect")->valuestring;
		unsigned char *buf = fix_csr("bad", b->string, &len);

		run_bad(buf, len, &vs, &t.ca);
		if (!fix_has_code(&vs, want)) {
			fprintf(stderr, "%s: expected %s, got %s\n", b->string, want,
				fix_codes(&vs));
			failures++;
		}
		for (size_t i = 0; i < vs.n; i++)
			CHECK(vs.v[i].field[0] != '\0' && vs.v[i].message[0] != '\0');
		free(buf);
		n++;
	}
	testca_free(&t);
	CHECK_INT(failures, 0);
	CHECK(n >= MIN_BAD_FIXTURES);
}

/* How a variant reshapes the PEM of a good CSR. */
enum intake_shape {
	SHAPE_PEM,    /* as written */
	SHAPE_NEWREQ, /* the NEW CERTIFICATE REQUEST label (keytool) */
	SHAPE_BARE,   /* base64 only: the BEGIN and END lines dropped */
	SHAPE_INDENT, /* every line indented, trailing blanks (a mail or a web page) */
};

struct intake_case {
	const char *name;
	const char *prefix, *suffix; /* around the PEM of a good CSR */
	int crlf;
	enum intake_shape shape;
	const char *expect; /* NULL: accepted */
};

/* PEM text of openssl-p256.pem reshaped as ic says. */
static char *
pem_variant(const struct intake_case *ic, size_t *len)
{
	size_t n, i, o = 0;
	unsigned char *pem = fix_csr("good", "openssl-p256.pem", &n);
	char *out = malloc(4 * n + strlen(ic->prefix) + strlen(ic->suffix) + 64), *line, *save;

	pem = realloc(pem, n + 1);
	pem[n] = '\0';
	o = (size_t)sprintf(out, "%s", ic->prefix);
	for (line = strtok_r((char *)pem, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (ic->shape == SHAPE_BARE && strncmp(line, "-----", 5) == 0)
			continue;
		if (ic->shape == SHAPE_NEWREQ && strncmp(line, "-----", 5) == 0)
			o += (size_t)sprintf(out + o, "-----%s NEW CERTIFICATE REQUEST-----",
					     line[5] == 'B' ? "BEGIN" : "END");
		else
			o += (size_t)sprintf(out + o, "%s%s%s",
					     ic->shape == SHAPE_INDENT ? "    " : "", line,
					     ic->shape == SHAPE_INDENT ? " \t" : "");
		if (ic->crlf)
			out[o++] = '\r';
		out[o++] = '\n';
	}
	for (i = 0; ic->suffix[i] != '\0'; i++)
		out[o++] = ic->suffix[i];
	*len = o;
	free(pem);
	return out;
}

#define CERTTOOL_DUMP                                                                              \
	"PKCS #10 Certificate Request Information:\n\tVersion: 1\n\tSubject: "                    \
	"CN=www.acme.test\n\tSignature Algorithm: ECDSA-SHA256\nSelf signature: verified\n\n"

TEST(csr_intake_variants)
{
	static const struct intake_case cases[] = {
	    {"plain", "", "", 0, SHAPE_PEM, NULL},
	    {"crlf", "", "", 1, SHAPE_PEM, NULL},
	    {"leading whitespace", "\n\n  ", "\n\n", 0, SHAPE_PEM, NULL},
	    {"certtool: a text dump before", CERTTOOL_DUMP, "", 0, SHAPE_PEM, NULL},
	    {"text after", "", "-- \nsent from my phone\n", 1, SHAPE_PEM, NULL},
	    {"keytool label", "", "", 1, SHAPE_NEWREQ, NULL},
	    {"bare base64", "", "", 0, SHAPE_BARE, NULL},
	    {"bare base64, crlf and blanks", "  \r\n", " \r\n", 1, SHAPE_BARE, NULL},
	    {"indented, trailing blanks", "Dear admin,\n", "\n  Thanks\n", 0, SHAPE_INDENT, NULL},
	    {"second CSR", "",
	     "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", 0,
	     SHAPE_PEM, "csr_multiple"},
	    {"second CSR before", "-----BEGIN NEW CERTIFICATE REQUEST-----\nAAAA\n", "", 0,
	     SHAPE_PEM, "csr_multiple"},
	    {"a key after", "", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 0,
	     SHAPE_PEM, "csr_multiple"},
	    {"bare base64 with text", "hello ", "", 0, SHAPE_BARE, "csr_malformed"},
	    {"bare base64 cut", "", "AAA", 0, SHAPE_BARE, "csr_malformed"},
	    {"nul after", "", "\0", 0, SHAPE_PEM, NULL}, /* "" suffix: NUL not written */
	};
	size_t i, len;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct violations vs = {0};
		struct csr *c = NULL;
		char *pem = pem_variant(&cases[i], &len);
		int rc = csr_parse(pem, len, &c, &vs);

		if (cases[i].expect == NULL && rc != 0)
			test_fail(__FILE__, __LINE__, "%s: refused: %s", cases[i].name,
				  fix_codes(&vs));
		if (cases[i].expect == NULL)
			CHECK_STR(csr_info(c)->cn, "p256.openssl.example.com");
		if (cases[i].expect != NULL && (rc == 0 || !fix_has_code(&vs, cases[i].expect)))
			test_fail(__FILE__, __LINE__, "%s: expected %s, got %s", cases[i].name,
				  cases[i].expect, fix_codes(&vs));
		csr_free(c);
		free(pem);
	}
}

/* Framing faults of a single block, and the canonical PEM every accepted form maps to. */
TEST(csr_intake_framing)
{
	static const struct {
		const char *text, *expect;
	} bad[] = {
	    {"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END NEW CERTIFICATE REQUEST-----\n",
	     "csr_malformed"},
	    {"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n", "csr_malformed"},
	    {"-----BEGIN CERTIFICATE REQUEST-----\nProc-Type: 4,ENCRYPTED\n\nMIIB\n"
	     "-----END CERTIFICATE REQUEST-----\n",
	     "csr_malformed"},
	    {"-----BEGIN CERTIFICATE REQUEST\nMIIB\n", "csr_malformed"},
	    {"just some words", "csr_malformed"},
	    {"-----BEGIN X509 CRL-----\nMIIB\n-----END X509 CRL-----\n", "csr_malformed"},
	};
	struct violations vs = {0};
	struct csr *c1 = NULL, *c2 = NULL;
	unsigned char *pem, *der;
	char *canon1, *canon2;
	size_t i, n, dn;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		vs.n = 0;
		if (csr_parse(bad[i].text, strlen(bad[i].text), &c1, &vs) == 0 ||
		    !fix_has_code(&vs, bad[i].expect))
			test_fail(__FILE__, __LINE__, "case %zu: expected %s, got %s", i,
				  bad[i].expect, fix_codes(&vs));
	}
	/* Two CSRs are a paste of two things, answered 400, not a CSR breaking a rule (422). */
	CHECK_INT(admit_http_status("csr_multiple"), 400);
	CHECK_INT(admit_http_status("csr_malformed"), 422);
	/* DER in, PEM out: the same canonical text, which parses to the same DER. */
	pem = fix_csr("good", "keytool-rsa2048.pem", &n);
	der = fix_der(pem, n, &dn);
	CHECK(der != NULL);
	vs.n = 0;
	CHECK_INT(csr_parse(der, dn, &c1, &vs), 0);
	CHECK_INT(csr_parse(pem, n, &c2, &vs), 0);
	canon1 = csr_pem(c1);
	canon2 = csr_pem(c2);
	CHECK(canon1 != NULL && canon2 != NULL);
	CHECK_STR(canon1, canon2);
	CHECK(strncmp(canon1, "-----BEGIN CERTIFICATE REQUEST-----\n", 36) == 0);
	csr_free(c2);
	c2 = NULL;
	CHECK_INT(csr_parse(canon1, strlen(canon1), &c2, &vs), 0);
	CHECK_STR(csr_info(c2)->subject, csr_info(c1)->subject);
	free(canon1);
	free(canon2);
	csr_free(c1);
	csr_free(c2);
	free(der);
	free(pem);
}

TEST(csr_intake_limits)
{
	struct violations vs = {0};
	struct csr *c = NULL;
	unsigned char *big = calloc(1, CSR_MAX_BYTES + 1), *pem, *der;
	size_t n, dn;

	CHECK(csr_parse(big, CSR_MAX_BYTES + 1, &c, &vs) != 0);
	CHECK(fix_has_code(&vs, "csr_too_large"));
	vs.n = 0;
	CHECK(csr_parse(big, 0, &c, &vs) != 0);
	CHECK(fix_has_code(&vs, "csr_malformed"));
	vs.n = 0;
	CHECK(csr_parse(NULL, 10, &c, &vs) != 0);
	free(big);
	/* Two DER CSRs back to back. */
	pem = fix_csr("good", "openssl-p256.pem", &n);
	der = fix_der(pem, n, &dn);
	CHECK(der != NULL);
	big = malloc(2 * dn);
	memcpy(big, der, dn);
	memcpy(big + dn, der, dn);
	vs.n = 0;
	CHECK(csr_parse(big, 2 * dn, &c, &vs) != 0);
	CHECK(fix_has_code(&vs, "csr_multiple"));
	/* Every truncation of the DER is refused as malformed. */
	for (size_t k = 0; k < dn; k += 7) {
		vs.n = 0;
		CHECK(csr_parse(der, k, &c, &vs) != 0);
	}
	/* The DER and the PEM give the same subject and SANs. */
	struct csr *c1 = NULL, *c2 = NULL;
	vs.n = 0;
	CHECK_INT(csr_parse(der, dn, &c1, &vs), 0);
	CHECK_INT(csr_parse(pem, n, &c2, &vs), 0);
	CHECK_STR(csr_info(c1)->subject, csr_info(c2)->subject);
	CHECK_STR(csr_info(c1)->dns_sans[0], csr_info(c2)->dns_sans[0]);
	csr_free(c1);
	csr_free(c2);
	free(big);
	free(der);
	free(pem);
}

static int
same_str_list(const char *const *a, char **b, size_t nb)
{
	size_t i;

	for (i = 0; i < nb; i++)
		if (a[i] == NULL || b[i] == NULL || strcmp(a[i], b[i]) != 0)
			return 0;
	return a[nb] == NULL;
}

/*
 * Runs both parsers on der. Returns 0 when they agree (or ours is stricter on
 * an input that is not DER), else -1 with a description in why.
 */
static int
differ(const unsigned char *der, size_t len, char *why, size_t whylen)
{
	struct violations vs = {0};
	struct csr *c = NULL;
	struct ref_csr r;
	int mine, rc = -1;
	size_t i;

	if (len == 0 || der[0] != 0x30)
		return 0; /* not DER: PEM intake is not what is compared */
	mine = csr_parse(der, len, &c, &vs) == 0;
	ref_csr_parse(der, len, &r);
	if (mine && !r.ok && r.why != NULL && strcmp(r.why, "d2i") == 0) {
		/* OpenSSL refuses invalid UTF-8 names while decoding; we refuse them in
		 * policy_check (name_invalid_utf8). Same outcome for the request. */
		for (i = 0; i < c->nattrs; i++)
			if (c->attrs[i].flags & STR_BAD_UTF8)
				mine = 0;
		if (!mine) {
			rc = 0;
			goto out;
		}
	}
	if (mine != r.ok) {
		if (!mine && ref_stricter_by_design(der, (long)len, &vs)) {
			rc = 0;
			goto out;
		}
		snprintf(why, whylen, "ours %s (%s), OpenSSL %s (%s)", mine ? "accepts" : "refuses",
			 fix_codes(&vs), r.ok ? "accepts" : "refuses", r.why ? r.why : "");
		goto out;
	}
	if (!mine) {
		rc = 0;
		goto out;
	}
	const struct csr_info *ci = csr_info(c);
	if (ci->key_type != r.key_type || ci->key_bits != r.key_bits ||
	    (ci->key_type == KT_EC && ci->curve != r.curve) ||
	    strcmp(ci->sig_alg, r.sig_alg) != 0) {
		snprintf(why, whylen, "key/alg differ: %u/%d/%s vs %u/%d/%s", ci->key_type,
			 ci->key_bits, ci->sig_alg, r.key_type, r.key_bits, r.sig_alg);
		goto out;
	}
	if (c->nattrs != r.nattrs) {
		snprintf(why, whylen, "subject attribute count %zu vs %zu", c->nattrs, r.nattrs);
		goto out;
	}
	for (i = 0; i < c->nattrs; i++) {
		if (r.attr[i] == NULL) { /* OpenSSL cannot convert it: we must have flagged it */
			if (!(c->attrs[i].flags & (STR_BAD_UTF8 | STR_BAD_TYPE))) {
				snprintf(why, whylen,
					 "attribute %zu: OpenSSL cannot convert, ours did", i);
				goto out;
			}
			continue;
		}
		if ((size_t)r.attr_len[i] != c->attrs[i].utf8_len ||
		    memcmp(r.attr[i], c->attrs[i].utf8, c->attrs[i].utf8_len) != 0) {
			snprintf(why, whylen, "attribute %zu differs: '%s' vs '%s'", i,
				 c->attrs[i].utf8, r.attr[i]);
			goto out;
		}
	}
	if (!same_str_list(ci->dns_sans, r.dns, r.ndns) ||
	    !same_str_list(ci->ip_sans, r.ip, r.nip) ||
	    !same_str_list(ci->email_sans, r.email, r.nemail) ||
	    !same_str_list(ci->uri_sans, r.uri, r.nuri)) {
		snprintf(why, whylen, "SANs differ");
		goto out;
	}
	if (ci->requested_ext != r.eku || c->eku_any != r.eku_any ||
	    ci->requests_ca != r.requests_ca) {
		snprintf(why, whylen, "extensions differ: eku %u/%u any %d/%d ca %d/%d",
			 ci->requested_ext, r.eku, c->eku_any, r.eku_any, ci->requests_ca,
			 r.requests_ca);
		goto out;
	}
	rc = 0;
out:
	ref_csr_free(&r);
	csr_free(c);
	return rc;
}

/* Differential: every fixture (good and bad) and mutations of each. */
TEST(csr_differential_openssl)
{
	const char *subs[] = {"good", "bad"};
	cJSON *set, *f;
	size_t len, dl, runs = 0, k;
	char why[512];

	for (int s = 0; s < 2; s++) {
		set = cJSON_GetObjectItem(fix_manifest(), subs[s]);
		cJSON_ArrayForEach(f, set)
		{
			unsigned char *buf = fix_csr(subs[s], f->string, &len);
			unsigned char *der = fix_der(buf, len, &dl), *m;

			free(buf);
			if (der == NULL)
				continue;
			if (differ(der, dl, why, sizeof(why)) != 0)
				test_fail(__FILE__, __LINE__, "%s: %s", f->string, why);
			runs++;
			m = malloc(dl + 1);
			for (k = 0; k < MUTATION_STEPS; k++) {
				size_t pos = (k * dl) / MUTATION_STEPS;
				memcpy(m, der, dl);
				m[pos] ^= (unsigned char)(1u << (k % 8));
				if (differ(m, dl, why, sizeof(why)) != 0)
					test_fail(__FILE__, __LINE__, "%s bit flip at %zu: %s",
						  f->string, pos, why);
				memcpy(m, der, dl);
				m[pos] = k % 2 ? 0x00 : 0xff;
				if (differ(m, dl, why, sizeof(why)) != 0)
					test_fail(__FILE__, __LINE__, "%s byte set at %zu: %s",
						  f->string, pos, why);
				if (differ(der, pos, why, sizeof(why)) != 0)
					test_fail(__FILE__, __LINE__, "%s truncated at %zu: %s",
						  f->string, pos, why);
				runs += 3;
			}
			free(m);
			free(der);
		}
	}
	fprintf(stderr, "differential: %zu inputs compared\n", runs);
	CHECK(runs > 1000);
}

/* Differential over the committed fuzz corpus (differential-mode inputs and
 * regressions the fuzzer found). */
TEST(csr_differential_fuzz_corpus)
{
	char dir[512], path[1024], why[512];
	DIR *d;
	struct dirent *e;
	size_t n = 0, len;

	snprintf(dir, sizeof(dir), "%s/fuzz/corpus/issue", test_data_dir());
	CHECK((d = opendir(dir)) != NULL);
	while ((e = readdir(d)) != NULL) {
		unsigned char *buf;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if ((buf = fix_read(path, &len)) == NULL)
			continue;
		if (len > 2 && (buf[0] & 1)) {
			if (differ(buf + 2, len - 2, why, sizeof(why)) != 0)
				test_fail(__FILE__, __LINE__, "%s: %s", e->d_name, why);
			n++;
		}
		free(buf);
	}
	closedir(d);
	CHECK(n >= 40);
}

/* The DER reader's strictness, one rule per row. */
TEST(der_reader_strict)
{
	static const struct {
		const char *name;
		const char *bytes;
		size_t len;
		unsigned tag;
		int ok;
	} t[] = {
	    {"short form", "\x04\x01\xaa", 3, DER_OCTET_STRING, 1},
	    {"long form for short length", "\x04\x81\x01\xaa", 4, DER_OCTET_STRING, 0},
	    {"leading zero length octet", "\x04\x82\x00\x80", 4, DER_OCTET_STRING, 0},
	    {"indefinite length", "\x30\x80\x00\x00", 4, DER_SEQUENCE, 0},
	    {"length past end", "\x04\x05\xaa", 3, DER_OCTET_STRING, 0},
	    {"high tag number", "\x1f\x22\x00", 3, 0x1f, 0},
	    {"integer minimal", "\x02\x02\x00\x80", 4, DER_INTEGER, 1},
	    {"integer padded", "\x02\x02\x00\x7f", 4, DER_INTEGER, 0},
	    {"integer ff padded", "\x02\x02\xff\x80", 4, DER_INTEGER, 0},
	    {"integer empty", "\x02\x00", 2, DER_INTEGER, 0},
	    {"boolean true", "\x01\x01\xff", 3, DER_BOOLEAN, 1},
	    {"boolean 01", "\x01\x01\x01", 3, DER_BOOLEAN, 0},
	    {"null with content", "\x05\x01\x00", 3, DER_NULL, 0},
	    {"oid padded", "\x06\x02\x80\x01", 4, DER_OID, 0},
	    {"oid unterminated", "\x06\x01\x81", 3, DER_OID, 0},
	    {"bit string unused 8", "\x03\x02\x08\x00", 4, DER_BIT_STRING, 0},
	    {"bit string empty with unused", "\x03\x01\x01", 3, DER_BIT_STRING, 0},
	    {"wrong tag", "\x04\x01\xaa", 3, DER_INTEGER, 0},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct der d = {(const unsigned char *)t[i].bytes, t[i].len};
		struct der_tlv tlv;
		int ok = der_expect(&d, t[i].tag, &tlv) == 0;
		if (ok != t[i].ok)
			test_fail(__FILE__, __LINE__, "%s: %s", t[i].name,
				  ok ? "accepted" : "refused");
	}
	/* The writer produces minimal lengths at every size class. */
	{
		static unsigned char big[70000];
		size_t sizes[] = {0, 127, 128, 255, 256, 65535, 65536}, k;
		for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			struct dbuf b;
			struct der d;
			struct der_tlv tlv;
			dbuf_init(&b, NULL, 0);
			dbuf_tlv(&b, DER_OCTET_STRING, big, sizes[k]);
			d.p = b.p, d.len = b.len;
			CHECK_INT(der_expect(&d, DER_OCTET_STRING, &tlv), 0);
			CHECK_INT(tlv.len, sizes[k]);
			CHECK_INT(d.len, 0);
			dbuf_free(&b);
		}
	}
}

/* A CSR whose EC point is compressed parses, verifies and keeps its key bytes; the
 * per-thread key template then still verifies an uncompressed one. */
TEST(csr_ec_compressed_point)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509_REQ *req = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	unsigned char *der = NULL, *p;
	struct violations vs = {0};
	struct csr *c = NULL;
	size_t len, flen;
	int dl;

	CHECK(EVP_PKEY_set_utf8_string_param(k, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
					     "compressed") == 1);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"c.example.com",
				   -1, -1, 0);
	X509_REQ_set_subject_name(req, n);
	X509_REQ_set_pubkey(req, k);
	CHECK(X509_REQ_sign(req, k, EVP_sha256()) > 0);
	dl = i2d_X509_REQ(req, &der);
	CHECK(dl > 0);
	CHECK_INT(csr_parse(der, (size_t)dl, &c, &vs), 0);
	CHECK_INT(c->pubkey_bits_len, 33);
	CHECK(c->pubkey_bits[0] == 2 || c->pubkey_bits[0] == 3);
	csr_free(c);
	/* Flip the compressed point's parity: another key, so the signature fails. */
	p = memmem(der, (size_t)dl, "\x03\x22\x00", 3);
	CHECK(p != NULL);
	{
		p[3] ^= 1;
		vs.n = 0;
		CHECK(csr_parse(der, (size_t)dl, &c, &vs) != 0);
		CHECK(fix_has_code(&vs, "csr_signature_invalid") ||
		      fix_has_code(&vs, "csr_malformed"));
	}
	OPENSSL_free(der);
	X509_NAME_free(n);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
	c = NULL;
	{
		unsigned char *buf = fix_csr("good", "openssl-p256.pem", &len);
		vs.n = 0;
		CHECK_INT(csr_parse(buf, len, &c, &vs), 0);
		flen = c->pubkey_bits_len;
		CHECK_INT(flen, 65);
		csr_free(c);
		free(buf);
	}
}

/* A P-256 CSR for cn with the subjectAltName given in openssl's config syntax, as DER. */
static unsigned char *
csr_with_sans(const char *cn, const char *san, size_t *len)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509_REQ *req = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
	unsigned char *der = NULL;
	int dl;

	CHECK(k != NULL && ext != NULL);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_REQ_set_subject_name(req, n);
	X509_REQ_set_pubkey(req, k);
	sk_X509_EXTENSION_push(exts, ext);
	CHECK(X509_REQ_add_extensions(req, exts) == 1);
	CHECK(X509_REQ_sign(req, k, EVP_sha256()) > 0);
	CHECK((dl = i2d_X509_REQ(req, &der)) > 0);
	*len = (size_t)dl;
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(n);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
	return der;
}

static size_t
list_len(const char *const *l)
{
	size_t n = 0;

	while (l != NULL && l[n] != NULL)
		n++;
	return n;
}

/*
 * Every SAN of every type reaches csr_info, however many of one kind (45 IP
 * addresses take more room as text than as DER), up to the documented 100.
 */
TEST(csr_every_san_kept)
{
	char san[8192], want[64], *text;
	const char *p;
	struct violations vs = {0};
	struct csr *c = NULL;
	unsigned char *der;
	size_t len, o = 0, i;
	const struct csr_info *ci;

	o = (size_t)snprintf(san, sizeof(san), "DNS:ip.acme.test");
	for (i = 1; i <= 45; i++)
		o += (size_t)snprintf(san + o, sizeof(san) - o, ",IP:10.0.%zu.%zu", i / 250, i % 250);
	der = csr_with_sans("ip.acme.test", san, &len);
	CHECK_INT(csr_parse(der, len, &c, &vs), 0);
	ci = csr_info(c);
	CHECK_INT(list_len(ci->ip_sans), 45);
	CHECK_STR(ci->ip_sans[44], "10.0.0.45");
	CHECK_INT(ci->nsans, 46);
	/* What the request record keeps: each of them, typed. */
	text = admit_sans_text(ci);
	CHECK(text != NULL);
	for (i = 0, p = text; (p = strstr(p, "{\"type\":\"ip\",\"value\":\"10.0.")) != NULL; p++)
		i++;
	CHECK_INT(i, 45);
	CHECK(strncmp(text, "[{\"type\":\"dns\",\"value\":\"ip.acme.test\"},", 39) == 0);
	free(text);
	csr_free(c);
	OPENSSL_free(der);

	/* 100 of four kinds, IPv6 among them. */
	o = (size_t)snprintf(san, sizeof(san), "DNS:mixed.acme.test");
	for (i = 1; i < CSR_MAX_SANS; i++)
		o += (size_t)snprintf(san + o, sizeof(san) - o,
				      i % 4 == 0   ? ",DNS:h%zu.acme.test"
				      : i % 4 == 1 ? ",IP:fd00::%zx"
				      : i % 4 == 2 ? ",email:u%zu@acme.test"
						   : ",URI:https://acme.test/p/%zu",
				      i);
	der = csr_with_sans("mixed.acme.test", san, &len);
	vs.n = 0;
	CHECK_INT(csr_parse(der, len, &c, &vs), 0);
	ci = csr_info(c);
	CHECK_INT(ci->nsans, CSR_MAX_SANS);
	CHECK_INT(list_len(ci->dns_sans) + list_len(ci->ip_sans) + list_len(ci->email_sans) +
		      list_len(ci->uri_sans),
		  CSR_MAX_SANS);
	CHECK_INT(list_len(ci->ip_sans), 25);
	CHECK_STR(ci->ip_sans[24], "fd00::61");
	snprintf(want, sizeof(want), "https://acme.test/p/%d", CSR_MAX_SANS - 1);
	CHECK_STR(ci->uri_sans[list_len(ci->uri_sans) - 1], want);
	CHECK_STR(ci->email_sans[0], "u2@acme.test");
	csr_free(c);
	OPENSSL_free(der);
}
