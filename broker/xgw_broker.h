/*
 * xgw_broker.h - the GWP/1 broker: per-service queues, credit-window
 * dispatch, rendezvous affinity, heartbeats, re-dispatch on worker death,
 * deadlines and bounded queues (proto/GWP.md).
 */
#ifndef XGW_BROKER_H
#define XGW_BROKER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

typedef struct xgw_broker xgw_broker_t;

typedef struct {
    const char *frontend;    /* clients connect here (ROUTER, bind) */
    const char *backend;     /* workers connect here (ROUTER, bind) */
    int64_t heartbeat_ms;    /* common.heartbeat_interval */
    int liveness;            /* common.heartbeat_liveness */
    size_t queue_max;        /* broker.queue_max, per service */
    size_t max_body;         /* common.max_body */
    int64_t expiry_check_ms; /* broker.expiry_check_interval */
    int sndhwm;              /* broker.sndhwm */
} xgw_broker_opts_t;

/* Binds both sockets. Endpoint strings are copied. Returns NULL (and logs
 * why) when a socket cannot be bound. The caller owns the broker. */
xgw_broker_t *xgw_broker_new(const xgw_broker_opts_t *opts);

/* Closes the sockets and frees all state; requests still queued are
 * abandoned (their clients retry against the next broker). Nulls *self_p. */
void xgw_broker_destroy(xgw_broker_t **self_p);

/* Runs the loop until *stop becomes non-zero (set from a signal handler) or
 * a fatal socket error. reload is polled too: when non-zero, the broker
 * calls on_reload(ud) and clears it. Returns 0 on a requested stop. */
int xgw_broker_run(xgw_broker_t *self, volatile sig_atomic_t *stop, volatile sig_atomic_t *reload,
                   void (*on_reload)(xgw_broker_t *, void *), void *ud);

/* Changes the per-service queue bound (SIGHUP-reloadable). */
void xgw_broker_set_queue_max(xgw_broker_t *self, size_t queue_max);

/* Live workers over all services (for /healthz and tests). */
size_t xgw_broker_worker_count(const xgw_broker_t *self);

#endif
