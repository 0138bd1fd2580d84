/*
 * policy_publish.h - how policyd hands its rule set to the edges (Clone
 * pattern, proto/xgw/v1/policy.proto):
 *   PUB on common.policy_updates, frames:
 *     ["rules"]   [RuleChange]        every committed change, in version order
 *     ["contact"] [ContactState]      every contact change (cache invalidation)
 *     ["hugz"]    [version, 8 bytes BE] once a second, so subscribers notice
 *                                      a gap, or a restarted policyd
 *   ROUTER on common.policy_snapshot:
 *     request ["snapshot"] -> reply ["snapshot"] [RuleSet]
 */
#ifndef POLICY_PUBLISH_H
#define POLICY_PUBLISH_H

#include "xgw_rules.h"

#include "xgw/v1/policy.pb-c.h"

#include <stdint.h>

typedef struct policy_publish policy_publish_t;

/* Binds both endpoints. NULL (logged) if either cannot be bound. */
policy_publish_t *policy_publish_new(const char *updates, const char *snapshot,
                                     const xgw_rules_t *rules);
void policy_publish_destroy(policy_publish_t **self_p);

/* The snapshot ROUTER's libzmq handle, for polling. */
void *policy_publish_snapshot_socket(policy_publish_t *self);

/* Answers every waiting snapshot request. */
void policy_publish_serve_snapshots(policy_publish_t *self);

void policy_publish_change(policy_publish_t *self, const Xgw__V1__RuleChange *change);
void policy_publish_contact(policy_publish_t *self, const Xgw__V1__ContactState *state);

/* Sends a heartbeat when one is due; returns ms until the next. */
int64_t policy_publish_tick(policy_publish_t *self);

#endif
