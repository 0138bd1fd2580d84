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
    char secret_file[4096];
    struct sockaddr_storage addr;
    socklen_t addrlen;
    s_state_t state;
    bool started;
    int fd;
    xgw_xml_stream_t *reader;
    char *out; /* bytes waiting for the socket: [out_off, out_len) */
    size_t out_off, out_len, out_cap;
    char *pend; /* input read, not fed yet (back-pressure): [pend_off, pend_len) */
    size_t pend_off, pend_len;
    xgw_component_feed_fn feed_limit;
    bool paused;          /* feed_limit said 0: no reading until resumed */
    bool in_feed;         /* inside xgw_xml_stream_feed */
    int64_t deadline;     /* connect/handshake deadline (monotonic ms) */
    int64_t reconnect_at; /* monotonic ms */
    int64_t backoff_ms;
    int64_t last_write;
    char down_why[160];      /* set by the reader callbacks, acted on after feed */
    const char *down_code;   /* set with down_why */
    const char *last_reason; /* xgw_component_down_reason */
    char last_condition[64];
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
    if (self->out_len - self->out_off + len > max)
        return XGW_EAGAIN;
    if (self->out_off > 0 && self->out_len + len > self->out_cap) {
        /* Move the unwritten tail down once instead of after every send. */
        memmove(self->out, self->out + self->out_off, self->out_len - self->out_off);
        self->out_len -= self->out_off;
        self->out_off = 0;
    }
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

/* Ends the link (or the attempt) and schedules the next one. code is the
 * token xgw_component_down_reason reports. */
static void
s_down(xgw_component_t *self, const char *code, const char *why)
{
    bool was_up = self->state == S_UP;
    int old = self->fd;
    if (self->fd >= 0)
        close(self->fd);
    self->fd = -1;
    self->state = S_IDLE;
    self->out_len = self->out_off = 0;
    free(self->pend);
    self->pend = NULL;
    self->pend_len = self->pend_off = 0;
    self->paused = false;
    self->down_why[0] = '\0';
    self->down_code = NULL;
    self->last_reason = code;
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
        self->down_code = "protocol";
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
        self->down_code = "io";
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
    if (s_queue(self, msg, (size_t)n) != 0) {
        snprintf(self->down_why, sizeof self->down_why, "cannot queue the handshake");
        self->down_code = "io";
    }
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
        /* The condition came from the network: only a well-formed name
         * goes to the log. */
        size_t n = 0;
        for (const char *p = cond; *p && n + 1 < sizeof self->last_condition; p++) {
            if ((*p >= 'a' && *p <= 'z') || *p == '-')
                self->last_condition[n++] = *p;
        }
        self->last_condition[n] = '\0';
        snprintf(self->down_why, sizeof self->down_why, "stream error from the server: %s",
                 self->last_condition);
        self->down_code = self->state == S_UP ? "closed" : "refused";
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
        snprintf(self->down_why, sizeof self->down_why, "unexpected element before the handshake");
        self->down_code = "protocol";
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
    self->down_code = "closed";
    xgw_xml_stream_stop(self->reader);
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
    self->last_reason = "";
    if (opts->secret_file && strlen(opts->secret_file) >= sizeof self->secret_file) {
        snprintf(err, errlen, "component secret file path is too long");
        free(self);
        return NULL;
    }
    snprintf(self->secret_file, sizeof self->secret_file, "%s",
             opts->secret_file ? opts->secret_file : "");
    self->opts.secret_file = self->secret_file;

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
        if (self->state == S_UP) {
            /* What is still queued goes first, if the socket takes it now. */
            if (self->out_len > self->out_off)
                (void)!send(self->fd, self->out + self->out_off, self->out_len - self->out_off,
                            MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)!send(self->fd, "</stream:stream>", 16, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        close(self->fd);
    }
    xgw_xml_stream_destroy(&self->reader);
    free(self->out);
    free(self->pend);
    OPENSSL_cleanse(self->secret, sizeof self->secret);
    free(self);
    *self_p = NULL;
}

static void
s_connect(xgw_component_t *self)
{
    self->reconnect_at = 0;
    /* The secret may have been corrected since the last attempt. */
    char fresh[S_SECRET_MAX], err[256];
    if (s_read_secret(self->secret_file, fresh, sizeof fresh, err, sizeof err) == 0) {
        if (strcmp(fresh, self->secret) != 0) {
            memcpy(self->secret, fresh, sizeof self->secret);
            xgw_info("component_secret_reloaded", "jid=%s", self->jid);
        }
    } else {
        xgw_warn("component_secret_unreadable",
                 "jid=%s reason=\"%s\" action=\"keeping the "
                 "secret read before\"",
                 self->jid, err);
    }
    OPENSSL_cleanse(fresh, sizeof fresh);
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
        self->last_reason = "connect";
        xgw_warn("component_connect_failed", "server=%s port=%u reason=\"%s\"", self->server,
                 (unsigned)self->opts.port, why);
        s_schedule_reconnect(self);
        return;
    }
    self->fd = fd;
    self->state = S_CONNECTING;
    self->deadline = s_now_ms() + S_HANDSHAKE_TIMEOUT_MS;
    self->out_len = self->out_off = 0;
    self->last_condition[0] = '\0';
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
    return self->state == S_CONNECTING || (self->fd >= 0 && self->out_len > self->out_off);
}

