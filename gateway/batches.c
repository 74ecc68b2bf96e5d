/*
 * GET /csr/batches/{id}: a bulk batch's counts by state and one page of its
 * requests. Only the batch's owner (the user of the key that made it) or an
 * admin of its tenant may read it; anyone else gets the 404 of a batch that
 * does not exist.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "gateway.h"
#include "ids.h"

_Static_assert(GATEWAY_BATCH_PAGE_MAX <= STORE_BATCH_PAGE_MAX, "a page fits one store call");

/* ?limit=N (default GATEWAY_BATCH_PAGE_DEFAULT): 0, or -1 after answering 400. */
static int
batch_limit_arg(struct http_req *req, size_t *limit)
{
	const char *l = http_query(req, "limit");
	char *end = NULL;
	long v;

	*limit = GATEWAY_BATCH_PAGE_DEFAULT;
	if (l == NULL || l[0] == '\0')
		return 0;
	v = strtol(l, &end, 10);
	if (*end != '\0' || v < 1 || v > GATEWAY_BATCH_PAGE_MAX) {
		http_reply_error(req, 400, "invalid_query", "limit", NULL, NULL,
				 "limit: must be an integer 1..%d, got \"%.32s\"",
				 GATEWAY_BATCH_PAGE_MAX, l);
		return -1;
	}
	*limit = (size_t)v;
	return 0;
}

/* 1 if u may read batch b: its owner, or an admin of its tenant. */
static int
batch_visible(const struct user *u, const struct batch_info *b)
{
	if (b->tenant == NULL)
		return 0;
	if (strcmp(b->owner, u->name) == 0 && strcmp(b->tenant, u->tenant) == 0)
		return 1;
	return roster_tenant_admin(u, b->tenant);
}

/* The answer: batch id, owner, tenant, size, total, counts, one page and the next cursor. */
static cJSON *
batch_json(const char *id, const struct batch_info *b, const struct batch_item *items, size_t n,
	   int more)
{
	cJSON *o = cJSON_CreateObject(), *c, *list, *it;
	size_t i;

	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "batch_id", id);
	cJSON_AddStringToObject(o, "owner", b->owner);
	cJSON_AddStringToObject(o, "tenant", b->tenant);
	if (b->size > 0)
		cJSON_AddNumberToObject(o, "declared_size", (double)b->size);
	else
		cJSON_AddNullToObject(o, "declared_size");
	cJSON_AddNumberToObject(o, "total", (double)b->total);
	c = cJSON_AddObjectToObject(o, "counts");
	for (i = 0; c != NULL && i < STORE_NSTATES; i++)
		cJSON_AddNumberToObject(c, req_state_name(store_batch_states[i]),
					(double)b->counts[i]);
	list = cJSON_AddArrayToObject(o, "requests");
	for (i = 0; list != NULL && i < n; i++) {
		if ((it = cJSON_CreateObject()) == NULL)
			break;
		cJSON_AddStringToObject(it, "request_id", items[i].id);
		cJSON_AddStringToObject(it, "state", req_state_name(items[i].state));
		cJSON_AddItemToArray(list, it);
	}
	if (more && n > 0)
		cJSON_AddStringToObject(o, "next_cursor", items[n - 1].id);
	else
		cJSON_AddNullToObject(o, "next_cursor");
	return o;
}

void
gateway_batch_get(struct gateway *gw, struct http_req *req, const char *id)
{
	const struct user *u = gateway_auth(gw, req);
	const char *down[] = {"Retry-After", GATEWAY_RETRY_DOWN_S, NULL};
	const char *cursor;
	struct batch_info *b = NULL;
	struct batch_item *items = NULL;
	size_t limit, n = 0;
	int rc, more = 0;
	cJSON *o;

	if (u == NULL)
		return;
	if (!id_valid(id)) { /* a batch id (ids.h) */
		http_reply_error(req, 404, "batch_not_found", "id", NULL, NULL,
				 "no batch \"%.64s\"", id);
		return;
	}
	if (batch_limit_arg(req, &limit) < 0)
		return;
	cursor = http_query(req, "cursor");
	if (cursor != NULL && cursor[0] != '\0' && !id_valid(cursor)) { /* a request id */
		http_reply_error(req, 400, "invalid_query", "cursor", NULL, NULL,
				 "cursor: must be the next_cursor of a page (a request id), got "
				 "\"%.64s\"",
				 cursor);
		return;
	}
	if ((rc = store_batch_get(&gw->store, id, &b)) == 0 && !batch_visible(u, b))
		rc = STORE_ENOTFOUND;
	if (rc == 0 && (items = calloc(limit, sizeof(*items))) == NULL)
		rc = STORE_EDOWN;
	if (rc == 0)
		rc = store_batch_page(&gw->store, id, cursor, limit, items, &n, &more);
	if (rc == STORE_ENOTFOUND)
		http_reply_error(req, 404, "batch_not_found", "id", NULL, NULL, "no batch \"%s\"",
				 id);
	else if (rc != 0 || (o = batch_json(id, b, items, n, more)) == NULL)
		http_reply_error(req, 503, "store_unavailable", NULL, NULL, down,
				 "request store unavailable");
	else {
		http_reply_json(req, 200, o, NULL);
		cJSON_Delete(o);
	}
	free(items);
	batch_info_free(b);
}
