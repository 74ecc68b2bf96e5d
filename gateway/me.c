/*
 * The caller's own notification channels (any authenticated user, for
 * themselves only; data in Redis, me.h):
 *
 *   GET    /me/webhooks        {"webhooks": [{id, url, created_at}]}
 *   POST   /me/webhooks        {"url"} -> 201 {id, url, created_at, secret}
 *                              (the only time the secret is shown)
 *   DELETE /me/webhooks/{id}   204
 *   GET    /me/notifications   {"email": bool, "address"}
 *   PUT    /me/notifications   {"email": bool} -> the same
 *
 * A webhook URL must pass netguard_url_check (allow-list, public addresses)
 * when it is added; the approver checks it again at every delivery.
 */
#include <stdio.h>
#include <string.h>

#include "gateway.h"
#include "jfield.h"
#include "me.h"
#include "netguard.h"

#define ME_WEBHOOKS "/webhooks"
#define ME_NOTIFICATIONS "/notifications"
#define ME_HOOKS_ROUTE "/me/webhooks/"

/* Answers 503: Redis did not answer. */
static void
me_unavailable(struct http_req *req)
{
	http_reply_error(req, 503, "store_unavailable", NULL, NULL, NULL,
			 "request store (Redis) unavailable");
}

/* The JSON object of body, or NULL after answering 400 naming the rule. */
static cJSON *
me_body(struct http_req *req, const char *const *keys, char *err, size_t errlen)
{
	struct jfield j = {err, errlen, ""};
	cJSON *o = req->body != NULL ? cJSON_ParseWithLength(req->body, req->body_len) : NULL;

	if (o == NULL) {
		http_reply_error(req, 400, "invalid_json", NULL, NULL, NULL,
				 "body: must be a JSON object");
		return NULL;
	}
	if (jfield_keys(&j, o, "", keys) != 0) {
		http_reply_error(req, 400, "invalid_field", NULL, NULL, NULL, "%s", err);
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* The JSON of h (with its secret when asked: only when it was just made). NULL when out of memory.
 */
static cJSON *
hook_json(const struct me_hook *h, int with_secret)
{
	cJSON *o = cJSON_CreateObject();
	char loc[sizeof(ME_HOOKS_ROUTE) + ME_HOOK_ID_MAX];

	if (o == NULL)
		return NULL;
	snprintf(loc, sizeof(loc), "%s%s", ME_HOOKS_ROUTE, h->id);
	cJSON_AddStringToObject(o, "id", h->id);
	cJSON_AddStringToObject(o, "url", h->url);
	cJSON_AddStringToObject(o, "location", loc);
	json_add_time(o, "created_at", h->created);
	if (with_secret)
		cJSON_AddStringToObject(o, "secret", h->secret);
	return o;
}

/* GET /me/webhooks: u's webhooks, without secrets. */
static void
hooks_list(struct gateway *gw, struct http_req *req, const struct user *u)
{
	struct me_hook *h = NULL;
	cJSON *o, *a;
	size_t i, n = 0;

	if (me_hook_list(&gw->store, u->name, &h, &n) != 0) {
		me_unavailable(req);
		return;
	}
	o = cJSON_CreateObject();
	a = cJSON_AddArrayToObject(o, "webhooks");
	for (i = 0; i < n; i++)
		cJSON_AddItemToArray(a, hook_json(&h[i], 0));
	http_reply_json(req, 200, o, NULL);
	cJSON_Delete(o);
	me_hooks_free(h, n);
}

/* POST /me/webhooks: checks the URL (netguard), stores it with a new secret, shows it once. */
static void
hooks_add(struct gateway *gw, struct http_req *req, const struct user *u)
{
	static const char *const keys[] = {"url", NULL};
	char err[NETGUARD_ERR_MAX + JFIELD_PATH_MAX];
	struct jfield j = {err, sizeof(err), ""};
	struct me_hook h = {0};
	const char *url = NULL, *hdr[] = {"Location", NULL, NULL};
	cJSON *o = me_body(req, keys, err, sizeof(err)), *ans = NULL;
	int rc;

	if (o == NULL)
		return;
	if (jfield_str(&j, o, "", "url", JF_REQUIRED, NETGUARD_URL_MAX, NULL, &url) < 0) {
		http_reply_error(req, 400, "invalid_field", "url", NULL, NULL, "%s", err);
		goto out;
	}
	if (netguard_url_check(&gw->cfg->notify, url, 1, err) != 0) {
		http_reply_error(req, 400, "webhook_url_refused", "url", NULL, NULL, "%s", err);
		goto out;
	}
	if ((rc = me_hook_add(&gw->store, u->name, url, &h)) == ME_EFULL) {
		http_reply_error(req, 409, "too_many_webhooks", "url", NULL, NULL,
				 "user %s has %d webhooks already (the most allowed); delete one "
				 "first",
				 u->name, ME_HOOKS_MAX);
		goto out;
	}
	if (rc != 0) {
		me_unavailable(req);
		goto out;
	}
	if ((ans = hook_json(&h, 1)) == NULL) {
		http_reply_error(req, 500, "internal", NULL, NULL, NULL, "out of memory");
		goto out;
	}
	hdr[1] = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ans, "location"));
	http_reply_json(req, 201, ans, hdr);
out:
	cJSON_Delete(ans);
	cJSON_Delete(o);
	free(h.url);
	free(h.secret);
}

