/*
 * Signature algorithms, public keys and signature checks of a CSR: the
 * allowed algorithms and key sizes, SubjectPublicKeyInfo read with our own
 * DER reader, and verification with per-thread cached OpenSSL contexts
 * (building a key per CSR costs as much as verifying it).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "csr_int.h"
#include "oids.h"

#define RSA_EXPONENT_ALLOWED 65537
#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 4096
#define ED25519_KEY_LEN 32
#define MAX_DIGEST 64

#define NCURVES 3

/*
 * Per-thread verification state. For EC, one key per curve serves as a
 * template: each CSR's point is set into it (a cheap provider call, checked
 * to be on the curve) and its verify context, initialised once, is reused.
 * Building a fresh key and context per CSR costs about as much as the
 * verification itself and takes provider locks.
 */
struct vcache {
	EVP_PKEY_CTX *fromdata_ec, *fromdata_rsa;
	EVP_MD_CTX *mdctx; /* for Ed25519 */
	EVP_PKEY *ec_tmpl[NCURVES];
	EVP_PKEY_CTX *ec_vctx[NCURVES];
};

static pthread_once_t csr_once = PTHREAD_ONCE_INIT;
static pthread_key_t vcache_key;
static EVP_MD *md_sha1, *md_sha256, *md_sha384, *md_sha512;

static void
vcache_free(void *p)
{
	struct vcache *vc = p;

	if (vc == NULL)
		return;
	for (int i = 0; i < NCURVES; i++) {
		EVP_PKEY_CTX_free(vc->ec_vctx[i]);
		EVP_PKEY_free(vc->ec_tmpl[i]);
	}
	EVP_PKEY_CTX_free(vc->fromdata_ec);
	EVP_PKEY_CTX_free(vc->fromdata_rsa);
	EVP_MD_CTX_free(vc->mdctx);
	free(vc);
}

static void
csr_init_once(void)
{
	pthread_key_create(&vcache_key, vcache_free);
	md_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL); /* key identifiers only */
	md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	md_sha384 = EVP_MD_fetch(NULL, "SHA384", NULL);
	md_sha512 = EVP_MD_fetch(NULL, "SHA512", NULL);
}

/* Per-thread contexts for building public keys; NULL on allocation failure. */
static struct vcache *
vcache_get(void)
{
	struct vcache *vc;

	pthread_once(&csr_once, csr_init_once);
	if ((vc = pthread_getspecific(vcache_key)) != NULL)
		return vc;
	if ((vc = calloc(1, sizeof(*vc))) == NULL)
		return NULL;
	vc->fromdata_ec = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	vc->fromdata_rsa = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	vc->mdctx = EVP_MD_CTX_new();
	if (vc->fromdata_ec == NULL || vc->fromdata_rsa == NULL || vc->mdctx == NULL ||
	    EVP_PKEY_fromdata_init(vc->fromdata_ec) <= 0 ||
	    EVP_PKEY_fromdata_init(vc->fromdata_rsa) <= 0) {
		vcache_free(vc);
		return NULL;
	}
	pthread_setspecific(vcache_key, vc);
	return vc;
}

/* Fetched digest for 256/384/512, shared by all threads. */
const EVP_MD *
issue_md(int bits)
{
	pthread_once(&csr_once, csr_init_once);
	if (bits == 160)
		return md_sha1;
	return bits == 256 ? md_sha256 : bits == 384 ? md_sha384 : bits == 512 ? md_sha512 : NULL;
}

static const char *
curve_name(unsigned curve)
{
	return curve == CURVE_P256 ? "P-256" : curve == CURVE_P384 ? "P-384" : "P-521";
}

static int
hash_alg_bits(struct der_tlv *alg_seq)
{
	struct der d = der_inner(alg_seq), pd;
	struct der_tlv oid, par;
	int bits;

	if (der_expect(&d, DER_OID, &oid) != 0)
		return -1;
	if (OID_EQ(&oid, oid_sha256))
		bits = 256;
	else if (OID_EQ(&oid, oid_sha384))
		bits = 384;
	else if (OID_EQ(&oid, oid_sha512))
		bits = 512;
	else
		return 0;
	if (d.len) { /* parameters: absent or NULL */
		if (der_expect(&d, DER_NULL, &par) != 0 || d.len)
			return -1;
	}
	(void)pd;
	return bits;
}

