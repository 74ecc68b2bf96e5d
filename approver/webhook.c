#include "webhook.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
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
#include "hex.h"

#define WEBHOOK_KEY_MAX 512
#define WEBHOOK_LOG_MAX 300
#define WEBHOOK_HEADER_MAX 512 /* one "Name: value" request header */

/* What a transfer's socket callback needs: the guard (NULL: none) and where to say why. */
struct xfer {
	const struct notify_cfg *guard;
	char *err;
	int refused;
};

/* CURLOPT_OPENSOCKETFUNCTION: the resolved address must pass the guard before connect. */
static curl_socket_t
xfer_open(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct xfer *x = arg;

	if (x->guard != NULL && netguard_addr_check(x->guard, &a->addr, x->err) != 0) {
		x->refused = 1;
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static size_t
xfer_discard(char *p, size_t size, size_t n, void *arg)
{
	return size * n;
}

/*
 * A curl handle for url with the common options: timeouts, no redirects,
 * no proxies from the environment, the guard on every socket, the trust
 * store (SSL_CERT_FILE / SSL_CERT_DIR when set) and errors into err
 * (CURL_ERROR_SIZE bytes). NULL when out of memory.
 */
static CURL *
xfer_new(const char *url, int timeout_ms, struct xfer *x, char *err)
{
	CURL *h = curl_easy_init();
	const char *file = getenv("SSL_CERT_FILE"), *dir = getenv("SSL_CERT_DIR");

	if (h == NULL)
		return NULL;
	err[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 2L * timeout_ms);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, xfer_open);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, x);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, xfer_discard);
	if (file != NULL && file[0] != '\0')
		curl_easy_setopt(h, CURLOPT_CAINFO, file);
	if (dir != NULL && dir[0] != '\0')
		curl_easy_setopt(h, CURLOPT_CAPATH, dir);
	return h;
}

/* Runs h; 0, or -1 with the guard's reason or curl's message in err. */
static int
xfer_run(CURL *h, struct xfer *x, const char *what, char *cerr)
{
	CURLcode rc = curl_easy_perform(h);

	if (rc == CURLE_OK)
		return 0;
	if (!x->refused)
		snprintf(x->err, WEBHOOK_ERR_MAX, "%.80s: %.160s", what,
			 cerr[0] != '\0' ? cerr : curl_easy_strerror(rc));
	return -1;
}

int
webhook_post(const char *url, const char *const *headers, const char *body, size_t len,
	     int timeout_ms, const struct notify_cfg *guard, int *status, char *err)
{
	struct xfer x = {guard, err, 0};
	struct curl_slist *hl = NULL, *t;
	char line[WEBHOOK_HEADER_MAX], cerr[CURL_ERROR_SIZE];
	CURL *h = NULL;
	long code = 0;
	int rc = -1;

	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
		snprintf(err, WEBHOOK_ERR_MAX,
			 "url: must start with http:// or https://, got \"%.64s\"", url);
		return -1;
	}
	if ((hl = curl_slist_append(NULL, "Content-Type: application/json")) == NULL ||
	    (t = curl_slist_append(hl, "Expect:")) == NULL)
		goto oom;
	for (; headers != NULL && headers[0] != NULL; headers += 2) {
		snprintf(line, sizeof(line), "%s: %s", headers[0], headers[1]);
		if ((t = curl_slist_append(hl, line)) == NULL)
			goto oom;
	}
	if ((h = xfer_new(url, timeout_ms, &x, cerr)) == NULL)
		goto oom;
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	if (xfer_run(h, &x, url, cerr) != 0) {
		rc = x.refused ? WEBHOOK_EREFUSED : -1;
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	*status = (int)code;
	rc = 0;
	goto out;
oom:
	snprintf(err, WEBHOOK_ERR_MAX, "out of memory");
out:
	curl_easy_cleanup(h);
	curl_slist_free_all(hl);
	return rc;
}

/* CURLOPT_READFUNCTION over a NUL-terminated message. */
static size_t
mail_read(char *buf, size_t size, size_t n, void *arg)
{
	const char **p = arg;
	size_t len = strlen(*p), max = size * n;

	if (len > max)
		len = max;
	memcpy(buf, *p, len);
	*p += len;
	return len;
}

