/* Helpers for the issuance tests (see csrfix.h). */
#include "csrfix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "test.h"

#define FIX_MAX_FILE (1024 * 1024)

unsigned char *
fix_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	if ((buf = malloc(FIX_MAX_FILE + 1)) == NULL) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, FIX_MAX_FILE, f);
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

unsigned char *
fix_csr(const char *sub, const char *name, size_t *len)
{
	char path[512];
	unsigned char *b;

	snprintf(path, sizeof(path), "%s/fixtures/csr/%s/%s", test_data_dir(), sub, name);
	if ((b = fix_read(path, len)) == NULL)
		test_fail(__FILE__, __LINE__, "cannot read %s", path);
	return b;
}

cJSON *
fix_manifest(void)
{
	static cJSON *m;
	char path[512];
	unsigned char *b;
	size_t n;

	if (m != NULL)
		return m;
	snprintf(path, sizeof(path), "%s/fixtures/csr/manifest.json", test_data_dir());
	if ((b = fix_read(path, &n)) == NULL || (m = cJSON_Parse((char *)b)) == NULL)
		test_fail(__FILE__, __LINE__, "cannot read %s", path);
	free(b);
	return m;
}

const char *
fix_ca_dir(void)
{
	static char dir[512];

	snprintf(dir, sizeof(dir), "%s/fixtures/ca", test_data_dir());
	return dir;
}

int
fix_has_code(const struct violations *vs, const char *code)
{
	size_t i;

	for (i = 0; i < vs->n; i++)
		if (strcmp(vs->v[i].code, code) == 0)
			return 1;
	return 0;
}

const char *
fix_codes(const struct violations *vs)
{
	static char buf[2048];
	size_t i, o = 0;

	buf[0] = '\0';
	for (i = 0; i < vs->n && o < sizeof(buf); i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s(%s: %s)", i ? " " : "",
				      vs->v[i].code, vs->v[i].field, vs->v[i].message);
	return vs->n ? buf : "(none)";
}

unsigned char *
fix_der(const unsigned char *buf, size_t len, size_t *der_len)
{
	BIO *b;
	unsigned char *data = NULL, *out = NULL;
	long n = 0;
	char *name = NULL, *header = NULL;

	if (len > 0 && buf[0] == 0x30) {
		if ((out = malloc(len)) != NULL) {
			memcpy(out, buf, len);
			*der_len = len;
		}
		return out;
	}
	if ((b = BIO_new_mem_buf(buf, (int)len)) == NULL)
		return NULL;
	if (PEM_read_bio(b, &name, &header, &data, &n) == 1 && n > 0 &&
	    (out = malloc((size_t)n)) != NULL) {
		memcpy(out, data, (size_t)n);
		*der_len = (size_t)n;
	}
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	BIO_free(b);
	return out;
}
