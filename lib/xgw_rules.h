/*
 * xgw_rules.h - the rule set in memory, and the decision it makes.
 *
 * One rule set lives in policyd (built from its store) and one in each edge
 * (built from policyd's snapshot and changes, lib/xgw_rules_client.c); both
 * are changed only through xgw_rules_apply, so they cannot drift apart. A
 * decision needs no I/O, except the question "has this SIP user added this
 * XMPP contact?", which the caller answers through a callback (policyd from
 * its store, an edge from its cache or by asking policyd).
 *
 * Not thread-safe: one thread owns a rule set.
 */
#ifndef XGW_RULES_H
#define XGW_RULES_H

#include "xgw_policy_model.h"

#include "xgw/v1/policy.pb-c.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct xgw_rules xgw_rules_t;

typedef enum {
    XGW_KIND_MESSAGE = 0,
    XGW_KIND_SUBSCRIBE = 1,
    XGW_KIND_PRESENCE = 2,
    XGW_KIND_PROBE = 3,
} xgw_kind_t;

typedef enum {
    XGW_DIR_INBOUND = 0,  /* XMPP user -> SIP user */
    XGW_DIR_OUTBOUND = 1, /* SIP user -> XMPP user */
} xgw_direction_t;

/* "Has SIP user sip_user added XMPP contact xmpp_bare?" Returns 1 or 0, or
 * XGW_EAGAIN when the answer is not known yet (the decision then returns
 * XGW_EAGAIN and the caller asks again when it knows). */
typedef int (*xgw_contact_fn)(void *ud, const char *sip_user, const char *xmpp_bare);

typedef struct {
    bool allow;
    const char *rule; /* static rule id: see XGW_RULE_* in xgw_rules.c docs */
    char detail[XGW_DOMAIN_MAX + 48];
    xgw_direction_t direction;
    char local_user[XGW_ADDRESS_MAX + 1];
    char remote[XGW_ADDRESS_MAX + 1];
    const xgw_ext_policy_t *policy;       /* borrowed; NULL if not reached */
    char policy_source[XGW_NAME_MAX + 8]; /* "user", "site:NAME", "global" */
    const xgw_partner_t *partner;         /* borrowed; NULL if not a partner */
    bool strip_status_note;               /* public-* partners never see status notes */
} xgw_decision_t;

/* Creates an empty rule set (version 0, a global policy with every switch
 * off, Lync's gateway defaults, no partners) serving domains (a
 * comma-separated list, normally common.domains, parsed by
 * xgw_x509_domains_parse like certd does). NULL on a bad list (reason in
 * err) or allocation failure. */
xgw_rules_t *xgw_rules_new(const char *domains, char *err, size_t errlen);

/* Frees everything; nulls *self_p. */
void xgw_rules_destroy(xgw_rules_t **self_p);

/* Version of the last change applied (0 for an empty set). */
uint64_t xgw_rules_version(const xgw_rules_t *self);

/* Applies one change. A change must carry version == current + 1 unless
 * force is set (policyd replaying its own store). Returns 0; XGW_ERANGE for
 * a version gap (nothing applied: fetch a snapshot); XGW_EINVAL for a change
 * that contradicts the set (e.g. a user granted an unknown policy); XGW_ENOMEM.
 * Pointers previously returned in decisions stay valid for objects that
 * still exist (objects are updated in place). */
int xgw_rules_apply(xgw_rules_t *self, const Xgw__V1__RuleChange *change, bool force);

/* Replaces the whole content with a snapshot. On failure the set is left
 * empty at version 0 (the caller fetches again). */
int xgw_rules_load(xgw_rules_t *self, const Xgw__V1__RuleSet *snapshot);

/* Builds a snapshot of the whole set. Returns a heap message the caller
 * frees with xgw_rules_snapshot_free, or NULL on allocation failure. */
Xgw__V1__RuleSet *xgw_rules_snapshot(const xgw_rules_t *self);
void xgw_rules_snapshot_free(Xgw__V1__RuleSet **snap_p);

/* Decides whether from may send kind to to (DESIGN.md "Policy model").
 * Addresses may carry sip:/sips:/xmpp: and an XMPP resource. Returns 0 with
 * *out filled (allow or deny), XGW_EAGAIN when contact state is needed and
 * contact returned XGW_EAGAIN, XGW_EINVAL for an address that cannot be
 * parsed (out->detail says why). */
