/*
 * xmppd_main.c - xgw-xmppd: the XMPP edge. One thread, one epoll loop that
 * watches the s2s listeners and connections, the edge runtime's ZeroMQ
 * sockets (broker worker + client, policy replica), certd's publication
 * and the resolver's sockets. SIGTERM drains: the listeners close, inbound
 * streams are closed gracefully, what is queued for remote domains gets
 * its chance until common.drain_timeout, then everything still held is
 * answered 503 (the broker re-dispatches) and the process exits 0.
 *
 * The design, config keys, log events and metrics: workers/xmpp/README.md.
 */
#include "xmppd.h"

#include "xgw_error.h"
#include "xgw_log.h"

#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define S_MAX_EVENTS 128
#define S_TIMER_PERIOD_MS 200

static xmppd_t s_x;

int64_t
xmppd_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
xmppd_epoll_add(xmppd_t *x, int fd, uint32_t events, void *ptr)
{
    struct epoll_event ev = {.events = events, .data.ptr = ptr};
    if (epoll_ctl(x->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        xgw_error("epoll_failed", "op=add fd=%d reason=\"%s\"", fd, strerror(errno));
        return XGW_EIO;
    }
    return 0;
}

int
xmppd_epoll_mod(xmppd_t *x, int fd, uint32_t events, void *ptr)
{
    struct epoll_event ev = {.events = events, .data.ptr = ptr};
    if (epoll_ctl(x->ep, EPOLL_CTL_MOD, fd, &ev) != 0) {
        xgw_error("epoll_failed", "op=mod fd=%d reason=\"%s\"", fd, strerror(errno));
        return XGW_EIO;
    }
    return 0;
}

void
xmppd_epoll_del(xmppd_t *x, int fd)
{
    (void)epoll_ctl(x->ep, EPOLL_CTL_DEL, fd, NULL);
}

bool
xmppd_serves(const xmppd_t *x, const char *domain)
{
    return domain && xgw_strv_has(&x->served, domain);
}

const xgw_rules_t *
xmppd_rules(xmppd_t *x)
{
    return x->rt ? xgw_edge_rt_rules(x->rt) : NULL;
}

const xgw_partner_t *
xmppd_partner(xmppd_t *x, const char *domain, const char **why)
{
    const xgw_rules_t *rules = xmppd_rules(x);
    if (!rules) {
        *why = "no-rules";
        return NULL;
    }
    if (!domain || !domain[0]) {
        *why = "unknown-partner";
        return NULL;
    }
    if (xgw_rules_denied(rules, domain)) {
        *why = "denied";
        return NULL;
    }
    const xgw_partner_t *p = xgw_rules_partner_for(rules, domain);
    if (!p) {
        *why = "unknown-partner";
        return NULL;
    }
    *why = NULL;
    return p;
}

xmppd_auth_mode_t
xmppd_auth_mode(const xgw_partner_t *p)
{
    /* The Lync matrix (policyd refuses the combinations without any usable
     * authentication): SASL required, or no dialback, means PKIX only; SASL
     * not supported (or no TLS) means dialback only. */
    if (p->tls == XGW_NEG_NOT_SUPPORTED || p->sasl == XGW_NEG_NOT_SUPPORTED)
        return p->dialback ? XMPPD_AUTH_DIALBACK_ONLY : XMPPD_AUTH_PKIX_ONLY;
    if (p->sasl == XGW_NEG_REQUIRED || !p->dialback)
        return XMPPD_AUTH_PKIX_ONLY;
    return XMPPD_AUTH_PKIX_OR_DIALBACK;
}

const xgw_gateway_t *
xmppd_gateway(xmppd_t *x)
{
    const xgw_rules_t *rules = xmppd_rules(x);
    return rules ? xgw_rules_gateway(rules) : NULL;
}

const xgw_dialback_ring_t *
xmppd_ring(xmppd_t *x)
{
    return x->certs ? xgw_cert_client_dialback(x->certs) : NULL;
}

X509_STORE *
xmppd_trust(xmppd_t *x)
{
    return x->certs ? xgw_cert_client_trust(x->certs) : NULL;
}

void
xmppd_random_id(char out[XMPPD_ID_LEN + 1])
{
    unsigned char b[XMPPD_ID_LEN / 2];
    if (RAND_bytes(b, (int)sizeof b) != 1) {
        /* The kernel's generator is as good; OpenSSL failing is rare. */
        if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
            xgw_error("random_failed", NULL);
            abort(); /* a predictable stream id breaks dialback (S2S-02) */
        }
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof b; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[XMPPD_ID_LEN] = '\0';
}

void
xmppd_send_raw(xmppd_t *x, const char *local, const char *remote, const char *xml, size_t len)
{
    if (x->comp)
        xcomp_send_raw(x, xml, len);
    else
        xroute_send_raw(x, local, remote, xml, len);
}

int
xmppd_jid_domain(const char *jid, char *out, size_t outlen)
{
    if (!jid)
        return XGW_EINVAL;
    size_t end = strcspn(jid, "/");
    const char *at = memchr(jid, '@', end);
    const char *d = at ? at + 1 : jid;
    size_t len = end - (size_t)(d - jid);
    if (len == 0 || len >= outlen)
        return XGW_EINVAL;
    for (size_t i = 0; i < len; i++) {
        char ch = d[i];
        out[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    out[len] = '\0';
    if (out[len - 1] == '.')
        out[len - 1] = '\0';
    return out[0] ? 0 : XGW_EINVAL;
}

/* ------------------------------------------------------------------ */
/* Runtime callbacks                                                   */

static void
s_on_deliver(void *ud, xgw_request_t **req_p, const Xgw__V1__Deliver *deliver)
{
    xmppd_t *x = ud;
    if (x->comp)
        xcomp_on_deliver(x, req_p, deliver);
    else
        xroute_on_deliver(x, req_p, deliver);
}

static void
s_on_rules_changed(void *ud, const xgw_rules_t *rules)
{
    xmppd_t *x = ud;
    (void)rules;
    /* A tightened rule takes effect on live streams: a peer that is no
     * longer an allowed partner loses its streams. */
    xconn_t *next = NULL;
    for (xconn_t *c = x->conns; c; c = next) {
        next = c->next;
        if (c->dead || !c->remote[0] || c->stream == XS_CLOSING)
            continue;
        const char *why = NULL;
        const xgw_partner_t *p = xmppd_partner(x, c->remote, &why);
        if (p && c->authenticated) {
            /* Settings tightened under a live stream: it must still meet
             * them, or it ends (no silent downgrade, S2S-19). */
            xmppd_auth_mode_t mode = xmppd_auth_mode(p);
            if (p->tls == XGW_NEG_REQUIRED && c->transport != XT_TLS)
                why = "tls-required";
            else if (mode == XMPPD_AUTH_PKIX_ONLY && strcmp(c->auth, "dialback") == 0)
                why = "dialback-not-allowed";
            else if (mode == XMPPD_AUTH_DIALBACK_ONLY && strcmp(c->auth, "sasl") == 0)
                why = "sasl-not-allowed";
        }
        if (!p || why) {
            xgw_info("stream_policy_closed", "conn=%llu remote=%s reason=%s",
                     (unsigned long long)c->id, c->remote, why);
            xmet_refused(x, why);
            xconn_stream_error(c, "policy-violation", NULL);
        }
    }
}

/* c-ares tells which sockets to watch. */
static void
s_dns_sock(void *ud, int fd, bool readable, bool writable)
{
    xmppd_t *x = ud;
    xwatch_t *slot = NULL, *free_slot = NULL;
    for (size_t i = 0; i < XMPPD_MAX_DNS_FDS; i++) {
        if (x->dns_w[i].kind == XW_DNS && x->dns_w[i].fd == fd)
            slot = &x->dns_w[i];
        else if (x->dns_w[i].kind == 0 && !free_slot)
            free_slot = &x->dns_w[i];
    }
    if (!readable && !writable) {
        if (slot) {
            xmppd_epoll_del(x, fd);
            slot->kind = 0;
            slot->fd = -1;
        }
        return;
    }
    uint32_t ev = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);
    if (slot) {
        (void)xmppd_epoll_mod(x, fd, ev, slot);
        return;
    }
    if (!free_slot) {
        xgw_error("dns_fds_exhausted", "fd=%d", fd);
        return;
    }
    free_slot->kind = XW_DNS;
    free_slot->fd = fd;
    if (xmppd_epoll_add(x, fd, ev, free_slot) != 0) {
        free_slot->kind = 0;
        free_slot->fd = -1;
    }
}

static void
s_tls_apply(xmppd_t *x)
{
    const Xgw__V1__CertSnapshot *snap = xgw_cert_client_snapshot(x->certs);
    if (!snap)
        return;
    char why[512];
    int rc = xgw_tls_apply(x->tls, snap, why, sizeof why);
    if (rc == 1)
        xgw_info("tls_reloaded", "version=%llu default_cert=%s", (unsigned long long)snap->version,
                 xgw_tls_ctx_cert_id(xgw_tls_server_ctx(x->tls)));
    else if (rc < 0)
        xgw_error("tls_reload_failed", "version=%llu reason=\"%s\"",
                  (unsigned long long)snap->version, why);
}

/* ------------------------------------------------------------------ */
/* Setup                                                               */

static int
s_setup(xmppd_t *x, xgw_daemon_t *d)
{
    const xgw_settings_t *s = &d->settings;
    x->daemon = d;
    x->settings = s;
    x->ep = epoll_create1(EPOLL_CLOEXEC);
    if (x->ep < 0)
        return XGW_EIO;
    for (size_t i = 0; i < XMPPD_MAX_DNS_FDS; i++)
        x->dns_w[i].fd = -1;
    x->listen_w.fd = -1;
    x->tls_listen_w.fd = -1;
    char why[256];
    if (xgw_x509_domains_parse(s->common.domains, &x->served, why, sizeof why) != 0) {
        xgw_error("config_invalid", "key=common.domains reason=\"%s\"", why);
        return XGW_EINVAL;
    }
    xgw_xml_limits_default(&x->limits);
    x->limits.max_stanza = (size_t)s->xmppd.max_stanza;
    x->arena = xgw_arena_new(16384);
    if (!x->arena)
        return XGW_ENOMEM;
    xgw_xml_writer_init(&x->w, (size_t)s->xmppd.max_stanza + 4096);
    x->partner_use = xgw_strmap_new();
    x->ip_use = xgw_strmap_new();
    if (!x->partner_use || !x->ip_use || xroute_init(x) != 0 || xdel_init(x) != 0)
        return XGW_ENOMEM;

    xgw_edge_rt_def_t def = {
        .process = "xmppd",
        .service = "xmpp",
        .credit = s->xmppd.credit,
        .metrics_port = s->xmppd.metrics_port,
        .on_deliver = s_on_deliver,
        .on_rules_changed = s_on_rules_changed,
        .ud = x,
    };
    x->rt = xgw_edge_rt_new(&def, d);
    if (!x->rt)
        return XGW_EIO;
    xmet_init(x);
    bool component = strcmp(s->xmppd.mode, "component") == 0;

    int fds[XGW_EDGE_RT_MAX_FDS];
    size_t n = xgw_edge_rt_fds(x->rt, fds, XGW_EDGE_RT_MAX_FDS);
    for (size_t i = 0; i < n; i++) {
        x->rt_w[i].kind = XW_RT;
        x->rt_w[i].fd = fds[i];
        if (xmppd_epoll_add(x, fds[i], EPOLLIN, &x->rt_w[i]) != 0)
            return XGW_EIO;
    }

    if (component) {
        /* The XMPP server federates: no listener, no certificates, no DNS. */
        return xcomp_setup(x);
    }

    x->certs = xgw_cert_client_new(s);
    x->tls = xgw_tls_new("xmpp");
    if (!x->certs || !x->tls) {
        xgw_error("start_failed", "reason=\"cannot subscribe to certd\"");
        return XGW_EIO;
    }
    zmq_pollitem_t items[4];
    n = xgw_cert_client_poll_items(x->certs, items, 4);
    for (size_t i = 0; i < n; i++) {
        int fd = -1;
        size_t fdlen = sizeof fd;
        if (items[i].socket && zmq_getsockopt(items[i].socket, ZMQ_FD, &fd, &fdlen) != 0)
            continue;
        if (!items[i].socket)
            fd = items[i].fd;
        x->cert_w[i].kind = XW_CERTS;
        x->cert_w[i].fd = fd;
        if (xmppd_epoll_add(x, fd, EPOLLIN, &x->cert_w[i]) != 0)
            return XGW_EIO;
    }

    xgw_dns_opts_t o;
    memset(&o, 0, sizeof o);
    o.servers = s->xmppd.dns_servers[0] ? s->xmppd.dns_servers : NULL;
    o.lookup_timeout_ms = (int)s->xmppd.dns_timeout_ms;
    o.timeout_ms = (int)(s->xmppd.dns_timeout_ms / 2 > 100 ? s->xmppd.dns_timeout_ms / 2 : 100);
    o.tries = 2;
    o.sock_cb = s_dns_sock;
    o.sock_ud = x;
    if (xgw_dns_opts_check(&o, why, sizeof why) != 0) {
        xgw_error("config_invalid", "key=xmppd.dns_servers reason=\"%s\"", why);
        return XGW_EINVAL;
    }
    x->dns = xgw_dns_new(&o);
    if (!x->dns) {
        xgw_error("start_failed", "reason=\"cannot start the resolver\"");
        return XGW_EIO;
    }
    if (xmpp_listen_start(x) != 0)
        return XGW_EIO;
    xgw_info("xmpp_ready", "domains=\"%s\" s2s_listen=\"%s\" direct_tls_listen=\"%s\"",
             s->common.domains, s->xmppd.s2s_listen, s->xmppd.direct_tls_listen);
    return 0;
}

static void
s_teardown(xmppd_t *x)
{
    xmpp_listen_stop(x);
    /* Whatever is still held is answered before the runtime goes. */
    xroute_fail_all(x, "remote-server-timeout", 503);
    xcomp_fini(x);
    /* Our closing tags go out if the sockets take them now; nobody waits
     * for the answers. */
    xconn_t *next = NULL;
    for (xconn_t *c = x->conns; c; c = next) {
        next = c->next;
        if (c->stream == XS_OPEN)
            xconn_close_stream(c, "shutdown");
    }
    for (xconn_t *c = x->conns; c; c = x->conns) {
        c->route = NULL;
        xconn_abort(c, "shutdown");
    }
    xmppd_reap(x);
    xgw_dns_destroy(&x->dns);
    xroute_fini(x);
    xgw_edge_rt_destroy(&x->rt);
    xdel_fini(x);
    xgw_cert_client_destroy(&x->certs);
    xgw_tls_destroy(&x->tls);
    xgw_strmap_destroy(&x->partner_use);
    xgw_strmap_destroy(&x->ip_use);
    xgw_xml_writer_fini(&x->w);
    xgw_arena_destroy(&x->arena);
    xgw_x509_strv_free(&x->served);
    free(x->more);
    x->more = NULL;
    if (x->ep >= 0)
        close(x->ep);
    x->ep = -1;
}

/* ------------------------------------------------------------------ */
/* Loop                                                                */

static void
s_drain_begin(xmppd_t *x)
{
    x->draining = true;
    xgw_edge_rt_drain_begin(x->rt);
    xmpp_listen_stop(x);
    /* Inbound streams end gracefully: the peer stops sending and reopens
     * towards another xmppd (RFC 6120 4.4). */
    xconn_t *next = NULL;
    for (xconn_t *c = x->conns; c; c = next) {
        next = c->next;
        if (c->dir == XCONN_IN)
            xconn_close_stream(c, "system-shutdown");
    }
}

static void
s_dispatch(xmppd_t *x, struct epoll_event *ev)
{
    xwatch_t *w = ev->data.ptr;
    switch (w->kind) {
    case XW_CONN:
        xconn_event((xconn_t *)w, ev->events);
        break;
    case XW_LISTEN:
        xmpp_listen_accept(x, w->fd, false);
        break;
    case XW_LISTEN_TLS:
        xmpp_listen_accept(x, w->fd, true);
        break;
    case XW_DNS:
        xgw_dns_process(x->dns, w->fd, (ev->events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0,
                        (ev->events & EPOLLOUT) != 0);
        break;
    case XW_COMP:
        xcomp_event(x, ev->events);
        break;
    default:
        break; /* XW_RT, XW_CERTS: processed every turn */
    }
}

static int
s_run(xmppd_t *x)
{
    struct epoll_event evs[S_MAX_EVENTS];
    int64_t next_timers = 0;
    while (true) {
        int64_t now = xmppd_now();
        if (!x->draining && xgw_edge_rt_stopping(x->rt))
            s_drain_begin(x);
        if (x->draining) {
            int64_t deadline = xgw_edge_rt_drain_deadline(x->rt);
            if (xroute_idle(x) && xcomp_idle(x) && xgw_edge_rt_drained(x->rt) && x->n_in == 0)
                break;
            if (now >= deadline - 500) {
                xroute_fail_all(x, "remote-server-timeout", 503);
                xcomp_fail_all(x, "the gateway is shutting down");
                if (xgw_edge_rt_drained(x->rt) || now >= deadline)
                    break;
            }
        }
        int64_t wait = xgw_edge_rt_tick(x->rt);
        xdel_pump(x); /* the tick collects answers too */
        int64_t w = x->certs ? xgw_cert_client_tick(x->certs) : -1;
        if (w >= 0 && w < wait)
            wait = w;
        w = x->dns ? xgw_dns_timeout_ms(x->dns) : -1;
        if (w >= 0 && w < wait)
            wait = w;
        w = x->comp ? xcomp_tick(x) : -1;
        if (w >= 0 && w < wait)
            wait = w;
        w = next_timers - now;
        if (w < wait)
            wait = w;
        if (x->n_more > 0 || wait < 0 || (x->comp && xcomp_has_input(x)))
            wait = 0;
        int n = epoll_wait(x->ep, evs, S_MAX_EVENTS, (int)wait);
        if (n < 0 && errno != EINTR) {
            xgw_error("epoll_failed", "op=wait reason=\"%s\"", strerror(errno));
            return 1;
        }
        for (int i = 0; i < n; i++)
            s_dispatch(x, &evs[i]);
        if (x->n_more > 0) {
            /* Connections with input left from the last turn. */
            size_t k = x->n_more;
            xconn_t **batch = malloc(k * sizeof *batch);
            if (batch) {
                memcpy(batch, x->more, k * sizeof *batch);
                x->n_more = 0;
                for (size_t i = 0; i < k; i++)
                    batch[i]->listed_pending = false;
                for (size_t i = 0; i < k; i++)
                    xconn_read_more(batch[i]);
                free(batch);
            }
        }
        xgw_edge_rt_process(x->rt);
        xdel_pump(x);
        if (x->certs && xgw_cert_client_process(x->certs) == 1)
            s_tls_apply(x);
        if (x->dns)
            xgw_dns_tick(x->dns);
        if (x->comp)
            xcomp_turn(x);
        now = xmppd_now();
        if (now >= next_timers) {
            xconn_timers(x, now);
            xroute_timers(x, now);
            next_timers = now + S_TIMER_PERIOD_MS;
        }
        xmppd_reap(x);
    }
    return 0;
}

int
main(int argc, char **argv)
{
    xgw_daemon_t d;
    int rc = xgw_daemon_init(&d, "xmppd", argc, argv);
    if (rc != XGW_DAEMON_RUN)
        return rc == XGW_DAEMON_EXIT_OK ? 0 : 2;
    xmppd_t *x = &s_x;
    memset(x, 0, sizeof *x);
    x->ep = -1;
    int status = 1;
    if (s_setup(x, &d) == 0)
        status = s_run(x);
    s_teardown(x);
    xgw_info("stopped", "status=%d", status);
    xgw_daemon_fini(&d);
    return status;
}
