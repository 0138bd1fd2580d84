/*
 * xgw_client.c - GWP/1 client with retries and deadline answers; see
 * xgw_client.h and proto/GWP.md.
 */
#include "xgw_client.h"
#include "xgw_error.h"
#include "xgw_gwp_io.h"
#include "xgw_log.h"

#include <czmq.h>

/* One request waiting for its FINAL. */
typedef struct {
    char key[33];
    uint8_t msg_id[XGW_GWP_MSGID_LEN];
    char service[XGW_GWP_SERVICE_MAX + 1];
    char affinity[XGW_GWP_AFFINITY_MAX + 1];
    int64_t deadline_ms; /* Unix ms */
    uint8_t *body;
    size_t body_len;
    void *user;
    int attempts;        /* sends that reached the socket */
    int unsent;          /* last send failed: send again when the broker is back */
    int64_t interval_ms; /* current retry interval */
    int64_t next_retry;  /* monotonic ms */
} s_pending_t;

#define S_UNSENT_FIRST_MS 5

struct xgw_client {
    zsock_t *sock;
    void *handle; /* libzmq socket */
    xgw_client_opts_t opts;
    zhashx_t *pending; /* key -> s_pending_t (owned) */
    zlistx_t *ready;   /* xgw_reply_t (owned) made locally: deadline 504s */
    int64_t last_heard;
    int64_t last_hb_sent;
    int64_t next_scan;
    int broker_up;
    int ever_up;
    /* ZMQ_IMMEDIATE makes a send fail while the connection is still being
     * set up (or the broker is away): try again soon, backing off. */
    int64_t unsent_backoff_ms;
    int64_t hb_backoff_ms; /* the same for heartbeats, capped at the interval */
    xgw_client_stats_t stats;
};

static void
s_pending_free(void **item)
{
    s_pending_t *p = *item;
    if (p) {
        free(p->body);
        free(p);
        *item = NULL;
    }
}

static void
s_reply_free(void **item)
{
    xgw_reply_t *r = *item;
    xgw_reply_destroy(&r);
    *item = NULL;
}

void
xgw_client_opts_default(xgw_client_opts_t *opts)
{
    opts->heartbeat_ms = 1000;
    opts->liveness = 3;
    opts->retry_ms = 1000;
    opts->max_body = 1024 * 1024;
    opts->max_outstanding = 100000;
    opts->deadline_grace_ms = 1000;
}

xgw_client_t *
xgw_client_new(const char *endpoint, const xgw_client_opts_t *opts)
{
    xgw_client_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    if (opts)
        self->opts = *opts;
    else
        xgw_client_opts_default(&self->opts);
    self->pending = zhashx_new();
    self->ready = zlistx_new();
    self->sock = zsock_new(ZMQ_DEALER);
    if (!self->pending || !self->ready || !self->sock)
        goto fail;
    zhashx_set_destructor(self->pending, s_pending_free);
    zlistx_set_destructor(self->ready, s_reply_free);
    zsock_set_immediate(self->sock, 1);
    zsock_set_sndhwm(self->sock, 0);
    zsock_set_rcvhwm(self->sock, 0);
    zsock_set_linger(self->sock, 0);
    if (zsock_connect(self->sock, "%s", endpoint) != 0) {
        xgw_error("client_connect_failed", "endpoint=\"%s\"", endpoint);
        goto fail;
    }
    self->handle = zsock_resolve(self->sock);
    int64_t now = zclock_mono();
    self->last_heard = now;
    self->last_hb_sent = 0;
    self->next_scan = now;
    self->unsent_backoff_ms = S_UNSENT_FIRST_MS;
    self->hb_backoff_ms = S_UNSENT_FIRST_MS;
    return self;
fail:
    xgw_client_destroy(&self);
    return NULL;
}

