/*
 * xgw_edge_policy.h - the policy view every edge (xmppd, sipd) carries: the
 * rule-set replica, local decisions, contact answers from the cache or from
 * policyd, and the audit of denials. It plugs into the xgw_service loop
 * (its sockets, its tick) and answers DecideRequests sent to the edge's own
 * service ("xgwctl decide --edge xmpp" shows what the edge would do now).
 */
#ifndef XGW_EDGE_POLICY_H
#define XGW_EDGE_POLICY_H

#include "xgw_arena.h"
#include "xgw_daemon.h"
#include "xgw_rules_client.h"

#include "xgw/v1/gwp.pb-c.h"

typedef struct xgw_edge_policy xgw_edge_policy_t;

/* Connects the replica and opens the audit log. NULL on failure (logged). */
xgw_edge_policy_t *xgw_edge_policy_new(const xgw_daemon_t *daemon);
void xgw_edge_policy_destroy(xgw_edge_policy_t **self_p);

size_t xgw_edge_policy_items(xgw_edge_policy_t *self, zmq_pollitem_t *items, size_t max);
void xgw_edge_policy_readable(xgw_edge_policy_t *self);
int64_t xgw_edge_policy_tick(xgw_edge_policy_t *self);

/* The replica itself (its contact cache, its change callback). Borrowed. */
xgw_rules_client_t *xgw_edge_policy_replica(xgw_edge_policy_t *self);

/* The replica's rules, NULL before the first snapshot. */
const xgw_rules_t *xgw_edge_policy_rules(xgw_edge_policy_t *self);

/* Decides from the replica, asking policyd for contact state it lacks
 * (blocking up to 2 s: this is the admin/diagnostic path; the message path
 * of the edges asks asynchronously). Fails closed: no rules -> deny with
 * rule "rules_not_loaded". Returns 0 with *out, or a negative code. */
int xgw_edge_policy_decide(xgw_edge_policy_t *self, const char *from, const char *to,
                           xgw_kind_t kind, xgw_decision_t *out);

/* Handles a PolicyRequest sent to the edge. Returns 0 when it filled
 * reply, XGW_ENOENT when req is not a policy request. */
int xgw_edge_policy_handle(xgw_edge_policy_t *self, const Xgw__V1__Request *req,
                           Xgw__V1__Reply *reply, xgw_arena_t *arena);

#endif
