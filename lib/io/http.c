#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "clock.h"
#include "issue.h"
#include "log.h"

#define HTTP_BODY_CHUNK 4096
#define HTTP_POST_BUFFER 4096
#define HTTP_MSG_MAX 1024

struct http_server {
	struct MHD_Daemon *d;
	size_t body_max;
	long long body_deadline_ms; /* time allowed to send a request body */
	http_handler_fn fn;
	void *app;
	atomic_int nparked; /* requests parked at least once and not yet completed */
};

/* Per-request state kept by MHD between calls of the access handler. */
struct http_conn_state {
	char *body;
	size_t len, cap;
	int too_large;
	long long started_ms; /* when the headers were in */
	struct MHD_Connection *conn;
	struct http_server *s;
	http_cont_fn cont; /* set while parked */
	void *cont_arg;
	int counted; /* in s->nparked */
};

static void
http_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[HTTP_MSG_MAX];
	size_t n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	log_warn("http: %s", buf);
}

static void
http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
	       enum MHD_RequestTerminationCode toe)
{
	struct http_conn_state *st = *con_cls;

	if (st == NULL)
		return;
	if (st->cont != NULL) /* MHD ends no suspended connection: a leak, not a crash */
		log_error("http: a parked request's connection ended before it was continued");
	if (st->counted)
		st->s->nparked--;
	free(st->body);
	free(st);
	*con_cls = NULL;
}

/* Appends data to st unless that would pass max; then only marks it. */
static void
http_body_append(struct http_conn_state *st, const char *data, size_t n, size_t max)
{
	size_t ncap;
	char *nb;

	if (st->too_large || n == 0)
		return;
	if (st->len + n > max) {
		st->too_large = 1;
		return;
	}
	if (st->len + n + 1 > st->cap) {
		ncap = st->cap ? st->cap : HTTP_BODY_CHUNK;
		while (ncap < st->len + n + 1)
			ncap *= 2;
		if ((nb = realloc(st->body, ncap)) == NULL) {
			st->too_large = 1; /* treated as too large: refused, not crashed */
			return;
		}
		st->body = nb;
		st->cap = ncap;
	}
	memcpy(st->body + st->len, data, n);
	st->len += n;
	st->body[st->len] = '\0';
}

static void
http_client_ip(struct MHD_Connection *c, char *out, size_t outlen)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;

	snprintf(out, outlen, "unknown");
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, outlen);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a6))
			inet_ntop(AF_INET, &a6->s6_addr[12], out, outlen);
		else
			inet_ntop(AF_INET6, a6, out, outlen);
	}
}

static enum MHD_Result
http_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
	    const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct http_server *s = cls;
	struct http_conn_state *st = *con_cls;
	struct http_req req;

	if (st == NULL) {
		const char *cl =
		    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

		if ((st = calloc(1, sizeof(*st))) == NULL)
			return MHD_NO;
		*con_cls = st;
		st->started_ms = clock_ms();
		st->conn = c;
		st->s = s;
		/* Refuse a declared oversize body before reading it. */
		if (cl != NULL && strtoull(cl, NULL, 10) > s->body_max)
			st->too_large = 1;
		else
			return MHD_YES;
	}
	if (*upload_data_size != 0) {
		/*
		 * A body trickled in (the idle timeout never fires on a byte a
		 * second) would hold this thread: the connection is closed.
		 */
		if (clock_ms() - st->started_ms > s->body_deadline_ms) {
			log_warn("http: %s: request body not sent within %lld s, connection closed",
				 url, s->body_deadline_ms / 1000);
			return MHD_NO;
		}
		http_body_append(st, upload_data, *upload_data_size, s->body_max);
		*upload_data_size = 0;
		return MHD_YES;
	}
	memset(&req, 0, sizeof(req));
	req.conn = c;
	req.method = method;
	req.path = url;
	req.body = st->body;
	req.body_len = st->len;
	req.st = st;
	http_client_ip(c, req.client_ip, sizeof(req.client_ip));
	if (st->cont != NULL) {
		http_cont_fn fn = st->cont;

		st->cont = NULL;
		fn(s->app, &req, st->cont_arg);
	} else if (st->too_large) {
		http_reply_error(&req, 413, "body_too_large", NULL, NULL, NULL,
				 "request body exceeds %zu bytes", s->body_max);
	} else {
		s->fn(s->app, &req);
	}
	if (!req.replied && !req.parked)
		http_reply_error(&req, 500, "internal", NULL, NULL, NULL, "no response produced");
	return MHD_YES;
}

