/*
 * GET /ca/{id}.crt and GET /crl/{id}.crl: the files behind the AIA caIssuers
 * and CRL distribution point URLs of issued certificates. Public, no auth.
 * Served for active CAs that sign through the request API and for their
 * parents up to the root; anything else is 404, so the route reveals nothing
 * about disabled or unused CAs.
 *
 * Answers come from memory: each certificate is encoded once at start, each
 * CRL file is read at start and again by cafiles_refresh (the main loop,
 * every second) when its size or time changed and it holds one DER CRL. A
 * request opens no file; a CRL file that goes away or goes bad keeps the
 * last good copy served.
 */
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gateway.h"
#include "log.h"

#define CAFILES_CRL_MAX (4 * 1024 * 1024) /* largest CRL file served */
#define CAFILES_ID_MAX 64                 /* as config ids */
#define CT_CERT "application/pkix-cert"
#define CT_CRL "application/pkix-crl"

/* One public CA's answers. */
struct cafile {
	const struct ca *ca;
	unsigned char *cert; /* DER */
	int cert_len;
	char *crl; /* DER, NULL until a good file was read */
	size_t crl_len;
	const char *crl_why; /* why crl is NULL (static text) */
	struct stat crl_st;  /* of the file crl came from, or was last refused */
};

struct cafiles {
	pthread_mutex_t mu; /* guards crl, crl_len, crl_why of every entry */
	struct cafile *v;
	size_t n;
};

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
 * Reads the CRL file at path if it changed since *st (all zero: missing):
 * returns 1 with *out (caller frees) and *len, 0 when unchanged, -1 with why
 * (static text) once per change to a bad or missing file.
 */
static int
cafiles_crl_read(const char *path, struct stat *st, char **out, size_t *len, const char **why)
{
	struct stat now;
	const unsigned char *p;
	X509_CRL *crl = NULL;
	FILE *f = NULL;
	char *buf = NULL;
	size_t n;
	int rc = -1;

	if (stat(path, &now) != 0) {
		if (st->st_ino == 0)
			return 0; /* still missing */
		memset(st, 0, sizeof(*st));
		*why = "cannot be read";
		return -1;
	}
	if (now.st_size == st->st_size && now.st_mtim.tv_sec == st->st_mtim.tv_sec &&
	    now.st_mtim.tv_nsec == st->st_mtim.tv_nsec && now.st_ino == st->st_ino)
		return 0;
	*st = now; /* a bad file is not read again until it changes */
	if (now.st_size <= 0 || now.st_size > CAFILES_CRL_MAX) {
		*why = "empty or larger than the served maximum";
		goto out;
	}
	if ((f = fopen(path, "rb")) == NULL || (buf = malloc((size_t)now.st_size)) == NULL ||
	    (n = fread(buf, 1, (size_t)now.st_size, f)) != (size_t)now.st_size) {
		*why = "cannot be read";
		goto out;
	}
	p = (const unsigned char *)buf;
	if ((crl = d2i_X509_CRL(NULL, &p, (long)n)) == NULL ||
	    p != (const unsigned char *)buf + n) {
		*why = "is not one DER CRL";
		goto out;
	}
	*out = buf;
	*len = n;
	buf = NULL;
	rc = 1;
out:
	X509_CRL_free(crl);
	if (f != NULL)
		fclose(f);
	free(buf);
	return rc;
}

void
cafiles_refresh(struct cafiles *cf)
{
	const char *why = NULL;
	struct cafile *e;
	char *buf, *old;
	size_t i, len;
	int rc;

	for (i = 0; cf != NULL && i < cf->n; i++) {
		e = &cf->v[i];
		buf = NULL;
		if (e->ca->crl_path == NULL ||
		    (rc = cafiles_crl_read(e->ca->crl_path, &e->crl_st, &buf, &len, &why)) == 0)
			continue;
		pthread_mutex_lock(&cf->mu);
		old = NULL;
		if (rc > 0) {
			old = e->crl;
			e->crl = buf;
			e->crl_len = len;
			e->crl_why = NULL;
		} else if (e->crl == NULL) {
			e->crl_why = why;
		}
		pthread_mutex_unlock(&cf->mu);
		free(old);
		if (rc < 0 && e->crl != NULL)
			log_warn("CA %s: CRL file %s %s; serving the last good copy", e->ca->id,
				 e->ca->crl_path, why);
	}
}

struct cafiles *
cafiles_new(const struct config *cfg)
{
	struct cafiles *cf = calloc(1, sizeof(*cf));
	struct cafile *e;
	size_t i;

	if (cf == NULL || (cf->v = calloc(cfg->ncas > 0 ? cfg->ncas : 1, sizeof(*cf->v))) == NULL)
		goto fail;
	pthread_mutex_init(&cf->mu, NULL);
	for (i = 0; i < cfg->ncas; i++) {
		if (!cafiles_public(cfg, &cfg->cas[i]))
			continue;
		e = &cf->v[cf->n++];
		e->ca = &cfg->cas[i];
		e->crl_why = "cannot be read";
		if ((e->cert_len = i2d_X509(e->ca->cert, &e->cert)) <= 0)
			goto fail;
	}
	cafiles_refresh(cf);
	return cf;
fail:
	cafiles_free(cf);
	return NULL;
}

void
cafiles_free(struct cafiles *cf)
{
	size_t i;

	if (cf == NULL)
		return;
	for (i = 0; i < cf->n; i++) {
		OPENSSL_free(cf->v[i].cert);
		free(cf->v[i].crl);
	}
	if (cf->v != NULL)
		pthread_mutex_destroy(&cf->mu);
	free(cf->v);
	free(cf);
}

/*
 * The public CA named by rest ("{id}{suffix}"), or NULL after answering 404.
 */
static struct cafile *
cafiles_find(struct gateway *gw, struct http_req *req, const char *rest, const char *suffix)
{
	size_t n = strlen(rest), slen = strlen(suffix), i;
	struct cafiles *cf = gw->cafiles;

	if (n > slen && n - slen <= CAFILES_ID_MAX && strcmp(rest + n - slen, suffix) == 0)
		for (i = 0; cf != NULL && i < cf->n; i++)
			if (strncmp(cf->v[i].ca->id, rest, n - slen) == 0 &&
			    cf->v[i].ca->id[n - slen] == '\0')
				return &cf->v[i];
	http_reply_error(req, 404, "not_found", NULL, NULL, NULL, "no CA file at %s", req->path);
	return NULL;
}

void
gateway_ca_cert(struct gateway *gw, struct http_req *req, const char *rest)
{
	const struct cafile *e = cafiles_find(gw, req, rest, ".crt");

	if (e != NULL)
		http_reply(req, 200, CT_CERT, (const char *)e->cert, (size_t)e->cert_len, NULL);
}

void
gateway_crl(struct gateway *gw, struct http_req *req, const char *rest)
{
	struct cafile *e = cafiles_find(gw, req, rest, ".crl");

	if (e == NULL)
		return;
	if (e->ca->crl_path == NULL) {
		http_reply_error(req, 404, "not_found", NULL, NULL, NULL,
				 "CA %s publishes no CRL (no crl in its config entry)", e->ca->id);
		return;
	}
	pthread_mutex_lock(&gw->cafiles->mu);
	if (e->crl != NULL)
		http_reply(req, 200, CT_CRL, e->crl, e->crl_len, NULL);
	else
		http_reply_error(req, 503, "unavailable", NULL, NULL, NULL,
				 "CA %s: CRL file cannot be served: it %s", e->ca->id, e->crl_why);
	pthread_mutex_unlock(&gw->cafiles->mu);
}
