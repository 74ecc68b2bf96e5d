/*
 * Reference CSR reader built only on OpenSSL's own parser (d2i_X509_REQ and
 * accessors), applying the same acceptance rules as csr_parse. The unit tests
 * and the fuzz target compare the two (differential testing of our DER code).
 * Header-only: included by tests/unit/test_csr.c and tests/fuzz/fuzz_issue.c.
 */
#ifndef PKI_REFCSR_H
#define PKI_REFCSR_H

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "issue_int.h"

#define REF_MAX_NAMES 128

struct ref_csr {
	int ok;
	const char *why;
	unsigned key_type;
	int key_bits;
	unsigned curve;
	const char *sig_alg;
	size_t nattrs;
	char *attr[CSR_MAX_ATTRS]; /* UTF-8 or NULL when OpenSSL cannot convert it */
	int attr_len[CSR_MAX_ATTRS];
	size_t ndns, nip, nemail, nuri;
	char *dns[REF_MAX_NAMES], *ip[REF_MAX_NAMES], *email[REF_MAX_NAMES], *uri[REF_MAX_NAMES];
	unsigned eku;
	int eku_any, requests_ca;
};

static void
ref_csr_free(struct ref_csr *r)
{
	size_t i;

	for (i = 0; i < r->nattrs; i++)
		OPENSSL_free(r->attr[i]);
	for (i = 0; i < r->ndns; i++)
		free(r->dns[i]);
	for (i = 0; i < r->nip; i++)
		free(r->ip[i]);
	for (i = 0; i < r->nemail; i++)
		free(r->email[i]);
	for (i = 0; i < r->nuri; i++)
		free(r->uri[i]);
	memset(r, 0, sizeof(*r));
}

static char *
ref_dup(const unsigned char *p, int n)
{
	char *s = malloc((size_t)n + 1);

	if (s != NULL) {
		memcpy(s, p, (size_t)n);
		s[n] = '\0';
	}
	return s;
}

static int
ref_md_ok(const X509_ALGOR *a)
{
	int nid = a ? OBJ_obj2nid(a->algorithm) : NID_sha1;

	return nid == NID_sha256 || nid == NID_sha384 || nid == NID_sha512 ? nid : 0;
}

/* PSS parameters: SHA-2 hash, MGF1 with the same hash. */
static int
ref_pss_ok(const X509_ALGOR *sigalg)
{
	RSA_PSS_PARAMS *pss = NULL;
	X509_ALGOR *mgfmd = NULL;
	int ok = 0, h;

	if (sigalg->parameter == NULL || sigalg->parameter->type != V_ASN1_SEQUENCE)
		return 0;
	pss = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(RSA_PSS_PARAMS), sigalg->parameter);
	if (pss == NULL)
		return 0;
	h = ref_md_ok(pss->hashAlgorithm);
	if (h && pss->maskGenAlgorithm != NULL &&
	    OBJ_obj2nid(pss->maskGenAlgorithm->algorithm) == NID_mgf1 &&
	    pss->maskGenAlgorithm->parameter != NULL &&
	    pss->maskGenAlgorithm->parameter->type == V_ASN1_SEQUENCE &&
	    (mgfmd = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(X509_ALGOR),
					       pss->maskGenAlgorithm->parameter)) != NULL &&
	    ref_md_ok(mgfmd) == h)
		ok = 1;
	X509_ALGOR_free(mgfmd);
	RSA_PSS_PARAMS_free(pss);
	return ok;
}

