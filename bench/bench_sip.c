/*
 * bench_sip.c - SIP MESSAGE through a real xgw-sipd, both ways: requests
 * per second, sipd's and the broker's CPU per MESSAGE, and the latency from
 * request to 200.
 *
 * The bench starts the real xgw-broker, xgw-policyd and xgw-sipd (next to
 * this program, or in $XGW_BIN_DIR) on ipc:// in a temporary directory,
 * with a global policy that allows federation and partner.example as a
 * federated partner, and sipd on 127.0.0.1 (UDP) with 127.0.0.1 trusted
 * and the bench's own UDP "UAS" as outbound proxy. Then:
 *
 *  - SIP -> XMPP ("in"): a generator in this process writes MESSAGE
 *    requests by hand (unique Call-ID, branch and From tag each) on a UDP
 *    socket bound to 127.0.0.1 and keeps up to --window of them waiting
 *    for a final response (retransmitting on RFC 3261 timer E, as a UAC
 *    must over UDP). sipd decides, sends a Deliver to service "xmpp",
 *    where a GWP worker thread of the bench answers 200, and answers the
 *    MESSAGE 200. Latency: send -> final response.
 *  - XMPP -> SIP ("out"): a GWP client in this process sends Deliver
 *    requests (message) to service "sip"; sipd sends a MESSAGE to the UAS
 *    thread of the bench, which answers 200 (RFC 3261 response: Via, From,
 *    To with a tag, Call-ID, CSeq copied), and sipd answers the Deliver
 *    200. Latency: Deliver sent -> its reply.
 *
 * Each direction is run at the most the window allows ("max"), then paced
 * at a fixed offered rate (by default half the max just measured), for
 * --seconds each. Figures only: nothing is a pass/fail check on timing; the
 * exit status is 1 when the setup fails, a run got no 200 at all, or more
 * 200s came back than requests reached the far end (answers from a cache,
 * not from the path measured).
 * See bench/README.md.
 */
#include "support.h"
#include "support_proc.h"
#include "xgw_client.h"
#include "xgw_error.h"
#include "xgw_gwp.h"
#include "xgw_log.h"
#include "xgw_procfs.h"
#include "xgw_worker.h"
#include "xgw/v1/gwp.pb-c.h"
#include "xgw/v1/im.pb-c.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_LOCAL "example.net"
#define S_PARTNER "partner.example"
#define S_T1_NS (500LL * 1000000LL)        /* RFC 3261 T1 */
#define S_T2_NS (4000LL * 1000000LL)       /* RFC 3261 T2 */
#define S_TIMER_F_NS (32LL * 1000000000LL) /* non-INVITE transaction timeout */
#define S_DRAIN_NS (35LL * 1000000000LL)
#define S_SIP_MAX 4096

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

static int
s_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* utime + stime of pid in seconds, from /proc/PID/stat (lib/xgw_procfs's
 * parser). */
static double
s_proc_cpu(pid_t pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    xgw_procfs_stat_t st;
    if (xgw__procfs_parse_stat(buf, &st) != 0)
        return 0;
    return (double)(st.utime + st.stime) / (double)sysconf(_SC_CLK_TCK);
}

static double
s_self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* A UDP socket on 127.0.0.1 (port 0: any); returns the fd and the port. */
static int
s_udp_socket(int port, int *bound)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int sz = 4 << 20;
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        return -1;
    }
    *bound = ntohs(a.sin_port);
    return fd;
}

/* A port free on 127.0.0.1 for both UDP and TCP right now (sipd listens on
 * both). */
static int
s_free_port(void)
{
    for (int tries = 0; tries < 100; tries++) {
        int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET};
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        socklen_t len = sizeof a;
        if (t < 0 || bind(t, (struct sockaddr *)&a, sizeof a) != 0 ||
            getsockname(t, (struct sockaddr *)&a, &len) != 0) {
            if (t >= 0)
                close(t);
            continue;
        }
        int port = ntohs(a.sin_port), got = 0;
        int u = s_udp_socket(port, &got);
        close(t);
        if (u >= 0) {
            close(u);
            return port;
        }
    }
    return -1;
}

/* ---- processes ---------------------------------------------------------- */

