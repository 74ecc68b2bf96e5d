/*
 * One message of the issue or submit topic on its way through a worker
 * (process.c), shared with the batched fast path (fast.c). Private to
 * workers/.
 */
#ifndef PKI_WORKER_JOB_H
#define PKI_WORKER_JOB_H

#include "admit.h"
#include "select.h"
#include "worker.h"

#define JOB_TEXT_MAX 1024
#define JOB_DETAIL_MAX (JOB_TEXT_MAX + 64)
#define JOB_EXTS_MAX 128 /* the extension names, comma-separated */

/* What a step decided. */
enum step {
	STEP_DONE,    /* nothing more to do for this message */
	STEP_ABANDON, /* stopping mid-way: do not store the offset */
	STEP_AGAIN,   /* the state moved: look at it again */
};

struct job {
	struct worker_thread *t;
	struct worker *w;
	const struct config *cfg;
	const struct store *s;
	const struct kafka_msg *km;
	struct issue_msg *m;
	const struct user *user; /* the requester from the config (worker_decode); NULL: unknown */
	const struct ca *ca;
	struct csr *csr;
	struct violations *vs; /* policy violations of the message, found before any write */
	char reason[SELECT_REASON_MAX]; /* why this CA */
	char csr_hash[65];
	enum req_state state; /* the record's state as last seen */
	char claim[WORKER_CLAIM_MAX];
	int claimed;  /* this attempt holds the claim */
	int grant_ok; /* the message carries a valid grant for this request, CA and CSR */
	char grant_why[MSG_ERR_MAX];
	const char *tenant;         /* admission's (in the config) */
	struct subject_notes notes; /* admission's: the subject to be issued, its warnings */
	struct issued *is;          /* once signed (job_make) */
	char *subject, *sans;       /* of the certificate signed (certinfo_read); may be NULL */
	char exts[JOB_EXTS_MAX];    /* job_record's extension names */
};

/* What job_announce publishes of a finished request. */
struct job_outcome {
	const char *id, *ca_id, *batch_id;
	enum req_state state; /* issued or failed */
	const char *serial, *certificate, *chain, *tenant, *requester, *subject; /* issued */
	long long not_before, not_after;                                         /* issued */
	const char *error_code, *error_message;                                  /* failed */
};

/*
 * Decodes km and checks it against the policy (admission, grant) into j,
 * writing nothing. Returns 1 when j is ready to run; 0 when the message is
 * finished already (dead letter, refused bulk message) or cannot be, with
 * *res saying which. job_close(j) either way.
 */
int job_open(struct worker_thread *t, const struct kafka_msg *km, struct job *j,
	     enum process_result *res);

/* Loads (or creates) j's record, then job_continue. */
enum process_result job_run(struct job *j);

/* Moves j on from j->state (and j->claimed) until its message is done. */
enum process_result job_continue(struct job *j);

/* Frees what j holds. */
void job_close(struct job *j);

/*
 * The record of j's request as the worker makes it when no gateway did
 * (state received): into *rec, borrowing j's strings but for rec->sans and
 * rec->warnings (caller frees both). 0, or -1 without memory.
 */
int job_record(struct job *j, struct req_record *rec);

/* One audit event of j's request (actor NULL: the worker). */
void job_audit(struct job *j, const char *event, const char *actor, const char *detail);
/* The same, logged at debug level only when quiet (audit_event.quiet). */
void job_audit_ex(struct job *j, const char *event, const char *actor, const char *detail,
		  int quiet);

/*
 * Signs j's CSR under j's claim: the serial reserved in Redis first when
 * reserve, else left to the script that stores the certificate
 * (store_finish_each). 0 with j->is, j->subject and j->sans; -1 with *st
 * when the request failed (published) or the worker is stopping.
 */
int job_make(struct job *j, int reserve, enum step *st);

/* The record fields of j's certificate into *set, borrowing from j. */
void job_cert_fields(const struct job *j, struct req_record *set);

/* Logs that j's certificate was not stored (rc and cur from the store). */
void job_discarded(const struct job *j, int rc, enum req_state cur);

/* j's certificate is stored: audits it and publishes the outcome. */
enum step job_issued(struct job *j);

#endif
