/*
 * Request records in Redis (DESIGN.md "Redis keys"), prefix P (config
 * redis.prefix, default "pki:"):
 *
 *   P req:{id}                hash: every field of struct req_record by name
 *   P idem:{tenant}:{key}     string "{id} {sha256 of body}", 24 h
 *   P serial:{ca}:{serial}    string request id, set NX before signing
 *   P batch:{id}              hash: owner, tenant, size (declared, may be
 *                             absent), created, and one count per state
 *                             (how many of its requests are in it now)
 *   P batch:{id}:ids          sorted set (all scores 0, read in id order):
 *                             the batch's request ids
 *   P ev:{id}                 pub/sub channel; the new state is published on
 *                             every transition (long-poll wake-up)
 *
 * States move only forward (req_state_allowed, reqstate.h), by compare-and-set in
 * a Lua script that also publishes the change. Every script that writes a
 * record's state (here and the approver's) also moves the record's batch
 * counts in the same script (STORE_LUA_BATCH_MOVE), from the record's own
 * batch_id: a batch's counts cannot drift from its requests' states, and a
 * move that does not happen (a redelivered message) counts nothing. Every call uses the store's
 * shared pipe when it has one, else the calling thread's Redis connection
 * (redis_thread).
 */
#ifndef PKI_STORE_H
#define PKI_STORE_H

#include <stddef.h>

#include "hex.h"
#include "ids.h"
#include "redis.h"
#include "reqstate.h"

#define STORE_ID_MAX ID_BUF            /* ids.h; a state name fits too */
#define STORE_NSTATES REQ_NSTATES_REAL /* states a batch counts */
#define STORE_IDEM_TTL_S (24 * 3600)
#define STORE_IDEM_KEY_MAX 128
/* A key bound this long to a request with no record is bound again (its gateway died). */
#define STORE_IDEM_ORPHAN_S 10

/* Return codes besides 0. */
#define STORE_EDOWN (-2)     /* Redis unreachable or answered an error (logged) */
#define STORE_ENOTFOUND (-3) /* no such request */
#define STORE_ECONFLICT (-4) /* state was not `from` / idempotency key reused with another body */
#define STORE_EINVAL (-5)    /* transition not allowed by the state graph */
#define STORE_EEXIST (-6)    /* record already exists */
#define STORE_ELEASE (-7)    /* the claim on an issuing request is held by another worker */
#define STORE_EUSED (-8)     /* the approval grant was used by another claim already */
#define STORE_EBUSY (-9)     /* the idempotency key's request is still being recorded */

/* Where the records live. Both strings are borrowed (usually from the config). */
struct store {
	const char *redis_url;
	const char *prefix;
	struct redis_pipe *pipe; /* shared by the threads when set; else one connection each */
};

/*
 * Runs argv on s's pipe, or else on this thread's connection. Returns the
 * reply (caller frees with freeReplyObject), or NULL when Redis failed or
 * answered an error (logged). For the approver's own scripts too.
 */
redisReply *store_run(const struct store *s, int argc, const char **argv);

/*
 * One request, typed: strings are NUL-terminated or NULL (absent), numbers
 * are 0 when absent (none of them is 0 when known), times unix seconds.
 * The names of the hash fields are the member names; store.c's field table
 * is the one conversion between this and the hash.
 */
struct req_record {
	char *id;
	enum req_state state; /* REQ_NONE: absent */
	char *tenant;
	char *requester; /* user name */
	char *email;     /* requester's email */
	char *client_ip;
	char *ca_id;
	char *ca_reason; /* why this CA: "requested" or the selection match */
	char *common_name;
	long long validity_days;
	char *extensions; /* comma-separated names */
	char *purpose;
	char *batch_id;
	char *csr_sha256;
	long long created;
	long long updated;
	char *error_code;
	char *error_message;
	char *violations;   /* JSON array text */
	char *serial;       /* hex */
	char *certificate;  /* PEM */
	char *chain;        /* PEM, issuer first; read from chain_sha256's key when not here */
	char *chain_sha256; /* hex SHA-256 of the chain kept under P chain:{it} (store_chain_put) */
	char *subject;      /* RFC 4514: to be issued (admission), then as issued */
	char *warnings;     /* JSON array text: admission's notes (dropped attributes) */
	char *sans;         /* JSON array text of {type: dns|ip|email|uri, value} (admitjson.h) */
	long long not_before;
	long long not_after;
	char *key_type; /* RSA | EC | Ed25519 */
	long long key_bits;
	long long published;           /* 1 once the outcome went out on the results topic */
	long long approval_expires_at; /* while pending approval: when it expires */
};

