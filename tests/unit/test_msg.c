/* Issue-request messages and approval grants: round trips, refusals, tampering. */
#include <stdlib.h>

#include "config.h"
#include "issue.h"
#include "msg.h"
#include "test.h"

static const unsigned char key[32] = "0123456789abcdef0123456789abcdef";
static const char csr[] = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE "
			  "REQUEST-----\n";

static struct issue_msg
sample(void)
{
	struct issue_msg m = {0};

	m.request_id = "0f8e2c1a-1111-4222-8333-444455556666";
	m.csr = (char *)csr;
	m.common_name = "www.acme.example";
	m.validity_days = 90;
	m.ca_id = "acme-issuing";
	m.extensions = EXT_SERVER_AUTH | EXT_CLIENT_AUTH;
	m.purpose = "tls";
	m.tenant = "acme";
	m.requester = "alice";
	m.email = "alice@acme.example";
	m.client_ip = "127.0.0.1";
	m.submitted_at = 1700000000;
	return m;
}

TEST(msg_issue_round_trip)
{
	struct issue_msg m = sample(), *d = NULL;
	char err[MSG_ERR_MAX], *s;

	CHECK_INT(grant_sign(key, sizeof(key), &m, 1700086400), 0);
	CHECK((s = msg_issue_encode(&m)) != NULL);
	if (msg_issue_decode(s, strlen(s), &d, err) != 0)
		test_fail(__FILE__, __LINE__, "decode: %s", err);
	CHECK_STR(d->request_id, m.request_id);
	CHECK_STR(d->csr, csr);
	CHECK_STR(d->common_name, m.common_name);
	CHECK_INT(d->validity_days, 90);
	CHECK_STR(d->ca_id, "acme-issuing");
	CHECK_INT(d->extensions, EXT_SERVER_AUTH | EXT_CLIENT_AUTH);
	CHECK_STR(d->purpose, "tls");
	CHECK_STR(d->tenant, "acme");
	CHECK_STR(d->requester, "alice");
	CHECK_STR(d->email, "alice@acme.example");
	CHECK_STR(d->client_ip, "127.0.0.1");
	CHECK(d->batch_id == NULL);
	CHECK_INT(d->submitted_at, 1700000000);
	CHECK_INT(d->has_grant, 1);
	CHECK_STR(d->grant.mac, m.grant.mac);
	CHECK_INT(grant_verify(key, sizeof(key), d, d->ca_id, 1700000001, NULL), 1);
	msg_issue_free(d);
	free(s);
}

TEST(msg_issue_minimal_bulk)
{
	const char *s =
	    "{\"v\":1,\"request_id\":\"b-1\",\"csr\":\"x\",\"common_name\":\"a.example\","
	    "\"validity_days\":30,\"tenant\":\"acme\",\"requester\":\"bulk\","
	    "\"batch_id\":\"batch-7\",\"submitted_at\":0}";
	struct issue_msg *d = NULL;
	char err[MSG_ERR_MAX];

	if (msg_issue_decode(s, strlen(s), &d, err) != 0)
		test_fail(__FILE__, __LINE__, "decode: %s", err);
	CHECK(d->ca_id == NULL);
	CHECK_INT(d->extensions, 0);
	CHECK_INT(d->has_grant, 0);
	CHECK_STR(d->batch_id, "batch-7");
	msg_issue_free(d);
}

