/*
 * xgw_component.c - the XEP-0114 component link; see xgw_component.h.
 */
#include "xgw_component.h"
#include "xgw_error.h"
#include "xgw_log.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define S_NS_COMPONENT "jabber:component:accept"
#define S_SECRET_MAX 1024
#define S_BACKOFF_FIRST_MS 500
#define S_BACKOFF_MAX_MS 30000
#define S_HANDSHAKE_TIMEOUT_MS 10000
#define S_READ_CHUNK 16384

typedef enum {
    S_IDLE,       /* no socket; reconnect_at says when to try */
    S_CONNECTING, /* non-blocking connect in progress */
    S_HANDSHAKE,  /* header sent, waiting for the server's header and <handshake/> */
    S_UP,
} s_state_t;

struct xgw_component {
    xgw_component_opts_t opts;
    xgw_component_cbs_t cbs;
    void *ud;
    char server[64];
    char jid[256];
    char secret[S_SECRET_MAX];
    struct sockaddr_storage addr;
    socklen_t addrlen;
    s_state_t state;
    bool started;
    int fd;
    xgw_xml_stream_t *reader;
    char *out; /* bytes waiting for the socket */
    size_t out_len, out_cap;
    int64_t deadline;     /* connect/handshake deadline (monotonic ms) */
    int64_t reconnect_at; /* monotonic ms */
    int64_t backoff_ms;
    int64_t last_write;
    char down_why[160]; /* set by the reader callbacks, acted on after feed */
    xgw_component_stats_t stats;
};

static int64_t
s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
s_read_secret(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
    if (!path || !path[0]) {
        snprintf(err, errlen, "no component secret file configured");
        return XGW_EINVAL;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open component secret file %s: %s", path, strerror(errno));
        return XGW_EIO;
    }
    char *line = fgets(out, (int)outlen, f);
    fclose(f);
    if (!line) {
        snprintf(err, errlen, "component secret file %s is empty", path);
        return XGW_EINVAL;
    }
    size_t n = strcspn(out, "\r\n");
    out[n] = '\0';
    if (n == 0) {
        snprintf(err, errlen, "component secret file %s has an empty first line", path);
        return XGW_EINVAL;
    }
    return 0;
}

/* Appends to the output buffer, bounded by max_queue (0: 1 MiB). */
static int
s_queue(xgw_component_t *self, const char *data, size_t len)
{
    size_t max = self->opts.max_queue ? self->opts.max_queue : (size_t)1 << 20;
    if (self->out_len + len > max)
        return XGW_EAGAIN;
    if (self->out_len + len > self->out_cap) {
        size_t cap = self->out_cap ? self->out_cap : 4096;
        while (cap < self->out_len + len)
            cap *= 2;
        char *p = realloc(self->out, cap);
        if (!p)
            return XGW_ENOMEM;
        self->out = p;
        self->out_cap = cap;
    }
    memcpy(self->out + self->out_len, data, len);
    self->out_len += len;
    return 0;
}

static void
s_schedule_reconnect(xgw_component_t *self)
{
    self->reconnect_at = s_now_ms() + self->backoff_ms;
    self->backoff_ms *= 2;
    if (self->backoff_ms > S_BACKOFF_MAX_MS)
        self->backoff_ms = S_BACKOFF_MAX_MS;
}

/* Ends the link (or the attempt) and schedules the next one. */
static void
s_down(xgw_component_t *self, const char *why)
{
    bool was_up = self->state == S_UP;
    int old = self->fd;
    if (self->fd >= 0)
        close(self->fd);
    self->fd = -1;
    self->state = S_IDLE;
    self->out_len = 0;
    self->down_why[0] = '\0';
    self->stats.failures++;
    xgw_warn("component_down", "server=%s port=%u jid=%s was_up=%d reason=\"%s\"", self->server,
             (unsigned)self->opts.port, self->jid, was_up ? 1 : 0, why);
    if (self->started)
        s_schedule_reconnect(self);
    if (old >= 0 && self->cbs.on_fd)
        self->cbs.on_fd(self->ud, old, -1);
    if (self->cbs.on_state)
        self->cbs.on_state(self->ud, false, why);
}

