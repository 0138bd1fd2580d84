/*
 * sip_store.h - the subscriptions sipd must re-establish after a restart or
 * a kill -9: one row per subscription the gateway holds towards a SIP
 * presentity for an XMPP watcher (who, to whom, until when).
 *
 * Why a SQLite file per instance (data_dir/sipd-<instance>.db) and not
 * policyd: the rows change on every SUBSCRIBE/expiry (a write per event,
 * on the SIP path), belong to one instance (affinity "sip_user|xmpp_bare"
 * brings the pair back to the same instance name after a restart), and
 * must be readable before the broker and policyd answer. policyd's
 * ContactState records who added whom, not dialogs and expiry. WAL mode
 * with synchronous=NORMAL: a committed row survives the process being
 * killed (only an OS crash can lose the last transactions).
 *
 * SIP watchers' subscriptions to XMPP contacts are not stored: their
 * dialogs live in the watcher's UA, which re-subscribes after the 481 its
 * next refresh is answered with (RFC 6665 4.1.2.2); the XMPP side holds the
 * approval, so the new subscription becomes active again at once.
 *
 * No sofia-sip or czmq here. Single-threaded.
 */
#ifndef SIP_STORE_H
#define SIP_STORE_H

#include <stdint.h>

typedef struct sip_store sip_store_t;

/* Opens (creating) the database at path. NULL on failure (logged). */
sip_store_t *sip_store_open(const char *path);

/* Closes and nulls *self_p. Idempotent. */
void sip_store_close(sip_store_t **self_p);

/* Records (or updates) the subscription of watcher (XMPP bare JID) to
 * presentity (SIP user's bare JID), kept until expires_at (Unix s) unless
 * renewed (sip_subs.c renews it at every 2xx, for a week).
 * Returns 0 or XGW_EIO (logged). */
int sip_store_put(sip_store_t *self, const char *watcher, const char *presentity,
                  int64_t expires_at);

/* Forgets it. Returns 0 (also when there was none) or XGW_EIO. */
int sip_store_delete(sip_store_t *self, const char *watcher, const char *presentity);

/* Calls fn for every row whose expiry is after now (Unix s), and deletes
 * the others. Returns the number of rows given to fn, or XGW_EIO. */
int sip_store_load(sip_store_t *self, int64_t now,
                   void (*fn)(void *ud, const char *watcher, const char *presentity,
                              int64_t expires_at),
                   void *ud);

#endif
