/*
 * pkictl bulk submit / bulk sign: bulk requests signed with a producer's
 * bulk key (lib/wire/bulk.h), produced to the submit topic with the producer's
 * Kafka client certificate; results read back through the gateway's batch
 * endpoint with the producer's API key (a bulk principal may not read the
 * results topic).
 *
 * Resuming: request ids are "b" + hex of SHA-256(key_id, batch, NAME) and
 * the default batch id is derived from the whole input (bulkin.c), so the
 * same command on the same input names the same requests. Before producing,
 * submit asks the batch endpoint which ids it already has and sends only the
 * others; a request sent twice is still claimed and signed once by the
 * workers.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bulk.h"
#include "clock.h"
#include "config.h"
#include "extern.h"

/* Exit statuses of pkictl bulk submit (sign uses 0, 1 and 2). */
#define BULK_EXIT_FAILED 1  /* some requests failed: failures.jsonl */
#define BULK_EXIT_USAGE 2   /* bad flags, input, profile or API key */
#define BULK_EXIT_TIMEOUT 3 /* some requests unfinished when --timeout ran out */
#define BULK_EXIT_ERROR 4   /* Kafka, the gateway or the file system failed */

#define BULK_TIMEOUT_DEFAULT 900 /* seconds to wait for every result */
#define BULK_TIMEOUT_MAX (7L * 24 * 3600)
#define BULK_RATE_MAX 1000000   /* messages per second */
#define BULK_POLL_MS 1000       /* between two looks at the batch */
#define BULK_HTTP_TIMEOUT_S 30  /* one gateway request */
#define BULK_HTTP_LIMITED_MAX 120 /* 429 answers waited out (Retry-After) for one request */
#define BULK_HTTP_BODY_MAX (16L * 1024 * 1024)
#define BULK_PAGE_LIMIT 1000    /* batch entries asked for per page */
#define BULK_API_KEY_MAX 512
#define BULK_API_KEY_ENV "PKI_API_KEY"
#define BULK_DEFAULT_TOPIC "pki.submit" /* without a config */
#define BULK_MESSAGE_TIMEOUT_MS "60000" /* librdkafka gives up on a message after this */
#define BULK_LINGER_MS "20"
#define BULK_KAFKA_POLL_MS 100
#define BULK_FLUSH_MS 120000 /* waiting for the last delivery reports */
#define BULK_BAR_WIDTH 30
#define BULK_TTY_REDRAW_MS 100 /* progress bar redraws on a terminal */
#define BULK_LINE_EVERY_MS 5000 /* plain progress lines otherwise */
#define BULK_FAILURES_FILE "failures.jsonl"
#define BULK_FILE_MODE 0644 /* certificates and chains are public */
#define BULK_URL_MAX 2048

/* Everything one run works with. */
struct bulk_run {
	const char *as, *input;
	struct config *cfg; /* NULL when run with --profile and --gateway and no config */
	struct bulk_profile *prof;
	struct bulk_input *in;
	char batch[BULK_BATCH_ID_BUF];
	long long batch_size; /* requests under the batch: those not refused locally */
	const char *topic, *brokers;
	char *gateway; /* base URL, no trailing slash */
	struct bulk_item **by_id; /* items sorted by request id */
};

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- progress: a bar on a terminal, a line every few seconds otherwise ---- */

struct progress {
	int tty;
	const char *what; /* "sending", "waiting" */
	long long last, start;
	int shown; /* a bar is on the screen */
};

static void
progress_start(struct progress *p, const char *what)
{
	p->tty = isatty(STDERR_FILENO);
	p->what = what;
	p->start = clock_ms();
	p->last = 0;
	p->shown = 0;
}

