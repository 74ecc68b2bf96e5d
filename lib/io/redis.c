#include "redis.h"

#include <openssl/sha.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "hex.h"

#define REDIS_DEFAULT_PORT 6379
#define REDIS_SCHEME "redis://"
#define REDIS_CMD_WORD_MAX 32
#define REDIS_REFUSED (-2) /* Redis answered, and said no (AUTH, SELECT) */
#define REDIS_SHA_HEX (2 * SHA_DIGEST_LENGTH + 1)
#define REDIS_NOSCRIPT "NOSCRIPT"

/* The process's ACL login (redis_login_set); written once before any thread connects. */
static struct {
	char user[REDIS_USER_MAX];
	char password[REDIS_PASSWORD_MAX];
} redis_login;

struct redis {
	struct redis_addr addr;
	redisContext *ctx;
	int down_logged; /* one log line per outage, not one per command */
};

int
redis_addr_parse(const char *url, struct redis_addr *out, char *err)
{
	struct redis_addr a;
	const char *p, *at, *slash, *colon, *end;
	size_t hlen;
	char *e;
	long v;

	memset(&a, 0, sizeof(a));
	a.port = REDIS_DEFAULT_PORT;
	if (strncmp(url, REDIS_SCHEME, strlen(REDIS_SCHEME)) != 0) {
		snprintf(err, REDIS_ERR_MAX, "redis url: must start with %s, got \"%s\"",
			 REDIS_SCHEME, url);
		return -1;
	}
	p = url + strlen(REDIS_SCHEME);
	slash = strchr(p, '/');
	end = slash != NULL ? slash : p + strlen(p);
	if ((at = memchr(p, '@', (size_t)(end - p))) != NULL) {
		const char *colon_pw = memchr(p, ':', (size_t)(at - p));
		const char *pw = colon_pw != NULL ? colon_pw + 1 : p;

		if (colon_pw != NULL && (size_t)(colon_pw - p) >= sizeof(a.user)) {
			snprintf(err, REDIS_ERR_MAX, "redis url: user name too long");
			return -1;
		}
		if ((size_t)(at - pw) >= sizeof(a.password)) {
			snprintf(err, REDIS_ERR_MAX, "redis url: password too long");
			return -1;
		}
		if (colon_pw != NULL)
			memcpy(a.user, p, (size_t)(colon_pw - p));
		memcpy(a.password, pw, (size_t)(at - pw));
		p = at + 1;
	}
	colon = memchr(p, ':', (size_t)(end - p));
	hlen = (size_t)((colon != NULL ? colon : end) - p);
	if (hlen == 0 || hlen >= sizeof(a.host)) {
		snprintf(err, REDIS_ERR_MAX, "redis url: host missing or too long in \"%s\"", url);
		return -1;
	}
	memcpy(a.host, p, hlen);
	if (colon != NULL) {
		v = strtol(colon + 1, &e, 10);
		if (e != end || v < 1 || v > 65535) {
			snprintf(err, REDIS_ERR_MAX, "redis url: port must be 1..65535 in \"%s\"",
				 url);
			return -1;
		}
		a.port = (int)v;
	}
	if (slash != NULL && slash[1] != '\0') {
		v = strtol(slash + 1, &e, 10);
		if (*e != '\0' || v < 0 || v > 255) {
			snprintf(err, REDIS_ERR_MAX,
				 "redis url: db must be a number 0..255 in \"%s\"", url);
			return -1;
		}
		a.db = (int)v;
	}
	*out = a;
	return 0;
}

struct redis *
redis_new(const char *url, char *err)
{
	struct redis *r;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, REDIS_ERR_MAX, "redis: out of memory");
		return NULL;
	}
	if (redis_addr_parse(url, &r->addr, err) < 0) {
		free(r);
		return NULL;
	}
	return r;
}

void
redis_free(struct redis *r)
{
	if (r == NULL)
		return;
	if (r->ctx != NULL)
		redisFree(r->ctx);
	free(r);
}

