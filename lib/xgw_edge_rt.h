/*
 * xgw_edge_rt.h - the runtime an edge process (xgw-xmppd, xgw-sipd) carries
 * beside its protocol stack.
 *
 * The edge owns its event loop (epoll in xmppd, su_root in sipd), so this
 * runtime does not run one: it hands out file descriptors to watch and asks
 * to be driven. It holds
 *  - the worker registration of the edge's service ("xmpp" or "sip"):
 *    Deliver requests from the other edge go to on_deliver, and the edge
 *    answers each one exactly once, later if it must wait for its peer
 *    (a SIP final response, an outbound s2s stream coming up);
 *  - a GWP client through which the edge sends Deliver requests to the other
 *    edge, with a callback per request when the answer (or a 504) arrives;
 *  - the policy view (xgw_edge_policy): the rule-set replica and decisions,
 *    asynchronous when contact state must be fetched from policyd;
 *  - status answers (Ping), "xgwctl decide --edge" answers, the metrics
 *    endpoint and the SIGTERM drain.
 *
 * Driving it: after the loop wakes on any of xgw_edge_rt_fds (ZeroMQ's
 * ZMQ_FD is edge-triggered) AND once every loop turn, call
 * xgw_edge_rt_process; wait at most xgw_edge_rt_tick() ms. Everything runs
 * on the loop thread.
 */
#ifndef XGW_EDGE_RT_H
#define XGW_EDGE_RT_H

#include "xgw_daemon.h"
#include "xgw_rules.h"
#include "xgw_worker.h"

#include "xgw/v1/gwp.pb-c.h"
#include "xgw/v1/im.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XGW_EDGE_RT_MAX_FDS 8

typedef struct xgw_edge_rt xgw_edge_rt_t;

typedef struct {
    const char *process; /* "xmppd" / "sipd" (static) */
    const char *service; /* "xmpp" / "sip" (static) */
    int64_t credit;      /* worker credit window */
    int64_t metrics_port;
    /* A Deliver request from the other edge. The edge owns *req_p (set it
     * to NULL to keep it) and answers it exactly once with
     * xgw_edge_rt_answer, now or later; if it returns without taking it
     * the runtime answers 500. deliver is valid only during the call. */
    void (*on_deliver)(void *ud, xgw_request_t **req_p, const Xgw__V1__Deliver *deliver);
    /* The rule set changed (after a snapshot or a change). Optional: the
     * edge re-checks live sessions against the new rules. */
    void (*on_rules_changed)(void *ud, const xgw_rules_t *rules);
    void *ud;
} xgw_edge_rt_def_t;

/* Starts the runtime for an initialised daemon (xgw_daemon_init done):
 * logging, signal handlers and metrics (xgw_daemon_start), the worker, the
 * client and the policy replica. def is copied. Returns NULL on failure
 * (logged). The caller owns the runtime; daemon must outlive it. */
xgw_edge_rt_t *xgw_edge_rt_new(const xgw_edge_rt_def_t *def, xgw_daemon_t *daemon);

/* Frees everything (requests still held by the edge stay the edge's: answer
 * or destroy them first); nulls *self_p. Idempotent. */
void xgw_edge_rt_destroy(xgw_edge_rt_t **self_p);

/* Fills fds with the descriptors to watch for readability; returns how
 * many (at most max). They do not change while the runtime lives. */
size_t xgw_edge_rt_fds(xgw_edge_rt_t *self, int *fds, size_t max);

/* Does all pending work without blocking: requests from the broker
 * (on_deliver), answers to sent requests (their callbacks), policy updates,
 * SIGHUP reloads. */
void xgw_edge_rt_process(xgw_edge_rt_t *self);

/* Time-driven work (heartbeats, retries, deadlines). Returns ms until it
 * next wants to run (never more than 1000, so signals are noticed). */
int64_t xgw_edge_rt_tick(xgw_edge_rt_t *self);

/* Answers a held request: status (200 delivered; 4xx/5xx failed) and an
 * optional result (NULL for none). Frees the request, nulls *req_p.
 * Returns 0, or a negative code (the request is consumed anyway). */
