/*
 * xmpp_route.c - outbound routing: one route per (served domain, remote
 * domain) pair in this process, with at most one outbound stream. The
 * broker's affinity key for service "xmpp" is the remote domain, so all
 * traffic for a domain reaches one xmppd and one stream.
 *
 * A Deliver from the SIP side becomes stanza XML at once (lib/xgw_stanza)
 * and waits in the route's bounded queue (xmppd.outbound_queue_max) while
 * the stream is set up: address lookup (the partner's proxy_fqdn as a
 * static route, else SRV via lib/xgw_dns), TCP to each candidate in turn
 * (never an A fallback when SRV records exist: the resolver decides),
 * TLS, authentication (xmpp_out.c). The held request is answered 200 when
 * its stanza has been written to the authenticated stream's socket;
 * 404 remote-server-not-found when the domain has no XMPP service; 504
 * remote-server-timeout when it cannot be reached or the stream cannot be
 * set up in time; 500 internal-server-error when dialback says our key is
 * invalid (S2S-16); 503 resource-constraint when the queue is full.
 *
 * The receiving-server side of dialback uses the same routes: a db:verify
 * for an inbound stream goes out on our outbound stream to the originating
 * domain (never on the stream the request came in on, S2S-17).
 */
#include "xmppd.h"

#include "xgw_error.h"
#include "xgw_gwp.h"
#include "xgw_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Stop feeding a stream while this much is unwritten: TCP pushes back. */
#define S_PUMP_HIGH_WATER ((size_t)256 * 1024)

static void s_start(xroute_t *r);
static void s_pump(xroute_t *r);

static xmppd_t *s_x; /* routes reach the process through it (single process) */

int
xroute_init(xmppd_t *x)
{
    s_x = x;
    x->routes = xgw_strmap_new();
    return x->routes ? 0 : XGW_ENOMEM;
}

static void
s_item_free(xqitem_t *it)
{
    if (it->req)
        xgw_request_destroy(&it->req);
    free(it->xml);
    free(it);
}

/* Answers the request of an item (if any) and frees it. */
static void
s_answer(xmppd_t *x, xqitem_t *it, uint16_t status, const char *condition, const char *text)
{
    if (it->req) {
        Xgw__V1__DeliverResult res = XGW__V1__DELIVER_RESULT__INIT;
        if (status != 200) {
            const char *type = condition ? xgw_errmap_condition_type(condition) : NULL;
            res.condition = (char *)(condition ? condition : "undefined-condition");
            res.error_type = (char *)(type ? type : "cancel");
            res.text = (char *)(text ? text : "");
        }
        (void)xgw_edge_rt_answer(x->rt, &it->req, status, status == 200 ? NULL : &res);
        xmet_deliver(x, status == 200 ? "delivered" : condition ? condition : "failed");
    }
    s_item_free(it);
}

/* Several routes (one per served domain) may share a partner's series:
 * each adds its own change. */
static void
s_depth(xroute_t *r)
{
    double delta = (double)r->q_len - (double)r->depth_reported;
    if (delta != 0)
        xgw_series_gauge_add(r->m_depth, delta);
    r->depth_reported = r->q_len;
}

xroute_t *
xroute_get(xmppd_t *x, const char *local, const char *remote, bool create)
{
    char key[2 * XGW_DOMAIN_MAX + 2];
    snprintf(key, sizeof key, "%s|%s", local, remote);
    xroute_t *r = xgw_strmap_get(x->routes, key);
    if (r || !create)
        return r;
    r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->x = x;
    snprintf(r->key, sizeof r->key, "%s", key);
    snprintf(r->local, sizeof r->local, "%s", local);
    snprintf(r->remote, sizeof r->remote, "%s", remote);
    const char *why = NULL;
    const xgw_partner_t *p = xmppd_partner(x, remote, &why);
    r->partner_id = p ? p->id : 0;
    r->m_depth = xmet_queue_series(x, r->partner_id);
    if (xgw_strmap_put(x->routes, key, r) != 0) {
        free(r);
        return NULL;
    }
    return r;
}

