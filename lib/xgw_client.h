/*
 * xgw_client.h - GWP/1 client: sends requests to a service through the
 * broker and returns exactly one reply per request.
 *
 * The client keeps every request until its FINAL arrives or its deadline
 * passes, re-sends it with the same msg_id after a retry interval that
 * doubles, re-sends everything at once when the broker comes back after a
 * silence, and reports 504 itself when the deadline passes. A second FINAL
 * for the same msg_id is dropped (counted in duplicates).
 *
 * Single-threaded: call everything from the thread that owns the loop. Poll
 * xgw_client_socket() (zmq_poll) or xgw_client_fd() (edge-triggered ZMQ_FD:
 * drain with xgw_client_recv until XGW_EAGAIN), and call xgw_client_tick at
 * least as often as it asks.
 */
#ifndef XGW_CLIENT_H
#define XGW_CLIENT_H

#include "xgw_gwp.h"

#include <stddef.h>
#include <stdint.h>

typedef struct xgw_client xgw_client_t;

typedef struct {
    int64_t heartbeat_ms;      /* common.heartbeat_interval */
    int liveness;              /* common.heartbeat_liveness */
    int64_t retry_ms;          /* common.retry_interval: first re-send */
    size_t max_body;           /* common.max_body */
    size_t max_outstanding;    /* send() refuses with XGW_EAGAIN beyond this */
    int64_t deadline_grace_ms; /* wait this long past a deadline for the
                                  broker's own 504 before making one */
} xgw_client_opts_t;

/* One answer. Owned by the caller of xgw_client_recv; free with
 * xgw_reply_destroy. */
typedef struct {
    uint8_t msg_id[XGW_GWP_MSGID_LEN];
    char service[XGW_GWP_SERVICE_MAX + 1];
    uint16_t status; /* 504 when the deadline passed without an answer */
    uint8_t *body;   /* NULL when empty */
    size_t body_len;
    void *user;   /* the cookie given to xgw_client_send */
    int attempts; /* how many times it was sent */
} xgw_reply_t;

typedef struct {
    uint64_t sent;       /* requests accepted by send() */
    uint64_t resent;     /* re-sends (retries and after broker restart) */
    uint64_t answered;   /* FINALs delivered to the caller */
    uint64_t expired;    /* 504s made by the client itself */
    uint64_t duplicates; /* FINALs dropped as repeats or unknown */
    uint64_t broker_restarts;
} xgw_client_stats_t;

/* Fills opts with the config defaults (1 s heartbeat, liveness 3, 1 s retry,
 * 1 MiB bodies, 100,000 outstanding). */
void xgw_client_opts_default(xgw_client_opts_t *opts);

/* Connects a DEALER to endpoint. opts may be NULL for defaults. Returns NULL
 * if the socket cannot be created or the endpoint is invalid. The caller owns
 * the client. */
xgw_client_t *xgw_client_new(const char *endpoint, const xgw_client_opts_t *opts);

/* Closes the socket and frees every outstanding request without answering
 * them; nulls *self_p. Idempotent. */
void xgw_client_destroy(xgw_client_t **self_p);

/* Queues a request and sends it if the broker is reachable. service and
 * affinity (NULL or "" for any worker) follow the GWP limits; body is copied;
 * user is returned in the reply. deadline_ms is Unix ms. Writes the msg_id to
 * msg_id_out when not NULL. Returns 0 (an answer will come, even if only a
 * 504), XGW_EINVAL for bad arguments, XGW_EAGAIN when max_outstanding
 * requests are open (nothing queued). */
int xgw_client_send(xgw_client_t *self, const char *service, const char *affinity,
                    int64_t deadline_ms, const void *body, size_t body_len, void *user,
                    uint8_t msg_id_out[XGW_GWP_MSGID_LEN]);

/* Returns the next answer without blocking: 0 and *reply_p set (caller owns
 * it), or XGW_EAGAIN when there is none now. Reads the socket as needed. */
int xgw_client_recv(xgw_client_t *self, xgw_reply_t **reply_p);

/* Does time-driven work: heartbeats, broker liveness, re-sends, deadline
 * 504s (collected by xgw_client_recv). Returns the milliseconds until it
 * next needs to run. */
int64_t xgw_client_tick(xgw_client_t *self);

/* Blocks up to timeout_ms for one answer (for xgwctl and tests): handles
 * ticks while it waits. Returns 0 with *reply_p, or XGW_ETIMEDOUT. */
int xgw_client_wait(xgw_client_t *self, int64_t timeout_ms, xgw_reply_t **reply_p);

/* The libzmq socket handle, for zmq_poll. Borrowed. */
void *xgw_client_socket(xgw_client_t *self);

/* ZMQ_FD of the socket, for foreign event loops. */
int xgw_client_fd(xgw_client_t *self);

/* Non-zero once anything has been heard from the broker (tells "broker
 * unreachable" from "no worker answered"). */
int xgw_client_broker_seen(const xgw_client_t *self);

/* Requests without an answer yet. */
size_t xgw_client_outstanding(const xgw_client_t *self);

/* Counters since creation. */
void xgw_client_stats(const xgw_client_t *self, xgw_client_stats_t *out);

/* Frees a reply and nulls *reply_p. Idempotent. */
void xgw_reply_destroy(xgw_reply_t **reply_p);

#endif
