/*
 * policy_admin.h - the administrative operations of policyd (the objects
 * and verbs xgwctl and the web panel offer): validation, the store
 * transaction, the in-memory rules, publication, and the reply text/JSON.
 */
#ifndef POLICY_ADMIN_H
#define POLICY_ADMIN_H

#include "policy_store.h"
#include "xgw_arena.h"
#include "xgw_rules.h"

#include "xgw/v1/admin.pb-c.h"

typedef struct {
    policy_store_t *store;
    xgw_rules_t *rules;
    /* Called after each committed rule change, and each contact change. */
    void (*publish_change)(void *ud, const Xgw__V1__RuleChange *change);
    void (*publish_contact)(void *ud, const Xgw__V1__ContactState *state);
    void *ud;
} policy_admin_t;

/* Carries out req and fills reply (strings in arena). Never fails as a
 * call: every outcome, including a store failure, is a reply with code 0
 * (done), 1 (runtime failure, nothing changed) or 2 (invalid, nothing
 * changed). */
void policy_admin_handle(policy_admin_t *self, const Xgw__V1__AdminRequest *req,
                         Xgw__V1__AdminReply *reply, xgw_arena_t *arena);

#endif
