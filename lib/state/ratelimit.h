/*
 * Fixed-window counters in Redis (INCR + EXPIRE in one Lua step), for
 * limiting failures such as wrong approval passwords:
 *
 *   P rl:{bucket}   string count, expires window_s after the first hit
 *
 * Every call uses the calling thread's Redis connection (redis_thread).
 */
#ifndef PKI_RATELIMIT_H
#define PKI_RATELIMIT_H

#define RATELIMIT_KEY_MAX 512

/* Return code besides 0 / 1. */
#define RATELIMIT_EDOWN (-2) /* Redis unreachable or answered an error (logged) */

/*
 * 1 when bucket already holds limit hits or more in its window (then
 * *retry_after_s, may be NULL, gets the seconds left), 0 when not,
 * RATELIMIT_EDOWN.
 */
int ratelimit_exceeded(const char *redis_url, const char *prefix, const char *bucket, int limit,
		       int *retry_after_s);

/*
 * Counts one hit in bucket (a window of window_s seconds starts with the
 * first). Returns the count so far (>= 1) or RATELIMIT_EDOWN.
 */
int ratelimit_hit(const char *redis_url, const char *prefix, const char *bucket, int window_s);

#endif
