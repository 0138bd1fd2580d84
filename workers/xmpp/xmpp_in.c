/*
 * xmpp_in.c - an inbound s2s stream: we are the receiving server (and, for
 * <db:verify/>, the authoritative server, xmpp_dialback.c).
 *
 * Order of business (RFC 6120 4-6, XEP-0220, XEP-0178):
 *  1. header: stream namespace and prefix, content namespace jabber:server,
 *     no other declarations, version; 'to' must be served (host-unknown),
 *     'from' (when given) must be an allowed partner that is not denied
 *     (policy-violation) and within its connection limit
 *     (resource-constraint) - all before any stanza is read (S2S-03/04);
 *  2. features by the partner's settings: STARTTLS (required: nothing
 *     else before TLS, S2S-05); after TLS, SASL EXTERNAL first when the
 *     peer's certificate validates for the stream 'from' (S2S-08), and
 *     dialback unless the partner is PKIX-only; nothing acceptable left:
 *     <policy-violation/> (S2S-09);
 *  3. authentication: SASL EXTERNAL with an empty authzid or the stream
 *     'from' (S2S-09), or dialback per domain pair verified with the
 *     originating domain's authoritative server over our own outbound
 *     stream (S2S-12/13); typed db elements are unsolicited and ignored
 *     (S2S-15);
 *  4. stanzas: only on an authenticated stream, only for an authenticated
 *     pair (S2S-10/11; lib/xgw_stanza does the checks), then policy and
 *     the hand-off to the SIP side (xmpp_deliver.c).
 */
#include "xmppd.h"

#include "xgw_error.h"
#include "xgw_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_KEY_MAX 256 /* a dialback key is 64 hex digits; anything longer is junk */

static void
s_refuse(xconn_t *c, const char *condition, const char *metric_reason, const char *text)
{
    xmet_refused(c->x, metric_reason);
    xgw_info("stream_refused", "conn=%llu peer=%s local=%s remote=%s reason=%s condition=%s",
             (unsigned long long)c->id, c->peer_ip, c->local[0] ? c->local : "-",
             c->remote[0] ? c->remote : "-", metric_reason, condition);
    xconn_stream_error(c, condition, text);
}

/* Normalizes a domain from the wire: lower case, no trailing dot, LDH
 * labels. Returns 0 or a negative code. */
static int
s_domain(const char *in, char *out, size_t outlen)
{
    if (!in || !in[0])
        return XGW_EINVAL;
    return xgw_dns_domain_normalize(in, out, outlen);
}

static bool
s_header_namespaces_ok(xconn_t *c, const xgw_xml_node_t *h)
{
    if (strcmp(h->ns, XGW_XML_NS_STREAM) != 0 || strcmp(h->name, "stream") != 0) {
        s_refuse(c, "invalid-namespace", "bad-header", NULL);
        return false;
    }
    if (strcmp(h->prefix, "stream") != 0) {
        s_refuse(c, "bad-namespace-prefix", "bad-header", NULL);
        return false;
    }
    bool content = false;
    for (size_t i = 0; i < h->n_decls; i++) {
        const char *p = h->decl_prefixes[i], *u = h->decl_uris[i];
        if (p[0] == '\0') {
            if (strcmp(u, XGW_XML_NS_SERVER) != 0) {
                s_refuse(c, "invalid-namespace", "bad-header",
                         "the content namespace must be "
                         "jabber:server");
                return false;
            }
            content = true;
        } else if (strcmp(u, XGW_XML_NS_STREAM) == 0) {
            if (strcmp(p, "stream") != 0) {
                s_refuse(c, "bad-namespace-prefix", "bad-header", NULL);
                return false;
            }
        } else if (strcmp(u, XMPPD_NS_DIALBACK) != 0 || strcmp(p, "db") != 0) {
            /* RFC 6120 4.8.2: no extension namespaces on the header. */
            s_refuse(c, "invalid-namespace", "bad-header", NULL);
            return false;
        }
    }
    if (!content) {
        s_refuse(c, "invalid-namespace", "bad-header",
                 "the content namespace must be "
                 "jabber:server");
        return false;
    }
    return true;
}

