/*
 * The HTTP server's parked requests (lib/io/http.c): answered once resumed
 * from another thread, without holding a thread meanwhile, and waited for by
 * http_stop.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "test.h"

#define PARKED_N (HTTP_THREADS_MAX + 16) /* more than the pool has threads */

static struct http_park *parks[PARKED_N];
static atomic_int nparks, nconts;

static void
cont(void *app, struct http_req *req, void *arg)
{
	nconts++;
	if (arg != NULL) { /* parks once more, resumed at once */
		http_resume(http_park(req, cont, NULL));
		return;
	}
	http_reply(req, 200, "text/plain", "resumed", 7, NULL);
}

/* /park: parked until resumed by the test; /twice: parked, resumed at once, parked again. */
static void
handler(void *app, struct http_req *req)
{
	if (strcmp(req->path, "/park") == 0) {
		parks[nparks++] = http_park(req, cont, NULL);
	} else if (strcmp(req->path, "/twice") == 0) {
		http_resume(http_park(req, cont, "again"));
	} else {
		http_reply(req, 200, "text/plain", "now", 3, NULL);
	}
}

static int
connect_to(unsigned port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(fd >= 0);
	CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	return fd;
}

static void
send_get(int fd, const char *path)
{
	char buf[256];
	int n = snprintf(buf, sizeof(buf), "GET %s HTTP/1.0\r\nHost: t\r\n\r\n", path);

	CHECK(write(fd, buf, (size_t)n) == n);
}

/* Reads the whole answer (HTTP/1.0: until close); 1 when it is a 200 ending in body. */
static int
answered(int fd, const char *body)
{
	char buf[2048];
	size_t len = 0;
	ssize_t n;

	while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(fd);
	return strncmp(buf, "HTTP/1.", 7) == 0 && strncmp(buf + 8, " 200", 4) == 0 &&
	       len >= strlen(body) && strcmp(buf + len - strlen(body), body) == 0;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static struct http_server *
server_start(void)
{
	struct limits lim = {.connections_per_ip = 256, .connection_timeout_s = 10};
	char err[HTTP_ERR_MAX];
	struct http_server *s;

	nparks = nconts = 0;
	s = http_start("127.0.0.1:0", 4096, &lim, handler, NULL, err);
	if (s == NULL)
		test_fail(__FILE__, __LINE__, "http_start: %s", err);
	return s;
}

static void *
resume_all(void *arg)
{
	int i;

	sleep_ms(200);
	for (i = 0; i < nparks; i++)
		http_resume(parks[i]);
	return NULL;
}

TEST(http_parked_answered_once_resumed)
{
	struct http_server *s = server_start();
	int fds[PARKED_N], i, fd;
	pthread_t t;

	for (i = 0; i < PARKED_N; i++) {
		fds[i] = connect_to(http_port(s));
		send_get(fds[i], "/park");
	}
	for (i = 0; i < 500 && nparks < PARKED_N; i++)
		sleep_ms(10);
	CHECK_INT(nparks, PARKED_N);
	/* Every request is parked, yet the server answers another at once. */
	fd = connect_to(http_port(s));
	send_get(fd, "/now");
	CHECK(answered(fd, "now"));
	CHECK_INT(nconts, 0);
	CHECK(pthread_create(&t, NULL, resume_all, NULL) == 0);
	for (i = 0; i < PARKED_N; i++)
		CHECK(answered(fds[i], "resumed"));
	pthread_join(t, NULL);
	CHECK_INT(nconts, PARKED_N);
	http_stop(s);
}

TEST(http_resumed_before_its_handler_returns)
{
	struct http_server *s = server_start();
	int fd = connect_to(http_port(s));

	send_get(fd, "/twice");
	CHECK(answered(fd, "resumed"));
	CHECK_INT(nconts, 2);
	http_stop(s);
}

TEST(http_stop_waits_for_parked)
{
	struct http_server *s = server_start();
	int fd = connect_to(http_port(s)), i;
	pthread_t t;

	send_get(fd, "/park");
	for (i = 0; i < 500 && nparks < 1; i++)
		sleep_ms(10);
	CHECK_INT(nparks, 1);
	CHECK(pthread_create(&t, NULL, resume_all, NULL) == 0);
	http_stop(s); /* returns once the parked request was resumed and answered */
	CHECK_INT(nconts, 1);
	CHECK(answered(fd, "resumed"));
	pthread_join(t, NULL);
}
