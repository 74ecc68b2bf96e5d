/*
 * The longest legal id of each kind (ids.h) through the Kafka messages: a
 * request, CA, tenant, user and batch id of ID_MAX characters decodes from
 * an issue, approval and bulk message; one of ID_MAX + 1 is refused by the
 * same rule, naming its field; the requester is a user name, an id too.
 * (Config and HTTP: tests/integration/test_ids.sh.)
 */
#include <stdlib.h>

#include "ids.h"
#include "msg.h"
#include "test.h"

static const unsigned char ids_key[32] = "0123456789abcdef0123456789abcdef";
static const char ids_csr[] = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE "
			      "REQUEST-----\n";

/* An id of n characters (n < ID_BUF + 1) starting with c into out. */
static char *
ids_make(char *out, char c, size_t n)
{
	memset(out, 'a', n);
	out[0] = c;
	out[n] = '\0';
	return out;
}

/* The id fields of an issue message; all follow the id rule. */
enum ids_field { IDS_REQUEST, IDS_CA, IDS_TENANT, IDS_BATCH, IDS_USER, IDS_NFIELD };
#define IDS_NRULED IDS_NFIELD /* the fields the decoder checks with the id rule */
static const char *const ids_names[IDS_NFIELD] = {"request_id", "ca_id", "tenant", "batch_id",
						  "requester"};

/* An issue message whose id fields are ids[] (each set by the caller). */
static struct issue_msg
ids_msg(char ids[IDS_NFIELD][ID_BUF + 1])
{
	struct issue_msg m = {0};

	m.request_id = ids[IDS_REQUEST];
	m.ca_id = ids[IDS_CA];
	m.tenant = ids[IDS_TENANT];
	m.requester = ids[IDS_USER];
	m.batch_id = ids[IDS_BATCH];
	m.csr = (char *)ids_csr;
	m.common_name = "www.acme.example";
	m.validity_days = 30;
	m.submitted_at = 1700000000;
	return m;
}

/* Fills ids with ID_MAX-character ids, a different first letter each. */
static void
ids_longest(char ids[IDS_NFIELD][ID_BUF + 1])
{
	size_t i;

	for (i = 0; i < IDS_NFIELD; i++)
		ids_make(ids[i], (char)('r' + i), ID_MAX);
}

TEST(ids_rule_bounds)
{
	char id[ID_BUF + 2];

	CHECK(id_valid(ids_make(id, 'a', ID_MAX)));
	CHECK(id_valid(ids_make(id, '7', 1)));
	CHECK(!id_valid(ids_make(id, 'a', ID_MAX + 1)));
	CHECK(!id_valid(ids_make(id, '.', ID_MAX)));
	CHECK(!id_valid(""));
	CHECK(id_valid_n(ids_make(id, 'a', ID_MAX + 1), ID_MAX));
	CHECK(!id_valid_n(id, ID_MAX + 1));
}

TEST(ids_longest_in_issue_and_approval_messages)
{
	char ids[IDS_NFIELD][ID_BUF + 1], err[MSG_ERR_MAX], *s, *a, *reason = NULL, *pw = NULL;
	struct issue_msg m, *d = NULL, *ad = NULL;

	ids_longest(ids);
	m = ids_msg(ids);
	CHECK_INT(grant_sign(ids_key, sizeof(ids_key), &m, 1700086400), 0);
	CHECK((s = msg_issue_encode(&m)) != NULL);
	if (msg_issue_decode(s, strlen(s), &d, err) != 0)
		test_fail(__FILE__, __LINE__, "issue: %s", err);
	CHECK_STR(d->request_id, ids[IDS_REQUEST]);
	CHECK_STR(d->ca_id, ids[IDS_CA]);
	CHECK_STR(d->tenant, ids[IDS_TENANT]);
	CHECK_STR(d->requester, ids[IDS_USER]);
	CHECK_STR(d->batch_id, ids[IDS_BATCH]);
	CHECK_STR(d->grant.request_id, ids[IDS_REQUEST]);
	CHECK_INT(grant_verify(ids_key, sizeof(ids_key), d, d->ca_id, 1700000001, NULL), 1);
	CHECK((a = msg_approval_encode(&m, "manual", NULL)) != NULL);
	if (msg_approval_decode(a, strlen(a), &ad, &reason, &pw, err) != 0)
		test_fail(__FILE__, __LINE__, "approval: %s", err);
	CHECK_STR(ad->request_id, ids[IDS_REQUEST]);
	CHECK_STR(ad->batch_id, ids[IDS_BATCH]);
	free(a);
	free(reason);
	free(s);
	msg_issue_free(ad);
	msg_issue_free(d);
}

