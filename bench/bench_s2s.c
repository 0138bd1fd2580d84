/*
 * bench_s2s.c - inbound s2s streams into a real xgw-xmppd: memory per idle
 * stream, stanza throughput to the SIP side and xmppd's CPU per stanza.
 *
 * The bench starts the real xgw-broker, xgw-policyd, xgw-certd and
 * xgw-xmppd (next to this program, or in $XGW_BIN_DIR) on ipc:// in a
 * temporary directory, makes bench.test a federated partner (TLS optional,
 * dialback only, proxy_fqdn pointing at the bench), and plays three parts:
 *
 *  - the originating server of bench.test: N inbound streams to xmppd
 *    (plain TCP, or STARTTLS with --tls), each authenticated with dialback
 *    (XEP-0220) using a key made from the bench's own secret;
 *  - the authoritative server of bench.test: xmppd verifies each key over
 *    its own outbound stream to the bench's listener (the partner's
 *    proxy_fqdn), where the bench answers <db:verify/> by recomputing the
 *    key; bounces xmppd sends to bench.test arrive there too and are
 *    counted;
 *  - the SIP side: a GWP worker for service "sip" (a thread) that answers
 *    every Deliver 200.
 *
 * Phases: (1) xmppd idle, RSS read; (2) N streams opened and
 * authenticated, at most S_OPEN_PARALLEL at a time (xmppd holds at most
 * 64 db:verify per outbound stream), RSS read again after a second of
 * rest: (RSS after - RSS before) / N is the memory per idle stream; (3)
 * <message/> stanzas pushed round-robin over the N streams as fast as
 * xmppd takes them, with at most --window stanzas not yet seen by the
 * sink (xmppd bounces what it cannot queue rather than stopping to read;
 * see bench/README.md), for --seconds; the figure is Deliver requests the
 * sink received per second, and xmppd's utime+stime per stanza.
 *
 * Figures only: nothing here is a pass/fail check on timing. Exits 1 when
 * the setup fails or streams could not be opened. See bench/README.md.
 */
#include "support.h"
#include "support_proc.h"
#include "xgw_dialback.h"
#include "xgw_error.h"
#include "xgw_log.h"
#include "xgw_procfs.h"
#include "xgw_worker.h"
#include "xgw_xml.h"
#include "xgw/v1/gwp.pb-c.h"
#include "xgw/v1/im.pb-c.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_LOCAL "example.net" /* served by xmppd */
#define S_PEER "bench.test"   /* the bench's domain */
#define S_NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define S_NS_DB "jabber:server:dialback"
#define S_NS_DB_FEATURE "urn:xmpp:features:dialback"
#define S_OPEN_PARALLEL 32     /* streams being set up at once */
#define S_OUT_HIGH (32 * 1024) /* stop adding stanzas to a stream above this */
#define S_WRITE_CHUNK (16 * 1024)
#define S_READ_CHUNK (16 * 1024)
#define S_MAX_EVENTS 256

/* ---- small helpers ------------------------------------------------------ */

static int64_t
s_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int
s_parse_long(const char *text, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

typedef struct {
    double cpu_s;   /* utime + stime */
    double rss_kib; /* resident set */
} s_proc_t;

/* CPU and RSS of pid from /proc/PID/stat (lib/xgw_procfs's parser). */
static s_proc_t
s_proc(pid_t pid)
{
    s_proc_t r = {0, 0};
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return r;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    xgw_procfs_stat_t st;
    if (xgw__procfs_parse_stat(buf, &st) != 0)
        return r;
    double tck = (double)sysconf(_SC_CLK_TCK);
    r.cpu_s = (double)(st.utime + st.stime) / tck;
    r.rss_kib = (double)st.rss * (double)sysconf(_SC_PAGESIZE) / 1024.0;
    return r;
}

static double
s_self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* ---- processes ---------------------------------------------------------- */

typedef struct {
    char bindir[PATH_MAX];
    char dir[64];
    char conf[128];
    char front[128];
    char back[128];
    char log_broker[128], log_policyd[128], log_certd[128], log_xmppd[128], log_ctl[128];
    pid_t broker, policyd, certd, xmppd;
} s_env_t;

/* $XGW_BIN_DIR, else the folder above this program's (build/bench/..). */
static int
s_find_bins(s_env_t *e)
{
    const char *env = getenv("XGW_BIN_DIR");
    if (env) {
        snprintf(e->bindir, sizeof e->bindir, "%s", env);
    } else {
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0)
            return -1;
        self[n] = '\0';
        snprintf(e->bindir, sizeof e->bindir, "%s/..", dirname(self));
    }
    const char *need[] = {"xgw-broker", "xgw-policyd", "xgw-certd", "xgw-xmppd", "xgwctl"};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        char p[PATH_MAX + 32];
        snprintf(p, sizeof p, "%s/%s", e->bindir, need[i]);
        if (access(p, X_OK) != 0) {
            fprintf(stderr, "bench: %s is missing (build it, or set XGW_BIN_DIR)\n", p);
            return -1;
        }
    }
    return 0;
}

static pid_t
s_start(const s_env_t *e, const char *name, const char *log, const char *extra)
{
    char bin[PATH_MAX + 32];
    snprintf(bin, sizeof bin, "%s/%s", e->bindir, name);
    char *argv[] = {bin, "-c", (char *)e->conf, extra ? "--set" : NULL, (char *)extra, NULL};
    return xt_spawn(argv, log);
}

/* Runs xgwctl -c CONF with the NULL-terminated arguments; 0 when it exits
 * 0. Its output goes to ctl.log. */
