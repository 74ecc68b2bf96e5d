/*
 * The worker's claim protocol in the request store, against a private
 * redis-server: one claim at a time, a stale claim re-taken after its lease,
 * the earlier holder unable to finish, batch counters counted once.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "redis.h"
#include "store.h"
#include "test.h"

#define CLAIM_REDIS_WAIT_MS 5000
#define CLAIM_LEASE_S 1

extern char **environ;

static pid_t claim_redis_pid;

static void
claim_redis_stop(void)
{
	if (claim_redis_pid > 0) {
		kill(claim_redis_pid, SIGKILL);
		waitpid(claim_redis_pid, NULL, 0);
	}
}

/* Starts redis-server without persistence; the store s points at it. */
static void
claim_redis_start(struct store *s, char *url, size_t urllen)
{
	char ports[16];
	char *argv[] = {"redis-server", "--port",     ports,     "--bind",
			"127.0.0.1",    "--save",     "",        "--appendonly",
			"no",           "--loglevel", "warning", NULL};
	struct redis *r;
	int i, port = test_free_port();

	snprintf(ports, sizeof(ports), "%d", port);
	snprintf(url, urllen, "redis://127.0.0.1:%d/0", port);
	if (posix_spawnp(&claim_redis_pid, "redis-server", NULL, NULL, argv, environ) != 0)
		test_fail(__FILE__, __LINE__, "cannot start redis-server");
	atexit(claim_redis_stop);
	r = redis_thread(url);
	CHECK(r != NULL);
	for (i = 0; i < CLAIM_REDIS_WAIT_MS / 50 && !redis_ping(r); i++)
		usleep(50 * 1000);
	CHECK(redis_ping(r));
	s->redis_url = url;
	s->prefix = "t:";
}

static void
claim_record(const struct store *s, const char *id, enum req_state state, const char *batch)
{
	struct req_record rec = {0};

	rec.id = (char *)id;
	rec.state = state;
	rec.batch_id = (char *)batch;
	CHECK_INT(store_create(s, &rec), 0);
}

static long long
claim_batch_count(const char *url, const char *batch, const char *field)
{
	redisReply *rep = redis_cmd(redis_thread(url), "HGET t:batch:%s %s", batch, field);
	long long n = rep != NULL && rep->type == REDIS_REPLY_STRING ? atoll(rep->str) : 0;

	freeReplyObject(rep);
	return n;
}

