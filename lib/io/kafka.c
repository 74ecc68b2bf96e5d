#include "kafka.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#define KAFKA_POLL_MS 100 /* delivery-report thread wake-up */
/*
 * Batching window. librdkafka 2.0 sends one produce request per partition
 * with data: at 1 ms, a loaded worker sent about one request per message.
 * At 5 ms the whole stack used 10-30% less CPU per request under load, for
 * a few milliseconds more per send (KAFKA_LINGER_MS, kafka.h).
 */
/*
 * What a consumer fetches and keeps ahead of its poller: enough for several
 * batches of a worker, and bounded whatever the backlog (librdkafka's own
 * defaults let each consumer hold 64 MiB).
 */
#define KAFKA_FETCH_MAX_BYTES "1048576"
#define KAFKA_QUEUED_MAX_KB "2048"
/*
 * Batches sent uncompressed: lz4 halved the bytes, but the producer
 * compressed, the broker decompressed to validate and every consumer
 * decompressed again, which cost more CPU on one machine than the bytes
 * saved (docs/performance.md); the messages are a few KB of PEM and JSON.
 */
#define KAFKA_COMPRESSION "none"
#define KAFKA_RECONNECT_MAX_MS "1000"         /* find a restarted broker quickly */
#define KAFKA_PLAINTEXT_PRINCIPAL "ANONYMOUS" /* what the broker calls a client without TLS */

/*
 * Who a client is to the broker, for the messages of refused operations.
 * First member of both client structs: the shared error callback's opaque.
 */
struct kafka_ident {
	char principal[KAFKA_PRINCIPAL_MAX];
	char *group; /* consumers only */
};

/* Sends waited for together; shared by the waiter and the delivery reports. */
struct kafka_batch {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int pending;             /* queued sends without a report yet */
	int abandoned;           /* the waiter gave up; the last report frees it */
	rd_kafka_resp_err_t err; /* the first failed report's error */
	kafka_done_fn done;      /* kafka_batch_then's: called by the last report */
	void *done_arg;
};

struct kafka_producer {
	struct kafka_ident id; /* first: see struct kafka_ident */
	rd_kafka_t *rk;
	pthread_t thread;
	atomic_int stop;
	pthread_mutex_t health_mu;
	int health_up;
	long long health_checked_ms; /* 0: never / invalidated */
	atomic_llong acked_ms;       /* when a broker last acknowledged a message */
	atomic_int lost;             /* librdkafka reported a lost connection since */
	atomic_int expired;          /* a delivery failed since the last acknowledgement */
	atomic_ullong delivered, failed;
	unsigned sticky_offset; /* this producer's first partition, so producers differ */
};

struct kafka_consumer {
	struct kafka_ident id; /* first: see struct kafka_ident */
	rd_kafka_t *rk;
	void (*on_assign)(void *arg, int npartitions);
	void *arg;
};

/* The result of a batch with no report pending (see kafka_batch_wait). */
static int
kafka_batch_rc(const struct kafka_batch *b)
{
	if (b->err == RD_KAFKA_RESP_ERR_NO_ERROR)
		return 0;
	return b->err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT || b->err == RD_KAFKA_RESP_ERR__TRANSPORT
		   ? KAFKA_EDOWN
		   : -1;
}

static void
kafka_batch_destroy(struct kafka_batch *b)
{
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
	free(b);
}

/* Routes librdkafka's own log lines into the JSON log. */
static void
kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	log_msg(level <= 3   ? LOG_ERROR
		: level <= 5 ? LOG_WARN
			     : LOG_DEBUG,
		NULL, "kafka %s: %s: %s", rd_kafka_name(rk), fac, buf);
}

/* Sets name=value on conf; 0 or -1 with err filled. */
static int
kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err)
{
	char e[KAFKA_ERR_MAX / 2];

	if (rd_kafka_conf_set(conf, name, value, e, sizeof(e)) != RD_KAFKA_CONF_OK) {
		snprintf(err, KAFKA_ERR_MAX, "kafka: %.40s=%.60s: %.120s", name, value, e);
		return -1;
	}
	return 0;
}

