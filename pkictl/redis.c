/*
 * Redis users: one ACL user per service with only the commands, keys and
 * channels it uses, pki-admin for operators and test tooling, the default
 * user off. `pkictl init` makes the passwords (redis/NAME.pass) and the ACL
 * file (redis/users.acl); `pkictl redis acl` writes the ACL file again from
 * the config (key patterns follow redis.prefix). The ACL file holds only
 * SHA-256 hashes of the passwords.
 *
 * The command lists are every command each service sends, including those
 * its Lua scripts call (Redis checks those against the caller's ACL too)
 * and SELECT for a redis.url naming a database. A script's channel is also
 * one of its declared keys, hence the ev:* key pattern beside the channel.
 */
#include <errno.h>
#include <fcntl.h>
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
#include "ratelimit.h"
#include "hex.h"

#define REDIS_DIR "redis"
#define REDIS_DIR_MODE 0700
#define REDIS_ACL_FILE REDIS_DIR "/users.acl"
#define REDIS_SECRET_MODE 0600  /* passwords and the ACL file (password hashes) */
#define REDIS_PASSWORD_BYTES 32 /* written as 64 hex digits */
#define REDIS_ADMIN_USER "pki-admin"
#define REDIS_DEFAULT_RULES "~* &* +@all" /* the default user's, see redis_acl_write */
#define REDIS_KEY_RO "%R~"                /* a role's key pattern that it may only read */
#define REDIS_ACL_LINE_MAX 4096
#define REDIS_PATTERN_MAX (2 * CONFIG_ERR_MAX)

/* What one Redis user may do; key and channel patterns follow the prefix. */
struct redis_role {
	const char *service;         /* key under redis.users; NULL for the admin */
	const char *user;            /* name pkictl init gives it */
	const char *const *commands; /* NULL-ended; NULL: all commands, keys and channels */
	const char *const *keys;     /* after the prefix */
	const char *const *channels; /* after the prefix */
};

/*
 * pki-gateway: request records (store.c), idempotency keys, browser sessions
 * (session.c), rate limits (ratelimit.c), the long-poll subscription
 * (waiters.c: PSUBSCRIBE PREFIXev:*), /healthz (PING), reading bulk
 * batches (GET /csr/batches/{id}: the batch hash, its id list, the states),
 * the users' own channels (/me: me.c) and its outbox (outbox.c).
 */
static const char *const gateway_cmds[] = {
    "eval",   "evalsha", "hgetall", "hget", "hmget", "del",           "psubscribe", "ping",
    "select", "hvals",   "hdel",    "hset", "get", /* direct */
    "exists", "publish", "set",     "ttl",  "incr",  "expire",        "zcard",      "zrangebylex",
    "hlen",   "time",    "pexpire", "zadd", "zrem",  "zrangebyscore", /* in scripts */
    NULL};
static const char *const gateway_keys[] = {"req:*", "idem:*",   "session:*",
					   "rl:*",  "ev:*",     "batch:*",
					   "me:*",  "outbox:*", REDIS_KEY_RO "chain:*",
					   NULL};

/*
 * pki-worker: claims and outcomes of records, serial reservations (SET NX),
 * bulk batches (owner, declared size, counts by state, id list), the use of
 * each approval grant (grant:{mac}, set at the claim; no other service may
 * touch it, so no record writer can make a grant sign twice), the chains of
 * its CAs that issued records name (chain:{sha256}; the others read them).
 */
static const char *const worker_cmds[] = {"eval",    "evalsha", "hgetall", "hget",
					  "set",     "select",  "get", /* direct */
					  "exists",  "hset",    "time",    "hincrby",
					  "publish", "hsetnx",  "zadd",    "hmget", /* in scripts */
					  NULL};
static const char *const worker_keys[] = {"req:*", "serial:*", "batch:*", "grant:*",
					  "ev:*",  "chain:*",  NULL};

