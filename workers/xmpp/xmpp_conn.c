/*
 * xmpp_conn.c - one s2s connection: a non-blocking socket, OpenSSL driven
 * non-blockingly on it (SSL_set_fd; WANT_READ/WANT_WRITE become epoll
 * interest), a bounded output buffer, the XML stream reader, stream errors
 * and closes, and the timers (TLS handshake and connect deadlines, stream
 * establishment, inactivity, whitespace keepalive, close linger).
 *
 * What the stream means is decided in xmpp_in.c and xmpp_out.c; this file
 * moves bytes and keeps the connection's life cycle: a connection that ends
 * is unlinked at once (no more events, no more writes) and freed by
 * xmppd_reap at the end of the loop turn.
 */
#include "xmppd.h"

#include "xgw_error.h"
#include "xgw_log.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* A peer that does not read what we write is dead to us. Outbound streams
 * stop taking from their queue well below this (xmpp_route.c). */
#define S_WBUF_MAX ((size_t)8 * 1024 * 1024)
/* Reads per wake-up before other connections get their turn. */
#define S_READS_PER_TURN 8

static const char *
s_dir(const xconn_t *c)
{
    return c->dir == XCONN_IN ? "in" : "out";
}

static void s_kill(xconn_t *c, const char *reason);
static void s_on_resume(xsrc_t *src);

/* ------------------------------------------------------------------ */
/* XML reader callbacks                                                */

static void
s_on_open(void *ud, const xgw_xml_node_t *header)
{
    xconn_t *c = ud;
    if (c->dead || c->stream == XS_CLOSING)
        return;
    if (c->dir == XCONN_IN)
        xin_on_open(c, header);
    else
        xout_on_open(c, header);
}

static void
s_stream_error_received(xconn_t *c, const xgw_xml_node_t *el)
{
    const char *cond = "undefined-condition";
    for (const xgw_xml_node_t *ch = el->children; ch; ch = ch->next) {
        if (strcmp(ch->ns, XMPPD_NS_STREAM_ERR) == 0 && strcmp(ch->name, "text") != 0) {
            cond = ch->name;
            break;
        }
    }
    xmet_stream_error(c->x, "received", cond);
    /* The peer's condition is logged only when it is a well-formed name:
     * it came from the network. */
    char safe[40];
    size_t n = 0;
    for (const char *p = cond; *p && n + 1 < sizeof safe; p++) {
        if ((*p >= 'a' && *p <= 'z') || *p == '-')
            safe[n++] = *p;
    }
    safe[n] = '\0';
    xgw_info("stream_error_received", "conn=%llu dir=%s remote=%s condition=%s",
             (unsigned long long)c->id, s_dir(c), c->remote[0] ? c->remote : "-", safe);
    if (c->dir == XCONN_OUT && !c->fail_condition) {
        if (strcmp(cond, "host-unknown") == 0 || strcmp(cond, "host-gone") == 0) {
            c->fail_condition = "remote-server-not-found";
            c->fail_status = 404;
        } else {
            c->fail_condition = "remote-server-timeout";
            c->fail_status = 504;
        }
    }
}

static void
s_on_stanza(void *ud, const xgw_xml_node_t *el)
{
    xconn_t *c = ud;
    /* After our graceful close the peer's stanzas still count until its
     * closing tag (RFC 6120 4.4); after a stream error nothing does. */
    if (c->dead || (c->stream == XS_CLOSING && !c->close_graceful))
        return;
    c->last_read = xmppd_now();
    if (strcmp(el->ns, XGW_XML_NS_STREAM) == 0 && strcmp(el->name, "error") == 0) {
        s_stream_error_received(c, el);
        /* RFC 6120 4.9.1.3: the peer closes after its error; we answer with
         * our closing tag and close. */
        xconn_close_stream(c, "peer-stream-error");
        return;
    }
    if (c->dir == XCONN_IN)
        xin_on_stanza(c, el);
    else
        xout_on_stanza(c, el);
    xgw_arena_reset(c->x->arena);
}

static void
s_on_close(void *ud)
{
    xconn_t *c = ud;
    if (c->dead)
        return;
    if (c->dir == XCONN_OUT && !c->fail_condition && !c->was_ready) {
        c->fail_condition = "remote-server-timeout";
        c->fail_status = 504;
    }
    if (c->stream == XS_CLOSING) {
        /* Both closing tags have crossed. */
        c->close_after_flush = true;
        if (xconn_pending(c) == 0)
            s_kill(c, c->close_reason ? c->close_reason : "closed");
        return;
    }
    /* RFC 6120 4.4: answer the peer's close with ours, then close TCP and
     * send nothing more (S2S-03). */
    c->close_reason = "peer-closed";
    if (c->header_sent)
        (void)xconn_write_str(c, "</stream:stream>");
    c->stream = XS_CLOSING;
    c->close_after_flush = true;
    c->close_deadline = xmppd_now() + XMPPD_CLOSE_LINGER_MS;
    if (xconn_pending(c) == 0)
        s_kill(c, "peer-closed");
    else
        xconn_update_events(c);
}