typedef struct {
    char bindir[PATH_MAX];
    char dir[64];
    char conf[128];
    char front[128];
    char back[128];
    char log_broker[128], log_policyd[128], log_sipd[128], log_ctl[128];
    pid_t broker, policyd, sipd;
} s_env_t;

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
    const char *need[] = {"xgw-broker", "xgw-policyd", "xgw-sipd", "xgwctl"};
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
s_start(const s_env_t *e, const char *name, const char *log)
{
    char bin[PATH_MAX + 32];
    snprintf(bin, sizeof bin, "%s/%s", e->bindir, name);
    char *argv[] = {bin, "-c", (char *)e->conf, NULL};
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

static int
s_write_config(const s_env_t *e, int sip_port, int uas_port)
{
    FILE *f = fopen(e->conf, "w");
    if (!f)
        return -1;
    fprintf(f,
            "[common]\n"
            "broker_frontend = \"%s\"\n"
            "broker_backend = \"%s\"\n"
            "policy_updates = \"ipc://%s/policy-updates\"\n"
            "policy_snapshot = \"ipc://%s/policy-snapshot\"\n"
            "data_dir = \"%s/data\"\n"
            "run_dir = \"%s\"\n"
            "domains = \"" S_LOCAL "\"\n"
            "log_level = info\n"
            "[broker]\nmetrics_port = 0\nqueue_max = 1000000\n"
            "[policyd]\nmetrics_port = 0\n"
            "[sipd]\nmetrics_port = 0\n"
            "sip_url = \"sip:127.0.0.1:%d\"\n"
            "outbound_proxy = \"sip:127.0.0.1:%d\"\n"
            "trusted_peers = \"127.0.0.1\"\n"
            "[xgwctl]\ntimeout = 10s\n",
            e->front, e->back, e->dir, e->dir, e->dir, e->dir, sip_port, uas_port);
    return fclose(f) == 0 ? 0 : -1;
}

/* ---- the XMPP side: an "xmpp" worker thread ------------------------------ */

typedef struct {
    char endpoint[128];
    atomic_bool stop;
    atomic_uint_least64_t delivered;
    atomic_uint_least64_t malformed; /* sampled Deliver bodies that were wrong */
} s_xmpp_t;

/* Checks one Deliver in 256: a message from example.net to partner.example
 * with the bench's body. */
static bool
s_xmpp_check(const xgw_request_t *req)
{
    Xgw__V1__Request *in = xgw__v1__request__unpack(NULL, req->body_len, req->body);
    bool ok = in && in->payload_case == XGW__V1__REQUEST__PAYLOAD_DELIVER &&
              in->deliver->kind_case == XGW__V1__DELIVER__KIND_MESSAGE &&
              strstr(in->deliver->message->from, "@" S_LOCAL) &&
              strstr(in->deliver->message->to, "@" S_PARTNER) &&
              strncmp(in->deliver->message->body, "bench ", 6) == 0 &&
              strcmp(req->affinity, S_PARTNER) == 0;
    if (in)
        xgw__v1__request__free_unpacked(in, NULL);
    return ok;
}

static void *
s_xmpp_main(void *arg)
{
    s_xmpp_t *s = arg;
    xgw_worker_opts_t wo;
    xgw_worker_opts_default(&wo);
    xgw_worker_t *w = xgw_worker_new(s->endpoint, "xmpp", "bench-xmpp.00", 4096, &wo);
    if (!w)
        return NULL;
    uint64_t n = 0;
    while (!atomic_load(&s->stop)) {
        zmq_pollitem_t it = {xgw_worker_socket(w), 0, ZMQ_POLLIN, 0};
        (void)zmq_poll(&it, 1, 20);
        xgw_request_t *req = NULL;
        while (xgw_worker_recv(w, &req) == 0) {
            if ((n++ & 255) == 0 && !s_xmpp_check(req))
                atomic_fetch_add(&s->malformed, 1);
            (void)xgw_worker_reply(w, &req, 200, NULL, 0);
            atomic_fetch_add(&s->delivered, 1);
        }
        (void)xgw_worker_tick(w);
    }
    xgw_worker_destroy(&w);
    return NULL;
}

/* ---- the SIP next hop: a UAS thread that answers every MESSAGE 200 -------- */

typedef struct {
    int fd;
    atomic_bool stop;
    atomic_uint_least64_t answered;
    atomic_uint_least64_t bad; /* not a MESSAGE, or a header missing */
} s_uas_t;

/* Finds header name (or its compact form, 0 for none) at the start of a
 * line in head; returns the value and its length, or NULL. */
static const char *
s_header(const char *head, size_t len, const char *name, char compact, size_t *vlen)
{
    const char *p = head, *end = head + len;
    size_t nl = strlen(name);
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        size_t ll = (size_t)(eol - p);
        if (ll && p[ll - 1] == '\r')
            ll--;
        const char *v = NULL;
        if (ll > nl && strncasecmp(p, name, nl) == 0 && (p[nl] == ':' || p[nl] == ' '))
            v = p + nl;
        else if (compact && ll > 1 && (p[0] == compact || p[0] == compact - 32) &&
                 (p[1] == ':' || p[1] == ' '))
            v = p + 1;
        if (v) {
            while (v < p + ll && (*v == ' ' || *v == '\t'))
                v++;
            if (v < p + ll && *v == ':') {
                v++;
                while (v < p + ll && (*v == ' ' || *v == '\t'))
                    v++;
                *vlen = (size_t)(p + ll - v);
                return v;
            }
        }
        p = eol + 1;
    }
    return NULL;
}