int xgw_edge_rt_answer(xgw_edge_rt_t *self, xgw_request_t **req_p, uint16_t status,
                       const Xgw__V1__DeliverResult *result);

/* Decodes the Deliver inside a held request again (the pointer given to
 * on_deliver is gone after the call). Returns a message the caller frees
 * with xgw__v1__request__free_unpacked, or NULL. */
Xgw__V1__Request *xgw_edge_rt_request_decode(const xgw_request_t *req);

/* The answer to a sent Deliver: status 200 (result NULL: a success
 * carries nothing the edge uses, so it is not decoded), or the failure
 * status with result (NULL when the far side sent none: broker 503/504,
 * client 504). */
typedef void (*xgw_edge_sent_fn)(void *ud, void *cookie, uint16_t status,
                                 const Xgw__V1__DeliverResult *result);

/* Sends a Deliver to service ("xmpp"/"sip") with the affinity key (NULL:
 * any worker) and a deadline (Unix ms; 0: now + common.request_timeout).
 * cb (may be NULL) runs from xgw_edge_rt_process or _tick with ud and
 * cookie, exactly once. Returns 0, XGW_EAGAIN when too many requests are
 * outstanding (back-pressure: stop reading input; nothing was sent), or
 * another negative code. */
int xgw_edge_rt_send(xgw_edge_rt_t *self, const char *service, const char *affinity,
                     int64_t deadline_ms, const Xgw__V1__Deliver *deliver, xgw_edge_sent_fn cb,
                     void *ud, void *cookie);

/* The same with the request already packed: an xgw.v1.Request (schema 1,
 * payload deliver) of len bytes, copied. For an edge that keeps what it
 * sends packed while it waits its turn, so a Deliver is packed once. Same
 * returns as xgw_edge_rt_send (XGW_EINVAL for NULL/empty bytes). */
int xgw_edge_rt_send_request(xgw_edge_rt_t *self, const char *service, const char *affinity,
                             int64_t deadline_ms, const uint8_t *request, size_t len,
                             xgw_edge_sent_fn cb, void *ud, void *cookie);

/* Requests sent and not answered yet; and whether the edge should stop
 * taking input (outstanding at or above the high-water mark). */
size_t xgw_edge_rt_outstanding(const xgw_edge_rt_t *self);
bool xgw_edge_rt_congested(const xgw_edge_rt_t *self);

/* The replica's rule set, NULL before the first snapshot (fail closed). */
const xgw_rules_t *xgw_edge_rt_rules(xgw_edge_rt_t *self);

/* A decision, delivered to cb exactly once: at once when the replica can
 * decide alone (the call returns after cb ran), or later when contact
 * state had to be fetched from policyd. Without rules, or when policyd
 * cannot answer, the decision is a denial (fail closed). out is valid only
 * during cb. Returns 0, or a negative code (cb not called). */
typedef void (*xgw_edge_decided_fn)(void *ud, void *cookie, const xgw_decision_t *out);
int xgw_edge_rt_decide(xgw_edge_rt_t *self, const char *from, const char *to, xgw_kind_t kind,
                       xgw_edge_decided_fn cb, void *ud, void *cookie);

/* Records that sip_user has (or no longer has) xmpp_bare as a contact, in
 * the local cache and in policyd (fire and forget; logged on failure). */
void xgw_edge_rt_contact_put(xgw_edge_rt_t *self, const char *sip_user, const char *xmpp_bare,
                             bool added);

/* The daemon (settings, instance name). Borrowed. */
xgw_daemon_t *xgw_edge_rt_daemon(xgw_edge_rt_t *self);

/* True once SIGTERM/SIGINT arrived: the edge stops accepting new work,
 * calls xgw_edge_rt_drain_begin once, keeps its loop running until
 * xgw_edge_rt_drained() or the drain timeout, then destroys everything. */
bool xgw_edge_rt_stopping(const xgw_edge_rt_t *self);
void xgw_edge_rt_drain_begin(xgw_edge_rt_t *self);
bool xgw_edge_rt_drained(const xgw_edge_rt_t *self);
int64_t xgw_edge_rt_drain_deadline(const xgw_edge_rt_t *self); /* monotonic ms */

#endif
