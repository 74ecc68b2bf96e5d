/*
 * The JSON config file as pkictl edits it: read whole, change in memory,
 * write to a temporary file beside it, validate that file with config_load and
 * rename it into place. A failed change leaves the old file and no new files.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "extern.h"

#define CFGFILE_MAX_BYTES (16 * 1024 * 1024)
#define CFGFILE_NEW_MODE 0600 /* holds hashes of API keys and approval passwords */
#define CFGFILE_TRACK_MAX 32 /* init: grant key, infrastructure CA, service certificates, Redis passwords */

static int
cfgfile_alloc(const char *path, struct cfgfile **out)
{
	struct cfgfile *cf;
	const char *slash = strrchr(path, '/');

	if ((cf = calloc(1, sizeof(*cf))) == NULL)
		return -1;
	cf->path = strdup(path);
	if (slash == NULL)
		cf->dir = strdup(".");
	else if (slash == path)
		cf->dir = strdup("/");
	else
		cf->dir = strndup(path, (size_t)(slash - path));
	cf->created = calloc(CFGFILE_TRACK_MAX, sizeof(char *));
	cf->mode = CFGFILE_NEW_MODE;
	if (cf->path == NULL || cf->dir == NULL || cf->created == NULL) {
		cfgfile_free(cf);
		return -1;
	}
	*out = cf;
	return 0;
}

int
cfgfile_open(const char *path, struct cfgfile **out)
{
	struct cfgfile *cf = NULL;
	struct stat st;
	char *buf = NULL;
	FILE *f = NULL;
	size_t n;
	int rc = -1;

	if ((f = fopen(path, "r")) == NULL) {
		pk_err("%s: cannot open: %s%s", path, strerror(errno),
		       errno == ENOENT ? " (create it with 'pkictl init --config PATH')" : "");
		goto out;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > CFGFILE_MAX_BYTES) {
		pk_err("%s: must be a regular file of at most %d bytes", path, CFGFILE_MAX_BYTES);
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
		goto out;
	n = fread(buf, 1, (size_t)st.st_size, f);
	if (n != (size_t)st.st_size) {
		pk_err("%s: short read", path);
		goto out;
	}
	buf[n] = '\0';
	if (cfgfile_alloc(path, &cf) != 0)
		goto out;
	cf->mode = st.st_mode & 0777;
	if ((cf->root = cJSON_ParseWithLength(buf, n)) == NULL) {
		pk_err("%s: invalid JSON near byte %ld", path, (long)(cJSON_GetErrorPtr() - buf));
		goto out;
	}
	if (!cJSON_IsObject(cf->root)) {
		pk_err("%s: must hold a JSON object at the top", path);
		goto out;
	}
	*out = cf;
	cf = NULL;
	rc = 0;
out:
	cfgfile_free(cf);
	free(buf);
	if (f != NULL)
		fclose(f);
	return rc;
}

int
cfgfile_new(const char *path, cJSON *root, struct cfgfile **out)
{
	struct cfgfile *cf = NULL;

	if (access(path, F_OK) == 0) {
		pk_err("%s: already exists; refusing to replace it", path);
		cJSON_Delete(root);
		return -1;
	}
	if (cfgfile_alloc(path, &cf) != 0) {
		cJSON_Delete(root);
		return -1;
	}
	cf->root = root;
	cf->is_new = 1;
	*out = cf;
	return 0;
}

void
cfgfile_free(struct cfgfile *cf)
{
	size_t i;

	if (cf == NULL)
		return;
	for (i = 0; i < cf->ncreated; i++) {
		if (!cf->committed)
			unlink(cf->created[i]);
		free(cf->created[i]);
	}
	free(cf->created);
	cJSON_Delete(cf->root);
	free(cf->path);
	free(cf->dir);
	free(cf);
}

int
cfgfile_track(struct cfgfile *cf, const char *path)
{
	if (cf->ncreated == CFGFILE_TRACK_MAX) {
		pk_err("%s: more than %d new files in one change", path, CFGFILE_TRACK_MAX);
		return -1;
	}
	if ((cf->created[cf->ncreated] = strdup(path)) == NULL) {
		pk_err("%s: out of memory", path);
		return -1;
	}
	cf->ncreated++;
	return 0;
}

char *
cfgfile_resolve(const struct cfgfile *cf, const char *rel)
{
	char *out = NULL;

	if (rel[0] == '/')
		return strdup(rel);
	if (asprintf(&out, "%s/%s", cf->dir, rel) < 0)
		return NULL;
	return out;
}

cJSON *
cfgfile_array(struct cfgfile *cf, const char *key)
{
	cJSON *a = cJSON_GetObjectItemCaseSensitive(cf->root, key);

	if (a == NULL)
		return cJSON_AddArrayToObject(cf->root, key);
	if (!cJSON_IsArray(a)) {
		pk_err("%s: %s: must be an array", cf->path, key);
		return NULL;
	}
	return a;
}

cJSON *
cfgfile_find(struct cfgfile *cf, const char *key, const char *field, const char *value)
{
	cJSON *a = cJSON_GetObjectItemCaseSensitive(cf->root, key), *it, *v;

	cJSON_ArrayForEach(it, a)
	{
		v = cJSON_GetObjectItemCaseSensitive(it, field);
		if (cJSON_IsString(v) && strcmp(v->valuestring, value) == 0)
			return it;
	}
	return NULL;
}

int
cfgfile_check_refs(struct cfgfile *cf, const char *flag, const cJSON *list, const char *key,
		   const char *field)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, list)
	{
		if (cfgfile_find(cf, key, field, it->valuestring) != NULL)
			continue;
		pk_err("%s: \"%s\" matches no %s[].%s in %s", flag, it->valuestring, key, field,
		       cf->path);
		return -1;
	}
	return 0;
}

