/* Names of the bit sets used in the config file and the API. */
#include <string.h>

#include "issue.h"

/* Extension names in bit order: ext_names[i] names 1 << i (enum ext_bit). */
static const char *const ext_names[] = {"server_auth", "client_auth", "email_protection",
					"code_signing"};
#define EXT_NAMES (sizeof(ext_names) / sizeof(ext_names[0]))
_Static_assert(EXT_SERVER_AUTH == 1 && EXT_CLIENT_AUTH == 2 && EXT_EMAIL_PROTECTION == 4 &&
		   EXT_CODE_SIGNING == 8,
	       "extension bits are 1 << their index in ext_names");

unsigned
ext_from_name(const char *name)
{
	size_t i;

	for (i = 0; i < EXT_NAMES; i++)
		if (strcmp(name, ext_names[i]) == 0)
			return 1u << i;
	return 0;
}

const char *
ext_name(unsigned bit)
{
	size_t i;

	for (i = 0; i < EXT_NAMES; i++)
		if (1u << i == bit)
			return ext_names[i];
	return NULL;
}

const char *const *
ext_name_list(size_t *n)
{
	*n = EXT_NAMES;
	return ext_names;
}

const char *
key_type_name(unsigned kt)
{
	switch (kt) {
	case KT_RSA:
		return "RSA";
	case KT_EC:
		return "EC";
	case KT_ED25519:
		return "Ed25519";
	}
	return "unknown";
}