int xgw_rules_decide(const xgw_rules_t *self, const char *from, const char *to, xgw_kind_t kind,
                     xgw_contact_fn contact, void *contact_ud, xgw_decision_t *out);

/* The effective external access policy of a SIP user (granted user policy,
 * else the user's site policy, else global) and where it comes from
 * ("user", "site:NAME", "global") into source (XGW_NAME_MAX+8). Never NULL. */
const xgw_ext_policy_t *xgw_rules_effective(const xgw_rules_t *self, const char *sip_user,
                                            char *source);

/* Lookups for admin output and edges. Borrowed pointers, NULL if absent. */
const xgw_ext_policy_t *xgw_rules_policy(const xgw_rules_t *self, const char *name);
const xgw_partner_t *xgw_rules_partner_for(const xgw_rules_t *self, const char *domain);
const xgw_gateway_t *xgw_rules_gateway(const xgw_rules_t *self);
/* Non-zero when domain is one the gateway serves. */
int xgw_rules_serves(const xgw_rules_t *self, const char *domain);
/* Non-zero when pattern ("d" or "*.d", normalized) is on the deny list. */
int xgw_rules_deny_has(const xgw_rules_t *self, const char *pattern);

/* The deny pattern that matches domain, or NULL. */
const char *xgw_rules_denied(const xgw_rules_t *self, const char *domain);

/* The additional domains of the partner whose primary domain is domain:
 * sets *list (borrowed) and *n; returns XGW_ENOENT if no such partner. */
int xgw_rules_partner_additional(const xgw_rules_t *self, const char *domain, char *const **list,
                                 size_t *n);

/* How many users hold the user policy name as their granted policy. */
size_t xgw_rules_policy_grants(const xgw_rules_t *self, const char *name);

/* The policy of site name, or NULL. */
const xgw_ext_policy_t *xgw_rules_site_policy(const xgw_rules_t *self, const char *site);

/* A user's site and granted policy names ("" when none); XGW_ENOENT if the
 * user has no entry. Borrowed strings. */
int xgw_rules_user(const xgw_rules_t *self, const char *address, const char **site,
                   const char **policy);

/* Calls fn for each policy / user / partner / deny pattern. */
void xgw_rules_each_policy(const xgw_rules_t *self, void (*fn)(void *ud, const xgw_ext_policy_t *p),
                           void *ud);
void xgw_rules_each_user(const xgw_rules_t *self,
                         void (*fn)(void *ud, const char *address, const char *site,
                                    const char *policy),
                         void *ud);
void xgw_rules_each_partner(const xgw_rules_t *self, void (*fn)(void *ud, const xgw_partner_t *p),
                            void *ud);
void xgw_rules_each_deny(const xgw_rules_t *self, void (*fn)(void *ud, const char *pattern),
                         void *ud);

/* Counts, for metrics. */
size_t xgw_rules_count_users(const xgw_rules_t *self);
size_t xgw_rules_count_partners(const xgw_rules_t *self);

/* Parses "message" | "subscribe" | "presence" | "probe". */
int xgw_kind_parse(const char *text, xgw_kind_t *out);
const char *xgw_kind_name(xgw_kind_t kind);

/* Copies a decision into a protobuf Decision whose strings point into d or
 * arena-free static storage; partner settings are copied into *partner_buf
 * (caller's storage). For replies built on the caller's stack. */
void xgw_decision_to_proto(const xgw_decision_t *d, Xgw__V1__Decision *out,
                           Xgw__V1__Partner *partner_buf, uint64_t version, const char *decided_by);

/* Conversions between model structs and protobuf messages. Strings in the
 * produced protobuf point into the source struct (borrowed). */
void xgw_policy_to_proto(const xgw_ext_policy_t *p, Xgw__V1__ExtPolicy *out);
void xgw_partner_to_proto(const xgw_partner_t *p, Xgw__V1__Partner *out);
void xgw_gateway_to_proto(const xgw_gateway_t *g, Xgw__V1__Gateway *out);
int xgw_policy_from_proto(const Xgw__V1__ExtPolicy *in, xgw_ext_policy_t *out);
int xgw_partner_from_proto(const Xgw__V1__Partner *in, xgw_partner_t *out);
void xgw_gateway_from_proto(const Xgw__V1__Gateway *in, xgw_gateway_t *out);

#endif
