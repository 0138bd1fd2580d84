/*
 * xgw_http.c - /metrics and /healthz server thread; see xgw_http.h.
 *
 * One thread, one poll() loop over: an eventfd (stop request), the
 * non-blocking listening socket and up to XGW_HTTP_MAX_CONNS connections.
 * A connection goes READING (collecting the request head, 2 s deadline) ->
 * WRITING (whole response prepared in memory, sent as the socket accepts it)
 * -> LINGER (our side shut down; we read and discard whatever the client
 * still sends until it closes, so that closing with unread input does not
 * turn into a RST that destroys the response in the client's buffer) -> closed.
 */
#include "xgw_http.h"
#include "xgw_error.h"
#include "xgw_log.h"
#include "xgw_metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define S_WRITE_TIMEOUT_MS 10000
#define S_LINGER_TIMEOUT_MS 1000
#define S_LINGER_MAX_BYTES (64 * 1024)
#define S_ACCEPT_PAUSE_MS 100
#define S_REASON_MAX 256

typedef enum {
    S_FREE = 0,
    S_READING,
    S_WRITING,
    S_LINGER,
} s_state_t;

struct s_conn {
    int fd;
    s_state_t state;
    int64_t deadline_ms;
    size_t inlen;
    size_t lingered;
    char *out;
    size_t outlen;
    size_t outoff;
    char in[XGW_HTTP_MAX_HEAD];
};

struct xgw_http {
    int lfd;
    int wakefd;
    int port;
    bool started;
    pthread_t thread;
    xgw_health_fn health;
    void *health_ud;
    xgw_family_t *requests;
    int64_t accept_paused_until;
    struct s_conn conns[XGW_HTTP_MAX_CONNS];
};

static int64_t
s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *
s_reason_phrase(int code)
{
    switch (code) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

static void
s_conn_close(struct s_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->out);
    c->out = NULL;
    c->fd = -1;
    c->state = S_FREE;
    c->inlen = 0;
    c->outlen = 0;
    c->outoff = 0;
    c->lingered = 0;
}

/* Response fully sent: half-close and drain the client's leftovers. */
static void
s_conn_linger(struct s_conn *c)
{
    free(c->out);
    c->out = NULL;
    shutdown(c->fd, SHUT_WR);
    c->state = S_LINGER;
    c->lingered = 0;
    c->deadline_ms = s_now_ms() + S_LINGER_TIMEOUT_MS;
}

static void
s_conn_write(struct s_conn *c)
{
    while (c->outoff < c->outlen) {
        ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
        if (n > 0) {
            c->outoff += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return; /* wait for POLLOUT */
        xgw_debug("http_send_failed", "errno=%d", errno);
        s_conn_close(c);
        return;
    }
    s_conn_linger(c);
}

/* Queues a response and starts sending it. body may be NULL when bodylen is
 * 0. With head_only (HEAD requests) the body is not sent but Content-Length
 * still gives its size. */
static void
s_respond(xgw_http_t *self, struct s_conn *c, int code, const char *path_label, const char *ctype,
          const char *body, size_t bodylen, bool head_only)
{
    char head[512];
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.0 %d %s\r\n"
                      "Content-Type: %s\r\n"
                      "Content-Length: %zu\r\n"
                      "%s"
                      "Connection: close\r\n"
                      "\r\n",
                      code, s_reason_phrase(code), ctype, bodylen,
                      code == 405 ? "Allow: GET, HEAD\r\n" : "");
    if (hn < 0 || (size_t)hn >= sizeof head) {
        s_conn_close(c);
        return;
    }
    size_t send_body = head_only ? 0 : bodylen;
    c->out = malloc((size_t)hn + send_body + 1);
    if (!c->out) {
        s_conn_close(c);
        return;
    }
    memcpy(c->out, head, (size_t)hn);
    if (send_body)
        memcpy(c->out + hn, body, send_body);
    c->outlen = (size_t)hn + send_body;
    c->outoff = 0;
    c->state = S_WRITING;
    c->deadline_ms = s_now_ms() + S_WRITE_TIMEOUT_MS;

    char code_text[8];
    snprintf(code_text, sizeof code_text, "%d", code);
    xgw_series_inc(xgw_family_series(self->requests, path_label, code_text));

    s_conn_write(c);
}

