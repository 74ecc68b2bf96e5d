#include "ids.h"

#include <ctype.h>
#include <string.h>

int
id_valid_n(const char *s, unsigned long n)
{
	unsigned long i;

	if (n == 0 || n > ID_MAX || !isalnum((unsigned char)s[0]))
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return 0;
	return 1;
}

int
id_valid(const char *s)
{
	return id_valid_n(s, strlen(s));
}

const char *
id_rule(const char *s)
{
	return id_valid(s) ? NULL : "must be " ID_RULE;
}
