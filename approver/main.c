/* pki-approver: arguments → config → Kafka, Redis, threads, HTTP → wait for SIGTERM. */
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <string.h>

#include "approver.h"
#include "log.h"
#include "redis.h"
#include "svc.h"

static void
approver_route(void *app, struct http_req *req)
{
	struct approver *ap = app;

	if (strcmp(req->method, "GET") == 0 && strcmp(req->path, "/healthz") == 0)
		svc_healthz(req, &ap->health);
	else if (strcmp(req->method, "GET") == 0 && strcmp(req->path, "/metrics") == 0)
		password_metrics(ap, req);
	else if (strncmp(req->path, "/admin/api/", 11) == 0)
		api_route(ap, req);
	else if (strcmp(req->path, "/admin") == 0 || strncmp(req->path, "/admin/", 7) == 0)
		dashboard_route(ap, req);
	else
		http_reply_error(req, 404, "not_found", NULL, NULL, NULL, "no route for %s %s",
				 req->method, req->path);
}

/* Starts fn on *thr; *up records that it must be joined. */
static int
approver_thread(pthread_t *thr, int *up, void *(*fn)(void *), struct approver *ap)
{
	if (pthread_create(thr, NULL, fn, ap) != 0)
		return -1;
	*up = 1;
	return 0;
}

int
main(int argc, char **argv)
{
	struct config *cfg = NULL;
	struct approver ap = {0};
	char kerr[KAFKA_ERR_MAX], herr[HTTP_ERR_MAX], perr[CONFIG_ERR_MAX];
	char smtp_password[CONFIG_REDIS_PASSWORD_MAX + 1] = "";
	struct redis *r;
	int code;

	if (svc_start("approver", argc, argv, CONFIG_LOAD_GRANT_KEY, &cfg, &code) != SVC_RUN)
		return code;
	code = 1;
	ap.cfg = cfg;
	ap.store.redis_url = cfg->redis_url;
	ap.store.prefix = cfg->redis_prefix;
	ap.wq.redis_url = cfg->redis_url;
	ap.wq.prefix = cfg->redis_prefix;
	ap.wq.notify = &cfg->notify;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("libcurl: cannot initialise");
		goto out;
	}
	if (cfg->notify.smtp_user != NULL) {
		if (config_password_read(cfg->path, "notifications.smtp.password_file",
					 cfg->notify.smtp_password_file, smtp_password,
					 perr) != 0) {
			log_error("%s", perr);
			goto out;
		}
		ap.wq.smtp_password = smtp_password;
	}
	if ((ap.kp = kafka_producer_new(cfg->kafka_brokers, "pki-approver",
					&cfg->kafka_tls[SERVICE_APPROVER], KAFKA_LINGER_MS,
					kerr)) == NULL) {
		log_error("%s", kerr);
		goto out;
	}
	if ((r = redis_thread(cfg->redis_url)) == NULL)
		goto out;
	svc_health_check(&ap.health, ap.kp, cfg->redis_url);
	if (!ap.health.kafka_up)
		log_warn("kafka %s not reachable yet", cfg->kafka_brokers);
	if (!ap.health.redis_up)
		log_warn("redis %s not reachable yet", cfg->redis_url);
	if (!cfg->grant_key_loaded)
		log_warn("grant key not loaded: approved requests cannot be published");
	if (approver_thread(&ap.intake_thr, &ap.intake_up, intake_run, &ap) != 0 ||
	    approver_thread(&ap.results_thr, &ap.results_up, results_run, &ap) != 0 ||
	    approver_thread(&ap.sweep_thr, &ap.sweep_up, sweep_run, &ap) != 0 ||
	    approver_thread(&ap.webhook_thr, &ap.webhook_up, webhook_run, &ap) != 0) {
		log_error("cannot start the approver's threads");
		svc_request_stop();
		goto out;
	}
	if ((ap.http = http_start(cfg->approver_listen, APPROVER_BODY_MAX, &cfg->limits,
				  approver_route, &ap, herr)) == NULL) {
		log_error("%s", herr);
		svc_request_stop();
		goto out;
	}
	log_info("listening on http://%s", cfg->approver_listen);
	while (!svc_wait(SVC_HEALTH_CHECK_MS))
		svc_health_check(&ap.health, ap.kp, cfg->redis_url);
	code = 0;
out:
	http_stop(ap.http);
	if (ap.intake_up)
		pthread_join(ap.intake_thr, NULL);
	if (ap.results_up)
		pthread_join(ap.results_thr, NULL);
	if (ap.sweep_up)
		pthread_join(ap.sweep_thr, NULL);
	if (ap.webhook_up)
		pthread_join(ap.webhook_thr, NULL);
	kafka_producer_free(ap.kp);
	OPENSSL_cleanse(smtp_password, sizeof(smtp_password));
	curl_global_cleanup();
	config_free(cfg);
	log_info("stopped");
	return code;
}
