/*
 * test_broker.c - the broker, workers and clients as real processes on
 * ipc:// in a temporary directory: fair dispatch, kill -9 of a worker with
 * requests in flight, broker restart, deadlines, full queues, hung workers,
 * garbage on the wire.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support_certd.h"
#include "support_proc.h"
#include "xgw_client.h"
#include "xgw_error.h"
#include "xgw_log.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_HB_MS 200

typedef struct {
    char dir[256];
    char front[300];
    char back[300];
    char broker_log[300];
    pid_t broker;
} s_env_t;

typedef struct {
    int sent;
    int answered;
    int by_status[700];
    char names[8][64];
    int per_name[8];
    int nnames;
    int repeats; /* a msg_id answered twice to the caller: must stay 0 */
    zhashx_t *seen;
} s_result_t;

static void
s_set(char *buf, size_t len, const char *fmt, const char *value)
{
    snprintf(buf, len, fmt, value);
}

static pid_t
s_start_broker(s_env_t *e, const char *extra)
{
    char fset[400], bset[400];
    s_set(fset, sizeof fset, "common.broker_frontend=%s", e->front);
    s_set(bset, sizeof bset, "common.broker_backend=%s", e->back);
    char *argv[] = {(char *)xt_bin("xgw-broker"),
                    "--set",
                    fset,
                    "--set",
                    bset,
                    "--set",
                    "broker.metrics_port=0",
                    "--set",
                    "common.heartbeat_interval=200ms",
                    "--set",
                    "broker.expiry_check_interval=20ms",
                    "--set",
                    (char *)(extra ? extra : "common.log_level=info"),
                    NULL};
    e->broker = xt_spawn(argv, e->broker_log);
    return e->broker;
}

static pid_t
s_start_worker(s_env_t *e, const char *service, const char *instance, const char *credit,
               const char *delay, const char *hang_after)
{
    char log[400], wlog[400];
    snprintf(log, sizeof log, "%s/%s.log", e->dir, instance);
    snprintf(wlog, sizeof wlog, "%s/%s.executed", e->dir, instance);
    char *argv[] = {(char *)xt_bin("xgw-testworker"),
                    "--backend",
                    e->back,
                    "--service",
                    (char *)service,
                    "--instance",
                    (char *)instance,
                    "--credit",
                    (char *)credit,
                    "--delay-ms",
                    (char *)delay,
                    "--heartbeat-ms",
                    "200",
                    "--log",
                    wlog,
                    "--hang-after",
                    (char *)(hang_after ? hang_after : "-1"),
                    NULL};
    if (!hang_after) {
        argv[15] = NULL; /* drop --hang-after */
    }
    return xt_spawn(argv, log);
}

static int
s_setup(void **state)
{
    s_env_t *e = calloc(1, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "%s", xt_tmpdir());
    snprintf(e->front, sizeof e->front, "ipc://%s/front", e->dir);
    snprintf(e->back, sizeof e->back, "ipc://%s/back", e->dir);
    snprintf(e->broker_log, sizeof e->broker_log, "%s/broker.log", e->dir);
    *state = e;
    return 0;
}