/* 1 for the errors of a refused handshake or a denied operation. */
static int
kafka_err_refused(rd_kafka_resp_err_t e)
{
	switch (e) {
	case RD_KAFKA_RESP_ERR__SSL:
	case RD_KAFKA_RESP_ERR__AUTHENTICATION:
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
		return 1;
	default:
		return 0;
	}
}

/*
 * Applies tls (see kafka.h) to conf and names the principal in id: the CN of
 * the client certificate, or KAFKA_PLAINTEXT_PRINCIPAL. 0 or -1 with err.
 */
static int
kafka_tls_apply(rd_kafka_conf_t *conf, const struct kafka_tls *tls, struct kafka_ident *id,
		char *err)
{
	X509 *x = NULL;
	FILE *f = NULL;
	int rc = -1;

	snprintf(id->principal, sizeof(id->principal), "%s", KAFKA_PLAINTEXT_PRINCIPAL);
	/*
	 * A request is a few small TLS records: with Nagle on, the second waits
	 * for the broker's delayed ACK (40 ms), which set every submit's answer.
	 */
	if (kafka_conf_set(conf, "socket.nagle.disable", "true", err) < 0)
		return -1;
	if (tls == NULL || tls->ca == NULL)
		return 0;
	if ((f = fopen(tls->cert, "r")) == NULL) {
		snprintf(err, KAFKA_ERR_MAX, "%s.cert: cannot read %.160s: %s",
			 tls->field ? tls->field : "kafka tls", tls->cert, strerror(errno));
		goto out;
	}
	if ((x = PEM_read_X509(f, NULL, NULL, NULL)) == NULL ||
	    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, id->principal,
				      sizeof(id->principal)) <= 0) {
		snprintf(err, KAFKA_ERR_MAX,
			 "%s.cert: must be a PEM certificate with a subject CN, got %.160s",
			 tls->field ? tls->field : "kafka tls", tls->cert);
		goto out;
	}
	if (kafka_conf_set(conf, "security.protocol", "ssl", err) < 0 ||
	    kafka_conf_set(conf, "ssl.ca.location", tls->ca, err) < 0 ||
	    kafka_conf_set(conf, "ssl.certificate.location", tls->cert, err) < 0 ||
	    kafka_conf_set(conf, "ssl.key.location", tls->key, err) < 0)
		goto out;
	rc = 0;
out:
	X509_free(x);
	if (f != NULL)
		fclose(f);
	return rc;
}

static void
kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	/* Consumers share this callback; both structs start with their ident. */
	struct kafka_producer *p = rd_kafka_type(rk) == RD_KAFKA_PRODUCER ? opaque : NULL;
	const struct kafka_ident *id = opaque;
	char fatal[KAFKA_ERR_MAX];

	/* A refused idempotent producer (no IdempotentWrite) fails for good: say why. */
	if (err == RD_KAFKA_RESP_ERR__FATAL)
		err = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
	if (kafka_err_refused(err) || strstr(reason, "SSL") != NULL)
		log_error("kafka %s: refused as principal %s: %s: %s", rd_kafka_name(rk),
			  id->principal, rd_kafka_err2name(err), reason);
	else
		log_warn("kafka %s: %s: %s", rd_kafka_name(rk), rd_kafka_err2name(err), reason);
	if (p != NULL &&
	    (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__TRANSPORT)) {
		p->lost = 1;
		pthread_mutex_lock(&p->health_mu);
		p->health_checked_ms = 0; /* next check goes to the broker */
		if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
			p->health_up = 0;
		pthread_mutex_unlock(&p->health_mu);
	}
}

