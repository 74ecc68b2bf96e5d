/*
 * Request store against a real Redis: records, forward-only compare-and-set
 * transitions and their notifications, idempotency keys, serial reservation,
 * the gateway's outbox.
 * Built and run by test_store.sh: store_check REDIS_URL PREFIX [ADMIN_PASS_FILE]
 * (with the file: every connection logs in as pki-admin with its password).
 * Prints "PASS: name" / "FAIL: name" lines; exits 1 after any failure.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "outbox.h"
#include "redis.h"
#include "store.h"

#define CLAIMERS 8
#define PIPE_THREADS 32 /* threads sharing one pipe ... */
#define PIPE_ROUNDS 100 /* ... each creating and reading back this many records */

static int failed;
static struct store st;

static void
result(const char *name, int ok, const char *detail)
{
	printf("%s: store_%s\n", ok ? "PASS" : "FAIL", name);
	if (!ok) {
		printf("    %s\n", detail);
		failed++;
	}
}

#define EXPECT(name, cond) result(name, (cond), #cond)

/* What outbox_take saw last, and how often; rc is what it answers. */
struct seen {
	int n, rc;
	char id[STORE_ID_MAX], topic[64], payload[64];
};

static int
outbox_take(void *arg, const char *id, const char *topic, const char *payload)
{
	struct seen *sn = arg;

	sn->n++;
	snprintf(sn->id, sizeof(sn->id), "%s", id);
	snprintf(sn->topic, sizeof(sn->topic), "%s", topic);
	snprintf(sn->payload, sizeof(sn->payload), "%s", payload);
	return sn->rc;
}

static void
new_record(char *id, enum req_state state)
{
	struct req_record rec = {0};

	store_id_new(id);
	rec.id = id;
	rec.state = state;
	rec.tenant = "acme";
	rec.requester = "alice";
	rec.common_name = "www.acme.example";
	rec.validity_days = 30;
	store_create(&st, &rec);
}

static void *
claim(void *arg)
{
	return (void *)(long)(store_transition(&st, arg, REQ_QUEUED, REQ_ISSUING, NULL, NULL) == 0);
}

static void *
down_checks(void *prefix)
{
	struct store down = {"redis://127.0.0.1:1/0", prefix, NULL};
	struct req_record rec = {.id = "x", .state = REQ_RECEIVED}, *got = NULL;

	EXPECT("down_create", store_create(&down, &rec) == STORE_EDOWN);
	EXPECT("down_get", store_get(&down, "x", &got) == STORE_EDOWN);
	{
		const char *ids[] = {"x"};

		EXPECT("down_set_each",
		       store_set_field_each(&down, ids, 1, "published", "1") == STORE_EDOWN);
	}
	EXPECT("down_transition",
	       store_transition(&down, "x", REQ_RECEIVED, REQ_QUEUED, NULL, NULL) == STORE_EDOWN);
	EXPECT("down_serial", store_serial_reserve(&down, "x", "y", "z") == STORE_EDOWN);
	return NULL;
}

/* One thread's share of the pipe test. */
struct pipe_run {
	const struct store *s;
	long wrong;  /* a reply that was another command's: never allowed */
	long failed; /* Redis failed the call (connections killed): counted */
};

/*
 * Creates and reads back PIPE_ROUNDS records through the shared pipe of
 * pr->s, each with a common name of its own: every reply must be the one
 * for this thread's command.
 */
static void *
pipe_worker(void *arg)
{
	struct pipe_run *pr = arg;
	char id[STORE_ID_MAX], cn[64];
	struct req_record rec = {0}, *got;
	int i, rc;

	for (i = 0; i < PIPE_ROUNDS; i++) {
		store_id_new(id);
		snprintf(cn, sizeof(cn), "t%lx-%d.acme.example", (unsigned long)pthread_self(), i);
		rec.id = id;
		rec.state = REQ_QUEUED;
		rec.common_name = cn;
		got = NULL;
		/* EEXIST: a retry after the connection dropped, the first attempt had run. */
		if (((rc = store_create(pr->s, &rec)) != 0 && rc != STORE_EEXIST) ||
		    store_get(pr->s, id, &got) != 0)
			pr->failed++;
		else if (strcmp(got->id, id) != 0 || strcmp(got->common_name, cn) != 0)
			pr->wrong++;
		req_record_free(got);
	}
	return NULL;
}