static int
s_ctl(const s_env_t *e, ...)
{
    char bin[PATH_MAX + 32];
    snprintf(bin, sizeof bin, "%s/xgwctl", e->bindir);
    char *argv[40] = {bin, "-c", (char *)e->conf};
    int n = 3;
    va_list ap;
    va_start(ap, e);
    for (const char *a = va_arg(ap, const char *); a && n < 38; a = va_arg(ap, const char *))
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    pid_t pid = xt_spawn(argv, e->log_ctl);
    int st = pid > 0 ? xt_wait(pid, 20000) : -1;
    if (st == -1 && pid > 0) {
        kill(pid, SIGKILL);
        (void)xt_wait(pid, 2000);
    }
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench: xgwctl %s %s failed (see %s)\n", argv[3], n > 4 ? argv[4] : "",
                e->log_ctl);
        return -1;
    }
    return 0;
}

/* The number after "port=" on the first line of path holding needle, or
 * -1. */
static int
s_log_port(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[2048];
    int port = -1;
    while (port < 0 && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, needle);
        p = p ? strstr(p, " port=") : NULL;
        long v;
        char num[16] = "";
        for (size_t i = 0; p && i + 1 < sizeof num && p[6 + i] >= '0' && p[6 + i] <= '9'; i++) {
            num[i] = p[6 + i];
            num[i + 1] = '\0';
        }
        if (p && s_parse_long(num, 1, 65535, &v) == 0)
            port = (int)v;
    }
    fclose(f);
    return port;
}

static int
s_write_config(const s_env_t *e)
{
    FILE *f = fopen(e->conf, "w");
    if (!f)
        return -1;
    fprintf(f,
            "[common]\n"
            "broker_frontend = \"%s\"\n"
            "broker_backend = \"%s\"\n"
            "cert_updates = \"ipc://%s/cert-updates\"\n"
            "policy_updates = \"ipc://%s/policy-updates\"\n"
            "policy_snapshot = \"ipc://%s/policy-snapshot\"\n"
            "data_dir = \"%s/data\"\n"
            "run_dir = \"%s\"\n"
            "domains = \"" S_LOCAL "\"\n"
            "log_level = info\n"
            "[broker]\nmetrics_port = 0\nqueue_max = 1000000\n"
            "[policyd]\nmetrics_port = 0\n"
            "[certd]\nmetrics_port = 0\npublish_interval = 300ms\n"
            "[xmppd]\nmetrics_port = 0\ns2s_listen = \"127.0.0.1:0\"\n"
            "[xgwctl]\ntimeout = 10s\n",
            e->front, e->back, e->dir, e->dir, e->dir, e->dir, e->dir);
    return fclose(f) == 0 ? 0 : -1;
}

/* ---- the SIP side: a "sip" worker thread -------------------------------- */

typedef struct {
    char endpoint[128];
    atomic_bool stop;
    atomic_bool ready;
    atomic_uint_least64_t delivered;
    atomic_uint_least64_t malformed; /* sampled Deliver bodies that were wrong */
} s_sink_t;

/* Checks one Deliver in 1024: a message from bench.test to example.net. */
static bool
s_sink_check(const xgw_request_t *req)
{
    Xgw__V1__Request *in = xgw__v1__request__unpack(NULL, req->body_len, req->body);
    bool ok = in && in->payload_case == XGW__V1__REQUEST__PAYLOAD_DELIVER &&
              in->deliver->kind_case == XGW__V1__DELIVER__KIND_MESSAGE &&
              strstr(in->deliver->message->from, "@" S_PEER) &&
              strstr(in->deliver->message->to, "@" S_LOCAL) &&
              strncmp(in->deliver->message->body, "bench ", 6) == 0;
    if (in)
        xgw__v1__request__free_unpacked(in, NULL);
    return ok;
}

static void *
s_sink_main(void *arg)
{
    s_sink_t *s = arg;
    xgw_worker_opts_t wo;
    xgw_worker_opts_default(&wo);
    xgw_worker_t *w = xgw_worker_new(s->endpoint, "sip", "bench-sink.00", 4096, &wo);
    if (!w)
        return NULL;
    atomic_store(&s->ready, true);
    uint64_t n = 0;
    while (!atomic_load(&s->stop)) {
        zmq_pollitem_t it = {xgw_worker_socket(w), 0, ZMQ_POLLIN, 0};
        (void)zmq_poll(&it, 1, 20);
        xgw_request_t *req = NULL;
        while (xgw_worker_recv(w, &req) == 0) {
            if ((n++ & 1023) == 0 && !s_sink_check(req))
                atomic_fetch_add(&s->malformed, 1);
            (void)xgw_worker_reply(w, &req, 200, NULL, 0);
            atomic_fetch_add(&s->delivered, 1);
        }
        (void)xgw_worker_tick(w);
    }
    xgw_worker_destroy(&w);
    return NULL;
}

/* ---- connections -------------------------------------------------------- */

typedef enum { S_KIND_LISTEN, S_KIND_CLIENT, S_KIND_AUTH } s_kind_t;

typedef enum {
    S_ST_CONNECTING,
    S_ST_HEADER,    /* header sent, waiting for the features */
    S_ST_STARTTLS,  /* <starttls/> sent */
    S_ST_HANDSHAKE, /* TLS handshake */
    S_ST_DIALBACK,  /* <db:result/> sent */
    S_ST_READY,
    S_ST_DEAD,
} s_state_t;

typedef struct s_bench s_bench_t;

typedef struct {
    s_bench_t *b;
    s_kind_t kind;
    s_state_t state;
    int fd;
    SSL *ssl;
    xgw_xml_stream_t *rd;
    char id[128]; /* stream id of xmppd's last header */
    char *out;
    size_t out_len, out_off, out_cap;
    size_t ssl_retry;   /* an SSL_write of this many bytes must be repeated */
    bool tls_pending;   /* <proceed/> read: start TLS once the feed returns */
    bool ssl_wants_out; /* the handshake (or a renegotiation) waits to write */
    uint32_t events;    /* registered epoll events */
} s_conn_t;

