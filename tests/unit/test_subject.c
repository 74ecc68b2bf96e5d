/*
 * The subject policy engine: per CA actions (csr, required, fixed, drop,
 * refuse), the tenant's organizations, the text and warnings the answer
 * shows, the Name the signer encodes (the CSR's bytes only when nothing
 * changed), and the CA/Browser Forum profile only for a cabf_tls CA.
 * CSRs are made here with OpenSSL's X509_REQ, subjects written as in
 * `openssl req -subj`.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509v3.h>

#include "csrfix.h"
#include "issue_int.h"
#include "test.h"
#include "../testca.h"

/* The config's default policy (docs/config.md, subject). */
static void
subject_default(struct subject_policy *sp)
{
	memset(sp, 0, sizeof(*sp));
	sp->action[NA_CN] = SUBJ_REQUIRED;
	sp->action[NA_EMAIL] = SUBJ_DROP;
	sp->action[NA_SERIAL] = SUBJ_DROP;
}

/* A P-256 CSR whose subject is "/K=V/K=V..." (OpenSSL's -subj form, most significant first). */
static struct csr *
make_csr(const char *subj)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509_REQ *r = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	char buf[512], *save = NULL, *tok, *eq;
	unsigned char *der = NULL;
	struct violations vs = {0};
	struct csr *c = NULL;
	int len, type;

	CHECK(k != NULL && r != NULL && n != NULL);
	snprintf(buf, sizeof(buf), "%s", subj);
	for (tok = strtok_r(buf, "/", &save); tok != NULL; tok = strtok_r(NULL, "/", &save)) {
		CHECK((eq = strchr(tok, '=')) != NULL);
		*eq = '\0';
		/* The RFC 5280 type, set as is: OpenSSL's own length limits are not applied. */
		type = strcmp(tok, "C") == 0 || strcmp(tok, "serialNumber") == 0
			   ? V_ASN1_PRINTABLESTRING
		       : strcmp(tok, "emailAddress") == 0 ? V_ASN1_IA5STRING
							  : V_ASN1_UTF8STRING;
		CHECK(X509_NAME_add_entry_by_txt(n, tok, type, (const unsigned char *)eq + 1, -1,
						 -1, 0) == 1);
	}
	CHECK(X509_REQ_set_subject_name(r, n) == 1);
	CHECK(X509_REQ_set_pubkey(r, k) == 1);
	CHECK(X509_REQ_sign(r, k, EVP_sha256()) > 0);
	CHECK((len = i2d_X509_REQ(r, &der)) > 0);
	if (csr_parse(der, (size_t)len, &c, &vs) != 0)
		test_fail(__FILE__, __LINE__, "%s: %s", subj, fix_codes(&vs));
	OPENSSL_free(der);
	X509_NAME_free(n);
	X509_REQ_free(r);
	EVP_PKEY_free(k);
	return c;
}

static const char *const acme_orgs[] = {"Acme Corp", "Acme", NULL};

struct subject_case {
	const char *name;
	const char *subj;
	void (*tweak)(struct ca *ca);
	const char *want_subject; /* the subject issued; NULL: refused */
	const char *want_code;    /* the violation (refused) or the first warning; NULL: none */
	const char *want_message; /* that violation's or warning's message; NULL: not checked */
	int rebuilt;              /* accepted: the Name is encoded anew (not the CSR's bytes) */
};

static void
t_none(struct ca *ca)
{
}
static void
t_ou_drop(struct ca *ca)
{
	ca->subject.action[NA_OU] = SUBJ_DROP;
}
static void
t_ou_refuse(struct ca *ca)
{
	ca->subject.action[NA_OU] = SUBJ_REFUSE;
}
static void
t_l_required(struct ca *ca)
{
	ca->subject.action[NA_L] = SUBJ_REQUIRED;
}
static void
t_org_refuse(struct ca *ca)
{
	ca->subject.organization = SUBJ_FALLBACK_REFUSE;
}
static void
t_other_refuse(struct ca *ca)
{
	ca->subject.other = SUBJ_FALLBACK_REFUSE;
}
static void
t_email_csr(struct ca *ca)
{
	ca->subject.action[NA_EMAIL] = SUBJ_CSR;
}
static void
t_fixed(struct ca *ca)
{
	ca->subject.fixed[NA_O] = (char *)"Acme Corp";
	ca->subject.fixed[NA_C] = (char *)"FR";
}
static void
t_cabf(struct ca *ca)
{
	ca->profile = PROFILE_CABF_TLS;
}