/* Shows done of total (and a note, may be NULL); final: always, and end the bar's line. */
static void
progress_show(struct progress *p, size_t done, size_t total, const char *note, int final)
{
	char bar[BULK_BAR_WIDTH + 1];
	long long t = clock_ms();
	size_t fill = total ? done * BULK_BAR_WIDTH / total : BULK_BAR_WIDTH, i;

	if (!final && t - p->last < (p->tty ? BULK_TTY_REDRAW_MS : BULK_LINE_EVERY_MS))
		return;
	p->last = t;
	if (!p->tty) {
		fprintf(stderr, "pkictl: bulk: %s %zu/%zu%s%s (%.1f s)\n", p->what, done, total,
			note ? ", " : "", note ? note : "", (double)(t - p->start) / 1000);
		return;
	}
	for (i = 0; i < BULK_BAR_WIDTH; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[BULK_BAR_WIDTH] = '\0';
	fprintf(stderr, "\r\033[K%-8s [%s] %zu/%zu%s%s  %.1f s", p->what, bar, done, total,
		note ? "  " : "", note ? note : "", (double)(t - p->start) / 1000);
	p->shown = 1;
	if (final) {
		fputc('\n', stderr);
		p->shown = 0;
	}
}

/* ---- setup shared by submit and sign ---- */

/* The flags both commands take. */
struct bulk_opts {
	const char *as, *ca, *validity, *batch, *profile;
};
#define BULK_COMMON_FLAGS 5

/* Fills f[0..BULK_COMMON_FLAGS) with the shared flags, writing into o. */
static void
bulk_flags_common(struct flag *f, struct bulk_opts *o)
{
	const struct flag common[BULK_COMMON_FLAGS] = {
	    {"--as", "USER", "the bulk producer (its profile is bulk/USER.json)", &o->as, NULL, 1},
	    {"--ca", "ID", "CA for requests whose line names none (default: selection)", &o->ca, NULL,
	     0},
	    {"--validity", "DAYS", "validity for requests whose line names none (default 90)",
	     &o->validity, NULL, 0},
	    {"--batch", "ID", "batch id (default: derived from the key and the input)", &o->batch,
	     NULL, 0},
	    {"--profile", "FILE", "the producer profile (default bulk/USER.json by the config)",
	     &o->profile, NULL, 0},
	};

	memcpy(f, common, sizeof(common));
}

static int
id_cmp(const void *a, const void *b)
{
	return strcmp((*(struct bulk_item *const *)a)->request_id,
		      (*(struct bulk_item *const *)b)->request_id);
}

/* Our item with request id id, or NULL. */
static struct bulk_item *
run_item(const struct bulk_run *r, const char *id)
{
	struct bulk_item key, *kp = &key, **hit;

	if (strlen(id) >= sizeof(key.request_id))
		return NULL;
	snprintf(key.request_id, sizeof(key.request_id), "%s", id);
	hit = bsearch(&kp, r->by_id, r->in->n, sizeof(*r->by_id), id_cmp);
	return hit ? *hit : NULL;
}

static void
run_free(struct bulk_run *r)
{
	config_free(r->cfg);
	bulk_profile_free(r->prof);
	bulkin_free(r->in);
	free(r->gateway);
	free(r->by_id);
}

/*
 * Loads the config (unless it does not exist and --profile, and for submit
 * --gateway, stand in for it), the profile, the input, and names the batch
 * and every request. Returns 0, or an exit status after printing the error.
 */
static int
run_prepare(struct bulk_run *r, const char *config, const struct bulk_opts *o, const char *out,
	    const char *gateway, int submit)
{
	const char *ca = o->ca, *validity = o->validity, *batch = o->batch, *profile = o->profile;
	struct bulk_defaults d = {BULK_VALIDITY_DEFAULT, ca, out};
	char err[CONFIG_ERR_MAX > BULK_ERR_MAX ? CONFIG_ERR_MAX : BULK_ERR_MAX];
	char *path = NULL;
	long v;
	size_t i;
	int rc = BULK_EXIT_USAGE;

	if (check_id("--as", r->as) != 0 || (ca != NULL && check_id("--ca", ca) != 0))
		goto out;
	if (validity != NULL) {
		if (parse_int("--validity", validity, 1, CONFIG_MAX_VALIDITY_DAYS, &v) != 0)
			goto out;
		d.validity_days = (int)v;
	}
	if (batch != NULL && (check_id("--batch", batch) != 0))
		goto out;
	if (gateway != NULL && strncmp(gateway, "http://", 7) != 0 &&
	    strncmp(gateway, "https://", 8) != 0) {
		pk_err("--gateway: must start with http:// or https://, got \"%s\"", gateway);
		goto out;
	}
	/* Without a config file: the profile, and for submit the gateway, must be given. */
	if (profile == NULL || (submit && gateway == NULL) || access(config, F_OK) == 0) {
		if (config_load(config, CONFIG_LOAD_NO_CA, &r->cfg, err) != 0) {
			pk_err("%s", err);
			goto out;
		}
	}
	if (profile == NULL) {
		if (asprintf(&path, "%s/bulk/%s.json", r->cfg->dir, r->as) < 0) {
			path = NULL;
			goto nomem;
		}
		profile = path;
	}
	if (bulk_profile_load(profile, &r->prof, err) != 0) {
		pk_err("%s%s", err,
		       path != NULL && access(path, F_OK) != 0
			   ? " (no bulk key for this user? pkictl user add-bulk-key makes one; "
			     "--profile FILE names another file)"
			   : "");
		goto out;
	}
	if (strcmp(r->prof->user, r->as) != 0) {
		pk_err("%s: \"user\": the profile is user \"%s\"'s, not --as %s", profile,
		       r->prof->user, r->as);
		goto out;
	}
	r->topic = r->cfg != NULL ? r->cfg->topics.submit : BULK_DEFAULT_TOPIC;
	r->brokers = r->prof->bootstrap;
	if (r->brokers == NULL && r->cfg != NULL)
		r->brokers = r->cfg->kafka_brokers;
	if (submit && r->brokers == NULL) {
		pk_err("%s: \"kafka\": \"bootstrap\": required without a config file", profile);
		goto out;
	}
	if (gateway != NULL)
		r->gateway = strndup(gateway, strlen(gateway) - (gateway[strlen(gateway) - 1] == '/'));
	else if (r->cfg != NULL && asprintf(&r->gateway, "http://%s", r->cfg->gateway_listen) < 0)
		r->gateway = NULL;
	if (submit && r->gateway == NULL)
		goto nomem;
	if (bulkin_read(r->input, &d, &r->in, err) != 0) {
		pk_err("%s", err);
		goto out;
	}
	if (batch != NULL)
		snprintf(r->batch, sizeof(r->batch), "%s", batch);
	else
		bulk_batch_default(r->prof->key_id, r->in, r->batch);
	if ((r->by_id = calloc(r->in->n, sizeof(*r->by_id))) == NULL)
		goto nomem;
	for (i = 0; i < r->in->n; i++) {
		bulk_request_id(r->prof->key_id, r->batch, r->in->items[i].name,
				r->in->items[i].request_id);
		r->by_id[i] = &r->in->items[i];
		if (r->in->items[i].state != BULK_ITEM_LOCAL)
			r->batch_size++;
	}
	qsort(r->by_id, r->in->n, sizeof(*r->by_id), id_cmp);
	rc = 0;
	goto out;
nomem:
	pk_err("out of memory");
	rc = BULK_EXIT_ERROR;
out:
	free(path);
	return rc;
}

/* The signed message for it (caller frees), or NULL after printing an error. */
static char *
run_message(const struct bulk_run *r, const struct bulk_item *it)
{
	struct issue_msg m = {0};
	struct bulk_auth a;
	char *s;

	m.request_id = (char *)it->request_id;
	m.csr = it->csr;
	m.common_name = it->common_name;
	m.validity_days = it->validity_days;
	m.ca_id = it->ca_id;
	m.extensions = it->extensions;
	m.purpose = it->purpose;
	m.batch_id = (char *)r->batch;
	m.batch_size = r->batch_size;
	if (bulk_sign(r->prof->secret, r->prof->key_id, &m, &a) != 0 ||
	    (s = bulk_encode(&m, &a)) == NULL) {
		pk_err("%s: signing the request failed (out of memory)", it->name);
		return NULL;
	}
	return s;
}

/* Prints the locally refused items on stderr. Returns how many there were. */
static size_t
run_report_local(const struct bulk_run *r)
{
	size_t i, n = 0;

	for (i = 0; i < r->in->n; i++)
		if (r->in->items[i].state == BULK_ITEM_LOCAL) {
			pk_err("%s: %s: %s (not sent)", r->in->items[i].name,
			       r->in->items[i].code, r->in->items[i].message);
			n++;
		}
	return n;
}

/* ---- pkictl bulk sign ---- */

int
cmd_bulk_sign(const struct command *cmd, int argc, char **argv)
{
	struct bulk_opts o = {0};
	struct flag flags[BULK_COMMON_FLAGS];
	const char *config, *input;
	struct bulk_run r = {0};
	char *msg = NULL;
	size_t i, nlocal;
	int rc;

	bulk_flags_common(flags, &o);
	if ((rc = args_parse_operand(cmd, flags, BULK_COMMON_FLAGS, argc, argv, &config, &input)))
		return rc > 0 ? 0 : BULK_EXIT_USAGE;
	r.as = o.as;
	r.input = input;
	if ((rc = run_prepare(&r, config, &o, NULL, NULL, 0)) != 0)
		goto out;
	nlocal = run_report_local(&r);
	rc = BULK_EXIT_ERROR;
	for (i = 0; i < r.in->n; i++) {
		if (r.in->items[i].state == BULK_ITEM_LOCAL)
			continue;
		if ((msg = run_message(&r, &r.in->items[i])) == NULL)
			goto out;
		/* kcat -P -K '\t' -l FILE: key, a tab, the value (JSON never holds a raw tab). */
		printf("%s\t%s\n", r.in->items[i].request_id, msg);
		free(msg);
		msg = NULL;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		pk_err("writing to stdout failed: %s", strerror(errno));
		goto out;
	}
	pk_err("bulk sign: batch %s: %lld signed message(s) for topic %s as user %s, key %s%s",
	       r.batch, r.batch_size, r.topic, r.prof->user, r.prof->key_id,
	       nlocal ? "; some inputs refused (above)" : "");
	rc = nlocal ? BULK_EXIT_FAILED : 0;
out:
	free(msg);
	run_free(&r);
	return rc;
}

/* ---- the gateway, over libcurl ---- */

struct http {
	CURL *h;
	struct curl_slist *headers;
	char *body;
	size_t len, cap;
	int too_big;
	char err[CURL_ERROR_SIZE];
};

static size_t
http_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct http *c = arg;
	size_t n = size * nmemb;
	char *b;

	if (c->len + n + 1 > (size_t)BULK_HTTP_BODY_MAX) {
		c->too_big = 1;
		return 0;
	}
	if (c->len + n + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 64 * 1024;

		while (cap < c->len + n + 1)
			cap *= 2;
		if ((b = realloc(c->body, cap)) == NULL)
			return 0;
		c->body = b;
		c->cap = cap;
	}
	memcpy(c->body + c->len, ptr, n);
	c->len += n;
	c->body[c->len] = '\0';
	return n;
}

