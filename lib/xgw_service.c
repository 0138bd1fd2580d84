/*
 * xgw_service.c - main loop of a GWP service process; see xgw_service.h.
 */
#include "xgw_service.h"
#include "xgw_error.h"
#include "xgw_log.h"
#include "xgw_metrics.h"

#include <czmq.h>

typedef struct {
    xgw_service_def_t *def;
    xgw_daemon_t *daemon;
    xgw_worker_t *worker;
    xgw_arena_t *arena;
    int64_t started_mono;
    xgw_series_t *m_ok, *m_client_error, *m_server_error;
} s_ctx_t;

void
xgw_service_fill_status(Xgw__V1__Status *st, const char *process, const xgw_daemon_t *daemon,
                        xgw_worker_t *worker, int64_t started_mono)
{
    xgw_worker_stats_t ws;
    xgw_worker_stats(worker, &ws);
    st->process = (char *)process;
    st->instance = (char *)daemon->instance_name;
    st->version = XGW_VERSION;
    st->uptime_s = (uint64_t)((zclock_mono() - started_mono) / 1000);
    st->in_flight = (uint32_t)xgw_worker_in_flight(worker);
    st->handled = ws.answered;
}

static int
s_health(void *ud, char *reason, size_t reason_len)
{
    s_ctx_t *ctx = ud;
    /* Called on the metrics thread: only reads, and a stale answer is fine. */
    if (!ctx->worker || !xgw_worker_connected(ctx->worker)) {
        snprintf(reason, reason_len, "not registered with the broker");
        return -1;
    }
    return 0;
}

static void
s_answer(s_ctx_t *ctx, xgw_request_t **req_p)
{
    xgw_request_t *req = *req_p;
    Xgw__V1__Reply reply = XGW__V1__REPLY__INIT;
    Xgw__V1__Status status = XGW__V1__STATUS__INIT;
    char reason[128] = "";
    reply.reason = reason;

    Xgw__V1__Request *in = xgw__v1__request__unpack(NULL, req->body_len, req->body);
    if (!in) {
        reply.status = 400;
        snprintf(reason, sizeof reason, "body is not an xgw.v1.Request");
    } else if (in->payload_case == XGW__V1__REQUEST__PAYLOAD_PING) {
        xgw_service_fill_status(&status, ctx->def->process, ctx->daemon, ctx->worker,
                                ctx->started_mono);
        reply.status = 200;
        reply.payload_case = XGW__V1__REPLY__PAYLOAD_STATUS_INFO;
        reply.status_info = &status;
    } else if (ctx->def->handler) {
        if (ctx->def->handler(ctx->def->ud, in, &reply, ctx->arena) != 0) {
            reply.status = 500;
            reply.reason = reason;
            snprintf(reason, sizeof reason, "handler failed");
        }
    } else {
        reply.status = 501;
        snprintf(reason, sizeof reason, "%s does not handle this request kind", ctx->def->service);
    }

    size_t len = xgw__v1__reply__get_packed_size(&reply);
    uint8_t stackbuf[1024];
    uint8_t *buf = len <= sizeof stackbuf ? stackbuf : malloc(len);
    uint16_t code = (uint16_t)reply.status;
    if (!buf) {
        code = 500;
        len = 0;
    } else {
        xgw__v1__reply__pack(&reply, buf);
    }
    if (code < 300)
        xgw_series_inc(ctx->m_ok);
    else if (code < 500)
        xgw_series_inc(ctx->m_client_error);
    else
        xgw_series_inc(ctx->m_server_error);
    (void)xgw_worker_reply(ctx->worker, req_p, code, buf, len);
    if (buf != stackbuf)
        free(buf);
    if (in)
        xgw__v1__request__free_unpacked(in, NULL);
    xgw_arena_reset(ctx->arena);
}

static void
s_drain_input(s_ctx_t *ctx)
{
    for (;;) {
        xgw_request_t *req = NULL;
        if (xgw_worker_recv(ctx->worker, &req) != 0)
            return;
        s_answer(ctx, &req);
    }
}

