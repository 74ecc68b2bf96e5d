/*
 * JSON field checks shared by the config file, the Kafka message decoders
 * and the HTTP bodies: one set of typed getters and one message form,
 * "<prefix><path>: <rule>, got <what was seen>" (docs/config.md "Error
 * messages"). The prefix names the medium ("file: " for the config, "" for
 * messages and bodies); the path is the JSON path ("cas[1].id", "grant.mac").
 * Every getter returns -1 with the message written, never allocates, and
 * leaves its out-parameter untouched on failure.
 */
#ifndef PKI_JFIELD_H
#define PKI_JFIELD_H

#include <cJSON.h>
#include <stddef.h>

#define JFIELD_PATH_MAX 256 /* longest JSON path in a message */
#define JFIELD_GOT_MAX 80   /* longest quoted value in a message */

/* Where a getter writes its message: buffer, its size, and the medium's prefix. */
struct jfield {
	char *err;
	size_t errlen;
	const char *prefix; /* "" or "file: " */
};

/* Flags of the getters. */
#define JF_REQUIRED 1    /* absent: "missing required key" */
#define JF_NULL_ABSENT 2 /* a JSON null counts as absent (messages and bodies) */

/* A rule over a string value: NULL when s is fine, else the rule ("must be ..."). */
typedef const char *(*jfield_rule)(const char *s);

/* Writes "<prefix><path>: <fmt...>" (no path: "<prefix><fmt...>"); returns -1. */
int jfield_fail(const struct jfield *j, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The JSON type of v for a message: "string", "number", "boolean", "null", "array", "object". */
const char *jfield_type(const cJSON *v);
/* s quoted for a message (printable ASCII kept, others \xNN, long values cut with "..."). */
const char *jfield_quote(const char *s, char out[JFIELD_GOT_MAX]);
/* v as it appears in a message: quoted string, number, true/false, or its type. */
const char *jfield_got(const cJSON *v, char out[JFIELD_GOT_MAX]);

/* out = parent.key (key alone at the top); out = parent[i]. Cut to JFIELD_PATH_MAX. */
void jfield_path_key(char out[JFIELD_PATH_MAX], const char *parent, const char *key);
void jfield_path_idx(char out[JFIELD_PATH_MAX], const char *parent, size_t i);

/*
 * obj must be an object whose keys are all in allowed (NULL-ended) and each
 * appear once: "must be an object, got T", "unknown key", "duplicate key".
 */
int jfield_keys(const struct jfield *j, const cJSON *obj, const char *path,
		const char *const *allowed);

/*
 * obj.key into *out (NULL when absent; obj NULL counts as empty). Returns 1
 * when present, 0 when absent and allowed, -1 "missing required key".
 */
int jfield_member(const struct jfield *j, const cJSON *obj, const char *path, const char *key,
		  int flags, const cJSON **out);

/*
 * v (named path) must be a string of 1..max bytes when max > 0 ("length must
 * be 1..max, got n") passing rule when not NULL ("<rule>, got \"s\"").
 * *out points into v.
 */
int jfield_check_str(const struct jfield *j, const cJSON *v, const char *path, size_t max,
		     jfield_rule rule, const char **out);
/* v must be an integer in min..max: "must be an integer min..max, got X". */
int jfield_check_int(const struct jfield *j, const cJSON *v, const char *path, long long min,
		     long long max, long long *out);

/* The getters by key: 1 present (out set), 0 absent and allowed (out untouched), -1. */
int jfield_str(const struct jfield *j, const cJSON *obj, const char *path, const char *key,
	       int flags, size_t max, jfield_rule rule, const char **out);
int jfield_int(const struct jfield *j, const cJSON *obj, const char *path, const char *key,
	       int flags, long long min, long long max, long long *out);
int jfield_bool(const struct jfield *j, const cJSON *obj, const char *path, const char *key,
		int flags, int *out);
/* obj.key must be an array (of any items): "must be an array, got T". */
int jfield_array(const struct jfield *j, const cJSON *obj, const char *path, const char *key,
		 int flags, const cJSON **out);
/*
 * v must be one of names[0..n): sets *idx; "must be one of a, b, c, got \"x\"".
 */
int jfield_enum(const struct jfield *j, const cJSON *v, const char *path, const char *const *names,
		size_t n, size_t *idx);

#endif
