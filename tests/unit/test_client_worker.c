/*
 * test_client_worker.c - xgw_client and xgw_worker against a real broker
 * object running in a thread of this process: round trips, affinity, full
 * queues (503), deadlines (504), re-dispatch when a worker leaves, client
 * retries across a broker restart, and the worker's de-duplication (also
 * against a scripted fake broker, to control every frame).
 *
 * The broker is not part of the xgw library, so its source is compiled in
 * here. czmq shares one ZeroMQ context per process, so inproc:// endpoints
 * connect client, worker and broker; the restart tests use ipc:// in a
 * temporary directory because an inproc connection does not come back when
 * the bound socket is closed and bound again.
 *
 * This file's own helpers use the t_ / T_ prefix so that they can never
 * clash with the broker's static s_ names compiled into the same unit.
 */
#include "../../broker/xgw_broker.c"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xgw_client.h"
#include "xgw_error.h"
#include "xgw_gwp_io.h"
#include "xgw_hrw.h"
#include "xgw_worker.h"

#define T_HB_MS 100
#define T_MAX_WORKERS 4
#define T_MAX_HELD 256
#define T_MAX_REPLIES 256

/* ---- broker in a thread --------------------------------------------------- */

typedef struct {
    char dir[128];
    char front[256];
    char back[256];
    size_t queue_max;
    xgw_broker_t *broker;
    pthread_t thread;
    volatile sig_atomic_t stop;
    int running;
    int run_rc;
} t_broker_env_t;

static void *
t_broker_main(void *arg)
{
    t_broker_env_t *b = arg;
    b->run_rc = xgw_broker_run(b->broker, &b->stop, NULL, NULL, NULL);
    return NULL;
}

static void
t_broker_start(t_broker_env_t *b)
{
    xgw_broker_opts_t o = {
        .frontend = b->front,
        .backend = b->back,
        .heartbeat_ms = T_HB_MS,
        .liveness = 3,
        .queue_max = b->queue_max,
        .max_body = 1024 * 1024,
        .expiry_check_ms = 20,
        .sndhwm = 100000,
    };
    b->broker = xgw_broker_new(&o);
    assert_non_null(b->broker);
    b->stop = 0;
    assert_int_equal(pthread_create(&b->thread, NULL, t_broker_main, b), 0);
    b->running = 1;
}

static void
t_broker_stop(t_broker_env_t *b)
{
    if (!b->running)
        return;
    b->stop = 1;
    pthread_join(b->thread, NULL);
    b->running = 0;
    xgw_broker_destroy(&b->broker);
    assert_int_equal(b->run_rc, 0);
}

/* ---- client and workers pumped by the test thread ---------------------- */

typedef enum {
    T_ECHO = 0, /* 200 with the request body */
    T_HOLD,     /* keep the request; the test answers it */
    T_NAME,     /* 200 with the worker's instance name */
    T_FAIL,     /* 500: must never be seen where dedup should answer */
} t_mode_t;

typedef struct {
    xgw_worker_t *w;
    char instance[32];
    t_mode_t mode;
    xgw_request_t *held[T_MAX_HELD];
    size_t nheld;
    int handled;
} t_wk_t;

typedef struct {
    t_broker_env_t b;
    xgw_client_t *c;
    t_wk_t wk[T_MAX_WORKERS];
    size_t nwk;
    xgw_reply_t *replies[T_MAX_REPLIES];
    size_t nreplies;
} t_env_t;

static int
t_setup(t_env_t **ep, int ipc)
{
    t_env_t *e = calloc(1, sizeof *e);
    assert_non_null(e);
    e->b.queue_max = 1000;
    if (ipc) {
        snprintf(e->b.dir, sizeof e->b.dir, "/tmp/xgw-test-cw-XXXXXX");
        assert_non_null(mkdtemp(e->b.dir));
        snprintf(e->b.front, sizeof e->b.front, "ipc://%s/front", e->b.dir);
        snprintf(e->b.back, sizeof e->b.back, "ipc://%s/back", e->b.dir);
    } else {
        /* Unique names: a test may run while a previous one's sockets are
         * still being torn down by the I/O thread. */
        static int seq;
        seq++;
        snprintf(e->b.front, sizeof e->b.front, "inproc://cw-front-%d", seq);
        snprintf(e->b.back, sizeof e->b.back, "inproc://cw-back-%d", seq);
    }
    *ep = e;
    return 0;
}

static int
t_setup_inproc(void **state)
{
    return t_setup((t_env_t **)state, 0);
}

static int
t_setup_ipc(void **state)
{
    return t_setup((t_env_t **)state, 1);
}

static void
t_clear_replies(t_env_t *e)
{
    for (size_t i = 0; i < e->nreplies; i++)
        xgw_reply_destroy(&e->replies[i]);
    e->nreplies = 0;
}

static void
t_worker_close(t_wk_t *wk)
{
    for (size_t i = 0; i < wk->nheld; i++)
        xgw_request_destroy(&wk->held[i]);
    wk->nheld = 0;
    xgw_worker_destroy(&wk->w);
}

static int
t_teardown(void **state)
{
    t_env_t *e = *state;
    xgw_client_destroy(&e->c);
    for (size_t i = 0; i < e->nwk; i++)
        t_worker_close(&e->wk[i]);
    t_clear_replies(e);
    if (e->b.running) {
        e->b.stop = 1;
        pthread_join(e->b.thread, NULL);
        xgw_broker_destroy(&e->b.broker);
    }
    if (e->b.dir[0]) {
        char path[300];
        snprintf(path, sizeof path, "%s/front", e->b.dir);
        (void)unlink(path);
        snprintf(path, sizeof path, "%s/back", e->b.dir);
        (void)unlink(path);
        (void)rmdir(e->b.dir);
    }
    free(e);
    return 0;
}

