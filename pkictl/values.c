/* Checks and parsers for flag values; each error names the flag, the rule and the value. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extern.h"

int
check_id(const char *flag, const char *s)
{
	if (!id_valid(s)) {
		pk_err("%s: must be %s, got \"%.80s\"", flag, ID_RULE, s);
		return -1;
	}
	return 0;
}

int
check_text(const char *flag, const char *s, size_t max)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > max) {
		pk_err("%s: must be 1..%zu bytes, got %zu", flag, max, n);
		return -1;
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			pk_err("%s: must not hold control characters, got \"%s\"", flag, s);
			return -1;
		}
	if (isspace((unsigned char)s[0]) || isspace((unsigned char)s[n - 1])) {
		pk_err("%s: must not start or end with a space, got \"%s\"", flag, s);
		return -1;
	}
	return 0;
}

int
check_email(const char *flag, const char *s)
{
	const char *at = strchr(s, '@');
	size_t i, n = strlen(s);

	if (n == 0 || n > PKICTL_EMAIL_MAX || at == NULL || at == s || at[1] == '\0' ||
	    strchr(at + 1, '@') != NULL || strchr(at + 1, '.') == NULL) {
		pk_err("%s: must be an address local@domain.tld of at most %d bytes, got \"%s\"",
		       flag, PKICTL_EMAIL_MAX, s);
		return -1;
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f) {
			pk_err("%s: must not hold spaces or control characters, got \"%s\"", flag,
			       s);
			return -1;
		}
	return 0;
}

int
check_country(const char *flag, const char *s)
{
	if (strlen(s) != 2 || !isupper((unsigned char)s[0]) || !isupper((unsigned char)s[1])) {
		pk_err("%s: must be a two-letter ISO 3166 code in capitals, got \"%s\"", flag, s);
		return -1;
	}
	return 0;
}

int
check_hostport(const char *flag, const char *s)
{
	const char *colon = strrchr(s, ':');
	long port;
	char *end;

	if (colon == NULL || colon == s) {
		pk_err("%s: must be host:port, got \"%s\"", flag, s);
		return -1;
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || *end != '\0' || port < 1 || port > 65535) {
		pk_err("%s: port must be 1..65535, got \"%s\"", flag, s);
		return -1;
	}
	return 0;
}

int
parse_int(const char *flag, const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		pk_err("%s: must be an integer %ld..%ld, got \"%s\"", flag, min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

/* Calls fn on each comma-separated item of s; an empty item is an error. */
static int
list_each(const char *flag, const char *s, int (*fn)(const char *flag, const char *item, void *arg),
	  void *arg)
{
	char *copy = NULL, *item, *save = NULL;
	int rc = -1;
	size_t n = strlen(s);

	if (n == 0 || s[0] == ',' || s[n - 1] == ',' || strstr(s, ",,") != NULL) {
		pk_err("%s: must be a comma-separated list without empty items, got \"%s\"", flag,
		       s);
		return -1;
	}
	if ((copy = strdup(s)) == NULL)
		goto out;
	for (item = strtok_r(copy, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save))
		if (fn(flag, item, arg) != 0)
			goto out;
	rc = 0;
out:
	free(copy);
	return rc;
}

/* Appends item to the array arg unless a duplicate. */
static int
list_add_string(const char *flag, const char *item, void *arg)
{
	cJSON *arr = arg, *it;

	cJSON_ArrayForEach(it, arr)
	{
		if (strcmp(it->valuestring, item) != 0)
			continue;
		pk_err("%s: \"%s\" is listed twice", flag, item);
		return -1;
	}
	return cJSON_AddItemToArray(arr, cJSON_CreateString(item)) ? 0 : -1;
}

struct check_ctx {
	cJSON *arr;
	item_check_fn check;
};

static int
list_check_add(const char *flag, const char *item, void *arg)
{
	struct check_ctx *c = arg;

	if (c->check != NULL && c->check(flag, item) != 0)
		return -1;
	return list_add_string(flag, item, c->arr);
}

