/* Lower-case hexadecimal. */
#ifndef PKI_HEX_H
#define PKI_HEX_H

#include <stddef.h>

/* Writes the 2 * n hex digits of in[0..n) and a NUL to out (2 * n + 1 bytes). */
void hex_encode(const unsigned char *in, size_t n, char *out);

#endif
