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

/* Keeps payload for topic under id, due OUTBOX_GRACE_S from now. 0 or STORE_EDOWN. */
int outbox_add(const struct store *s, const char *id, const char *topic, const char *payload);

/* Drops id's entry (published, or nothing left to publish). 0 or STORE_EDOWN. */
int outbox_del(const struct store *s, const char *id);

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
