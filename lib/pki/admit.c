#include "admit.h"

#include <string.h>

#include "namepol.h"
#include "roster.h"

/* Violation codes answered with something other than 422. */
static const struct {
	const char *code;
	unsigned status;
} admit_status[] = {
    {"ca_not_found", 404},
    {"csr_multiple", 400}, /* not a CSR that breaks a rule: a paste of two things */
};

unsigned
admit_http_status(const char *code)
{
	size_t i;

	for (i = 0; i < sizeof(admit_status) / sizeof(admit_status[0]); i++)
		if (strcmp(admit_status[i].code, code) == 0)
			return admit_status[i].status;
	return 422;
}

/* The tenant the request is for: the user's own, or one an admin acts for. */
static int
admit_tenant(const struct roster *r, const struct admit_request *rq, struct admit_result *out,
	     struct violations *vs)
{
	const struct user *u = rq->user;
	const struct tenant *t;

	out->tenant = u->tenant;
	if (rq->tenant_id == NULL || strcmp(rq->tenant_id, u->tenant) == 0)
		return 0;
	if (!roster_tenant_admin(u, rq->tenant_id)) {
		violations_add(
		    vs, "tenant_not_allowed", "tenant_id",
		    "tenant_id: user %s (tenant %s) may not request for tenant \"%.64s\"", u->name,
		    u->tenant, rq->tenant_id);
		return -1;
	}
	if ((t = roster_tenant_find(r, rq->tenant_id)) == NULL) {
		violations_add(vs, "unknown_tenant", "tenant_id", "tenant_id: no tenant \"%.64s\"",
			       rq->tenant_id);
		return -1;
	}
	out->tenant = t->id;
	return 0;
}

/* The CA: the one named, if the user may use it and it issues, or the selected one. */
static int
admit_ca(const struct roster *r, const struct admit_request *rq, struct admit_result *out,
	 struct violations *vs)
{
	const struct user *u = rq->user;
	const struct ca *ca;

	if (rq->ca_id == NULL) {
		struct select_query q = {out->tenant, rq->purpose, u->email, rq->client_ip};
		struct select_result sr;
		char tried[SELECT_TRIED_MAX];

		if (select_ca(r, u, &q, &sr, tried) < 0) {
			violations_add(vs, "no_suitable_ca", "ca_id", "%.250s", tried);
			return -1;
		}
		out->ca = sr.ca;
		snprintf(out->reason, sizeof(out->reason), "%s", sr.reason);
		return 0;
	}
	ca = roster_ca_find(r, rq->ca_id);
	if (ca != NULL && ca->type == CA_ROOT) {
		violations_add(vs, "ca_not_issuing", "ca_id",
			       "ca_id: %s is a root CA; roots never sign through the request API, "
			       "use one of its intermediates",
			       ca->id);
		return -1;
	}
	if (ca == NULL || !roster_user_may_use(u, ca)) {
		violations_add(vs, "ca_not_found", "ca_id",
			       "ca_id: no CA \"%.64s\" available to user %s", rq->ca_id, u->name);
		return -1;
	}
	if (ca->status != CA_ACTIVE || !ca->api_issuance) {
		violations_add(vs, "ca_not_issuing", "ca_id", "ca_id: CA %s is %s", ca->id,
			       ca->status != CA_ACTIVE ? "disabled" : "not open to API issuance");
		return -1;
	}
	out->ca = ca;
	snprintf(out->reason, sizeof(out->reason), "requested by ca_id");
	return 0;
}

void
admit_issue_request(const struct roster *r, const char *tenant, const char *common_name,
		    int validity_days, unsigned extensions, struct issue_request *ir)
{
	const struct tenant *t = roster_tenant_find(r, tenant);

	memset(ir, 0, sizeof(*ir));
	ir->common_name = common_name;
	ir->validity_days = validity_days;
	ir->extensions = extensions;
	ir->tenant = tenant;
	ir->organizations = t != NULL ? (const char *const *)t->organizations : NULL;
}

int
admit_check(const struct roster *r, const struct admit_request *rq, struct admit_result *out,
	    struct violations *vs)
{
	struct issue_request ir;

	memset(out, 0, sizeof(*out));
	if (rq->user == NULL) {
		violations_add(vs, "requester_unknown", "requester",
			       "requester: no user \"%.64s\" in the configuration",
			       rq->requester != NULL ? rq->requester : "");
		return -1;
	}
	if (admit_tenant(r, rq, out, vs) < 0 || admit_ca(r, rq, out, vs) < 0)
		return -1;
	if (csr_parse(rq->csr, strlen(rq->csr), &out->csr, vs) < 0) {
		if (vs->n == 0)
			violations_add(vs, "csr_invalid", "csr_data", "the CSR was refused");
		return -1;
	}
	admit_issue_request(r, out->tenant, rq->common_name, rq->validity_days, rq->extensions,
			    &ir);
	/* Both run, so one answer lists every policy and every name problem. */
	if ((policy_check(out->csr, &ir, out->ca, vs, &out->notes) < 0) |
	    (namepol_check(out->csr, roster_tenant_find(r, out->tenant), out->ca, vs) < 0))
		return -1;
	out->needs_approval = out->ca->requires_manual_approval;
	return 0;
}
