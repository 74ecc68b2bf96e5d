/*
 * Browser login sessions and CSRF tokens (DESIGN.md "Authentication").
 *
 * A browser logs in once with its API key and then carries a random session
 * token in the cookie of a realm (the gateway's pages use pki_session):
 *
 *   pki_session=<token>; HttpOnly; SameSite=Strict; Path=/[; Secure]
 *
 * The token itself is never stored: Redis holds
 *
 *   P session:{sha256 hex of token}   hash {user, scope, csrf, key, created},
 *                                      TTL SESSION_TTL_S
 *
 * (P = config redis.prefix). "scope" is the realm's: cookies do not tell
 * ports apart, so the admin dashboard uses its own realm (cookie name and
 * scope) and a session made on the public gateway never opens it. "key"
 * fingerprints the user's API key hash, so a session ends when the key is
 * rotated; a user removed from the config loses the session too.
 *
 * Every state-changing request authenticated by the cookie must also carry
 * the session's CSRF token (header X-CSRF-Token or form field csrf_token),
 * compared in constant time. Every call uses the
 * calling thread's Redis connection (redis_thread).
 *
 * Secure: set when PKI_SESSION_SECURE=1 or the request arrived through a
 * proxy that says X-Forwarded-Proto: https; not on plain loopback http,
 * where the browser would never send it back.
 */
#ifndef PKI_SESSION_H
#define PKI_SESSION_H

#include "config.h"
#include "http.h"

#define SESSION_TTL_S (8 * 3600)
#define SESSION_TOKEN_BYTES 32 /* random bytes of the cookie and the CSRF token */
#define SESSION_TOKEN_HEX (2 * SESSION_TOKEN_BYTES)
#define SESSION_CSRF_HEADER "X-CSRF-Token"
#define SESSION_CSRF_FIELD "csrf_token"
#define SESSION_COOKIE_MAX 160 /* a Set-Cookie value */
#define SESSION_SECURE_ENV "PKI_SESSION_SECURE"

/* Where a session is valid: its cookie's name and the scope stored with it. */
struct session_realm {
	const char *cookie; /* cookie name, [A-Za-z0-9_]+ */
	const char *scope;
};

/* The gateway's /csr/upload pages and API: cookie pki_session, scope "gateway". */
extern const struct session_realm session_gateway;
/* The approver's /admin dashboard and API: cookie pki_admin, scope "admin". */
extern const struct session_realm session_admin;

/* Return codes besides 0 / 1. */
#define SESSION_EDOWN (-2) /* Redis unreachable or answered an error (logged) */

/* A live session. user is borrowed from the config. */
struct session {
	const struct user *user;
	char csrf[SESSION_TOKEN_HEX + 1];
	char id[SESSION_TOKEN_HEX + 1]; /* sha256 hex of the token: the Redis key's tail */
};

/* 1 if the Set-Cookie for req should carry Secure (see above). */
int session_secure(struct http_req *req);

/*
 * Starts a session for u: stores it and writes the Set-Cookie value into
 * cookie (SESSION_COOKIE_MAX), with Secure when secure is set. Returns 0 and
 * fills *s, or SESSION_EDOWN.
 */
int session_create(const struct config *cfg, const struct session_realm *realm,
		   const struct user *u, int secure, struct session *s, char *cookie);

/*
 * The token of realm's cookie in a Cookie header value (may be NULL) into
 * token. Returns 1, or 0 when there is none or it is not
 * SESSION_TOKEN_HEX lowercase hex digits (token untouched).
 */
int session_cookie_token(const struct session_realm *realm, const char *cookie_header,
			 char token[SESSION_TOKEN_HEX + 1]);

/*
 * The session named by a Cookie header value (may be NULL). Returns 1 and
 * fills *s; 0 when there is no cookie or it names no live session of realm
 * (unknown, expired, another realm's, user gone or rekeyed); SESSION_EDOWN
 * when Redis cannot answer. *s is written only on 1.
 */
int session_lookup(const struct config *cfg, const struct session_realm *realm,
		   const char *cookie_header, struct session *s);
/* session_lookup with req's Cookie header. */
int session_get(const struct config *cfg, const struct session_realm *realm, struct http_req *req,
		struct session *s);

/*
 * Ends the session named by a Cookie header value, if any, and writes the
 * Set-Cookie value that clears the cookie into cookie (SESSION_COOKIE_MAX).
 * Returns 0 or SESSION_EDOWN.
 */
int session_destroy(const struct config *cfg, const struct session_realm *realm,
		    const char *cookie_header, int secure, char *cookie);

/* 1 if token (may be NULL) equals s's CSRF token, in constant time; else 0. */
int session_csrf_ok(const struct session *s, const char *token);

/* 1 if method changes state (anything but GET, HEAD and OPTIONS). */
int session_method_unsafe(const char *method);

/*
 * Authentication hook for API routes when a request has no Authorization
 * header. Returns the user of req's session in realm (X-CSRF-Token checked
 * on unsafe methods); NULL with nothing answered when there is no live session (the
 * caller answers 401); NULL after answering 403 csrf_failed (wrong or
 * missing token) or 503 (Redis down) — req->replied tells these apart.
 */
const struct user *session_user(const struct config *cfg, const struct session_realm *realm,
				struct http_req *req);

#endif
