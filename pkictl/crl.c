/*
 * pkictl ca crl, and the CRL writer ca init-* use for a CA's first CRL.
 * Revocation is not a feature yet: every CRL lists no certificates; it exists
 * so the cRLDistributionPoints URL in issued certificates answers with a
 * current, signed CRL.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "extern.h"

#define CRL_DIR "cas"
#define CRL_NUMBER_MAX_BYTES 20 /* RFC 5280 5.2.3: at most 20 octets */

/*
 * The CRL number the next CRL at path gets: 1 when there is no file, else
 * the previous CRL's number plus one. The previous CRL must be DER, issued
 * by cert's subject and signed by its key. Returns a new BIGNUM or NULL after
 * printing an error.
 */
static BIGNUM *
crl_next_number(const char *path, X509 *cert)
{
	X509_CRL *prev = NULL;
	ASN1_INTEGER *num = NULL;
	BIGNUM *bn = NULL;
	FILE *f;
	int crit = -1;

	if ((f = fopen(path, "rb")) == NULL) {
		if (errno != ENOENT) {
			pk_err("%s: cannot open: %s", path, strerror(errno));
			return NULL;
		}
		if ((bn = BN_new()) == NULL || !BN_one(bn)) {
			BN_free(bn);
			pk_sslerr("CRL number");
			return NULL;
		}
		return bn;
	}
	prev = d2i_X509_CRL_fp(f, NULL);
	fclose(f);
	if (prev == NULL) {
		pk_err("%s: not a DER CRL; remove it to start again at CRL number 1", path);
		goto out;
	}
	if (X509_NAME_cmp(X509_CRL_get_issuer(prev), X509_get_subject_name(cert)) != 0 ||
	    X509_CRL_verify(prev, X509_get0_pubkey(cert)) != 1) {
		pk_err("%s: not a CRL signed by this CA; refusing to replace it", path);
		goto out;
	}
	if ((num = X509_CRL_get_ext_d2i(prev, NID_crl_number, &crit, NULL)) == NULL) {
		pk_err("%s: previous CRL has no CRL number extension", path);
		goto out;
	}
	if ((bn = ASN1_INTEGER_to_BN(num, NULL)) == NULL || !BN_add_word(bn, 1)) {
		pk_sslerr("CRL number");
		BN_free(bn);
		bn = NULL;
		goto out;
	}
	if (BN_num_bytes(bn) > CRL_NUMBER_MAX_BYTES) {
		pk_err("%s: CRL number would exceed %d octets", path, CRL_NUMBER_MAX_BYTES);
		BN_free(bn);
		bn = NULL;
	}
out:
	ASN1_INTEGER_free(num);
	X509_CRL_free(prev);
	return bn;
}

/* Builds and signs the CRL. Returns it (caller frees) or NULL after printing an error. */
static X509_CRL *
crl_build(X509 *cert, EVP_PKEY *key, long days, const BIGNUM *number)
{
	X509_CRL *crl = NULL;
	ASN1_TIME *now = NULL, *next = NULL;
	ASN1_INTEGER *num = NULL;
	X509_EXTENSION *aki = NULL;
	X509V3_CTX ctx;
	int ok = 0;

	if ((crl = X509_CRL_new()) == NULL || !X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(cert)) ||
	    (now = X509_gmtime_adj(NULL, 0)) == NULL ||
	    (next = X509_time_adj_ex(NULL, (int)days, 0, NULL)) == NULL ||
	    !X509_CRL_set1_lastUpdate(crl, now) || !X509_CRL_set1_nextUpdate(crl, next))
		goto out;
	X509V3_set_ctx(&ctx, cert, NULL, NULL, crl, 0);
	if ((aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always")) ==
		NULL ||
	    !X509_CRL_add_ext(crl, aki, -1) || (num = BN_to_ASN1_INTEGER(number, NULL)) == NULL ||
	    !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0))
		goto out;
	if (X509_CRL_sign(crl, key, digest_for(key)) <= 0 ||
	    X509_CRL_verify(crl, X509_get0_pubkey(cert)) != 1)
		goto out;
	ok = 1;
out:
	if (!ok) {
		pk_sslerr("signing the CRL");
		X509_CRL_free(crl);
		crl = NULL;
	}
	ASN1_TIME_free(now);
	ASN1_TIME_free(next);
	ASN1_INTEGER_free(num);
	X509_EXTENSION_free(aki);
	return crl;
}

