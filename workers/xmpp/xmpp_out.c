/*
 * xmpp_out.c - an outbound s2s stream: we are the initiating (originating)
 * server for one (served domain, remote domain) route.
 *
 *  connect -> [direct TLS, XEP-0368] -> header -> features
 *     -> STARTTLS when offered and the partner allows it, and always when
 *        the partner requires TLS, advertised or not (S2S-05: defeats
 *        feature stripping; a refusal ends the stream, no plaintext)
 *     -> the peer's certificate is judged against the remote domain,
 *        never the SRV target (CRT-01)
 *     -> SASL EXTERNAL with authzid "=" when offered, the peer's
 *        certificate is valid and the partner allows PKIX (XEP-0178),
 *        else dialback as originating server (<db:result/> with our key,
 *        queue until type='valid', S2S-16) when the partner allows it
 *     -> ready: the route writes its queue.
 * A PKIX-only partner whose certificate does not validate, or that offers
 * no EXTERNAL, gets no fallback (S2S-19, CRT-09).
 */
#include "xmppd.h"

#include "xgw_error.h"
#include "xgw_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void
s_fail(xconn_t *c, const char *condition, uint16_t status, const char *reason)
{
    if (!c->fail_condition) {
        c->fail_condition = condition;
        c->fail_status = status;
    }
    xgw_info("outbound_setup_failed", "conn=%llu local=%s remote=%s reason=\"%s\"",
             (unsigned long long)c->id, c->local, c->remote, reason);
    xconn_close_stream(c, "setup-failed");
}

xconn_t *
xout_connect(xroute_t *r, const xgw_dns_candidate_t *cand)
{
    xmppd_t *x = r->x;
    int fd = socket(cand->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        xgw_warn("outbound_connect_failed", "remote=%s peer=%s:%u reason=\"%s\"", r->remote,
                 cand->ip, cand->port, strerror(errno));
        return NULL;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (const struct sockaddr *)&cand->addr, cand->addrlen) != 0 &&
        errno != EINPROGRESS) {
        xgw_info("outbound_connect_failed", "remote=%s peer=%s:%u reason=\"%s\"", r->remote,
                 cand->ip, cand->port, strerror(errno));
        close(fd);
        return NULL;
    }
    xconn_t *c = xconn_new(x, XCONN_OUT, fd);
    if (!c) {
        close(fd);
        return NULL;
    }
    c->route = r;
    snprintf(c->local, sizeof c->local, "%s", r->local);
    snprintf(c->remote, sizeof c->remote, "%s", r->remote);
    snprintf(c->peer_ip, sizeof c->peer_ip, "%s", cand->ip);
    c->peer_port = cand->port;
    c->direct_tls = cand->direct_tls;
    c->tls_deadline = xmppd_now() + x->settings->xmppd.tls_handshake_timeout_ms;
    c->establish_deadline = r->setup_deadline;
    if (!xconn_partner_take(c, r->remote)) {
        xmet_refused(x, "partner-connection-limit");
        c->fail_condition = "resource-constraint";
        c->fail_status = 503;
        c->route = NULL; /* the route answers for itself */
        r->limit_hit = true;
        xconn_abort(c, "partner-connection-limit");
        return NULL;
    }
    xgw_info("outbound_connecting", "conn=%llu local=%s remote=%s peer=%s:%u direct_tls=%d",
             (unsigned long long)c->id, c->local, c->remote, cand->ip, cand->port,
             cand->direct_tls);
    return c;
}

static void
s_send_header(xconn_t *c)
{
    c->stream = XS_WAIT_HEADER;
    c->step = XO_FEATURES;
    xconn_send_header(c, c->local, c->remote, true);
}

void
xout_connected(xconn_t *c)
{
    xgw_debug("outbound_connected", "conn=%llu remote=%s peer=%s:%u", (unsigned long long)c->id,
              c->remote, c->peer_ip, c->peer_port);
    if (c->direct_tls) {
        SSL_CTX *ctx = xgw_tls_ctx_for(c->x->tls, c->local);
        /* SNI is the XMPP domain, ALPN xmpp-server (XEP-0368, CRT-10). */
        if (!ctx || xconn_tls_start(c, ctx, false, c->remote, true, NULL) != 0)
            s_fail(c, "remote-server-timeout", 504, "no TLS context (no certificate)");
        return;
    }
    s_send_header(c);
}

