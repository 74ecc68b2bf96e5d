/* Worker threads: one group consumer each, processing in partition order. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "svc.h"
#include "worker.h"

/* Parses a decimal integer in [min, max] into *out. 0 or -1. */
static int
worker_number(const char *s, long min, long max, long *out)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Applies one option value; -1 after saying what is wrong. */
static int
worker_opt_set(const char *what, const char *value, long min, long max, long *out)
{
	if (worker_number(value, min, max, out) < 0) {
		fprintf(stderr, "pki-worker: %s: must be an integer %ld..%ld, got \"%s\"\n", what,
			min, max, value);
		return -1;
	}
	return 0;
}

int
worker_opts_parse(int *argc, char **argv, struct worker_opts *opts)
{
	const char *env;
	long threads = WORKER_THREADS_DEFAULT, lease = WORKER_LEASE_S_DEFAULT;
	int i, j;

	if ((env = getenv("PKI_WORKER_THREADS")) != NULL && env[0] != '\0' &&
	    worker_opt_set("PKI_WORKER_THREADS", env, 1, WORKER_THREADS_MAX, &threads) < 0)
		return -1;
	if ((env = getenv("PKI_WORKER_LEASE_S")) != NULL && env[0] != '\0' &&
	    worker_opt_set("PKI_WORKER_LEASE_S", env, 1, WORKER_LEASE_S_MAX, &lease) < 0)
		return -1;
	for (i = 1, j = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--threads") == 0 || strcmp(argv[i], "--lease-seconds") == 0) {
			int is_threads = argv[i][2] == 't';

			if (i + 1 >= *argc) {
				fprintf(stderr, "pki-worker: %s: needs a value\n", argv[i]);
				return -1;
			}
			if (is_threads ? worker_opt_set("--threads", argv[i + 1], 1,
							WORKER_THREADS_MAX, &threads)
				       : worker_opt_set("--lease-seconds", argv[i + 1], 1,
							WORKER_LEASE_S_MAX, &lease))
				return -1;
			i++;
			continue;
		}
		argv[j++] = argv[i];
	}
	argv[j] = NULL;
	*argc = j;
	opts->threads = (int)threads;
	opts->lease_s = lease;
	env = getenv("PKI_WORKER_NAME");
	snprintf(opts->name, sizeof(opts->name), "%s",
		 env != NULL && env[0] != '\0' ? env : "worker");
	return 0;
}

int
worker_backoff(int *attempt)
{
	long ms = WORKER_BACKOFF_MIN_MS;
	int i;

	for (i = 0; i < *attempt && ms < WORKER_BACKOFF_MAX_MS; i++)
		ms *= 2;
	if (ms > WORKER_BACKOFF_MAX_MS)
		ms = WORKER_BACKOFF_MAX_MS;
	(*attempt)++;
	return svc_wait((int)ms) ? -1 : 0;
}

int
worker_produce(struct worker *w, const char *topic, const char *key, const char *payload)
{
	int attempt = 0, rc;

	while ((rc = kafka_produce_sync(w->kp, topic, key, payload, strlen(payload),
					WORKER_PRODUCE_TIMEOUT_MS)) != 0) {
		log_msg(LOG_WARN, key, "publishing to %s failed (%d); retrying", topic, rc);
		if (worker_backoff(&attempt) < 0)
			return -1;
	}
	return 0;
}

void
worker_audit_flush(struct worker_thread *t)
{
	struct worker_audit *a;
	size_t i;

	for (i = 0; i < t->naudits; i++) {
		a = &t->audits[i];
		if (kafka_produce(t->w->kp, t->w->cfg->topics.audit, a->key, a->json,
				  strlen(a->json)) != 0)
			log_msg(LOG_WARN, a->key, "audit: the producer refused an event: %s",
				a->json);
		free(a->json);
	}
	t->naudits = 0;
}

struct signer *
worker_signer(struct worker_thread *t, const struct ca *ca)
{
	size_t i = (size_t)(ca - t->w->cfg->cas);

	if (i >= t->w->cfg->ncas)
		return NULL;
	if (t->signers[i] != NULL)
		return t->signers[i];
	if ((t->signers[i] = signer_new(ca)) == NULL) {
		log_error("CA %s: cannot create a signer (key missing or not matching)", ca->id);
	} else if (signer_set_urls(t->signers[i], ca->ca_issuers_url, ca->crl_url) != 0) {
		log_error("CA %s: cannot set the AIA and CRL URLs", ca->id);
		signer_free(t->signers[i]);
		t->signers[i] = NULL;
	}
	return t->signers[i];
}