static void
s_route_free(xroute_t *r)
{
    while (r->q_head) {
        xqitem_t *it = r->q_head;
        r->q_head = it->next;
        s_item_free(it);
    }
    while (r->f_head) {
        xqitem_t *it = r->f_head;
        r->f_head = it->next;
        s_item_free(it);
    }
    free(r->cands);
    free(r->verify);
    free(r);
}

static void
s_free_cb(void *ud, const char *key, void *value)
{
    (void)ud;
    (void)key;
    s_route_free(value);
}

void
xroute_fini(xmppd_t *x)
{
    if (!x->routes)
        return;
    xgw_strmap_each(x->routes, s_free_cb, NULL);
    xgw_strmap_destroy(&x->routes);
}

/* ------------------------------------------------------------------ */
/* Failing                                                             */

static void
s_fail_verifies(xroute_t *r, const char *condition)
{
    while (r->n_verify > 0) {
        xverify_t v = r->verify[--r->n_verify];
        xin_verify_result(s_x, v.in_conn, v.remote, v.local, -1, condition);
    }
}

static void
s_fail_inflight(xroute_t *r, uint16_t status, const char *condition, const char *text)
{
    while (r->f_head) {
        xqitem_t *it = r->f_head;
        r->f_head = it->next;
        if (!r->f_head)
            r->f_tail = NULL;
        s_answer(s_x, it, status, condition, text);
    }
}

static void
s_fail_queue(xroute_t *r, uint16_t status, const char *condition, const char *text)
{
    while (r->q_head) {
        xqitem_t *it = r->q_head;
        r->q_head = it->next;
        if (!r->q_head)
            r->q_tail = NULL;
        r->q_len--;
        s_answer(s_x, it, status, condition, text);
    }
    s_depth(r);
}

/* The route cannot be set up now: everything waiting gets the failure. */
static void
s_fail(xroute_t *r, uint16_t status, const char *condition, const char *text)
{
    xgw_info("outbound_failed",
             "local=%s remote=%s status=%u condition=%s reason=\"%s\" queued=%zu", r->local,
             r->remote, status, condition, text ? text : "", r->q_len);
    r->failing = true;
    free(r->cands);
    r->cands = NULL;
    r->n_cands = r->next_cand = 0;
    s_fail_queue(r, status, condition, text);
    s_fail_inflight(r, status, condition, text);
    s_fail_verifies(r, condition && strcmp(condition, "remote-server-not-found") == 0
                           ? "remote-server-not-found"
                           : "remote-server-timeout");
    r->failing = false;
}

/* ------------------------------------------------------------------ */
/* Setup                                                               */

static void
s_connect_next(xroute_t *r)
{
    xmppd_t *x = s_x;
    r->limit_hit = false;
    const char *why = NULL;
    const xgw_partner_t *p = xmppd_partner(x, r->remote, &why);
    while (r->next_cand < r->n_cands) {
        if (xmppd_now() >= r->setup_deadline || r->limit_hit)
            break;
        const xgw_dns_candidate_t *cand = &r->cands[r->next_cand++];
        if (cand->direct_tls && p && p->tls == XGW_NEG_NOT_SUPPORTED) {
            /* An xmpps target is TLS from the first byte: not for a partner
             * set to tls not-supported. */
            xgw_info("outbound_candidate_skipped", "remote=%s peer=%s:%u reason=tls-not-supported",
                     r->remote, cand->ip, cand->port);
            continue;
        }
        xconn_t *c = xout_connect(r, cand);
        if (c) {
            r->conn = c;
            return;
        }
    }
    (void)x;
    if (r->limit_hit)
        s_fail(r, 503, "resource-constraint", "the partner's connection limit is reached");
    else
        s_fail(r, 504, "remote-server-timeout", "no candidate address could be reached");
}