static void
s_on_open(void *ud, const xgw_xml_node_t *header)
{
    xgw_component_t *self = ud;
    const char *id = xgw_xml_attr(header, "id");
    if (self->state != S_HANDSHAKE || !id || !id[0]) {
        snprintf(self->down_why, sizeof self->down_why, "server stream header has no id");
        xgw_xml_stream_stop(self->reader);
        return;
    }
    /* XEP-0114 section 3: SHA-1 of the stream id followed by the secret,
     * as lower-case hex. */
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha1(), NULL) != 1 ||
        EVP_DigestUpdate(md, id, strlen(id)) != 1 ||
        EVP_DigestUpdate(md, self->secret, strlen(self->secret)) != 1 ||
        EVP_DigestFinal_ex(md, digest, &dlen) != 1) {
        EVP_MD_CTX_free(md);
        snprintf(self->down_why, sizeof self->down_why, "cannot compute the handshake digest");
        xgw_xml_stream_stop(self->reader);
        return;
    }
    EVP_MD_CTX_free(md);
    char msg[128];
    int n = snprintf(msg, sizeof msg, "<handshake>");
    for (unsigned int i = 0; i < dlen; i++)
        n += snprintf(msg + n, sizeof msg - (size_t)n, "%02x", digest[i]);
    n += snprintf(msg + n, sizeof msg - (size_t)n, "</handshake>");
    OPENSSL_cleanse(digest, sizeof digest);
    if (s_queue(self, msg, (size_t)n) != 0)
        snprintf(self->down_why, sizeof self->down_why, "cannot queue the handshake");
    OPENSSL_cleanse(msg, sizeof msg);
}

static void
s_on_stanza(void *ud, const xgw_xml_node_t *stanza)
{
    xgw_component_t *self = ud;
    if (strcmp(stanza->ns, XGW_XML_NS_STREAM) == 0 && strcmp(stanza->name, "error") == 0) {
        const char *cond = "undefined-condition";
        if (stanza->children)
            cond = stanza->children->name;
        snprintf(self->down_why, sizeof self->down_why, "stream error from the server: %s", cond);
        xgw_xml_stream_stop(self->reader);
        return;
    }
    if (self->state == S_HANDSHAKE) {
        if (strcmp(stanza->name, "handshake") == 0 && strcmp(stanza->ns, S_NS_COMPONENT) == 0) {
            self->state = S_UP;
            self->backoff_ms = S_BACKOFF_FIRST_MS;
            self->stats.connects++;
            xgw_info("component_up", "server=%s port=%u jid=%s", self->server,
                     (unsigned)self->opts.port, self->jid);
            if (self->cbs.on_state)
                self->cbs.on_state(self->ud, true, "handshake accepted");
            return;
        }
        snprintf(self->down_why, sizeof self->down_why, "unexpected <%s/> before the handshake",
                 stanza->name);
        xgw_xml_stream_stop(self->reader);
        return;
    }
    self->stats.stanzas_in++;
    if (self->cbs.on_stanza)
        self->cbs.on_stanza(self->ud, stanza);
}

static void
s_on_close(void *ud)
{
    xgw_component_t *self = ud;
    snprintf(self->down_why, sizeof self->down_why, "the server closed the stream");
}

