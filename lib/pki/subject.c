/*
 * The subject policy: which of a CSR's subject attributes a certificate
 * gets, per CA (taken, required, fixed, dropped, refused) and per tenant
 * (the organizations it may name), and the issued Name built from that.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "der.h"
#include "issue_int.h"
#include "oids.h"

/* Issued order (most significant first), the OpenSSL and keytool order. */
static const enum name_attr_kind issue_order[NA_OTHER] = {NA_C,  NA_ST, NA_L,     NA_O,
							  NA_OU, NA_CN, NA_EMAIL, NA_SERIAL};

/* Per kind: label, OID, the string type a fixed value gets, RFC 5280 upper bound. */
static const struct {
	const char *label;
	const unsigned char *oid;
	size_t oid_len;
	unsigned fixed_tag;
	size_t max; /* characters (ub-* of RFC 5280 appendix A) */
} attr_info[NA_OTHER] = {
    [NA_CN] = {"CN", oid_cn, sizeof(oid_cn), DER_UTF8STRING, CSR_MAX_CN},
    [NA_O] = {"O", oid_o, sizeof(oid_o), DER_UTF8STRING, 64},
    [NA_OU] = {"OU", oid_ou, sizeof(oid_ou), DER_UTF8STRING, 64},
    [NA_C] = {"C", oid_c, sizeof(oid_c), DER_PRINTABLESTRING, 2},
    [NA_ST] = {"ST", oid_st, sizeof(oid_st), DER_UTF8STRING, 128},
    [NA_L] = {"L", oid_l, sizeof(oid_l), DER_UTF8STRING, 128},
    [NA_EMAIL] = {"emailAddress", oid_email_address, sizeof(oid_email_address), DER_IA5STRING, 255},
    [NA_SERIAL] = {"serialNumber", oid_serial_number, sizeof(oid_serial_number),
		   DER_PRINTABLESTRING, 64},
};

const char *
subject_attr_label(enum name_attr_kind kind)
{
	return kind < NA_OTHER ? attr_info[kind].label : NULL;
}

size_t
utf8_count(const char *s, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			k++;
	return k;
}

