/*
 * loadgen: an HTTP/1.1 load generator over keep-alive connections, one thread,
 * epoll, no pipelining (one request in flight per connection).
 *
 *   loadgen closed HOST:PORT PATH BODIES [options]
 *	Closed loop: -c connections, each sends the next POST as soon as the
 *	previous answer has arrived. Counts answers with status -s that arrive
 *	inside the measured window (after -w seconds of warm-up, for -d seconds).
 *
 *   loadgen open HOST:PORT PATH BODIES [options]
 *	Open loop: submits at -r per second for -d seconds on schedule, whatever
 *	the answers (a request that finds no free connection waits in a queue and
 *	its latency still counts from its scheduled time, so slow answers cannot
 *	hide latency). After each 202 it long-polls PREFIX{request_id}?wait=-W
 *	until the request is terminal; a 201 saying "issued" (the gateway's
 *	one-call answer, with -H "Prefer: wait=N") needs no poll. Latency:
 *	scheduled send time to the arrival of the answer saying "issued".
 *	With -s CODE the service is synchronous instead (a signer such as
 *	cfssl): an answer with status CODE is the certificate (counted as
 *	issued, latency to that answer), any other status is a refusal, and
 *	nothing is polled.
 *
 * BODIES holds one request body per line (POSTed as application/json, in
 * turn, wrapping around). Options:
 *   -H "Name: value"  extra header, repeatable     -c N  connections (open: at most N)
 *   -w S  warm-up (closed)    -d S  duration       -s CODE  expected status
 *   -r R  rate per second (open)                   -p PREFIX  poll path prefix (open)
 *   -W S  long-poll wait (open)                    -D S  drain time after the last send (open)
 * Prints one line of key=value pairs on stdout; diagnostics on stderr.
 * Exit status: 0 when the run completed (whatever the numbers), 1 on a usage,
 * input or setup error.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LG_CONNS_MAX 4096
#define LG_HEADERS_MAX 16
#define LG_ID_MAX 128
#define LG_STATE_MAX 32
#define LG_IN_INITIAL 8192
#define LG_IN_MAX (4 * 1024 * 1024) /* one answer larger than this is an error */
#define LG_EVENTS 256
#define LG_REQ_HEAD_MAX 4096
#define LG_DEFAULT_CONNS 32
#define LG_DEFAULT_WARMUP_S 2
#define LG_DEFAULT_DURATION_S 10
#define LG_DEFAULT_STATUS 200
#define LG_DEFAULT_RATE 1000
#define LG_DEFAULT_WAIT_S 30
#define LG_DEFAULT_DRAIN_S 60
#define LG_DEFAULT_PREFIX "/csr/requests/"
#define LG_ERRORS_SHOWN 5 /* unexpected answers echoed to stderr */
#define LG_SNIPPET 300
#define NS_PER_S 1000000000ULL
#define NS_PER_MS 1000000ULL

enum lg_mode { MODE_CLOSED, MODE_OPEN };
enum job_kind { JOB_SUBMIT, JOB_POLL };
enum conn_state { CONN_CONNECTING, CONN_IDLE, CONN_BUSY };

struct job {
	enum job_kind kind;
	uint64_t sched_ns; /* when the submit was due; latency counts from here */
	size_t body;
	char id[LG_ID_MAX];
	struct job *next;
};

struct conn {
	int fd;
	enum conn_state state;
	const char *out; /* request bytes: a prepared submit, or poll_buf */
	size_t out_len, out_off;
	char poll_buf[LG_REQ_HEAD_MAX];
	char *in;
	size_t in_len, in_cap;
	struct job *job;
	struct conn *next_idle;
};

struct lg {
	enum lg_mode mode;
	struct sockaddr_in addr;
	char host[256];
	const char *path, *prefix;
	const char *headers[LG_HEADERS_MAX];
	int nheaders;
	int conns_max, warmup_s, duration_s, expect, rate, wait_s, drain_s;
	int sync; /* open mode with -s: the submit's answer is the outcome */

	char **reqs; /* prepared submits, one per body */
	size_t *req_len;
	size_t nreqs, next_req;

	int ep;
	struct conn *conns[LG_CONNS_MAX];
	int nconns, nopen, conns_opened;
	struct conn *idle;
	struct job *q_head, *q_tail;
	size_t busy; /* connections with a job */