void
xout_tls_done(xconn_t *c)
{
    char why[256];
    c->peer_cert_valid = xconn_peer_cert_valid(c, c->remote, why, sizeof why) == 1;
    for (char *p = why; *p; p++) {
        if (*p == '"')
            *p = '\'';
    }
    xgw_info("outbound_peer_certificate", "conn=%llu remote=%s valid=%d reason=\"%s\"",
             (unsigned long long)c->id, c->remote, c->peer_cert_valid, why);
    const char *nope = NULL;
    const xgw_partner_t *p = xmppd_partner(c->x, c->remote, &nope);
    if (p && xmppd_auth_mode(p) == XMPPD_AUTH_PKIX_ONLY && !c->peer_cert_valid) {
        /* CRT-09: a certificate that does not name the partner ends the
         * connection when nothing else may authenticate it. */
        c->fail_condition = "remote-server-timeout";
        c->fail_status = 504;
        xconn_abort(c, "bad-certificate");
        return;
    }
    if (xconn_restart(c) != 0) {
        xconn_abort(c, "out-of-memory");
        return;
    }
    c->header_sent = false;
    s_send_header(c);
}

void
xout_on_open(xconn_t *c, const xgw_xml_node_t *h)
{
    if (c->stream != XS_WAIT_HEADER) {
        xconn_stream_error(c, "not-well-formed", NULL);
        return;
    }
    if (strcmp(h->ns, XGW_XML_NS_STREAM) != 0 || strcmp(h->name, "stream") != 0) {
        xconn_stream_error(c, "invalid-namespace", NULL);
        return;
    }
    const char *id = xgw_xml_attr(h, "id");
    c->peer_id[0] = '\0';
    if (id && strlen(id) < sizeof c->peer_id)
        snprintf(c->peer_id, sizeof c->peer_id, "%s", id);
    const char *v = xgw_xml_attr(h, "version");
    c->version1 = v && v[0] >= '1' && v[0] <= '9';
    c->stream = XS_OPEN;
    xgw_info("stream_opened", "conn=%llu dir=out local=%s remote=%s version=%s tls=%d",
             (unsigned long long)c->id, c->local, c->remote, c->version1 ? "1.0" : "none",
             c->transport == XT_TLS);
    if (!c->version1) {
        /* Pre-1.0 peer: no features will come; dialback only. */
        c->feat_dialback = true;
        const char *nope = NULL;
        const xgw_partner_t *p = xmppd_partner(c->x, c->remote, &nope);
        if (p && p->tls == XGW_NEG_REQUIRED && c->transport != XT_TLS) {
            s_fail(c, "remote-server-timeout", 504, "the peer cannot do TLS (no version 1.0)");
            return;
        }
        xout_authenticate(c);
    }
}

static void
s_ready(xconn_t *c, const char *auth)
{
    c->step = XO_READY;
    c->was_ready = true;
    c->establish_deadline = 0;
    xconn_mark_authenticated(c, auth);
    xgw_info("stream_authenticated", "conn=%llu dir=out local=%s remote=%s auth=%s",
             (unsigned long long)c->id, c->local, c->remote, auth);
    c->verify_ready = true;
    xout_flush_verify(c);
    if (c->route && !c->dead)
        xroute_ready(c->route);
}

static void
s_dialback(xconn_t *c)
{
    char key[XGW_DIALBACK_KEY_HEX + 1];
    if (!c->peer_id[0]) {
        s_fail(c, "remote-server-timeout", 504, "the peer gave no stream id for dialback");
        return;
    }
    if (xdb_key(c->x, c->remote, c->local, c->peer_id, key) != 0) {
        s_fail(c, "remote-server-timeout", 504, "no dialback keyring from certd yet");
        return;
    }
    xgw_xml_writer_t *w = &c->x->w;
    xgw_xml_writer_clear(w);
    xgw_xml_open(w, "db:result");
    xgw_xml_attr_w(w, "from", c->local);
    xgw_xml_attr_w(w, "to", c->remote);
    xgw_xml_open_end(w);
    xgw_xml_text_w(w, key, strlen(key));
    xgw_xml_close(w, "db:result");
    c->step = XO_DIALBACK;
    xgw_info("dialback_result_sent", "conn=%llu local=%s remote=%s", (unsigned long long)c->id,
             c->local, c->remote);
    (void)xconn_write(c, w->buf, w->len);
}