/* Frees every string of rec and rec. NULL is safe. */
void req_record_free(struct req_record *rec);

/*
 * Sets field `name` of rec from its hash text value (a copy; NULL clears).
 * 0, or -1 for an unknown name, a number or state that does not parse, or
 * out of memory (rec unchanged then).
 */
int req_record_set(struct req_record *rec, const char *name, const char *value);

/*
 * Keeps chain (PEM) once under P chain:{sha256} for the records that name it
 * by chain_sha256 instead of holding a copy; its hex SHA-256 into sha.
 * Returns 0, or STORE_EDOWN.
 */
int store_chain_put(const struct store *s, const char *chain, char sha[HEX_SHA256_BUF]);

/* A fresh random request id (UUID v4 text) into out (>= 37 bytes). */
void store_id_new(char *out);

/*
 * Writes rec (rec->id and rec->state required; created/updated filled in
 * when 0) as a new record. Returns 0, STORE_EEXIST, or STORE_EDOWN.
 */
int store_create(const struct store *s, const struct req_record *rec);

/* A hash field and a sorted-set member written with a new record (borrowed strings). */
struct store_entry {
	const char *hash, *zset; /* the two keys */
	const char *member;      /* the field's name and the set's member */
	const char *value;       /* the field's value */
	const char *score;       /* the member's score */
};

/* store_create, writing e too in the same script: both or neither. */
int store_create_with(const struct store *s, const struct req_record *rec,
		      const struct store_entry *e);

/*
 * Moves request id from state `from` to `to` if it is still in `from`, and
 * sets the present fields of set (may be NULL; its id and state are not
 * used), stamping "updated" and publishing `to` on P ev:{id}.
 * Returns 0; STORE_ECONFLICT with the current state in *cur (may be NULL)
 * when it was not in `from`; STORE_ENOTFOUND; STORE_EINVAL when the graph
 * forbids from → to (nothing sent); STORE_EDOWN.
 */
int store_transition(const struct store *s, const char *id, enum req_state from, enum req_state to,
		     const struct req_record *set, enum req_state *cur);

/* Reads request id. Returns 0 and *out (free with req_record_free), STORE_ENOTFOUND or STORE_EDOWN.
 */
int store_get(const struct store *s, const char *id, struct req_record **out);

/* Reads only the state of id into *state. 0, STORE_ENOTFOUND or STORE_EDOWN. */
int store_get_state(const struct store *s, const char *id, enum req_state *state);

/*
 * Idempotency: binds (tenant, key) to id and body_sha256 unless already
 * bound. Returns 0 when bound now; 1 when it was bound to the same body
 * (the earlier request id in existing, STORE_ID_MAX); STORE_ECONFLICT when
 * bound to another body; STORE_EBUSY when bound to a request not recorded
 * yet (not recorded after STORE_IDEM_ORPHAN_S: bound to id again, 0); STORE_EDOWN.
 */
int store_idem_claim(const struct store *s, const char *tenant, const char *key,
		     const char *body_sha256, const char *id, char *existing);
/* Drops the binding of (tenant, key) if it still points at id (a refused request). */
int store_idem_release(const struct store *s, const char *tenant, const char *key, const char *id);

/*
 * Reserves serial_hex of CA ca_id for request_id (SET NX, no expiry).
 * Returns 0 if reserved, 1 if already taken, STORE_EDOWN. Matches
 * serial_reserve_fn of issue.h through store_serial_reserve_cb.
 */
int store_serial_reserve(const struct store *s, const char *ca_id, const char *serial_hex,
			 const char *request_id);

/* For signer_issue: arg is a struct store_serial_ctx. */
struct store_serial_ctx {
	const struct store *s;
	const char *ca_id;
	const char *request_id;
};
int store_serial_reserve_cb(void *arg, const char *serial_hex);

