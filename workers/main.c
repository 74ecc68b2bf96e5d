/* pki-worker: arguments → config (with CA keys) → processing threads until SIGTERM. */
#include <stdio.h>

#include "log.h"
#include "svc.h"
#include "worker.h"

int
main(int argc, char **argv)
{
	struct config *cfg = NULL;
	struct worker_opts opts;
	int code;

	svc_set_usage("  --threads N         processing threads, each a group consumer "
		      "(default $PKI_WORKER_THREADS or 2, 1..64)\n"
		      "  --lease-seconds N   a claim older than this may be re-taken "
		      "(default $PKI_WORKER_LEASE_S or 10, 1..3600)\n");
	if (worker_opts_parse(&argc, argv, &opts) < 0)
		return 2;
	if (svc_start("worker", argc, argv,
		      CONFIG_LOAD_KEYS | CONFIG_LOAD_BULK_KEYS | CONFIG_LOAD_GRANT_KEY, &cfg,
		      &code) != SVC_RUN)
		return code;
	code = worker_run(cfg, &opts);
	config_free(cfg);
	log_info("stopped");
	return code;
}