void
xgw_client_destroy(xgw_client_t **self_p)
{
    if (self_p && *self_p) {
        xgw_client_t *self = *self_p;
        zsock_destroy(&self->sock);
        zhashx_destroy(&self->pending);
        zlistx_destroy(&self->ready);
        free(self);
        *self_p = NULL;
    }
}

/* Sends p to the broker. Failure is not an error: p stays pending and is
 * retried; only its bookkeeping changes. */
static void
s_transmit(xgw_client_t *self, s_pending_t *p, int64_t now)
{
    xgw_gwp_t m;
    memset(&m, 0, sizeof m);
    m.side = XGW_GWP_CLIENT;
    m.cmd = XGW_GWP_REQUEST;
    memcpy(m.service, p->service, sizeof m.service);
    memcpy(m.msg_id, p->msg_id, sizeof m.msg_id);
    memcpy(m.affinity, p->affinity, sizeof m.affinity);
    m.deadline_ms = p->deadline_ms;
    m.body.data = p->body;
    m.body.size = p->body_len;
    int rc = xgw_gwp_send(self->handle, NULL, &m);
    if (rc == 0) {
        if (p->attempts > 0)
            self->stats.resent++;
        p->attempts++;
        p->unsent = 0;
        p->next_retry = now + p->interval_ms;
        self->unsent_backoff_ms = S_UNSENT_FIRST_MS;
    } else {
        p->unsent = 1;
        p->next_retry = now + self->unsent_backoff_ms;
        if (self->unsent_backoff_ms < self->opts.retry_ms)
            self->unsent_backoff_ms *= 2;
    }
    if (p->next_retry < self->next_scan)
        self->next_scan = p->next_retry;
}

int
xgw_client_send(xgw_client_t *self, const char *service, const char *affinity, int64_t deadline_ms,
                const void *body, size_t body_len, void *user,
                uint8_t msg_id_out[XGW_GWP_MSGID_LEN])
{
    if (!service || (body_len > 0 && !body) || body_len > self->opts.max_body)
        return XGW_EINVAL;
    if (zhashx_size(self->pending) >= self->opts.max_outstanding)
        return XGW_EAGAIN;

    s_pending_t *p = calloc(1, sizeof *p);
    if (!p)
        return XGW_ENOMEM;
    size_t sl = strlen(service);
    size_t al = affinity ? strlen(affinity) : 0;
    if (sl == 0 || sl > XGW_GWP_SERVICE_MAX || al > XGW_GWP_AFFINITY_MAX) {
        free(p);
        return XGW_EINVAL;
    }
    memcpy(p->service, service, sl + 1);
    if (al > 0)
        memcpy(p->affinity, affinity, al + 1);
    if (xgw_gwp_msgid_new(p->msg_id) != 0) {
        free(p);
        return XGW_ERROR;
    }
    /* Reject what the broker would reject, here, where the caller can see
     * it, instead of as a silent protocol error at the broker. */
    xgw_gwp_t check;
    memset(&check, 0, sizeof check);
    check.side = XGW_GWP_CLIENT;
    check.cmd = XGW_GWP_REQUEST;
    memcpy(check.service, p->service, sizeof check.service);
    memcpy(check.affinity, p->affinity, sizeof check.affinity);
    check.deadline_ms = deadline_ms;
    check.body.size = 0;
    if (xgw_gwp_validate(&check, self->opts.max_body) != 0) {
        free(p);
        return XGW_EINVAL;
    }
    if (body_len > 0) {
        p->body = malloc(body_len);
        if (!p->body) {
            free(p);
            return XGW_ENOMEM;
        }
        memcpy(p->body, body, body_len);
        p->body_len = body_len;
    }
    xgw_gwp_msgid_hex(p->msg_id, p->key);
    p->deadline_ms = deadline_ms;
    p->user = user;
    p->interval_ms = self->opts.retry_ms;
    zhashx_insert(self->pending, p->key, p);
    self->stats.sent++;
    if (msg_id_out)
        memcpy(msg_id_out, p->msg_id, XGW_GWP_MSGID_LEN);
    s_transmit(self, p, zclock_mono());
    return 0;
}

