/*
 * xgw_policy_model.h - the objects of the policy model (DESIGN.md "Policy
 * model", Lync's external access policy and XMPP allowed partner) and every
 * rule about their values. policyd applies these rules to each change;
 * xgwctl uses the same functions only to word its own usage errors. One copy
 * of each rule.
 *
 * All validators write a one-line reason into err (NUL-terminated,
 * truncated to errlen) and return XGW_EINVAL (or XGW_ETOOBIG for lengths)
 * on failure; outputs are written only on success.
 */
#ifndef XGW_POLICY_MODEL_H
#define XGW_POLICY_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XGW_DOMAIN_MAX 253
#define XGW_NAME_MAX 64 /* policy and site names */
#define XGW_DESCRIPTION_MAX 256
#define XGW_SIP_USER_MAX 64 /* user part of a SIP address */
#define XGW_ADDRESS_MAX (XGW_SIP_USER_MAX + 1 + XGW_DOMAIN_MAX)
#define XGW_ADDITIONAL_DOMAINS_MAX 32
#define XGW_PROXY_MAX (XGW_DOMAIN_MAX + 6)
#define XGW_CONNECTION_LIMIT_MAX 100000

typedef enum {
    XGW_SCOPE_GLOBAL = 0,
    XGW_SCOPE_SITE = 1,
    XGW_SCOPE_USER = 2, /* a named policy granted to users */
} xgw_scope_t;

typedef enum {
    XGW_PARTNER_FEDERATED = 0,
    XGW_PARTNER_PUBLIC_VERIFIED = 1,
    XGW_PARTNER_PUBLIC_UNVERIFIED = 2, /* default, as Lync */
} xgw_partner_type_t;

typedef enum {
    XGW_NEG_REQUIRED = 0, /* default for TLS and SASL, as Lync */
    XGW_NEG_OPTIONAL = 1,
    XGW_NEG_NOT_SUPPORTED = 2,
} xgw_negotiation_t;

/* External access policy. */
typedef struct {
    char name[XGW_NAME_MAX + 1];
    xgw_scope_t scope;
    char site[XGW_NAME_MAX + 1]; /* scope SITE only */
    char description[XGW_DESCRIPTION_MAX + 1];
    bool federation;
    bool xmpp;
    bool public_cloud;
    bool outside;
} xgw_ext_policy_t;

/* SIP user: site and granted policy. */
typedef struct {
    char address[XGW_ADDRESS_MAX + 1]; /* "alice@example.net", normalized */
    char site[XGW_NAME_MAX + 1];       /* "" = none */
    char policy[XGW_NAME_MAX + 1];     /* granted user policy, "" = none */
} xgw_sip_user_t;

/* XMPP allowed partner: its connection and trust settings. Its additional
 * domains are kept beside it (a list of up to XGW_ADDITIONAL_DOMAINS_MAX),
 * not in it, so that a rule set of many partners stays small. */
typedef struct {
    uint32_t id; /* stable small number, used as the metrics label */
    char domain[XGW_DOMAIN_MAX + 1];
    xgw_partner_type_t type;
    xgw_negotiation_t tls;
    xgw_negotiation_t sasl;
    bool dialback;
    bool keepalive;
    char proxy_fqdn[XGW_PROXY_MAX + 1]; /* "host" or "host:port"; "" = SRV */
    uint32_t connection_limit;          /* 0 = gateway's per-partner limit */
    char description[XGW_DESCRIPTION_MAX + 1];
} xgw_partner_t;

/* Gateway settings, Lync's defaults (xgw_gateway_defaults). */
typedef struct {
    uint32_t connection_limit;                  /* 1000 */
    uint32_t partner_connection_limit;          /* 20 */
    uint32_t keepalive_interval_s;              /* 300 */
    uint32_t stream_establishment_timeout_s;    /* 60 */
    uint32_t stream_inactivity_timeout_s;       /* 600 */
    uint32_t subscription_refresh_interval_s;   /* 28800 */
    bool log_message_bodies;                    /* false */
    char dialback_secret_ref[XGW_NAME_MAX + 1]; /* certd's secret id; the secret stays in certd */
} xgw_gateway_t;

