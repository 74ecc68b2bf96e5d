/*
 * create-topics: creates Kafka topics and the ACLs of the services in one
 * admin request each (what the broker's TopicCommand and AclCommand do,
 * without a JVM start per call).
 *
 *   create-topics [-X PROP=VALUE]... [-t TOPIC:PARTITIONS]... [-n KEY=NAME]...
 *                 [-b PRINCIPAL]... [-a] BROKERS
 *
 *   -X  a librdkafka property (TLS: security.protocol=ssl, ssl.ca.location,
 *       ssl.certificate.location, ssl.key.location of a super user)
 *   -t  a topic to create (replication factor 1: a single-node broker); one
 *       that already exists is not an error
 *   -n  the real name of a topic or group the ACL table names by key (topic
 *       keys as in the config's kafka.topics; groups "workers" = kafka.group,
 *       "approver", "approver-results"); unnamed keys keep their defaults
 *   -b  a bulk producer's principal: Write on the submit topic only
 *   -a  create the ACL table's bindings (and those of every -b); creating a
 *       binding that exists is not an error, so a rerun only adds
 *
 * Exit 0 when every topic and binding exists afterwards, 1 otherwise, 2 on
 * bad arguments. Built by scripts/stack.sh into .cache/kafka/.
 */
#define _DEFAULT_SOURCE /* getopt, usleep */
#include <librdkafka/rdkafka.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOPICS_MAX 64
#define TOPIC_NAME_MAX 249 /* the broker's own limit */
#define PARTITIONS_MAX 1024
#define BULK_MAX 256
#define ACLS_MAX (64 + 3 * BULK_MAX)
#define REQUEST_TIMEOUT_MS 30000
#define ERRSTR_LEN 512
#define PRINCIPAL_MAX 128
#define CLUSTER_NAME "kafka-cluster" /* the one name of Kafka's cluster resource */
#define ACL_APPLY_TIMEOUT_MS 15000    /* for the broker to apply what the controller took */
#define ACL_APPLY_POLL_MS 100

struct topic_arg {
	char name[TOPIC_NAME_MAX + 1];
	int partitions;
};

/* Names the ACL table uses, by key: defaults of the config and approver/approver.h. */
static struct name {
	const char *key, *value;
} names[] = {
    {"issue", "pki.issue"},		  {"submit", "pki.submit"},
    {"approval", "pki.approval"},	  {"results", "pki.results"},
    {"issued", "pki.issued"},		  {"audit", "pki.audit"},
    {"notify", "pki.notify"},		  {"dlq", "pki.issue.dlq"},
    {"workers", "pki-workers"},		  {"approver", "pki-approver"},
    {"approver-results", "pki-approver-results"},
};
#define NNAMES (sizeof(names) / sizeof(names[0]))

enum res { RES_TOPIC, RES_GROUP, RES_CLUSTER };

struct acl_rule {
	const char *principal; /* the CN of the service's client certificate */
	rd_kafka_AclOperation_t op;
	enum res res;
	const char *key; /* in names[]; NULL for the cluster */
};

#define READ(p, k) {p, RD_KAFKA_ACL_OPERATION_READ, RES_TOPIC, k}
#define GROUP(p, k) {p, RD_KAFKA_ACL_OPERATION_READ, RES_GROUP, k}
/* Write implies Describe in Kafka; both are listed so the bindings read as the table in the docs. */
#define WRITE(p, k) {p, RD_KAFKA_ACL_OPERATION_WRITE, RES_TOPIC, k}, \
		    {p, RD_KAFKA_ACL_OPERATION_DESCRIBE, RES_TOPIC, k}
/* Every producer is idempotent (lib/io/kafka.c). */
#define IDEMPOTENT(p) {p, RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE, RES_CLUSTER, NULL}

