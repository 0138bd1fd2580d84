/*
 * xgw_broker.c - GWP/1 broker; see xgw_broker.h and proto/GWP.md.
 *
 * Ownership: self->requests owns every request the broker knows (queued,
 * pinned to a worker, or in flight); the per-service queues, the workers'
 * pinned lists and in-flight tables only borrow them. self->workers owns the
 * workers, self->services the services.
 */
#include "xgw_broker.h"
#include "xgw_error.h"
#include "xgw_gwp_io.h"
#include "xgw_hrw.h"
#include "xgw_log.h"
#include "xgw_metrics.h"

#include <czmq.h>

#define S_MAX_SERVICES 64
#define S_BATCH 256        /* messages read from one socket before looking at the other */
#define S_ABANDON_MS 60000 /* in flight this long past its deadline: slot freed */

typedef struct s_service s_service_t;
typedef struct s_worker s_worker_t;

typedef struct {
    char key[33];
    uint8_t msg_id[XGW_GWP_MSGID_LEN];
    s_service_t *service;
    uint8_t client[XGW_GWP_ADDRESS_MAX];
    size_t client_len;
    char affinity[XGW_GWP_AFFINITY_MAX + 1];
    int64_t deadline_ms;
    uint8_t *body;
    size_t body_len;
    int64_t received_mono;
    s_worker_t *worker; /* in flight at this worker */
    s_worker_t *pinned; /* waiting in this worker's pinned list */
    void *handle;       /* position in the service queue or the pinned list */
    int expired;        /* answered 504 while at a worker; waiting for its FINAL */
} s_request_t;

struct s_service {
    char name[XGW_GWP_SERVICE_MAX + 1];
    zlistx_t *queue;   /* s_request_t, not yet given to a worker */
    zlistx_t *workers; /* s_worker_t, live */
    zlistx_t *idle;    /* s_worker_t with a free slot, least recently used first */
    size_t waiting;    /* queued + pinned */
    size_t in_flight;
    xgw_series_t *m_answered, *m_busy, *m_expired, *m_redispatched, *m_duplicate, *m_unroutable,
        *m_late;
    xgw_series_t *m_depth, *m_in_flight, *m_ready, *m_full, *m_draining, *m_duration;
};

struct s_worker {
    char key[2 * XGW_GWP_ADDRESS_MAX + 1];
    uint8_t id[XGW_GWP_ADDRESS_MAX];
    size_t id_len;
    char instance[XGW_GWP_INSTANCE_MAX + 1];
    s_service_t *service;
    uint32_t credit;
    zhashx_t *in_flight; /* request key -> s_request_t (borrowed) */
    zlistx_t *pinned;    /* s_request_t (borrowed) */
    void *svc_handle;
    void *idle_handle;
    int64_t expiry;
    int congested; /* last send hit the high-water mark */
};

struct xgw_broker {
    xgw_broker_opts_t opts;
    char frontend[512];
    char backend[512];
    zsock_t *front;
    zsock_t *back;
    void *fh;
    void *bh;
    zhashx_t *services; /* name -> s_service_t (owned) */
    zhashx_t *workers;  /* key -> s_worker_t (owned) */
    zhashx_t *requests; /* key -> s_request_t (owned) */
    int64_t next_heartbeat;
    int64_t next_expiry;
    int64_t last_proto_log;
    xgw_family_t *f_requests, *f_depth, *f_workers, *f_duration, *f_proto, *f_in_flight;
    xgw_series_t *m_proto_client, *m_proto_worker, *m_no_service;
};

static const double s_duration_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                           0.25,   0.5,   1,      2.5,   5,    10,    30,   60};

/* ---- requests ---------------------------------------------------------- */

static void
s_request_free(void **item)
{
    s_request_t *r = *item;
    if (r) {
        free(r->body);
        free(r);
        *item = NULL;
    }
}

/* Detaches r from whatever list or table borrows it and frees it. */
static void
s_request_drop(xgw_broker_t *self, s_request_t *r)
{
    s_service_t *svc = r->service;
    if (r->pinned) {
        zlistx_delete(r->pinned->pinned, r->handle);
        svc->waiting--;
    } else if (r->handle) {
        zlistx_delete(svc->queue, r->handle);
        svc->waiting--;
    }
    if (r->worker) {
        zhashx_delete(r->worker->in_flight, r->key);
        svc->in_flight--;
    }
    char key[33];
    memcpy(key, r->key, sizeof key);
    zhashx_delete(self->requests, key);
}

