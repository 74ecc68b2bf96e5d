/*
 * GET /ca/{id}.crt and GET /crl/{id}.crl: the files behind the AIA caIssuers
 * and CRL distribution point URLs of issued certificates. Public, no auth.
 * Served for active CAs that sign through the request API and for their
 * parents up to the root; anything else is 404, so the route reveals nothing
 * about disabled or unused CAs.
 */
#include <errno.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

#define CAFILES_CRL_MAX (4 * 1024 * 1024) /* largest CRL file served */
#define CAFILES_ID_MAX 64                 /* as config ids */
#define CT_CERT "application/pkix-cert"
#define CT_CRL "application/pkix-crl"

/* 1 if ca is active and issues, or is a parent (at any depth) of such a CA. */
static int
cafiles_public(const struct config *cfg, const struct ca *ca)
{
	const struct ca *c;
	size_t i;

	for (i = 0; i < cfg->ncas; i++) {
		c = &cfg->cas[i];
		if (c->status != CA_ACTIVE || !c->api_issuance)
			continue;
		/* Parents form a checked chain up to a root (config_load), so this ends. */
		for (; c != NULL; c = c->parent != NULL ? config_ca_find(cfg, c->parent) : NULL)
			if (c == ca)
				return 1;
	}
	return 0;
}

/*
 * The public CA named by rest ("{id}{suffix}"), or NULL after answering 404.
 */
static const struct ca *
cafiles_find(struct gateway *gw, struct http_req *req, const char *rest, const char *suffix)
{
	char id[CAFILES_ID_MAX + 1];
	size_t n = strlen(rest), slen = strlen(suffix);
	const struct ca *ca = NULL;

	if (n > slen && n - slen <= CAFILES_ID_MAX && strcmp(rest + n - slen, suffix) == 0) {
		memcpy(id, rest, n - slen);
		id[n - slen] = '\0';
		ca = config_ca_find(gw->cfg, id);
	}
	if (ca == NULL || !cafiles_public(gw->cfg, ca)) {
		http_reply_error(req, 404, "not_found", NULL, NULL, NULL, "no CA file at %s",
				 req->path);
		return NULL;
	}
	return ca;
}

void
gateway_ca_cert(struct gateway *gw, struct http_req *req, const char *rest)
{
	const struct ca *ca = cafiles_find(gw, req, rest, ".crt");
	unsigned char *der = NULL;
	int len;

	if (ca == NULL)
		return;
	if ((len = i2d_X509(ca->cert, &der)) <= 0) {
		http_reply_error(req, 500, "internal", NULL, NULL, NULL,
				 "CA %s: cannot encode the certificate", ca->id);
		return;
	}
	http_reply(req, 200, CT_CERT, (const char *)der, (size_t)len, NULL);
	OPENSSL_free(der);
}

/*
 * Reads the CRL file (at most CAFILES_CRL_MAX bytes) into *out. Returns its
 * length, or -1 with why set (a static or errno string).
 */
static long
cafiles_read(const char *path, char **out, const char **why)
{
	FILE *f = NULL;
	char *buf = NULL;
	size_t n;
	long rc = -1;

	if ((f = fopen(path, "rb")) == NULL) {
		*why = strerror(errno);
		goto out;
	}
	if ((buf = malloc(CAFILES_CRL_MAX + 1)) == NULL) {
		*why = "out of memory";
		goto out;
	}
	n = fread(buf, 1, CAFILES_CRL_MAX + 1, f);
	if (ferror(f)) {
		*why = "read error";
		goto out;
	}
	if (n > CAFILES_CRL_MAX) {
		*why = "larger than the served maximum";
		goto out;
	}
	*out = buf;
	buf = NULL;
	rc = (long)n;
out:
	if (f != NULL)
		fclose(f);
	free(buf);
	return rc;
}

void
gateway_crl(struct gateway *gw, struct http_req *req, const char *rest)
{
	const struct ca *ca = cafiles_find(gw, req, rest, ".crl");
	const unsigned char *p;
	const char *why = NULL;
	char *buf = NULL;
	X509_CRL *crl = NULL;
	long len;

	if (ca == NULL)
		return;
	if (ca->crl_path == NULL) {
		http_reply_error(req, 404, "not_found", NULL, NULL, NULL,
				 "CA %s publishes no CRL (no crl in its config entry)", ca->id);
		return;
	}
	/* Read on every request: a CRL re-signed by pkictl is served without a restart. */
	if ((len = cafiles_read(ca->crl_path, &buf, &why)) < 0) {
		http_reply_error(req, 503, "unavailable", NULL, NULL, NULL,
				 "CA %s: CRL file cannot be served: %s", ca->id, why);
		goto out;
	}
	p = (const unsigned char *)buf;
	if ((crl = d2i_X509_CRL(NULL, &p, len)) == NULL || p != (const unsigned char *)buf + len) {
		http_reply_error(req, 503, "unavailable", NULL, NULL, NULL,
				 "CA %s: CRL file is not one DER CRL", ca->id);
		goto out;
	}
	http_reply(req, 200, CT_CRL, buf, (size_t)len, NULL);
out:
	X509_CRL_free(crl);
	free(buf);
}