/*
 * pki-approver: the pending queue and its indexes, decisions, records of
 * requests awaiting approval, the webhook and e-mail queue (webhook.c), the
 * users' channels read when notifying (me:*, notify.c), admin sessions,
 * /healthz, the approval password's attempt counters (ratelimit.c: its own
 * rl:pwchk:*, and the gateway's rl:pw:*, which a right password lowers).
 */
static const char *const approver_cmds[] =
    {"eval",   "evalsha", "hgetall", "hget",   "hmget", "zrange",  "zrangebyscore",
     "zadd",   "zrem",    "del",     "lpush",  "ltrim", "lrange",  "set",
     "ping",   "select",  "get", /* direct */
     "exists", "hset",    "publish", "expire", "rpush", "hincrby", "hsetnx",
     "hvals",  "zcard",   "incr",    "ttl",    "decr", /* in scripts */
     NULL};
/*
 * batch:*: a bulk request's approval or expiry moves its batch's count by
 * state, and the batch's end is marked once notified.
 */
static const char *const approver_keys[] = {"req:*",
					    "pending*",
					    "decisions",
					    "webhook:*",
					    "session:*",
					    "ev:*",
					    "batch:*",
					    "me:*",
					    REDIS_KEY_RO "chain:*",
					    "rl:" RATELIMIT_BUCKET_APPROVER_PW ":*",
					    "rl:" RATELIMIT_BUCKET_GATEWAY_PW ":*",
					    NULL};

static const char *const ev_channels[] = {"ev:*", NULL};

static const struct redis_role roles[] = {
    {"gateway", "pki-gateway", gateway_cmds, gateway_keys, ev_channels},
    {"worker", "pki-worker", worker_cmds, worker_keys, ev_channels},
    {"approver", "pki-approver", approver_cmds, approver_keys, ev_channels},
    {NULL, REDIS_ADMIN_USER, NULL, NULL, NULL},
};
#define NROLES (sizeof(roles) / sizeof(roles[0]))

/* prefix + pattern into out, the prefix's glob characters escaped. 0 or -1 when too long. */
static int
redis_pattern(const char *prefix, const char *pattern, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *prefix != '\0'; prefix++) {
		if (o + 3 > outlen)
			return -1;
		if (strchr("*?[]\\", *prefix) != NULL)
			out[o++] = '\\';
		out[o++] = *prefix;
	}
	if (o + strlen(pattern) + 1 > outlen)
		return -1;
	memcpy(out + o, pattern, strlen(pattern) + 1);
	return 0;
}

/* Appends " " + s to line (REDIS_ACL_LINE_MAX). 0 or -1 when it does not fit. */
static int
redis_acl_add(char *line, const char *s)
{
	size_t n = strlen(line);

	if (n + 1 + strlen(s) + 1 > REDIS_ACL_LINE_MAX)
		return -1;
	line[n] = ' ';
	memcpy(line + n + 1, s, strlen(s) + 1);
	return 0;
}

/* The ACL line of role as user with password into line (REDIS_ACL_LINE_MAX). 0 or -1. */
static int
redis_acl_line(const struct redis_role *role, const char *user, const char *password,
	       const char *prefix, char *line)
{
	char item[REDIS_PATTERN_MAX], hash[1 + HEX_SHA256_BUF];
	size_t k, n;
	int ro;

	hash[0] = '#';
	if (hex_sha256(password, strlen(password), hash + 1) != 0) {
		pk_sslerr("SHA-256");
		return -1;
	}
	snprintf(line, REDIS_ACL_LINE_MAX, "user %s reset on", user);
	if (redis_acl_add(line, hash) != 0)
		return -1;
	if (role->commands == NULL)
		return redis_acl_add(line, "~* &* +@all");
	if (redis_acl_add(line, "resetkeys resetchannels -@all") != 0)
		return -1;
	for (k = 0; role->commands[k] != NULL; k++) {
		snprintf(item, sizeof(item), "+%s", role->commands[k]);
		if (redis_acl_add(line, item) != 0)
			return -1;
	}
	for (k = 0; role->keys[k] != NULL; k++) {
		/* "%R~" first: read only (Redis 7 key permissions); else read and write. */
		ro = strncmp(role->keys[k], REDIS_KEY_RO, strlen(REDIS_KEY_RO)) == 0;
		n = ro ? strlen(REDIS_KEY_RO) : 1;
		memcpy(item, ro ? REDIS_KEY_RO : "~", n);
		if (redis_pattern(prefix, role->keys[k] + (ro ? n : 0), item + n,
				  sizeof(item) - n) != 0 ||
		    redis_acl_add(line, item) != 0)
			return -1;
	}
	for (k = 0; role->channels[k] != NULL; k++) {
		item[0] = '&';
		if (redis_pattern(prefix, role->channels[k], item + 1, sizeof(item) - 1) != 0 ||
		    redis_acl_add(line, item) != 0)
			return -1;
	}
	return 0;
}