/* Sends a FINAL to r's client. A client that is gone is counted, not an
 * error: it will retry, and the worker's cache answers the retry. */
static void
s_client_final(xgw_broker_t *self, s_request_t *r, uint16_t status, const uint8_t *body,
               size_t body_len)
{
    xgw_gwp_t m;
    memset(&m, 0, sizeof m);
    m.side = XGW_GWP_CLIENT;
    m.cmd = XGW_GWP_FINAL;
    memcpy(m.service, r->service->name, sizeof m.service);
    memcpy(m.msg_id, r->msg_id, sizeof m.msg_id);
    m.status = status;
    m.body.data = body;
    m.body.size = body_len;
    xgw_gwp_view_t to = {r->client, r->client_len};
    if (xgw_gwp_send(self->fh, &to, &m) != 0)
        xgw_series_inc(r->service->m_unroutable);
}

/* ---- services ---------------------------------------------------------- */

static void
s_service_free(void **item)
{
    s_service_t *svc = *item;
    if (svc) {
        zlistx_destroy(&svc->queue);
        zlistx_destroy(&svc->workers);
        zlistx_destroy(&svc->idle);
        free(svc);
        *item = NULL;
    }
}

static s_service_t *
s_service_get(xgw_broker_t *self, const char *name)
{
    s_service_t *svc = zhashx_lookup(self->services, name);
    if (svc)
        return svc;
    if (zhashx_size(self->services) >= S_MAX_SERVICES)
        return NULL;
    svc = calloc(1, sizeof *svc);
    if (!svc)
        return NULL;
    snprintf(svc->name, sizeof svc->name, "%s", name);
    svc->queue = zlistx_new();
    svc->workers = zlistx_new();
    svc->idle = zlistx_new();
    if (!svc->queue || !svc->workers || !svc->idle) {
        void *p = svc;
        s_service_free(&p);
        return NULL;
    }
    svc->m_answered = xgw_family_series(self->f_requests, name, "answered");
    svc->m_busy = xgw_family_series(self->f_requests, name, "busy");
    svc->m_expired = xgw_family_series(self->f_requests, name, "expired");
    svc->m_redispatched = xgw_family_series(self->f_requests, name, "redispatched");
    svc->m_duplicate = xgw_family_series(self->f_requests, name, "duplicate");
    svc->m_unroutable = xgw_family_series(self->f_requests, name, "unroutable");
    svc->m_late = xgw_family_series(self->f_requests, name, "late");
    svc->m_depth = xgw_family_series(self->f_depth, name);
    svc->m_in_flight = xgw_family_series(self->f_in_flight, name);
    svc->m_ready = xgw_family_series(self->f_workers, name, "ready");
    svc->m_full = xgw_family_series(self->f_workers, name, "busy");
    svc->m_draining = xgw_family_series(self->f_workers, name, "draining");
    svc->m_duration = xgw_family_series(self->f_duration, name);
    zhashx_insert(self->services, name, svc);
    xgw_info("service_created", "service=%s", name);
    return svc;
}

/* ---- workers ----------------------------------------------------------- */

static void
s_worker_free(void **item)
{
    s_worker_t *w = *item;
    if (w) {
        zhashx_destroy(&w->in_flight);
        zlistx_destroy(&w->pinned);
        free(w);
        *item = NULL;
    }
}

static void
s_worker_key(const uint8_t *id, size_t len, char *key)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        key[2 * i] = hex[id[i] >> 4];
        key[2 * i + 1] = hex[id[i] & 0xf];
    }
    key[2 * len] = '\0';
}

/* Puts w in, or takes it out of, its service's idle list. */
static void
s_worker_refresh_idle(s_worker_t *w)
{
    int can_take = !w->congested && zhashx_size(w->in_flight) < w->credit;
    if (can_take && !w->idle_handle)
        w->idle_handle = zlistx_add_end(w->service->idle, w);
    else if (!can_take && w->idle_handle) {
        zlistx_delete(w->service->idle, w->idle_handle);
        w->idle_handle = NULL;
    }
}