int
redis_login_set(const char *user, const char *password, char *err)
{
	if (user[0] == '\0' || strlen(user) >= sizeof(redis_login.user)) {
		snprintf(err, REDIS_ERR_MAX, "redis: user name must be 1..%d characters",
			 REDIS_USER_MAX - 1);
		return -1;
	}
	if (password[0] == '\0' || strlen(password) >= sizeof(redis_login.password)) {
		snprintf(err, REDIS_ERR_MAX, "redis: password of %s must be 1..%d characters", user,
			 REDIS_PASSWORD_MAX - 1);
		return -1;
	}
	snprintf(redis_login.user, sizeof(redis_login.user), "%s", user);
	snprintf(redis_login.password, sizeof(redis_login.password), "%s", password);
	return 0;
}

/*
 * Runs AUTH (the process's login, else the URL's) and SELECT as the address
 * asks. 0, -1 with err when the connection failed, or REDIS_REFUSED with err
 * when Redis answered with an error (wrong password, user off, no SELECT).
 */
static int
redis_setup(redisContext *c, const struct redis_addr *a, char *err)
{
	const char *user = redis_login.user[0] != '\0' ? redis_login.user : a->user;
	const char *pw = redis_login.user[0] != '\0' ? redis_login.password : a->password;
	redisReply *rep = NULL;
	int rc = -1;

	if (pw[0] != '\0') {
		if (user[0] != '\0')
			rep = redisCommand(c, "AUTH %s %s", user, pw);
		else
			rep = redisCommand(c, "AUTH %s", pw);
		if (rep == NULL) {
			snprintf(err, REDIS_ERR_MAX, "redis: %.100s:%d: AUTH: %.100s", a->host,
				 a->port, c->errstr);
			goto out;
		}
		if (rep->type == REDIS_REPLY_ERROR) {
			snprintf(
			    err, REDIS_ERR_MAX,
			    "redis: %.100s:%d refused AUTH as user %.64s: %.120s (the password "
			    "file must hold the password the Redis ACL file has for this user)",
			    a->host, a->port, user[0] != '\0' ? user : "default", rep->str);
			rc = REDIS_REFUSED;
			goto out;
		}
		freeReplyObject(rep);
		rep = NULL;
	}
	if (a->db != 0) {
		rep = redisCommand(c, "SELECT %d", a->db);
		if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
			snprintf(err, REDIS_ERR_MAX, "redis: SELECT %d failed: %.200s", a->db,
				 rep != NULL ? rep->str : c->errstr);
			rc = rep != NULL ? REDIS_REFUSED : -1;
			goto out;
		}
	}
	rc = 0;
out:
	if (rep != NULL)
		freeReplyObject(rep);
	return rc;
}

/*
 * Opens a context to a; command_timeout_ms 0 means none. NULL with err, and
 * *refused (may be NULL) set when Redis answered but refused the login.
 */
static redisContext *
redis_open(const struct redis_addr *a, int command_timeout_ms, char *err, int *refused)
{
	struct timeval ct = {REDIS_CONNECT_TIMEOUT_MS / 1000,
			     (REDIS_CONNECT_TIMEOUT_MS % 1000) * 1000};
	redisContext *c;
	int rc;

	if (refused != NULL)
		*refused = 0;
	c = redisConnectWithTimeout(a->host, a->port, ct);
	if (c == NULL || c->err) {
		snprintf(err, REDIS_ERR_MAX, "redis: connect %.100s:%d: %.100s", a->host, a->port,
			 c != NULL ? c->errstr : "out of memory");
		goto fail;
	}
	if (command_timeout_ms > 0) {
		struct timeval t = {command_timeout_ms / 1000, (command_timeout_ms % 1000) * 1000};

		redisSetTimeout(c, t);
	}
	if ((rc = redis_setup(c, a, err)) < 0) {
		if (refused != NULL)
			*refused = rc == REDIS_REFUSED;
		goto fail;
	}
	return c;
fail:
	if (c != NULL)
		redisFree(c);
	return NULL;
}

/*
 * Makes sure r has a live context. 0 or -1, logged once per outage: as a
 * warning when Redis is down, as an error when it refused the login.
 */
static int
redis_ensure(struct redis *r)
{
	char err[REDIS_ERR_MAX];
	int refused;

	if (r->ctx != NULL)
		return 0;
	if ((r->ctx = redis_open(&r->addr, REDIS_COMMAND_TIMEOUT_MS, err, &refused)) == NULL) {
		if (!r->down_logged && refused)
			log_error("%s", err);
		else if (!r->down_logged)
			log_warn("%s", err);
		r->down_logged = 1;
		return -1;
	}
	if (r->down_logged)
		log_info("redis: connected to %s:%d", r->addr.host, r->addr.port);
	r->down_logged = 0;
	return 0;
}