static void
s_dns_done(void *ud, uint64_t id, const xgw_dns_result_t *res)
{
    xroute_t *r = ud;
    if (r->dns_id != id)
        return;
    r->dns_id = 0;
    if (res->status != 0 || res->count == 0) {
        const char *result = res->status == XGW_ENOENT      ? "nxdomain"
                             : res->status == XGW_ETIMEDOUT ? "timeout"
                                                            : "error";
        xmet_dns(s_x, result);
        xgw_info("dns_failed", "remote=%s result=%s", r->remote, result);
        if (res->status == XGW_ENOENT)
            s_fail(r, 404, "remote-server-not-found", "the domain has no XMPP server");
        else if (res->status == XGW_ETIMEDOUT)
            s_fail(r, 504, "remote-server-timeout", "DNS lookup timed out");
        else
            s_fail(r, 504, "remote-server-timeout", "DNS lookup failed");
        return;
    }
    xmet_dns(s_x, "ok");
    free(r->cands);
    r->cands = calloc(res->count, sizeof *r->cands);
    if (!r->cands) {
        s_fail(r, 504, "remote-server-timeout", "out of memory");
        return;
    }
    memcpy(r->cands, res->candidates, res->count * sizeof *r->cands);
    r->n_cands = res->count;
    r->next_cand = 0;
    xgw_info("dns_resolved", "remote=%s candidates=%zu source=%s first=%s:%u", r->remote,
             res->count,
             res->source == XGW_DNS_SRC_SRV        ? "srv"
             : res->source == XGW_DNS_SRC_FALLBACK ? "fallback"
             : res->source == XGW_DNS_SRC_STATIC   ? "static"
                                                   : "literal",
             res->candidates[0].ip, res->candidates[0].port);
    s_connect_next(r);
}

static void
s_start(xroute_t *r)
{
    xmppd_t *x = s_x;
    if (r->conn || r->dns_id || r->failing)
        return;
    const char *why = NULL;
    const xgw_partner_t *p = xmppd_partner(x, r->remote, &why);
    if (!p) {
        s_fail(r, 403, "forbidden", why);
        return;
    }
    r->partner_id = p->id;
    const xgw_gateway_t *g = xmppd_gateway(x);
    r->setup_deadline = xmppd_now() + (int64_t)(g ? g->stream_establishment_timeout_s : 60) * 1000;
    uint64_t id = 0;
    int rc;
    if (p->proxy_fqdn[0]) {
        char host[XGW_DNS_NAME_MAX];
        uint16_t port = 0;
        rc = xgw_dns_parse_hostport(p->proxy_fqdn, XGW_DNS_XMPP_PORT, host, sizeof host, &port);
        if (rc == 0)
            rc = xgw_dns_resolve_host(x->dns, host, port, false, s_dns_done, r, &id);
    } else {
        rc = xgw_dns_resolve_xmpp(x->dns, r->remote, s_dns_done, r, &id);
    }
    if (rc != 0) {
        xmet_dns(x, "error");
        s_fail(r, rc == XGW_EINVAL ? 404 : 504,
               rc == XGW_EINVAL ? "remote-server-not-found" : "remote-server-timeout",
               "the lookup could not start");
        return;
    }
    r->dns_id = id;
    xgw_debug("outbound_resolving", "local=%s remote=%s static=%d", r->local, r->remote,
              p->proxy_fqdn[0] != 0);
}

void
xroute_conn_closed(xroute_t *r, xconn_t *c, const char *condition, uint16_t status)
{
    if (r->conn == c)
        r->conn = NULL;
    const char *cond = condition ? condition : "remote-server-timeout";
    uint16_t st = status ? status : 504;
    /* Written but not yet out of our buffer: lost with the connection. */
    s_fail_inflight(r, st, cond, "the stream closed before the stanza was written");
    for (size_t i = 0; i < r->n_verify;) {
        if (r->verify[i].sent) {
            xverify_t v = r->verify[i];
            r->verify[i] = r->verify[--r->n_verify];
            /* S2S-13: a verification cut short is a failure. */
            xin_verify_result(s_x, v.in_conn, v.remote, v.local, -1, "remote-connection-failed");
        } else {
            i++;
        }
    }
    if (c->was_ready) {
        /* The stream worked and ended (idle close, peer restart): what
         * still waits gets a new one. */
        if (r->q_head || r->n_verify)
            s_start(r);
        return;
    }
    if (c->tcp_failed && r->next_cand < r->n_cands) {
        s_connect_next(r);
        return;
    }
    s_fail(r, st, cond, c->close_reason);
}

