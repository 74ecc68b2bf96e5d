/*
 * libFuzzer target over the whole issuance path short of the network:
 * intake (csr_parse), validation (policy_check), profile (TBS build), lint,
 * and signing. The first input byte picks the mode:
 *   even: the rest is the CSR as uploaded (PEM or DER), issued when valid;
 *   odd:  differential: the rest is DER given to both csr_parse and the
 *         OpenSSL-based reference (tests/refcsr.h); any disagreement aborts.
 * The request (common name from the CSR, validity from byte 2) varies too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "issue_int.h"
#include "../refcsr.h"
#include "../testca.h"

static struct testca ca;
static struct signer *signer;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* At exit: nothing left for the leak checker but a finding. */
static void
fuzz_issue_cleanup(void)
{
	signer_free(signer);
	testca_free(&ca);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir =
	    getenv("PKI_TEST_CA_DIR") ? getenv("PKI_TEST_CA_DIR") : "tests/fixtures/ca";

	(void)argc;
	(void)argv;
	if (testca_load(&ca, dir, "ec-p256") != 0 || (signer = signer_new(&ca.ca)) == NULL) {
		fprintf(stderr, "fuzz: cannot load the test CA from %s (run from the repo root)\n",
			dir);
		abort();
	}
	atexit(fuzz_issue_cleanup);
	return 0;
}

static void
differential(const uint8_t *der, size_t len)
{
	struct violations vs = {0};
	struct csr *c = NULL;
	struct ref_csr r;
	int mine, i;

	if (len == 0 || der[0] != 0x30)
		return;
	mine = csr_parse(der, len, &c, &vs) == 0;
	ref_csr_parse(der, len, &r);
	if (mine && !r.ok && r.why && strcmp(r.why, "d2i") == 0)
		for (i = 0; c != NULL && (size_t)i < c->nattrs; i++)
			if (c->attrs[i].flags & STR_BAD_UTF8)
				mine = -1; /* refused later by policy (name_invalid_utf8) */
	if (mine == -1) {
		ref_csr_free(&r);
		csr_free(c);
		return;
	}
	if (mine != r.ok) {
		if (mine || !ref_stricter_by_design(der, (long)len, &vs)) {
			fprintf(stderr, "differential: ours %s (%s), OpenSSL %s (%s)\n",
				mine ? "accepts" : "refuses", vs.n ? vs.v[0].message : "",
				r.ok ? "accepts" : "refuses", r.why ? r.why : "");
			abort();
		}
	} else if (mine) {
		const struct csr_info *ci = csr_info(c);
		if (ci->key_type != r.key_type || ci->key_bits != r.key_bits ||
		    strcmp(ci->sig_alg, r.sig_alg) != 0 || c->nattrs != r.nattrs ||
		    ci->requested_ext != r.eku || ci->requests_ca != r.requests_ca ||
		    c->ndns != r.ndns || c->nip != r.nip || c->nemail != r.nemail ||
		    c->nuri != r.nuri) {
			fprintf(stderr, "differential: extracted fields differ\n");
			abort();
		}
		for (i = 0; (size_t)i < c->nattrs; i++)
			if (r.attr[i] != NULL &&
			    ((size_t)r.attr_len[i] != c->attrs[i].utf8_len ||
			     memcmp(r.attr[i], c->attrs[i].utf8, c->attrs[i].utf8_len))) {
				fprintf(stderr, "differential: subject attribute %d differs\n", i);
				abort();
			}
		for (i = 0; (size_t)i < c->ndns; i++)
			if (strcmp(ci->dns_sans[i], r.dns[i]) != 0) {
				fprintf(stderr, "differential: DNS SAN %d differs\n", i);
				abort();
			}
	}
	ref_csr_free(&r);
	csr_free(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct violations vs = {0};
	struct csr *c = NULL;
	struct issued *is = NULL;
	struct issue_request rq = {0};

	if (size < 2)
		return 0;
	if (data[0] & 1) {
		differential(data + 2, size - 2);
		return 0;
	}
	if (csr_parse(data + 2, size - 2, &c, &vs) != 0) {
		if (vs.n == 0)
			abort(); /* a refusal always says why */
		return 0;
	}
	rq.common_name = csr_info(c)->cn ? csr_info(c)->cn : "fuzz.example.com";
	rq.validity_days = 1 + data[1] * 15;
	rq.extensions = (data[0] >> 1) & 0x7;
	if (signer_issue(signer, c, &rq, NULL, NULL, &is, &vs) == 0) {
		/* Whatever passed policy must also have passed lint: never a lint error here. */
		if (is->der_len == 0 || is->cert_pem == NULL)
			abort();
		issued_free(is);
	} else {
		for (size_t i = 0; i < vs.n; i++)
			if (strcmp(vs.v[i].code, "lint_error") == 0) {
				fprintf(stderr, "policy accepted but lint refused: %s\n",
					vs.v[i].message);
				abort();
			}
	}
	csr_free(c);
	return 0;
}