struct s_bench {
    int ep;
    SSL_CTX *cctx;
    struct sockaddr_in xmppd_addr;
    uint8_t secret[32];
    bool tls;
    s_conn_t **clients;
    size_t n_clients;
    size_t opening, ready, failed;
    uint64_t verify_valid, verify_invalid, bounces, stream_errors;
    char last_error[96];
    char rd_error[96];
};

static void
s_note_error(s_bench_t *b, const char *what)
{
    snprintf(b->last_error, sizeof b->last_error, "%s", what);
}

static void
s_update_events(s_conn_t *c)
{
    if (c->state == S_ST_DEAD)
        return;
    uint32_t ev = EPOLLIN;
    if (c->state == S_ST_CONNECTING || c->out_off < c->out_len || c->ssl_wants_out)
        ev |= EPOLLOUT;
    if (ev == c->events)
        return;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    if (epoll_ctl(c->b->ep, EPOLL_CTL_MOD, c->fd, &e) == 0)
        c->events = ev;
}

static void
s_kill(s_conn_t *c, const char *why)
{
    if (c->state == S_ST_DEAD)
        return;
    s_bench_t *b = c->b;
    if (c->kind == S_KIND_CLIENT) {
        if (c->state == S_ST_READY) {
            b->ready--;
        } else {
            b->opening--;
        }
        b->failed++;
        s_note_error(b, why);
    }
    c->state = S_ST_DEAD;
    (void)epoll_ctl(b->ep, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    close(c->fd);
    c->fd = -1;
}

/* Writes what is pending; returns -1 when the connection died. */
static int
s_flush(s_conn_t *c)
{
    while (c->out_off < c->out_len && c->state != S_ST_DEAD) {
        size_t len = c->out_len - c->out_off;
        if (len > S_WRITE_CHUNK)
            len = S_WRITE_CHUNK;
        if (c->ssl) {
            if (c->ssl_retry)
                len = c->ssl_retry;
            ERR_clear_error();
            int n = SSL_write(c->ssl, c->out + c->out_off, (int)len);
            if (n <= 0) {
                int err = SSL_get_error(c->ssl, n);
                if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
                    c->ssl_retry = len;
                    break;
                }
                s_kill(c, "tls-write-failed");
                return -1;
            }
            c->ssl_retry = 0;
            c->out_off += (size_t)n;
        } else {
            ssize_t n = send(c->fd, c->out + c->out_off, len, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                    break;
                s_kill(c, "write-failed");
                return -1;
            }
            c->out_off += (size_t)n;
        }
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    s_update_events(c);
    return 0;
}

/* Appends bytes to the output buffer (written by s_flush). */
static int
s_queue(s_conn_t *c, const char *data, size_t len)
{
    if (c->state == S_ST_DEAD)
        return -1;
    if (c->out_off > 0 && c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + len > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + len)
            cap *= 2;
        char *p = realloc(c->out, cap);
        if (!p)
            return -1;
        c->out = p;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    return 0;
}

static int
s_send(s_conn_t *c, const char *text)
{
    if (s_queue(c, text, strlen(text)) != 0)
        return -1;
    return s_flush(c);
}

static void
s_send_header(s_conn_t *c, const char *from, const char *to, const char *id)
{
    char h[512];
    snprintf(h, sizeof h,
             "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
             "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='" S_NS_DB "' "
             "from='%s' to='%s'%s%s%s version='1.0'>",
             from, to, id ? " id='" : "", id ? id : "", id ? "'" : "");
    (void)s_send(c, h);
}

/* ---- the originating server: client streams ----------------------------- */

static void
s_client_dialback(s_conn_t *c)
{
    char key[XGW_DIALBACK_KEY_HEX + 1];
    if (!c->id[0] ||
        xgw_dialback_key(c->b->secret, sizeof c->b->secret, S_LOCAL, S_PEER, c->id, key) != 0) {
        s_kill(c, "no-stream-id");
        return;
    }
    char el[256];
    snprintf(el, sizeof el, "<db:result from='" S_PEER "' to='" S_LOCAL "'>%s</db:result>", key);
    c->state = S_ST_DIALBACK;
    (void)s_send(c, el);
}

static void
s_client_on_open(void *ud, const xgw_xml_node_t *h)
{
    s_conn_t *c = ud;
    const char *id = xgw_xml_attr(h, "id");
    snprintf(c->id, sizeof c->id, "%s", id && strlen(id) < sizeof c->id ? id : "");
}

static void
s_client_on_stanza(void *ud, const xgw_xml_node_t *el)
{
    s_conn_t *c = ud;
    s_bench_t *b = c->b;
    if (strcmp(el->ns, XGW_XML_NS_STREAM) == 0 && strcmp(el->name, "error") == 0) {
        b->stream_errors++;
        const xgw_xml_node_t *cond = el->children;
        char why[96];
        snprintf(why, sizeof why, "stream-error:%s", cond ? cond->name : "?");
        s_kill(c, why);
        return;
    }
    if (c->state == S_ST_HEADER && strcmp(el->ns, XGW_XML_NS_STREAM) == 0 &&
        strcmp(el->name, "features") == 0) {
        if (b->tls && !c->ssl) {
            if (!xgw_xml_child(el, S_NS_TLS, "starttls")) {
                s_kill(c, "starttls-not-offered");
                return;
            }
            c->state = S_ST_STARTTLS;
            (void)s_send(c, "<starttls xmlns='" S_NS_TLS "'/>");
            return;
        }
        if (!xgw_xml_child(el, S_NS_DB_FEATURE, "dialback")) {
            s_kill(c, "dialback-not-offered");
            return;
        }
        s_client_dialback(c);
        return;
    }
    if (c->state == S_ST_STARTTLS && strcmp(el->ns, S_NS_TLS) == 0) {
        if (strcmp(el->name, "proceed") != 0) {
            s_kill(c, "starttls-refused");
            return;
        }
        c->tls_pending = true;
        xgw_xml_stream_stop(c->rd);
        return;
    }
    if (c->state == S_ST_DIALBACK && strcmp(el->ns, S_NS_DB) == 0 &&
        strcmp(el->name, "result") == 0) {
        const char *type = xgw_xml_attr(el, "type");
        if (type && strcmp(type, "valid") == 0) {
            c->state = S_ST_READY;
            b->opening--;
            b->ready++;
        } else {
            char why[96];
            snprintf(why, sizeof why, "dialback-%s", type ? type : "?");
            s_kill(c, why);
        }
    }
    /* Anything else on an inbound stream (xmppd sends answers on its own
     * outbound stream) is ignored. */
}

static void
s_client_on_close(void *ud)
{
    s_kill(ud, "closed-by-xmppd");
}

static void
s_tls_step(s_conn_t *c)
{
    ERR_clear_error();
    int rc = SSL_connect(c->ssl);
    if (rc == 1) {
        c->ssl_wants_out = false;
        c->state = S_ST_HEADER;
        c->id[0] = '\0';
        s_send_header(c, S_PEER, S_LOCAL, NULL);
        return;
    }
    int err = SSL_get_error(c->ssl, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        c->ssl_wants_out = err == SSL_ERROR_WANT_WRITE;
        s_update_events(c);
        return;
    }
    s_kill(c, "tls-handshake-failed");
}

static void
s_start_tls(s_conn_t *c)
{
    c->tls_pending = false;
    if (xgw_xml_stream_reset(c->rd) != 0) {
        s_kill(c, "reader-reset");
        return;
    }
    c->ssl = SSL_new(c->b->cctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
        s_kill(c, "ssl-new");
        return;
    }
    SSL_set_tlsext_host_name(c->ssl, S_LOCAL);
    SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    c->state = S_ST_HANDSHAKE;
    s_tls_step(c);
}

/* Reads what the socket (or TLS) holds and feeds the stream reader. */
static void
s_read(s_conn_t *c)
{
    char buf[S_READ_CHUNK];
    for (int rounds = 0; rounds < 64 && c->state != S_ST_DEAD; rounds++) {
        ssize_t n;
        if (c->ssl) {
            ERR_clear_error();
            int r = SSL_read(c->ssl, buf, sizeof buf);
            if (r <= 0) {
                int err = SSL_get_error(c->ssl, r);
                if (err == SSL_ERROR_WANT_READ)
                    return;
                if (err == SSL_ERROR_WANT_WRITE) {
                    c->ssl_wants_out = true;
                    s_update_events(c);
                    return;
                }
                s_kill(c, err == SSL_ERROR_ZERO_RETURN ? "tls-closed" : "tls-read-failed");
                return;
            }
            n = r;
        } else {
            n = recv(c->fd, buf, sizeof buf, 0);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                return;
            if (n <= 0) {
                s_kill(c, n == 0 ? "closed" : "read-failed");
                return;
            }
        }
        int rc = xgw_xml_stream_feed(c->rd, buf, (size_t)n);
        if (c->state == S_ST_DEAD)
            return;
        if (rc < 0) {
            snprintf(c->b->rd_error, sizeof c->b->rd_error, "%s",
                     xgw_xml_stream_error_detail(c->rd));
            s_kill(c, "xml-refused");
            return;
        }
        if (c->tls_pending) {
            s_start_tls(c);
            return;
        }
        if (c->ssl && c->ssl_wants_out) {
            c->ssl_wants_out = false;
            s_update_events(c);
        }
    }
}

static const xgw_xml_stream_cbs_t s_client_cbs = {s_client_on_open, s_client_on_stanza,
                                                  s_client_on_close};

static s_conn_t *
s_conn_new(s_bench_t *b, s_kind_t kind, int fd, uint32_t events, const xgw_xml_stream_cbs_t *cbs)
{
    s_conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->b = b;
    c->kind = kind;
    c->fd = fd;
    c->events = events;
    if (cbs) {
        xgw_xml_limits_t lim;
        xgw_xml_limits_default(&lim);
        c->rd = xgw_xml_stream_new(&lim, cbs, c);
        if (!c->rd) {
            free(c);
            return NULL;
        }
    }
    struct epoll_event e = {.events = events, .data.ptr = c};
    if (epoll_ctl(b->ep, EPOLL_CTL_ADD, fd, &e) != 0) {
        xgw_xml_stream_destroy(&c->rd);
        free(c);
        return NULL;
    }
    return c;
}

static void
s_conn_free(s_conn_t **c_p)
{
    s_conn_t *c = *c_p;
    if (!c)
        return;
    if (c->state != S_ST_DEAD) {
        (void)epoll_ctl(c->b->ep, EPOLL_CTL_DEL, c->fd, NULL);
        if (c->ssl)
            SSL_free(c->ssl);
        if (c->fd >= 0)
            close(c->fd);
    }
    xgw_xml_stream_destroy(&c->rd);
    free(c->out);
    free(c);
    *c_p = NULL;
}

static s_conn_t *
s_client_open(s_bench_t *b)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&b->xmppd_addr, sizeof b->xmppd_addr) != 0 &&
        errno != EINPROGRESS) {
        close(fd);
        return NULL;
    }
    s_conn_t *c = s_conn_new(b, S_KIND_CLIENT, fd, EPOLLIN | EPOLLOUT, &s_client_cbs);
    if (!c) {
        close(fd);
        return NULL;
    }
    c->state = S_ST_CONNECTING;
    b->opening++;
    return c;
}