/* A client sending Authorization: Bearer api_key. Returns 0, or -1 after printing an error. */
static int
http_open(struct http *c, const char *api_key)
{
	char *auth = NULL;
	int rc = -1;

	memset(c, 0, sizeof(*c));
	if ((c->h = curl_easy_init()) == NULL || asprintf(&auth, "Authorization: Bearer %s",
							  api_key) < 0) {
		auth = NULL;
		pk_err("out of memory");
		goto out;
	}
	if ((c->headers = curl_slist_append(NULL, auth)) == NULL ||
	    curl_slist_append(c->headers, "Accept: application/json") == NULL)
		goto out;
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, http_write_cb);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->h, CURLOPT_TIMEOUT, (long)BULK_HTTP_TIMEOUT_S);
	curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, c->err);
	curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->h, CURLOPT_PROTOCOLS_STR, "http,https");
	rc = 0;
out:
	if (auth != NULL) {
		OPENSSL_cleanse(auth, strlen(auth));
		free(auth);
	}
	return rc;
}

static void
http_close(struct http *c)
{
	curl_slist_free_all(c->headers); /* holds the key: libcurl copies nothing we must wipe */
	curl_easy_cleanup(c->h);
	free(c->body);
}

/*
 * GET base + path. Returns 0 with the status in *status and the body parsed
 * in *body (NULL when not JSON; caller frees), or -1 after printing an error
 * (no answer).
 */
