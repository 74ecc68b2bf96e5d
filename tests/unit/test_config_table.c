/*
 * The configuration table (config_keys_walk) against the two other places
 * that state it: schemas/config.schema.json (every key, enum, minimum and
 * maximum) and docs/config.md (its key tables and environment overrides).
 * A key added, renamed or re-bounded in one place and not the others fails
 * here.
 */
#include <cJSON.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "test.h"

#define KEYS_MAX 256
#define PATH_MAX_ 256
#define FILE_MAX (1024 * 1024)
#define DOC_ROWS_MAX 256
#define LINE_MAX_ 2048

/* The table, copied out of config_keys_walk; seen_* mark what the schema confirmed. */
struct row {
	struct config_key_info info;
	char path[PATH_MAX_];
	int in_schema, seen_min, seen_max, seen_enum;
};

static struct row rows[KEYS_MAX];
static size_t nrows;

static void
collect(const struct config_key_info *info, void *arg)
{
	struct row *r;

	if (nrows == KEYS_MAX)
		test_fail(__FILE__, __LINE__, "more than %d keys", KEYS_MAX);
	r = &rows[nrows++];
	memset(r, 0, sizeof(*r));
	r->info = *info;
	snprintf(r->path, sizeof(r->path), "%s", info->path);
	r->info.path = r->path;
}

static void
table_load(void)
{
	nrows = 0;
	config_keys_walk(collect, NULL);
	CHECK(nrows > 0);
}

static struct row *
row_find(const char *path)
{
	size_t i;

	for (i = 0; i < nrows; i++)
		if (strcmp(rows[i].path, path) == 0)
			return &rows[i];
	return NULL;
}

