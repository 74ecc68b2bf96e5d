/*
 * Validation of a parsed CSR against the request and the CA's policy.
 * Every violation is collected; nothing stops at the first one.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "issue_int.h"

#define DNS_MAX_LABEL 63
#define DNS_MAX_NAME 253
#define EXT_ALL (EXT_SERVER_AUTH | EXT_CLIENT_AUTH | EXT_EMAIL_PROTECTION | EXT_CODE_SIGNING)
#define EXT_DEFAULT EXT_SERVER_AUTH

int
dns_name_valid(const char *s, size_t len, int allow_wildcard, const char **why)
{
	size_t i, label = 0, nlabels = 1;
	int alpha_in_last = 0;

	*why = NULL;
	if (len == 0) {
		*why = "empty name";
		return 0;
	}
	if (len > DNS_MAX_NAME) {
		*why = "longer than 253 characters";
		return 0;
	}
	if (s[len - 1] == '.') {
		*why = "trailing dot";
		return 0;
	}
	if (len >= 2 && s[0] == '*' && s[1] == '.') {
		if (!allow_wildcard) {
			*why = "wildcard not allowed here";
			return 0;
		}
		s += 2;
		len -= 2;
		if (memchr(s, '.', len) == NULL) {
			*why = "wildcard over a single-label (public) suffix";
			return 0;
		}
	}
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '.') {
			if (label == 0) {
				*why = "empty label";
				return 0;
			}
			if (s[i - 1] == '-') {
				*why = "label ends with '-'";
				return 0;
			}
			label = 0;
			nlabels++;
			alpha_in_last = 0;
			continue;
		}
		if (ch == '*') {
			*why = "wildcard '*' is only allowed as the whole leftmost label";
			return 0;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-')) {
			*why = "character outside letters, digits, '-' and '.'";
			return 0;
		}
		if (ch == '-' && label == 0) {
			*why = "label starts with '-'";
			return 0;
		}
		if (!(ch >= '0' && ch <= '9') && ch != '-')
			alpha_in_last = 1;
		if (++label > DNS_MAX_LABEL) {
			*why = "label longer than 63 characters";
			return 0;
		}
	}
	if (s[len - 1] == '-') {
		*why = "label ends with '-'";
		return 0;
	}
	if (!alpha_in_last && nlabels > 1) {
		*why = "all-numeric top-level label";
		return 0;
	}
	return 1;
}

int
dns_name_like(const char *s, size_t len)
{
	size_t i;
	unsigned char ip[16];
	char tmp[64];

	if (len == 0 || memchr(s, '.', len) == NULL)
		return 0;
	if (len < sizeof(tmp)) {
		memcpy(tmp, s, len);
		tmp[len] = '\0';
		if (inet_pton(AF_INET, tmp, ip) == 1)
			return 0;
	}
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '*'))
			return 0;
	}
	return 1;
}

static const char *
attr_label(const struct name_attr *na)
{
	const char *l = subject_attr_label(na->kind);

	return l != NULL ? l : na->oid;
}

static void
check_names(const struct csr *c, struct violations *vs)
{
	size_t i;

	for (i = 0; i < c->nattrs; i++) {
		const struct name_attr *na = &c->attrs[i];
		const char *field = na->kind == NA_CN ? "common_name" : "csr_data";

		if (na->flags & STR_CTRL)
			violations_add(vs, "name_invalid_characters", field,
				       "subject %s contains a NUL or control character",
				       attr_label(na));
		if (na->flags & STR_BAD_UTF8)
			violations_add(vs, "name_invalid_utf8", field,
				       "subject %s is not valid UTF-8 (or UCS-2/UCS-4)",
				       attr_label(na));
		if (na->flags & STR_BAD_CHARS)
			violations_add(vs, "name_invalid_characters", field,
				       "subject %s has characters its string type does not allow",
				       attr_label(na));
		if (na->flags & STR_BAD_TYPE)
			violations_add(
			    vs, "name_invalid_string_type", field,
			    "subject %s uses a string type RFC 5280 does not allow for it "
			    "(C: 2-letter PrintableString; emailAddress: IA5String; others: "
			    "UTF8String or PrintableString)",
			    attr_label(na));
		if (na->utf8_len == 0)
			violations_add(vs, "name_invalid_characters", field, "subject %s is empty",
				       attr_label(na));
	}
}

/* Finds the CSR's CN attribute; NULL when absent. */
static const struct name_attr *
csr_cn(const struct csr *c)
{
	size_t i;

	for (i = 0; i < c->nattrs; i++)
		if (c->attrs[i].kind == NA_CN)
			return &c->attrs[i];
	return NULL;
}