/*
 * Keeps the chain of each CA this worker can sign for in Redis, which the
 * records it issues then name instead of holding a copy each (waiting for
 * Redis if needed). 0, or -1 when out of memory or stopping first.
 */
static int
worker_chains(struct worker *w)
{
	const struct ca *ca;
	char *pem;
	size_t i;
	int attempt, rc;

	if ((w->chain_sha = calloc(w->cfg->ncas + 1, sizeof(*w->chain_sha))) == NULL)
		return -1;
	for (i = 0; i < w->cfg->ncas; i++) {
		ca = &w->cfg->cas[i];
		if (ca->key == NULL)
			continue;
		if ((pem = ca_chain_pem(ca)) == NULL)
			return -1;
		attempt = 0;
		while ((rc = store_chain_put(&w->store, pem, w->chain_sha[i])) != 0 &&
		       worker_backoff(&attempt) == 0)
			;
		free(pem);
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* First assignment of any thread: from now on messages reach this worker. */
static void
worker_on_assign(void *arg, int npartitions)
{
	struct worker_thread *t = arg;
	int expected = 0;

	log_debug("thread %d: %d partitions", t->index, npartitions);
	if (atomic_compare_exchange_strong(&t->w->ready, &expected, 1))
		log_info("ready");
}

/*
 * Processes ms[from..n) one at a time, unbatched, retrying each with backoff
 * and storing its offset when done. Returns -1 when stopping first.
 */
static int
worker_one_by_one(struct worker_thread *t, struct kafka_msg *ms, int from, int n)
{
	enum process_result res;
	int i, attempt;

	for (i = from; i < n; i++) {
		/*
		 * A message given up for any reason but a stop is tried again:
		 * storing a later offset of the partition would skip it.
		 */
		attempt = 0;
		while ((res = process_message(t, &ms[i])) == PROCESS_ABANDON &&
		       worker_backoff(&attempt) == 0)
			;
		if (res != PROCESS_DONE)
			return -1;
		kafka_consumer_done(t->kc, &ms[i]);
	}
	return 0;
}

/*
 * Processes n messages as one batch (see worker.h): all of them (fast.c),
 * one wait for all their outcomes, then marks and offsets up to the first
 * abandoned one; the rest, or all of them after a failed wait, one by one.
 */
static void
worker_batch(struct worker_thread *t, struct kafka_msg *ms, int n)
{
	const char *ids[WORKER_BATCH_MAX];
	enum process_result res[WORKER_BATCH_MAX];
	int i, done, rc = 0, attempt;
	size_t k;

	t->batch = kafka_batch_new();
	t->nmarks = 0;
	t->batch_failed = 0;
	fast_batch(t, ms, n, res);
	worker_audit_flush(t);
	for (done = 0; done < n && res[done] == PROCESS_DONE; done++)
		;
	if (t->batch != NULL)
		rc = kafka_batch_wait(t->batch, WORKER_PRODUCE_TIMEOUT_MS);
	t->batch = NULL;
	if (rc != 0 || t->batch_failed) {
		log_warn("thread %d: publishing a batch of %d outcomes failed (%d); one by one",
			 t->index, done, rc);
		worker_one_by_one(t, ms, 0, n);
		return;
	}
	for (k = 0; k < t->nmarks; k++)
		ids[k] = t->marks[k];
	attempt = 0;
	while ((rc = store_set_field_each(&t->w->store, ids, t->nmarks, "published", "1")) ==
		   STORE_EDOWN &&
	       worker_backoff(&attempt) == 0)
		;
	if (rc == STORE_EDOWN)
		return; /* stopping: offsets unstored, the copies publish again */
	for (i = 0; i < done; i++)
		kafka_consumer_done(t->kc, &ms[i]);
	worker_one_by_one(t, ms, done, n);
}

static void *
worker_thread_main(void *arg)
{
	struct worker_thread *t = arg;
	struct kafka_msg ms[WORKER_BATCH_MAX];
	int rc, n, i, idle = 0;

	while (!svc_stopping()) {
		if ((rc = kafka_consumer_poll(t->kc, &ms[0], WORKER_POLL_MS)) < 0) {
			log_error("thread %d: consumer failed; stopping", t->index);
			t->w->failed = 1;
			svc_request_stop();
			break;
		}
		if (rc == 0) {
			/* Idle: what the last burst's batches freed goes back to the system. */
			if (!idle++)
				malloc_trim(0);
			continue;
		}
		idle = 0;
		/* What the consumer has already fetched joins the batch. */
		for (n = 1; n < WORKER_BATCH_MAX && kafka_consumer_poll(t->kc, &ms[n], 0) == 1; n++)
			;
		worker_batch(t, ms, n);
		for (i = 0; i < n; i++)
			kafka_msg_release(&ms[i]);
	}
	/* Each thread leaves the group itself, so that the threads close in parallel. */
	kafka_consumer_free(t->kc);
	t->kc = NULL;
	return NULL;
}

static void
worker_thread_free(struct worker_thread *t)
{
	size_t i;

	kafka_consumer_free(t->kc);
	t->kc = NULL;
	free(t->audits);
	t->audits = NULL;
	if (t->signers != NULL)
		for (i = 0; i < t->w->cfg->ncas; i++)
			signer_free(t->signers[i]);
	free(t->signers);
	t->signers = NULL;
}

int
worker_run(const struct config *cfg, const struct worker_opts *opts)
{
	struct worker w;
	struct worker_thread *ts = NULL;
	const char *topics[] = {cfg->topics.issue, cfg->topics.submit, NULL};
	char kerr[KAFKA_ERR_MAX], client_id[WORKER_NAME_MAX + 48];
	int i, started = 0, code = 1;

	/*
	 * One malloc arena per thread (glibc's default, up to 8 per core) keeps
	 * each busy thread's freed batches resident: a few shared arenas keep RSS
	 * flat whatever the number of threads (librdkafka starts several per client).
	 */
	mallopt(M_ARENA_MAX, WORKER_MALLOC_ARENAS);
	memset(&w, 0, sizeof(w));
	w.cfg = cfg;
	w.opts = *opts;
	w.store.redis_url = cfg->redis_url;
	w.store.prefix = cfg->redis_prefix;
	if (worker_chains(&w) != 0) {
		code = svc_stopping() ? 0 : 1;
		goto out;
	}
	snprintf(client_id, sizeof(client_id), "pki-%s-%ld", opts->name, (long)getpid());
	if ((w.kp =
		 kafka_producer_new(cfg->kafka_brokers, client_id, &cfg->kafka_tls[SERVICE_WORKER],
				    KAFKA_LINGER_BATCH_MS, kerr)) == NULL) {
		log_error("%s", kerr);
		goto out;
	}
	if ((ts = calloc((size_t)opts->threads, sizeof(*ts))) == NULL)
		goto out;
	for (i = 0; i < opts->threads; i++) {
		ts[i].w = &w;
		ts[i].index = i;
		if ((ts[i].signers = calloc(cfg->ncas + 1, sizeof(*ts[i].signers))) == NULL)
			goto out;
		snprintf(client_id, sizeof(client_id), "pki-%s-%ld-t%d", opts->name, (long)getpid(),
			 i);
		ts[i].kc = kafka_consumer_new(cfg->kafka_brokers, cfg->kafka_group, topics,
					      client_id, &cfg->kafka_tls[SERVICE_WORKER], 0,
					      worker_on_assign, &ts[i], kerr);
		if (ts[i].kc == NULL) {
			log_error("%s", kerr);
			goto out;
		}
	}
	log_info("subscribed to %s and %s in group %s with %d threads (claim lease %lds)",
		 cfg->topics.issue, cfg->topics.submit, cfg->kafka_group, opts->threads,
		 opts->lease_s);
	for (i = 0; i < opts->threads; i++) {
		if (pthread_create(&ts[i].tid, NULL, worker_thread_main, &ts[i]) != 0) {
			log_error("cannot start thread %d", i);
			svc_request_stop();
			break;
		}
		started++;
	}
	while (!svc_wait(1000))
		;
	code = w.failed || started < opts->threads ? 1 : 0;
out:
	if (code != 0)
		svc_request_stop();
	for (i = 0; i < started; i++)
		pthread_join(ts[i].tid, NULL);
	for (i = 0; ts != NULL && i < opts->threads; i++)
		worker_thread_free(&ts[i]);
	free(ts);
	free(w.chain_sha);
	kafka_producer_free(w.kp);
	return code;
}