/* Fills ss from "host:port" / "[v6]:port". 0 or -1 with err. */
static int
http_listen_parse(const char *listen, struct sockaddr_storage *ss, socklen_t *sslen, char *err)
{
	char host[256];
	const char *colon, *h = listen;
	size_t hlen;
	struct addrinfo hints, *res = NULL;
	int rc;

	if ((colon = strrchr(listen, ':')) == NULL || colon[1] == '\0') {
		snprintf(err, HTTP_ERR_MAX, "listen: expected host:port, got \"%s\"", listen);
		return -1;
	}
	hlen = (size_t)(colon - listen);
	if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
		h++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(host)) {
		snprintf(err, HTTP_ERR_MAX, "listen: bad host in \"%s\"", listen);
		return -1;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if ((rc = getaddrinfo(host, colon + 1, &hints, &res)) != 0) {
		snprintf(err, HTTP_ERR_MAX, "listen: \"%s\": %s", listen, gai_strerror(rc));
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

struct http_server *
http_start(const char *listen, size_t body_max, const struct limits *lim, http_handler_fn fn,
	   void *app, char *err)
{
	struct http_server *s = NULL;
	struct sockaddr_storage ss;
	socklen_t sslen;
	unsigned flags =
	    MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned threads = cpus > 0 ? (unsigned)cpus * HTTP_THREADS_PER_CPU : HTTP_THREADS_PER_CPU;

	if (http_listen_parse(listen, &ss, &sslen, err) < 0)
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, HTTP_ERR_MAX, "http: out of memory");
		return NULL;
	}
	s->body_max = body_max;
	s->body_deadline_ms = (long long)lim->connection_timeout_s * 1000;
	s->fn = fn;
	s->app = app;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* The logger goes first so that every MHD message is a JSON line. */
	s->d = MHD_start_daemon(flags, 0, NULL, NULL, http_access, s, MHD_OPTION_EXTERNAL_LOGGER,
				http_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNECTIONS,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT,
				(unsigned)lim->connections_per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
				(unsigned)lim->connection_timeout_s, MHD_OPTION_THREAD_POOL_SIZE,
				threads < HTTP_THREADS_MAX ? threads : (unsigned)HTTP_THREADS_MAX,
				MHD_OPTION_NOTIFY_COMPLETED, http_completed, NULL, MHD_OPTION_END);
	if (s->d == NULL) {
		snprintf(err, HTTP_ERR_MAX, "http: cannot listen on %s (address in use?)", listen);
		free(s);
		return NULL;
	}
	return s;
}

unsigned
http_port(const struct http_server *s)
{
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);

	return i != NULL ? i->port : 0;
}

void
http_stop(struct http_server *s)
{
	struct timespec tick = {0, HTTP_STOP_TICK_MS * 1000000L};
	long long end = clock_ms() + HTTP_STOP_PARKED_MS;
	MHD_socket fd;

	if (s == NULL)
		return;
	if ((fd = MHD_quiesce_daemon(s->d)) != MHD_INVALID_SOCKET)
		close(fd);
	while (s->nparked > 0 && clock_ms() < end)
		nanosleep(&tick, NULL);
	if (s->nparked > 0) {
		/* MHD cannot stop with suspended connections: left to the exit. */
		log_error("http: %d parked request(s) not resumed within %d ms", (int)s->nparked,
			  HTTP_STOP_PARKED_MS);
		return;
	}
	MHD_stop_daemon(s->d);
	free(s);
}

struct http_park *
http_park(struct http_req *req, http_cont_fn fn, void *arg)
{
	struct http_conn_state *st = req->st;

	st->cont = fn;
	st->cont_arg = arg;
	if (!st->counted)
		st->s->nparked++;
	st->counted = 1;
	req->parked = 1;
	MHD_suspend_connection(req->conn);
	return (struct http_park *)st;
}

void
http_resume(struct http_park *p)
{
	MHD_resume_connection(((struct http_conn_state *)p)->conn);
}

const char *
http_header(struct http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/* Counts the headers named name (case-insensitive) for http_header_count. */
struct http_count {
	const char *name;
	int n;
};

static enum MHD_Result
http_count_iter(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct http_count *hc = cls;

	if (strcasecmp(key, hc->name) == 0)
		hc->n++;
	return MHD_YES;
}

int
http_header_count(struct http_req *req, const char *name)
{
	struct http_count hc = {.name = name};

	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, http_count_iter, &hc);
	return hc.n;
}

