/*
 * Admission's answer as JSON, the same for the gateway's HTTP 400/422
 * bodies and the worker's stored failure: the issuance core (admit.h)
 * stays free of any JSON library.
 */
#ifndef PKI_ADMITJSON_H
#define PKI_ADMITJSON_H

#include <cJSON.h>

#include "issue.h"

/* {"violations": [{code, field, message}...]} (caller frees), or NULL without memory. */
cJSON *admit_violations_json(const struct violations *vs);

/* The warnings of notes as JSON array text (caller frees), or NULL without memory. */
char *admit_warnings_text(const struct subject_notes *notes);

#endif
