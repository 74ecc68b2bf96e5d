/*
 * pkictl bulk: reading the input (a folder of CSRs or a JSON Lines file),
 * deterministic request and batch ids, and the producer's profile. No
 * network here, so that the unit tests can link it.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "extern.h"
#include "issue.h"
#include "msg.h"
#include "hex.h"

#define CSR_PEM_MARK "CERTIFICATE REQUEST-----" /* both BEGIN (NEW) CERTIFICATE REQUEST */
#define PROFILE_MAX (64 * 1024)
#define JSONL_LINE_MAX (MSG_CSR_MAX + 16 * 1024) /* a CSR plus the other fields, escaped */
#define WHERE_MAX 256                            /* a path (shortened) and a line number */

static const char *const jsonl_keys[] = {"name",     "csr",        "common_name", "validity_days",
					 "ca_id",    "extensions", "purpose",     NULL};

/* 1 if s is 1..max-1 characters of [A-Za-z0-9._-] (the id charset of msg.c). */
static int
chars_ok(const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return 0;
	return i > 0 && i < max;
}

/* 1 if s is a usable NAME: an id of up to BULK_NAME_MAX-1 characters, not starting with '.'. */
static int
name_ok(const char *s)
{
	return chars_ok(s, BULK_NAME_MAX) && s[0] != '.';
}

/* 1 if s is an id as msg.c accepts it (CA ids, batch ids, key ids). */
static int
id_ok(const char *s)
{
	return chars_ok(s, MSG_ID_MAX);
}

/*
 * Reads the whole file at path, at most max bytes (NUL-terminated, caller
 * frees). NULL with err when unreadable or larger.
 */
static char *
file_read(const char *path, size_t max, char *err)
{
	FILE *f = NULL;
	char *buf = NULL, *ret = NULL;
	size_t n;

	if ((f = fopen(path, "rb")) == NULL) {
		snprintf(err, BULK_ERR_MAX, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	if ((buf = malloc(max + 2)) == NULL) {
		snprintf(err, BULK_ERR_MAX, "%s: out of memory", path);
		goto out;
	}
	n = fread(buf, 1, max + 1, f);
	if (ferror(f)) {
		snprintf(err, BULK_ERR_MAX, "%s: read error: %s", path, strerror(errno));
		goto out;
	}
	if (n > max) {
		snprintf(err, BULK_ERR_MAX, "%s: larger than %zu bytes", path, max);
		goto out;
	}
	buf[n] = '\0';
	ret = buf;
	buf = NULL;
out:
	free(buf);
	if (f != NULL)
		fclose(f);
	return ret;
}

int
bulkin_csr_cn(const char *pem, char *out, size_t len, char *err)
{
	BIO *b = NULL;
	X509_REQ *req = NULL;
	unsigned char *utf8 = NULL;
	const X509_NAME *subj;
	int idx, n, rc = -1;

	if ((b = BIO_new_mem_buf(pem, -1)) == NULL ||
	    (req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL)) == NULL) {
		snprintf(err, BULK_ERR_MAX, "not a PEM certificate request OpenSSL can read");
		goto out;
	}
	subj = X509_REQ_get_subject_name(req);
	if ((idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1)) < 0) {
		snprintf(err, BULK_ERR_MAX,
			 "the CSR's subject has no CN; give \"common_name\" (jsonl input)");
		goto out;
	}
	n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx)));
	if (n <= 0 || (size_t)n >= len || memchr(utf8, '\0', (size_t)n) != NULL) {
		snprintf(err, BULK_ERR_MAX, "the CSR's CN must be 1..%zu bytes of UTF-8, got %d",
			 len - 1, n);
		goto out;
	}
	memcpy(out, utf8, (size_t)n);
	out[n] = '\0';
	rc = 0;
out:
	OPENSSL_free(utf8);
	X509_REQ_free(req);
	BIO_free(b);
	ERR_clear_error();
	return rc;
}

