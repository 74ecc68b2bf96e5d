/*
 * Kafka wrappers against librdkafka's in-process mock cluster: synchronous
 * delivery, fast failure when the broker is down, offsets stored only for
 * messages marked done (at-least-once).
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "kafka.h"
#include "log.h"
#include "test.h"

#define TOPIC "unit.issue"
#define POLL_LIMIT_MS 20000 /* the mock cluster moves partitions after a session timeout */

static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mock;

/* A one-broker mock cluster with TOPIC (1 partition); returns its bootstrap list. */
static const char *
mock_start(void)
{
	char err[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	log_set_level(getenv("PKI_LOG_LEVEL") ? LOG_DEBUG : LOG_ERROR);
	rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err)); /* no bootstrap: on purpose */
	mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (mock_rk == NULL)
		test_fail(__FILE__, __LINE__, "rd_kafka_new: %s", err);
	if ((mock = rd_kafka_mock_cluster_new(mock_rk, 1)) == NULL)
		test_fail(__FILE__, __LINE__, "no mock cluster");
	rd_kafka_mock_topic_create(mock, TOPIC, 1, 1);
	return rd_kafka_mock_cluster_bootstraps(mock);
}

/* Destroys mock_start's cluster and its handle. */
static void
mock_stop(void)
{
	rd_kafka_mock_cluster_destroy(mock);
	rd_kafka_destroy(mock_rk);
}

/* Polls c until a message arrives or POLL_LIMIT_MS pass; 1 with *m, 0 otherwise. */
static int
next_msg(struct kafka_consumer *c, struct kafka_msg *m, int limit_ms)
{
	long long end = clock_ms() + limit_ms;

	while (clock_ms() < end)
		if (kafka_consumer_poll(c, m, 100) == 1)
			return 1;
	return 0;
}

TEST(kafka_produce_sync_delivers)
{
	const char *brokers = mock_start();
	char err[KAFKA_ERR_MAX];
	struct kafka_producer *p = kafka_producer_new(brokers, "unit", NULL, KAFKA_LINGER_MS, err);
	struct kafka_stats st;

	CHECK(p != NULL);
	CHECK_INT(kafka_producer_up(p), 1);
	CHECK_INT(kafka_produce_sync(p, TOPIC, "k1", "v1", 2, 5000), 0);
	CHECK_INT(kafka_produce(p, TOPIC, "k2", "v2", 2), 0);
	kafka_producer_free(p); /* flushes k2 */
	p = kafka_producer_new(brokers, "unit", NULL, KAFKA_LINGER_MS, err);
	kafka_producer_stats(p, &st);
	CHECK_INT(st.delivered, 0);
	CHECK_INT(kafka_produce_sync(p, TOPIC, NULL, "v3", 2, 5000), 0);
	kafka_producer_stats(p, &st);
	CHECK_INT(st.delivered, 1);
	kafka_producer_free(p);
	mock_stop();
}

static atomic_int done_calls, done_rc;

static void
on_done(void *arg, int rc)
{
	done_rc = rc;
	done_calls++;
}

/* kafka_batch_then calls back once, after every report (at once when none is pending). */
TEST(kafka_batch_then_calls_back_once)
{
	const char *brokers = mock_start();
	char err[KAFKA_ERR_MAX];
	struct kafka_producer *p = kafka_producer_new(brokers, "unit", NULL, KAFKA_LINGER_MS, err);
	struct kafka_batch *b;
	struct kafka_stats st;
	long long t0;
	int i;

	CHECK(p != NULL);
	kafka_batch_then(kafka_batch_new(), on_done, NULL);
	CHECK_INT(done_calls, 1);
	CHECK_INT(done_rc, 0);
	done_rc = -9;
	b = kafka_batch_new();
	for (i = 0; i < 3; i++)
		CHECK_INT(kafka_batch_send(p, b, TOPIC, "k", "v", 1), 0);
	kafka_batch_then(b, on_done, NULL);
	for (t0 = clock_ms(); done_calls < 2 && clock_ms() - t0 < 5000;)
		;
	CHECK_INT(done_calls, 2);
	CHECK_INT(done_rc, 0);
	kafka_producer_stats(p, &st);
	CHECK_INT(st.delivered, 3);
	kafka_producer_free(p);
	CHECK_INT(done_calls, 2);
	mock_stop();
}