static xgw_client_t *
t_client_new(t_env_t *e, int64_t retry_ms)
{
    xgw_client_opts_t o;
    xgw_client_opts_default(&o);
    o.heartbeat_ms = T_HB_MS;
    o.liveness = 3;
    o.retry_ms = retry_ms;
    e->c = xgw_client_new(e->b.front, &o);
    assert_non_null(e->c);
    return e->c;
}

static t_wk_t *
t_worker_add(t_env_t *e, const char *service, const char *instance, uint32_t credit, t_mode_t mode)
{
    assert_true(e->nwk < T_MAX_WORKERS);
    xgw_worker_opts_t o;
    xgw_worker_opts_default(&o);
    o.heartbeat_ms = T_HB_MS;
    o.liveness = 3;
    t_wk_t *wk = &e->wk[e->nwk++];
    memset(wk, 0, sizeof *wk);
    snprintf(wk->instance, sizeof wk->instance, "%s", instance);
    wk->mode = mode;
    wk->w = xgw_worker_new(e->b.back, service, instance, credit, &o);
    assert_non_null(wk->w);
    return wk;
}

static void
t_worker_handle(t_wk_t *wk, xgw_request_t *req)
{
    wk->handled++;
    switch (wk->mode) {
    case T_ECHO:
        (void)xgw_worker_reply(wk->w, &req, 200, req->body, req->body_len);
        break;
    case T_NAME:
        (void)xgw_worker_reply(wk->w, &req, 200, wk->instance, strlen(wk->instance));
        break;
    case T_FAIL:
        (void)xgw_worker_reply(wk->w, &req, 500, "fail", 4);
        break;
    case T_HOLD:
        assert_true(wk->nheld < T_MAX_HELD);
        wk->held[wk->nheld++] = req;
        break;
    }
}

/* Answers everything wk holds with status and "<prefix><request body>". */
static void
t_release(t_wk_t *wk, uint16_t status, const char *prefix, int *rc_out)
{
    for (size_t i = 0; i < wk->nheld; i++) {
        char body[128];
        int n = snprintf(body, sizeof body, "%s%.*s", prefix, (int)wk->held[i]->body_len,
                         (const char *)wk->held[i]->body);
        int rc = xgw_worker_reply(wk->w, &wk->held[i], status, body, (size_t)n);
        if (rc_out)
            *rc_out = rc;
    }
    wk->nheld = 0;
}

/* One round of the test's event loop: ticks, one poll of at most max_ms,
 * then drains every worker and the client. */
static void
t_step(t_env_t *e, int64_t max_ms)
{
    zmq_pollitem_t items[T_MAX_WORKERS + 1];
    int n = 0;
    int64_t wait = max_ms;
    if (e->c) {
        int64_t t = xgw_client_tick(e->c);
        if (t < wait)
            wait = t;
        items[n++] = (zmq_pollitem_t){xgw_client_socket(e->c), 0, ZMQ_POLLIN, 0};
    }
    for (size_t i = 0; i < e->nwk; i++) {
        if (!e->wk[i].w)
            continue;
        int64_t t = xgw_worker_tick(e->wk[i].w);
        if (t < wait)
            wait = t;
        items[n++] = (zmq_pollitem_t){xgw_worker_socket(e->wk[i].w), 0, ZMQ_POLLIN, 0};
    }
    if (n > 0)
        (void)zmq_poll(items, n, (long)wait);
    else
        zclock_sleep((int)wait);
    for (size_t i = 0; i < e->nwk; i++) {
        xgw_request_t *req = NULL;
        while (e->wk[i].w && xgw_worker_recv(e->wk[i].w, &req) == 0)
            t_worker_handle(&e->wk[i], req);
    }
    if (e->c) {
        xgw_reply_t *r = NULL;
        while (xgw_client_recv(e->c, &r) == 0) {
            assert_true(e->nreplies < T_MAX_REPLIES);
            e->replies[e->nreplies++] = r;
        }
    }
}

/* Pumps for ms milliseconds. */
static void
t_run_for(t_env_t *e, int64_t ms)
{
    int64_t end = zclock_mono() + ms;
    for (int64_t now = zclock_mono(); now < end; now = zclock_mono())
        t_step(e, end - now < 10 ? end - now : 10);
}

/* Pumps until e holds n replies or timeout_ms passes; returns the count. */
static size_t
t_run_until_replies(t_env_t *e, size_t n, int64_t timeout_ms)
{
    int64_t end = zclock_mono() + timeout_ms;
    while (e->nreplies < n && zclock_mono() < end)
        t_step(e, 10);
    return e->nreplies;
}

/* Pumps until wk holds n requests or timeout_ms passes. */
static size_t
t_run_until_held(t_env_t *e, t_wk_t *wk, size_t n, int64_t timeout_ms)
{
    int64_t end = zclock_mono() + timeout_ms;
    while (wk->nheld < n && zclock_mono() < end)
        t_step(e, 10);
    return wk->nheld;
}

/* The reply for msg_id, or NULL. */
static xgw_reply_t *
t_reply_for(t_env_t *e, const uint8_t id[XGW_GWP_MSGID_LEN])
{
    for (size_t i = 0; i < e->nreplies; i++) {
        if (memcmp(e->replies[i]->msg_id, id, XGW_GWP_MSGID_LEN) == 0)
            return e->replies[i];
    }
    return NULL;
}

static size_t
t_count_status(t_env_t *e, uint16_t status)
{
    size_t n = 0;
    for (size_t i = 0; i < e->nreplies; i++)
        n += e->replies[i]->status == status;
    return n;
}