/*
 * Decodes an issue message (bulk: a bulk message) whose field f is one
 * character too long; fails the test unless it is refused naming f and
 * the rule.
 */
static void
ids_refused(int bulk, size_t f)
{
	char ids[IDS_NFIELD][ID_BUF + 1], err[MSG_ERR_MAX] = "", want[MSG_ERR_MAX];
	struct issue_msg m, *d = NULL;
	cJSON *o;
	int rc;

	ids_longest(ids);
	ids_make(ids[f], 'x', ID_MAX + 1);
	m = ids_msg(ids);
	CHECK((o = msg_issue_to_json(&m)) != NULL);
	rc = bulk ? msg_bulk_from_json(o, NULL, &d, err) : msg_issue_from_json(o, &d, err);
	cJSON_Delete(o);
	CHECK_INT(rc, -1);
	CHECK(d == NULL);
	snprintf(want, sizeof(want), "%s: must be " ID_RULE, ids_names[f]);
	if (strstr(err, want) == NULL)
		test_fail(__FILE__, __LINE__, "%s %s: got \"%s\"", bulk ? "bulk" : "issue",
			  ids_names[f], err);
}

TEST(ids_one_too_long_refused_in_messages)
{
	char ids[IDS_NFIELD][ID_BUF + 1], err[MSG_ERR_MAX], *s;
	struct issue_msg m, *d = NULL;
	size_t f;

	for (f = 0; f < IDS_NRULED; f++) {
		ids_refused(0, f);
		ids_refused(1, f);
	}
	/* The same through the text decoder. */
	ids_longest(ids);
	ids_make(ids[IDS_REQUEST], 'x', ID_MAX + 1);
	m = ids_msg(ids);
	CHECK((s = msg_issue_encode(&m)) != NULL);
	CHECK_INT(msg_issue_decode(s, strlen(s), &d, err), -1);
	CHECK(strstr(err, "request_id: must be " ID_RULE) != NULL);
	free(s);
	ids_longest(ids);
	m = ids_msg(ids);
	m.request_id = ids_make(ids[IDS_REQUEST], 'x', ID_MAX + 1);
	CHECK_INT(grant_sign(ids_key, sizeof(ids_key), &m, 1700086400), -1);
}

TEST(ids_longest_in_bulk_messages)
{
	char ids[IDS_NFIELD][ID_BUF + 1], err[MSG_ERR_MAX];
	struct issue_msg m, *d = NULL;
	cJSON *o;

	ids_longest(ids);
	m = ids_msg(ids);
	CHECK((o = msg_issue_to_json(&m)) != NULL);
	if (msg_bulk_from_json(o, NULL, &d, err) != 0)
		test_fail(__FILE__, __LINE__, "bulk: %s", err);
	CHECK_STR(d->request_id, ids[IDS_REQUEST]);
	CHECK_STR(d->batch_id, ids[IDS_BATCH]);
	CHECK_STR(d->ca_id, ids[IDS_CA]);
	CHECK_STR(d->requester, ids[IDS_USER]);
	msg_issue_free(d);
	cJSON_Delete(o);
}
