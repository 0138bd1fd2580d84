/*
 * xgw_gwp_io.c - GWP/1 over ZeroMQ sockets; see xgw_gwp_io.h.
 */
#include "xgw_gwp_io.h"
#include "xgw_error.h"

#include <errno.h>
#include <string.h>

void
xgw_gwp_inbox_close(xgw_gwp_inbox_t *inbox)
{
    for (size_t i = 0; i < inbox->count; i++)
        zmq_msg_close(&inbox->parts[i]);
    inbox->count = 0;
    inbox->received = 0;
}

int
xgw_gwp_recv(void *socket, int router, xgw_gwp_side_t side, size_t max_body, xgw_gwp_inbox_t *inbox,
             xgw_gwp_t *out)
{
    inbox->count = 0;
    inbox->received = 0;
    inbox->routing_id.data = NULL;
    inbox->routing_id.size = 0;
    int more = 1;
    while (more) {
        zmq_msg_t scratch;
        zmq_msg_t *part = inbox->count < XGW_GWP_IO_PARTS ? &inbox->parts[inbox->count] : &scratch;
        zmq_msg_init(part);
        /* Once the first part is in, the rest of the message is already
         * queued (ZeroMQ delivers multipart messages atomically). */
        int flags = inbox->received == 0 ? ZMQ_DONTWAIT : 0;
        int rc = zmq_msg_recv(part, socket, flags);
        if (rc < 0) {
            zmq_msg_close(part);
            if (inbox->received == 0)
                return errno == EAGAIN ? XGW_EAGAIN : XGW_EIO;
            return XGW_EIO;
        }
        inbox->received++;
        more = zmq_msg_more(part);
        if (part == &scratch)
            zmq_msg_close(part); /* extra parts: counted, not kept */
        else
            inbox->count++;
    }

    xgw_gwp_view_t views[XGW_GWP_IO_PARTS];
    size_t first = 0;
    if (router) {
        inbox->routing_id.data = zmq_msg_data(&inbox->parts[0]);
        inbox->routing_id.size = zmq_msg_size(&inbox->parts[0]);
        first = 1;
    }
    size_t n = 0;
    for (size_t i = first; i < inbox->count; i++, n++) {
        views[n].data = zmq_msg_data(&inbox->parts[i]);
        views[n].size = zmq_msg_size(&inbox->parts[i]);
    }
    if (inbox->received > inbox->count)
        return XGW_EPROTO; /* more frames than any command has */
    return xgw_gwp_decode(side, views, n, max_body, out);
}

int
xgw_gwp_send(void *socket, const xgw_gwp_view_t *routing_id, const xgw_gwp_t *m)
{
    xgw_gwp_view_t frames[XGW_GWP_MAX_FRAMES];
    uint8_t scratch[XGW_GWP_HEADER_MAX];
    int n = xgw_gwp_frames(m, scratch, frames);
    if (n < 0)
        return XGW_EINVAL;

    /* The first part decides: with ROUTER_MANDATORY or DONTWAIT a refusal
     * comes on it, and once it is accepted the rest of the message is too. */
    int base = ZMQ_DONTWAIT;
    int rc;
    if (routing_id) {
        rc = zmq_send(socket, routing_id->data, routing_id->size, base | ZMQ_SNDMORE);
        if (rc < 0)
            goto fail;
    }
    for (int i = 0; i < n; i++) {
        int flags = base | (i + 1 < n ? ZMQ_SNDMORE : 0);
        rc = zmq_send(socket, frames[i].data, frames[i].size, flags);
        if (rc < 0)
            goto fail;
    }
    return 0;
fail:
    if (errno == EAGAIN)
        return XGW_EAGAIN;
    if (errno == EHOSTUNREACH)
        return XGW_ENOENT;
    return XGW_EIO;
}
