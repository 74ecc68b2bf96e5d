/*
 * Signing: one signer per CA key holds the prepared signing context, the
 * pre-encoded issuer name, algorithm identifier and key identifier. Each
 * certificate: policy, serial, TBS build, lint, sign, compare.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "der.h"
#include "issue_int.h"
#include "oids.h"
#include "hex.h"

#define SERIAL_ATTEMPTS 8 /* fresh serials drawn when the reserve hook says "taken" */
#define TBS_STACK 2048    /* typical TBS fits; larger ones grow on the heap */
#define SIG_MAX 1024      /* RSA-8192 would need 1024 octets */
#define SIGALG_MAX 16
#define AKI_MAX 64
#define DAY_S 86400

enum signer_kind { SK_RSA, SK_EC, SK_ED25519 };

struct signer {
	const struct ca *ca;
	EVP_PKEY *key;
	enum signer_kind kind;
	const EVP_MD *md;
	EVP_PKEY_CTX *sctx; /* sign_init done once; reused for every certificate */
	EVP_MD_CTX *mdctx;  /* Ed25519 only */
	unsigned char sigalg[SIGALG_MAX];
	size_t sigalg_len;
	unsigned char *issuer;
	size_t issuer_len;
	unsigned char aki[AKI_MAX];
	size_t aki_len;
	time_t ca_not_before, ca_not_after;
	char *chain_pem;
	unsigned char *extra_ext; /* AIA and CRL DP, pre-encoded */
	size_t extra_ext_len;
};

static int
asn1_time_to_time(const ASN1_TIME *t, time_t *out)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return -1;
	*out = timegm(&tm);
	return 0;
}

static char *
x509_pem_append(char *s, size_t *slen, X509 *x)
{
	unsigned char *der = NULL;
	int n;
	char *r;

	if ((n = i2d_X509(x, &der)) <= 0) {
		free(s);
		return NULL;
	}
	r = pem_append(s, slen, "CERTIFICATE", der, (size_t)n);
	OPENSSL_free(der);
	return r;
}

/* Chooses the digest for the CA key and the AlgorithmIdentifier. Returns 0 or -1. */
static int
signer_pick_alg(struct signer *s)
{
	char group[64];
	int bits = EVP_PKEY_get_bits(s->key), mdbits;
	const unsigned char *oid;
	size_t oidlen;

	if (EVP_PKEY_is_a(s->key, "RSA")) {
		s->kind = SK_RSA;
		/* SHA-256 up to RSA-3072 (128-bit strength), SHA-384 above. */
		mdbits = bits <= 3072 ? 256 : 384;
		oid = mdbits == 256 ? oid_sha256_rsa : oid_sha384_rsa;
		oidlen = sizeof(oid_sha256_rsa);
	} else if (EVP_PKEY_is_a(s->key, "EC")) {
		s->kind = SK_EC;
		if (EVP_PKEY_get_utf8_string_param(s->key, OSSL_PKEY_PARAM_GROUP_NAME, group,
						   sizeof(group), NULL) != 1)
			return -1;
		if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
			mdbits = 256, oid = oid_ecdsa_sha256;
		else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
			mdbits = 384, oid = oid_ecdsa_sha384;
		else if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0)
			mdbits = 512, oid = oid_ecdsa_sha512;
		else
			return -1;
		oidlen = sizeof(oid_ecdsa_sha256);
	} else if (EVP_PKEY_is_a(s->key, "ED25519")) {
		s->kind = SK_ED25519;
		mdbits = 0;
		oid = oid_ed25519;
		oidlen = sizeof(oid_ed25519);
	} else {
		return -1;
	}
	s->md = mdbits ? issue_md(mdbits) : NULL;
	if (mdbits && s->md == NULL)
		return -1;
	/* AlgorithmIdentifier: RSA PKCS#1 carries a NULL parameter, ECDSA and Ed25519 none. */
	s->sigalg[0] = DER_SEQUENCE;
	s->sigalg[1] = (unsigned char)(2 + oidlen + (s->kind == SK_RSA ? 2 : 0));
	s->sigalg[2] = DER_OID;
	s->sigalg[3] = (unsigned char)oidlen;
	memcpy(s->sigalg + 4, oid, oidlen);
	s->sigalg_len = 4 + oidlen;
	if (s->kind == SK_RSA) {
		s->sigalg[s->sigalg_len++] = DER_NULL;
		s->sigalg[s->sigalg_len++] = 0;
	}
	return 0;
}

