#include "secret.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"

#define SCRYPT_SALT_LEN 16
#define SCRYPT_OUT_LEN 32
#define SCRYPT_MAXMEM (64u * 1024 * 1024)
#define SECRET_HMAC_BLOCK 64 /* SHA-256 block size (RFC 2104 B) */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int
secret_api_key_new(char *out, size_t outlen)
{
	unsigned char raw[32];
	size_t i;

	if (outlen < 4 + SECRET_API_KEY_LEN + 1 || RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	memcpy(out, "pki_", 4);
	/* 43 chars of 6 bits cover 258 bits; take them from the 256 random bits. */
	for (i = 0; i < SECRET_API_KEY_LEN; i++) {
		size_t bit = i * 6, byte = bit / 8, shift = bit % 8;
		unsigned v = raw[byte] << 8 | (byte + 1 < sizeof(raw) ? raw[byte + 1] : 0);
		out[4 + i] = b64url[(v >> (10 - shift)) & 63];
	}
	out[4 + SECRET_API_KEY_LEN] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

void
secret_api_key_hash(const char *key, unsigned char digest[32])
{
	SHA256((const unsigned char *)key, strlen(key), digest);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
secret_hash_parse(const char *s, unsigned char digest[32])
{
	size_t i;

	if (strncmp(s, "sha256:", 7) != 0 || strlen(s) != 7 + 64)
		return -1;
	for (i = 0; i < 32; i++) {
		int hi = hexval(s[7 + 2 * i]), lo = hexval(s[8 + 2 * i]);
		if (hi < 0 || lo < 0)
			return -1;
		digest[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

void
secret_hash_format(const unsigned char digest[32], char *out)
{
	memcpy(out, "sha256:", 7);
	hex_encode(digest, 32, out + 7);
}

int
secret_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

/*
 * SHA-256 fetched once, and a digest context per thread (freed when the
 * thread ends): HMAC()'s implicit fetch and a context per call cost more
 * than hashing a bulk message.
 */
static EVP_MD *secret_sha256;
static pthread_key_t secret_ctx_key;
static pthread_once_t secret_sha256_once = PTHREAD_ONCE_INIT;

static void
secret_ctx_free(void *ctx)
{
	EVP_MD_CTX_free(ctx);
}

static void
secret_sha256_fetch(void)
{
	if (pthread_key_create(&secret_ctx_key, secret_ctx_free) == 0)
		secret_sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
}

/* The calling thread's digest context, or NULL without memory. */
static EVP_MD_CTX *
secret_ctx(void)
{
	EVP_MD_CTX *ctx;

	pthread_once(&secret_sha256_once, secret_sha256_fetch);
	if (secret_sha256 == NULL)
		return NULL;
	if ((ctx = pthread_getspecific(secret_ctx_key)) == NULL &&
	    (ctx = EVP_MD_CTX_new()) != NULL && pthread_setspecific(secret_ctx_key, ctx) != 0) {
		EVP_MD_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

/* H(pad XOR'd key || a || b) into out[32]. 0 or -1. */
static int
secret_hmac_pass(EVP_MD_CTX *ctx, const unsigned char *pad, const void *a, size_t alen,
		 unsigned char *out)
{
	return EVP_DigestInit_ex(ctx, secret_sha256, NULL) == 1 &&
		       EVP_DigestUpdate(ctx, pad, SECRET_HMAC_BLOCK) == 1 &&
		       EVP_DigestUpdate(ctx, a, alen) == 1 &&
		       EVP_DigestFinal_ex(ctx, out, NULL) == 1
		   ? 0
		   : -1;
}

int
secret_hmac_hex(const unsigned char *key, size_t keylen, const void *msg, size_t msglen,
		char out[65])
{
	unsigned char k[SECRET_HMAC_BLOCK] = {0}, ipad[SECRET_HMAC_BLOCK], opad[SECRET_HMAC_BLOCK];
	unsigned char inner[32], md[32];
	EVP_MD_CTX *ctx = secret_ctx();
	size_t i;
	int rc = -1;

	if (ctx == NULL)
		goto out;
	if (keylen > SECRET_HMAC_BLOCK) {
		if (EVP_Digest(key, keylen, k, NULL, secret_sha256, NULL) != 1)
			goto out;
	} else {
		memcpy(k, key, keylen);
	}
	for (i = 0; i < SECRET_HMAC_BLOCK; i++) {
		ipad[i] = k[i] ^ 0x36;
		opad[i] = k[i] ^ 0x5c;
	}
	if (secret_hmac_pass(ctx, ipad, msg, msglen, inner) != 0 ||
	    secret_hmac_pass(ctx, opad, inner, sizeof(inner), md) != 0)
		goto out;
	hex_encode(md, sizeof(md), out);
	rc = 0;
out:
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(ipad, sizeof(ipad));
	OPENSSL_cleanse(opad, sizeof(opad));
	return rc;
}

static int
scrypt_raw(const char *pw, const unsigned char *salt, size_t saltlen, unsigned long n,
	   unsigned long r, unsigned long p, unsigned char *out, size_t outlen)
{
	return EVP_PBE_scrypt(pw, strlen(pw), salt, saltlen, n, r, p, SCRYPT_MAXMEM, out, outlen) ==
		       1
		   ? 0
		   : -1;
}

int
secret_scrypt_hash(const char *password, char *out, size_t outlen)
{
	unsigned char salt[SCRYPT_SALT_LEN], dk[SCRYPT_OUT_LEN];
	char salt64[64], dk64[64];
	int rc = -1;

	if (RAND_bytes(salt, sizeof(salt)) != 1)
		goto out;
	if (scrypt_raw(password, salt, sizeof(salt), SECRET_SCRYPT_N, SECRET_SCRYPT_R,
		       SECRET_SCRYPT_P, dk, sizeof(dk)) != 0)
		goto out;
	EVP_EncodeBlock((unsigned char *)salt64, salt, sizeof(salt));
	EVP_EncodeBlock((unsigned char *)dk64, dk, sizeof(dk));
	if ((size_t)snprintf(out, outlen, "scrypt$%d$%d$%d$%s$%s", SECRET_SCRYPT_N, SECRET_SCRYPT_R,
			     SECRET_SCRYPT_P, salt64, dk64) >= outlen)
		goto out;
	rc = 0;
out:
	OPENSSL_cleanse(dk, sizeof(dk));
	return rc;
}

/* Splits an encoded hash; returns 0 and fills the fields, or -1. */
static int
scrypt_parse(const char *enc, unsigned long *n, unsigned long *r, unsigned long *p,
	     unsigned char *salt, int *saltlen, unsigned char *dk, int *dklen)
{
	char s64[128], d64[128];
	int len;

	if (strlen(enc) >= SECRET_HASH_MAX)
		return -1;
	if (sscanf(enc, "scrypt$%lu$%lu$%lu$%127[A-Za-z0-9+/=]$%127[A-Za-z0-9+/=]", n, r, p, s64,
		   d64) != 5)
		return -1;
	if (*n < 1024 || *n > (1u << 20) || (*n & (*n - 1)) != 0 || *r < 1 || *r > 32 || *p < 1 ||
	    *p > 16)
		return -1;
	if (strlen(s64) % 4 != 0 || strlen(d64) % 4 != 0 || strlen(s64) > 64 || strlen(d64) > 64)
		return -1;
	if ((len = EVP_DecodeBlock(salt, (unsigned char *)s64, (int)strlen(s64))) < 0)
		return -1;
	*saltlen = len - (int)(strchr(s64, '=') ? strlen(strchr(s64, '=')) : 0);
	if ((len = EVP_DecodeBlock(dk, (unsigned char *)d64, (int)strlen(d64))) < 0)
		return -1;
	*dklen = len - (int)(strchr(d64, '=') ? strlen(strchr(d64, '=')) : 0);
	if (*saltlen < 8 || *dklen < 16)
		return -1;
	return 0;
}

int
secret_scrypt_valid(const char *encoded)
{
	unsigned long n, r, p;
	unsigned char salt[64], dk[64];
	int sl, dl;

	return encoded != NULL && scrypt_parse(encoded, &n, &r, &p, salt, &sl, dk, &dl) == 0;
}

int
secret_scrypt_verify(const char *password, const char *encoded)
{
	unsigned long n, r, p;
	unsigned char salt[64], dk[64], got[64];
	int sl, dl, ok;

	if (encoded == NULL || scrypt_parse(encoded, &n, &r, &p, salt, &sl, dk, &dl) != 0)
		return -1;
	if (scrypt_raw(password, salt, (size_t)sl, n, r, p, got, (size_t)dl) != 0)
		return -1;
	ok = secret_equal(got, dk, (size_t)dl);
	OPENSSL_cleanse(got, sizeof(got));
	return ok;
}
