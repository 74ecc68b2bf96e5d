/*
 * create-topics: creates Kafka topics in one admin request (what the
 * broker's TopicCommand does, without a JVM start per topic).
 *
 *   create-topics BROKERS TOPIC:PARTITIONS...
 *
 * Replication factor 1 (a single-node broker). A topic that already exists
 * is not an error. Exit 0 when every topic exists afterwards, 1 otherwise,
 * 2 on bad arguments. Built by scripts/stack.sh into .cache/kafka/.
 */
#include <librdkafka/rdkafka.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOPICS_MAX 64
#define TOPIC_NAME_MAX 249 /* the broker's own limit */
#define PARTITIONS_MAX 1024
#define REQUEST_TIMEOUT_MS 30000
#define ERRSTR_LEN 512

struct topic_arg {
	char name[TOPIC_NAME_MAX + 1];
	int partitions;
};

/* Parses "name:partitions" into *out. Returns 0, or -1 with a message. */
static int
topic_arg_parse(const char *s, struct topic_arg *out)
{
	const char *colon = strrchr(s, ':');
	size_t len;
	char *end;
	long n;

	if (colon == NULL || colon == s) {
		fprintf(stderr, "create-topics: %s: expected TOPIC:PARTITIONS\n", s);
		return -1;
	}
	len = (size_t)(colon - s);
	if (len > TOPIC_NAME_MAX) {
		fprintf(stderr, "create-topics: %s: topic name longer than %d\n", s,
			TOPIC_NAME_MAX);
		return -1;
	}
	errno = 0;
	n = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || end == colon + 1 || n < 1 ||
	    n > PARTITIONS_MAX) {
		fprintf(stderr, "create-topics: %s: partitions must be 1..%d, got '%s'\n",
			s, PARTITIONS_MAX, colon + 1);
		return -1;
	}
	memcpy(out->name, s, len);
	out->name[len] = '\0';
	out->partitions = (int)n;
	return 0;
}

/* Sends one CreateTopics request and reports each topic. Returns 0 when all
 * exist afterwards, -1 otherwise. Borrows rk and topics. */
static int
topics_create(rd_kafka_t *rk, const struct topic_arg *topics, int n)
{
	rd_kafka_NewTopic_t *nt[TOPICS_MAX] = {0};
	rd_kafka_queue_t *q = NULL;
	rd_kafka_event_t *ev = NULL;
	const rd_kafka_CreateTopics_result_t *res;
	const rd_kafka_topic_result_t **tr;
	char errstr[ERRSTR_LEN];
	size_t cnt, i;
	int rc = -1, k;

	for (k = 0; k < n; k++) {
		nt[k] = rd_kafka_NewTopic_new(topics[k].name, topics[k].partitions, 1,
					      errstr, sizeof(errstr));
		if (nt[k] == NULL) {
			fprintf(stderr, "create-topics: %s: %s\n", topics[k].name, errstr);
			goto out;
		}
	}
	q = rd_kafka_queue_new(rk);
	rd_kafka_CreateTopics(rk, nt, (size_t)n, NULL, q);
	ev = rd_kafka_queue_poll(q, REQUEST_TIMEOUT_MS + 1000);
	if (ev == NULL) {
		fprintf(stderr, "create-topics: no answer from the broker in %d ms\n",
			REQUEST_TIMEOUT_MS);
		goto out;
	}
	if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "create-topics: %s\n", rd_kafka_event_error_string(ev));
		goto out;
	}
	res = rd_kafka_event_CreateTopics_result(ev);
	tr = rd_kafka_CreateTopics_result_topics(res, &cnt);
	rc = 0;
	for (i = 0; i < cnt; i++) {
		rd_kafka_resp_err_t err = rd_kafka_topic_result_error(tr[i]);

		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
			printf("created %s\n", rd_kafka_topic_result_name(tr[i]));
		else if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
			printf("exists %s\n", rd_kafka_topic_result_name(tr[i]));
		else {
			fprintf(stderr, "create-topics: %s: %s\n",
				rd_kafka_topic_result_name(tr[i]),
				rd_kafka_topic_result_error_string(tr[i]));
			rc = -1;
		}
	}
out:
	if (ev != NULL)
		rd_kafka_event_destroy(ev);
	if (q != NULL)
		rd_kafka_queue_destroy(q);
	for (k = 0; k < n; k++)
		if (nt[k] != NULL)
			rd_kafka_NewTopic_destroy(nt[k]);
	return rc;
}

int
main(int argc, char **argv)
{
	struct topic_arg topics[TOPICS_MAX];
	rd_kafka_conf_t *conf = NULL;
	rd_kafka_t *rk = NULL;
	char errstr[ERRSTR_LEN];
	int n = argc - 2, k, rc = 1;

	if (argc < 3 || n > TOPICS_MAX) {
		fprintf(stderr, "usage: create-topics BROKERS TOPIC:PARTITIONS... (at most %d)\n",
			TOPICS_MAX);
		return 2;
	}
	for (k = 0; k < n; k++)
		if (topic_arg_parse(argv[k + 2], &topics[k]) != 0)
			return 2;
	conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr,
			      sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "create-topics: bootstrap.servers: %s\n", errstr);
		goto out;
	}
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (rk == NULL) {
		fprintf(stderr, "create-topics: %s\n", errstr);
		goto out;
	}
	conf = NULL; /* owned by rk now */
	if (topics_create(rk, topics, n) == 0)
		rc = 0;
out:
	if (rk != NULL)
		rd_kafka_destroy(rk);
	if (conf != NULL)
		rd_kafka_conf_destroy(conf);
	return rc;
}
