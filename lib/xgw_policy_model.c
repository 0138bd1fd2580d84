/*
 * xgw_policy_model.c - policy objects' defaults and value rules; see
 * xgw_policy_model.h.
 */
#include "xgw_policy_model.h"
#include "xgw_error.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
s_fail(int code, char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

void
xgw_ext_policy_defaults(xgw_ext_policy_t *p)
{
    memset(p, 0, sizeof *p);
    p->scope = XGW_SCOPE_USER;
}

void
xgw_partner_defaults(xgw_partner_t *p)
{
    memset(p, 0, sizeof *p);
    p->type = XGW_PARTNER_PUBLIC_UNVERIFIED;
    p->tls = XGW_NEG_REQUIRED;
    p->sasl = XGW_NEG_REQUIRED;
    p->dialback = true;
    p->keepalive = true;
}

void
xgw_gateway_defaults(xgw_gateway_t *g)
{
    memset(g, 0, sizeof *g);
    g->connection_limit = 1000;
    g->partner_connection_limit = 20;
    g->keepalive_interval_s = 300;
    g->stream_establishment_timeout_s = 60;
    g->stream_inactivity_timeout_s = 600;
    g->subscription_refresh_interval_s = 28800;
    g->log_message_bodies = false;
}

static const char *const s_types[] = {"federated", "public-verified", "public-unverified"};
static const char *const s_negs[] = {"required", "optional", "not-supported"};
static const char *const s_scopes[] = {"global", "site", "user"};

const char *
xgw_partner_type_name(xgw_partner_type_t t)
{
    return (unsigned)t < 3 ? s_types[t] : "?";
}

const char *
xgw_negotiation_name(xgw_negotiation_t n)
{
    return (unsigned)n < 3 ? s_negs[n] : "?";
}

const char *
xgw_scope_name(xgw_scope_t s)
{
    return (unsigned)s < 3 ? s_scopes[s] : "?";
}

int
xgw_parse_switch(const char *text, bool *out, char *err, size_t errlen)
{
    if (text &&
        (strcmp(text, "on") == 0 || strcmp(text, "true") == 0 || strcmp(text, "yes") == 0)) {
        *out = true;
        return 0;
    }
    if (text &&
        (strcmp(text, "off") == 0 || strcmp(text, "false") == 0 || strcmp(text, "no") == 0)) {
        *out = false;
        return 0;
    }
    return s_fail(XGW_EINVAL, err, errlen, "\"%s\" is not on or off", text ? text : "");
}

int
xgw_parse_partner_type(const char *text, xgw_partner_type_t *out, char *err, size_t errlen)
{
    for (int i = 0; i < 3; i++) {
        if (text && strcmp(text, s_types[i]) == 0) {
            *out = (xgw_partner_type_t)i;
            return 0;
        }
    }
    return s_fail(XGW_EINVAL, err, errlen,
                  "\"%s\" is not a partner type (federated, public-verified, public-unverified)",
                  text ? text : "");
}

int
xgw_parse_negotiation(const char *text, xgw_negotiation_t *out, char *err, size_t errlen)
{
    for (int i = 0; i < 3; i++) {
        if (text && strcmp(text, s_negs[i]) == 0) {
            *out = (xgw_negotiation_t)i;
            return 0;
        }
    }
    return s_fail(XGW_EINVAL, err, errlen, "\"%s\" is not required, optional or not-supported",
                  text ? text : "");
}

int
xgw_name_check(const char *what, const char *in, char *err, size_t errlen)
{
    size_t n = in ? strlen(in) : 0;
    if (n == 0)
        return s_fail(XGW_EINVAL, err, errlen, "%s name is empty", what);
    if (n > XGW_NAME_MAX)
        return s_fail(XGW_ETOOBIG, err, errlen, "%s name is longer than %d characters", what,
                      XGW_NAME_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (!(isalnum(c) || c == '.' || c == '_' || c == '-'))
            return s_fail(XGW_EINVAL, err, errlen,
                          "%s name \"%s\" may only contain letters, digits, '.', '_' and '-'", what,
                          in);
    }
    return 0;
}

int
xgw_parse_scope(const char *text, xgw_scope_t *out, char *site, char *err, size_t errlen)
{
    if (text && strcmp(text, "global") == 0) {
        *out = XGW_SCOPE_GLOBAL;
        site[0] = '\0';
        return 0;
    }
    if (text && strcmp(text, "user") == 0) {
        *out = XGW_SCOPE_USER;
        site[0] = '\0';
        return 0;
    }
    if (text && strncmp(text, "site:", 5) == 0) {
        int rc = xgw_name_check("site", text + 5, err, errlen);
        if (rc != 0)
            return rc;
        *out = XGW_SCOPE_SITE;
        snprintf(site, XGW_NAME_MAX + 1, "%s", text + 5);
        return 0;
    }
    return s_fail(XGW_EINVAL, err, errlen, "\"%s\" is not a scope (global, site:NAME, user)",
                  text ? text : "");
}

int
xgw_parse_uint(const char *text, uint32_t min, uint32_t max, uint32_t *out, char *err,
               size_t errlen)
{
    if (!text || !isdigit((unsigned char)text[0]))
        return s_fail(XGW_EINVAL, err, errlen, "\"%s\" is not a whole number", text ? text : "");
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return s_fail(XGW_EINVAL, err, errlen, "\"%s\" is not a whole number", text);
    if (v < min || v > max)
        return s_fail(XGW_EINVAL, err, errlen, "%s is outside %u..%u", text, min, max);
    *out = (uint32_t)v;
    return 0;
}

int
xgw_domain_normalize(const char *in, char *out, char *err, size_t errlen)
{
    if (!in || !*in)
        return s_fail(XGW_EINVAL, err, errlen, "domain is empty");
    size_t n = strlen(in);
    if (n > 0 && in[n - 1] == '.')
        n--;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)in[i] >= 0x80)
            return s_fail(XGW_EINVAL, err, errlen,
                          "domain \"%s\" is not ASCII: give an internationalized domain in its "
                          "A-label (xn--) form",
                          in);
    }
    if (n > XGW_DOMAIN_MAX)
        return s_fail(XGW_ETOOBIG, err, errlen, "domain is longer than %d characters",
                      XGW_DOMAIN_MAX);
    char buf[XGW_DOMAIN_MAX + 1];
    size_t label = 0, labels = 0;
    for (size_t i = 0; i <= n; i++) {
        char c = i < n ? in[i] : '.';
        if (c == '.') {
            if (label == 0)
                return s_fail(XGW_EINVAL, err, errlen, "domain \"%s\" has an empty label", in);
            if (buf[i - 1] == '-' || buf[i - label] == '-')
                return s_fail(XGW_EINVAL, err, errlen,
                              "domain \"%s\": a label may not start or end with '-'", in);
            labels++;
            label = 0;
            if (i < n)
                buf[i] = '.';
            continue;
        }
        unsigned char uc = (unsigned char)c;
        if (!(isalnum(uc) || c == '-'))
            return s_fail(XGW_EINVAL, err, errlen,
                          "domain \"%s\" may only contain letters, digits, '-' and '.'", in);
        if (++label > 63)
            return s_fail(XGW_ETOOBIG, err, errlen,
                          "domain \"%s\" has a label longer than 63 characters", in);
        buf[i] = (char)tolower(uc);
    }
    if (labels < 2)
        return s_fail(XGW_EINVAL, err, errlen, "domain \"%s\" needs at least two labels", in);
    memcpy(out, buf, n);
    out[n] = '\0';
    return 0;
}

