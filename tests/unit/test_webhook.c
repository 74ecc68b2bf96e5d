/* webhook: signature vector, backoff, URL refusals, POSTs to local listeners (plain and TLS). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"
#include "../../approver/webhook.h"

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
	    {"http://", "bad/illegal format"},
	    {"http://h:12x/", "bad/illegal format"},
	    {"http://[::1/", "bad/illegal format"},
	};
	char err[WEBHOOK_ERR_MAX];
	size_t i;
	int status = 0;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		CHECK_INT(webhook_post(cases[i].url, NULL, "{}", 2, 1000, NULL, &status, err), -1);
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

/* Binds l to a free loopback port and runs run(arg) on a thread to serve it. */
static int
listener_serve(struct listener *l, pthread_t *thr, void *(*run)(void *), void *arg)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((l->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    bind(l->fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l->fd, 1) != 0 ||
	    getsockname(l->fd, (struct sockaddr *)&a, &len) != 0)
		return -1;
	l->port = ntohs(a.sin_port);
	return pthread_create(thr, NULL, run, arg);
}

static int
listener_start(struct listener *l, pthread_t *thr)
{
	return listener_serve(l, thr, listener_run, l);
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
	CHECK_INT(webhook_post(url, hdr, body, strlen(body), 2000, NULL, &status, err), 0);
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

/* A guard that allows only public addresses refuses the loopback listener before connecting. */
TEST(webhook_post_guard_refuses_private_addresses)
{
	char *allow[] = {"*", NULL};
	struct notify_cfg n = {.hook_allow = allow};
	struct listener l = {.answer = "HTTP/1.1 204 No Content\r\n\r\n"};
	char url[64], err[WEBHOOK_ERR_MAX] = "";
	pthread_t thr;
	int status = 0;

	CHECK_INT(listener_start(&l, &thr), 0);
	snprintf(url, sizeof(url), "http://localhost:%d/", l.port);
	CHECK_INT(webhook_post(url, NULL, "{}", 2, 2000, &n, &status, err), WEBHOOK_EREFUSED);
	CHECK(strstr(err, "is loopback, link-local, private or reserved") != NULL);
	CHECK_INT(status, 0);
	/* Allowed by the operator: the same listener gets the POST. */
	n.allow_private = 1;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", l.port);
	CHECK_INT(webhook_post(url, NULL, "{}", 2, 2000, &n, &status, err), 0);
	pthread_join(thr, NULL);
	close(l.fd);
	CHECK_INT(status, 204);
	CHECK(strncmp(l.got, "POST / HTTP/1.1\r\n", 17) == 0);
}

TEST(webhook_post_reports_transport_errors)
{
	struct listener l = {.answer = "garbage\r\n"};
	char url[64], err[WEBHOOK_ERR_MAX] = "";
	pthread_t thr;
	int status = 0, port;

	CHECK_INT(listener_start(&l, &thr), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", l.port);
	CHECK_INT(webhook_post(url, NULL, "{}", 2, 2000, NULL, &status, err), -1);
	pthread_join(thr, NULL);
	close(l.fd);
	CHECK(strstr(err, "Received HTTP/0.9") != NULL); /* not an HTTP answer */
	/* The port is closed now: connection refused. */
	port = l.port;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	CHECK_INT(webhook_post(url, NULL, "{}", 2, 2000, NULL, &status, err), -1);
	CHECK(strstr(err, "Failed to connect to 127.0.0.1") != NULL);
}

/*
 * HTTPS: a CA the client trusts (through SSL_CERT_FILE, which the system
 * trust store honours), one it does not, and server certificates for a host
 * name, an address and the wrong names, all made with the openssl command.
 */
static const char tls_fixture_sh[] =
    "set -e; cd \"$1\"\n"
    "ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $1.key"
    " -out $1.pem -days 2 -subj /CN=$1 -addext basicConstraints=critical,CA:TRUE"
    " -addext keyUsage=critical,keyCertSign 2>/dev/null; }\n"
    "leaf() { openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $1.key"
    " -out $1.csr -subj /CN=hook 2>/dev/null\n"
    "  printf 'subjectAltName=%s\\nextendedKeyUsage=serverAuth\\n' \"$3\" >$1.ext\n"
    "  openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2.key -days 2 -out $1.pem"
    " -extfile $1.ext 2>/dev/null; }\n"
    "ca ca; ca other\n"
    "leaf dns ca DNS:localhost; leaf ip ca IP:127.0.0.1\n"
    "leaf wrong ca DNS:other.example,IP:127.0.0.2; leaf stranger other DNS:localhost\n";

struct tls_listener {
	struct listener l;
	SSL_CTX *ctx;
	char sni[64]; /* the server name the client sent, "" for none */
};

static void *
tls_listener_run(void *arg)
{
	struct tls_listener *t = arg;
	size_t have = 0;
	int c = accept(t->l.fd, NULL, NULL), n;
	SSL *ssl;

	if (c < 0)
		return NULL;
	if ((ssl = SSL_new(t->ctx)) != NULL && SSL_set_fd(ssl, c) == 1 && SSL_accept(ssl) == 1) {
		const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

		snprintf(t->sni, sizeof(t->sni), "%s", sni != NULL ? sni : "");
		while (have < sizeof(t->l.got) - 1 &&
		       (n = SSL_read(ssl, t->l.got + have, (int)(sizeof(t->l.got) - 1 - have))) >
			   0) {
			have += (size_t)n;
			t->l.got[have] = '\0';
			if (strstr(t->l.got, "\r\n\r\n{}") != NULL)
				break;
		}
		SSL_write(ssl, t->l.answer, (int)strlen(t->l.answer));
		SSL_shutdown(ssl);
	}
	SSL_free(ssl);
	close(c);
	return NULL;
}

/*
 * POSTs "{}" to https://host:port/hook served with name.pem from dir; t and
 * *status (reset here) keep what the server saw and answered. 0 or -1 as
 * webhook_post.
 */
static int
tls_post(const char *dir, const char *name, const char *host, struct tls_listener *t, int *status,
	 char *err)
{
	char cert[256], key[256], url[128];
	pthread_t thr;
	int rc;

	memset(t, 0, sizeof(*t));
	*status = 0;
	snprintf(cert, sizeof(cert), "%s/%s.pem", dir, name);
	snprintf(key, sizeof(key), "%s/%s.key", dir, name);
	t->l.answer = "HTTP/1.1 204 No Content\r\n\r\n";
	if ((t->ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    SSL_CTX_use_certificate_file(t->ctx, cert, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    listener_serve(&t->l, &thr, tls_listener_run, t) != 0)
		test_fail(__FILE__, __LINE__, "cannot start a TLS listener with %s", cert);
	snprintf(url, sizeof(url), "https://%s:%d/hook", host, t->l.port);
	rc = webhook_post(url, NULL, "{}", 2, 2000, NULL, status, err);
	pthread_join(thr, NULL);
	close(t->l.fd);
	SSL_CTX_free(t->ctx);
	return rc;
}

static char tls_dir[] = "/tmp/pki-webhook-tls-XXXXXX";

/* atexit: the fixture goes whether the test passed or failed. */
static void
tls_fixture_remove(void)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tls_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tls_dir);
}

/* The fixture's folder, made on first use; SSL_CERT_FILE then names its trusted CA. */
static const char *
tls_fixture(void)
{
	static int made;
	char cmd[256], ca[128];
	FILE *f;

	if (made)
		return tls_dir;
	signal(SIGPIPE, SIG_IGN); /* a listener writing to a client that hung up */
	if (mkdtemp(tls_dir) == NULL)
		return NULL;
	atexit(tls_fixture_remove);
	snprintf(cmd, sizeof(cmd), "%s/fixture.sh", tls_dir);
	if ((f = fopen(cmd, "w")) == NULL)
		return NULL;
	fputs(tls_fixture_sh, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "sh %s/fixture.sh %s", tls_dir, tls_dir);
	if (system(cmd) != 0)
		return NULL;
	snprintf(ca, sizeof(ca), "%s/ca.pem", tls_dir);
	setenv("SSL_CERT_FILE", ca, 1);
	made = 1;
	return tls_dir;
}

TEST(webhook_post_https_verifies_the_server)
{
	const char *dir = tls_fixture();
	char err[WEBHOOK_ERR_MAX];
	struct tls_listener t;
	int status;

	CHECK(dir != NULL);

	/* A trusted certificate naming the host, or the address, is a delivery. */
	CHECK_INT(tls_post(dir, "dns", "localhost", &t, &status, err), 0);
	CHECK_INT(status, 204);
	CHECK(strncmp(t.l.got, "POST /hook HTTP/1.1\r\n", 21) == 0);
	CHECK_STR(t.sni, "localhost");
	CHECK_INT(tls_post(dir, "ip", "127.0.0.1", &t, &status, err), 0);
	CHECK_INT(status, 204);
	CHECK_STR(t.sni, ""); /* no SNI for an address */

	/* Wrong name, wrong address, unknown issuer: refused, nothing sent. */
	CHECK_INT(tls_post(dir, "wrong", "localhost", &t, &status, err), -1);
	CHECK(strstr(err, "no alternative certificate subject name matches target host name "
			  "'localhost'") != NULL);
	CHECK(t.l.got[0] == '\0');
	CHECK_INT(tls_post(dir, "wrong", "127.0.0.1", &t, &status, err), -1);
	CHECK(strstr(err, "no alternative certificate subject name matches target host name "
			  "'127.0.0.1'") != NULL);
	CHECK(t.l.got[0] == '\0');
	CHECK_INT(tls_post(dir, "stranger", "localhost", &t, &status, err), -1);
	CHECK(strstr(err, "unable to get local issuer certificate") != NULL);
	CHECK(t.l.got[0] == '\0');
}

/*
 * E-mail through a real SMTP server (scripts/smtp-sink.py, Debian's
 * python3-aiosmtpd) started for each case on a free loopback port: plain,
 * STARTTLS with AUTH, TLS from the first byte; refusals of a server without
 * STARTTLS, a wrong password and an unknown issuer.
 */
struct sink {
	pid_t pid;
	int port;
	char dir[160];
};

static pid_t sink_running; /* stopped at exit when a failed check left it */

static void
sink_reap(void)
{
	if (sink_running > 0)
		kill(sink_running, SIGTERM);
}

/* Starts the sink with extra arguments (NULL-ended) and waits for its port. 0 or -1. */
static int
sink_start(struct sink *k, const char *const *extra)
{
	char port[16];
	const char *argv[16] = {
	    "/usr/bin/python3", "scripts/smtp-sink.py", "--port", port, "--dir", k->dir};
	size_t n = 6;
	int i, fd;
	struct sockaddr_in a = {.sin_family = AF_INET};

	k->port = test_free_port();
	snprintf(port, sizeof(port), "%d", k->port);
	snprintf(k->dir, sizeof(k->dir), "%s/mail-%d", tls_dir, k->port);
	for (; extra != NULL && *extra != NULL && n < 15; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	if ((k->pid = fork()) == 0) {
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (sink_running == 0)
		atexit(sink_reap);
	sink_running = k->pid;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((unsigned short)k->port);
	for (i = 0; i < 100; i++) { /* up to 10 s */
		if ((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0 &&
		    connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
			close(fd);
			return 0;
		}
		if (fd >= 0)
			close(fd);
		usleep(100 * 1000);
	}
	return -1;
}

static void
sink_stop(struct sink *k)
{
	kill(k->pid, SIGTERM);
	waitpid(k->pid, NULL, 0);
	sink_running = -1;
}

/* The sink's mail.jsonl (up to 8 KiB), "" when none arrived. */
static const char *
sink_read(const struct sink *k)
{
	static char buf[8192];
	char path[200];
	FILE *f;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/mail.jsonl", k->dir);
	if ((f = fopen(path, "r")) != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

static const char mail_msg[] = "From: pki@acme.test\r\nTo: alice@acme.test\r\n"
			       "Subject: Certificate request r1: issued\r\n\r\n"
			       "Your certificate request r1 is now issued.\r\n.dot line\r\n";

TEST(webhook_mail_plain_starttls_tls_and_auth)
{
	const char *dir = tls_fixture();
	char url[64], cert[200], key[200], other[200], err[WEBHOOK_ERR_MAX] = "";
	const char *starttls[] = {"--cert", cert, "--key", key, "--auth", "pki:s3cret-pass", NULL};
	const char *tls[] = {"--cert", cert, "--key", key, "--tls", NULL};
	struct notify_cfg n = {.smtp_url = url, .smtp_from = "pki@acme.test"};
	struct sink k;

	CHECK(dir != NULL);
	snprintf(cert, sizeof(cert), "%s/dns.pem", dir);
	snprintf(key, sizeof(key), "%s/dns.key", dir);
	snprintf(other, sizeof(other), "%s/other.pem", dir);

	/* Plain SMTP to a local relay. */
	CHECK_INT(sink_start(&k, NULL), 0);
	snprintf(url, sizeof(url), "smtp://localhost:%d", k.port);
	n.smtp_tls = SMTP_TLS_NONE;
	CHECK_INT(webhook_mail(&n, NULL, "alice@acme.test", mail_msg, 5000, err), 0);
	CHECK(strstr(sink_read(&k), "\"rcpt_tos\": [\"alice@acme.test\"]") != NULL);
	CHECK(strstr(sink_read(&k), "\"subject\": \"Certificate request r1: issued\"") != NULL);
	CHECK(strstr(sink_read(&k), "\\r\\n.dot line") != NULL); /* dot-stuffed and back */
	/* STARTTLS required by the client: this server offers none. */
	n.smtp_tls = SMTP_TLS_STARTTLS;
	CHECK_INT(webhook_mail(&n, NULL, "alice@acme.test", mail_msg, 5000, err), -1);
	CHECK(strstr(err, "STARTTLS") != NULL);
	sink_stop(&k);

	/* STARTTLS and AUTH: the right password delivers, a wrong one does not. */
	CHECK_INT(sink_start(&k, starttls), 0);
	snprintf(url, sizeof(url), "smtp://localhost:%d", k.port);
	n.smtp_user = "pki";
	CHECK_INT(webhook_mail(&n, "wrong-password", "alice@acme.test", mail_msg, 5000, err), -1);
	CHECK(strstr(err, "Login denied") != NULL);
	CHECK_STR(sink_read(&k), "");
	CHECK_INT(webhook_mail(&n, "s3cret-pass", "alice@acme.test", mail_msg, 5000, err), 0);
	CHECK(strstr(sink_read(&k), "\"auth\": true") != NULL);
	/* An issuer the client does not trust: refused before any command. */
	setenv("SSL_CERT_FILE", other, 1);
	CHECK_INT(webhook_mail(&n, "s3cret-pass", "bob@acme.test", mail_msg, 5000, err), -1);
	CHECK(strstr(err, "unable to get local issuer certificate") != NULL);
	snprintf(other, sizeof(other), "%s/ca.pem", dir);
	setenv("SSL_CERT_FILE", other, 1);
	sink_stop(&k);

	/* TLS from the first byte. */
	CHECK_INT(sink_start(&k, tls), 0);
	snprintf(url, sizeof(url), "smtp://localhost:%d", k.port);
	n.smtp_tls = SMTP_TLS_TLS;
	n.smtp_user = NULL;
	CHECK_INT(webhook_mail(&n, NULL, "alice@acme.test", mail_msg, 5000, err), 0);
	CHECK(strstr(sink_read(&k), "alice@acme.test") != NULL);
	sink_stop(&k);
}
