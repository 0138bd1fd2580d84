/*
 * xmpp_dialback.c - server dialback (XEP-0220) pieces shared by both
 * directions:
 *  - authoritative server: answers <db:verify/> with the keyring certd
 *    shares with every xmppd process, so any process can answer for a key
 *    another one made (S2S-14; XEP-0185 keys, lib/xgw_dialback);
 *  - receiving server: the answers to the db:verify we sent on our
 *    outbound stream, correlated by (from, to, id) on that same stream
 *    (S2S-13); anything else is unsolicited and ignored (S2S-15);
 *  - the db:result replies of the receiving server.
 */
#include "xmppd.h"

#include "xgw_error.h"
#include "xgw_log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int
xdb_key(xmppd_t *x, const char *remote, const char *local, const char *id,
        char out[XGW_DIALBACK_KEY_HEX + 1])
{
    const xgw_dialback_ring_t *ring = xmppd_ring(x);
    if (!ring)
        return XGW_ENOENT;
    return xgw_dialback_ring_key(ring, remote, local, id, out);
}

/* <db:NAME from to [id] type='error'><error type><cond/></error></db:NAME>
 * or the plain verdict. */
static void
s_write_db(xconn_t *c, const char *name, const char *from, const char *to, const char *id,
           const char *type, const char *condition)
{
    xgw_xml_writer_t *w = &c->x->w;
    xgw_xml_writer_clear(w);
    xgw_xml_open(w, name);
    xgw_xml_attr_w(w, "from", from);
    xgw_xml_attr_w(w, "to", to);
    xgw_xml_attr_w(w, "id", id);
    xgw_xml_attr_w(w, "type", type);
    if (!condition) {
        xgw_xml_open_close(w);
    } else {
        xgw_xml_open_end(w);
        const char *etype = xgw_errmap_condition_type(condition);
        xgw_xml_open(w, "error");
        xgw_xml_attr_w(w, "type", etype ? etype : "cancel");
        xgw_xml_open_end(w);
        xgw_xml_open(w, condition);
        xgw_xml_attr_w(w, "xmlns", XGW_STANZA_NS_STANZAS);
        xgw_xml_open_close(w);
        xgw_xml_close(w, "error");
        xgw_xml_close(w, name);
    }
    if (xgw_xml_writer_status(w) == 0)
        (void)xconn_write(c, w->buf, w->len);
}

void
xdb_send_result(xconn_t *c, const char *local, const char *remote, const char *type,
                const char *condition)
{
    s_write_db(c, "db:result", local, remote, NULL, type, condition);
}

void
xdb_answer_verify(xconn_t *c, const xgw_xml_node_t *el)
{
    xmppd_t *x = c->x;
    if (xgw_xml_attr(el, "type")) {
        /* A verdict on an inbound stream answers nothing we asked here. */
        xmet_dialback(x, "authoritative", "unsolicited");
        xgw_info("dialback_unsolicited", "conn=%llu remote=%s element=verify",
                 (unsigned long long)c->id, c->remote[0] ? c->remote : "-");
        return;
    }
    const char *from = xgw_xml_attr(el, "from"); /* the receiving server */
    const char *to = xgw_xml_attr(el, "to");     /* the originating domain: ours */
    const char *id = xgw_xml_attr(el, "id");
    if (!from || !to || !id || !from[0] || !to[0] || !id[0]) {
        xmet_refused(x, "dialback-addressing");
        xconn_stream_error(c, "improper-addressing", NULL);
        return;
    }
    char local[XGW_DOMAIN_MAX + 1], remote[XGW_DOMAIN_MAX + 1];
    if (xgw_dns_domain_normalize(to, local, sizeof local) != 0 || !xmppd_serves(x, local) ||
        xgw_dns_domain_normalize(from, remote, sizeof remote) != 0) {
        xmet_dialback(x, "authoritative", "item-not-found");
        s_write_db(c, "db:verify", to, from, id, "error", "item-not-found");
        return;
    }
    const xgw_dialback_ring_t *ring = xmppd_ring(x);
    if (!ring) {
        xmet_dialback(x, "authoritative", "no-keyring");
        s_write_db(c, "db:verify", local, remote, id, "error", "internal-server-error");
        return;
    }
    const char *key = el->text ? el->text : "";
    while (*key == ' ' || *key == '\n' || *key == '\r' || *key == '\t')
        key++;
    char keybuf[XGW_DIALBACK_KEY_HEX + 1];
    size_t klen = strcspn(key, " \r\n\t");
    int ok = 0;
    if (klen == XGW_DIALBACK_KEY_HEX) {
        memcpy(keybuf, key, klen);
        keybuf[klen] = '\0';
        ok = xgw_dialback_ring_verify(ring, (int64_t)time(NULL), remote, local, id, keybuf);
    }
    const char *verdict = ok ? "valid" : "invalid";
    xmet_dialback(x, "authoritative", verdict);
    xgw_info("dialback_verify_answered", "conn=%llu receiving=%s originating=%s result=%s%s",
             (unsigned long long)c->id, remote, local, verdict, ok == 2 ? " secret=previous" : "");
    s_write_db(c, "db:verify", local, remote, id, verdict, NULL);
    /* A stream that only carries verifications lives while it is used. */
    if (!c->authenticated && c->establish_deadline) {
        const xgw_gateway_t *g = xmppd_gateway(x);
        c->establish_deadline =
            xmppd_now() + (int64_t)(g ? g->stream_establishment_timeout_s : 60) * 1000;
    }
}