static xgw_reply_t *
s_reply_new(const s_pending_t *p, uint16_t status, const uint8_t *body, size_t body_len)
{
    xgw_reply_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    memcpy(r->msg_id, p->msg_id, sizeof r->msg_id);
    memcpy(r->service, p->service, sizeof r->service);
    r->status = status;
    r->user = p->user;
    r->attempts = p->attempts;
    if (body_len > 0) {
        r->body = malloc(body_len);
        if (!r->body) {
            free(r);
            return NULL;
        }
        memcpy(r->body, body, body_len);
        r->body_len = body_len;
    }
    return r;
}

/* Everything pending goes out again: the broker restarted and forgot it. */
static void
s_resend_all(xgw_client_t *self, int only_unsent, int64_t now)
{
    s_pending_t *p = zhashx_first(self->pending);
    while (p) {
        if (!only_unsent || p->unsent)
            s_transmit(self, p, now);
        p = zhashx_next(self->pending);
    }
}

static void
s_heard_broker(xgw_client_t *self, int64_t now)
{
    self->last_heard = now;
    if (!self->broker_up) {
        self->broker_up = 1;
        if (self->ever_up) {
            self->stats.broker_restarts++;
            xgw_info("client_broker_back", "pending=%zu", zhashx_size(self->pending));
            s_resend_all(self, 0, now);
        } else {
            s_resend_all(self, 1, now);
        }
        self->ever_up = 1;
    }
}

int
xgw_client_recv(xgw_client_t *self, xgw_reply_t **reply_p)
{
    xgw_reply_t *local = zlistx_first(self->ready);
    if (local) {
        *reply_p = zlistx_detach_cur(self->ready);
        return 0;
    }
    for (;;) {
        xgw_gwp_inbox_t inbox;
        xgw_gwp_t m;
        int rc = xgw_gwp_recv(self->handle, 0, XGW_GWP_CLIENT, self->opts.max_body, &inbox, &m);
        if (rc == XGW_EAGAIN)
            return XGW_EAGAIN;
        int64_t now = zclock_mono();
        if (rc != 0) {
            xgw_warn("client_bad_message", "error=\"%s\"", xgw_strerror(rc));
            xgw_gwp_inbox_close(&inbox);
            continue;
        }
        s_heard_broker(self, now);
        if (m.cmd != XGW_GWP_FINAL) {
            xgw_gwp_inbox_close(&inbox);
            continue; /* HEARTBEAT: liveness only */
        }
        char key[33];
        xgw_gwp_msgid_hex(m.msg_id, key);
        s_pending_t *p = zhashx_lookup(self->pending, key);
        if (!p) {
            self->stats.duplicates++;
            xgw_gwp_inbox_close(&inbox);
            continue;
        }
        xgw_reply_t *r = s_reply_new(p, m.status, m.body.data, m.body.size);
        xgw_gwp_inbox_close(&inbox);
        if (!r)
            return XGW_ENOMEM; /* p stays pending; the retry will ask again */
        zhashx_delete(self->pending, key);
        self->stats.answered++;
        *reply_p = r;
        return 0;
    }
}