const char *
subject_value_check(unsigned kind, const char *v)
{
	size_t n = strlen(v), i;

	if (kind >= NA_OTHER)
		return "not a subject attribute the policy names";
	if (n == 0)
		return "must not be empty";
	if (!str_utf8_valid((const unsigned char *)v, n))
		return "must be valid UTF-8";
	for (i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return "must not hold control characters";
	if (utf8_count(v, n) > attr_info[kind].max)
		return kind == NA_C ? "must be 2 letters (ISO 3166)"
				    : "longer than RFC 5280 allows (O, OU, serialNumber 64; L, ST "
				      "128; emailAddress 255 characters)";
	if (kind == NA_C && !(n == 2 && v[0] >= 'A' && v[0] <= 'Z' && v[1] >= 'A' && v[1] <= 'Z'))
		return "must be 2 capital letters (ISO 3166)";
	for (i = 0; i < n && attr_info[kind].fixed_tag != DER_UTF8STRING; i++)
		if (attr_info[kind].fixed_tag == DER_PRINTABLESTRING
			? !str_printable_char((unsigned char)v[i])
			: (unsigned char)v[i] > 0x7e)
			return attr_info[kind].fixed_tag == DER_PRINTABLESTRING
				   ? "must hold PrintableString characters only (RFC 5280)"
				   : "must be ASCII (IA5String, RFC 5280)";
	return NULL;
}

size_t
rfc4514_escape(char *out, const char *v, size_t n)
{
	size_t k, o = 0;

	for (k = 0; k < n; k++) {
		unsigned char ch = (unsigned char)v[k];

		if ((ch != 0 && strchr(",+\"\\<>;=", ch) != NULL) ||
		    (k == 0 && (ch == '#' || ch == ' ')) || (k == n - 1 && ch == ' '))
			out[o++] = '\\';
		out[o++] = ch >= 0x20 && ch != 0x7f ? (char)ch : '?';
	}
	return o;
}

/* Adds a warning to the plan's notes (beyond SUBJECT_WARNINGS_MAX: not kept). */
static void __attribute__((format(printf, 4, 5)))
subject_warn(struct plan *plan, const char *code, const char *field, const char *fmt, ...)
{
	va_list ap;

	if (plan->notes.nwarnings >= SUBJECT_WARNINGS_MAX)
		return;
	va_start(ap, fmt);
	violation_vset(&plan->notes.warnings[plan->notes.nwarnings++], code, field, fmt, ap);
	va_end(ap);
}

/* 1 if the n bytes of o are one of the tenant's organizations. */
static int
org_allowed(const char *const *orgs, const char *o, size_t n)
{
	for (; orgs != NULL && *orgs != NULL; orgs++)
		if (strlen(*orgs) == n && memcmp(*orgs, o, n) == 0)
			return 1;
	return 0;
}

/* "Acme Corp, Acme" or "none configured" into buf. */
static void
org_list(const char *const *orgs, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (; orgs != NULL && *orgs != NULL && o < len; orgs++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? ", " : "", *orgs);
	if (o == 0)
		snprintf(buf, len, "none configured");
}

/* The CSR attribute as the issued subject's entry. */
static void
atv_from_attr(struct subject_atv *a, const struct name_attr *na)
{
	a->kind = na->kind;
	a->tag = na->tag;
	a->val = na->raw;
	a->len = na->raw_len;
	a->utf8 = na->utf8;
	a->utf8_len = na->utf8_len;
}

/* A fixed value as the issued subject's entry, in the string type of its kind. */
static void
atv_fixed(struct subject_atv *a, enum name_attr_kind kind, const char *value)
{
	a->kind = kind;
	a->tag = attr_info[kind].fixed_tag;
	a->val = (const unsigned char *)value;
	a->utf8 = value;
	a->len = a->utf8_len = strlen(value);
}

/*
 * Decides one CSR attribute: 1 kept, 0 dropped or refused (a warning or a
 * violation says why). *changed is set when the issued subject can no longer
 * be the CSR's bytes.
 */
static int
subject_decide(const struct name_attr *na, const struct issue_request *req, const struct ca *ca,
	       struct violations *vs, struct plan *plan, int *changed)
{
	const struct subject_policy *sp = &ca->subject;
	const char *caid = ca->id != NULL ? ca->id : "";
	const char *label = na->kind == NA_OTHER ? na->oid : attr_info[na->kind].label;
	char orgs[192];

	if (na->kind == NA_OTHER) {
		if (sp->other == SUBJ_FALLBACK_REFUSE) {
			violations_add(vs, "subject_attribute_not_allowed", "csr_data",
				       "subject %s=%.64s: CA %s refuses attributes it does not "
				       "name (subject.other: refuse)",
				       label, na->utf8, caid);
			return 0;
		}
		subject_warn(plan, "subject_attribute_dropped", "csr_data",
			     "%s=%.64s dropped: CA %s drops attributes it does not name", label,
			     na->utf8, caid);
		*changed = 1;
		return 0;
	}
	if (sp->fixed[na->kind] != NULL) {
		if (strlen(sp->fixed[na->kind]) != na->utf8_len ||
		    memcmp(sp->fixed[na->kind], na->utf8, na->utf8_len) != 0)
			subject_warn(plan, "subject_attribute_fixed", "csr_data",
				     "%s=%.64s replaced: CA %s fixes %s=%.64s", label, na->utf8,
				     caid, label, sp->fixed[na->kind]);
		*changed = 1;
		return 0; /* the fixed value is written instead */
	}
	switch (sp->action[na->kind]) {
	case SUBJ_DROP:
		subject_warn(plan, "subject_attribute_dropped", "csr_data",
			     "%s=%.64s dropped: CA %s drops %s", label, na->utf8, caid, label);
		*changed = 1;
		return 0;
	case SUBJ_REFUSE:
		violations_add(vs, "subject_attribute_not_allowed", "csr_data",
			       "subject %s=%.64s: CA %s refuses %s (subject.attributes.%s: refuse)",
			       label, na->utf8, caid, label, label);
		return 0;
	default:
		break;
	}
	if (na->kind == NA_O && !org_allowed(req->organizations, na->utf8, na->utf8_len)) {
		org_list(req->organizations, orgs, sizeof(orgs));
		if (sp->organization == SUBJ_FALLBACK_REFUSE) {
			violations_add(
			    vs, "organization_not_allowed", "csr_data",
			    "subject O=%.64s: not one of tenant %s's organizations (%s); "
			    "CA %s refuses it",
			    na->utf8, req->tenant != NULL ? req->tenant : "", orgs, caid);
			return 0;
		}
		subject_warn(plan, "subject_attribute_dropped", "csr_data",
			     "O=%.64s dropped: not one of tenant %s's organizations (%s)", na->utf8,
			     req->tenant != NULL ? req->tenant : "", orgs);
		*changed = 1;
		return 0;
	}
	if (na->kind != NA_CN && utf8_count(na->utf8, na->utf8_len) > attr_info[na->kind].max)
		violations_add(vs, "subject_attribute_too_long", "csr_data",
			       "subject %s is %zu characters; RFC 5280 allows %zu", label,
			       utf8_count(na->utf8, na->utf8_len), attr_info[na->kind].max);
	return 1;
}

/* The issued subject as RFC 4514 text (most significant last) into plan->notes. */
static void
subject_text(struct plan *plan, struct violations *vs)
{
	char *s = plan->notes.subject;
	size_t o = 0, i, need;

	s[0] = '\0';
	for (i = plan->natv; i-- > 0;) {
		const struct subject_atv *a = &plan->atv[i];

		need = strlen(attr_info[a->kind].label) + 2 * a->utf8_len + 3;
		if (o + need > SUBJECT_TEXT_MAX) {
			violations_add(vs, "subject_attribute_too_long", "csr_data",
				       "the subject is longer than %d characters as text",
				       SUBJECT_TEXT_MAX);
			return;
		}
		o += (size_t)snprintf(s + o, SUBJECT_TEXT_MAX - o, "%s%s=", o ? "," : "",
				      attr_info[a->kind].label);
		o += rfc4514_escape(s + o, a->utf8, a->utf8_len);
		s[o] = '\0';
	}
}

void
subject_eval(const struct csr *c, const struct issue_request *req, const struct ca *ca,
	     struct violations *vs, struct plan *plan)
{
	const struct subject_policy *sp = &ca->subject;
	int keep[CSR_MAX_ATTRS], have[NA_OTHER] = {0}, changed = 0;
	size_t i, k;
	enum name_attr_kind kind;

	plan->natv = 0;
	plan->notes.nwarnings = 0;
	for (i = 0; i < c->nattrs; i++)
		if ((keep[i] = subject_decide(&c->attrs[i], req, ca, vs, plan, &changed)))
			have[c->attrs[i].kind]++;
	for (k = 0; k < NA_OTHER; k++) {
		if (sp->fixed[k] != NULL) {
			changed = 1;
			have[k]++;
		}
		/* CN: check_cn names a missing one. */
		if (!have[k] && k != NA_CN && sp->action[k] == SUBJ_REQUIRED)
			violations_add(vs, "subject_attribute_missing", "csr_data",
				       "subject has no %s: CA %s requires it "
				       "(subject.attributes.%s: required)",
				       attr_info[k].label, ca->id != NULL ? ca->id : "",
				       attr_info[k].label);
	}
	plan->subject_rebuilt = changed;
	if (!changed) { /* the CSR's attributes in its order: its bytes are issued */
		for (i = 0; i < c->nattrs; i++)
			if (keep[i])
				atv_from_attr(&plan->atv[plan->natv++], &c->attrs[i]);
	}
	for (k = 0; changed && k < NA_OTHER; k++) {
		kind = issue_order[k];
		if (sp->fixed[kind] != NULL) {
			atv_fixed(&plan->atv[plan->natv++], kind, sp->fixed[kind]);
			continue;
		}
		for (i = 0; i < c->nattrs; i++)
			if (keep[i] && c->attrs[i].kind == kind)
				atv_from_attr(&plan->atv[plan->natv++], &c->attrs[i]);
	}
	subject_text(plan, vs);
}

void
subject_encode(const struct csr *c, const struct plan *plan, struct dbuf *out)
{
	size_t name, rdn, atv, i;

	if (!plan->subject_rebuilt) {
		dbuf_put(out, c->subject, c->subject_len);
		return;
	}
	name = dbuf_begin(out);
	for (i = 0; i < plan->natv; i++) {
		const struct subject_atv *a = &plan->atv[i];

		rdn = dbuf_begin(out);
		atv = dbuf_begin(out);
		dbuf_tlv(out, DER_OID, attr_info[a->kind].oid, attr_info[a->kind].oid_len);
		dbuf_tlv(out, a->tag, a->val, a->len);
		dbuf_end(out, DER_SEQUENCE, atv);
		dbuf_end(out, DER_SET, rdn);
	}
	dbuf_end(out, DER_SEQUENCE, name);
}
