/*
 * Login sessions (session.c) against a real redis-server started for the
 * test, cookie parsing and CSRF checks; web templates and assets (web.c).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "redis.h"
#include "secret.h"
#include "session.h"
#include "test.h"
#include "web.h"

#define REDIS_START_TRIES 100 /* x 20 ms */

static const char tok_a[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

TEST(session_cookie_token_table)
{
	static const struct {
		const char *header;
		int found;
	} cases[] = {
	    {NULL, 0},
	    {"", 0},
	    {"pki_session=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 1},
	    {"a=b; pki_session=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef; "
	     "c=d",
	     1},
	    {"xpki_session=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 0},
	    {"pki_sessionx=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 0},
	    {"pki_session=0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", 0},
	    {"pki_session=0123456789abcdef", 0},
	    {"pki_session=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0", 0},
	    {"pki_session=", 0},
	    {"pki_session", 0},
	    /* The first pki_session decides, even when it is malformed. */
	    {"pki_session=zz; "
	     "pki_session=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	     0},
	};
	char tok[SESSION_TOKEN_HEX + 1];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		strcpy(tok, "untouched");
		if (session_cookie_token(&session_gateway, cases[i].header, tok) != cases[i].found)
			test_fail(__FILE__, __LINE__, "case %zu \"%s\": expected found=%d", i,
				  cases[i].header ? cases[i].header : "(null)", cases[i].found);
		CHECK_STR(tok, cases[i].found ? tok_a : "untouched");
	}
}

TEST(session_csrf_compare)
{
	struct session s = {0};

	memcpy(s.csrf, tok_a, sizeof(s.csrf));
	CHECK_INT(session_csrf_ok(&s, tok_a), 1);
	CHECK_INT(session_csrf_ok(&s, NULL), 0);
	CHECK_INT(session_csrf_ok(&s, ""), 0);
	CHECK_INT(session_csrf_ok(&s, "0123456789abcdef"), 0);
	CHECK_INT(
	    session_csrf_ok(&s, "1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
	    0);
	CHECK_INT(session_csrf_ok(
		      &s, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeff"),
		  0);
	CHECK_INT(session_method_unsafe("POST"), 1);
	CHECK_INT(session_method_unsafe("DELETE"), 1);
	CHECK_INT(session_method_unsafe("GET"), 0);
	CHECK_INT(session_method_unsafe("HEAD"), 0);
}

/* A redis-server on a free loopback port, stopped by redis_stop. */
struct test_redis {
	pid_t pid;
	char url[64];
};

static void
redis_start(struct test_redis *tr)
{
	char port[16];
	struct redis *r;
	char err[REDIS_ERR_MAX];
	int i, p = test_free_port(), up = 0;

	CHECK(p > 0);
	snprintf(port, sizeof(port), "%d", p);
	snprintf(tr->url, sizeof(tr->url), "redis://127.0.0.1:%d/0", p);
	if ((tr->pid = fork()) == 0) {
		execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
		       "--save", "", "--appendonly", "no", "--loglevel", "warning", (char *)NULL);
		_exit(127);
	}
	CHECK(tr->pid > 0);
	r = redis_new(tr->url, err);
	CHECK(r != NULL);
	for (i = 0; i < REDIS_START_TRIES && !up; i++) {
		usleep(20 * 1000);
		up = redis_ping(r);
	}
	redis_free(r);
	if (!up) {
		kill(tr->pid, SIGKILL);
		test_fail(__FILE__, __LINE__, "redis-server on port %d did not start", p);
	}
}

static void
redis_stop(struct test_redis *tr)
{
	kill(tr->pid, SIGTERM);
	waitpid(tr->pid, NULL, 0);
}

static long long
redis_int(const char *url, const char *fmt, const char *arg)
{
	redisReply *rep = redis_cmd(redis_thread(url), fmt, arg);
	long long v = rep != NULL && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1000;

	if (rep != NULL)
		freeReplyObject(rep);
	return v;
}

TEST(session_lifecycle_in_redis)
{
	struct test_redis tr;
	struct user users[2] = {{.name = "alice", .tenant = "acme"},
				{.name = "bob", .tenant = "globex"}};
	struct config cfg = {.redis_prefix = "t:", .users = users, .nusers = 2};
	struct session s, got;
	char cookie[SESSION_COOKIE_MAX], clear[SESSION_COOKIE_MAX], header[SESSION_COOKIE_MAX + 16];
	char key[128], tok[SESSION_TOKEN_HEX + 1], other[SESSION_COOKIE_MAX + 16];
	const struct session_realm admin = {"pki_admin", "admin"};
	long long ttl;

	secret_api_key_hash("pki_alice", users[0].api_key_hash);
	secret_api_key_hash("pki_bob", users[1].api_key_hash);
	redis_start(&tr);
	cfg.redis_url = tr.url;

	CHECK_INT(session_create(&cfg, &session_gateway, &users[0], 0, &s, cookie), 0);
	CHECK(s.user == &users[0]);
	CHECK(strstr(cookie, "; HttpOnly") != NULL);
	CHECK(strstr(cookie, "; SameSite=Strict") != NULL);
	CHECK(strstr(cookie, "; Path=/") != NULL);
	CHECK(strstr(cookie, "Secure") == NULL);
	CHECK(session_cookie_token(&session_gateway, cookie, tok) == 1);
	CHECK(strcmp(tok, s.csrf) != 0);

	/* Stored under the token's hash, never the token; with its TTL. */
	snprintf(key, sizeof(key), "t:session:%s", tok);
	CHECK_INT(redis_int(tr.url, "EXISTS %s", key), 0);
	snprintf(key, sizeof(key), "t:session:%s", s.id);
	ttl = redis_int(tr.url, "TTL %s", key);
	CHECK(ttl > SESSION_TTL_S - 10 && ttl <= SESSION_TTL_S);

	snprintf(header, sizeof(header), "theme=dark; pki_session=%s", tok);
	CHECK_INT(session_lookup(&cfg, &session_gateway, header, &got), 1);
	CHECK(got.user == &users[0]);
	CHECK_STR(got.csrf, s.csrf);
	CHECK_STR(got.id, s.id);

	/* Unknown token, no cookie. */
	snprintf(other, sizeof(other), "pki_session=%s", tok_a);
	CHECK_INT(session_lookup(&cfg, &session_gateway, other, &got), 0);
	CHECK_INT(session_lookup(&cfg, &session_gateway, NULL, &got), 0);

	/* A second session is independent, with its own CSRF token. */
	CHECK_INT(session_create(&cfg, &session_gateway, &users[1], 1, &got, clear), 0);
	CHECK(strstr(clear, "; Secure") != NULL);
	CHECK(strcmp(got.csrf, s.csrf) != 0);

	/* Another realm (the admin dashboard's) neither sees this cookie nor this session. */
	CHECK_INT(session_lookup(&cfg, &admin, header, &got), 0);
	snprintf(other, sizeof(other), "pki_admin=%s", tok);
	CHECK_INT(session_lookup(&cfg, &admin, other, &got), 0);
	CHECK_INT(session_create(&cfg, &admin, &users[0], 0, &got, other), 0);
	CHECK(strncmp(other, "pki_admin=", 10) == 0);
	CHECK_INT(session_lookup(&cfg, &admin, other, &got), 1);
	CHECK_INT(session_lookup(&cfg, &session_gateway, other, &got), 0);

	/* Rotating the API key ends the session; restoring it brings it back. */
	users[0].api_key_hash[0] ^= 1;
	CHECK_INT(session_lookup(&cfg, &session_gateway, header, &got), 0);
	users[0].api_key_hash[0] ^= 1;
	CHECK_INT(session_lookup(&cfg, &session_gateway, header, &got), 1);

	/* A user removed from the config loses the session. */
	cfg.nusers = 0;
	CHECK_INT(session_lookup(&cfg, &session_gateway, header, &got), 0);
	cfg.nusers = 2;

	CHECK_INT(session_destroy(&cfg, &session_gateway, header, 0, clear), 0);
	CHECK(strncmp(clear, "pki_session=;", 13) == 0);
	CHECK(strstr(clear, "Max-Age=0") != NULL);
	CHECK_INT(session_lookup(&cfg, &session_gateway, header, &got), 0);
	CHECK_INT(redis_int(tr.url, "EXISTS %s", key), 0);

	redis_stop(&tr);
	/* Redis gone: an error, not "no session". */
	CHECK_INT(session_lookup(&cfg, &session_gateway, header, &got), SESSION_EDOWN);
	CHECK_INT(session_create(&cfg, &session_gateway, &users[0], 0, &s, cookie), SESSION_EDOWN);
}

TEST(web_render_escapes_and_refuses_unknown)
{
	static const unsigned char tpl[] = "<p title=\"{{a}}\">{{b}}</p>{{a}}";
	static const unsigned char bad[] = "x{{missing}}y";
	const struct web_asset t = {"t.html", tpl, sizeof(tpl) - 1, "text/html"};
	const struct web_asset u = {"u.html", bad, sizeof(bad) - 1, "text/html"};
	const char *vars[] = {"a", "\"><script>'&", "b", "plain", NULL};
	size_t len = 0;
	char *out = web_render(&t, vars, &len);

	CHECK(out != NULL);
	CHECK_STR(out, "<p title=\"&quot;&gt;&lt;script&gt;&#39;&amp;\">plain</p>"
		       "&quot;&gt;&lt;script&gt;&#39;&amp;");
	CHECK_INT(len, strlen(out));
	free(out);
	CHECK(web_render(&u, vars, &len) == NULL);
}

TEST(web_assets_embedded)
{
	const char *names[] = {"upload.html", "upload.js", "pki.js", "pki.css"};
	const struct web_asset *a;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		a = web_asset_find(names[i]);
		if (a == NULL)
			test_fail(__FILE__, __LINE__, "asset %s not embedded", names[i]);
		CHECK(a->len > 0);
		CHECK_INT(a->data[a->len], 0);
	}
	CHECK_STR(web_asset_find("upload.html")->content_type, "text/html; charset=utf-8");
	CHECK_STR(web_asset_find("pki.css")->content_type, "text/css; charset=utf-8");
	CHECK(web_asset_find("../upload.html") == NULL);
	CHECK(web_asset_find("") == NULL);
}
