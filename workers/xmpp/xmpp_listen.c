/*
 * xmpp_listen.c - the s2s listeners: xmppd.s2s_listen (plain TCP, STARTTLS
 * inside the stream) and xmppd.direct_tls_listen (XEP-0368: TLS from the
 * first byte). Every xmppd process binds the same address with
 * SO_REUSEPORT, so the kernel spreads new connections over them; any of
 * them can finish any stream (the dialback secret comes from certd).
 *
 * Connection limits apply at accept time (ROB-07): the gateway's
 * connection_limit over all s2s connections of this process, and a cap on
 * streams from one IP address that have not authenticated yet (the
 * gateway's partner_connection_limit), so one host cannot fill the table
 * with idle sockets. Both are per process.
 */
#include "xmppd.h"

#include "xgw_error.h"
#include "xgw_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_ACCEPTS_PER_TURN 64

/* Splits "host:port" / "[v6]:port" and binds a listening socket. */
static int
s_bind(const char *key, const char *spec)
{
    char host[256];
    const char *port;
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (!close || close[1] != ':') {
            xgw_error("listen_failed", "key=%s addr=\"%s\" reason=\"expected [ADDRESS]:PORT\"", key,
                      spec);
            return -1;
        }
        snprintf(host, sizeof host, "%.*s", (int)(close - spec - 1), spec + 1);
        port = close + 2;
    } else {
        const char *colon = strrchr(spec, ':');
        if (!colon) {
            xgw_error("listen_failed", "key=%s addr=\"%s\" reason=\"expected HOST:PORT\"", key,
                      spec);
            return -1;
        }
        snprintf(host, sizeof host, "%.*s", (int)(colon - spec), spec);
        port = colon + 1;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (gai != 0) {
        xgw_error("listen_failed", "key=%s addr=\"%s\" reason=\"%s\"", key, spec,
                  gai_strerror(gai));
        return -1;
    }
    int fd =
        socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, res->ai_protocol);
    int one = 1;
    if (fd >= 0) {
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    }
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 512) != 0) {
        xgw_error("listen_failed", "key=%s addr=\"%s\" reason=\"%s\"", key, spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char addr[INET6_ADDRSTRLEN] = "?";
    int bound = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, addr, sizeof addr);
            bound = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, addr, sizeof addr);
            bound = ntohs(a->sin6_port);
        }
    }
    xgw_info("xmpp_listening", "key=%s addr=%s port=%d", key, addr, bound);
    return fd;
}

int
xmpp_listen_start(xmppd_t *x)
{
    const xgw_settings_xmppd_t *s = &x->settings->xmppd;
    x->listen_w.kind = XW_LISTEN;
    x->listen_w.fd = -1;
    x->tls_listen_w.kind = XW_LISTEN_TLS;
    x->tls_listen_w.fd = -1;
    if (s->s2s_listen[0]) {
        x->listen_w.fd = s_bind("s2s_listen", s->s2s_listen);
        if (x->listen_w.fd < 0 || xmppd_epoll_add(x, x->listen_w.fd, EPOLLIN, &x->listen_w) != 0)
            return XGW_EIO;
    }
    if (s->direct_tls_listen[0]) {
        x->tls_listen_w.fd = s_bind("direct_tls_listen", s->direct_tls_listen);
        if (x->tls_listen_w.fd < 0 ||
            xmppd_epoll_add(x, x->tls_listen_w.fd, EPOLLIN, &x->tls_listen_w) != 0)
            return XGW_EIO;
    }
    return 0;
}

void
xmpp_listen_stop(xmppd_t *x)
{
    xwatch_t *ws[2] = {&x->listen_w, &x->tls_listen_w};
    for (size_t i = 0; i < 2; i++) {
        if (ws[i]->fd >= 0) {
            xmppd_epoll_del(x, ws[i]->fd);
            close(ws[i]->fd);
            ws[i]->fd = -1;
        }
    }
}

/* Refuses a connection we will not serve: a stream header and the error
 * (RFC 6120 4.9.1.2), best effort on the fresh socket, then close. */
static void
s_refuse(xmppd_t *x, int fd, bool direct_tls, const char *ip, const char *reason)
{
    xmet_refused(x, reason);
    xgw_info("stream_refused", "peer=%s reason=%s", ip, reason);
    if (!direct_tls) {
        static const char msg[] =
            "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
            "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
            "<stream:error><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
            "</stream:error></stream:stream>";
        (void)send(fd, msg, sizeof msg - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        xmet_stream_error(x, "sent", "resource-constraint");
    }
    close(fd);
}

void
xmpp_listen_accept(xmppd_t *x, int lfd, bool direct_tls)
{
    if (lfd < 0)
        return; /* closed by the drain in this loop turn */
    for (int i = 0; i < S_ACCEPTS_PER_TURN; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                xgw_warn("accept_failed", "reason=\"%s\"", strerror(errno));
            return;
        }
        char ip[XGW_DNS_IP_MAX] = "?";
        uint16_t port = 0;
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
            port = ntohs(a->sin6_port);
        }
        if (x->draining) {
            close(fd);
            continue;
        }
        const xgw_gateway_t *g = xmppd_gateway(x);
        uint32_t limit = g ? g->connection_limit : 1000;
        if (limit && x->n_conns >= limit) {
            s_refuse(x, fd, direct_tls, ip, "connection-limit");
            continue;
        }
        uint32_t ip_cap = g ? g->partner_connection_limit : 20;
        uintptr_t used = (uintptr_t)xgw_strmap_get(x->ip_use, ip);
        if (ip_cap && used >= ip_cap) {
            s_refuse(x, fd, direct_tls, ip, "per-ip-limit");
            continue;
        }
        SSL_CTX *ctx = direct_tls ? xgw_tls_server_ctx(x->tls) : NULL;
        if (direct_tls && !ctx) {
            xmet_refused(x, "no-certificate");
            xgw_warn("stream_refused", "peer=%s reason=no-certificate", ip);
            close(fd);
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        xconn_t *c = xconn_new(x, XCONN_IN, fd);
        if (!c) {
            close(fd);
            continue;
        }
        snprintf(c->peer_ip, sizeof c->peer_ip, "%s", ip);
        c->peer_port = port;
        if (xgw_strmap_put(x->ip_use, ip, (void *)(used + 1)) == 0)
            c->ip_counted = true;
        int64_t est = (int64_t)(g ? g->stream_establishment_timeout_s : 60) * 1000;
        c->establish_deadline = xmppd_now() + est;
        xgw_info("stream_accepted", "conn=%llu peer=%s:%u listener=%s", (unsigned long long)c->id,
                 ip, port, direct_tls ? "direct_tls" : "s2s");
        if (direct_tls) {
            c->direct_tls = true;
            if (xconn_tls_start(c, ctx, true, NULL, false, NULL) != 0)
                xconn_abort(c, "tls-setup-failed");
        }
    }
}
