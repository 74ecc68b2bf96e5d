/*
 * pkictl user add-bulk-key: a bulk producer's signing key. The secret goes to
 * bulk/keys/KEY_ID.key (read only by workers, through bulk_keys in the
 * config) and, with the producer's Kafka client files, to the profile
 * bulk/USER.json that is handed to whoever runs the producer.
 */
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "extern.h"
#include "hex.h"

#define BULK_DIR "bulk"
#define BULK_KEYS_DIR "bulk/keys"
#define BULK_DIR_MODE 0700
#define BULK_SECRET_HEX (2 * CONFIG_BULK_SECRET_BYTES)
#define BULK_KEY_SERIAL_MAX 999 /* default ids USER-1 .. USER-999 */
#define KAFKA_CA_FILE "kafka/ca.pem"
#define KAFKA_PRINCIPAL_PREFIX "bulk-" /* the producer's Kafka client certificate: bulk-USER */

/* The first free id USER-N into out, or -1 after an error. */
static int
bulk_key_default_id(struct cfgfile *cf, const char *user, char *out, size_t outlen)
{
	int n;

	for (n = 1; n <= BULK_KEY_SERIAL_MAX; n++) {
		if ((size_t)snprintf(out, outlen, "%s-%d", user, n) > ID_MAX) {
			pk_err("--user: \"%s\" is too long to make a key id from; give --id", user);
			return -1;
		}
		if (cfgfile_find(cf, "bulk_keys", "id", out) == NULL)
			return 0;
	}
	pk_err("--user: %s has %d bulk keys already; give --id", user, BULK_KEY_SERIAL_MAX);
	return -1;
}

/*
 * The producer's profile (plan of issue 12): user, key id, secret, and the
 * Kafka bootstrap and client files as absolute paths under the config's
 * folder dir. Caller frees.
 */
static char *
bulk_profile(const char *dir, const char *bootstrap, const char *user, const char *id,
	     const char *hex)
{
	char path[PATH_MAX];
	cJSON *o = cJSON_CreateObject(), *k;
	char *text = NULL;

	if (o == NULL || cJSON_AddStringToObject(o, "user", user) == NULL ||
	    cJSON_AddStringToObject(o, "key_id", id) == NULL ||
	    cJSON_AddStringToObject(o, "secret", hex) == NULL ||
	    (k = cJSON_AddObjectToObject(o, "kafka")) == NULL ||
	    cJSON_AddStringToObject(k, "bootstrap", bootstrap) == NULL)
		goto out;
	snprintf(path, sizeof(path), "%s/%s", dir, KAFKA_CA_FILE);
	if (cJSON_AddStringToObject(k, "ca", path) == NULL)
		goto out;
	snprintf(path, sizeof(path), "%s/kafka/" KAFKA_PRINCIPAL_PREFIX "%s.crt", dir, user);
	if (cJSON_AddStringToObject(k, "cert", path) == NULL)
		goto out;
	snprintf(path, sizeof(path), "%s/kafka/" KAFKA_PRINCIPAL_PREFIX "%s.key", dir, user);
	if (cJSON_AddStringToObject(k, "key", path) == NULL)
		goto out;
	text = cJSON_Print(o);
out:
	cJSON_Delete(o);
	return text;
}

/* Writes text to a new temporary file beside final (mode 0600); its name goes to tmp. */
static int
bulk_write_tmp(const char *final, const char *text, char *tmp, size_t tmplen)
{
	const char *slash = strrchr(final, '/');
	size_t len = strlen(text);
	int fd, rc = -1;

	if ((size_t)snprintf(tmp, tmplen, "%.*s/.%s.XXXXXX", (int)(slash - final), final,
			     slash + 1) >= tmplen) {
		pk_err("%s: path too long", final);
		return -1;
	}
	if ((fd = mkstemp(tmp)) < 0) {
		pk_err("%s: cannot create a temporary file: %s", tmp, strerror(errno));
		return -1;
	}
	if (fchmod(fd, SECRET_FILE_MODE) != 0 || write(fd, text, len) != (ssize_t)len ||
	    write(fd, "\n", 1) != 1 || fsync(fd) != 0)
		pk_err("%s: write failed: %s", tmp, strerror(errno));
	else
		rc = 0;
	if (close(fd) != 0 && rc == 0) {
		pk_err("%s: write failed: %s", tmp, strerror(errno));
		rc = -1;
	}
	if (rc != 0)
		unlink(tmp);
	return rc;
}

