/*
 * xgw-broker - routes GWP/1 requests from clients to the workers of each
 * service (proto/GWP.md). Runs in the foreground; SIGTERM stops it, SIGHUP
 * reloads broker.queue_max and common.log_level.
 */
#include "xgw_broker.h"
#include "xgw_daemon.h"
#include "xgw_log.h"

#include <czmq.h>

typedef struct {
    xgw_daemon_t *daemon;
    xgw_broker_t *broker;
} s_ctx_t;

static int
s_health(void *ud, char *reason, size_t reason_len)
{
    (void)ud;
    (void)reason;
    (void)reason_len;
    return 0; /* the loop answering at all is the health signal */
}

static void
s_on_reload(xgw_broker_t *broker, void *ud)
{
    s_ctx_t *ctx = ud;
    if (xgw_daemon_reload(ctx->daemon) == 0)
        xgw_broker_set_queue_max(broker, (size_t)ctx->daemon->settings.broker.queue_max);
}

int
main(int argc, char **argv)
{
    xgw_daemon_t daemon;
    int rc = xgw_daemon_init(&daemon, "broker", argc, argv);
    if (rc != XGW_DAEMON_RUN)
        return rc == XGW_DAEMON_EXIT_OK ? 0 : 2;
    zsys_handler_set(NULL);
    if (xgw_daemon_start(&daemon, daemon.settings.broker.metrics_port, s_health, NULL) != 0)
        return 1;

    const xgw_settings_t *s = &daemon.settings;
    xgw_broker_opts_t opts = {
        .frontend = s->common.broker_frontend,
        .backend = s->common.broker_backend,
        .heartbeat_ms = s->common.heartbeat_interval_ms,
        .liveness = (int)s->common.heartbeat_liveness,
        .queue_max = (size_t)s->broker.queue_max,
        .max_body = (size_t)s->common.max_body,
        .expiry_check_ms = s->broker.expiry_check_interval_ms,
        .sndhwm = (int)s->broker.sndhwm,
    };
    xgw_broker_t *broker = xgw_broker_new(&opts);
    if (!broker) {
        xgw_daemon_fini(&daemon);
        return 1;
    }
    s_ctx_t ctx = {&daemon, broker};
    rc = xgw_broker_run(broker, &xgw_daemon_stop, &xgw_daemon_reload_requested, s_on_reload, &ctx);
    xgw_info("stopped", "reason=%s", rc == 0 ? "signal" : "error");
    xgw_broker_destroy(&broker);
    xgw_daemon_fini(&daemon);
    return rc == 0 ? 0 : 1;
}
