/* netguard: private ranges, the allow-list, URL checks. */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "netguard.h"
#include "test.h"

/* sa from a textual address. */
static const struct sockaddr *
addr(const char *text, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &((struct sockaddr_in *)ss)->sin_addr) == 1)
		ss->ss_family = AF_INET;
	else if (inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1)
		ss->ss_family = AF_INET6;
	return (const struct sockaddr *)ss;
}

TEST(netguard_private_ranges)
{
	static const char *const private[] = {
	    "127.0.0.1",       "10.1.2.3",          "172.16.0.1", "172.31.255.255",
	    "192.168.1.1",     "169.254.169.254",   "100.64.0.1", "0.0.0.0",
	    "224.0.0.1",       "255.255.255.255",   "::1",        "::",
	    "fe80::1",         "fd00::1",           "ff02::1",    "::ffff:127.0.0.1",
	    "::ffff:10.0.0.1", "64:ff9b::a9fe:a9fe"};
	static const char *const public[] = {"8.8.8.8", "172.32.0.1", "1.1.1.1",
					     "2606:4700:4700::1111", "::ffff:8.8.8.8"};
	struct sockaddr_storage ss;
	size_t i;

	for (i = 0; i < sizeof(private) / sizeof(private[0]); i++)
		if (!netguard_addr_private(addr(private[i], &ss)))
			test_fail(__FILE__, __LINE__, "%s: not seen as private", private[i]);
	for (i = 0; i < sizeof(public) / sizeof(public[0]); i++)
		if (netguard_addr_private(addr(public[i], &ss)))
			test_fail(__FILE__, __LINE__, "%s: seen as private", public[i]);
}

TEST(netguard_allow_list_and_cidrs)
{
	char *allow[] = {"hooks.acme.test", "127.0.0.0/8", NULL};
	struct cidr c;
	const char *why;
	struct notify_cfg n = {.hook_allow = allow, .hook_cidrs = &c, .nhook_cidrs = 1};
	struct sockaddr_storage ss;
	char err[NETGUARD_ERR_MAX];

	CHECK_INT(roster_cidr_parse("127.0.0.0/8", &c, &why), 0);
	/* A listed CIDR allows its private addresses, nothing else private. */
	CHECK_INT(netguard_addr_check(&n, addr("127.0.0.1", &ss), err), 0);
	CHECK_INT(netguard_addr_check(&n, addr("10.0.0.1", &ss), err), -1);
	CHECK(strstr(err, "address 10.0.0.1 is loopback, link-local, private or reserved") != NULL);
	CHECK_INT(netguard_addr_check(&n, addr("8.8.8.8", &ss), err), 0);
	/* Hosts: the listed name and names under it; an address in a listed CIDR. */
	CHECK_INT(netguard_url_check(&n, "https://hooks.acme.test/x", 0, err), 0);
	CHECK_INT(netguard_url_check(&n, "https://a.hooks.acme.test/x", 0, err), 0);
	CHECK_INT(netguard_url_check(&n, "https://xhooks.acme.test/x", 0, err), -1);
	CHECK(strstr(err, "host xhooks.acme.test is not in the operator's "
			  "notifications.webhooks.allow") != NULL);
	CHECK_INT(netguard_url_check(&n, "http://127.0.0.1:9/x", 1, err), 0);
	CHECK_INT(netguard_url_check(&n, "http://[::1]:9/x", 0, err), -1);
	CHECK_INT(netguard_url_check(&n, "ftp://hooks.acme.test/", 0, err), -1);
	CHECK(strstr(err, "must be an http:// or https:// URL") != NULL);
	CHECK_INT(netguard_url_check(&n, "https://u:p@hooks.acme.test/", 0, err), -1);
	CHECK(strstr(err, "must not carry user info") != NULL);
}

TEST(netguard_loopback_refused_unless_allowed)
{
	char *allow[] = {"*", NULL};
	struct notify_cfg n = {.hook_allow = allow};
	char err[NETGUARD_ERR_MAX];

	/* "*" admits any host; resolving shows the address is loopback. */
	CHECK_INT(netguard_url_check(&n, "http://127.0.0.1/", 1, err), -1);
	CHECK(strstr(err, "address 127.0.0.1 is loopback") != NULL);
	CHECK_INT(netguard_url_check(&n, "http://localhost:8080/hook", 1, err), -1);
	n.allow_private = 1;
	CHECK_INT(netguard_url_check(&n, "http://127.0.0.1/", 1, err), 0);
	/* An empty allow-list admits no host at all. */
	n.hook_allow = NULL;
	CHECK_INT(netguard_url_check(&n, "http://127.0.0.1/", 1, err), -1);
	CHECK(strstr(err, "not in the operator's notifications.webhooks.allow") != NULL);
}
