/*
 * Test CAs from tests/fixtures/ca/ (made by its generate.sh), loaded into a
 * struct ca the way config_load would. Shared by the unit tests, the bench
 * and the fuzz target; header-only so each build links it on its own.
 */
#ifndef PKI_TESTCA_H
#define PKI_TESTCA_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "config.h"

struct testca {
	struct ca ca;
	X509 *root;
};

static X509 *
testca_read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	if (f == NULL)
		return NULL;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

/* Loads int-<tag> (key, cert) with root-<tag> as its chain from dir. Returns 0 or -1. */
static int
testca_load(struct testca *t, const char *dir, const char *tag)
{
	char path[512];
	FILE *f;

	memset(t, 0, sizeof(*t));
	snprintf(path, sizeof(path), "%s/int-%s.pem", dir, tag);
	if ((t->ca.cert = testca_read_cert(path)) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/root-%s.pem", dir, tag);
	if ((t->root = testca_read_cert(path)) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/int-%s.key", dir, tag);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	t->ca.key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (t->ca.key == NULL)
		return -1;
	if ((t->ca.chain = sk_X509_new_null()) == NULL || !X509_up_ref(t->root) ||
	    !sk_X509_push(t->ca.chain, t->root))
		return -1;
	t->ca.id = (char *)tag;
	t->ca.type = CA_INTERMEDIATE;
	t->ca.status = CA_ACTIVE;
	t->ca.api_issuance = 1;
	t->ca.max_validity_days = CONFIG_MAX_VALIDITY_DAYS;
	t->ca.allowed_key_types = KT_RSA | KT_EC | KT_ED25519;
	t->ca.allowed_key_sizes = RSA_2048 | RSA_3072 | RSA_4096;
	t->ca.allowed_curves = CURVE_P256 | CURVE_P384 | CURVE_P521;
	t->ca.allowed_extensions = EXT_SERVER_AUTH | EXT_CLIENT_AUTH | EXT_EMAIL_PROTECTION;
	return 0;
}

static void
testca_free(struct testca *t)
{
	X509_free(t->ca.cert);
	EVP_PKEY_free(t->ca.key);
	sk_X509_pop_free(t->ca.chain, X509_free);
	X509_free(t->root);
	memset(t, 0, sizeof(*t));
}

#endif