TEST(msg_issue_refusals)
{
	static const struct {
		const char *json, *want;
	} t[] = {
	    {"not json", "not valid JSON"},
	    {"[1]", "must be a JSON object"},
	    {"{\"v\":2}", "v: must be an integer 1..1, got 2"},
	    {"{\"v\":1,\"zzz\":1}", "zzz: unknown key"},
	    {"{\"v\":1,\"csr\":\"x\"}", "request_id: missing required key"},
	    {"{\"v\":1,\"request_id\":\"a b\"}", "request_id: must be 1..63 characters"},
	    {"{\"v\":1,\"request_id\":\"r\",\"csr\":\"x\",\"common_name\":\"c\",\"tenant\":\"t\","
	     "\"requester\":\"u\",\"submitted_at\":1,\"validity_days\":0}",
	     "validity_days: must be an integer 1..3650, got 0"},
	    {"{\"v\":1,\"request_id\":\"r\",\"csr\":\"x\",\"common_name\":\"c\",\"tenant\":\"t\","
	     "\"requester\":\"u\",\"submitted_at\":1,\"validity_days\":1.5}",
	     "validity_days: must be an integer"},
	    {"{\"v\":1,\"request_id\":\"r\",\"csr\":\"x\",\"common_name\":\"c\",\"tenant\":\"t\","
	     "\"requester\":\"u\",\"submitted_at\":1,\"validity_days\":3,\"extensions\":[\"ca\"]}",
	     "extensions[0]: must be one of server_auth, client_auth, email_protection, code_signing, "
	     "got \"ca\""},
	    {"{\"v\":1,\"request_id\":\"r\",\"csr\":\"x\",\"common_name\":\"c\",\"tenant\":\"t\","
	     "\"requester\":\"u\",\"submitted_at\":1,\"validity_days\":3,\"grant\":{}}",
	     "grant.request_id: missing required key"},
	    {"{\"v\":1,\"request_id\":\"r\",\"csr\":\"x\",\"common_name\":\"c\",\"tenant\":\"t\","
	     "\"requester\":\"u\",\"submitted_at\":1,\"validity_days\":3,\"grant\":{\"request_id\":"
	     "\"r\",\"ca_id\":\"c\",\"request_sha256\":\"AB\",\"mac\":\"x\",\"expires_at\":1}}",
	     "grant.request_sha256: must be 64 lowercase hex digits"},
	    {"{\"v\":1,\"request_id\":\"r\",\"csr\":\"x\",\"common_name\":\"c\",\"tenant\":\"t\","
	     "\"requester\":\"u\",\"submitted_at\":1,\"validity_days\":3,\"grant\":{\"request_id\":"
	     "\"r\",\"ca_id\":\"c\",\"csr_sha256\":\"AB\",\"mac\":\"x\",\"expires_at\":1}}",
	     "grant.csr_sha256: unknown key"},
	    {"{\"v\":1,\"request_id\":\"r\",\"csr\":\"\",\"common_name\":\"c\"}",
	     "csr: length must be 1..65536, got 0"},
	    {"{\"v\":1,\"request_id\":\"r\",\"csr\":\"x\",\"common_name\":7}",
	     "common_name: must be a string"},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct issue_msg *d = NULL;
		char err[MSG_ERR_MAX] = "";

		if (msg_issue_decode(t[i].json, strlen(t[i].json), &d, err) == 0 ||
		    strstr(err, t[i].want) == NULL)
			test_fail(__FILE__, __LINE__, "case %zu: got \"%s\", want \"%s\"", i, err,
				  t[i].want);
		CHECK(d == NULL);
	}
}

/* m with one shaping field changed: each must break the grant. */
enum grant_field {
	GF_REQUEST,
	GF_CSR,
	GF_CN,
	GF_VALIDITY,
	GF_CA,
	GF_EXTENSIONS,
	GF_PURPOSE,
	GF_NO_PURPOSE,
	GF_TENANT,
	GF_REQUESTER,
	GF_BATCH,
	GF_N
};

static struct issue_msg
grant_altered(struct issue_msg m, enum grant_field f)
{
	m.csr_sha256[0] = '\0'; /* the cached hash follows the CSR */
	switch (f) {
	case GF_REQUEST:
		m.request_id = "req-2";
		break;
	case GF_CSR:
		m.csr = "-----BEGIN CERTIFICATE REQUEST-----\nother\n";
		break;
	case GF_CN:
		m.common_name = "other.acme.example";
		break;
	case GF_VALIDITY:
		m.validity_days++;
		break;
	case GF_CA:
		m.ca_id = "acme-issuing";
		break;
	case GF_EXTENSIONS:
		m.extensions = EXT_SERVER_AUTH;
		break;
	case GF_PURPOSE:
		m.purpose = "email";
		break;
	case GF_NO_PURPOSE:
		m.purpose = NULL;
		break;
	case GF_TENANT:
		m.tenant = "globex";
		break;
	case GF_REQUESTER:
		m.requester = "bob";
		break;
	case GF_BATCH:
		m.batch_id = "batch-1";
		break;
	case GF_N:
		break;
	}
	return m;
}