/* Marks it refused before sending: code and a copy of the message. */
static void
item_refuse(struct bulk_item *it, const char *code, const char *msg)
{
	it->state = BULK_ITEM_LOCAL;
	snprintf(it->code, sizeof(it->code), "%s", code);
	free(it->message);
	it->message = strdup(msg);
}

/* Fills what the input left out: defaults, and the CN from the CSR. 0 or -1 (no memory). */
static int
item_complete(struct bulk_item *it, const struct bulk_defaults *d)
{
	char cn[MSG_NAME_MAX], why[BULK_ERR_MAX];

	if (it->validity_days == 0)
		it->validity_days = d->validity_days;
	if (it->ca_id == NULL && d->ca_id != NULL && (it->ca_id = strdup(d->ca_id)) == NULL)
		return -1;
	if (strlen(it->csr) > MSG_CSR_MAX) {
		snprintf(why, sizeof(why), "CSR larger than %d bytes", MSG_CSR_MAX);
		item_refuse(it, "csr_too_large", why);
		return 0;
	}
	if (it->common_name != NULL)
		return 0;
	if (bulkin_csr_cn(it->csr, cn, sizeof(cn), why) != 0) {
		item_refuse(it, strstr(why, "PEM") ? "csr_malformed" : "common_name_missing", why);
		return 0;
	}
	return (it->common_name = strdup(cn)) != NULL ? 0 : -1;
}

/* A new zeroed item at the end of in (growing it). NULL without memory or past the limit. */
static struct bulk_item *
item_add(struct bulk_input *in, size_t *cap, char *err)
{
	struct bulk_item *items;

	if (in->n == BULK_ITEMS_MAX) {
		snprintf(err, BULK_ERR_MAX, "more than %d requests in one batch", BULK_ITEMS_MAX);
		return NULL;
	}
	if (in->n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		if ((items = realloc(in->items, *cap * sizeof(*items))) == NULL) {
			snprintf(err, BULK_ERR_MAX, "out of memory");
			return NULL;
		}
		in->items = items;
	}
	memset(&in->items[in->n], 0, sizeof(in->items[0]));
	return &in->items[in->n++];
}

/* NAME of a file NAME.csr, or NAME.pem holding a CSR (not NAME.chain.pem), into name; else 0. */
static int
dir_entry_name(const char *file, char *name, size_t len)
{
	size_t n = strlen(file);

	if (file[0] == '.' || n < 5 || n - 4 >= len)
		return 0;
	if (strcmp(file + n - 4, ".csr") != 0 && strcmp(file + n - 4, ".pem") != 0)
		return 0;
	if (n > 10 && strcmp(file + n - 10, ".chain.pem") == 0)
		return 0;
	memcpy(name, file, n - 4);
	name[n - 4] = '\0';
	return 1;
}