const char *
http_query(struct http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* RFC 9110 tchar. */
static int
http_tchar(int c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static const char *
http_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Past a quoted-string starting at p (at its '"'); at the NUL if unterminated. */
static const char *
http_quoted_end(const char *p)
{
	for (p++; *p != '\0' && *p != '"'; p++)
		if (*p == '\\' && p[1] != '\0')
			p++;
	return *p == '"' ? p + 1 : p;
}

/* delta-seconds (optionally quoted) in [p, end), capped at max; 0 when malformed. */
static long
http_delta_seconds(const char *p, const char *end, long max)
{
	long v = 0;

	if (end - p >= 2 && *p == '"' && end[-1] == '"') {
		p++;
		end--;
	}
	if (p == end)
		return 0;
	for (; p < end; p++) {
		if (!isdigit((unsigned char)*p))
			return 0;
		v = v > max / 10 ? max : v * 10 + (*p - '0');
	}
	return v > max ? max : v;
}

long
http_prefer_wait_parse(const char *value, long max)
{
	const char *p = value, *name, *v, *vend;
	size_t nlen;
	int ok;

	while (*p != '\0') {
		p = http_ows(p);
		for (name = p; http_tchar((unsigned char)*p); p++)
			;
		nlen = (size_t)(p - name);
		v = vend = NULL;
		p = http_ows(p);
		if (nlen > 0 && *p == '=') {
			v = p = http_ows(p + 1);
			if (*p == '"')
				p = http_quoted_end(p);
			else
				while (http_tchar((unsigned char)*p))
					p++;
			vend = p;
			p = http_ows(p);
		}
		ok = *p == '\0' || *p == ',' || *p == ';';
		if (nlen == 4 && strncasecmp(name, "wait", 4) == 0)
			return ok && v != NULL ? http_delta_seconds(v, vend, max) : 0;
		/* Parameters and anything malformed: skip to the next preference. */
		while (*p != '\0' && *p != ',')
			p = *p == '"' ? http_quoted_end(p) : p + 1;
		if (*p == ',')
			p++;
	}
	return -1;
}

struct http_prefer {
	long max, wait;
};

static enum MHD_Result
http_prefer_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct http_prefer *pr = cls;

	(void)kind;
	if (strcasecmp(key, "Prefer") != 0 || value == NULL)
		return MHD_YES;
	pr->wait = http_prefer_wait_parse(value, pr->max);
	return pr->wait < 0 ? MHD_YES : MHD_NO; /* the first wait preference decides */
}

long
http_prefer_wait(struct http_req *req, long max)
{
	struct http_prefer pr = {max, -1};

	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, http_prefer_header, &pr);
	return pr.wait < 0 ? 0 : pr.wait;
}

