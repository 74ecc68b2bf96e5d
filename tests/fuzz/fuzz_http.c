/*
 * libFuzzer target over the gateway's request body parsing: the input's
 * first line is the Content-Type, the rest the body of a POST sent over one
 * kept-alive loopback connection to the project's own HTTP server
 * (http_start, as the gateway runs it, with its body cap), whose handler
 * reads the fields as POST /csr/process does (http_body_fields: JSON, or a
 * urlencoded or multipart form through libmicrohttpd's post processor).
 * Every request must be answered 200 (parsed), 400 or 415 (refused with a
 * reason); a form's fields are strings.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../gateway/gateway.h"
#include "http.h"
#include "msg.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CT_MAX 256
#define FUZZ_HEAD_MAX 1024
#define FUZZ_ANSWER_MAX (256 * 1024)

static struct http_server *server;
static int sock = -1;
static unsigned port;

static void
fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_http: %s\n", what);
	abort();
}

static void
fuzz_handler(void *app, struct http_req *req)
{
	char err[HTTP_ERR_MAX] = "", ct[64];
	cJSON *f = NULL, *it;
	char *text;
	int rc;

	(void)app;
	rc = http_body_fields(req, msg_parse, &f, err);
	if (rc != 0) {
		if (err[0] == '\0')
			fuzz_fail("refused without a reason");
		http_reply_error(req, rc == HTTP_EMEDIA ? 415 : 400, "refused", NULL, NULL, NULL,
				 "%s", err);
		return;
	}
	http_content_type(req, ct, sizeof(ct));
	if (strcmp(ct, "application/json") != 0) {
		if (!cJSON_IsObject(f))
			fuzz_fail("a form's fields are not an object");
		cJSON_ArrayForEach(it, f)
		{
			if (!cJSON_IsString(it))
				fuzz_fail("a form field is not a string");
		}
	}
	if ((text = cJSON_PrintUnformatted(f)) == NULL)
		fuzz_fail("fields cannot be printed");
	http_reply(req, 200, "application/json", text, strlen(text), NULL);
	free(text);
	cJSON_Delete(f);
}

static void
fuzz_connect(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int one = 1;

	if (sock >= 0)
		close(sock);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((sock = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(sock, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
		fuzz_fail("cannot connect to the server");
}

static void
fuzz_cleanup(void)
{
	if (sock >= 0)
		close(sock);
	http_stop(server);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* The config's defaults (docs/config.md, limits). */
	static const struct limits lim = {.connections_per_ip = 64, .connection_timeout_s = 15};
	char err[HTTP_ERR_MAX];

	(void)argc;
	(void)argv;
	if ((server = http_start("127.0.0.1:0", GATEWAY_BODY_MAX, &lim, fuzz_handler, NULL, err)) ==
	    NULL)
		fuzz_fail(err);
	port = http_port(server);
	atexit(fuzz_cleanup);
	fuzz_connect();
	return 0;
}

static int
fuzz_send(const void *p, size_t n)
{
	ssize_t w;

	for (; n > 0; p = (const char *)p + w, n -= (size_t)w)
		if ((w = send(sock, p, n, MSG_NOSIGNAL)) <= 0)
			return -1;
	return 0;
}

/* Reads one answer; its status, or -1 when the connection closed first. */
static int
fuzz_answer(void)
{
	static char buf[FUZZ_ANSWER_MAX];
	size_t have = 0, need = 0;
	const char *cl, *eoh;
	unsigned status;
	ssize_t r;

	for (;;) {
		eoh = memmem(buf, have, "\r\n\r\n", 4);
		if (eoh != NULL && need == 0) {
			buf[have < sizeof(buf) ? have : sizeof(buf) - 1] = '\0';
			if ((cl = strcasestr(buf, "\r\nContent-Length:")) == NULL || cl > eoh)
				fuzz_fail("an answer without Content-Length");
			need = (size_t)(eoh + 4 - buf) + strtoul(cl + 17, NULL, 10);
			if (need >= sizeof(buf))
				fuzz_fail("an answer too large");
		}
		if (need != 0 && have >= need)
			break;
		if ((r = recv(sock, buf + have, sizeof(buf) - 1 - have, 0)) <= 0)
			return -1;
		have += (size_t)r;
	}
	if (sscanf(buf, "HTTP/1.1 %u", &status) != 1)
		fuzz_fail("an answer without a status line");
	return (int)status;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char ct[FUZZ_CT_MAX], head[FUZZ_HEAD_MAX + FUZZ_CT_MAX];
	const uint8_t *nl = memchr(data, '\n', size);
	size_t ctlen = nl != NULL ? (size_t)(nl - data) : size, i, hlen;
	const uint8_t *body = nl != NULL ? nl + 1 : data + size;
	size_t blen = (size_t)(data + size - body);
	int status;

	/* A header value holds no CR, LF or NUL: the line stops at the first one. */
	for (i = 0; i < ctlen && i + 1 < sizeof(ct) && data[i] != '\r' && data[i] != '\0'; i++)
		ct[i] = (char)data[i];
	ct[i] = '\0';
	if (blen > GATEWAY_BODY_MAX)
		blen = GATEWAY_BODY_MAX;
	hlen = (size_t)snprintf(head, sizeof(head),
				"POST /csr/process HTTP/1.1\r\nHost: fuzz\r\n%s%s%sContent-Length: "
				"%zu\r\n\r\n",
				ct[0] ? "Content-Type: " : "", ct, ct[0] ? "\r\n" : "", blen);
	if (fuzz_send(head, hlen) != 0 || fuzz_send(body, blen) != 0 ||
	    (status = fuzz_answer()) < 0) {
		/* The server may end a connection it finds malformed; never twice in a row. */
		fuzz_connect();
		if (fuzz_send(head, hlen) != 0 || fuzz_send(body, blen) != 0 ||
		    (status = fuzz_answer()) < 0)
			fuzz_fail("no answer on a fresh connection");
	}
	if (status != 200 && status != 400 && status != 415) {
		fprintf(stderr, "fuzz_http: answered %d\n", status);
		abort();
	}
	return 0;
}