static const xgw_xml_stream_cbs_t s_cbs = {
    .on_open = s_on_open,
    .on_stanza = s_on_stanza,
    .on_close = s_on_close,
};

/* ------------------------------------------------------------------ */
/* Life cycle                                                          */

xconn_t *
xconn_new(xmppd_t *x, xconn_dir_t dir, int fd)
{
    xconn_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->w.kind = XW_CONN;
    c->w.fd = fd;
    c->x = x;
    c->id = ++x->next_id;
    c->dir = dir;
    c->fd = fd;
    c->transport = dir == XCONN_OUT ? XT_CONNECTING : XT_PLAIN;
    c->xml = xgw_xml_stream_new(&x->limits, &s_cbs, c);
    if (!c->xml) {
        free(c);
        return NULL;
    }
    int64_t now = xmppd_now();
    c->created = now;
    c->last_read = now;
    c->last_write = now;
    c->auth = "none";
    c->src.x = x;
    c->src.on_resume = s_on_resume;
    c->next = x->conns;
    if (x->conns)
        x->conns->prev = c;
    x->conns = c;
    x->n_conns++;
    if (dir == XCONN_IN)
        x->n_in++;
    else
        x->n_out++;
    xmet_stream(x, s_dir(c), "none", 1);
    uint32_t ev = dir == XCONN_OUT ? EPOLLOUT : EPOLLIN;
    if (xmppd_epoll_add(x, fd, ev, c) != 0) {
        c->fd = -1; /* the caller closes fd */
        s_kill(c, "epoll");
        return NULL;
    }
    c->events = ev;
    return c;
}

xconn_t *
xconn_find(xmppd_t *x, uint64_t id)
{
    for (xconn_t *c = x->conns; c; c = c->next) {
        if (c->id == id)
            return c->dead ? NULL : c;
    }
    return NULL;
}

void
xconn_set_auth(xconn_t *c, const char *auth)
{
    xmet_stream(c->x, s_dir(c), c->auth, -1);
    c->auth = auth;
    xmet_stream(c->x, s_dir(c), c->auth, 1);
}

bool
xconn_partner_take(xconn_t *c, const char *remote)
{
    xmppd_t *x = c->x;
    if (c->counted_partner)
        return true;
    const xgw_gateway_t *g = xmppd_gateway(x);
    const char *why = NULL;
    const xgw_partner_t *p = xmppd_partner(x, remote, &why);
    uint32_t limit = g ? g->partner_connection_limit : 20;
    if (p && p->connection_limit)
        limit = p->connection_limit;
    uintptr_t used = (uintptr_t)xgw_strmap_get(x->partner_use, remote);
    if (limit && used >= limit)
        return false;
    if (xgw_strmap_put(x->partner_use, remote, (void *)(used + 1)) != 0)
        return false;
    c->counted_partner = true;
    return true;
}

static void
s_partner_release(xconn_t *c)
{
    if (!c->counted_partner)
        return;
    c->counted_partner = false;
    uintptr_t used = (uintptr_t)xgw_strmap_get(c->x->partner_use, c->remote);
    if (used <= 1)
        (void)xgw_strmap_delete(c->x->partner_use, c->remote);
    else
        (void)xgw_strmap_put(c->x->partner_use, c->remote, (void *)(used - 1));
}

static void
s_ip_release(xconn_t *c)
{
    if (!c->ip_counted)
        return;
    c->ip_counted = false;
    uintptr_t used = (uintptr_t)xgw_strmap_get(c->x->ip_use, c->peer_ip);
    if (used <= 1)
        (void)xgw_strmap_delete(c->x->ip_use, c->peer_ip);
    else
        (void)xgw_strmap_put(c->x->ip_use, c->peer_ip, (void *)(used - 1));
}

void
xconn_mark_authenticated(xconn_t *c, const char *auth)
{
    if (!c->authenticated) {
        c->authenticated = true;
        /* From now on its stanzas are handed over and count. */
        c->src.gated = c->dir == XCONN_IN;
        c->establish_deadline = 0;
        s_ip_release(c);
        xconn_set_auth(c, auth);
    }
    xmet_authenticated(c->x, s_dir(c), auth);
}

/* Unlinks the connection from everything that could reach it and queues
 * it for freeing. */