/* After a NULL reply: the context is unusable, drop it. */
static void
redis_drop(struct redis *r)
{
	if (!r->down_logged)
		log_warn("redis: %s:%d: %s", r->addr.host, r->addr.port,
			 r->ctx->errstr[0] ? r->ctx->errstr : "connection lost");
	redisFree(r->ctx);
	r->ctx = NULL;
}

redisReply *
redis_cmd(struct redis *r, const char *fmt, ...)
{
	redisReply *rep = NULL;
	va_list ap;
	int attempt;

	for (attempt = 0; attempt < 2 && rep == NULL; attempt++) {
		if (redis_ensure(r) < 0)
			break;
		va_start(ap, fmt);
		rep = redisvCommand(r->ctx, fmt, ap);
		va_end(ap);
		if (rep == NULL)
			redis_drop(r);
	}
	if (rep != NULL && rep->type == REDIS_REPLY_ERROR) {
		/* Only the command word: the arguments are not split here. */
		char word[REDIS_CMD_WORD_MAX];
		const char *argv[1] = {word};

		snprintf(word, sizeof(word), "%.*s", (int)strcspn(fmt, " "), fmt);
		redis_refused(rep, 1, argv);
	}
	return rep;
}

/*
 * Scripts go as EVALSHA (Redis hashes and parses nothing per call); the
 * script text is sent only when Redis answers NOSCRIPT (after a restart).
 */
struct redis_sha {
	const char **argv; /* argv with EVALSHA and the hash, or the caller's own */
	char hex[REDIS_SHA_HEX];
};

/*
 * The hashes of the first REDIS_SHA_MEMO script texts seen, so that a script
 * run once per request is hashed once per process. The texts are copies:
 * a hit compares the whole text, never a pointer.
 */
#define REDIS_SHA_MEMO 32
static struct {
	char *text;
	size_t len;
	char hex[REDIS_SHA_HEX];
} redis_memo[REDIS_SHA_MEMO];
static pthread_mutex_t redis_memo_mu = PTHREAD_MUTEX_INITIALIZER;

/* The SHA-1 of script, in hex. */
static void
redis_script_sha(const char *script, char hex[REDIS_SHA_HEX])
{
	unsigned char md[SHA_DIGEST_LENGTH];
	size_t len = strlen(script), i;

	pthread_mutex_lock(&redis_memo_mu);
	for (i = 0; i < REDIS_SHA_MEMO && redis_memo[i].text != NULL; i++)
		if (redis_memo[i].len == len && memcmp(redis_memo[i].text, script, len) == 0) {
			memcpy(hex, redis_memo[i].hex, REDIS_SHA_HEX);
			goto out;
		}
	SHA1((const unsigned char *)script, len, md);
	hex_encode(md, sizeof(md), hex);
	if (i < REDIS_SHA_MEMO && (redis_memo[i].text = strdup(script)) != NULL) {
		redis_memo[i].len = len;
		memcpy(redis_memo[i].hex, hex, REDIS_SHA_HEX);
	}
out:
	pthread_mutex_unlock(&redis_memo_mu);
}

/*
 * Fills sh for argv: when argv is an EVAL, a copy naming the script by its
 * SHA-1 (sh->argv, freed by redis_sha_free); else argv itself. Without
 * memory, argv itself too.
 */
static void
redis_sha_init(struct redis_sha *sh, int argc, const char **argv)
{
	sh->argv = argv;
	if (argc < 2 || strcmp(argv[0], "EVAL") != 0 ||
	    (sh->argv = malloc((size_t)argc * sizeof(*argv))) == NULL) {
		sh->argv = argv;
		return;
	}
	redis_script_sha(argv[1], sh->hex);
	memcpy(sh->argv, argv, (size_t)argc * sizeof(*argv));
	sh->argv[0] = "EVALSHA";
	sh->argv[1] = sh->hex;
}

static void
redis_sha_free(struct redis_sha *sh, const char **argv)
{
	if (sh->argv != argv)
		free(sh->argv);
}

/* 1 if rep is Redis not knowing the script of an EVALSHA. */
static int
redis_noscript(const redisReply *rep)
{
	return rep != NULL && rep->type == REDIS_REPLY_ERROR &&
	       strncmp(rep->str, REDIS_NOSCRIPT, strlen(REDIS_NOSCRIPT)) == 0;
}

