/*
 * Kafka wrappers over librdkafka: an idempotent producer (acks=all) with a
 * synchronous send that waits for the delivery report, a cheap broker
 * reachability check for /healthz, and a group consumer that stores offsets
 * only when the caller says a message is done (at-least-once).
 */
#ifndef PKI_KAFKA_H
#define PKI_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define KAFKA_ERR_MAX 256
#define KAFKA_HEALTH_TIMEOUT_MS 500      /* metadata round trip allowed for the check */
#define KAFKA_HEALTH_CACHE_MS 1000       /* how long a check result is reused */
#define KAFKA_MESSAGE_TIMEOUT_MS 5000    /* librdkafka gives up on a message after this */
#define KAFKA_FLUSH_TIMEOUT_MS 3000      /* at shutdown */
#define KAFKA_CLOSE_TIMEOUT_MS 3000      /* consumer close at shutdown */
#define KAFKA_SESSION_TIMEOUT_MS "10000" /* a dead consumer's partitions move after this */
/*
 * A member learns of a rebalance at its next heartbeat, and the group waits
 * for every member: librdkafka's 3 s default made each worker that joins
 * stop the others' work for seconds.
 */
#define KAFKA_HEARTBEAT_MS "500"
#define KAFKA_PRINCIPAL_MAX 96 /* a client certificate's CN, as the broker's principal */
#define KAFKA_FETCH_GATHER_BYTES "1048576" /* fetch.min.bytes of a consumer with fetch_wait_ms */

/* Return codes besides 0. */
#define KAFKA_EDOWN (-2)    /* no broker reachable (checked before or while sending) */
#define KAFKA_ETIMEOUT (-3) /* no delivery report within the caller's timeout */

struct kafka_producer;
struct kafka_consumer;

/*
 * TLS: tls NULL or tls->ca NULL connects in plaintext; otherwise over TLS
 * (security.protocol=ssl) trusting tls->ca and authenticating with the client
 * certificate tls->cert and key tls->key, whose subject CN is the broker's
 * principal. A refused handshake or a denied operation is logged as an error
 * naming the principal and the topic or group.
 */

/*
 * How long a send waits for others to join its batch (linger.ms): sends one
 * by one (KAFKA_LINGER_MS), or sends that come as a whole batch of outcomes
 * whose delivery is then waited for at once (KAFKA_LINGER_BATCH_MS: the
 * batch is already there, waiting longer only idles the sender).
 */
#define KAFKA_LINGER_MS 5
#define KAFKA_LINGER_BATCH_MS 1

/*
 * A producer sends to one partition of a topic for every window of this
 * length, whatever the messages' keys: librdkafka 2.0 sends one produce
 * request per partition with data, so a window's messages leave as one
 * request instead of one for each partition their keys hash to.
 */
#define KAFKA_STICKY_MS 5

/*
 * Creates an idempotent producer (enable.idempotence=true, acks=all) for the
 * comma-separated brokers and starts its delivery-report thread. It places
 * a topic's messages by time, not by key: one partition for a few
 * milliseconds, then the next (KAFKA_STICKY_MS). client_id
 * names it in broker logs; tls as above; linger_ms as above. Returns NULL
 * with a message in err (KAFKA_ERR_MAX). Caller frees with kafka_producer_free.
 */
struct kafka_producer *kafka_producer_new(const char *brokers, const char *client_id,
					  const struct kafka_tls *tls, int linger_ms, char *err);

/* Flushes outstanding messages (KAFKA_FLUSH_TIMEOUT_MS), stops the thread, frees. NULL is safe. */
void kafka_producer_free(struct kafka_producer *p);

/*
 * Sends value (len bytes, copied) with key (NUL-terminated, may be NULL) to
 * topic and waits for its delivery report, at most timeout_ms. Thread-safe.
 * Returns 0 once the broker acknowledged it (acks=all), KAFKA_EDOWN when the
 * brokers are known to be unreachable (fails fast, nothing queued),
 * KAFKA_ETIMEOUT when no report came in time (the message may still be
 * delivered later), -1 on another delivery error (logged).
 */
int kafka_produce_sync(struct kafka_producer *p, const char *topic, const char *key,
		       const void *value, size_t len, int timeout_ms);

/*
 * Queues value for topic without waiting (audit events and the like);
 * delivery failures are logged by the delivery-report thread. Thread-safe.
 * Returns 0 if queued, -1 otherwise.
 */
int kafka_produce(struct kafka_producer *p, const char *topic, const char *key, const void *value,
		  size_t len);

/*
 * A set of sends whose delivery reports are waited for together, so that one
 * wait covers several messages (a worker's results of many requests).
 */
