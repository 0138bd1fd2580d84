/*
 * bench_broker.c - round-trip throughput and latency through a real
 * xgw-broker process and 1..N echo worker processes on ipc:// in a
 * temporary directory.
 *
 * The bench starts the real xgw-broker binary (next to this one, or in
 * $XGW_BIN_DIR) and runs the workers as copies of itself (--worker mode,
 * started with posix_spawn, so no ZeroMQ state is ever inherited across a
 * fork). The client runs in this process: it keeps up to --window requests
 * outstanding (or sends at a fixed --rate) and measures each request's time
 * from send to reply with the monotonic clock.
 *
 * Exits 1 if any request is lost (sent != answered), answered with a status
 * other than 200, or echoed wrongly, so it doubles as a smoke test
 * (--short). See bench/README.md.
 */
#include "support.h"
#include "support_proc.h"
#include "xgw_client.h"
#include "xgw_error.h"
#include "xgw_gwp.h"
#include "xgw_log.h"
#include "xgw_worker.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define S_SERVICE "bench"
#define S_MAX_WORKERS 64
#define S_DEADLINE_MS 60000
#define S_WHOAMI "whoami"

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

/* CPU seconds (user + system) used so far by pid, from /proc/PID/stat. */
static double
s_proc_cpu(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields after the ")" that closes comm: state is field 3, utime 14,
     * stime 15. */
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    p++;
    double ticks = 0;
    for (int field = 3; field <= 15 && *p; field++) {
        while (*p == ' ')
            p++;
        char *end = p;
        while (*end && *end != ' ')
            end++;
        if (field == 14 || field == 15)
            ticks += strtod(p, NULL);
        p = end;
    }
    return ticks / (double)sysconf(_SC_CLK_TCK);
}

static double
s_self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* ---- worker mode ---------------------------------------------------------- */

static volatile sig_atomic_t s_worker_stop;

static void
s_on_term(int sig)
{
    (void)sig;
    s_worker_stop = 1;
}

/* xgw-bench-broker --worker BACKEND INSTANCE CREDIT: echoes every body back
 * with status 200 (the instance name for S_WHOAMI) until SIGTERM. */
static int
s_worker_main(const char *backend, const char *instance, uint32_t credit)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    zsys_handler_set(NULL);
    xgw_log_init("bench-worker", 0);
    xgw_log_set_level(XGW_LOG_WARN);

    xgw_worker_t *w = xgw_worker_new(backend, S_SERVICE, instance, credit, NULL);
    if (!w) {
        fprintf(stderr, "worker %s: cannot start\n", instance);
        return 1;
    }
    void *sock = xgw_worker_socket(w);
    while (!s_worker_stop) {
        int64_t wait = xgw_worker_tick(w);
        zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, (long)wait) < 0 && errno != EINTR)
            break;
        xgw_request_t *req = NULL;
        while (xgw_worker_recv(w, &req) == 0) {
            if (req->body_len == sizeof S_WHOAMI - 1 &&
                memcmp(req->body, S_WHOAMI, req->body_len) == 0)
                (void)xgw_worker_reply(w, &req, 200, instance, strlen(instance));
            else
                (void)xgw_worker_reply(w, &req, 200, req->body, req->body_len);
        }
    }
    xgw_worker_destroy(&w);
    return 0;
}

/* ---- processes ---------------------------------------------------------- */

typedef struct {
    char self[PATH_MAX];
    char broker_bin[PATH_MAX];
    char dir[64];
    char front[160];
    char back[160];
    char broker_log[160];
} s_paths_t;

static int
s_find_broker(s_paths_t *p)
{
    ssize_t n = readlink("/proc/self/exe", p->self, sizeof p->self - 1);
    if (n <= 0)
        return -1;
    p->self[n] = '\0';
    const char *env = getenv("XGW_BIN_DIR");
    if (env) {
        snprintf(p->broker_bin, sizeof p->broker_bin, "%s/xgw-broker", env);
        return access(p->broker_bin, X_OK);
    }
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", p->self);
    const char *dir = dirname(copy);
    snprintf(p->broker_bin, sizeof p->broker_bin, "%s/../xgw-broker", dir);
    if (access(p->broker_bin, X_OK) == 0)
        return 0;
    snprintf(p->broker_bin, sizeof p->broker_bin, "%s/xgw-broker", dir);
    return access(p->broker_bin, X_OK);
}