static void
s_worker_send_cmd(xgw_broker_t *self, s_worker_t *w, xgw_gwp_cmd_t cmd)
{
    xgw_gwp_t m;
    memset(&m, 0, sizeof m);
    m.side = XGW_GWP_WORKER;
    m.cmd = cmd;
    xgw_gwp_view_t to = {w->id, w->id_len};
    (void)xgw_gwp_send(self->bh, &to, &m);
}

/* Removes w. What it held goes back to the front of its service queue (in
 * flight) or the queue (pinned), to be dispatched again; requests already
 * answered 504 are dropped. Does not dispatch: the caller does. */
static void
s_worker_delete(xgw_broker_t *self, s_worker_t *w, const char *reason)
{
    s_service_t *svc = w->service;
    size_t requeued = 0;
    for (s_request_t *r = zhashx_first(w->in_flight); r; r = zhashx_first(w->in_flight)) {
        zhashx_delete(w->in_flight, r->key);
        r->worker = NULL;
        svc->in_flight--;
        if (r->expired) {
            char key[33];
            memcpy(key, r->key, sizeof key);
            zhashx_delete(self->requests, key);
            continue;
        }
        r->handle = zlistx_add_start(svc->queue, r);
        svc->waiting++;
        xgw_series_inc(svc->m_redispatched);
        requeued++;
    }
    for (s_request_t *r = zlistx_first(w->pinned); r; r = zlistx_first(w->pinned)) {
        zlistx_delete(w->pinned, r->handle);
        r->pinned = NULL;
        r->handle = zlistx_add_start(svc->queue, r);
        requeued++;
    }
    xgw_info("worker_removed", "service=%s instance=%s reason=%s requeued=%zu", svc->name,
             w->instance, reason, requeued);
    if (w->idle_handle)
        zlistx_delete(svc->idle, w->idle_handle);
    zlistx_delete(svc->workers, w->svc_handle);
    char key[sizeof w->key];
    memcpy(key, w->key, sizeof key);
    zhashx_delete(self->workers, key);
}

/* Sends r to w. Returns 0, or a negative code with r left unassigned (the
 * caller puts it back). On XGW_ENOENT the worker has been deleted. */
static int
s_worker_send_request(xgw_broker_t *self, s_worker_t *w, s_request_t *r)
{
    xgw_gwp_t m;
    memset(&m, 0, sizeof m);
    m.side = XGW_GWP_WORKER;
    m.cmd = XGW_GWP_REQUEST;
    m.client.data = r->client;
    m.client.size = r->client_len;
    memcpy(m.msg_id, r->msg_id, sizeof m.msg_id);
    memcpy(m.affinity, r->affinity, sizeof m.affinity);
    m.deadline_ms = r->deadline_ms;
    m.body.data = r->body;
    m.body.size = r->body_len;
    xgw_gwp_view_t to = {w->id, w->id_len};
    int rc = xgw_gwp_send(self->bh, &to, &m);
    if (rc == 0) {
        r->worker = w;
        zhashx_insert(w->in_flight, r->key, r);
        w->service->in_flight++;
        if (w->idle_handle)
            zlistx_move_end(w->service->idle, w->idle_handle);
        s_worker_refresh_idle(w);
        return 0;
    }
    if (rc != XGW_ENOENT) {
        /* HWM reached (or a local failure): send it nothing more until it
         * speaks again. */
        w->congested = 1;
        s_worker_refresh_idle(w);
    }
    return rc;
}

/* The rendezvous-hashing choice among the live workers of svc. Draining
 * workers (credit 0) are left out unless every worker is draining, so keys
 * move away from a worker that is shutting down instead of waiting for it. */
static s_worker_t *
s_affinity_target(s_service_t *svc, const char *key)
{
    s_worker_t *best = NULL;
    uint64_t best_w = 0;
    for (int pass = 0; pass < 2 && !best; pass++) {
        for (s_worker_t *w = zlistx_first(svc->workers); w; w = zlistx_next(svc->workers)) {
            if (pass == 0 && w->credit == 0)
                continue;
            uint64_t weight = xgw_hrw_weight(key, w->instance);
            if (!best || weight > best_w) {
                best = w;
                best_w = weight;
            }
        }
    }
    return best;
}

static void s_service_dispatch(xgw_broker_t *self, s_service_t *svc);

