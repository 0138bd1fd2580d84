/*
 * probe.c - certd's TLS probe (certd.tls_probe = HOST:PORT): a small TLS
 * listener that presents exactly what the XMPP edges present, built the
 * same way they build theirs: it subscribes to certd's publication with
 * lib/xgw_cert_client (its own sockets, in its own thread, sharing no memory
 * with certd's loop), and serves with lib/xgw_tls_ctx (SNI per served
 * domain, TLS >= 1.2, contexts swapped when the published version changes).
 * An operator checks it with
 *     openssl s_client -connect HOST:PORT -servername DOMAIN
 * before any edge runs, and the tests use it to watch a rotation reach a
 * TLS server without a restart. Each connection gets one handshake (3 s
 * timeout), a log line, and a close; nothing else is read or written.
 */
#include "certd.h"
#include "xgw_cert_client.h"
#include "xgw_log.h"
#include "xgw_tls_ctx.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

struct certd_probe {
    xgw_settings_t settings; /* a copy: the thread reads it */
    int fd;                  /* listening socket */
    pthread_t thread;
    atomic_int stop;
};

/* Splits "host:port" / "[v6]:port" and binds a listening TCP socket. */
static int
s_listen(const char *spec, char *why, size_t whylen)
{
    char host[256];
    const char *port;
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (!close || close[1] != ':') {
            snprintf(why, whylen, "certd.tls_probe \"%s\": expected [ADDRESS]:PORT", spec);
            return -1;
        }
        snprintf(host, sizeof host, "%.*s", (int)(close - spec - 1), spec + 1);
        port = close + 2;
    } else {
        const char *colon = strrchr(spec, ':');
        if (!colon) {
            snprintf(why, whylen, "certd.tls_probe \"%s\": expected HOST:PORT", spec);
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
        snprintf(why, whylen, "certd.tls_probe \"%s\": %s", spec, gai_strerror(gai));
        return -1;
    }
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 16) != 0) {
        snprintf(why, whylen, "certd.tls_probe \"%s\": %s", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    return fd;
}

static void
s_handshake(xgw_tls_t *tls, int fd, uint64_t version)
{
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    SSL_CTX *ctx = xgw_tls_server_ctx(tls);
    if (!ctx) {
        xgw_warn("probe_no_certificate", "note=\"no xmpp certificate is assigned\"");
        return;
    }
    SSL *ssl = SSL_new(ctx);
    if (!ssl)
        return;
    SSL_set_fd(ssl, fd);
    int rc = SSL_accept(ssl);
    const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    char name[128];
    snprintf(name, sizeof name, "%s", sni ? sni : "");
    for (char *p = name; *p; p++) {
        if (*p == '"' || (unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
            *p = '?';
    }
    if (rc == 1) {
        xgw_info("probe_handshake", "sni=\"%s\" cert_id=%s tls=%s version=%llu", name,
                 xgw_tls_ctx_cert_id(SSL_get_SSL_CTX(ssl)), SSL_get_version(ssl),
                 (unsigned long long)version);
        SSL_shutdown(ssl);
    } else {
        unsigned long e = ERR_peek_error();
        xgw_info("probe_handshake_failed", "sni=\"%s\" reason=\"%s\"", name,
                 e ? ERR_reason_error_string(e) : "connection closed");
    }
    ERR_clear_error();
    SSL_free(ssl);
}

static void *
s_run(void *arg)
{
    certd_probe_t *p = arg;
    xgw_cert_client_t *cc = xgw_cert_client_new(&p->settings);
    xgw_tls_t *tls = xgw_tls_new("xmpp");
    if (!cc || !tls) {
        xgw_error("probe_failed", "reason=\"cannot create the subscriber\"");
        xgw_cert_client_destroy(&cc);
        xgw_tls_destroy(&tls);
        return NULL;
    }
    while (!atomic_load(&p->stop)) {
        zmq_pollitem_t items[3];
        size_t n = xgw_cert_client_poll_items(cc, items, 2);
        items[n] = (zmq_pollitem_t){NULL, p->fd, ZMQ_POLLIN, 0};
        int64_t wait = xgw_cert_client_tick(cc);
        if (wait > 200)
            wait = 200;
        if (zmq_poll(items, (int)n + 1, (long)wait) < 0 && errno != EINTR)
            break;
        if (xgw_cert_client_process(cc) == 1) {
            char why[512];
            const Xgw__V1__CertSnapshot *snap = xgw_cert_client_snapshot(cc);
            int rc = xgw_tls_apply(tls, snap, why, sizeof why);
            if (rc == 1)
                xgw_info("probe_tls_reloaded", "version=%llu default_cert=%s",
                         (unsigned long long)snap->version,
                         xgw_tls_ctx_cert_id(xgw_tls_server_ctx(tls)));
            else if (rc < 0)
                xgw_error("probe_tls_reload_failed", "version=%llu reason=\"%s\"",
                          (unsigned long long)snap->version, why);
        }
        if (items[n].revents & ZMQ_POLLIN) {
            int cfd = accept4(p->fd, NULL, NULL, SOCK_CLOEXEC);
            if (cfd >= 0) {
                s_handshake(tls, cfd, xgw_tls_version(tls));
                close(cfd);
            }
        }
    }
    xgw_cert_client_destroy(&cc);
    xgw_tls_destroy(&tls);
    return NULL;
}

certd_probe_t *
certd_probe_start(const xgw_settings_t *s, char *why, size_t whylen)
{
    certd_probe_t *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    p->settings = *s;
    p->fd = s_listen(s->certd.tls_probe, why, whylen);
    if (p->fd < 0) {
        free(p);
        return NULL;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char addr[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (getsockname(p->fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, addr, sizeof addr);
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, addr, sizeof addr);
            port = ntohs(a->sin6_port);
        }
    }
    atomic_init(&p->stop, 0);
    if (pthread_create(&p->thread, NULL, s_run, p) != 0) {
        snprintf(why, whylen, "cannot start the probe thread");
        close(p->fd);
        free(p);
        return NULL;
    }
    xgw_info("probe_listening", "addr=%s port=%d", addr, port);
    return p;
}

void
certd_probe_stop(certd_probe_t **probe_p)
{
    if (!probe_p || !*probe_p)
        return;
    certd_probe_t *p = *probe_p;
    atomic_store(&p->stop, 1);
    pthread_join(p->thread, NULL);
    close(p->fd);
    free(p);
    *probe_p = NULL;
}
