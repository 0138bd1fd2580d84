/*
 * policy_store.h - policyd's durable state in SQLite (WAL): the rule set
 * (policies, users, partners, deny list, gateway settings) and the contact
 * state. policyd is the only writer. Every change is one transaction that
 * also advances the rule-set version, so a crash leaves the old state or the
 * new one, and the version on disk always names the rules on disk.
 *
 * The schema is versioned (meta.schema_version) and migrated on open.
 */
#ifndef POLICY_STORE_H
#define POLICY_STORE_H

#include "xgw_rules.h"

#include "xgw/v1/policy.pb-c.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct policy_store policy_store_t;

#define POLICY_STORE_SCHEMA_VERSION 1

/* Opens (creating if needed) the database at path, turns on WAL and
 * foreign keys, and migrates the schema. NULL on failure with the reason in
 * err. The caller owns the store. */
policy_store_t *policy_store_open(const char *path, char *err, size_t errlen);

/* Closes the database; nulls *self_p. */
void policy_store_close(policy_store_t **self_p);

/* Rule-set version on disk. */
uint64_t policy_store_version(const policy_store_t *self);

/* Loads the stored rule set into rules (replacing its content). Returns 0
 * or a negative code (rules then empty). */
int policy_store_load(policy_store_t *self, xgw_rules_t *rules);

/* Writes change (whose version must be the stored version + 1) in one
 * transaction. Returns 0, XGW_ERANGE for a wrong version, XGW_EIO when
 * SQLite fails (nothing written; the reason is logged), XGW_EINVAL for an
 * empty change. */
int policy_store_commit(policy_store_t *self, const Xgw__V1__RuleChange *change);

/* Smallest unused partner id (ids are never reused while the partner
 * exists; they label metrics). */
uint32_t policy_store_next_partner_id(policy_store_t *self);

/* Contact state. get fills out (strings copied into the given buffers of
 * XGW_ADDRESS_MAX+1 bytes); returns 0 or XGW_ENOENT. */
int policy_store_contact_get(policy_store_t *self, const char *sip_user, const char *xmpp_jid,
                             bool *sip_added, bool *xmpp_subscribed, uint64_t *updated_ms);
int policy_store_contact_put(policy_store_t *self, const char *sip_user, const char *xmpp_jid,
                             bool sip_added, bool xmpp_subscribed, uint64_t updated_ms);
int policy_store_contact_delete(policy_store_t *self, const char *sip_user, const char *xmpp_jid);

/* Calls fn for each contact of sip_user ("" = every contact), in address
 * order. Returns 0 or XGW_EIO. */
int policy_store_contacts_each(policy_store_t *self, const char *sip_user,
                               void (*fn)(void *ud, const char *sip_user, const char *xmpp_jid,
                                          bool sip_added, bool xmpp_subscribed),
                               void *ud);

/* Runs PRAGMA integrity_check; returns 0 when it says "ok". */
int policy_store_check(policy_store_t *self);

#endif
