/*
 * Shared service startup: arguments, config, logging, and a clean stop on
 * SIGTERM/SIGINT (a sigwait thread; other threads never see the signals).
 */
#ifndef PKI_SVC_H
#define PKI_SVC_H

#include <stdatomic.h>

#include "config.h"

#define SVC_STOP_GRACE_MS 2000 /* what a service allows itself to stop */

/* What svc_start decided. */
enum svc_action {
	SVC_RUN,  /* config loaded, signals handled: run the service */
	SVC_EXIT, /* done (--check-config, --help, or an error): exit with *code */
};

/* Lines (each ending in a newline) that --help prints after the common options. */
void svc_set_usage(const char *extra);

/*
 * Blocks SIGTERM, SIGINT and SIGPIPE in the calling thread (call first in
 * main, before any thread exists, so that every thread inherits the mask),
 * then parses argv: --config PATH (default config_default_path()),
 * --check-config, --help. Loads the config with load_flags (CONFIG_LOAD_KEYS
 * only for processes that sign) and calls log_init(service).
 * --check-config prints "PATH: ok" on stdout and exits 0, or the error on
 * stderr and exits 1. On SVC_RUN, *cfg is the loaded config (caller frees
 * with config_free) and the signal thread is running.
 */
enum svc_action svc_start(const char *service, int argc, char **argv, int load_flags,
			  struct config **cfg, int *code);

/* 1 once SIGTERM/SIGINT arrived or svc_request_stop was called. */
int svc_stopping(void);

/* Waits up to timeout_ms for a stop request. Returns 1 if stopping. */
int svc_wait(int timeout_ms);

/* Asks the service to stop, as a signal would (e.g. after a fatal error). */
void svc_request_stop(void);

struct http_req;
struct kafka_producer;

#define SVC_HEALTH_CHECK_MS 1000 /* how often a service's main loop checks its dependencies */

/* Kafka and Redis as last checked; /healthz answers from it. */
struct svc_health {
	atomic_int kafka_up, redis_up;
};

/*
 * Checks Kafka and Redis (the calling thread's connection to redis_url)
 * into h. One thread calls it, every SVC_HEALTH_CHECK_MS.
 */
void svc_health_check(struct svc_health *h, struct kafka_producer *kp, const char *redis_url);

/*
 * Answers GET /healthz from h, touching neither Kafka nor Redis: 200
 * {"status":"ok","kafka":"up","redis":"up"}, or 503 with "status":"degraded"
 * and "down" for whichever is unreachable.
 */
void svc_healthz(struct http_req *req, const struct svc_health *h);

#endif
