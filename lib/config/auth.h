/* Authentication of API callers by bearer API key. */
#ifndef PKI_AUTH_H
#define PKI_AUTH_H

#include "config.h"

#define AUTH_KEY_MAX 256

/*
 * The user whose API key is in authorization ("Bearer KEY", scheme
 * case-insensitive), or NULL (no header, another scheme, unknown key).
 * Keys are compared as SHA-256 hashes in constant time against every user.
 */
const struct user *auth_bearer(const struct config *cfg, const char *authorization);

#endif
