/* Embedded web assets, templates and page replies. */
#include "web.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

#define WEB_CSP                                                                                    \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "          \
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

const struct web_asset *
web_asset_find(const char *name)
{
	const struct web_asset *a;

	for (a = web_assets; a->name != NULL; a++)
		if (strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

/* Growing output buffer; on allocation failure it stays failed (p NULL). */
struct buf {
	char *p;
	size_t len, cap;
};

static void
buf_add(struct buf *b, const char *s, size_t n)
{
	char *np;

	if (b->p == NULL)
		return;
	if (b->len + n + 1 > b->cap) {
		while (b->len + n + 1 > b->cap)
			b->cap *= 2;
		if ((np = realloc(b->p, b->cap)) == NULL) {
			free(b->p);
			b->p = NULL;
			return;
		}
		b->p = np;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
buf_add_escaped(struct buf *b, const char *s)
{
	const char *rep;

	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		default:
			buf_add(b, s, 1);
			continue;
		}
		buf_add(b, rep, strlen(rep));
	}
}

static const char *
var_value(const char *const *vars, const char *name, size_t n)
{
	size_t i;

	for (i = 0; vars != NULL && vars[i] != NULL && vars[i + 1] != NULL; i += 2)
		if (strlen(vars[i]) == n && strncmp(vars[i], name, n) == 0)
			return vars[i + 1];
	return NULL;
}

char *
web_render(const struct web_asset *a, const char *const *vars, size_t *len)
{
	const char *p = (const char *)a->data, *end = p + a->len, *open, *close, *v;
	struct buf b = {malloc(a->len + 1), 0, a->len + 1};

	while (b.p != NULL && p < end) {
		open = strstr(p, "{{");
		close = open != NULL ? strstr(open + 2, "}}") : NULL;
		if (open == NULL || close == NULL) {
			buf_add(&b, p, (size_t)(end - p));
			break;
		}
		buf_add(&b, p, (size_t)(open - p));
		if ((v = var_value(vars, open + 2, (size_t)(close - open - 2))) == NULL) {
			log_error(
			    "web: %s: template variable {{%.*s}} has no value", a->name,
			    (int)(close - open - 2 < WEB_VAR_MAX ? close - open - 2 : WEB_VAR_MAX),
			    open + 2);
			free(b.p);
			return NULL;
		}
		buf_add_escaped(&b, v);
		p = close + 2;
	}
	if (b.p != NULL)
		*len = b.len;
	return b.p;
}

int
web_reply_page(struct http_req *req, unsigned status, const char *body, size_t len,
	       const char *const *extra)
{
	const char *h[2 * (3 + WEB_EXTRA_HEADERS_MAX) + 1] = {
	    "Content-Security-Policy", WEB_CSP,      "X-Frame-Options", "DENY",
	    "Referrer-Policy",         "same-origin"};
	size_t n = 6, i;

	for (i = 0; extra != NULL && extra[i] != NULL && extra[i + 1] != NULL &&
		    i < 2 * WEB_EXTRA_HEADERS_MAX;
	     i += 2) {
		h[n++] = extra[i];
		h[n++] = extra[i + 1];
	}
	h[n] = NULL;
	return http_reply(req, status, "text/html; charset=utf-8", body, len, h);
}

int
web_reply_asset(struct http_req *req, const char *name)
{
	static const char *const h[] = {"Content-Security-Policy", WEB_CSP, NULL};
	const struct web_asset *a = web_asset_find(name);
	size_t n = strlen(name);

	/* Templates are only served rendered, by their page's handler. */
	if (a == NULL || (n > 5 && strcmp(name + n - 5, ".html") == 0))
		return http_reply_error(req, 404, "not_found", NULL, NULL, NULL,
					"no asset \"%.64s\"", name);
	return http_reply(req, 200, a->content_type, (const char *)a->data, a->len, h);
}

void
web_reply_session_page(struct http_req *req, unsigned status, const char *page,
		       const struct session *s, const char *login_error, const char *const *extra)
{
	const struct web_asset *a = web_asset_find(page);
	const char *vars[] = {"state",       s != NULL ? "app" : "login",
			      "user",        s != NULL ? s->user->name : "",
			      "tenant",      s != NULL && s->user->tenant ? s->user->tenant : "",
			      "csrf",        s != NULL ? s->csrf : "",
			      "login_error", login_error != NULL ? login_error : "",
			      NULL};
	size_t len;
	char *body = a != NULL ? web_render(a, vars, &len) : NULL;

	if (body == NULL) {
		http_reply_error(req, 500, "internal", NULL, NULL, NULL, "page %s unavailable",
				 page);
		return;
	}
	web_reply_page(req, status, body, len, extra);
	free(body);
}
