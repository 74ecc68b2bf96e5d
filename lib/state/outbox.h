/*
 * The gateway's outbox: a message it is about to publish for a request it
 * has just recorded, kept in Redis until the publish is confirmed, so that a
 * gateway that dies between the record and the publish leaves no request
 * waiting forever. Keys (prefix P, store.h):
 *
 *   P outbox:msg    hash: {id} → "{topic}\n{payload}"
 *   P outbox:due    sorted set: {id} → the time a sweep may send it again
 *
 * Any gateway's sweep takes the entries due (moving each OUTBOX_GRACE_S
 * ahead first, so that two gateways do not take the same one at once) and
 * sends again those whose record is still in the state it was published in
 * (a copy the consumers already had counts once: they move records by
 * compare-and-set). Payloads hold no secret.
 */
#ifndef PKI_OUTBOX_H
#define PKI_OUTBOX_H

#include <stddef.h>

#include "store.h"

/* Longer than one publish may take (GATEWAY_PRODUCE_TIMEOUT_MS) with room to spare. */
#define OUTBOX_GRACE_S 30
#define OUTBOX_SWEEP_MAX 50 /* entries one sweep takes */

#define OUTBOX_DEL_MAX 256 /* entries one outbox_del_many call drops at most */

/*
 * Writes rec as a new record (store_create) and keeps payload for topic
 * under rec->id, due OUTBOX_GRACE_S from now, in one script: both or
 * neither. Returns 0, STORE_EEXIST, STORE_EINVAL or STORE_EDOWN.
 */
int outbox_add_record(const struct store *s, const struct req_record *rec, const char *topic,
		      const char *payload);

/* Drops id's entry (published, or nothing left to publish). 0 or STORE_EDOWN. */
int outbox_del(const struct store *s, const char *id);

/* Drops the entries of ids[0..n-1] (n <= OUTBOX_DEL_MAX) in one script. 0 or STORE_EDOWN. */
int outbox_del_many(const struct store *s, const char *const *ids, size_t n);

/*
 * What a sweep does with one entry (strings borrowed for the call): 0 when
 * done with it (sent, or nothing to send), -1 to keep it for a later sweep.
 */
typedef int (*outbox_fn)(void *arg, const char *id, const char *topic, const char *payload);

/*
 * Takes up to OUTBOX_SWEEP_MAX entries due now, calls fn on each and drops
 * those it is done with. Returns how many it took, or STORE_EDOWN.
 */
int outbox_sweep(const struct store *s, outbox_fn fn, void *arg);

#endif
