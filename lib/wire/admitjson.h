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

/* Kinds of name in a SAN, as the "type" of a SAN object. */
#define SAN_TYPE_DNS "dns"
#define SAN_TYPE_IP "ip"
#define SAN_TYPE_EMAIL "email"
#define SAN_TYPE_URI "uri"

/* Appends {"type": type, "value": value} to array a. 0, or -1 without memory. */
int admit_san_add(cJSON *a, const char *type, const char *value);

/*
 * Every SAN of the CSR (DNS, IP, email, URI, in that order) as the JSON
 * array text a request record keeps in its field "sans" (caller frees), or
 * NULL without memory.
 */
char *admit_sans_text(const struct csr_info *ci);

/* The warnings of notes as JSON array text (caller frees), or NULL without memory. */
char *admit_warnings_text(const struct subject_notes *notes);

#endif
