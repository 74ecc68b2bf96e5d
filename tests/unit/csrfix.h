/* Helpers for the issuance tests: fixture files, the CSR manifest, test CAs. */
#ifndef PKI_CSRFIX_H
#define PKI_CSRFIX_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "issue.h"

/* Reads a whole file; returns a malloc'd buffer (NUL-terminated) or NULL. */
unsigned char *fix_read(const char *path, size_t *len);
/* Reads tests/fixtures/csr/<sub>/<name>; fails the test when missing. */
unsigned char *fix_csr(const char *sub, const char *name, size_t *len);
/* The parsed manifest (process-wide, never freed); fails the test when unreadable. */
cJSON *fix_manifest(void);
/* Directory of the test CAs. */
const char *fix_ca_dir(void);
/* 1 when vs holds code. */
int fix_has_code(const struct violations *vs, const char *code);
/* All codes of vs, space separated, for failure messages (static buffer). */
const char *fix_codes(const struct violations *vs);
/* DER of a fixture: DER files as they are, PEM through OpenSSL's PEM reader. NULL if none. */
unsigned char *fix_der(const unsigned char *buf, size_t len, size_t *der_len);

#endif