/* Gives w what is pinned to it while it has room. */
static void
s_worker_dispatch(xgw_broker_t *self, s_worker_t *w)
{
    s_service_t *svc = w->service;
    while (!w->congested && zhashx_size(w->in_flight) < w->credit) {
        s_request_t *r = zlistx_first(w->pinned);
        if (!r)
            break;
        zlistx_delete(w->pinned, r->handle);
        r->handle = NULL;
        r->pinned = NULL;
        svc->waiting--;
        int rc = s_worker_send_request(self, w, r);
        if (rc != 0) {
            svc->waiting++;
            if (rc == XGW_ENOENT) {
                r->handle = zlistx_add_start(svc->queue, r);
                s_worker_delete(self, w, "unreachable");
                return; /* w is gone */
            }
            r->pinned = w;
            r->handle = zlistx_add_start(w->pinned, r);
            break;
        }
    }
}

/* Moves queued requests to workers: affinity requests to their rendezvous
 * worker's pinned list, others to the least recently used worker with room. */
static void
s_service_dispatch(xgw_broker_t *self, s_service_t *svc)
{
    for (;;) {
        s_request_t *r = zlistx_first(svc->queue);
        if (!r)
            break;
        if (r->affinity[0] != '\0') {
            s_worker_t *target = s_affinity_target(svc, r->affinity);
            if (!target)
                break;
            zlistx_delete(svc->queue, r->handle);
            r->pinned = target;
            r->handle = zlistx_add_end(target->pinned, r);
            s_worker_dispatch(self, target);
            continue;
        }
        s_worker_t *w = zlistx_first(svc->idle);
        if (!w)
            break;
        zlistx_delete(svc->queue, r->handle);
        r->handle = NULL;
        svc->waiting--;
        int rc = s_worker_send_request(self, w, r);
        if (rc != 0) {
            r->handle = zlistx_add_start(svc->queue, r);
            svc->waiting++;
            if (rc == XGW_ENOENT)
                s_worker_delete(self, w, "unreachable");
        }
    }
}

/* ---- frontend ---------------------------------------------------------- */

static void
s_log_protocol_error(xgw_broker_t *self, const char *side, int rc)
{
    int64_t now = zclock_mono();
    if (now - self->last_proto_log >= 1000) {
        self->last_proto_log = now;
        xgw_warn("protocol_error", "side=%s error=\"%s\"", side, xgw_strerror(rc));
    }
}

static void
s_frontend_request(xgw_broker_t *self, const xgw_gwp_view_t *client, const xgw_gwp_t *m)
{
    char key[33];
    xgw_gwp_msgid_hex(m->msg_id, key);
    s_request_t *known = zhashx_lookup(self->requests, key);
    if (known) {
        /* A client retry of something we hold: the answer is coming. */
        memcpy(known->client, client->data, client->size);
        known->client_len = client->size;
        xgw_series_inc(known->service->m_duplicate);
        return;
    }
    s_service_t *svc = s_service_get(self, m->service);
    s_request_t tmp;
    memset(&tmp, 0, sizeof tmp);
    memcpy(tmp.msg_id, m->msg_id, sizeof tmp.msg_id);
    memcpy(tmp.client, client->data, client->size);
    tmp.client_len = client->size;
    if (!svc) {
        /* Too many distinct service names: refuse rather than grow. */
        xgw_series_inc(self->m_no_service);
        {
            xgw_gwp_t fm;
            memset(&fm, 0, sizeof fm);
            fm.side = XGW_GWP_CLIENT;
            fm.cmd = XGW_GWP_FINAL;
            memcpy(fm.service, m->service, sizeof fm.service);
            memcpy(fm.msg_id, m->msg_id, sizeof fm.msg_id);
            fm.status = 503;
            (void)xgw_gwp_send(self->fh, client, &fm);
        }
        return;
    }
    tmp.service = svc;
    if (m->deadline_ms <= xgw_gwp_now_ms()) {
        xgw_series_inc(svc->m_expired);
        s_client_final(self, &tmp, 504, NULL, 0);
        return;
    }
    if (svc->waiting >= self->opts.queue_max) {
        xgw_series_inc(svc->m_busy);
        s_client_final(self, &tmp, 503, NULL, 0);
        return;
    }
    s_request_t *r = calloc(1, sizeof *r);
    uint8_t *body = m->body.size ? malloc(m->body.size) : NULL;
    if (!r || (m->body.size && !body)) {
        free(r);
        free(body);
        xgw_series_inc(svc->m_busy);
        s_client_final(self, &tmp, 503, NULL, 0);
        return;
    }
    *r = tmp;
    memcpy(r->key, key, sizeof key);
    memcpy(r->affinity, m->affinity, sizeof r->affinity);
    r->deadline_ms = m->deadline_ms;
    if (body)
        memcpy(body, m->body.data, m->body.size);
    r->body = body;
    r->body_len = m->body.size;
    r->received_mono = zclock_mono();
    zhashx_insert(self->requests, key, r);
    r->handle = zlistx_add_end(svc->queue, r);
    svc->waiting++;
    s_service_dispatch(self, svc);
}