int
xgw_deny_pattern_normalize(const char *in, char *out, char *err, size_t errlen)
{
    if (in && strncmp(in, "*.", 2) == 0) {
        char d[XGW_DOMAIN_MAX + 1];
        int rc = xgw_domain_normalize(in + 2, d, err, errlen);
        if (rc != 0)
            return rc;
        snprintf(out, XGW_DOMAIN_MAX + 3, "*.%s", d);
        return 0;
    }
    if (in && strchr(in, '*'))
        return s_fail(XGW_EINVAL, err, errlen,
                      "\"%s\": a wildcard is only allowed as a leading \"*.\"", in);
    return xgw_domain_normalize(in, out, err, errlen);
}

/* RFC 3261 user part: unreserved, escaped and user-unreserved characters. */
static int
s_sip_user_char(unsigned char c)
{
    return isalnum(c) || strchr("-_.!~*'()&=+$,;?/%", c) != NULL;
}

int
xgw_sip_address_normalize(const char *in, char *out, char *err, size_t errlen)
{
    if (!in || !*in)
        return s_fail(XGW_EINVAL, err, errlen, "SIP address is empty");
    const char *p = in;
    if (strncasecmp(p, "sip:", 4) == 0)
        p += 4;
    else if (strncasecmp(p, "sips:", 5) == 0)
        p += 5;
    const char *at = strchr(p, '@');
    if (!at || at == p)
        return s_fail(XGW_EINVAL, err, errlen,
                      "\"%s\" is not a SIP address (sip:user@domain or user@domain)", in);
    size_t ul = (size_t)(at - p);
    if (ul > XGW_SIP_USER_MAX)
        return s_fail(XGW_ETOOBIG, err, errlen, "user part of \"%s\" is longer than %d", in,
                      XGW_SIP_USER_MAX);
    for (size_t i = 0; i < ul; i++) {
        if (!s_sip_user_char((unsigned char)p[i]))
            return s_fail(XGW_EINVAL, err, errlen,
                          "\"%s\": the user part has a character not allowed in a SIP URI", in);
    }
    char domain[XGW_DOMAIN_MAX + 1];
    int rc = xgw_domain_normalize(at + 1, domain, err, errlen);
    if (rc != 0)
        return rc;
    memcpy(out, p, ul);
    out[ul] = '@';
    memcpy(out + ul + 1, domain, strlen(domain) + 1);
    return 0;
}