static void
kafka_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct kafka_producer *p = opaque;
	struct kafka_batch *b = m->_private;
	kafka_done_fn done = NULL;
	int free_it = 0;

	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		p->delivered++;
		p->acked_ms = clock_ms();
		p->lost = p->expired = 0;
	} else {
		p->failed++;
		p->expired = 1;
		if (kafka_err_refused(m->err))
			log_error("kafka: principal %s may not write topic %s (broker ACL): %s",
				  p->id.principal, rd_kafka_topic_name(m->rkt),
				  rd_kafka_err2str(m->err));
		else
			log_warn("kafka: delivery to %s failed: %s", rd_kafka_topic_name(m->rkt),
				 rd_kafka_err2str(m->err));
	}
	if (b == NULL)
		return;
	pthread_mutex_lock(&b->mu);
	if (b->err == RD_KAFKA_RESP_ERR_NO_ERROR)
		b->err = m->err;
	if (--b->pending == 0) {
		free_it = b->abandoned || b->done != NULL;
		done = b->done;
		pthread_cond_signal(&b->cv);
	}
	pthread_mutex_unlock(&b->mu);
	if (done != NULL)
		done(b->done_arg, kafka_batch_rc(b));
	if (free_it)
		kafka_batch_destroy(b);
}

static void *
kafka_poll_thread(void *arg)
{
	struct kafka_producer *p = arg;

	while (!p->stop)
		rd_kafka_poll(p->rk, KAFKA_POLL_MS);
	return NULL;
}

/*
 * Partitioner: the window's partition (KAFKA_STICKY_MS), or the next
 * available one after it; the key's partition when none is available.
 */
static int32_t
kafka_sticky_partition(const rd_kafka_topic_t *rkt, const void *key, size_t keylen,
		       int32_t npartitions, void *topic_opaque, void *msg_opaque)
{
	const struct kafka_producer *p = topic_opaque;
	long long window = clock_ms() / KAFKA_STICKY_MS;
	int32_t i, part;

	for (i = 0; i < npartitions; i++) {
		part = (int32_t)(((unsigned long long)window + p->sticky_offset + (unsigned)i) %
				 (unsigned)npartitions);
		if (rd_kafka_topic_partition_available(rkt, part))
			return part;
	}
	return rd_kafka_msg_partitioner_consistent_random(rkt, key, keylen, npartitions,
							  topic_opaque, msg_opaque);
}

struct kafka_producer *
kafka_producer_new(const char *brokers, const char *client_id, const struct kafka_tls *tls,
		   int linger_ms, char *err)
{
	static const char *const opts[][2] = {
	    {"enable.idempotence", "true"},
	    {"acks", "all"},
	    {"reconnect.backoff.max.ms", KAFKA_RECONNECT_MAX_MS},
	    {"compression.type", KAFKA_COMPRESSION},
	};
	struct kafka_producer *p = NULL, *ret = NULL;
	rd_kafka_conf_t *conf = NULL;
	rd_kafka_topic_conf_t *tc;
	char tmo[32], e[KAFKA_ERR_MAX / 2];
	size_t i;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		snprintf(err, KAFKA_ERR_MAX, "kafka: out of memory");
		goto out;
	}
	pthread_mutex_init(&p->health_mu, NULL);
	p->sticky_offset = (unsigned)getpid() * 2654435761u; /* Knuth's multiplicative hash */
	conf = rd_kafka_conf_new();
	if (kafka_conf_set(conf, "bootstrap.servers", brokers, err) < 0 ||
	    kafka_conf_set(conf, "client.id", client_id, err) < 0 ||
	    kafka_tls_apply(conf, tls, &p->id, err) < 0)
		goto out;
	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (kafka_conf_set(conf, opts[i][0], opts[i][1], err) < 0)
			goto out;
	snprintf(tmo, sizeof(tmo), "%d", linger_ms);
	if (kafka_conf_set(conf, "linger.ms", tmo, err) < 0)
		goto out;
	snprintf(tmo, sizeof(tmo), "%d", KAFKA_MESSAGE_TIMEOUT_MS);
	if (kafka_conf_set(conf, "message.timeout.ms", tmo, err) < 0)
		goto out;
	if ((tc = rd_kafka_topic_conf_new()) == NULL) {
		snprintf(err, KAFKA_ERR_MAX, "kafka: out of memory");
		goto out;
	}
	rd_kafka_topic_conf_set_partitioner_cb(tc, kafka_sticky_partition);
	rd_kafka_topic_conf_set_opaque(tc, p);
	rd_kafka_conf_set_default_topic_conf(conf, tc); /* takes tc */
	rd_kafka_conf_set_opaque(conf, p);
	rd_kafka_conf_set_dr_msg_cb(conf, kafka_dr_cb);
	rd_kafka_conf_set_error_cb(conf, kafka_error_cb);
	rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
	if ((p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e))) == NULL) {
		snprintf(err, KAFKA_ERR_MAX, "kafka: producer: %s", e);
		goto out;
	}
	conf = NULL; /* owned by rk */
	if (pthread_create(&p->thread, NULL, kafka_poll_thread, p) != 0) {
		snprintf(err, KAFKA_ERR_MAX, "kafka: cannot start thread: %s", strerror(errno));
		rd_kafka_destroy(p->rk);
		p->rk = NULL;
		goto out;
	}
	ret = p;
	p = NULL;
