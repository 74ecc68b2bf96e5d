#include "msg.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "ids.h"
#include "issue.h"
#include "jfield.h"
#include "jsonw.h"
#include "secret.h"
#include "hex.h"

#define GRANT_DOMAIN "pki-grant-v2"

void
msg_admit_request(const struct issue_msg *m, const struct user *u, struct admit_request *rq)
{
	memset(rq, 0, sizeof(*rq));
	rq->user = u;
	rq->requester = m->requester;
	rq->tenant_id = m->tenant;
	rq->ca_id = m->ca_id;
	rq->purpose = m->purpose;
	rq->client_ip = m->client_ip;
	rq->csr = m->csr;
	rq->common_name = m->common_name;
	rq->validity_days = m->validity_days;
	rq->extensions = m->extensions;
}

void
msg_issue_free(struct issue_msg *m)
{
	if (m == NULL)
		return;
	free(m->request_id);
	free(m->csr);
	free(m->common_name);
	free(m->ca_id);
	free(m->purpose);
	free(m->tenant);
	free(m->requester);
	free(m->email);
	free(m->client_ip);
	free(m->batch_id);
	free(m);
}

static void
json_add_opt(cJSON *o, const char *name, const char *value)
{
	if (value != NULL)
		cJSON_AddStringToObject(o, name, value);
}

static cJSON *
grant_to_json(const struct grant *g)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "request_id", g->request_id);
	cJSON_AddStringToObject(o, "ca_id", g->ca_id);
	cJSON_AddStringToObject(o, "request_sha256", g->request_sha256);
	cJSON_AddNumberToObject(o, "expires_at", (double)g->expires_at);
	cJSON_AddStringToObject(o, "mac", g->mac);
	return o;
}

cJSON *
msg_issue_to_json(const struct issue_msg *m)
{
	cJSON *o = cJSON_CreateObject(), *exts;
	unsigned bit;

	if (o == NULL)
		return NULL;
	cJSON_AddNumberToObject(o, "v", MSG_VERSION);
	cJSON_AddStringToObject(o, "request_id", m->request_id);
	cJSON_AddStringToObject(o, "csr", m->csr);
	cJSON_AddStringToObject(o, "common_name", m->common_name);
	cJSON_AddNumberToObject(o, "validity_days", m->validity_days);
	json_add_opt(o, "ca_id", m->ca_id);
	if (m->extensions != 0) {
		exts = cJSON_AddArrayToObject(o, "extensions");
		for (bit = 1; bit != 0 && bit <= m->extensions; bit <<= 1)
			if ((m->extensions & bit) && ext_name(bit) != NULL)
				cJSON_AddItemToArray(exts, cJSON_CreateString(ext_name(bit)));
	}
	json_add_opt(o, "purpose", m->purpose);
	cJSON_AddStringToObject(o, "tenant", m->tenant);
	cJSON_AddStringToObject(o, "requester", m->requester);
	json_add_opt(o, "email", m->email);
	json_add_opt(o, "client_ip", m->client_ip);
	json_add_opt(o, "batch_id", m->batch_id);
	if (m->batch_size != 0)
		cJSON_AddNumberToObject(o, "batch_size", (double)m->batch_size);
	cJSON_AddNumberToObject(o, "submitted_at", (double)m->submitted_at);
	if (m->has_grant)
		cJSON_AddItemToObject(o, "grant", grant_to_json(&m->grant));
	return o;
}

