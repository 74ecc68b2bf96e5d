/*
 * Redis over hiredis: one blocking connection per thread, with connect and
 * command timeouts, reconnecting after any I/O error.
 */
#ifndef PKI_REDIS_H
#define PKI_REDIS_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#define REDIS_ERR_MAX 512
#define REDIS_CONNECT_TIMEOUT_MS 500
#define REDIS_COMMAND_TIMEOUT_MS 2000
#define REDIS_HOST_MAX 256
#define REDIS_USER_MAX 65      /* an ACL user name and its NUL */
#define REDIS_PASSWORD_MAX 129 /* a password and its NUL */

struct redis_addr {
	char host[REDIS_HOST_MAX];
	int port;
	int db;
	char user[REDIS_USER_MAX];         /* from redis://user:password@host, may be empty */
	char password[REDIS_PASSWORD_MAX]; /* from redis://[user]:password@host, may be empty */
};

/*
 * Parses "redis://[[user]:password@]host[:port][/db]" (port 6379, db 0 by
 * default). Returns 0 or -1 with a message naming what is wrong in err
 * (REDIS_ERR_MAX).
 */
int redis_addr_parse(const char *url, struct redis_addr *out, char *err);

/*
 * Sets the ACL user and password that every connection of this process
 * authenticates with (AUTH user password) on each connect and reconnect, in
 * place of any in the URL. Call once at start-up, before any thread
 * connects (the services do it in svc_start from redis.users). Returns 0, or
 * -1 with err when a value is empty or too long.
 */
int redis_login_set(const char *user, const char *password, char *err);

/* One connection. Not thread-safe: use one per thread (see redis_thread). */
struct redis;

/* Creates a handle for url; connects lazily. Returns NULL with err. Free with redis_free. */
struct redis *redis_new(const char *url, char *err);
void redis_free(struct redis *r);

/*
 * The calling thread's connection to url, created on first use and freed
 * when the thread exits. All threads of a process must pass the same url.
 * Returns NULL if url does not parse (logged).
 */
struct redis *redis_thread(const char *url);

/*
 * Runs one command (printf-style as redisCommand, or argv form). On an I/O
 * error or timeout the connection is dropped and the command retried once on
 * a fresh one. Returns the reply (caller frees with freeReplyObject; it may
 * be a REDIS_REPLY_ERROR) or NULL when Redis cannot be reached (logged).
 * A refusal by Redis's ACLs (NOPERM, NOAUTH) is logged here with the user,
 * the command and its key; the error reply is still returned.
 */
redisReply *redis_cmd(struct redis *r, const char *fmt, ...);
redisReply *redis_cmdv(struct redis *r, int argc, const char **argv, const size_t *argvlen);

/*
 * One connection shared by many threads: commands that threads issue while
 * another batch is on the wire go out together, in one write, and their
 * replies come back in one read (group commit). For a process whose threads
 * each run a command per request, so that Redis reads many commands per
 * wake-up instead of one.
 */
struct redis_pipe;

/* Creates the shared connection for url (connects lazily). NULL with err. */
struct redis_pipe *redis_pipe_new(const char *url, char *err);
/* Only once no thread can call redis_pipe_cmdv. NULL is safe. */
void redis_pipe_free(struct redis_pipe *p);
/* As redis_cmdv, from any thread; waits for this command's reply only. */
redisReply *redis_pipe_cmdv(struct redis_pipe *p, int argc, const char **argv);

/* 1 if Redis answered PING with PONG, 0 otherwise. */
int redis_ping(struct redis *r);

/*
 * A separate connection without a command timeout, for SUBSCRIBE loops:
 * returns a connected hiredis context (caller frees with redisFree) or NULL.
 * Authenticates as every other connection does (redis_login_set).
 */
redisContext *redis_connect_blocking(const char *url, char *err);

/*
 * 1 if rep is Redis refusing the client rather than failing (an ACL error:
 * NOPERM, NOAUTH, WRONGPASS, or a script refused a command, key or
 * channel), 0 otherwise. Logs such a refusal with the
 * user, the command argv[0] and its key, so that a missing ACL rule is
 * told apart from Redis being down.
 */
int redis_refused(const redisReply *rep, int argc, const char **argv);

#endif