/* Writes crl DER to a temporary file beside path, then renames it over path. */
static int
crl_store(const char *path, X509_CRL *crl)
{
	char *tmp = NULL;
	unsigned char *der = NULL;
	int fd = -1, len, rc = -1;

	if ((len = i2d_X509_CRL(crl, &der)) <= 0) {
		pk_sslerr("encoding the CRL");
		goto out;
	}
	if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0) {
		tmp = NULL;
		goto out;
	}
	if ((fd = mkstemp(tmp)) < 0) {
		pk_err("%s: cannot create: %s", tmp, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if (fchmod(fd, PKICTL_CRL_MODE) != 0 || write(fd, der, (size_t)len) != (ssize_t)len ||
	    fsync(fd) != 0) {
		pk_err("%s: cannot write: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		pk_err("%s: cannot write: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		pk_err("%s: cannot rename to %s: %s", tmp, path, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp != NULL)
		unlink(tmp);
	free(tmp);
	OPENSSL_free(der);
	return rc;
}

int
crl_write(const char *path, X509 *cert, EVP_PKEY *key, long days, long *number)
{
	BIGNUM *bn = NULL;
	X509_CRL *crl = NULL;
	int rc = -1;

	if ((bn = crl_next_number(path, cert)) == NULL ||
	    (crl = crl_build(cert, key, days, bn)) == NULL || crl_store(path, crl) != 0)
		goto out;
	if (number != NULL)
		*number = (long)BN_get_word(bn);
	rc = 0;
out:
	BN_free(bn);
	X509_CRL_free(crl);
	return rc;
}

int
cmd_ca_crl(const struct command *cmd, int argc, char **argv)
{
	const char *config, *id = NULL, *days_s = NULL;
	const struct flag flags[] = {
	    {"--id", "ID", "CA id in the config", &id, NULL, 1},
	    {"--days", "N",
	     "nextUpdate after N days (default 7; the CA/B Forum allows at most 10 "
	     "for CRLs of subscriber certificates)",
	     &days_s, NULL, 0},
	};
	struct cfgfile *cf = NULL;
	cJSON *e, *c, *k, *old;
	char *certpath = NULL, *keypath = NULL, *crlpath = NULL, conv[PKICTL_ID_MAX + 16];
	const char *rel = conv;
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	long days = PKICTL_CRL_DAYS_DEFAULT, number = 0;
	int rc;

	if ((rc = args_parse(cmd, flags, sizeof(flags) / sizeof(flags[0]), argc, argv, &config)))
		return rc > 0 ? 0 : -1;
	rc = -1;
	if (check_id("--id", id) != 0 ||
	    (days_s != NULL && parse_int("--days", days_s, 1, PKICTL_CRL_DAYS_MAX, &days) != 0) ||
	    cfgfile_open(config, &cf) != 0)
		goto out;
	if ((e = cfgfile_find(cf, "cas", "id", id)) == NULL) {
		pk_err("--id: no CA with id \"%s\" in %s", id, cf->path);
		goto out;
	}
	c = cJSON_GetObjectItemCaseSensitive(e, "cert");
	k = cJSON_GetObjectItemCaseSensitive(e, "key");
	if (!cJSON_IsString(c) || !cJSON_IsString(k)) {
		pk_err("--id: CA \"%s\" has no cert and key paths in %s", id, cf->path);
		goto out;
	}
	/* Keep a path the config already names; else the convention cas/<id>.crl. */
	old = cJSON_GetObjectItemCaseSensitive(e, "crl");
	if (cJSON_IsString(old))
		rel = old->valuestring;
	else
		snprintf(conv, sizeof(conv), "%s/%s.crl", CRL_DIR, id);
	if ((certpath = cfgfile_resolve(cf, c->valuestring)) == NULL ||
	    (keypath = cfgfile_resolve(cf, k->valuestring)) == NULL ||
	    (crlpath = cfgfile_resolve(cf, rel)) == NULL || (cert = cert_load(certpath)) == NULL ||
	    (key = key_load(keypath)) == NULL)
		goto out;
	if (X509_check_private_key(cert, key) != 1) {
		pk_err("--id: %s does not match the certificate %s", keypath, certpath);
		goto out;
	}
	if (crl_write(crlpath, cert, key, days, &number) != 0)
		goto out;
	if (!cJSON_IsString(old)) {
		if (cJSON_AddStringToObject(e, "crl", rel) == NULL || cfgfile_commit(cf) != 0)
			goto out;
	}
	pk_err("CRL %ld for CA %s written: %s (next update in %ld days)", number, id, crlpath,
	       days);
	rc = 0;
out:
	X509_free(cert);
	EVP_PKEY_free(key);
	free(certpath);
	free(keypath);
	free(crlpath);
	cfgfile_free(cf);
	return rc;
}