static int
t_send(t_env_t *e, const char *service, const char *affinity, int64_t deadline_in_ms,
       const char *body, void *user, uint8_t id_out[XGW_GWP_MSGID_LEN])
{
    return xgw_client_send(e->c, service, affinity, xgw_gwp_now_ms() + deadline_in_ms, body,
                           body ? strlen(body) : 0, user, id_out);
}

/* ---- tests ------------------------------------------------------------- */

static void
test_round_trip(void **state)
{
    t_env_t *e = *state;
    t_broker_start(&e->b);
    t_wk_t *wk = t_worker_add(e, "echo", "echo.00", 10, T_ECHO);
    t_client_new(e, 1000);

    enum { N = 200 };
    static uint8_t ids[N][XGW_GWP_MSGID_LEN];
    for (int i = 0; i < N; i++) {
        char body[32];
        snprintf(body, sizeof body, "req-%d", i);
        assert_int_equal(t_send(e, "echo", NULL, 5000, body, (void *)(intptr_t)(i + 1), ids[i]), 0);
    }
    assert_int_equal(xgw_client_outstanding(e->c), N);
    assert_int_equal(t_run_until_replies(e, N, 5000), N);
    for (int i = 0; i < N; i++) {
        xgw_reply_t *r = t_reply_for(e, ids[i]);
        assert_non_null(r);
        assert_int_equal(r->status, 200);
        assert_ptr_equal(r->user, (void *)(intptr_t)(i + 1));
        assert_string_equal(r->service, "echo");
        char body[32];
        int n = snprintf(body, sizeof body, "req-%d", i);
        assert_int_equal(r->body_len, (size_t)n);
        assert_memory_equal(r->body, body, (size_t)n);
    }
    assert_int_equal(xgw_client_outstanding(e->c), 0);

    /* An empty body comes back empty. */
    t_clear_replies(e);
    uint8_t id[XGW_GWP_MSGID_LEN];
    assert_int_equal(t_send(e, "echo", NULL, 5000, NULL, NULL, id), 0);
    assert_int_equal(t_run_until_replies(e, 1, 2000), 1);
    assert_int_equal(e->replies[0]->status, 200);
    assert_int_equal(e->replies[0]->body_len, 0);
    assert_null(e->replies[0]->body);

    /* Nothing more arrives: exactly one answer per request. */
    t_run_for(e, 200);
    assert_int_equal(e->nreplies, 1);

    xgw_client_stats_t cs;
    xgw_client_stats(e->c, &cs);
    assert_int_equal(cs.sent, N + 1);
    assert_int_equal(cs.answered, N + 1);
    assert_int_equal(cs.expired, 0);
    xgw_worker_stats_t ws;
    xgw_worker_stats(wk->w, &ws);
    assert_int_equal(ws.received, N + 1);
    assert_int_equal(ws.answered, N + 1);
    assert_int_equal(ws.dup_dropped, 0);
    assert_int_equal(xgw_worker_in_flight(wk->w), 0);
    assert_true(xgw_worker_connected(wk->w));

    /* Invalid arguments are refused by the client itself. */
    assert_int_equal(t_send(e, "Bad Service", NULL, 5000, "x", NULL, NULL), XGW_EINVAL);
    assert_int_equal(t_send(e, "", NULL, 5000, "x", NULL, NULL), XGW_EINVAL);
    assert_int_equal(t_send(e, "echo", "has space", 5000, "x", NULL, NULL), XGW_EINVAL);
    assert_int_equal(xgw_client_send(e->c, "echo", NULL, -1, "x", 1, NULL, NULL), XGW_EINVAL);
    assert_int_equal(xgw_client_outstanding(e->c), 0);
}

static void
test_affinity(void **state)
{
    t_env_t *e = *state;
    t_broker_start(&e->b);
    const char *names[] = {"aff.a", "aff.b", "aff.c"};
    for (int i = 0; i < 3; i++)
        t_worker_add(e, "aff", names[i], 50, T_NAME);
    t_client_new(e, 1000);
    t_run_for(e, 300); /* every READY is in */

    enum { KEYS = 30, REPEAT = 3 };
    static uint8_t ids[KEYS * REPEAT][XGW_GWP_MSGID_LEN];
    for (int k = 0; k < KEYS; k++) {
        char key[64];
        snprintf(key, sizeof key, "user%d@example.net", k);
        for (int j = 0; j < REPEAT; j++)
            assert_int_equal(t_send(e, "aff", key, 5000, "x", NULL, ids[k * REPEAT + j]), 0);
    }
    assert_int_equal(t_run_until_replies(e, KEYS * REPEAT, 5000), KEYS * REPEAT);
    int used[3] = {0, 0, 0};
    for (int k = 0; k < KEYS; k++) {
        char key[64];
        snprintf(key, sizeof key, "user%d@example.net", k);
        int want = xgw_hrw_pick(key, names, 3);
        assert_in_range(want, 0, 2);
        used[want]++;
        for (int j = 0; j < REPEAT; j++) {
            xgw_reply_t *r = t_reply_for(e, ids[k * REPEAT + j]);
            assert_non_null(r);
            assert_int_equal(r->status, 200);
            assert_int_equal(r->body_len, strlen(names[want]));
            assert_memory_equal(r->body, names[want], r->body_len);
        }
    }
    /* The keys spread over more than one worker. */
    assert_true((used[0] > 0) + (used[1] > 0) + (used[2] > 0) >= 2);
}

