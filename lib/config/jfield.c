/* JSON field checks with one message form (jfield.h). */
#include "jfield.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define JFIELD_QUOTE_ROOM (JFIELD_GOT_MAX - 6) /* quote, "...", quote, NUL */
#define JFIELD_CHOICES_MAX 256

int
jfield_fail(const struct jfield *j, const char *path, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (path != NULL && path[0] != '\0')
		n = snprintf(j->err, j->errlen, "%s%s: ", j->prefix, path);
	else
		n = snprintf(j->err, j->errlen, "%s", j->prefix);
	if (n < 0 || (size_t)n >= j->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(j->err + n, j->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

const char *
jfield_type(const cJSON *v)
{
	if (cJSON_IsString(v))
		return "string";
	if (cJSON_IsNumber(v))
		return "number";
	if (cJSON_IsBool(v))
		return "boolean";
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsArray(v))
		return "array";
	if (cJSON_IsObject(v))
		return "object";
	return "invalid";
}

const char *
jfield_quote(const char *s, char out[JFIELD_GOT_MAX])
{
	size_t o = 0;

	out[o++] = '"';
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		size_t need = (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') ? 1 : 4;

		if (o + need > JFIELD_QUOTE_ROOM) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (need == 1)
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, 5, "\\x%02x", ch);
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

const char *
jfield_got(const cJSON *v, char out[JFIELD_GOT_MAX])
{
	if (cJSON_IsString(v))
		return jfield_quote(v->valuestring, out);
	if (cJSON_IsNumber(v)) {
		snprintf(out, JFIELD_GOT_MAX, "%.15g", v->valuedouble);
		return out;
	}
	if (cJSON_IsTrue(v))
		return "true";
	if (cJSON_IsFalse(v))
		return "false";
	return jfield_type(v);
}

/* Appends src to out (JFIELD_PATH_MAX bytes, holding used bytes), cutting what does not fit. */
static void
jfield_path_append(char out[JFIELD_PATH_MAX], size_t used, const char *src)
{
	size_t n = strlen(src);

	if (n > JFIELD_PATH_MAX - 1 - used)
		n = JFIELD_PATH_MAX - 1 - used;
	memcpy(out + used, src, n);
	out[used + n] = '\0';
}

void
jfield_path_key(char out[JFIELD_PATH_MAX], const char *parent, const char *key)
{
	out[0] = '\0';
	jfield_path_append(out, 0, parent);
	if (out[0] != '\0')
		jfield_path_append(out, strlen(out), ".");
	jfield_path_append(out, strlen(out), key);
}

void
jfield_path_idx(char out[JFIELD_PATH_MAX], const char *parent, size_t i)
{
	char idx[24];

	snprintf(idx, sizeof(idx), "[%zu]", i);
	out[0] = '\0';
	jfield_path_append(out, 0, parent);
	jfield_path_append(out, strlen(out), idx);
}

int
jfield_keys(const struct jfield *j, const cJSON *obj, const char *path, const char *const *allowed)
{
	const cJSON *it, *prev;
	char kp[JFIELD_PATH_MAX];
	size_t i;

	if (!cJSON_IsObject(obj))
		return jfield_fail(j, path, "must be an object, got %s", jfield_type(obj));
	cJSON_ArrayForEach(it, obj)
	{
		jfield_path_key(kp, path, it->string);
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(allowed[i], it->string) == 0)
				break;
		if (allowed[i] == NULL)
			return jfield_fail(j, kp, "unknown key");
		for (prev = obj->child; prev != it; prev = prev->next)
			if (strcmp(prev->string, it->string) == 0)
				return jfield_fail(j, kp, "duplicate key");
	}
	return 0;
}

int
jfield_member(const struct jfield *j, const cJSON *obj, const char *path, const char *key,
	      int flags, const cJSON **out)
{
	char kp[JFIELD_PATH_MAX];
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (v != NULL && (flags & JF_NULL_ABSENT) && cJSON_IsNull(v))
		v = NULL;
	*out = v;
	if (v != NULL)
		return 1;
	if (!(flags & JF_REQUIRED))
		return 0;
	jfield_path_key(kp, path, key);
	return jfield_fail(j, kp, "missing required key");
}

int
jfield_check_str(const struct jfield *j, const cJSON *v, const char *path, size_t max,
		 jfield_rule rule, const char **out)
{
	char g[JFIELD_GOT_MAX];
	const char *r;
	size_t n;

	if (!cJSON_IsString(v))
		return jfield_fail(j, path, "must be a string, got %s", jfield_type(v));
	n = strlen(v->valuestring);
	if (max > 0 && (n == 0 || n > max))
		return jfield_fail(j, path, "length must be 1..%zu, got %zu", max, n);
	if (rule != NULL && (r = rule(v->valuestring)) != NULL)
		return jfield_fail(j, path, "%s, got %s", r, jfield_quote(v->valuestring, g));
	*out = v->valuestring;
	return 0;
}

int
jfield_check_int(const struct jfield *j, const cJSON *v, const char *path, long long min,
		 long long max, long long *out)
{
	char g[JFIELD_GOT_MAX];
	double d;

	if (!cJSON_IsNumber(v))
		return jfield_fail(j, path, "must be an integer %lld..%lld, got %s", min, max,
				   jfield_type(v));
	d = v->valuedouble;
	/* Beyond 2^63 the cast is undefined: the range check comes first. */
	if (d < (double)min || d > (double)max || d != (double)(long long)d)
		return jfield_fail(j, path, "must be an integer %lld..%lld, got %s", min, max,
				   jfield_got(v, g));
	*out = (long long)d;
	return 0;
}

/* jfield_member, with the key's path in kp when present. */
static int
jfield_find(const struct jfield *j, const cJSON *obj, const char *path, const char *key, int flags,
	    char kp[JFIELD_PATH_MAX], const cJSON **v)
{
	int rc = jfield_member(j, obj, path, key, flags, v);

	if (rc > 0)
		jfield_path_key(kp, path, key);
	return rc;
}

int
jfield_str(const struct jfield *j, const cJSON *obj, const char *path, const char *key, int flags,
	   size_t max, jfield_rule rule, const char **out)
{
	char kp[JFIELD_PATH_MAX];
	const cJSON *v;
	int rc = jfield_find(j, obj, path, key, flags, kp, &v);

	return rc <= 0 ? rc : jfield_check_str(j, v, kp, max, rule, out) == 0 ? 1 : -1;
}

int
jfield_int(const struct jfield *j, const cJSON *obj, const char *path, const char *key, int flags,
	   long long min, long long max, long long *out)
{
	char kp[JFIELD_PATH_MAX];
	const cJSON *v;
	int rc = jfield_find(j, obj, path, key, flags, kp, &v);

	return rc <= 0 ? rc : jfield_check_int(j, v, kp, min, max, out) == 0 ? 1 : -1;
}

int
jfield_bool(const struct jfield *j, const cJSON *obj, const char *path, const char *key, int flags,
	    int *out)
{
	char kp[JFIELD_PATH_MAX];
	const cJSON *v;
	int rc = jfield_find(j, obj, path, key, flags, kp, &v);

	if (rc <= 0)
		return rc;
	if (!cJSON_IsBool(v))
		return jfield_fail(j, kp, "must be a boolean, got %s", jfield_type(v));
	*out = cJSON_IsTrue(v);
	return 1;
}

int
jfield_array(const struct jfield *j, const cJSON *obj, const char *path, const char *key, int flags,
	     const cJSON **out)
{
	char kp[JFIELD_PATH_MAX];
	const cJSON *v;
	int rc = jfield_find(j, obj, path, key, flags, kp, &v);

	if (rc <= 0)
		return rc;
	if (!cJSON_IsArray(v))
		return jfield_fail(j, kp, "must be an array, got %s", jfield_type(v));
	*out = v;
	return 1;
}

int
jfield_enum(const struct jfield *j, const cJSON *v, const char *path, const char *const *names,
	    size_t n, size_t *idx)
{
	char list[JFIELD_CHOICES_MAX], g[JFIELD_GOT_MAX];
	size_t i, o = 0;

	if (!cJSON_IsString(v))
		return jfield_fail(j, path, "must be a string, got %s", jfield_type(v));
	for (i = 0; i < n; i++)
		if (strcmp(v->valuestring, names[i]) == 0) {
			*idx = i;
			return 0;
		}
	list[0] = '\0';
	for (i = 0; i < n && o < sizeof(list); i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", names[i]);
	return jfield_fail(j, path, "must be one of %s, got %s", list,
			   jfield_quote(v->valuestring, g));
}