static void
s_kill(xconn_t *c, const char *reason)
{
    if (c->dead)
        return;
    xmppd_t *x = c->x;
    c->dead = true;
    if (!c->close_reason)
        c->close_reason = reason;
    if (c->dir == XCONN_OUT && c->step == XO_STARTTLS && c->transport == XT_PLAIN) {
        /* The peer answered our <starttls/> with an error or a close: it
         * has no TLS for us, and we never continue in plaintext (S2S-05). */
        if (strncmp(c->close_reason, "peer-", 5) == 0)
            xgw_info("outbound_setup_failed", "conn=%llu local=%s remote=%s reason=\"%s\"",
                     (unsigned long long)c->id, c->local, c->remote,
                     "the peer answered STARTTLS with a close: it offers no TLS");
        c->close_reason = "starttls-refused";
    }
    if (c->fd >= 0)
        xmppd_epoll_del(x, c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        x->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
    x->n_conns--;
    if (c->dir == XCONN_IN)
        x->n_in--;
    else
        x->n_out--;
    xmet_stream(x, s_dir(c), c->auth, -1);
    s_partner_release(c);
    s_ip_release(c);
    xsrc_gone(&c->src);
    xgw_info("stream_closed",
             "conn=%llu dir=%s local=%s remote=%s auth=%s reason=%s bytes_in=%llu "
             "bytes_out=%llu stanzas_in=%llu stanzas_out=%llu",
             (unsigned long long)c->id, s_dir(c), c->local[0] ? c->local : "-",
             c->remote[0] ? c->remote : "-", c->auth, c->close_reason,
             (unsigned long long)c->bytes_in, (unsigned long long)c->out_flushed,
             (unsigned long long)c->stanzas_in, (unsigned long long)c->stanzas_out);
    if (c->dir == XCONN_OUT && c->route) {
        xroute_t *r = c->route;
        c->route = NULL;
        xroute_conn_closed(r, c, c->fail_condition, c->fail_status);
    }
    c->dead_next = x->dead;
    x->dead = c;
}

static void
s_free(xconn_t *c)
{
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0)
        close(c->fd);
    xgw_xml_stream_destroy(&c->xml);
    free(c->wbuf);
    free(c->pend);
    free(c);
}

void
xmppd_reap(xmppd_t *x)
{
    while (x->dead) {
        xconn_t *c = x->dead;
        x->dead = c->dead_next;
        if (c->listed_pending) {
            for (size_t i = 0; i < x->n_more; i++) {
                if (x->more[i] == c) {
                    x->more[i] = x->more[--x->n_more];
                    break;
                }
            }
        }
        s_free(c);
    }
}

void
xconn_abort(xconn_t *c, const char *reason)
{
    if (c->dir == XCONN_OUT && !c->fail_condition && !c->was_ready) {
        c->fail_condition = "remote-server-timeout";
        c->fail_status = 504;
    }
    s_kill(c, reason);
}

/* ------------------------------------------------------------------ */
/* Events                                                              */

void
xconn_update_events(xconn_t *c)
{
    if (c->dead || c->fd < 0)
        return;
    uint32_t ev = 0;
    switch (c->transport) {
    case XT_CONNECTING:
        ev = EPOLLOUT;
        break;
    case XT_TLS_HANDSHAKE:
        ev = c->want_write_for_read ? EPOLLOUT : EPOLLIN;
        break;
    case XT_PLAIN:
    case XT_TLS:
        if (!c->src.paused && !c->tls_after_flush)
            ev |= EPOLLIN;
        if (c->woff < c->wlen || c->want_write_for_read)
            ev |= EPOLLOUT;
        break;
    }
    if (ev != c->events) {
        if (xmppd_epoll_mod(c->x, c->fd, ev, c) == 0)
            c->events = ev;
    }
}

static void
s_want_more(xconn_t *c)
{
    xmppd_t *x = c->x;
    if (c->listed_pending || c->dead)
        return;
    if (x->n_more == x->cap_more) {
        size_t cap = x->cap_more ? x->cap_more * 2 : 16;
        xconn_t **m = realloc(x->more, cap * sizeof *m);
        if (!m)
            return; /* the next readable event reads it */
        x->more = m;
        x->cap_more = cap;
    }
    x->more[x->n_more++] = c;
    c->listed_pending = true;
}

size_t
xconn_pending(const xconn_t *c)
{
    return c->wlen - c->woff;
}

static void s_tls_handshake(xconn_t *c);

