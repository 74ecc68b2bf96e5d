#include "secret.h"
#include "test.h"

TEST(secret_api_key_roundtrip)
{
	char key[64], enc[80], again[80];
	unsigned char d[32], d2[32];

	CHECK_INT(secret_api_key_new(key, sizeof(key)), 0);
	CHECK_INT(strlen(key), 4 + SECRET_API_KEY_LEN);
	secret_api_key_hash(key, d);
	secret_hash_format(d, enc);
	CHECK_INT(secret_hash_parse(enc, d2), 0);
	CHECK(secret_equal(d, d2, 32));
	secret_hash_format(d2, again);
	CHECK_STR(again, enc);
	CHECK_INT(secret_hash_parse("sha256:zz", d2), -1);
	CHECK_INT(secret_hash_parse("md5:00", d2), -1);
}

TEST(secret_scrypt)
{
	char h[SECRET_HASH_MAX];

	CHECK_INT(secret_scrypt_hash("correct horse", h, sizeof(h)), 0);
	CHECK(secret_scrypt_valid(h));
	CHECK_INT(secret_scrypt_verify("correct horse", h), 1);
	CHECK_INT(secret_scrypt_verify("correct horsf", h), 0);
	CHECK_INT(secret_scrypt_verify("x", "scrypt$3$8$1$AAAA$BBBB"), -1);
	CHECK(!secret_scrypt_valid("plain"));
}