int
http_reply(struct http_req *req, unsigned status, const char *content_type, const char *body,
	   size_t len, const char *const *headers)
{
	struct MHD_Response *r;
	enum MHD_Result ok;
	size_t i;

	r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return -1;
	if (content_type != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	for (i = 0; headers != NULL && headers[i] != NULL && headers[i + 1] != NULL; i += 2)
		MHD_add_response_header(r, headers[i], headers[i + 1]);
	ok = MHD_queue_response(req->conn, status, r);
	MHD_destroy_response(r);
	req->replied = 1;
	req->status = status;
	return ok == MHD_YES ? 0 : -1;
}

int
http_reply_json(struct http_req *req, unsigned status, const cJSON *json,
		const char *const *headers)
{
	char *s = cJSON_PrintUnformatted(json);
	int rc;

	if (s == NULL)
		return http_reply(req, 500, "text/plain", "out of memory\n", 14, NULL);
	rc = http_reply(req, status, "application/json", s, strlen(s), headers);
	free(s);
	return rc;
}

int
http_reply_error(struct http_req *req, unsigned status, const char *code, const char *field,
		 cJSON *extra, const char *const *headers, const char *fmt, ...)
{
	char msg[HTTP_MSG_MAX];
	cJSON *o = cJSON_CreateObject(), *e = cJSON_CreateObject(), *it;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cJSON_AddStringToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", msg);
	if (field != NULL)
		cJSON_AddStringToObject(e, "field", field);
	else
		cJSON_AddNullToObject(e, "field");
	cJSON_AddItemToObject(o, "error", e);
	if (extra != NULL) {
		while ((it = extra->child) != NULL) {
			cJSON_DetachItemViaPointer(extra, it);
			cJSON_AddItemToObject(o, it->string, it);
		}
		cJSON_Delete(extra);
	}
	rc = http_reply_json(req, status, o, headers);
	cJSON_Delete(o);
	return rc;
}

/* Form fields being collected by the post processor. */
struct http_form {
	char *names[HTTP_FORM_FIELDS_MAX];
	char *vals[HTTP_FORM_FIELDS_MAX];
	size_t lens[HTTP_FORM_FIELDS_MAX];
	int files[HTTP_FORM_FIELDS_MAX]; /* a file part (it had a filename) */
	size_t n;
	const char *why; /* the reason a field was refused */
};

static enum MHD_Result
http_form_iter(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
	       const char *content_type, const char *transfer_encoding, const char *data,
	       uint64_t off, size_t size)
{
	struct http_form *f = cls;
	size_t i;
	char *nv;

	if (key == NULL || key[0] == '\0') { /* no name in the Content-Disposition, or "=v" */
		f->why = "a field without a name";
		return MHD_NO;
	}
	for (i = 0; i < f->n; i++)
		if (strcmp(f->names[i], key) == 0)
			break;
	if (i < f->n && off == 0) {
		f->why = "a field sent twice";
		return MHD_NO;
	}
	if (i == f->n) {
		if (f->n == HTTP_FORM_FIELDS_MAX) {
			f->why = "too many fields or a field too long";
			return MHD_NO;
		}
		if ((f->names[i] = strdup(key)) == NULL)
			return MHD_NO;
		f->vals[i] = NULL;
		f->lens[i] = 0;
		f->n++;
	}
	if (off == 0)
		f->files[i] = filename != NULL;
	if (f->lens[i] + size > HTTP_FORM_VALUE_MAX) {
		f->why = "too many fields or a field too long";
		return MHD_NO;
	}
	if ((nv = realloc(f->vals[i], f->lens[i] + size + 1)) == NULL)
		return MHD_NO;
	memcpy(nv + f->lens[i], data, size);
	f->lens[i] += size;
	nv[f->lens[i]] = '\0';
	f->vals[i] = nv;
	return MHD_YES;
}

cJSON *
http_form_parse(struct http_req *req, char *err)
{
	struct MHD_PostProcessor *pp = NULL;
	struct http_form f;
	cJSON *o = NULL, *ret = NULL;
	char *b64;
	size_t i;

	memset(&f, 0, sizeof(f));
	if ((pp = MHD_create_post_processor(req->conn, HTTP_POST_BUFFER, http_form_iter, &f)) ==
	    NULL) {
		snprintf(err, HTTP_ERR_MAX, "form body: unsupported encoding or missing boundary");
		goto out;
	}
	if (req->body_len > 0 && MHD_post_process(pp, req->body, req->body_len) != MHD_YES) {
		snprintf(err, HTTP_ERR_MAX, "form body: %s", f.why != NULL ? f.why : "malformed");
		goto out;
	}
	o = cJSON_CreateObject();
	for (i = 0; i < f.n; i++) {
		/* A text field is UTF-8 without NUL (a C string would end there); a file is DER. */
		if (!f.files[i] && f.vals[i] != NULL &&
		    (memchr(f.vals[i], '\0', f.lens[i]) != NULL ||
		     !str_utf8_valid((const unsigned char *)f.vals[i], f.lens[i]))) {
			snprintf(err, HTTP_ERR_MAX, "form body: %s: not UTF-8 text without NUL",
				 f.names[i]);
			goto out;
		}
		if (f.files[i] && f.vals[i] != NULL && memchr(f.vals[i], '\0', f.lens[i]) != NULL) {
			if ((b64 = malloc(f.lens[i] / 3 * 4 + 5)) == NULL) {
				snprintf(err, HTTP_ERR_MAX, "form body: out of memory");
				goto out;
			}
			EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)f.vals[i],
					(int)f.lens[i]);
			free(f.vals[i]);
			f.vals[i] = b64;
		}
		cJSON_AddStringToObject(o, f.names[i], f.vals[i] != NULL ? f.vals[i] : "");
	}
	ret = o;
	o = NULL;
out:
	if (pp != NULL)
		MHD_destroy_post_processor(pp);
	for (i = 0; i < f.n; i++) {
		free(f.names[i]);
		free(f.vals[i]);
	}
	cJSON_Delete(o);
	return ret;
}

void
http_content_type(struct http_req *req, char *out, size_t outlen)
{
	const char *ct = http_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
	size_t i = 0;

	if (outlen == 0)
		return;
	if (ct != NULL) {
		while (*ct == ' ')
			ct++;
		for (; ct[i] != '\0' && ct[i] != ';' && ct[i] != ' ' && i + 1 < outlen; i++)
			out[i] = (char)tolower((unsigned char)ct[i]);
	}
	out[i] = '\0';
}

int
http_body_fields(struct http_req *req, http_json_fn json_parse, cJSON **out, char *err)
{
	char ct[64];

	http_content_type(req, ct, sizeof(ct));
	if (strcmp(ct, "application/x-www-form-urlencoded") == 0 ||
	    strcmp(ct, "multipart/form-data") == 0)
		return (*out = http_form_parse(req, err)) != NULL ? 0 : HTTP_EFORM;
	if (strcmp(ct, "application/json") != 0) {
		snprintf(err, HTTP_ERR_MAX,
			 "Content-Type must be application/json, application/x-www-form-urlencoded "
			 "or multipart/form-data, got \"%s\"",
			 ct[0] ? ct : "(none)");
		return HTTP_EMEDIA;
	}
	if (req->body == NULL) {
		snprintf(err, HTTP_ERR_MAX, "body: not valid JSON (empty)");
		return HTTP_EJSON;
	}
	return (*out = json_parse(req->body, req->body_len, err)) != NULL ? 0 : HTTP_EJSON;
}