static void
test_queue_full_503(void **state)
{
    t_env_t *e = *state;
    e->b.queue_max = 5;
    t_broker_start(&e->b);
    t_client_new(e, 5000);

    int64_t t0 = zclock_mono();
    for (int i = 0; i < 20; i++)
        assert_int_equal(t_send(e, "nobody", NULL, 8000, "q", NULL, NULL), 0);
    assert_int_equal(t_run_until_replies(e, 15, 2000), 15);
    int64_t took = zclock_mono() - t0;
    assert_true(took < 1000);
    assert_int_equal(t_count_status(e, 503), 15);
    /* The 5 queued ones stay queued. */
    t_run_for(e, 300);
    assert_int_equal(e->nreplies, 15);
    assert_int_equal(xgw_client_outstanding(e->c), 5);

    /* A worker that arrives later gets them. */
    t_worker_add(e, "nobody", "late.00", 2, T_ECHO);
    assert_int_equal(t_run_until_replies(e, 20, 3000), 20);
    assert_int_equal(t_count_status(e, 200), 5);
    assert_int_equal(xgw_client_outstanding(e->c), 0);
}

static void
test_deadline_504(void **state)
{
    t_env_t *e = *state;
    t_broker_start(&e->b);
    t_client_new(e, 5000);

    /* Already past: the broker answers at once. */
    int64_t t0 = zclock_mono();
    assert_int_equal(xgw_client_send(e->c, "idle", NULL, xgw_gwp_now_ms() - 10, "x", 1, NULL, NULL),
                     0);
    assert_int_equal(t_run_until_replies(e, 1, 2000), 1);
    assert_int_equal(e->replies[0]->status, 504);
    assert_true(zclock_mono() - t0 < 500);
    t_clear_replies(e);

    /* Queued with no worker: 504 when the deadline passes. */
    t0 = zclock_mono();
    for (int i = 0; i < 10; i++)
        assert_int_equal(t_send(e, "idle", NULL, 300, "x", NULL, NULL), 0);
    t_run_for(e, 200);
    assert_int_equal(e->nreplies, 0);
    assert_int_equal(t_run_until_replies(e, 10, 3000), 10);
    assert_int_equal(t_count_status(e, 504), 10);
    int64_t took = zclock_mono() - t0;
    assert_true(took >= 250);
    assert_true(took < 1200); /* the broker's 504, not the client's fallback */
    xgw_client_stats_t cs;
    xgw_client_stats(e->c, &cs);
    assert_int_equal(cs.expired, 0);
    t_clear_replies(e);

    /* In flight at a worker that does not answer in time: 504, and its
     * late FINAL is dropped by the broker but frees the slot. */
    t_wk_t *wk = t_worker_add(e, "slow", "slow.00", 2, T_HOLD);
    uint8_t a[XGW_GWP_MSGID_LEN], b[XGW_GWP_MSGID_LEN];
    assert_int_equal(t_send(e, "slow", NULL, 300, "a", NULL, a), 0);
    assert_int_equal(t_send(e, "slow", NULL, 300, "b", NULL, b), 0);
    assert_int_equal(t_run_until_held(e, wk, 2, 2000), 2);
    assert_int_equal(t_run_until_replies(e, 2, 3000), 2);
    assert_int_equal(t_count_status(e, 504), 2);
    assert_non_null(t_reply_for(e, a));
    assert_non_null(t_reply_for(e, b));
    t_clear_replies(e);
    t_release(wk, 200, "late-", NULL);
    t_run_for(e, 200);
    assert_int_equal(e->nreplies, 0); /* no second answer */
    wk->mode = T_ECHO;
    assert_int_equal(t_send(e, "slow", NULL, 3000, "again", NULL, NULL), 0);
    assert_int_equal(t_run_until_replies(e, 1, 2000), 1);
    assert_int_equal(e->replies[0]->status, 200);
    assert_memory_equal(e->replies[0]->body, "again", 5);
}

static void
test_worker_leaves_redispatch(void **state)
{
    t_env_t *e = *state;
    t_broker_start(&e->b);
    t_wk_t *a = t_worker_add(e, "job", "job.00", 10, T_HOLD);
    t_client_new(e, 10000); /* no client retry within the test */
    uint8_t ids[5][XGW_GWP_MSGID_LEN];
    for (int i = 0; i < 5; i++)
        assert_int_equal(t_send(e, "job", NULL, 8000, "work", NULL, ids[i]), 0);
    assert_int_equal(t_run_until_held(e, a, 5, 2000), 5);

    /* A second worker comes; the first leaves with DISCONNECT without
     * answering: the broker hands its requests to the second. */
    t_wk_t *b = t_worker_add(e, "job", "job.01", 10, T_ECHO);
    t_run_for(e, 100);
    assert_int_equal(b->handled, 0);
    t_worker_close(a);
    assert_int_equal(t_run_until_replies(e, 5, 3000), 5);
    for (int i = 0; i < 5; i++) {
        xgw_reply_t *r = t_reply_for(e, ids[i]);
        assert_non_null(r);
        assert_int_equal(r->status, 200);
        assert_int_equal(r->attempts, 1); /* the broker did it, not a retry */
    }
    assert_int_equal(b->handled, 5);
}