/* The whole file under tests/../rel, NUL-terminated; caller frees. */
static char *
slurp(const char *rel)
{
	char path[PATH_MAX_];
	char *buf;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/../%s", test_data_dir(), rel);
	if ((f = fopen(path, "rb")) == NULL)
		test_fail(__FILE__, __LINE__, "cannot read %s", path);
	buf = malloc(FILE_MAX + 1);
	CHECK(buf != NULL);
	n = fread(buf, 1, FILE_MAX, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* Follows "$ref": "#/$defs/NAME" (chains included). */
static const cJSON *
schema_resolve(const cJSON *root, const cJSON *node)
{
	const cJSON *ref = cJSON_GetObjectItemCaseSensitive(node, "$ref");
	const char *prefix = "#/$defs/";

	while (cJSON_IsString(ref) && strncmp(ref->valuestring, prefix, strlen(prefix)) == 0) {
		node = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(root, "$defs"),
		    ref->valuestring + strlen(prefix));
		if (node == NULL)
			test_fail(__FILE__, __LINE__, "unresolved %s", ref->valuestring);
		ref = cJSON_GetObjectItemCaseSensitive(node, "$ref");
	}
	return node;
}

/* The enum, minimum and maximum written on node must be those of the table row r. */
static void
schema_bounds(const cJSON *node, struct row *r)
{
	const cJSON *min = cJSON_GetObjectItemCaseSensitive(node, "minimum");
	const cJSON *max = cJSON_GetObjectItemCaseSensitive(node, "maximum");
	const cJSON *en = cJSON_GetObjectItemCaseSensitive(node, "enum"), *it;
	size_t i = 0;

	if (min != NULL) {
		if (!r->info.has_bounds || (long long)min->valuedouble != r->info.min)
			test_fail(__FILE__, __LINE__, "%s: schema minimum %g, table %lld", r->path,
				  min->valuedouble, r->info.min);
		r->seen_min = 1;
	}
	if (max != NULL) {
		if (!r->info.has_bounds || (long long)max->valuedouble != r->info.max)
			test_fail(__FILE__, __LINE__, "%s: schema maximum %g, table %lld", r->path,
				  max->valuedouble, r->info.max);
		r->seen_max = 1;
	}
	if (en == NULL)
		return;
	cJSON_ArrayForEach(it, en)
	{
		int same =
		    i < r->info.nnames &&
		    (r->info.numeric_names
			 ? cJSON_IsNumber(it) && it->valuedouble == strtod(r->info.names[i], NULL)
			 : cJSON_IsString(it) && strcmp(it->valuestring, r->info.names[i]) == 0);

		if (!same)
			test_fail(__FILE__, __LINE__,
				  "%s: schema enum item %zu differs from the table", r->path, i);
		i++;
	}
	if (i != r->info.nnames)
		test_fail(__FILE__, __LINE__, "%s: schema enum has %zu names, table %zu", r->path,
			  i, r->info.nnames);
	r->seen_enum = 1;
}

/* Walks the schema object node at path: each property a table key, with the same bounds. */
static void
schema_walk(const cJSON *root, const cJSON *node, const char *path)
{
	const cJSON *props, *p, *items, *res;
	char kp[PATH_MAX_], ip[PATH_MAX_ + 2];
	struct row *r;

	node = schema_resolve(root, node);
	props = cJSON_GetObjectItemCaseSensitive(node, "properties");
	cJSON_ArrayForEach(p, props)
	{
		snprintf(kp, sizeof(kp), "%s%s%s", path, path[0] ? "." : "", p->string);
		if ((r = row_find(kp)) == NULL)
			test_fail(__FILE__, __LINE__, "schema key %s is not in the table", kp);
		r->in_schema = 1;
		res = schema_resolve(root, p);
		schema_bounds(p, r);
		if (res != p)
			schema_bounds(res, r);
		items = schema_resolve(root, cJSON_GetObjectItemCaseSensitive(res, "items"));
		if (items != NULL &&
		    cJSON_GetObjectItemCaseSensitive(items, "properties") != NULL) {
			snprintf(ip, sizeof(ip), "%s[]", kp);
			schema_walk(root, items, ip);
		} else if (items != NULL) {
			schema_bounds(items, r);
		}
		if (cJSON_GetObjectItemCaseSensitive(res, "properties") != NULL)
			schema_walk(root, res, kp);
	}
}

TEST(config_table_matches_schema)
{
	char *text = slurp("schemas/config.schema.json");
	cJSON *root = cJSON_Parse(text);
	size_t i;

	CHECK(root != NULL);
	table_load();
	schema_walk(root, root, "");
	for (i = 0; i < nrows; i++) {
		struct row *r = &rows[i];

		if (!r->in_schema)
			test_fail(__FILE__, __LINE__, "table key %s is not in the schema", r->path);
		if (r->info.has_bounds && (!r->seen_min || !r->seen_max))
			test_fail(__FILE__, __LINE__, "%s: schema lacks minimum or maximum",
				  r->path);
		if (r->info.nnames > 0 && !r->seen_enum)
			test_fail(__FILE__, __LINE__, "%s: schema lacks the enum", r->path);
	}
	cJSON_Delete(root);
	free(text);
}

/* One row of a key table in docs/config.md: its key pattern and the rest of the row. */
struct doc_row {
	char pattern[PATH_MAX_];
	char text[LINE_MAX_];
	int used;
};

static struct doc_row docs[DOC_ROWS_MAX];
static size_t ndocs;

static void
doc_add(const char *prefix, const char *key, const char *text)
{
	struct doc_row *d;

	if (ndocs == DOC_ROWS_MAX)
		test_fail(__FILE__, __LINE__, "more than %d doc rows", DOC_ROWS_MAX);
	d = &docs[ndocs++];
	snprintf(d->pattern, sizeof(d->pattern), "%s%s%s", prefix, prefix[0] ? "." : "", key);
	snprintf(d->text, sizeof(d->text), "%s", text);
	d->used = 0;
}

/*
 * A heading sets the prefix of the tables under it: "(`cas[i]`)" gives
 * "cas[]", "### `selection`" appends to the section's prefix.
 */
static void
doc_heading(const char *line, char *section, char *prefix)
{
	const char *open = strstr(line, "(`"), *close;

	if (strncmp(line, "## ", 3) == 0) {
		section[0] = '\0';
		if (open != NULL && (close = strstr(open, "[i]`)")) != NULL)
			snprintf(section, PATH_MAX_, "%.*s[]", (int)(close - open - 2), open + 2);
		snprintf(prefix, PATH_MAX_, "%s", section);
	} else if (strncmp(line, "### `", 5) == 0 && (close = strchr(line + 5, '`')) != NULL) {
		size_t n = strlen(section);

		/* Both halves are far below PATH_MAX_: headings are short. */
		if (n + 1 + (size_t)(close - line - 5) >= PATH_MAX_)
			test_fail(__FILE__, __LINE__, "heading too long: %s", line);
		memcpy(prefix, section, n);
		prefix[n] = '.';
		memcpy(prefix + n + 1, line + 5, (size_t)(close - line - 5));
		prefix[n + 1 + (close - line - 5)] = '\0';
	}
}

/* "| `a`, `.b` | ..." : the keys of a row ("`.b`" repeats a's parent). */
static void
doc_row_keys(const char *line, const char *prefix)
{
	char key[PATH_MAX_], first[PATH_MAX_] = "";
	const char *p = line + 2, *end = strchr(line + 2, '|'), *q;

	while (p < end && (p = strchr(p, '`')) != NULL && p < end) {
		if ((q = strchr(p + 1, '`')) == NULL)
			break;
		snprintf(key, sizeof(key), "%.*s", (int)(q - p - 1), p + 1);
		if (key[0] == '.' && first[0] != '\0') {
			char full[PATH_MAX_ * 2];

			snprintf(full, sizeof(full), "%.*s%s", (int)(strrchr(first, '.') - first),
				 first, key);
			doc_add(prefix, full, end);
		} else {
			snprintf(first, sizeof(first), "%s", key);
			doc_add(prefix, key, end);
		}
		p = q + 1;
	}
}

/* "| `PKI_X` | `a.b` |": the environment table. */
static void
doc_env(const char *line)
{
	char var[PATH_MAX_], key[PATH_MAX_];
	size_t i;

	if (sscanf(line, "| `%255[A-Z_]` | `%255[^`]` |", var, key) != 2)
		return;
	for (i = 0; i < nrows; i++)
		if (rows[i].info.env != NULL && strcmp(rows[i].info.env, var) == 0)
			break;
	if (i == nrows || strcmp(rows[i].path, key) != 0)
		test_fail(__FILE__, __LINE__, "docs: %s overrides %s, not a table key with it", var,
			  key);
	rows[i].seen_enum |= 2;
}

static int
doc_documents(const struct row *r)
{
	char parent[PATH_MAX_], word[PATH_MAX_ + 4];
	const char *name = strrchr(r->path, '.');
	size_t i;
	int found = 0;

	for (i = 0; i < ndocs; i++)
		if (fnmatch(docs[i].pattern, r->path, 0) == 0)
			found = docs[i].used = 1;
	if (found || name == NULL)
		return found;
	/* Keys of small objects are named in their parent's row: "keys `cert` and `key`". */
	snprintf(parent, sizeof(parent), "%.*s", (int)(name - r->path), r->path);
	if (strlen(parent) > 2 && strcmp(parent + strlen(parent) - 2, "[]") == 0)
		parent[strlen(parent) - 2] = '\0';
	for (i = 0; i < ndocs; i++) {
		if (fnmatch(docs[i].pattern, parent, 0) != 0)
			continue;
		snprintf(word, sizeof(word), "`%s`", name + 1);
		if (strstr(docs[i].text, word) != NULL)
			return 1;
		snprintf(word, sizeof(word), "{%s,", name + 1);
		if (strstr(docs[i].text, word) != NULL)
			return 1;
		snprintf(word, sizeof(word), " %s}", name + 1);
		if (strstr(docs[i].text, word) != NULL)
			return 1;
	}
	return 0;
}

TEST(config_table_matches_docs)
{
	char *text = slurp("docs/config.md"), *line, *save = NULL;
	char section[PATH_MAX_] = "", prefix[PATH_MAX_] = "";
	int env = 0;
	size_t i;

	table_load();
	ndocs = 0;
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#') {
			env = strstr(line, "Environment overrides") != NULL;
			doc_heading(line, section, prefix);
		} else if (env) {
			doc_env(line);
		} else if (strncmp(line, "| `", 3) == 0) {
			doc_row_keys(line, prefix);
		}
	}
	for (i = 0; i < nrows; i++) {
		if (!doc_documents(&rows[i]))
			test_fail(__FILE__, __LINE__, "table key %s is not in docs/config.md",
				  rows[i].path);
		if (rows[i].info.env != NULL && !(rows[i].seen_enum & 2))
			test_fail(__FILE__, __LINE__, "docs: no environment row for %s",
				  rows[i].info.env);
	}
	for (i = 0; i < ndocs; i++)
		if (!docs[i].used)
			test_fail(__FILE__, __LINE__, "docs/config.md key %s is not in the table",
				  docs[i].pattern);
	free(text);
}