	uint64_t t0, win_start, win_end, send_end;

	/* closed */
	uint64_t ok, other, answers, *per_sec;
	/* open */
	uint64_t sent, accepted, issued, failed, rejected, polls, lag_max_ns;
	uint32_t *lat_us;
	size_t nlat;
	/* both */
	uint64_t errors;
	int shown;
};

static volatile sig_atomic_t lg_stop;

/* SIGINT/SIGTERM: stop sending and report what was measured so far. */
static void
lg_on_signal(int sig)
{
	(void)sig;
	lg_stop = 1;
}

/* Monotonic time in nanoseconds. */
static uint64_t
lg_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* Prints "loadgen: <message>" and exits 1. */
static void lg_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void
lg_die(const char *fmt, ...)
{
	va_list ap;

	fputs("loadgen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Echoes an unexpected answer (the first few) so a failing run says why. */
static void
lg_show(struct lg *lg, const char *what, int status, const char *body, size_t blen)
{
	if (lg->shown >= LG_ERRORS_SHOWN)
		return;
	lg->shown++;
	fprintf(stderr, "loadgen: %s: status %d: %.*s\n", what, status,
		(int)(blen < LG_SNIPPET ? blen : LG_SNIPPET), body != NULL ? body : "");
}

/* Reads BODIES: one body per line, empty lines skipped; dies on error. */
static void
lg_load_bodies(struct lg *lg, const char *file)
{
	FILE *f = fopen(file, "r");
	char *line = NULL, head[LG_REQ_HEAD_MAX];
	size_t cap = 0, alloc = 0;
	ssize_t n;
	int hn, i;

	if (f == NULL)
		lg_die("%s: %s", file, strerror(errno));
	while ((n = getline(&line, &cap, f)) > 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0)
			continue;
		if (lg->nreqs == alloc) {
			alloc = alloc ? alloc * 2 : 1024;
			lg->reqs = realloc(lg->reqs, alloc * sizeof(*lg->reqs));
			lg->req_len = realloc(lg->req_len, alloc * sizeof(*lg->req_len));
			if (lg->reqs == NULL || lg->req_len == NULL)
				lg_die("out of memory");
		}
		hn = snprintf(head, sizeof(head), "POST %s HTTP/1.1\r\nHost: %s\r\n", lg->path,
			      lg->host);
		for (i = 0; i < lg->nheaders && hn < (int)sizeof(head); i++)
			hn += snprintf(head + hn, sizeof(head) - (size_t)hn, "%s\r\n",
				       lg->headers[i]);
		if (hn < (int)sizeof(head))
			hn += snprintf(head + hn, sizeof(head) - (size_t)hn,
				       "Content-Type: application/json\r\n"
				       "Content-Length: %zd\r\n\r\n",
				       n);
		if (hn >= (int)sizeof(head))
			lg_die("request headers longer than %d bytes", LG_REQ_HEAD_MAX);
		if ((lg->reqs[lg->nreqs] = malloc((size_t)hn + (size_t)n)) == NULL)
			lg_die("out of memory");
		memcpy(lg->reqs[lg->nreqs], head, (size_t)hn);
		memcpy(lg->reqs[lg->nreqs] + hn, line, (size_t)n);
		lg->req_len[lg->nreqs] = (size_t)hn + (size_t)n;
		lg->nreqs++;
	}
	free(line);
	fclose(f);
	if (lg->nreqs == 0)
		lg_die("%s: no request bodies (one per line expected)", file);
}

/*
 * Parses one HTTP/1.1 answer at the start of buf. 1: complete, with the
 * status, the (de-chunked, in place) body and the bytes used; 0: incomplete;
 * -1: malformed.
 */
static int
http_parse(char *buf, size_t len, int *status, char **body, size_t *blen, size_t *used, int *closes)
{
	char *end = memmem(buf, len, "\r\n\r\n", 4), *p, *line, *eol, *w;
	size_t hlen, cl = 0, sz;
	int have_cl = 0, chunked = 0;

	if (end == NULL)
		return len > LG_IN_MAX ? -1 : 0;
	hlen = (size_t)(end - buf) + 4;
	if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)buf[9]))
		return -1;
	*status = atoi(buf + 9);
	*closes = strncmp(buf, "HTTP/1.0", 8) == 0;
	for (line = (char *)memchr(buf, '\n', hlen) + 1; line < end; line = eol + 2) {
		eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
		if (strncasecmp(line, "Content-Length:", 15) == 0) {
			cl = strtoull(line + 15, NULL, 10);
			have_cl = 1;
		} else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0) {
			chunked = memmem(line, (size_t)(eol - line), "chunked", 7) != NULL;
		} else if (strncasecmp(line, "Connection:", 11) == 0) {
			if (memmem(line, (size_t)(eol - line), "close", 5) != NULL)
				*closes = 1;
			else if (memmem(line, (size_t)(eol - line), "keep-alive", 10) != NULL)
				*closes = 0;
		}
	}
	if (!chunked) {
		if (!have_cl && *status != 204 && *status != 304 && *status >= 200)
			return -1; /* read-until-close bodies are not used here */
		if (len - hlen < cl)
			return 0;
		*body = buf + hlen;
		*blen = cl;
		*used = hlen + cl;
		return 1;
	}
	/* First pass: is every chunk there? */
	for (p = buf + hlen;;) {
		eol = memmem(p, (size_t)(buf + len - p), "\r\n", 2);
		if (eol == NULL)
			return 0;
		sz = strtoull(p, NULL, 16);
		p = eol + 2;
		if (sz == 0)
			break;
		if ((size_t)(buf + len - p) < sz + 2)
			return 0;
		p += sz + 2;
	}
	for (;;) { /* trailers, up to the empty line */
		eol = memmem(p, (size_t)(buf + len - p), "\r\n", 2);
		if (eol == NULL)
			return 0;
		if (eol == p)
			break;
		p = eol + 2;
	}
	*used = (size_t)(eol + 2 - buf);
	/* Second pass: de-chunk in place. */
	for (p = w = buf + hlen;;) {
		eol = memmem(p, (size_t)(buf + len - p), "\r\n", 2);
		sz = strtoull(p, NULL, 16);
		p = eol + 2;
		if (sz == 0)
			break;
		memmove(w, p, sz);
		w += sz;
		p += sz + 2;
	}
	*body = buf + hlen;
	*blen = (size_t)(w - *body);
	return 1;
}

