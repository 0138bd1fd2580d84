/*
 * sipd.h - the GWP half of xgw-sipd: the process (sipd_main.c) and the
 * bridge between the edge runtime and the SIP half (sipd_bridge.c). No
 * sofia-sip header may be included here (see sip_stack.h).
 */
#ifndef SIPD_H
#define SIPD_H

#include "sip_stack.h"
#include "xgw_daemon.h"
#include "xgw_edge_rt.h"

typedef struct {
    xgw_daemon_t daemon;
    xgw_edge_rt_t *rt;
    sip_stack_t *sip;
    xgw_cidr_set_t trusted;
    size_t in_flight_in;  /* MESSAGEs held for the XMPP side */
    size_t in_flight_out; /* Deliver requests held for a SIP response */
} sipd_t;

/* The hooks the SIP half calls (sip_stack.h), bound to d. */
void sipd_bridge_hooks(sipd_t *d, sip_hooks_t *hooks);

/* The edge runtime's on_deliver: a Deliver from the XMPP side. */
void sipd_bridge_on_deliver(void *ud, xgw_request_t **req_p, const Xgw__V1__Deliver *deliver);

/* The edge runtime's on_rules_changed: every live subscription is decided
 * again, and those the new rules forbid are ended on both sides. */
void sipd_bridge_on_rules_changed(void *ud, const xgw_rules_t *rules);

/* Registers the bridge's metrics (in-flight gauges). */
void sipd_bridge_metrics(sipd_t *d);

#endif