static int
http_get(struct http *c, const char *base, const char *path, long *status, cJSON **body)
{
	char url[BULK_URL_MAX];
	curl_off_t retry_s = 0;
	CURLcode e;
	int limited;

	snprintf(url, sizeof(url), "%s%s", base, path);
	c->too_big = 0;
	c->err[0] = '\0';
	curl_easy_setopt(c->h, CURLOPT_URL, url);
	/* The gateway's request rate (config limits): wait as told, then ask again. */
	for (limited = 0;; limited++) {
		c->len = 0;
		if ((e = curl_easy_perform(c->h)) != CURLE_OK) {
			pk_err("GET %s: %s", url,
			       c->too_big ? "answer larger than the limit"
					  : (c->err[0] ? c->err : curl_easy_strerror(e)));
			return -1;
		}
		curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, status);
		if (*status != 429 || limited == BULK_HTTP_LIMITED_MAX)
			break;
		curl_easy_getinfo(c->h, CURLINFO_RETRY_AFTER, &retry_s);
		sleep_ms(retry_s > 0 && retry_s < BULK_HTTP_TIMEOUT_S ? (long)retry_s * 1000 : 1000);
	}
	*body = c->len ? cJSON_ParseWithLength(c->body, c->len) : NULL;
	return 0;
}

/* The gateway's error text of body, or a placeholder. */
static const char *
http_error_text(const cJSON *body)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(body, "error");
	const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "message"));

	return m != NULL ? m : "(no error message)";
}

/* ---- results ---- */

/* Terminal states of a request; the others are waited for. */
static int
state_terminal(const char *s)
{
	return strcmp(s, "issued") == 0 || strcmp(s, "failed") == 0 ||
	       strcmp(s, "rejected") == 0 || strcmp(s, "expired") == 0;
}

struct tally {
	size_t issued, failed, pending_approval, unknown;
};

/* Writes text to dir/name atomically (temporary file, rename). 0 or -1 after printing an error. */
static int
file_put(const char *dir, const char *name, const char *suffix, const char *text)
{
	char *path = NULL, *tmp = NULL;
	size_t len = strlen(text);
	int fd = -1, rc = -1;

	if (asprintf(&path, "%s/%s%s", dir, name, suffix) < 0 ||
	    asprintf(&tmp, "%s/.%s%s.tmp", dir, name, suffix) < 0) {
		pk_err("out of memory");
		goto out;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, BULK_FILE_MODE)) < 0 ||
	    write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
		pk_err("%s: cannot write: %s", path, strerror(errno));
		goto out;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		fd = -1;
		pk_err("%s: cannot write: %s", path, strerror(errno));
		goto out;
	}
	fd = -1;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc != 0 && tmp != NULL)
		unlink(tmp);
	free(path);
	free(tmp);
	return rc;
}

/* Records a failure of it (code and message copied). */
static void
item_fail(struct bulk_item *it, const char *code, const char *message, struct tally *t)
{
	snprintf(it->code, sizeof(it->code), "%s", code);
	free(it->message);
	it->message = strdup(message);
	it->state = BULK_ITEM_DONE;
	t->failed++;
}

/*
 * Fetches the finished request it (state: the batch's word for it) and
 * writes its files or records its failure. Returns 0, 1 when it should be
 * tried again later (the gateway did not answer well), -1 when writing a file
 * failed.
 */
static int
item_collect(const struct bulk_run *r, struct http *c, struct bulk_item *it, const char *state,
	     struct tally *t)
{
	char path[128];
	cJSON *body = NULL;
	const cJSON *e;
	const char *cert, *chain, *code, *msg, *st;
	long status = 0;
	int rc = 1;

