/* Signed bulk messages: a fixed vector, round trips, tampering, malformed auth. */
#include <stdlib.h>

#include "bulk.h"
#include "config.h"
#include "msg.h"
#include "test.h"

static const unsigned char secret[BULK_SECRET_BYTES] = "0123456789abcdef0123456789abcdef";
static const char csr[] = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE "
			  "REQUEST-----\n";

static struct issue_msg
sample(void)
{
	struct issue_msg m = {0};

	m.request_id = "b0123456789abcdef0123456789abcdef";
	m.batch_id = "batch-1";
	m.batch_size = 2;
	m.csr = (char *)csr;
	m.common_name = "www.acme.example";
	m.validity_days = 90;
	m.extensions = EXT_CLIENT_AUTH | EXT_SERVER_AUTH;
	return m;
}

/* Computed apart, with Python's hmac module over the canonical form of bulk.h. */
TEST(bulk_sign_vector)
{
	struct issue_msg m = sample();
	struct bulk_auth a;

	CHECK_INT(bulk_sign(secret, "bk-alice-1", &m, &a), 0);
	CHECK_STR(a.sig, "27dc173015926f64ab3d3f876109b93891de472ed26d602f154b9d3c6938afeb");
	CHECK_STR(a.key_id, "bk-alice-1");
}

TEST(bulk_round_trip_and_tampering)
{
	struct issue_msg m = sample(), *d = NULL;
	struct bulk_auth a, da;
	char err[MSG_ERR_MAX], *s;

	CHECK_INT(bulk_sign(secret, "bk-alice-1", &m, &a), 0);
	CHECK((s = bulk_encode(&m, &a)) != NULL);
	if (bulk_decode(s, strlen(s), &d, &da, err) != 0)
		test_fail(__FILE__, __LINE__, "decode: %s", err);
	CHECK_STR(da.key_id, "bk-alice-1");
	CHECK_INT(bulk_verify(secret, d, &da), 1);
	CHECK(d->tenant == NULL && d->requester == NULL);
	CHECK_INT(d->batch_size, 2);
	/* Any field changed after signing breaks the signature. */
	free(d->common_name);
	d->common_name = strdup("www.globex.example");
	CHECK_INT(bulk_verify(secret, d, &da), 0);
	msg_issue_free(d);
	free(s);

	m.requester = "bob";
	CHECK_INT(bulk_verify(secret, &m, &a), 0);
	m.requester = NULL;
	m.validity_days = 91;
	CHECK_INT(bulk_verify(secret, &m, &a), 0);
	m.validity_days = 90;
	CHECK_INT(bulk_verify(secret, &m, &a), 1);
	snprintf(a.key_id, sizeof(a.key_id), "bk-bob-1");
	CHECK_INT(bulk_verify(secret, &m, &a), 0);
}

TEST(bulk_decode_refusals)
{
	static const struct {
		const char *json, *err;
	} t[] = {
	    {"{\"v\":1,\"request_id\":\"r1\",\"csr\":\"x\",\"common_name\":\"a\",\"validity_days\":1}",
	     "auth: missing required key"},
	    {"{\"v\":1,\"request_id\":\"r1\",\"csr\":\"x\",\"common_name\":\"a\",\"validity_days\":1,"
	     "\"auth\":{\"key_id\":\"k\",\"alg\":\"HMAC-SHA1\",\"sig\":\"00\"}}",
	     "auth.alg: must be \"HMAC-SHA256\", got \"HMAC-SHA1\""},
	    {"{\"v\":1,\"request_id\":\"r1\",\"csr\":\"x\",\"common_name\":\"a\",\"validity_days\":1,"
	     "\"auth\":{\"key_id\":\"k\",\"alg\":\"HMAC-SHA256\",\"sig\":\"00\"}}",
	     "auth.sig: must be 64 lowercase hex digits, got \"00\""},
	    {"{\"v\":1,\"request_id\":\"r1\",\"csr\":\"x\",\"common_name\":\"a\",\"validity_days\":1,"
	     "\"client_ip\":\"10.0.0.1\",\"auth\":{}}",
	     "client_ip: unknown key"},
	    {"{\"v\":1,\"request_id\":\"r1\",\"csr\":\"x\",\"common_name\":\"a\",\"validity_days\":1,"
	     "\"batch_size\":5,\"auth\":{}}",
	     "batch_size: only with batch_id"},
	};
	struct issue_msg *d = NULL;
	struct bulk_auth a;
	char err[MSG_ERR_MAX];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (bulk_decode(t[i].json, strlen(t[i].json), &d, &a, err) == 0)
			test_fail(__FILE__, __LINE__, "case %zu decoded", i);
		CHECK_STR(err, t[i].err);
		CHECK(d == NULL);
	}
}
