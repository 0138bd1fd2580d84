/*
 * xgw_dialback.h - XMPP server dialback keys (XEP-0185, XEP-0220) and the
 * keyring certd shares with every xmppd.
 *
 * key = lower-case hex of HMAC-SHA256(K, "<Receiving> <Originating> <StreamID>")
 * where K is the 64-character lower-case hex *string* of SHA-256(secret)
 * (not the 32 raw bytes; checklist S2S-14 and section 10).
 *
 * The keyring holds the current secret and, for an overlap window after a
 * rotation, the previous one with its expiry time: keys made with either
 * verify until the previous one expires; new keys always use the current
 * one. certd writes the keyring file (mode 0600, atomic rename) and
 * publishes its version; xmppd processes read the file when the version
 * changes. File format (text, one record per line):
 *     # comment
 *     version N
 *     current <created unix seconds> <hex of the secret bytes>
 *     previous <expiry unix seconds> <hex of the secret bytes>
 *
 * Secrets are wiped from memory when a keyring is destroyed. Nothing here
 * logs.
 */
#ifndef XGW_DIALBACK_H
#define XGW_DIALBACK_H

#include <stddef.h>
#include <stdint.h>

#define XGW_DIALBACK_KEY_HEX 64      /* characters of a key */
#define XGW_DIALBACK_SECRET_MAX 1024 /* bytes of a secret */

/* Computes the dialback key for secret (len bytes, len >= 1) into out
 * (65 bytes: 64 hex digits and a NUL). Returns 0, or XGW_EINVAL when an
 * argument is NULL or empty. */
int xgw_dialback_key(const uint8_t *secret, size_t len, const char *receiving,
                     const char *originating, const char *stream_id,
                     char out[XGW_DIALBACK_KEY_HEX + 1]);

typedef struct xgw_dialback_ring xgw_dialback_ring_t;

/* An empty keyring (version 0, no secret). NULL on allocation failure. The
 * caller owns it. */
xgw_dialback_ring_t *xgw_dialback_ring_new(void);

/* Wipes and frees; nulls *self_p. Idempotent. */
void xgw_dialback_ring_destroy(xgw_dialback_ring_t **self_p);

/* Reads a keyring file. Returns 0 and *out (caller owns), or XGW_ENOENT,
 * XGW_EIO, XGW_EINVAL (malformed file); *out is NULL on failure. */
int xgw_dialback_ring_load(const char *path, xgw_dialback_ring_t **out);

/* Writes the keyring to path atomically with mode 0600. Returns 0 or
 * XGW_EIO / XGW_EINVAL. */
int xgw_dialback_ring_save(const xgw_dialback_ring_t *self, const char *path);

/* Makes secret (len bytes, copied) the current one. The former current
 * secret becomes the previous one, expiring at now + overlap_s (with
 * overlap_s 0 it is dropped at once); an older previous one is dropped.
 * The version goes up by one. Returns 0, XGW_EINVAL, or XGW_ENOMEM. */
int xgw_dialback_ring_rotate(xgw_dialback_ring_t *self, const uint8_t *secret, size_t len,
                             int64_t now, int64_t overlap_s);

/* Drops the previous secret if it expired at or before now (version + 1).
 * Returns 1 if it dropped one, 0 otherwise. */
int xgw_dialback_ring_expire(xgw_dialback_ring_t *self, int64_t now);

/* Key for a new dialback request, with the current secret. Returns 0, or
 * XGW_ENOENT when the keyring is empty. */
int xgw_dialback_ring_key(const xgw_dialback_ring_t *self, const char *receiving,
                          const char *originating, const char *stream_id,
                          char out[XGW_DIALBACK_KEY_HEX + 1]);

/* Verifies a key received in <db:verify> (case-insensitive hex, constant
 * time). Returns 1 if it was made with the current secret, 2 if with the
 * previous secret and now is before its expiry, 0 otherwise. */
int xgw_dialback_ring_verify(const xgw_dialback_ring_t *self, int64_t now, const char *receiving,
                             const char *originating, const char *stream_id, const char *key);

/* Facts for `xgwctl cert dialback show` (never the secret). */
uint64_t xgw_dialback_ring_version(const xgw_dialback_ring_t *self);
int64_t xgw_dialback_ring_created(const xgw_dialback_ring_t *self);
/* Expiry of the previous secret, or 0 when there is none. */
int64_t xgw_dialback_ring_previous_expires(const xgw_dialback_ring_t *self);

/* Returns 1 if the current secret equals secret (constant time). */
int xgw_dialback_ring_is_current(const xgw_dialback_ring_t *self, const uint8_t *secret,
                                 size_t len);

#endif