int
parse_list(const char *flag, const char *s, item_check_fn check, cJSON **out)
{
	struct check_ctx c = {cJSON_CreateArray(), check};

	if (c.arr == NULL || list_each(flag, s, list_check_add, &c) != 0) {
		cJSON_Delete(c.arr);
		return -1;
	}
	*out = c.arr;
	return 0;
}

/* Adds "K=V" to the object arg. */
static int
list_add_pair(const char *flag, const char *item, void *arg)
{
	cJSON *obj = arg;
	const char *eq = strchr(item, '=');
	char key[PKICTL_PAIR_KEY_MAX];

	if (eq == NULL || eq == item || eq[1] == '\0' || (size_t)(eq - item) >= sizeof(key)) {
		pk_err("%s: each item must be NAME=VALUE, got \"%s\"", flag, item);
		return -1;
	}
	memcpy(key, item, (size_t)(eq - item));
	key[eq - item] = '\0';
	if (cJSON_GetObjectItemCaseSensitive(obj, key) != NULL) {
		pk_err("%s: %s is given twice", flag, key);
		return -1;
	}
	return cJSON_AddStringToObject(obj, key, eq + 1) ? 0 : -1;
}

int
parse_pairs(const char *flag, const char *s, cJSON **out)
{
	cJSON *obj = cJSON_CreateObject();

	if (obj == NULL || list_each(flag, s, list_add_pair, obj) != 0) {
		cJSON_Delete(obj);
		return -1;
	}
	*out = obj;
	return 0;
}

struct int_ctx {
	cJSON *arr;
	const long *allowed;
	size_t n;
};

static int
list_add_int(const char *flag, const char *item, void *arg)
{
	struct int_ctx *c = arg;
	char *end;
	long v;
	size_t i;
	cJSON *it;

	errno = 0;
	v = strtol(item, &end, 10);
	for (i = 0; errno == 0 && end != item && *end == '\0' && i < c->n; i++)
		if (c->allowed[i] == v)
			break;
	if (errno != 0 || end == item || *end != '\0' || i == c->n) {
		pk_err("%s: \"%s\" is not one of the supported values", flag, item);
		return -1;
	}
	cJSON_ArrayForEach(it, c->arr)
	{
		if ((long)it->valuedouble != v)
			continue;
		pk_err("%s: %ld is listed twice", flag, v);
		return -1;
	}
	return cJSON_AddItemToArray(c->arr, cJSON_CreateNumber((double)v)) ? 0 : -1;
}

int
parse_int_list(const char *flag, const char *s, const long *allowed, size_t n, cJSON **out)
{
	struct int_ctx c = {cJSON_CreateArray(), allowed, n};

	if (c.arr == NULL || list_each(flag, s, list_add_int, &c) != 0) {
		cJSON_Delete(c.arr);
		return -1;
	}
	*out = c.arr;
	return 0;
}

int
read_secret_line(int fd, const char *what, char **out)
{
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int rc = -1;

	if ((buf = malloc(PKICTL_PASSWORD_MAX + 2)) == NULL)
		goto out;
	/* Read up to one byte past the limit so an over-long secret is refused, not cut. */
	while (len < PKICTL_PASSWORD_MAX + 1 && memchr(buf, '\n', len) == NULL) {
		n = read(fd, buf + len, PKICTL_PASSWORD_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			pk_err("%s: read failed: %s", what, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	len = strlen(buf);
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	if (len > PKICTL_PASSWORD_MAX) {
		pk_err("%s: must be at most %d bytes", what, PKICTL_PASSWORD_MAX);
		goto out;
	}
	if (len < PKICTL_PASSWORD_MIN) {
		pk_err("%s: must be at least %d characters, got %zu", what, PKICTL_PASSWORD_MIN,
		       len);
		goto out;
	}
	*out = buf;
	buf = NULL;
	rc = 0;
out:
	if (buf != NULL) {
		memset(buf, 0, PKICTL_PASSWORD_MAX + 2);
		free(buf);
	}
	return rc;
}
