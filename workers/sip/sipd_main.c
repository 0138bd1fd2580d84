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
 *
 * Instance N (--instance, supervisord's process_num) listens on the port of
 * sip_url (and sips_url) plus N, as its metrics port is metrics_port + N.
 */
#include "sipd.h"

#include "xgw_error.h"
#include "xgw_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static sipd_t s_sipd;

static int64_t
s_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The listener of instance n: the port of url plus n (like the metrics
 * port), so the instances of one host do not collide; a URL without a
 * port counts from 5060 (sip:) or 5061 (sips:). Writes into out; returns
 * 0, or XGW_EINVAL for a URL it cannot read or a port over 65535. */
static int
s_url_port_offset(const char *url, int n, char *out, size_t len)
{
    size_t scheme = 0;
    long def = 0;
    if (strncasecmp(url, "sip:", 4) == 0) {
        scheme = 4;
        def = 5060;
    } else if (strncasecmp(url, "sips:", 5) == 0) {
        scheme = 5;
        def = 5061;
    } else {
        return XGW_EINVAL;
    }
    const char *host = url + scheme;
    const char *end = host;
    if (*end == '[') {
        end = strchr(end, ']');
        if (!end)
            return XGW_EINVAL;
        end++;
    } else {
        end += strcspn(end, ":;?");
    }
    if (end == host)
        return XGW_EINVAL;
    long port = def;
    const char *rest = end;
    if (*end == ':') {
        char *stop = NULL;
        port = strtol(end + 1, &stop, 10);
        if (stop == end + 1 || port <= 0)
            return XGW_EINVAL;
        rest = stop;
    }
    if (n == 0 && *end != ':')
        port = 0; /* unchanged: keep it without a port */
    else
        port += n;
    if (port > 65535)
        return XGW_EINVAL;
    int w;
    if (port)
        w = snprintf(out, len, "%.*s:%ld%s", (int)(end - url), url, port, rest);
    else
        w = snprintf(out, len, "%s", url);
    return w < 0 || (size_t)w >= len ? XGW_EINVAL : 0;
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
        .on_rules_changed = sipd_bridge_on_rules_changed,
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
    char sip_url[XGW_CONFIG_ADDR_MAX + 8], sips_url[XGW_CONFIG_ADDR_MAX + 8] = "";
    int inst = d->daemon.instance;
    if (s_url_port_offset(s->sip_url, inst, sip_url, sizeof sip_url) != 0 ||
        (s->sips_url[0] && s_url_port_offset(s->sips_url, inst, sips_url, sizeof sips_url) != 0)) {
        xgw_error("sip_url_invalid", "sip_url=\"%s\" sips_url=\"%s\" instance=%d", s->sip_url,
                  s->sips_url, inst);
        xgw_edge_rt_destroy(&d->rt);
        return 1;
    }
    if (sips_url[0])
        /* README "Known limits": sofia opens the port, but without a
         * certificate from certd handshakes fail, and a TLS peer is not
         * trusted by its certificate (trusted_tls_hosts) yet. */
        xgw_warn("sips_without_certificate",
                 "sips_url=\"%s\" reason=\"TLS certificates from certd are not installed in "
                 "sipd yet; use sip_url with trusted_peers\"",
                 sips_url);
    sip_stack_opts_t o = {
        .sip_url = sip_url,
        .sips_url = sips_url,
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

    bool draining = false, restored = false;
    for (;;) {
        int64_t wait = xgw_edge_rt_tick(d->rt);
        sip_stack_step(d->sip, wait);
        xgw_edge_rt_process(d->rt);
        if (!restored && xgw_edge_rt_rules(d->rt)) {
            restored = true;
            sip_stack_restore(d->sip);
        }
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
    xgw_info("stopped", "reason=signal");
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