static void
ref_add_gn(struct ref_csr *r, const GENERAL_NAME *gn)
{
	const ASN1_STRING *s;
	char buf[64];

	switch (gn->type) {
	case GEN_DNS:
	case GEN_EMAIL:
	case GEN_URI:
		s = gn->d.ia5;
		if (gn->type == GEN_DNS && r->ndns < REF_MAX_NAMES)
			r->dns[r->ndns++] = ref_dup(s->data, s->length);
		else if (gn->type == GEN_EMAIL && r->nemail < REF_MAX_NAMES)
			r->email[r->nemail++] = ref_dup(s->data, s->length);
		else if (gn->type == GEN_URI && r->nuri < REF_MAX_NAMES)
			r->uri[r->nuri++] = ref_dup(s->data, s->length);
		break;
	case GEN_IPADD:
		s = gn->d.ip;
		if (s->length == 4 || s->length == 16)
			inet_ntop(s->length == 4 ? AF_INET : AF_INET6, s->data, buf, sizeof(buf));
		else
			snprintf(buf, sizeof(buf), "(invalid address length)");
		if (r->nip < REF_MAX_NAMES)
			r->ip[r->nip++] = strdup(buf);
		break;
	default:
		break;
	}
}

/* Fills r from the request's extensions. Returns 0 or -1 (malformed). */
static int
ref_exts(struct ref_csr *r, X509_REQ *req)
{
	STACK_OF(X509_EXTENSION) *exts;
	int i, j, n, seen_san = 0, rc = 0;

	if (X509_REQ_get_attr_by_NID(req, NID_ext_req, -1) < 0)
		return 0;
	if (X509_REQ_get_attr_by_NID(req, NID_ext_req, X509_REQ_get_attr_by_NID(req, NID_ext_req, -1)) >= 0)
		return -1; /* two extensionRequest attributes */
	{
		X509_ATTRIBUTE *at = X509_REQ_get_attr(req, X509_REQ_get_attr_by_NID(req, NID_ext_req, -1));
		if (X509_ATTRIBUTE_count(at) != 1)
			return -1;
	}
	if ((exts = X509_REQ_get_extensions(req)) == NULL)
		return -1;
	n = sk_X509_EXTENSION_num(exts);
	for (i = 0; i < n && rc == 0; i++) {
		X509_EXTENSION *ex = sk_X509_EXTENSION_value(exts, i);
		int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ex));
		void *d;

		if (nid != NID_subject_alt_name && nid != NID_ext_key_usage && nid != NID_basic_constraints)
			continue;
		if ((d = X509V3_EXT_d2i(ex)) == NULL) {
			rc = -1;
			break;
		}
		if (nid == NID_subject_alt_name) {
			GENERAL_NAMES *gns = d;
			for (j = 0; !seen_san && j < sk_GENERAL_NAME_num(gns); j++)
				ref_add_gn(r, sk_GENERAL_NAME_value(gns, j));
			seen_san = 1;
			GENERAL_NAMES_free(gns);
		} else if (nid == NID_ext_key_usage) {
			EXTENDED_KEY_USAGE *eku = d;
			for (j = 0; j < sk_ASN1_OBJECT_num(eku); j++) {
				int en = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, j));
				r->eku |= en == NID_server_auth ? EXT_SERVER_AUTH
					  : en == NID_client_auth ? EXT_CLIENT_AUTH
					  : en == NID_email_protect ? EXT_EMAIL_PROTECTION
					  : en == NID_code_sign ? EXT_CODE_SIGNING : 0;
				if (en == NID_anyExtendedKeyUsage)
					r->eku_any = 1;
			}
			EXTENDED_KEY_USAGE_free(eku);
		} else {
			BASIC_CONSTRAINTS *bc = d;
			if (bc->ca)
				r->requests_ca = 1;
			BASIC_CONSTRAINTS_free(bc);
		}
	}
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return rc;
}