static atomic_int pipe_killing;

/* Kills every other client connection every few ms while pipe_killing; returns how many. */
static void *
pipe_killer(void *url)
{
	char err[REDIS_ERR_MAX];
	struct redis *r = redis_new(url, err);
	redisReply *rep;
	long killed = 0;

	while (r != NULL && atomic_load(&pipe_killing)) {
		if ((rep = redis_cmd(r, "CLIENT KILL TYPE normal SKIPME yes")) != NULL) {
			if (rep->type == REDIS_REPLY_INTEGER)
				killed += rep->integer;
			freeReplyObject(rep);
		}
		usleep(2000);
	}
	redis_free(r);
	return (void *)killed;
}

/* PIPE_THREADS threads through one pipe (with connections killed meanwhile when kill). */
static void
pipe_test(const char *url, int kill, long *wrong, long *failed, long *killed)
{
	struct store ps = st;
	struct pipe_run pr[PIPE_THREADS];
	pthread_t pt[PIPE_THREADS], killer;
	char err[REDIS_ERR_MAX];
	void *res = NULL;
	int i;

	*wrong = *failed = *killed = 0;
	memset(pr, 0, sizeof(pr));
	if ((ps.pipe = redis_pipe_new(url, err)) == NULL) {
		*failed = -1;
		return;
	}
	atomic_store(&pipe_killing, kill);
	if (kill)
		pthread_create(&killer, NULL, pipe_killer, (void *)url);
	for (i = 0; i < PIPE_THREADS; i++) {
		pr[i].s = &ps;
		pthread_create(&pt[i], NULL, pipe_worker, &pr[i]);
	}
	for (i = 0; i < PIPE_THREADS; i++) {
		pthread_join(pt[i], NULL);
		*wrong += pr[i].wrong;
		*failed += pr[i].failed;
	}
	atomic_store(&pipe_killing, 0);
	if (kill) {
		pthread_join(killer, &res);
		*killed = (long)res;
	}
	redis_pipe_free(ps.pipe);
}

/* Sets P chain:{sha} to text on a connection of its own: 1, or 0 when Redis failed. */
static int
chain_set(const char *url, const char *prefix, const char *sha, const char *text)
{
	char err[REDIS_ERR_MAX];
	struct redis *r = redis_new(url, err);
	redisReply *t = r != NULL ? redis_cmd(r, "SET %schain:%s %s", prefix, sha, text) : NULL;
	int ok = t != NULL && t->type == REDIS_REPLY_STATUS;

	if (t != NULL)
		freeReplyObject(t);
	redis_free(r);
	return ok;
}

/* 1 when request id reads back with chain want (NULL: none). */
static int
chain_reads(const struct store *st, const char *id, const char *want)
{
	struct req_record *got = NULL;
	int ok = store_get(st, id, &got) == 0 &&
		 (want == NULL ? got->chain == NULL
			       : got->chain != NULL && strcmp(got->chain, want) == 0);

	req_record_free(got);
	return ok;
}