/* Appends "Name: value\r\n" for every Via line of the request (in order). */
static size_t
s_copy_vias(const char *head, size_t len, char *out, size_t cap)
{
    size_t off = 0;
    const char *p = head, *end = head + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        size_t ll = (size_t)(eol - p);
        if (ll && p[ll - 1] == '\r')
            ll--;
        if ((ll > 4 && strncasecmp(p, "Via:", 4) == 0) ||
            (ll > 2 && (p[0] == 'v' || p[0] == 'V') && p[1] == ':')) {
            if (off + ll + 2 < cap) {
                memcpy(out + off, p, ll);
                off += ll;
                out[off++] = '\r';
                out[off++] = '\n';
            }
        }
        p = eol + 1;
    }
    return off;
}

/* The 200 for one MESSAGE into out; returns its length or 0. */
static size_t
s_uas_answer(const char *req, size_t len, char *out, size_t cap)
{
    if (len < 8 || strncmp(req, "MESSAGE ", 8) != 0)
        return 0;
    const char *hend = NULL;
    for (size_t i = 0; i + 3 < len; i++) {
        if (memcmp(req + i, "\r\n\r\n", 4) == 0) {
            hend = req + i;
            break;
        }
    }
    size_t hlen = hend ? (size_t)(hend - req) : len;
    size_t fl, tl, cl, ql;
    const char *from = s_header(req, hlen, "From", 'f', &fl);
    const char *to = s_header(req, hlen, "To", 't', &tl);
    const char *cid = s_header(req, hlen, "Call-ID", 'i', &cl);
    const char *cseq = s_header(req, hlen, "CSeq", 0, &ql);
    if (!from || !to || !cid || !cseq)
        return 0;
    int n = snprintf(out, cap, "SIP/2.0 200 OK\r\n");
    if (n < 0 || (size_t)n >= cap)
        return 0;
    size_t off = (size_t)n;
    off += s_copy_vias(req, hlen, out + off, cap - off);
    bool has_tag = memmem(to, tl, ";tag=", 5) != NULL;
    n = snprintf(out + off, cap - off,
                 "From: %.*s\r\nTo: %.*s%s\r\nCall-ID: %.*s\r\nCSeq: %.*s\r\n"
                 "Content-Length: 0\r\n\r\n",
                 (int)fl, from, (int)tl, to, has_tag ? "" : ";tag=bench-uas", (int)cl, cid, (int)ql,
                 cseq);
    if (n < 0 || (size_t)n >= cap - off)
        return 0;
    return off + (size_t)n;
}

static void *
s_uas_main(void *arg)
{
    s_uas_t *u = arg;
    char buf[S_SIP_MAX + 1], out[S_SIP_MAX];
    while (!atomic_load(&u->stop)) {
        struct pollfd p = {u->fd, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0)
            continue;
        for (;;) {
            struct sockaddr_in from;
            socklen_t fl = sizeof from;
            ssize_t n = recvfrom(u->fd, buf, S_SIP_MAX, 0, (struct sockaddr *)&from, &fl);
            if (n <= 0)
                break;
            buf[n] = '\0';
            size_t len = s_uas_answer(buf, (size_t)n, out, sizeof out);
            if (len == 0) {
                atomic_fetch_add(&u->bad, 1);
                continue;
            }
            (void)sendto(u->fd, out, len, 0, (struct sockaddr *)&from, fl);
            atomic_fetch_add(&u->answered, 1);
        }
    }
    return NULL;
}

/* ---- measurement -------------------------------------------------------- */

typedef struct {
    int64_t *sent_ns; /* by sequence number; 0 once answered */
    int64_t *next_ns; /* "in": next retransmission */
    int64_t *gap_ns;  /* "in": current retransmission interval */
    int64_t *lat_ns;  /* one per answer */
    size_t cap;
    size_t nlat;
} s_samples_t;

static int
s_samples_grow(s_samples_t *s, size_t need)
{
    if (need <= s->cap)
        return 0;
    size_t cap = s->cap ? s->cap : 1 << 16;
    while (cap < need)
        cap *= 2;
    int64_t **arrs[] = {&s->sent_ns, &s->next_ns, &s->gap_ns, &s->lat_ns};
    for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++) {
        int64_t *a = realloc(*arrs[i], cap * sizeof *a);
        if (!a)
            return -1;
        *arrs[i] = a;
    }
    s->cap = cap;
    return 0;
}

typedef struct {
    uint64_t sent, answered, ok, non200, retrans, lost;
    uint64_t far_end; /* requests the bench's xmpp worker or UAS got */
    double elapsed, rps;
    double p50_us, p99_us, p999_us, max_us;
    double cpu_sipd, cpu_broker, cpu_policyd, cpu_bench; /* seconds over the run */
} s_result_t;

static void
s_latencies(s_samples_t *smp, s_result_t *r)
{
    if (smp->nlat == 0)
        return;
    qsort(smp->lat_ns, smp->nlat, sizeof smp->lat_ns[0], s_cmp_i64);
    size_t n = smp->nlat;
    r->p50_us = (double)smp->lat_ns[(n - 1) * 50 / 100] / 1e3;
    r->p99_us = (double)smp->lat_ns[(n - 1) * 99 / 100] / 1e3;
    r->p999_us = (double)smp->lat_ns[(n - 1) * 999 / 1000] / 1e3;
    r->max_us = (double)smp->lat_ns[n - 1] / 1e3;
}