	snprintf(path, sizeof(path), "/csr/requests/%s", it->request_id);
	if (http_get(c, r->gateway, path, &status, &body) != 0)
		goto out;
	if (status != 200 || body == NULL) {
		pk_err("GET %s: HTTP %ld: %s", path, status, http_error_text(body));
		goto out;
	}
	st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "status"));
	if (st == NULL || !state_terminal(st))
		goto out; /* the batch ran ahead of the record: next round */
	if (strcmp(st, "issued") == 0) {
		cert = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "certificate"));
		chain = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "chain"));
		if (cert == NULL) {
			pk_err("GET %s: issued without a certificate", path);
			goto out;
		}
		rc = -1;
		if (file_put(it->out_dir, it->name, ".crt", cert) != 0 ||
		    (chain != NULL && file_put(it->out_dir, it->name, ".chain.pem", chain) != 0))
			goto out;
		it->state = BULK_ITEM_DONE;
		t->issued++;
	} else {
		e = cJSON_GetObjectItemCaseSensitive(body, "error");
		code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "code"));
		msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "message"));
		item_fail(it, code ? code : st, msg ? msg : state, t);
	}
	rc = 0;
out:
	cJSON_Delete(body);
	return rc;
}

/*
 * Calls fn for every (request id, state) of the batch, page by page.
 * Returns 0 (a batch the gateway does not know has no entries), or -1
 * after printing an error. *known counts the entries seen.
 */
typedef int (*batch_entry_fn)(const struct bulk_run *r, struct http *c, const char *id,
			      const char *state, void *arg);

static int
batch_walk(const struct bulk_run *r, struct http *c, batch_entry_fn fn, void *arg, size_t *known)
{
	char path[BULK_URL_MAX], cursor[256] = "";
	const cJSON *list, *e, *next;
	const char *id, *st;
	cJSON *body = NULL;
	long status;
	int rc = -1;

	*known = 0;
	for (;;) {
		snprintf(path, sizeof(path), "/csr/batches/%s?limit=%d%s%s", r->batch,
			 BULK_PAGE_LIMIT, cursor[0] ? "&cursor=" : "", cursor);
		cJSON_Delete(body);
		body = NULL;
		if (http_get(c, r->gateway, path, &status, &body) != 0)
			goto out;
		if (status == 404 && *known == 0)
			break;
		if (status != 200 || body == NULL) {
			pk_err("GET %s%s: HTTP %ld: %s%s", r->gateway, path, status,
			       http_error_text(body),
			       status == 401 ? " (check --api-key-file or $" BULK_API_KEY_ENV ")"
					     : "");
			goto out;
		}
		list = cJSON_GetObjectItemCaseSensitive(body, "requests");
		cJSON_ArrayForEach(e, list)
		{
			id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "request_id"));
			st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "state"));
			if (id == NULL || st == NULL)
				continue;
			(*known)++;
			if (fn(r, c, id, st, arg) < 0)
				goto out;
		}
		next = cJSON_GetObjectItemCaseSensitive(body, "next_cursor");
		if (!cJSON_IsString(next) || next->valuestring[0] == '\0' ||
		    strlen(next->valuestring) >= sizeof(cursor) || cJSON_GetArraySize(list) == 0)
			break;
		snprintf(cursor, sizeof(cursor), "%s", next->valuestring);
	}
	rc = 0;
out:
	cJSON_Delete(body);
	return rc;
}

/* batch_walk callback before producing: marks our requests the gateway already has. */
static int
known_mark(const struct bulk_run *r, struct http *c, const char *id, const char *state, void *arg)
{
	struct bulk_item *it = run_item(r, id);
	size_t *n = arg;

	if (it != NULL && it->state == BULK_ITEM_NEW) {
		it->state = BULK_ITEM_SENT;
		(*n)++;
	}
	return 0;
}

/* batch_walk callback while waiting: collects what finished. */
static int
done_collect(const struct bulk_run *r, struct http *c, const char *id, const char *state,
	     void *arg)
{
	struct bulk_item *it = run_item(r, id);
	struct tally *t = arg;

	if (it == NULL || it->state != BULK_ITEM_SENT)
		return 0;
	if (strcmp(state, "pending_approval") == 0)
		t->pending_approval++;
	if (!state_terminal(state))
		return 0;
	return item_collect(r, c, it, state, t) < 0 ? -1 : 0;
}

/*
 * Writes failures.jsonl into the output folder (one object per failure:
 * name, request_id, code, message), or removes an old one when nothing
 * failed. 0 or -1 after printing an error.
 */