/* Applies csr_parse's rules through OpenSSL. r->ok is 1 when it would accept. */
static void
ref_csr_parse(const unsigned char *der, size_t len, struct ref_csr *r)
{
	const unsigned char *p = der;
	X509_REQ *req = NULL;
	EVP_PKEY *pk;
	X509_PUBKEY *xpk;
	const X509_ALGOR *sigalg = NULL, *kalg = NULL;
	const ASN1_OBJECT *kobj;
	const void *pval = NULL;
	int ptype = 0, nid, i;
	BIGNUM *e = NULL;
	X509_NAME *name;

	memset(r, 0, sizeof(*r));
	if (len > CSR_MAX_BYTES) {
		r->why = "too large";
		return;
	}
	if (len == 0 || (req = d2i_X509_REQ(NULL, &p, (long)len)) == NULL) {
		r->why = "d2i";
		goto out;
	}
	if (p != der + len) {
		r->why = "trailing";
		goto out;
	}
	if (X509_REQ_get_version(req) != 0) {
		r->why = "version";
		goto out;
	}
	X509_REQ_get0_signature(req, NULL, &sigalg);
	nid = OBJ_obj2nid(sigalg->algorithm);
	switch (nid) {
	case NID_sha256WithRSAEncryption:
	case NID_sha384WithRSAEncryption:
	case NID_sha512WithRSAEncryption:
	case NID_ecdsa_with_SHA256:
	case NID_ecdsa_with_SHA384:
	case NID_ecdsa_with_SHA512:
	case NID_ED25519:
		break;
	case NID_rsassaPss:
		if (!ref_pss_ok(sigalg)) {
			r->why = "pss params";
			goto out;
		}
		break;
	default:
		r->why = "sigalg";
		goto out;
	}
	/* RFC 4055 / RFC 5758 / RFC 8410: PKCS#1 parameters NULL (or absent), ECDSA and
	 * Ed25519 none. OpenSSL itself ignores them. */
	if (nid != NID_rsassaPss && sigalg->parameter != NULL &&
	    (sigalg->parameter->type != V_ASN1_NULL || nid == NID_ecdsa_with_SHA256 ||
	     nid == NID_ecdsa_with_SHA384 || nid == NID_ecdsa_with_SHA512 || nid == NID_ED25519)) {
		r->why = "sigalg params";
		goto out;
	}
	r->sig_alg = OBJ_nid2ln(nid);
	xpk = X509_REQ_get_X509_PUBKEY(req);
	if (xpk == NULL || !X509_PUBKEY_get0_param((ASN1_OBJECT **)&kobj, NULL, NULL, (X509_ALGOR **)&kalg, xpk)) {
		r->why = "spki";
		goto out;
	}
	X509_ALGOR_get0(&kobj, &ptype, &pval, kalg);
	nid = OBJ_obj2nid(kobj);
	if (nid == NID_X9_62_id_ecPublicKey) {
		int cn;
		if (ptype != V_ASN1_OBJECT) {
			r->why = "ec params";
			goto out;
		}
		cn = OBJ_obj2nid(pval);
		r->curve = cn == NID_X9_62_prime256v1 ? CURVE_P256 : cn == NID_secp384r1 ? CURVE_P384
			   : cn == NID_secp521r1 ? CURVE_P521 : 0;
		if (r->curve == 0) {
			r->why = "curve";
			goto out;
		}
		r->key_type = KT_EC;
	} else if (nid == NID_rsaEncryption) {
		r->key_type = KT_RSA;
	} else if (nid == NID_ED25519) {
		r->key_type = KT_ED25519;
	} else {
		r->why = "key type";
		goto out;
	}
	if ((pk = X509_REQ_get0_pubkey(req)) == NULL) {
		r->why = "pubkey decode";
		goto out;
	}
	r->key_bits = EVP_PKEY_get_bits(pk);
	if (r->key_type == KT_ED25519)
		r->key_bits = 256;
	if (r->key_type == KT_RSA) {
		if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e) != 1 || !BN_is_word(e, 65537)) {
			r->why = "exponent";
			goto out;
		}
		if (r->key_bits != 2048 && r->key_bits != 3072 && r->key_bits != 4096) {
			r->why = "rsa size";
			goto out;
		}
	}
	nid = OBJ_obj2nid(sigalg->algorithm);
	if (((nid == NID_sha256WithRSAEncryption || nid == NID_sha384WithRSAEncryption ||
	      nid == NID_sha512WithRSAEncryption || nid == NID_rsassaPss) != (r->key_type == KT_RSA)) ||
	    ((nid == NID_ecdsa_with_SHA256 || nid == NID_ecdsa_with_SHA384 ||
	      nid == NID_ecdsa_with_SHA512) != (r->key_type == KT_EC))) {
		r->why = "sig/key mismatch";
		goto out;
	}
	if (X509_REQ_verify(req, pk) != 1) {
		r->why = "signature";
		goto out;
	}
	name = X509_REQ_get_subject_name(req);
	for (i = 0; i < X509_NAME_entry_count(name) && (size_t)i < CSR_MAX_ATTRS; i++) {
		X509_NAME_ENTRY *ne = X509_NAME_get_entry(name, i);
		unsigned char *u = NULL;
		r->attr_len[i] = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(ne));
		r->attr[i] = (char *)u;
		r->nattrs++;
	}
	if (X509_NAME_entry_count(name) > CSR_MAX_ATTRS) {
		r->why = "too many attributes";
		goto out;
	}
	if (ref_exts(r, req) != 0) {
		r->why = "extensions";
		goto out;
	}
	r->ok = 1;
