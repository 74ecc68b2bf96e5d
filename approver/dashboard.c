/*
 * /admin: the approval dashboard (web/admin/admin.html and admin.js).
 *
 *   GET  /admin                  the page: login form, or the queue
 *   POST /admin/login            form field api_key (admins only) → session cookie, 303
 *   POST /admin/logout           form field csrf_token → ends the session, 303
 *   GET  /admin/static/{name}    CSS and JavaScript
 *
 * The page calls the admin API (api.c) with the session cookie and the
 * session's CSRF token in X-CSRF-Token on every POST.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "approver.h"
#include "log.h"
#include "session.h"
#include "web.h"

#define DASH_PREFIX "/admin"
#define DASH_STATIC DASH_PREFIX "/static/"
#define DASH_PAGE "admin.html"

static const char *const retry_down[] = {"Retry-After", "5", NULL};

/* The page for session s (the queue) or the login form (s NULL) with an error. */
static void
dash_page(struct http_req *req, unsigned status, const struct session *s, const char *error,
	  const char *const *extra)
{
	web_reply_session_page(req, status, DASH_PAGE, s, error, extra);
}

static void
dash_get(struct approver *ap, struct http_req *req)
{
	struct session s;
	int rc = session_get(ap->cfg, &session_admin, req, &s);

	if (rc == SESSION_EDOWN)
		dash_page(req, 503, NULL, "The session store is unreachable; try again shortly.",
			  retry_down);
	else if (rc == 1 && s.user->role != ROLE_ADMIN)
		dash_page(req, 200, NULL,
			  "Signed in as a user who is not an admin; sign in with "
			  "an admin API key.",
			  NULL);
	else
		dash_page(req, 200, rc == 1 ? &s : NULL, NULL, NULL);
}

/*
 * 1 if a browser's form post comes from this server: no login CSRF from
 * other sites. Browsers say so in Sec-Fetch-Site; older ones only send
 * Origin (which is "null" under this page's no-referrer policy, so it counts
 * only when it names a site).
 */
static int
dash_same_origin(struct http_req *req)
{
	const char *origin = http_header(req, "Origin"), *host = http_header(req, "Host"), *p;
	const char *site = http_header(req, "Sec-Fetch-Site");

	if (site != NULL)
		return strcmp(site, "same-origin") == 0 || strcmp(site, "none") == 0;
	if (origin == NULL)
		return 1;
	if (host == NULL || (p = strstr(origin, "://")) == NULL)
		return 0;
	return strcmp(p + 3, host) == 0;
}

/* The form's fields, or NULL after answering 415/400. */
static cJSON *
dash_form(struct http_req *req)
{
	char ct[64], err[HTTP_ERR_MAX];
	cJSON *f;

	http_content_type(req, ct, sizeof(ct));
	if (strcmp(ct, "application/x-www-form-urlencoded") != 0 &&
	    strcmp(ct, "multipart/form-data") != 0) {
		http_reply_error(req, 415, "unsupported_media_type", NULL, NULL, NULL,
				 "%s %s takes an HTML form, got \"%s\"", req->method, req->path,
				 ct[0] ? ct : "(none)");
		return NULL;
	}
	if ((f = http_form_parse(req, err)) == NULL)
		dash_page(req, 400, NULL, err, NULL);
	return f;
}

