/*
 * sip_stack.h - the SIP half of xgw-sipd, as seen from the GWP half.
 *
 * sipd is split in two kinds of translation units that never include each
 * other's headers: the sofia-sip units (sip_stack.c, sip_in.c, sip_out.c,
 * sip_subs.c, with sip_int.h) and the GWP units (sipd_main.c,
 * sipd_bridge.c, which include the edge runtime). Sofia's and czmq's
 * headers define clashing macros; this header is the whole interface
 * between the halves and uses only plain C types. Addresses crossing it are
 * JIDs ("romeo@example.net/orchard"): the SIP half maps URIs on the way in
 * and out, so the GWP half never sees SIP syntax.
 *
 * Everything runs on one thread, the one that calls sip_stack_step.
 */
#ifndef SIP_STACK_H
#define SIP_STACK_H

#include "xgw_cidr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sip_stack sip_stack_t;

/* An incoming request waiting for its final response (a MESSAGE held until
 * the XMPP side has the stanza). Owned by the SIP half; the GWP half holds
 * a borrowed pointer until it calls sip_txn_answer, exactly once. */
typedef struct sip_txn sip_txn_t;

/* One message, either way. Strings are borrowed for the duration of the
 * call that carries them; NULL or "" when absent. */
typedef struct {
    const char *from; /* JID; full when the sender's GRUU is known */
    const char *to;   /* JID */
    const char *body;
    size_t body_len;
    const char *subject;
    const char *thread; /* Call-ID (SIP to XMPP) / <thread/> */
    const char *lang;   /* Content-Language / xml:lang */
    const char *id;     /* stanza id (XMPP to SIP), for logs */
    int max_forwards;   /* from the SIP request minus one (ROB-10); -1 unknown */
} sip_im_t;

/* Availability of one resource (PIDF tuple) of a presentity. */
typedef struct {
    const char *from; /* JID, full when a resource is known */
    const char *to;   /* bare JID of the watcher */
    bool available;
    const char *show;   /* "", "away", "chat", "dnd", "xa" */
    const char *status; /* note */
    const char *lang;
    int priority;
} sip_presence_t;

/* Subscription events crossing the halves (RFC 7248 section 4). */
typedef enum {
    SIP_SUB_SUBSCRIBE = 0,    /* watcher asks to subscribe */
    SIP_SUB_SUBSCRIBED = 1,   /* the presentity approved */
    SIP_SUB_UNSUBSCRIBE = 2,  /* watcher ends the subscription */
    SIP_SUB_UNSUBSCRIBED = 3, /* the presentity refused or revoked */
} sip_sub_op_t;

/* Calls from the SIP half into the GWP half. */
typedef struct {
    void *ud;
    /* A MESSAGE that passed the SIP checks (trusted peer, size, type,
     * addresses). The GWP half answers txn with sip_txn_answer, now or
     * later, exactly once. */
    void (*message_in)(void *ud, sip_txn_t *txn, const sip_im_t *im);
    /* The final response to a MESSAGE sent with sip_out_message. status is
     * the SIP code (408 when the transaction timed out, 503 for a transport
     * failure); phrase may be NULL. */
    void (*message_out_done)(void *ud, void *cookie, int status, const char *phrase);
    /* A SIP watcher's subscription to an XMPP contact changed (watcher is
     * the SIP user's bare JID, contact the XMPP bare JID): SUBSCRIBE for a
     * new subscription (expires_s 0: a poll, PRS-13, which asks for a
     * probe), UNSUBSCRIBE when it ended (Expires: 0, expiry, a failed
     * NOTIFY). The SIP side was already answered. */
    void (*watcher_op)(void *ud, const char *watcher, const char *contact, sip_sub_op_t op,
                       uint32_t expires_s);
    /* A subscription the gateway holds towards a SIP presentity for an XMPP
     * watcher changed state: SUBSCRIBED (first active NOTIFY) or
     * UNSUBSCRIBED (refused, revoked, or given up). from is the SIP user,
     * to the XMPP watcher (bare JIDs). */
    void (*presentity_op)(void *ud, const char *from, const char *to, sip_sub_op_t op);
    /* Presence of a SIP presentity for an XMPP watcher (one call per tuple,
     * then one per tuple that disappeared, as unavailable). */
    void (*presentity_presence)(void *ud, const sip_presence_t *p);
    /* The final response to a SUBSCRIBE sent by sip_subs_subscribe or
     * sip_subs_unsubscribe (cookie as given). */
    void (*subscribe_done)(void *ud, void *cookie, int status, const char *phrase);
    /* One of the descriptors given to sip_stack_watch_fd is readable. */
    void (*fd_ready)(void *ud);
} sip_hooks_t;

typedef struct {
    const char *sip_url;        /* "sip:127.0.0.1:5060": UDP and TCP */
    const char *sips_url;       /* "" = no TLS */
    const char *outbound_proxy; /* "" = by Request-URI */
    const char *cert_dir;       /* TLS agent.pem/cafile.pem; "" = none */
    const xgw_cidr_set_t *trusted;
    size_t max_message_body;
    uint32_t subscribe_expires_s;
    const char *user_agent; /* Server/User-Agent header */
    const char *store_path; /* SQLite file of sip_store.h; "" = none (tests) */
} sip_stack_opts_t;

/* Creates the su_root and the NUA stack and binds the listeners. hooks and
 * opts are copied (opts' strings too; trusted is copied). Returns NULL on
 * failure, with the reason logged (for instance a port already taken). */
sip_stack_t *sip_stack_new(const sip_stack_opts_t *opts, const sip_hooks_t *hooks);

