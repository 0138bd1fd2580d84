/*
 * xgw_decide.h - answering a DecideRequest from a rule set: parse, decide,
 * count (xgw_policy_decisions_total{result,rule}), audit denials when asked,
 * and build the protobuf Decision. policyd and the edges share it, so a
 * decision reads the same wherever it is made.
 */
#ifndef XGW_DECIDE_H
#define XGW_DECIDE_H

#include "xgw_arena.h"
#include "xgw_rules.h"

#include "xgw/v1/gwp.pb-c.h"
#include "xgw/v1/policy.pb-c.h"

/* Decides req against rules. On success returns 200 and points *out at a
 * Decision allocated in arena. Returns 400 with reason (static or arena
 * string) for a request that cannot be decided (bad kind or address), and
 * XGW_EAGAIN (negative) when contact returned XGW_EAGAIN. */
int xgw_decide_answer(const xgw_rules_t *rules, const Xgw__V1__DecideRequest *req,
                      xgw_contact_fn contact, void *contact_ud, const char *instance,
                      xgw_arena_t *arena, Xgw__V1__Decision **out, const char **reason);

/* The same, written as a whole GWP reply: status 200 with the Decision, or
 * the error status and reason (500 when contact state could not be had).
 * Everything is allocated in arena. Returns 0, or XGW_ENOMEM. */
int xgw_decide_reply(const xgw_rules_t *rules, const Xgw__V1__DecideRequest *req,
                     xgw_contact_fn contact, void *contact_ud, const char *instance,
                     xgw_arena_t *arena, Xgw__V1__Reply *reply);

#endif
