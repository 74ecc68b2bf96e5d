/*
 * Where the service may send a user's webhook (no SSRF through a user's
 * URL): the URL's host must be on the operator's allow-list
 * (notifications.webhooks.allow: "*", DNS names with their subdomains, or
 * CIDRs), and every address it connects to must be public: loopback,
 * link-local, private, shared, multicast and reserved ranges are refused
 * unless allow_private is set or an allow-list CIDR names the address. The
 * host is checked when the webhook is registered and again before each
 * delivery, the address when the socket is opened (after DNS).
 */
#ifndef PKI_NETGUARD_H
#define PKI_NETGUARD_H

#include <sys/socket.h>

#include "config.h"

#define NETGUARD_ERR_MAX 256
#define NETGUARD_URL_MAX 1024
#define NETGUARD_RESOLVE_MAX 16 /* addresses checked at registration */

/* 1 if sa (AF_INET or AF_INET6) lies in a non-public range, else 0. */
int netguard_addr_private(const struct sockaddr *sa);

/* 0 when n lets a connection to sa go; -1 with the reason in err (NETGUARD_ERR_MAX). */
int netguard_addr_check(const struct notify_cfg *n, const struct sockaddr *sa, char *err);

/*
 * Checks url as a user's webhook target: http:// or https://, at most
 * NETGUARD_URL_MAX characters, no user info, host on the allow-list. With
 * resolve, also resolves the host and checks every address. Returns 0, or
 * -1 with a message naming the rule and what was seen in err.
 */
int netguard_url_check(const struct notify_cfg *n, const char *url, int resolve, char *err);

#endif
