/*
 * Request states (DESIGN.md "States"): the enum, the one table of their
 * names, and the state graph as data. Only the names travel (Redis hashes
 * and scripts, the API's JSON, the Kafka messages); code holds the enum.
 *
 *   received -> queued -> issuing -> issued | failed
 *   received -> pending_approval -> approved -> queued
 *   pending_approval -> rejected | expired
 *   and: failed from every state before issued; queued -> pending_approval
 */
#ifndef PKI_REQSTATE_H
#define PKI_REQSTATE_H

/*
 * The states of DESIGN.md. The names (req_state_name) are what Redis, the
 * JSON of the API and the Kafka messages carry; REQ_NONE stands for an
 * absent or unknown name and is never stored.
 */
enum req_state {
	REQ_NONE,
	REQ_RECEIVED,
	REQ_QUEUED,
	REQ_PENDING, /* "pending_approval" */
	REQ_APPROVED,
	REQ_REJECTED,
	REQ_EXPIRED,
	REQ_ISSUING,
	REQ_ISSUED,
	REQ_FAILED,
	REQ_NSTATE /* the number of the above */
};
#define REQ_NSTATES_REAL (REQ_NSTATE - 1) /* the real states (all but REQ_NONE) */

/* The name of st ("" for REQ_NONE or a value out of range). Never NULL. */
const char *req_state_name(enum req_state st);
/* The state named name; REQ_NONE when name is NULL or names none. */
enum req_state req_state_parse(const char *name);
/* 1 if st is issued, failed, rejected or expired. */
int req_state_terminal(enum req_state st);
/* 1 if from → to is an edge of the state graph (forward only). */
int req_state_allowed(enum req_state from, enum req_state to);

#endif