/* The folder form of bulkin_read. */
static int
read_dir(const char *path, const struct bulk_defaults *d, struct bulk_input *in, char *err)
{
	DIR *dp = NULL;
	struct dirent *de;
	struct stat st;
	struct bulk_item *it;
	char name[BULK_NAME_MAX + 8], why[BULK_ERR_MAX], *file = NULL, *text = NULL;
	size_t cap = 0;
	int rc = -1, pem;

	if ((dp = opendir(path)) == NULL) {
		snprintf(err, BULK_ERR_MAX, "%s: cannot open the folder: %s", path, strerror(errno));
		goto out;
	}
	while ((de = readdir(dp)) != NULL) {
		if (!dir_entry_name(de->d_name, name, sizeof(name)))
			continue;
		free(file);
		free(text);
		text = NULL;
		if (asprintf(&file, "%s/%s", path, de->d_name) < 0) {
			file = NULL;
			snprintf(err, BULK_ERR_MAX, "out of memory");
			goto out;
		}
		if (stat(file, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		pem = strcmp(de->d_name + strlen(de->d_name) - 4, ".pem") == 0;
		/* Larger files are read in part: enough to refuse them as too large. */
		if ((text = file_read(file, (size_t)MSG_CSR_MAX + 1, err)) == NULL &&
		    (size_t)st.st_size <= (size_t)MSG_CSR_MAX + 1)
			goto out;
		if (pem && (text == NULL || strstr(text, CSR_PEM_MARK) == NULL))
			continue; /* a key or certificate lying beside the CSRs */
		if (!name_ok(name)) {
			snprintf(err, BULK_ERR_MAX,
				 "%s: NAME \"%s\" must be 1..%d characters of A-Z a-z 0-9 . _ - "
				 "not starting with '.'",
				 file, name, BULK_NAME_MAX - 1);
			goto out;
		}
		if ((it = item_add(in, &cap, err)) == NULL || (it->name = strdup(name)) == NULL ||
		    (it->csr = text ? text : strdup("")) == NULL) {
			snprintf(err, BULK_ERR_MAX, "out of memory");
			goto out;
		}
		text = NULL;
		it->out_dir = in->out_dir;
		if (st.st_size > MSG_CSR_MAX) {
			snprintf(why, sizeof(why), "CSR larger than %d bytes", MSG_CSR_MAX);
			item_refuse(it, "csr_too_large", why);
		} else if (item_complete(it, d) != 0) {
			snprintf(err, BULK_ERR_MAX, "out of memory");
			goto out;
		}
	}
	rc = 0;
out:
	free(file);
	free(text);
	if (dp != NULL)
		closedir(dp);
	return rc;
}

/*
 * String member key of o into *out (a copy); absent (or null) is fine unless
 * required. where names o in messages. 0 or -1 with err.
 */
static int
json_str(const cJSON *o, const char *key, int required, const char *where, char **out, char *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (v == NULL || cJSON_IsNull(v)) {
		if (!required)
			return 0;
		snprintf(err, BULK_ERR_MAX, "%s: \"%s\": required", where, key);
		return -1;
	}
	if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
		snprintf(err, BULK_ERR_MAX, "%s: \"%s\": must be a non-empty string", where, key);
		return -1;
	}
	if ((*out = strdup(v->valuestring)) == NULL) {
		snprintf(err, BULK_ERR_MAX, "out of memory");
		return -1;
	}
	return 0;
}

/* Reads one jsonl object (line `where`) into it. 0 or -1 with err. */
static int
jsonl_item(const cJSON *o, const char *where, struct bulk_item *it, char *err)
{
	const cJSON *v, *e;
	size_t k;
	unsigned bit;

	if (!cJSON_IsObject(o)) {
		snprintf(err, BULK_ERR_MAX, "%s: must be a JSON object", where);
		return -1;
	}
	cJSON_ArrayForEach(v, o)
	{
		for (k = 0; jsonl_keys[k] != NULL && strcmp(jsonl_keys[k], v->string) != 0; k++)
			;
		if (jsonl_keys[k] == NULL) {
			snprintf(err, BULK_ERR_MAX,
				 "%s: unknown key \"%.64s\"; expected name, csr, common_name, "
				 "validity_days, ca_id, extensions, purpose",
				 where, v->string);
			return -1;
		}
	}
	if (json_str(o, "name", 1, where, &it->name, err) < 0 ||
	    json_str(o, "csr", 1, where, &it->csr, err) < 0 ||
	    json_str(o, "common_name", 0, where, &it->common_name, err) < 0 ||
	    json_str(o, "ca_id", 0, where, &it->ca_id, err) < 0 ||
	    json_str(o, "purpose", 0, where, &it->purpose, err) < 0)
		return -1;
	if (!name_ok(it->name)) {
		snprintf(err, BULK_ERR_MAX,
			 "%s: \"name\": must be 1..%d characters of A-Z a-z 0-9 . _ - not starting "
			 "with '.', got \"%.64s\"",
			 where, BULK_NAME_MAX - 1, it->name);
		return -1;
	}
	if (it->common_name != NULL && strlen(it->common_name) >= MSG_NAME_MAX) {
		snprintf(err, BULK_ERR_MAX, "%s: \"common_name\": at most %d bytes, got %zu", where,
			 MSG_NAME_MAX - 1, strlen(it->common_name));
		return -1;
	}
	if (it->purpose != NULL && strlen(it->purpose) >= MSG_NAME_MAX) {
		snprintf(err, BULK_ERR_MAX, "%s: \"purpose\": at most %d bytes, got %zu", where,
			 MSG_NAME_MAX - 1, strlen(it->purpose));
		return -1;
	}
	if (it->ca_id != NULL && !id_ok(it->ca_id)) {
		snprintf(err, BULK_ERR_MAX,
			 "%s: \"ca_id\": must be 1..%d characters of A-Z a-z 0-9 . _ -, got \"%.64s\"",
			 where, MSG_ID_MAX - 1, it->ca_id);
		return -1;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(o, "validity_days")) != NULL) {
		if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int)v->valuedouble ||
		    v->valuedouble < 1 || v->valuedouble > CONFIG_MAX_VALIDITY_DAYS) {
			snprintf(err, BULK_ERR_MAX,
				 "%s: \"validity_days\": must be an integer 1..%d", where,
				 CONFIG_MAX_VALIDITY_DAYS);
			return -1;
		}
		it->validity_days = (int)v->valuedouble;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(o, "extensions")) != NULL) {
		if (!cJSON_IsArray(v)) {
			snprintf(err, BULK_ERR_MAX, "%s: \"extensions\": must be an array of names",
				 where);
			return -1;
		}
		cJSON_ArrayForEach(e, v)
		{
			if (!cJSON_IsString(e) || (bit = ext_from_name(e->valuestring)) == 0) {
				snprintf(err, BULK_ERR_MAX,
					 "%s: \"extensions\": each must be server_auth, client_auth, "
					 "email_protection or code_signing, got %.64s",
					 where, cJSON_IsString(e) ? e->valuestring : "a non-string");
				return -1;
			}
			it->extensions |= bit;
		}
	}
	return 0;
}