TEST(grant_tampering_detected)
{
	struct issue_msg m = sample(), t;
	char why[MSG_ERR_MAX];
	unsigned char other[32];
	int f;

	m.ca_id = "acme-approval";
	memcpy(other, key, sizeof(other));
	other[0] ^= 1;
	CHECK_INT(grant_sign(key, sizeof(key), &m, 2000), 0);
	CHECK_INT(m.has_grant, 1);
	CHECK_INT(grant_verify(key, sizeof(key), &m, "acme-approval", 1999, why), 1);
	/* Every shaping field, the CA signed with, the key and the clock. */
	for (f = 0; f < GF_N; f++) {
		t = grant_altered(m, (enum grant_field)f);
		if (grant_verify(key, sizeof(key), &t, "acme-approval", 1999, why) != 0)
			test_fail(__FILE__, __LINE__, "field %d changed: grant still verifies", f);
	}
	t = grant_altered(m, GF_VALIDITY);
	CHECK_INT(grant_verify(key, sizeof(key), &t, "acme-approval", 1999, why), 0);
	CHECK(strstr(why, "grant: made for other request fields") != NULL);
	t = grant_altered(m, GF_REQUEST);
	CHECK_INT(grant_verify(key, sizeof(key), &t, "acme-approval", 1999, why), 0);
	CHECK_STR(why, "grant: made for another request");
	CHECK_INT(grant_verify(key, sizeof(key), &m, "acme-issuing", 1999, why), 0);
	CHECK_STR(why, "grant: made for another CA");
	CHECK_INT(grant_verify(key, sizeof(key), &m, "acme-approval", 2000, why), 0);
	CHECK_STR(why, "grant: expired");
	CHECK_INT(grant_verify(other, sizeof(other), &m, "acme-approval", 1999, why), 0);
	CHECK_STR(why, "grant: MAC does not verify");
	/* Edited grant fields break the MAC even when the request matches them. */
	t = m;
	t.grant.expires_at = 999999;
	CHECK_INT(grant_verify(key, sizeof(key), &t, "acme-approval", 1999, why), 0);
	CHECK_STR(why, "grant: MAC does not verify");
	t = m;
	snprintf(t.grant.request_sha256, sizeof(t.grant.request_sha256), "%064d", 0);
	CHECK_INT(grant_verify(key, sizeof(key), &t, "acme-approval", 1999, why), 0);
	CHECK_STR(why, "grant: MAC does not verify");
	t = m;
	t.grant.mac[10] = t.grant.mac[10] == 'a' ? 'b' : 'a';
	CHECK_INT(grant_verify(key, sizeof(key), &t, "acme-approval", 1999, why), 0);
	t = m;
	t.grant.mac[0] = '\0';
	CHECK_INT(grant_verify(key, sizeof(key), &t, "acme-approval", 1999, why), 0);
	t = m;
	t.has_grant = 0;
	CHECK_INT(grant_verify(key, sizeof(key), &t, "acme-approval", 1999, why), 0);
	CHECK_STR(why, "grant: missing");
}

