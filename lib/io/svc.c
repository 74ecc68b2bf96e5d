#include "svc.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "http.h"
#include "kafka.h"
#include "log.h"
#include "redis.h"

static pthread_mutex_t svc_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t svc_cv;
static int svc_stop_flag;
static sigset_t svc_sigs;

static const char *svc_usage_extra = "";

void
svc_set_usage(const char *extra)
{
	svc_usage_extra = extra;
}

static void
svc_usage(const char *service)
{
	fprintf(stderr,
		"usage: pki-%s [--config PATH] [--check-config]%s\n"
		"  --config PATH       config file (default: $PKI_CONFIG or %s)\n"
		"  --check-config      validate the config and exit (0 ok, 1 error)\n%s",
		service, svc_usage_extra[0] ? " [OPTIONS]" : "", "var/demo/config.json",
		svc_usage_extra);
}

void
svc_request_stop(void)
{
	pthread_mutex_lock(&svc_mu);
	svc_stop_flag = 1;
	pthread_cond_broadcast(&svc_cv);
	pthread_mutex_unlock(&svc_mu);
}

int
svc_stopping(void)
{
	int s;

	pthread_mutex_lock(&svc_mu);
	s = svc_stop_flag;
	pthread_mutex_unlock(&svc_mu);
	return s;
}

int
svc_wait(int timeout_ms)
{
	struct timespec ts;
	int s;

	clock_deadline(&ts, timeout_ms);
	pthread_mutex_lock(&svc_mu);
	while (!svc_stop_flag)
		if (pthread_cond_timedwait(&svc_cv, &svc_mu, &ts) == ETIMEDOUT)
			break;
	s = svc_stop_flag;
	pthread_mutex_unlock(&svc_mu);
	return s;
}

/* Waits for SIGTERM/SIGINT (blocked everywhere) and turns it into a stop request. */
static void *
svc_signal_thread(void *arg)
{
	int sig;

	for (;;) {
		if (sigwait(&svc_sigs, &sig) != 0)
			continue;
		if (sig == SIGPIPE)
			continue;
		log_info("received %s, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		svc_request_stop();
	}
	return NULL;
}

/* Blocks the signals this module handles; 0 or -1. */
static int
svc_block_signals(void)
{
	pthread_condattr_t ca;

	sigemptyset(&svc_sigs);
	sigaddset(&svc_sigs, SIGTERM);
	sigaddset(&svc_sigs, SIGINT);
	sigaddset(&svc_sigs, SIGPIPE);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&svc_cv, &ca);
	pthread_condattr_destroy(&ca);
	return pthread_sigmask(SIG_BLOCK, &svc_sigs, NULL) == 0 ? 0 : -1;
}

/*
 * Reads this service's own Redis password (redis.users.SERVICE) and makes it
 * the login of every Redis connection of the process. 0 (also when the
 * config has no redis.users), or -1 with the reason in err.
 */
static int
svc_redis_login(const struct config *cfg, const char *service, char *err)
{
	char password[CONFIG_REDIS_PASSWORD_MAX + 1], rerr[REDIS_ERR_MAX];
	const char *user = NULL;
	int rc;

	if ((rc = config_redis_login(cfg, service, &user, password, err)) <= 0)
		return rc;
	rc = 0;
	if (redis_login_set(user, password, rerr) != 0) {
		snprintf(err, CONFIG_ERR_MAX, "%.200s: redis.users.%s: %.250s", cfg->path, service,
			 rerr);
		rc = -1;
	}
	OPENSSL_cleanse(password, sizeof(password));
	return rc;
}

/* One --check-config note: "PATH: note: ..." on standard output. */
static void
svc_note(const char *note, void *arg)
{
	printf("%s: note: %s\n", (const char *)arg, note);
}

enum svc_action
svc_start(const char *service, int argc, char **argv, int load_flags, struct config **cfg,
	  int *code)
{
	const char *path = NULL;
	char err[CONFIG_ERR_MAX];
	int check = 0, i;
	pthread_t t;

	*code = 1;
	if (svc_block_signals() < 0) {
		fprintf(stderr, "pki-%s: cannot block signals\n", service);
		return SVC_EXIT;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			path = argv[++i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			path = argv[i] + 9;
		} else if (strcmp(argv[i], "--check-config") == 0) {
			check = 1;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			svc_usage(service);
			*code = 0;
			return SVC_EXIT;
		} else {
			fprintf(stderr, "pki-%s: unknown argument \"%s\"\n", service, argv[i]);
			svc_usage(service);
			*code = 2;
			return SVC_EXIT;
		}
	}
	if (path == NULL)
		path = config_default_path();
	log_init(service);
	err[0] = '\0';
	if (config_load(path, load_flags, cfg, err) < 0 ||
	    svc_redis_login(*cfg, service, err) < 0) {
		if (check)
			fprintf(stderr, "%s\n", err);
		else
			log_error("%s", err);
		config_free(*cfg);
		*cfg = NULL;
		return SVC_EXIT;
	}
	if (check) {
		config_notes(*cfg, svc_note, (void *)path);
		printf("%s: ok\n", path);
		config_free(*cfg);
		*cfg = NULL;
		*code = 0;
		return SVC_EXIT;
	}
	if (pthread_create(&t, NULL, svc_signal_thread, NULL) != 0) {
		log_error("cannot start signal thread");
		config_free(*cfg);
		*cfg = NULL;
		return SVC_EXIT;
	}
	pthread_detach(t);
	*code = 0;
	return SVC_RUN;
}

void
svc_health_check(struct svc_health *h, struct kafka_producer *kp, const char *redis_url)
{
	struct redis *r = redis_thread(redis_url);

	h->kafka_up = kafka_producer_up(kp);
	h->redis_up = r != NULL && redis_ping(r);
}

void
svc_healthz(struct http_req *req, const struct svc_health *h)
{
	int kup = h->kafka_up, rup = h->redis_up;
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "status", kup && rup ? "ok" : "degraded");
	cJSON_AddStringToObject(o, "kafka", kup ? "up" : "down");
	cJSON_AddStringToObject(o, "redis", rup ? "up" : "down");
	http_reply_json(req, kup && rup ? 200 : 503, o, NULL);
	cJSON_Delete(o);
}