static pid_t
s_start_broker(const s_paths_t *p)
{
    char fset[256], bset[256];
    snprintf(fset, sizeof fset, "common.broker_frontend=%s", p->front);
    snprintf(bset, sizeof bset, "common.broker_backend=%s", p->back);
    char *argv[] = {(char *)p->broker_bin,
                    "--set",
                    fset,
                    "--set",
                    bset,
                    "--set",
                    "broker.metrics_port=0",
                    "--set",
                    "broker.queue_max=1000000",
                    "--set",
                    "common.log_level=warn",
                    NULL};
    return xt_spawn(argv, p->broker_log);
}

static pid_t
s_start_worker(const s_paths_t *p, int i, long credit)
{
    char instance[32], cr[32], log[192];
    snprintf(instance, sizeof instance, "bench.%02d", i);
    snprintf(cr, sizeof cr, "%ld", credit);
    snprintf(log, sizeof log, "%s/%s.log", p->dir, instance);
    char *argv[] = {(char *)p->self, "--worker", (char *)p->back, instance, cr, NULL};
    return xt_spawn(argv, log);
}

/* ---- client side -------------------------------------------------------- */

typedef struct {
    int workers;
    long window;
    double rate; /* 0: as fast as the window allows */
    double seconds;
    size_t body_len;
} s_run_opts_t;

typedef struct {
    uint64_t sent;
    uint64_t answered;
    uint64_t bad_status;
    uint64_t bad_body;
    uint64_t resent;
    double elapsed;
    double rps;
    double p50_us, p99_us, p999_us, max_us;
    double cpu_broker, cpu_workers, cpu_client; /* fraction of one core */
    int setup_failed;
} s_result_t;

typedef struct {
    int64_t *sent_ns; /* by sequence number */
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
    int64_t *a = realloc(s->sent_ns, cap * sizeof *a);
    if (!a)
        return -1;
    s->sent_ns = a;
    int64_t *b = realloc(s->lat_ns, cap * sizeof *b);
    if (!b)
        return -1;
    s->lat_ns = b;
    s->cap = cap;
    return 0;
}

static xgw_client_t *
s_client_new(const s_paths_t *p, long window)
{
    xgw_client_opts_t o;
    xgw_client_opts_default(&o);
    if ((size_t)window * 2 > o.max_outstanding)
        o.max_outstanding = (size_t)window * 2;
    return xgw_client_new(p->front, &o);
}

/* Waits for an answer from every worker (WHOAMI requests answered with the
 * instance name) so that all of them are registered before measuring. */
static int
s_wait_workers(xgw_client_t *c, int workers)
{
    char seen[S_MAX_WORKERS][32];
    int nseen = 0;
    int64_t end = zclock_mono() + 15000;
    int outstanding = 0;
    while (nseen < workers && zclock_mono() < end) {
        while (outstanding < 4 * workers) {
            if (xgw_client_send(c, S_SERVICE, NULL, xgw_gwp_now_ms() + 10000, S_WHOAMI,
                                sizeof S_WHOAMI - 1, NULL, NULL) != 0)
                break;
            outstanding++;
        }
        xgw_reply_t *r = NULL;
        if (xgw_client_wait(c, 100, &r) != 0)
            continue;
        outstanding--;
        if (r->status == 200 && r->body_len > 0 && r->body_len < 32) {
            char name[32];
            memcpy(name, r->body, r->body_len);
            name[r->body_len] = '\0';
            int known = 0;
            for (int i = 0; i < nseen; i++)
                known |= strcmp(seen[i], name) == 0;
            if (!known)
                snprintf(seen[nseen++], sizeof seen[0], "%s", name);
        }
        xgw_reply_destroy(&r);
    }
    /* Collect what is still out so the measurement starts clean. */
    while (outstanding > 0) {
        xgw_reply_t *r = NULL;
        if (xgw_client_wait(c, 5000, &r) != 0)
            break;
        outstanding--;
        xgw_reply_destroy(&r);
    }
    return nseen == workers && outstanding == 0 ? 0 : -1;
}

/* Waits up to timeout_ns for input on the client's socket. zmq_poll counts
 * in milliseconds, too coarse to pace tens of thousands of sends a second,
 * so this waits on ZMQ_FD with ppoll: the descriptor only signals a change,
 * hence ZMQ_EVENTS is checked first. */
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