static void
s_client_event(s_conn_t *c, uint32_t ev)
{
    if (c->state == S_ST_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if ((ev & (EPOLLERR | EPOLLHUP)) ||
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            s_kill(c, "connect-failed");
            return;
        }
        if (!(ev & EPOLLOUT))
            return;
        c->state = S_ST_HEADER;
        s_send_header(c, S_PEER, S_LOCAL, NULL);
        return;
    }
    if (c->state == S_ST_HANDSHAKE) {
        s_tls_step(c);
        return;
    }
    if (ev & EPOLLOUT) {
        if (c->ssl_wants_out) {
            c->ssl_wants_out = false;
            s_read(c);
        }
        if (c->state != S_ST_DEAD)
            (void)s_flush(c);
    }
    if (c->state != S_ST_DEAD && (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        s_read(c);
}

/* ---- the authoritative server (xmppd's outbound stream to bench.test) --- */

static void
s_auth_on_open(void *ud, const xgw_xml_node_t *h)
{
    s_conn_t *c = ud;
    (void)h;
    uint8_t rnd[16];
    char id[40];
    (void)RAND_bytes(rnd, sizeof rnd);
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(id + 2 * i, sizeof id - 2 * i, "%02x", rnd[i]);
    s_send_header(c, S_PEER, S_LOCAL, id);
    (void)s_send(c, "<stream:features><dialback xmlns='" S_NS_DB_FEATURE
                    "'><errors/></dialback></stream:features>");
    c->state = S_ST_READY;
}

static void
s_auth_on_stanza(void *ud, const xgw_xml_node_t *el)
{
    s_conn_t *c = ud;
    s_bench_t *b = c->b;
    const char *type = xgw_xml_attr(el, "type");
    if (strcmp(el->ns, S_NS_DB) == 0 && strcmp(el->name, "verify") == 0 && !type) {
        /* We are bench.test's authoritative server: the key must be the
         * one our originating side made for (receiving, originating, id). */
        const char *from = xgw_xml_attr(el, "from"), *to = xgw_xml_attr(el, "to");
        const char *id = xgw_xml_attr(el, "id");
        char want[XGW_DIALBACK_KEY_HEX + 1] = "";
        bool ok = from && to && id && strcmp(to, S_PEER) == 0 && el->text &&
                  xgw_dialback_key(b->secret, sizeof b->secret, from, to, id, want) == 0 &&
                  strcmp(el->text, want) == 0;
        if (ok)
            b->verify_valid++;
        else
            b->verify_invalid++;
        char ans[512];
        snprintf(ans, sizeof ans, "<db:verify from='%s' to='%s' id='%s' type='%s'/>",
                 to ? to : S_PEER, from ? from : S_LOCAL, id ? id : "", ok ? "valid" : "invalid");
        (void)s_send(c, ans);
        return;
    }
    if (strcmp(el->ns, S_NS_DB) == 0 && strcmp(el->name, "result") == 0 && !type) {
        /* xmppd authenticates its outbound stream to us; the bench trusts
         * it (only verifications and bounces travel here). */
        (void)s_send(c, "<db:result from='" S_PEER "' to='" S_LOCAL "' type='valid'/>");
        return;
    }
    if (strcmp(el->name, "message") == 0 && type && strcmp(type, "error") == 0)
        b->bounces++;
}

static void
s_auth_on_close(void *ud)
{
    s_conn_t *c = ud;
    (void)s_send(c, "</stream:stream>");
    s_kill(c, "closed");
}

static const xgw_xml_stream_cbs_t s_auth_cbs = {s_auth_on_open, s_auth_on_stanza, s_auth_on_close};

/* Accepted authoritative connections, freed at the end. */
typedef struct {
    s_conn_t **v;
    size_t n, cap;
} s_connlist_t;

static void
s_listen_event(s_bench_t *b, int lfd, s_connlist_t *auth)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (auth->n == auth->cap) {
            size_t cap = auth->cap ? auth->cap * 2 : 8;
            s_conn_t **v = realloc(auth->v, cap * sizeof *v);
            if (!v) {
                close(fd);
                return;
            }
            auth->v = v;
            auth->cap = cap;
        }
        s_conn_t *c = s_conn_new(b, S_KIND_AUTH, fd, EPOLLIN, &s_auth_cbs);
        if (!c) {
            close(fd);
            return;
        }
        c->state = S_ST_HEADER;
        auth->v[auth->n++] = c;
    }
}