char *
ca_chain_pem(const struct ca *ca)
{
	char *pem;
	size_t len = 0;
	int i;

	pem = x509_pem_append(NULL, &len, ca->cert);
	for (i = 0; pem != NULL && ca->chain != NULL && i < sk_X509_num(ca->chain); i++)
		pem = x509_pem_append(pem, &len, sk_X509_value(ca->chain, i));
	return pem;
}

struct signer *
signer_new(const struct ca *ca)
{
	struct signer *s = NULL;
	const ASN1_OCTET_STRING *skid;
	const ASN1_BIT_STRING *pkbits;
	unsigned char *p = NULL;
	unsigned mdlen = 0;
	int n;

	if (ca == NULL || ca->cert == NULL || ca->key == NULL)
		return NULL;
	if (X509_check_private_key(ca->cert, ca->key) != 1)
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->ca = ca;
	/* A private copy of the key per signer: RSA blinding state is per key object and
	 * shared use from two threads serialises on its lock. */
	if ((s->key = EVP_PKEY_dup(ca->key)) == NULL)
		goto fail;
	if (signer_pick_alg(s) != 0)
		goto fail;
	if ((n = i2d_X509_NAME(X509_get_subject_name(ca->cert), &p)) <= 0)
		goto fail;
	s->issuer = p;
	s->issuer_len = (size_t)n;
	if ((skid = X509_get0_subject_key_id(ca->cert)) != NULL &&
	    (size_t)ASN1_STRING_length(skid) <= sizeof(s->aki) && ASN1_STRING_length(skid) > 0) {
		s->aki_len = (size_t)ASN1_STRING_length(skid);
		memcpy(s->aki, ASN1_STRING_get0_data(skid), s->aki_len);
	} else {
		pkbits = X509_get0_pubkey_bitstr(ca->cert);
		if (pkbits == NULL ||
		    EVP_Digest(ASN1_STRING_get0_data(pkbits), (size_t)ASN1_STRING_length(pkbits),
			       s->aki, &mdlen, issue_md(160), NULL) <= 0)
			goto fail;
		s->aki_len = mdlen;
	}
	if (asn1_time_to_time(X509_get0_notBefore(ca->cert), &s->ca_not_before) != 0 ||
	    asn1_time_to_time(X509_get0_notAfter(ca->cert), &s->ca_not_after) != 0)
		goto fail;
	if (s->kind == SK_ED25519) {
		if ((s->mdctx = EVP_MD_CTX_new()) == NULL)
			goto fail;
	} else {
		if ((s->sctx = EVP_PKEY_CTX_new_from_pkey(NULL, s->key, NULL)) == NULL ||
		    EVP_PKEY_sign_init(s->sctx) <= 0 ||
		    EVP_PKEY_CTX_set_signature_md(s->sctx, s->md) <= 0)
			goto fail;
		if (s->kind == SK_RSA &&
		    EVP_PKEY_CTX_set_rsa_padding(s->sctx, RSA_PKCS1_PADDING) <= 0)
			goto fail;
	}
	if ((s->chain_pem = ca_chain_pem(ca)) == NULL)
		goto fail;
	return s;
fail:
	signer_free(s);
	return NULL;
}

void
signer_free(struct signer *s)
{
	if (s == NULL)
		return;
	EVP_PKEY_CTX_free(s->sctx);
	EVP_MD_CTX_free(s->mdctx);
	EVP_PKEY_free(s->key);
	OPENSSL_free(s->issuer);
	free(s->chain_pem);
	free(s->extra_ext);
	free(s);
}

void
issued_free(struct issued *is)
{
	if (is == NULL)
		return;
	free(is->cert_pem);
	free(is->chain_pem);
	free(is->der);
	free(is);
}