redisReply *
redis_cmdv(struct redis *r, int argc, const char **argv, const size_t *argvlen)
{
	struct redis_sha sh;
	redisReply *rep = NULL;
	int attempt;

	redis_sha_init(&sh, argc, argv);
	for (attempt = 0; attempt < 2 && rep == NULL; attempt++) {
		if (redis_ensure(r) < 0)
			break;
		rep = redisCommandArgv(r->ctx, argc, sh.argv, argvlen);
		if (rep == NULL) {
			redis_drop(r);
		} else if (redis_noscript(rep) && sh.argv != argv) {
			freeReplyObject(rep);
			rep = NULL;
			redis_sha_free(&sh, argv);
			sh.argv = argv; /* once more with the script's text, not counted */
			attempt--;
		}
	}
	redis_sha_free(&sh, argv);
	redis_refused(rep, argc, argv);
	return rep;
}

/* A command waiting in a pipe; lives on its caller's stack. */
struct redis_job {
	int argc;
	const char **argv;
	redisReply *rep;
	int lead;   /* woken to send what is queued, not with its reply */
	sem_t wake; /* posted once: with its reply (rep NULL: Redis failed) or lead */
	struct redis_job *next;
};

struct redis_pipe {
	struct redis *r; /* used by the thread sending a batch (busy) only */
	pthread_mutex_t mu;
	struct redis_job *head, **tail; /* queued, not yet sent */
	int busy;                       /* a batch is on the wire or being handed over */
};

struct redis_pipe *
redis_pipe_new(const char *url, char *err)
{
	struct redis_pipe *p = calloc(1, sizeof(*p));

	if (p == NULL) {
		snprintf(err, REDIS_ERR_MAX, "redis: out of memory");
		return NULL;
	}
	if ((p->r = redis_new(url, err)) == NULL) {
		free(p);
		return NULL;
	}
	pthread_mutex_init(&p->mu, NULL);
	p->tail = &p->head;
	return p;
}

void
redis_pipe_free(struct redis_pipe *p)
{
	if (p == NULL)
		return;
	redis_free(p->r);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

/*
 * Sends every job of batch, then reads their replies in order. After an I/O
 * error the jobs without a reply are tried once more on a fresh connection,
 * as redis_cmdv does; those still without one get NULL. A script Redis does
 * not know yet (NOSCRIPT) is sent again with its text.
 */
static void
redis_pipe_send(struct redis *r, struct redis_job *batch)
{
	struct redis_job *j;
	struct redis_sha *sh;
	size_t n = 0, i;
	void *rep;
	int attempt, ok;

	for (j = batch; j != NULL; j = j->next)
		n++;
	if ((sh = calloc(n > 0 ? n : 1, sizeof(*sh))) == NULL)
		return; /* every reply NULL: as if Redis failed */
	for (j = batch, i = 0; j != NULL; j = j->next, i++)
		redis_sha_init(&sh[i], j->argc, j->argv);
	for (attempt = 0; attempt < 2; attempt++) {
		if (redis_ensure(r) < 0)
			break;
		ok = 1;
		for (j = batch, i = 0; j != NULL && ok; j = j->next, i++)
			if (j->rep == NULL &&
			    redisAppendCommandArgv(r->ctx, j->argc, sh[i].argv, NULL) != REDIS_OK)
				ok = 0;
		for (j = batch, i = 0; j != NULL && ok; j = j->next, i++) {
			if (j->rep != NULL)
				continue;
			if (redisGetReply(r->ctx, &rep) != REDIS_OK) {
				ok = 0;
			} else if (redis_noscript(rep) && sh[i].argv != j->argv) {
				freeReplyObject(rep);
				redis_sha_free(&sh[i], j->argv);
				sh[i].argv = j->argv; /* next round: with the text */
				ok = 2;
			} else {
				j->rep = rep;
			}
		}
		if (ok == 1)
			break;
		if (ok == 0)
			redis_drop(r);
		else
			attempt--; /* NOSCRIPT: sent again with the text, not counted */
	}
	for (j = batch, i = 0; j != NULL; j = j->next, i++)
		redis_sha_free(&sh[i], j->argv);
	free(sh);
}

redisReply *
redis_pipe_cmdv(struct redis_pipe *p, int argc, const char **argv)
{
	struct redis_job job = {.argc = argc, .argv = argv}, *batch, *j, *next, *lead = NULL;
	int leading;

	sem_init(&job.wake, 0, 0);
	pthread_mutex_lock(&p->mu);
	*p->tail = &job;
	p->tail = &job.next;
	if (!p->busy) {
		p->busy = 1;
		job.lead = 1;
	}
	leading = job.lead; /* read under the lock; later only after the post */
	pthread_mutex_unlock(&p->mu);
	/*
	 * Semaphores, not condition variables under the lock: a thread posted
	 * to runs at once, without first waiting for the sender's lock.
	 */
	if (!leading) {
		while (sem_wait(&job.wake) != 0)
			; /* EINTR */
		if (!job.lead)
			goto out;
	}
	/* This thread sends all that is queued, its own command first. */
	pthread_mutex_lock(&p->mu);
	batch = p->head;
	p->head = NULL;
	p->tail = &p->head;
	pthread_mutex_unlock(&p->mu);
	redis_pipe_send(p->r, batch);
	/* What was queued meanwhile goes next, sent by the first of its threads. */
	pthread_mutex_lock(&p->mu);
	if (p->head != NULL)
		lead = p->head;
	else
		p->busy = 0;
	pthread_mutex_unlock(&p->mu);
	for (j = batch; j != NULL; j = next) {
		next = j->next; /* j is gone once posted */
		if (j != &job)
			sem_post(&j->wake);
	}
	if (lead != NULL) {
		lead->lead = 1;
		sem_post(&lead->wake);
	}
out:
	sem_destroy(&job.wake);
	redis_refused(job.rep, argc, argv);
	return job.rep;
}

int
redis_ping(struct redis *r)
{
	redisReply *rep = redis_cmd(r, "PING");
	int ok = rep != NULL && rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "PONG") == 0;

	if (rep != NULL)
		freeReplyObject(rep);
	return ok;
}