/* The pub/sub channel of request id ("P ev:{id}") into out (outlen). */
void store_channel(const struct store *s, const char *id, char *out, size_t outlen);

/*
 * Claims request id for processing: queued → issuing, recording claim (an
 * opaque token naming the worker and attempt) and claimed_at (Redis server
 * time, unix s). An issuing request whose claim is at least lease_s old is
 * re-taken the same way (the earlier holder can no longer finish it, see
 * store_transition_ex). Unlike a transition, the claim is not published on
 * P ev:{id}: issuing lasts milliseconds, and waking long-polls for it would
 * only make them ask again right before the outcome.
 *
 * With grant_mac (the approval grant of a manual-approval request, else
 * NULL) the grant's use is recorded in the same script, in P grant:{mac}
 * (value: the claim; kept grant_ttl_s, as long as the grant is valid): a
 * grant takes a request from queued to issuing once, ever, even if the
 * record is deleted and made again; a stale claim is re-taken only by the
 * claim that holds the grant, never after store_grant_spent.
 *
 * Returns 0 when claimed from queued (or already held under this very
 * claim: a retry after a lost reply), 1 when a stale claim was re-taken;
 * STORE_EUSED when the grant is used (nothing changed); STORE_ECONFLICT
 * with the current state in *cur (may be NULL) otherwise (issuing under a
 * live claim, or any other state); STORE_ENOTFOUND; STORE_EDOWN.
 */
int store_claim(const struct store *s, const char *id, const char *claim, long lease_s,
		const char *grant_mac, long grant_ttl_s, enum req_state *cur);

#define STORE_GRANT_SPENT "spent"
/* Marks the grant with grant_mac spent (its request ended): no claim takes it again. */
int store_grant_spent(const struct store *s, const char *grant_mac);

/*
 * store_transition with a guard done in the same Lua script: when claim is
 * not NULL the record's claim must equal it (else STORE_ELEASE, nothing
 * changed). A retry that finds the record already in `to` under this claim
 * returns 0: the first try made the move and only its reply was lost
 * (nothing is written again). Also stamps finished_ms (Redis server time, unix ms). batch_id
 * is not used: every state move counts in the record's own batch.
 */
int store_transition_ex(const struct store *s, const char *id, enum req_state from,
			enum req_state to, const struct req_record *set, const char *claim,
			const char *batch_id, enum req_state *cur);

/*
 * Sets the present fields of set (its id and state are not used) on an
 * existing record without changing its state. 0, STORE_ENOTFOUND or
 * STORE_EDOWN.
 */
int store_set_fields(const struct store *s, const char *id, const struct req_record *set);

/*
 * Sets name=value on each of the n records that exists, in one round trip
 * (a worker marking a batch published). 0 or STORE_EDOWN.
 */
int store_set_field_each(const struct store *s, const char *const *ids, size_t n, const char *name,
			 const char *value);

#define STORE_EACH_MAX 512 /* requests one store_*_each round trip takes at most */

/* One request of store_admit_each. */
struct store_admit {
	const struct req_record *rec; /* the record to make if absent (id required, state unused) */
	const char *claim;            /* the claim token, as store_claim's */
	int rc;                       /* out: 0 claimed, STORE_ECONFLICT, STORE_EDOWN */
	enum req_state cur;           /* out: the state it was in (REQ_NONE: made now) */
};

/*
 * For each a[i], in one script call for all of them (each item on its
 * own: one that fails in Redis answers STORE_EDOWN, the others go on): an
 * absent record is made from a[i].rec directly as issuing under a[i].claim (joining and
 * counting in its batch); a queued or received one that agrees with rec
 * (csr_sha256, ca_id, common_name, validity_days and tenant, where both
 * have them) is claimed as store_claim does (cur: queued or received); one
 * already issuing under this very claim (a retry after a lost reply) is
 * claimed too (cur: issuing). Anything else is left alone: STORE_ECONFLICT
 * with its state in cur. Not published, as store_claim. Returns 0 when
 * every item has its answer, STORE_EDOWN when some got none (their rc says
 * so; retrying them is safe), STORE_EINVAL when n > STORE_EACH_MAX.
 */
int store_admit_each(const struct store *s, struct store_admit *a, size_t n);

