/* Browser login sessions in Redis and their CSRF tokens. */
#include "session.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "redis.h"
#include "secret.h"
#include "hex.h"

#define SESSION_KEY_FP_BYTES 8 /* API-key fingerprint kept with the session */
#define SESSION_REDIS_KEY_MAX 256
#define SESSION_RETRY_AFTER_S "5"
#define SESSION_FIELDS 4 /* user, scope, csrf, key */

const struct session_realm session_gateway = {"pki_session", "gateway"};
const struct session_realm session_admin = {"pki_admin", "admin"};

/* Stores the hash and its TTL in one step: a session never outlives SESSION_TTL_S. */
static const char session_put_lua[] =
    "redis.call('HSET', KEYS[1], 'user', ARGV[1], 'scope', ARGV[2], 'csrf', ARGV[3], "
    "'key', ARGV[4], 'created', ARGV[5]) "
    "redis.call('EXPIRE', KEYS[1], ARGV[6]) "
    "return 1";

/* SESSION_TOKEN_BYTES random bytes as hex into out. Returns 0 or -1. */
static int
token_new(char out[SESSION_TOKEN_HEX + 1])
{
	unsigned char b[SESSION_TOKEN_BYTES];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -1;
	hex_encode(b, sizeof(b), out);
	return 0;
}

/* The session id (sha256 hex of the token): what Redis knows it by. */
static void
token_id(const char *token, char id[SESSION_TOKEN_HEX + 1])
{
	unsigned char d[32];

	secret_api_key_hash(token, d);
	hex_encode(d, sizeof(d), id);
}

/* Fingerprint of u's API key hash: a rotated key ends its sessions. */
static void
user_key_fp(const struct user *u, char out[2 * SESSION_KEY_FP_BYTES + 1])
{
	unsigned char d[32];
	unsigned int n = 0;

	EVP_Digest(u->api_key_hash, sizeof(u->api_key_hash), d, &n, EVP_sha256(), NULL);
	hex_encode(d, SESSION_KEY_FP_BYTES, out);
}

static void
redis_key(const struct config *cfg, const char *id, char out[SESSION_REDIS_KEY_MAX])
{
	snprintf(out, SESSION_REDIS_KEY_MAX, "%ssession:%s", cfg->redis_prefix, id);
}

static void
cookie_format(const struct session_realm *realm, char *cookie, const char *value, long max_age,
	      int secure)
{
	snprintf(cookie, SESSION_COOKIE_MAX,
		 "%s=%s; Max-Age=%ld; Path=/; HttpOnly; SameSite=Strict%s", realm->cookie, value,
		 max_age, secure ? "; Secure" : "");
}

int
session_secure(struct http_req *req)
{
	const char *env = getenv(SESSION_SECURE_ENV);
	const char *proto = http_header(req, "X-Forwarded-Proto");

	if (env != NULL && strcmp(env, "1") == 0)
		return 1;
	return proto != NULL && strcasecmp(proto, "https") == 0;
}

int
session_create(const struct config *cfg, const struct session_realm *realm, const struct user *u,
	       int secure, struct session *s, char *cookie)
{
	char token[SESSION_TOKEN_HEX + 1], csrf[SESSION_TOKEN_HEX + 1], id[SESSION_TOKEN_HEX + 1];
	char key[SESSION_REDIS_KEY_MAX], fp[2 * SESSION_KEY_FP_BYTES + 1], created[32], ttl[32];
	struct redis *r = redis_thread(cfg->redis_url);
	redisReply *rep = NULL;
	int rc = SESSION_EDOWN;

	if (r == NULL || token_new(token) != 0 || token_new(csrf) != 0)
		goto out;
	token_id(token, id);
	redis_key(cfg, id, key);
	user_key_fp(u, fp);
	snprintf(created, sizeof(created), "%lld", (long long)time(NULL));
	snprintf(ttl, sizeof(ttl), "%d", SESSION_TTL_S);
	rep = redis_cmd(r, "EVAL %s 1 %s %s %s %s %s %s %s", session_put_lua, key, u->name,
			realm->scope, csrf, fp, created, ttl);
	if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
		log_error("session: storing a session for %s: %s", u->name,
			  rep != NULL ? rep->str : "redis unreachable");
		goto out;
	}
	s->user = u;
	memcpy(s->csrf, csrf, sizeof(s->csrf));
	memcpy(s->id, id, sizeof(s->id));
	cookie_format(realm, cookie, token, SESSION_TTL_S, secure);
	rc = 0;
out:
	if (rep != NULL)
		freeReplyObject(rep);
	OPENSSL_cleanse(token, sizeof(token));
	return rc;
}