static int
failures_write(const struct bulk_run *r)
{
	cJSON *o = NULL;
	char *line = NULL, *path = NULL, *text = NULL, *p;
	size_t i, len = 0;
	FILE *f = NULL;
	int rc = -1;

	if ((f = open_memstream(&text, &len)) == NULL)
		goto nomem;
	for (i = 0; i < r->in->n; i++) {
		const struct bulk_item *it = &r->in->items[i];

		if (it->code[0] == '\0')
			continue;
		if ((o = cJSON_CreateObject()) == NULL ||
		    cJSON_AddStringToObject(o, "name", it->name) == NULL ||
		    cJSON_AddStringToObject(o, "request_id", it->request_id) == NULL ||
		    cJSON_AddStringToObject(o, "code", it->code) == NULL ||
		    cJSON_AddStringToObject(o, "message", it->message ? it->message : "") == NULL ||
		    (line = cJSON_PrintUnformatted(o)) == NULL)
			goto nomem;
		fprintf(f, "%s\n", line);
		free(line);
		line = NULL;
		cJSON_Delete(o);
		o = NULL;
	}
	if (fclose(f) != 0) {
		f = NULL;
		goto nomem;
	}
	f = NULL;
	if (len == 0) {
		if (asprintf(&path, "%s/%s", r->in->out_dir, BULK_FAILURES_FILE) < 0) {
			path = NULL;
			goto nomem;
		}
		if (unlink(path) != 0 && errno != ENOENT) {
			pk_err("%s: cannot remove the old list: %s", path, strerror(errno));
			goto out;
		}
		rc = 0;
		goto out;
	}
	p = strrchr(BULK_FAILURES_FILE, '.');
	if ((path = strndup(BULK_FAILURES_FILE, (size_t)(p - BULK_FAILURES_FILE))) == NULL)
		goto nomem;
	rc = file_put(r->in->out_dir, path, p, text);
	goto out;
nomem:
	pk_err("out of memory");
out:
	if (f != NULL)
		fclose(f);
	cJSON_Delete(o);
	free(line);
	free(path);
	free(text);
	return rc;
}

/* ---- producing ---- */

struct produce_state {
	size_t delivered, failed;
	char first_error[256];
	int fatal;
};

static void
produce_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct produce_state *ps = opaque;
	struct bulk_item *it = m->_private;

	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		it->delivered = 1;
		ps->delivered++;
		return;
	}
	if (ps->failed++ == 0)
		snprintf(ps->first_error, sizeof(ps->first_error), "%s", rd_kafka_err2str(m->err));
}

static void
produce_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct produce_state *ps = opaque;

	/* Refused certificates and authorization are not going to heal by waiting. */
	if (err == RD_KAFKA_RESP_ERR__FATAL || err == RD_KAFKA_RESP_ERR__AUTHENTICATION ||
	    err == RD_KAFKA_RESP_ERR__SSL) {
		ps->fatal = 1;
		if (ps->first_error[0] == '\0')
			snprintf(ps->first_error, sizeof(ps->first_error), "%s", reason);
	}
}

static void
produce_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	(void)level;
	(void)fac;
	(void)buf; /* errors arrive through produce_error_cb; the rest is noise here */
}

/* An idempotent producer for r with the profile's TLS files. NULL after printing an error. */
static rd_kafka_t *
producer_new(const struct bulk_run *r, struct produce_state *ps)
{
	char e[512], client[PKICTL_ID_MAX + 16];
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	const struct bulk_profile *p = r->prof;
	/*
	 * A profile names its client files before the broker needs them; while
	 * they do not exist (a broker still in plaintext) say so and connect plain.
	 */
	int tls = p->cert != NULL && access(p->cert, F_OK) == 0;
	const char *kv[][2] = {
	    {"bootstrap.servers", r->brokers},
	    {"client.id", client},
	    {"enable.idempotence", "true"},
	    {"acks", "all"},
	    {"linger.ms", BULK_LINGER_MS},
	    {"message.timeout.ms", BULK_MESSAGE_TIMEOUT_MS},
	    {"security.protocol", tls ? "ssl" : "plaintext"},
	    {"ssl.ca.location", tls ? p->ca : NULL},
	    {"ssl.certificate.location", tls ? p->cert : NULL},
	    {"ssl.key.location", tls ? p->key : NULL},
	};
	size_t i;

	if (p->cert != NULL && !tls)
		pk_err("note: %s does not exist; connecting to Kafka without TLS", p->cert);
	snprintf(client, sizeof(client), "pkictl-bulk-%s", r->as);
	conf = rd_kafka_conf_new();
	for (i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
		if (kv[i][1] == NULL)
			continue;
		if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], e, sizeof(e)) != RD_KAFKA_CONF_OK) {
			pk_err("Kafka: %s=%s: %s", kv[i][0], kv[i][1], e);
			rd_kafka_conf_destroy(conf);
			return NULL;
		}
	}
	rd_kafka_conf_set_opaque(conf, ps);
	rd_kafka_conf_set_dr_msg_cb(conf, produce_dr_cb);
	rd_kafka_conf_set_error_cb(conf, produce_error_cb);
	rd_kafka_conf_set_log_cb(conf, produce_log_cb);
	if ((rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e))) == NULL) {
		pk_err("Kafka: cannot create the producer: %s", e);
		rd_kafka_conf_destroy(conf);
	}
	return rk;
}