/* Shuts the stack down (nua_shutdown, waiting at most timeout_ms for it to
 * finish its transactions), frees everything and nulls *self_p.
 * Transactions not answered yet are answered 503 first. Idempotent. */
void sip_stack_destroy(sip_stack_t **self_p, int64_t timeout_ms);

/* Registers fd with the loop: hooks.fd_ready runs when it is readable.
 * Returns 0 or XGW_EIO. */
int sip_stack_watch_fd(sip_stack_t *self, int fd);

/* Runs the loop once: waits at most timeout_ms for an event, handles what
 * is ready (timers, sockets, hooks). Returns 0. */
int sip_stack_step(sip_stack_t *self, int64_t timeout_ms);

/* While refusing (drain), new MESSAGE and SUBSCRIBE requests get 503 with
 * Retry-After, and the transactions already held are still answered. */
void sip_stack_set_refusing(sip_stack_t *self, bool refusing);

/* Number of incoming transactions held (waiting for the GWP half). */
size_t sip_stack_held(const sip_stack_t *self);

/* Answers a held transaction: status and phrase (NULL: the standard one),
 * Retry-After seconds when retry_after_s > 0. Frees it and nulls *txn_p.
 * 415 answers carry "Accept: text/plain". */
void sip_txn_answer(sip_txn_t **txn_p, int status, const char *phrase, int retry_after_s);

/* Sends a MESSAGE built from im (from: the XMPP sender, to: the SIP user)
 * through the outbound proxy: no Contact, Max-Forwards from im or 70, a new
 * Call-ID, From tag and branch. hooks.message_out_done reports the final
 * response with cookie. Returns 0, or XGW_EINVAL when an address cannot be
 * mapped to a SIP URI (nothing sent, no callback). */
int sip_out_message(sip_stack_t *self, const sip_im_t *im, void *cookie);

/* Counts for metrics. */
size_t sip_stack_out_in_flight(const sip_stack_t *self);

/* ---- subscriptions of SIP watchers to XMPP contacts (sip_subs.c) ----
 * Addressed by (watcher = SIP user's bare JID, contact = XMPP bare JID).
 * Each returns 0, or XGW_ENOENT when there is no such subscription (the
 * caller ignores it: an unsolicited answer, SUB-14). */

/* The XMPP contact approved: NOTIFY active (with the presence known so
 * far, or no body), SUB-09. */
int sip_subs_in_approve(sip_stack_t *self, const char *watcher, const char *contact);

/* The XMPP contact refused or revoked, or the subscription could not be
 * passed on: NOTIFY terminated;reason=REASON (retry-after when > 0), then
 * the dialog ends (SUB-09, ERR-09). */
int sip_subs_in_end(sip_stack_t *self, const char *watcher, const char *contact, const char *reason,
                    int retry_after_s);

/* Presence of the contact (p->from, full or bare JID) for the watcher
 * (p->to): NOTIFY active with the PIDF of every resource known (PRS-07).
 * XGW_EINVAL when it cannot be written as PIDF. */
int sip_subs_in_presence(sip_stack_t *self, const sip_presence_t *p);

/* ---- subscriptions the gateway holds for XMPP watchers to SIP users ----
 * Addressed by (watcher = XMPP bare JID, presentity = SIP user's bare JID).
 * hooks.subscribe_done reports the SUBSCRIBE's final response with cookie
 * (at once with 200 when the subscription already exists: SUB-14). Then
 * NOTIFYs come back through presentity_op and presentity_presence.
 * Returns 0, XGW_EINVAL (addresses not mappable; no callback), XGW_EAGAIN
 * (another SUBSCRIBE for the pair is in progress; no callback). */
int sip_subs_subscribe(sip_stack_t *self, const char *watcher, const char *presentity,
                       void *cookie);

/* An XMPP probe of a SIP user (PRS-11): a fetch (SUBSCRIBE Expires: 0,
 * From the prober's bare JID); its NOTIFY comes back as
 * presentity_presence (available per open tuple, else unavailable from
 * the bare JID), a 403/603 as presentity_op UNSUBSCRIBED (PRS-12), other
 * failures as nothing. Returns 0, XGW_EINVAL (not mappable) or
 * XGW_ENOMEM. */
int sip_subs_fetch(sip_stack_t *self, const char *watcher, const char *presentity);

/* In-dialog SUBSCRIBE Expires: 0 (SUB-07), and presentity_op UNSUBSCRIBED
 * for the XMPP watcher; subscribe_done with cookie (NULL: none wanted)
 * when it is answered (at once with 200 when there is no subscription). */
int sip_subs_unsubscribe(sip_stack_t *self, const char *watcher, const char *presentity,
                         void *cookie);

/* Starts subscribing again, paced, to what the store held at start (the
 * subscriptions of a previous run of this instance). Call once the policy
 * rules are loaded, so the state they bring back can be decided on.
 * Does nothing the second time. */
void sip_stack_restore(sip_stack_t *self);

/* Calls fn for every live subscription: side 0, a SIP user's (sip_user)
 * subscription to an XMPP contact (xmpp); side 1, the gateway's
 * subscription to a SIP user (sip_user) for an XMPP watcher (xmpp). fn
 * must not start or end subscriptions (copy, then act). */
void sip_subs_each(sip_stack_t *self,
                   void (*fn)(void *ud, int side, const char *sip_user, const char *xmpp),
                   void *ud);

/* Subscriptions held: watchers (SIP side subscribed to us) and
 * presentities (we subscribed to the SIP side). */
size_t sip_subs_count_in(const sip_stack_t *self);
size_t sip_subs_count_out(const sip_stack_t *self);

#endif