/* "1.0" -> 1 (features), absent -> 0 (pre-1.0: dialback only), junk -> -1. */
static int
s_version(const char *v)
{
    if (!v)
        return 0;
    char *end = NULL;
    long major = strtol(v, &end, 10);
    if (end == v || *end != '.' || major < 0)
        return -1;
    const char *minor = end + 1;
    long mn = strtol(minor, &end, 10);
    if (end == minor || *end != '\0' || mn < 0)
        return -1;
    return major >= 1 ? 1 : 0;
}

static bool
s_dialback_allowed(xconn_t *c, const xgw_partner_t *p)
{
    (void)c;
    return !p || xmppd_auth_mode(p) != XMPPD_AUTH_PKIX_ONLY;
}

static void
s_features(xconn_t *c)
{
    xmppd_t *x = c->x;
    const char *why = NULL;
    const xgw_partner_t *p = c->remote[0] ? xmppd_partner(x, c->remote, &why) : NULL;
    xgw_xml_writer_t *w = &x->w;
    xgw_xml_writer_clear(w);
    xgw_xml_raw(w, "<stream:features>", strlen("<stream:features>"));
    c->offered_starttls = c->offered_external = c->offered_dialback = false;
    if (c->authenticated) {
        /* After SASL: nothing left to negotiate. */
    } else if (c->transport != XT_TLS) {
        xgw_negotiation_t tls = p ? p->tls : XGW_NEG_OPTIONAL;
        bool have_cert = xgw_tls_ctx_for(x->tls, c->local) != NULL;
        if (tls == XGW_NEG_REQUIRED && !have_cert) {
            s_refuse(c, "policy-violation", "no-certificate",
                     "TLS is required and this gateway has no certificate");
            return;
        }
        if (have_cert && tls != XGW_NEG_NOT_SUPPORTED) {
            xgw_xml_raw(w, "<starttls xmlns='" XMPPD_NS_TLS "'>",
                        strlen("<starttls xmlns='" XMPPD_NS_TLS "'>"));
            if (tls == XGW_NEG_REQUIRED)
                xgw_xml_raw(w, "<required/>", strlen("<required/>"));
            xgw_xml_raw(w, "</starttls>", strlen("</starttls>"));
            c->offered_starttls = true;
        }
        if (tls != XGW_NEG_REQUIRED && s_dialback_allowed(c, p)) {
            xgw_xml_raw(w, "<dialback xmlns='" XMPPD_NS_DB_FEATURE "'><errors/></dialback>",
                        strlen("<dialback xmlns='" XMPPD_NS_DB_FEATURE "'><errors/></dialback>"));
            c->offered_dialback = true;
        }
        if (!c->offered_starttls && !c->offered_dialback) {
            s_refuse(c, "policy-violation", "no-mechanism",
                     "no authentication this partner allows is possible without TLS");
            return;
        }
    } else {
        char reason[256] = "";
        if (p && xmppd_auth_mode(p) != XMPPD_AUTH_DIALBACK_ONLY) {
            if (xconn_peer_cert_valid(c, c->remote, reason, sizeof reason)) {
                xgw_xml_raw(w,
                            "<mechanisms xmlns='" XMPPD_NS_SASL
                            "'><mechanism>EXTERNAL</mechanism></mechanisms>",
                            strlen("<mechanisms xmlns='" XMPPD_NS_SASL
                                   "'><mechanism>EXTERNAL</mechanism></mechanisms>"));
                c->offered_external = true;
            } else {
                for (char *q = reason; *q; q++) {
                    if (*q == '"')
                        *q = '\'';
                }
                xgw_info("sasl_external_not_offered", "conn=%llu remote=%s reason=\"%s\"",
                         (unsigned long long)c->id, c->remote, reason);
            }
        }
        if (s_dialback_allowed(c, p)) {
            xgw_xml_raw(w, "<dialback xmlns='" XMPPD_NS_DB_FEATURE "'><errors/></dialback>",
                        strlen("<dialback xmlns='" XMPPD_NS_DB_FEATURE "'><errors/></dialback>"));
            c->offered_dialback = true;
        }
        if (!c->offered_external && !c->offered_dialback) {
            /* S2S-09: say so at once instead of letting the stream time
             * out. */
            s_refuse(c, "policy-violation", "no-mechanism",
                     "the certificate does not authenticate this domain and dialback is not "
                     "allowed");
            return;
        }
    }
    xgw_xml_raw(w, "</stream:features>", strlen("</stream:features>"));
    if (xgw_xml_writer_status(w) == 0)
        (void)xconn_write(c, w->buf, w->len);
}