void
xout_authenticate(xconn_t *c)
{
    xmppd_t *x = c->x;
    if (c->authenticated) {
        s_ready(c, c->auth);
        return;
    }
    const char *why = NULL;
    const xgw_partner_t *p = xmppd_partner(x, c->remote, &why);
    if (!p) {
        s_fail(c, "forbidden", 403, why);
        return;
    }
    xmppd_auth_mode_t mode = xmppd_auth_mode(p);
    if (c->transport == XT_TLS && c->feat_external && c->peer_cert_valid &&
        mode != XMPPD_AUTH_DIALBACK_ONLY && !c->tried_external) {
        /* XEP-0178: authzid "=" (the stream 'from'). Only once the peer is
         * authenticated by its certificate: EXTERNAL proves us to them,
         * not them to us. */
        c->tried_external = true;
        c->step = XO_SASL;
        (void)xconn_write_str(c, "<auth xmlns='" XMPPD_NS_SASL "' mechanism='EXTERNAL'>=</auth>");
        return;
    }
    if (mode != XMPPD_AUTH_PKIX_ONLY) {
        /* db:verify for our inbound streams may go out now: no stream
         * restart will follow on this stream. */
        c->verify_ready = true;
        xout_flush_verify(c);
        if (!c->dead)
            s_dialback(c);
        return;
    }
    s_fail(c, "remote-server-timeout", 504,
           c->peer_cert_valid ? "the peer offers no SASL EXTERNAL and dialback is not allowed"
                              : "the peer's certificate is not valid and dialback is not allowed");
}

static void
s_features(xconn_t *c, const xgw_xml_node_t *el)
{
    xmppd_t *x = c->x;
    c->feat_starttls = c->feat_starttls_required = c->feat_external = c->feat_dialback = false;
    const xgw_xml_node_t *st = xgw_xml_child(el, XMPPD_NS_TLS, "starttls");
    if (st) {
        c->feat_starttls = true;
        c->feat_starttls_required = xgw_xml_child(st, XMPPD_NS_TLS, "required") != NULL;
    }
    const xgw_xml_node_t *mechs = xgw_xml_child(el, XMPPD_NS_SASL, "mechanisms");
    for (const xgw_xml_node_t *m = mechs ? xgw_xml_child(mechs, XMPPD_NS_SASL, "mechanism") : NULL;
         m; m = xgw_xml_next(m)) {
        if (m->text && strcmp(m->text, "EXTERNAL") == 0)
            c->feat_external = true;
    }
    c->feat_dialback = xgw_xml_child(el, XMPPD_NS_DB_FEATURE, "dialback") != NULL;
    if (c->authenticated) {
        s_ready(c, c->auth); /* after the SASL restart */
        return;
    }
    if (c->transport != XT_TLS) {
        const char *why = NULL;
        const xgw_partner_t *p = xmppd_partner(x, c->remote, &why);
        if (!p) {
            s_fail(c, "forbidden", 403, why);
            return;
        }
        if (p->tls == XGW_NEG_NOT_SUPPORTED && c->feat_starttls_required) {
            s_fail(c, "remote-server-timeout", 504,
                   "the peer requires TLS and the partner is set to tls not-supported");
            return;
        }
        /* S2S-05: a partner that requires TLS gets <starttls/> whether or
         * not it was offered. */
        bool want =
            p->tls == XGW_NEG_REQUIRED || (c->feat_starttls && p->tls != XGW_NEG_NOT_SUPPORTED);
        if (want) {
            if (!xgw_tls_ctx_for(x->tls, c->local)) {
                s_fail(c, "remote-server-timeout", 504, "no TLS context (no certificate)");
                return;
            }
            c->step = XO_STARTTLS;
            (void)xconn_write_str(c, "<starttls xmlns='" XMPPD_NS_TLS "'/>");
            return;
        }
    }
    xout_authenticate(c);
}

