#include "hex.h"

#include <openssl/evp.h>

void
hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int
hex_sha256(const void *data, size_t n, char out[HEX_SHA256_BUF])
{
	unsigned char md[32];

	out[0] = '\0';
	if (EVP_Digest(data, n, md, NULL, EVP_sha256(), NULL) != 1)
		return -1;
	hex_encode(md, sizeof(md), out);
	return 0;
}
