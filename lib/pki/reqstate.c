#include "reqstate.h"

#include <string.h>

/* The name of each state, indexed by enum req_state. */
static const char *const req_state_names[REQ_NSTATE] = {
    [REQ_NONE] = "",
    [REQ_RECEIVED] = "received",
    [REQ_QUEUED] = "queued",
    [REQ_PENDING] = "pending_approval",
    [REQ_APPROVED] = "approved",
    [REQ_REJECTED] = "rejected",
    [REQ_EXPIRED] = "expired",
    [REQ_ISSUING] = "issuing",
    [REQ_ISSUED] = "issued",
    [REQ_FAILED] = "failed",
};

/*
 * The state graph (DESIGN.md), forward only: store_edge[from][to] is 1 when
 * the move is allowed. Besides the diagram's edges, a request can fail from
 * every state before issued (a producer that cannot publish it, a refusal
 * found after intake), and a queued request whose CA now needs approval
 * goes back to pending_approval (the approver's intake).
 */
static const unsigned char store_edge[REQ_NSTATE][REQ_NSTATE] = {
    [REQ_RECEIVED] = {[REQ_QUEUED] = 1, [REQ_PENDING] = 1, [REQ_FAILED] = 1},
    [REQ_PENDING] = {[REQ_APPROVED] = 1, [REQ_REJECTED] = 1, [REQ_EXPIRED] = 1, [REQ_FAILED] = 1},
    [REQ_APPROVED] = {[REQ_QUEUED] = 1, [REQ_FAILED] = 1},
    [REQ_QUEUED] = {[REQ_ISSUING] = 1, [REQ_FAILED] = 1, [REQ_PENDING] = 1},
    [REQ_ISSUING] = {[REQ_ISSUED] = 1, [REQ_FAILED] = 1},
};

const char *
req_state_name(enum req_state st)
{
	return st > REQ_NONE && st < REQ_NSTATE ? req_state_names[st] : "";
}

enum req_state
req_state_parse(const char *name)
{
	int i;

	for (i = REQ_NONE + 1; name != NULL && i < REQ_NSTATE; i++)
		if (strcmp(req_state_names[i], name) == 0)
			return (enum req_state)i;
	return REQ_NONE;
}

int
req_state_terminal(enum req_state st)
{
	return st == REQ_ISSUED || st == REQ_FAILED || st == REQ_REJECTED || st == REQ_EXPIRED;
}

int
req_state_allowed(enum req_state from, enum req_state to)
{
	return from > REQ_NONE && from < REQ_NSTATE && to > REQ_NONE && to < REQ_NSTATE &&
	       store_edge[from][to];
}