static void
s_frontend_readable(xgw_broker_t *self)
{
    for (int i = 0; i < S_BATCH; i++) {
        xgw_gwp_inbox_t inbox;
        xgw_gwp_t m;
        int rc = xgw_gwp_recv(self->fh, 1, XGW_GWP_CLIENT, self->opts.max_body, &inbox, &m);
        if (rc == XGW_EAGAIN)
            return;
        if (rc != 0) {
            xgw_series_inc(self->m_proto_client);
            s_log_protocol_error(self, "client", rc);
        } else if (m.cmd == XGW_GWP_REQUEST) {
            s_frontend_request(self, &inbox.routing_id, &m);
        } else if (m.cmd == XGW_GWP_HEARTBEAT) {
            (void)xgw_gwp_send(self->fh, &inbox.routing_id, &m);
        } else {
            xgw_series_inc(self->m_proto_client);
            s_log_protocol_error(self, "client", XGW_EPROTO);
        }
        xgw_gwp_inbox_close(&inbox);
    }
}

/* ---- backend ----------------------------------------------------------- */

static void
s_backend_ready(xgw_broker_t *self, const xgw_gwp_view_t *id, const char *key, const xgw_gwp_t *m)
{
    s_worker_t *old = zhashx_lookup(self->workers, key);
    if (old) /* READY from a worker we think alive: a new incarnation */
        s_worker_delete(self, old, "ready_again");
    s_service_t *svc = s_service_get(self, m->service);
    if (!svc) {
        xgw_warn("worker_refused", "reason=too_many_services service=%s", m->service);
        xgw_gwp_t d;
        memset(&d, 0, sizeof d);
        d.side = XGW_GWP_WORKER;
        d.cmd = XGW_GWP_DISCONNECT;
        (void)xgw_gwp_send(self->bh, id, &d);
        return;
    }
    /* The same slot restarted (kill -9, supervisord brought it back): hand
     * its requests on now instead of waiting for its heartbeats to lapse. */
    for (s_worker_t *w = zlistx_first(svc->workers); w; w = zlistx_next(svc->workers)) {
        if (strcmp(w->instance, m->instance) == 0) {
            s_worker_delete(self, w, "replaced_by_same_instance");
            break;
        }
    }
    s_worker_t *w = calloc(1, sizeof *w);
    if (!w)
        return;
    w->in_flight = zhashx_new();
    w->pinned = zlistx_new();
    if (!w->in_flight || !w->pinned) {
        void *p = w;
        s_worker_free(&p);
        return;
    }
    memcpy(w->key, key, strlen(key) + 1);
    memcpy(w->id, id->data, id->size);
    w->id_len = id->size;
    memcpy(w->instance, m->instance, sizeof w->instance);
    w->service = svc;
    w->credit = m->credit;
    w->expiry = zclock_mono() + self->opts.heartbeat_ms * self->opts.liveness;
    w->svc_handle = zlistx_add_end(svc->workers, w);
    zhashx_insert(self->workers, key, w);
    s_worker_refresh_idle(w);
    xgw_info("worker_ready", "service=%s instance=%s credit=%u", svc->name, w->instance, w->credit);
    s_service_dispatch(self, svc);
}

static void
s_backend_final(xgw_broker_t *self, s_worker_t *w, const xgw_gwp_t *m)
{
    char key[33];
    xgw_gwp_msgid_hex(m->msg_id, key);
    s_request_t *r = zhashx_lookup(w->in_flight, key);
    if (!r) {
        xgw_series_inc(w->service->m_late);
        return;
    }
    if (r->expired) {
        xgw_series_inc(w->service->m_late);
    } else {
        s_client_final(self, r, m->status, m->body.data, m->body.size);
        xgw_series_inc(r->service->m_answered);
        xgw_series_observe(r->service->m_duration,
                           (double)(zclock_mono() - r->received_mono) / 1000.0);
    }
    s_request_drop(self, r);
}