static const struct subject_case cases[] = {
    /* openssl req -subj, the shape most people type: issued as is */
    {"openssl typed", "/C=FR/O=Acme/CN=www.acme.example", t_none, "CN=www.acme.example,O=Acme,C=FR",
     NULL, NULL, 0},
    /* keytool -dname "CN=..., OU=..., O=..., L=..., ST=..., C=..." */
    {"keytool dname", "/C=FR/ST=Ile-de-France/L=Paris/O=Acme Corp/OU=Sales/CN=www.acme.example",
     t_none, "CN=www.acme.example,OU=Sales,O=Acme Corp,L=Paris,ST=Ile-de-France,C=FR", NULL, NULL,
     0},
    /* nothing dropped or fixed: the CSR's Name as it is, in its own order */
    {"csr order kept", "/CN=www.acme.example/O=Acme", t_none, "O=Acme,CN=www.acme.example", NULL,
     NULL, 0},
    {"cn only", "/CN=www.acme.example", t_none, "CN=www.acme.example", NULL, NULL, 0},
    {"o of another tenant dropped", "/C=FR/O=Globex/CN=www.acme.example", t_none,
     "CN=www.acme.example,C=FR", "subject_attribute_dropped",
     "O=Globex dropped: not one of tenant acme's organizations (Acme Corp, Acme)", 1},
    {"o of another tenant refused", "/C=FR/O=Globex/CN=www.acme.example", t_org_refuse, NULL,
     "organization_not_allowed",
     "subject O=Globex: not one of tenant acme's organizations (Acme Corp, Acme); CA demo-sub "
     "refuses it",
     0},
    {"o compared byte for byte", "/O=acme/CN=www.acme.example", t_none, "CN=www.acme.example",
     "subject_attribute_dropped", NULL, 1},
    {"ou dropped", "/O=Acme/OU=Sales/CN=www.acme.example", t_ou_drop, "CN=www.acme.example,O=Acme",
     "subject_attribute_dropped", "OU=Sales dropped: CA demo-sub drops OU", 1},
    {"ou refused", "/O=Acme/OU=Sales/CN=www.acme.example", t_ou_refuse, NULL,
     "subject_attribute_not_allowed",
     "subject OU=Sales: CA demo-sub refuses OU (subject.attributes.OU: refuse)", 0},
    {"ou refused only when present", "/O=Acme/CN=www.acme.example", t_ou_refuse,
     "CN=www.acme.example,O=Acme", NULL, NULL, 0},
    {"l required, missing", "/O=Acme/CN=www.acme.example", t_l_required, NULL,
     "subject_attribute_missing",
     "subject has no L: CA demo-sub requires it (subject.attributes.L: required)", 0},
    {"l required, present", "/L=Paris/CN=www.acme.example", t_l_required,
     "CN=www.acme.example,L=Paris", NULL, NULL, 0},
    {"fixed replaces and adds", "/O=Other/CN=www.acme.example", t_fixed,
     "CN=www.acme.example,O=Acme Corp,C=FR", "subject_attribute_fixed",
     "O=Other replaced: CA demo-sub fixes O=Acme Corp", 1},
    {"other attribute dropped", "/DC=example/title=Boss/CN=www.acme.example", t_none,
     "CN=www.acme.example", "subject_attribute_dropped",
     "0.9.2342.19200300.100.1.25=example dropped: CA demo-sub drops attributes it does not name",
     1},
    {"other attribute refused", "/title=Boss/CN=www.acme.example", t_other_refuse, NULL,
     "subject_attribute_not_allowed", NULL, 0},
    {"emailAddress dropped by default", "/CN=www.acme.example/emailAddress=a@acme.example", t_none,
     "CN=www.acme.example", "subject_attribute_dropped",
     "emailAddress=a@acme.example dropped: CA demo-sub drops emailAddress", 1},
    {"emailAddress taken when csr", "/CN=www.acme.example/emailAddress=a@acme.example", t_email_csr,
     "emailAddress=a@acme.example,CN=www.acme.example", NULL, NULL, 0},
    {"serialNumber dropped by default", "/serialNumber=42/CN=www.acme.example", t_none,
     "CN=www.acme.example", "subject_attribute_dropped", NULL, 1},
    {"o too long",
     "/O=Acme/OU=12345678901234567890123456789012345678901234567890123456789012345/"
     "CN=www.acme.example",
     t_none, NULL, "subject_attribute_too_long", "subject OU is 65 characters; RFC 5280 allows 64",
     0},
    {"escaped text", "/O=Acme/OU=R+D, Paris/CN=www.acme.example", t_none,
     "CN=www.acme.example,OU=R\\+D\\, Paris,O=Acme", NULL, NULL, 0},
    /* The CA/B Forum shapes apply only to a cabf_tls CA. */
    {"cabf dv", "/C=FR/CN=www.acme.example", t_cabf, "CN=www.acme.example,C=FR", NULL, NULL, 0},
    {"cabf ov", "/C=FR/L=Paris/O=Acme/CN=www.acme.example", t_cabf,
     "CN=www.acme.example,O=Acme,L=Paris,C=FR", NULL, NULL, 0},
    {"cabf o without l or st", "/C=FR/O=Acme/CN=www.acme.example", t_cabf, NULL,
     "subject_not_allowed_for_server_auth", NULL, 0},
    {"cabf no ou", "/C=FR/L=Paris/O=Acme/OU=Sales/CN=www.acme.example", t_cabf, NULL,
     "subject_not_allowed_for_server_auth", NULL, 0},
};

