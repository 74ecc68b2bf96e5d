/* pki-approver: holds requests awaiting manual approval; admin surface. */
#ifndef PKI_APPROVER_H
#define PKI_APPROVER_H

#include "config.h"
#include "http.h"
#include "kafka.h"

#define APPROVER_BODY_MAX (64 * 1024)

struct approver {
	const struct config *cfg;
	struct kafka_producer *kp;
	struct http_server *http;
};

#endif