int
sigalg_parse(const struct der_tlv *alg, struct sigalg *sa, char *why, size_t whylen)
{
	struct der d = der_inner(alg), pd, fd;
	struct der_tlv oid, par, f, h, mgfoid, mgfpar;
	char txt[CSR_OID_TEXT];
	int mgf_bits = 256;
	long v;

	memset(sa, 0, sizeof(*sa));
	if (der_expect(&d, DER_OID, &oid) != 0)
		return -1;
	if (OID_EQ(&oid, oid_sha256_rsa) || OID_EQ(&oid, oid_sha384_rsa) ||
	    OID_EQ(&oid, oid_sha512_rsa)) {
		sa->kind = SIG_RSA;
		sa->md_bits = OID_EQ(&oid, oid_sha256_rsa)   ? 256
			      : OID_EQ(&oid, oid_sha384_rsa) ? 384
							     : 512;
		sa->name = sa->md_bits == 256   ? "sha256WithRSAEncryption"
			   : sa->md_bits == 384 ? "sha384WithRSAEncryption"
						: "sha512WithRSAEncryption";
		if (d.len && (der_expect(&d, DER_NULL, &par) != 0 || d.len))
			return -1;
		return 0;
	}
	if (OID_EQ(&oid, oid_ecdsa_sha256) || OID_EQ(&oid, oid_ecdsa_sha384) ||
	    OID_EQ(&oid, oid_ecdsa_sha512)) {
		sa->kind = SIG_ECDSA;
		sa->md_bits = OID_EQ(&oid, oid_ecdsa_sha256)   ? 256
			      : OID_EQ(&oid, oid_ecdsa_sha384) ? 384
							       : 512;
		sa->name = sa->md_bits == 256   ? "ecdsa-with-SHA256"
			   : sa->md_bits == 384 ? "ecdsa-with-SHA384"
						: "ecdsa-with-SHA512";
		return d.len ? -1 : 0; /* RFC 5758: parameters absent */
	}
	if (OID_EQ(&oid, oid_ed25519)) {
		sa->kind = SIG_ED25519;
		sa->name = "ED25519";
		return d.len ? -1 : 0;
	}
	if (OID_EQ(&oid, oid_rsassa_pss)) {
		/* RSASSA-PSS-params: [0] hash, [1] mgf, [2] saltLength, [3] trailerField. */
		sa->kind = SIG_PSS;
		sa->name = "rsassaPss";
		sa->md_bits = 0;
		sa->pss_salt = 20;
		if (der_expect(&d, DER_SEQUENCE, &par) != 0 || d.len)
			return -1;
		pd = der_inner(&par);
		if (der_peek(&pd, 0xa0)) {
			if (der_expect(&pd, 0xa0, &f) != 0)
				return -1;
			fd = der_inner(&f);
			if (der_expect(&fd, DER_SEQUENCE, &h) != 0 || fd.len)
				return -1;
			if ((sa->md_bits = hash_alg_bits(&h)) < 0)
				return -1;
		}
		if (der_peek(&pd, 0xa1)) {
			if (der_expect(&pd, 0xa1, &f) != 0)
				return -1;
			fd = der_inner(&f);
			if (der_expect(&fd, DER_SEQUENCE, &h) != 0 || fd.len)
				return -1;
			fd = der_inner(&h);
			if (der_expect(&fd, DER_OID, &mgfoid) != 0 ||
			    der_expect(&fd, DER_SEQUENCE, &mgfpar) != 0 || fd.len)
				return -1;
			if (!OID_EQ(&mgfoid, oid_mgf1)) {
				snprintf(
				    why, whylen,
				    "RSASSA-PSS with a mask generation function other than MGF1");
				return -2;
			}
			if ((mgf_bits = hash_alg_bits(&mgfpar)) < 0)
				return -1;
		} else {
			mgf_bits = 0; /* default MGF1 with SHA-1 */
		}
		if (der_peek(&pd, 0xa2)) {
			if (der_expect(&pd, 0xa2, &f) != 0)
				return -1;
			fd = der_inner(&f);
			if (der_expect(&fd, DER_INTEGER, &h) != 0 || fd.len ||
			    der_small_uint(&h, &v) != 0)
				return -1;
			sa->pss_salt = (int)v;
		}
		if (der_peek(&pd, 0xa3)) {
			if (der_expect(&pd, 0xa3, &f) != 0)
				return -1;
			fd = der_inner(&f);
			if (der_expect(&fd, DER_INTEGER, &h) != 0 || fd.len ||
			    der_small_uint(&h, &v) != 0)
				return -1;
			if (v != 1)
				return -1;
		}
		if (pd.len)
			return -1;
		if (sa->md_bits == 0 || mgf_bits != sa->md_bits) {
			snprintf(why, whylen,
				 "RSASSA-PSS must use SHA-256, SHA-384 or SHA-512 for both the "
				 "hash and MGF1");
			return -2;
		}
		return 0;
	}
	der_oid_text(oid.val, oid.len, txt, sizeof(txt));
	snprintf(why, whylen,
		 "signature algorithm %s%s is not allowed: use SHA-256/384/512 with RSA, "
		 "RSASSA-PSS or ECDSA, or Ed25519",
		 txt,
		 (oid.len == 9 && memcmp(oid.val, oid_sha256_rsa, 8) == 0 &&
		  (oid.val[8] == 4 || oid.val[8] == 5))
		     ? (oid.val[8] == 4 ? " (md5WithRSAEncryption)" : " (sha1WithRSAEncryption)")
		 : (oid.len == 7 && memcmp(oid.val, oid_ecdsa_sha256, 6) == 0)
		     ? " (ecdsa-with-SHA1)"
		     : "");
	return -2;
}