/* Writes as much of the buffer as the socket takes. */
static void
s_flush(xconn_t *c)
{
    xmppd_t *x = c->x;
    if (c->transport != XT_PLAIN && c->transport != XT_TLS)
        return;
    size_t before = c->woff;
    while (!c->dead && c->woff < c->wlen) {
        size_t len = c->wlen - c->woff;
        ssize_t n;
        if (c->transport == XT_TLS) {
            ERR_clear_error();
            int r = SSL_write(c->ssl, c->wbuf + c->woff, len > INT_MAX ? INT_MAX : (int)len);
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
                    break;
                xconn_abort(c, "tls-write-error");
                return;
            }
            n = r;
        } else {
            n = send(c->fd, c->wbuf + c->woff, len, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    break;
                xconn_abort(c, "write-error");
                return;
            }
        }
        c->woff += (size_t)n;
        c->out_flushed += (uint64_t)n;
    }
    if (c->dead)
        return;
    size_t written = c->woff - before;
    if (written > 0) {
        xgw_series_add(x->m.bytes_out, written);
        c->last_write = xmppd_now();
    }
    if (c->woff == c->wlen) {
        c->woff = 0;
        c->wlen = 0;
    }
    if (c->route && written > 0)
        xroute_flushed(c->route, c->out_flushed);
    if (c->dead)
        return;
    if (c->wlen == 0 && c->tls_after_flush) {
        /* Inbound STARTTLS: <proceed/> is out; TLS starts with the next
         * byte (RFC 6120 5.4.2.3). */
        c->tls_after_flush = false;
        c->transport = XT_TLS_HANDSHAKE;
        s_tls_handshake(c);
        return;
    }
    if (c->wlen == 0 && c->close_after_flush) {
        s_kill(c, c->close_reason ? c->close_reason : "closed");
        return;
    }
    xconn_update_events(c);
}

int
xconn_write(xconn_t *c, const char *data, size_t len)
{
    if (c->dead)
        return XGW_EIO;
    if (len == 0)
        return 0;
    if (c->wlen + len > S_WBUF_MAX) {
        xgw_warn("stream_write_overflow", "conn=%llu dir=%s remote=%s pending=%zu",
                 (unsigned long long)c->id, s_dir(c), c->remote[0] ? c->remote : "-",
                 xconn_pending(c));
        xconn_abort(c, "peer-not-reading");
        return XGW_ETOOBIG;
    }
    if (c->woff > 0 && c->woff == c->wlen) {
        c->woff = 0;
        c->wlen = 0;
    }
    if (c->wlen + len > c->wcap) {
        size_t cap = c->wcap ? c->wcap : 4096;
        while (cap < c->wlen + len)
            cap *= 2;
        char *nb = realloc(c->wbuf, cap);
        if (!nb) {
            xconn_abort(c, "out-of-memory");
            return XGW_ENOMEM;
        }
        c->wbuf = nb;
        c->wcap = cap;
    }
    memcpy(c->wbuf + c->wlen, data, len);
    c->wlen += len;
    c->out_queued += len;
    s_flush(c);
    return 0;
}

int
xconn_write_str(xconn_t *c, const char *s)
{
    return xconn_write(c, s, strlen(s));
}

/* ------------------------------------------------------------------ */
/* TLS                                                                 */

static void
s_tls_reason(char *buf, size_t len)
{
    unsigned long e = ERR_peek_error();
    snprintf(buf, len, "%s", e ? ERR_reason_error_string(e) : "connection closed");
    if (!e)
        return;
    for (char *p = buf; *p; p++) {
        if (*p == '"')
            *p = '\'';
    }
}

static void
s_tls_handshake(xconn_t *c)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->transport = XT_TLS;
        c->want_write_for_read = false;
        c->tls_deadline = 0;
        xmet_tls(c->x, s_dir(c), "ok");
        xgw_info("tls_established", "conn=%llu dir=%s remote=%s version=%s cipher=%s",
                 (unsigned long long)c->id, s_dir(c), c->remote[0] ? c->remote : "-",
                 SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
        xconn_update_events(c);
        if (c->dir == XCONN_IN)
            xin_tls_done(c);
        else
            xout_tls_done(c);
        if (!c->dead && SSL_pending(c->ssl) > 0)
            s_want_more(c);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        c->want_write_for_read = e == SSL_ERROR_WANT_WRITE;
        xconn_update_events(c);
        return;
    }
    char why[160];
    s_tls_reason(why, sizeof why);
    ERR_clear_error();
    xmet_tls(c->x, s_dir(c), "failed");
    xgw_info("tls_failed", "conn=%llu dir=%s remote=%s peer=%s reason=\"%s\"",
             (unsigned long long)c->id, s_dir(c), c->remote[0] ? c->remote : "-", c->peer_ip, why);
    /* RFC 6120 5.4.3.2: a failed handshake closes TCP without a closing
     * tag (S2S-06). */
    xconn_abort(c, "tls-handshake-failed");
}

