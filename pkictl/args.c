/* Command-line flags: one table per command, shared parsing and help. */
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "extern.h"

void
pk_err(const char *fmt, ...)
{
	va_list ap;

	fputs("pkictl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
pk_sslerr(const char *what)
{
	char buf[256];
	unsigned long e = ERR_get_error();

	if (e == 0) {
		pk_err("%s failed", what);
		return;
	}
	ERR_error_string_n(e, buf, sizeof(buf));
	pk_err("%s: %s", what, buf);
	ERR_clear_error();
}

const char *
args_cmdname(const struct command *cmd, char *buf, size_t len)
{
	if (cmd->group != NULL)
		snprintf(buf, len, "%s %s", cmd->group, cmd->name);
	else
		snprintf(buf, len, "%s", cmd->name);
	return buf;
}

void
args_help(const struct command *cmd, const struct flag *flags, size_t nflags)
{
	char name[64], left[64];
	size_t i;

	args_cmdname(cmd, name, sizeof(name));
	printf("usage: pkictl %s %s\n%s\n\nflags:\n", name, cmd->usage, cmd->summary);
	for (i = 0; i < nflags; i++) {
		snprintf(left, sizeof(left), "%s%s%s", flags[i].name, flags[i].metavar ? " " : "",
			 flags[i].metavar ? flags[i].metavar : "");
		printf("  %-32s %s%s\n", left, flags[i].help,
		       flags[i].required ? " (required)" : "");
	}
	printf("  %-32s %s\n  %-32s %s\n", "--config PATH",
	       "config file (default $PKI_CONFIG, else var/demo/config.json)", "--help",
	       "show this help");
}

/* The table entry for arg ("--id" or "--id=x"), or NULL. */
static const struct flag *
flag_find(const struct flag *flags, size_t nflags, const char *arg, size_t namelen)
{
	size_t i;

	for (i = 0; i < nflags; i++)
		if (strlen(flags[i].name) == namelen && strncmp(flags[i].name, arg, namelen) == 0)
			return &flags[i];
	return NULL;
}

/* args_parse and args_parse_operand: operand NULL allows none, else exactly one. */
static int
args_scan(const struct command *cmd, const struct flag *flags, size_t nflags, int argc,
	  char **argv, const char **config_path, const char **operand)
{
	const char *config = NULL;
	int seen[PKICTL_FLAGS_MAX] = {0}, config_seen = 0, i;
	char name[64];
	size_t k;

	args_cmdname(cmd, name, sizeof(name));
	if (nflags > PKICTL_FLAGS_MAX) {
		pk_err("%s: too many flags in the table", name);
		return -1;
	}
	for (i = 0; i < argc; i++) {
		const char *arg = argv[i], *eq, *val = NULL;
		const struct flag *f;
		size_t namelen;

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			args_help(cmd, flags, nflags);
			return 1;
		}
		if (strncmp(arg, "--", 2) != 0 && operand != NULL && *operand == NULL &&
		    *arg != '\0') {
			*operand = arg;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0) {
			pk_err("%s: unexpected argument \"%s\": every value follows a --flag; see "
			       "'pkictl %s --help'",
			       name, arg, name);
			return -1;
		}
		eq = strchr(arg, '=');
		namelen = eq ? (size_t)(eq - arg) : strlen(arg);
		if (namelen == strlen("--config") && strncmp(arg, "--config", namelen) == 0) {
			if (config_seen++) {
				pk_err("%s: --config: given twice", name);
				return -1;
			}
			if (eq)
				config = eq + 1;
			else if (i + 1 < argc)
				config = argv[++i];
			else {
				pk_err("%s: --config: needs a value (PATH)", name);
				return -1;
			}
			if (*config == '\0') {
				pk_err("%s: --config: must not be empty", name);
				return -1;
			}
			continue;
		}
		f = flag_find(flags, nflags, arg, namelen);
		if (f == NULL) {
			pk_err("%s: unknown flag %.*s; see 'pkictl %s --help'", name, (int)namelen,
			       arg, name);
			return -1;
		}
		if (seen[f - flags]++) {
			pk_err("%s: %s: given twice", name, f->name);
			return -1;
		}
		if (f->metavar == NULL) {
			if (eq) {
				pk_err("%s: %s: takes no value, got \"%s\"", name, f->name, eq + 1);
				return -1;
			}
			*f->set = 1;
			continue;
		}
		if (eq)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else {
			pk_err("%s: %s: needs a value (%s)", name, f->name, f->metavar);
			return -1;
		}
		*f->value = val;
	}
	for (k = 0; k < nflags; k++)
		if (flags[k].required && !seen[k]) {
			pk_err("%s: %s %s: required; see 'pkictl %s --help'", name, flags[k].name,
			       flags[k].metavar ? flags[k].metavar : "", name);
			return -1;
		}
	if (operand != NULL && *operand == NULL) {
		pk_err("%s: missing the operand; usage: pkictl %s %s", name, name, cmd->usage);
		return -1;
	}
	*config_path = config ? config : config_default_path();
	return 0;
}

int
args_parse(const struct command *cmd, const struct flag *flags, size_t nflags, int argc,
	   char **argv, const char **config_path)
{
	return args_scan(cmd, flags, nflags, argc, argv, config_path, NULL);
}

int
args_parse_operand(const struct command *cmd, const struct flag *flags, size_t nflags, int argc,
		   char **argv, const char **config_path, const char **operand)
{
	*operand = NULL;
	return args_scan(cmd, flags, nflags, argc, argv, config_path, operand);
}