/* Drives the load for one configuration and fills res. */
static void
s_drive(xgw_client_t *c, const s_run_opts_t *o, s_samples_t *smp, s_result_t *res)
{
    uint8_t *body = malloc(o->body_len + 1);
    if (!body) {
        res->setup_failed = 1;
        return;
    }
    memset(body, 'b', o->body_len);
    xgw_client_stats_t st0;
    xgw_client_stats(c, &st0);

    uint64_t seq = 0;
    smp->nlat = 0;
    const int64_t t0 = s_now_ns();
    const int64_t t_stop = t0 + (int64_t)(o->seconds * 1e9);
    int64_t t_last = t0;
    const int64_t drain_end_extra = 30LL * 1000000000LL;
    void *sock = xgw_client_socket(c);
    int fd = xgw_client_fd(c);
    for (;;) {
        int64_t now = s_now_ns();
        int sending = now < t_stop;
        if (!sending && xgw_client_outstanding(c) == 0)
            break;
        if (!sending && now > t_stop + drain_end_extra)
            break; /* lost requests: counted below */

        /* Send what the window (and the rate) allows. */
        uint64_t allowed = UINT64_MAX;
        if (o->rate > 0)
            allowed = (uint64_t)((double)(now - t0) * o->rate / 1e9) + 1;
        while (sending && seq < allowed && (long)xgw_client_outstanding(c) < o->window) {
            if (s_samples_grow(smp, seq + 1) != 0)
                break;
            /* The first 8 bytes carry the sequence number, so the echo can
             * be checked and matched. */
            if (o->body_len >= sizeof seq)
                memcpy(body, &seq, sizeof seq);
            int64_t ts = s_now_ns();
            int rc = xgw_client_send(c, S_SERVICE, NULL, xgw_gwp_now_ms() + S_DEADLINE_MS, body,
                                     o->body_len, (void *)(uintptr_t)seq, NULL);
            if (rc != 0)
                break;
            smp->sent_ns[seq] = ts;
            seq++;
        }

        /* Wait for answers; in paced mode no longer than the next send. */
        int64_t timeout_ns = xgw_client_tick(c) * 1000000LL;
        if (timeout_ns > 100000000LL)
            timeout_ns = 100000000LL;
        if (sending && o->rate > 0) {
            int64_t next_ns = t0 + (int64_t)((double)seq * 1e9 / o->rate);
            int64_t until = next_ns - s_now_ns();
            if (until < timeout_ns)
                timeout_ns = until < 0 ? 0 : until;
        }
        if (sending && o->rate <= 0 && (long)xgw_client_outstanding(c) < o->window)
            timeout_ns = 0;
        s_wait_input(sock, fd, timeout_ns);

        xgw_reply_t *r = NULL;
        while (xgw_client_recv(c, &r) == 0) {
            int64_t tr = s_now_ns();
            uint64_t id = (uint64_t)(uintptr_t)r->user;
            res->answered++;
            if (r->status != 200) {
                res->bad_status++;
            } else if (r->body_len != o->body_len ||
                       (o->body_len >= sizeof id && memcmp(r->body, &id, sizeof id) != 0)) {
                res->bad_body++;
            }
            if (id < seq)
                smp->lat_ns[smp->nlat++] = tr - smp->sent_ns[id];
            t_last = tr;
            xgw_reply_destroy(&r);
        }
    }
    free(body);
    res->sent = seq;
    res->elapsed = (double)(t_last - t0) / 1e9;
    res->rps = res->elapsed > 0 ? (double)res->answered / res->elapsed : 0;
    xgw_client_stats_t st1;
    xgw_client_stats(c, &st1);
    res->resent = st1.resent - st0.resent;
    if (smp->nlat > 0) {
        qsort(smp->lat_ns, smp->nlat, sizeof smp->lat_ns[0], s_cmp_i64);
        size_t n = smp->nlat;
        res->p50_us = (double)smp->lat_ns[(n - 1) * 50 / 100] / 1e3;
        res->p99_us = (double)smp->lat_ns[(n - 1) * 99 / 100] / 1e3;
        res->p999_us = (double)smp->lat_ns[(n - 1) * 999 / 1000] / 1e3;
        res->max_us = (double)smp->lat_ns[n - 1] / 1e3;
    }
}