/*
 * Copies the string value of "key" from a flat JSON text into out (at most
 * max bytes with the NUL). 0 or -1 when absent or too long.
 */
static int
json_str(const char *body, size_t blen, const char *key, char *out, size_t max)
{
	char pat[64];
	const char *p, *q, *end = body + blen;
	int n = snprintf(pat, sizeof(pat), "\"%s\":", key);

	if ((p = memmem(body, blen, pat, (size_t)n)) == NULL)
		return -1;
	for (p += n; p < end && *p == ' '; p++)
		;
	if (p == end || *p++ != '"')
		return -1;
	if ((q = memchr(p, '"', (size_t)(end - p))) == NULL || (size_t)(q - p) >= max)
		return -1;
	memcpy(out, p, (size_t)(q - p));
	out[q - p] = '\0';
	return 0;
}

/* Appends j to the job queue (front: ahead of everything). The queue owns j. */
static void
queue_push(struct lg *lg, struct job *j, int front)
{
	if (front) {
		j->next = lg->q_head;
		lg->q_head = j;
		if (lg->q_tail == NULL)
			lg->q_tail = j;
		return;
	}
	j->next = NULL;
	if (lg->q_tail != NULL)
		lg->q_tail->next = j;
	else
		lg->q_head = j;
	lg->q_tail = j;
}

/* The next job, now owned by the caller, or NULL. */
static struct job *
queue_pop(struct lg *lg)
{
	struct job *j = lg->q_head;

	if (j != NULL && (lg->q_head = j->next) == NULL)
		lg->q_tail = NULL;
	return j;
}

/* A new job; the caller owns it. Dies when out of memory. */
static struct job *
job_new(enum job_kind kind, uint64_t sched_ns)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		lg_die("out of memory");
	j->kind = kind;
	j->sched_ns = sched_ns;
	return j;
}