static void
test_broker_restart_retry(void **state)
{
    t_env_t *e = *state;
    t_broker_start(&e->b);
    t_client_new(e, 200);
    uint8_t ids[10][XGW_GWP_MSGID_LEN];
    for (int i = 0; i < 10; i++) {
        char body[16];
        snprintf(body, sizeof body, "r%d", i);
        assert_int_equal(t_send(e, "later", NULL, 9000, body, NULL, ids[i]), 0);
    }
    t_run_for(e, 300); /* queued at the broker, which has no worker */
    assert_int_equal(e->nreplies, 0);

    /* The broker goes away and forgets them; a new one binds the same
     * endpoints. The client notices the silence and re-sends the same
     * msg_ids. */
    t_broker_stop(&e->b);
    t_run_for(e, 500);
    assert_int_equal(e->nreplies, 0);
    t_broker_start(&e->b);
    t_worker_add(e, "later", "later.00", 10, T_ECHO);
    assert_int_equal(t_run_until_replies(e, 10, 6000), 10);
    for (int i = 0; i < 10; i++) {
        xgw_reply_t *r = t_reply_for(e, ids[i]);
        assert_non_null(r);
        assert_int_equal(r->status, 200);
        /* Usually re-sent after the restart; a request still in the
         * client's pipe when the old broker went can reach the new one
         * from its first send. Either way it is answered exactly once. */
        assert_true(r->attempts >= 1);
        char body[16];
        int n = snprintf(body, sizeof body, "r%d", i);
        assert_int_equal(r->body_len, (size_t)n);
        assert_memory_equal(r->body, body, (size_t)n);
    }
    xgw_client_stats_t cs;
    xgw_client_stats(e->c, &cs);
    assert_int_equal(cs.answered, 10);
    assert_true(cs.resent >= 1);
    assert_true(cs.broker_restarts >= 1);
    assert_int_equal(cs.expired, 0);
}

/* The worker answered while the broker was down: the FINAL is lost, the
 * client re-sends after the restart, and the worker answers the repeat from
 * its cache without handing it to the caller again. */
static void
test_worker_dedup_across_restart(void **state)
{
    t_env_t *e = *state;
    t_broker_start(&e->b);
    t_wk_t *wk = t_worker_add(e, "once", "once.00", 10, T_HOLD);
    t_client_new(e, 200);
    uint8_t ids[3][XGW_GWP_MSGID_LEN];
    for (int i = 0; i < 3; i++) {
        char body[16];
        snprintf(body, sizeof body, "m%d", i);
        assert_int_equal(t_send(e, "once", NULL, 9000, body, NULL, ids[i]), 0);
    }
    assert_int_equal(t_run_until_held(e, wk, 3, 2000), 3);

    t_broker_stop(&e->b);
    t_run_for(e, 50);
    t_release(wk, 201, "done-", NULL); /* cached; the FINALs go nowhere */
    wk->mode = T_FAIL;                 /* anything handed over again fails */
    t_run_for(e, 400);
    assert_int_equal(e->nreplies, 0);
    t_broker_start(&e->b);
    assert_int_equal(t_run_until_replies(e, 3, 6000), 3);
    for (int i = 0; i < 3; i++) {
        xgw_reply_t *r = t_reply_for(e, ids[i]);
        assert_non_null(r);
        assert_int_equal(r->status, 201);
        char body[16];
        int n = snprintf(body, sizeof body, "done-m%d", i);
        assert_int_equal(r->body_len, (size_t)n);
        assert_memory_equal(r->body, body, (size_t)n);
        /* Usually re-sent after the restart; a request still in the
         * client's pipe when the old broker went can reach the new one
         * from its first send. Either way it is answered exactly once. */
        assert_true(r->attempts >= 1);
    }
    xgw_worker_stats_t ws;
    xgw_worker_stats(wk->w, &ws);
    assert_int_equal(ws.received, 3); /* the caller saw each once */
    assert_true(ws.dup_replayed >= 3);
    assert_true(ws.reconnects >= 1);
    assert_int_equal(wk->handled, 3);
}

/* ---- the worker against a scripted broker -------------------------------- */

typedef struct {
    zsock_t *sock;
    void *h;
    xgw_gwp_view_t worker_id;
    uint8_t id_buf[256];
} t_fake_t;

/* Receives the next command from the worker within 2 s. */
static void
t_fake_recv(t_fake_t *f, xgw_gwp_inbox_t *inbox, xgw_gwp_t *m)
{
    int64_t end = zclock_mono() + 2000;
    for (;;) {
        int rc = xgw_gwp_recv(f->h, 1, XGW_GWP_WORKER, 1024, inbox, m);
        if (rc == 0) {
            memcpy(f->id_buf, inbox->routing_id.data, inbox->routing_id.size);
            f->worker_id.data = f->id_buf;
            f->worker_id.size = inbox->routing_id.size;
            return;
        }
        assert_int_equal(rc, XGW_EAGAIN);
        assert_true(zclock_mono() < end);
        zmq_pollitem_t item = {f->h, 0, ZMQ_POLLIN, 0};
        (void)zmq_poll(&item, 1, 50);
    }
}

/* Receives commands until one that is not a HEARTBEAT. */
static void
t_fake_recv_cmd(t_fake_t *f, xgw_gwp_inbox_t *inbox, xgw_gwp_t *m)
{
    for (;;) {
        t_fake_recv(f, inbox, m);
        if (m->cmd != XGW_GWP_HEARTBEAT)
            return;
        xgw_gwp_inbox_close(inbox);
    }
}

static void
t_fake_request(t_fake_t *f, const char *client, const uint8_t id[XGW_GWP_MSGID_LEN],
               const char *body)
{
    xgw_gwp_t m;
    memset(&m, 0, sizeof m);
    m.side = XGW_GWP_WORKER;
    m.cmd = XGW_GWP_REQUEST;
    m.client.data = (const uint8_t *)client;
    m.client.size = strlen(client);
    memcpy(m.msg_id, id, XGW_GWP_MSGID_LEN);
    m.deadline_ms = xgw_gwp_now_ms() + 10000;
    m.body.data = (const uint8_t *)body;
    m.body.size = strlen(body);
    assert_int_equal(xgw_gwp_send(f->h, &f->worker_id, &m), 0);
}

/* Raw GWP/1 frames, built and inspected byte by byte (proto/GWP.md) rather
 * than with the codec, so the worker is held to the wire layout itself. */
typedef struct {
    uint8_t b[600];
    size_t n;
} t_hdr_t;

