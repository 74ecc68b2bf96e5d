#include "auth.h"

#include <string.h>
#include <strings.h>

#define AUTH_SCHEME "Bearer "

const struct user *
auth_bearer(const struct config *cfg, const char *authorization)
{
	const char *key;
	size_t n;

	if (authorization == NULL ||
	    strncasecmp(authorization, AUTH_SCHEME, strlen(AUTH_SCHEME)) != 0)
		return NULL;
	key = authorization + strlen(AUTH_SCHEME);
	while (*key == ' ')
		key++;
	n = strlen(key);
	while (n > 0 && key[n - 1] == ' ')
		n--;
	if (n == 0 || n > AUTH_KEY_MAX)
		return NULL;
	if (key[n] != '\0') {
		char buf[AUTH_KEY_MAX + 1];

		memcpy(buf, key, n);
		buf[n] = '\0';
		return config_user_by_key(cfg, buf);
	}
	return config_user_by_key(cfg, key);
}