out:
	if (conf != NULL)
		rd_kafka_conf_destroy(conf);
	if (p != NULL) {
		pthread_mutex_destroy(&p->health_mu);
		free(p);
	}
	return ret;
}

void
kafka_producer_free(struct kafka_producer *p)
{
	rd_kafka_resp_err_t e;

	if (p == NULL)
		return;
	if ((e = rd_kafka_flush(p->rk, KAFKA_FLUSH_TIMEOUT_MS)) != RD_KAFKA_RESP_ERR_NO_ERROR)
		log_warn("kafka: flush at shutdown: %s (%d messages left)", rd_kafka_err2str(e),
			 rd_kafka_outq_len(p->rk));
	p->stop = 1;
	pthread_join(p->thread, NULL);
	rd_kafka_destroy(p->rk);
	pthread_mutex_destroy(&p->health_mu);
	free(p);
}

/* Queues one message with opaque b (counted in b when not NULL); 0 or -1 (logged). */
static int
kafka_send(struct kafka_producer *p, const char *topic, const char *key, const void *value,
	   size_t len, struct kafka_batch *b)
{
	size_t klen = key != NULL ? strlen(key) : 0;
	rd_kafka_resp_err_t e;

	if (b != NULL) {
		pthread_mutex_lock(&b->mu);
		b->pending++;
		pthread_mutex_unlock(&b->mu);
	}
	e = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, klen),
			      RD_KAFKA_V_VALUE((void *)value, len),
			      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(b),
			      RD_KAFKA_V_END);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (b != NULL) {
			pthread_mutex_lock(&b->mu);
			b->pending--;
			pthread_mutex_unlock(&b->mu);
		}
		log_warn("kafka: produce to %s: %s", topic, rd_kafka_err2str(e));
		return -1;
	}
	return 0;
}

int
kafka_produce(struct kafka_producer *p, const char *topic, const char *key, const void *value,
	      size_t len)
{
	return kafka_send(p, topic, key, value, len, NULL);
}

struct kafka_batch *
kafka_batch_new(void)
{
	struct kafka_batch *b = calloc(1, sizeof(*b));
	pthread_condattr_t ca;

	if (b == NULL)
		return NULL;
	pthread_mutex_init(&b->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->cv, &ca);
	pthread_condattr_destroy(&ca);
	return b;
}

int
kafka_batch_send(struct kafka_producer *p, struct kafka_batch *b, const char *topic,
		 const char *key, const void *value, size_t len)
{
	if (!kafka_producer_up(p))
		return KAFKA_EDOWN;
	return kafka_send(p, topic, key, value, len, b);
}