/*
 * Writes the ACL file at path (replacing it atomically, mode 0600): the
 * default user off, then one line per role, users[i] with passwords[i].
 * Returns 0 or -1 after printing an error.
 */
static int
redis_acl_write(const char *path, const char *prefix, const char *const users[NROLES],
		const char *const passwords[NROLES])
{
	char tmp[PATH_MAX], line[REDIS_ACL_LINE_MAX];
	FILE *f = NULL;
	size_t i;
	int fd, rc = -1;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= sizeof(tmp)) {
		pk_err("%s: path too long", path);
		return -1;
	}
	if ((fd = mkstemp(tmp)) < 0) {
		pk_err("%s: cannot create a temporary file: %s", tmp, strerror(errno));
		return -1;
	}
	if (fchmod(fd, REDIS_SECRET_MODE) != 0 || (f = fdopen(fd, "w")) == NULL) {
		pk_err("%s: %s", tmp, strerror(errno));
		close(fd);
		goto out;
	}
	/*
	 * Off and without a password: nobody logs in as it, and an
	 * unauthenticated client gets NOAUTH. It keeps every permission because
	 * Redis replays the AOF as the default user and re-checks each EXEC
	 * against its ACL: without them every script's writes (replicated as
	 * MULTI/EXEC) would be dropped at the next start.
	 */
	fprintf(f, "user default off resetpass " REDIS_DEFAULT_RULES "\n");
	for (i = 0; i < NROLES; i++) {
		if (redis_acl_line(&roles[i], users[i], passwords[i], prefix, line) != 0) {
			pk_err("%s: the ACL rules of %s do not fit (redis.prefix too long?)", path,
			       users[i]);
			goto out;
		}
		fprintf(f, "%s\n", line);
	}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		pk_err("%s: write failed: %s", tmp, strerror(errno));
		goto out;
	}
	if (fclose(f) != 0) {
		f = NULL;
		pk_err("%s: write failed: %s", tmp, strerror(errno));
		goto out;
	}
	f = NULL;
	if (rename(tmp, path) != 0) {
		pk_err("%s: cannot replace: %s", path, strerror(errno));
		goto out;
	}
	tmp[0] = '\0';
	rc = 0;
out:
	OPENSSL_cleanse(line, sizeof(line));
	if (f != NULL)
		fclose(f);
	if (tmp[0] != '\0')
		unlink(tmp);
	return rc;
}

/*
 * A new password file (mode 0600, never replacing one): 64 random hex digits
 * and a newline; the digits also go to password (65 bytes). 0 or -1.
 */
static int
redis_password_new(const char *path, char *password)
{
	unsigned char raw[REDIS_PASSWORD_BYTES];
	size_t n = 2 * sizeof(raw);
	int rc;

	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		pk_sslerr("RAND_bytes");
		return -1;
	}
	hex_encode(raw, sizeof(raw), password);
	password[n] = '\n';
	rc = file_write_new(path, password, n + 1, REDIS_SECRET_MODE);
	password[n] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