int64_t
xgw_client_tick(xgw_client_t *self)
{
    int64_t now = zclock_mono();
    int64_t hb = self->opts.heartbeat_ms;

    /* A heartbeat every interval, busy or not: the broker answers each one,
     * so silence means the broker is gone, not merely slow. */
    if (now - self->last_hb_sent >= hb) {
        xgw_gwp_t m;
        memset(&m, 0, sizeof m);
        m.side = XGW_GWP_CLIENT;
        m.cmd = XGW_GWP_HEARTBEAT;
        if (xgw_gwp_send(self->handle, NULL, &m) == 0) {
            self->last_hb_sent = now;
            self->hb_backoff_ms = S_UNSENT_FIRST_MS;
        } else { /* not connected yet: try again soon, backing off */
            self->last_hb_sent = now - hb + self->hb_backoff_ms;
            if (self->hb_backoff_ms < hb)
                self->hb_backoff_ms *= 2;
        }
    }
    if (self->broker_up && now - self->last_heard > hb * self->opts.liveness) {
        self->broker_up = 0;
        xgw_warn("client_broker_silent", "silent_ms=%lld pending=%zu",
                 (long long)(now - self->last_heard), zhashx_size(self->pending));
    }

    if (now >= self->next_scan) {
        /* The broker answers 504 at the deadline; the client's own 504 is
         * the fallback for a broker that is gone, so it waits a grace. */
        int64_t unix_now = xgw_gwp_now_ms() - self->opts.deadline_grace_ms;
        int64_t next = now + hb;
        zlistx_t *dead = NULL; /* keys to delete after the walk */
        for (s_pending_t *cur = zhashx_first(self->pending); cur;
             cur = zhashx_next(self->pending)) {
            if (cur->deadline_ms <= unix_now) {
                xgw_reply_t *r = s_reply_new(cur, 504, NULL, 0);
                if (!dead)
                    dead = zlistx_new();
                if (r && dead) {
                    zlistx_add_end(self->ready, r);
                    zlistx_add_end(dead, cur->key);
                    self->stats.expired++;
                } else {
                    xgw_reply_destroy(&r);
                }
                continue;
            }
            if (now >= cur->next_retry) {
                /* A request that never left is not a retry: keep its
                 * interval. */
                if (!cur->unsent)
                    cur->interval_ms *= 2;
                s_transmit(self, cur, now);
            }
            int64_t due = cur->next_retry;
            int64_t dl = now + (cur->deadline_ms - unix_now);
            if (dl < due)
                due = dl;
            if (due < next)
                next = due;
        }
        if (dead) {
            for (char *k = zlistx_first(dead); k; k = zlistx_next(dead))
                zhashx_delete(self->pending, k);
            zlistx_destroy(&dead);
        }
        self->next_scan = next;
    }

    int64_t wait = self->last_hb_sent + hb - now;
    if (self->next_scan - now < wait)
        wait = self->next_scan - now;
    if (zlistx_size(self->ready) > 0)
        wait = 0;
    return wait < 0 ? 0 : wait;
}

int
xgw_client_wait(xgw_client_t *self, int64_t timeout_ms, xgw_reply_t **reply_p)
{
    int64_t end = zclock_mono() + timeout_ms;
    for (;;) {
        int64_t wait = xgw_client_tick(self);
        if (xgw_client_recv(self, reply_p) == 0)
            return 0;
        int64_t left = end - zclock_mono();
        if (left <= 0)
            return XGW_ETIMEDOUT;
        if (wait > left)
            wait = left;
        zmq_pollitem_t item = {self->handle, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, (long)wait) < 0)
            return errno == EINTR ? XGW_ETIMEDOUT : XGW_EIO;
    }
}

void *
xgw_client_socket(xgw_client_t *self)
{
    return self->handle;
}

int
xgw_client_fd(xgw_client_t *self)
{
    return (int)zsock_fd(self->sock);
}

int
xgw_client_broker_seen(const xgw_client_t *self)
{
    return self->ever_up;
}

size_t
xgw_client_outstanding(const xgw_client_t *self)
{
    return zhashx_size(self->pending);
}

void
xgw_client_stats(const xgw_client_t *self, xgw_client_stats_t *out)
{
    *out = self->stats;
}

void
xgw_reply_destroy(xgw_reply_t **reply_p)
{
    if (reply_p && *reply_p) {
        free((*reply_p)->body);
        free(*reply_p);
        *reply_p = NULL;
    }
}