out:
	BN_free(e);
	X509_REQ_free(req);
}

/*
 * 1 when some element of der (recursively, also inside OCTET/BIT STRINGs that
 * hold DER) is not in DER form: indefinite or non-minimal length, or an
 * explicitly encoded BOOLEAN FALSE. Walks with OpenSSL's ASN1_get_object.
 */
static int
ref_non_der(const unsigned char *p, long len, int depth)
{
	const unsigned char *q, *end = p + len;
	long l;
	int tag, xclass, r;
	size_t hl, minhl;

	if (depth > 32)
		return 0;
	while (p < end) {
		q = p;
		r = ASN1_get_object(&q, &l, &tag, &xclass, end - p);
		if (r & 0x80)
			return 0; /* not parseable: not a DER/BER question */
		if (r == 0x21)
			return 1; /* indefinite length */
		hl = (size_t)(q - p);
		minhl = 1 + (l < 0x80 ? 1 : l < 0x100 ? 2 : l < 0x10000 ? 3 : l < 0x1000000 ? 4 : 5);
		if (tag >= 31)
			minhl += 1;
		if (hl != minhl)
			return 1;
		if (xclass == V_ASN1_UNIVERSAL && tag == V_ASN1_BOOLEAN && l == 1 && q[0] != 0xff)
			return 1;
		if (r & V_ASN1_CONSTRUCTED) {
			if (ref_non_der(q, l, depth + 1))
				return 1;
		} else if (xclass == V_ASN1_UNIVERSAL && tag == V_ASN1_OCTET_STRING) {
			if (l > 0 && q[0] == 0x30 && ref_non_der(q, l, depth + 1))
				return 1;
		} else if (xclass == V_ASN1_UNIVERSAL && tag == V_ASN1_BIT_STRING) {
			if (l > 1 && q[1] == 0x30 && ref_non_der(q + 1, l - 1, depth + 1))
				return 1;
		}
		p = q + l;
	}
	return 0;
}

/*
 * 1 when our refusal of der (vs, csr_parse's violations), which OpenSSL
 * accepts, is ours by design: BER that OpenSSL tolerates where we insist on
 * DER, or a hash AlgorithmIdentifier inside RSASSA-PSS parameters whose
 * parameters are neither NULL nor absent (RFC 4055), which OpenSSL ignores.
 */
static int
ref_stricter_by_design(const unsigned char *der, long len, const struct violations *vs)
{
	if (vs->n == 0 || strcmp(vs->v[0].code, "csr_malformed") != 0)
		return 0;
	return ref_non_der(der, len, 0) ||
	       strcmp(vs->v[0].message, "CSR signature algorithm is malformed") == 0;
}

#endif