/* The subject of the DER certificate, RFC 4514 by OpenSSL, into buf. */
static void
cert_subject(const struct issued *is, char *buf, size_t len, X509 **out)
{
	const unsigned char *p = is->der;
	X509 *x = d2i_X509(NULL, &p, (long)is->der_len);
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long n;

	CHECK(x != NULL && b != NULL);
	CHECK(X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0);
	n = BIO_get_mem_data(b, &data);
	snprintf(buf, len, "%.*s", (int)n, data);
	BIO_free(b);
	*out = x;
}

TEST(subject_policy_cases)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct subject_case *sc = &cases[i];
		struct testca t;
		struct signer *s;
		struct csr *c = make_csr(sc->subj);
		struct issue_request rq = {.common_name = "www.acme.example",
					   .validity_days = 90,
					   .tenant = "acme",
					   .organizations = acme_orgs};
		struct violations *vs = calloc(1, sizeof(*vs));
		struct subject_notes *notes = calloc(1, sizeof(*notes));
		struct plan *plan = calloc(1, sizeof(*plan));
		struct issued *is = NULL;
		const struct violation *got = NULL;
		char text[1024];
		X509 *x = NULL;
		int rc;

		CHECK(vs != NULL && notes != NULL && plan != NULL);
		CHECK_INT(testca_load(&t, fix_ca_dir(), "ec-p256"), 0);
		t.ca.id = (char *)"demo-sub";
		subject_default(&t.ca.subject);
		sc->tweak(&t.ca);
		rc = policy_check(c, &rq, &t.ca, vs, notes);
		if (sc->want_subject == NULL) {
			if (rc == 0 || !fix_has_code(vs, sc->want_code))
				test_fail(__FILE__, __LINE__, "%s: want %s, got %s", sc->name,
					  sc->want_code, fix_codes(vs));
			for (size_t k = 0; k < vs->n; k++)
				if (strcmp(vs->v[k].code, sc->want_code) == 0 && got == NULL)
					got = &vs->v[k];
			CHECK_STR(got->field, "csr_data");
		} else {
			if (rc != 0)
				test_fail(__FILE__, __LINE__, "%s: refused: %s", sc->name,
					  fix_codes(vs));
			CHECK_STR(notes->subject, sc->want_subject);
			if (sc->want_code == NULL && notes->nwarnings != 0)
				test_fail(__FILE__, __LINE__, "%s: unexpected warning %s", sc->name,
					  notes->warnings[0].message);
			if (sc->want_code != NULL) {
				CHECK(notes->nwarnings > 0);
				got = &notes->warnings[0];
				CHECK_STR(got->code, sc->want_code);
				CHECK_STR(got->field, "csr_data");
			}
			/* The signer encodes that subject, lint passes, OpenSSL reads the same. */
			CHECK((s = signer_new(&t.ca)) != NULL);
			if (signer_issue(s, c, &rq, NULL, NULL, &is, vs) != 0)
				test_fail(__FILE__, __LINE__, "%s: not signed: %s", sc->name,
					  fix_codes(vs));
			cert_subject(is, text, sizeof(text), &x);
			CHECK_STR(text, sc->want_subject);
			CHECK_INT(policy_eval(c, &rq, &t.ca, vs, plan), 0);
			CHECK_INT(plan->subject_rebuilt, sc->rebuilt);
			if (!sc->rebuilt) { /* nothing changed: the CSR's bytes */
				unsigned char *sd = NULL;
				int sl = i2d_X509_NAME(X509_get_subject_name(x), &sd);

				CHECK(sl > 0 && (size_t)sl == c->subject_len &&
				      memcmp(sd, c->subject, (size_t)sl) == 0);
				OPENSSL_free(sd);
			}
			/* CA/B Forum policy identifiers only from a cabf_tls CA */
			CHECK_INT(X509_get_ext_by_NID(x, NID_certificate_policies, -1) >= 0,
				  t.ca.profile == PROFILE_CABF_TLS);
			X509_free(x);
			issued_free(is);
			signer_free(s);
		}
		if (sc->want_message != NULL)
			CHECK_STR(got->message, sc->want_message);
		testca_free(&t);
		csr_free(c);
		free(plan);
		free(notes);
		free(vs);
	}
}