void
xout_on_stanza(xconn_t *c, const xgw_xml_node_t *el)
{
    xmppd_t *x = c->x;
    const char *ns = el->ns, *name = el->name;
    if (c->stream != XS_OPEN) {
        xconn_stream_error(c, "not-well-formed", NULL);
        return;
    }
    if (strcmp(ns, XGW_XML_NS_STREAM) == 0 && strcmp(name, "features") == 0) {
        if (c->step == XO_FEATURES)
            s_features(c, el);
        return;
    }
    if (strcmp(ns, XMPPD_NS_TLS) == 0) {
        if (c->step != XO_STARTTLS)
            return;
        if (strcmp(name, "proceed") == 0) {
            (void)xconn_restart(c); /* what followed <proceed/> is dropped */
            SSL_CTX *ctx = xgw_tls_ctx_for(x->tls, c->local);
            if (xconn_tls_start(c, ctx, false, c->remote, false, NULL) != 0)
                xconn_abort(c, "tls-setup-failed");
        } else {
            s_fail(c, "remote-server-timeout", 504, "the peer refused STARTTLS");
        }
        return;
    }
    if (strcmp(ns, XMPPD_NS_SASL) == 0) {
        if (c->step != XO_SASL)
            return;
        if (strcmp(name, "success") == 0) {
            xconn_mark_authenticated(c, "sasl");
            (void)xconn_restart(c);
            c->header_sent = false;
            s_send_header(c);
            return;
        }
        const char *why = NULL;
        const xgw_partner_t *p = xmppd_partner(x, c->remote, &why);
        xgw_info("sasl_rejected", "conn=%llu remote=%s element=%s", (unsigned long long)c->id,
                 c->remote, strcmp(name, "failure") == 0 ? "failure" : "other");
        if (p && xmppd_auth_mode(p) != XMPPD_AUTH_PKIX_ONLY) {
            c->verify_ready = true;
            xout_flush_verify(c);
            if (!c->dead)
                s_dialback(c);
        } else
            s_fail(c, "remote-server-timeout", 504, "SASL EXTERNAL failed");
        return;
    }
    if (strcmp(ns, XMPPD_NS_DIALBACK) == 0) {
        if (strcmp(name, "verify") == 0) {
            if (xgw_xml_attr(el, "type"))
                xdb_on_verify_answer(c, el);
            else
                xdb_answer_verify(c, el);
            return;
        }
        if (strcmp(name, "result") != 0)
            return;
        const char *type = xgw_xml_attr(el, "type");
        char f[XGW_DOMAIN_MAX + 1] = "", t[XGW_DOMAIN_MAX + 1] = "";
        const char *fa = xgw_xml_attr(el, "from"), *ta = xgw_xml_attr(el, "to");
        if (fa)
            (void)xgw_dns_domain_normalize(fa, f, sizeof f);
        if (ta)
            (void)xgw_dns_domain_normalize(ta, t, sizeof t);
        if (c->step != XO_DIALBACK || !type || strcmp(f, c->remote) != 0 ||
            strcmp(t, c->local) != 0) {
            /* S2S-15/16: only the answer to our own request counts. */
            xmet_dialback(x, "originating", "unsolicited");
            xgw_info("dialback_unsolicited", "conn=%llu remote=%s element=result-answer",
                     (unsigned long long)c->id, c->remote);
            return;
        }
        if (strcmp(type, "valid") == 0) {
            xmet_dialback(x, "originating", "valid");
            s_ready(c, "dialback");
        } else if (strcmp(type, "invalid") == 0) {
            xmet_dialback(x, "originating", "invalid");
            s_fail(c, "internal-server-error", 500, "the peer says our dialback key is invalid");
        } else {
            xmet_dialback(x, "originating", "error");
            s_fail(c, "remote-server-timeout", 504, "the peer answered dialback with an error");
        }
        return;
    }
    /* Stanzas on our outbound stream: without bidi the peer has its own
     * stream for them (S2S-17); nothing here is routed. */
    xgw_debug("outbound_stanza_ignored", "conn=%llu remote=%s name=%s", (unsigned long long)c->id,
              c->remote, name);
}