/* Bit length of a positive big-endian integer (leading zero octet already allowed). */
static int
uint_bits(const unsigned char *v, size_t n)
{
	int b;

	while (n && *v == 0)
		v++, n--;
	if (n == 0)
		return 0;
	for (b = 8; b > 0 && !(*v & (1u << (b - 1))); b--)
		;
	return (int)(n - 1) * 8 + b;
}

int
spki_parse(struct csr *c, const struct der_tlv *spki, struct pubkey *pk, struct violations *vs)
{
	struct der d = der_inner(spki), ad, kd;
	struct der_tlv alg, oid, par, bits, seq, n, e;
	struct csr_info *ci = &c->info;
	char txt[CSR_OID_TEXT];
	size_t flen;
	long ev;

	if (der_expect(&d, DER_SEQUENCE, &alg) != 0 || der_expect(&d, DER_BIT_STRING, &bits) != 0 ||
	    d.len)
		return -1;
	if (bits.val[0] != 0)
		return -1;
	c->pubkey_bits = bits.val + 1;
	c->pubkey_bits_len = bits.len - 1;
	ad = der_inner(&alg);
	if (der_expect(&ad, DER_OID, &oid) != 0)
		return -1;
	if (OID_EQ(&oid, oid_rsa_encryption)) {
		ci->key_type = KT_RSA;
		if (der_expect(&ad, DER_NULL, &par) != 0 || ad.len)
			return -1;
		kd.p = c->pubkey_bits;
		kd.len = c->pubkey_bits_len;
		if (der_expect(&kd, DER_SEQUENCE, &seq) != 0 || kd.len)
			return -1;
		kd = der_inner(&seq);
		if (der_expect(&kd, DER_INTEGER, &n) != 0 ||
		    der_expect(&kd, DER_INTEGER, &e) != 0 || kd.len)
			return -1;
		if ((n.val[0] & 0x80) || (e.val[0] & 0x80))
			return -1;
		pk->n = n.val, pk->nlen = n.len;
		pk->e = e.val, pk->elen = e.len;
		while (pk->nlen > 1 && pk->n[0] == 0)
			pk->n++, pk->nlen--;
		while (pk->elen > 1 && pk->e[0] == 0)
			pk->e++, pk->elen--;
		ci->key_bits = uint_bits(n.val, n.len);
		if (der_small_uint(&e, &ev) != 0 || ev != RSA_EXPONENT_ALLOWED) {
			violations_add(vs, "rsa_exponent_not_allowed", "csr_data",
				       "RSA public exponent must be 65537%s",
				       e.len > 4 ? " (got a large exponent)" : "");
			if (e.len <= 4 && der_small_uint(&e, &ev) == 0) {
				vs->n--; /* replace with the exact value */
				violations_add(vs, "rsa_exponent_not_allowed", "csr_data",
					       "RSA public exponent must be 65537, got %ld", ev);
			}
			return -2;
		}
		if (ci->key_bits != 2048 && ci->key_bits != 3072 && ci->key_bits != 4096) {
			violations_add(vs, "key_size_not_allowed", "csr_data",
				       "RSA key of %d bits: use 2048, 3072 or 4096 bits",
				       ci->key_bits);
			return -2;
		}
		return 0;
	}
	if (OID_EQ(&oid, oid_ec_public_key)) {
		ci->key_type = KT_EC;
		if (der_peek(&ad, DER_SEQUENCE)) {
			violations_add(vs, "ec_explicit_params", "csr_data",
				       "EC key with explicit curve parameters: use a named curve "
				       "(P-256, P-384 or P-521)");
			return -2;
		}
		if (der_expect(&ad, DER_OID, &par) != 0 || ad.len) {
			if (ad.len == 0 || der_peek(&ad, DER_NULL))
				violations_add(
				    vs, "curve_not_allowed", "csr_data",
				    "EC key without a named curve: use P-256, P-384 or P-521");
			else
				return -1;
			return -2;
		}
		if (OID_EQ(&par, oid_p256))
			ci->curve = CURVE_P256, ci->key_bits = 256;
		else if (OID_EQ(&par, oid_p384))
			ci->curve = CURVE_P384, ci->key_bits = 384;
		else if (OID_EQ(&par, oid_p521))
			ci->curve = CURVE_P521, ci->key_bits = 521;
		else {
			der_oid_text(par.val, par.len, txt, sizeof(txt));
			violations_add(vs, "curve_not_allowed", "csr_data",
				       "EC curve %s is not supported: use P-256, P-384 or P-521",
				       txt);
			return -2;
		}
		flen = ((size_t)ci->key_bits + 7) / 8;
		pk->point = c->pubkey_bits;
		pk->point_len = c->pubkey_bits_len;
		if (!((pk->point_len == 1 + 2 * flen && pk->point[0] == 4) ||
		      (pk->point_len == 1 + flen && (pk->point[0] == 2 || pk->point[0] == 3))))
			return -1;
		return 0;
	}
	if (OID_EQ(&oid, oid_ed25519)) {
		ci->key_type = KT_ED25519;
		ci->key_bits = 256;
		if (ad.len || c->pubkey_bits_len != ED25519_KEY_LEN)
			return -1;
		pk->point = c->pubkey_bits;
		pk->point_len = c->pubkey_bits_len;
		return 0;
	}
	der_oid_text(oid.val, oid.len, txt, sizeof(txt));
	violations_add(vs, "key_type_not_allowed", "csr_data",
		       "public key algorithm %s%s is not supported: use RSA, EC "
		       "(P-256/P-384/P-521) or Ed25519",
		       txt, OID_EQ(&oid, oid_dsa) ? " (DSA)" : "");
	return -2;
}