/* The JSON Lines form of bulkin_read. */
static int
read_jsonl(const char *path, const struct bulk_defaults *d, struct bulk_input *in, char *err)
{
	FILE *f = NULL;
	char *line = NULL, where[WHERE_MAX];
	size_t linecap = 0, cap = 0, lineno = 0;
	ssize_t n;
	cJSON *o = NULL;
	struct bulk_item *it;
	int rc = -1;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, BULK_ERR_MAX, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	while ((n = getline(&line, &linecap, f)) >= 0) {
		lineno++;
		snprintf(where, sizeof(where), "%.200s:%zu", path, lineno);
		if (strspn(line, " \t\r\n") == (size_t)n)
			continue;
		if ((size_t)n > JSONL_LINE_MAX) {
			snprintf(err, BULK_ERR_MAX, "%s: line longer than %d bytes", where,
				 JSONL_LINE_MAX);
			goto out;
		}
		cJSON_Delete(o);
		if ((o = cJSON_ParseWithLength(line, (size_t)n)) == NULL) {
			snprintf(err, BULK_ERR_MAX, "%s: not a JSON object (one request per line)",
				 where);
			goto out;
		}
		if ((it = item_add(in, &cap, err)) == NULL || jsonl_item(o, where, it, err) != 0)
			goto out;
		it->out_dir = in->out_dir;
		if (item_complete(it, d) != 0) {
			snprintf(err, BULK_ERR_MAX, "out of memory");
			goto out;
		}
	}
	if (ferror(f)) {
		snprintf(err, BULK_ERR_MAX, "%s: read error: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	cJSON_Delete(o);
	free(line);
	if (f != NULL)
		fclose(f);
	return rc;
}

static int
item_cmp(const void *a, const void *b)
{
	return strcmp(((const struct bulk_item *)a)->name, ((const struct bulk_item *)b)->name);
}

int
bulkin_read(const char *path, const struct bulk_defaults *d, struct bulk_input **out, char *err)
{
	struct bulk_input *in = NULL;
	struct stat st;
	char *slash;
	size_t i;
	int rc = -1;

	if (stat(path, &st) != 0) {
		snprintf(err, BULK_ERR_MAX, "%s: %s", path, strerror(errno));
		goto out;
	}
	if ((in = calloc(1, sizeof(*in))) == NULL)
		goto nomem;
	in->is_dir = S_ISDIR(st.st_mode);
	if (in->is_dir)
		in->out_dir = strdup(path);
	else if (d->out_dir != NULL)
		in->out_dir = strdup(d->out_dir);
	else if ((slash = strrchr(path, '/')) == NULL)
		in->out_dir = strdup(".");
	else
		in->out_dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
	if (in->out_dir == NULL)
		goto nomem;
	if ((in->is_dir ? read_dir(path, d, in, err) : read_jsonl(path, d, in, err)) != 0)
		goto out;
	if (in->n == 0) {
		snprintf(err, BULK_ERR_MAX, "%s: no CSRs found (%s)", path,
			 in->is_dir ? "expected NAME.csr or NAME.pem files"
				    : "expected one JSON object per line");
		goto out;
	}
	qsort(in->items, in->n, sizeof(in->items[0]), item_cmp);
	for (i = 1; i < in->n; i++)
		if (strcmp(in->items[i - 1].name, in->items[i].name) == 0) {
			snprintf(err, BULK_ERR_MAX, "%s: NAME \"%s\" appears twice%s", path,
				 in->items[i].name,
				 in->is_dir ? " (as NAME.csr and NAME.pem)" : "");
			goto out;
		}
	*out = in;
	in = NULL;
	rc = 0;
	goto out;
nomem:
	snprintf(err, BULK_ERR_MAX, "out of memory");
out:
	bulkin_free(in);
	return rc;
}

void
bulkin_free(struct bulk_input *in)
{
	size_t i;

	if (in == NULL)
		return;
	for (i = 0; i < in->n; i++) {
		free(in->items[i].name);
		free(in->items[i].csr);
		free(in->items[i].common_name);
		free(in->items[i].ca_id);
		free(in->items[i].purpose);
		free(in->items[i].message);
	}
	free(in->items);
	free(in->out_dir);
	free(in);
}

void
bulk_request_id(const char *key_id, const char *batch_id, const char *name,
		char out[BULK_REQUEST_ID_BUF])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	/* Only an allocation can fail here; an id of zeros would then collide visibly. */
	memset(md, 0, sizeof(md));
	if (ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1) {
		EVP_DigestUpdate(ctx, key_id, strlen(key_id));
		EVP_DigestUpdate(ctx, "\n", 1);
		EVP_DigestUpdate(ctx, batch_id, strlen(batch_id));
		EVP_DigestUpdate(ctx, "\n", 1);
		EVP_DigestUpdate(ctx, name, strlen(name));
		EVP_DigestFinal_ex(ctx, md, &mdlen);
	}
	EVP_MD_CTX_free(ctx);
	out[0] = 'b';
	hex_encode(md, BULK_REQUEST_ID_HEX / 2, out + 1);
}

/* Adds "s\n" (s may be NULL: just "\n") to ctx. */
static void
digest_line(EVP_MD_CTX *ctx, const char *s)
{
	if (s != NULL)
		EVP_DigestUpdate(ctx, s, strlen(s));
	EVP_DigestUpdate(ctx, "\n", 1);
}

void
bulk_batch_default(const char *key_id, const struct bulk_input *in, char out[BULK_BATCH_ID_BUF])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char csrhash[HEX_SHA256_BUF], num[32];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t i;

	memset(md, 0, sizeof(md));
	if (ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1) {
		digest_line(ctx, key_id);
		for (i = 0; i < in->n; i++) {
			const struct bulk_item *it = &in->items[i];

			msg_csr_sha256(it->csr, csrhash);
			digest_line(ctx, it->name);
			digest_line(ctx, csrhash);
			digest_line(ctx, it->common_name);
			snprintf(num, sizeof(num), "%d %u", it->validity_days, it->extensions);
			digest_line(ctx, num);
			digest_line(ctx, it->ca_id);
			digest_line(ctx, it->purpose);
		}
		EVP_DigestFinal_ex(ctx, md, &mdlen);
	}
	EVP_MD_CTX_free(ctx);
	snprintf(out, BULK_BATCH_ID_BUF, "%s", BULK_BATCH_PREFIX);
	hex_encode(md, BULK_REQUEST_ID_HEX / 2, out + strlen(BULK_BATCH_PREFIX));
}

