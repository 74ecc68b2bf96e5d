/* webhook: signature vector, backoff, URL refusals, and one POST to a local listener. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"
#include "webhook.h"

TEST(webhook_sign_vector)
{
	/* python3: hmac.new(b"whsec-test", b"1700000000." + body, sha256).hexdigest() */
	const char *body = "{\"event\":\"pending\"}";
	char sig[WEBHOOK_SIG_MAX];

	CHECK_INT(webhook_sign("whsec-test", 1700000000LL, body, strlen(body), sig), 0);
	CHECK_STR(sig, "sha256=5c1a1970cc3bacfc3474280e6a2b98aae8dfcff0f04d9e2d6c4ae58c37145dc7");
	CHECK_INT(webhook_sign("whsec-test", 1700000001LL, body, strlen(body), sig), 0);
	CHECK(strcmp(sig,
		     "sha256=5c1a1970cc3bacfc3474280e6a2b98aae8dfcff0f04d9e2d6c4ae58c37145dc7") !=
	      0);
}

TEST(webhook_backoff_doubles_to_cap)
{
	CHECK_INT(webhook_backoff_ms(1), WEBHOOK_BACKOFF_BASE_MS);
	CHECK_INT(webhook_backoff_ms(2), 2 * WEBHOOK_BACKOFF_BASE_MS);
	CHECK_INT(webhook_backoff_ms(3), 4 * WEBHOOK_BACKOFF_BASE_MS);
	CHECK_INT(webhook_backoff_ms(40), WEBHOOK_BACKOFF_MAX_MS);
}

TEST(webhook_post_refuses_bad_urls)
{
	static const struct {
		const char *url, *err;
	} cases[] = {
	    {"ftp://h/x", "must start with http:// or https://"},
	    {"http://", "host must be"},
	    {"http://h:12x/", "port must be a number"},
	    {"http://[::1/", "unclosed '['"},
	};
	char err[WEBHOOK_ERR_MAX];
	size_t i;
	int status = 0;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		CHECK_INT(webhook_post(cases[i].url, NULL, "{}", 2, 1000, &status, err), -1);
		if (strstr(err, cases[i].err) == NULL)
			test_fail(__FILE__, __LINE__, "%s: message \"%s\" lacks \"%s\"",
				  cases[i].url, err, cases[i].err);
	}
}

/* A one-shot HTTP listener: keeps what it read, answers with a fixed status line. */
struct listener {
	int fd;
	int port;
	char got[8192];
	const char *answer;
};

static void *
listener_run(void *arg)
{
	struct listener *l = arg;
	size_t have = 0;
	ssize_t n;
	int c = accept(l->fd, NULL, NULL);
	char *hdr_end, *cl;

	if (c < 0)
		return NULL;
	while (have < sizeof(l->got) - 1 &&
	       (n = read(c, l->got + have, sizeof(l->got) - 1 - have)) > 0) {
		have += (size_t)n;
		l->got[have] = '\0';
		if ((hdr_end = strstr(l->got, "\r\n\r\n")) != NULL &&
		    (cl = strstr(l->got, "Content-Length: ")) != NULL &&
		    have >= (size_t)(hdr_end + 4 - l->got) + (size_t)atoi(cl + 16))
			break;
	}
	if (write(c, l->answer, strlen(l->answer)) < 0)
		l->got[0] = '\0';
	close(c);
	return NULL;
}

static int
listener_start(struct listener *l, pthread_t *thr)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((l->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    bind(l->fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l->fd, 1) != 0 ||
	    getsockname(l->fd, (struct sockaddr *)&a, &len) != 0)
		return -1;
	l->port = ntohs(a.sin_port);
	return pthread_create(thr, NULL, listener_run, l);
}

TEST(webhook_post_sends_signed_request)
{
	struct listener l = {.answer =
				 "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"};
	const char *hdr[] = {WEBHOOK_SIG_HEADER, "sha256=abc", WEBHOOK_TS_HEADER, "1700000000",
			     NULL};
	const char *body = "{\"event\":\"approved\"}";
	char url[64], err[WEBHOOK_ERR_MAX] = "";
	pthread_t thr;
	int status = 0;

	CHECK_INT(listener_start(&l, &thr), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hooks/pki?x=1", l.port);
	CHECK_INT(webhook_post(url, hdr, body, strlen(body), 2000, &status, err), 0);
	pthread_join(thr, NULL);
	close(l.fd);
	CHECK_INT(status, 503);
	CHECK(strncmp(l.got, "POST /hooks/pki?x=1 HTTP/1.1\r\n", 30) == 0);
	CHECK(strstr(l.got, "Content-Type: application/json\r\n") != NULL);
	CHECK(strstr(l.got, "X-PKI-Signature: sha256=abc\r\n") != NULL);
	CHECK(strstr(l.got, "X-PKI-Timestamp: 1700000000\r\n") != NULL);
	CHECK(strstr(l.got, "Content-Length: 20\r\n") != NULL);
	CHECK(strstr(l.got, "\r\n\r\n{\"event\":\"approved\"}") != NULL);
}

TEST(webhook_post_reports_transport_errors)
{
	struct listener l = {.answer = "garbage\r\n"};
	char url[64], err[WEBHOOK_ERR_MAX] = "";
	pthread_t thr;
	int status = 0, port;

	CHECK_INT(listener_start(&l, &thr), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", l.port);
	CHECK_INT(webhook_post(url, NULL, "{}", 2, 2000, &status, err), -1);
	pthread_join(thr, NULL);
	close(l.fd);
	CHECK(strstr(err, "not HTTP") != NULL);
	/* The port is closed now: connection refused. */
	port = l.port;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	CHECK_INT(webhook_post(url, NULL, "{}", 2, 2000, &status, err), -1);
	CHECK(strstr(err, "connect 127.0.0.1") != NULL);
}