static void
s_backend_readable(xgw_broker_t *self)
{
    for (int i = 0; i < S_BATCH; i++) {
        xgw_gwp_inbox_t inbox;
        xgw_gwp_t m;
        int rc = xgw_gwp_recv(self->bh, 1, XGW_GWP_WORKER, self->opts.max_body, &inbox, &m);
        if (rc == XGW_EAGAIN)
            return;
        if (inbox.routing_id.size == 0 || inbox.routing_id.size > XGW_GWP_ADDRESS_MAX) {
            xgw_gwp_inbox_close(&inbox);
            continue;
        }
        char key[2 * XGW_GWP_ADDRESS_MAX + 1];
        s_worker_key(inbox.routing_id.data, inbox.routing_id.size, key);
        s_worker_t *w = zhashx_lookup(self->workers, key);
        if (rc != 0) {
            xgw_series_inc(self->m_proto_worker);
            s_log_protocol_error(self, "worker", rc);
            if (w) {
                s_service_t *svc = w->service;
                s_worker_send_cmd(self, w, XGW_GWP_DISCONNECT);
                s_worker_delete(self, w, "protocol_error");
                s_service_dispatch(self, svc);
            } else {
                xgw_gwp_t d;
                memset(&d, 0, sizeof d);
                d.side = XGW_GWP_WORKER;
                d.cmd = XGW_GWP_DISCONNECT;
                (void)xgw_gwp_send(self->bh, &inbox.routing_id, &d);
            }
            xgw_gwp_inbox_close(&inbox);
            continue;
        }
        if (m.cmd == XGW_GWP_READY) {
            s_backend_ready(self, &inbox.routing_id, key, &m);
        } else if (!w) {
            /* Unknown worker (we restarted, or removed it): ask it to READY. */
            if (m.cmd != XGW_GWP_DISCONNECT) {
                xgw_gwp_t d;
                memset(&d, 0, sizeof d);
                d.side = XGW_GWP_WORKER;
                d.cmd = XGW_GWP_DISCONNECT;
                (void)xgw_gwp_send(self->bh, &inbox.routing_id, &d);
            }
        } else {
            s_service_t *svc = w->service;
            w->expiry = zclock_mono() + self->opts.heartbeat_ms * self->opts.liveness;
            w->congested = 0;
            switch (m.cmd) {
            case XGW_GWP_FINAL:
                s_backend_final(self, w, &m);
                break;
            case XGW_GWP_CREDIT:
                w->credit = m.credit;
                xgw_info("worker_credit", "service=%s instance=%s credit=%u", svc->name,
                         w->instance, w->credit);
                break;
            case XGW_GWP_DISCONNECT:
                s_worker_delete(self, w, "disconnect");
                w = NULL;
                break;
            default: /* HEARTBEAT */
                break;
            }
            if (w) {
                s_worker_refresh_idle(w);
                s_worker_dispatch(self, w);
            }
            s_service_dispatch(self, svc);
        }
        xgw_gwp_inbox_close(&inbox);
    }
}

/* ---- timers ------------------------------------------------------------ */

static void
s_heartbeat(xgw_broker_t *self, int64_t now)
{
    zlistx_t *dead = zlistx_new();
    for (s_worker_t *w = zhashx_first(self->workers); w; w = zhashx_next(self->workers)) {
        if (now > w->expiry) {
            if (dead)
                zlistx_add_end(dead, w);
        } else {
            s_worker_send_cmd(self, w, XGW_GWP_HEARTBEAT);
        }
    }
    if (dead) {
        for (s_worker_t *w = zlistx_first(dead); w; w = zlistx_next(dead)) {
            s_service_t *svc = w->service;
            s_worker_delete(self, w, "heartbeat_expired");
            s_service_dispatch(self, svc);
        }
        zlistx_destroy(&dead);
    }
}

static void
s_expire_list(xgw_broker_t *self, zlistx_t *list, int64_t unix_now, zlistx_t *out)
{
    (void)self;
    for (s_request_t *r = zlistx_first(list); r; r = zlistx_next(list)) {
        if (r->deadline_ms <= unix_now)
            zlistx_add_end(out, r);
    }
}