/* One configuration: fresh broker, fresh workers, fresh client. */
static void
s_run(const s_paths_t *p, const s_run_opts_t *o, long credit, s_samples_t *smp, s_result_t *res)
{
    memset(res, 0, sizeof *res);
    pid_t broker = s_start_broker(p);
    pid_t workers[S_MAX_WORKERS];
    int nw = 0;
    for (int i = 0; i < o->workers; i++) {
        workers[nw] = s_start_worker(p, i, credit);
        if (workers[nw] > 0)
            nw++;
    }
    xgw_client_t *c = broker > 0 && nw == o->workers ? s_client_new(p, o->window) : NULL;
    if (!c || s_wait_workers(c, o->workers) != 0) {
        fprintf(stderr, "bench: broker or workers did not come up (see %s)\n", p->broker_log);
        res->setup_failed = 1;
    } else {
        double cb = s_proc_cpu(broker), cc = s_self_cpu(), cw = 0;
        for (int i = 0; i < nw; i++)
            cw += s_proc_cpu(workers[i]);
        s_drive(c, o, smp, res);
        double cw1 = 0;
        for (int i = 0; i < nw; i++)
            cw1 += s_proc_cpu(workers[i]);
        if (res->elapsed > 0) {
            res->cpu_broker = (s_proc_cpu(broker) - cb) / res->elapsed;
            res->cpu_workers = (cw1 - cw) / res->elapsed;
            res->cpu_client = (s_self_cpu() - cc) / res->elapsed;
        }
    }
    xgw_client_destroy(&c);
    for (int i = 0; i < nw; i++) {
        int st = xt_stop(workers[i], 5000);
        if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fprintf(stderr, "bench: worker %d did not exit cleanly (status %d)\n", i, st);
    }
    int st = xt_stop(broker, 5000);
    if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fprintf(stderr, "bench: broker did not exit cleanly (status %d)\n", st);
}

/* ---- report ------------------------------------------------------------- */

static void
s_header(void)
{
    printf("%-6s %-7s %7s %9s %7s %9s %9s %9s %9s %9s  %s\n", "mode", "workers", "window",
           "requests", "seconds", "req/s", "p50 us", "p99 us", "p99.9 us", "max us",
           "cpu broker/workers/client");
}

static void
s_row(const char *mode, const s_run_opts_t *o, const s_result_t *r)
{
    printf("%-6s %-7d %7ld %9llu %7.2f %9.0f %9.0f %9.0f %9.0f %9.0f  %.2f/%.2f/%.2f\n", mode,
           o->workers, o->window, (unsigned long long)r->answered, r->elapsed, r->rps, r->p50_us,
           r->p99_us, r->p999_us, r->max_us, r->cpu_broker, r->cpu_workers, r->cpu_client);
    fflush(stdout);
}

/* Checks one run; returns 0 if every request came back 200 with its body. */
static int
s_check(const char *mode, const s_run_opts_t *o, const s_result_t *r)
{
    if (r->setup_failed) {
        fprintf(stderr, "bench: %s workers=%d: setup failed\n", mode, o->workers);
        return 1;
    }
    if (r->sent != r->answered || r->bad_status || r->bad_body) {
        fprintf(stderr,
                "bench: %s workers=%d: sent=%llu answered=%llu non-200=%llu bad-body=%llu "
                "resent=%llu\n",
                mode, o->workers, (unsigned long long)r->sent, (unsigned long long)r->answered,
                (unsigned long long)r->bad_status, (unsigned long long)r->bad_body,
                (unsigned long long)r->resent);
        return 1;
    }
    return 0;
}

static void
s_usage(void)
{
    fprintf(stderr,
            "usage: xgw-bench-broker [--seconds S] [--window W] [--workers LIST] [--rate R]\n"
            "                        [--body BYTES] [--credit C] [--short]\n"
            "  --seconds S     seconds per configuration (default 5)\n"
            "  --window W      most requests outstanding at once (default 1000)\n"
            "  --workers LIST  worker counts for the max-throughput runs (default 1,2,4)\n"
            "  --rate R        offered rate of the paced run with 2 workers, req/s\n"
            "                  (default: half the max measured with 2 workers; 0 skips it)\n"
            "  --body BYTES    request body size (default 64)\n"
            "  --credit C      credit window of each worker (default: the window)\n"
            "  --short         1 second per configuration (smoke test)\n");
}

static int
s_parse_workers(const char *text, int *list, int *n)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    *n = 0;
    char *p = buf;
    while (*p) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        long v;
        if (s_parse_long(p, 1, S_MAX_WORKERS, &v) != 0 || *n >= 16)
            return -1;
        list[(*n)++] = (int)v;
        if (!comma)
            break;
        p = comma + 1;
    }
    return *n > 0 ? 0 : -1;
}

