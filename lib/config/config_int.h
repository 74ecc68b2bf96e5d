/*
 * The loader's parts (config.c parses with the key table, config_refs.c
 * checks references between sections, config_files.c reads the files the
 * config names): their shared state and message helpers. Private to them.
 */
#ifndef PKI_CONFIG_INT_H
#define PKI_CONFIG_INT_H

#include "config.h"
#include "jfield.h"

#define CONFIG_PATH_MAX JFIELD_PATH_MAX
#define CONFIG_GOT_MAX JFIELD_GOT_MAX
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define STR_(x) #x
#define STR(x) STR_(x)

/* Loader state: where messages go, the result, the flags of config_load. */
struct ctx {
	struct jfield j;
	char prefix[CONFIG_ERR_MAX]; /* "file: " */
	struct config *cfg;
	int flags;
};

/* Writes "file: path: message" into the error buffer; returns -1 for `return fail(...)`. */
#define fail(c, path, ...) jfield_fail(&(c)->j, (path), __VA_ARGS__)
#define quote jfield_quote
#define got jfield_got
#define path_key jfield_path_key
#define path_idx jfield_path_idx

/* Sets up c for file: messages go to err (CONFIG_ERR_MAX bytes) as "file: path: ...". */
void config_ctx_init(struct ctx *c, const char *file, int flags, char *err);
/* "file: out of memory"; returns -1. */
int config_fail_oom(struct ctx *c);
#define fail_oom config_fail_oom

/*
 * Uniqueness of ids and names, and every reference between sections (CA
 * parents leading to a root, tenants, users, CAs, bulk key users) of the
 * parsed c->cfg. 0, or -1 with the message.
 */
int config_refs_check(struct ctx *c);

/*
 * Makes the paths of c->cfg absolute and reads what each process needs at
 * start: the grant key, the bulk keys' secrets (CONFIG_LOAD_BULK_KEYS), the CA
 * certificates and chains, the CA keys (CONFIG_LOAD_KEYS). 0, or -1 with the
 * message.
 */
int config_files_load(struct ctx *c);

#endif
