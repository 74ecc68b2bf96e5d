/*
 * Long-poll wake-ups. One thread holds a Redis connection subscribed to
 * every request's state channel (PSUBSCRIBE "P ev:*", published by the
 * store's compare-and-set script) and calls back the waiters armed for that
 * request id, or those whose time is up. No thread sleeps with a waiter.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "gateway.h"
#include "log.h"
#include "redis.h"
#include "store.h"

#define WAITERS_POLL_MS 500   /* subscriber wakes this often to notice a stop ... */
#define WAITERS_TICK_MS 10    /* ... and this often while a waiter is armed */
#define WAITERS_RETRY_MS 1000 /* reconnect back-off */
#define WAITERS_BUCKETS 256

struct waiter {
	char id[STORE_ID_MAX];
	int fired;    /* changed while not armed */
	waiter_fn fn; /* set while armed */
	void *arg;
	long long due_ms; /* when an armed waiter's time is up */
	struct waiter *next;
};

struct waiters {
	const struct config *cfg;
	pthread_mutex_t mu;
	struct waiter *buckets[WAITERS_BUCKETS];
	size_t narmed;
	long long next_due_ms; /* no armed waiter is due before; valid while narmed > 0 */
	pthread_t thread;
	int stop;
	int started;
};

/* Calls back armed w, or marks it fired for its next arming. Caller holds mu. */
static void
waiter_fire_locked(struct waiters *ws, struct waiter *w)
{
	waiter_fn fn = w->fn;

	if (fn == NULL) {
		w->fired = 1;
		return;
	}
	w->fn = NULL;
	ws->narmed--;
	fn(w->arg);
}

static unsigned
waiters_hash(const char *id)
{
	unsigned h = 2166136261u;

	while (*id != '\0')
		h = (h ^ (unsigned char)*id++) * 16777619u;
	return h % WAITERS_BUCKETS;
}

/* Wakes the waiters of id, or every waiter when id is NULL. Caller holds mu. */
static void
waiters_fire_locked(struct waiters *ws, const char *id)
{
	struct waiter *w;
	size_t b;

	for (b = 0; b < WAITERS_BUCKETS; b++) {
		if (id != NULL && b != waiters_hash(id))
			continue;
		for (w = ws->buckets[b]; w != NULL; w = w->next)
			if (id == NULL || strcmp(w->id, id) == 0)
				waiter_fire_locked(ws, w);
	}
}

static void
waiters_fire(struct waiters *ws, const char *id)
{
	pthread_mutex_lock(&ws->mu);
	waiters_fire_locked(ws, id);
	pthread_mutex_unlock(&ws->mu);
}

/* Handles one pub/sub reply: ["pmessage", pattern, channel, state]. */
static void
waiters_dispatch(struct waiters *ws, redisReply *rep, size_t plen)
{
	const char *chan;

	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 4 ||
	    rep->element[0]->type != REDIS_REPLY_STRING ||
	    strcmp(rep->element[0]->str, "pmessage") != 0 ||
	    rep->element[2]->type != REDIS_REPLY_STRING)
		return;
	chan = rep->element[2]->str;
	if (strlen(chan) <= plen)
		return;
	waiters_fire(ws, chan + plen);
}

/* Calls back the armed waiters whose time is up; the poll timeout to use next, in ms. */
static int
waiters_expire(struct waiters *ws)
{
	long long now = clock_ms(), next = now + WAITERS_POLL_MS;
	struct waiter *w;
	size_t b;
	int armed;

	pthread_mutex_lock(&ws->mu);
	if (ws->narmed > 0 && ws->next_due_ms <= now) {
		for (b = 0; b < WAITERS_BUCKETS; b++)
			for (w = ws->buckets[b]; w != NULL; w = w->next)
				if (w->fn != NULL && w->due_ms <= now)
					waiter_fire_locked(ws, w);
				else if (w->fn != NULL && w->due_ms < next)
					next = w->due_ms;
		ws->next_due_ms = next;
	}
	armed = ws->narmed > 0;
	pthread_mutex_unlock(&ws->mu);
	return armed ? WAITERS_TICK_MS : WAITERS_POLL_MS;
}

static int
waiters_stopping(struct waiters *ws)
{
	int s;

	pthread_mutex_lock(&ws->mu);
	s = ws->stop;
	pthread_mutex_unlock(&ws->mu);
	return s;
}