/* Signs c for www.acme.example (30 days) by ca; the certificate, parsed (caller frees). */
static X509 *
issue_x509(const struct ca *ca, const struct csr *c)
{
	struct issue_request rq = {.common_name = "www.acme.example", .validity_days = 30};
	struct violations vs = {0};
	struct signer *s = signer_new(ca);
	struct issued *is = NULL;
	const unsigned char *p;
	X509 *x;

	CHECK(s != NULL);
	if (signer_issue(s, c, &rq, NULL, NULL, &is, &vs) != 0)
		test_fail(__FILE__, __LINE__, "not signed: %s", fix_codes(&vs));
	p = is->der;
	CHECK((x = d2i_X509(NULL, &p, (long)is->der_len)) != NULL);
	issued_free(is);
	signer_free(s);
	return x;
}

/* A fixed value gets the string type RFC 5280 gives its attribute. */
TEST(subject_fixed_string_types)
{
	struct testca t;
	struct csr *c = make_csr("/CN=www.acme.example");
	X509 *x;
	X509_NAME *n;

	CHECK_INT(testca_load(&t, fix_ca_dir(), "ec-p256"), 0);
	subject_default(&t.ca.subject);
	t.ca.subject.fixed[NA_C] = (char *)"FR";
	t.ca.subject.fixed[NA_O] = (char *)"Bücher AG";
	t.ca.subject.fixed[NA_SERIAL] = (char *)"42";
	x = issue_x509(&t.ca, c);
	n = X509_get_subject_name(x);
	CHECK_INT(X509_NAME_entry_count(n), 4);
	/* issued order: C, O, CN, serialNumber */
	CHECK_INT(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, 0))->type,
		  V_ASN1_PRINTABLESTRING);
	CHECK_INT(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, 1))->type, V_ASN1_UTF8STRING);
	CHECK_INT(OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(n, 3))),
		  NID_serialNumber);
	CHECK_INT(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, 3))->type,
		  V_ASN1_PRINTABLESTRING);
	X509_free(x);
	testca_free(&t);
	csr_free(c);
}