static int
is_token(const char *v, size_t n)
{
	size_t i;

	if (n != SESSION_TOKEN_HEX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
			return 0;
	return 1;
}

int
session_cookie_token(const struct session_realm *realm, const char *cookie_header,
		     char token[SESSION_TOKEN_HEX + 1])
{
	const size_t nlen = strlen(realm->cookie);
	const char *p = cookie_header, *end, *v;

	/* "a=b; pki_session=...; c=d": the first pki_session pair decides. */
	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		end = strchr(p, ';');
		if (end == NULL)
			end = p + strlen(p);
		if ((size_t)(end - p) > nlen && strncmp(p, realm->cookie, nlen) == 0 &&
		    p[nlen] == '=') {
			v = p + nlen + 1;
			while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
				end--;
			if (!is_token(v, (size_t)(end - v)))
				return 0;
			memcpy(token, v, SESSION_TOKEN_HEX);
			token[SESSION_TOKEN_HEX] = '\0';
			return 1;
		}
		p = end;
	}
	return 0;
}

int
session_lookup(const struct config *cfg, const struct session_realm *realm,
	       const char *cookie_header, struct session *s)
{
	char token[SESSION_TOKEN_HEX + 1], id[SESSION_TOKEN_HEX + 1], key[SESSION_REDIS_KEY_MAX];
	char fp[2 * SESSION_KEY_FP_BYTES + 1];
	struct redis *r;
	redisReply *rep = NULL, *e;
	const struct user *u;
	size_t i;
	int rc = 0;

	if (!session_cookie_token(realm, cookie_header, token))
		return 0;
	token_id(token, id);
	OPENSSL_cleanse(token, sizeof(token));
	redis_key(cfg, id, key);
	if ((r = redis_thread(cfg->redis_url)) == NULL)
		return SESSION_EDOWN;
	rep = redis_cmd(r, "HMGET %s user scope csrf key", key);
	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements != SESSION_FIELDS) {
		log_error("session: reading a session: %s", rep == NULL ? "redis unreachable"
							    : rep->type == REDIS_REPLY_ERROR
								? rep->str
								: "unexpected reply");
		rc = SESSION_EDOWN;
		goto out;
	}
	for (i = 0; i < SESSION_FIELDS; i++) {
		e = rep->element[i];
		if (e->type != REDIS_REPLY_STRING)
			goto out; /* unknown or expired */
	}
	if (strcmp(rep->element[1]->str, realm->scope) != 0 ||
	    (u = config_user_find(cfg, rep->element[0]->str)) == NULL)
		goto out;
	user_key_fp(u, fp);
	if (strcmp(fp, rep->element[3]->str) != 0 ||
	    !is_token(rep->element[2]->str, rep->element[2]->len))
		goto out;
	s->user = u;
	memcpy(s->csrf, rep->element[2]->str, sizeof(s->csrf));
	memcpy(s->id, id, sizeof(s->id));
	rc = 1;
out:
	if (rep != NULL)
		freeReplyObject(rep);
	return rc;
}

int
session_get(const struct config *cfg, const struct session_realm *realm, struct http_req *req,
	    struct session *s)
{
	return session_lookup(cfg, realm, http_header(req, "Cookie"), s);
}

int
session_destroy(const struct config *cfg, const struct session_realm *realm,
		const char *cookie_header, int secure, char *cookie)
{
	char token[SESSION_TOKEN_HEX + 1], id[SESSION_TOKEN_HEX + 1], key[SESSION_REDIS_KEY_MAX];
	struct redis *r;
	redisReply *rep;
	int rc = 0;

	cookie_format(realm, cookie, "", 0, secure);
	if (!session_cookie_token(realm, cookie_header, token))
		return 0;
	token_id(token, id);
	OPENSSL_cleanse(token, sizeof(token));
	redis_key(cfg, id, key);
	if ((r = redis_thread(cfg->redis_url)) == NULL)
		return SESSION_EDOWN;
	rep = redis_cmd(r, "DEL %s", key);
	if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
		log_error("session: ending a session: %s",
			  rep != NULL ? rep->str : "redis unreachable");
		rc = SESSION_EDOWN;
	}
	if (rep != NULL)
		freeReplyObject(rep);
	return rc;
}

int
session_csrf_ok(const struct session *s, const char *token)
{
	if (token == NULL || strlen(token) != SESSION_TOKEN_HEX)
		return 0;
	return secret_equal(s->csrf, token, SESSION_TOKEN_HEX);
}

int
session_method_unsafe(const char *method)
{
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
	       strcmp(method, "OPTIONS") != 0;
}

const struct user *
session_user(const struct config *cfg, const struct session_realm *realm, struct http_req *req)
{
	static const char *const retry[] = {"Retry-After", SESSION_RETRY_AFTER_S, NULL};
	struct session s;
	const char *tok;
	int rc = session_get(cfg, realm, req, &s);

	if (rc == SESSION_EDOWN) {
		http_reply_error(req, 503, "unavailable", NULL, NULL, retry,
				 "session store (Redis) unreachable; try again shortly");
		return NULL;
	}
	if (rc != 1)
		return NULL;
	if (session_method_unsafe(req->method) &&
	    !session_csrf_ok(&s, tok = http_header(req, SESSION_CSRF_HEADER))) {
		http_reply_error(req, 403, "csrf_failed", SESSION_CSRF_HEADER, NULL, NULL,
				 "%s %s with the session cookie needs the session's CSRF token in "
				 "the %s header: %s",
				 req->method, req->path, SESSION_CSRF_HEADER,
				 tok == NULL ? "it is missing" : "it does not match");
		return NULL;
	}
	return s.user;
}