static int
s_teardown(void **state)
{
    s_env_t *e = *state;
    xt_cleanup();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
    if (!getenv("XGW_KEEP_TMP") && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", e->dir);
    free(e);
    return 0;
}

static xgw_client_t *
s_client(s_env_t *e)
{
    xgw_client_opts_t o;
    xgw_client_opts_default(&o);
    o.heartbeat_ms = S_HB_MS;
    o.liveness = 3;
    o.retry_ms = 500;
    xgw_client_t *c = xgw_client_new(e->front, &o);
    assert_non_null(c);
    return c;
}

static void
s_record(s_result_t *r, xgw_reply_t *rep)
{
    char key[33];
    xgw_gwp_msgid_hex(rep->msg_id, key);
    if (zhashx_lookup(r->seen, key))
        r->repeats++;
    else
        zhashx_insert(r->seen, key, (void *)1);
    r->answered++;
    if (rep->status < 700)
        r->by_status[rep->status]++;
    if (rep->status == 200 && rep->body_len > 0 && rep->body_len < 64) {
        char name[64];
        memcpy(name, rep->body, rep->body_len);
        name[rep->body_len] = '\0';
        int i = 0;
        for (; i < r->nnames; i++) {
            if (strcmp(r->names[i], name) == 0)
                break;
        }
        if (i == r->nnames && r->nnames < 8) {
            snprintf(r->names[i], sizeof r->names[i], "%s", name);
            r->nnames++;
        }
        if (i < 8)
            r->per_name[i]++;
    }
}

typedef void (*s_trigger_fn)(void *ud);

/* Sends total requests to service with at most window outstanding, each
 * with a deadline deadline_ms from its send; calls trigger once when
 * trigger_at answers have arrived. Returns when all are answered or after
 * timeout_ms. */
static void
s_drive(xgw_client_t *c, const char *service, int total, int window, int64_t deadline_ms,
        int64_t timeout_ms, int trigger_at, s_trigger_fn trigger, void *ud, s_result_t *r)
{
    memset(r, 0, sizeof *r);
    r->seen = zhashx_new();
    int64_t end = zclock_mono() + timeout_ms;
    int triggered = 0;
    const char body[] = "hello";
    while (r->answered < total && zclock_mono() < end) {
        while (r->sent < total && (int)xgw_client_outstanding(c) < window) {
            int rc = xgw_client_send(c, service, NULL, xgw_gwp_now_ms() + deadline_ms, body,
                                     sizeof body, NULL, NULL);
            assert_int_equal(rc, 0);
            r->sent++;
        }
        int64_t wait = xgw_client_tick(c);
        if (wait > 10)
            wait = 10;
        zmq_pollitem_t item = {xgw_client_socket(c), 0, ZMQ_POLLIN, 0};
        zmq_poll(&item, 1, (long)wait);
        xgw_reply_t *rep = NULL;
        while (xgw_client_recv(c, &rep) == 0) {
            s_record(r, rep);
            xgw_reply_destroy(&rep);
            if (!triggered && trigger && r->answered >= trigger_at) {
                triggered = 1;
                trigger(ud);
            }
        }
    }
    zhashx_destroy(&r->seen);
}

static void
s_wait_workers(s_env_t *e, int count)
{
    assert_int_equal(xt_wait_lines(e->broker_log, "event=worker_ready", count, 10000), 0);
}

/* 30,000 requests over 3 workers: each gets a fair share. */
static void
test_fair_share(void **state)
{
    s_env_t *e = *state;
    assert_true(s_start_broker(e, NULL) > 0);
    s_start_worker(e, "echo", "w.00", "100", "0", NULL);
    s_start_worker(e, "echo", "w.01", "100", "0", NULL);
    s_start_worker(e, "echo", "w.02", "100", "0", NULL);
    s_wait_workers(e, 3);
    xgw_client_t *c = s_client(e);
    s_result_t r;
    s_drive(c, "echo", 30000, 1000, 30000, 120000, 0, NULL, NULL, &r);
    printf("fair_share: answered=%d 200=%d", r.answered, r.by_status[200]);
    for (int i = 0; i < r.nnames; i++)
        printf(" %s=%d", r.names[i], r.per_name[i]);
    printf("\n");
    assert_int_equal(r.answered, 30000);
    assert_int_equal(r.by_status[200], 30000);
    assert_int_equal(r.repeats, 0);
    assert_int_equal(r.nnames, 3);
    for (int i = 0; i < 3; i++) {
        assert_true(r.per_name[i] >= 30000 * 25 / 100);
        assert_true(r.per_name[i] <= 30000 * 42 / 100);
    }
    xgw_client_destroy(&c);
}

typedef struct {
    pid_t pid;
    int64_t at;
} s_kill_t;

static void
s_kill9(void *ud)
{
    s_kill_t *k = ud;
    xt_signal(k->pid, SIGKILL);
    k->at = zclock_mono();
}

/* kill -9 a worker with requests in flight: nothing lost, each answered
 * once to the caller, the re-executions are visible in the workers' logs. */
static void
test_kill9_worker(void **state)
{
    s_env_t *e = *state;
    assert_true(s_start_broker(e, NULL) > 0);
    pid_t a = s_start_worker(e, "echo", "w.00", "200", "2", NULL);
    s_start_worker(e, "echo", "w.01", "200", "2", NULL);
    s_wait_workers(e, 2);
    xgw_client_t *c = s_client(e);
    s_kill_t k = {a, 0};
    s_result_t r;
    s_drive(c, "echo", 1000, 1000, 30000, 60000, 150, s_kill9, &k, &r);
    xgw_client_stats_t st;
    xgw_client_stats(c, &st);
    char la[400], lb[400];
    snprintf(la, sizeof la, "%s/w.00.executed", e->dir);
    snprintf(lb, sizeof lb, "%s/w.01.executed", e->dir);
    int executed = xt_count_lines(la, "") + xt_count_lines(lb, "");
    printf("kill9_worker: answered=%d 200=%d executed=%d duplicates_dropped=%llu resent=%llu\n",
           r.answered, r.by_status[200], executed, (unsigned long long)st.duplicates,
           (unsigned long long)st.resent);
    assert_int_equal(r.answered, 1000);
    assert_int_equal(r.by_status[200], 1000);
    assert_int_equal(r.repeats, 0);
    assert_true(executed >= 1000);
    assert_int_equal(xt_count_lines(e->broker_log, "instance=w.00 reason=heartbeat_expired"), 1);
    xgw_client_destroy(&c);
}

typedef struct {
    s_env_t *e;
} s_restart_t;

static void
s_restart_broker(void *ud)
{
    s_restart_t *rs = ud;
    xt_signal(rs->e->broker, SIGKILL);
    xt_wait(rs->e->broker, 2000);
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    s_start_broker(rs->e, NULL);
}

/* The broker dies with requests queued and in flight and comes back: the
 * workers re-register, the client re-sends, every request completes. */
static void
test_broker_restart(void **state)
{
    s_env_t *e = *state;
    assert_true(s_start_broker(e, NULL) > 0);
    s_start_worker(e, "echo", "w.00", "50", "2", NULL);
    s_start_worker(e, "echo", "w.01", "50", "2", NULL);
    s_wait_workers(e, 2);
    xgw_client_t *c = s_client(e);
    s_restart_t rs = {e};
    s_result_t r;
    s_drive(c, "echo", 600, 600, 30000, 60000, 100, s_restart_broker, &rs, &r);
    xgw_client_stats_t st;
    xgw_client_stats(c, &st);
    printf("broker_restart: answered=%d 200=%d resent=%llu broker_restarts=%llu\n", r.answered,
           r.by_status[200], (unsigned long long)st.resent, (unsigned long long)st.broker_restarts);
    assert_int_equal(r.answered, 600);
    assert_int_equal(r.by_status[200], 600);
    assert_int_equal(r.repeats, 0);
    assert_true(st.resent > 0);
    /* Both workers registered with the new broker. */
    assert_true(xt_count_lines(e->broker_log, "event=worker_ready") >= 4);
    xgw_client_destroy(&c);
}

/* Deadlines: the broker answers 504 for a request nobody serves, and for
 * one whose worker is too slow; the slow worker's late answer is dropped. */
static void
test_deadline(void **state)
{
    s_env_t *e = *state;
    assert_true(s_start_broker(e, NULL) > 0);
    s_start_worker(e, "slow", "slow.00", "1", "1500", NULL);
    s_wait_workers(e, 1);
    xgw_client_t *c = s_client(e);

    s_result_t r;
    int64_t t0 = zclock_mono();
    s_drive(c, "nobody", 20, 20, 300, 10000, 0, NULL, NULL, &r);
    int64_t took = zclock_mono() - t0;
    xgw_client_stats_t st;
    xgw_client_stats(c, &st);
    printf("deadline: nobody 504=%d took=%lldms client_made=%llu\n", r.by_status[504],
           (long long)took, (unsigned long long)st.expired);
    assert_int_equal(r.by_status[504], 20);
    assert_int_equal(st.expired, 0); /* the broker said it, not the client */

    t0 = zclock_mono();
    s_drive(c, "slow", 1, 1, 300, 10000, 0, NULL, NULL, &r);
    took = zclock_mono() - t0;
    printf("deadline: slow 504=%d took=%lldms\n", r.by_status[504], (long long)took);
    assert_int_equal(r.by_status[504], 1);
    assert_true(took < 1200); /* before the worker's 1.5 s answer */
    /* The late FINAL arrives and is dropped by the broker, not passed on. */
    struct timespec ts = {1, 500 * 1000 * 1000};
    nanosleep(&ts, NULL);
    xgw_client_tick(c);
    xgw_reply_t *rep = NULL;
    assert_int_equal(xgw_client_recv(c, &rep), XGW_EAGAIN);
    xgw_client_stats(c, &st);
    assert_int_equal(st.duplicates, 0);
    xgw_client_destroy(&c);
}

/* A full queue answers 503 at once; what was queued is served when a worker
 * comes. */
static void
test_full_queue(void **state)
{
    s_env_t *e = *state;
    assert_true(s_start_broker(e, "broker.queue_max=10") > 0);
    assert_int_equal(xt_wait_lines(e->broker_log, "event=broker_listening", 1, 5000), 0);
    xgw_client_t *c = s_client(e);
    const char body[] = "x";
    for (int i = 0; i < 50; i++)
        assert_int_equal(
            xgw_client_send(c, "later", NULL, xgw_gwp_now_ms() + 30000, body, 1, NULL, NULL), 0);
    int busy = 0;
    int64_t end = zclock_mono() + 3000;
    while (busy < 40 && zclock_mono() < end) {
        xgw_reply_t *rep = NULL;
        if (xgw_client_wait(c, 100, &rep) == 0) {
            assert_int_equal(rep->status, 503);
            busy++;
            xgw_reply_destroy(&rep);
        }
    }
    assert_int_equal(busy, 40);
    assert_int_equal(xgw_client_outstanding(c), 10);
    s_start_worker(e, "later", "later.00", "10", "0", NULL);
    int ok = 0;
    end = zclock_mono() + 10000;
    while (ok < 10 && zclock_mono() < end) {
        xgw_reply_t *rep = NULL;
        if (xgw_client_wait(c, 100, &rep) == 0) {
            assert_int_equal(rep->status, 200);
            ok++;
            xgw_reply_destroy(&rep);
        }
    }
    printf("full_queue: busy=%d served_later=%d\n", busy, ok);
    assert_int_equal(ok, 10);
    xgw_client_destroy(&c);
}

/* A worker that stops heartbeating (hung, socket alive) is removed within
 * three intervals and what it held is served by another. */
static void
test_hung_worker(void **state)
{
    s_env_t *e = *state;
    assert_true(s_start_broker(e, NULL) > 0);
    s_start_worker(e, "echo", "hang.00", "50", "1", "5");
    s_start_worker(e, "echo", "ok.00", "50", "1", NULL);
    s_wait_workers(e, 2);
    xgw_client_t *c = s_client(e);
    s_result_t r;
    int64_t t0 = zclock_mono();
    s_drive(c, "echo", 300, 300, 20000, 30000, 0, NULL, NULL, &r);
    int64_t took = zclock_mono() - t0;
    char hl[400];
    snprintf(hl, sizeof hl, "%s/hang.00.executed", e->dir);
    printf("hung_worker: answered=%d 200=%d took=%lldms hung_executed=%d\n", r.answered,
           r.by_status[200], (long long)took, xt_count_lines(hl, ""));
    assert_int_equal(r.by_status[200], 300);
    assert_int_equal(xt_count_lines(hl, ""), 5);
    assert_int_equal(xt_count_lines(e->broker_log, "instance=hang.00 reason=heartbeat_expired"), 1);
    /* Removal within 3 heartbeat intervals (plus one check interval and
     * scheduling slack on a loaded machine). */
    assert_true(took < 5000);
    xgw_client_destroy(&c);
}

/* ---- raw GWP/1 frames for test_garbage (proto/GWP.md, byte by byte) ----- */

typedef struct {
    uint8_t b[600];
    size_t n;
} s_hdr_t;

static void
s_put(s_hdr_t *h, const void *p, size_t n)
{
    assert_true(h->n + n <= sizeof h->b);
    if (n > 0)
        memcpy(h->b + h->n, p, n);
    h->n += n;
}

static void
s_put_str(s_hdr_t *h, const char *p, size_t n)
{
    assert_true(n <= 255);
    uint8_t len = (uint8_t)n;
    s_put(h, &len, 1);
    s_put(h, p, n);
}

/* Client REQUEST header: GWPC01 0x01 msg_id(16) deadline(8) service
 * affinity. */
static void
s_request_header(s_hdr_t *h, const char *service)
{
    static const uint8_t id[16] = {0x6d, 0x73, 0x67, 0x2d, 0x67, 0x61, 0x72, 0x62,
                                   0x61, 0x67, 0x65, 0x2d, 0x30, 0x30, 0x30, 0x31};
    uint64_t deadline = (uint64_t)(xgw_gwp_now_ms() + 10000);
    uint8_t be[8];
    for (int i = 0; i < 8; i++)
        be[i] = (uint8_t)(deadline >> (56 - 8 * i));
    h->n = 0;
    s_put(h, "GWPC01\x01", 7);
    s_put(h, id, sizeof id);
    s_put(h, be, sizeof be);
    s_put_str(h, service, strlen(service));
    s_put_str(h, "", 0);
}

/* Sends frames (data, size pairs) as one message. */
static void
s_send_frames(zsock_t *sock, size_t n, ...)
{
    zmsg_t *m = zmsg_new();
    assert_non_null(m);
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        const void *data = va_arg(ap, const void *);
        size_t size = va_arg(ap, size_t);
        assert_int_equal(zmsg_addmem(m, data, size), 0);
    }
    va_end(ap);
    assert_int_equal(zmsg_send(&m, sock), 0);
}

