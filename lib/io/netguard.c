#include "netguard.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Ranges that are not the public Internet (IANA special-purpose registries). */
static const struct {
	int family;
	const char *addr;
	int prefix;
} private_ranges[] = {
    {AF_INET, "0.0.0.0", 8},     {AF_INET, "10.0.0.0", 8},      {AF_INET, "100.64.0.0", 10},
    {AF_INET, "127.0.0.0", 8},   {AF_INET, "169.254.0.0", 16},  {AF_INET, "172.16.0.0", 12},
    {AF_INET, "192.0.0.0", 24},  {AF_INET, "192.0.2.0", 24},    {AF_INET, "192.168.0.0", 16},
    {AF_INET, "198.18.0.0", 15}, {AF_INET, "198.51.100.0", 24}, {AF_INET, "203.0.113.0", 24},
    {AF_INET, "224.0.0.0", 3},   {AF_INET6, "::", 127},         {AF_INET6, "fc00::", 7},
    {AF_INET6, "fe80::", 10},    {AF_INET6, "ff00::", 8},       {AF_INET6, "2001:db8::", 32},
    {AF_INET6, "100::", 64},
};

/* 1 if the first prefix bits of a and b agree. */
static int
bits_equal(const unsigned char *a, const unsigned char *b, int prefix)
{
	int full = prefix / 8, rest = prefix % 8;

	if (memcmp(a, b, (size_t)full) != 0)
		return 0;
	return rest == 0 || ((a[full] ^ b[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/*
 * The address of sa as (family, 4 or 16 bytes); an IPv4-mapped or NAT64
 * IPv6 address yields its IPv4 address. 0, or -1 for another family.
 */
static int
addr_bytes(const struct sockaddr *sa, int *family, unsigned char out[16])
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};

	if (sa->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		*family = AF_INET;
		return 0;
	}
	if (sa->sa_family != AF_INET6)
		return -1;
	memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	*family = AF_INET6;
	if (memcmp(out, mapped, 12) == 0 || memcmp(out, nat64, 12) == 0) {
		memmove(out, out + 12, 4);
		*family = AF_INET;
	}
	return 0;
}

int
netguard_addr_private(const struct sockaddr *sa)
{
	unsigned char a[16], r[16];
	size_t i;
	int family;

	if (addr_bytes(sa, &family, a) != 0)
		return 1;
	for (i = 0; i < sizeof(private_ranges) / sizeof(private_ranges[0]); i++)
		if (private_ranges[i].family == family &&
		    inet_pton(family, private_ranges[i].addr, r) == 1 &&
		    bits_equal(a, r, private_ranges[i].prefix))
			return 1;
	return 0;
}

/* 1 if sa lies in one of n's allow-list CIDRs. */
static int
addr_listed(const struct notify_cfg *n, const struct sockaddr *sa)
{
	unsigned char a[16];
	size_t i;
	int family;

	if (addr_bytes(sa, &family, a) != 0)
		return 0;
	for (i = 0; i < n->nhook_cidrs; i++)
		if (n->hook_cidrs[i].family == family &&
		    bits_equal(a, n->hook_cidrs[i].addr, n->hook_cidrs[i].prefix))
			return 1;
	return 0;
}

int
netguard_addr_check(const struct notify_cfg *n, const struct sockaddr *sa, char *err)
{
	char text[INET6_ADDRSTRLEN] = "?";
	const void *in = sa->sa_family == AF_INET6
			     ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
			     : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;

	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) {
		snprintf(err, NETGUARD_ERR_MAX, "address family %d refused", sa->sa_family);
		return -1;
	}
	if (n->allow_private || addr_listed(n, sa) || !netguard_addr_private(sa))
		return 0;
	inet_ntop(sa->sa_family, in, text, sizeof(text));
	snprintf(err, NETGUARD_ERR_MAX,
		 "address %s is loopback, link-local, private or reserved, and "
		 "notifications.webhooks does not allow it (allow_private, or a CIDR in allow)",
		 text);
	return -1;
}

/* 1 if host (no brackets) is an address inside an allow-list CIDR. */
static int
host_in_cidrs(const struct notify_cfg *n, const char *host)
{
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
	struct sockaddr_in s4 = {.sin_family = AF_INET};

	if (inet_pton(AF_INET, host, &s4.sin_addr) == 1)
		return addr_listed(n, (struct sockaddr *)&s4);
	if (inet_pton(AF_INET6, host, &s6.sin6_addr) == 1)
		return addr_listed(n, (struct sockaddr *)&s6);
	return 0;
}

/* 1 if host is "*"-allowed, a listed name or under one, or in a listed CIDR. */
static int
host_allowed(const struct notify_cfg *n, const char *host)
{
	size_t i, hl = strlen(host), el;

	for (i = 0; n->hook_allow != NULL && n->hook_allow[i] != NULL; i++) {
		const char *e = n->hook_allow[i];

		el = strlen(e);
		if (strcmp(e, "*") == 0 || strcasecmp(e, host) == 0 ||
		    (hl > el && host[hl - el - 1] == '.' && strcasecmp(host + hl - el, e) == 0))
			return 1;
	}
	return host_in_cidrs(n, host);
}

/* Resolves host:port and checks every address (at most NETGUARD_RESOLVE_MAX). */
static int
resolve_check(const struct notify_cfg *n, const char *host, const char *port, char *err)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL, *ai;
	int rc, k = 0;

	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, NETGUARD_ERR_MAX, "url: host %.128s does not resolve: %s", host,
			 gai_strerror(rc));
		return -1;
	}
	rc = 0;
	for (ai = res; ai != NULL && k < NETGUARD_RESOLVE_MAX && rc == 0; ai = ai->ai_next, k++)
		rc = netguard_addr_check(n, ai->ai_addr, err);
	freeaddrinfo(res);
	return rc;
}

int
netguard_url_check(const struct notify_cfg *n, const char *url, int resolve, char *err)
{
	CURLU *u = NULL;
	char *scheme = NULL, *host = NULL, *user = NULL, *port = NULL, *h;
	size_t hl;
	int rc = -1;

	if (strlen(url) > NETGUARD_URL_MAX) {
		snprintf(err, NETGUARD_ERR_MAX, "url: must be at most %d characters, got %zu",
			 NETGUARD_URL_MAX, strlen(url));
		return -1;
	}
	if ((u = curl_url()) == NULL ||
	    curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
		snprintf(err, NETGUARD_ERR_MAX,
			 "url: must be an http:// or https:// URL, got \"%.64s\"", url);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
		snprintf(err, NETGUARD_ERR_MAX, "url: must not carry user info");
		goto out;
	}
	curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
	h = host;
	hl = strlen(h);
	if (hl > 1 && h[0] == '[' && h[hl - 1] == ']') {
		h[hl - 1] = '\0';
		h++;
	}
	if (!host_allowed(n, h)) {
		snprintf(err, NETGUARD_ERR_MAX,
			 "url: host %.128s is not in the operator's notifications.webhooks.allow",
			 h);
		goto out;
	}
	rc = resolve ? resolve_check(n, h, port, err) : 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(port);
	curl_url_cleanup(u);
	return rc;
}