/* Answers 504 for everything past its deadline; queued ones are dropped,
 * in-flight ones stay until their worker answers (that keeps credit right). */
static void
s_expire(xgw_broker_t *self)
{
    int64_t unix_now = xgw_gwp_now_ms();
    zlistx_t *due = zlistx_new();
    zlistx_t *abandoned = zlistx_new();
    if (!due || !abandoned) {
        zlistx_destroy(&due);
        zlistx_destroy(&abandoned);
        return;
    }
    for (s_service_t *svc = zhashx_first(self->services); svc; svc = zhashx_next(self->services)) {
        s_expire_list(self, svc->queue, unix_now, due);
        for (s_worker_t *w = zlistx_first(svc->workers); w; w = zlistx_next(svc->workers)) {
            s_expire_list(self, w->pinned, unix_now, due);
            for (s_request_t *r = zhashx_first(w->in_flight); r; r = zhashx_next(w->in_flight)) {
                if (!r->expired && r->deadline_ms <= unix_now)
                    zlistx_add_end(due, r);
                else if (r->expired && r->deadline_ms + S_ABANDON_MS <= unix_now)
                    zlistx_add_end(abandoned, r);
            }
        }
    }
    for (s_request_t *r = zlistx_first(due); r; r = zlistx_next(due)) {
        s_client_final(self, r, 504, NULL, 0);
        xgw_series_inc(r->service->m_expired);
        if (r->worker)
            r->expired = 1;
        else
            s_request_drop(self, r);
    }
    /* A worker that never answers a request long past its deadline must not
     * keep its credit slot for ever. */
    for (s_request_t *r = zlistx_first(abandoned); r; r = zlistx_next(abandoned)) {
        s_worker_t *w = r->worker;
        xgw_warn("worker_never_answered", "service=%s instance=%s", r->service->name, w->instance);
        s_request_drop(self, r);
        s_worker_refresh_idle(w);
    }
    zlistx_destroy(&due);
    zlistx_destroy(&abandoned);
}

static void
s_update_gauges(xgw_broker_t *self)
{
    for (s_service_t *svc = zhashx_first(self->services); svc; svc = zhashx_next(self->services)) {
        size_t ready = 0, full = 0, draining = 0;
        for (s_worker_t *w = zlistx_first(svc->workers); w; w = zlistx_next(svc->workers)) {
            if (w->credit == 0)
                draining++;
            else if (zhashx_size(w->in_flight) < w->credit)
                ready++;
            else
                full++;
        }
        xgw_series_set(svc->m_ready, (double)ready);
        xgw_series_set(svc->m_full, (double)full);
        xgw_series_set(svc->m_draining, (double)draining);
        xgw_series_set(svc->m_depth, (double)svc->waiting);
        xgw_series_set(svc->m_in_flight, (double)svc->in_flight);
    }
}

/* ---- lifecycle --------------------------------------------------------- */

static zsock_t *
s_router(const char *endpoint, int sndhwm)
{
    zsock_t *s = zsock_new(ZMQ_ROUTER);
    if (!s)
        return NULL;
    zsock_set_router_mandatory(s, 1);
    zsock_set_sndhwm(s, sndhwm);
    zsock_set_rcvhwm(s, sndhwm);
    zsock_set_linger(s, 0);
    if (zsock_bind(s, "%s", endpoint) < 0) {
        xgw_error("bind_failed", "endpoint=\"%s\" error=\"%s\"", endpoint, zmq_strerror(errno));
        zsock_destroy(&s);
        return NULL;
    }
    return s;
}