/* Exactly what each service uses (docs/architecture.md, "Who may write and read each topic"). */
static const struct acl_rule rules[] = {
    WRITE("pki-gateway", "issue"),
    WRITE("pki-gateway", "approval"),
    WRITE("pki-gateway", "audit"),
    IDEMPOTENT("pki-gateway"),

    READ("pki-worker", "issue"),
    READ("pki-worker", "submit"),
    GROUP("pki-worker", "workers"),
    WRITE("pki-worker", "results"),
    WRITE("pki-worker", "issued"),
    WRITE("pki-worker", "audit"),
    WRITE("pki-worker", "approval"),
    WRITE("pki-worker", "dlq"),
    IDEMPOTENT("pki-worker"),

    READ("pki-approver", "approval"),
    READ("pki-approver", "results"),
    GROUP("pki-approver", "approver"),
    GROUP("pki-approver", "approver-results"),
    WRITE("pki-approver", "issue"),
    WRITE("pki-approver", "results"), /* rejected and expired requests' outcomes */
    WRITE("pki-approver", "audit"),
    WRITE("pki-approver", "notify"),
    IDEMPOTENT("pki-approver"),
};
/* And each bulk producer: */
static const struct acl_rule bulk_rules[] = {
    WRITE(NULL, "submit"),
    IDEMPOTENT(NULL),
};
#define NRULES (sizeof(rules) / sizeof(rules[0]))
#define NBULK_RULES (sizeof(bulk_rules) / sizeof(bulk_rules[0]))

static void
usage(void)
{
	fprintf(stderr, "usage: create-topics [-X PROP=VALUE]... [-t TOPIC:PARTITIONS]... "
			"[-n KEY=NAME]... [-b PRINCIPAL]... [-a] BROKERS\n");
}

/* Parses "name:partitions" into *out. Returns 0, or -1 with a message. */
static int
topic_arg_parse(const char *s, struct topic_arg *out)
{
	const char *colon = strrchr(s, ':');
	size_t len;
	char *end;
	long n;

	if (colon == NULL || colon == s) {
		fprintf(stderr, "create-topics: -t %s: expected TOPIC:PARTITIONS\n", s);
		return -1;
	}
	len = (size_t)(colon - s);
	if (len > TOPIC_NAME_MAX) {
		fprintf(stderr, "create-topics: -t %s: topic name longer than %d\n", s,
			TOPIC_NAME_MAX);
		return -1;
	}
	errno = 0;
	n = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || end == colon + 1 || n < 1 || n > PARTITIONS_MAX) {
		fprintf(stderr, "create-topics: -t %s: partitions must be 1..%d, got '%s'\n", s,
			PARTITIONS_MAX, colon + 1);
		return -1;
	}
	memcpy(out->name, s, len);
	out->name[len] = '\0';
	out->partitions = (int)n;
	return 0;
}

/* Applies "KEY=NAME" to names[]. Returns 0, or -1 with a message. */
static int
name_arg_parse(const char *s)
{
	const char *eq = strchr(s, '=');
	size_t i;

	for (i = 0; eq != NULL && eq[1] != '\0' && i < NNAMES; i++)
		if (strlen(names[i].key) == (size_t)(eq - s) &&
		    strncmp(names[i].key, s, (size_t)(eq - s)) == 0) {
			names[i].value = eq + 1;
			return 0;
		}
	fprintf(stderr, "create-topics: -n %s: expected KEY=NAME with KEY one of", s);
	for (i = 0; i < NNAMES; i++)
		fprintf(stderr, " %s", names[i].key);
	fprintf(stderr, "\n");
	return -1;
}

static const char *
name_of(const char *key)
{
	size_t i;

	for (i = 0; i < NNAMES; i++)
		if (strcmp(names[i].key, key) == 0)
			return names[i].value;
	return NULL;
}

/* Waits for the one answer on q; NULL (reported) on a timeout or a request-level error. */
static rd_kafka_event_t *
answer_wait(rd_kafka_queue_t *q, const char *what)
{
	rd_kafka_event_t *ev = rd_kafka_queue_poll(q, REQUEST_TIMEOUT_MS + 1000);

	if (ev == NULL) {
		fprintf(stderr, "create-topics: %s: no answer from the broker in %d ms\n", what,
			REQUEST_TIMEOUT_MS);
		return NULL;
	}
	if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "create-topics: %s: %s\n", what, rd_kafka_event_error_string(ev));
		rd_kafka_event_destroy(ev);
		return NULL;
	}
	return ev;
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

	if (n == 0)
		return 0;
	for (k = 0; k < n; k++) {
		nt[k] = rd_kafka_NewTopic_new(topics[k].name, topics[k].partitions, 1, errstr,
					      sizeof(errstr));
		if (nt[k] == NULL) {
			fprintf(stderr, "create-topics: %s: %s\n", topics[k].name, errstr);
			goto out;
		}
	}
	q = rd_kafka_queue_new(rk);
	rd_kafka_CreateTopics(rk, nt, (size_t)n, NULL, q);
	if ((ev = answer_wait(q, "topics")) == NULL)
		goto out;
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