char *
msg_issue_encode(const struct issue_msg *m)
{
	cJSON *o = msg_issue_to_json(m);
	char *s;

	if (o == NULL)
		return NULL;
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

const char *
msg_rule_hex64(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			break;
	return i == 64 && s[i] == '\0' ? NULL : "must be 64 lowercase hex digits";
}

enum fkind { F_ID, F_TEXT, F_CSR, F_HEX64, F_PASSWORD };

/* Messages of the decoders: "field: rule, got what" (jfield.h), MSG_ERR_MAX bytes. */
static struct jfield
msg_jfield(char *err)
{
	return (struct jfield){.err = err, .errlen = MSG_ERR_MAX, .prefix = ""};
}

/*
 * Reads string field name of o into *out (malloc'd copy). Absent or null is
 * allowed when !required (leaves *out NULL). 0 or -1 with err.
 */
static int
msg_str(const cJSON *o, const char *name, int required, enum fkind kind, char **out, char *err)
{
	static const jfield_rule rules[] = {[F_ID] = id_rule,
					    [F_TEXT] = NULL,
					    [F_CSR] = NULL,
					    [F_HEX64] = msg_rule_hex64,
					    [F_PASSWORD] = NULL};
	static const size_t caps[] = {[F_ID] = MSG_NAME_MAX - 1,
				      [F_TEXT] = MSG_NAME_MAX - 1,
				      [F_CSR] = MSG_CSR_MAX,
				      [F_HEX64] = MSG_NAME_MAX - 1,
				      [F_PASSWORD] = MSG_PASSWORD_MAX};
	const struct jfield j = msg_jfield(err);
	const char *s;
	int rc;

	*out = NULL;
	rc = jfield_str(&j, o, "", name, JF_NULL_ABSENT | (required ? JF_REQUIRED : 0), caps[kind],
			rules[kind], &s);
	if (rc <= 0)
		return rc;
	if ((*out = strdup(s)) == NULL)
		return jfield_fail(&j, name, "out of memory");
	return 0;
}

/* Required integer field in [lo, hi]. */
static int
msg_int(const cJSON *o, const char *name, long long lo, long long hi, long long *out, char *err)
{
	const struct jfield j = msg_jfield(err);

	return jfield_int(&j, o, "", name, JF_REQUIRED, lo, hi, out) < 0 ? -1 : 0;
}

/* Refuses keys of object o not in known (NULL-terminated) or given twice; path names o. */
static int
msg_known_keys(const cJSON *o, const char *path, const char *const *known, char *err)
{
	const struct jfield j = msg_jfield(err);

	return jfield_keys(&j, o, path, known);
}

static int
grant_from_json(const cJSON *o, struct grant *g, char *err)
{
	static const char *const known[] = {"request_id", "ca_id", "request_sha256",
					    "expires_at", "mac",   NULL};
	static const struct {
		const char *name;
		enum fkind kind;
		size_t off, cap;
	} fields[] = {
	    {"request_id", F_ID, offsetof(struct grant, request_id), MSG_ID_MAX},
	    {"ca_id", F_ID, offsetof(struct grant, ca_id), MSG_ID_MAX},
	    {"request_sha256", F_HEX64, offsetof(struct grant, request_sha256), 65},
	    {"mac", F_HEX64, offsetof(struct grant, mac), 65},
	};
	char e[MSG_ERR_MAX], *s = NULL;
	long long exp;
	size_t i;

	if (!cJSON_IsObject(o)) {
		snprintf(err, MSG_ERR_MAX, "grant: must be an object");
		return -1;
	}
	if (msg_known_keys(o, "grant", known, err) < 0)
		return -1;
	memset(g, 0, sizeof(*g));
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (msg_str(o, fields[i].name, 1, fields[i].kind, &s, e) < 0) {
			snprintf(err, MSG_ERR_MAX, "grant.%.240s", e);
			return -1;
		}
		snprintf((char *)g + fields[i].off, fields[i].cap, "%s", s);
		free(s);
	}
	if (msg_int(o, "expires_at", 0, 253402300799LL, &exp, e) < 0) {
		snprintf(err, MSG_ERR_MAX, "grant.%.240s", e);
		return -1;
	}
	g->expires_at = exp;
	return 0;
}

/* Keys of an issue request; a bulk one may not carry those after "email". */
static const char *const issue_keys[] = {
    "v",          "request_id", "csr",          "common_name", "validity_days",
    "ca_id",      "extensions", "purpose",      "tenant",      "requester",
    "batch_id",   "batch_size", "submitted_at", "email",       "client_ip",
    "grant",      NULL};
#define ISSUE_KEYS_BULK 13 /* issue_keys[0..12] */

#define ISSUE_KEYS_EXTRA_MAX 8

/* Refuses keys of o that are in neither the first nkeys of issue_keys nor extra. */
static int
msg_issue_keys(const cJSON *o, size_t nkeys, const char *const *extra, char *err)
{
	const char *known[sizeof(issue_keys) / sizeof(*issue_keys) + ISSUE_KEYS_EXTRA_MAX];
	size_t n = 0, i;

	for (i = 0; i < nkeys; i++)
		known[n++] = issue_keys[i];
	for (i = 0; extra != NULL && extra[i] != NULL && i < ISSUE_KEYS_EXTRA_MAX; i++)
		known[n++] = extra[i];
	known[n] = NULL;
	return msg_known_keys(o, "", known, err);
}

