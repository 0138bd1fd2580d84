/*
 * xgw_gwp_io.h - sending and receiving GWP/1 commands on ZeroMQ sockets.
 *
 * Receiving uses a fixed array of zmq_msg_t parts (no heap per message);
 * sending writes the frames straight from an xgw_gwp_t with ZMQ_DONTWAIT.
 */
#ifndef XGW_GWP_IO_H
#define XGW_GWP_IO_H

#include "xgw_gwp.h"

#include <zmq.h>

#define XGW_GWP_IO_PARTS 4 /* routing id + at most 2 frames + 1 to detect extras */

/* One received multipart message. Views in the decoded xgw_gwp_t point into
 * parts[], so keep the inbox until done with them, then xgw_gwp_inbox_close. */
typedef struct {
    zmq_msg_t parts[XGW_GWP_IO_PARTS];
    size_t count;              /* parts initialised (all must be closed) */
    size_t received;           /* parts on the wire, may exceed count */
    xgw_gwp_view_t routing_id; /* set when received on a ROUTER */
} xgw_gwp_inbox_t;

/* Receives one whole message from socket (a libzmq handle, e.g.
 * zsock_resolve(zsock)) without blocking. If router is non-zero the first
 * part is taken as the routing id. Returns:
 *   0             decoded into *out (views borrow from inbox);
 *   XGW_EAGAIN    nothing to read (inbox is empty and needs no close);
 *   other < 0     a message was read but is malformed; the inbox still
 *                 holds it (routing_id is valid if present) and must be
 *                 closed. */
int xgw_gwp_recv(void *socket, int router, xgw_gwp_side_t side, size_t max_body,
                 xgw_gwp_inbox_t *inbox, xgw_gwp_t *out);

/* Releases the parts held by inbox. Idempotent. */
void xgw_gwp_inbox_close(xgw_gwp_inbox_t *inbox);

/* Sends m on socket with ZMQ_DONTWAIT, prefixed by routing_id when non-NULL
 * (ROUTER sockets). m is borrowed. Returns 0; XGW_EAGAIN if the peer's queue
 * is full or (with ZMQ_IMMEDIATE) no peer is connected; XGW_ENOENT if a
 * ROUTER_MANDATORY socket has no such peer; XGW_EINVAL if m is not a valid
 * command; XGW_EIO otherwise. Nothing is sent on failure. */
int xgw_gwp_send(void *socket, const xgw_gwp_view_t *routing_id, const xgw_gwp_t *m);

#endif
