/*
 * HTTP server helpers over libmicrohttpd.
 *
 * Threading: a pool of event-loop threads (HTTP_THREADS_PER_CPU per
 * core), each serving many connections with epoll. Handlers may make short
 * blocking calls (Redis, a CSR check), and each pool thread keeps its own
 * Redis connection (redis_thread); anything that waits longer (a delivery
 * report, a long-poll) parks the request (http_park): its connection is
 * suspended, no thread waits with it, and whoever ends the wait resumes it.
 * Connections are bounded by HTTP_MAX_CONNECTIONS in all and
 * limits.connections_per_ip per client address (more are closed at once);
 * limits.connection_timeout_s closes an idle connection and one whose
 * request body takes longer than that (a parked one never times out).
 */
#ifndef PKI_HTTP_H
#define PKI_HTTP_H

#include <cJSON.h>
#include <netinet/in.h>
#include <stddef.h>

#include "config.h"

#define HTTP_ERR_MAX 256
#define HTTP_MAX_CONNECTIONS CONFIG_CONNECTIONS_MAX
#define HTTP_FORM_FIELDS_MAX 32
#define HTTP_FORM_VALUE_MAX (64 * 1024)
#define HTTP_THREADS_PER_CPU 32   /* event-loop threads per online core (Redis calls block) ... */
#define HTTP_THREADS_MAX 64       /* ... and at most */
#define HTTP_STOP_PARKED_MS 30000 /* http_stop waits this long for parked requests */
#define HTTP_STOP_TICK_MS 10      /* ... looking this often */

struct MHD_Connection;

/* One request, complete with its body, handed to the handler. */
struct http_req {
	struct MHD_Connection *conn;
	const char *method;
	const char *path; /* without the query string */
	const char *body; /* NUL-terminated; NULL when empty */
	size_t body_len;
	char client_ip[INET6_ADDRSTRLEN];
	int replied;     /* set by http_reply* */
	int parked;      /* set by http_park */
	unsigned status; /* the status replied with */
	void *st;        /* the connection's state (http.c) */
};

/*
 * Called once per request after the whole body arrived (bodies over the
 * server's cap are answered 413 without calling it). Must answer with one of
 * the http_reply* calls, or park req. Runs in a pool thread: no long waits.
 */
typedef void (*http_handler_fn)(void *app, struct http_req *req);

/* A parked request, to be resumed once. */
struct http_park;
/* Continues a resumed request in a pool thread: answers req or parks it again. */
typedef void (*http_cont_fn)(void *app, struct http_req *req, void *arg);
/*
 * Parks req: once its handler returns, its connection is suspended until
 * http_resume(p) (from any thread, even before the handler returned), and
 * then fn(app, req, arg) continues it. The handler answers nothing more.
 * Every park must be resumed exactly once; p is invalid afterwards.
 */
struct http_park *http_park(struct http_req *req, http_cont_fn fn, void *arg);
void http_resume(struct http_park *p);

struct http_server;

/*
 * Listens on "host:port" (IPv4 or [IPv6]) and serves requests with fn(app, req).
 * body_max caps request bodies; lim gives the per-address and time limits. Returns NULL with a
 * message in err (HTTP_ERR_MAX). Stop with http_stop.
 */
struct http_server *http_start(const char *listen, size_t body_max, const struct limits *lim,
			       http_handler_fn fn, void *app, char *err);
/* The port s listens on (the one chosen when listen asked for port 0). */
unsigned http_port(const struct http_server *s);
/*
 * Stops accepting, waits up to HTTP_STOP_PARKED_MS for the requests that
 * were parked to be answered, then for the pool threads; frees. NULL is safe.
 */
void http_stop(struct http_server *s);

/* Request header or query argument; NULL when absent. Valid during the handler. */
const char *http_header(struct http_req *req, const char *name);
/* How many headers of the request are named name (case-insensitive). */
int http_header_count(struct http_req *req, const char *name);
const char *http_query(struct http_req *req, const char *name);

/*
 * The "wait" preference (RFC 7240 section 4.3) of one Prefer header value:
 * its seconds, capped at max; 0 when its value is not delta-seconds (a
 * preference the server cannot read is ignored, section 2); -1 when value
 * has no wait preference. Only the first wait counts. Names are
 * case-insensitive; parameters, other preferences and quoted strings are
 * skipped.
 */
long http_prefer_wait_parse(const char *value, long max);
/* The wait preference of req's Prefer headers (all of them, in order), 0..max. */
long http_prefer_wait(struct http_req *req, long max);

/*
 * Queues a response. headers: NULL or a NULL-terminated list of name, value
 * pairs. body is copied. Returns 0 or -1.
 */
int http_reply(struct http_req *req, unsigned status, const char *content_type, const char *body,
	       size_t len, const char *const *headers);
/* Serializes json (not consumed) as application/json. */
int http_reply_json(struct http_req *req, unsigned status, const cJSON *json,
		    const char *const *headers);
/*
 * Answers {"error": {"code", "message", "field"}} (field null when NULL);
 * extra (may be NULL, consumed) is merged into the top-level object, e.g. a
 * "violations" array.
 */
int http_reply_error(struct http_req *req, unsigned status, const char *code, const char *field,
		     cJSON *extra, const char *const *headers, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/*
 * Parses an application/x-www-form-urlencoded or multipart/form-data body
 * into a JSON object of string fields. A field without a name or named
 * twice, and a text field that is not UTF-8 or holds a NUL, are refused.
 * A file part holding a NUL byte (binary, e.g. a DER file), which a JSON
 * string cannot carry, is given as its base64. Returns the object (caller frees with cJSON_Delete) or NULL with err.
 */
cJSON *http_form_parse(struct http_req *req, char *err);

/* The media type of the request without parameters, lowercase, in out (outlen). */
void http_content_type(struct http_req *req, char *out, size_t outlen);

/* Errors of http_body_fields. */
#define HTTP_EMEDIA -1 /* neither application/json nor a form (415) */
#define HTTP_EJSON -2  /* the JSON parser refused the body (400) */
#define HTTP_EFORM -3  /* a form http_form_parse refuses (400) */

/* A strict JSON parser: the tree of len bytes (caller frees), or NULL with a message in err. */
typedef cJSON *(*http_json_fn)(const void *buf, size_t len, char *err);

/*
 * The fields of req's body by its media type: what json_parse makes of an
 * application/json body, or the object of an
 * application/x-www-form-urlencoded or multipart/form-data body
 * (http_form_parse). Returns 0 and *out (caller frees with cJSON_Delete), or
 * an HTTP_E* code with a message in err (HTTP_ERR_MAX).
 */
int http_body_fields(struct http_req *req, http_json_fn json_parse, cJSON **out, char *err);

#endif