/* A TCP port free right now on 127.0.0.1. */
static int
s_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* xgw_broker_protocol_errors_total{side="<side>"} from the broker's
 * /metrics, or -1. */
static long
s_proto_errors(int port, const char *side)
{
    char cmd[200], prefix[100];
    snprintf(cmd, sizeof cmd, "curl -s http://127.0.0.1:%d/metrics", port);
    snprintf(prefix, sizeof prefix, "xgw_broker_protocol_errors_total{side=\"%s\"} ", side);
    char *text = NULL;
    long value = -1;
    if (xc_sh(cmd, &text) == 0 && text) {
        const char *p = strstr(text, prefix);
        if (p)
            value = strtol(p + strlen(prefix), NULL, 10);
    }
    free(text);
    return value;
}

/* Polls until the counter reaches want (or 5 s pass); returns its value. */
static long
s_wait_proto_errors(int port, const char *side, long want)
{
    long v = -1;
    for (int i = 0; i < 100; i++) {
        v = s_proto_errors(port, side);
        if (v >= want)
            break;
        zclock_sleep(50);
    }
    return v;
}

/* Garbage on both broker sockets is counted, each message once, and refused;
 * the broker keeps serving good traffic. */
static void
test_garbage(void **state)
{
    s_env_t *e = *state;
    int port = s_free_port();
    assert_true(port > 0);
    char mset[64];
    snprintf(mset, sizeof mset, "broker.metrics_port=%d", port);
    assert_true(s_start_broker(e, mset) > 0);
    s_start_worker(e, "echo", "w.00", "10", "0", NULL);
    s_wait_workers(e, 1);
    assert_int_equal(s_wait_proto_errors(port, "client", 0), 0);
    assert_int_equal(s_proto_errors(port, "worker"), 0);

    zsock_t *raw = zsock_new_dealer(e->front);
    zsock_t *rawb = zsock_new_dealer(e->back);
    assert_non_null(raw);
    assert_non_null(rawb);
    const char body[] = "hello";
    s_hdr_t h = {.n = 0};
    long client_bad = 0, worker_bad = 0;

    /* Client side. A bare signature: shorter than signature + command. */
    s_send_frames(raw, 1, "GWPC01", (size_t)6);
    client_bad++;
    /* Bad signature; unknown command; the reserved PARTIAL. */
    s_send_frames(raw, 1, "XXXX01\x01", (size_t)7);
    s_send_frames(raw, 1, "GWPC01\x09", (size_t)7);
    s_send_frames(raw, 1, "GWPC01\x02", (size_t)7);
    client_bad += 3;
    /* A REQUEST with a bad service name. */
    s_request_header(&h, "Bad Service");
    s_send_frames(raw, 2, h.b, h.n, body, sizeof body);
    client_bad++;
    /* A REQUEST without its body frame; with a frame too many. */
    s_request_header(&h, "echo");
    s_send_frames(raw, 1, h.b, h.n);
    s_send_frames(raw, 3, h.b, h.n, body, sizeof body, body, sizeof body);
    client_bad += 2;
    /* A REQUEST header cut inside the msg_id; one with a byte after its
     * last field; one whose affinity length runs past its end. */
    s_send_frames(raw, 2, h.b, (size_t)(7 + 15), body, sizeof body);
    s_put(&h, "x", 1);
    s_send_frames(raw, 2, h.b, h.n, body, sizeof body);
    h.n--;
    h.b[h.n - 1] = 1; /* affinity: 1 byte announced, none there */
    s_send_frames(raw, 2, h.b, h.n, body, sizeof body);
    client_bad += 3;
    /* A HEARTBEAT with a byte after it, and with a second frame. */
    s_send_frames(raw, 1, "GWPC01\x04\x00", (size_t)8);
    s_send_frames(raw, 2, "GWPC01\x04", (size_t)7, "", (size_t)0);
    client_bad += 2;
    /* The old layout: every field a frame of its own. */
    s_send_frames(raw, 7, "GWPC01", (size_t)6, "\x01", (size_t)1, "echo", (size_t)4,
                  "0123456789abcdef", (size_t)16, "", (size_t)0, "\x7f\0\0\0\0\0\0\0", (size_t)8,
                  body, sizeof body);
    client_bad++;
    /* A FINAL is well-formed but not something a client sends. */
    static const char fin[] = "GWPC01\x03"
                              "0123456789abcdef\x00\xc8\x04"
                              "echo";
    s_send_frames(raw, 2, fin, sizeof fin - 1, "", (size_t)0);
    client_bad++;

    /* Worker side, from a peer the broker does not know. READY with a
     * short credit, READY with an empty instance, READY with a credit over
     * 1,000,000; then a well-formed HEARTBEAT. */
    s_send_frames(rawb, 1, "GWPW01\x01\x00\x00", (size_t)9);
    static const char ready_empty[] = "GWPW01\x01\x00\x00\x00\x0a\x04"
                                      "echo\x00";
    s_send_frames(rawb, 1, ready_empty, sizeof ready_empty - 1);
    static const char ready_over[] = "GWPW01\x01\x00\x0f\x42\x41\x04"
                                     "echo\x04"
                                     "w.99";
    s_send_frames(rawb, 1, ready_over, sizeof ready_over - 1);
    worker_bad += 3;
    s_send_frames(rawb, 1, "GWPW01\x05", (size_t)7); /* HEARTBEAT from a stranger */

    /* Each one counted once, on its side. */
    assert_int_equal(s_wait_proto_errors(port, "client", client_bad), client_bad);
    assert_int_equal(s_wait_proto_errors(port, "worker", worker_bad), worker_bad);

    xgw_client_t *c = s_client(e);
    s_result_t r;
    s_drive(c, "echo", 100, 10, 10000, 20000, 0, NULL, NULL, &r);
    assert_int_equal(r.by_status[200], 100);
    assert_true(xt_count_lines(e->broker_log, "event=protocol_error") >= 1);
    /* Good traffic added none; the garbage got no answer on the front. */
    assert_int_equal(s_proto_errors(port, "client"), client_bad);
    assert_int_equal(s_proto_errors(port, "worker"), worker_bad);
    zsock_set_rcvtimeo(raw, 200);
    zmsg_t *m = zmsg_recv(raw);
    assert_null(m);

    /* The stranger is told DISCONNECT (one frame, exactly "GWPW01" 0x06)
     * for its HEARTBEAT, and for each malformed message. */
    zsock_set_rcvtimeo(rawb, 2000);
    int disconnects = 0;
    for (m = zmsg_recv(rawb); m; m = zmsg_recv(rawb)) {
        assert_int_equal(zmsg_size(m), 1);
        zframe_t *f0 = zmsg_first(m);
        assert_int_equal(zframe_size(f0), 7);
        assert_memory_equal(zframe_data(f0), "GWPW01\x06", 7);
        disconnects++;
        zmsg_destroy(&m);
        if (disconnects == worker_bad + 1)
            zsock_set_rcvtimeo(rawb, 200);
    }
    assert_int_equal(disconnects, worker_bad + 1);
    zsock_destroy(&raw);
    zsock_destroy(&rawb);
    xgw_client_destroy(&c);
}

int
main(void)
{
    xgw_log_init("test_broker", 0);
    xgw_log_set_level(XGW_LOG_WARN);
    zsys_handler_set(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fair_share, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_kill9_worker, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_broker_restart, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_deadline, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_full_queue, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_hung_worker, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_garbage, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