int
webhook_mail(const struct notify_cfg *n, const char *password, const char *to, const char *message,
	     int timeout_ms, char *err)
{
	struct xfer x = {NULL, err, 0};
	struct curl_slist *rcpt = NULL;
	char url[NETGUARD_URL_MAX + 16], cerr[CURL_ERROR_SIZE];
	const char *p = message;
	CURL *h = NULL;
	int rc = -1;

	if (n->smtp_url == NULL) {
		snprintf(err, WEBHOOK_ERR_MAX, "notifications.smtp is not configured");
		return -1;
	}
	/* smtps:// is TLS from the first byte; smtp:// with USE_SSL_ALL insists on STARTTLS. */
	snprintf(url, sizeof(url), "%s%s", n->smtp_tls == SMTP_TLS_TLS ? "smtps://" : "smtp://",
		 n->smtp_url + strlen("smtp://"));
	if ((rcpt = curl_slist_append(NULL, to)) == NULL ||
	    (h = xfer_new(url, timeout_ms, &x, cerr)) == NULL) {
		snprintf(err, WEBHOOK_ERR_MAX, "out of memory");
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	if (n->smtp_tls == SMTP_TLS_STARTTLS)
		curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (n->smtp_user != NULL) {
		curl_easy_setopt(h, CURLOPT_USERNAME, n->smtp_user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, password);
	}
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, n->smtp_from);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, mail_read);
	curl_easy_setopt(h, CURLOPT_READDATA, &p);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	rc = xfer_run(h, &x, n->smtp_url, cerr);
out:
	curl_easy_cleanup(h);
	curl_slist_free_all(rcpt);
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

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -1;
	hex_encode(rnd, sizeof(rnd), did);
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

/* One attempt at d: 0, or -1 with err (WEBHOOK_ERR_MAX); gone set when it cannot succeed. */
static int
delivery_send(const struct webhook_queue *q, struct delivery *d, webhook_secret_fn secret,
	      void *arg, int *code, int *gone, char *err)
{
	char sig[WEBHOOK_SIG_MAX], ts[32], sec[WEBHOOK_SECRET_MAX];
	const char *hdr[] = {WEBHOOK_EVENT_HEADER,
			     d->event,
			     WEBHOOK_ID_HEADER,
			     d->id,
			     WEBHOOK_TS_HEADER,
			     ts,
			     WEBHOOK_SIG_HEADER,
			     sig,
			     NULL};
	const struct notify_cfg *guard = NULL;
	long long t = (long long)time(NULL);
	size_t len = strlen(d->body);
	int rc;

	if (strncmp(d->url, WEBHOOK_MAILTO, strlen(WEBHOOK_MAILTO)) == 0)
		return webhook_mail(q->notify, q->smtp_password, d->url + strlen(WEBHOOK_MAILTO),
				    d->body, WEBHOOK_TIMEOUT_MS, err);
	snprintf(ts, sizeof(ts), "%lld", t);
	rc = secret != NULL ? secret(arg, d->target, sec) : 1;
	if (rc != 0) {
		*gone = rc > 0;
		snprintf(err, WEBHOOK_ERR_MAX, "%s",
			 rc > 0 ? "webhook target no longer configured" : "secret not readable");
		return -1;
	}
	if (strncmp(d->target, WEBHOOK_USER_TARGET, strlen(WEBHOOK_USER_TARGET)) == 0) {
		guard = q->notify;
		if (netguard_url_check(guard, d->url, 0, err) != 0) {
			*gone = 1;
			return -1;
		}
	}
	rc = webhook_sign(sec, t, d->body, len, sig);
	OPENSSL_cleanse(sec, sizeof(sec));
	if (rc != 0) {
		snprintf(err, WEBHOOK_ERR_MAX, "signing failed");
		return -1;
	}
	/* An address the guard refuses stays refused: no retries. */
	rc = webhook_post(d->url, hdr, d->body, len, WEBHOOK_TIMEOUT_MS, guard, code, err);
	*gone = rc == WEBHOOK_EREFUSED;
	return rc;
}

/* One attempt at d; records and reports it. */
static void
delivery_attempt(const struct webhook_queue *q, struct delivery *d, webhook_secret_fn secret,
		 webhook_outcome_fn outcome, void *arg)
{
	struct webhook_outcome o = {d->id, d->event, d->request_id, d->target, d->url,
				    0,     0,        NULL,          NULL};
	char err[WEBHOOK_ERR_MAX] = "";
	long long next = 0;
	int give_up = 0;

	o.attempt = d->attempts + 1;
	if (delivery_send(q, d, secret, arg, &o.code, &give_up, err) != 0)
		o.error = err;
	else if (o.code != 0 && (o.code < 200 || o.code > 299))
		o.error = ""; /* an HTTP status other than 2xx: the code says it */
	if (o.error == NULL)
		o.status = "delivered";
	else if (give_up || o.attempt >= WEBHOOK_MAX_ATTEMPTS)
		o.status = "failed";
	else {
		o.status = "pending";
		next = now_ms() + webhook_backoff_ms(o.attempt);
	}
	if (o.error != NULL && o.error[0] == '\0')
		o.error = NULL;
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
