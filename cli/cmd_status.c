/*
 * cmd_status.c - xgwctl ping SERVICE, xgwctl status: ask each service's
 * workers for their Status through the broker.
 */
#include "xgwctl.h"

#include <stdio.h>
#include <string.h>

static const char *const s_services[] = {"policy", "cert", "xmpp", "sip"};

static int
s_known_service(const char *name)
{
    for (size_t i = 0; i < sizeof s_services / sizeof s_services[0]; i++) {
        if (strcmp(name, s_services[i]) == 0)
            return 1;
    }
    return 0;
}

/* Pings one service and prints a line or a JSON object. */
static int
s_ping(xgwctl_t *ctl, const char *service, int first)
{
    Xgw__V1__Request req = XGW__V1__REQUEST__INIT;
    Xgw__V1__Ping ping = XGW__V1__PING__INIT;
    req.schema = 1;
    req.payload_case = XGW__V1__REQUEST__PAYLOAD_PING;
    req.ping = &ping;
    Xgw__V1__Reply *rep = NULL;
    uint16_t status = 0;
    int rc = xgwctl_call(ctl, service, &req, &rep, &status);
    if (rc == XGWCTL_OK && status == 200 && rep &&
        rep->payload_case == XGW__V1__REPLY__PAYLOAD_STATUS_INFO) {
        const Xgw__V1__Status *st = rep->status_info;
        if (ctl->json) {
            printf("%s{\"service\":\"%s\",\"status\":\"up\",\"instance\":", first ? "" : ",",
                   service);
            xgwctl_json_string(stdout, st->instance);
            printf(",\"version\":");
            xgwctl_json_string(stdout, st->version);
            printf(",\"uptime_s\":%llu,\"in_flight\":%u,\"handled\":%llu}",
                   (unsigned long long)st->uptime_s, st->in_flight,
                   (unsigned long long)st->handled);
        } else {
            printf("%-7s up    instance=%s version=%s uptime=%llus in_flight=%u handled=%llu\n",
                   service, st->instance, st->version, (unsigned long long)st->uptime_s,
                   st->in_flight, (unsigned long long)st->handled);
        }
    } else {
        if (ctl->json)
            printf("%s{\"service\":\"%s\",\"status\":\"down\",\"code\":%u}", first ? "" : ",",
                   service, status);
        else
            printf("%-7s DOWN\n", service);
        rc = XGWCTL_RUNTIME;
    }
    if (rep)
        xgw__v1__reply__free_unpacked(rep, NULL);
    return rc;
}

static int
s_cmd_ping(xgwctl_t *ctl, int argc, char **argv)
{
    if (argc != 2)
        return xgwctl_usage_error("usage: xgwctl ping SERVICE (policy, cert, xmpp, sip)");
    if (!s_known_service(argv[1]))
        return xgwctl_usage_error("unknown service \"%s\" (policy, cert, xmpp, sip)", argv[1]);
    int rc = s_ping(ctl, argv[1], 1);
    if (ctl->json)
        printf("\n");
    return rc;
}

static int
s_cmd_status(xgwctl_t *ctl, int argc, char **argv)
{
    (void)argv;
    if (argc != 1)
        return xgwctl_usage_error("usage: xgwctl status (takes no arguments)");
    int rc = XGWCTL_OK;
    if (ctl->json)
        printf("[");
    for (size_t k = 0; k < sizeof s_services / sizeof s_services[0]; k++) {
        int one = s_ping(ctl, s_services[k], k == 0);
        if (one != XGWCTL_OK)
            rc = one;
    }
    if (ctl->json)
        printf("]\n");
    return rc;
}

const xgwctl_cmd_t xgwctl_status_cmds[] = {
    {"ping", "SERVICE: status of one service (policy, cert, xmpp, sip)", s_cmd_ping},
    {"status", "status of every service", s_cmd_status},
    {NULL, NULL, NULL},
};
