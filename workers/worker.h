/* pki-worker: consumes issue requests; the only process holding CA keys. */
#ifndef PKI_WORKER_H
#define PKI_WORKER_H

#include "config.h"
#include "kafka.h"

#define WORKER_POLL_MS 200 /* consumer poll; bounds how long a stop takes to notice */

struct worker {
	const struct config *cfg;
	struct kafka_producer *kp; /* results, issued, audit, dlq */
	struct kafka_consumer *kc; /* topics.issue in group kafka_group */
	int ready;                 /* "ready" logged after the first assignment */
};

#endif
