/* pkictl: CA bootstrap and user administration over the JSON config file. */
#include <stdio.h>
#include <string.h>

#include "extern.h"

static const struct command commands[] = {
    {NULL, "init", "--config PATH [--kafka-brokers LIST] [--redis-url URL] ...",
     "write a fresh config with no tenants, CAs or users", cmd_init},
    {"tenant", "add", "--id ID --name NAME [--organizations LIST]", "add a tenant",
     cmd_tenant_add},
    {"ca", "init-root", "--id ID --name CN [--key KEY] [--days N] ...",
     "generate a root CA key and self-signed certificate", cmd_ca_init_root},
    {"ca", "init-intermediate", "--id ID --parent ID --name CN [--key KEY] [policy flags]",
     "generate an intermediate CA signed by its parent", cmd_ca_init_intermediate},
    {"ca", "crl", "--id ID [--days N]", "sign a fresh (empty) CRL for a CA into cas/ID.crl",
     cmd_ca_crl},
    {"user", "add", "--name NAME --email EMAIL --role ROLE --tenant ID [--cas LIST]",
     "add a user and print its API key once", cmd_user_add},
    {"user", "add-bulk-key", "--user USER [--id KEY_ID]",
     "add a bulk signing key for a user, write its producer profile, print the secret once",
     cmd_user_add_bulk_key},
    {"redis", "acl", "",
     "write redis/users.acl again from the config (users, passwords, redis.prefix)", cmd_redis_acl},
    {"kafka", "init", "",
     "add the infrastructure CA, the services' Kafka certificates and kafka.tls (idempotent)",
     cmd_kafka_init},
    {"kafka", "cert", "NAME [--server HOST,...] [--days N]",
     "issue a Kafka TLS certificate for principal NAME into kafka/NAME.crt, .key", cmd_kafka_cert},
    {"notify", "set", "[--smtp-url URL --smtp-from ADDRESS] [--webhooks-allow LIST] ...",
     "set the notifications section: SMTP relay, users' webhook allow-list", cmd_notify_set},
    {"password", "hash", "< password", "read a password on stdin and print its scrypt hash",
     cmd_password_hash},
    {"bulk", "submit", "--as USER [--ca ID] [--validity DAYS] [--batch ID] DIR|FILE.jsonl",
     "sign CSRs with a bulk key, produce them to Kafka, wait, write the certificates",
     cmd_bulk_submit},
    {"bulk", "sign", "--as USER [--ca ID] [--validity DAYS] [--batch ID] DIR|FILE.jsonl",
     "write signed bulk messages (KEY<TAB>VALUE lines) for kcat or any Kafka producer",
     cmd_bulk_sign},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *f)
{
	char name[64];
	size_t i;

	fprintf(f, "usage: pkictl COMMAND [flags]   (every command takes --config PATH, --help)\n"
		   "The config defaults to $PKI_CONFIG, else var/demo/config.json.\n\ncommands:\n");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-28s %s\n", args_cmdname(&commands[i], name, sizeof(name)),
			commands[i].summary);
}

int
main(int argc, char **argv)
{
	size_t i;
	int rc;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (i = 0; i < NCOMMANDS; i++) {
		const struct command *c = &commands[i];

		if (c->group == NULL && strcmp(argv[1], c->name) == 0)
			rc = c->run(c, argc - 2, argv + 2);
		else if (c->group != NULL && strcmp(argv[1], c->group) == 0 && argc > 2 &&
			 strcmp(argv[2], c->name) == 0)
			rc = c->run(c, argc - 3, argv + 3);
		else
			continue;
		/* -1: failed; a command may also return its own exit status (> 0). */
		return rc < 0 ? 1 : rc;
	}
	for (i = 0; i < NCOMMANDS; i++)
		if (commands[i].group != NULL && strcmp(argv[1], commands[i].group) == 0) {
			pk_err("%s: unknown subcommand \"%s\"; see 'pkictl --help'", argv[1],
			       argc > 2 ? argv[2] : "");
			return 2;
		}
	pk_err("unknown command \"%s\"; see 'pkictl --help'", argv[1]);
	return 2;
}
