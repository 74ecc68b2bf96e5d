/* Secrets: API keys, approval passwords, HMAC grants. */
#ifndef PKI_SECRET_H
#define PKI_SECRET_H

#include <stddef.h>

#define SECRET_API_KEY_LEN 43 /* base64url of 32 random bytes, no padding */
#define SECRET_SCRYPT_N 16384 /* 2^14: ~50 ms, 16 MiB per check */
#define SECRET_SCRYPT_R 8
#define SECRET_SCRYPT_P 1
#define SECRET_HASH_MAX 160

/* Writes "pki_" + SECRET_API_KEY_LEN random base64url chars + NUL into out (>= 48 bytes). */
int secret_api_key_new(char *out, size_t outlen);
/* SHA-256 of key into digest[32]. */
void secret_api_key_hash(const char *key, unsigned char digest[32]);
/* Parses "sha256:<64 hex>" into digest. Returns 0 or -1. */
int secret_hash_parse(const char *s, unsigned char digest[32]);
/* Formats digest as "sha256:<hex>" into out (>= 72 bytes). */
void secret_hash_format(const unsigned char digest[32], char *out);

/* Hashes password with scrypt and a random salt: "scrypt$N$r$p$salt_b64$hash_b64". */
int secret_scrypt_hash(const char *password, char *out, size_t outlen);
/* 1 if password matches encoded (constant time in the comparison), 0 if not, -1 if malformed. */
int secret_scrypt_verify(const char *password, const char *encoded);
/* 1 if encoded is a well-formed scrypt hash with sane parameters. */
int secret_scrypt_valid(const char *encoded);

/* Constant-time equality of n bytes. */
int secret_equal(const void *a, const void *b, size_t n);
/* HMAC-SHA256(key, msg) as lowercase hex into out (65 bytes). */
int secret_hmac_hex(const unsigned char *key, size_t keylen, const void *msg, size_t msglen,
		    char out[65]);

#endif