TEST(worker_claim_once_then_lease_retake)
{
	static const struct req_record issued = {.serial = "ab"}, other = {.serial = "cd"};
	struct store s = {0};
	struct req_record *rec = NULL;
	char url[64];
	enum req_state cur = REQ_NONE;

	claim_redis_start(&s, url, sizeof(url));
	claim_record(&s, "r1", REQ_QUEUED, "b1");

	CHECK_INT(store_claim(&s, "r1", "A", CLAIM_LEASE_S, NULL, 0, &cur), 0);
	/* A second worker finds a live claim. */
	CHECK_INT(store_claim(&s, "r1", "B", CLAIM_LEASE_S, NULL, 0, &cur), STORE_ECONFLICT);
	CHECK_INT(cur, REQ_ISSUING);
	/* Nobody but the holder may finish it. */
	CHECK_INT(store_transition_ex(&s, "r1", REQ_ISSUING, REQ_ISSUED, &issued, "B", "b1", &cur),
		  STORE_ELEASE);
	/* After the lease, B re-takes it, and A (slow, not dead) can no longer finish. */
	sleep(CLAIM_LEASE_S + 1);
	CHECK_INT(store_claim(&s, "r1", "B", CLAIM_LEASE_S, NULL, 0, &cur), 1);
	CHECK_INT(store_transition_ex(&s, "r1", REQ_ISSUING, REQ_ISSUED, &issued, "A", "b1", &cur),
		  STORE_ELEASE);
	CHECK_INT(claim_batch_count(url, "b1", req_state_name(REQ_ISSUED)), 0);
	CHECK_INT(store_transition_ex(&s, "r1", REQ_ISSUING, REQ_ISSUED, &issued, "B", "b1", &cur),
		  0);
	CHECK_INT(claim_batch_count(url, "b1", req_state_name(REQ_ISSUED)), 1);
	/*
	 * Done is done: B's retry (its reply lost) is told the move is its own,
	 * writes nothing again and counts nothing again; anyone else is refused;
	 * no new claim.
	 */
	CHECK_INT(store_transition_ex(&s, "r1", REQ_ISSUING, REQ_ISSUED, &other, "B", "b1", &cur),
		  0);
	CHECK_INT(store_transition_ex(&s, "r1", REQ_ISSUING, REQ_ISSUED, &issued, "A", "b1", &cur),
		  STORE_ECONFLICT);
	CHECK_INT(cur, REQ_ISSUED);
	CHECK_INT(store_transition_ex(&s, "r1", REQ_ISSUING, REQ_ISSUED, &issued, NULL, "b1", &cur),
		  STORE_ECONFLICT);
	CHECK_INT(claim_batch_count(url, "b1", req_state_name(REQ_ISSUED)), 1);
	CHECK_INT(store_claim(&s, "r1", "C", CLAIM_LEASE_S, NULL, 0, &cur), STORE_ECONFLICT);
	CHECK_INT(cur, REQ_ISSUED);
	CHECK_INT(store_get(&s, "r1", &rec), 0);
	CHECK_STR(rec->serial, "ab");
	CHECK_INT(rec->state, REQ_ISSUED);
	req_record_free(rec);
}

/* Deletes record id, as a writer of records could, so that a replay makes it again. */
static void
claim_record_delete(const char *url, const char *id)
{
	redisReply *rep = redis_cmd(redis_thread(url), "DEL t:req:%s", id);

	CHECK(rep != NULL && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1);
	freeReplyObject(rep);
}

TEST(worker_claim_uses_a_grant_once)
{
	static const struct req_record issued = {.serial = "cd"};
	struct store s = {0};
	char url[64];
	enum req_state cur = REQ_NONE;

	claim_redis_start(&s, url, sizeof(url));
	claim_record(&s, "g1", REQ_QUEUED, NULL);
	CHECK_INT(store_claim(&s, "g1", "A", CLAIM_LEASE_S, "mac1", 60, &cur), 0);
	CHECK_INT(store_transition_ex(&s, "g1", REQ_ISSUING, REQ_ISSUED, &issued, "A", NULL, &cur),
		  0);
	CHECK_INT(store_grant_spent(&s, "mac1"), 0);
	/* The record made again (deleted, replayed): the grant does not claim twice. */
	claim_record_delete(url, "g1");
	claim_record(&s, "g1", REQ_QUEUED, NULL);
	CHECK_INT(store_claim(&s, "g1", "B", CLAIM_LEASE_S, "mac1", 60, &cur), STORE_EUSED);
	CHECK_INT(store_get_state(&s, "g1", &cur), 0);
	CHECK_INT(cur, REQ_QUEUED);
	/* Nor by forging a stale issuing record, even naming the first claim. */
	claim_record_delete(url, "g1");
	claim_record(&s, "g1", REQ_ISSUING, NULL);
	CHECK_INT(store_claim(&s, "g1", "C", CLAIM_LEASE_S, "mac1", 60, &cur), STORE_EUSED);
	/* Another grant still claims; a crashed holder's stale claim is re-taken with it. */
	claim_record(&s, "g2", REQ_QUEUED, NULL);
	CHECK_INT(store_claim(&s, "g2", "D", CLAIM_LEASE_S, "mac2", 60, &cur), 0);
	sleep(CLAIM_LEASE_S + 1);
	CHECK_INT(store_claim(&s, "g2", "E", CLAIM_LEASE_S, "mac2", 60, &cur), 1);
	/* Without a grant (automatic CAs) nothing is recorded. */
	claim_record(&s, "g3", REQ_QUEUED, NULL);
	CHECK_INT(store_claim(&s, "g3", "F", CLAIM_LEASE_S, NULL, 0, &cur), 0);
}