int
xconn_tls_start(xconn_t *c, SSL_CTX *ctx, bool server, const char *sni, bool alpn,
                const char *preamble)
{
    if (!ctx)
        return XGW_ENOENT;
    c->ssl = SSL_new(ctx);
    if (!c->ssl)
        return XGW_ENOMEM;
    SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_set_fd(c->ssl, c->fd) != 1) {
        SSL_free(c->ssl);
        c->ssl = NULL;
        return XGW_EIO;
    }
    c->tls_server = server;
    if (server) {
        SSL_set_accept_state(c->ssl);
    } else {
        SSL_set_connect_state(c->ssl);
        if (sni && sni[0])
            (void)SSL_set_tlsext_host_name(c->ssl, sni);
        if (alpn) {
            static const unsigned char protos[] = "\x0bxmpp-server";
            (void)SSL_set_alpn_protos(c->ssl, protos, sizeof protos - 1);
        }
    }
    c->tls_deadline = xmppd_now() + c->x->settings->xmppd.tls_handshake_timeout_ms;
    if (preamble) {
        /* The handshake starts once the preamble (<proceed/>) is out:
         * s_flush sees tls_after_flush. */
        c->tls_after_flush = true;
        (void)xconn_write_str(c, preamble);
        return 0;
    }
    c->transport = XT_TLS_HANDSHAKE;
    s_tls_handshake(c);
    return 0;
}

int
xconn_peer_cert_valid(xconn_t *c, const char *domain, char *why, size_t whylen)
{
    snprintf(why, whylen, "no certificate");
    if (!c->ssl || c->transport != XT_TLS)
        return 0;
    X509 *leaf = SSL_get1_peer_certificate(c->ssl);
    if (!leaf)
        return 0;
    char subject[256], fpr[XGW_X509_FPR_LEN];
    xgw_x509_subject(leaf, subject, sizeof subject);
    xgw_x509_fingerprint(leaf, fpr);
    for (char *p = subject; *p; p++) {
        if (*p == '"')
            *p = '\'';
    }
    xgw_debug("peer_certificate", "conn=%llu dir=%s domain=%s subject=\"%s\" sha256=%s",
              (unsigned long long)c->id, s_dir(c), domain, subject, fpr);
    X509_STORE *trust = xmppd_trust(c->x);
    int ok = 0;
    if (!trust) {
        snprintf(why, whylen, "no trust store from certd yet");
    } else {
        STACK_OF(X509) *chain = SSL_get_peer_cert_chain(c->ssl);
        xgw_x509_verdict_t v =
            xgw_x509_verify_peer(leaf, chain, trust, domain, (int64_t)time(NULL), why, whylen);
        ok = v == XGW_X509_VALID;
        if (ok)
            c->cert_expiry = xgw_x509_not_after(leaf);
    }
    X509_free(leaf);
    return ok;
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */

static void
s_eof(xconn_t *c)
{
    if (c->stream == XS_CLOSING) {
        s_kill(c, c->close_reason ? c->close_reason : "closed");
        return;
    }
    if (c->dir == XCONN_OUT && !c->fail_condition && !c->was_ready) {
        c->fail_condition = "remote-server-timeout";
        c->fail_status = 504;
    }
    s_kill(c, "peer-disconnected");
}

/* ------------------------------------------------------------------ */
/* Back-pressure                                                       */

/* The stream may be read again: its kept input and what TLS decrypted
 * already are read next turn (this may run inside another stream's
 * callbacks). */
static void
s_on_resume(xsrc_t *src)
{
    xconn_t *c = (xconn_t *)((char *)src - offsetof(xconn_t, src));
    if (c->dead)
        return;
    /* The time spent paused was ours, not the peer's silence. */
    c->last_read = xmppd_now();
    xgw_debug("stream_resumed", "conn=%llu remote=%s held=%zu", (unsigned long long)c->id,
              c->remote, c->src.held);
    xconn_update_events(c);
    s_want_more(c);
}

static void
s_pause(xconn_t *c)
{
    if (c->src.paused || c->dead)
        return;
    xsrc_pause(&c->src);
    xgw_debug("stream_paused", "conn=%llu remote=%s held=%zu held_bytes=%zu",
              (unsigned long long)c->id, c->remote, c->src.held, c->src.held_bytes);
    xconn_update_events(c);
}

/* Feeds input to the XML reader until it is consumed or the stream must
 * pause. Returns how many bytes were used (all of them when the stream
 * died or the rest was dropped on purpose). */
static size_t
s_feed(xconn_t *c, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        if (c->dead)
            return len;
        if (c->stream == XS_CLOSING && !c->close_graceful)
            return len; /* after a stream error the peer's last bytes are not read */
        size_t n = xsrc_feed_len(&c->src, data + off, len - off);
        if (n == 0) {
            s_pause(c);
            return off;
        }
        c->in_feed = true;
        int rc = xgw_xml_stream_feed(c->xml, data + off, n);
        c->in_feed = false;
        off += n;
        if (c->dead)
            return len;
        if (rc < 0) {
            xconn_parser_error(c);
            return len;
        }
        if (rc == 1 || c->restart_pending) {
            /* Whatever followed the element that ended this phase (STARTTLS,
             * SASL success) was read in the old state and is dropped
             * (RFC 6120 5.4.3.3, 6.4.6). */
            if (c->restart_pending) {
                c->restart_pending = false;
                if (xgw_xml_stream_reset(c->xml) != 0)
                    xconn_abort(c, "out-of-memory");
            }
            return len;
        }
    }
    if (!c->dead && xsrc_full(&c->src))
        s_pause(c); /* stop before the next read, not after it */
    return off;
}