int
main(int argc, char **argv)
{
	char id[STORE_ID_MAX], id2[STORE_ID_MAX], cur[STORE_ID_MAX], other[STORE_ID_MAX], chan[256],
		err[REDIS_ERR_MAX], key[96];
	struct req_record rec = {0}, *got = NULL;
	struct req_record fields = {.error_code = "kafka_unavailable", .serial = "0abc"};
	enum req_state scur = REQ_NONE;
	redisContext *sub;
	redisReply *r;
	pthread_t th[CLAIMERS];
	int i, wins = 0;

	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: store_check REDIS_URL PREFIX [ADMIN_PASS_FILE]\n");
		return 2;
	}
	if (argc == 4) {
		char pw[CONFIG_REDIS_PASSWORD_MAX + 1], cerr[CONFIG_ERR_MAX] = "";

		if (config_password_read(argv[3], "password", argv[3], pw, cerr) != 0 ||
		    redis_login_set("pki-admin", pw, err) != 0) {
			fprintf(stderr, "store_check: %s\n", cerr[0] ? cerr : err);
			return 2;
		}
	}
	st.redis_url = argv[1];
	st.prefix = argv[2];

	/* Create and read back. */
	store_id_new(id);
	EXPECT("id_is_uuid4", strlen(id) == 36 && id[14] == '4');
	rec.id = id;
	rec.state = REQ_RECEIVED;
	rec.tenant = "acme";
	rec.requester = "alice";
	rec.ca_id = "acme-issuing";
	rec.common_name = "www.acme.example";
	rec.sans = "[\"www.acme.example\"]";
	EXPECT("create", store_create(&st, &rec) == 0);
	EXPECT("create_twice_refused", store_create(&st, &rec) == STORE_EEXIST);
	EXPECT("get", store_get(&st, id, &got) == 0 && got != NULL);
	EXPECT("get_fields", got != NULL && got->state == REQ_RECEIVED &&
				 strcmp(got->ca_id, "acme-issuing") == 0 &&
				 strcmp(got->sans, "[\"www.acme.example\"]") == 0 &&
				 got->created != 0 && got->updated != 0 && got->serial == NULL);
	req_record_free(got);
	got = NULL;
	EXPECT("get_missing", store_get(&st, "no-such-request", &got) == STORE_ENOTFOUND);

	/* A chain kept once: a record naming it by hash reads it back whole. */
	{
		static const char chain[] = "-----BEGIN CERTIFICATE-----\nMII=\n"
					    "-----END CERTIFICATE-----\n";
		char sha[HEX_SHA256_BUF] = "";
		struct req_record named = {.chain_sha256 = sha};

		EXPECT("chain_put", store_chain_put(&st, chain, sha) == 0 && strlen(sha) == 64);
		EXPECT("chain_named", store_set_fields(&st, id, &named) == 0);
		EXPECT("chain_read_by_hash", store_get(&st, id, &got) == 0 && got->chain != NULL &&
						 strcmp(got->chain, chain) == 0 &&
						 strcmp(got->chain_sha256, sha) == 0);
		req_record_free(got);
		got = NULL;
		named.chain_sha256 =
		    "0000000000000000000000000000000000000000000000000000000000000000";
		EXPECT("chain_unknown_hash_no_chain", store_set_fields(&st, id, &named) == 0 &&
							  chain_reads(&st, id, NULL));
		/* Read once per process: a chain that hashes to its name is kept ... */
		named.chain_sha256 = sha;
		EXPECT("chain_kept", store_set_fields(&st, id, &named) == 0 &&
					 chain_set(argv[1], argv[2], sha, "changed") &&
					 chain_reads(&st, id, chain));
		/* ... and one that does not is read as it is, each time. */
		named.chain_sha256 =
		    "1111111111111111111111111111111111111111111111111111111111111111";
		EXPECT("chain_mismatch_read", store_set_fields(&st, id, &named) == 0 &&
						  chain_set(argv[1], argv[2], named.chain_sha256, "a") &&
						  chain_reads(&st, id, "a"));
		EXPECT("chain_mismatch_not_kept", chain_set(argv[1], argv[2], named.chain_sha256, "b") &&
							 chain_reads(&st, id, "b"));
	}

	/* Transitions: forward only, compare-and-set, published. */
	if ((sub = redis_connect_blocking(argv[1], err)) == NULL) {
		result("subscribe", 0, err);
		return 1;
	}
	store_channel(&st, id, chan, sizeof(chan));
	freeReplyObject(redisCommand(sub, "SUBSCRIBE %s", chan));
	EXPECT("received_to_queued",
	       store_transition(&st, id, REQ_RECEIVED, REQ_QUEUED, NULL, NULL) == 0);
	r = NULL;
	EXPECT("transition_published",
	       redisGetReply(sub, (void **)&r) == REDIS_OK && r != NULL &&
		   r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
		   strcmp(r->element[2]->str, req_state_name(REQ_QUEUED)) == 0);
	if (r != NULL)
		freeReplyObject(r);
	redisFree(sub);
	cur[0] = '\0';
	EXPECT("stale_from_conflict", store_transition(&st, id, REQ_RECEIVED, REQ_PENDING, NULL,
						       &scur) == STORE_ECONFLICT &&
					  scur == REQ_QUEUED);
	EXPECT("backwards_refused",
	       store_transition(&st, id, REQ_QUEUED, REQ_RECEIVED, NULL, NULL) == STORE_EINVAL);
	EXPECT("skip_refused",
	       store_transition(&st, id, REQ_QUEUED, REQ_ISSUED, NULL, NULL) == STORE_EINVAL);
	EXPECT("state_unchanged", store_get_state(&st, id, &scur) == 0 && scur == REQ_QUEUED);
	EXPECT("missing_not_found", store_transition(&st, "no-such-request", REQ_QUEUED,
						     REQ_ISSUING, NULL, NULL) == STORE_ENOTFOUND);
	EXPECT("queued_to_failed_with_fields",
	       store_transition(&st, id, REQ_QUEUED, REQ_FAILED, &fields, NULL) == 0);
	EXPECT("fields_written", store_get(&st, id, &got) == 0 &&
					 strcmp(got->error_code, "kafka_unavailable") == 0 &&
					 strcmp(got->serial, "0abc") == 0);
	req_record_free(got);
	got = NULL;
	EXPECT("terminal_is_final",
	       store_transition(&st, id, REQ_FAILED, REQ_QUEUED, NULL, NULL) == STORE_EINVAL &&
		   req_state_terminal(REQ_FAILED) && req_state_terminal(REQ_ISSUED) &&
		   req_state_terminal(REQ_REJECTED) && req_state_terminal(REQ_EXPIRED) &&
		   !req_state_terminal(REQ_PENDING) && !req_state_terminal(REQ_ISSUING));

	/* Racing claims: exactly one worker wins. */
	new_record(id2, REQ_QUEUED);
	for (i = 0; i < CLAIMERS; i++)
		pthread_create(&th[i], NULL, claim, id2);
	for (i = 0; i < CLAIMERS; i++) {
		void *w;

		pthread_join(th[i], &w);
		wins += (int)(long)w;
	}
	EXPECT("one_claim_wins", wins == 1);

	/* Idempotency keys. */
	snprintf(key, sizeof(key), "k-%s", id2);
	store_id_new(other);
	EXPECT("idem_new", store_idem_claim(&st, "acme", key, "h1", id, cur) == 0);
	EXPECT("idem_same_body", store_idem_claim(&st, "acme", key, "h1", other, cur) == 1 &&
					 strcmp(cur, id) == 0);
	EXPECT("idem_other_body", store_idem_claim(&st, "acme", key, "h2", other, cur) ==
					  STORE_ECONFLICT);
	EXPECT("idem_per_tenant", store_idem_claim(&st, "globex", key, "h2", other, cur) == 0);
	EXPECT("idem_release_other_id_kept", store_idem_release(&st, "acme", key, other) == 0 &&
						     store_idem_claim(&st, "acme", key, "h1", other, cur) == 1);
	EXPECT("idem_release", store_idem_release(&st, "acme", key, id) == 0 &&
				       store_idem_claim(&st, "acme", key, "h9", other, cur) == 0);
	{
		char k[256];
		struct redis *rr = redis_new(argv[1], err);
		redisReply *t;

		snprintf(k, sizeof(k), "%sidem:acme:%s", argv[2], key);
		t = rr != NULL ? redis_cmd(rr, "TTL %s", k) : NULL;
		EXPECT("idem_ttl_24h", t != NULL && t->type == REDIS_REPLY_INTEGER &&
					       t->integer > STORE_IDEM_TTL_S - 60 &&
					       t->integer <= STORE_IDEM_TTL_S);
		if (t != NULL)
			freeReplyObject(t);
		redis_free(rr);
	}

	/* A key naming a request never recorded: busy for a while, then bound again. */
	{
		char ghost[STORE_ID_MAX], k[256];
		struct redis *rr = redis_new(argv[1], err);
		redisReply *t;

		store_id_new(ghost);
		snprintf(key, sizeof(key), "ghost-%s", id2);
		EXPECT("idem_ghost_new", store_idem_claim(&st, "acme", key, "h1", ghost, cur) == 0);
		EXPECT("idem_ghost_busy", store_idem_claim(&st, "acme", key, "h1", other, cur) ==
						      STORE_EBUSY &&
						  strcmp(cur, ghost) == 0);
		snprintf(k, sizeof(k), "%sidem:acme:%s", argv[2], key);
		t = rr != NULL ? redis_cmd(rr, "EXPIRE %s %d", k,
					   STORE_IDEM_TTL_S - STORE_IDEM_ORPHAN_S - 1)
			       : NULL;
		if (t != NULL)
			freeReplyObject(t);
		EXPECT("idem_ghost_rebound", store_idem_claim(&st, "acme", key, "h1", id, cur) == 0);
		EXPECT("idem_ghost_rebound_answers", store_idem_claim(&st, "acme", key, "h1", other,
								      cur) == 1 &&
							     strcmp(cur, id) == 0);
		redis_free(rr);
	}

	/* The outbox: kept until due, then handed over; kept again when refused. */
	{
		char k[256];
		struct redis *rr = redis_new(argv[1], err);
		redisReply *t;
		struct seen sn = {0};
		char ob[STORE_ID_MAX], ob2[STORE_ID_MAX];
		struct req_record orec = {.state = REQ_QUEUED, .tenant = "acme"};
		const char *obs[2] = {ob, ob2};

		snprintf(k, sizeof(k), "%soutbox:due", argv[2]);
		store_id_new(ob);
		store_id_new(ob2);
		orec.id = ob;
		EXPECT("outbox_add_record",
		       outbox_add_record(&st, &orec, "pki.issue", "{\"a\":1}\nrest") == 0);
		EXPECT("outbox_record_made", store_get_state(&st, ob, &scur) == 0 &&
						 scur == REQ_QUEUED);
		/* A record that exists already: neither written. */
		EXPECT("outbox_add_record_exists",
		       outbox_add_record(&st, &orec, "pki.other", "x") == STORE_EEXIST);
		t = rr != NULL ? redis_cmd(rr, "HGET %soutbox:msg %s", argv[2], ob) : NULL;
		EXPECT("outbox_entry_kept", t != NULL && t->type == REDIS_REPLY_STRING &&
						strcmp(t->str, "pki.issue\n{\"a\":1}\nrest") == 0);
		if (t != NULL)
			freeReplyObject(t);
		t = rr != NULL ? redis_cmd(rr, "ZSCORE %s %s", k, ob) : NULL;
		EXPECT("outbox_entry_due", t != NULL && t->type == REDIS_REPLY_STRING);
		if (t != NULL)
			freeReplyObject(t);
		orec.id = ob2;
		EXPECT("outbox_add_record_2", outbox_add_record(&st, &orec, "t", "p") == 0);
		EXPECT("outbox_del_many", outbox_del_many(&st, obs, 2) == 0);
		t = rr != NULL ? redis_cmd(rr, "HMGET %soutbox:msg %s %s", argv[2], ob, ob2) : NULL;
		EXPECT("outbox_del_many_gone", t != NULL && t->type == REDIS_REPLY_ARRAY &&
						   t->elements == 2 &&
						   t->element[0]->type == REDIS_REPLY_NIL &&
						   t->element[1]->type == REDIS_REPLY_NIL);
		if (t != NULL)
			freeReplyObject(t);
		t = rr != NULL ? redis_cmd(rr, "ZSCORE %s %s", k, ob2) : NULL;
		EXPECT("outbox_del_many_undue", t != NULL && t->type == REDIS_REPLY_NIL);
		if (t != NULL)
			freeReplyObject(t);
		store_id_new(ob);
		orec.id = ob;
		EXPECT("outbox_add",
		       outbox_add_record(&st, &orec, "pki.issue", "{\"a\":1}\nrest") == 0);
		EXPECT("outbox_not_due", outbox_sweep(&st, outbox_take, &sn) == 0 && sn.n == 0);
		t = rr != NULL ? redis_cmd(rr, "ZADD %s 0 %s", k, ob) : NULL;
		if (t != NULL)
			freeReplyObject(t);
		sn.rc = -1;
		EXPECT("outbox_due", outbox_sweep(&st, outbox_take, &sn) == 1 && sn.n == 1 &&
					     strcmp(sn.id, ob) == 0 &&
					     strcmp(sn.topic, "pki.issue") == 0 &&
					     strcmp(sn.payload, "{\"a\":1}\nrest") == 0);
		EXPECT("outbox_kept_ahead", outbox_sweep(&st, outbox_take, &sn) == 0 && sn.n == 1);
		t = rr != NULL ? redis_cmd(rr, "ZADD %s 0 %s", k, ob) : NULL;
		if (t != NULL)
			freeReplyObject(t);
		sn.rc = 0;
		EXPECT("outbox_done", outbox_sweep(&st, outbox_take, &sn) == 1 && sn.n == 2);
		t = rr != NULL ? redis_cmd(rr, "ZADD %s 0 %s", k, ob) : NULL;
		if (t != NULL)
			freeReplyObject(t);
		EXPECT("outbox_dropped", outbox_sweep(&st, outbox_take, &sn) == 0 && sn.n == 2);
		store_id_new(ob2);
		orec.id = ob2;
		EXPECT("outbox_del",
		       outbox_add_record(&st, &orec, "t", "p") == 0 && outbox_del(&st, ob2) == 0);
		redis_free(rr);
	}

	/* Serial reservation. */
	EXPECT("serial_reserved", store_serial_reserve(&st, "acme-issuing", id2, id) == 0);
	EXPECT("serial_taken", store_serial_reserve(&st, "acme-issuing", id2, other) == 1);
	EXPECT("serial_per_ca", store_serial_reserve(&st, "globex-ca", id2, other) == 0);
	{
		struct store_serial_ctx c = {&st, "acme-issuing", id};

		EXPECT("serial_cb_taken", store_serial_reserve_cb(&c, id2) == 1);
	}

	/* One field on several records in one call; missing records are not created. */
	{
		char a[STORE_ID_MAX], b[STORE_ID_MAX], missing[STORE_ID_MAX];
		const char *ids[] = {a, missing, b};
		struct req_record *ra = NULL, *rb = NULL, *rm = NULL;

		new_record(a, REQ_QUEUED);
		new_record(b, REQ_QUEUED);
		store_id_new(missing);
		EXPECT("set_each", store_set_field_each(&st, ids, 3, "published", "1") == 0);
		EXPECT("set_each_written", store_get(&st, a, &ra) == 0 && ra->published == 1 &&
					       store_get(&st, b, &rb) == 0 && rb->published == 1 &&
					       rb->state == REQ_QUEUED);
		EXPECT("set_each_no_create", store_get(&st, missing, &rm) == STORE_ENOTFOUND);
		EXPECT("set_each_none", store_set_field_each(&st, ids, 0, "published", "1") == 0);
		req_record_free(ra);
		req_record_free(rb);
		req_record_free(rm);
	}

	/* Many threads on one pipe: each gets its own replies, in order. */
	{
		struct store ps = st;
		long wrong, fails, killed;

		pipe_test(argv[1], 0, &wrong, &fails, &killed);
		EXPECT("pipe_threads_own_replies", wrong == 0 && fails == 0);
		/* Connections killed under it: calls fail or succeed, never get another's reply. */
		pipe_test(argv[1], 1, &wrong, &fails, &killed);
		EXPECT("pipe_killed_connections_exercised", killed > 0);
		EXPECT("pipe_killed_no_wrong_reply", wrong == 0 && fails >= 0);
		EXPECT("pipe_killed_most_succeed", fails < PIPE_THREADS * PIPE_ROUNDS / 2);
		printf("    (%ld connections killed, %ld of %d create-and-read-backs failed)\n",
		       killed, fails, PIPE_THREADS * PIPE_ROUNDS);
		pipe_test(argv[1], 0, &wrong, &fails, &killed);
		EXPECT("pipe_after_kills_all_succeed", wrong == 0 && fails == 0);
		ps.pipe = redis_pipe_new("redis://127.0.0.1:1/0", err);
		rec.id = "x";
		rec.state = REQ_RECEIVED;
		EXPECT("pipe_down_create", store_create(&ps, &rec) == STORE_EDOWN);
		EXPECT("pipe_down_get", store_get(&ps, "x", &got) == STORE_EDOWN);
		redis_pipe_free(ps.pipe);
	}

	/* Redis unreachable (a fresh thread: connections are per thread and URL). */
	pthread_create(&th[0], NULL, down_checks, argv[2]);
	pthread_join(th[0], NULL);
	return failed ? 1 : 0;
}
