/*
 * xgw_worker.h - GWP/1 worker: registers a service with the broker, receives
 * requests within its credit window, answers each with one FINAL.
 *
 * De-duplication is built in: a repeat of a request this worker is still
 * working on is swallowed, and a repeat of one it already answered gets the
 * cached answer again without reaching the caller.
 *
 * Single-threaded, like xgw_client. Poll xgw_worker_socket()/xgw_worker_fd(),
 * drain with xgw_worker_recv until XGW_EAGAIN, call xgw_worker_tick when it
 * asks.
 */
#ifndef XGW_WORKER_H
#define XGW_WORKER_H

#include "xgw_gwp.h"

#include <stddef.h>
#include <stdint.h>

typedef struct xgw_worker xgw_worker_t;

typedef struct {
    int64_t heartbeat_ms; /* common.heartbeat_interval */
    int liveness;         /* common.heartbeat_liveness */
    size_t max_body;      /* common.max_body */
    size_t dedup_max;     /* common.dedup_max */
    int64_t dedup_ttl_ms; /* common.dedup_ttl */
} xgw_worker_opts_t;

/* One request handed to the caller, who owns it until xgw_worker_reply
 * (which frees it) or xgw_request_destroy. */
typedef struct {
    uint8_t msg_id[XGW_GWP_MSGID_LEN];
    char affinity[XGW_GWP_AFFINITY_MAX + 1];
    int64_t deadline_ms;
    uint8_t client[XGW_GWP_ADDRESS_MAX];
    size_t client_len;
    uint8_t *body; /* NULL when empty */
    size_t body_len;
} xgw_request_t;

typedef struct {
    uint64_t received;     /* requests handed to the caller */
    uint64_t answered;     /* FINALs sent */
    uint64_t dup_dropped;  /* repeats of in-progress requests */
    uint64_t dup_replayed; /* repeats answered from the cache */
    uint64_t reconnects;   /* READY sent again after broker silence or DISCONNECT */
} xgw_worker_stats_t;

/* Fills opts with the config defaults. */
void xgw_worker_opts_default(xgw_worker_opts_t *opts);

/* Connects to the broker backend at endpoint and announces READY for
 * service with the given credit window. instance names this slot and must be
 * stable across restarts (affinity hashing uses it). Returns NULL on bad
 * arguments or socket failure. The caller owns the worker. */
xgw_worker_t *xgw_worker_new(const char *endpoint, const char *service, const char *instance,
                             uint32_t credit, const xgw_worker_opts_t *opts);

/* Sends DISCONNECT, closes the socket, frees the worker; nulls *self_p.
 * Requests still held by the caller stay valid (they are the caller's). */
void xgw_worker_destroy(xgw_worker_t **self_p);

/* Returns the next new request: 0 with *req_p (caller owns), or XGW_EAGAIN.
 * Heartbeats, DISCONNECT and duplicates are handled inside. */
int xgw_worker_recv(xgw_worker_t *self, xgw_request_t **req_p);

/* Answers *req_p with status and body (copied), caches the answer for
 * repeats, frees the request and nulls *req_p. Returns 0, or XGW_EAGAIN if
 * the broker is unreachable right now (the answer is cached and the client's
 * retry will collect it; the request is still consumed). */
int xgw_worker_reply(xgw_worker_t *self, xgw_request_t **req_p, uint16_t status, const void *body,
                     size_t body_len);

/* Sets the credit window (CREDIT). 0 drains: the broker sends no more. */
int xgw_worker_set_credit(xgw_worker_t *self, uint32_t credit);

/* Heartbeats and broker liveness. Returns ms until it next needs to run. */
int64_t xgw_worker_tick(xgw_worker_t *self);

void *xgw_worker_socket(xgw_worker_t *self);
int xgw_worker_fd(xgw_worker_t *self);

/* Non-zero when the broker has been heard from within the liveness window
 * and READY went out (for /healthz). */
int xgw_worker_connected(const xgw_worker_t *self);

/* Requests handed out and not yet answered. */
size_t xgw_worker_in_flight(const xgw_worker_t *self);

void xgw_worker_stats(const xgw_worker_t *self, xgw_worker_stats_t *out);

/* Frees a request without answering it. The broker answers the client 504
 * at the deadline and frees this worker's credit slot 60 s later; prefer
 * answering 500, which frees it at once. Nulls *req_p. */
void xgw_request_destroy(xgw_request_t **req_p);

#endif