/* The optional extensions array: names of enum ext_bit, or'ed into *out. */
static int
msg_exts(const cJSON *o, unsigned *out, char *err)
{
	const struct jfield j = msg_jfield(err);
	char ip[JFIELD_PATH_MAX];
	const char *const *names;
	const cJSON *arr = NULL, *e;
	size_t n, i = 0, k;
	int rc = jfield_array(&j, o, "", "extensions", JF_NULL_ABSENT, &arr);

	if (rc <= 0)
		return rc;
	names = ext_name_list(&n);
	cJSON_ArrayForEach(e, arr)
	{
		jfield_path_idx(ip, "extensions", i++);
		if (jfield_enum(&j, e, ip, names, n, &k) != 0)
			return -1;
		*out |= 1u << k;
	}
	return 0;
}

/* The issue request in o; bulk: the bulk form (see msg_bulk_from_json). */
static int
msg_issue_parse(const cJSON *o, int bulk, const char *const *extra, struct issue_msg **out,
		char *err)
{
	struct issue_msg *m = NULL;
	const cJSON *it;
	long long v;
	int rc = -1;

	if (!cJSON_IsObject(o)) {
		snprintf(err, MSG_ERR_MAX, "message: must be a JSON object");
		return -1;
	}
	if (msg_issue_keys(o, bulk ? ISSUE_KEYS_BULK : sizeof(issue_keys) / sizeof(*issue_keys) - 1,
			   extra, err) < 0)
		return -1;
	if (msg_int(o, "v", MSG_VERSION, MSG_VERSION, &v, err) < 0)
		return -1;
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		snprintf(err, MSG_ERR_MAX, "out of memory");
		return -1;
	}
	if (msg_str(o, "request_id", 1, F_ID, &m->request_id, err) < 0 ||
	    msg_str(o, "csr", 1, F_CSR, &m->csr, err) < 0 ||
	    msg_str(o, "common_name", 1, F_TEXT, &m->common_name, err) < 0 ||
	    msg_str(o, "ca_id", 0, F_ID, &m->ca_id, err) < 0 ||
	    msg_str(o, "purpose", 0, F_TEXT, &m->purpose, err) < 0 ||
	    msg_str(o, "tenant", !bulk, F_ID, &m->tenant, err) < 0 ||
	    msg_str(o, "requester", !bulk, F_ID, &m->requester, err) < 0 ||
	    msg_str(o, "email", 0, F_TEXT, &m->email, err) < 0 ||
	    msg_str(o, "client_ip", 0, F_TEXT, &m->client_ip, err) < 0 ||
	    msg_str(o, "batch_id", 0, F_ID, &m->batch_id, err) < 0)
		goto out;
	if (msg_int(o, "validity_days", 1, CONFIG_MAX_VALIDITY_DAYS, &v, err) < 0)
		goto out;
	m->validity_days = (int)v;
	if ((!bulk || cJSON_GetObjectItemCaseSensitive(o, "submitted_at") != NULL) &&
	    msg_int(o, "submitted_at", 0, 253402300799LL, &m->submitted_at, err) < 0)
		goto out;
	if (cJSON_GetObjectItemCaseSensitive(o, "batch_size") != NULL &&
	    msg_int(o, "batch_size", 1, MSG_BATCH_SIZE_MAX, &m->batch_size, err) < 0)
		goto out;
	if (m->batch_size != 0 && m->batch_id == NULL) {
		snprintf(err, MSG_ERR_MAX, "batch_size: only with batch_id");
		goto out;
	}
	if (msg_exts(o, &m->extensions, err) < 0)
		goto out;
	if ((it = cJSON_GetObjectItemCaseSensitive(o, "grant")) != NULL && !cJSON_IsNull(it)) {
		if (grant_from_json(it, &m->grant, err) < 0)
			goto out;
		m->has_grant = 1;
	}
	*out = m;
	m = NULL;
	rc = 0;
out:
	msg_issue_free(m);
	return rc;
}

int
msg_issue_from_json(const cJSON *o, struct issue_msg **out, char *err)
{
	return msg_issue_parse(o, 0, NULL, out, err);
}

int
msg_bulk_from_json(const cJSON *o, const char *const *extra, struct issue_msg **out, char *err)
{
	return msg_issue_parse(o, 1, extra, out, err);
}

/* 1 when some object in o has two members of one name (parsers disagree on which counts). */
static int
msg_has_duplicate_key(const cJSON *o)
{
	const cJSON *a, *b;

	for (a = o != NULL ? o->child : NULL; a != NULL; a = a->next) {
		if (cJSON_IsObject(o))
			for (b = a->next; b != NULL; b = b->next)
				if (strcmp(a->string, b->string) == 0)
					return 1;
		if (msg_has_duplicate_key(a))
			return 1;
	}
	return 0;
}