/* One allow binding for rule r (principal overrides r->principal when not NULL), or NULL. */
static rd_kafka_AclBinding_t *
binding_new(const struct acl_rule *r, const char *principal)
{
	/* librdkafka 2.0 calls Kafka's CLUSTER resource type (4) BROKER. */
	static const rd_kafka_ResourceType_t types[] = {
	    [RES_TOPIC] = RD_KAFKA_RESOURCE_TOPIC,
	    [RES_GROUP] = RD_KAFKA_RESOURCE_GROUP,
	    [RES_CLUSTER] = RD_KAFKA_RESOURCE_BROKER,
	};
	char user[PRINCIPAL_MAX], errstr[ERRSTR_LEN];
	const char *name = r->res == RES_CLUSTER ? CLUSTER_NAME : name_of(r->key);
	rd_kafka_AclBinding_t *b;

	snprintf(user, sizeof(user), "User:%s", principal ? principal : r->principal);
	b = rd_kafka_AclBinding_new(types[r->res], name, RD_KAFKA_RESOURCE_PATTERN_LITERAL, user,
				    "*", r->op, RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, errstr,
				    sizeof(errstr));
	if (b == NULL)
		fprintf(stderr, "create-topics: acl %s %s %s: %s\n", user,
			rd_kafka_AclOperation_name(r->op), name, errstr);
	else
		printf("acl %s %s %s\n", user, rd_kafka_AclOperation_name(r->op), name);
	return b;
}

/* 1 if a binding equal to want is in list (cnt entries). */
static int
binding_listed(const rd_kafka_AclBinding_t *want, const rd_kafka_AclBinding_t **list, size_t cnt)
{
	size_t i;

	for (i = 0; i < cnt; i++)
		if (rd_kafka_AclBinding_restype(list[i]) == rd_kafka_AclBinding_restype(want) &&
		    rd_kafka_AclBinding_operation(list[i]) == rd_kafka_AclBinding_operation(want) &&
		    strcmp(rd_kafka_AclBinding_name(list[i]), rd_kafka_AclBinding_name(want)) == 0 &&
		    strcmp(rd_kafka_AclBinding_principal(list[i]),
			   rd_kafka_AclBinding_principal(want)) == 0)
			return 1;
	return 0;
}

/*
 * Waits until the broker's authorizer lists all n bindings: the controller
 * acknowledges CreateAcls before the broker applies them, and a service
 * started in between would be refused. 0, or -1 after ACL_APPLY_TIMEOUT_MS.
 */
static int
acls_wait(rd_kafka_t *rk, rd_kafka_AclBinding_t *const *acl, size_t n)
{
	rd_kafka_AclBindingFilter_t *any = NULL;
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	char errstr[ERRSTR_LEN];
	int waited, rc = -1;
	size_t i = 0;

	any = rd_kafka_AclBindingFilter_new(
	    RD_KAFKA_RESOURCE_ANY, NULL, RD_KAFKA_RESOURCE_PATTERN_ANY, NULL, NULL,
	    RD_KAFKA_ACL_OPERATION_ANY, RD_KAFKA_ACL_PERMISSION_TYPE_ANY, errstr, sizeof(errstr));
	if (any == NULL) {
		fprintf(stderr, "create-topics: acl filter: %s\n", errstr);
		goto out;
	}
	for (waited = 0; waited < ACL_APPLY_TIMEOUT_MS; waited += ACL_APPLY_POLL_MS) {
		const rd_kafka_AclBinding_t **list;
		rd_kafka_event_t *ev;
		size_t cnt;

		rd_kafka_DescribeAcls(rk, any, NULL, q);
		if ((ev = answer_wait(q, "describe acls")) == NULL)
			goto out;
		list = rd_kafka_DescribeAcls_result_acls(rd_kafka_event_DescribeAcls_result(ev), &cnt);
		while (i < n && binding_listed(acl[i], list, cnt))
			i++;
		rd_kafka_event_destroy(ev);
		if (i == n) {
			rc = 0;
			goto out;
		}
		usleep(ACL_APPLY_POLL_MS * 1000);
	}
	fprintf(stderr, "create-topics: the broker did not apply the ACLs within %d ms\n",
		ACL_APPLY_TIMEOUT_MS);
out:
	if (any != NULL)
		rd_kafka_AclBinding_destroy(any);
	rd_kafka_queue_destroy(q);
	return rc;
}