int
signer_set_urls(struct signer *s, const char *ca_issuers_url, const char *crl_url)
{
	struct dbuf b;
	size_t m, n, v, a;

	dbuf_init(&b, NULL, 0);
	if (ca_issuers_url != NULL) {
		m = dbuf_begin(&b);
		dbuf_tlv(&b, DER_OID, oid_ext_aia, sizeof(oid_ext_aia));
		n = dbuf_begin(&b);
		v = dbuf_begin(&b);
		a = dbuf_begin(&b);
		dbuf_tlv(&b, DER_OID, oid_ad_ca_issuers, sizeof(oid_ad_ca_issuers));
		dbuf_tlv(&b, 0x86, ca_issuers_url, strlen(ca_issuers_url));
		dbuf_end(&b, DER_SEQUENCE, a);
		dbuf_end(&b, DER_SEQUENCE, v);
		dbuf_end(&b, DER_OCTET_STRING, n);
		dbuf_end(&b, DER_SEQUENCE, m);
	}
	if (crl_url != NULL) {
		/* DistributionPoint { distributionPoint [0] { fullName [0] { URI } } } */
		m = dbuf_begin(&b);
		dbuf_tlv(&b, DER_OID, oid_ext_crldp, sizeof(oid_ext_crldp));
		n = dbuf_begin(&b);
		v = dbuf_begin(&b);
		a = dbuf_begin(&b);
		size_t dp = dbuf_begin(&b), fn = dbuf_begin(&b);
		dbuf_tlv(&b, 0x86, crl_url, strlen(crl_url));
		dbuf_end(&b, 0xa0, fn);
		dbuf_end(&b, 0xa0, dp);
		dbuf_end(&b, DER_SEQUENCE, a);
		dbuf_end(&b, DER_SEQUENCE, v);
		dbuf_end(&b, DER_OCTET_STRING, n);
		dbuf_end(&b, DER_SEQUENCE, m);
	}
	if (b.err) {
		dbuf_free(&b);
		return -1;
	}
	free(s->extra_ext);
	s->extra_ext = b.heap ? b.p : NULL;
	s->extra_ext_len = b.len;
	return 0;
}

/* Signs tbs into sig. Returns the signature length or 0 on failure. */
static size_t
signer_sign(struct signer *s, const unsigned char *tbs, size_t tbs_len, unsigned char *sig,
	    size_t sigcap)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	size_t siglen = sigcap;

	if (s->kind == SK_ED25519) {
		EVP_MD_CTX_reset(s->mdctx);
		if (EVP_DigestSignInit_ex(s->mdctx, NULL, NULL, NULL, NULL, s->key, NULL) <= 0 ||
		    EVP_DigestSign(s->mdctx, sig, &siglen, tbs, tbs_len) <= 0)
			return 0;
		return siglen;
	}
	if (EVP_Digest(tbs, tbs_len, md, &mdlen, s->md, NULL) <= 0 ||
	    EVP_PKEY_sign(s->sctx, sig, &siglen, md, mdlen) <= 0)
		return 0;
	return siglen;
}

/* Draws a serial and reserves it. Returns 0, or -1 with a violation. */
static int
serial_draw(unsigned char *serial, char *hex, serial_reserve_fn reserve, void *arg,
	    struct violations *vs)
{
	int attempt, r;

	for (attempt = 0; attempt < SERIAL_ATTEMPTS; attempt++) {
		if (RAND_bytes(serial, SERIAL_LEN) != 1) {
			violations_add(vs, "internal_error", "serial", "random generator failed");
			return -1;
		}
		serial[0] = (unsigned char)((serial[0] & 0x3f) | 0x40);
		hex_encode(serial, SERIAL_LEN, hex);
		if (reserve == NULL || (r = reserve(arg, hex)) == 0)
			return 0;
		if (r < 0) {
			violations_add(vs, "internal_error", "serial", "serial reservation failed");
			return -1;
		}
	}
	violations_add(vs, "internal_error", "serial", "no free serial after %d attempts",
		       SERIAL_ATTEMPTS);
	return -1;
}