xgw_component_t *
xgw_component_new(const xgw_component_opts_t *opts, const xgw_component_cbs_t *cbs, void *ud,
                  char *err, size_t errlen)
{
    if (!opts || !opts->server || !opts->jid || !opts->jid[0] || !opts->port) {
        snprintf(err, errlen, "component server, port and jid are required");
        return NULL;
    }
    xgw_component_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->opts = *opts;
    if (cbs)
        self->cbs = *cbs;
    self->ud = ud;
    self->fd = -1;
    self->backoff_ms = S_BACKOFF_FIRST_MS;
    snprintf(self->server, sizeof self->server, "%s", opts->server);
    snprintf(self->jid, sizeof self->jid, "%s", opts->jid);
    self->opts.server = self->server;
    self->opts.jid = self->jid;
    self->opts.secret_file = NULL; /* only the secret is kept */

    struct sockaddr_in *v4 = (struct sockaddr_in *)&self->addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&self->addr;
    if (inet_pton(AF_INET, self->server, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(opts->port);
        self->addrlen = sizeof *v4;
    } else if (inet_pton(AF_INET6, self->server, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(opts->port);
        self->addrlen = sizeof *v6;
    } else {
        snprintf(err, errlen, "component server \"%s\" is not an IP address", self->server);
        free(self);
        return NULL;
    }
    if (s_read_secret(opts->secret_file, self->secret, sizeof self->secret, err, errlen) != 0) {
        free(self);
        return NULL;
    }
    xgw_xml_limits_t lim;
    xgw_xml_limits_default(&lim);
    if (opts->max_stanza)
        lim.max_stanza = opts->max_stanza;
    xgw_xml_stream_cbs_t rc = {s_on_open, s_on_stanza, s_on_close};
    self->reader = xgw_xml_stream_new(&lim, &rc, self);
    if (!self->reader) {
        snprintf(err, errlen, "out of memory");
        xgw_component_destroy(&self);
        return NULL;
    }
    return self;
}

void
xgw_component_destroy(xgw_component_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    xgw_component_t *self = *self_p;
    if (self->fd >= 0) {
        if (self->state == S_UP)
            (void)!write(self->fd, "</stream:stream>", 16);
        close(self->fd);
    }
    xgw_xml_stream_destroy(&self->reader);
    free(self->out);
    OPENSSL_cleanse(self->secret, sizeof self->secret);
    free(self);
    *self_p = NULL;
}

static void
s_connect(xgw_component_t *self)
{
    self->reconnect_at = 0;
    int fd = socket(self->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        self->stats.failures++;
        s_schedule_reconnect(self);
        return;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    int rc = connect(fd, (struct sockaddr *)&self->addr, self->addrlen);
    if (rc != 0 && errno != EINPROGRESS) {
        char why[128];
        snprintf(why, sizeof why, "connect: %s", strerror(errno));
        close(fd);
        self->state = S_IDLE;
        self->stats.failures++;
        xgw_warn("component_connect_failed", "server=%s port=%u reason=\"%s\"", self->server,
                 (unsigned)self->opts.port, why);
        s_schedule_reconnect(self);
        return;
    }
    self->fd = fd;
    self->state = S_CONNECTING;
    self->deadline = s_now_ms() + S_HANDSHAKE_TIMEOUT_MS;
    self->out_len = 0;
    (void)xgw_xml_stream_reset(self->reader);
    char header[512];
    int n = snprintf(header, sizeof header,
                     "<?xml version='1.0'?><stream:stream xmlns='" S_NS_COMPONENT
                     "' xmlns:stream='" XGW_XML_NS_STREAM "' to='%s'>",
                     self->jid);
    (void)s_queue(self, header, (size_t)n);
    if (self->cbs.on_fd)
        self->cbs.on_fd(self->ud, -1, fd);
}

int
xgw_component_start(xgw_component_t *self)
{
    self->started = true;
    if (self->state == S_IDLE)
        s_connect(self);
    return 0;
}

int
xgw_component_fd(const xgw_component_t *self)
{
    return self->fd;
}

bool
xgw_component_want_write(const xgw_component_t *self)
{
    return self->state == S_CONNECTING || (self->fd >= 0 && self->out_len > 0);
}

static void
s_flush(xgw_component_t *self)
{
    while (self->out_len > 0) {
        ssize_t n = send(self->fd, self->out, self->out_len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            char why[128];
            snprintf(why, sizeof why, "write: %s", strerror(errno));
            s_down(self, why);
            return;
        }
        memmove(self->out, self->out + n, self->out_len - (size_t)n);
        self->out_len -= (size_t)n;
        self->stats.bytes_out += (uint64_t)n;
        self->last_write = s_now_ms();
    }
}

void
xgw_component_io(xgw_component_t *self, bool readable, bool writable)
{
    if (self->fd < 0)
        return;
    if (self->state == S_CONNECTING && (writable || readable)) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(self->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        if (err == EINPROGRESS)
            return;
        if (err != 0) {
            char why[128];
            snprintf(why, sizeof why, "connect: %s", strerror(err));
            s_down(self, why);
            return;
        }
        self->state = S_HANDSHAKE;
    }
    if (writable || self->out_len > 0)
        s_flush(self);
    if (self->fd < 0 || !readable)
        return;
    char buf[S_READ_CHUNK];
    for (int rounds = 0; rounds < 16 && self->fd >= 0; rounds++) {
        ssize_t n = recv(self->fd, buf, sizeof buf, 0);
        if (n == 0) {
            s_down(self, self->down_why[0] ? self->down_why : "connection closed by the server");
            return;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                break;
            char why[128];
            snprintf(why, sizeof why, "read: %s", strerror(errno));
            s_down(self, why);
            return;
        }
        self->stats.bytes_in += (uint64_t)n;
        int rc = xgw_xml_stream_feed(self->reader, buf, (size_t)n);
        if (rc < 0) {
            char why[160];
            snprintf(why, sizeof why, "%s from the server: %s",
                     xgw_xml_err_condition(xgw_xml_stream_error(self->reader)),
                     xgw_xml_stream_error_detail(self->reader));
            s_down(self, why);
            return;
        }
        if (rc == 1 || self->down_why[0]) {
            char why[160];
            snprintf(why, sizeof why, "%s", self->down_why[0] ? self->down_why : "stopped");
            s_down(self, why);
            return;
        }
        if ((size_t)n < sizeof buf)
            break;
    }
    if (self->fd >= 0 && self->out_len > 0)
        s_flush(self);
}

int64_t
xgw_component_tick(xgw_component_t *self)
{
    int64_t now = s_now_ms();
    if (self->state == S_IDLE) {
        if (!self->started)
            return 1000;
        if (self->reconnect_at == 0 || now >= self->reconnect_at) {
            s_connect(self);
            return 100;
        }
        return self->reconnect_at - now;
    }
    if (self->state != S_UP) {
        if (now >= self->deadline) {
            s_down(self, "no handshake answer in time");
            return 0;
        }
        return self->deadline - now;
    }
    if (self->opts.keepalive_ms > 0) {
        int64_t due = self->last_write + self->opts.keepalive_ms;
        if (now >= due) {
            /* RFC 6120 4.6.1: a single space keeps idle links (and NAT
             * and firewall state on tunnels) alive. */
            (void)s_queue(self, " ", 1);
            s_flush(self);
            self->last_write = now;
            due = now + self->opts.keepalive_ms;
        }
        return due - now;
    }
    return 1000;
}

int
xgw_component_send(xgw_component_t *self, const char *xml, size_t len)
{
    if (self->state != S_UP)
        return XGW_ENOTCONN;
    int rc = s_queue(self, xml, len);
    if (rc != 0)
        return rc;
    self->stats.stanzas_out++;
    /* Written when the loop sees the socket writable (want_write is true
     * now): flushing here could end the link inside the caller's send. */
    return 0;
}

bool
xgw_component_up(const xgw_component_t *self)
{
    return self->state == S_UP;
}

size_t
xgw_component_queued(const xgw_component_t *self)
{
    return self->out_len;
}

void
xgw_component_stats(const xgw_component_t *self, xgw_component_stats_t *out)
{
    *out = self->stats;
}
