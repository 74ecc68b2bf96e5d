/*
 * pki-worker: consumes issue requests; the only process holding CA keys.
 *
 * Threads: each of `threads` processing threads is its own member of the
 * consumer group (own consumer, own Redis connection, own signers), so a
 * partition is processed in order by one thread, and a revoke (called from
 * that thread's poll) never finds a message half done: the rebalance
 * callback commits every offset stored so far before the partitions move.
 *
 * Offsets: enable.auto.offset.store=false. A message's offset is stored only
 * when process_message says PROCESS_DONE, i.e. after its outcome is durable
 * in Redis and published (results, issued, or the approval or dead-letter
 * topic); stored offsets are committed in the background, on revoke and on
 * close. Redis or Kafka failures are retried with backoff on the same
 * message; a stop abandons it unstored, so it comes again (at least once).
 *
 * Batches: a thread takes what its consumer has fetched (up to
 * WORKER_BATCH_MAX messages), processes them together (fast.c), and waits once for
 * the delivery reports of all their outcomes; only then are the records
 * marked published and the offsets stored. If that wait fails, the batch's
 * messages are processed again one by one, each waiting for its own sends
 * (a request's outcome may then be published twice, never lost).
 *
 * Exactly one certificate per request, whatever is delivered twice:
 *  - claim: queued → issuing by compare-and-set (store_claim), recording a
 *    token (worker name, pid, thread, attempt) and the Redis time;
 *  - the certificate is stored by a transition issuing → issued that checks
 *    the token (store_transition_ex), in the same script as the batch
 *    counter; the serial is reserved with SET NX before signing, or, on the
 *    batched path, in the storing script itself (store_finish_each: a
 *    certificate whose serial another request holds is never stored or
 *    published, and the request is signed again);
 *  - a copy of the message finding the request claimed waits; if the claim
 *    is older than the lease (the holder died mid-way), it re-takes it by
 *    compare-and-set. The old holder, if merely slow, can then no longer
 *    store its certificate (token mismatch): it is discarded unpublished
 *    (its serial stays reserved, never reused). Only the stored certificate
 *    is ever published;
 *  - a copy finding the request finished publishes its outcome again only if
 *    the record is not marked published (a worker died between the Redis
 *    write and the publish), then stores the offset;
 *  - a lost reply (Redis paused, connection cut) is not a lost certificate:
 *    the retry of a claim or of the finishing move that Redis did run is
 *    told the claim or the move is this attempt's own (store.h), so the
 *    certificate still goes to the issued topic and the audit.
 */
#ifndef PKI_WORKER_H
#define PKI_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "config.h"
#include "issue.h"
#include "kafka.h"
#include "msg.h"
#include "store.h"

#define WORKER_POLL_MS 200 /* consumer poll; bounds how long a stop takes to notice */
#define WORKER_THREADS_DEFAULT 2
#define WORKER_THREADS_MAX 64
/*
 * A claim older than this may be re-taken by another worker. It only has to
 * exceed the time one message takes (milliseconds); the finishing write
 * checks the claim, so a slow holder cannot store a second certificate.
 */
#define WORKER_LEASE_S_DEFAULT 10
#define WORKER_LEASE_S_MAX 3600
#define WORKER_BACKOFF_MIN_MS 100  /* first retry after Redis or Kafka failed */
#define WORKER_BACKOFF_MAX_MS 2000 /* retries back off up to this */
#define WORKER_PRODUCE_TIMEOUT_MS (KAFKA_MESSAGE_TIMEOUT_MS + 500)
#define WORKER_NAME_MAX 64
#define WORKER_MALLOC_ARENAS 2 /* glibc malloc arenas the process's threads share */
#define WORKER_CLAIM_MAX 128
#define WORKER_STEPS_MAX 16 /* state moves one message may make; guards against loops */
#define WORKER_BATCH_MAX                                                                           \
	128 /* messages taken from the consumer at once; outcomes published together */

/* Options from the command line or the environment. */
struct worker_opts {
	int threads;                /* --threads N, PKI_WORKER_THREADS */
	long lease_s;               /* --lease-seconds N, PKI_WORKER_LEASE_S */
	char name[WORKER_NAME_MAX]; /* PKI_WORKER_NAME, else "worker" */
};

struct worker {
	const struct config *cfg;
	struct worker_opts opts;
	struct store store;        /* request records, from cfg */
	struct kafka_producer *kp; /* results, issued, approval, audit, dlq */
	atomic_int ready;          /* "ready" logged after the first assignment */
	atomic_int failed;         /* a thread stopped on a fatal error */
	/* Per CA of cfg: its chain's key in Redis (store_chain_put), "" when it has no key. */
	char (*chain_sha)[HEX_SHA256_BUF];
};