/* ---- defaults ---- */
void xgw_ext_policy_defaults(xgw_ext_policy_t *p); /* all switches off */
void xgw_partner_defaults(xgw_partner_t *p); /* public-unverified, required, required, on, on */
void xgw_gateway_defaults(xgw_gateway_t *g);

/* ---- names ---- */
const char *xgw_partner_type_name(xgw_partner_type_t t); /* "public-unverified" */
const char *xgw_negotiation_name(xgw_negotiation_t n);   /* "not-supported" */
const char *xgw_scope_name(xgw_scope_t s);               /* "global" | "site" | "user" */

/* ---- value parsers (text as typed by an operator) ---- */
int xgw_parse_switch(const char *text, bool *out, char *err, size_t errlen); /* on|off */
int xgw_parse_partner_type(const char *text, xgw_partner_type_t *out, char *err, size_t errlen);
int xgw_parse_negotiation(const char *text, xgw_negotiation_t *out, char *err, size_t errlen);
/* "global" | "site:NAME" | "user"; site name into site (XGW_NAME_MAX+1). */
int xgw_parse_scope(const char *text, xgw_scope_t *out, char *site, char *err, size_t errlen);
/* Unsigned integer in [min, max]; no sign, no spaces, no trailing text. */
int xgw_parse_uint(const char *text, uint32_t min, uint32_t max, uint32_t *out, char *err,
                   size_t errlen);

/* Domain name: ASCII letters, digits, hyphens, dots; labels 1..63, not
 * starting or ending with '-'; at least two labels; at most 253 characters;
 * one trailing dot is dropped; lower-cased into out (XGW_DOMAIN_MAX+1).
 * Non-ASCII input (an IDN U-label) is refused with a hint to use the
 * A-label (xn--) form. */
int xgw_domain_normalize(const char *in, char *out, char *err, size_t errlen);

/* Deny-list pattern: a domain, or "*." followed by a domain (every
 * subdomain of it, not the domain itself). Normalized into out, which must
 * hold XGW_DOMAIN_MAX + 3 bytes (the "*." comes on top of a domain). */
int xgw_deny_pattern_normalize(const char *in, char *out, char *err, size_t errlen);

/* SIP address of a local user: "sip:user@domain", "sips:user@domain" or
 * "user@domain". Writes "user@domain" (domain lower-cased, user part kept
 * as is) into out (XGW_ADDRESS_MAX+1). */
int xgw_sip_address_normalize(const char *in, char *out, char *err, size_t errlen);

/* XMPP address of a remote user: "xmpp:local@domain[/resource]" or
 * "local@domain[/resource]". Writes the bare JID, domain lower-cased. */
int xgw_xmpp_address_normalize(const char *in, char *out, char *err, size_t errlen);

/* Policy or site name: 1..64 of [A-Za-z0-9._-]. */
int xgw_name_check(const char *what, const char *in, char *err, size_t errlen);

/* Free text: at most 256 bytes of valid UTF-8 without control characters. */
int xgw_description_check(const char *in, char *err, size_t errlen);

/* "host" or "host:port", host a domain name or an IPv4 address, port
 * 1..65535. Normalized into out (XGW_PROXY_MAX+1). */
int xgw_proxy_normalize(const char *in, char *out, char *err, size_t errlen);

/* Comma-separated domains (spaces allowed around commas), each normalized,
 * no repeats, at most XGW_ADDITIONAL_DOMAINS_MAX; "" clears. */
int xgw_domain_list_parse(const char *in, char out[][XGW_DOMAIN_MAX + 1], size_t max, size_t *n,
                          char *err, size_t errlen);

/* ---- combined rules ---- */

/* The TLS/SASL/dialback matrix (reference b.1). Returns 0 when accepted,
 * with a warning in warn (warn[0] == '\0' when none), or XGW_EINVAL with the
 * reason in err when the combination leaves no usable authentication or
 * asks for SASL without TLS. */
int xgw_partner_auth_check(xgw_negotiation_t tls, xgw_negotiation_t sasl, bool dialback, char *warn,
                           size_t warnlen, char *err, size_t errlen);

/* Policy rules that involve several fields: xmpp on needs federation on;
 * a site policy names its site; "global" is the global scope's name only. */
int xgw_ext_policy_check(const xgw_ext_policy_t *p, char *err, size_t errlen);

#endif
