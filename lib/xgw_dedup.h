/*
 * xgw_dedup.h - receiver-side de-duplication of GWP requests by msg_id.
 *
 * A worker asks begin() for every REQUEST. The first sighting creates an
 * in-progress entry; a repeat while in progress is to be ignored (the answer
 * is coming); a repeat after finish() gets the cached answer again. Entries
 * live for ttl_ms and at most max entries are kept (oldest dropped first), so
 * memory is bounded whatever the request rate.
 */
#ifndef XGW_DEDUP_H
#define XGW_DEDUP_H

#include "xgw_gwp.h"

#include <stddef.h>
#include <stdint.h>

#define XGW_DEDUP_MAX_BODY (64 * 1024)
#define XGW_DEDUP_MAX_BYTES (64 * 1024 * 1024)

typedef struct xgw_dedup xgw_dedup_t;

typedef enum {
    XGW_DEDUP_NEW = 0,         /* first sighting: process it */
    XGW_DEDUP_IN_PROGRESS = 1, /* being processed: drop the repeat */
    XGW_DEDUP_DONE = 2,        /* answered: re-send the cached answer */
} xgw_dedup_state_t;

/* Creates an empty cache. Returns NULL on allocation failure. The caller owns
 * it and frees it with xgw_dedup_destroy. */
xgw_dedup_t *xgw_dedup_new(size_t max, int64_t ttl_ms);

/* Frees the cache and every cached answer; nulls *self_p. Idempotent. */
void xgw_dedup_destroy(xgw_dedup_t **self_p);

/* Looks id up and records it as in progress if new. For XGW_DEDUP_DONE sets
 * *status, *body and *body_len to the cached answer, which stays owned by the
 * cache and is valid until the next call on it. Returns the state, or a
 * negative code on allocation failure (treat as NEW: better a duplicate than
 * a loss). */
int xgw_dedup_begin(xgw_dedup_t *self, const uint8_t id[XGW_GWP_MSGID_LEN], int64_t now_ms,
                    uint16_t *status, const uint8_t **body, size_t *body_len);

/* Stores the answer for id (copied). An unknown id is added as done. Returns
 * 0 or XGW_ENOMEM (the answer is then not cached; a repeat is reprocessed). */
int xgw_dedup_finish(xgw_dedup_t *self, const uint8_t id[XGW_GWP_MSGID_LEN], int64_t now_ms,
                     uint16_t status, const uint8_t *body, size_t body_len);

/* Drops any entry for id (a request that was abandoned and may be retried). */
void xgw_dedup_forget(xgw_dedup_t *self, const uint8_t id[XGW_GWP_MSGID_LEN]);

/* Removes expired entries and trims to max. Called by begin/finish too. */
void xgw_dedup_expire(xgw_dedup_t *self, int64_t now_ms);

/* Entries held now. */
size_t xgw_dedup_size(const xgw_dedup_t *self);

#endif