TEST(worker_claim_refuses_other_states)
{
	static const struct req_record failed = {.error_code = "policy"};
	static const struct req_record mark = {.published = 1};
	struct store s = {0};
	struct req_record *rec = NULL;
	char url[64];
	enum req_state cur = REQ_NONE;

	claim_redis_start(&s, url, sizeof(url));
	claim_record(&s, "p", REQ_PENDING, NULL);
	CHECK_INT(store_claim(&s, "p", "A", CLAIM_LEASE_S, NULL, 0, &cur), STORE_ECONFLICT);
	CHECK_INT(cur, REQ_PENDING);
	CHECK_INT(store_claim(&s, "missing", "A", CLAIM_LEASE_S, NULL, 0, &cur), STORE_ENOTFOUND);
	/* A failure without a claim (policy, before claiming) counts in the batch once. */
	claim_record(&s, "q", REQ_QUEUED, "b2");
	CHECK_INT(store_transition_ex(&s, "q", REQ_QUEUED, REQ_FAILED, &failed, NULL, "b2", &cur),
		  0);
	CHECK_INT(store_transition_ex(&s, "q", REQ_QUEUED, REQ_FAILED, &failed, NULL, "b2", &cur),
		  STORE_ECONFLICT);
	CHECK_INT(claim_batch_count(url, "b2", req_state_name(REQ_FAILED)), 1);
	/* The graph still rules: no edge, nothing sent. */
	CHECK_INT(store_transition_ex(&s, "q", REQ_FAILED, REQ_ISSUED, NULL, NULL, NULL, &cur),
		  STORE_EINVAL);
	CHECK_INT(store_set_fields(&s, "q", &mark), 0);
	CHECK_INT(store_set_fields(&s, "missing", &mark), STORE_ENOTFOUND);
	CHECK_INT(store_get(&s, "q", &rec), 0);
	CHECK_INT(rec->published, 1);
	CHECK_STR(rec->error_code, "policy");
	req_record_free(rec);
}

/*
 * A reply lost on the wire: Redis is stopped (SIGSTOP) while the worker's
 * finishing move is sent, the client times out (and its one reconnect
 * too), and Redis, resumed, runs the move anyway. The worker's retry under
 * the same claim must learn that the move is its own (0), not that
 * "the request moved on": else its certificate is never announced. The
 * claim itself is retried the same way.
 */
TEST(worker_claim_lost_reply_is_own)
{
	static const struct req_record issued = {.serial = "ef"};
	struct store s = {0};
	struct req_record *rec = NULL;
	char url[64];
	enum req_state cur = REQ_NONE;

	claim_redis_start(&s, url, sizeof(url));
	claim_record(&s, "r3", REQ_QUEUED, "b3");
	CHECK_INT(store_claim(&s, "r3", "A", CLAIM_LEASE_S, NULL, 0, &cur), 0);
	/* The claim's retry (same token): held by A, not "another worker's". */
	CHECK_INT(store_claim(&s, "r3", "A", CLAIM_LEASE_S, NULL, 0, &cur), 0);
	CHECK_INT(store_claim(&s, "r3", "B", CLAIM_LEASE_S, NULL, 0, &cur), STORE_ECONFLICT);

	/* Redis knows the script already (it runs by its hash): the lost try runs on resume. */
	claim_record(&s, "r4", REQ_QUEUED, NULL);
	CHECK_INT(store_transition_ex(&s, "r4", REQ_QUEUED, REQ_FAILED, NULL, NULL, NULL, &cur), 0);
	CHECK(kill(claim_redis_pid, SIGSTOP) == 0);
	CHECK_INT(store_transition_ex(&s, "r3", REQ_ISSUING, REQ_ISSUED, &issued, "A", "b3", &cur),
		  STORE_EDOWN);
	CHECK(kill(claim_redis_pid, SIGCONT) == 0);
	CHECK(redis_ping(redis_thread(url)));
	CHECK_INT(store_get(&s, "r3", &rec), 0);
	CHECK_INT(rec->state, REQ_ISSUED); /* the lost try did make the move */
	req_record_free(rec);
	CHECK_INT(store_transition_ex(&s, "r3", REQ_ISSUING, REQ_ISSUED, &issued, "A", "b3", &cur),
		  0);
	CHECK_INT(claim_batch_count(url, "b3", req_state_name(REQ_ISSUED)), 1);
	CHECK_INT(claim_batch_count(url, "b3", req_state_name(REQ_ISSUING)), 0);
}

