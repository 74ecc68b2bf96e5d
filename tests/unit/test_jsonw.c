/* Hand-written JSON (log lines, audit events) against cJSON's reading and printing. */
#include <cJSON.h>
#include <stdlib.h>

#include "audit.h"
#include "jsonw.h"
#include "test.h"

/* Strings with every kind of byte the escaper treats differently. */
static const char *const jsonw_cases[] = {
    "",
    "plain",
    "quote \" and backslash \\",
    "new\nline\ttab\rcr\bbs\fff",
    "\x01\x1f control",
    "caf\xc3\xa9 \xe2\x82\xac",
    "\x7f del",
    "end\\",
};

TEST(jsonw_str_matches_cjson)
{
	char buf[256];
	size_t i;

	for (i = 0; i < sizeof(jsonw_cases) / sizeof(jsonw_cases[0]); i++) {
		struct jsonw w = {buf, sizeof(buf), 0, 0};
		cJSON *s = cJSON_CreateString(jsonw_cases[i]), *back;
		char *want = cJSON_PrintUnformatted(s);

		jsonw_str(&w, jsonw_cases[i]);
		CHECK(!w.err);
		CHECK_STR(buf, want);
		back = cJSON_Parse(buf);
		CHECK(cJSON_IsString(back));
		CHECK_STR(back->valuestring, jsonw_cases[i]);
		cJSON_Delete(back);
		cJSON_Delete(s);
		free(want);
	}
}

TEST(jsonw_overflow_sets_err)
{
	char buf[8];
	struct jsonw w = {buf, sizeof(buf), 0, 0};

	jsonw_str(&w, "abc");
	CHECK(!w.err);
	jsonw_str(&w, "toolong");
	CHECK(w.err);
	CHECK(w.len < sizeof(buf)); /* never past the end, still terminated */
	CHECK_INT(strlen(buf), w.len);
	jsonw_raw(&w, "x");
	CHECK(w.err);
}

TEST(audit_encode_fields)
{
	struct audit_event ev = {.event = "rejected",
				 .request_id = "r-1",
				 .actor = "al\"ice",
				 .tenant = "acme",
				 .client_ip = "127.0.0.1",
				 .detail = "422 csr_invalid: bad\nline \xc3\xa9"};
	char *s = audit_encode(&ev);
	cJSON *o = cJSON_Parse(s);

	CHECK(o != NULL);
	CHECK_INT(cJSON_GetObjectItem(o, "v")->valueint, 1);
	CHECK_STR(cJSON_GetObjectItem(o, "event")->valuestring, "rejected");
	CHECK_STR(cJSON_GetObjectItem(o, "actor")->valuestring, "al\"ice");
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(o, "ca_id")));
	CHECK_STR(cJSON_GetObjectItem(o, "detail")->valuestring, ev.detail);
	CHECK_INT(strlen(cJSON_GetObjectItem(o, "time")->valuestring), 24);
	CHECK_INT(cJSON_GetArraySize(o), 9);
	cJSON_Delete(o);
	free(s);
}