int
xgw_xmpp_address_normalize(const char *in, char *out, char *err, size_t errlen)
{
    if (!in || !*in)
        return s_fail(XGW_EINVAL, err, errlen, "XMPP address is empty");
    const char *p = in;
    if (strncasecmp(p, "xmpp:", 5) == 0)
        p += 5;
    const char *at = strchr(p, '@');
    if (!at || at == p)
        return s_fail(XGW_EINVAL, err, errlen,
                      "\"%s\" is not an XMPP address (xmpp:local@domain or local@domain)", in);
    size_t ll = (size_t)(at - p);
    if (ll > 1023)
        return s_fail(XGW_ETOOBIG, err, errlen, "localpart of \"%s\" is too long", in);
    for (size_t i = 0; i < ll; i++) {
        unsigned char c = (unsigned char)p[i];
        /* RFC 7622 localpart: no spaces, controls or the excluded set. */
        if (c <= 0x20 || c == 0x7f || strchr("\"&'/:<>@", c))
            return s_fail(XGW_EINVAL, err, errlen,
                          "\"%s\": the localpart has a character XMPP does not allow", in);
    }
    char dom[XGW_DOMAIN_MAX + 2];
    const char *slash = strchr(at + 1, '/');
    size_t dl = slash ? (size_t)(slash - at - 1) : strlen(at + 1);
    if (dl > XGW_DOMAIN_MAX + 1)
        return s_fail(XGW_ETOOBIG, err, errlen, "domain of \"%s\" is too long", in);
    memcpy(dom, at + 1, dl);
    dom[dl] = '\0';
    char domain[XGW_DOMAIN_MAX + 1];
    int rc = xgw_domain_normalize(dom, domain, err, errlen);
    if (rc != 0)
        return rc;
    if (ll + 1 + strlen(domain) > XGW_ADDRESS_MAX)
        return s_fail(XGW_ETOOBIG, err, errlen, "\"%s\" is too long", in);
    memcpy(out, p, ll);
    out[ll] = '@';
    memcpy(out + ll + 1, domain, strlen(domain) + 1);
    return 0;
}