TEST(kafka_broker_down_fails_fast)
{
	const char *brokers = mock_start();
	char err[KAFKA_ERR_MAX];
	struct kafka_producer *p = kafka_producer_new(brokers, "unit", NULL, KAFKA_LINGER_MS, err);
	long long t0;
	int rc;

	CHECK(p != NULL);
	CHECK_INT(kafka_produce_sync(p, TOPIC, "k", "v", 1, 5000), 0);
	rd_kafka_mock_broker_set_down(mock, 1);
	/* The cached "up" lasts at most KAFKA_HEALTH_CACHE_MS. */
	t0 = clock_ms();
	while (kafka_producer_up(p) && clock_ms() - t0 < 3000)
		;
	CHECK_INT(kafka_producer_up(p), 0);
	t0 = clock_ms();
	rc = kafka_produce_sync(p, TOPIC, "k", "v", 1, 5000);
	CHECK_INT(rc, KAFKA_EDOWN);
	CHECK(clock_ms() - t0 < 1000);
	rd_kafka_mock_broker_set_up(mock, 1);
	t0 = clock_ms();
	while (!kafka_producer_up(p) && clock_ms() - t0 < 5000)
		;
	CHECK_INT(kafka_produce_sync(p, TOPIC, "k", "v", 1, 5000), 0);
	kafka_producer_free(p);
	mock_stop();
}

/*
 * A loaded or paused broker answers a metadata request after the health
 * check's timeout. Connected, it is up (slow), whether it acknowledged
 * messages a moment ago or not: sends wait for it instead of being refused.
 */
TEST(kafka_up_while_broker_slow)
{
	const char *brokers = mock_start();
	char err[KAFKA_ERR_MAX];
	struct kafka_producer *p = kafka_producer_new(brokers, "unit", NULL, KAFKA_LINGER_MS, err);
	struct kafka_stats st;
	long long t0;
	int down = 0, checks = 0;

	CHECK(p != NULL);
	CHECK_INT(kafka_produce_sync(p, TOPIC, "k", "v", 1, 5000), 0);
	rd_kafka_mock_broker_set_rtt(mock, 1, KAFKA_HEALTH_TIMEOUT_MS + 300);
	t0 = clock_ms();
	while (clock_ms() - t0 < 3500) {
		CHECK_INT(kafka_produce(p, TOPIC, "k", "v", 1), 0);
		if (clock_ms() - t0 > KAFKA_HEALTH_TIMEOUT_MS + 500) {
			checks++;
			down += !kafka_producer_up(p);
		}
		struct timespec ts = {0, 50 * 1000000L};
		nanosleep(&ts, NULL);
	}
	kafka_producer_stats(p, &st);
	CHECK(st.delivered > 20);
	CHECK(checks > 20);
	CHECK_INT(down, 0);
	/* Idle: no acknowledgement for longer than the cache. */
	for (t0 = clock_ms(); clock_ms() - t0 < KAFKA_HEALTH_CACHE_MS + 200;) {
		unsigned long long before = st.delivered;
		struct timespec ts = {0, 100 * 1000000L};

		nanosleep(&ts, NULL);
		kafka_producer_stats(p, &st);
		if (st.delivered != before)
			t0 = clock_ms();
	}
	t0 = clock_ms();
	CHECK_INT(kafka_producer_up(p), 1);
	CHECK(clock_ms() - t0 >= KAFKA_HEALTH_TIMEOUT_MS - 50); /* it did ask the broker */
	CHECK_INT(kafka_produce_sync(p, TOPIC, "k", "v", 1, 5000), 0);
	rd_kafka_mock_broker_set_rtt(mock, 1, 0);
	kafka_producer_free(p);
	mock_stop();
}

static int assigned;
static void
on_assign(void *arg, int n)
{
	assigned++;
}

