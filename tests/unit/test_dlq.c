/* The worker's dead letters (workers/dlq.c): the message's bytes kept whatever they are. */
#include <stdlib.h>

#include "../../workers/worker.h"
#include "test.h"

#define DLQ_TEST_TIME 1700000000

/* km with value "\xff{" on pki.issue[3]@42 and the given key. */
static struct kafka_msg
dlq_msg(const void *key, size_t key_len)
{
	struct kafka_msg km = {
	    .topic = "pki.issue",
	    .partition = 3,
	    .offset = 42,
	    .key = key,
	    .key_len = key_len,
	    .value = "\xff{",
	    .len = 2,
	};

	return km;
}

TEST(dlq_text_key)
{
	struct kafka_msg km = dlq_msg("req-1", 5);
	char *text = NULL, *key = NULL;

	CHECK_INT(dlq_encode(&km, "not JSON", DLQ_TEST_TIME, &text, &key), 0);
	CHECK_STR(key, "req-1");
	CHECK_STR(text, "{\"v\":1,\"error\":\"not JSON\",\"topic\":\"pki.issue\",\"partition\":3,"
			"\"offset\":42,\"key\":\"req-1\",\"value_base64\":\"/3s=\","
			"\"value_len\":2,\"time\":1700000000}");
	free(text);
	free(key);
}

TEST(dlq_binary_key)
{
	struct kafka_msg km = dlq_msg("a\0\xfe", 3);
	char *text = NULL, *key = NULL;

	CHECK_INT(dlq_encode(&km, "e", DLQ_TEST_TIME, &text, &key), 0);
	CHECK_STR(key, "YQD+");
	CHECK(strstr(text, "\"key_base64\":\"YQD+\"") != NULL);
	CHECK(strstr(text, "\"key\":") == NULL);
	free(text);
	free(key);
}

TEST(dlq_no_key)
{
	struct kafka_msg km = dlq_msg(NULL, 0);
	char *text = NULL, *key = (char *)"unset";

	CHECK_INT(dlq_encode(&km, "e", DLQ_TEST_TIME, &text, &key), 0);
	CHECK(key == NULL);
	CHECK(strstr(text, "key") == NULL);
	free(text);
}

/* A value of 1 MiB keeps its first 256 KiB (a dead letter the broker takes) and its length. */
TEST(dlq_long_value_cut)
{
	struct kafka_msg km = dlq_msg("k", 1);
	char *text = NULL, *key = NULL, *big = calloc(1, 1 << 20);
	cJSON *o = NULL;

	CHECK(big != NULL);
	km.value = big;
	km.len = 1 << 20;
	CHECK_INT(dlq_encode(&km, "e", DLQ_TEST_TIME, &text, &key), 0);
	CHECK((o = cJSON_Parse(text)) != NULL);
	CHECK_INT((int)cJSON_GetObjectItem(o, "value_len")->valuedouble, 1 << 20);
	CHECK_INT((int)strlen(cJSON_GetObjectItem(o, "value_base64")->valuestring),
		  256 * 1024 / 3 * 4 + 4);
	cJSON_Delete(o);
	free(text);
	free(key);
	free(big);
}