/* DELETE /me/webhooks/{id}: one of u's own. */
static void
hooks_del(struct gateway *gw, struct http_req *req, const struct user *u, const char *id)
{
	int rc = me_hook_del(&gw->store, u->name, id);

	if (rc == STORE_ENOTFOUND)
		http_reply_error(req, 404, "not_found", "id", NULL, NULL,
				 "user %s has no webhook %.40s", u->name, id);
	else if (rc != 0)
		me_unavailable(req);
	else
		http_reply(req, 204, NULL, "", 0, NULL);
}

/* GET and PUT /me/notifications: u's e-mail opt-in. */
static void
notifications(struct gateway *gw, struct http_req *req, const struct user *u)
{
	static const char *const keys[] = {"email", NULL};
	char err[JFIELD_PATH_MAX * 2];
	struct jfield j = {err, sizeof(err), ""};
	cJSON *o = NULL, *ans;
	int on = 0;

	if (strcmp(req->method, "PUT") == 0) {
		if ((o = me_body(req, keys, err, sizeof(err))) == NULL)
			return;
		if (jfield_bool(&j, o, "", "email", JF_REQUIRED, &on) < 0) {
			http_reply_error(req, 400, "invalid_field", "email", NULL, NULL, "%s", err);
			goto out;
		}
		if (me_email_set(&gw->store, u->name, on) != 0) {
			me_unavailable(req);
			goto out;
		}
	} else if (me_email_get(&gw->store, u->name, &on) != 0) {
		me_unavailable(req);
		goto out;
	}
	ans = cJSON_CreateObject();
	cJSON_AddBoolToObject(ans, "email", on);
	cJSON_AddStringToObject(ans, "address", u->email);
	http_reply_json(req, 200, ans, NULL);
	cJSON_Delete(ans);
out:
	cJSON_Delete(o);
}

void
gateway_me(struct gateway *gw, struct http_req *req, const char *rest)
{
	const char *m = req->method;
	const struct user *u;
	size_t wl = strlen(ME_WEBHOOKS);

	if (strcmp(rest, ME_WEBHOOKS) != 0 && strcmp(rest, ME_NOTIFICATIONS) != 0 &&
	    !(strncmp(rest, ME_WEBHOOKS "/", wl + 1) == 0 && rest[wl + 1] != '\0')) {
		http_reply_error(req, 404, "not_found", NULL, NULL, NULL, "no route for %s %s",
				 req->method, req->path);
		return;
	}
	if ((u = gateway_auth(gw, req)) == NULL)
		return;
	if (strcmp(rest, ME_NOTIFICATIONS) == 0) {
		if (strcmp(m, "GET") == 0 || strcmp(m, "PUT") == 0)
			notifications(gw, req, u);
		else
			route_method(req, "GET, PUT");
	} else if (strcmp(rest, ME_WEBHOOKS) == 0) {
		if (strcmp(m, "GET") == 0)
			hooks_list(gw, req, u);
		else if (strcmp(m, "POST") == 0)
			hooks_add(gw, req, u);
		else
			route_method(req, "GET, POST");
	} else if (strcmp(m, "DELETE") == 0) {
		hooks_del(gw, req, u, rest + wl + 1);
	} else {
		route_method(req, "DELETE");
	}
}
