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
			"\"time\":1700000000}");
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