/* Decodes 2*n hex digits of s into out. 0, or -1 when s is not exactly that. */
static int
hex_decode(const char *s, unsigned char *out, size_t n)
{
	size_t i;
	unsigned v;

	if (strlen(s) != 2 * n)
		return -1;
	for (i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)s[2 * i]) || !isxdigit((unsigned char)s[2 * i + 1]) ||
		    sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	return 0;
}

int
bulk_profile_load(const char *path, struct bulk_profile **out, char *err)
{
	struct bulk_profile *p = NULL;
	char *text = NULL, *secret = NULL;
	cJSON *o = NULL;
	const cJSON *k;
	int rc = -1;

	if ((text = file_read(path, PROFILE_MAX, err)) == NULL)
		goto out;
	if ((o = cJSON_Parse(text)) == NULL || !cJSON_IsObject(o)) {
		snprintf(err, BULK_ERR_MAX, "%s: not a JSON object", path);
		goto out;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		snprintf(err, BULK_ERR_MAX, "out of memory");
		goto out;
	}
	if (json_str(o, "user", 1, path, &p->user, err) < 0 ||
	    json_str(o, "key_id", 1, path, &p->key_id, err) < 0 ||
	    json_str(o, "secret", 1, path, &secret, err) < 0)
		goto out;
	if (!id_ok(p->key_id)) {
		snprintf(err, BULK_ERR_MAX,
			 "%s: \"key_id\": must be 1..%d characters of A-Z a-z 0-9 . _ -, got \"%.64s\"",
			 path, MSG_ID_MAX - 1, p->key_id);
		goto out;
	}
	if (hex_decode(secret, p->secret, sizeof(p->secret)) != 0) {
		snprintf(err, BULK_ERR_MAX, "%s: \"secret\": must be %zu hex digits, got %zu characters",
			 path, 2 * sizeof(p->secret), strlen(secret));
		goto out;
	}
	if ((k = cJSON_GetObjectItemCaseSensitive(o, "kafka")) != NULL && !cJSON_IsNull(k)) {
		if (!cJSON_IsObject(k)) {
			snprintf(err, BULK_ERR_MAX, "%s: \"kafka\": must be an object", path);
			goto out;
		}
		if (json_str(k, "bootstrap", 0, path, &p->bootstrap, err) < 0 ||
		    json_str(k, "ca", 0, path, &p->ca, err) < 0 ||
		    json_str(k, "cert", 0, path, &p->cert, err) < 0 ||
		    json_str(k, "key", 0, path, &p->key, err) < 0)
			goto out;
		if ((p->cert == NULL) != (p->key == NULL)) {
			snprintf(err, BULK_ERR_MAX,
				 "%s: \"kafka\": \"cert\" and \"key\" go together, got only \"%s\"",
				 path, p->cert ? "cert" : "key");
			goto out;
		}
	}
	*out = p;
	p = NULL;
	rc = 0;
out:
	if (secret != NULL) {
		OPENSSL_cleanse(secret, strlen(secret));
		free(secret);
	}
	if (text != NULL) {
		OPENSSL_cleanse(text, strlen(text));
		free(text);
	}
	cJSON_Delete(o);
	bulk_profile_free(p);
	return rc;
}

void
bulk_profile_free(struct bulk_profile *p)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p->secret, sizeof(p->secret));
	free(p->user);
	free(p->key_id);
	free(p->bootstrap);
	free(p->ca);
	free(p->cert);
	free(p->key);
	free(p);
}
