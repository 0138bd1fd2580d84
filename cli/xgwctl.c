/*
 * xgwctl - the administrator's command line: global options, the command
 * table, and the broker connection. Each command family lives in its own
 * cmd_*.c file and registers through a table (see xgwctl.h).
 */
#include "xgwctl.h"
#include "xgw_error.h"
#include "xgw_log.h"

#include <czmq.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Every command table, in the order of the usage text. Each ends with a
 * NULL name. */
static const xgwctl_cmd_t *const s_tables[] = {
    xgwctl_status_cmds,
    xgwctl_cert_cmds,
    xgwctl_policy_cmds,
};

static void
s_usage(FILE *out)
{
    fprintf(out, "usage: xgwctl [-c FILE] [--set S.K=V]... [--json] COMMAND [ARGS]\n"
                 "commands:\n");
    for (size_t t = 0; t < sizeof s_tables / sizeof s_tables[0]; t++) {
        for (const xgwctl_cmd_t *c = s_tables[t]; c->name; c++)
            fprintf(out, "  %-10s %s\n", c->name, c->summary);
    }
    fprintf(out, "exit codes: 0 ok, 1 runtime failure, 2 usage or validation error\n");
}

int
xgwctl_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("xgwctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return XGWCTL_USAGE;
}

void
xgwctl_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

int
xgwctl_call(xgwctl_t *ctl, const char *service, const Xgw__V1__Request *req,
            Xgw__V1__Reply **reply_p, uint16_t *status)
{
    if (!ctl->client) {
        xgw_client_opts_t co;
        xgw_client_opts_default(&co);
        co.heartbeat_ms = ctl->settings.common.heartbeat_interval_ms;
        co.liveness = (int)ctl->settings.common.heartbeat_liveness;
        co.retry_ms = ctl->settings.common.retry_interval_ms;
        co.max_body = (size_t)ctl->settings.common.max_body;
        co.deadline_grace_ms = 200;
        ctl->client = xgw_client_new(ctl->settings.common.broker_frontend, &co);
        if (!ctl->client) {
            fprintf(stderr, "xgwctl: cannot connect to %s\n", ctl->settings.common.broker_frontend);
            return XGWCTL_RUNTIME;
        }
    }
    size_t len = xgw__v1__request__get_packed_size(req);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return XGWCTL_RUNTIME;
    xgw__v1__request__pack(req, buf);
    int64_t timeout = ctl->settings.xgwctl.timeout_ms;
    int rc = xgw_client_send(ctl->client, service, NULL, xgw_gwp_now_ms() + timeout, buf, len, NULL,
                             NULL);
    free(buf);
    if (rc != 0) {
        fprintf(stderr, "xgwctl: cannot send to %s: %s\n", service, xgw_strerror(rc));
        return XGWCTL_RUNTIME;
    }
    xgw_reply_t *r = NULL;
    if (xgw_client_wait(ctl->client, timeout + 1000, &r) != 0) {
        fprintf(stderr, "xgwctl: no answer from %s (is xgw-broker running?)\n", service);
        return XGWCTL_RUNTIME;
    }
    *status = r->status;
    *reply_p = NULL;
    if (r->body_len > 0)
        *reply_p = xgw__v1__reply__unpack(NULL, r->body_len, r->body);
    uint16_t st = r->status;
    xgw_reply_destroy(&r);
    if (st == 504 && !xgw_client_broker_seen(ctl->client)) {
        fprintf(stderr, "xgwctl: the broker at %s does not answer (is xgw-broker running?)\n",
                ctl->settings.common.broker_frontend);
        if (*reply_p)
            xgw__v1__reply__free_unpacked(*reply_p, NULL);
        *reply_p = NULL;
        return XGWCTL_RUNTIME;
    }
    if (st == 504) {
        fprintf(stderr, "xgwctl: no %s worker answered in time (is xgw-%s running?)\n", service,
                strcmp(service, "policy") == 0 ? "policyd"
                : strcmp(service, "cert") == 0 ? "certd"
                : strcmp(service, "xmpp") == 0 ? "xmppd"
                                               : "sipd");
        if (*reply_p)
            xgw__v1__reply__free_unpacked(*reply_p, NULL);
        *reply_p = NULL;
        return XGWCTL_RUNTIME;
    }
    if (st == 503) {
        fprintf(stderr, "xgwctl: the broker is overloaded (503); try again\n");
        if (*reply_p)
            xgw__v1__reply__free_unpacked(*reply_p, NULL);
        *reply_p = NULL;
        return XGWCTL_RUNTIME;
    }
    return XGWCTL_OK;
}

int
main(int argc, char **argv)
{
    xgwctl_t ctl;
    memset(&ctl, 0, sizeof ctl);
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-c") == 0 && i + 1 < argc) {
            ctl.config = argv[++i];
        } else if (strcmp(a, "--set") == 0 && i + 1 < argc) {
            if (ctl.n_sets >= XGW_DAEMON_MAX_SETS)
                return xgwctl_usage_error("at most %d --set options", XGW_DAEMON_MAX_SETS);
            ctl.sets[ctl.n_sets++] = argv[++i];
        } else if (strcmp(a, "--json") == 0) {
            ctl.json = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            s_usage(stdout);
            return XGWCTL_OK;
        } else {
            return xgwctl_usage_error("unknown option \"%s\" (see xgwctl --help)", a);
        }
    }
    if (i >= argc) {
        s_usage(stderr);
        return XGWCTL_USAGE;
    }
    const xgwctl_cmd_t *cmd = NULL;
    for (size_t t = 0; t < sizeof s_tables / sizeof s_tables[0] && !cmd; t++) {
        for (const xgwctl_cmd_t *c = s_tables[t]; c->name; c++) {
            if (strcmp(c->name, argv[i]) == 0) {
                cmd = c;
                break;
            }
        }
    }
    if (!cmd)
        return xgwctl_usage_error("unknown command \"%s\" (see xgwctl --help)", argv[i]);

    char err[512];
    if (xgw_daemon_load_settings(ctl.config, ctl.sets, ctl.n_sets, &ctl.settings, err,
                                 sizeof err) != 0)
        return xgwctl_usage_error("%s", err);
    xgw_log_init("xgwctl", 0);
    xgw_log_set_level(XGW_LOG_ERROR);
    zsys_handler_set(NULL);

    int rc = cmd->run(&ctl, argc - i, argv + i);
    xgw_client_destroy(&ctl.client);
    return rc;
}