xgw_broker_t *
xgw_broker_new(const xgw_broker_opts_t *opts)
{
    xgw_broker_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->opts = *opts;
    snprintf(self->frontend, sizeof self->frontend, "%s", opts->frontend);
    snprintf(self->backend, sizeof self->backend, "%s", opts->backend);
    self->opts.frontend = self->frontend;
    self->opts.backend = self->backend;

    self->f_requests = xgw_metrics_counter(
        "xgw_broker_requests_total",
        "Requests by service and outcome (answered, busy, expired, redispatched, duplicate, "
        "unroutable, late).",
        "service,outcome");
    self->f_depth = xgw_metrics_gauge("xgw_broker_queue_depth",
                                      "Requests waiting for a worker, per service.", "service");
    self->f_in_flight = xgw_metrics_gauge("xgw_broker_in_flight",
                                          "Requests held by workers, per service.", "service");
    self->f_workers = xgw_metrics_gauge(
        "xgw_broker_workers", "Live workers by state (ready, busy, draining).", "service,state");
    self->f_duration = xgw_metrics_histogram(
        "xgw_broker_request_duration_seconds",
        "Time from a request's arrival at the broker to its answer leaving it.", "service",
        s_duration_bounds, sizeof s_duration_bounds / sizeof s_duration_bounds[0]);
    self->f_proto = xgw_metrics_counter("xgw_broker_protocol_errors_total",
                                        "Malformed GWP messages by side.", "side");
    self->m_proto_client = xgw_family_series(self->f_proto, "client");
    self->m_proto_worker = xgw_family_series(self->f_proto, "worker");
    self->m_no_service = xgw_family_series(self->f_proto, "service_limit");

    self->services = zhashx_new();
    self->workers = zhashx_new();
    self->requests = zhashx_new();
    if (!self->services || !self->workers || !self->requests)
        goto fail;
    zhashx_set_destructor(self->services, s_service_free);
    zhashx_set_destructor(self->workers, s_worker_free);
    zhashx_set_destructor(self->requests, s_request_free);

    self->front = s_router(opts->frontend, opts->sndhwm);
    self->back = s_router(opts->backend, opts->sndhwm);
    if (!self->front || !self->back)
        goto fail;
    self->fh = zsock_resolve(self->front);
    self->bh = zsock_resolve(self->back);
    int64_t now = zclock_mono();
    self->next_heartbeat = now + opts->heartbeat_ms;
    self->next_expiry = now + opts->expiry_check_ms;
    xgw_info("broker_listening", "frontend=\"%s\" backend=\"%s\"", opts->frontend, opts->backend);
    return self;
fail:
    xgw_broker_destroy(&self);
    return NULL;
}

void
xgw_broker_destroy(xgw_broker_t **self_p)
{
    if (self_p && *self_p) {
        xgw_broker_t *self = *self_p;
        /* Workers borrow requests, services borrow workers: free the
         * borrowers' containers first. */
        zhashx_destroy(&self->workers);
        zhashx_destroy(&self->services);
        zhashx_destroy(&self->requests);
        zsock_destroy(&self->front);
        zsock_destroy(&self->back);
        free(self);
        *self_p = NULL;
    }
}

void
xgw_broker_set_queue_max(xgw_broker_t *self, size_t queue_max)
{
    self->opts.queue_max = queue_max;
}

size_t
xgw_broker_worker_count(const xgw_broker_t *self)
{
    return zhashx_size(self->workers);
}

int
xgw_broker_run(xgw_broker_t *self, volatile sig_atomic_t *stop, volatile sig_atomic_t *reload,
               void (*on_reload)(xgw_broker_t *, void *), void *ud)
{
    while (!*stop) {
        if (reload && *reload) {
            *reload = 0;
            if (on_reload)
                on_reload(self, ud);
        }
        int64_t now = zclock_mono();
        if (now >= self->next_heartbeat) {
            s_heartbeat(self, now);
            s_update_gauges(self);
            self->next_heartbeat = now + self->opts.heartbeat_ms;
        }
        if (now >= self->next_expiry) {
            s_expire(self);
            self->next_expiry = now + self->opts.expiry_check_ms;
        }
        int64_t wait = self->next_heartbeat - now;
        if (self->next_expiry - now < wait)
            wait = self->next_expiry - now;
        if (wait < 0)
            wait = 0;
        zmq_pollitem_t items[2] = {{self->bh, 0, ZMQ_POLLIN, 0}, {self->fh, 0, ZMQ_POLLIN, 0}};
        int rc = zmq_poll(items, 2, (long)wait);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            xgw_error("poll_failed", "error=\"%s\"", zmq_strerror(errno));
            return XGW_EIO;
        }
        /* Workers first: their FINALs free the credit the clients need. */
        if (items[0].revents & ZMQ_POLLIN)
            s_backend_readable(self);
        if (items[1].revents & ZMQ_POLLIN)
            s_frontend_readable(self);
    }
    return 0;
}