struct kafka_batch;

/* An empty batch, or NULL without memory. Consumed by kafka_batch_wait or kafka_batch_then. */
struct kafka_batch *kafka_batch_new(void);

/*
 * Queues value for topic as part of b, without waiting. Thread-safe.
 * Returns 0 if queued, KAFKA_EDOWN when the brokers are known to be
 * unreachable, -1 otherwise (nothing queued for this message).
 */
int kafka_batch_send(struct kafka_producer *p, struct kafka_batch *b, const char *topic,
		     const char *key, const void *value, size_t len);

/*
 * Waits at most timeout_ms for the delivery reports of every message queued
 * in b, then frees b (or leaves it to the last report after a timeout).
 * Returns 0 when all were acknowledged (acks=all), KAFKA_ETIMEOUT,
 * KAFKA_EDOWN or -1 as kafka_produce_sync does for the first failed one.
 */
int kafka_batch_wait(struct kafka_batch *b, int timeout_ms);

/* Called once every message of a batch has its delivery report; rc as kafka_batch_wait's. */
typedef void (*kafka_done_fn)(void *arg, int rc);
/*
 * Hands b over without waiting: fn(arg, rc) is called once, from the
 * producer's poll thread when the last report comes (at once in this thread
 * when none is pending), then b is freed. Every message ends within
 * KAFKA_MESSAGE_TIMEOUT_MS, so fn always comes; keep it short.
 */
void kafka_batch_then(struct kafka_batch *b, kafka_done_fn fn, void *arg);

/*
 * 0 when no broker is connected, or when one is connected but neither answers
 * a metadata request within KAFKA_HEALTH_TIMEOUT_MS nor has acknowledged the
 * messages that expired meanwhile; 1 otherwise. A broker that acknowledged a
 * message less than KAFKA_HEALTH_CACHE_MS ago, with no lost connection or
 * failed delivery reported since, is up without a request; a request's answer
 * is kept for KAFKA_HEALTH_CACHE_MS, and a lost connection drops it, so that
 * an outage shows at once. Thread-safe; at most one caller waits for the
 * round trip.
 */
int kafka_producer_up(struct kafka_producer *p);

/* Delivery counters since start (for /metrics). */
struct kafka_stats {
	uint64_t delivered, failed;
};
void kafka_producer_stats(struct kafka_producer *p, struct kafka_stats *out);

/* One consumed message, valid until kafka_msg_release. */
struct kafka_msg {
	const char *topic;
	int32_t partition;
	int64_t offset;
	const void *key;
	size_t key_len;
	const void *value;
	size_t len;
	void *_rkm; /* rd_kafka_message_t */
};

/*
 * Joins consumer group `group` on the NULL-terminated topics, with
 * enable.auto.offset.store=false: offsets are stored only by
 * kafka_consumer_done and committed in the background, on rebalance and on
 * close. on_assign (may be NULL) is called from kafka_consumer_poll after
 * every assignment with the number of partitions now held. tls as above.
 * fetch_wait_ms 0 fetches each message as soon as the broker has it; more
 * lets the broker hold a fetch that long to gather what comes meanwhile
 * (KAFKA_FETCH_GATHER_BYTES at most), for a consumer off the request path:
 * fewer, larger fetches for the broker to serve. Returns NULL with a message
 * in err. Caller frees with kafka_consumer_free.
 */
struct kafka_consumer *kafka_consumer_new(const char *brokers, const char *group,
					  const char *const *topics, const char *client_id,
					  const struct kafka_tls *tls, int fetch_wait_ms,
					  void (*on_assign)(void *arg, int npartitions), void *arg,
					  char *err);

/*
 * Waits up to timeout_ms for a message. Returns 1 and fills *m (release with
 * kafka_msg_release), 0 on timeout or a non-fatal event, -1 on a fatal
 * consumer error (logged). Not thread-safe: one thread polls a consumer.
 */
int kafka_consumer_poll(struct kafka_consumer *c, struct kafka_msg *m, int timeout_ms);

/* Marks m processed: its offset + 1 is stored for the next commit. Returns 0 or -1. */
int kafka_consumer_done(struct kafka_consumer *c, const struct kafka_msg *m);

/* Commits stored offsets now and waits for the answer. 0 (also when nothing to commit) or -1. */
int kafka_consumer_commit(struct kafka_consumer *c);

void kafka_msg_release(struct kafka_msg *m);

/* Commits stored offsets, leaves the group (KAFKA_CLOSE_TIMEOUT_MS at most), frees. NULL is safe.
 */
void kafka_consumer_free(struct kafka_consumer *c);

#endif