void
xin_on_open(xconn_t *c, const xgw_xml_node_t *h)
{
    xmppd_t *x = c->x;
    if (c->stream != XS_WAIT_HEADER) {
        s_refuse(c, "not-well-formed", "bad-header", NULL);
        return;
    }
    if (!s_header_namespaces_ok(c, h))
        return;
    int ver = s_version(xgw_xml_attr(h, "version"));
    if (ver < 0) {
        s_refuse(c, "unsupported-version", "bad-header", NULL);
        return;
    }
    char to[XGW_DOMAIN_MAX + 1], from[XGW_DOMAIN_MAX + 1];
    if (s_domain(xgw_xml_attr(h, "to"), to, sizeof to) != 0 || !xmppd_serves(x, to)) {
        s_refuse(c, "host-unknown", "host-unknown", NULL);
        return;
    }
    if (c->local[0] && strcmp(c->local, to) != 0) {
        s_refuse(c, "policy-violation", "bad-header", "the restarted stream changed its 'to'");
        return;
    }
    snprintf(c->local, sizeof c->local, "%s", to);
    const char *from_attr = xgw_xml_attr(h, "from");
    if (from_attr && from_attr[0]) {
        if (s_domain(from_attr, from, sizeof from) != 0) {
            s_refuse(c, "invalid-from", "bad-header", NULL);
            return;
        }
        if (c->remote[0] && strcmp(c->remote, from) != 0) {
            s_refuse(c, "invalid-from", "bad-header", "the restarted stream changed its 'from'");
            return;
        }
        const char *why = NULL;
        if (!xmppd_partner(x, from, &why)) {
            snprintf(c->remote, sizeof c->remote, "%s", from);
            if (strcmp(why, "no-rules") == 0)
                s_refuse(c, "internal-server-error", why, "no policy loaded yet");
            else
                s_refuse(c, "policy-violation", why, NULL);
            return;
        }
        snprintf(c->remote, sizeof c->remote, "%s", from);
        if (!xconn_partner_take(c, from)) {
            s_refuse(c, "resource-constraint", "partner-connection-limit", NULL);
            return;
        }
    } else if (!xmppd_rules(x)) {
        s_refuse(c, "internal-server-error", "no-rules", "no policy loaded yet");
        return;
    }
    const char *lang = xgw_xml_attr_ns(h, XGW_XML_NS_XML, "lang");
    snprintf(c->lang, sizeof c->lang, "%s", lang && strlen(lang) < sizeof c->lang ? lang : "");
    c->version1 = ver == 1;
    xconn_send_header(c, c->local, c->remote, c->version1);
    if (c->dead)
        return;
    c->stream = XS_OPEN;
    xgw_info("stream_opened", "conn=%llu dir=in local=%s remote=%s version=%s tls=%d id=%s",
             (unsigned long long)c->id, c->local, c->remote[0] ? c->remote : "-",
             c->version1 ? "1.0" : "none", c->transport == XT_TLS, c->stream_id);
    if (c->version1) {
        s_features(c);
        return;
    }
    /* Pre-1.0 peer (S2S-04): no features, so no TLS and no SASL; dialback
     * only, if this partner allows it in the clear. */
    const char *why = NULL;
    const xgw_partner_t *p = c->remote[0] ? xmppd_partner(x, c->remote, &why) : NULL;
    if (p && (p->tls == XGW_NEG_REQUIRED || !s_dialback_allowed(c, p)))
        s_refuse(c, "unsupported-version", "legacy-peer",
                 "this partner needs TLS or SASL, which need version 1.0");
}

void
xin_tls_done(xconn_t *c)
{
    /* RFC 6120 5.4.3.3: everything from before TLS is forgotten; the peer
     * opens a new stream. */
    c->stream = XS_WAIT_HEADER;
    c->header_sent = false;
    c->offered_starttls = c->offered_external = c->offered_dialback = false;
    if (xconn_restart(c) != 0)
        xconn_abort(c, "out-of-memory");
}

/* ------------------------------------------------------------------ */
/* STARTTLS                                                            */