int
xgw_description_check(const char *in, char *err, size_t errlen)
{
    size_t n = in ? strlen(in) : 0;
    if (n > XGW_DESCRIPTION_MAX)
        return s_fail(XGW_ETOOBIG, err, errlen, "description is longer than %d bytes",
                      XGW_DESCRIPTION_MAX);
    const unsigned char *p = (const unsigned char *)in;
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        size_t len = c < 0x80                 ? 1
                     : c >= 0xc2 && c <= 0xdf ? 2
                     : c >= 0xe0 && c <= 0xef ? 3
                     : c >= 0xf0 && c <= 0xf4 ? 4
                                              : 0;
        if (len == 0 || i + len > n)
            return s_fail(XGW_EINVAL, err, errlen, "description is not valid UTF-8");
        /* RFC 3629 table: no overlong forms, no surrogates, nothing past
         * U+10FFFF. */
        unsigned char lo = 0x80, hi = 0xbf;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
        else if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
        for (size_t k = 1; k < len; k++) {
            unsigned char b = p[i + k];
            if (k == 1 ? (b < lo || b > hi) : (b & 0xc0) != 0x80)
                return s_fail(XGW_EINVAL, err, errlen, "description is not valid UTF-8");
        }
        if (len == 1 && (c < 0x20 || c == 0x7f))
            return s_fail(XGW_EINVAL, err, errlen, "description has a control character");
        i += len;
    }
    return 0;
}

int
xgw_proxy_normalize(const char *in, char *out, char *err, size_t errlen)
{
    if (!in || !*in) {
        out[0] = '\0';
        return 0;
    }
    char host[XGW_DOMAIN_MAX + 2];
    const char *colon = strrchr(in, ':');
    size_t hl = colon ? (size_t)(colon - in) : strlen(in);
    if (hl == 0 || hl > XGW_DOMAIN_MAX + 1)
        return s_fail(XGW_EINVAL, err, errlen, "proxy \"%s\" is not host[:port]", in);
    memcpy(host, in, hl);
    host[hl] = '\0';
    uint32_t port = 0;
    if (colon) {
        char perr[128];
        if (xgw_parse_uint(colon + 1, 1, 65535, &port, perr, sizeof perr) != 0)
            return s_fail(XGW_EINVAL, err, errlen, "proxy \"%s\": port %s", in, perr);
    }
    char norm[XGW_DOMAIN_MAX + 1];
    int all_digits_dots = 1;
    for (size_t i = 0; i < hl; i++) {
        if (host[i] != '.' && !isdigit((unsigned char)host[i]))
            all_digits_dots = 0;
    }
    struct in_addr a4;
    if (all_digits_dots) {
        /* Looks numeric: it must be a dotted-quad IPv4 address. */
        if (inet_pton(AF_INET, host, &a4) != 1)
            return s_fail(XGW_EINVAL, err, errlen, "proxy \"%s\" is not a valid IPv4 address", in);
        inet_ntop(AF_INET, &a4, norm, sizeof norm);
    } else {
        char derr[256];
        if (xgw_domain_normalize(host, norm, derr, sizeof derr) != 0)
            return s_fail(XGW_EINVAL, err, errlen, "proxy: %s", derr);
    }
    char tmp[XGW_PROXY_MAX + 16];
    if (colon)
        snprintf(tmp, sizeof tmp, "%s:%u", norm, port);
    else
        snprintf(tmp, sizeof tmp, "%s", norm);
    if (strlen(tmp) > XGW_PROXY_MAX)
        return s_fail(XGW_ETOOBIG, err, errlen, "proxy \"%s\" is too long", in);
    memcpy(out, tmp, strlen(tmp) + 1);
    return 0;
}

