/* Key pairs and certificates: CAs, and the infrastructure's own TLS certificates. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "extern.h"

#define KEY_FILE_MODE 0600
#define CERT_FILE_MODE 0644
#define EC_SHA384_MIN_BITS 384 /* P-384 keys sign with SHA-384, smaller ones with SHA-256 */
#define EXT_VALUE_MAX 128

static const struct keyspec keyspecs[] = {
    {"rsa2048", "RSA", 2048, NULL},  {"rsa3072", "RSA", 3072, NULL},
    {"rsa4096", "RSA", 4096, NULL},  {"ec-p256", "EC", 256, "P-256"},
    {"ec-p384", "EC", 384, "P-384"},
};
#define NKEYSPECS (sizeof(keyspecs) / sizeof(keyspecs[0]))

const struct keyspec *
keyspec_find(const char *name)
{
	size_t i;

	for (i = 0; i < NKEYSPECS; i++)
		if (strcmp(keyspecs[i].name, name) == 0)
			return &keyspecs[i];
	return NULL;
}

const char *
keyspec_names(void)
{
	return "rsa2048, rsa3072, rsa4096, ec-p256, ec-p384";
}

EVP_PKEY *
key_generate(const struct keyspec *ks)
{
	EVP_PKEY *k;

	if (ks->curve != NULL)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", ks->curve);
	else
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)ks->bits);
	if (k == NULL)
		pk_sslerr(ks->name);
	return k;
}