int
main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--worker") == 0) {
        long credit;
        if (s_parse_long(argv[4], 1, XGW_GWP_CREDIT_MAX, &credit) != 0)
            return 2;
        return s_worker_main(argv[2], argv[3], (uint32_t)credit);
    }

    double seconds = 5;
    long window = 1000, body = 64, credit = 0;
    double rate = -1;
    int wl[16] = {1, 2, 4};
    int nwl = 3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        if (strcmp(a, "--short") == 0) {
            seconds = 1;
        } else if (strcmp(a, "--seconds") == 0 && v && s_parse_long(v, 1, 3600, &n) == 0) {
            seconds = (double)n;
            i++;
        } else if (strcmp(a, "--window") == 0 && v && s_parse_long(v, 1, 1000000, &n) == 0) {
            window = n;
            i++;
        } else if (strcmp(a, "--rate") == 0 && v && s_parse_long(v, 0, 100000000, &n) == 0) {
            rate = (double)n;
            i++;
        } else if (strcmp(a, "--body") == 0 && v && s_parse_long(v, 0, 1 << 20, &n) == 0) {
            body = n;
            i++;
        } else if (strcmp(a, "--credit") == 0 && v &&
                   s_parse_long(v, 1, XGW_GWP_CREDIT_MAX, &n) == 0) {
            credit = n;
            i++;
        } else if (strcmp(a, "--workers") == 0 && v && s_parse_workers(v, wl, &nwl) == 0) {
            i++;
        } else {
            s_usage();
            return 2;
        }
    }
    if (credit == 0)
        credit = window < (long)XGW_GWP_CREDIT_MAX ? window : (long)XGW_GWP_CREDIT_MAX;

    xgw_log_init("bench", 0);
    xgw_log_set_level(XGW_LOG_ERROR);
    signal(SIGPIPE, SIG_IGN);

    s_paths_t p;
    memset(&p, 0, sizeof p);
    if (s_find_broker(&p) != 0) {
        fprintf(stderr, "bench: xgw-broker not found (tried %s; set XGW_BIN_DIR)\n", p.broker_bin);
        return 2;
    }
    snprintf(p.dir, sizeof p.dir, "/tmp/xgw-bench-XXXXXX");
    if (!mkdtemp(p.dir)) {
        perror("bench: mkdtemp");
        return 2;
    }
    snprintf(p.front, sizeof p.front, "ipc://%s/front", p.dir);
    snprintf(p.back, sizeof p.back, "ipc://%s/back", p.dir);
    snprintf(p.broker_log, sizeof p.broker_log, "%s/broker.log", p.dir);

    xb_print_machine("xgw-bench-broker");
    printf("# broker: %s; body %ld bytes; worker credit %ld; %.0f s per run\n", p.broker_bin, body,
           credit, seconds);
    s_header();

    s_samples_t smp;
    memset(&smp, 0, sizeof smp);
    int failed = 0;
    double max_at_2 = 0, max_last = 0;
    for (int i = 0; i < nwl; i++) {
        s_run_opts_t o = {wl[i], window, 0, seconds, (size_t)body};
        s_result_t r;
        s_run(&p, &o, credit, &smp, &r);
        s_row("max", &o, &r);
        failed |= s_check("max", &o, &r);
        if (wl[i] == 2)
            max_at_2 = r.rps;
        max_last = r.rps;
    }
    if (rate < 0)
        rate = (max_at_2 > 0 ? max_at_2 : max_last) / 2;
    if (rate > 0) {
        s_run_opts_t o = {2, window, rate, seconds, (size_t)body};
        s_result_t r;
        s_run(&p, &o, credit, &smp, &r);
        char mode[32];
        snprintf(mode, sizeof mode, "paced");
        s_row(mode, &o, &r);
        printf("# paced: offered %.0f req/s\n", rate);
        failed |= s_check("paced", &o, &r);
    }
    free(smp.sent_ns);
    free(smp.lat_ns);

    /* Leave nothing behind unless asked (logs help when a run fails). */
    if (!getenv("XGW_KEEP_TMP") && !failed) {
        char path[192];
        const char *names[] = {"broker.log", "front", "back"};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            snprintf(path, sizeof path, "%s/%s", p.dir, names[i]);
            (void)unlink(path);
        }
        for (int i = 0; i < S_MAX_WORKERS; i++) {
            snprintf(path, sizeof path, "%s/bench.%02d.log", p.dir, i);
            (void)unlink(path);
        }
        (void)rmdir(p.dir);
    } else {
        fprintf(stderr, "bench: logs kept in %s\n", p.dir);
    }
    if (failed)
        fprintf(stderr, "bench: FAILED (lost or bad answers)\n");
    return failed ? 1 : 0;
}