/* ------------------------------------------------------------------ */
/* Queue                                                               */

static bool
s_ready(const xroute_t *r)
{
    return r->conn && !r->conn->dead && r->conn->step == XO_READY && r->conn->stream == XS_OPEN;
}

static void
s_pump(xroute_t *r)
{
    if (r->pumping)
        return;
    r->pumping = true;
    int64_t now_wall = xgw_gwp_now_ms();
    while (r->q_head && s_ready(r) && xconn_pending(r->conn) < S_PUMP_HIGH_WATER) {
        xqitem_t *it = r->q_head;
        r->q_head = it->next;
        if (!r->q_head)
            r->q_tail = NULL;
        r->q_len--;
        it->next = NULL;
        if (it->deadline && now_wall > it->deadline) {
            s_answer(s_x, it, 504, "remote-server-timeout", "the request expired in the queue");
            continue;
        }
        xconn_t *c = r->conn;
        it->mark = c->out_queued + it->len;
        if (r->f_tail)
            r->f_tail->next = it;
        else
            r->f_head = it;
        r->f_tail = it;
        c->stanzas_out++;
        c->last_stanza = xmppd_now();
        xmet_stanza(s_x, "out", it->kind);
        (void)xconn_write(c, it->xml, it->len);
    }
    s_depth(r);
    r->pumping = false;
}

void
xroute_ready(xroute_t *r)
{
    xgw_info("outbound_ready", "local=%s remote=%s auth=%s queued=%zu", r->local, r->remote,
             r->conn ? r->conn->auth : "-", r->q_len);
    s_pump(r);
}

void
xroute_flushed(xroute_t *r, uint64_t flushed)
{
    while (r->f_head && r->f_head->mark <= flushed) {
        xqitem_t *it = r->f_head;
        r->f_head = it->next;
        if (!r->f_head)
            r->f_tail = NULL;
        s_answer(s_x, it, 200, NULL, NULL);
    }
    if (r->q_head && !r->pumping)
        s_pump(r);
}

/* Queues xml (copied) for the stream local -> remote. Returns 0, or the
 * status to answer with. */
static uint16_t
s_enqueue(xmppd_t *x, const char *local, const char *remote, const char *xml, size_t len,
          xgw_request_t **req_p, const char *kind, int64_t deadline, const char **condition)
{
    xroute_t *r = xroute_get(x, local, remote, true);
    if (!r) {
        *condition = "resource-constraint";
        return 503;
    }
    if (r->q_len >= (size_t)x->settings->xmppd.outbound_queue_max) {
        *condition = "resource-constraint";
        return 503;
    }
    xqitem_t *it = calloc(1, sizeof *it);
    char *copy = it ? malloc(len) : NULL;
    if (!it || !copy) {
        free(it);
        *condition = "resource-constraint";
        return 503;
    }
    memcpy(copy, xml, len);
    it->xml = copy;
    it->len = len;
    it->kind = kind;
    it->deadline = deadline;
    if (req_p) {
        it->req = *req_p;
        *req_p = NULL;
    }
    if (r->q_tail)
        r->q_tail->next = it;
    else
        r->q_head = it;
    r->q_tail = it;
    r->q_len++;
    s_depth(r);
    if (s_ready(r))
        s_pump(r);
    else if (!r->conn && !r->dns_id)
        s_start(r);
    return 0;
}

static void
s_answer_req(xmppd_t *x, xgw_request_t **req_p, uint16_t status, const char *condition,
             const char *text)
{
    Xgw__V1__DeliverResult res = XGW__V1__DELIVER_RESULT__INIT;
    const char *type = xgw_errmap_condition_type(condition);
    res.condition = (char *)condition;
    res.error_type = (char *)(type ? type : "cancel");
    res.text = (char *)(text ? text : "");
    (void)xgw_edge_rt_answer(x->rt, req_p, status, &res);
    xmet_deliver(x, condition);
}