/*
 * Produces every item still BULK_ITEM_NEW (at most rate a second, 0: no
 * limit) and waits for their delivery reports. Returns 0 when all were
 * acknowledged, or an exit status after printing the error.
 */
static int
run_produce(struct bulk_run *r, size_t total, long rate)
{
	struct produce_state ps = {0};
	struct progress pg;
	rd_kafka_t *rk = NULL;
	rd_kafka_resp_err_t e;
	char *msg = NULL;
	size_t i, sent = 0;
	long long t0, deadline;
	int rc = BULK_EXIT_ERROR;

	if ((rk = producer_new(r, &ps)) == NULL)
		goto out;
	progress_start(&pg, "sending");
	t0 = clock_ms();
	for (i = 0; i < r->in->n && !ps.fatal && ps.failed == 0; i++) {
		struct bulk_item *it = &r->in->items[i];

		if (it->state != BULK_ITEM_NEW)
			continue;
		if ((msg = run_message(r, it)) == NULL)
			goto out;
		while (rate > 0 && (long long)sent * 1000 > (clock_ms() - t0) * rate)
			rd_kafka_poll(rk, 1);
		for (;;) {
			e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(r->topic),
					      RD_KAFKA_V_KEY(it->request_id, strlen(it->request_id)),
					      RD_KAFKA_V_VALUE(msg, strlen(msg)),
					      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
					      RD_KAFKA_V_OPAQUE(it), RD_KAFKA_V_END);
			if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
				break;
			rd_kafka_poll(rk, BULK_KAFKA_POLL_MS);
		}
		if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
			pk_err("Kafka: %s: cannot queue %s: %s", r->topic, it->name,
			       rd_kafka_err2str(e));
			goto out;
		}
		msg = NULL; /* librdkafka frees it */
		it->state = BULK_ITEM_SENT;
		sent++;
		rd_kafka_poll(rk, 0);
		progress_show(&pg, ps.delivered, total, NULL, 0);
	}
	deadline = clock_ms() + BULK_FLUSH_MS;
	while (rd_kafka_outq_len(rk) > 0 && !ps.fatal && clock_ms() < deadline) {
		rd_kafka_poll(rk, BULK_KAFKA_POLL_MS);
		progress_show(&pg, ps.delivered, total, NULL, 0);
	}
	progress_show(&pg, ps.delivered, total, NULL, 1);
	if (ps.fatal || ps.failed > 0 || ps.delivered < sent) {
		pk_err("Kafka %s, topic %s: %zu of %zu message(s) not acknowledged: %s", r->brokers,
		       r->topic, total - ps.delivered, total,
		       ps.first_error[0] ? ps.first_error : "no delivery report in time");
		goto out;
	}
	rc = 0;
out:
	free(msg);
	if (rk != NULL) {
		rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		rd_kafka_poll(rk, 0);
		rd_kafka_destroy(rk);
	}
	return rc;
}

/* ---- pkictl bulk submit ---- */

/* The API key from file (first line) or the environment into key. 0 or -1 after an error. */
static int
api_key_read(const char *file, char key[BULK_API_KEY_MAX])
{
	const char *env = getenv(BULK_API_KEY_ENV);
	char *line = NULL;
	size_t i;
	int fd, rc = -1;

	if (file != NULL) {
		if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0) {
			pk_err("--api-key-file: %s: %s", file, strerror(errno));
			return -1;
		}
		rc = read_secret_line(fd, "--api-key-file", &line);
		close(fd);
		if (rc != 0)
			return -1;
		rc = -1;
	} else if (env != NULL && env[0] != '\0') {
		if ((line = strdup(env)) == NULL)
			return -1;
	} else {
		pk_err("an API key is needed to read the results: --api-key-file FILE or $%s",
		       BULK_API_KEY_ENV);
		return -1;
	}
	for (i = 0; line[i] > ' ' && line[i] < 0x7f; i++)
		;
	if (i == 0 || line[i] != '\0' || i >= BULK_API_KEY_MAX) {
		pk_err("%s: the API key must be 1..%d printable characters without spaces",
		       file ? file : "$" BULK_API_KEY_ENV, BULK_API_KEY_MAX - 1);
		goto out;
	}
	memcpy(key, line, i + 1);
	rc = 0;
out:
	OPENSSL_cleanse(line, strlen(line));
	free(line);
	return rc;
}

/*
 * Waits until every sent request is finished or timeout_s pass, collecting
 * results as they come. Returns 0, or -1 when the gateway or a file failed.
 */
static int
run_wait(struct bulk_run *r, struct http *c, size_t total, long timeout_s, struct tally *t)
{
	struct progress pg;
	struct tally round;
	char note[128];
	long long deadline = clock_ms() + timeout_s * 1000;
	size_t known, done;

	progress_start(&pg, "waiting");
	for (;;) {
		round = *t;
		round.pending_approval = 0;
		if (batch_walk(r, c, done_collect, &round, &known) != 0)
			return -1;
		*t = round;
		done = t->issued + t->failed;
		t->unknown = total > known ? total - known : 0;
		snprintf(note, sizeof(note), "issued %zu, failed %zu%s", t->issued, t->failed,
			 t->pending_approval ? ", some pending approval" : "");
		progress_show(&pg, done, total, note, done == total || clock_ms() >= deadline);
		if (done == total || clock_ms() >= deadline)
			return 0;
		sleep_ms(BULK_POLL_MS);
	}
}