int
redis_users_init(struct cfgfile *cf, cJSON *redis, const char *prefix)
{
	char pw[NROLES][2 * REDIS_PASSWORD_BYTES + 2], rel[PKICTL_ID_MAX + 16];
	const char *users[NROLES], *pws[NROLES];
	char *dir = NULL, *path = NULL;
	cJSON *list, *o;
	size_t i;
	int rc = -1;

	if ((list = cJSON_AddObjectToObject(redis, "users")) == NULL ||
	    (dir = cfgfile_resolve(cf, REDIS_DIR)) == NULL || mkdirs(dir, REDIS_DIR_MODE) != 0)
		goto out;
	for (i = 0; i < NROLES; i++) {
		snprintf(rel, sizeof(rel), REDIS_DIR "/%s.pass", roles[i].user);
		free(path);
		if ((path = cfgfile_resolve(cf, rel)) == NULL)
			goto out;
		if (access(path, F_OK) == 0) {
			pk_err("--config: %s already exists beside the new config; refusing to "
			       "replace it",
			       path);
			goto out;
		}
		if (redis_password_new(path, pw[i]) != 0)
			goto out;
		if (cfgfile_track(cf, path) != 0) {
			unlink(path);
			goto out;
		}
		users[i] = roles[i].user;
		pws[i] = pw[i];
		if (roles[i].service == NULL)
			continue;
		if ((o = cJSON_AddObjectToObject(list, roles[i].service)) == NULL ||
		    cJSON_AddStringToObject(o, "user", roles[i].user) == NULL ||
		    cJSON_AddStringToObject(o, "password_file", rel) == NULL)
			goto out;
	}
	free(path);
	if ((path = cfgfile_resolve(cf, REDIS_ACL_FILE)) == NULL)
		goto out;
	if (access(path, F_OK) == 0) {
		pk_err("--config: %s already exists beside the new config; refusing to replace it",
		       path);
		goto out;
	}
	if (redis_acl_write(path, prefix, users, pws) != 0)
		goto out;
	if (cfgfile_track(cf, path) != 0) {
		unlink(path);
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(pw, sizeof(pw));
	free(dir);
	free(path);
	return rc;
}

int
cmd_redis_acl(const struct command *cmd, int argc, char **argv)
{
	char pw[NROLES][CONFIG_REDIS_PASSWORD_MAX + 1], err[CONFIG_ERR_MAX] = "";
	const char *users[NROLES], *pws[NROLES], *config;
	char *admin = NULL, *acl = NULL;
	struct config *cfg = NULL;
	size_t i;
	int rc;

	if ((rc = args_parse(cmd, NULL, 0, argc, argv, &config)))
		return rc > 0 ? 0 : -1;
	rc = -1;
	if (config_load(config, CONFIG_LOAD_NO_CA, &cfg, err) != 0) {
		pk_err("%s", err);
		goto out;
	}
	if (asprintf(&admin, "%s/" REDIS_DIR "/" REDIS_ADMIN_USER ".pass", cfg->dir) < 0 ||
	    asprintf(&acl, "%s/" REDIS_ACL_FILE, cfg->dir) < 0) {
		admin = acl = NULL;
		goto out;
	}
	for (i = 0; i < NROLES; i++) {
		if (roles[i].service == NULL) {
			if (config_password_read(config, "password of " REDIS_ADMIN_USER, admin,
						 pw[i], err) != 0) {
				pk_err("%s", err);
				goto out;
			}
			users[i] = REDIS_ADMIN_USER;
		} else {
			int got = config_redis_login(cfg, roles[i].service, &users[i], pw[i], err);

			if (got < 0)
				pk_err("%s", err);
			else if (got == 0)
				pk_err("%s: redis.users: missing; this config logs in to Redis "
				       "without "
				       "a user (a config from pkictl init has one per service)",
				       config);
			if (got <= 0)
				goto out;
		}
		pws[i] = pw[i];
	}
	if (redis_acl_write(acl, cfg->redis_prefix, users, pws) != 0)
		goto out;
	pk_err("%s written (keys under \"%s\"); Redis reads it on start, or on ACL LOAD as %s", acl,
	       cfg->redis_prefix, REDIS_ADMIN_USER);
	rc = 0;
out:
	OPENSSL_cleanse(pw, sizeof(pw));
	free(admin);
	free(acl);
	config_free(cfg);
	return rc;
}