TEST(kafka_consumer_redelivers_unfinished)
{
	const char *brokers = mock_start(), *topics[] = {TOPIC, NULL};
	char err[KAFKA_ERR_MAX];
	struct kafka_producer *p = kafka_producer_new(brokers, "unit", NULL, KAFKA_LINGER_MS, err);
	struct kafka_consumer *c;
	struct kafka_msg m;
	int i;

	for (i = 0; i < 3; i++)
		CHECK_INT(kafka_produce_sync(p, TOPIC, "k",
					     i == 0   ? "a"
					     : i == 1 ? "b"
						      : "c",
					     1, 5000),
			  0);
	/* First member: finishes "a" and "b", takes "c" but never finishes it. */
	c = kafka_consumer_new(brokers, "unit-group", topics, "unit-c1", NULL, 0, on_assign, NULL,
			       err);
	CHECK(c != NULL);
	for (i = 0; i < 3; i++) {
		if (!next_msg(c, &m, POLL_LIMIT_MS))
			test_fail(__FILE__, __LINE__, "message %d not consumed", i);
		CHECK_INT(m.len, 1);
		CHECK_INT(((const char *)m.value)[0], "abc"[i]);
		if (i < 2)
			CHECK_INT(kafka_consumer_done(c, &m), 0);
		kafka_msg_release(&m);
	}
	CHECK(assigned >= 1);
	CHECK_INT(kafka_consumer_commit(c), 0);
	kafka_consumer_free(c);
	/* The next member of the group starts at "c". */
	c = kafka_consumer_new(brokers, "unit-group", topics, "unit-c2", NULL, 0, NULL, NULL, err);
	if (!next_msg(c, &m, POLL_LIMIT_MS))
		test_fail(__FILE__, __LINE__, "unfinished message not redelivered");
	CHECK_INT(((const char *)m.value)[0], 'c');
	kafka_msg_release(&m);
	kafka_consumer_free(c);
	kafka_producer_free(p);
	mock_stop();
}

/*
 * A consumer that lets the broker gather (fetch_wait_ms) still gets a lone
 * message: the broker answers the held fetch once the wait is over.
 */
TEST(kafka_gathering_consumer_gets_a_lone_message)
{
	const char *brokers = mock_start(), *topics[] = {TOPIC, NULL};
	char err[KAFKA_ERR_MAX];
	struct kafka_producer *p = kafka_producer_new(brokers, "unit", NULL, KAFKA_LINGER_MS, err);
	struct kafka_consumer *c;
	struct kafka_msg m;

	CHECK(p != NULL);
	c = kafka_consumer_new(brokers, "unit-gather", topics, "unit-c4", NULL, 200, NULL, NULL,
			       err);
	CHECK(c != NULL);
	CHECK_INT(kafka_produce_sync(p, TOPIC, "k", "lone", 4, 5000), 0);
	if (!next_msg(c, &m, POLL_LIMIT_MS))
		test_fail(__FILE__, __LINE__, "lone message not consumed");
	CHECK_INT(m.len, 4);
	CHECK(memcmp(m.value, "lone", 4) == 0);
	kafka_msg_release(&m);
	kafka_consumer_free(c);
	kafka_producer_free(p);
	mock_stop();
}

/*
 * A burst of sends with different keys goes to the partition of its time
 * window, not to the partitions its keys hash to: at most one partition
 * per window the burst spanned (keyed, forty keys would use all four).
 */
TEST(kafka_burst_takes_one_partition_per_window)
{
	const char *brokers = mock_start(), *topics[] = {"unit.burst", NULL};
	char err[KAFKA_ERR_MAX], key[16];
	struct kafka_producer *p;
	struct kafka_consumer *c;
	struct kafka_msg m;
	int i, used[4] = {0}, nused = 0;
	long long w0, w1;

	rd_kafka_mock_topic_create(mock, "unit.burst", 4, 1);
	p = kafka_producer_new(brokers, "unit", NULL, KAFKA_LINGER_MS, err);
	CHECK(p != NULL);
	CHECK_INT(kafka_produce_sync(p, "unit.burst", "first", "v", 1, 5000), 0);
	w0 = clock_ms() / KAFKA_STICKY_MS;
	for (i = 0; i < 40; i++) {
		snprintf(key, sizeof(key), "req-%d", i);
		CHECK_INT(kafka_produce(p, "unit.burst", key, "v", 1), 0);
	}
	w1 = clock_ms() / KAFKA_STICKY_MS;
	kafka_producer_free(p); /* flushes */
	c = kafka_consumer_new(brokers, "unit-burst", topics, "unit-c3", NULL, 0, NULL, NULL, err);
	CHECK(c != NULL);
	for (i = 0; i < 41; i++) {
		if (!next_msg(c, &m, POLL_LIMIT_MS))
			test_fail(__FILE__, __LINE__, "message %d of the burst not consumed", i);
		if (m.key_len > 4 && memcmp(m.key, "req-", 4) == 0 && m.partition >= 0 &&
		    m.partition < 4 && !used[m.partition]++)
			nused++;
		kafka_msg_release(&m);
	}
	CHECK(nused >= 1);
	CHECK(nused <= w1 - w0 + 1);
	kafka_consumer_free(c);
	mock_stop();
}