int
xgw_service_main(xgw_service_def_t *def, int argc, char **argv,
                 void (*pick)(xgw_service_def_t *def, const xgw_settings_t *s))
{
    xgw_daemon_t daemon;
    int rc = xgw_daemon_init(&daemon, def->process, argc, argv);
    if (rc != XGW_DAEMON_RUN)
        return rc == XGW_DAEMON_EXIT_OK ? 0 : 2;
    if (pick)
        pick(def, &daemon.settings);

    s_ctx_t ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.def = def;
    ctx.daemon = &daemon;
    ctx.started_mono = zclock_mono();
    ctx.arena = xgw_arena_new(16384);
    if (!ctx.arena)
        return 1;
    zsys_handler_set(NULL); /* our own handlers, installed by xgw_daemon_start */
    if (xgw_daemon_start(&daemon, def->metrics_port, s_health, &ctx) != 0)
        return 1;

    xgw_family_t *f =
        xgw_metrics_counter("xgw_service_requests_total",
                            "Requests answered by this service, by result class.", "result");
    ctx.m_ok = xgw_family_series(f, "ok");
    ctx.m_client_error = xgw_family_series(f, "client_error");
    ctx.m_server_error = xgw_family_series(f, "server_error");

    if (def->on_start && def->on_start(def->ud, &daemon) != 0) {
        xgw_error("start_failed", "process=%s", def->process);
        xgw_daemon_fini(&daemon);
        return 1;
    }

    const xgw_settings_common_t *c = &daemon.settings.common;
    xgw_worker_opts_t wo;
    xgw_worker_opts_default(&wo);
    wo.heartbeat_ms = c->heartbeat_interval_ms;
    wo.liveness = (int)c->heartbeat_liveness;
    wo.max_body = (size_t)c->max_body;
    wo.dedup_max = (size_t)c->dedup_max;
    wo.dedup_ttl_ms = c->dedup_ttl_ms;
    ctx.worker = xgw_worker_new(c->broker_backend, def->service, daemon.instance_name,
                                (uint32_t)def->credit, &wo);
    if (!ctx.worker) {
        xgw_error("worker_failed", "endpoint=\"%s\"", c->broker_backend);
        xgw_daemon_fini(&daemon);
        return 1;
    }
    xgw_info("serving", "service=%s instance=%s credit=%lld", def->service, daemon.instance_name,
             (long long)def->credit);

    zmq_pollitem_t items[1 + XGW_SERVICE_MAX_EXTRA];
    size_t n_extra = 0;
    if (def->extra_items)
        n_extra = def->extra_items(def->ud, items + 1, XGW_SERVICE_MAX_EXTRA);
    while (!xgw_daemon_stop) {
        if (xgw_daemon_reload_requested) {
            xgw_daemon_reload_requested = 0;
            if (xgw_daemon_reload(&daemon) == 0 && def->on_reload)
                def->on_reload(def->ud, &daemon.settings);
        }
        int64_t wait = xgw_worker_tick(ctx.worker);
        if (def->on_tick) {
            int64_t want = def->on_tick(def->ud);
            if (want >= 0 && want < wait)
                wait = want;
        }
        items[0].socket = xgw_worker_socket(ctx.worker);
        items[0].fd = 0;
        items[0].events = ZMQ_POLLIN;
        for (size_t k = 0; k <= n_extra; k++)
            items[k].revents = 0;
        if (zmq_poll(items, (int)(1 + n_extra), (long)wait) < 0 && errno != EINTR)
            break;
        s_drain_input(&ctx);
        for (size_t k = 0; k < n_extra; k++) {
            if (items[1 + k].revents & ZMQ_POLLIN)
                def->on_extra(def->ud, k);
        }
    }

    /* Drain: no new work, finish what we hold, then leave. */
    xgw_info("draining", "in_flight=%zu", xgw_worker_in_flight(ctx.worker));
    (void)xgw_worker_set_credit(ctx.worker, 0);
    int64_t end = zclock_mono() + c->drain_timeout_ms;
    while (zclock_mono() < end) {
        s_drain_input(&ctx);
        if (xgw_worker_in_flight(ctx.worker) == 0)
            break;
        zmq_pollitem_t item = {xgw_worker_socket(ctx.worker), 0, ZMQ_POLLIN, 0};
        (void)zmq_poll(&item, 1, 50);
    }
    if (def->on_stop)
        def->on_stop(def->ud);
    xgw_worker_destroy(&ctx.worker);
    xgw_arena_destroy(&ctx.arena);
    xgw_info("stopped", "reason=signal");
    xgw_daemon_fini(&daemon);
    return 0;
}
