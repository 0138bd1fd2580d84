/*
 * xgw_service.h - the main loop of a process that serves one GWP service
 * (xmppd, sipd, policyd, certd): registers as a worker, answers Ping with
 * its Status, hands other requests to the process's handler, polls the
 * process's own extra sockets, drains on SIGTERM (CREDIT 0, finish what it
 * holds, DISCONNECT, exit 0).
 */
#ifndef XGW_SERVICE_H
#define XGW_SERVICE_H

#include "xgw_arena.h"
#include "xgw_daemon.h"
#include "xgw_worker.h"

#include "xgw/v1/gwp.pb-c.h"

#include <zmq.h>

#define XGW_SERVICE_MAX_EXTRA 8

/* Handles one decoded request that is not a Ping. Fills *reply (status,
 * reason, payload); everything it points to must be allocated in arena (or
 * be static/owned by ud): the loop packs the reply, then resets the arena.
 * Returns 0; a negative code makes the loop answer 500. */
typedef int (*xgw_service_handler_fn)(void *ud, const Xgw__V1__Request *req, Xgw__V1__Reply *reply,
                                      xgw_arena_t *arena);

typedef struct xgw_service_def xgw_service_def_t;

struct xgw_service_def {
    const char *process;            /* "policyd" */
    const char *service;            /* GWP service name, "policy" */
    int64_t credit;                 /* window from the process's config section */
    int64_t metrics_port;           /* base port from the process's config section */
    xgw_service_handler_fn handler; /* NULL: everything but Ping gets 501 */
    void *ud;

    /* Optional hooks, all called on the loop thread with ud. */
    /* After the config is loaded and metrics are up, before serving.
     * Non-zero return: the process exits 1. */
    int (*on_start)(void *ud, xgw_daemon_t *daemon);
    /* Fills up to max extra libzmq socket handles (or fds with socket
     * NULL) to poll; returns how many. Asked once after on_start. */
    size_t (*extra_items)(void *ud, zmq_pollitem_t *items, size_t max);
    /* Extra item i has input (or is a timer-free call when i == SIZE_MAX). */
    void (*on_extra)(void *ud, size_t i);
    /* Called every loop turn; returns ms until it next wants to run
     * (-1: no wish). */
    int64_t (*on_tick)(void *ud);
    /* After draining, before the worker disconnects. */
    void (*on_stop)(void *ud);
    /* After a successful SIGHUP reload. */
    void (*on_reload)(void *ud, const xgw_settings_t *settings);
};

/* Fills st with this process's status for a Ping answer. Strings are
 * borrowed from process and daemon. started_mono is zclock_mono() at
 * start. */
void xgw_service_fill_status(Xgw__V1__Status *st, const char *process, const xgw_daemon_t *daemon,
                             xgw_worker_t *worker, int64_t started_mono);

/* Runs a service process: parses argv through xgw_daemon, calls pick to
 * copy credit and metrics port out of the settings, serves until
 * SIGTERM/SIGINT, drains, and returns the exit code (0 after a clean drain,
 * 2 for usage/config errors, 1 for runtime failures). */
int xgw_service_main(xgw_service_def_t *def, int argc, char **argv,
                     void (*pick)(xgw_service_def_t *def, const xgw_settings_t *s));

#endif
