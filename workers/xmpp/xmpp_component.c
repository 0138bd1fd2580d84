/*
 * xmpp_component.c - xmppd.mode = component: the gateway is an XEP-0114
 * component of a local XMPP server (Prosody, ejabberd) that federates for
 * it. One link (lib/xgw_component: our own stream reader, handshake,
 * reconnect with backoff) to xmppd.component_connect as the component
 * xmppd.component_domain (default: the first of common.domains), the
 * secret from xmppd.component_secret_file.
 *
 * The hand-off is the s2s one: a stanza from the server is checked by
 * lib/xgw_stanza (content namespace jabber:component:accept; the server
 * vouches for 'from', so the authenticated domain is the stanza's own),
 * decided by the policy replica and handed to the SIP side by
 * xmpp_deliver.c, with the same per-conversation order and back-pressure:
 * the link is a source like an s2s stream, fed piece by piece, and not
 * read while it holds 64 stanzas. What would close an s2s stream (a bad
 * address, an element that is no stanza) drops the one stanza here: the
 * link carries every user of the server.
 *
 * A Deliver from the SIP side becomes a stanza written on the link
 * (unprefixed, so in the stream's jabber:component:accept namespace); it
 * is answered 200 once its last byte reached the socket. When the link
 * cannot take it - down, or xmppd's buffer for it full (the server does
 * not read) - it is answered 503 at once: sipd answers its MESSAGE 503
 * with Retry-After, so the sender retries later, and nothing piles up
 * here. Stanzas written but not flushed when the link drops are answered
 * 503 as well.
 */
#include "xmppd.h"

#include "xgw_component.h"
#include "xgw_error.h"
#include "xgw_log.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#define S_MAX_QUEUE ((size_t)2 * 1024 * 1024) /* bytes waiting for the server */
#define S_KEEPALIVE_MS 60000

typedef struct s_wait {
    struct s_wait *next;
    xgw_request_t *req;
    const char *kind;
    uint64_t mark; /* stats.bytes_out once its last byte is written */
} s_wait_t;

struct xcomp {
    xwatch_t w; /* first: the epoll pointer */
    xmppd_t *x;
    xgw_component_t *link;
    uint32_t events; /* registered */
    bool registered;
    bool up;
    char domain[XGW_DOMAIN_MAX + 1];
    char server[XGW_DNS_IP_MAX];
    uint16_t port;
    xsrc_t src;
    s_wait_t *w_head, *w_tail; /* written, waiting for the socket */
    size_t n_wait;
    xgw_series_t *m_up;
    xgw_family_t *m_failures;
};

static const char *
s_kind(const Xgw__V1__Deliver *d)
{
    return d->kind_case == XGW__V1__DELIVER__KIND_MESSAGE ? "message" : "presence";
}

static void
s_answer(xmppd_t *x, xgw_request_t **req_p, uint16_t status, const char *condition,
         const char *text)
{
    if (status == 200) {
        (void)xgw_edge_rt_answer(x->rt, req_p, 200, NULL);
        xmet_deliver(x, "delivered");
        return;
    }
    Xgw__V1__DeliverResult res = XGW__V1__DELIVER_RESULT__INIT;
    const char *type = xgw_errmap_condition_type(condition);
    res.condition = (char *)condition;
    res.error_type = (char *)(type ? type : "cancel");
    res.text = (char *)(text ? text : "");
    (void)xgw_edge_rt_answer(x->rt, req_p, status, &res);
    xmet_deliver(x, status == 503 ? "link_unavailable" : condition);
}

/* Stanzas written but not out: they are lost with the link. */
static void
s_fail_waiting(struct xcomp *k, const char *text)
{
    while (k->w_head) {
        s_wait_t *it = k->w_head;
        k->w_head = it->next;
        s_answer(k->x, &it->req, 503, "remote-server-timeout", text);
        free(it);
    }
    k->w_tail = NULL;
    k->n_wait = 0;
}

/* Answers what the socket took. */
static void
s_flushed(struct xcomp *k)
{
    if (!k->w_head)
        return;
    xgw_component_stats_t st;
    xgw_component_stats(k->link, &st);
    while (k->w_head && k->w_head->mark <= st.bytes_out) {
        s_wait_t *it = k->w_head;
        k->w_head = it->next;
        if (!k->w_head)
            k->w_tail = NULL;
        k->n_wait--;
        s_answer(k->x, &it->req, 200, NULL, NULL);
        free(it);
    }
}