/* One epoll round: waits up to timeout_ms. */
static void
s_poll(s_bench_t *b, int lfd, s_conn_t *listen_tag, s_connlist_t *auth, int timeout_ms)
{
    struct epoll_event evs[S_MAX_EVENTS];
    int n = epoll_wait(b->ep, evs, S_MAX_EVENTS, timeout_ms);
    for (int i = 0; i < n; i++) {
        s_conn_t *c = evs[i].data.ptr;
        if (c == listen_tag) {
            s_listen_event(b, lfd, auth);
        } else if (c->state != S_ST_DEAD) {
            if (c->kind == S_KIND_AUTH) {
                if (evs[i].events & EPOLLOUT)
                    (void)s_flush(c);
                if (c->state != S_ST_DEAD && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                    s_read(c);
            } else {
                s_client_event(c, evs[i].events);
            }
        }
    }
}

/* ---- main --------------------------------------------------------------- */

typedef struct {
    long streams;
    long seconds;
    long window;
    long convs;
    long body;
    bool tls;
} s_opts_t;

static void
s_usage(void)
{
    fprintf(stderr,
            "usage: xgw-bench-s2s [--streams N] [--seconds S] [--tls] [--window W] [--convs C]\n"
            "                     [--body BYTES] [--short]\n"
            "  --streams N   inbound s2s streams (default 100)\n"
            "  --seconds S   seconds of stanza traffic (default 10)\n"
            "  --tls         STARTTLS before dialback (default: plain TCP)\n"
            "  --window W    most stanzas sent and not yet at the SIP side (default 4000)\n"
            "  --convs C     distinct conversations (from, to) (default 1000)\n"
            "  --body BYTES  message body size (default 64)\n"
            "  --short       3 seconds of traffic\n");
}

static int
s_parse_args(int argc, char **argv, s_opts_t *o)
{
    *o = (s_opts_t){100, 10, 4000, 1000, 64, false};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long *dst = NULL;
        long lo = 1, hi = 0;
        if (strcmp(a, "--tls") == 0) {
            o->tls = true;
            continue;
        }
        if (strcmp(a, "--short") == 0) {
            o->seconds = 3;
            continue;
        }
        if (strcmp(a, "--streams") == 0) {
            dst = &o->streams;
            hi = 50000;
        } else if (strcmp(a, "--seconds") == 0) {
            dst = &o->seconds;
            hi = 3600;
        } else if (strcmp(a, "--window") == 0) {
            dst = &o->window;
            hi = 1000000;
        } else if (strcmp(a, "--convs") == 0) {
            dst = &o->convs;
            hi = 1000000;
        } else if (strcmp(a, "--body") == 0) {
            dst = &o->body;
            hi = 60000;
        }
        if (!dst || !v || s_parse_long(v, lo, hi, dst) != 0)
            return -1;
        i++;
    }
    return 0;
}