static void
dash_login(struct approver *ap, struct http_req *req)
{
	const char *hdr[] = {"Set-Cookie", NULL, "Location", DASH_PREFIX, NULL};
	char cookie[SESSION_COOKIE_MAX], old[SESSION_COOKIE_MAX], detail[160];
	const struct user *u;
	const cJSON *key;
	struct session s;
	cJSON *f;

	if (!dash_same_origin(req)) {
		http_reply_error(req, 403, "cross_origin", "Origin", NULL, NULL,
				 "login form posted from another origin (%.200s)",
				 http_header(req, "Origin"));
		return;
	}
	if ((f = dash_form(req)) == NULL)
		return;
	key = cJSON_GetObjectItemCaseSensitive(f, "api_key");
	if (!cJSON_IsString(key) || key->valuestring[0] == '\0') {
		dash_page(req, 400, NULL, "API key: required, got nothing.", NULL);
		goto out;
	}
	if ((u = config_user_by_key(ap->cfg, key->valuestring)) == NULL) {
		ap_audit(ap, AUDIT_REJECTED, NULL, NULL, NULL, req->client_ip,
			 "401 dashboard login: unknown API key");
		dash_page(req, 401, NULL, "API key: not recognized.", NULL);
		goto out;
	}
	if (u->role != ROLE_ADMIN) {
		snprintf(detail, sizeof(detail), "403 dashboard login: %s is not an admin",
			 u->name);
		ap_audit(ap, AUDIT_REJECTED, NULL, NULL, u->name, req->client_ip, detail);
		dash_page(req, 403, NULL, "API key: this user is not an admin.", NULL);
		goto out;
	}
	if (session_destroy(ap->cfg, &session_admin, http_header(req, "Cookie"), 0, old) != 0 ||
	    session_create(ap->cfg, &session_admin, u, session_secure(req), &s, cookie) != 0) {
		dash_page(req, 503, NULL, "The session store is unreachable; try again shortly.",
			  retry_down);
		goto out;
	}
	ap_audit(ap, AUDIT_ADMIN_LOGIN, NULL, NULL, u->name, req->client_ip, "dashboard session");
	hdr[1] = cookie;
	web_reply_page(req, 303, "", 0, hdr);
out:
	cJSON_Delete(f);
}

static void
dash_logout(struct approver *ap, struct http_req *req)
{
	const char *hdr[] = {"Set-Cookie", NULL, "Location", DASH_PREFIX, NULL};
	char cookie[SESSION_COOKIE_MAX];
	const cJSON *tok;
	struct session s;
	cJSON *f;
	int rc;

	if ((f = dash_form(req)) == NULL)
		return;
	rc = session_get(ap->cfg, &session_admin, req, &s);
	tok = cJSON_GetObjectItemCaseSensitive(f, SESSION_CSRF_FIELD);
	if (rc == SESSION_EDOWN) {
		http_reply_error(req, 503, "unavailable", NULL, NULL, retry_down,
				 "session store (Redis) unreachable; try again shortly");
	} else if (rc == 1 && !session_csrf_ok(&s, cJSON_IsString(tok) ? tok->valuestring : NULL)) {
		http_reply_error(req, 403, "csrf_failed", SESSION_CSRF_FIELD, NULL, NULL,
				 "logout needs the session's CSRF token in the %s form field",
				 SESSION_CSRF_FIELD);
	} else if (session_destroy(ap->cfg, &session_admin, http_header(req, "Cookie"),
				   session_secure(req), cookie) != 0) {
		http_reply_error(req, 503, "unavailable", NULL, NULL, retry_down,
				 "session store (Redis) unreachable; try again shortly");
	} else {
		if (rc == 1)
			ap_audit(ap, AUDIT_ADMIN_LOGOUT, NULL, NULL, s.user->name, req->client_ip,
				 "dashboard session ended");
		hdr[1] = cookie;
		web_reply_page(req, 303, "", 0, hdr);
	}
	cJSON_Delete(f);
}

static void
dash_method(struct http_req *req, const char *allow)
{
	const char *hdr[] = {"Allow", allow, NULL};

	http_reply_error(req, 405, "method_not_allowed", NULL, NULL, hdr,
			 "%s %s: method not allowed (allowed: %s)", req->method, req->path, allow);
}

void
dashboard_route(struct approver *ap, struct http_req *req)
{
	const char *p = req->path + strlen(DASH_PREFIX);
	int get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
	int post = strcmp(req->method, "POST") == 0;

	if (strcmp(p, "") == 0 || strcmp(p, "/") == 0)
		get ? dash_get(ap, req) : dash_method(req, "GET");
	else if (strcmp(p, "/login") == 0)
		post ? dash_login(ap, req) : dash_method(req, "POST");
	else if (strcmp(p, "/logout") == 0)
		post ? dash_logout(ap, req) : dash_method(req, "POST");
	else if (strncmp(req->path, DASH_STATIC, strlen(DASH_STATIC)) == 0)
		get ? (void)web_reply_asset(req, req->path + strlen(DASH_STATIC))
		    : dash_method(req, "GET");
	else
		http_reply_error(req, 404, "not_found", NULL, NULL, NULL, "no route for %s %s",
				 req->method, req->path);
}