static void
s_watch(struct xcomp *k)
{
    int fd = xgw_component_fd(k->link);
    if (fd < 0)
        return;
    uint32_t ev = (xgw_component_want_read(k->link) ? EPOLLIN : 0) |
                  (xgw_component_want_write(k->link) ? EPOLLOUT : 0);
    if (!k->registered) {
        k->w.fd = fd;
        if (xmppd_epoll_add(k->x, fd, ev, k) == 0) {
            k->registered = true;
            k->events = ev;
        }
        return;
    }
    if (ev != k->events && xmppd_epoll_mod(k->x, fd, ev, k) == 0)
        k->events = ev;
}

/* ------------------------------------------------------------------ */
/* Link callbacks                                                      */

static void
s_on_fd(void *ud, int old_fd, int new_fd)
{
    struct xcomp *k = ud;
    if (old_fd >= 0 && k->registered) {
        /* (xgw_component closed it already: the kernel dropped the watch;
         * a failing DEL is harmless.) */
        xmppd_epoll_del(k->x, old_fd);
        k->registered = false;
    }
    if (new_fd >= 0) {
        k->w.fd = new_fd;
        k->events = 0;
        s_watch(k);
    }
}

static void
s_on_state(void *ud, bool up, const char *why)
{
    struct xcomp *k = ud;
    xmppd_t *x = k->x;
    if (up) {
        k->up = true;
        k->src.gated = true;
        xmet_stream(x, "component", "handshake", 1);
        xmet_authenticated(x, "component", "handshake");
        xgw_series_set(k->m_up, 1);
        xgw_info("component_ready", "domain=%s server=%s:%u", k->domain, k->server, k->port);
        return;
    }
    const char *reason = xgw_component_down_reason(k->link);
    xgw_series_inc(xgw_family_series(k->m_failures, reason[0] ? reason : "other"));
    bool was_up = k->up;
    if (k->up) {
        k->up = false;
        xmet_stream(x, "component", "handshake", -1);
        xgw_series_set(k->m_up, 0);
    }
    /* The reader starts over on the next connection; held stanzas stay. */
    xsrc_gone(&k->src);
    k->src.gated = false;
    s_fail_waiting(k, "the component link went down before the stanza was written");
    if (strcmp(reason, "refused") == 0) {
        const char *cond = xgw_component_down_condition(k->link);
        xmet_stream_error(x, "received", cond);
        xgw_error("component_handshake_refused", "domain=%s server=%s:%u condition=%s hint=\"%s\"",
                  k->domain, k->server, k->port, cond[0] ? cond : "-",
                  strcmp(cond, "not-authorized") == 0
                      ? "the secret in component_secret_file does not match the server's "
                        "component_secret for this domain"
                      : "the server does not accept this component (check its Component "
                        "section)");
    } else if (was_up) {
        xgw_info("component_lost", "domain=%s server=%s:%u reason=%s detail=\"%s\"", k->domain,
                 k->server, k->port, reason, why ? why : "");
    } else {
        /* (lib/xgw_component logged the attempt at warn level) */
        xgw_debug("component_attempt_failed", "domain=%s reason=%s", k->domain, reason);
    }
}

static bool
s_served_cb(void *ud, const char *domain)
{
    return xmppd_serves(ud, domain);
}

static void
s_on_stanza(void *ud, const xgw_xml_node_t *el)
{
    struct xcomp *k = ud;
    xmppd_t *x = k->x;
    /* The server authenticated the sender: its domain is the stanza's. */
    char remote[XGW_DOMAIN_MAX + 1];
    if (xmppd_jid_domain(xgw_xml_attr(el, "from"), remote, sizeof remote) != 0) {
        xmet_stanza(x, "in", "refused");
        xgw_info("stanza_refused", "conn=component remote=- condition=improper-addressing "
                                   "reason=no-from");
        return;
    }
    xgw_stanza_in_ctx_t ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.served = s_served_cb;
    ctx.served_ud = x;
    ctx.content_ns = XGW_STANZA_NS_COMPONENT;
    ctx.remote_domain = remote;
    ctx.local_domain = k->domain;
    ctx.origin_instance = x->daemon->instance_name;
    xgw_stanza_in_t in;
    memset(&in, 0, sizeof in);
    int rc = xgw_stanza_inbound(el, &ctx, x->arena, &in);
    if (rc != 0) {
        xgw_warn("stanza_dropped", "conn=component remote=%s reason=%s", remote, xgw_strerror(rc));
        xgw_arena_reset(x->arena);
        return;
    }
    const char *kind = in.name ? in.name : "other";
    switch (in.action) {
    case XGW_STANZA_STREAM_ERROR:
        /* The link carries every user of the server: one bad stanza is
         * dropped, never the link. */
        xmet_stanza(x, "in", "refused");
        xgw_info("stanza_refused", "conn=component remote=%s condition=%s reason=%s", remote,
                 in.condition, in.reason);
        break;
    case XGW_STANZA_DELIVER:
        xmet_stanza(x, "in", kind);
        xdel_inbound(x, &k->src, &in);
        break;
    case XGW_STANZA_ANSWER:
    case XGW_STANZA_BOUNCE: {
        xmet_stanza(x, "in", kind);
        xgw_xml_writer_t *w = &x->w;
        xgw_xml_writer_clear(w);
        if (xgw_stanza_write_answer(w, &in) == 0)
            xcomp_send_raw(x, w->buf, w->len);
        xgw_debug("stanza_answered", "conn=component kind=%s reason=%s", kind, in.reason);
        break;
    }
    case XGW_STANZA_IGNORE:
    default:
        xmet_stanza(x, "in", kind);
        xgw_debug("stanza_ignored", "conn=component kind=%s reason=%s", kind, in.reason);
        break;
    }
    xgw_arena_reset(x->arena);
}