int
kafka_batch_wait(struct kafka_batch *b, int timeout_ms)
{
	struct timespec deadline;
	int rc, free_it = 1;

	if (b == NULL)
		return -1;
	clock_deadline(&deadline, timeout_ms);
	pthread_mutex_lock(&b->mu);
	while (b->pending > 0)
		if (pthread_cond_timedwait(&b->cv, &b->mu, &deadline) == ETIMEDOUT)
			break;
	if (b->pending > 0) {
		b->abandoned = 1; /* the last delivery report frees it */
		free_it = 0;
		rc = KAFKA_ETIMEOUT;
	} else {
		rc = kafka_batch_rc(b);
	}
	pthread_mutex_unlock(&b->mu);
	if (free_it)
		kafka_batch_destroy(b);
	return rc;
}

void
kafka_batch_then(struct kafka_batch *b, kafka_done_fn fn, void *arg)
{
	int now;

	pthread_mutex_lock(&b->mu);
	b->done_arg = arg;
	if (!(now = b->pending == 0))
		b->done = fn;
	pthread_mutex_unlock(&b->mu);
	if (now) {
		fn(arg, kafka_batch_rc(b));
		kafka_batch_destroy(b);
	}
}

int
kafka_produce_sync(struct kafka_producer *p, const char *topic, const char *key, const void *value,
		   size_t len, int timeout_ms)
{
	struct kafka_batch *b;
	int rc;

	if ((b = kafka_batch_new()) == NULL)
		return -1;
	if ((rc = kafka_batch_send(p, b, topic, key, value, len)) != 0) {
		kafka_batch_wait(b, 0); /* nothing pending: frees it */
		return rc;
	}
	return kafka_batch_wait(b, timeout_ms);
}

int
kafka_producer_up(struct kafka_producer *p)
{
	const struct rd_kafka_metadata *md = NULL;
	long long now = clock_ms();
	rd_kafka_resp_err_t e;
	int up;

	/*
	 * A broker that acknowledged a message a moment ago, with nothing lost
	 * since, is up: under load no check goes to the broker, where it would
	 * wait behind the produce requests.
	 */
	if (!p->lost && !p->expired && now - p->acked_ms < KAFKA_HEALTH_CACHE_MS)
		return 1;
	pthread_mutex_lock(&p->health_mu);
	if (p->health_checked_ms != 0 && now - p->health_checked_ms < KAFKA_HEALTH_CACHE_MS) {
		up = p->health_up;
		pthread_mutex_unlock(&p->health_mu);
		return up;
	}
	/*
	 * Holding the lock: concurrent callers wait for this one answer. No
	 * connected broker (_TRANSPORT) is down. A connected broker that does
	 * not answer in time (a pause, a starved core) is slow, not down, unless
	 * messages expired unacknowledged too: sends then wait for it.
	 */
	e = rd_kafka_metadata(p->rk, 0, NULL, &md, KAFKA_HEALTH_TIMEOUT_MS);
	if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md->broker_cnt > 0) {
		up = 1;
		p->lost = 0;
	} else {
		up = e == RD_KAFKA_RESP_ERR__TIMED_OUT && !p->expired;
	}
	if (md != NULL)
		rd_kafka_metadata_destroy(md);
	if (up != p->health_up || p->health_checked_ms == 0)
		log_msg(up ? LOG_INFO : LOG_WARN, NULL, "kafka: brokers %s%s%s", up ? "up" : "down",
			e == RD_KAFKA_RESP_ERR_NO_ERROR ? "" : ": ",
			e == RD_KAFKA_RESP_ERR_NO_ERROR ? "" : rd_kafka_err2str(e));
	p->health_up = up;
	p->health_checked_ms = clock_ms();
	pthread_mutex_unlock(&p->health_mu);
	return up;
}

void
kafka_producer_stats(struct kafka_producer *p, struct kafka_stats *out)
{
	out->delivered = p->delivered;
	out->failed = p->failed;
}