int
cmd_user_add_bulk_key(const struct command *cmd, int argc, char **argv)
{
	const char *user = NULL, *id_flag = NULL, *config;
	const struct flag flags[] = {
	    {"--user", "USER", "the user the key's messages act as", &user, NULL, 1},
	    {"--id", "KEY_ID", "key id (default USER-N, the first free N)", &id_flag, NULL, 0},
	};
	unsigned char secret[CONFIG_BULK_SECRET_BYTES];
	char id[ID_MAX + 1], hex[BULK_SECRET_HEX + 2], rel[PATH_MAX];
	char tmp[PATH_MAX] = "", profile_path[PATH_MAX];
	char *dir = NULL, *keys_dir = NULL, *key_path = NULL, *profile = NULL;
	const cJSON *brokers;
	struct cfgfile *cf = NULL;
	cJSON *keys, *k = NULL;
	int rc;

	if ((rc = args_parse(cmd, flags, sizeof(flags) / sizeof(flags[0]), argc, argv, &config)))
		return rc > 0 ? 0 : -1;
	rc = -1;
	if (check_id("--user", user) != 0 ||
	    (id_flag != NULL && check_id("--id", id_flag) != 0))
		goto out;
	if (cfgfile_open(config, &cf) != 0 || (keys = cfgfile_array(cf, "bulk_keys")) == NULL)
		goto out;
	if (cfgfile_find(cf, "users", "name", user) == NULL) {
		pk_err("--user: no user named \"%s\" in %s (add it with 'pkictl user add')", user,
		       config);
		goto out;
	}
	if (id_flag != NULL && cfgfile_find(cf, "bulk_keys", "id", id_flag) != NULL) {
		pk_err("--id: a bulk key with id \"%s\" already exists in %s", id_flag, config);
		goto out;
	}
	if (id_flag != NULL)
		snprintf(id, sizeof(id), "%s", id_flag);
	else if (bulk_key_default_id(cf, user, id, sizeof(id)) != 0)
		goto out;
	brokers = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(cf->root, "kafka"), "brokers");
	if (!cJSON_IsString(brokers)) {
		pk_err("%s: kafka.brokers: must be a string (the producer's bootstrap)", config);
		goto out;
	}
	if ((dir = realpath(cf->dir, NULL)) == NULL) {
		pk_err("%s: cannot resolve: %s", cf->dir, strerror(errno));
		goto out;
	}
	snprintf(rel, sizeof(rel), "%s/%s.key", BULK_KEYS_DIR, id);
	if ((keys_dir = cfgfile_resolve(cf, BULK_KEYS_DIR)) == NULL ||
	    (key_path = cfgfile_resolve(cf, rel)) == NULL)
		goto out;
	if (access(key_path, F_OK) == 0) {
		pk_err("--id: %s already exists; refusing to replace it", key_path);
		goto out;
	}
	if (RAND_bytes(secret, sizeof(secret)) != 1) {
		pk_sslerr("RAND_bytes");
		goto out;
	}
	hex_encode(secret, sizeof(secret), hex);
	hex[BULK_SECRET_HEX] = '\n';
	hex[BULK_SECRET_HEX + 1] = '\0';
	if (mkdirs(keys_dir, BULK_DIR_MODE) != 0 ||
	    file_write_new(key_path, hex, BULK_SECRET_HEX + 1, SECRET_FILE_MODE) != 0)
		goto out;
	if (cfgfile_track(cf, key_path) != 0) {
		unlink(key_path);
		goto out;
	}
	hex[BULK_SECRET_HEX] = '\0';
	/* The profile is written aside first and put in place once the config is. */
	snprintf(profile_path, sizeof(profile_path), "%s/%s/%s.json", dir, BULK_DIR, user);
	if ((profile = bulk_profile(dir, brokers->valuestring, user, id, hex)) == NULL ||
	    bulk_write_tmp(profile_path, profile, tmp, sizeof(tmp)) != 0)
		goto out;
	if (cfgfile_track(cf, tmp) != 0) {
		unlink(tmp);
		goto out;
	}
	if ((k = cJSON_CreateObject()) == NULL || cJSON_AddStringToObject(k, "id", id) == NULL ||
	    cJSON_AddStringToObject(k, "user", user) == NULL ||
	    cJSON_AddStringToObject(k, "secret_file", rel) == NULL)
		goto out;
	cJSON_AddItemToArray(keys, k);
	k = NULL;
	if (cfgfile_commit(cf) != 0)
		goto out;
	if (rename(tmp, profile_path) != 0) {
		pk_err("%s: cannot create: %s (the key %s is in the config; its secret is in %s)",
		       profile_path, strerror(errno), id, key_path);
		goto out;
	}
	/* The only time the secret is shown: stdout gets it alone, for scripts. */
	printf("%s\n", hex);
	if (fflush(stdout) != 0) {
		pk_err("writing the secret to stdout failed");
		goto out;
	}
	pk_err("bulk key %s added for %s (secret in %s, profile %s); the Kafka client "
	       "certificate is made by 'pkictl kafka cert " KAFKA_PRINCIPAL_PREFIX "%s'",
	       id, user, key_path, profile_path, user);
	rc = 0;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(hex, sizeof(hex));
	if (profile != NULL) {
		OPENSSL_cleanse(profile, strlen(profile));
		free(profile);
	}
	cJSON_Delete(k);
	free(dir);
	free(keys_dir);
	free(key_path);
	cfgfile_free(cf);
	return rc;
}