static size_t
s_feed_limit(void *ud, const char *data, size_t len)
{
    struct xcomp *k = ud;
    size_t n = xsrc_feed_len(&k->src, data, len);
    if (n == 0) {
        xsrc_pause(&k->src);
        xgw_debug("stream_paused", "conn=component held=%zu", k->src.held);
    }
    return n;
}

/* The link may be read again: xcomp_turn feeds the kept input. */
static void
s_on_resume(xsrc_t *src)
{
    struct xcomp *k = (struct xcomp *)((char *)src - offsetof(struct xcomp, src));
    xgw_component_resume(k->link);
    xgw_debug("stream_resumed", "conn=component held=%zu", k->src.held);
}

static const xgw_component_cbs_t s_cbs = {s_on_state, s_on_stanza, s_on_fd};

/* ------------------------------------------------------------------ */
/* Process                                                             */

int
xcomp_setup(xmppd_t *x)
{
    const xgw_settings_t *s = x->settings;
    struct xcomp *k = calloc(1, sizeof *k);
    if (!k)
        return XGW_ENOMEM;
    x->comp = k;
    k->x = x;
    k->w.kind = XW_COMP;
    k->w.fd = -1;
    k->src.x = x;
    k->src.on_resume = s_on_resume;
    x->link_src = &k->src;
    char why[256];
    const char *dom = s->xmppd.component_domain[0] ? s->xmppd.component_domain
                                                   : (x->served.n ? x->served.v[0] : "");
    if (strchr(dom, ',') || xgw_dns_domain_normalize(dom, k->domain, sizeof k->domain) != 0) {
        xgw_error("config_invalid", "key=xmppd.component_domain value=\"%s\" reason=\"%s\"", dom,
                  "one domain name is needed");
        return XGW_EINVAL;
    }
    if (!xmppd_serves(x, k->domain)) {
        xgw_error("config_invalid", "key=xmppd.component_domain value=\"%s\" reason=\"%s\"",
                  k->domain, "it must be one of common.domains (the SIP users' domain)");
        return XGW_EINVAL;
    }
    if (xgw_dns_parse_hostport(s->xmppd.component_connect, 5347, k->server, sizeof k->server,
                               &k->port) != 0) {
        xgw_error("config_invalid", "key=xmppd.component_connect value=\"%s\" reason=\"%s\"",
                  s->xmppd.component_connect, "HOST:PORT with an IP address is needed");
        return XGW_EINVAL;
    }
    xgw_component_opts_t o;
    memset(&o, 0, sizeof o);
    o.server = k->server;
    o.port = k->port;
    o.jid = k->domain;
    o.secret_file = s->xmppd.component_secret_file;
    o.max_queue = S_MAX_QUEUE;
    o.max_stanza = (size_t)s->xmppd.max_stanza;
    o.keepalive_ms = S_KEEPALIVE_MS;
    k->link = xgw_component_new(&o, &s_cbs, k, why, sizeof why);
    if (!k->link) {
        xgw_error("config_invalid", "key=xmppd.component_secret_file reason=\"%s\"", why);
        return XGW_EINVAL;
    }
    xgw_component_set_feed_limit(k->link, s_feed_limit);
    k->m_up = xgw_family_series(xgw_metrics_gauge(
        "xgw_xmpp_component_up", "1 while the XEP-0114 link to the XMPP server is up.", NULL));
    k->m_failures = xgw_metrics_counter(
        "xgw_xmpp_component_failures_total",
        "Component link attempts that failed or links that went down, by reason (connect, "
        "refused: the server answered the handshake with a stream error, timeout, closed, io, "
        "protocol).",
        "reason");
    (void)xgw_component_start(k->link);
    xgw_info("xmpp_ready", "mode=component domain=%s server=%s:%u", k->domain, k->server, k->port);
    return 0;
}

void
xcomp_fail_all(xmppd_t *x, const char *text)
{
    if (x->comp)
        s_fail_waiting(x->comp, text);
}