int
cmd_bulk_submit(const struct command *cmd, int argc, char **argv)
{
	const char *gateway = NULL, *key_file = NULL, *out_dir = NULL, *timeout = NULL;
	const char *rate = NULL, *config, *input;
	struct bulk_opts o = {0};
	const struct flag more[] = {
	    {"--gateway", "URL", "the gateway (default http:// + the config's listen.gateway)",
	     &gateway, NULL, 0},
	    {"--api-key-file", "FILE", "the user's API key (default $" BULK_API_KEY_ENV ")",
	     &key_file, NULL, 0},
	    {"--out", "DIR", "jsonl input: where NAME.crt etc. go (default: the file's folder)",
	     &out_dir, NULL, 0},
	    {"--timeout", "SECONDS", "how long to wait for the results (default 900)", &timeout,
	     NULL, 0},
	    {"--rate", "N", "send at most N messages a second (default: no limit)", &rate, NULL,
	     0},
	};
	struct flag flags[BULK_COMMON_FLAGS + sizeof(more) / sizeof(more[0])];
	struct bulk_run r = {0};
	struct http c = {0};
	struct tally t = {0};
	struct stat st;
	char key[BULK_API_KEY_MAX] = "";
	long timeout_s = BULK_TIMEOUT_DEFAULT, rate_n = 0;
	size_t nlocal, known = 0, listed, tosend, total;
	long long t0 = clock_ms();
	int rc, http_ok = 0;

	bulk_flags_common(flags, &o);
	memcpy(flags + BULK_COMMON_FLAGS, more, sizeof(more));
	if ((rc = args_parse_operand(cmd, flags, sizeof(flags) / sizeof(flags[0]), argc, argv,
				     &config, &input)))
		return rc > 0 ? 0 : BULK_EXIT_USAGE;
	r.as = o.as;
	r.input = input;
	rc = BULK_EXIT_USAGE;
	if ((timeout != NULL &&
	     parse_int("--timeout", timeout, 1, BULK_TIMEOUT_MAX, &timeout_s) != 0) ||
	    (rate != NULL && parse_int("--rate", rate, 1, BULK_RATE_MAX, &rate_n) != 0))
		goto out;
	if (out_dir != NULL && (stat(out_dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
		pk_err("--out: %s: must be an existing folder", out_dir);
		goto out;
	}
	if (api_key_read(key_file, key) != 0)
		goto out;
	if ((rc = run_prepare(&r, config, &o, out_dir, gateway, 1)) != 0)
		goto out;
	if (r.in->is_dir && out_dir != NULL) {
		pk_err("--out: only for jsonl input; a folder's certificates go beside its CSRs");
		rc = BULK_EXIT_USAGE;
		goto out;
	}
	rc = BULK_EXIT_ERROR;
	nlocal = run_report_local(&r);
	total = r.in->n - nlocal;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || http_open(&c, key) != 0)
		goto out;
	http_ok = 1;
	if (total > 0 && batch_walk(&r, &c, known_mark, &known, &listed) != 0)
		goto out;
	tosend = total - known;
	pk_err("bulk submit: batch %s: %zu request(s)%s, %zu already with the gateway, sending %zu "
	       "to %s as %s (key %s)",
	       r.batch, total, nlocal ? " (and some refused above)" : "", known, tosend, r.topic,
	       r.as, r.prof->key_id);
	if (tosend > 0 && (rc = run_produce(&r, tosend, rate_n)) != 0)
		goto out;
	rc = BULK_EXIT_ERROR;
	if (total > 0 && run_wait(&r, &c, total, timeout_s, &t) != 0)
		goto out;
	if (failures_write(&r) != 0)
		goto out;
	pk_err("bulk submit: batch %s: %zu issued, %zu failed%s, %zu unfinished in %.1f s%s%s%s",
	       r.batch, t.issued, t.failed + nlocal, t.failed + nlocal ? " (" BULK_FAILURES_FILE ")" : "",
	       total - t.issued - t.failed, (double)(clock_ms() - t0) / 1000,
	       r.in->is_dir ? "" : "; files in ", r.in->is_dir ? "" : r.in->out_dir,
	       t.pending_approval ? "; some wait for an admin's approval" : "");
	if (t.unknown > 0 && t.issued + t.failed < total)
		pk_err("bulk submit: %zu request(s) unknown to the gateway: a message whose key or "
		       "signature the workers refuse leaves no record (see the audit); run again to "
		       "resend",
		       t.unknown);
	if (t.issued + t.failed < total)
		rc = BULK_EXIT_TIMEOUT;
	else if (t.failed + nlocal > 0)
		rc = BULK_EXIT_FAILED;
	else
		rc = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	if (http_ok)
		http_close(&c);
	run_free(&r);
	return rc;
}
