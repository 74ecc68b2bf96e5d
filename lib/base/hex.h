/* Lower-case hexadecimal. */
#ifndef PKI_HEX_H
#define PKI_HEX_H

#include <stddef.h>

#define HEX_SHA256_BUF 65 /* a SHA-256 in lower-case hex and its NUL */

/* Writes the 2 * n hex digits of in[0..n) and a NUL to out (2 * n + 1 bytes). */
void hex_encode(const unsigned char *in, size_t n, char *out);

/* The SHA-256 of data[0..n) in hex into out. 0, or -1 when OpenSSL failed (out empty). */
int hex_sha256(const void *data, size_t n, char out[HEX_SHA256_BUF]);

#endif