typedef struct {
    int fd; /* generator socket ("in") */
    int port;
    struct sockaddr_in sipd;
    char run[32]; /* tag making Call-IDs, branches and tags unique per run */
    unsigned runs;
    long window;
    long convs;
    const char *text; /* the body after "bench <seq> " */
} s_gen_t;

/* One MESSAGE for sequence number seq into buf; returns its length. */
static size_t
s_sip_request(const s_gen_t *g, uint64_t seq, char *buf, size_t cap)
{
    unsigned long k = (unsigned long)(seq % (uint64_t)g->convs);
    char body[1100];
    int bl = snprintf(body, sizeof body, "bench %llu %s", (unsigned long long)seq, g->text);
    if (bl < 0 || (size_t)bl >= sizeof body)
        return 0;
    int n = snprintf(buf, cap,
                     "MESSAGE sip:bob%lu@" S_PARTNER " SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%s-%llu;rport\r\n"
                     "Max-Forwards: 70\r\n"
                     "From: <sip:u%lu@" S_LOCAL ">;tag=f%llu\r\n"
                     "To: <sip:bob%lu@" S_PARTNER ">\r\n"
                     "Call-ID: b%llu.%s@127.0.0.1\r\n"
                     "CSeq: 1 MESSAGE\r\n"
                     "Content-Type: text/plain;charset=UTF-8\r\n"
                     "Content-Length: %d\r\n\r\n%s",
                     k, g->port, g->run, (unsigned long long)seq, k, (unsigned long long)seq, k,
                     (unsigned long long)seq, g->run, bl, body);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* The sequence number in a response's Call-ID ("b<seq>.<run>@..."), and
 * its status code; -1 when it is not one of ours. */
static int
s_sip_response(const s_gen_t *g, const char *buf, size_t len, uint64_t *seq, int *status)
{
    if (len < 12 || strncmp(buf, "SIP/2.0 ", 8) != 0)
        return -1;
    long st;
    char code[4] = {buf[8], buf[9], buf[10], '\0'};
    if (s_parse_long(code, 100, 699, &st) != 0)
        return -1;
    size_t vl;
    const char *cid = s_header(buf, len, "Call-ID", 'i', &vl);
    if (!cid || vl < 3 || cid[0] != 'b')
        return -1;
    char tmp[96];
    if (vl >= sizeof tmp)
        return -1;
    memcpy(tmp, cid + 1, vl - 1);
    tmp[vl - 1] = '\0';
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(tmp, &end, 10);
    if (errno || end == tmp || *end != '.' || strncmp(end + 1, g->run, strlen(g->run)) != 0 ||
        end[1 + strlen(g->run)] != '@')
        return -1;
    *seq = v;
    *status = (int)st;
    return 0;
}

/* SIP -> XMPP: MESSAGEs from the generator until seconds pass (rate 0:
 * as fast as the window allows), then the stragglers. */
static void
s_run_in(s_gen_t *g, double rate, double seconds, s_samples_t *smp, s_result_t *r)
{
    char buf[S_SIP_MAX + 1];
    uint64_t seq = 0, outstanding = 0;
    /* A new tag for every run: sipd (nta) keeps answered transactions for
     * 32 s and would answer a repeated Call-ID/branch from that cache. */
    snprintf(g->run, sizeof g->run, "%08lx%08lxr%u", (unsigned long)getpid(),
             (unsigned long)(s_now_ns() & 0xffffffff), ++g->runs);
    smp->nlat = 0;
    const int64_t t0 = s_now_ns();
    const int64_t t_stop = t0 + (int64_t)(seconds * 1e9);
    int64_t t_last = t0, next_scan = t0 + 50000000LL;
    for (;;) {
        int64_t now = s_now_ns();
        bool sending = now < t_stop;
        if (!sending && (outstanding == 0 || now > t_stop + S_DRAIN_NS))
            break;
        uint64_t allowed = UINT64_MAX;
        if (rate > 0)
            allowed = (uint64_t)((double)(now - t0) * rate / 1e9) + 1;
        while (sending && seq < allowed && outstanding < (uint64_t)g->window) {
            if (s_samples_grow(smp, seq + 1) != 0)
                break;
            size_t len = s_sip_request(g, seq, buf, sizeof buf);
            int64_t ts = s_now_ns();
            if (len == 0 || sendto(g->fd, buf, len, 0, (struct sockaddr *)&g->sipd,
                                   sizeof g->sipd) != (ssize_t)len)
                break;
            smp->sent_ns[seq] = ts;
            smp->gap_ns[seq] = S_T1_NS;
            smp->next_ns[seq] = ts + S_T1_NS;
            seq++;
            outstanding++;
        }
        /* Timer E: retransmit what waits too long, give up at timer F. The
         * scan runs every 50 ms over what is outstanding. */
        if (now >= next_scan) {
            next_scan = now + 50000000LL;
            uint64_t seen = 0;
            for (uint64_t i = seq; i-- > 0 && seen < outstanding;) {
                if (smp->sent_ns[i] == 0)
                    continue;
                seen++;
                if (now - smp->sent_ns[i] >= S_TIMER_F_NS) {
                    smp->sent_ns[i] = 0;
                    outstanding--;
                    r->lost++;
                } else if (now >= smp->next_ns[i]) {
                    size_t len = s_sip_request(g, i, buf, sizeof buf);
                    if (len)
                        (void)sendto(g->fd, buf, len, 0, (struct sockaddr *)&g->sipd,
                                     sizeof g->sipd);
                    r->retrans++;
                    smp->gap_ns[i] = smp->gap_ns[i] * 2 < S_T2_NS ? smp->gap_ns[i] * 2 : S_T2_NS;
                    smp->next_ns[i] = now + smp->gap_ns[i];
                }
            }
        }
        int timeout_ms = 1;
        if (sending && outstanding < (uint64_t)g->window && (rate <= 0 || seq < allowed))
            timeout_ms = 0;
        struct pollfd p = {g->fd, POLLIN, 0};
        if (rate > 0 && sending && outstanding < (uint64_t)g->window) {
            /* Paced: wake for the next send, with microsecond precision. */
            int64_t next = t0 + (int64_t)((double)seq * 1e9 / rate) - s_now_ns();
            struct timespec ts = {0, next > 0 ? (long)(next < 1000000 ? next : 1000000) : 0};
            (void)ppoll(&p, 1, &ts, NULL);
        } else {
            (void)poll(&p, 1, timeout_ms);
        }
        for (;;) {
            ssize_t n = recv(g->fd, buf, S_SIP_MAX, 0);
            if (n <= 0)
                break;
            buf[n] = '\0';
            uint64_t id;
            int status;
            if (s_sip_response(g, buf, (size_t)n, &id, &status) != 0 || status < 200 || id >= seq ||
                smp->sent_ns[id] == 0)
                continue; /* provisional, a repeat, or not ours */
            int64_t tr = s_now_ns();
            smp->lat_ns[smp->nlat++] = tr - smp->sent_ns[id];
            smp->sent_ns[id] = 0;
            outstanding--;
            r->answered++;
            if (status == 200)
                r->ok++;
            else
                r->non200++;
            t_last = tr;
        }
    }
    r->sent = seq;
    r->elapsed = (double)(t_last - t0) / 1e9;
    r->rps = r->elapsed > 0 ? (double)r->ok / r->elapsed : 0;
    s_latencies(smp, r);
}

/* Waits up to timeout_ns for input on the client's socket (ZMQ_FD only
 * signals a change, so ZMQ_EVENTS first). */
static void
s_wait_input(void *sock, int fd, int64_t timeout_ns)
{
    int events = 0;
    size_t len = sizeof events;
    if (timeout_ns <= 0 || zmq_getsockopt(sock, ZMQ_EVENTS, &events, &len) != 0 ||
        (events & ZMQ_POLLIN))
        return;
    struct pollfd pfd = {fd, POLLIN, 0};
    struct timespec ts = {(time_t)(timeout_ns / 1000000000LL), (long)(timeout_ns % 1000000000LL)};
    (void)ppoll(&pfd, 1, &ts, NULL);
}

/* One packed Deliver{message} request to "sip" for seq into buf. */
static size_t
s_deliver(uint64_t seq, long convs, const char *body, uint8_t *buf, size_t cap)
{
    unsigned long k = (unsigned long)(seq % (uint64_t)convs);
    char from[96], to[96], text[1100], id[32];
    snprintf(from, sizeof from, "juliet%lu@" S_PARTNER "/balcony", k);
    snprintf(to, sizeof to, "u%lu@" S_LOCAL, k);
    snprintf(text, sizeof text, "bench %llu %s", (unsigned long long)seq, body);
    snprintf(id, sizeof id, "m%llu", (unsigned long long)seq);
    Xgw__V1__ImMessage m = XGW__V1__IM_MESSAGE__INIT;
    m.from = from;
    m.to = to;
    m.body = text;
    m.id = id;
    m.type = "chat";
    Xgw__V1__Deliver d = XGW__V1__DELIVER__INIT;
    d.kind_case = XGW__V1__DELIVER__KIND_MESSAGE;
    d.message = &m;
    Xgw__V1__Request rq = XGW__V1__REQUEST__INIT;
    rq.schema = 1;
    rq.payload_case = XGW__V1__REQUEST__PAYLOAD_DELIVER;
    rq.deliver = &d;
    size_t len = xgw__v1__request__get_packed_size(&rq);
    if (len > cap)
        return 0;
    xgw__v1__request__pack(&rq, buf);
    return len;
}

/* XMPP -> SIP: Deliver requests to "sip" from a GWP client. */
static void
s_run_out(xgw_client_t *c, long window, long convs, const char *body, double rate, double seconds,
          s_samples_t *smp, s_result_t *r)
{
    uint8_t buf[2048];
    uint64_t seq = 0;
    smp->nlat = 0;
    const int64_t t0 = s_now_ns();
    const int64_t t_stop = t0 + (int64_t)(seconds * 1e9);
    int64_t t_last = t0;
    void *sock = xgw_client_socket(c);
    int fd = xgw_client_fd(c);
    for (;;) {
        int64_t now = s_now_ns();
        bool sending = now < t_stop;
        if (!sending && (xgw_client_outstanding(c) == 0 || now > t_stop + S_DRAIN_NS))
            break;
        uint64_t allowed = UINT64_MAX;
        if (rate > 0)
            allowed = (uint64_t)((double)(now - t0) * rate / 1e9) + 1;
        while (sending && seq < allowed && (long)xgw_client_outstanding(c) < window) {
            if (s_samples_grow(smp, seq + 1) != 0)
                break;
            size_t len = s_deliver(seq, convs, body, buf, sizeof buf);
            int64_t ts = s_now_ns();
            if (len == 0 || xgw_client_send(c, "sip", NULL, xgw_gwp_now_ms() + 30000, buf, len,
                                            (void *)(uintptr_t)seq, NULL) != 0)
                break;
            smp->sent_ns[seq] = ts;
            seq++;
        }
        int64_t timeout_ns = xgw_client_tick(c) * 1000000LL;
        if (timeout_ns > 100000000LL)
            timeout_ns = 100000000LL;
        if (sending && rate > 0) {
            int64_t until = t0 + (int64_t)((double)seq * 1e9 / rate) - s_now_ns();
            if (until < timeout_ns)
                timeout_ns = until < 0 ? 0 : until;
        }
        if (sending && rate <= 0 && (long)xgw_client_outstanding(c) < window)
            timeout_ns = 0;
        s_wait_input(sock, fd, timeout_ns);
        xgw_reply_t *rep = NULL;
        while (xgw_client_recv(c, &rep) == 0) {
            int64_t tr = s_now_ns();
            uint64_t id = (uint64_t)(uintptr_t)rep->user;
            r->answered++;
            if (rep->status == 200)
                r->ok++;
            else
                r->non200++;
            if (id < seq)
                smp->lat_ns[smp->nlat++] = tr - smp->sent_ns[id];
            t_last = tr;
            xgw_reply_destroy(&rep);
        }
    }
    r->sent = seq;
    r->lost = r->sent - r->answered;
    r->elapsed = (double)(t_last - t0) / 1e9;
    r->rps = r->elapsed > 0 ? (double)r->ok / r->elapsed : 0;
    s_latencies(smp, r);
}

/* ---- report ------------------------------------------------------------- */

static void
s_header_row(void)
{
    printf("%-4s %-14s %9s %9s %7s %9s %8s %8s %8s %8s %7s %7s  %s\n", "dir", "mode", "sent",
           "200s", "seconds", "MESSAGE/s", "p50 us", "p99 us", "p99.9 us", "max us", "non200",
           "retx", "cpu us/MESSAGE sipd / broker / policyd (sipd cores)");
}

static void
s_row(const char *dir, const char *mode, const s_result_t *r)
{
    double n = r->ok ? (double)r->ok : 1;
    printf("%-4s %-14s %9llu %9llu %7.2f %9.0f %8.0f %8.0f %8.0f %8.0f %7llu %7llu  "
           "%.1f / %.1f / %.1f (%.2f)\n",
           dir, mode, (unsigned long long)r->sent, (unsigned long long)r->ok, r->elapsed, r->rps,
           r->p50_us, r->p99_us, r->p999_us, r->max_us, (unsigned long long)r->non200,
           (unsigned long long)r->retrans, r->cpu_sipd * 1e6 / n, r->cpu_broker * 1e6 / n,
           r->cpu_policyd * 1e6 / n, r->elapsed > 0 ? r->cpu_sipd / r->elapsed : 0);
    if (r->lost)
        printf("#   %llu requests never answered\n", (unsigned long long)r->lost);
    if (r->far_end < r->ok)
        printf("#   only %llu requests reached the far end (xmpp worker / UAS)\n",
               (unsigned long long)r->far_end);
    fflush(stdout);
}

/* ---- main --------------------------------------------------------------- */

typedef struct {
    long seconds;
    long window;
    long rate; /* -1: half the max */
    long body;
    long convs;
    bool do_in, do_out;
} s_opts_t;

static void
s_usage(void)
{
    fprintf(stderr, "usage: xgw-bench-sip [--seconds S] [--window W] [--rate R] [--body BYTES]\n"
                    "                     [--convs C] [--direction in|out|both] [--short]\n"
                    "  --seconds S    seconds per run (default 5)\n"
                    "  --window W     most requests waiting for an answer (default 64)\n"
                    "  --rate R       offered MESSAGE/s of the paced runs (default: half the max;\n"
                    "                 0 skips them)\n"
                    "  --body BYTES   message body size (default 64)\n"
                    "  --convs C      distinct (from, to) pairs (default 1000)\n"
                    "  --direction D  in = SIP->XMPP, out = XMPP->SIP (default both)\n"
                    "  --short        1 second per run\n");
}

static int
s_parse_args(int argc, char **argv, s_opts_t *o)
{
    *o = (s_opts_t){5, 64, -1, 64, 1000, true, true};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--short") == 0) {
            o->seconds = 1;
            continue;
        }
        if (strcmp(a, "--direction") == 0 && v) {
            o->do_in = strcmp(v, "in") == 0 || strcmp(v, "both") == 0;
            o->do_out = strcmp(v, "out") == 0 || strcmp(v, "both") == 0;
            if (!o->do_in && !o->do_out)
                return -1;
            i++;
            continue;
        }
        long *dst = NULL, lo = 1, hi = 0;
        if (strcmp(a, "--seconds") == 0) {
            dst = &o->seconds;
            hi = 3600;
        } else if (strcmp(a, "--window") == 0) {
            dst = &o->window;
            hi = 100000;
        } else if (strcmp(a, "--rate") == 0) {
            dst = &o->rate;
            lo = 0;
            hi = 10000000;
        } else if (strcmp(a, "--body") == 0) {
            dst = &o->body;
            hi = 1000;
        } else if (strcmp(a, "--convs") == 0) {
            dst = &o->convs;
            hi = 1000000;
        }
        if (!dst || !v || s_parse_long(v, lo, hi, dst) != 0)
            return -1;
        i++;
    }
    return 0;
}