/* Opens a non-blocking connection in a free slot; lg owns it. Dies when it cannot. */
static struct conn *
conn_open(struct lg *lg)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP};
	struct conn *c;
	int one = 1, i;

	for (i = 0; i < lg->nconns && lg->conns[i] != NULL; i++)
		;
	if (i == lg->nconns) {
		if (lg->nconns == LG_CONNS_MAX)
			lg_die("more than %d connections", LG_CONNS_MAX);
		lg->nconns++;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL || (c->in = malloc(LG_IN_INITIAL)) == NULL)
		lg_die("out of memory");
	c->in_cap = LG_IN_INITIAL;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		lg_die("socket: %s", strerror(errno));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&lg->addr, sizeof(lg->addr)) < 0 &&
	    errno != EINPROGRESS)
		lg_die("connect %s: %s", lg->host, strerror(errno));
	c->state = CONN_CONNECTING;
	ev.data.u32 = (uint32_t)i;
	if (epoll_ctl(lg->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		lg_die("epoll_ctl: %s", strerror(errno));
	lg->conns[i] = c;
	lg->conns_opened++;
	lg->nopen++;
	return c;
}

/* Prepares c's request bytes for its job. */
static void
conn_prepare(struct lg *lg, struct conn *c)
{
	struct job *j = c->job;
	int n, i;

	c->out_off = 0;
	c->in_len = 0;
	if (j->kind == JOB_SUBMIT) {
		c->out = lg->reqs[j->body];
		c->out_len = lg->req_len[j->body];
		return;
	}
	n = snprintf(c->poll_buf, sizeof(c->poll_buf), "GET %s%s?wait=%d HTTP/1.1\r\nHost: %s\r\n",
		     lg->prefix, j->id, lg->wait_s, lg->host);
	for (i = 0; i < lg->nheaders; i++)
		n += snprintf(c->poll_buf + n, sizeof(c->poll_buf) - (size_t)n, "%s\r\n",
			      lg->headers[i]);
	n += snprintf(c->poll_buf + n, sizeof(c->poll_buf) - (size_t)n, "\r\n");
	if (n >= (int)sizeof(c->poll_buf))
		lg_die("poll request longer than %d bytes", LG_REQ_HEAD_MAX);
	c->out = c->poll_buf;
	c->out_len = (size_t)n;
}

/* Writes what it can; -1 on a connection error. */
static int
conn_write(struct conn *c)
{
	ssize_t n;

	while (c->out_off < c->out_len) {
		n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		c->out_off += (size_t)n;
	}
	return 0;
}

/* Gives job j to connection c and starts sending. */
static void
conn_start(struct lg *lg, struct conn *c, struct job *j)
{
	c->job = j;
	lg->busy++;
	if (j->kind == JOB_SUBMIT && lg->mode == MODE_OPEN) {
		uint64_t lag = lg_now() - j->sched_ns;

		lg->sent++;
		if (lag > lg->lag_max_ns)
			lg->lag_max_ns = lag;
	}
	conn_prepare(lg, c);
	if (c->state == CONN_CONNECTING)
		return; /* sent when the connection is up */
	c->state = CONN_BUSY;
	(void)conn_write(c); /* an error shows up as an event */
}

/* The next submit in closed mode: the next body, due now. */
static struct job *
lg_next_submit(struct lg *lg, uint64_t now)
{
	struct job *j = job_new(JOB_SUBMIT, now);

	j->body = lg->next_req++ % lg->nreqs;
	return j;
}

/* c has nothing to do: give it queued work, or park it. */
static void
conn_idle(struct lg *lg, struct conn *c)
{
	struct job *j;

	c->state = CONN_IDLE;
	c->job = NULL;
	if (lg->mode == MODE_CLOSED) {
		uint64_t now = lg_now();

		if (now < lg->win_end && !lg_stop)
			conn_start(lg, c, lg_next_submit(lg, now));
		return;
	}
	if ((j = queue_pop(lg)) != NULL) {
		conn_start(lg, c, j);
		return;
	}
	c->next_idle = lg->idle;
	lg->idle = c;
}

/* Closes and frees connection slot i (its job, if any, is the caller's). */
static void
conn_close(struct lg *lg, int i)
{
	struct conn *c = lg->conns[i];
	struct conn **pp;

	for (pp = &lg->idle; *pp != NULL; pp = &(*pp)->next_idle)
		if (*pp == c) {
			*pp = c->next_idle;
			break;
		}
	close(c->fd);
	free(c->in);
	free(c);
	lg->conns[i] = NULL;
	lg->nopen--;
}

/* The connection failed or the server closed it: account for its job. */
static void
conn_fail(struct lg *lg, int i, const char *why)
{
	struct conn *c = lg->conns[i];
	struct job *j = c->job;

	if (j != NULL) {
		lg->busy--;
		if (j->kind == JOB_POLL) {
			queue_push(lg, j, 1); /* polls are safe to repeat */
		} else {
			lg->errors++;
			if (lg->shown < LG_ERRORS_SHOWN) {
				lg->shown++;
				fprintf(stderr, "loadgen: connection error: %s\n", why);
			}
			free(j);
		}
	}
	conn_close(lg, i);
	if (lg->mode == MODE_CLOSED && !lg_stop && lg_now() < lg->win_end)
		conn_start(lg, conn_open(lg), lg_next_submit(lg, lg_now()));
}

/* Counts one closed-loop answer if it arrived inside the measured window. */
static void
lg_closed_answer(struct lg *lg, int status, const char *body, size_t blen)
{
	uint64_t now = lg_now();

	lg->answers++;
	if (now < lg->win_start || now >= lg->win_end)
		return;
	if (status == lg->expect) {
		lg->ok++;
		lg->per_sec[(now - lg->win_start) / NS_PER_S]++;
	} else {
		lg->other++;
		lg_show(lg, "unexpected answer", status, body, blen);
	}
}

/* Records the job's request as issued now, its latency from its scheduled time. */
static void
lg_latency(struct lg *lg, const struct job *j)
{
	uint64_t us = (lg_now() - j->sched_ns) / 1000;

	lg->lat_us[lg->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	lg->issued++;
}

/* One answer in open mode; may queue the next poll for the request. */
static void
lg_open_answer(struct lg *lg, struct job *j, int status, const char *body, size_t blen)
{
	char state[LG_STATE_MAX];

	if (j->kind == JOB_SUBMIT && lg->sync) {
		if (status == lg->expect) {
			lg->accepted++;
			lg_latency(lg, j);
		} else {
			lg->rejected++;
			lg_show(lg, "submit refused", status, body, blen);
		}
		free(j);
		return;
	}
	if (j->kind == JOB_SUBMIT && status == 201 &&
	    json_str(body, blen, "status", state, sizeof(state)) == 0 &&
	    strcmp(state, "issued") == 0) {
		lg->accepted++; /* answered in one call (Prefer: wait=N) */
		lg_latency(lg, j);
		free(j);
		return;
	}
	if (j->kind == JOB_SUBMIT) {
		if (status != 202) {
			lg->rejected++;
			lg_show(lg, "submit refused", status, body, blen);
			free(j);
			return;
		}
		lg->accepted++;
		if (json_str(body, blen, "request_id", j->id, sizeof(j->id)) < 0) {
			lg->errors++;
			lg_show(lg, "202 without request_id", status, body, blen);
			free(j);
			return;
		}
		j->kind = JOB_POLL;
		queue_push(lg, j, 0);
		return;
	}
	lg->polls++;
	if (status != 200 || json_str(body, blen, "status", state, sizeof(state)) < 0) {
		lg->errors++;
		lg_show(lg, "poll answer", status, body, blen);
		free(j);
		return;
	}
	if (strcmp(state, "issued") == 0) {
		lg_latency(lg, j);
		free(j);
	} else if (strcmp(state, "failed") == 0 || strcmp(state, "rejected") == 0 ||
		   strcmp(state, "expired") == 0) {
		lg->failed++;
		lg_show(lg, "request ended without a certificate", status, body, blen);
		free(j);
	} else {
		queue_push(lg, j, 0); /* not terminal yet: long-poll again */
	}
}

/* Reads what is there and handles a complete answer. */
static void
conn_read(struct lg *lg, int i)
{
	struct conn *c = lg->conns[i];
	struct job *j;
	char *body = NULL;
	size_t blen = 0, used = 0;
	int status = 0, closes = 0, eof = 0, r;
	ssize_t n;

	for (;;) {
		if (c->in_len == c->in_cap) {
			if (c->in_cap >= LG_IN_MAX) {
				conn_fail(lg, i, "answer too large");
				return;
			}
			c->in_cap *= 2;
			if ((c->in = realloc(c->in, c->in_cap)) == NULL)
				lg_die("out of memory");
		}
		n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
		if (n > 0) {
			c->in_len += (size_t)n;
			continue;
		}
		if (n == 0) {
			eof = 1; /* an answer may still be complete in the buffer */
			break;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			break;
		conn_fail(lg, i, strerror(errno));
		return;
	}
	r = c->job != NULL && c->in_len > 0
		? http_parse(c->in, c->in_len, &status, &body, &blen, &used, &closes)
		: 0;
	if (r < 0) {
		conn_fail(lg, i, "malformed HTTP answer");
		return;
	}
	if (r == 0) {
		if (eof)
			conn_fail(lg, i, "server closed the connection");
		return;
	}
	closes |= eof;
	j = c->job;
	c->job = NULL;
	lg->busy--;
	if (lg->mode == MODE_CLOSED) {
		lg_closed_answer(lg, status, body, blen);
		free(j);
	} else {
		lg_open_answer(lg, j, status, body, blen);
	}
	c->in_len = 0;
	if (closes) {
		conn_close(lg, i);
		if (lg->mode == MODE_CLOSED && !lg_stop && lg_now() < lg->win_end)
			conn_start(lg, conn_open(lg), lg_next_submit(lg, lg_now()));
		return;
	}
	conn_idle(lg, c);
}

/* Handles epoll events for connection slot i: connect done, write, read. */
static void
conn_event(struct lg *lg, int i, uint32_t events)
{
	struct conn *c = lg->conns[i];
	int err = 0;
	socklen_t el = sizeof(err);

	if (c == NULL)
		return;
	if (c->state == CONN_CONNECTING && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err != 0) {
			conn_fail(lg, i, strerror(err));
			return;
		}
		if (c->job != NULL)
			c->state = CONN_BUSY;
		else
			conn_idle(lg, c);
	}
	if (c->state == CONN_BUSY && c->out_off < c->out_len && conn_write(c) < 0) {
		conn_fail(lg, i, strerror(errno));
		return;
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		conn_read(lg, i);
}

/* Hands queued jobs to idle connections, opening new ones up to the cap. */
static void
lg_dispatch(struct lg *lg)
{
	struct conn *c;
	struct job *j;

	while (lg->q_head != NULL) {
		if ((c = lg->idle) != NULL) {
			lg->idle = c->next_idle;
		} else if (lg->nopen < lg->conns_max) {
			c = conn_open(lg);
		} else {
			return;
		}
		j = queue_pop(lg);
		conn_start(lg, c, j);
	}
}

static int
lg_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Percentile p (0..1) of the sorted microsecond values v, in milliseconds. */
static double
lg_pct_ms(const uint32_t *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)(p * (double)n);
	if (k >= n)
		k = n - 1;
	return v[k] / 1000.0;
}

/* Runs until the window ends (closed) or every request is done or drained (open). */
static void
lg_loop(struct lg *lg)
{
	struct epoll_event evs[LG_EVENTS];
	uint64_t now, next_due = 0, total = 0, made = 0;
	int n, k, tmo;

	if (lg->mode == MODE_OPEN) {
		total = (uint64_t)lg->rate * (uint64_t)lg->duration_s;
		next_due = lg->t0;
	}
	for (;;) {
		now = lg_now();
		if (lg->mode == MODE_CLOSED) {
			if (now >= lg->win_end || lg_stop)
				break;
			tmo = (int)((lg->win_end - now) / NS_PER_MS) + 1;
		} else {
			while (made < total && next_due <= now && !lg_stop) {
				struct job *j = job_new(JOB_SUBMIT, next_due);

				j->body = lg->next_req++ % lg->nreqs;
				queue_push(lg, j, 0);
				made++;
				next_due = lg->t0 + made * NS_PER_S / (uint64_t)lg->rate;
			}
			lg_dispatch(lg);
			if (((made == total || lg_stop) && lg->q_head == NULL && lg->busy == 0) ||
			    now >= lg->send_end + (uint64_t)lg->drain_s * NS_PER_S)
				break;
			tmo = made < total && !lg_stop
				  ? (int)((next_due - now + NS_PER_MS - 1) / NS_PER_MS)
				  : 100;
		}
		n = epoll_wait(lg->ep, evs, LG_EVENTS, tmo);
		if (n < 0 && errno != EINTR)
			lg_die("epoll_wait: %s", strerror(errno));
		for (k = 0; k < n; k++)
			conn_event(lg, (int)evs[k].data.u32, evs[k].events);
	}
}

/* CPU seconds (user + system) this process has used. */
static double
lg_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Prints the result line on stdout. */
static void
lg_report(struct lg *lg)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	size_t unfinished = 0;
	struct job *j;
	int i;

	if (lg->mode == MODE_CLOSED) {
		for (i = 0; i < lg->duration_s; i++) {
			lo = lg->per_sec[i] < lo ? lg->per_sec[i] : lo;
			hi = lg->per_sec[i] > hi ? lg->per_sec[i] : hi;
		}
		printf("mode=closed conns=%d duration_s=%d status=%d ok=%llu other=%llu "
		       "errors=%llu per_s=%.0f min_sec=%llu max_sec=%llu connections_opened=%d "
		       "answers=%llu loadgen_cpu_s=%.2f\n",
		       lg->conns_max, lg->duration_s, lg->expect, (unsigned long long)lg->ok,
		       (unsigned long long)lg->other, (unsigned long long)lg->errors,
		       (double)lg->ok / lg->duration_s, (unsigned long long)lo,
		       (unsigned long long)hi, lg->conns_opened, (unsigned long long)lg->answers,
		       lg_cpu_s());
		return;
	}
	for (j = lg->q_head; j != NULL; j = j->next)
		unfinished++;
	unfinished += lg->busy;
	qsort(lg->lat_us, lg->nlat, sizeof(*lg->lat_us), lg_cmp_u32);
	printf("mode=open rate_per_s=%d duration_s=%d sent=%llu accepted=%llu issued=%llu "
	       "failed=%llu refused=%llu errors=%llu unfinished=%zu p50_ms=%.1f p90_ms=%.1f "
	       "p99_ms=%.1f max_ms=%.1f send_lag_max_ms=%.1f polls=%llu connections=%d "
	       "loadgen_cpu_s=%.2f\n",
	       lg->rate, lg->duration_s, (unsigned long long)lg->sent,
	       (unsigned long long)lg->accepted, (unsigned long long)lg->issued,
	       (unsigned long long)lg->failed, (unsigned long long)lg->rejected,
	       (unsigned long long)lg->errors, unfinished, lg_pct_ms(lg->lat_us, lg->nlat, 0.50),
	       lg_pct_ms(lg->lat_us, lg->nlat, 0.90), lg_pct_ms(lg->lat_us, lg->nlat, 0.99),
	       lg->nlat ? lg->lat_us[lg->nlat - 1] / 1000.0 : 0.0,
	       (double)lg->lag_max_ns / NS_PER_MS, (unsigned long long)lg->polls, lg->conns_opened,
	       lg_cpu_s());
}

/* Parses option -opt as an integer in lo..hi; dies with the rule and the value otherwise. */
static int
lg_int(const char *opt, const char *v, int lo, int hi)
{
	char *end = NULL;
	long x = strtol(v, &end, 10);

	if (end == v || *end != '\0' || x < lo || x > hi)
		lg_die("-%s: must be an integer in %d..%d, got \"%s\"", opt, lo, hi, v);
	return (int)x;
}

/* Prints the usage and exits 1. */
static void
lg_usage(void)
{
	fprintf(stderr,
		"usage: loadgen closed|open HOST:PORT PATH BODIES [-H header]... [-c conns]\n"
		"       [-w warmup_s] [-d duration_s] [-s status] [-r rate] [-p prefix]\n"
		"       [-W wait_s] [-D drain_s]\n");
	exit(1);
}

/* Parses the command line into lg and loads the bodies; dies on any error. */
static void
lg_args(struct lg *lg, int argc, char **argv)
{
	char *colon;
	int opt;

	lg->conns_max = LG_DEFAULT_CONNS;
	lg->warmup_s = LG_DEFAULT_WARMUP_S;
	lg->duration_s = LG_DEFAULT_DURATION_S;
	lg->expect = LG_DEFAULT_STATUS;
	lg->rate = LG_DEFAULT_RATE;
	lg->wait_s = LG_DEFAULT_WAIT_S;
	lg->drain_s = LG_DEFAULT_DRAIN_S;
	lg->prefix = LG_DEFAULT_PREFIX;
	while ((opt = getopt(argc, argv, "H:c:w:d:s:r:p:W:D:")) != -1) {
		switch (opt) {
		case 'H':
			if (lg->nheaders == LG_HEADERS_MAX)
				lg_die("-H: at most %d headers", LG_HEADERS_MAX);
			if (strchr(optarg, ':') == NULL || strpbrk(optarg, "\r\n") != NULL)
				lg_die("-H: expected \"Name: value\" on one line, got \"%s\"",
				       optarg);
			lg->headers[lg->nheaders++] = optarg;
			break;
		case 'c':
			lg->conns_max = lg_int("c", optarg, 1, LG_CONNS_MAX);
			break;
		case 'w':
			lg->warmup_s = lg_int("w", optarg, 0, 3600);
			break;
		case 'd':
			lg->duration_s = lg_int("d", optarg, 1, 3600);
			break;
		case 's':
			lg->expect = lg_int("s", optarg, 100, 599);
			lg->sync = 1;
			break;
		case 'r':
			lg->rate = lg_int("r", optarg, 1, 1000000);
			break;
		case 'p':
			lg->prefix = optarg;
			break;
		case 'W':
			lg->wait_s = lg_int("W", optarg, 0, 3600);
			break;
		case 'D':
			lg->drain_s = lg_int("D", optarg, 0, 3600);
			break;
		default:
			lg_usage();
		}
	}
	if (argc - optind != 4)
		lg_usage();
	if (strcmp(argv[optind], "closed") == 0)
		lg->mode = MODE_CLOSED;
	else if (strcmp(argv[optind], "open") == 0)
		lg->mode = MODE_OPEN;
	else
		lg_die("mode: expected closed or open, got \"%s\"", argv[optind]);
	snprintf(lg->host, sizeof(lg->host), "%s", argv[optind + 1]);
	if ((colon = strrchr(lg->host, ':')) == NULL)
		lg_die("address: expected HOST:PORT, got \"%s\"", argv[optind + 1]);
	*colon = '\0';
	lg->addr.sin_family = AF_INET;
	lg->addr.sin_port = htons((uint16_t)lg_int("port", colon + 1, 1, 65535));
	if (inet_pton(AF_INET, lg->host, &lg->addr.sin_addr) != 1)
		lg_die("address: expected an IPv4 address, got \"%s\"", lg->host);
	*colon = ':';
	lg->path = argv[optind + 2];
	if (lg->path[0] != '/')
		lg_die("path: must start with /, got \"%s\"", lg->path);
	lg_load_bodies(lg, argv[optind + 3]);
}

int
main(int argc, char **argv)
{
	struct lg lg = {0};
	int i;

	lg_args(&lg, argc, argv);
	signal(SIGINT, lg_on_signal);
	signal(SIGTERM, lg_on_signal);
	if ((lg.ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		lg_die("epoll_create1: %s", strerror(errno));
	lg.t0 = lg_now();
	if (lg.mode == MODE_CLOSED) {
		lg.win_start = lg.t0 + (uint64_t)lg.warmup_s * NS_PER_S;
		lg.win_end = lg.win_start + (uint64_t)lg.duration_s * NS_PER_S;
		if ((lg.per_sec = calloc((size_t)lg.duration_s + 1, sizeof(*lg.per_sec))) == NULL)
			lg_die("out of memory");
		for (i = 0; i < lg.conns_max; i++)
			conn_start(&lg, conn_open(&lg), lg_next_submit(&lg, lg.t0));
	} else {
		lg.send_end = lg.t0 + (uint64_t)lg.duration_s * NS_PER_S;
		lg.lat_us = calloc((size_t)lg.rate * (size_t)lg.duration_s, sizeof(*lg.lat_us));
		if (lg.lat_us == NULL)
			lg_die("out of memory");
	}
	lg_loop(&lg);
	lg_report(&lg);
	return 0;
}