static int
cn_is_ip(const struct name_attr *cn)
{
	unsigned char ip[16];

	return cn->utf8_len < 46 && !(cn->flags & STR_CTRL) &&
	       (inet_pton(AF_INET, cn->utf8, ip) == 1 || inet_pton(AF_INET6, cn->utf8, ip) == 1);
}

static void
check_cn(const struct csr *c, const struct issue_request *req, struct violations *vs,
	 struct plan *plan)
{
	const struct name_attr *cn = csr_cn(c);
	const char *want = req->common_name, *why;
	size_t wlen, i;
	int dnsy;
	unsigned char ip[16];

	if (want == NULL || want[0] == '\0') {
		violations_add(vs, "common_name_missing", "common_name", "common_name is required");
		want = NULL;
	}
	if (cn == NULL) {
		violations_add(vs, "cn_missing", "csr_data",
			       "CSR subject has no CN (commonName): add CN=%s",
			       want ? want : "<name>");
		return;
	}
	if (c->ncn > 1)
		violations_add(vs, "cn_multiple", "csr_data",
			       "CSR subject has %d CN attributes; exactly one is allowed", c->ncn);
	if (utf8_count(cn->utf8, cn->utf8_len) > CSR_MAX_CN)
		violations_add(vs, "cn_too_long", "common_name",
			       "CN is %zu characters; the limit is %d (RFC 5280 ub-common-name)",
			       utf8_count(cn->utf8, cn->utf8_len), CSR_MAX_CN);
	dnsy = dns_name_like(cn->utf8, cn->utf8_len) && !(cn->flags & STR_CTRL);
	if (dnsy && !dns_name_valid(cn->utf8, cn->utf8_len, 1, &why))
		violations_add(vs, "cn_invalid_dns", "common_name",
			       "CN '%.64s' is not a valid DNS name: %s", cn->utf8, why);
	if (want != NULL) {
		wlen = strlen(want);
		for (i = 0; i < wlen; i++)
			if ((unsigned char)want[i] < 0x20 || want[i] == 0x7f)
				break;
		if (i < wlen)
			violations_add(vs, "name_invalid_characters", "common_name",
				       "common_name contains a control character");
		/* DNS names compare case-insensitively (ASCII); anything else byte for byte. */
		if (dnsy ? !ascii_casecmp_eq(cn->utf8, cn->utf8_len, want, wlen)
			 : (cn->utf8_len != wlen || memcmp(cn->utf8, want, wlen) != 0))
			violations_add(vs, "cn_mismatch", "common_name",
				       "common_name '%.80s' does not match the CSR's CN '%.80s'%s",
				       want, cn->utf8,
				       dnsy ? " (compared case-insensitively as a DNS name)" : "");
	}
	plan->cn_san = CN_SAN_NONE;
	if (cn->flags & STR_CTRL)
		return;
	if (dnsy) {
		for (i = 0; i < c->ndns; i++)
			if (ascii_casecmp_eq(c->dns[i].text, c->dns[i].len, cn->utf8, cn->utf8_len))
				return;
		plan->cn_san = CN_SAN_DNS;
	} else if (cn_is_ip(cn)) {
		plan->cn_ip_len = strchr(cn->utf8, ':') ? 16 : 4;
		inet_pton(plan->cn_ip_len == 16 ? AF_INET6 : AF_INET, cn->utf8, ip);
		memcpy(plan->cn_ip, ip, plan->cn_ip_len);
		for (i = 0; i < c->nip; i++)
			if (c->ip[i].raw_len == plan->cn_ip_len &&
			    memcmp(c->ip[i].raw, ip, plan->cn_ip_len) == 0)
				return;
		plan->cn_san = CN_SAN_IP;
	} else if (memchr(cn->utf8, '@', cn->utf8_len) != NULL) {
		for (i = 0; i < c->nemail; i++)
			if (ascii_casecmp_eq(c->email[i].text, c->email[i].len, cn->utf8,
					     cn->utf8_len))
				return;
		plan->cn_san = CN_SAN_EMAIL;
	}
}