/*
 * The batched calls (workers/fast.c): one round trip makes or claims each
 * request, one stores each certificate with its serial reserved; every
 * answer is the one the single calls give.
 */
TEST(worker_claim_each_admits_and_finishes)
{
	static const struct req_record mine = {
	    .id = "m", .csr_sha256 = "h1", .tenant = "acme", .batch_id = "b5", .validity_days = 30};
	static const struct req_record other = {.id = "q2", .csr_sha256 = "h2"};
	struct req_record fresh = mine, queued = other, clash = other, pend = {.id = "p2"};
	struct req_record set = {.serial = "0a"}, *rec = NULL;
	struct store_admit a[5] = {
	    {.rec = &fresh, .claim = "A"}, {.rec = &queued, .claim = "A"},
	    {.rec = &clash, .claim = "A"}, {.rec = &pend, .claim = "A"},
	    {.rec = &fresh, .claim = "B"}, /* a second copy in the same round trip */
	};
	struct store_finish f[3] = {
	    {.id = "m", .ca_id = "ca", .claim = "A", .set = &set},
	    {.id = "q2", .ca_id = "ca", .claim = "A", .set = &set}, /* the same serial */
	    {.id = "x", .ca_id = "ca", .claim = "A", .set = &set},
	};
	struct store s = {0};
	enum req_state cur = REQ_NONE;
	char url[64];

	claim_redis_start(&s, url, sizeof(url));
	claim_record(&s, "q2", REQ_QUEUED, NULL);
	claim_record(&s, "p2", REQ_PENDING, NULL);
	clash.id = "c";
	claim_record(&s, "c", REQ_QUEUED, NULL);
	CHECK_INT(store_set_fields(&s, "c", &(struct req_record){.csr_sha256 = "other"}), 0);
	CHECK_INT(store_admit_each(&s, a, 5), 0);
	CHECK_INT(a[0].rc, 0);
	CHECK_INT(a[0].cur, REQ_NONE); /* made now, as issuing */
	CHECK_INT(a[1].rc, 0);
	CHECK_INT(a[1].cur, REQ_QUEUED);
	CHECK_INT(a[2].rc, STORE_ECONFLICT); /* its record names another CSR */
	CHECK_INT(a[2].cur, REQ_QUEUED);
	CHECK_INT(a[3].rc, STORE_ECONFLICT);
	CHECK_INT(a[3].cur, REQ_PENDING);
	CHECK_INT(a[4].rc, STORE_ECONFLICT); /* claimed by A a moment before */
	CHECK_INT(a[4].cur, REQ_ISSUING);
	CHECK_INT(claim_batch_count(url, "b5", req_state_name(REQ_ISSUING)), 1);
	CHECK_INT(store_get(&s, "m", &rec), 0);
	CHECK_INT(rec->state, REQ_ISSUING);
	CHECK_STR(rec->tenant, "acme");
	req_record_free(rec);
	/* A retry of the same claim (a lost reply) is still the holder's. */
	CHECK_INT(store_admit_each(&s, a, 1), 0);
	CHECK_INT(a[0].rc, 0);
	CHECK_INT(a[0].cur, REQ_ISSUING);
	/* A request without a serial cannot be stored: nothing is sent for any of them. */
	{
		struct req_record noserial = {0};
		struct store_finish bad[2] = {
		    {.id = "m", .ca_id = "ca", .claim = "A", .set = &set},
		    {.id = "q2", .ca_id = "ca", .claim = "A", .set = &noserial},
		};

		CHECK_INT(store_finish_each(&s, bad, 2), STORE_EINVAL);
		CHECK_INT(store_get_state(&s, "m", &cur), 0);
		CHECK_INT(cur, REQ_ISSUING);
	}
	/* A stale claim is not re-taken here: that is store_claim's, after the lease. */
	CHECK_INT(store_finish_each(&s, f, 3), 0);
	CHECK_INT(f[0].rc, 0);
	CHECK_INT(f[1].rc, STORE_EEXIST); /* serial 0a is m's: q2 stays issuing, unstored */
	CHECK_INT(f[2].rc, STORE_ENOTFOUND);
	CHECK_INT(store_get(&s, "q2", &rec), 0);
	CHECK_INT(rec->state, REQ_ISSUING);
	CHECK(rec->serial == NULL);
	req_record_free(rec);
	CHECK_INT(claim_batch_count(url, "b5", req_state_name(REQ_ISSUED)), 1);
	CHECK_INT(claim_batch_count(url, "b5", req_state_name(REQ_ISSUING)), 0);
	/* The retry of a finished move under the same claim is its own; another claim's is not. */
	CHECK_INT(store_finish_each(&s, f, 1), 0);
	CHECK_INT(f[0].rc, 0);
	f[0].claim = "B";
	CHECK_INT(store_finish_each(&s, f, 1), 0);
	CHECK_INT(f[0].rc, STORE_ECONFLICT);
	CHECK_INT(f[0].cur, REQ_ISSUED);
	CHECK_INT(claim_batch_count(url, "b5", req_state_name(REQ_ISSUED)), 1);
}

