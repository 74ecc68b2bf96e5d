/* Hand-written JSON (log lines, audit events) against cJSON's reading and printing. */
#include <cJSON.h>
#include <stdlib.h>
#include <unistd.h>

#include "audit.h"
#include "jsonw.h"
#include "log.h"
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

/* Runs log_msg with stderr sent to a file; returns the line parsed (caller deletes). */
static cJSON *
jsonw_log_line(const char *request_id, const char *msg)
{
	char path[] = "/tmp/pki-log-XXXXXX", *buf;
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	cJSON *o;
	off_t n;

	CHECK(fd >= 0 && saved >= 0);
	unlink(path);
	dup2(fd, STDERR_FILENO);
	log_msg(LOG_ERROR, request_id, "%s", msg);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = lseek(fd, 0, SEEK_END);
	CHECK(n > 0 && (buf = calloc(1, (size_t)n + 1)) != NULL);
	CHECK(pread(fd, buf, (size_t)n, 0) == n);
	close(fd);
	CHECK(buf[n - 1] == '\n' && strchr(buf, '\n') == buf + n - 1); /* one line */
	o = cJSON_Parse(buf);
	free(buf);
	CHECK(o != NULL);
	return o;
}

TEST(log_lines_are_json_whatever_the_message)
{
	char *ctl = malloc(8000), *rid = malloc(60000);
	cJSON *o;

	memset(ctl, '\x01', 7999);
	ctl[7999] = '\0';
	memset(rid, 'r', 59999);
	rid[59999] = '\0';
	o = jsonw_log_line("req-1", "plain \"quoted\"\n");
	CHECK_STR(cJSON_GetObjectItem(o, "msg")->valuestring, "plain \"quoted\"\n");
	CHECK_STR(cJSON_GetObjectItem(o, "request_id")->valuestring, "req-1");
	CHECK_STR(cJSON_GetObjectItem(o, "level")->valuestring, "error");
	cJSON_Delete(o);
	o = jsonw_log_line("req-2", ctl); /* escaped to six times its size */
	CHECK_STR(cJSON_GetObjectItem(o, "msg")->valuestring, ctl);
	CHECK_STR(cJSON_GetObjectItem(o, "request_id")->valuestring, "req-2");
	cJSON_Delete(o);
	o = jsonw_log_line(rid, "outsized id"); /* written without the id */
	CHECK_STR(cJSON_GetObjectItem(o, "msg")->valuestring, "outsized id");
	CHECK(cJSON_GetObjectItem(o, "request_id") == NULL);
	cJSON_Delete(o);
	free(ctl);
	free(rid);
}