/* One processing thread: its own consumer and signers. */
struct worker_thread {
	struct worker *w;
	int index;
	pthread_t tid;
	struct kafka_consumer *kc;
	struct signer **signers;     /* cfg->ncas slots, created on first use */
	unsigned long long attempts; /* makes claim tokens unique */
	/*
	 * While a batch of messages is processed: the outcomes' sends, waited
	 * for once at its end; the requests to mark published after that; set
	 * when a send could not join the batch.
	 */
	struct kafka_batch *batch;
	char marks[WORKER_BATCH_MAX][STORE_ID_MAX];
	size_t nmarks;
	int batch_failed;
	/*
	 * The batch's audit events (JSON text the thread owns until
	 * worker_audit_flush produces and frees it), produced together once its
	 * outcomes are: one burst for the producer's short linger instead of a
	 * trickle of small requests.
	 */
	struct worker_audit *audits;
	size_t naudits, caudits;
	char batch_id[STORE_ID_MAX]; /* the bulk batch last found bound to batch_user */
	const struct user *batch_user;
};

/* What became of one message. */
enum process_result {
	PROCESS_DONE,    /* finished (or nothing to do): store its offset */
	PROCESS_ABANDON, /* stopping before it was finished: leave the offset, it comes again */
};

/*
 * Strips --threads N and --lease-seconds N from argv (argc updated) into
 * opts, over defaults and PKI_WORKER_THREADS, PKI_WORKER_LEASE_S and
 * PKI_WORKER_NAME. Returns 0, or -1 with a message on stderr naming the
 * option, its rule and what was seen.
 */
int worker_opts_parse(int *argc, char **argv, struct worker_opts *opts);

/*
 * Starts the producer and opts->threads processing threads and runs until
 * svc_stopping(); then stops the threads (each commits what it finished and
 * leaves the group) and flushes the producer. Returns 0, or 1 when a thread
 * failed fatally or nothing could start.
 */
int worker_run(const struct config *cfg, const struct worker_opts *opts);

/*
 * Sleeps before retry number *attempt (exponential from
 * WORKER_BACKOFF_MIN_MS to WORKER_BACKOFF_MAX_MS) and counts it. Returns 0,
 * or -1 when the service is stopping (the caller abandons the message).
 */
int worker_backoff(int *attempt);

/* A batch's audit event waiting for worker_audit_flush. */
struct worker_audit {
	char key[STORE_ID_MAX]; /* request id */
	char *json;
};

/* Produces the audit events t kept during its batch, in order, and forgets them. */
void worker_audit_flush(struct worker_thread *t);

/* The thread's signer for ca (created on first use), NULL if it cannot be made. */
struct signer *worker_signer(struct worker_thread *t, const struct ca *ca);

/*
 * Sends payload to topic and waits for the broker's acknowledgement,
 * retrying with backoff while Kafka is down. 0, or -1 when stopping first.
 */
int worker_produce(struct worker *w, const char *topic, const char *key, const char *payload);

/* What worker_decode made of a message. */
enum decode_result {
	DECODE_OK,      /* *out holds the request; *user is who it acts for */
	DECODE_BAD,     /* unparsable: err says why (for the dead-letter topic) */
	DECODE_REFUSED, /* a bulk message refused and answered (failed result, audit event) */
	DECODE_STOP,    /* stopping before it was answered: abandon it */
};

/*
 * Decodes a message (bulk.c). From the issue topic: the issue request, acting
 * for the configured user it names (*user NULL when none). From the submit
 * topic: a bulk message (lib/wire/bulk.h) whose signature is checked against
 * its key in bulk_keys; its tenant, requester and email are then the key's
 * user's, never the message's (fields naming someone else refuse it), it has
 * no client IP, and its batch is made the user's (or must be already). A
 * refusal (auth_invalid, identity_mismatch, batch_not_owned) is a failed
 * result and an audit event and nothing in Redis. err: MSG_ERR_MAX bytes.
 */
enum decode_result worker_decode(struct worker_thread *t, const struct kafka_msg *km,
				 struct issue_msg **out, const struct user **user, char *err);

/* Handles one message of the issue or submit topic (process.c). */
enum process_result process_message(struct worker_thread *t, const struct kafka_msg *km);

/*
 * Handles the n messages of a batch (fast.c: stage by stage, one Redis round
 * trip per stage for the requests that need only issuing; the others as
 * process_message does), res[i] saying what became of ms[i].
 */
void fast_batch(struct worker_thread *t, struct kafka_msg *ms, int n, enum process_result *res);

/*
 * The dead letter of km (dlq.c): its bytes as they came (the first 256 KiB
 * of a longer value), with error and the time now. Returns 0 with *text, the JSON of
 * schemas/dlq.schema.json, and *key, its Kafka key (km's key when it is UTF-8 text, else its
 * base64; NULL when km has none), both for the caller to free; -1 without memory.
 */
int dlq_encode(const struct kafka_msg *km, const char *error, time_t now, char **text, char **key);

/*
 * The subject (RFC 2253, one line) and the SANs (the record's JSON array
 * text of {type, value}, admitjson.h) of a DER certificate, found by walking its DER (certinfo.c):
 * decoding the whole certificate would also decode its public key, which
 * costs more than signing it. Returns 0 with *subject and *sans (caller
 * frees; each NULL when it could not be made), or -1 when the DER is
 * malformed (nothing set).
 */
int certinfo_read(const unsigned char *der, size_t len, char **subject, char **sans);

#endif