static int
s_setup(s_env_t *e, int sip_port, int uas_port)
{
    snprintf(e->dir, sizeof e->dir, "/tmp/xgw-bench-sip-XXXXXX");
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
    snprintf(e->log_sipd, sizeof e->log_sipd, "%s/sipd.log", e->dir);
    snprintf(e->log_ctl, sizeof e->log_ctl, "%s/ctl.log", e->dir);
    if (s_write_config(e, sip_port, uas_port) != 0)
        return -1;
    e->broker = s_start(e, "xgw-broker", e->log_broker);
    e->policyd = s_start(e, "xgw-policyd", e->log_policyd);
    if (e->broker < 0 || e->policyd < 0 ||
        xt_wait_lines(e->log_policyd, "event=serving", 1, 20000) != 0) {
        fprintf(stderr, "bench: broker or policyd did not start (logs in %s)\n", e->dir);
        return -1;
    }
    if (s_ctl(e, "policy", "set", "global", "--federation", "on", "--xmpp", "on", NULL) != 0 ||
        s_ctl(e, "partner", "add", S_PARTNER, "--type", "federated", "--dialback", "off", NULL) !=
            0)
        return -1;
    e->sipd = s_start(e, "xgw-sipd", e->log_sipd);
    if (e->sipd < 0 || xt_wait_lines(e->log_sipd, "event=ruleset_loaded", 1, 20000) != 0 ||
        xt_wait_lines(e->log_sipd, "event=sip_listening", 1, 20000) != 0 ||
        xt_wait_lines(e->log_sipd, "event=serving", 1, 20000) != 0) {
        fprintf(stderr, "bench: sipd did not become ready (log %s)\n", e->log_sipd);
        return -1;
    }
    return 0;
}

