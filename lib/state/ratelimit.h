/*
 * Fixed-window counters in Redis, for limiting attempts such as approval
 * passwords. Each attempt is counted (INCR, and EXPIRE on the first, in one
 * Lua step) before the caller does the work it limits, so parallel attempts
 * cannot slip past the limit:
 *
 *   P rl:{bucket}   string count, expires window_s after the first attempt
 *
 * Every call uses the calling thread's Redis connection (redis_thread).
 */
#ifndef PKI_RATELIMIT_H
#define PKI_RATELIMIT_H

#include "config.h"

#define RATELIMIT_KEY_MAX 512

/* Approval passwords: attempts per user and CA within the window (gateway and approver). */
#define RATELIMIT_PASSWORD_MAX 5
#define RATELIMIT_PASSWORD_WINDOW_S 60
#define RATELIMIT_BUCKET_GATEWAY_PW "pw"     /* rl:pw:{user}:{ca}, counted by the gateway */
#define RATELIMIT_BUCKET_APPROVER_PW "pwchk" /* rl:pwchk:{user}:{ca}, by the approver */

/* Return code besides 0 / 1. */
#define RATELIMIT_EDOWN (-2) /* Redis unreachable or answered an error (logged) */

/*
 * Counts one attempt in bucket (a window of window_s seconds starts with the
 * first). Returns 0 when it is within limit, 1 when beyond (then
 * *retry_after_s, may be NULL, gets the seconds left in the window), or
 * RATELIMIT_EDOWN: callers fail closed (the attempt is not made).
 */
int ratelimit_take(const char *redis_url, const char *prefix, const char *bucket, int limit,
		   int window_s, int *retry_after_s);

/*
 * Token buckets (limits.requests_per_key and requests_per_tenant), both
 * taken in one Lua step so that every gateway shares them:
 *
 *   P rl:key:{user}, P rl:tenant:{tenant}   hash {tokens, ms}, expiring
 *                                            once full again
 */
#define RATELIMIT_BUCKET_KEY "key"
#define RATELIMIT_BUCKET_TENANT "tenant"

/*
 * Takes a token from user's and from tenant's bucket. Returns 0 when both
 * had one (both lose one), 1 when either was empty (neither loses one;
 * *retry_after_s gets the whole seconds until both have one), or
 * RATELIMIT_EDOWN.
 */
int ratelimit_bucket_take(const char *redis_url, const char *prefix, const char *user,
			  const struct rate_limit *per_user, const char *tenant,
			  const struct rate_limit *per_tenant, int *retry_after_s);

/* Takes one attempt back from bucket (a right password); 0 or RATELIMIT_EDOWN. */
int ratelimit_give_back(const char *redis_url, const char *prefix, const char *bucket);

#endif
