/*
 * /csr/upload: the browser page for certificate requests (gw->upload).
 *
 *   GET  /csr/upload                 the page: login form, or the request form
 *   POST /csr/upload/login           form field api_key → session cookie, 303
 *   POST /csr/upload/logout          ends the session (CSRF token), 303
 *   POST /csr/upload/inspect         {"csr_data"} → the CSR's subject and key
 *   GET  /csr/upload/static/{name}   the page's CSS and JavaScript
 *
 * The page itself talks to the public API (GET /cas, GET /csr/ca-template,
 * POST /csr/process, GET /csr/requests) with the session cookie, which the
 * gateway's authentication accepts beside bearer keys (session_user).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "gateway.h"
#include "issue.h"
#include "log.h"
#include "session.h"
#include "web.h"

#define UPLOAD_PREFIX "/csr/upload"
#define UPLOAD_STATIC UPLOAD_PREFIX "/static/"
#define UPLOAD_PAGE "upload.html"
#define UPLOAD_SAN_TEXT_MAX 1024 /* one SAN as shown on the page ("DNS:...") */

static const char *const retry_down[] = {"Retry-After", "5", NULL};

/* Renders the page: the request form for session s, or the login form (s NULL). */
static void
upload_page(struct http_req *req, unsigned status, const struct session *s, const char *login_error,
	    const char *const *extra)
{
	web_reply_session_page(req, status, UPLOAD_PAGE, s, login_error, extra);
}

static void
upload_get(struct gateway *gw, struct http_req *req)
{
	struct session s;
	int rc = session_get(gw->cfg, &session_gateway, req, &s);

	if (rc == SESSION_EDOWN)
		upload_page(req, 503, NULL, "The session store is unreachable; try again shortly.",
			    retry_down);
	else
		upload_page(req, 200, rc == 1 ? &s : NULL, NULL, NULL);
}

/*
 * 1 if a browser's Origin header (when sent) names this server: a login form
 * posted from another site must not sign the victim in (login CSRF).
 */
static int
upload_same_origin(struct http_req *req)
{
	const char *origin = http_header(req, "Origin"), *host = http_header(req, "Host"), *p;

	if (origin == NULL)
		return 1; /* not a browser form post: curl and friends */
	if (host == NULL || (p = strstr(origin, "://")) == NULL)
		return 0;
	return strcmp(p + 3, host) == 0;
}

/* The form's fields, or NULL after answering (415 or 400 as a page). */
static cJSON *
upload_form(struct http_req *req)
{
	char ct[64], err[HTTP_ERR_MAX];
	cJSON *f;

	http_content_type(req, ct, sizeof(ct));
	if (strcmp(ct, "application/x-www-form-urlencoded") != 0 &&
	    strcmp(ct, "multipart/form-data") != 0) {
		http_reply_error(req, 415, "unsupported_media_type", NULL, NULL, NULL,
				 "%s %s takes an HTML form (application/x-www-form-urlencoded or "
				 "multipart/form-data), got \"%s\"",
				 req->method, req->path, ct[0] ? ct : "(none)");
		return NULL;
	}
	if ((f = http_form_parse(req, err)) == NULL)
		upload_page(req, 400, NULL, err, NULL);
	return f;
}

static void
upload_login(struct gateway *gw, struct http_req *req)
{
	const char *hdr[] = {"Set-Cookie", NULL, "Location", UPLOAD_PREFIX, NULL};
	char cookie[SESSION_COOKIE_MAX], old[SESSION_COOKIE_MAX];
	struct audit_event ev = {0};
	const struct user *u;
	const cJSON *key;
	struct session s;
	cJSON *f;

	if (!upload_same_origin(req)) {
		http_reply_error(req, 403, "cross_origin", "Origin", NULL, NULL,
				 "login form posted from another origin (%.200s)",
				 http_header(req, "Origin"));
		return;
	}
	if ((f = upload_form(req)) == NULL)
		return;
	key = cJSON_GetObjectItemCaseSensitive(f, "api_key");
	if (!cJSON_IsString(key) || key->valuestring[0] == '\0') {
		upload_page(req, 400, NULL, "API key: required, got nothing.", NULL);
		goto out;
	}
	if ((u = config_user_by_key(gw->cfg, key->valuestring)) == NULL) {
		ev.event = AUDIT_REJECTED;
		ev.client_ip = req->client_ip;
		ev.detail = "401: /csr/upload login with an unknown API key";
		audit_emit(gw->kp, gw->cfg->topics.audit, &ev);
		upload_page(req, 401, NULL, "API key: not recognized.", NULL);
		goto out;
	}
	/* A fresh token on every login; any session the browser had ends. */
	if (session_destroy(gw->cfg, &session_gateway, http_header(req, "Cookie"), 0, old) != 0 ||
	    session_create(gw->cfg, &session_gateway, u, session_secure(req), &s, cookie) != 0) {
		upload_page(req, 503, NULL, "The session store is unreachable; try again shortly.",
			    retry_down);
		goto out;
	}
	log_info("upload: %s logged in from %s", u->name, req->client_ip);
	hdr[1] = cookie;
	web_reply_page(req, 303, "", 0, hdr);
out:
	cJSON_Delete(f);
}