static void *
waiters_thread(void *arg)
{
	struct waiters *ws = arg;
	char pattern[256], err[REDIS_ERR_MAX];
	redisContext *c = NULL;
	redisReply *rep;
	size_t plen;
	int logged = 0;

	snprintf(pattern, sizeof(pattern), "%sev:*", ws->cfg->redis_prefix);
	plen = strlen(pattern) - 1;
	while (!waiters_stopping(ws)) {
		if (c == NULL) {
			rep = NULL;
			if ((c = redis_connect_blocking(ws->cfg->redis_url, err)) == NULL ||
			    (rep = redisCommand(c, "PSUBSCRIBE %s", pattern)) == NULL ||
			    rep->type == REDIS_REPLY_ERROR) {
				/* A refusal (ACL) is an error to fix, not an outage to wait out. */
				if (!logged && rep != NULL)
					log_error("long-poll: PSUBSCRIBE %s refused: %s", pattern,
						  rep->str);
				else if (!logged)
					log_warn("long-poll: %s", c == NULL ? err : c->errstr);
				logged = 1;
				if (rep != NULL)
					freeReplyObject(rep);
				if (c != NULL)
					redisFree(c);
				c = NULL;
				struct timespec ts = {0, WAITERS_TICK_MS * 1000000L};
				int slept;

				/* Timeouts still end the waits meanwhile. */
				for (slept = 0; slept < WAITERS_RETRY_MS;
				     slept += WAITERS_TICK_MS) {
					waiters_expire(ws);
					nanosleep(&ts, NULL);
				}
				continue;
			}
			freeReplyObject(rep);
			if (logged)
				log_info("long-poll: subscribed again");
			logged = 0;
			/* Changes may have been missed while disconnected: everyone re-reads. */
			waiters_fire(ws, NULL);
		}
		/* Drain what is buffered, then wait for the socket with a timeout. */
		for (;;) {
			void *r = NULL;

			if (redisGetReplyFromReader(c, &r) != REDIS_OK)
				goto drop;
			if (r == NULL)
				break;
			waiters_dispatch(ws, r, plen);
			freeReplyObject(r);
		}
		{
			struct pollfd pfd = {c->fd, POLLIN, 0};
			int n = poll(&pfd, 1, waiters_expire(ws));

			if (n < 0 && errno != EINTR)
				goto drop;
			if (n > 0 && redisBufferRead(c) != REDIS_OK)
				goto drop;
		}
		continue;
	drop:
		log_warn("long-poll: redis connection lost: %s", c->errstr);
		redisFree(c);
		c = NULL;
	}
	if (c != NULL)
		redisFree(c);
	return NULL;
}

struct waiters *
waiters_start(const struct config *cfg)
{
	struct waiters *ws = calloc(1, sizeof(*ws));

	if (ws == NULL)
		return NULL;
	ws->cfg = cfg;
	pthread_mutex_init(&ws->mu, NULL);
	if (pthread_create(&ws->thread, NULL, waiters_thread, ws) != 0) {
		pthread_mutex_destroy(&ws->mu);
		free(ws);
		return NULL;
	}
	ws->started = 1;
	return ws;
}

void
waiters_stop(struct waiters *ws)
{
	if (ws == NULL)
		return;
	pthread_mutex_lock(&ws->mu);
	ws->stop = 1;
	waiters_fire_locked(ws, NULL);
	pthread_mutex_unlock(&ws->mu);
	if (ws->started)
		pthread_join(ws->thread, NULL);
	ws->started = 0;
}

void
waiters_free(struct waiters *ws)
{
	if (ws == NULL)
		return;
	waiters_stop(ws);
	pthread_mutex_destroy(&ws->mu);
	free(ws);
}

struct waiter *
waiter_add(struct waiters *ws, const char *id)
{
	struct waiter *w = calloc(1, sizeof(*w));
	unsigned b;

	if (w == NULL)
		return NULL;
	snprintf(w->id, sizeof(w->id), "%s", id);
	b = waiters_hash(id);
	pthread_mutex_lock(&ws->mu);
	w->fired = ws->stop;
	w->next = ws->buckets[b];
	ws->buckets[b] = w;
	pthread_mutex_unlock(&ws->mu);
	return w;
}

int
waiter_arm(struct waiters *ws, struct waiter *w, long timeout_ms, waiter_fn fn, void *arg)
{
	long long due = clock_ms() + timeout_ms;
	int fired;

	pthread_mutex_lock(&ws->mu);
	if (!(fired = w->fired || ws->stop)) {
		w->fn = fn;
		w->arg = arg;
		w->due_ms = due;
		if (ws->narmed++ == 0 || due < ws->next_due_ms)
			ws->next_due_ms = due;
	}
	w->fired = 0;
	pthread_mutex_unlock(&ws->mu);
	return fired;
}

void
waiter_remove(struct waiters *ws, struct waiter *w)
{
	struct waiter **pp;

	if (w == NULL)
		return;
	pthread_mutex_lock(&ws->mu);
	if (w->fn != NULL) { /* disarmed: no call back comes */
		w->fn = NULL;
		ws->narmed--;
	}
	for (pp = &ws->buckets[waiters_hash(w->id)]; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	pthread_mutex_unlock(&ws->mu);
	free(w);
}