TEST(msg_approval_round_trip)
{
	struct issue_msg m = sample(), *d = NULL;
	char err[MSG_ERR_MAX], *reason = NULL, *pw = NULL, *s;

	CHECK((s = msg_approval_encode(&m, "approval_password_missing", NULL)) != NULL);
	if (msg_approval_decode(s, strlen(s), &d, &reason, &pw, err) != 0)
		test_fail(__FILE__, __LINE__, "decode: %s", err);
	CHECK_STR(reason, "approval_password_missing");
	CHECK_STR(d->request_id, m.request_id);
	CHECK_INT(d->has_grant, 0);
	CHECK(pw == NULL);
	msg_issue_free(d);
	free(reason);
	free(s);
	/* The password rides in the envelope, never in the request itself. */
	CHECK((s = msg_approval_encode(&m, "approval_password_given", "open sesame")) != NULL);
	if (msg_approval_decode(s, strlen(s), &d, &reason, &pw, err) != 0)
		test_fail(__FILE__, __LINE__, "decode: %s", err);
	CHECK_STR(pw, "open sesame");
	CHECK_INT(d->has_grant, 0);
	CHECK(strstr(s, "\"approval_password\":\"open sesame\"") != NULL);
	CHECK(strstr(s, "sesame") == strstr(s, "open sesame") + 5); /* once, in the envelope */
	msg_issue_free(d);
	free(reason);
	free(pw);
	free(s);
	s = "{\"v\":1,\"reason\":\"x\",\"approval_password\":\"\",\"request\":{}}";
	CHECK_INT(msg_approval_decode(s, strlen(s), &d, &reason, &pw, err), -1);
	CHECK_STR(err, "approval_password: length must be 1..256, got 0");
	CHECK_INT(msg_approval_decode("{\"v\":1,\"reason\":\"x\",\"request\":{\"v\":1}}", 38, &d,
				      &reason, &pw, err),
		  -1);
	CHECK(strstr(err, "request.request_id: missing required key") != NULL);
}

TEST(msg_result_and_issued_shapes)
{
	struct msg_result rr = {.request_id = "req-1",
				.status = REQ_FAILED,
				.ca_id = "acme-issuing",
				.code = "key_too_small",
				.message = "RSA 1024 < 2048"};
	struct msg_issued ii = {.serial = "0a1b",
				.ca_id = "acme-issuing",
				.request_id = "req-1",
				.tenant = "acme",
				.requester = "alice",
				.subject = "CN=x",
				.not_before = 1,
				.not_after = 2,
				.certificate = "PEM"};
	char *r = msg_result_encode(&rr);
	char *i = msg_issued_encode(&ii);

	CHECK(r != NULL && i != NULL);
	CHECK(strstr(r, "\"status\":\"failed\"") != NULL);
	CHECK(strstr(r, "\"code\":\"key_too_small\"") != NULL);
	CHECK(strstr(r, "\"serial\"") == NULL);
	CHECK(strstr(i, "\"serial\":\"0a1b\"") != NULL);
	CHECK(strstr(i, "\"not_after\":2") != NULL);
	free(r);
	free(i);
}

/* The outcomes are written without cJSON: the same text as cJSON prints. */
TEST(msg_result_as_cjson_prints_it)
{
	struct msg_result rr = {.request_id = "req-1",
				.status = REQ_ISSUED,
				.ca_id = "acme-issuing",
				.batch_id = "b\"1\\",
				.serial = "0a1b",
				.certificate = "-----BEGIN CERTIFICATE-----\nMII=\n\t\x01\n",
				.chain = "-----BEGIN CERTIFICATE-----\nMIJ=\n"};
	char *r = msg_result_encode(&rr), *want;
	cJSON *o = cJSON_Parse(r), *t;

	CHECK(o != NULL);
	/* Rebuilt by cJSON in the same order with the same time: printed alike. */
	t = cJSON_CreateObject();
	cJSON_AddNumberToObject(t, "v", 1);
	cJSON_AddStringToObject(t, "request_id", rr.request_id);
	cJSON_AddStringToObject(t, "status", "issued");
	cJSON_AddStringToObject(t, "ca_id", rr.ca_id);
	cJSON_AddStringToObject(t, "batch_id", rr.batch_id);
	cJSON_AddStringToObject(t, "serial", rr.serial);
	cJSON_AddStringToObject(t, "certificate", rr.certificate);
	cJSON_AddStringToObject(t, "chain", rr.chain);
	cJSON_AddNumberToObject(t, "time", cJSON_GetNumberValue(cJSON_GetObjectItem(o, "time")));
	want = cJSON_PrintUnformatted(t);
	CHECK(want != NULL && strcmp(r, want) == 0);
	cJSON_free(want);
	cJSON_Delete(t);
	cJSON_Delete(o);
	free(r);
}