static void
upload_logout(struct gateway *gw, struct http_req *req)
{
	const char *hdr[] = {"Set-Cookie", NULL, "Location", UPLOAD_PREFIX, NULL};
	char cookie[SESSION_COOKIE_MAX];
	const cJSON *tok;
	struct session s;
	cJSON *f;
	int rc;

	if ((f = upload_form(req)) == NULL)
		return;
	rc = session_get(gw->cfg, &session_gateway, req, &s);
	tok = cJSON_GetObjectItemCaseSensitive(f, SESSION_CSRF_FIELD);
	if (rc == SESSION_EDOWN) {
		http_reply_error(req, 503, "unavailable", NULL, NULL, retry_down,
				 "session store (Redis) unreachable; try again shortly");
	} else if (rc == 1 && !session_csrf_ok(&s, cJSON_IsString(tok)
						       ? tok->valuestring
						       : http_header(req, SESSION_CSRF_HEADER))) {
		http_reply_error(req, 403, "csrf_failed", SESSION_CSRF_FIELD, NULL, NULL,
				 "logout needs the session's CSRF token in the %s form field",
				 SESSION_CSRF_FIELD);
	} else if (session_destroy(gw->cfg, &session_gateway, http_header(req, "Cookie"),
				   session_secure(req), cookie) != 0) {
		http_reply_error(req, 503, "unavailable", NULL, NULL, retry_down,
				 "session store (Redis) unreachable; try again shortly");
	} else {
		if (rc == 1)
			log_info("upload: %s logged out", s.user->name);
		hdr[1] = cookie;
		web_reply_page(req, 303, "", 0, hdr);
	}
	cJSON_Delete(f);
}

static void
json_add_list(cJSON *a, const char *prefix, const char *const *v)
{
	char buf[UPLOAD_SAN_TEXT_MAX];

	for (; v != NULL && *v != NULL; v++) {
		snprintf(buf, sizeof(buf), "%s:%s", prefix, *v);
		cJSON_AddItemToArray(a, cJSON_CreateString(buf));
	}
}

static const char *
curve_name(unsigned c)
{
	return c == CURVE_P256   ? "P-256"
	       : c == CURVE_P384 ? "P-384"
	       : c == CURVE_P521 ? "P-521"
				 : NULL;
}

/* The CSR's subject and key, for the form to fill in the common name. */
static cJSON *
inspect_json(const struct csr_info *in)
{
	cJSON *o = cJSON_CreateObject(), *a;

	cJSON_AddStringToObject(o, "subject", in->subject != NULL ? in->subject : "");
	if (in->cn != NULL)
		cJSON_AddStringToObject(o, "common_name", in->cn);
	else
		cJSON_AddNullToObject(o, "common_name");
	cJSON_AddStringToObject(o, "key_type", key_type_name(in->key_type));
	cJSON_AddNumberToObject(o, "key_bits", in->key_bits);
	if (curve_name(in->curve) != NULL)
		cJSON_AddStringToObject(o, "curve", curve_name(in->curve));
	cJSON_AddStringToObject(o, "signature_algorithm", in->sig_alg != NULL ? in->sig_alg : "");
	a = cJSON_AddArrayToObject(o, "sans");
	json_add_list(a, "DNS", in->dns_sans);
	json_add_list(a, "IP", in->ip_sans);
	json_add_list(a, "email", in->email_sans);
	json_add_list(a, "URI", in->uri_sans);
	return o;
}

