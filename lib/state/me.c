#include "me.h"

#include <cJSON.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hex.h"

#define ME_KEY_MAX 512

void
me_key(const struct store *s, char *out, size_t outlen, const char *user, const char *suffix)
{
	snprintf(out, outlen, "%sme:%s%s", s->prefix, user, suffix != NULL ? suffix : "");
}

void
me_hooks_free(struct me_hook *h, size_t n)
{
	size_t i;

	for (i = 0; h != NULL && i < n; i++) {
		free(h[i].url);
		if (h[i].secret != NULL)
			OPENSSL_cleanse(h[i].secret, strlen(h[i].secret));
		free(h[i].secret);
	}
	free(h);
}

/* n random bytes as hex into out (2n + 1). 0 or -1. */
static int
rand_hex(char *out, size_t n)
{
	unsigned char b[32];

	if (n > sizeof(b) || RAND_bytes(b, (int)n) != 1)
		return -1;
	hex_encode(b, n, out);
	OPENSSL_cleanse(b, sizeof(b));
	return 0;
}

/* KEYS hooks; ARGV max, id, json: adds unless max are there. */
static const char me_lua_add[] = "if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[1]) then\n"
				 "  return 0 end\n"
				 "redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])\n"
				 "return 1\n";

int
me_hook_add(const struct store *s, const char *user, const char *url, struct me_hook *out)
{
	char key[ME_KEY_MAX], max[16], secret[ME_SECRET_MAX], *json = NULL;
	const char *argv[7];
	cJSON *o = NULL;
	redisReply *rep = NULL;
	int rc = STORE_EDOWN;

	memset(out, 0, sizeof(*out));
	memcpy(secret, "whsec_", 6);
	if (rand_hex(out->id, 16) != 0 || rand_hex(secret + 6, 32) != 0)
		goto out;
	out->created = (long long)time(NULL);
	if ((o = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(o, "id", out->id) == NULL ||
	    cJSON_AddStringToObject(o, "url", url) == NULL ||
	    cJSON_AddStringToObject(o, "secret", secret) == NULL ||
	    cJSON_AddNumberToObject(o, "created", (double)out->created) == NULL ||
	    (json = cJSON_PrintUnformatted(o)) == NULL)
		goto out;
	me_key(s, key, sizeof(key), user, ME_KEY_HOOKS);
	snprintf(max, sizeof(max), "%d", ME_HOOKS_MAX);
	argv[0] = "EVAL";
	argv[1] = me_lua_add;
	argv[2] = "1";
	argv[3] = key;
	argv[4] = max;
	argv[5] = out->id;
	argv[6] = json;
	if ((rep = store_run(s, 7, argv)) == NULL || rep->type != REDIS_REPLY_INTEGER)
		goto out;
	if (rep->integer == 0) {
		rc = ME_EFULL;
		goto out;
	}
	if ((out->url = strdup(url)) == NULL || (out->secret = strdup(secret)) == NULL)
		goto out;
	rc = 0;
out:
	if (rc != 0) {
		free(out->url);
		free(out->secret);
		out->url = out->secret = NULL;
	}
	if (rep != NULL)
		freeReplyObject(rep);
	if (json != NULL)
		OPENSSL_cleanse(json, strlen(json));
	free(json);
	cJSON_Delete(o);
	OPENSSL_cleanse(secret, sizeof(secret));
	return rc;
}

/* One stored hook's JSON into h. 0, or -1 when it does not parse. */
static int
hook_parse(const char *json, struct me_hook *h)
{
	cJSON *o = cJSON_Parse(json);
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
	const cJSON *url = cJSON_GetObjectItemCaseSensitive(o, "url");
	const cJSON *sec = cJSON_GetObjectItemCaseSensitive(o, "secret");
	const cJSON *cr = cJSON_GetObjectItemCaseSensitive(o, "created");
	int rc = -1;

	if (!cJSON_IsString(id) || strlen(id->valuestring) >= sizeof(h->id) ||
	    !cJSON_IsString(url) || !cJSON_IsString(sec))
		goto out;
	snprintf(h->id, sizeof(h->id), "%s", id->valuestring);
	h->created = cJSON_IsNumber(cr) ? (long long)cr->valuedouble : 0;
	if ((h->url = strdup(url->valuestring)) == NULL ||
	    (h->secret = strdup(sec->valuestring)) == NULL)
		goto out;
	rc = 0;
out:
	cJSON_Delete(o);
	return rc;
}

int
me_hook_list(const struct store *s, const char *user, struct me_hook **out, size_t *n)
{
	char key[ME_KEY_MAX];
	const char *argv[] = {"HVALS", key};
	struct me_hook *h = NULL;
	redisReply *rep;
	size_t i, k = 0;
	int rc = STORE_EDOWN;

	me_key(s, key, sizeof(key), user, ME_KEY_HOOKS);
	if ((rep = store_run(s, 2, argv)) == NULL)
		return STORE_EDOWN;
	if (rep->type != REDIS_REPLY_ARRAY || (h = calloc(rep->elements + 1, sizeof(*h))) == NULL)
		goto out;
	for (i = 0; i < rep->elements; i++)
		if (rep->element[i]->type == REDIS_REPLY_STRING &&
		    hook_parse(rep->element[i]->str, &h[k]) == 0)
			k++;
	*out = h;
	*n = k;
	h = NULL;
	rc = 0;
out:
	me_hooks_free(h, k);
	freeReplyObject(rep);
	return rc;
}

int
me_hook_del(const struct store *s, const char *user, const char *id)
{
	char key[ME_KEY_MAX];
	const char *argv[] = {"HDEL", key, id};
	redisReply *rep;
	int rc;

	me_key(s, key, sizeof(key), user, ME_KEY_HOOKS);
	if ((rep = store_run(s, 3, argv)) == NULL)
		return STORE_EDOWN;
	rc = rep->type != REDIS_REPLY_INTEGER ? STORE_EDOWN
	     : rep->integer == 0              ? STORE_ENOTFOUND
					      : 0;
	freeReplyObject(rep);
	return rc;
}

int
me_email_get(const struct store *s, const char *user, int *on)
{
	char key[ME_KEY_MAX];
	const char *argv[] = {"HGET", key, "email"};
	redisReply *rep;

	me_key(s, key, sizeof(key), user, NULL);
	if ((rep = store_run(s, 3, argv)) == NULL)
		return STORE_EDOWN;
	*on = rep->type == REDIS_REPLY_STRING && strcmp(rep->str, "1") == 0;
	freeReplyObject(rep);
	return 0;
}

int
me_email_set(const struct store *s, const char *user, int on)
{
	char key[ME_KEY_MAX];
	const char *argv[] = {"HSET", key, "email", on ? "1" : "0"};
	redisReply *rep;

	me_key(s, key, sizeof(key), user, NULL);
	if ((rep = store_run(s, 4, argv)) == NULL)
		return STORE_EDOWN;
	freeReplyObject(rep);
	return 0;
}
