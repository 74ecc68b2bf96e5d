/*
 * A user's own notification channels in Redis (P = redis.prefix):
 *
 *   P me:{user}         hash: email "1" (opted in) or "0" (absent: off)
 *   P me:{user}:hooks   hash: webhook id -> JSON {"id","url","secret","created"}
 *
 * The gateway writes them (/me), the approver reads them when it notifies.
 * A webhook's secret is made here and shown once, when it is added.
 */
#ifndef PKI_ME_H
#define PKI_ME_H

#include <stddef.h>

#include "store.h"

#define ME_HOOKS_MAX 10       /* webhooks per user */
#define ME_HOOK_ID_MAX 33     /* 32 hex + NUL */
#define ME_SECRET_MAX 72      /* "whsec_" + 64 hex + NUL */
#define ME_EFULL (-20)        /* ME_HOOKS_MAX reached */
#define ME_KEY_HOOKS ":hooks" /* suffix of the webhook hash */

/* One webhook. Strings owned (me_hooks_free). */
struct me_hook {
	char id[ME_HOOK_ID_MAX];
	char *url;
	char *secret;
	long long created;
};

/* Frees n hooks' strings and the array. NULL is safe. */
void me_hooks_free(struct me_hook *h, size_t n);

/*
 * Adds a webhook to url (already checked by the caller) for user with a new
 * random id and secret, written into out (strings owned by out). Returns 0,
 * ME_EFULL, or STORE_EDOWN.
 */
int me_hook_add(const struct store *s, const char *user, const char *url, struct me_hook *out);

/* user's webhooks into *out (*n of them; secrets included). 0 or STORE_EDOWN. */
int me_hook_list(const struct store *s, const char *user, struct me_hook **out, size_t *n);

/* Deletes webhook id of user. 0, STORE_ENOTFOUND or STORE_EDOWN. */
int me_hook_del(const struct store *s, const char *user, const char *id);

/* E-mail opt-in of user into *on (0 or 1). 0 or STORE_EDOWN. */
int me_email_get(const struct store *s, const char *user, int *on);
int me_email_set(const struct store *s, const char *user, int on);

/* "P me:{user}" followed by suffix (may be NULL) into out (outlen bytes). */
void me_key(const struct store *s, char *out, size_t outlen, const char *user, const char *suffix);

#endif
