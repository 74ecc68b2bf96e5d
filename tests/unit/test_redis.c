/* redis_addr_parse: accepted forms and refusals with their messages. */
#include "redis.h"
#include "test.h"

TEST(redis_addr_parse_table)
{
	static const struct {
		const char *url;
		const char *host;
		int port, db;
		const char *user, *password;
		const char *err; /* substring of the message, NULL when accepted */
	} cases[] = {
	    {"redis://127.0.0.1:16379/0", "127.0.0.1", 16379, 0, "", "", NULL},
	    {"redis://localhost", "localhost", 6379, 0, "", "", NULL},
	    {"redis://h:1/15", "h", 1, 15, "", "", NULL},
	    {"redis://:s3cret@h:7000/2", "h", 7000, 2, "", "s3cret", NULL},
	    {"redis://user:pw@h", "h", 6379, 0, "user", "pw", NULL},
	    {"redis://pw@h", "h", 6379, 0, "", "pw", NULL},
	    {"http://h:1", NULL, 0, 0, NULL, NULL, "must start with redis://"},
	    {"redis://", NULL, 0, 0, NULL, NULL, "host missing"},
	    {"redis://:1", NULL, 0, 0, NULL, NULL, "host missing"},
	    {"redis://h:0", NULL, 0, 0, NULL, NULL, "port must be 1..65535"},
	    {"redis://h:70000", NULL, 0, 0, NULL, NULL, "port must be 1..65535"},
	    {"redis://h:12x", NULL, 0, 0, NULL, NULL, "port must be 1..65535"},
	    {"redis://h:1/x", NULL, 0, 0, NULL, NULL, "db must be a number"},
	    {"redis://h:1/300", NULL, 0, 0, NULL, NULL, "db must be a number"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct redis_addr a;
		char err[REDIS_ERR_MAX] = "";
		int rc = redis_addr_parse(cases[i].url, &a, err);

		if (cases[i].err == NULL) {
			if (rc != 0)
				test_fail(__FILE__, __LINE__, "%s: refused: %s", cases[i].url, err);
			CHECK_STR(a.host, cases[i].host);
			CHECK_INT(a.port, cases[i].port);
			CHECK_INT(a.db, cases[i].db);
			CHECK_STR(a.user, cases[i].user);
			CHECK_STR(a.password, cases[i].password);
		} else {
			if (rc == 0 || strstr(err, cases[i].err) == NULL)
				test_fail(__FILE__, __LINE__,
					  "%s: rc %d, message \"%s\", expected \"%s\"",
					  cases[i].url, rc, err, cases[i].err);
		}
	}
}

TEST(redis_unreachable_is_null_not_crash)
{
	char err[REDIS_ERR_MAX];
	struct redis *r = redis_new("redis://127.0.0.1:1/0", err);

	CHECK(r != NULL);
	CHECK(redis_cmd(r, "PING") == NULL);
	CHECK_INT(redis_ping(r), 0);
	redis_free(r);
}