static void
check_sans(const struct csr *c, struct violations *vs)
{
	size_t i;
	const char *why;
	const struct san *s;

	if (c->info.nsans > CSR_MAX_SANS)
		violations_add(vs, "too_many_sans", "csr_data",
			       "CSR asks for %zu subject alternative names; the limit is %d",
			       c->info.nsans, CSR_MAX_SANS);
	for (i = 0; i < c->ndns; i++) {
		s = &c->dns[i];
		if (s->flags & (STR_CTRL | STR_BAD_CHARS)) {
			violations_add(
			    vs, "san_invalid_dns", "csr_data",
			    "SAN DNS name #%zu contains a NUL, control or non-ASCII character",
			    i + 1);
			continue;
		}
		if (!dns_name_valid(s->text, s->len, 1, &why)) {
			int wild = memchr(s->text, '*', s->len) != NULL;
			violations_add(vs, wild ? "san_invalid_wildcard" : "san_invalid_dns",
				       "csr_data", "SAN DNS name '%.80s' is invalid: %s", s->text,
				       why);
		}
	}
	for (i = 0; i < c->nemail; i++) {
		s = &c->email[i];
		const char *at = memchr(s->text, '@', s->len);
		if ((s->flags & (STR_CTRL | STR_BAD_CHARS)) || at == NULL || at == s->text ||
		    !dns_name_valid(at + 1, s->len - (size_t)(at + 1 - s->text), 0, &why) ||
		    memchr(s->text, ' ', s->len) != NULL)
			violations_add(
			    vs, "san_invalid_email", "csr_data",
			    "SAN email '%.80s' is not a valid mailbox (local@domain, ASCII)",
			    (s->flags & STR_CTRL) ? "(control characters)" : s->text);
	}
	for (i = 0; i < c->nip; i++)
		if (c->ip[i].flags)
			violations_add(vs, "san_invalid_ip", "csr_data",
				       "SAN IP address #%zu has %zu octets; expected 4 or 16",
				       i + 1, c->ip[i].raw_len);
	for (i = 0; i < c->nuri; i++) {
		s = &c->uri[i];
		if ((s->flags & (STR_CTRL | STR_BAD_CHARS)) ||
		    memchr(s->text, ':', s->len) == NULL || memchr(s->text, ' ', s->len) != NULL)
			violations_add(vs, "san_invalid_uri", "csr_data",
				       "SAN URI #%zu is not an absolute ASCII URI", i + 1);
	}
	if (c->nother_sans)
		violations_add(
		    vs, "san_unsupported_type", "csr_data",
		    "CSR asks for %zu SAN entries of an unsupported type (only DNS, IP, email, "
		    "URI are issued)",
		    c->nother_sans);
}

static void
ext_list(unsigned bits, char *buf, size_t len)
{
	unsigned b;
	size_t o = 0;

	buf[0] = '\0';
	for (b = 1; b <= EXT_CODE_SIGNING && o < len; b <<= 1)
		if (bits & b)
			o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? ", " : "", ext_name(b));
	if (bits & ~(unsigned)EXT_ALL && o < len)
		snprintf(buf + o, len - o, "%sunknown bits 0x%x", o ? ", " : "",
			 bits & ~(unsigned)EXT_ALL);
}

