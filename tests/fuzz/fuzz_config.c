/*
 * libFuzzer target over the config loader: the input is the config file's
 * text, written to config.json in a scratch folder that holds the files a
 * config names (cas/root.crt, cas/int.crt and cas/int.key from the test CAs,
 * grant.key, bulk.key, redis.pass), and loaded with config_load as the
 * worker does. A loaded config is then read the way the services read it
 * (CA and user lookups, each service's Redis login). A refusal must say why.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_HEX_SECRET "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"

static char dir[PATH_MAX], path[PATH_MAX + 16];

static void
fuzz_die(const char *what)
{
	fprintf(stderr, "fuzz_config: cannot set up %s in %s\n", what, dir);
	abort();
}

/* Writes text to dir/name with mode. */
static void
fuzz_file(const char *name, const char *text, mode_t mode)
{
	char p[PATH_MAX + 32];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	if ((f = fopen(p, "w")) == NULL || fputs(text, f) == EOF || fclose(f) != 0 ||
	    chmod(p, mode) != 0)
		fuzz_die(name);
}

/* dir/name -> cadir/file. */
static void
fuzz_link(const char *cadir, const char *file, const char *name)
{
	char from[PATH_MAX + 32], to[PATH_MAX + 32];

	snprintf(to, sizeof(to), "%s/%s", cadir, file);
	snprintf(from, sizeof(from), "%s/%s", dir, name);
	if (symlink(to, from) != 0)
		fuzz_die(name);
}

static void
fuzz_config_cleanup(void)
{
	static const char *const names[] = {"cas/root.crt", "cas/int.crt", "cas/int.key",
					    "cas",          "grant.key",   "bulk.key",
					    "redis.pass",   "config.json"};
	char p[PATH_MAX + 32];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		if (unlink(p) != 0)
			rmdir(p);
	}
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *ca =
	    getenv("PKI_TEST_CA_DIR") ? getenv("PKI_TEST_CA_DIR") : "tests/fixtures/ca";
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char cadir[PATH_MAX], sub[PATH_MAX + 8];

	(void)argc;
	(void)argv;
	if (realpath(ca, cadir) == NULL) {
		fprintf(stderr, "fuzz_config: no test CAs at %s (run from the repo root)\n", ca);
		abort();
	}
	snprintf(dir, sizeof(dir), "%s/fuzz-config.XXXXXX", tmp);
	if (mkdtemp(dir) == NULL)
		fuzz_die("the scratch folder");
	atexit(fuzz_config_cleanup);
	snprintf(sub, sizeof(sub), "%s/cas", dir);
	if (mkdir(sub, 0700) != 0)
		fuzz_die("cas");
	fuzz_link(cadir, "root-ec-p256.pem", "cas/root.crt");
	fuzz_link(cadir, "int-ec-p256.pem", "cas/int.crt");
	fuzz_link(cadir, "int-ec-p256.key", "cas/int.key");
	fuzz_file("grant.key", FUZZ_HEX_SECRET, 0600);
	fuzz_file("bulk.key", FUZZ_HEX_SECRET, 0600);
	fuzz_file("redis.pass", "fuzz-redis-password-0123456789\n", 0600);
	snprintf(path, sizeof(path), "%s/config.json", dir);
	return 0;
}

/* Reads cfg as the services do; each answer must be consistent with cfg. */
static void
fuzz_config_use(const struct config *cfg)
{
	char pw[CONFIG_REDIS_PASSWORD_MAX + 1], err[CONFIG_ERR_MAX];
	const char *user;
	size_t i;

	for (i = 0; i < cfg->ncas; i++)
		if (config_ca_find(cfg, cfg->cas[i].id) == NULL)
			abort();
	for (i = 0; i < cfg->nusers; i++)
		if (config_user_find(cfg, cfg->users[i].name) == NULL)
			abort();
	config_user_by_key(cfg, "pki_fuzz");
	for (i = 0; i < SERVICE_COUNT; i++)
		if (config_redis_login(cfg, config_service_name((enum service)i), &user, pw, err) <
			0 &&
		    err[0] == '\0')
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = NULL;
	char err[CONFIG_ERR_MAX] = "";
	FILE *f;

	if ((f = fopen(path, "wb")) == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		fuzz_die("config.json");
	if (config_load(path, CONFIG_LOAD_BULK_KEYS, &cfg, err) != 0) {
		if (err[0] == '\0')
			abort(); /* a refusal always says why */
		return 0;
	}
	fuzz_config_use(cfg);
	config_free(cfg);
	return 0;
}