static void
s_respond_text(xgw_http_t *self, struct s_conn *c, int code, const char *path_label,
               const char *text, bool head_only)
{
    s_respond(self, c, code, path_label, "text/plain; charset=utf-8", text, strlen(text),
              head_only);
}

static bool
s_is_token_char(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static void
s_serve_health(xgw_http_t *self, struct s_conn *c, bool head_only)
{
    char reason[S_REASON_MAX] = "";
    int rc = 0;
    if (self->health)
        rc = self->health(self->health_ud, reason, sizeof reason);
    if (rc == 0) {
        s_respond_text(self, c, 200, "healthz", "ok\n", head_only);
        return;
    }
    reason[sizeof reason - 1] = '\0';
    for (char *p = reason; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch < 0x20 || ch == 0x7f)
            *p = '?';
    }
    char body[S_REASON_MAX + 32];
    snprintf(body, sizeof body, "unhealthy: %s\n", reason[0] ? reason : "unknown");
    s_respond_text(self, c, 503, "healthz", body, head_only);
}

/* The full head is in c->in[0 .. headlen). Parses the request line and
 * answers. Headers are not needed and are ignored. */
static void
s_handle_request(xgw_http_t *self, struct s_conn *c, size_t headlen)
{
    const char *line = c->in;
    const char *eol = memchr(line, '\n', headlen);
    size_t linelen = eol ? (size_t)(eol - line) : 0;
    if (linelen > 0 && line[linelen - 1] == '\r')
        linelen--;

    /* METHOD SP request-target SP HTTP/1.x */
    size_t i = 0;
    while (i < linelen && s_is_token_char(line[i]))
        i++;
    size_t mlen = i;
    if (mlen == 0 || i >= linelen || line[i] != ' ') {
        s_respond_text(self, c, 400, "other", "bad request\n", false);
        return;
    }
    size_t tstart = ++i;
    while (i < linelen && line[i] > ' ' && line[i] < 0x7f)
        i++;
    size_t tlen = i - tstart;
    const char *ver = line + i + 1;
    size_t vlen = i < linelen ? linelen - i - 1 : 0;
    if (tlen == 0 || i >= linelen || line[i] != ' ' || vlen != 8 ||
        memcmp(ver, "HTTP/1.", 7) != 0 || ver[7] < '0' || ver[7] > '9') {
        s_respond_text(self, c, 400, "other", "bad request\n", false);
        return;
    }

    const char *target = line + tstart;
    size_t plen = 0;
    while (plen < tlen && target[plen] != '?')
        plen++;
    const char *path_label = "other";
    if (plen == 8 && memcmp(target, "/metrics", 8) == 0)
        path_label = "metrics";
    else if (plen == 8 && memcmp(target, "/healthz", 8) == 0)
        path_label = "healthz";

    bool is_get = mlen == 3 && memcmp(line, "GET", 3) == 0;
    bool is_head = mlen == 4 && memcmp(line, "HEAD", 4) == 0;
    if (!is_get && !is_head) {
        s_respond_text(self, c, 405, path_label, "method not allowed\n", false);
        return;
    }

    if (strcmp(path_label, "metrics") == 0) {
        size_t len = 0;
        char *text = xgw_metrics_render(&len);
        if (!text) {
            s_respond_text(self, c, 500, path_label, "render failed\n", is_head);
            return;
        }
        s_respond(self, c, 200, path_label, "text/plain; version=0.0.4; charset=utf-8", text, len,
                  is_head);
        free(text);
    } else if (strcmp(path_label, "healthz") == 0) {
        s_serve_health(self, c, is_head);
    } else {
        s_respond_text(self, c, 404, path_label, "not found\n", is_head);
    }
}

/* Length of the head (through the blank line) if complete, else 0. Accepts
 * bare LF line ends as well as CRLF. */
