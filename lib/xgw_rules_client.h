/*
 * xgw_rules_client.h - an edge's copy of policyd's rule set (Clone
 * pattern, see policyd/policy_publish.h): subscribes to the changes,
 * fetches a snapshot, applies changes newer than it in version order, and
 * fetches a new snapshot on any gap or when the heartbeat shows it is
 * behind. Also a bounded cache of contact state ("has U added X?") that
 * policyd's contact messages keep current.
 *
 * Until the first snapshot arrives there are no rules, and callers must
 * fail closed.
 */
#ifndef XGW_RULES_CLIENT_H
#define XGW_RULES_CLIENT_H

#include "xgw_rules.h"

#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

typedef struct xgw_rules_client xgw_rules_client_t;

/* Connects to policyd's update and snapshot endpoints. domains is the
 * served-domain list (common.domains). NULL on failure (reason in err). */
xgw_rules_client_t *xgw_rules_client_new(const char *updates, const char *snapshot,
                                         const char *domains, char *err, size_t errlen);
void xgw_rules_client_destroy(xgw_rules_client_t **self_p);

/* Fills up to max poll items (its two sockets); returns the count. */
size_t xgw_rules_client_items(xgw_rules_client_t *self, zmq_pollitem_t *items, size_t max);

/* Reads everything waiting on both sockets. */
void xgw_rules_client_readable(xgw_rules_client_t *self);

/* Snapshot requests and staleness checks; returns ms until next needed. */
int64_t xgw_rules_client_tick(xgw_rules_client_t *self);

/* The rule set, or NULL before the first snapshot. Borrowed; valid until
 * the next readable/tick call. */
const xgw_rules_t *xgw_rules_client_rules(const xgw_rules_client_t *self);

/* Called after every change or snapshot with the new version (edges
 * re-evaluate their live sessions and subscriptions there: a tightened rule
 * ends what it no longer allows). */
void xgw_rules_client_on_change(xgw_rules_client_t *self, void (*fn)(void *ud, uint64_t version),
                                void *ud);

/* Contact cache: 1 or 0 when known, XGW_EAGAIN when not cached. */
int xgw_rules_client_contact(xgw_rules_client_t *self, const char *sip_user, const char *xmpp_bare);
void xgw_rules_client_contact_put(xgw_rules_client_t *self, const char *sip_user,
                                  const char *xmpp_bare, bool added);

#endif
