/*
 * Certificate inspection: the subject and the SANs stored with a
 * certificate the worker just signed, read from its DER.
 */
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admitjson.h"
#include "der.h"
#include "worker.h"

/* An iPAddress SAN in its usual text (dotted quad, or eight hex groups). */
static void
certinfo_ip_text(const ASN1_OCTET_STRING *ip, char *buf, size_t len)
{
	const unsigned char *b = ASN1_STRING_get0_data(ip);
	int n = ASN1_STRING_length(ip), k, o;

	if (n == 4) {
		snprintf(buf, len, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
		return;
	}
	buf[0] = '\0';
	o = 0;
	for (k = 0; k + 1 < n && (size_t)o < len; k += 2)
		o += snprintf(buf + o, len - (size_t)o, "%s%x", k ? ":" : "",
			      (b[k] << 8) | b[k + 1]);
}

/*
 * The subject Name and the subjectAltName extension's value of a signed
 * certificate, found by walking its DER: decoding the whole certificate
 * would also decode its public key, which costs more than signing it. san
 * is left zeroed when the certificate has none. 0, or -1 when malformed.
 */
static int
certinfo_spans(const unsigned char *der, size_t len, struct der_tlv *subject, struct der_tlv *san)
{
	static const unsigned char oid_san[] = {0x55, 0x1d, 0x11};
	struct der d = {der, len}, tbs, exts, ext;
	struct der_tlv t, oid;
	int i;

	memset(san, 0, sizeof(*san));
	if (der_expect(&d, DER_SEQUENCE, &t) < 0)
		return -1;
	d = der_inner(&t);
	if (der_expect(&d, DER_SEQUENCE, &t) < 0)
		return -1;
	tbs = der_inner(&t);
	if (der_peek(&tbs, DER_CTX0) && der_next(&tbs, &t) < 0)
		return -1;
	/* serialNumber, signature, issuer, validity, then the subject. */
	for (i = 0; i < 4; i++)
		if (der_next(&tbs, &t) < 0)
			return -1;
	if (der_expect(&tbs, DER_SEQUENCE, subject) < 0)
		return -1;
	while (der_next(&tbs, &t) == 0) {
		if (t.tag != DER_CTX3)
			continue;
		d = der_inner(&t);
		if (der_expect(&d, DER_SEQUENCE, &t) < 0)
			return -1;
		exts = der_inner(&t);
		while (der_expect(&exts, DER_SEQUENCE, &t) == 0) {
			ext = der_inner(&t);
			if (der_expect(&ext, DER_OID, &oid) < 0)
				return -1;
			if (!der_oid_eq(&oid, oid_san, sizeof(oid_san)))
				continue;
			if (der_peek(&ext, DER_BOOLEAN) && der_next(&ext, &t) < 0)
				return -1;
			return der_expect(&ext, DER_OCTET_STRING, san);
		}
	}
	return 0;
}

/* SANs of the signed certificate as the record's JSON array text (admit_sans_text). Caller frees. */
static char *
certinfo_sans(const struct der_tlv *san)
{
	const unsigned char *p = san->val;
	GENERAL_NAMES *gns = p != NULL ? d2i_GENERAL_NAMES(NULL, &p, (long)san->len) : NULL;
	cJSON *a = cJSON_CreateArray();
	char buf[512], *s;
	int i;

	for (i = 0; gns != NULL && a != NULL && i < sk_GENERAL_NAME_num(gns); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gns, i);
		const ASN1_STRING *str;
		const char *type;

		switch (gn->type) {
		case GEN_DNS:
			str = gn->d.dNSName, type = SAN_TYPE_DNS;
			break;
		case GEN_EMAIL:
			str = gn->d.rfc822Name, type = SAN_TYPE_EMAIL;
			break;
		case GEN_URI:
			str = gn->d.uniformResourceIdentifier, type = SAN_TYPE_URI;
			break;
		case GEN_IPADD:
			certinfo_ip_text(gn->d.iPAddress, buf, sizeof(buf));
			admit_san_add(a, SAN_TYPE_IP, buf);
			continue;
		default:
			continue;
		}
		snprintf(buf, sizeof(buf), "%.*s", ASN1_STRING_length(str),
			 (const char *)ASN1_STRING_get0_data(str));
		admit_san_add(a, type, buf);
	}
	s = a != NULL ? cJSON_PrintUnformatted(a) : NULL;
	cJSON_Delete(a);
	GENERAL_NAMES_free(gns);
	return s;
}

/* Subject of the signed certificate, RFC 2253 one line. Caller frees. */
static char *
certinfo_subject(const struct der_tlv *subject)
{
	const unsigned char *p = subject->hdr;
	X509_NAME *n = d2i_X509_NAME(NULL, &p, (long)DER_TLV_FULL_LEN(subject));
	BIO *b = BIO_new(BIO_s_mem());
	char *s = NULL, *data;
	long len;

	if (n != NULL && b != NULL && X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253) >= 0 &&
	    (len = BIO_get_mem_data(b, &data)) >= 0 && (s = malloc((size_t)len + 1)) != NULL) {
		memcpy(s, data, (size_t)len);
		s[len] = '\0';
	}
	BIO_free(b);
	X509_NAME_free(n);
	return s;
}

int
certinfo_read(const unsigned char *der, size_t len, char **subject, char **sans)
{
	struct der_tlv subject_der, san_der;

	if (certinfo_spans(der, len, &subject_der, &san_der) < 0)
		return -1;
	*sans = certinfo_sans(&san_der);
	*subject = certinfo_subject(&subject_der);
	return 0;
}