static cJSON *
violations_json(const struct violations *vs)
{
	cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "violations"), *v;
	size_t i;

	for (i = 0; i < vs->n; i++) {
		v = cJSON_CreateObject();
		cJSON_AddStringToObject(v, "code", vs->v[i].code);
		cJSON_AddStringToObject(v, "field", vs->v[i].field);
		cJSON_AddStringToObject(v, "message", vs->v[i].message);
		cJSON_AddItemToArray(a, v);
	}
	return o;
}

static void
upload_inspect(struct gateway *gw, struct http_req *req)
{
	struct violations *vs = NULL;
	struct csr *c = NULL;
	const cJSON *pem;
	cJSON *body = NULL, *o;
	char ct[64], err[HTTP_ERR_MAX];

	if (session_user(gw->cfg, &session_gateway, req) == NULL) {
		if (!req->replied)
			http_reply_error(req, 401, "unauthorized", NULL, NULL, NULL,
					 "%s needs a login session (sign in at %s)", req->path,
					 UPLOAD_PREFIX);
		return;
	}
	http_content_type(req, ct, sizeof(ct));
	if (strcmp(ct, "multipart/form-data") == 0) {
		/* A CSR file as chosen on the page (a DER file arrives as base64). */
		if ((body = http_form_parse(req, err)) == NULL) {
			http_reply_error(req, 400, "invalid_form", NULL, NULL, NULL, "%s", err);
			return;
		}
	} else if (strcmp(ct, "application/json") == 0) {
		body = req->body != NULL ? cJSON_ParseWithLength(req->body, req->body_len) : NULL;
	} else {
		http_reply_error(req, 415, "unsupported_media_type", NULL, NULL, NULL,
				 "%s takes application/json or multipart/form-data, got \"%s\"",
				 req->path, ct[0] ? ct : "(none)");
		return;
	}
	pem = cJSON_GetObjectItemCaseSensitive(body, "csr_data");
	if (!cJSON_IsString(pem) || pem->valuestring[0] == '\0') {
		http_reply_error(req, 400, "invalid_field", "csr_data", NULL, NULL,
				 body == NULL ? "body: must be a JSON object with csr_data"
					      : "csr_data: required, a CSR (PEM, base64 or a DER file)");
		goto out;
	}
	if ((vs = violations_new()) == NULL) {
		http_reply_error(req, 500, "internal", NULL, NULL, NULL, "out of memory");
		goto out;
	}
	if (csr_parse(pem->valuestring, strlen(pem->valuestring), &c, vs) != 0) {
		http_reply_error(req, 422, vs->n > 0 ? vs->v[0].code : "csr_invalid", "csr_data",
				 violations_json(vs), NULL, "%s",
				 vs->n > 0 ? vs->v[0].message : "csr_data: not a valid CSR");
		goto out;
	}
	o = inspect_json(csr_info(c));
	http_reply_json(req, 200, o, NULL);
	cJSON_Delete(o);
out:
	csr_free(c);
	free(vs);
	cJSON_Delete(body);
}

static void
upload_method(struct http_req *req, const char *allow)
{
	const char *hdr[] = {"Allow", allow, NULL};

	http_reply_error(req, 405, "method_not_allowed", NULL, NULL, hdr,
			 "%s %s: method not allowed (allowed: %s)", req->method, req->path, allow);
}

void
upload_route(void *app, struct http_req *req)
{
	struct gateway *gw = app;
	const char *p = req->path + strlen(UPLOAD_PREFIX);
	int get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
	int post = strcmp(req->method, "POST") == 0;

	if (strcmp(p, "") == 0 || strcmp(p, "/") == 0) {
		if (get)
			upload_get(gw, req);
		else
			upload_method(req, "GET");
	} else if (strcmp(p, "/login") == 0) {
		if (post)
			upload_login(gw, req);
		else
			upload_method(req, "POST");
	} else if (strcmp(p, "/logout") == 0) {
		if (post)
			upload_logout(gw, req);
		else
			upload_method(req, "POST");
	} else if (strcmp(p, "/inspect") == 0) {
		if (post)
			upload_inspect(gw, req);
		else
			upload_method(req, "POST");
	} else if (strncmp(req->path, UPLOAD_STATIC, strlen(UPLOAD_STATIC)) == 0) {
		if (get)
			web_reply_asset(req, req->path + strlen(UPLOAD_STATIC));
		else
			upload_method(req, "GET");
	} else {
		http_reply_error(req, 404, "not_found", NULL, NULL, NULL, "no route for %s %s",
				 req->method, req->path);
	}
}