static void
s_starttls(xconn_t *c)
{
    xmppd_t *x = c->x;
    if (!c->offered_starttls || c->transport != XT_PLAIN) {
        /* RFC 6120 5.4.2.2 (S2S-06): failure, then close. */
        (void)xconn_write_str(c, "<failure xmlns='" XMPPD_NS_TLS "'/>");
        xgw_info("starttls_refused", "conn=%llu remote=%s", (unsigned long long)c->id,
                 c->remote[0] ? c->remote : "-");
        xconn_close_stream(c, "starttls-refused");
        return;
    }
    SSL_CTX *ctx = xgw_tls_ctx_for(x->tls, c->local);
    /* Bytes after <starttls/> in this read are dropped with the old stream. */
    (void)xconn_restart(c);
    c->stream = XS_WAIT_HEADER;
    if (!ctx ||
        xconn_tls_start(c, ctx, true, NULL, false, "<proceed xmlns='" XMPPD_NS_TLS "'/>") != 0) {
        (void)xconn_write_str(c, "<failure xmlns='" XMPPD_NS_TLS "'/>");
        xconn_close_stream(c, "starttls-failed");
    }
}

/* ------------------------------------------------------------------ */
/* SASL EXTERNAL                                                       */

static void
s_sasl_failure(xconn_t *c, const char *condition)
{
    xmppd_t *x = c->x;
    xgw_xml_writer_t *w = &x->w;
    xgw_xml_writer_clear(w);
    xgw_xml_raw(w, "<failure xmlns='" XMPPD_NS_SASL "'>",
                strlen("<failure xmlns='" XMPPD_NS_SASL "'>"));
    xgw_xml_open(w, condition);
    xgw_xml_open_close(w);
    xgw_xml_raw(w, "</failure>", strlen("</failure>"));
    (void)xconn_write(c, w->buf, w->len);
    c->sasl_failures++;
    c->sasl_wait_response = false;
    xgw_info("sasl_failed", "conn=%llu remote=%s condition=%s failures=%d",
             (unsigned long long)c->id, c->remote[0] ? c->remote : "-", condition,
             c->sasl_failures);
    if (c->sasl_failures >= XMPPD_SASL_MAX_FAILURES)
        s_refuse(c, "policy-violation", "sasl-failed", "too many failed authentications");
}

/* text: the initial response or the response: "=" (empty authzid) or the
 * base64 of the authzid. */