static void
s_stop_all(s_env_t *e)
{
    pid_t order[] = {e->sipd, e->policyd, e->broker};
    const char *names[] = {"sipd", "policyd", "broker"};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (order[i] <= 0)
            continue;
        int st = xt_stop(order[i], 20000);
        if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fprintf(stderr, "bench: %s did not exit cleanly (status %d)\n", names[i], st);
    }
}

typedef struct {
    s_env_t *e;
    s_gen_t *g;
    xgw_client_t *client;
    s_samples_t *smp;
    long window, convs;
    const char *body;
    atomic_uint_least64_t *xmpp_delivered;
    atomic_uint_least64_t *uas_answered;
} s_ctx_t;

/* One run with CPU accounting around it. */
static void
s_measure(s_ctx_t *x, bool in, double rate, double seconds, s_result_t *r)
{
    memset(r, 0, sizeof *r);
    double s0 = s_proc_cpu(x->e->sipd), b0 = s_proc_cpu(x->e->broker);
    double p0 = s_proc_cpu(x->e->policyd), m0 = s_self_cpu();
    atomic_uint_least64_t *far = in ? x->xmpp_delivered : x->uas_answered;
    uint64_t f0 = atomic_load(far);
    if (in)
        s_run_in(x->g, rate, seconds, x->smp, r);
    else
        s_run_out(x->client, x->window, x->convs, x->body, rate, seconds, x->smp, r);
    r->cpu_sipd = s_proc_cpu(x->e->sipd) - s0;
    r->cpu_broker = s_proc_cpu(x->e->broker) - b0;
    r->cpu_policyd = s_proc_cpu(x->e->policyd) - p0;
    r->cpu_bench = s_self_cpu() - m0;
    r->far_end = atomic_load(far) - f0;
}