/* Commits what was stored, ignoring "nothing to commit". */
static int
kafka_commit_stored(rd_kafka_t *rk)
{
	rd_kafka_resp_err_t e = rd_kafka_commit(rk, NULL, 0);

	if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR__NO_OFFSET) {
		log_warn("kafka: commit: %s", rd_kafka_err2str(e));
		return -1;
	}
	return 0;
}

static void
kafka_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
		   void *opaque)
{
	struct kafka_consumer *c = opaque;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		log_info("kafka: assigned %d partitions", parts->cnt);
		rd_kafka_assign(rk, parts);
		if (c->on_assign != NULL)
			c->on_assign(c->arg, parts->cnt);
	} else {
		/* Revoked: what is done is committed before another member takes over. */
		log_info("kafka: revoked %d partitions", parts->cnt);
		kafka_commit_stored(rk);
		rd_kafka_assign(rk, NULL);
	}
}

struct kafka_consumer *
kafka_consumer_new(const char *brokers, const char *group, const char *const *topics,
		   const char *client_id, const struct kafka_tls *tls, int fetch_wait_ms,
		   void (*on_assign)(void *arg, int npartitions), void *arg, char *err)
{
	static const char *const opts[][2] = {
	    {"enable.auto.offset.store", "false"},
	    {"enable.auto.commit", "true"},
	    {"auto.offset.reset", "earliest"},
	    {"session.timeout.ms", KAFKA_SESSION_TIMEOUT_MS},
	    {"heartbeat.interval.ms", KAFKA_HEARTBEAT_MS},
	    {"reconnect.backoff.max.ms", KAFKA_RECONNECT_MAX_MS},
	    {"fetch.max.bytes", KAFKA_FETCH_MAX_BYTES},
	    {"queued.max.messages.kbytes", KAFKA_QUEUED_MAX_KB},
	};
	struct kafka_consumer *c = NULL, *ret = NULL;
	rd_kafka_topic_partition_list_t *subs = NULL;
	rd_kafka_conf_t *conf = NULL;
	rd_kafka_resp_err_t e;
	char es[KAFKA_ERR_MAX / 2], wait[16];
	size_t i;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, KAFKA_ERR_MAX, "kafka: out of memory");
		goto out;
	}
	c->on_assign = on_assign;
	c->arg = arg;
	if ((c->id.group = strdup(group)) == NULL) {
		snprintf(err, KAFKA_ERR_MAX, "kafka: out of memory");
		goto out;
	}
	conf = rd_kafka_conf_new();
	if (kafka_conf_set(conf, "bootstrap.servers", brokers, err) < 0 ||
	    kafka_conf_set(conf, "group.id", group, err) < 0 ||
	    kafka_conf_set(conf, "client.id", client_id, err) < 0 ||
	    kafka_tls_apply(conf, tls, &c->id, err) < 0)
		goto out;
	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (kafka_conf_set(conf, opts[i][0], opts[i][1], err) < 0)
			goto out;
	if (fetch_wait_ms > 0) {
		snprintf(wait, sizeof(wait), "%d", fetch_wait_ms);
		if (kafka_conf_set(conf, "fetch.wait.max.ms", wait, err) < 0 ||
		    kafka_conf_set(conf, "fetch.min.bytes", KAFKA_FETCH_GATHER_BYTES, err) < 0)
			goto out;
	}
	rd_kafka_conf_set_opaque(conf, c);
	rd_kafka_conf_set_rebalance_cb(conf, kafka_rebalance_cb);
	rd_kafka_conf_set_error_cb(conf, kafka_error_cb);
	rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
	if ((c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, es, sizeof(es))) == NULL) {
		snprintf(err, KAFKA_ERR_MAX, "kafka: consumer: %s", es);
		goto out;
	}
	conf = NULL;
	rd_kafka_poll_set_consumer(c->rk);
	subs = rd_kafka_topic_partition_list_new(4);
	for (i = 0; topics[i] != NULL; i++)
		rd_kafka_topic_partition_list_add(subs, topics[i], RD_KAFKA_PARTITION_UA);
	if ((e = rd_kafka_subscribe(c->rk, subs)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(err, KAFKA_ERR_MAX, "kafka: subscribe: %s", rd_kafka_err2str(e));
		goto out;
	}
	ret = c;
	c = NULL;
out:
	if (subs != NULL)
		rd_kafka_topic_partition_list_destroy(subs);
	if (conf != NULL)
		rd_kafka_conf_destroy(conf);
	if (c != NULL) {
		if (c->rk != NULL)
			rd_kafka_destroy(c->rk);
		free(c->id.group);
		free(c);
	}
	return ret;
}