int
xgw_domain_list_parse(const char *in, char out[][XGW_DOMAIN_MAX + 1], size_t max, size_t *n,
                      char *err, size_t errlen)
{
    size_t count = 0;
    const char *p = in ? in : "";
    char item[XGW_DOMAIN_MAX + 8];
    while (*p) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len == 0)
            return s_fail(XGW_EINVAL, err, errlen, "empty entry in the domain list \"%s\"", in);
        if (len >= sizeof item)
            return s_fail(XGW_ETOOBIG, err, errlen, "a domain in the list is too long");
        if (count >= max)
            return s_fail(XGW_ETOOBIG, err, errlen, "more than %zu domains in the list", max);
        memcpy(item, p, len);
        item[len] = '\0';
        char norm[XGW_DOMAIN_MAX + 1];
        int rc = xgw_domain_normalize(item, norm, err, errlen);
        if (rc != 0)
            return rc;
        for (size_t k = 0; k < count; k++) {
            if (strcmp(out[k], norm) == 0)
                return s_fail(XGW_EINVAL, err, errlen, "domain %s is listed twice", norm);
        }
        memcpy(out[count++], norm, strlen(norm) + 1);
        p += len;
        while (*p == ' ')
            p++;
        if (*p == ',') {
            p++;
            while (*p == ' ')
                p++;
            if (*p == '\0')
                return s_fail(XGW_EINVAL, err, errlen, "empty entry in the domain list \"%s\"", in);
        }
    }
    *n = count;
    return 0;
}

int
xgw_partner_auth_check(xgw_negotiation_t tls, xgw_negotiation_t sasl, bool dialback, char *warn,
                       size_t warnlen, char *err, size_t errlen)
{
    if (warn && warnlen)
        warn[0] = '\0';
    if (sasl != XGW_NEG_NOT_SUPPORTED && tls == XGW_NEG_NOT_SUPPORTED)
        return s_fail(XGW_EINVAL, err, errlen,
                      "SASL needs TLS: --sasl %s is not possible with --tls not-supported "
                      "(set --sasl not-supported, or allow TLS)",
                      xgw_negotiation_name(sasl));
    int sasl_usable = sasl != XGW_NEG_NOT_SUPPORTED; /* TLS is possible here */
    if (!sasl_usable && !dialback)
        return s_fail(XGW_EINVAL, err, errlen,
                      "no usable authentication: with --sasl not-supported, --dialback must be "
                      "on");
    if (tls == XGW_NEG_REQUIRED && sasl == XGW_NEG_REQUIRED && dialback)
        s_fail(0, warn, warnlen, "dialback will not operate when both TLS and SASL are required");
    else if (tls == XGW_NEG_OPTIONAL && sasl == XGW_NEG_REQUIRED)
        s_fail(0, warn, warnlen,
               "SASL is required but TLS is optional: streams with a partner that does not "
               "offer TLS will fail to authenticate");
    else if (tls == XGW_NEG_OPTIONAL && sasl == XGW_NEG_OPTIONAL && !dialback)
        s_fail(0, warn, warnlen,
               "with TLS optional and dialback off, a partner that does not offer TLS cannot "
               "authenticate");
    return 0;
}

int
xgw_ext_policy_check(const xgw_ext_policy_t *p, char *err, size_t errlen)
{
    if (p->xmpp && !p->federation)
        return s_fail(XGW_EINVAL, err, errlen,
                      "policy %s: xmpp on needs federation on (communication with XMPP "
                      "partners is a kind of federation)",
                      p->name);
    if (p->scope == XGW_SCOPE_SITE && p->site[0] == '\0')
        return s_fail(XGW_EINVAL, err, errlen, "policy %s: a site policy needs a site", p->name);
    if (p->scope != XGW_SCOPE_GLOBAL && strcmp(p->name, "global") == 0)
        return s_fail(XGW_EINVAL, err, errlen, "the name \"global\" belongs to the global policy");
    if (p->scope == XGW_SCOPE_GLOBAL && strcmp(p->name, "global") != 0)
        return s_fail(XGW_EINVAL, err, errlen,
                      "the global policy is named \"global\" (there is only one)");
    return 0;
}
