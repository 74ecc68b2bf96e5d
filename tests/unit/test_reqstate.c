/* Request states: the name table, the edge matrix, the typed record's fields. */
#include <stdlib.h>

#include "reqstate.h"
#include "store.h"
#include "test.h"

TEST(reqstate_names_round_trip)
{
	int st;

	for (st = REQ_NONE + 1; st < REQ_NSTATE; st++) {
		CHECK(req_state_name((enum req_state)st)[0] != '\0');
		CHECK_INT(req_state_parse(req_state_name((enum req_state)st)), st);
	}
	CHECK_STR(req_state_name(REQ_PENDING), "pending_approval");
	CHECK_STR(req_state_name(REQ_NONE), "");
	CHECK_STR(req_state_name(REQ_NSTATE), "");
	CHECK_INT(req_state_parse("pending"), REQ_NONE);
	CHECK_INT(req_state_parse(""), REQ_NONE);
	CHECK_INT(req_state_parse(NULL), REQ_NONE);
}

/* The graph of DESIGN.md and docs/gateway.md, edge by edge; every other pair is refused. */
TEST(reqstate_edges_are_the_diagram)
{
	static const enum req_state edges[][2] = {
	    {REQ_RECEIVED, REQ_QUEUED},  {REQ_RECEIVED, REQ_PENDING}, {REQ_RECEIVED, REQ_FAILED},
	    {REQ_PENDING, REQ_APPROVED}, {REQ_PENDING, REQ_REJECTED}, {REQ_PENDING, REQ_EXPIRED},
	    {REQ_PENDING, REQ_FAILED},   {REQ_APPROVED, REQ_QUEUED},  {REQ_APPROVED, REQ_FAILED},
	    {REQ_QUEUED, REQ_ISSUING},   {REQ_QUEUED, REQ_FAILED},    {REQ_QUEUED, REQ_PENDING},
	    {REQ_ISSUING, REQ_ISSUED},   {REQ_ISSUING, REQ_FAILED},
	};
	size_t i, n = sizeof(edges) / sizeof(edges[0]), allowed = 0;
	int from, to;

	for (i = 0; i < n; i++)
		CHECK(req_state_allowed(edges[i][0], edges[i][1]));
	for (from = 0; from < REQ_NSTATE; from++)
		for (to = 0; to < REQ_NSTATE; to++)
			allowed +=
			    (size_t)req_state_allowed((enum req_state)from, (enum req_state)to);
	CHECK_INT(allowed, n);
	CHECK(!req_state_allowed(REQ_NSTATE, REQ_FAILED));
	for (from = REQ_NONE + 1; from < REQ_NSTATE; from++) /* nothing leaves an end */
		for (to = 0; to < REQ_NSTATE; to++)
			CHECK(!req_state_terminal((enum req_state)from) ||
			      !req_state_allowed((enum req_state)from, (enum req_state)to));
	CHECK(req_state_terminal(REQ_ISSUED) && req_state_terminal(REQ_FAILED) &&
	      req_state_terminal(REQ_REJECTED) && req_state_terminal(REQ_EXPIRED));
	CHECK(!req_state_terminal(REQ_PENDING) && !req_state_terminal(REQ_ISSUING) &&
	      !req_state_terminal(REQ_NONE));
}

/* The hash text of each kind of field becomes the member's type; bad text changes nothing. */
TEST(reqstate_record_fields_typed)
{
	struct req_record *rec = calloc(1, sizeof(*rec));

	CHECK(rec != NULL);
	CHECK_INT(req_record_set(rec, "state", "issuing"), 0);
	CHECK_INT(rec->state, REQ_ISSUING);
	CHECK_INT(req_record_set(rec, "validity_days", "397"), 0);
	CHECK_INT(rec->validity_days, 397);
	CHECK_INT(req_record_set(rec, "not_after", "4102444800"), 0);
	CHECK_INT(rec->not_after, 4102444800LL);
	CHECK_INT(req_record_set(rec, "published", "1"), 0);
	CHECK_INT(rec->published, 1);
	CHECK_INT(req_record_set(rec, "common_name", "www.acme.example"), 0);
	CHECK_STR(rec->common_name, "www.acme.example");
	CHECK_INT(req_record_set(rec, "key_bits", "2048x"), -1);
	CHECK_INT(rec->key_bits, 0);
	CHECK_INT(req_record_set(rec, "state", "pending"), -1);
	CHECK_INT(rec->state, REQ_ISSUING);
	CHECK_INT(req_record_set(rec, "no_such_field", "1"), -1);
	CHECK_INT(req_record_set(rec, "validity_days", NULL), 0);
	CHECK_INT(rec->validity_days, 0);
	req_record_free(rec);
}
