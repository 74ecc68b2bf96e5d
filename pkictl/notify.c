/* pkictl notify set: the notifications section (SMTP relay, users' webhook rule). */
#include <string.h>

#include "extern.h"

/*
 * Replaces the notifications section with the flags given; config_load (at
 * commit) checks every value and names the key of a bad one.
 */
int
cmd_notify_set(const struct command *cmd, int argc, char **argv)
{
	const char *url = NULL, *from = NULL, *tls = "starttls", *user = NULL, *pwfile = NULL;
	const char *allow = NULL, *public_url = NULL, *config;
	int allow_private = 0;
	const struct flag flags[] = {
	    {"--smtp-url", "URL", "smtp://HOST:PORT of the relay (absent: no e-mail)", &url, NULL,
	     0},
	    {"--smtp-from", "ADDRESS", "sender address (with --smtp-url)", &from, NULL, 0},
	    {"--smtp-tls", "MODE", "starttls (default), tls or none", &tls, NULL, 0},
	    {"--smtp-user", "USER", "AUTH user (with --smtp-password-file)", &user, NULL, 0},
	    {"--smtp-password-file", "PATH", "file holding the AUTH password (mode 0600)", &pwfile,
	     NULL, 0},
	    {"--webhooks-allow", "LIST",
	     "hosts users' webhooks may reach: *, DNS names, CIDRs (default: none)", &allow, NULL,
	     0},
	    {"--webhooks-allow-private", NULL,
	     "let users' webhooks reach loopback, link-local and private addresses", NULL,
	     &allow_private, 0},
	    {"--public-url", "URL", "base of the poll URL in notifications", &public_url, NULL, 0},
	};
	struct cfgfile *cf = NULL;
	cJSON *n = NULL, *o, *list = NULL;
	int rc;

	if ((rc = args_parse(cmd, flags, sizeof(flags) / sizeof(flags[0]), argc, argv, &config)))
		return rc > 0 ? 0 : -1;
	rc = -1;
	if (url == NULL && (from != NULL || user != NULL || pwfile != NULL)) {
		pk_err("--smtp-from, --smtp-user, --smtp-password-file: only with --smtp-url");
		goto out;
	}
	if (allow != NULL && parse_list("--webhooks-allow", allow, NULL, &list) != 0)
		goto out;
	if (cfgfile_open(config, &cf) != 0 || (n = cJSON_CreateObject()) == NULL)
		goto out;
	if (url != NULL) {
		o = cJSON_AddObjectToObject(n, "smtp");
		cJSON_AddStringToObject(o, "url", url);
		cJSON_AddStringToObject(o, "from", from != NULL ? from : "");
		cJSON_AddStringToObject(o, "tls", tls);
		if (user != NULL)
			cJSON_AddStringToObject(o, "user", user);
		if (pwfile != NULL)
			cJSON_AddStringToObject(o, "password_file", pwfile);
	}
	o = cJSON_AddObjectToObject(n, "webhooks");
	cJSON_AddItemToObject(o, "allow", list != NULL ? list : cJSON_CreateArray());
	list = NULL;
	cJSON_AddBoolToObject(o, "allow_private", allow_private);
	if (public_url != NULL)
		cJSON_AddStringToObject(n, "public_url", public_url);
	cJSON_DeleteItemFromObjectCaseSensitive(cf->root, "notifications");
	cJSON_AddItemToObject(cf->root, "notifications", n);
	n = NULL;
	if (cfgfile_commit(cf) != 0)
		goto out;
	rc = 0;
out:
	cJSON_Delete(list);
	cJSON_Delete(n);
	cfgfile_free(cf);
	return rc;
}