void
xroute_on_deliver(xmppd_t *x, xgw_request_t **req_p, const Xgw__V1__Deliver *d)
{
    const char *from = NULL, *to = NULL, *kind = "presence";
    switch (d->kind_case) {
    case XGW__V1__DELIVER__KIND_MESSAGE:
        from = d->message->from;
        to = d->message->to;
        kind = "message";
        break;
    case XGW__V1__DELIVER__KIND_PRESENCE:
        from = d->presence->from;
        to = d->presence->to;
        break;
    case XGW__V1__DELIVER__KIND_SUBSCRIPTION:
        from = d->subscription->from;
        to = d->subscription->to;
        break;
    default:
        break;
    }
    char local[XGW_DOMAIN_MAX + 1], remote[XGW_DOMAIN_MAX + 1];
    if (!from || !to || xmppd_jid_domain(from, local, sizeof local) != 0 ||
        xmppd_jid_domain(to, remote, sizeof remote) != 0 || !xmppd_serves(x, local) ||
        xmppd_serves(x, remote)) {
        s_answer_req(x, req_p, 400, "bad-request", "from must be served here and to remote");
        return;
    }
    const char *why = NULL;
    const xgw_partner_t *p = xmppd_partner(x, remote, &why);
    if (!p) {
        xgw_info("deliver_refused", "local=%s remote=%s reason=%s", local, remote, why);
        s_answer_req(x, req_p, 403, "forbidden", why);
        return;
    }
    xgw_stanza_out_ctx_t ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.local_domain = local;
    ctx.remote_domain = remote;
    ctx.counter = ++x->out_counter;
    /* Status notes never reach public partners (Lync PartnerType). */
    ctx.strip_status = p->type != XGW_PARTNER_FEDERATED;
    ctx.privacy = XGW_STANZA_PRIVACY_MASK;
    xgw_xml_writer_t *w = &x->w;
    xgw_xml_writer_clear(w);
    int rc = xgw_stanza_write_deliver(w, d, &ctx);
    if (rc != 0) {
        s_answer_req(x, req_p, 400, "bad-request", "the stanza cannot be written");
        return;
    }
    const char *cond = NULL;
    uint16_t st =
        s_enqueue(x, local, remote, w->buf, w->len, req_p, kind, (*req_p)->deadline_ms, &cond);
    if (st != 0) {
        xgw_info("deliver_refused", "local=%s remote=%s reason=queue-full", local, remote);
        s_answer_req(x, req_p, st, cond, "the queue for this domain is full");
    }
}

void
xroute_send_raw(xmppd_t *x, const char *local, const char *remote, const char *xml, size_t len)
{
    const char *cond = NULL;
    const char *kind = strncmp(xml, "<iq", 3) == 0        ? "iq"
                       : strncmp(xml, "<message", 8) == 0 ? "message"
                                                          : "presence";
    int64_t deadline = xgw_gwp_now_ms() + x->settings->common.request_timeout_ms;
    if (s_enqueue(x, local, remote, xml, len, NULL, kind, deadline, &cond) != 0)
        xgw_info("answer_dropped", "local=%s remote=%s reason=queue-full", local, remote);
}