void
xcomp_fini(xmppd_t *x)
{
    struct xcomp *k = x->comp;
    if (!k)
        return;
    s_fail_waiting(k, "the gateway is shutting down");
    if (k->up)
        xmet_stream(x, "component", "handshake", -1);
    k->up = false;
    xsrc_gone(&k->src);
    x->link_src = NULL;
    xgw_component_destroy(&k->link);
    free(k);
    x->comp = NULL;
}

void
xcomp_event(xmppd_t *x, uint32_t events)
{
    struct xcomp *k = x->comp;
    xgw_component_io(k->link, (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0,
                     (events & EPOLLOUT) != 0);
    s_flushed(k);
}

int64_t
xcomp_tick(xmppd_t *x)
{
    struct xcomp *k = x->comp;
    int64_t w = xgw_component_tick(k->link);
    s_flushed(k);
    s_watch(k);
    return w;
}

void
xcomp_turn(xmppd_t *x)
{
    struct xcomp *k = x->comp;
    if (xgw_component_has_input(k->link))
        xgw_component_io(k->link, false, false);
    s_flushed(k);
    s_watch(k);
}

bool
xcomp_has_input(const xmppd_t *x)
{
    return x->comp && xgw_component_has_input(x->comp->link);
}

bool
xcomp_idle(const xmppd_t *x)
{
    return !x->comp || !x->comp->w_head;
}

void
xcomp_send_raw(xmppd_t *x, const char *xml, size_t len)
{
    struct xcomp *k = x->comp;
    int rc = xgw_component_send(k->link, xml, len);
    if (rc != 0) {
        xgw_info("answer_dropped", "conn=component reason=%s",
                 rc == XGW_EAGAIN ? "link-full" : "link-down");
        return;
    }
    xmet_stanza(x, "out",
                strncmp(xml, "<iq", 3) == 0        ? "iq"
                : strncmp(xml, "<message", 8) == 0 ? "message"
                                                   : "presence");
}

void
xcomp_on_deliver(xmppd_t *x, xgw_request_t **req_p, const Xgw__V1__Deliver *d)
{
    struct xcomp *k = x->comp;
    const char *from = NULL, *to = NULL;
    switch (d->kind_case) {
    case XGW__V1__DELIVER__KIND_MESSAGE:
        from = d->message->from;
        to = d->message->to;
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
        xmppd_jid_domain(to, remote, sizeof remote) != 0 || strcmp(local, k->domain) != 0 ||
        xmppd_serves(x, remote)) {
        s_answer(x, req_p, 400, "bad-request",
                 "from must be at the component's domain and to remote");
        return;
    }
    const char *why = NULL;
    const xgw_partner_t *p = xmppd_partner(x, remote, &why);
    if (!p) {
        xgw_info("deliver_refused", "local=%s remote=%s reason=%s", local, remote, why);
        s_answer(x, req_p, 403, "forbidden", why);
        return;
    }
    xgw_stanza_out_ctx_t ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.local_domain = local;
    ctx.remote_domain = remote;
    ctx.counter = ++x->out_counter;
    ctx.strip_status = p->type != XGW_PARTNER_FEDERATED;
    ctx.privacy = XGW_STANZA_PRIVACY_MASK;
    xgw_xml_writer_t *w = &x->w;
    xgw_xml_writer_clear(w);
    if (xgw_stanza_write_deliver(w, d, &ctx) != 0) {
        s_answer(x, req_p, 400, "bad-request", "the stanza cannot be written");
        return;
    }
    s_wait_t *it = calloc(1, sizeof *it);
    if (!it) {
        s_answer(x, req_p, 503, "resource-constraint", "out of memory");
        return;
    }
    int rc = xgw_component_send(k->link, w->buf, w->len);
    if (rc != 0) {
        free(it);
        xgw_info("deliver_refused", "local=%s remote=%s reason=%s", local, remote,
                 rc == XGW_EAGAIN ? "link-full" : "link-down");
        if (rc == XGW_EAGAIN)
            s_answer(x, req_p, 503, "resource-constraint",
                     "the XMPP server does not take stanzas fast enough");
        else
            s_answer(x, req_p, 503, "remote-server-timeout", "the component link is down");
        return;
    }
    xgw_component_stats_t st;
    xgw_component_stats(k->link, &st);
    it->mark = st.bytes_out + xgw_component_queued(k->link);
    it->kind = s_kind(d);
    it->req = *req_p;
    *req_p = NULL;
    if (k->w_tail)
        k->w_tail->next = it;
    else
        k->w_head = it;
    k->w_tail = it;
    k->n_wait++;
    xmet_stanza(x, "out", it->kind);
}
