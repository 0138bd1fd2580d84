/*
 * xgw-sipd - the SIP edge: sofia-sip NUA on su_root (sip_stack.c and its
 * units) bridged to the gateway's GWP runtime (xgw_edge_rt, sipd_bridge.c).
 *
 * One thread. The loop waits in su_root_step for SIP sockets, sofia's
 * timers and the runtime's descriptors (registered with su_root, each
 * wake-up runs xgw_edge_rt_process), at most xgw_edge_rt_tick() ms, and runs
 * xgw_edge_rt_process after every step as well, because ZeroMQ's ZMQ_FD is
 * edge-triggered and a send made inside a sofia callback can leave input
 * waiting without a new edge.
 *
 * SIGTERM: the worker's credit goes to 0 (the broker sends no more), new
 * SIP requests get 503 + Retry-After, held transactions are answered as
 * their answers come, until nothing is held or common.drain_timeout passes;
 * what is left is answered 503 and the process exits 0.
 */
#include "sipd.h"

#include "xgw_error.h"
#include "xgw_log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static sipd_t s_sipd;

static int64_t
s_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
s_fd_ready(void *ud)
{
    sipd_t *d = ud;
    xgw_edge_rt_process(d->rt);
}

static int
s_run(sipd_t *d)
{
    const xgw_settings_sipd_t *s = &d->daemon.settings.sipd;
    xgw_edge_rt_def_t def = {
        .process = "sipd",
        .service = "sip",
        .credit = s->credit,
        .metrics_port = s->metrics_port,
        .on_deliver = sipd_bridge_on_deliver,
        .ud = d,
    };
    d->rt = xgw_edge_rt_new(&def, &d->daemon);
    if (!d->rt)
        return 1;
    sipd_bridge_metrics(d);
    sip_hooks_t hooks;
    sipd_bridge_hooks(d, &hooks);
    hooks.fd_ready = s_fd_ready;
    char ua[64], store[XGW_CONFIG_PATH_MAX + 80];
    snprintf(store, sizeof store, "%s/%s.db", d->daemon.settings.common.data_dir,
             d->daemon.instance_name);
    snprintf(ua, sizeof ua, "xgw-sipd/%s", XGW_VERSION);
    sip_stack_opts_t o = {
        .sip_url = s->sip_url,
        .sips_url = s->sips_url,
        .outbound_proxy = s->outbound_proxy,
        .cert_dir = "",
        .trusted = &d->trusted,
        .max_message_body = (size_t)s->max_message_body,
        .subscribe_expires_s = (uint32_t)(s->subscribe_expires_ms / 1000),
        .user_agent = ua,
        .store_path = store,
    };
    d->sip = sip_stack_new(&o, &hooks);
    if (!d->sip) {
        xgw_edge_rt_destroy(&d->rt);
        return 1;
    }
    int fds[XGW_EDGE_RT_MAX_FDS];
    size_t n = xgw_edge_rt_fds(d->rt, fds, XGW_EDGE_RT_MAX_FDS);
    for (size_t i = 0; i < n; i++) {
        if (sip_stack_watch_fd(d->sip, fds[i]) != 0) {
            xgw_error("sip_watch_failed", "fd=%d", fds[i]);
            sip_stack_destroy(&d->sip, 0);
            xgw_edge_rt_destroy(&d->rt);
            return 1;
        }
    }

    bool draining = false;
    for (;;) {
        int64_t wait = xgw_edge_rt_tick(d->rt);
        sip_stack_step(d->sip, wait);
        xgw_edge_rt_process(d->rt);
        if (!draining && xgw_edge_rt_stopping(d->rt)) {
            draining = true;
            xgw_edge_rt_drain_begin(d->rt);
            sip_stack_set_refusing(d->sip, true);
        }
        if (draining) {
            bool idle = xgw_edge_rt_drained(d->rt) && sip_stack_held(d->sip) == 0 &&
                        sip_stack_out_in_flight(d->sip) == 0;
            if (idle || s_mono_ms() >= xgw_edge_rt_drain_deadline(d->rt)) {
                xgw_info("drained", "complete=%d held=%zu out=%zu", idle ? 1 : 0,
                         sip_stack_held(d->sip), sip_stack_out_in_flight(d->sip));
                break;
            }
        }
    }
    sip_stack_destroy(&d->sip, 2000);
    xgw_edge_rt_process(d->rt);
    xgw_edge_rt_destroy(&d->rt);
    xgw_info("stopped", NULL);
    return 0;
}

int
main(int argc, char **argv)
{
    sipd_t *d = &s_sipd;
    int rc = xgw_daemon_init(&d->daemon, "sipd", argc, argv);
    if (rc != XGW_DAEMON_RUN)
        return rc == XGW_DAEMON_EXIT_OK ? 0 : 2;
    char err[160];
    if (xgw_cidr_parse(d->daemon.settings.sipd.trusted_peers, &d->trusted, err, sizeof err) != 0) {
        fprintf(stderr, "xgw-sipd: sipd.trusted_peers: %s\n", err);
        return 2;
    }
    rc = s_run(d);
    xgw_daemon_fini(&d->daemon);
    return rc;
}