static void
t_put(t_hdr_t *h, const void *p, size_t n)
{
    assert_true(h->n + n <= sizeof h->b);
    if (n > 0)
        memcpy(h->b + h->n, p, n);
    h->n += n;
}

static void
t_put_be(t_hdr_t *h, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t byte = (uint8_t)(v >> (8 * (n - 1 - i)));
        t_put(h, &byte, 1);
    }
}

static void
t_put_str(t_hdr_t *h, const void *p, size_t n)
{
    assert_true(n <= 255);
    uint8_t len = (uint8_t)n;
    t_put(h, &len, 1);
    t_put(h, p, n);
}

/* Worker-side REQUEST header: GWPW01 0x02 msg_id deadline client affinity. */
static void
t_request_header(t_hdr_t *h, const char *client, const uint8_t id[XGW_GWP_MSGID_LEN],
                 int64_t deadline_ms, const char *affinity)
{
    h->n = 0;
    t_put(h, "GWPW01\x02", 7);
    t_put(h, id, XGW_GWP_MSGID_LEN);
    t_put_be(h, (uint64_t)deadline_ms, 8);
    t_put_str(h, client, strlen(client));
    t_put_str(h, affinity, strlen(affinity));
}

/* Sends frames to the worker as one message, after its routing id. */
static void
t_fake_send_raw(t_fake_t *f, const xgw_gwp_view_t *frames, size_t n)
{
    assert_true(zmq_send(f->h, f->worker_id.data, f->worker_id.size, ZMQ_SNDMORE) >= 0);
    for (size_t i = 0; i < n; i++) {
        int flags = i + 1 < n ? ZMQ_SNDMORE : 0;
        assert_true(zmq_send(f->h, frames[i].data, frames[i].size, flags) == (int)frames[i].size);
    }
}

/* A raw REQUEST as the broker sends it: header, then body. */
static void
t_fake_request_raw(t_fake_t *f, const char *client, const uint8_t id[XGW_GWP_MSGID_LEN],
                   const char *affinity, const char *body)
{
    t_hdr_t h = {.n = 0};
    t_request_header(&h, client, id, xgw_gwp_now_ms() + 10000, affinity);
    xgw_gwp_view_t fr[2] = {{h.b, h.n}, {(const uint8_t *)body, strlen(body)}};
    t_fake_send_raw(f, fr, 2);
}

/* One message from the worker, as raw frames (the routing id apart). */
typedef struct {
    uint8_t data[3][1100];
    size_t size[3];
    size_t n; /* frames on the wire, may exceed 3 */
} t_raw_msg_t;

/* Receives the next message from the worker that is not a HEARTBEAT within
 * 2 s, without decoding it. */
static void
t_fake_recv_raw(t_fake_t *f, t_raw_msg_t *out)
{
    int64_t end = zclock_mono() + 2000;
    for (;;) {
        zmq_pollitem_t item = {f->h, 0, ZMQ_POLLIN, 0};
        assert_true(zclock_mono() < end);
        if (zmq_poll(&item, 1, 50) <= 0)
            continue;
        memset(out, 0, sizeof *out);
        int more = 1;
        for (size_t part = 0; more; part++) {
            zmq_msg_t msg;
            zmq_msg_init(&msg);
            assert_true(zmq_msg_recv(&msg, f->h, 0) >= 0);
            more = zmq_msg_more(&msg);
            size_t size = zmq_msg_size(&msg);
            if (part == 0) {
                assert_true(size <= sizeof f->id_buf);
                memcpy(f->id_buf, zmq_msg_data(&msg), size);
                f->worker_id.data = f->id_buf;
                f->worker_id.size = size;
            } else {
                if (out->n < 3) {
                    assert_true(size <= sizeof out->data[0]);
                    memcpy(out->data[out->n], zmq_msg_data(&msg), size);
                    out->size[out->n] = size;
                }
                out->n++;
            }
            zmq_msg_close(&msg);
        }
        if (out->n == 1 && out->size[0] == 7 && memcmp(out->data[0], "GWPW01\x05", 7) == 0)
            continue; /* HEARTBEAT */
        return;
    }
}

/* Lets the worker read what was sent; returns the request it hands out, if
 * any, within ms. */
static xgw_request_t *
t_worker_poll(xgw_worker_t *w, int64_t ms)
{
    int64_t end = zclock_mono() + ms;
    xgw_request_t *req = NULL;
    while (zclock_mono() < end) {
        zmq_pollitem_t item = {xgw_worker_socket(w), 0, ZMQ_POLLIN, 0};
        (void)zmq_poll(&item, 1, 10);
        if (xgw_worker_recv(w, &req) == 0)
            return req;
    }
    return NULL;
}

