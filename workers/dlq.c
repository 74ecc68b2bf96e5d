/*
 * Dead letters: a message of the issue or submit topic that cannot be
 * decoded at all, kept byte for byte on the dead-letter topic as
 * {"v":1, "error", "topic", "partition", "offset", "key"? or "key_base64"?
 * (a key that is not UTF-8 text), "value_base64", "value_len", "time"}. Of a
 * value longer than DLQ_VALUE_MAX only the first DLQ_VALUE_MAX bytes are kept
 * (value_len tells the whole length): a dead letter larger than the broker
 * takes could never be sent, and its partition would stop behind it.
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

#define DLQ_VALUE_MAX (256 * 1024)

/* Base64 of n bytes at p, NUL-terminated; NULL without memory. Caller frees. */
static char *
dlq_base64(const void *p, size_t n)
{
	char *s = malloc(4 * ((n + 2) / 3) + 1);

	if (s != NULL)
		EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	return s;
}

int
dlq_encode(const struct kafka_msg *km, const char *error, time_t now, char **text, char **key)
{
	char *b64 = NULL, *k = NULL, *t = NULL, *kb64 = NULL;
	char **dlq_key = NULL;
	cJSON *o = NULL;
	size_t kept = km->len < DLQ_VALUE_MAX ? km->len : DLQ_VALUE_MAX;
	int rc = -1;

	if ((b64 = dlq_base64(km->value, kept)) == NULL ||
	    (k = calloc(1, km->key_len + 1)) == NULL || (o = cJSON_CreateObject()) == NULL)
		goto out;
	cJSON_AddNumberToObject(o, "v", MSG_VERSION);
	cJSON_AddStringToObject(o, "error", error);
	cJSON_AddStringToObject(o, "topic", km->topic);
	cJSON_AddNumberToObject(o, "partition", km->partition);
	cJSON_AddNumberToObject(o, "offset", (double)km->offset);
	if (km->key != NULL && memchr(km->key, 0, km->key_len) == NULL &&
	    str_utf8_valid((const unsigned char *)km->key, km->key_len)) {
		memcpy(k, km->key, km->key_len);
		cJSON_AddStringToObject(o, "key", k);
		dlq_key = &k;
	} else if (km->key != NULL) {
		if ((kb64 = dlq_base64(km->key, km->key_len)) == NULL)
			goto out;
		cJSON_AddStringToObject(o, "key_base64", kb64);
		dlq_key = &kb64;
	}
	cJSON_AddStringToObject(o, "value_base64", b64);
	cJSON_AddNumberToObject(o, "value_len", (double)km->len);
	cJSON_AddNumberToObject(o, "time", (double)now);
	if ((t = cJSON_PrintUnformatted(o)) == NULL)
		goto out;
	*text = t;
	t = NULL;
	*key = NULL;
	if (dlq_key != NULL) {
		*key = *dlq_key;
		*dlq_key = NULL;
	}
	rc = 0;
out:
	free(kb64);
	free(t);
	cJSON_Delete(o);
	free(k);
	free(b64);
	return rc;
}
