#include "webhook.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "redis.h"
#include "secret.h"

#define WEBHOOK_HOST_MAX 128
#define WEBHOOK_PATH_MAX 2048
#define WEBHOOK_HEAD_MAX (WEBHOOK_PATH_MAX + 4096)
#define WEBHOOK_KEY_MAX 512
#define WEBHOOK_LOG_MAX 300

struct url_parts {
	int tls;
	char host[WEBHOOK_HOST_MAX];
	char port[8];
	char path[WEBHOOK_PATH_MAX];
};

/* Splits an http(s) URL. 0, or -1 with err. */
static int
url_split(const char *url, struct url_parts *u, char *err)
{
	const char *p, *host, *end, *colon;
	size_t n;

	memset(u, 0, sizeof(*u));
	if (strncmp(url, "http://", 7) == 0) {
		p = url + 7;
		snprintf(u->port, sizeof(u->port), "80");
	} else if (strncmp(url, "https://", 8) == 0) {
		p = url + 8;
		u->tls = 1;
		snprintf(u->port, sizeof(u->port), "443");
	} else {
		snprintf(err, WEBHOOK_ERR_MAX,
			 "url: must start with http:// or https://, got \"%.64s\"", url);
		return -1;
	}
	end = p + strcspn(p, "/?#");
	if (*p == '[') { /* [IPv6]:port */
		host = p + 1;
		if ((colon = memchr(p, ']', (size_t)(end - p))) == NULL) {
			snprintf(err, WEBHOOK_ERR_MAX, "url: unclosed '[' in \"%.64s\"", url);
			return -1;
		}
		n = (size_t)(colon - host);
		colon = colon[1] == ':' ? colon + 1 : NULL;
	} else {
		host = p;
		colon = memchr(p, ':', (size_t)(end - p));
		n = (size_t)((colon != NULL ? colon : end) - host);
	}
	if (n == 0 || n >= sizeof(u->host)) {
		snprintf(err, WEBHOOK_ERR_MAX, "url: host must be 1..%zu characters in \"%.64s\"",
			 sizeof(u->host) - 1, url);
		return -1;
	}
	memcpy(u->host, host, n);
	if (colon != NULL) {
		n = (size_t)(end - colon - 1);
		if (n == 0 || n >= sizeof(u->port) || strspn(colon + 1, "0123456789") < n) {
			snprintf(err, WEBHOOK_ERR_MAX, "url: port must be a number in \"%.64s\"",
				 url);
			return -1;
		}
		memcpy(u->port, colon + 1, n);
		u->port[n] = '\0';
	}
	n = strcspn(end, "#");
	if (n >= sizeof(u->path)) {
		snprintf(err, WEBHOOK_ERR_MAX, "url: path longer than %zu characters",
			 sizeof(u->path) - 1);
		return -1;
	}
	if (n == 0)
		snprintf(u->path, sizeof(u->path), "/");
	else if (*end != '/')
		snprintf(u->path, sizeof(u->path), "/%.*s", (int)n, end);
	else
		memcpy(u->path, end, n);
	return 0;
}

/* Connected socket to u with send/receive timeouts, or -1 with err. */
static int
url_connect(const struct url_parts *u, int timeout_ms, char *err)
{
	struct addrinfo hints = {0}, *res = NULL, *ai;
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	int fd = -1, rc, e = 0;

	hints.ai_socktype = SOCK_STREAM;
	hints.ai_family = AF_UNSPEC;
	if ((rc = getaddrinfo(u->host, u->port, &hints, &res)) != 0) {
		snprintf(err, WEBHOOK_ERR_MAX, "%.128s: %.100s", u->host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol)) <
		    0)
			continue;
		/* On Linux SO_SNDTIMEO also bounds connect(2). */
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		e = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(err, WEBHOOK_ERR_MAX, "connect %.128s:%s: %.100s", u->host, u->port,
			 e == EINPROGRESS ? "timed out" : strerror(e));
	return fd;
}

/* One connection, plain or TLS. */
struct conn {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
};

static void
conn_close(struct conn *c)
{
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
}

