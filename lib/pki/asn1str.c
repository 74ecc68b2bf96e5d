/*
 * ASN.1 strings: the DirectoryString and IA5String types of subjects and
 * SANs read as UTF-8, with what is wrong with them flagged for the policy
 * check; UTF-8 validity and the PrintableString set; ASCII case folding.
 */
#include <stdint.h>
#include <string.h>

#include "csr_int.h"

/* Appends code point cp as UTF-8 to out; returns bytes written. */
static size_t
utf8_put(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

int
str_utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0, k, need;
	uint32_t cp, min;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			need = 1, cp = s[i] & 0x1f, min = 0x80;
		} else if ((s[i] & 0xf0) == 0xe0) {
			need = 2, cp = s[i] & 0x0f, min = 0x800;
		} else if ((s[i] & 0xf8) == 0xf0) {
			need = 3, cp = s[i] & 0x07, min = 0x10000;
		} else {
			return 0;
		}
		if (n - i <= need)
			return 0;
		for (k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}

int
str_printable_char(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       strchr(" '()+,-./:=?", ch) != NULL;
}

void
asn1str_to_utf8(char *out, unsigned tag, const unsigned char *v, size_t n, size_t *outlen,
		unsigned *flags)
{
	size_t i, o = 0;
	uint32_t cp;

	*flags = 0;
	switch (tag) {
	case DER_UTF8STRING:
		if (!str_utf8_valid(v, n))
			*flags |= STR_BAD_UTF8;
		memcpy(out, v, n);
		o = n;
		break;
	case DER_PRINTABLESTRING:
	case DER_IA5STRING:
		for (i = 0; i < n; i++) {
			if (v[i] >= 0x80)
				*flags |= STR_BAD_CHARS;
			else if (tag == DER_PRINTABLESTRING && v[i] >= 0x20 && v[i] != 0x7f &&
				 !str_printable_char(v[i]))
				*flags |= STR_BAD_CHARS;
			if (v[i] >= 0x80)
				o +=
				    utf8_put(out + o, v[i]); /* shown as Latin-1, as OpenSSL does */
			else
				out[o++] = (char)v[i];
		}
		break;
	case DER_T61STRING:
		for (i = 0; i < n; i++)
			o += utf8_put(out + o, v[i]);
		break;
	case DER_BMPSTRING:
		if (n % 2)
			*flags |= STR_BAD_UTF8;
		for (i = 0; i + 1 < n; i += 2) {
			cp = ((uint32_t)v[i] << 8) | v[i + 1];
			if (cp >= 0xd800 && cp <= 0xdfff) {
				*flags |= STR_BAD_UTF8;
				continue;
			}
			o += utf8_put(out + o, cp);
		}
		break;
	case DER_UNIVERSALSTRING:
		if (n % 4)
			*flags |= STR_BAD_UTF8;
		for (i = 0; i + 3 < n; i += 4) {
			cp = ((uint32_t)v[i] << 24) | ((uint32_t)v[i + 1] << 16) |
			     ((uint32_t)v[i + 2] << 8) | v[i + 3];
			if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
				*flags |= STR_BAD_UTF8;
				continue;
			}
			o += utf8_put(out + o, cp);
		}
		break;
	default:
		*flags |= STR_BAD_TYPE;
		memcpy(out, v, n);
		o = n;
		break;
	}
	out[o] = '\0';
	for (i = 0; i < o; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			*flags |= STR_CTRL;
	*outlen = o;
}

static int
ascii_lower_eq(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
		if (x >= 'A' && x <= 'Z')
			x += 32;
		if (y >= 'A' && y <= 'Z')
			y += 32;
		if (x != y)
			return 0;
	}
	return 1;
}

int
ascii_casecmp_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && ascii_lower_eq(a, b, alen);
}