int
kafka_consumer_poll(struct kafka_consumer *c, struct kafka_msg *m, int timeout_ms)
{
	rd_kafka_message_t *rkm = rd_kafka_consumer_poll(c->rk, timeout_ms);

	if (rkm == NULL)
		return 0;
	if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		int fatal = rkm->err == RD_KAFKA_RESP_ERR__FATAL;

		if (rkm->err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED)
			log_error("kafka: principal %s may not join group %s (broker ACL): %s",
				  c->id.principal, c->id.group, rd_kafka_message_errstr(rkm));
		else if (kafka_err_refused(rkm->err))
			log_error("kafka: principal %s may not read topic %s (broker ACL): %s",
				  c->id.principal,
				  rkm->rkt != NULL ? rd_kafka_topic_name(rkm->rkt) : "?",
				  rd_kafka_message_errstr(rkm));
		else if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			log_msg(fatal ? LOG_ERROR : LOG_WARN, NULL, "kafka: consume: %s",
				rd_kafka_message_errstr(rkm));
		rd_kafka_message_destroy(rkm);
		return fatal ? -1 : 0;
	}
	memset(m, 0, sizeof(*m));
	m->topic = rd_kafka_topic_name(rkm->rkt);
	m->partition = rkm->partition;
	m->offset = rkm->offset;
	m->key = rkm->key;
	m->key_len = rkm->key_len;
	m->value = rkm->payload;
	m->len = rkm->len;
	m->_rkm = rkm;
	return 1;
}

int
kafka_consumer_done(struct kafka_consumer *c, const struct kafka_msg *m)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_resp_err_t e;

	rd_kafka_topic_partition_list_add(l, m->topic, m->partition)->offset = m->offset + 1;
	e = rd_kafka_offsets_store(c->rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		log_warn("kafka: store offset %s[%d]@%lld: %s", m->topic, (int)m->partition,
			 (long long)m->offset, rd_kafka_err2str(e));
		return -1;
	}
	return 0;
}

int
kafka_consumer_commit(struct kafka_consumer *c)
{
	return kafka_commit_stored(c->rk);
}

void
kafka_msg_release(struct kafka_msg *m)
{
	if (m->_rkm != NULL)
		rd_kafka_message_destroy(m->_rkm);
	m->_rkm = NULL;
}

void
kafka_consumer_free(struct kafka_consumer *c)
{
	rd_kafka_queue_t *q;
	rd_kafka_error_t *error;
	long long deadline;

	if (c == NULL)
		return;
	kafka_commit_stored(c->rk);
	q = rd_kafka_queue_new(c->rk);
	deadline = clock_ms() + KAFKA_CLOSE_TIMEOUT_MS;
	if ((error = rd_kafka_consumer_close_queue(c->rk, q)) != NULL) {
		log_warn("kafka: close: %s", rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
	} else {
		/* Serves the revoke callback (which commits) until closed or out of time. */
		while (!rd_kafka_consumer_closed(c->rk) && clock_ms() < deadline)
			rd_kafka_queue_poll_callback(q, KAFKA_POLL_MS);
		if (!rd_kafka_consumer_closed(c->rk))
			log_warn("kafka: consumer not closed after %d ms", KAFKA_CLOSE_TIMEOUT_MS);
	}
	rd_kafka_queue_destroy(q);
	rd_kafka_destroy_flags(c->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	free(c->id.group);
	free(c);
}