static void
test_worker_dedup_fake_broker(void **state)
{
    (void)state;
    t_fake_t f;
    memset(&f, 0, sizeof f);
    f.sock = zsock_new(ZMQ_ROUTER);
    assert_non_null(f.sock);
    zsock_set_linger(f.sock, 0);
    assert_int_equal(zsock_bind(f.sock, "inproc://cw-fake-broker"), 0);
    f.h = zsock_resolve(f.sock);

    xgw_worker_opts_t o;
    xgw_worker_opts_default(&o);
    o.heartbeat_ms = 1000; /* few heartbeats in the way */
    xgw_worker_t *w = xgw_worker_new("inproc://cw-fake-broker", "dd", "dd.07", 5, &o);
    assert_non_null(w);

    xgw_gwp_inbox_t in;
    xgw_gwp_t m;
    /* READY, byte for byte: one frame, credit 5, service "dd", instance
     * "dd.07". */
    t_raw_msg_t raw;
    t_fake_recv_raw(&f, &raw);
    static const char ready[] = "GWPW01\x01\x00\x00\x00\x05\x02"
                                "dd\x05"
                                "dd.07";
    assert_int_equal(raw.n, 1);
    assert_int_equal(raw.size[0], sizeof ready - 1);
    assert_memory_equal(raw.data[0], ready, sizeof ready - 1);

    uint8_t x[XGW_GWP_MSGID_LEN], y[XGW_GWP_MSGID_LEN];
    memset(x, 0x11, sizeof x);
    memset(y, 0x22, sizeof y);

    /* First sighting, built by hand: handed to the caller, answered. */
    t_fake_request_raw(&f, "client-1", x, "bob@example.org", "body-x");
    xgw_request_t *req = t_worker_poll(w, 2000);
    assert_non_null(req);
    assert_memory_equal(req->msg_id, x, sizeof x);
    assert_int_equal(req->client_len, strlen("client-1"));
    assert_memory_equal(req->client, "client-1", req->client_len);
    assert_string_equal(req->affinity, "bob@example.org");
    assert_int_equal(req->body_len, 6);
    assert_memory_equal(req->body, "body-x", 6);
    assert_int_equal(xgw_worker_in_flight(w), 1);
    assert_int_equal(xgw_worker_reply(w, &req, 202, "cached-x", 8), 0);
    assert_null(req);
    assert_int_equal(xgw_worker_in_flight(w), 0);
    /* FINAL, byte for byte: header (msg_id, status 202, client id), body. */
    t_fake_recv_raw(&f, &raw);
    t_hdr_t want = {.n = 0};
    t_put(&want, "GWPW01\x04", 7);
    t_put(&want, x, sizeof x);
    t_put_be(&want, 202, 2);
    t_put_str(&want, "client-1", 8);
    assert_int_equal(raw.n, 2);
    assert_int_equal(raw.size[0], want.n);
    assert_memory_equal(raw.data[0], want.b, want.n);
    assert_int_equal(raw.size[1], 8);
    assert_memory_equal(raw.data[1], "cached-x", 8);

    /* The repeat (the client came back through another connection): the
     * cached FINAL, addressed to the new client id, and nothing for the
     * caller. */
    t_fake_request(&f, "client-2", x, "body-x");
    assert_null(t_worker_poll(w, 200));
    t_fake_recv_cmd(&f, &in, &m);
    assert_int_equal(m.cmd, XGW_GWP_FINAL);
    assert_memory_equal(m.msg_id, x, sizeof x);
    assert_int_equal(m.status, 202);
    assert_int_equal(m.body.size, 8);
    assert_memory_equal(m.body.data, "cached-x", 8);
    assert_memory_equal(m.client.data, "client-2", strlen("client-2"));
    xgw_gwp_inbox_close(&in);

    /* A repeat while the first is still being worked on is swallowed. */
    t_fake_request(&f, "client-1", y, "body-y");
    req = t_worker_poll(w, 2000);
    assert_non_null(req);
    t_fake_request(&f, "client-1", y, "body-y");
    assert_null(t_worker_poll(w, 200));
    assert_int_equal(xgw_worker_reply(w, &req, 200, "y", 1), 0);
    t_fake_recv_cmd(&f, &in, &m);
    assert_int_equal(m.cmd, XGW_GWP_FINAL);
    assert_memory_equal(m.msg_id, y, sizeof y);
    xgw_gwp_inbox_close(&in);

    xgw_worker_stats_t ws;
    xgw_worker_stats(w, &ws);
    assert_int_equal(ws.received, 2);
    assert_int_equal(ws.answered, 2);
    assert_int_equal(ws.dup_replayed, 1);
    assert_int_equal(ws.dup_dropped, 1);

    /* DISCONNECT from the broker: the worker registers again. */
    xgw_gwp_t d;
    memset(&d, 0, sizeof d);
    d.side = XGW_GWP_WORKER;
    d.cmd = XGW_GWP_DISCONNECT;
    assert_int_equal(xgw_gwp_send(f.h, &f.worker_id, &d), 0);
    assert_null(t_worker_poll(w, 200));
    t_fake_recv_cmd(&f, &in, &m);
    assert_int_equal(m.cmd, XGW_GWP_READY);
    assert_string_equal(m.instance, "dd.07");
    xgw_gwp_inbox_close(&in);

    /* Garbage from the broker is ignored. */
    assert_true(zmq_send(f.h, f.worker_id.data, f.worker_id.size, ZMQ_SNDMORE) >= 0);
    assert_true(zmq_send(f.h, "junk", 4, 0) == 4);
    assert_null(t_worker_poll(w, 200));

    /* So are malformed REQUESTs, each with a msg_id of its own so that
     * none is mistaken for a repeat: the worker hands none of them out. */
    uint8_t z[XGW_GWP_MSGID_LEN];
    memset(z, 0x30, sizeof z);
    t_hdr_t h = {.n = 0};
    xgw_gwp_view_t fr[3];
    const xgw_gwp_view_t body = {(const uint8_t *)"body-z", 6};
    int64_t dl = xgw_gwp_now_ms() + 10000;
    /* The header without its body frame. */
    z[0] = 1;
    t_request_header(&h, "client-1", z, dl, "");
    fr[0] = (xgw_gwp_view_t){h.b, h.n};
    t_fake_send_raw(&f, fr, 1);
    /* A frame too many. */
    z[0] = 2;
    t_request_header(&h, "client-1", z, dl, "");
    fr[0] = (xgw_gwp_view_t){h.b, h.n};
    fr[1] = body;
    fr[2] = body;
    t_fake_send_raw(&f, fr, 3);
    /* A byte after the last field. */
    z[0] = 3;
    t_request_header(&h, "client-1", z, dl, "");
    t_put(&h, "\x00", 1);
    fr[0] = (xgw_gwp_view_t){h.b, h.n};
    fr[1] = body;
    t_fake_send_raw(&f, fr, 2);
    /* The header cut inside the msg_id. */
    z[0] = 4;
    t_request_header(&h, "client-1", z, dl, "");
    fr[0] = (xgw_gwp_view_t){h.b, 7 + 15};
    t_fake_send_raw(&f, fr, 2);
    /* An affinity length that runs past the header. */
    z[0] = 5;
    t_request_header(&h, "client-1", z, dl, "abc");
    h.b[h.n - 4] = 4;
    fr[0] = (xgw_gwp_view_t){h.b, h.n};
    t_fake_send_raw(&f, fr, 2);
    /* An empty client id. */
    z[0] = 6;
    t_request_header(&h, "", z, dl, "");
    fr[0] = (xgw_gwp_view_t){h.b, h.n};
    t_fake_send_raw(&f, fr, 2);
    /* The client side's signature. */
    z[0] = 7;
    t_request_header(&h, "client-1", z, dl, "");
    memcpy(h.b, "GWPC01", 6);
    fr[0] = (xgw_gwp_view_t){h.b, h.n};
    t_fake_send_raw(&f, fr, 2);
    /* A negative deadline. */
    z[0] = 8;
    t_request_header(&h, "client-1", z, -1, "");
    fr[0] = (xgw_gwp_view_t){h.b, h.n};
    t_fake_send_raw(&f, fr, 2);
    /* The old layout: every field a frame of its own. */
    z[0] = 9;
    const xgw_gwp_view_t old[7] = {{(const uint8_t *)"GWPW01", 6},
                                   {(const uint8_t *)"\x02", 1},
                                   {(const uint8_t *)"client-1", 8},
                                   {z, sizeof z},
                                   {(const uint8_t *)"", 0},
                                   {(const uint8_t *)"\x7f\0\0\0\0\0\0\0", 8},
                                   body};
    t_fake_send_raw(&f, old, 7);
    assert_null(t_worker_poll(w, 300));
    xgw_worker_stats(w, &ws);
    assert_int_equal(ws.received, 2);
    assert_int_equal(ws.dup_dropped, 1);
    assert_int_equal(ws.dup_replayed, 1);
    /* The same msg_ids well-formed afterwards: each is new to the worker. */
    for (uint8_t i = 1; i <= 9; i++) {
        z[0] = i;
        t_fake_request_raw(&f, "client-3", z, "", "body-z");
        req = t_worker_poll(w, 2000);
        assert_non_null(req);
        assert_memory_equal(req->msg_id, z, sizeof z);
        assert_memory_equal(req->client, "client-3", req->client_len);
        assert_int_equal(xgw_worker_reply(w, &req, 200, "", 0), 0);
        t_fake_recv_raw(&f, &raw);
        assert_int_equal(raw.n, 2);
        assert_int_equal(raw.size[0], 7 + 16 + 2 + 1 + 8);
        assert_int_equal(raw.data[0][6], 0x04);
        assert_memory_equal(raw.data[0] + 7, z, sizeof z);
        assert_int_equal(raw.size[1], 0);
    }
    xgw_worker_stats(w, &ws);
    assert_int_equal(ws.received, 11);
    assert_int_equal(ws.answered, 11);

    /* CREDIT goes out as sent; destroy says DISCONNECT. */
    assert_int_equal(xgw_worker_set_credit(w, 0), 0);
    assert_int_equal(xgw_worker_set_credit(w, XGW_GWP_CREDIT_MAX + 1), XGW_ERANGE);
    t_fake_recv_cmd(&f, &in, &m);
    assert_int_equal(m.cmd, XGW_GWP_CREDIT);
    assert_int_equal(m.credit, 0);
    xgw_gwp_inbox_close(&in);
    xgw_worker_stats(w, &ws);
    assert_int_equal(ws.reconnects, 1);
    xgw_worker_destroy(&w);
    assert_null(w);
    t_fake_recv_cmd(&f, &in, &m);
    assert_int_equal(m.cmd, XGW_GWP_DISCONNECT);
    xgw_gwp_inbox_close(&in);
    zsock_destroy(&f.sock);
}