/* Builds an EVP_PKEY from the parsed key without the generic decoder. */
static EVP_PKEY *
pubkey_build(struct vcache *vc, const struct csr_info *ci, const struct pubkey *pk)
{
	EVP_PKEY *pkey = NULL;
	OSSL_PARAM params[3];
	unsigned char nle[RSA_MAX_BITS / 8 + 1], ele[8];
	size_t i;

	switch (ci->key_type) {
	case KT_RSA:
		if (pk->nlen > sizeof(nle) || pk->elen > sizeof(ele))
			return NULL;
		for (i = 0; i < pk->nlen; i++) /* OSSL_PARAM BNs are native-endian */
			nle[i] = pk->n[pk->nlen - 1 - i];
		for (i = 0; i < pk->elen; i++)
			ele[i] = pk->e[pk->elen - 1 - i];
		params[0] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_RSA_N, nle, pk->nlen);
		params[1] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_RSA_E, ele, pk->elen);
		params[2] = OSSL_PARAM_construct_end();
		if (EVP_PKEY_fromdata(vc->fromdata_rsa, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
			return NULL;
		return pkey;
	case KT_EC:
		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
							     (char *)curve_name(ci->curve), 0);
		params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
							      (void *)pk->point, pk->point_len);
		params[2] = OSSL_PARAM_construct_end();
		if (EVP_PKEY_fromdata(vc->fromdata_ec, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
			return NULL;
		return pkey;
	case KT_ED25519:
		return EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, pk->point,
						      pk->point_len);
	}
	return NULL;
}

