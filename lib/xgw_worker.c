/*
 * xgw_worker.c - GWP/1 worker side; see xgw_worker.h and proto/GWP.md.
 */
#include "xgw_worker.h"
#include "xgw_dedup.h"
#include "xgw_error.h"
#include "xgw_gwp_io.h"
#include "xgw_log.h"

#include <czmq.h>

struct xgw_worker {
    zsock_t *sock;
    void *handle;
    xgw_worker_opts_t opts;
    char service[XGW_GWP_SERVICE_MAX + 1];
    char instance[XGW_GWP_INSTANCE_MAX + 1];
    uint32_t credit;
    xgw_dedup_t *dedup;
    size_t in_flight;
    int64_t last_heard;
    int64_t last_sent;
    int need_ready; /* READY not yet accepted by a socket send */
    xgw_worker_stats_t stats;
};

void
xgw_worker_opts_default(xgw_worker_opts_t *opts)
{
    opts->heartbeat_ms = 1000;
    opts->liveness = 3;
    opts->max_body = 1024 * 1024;
    opts->dedup_max = 100000;
    opts->dedup_ttl_ms = 600000;
}

static int
s_send(xgw_worker_t *self, xgw_gwp_t *m)
{
    m->side = XGW_GWP_WORKER;
    int rc = xgw_gwp_send(self->handle, NULL, m);
    if (rc == 0)
        self->last_sent = zclock_mono();
    return rc;
}

static void
s_send_ready(xgw_worker_t *self)
{
    xgw_gwp_t m;
    memset(&m, 0, sizeof m);
    m.cmd = XGW_GWP_READY;
    memcpy(m.service, self->service, sizeof m.service);
    memcpy(m.instance, self->instance, sizeof m.instance);
    m.credit = self->credit;
    self->need_ready = s_send(self, &m) != 0;
}

xgw_worker_t *
xgw_worker_new(const char *endpoint, const char *service, const char *instance, uint32_t credit,
               const xgw_worker_opts_t *opts)
{
    if (!endpoint || !service || !instance)
        return NULL;
    size_t sl = strlen(service), il = strlen(instance);
    if (sl == 0 || sl > XGW_GWP_SERVICE_MAX || il == 0 || il > XGW_GWP_INSTANCE_MAX ||
        credit > XGW_GWP_CREDIT_MAX)
        return NULL;
    xgw_worker_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    if (opts)
        self->opts = *opts;
    else
        xgw_worker_opts_default(&self->opts);
    memcpy(self->service, service, sl + 1);
    memcpy(self->instance, instance, il + 1);
    self->credit = credit;

    /* READY must pass the same checks the broker applies. */
    xgw_gwp_t check;
    memset(&check, 0, sizeof check);
    check.side = XGW_GWP_WORKER;
    check.cmd = XGW_GWP_READY;
    memcpy(check.service, self->service, sizeof check.service);
    memcpy(check.instance, self->instance, sizeof check.instance);
    check.credit = credit;
    if (xgw_gwp_validate(&check, self->opts.max_body) != 0)
        goto fail;

    self->dedup = xgw_dedup_new(self->opts.dedup_max, self->opts.dedup_ttl_ms);
    self->sock = zsock_new(ZMQ_DEALER);
    if (!self->dedup || !self->sock)
        goto fail;
    zsock_set_immediate(self->sock, 1);
    zsock_set_sndhwm(self->sock, 0);
    zsock_set_rcvhwm(self->sock, 0);
    zsock_set_linger(self->sock, 0);
    if (zsock_connect(self->sock, "%s", endpoint) != 0) {
        xgw_error("worker_connect_failed", "endpoint=\"%s\"", endpoint);
        goto fail;
    }
    self->handle = zsock_resolve(self->sock);
    self->last_heard = zclock_mono();
    s_send_ready(self);
    return self;
fail:
    xgw_worker_destroy(&self);
    return NULL;
}

void
xgw_worker_destroy(xgw_worker_t **self_p)
{
    if (self_p && *self_p) {
        xgw_worker_t *self = *self_p;
        if (self->handle) {
            xgw_gwp_t m;
            memset(&m, 0, sizeof m);
            m.cmd = XGW_GWP_DISCONNECT;
            (void)s_send(self, &m);
        }
        zsock_destroy(&self->sock);
        xgw_dedup_destroy(&self->dedup);
        free(self);
        *self_p = NULL;
    }
}

static xgw_request_t *
s_request_new(const xgw_gwp_t *m)
{
    xgw_request_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    memcpy(r->msg_id, m->msg_id, sizeof r->msg_id);
    memcpy(r->affinity, m->affinity, sizeof r->affinity);
    r->deadline_ms = m->deadline_ms;
    memcpy(r->client, m->client.data, m->client.size);
    r->client_len = m->client.size;
    if (m->body.size > 0) {
        r->body = malloc(m->body.size);
        if (!r->body) {
            free(r);
            return NULL;
        }
        memcpy(r->body, m->body.data, m->body.size);
        r->body_len = m->body.size;
    }
    return r;
}

static int
s_send_final(xgw_worker_t *self, const uint8_t *client, size_t client_len,
             const uint8_t msg_id[XGW_GWP_MSGID_LEN], uint16_t status, const void *body,
             size_t body_len)
{
    xgw_gwp_t m;
    memset(&m, 0, sizeof m);
    m.cmd = XGW_GWP_FINAL;
    m.client.data = client;
    m.client.size = client_len;
    memcpy(m.msg_id, msg_id, XGW_GWP_MSGID_LEN);
    m.status = status;
    m.body.data = body;
    m.body.size = body_len;
    return s_send(self, &m);
}

