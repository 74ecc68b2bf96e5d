/* Names of the bit sets used in the config file and the API. */
#include <string.h>

#include "issue.h"

static const struct {
	unsigned bit;
	const char *name;
} ext_names[] = {
    {EXT_SERVER_AUTH, "server_auth"},
    {EXT_CLIENT_AUTH, "client_auth"},
    {EXT_EMAIL_PROTECTION, "email_protection"},
    {EXT_CODE_SIGNING, "code_signing"},
};

unsigned
ext_from_name(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(ext_names) / sizeof(ext_names[0]); i++)
		if (strcmp(name, ext_names[i].name) == 0)
			return ext_names[i].bit;
	return 0;
}

const char *
ext_name(unsigned bit)
{
	size_t i;

	for (i = 0; i < sizeof(ext_names) / sizeof(ext_names[0]); i++)
		if (ext_names[i].bit == bit)
			return ext_names[i].name;
	return NULL;
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