/* cabf_tls: at most 398 days for server_auth; a private CA keeps its own maximum. */
TEST(subject_cabf_validity)
{
	struct testca t;
	struct csr *c = make_csr("/C=FR/CN=www.acme.example");
	struct issue_request rq = {.common_name = "www.acme.example", .validity_days = 399};
	struct violations vs = {0};

	CHECK_INT(testca_load(&t, fix_ca_dir(), "ec-p256"), 0);
	subject_default(&t.ca.subject);
	CHECK_INT(policy_check(c, &rq, &t.ca, &vs, NULL), 0);
	t.ca.profile = PROFILE_CABF_TLS;
	CHECK(policy_check(c, &rq, &t.ca, &vs, NULL) != 0);
	CHECK_STR(vs.v[0].code, "validity_out_of_range");
	CHECK_STR(
	    vs.v[0].message,
	    "validity_days must be 1..398 for this CA (CA/Browser Forum TLS profile), got 399");
	memset(&vs, 0, sizeof(vs));
	rq.validity_days = 398;
	CHECK_INT(policy_check(c, &rq, &t.ca, &vs, NULL), 0);
	/* not server_auth: the TLS profile does not apply */
	rq.validity_days = 399;
	rq.extensions = EXT_CLIENT_AUTH;
	CHECK_INT(policy_check(c, &rq, &t.ca, &vs, NULL), 0);
	testca_free(&t);
	csr_free(c);
}

TEST(subject_value_rules)
{
	CHECK(subject_value_check(NA_C, "FR") == NULL);
	CHECK(subject_value_check(NA_C, "fr") != NULL);
	CHECK(subject_value_check(NA_C, "FRA") != NULL);
	CHECK(subject_value_check(NA_O, "Bücher & Söhne") == NULL);
	CHECK(subject_value_check(NA_O, "") != NULL);
	CHECK(subject_value_check(NA_O, "a\tb") != NULL);
	CHECK(subject_value_check(NA_O, "\xff") != NULL);
	CHECK(subject_value_check(NA_SERIAL, "A-1") == NULL);
	CHECK(subject_value_check(NA_SERIAL, "a_b") != NULL);
	CHECK(subject_value_check(NA_EMAIL, "pki@acme.example") == NULL);
	CHECK(subject_value_check(NA_EMAIL, "pkï@acme.example") != NULL);
	CHECK(subject_value_check(NA_OTHER, "x") != NULL);
}

/* The most attributes a CSR may have, all kept, plus every fixed value: all issued. */
TEST(subject_full_csr_and_every_fixed_value)
{
	struct testca t;
	char subj[512] = "";
	struct csr *c;
	X509 *x;
	int i;

	for (i = 0; i < CSR_MAX_ATTRS - 1; i++)
		snprintf(subj + strlen(subj), sizeof(subj) - strlen(subj), "/OU=u%d", i);
	snprintf(subj + strlen(subj), sizeof(subj) - strlen(subj), "/CN=www.acme.example");
	c = make_csr(subj);
	CHECK_INT(testca_load(&t, fix_ca_dir(), "ec-p256"), 0);
	subject_default(&t.ca.subject);
	t.ca.subject.fixed[NA_O] = (char *)"Acme Corp";
	t.ca.subject.fixed[NA_L] = (char *)"Paris";
	t.ca.subject.fixed[NA_ST] = (char *)"Ile-de-France";
	t.ca.subject.fixed[NA_C] = (char *)"FR";
	t.ca.subject.fixed[NA_EMAIL] = (char *)"pki@acme.example";
	t.ca.subject.fixed[NA_SERIAL] = (char *)"42";
	x = issue_x509(&t.ca, c);
	CHECK_INT(X509_NAME_entry_count(X509_get_subject_name(x)), CSR_MAX_ATTRS + 6);
	X509_free(x);
	testca_free(&t);
	csr_free(c);
}
