/*
 * The batched path of a worker thread (worker.h, "Batches"): the requests of
 * one fetch that need nothing but issuing go through each stage together,
 * so that Redis sees one round trip per stage for all of them instead of
 * several per request:
 *
 *   1. decode and admission (CPU only);
 *   2. one round trip: each record made as issuing under a fresh claim, or
 *      claimed from queued or received (store_admit_each);
 *   3. signing (CPU only; the serial is reserved in step 4's script);
 *   4. one round trip: each certificate stored with its serial reserved and
 *      the claim checked (store_finish_each);
 *   5. the outcomes sent into the thread's Kafka batch (worker.c waits for
 *      all of them once, marks the records published, stores the offsets).
 *
 * Each round trip of steps 2 and 4 is one script call for the whole batch,
 * so that Redis runs one script, and moves each batch's counts once, per
 * stage instead of per request.
 *
 * Everything else (a bad or refused message, a policy failure, a manual
 * approval, a record in any other state, a request whose record or claim
 * disagrees) goes through the step-by-step state machine of process.c,
 * which handles every case; those found at step 2 or 4 run after the batch's
 * own, so that a second copy of a request in the same fetch finds the first
 * one finished instead of waiting for its claim.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "job.h"
#include "log.h"

/* Where a request of the batch is. */
enum fast_state {
	FAST_OUT,     /* finished, or handled by the state machine */
	FAST_ADMIT,   /* to be made or claimed (step 2) */
	FAST_SIGN,    /* claimed: to be signed (step 3) */
	FAST_STORE,   /* signed: to be stored (step 4) */
	FAST_LATER,   /* for the state machine once the batch's own are done */
	FAST_MACHINE, /* for the state machine from its current state (claim held) */
};

/* 1 if j needs nothing but issuing by an automatic CA. */
static int
fast_eligible(const struct job *j)
{
	return j->vs->n == 0 && j->ca != NULL && j->csr != NULL && !j->ca->requires_manual_approval;
}

/* PROCESS_* of a step. */
static enum process_result
fast_result(enum step st)
{
	return st == STEP_ABANDON ? PROCESS_ABANDON : PROCESS_DONE;
}

/*
 * The audit events of a request claimed by step 2, as the state machine
 * writes them; in the log only at debug level, as its "issued" line (or its
 * failure's) follows within the batch.
 */
static void
fast_claimed(struct job *j, enum req_state was)
{
	char detail[JOB_DETAIL_MAX];

	if (was == REQ_NONE) {
		job_audit_ex(j, AUDIT_RECEIVED, j->m->requester, "from the issue topic", 1);
		job_audit_ex(j, AUDIT_CA_SELECTED, j->m->requester, j->reason, 1);
	}
	if (was == REQ_NONE || was == REQ_RECEIVED)
		job_audit_ex(j, AUDIT_QUEUED, NULL, NULL, 1);
	snprintf(detail, sizeof(detail), "claim %s", j->claim);
	job_audit_ex(j, AUDIT_CLAIMED, NULL, detail, 1);
	j->claimed = 1;
	j->state = REQ_ISSUING;
}

/*
 * Step 2 for the jobs in FAST_ADMIT. Items Redis did not answer are tried
 * again one by one with backoff (the script is safe to repeat under the
 * same claim); 0, or -1 when stopping first (those left are abandoned).
 */
static int
fast_admit(struct worker_thread *t, struct job *jobs, enum fast_state *fs, enum process_result *res,
	   int n)
{
	struct store_admit *a = calloc((size_t)n, sizeof(*a));
	struct req_record *recs = calloc((size_t)n, sizeof(*recs));
	int *idx = calloc((size_t)n, sizeof(*idx));
	int i, k, m = 0, attempt, rc = -1;

	if (a == NULL || recs == NULL || idx == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		if (fs[i] != FAST_ADMIT)
			continue;
		if (job_record(&jobs[i], &recs[m]) < 0)
			goto out;
		snprintf(jobs[i].claim, sizeof(jobs[i].claim), "%s/%ld/t%d/%llu", t->w->opts.name,
			 (long)getpid(), t->index, ++t->attempts);
		a[m].rec = &recs[m];
		a[m].claim = jobs[i].claim;
		idx[m++] = i;
	}
	if (store_admit_each(&t->w->store, a, (size_t)m) == STORE_EINVAL) {
		for (k = 0; k < m; k++) /* nothing sent: the state machine takes them */
			fs[idx[k]] = FAST_LATER;
		goto out;
	}
	rc = 0;
	for (k = 0; k < m; k++) {
		i = idx[k];
		attempt = 0;
		while (a[k].rc == STORE_EDOWN && worker_backoff(&attempt) == 0)
			store_admit_each(&t->w->store, &a[k], 1);
		if (a[k].rc == STORE_EDOWN) {
			fs[i] = FAST_OUT;
			res[i] = PROCESS_ABANDON;
			rc = -1;
		} else if (a[k].rc == 0) {
			fast_claimed(&jobs[i], a[k].cur);
			fs[i] = FAST_SIGN;
		} else {
			fs[i] = FAST_LATER;
		}
	}
out:
	for (k = 0; recs != NULL && k < m; k++) {
		free(recs[k].sans);
		free(recs[k].warnings);
	}
	free(idx);
	free(recs);
	free(a);
	return rc;
}

