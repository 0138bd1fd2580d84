/*
 * xgw_errmap.h - error mapping between XMPP stanza errors and SIP responses
 * (RFC 7247 section 7; checklist section 8.1, 8.2 and ERR-01..09).
 *
 * XMPP to SIP (8.1, ERR-04, ERR-05): the condition of an XMPP error that
 * arrives before the SIP final response is sent gives the response code.
 * The 4xx code is for a full-JID target, the 6xx code for a bare JID
 * (403/603, 404/604, 406/606, 480/600; feature-not-implemented 405/501).
 * <gone/> with a new address gives 301, without one 410. Team choices where
 * the RFC offers two codes: service-unavailable gives 403, never 503
 * (ERR-05: a SIP 503 would make upstream proxies treat the whole gateway as
 * down); remote-server-not-found gives 404 (ERR-06: the domain does not
 * resolve; a domain that resolves but cannot be reached is
 * remote-server-timeout, 408); unexpected-request gives 400 (491 Request
 * Pending is about a pending INVITE in the same dialog, which the gateway
 * never has). Unknown conditions are treated as undefined-condition (RFC
 * 6120 section 8.3.2), which gives 400. No condition maps to 503.
 *
 * SIP to XMPP (8.2, ERR-01, ERR-03, ERR-08): a final error response to a
 * translated request gives a condition and the RFC 6120 section 8.3.3
 * default error type. Codes not in the table map by class: 3xx redirect,
 * 4xx bad-request, 5xx internal-server-error, 6xx recipient-unavailable;
 * 1xx and 2xx give nothing. With XGW_ERRMAP_PRIVACY, 404 and 604 give
 * service-unavailable instead of item-not-found so that the gateway cannot
 * be used to learn which SIP users exist (ERR-08).
 *
 * All strings returned are static. Thread-safe; no state.
 */
#ifndef XGW_ERRMAP_H
#define XGW_ERRMAP_H

#include <stdbool.h>

/* Namespace of the stanza error condition elements. */
#define XGW_ERRMAP_NS "urn:ietf:params:xml:ns:xmpp-stanzas"

/* Flags. */
#define XGW_ERRMAP_BARE 0x1u         /* the failed request was for a bare JID (ERR-04) */
#define XGW_ERRMAP_GONE_ADDRESS 0x2u /* the <gone/> element carried a new address (ERR-03) */
#define XGW_ERRMAP_PRIVACY 0x4u      /* do not reveal whether a SIP user exists (ERR-08) */

/* What a SIP response becomes on the XMPP side. */
typedef struct {
    const char *condition; /* "item-not-found": element name in XGW_ERRMAP_NS */
    const char *type;      /* "cancel", "modify", "wait" or "auth" */
    /* The condition element should carry the alternate address (an xmpp:
     * URI made from the response's Contact) as its text: always for 301
     * (<gone>, where RFC 7247 makes it a MUST), when known for the 3xx
     * that give <redirect>. Never for 410. */
    bool with_address;
    bool by_class; /* no row for this code: the class default was used */
} xgw_errmap_xmpp_t;

/* SIP response code for an XMPP error condition (the element's local name,
 * e.g. "forbidden"); flags: XGW_ERRMAP_BARE, XGW_ERRMAP_GONE_ADDRESS.
 * Unknown or NULL conditions give 400. Always returns a code in 300..699,
 * never 503. */
int xgw_errmap_xmpp_to_sip(const char *condition, unsigned flags);

/* Fills *out for a SIP final response code; flags: XGW_ERRMAP_PRIVACY.
 * Returns 0, XGW_ENOENT for 1xx and 2xx (no stanza error is made), or
 * XGW_EINVAL for a code outside 100..699 (*out is then zeroed). */
int xgw_errmap_sip_to_xmpp(int code, unsigned flags, xgw_errmap_xmpp_t *out);

/* True when condition is one of the 22 RFC 6120 stanza error conditions. */
bool xgw_errmap_condition_known(const char *condition);

/* The RFC 6120 section 8.3.3 default error type of a condition ("modify"
 * for bad-request), for errors the gateway makes itself; NULL when the
 * condition is unknown. */
const char *xgw_errmap_condition_type(const char *condition);

/* Reason phrase for a SIP status code the gateway sends ("Not Found");
 * codes without a registered phrase get the name of their class ("Client
 * Error"), codes outside 100..699 get "Unknown". Never NULL. */
const char *xgw_errmap_reason_phrase(int code);

/* ERR-09 (DERIVED): the Subscription-State reason of the NOTIFY
 * "terminated" that the gateway sends to a SIP watcher when the XMPP side
 * answers its subscribe with an error: item-not-found,
 * remote-server-not-found and gone give "noresource"; forbidden and
 * not-authorized give "rejected"; any other condition whose type (the
 * received type attribute; NULL: the condition's default type) is "wait"
 * gives "probation" (the caller adds retry-after); everything else gives
 * "rejected" (a permanent refusal, so the watcher does not retry). Never
 * NULL. */
const char *xgw_errmap_subscription_reason(const char *condition, const char *type);

#endif