bool
xgw_component_want_read(const xgw_component_t *self)
{
    return self->fd >= 0 && !self->paused && self->pend_off >= self->pend_len;
}

bool
xgw_component_has_input(const xgw_component_t *self)
{
    return self->fd >= 0 && !self->paused && self->pend_off < self->pend_len;
}

void
xgw_component_set_feed_limit(xgw_component_t *self, xgw_component_feed_fn fn)
{
    self->feed_limit = fn;
}

void
xgw_component_resume(xgw_component_t *self)
{
    self->paused = false;
}

const char *
xgw_component_down_reason(const xgw_component_t *self)
{
    return self->last_reason ? self->last_reason : "";
}

const char *
xgw_component_down_condition(const xgw_component_t *self)
{
    return self->last_condition;
}

static void
s_flush(xgw_component_t *self)
{
    while (self->out_len > self->out_off) {
        ssize_t n =
            send(self->fd, self->out + self->out_off, self->out_len - self->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            char why[128];
            snprintf(why, sizeof why, "write: %s", strerror(errno));
            s_down(self, "io", why);
            return;
        }
        self->out_off += (size_t)n;
        self->stats.bytes_out += (uint64_t)n;
        self->last_write = s_now_ms();
    }
    self->out_off = self->out_len = 0;
}

/* Feeds data to the reader while the owner takes it. Returns the bytes
 * used; all of them when the link went down (self->fd < 0 then). */
static size_t
s_feed(xgw_component_t *self, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len && !self->paused) {
        size_t n = len - off;
        if (self->feed_limit) {
            n = self->feed_limit(self->ud, data + off, len - off);
            if (n == 0) {
                self->paused = true;
                break;
            }
            if (n > len - off)
                n = len - off;
        }
        self->in_feed = true;
        int rc = xgw_xml_stream_feed(self->reader, data + off, n);
        self->in_feed = false;
        off += n;
        if (rc < 0) {
            char why[160];
            snprintf(why, sizeof why, "%s from the server: %s",
                     xgw_xml_err_condition(xgw_xml_stream_error(self->reader)),
                     xgw_xml_stream_error_detail(self->reader));
            s_down(self, "protocol", why);
            return len;
        }
        if (rc == 1 || self->down_why[0]) {
            char why[160];
            snprintf(why, sizeof why, "%s", self->down_why[0] ? self->down_why : "stopped");
            s_down(self, self->down_code ? self->down_code : "closed", why);
            return len;
        }
    }
    return off;
}

/* Keeps data (not fed) for after xgw_component_resume. Returns false when
 * out of memory (the link went down). */
static bool
s_keep(xgw_component_t *self, const char *data, size_t len)
{
    size_t have = self->pend_len - self->pend_off;
    char *p = malloc(have + len);
    if (!p) {
        s_down(self, "io", "out of memory");
        return false;
    }
    if (have)
        memcpy(p, self->pend + self->pend_off, have);
    memcpy(p + have, data, len);
    free(self->pend);
    self->pend = p;
    self->pend_off = 0;
    self->pend_len = have + len;
    return true;
}

/* Feeds input kept from before. Returns true when none is left. */
static bool
s_feed_kept(xgw_component_t *self)
{
    if (self->pend_off >= self->pend_len)
        return true;
    size_t used = s_feed(self, self->pend + self->pend_off, self->pend_len - self->pend_off);
    if (self->fd < 0)
        return false;
    self->pend_off += used;
    if (self->pend_off < self->pend_len)
        return false;
    free(self->pend);
    self->pend = NULL;
    self->pend_off = self->pend_len = 0;
    return true;
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
            s_down(self, "connect", why);
            return;
        }
        self->state = S_HANDSHAKE;
    }
    if (writable || self->out_len > self->out_off)
        s_flush(self);
    if (self->fd < 0 || self->in_feed || self->state == S_CONNECTING)
        return;
    if (!self->paused && !s_feed_kept(self)) {
        if (self->fd >= 0 && self->out_len > self->out_off)
            s_flush(self);
        return;
    }
    if (!readable || self->paused) {
        if (self->fd >= 0 && self->out_len > self->out_off)
            s_flush(self);
        return;
    }
    char buf[S_READ_CHUNK];
    for (int rounds = 0; rounds < 16 && self->fd >= 0 && !self->paused; rounds++) {
        ssize_t n = recv(self->fd, buf, sizeof buf, 0);
        if (n == 0) {
            s_down(self, "closed",
                   self->down_why[0] ? self->down_why : "connection closed by the server");
            return;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                break;
            char why[128];
            snprintf(why, sizeof why, "read: %s", strerror(errno));
            s_down(self, "io", why);
            return;
        }
        self->stats.bytes_in += (uint64_t)n;
        size_t used = s_feed(self, buf, (size_t)n);
        if (self->fd < 0)
            return;
        if (used < (size_t)n) {
            if (!s_keep(self, buf + used, (size_t)n - used))
                return;
            break;
        }
        if ((size_t)n < sizeof buf)
            break;
    }
    if (self->fd >= 0 && self->out_len > self->out_off)
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
            s_down(self, "timeout", "no handshake answer in time");
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
    return self->out_len - self->out_off;
}

void
xgw_component_stats(const xgw_component_t *self, xgw_component_stats_t *out)
{
    *out = self->stats;
}