static void
s_sasl_external(xconn_t *c, const char *text)
{
    char authzid[XGW_DOMAIN_MAX + 1] = "";
    const char *t = text ? text : "";
    while (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n')
        t++;
    if (strcmp(t, "=") != 0) {
        size_t len = 0;
        uint8_t *raw = xgw_x509_base64_decode(t, &len);
        bool ok = raw && len > 0 && len < sizeof authzid && !memchr(raw, '\0', len);
        if (ok) {
            memcpy(authzid, raw, len);
            authzid[len] = '\0';
        }
        free(raw);
        char norm[XGW_DOMAIN_MAX + 1];
        /* A JID with a localpart or resource is never a server's authzid. */
        if (!ok || strchr(authzid, '@') || strchr(authzid, '/') ||
            s_domain(authzid, norm, sizeof norm) != 0 || strcmp(norm, c->remote) != 0) {
            s_sasl_failure(c, "invalid-authzid");
            return;
        }
    }
    (void)xconn_write_str(c, "<success xmlns='" XMPPD_NS_SASL "'/>");
    if (c->dead)
        return;
    c->sasl_done = true;
    c->sasl_wait_response = false;
    xconn_mark_authenticated(c, "sasl");
    xgw_info("stream_authenticated", "conn=%llu dir=in local=%s remote=%s auth=sasl",
             (unsigned long long)c->id, c->local, c->remote);
    /* RFC 6120 6.4.6: a new stream over the same TLS. */
    (void)xconn_restart(c);
    c->stream = XS_WAIT_HEADER;
    c->header_sent = false;
}

static void
s_sasl(xconn_t *c, const xgw_xml_node_t *el)
{
    if (strcmp(el->name, "auth") == 0) {
        const char *mech = xgw_xml_attr(el, "mechanism");
        if (!c->offered_external || c->sasl_done || !mech || strcmp(mech, "EXTERNAL") != 0) {
            s_sasl_failure(c, "invalid-mechanism");
            return;
        }
        const char *t = el->text ? el->text : "";
        while (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n')
            t++;
        if (!*t) {
            /* No initial response: an empty challenge asks for it. */
            (void)xconn_write_str(c, "<challenge xmlns='" XMPPD_NS_SASL "'>=</challenge>");
            c->sasl_wait_response = true;
            return;
        }
        s_sasl_external(c, t);
    } else if (strcmp(el->name, "response") == 0 && c->sasl_wait_response) {
        s_sasl_external(c, el->text);
    } else if (strcmp(el->name, "abort") == 0) {
        s_sasl_failure(c, "aborted");
    } else {
        s_sasl_failure(c, "malformed-request");
    }
}

/* ------------------------------------------------------------------ */
/* Dialback, receiving server                                          */

static xin_pair_t *
s_pair(xconn_t *c, const char *remote, const char *local)
{
    for (size_t i = 0; i < c->n_pairs; i++) {
        if (strcmp(c->pairs[i].remote, remote) == 0 && strcmp(c->pairs[i].local, local) == 0)
            return &c->pairs[i];
    }
    return NULL;
}

static void
s_pair_drop(xconn_t *c, xin_pair_t *p)
{
    size_t i = (size_t)(p - c->pairs);
    c->pairs[i] = c->pairs[--c->n_pairs];
}

static bool
s_any_valid(const xconn_t *c)
{
    for (size_t i = 0; i < c->n_pairs; i++) {
        if (c->pairs[i].state == 1)
            return true;
    }
    return false;
}

static void
s_db_result(xconn_t *c, const xgw_xml_node_t *el)
{
    xmppd_t *x = c->x;
    if (xgw_xml_attr(el, "type")) {
        /* S2S-15: we asked nothing; a verdict from the initiator means
         * nothing. */
        xmet_dialback(x, "receiving", "unsolicited");
        xgw_info("dialback_unsolicited", "conn=%llu remote=%s element=result",
                 (unsigned long long)c->id, c->remote[0] ? c->remote : "-");
        return;
    }
    char from[XGW_DOMAIN_MAX + 1], to[XGW_DOMAIN_MAX + 1];
    const char *fa = xgw_xml_attr(el, "from"), *ta = xgw_xml_attr(el, "to");
    if (!fa || !ta || !fa[0] || !ta[0]) {
        s_refuse(c, "improper-addressing", "dialback-addressing", NULL);
        return;
    }
    if (s_domain(fa, from, sizeof from) != 0) {
        s_refuse(c, "invalid-from", "dialback-addressing", NULL);
        return;
    }
    if (s_domain(ta, to, sizeof to) != 0 || !xmppd_serves(x, to)) {
        /* XEP-0220 2.4.2: an error for this pair; the stream stays. */
        xmet_dialback(x, "receiving", "item-not-found");
        xdb_send_result(c, ta, fa, "error", "item-not-found");
        return;
    }
    const char *why = NULL;
    const xgw_partner_t *p = xmppd_partner(x, from, &why);
    if (!p) {
        xmet_dialback(x, "receiving", "refused");
        if (!c->remote[0] || strcmp(c->remote, from) == 0) {
            snprintf(c->remote, sizeof c->remote, "%s", from);
            s_refuse(c, "policy-violation", why, NULL);
        } else {
            xmet_refused(x, why);
            xdb_send_result(c, to, from, "error", "policy-violation");
        }
        return;
    }
    if (p->tls == XGW_NEG_REQUIRED && c->transport != XT_TLS) {
        /* S2S-05: nothing before TLS when the partner requires it. */
        s_refuse(c, "policy-violation", "tls-required", "TLS is required before dialback");
        return;
    }
    if (!s_dialback_allowed(c, p)) {
        s_refuse(c, "policy-violation", "dialback-not-allowed",
                 "this partner must authenticate with a certificate (SASL EXTERNAL)");
        return;
    }
    if (!c->remote[0]) {
        snprintf(c->remote, sizeof c->remote, "%s", from);
        if (!xconn_partner_take(c, from)) {
            s_refuse(c, "resource-constraint", "partner-connection-limit", NULL);
            return;
        }
    }
    xin_pair_t *pair = s_pair(c, from, to);
    if (pair) {
        xgw_info("dialback_duplicate", "conn=%llu remote=%s local=%s state=%s",
                 (unsigned long long)c->id, from, to, pair->state ? "valid" : "pending");
        if (pair->state == 1)
            xdb_send_result(c, to, from, "valid", NULL);
        return;
    }
    if (c->n_pairs >= XMPPD_MAX_PAIRS) {
        xdb_send_result(c, to, from, "error", "resource-constraint");
        return;
    }
    const char *key = el->text ? el->text : "";
    while (*key == ' ' || *key == '\n' || *key == '\r' || *key == '\t')
        key++;
    size_t klen = strcspn(key, " \r\n\t");
    if (klen == 0 || klen > S_KEY_MAX) {
        xmet_dialback(x, "receiving", "invalid");
        xdb_send_result(c, to, from, "invalid", NULL);
        if (!s_any_valid(c))
            xconn_close_stream(c, "dialback-invalid");
        return;
    }
    char keybuf[S_KEY_MAX + 1];
    memcpy(keybuf, key, klen);
    keybuf[klen] = '\0';
    pair = &c->pairs[c->n_pairs++];
    memset(pair, 0, sizeof *pair);
    snprintf(pair->remote, sizeof pair->remote, "%s", from);
    snprintf(pair->local, sizeof pair->local, "%s", to);
    xgw_info("dialback_requested", "conn=%llu remote=%s local=%s id=%s", (unsigned long long)c->id,
             from, to, c->stream_id);
    int rc = xroute_verify(x, to, from, c->stream_id, keybuf, c->id);
    if (rc != 0)
        xin_verify_result(x, c->id, from, to, -1, "remote-server-not-found");
}

void
xin_verify_result(xmppd_t *x, uint64_t in_conn, const char *remote, const char *local, int result,
                  const char *condition)
{
    xconn_t *c = xconn_find(x, in_conn);
    if (!c || c->stream == XS_CLOSING)
        return;
    xin_pair_t *pair = s_pair(c, remote, local);
    if (!pair || pair->state != 0)
        return;
    if (result == 1) {
        pair->state = 1;
        xdb_send_result(c, local, remote, "valid", NULL);
        if (c->dead)
            return;
        xmet_dialback(x, "receiving", "valid");
        xconn_mark_authenticated(c, "dialback");
        xgw_info("stream_authenticated", "conn=%llu dir=in local=%s remote=%s auth=dialback",
                 (unsigned long long)c->id, local, remote);
        return;
    }
    if (result == 0) {
        xmet_dialback(x, "receiving", "invalid");
        xgw_info("dialback_invalid", "conn=%llu remote=%s local=%s", (unsigned long long)c->id,
                 remote, local);
        xdb_send_result(c, local, remote, "invalid", NULL);
        s_pair_drop(c, pair);
        /* S2S-12: an invalid first pair ends the stream. */
        if (!c->dead && !s_any_valid(c))
            xconn_close_stream(c, "dialback-invalid");
        return;
    }
    xmet_dialback(x, "receiving", "error");
    xgw_info("dialback_error", "conn=%llu remote=%s local=%s condition=%s",
             (unsigned long long)c->id, remote, local, condition);
    xdb_send_result(c, local, remote, "error", condition);
    s_pair_drop(c, pair);
}

/* ------------------------------------------------------------------ */
/* Stanzas                                                             */

static bool
s_served_cb(void *ud, const char *domain)
{
    return xmppd_serves(ud, domain);
}

static void
s_stanza(xconn_t *c, const xgw_xml_node_t *el)
{
    xmppd_t *x = c->x;
    xgw_stanza_in_ctx_t ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.served = s_served_cb;
    ctx.served_ud = x;
    ctx.stream_lang = c->lang[0] ? c->lang : NULL;
    ctx.origin_instance = x->daemon->instance_name;
    if (c->sasl_done) {
        ctx.remote_domain = c->remote;
        ctx.local_domain = c->local;
    } else if (s_any_valid(c)) {
        /* Dialback: the pair the stanza claims, if verified; else a pair of
         * its 'from' domain (the 'to' check then fails), else any verified
         * pair (the 'from' check then fails). */
        char fd[XGW_DOMAIN_MAX + 1] = "", td[XGW_DOMAIN_MAX + 1] = "";
        const xin_pair_t *best = NULL;
        if (c->n_pairs == 1) {
            best = &c->pairs[0]; /* the usual stream: one pair, nothing to choose */
        } else {
            (void)xmppd_jid_domain(xgw_xml_attr(el, "from"), fd, sizeof fd);
            (void)xmppd_jid_domain(xgw_xml_attr(el, "to"), td, sizeof td);
        }
        for (size_t i = 0; c->n_pairs > 1 && i < c->n_pairs; i++) {
            const xin_pair_t *p = &c->pairs[i];
            if (p->state != 1)
                continue;
            if (strcmp(p->remote, fd) == 0 && strcmp(p->local, td) == 0) {
                best = p;
                break;
            }
            if (!best || (strcmp(p->remote, fd) == 0 && strcmp(best->remote, fd) != 0))
                best = p;
        }
        ctx.remote_domain = best->remote;
        ctx.local_domain = best->local;
    }
    xgw_stanza_in_t in;
    memset(&in, 0, sizeof in);
    if (xgw_stanza_inbound(el, &ctx, x->arena, &in) != 0) {
        xgw_warn("stanza_dropped", "conn=%llu remote=%s reason=no-memory",
                 (unsigned long long)c->id, c->remote[0] ? c->remote : "-");
        return;
    }
    const char *kind = in.name ? in.name : "other";
    if (in.action == XGW_STANZA_STREAM_ERROR) {
        xmet_stanza(x, "in", "refused");
        xgw_info("stanza_refused", "conn=%llu remote=%s condition=%s reason=%s",
                 (unsigned long long)c->id, c->remote[0] ? c->remote : "-", in.condition,
                 in.reason);
        xconn_stream_error(c, in.condition, NULL);
        return;
    }
    c->stanzas_in++;
    xmet_stanza(x, "in", kind);
    switch (in.action) {
    case XGW_STANZA_DELIVER:
        xdel_inbound(x, &c->src, &in);
        break;
    case XGW_STANZA_ANSWER:
    case XGW_STANZA_BOUNCE: {
        xgw_xml_writer_t *w = &x->w;
        xgw_xml_writer_clear(w);
        char ld[XGW_DOMAIN_MAX + 1], rd[XGW_DOMAIN_MAX + 1];
        if (xgw_stanza_write_answer(w, &in) == 0 &&
            xmppd_jid_domain(in.reply_from, ld, sizeof ld) == 0 &&
            xmppd_jid_domain(in.from, rd, sizeof rd) == 0) {
            /* S2S-17: answers go on our own outbound stream. */
            xroute_send_raw(x, ld, rd, w->buf, w->len);
        }
        xgw_debug("stanza_answered", "conn=%llu kind=%s reason=%s", (unsigned long long)c->id, kind,
                  in.reason);
        break;
    }
    case XGW_STANZA_IGNORE:
    default:
        xgw_debug("stanza_ignored", "conn=%llu kind=%s reason=%s", (unsigned long long)c->id, kind,
                  in.reason);
        break;
    }
}

void
xin_on_stanza(xconn_t *c, const xgw_xml_node_t *el)
{
    if (c->stream == XS_WAIT_HEADER) {
        s_refuse(c, "not-well-formed", "bad-order", NULL);
        return;
    }
    if (strcmp(el->ns, XMPPD_NS_TLS) == 0 && strcmp(el->name, "starttls") == 0) {
        s_starttls(c);
        return;
    }
    if (strcmp(el->ns, XMPPD_NS_SASL) == 0) {
        if (c->transport != XT_TLS) {
            s_sasl_failure(c, "encryption-required");
            return;
        }
        s_sasl(c, el);
        return;
    }
    if (strcmp(el->ns, XMPPD_NS_DIALBACK) == 0) {
        if (strcmp(el->name, "result") == 0) {
            s_db_result(c, el);
        } else if (strcmp(el->name, "verify") == 0) {
            const char *why = NULL;
            const xgw_partner_t *p = c->remote[0] ? xmppd_partner(c->x, c->remote, &why) : NULL;
            if (p && p->tls == XGW_NEG_REQUIRED && c->transport != XT_TLS) {
                s_refuse(c, "policy-violation", "tls-required", "TLS is required before dialback");
                return;
            }
            xdb_answer_verify(c, el);
        } else {
            s_refuse(c, "unsupported-stanza-type", "bad-element", NULL);
        }
        return;
    }
    s_stanza(c, el);
}