void
xdb_on_verify_answer(xconn_t *c, const xgw_xml_node_t *el)
{
    xmppd_t *x = c->x;
    xroute_t *r = c->route;
    const char *type = xgw_xml_attr(el, "type");
    const char *from = xgw_xml_attr(el, "from");
    const char *to = xgw_xml_attr(el, "to");
    const char *id = xgw_xml_attr(el, "id");
    char f[XGW_DOMAIN_MAX + 1] = "", t[XGW_DOMAIN_MAX + 1] = "";
    if (from)
        (void)xgw_dns_domain_normalize(from, f, sizeof f);
    if (to)
        (void)xgw_dns_domain_normalize(to, t, sizeof t);
    for (size_t i = 0; r && id && i < r->n_verify; i++) {
        xverify_t *v = &r->verify[i];
        if (!v->sent || strcmp(v->remote, f) != 0 || strcmp(v->local, t) != 0 ||
            strcmp(v->id, id) != 0)
            continue;
        xverify_t done = *v;
        r->verify[i] = r->verify[--r->n_verify];
        int result = -1;
        const char *cond = "remote-server-not-found";
        if (type && strcmp(type, "valid") == 0)
            result = 1;
        else if (type && strcmp(type, "invalid") == 0)
            result = 0;
        xgw_info("dialback_verify_result", "conn=%llu originating=%s receiving=%s result=%s",
                 (unsigned long long)c->id, done.remote, done.local,
                 result == 1   ? "valid"
                 : result == 0 ? "invalid"
                               : "error");
        xin_verify_result(x, done.in_conn, done.remote, done.local, result, cond);
        return;
    }
    xmet_dialback(x, "receiving", "unsolicited");
    xgw_info("dialback_unsolicited", "conn=%llu remote=%s element=verify-answer",
             (unsigned long long)c->id, c->remote);
}

void
xout_flush_verify(xconn_t *c)
{
    xroute_t *r = c->route;
    if (!r || !c->verify_ready || c->dead)
        return;
    for (size_t i = 0; i < r->n_verify && !c->dead; i++) {
        xverify_t *v = &r->verify[i];
        if (v->sent)
            continue;
        xgw_xml_writer_t *w = &c->x->w;
        xgw_xml_writer_clear(w);
        xgw_xml_open(w, "db:verify");
        xgw_xml_attr_w(w, "from", v->local);
        xgw_xml_attr_w(w, "to", v->remote);
        xgw_xml_attr_w(w, "id", v->id);
        xgw_xml_open_end(w);
        xgw_xml_text_w(w, v->key, strlen(v->key));
        xgw_xml_close(w, "db:verify");
        if (xgw_xml_writer_status(w) != 0)
            continue;
        v->sent = true;
        xgw_info("dialback_verify_sent", "conn=%llu originating=%s receiving=%s id=%s",
                 (unsigned long long)c->id, v->remote, v->local, v->id);
        (void)xconn_write(c, w->buf, w->len);
    }
}