static void
check_exts(const struct csr *c, const struct issue_request *req, const struct ca *ca,
	   struct violations *vs, struct plan *plan)
{
	unsigned asked = req->extensions | c->info.requested_ext, bad;
	char lbuf[128], abuf[128];
	size_t i;

	ext_list(ca->allowed_extensions, abuf, sizeof(abuf));
	if (asked == 0) {
		asked = EXT_DEFAULT;
		if (!(ca->allowed_extensions & EXT_DEFAULT))
			violations_add(
			    vs, "extension_not_allowed", "extensions",
			    "no extension requested and this CA does not allow the default "
			    "server_auth; request one of: %s",
			    abuf);
	} else if ((bad = asked & ~ca->allowed_extensions) != 0) {
		ext_list(bad, lbuf, sizeof(lbuf));
		violations_add(vs, "extension_not_allowed", "extensions",
			       "extensions not allowed by this CA: %s (allowed: %s)", lbuf, abuf);
	}
	if (c->eku_any)
		violations_add(vs, "extension_not_allowed", "extensions",
			       "CSR asks for anyExtendedKeyUsage; allowed: %s", abuf);
	if (c->eku_unknown)
		violations_add(
		    vs, "extension_not_allowed", "extensions",
		    "CSR asks for extended key usage %s, which is not issued; allowed: %s",
		    c->eku_unknown_oid, abuf);
	if (c->info.requests_ca)
		violations_add(
		    vs, "csr_requests_ca", "csr_data",
		    "CSR asks for basicConstraints CA:TRUE%s; only leaf certificates are issued",
		    c->requests_ca_critical ? " (critical)" : "");
	for (i = 0; i < c->nexts; i++)
		if (c->exts[i].critical && !c->exts[i].known)
			violations_add(vs, "csr_unknown_critical_extension", "csr_data",
				       "CSR asks for unknown critical extension %s",
				       c->exts[i].oid);
	if (c->dup_ext[0])
		violations_add(vs, "csr_duplicate_extension", "csr_data",
			       "CSR's extensionRequest holds extension %s more than once",
			       c->dup_ext);
	plan->eku = asked & EXT_ALL;
}

static void
check_key(const struct csr *c, const struct ca *ca, struct violations *vs)
{
	const struct csr_info *ci = &c->info;
	unsigned sz;

	if (!(ca->allowed_key_types & ci->key_type)) {
		violations_add(vs, "key_type_not_allowed", "csr_data",
			       "%s keys are not allowed by CA %s", key_type_name(ci->key_type),
			       ca->id ? ca->id : "");
		return;
	}
	if (ci->key_type == KT_RSA) {
		sz = ci->key_bits == 2048   ? RSA_2048
		     : ci->key_bits == 3072 ? RSA_3072
		     : ci->key_bits == 4096 ? RSA_4096
					    : 0;
		if (!(ca->allowed_key_sizes & sz))
			violations_add(vs, "key_size_not_allowed", "csr_data",
				       "RSA key size %d is not allowed by CA %s", ci->key_bits,
				       ca->id ? ca->id : "");
	} else if (ci->key_type == KT_EC && !(ca->allowed_curves & ci->curve)) {
		violations_add(vs, "curve_not_allowed", "csr_data",
			       "EC curve %s is not allowed by CA %s",
			       ci->curve == CURVE_P256   ? "P-256"
			       : ci->curve == CURVE_P384 ? "P-384"
							 : "P-521",
			       ca->id ? ca->id : "");
	}
}

/*
 * Under the cabf_tls profile, TLS server certificates follow the CA/Browser
 * Forum subject profiles: DV (CN and C only) or OV (O, C, L or ST, CN), no
 * OU. The profile marks them with the matching reserved policy identifier.
 * Checked on the subject that will be issued.
 */