/* One request of store_finish_each. */
struct store_finish {
	const char *id, *ca_id, *claim;
	const struct req_record *set; /* the certificate's fields; serial required */
	int rc; /* out: 0, STORE_EEXIST, STORE_ELEASE, STORE_ECONFLICT, STORE_ENOTFOUND, STORE_EDOWN
		 */
	enum req_state cur; /* out: with STORE_ECONFLICT, the state it is in */
};

/*
 * For each f[i], in one script call as store_admit_each:
 * store_transition_ex issuing → issued under f[i].claim with f[i].set,
 * reserving the serial (P serial:{ca}:{serial}, value the request id) in the
 * same script: STORE_EEXIST, and nothing changed, when another request holds
 * that serial. Returns as store_admit_each.
 */
int store_finish_each(const struct store *s, struct store_finish *f, size_t n);

/*
 * Lua prelude of every script that changes a record's state:
 * batch_key(rk, b) is the batch hash of record key rk (nil when the record
 * has no batch_id), b its batch_id when the script read it already (false:
 * none; nil: read it); batch_move(rk, from, to, b) moves one count of that
 * batch from state `from` (nil: none, a new record) to `to`. The
 * store_*_each scripts share batch_key (STORE_LUA_BATCH_KEY) but sum their
 * moves and write them at the end.
 */
#define STORE_BATCH_IDS_SUFFIX ":ids"
#define STORE_LUA_BATCH_MOVE                                                                       \
	STORE_LUA_BATCH_KEY                                                                        \
	"local function batch_move(rk, from, to, b)\n"                                             \
	"  local bk = batch_key(rk, b)\n"                                                          \
	"  if not bk or from == to then return end\n"                                              \
	"  if from and from ~= '' then redis.call('HINCRBY', bk, from, -1) end\n"                  \
	"  if to then redis.call('HINCRBY', bk, to, 1) end\n"                                      \
	"end\n"
#define STORE_LUA_BATCH_KEY                                                                        \
	"local function batch_key(rk, b)\n"                                                        \
	"  if b == nil then b = redis.call('HGET', rk, 'batch_id') end\n"                          \
	"  local p = string.match(rk, '^(.*)req:[^:]*$')\n"                                        \
	"  if not b or not p then return nil end\n"                                                \
	"  return p .. 'batch:' .. b\n"                                                            \
	"end\n"

#define STORE_BATCH_PAGE_MAX 1000 /* request ids one store_batch_page call returns at most */

/* A batch (P batch:{id}). Strings are NULL when absent. */
struct batch_info {
	char *owner;     /* user name of the key that made it */
	char *tenant;    /* that user's tenant */
	long long size;  /* declared size, 0 when not given */
	long long total; /* request ids it holds */
	long long created;
	long long counts[STORE_NSTATES]; /* per state, in the order of store_batch_states */
};

/* The states a batch counts, in the order of batch_info.counts. */
extern const enum req_state store_batch_states[STORE_NSTATES];

/* Frees info's strings and info. NULL is safe. */
void batch_info_free(struct batch_info *info);

/*
 * Binds batch id to owner (and tenant, and the declared size when given and
 * not yet known) unless it is bound already. Returns 0 when it is (now)
 * owner's; STORE_ECONFLICT when another user owns it (that owner in
 * other, STORE_ID_MAX, may be NULL); STORE_EDOWN.
 */
int store_batch_claim(const struct store *s, const char *id, const char *owner, const char *tenant,
		      long long size, char *other);

/* Reads batch id. 0 and *out (batch_info_free), STORE_ENOTFOUND or STORE_EDOWN. */
int store_batch_get(const struct store *s, const char *id, struct batch_info **out);

/* One request of a batch page. */
struct batch_item {
	char id[STORE_ID_MAX];
	enum req_state state; /* REQ_NONE when the record is gone */
};

/*
 * Up to limit (1..STORE_BATCH_PAGE_MAX) request ids of batch id in id order,
 * each after `after` (NULL or "": from the first), with their states, into
 * items (limit entries); *n says how many, *more whether any follow.
 * 0, or STORE_EINVAL (limit), STORE_EDOWN.
 */
int store_batch_page(const struct store *s, const char *id, const char *after, size_t limit,
		     struct batch_item *items, size_t *n, int *more);

#endif