int
xgw_worker_recv(xgw_worker_t *self, xgw_request_t **req_p)
{
    for (;;) {
        xgw_gwp_inbox_t inbox;
        xgw_gwp_t m;
        int rc = xgw_gwp_recv(self->handle, 0, XGW_GWP_WORKER, self->opts.max_body, &inbox, &m);
        if (rc == XGW_EAGAIN)
            return XGW_EAGAIN;
        int64_t now = zclock_mono();
        if (rc != 0) {
            xgw_warn("worker_bad_message", "error=\"%s\"", xgw_strerror(rc));
            xgw_gwp_inbox_close(&inbox);
            continue;
        }
        self->last_heard = now;
        if (m.cmd == XGW_GWP_DISCONNECT) {
            /* The broker does not know us (it restarted, or declared us
             * dead): announce ourselves again. */
            xgw_gwp_inbox_close(&inbox);
            self->stats.reconnects++;
            xgw_info("worker_reregister", "reason=disconnect service=%s", self->service);
            s_send_ready(self);
            continue;
        }
        if (m.cmd != XGW_GWP_REQUEST) {
            xgw_gwp_inbox_close(&inbox);
            continue;
        }
        uint16_t status = 0;
        const uint8_t *body = NULL;
        size_t body_len = 0;
        int state =
            xgw_dedup_begin(self->dedup, m.msg_id, xgw_gwp_now_ms(), &status, &body, &body_len);
        if (state == XGW_DEDUP_IN_PROGRESS) {
            self->stats.dup_dropped++;
            xgw_gwp_inbox_close(&inbox);
            continue;
        }
        if (state == XGW_DEDUP_DONE) {
            self->stats.dup_replayed++;
            (void)s_send_final(self, m.client.data, m.client.size, m.msg_id, status, body,
                               body_len);
            xgw_gwp_inbox_close(&inbox);
            continue;
        }
        xgw_request_t *r = s_request_new(&m);
        xgw_gwp_inbox_close(&inbox);
        if (!r) {
            xgw_dedup_forget(self->dedup, m.msg_id);
            return XGW_ENOMEM;
        }
        self->in_flight++;
        self->stats.received++;
        *req_p = r;
        return 0;
    }
}

int
xgw_worker_reply(xgw_worker_t *self, xgw_request_t **req_p, uint16_t status, const void *body,
                 size_t body_len)
{
    if (!req_p || !*req_p)
        return XGW_EINVAL;
    xgw_request_t *r = *req_p;
    (void)xgw_dedup_finish(self->dedup, r->msg_id, xgw_gwp_now_ms(), status, body, body_len);
    int rc = s_send_final(self, r->client, r->client_len, r->msg_id, status, body, body_len);
    if (self->in_flight > 0)
        self->in_flight--;
    self->stats.answered++;
    xgw_request_destroy(req_p);
    return rc == 0 ? 0 : XGW_EAGAIN;
}

int
xgw_worker_set_credit(xgw_worker_t *self, uint32_t credit)
{
    if (credit > XGW_GWP_CREDIT_MAX)
        return XGW_ERANGE;
    self->credit = credit;
    xgw_gwp_t m;
    memset(&m, 0, sizeof m);
    m.cmd = XGW_GWP_CREDIT;
    m.credit = credit;
    return s_send(self, &m);
}

int64_t
xgw_worker_tick(xgw_worker_t *self)
{
    int64_t now = zclock_mono();
    int64_t hb = self->opts.heartbeat_ms;
    if (now - self->last_heard > hb * self->opts.liveness) {
        /* The broker sends a heartbeat every interval; this long a silence
         * means it restarted (or is gone): register again. */
        self->stats.reconnects++;
        xgw_info("worker_reregister", "reason=broker_silent service=%s silent_ms=%lld",
                 self->service, (long long)(now - self->last_heard));
        self->last_heard = now;
        s_send_ready(self);
    } else if (self->need_ready) {
        s_send_ready(self);
    }
    if (now - self->last_sent >= hb) {
        xgw_gwp_t m;
        memset(&m, 0, sizeof m);
        m.cmd = XGW_GWP_HEARTBEAT;
        (void)s_send(self, &m);
        self->last_sent = now; /* even if it failed: try again next interval */
    }
    xgw_dedup_expire(self->dedup, xgw_gwp_now_ms());
    int64_t wait = self->last_sent + hb - now;
    int64_t live = self->last_heard + hb * self->opts.liveness - now;
    if (live < wait)
        wait = live;
    if (self->need_ready && wait > 100)
        wait = 100;
    return wait < 0 ? 0 : wait;
}

void *
xgw_worker_socket(xgw_worker_t *self)
{
    return self->handle;
}

int
xgw_worker_fd(xgw_worker_t *self)
{
    return (int)zsock_fd(self->sock);
}

int
xgw_worker_connected(const xgw_worker_t *self)
{
    int64_t silent = zclock_mono() - self->last_heard;
    return !self->need_ready && silent <= self->opts.heartbeat_ms * self->opts.liveness;
}

size_t
xgw_worker_in_flight(const xgw_worker_t *self)
{
    return self->in_flight;
}

void
xgw_worker_stats(const xgw_worker_t *self, xgw_worker_stats_t *out)
{
    *out = self->stats;
}

void
xgw_request_destroy(xgw_request_t **req_p)
{
    if (req_p && *req_p) {
        free((*req_p)->body);
        free(*req_p);
        *req_p = NULL;
    }
}