/* Creates the table's bindings and those of each bulk principal. 0 when all apply. */
static int
acls_create(rd_kafka_t *rk, char *const *bulk, int nbulk)
{
	rd_kafka_AclBinding_t *acl[ACLS_MAX] = {0};
	rd_kafka_queue_t *q = NULL;
	rd_kafka_event_t *ev = NULL;
	const rd_kafka_acl_result_t **ar;
	size_t n = 0, cnt, i, k;
	int rc = -1;

	for (i = 0; i < NRULES; i++)
		if ((acl[n++] = binding_new(&rules[i], NULL)) == NULL)
			goto out;
	for (k = 0; k < (size_t)nbulk; k++)
		for (i = 0; i < NBULK_RULES; i++)
			if ((acl[n++] = binding_new(&bulk_rules[i], bulk[k])) == NULL)
				goto out;
	q = rd_kafka_queue_new(rk);
	rd_kafka_CreateAcls(rk, acl, n, NULL, q);
	if ((ev = answer_wait(q, "acls")) == NULL)
		goto out;
	ar = rd_kafka_CreateAcls_result_acls(rd_kafka_event_CreateAcls_result(ev), &cnt);
	rc = cnt == n ? 0 : -1;
	for (i = 0; i < cnt; i++) {
		const rd_kafka_error_t *e = rd_kafka_acl_result_error(ar[i]);

		if (e != NULL) {
			fprintf(stderr, "create-topics: acl %zu: %s\n", i, rd_kafka_error_string(e));
			rc = -1;
		}
	}
	if (rc == 0 && (rc = acls_wait(rk, acl, n)) == 0)
		printf("acls: %zu bindings (%d bulk principals)\n", n, nbulk);
out:
	if (ev != NULL)
		rd_kafka_event_destroy(ev);
	if (q != NULL)
		rd_kafka_queue_destroy(q);
	for (i = 0; i < n; i++)
		if (acl[i] != NULL)
			rd_kafka_AclBinding_destroy(acl[i]);
	return rc;
}

int
main(int argc, char **argv)
{
	static struct topic_arg topics[TOPICS_MAX];
	char *bulk[BULK_MAX], errstr[ERRSTR_LEN], *eq;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk = NULL;
	int ntopics = 0, nbulk = 0, acls = 0, opt, rc = 2;

	while ((opt = getopt(argc, argv, "X:t:n:b:a")) != -1) {
		switch (opt) {
		case 'X':
			if ((eq = strchr(optarg, '=')) == NULL) {
				fprintf(stderr, "create-topics: -X %s: expected PROP=VALUE\n", optarg);
				goto out;
			}
			*eq = '\0';
			if (rd_kafka_conf_set(conf, optarg, eq + 1, errstr, sizeof(errstr)) !=
			    RD_KAFKA_CONF_OK) {
				fprintf(stderr, "create-topics: -X %s: %s\n", optarg, errstr);
				goto out;
			}
			break;
		case 't':
			if (ntopics == TOPICS_MAX) {
				fprintf(stderr, "create-topics: at most %d topics\n", TOPICS_MAX);
				goto out;
			}
			if (topic_arg_parse(optarg, &topics[ntopics++]) != 0)
				goto out;
			break;
		case 'n':
			if (name_arg_parse(optarg) != 0)
				goto out;
			break;
		case 'b':
			if (nbulk == BULK_MAX || strlen(optarg) + sizeof("User:") > PRINCIPAL_MAX) {
				fprintf(stderr, "create-topics: -b %s: at most %d principals of %d bytes\n",
					optarg, BULK_MAX, PRINCIPAL_MAX - (int)sizeof("User:"));
				goto out;
			}
			bulk[nbulk++] = optarg;
			break;
		case 'a':
			acls = 1;
			break;
		default:
			usage();
			goto out;
		}
	}
	if (optind != argc - 1) {
		usage();
		goto out;
	}
	rc = 1;
	if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[optind], errstr, sizeof(errstr)) !=
	    RD_KAFKA_CONF_OK) {
		fprintf(stderr, "create-topics: bootstrap.servers: %s\n", errstr);
		goto out;
	}
	if ((rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr))) == NULL) {
		fprintf(stderr, "create-topics: %s\n", errstr);
		goto out;
	}
	conf = NULL; /* owned by rk now */
	if (topics_create(rk, topics, ntopics) == 0 && (!acls || acls_create(rk, bulk, nbulk) == 0))
		rc = 0;
out:
	if (rk != NULL)
		rd_kafka_destroy(rk);
	if (conf != NULL)
		rd_kafka_conf_destroy(conf);
	return rc;
}