/* Both runs of one direction; returns 1 when a run had no 200 at all. */
static int
s_direction(s_ctx_t *x, bool in, const s_opts_t *o)
{
    const char *dir = in ? "in" : "out";
    s_result_t r;
    /* Warm-up: sipd's first requests set up state (sofia's transports,
     * the GWP client's broker connection). */
    s_measure(x, in, 0, 0.5, &r);
    if (r.ok == 0) {
        fprintf(stderr, "bench: %s: no 200 in the warm-up (sent %llu, answered %llu)\n", dir,
                (unsigned long long)r.sent, (unsigned long long)r.answered);
        return 1;
    }
    s_measure(x, in, 0, (double)o->seconds, &r);
    s_row(dir, "max", &r);
    int bad = r.ok == 0 || r.far_end < r.ok;
    double rate = o->rate >= 0 ? (double)o->rate : r.rps / 2;
    if (rate >= 1) {
        char mode[32];
        snprintf(mode, sizeof mode, "paced %.0f/s", rate);
        s_measure(x, in, rate, (double)o->seconds, &r);
        s_row(dir, mode, &r);
        bad |= r.ok == 0 || r.far_end < r.ok;
    }
    return bad;
}

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

    s_env_t e;
    memset(&e, 0, sizeof e);
    if (s_find_bins(&e) != 0)
        return 2;
    s_uas_t uas;
    memset(&uas, 0, sizeof uas);
    int uas_port = 0, sip_port = s_free_port();
    uas.fd = s_udp_socket(0, &uas_port);
    s_gen_t g;
    memset(&g, 0, sizeof g);
    g.fd = s_udp_socket(0, &g.port);
    if (uas.fd < 0 || g.fd < 0 || sip_port < 0) {
        perror("bench: sockets");
        return 2;
    }
    g.sipd.sin_family = AF_INET;
    g.sipd.sin_port = htons((uint16_t)sip_port);
    inet_pton(AF_INET, "127.0.0.1", &g.sipd.sin_addr);
    g.window = o.window;
    g.convs = o.convs;
    char body[1001];
    memset(body, 'x', (size_t)o.body);
    body[o.body] = '\0';
    g.text = body;

    int failed = 0;
    s_xmpp_t xw;
    memset(&xw, 0, sizeof xw);
    pthread_t xt, ut;
    bool xt_on = false, ut_on = false;
    xgw_client_t *client = NULL;
    s_samples_t smp;
    memset(&smp, 0, sizeof smp);

    xb_print_machine("xgw-bench-sip");
    if (s_setup(&e, sip_port, uas_port) != 0) {
        failed = 1;
        goto done;
    }
    snprintf(xw.endpoint, sizeof xw.endpoint, "%s", e.back);
    if (pthread_create(&xt, NULL, s_xmpp_main, &xw) != 0 ||
        pthread_create(&ut, NULL, s_uas_main, &uas) != 0) {
        failed = 1;
        goto done;
    }
    xt_on = ut_on = true;
    xgw_client_opts_t co;
    xgw_client_opts_default(&co);
    client = xgw_client_new(e.front, &co);
    if (!client) {
        failed = 1;
        goto done;
    }
    printf("# sipd %s/xgw-sipd (pid %d) on udp 127.0.0.1:%d, next hop (bench UAS) 127.0.0.1:%d; "
           "window %ld, %ld-byte bodies, %ld conversations, %ld s per run\n",
           e.bindir, (int)e.sipd, sip_port, uas_port, o.window, o.body, o.convs, o.seconds);
    printf("# in = SIP MESSAGE -> sipd -> Deliver to \"xmpp\" (bench worker, 200) -> SIP 200;\n"
           "# out = Deliver to \"sip\" -> sipd -> MESSAGE to the bench UAS (200) -> Deliver 200\n");
    printf("# targets: 10,000 MESSAGE/s through one sipd on one core; < 50 us sipd CPU per "
           "MESSAGE\n");
    s_header_row();
    fflush(stdout);
    s_ctx_t x = {&e, &g, client, &smp, o.window, o.convs, body, &xw.delivered, &uas.answered};
    if (o.do_in)
        failed |= s_direction(&x, true, &o);
    if (o.do_out)
        failed |= s_direction(&x, false, &o);
    printf("# xmpp worker: %llu Deliver answered (%llu sampled wrong); UAS: %llu MESSAGE "
           "answered, %llu unreadable\n",
           (unsigned long long)atomic_load(&xw.delivered),
           (unsigned long long)atomic_load(&xw.malformed),
           (unsigned long long)atomic_load(&uas.answered),
           (unsigned long long)atomic_load(&uas.bad));
    if (atomic_load(&xw.malformed) || atomic_load(&uas.bad))
        failed = 1;

done:
    xgw_client_destroy(&client);
    s_stop_all(&e);
    if (xt_on) {
        atomic_store(&xw.stop, true);
        pthread_join(xt, NULL);
    }
    if (ut_on) {
        atomic_store(&uas.stop, true);
        pthread_join(ut, NULL);
    }
    xt_cleanup();
    close(uas.fd);
    close(g.fd);
    free(smp.sent_ns);
    free(smp.next_ns);
    free(smp.gap_ns);
    free(smp.lat_ns);
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