/* Leaves the process group: xmppd first (it drains), then the rest. */
static void
s_stop_all(s_env_t *e)
{
    pid_t order[] = {e->xmppd, e->certd, e->policyd, e->broker};
    const char *names[] = {"xmppd", "certd", "policyd", "broker"};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (order[i] <= 0)
            continue;
        int st = xt_stop(order[i], 20000);
        if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fprintf(stderr, "bench: %s did not exit cleanly (status %d)\n", names[i], st);
    }
}

static int
s_setup(s_env_t *e, int auth_port)
{
    snprintf(e->dir, sizeof e->dir, "/tmp/xgw-bench-s2s-XXXXXX");
    if (!mkdtemp(e->dir))
        return -1;
    char data[128];
    snprintf(data, sizeof data, "%s/data", e->dir);
    if (mkdir(data, 0700) != 0)
        return -1;
    snprintf(e->conf, sizeof e->conf, "%s/xgw.conf", e->dir);
    snprintf(e->front, sizeof e->front, "ipc://%s/front", e->dir);
    snprintf(e->back, sizeof e->back, "ipc://%s/back", e->dir);
    snprintf(e->log_broker, sizeof e->log_broker, "%s/broker.log", e->dir);
    snprintf(e->log_policyd, sizeof e->log_policyd, "%s/policyd.log", e->dir);
    snprintf(e->log_certd, sizeof e->log_certd, "%s/certd.log", e->dir);
    snprintf(e->log_xmppd, sizeof e->log_xmppd, "%s/xmppd.log", e->dir);
    snprintf(e->log_ctl, sizeof e->log_ctl, "%s/ctl.log", e->dir);
    if (s_write_config(e) != 0)
        return -1;
    e->broker = s_start(e, "xgw-broker", e->log_broker, NULL);
    e->policyd = s_start(e, "xgw-policyd", e->log_policyd, NULL);
    e->certd = s_start(e, "xgw-certd", e->log_certd, NULL);
    if (e->broker < 0 || e->policyd < 0 || e->certd < 0 ||
        xt_wait_lines(e->log_policyd, "event=serving", 1, 20000) != 0 ||
        xt_wait_lines(e->log_certd, "event=serving", 1, 20000) != 0) {
        fprintf(stderr, "bench: broker, policyd or certd did not start (logs in %s)\n", e->dir);
        return -1;
    }
    char route[32];
    snprintf(route, sizeof route, "127.0.0.1:%d", auth_port);
    if (s_ctl(e, "policy", "set", "global", "--federation", "on", "--xmpp", "on", NULL) != 0 ||
        s_ctl(e, "partner", "add", S_PEER, "--type", "federated", "--tls", "optional", "--sasl",
              "not-supported", "--dialback", "on", "--proxy-fqdn", route, NULL) != 0 ||
        s_ctl(e, "gateway", "set", "--connection-limit", "100000", "--partner-connection-limit",
              "100000", NULL) != 0)
        return -1;
    return 0;
}

static int
s_start_xmppd(s_env_t *e, struct sockaddr_in *addr)
{
    e->xmppd = s_start(e, "xgw-xmppd", e->log_xmppd, NULL);
    if (e->xmppd < 0 || xt_wait_lines(e->log_xmppd, "event=ruleset_loaded", 1, 20000) != 0 ||
        xt_wait_lines(e->log_xmppd, "event=tls_reloaded", 1, 20000) != 0 ||
        xt_wait_lines(e->log_xmppd, "event=xmpp_listening", 1, 20000) != 0) {
        fprintf(stderr, "bench: xmppd did not become ready (log %s)\n", e->log_xmppd);
        return -1;
    }
    int port = s_log_port(e->log_xmppd, "key=s2s_listen");
    if (port < 0)
        return -1;
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, "127.0.0.1", &addr->sin_addr);
    return 0;
}

static int
s_listen_socket(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 128) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/* Builds one <message/> for sequence number seq into buf; returns its
 * length. */
