/*
 * Browser pages: the files of web/ compiled into the binaries (the Makefile
 * generates $(BUILD)/web_assets.c with scripts/embed-web.sh), tiny
 * {{name}} templates, and replies with the pages' security headers.
 */
#ifndef PKI_WEB_H
#define PKI_WEB_H

#include <stddef.h>

#include "http.h"
#include "session.h"

#define WEB_VAR_MAX 64 /* longest {{name}} */

/* One embedded file. data has len bytes followed by a NUL. */
struct web_asset {
	const char *name; /* file name without directories: "upload.html" */
	const unsigned char *data;
	size_t len;
	const char *content_type;
};

/* Every embedded file; ends with an entry whose name is NULL (generated). */
extern const struct web_asset web_assets[];

/* The asset called name, or NULL. */
const struct web_asset *web_asset_find(const char *name);

/*
 * Expands a template: every {{name}} becomes the value paired with name in
 * vars (NULL-terminated name, value list; values HTML-escaped). Returns the
 * page (caller frees) and its length in *len, or NULL when out of memory or
 * the template names a variable vars lacks (logged).
 */
char *web_render(const struct web_asset *a, const char *const *vars, size_t *len);

/*
 * Answers with an HTML page and the page security headers (a CSP allowing
 * only this origin's scripts and styles, no framing, no referrer to other sites), plus
 * extra (NULL or a NULL-terminated name, value list, at most
 * WEB_EXTRA_HEADERS_MAX pairs). Returns 0 or -1.
 */
#define WEB_EXTRA_HEADERS_MAX 4
int web_reply_page(struct http_req *req, unsigned status, const char *body, size_t len,
		   const char *const *extra);

/*
 * Renders the page asset `page` for session s (state "app") or the login form
 * (s NULL, state "login", login_error shown) and answers it; 500 when the
 * asset is missing. Placeholders: state, user, tenant, csrf, login_error.
 */
void web_reply_session_page(struct http_req *req, unsigned status, const char *page,
			    const struct session *s, const char *login_error,
			    const char *const *extra);

/* Answers GET of a static asset (404 when name is unknown or a template). */
int web_reply_asset(struct http_req *req, const char *name);

#endif