static size_t
s_head_length(const char *buf, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (buf[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

static void
s_conn_read(xgw_http_t *self, struct s_conn *c)
{
    while (c->inlen < sizeof c->in) {
        ssize_t n = recv(c->fd, c->in + c->inlen, sizeof c->in - c->inlen, 0);
        if (n > 0) {
            c->inlen += (size_t)n;
            size_t headlen = s_head_length(c->in, c->inlen);
            if (headlen > 0) {
                s_handle_request(self, c, headlen);
                return;
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        /* EOF or error before a full head: nothing to answer. */
        s_conn_close(c);
        return;
    }
    s_respond_text(self, c, 431, "other", "request header too large\n", false);
}

static void
s_conn_drain(struct s_conn *c)
{
    char sink[4096];
    for (;;) {
        ssize_t n = recv(c->fd, sink, sizeof sink, 0);
        if (n > 0) {
            c->lingered += (size_t)n;
            if (c->lingered > S_LINGER_MAX_BYTES) {
                s_conn_close(c);
                return;
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        s_conn_close(c); /* EOF: the client is done */
        return;
    }
}

static void
s_accept(xgw_http_t *self)
{
    for (int round = 0; round < XGW_HTTP_MAX_CONNS; round++) {
        int fd = accept4(self->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            /* EMFILE, ENFILE, ENOBUFS, ENOMEM: the listening socket stays
             * readable, so stop polling it for a moment instead of spinning. */
            xgw_warn("http_accept_failed", "errno=%d", errno);
            self->accept_paused_until = s_now_ms() + S_ACCEPT_PAUSE_MS;
            return;
        }
        struct s_conn *c = NULL;
        for (size_t i = 0; i < XGW_HTTP_MAX_CONNS && !c; i++) {
            if (self->conns[i].state == S_FREE)
                c = &self->conns[i];
        }
        if (!c) {
            xgw_debug("http_too_many_connections", "max=%d", XGW_HTTP_MAX_CONNS);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->state = S_READING;
        c->inlen = 0;
        c->deadline_ms = s_now_ms() + XGW_HTTP_HEAD_TIMEOUT_MS;
    }
}

static void *
s_thread_main(void *arg)
{
    xgw_http_t *self = arg;
    struct pollfd pfd[2 + XGW_HTTP_MAX_CONNS];
    struct s_conn *polled[2 + XGW_HTTP_MAX_CONNS];

    for (;;) {
        int64_t now = s_now_ms();
        int64_t next = INT64_MAX;
        nfds_t n = 0;
        pfd[n].fd = self->wakefd;
        pfd[n].events = POLLIN;
        pfd[n].revents = 0;
        polled[n++] = NULL;
        pfd[n].fd = now >= self->accept_paused_until ? self->lfd : -1;
        pfd[n].events = POLLIN;
        pfd[n].revents = 0;
        polled[n++] = NULL;
        if (now < self->accept_paused_until)
            next = self->accept_paused_until;
        for (size_t i = 0; i < XGW_HTTP_MAX_CONNS; i++) {
            struct s_conn *c = &self->conns[i];
            if (c->state == S_FREE)
                continue;
            pfd[n].fd = c->fd;
            pfd[n].events = c->state == S_WRITING ? POLLOUT : POLLIN;
            pfd[n].revents = 0;
            polled[n++] = c;
            if (c->deadline_ms < next)
                next = c->deadline_ms;
        }
        int timeout = -1;
        if (next != INT64_MAX)
            timeout = next <= now ? 0 : (next - now > INT_MAX ? INT_MAX : (int)(next - now));

        int rc = poll(pfd, n, timeout);
        if (rc < 0 && errno != EINTR) {
            xgw_error("http_poll_failed", "errno=%d", errno);
            struct timespec pause = {0, 100 * 1000 * 1000};
            nanosleep(&pause, NULL);
            continue;
        }
        if (rc > 0 && pfd[0].revents)
            break; /* stop requested */
        if (rc > 0 && (pfd[1].revents & (POLLIN | POLLERR)))
            s_accept(self);
        for (nfds_t k = 2; rc > 0 && k < n; k++) {
            struct s_conn *c = polled[k];
            if (!pfd[k].revents || c->state == S_FREE)
                continue;
            if (c->state == S_READING)
                s_conn_read(self, c);
            else if (c->state == S_WRITING)
                s_conn_write(c);
            else if (c->state == S_LINGER)
                s_conn_drain(c);
        }

        now = s_now_ms();
        for (size_t i = 0; i < XGW_HTTP_MAX_CONNS; i++) {
            struct s_conn *c = &self->conns[i];
            if (c->state == S_FREE || c->deadline_ms > now)
                continue;
            if (c->state == S_READING)
                xgw_debug("http_head_timeout", "bytes=%zu", c->inlen);
            else if (c->state == S_WRITING)
                xgw_debug("http_write_timeout", "left=%zu", c->outlen - c->outoff);
            s_conn_close(c);
        }
    }

    for (size_t i = 0; i < XGW_HTTP_MAX_CONNS; i++) {
        if (self->conns[i].state != S_FREE)
            s_conn_close(&self->conns[i]);
    }
    return NULL;
}

/* Fills ss from a literal IPv4 or IPv6 address ("[::1]" accepted). */
static int
s_parse_addr(const char *addr, int port, struct sockaddr_storage *ss, socklen_t *sslen)
{
    char buf[INET6_ADDRSTRLEN + 2];
    size_t len = strlen(addr);
    if (len >= 2 && addr[0] == '[' && addr[len - 1] == ']') {
        if (len - 2 >= sizeof buf)
            return XGW_EINVAL;
        memcpy(buf, addr + 1, len - 2);
        buf[len - 2] = '\0';
    } else {
        if (len >= sizeof buf)
            return XGW_EINVAL;
        memcpy(buf, addr, len + 1);
    }
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, buf, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        *sslen = sizeof *in4;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *sslen = sizeof *in6;
        return 0;
    }
    return XGW_EINVAL;
}

static int
s_port_of(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

xgw_http_t *
xgw_http_new(const char *addr, int port, xgw_health_fn health, void *health_ud)
{
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    if (!addr || port < 0 || port > 65535 || s_parse_addr(addr, port, &ss, &sslen) != 0) {
        xgw_error("http_bad_address", "addr=\"%s\" port=%d", addr ? addr : "(null)", port);
        return NULL;
    }

    xgw_http_t *self = calloc(1, sizeof *self);
    if (!self) {
        xgw_error("http_new_failed", "reason=nomem");
        return NULL;
    }
    self->lfd = -1;
    self->wakefd = -1;
    self->health = health;
    self->health_ud = health_ud;
    for (size_t i = 0; i < XGW_HTTP_MAX_CONNS; i++)
        self->conns[i].fd = -1;
    self->requests = xgw_metrics_counter(
        "xgw_http_requests_total", "HTTP requests answered by the metrics endpoint.", "path,code");

    self->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (self->lfd < 0) {
        xgw_error("http_socket_failed", "addr=\"%s\" errno=%d err=\"%s\"", addr, errno,
                  strerror(errno));
        goto fail;
    }
    int one = 1;
    setsockopt(self->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(self->lfd, (struct sockaddr *)&ss, sslen) != 0) {
        xgw_error("http_bind_failed", "addr=\"%s\" port=%d errno=%d err=\"%s\"", addr, port, errno,
                  strerror(errno));
        goto fail;
    }
    if (listen(self->lfd, XGW_HTTP_MAX_CONNS) != 0) {
        xgw_error("http_listen_failed", "addr=\"%s\" port=%d errno=%d err=\"%s\"", addr, port,
                  errno, strerror(errno));
        goto fail;
    }
    self->port = s_port_of(self->lfd);
    self->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->wakefd < 0) {
        xgw_error("http_eventfd_failed", "errno=%d err=\"%s\"", errno, strerror(errno));
        goto fail;
    }

    /* The thread inherits the creator's mask: block everything so signals
     * are always delivered to the process's own threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&self->thread, NULL, s_thread_main, self);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        xgw_error("http_thread_failed", "errno=%d", rc);
        goto fail;
    }
    self->started = true;
    xgw_info("http_listening", "addr=\"%s\" port=%d", addr, self->port);
    return self;

fail:
    if (self->lfd >= 0)
        close(self->lfd);
    if (self->wakefd >= 0)
        close(self->wakefd);
    free(self);
    return NULL;
}

int
xgw_http_port(const xgw_http_t *self)
{
    return self ? self->port : -1;
}

void
xgw_http_destroy(xgw_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    xgw_http_t *self = *self_p;
    if (self->started) {
        uint64_t one = 1;
        ssize_t w;
        do {
            w = write(self->wakefd, &one, sizeof one);
        } while (w < 0 && errno == EINTR);
        pthread_join(self->thread, NULL);
    }
    for (size_t i = 0; i < XGW_HTTP_MAX_CONNS; i++) {
        if (self->conns[i].state != S_FREE)
            s_conn_close(&self->conns[i]);
    }
    close(self->lfd);
    close(self->wakefd);
    free(self);
    *self_p = NULL;
}
