/*
 * libFuzzer target over every Kafka message the services decode: the input
 * is one message value, given to each decoder in turn (the worker's issue
 * and bulk decoders, its request-only reading of a bulk message with a
 * broken auth member, the approver's approval decoder). Whatever a decoder
 * accepts must survive its encoder: decode(encode(m)) is accepted and
 * encodes to the same text. Accepted grants and bulk signatures are checked
 * against a fixed key (a forgery that passes aborts).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulk.h"
#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The key of the seeds' grants and bulk signatures (tests/fuzz/corpus/kafka). */
static const unsigned char fuzz_key[BULK_SECRET_BYTES] = "fuzz-kafka-key-0123456789abcdef";
#define FUZZ_NOW 1800000000 /* before the seeds' grants expire */

static void
fuzz_fail(const char *what, const char *text)
{
	fprintf(stderr, "kafka: %s: %.300s\n", what, text != NULL ? text : "(null)");
	abort();
}

/* enc (consumed) must decode, with dec, to a message that encodes to enc again. */
static void
fuzz_roundtrip(const char *what, char *enc,
	       char *(*dec_enc)(const char *text, size_t len, char *err))
{
	char err[MSG_ERR_MAX], *again;

	if (enc == NULL)
		fuzz_fail(what, "encoder returned NULL");
	if ((again = dec_enc(enc, strlen(enc), err)) == NULL)
		fuzz_fail(err, enc);
	if (strcmp(enc, again) != 0)
		fuzz_fail(what, again);
	free(again);
	free(enc);
}

static char *
issue_again(const char *text, size_t len, char *err)
{
	struct issue_msg *m = NULL;
	char *s;

	if (msg_issue_decode(text, len, &m, err) != 0)
		return NULL;
	s = msg_issue_encode(m);
	msg_issue_free(m);
	return s;
}

static char *
approval_again(const char *text, size_t len, char *err)
{
	struct issue_msg *m = NULL;
	char *reason = NULL, *password = NULL, *s;

	if (msg_approval_decode(text, len, &m, &reason, &password, err) != 0)
		return NULL;
	s = msg_approval_encode(m, reason, password);
	msg_issue_free(m);
	free(reason);
	free(password);
	return s;
}

static char *
bulk_again(const char *text, size_t len, char *err)
{
	struct issue_msg *m = NULL;
	struct bulk_auth a;
	char *s;

	if (bulk_decode(text, len, &m, &a, err) != 0)
		return NULL;
	s = bulk_encode(m, &a);
	msg_issue_free(m);
	return s;
}

static void
fuzz_issue_msg(const uint8_t *data, size_t size)
{
	struct issue_msg *m = NULL;
	char err[MSG_ERR_MAX] = "", why[MSG_ERR_MAX];
	const char *ca;

	if (msg_issue_decode(data, size, &m, err) != 0) {
		if (err[0] == '\0')
			fuzz_fail("issue: refused without a reason", NULL);
		return;
	}
	ca = m->ca_id != NULL ? m->ca_id : "";
	if (m->has_grant && m->ca_id != NULL &&
	    grant_verify(fuzz_key, sizeof(fuzz_key), m, ca, FUZZ_NOW, why) == 1) {
		/* Accepted: it must be exactly the grant the key makes for this request. */
		struct grant g = m->grant;

		if (grant_sign(fuzz_key, sizeof(fuzz_key), m, g.expires_at) != 0 ||
		    strcmp(g.mac, m->grant.mac) != 0)
			fuzz_fail("issue: grant accepted but not the key's", m->request_id);
		m->grant = g;
	}
	fuzz_roundtrip("issue: decode(encode(m)) differs", msg_issue_encode(m), issue_again);
	msg_issue_free(m);
}

static void
fuzz_approval_msg(const uint8_t *data, size_t size)
{
	struct issue_msg *m = NULL;
	char err[MSG_ERR_MAX], *reason = NULL, *password = NULL;

	if (msg_approval_decode(data, size, &m, &reason, &password, err) != 0)
		return;
	fuzz_roundtrip("approval: decode(encode(m)) differs",
		       msg_approval_encode(m, reason, password), approval_again);
	msg_issue_free(m);
	free(reason);
	free(password);
}

static void
fuzz_bulk_msg(const uint8_t *data, size_t size)
{
	static const char *const extra[] = {"auth", NULL};
	struct issue_msg *m = NULL, *again = NULL;
	struct bulk_auth a, a2;
	char err[MSG_ERR_MAX];
	cJSON *o;

	memset(&a, 0, sizeof(a));
	if (bulk_decode(data, size, &m, &a, err) != 0) {
		/* The worker's second reading: the request alone, to refuse it by its id. */
		if ((o = msg_parse(data, size, err)) != NULL) {
			if (msg_bulk_from_json(o, extra, &again, err) == 0)
				msg_issue_free(again);
			cJSON_Delete(o);
		}
		return;
	}
	if (bulk_verify(fuzz_key, m, &a)) {
		if (bulk_sign(fuzz_key, a.key_id, m, &a2) != 0 || strcmp(a.sig, a2.sig) != 0)
			fuzz_fail("bulk: signature accepted but not the key's", a.sig);
	}
	fuzz_roundtrip("bulk: decode(encode(m)) differs", bulk_encode(m, &a), bulk_again);
	msg_issue_free(m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_issue_msg(data, size);
	fuzz_approval_msg(data, size);
	fuzz_bulk_msg(data, size);
	return 0;
}