/* Creates path (must not exist) with mode and writes PEM through fn. Removes it on failure. */
static int
pem_write_new(const char *path, mode_t mode, int (*fn)(BIO *b, void *obj), void *obj)
{
	BIO *b = NULL;
	int fd, rc = -1;

	/* O_EXCL with the final mode: the file is never readable by others, not even briefly. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0) {
		pk_err("%s: cannot create: %s", path, strerror(errno));
		return -1;
	}
	if (fchmod(fd, mode) != 0) {
		pk_err("%s: chmod: %s", path, strerror(errno));
		goto out;
	}
	if ((b = BIO_new_fd(fd, BIO_NOCLOSE)) == NULL || fn(b, obj) != 1 || BIO_flush(b) != 1) {
		pk_sslerr(path);
		goto out;
	}
	if (fsync(fd) != 0) {
		pk_err("%s: fsync: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	BIO_free(b);
	if (close(fd) != 0 && rc == 0) {
		pk_err("%s: close: %s", path, strerror(errno));
		rc = -1;
	}
	if (rc != 0)
		unlink(path);
	return rc;
}

static int
pem_key(BIO *b, void *obj)
{
	return PEM_write_bio_PrivateKey(b, obj, NULL, NULL, 0, NULL, NULL);
}

static int
pem_cert(BIO *b, void *obj)
{
	return PEM_write_bio_X509(b, obj);
}

/* A key (may be NULL) and certificates, in this order. */
struct pem_bundle {
	EVP_PKEY *key;
	X509 *const *certs;
	size_t ncerts;
};

static int
pem_bundle(BIO *b, void *obj)
{
	const struct pem_bundle *pb = obj;
	size_t i;

	if (pb->key != NULL && pem_key(b, pb->key) != 1)
		return 0;
	for (i = 0; i < pb->ncerts; i++)
		if (pem_cert(b, pb->certs[i]) != 1)
			return 0;
	return 1;
}

int
bundle_write_new(const char *path, EVP_PKEY *key, X509 *const *certs, size_t ncerts)
{
	struct pem_bundle pb = {key, certs, ncerts};

	return pem_write_new(path, key != NULL ? KEY_FILE_MODE : CERT_FILE_MODE, pem_bundle, &pb);
}

int
key_write_new(const char *path, EVP_PKEY *key)
{
	return pem_write_new(path, KEY_FILE_MODE, pem_key, key);
}

int
cert_write_new(const char *path, X509 *cert)
{
	return pem_write_new(path, CERT_FILE_MODE, pem_cert, cert);
}

EVP_PKEY *
key_load(const char *path)
{
	EVP_PKEY *k = NULL;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		pk_err("%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	if ((k = PEM_read_PrivateKey(f, NULL, NULL, NULL)) == NULL)
		pk_sslerr(path);
	fclose(f);
	return k;
}

X509 *
cert_load(const char *path)
{
	X509 *x = NULL;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		pk_err("%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	if ((x = PEM_read_X509(f, NULL, NULL, NULL)) == NULL)
		pk_sslerr(path);
	fclose(f);
	return x;
}

const EVP_MD *
digest_for(EVP_PKEY *signer)
{
	if (EVP_PKEY_is_a(signer, "EC") && EVP_PKEY_get_bits(signer) >= EC_SHA384_MIN_BITS)
		return EVP_sha384();
	return EVP_sha256();
}

/* A positive serial of PKICTL_SERIAL_BYTES bytes from the CSPRNG. */
static int
serial_set(X509 *x)
{
	unsigned char raw[PKICTL_SERIAL_BYTES];
	BIGNUM *bn = NULL;
	int rc = -1;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		goto out;
	raw[0] &= 0x7f; /* positive in DER */
	raw[0] |= 0x40; /* and always the full length */
	if ((bn = BN_bin2bn(raw, sizeof(raw), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto out;
	rc = 0;
out:
	BN_free(bn);
	return rc;
}

static X509_NAME *
name_build(const struct cert_params *p)
{
	X509_NAME *n = X509_NAME_new();

	if (n == NULL)
		return NULL;
	if ((p->country != NULL &&
	     !X509_NAME_add_entry_by_NID(n, NID_countryName, MBSTRING_UTF8,
					 (const unsigned char *)p->country, -1, -1, 0)) ||
	    (p->org != NULL &&
	     !X509_NAME_add_entry_by_NID(n, NID_organizationName, MBSTRING_UTF8,
					 (const unsigned char *)p->org, -1, -1, 0)) ||
	    !X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8,
					(const unsigned char *)p->cn, -1, -1, 0)) {
		X509_NAME_free(n);
		return NULL;
	}
	return n;
}

static int
ext_add(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
	int ok;

	if (e == NULL)
		return -1;
	ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok ? 0 : -1;
}

X509 *
cert_build(const struct cert_params *p, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key)
{
	EVP_PKEY *signer = issuer_key ? issuer_key : key;
	char bc[EXT_VALUE_MAX];
	X509_NAME *name = NULL;
	X509V3_CTX ctx;
	X509 *x = NULL, *ret = NULL;

	if (p->leaf)
		snprintf(bc, sizeof(bc), "critical,CA:FALSE");
	else if (p->pathlen >= 0)
		snprintf(bc, sizeof(bc), "critical,CA:TRUE,pathlen:%d", p->pathlen);
	else
		snprintf(bc, sizeof(bc), "critical,CA:TRUE");
	if ((x = X509_new()) == NULL || !X509_set_version(x, X509_VERSION_3) ||
	    serial_set(x) != 0 || (name = name_build(p)) == NULL ||
	    !X509_set_subject_name(x, name) ||
	    !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), (int)p->days, 0, NULL) == NULL ||
	    !X509_set_pubkey(x, key)) {
		pk_sslerr("building the certificate");
		goto out;
	}
	/* Never outlive the issuer. */
	if (issuer != NULL &&
	    ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(issuer)) > 0 &&
	    !X509_set1_notAfter(x, X509_get0_notAfter(issuer))) {
		pk_sslerr("clamping notAfter");
		goto out;
	}
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	X509V3_set_ctx_nodb(&ctx);
	/* SKI first: for a self-signed certificate the AKI copies it. */
	if (ext_add(x, &ctx, NID_basic_constraints, bc) != 0 ||
	    ext_add(x, &ctx, NID_key_usage, p->key_usage) != 0 ||
	    (p->ext_key_usage != NULL &&
	     ext_add(x, &ctx, NID_ext_key_usage, p->ext_key_usage) != 0) ||
	    (p->san != NULL && ext_add(x, &ctx, NID_subject_alt_name, p->san) != 0) ||
	    (p->name_constraints != NULL &&
	     ext_add(x, &ctx, NID_name_constraints, p->name_constraints) != 0) ||
	    ext_add(x, &ctx, NID_subject_key_identifier, "hash") != 0 ||
	    ext_add(x, &ctx, NID_authority_key_identifier, "keyid:always") != 0) {
		pk_sslerr("adding extensions");
		goto out;
	}
	if (X509_sign(x, signer, digest_for(signer)) <= 0 || X509_verify(x, signer) != 1) {
		pk_sslerr("signing the certificate");
		goto out;
	}
	ret = x;
	x = NULL;
out:
	X509_NAME_free(name);
	X509_free(x);
	return ret;
}