static int
curve_index(unsigned curve)
{
	return curve == CURVE_P256 ? 0 : curve == CURVE_P384 ? 1 : 2;
}

/*
 * The thread's verify context for ci's curve with pk's point loaded.
 * Returns NULL when the point is invalid or on allocation failure.
 */
static EVP_PKEY_CTX *
ec_verify_ctx(struct vcache *vc, const struct csr_info *ci, const struct pubkey *pk)
{
	int i = curve_index(ci->curve);

	if (vc->ec_vctx[i] != NULL) {
		if (EVP_PKEY_set_octet_string_param(vc->ec_tmpl[i],
						    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pk->point,
						    pk->point_len) != 1)
			return NULL;
		return vc->ec_vctx[i];
	}
	if ((vc->ec_tmpl[i] = pubkey_build(vc, ci, pk)) == NULL)
		return NULL;
	if ((vc->ec_vctx[i] = EVP_PKEY_CTX_new_from_pkey(NULL, vc->ec_tmpl[i], NULL)) == NULL ||
	    EVP_PKEY_verify_init(vc->ec_vctx[i]) <= 0) {
		EVP_PKEY_CTX_free(vc->ec_vctx[i]);
		EVP_PKEY_free(vc->ec_tmpl[i]);
		vc->ec_vctx[i] = NULL;
		vc->ec_tmpl[i] = NULL;
		return NULL;
	}
	return vc->ec_vctx[i];
}

int
signature_verify(const struct csr_info *ci, const struct pubkey *pk, const struct sigalg *sa,
		 const unsigned char *tbs, size_t tbs_len, const unsigned char *sig, size_t sig_len)
{
	struct vcache *vc;
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char md[MAX_DIGEST];
	unsigned mdlen = 0;
	const EVP_MD *mdt = NULL;
	int rc = -1;

	if ((vc = vcache_get()) == NULL)
		return -1;
	if (sa->kind == SIG_ECDSA) {
		/* ECDSA needs no digest setting on the context: the digest is ours. */
		if ((mdt = issue_md(sa->md_bits)) == NULL ||
		    EVP_Digest(tbs, tbs_len, md, &mdlen, mdt, NULL) <= 0)
			return -1;
		if ((pctx = ec_verify_ctx(vc, ci, pk)) == NULL)
			return -1;
		return EVP_PKEY_verify(pctx, sig, sig_len, md, mdlen) == 1;
	}
	if ((pkey = pubkey_build(vc, ci, pk)) == NULL)
		goto out;
	if (sa->kind == SIG_ED25519) {
		EVP_MD_CTX_reset(vc->mdctx);
		if (EVP_DigestVerifyInit_ex(vc->mdctx, NULL, NULL, NULL, NULL, pkey, NULL) <= 0)
			goto out;
		rc = EVP_DigestVerify(vc->mdctx, sig, sig_len, tbs, tbs_len) == 1;
		goto out;
	}
	mdt = issue_md(sa->md_bits);
	if (mdt == NULL || EVP_Digest(tbs, tbs_len, md, &mdlen, mdt, NULL) <= 0)
		goto out;
	if ((pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL ||
	    EVP_PKEY_verify_init(pctx) <= 0 || EVP_PKEY_CTX_set_signature_md(pctx, mdt) <= 0)
		goto out;
	if (sa->kind == SIG_PSS &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
	     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, mdt) <= 0 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, sa->pss_salt) <= 0))
		goto out;
	rc = EVP_PKEY_verify(pctx, sig, sig_len, md, mdlen) == 1;
out:
	EVP_PKEY_CTX_free(pctx);
	EVP_PKEY_free(pkey);
	return rc;
}