static void
test_constructor_arguments(void **state)
{
    (void)state;
    assert_null(xgw_worker_new(NULL, "s", "i", 1, NULL));
    assert_null(xgw_worker_new("inproc://x", "", "i", 1, NULL));
    assert_null(xgw_worker_new("inproc://x", "Bad", "i", 1, NULL));
    assert_null(xgw_worker_new("inproc://x", "s", "", 1, NULL));
    assert_null(xgw_worker_new("inproc://x", "s", "has space", 1, NULL));
    assert_null(xgw_worker_new("inproc://x", "s", "i", XGW_GWP_CREDIT_MAX + 1, NULL));
    assert_null(xgw_client_new("nonsense://", NULL));
}

int
main(void)
{
    xgw_log_set_level(XGW_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, t_setup_inproc, t_teardown),
        cmocka_unit_test_setup_teardown(test_affinity, t_setup_inproc, t_teardown),
        cmocka_unit_test_setup_teardown(test_queue_full_503, t_setup_inproc, t_teardown),
        cmocka_unit_test_setup_teardown(test_deadline_504, t_setup_inproc, t_teardown),
        cmocka_unit_test_setup_teardown(test_worker_leaves_redispatch, t_setup_inproc, t_teardown),
        cmocka_unit_test_setup_teardown(test_broker_restart_retry, t_setup_ipc, t_teardown),
        cmocka_unit_test_setup_teardown(test_worker_dedup_across_restart, t_setup_ipc, t_teardown),
        cmocka_unit_test(test_worker_dedup_fake_broker),
        cmocka_unit_test(test_constructor_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
