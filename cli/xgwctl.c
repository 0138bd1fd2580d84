/*
 * xgwctl - the administrator's command line. Talks to the services through
 * the broker as a GWP client.
 *
 * Exit codes: 0 success, 1 runtime failure (broker or service unreachable,
 * service error), 2 usage or validation error (one-line reason on stderr).
 */
#include "xgw_client.h"
#include "xgw_daemon.h"
#include "xgw_error.h"
#include "xgw_log.h"

#include "xgw/v1/gwp.pb-c.h"

#include <czmq.h>
#include <stdio.h>
#include <string.h>

#define S_EXIT_OK 0
#define S_EXIT_RUNTIME 1
#define S_EXIT_USAGE 2

static const char *const s_services[] = {"policy", "cert", "xmpp", "sip"};

typedef struct {
    const char *config;
    const char *sets[XGW_DAEMON_MAX_SETS];
    int n_sets;
    int json;
    xgw_settings_t settings;
} s_opts_t;

static void
s_usage(FILE *out)
{
    fprintf(out, "usage: xgwctl [-c FILE] [--set S.K=V]... [--json] COMMAND\n"
                 "commands:\n"
                 "  ping SERVICE   ask one worker of SERVICE (policy, cert, xmpp, sip) for\n"
                 "                 its status\n"
                 "  status         ping every service\n");
}

/* Pings one service; prints a line (or a JSON object). Returns an exit code. */
static int
s_ping(xgw_client_t *client, const s_opts_t *o, const char *service, int first)
{
    Xgw__V1__Request req = XGW__V1__REQUEST__INIT;
    Xgw__V1__Ping ping = XGW__V1__PING__INIT;
    req.schema = 1;
    req.payload_case = XGW__V1__REQUEST__PAYLOAD_PING;
    req.ping = &ping;
    uint8_t buf[64];
    size_t len = xgw__v1__request__pack(&req, buf);

    int64_t deadline = xgw_gwp_now_ms() + o->settings.xgwctl.timeout_ms;
    if (xgw_client_send(client, service, NULL, deadline, buf, len, NULL, NULL) != 0) {
        fprintf(stderr, "xgwctl: cannot queue a request for %s\n", service);
        return S_EXIT_RUNTIME;
    }
    xgw_reply_t *r = NULL;
    if (xgw_client_wait(client, o->settings.xgwctl.timeout_ms + 1000, &r) != 0) {
        fprintf(stderr, "xgwctl: no answer from %s (is xgw-broker running?)\n", service);
        return S_EXIT_RUNTIME;
    }
    int rc = S_EXIT_OK;
    Xgw__V1__Reply *rep = r->body_len ? xgw__v1__reply__unpack(NULL, r->body_len, r->body) : NULL;
    if (r->status == 200 && rep && rep->payload_case == XGW__V1__REPLY__PAYLOAD_STATUS_INFO) {
        const Xgw__V1__Status *st = rep->status_info;
        if (o->json)
            printf("%s{\"service\":\"%s\",\"status\":200,\"instance\":\"%s\",\"version\":\"%s\","
                   "\"uptime_s\":%llu,\"in_flight\":%u,\"handled\":%llu}",
                   first ? "" : ",", service, st->instance, st->version,
                   (unsigned long long)st->uptime_s, st->in_flight,
                   (unsigned long long)st->handled);
        else
            printf("%-7s up  instance=%s version=%s uptime=%llus in_flight=%u handled=%llu\n",
                   service, st->instance, st->version, (unsigned long long)st->uptime_s,
                   st->in_flight, (unsigned long long)st->handled);
    } else {
        const char *why = r->status == 504   ? "no worker answered before the deadline"
                          : r->status == 503 ? "broker queue full"
                                             : "error";
        if (o->json)
            printf("%s{\"service\":\"%s\",\"status\":%u,\"error\":\"%s\"}", first ? "" : ",",
                   service, r->status, why);
        else
            printf("%-7s DOWN status=%u (%s)\n", service, r->status, why);
        rc = S_EXIT_RUNTIME;
    }
    if (rep)
        xgw__v1__reply__free_unpacked(rep, NULL);
    xgw_reply_destroy(&r);
    return rc;
}

static int
s_known_service(const char *name)
{
    for (size_t i = 0; i < sizeof s_services / sizeof s_services[0]; i++) {
        if (strcmp(name, s_services[i]) == 0)
            return 1;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    s_opts_t o;
    memset(&o, 0, sizeof o);
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-c") == 0 && i + 1 < argc) {
            o.config = argv[++i];
        } else if (strcmp(a, "--set") == 0 && i + 1 < argc && o.n_sets < XGW_DAEMON_MAX_SETS) {
            o.sets[o.n_sets++] = argv[++i];
        } else if (strcmp(a, "--json") == 0) {
            o.json = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            s_usage(stdout);
            return S_EXIT_OK;
        } else {
            fprintf(stderr, "xgwctl: unknown option \"%s\"\n", a);
            return S_EXIT_USAGE;
        }
    }
    if (i >= argc) {
        s_usage(stderr);
        return S_EXIT_USAGE;
    }
    const char *cmd = argv[i++];
    const char *target = NULL;
    if (strcmp(cmd, "ping") == 0) {
        if (i >= argc) {
            fprintf(stderr, "xgwctl: ping needs a SERVICE (policy, cert, xmpp, sip)\n");
            return S_EXIT_USAGE;
        }
        target = argv[i++];
        if (!s_known_service(target)) {
            fprintf(stderr, "xgwctl: unknown service \"%s\" (policy, cert, xmpp, sip)\n", target);
            return S_EXIT_USAGE;
        }
    } else if (strcmp(cmd, "status") != 0) {
        fprintf(stderr, "xgwctl: unknown command \"%s\"\n", cmd);
        return S_EXIT_USAGE;
    }
    if (i < argc) {
        fprintf(stderr, "xgwctl: unexpected argument \"%s\"\n", argv[i]);
        return S_EXIT_USAGE;
    }

    char err[512];
    if (xgw_daemon_load_settings(o.config, o.sets, o.n_sets, &o.settings, err, sizeof err) != 0) {
        fprintf(stderr, "xgwctl: %s\n", err);
        return S_EXIT_USAGE;
    }
    xgw_log_init("xgwctl", 0);
    xgw_log_set_level(XGW_LOG_ERROR);
    zsys_handler_set(NULL);

    xgw_client_opts_t co;
    xgw_client_opts_default(&co);
    co.heartbeat_ms = o.settings.common.heartbeat_interval_ms;
    co.liveness = (int)o.settings.common.heartbeat_liveness;
    co.retry_ms = o.settings.common.retry_interval_ms;
    co.max_body = (size_t)o.settings.common.max_body;
    xgw_client_t *client = xgw_client_new(o.settings.common.broker_frontend, &co);
    if (!client) {
        fprintf(stderr, "xgwctl: cannot connect to %s\n", o.settings.common.broker_frontend);
        return S_EXIT_RUNTIME;
    }
    int rc = S_EXIT_OK;
    if (target) {
        rc = s_ping(client, &o, target, 1);
        if (o.json)
            printf("\n");
    } else {
        if (o.json)
            printf("[");
        for (size_t k = 0; k < sizeof s_services / sizeof s_services[0]; k++) {
            int one = s_ping(client, &o, s_services[k], k == 0);
            if (one != S_EXIT_OK)
                rc = one;
        }
        if (o.json)
            printf("]\n");
    }
    xgw_client_destroy(&client);
    return rc;
}
