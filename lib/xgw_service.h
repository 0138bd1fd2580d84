/*
 * xgw_service.h - the main loop of a process that serves one GWP service
 * (xmppd, sipd, policyd, certd): registers as a worker, answers Ping with
 * its Status, hands other requests to the process's handler, drains on
 * SIGTERM (CREDIT 0, finish what it holds, DISCONNECT, exit 0).
 */
#ifndef XGW_SERVICE_H
#define XGW_SERVICE_H

#include "xgw_daemon.h"
#include "xgw_worker.h"

#include "xgw/v1/gwp.pb-c.h"

/* Handles one decoded request that is not a Ping. Fills *reply (status,
 * reason, payload); strings it sets must live until the call returns to the
 * loop (static, or owned by ud). Returns 0; a negative code makes the loop
 * answer 500. NULL handler: everything but Ping is answered 501. */
typedef int (*xgw_service_handler_fn)(void *ud, const Xgw__V1__Request *req, Xgw__V1__Reply *reply);

typedef struct {
    const char *process;  /* "policyd" */
    const char *service;  /* GWP service name, "policy" */
    int64_t credit;       /* window from the process's config section */
    int64_t metrics_port; /* base port from the process's config section */
    xgw_service_handler_fn handler;
    void *handler_ud;
} xgw_service_def_t;

/* Runs a service process: parses argv through xgw_daemon, serves until
 * SIGTERM/SIGINT, drains, and returns the process exit code (0 after a clean
 * drain, 2 for usage/config errors, 1 for runtime failures). def->credit and
 * def->metrics_port are read after the config is loaded through pick(), which
 * copies them out of the settings. */
int xgw_service_main(xgw_service_def_t *def, int argc, char **argv,
                     void (*pick)(xgw_service_def_t *def, const xgw_settings_t *s));

#endif