static void
check_cabf_subject(struct violations *vs, struct plan *plan)
{
	int have[NA_OTHER + 1] = {0};
	size_t i;

	for (i = 0; i < plan->natv; i++)
		have[plan->atv[i].kind]++;
	for (i = 0; i < plan->natv; i++) {
		enum name_attr_kind k = plan->atv[i].kind;
		if (k != NA_CN && k != NA_C && k != NA_O && k != NA_L && k != NA_ST)
			violations_add(
			    vs, "subject_not_allowed_for_server_auth", "csr_data",
			    "subject attribute %s is not allowed in a server_auth certificate "
			    "under the CA/Browser Forum profile (allowed: CN, O, L, ST, C)",
			    subject_attr_label(k));
	}
	if ((have[NA_O] || have[NA_L] || have[NA_ST]) &&
	    !(have[NA_O] && have[NA_C] && (have[NA_L] || have[NA_ST])))
		violations_add(
		    vs, "subject_not_allowed_for_server_auth", "csr_data",
		    "a server_auth subject with O, L or ST needs all of O, C and L or ST "
		    "(or only CN and C) under the CA/Browser Forum profile");
	plan->cabf_ov = have[NA_O] > 0;
}

int
policy_eval(const struct csr *c, const struct issue_request *req, const struct ca *ca,
	    struct violations *vs, struct plan *plan)
{
	size_t before = vs->n + vs->dropped;
	int maxd = ca->max_validity_days;
	const struct name_attr *cn = csr_cn(c);

	if (maxd < 1 || maxd > CA_MAX_VALIDITY_DAYS)
		maxd = CA_MAX_VALIDITY_DAYS;
	memset(plan, 0, sizeof(*plan));
	if (ca->status != CA_ACTIVE)
		violations_add(vs, "ca_disabled", "ca_id", "CA %s is disabled",
			       ca->id ? ca->id : "");
	if (ca->type != CA_INTERMEDIATE)
		violations_add(
		    vs, "ca_is_root", "ca_id",
		    "CA %s is a root; leaf certificates are issued by intermediates only",
		    ca->id ? ca->id : "");
	check_key(c, ca, vs);
	check_names(c, vs);
	check_cn(c, req, vs, plan);
	check_sans(c, vs);
	check_exts(c, req, ca, vs, plan);
	subject_eval(c, req, ca, vs, plan);
	plan->cabf = ca->profile == PROFILE_CABF_TLS && (plan->eku & EXT_SERVER_AUTH);
	if (plan->cabf && maxd > CABF_MAX_VALIDITY_DAYS)
		maxd = CABF_MAX_VALIDITY_DAYS;
	if (req->validity_days < 1 || req->validity_days > maxd)
		violations_add(vs, "validity_out_of_range", "validity_days",
			       "validity_days must be 1..%d for this CA%s, got %d", maxd,
			       plan->cabf ? " (CA/Browser Forum TLS profile)" : "",
			       req->validity_days);
	if (plan->cabf)
		check_cabf_subject(vs, plan);
	if ((plan->eku & EXT_SERVER_AUTH) && cn != NULL && plan->cn_san != CN_SAN_DNS &&
	    plan->cn_san != CN_SAN_IP && !dns_name_like(cn->utf8, cn->utf8_len) && !cn_is_ip(cn))
		violations_add(
		    vs, "cn_invalid_dns", "common_name",
		    "server_auth certificates need a CN that is a DNS name or an IP address");
	if ((plan->eku & EXT_SERVER_AUTH) && c->ndns + c->nip == 0 && plan->cn_san != CN_SAN_DNS &&
	    plan->cn_san != CN_SAN_IP)
		violations_add(vs, "san_missing", "common_name",
			       "server_auth needs a DNS name or IP address: make the CN a DNS name "
			       "or add SANs");
	return vs->n + vs->dropped == before ? 0 : -1;
}

int
policy_check(const struct csr *c, const struct issue_request *req, const struct ca *ca,
	     struct violations *vs, struct subject_notes *notes)
{
	struct plan *plan = malloc(sizeof(*plan));
	int rc;

	if (plan == NULL) {
		violations_add(vs, "internal_error", "csr_data", "out of memory");
		return -1;
	}
	rc = policy_eval(c, req, ca, vs, plan);
	if (notes != NULL)
		*notes = plan->notes;
	free(plan);
	return rc;
}