static int
conn_tls(struct conn *c, const char *host, char *err)
{
	unsigned char ip[sizeof(struct in6_addr)];
	unsigned long e;
	long v;
	int is_ip;

	if ((c->ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_set_default_verify_paths(c->ctx) != 1 ||
	    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION) != 1 ||
	    (c->ssl = SSL_new(c->ctx)) == NULL) {
		snprintf(err, WEBHOOK_ERR_MAX, "TLS: cannot set up a client context");
		return -1;
	}
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	SSL_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
	/* An address is matched against IP names; SNI carries host names only (RFC 6066). */
	is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
	if (SSL_set1_host(c->ssl, host) != 1 ||
	    (!is_ip && SSL_set_tlsext_host_name(c->ssl, host) != 1)) {
		snprintf(err, WEBHOOK_ERR_MAX, "TLS: cannot set the expected name %.128s", host);
		return -1;
	}
	SSL_set_fd(c->ssl, c->fd);
	if (SSL_connect(c->ssl) != 1) {
		e = ERR_get_error();
		v = SSL_get_verify_result(c->ssl);
		snprintf(err, WEBHOOK_ERR_MAX, "TLS handshake with %.128s: %.100s%s%.80s", host,
			 e != 0 ? ERR_reason_error_string(e) : "failed", v != X509_V_OK ? ": " : "",
			 v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
		ERR_clear_error();
		return -1;
	}
	return 0;
}

static int
conn_write(struct conn *c, const char *buf, size_t len, char *err)
{
	ssize_t n;

	while (len > 0) {
		n = c->ssl != NULL ? SSL_write(c->ssl, buf, (int)len) : write(c->fd, buf, len);
		if (n <= 0) {
			snprintf(err, WEBHOOK_ERR_MAX, "send: %s",
				 c->ssl != NULL    ? "TLS write failed"
				 : errno == EAGAIN ? "timed out"
						   : strerror(errno));
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads until the status line is complete. 0 with *status, or -1 with err. */
static int
conn_status(struct conn *c, int *status, char *err)
{
	char buf[WEBHOOK_RESPONSE_MAX + 1];
	size_t have = 0;
	ssize_t n;
	int code;

	while (have < WEBHOOK_RESPONSE_MAX) {
		n = c->ssl != NULL
			? SSL_read(c->ssl, buf + have, (int)(WEBHOOK_RESPONSE_MAX - have))
			: read(c->fd, buf + have, WEBHOOK_RESPONSE_MAX - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		if (strstr(buf, "\r\n") != NULL)
			break;
	}
	buf[have] = '\0';
	if (have == 0) {
		snprintf(err, WEBHOOK_ERR_MAX, "no answer: %s",
			 errno == EAGAIN ? "timed out" : "connection closed");
		return -1;
	}
	if (sscanf(buf, "HTTP/1.%*d %3d", &code) != 1 || code < 100 || code > 599) {
		snprintf(err, WEBHOOK_ERR_MAX, "answer is not HTTP: \"%.40s\"", buf);
		return -1;
	}
	*status = code;
	return 0;
}

int
webhook_post(const char *url, const char *const *headers, const char *body, size_t len,
	     int timeout_ms, int *status, char *err)
{
	struct url_parts u;
	struct conn c = {.fd = -1};
	char head[WEBHOOK_HEAD_MAX];
	size_t n;
	int rc = -1;

	if (url_split(url, &u, err) < 0)
		return -1;
	n = (size_t)snprintf(head, sizeof(head),
			     "POST %s HTTP/1.1\r\nHost: %s%s%s\r\nUser-Agent: pki-webhook/1\r\n"
			     "Content-Type: application/json\r\nContent-Length: %zu\r\n"
			     "Connection: close\r\n",
			     u.path, u.host, strcmp(u.port, u.tls ? "443" : "80") ? ":" : "",
			     strcmp(u.port, u.tls ? "443" : "80") ? u.port : "", len);
	for (; headers != NULL && headers[0] != NULL && headers[1] != NULL; headers += 2)
		if (n < sizeof(head))
			n += (size_t)snprintf(head + n, sizeof(head) - n, "%s: %s\r\n", headers[0],
					      headers[1]);
	if (n < sizeof(head))
		n += (size_t)snprintf(head + n, sizeof(head) - n, "\r\n");
	if (n >= sizeof(head)) {
		snprintf(err, WEBHOOK_ERR_MAX, "request head over %zu bytes", sizeof(head));
		return -1;
	}
	if ((c.fd = url_connect(&u, timeout_ms, err)) < 0)
		goto out;
	if (u.tls && conn_tls(&c, u.host, err) < 0)
		goto out;
	if (conn_write(&c, head, n, err) < 0 || conn_write(&c, body, len, err) < 0 ||
	    conn_status(&c, status, err) < 0)
		goto out;
	rc = 0;
out:
	conn_close(&c);
	return rc;
}

int
webhook_sign(const char *secret, long long ts, const char *body, size_t len, char *out)
{
	char prefix[32], hex[65], *msg;
	size_t plen;
	int rc;

	plen = (size_t)snprintf(prefix, sizeof(prefix), "%lld.", ts);
	if ((msg = malloc(plen + len + 1)) == NULL)
		return -1;
	memcpy(msg, prefix, plen);
	memcpy(msg + plen, body, len);
	rc = secret_hmac_hex((const unsigned char *)secret, strlen(secret), msg, plen + len, hex);
	free(msg);
	if (rc != 0)
		return -1;
	snprintf(out, WEBHOOK_SIG_MAX, "sha256=%s", hex);
	return 0;
}

long
webhook_backoff_ms(int attempts)
{
	long d = WEBHOOK_BACKOFF_BASE_MS;

	while (--attempts > 0 && d < WEBHOOK_BACKOFF_MAX_MS)
		d *= 2;
	return d < WEBHOOK_BACKOFF_MAX_MS ? d : WEBHOOK_BACKOFF_MAX_MS;
}

/* ------------------------------------------------------------------ queue */

static long long
now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Runs argv; NULL (logged) on failure or an error reply. */
static redisReply *
wq_run(const struct webhook_queue *q, int argc, const char **argv)
{
	struct redis *r = redis_thread(q->redis_url);
	redisReply *rep;

	if (r == NULL || (rep = redis_cmdv(r, argc, argv, NULL)) == NULL)
		return NULL;
	if (rep->type == REDIS_REPLY_ERROR) {
		log_error("webhook: redis %s: %s", argv[0], rep->str);
		freeReplyObject(rep);
		return NULL;
	}
	return rep;
}

/* KEYS hash, due, per-request list; ARGV id, now_ms, ttl, field/value pairs. */
static const char wq_lua_enqueue[] = "redis.call('HSET', KEYS[1], unpack(ARGV, 4))\n"
				     "redis.call('EXPIRE', KEYS[1], ARGV[3])\n"
				     "redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])\n"
				     "redis.call('RPUSH', KEYS[3], ARGV[1])\n"
				     "redis.call('EXPIRE', KEYS[3], ARGV[3])\n"
				     "return 1\n";

int
webhook_enqueue(const struct webhook_queue *q, const char *target, const char *url,
		const char *event, const char *request_id, const char *body, char *did)
{
	char hkey[WEBHOOK_KEY_MAX], due[WEBHOOK_KEY_MAX], lkey[WEBHOOK_KEY_MAX], now[32], ttl[16];
	char created[32];
	unsigned char rnd[16];
	redisReply *rep;
	int i;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -1;
	for (i = 0; i < 16; i++)
		snprintf(did + 2 * i, 3, "%02x", rnd[i]);
	snprintf(hkey, sizeof(hkey), "%swebhook:%s", q->prefix, did);
	snprintf(due, sizeof(due), "%swebhook:due", q->prefix);
	snprintf(lkey, sizeof(lkey), "%swebhook:req:%s", q->prefix, request_id);
	snprintf(now, sizeof(now), "%lld", now_ms());
	snprintf(created, sizeof(created), "%lld", (long long)time(NULL));
	snprintf(ttl, sizeof(ttl), "%d", WEBHOOK_RECORD_TTL_S);
	{
		const char *argv[] = {"EVAL",  wq_lua_enqueue, "3",        hkey,
				      due,     lkey,           did,        now,
				      ttl,     "id",           did,        "event",
				      event,   "request_id",   request_id, "target",
				      target,  "url",          url,        "body",
				      body,    "status",       "pending",  "attempts",
				      "0",     "created",      created,    "updated",
				      created, "next_at",      now};

		if ((rep = wq_run(q, (int)(sizeof(argv) / sizeof(argv[0])), argv)) == NULL)
			return -1;
	}
	freeReplyObject(rep);
	return 0;
}

/* KEYS due; ARGV now_ms, lease_ms, max: claims due ids by moving them ahead. */
static const char wq_lua_claim[] =
    "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])\n"
    "for _, id in ipairs(ids) do\n"
    "  redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), id)\n"
    "end\n"
    "return ids\n";

/* The fields of one delivery. */
struct delivery {
	char *id, *event, *request_id, *target, *url, *body;
	int attempts;
};

static void
delivery_free(struct delivery *d)
{
	free(d->id);
	free(d->event);
	free(d->request_id);
	free(d->target);
	free(d->url);
	free(d->body);
}

static int
delivery_load(const struct webhook_queue *q, const char *id, struct delivery *d)
{
	char key[WEBHOOK_KEY_MAX];
	const char *argv[] = {"HMGET", key,    "event",    "request_id", "target",
			      "url",   "body", "attempts", "status"};
	redisReply *rep, **e;
	int rc = -1, i;

	memset(d, 0, sizeof(*d));
	snprintf(key, sizeof(key), "%swebhook:%s", q->prefix, id);
	if ((rep = wq_run(q, 9, argv)) == NULL)
		return -1;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 7)
		goto out;
	e = rep->element;
	for (i = 0; i < 7; i++)
		if (e[i]->type != REDIS_REPLY_STRING)
			goto out; /* expired or incomplete */
	if (strcmp(e[6]->str, "pending") != 0)
		goto out;
	d->id = strdup(id);
	d->event = strdup(e[0]->str);
	d->request_id = strdup(e[1]->str);
	d->target = strdup(e[2]->str);
	d->url = strdup(e[3]->str);
	d->body = strdup(e[4]->str);
	d->attempts = atoi(e[5]->str);
	if (d->id == NULL || d->event == NULL || d->request_id == NULL || d->target == NULL ||
	    d->url == NULL || d->body == NULL) {
		delivery_free(d);
		goto out;
	}
	rc = 0;
out:
	freeReplyObject(rep);
	return rc;
}

/*
 * KEYS hash, due, log; ARGV id, status, attempts, code, error, now_s, next_ms
 * (or ""), log line, ttl.
 */
static const char wq_lua_record[] =
    "redis.call('HSET', KEYS[1], 'status', ARGV[2], 'attempts', ARGV[3], 'last_code', ARGV[4],\n"
    "  'last_error', ARGV[5], 'updated', ARGV[6], 'next_at', ARGV[7])\n"
    "if ARGV[2] == 'delivered' then redis.call('HSET', KEYS[1], 'delivered_at', ARGV[6]) end\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[9])\n"
    "redis.call('RPUSH', KEYS[3], ARGV[8])\n"
    "redis.call('EXPIRE', KEYS[3], ARGV[9])\n"
    "if ARGV[7] == '' then redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "else redis.call('ZADD', KEYS[2], ARGV[7], ARGV[1]) end\n"
    "return 1\n";

static void
delivery_record(const struct webhook_queue *q, const struct webhook_outcome *o, long long next)
{
	char hkey[WEBHOOK_KEY_MAX], due[WEBHOOK_KEY_MAX], lkey[WEBHOOK_KEY_MAX];
	char att[16], code[16], now[32], nxt[32], ttl[16], line[WEBHOOK_LOG_MAX];
	redisReply *rep;

	snprintf(hkey, sizeof(hkey), "%swebhook:%s", q->prefix, o->id);
	snprintf(due, sizeof(due), "%swebhook:due", q->prefix);
	snprintf(lkey, sizeof(lkey), "%swebhook:%s:log", q->prefix, o->id);
	snprintf(att, sizeof(att), "%d", o->attempt);
	snprintf(code, sizeof(code), "%d", o->code);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	if (next > 0)
		snprintf(nxt, sizeof(nxt), "%lld", next);
	else
		nxt[0] = '\0';
	snprintf(ttl, sizeof(ttl), "%d", WEBHOOK_RECORD_TTL_S);
	snprintf(line, sizeof(line), "%s attempt %d: %s%s%s", now, o->attempt,
		 o->code != 0 ? "HTTP " : "", o->code != 0 ? code : "",
		 o->error != NULL ? o->error : "");
	{
		const char *argv[] = {"EVAL",
				      wq_lua_record,
				      "3",
				      hkey,
				      due,
				      lkey,
				      o->id,
				      o->status,
				      att,
				      code,
				      o->error != NULL ? o->error : "",
				      now,
				      nxt,
				      line,
				      ttl};

		if ((rep = wq_run(q, (int)(sizeof(argv) / sizeof(argv[0])), argv)) != NULL)
			freeReplyObject(rep);
	}
}

/* One attempt at d; records and reports it. */
static void
delivery_attempt(const struct webhook_queue *q, struct delivery *d, webhook_secret_fn secret,
		 webhook_outcome_fn outcome, void *arg)
{
	struct webhook_outcome o = {d->id, d->event, d->request_id, d->target, d->url,
				    0,     0,        NULL,          NULL};
	char sig[WEBHOOK_SIG_MAX], ts[32], err[WEBHOOK_ERR_MAX];
	const char *sec = secret != NULL ? secret(arg, d->target) : NULL;
	const char *hdr[] = {WEBHOOK_EVENT_HEADER,
			     d->event,
			     WEBHOOK_ID_HEADER,
			     d->id,
			     WEBHOOK_TS_HEADER,
			     ts,
			     WEBHOOK_SIG_HEADER,
			     sig,
			     NULL};
	long long t = (long long)time(NULL), next = 0;
	size_t len = strlen(d->body);
	int give_up = 0;

	o.attempt = d->attempts + 1;
	snprintf(ts, sizeof(ts), "%lld", t);
	if (sec == NULL) {
		o.error = "webhook target no longer configured";
		give_up = 1;
	} else if (webhook_sign(sec, t, d->body, len, sig) != 0) {
		o.error = "signing failed";
	} else if (webhook_post(d->url, hdr, d->body, len, WEBHOOK_TIMEOUT_MS, &o.code, err) != 0) {
		o.error = err;
	} else if (o.code < 200 || o.code > 299) {
		o.error = "";
	}
	if (o.error == NULL)
		o.status = "delivered";
	else if (give_up || o.attempt >= WEBHOOK_MAX_ATTEMPTS)
		o.status = "failed";
	else {
		o.status = "pending";
		next = now_ms() + webhook_backoff_ms(o.attempt);
	}
	if (o.error != NULL && o.error[0] == '\0')
		o.error = NULL; /* an HTTP status other than 2xx: the code says it */
	delivery_record(q, &o, next);
	if (outcome != NULL)
		outcome(arg, &o);
}

int
webhook_run_due(const struct webhook_queue *q, int max, webhook_secret_fn secret,
		webhook_outcome_fn outcome, void *arg)
{
	char due[WEBHOOK_KEY_MAX], now[32], lease[16], smax[16];
	const char *argv[] = {"EVAL", wq_lua_claim, "1", due, now, lease, smax};
	struct delivery d;
	redisReply *rep;
	size_t i;
	int n = 0;

	snprintf(due, sizeof(due), "%swebhook:due", q->prefix);
	snprintf(now, sizeof(now), "%lld", now_ms());
	snprintf(lease, sizeof(lease), "%d", WEBHOOK_LEASE_MS);
	snprintf(smax, sizeof(smax), "%d", max);
	if ((rep = wq_run(q, 7, argv)) == NULL)
		return -1;
	for (i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
		if (rep->element[i]->type != REDIS_REPLY_STRING)
			continue;
		if (delivery_load(q, rep->element[i]->str, &d) != 0) {
			/* Gone or finished: drop it from the schedule. */
			const char *zrem[] = {"ZREM", due, rep->element[i]->str};
			redisReply *r2 = wq_run(q, 3, zrem);

			if (r2 != NULL)
				freeReplyObject(r2);
			continue;
		}
		delivery_attempt(q, &d, secret, outcome, arg);
		delivery_free(&d);
		n++;
	}
	freeReplyObject(rep);
	return n;
}