redisContext *
redis_connect_blocking(const char *url, char *err)
{
	struct redis_addr a;

	if (redis_addr_parse(url, &a, err) < 0)
		return NULL;
	return redis_open(&a, 0, err, NULL);
}

int
redis_refused(const redisReply *rep, int argc, const char **argv)
{
	static const char *const codes[] = {"NOPERM", "NOAUTH", "WRONGPASS"};
	/* What Redis 7 answers when a script calls a command, key or channel the user may not. */
	static const char script_refusal[] = "ERR The user executing the script can't";
	const char *key = NULL;
	size_t i, n;

	if (rep == NULL || rep->type != REDIS_REPLY_ERROR || rep->str == NULL)
		return 0;
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		n = strlen(codes[i]);
		if (strncmp(rep->str, codes[i], n) == 0 &&
		    (rep->str[n] == ' ' || rep->str[n] == '\0'))
			break;
	}
	if (i == sizeof(codes) / sizeof(codes[0]) &&
	    strncmp(rep->str, script_refusal, sizeof(script_refusal) - 1) != 0)
		return 0;
	/* The key: a script's first declared key (never the script), else argv[1]. */
	if (argc >= 1 && (strcasecmp(argv[0], "EVAL") == 0 || strcasecmp(argv[0], "EVALSHA") == 0))
		key = argc >= 4 && atoi(argv[2]) > 0 ? argv[3] : NULL;
	else if (argc >= 2)
		key = argv[1];
	log_error("redis: %s%s%.200s refused for user %s: %.300s", argc >= 1 ? argv[0] : "?",
		  key != NULL ? " on key " : "", key != NULL ? key : "",
		  redis_login.user[0] != '\0' ? redis_login.user : "(no login)", rep->str);
	return 1;
}

static pthread_key_t redis_key;
static pthread_once_t redis_key_once = PTHREAD_ONCE_INIT;

static void
redis_key_free(void *p)
{
	redis_free(p);
}

static void
redis_key_init(void)
{
	pthread_key_create(&redis_key, redis_key_free);
}

struct redis *
redis_thread(const char *url)
{
	char err[REDIS_ERR_MAX];
	struct redis *r;

	pthread_once(&redis_key_once, redis_key_init);
	if ((r = pthread_getspecific(redis_key)) != NULL)
		return r;
	if ((r = redis_new(url, err)) == NULL) {
		log_error("%s", err);
		return NULL;
	}
	pthread_setspecific(redis_key, r);
	return r;
}