int
signer_issue(struct signer *s, const struct csr *c, const struct issue_request *req,
	     serial_reserve_fn reserve, void *arg, struct issued **out, struct violations *vs)
{
	struct plan plan;
	struct tbs_params tp;
	struct lint_ctx lc;
	struct dbuf tbs, cert;
	struct der d;
	struct der_tlv outer, tbs_tlv;
	unsigned char tbs_stack[TBS_STACK], sig[SIG_MAX], serial[SERIAL_LEN];
	struct issued *is = NULL;
	size_t siglen, m, plen = 0;
	time_t now = time(NULL);
	char hex[2 * SERIAL_LEN + 1];
	int rc = -1;

	dbuf_init(&tbs, tbs_stack, sizeof(tbs_stack));
	dbuf_init(&cert, NULL, 0);
	if (policy_eval(c, req, s->ca, vs, &plan) != 0)
		goto out;
	if (now < s->ca_not_before || now >= s->ca_not_after) {
		violations_add(vs, "ca_expired", "ca_id", "CA %s is outside its validity period",
			       s->ca->id ? s->ca->id : "");
		goto out;
	}
	memset(&tp, 0, sizeof(tp));
	tp.not_before = now - ISSUE_BACKDATE_S;
	if (tp.not_before < s->ca_not_before)
		tp.not_before = s->ca_not_before;
	/* The validity period (RFC 5280: notAfter - notBefore + 1 s) is the requested number of
	 * days including the backdate, so it never exceeds what policy allows. */
	tp.not_after = tp.not_before + (time_t)req->validity_days * DAY_S - 1;
	if (tp.not_after > s->ca_not_after)
		tp.not_after = s->ca_not_after;
	if (serial_draw(serial, hex, reserve, arg, vs) != 0)
		goto out;
	tp.serial = serial;
	tp.serial_len = SERIAL_LEN;
	tp.sigalg = s->sigalg;
	tp.sigalg_len = s->sigalg_len;
	tp.issuer = s->issuer;
	tp.issuer_len = s->issuer_len;
	tp.aki = s->aki;
	tp.aki_len = s->aki_len;
	tp.extra_ext = s->extra_ext;
	tp.extra_ext_len = s->extra_ext_len;
	if (profile_build_tbs(c, &plan, &tp, &tbs) != 0) {
		violations_add(vs, "internal_error", "certificate",
			       "out of memory building the certificate");
		goto out;
	}
	memset(&lc, 0, sizeof(lc));
	lc.sigalg = s->sigalg;
	lc.sigalg_len = s->sigalg_len;
	lc.issuer = s->issuer;
	lc.issuer_len = s->issuer_len;
	lc.aki = s->aki;
	lc.aki_len = s->aki_len;
	lc.issuer_not_before = s->ca_not_before;
	lc.issuer_not_after = s->ca_not_after;
	lc.now = now;
	lc.validity_days = req->validity_days;
	lc.allowed_eku = s->ca->allowed_extensions;
	lc.cabf = plan.cabf;
	if (lint_tbs(tbs.p, tbs.len, &lc, vs) != 0)
		goto out; /* fail closed: nothing signed */
	if ((siglen = signer_sign(s, tbs.p, tbs.len, sig, sizeof(sig))) == 0) {
		violations_add(vs, "internal_error", "certificate", "signing failed");
		goto out;
	}
	m = dbuf_begin(&cert);
	dbuf_put(&cert, tbs.p, tbs.len);
	dbuf_put(&cert, s->sigalg, s->sigalg_len);
	{
		size_t b = dbuf_begin(&cert);
		unsigned char zero = 0;
		dbuf_put(&cert, &zero, 1);
		dbuf_put(&cert, sig, siglen);
		dbuf_end(&cert, DER_BIT_STRING, b);
	}
	dbuf_end(&cert, DER_SEQUENCE, m);
	if (cert.err) {
		violations_add(vs, "internal_error", "certificate", "out of memory");
		goto out;
	}
	/* The signed bytes must be exactly the linted ones. */
	d.p = cert.p;
	d.len = cert.len;
	if (der_expect(&d, DER_SEQUENCE, &outer) != 0 || d.len != 0 ||
	    (d = der_inner(&outer), der_expect(&d, DER_SEQUENCE, &tbs_tlv)) != 0 ||
	    DER_TLV_FULL_LEN(&tbs_tlv) != tbs.len || memcmp(tbs_tlv.hdr, tbs.p, tbs.len) != 0) {
		violations_add(vs, "internal_error", "certificate",
			       "signed certificate differs from the linted one; not issued");
		goto out;
	}
	if ((is = calloc(1, sizeof(*is))) == NULL ||
	    (is->cert_pem = pem_append(NULL, &plen, "CERTIFICATE", cert.p, cert.len)) == NULL ||
	    (is->chain_pem = strdup(s->chain_pem)) == NULL) {
		violations_add(vs, "internal_error", "certificate", "out of memory");
		goto out;
	}
	memcpy(is->serial_hex, hex, sizeof(hex));
	is->der = cert.p; /* hand-off: the heap buffer of cert */
	is->der_len = cert.len;
	cert.p = NULL;
	cert.heap = 0;
	is->not_before = tp.not_before;
	is->not_after = tp.not_after;
	*out = is;
	is = NULL;
	rc = 0;
out:
	issued_free(is);
	dbuf_free(&tbs);
	dbuf_free(&cert);
	return rc;
}