int
xroute_verify(xmppd_t *x, const char *local, const char *remote, const char *stream_id,
              const char *key, uint64_t in_conn)
{
    xroute_t *r = xroute_get(x, local, remote, true);
    if (!r)
        return XGW_ENOMEM;
    if (r->n_verify >= XMPPD_MAX_VERIFY)
        return XGW_ERANGE;
    if (r->n_verify == r->cap_verify) {
        size_t cap = r->cap_verify ? r->cap_verify * 2 : 4;
        xverify_t *v = realloc(r->verify, cap * sizeof *v);
        if (!v)
            return XGW_ENOMEM;
        r->verify = v;
        r->cap_verify = cap;
    }
    xverify_t *v = &r->verify[r->n_verify++];
    memset(v, 0, sizeof *v);
    snprintf(v->remote, sizeof v->remote, "%s", remote);
    snprintf(v->local, sizeof v->local, "%s", local);
    snprintf(v->id, sizeof v->id, "%s", stream_id);
    snprintf(v->key, sizeof v->key, "%s", key);
    v->in_conn = in_conn;
    const xgw_gateway_t *g = xmppd_gateway(x);
    v->deadline = xmppd_now() + (int64_t)(g ? g->stream_establishment_timeout_s : 60) * 1000;
    if (r->conn)
        xout_flush_verify(r->conn);
    else if (!r->dns_id)
        s_start(r);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Timers, drain                                                       */

typedef struct {
    xmppd_t *x;
    int64_t now;
    int64_t wall;
    char (*gone)[2 * XGW_DOMAIN_MAX + 2];
    size_t n_gone, cap_gone;
} s_walk_t;

static void
s_timer_cb(void *ud, const char *key, void *value)
{
    s_walk_t *wk = ud;
    xroute_t *r = value;
    /* Stanzas that waited past their request's deadline: the sender has
     * given up already. */
    if (!s_ready(r)) {
        xqitem_t **pp = &r->q_head;
        r->q_tail = NULL;
        while (*pp) {
            xqitem_t *it = *pp;
            if (it->deadline && wk->wall > it->deadline) {
                *pp = it->next;
                r->q_len--;
                s_answer(wk->x, it, 504, "remote-server-timeout",
                         "the stream was not ready before the deadline");
                continue;
            }
            r->q_tail = it;
            pp = &it->next;
        }
        s_depth(r);
    }
    for (size_t i = 0; i < r->n_verify;) {
        if (wk->now >= r->verify[i].deadline) {
            xverify_t v = r->verify[i];
            r->verify[i] = r->verify[--r->n_verify];
            xin_verify_result(wk->x, v.in_conn, v.remote, v.local, -1, "remote-server-timeout");
        } else {
            i++;
        }
    }
    if (!r->conn && !r->dns_id && !r->q_head && !r->f_head && r->n_verify == 0) {
        if (wk->n_gone == wk->cap_gone) {
            size_t cap = wk->cap_gone ? wk->cap_gone * 2 : 16;
            void *g = realloc(wk->gone, cap * sizeof *wk->gone);
            if (!g)
                return;
            wk->gone = g;
            wk->cap_gone = cap;
        }
        snprintf(wk->gone[wk->n_gone++], sizeof wk->gone[0], "%s", key);
    }
}

void
xroute_timers(xmppd_t *x, int64_t now)
{
    s_walk_t wk = {.x = x, .now = now, .wall = xgw_gwp_now_ms()};
    xgw_strmap_each(x->routes, s_timer_cb, &wk);
    for (size_t i = 0; i < wk.n_gone; i++) {
        xroute_t *r = xgw_strmap_remove(x->routes, wk.gone[i]);
        if (r) {
            s_depth(r); /* q_len is 0 here */
            s_route_free(r);
        }
    }
    free(wk.gone);
}

static void
s_idle_cb(void *ud, const char *key, void *value)
{
    bool *idle = ud;
    const xroute_t *r = value;
    (void)key;
    if (r->q_head || r->f_head)
        *idle = false;
}

bool
xroute_idle(xmppd_t *x)
{
    bool idle = true;
    xgw_strmap_each(x->routes, s_idle_cb, &idle);
    return idle && xdel_idle(x);
}

typedef struct {
    const char *condition;
    uint16_t status;
} s_failall_t;

static void
s_failall_cb(void *ud, const char *key, void *value)
{
    s_failall_t *f = ud;
    xroute_t *r = value;
    (void)key;
    s_fail_queue(r, f->status, f->condition, "the gateway is shutting down");
    s_fail_inflight(r, f->status, f->condition, "the gateway is shutting down");
    s_fail_verifies(r, "remote-server-timeout");
}

void
xroute_fail_all(xmppd_t *x, const char *condition, uint16_t status)
{
    if (!x->routes)
        return;
    s_failall_t f = {condition, status};
    xgw_strmap_each(x->routes, s_failall_cb, &f);
}
