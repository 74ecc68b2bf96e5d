/* pkictl bulk input: folders and JSON Lines, deterministic ids, the producer profile. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../pkictl/extern.h"
#include "csrfix.h"
#include "test.h"

#define P256_CN "p256.certtool.example.com"
#define RSA_CN "rsa2048.certtool.example.com"

static const struct bulk_defaults defaults = {BULK_VALIDITY_DEFAULT, NULL, NULL};

/* A fresh temporary folder (static buffer). */
static const char *
tmpdir(void)
{
	static char dir[] = "/tmp/bulkin-test.XXXXXX";

	CHECK(mkdtemp(dir) != NULL);
	return dir;
}

/* Removes a folder made by tmpdir. */
static void
rmdir_all(const char *dir)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

/* Writes text to dir/name. */
static void
put(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	CHECK((f = fopen(path, "w")) != NULL);
	fputs(text, f);
	fclose(f);
}

static char *
csr_text(const char *name)
{
	size_t len;

	return (char *)fix_csr("good", name, &len);
}

/* Reads path; fails the test with the error unless it reads. */
static struct bulk_input *
read_ok(const char *path, const struct bulk_defaults *d)
{
	struct bulk_input *in = NULL;
	char err[BULK_ERR_MAX];

	if (bulkin_read(path, d, &in, err) != 0)
		test_fail(__FILE__, __LINE__, "bulkin_read: %s", err);
	return in;
}

/* Reads path and expects a failure whose message contains want. */
static void
read_fails(const char *path, const char *want)
{
	struct bulk_input *in = NULL;
	char err[BULK_ERR_MAX] = "";

	if (bulkin_read(path, &defaults, &in, err) == 0)
		test_fail(__FILE__, __LINE__, "%s: read, expected an error with \"%s\"", path, want);
	if (strstr(err, want) == NULL)
		test_fail(__FILE__, __LINE__, "error \"%s\" lacks \"%s\"", err, want);
}

/* Computed apart: Python, hashlib.sha256(b"bk-alice-1\nbatch-1\nweb01").digest()[:16].hex(). */
TEST(bulk_request_id_vector)
{
	char id[BULK_REQUEST_ID_BUF], id2[BULK_REQUEST_ID_BUF];

	bulk_request_id("bk-alice-1", "batch-1", "web01", id);
	CHECK_STR(id, "b436a3436d027881de3dbebfffc670013");
	bulk_request_id("bk-alice-1", "batch-2", "web01", id2);
	CHECK(strcmp(id, id2) != 0);
	bulk_request_id("bk-alice-2", "batch-1", "web01", id2);
	CHECK(strcmp(id, id2) != 0);
}

TEST(bulkin_dir)
{
	const char *dir = tmpdir();
	char *p256 = csr_text("certtool-p256.pem"), *rsa = csr_text("certtool-rsa2048.pem");
	struct bulk_input *in;

	put(dir, "web02.csr", p256);
	put(dir, "web01.pem", rsa);
	put(dir, "web01.chain.pem", "-----BEGIN CERTIFICATE-----\nMII=\n-----END CERTIFICATE-----\n");
	put(dir, "web01.crt", "not read");
	put(dir, "key.pem", "-----BEGIN PRIVATE KEY-----\nMII=\n-----END PRIVATE KEY-----\n");
	put(dir, ".hidden.csr", p256);
	put(dir, "broken.csr", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE "
			       "REQUEST-----\n");
	in = read_ok(dir, &defaults);
	CHECK(in->is_dir);
	CHECK_STR(in->out_dir, dir);
	CHECK_INT(in->n, 3);
	/* Sorted by name; CNs from the CSRs; the defaults applied. */
	CHECK_STR(in->items[0].name, "broken");
	CHECK_INT(in->items[0].state, BULK_ITEM_LOCAL);
	CHECK_STR(in->items[0].code, "csr_malformed");
	CHECK_STR(in->items[1].name, "web01");
	CHECK_STR(in->items[1].common_name, RSA_CN);
	CHECK_INT(in->items[1].state, BULK_ITEM_NEW);
	CHECK_STR(in->items[2].name, "web02");
	CHECK_STR(in->items[2].common_name, P256_CN);
	CHECK_INT(in->items[2].validity_days, BULK_VALIDITY_DEFAULT);
	CHECK(in->items[2].ca_id == NULL);
	CHECK_STR(in->items[2].out_dir, dir);
	bulkin_free(in);

	/* NAME.csr and NAME.pem: the same NAME twice. */
	put(dir, "web02.pem", p256);
	read_fails(dir, "NAME \"web02\" appears twice");
	free(p256);
	free(rsa);
	rmdir_all(dir);
}