/* Step 4 for the jobs in FAST_STORE, then their outcomes (step 5). */
static void
fast_store(struct worker_thread *t, struct job *jobs, enum fast_state *fs, enum process_result *res,
	   int n)
{
	struct store_finish *f = calloc((size_t)n, sizeof(*f));
	struct req_record *sets = calloc((size_t)n, sizeof(*sets));
	int *idx = calloc((size_t)n, sizeof(*idx));
	int i, k, m = 0, attempt;

	if (f == NULL || sets == NULL || idx == NULL) {
		for (i = 0; i < n; i++) /* each on its own, as the state machine does */
			if (fs[i] == FAST_STORE)
				fs[i] = FAST_MACHINE;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (fs[i] != FAST_STORE)
			continue;
		job_cert_fields(&jobs[i], &sets[m]);
		f[m].id = jobs[i].m->request_id;
		f[m].ca_id = jobs[i].ca->id;
		f[m].claim = jobs[i].claim;
		f[m].set = &sets[m];
		idx[m++] = i;
	}
	if (store_finish_each(&t->w->store, f, (size_t)m) == STORE_EINVAL) {
		for (k = 0; k < m; k++) /* nothing sent: each signed and stored on its own */
			fs[idx[k]] = FAST_MACHINE;
		goto out;
	}
	for (k = 0; k < m; k++) {
		i = idx[k];
		attempt = 0;
		while (f[k].rc == STORE_EDOWN && worker_backoff(&attempt) == 0)
			store_finish_each(&t->w->store, &f[k], 1);
		fs[i] = FAST_OUT;
		if (f[k].rc == 0) {
			res[i] = fast_result(job_issued(&jobs[i]));
		} else if (f[k].rc == STORE_EEXIST) {
			log_msg(LOG_WARN, jobs[i].m->request_id,
				"serial %s is another request's; signing again",
				jobs[i].is->serial_hex);
			fs[i] = FAST_MACHINE;
		} else if (f[k].rc == STORE_EDOWN) {
			res[i] = PROCESS_ABANDON; /* stopping; the lease lets a copy re-take it */
		} else {
			job_discarded(&jobs[i], f[k].rc, f[k].cur);
		}
	}
out:
	free(idx);
	free(sets);
	free(f);
}

void
fast_batch(struct worker_thread *t, struct kafka_msg *ms, int n, enum process_result *res)
{
	struct job *jobs = malloc((size_t)n * sizeof(*jobs)); /* job_open clears each */
	enum fast_state *fs = calloc((size_t)n, sizeof(*fs));
	enum step st;
	int i;

	if (jobs == NULL || fs == NULL) {
		for (i = 0; i < n; i++)
			res[i] = process_message(t, &ms[i]);
		free(fs);
		free(jobs);
		return;
	}
	for (i = 0; i < n; i++) {
		fs[i] = FAST_OUT;
		if (!job_open(t, &ms[i], &jobs[i], &res[i]))
			continue;
		if (fast_eligible(&jobs[i]))
			fs[i] = FAST_ADMIT;
		else
			res[i] = job_run(&jobs[i]);
	}
	fast_admit(t, jobs, fs, res, n);
	for (i = 0; i < n; i++) {
		if (fs[i] != FAST_SIGN)
			continue;
		fs[i] = FAST_OUT;
		if (job_make(&jobs[i], 0, &st) == 0)
			fs[i] = FAST_STORE;
		else if (st == STEP_AGAIN)
			res[i] = job_continue(&jobs[i]);
		else
			res[i] = fast_result(st);
	}
	fast_store(t, jobs, fs, res, n);
	for (i = 0; i < n; i++) {
		/* FAST_ADMIT still: step 2 could not even be sent (no memory). */
		if (fs[i] == FAST_LATER || fs[i] == FAST_ADMIT)
			res[i] = job_run(&jobs[i]);
		else if (fs[i] == FAST_MACHINE)
			res[i] = job_continue(&jobs[i]);
	}
	for (i = 0; i < n; i++)
		job_close(&jobs[i]);
	free(fs);
	free(jobs);
}