/* 1 when the text escapes a NUL (\u0000), which a C string would cut short. */
static int
msg_has_nul_escape(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i++) {
		if (p[i] != '\\')
			continue;
		if (p[i + 1] == 'u' && i + 6 <= len && strncmp(p + i + 2, "0000", 4) == 0)
			return 1;
		i++; /* the escaped character */
	}
	return 0;
}

cJSON *
msg_parse(const void *buf, size_t len, char *err)
{
	const char *end = NULL, *p = buf;
	cJSON *o = NULL;

	if (len > MSG_TEXT_MAX) {
		snprintf(err, MSG_ERR_MAX, "message: larger than %d bytes", MSG_TEXT_MAX);
		return NULL;
	}
	if (memchr(p, '\0', len) != NULL || !str_utf8_valid(buf, len)) {
		snprintf(err, MSG_ERR_MAX, "message: not UTF-8 text (a NUL or an invalid byte)");
		return NULL;
	}
	if (msg_has_nul_escape(p, len)) {
		snprintf(err, MSG_ERR_MAX, "message: a string holds \\u0000");
		return NULL;
	}
	if ((o = cJSON_ParseWithLengthOpts(buf, len, &end, 0)) != NULL)
		while (end < p + len && isspace((unsigned char)*end))
			end++;
	if (o == NULL || end != p + len) {
		snprintf(err, MSG_ERR_MAX, "message: not valid JSON near byte %zu",
			 end != NULL ? (size_t)(end - p) : (size_t)0);
		cJSON_Delete(o);
		return NULL;
	}
	if (msg_has_duplicate_key(o)) {
		snprintf(err, MSG_ERR_MAX, "message: an object names one key twice");
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

int
msg_issue_decode(const void *buf, size_t len, struct issue_msg **out, char *err)
{
	cJSON *o = msg_parse(buf, len, err);
	int rc;

	if (o == NULL)
		return -1;
	rc = msg_issue_from_json(o, out, err);
	cJSON_Delete(o);
	return rc;
}

const char *
msg_csr_hash(struct issue_msg *m)
{
	if (m->csr_sha256[0] == '\0')
		msg_csr_sha256(m->csr, m->csr_sha256);
	return m->csr_sha256;
}

void
msg_csr_sha256(const char *csr, char out[65])
{
	hex_sha256(csr, strlen(csr), out);
}

/* Appends "name=LEN:value\n", or "name\n" when value is NULL, to buf at *n (no printf: hot). */
static void
canon_line(char *buf, size_t *n, const char *name, const char *value)
{
	char digits[24];
	size_t nl = strlen(name), vl, d = sizeof(digits);

	memcpy(buf + *n, name, nl);
	*n += nl;
	if (value != NULL) {
		vl = strlen(value);
		do
			digits[--d] = (char)('0' + vl % 10);
		while ((vl /= 10) != 0);
		buf[(*n)++] = '=';
		memcpy(buf + *n, digits + d, sizeof(digits) - d);
		*n += sizeof(digits) - d;
		buf[(*n)++] = ':';
		vl = strlen(value);
		memcpy(buf + *n, value, vl);
		*n += vl;
	}
	buf[(*n)++] = '\n';
}

size_t
msg_canonical(struct issue_msg *m, const char *domain, const char *key_id,
	      char buf[MSG_CANONICAL_MAX])
{
	char vd[24], bs[24], exts[128] = "";
	const char *vals[] = {m->request_id, m->batch_id,  m->purpose,    m->ca_id,
			      m->tenant,     m->requester, m->common_name};
	size_t n, i;
	unsigned bit;

	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
		if (vals[i] != NULL && strlen(vals[i]) >= MSG_NAME_MAX)
			return 0;
	if (strlen(domain) >= MSG_NAME_MAX || (key_id != NULL && strlen(key_id) >= MSG_NAME_MAX))
		return 0;
	for (bit = 1; bit <= EXT_CODE_SIGNING; bit <<= 1)
		if ((m->extensions & bit) && ext_name(bit) != NULL)
			snprintf(exts + strlen(exts), sizeof(exts) - strlen(exts), "%s%s",
				 exts[0] ? "," : "", ext_name(bit));
	snprintf(vd, sizeof(vd), "%d", m->validity_days);
	snprintf(bs, sizeof(bs), "%lld", m->batch_size);
	n = strlen(domain);
	memcpy(buf, domain, n);
	buf[n++] = '\n';
	canon_line(buf, &n, "request_id", m->request_id);
	canon_line(buf, &n, "batch_id", m->batch_id);
	canon_line(buf, &n, "batch_size", m->batch_size != 0 ? bs : NULL);
	canon_line(buf, &n, "csr_sha256", msg_csr_hash(m));
	canon_line(buf, &n, "common_name", m->common_name);
	canon_line(buf, &n, "validity_days", vd);
	canon_line(buf, &n, "ca_id", m->ca_id);
	canon_line(buf, &n, "purpose", m->purpose);
	canon_line(buf, &n, "extensions", exts[0] ? exts : NULL);
	canon_line(buf, &n, "tenant", m->tenant);
	canon_line(buf, &n, "requester", m->requester);
	if (key_id != NULL)
		canon_line(buf, &n, "key_id", key_id);
	return n;
}

/* SHA-256 (hex) of m's canonical grant form into out[65]; -1 when a field is too long. */
static int
grant_request_hash(struct issue_msg *m, char out[65])
{
	char c[MSG_CANONICAL_MAX];
	size_t n;

	if ((n = msg_canonical(m, GRANT_DOMAIN, NULL, c)) == 0)
		return -1;
	return hex_sha256(c, n, out);
}

/* The MAC over the grant's fields into mac[65]; -1 on error. */
static int
grant_mac(const unsigned char *key, size_t keylen, const struct grant *g, char mac[65])
{
	char buf[3 * MSG_ID_MAX + 128];
	int n;

	n = snprintf(buf, sizeof(buf), "%s\n%s\n%s\n%s\n%lld", GRANT_DOMAIN, g->request_id,
		     g->ca_id, g->request_sha256, g->expires_at);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	return secret_hmac_hex(key, keylen, buf, (size_t)n, mac);
}

int
grant_sign(const unsigned char *key, size_t keylen, struct issue_msg *m, long long expires_at)
{
	struct grant t;

	memset(&t, 0, sizeof(t));
	if (m->ca_id == NULL || strlen(m->request_id) >= MSG_ID_MAX ||
	    strlen(m->ca_id) >= MSG_ID_MAX || grant_request_hash(m, t.request_sha256) < 0)
		return -1;
	snprintf(t.request_id, sizeof(t.request_id), "%s", m->request_id);
	snprintf(t.ca_id, sizeof(t.ca_id), "%s", m->ca_id);
	t.expires_at = expires_at;
	if (grant_mac(key, keylen, &t, t.mac) < 0)
		return -1;
	m->grant = t;
	m->has_grant = 1;
	return 0;
}

static void
grant_why(char *why, const char *s)
{
	if (why != NULL)
		snprintf(why, MSG_ERR_MAX, "%s", s);
}

int
grant_verify(const unsigned char *key, size_t keylen, struct issue_msg *m, const char *ca_id,
	     time_t now, char *why)
{
	const struct grant *g = &m->grant;
	char mac[65], h[65];

	if (!m->has_grant) {
		grant_why(why, "grant: missing");
		return 0;
	}
	if (grant_mac(key, keylen, g, mac) < 0 || strlen(g->mac) != 64 ||
	    !secret_equal(mac, g->mac, 64)) {
		grant_why(why, "grant: MAC does not verify");
		return 0;
	}
	if (strcmp(g->request_id, m->request_id) != 0) {
		grant_why(why, "grant: made for another request");
		return 0;
	}
	if (strcmp(g->ca_id, ca_id) != 0) {
		grant_why(why, "grant: made for another CA");
		return 0;
	}
	if (grant_request_hash(m, h) < 0 || strcmp(g->request_sha256, h) != 0) {
		grant_why(why, "grant: made for other request fields (CSR, common name, "
			       "validity, extensions, purpose, CA, tenant, requester or batch "
			       "differ from the approved ones)");
		return 0;
	}
	if ((long long)now >= g->expires_at) {
		grant_why(why, "grant: expired");
		return 0;
	}
	return 1;
}

char *
msg_approval_encode(const struct issue_msg *m, const char *reason, const char *password)
{
	cJSON *o = cJSON_CreateObject(), *req = msg_issue_to_json(m);
	char *s = NULL;

	if (o == NULL || req == NULL) {
		cJSON_Delete(o);
		cJSON_Delete(req);
		return NULL;
	}
	cJSON_AddNumberToObject(o, "v", MSG_VERSION);
	cJSON_AddStringToObject(o, "reason", reason);
	cJSON_AddItemToObject(o, "request", req);
	if (password != NULL)
		cJSON_AddStringToObject(o, "approval_password", password);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

int
msg_approval_decode(const void *buf, size_t len, struct issue_msg **out, char **reason,
		    char **password, char *err)
{
	static const char *const known[] = {"v", "reason", "request", "approval_password", NULL};
	cJSON *o = msg_parse(buf, len, err);
	char e[MSG_ERR_MAX], *r = NULL, *pw = NULL;
	struct issue_msg *m = NULL;
	long long v;
	int rc = -1;

	if (o == NULL)
		return -1;
	if (!cJSON_IsObject(o)) {
		snprintf(err, MSG_ERR_MAX, "message: must be a JSON object");
		goto out;
	}
	if (msg_known_keys(o, "", known, err) < 0 ||
	    msg_int(o, "v", MSG_VERSION, MSG_VERSION, &v, err) < 0 ||
	    msg_str(o, "reason", 1, F_TEXT, &r, err) < 0 ||
	    msg_str(o, "approval_password", 0, F_PASSWORD, &pw, err) < 0)
		goto out;
	if (msg_issue_from_json(cJSON_GetObjectItemCaseSensitive(o, "request"), &m, e) < 0) {
		snprintf(err, MSG_ERR_MAX, "request.%.240s", e);
		goto out;
	}
	*out = m;
	*reason = r;
	*password = pw;
	r = pw = NULL;
	rc = 0;
out:
	free(r);
	if (pw != NULL)
		OPENSSL_cleanse(pw, strlen(pw));
	free(pw);
	cJSON_Delete(o);
	return rc;
}

#define MSG_NUM_MAX 32 /* a long long as text with the JSON around it */

char *
msg_flat(const struct msg_member *m, size_t n)
{
	struct jsonw w = {0};
	char num[MSG_NUM_MAX];
	size_t i, cap = sizeof(num);

	for (i = 0; i < n; i++)
		cap += strlen(m[i].name) + 4 +
		       (m[i].kind == MSG_M_NUM ? sizeof(num)
			: m[i].str != NULL     ? 6 * strlen(m[i].str) + 2
					       : 4 /* null */);
	if ((w.buf = malloc(cap)) == NULL)
		return NULL;
	w.cap = cap;
	snprintf(num, sizeof(num), "{\"v\":%d", MSG_VERSION);
	jsonw_raw(&w, num);
	for (i = 0; i < n; i++) {
		if (m[i].kind == MSG_M_NUM) {
			jsonw_raw(&w, ",\"");
			jsonw_raw(&w, m[i].name);
			snprintf(num, sizeof(num), "\":%lld", m[i].num);
			jsonw_raw(&w, num);
		} else if (m[i].str != NULL || m[i].kind == MSG_M_STR_NULL) {
			jsonw_field(&w, m[i].name, m[i].str);
		}
	}
	jsonw_raw(&w, "}");
	return w.buf; /* cap covers every byte escaped to six: err cannot be set */
}

char *
msg_result_encode(const struct msg_result *r)
{
	const struct msg_member m[] = {
	    MSG_STR("request_id", r->request_id), MSG_STR("status", req_state_name(r->status)),
	    MSG_STR("ca_id", r->ca_id),           MSG_STR("batch_id", r->batch_id),
	    MSG_STR("serial", r->serial),         MSG_STR("certificate", r->certificate),
	    MSG_STR("chain", r->chain),           MSG_STR("code", r->code),
	    MSG_STR("message", r->message),       MSG_NUM("time", (long long)time(NULL)),
	};

	return msg_flat(m, sizeof(m) / sizeof(m[0]));
}

char *
msg_issued_encode(const struct msg_issued *i)
{
	const struct msg_member m[] = {
	    MSG_STR("serial", i->serial),           MSG_STR("ca_id", i->ca_id),
	    MSG_STR("request_id", i->request_id),   MSG_STR("tenant", i->tenant),
	    MSG_STR("requester", i->requester),     MSG_STR("subject", i->subject),
	    MSG_NUM("not_before", i->not_before),   MSG_NUM("not_after", i->not_after),
	    MSG_STR("certificate", i->certificate), MSG_NUM("time", (long long)time(NULL)),
	};

	return msg_flat(m, sizeof(m) / sizeof(m[0]));
}