static size_t
s_stanza(char *buf, size_t cap, uint64_t seq, long convs, const char *body)
{
    unsigned long k = (unsigned long)(seq % (uint64_t)convs);
    int n = snprintf(buf, cap,
                     "<message from='u%lu@" S_PEER "/bench' to='u%lu@" S_LOCAL
                     "' type='chat' id='m%llu'><body>bench %s</body></message>",
                     k, k, (unsigned long long)seq, body);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

typedef struct {
    double open_s;
    s_proc_t x0, x1, x2, x3; /* xmppd: idle, streams open, traffic start, traffic end */
    s_proc_t b2, b3;         /* broker over the traffic */
    double self2, self3;
    uint64_t sent, delivered, bounced;
    double elapsed;
} s_result_t;

int
main(int argc, char **argv)
{
    s_opts_t o;
    if (s_parse_args(argc, argv, &o) != 0) {
        s_usage();
        return 2;
    }
    xgw_log_init("bench", 0);
    xgw_log_set_level(XGW_LOG_ERROR);
    signal(SIGPIPE, SIG_IGN);
    zsys_handler_set(NULL);
    zsys_init();
    /* Children inherit the limit: xmppd needs one descriptor per stream. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)o.streams * 2 + 200) {
        fprintf(stderr, "bench: RLIMIT_NOFILE %llu is too small for %ld streams\n",
                (unsigned long long)rl.rlim_cur, o.streams);
        return 2;
    }

    s_env_t e;
    memset(&e, 0, sizeof e);
    if (s_find_bins(&e) != 0)
        return 2;
    s_bench_t b;
    memset(&b, 0, sizeof b);
    b.tls = o.tls;
    b.ep = epoll_create1(EPOLL_CLOEXEC);
    if (RAND_bytes(b.secret, sizeof b.secret) != 1 || b.ep < 0)
        return 2;
    b.cctx = SSL_CTX_new(TLS_client_method());
    if (!b.cctx)
        return 2;
    SSL_CTX_set_min_proto_version(b.cctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(b.cctx, SSL_VERIFY_NONE, NULL);

    int auth_port = 0;
    int lfd = s_listen_socket(&auth_port);
    s_conn_t listen_tag;
    memset(&listen_tag, 0, sizeof listen_tag);
    struct epoll_event le = {.events = EPOLLIN, .data.ptr = &listen_tag};
    if (lfd < 0 || epoll_ctl(b.ep, EPOLL_CTL_ADD, lfd, &le) != 0) {
        perror("bench: listen");
        return 2;
    }

    int failed = 0;
    s_sink_t sink;
    memset(&sink, 0, sizeof sink);
    pthread_t sink_thread;
    bool sink_started = false;
    s_connlist_t auth = {NULL, 0, 0};
    s_result_t r;
    memset(&r, 0, sizeof r);

    xb_print_machine("xgw-bench-s2s");
    if (s_setup(&e, auth_port) != 0) {
        failed = 1;
        goto done;
    }
    snprintf(sink.endpoint, sizeof sink.endpoint, "%s", e.back);
    if (pthread_create(&sink_thread, NULL, s_sink_main, &sink) != 0) {
        failed = 1;
        goto done;
    }
    sink_started = true;
    if (s_start_xmppd(&e, &b.xmppd_addr) != 0) {
        failed = 1;
        goto done;
    }
    printf("# xmppd %s/xgw-xmppd (pid %d), %s streams from the bench, %ld stanzas window, "
           "%ld conversations, %ld-byte bodies\n",
           e.bindir, (int)e.xmppd, o.tls ? "STARTTLS + dialback" : "plain TCP + dialback", o.window,
           o.convs, o.body);
    fflush(stdout);

    /* (1) idle */
    usleep(1000 * 1000);
    r.x0 = s_proc(e.xmppd);

    /* (2) N streams, S_OPEN_PARALLEL being set up at a time */
    b.clients = calloc((size_t)o.streams, sizeof *b.clients);
    if (!b.clients) {
        failed = 1;
        goto done;
    }
    int64_t t_open = s_now_ns();
    int64_t open_deadline = t_open + 120LL * 1000000000LL;
    while ((b.ready + b.failed < (size_t)o.streams) && s_now_ns() < open_deadline) {
        while (b.n_clients < (size_t)o.streams && b.opening < S_OPEN_PARALLEL) {
            s_conn_t *c = s_client_open(&b);
            if (!c) {
                b.failed++;
                s_note_error(&b, "socket");
                b.n_clients++;
                continue;
            }
            b.clients[b.n_clients++] = c;
        }
        s_poll(&b, lfd, &listen_tag, &auth, 10);
    }
    r.open_s = (double)(s_now_ns() - t_open) / 1e9;
    if (b.ready < (size_t)o.streams) {
        fprintf(stderr, "bench: %zu of %ld streams authenticated, %zu failed (last: %s%s%s)\n",
                b.ready, o.streams, b.failed, b.last_error, b.rd_error[0] ? " " : "", b.rd_error);
        failed = 1;
    }
    /* Let xmppd settle, answering whatever still comes. */
    for (int i = 0; i < 100; i++)
        s_poll(&b, lfd, &listen_tag, &auth, 10);
    r.x1 = s_proc(e.xmppd);

    /* (3) traffic */
    char *body = malloc((size_t)o.body + 1);
    char *stanza = malloc((size_t)o.body + 512);
    if (!body || !stanza) {
        free(body);
        free(stanza);
        failed = 1;
        goto done;
    }
    memset(body, 'x', (size_t)o.body);
    body[o.body] = '\0';
    uint64_t d0 = atomic_load(&sink.delivered), bounce0 = b.bounces;
    r.x2 = s_proc(e.xmppd);
    r.b2 = s_proc(e.broker);
    r.self2 = s_self_cpu();
    int64_t t0 = s_now_ns();
    int64_t t_stop = t0 + (int64_t)o.seconds * 1000000000LL;
    int64_t t_last = t0;
    uint64_t seq = 0, last_seen = d0;
    size_t rr = 0;
    const size_t batch = 16;
    for (;;) {
        int64_t now = s_now_ns();
        uint64_t seen = atomic_load(&sink.delivered) - d0 + (b.bounces - bounce0);
        if (seen != last_seen) {
            last_seen = seen;
            t_last = now;
        }
        bool sending = now < t_stop && b.ready > 0;
        if (!sending && (seen >= seq || now > t_stop + 10LL * 1000000000LL))
            break;
        uint64_t inflight = seq - seen;
        size_t visited = 0;
        while (sending && inflight < (uint64_t)o.window && visited < b.n_clients) {
            s_conn_t *c = b.clients[rr];
            rr = (rr + 1) % b.n_clients;
            visited++;
            if (!c || c->state != S_ST_READY || c->out_len - c->out_off > S_OUT_HIGH)
                continue;
            for (size_t k = 0; k < batch && inflight < (uint64_t)o.window; k++) {
                size_t len = s_stanza(stanza, (size_t)o.body + 512, seq, o.convs, body);
                if (len == 0 || s_queue(c, stanza, len) != 0)
                    break;
                seq++;
                inflight++;
            }
            (void)s_flush(c);
        }
        s_poll(&b, lfd, &listen_tag, &auth, inflight >= (uint64_t)o.window || !sending ? 1 : 0);
    }
    free(body);
    free(stanza);
    r.x3 = s_proc(e.xmppd);
    r.b3 = s_proc(e.broker);
    r.self3 = s_self_cpu();
    r.sent = seq;
    r.delivered = atomic_load(&sink.delivered) - d0;
    r.bounced = b.bounces - bounce0;
    r.elapsed = (double)(t_last - t0) / 1e9;

    /* ---- report ---- */
    double n = (double)o.streams;
    double mem = (r.x1.rss_kib - r.x0.rss_kib) / n;
    double setup_us = (r.x1.cpu_s - r.x0.cpu_s) * 1e6 / n;
    printf("streams       %zu authenticated of %ld in %.2f s (%s), xmppd CPU %.0f us per stream "
           "setup\n",
           b.ready, o.streams, r.open_s, o.tls ? "STARTTLS + dialback" : "dialback", setup_us);
    printf("memory        xmppd RSS %.0f KiB idle -> %.0f KiB with %ld idle streams: "
           "%.1f KiB per stream   [target: < 100 KiB per TLS stream at 1,000 streams]\n",
           r.x0.rss_kib, r.x1.rss_kib, o.streams, mem);
    double rate = r.elapsed > 0 ? (double)r.delivered / r.elapsed : 0;
    double xcpu = r.x3.cpu_s - r.x2.cpu_s;
    double us = r.delivered ? xcpu * 1e6 / (double)r.delivered : 0;
    double per_core = us > 0 ? 1e6 / us : 0;
    printf("throughput    %llu stanzas sent, %llu handed to the SIP side, %llu bounced, in "
           "%.2f s: %.0f stanzas/s\n",
           (unsigned long long)r.sent, (unsigned long long)r.delivered,
           (unsigned long long)r.bounced, r.elapsed, rate);
    printf("xmppd cpu     %.2f cores, %.2f us per stanza = %.0f stanzas/s per xmppd core   "
           "[target: 100,000 stanzas/s per core]\n",
           r.elapsed > 0 ? xcpu / r.elapsed : 0, us, per_core);
    printf("other cpu     broker %.2f cores (%.2f us per stanza), bench (streams + sink) %.2f "
           "cores\n",
           r.elapsed > 0 ? (r.b3.cpu_s - r.b2.cpu_s) / r.elapsed : 0,
           r.delivered ? (r.b3.cpu_s - r.b2.cpu_s) * 1e6 / (double)r.delivered : 0,
           r.elapsed > 0 ? (r.self3 - r.self2) / r.elapsed : 0);
    printf("dialback      %llu verified valid, %llu invalid at the bench's authoritative "
           "server; %llu stream errors; %llu sampled Deliver bodies wrong\n",
           (unsigned long long)b.verify_valid, (unsigned long long)b.verify_invalid,
           (unsigned long long)b.stream_errors, (unsigned long long)atomic_load(&sink.malformed));
    fflush(stdout);
    if (b.ready < (size_t)o.streams || atomic_load(&sink.malformed) > 0)
        failed = 1;

done:
    for (size_t i = 0; i < b.n_clients; i++) {
        if (b.clients[i] && b.clients[i]->state != S_ST_DEAD)
            (void)s_send(b.clients[i], "</stream:stream>");
        s_conn_free(&b.clients[i]);
    }
    free(b.clients);
    s_stop_all(&e);
    for (size_t i = 0; i < auth.n; i++)
        s_conn_free(&auth.v[i]);
    free(auth.v);
    if (sink_started) {
        atomic_store(&sink.stop, true);
        pthread_join(sink_thread, NULL);
    }
    xt_cleanup();
    if (lfd >= 0)
        close(lfd);
    close(b.ep);
    SSL_CTX_free(b.cctx);
    if (!failed && !getenv("XGW_KEEP_TMP") && e.dir[0]) {
        char cmd[160];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", e.dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench: could not remove %s\n", e.dir);
    } else if (e.dir[0]) {
        fprintf(stderr, "bench: logs kept in %s\n", e.dir);
    }
    return failed;
}