/* Keeps data[used..len) for when the stream is resumed. */
static void
s_keep(xconn_t *c, const char *data, size_t len)
{
    if (c->pend_off > 0 && c->pend_off < c->pend_len) {
        memmove(c->pend, c->pend + c->pend_off, c->pend_len - c->pend_off);
        c->pend_len -= c->pend_off;
        c->pend_off = 0;
    } else if (c->pend_off >= c->pend_len) {
        c->pend_len = c->pend_off = 0;
    }
    char *p = realloc(c->pend, c->pend_len + len);
    if (!p) {
        xconn_abort(c, "out-of-memory");
        return;
    }
    memcpy(p + c->pend_len, data, len);
    c->pend = p;
    c->pend_len += len;
}

/* Feeds the input kept from an earlier read. Returns true when all of it
 * is consumed. */
static bool
s_feed_kept(xconn_t *c)
{
    if (!c->pend)
        return true;
    size_t used = s_feed(c, c->pend + c->pend_off, c->pend_len - c->pend_off);
    if (c->dead)
        return false;
    c->pend_off += used;
    if (c->pend_off < c->pend_len)
        return false;
    free(c->pend);
    c->pend = NULL;
    c->pend_len = c->pend_off = 0;
    return true;
}

static void
s_read(xconn_t *c)
{
    xmppd_t *x = c->x;
    char *buf = x->rbuf;
    if (c->src.paused || c->dead)
        return;
    if (!s_feed_kept(c))
        return;
    for (int i = 0; i < S_READS_PER_TURN; i++) {
        if (c->dead || c->tls_after_flush)
            return;
        if (c->transport != XT_PLAIN && c->transport != XT_TLS)
            return;
        if (c->src.paused)
            return;
        ssize_t n;
        if (c->transport == XT_TLS) {
            ERR_clear_error();
            c->want_write_for_read = false;
            int r = SSL_read(c->ssl, buf, (int)sizeof x->rbuf);
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_READ) {
                    xconn_update_events(c);
                    return;
                }
                if (e == SSL_ERROR_WANT_WRITE) {
                    c->want_write_for_read = true;
                    xconn_update_events(c);
                    return;
                }
                if (e == SSL_ERROR_ZERO_RETURN) {
                    s_eof(c);
                    return;
                }
                ERR_clear_error();
                if (c->stream == XS_CLOSING)
                    s_kill(c, c->close_reason ? c->close_reason : "closed");
                else
                    s_eof(c);
                return;
            }
            n = r;
        } else {
            n = recv(c->fd, buf, sizeof x->rbuf, 0);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    return;
                s_eof(c);
                return;
            }
            if (n == 0) {
                s_eof(c);
                return;
            }
        }
        c->bytes_in += (uint64_t)n;
        xgw_series_add(x->m.bytes_in, (uint64_t)n);
        c->last_read = xmppd_now();
        size_t used = s_feed(c, buf, (size_t)n);
        if (c->dead)
            return;
        if (used < (size_t)n) {
            s_keep(c, buf + used, (size_t)n - used);
            return; /* paused: the rest waits in pend */
        }
    }
    /* More may be buffered (a busy socket or TLS records): come back after
     * the other connections had their turn. */
    s_want_more(c);
}

void
xconn_read_more(xconn_t *c)
{
    c->listed_pending = false;
    if (c->dead)
        return;
    if (c->transport == XT_TLS_HANDSHAKE) {
        s_tls_handshake(c);
        return;
    }
    s_read(c);
}

int
xconn_restart(xconn_t *c)
{
    if (c->in_feed) {
        /* Inside a reader callback: the reset happens when the feed
         * returns, and the rest of the bytes read are dropped. */
        c->restart_pending = true;
        xgw_xml_stream_stop(c->xml);
        return 0;
    }
    c->restart_pending = false;
    return xgw_xml_stream_reset(c->xml);
}

static void
s_connect_done(xconn_t *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err != 0) {
        xgw_info("outbound_connect_failed", "conn=%llu remote=%s peer=%s:%u reason=\"%s\"",
                 (unsigned long long)c->id, c->remote, c->peer_ip, c->peer_port, strerror(err));
        c->fail_condition = "remote-server-timeout";
        c->fail_status = 504;
        s_kill(c, "connect-failed");
        return;
    }
    c->transport = XT_PLAIN;
    c->tls_deadline = 0;
    xconn_update_events(c);
    xout_connected(c);
}