TEST(bulkin_dir_refuses_bad_names_and_empty)
{
	const char *dir = tmpdir();
	char *p256 = csr_text("certtool-p256.pem");

	read_fails(dir, "no CSRs found");
	put(dir, "my web.csr", p256);
	read_fails(dir, "NAME \"my web\" must be");
	read_fails("/nonexistent/bulk", "/nonexistent/bulk: No such file");
	free(p256);
	rmdir_all(dir);
}

/* One JSON line with csr and extra members (JSON text, starting with ','). */
static char *
line(const char *name, const char *csr, const char *extra)
{
	cJSON *o = cJSON_CreateObject(), *x;
	char *s, *t;
	size_t n;

	cJSON_AddStringToObject(o, "name", name);
	cJSON_AddStringToObject(o, "csr", csr);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	n = strlen(s) + strlen(extra) + 2;
	CHECK((t = malloc(n)) != NULL);
	snprintf(t, n, "%.*s%s}\n", (int)strlen(s) - 1, s, extra);
	CHECK((x = cJSON_Parse(t)) != NULL);
	cJSON_Delete(x);
	free(s);
	return t;
}

TEST(bulkin_jsonl)
{
	const char *dir = tmpdir();
	char *p256 = csr_text("certtool-p256.pem"), *l1, *l2, path[512], text[16384];
	struct bulk_defaults d = {30, "demo-issuing", NULL};
	struct bulk_input *in;

	l1 = line("b", p256,
		  ",\"common_name\":\"www.acme.example\",\"validity_days\":7,\"ca_id\":\"other\","
		  "\"extensions\":[\"client_auth\",\"server_auth\"],\"purpose\":\"tls\"");
	l2 = line("a", p256, "");
	snprintf(text, sizeof(text), "%s\n   \n%s", l1, l2);
	put(dir, "in.jsonl", text);
	snprintf(path, sizeof(path), "%s/in.jsonl", dir);
	in = read_ok(path, &d);
	CHECK(!in->is_dir);
	CHECK_STR(in->out_dir, dir);
	CHECK_INT(in->n, 2);
	CHECK_STR(in->items[0].name, "a");
	CHECK_STR(in->items[0].common_name, P256_CN);
	CHECK_INT(in->items[0].validity_days, 30);
	CHECK_STR(in->items[0].ca_id, "demo-issuing");
	CHECK(in->items[0].purpose == NULL && in->items[0].extensions == 0);
	CHECK_STR(in->items[1].common_name, "www.acme.example");
	CHECK_INT(in->items[1].validity_days, 7);
	CHECK_STR(in->items[1].ca_id, "other");
	CHECK_STR(in->items[1].purpose, "tls");
	CHECK_INT(in->items[1].extensions, EXT_CLIENT_AUTH | EXT_SERVER_AUTH);
	bulkin_free(in);

	d.out_dir = "/elsewhere";
	in = read_ok(path, &d);
	CHECK_STR(in->out_dir, "/elsewhere");
	bulkin_free(in);
	free(l1);
	free(l2);
	free(p256);
	rmdir_all(dir);
}

TEST(bulkin_jsonl_refusals)
{
	static const struct {
		const char *extra, *want;
	} cases[] = {
	    {",\"colour\":\"red\"", "in.jsonl:2: unknown key \"colour\""},
	    {",\"validity_days\":0", "in.jsonl:2: \"validity_days\": must be an integer 1..3650"},
	    {",\"validity_days\":\"9\"", "\"validity_days\": must be an integer"},
	    {",\"extensions\":[\"ssh\"]", "\"extensions\": each must be server_auth"},
	    {",\"ca_id\":\"a b\"", "\"ca_id\": must be 1..63 characters"},
	    {",\"common_name\":\"\"", "\"common_name\": must be a non-empty string"},
	};
	const char *dir = tmpdir();
	char *p256 = csr_text("certtool-p256.pem"), *good = line("a", p256, ""), *bad;
	char path[512], text[16384];
	size_t i;

	snprintf(path, sizeof(path), "%s/in.jsonl", dir);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bad = line("b", p256, cases[i].extra);
		snprintf(text, sizeof(text), "%s%s", good, bad);
		put(dir, "in.jsonl", text);
		read_fails(path, cases[i].want);
		free(bad);
	}
	snprintf(text, sizeof(text), "%s%s", good, good);
	put(dir, "in.jsonl", text);
	read_fails(path, "NAME \"a\" appears twice");
	put(dir, "in.jsonl", "{\"name\":\"a\"}\n");
	read_fails(path, "in.jsonl:1: \"csr\": required");
	put(dir, "in.jsonl", "[1,2]\n");
	read_fails(path, "in.jsonl:1: must be a JSON object");
	put(dir, "in.jsonl", "{\"name\": \"../x\", \"csr\": \"x\"}\n");
	read_fails(path, "\"name\": must be 1..127 characters");
	put(dir, "in.jsonl", "not json\n");
	read_fails(path, "in.jsonl:1: not a JSON object");
	free(good);
	free(p256);
	rmdir_all(dir);
}