int
file_write_new(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0) {
		pk_err("%s: cannot create: %s", path, strerror(errno));
		return -1;
	}
	if (write(fd, data, len) != (ssize_t)len || fsync(fd) != 0) {
		pk_err("%s: write failed: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	if (close(fd) != 0) {
		pk_err("%s: close: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

int
mkdirs(const char *dir, mode_t mode)
{
	char buf[PATH_MAX];
	size_t i, n = strlen(dir);

	if (n == 0 || n >= sizeof(buf)) {
		pk_err("%s: directory path too long", dir);
		return -1;
	}
	memcpy(buf, dir, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST) {
			pk_err("%s: cannot create directory: %s", buf, strerror(errno));
			return -1;
		}
		buf[i] = dir[i];
	}
	return 0;
}

/* Writes text to a new temporary file beside cf->path; its name goes to tmp. */
static int
cfgfile_write_tmp(struct cfgfile *cf, const char *text, char *tmp, size_t tmplen)
{
	const char *base = strrchr(cf->path, '/');
	size_t len = strlen(text);
	int fd = -1, rc = -1;

	base = base ? base + 1 : cf->path;
	if ((size_t)snprintf(tmp, tmplen, "%s/.%s.XXXXXX", cf->dir, base) >= tmplen) {
		pk_err("%s: path too long", cf->path);
		return -1;
	}
	if ((fd = mkstemp(tmp)) < 0) {
		pk_err("%s: cannot create a temporary file: %s", tmp, strerror(errno));
		tmp[0] = '\0';
		return -1;
	}
	if (fchmod(fd, cf->mode) != 0 || write(fd, text, len) != (ssize_t)len ||
	    write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
		pk_err("%s: write failed: %s", tmp, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (close(fd) != 0 && rc == 0) {
		pk_err("%s: write failed: %s", tmp, strerror(errno));
		rc = -1;
	}
	return rc;
}

int
cfgfile_commit(struct cfgfile *cf)
{
	char tmp[PATH_MAX] = "", err[CONFIG_ERR_MAX] = "";
	struct config *cfg = NULL;
	char *text = NULL;
	size_t tl;
	int rc = -1;

	if ((text = cJSON_Print(cf->root)) == NULL) {
		pk_err("%s: cannot serialize the config", cf->path);
		goto out;
	}
	if (cfgfile_write_tmp(cf, text, tmp, sizeof(tmp)) != 0)
		goto out;
	/* A config being set up has no CA yet; the services refuse it, pkictl writes it. */
	if (config_load(tmp,
			CONFIG_LOAD_ROOT_KEYS | CONFIG_LOAD_BULK_KEYS | CONFIG_LOAD_GRANT_KEY |
			    CONFIG_LOAD_NO_CA,
			&cfg, err) != 0) {
		/* Report against the real file name, not the temporary one. */
		tl = strlen(tmp);
		if (strncmp(err, tmp, tl) == 0)
			pk_err("%s%s (nothing was changed)", cf->path, err + tl);
		else
			pk_err("%s (nothing was changed)", err);
		goto out;
	}
	if (cf->is_new) {
		/* A new config: link(2) never replaces a file created meanwhile. */
		if (link(tmp, cf->path) != 0) {
			pk_err("%s: cannot create: %s", cf->path, strerror(errno));
			goto out;
		}
	} else if (rename(tmp, cf->path) != 0) {
		pk_err("%s: cannot replace: %s", cf->path, strerror(errno));
		goto out;
	}
	cf->committed = 1;
	rc = 0;
out:
	if (tmp[0] != '\0')
		unlink(tmp);
	if (cfg != NULL)
		config_free(cfg);
	free(text);
	return rc;
}