/*
 * The items of one store_*_each call share one script: an item whose part
 * fails in Redis (a record key holding a string) answers STORE_EDOWN while
 * the others are made and stored, and the batch counts the items moved are
 * written once, summed.
 */
TEST(worker_claim_each_isolates_a_failing_item)
{
	struct req_record r[4] = {
	    {.id = "e1", .batch_id = "b6"},
	    {.id = "e2", .batch_id = "b6"},
	    {.id = "bad", .batch_id = "b6"},
	    {.id = "e3", .batch_id = "b6"},
	};
	struct req_record set[4] = {
	    {.serial = "01"}, {.serial = "02"}, {.serial = "03"}, {.serial = "04"}};
	struct store_admit a[4];
	struct store_finish f[4];
	struct store s = {0};
	redisReply *rep;
	char url[64];
	size_t i;

	claim_redis_start(&s, url, sizeof(url));
	rep = redis_cmd(redis_thread(url), "SET t:req:bad text");
	CHECK(rep != NULL && rep->type == REDIS_REPLY_STATUS);
	freeReplyObject(rep);
	for (i = 0; i < 4; i++) {
		a[i] = (struct store_admit){.rec = &r[i], .claim = "A"};
		f[i] = (struct store_finish){
		    .id = r[i].id, .ca_id = "ca", .claim = "A", .set = &set[i]};
	}
	CHECK_INT(store_admit_each(&s, a, 4), STORE_EDOWN);
	CHECK_INT(claim_batch_count(url, "b6", req_state_name(REQ_ISSUING)), 3);
	CHECK_INT(store_finish_each(&s, f, 4), STORE_EDOWN);
	for (i = 0; i < 4; i++) {
		CHECK_INT(a[i].rc, i == 2 ? STORE_EDOWN : 0);
		CHECK_INT(f[i].rc, i == 2 ? STORE_EDOWN : 0);
	}
	CHECK_INT(claim_batch_count(url, "b6", req_state_name(REQ_ISSUED)), 3);
	CHECK_INT(claim_batch_count(url, "b6", req_state_name(REQ_ISSUING)), 0);
}