void
xconn_event(xconn_t *c, uint32_t events)
{
    if (c->dead)
        return;
    switch (c->transport) {
    case XT_CONNECTING:
        s_connect_done(c);
        return;
    case XT_TLS_HANDSHAKE:
        s_tls_handshake(c);
        return;
    case XT_PLAIN:
    case XT_TLS:
        break;
    }
    if (events & EPOLLOUT) {
        if (c->want_write_for_read)
            s_read(c);
        if (!c->dead)
            s_flush(c);
    }
    if (!c->dead && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        s_read(c);
}

/* ------------------------------------------------------------------ */
/* Stream framing                                                      */

void
xconn_send_header(xconn_t *c, const char *from, const char *to, bool with_version)
{
    xgw_xml_writer_t *w = &c->x->w;
    xgw_xml_writer_clear(w);
    xgw_xml_raw(w, "<?xml version='1.0'?>", strlen("<?xml version='1.0'?>"));
    xgw_xml_open(w, "stream:stream");
    xgw_xml_attr_w(w, "xmlns", XGW_XML_NS_SERVER);
    xgw_xml_attr_w(w, "xmlns:stream", XGW_XML_NS_STREAM);
    xgw_xml_attr_w(w, "xmlns:db", XMPPD_NS_DIALBACK);
    if (from && from[0])
        xgw_xml_attr_w(w, "from", from);
    if (to && to[0])
        xgw_xml_attr_w(w, "to", to);
    if (c->dir == XCONN_IN) {
        /* A fresh id for every response header, restarts included (S2S-02). */
        xmppd_random_id(c->stream_id);
        xgw_xml_attr_w(w, "id", c->stream_id);
    }
    if (with_version)
        xgw_xml_attr_w(w, "version", "1.0");
    xgw_xml_open_end(w);
    if (xgw_xml_writer_status(w) != 0) {
        xconn_abort(c, "header-too-big");
        return;
    }
    c->header_sent = true;
    (void)xconn_write(c, w->buf, w->len);
}

void
xconn_stream_error(xconn_t *c, const char *condition, const char *text)
{
    if (c->dead || c->stream == XS_CLOSING)
        return;
    xmppd_t *x = c->x;
    if (c->transport == XT_CONNECTING || c->transport == XT_TLS_HANDSHAKE) {
        /* No stream to carry the error yet. */
        xconn_abort(c, condition);
        return;
    }
    if (!c->header_sent) {
        /* RFC 6120 4.9.1.2: even a setup error comes after a header. */
        xconn_send_header(c, c->local[0] ? c->local : NULL, NULL, true);
        if (c->dead)
            return;
    }
    xgw_xml_writer_t *w = &x->w;
    xgw_xml_writer_clear(w);
    xgw_xml_raw(w, "<stream:error>", strlen("<stream:error>"));
    xgw_xml_open(w, condition);
    xgw_xml_attr_w(w, "xmlns", XMPPD_NS_STREAM_ERR);
    xgw_xml_open_close(w);
    if (text && text[0]) {
        xgw_xml_open(w, "text");
        xgw_xml_attr_w(w, "xmlns", XMPPD_NS_STREAM_ERR);
        xgw_xml_open_end(w);
        xgw_xml_text_w(w, text, strlen(text));
        xgw_xml_close(w, "text");
    }
    xgw_xml_raw(w, "</stream:error></stream:stream>", strlen("</stream:error></stream:stream>"));
    xmet_stream_error(x, "sent", condition);
    xgw_info("stream_error", "conn=%llu dir=%s local=%s remote=%s peer=%s condition=%s text=\"%s\"",
             (unsigned long long)c->id, s_dir(c), c->local[0] ? c->local : "-",
             c->remote[0] ? c->remote : "-", c->peer_ip, condition, text ? text : "");
    if (c->dir == XCONN_OUT && !c->fail_condition && !c->was_ready) {
        c->fail_condition = "remote-server-timeout";
        c->fail_status = 504;
    }
    c->close_reason = condition;
    c->stream = XS_CLOSING;
    c->close_graceful = false;
    c->close_deadline = xmppd_now() + XMPPD_CLOSE_LINGER_MS;
    if (xgw_xml_writer_status(w) == 0)
        (void)xconn_write(c, w->buf, w->len);
    if (!c->dead)
        xconn_update_events(c);
}

void
xconn_close_stream(xconn_t *c, const char *reason)
{
    if (c->dead || c->stream == XS_CLOSING)
        return;
    c->close_reason = reason;
    c->stream = XS_CLOSING;
    c->close_graceful = c->header_sent && c->xml && !c->restart_pending;
    c->close_deadline = xmppd_now() + XMPPD_CLOSE_LINGER_MS;
    if (c->dir == XCONN_OUT && !c->fail_condition && !c->was_ready) {
        c->fail_condition = "remote-server-timeout";
        c->fail_status = 504;
    }
    if (c->header_sent && c->transport != XT_CONNECTING && c->transport != XT_TLS_HANDSHAKE)
        (void)xconn_write_str(c, "</stream:stream>");
    else
        c->close_after_flush = true;
    if (!c->dead && xconn_pending(c) == 0 && c->close_after_flush)
        s_kill(c, reason);
    else if (!c->dead)
        xconn_update_events(c);
}

void
xconn_parser_error(xconn_t *c)
{
    xgw_xml_err_t err = xgw_xml_stream_error(c->xml);
    const char *detail = xgw_xml_stream_error_detail(c->xml);
    char text[160];
    snprintf(text, sizeof text, "%s", detail ? detail : "");
    for (char *p = text; *p; p++) {
        if (*p == '"' || (unsigned char)*p < 0x20)
            *p = '\'';
    }
    xgw_info("stream_parse_error", "conn=%llu dir=%s remote=%s peer=%s condition=%s detail=\"%s\"",
             (unsigned long long)c->id, s_dir(c), c->remote[0] ? c->remote : "-", c->peer_ip,
             xgw_xml_err_condition(err), text);
    xconn_stream_error(c, xgw_xml_err_condition(err), NULL);
}

/* ------------------------------------------------------------------ */
/* Timers                                                              */

static void
s_timers_one(xconn_t *c, int64_t now)
{
    xmppd_t *x = c->x;
    if (c->stream == XS_CLOSING) {
        if (c->close_deadline && now >= c->close_deadline)
            s_kill(c, c->close_reason ? c->close_reason : "closed");
        return;
    }
    if (c->transport == XT_CONNECTING && c->tls_deadline && now >= c->tls_deadline) {
        xgw_info("outbound_connect_failed", "conn=%llu remote=%s peer=%s:%u reason=timeout",
                 (unsigned long long)c->id, c->remote, c->peer_ip, c->peer_port);
        c->fail_condition = "remote-server-timeout";
        c->fail_status = 504;
        s_kill(c, "connect-timeout");
        return;
    }
    if (c->transport == XT_TLS_HANDSHAKE && c->tls_deadline && now >= c->tls_deadline) {
        xmet_tls(x, s_dir(c), "timeout");
        xgw_info("tls_failed", "conn=%llu dir=%s remote=%s peer=%s reason=timeout",
                 (unsigned long long)c->id, s_dir(c), c->remote[0] ? c->remote : "-", c->peer_ip);
        xconn_abort(c, "tls-handshake-timeout");
        return;
    }
    if (c->establish_deadline && now >= c->establish_deadline) {
        xconn_stream_error(c, "connection-timeout", "stream establishment timeout");
        return;
    }
    if (c->authenticated && strcmp(c->auth, "sasl") == 0 && c->cert_expiry &&
        (int64_t)time(NULL) >= c->cert_expiry) {
        /* CRT-07: the certificate that authenticated the stream expired. */
        xconn_stream_error(c, "reset", "the certificate expired");
        return;
    }
    const xgw_gateway_t *g = xmppd_gateway(x);
    int64_t idle_ms = (int64_t)(g ? g->stream_inactivity_timeout_s : 600) * 1000;
    if (c->stream == XS_OPEN && c->authenticated) {
        if (c->dir == XCONN_IN && !c->src.paused && now - c->last_read >= idle_ms) {
            /* A silent peer (not even whitespace) is a broken stream
             * (S2S-18). */
            xconn_stream_error(c, "connection-timeout", NULL);
            return;
        }
        if (c->dir == XCONN_OUT && c->route && c->route->q_len == 0 && !c->route->f_head &&
            now - c->last_read >= idle_ms && now - c->last_stanza >= idle_ms) {
            xconn_close_stream(c, "idle");
            return;
        }
        int64_t ka_ms = (int64_t)(g ? g->keepalive_interval_s : 300) * 1000;
        const char *why = NULL;
        const xgw_partner_t *p = c->remote[0] ? xmppd_partner(x, c->remote, &why) : NULL;
        if (p && p->keepalive && ka_ms > 0 && now - c->last_write >= ka_ms &&
            xconn_pending(c) == 0) {
            /* RFC 6120 4.6.1 whitespace keepalive. */
            (void)xconn_write(c, " ", 1);
            c->last_write = now;
        }
    }
}

void
xconn_timers(xmppd_t *x, int64_t now)
{
    xconn_t *next = NULL;
    for (xconn_t *c = x->conns; c; c = next) {
        next = c->next;
        s_timers_one(c, now);
        /* s_kill unlinks c; next was read before. A kill of next itself
         * from here cannot happen: timers touch only their own conn. */
    }
}