TEST(bulk_batch_default_follows_the_input)
{
	const char *dir = tmpdir();
	char *p256 = csr_text("certtool-p256.pem"), *rsa = csr_text("certtool-rsa2048.pem");
	char b1[BULK_BATCH_ID_BUF], b2[BULK_BATCH_ID_BUF], b3[BULK_BATCH_ID_BUF];
	struct bulk_defaults d = defaults;
	struct bulk_input *in;

	put(dir, "x.csr", p256);
	put(dir, "y.csr", rsa);
	in = read_ok(dir, &d);
	bulk_batch_default("bk-1", in, b1);
	bulkin_free(in);
	in = read_ok(dir, &d);
	bulk_batch_default("bk-1", in, b2);
	CHECK_STR(b1, b2);
	CHECK_INT(strlen(b1), strlen(BULK_BATCH_PREFIX) + BULK_REQUEST_ID_HEX);
	CHECK(strncmp(b1, BULK_BATCH_PREFIX, strlen(BULK_BATCH_PREFIX)) == 0);
	bulk_batch_default("bk-2", in, b3);
	CHECK(strcmp(b1, b3) != 0); /* another key */
	bulkin_free(in);
	d.validity_days = 5;
	in = read_ok(dir, &d);
	bulk_batch_default("bk-1", in, b3);
	CHECK(strcmp(b1, b3) != 0); /* another option */
	bulkin_free(in);
	put(dir, "y.csr", p256);
	in = read_ok(dir, &defaults);
	bulk_batch_default("bk-1", in, b3);
	CHECK(strcmp(b1, b3) != 0); /* another CSR */
	bulkin_free(in);
	free(p256);
	free(rsa);
	rmdir_all(dir);
}

TEST(bulk_profile)
{
	const char *dir = tmpdir();
	char path[512], err[BULK_ERR_MAX];
	struct bulk_profile *p = NULL;
	static const char hex[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
	char text[1024];

	snprintf(path, sizeof(path), "%s/alice.json", dir);
	snprintf(text, sizeof(text),
		 "{\"user\":\"alice\",\"key_id\":\"bk-alice-1\",\"secret\":\"%s\",\"kafka\":"
		 "{\"bootstrap\":\"127.0.0.1:9093\",\"ca\":\"/k/ca.pem\",\"cert\":\"/k/a.crt\","
		 "\"key\":\"/k/a.key\"}}",
		 hex);
	put(dir, "alice.json", text);
	if (bulk_profile_load(path, &p, err) != 0)
		test_fail(__FILE__, __LINE__, "%s", err);
	CHECK_STR(p->user, "alice");
	CHECK_STR(p->key_id, "bk-alice-1");
	CHECK_INT(p->secret[0], 0);
	CHECK_INT(p->secret[31], 0x1f);
	CHECK_STR(p->bootstrap, "127.0.0.1:9093");
	CHECK_STR(p->cert, "/k/a.crt");
	bulk_profile_free(p);
	p = NULL;

	put(dir, "alice.json", "{\"user\":\"alice\",\"key_id\":\"bk-1\",\"secret\":\"abc\"}");
	CHECK_INT(bulk_profile_load(path, &p, err), -1);
	CHECK(strstr(err, "\"secret\": must be 64 hex digits, got 3 characters") != NULL);
	snprintf(text, sizeof(text),
		 "{\"user\":\"alice\",\"key_id\":\"bk-1\",\"secret\":\"%s\",\"kafka\":{\"cert\":"
		 "\"a.crt\"}}",
		 hex);
	put(dir, "alice.json", text);
	CHECK_INT(bulk_profile_load(path, &p, err), -1);
	CHECK(strstr(err, "\"cert\" and \"key\" go together") != NULL);
	snprintf(text, sizeof(text), "{\"user\":\"alice\",\"secret\":\"%s\"}", hex);
	put(dir, "alice.json", text);
	CHECK_INT(bulk_profile_load(path, &p, err), -1);
	CHECK(strstr(err, "\"key_id\": required") != NULL);
	CHECK(p == NULL);
	rmdir_all(dir);
}
