/*
 * xgw_cert_client.c - subscriber to certd's publication; see
 * xgw_cert_client.h.
 */
#include "xgw_cert_client.h"
#include "xgw_client.h"
#include "xgw_error.h"
#include "xgw_log.h"
#include "xgw_x509_verify.h"

#include "xgw/v1/gwp.pb-c.h"

#include <czmq.h>
#include <string.h>
#include <strings.h>

#define S_TOPIC "cert"

struct xgw_cert_client {
    zsock_t *sub;
    xgw_client_t *client;
    int64_t request_timeout_ms;
    int64_t retry_ms;
    int64_t next_request; /* mono ms; 0 = now */
    int request_open;
    Xgw__V1__CertSnapshot *snap; /* owned (unpacked) */
    int64_t last_heard;          /* mono ms */
    int stale;
    uint64_t dialback_version;
    xgw_dialback_ring_t *ring;
    uint64_t trust_version;
    X509_STORE *trust;
};

xgw_cert_client_t *
xgw_cert_client_new(const xgw_settings_t *s)
{
    if (!s)
        return NULL;
    xgw_cert_client_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    char ep[XGW_CONFIG_PATH_MAX + 2];
    snprintf(ep, sizeof ep, ">%s", s->common.cert_updates);
    self->sub = zsock_new_sub(ep, S_TOPIC);
    xgw_client_opts_t co;
    xgw_client_opts_default(&co);
    co.heartbeat_ms = s->common.heartbeat_interval_ms;
    co.liveness = (int)s->common.heartbeat_liveness;
    co.retry_ms = s->common.retry_interval_ms;
    co.max_body = (size_t)s->common.max_body;
    co.max_outstanding = 4;
    self->client = xgw_client_new(s->common.broker_frontend, &co);
    if (!self->sub || !self->client) {
        xgw_cert_client_destroy(&self);
        return NULL;
    }
    zsock_set_rcvtimeo(self->sub, 0);
    self->request_timeout_ms = s->common.request_timeout_ms;
    self->retry_ms = s->common.retry_interval_ms;
    self->last_heard = zclock_mono();
    return self;
}

void
xgw_cert_client_destroy(xgw_cert_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    xgw_cert_client_t *self = *self_p;
    zsock_destroy(&self->sub);
    xgw_client_destroy(&self->client);
    if (self->snap)
        xgw__v1__cert_snapshot__free_unpacked(self->snap, NULL);
    xgw_dialback_ring_destroy(&self->ring);
    X509_STORE_free(self->trust);
    free(self);
    *self_p = NULL;
}

size_t
xgw_cert_client_poll_items(xgw_cert_client_t *self, zmq_pollitem_t *items, size_t max)
{
    size_t n = 0;
    if (n < max) {
        items[n] = (zmq_pollitem_t){zsock_resolve(self->sub), 0, ZMQ_POLLIN, 0};
        n++;
    }
    if (n < max) {
        items[n] = (zmq_pollitem_t){xgw_client_socket(self->client), 0, ZMQ_POLLIN, 0};
        n++;
    }
    return n;
}

/* Loads the keyring and trust store named by snap when their versions
 * changed. Failures keep the previous ones (logged). */
static void
s_reload_files(xgw_cert_client_t *self, const Xgw__V1__CertSnapshot *snap)
{
    if (snap->dialback_path && *snap->dialback_path &&
        (!self->ring || snap->dialback_version != self->dialback_version)) {
        xgw_dialback_ring_t *ring = NULL;
        int rc = xgw_dialback_ring_load(snap->dialback_path, &ring);
        if (rc == 0) {
            xgw_dialback_ring_destroy(&self->ring);
            self->ring = ring;
            self->dialback_version = snap->dialback_version;
        } else {
            xgw_warn("dialback_load_failed", "path=\"%s\" error=%s", snap->dialback_path,
                     xgw_strerror(rc));
        }
    }
    if (snap->trust_path && *snap->trust_path &&
        (!self->trust || snap->trust_version != self->trust_version)) {
        char why[256];
        X509_STORE *st = xgw_x509_trust_load(snap->trust_path, why, sizeof why);
        if (st) {
            X509_STORE_free(self->trust);
            self->trust = st;
            self->trust_version = snap->trust_version;
        } else {
            xgw_warn("trust_load_failed", "reason=\"%s\"", why);
        }
    }
}

/* Takes ownership of snap; returns 1 if it replaced the held one. */
static int
s_offer(xgw_cert_client_t *self, Xgw__V1__CertSnapshot *snap)
{
    self->last_heard = zclock_mono();
    if (self->stale) {
        self->stale = 0;
        xgw_info("certd_heard_again", "version=%llu", (unsigned long long)snap->version);
    }
    const Xgw__V1__CertSnapshot *cur = self->snap;
    if (cur && cur->generation == snap->generation && snap->version <= cur->version) {
        xgw__v1__cert_snapshot__free_unpacked(snap, NULL);
        return 0;
    }
    if (self->snap)
        xgw__v1__cert_snapshot__free_unpacked(self->snap, NULL);
    self->snap = snap;
    s_reload_files(self, snap);
    xgw_info("cert_snapshot", "generation=%016llx version=%llu certs=%zu dialback_version=%llu",
             (unsigned long long)snap->generation, (unsigned long long)snap->version, snap->n_certs,
             (unsigned long long)snap->dialback_version);
    return 1;
}

int
xgw_cert_client_process(xgw_cert_client_t *self)
{
    int changed = 0;
    for (;;) {
        zmsg_t *m = zmsg_recv(self->sub);
        if (!m)
            break;
        zframe_t *topic = zmsg_first(m);
        zframe_t *body = zmsg_next(m);
        if (topic && body && zframe_streq(topic, S_TOPIC)) {
            Xgw__V1__CertSnapshot *snap =
                xgw__v1__cert_snapshot__unpack(NULL, zframe_size(body), zframe_data(body));
            if (snap)
                changed |= s_offer(self, snap);
        }
        zmsg_destroy(&m);
    }
    for (;;) {
        xgw_reply_t *r = NULL;
        if (xgw_client_recv(self->client, &r) != 0)
            break;
        self->request_open = 0;
        Xgw__V1__Reply *rep = r->status == 200 && r->body_len > 0
                                  ? xgw__v1__reply__unpack(NULL, r->body_len, r->body)
                                  : NULL;
        if (rep && rep->payload_case == XGW__V1__REPLY__PAYLOAD_CERT_SNAPSHOT &&
            rep->cert_snapshot) {
            /* Detach the snapshot from the reply, then free the rest. */
            Xgw__V1__CertSnapshot *snap = rep->cert_snapshot;
            rep->cert_snapshot = NULL;
            rep->payload_case = XGW__V1__REPLY__PAYLOAD__NOT_SET;
            changed |= s_offer(self, snap);
        } else {
            xgw_warn("cert_snapshot_failed", "status=%u", r->status);
            self->next_request = zclock_mono() + self->retry_ms;
        }
        if (rep)
            xgw__v1__reply__free_unpacked(rep, NULL);
        xgw_reply_destroy(&r);
    }
    return changed;
}

static void
s_request(xgw_cert_client_t *self)
{
    Xgw__V1__Request req = XGW__V1__REQUEST__INIT;
    Xgw__V1__CertSnapshotRequest body = XGW__V1__CERT_SNAPSHOT_REQUEST__INIT;
    req.schema = 1;
    req.payload_case = XGW__V1__REQUEST__PAYLOAD_CERT_SNAPSHOT_REQUEST;
    req.cert_snapshot_request = &body;
    body.have_version = self->snap ? self->snap->version : 0;
    uint8_t buf[64];
    size_t len = xgw__v1__request__get_packed_size(&req);
    if (len > sizeof buf)
        return;
    xgw__v1__request__pack(&req, buf);
    if (xgw_client_send(self->client, "cert", NULL, xgw_gwp_now_ms() + self->request_timeout_ms,
                        buf, len, NULL, NULL) == 0)
        self->request_open = 1;
    self->next_request = zclock_mono() + self->request_timeout_ms;
}

int64_t
xgw_cert_client_tick(xgw_cert_client_t *self)
{
    int64_t wait = xgw_client_tick(self->client);
    int64_t now = zclock_mono();
    if (self->snap) {
        int64_t hb = self->snap->heartbeat_ms ? self->snap->heartbeat_ms : 2000;
        if (!self->stale && now - self->last_heard > 3 * hb) {
            self->stale = 1;
            xgw_warn("certd_silent", "ms=%lld version=%llu", (long long)(now - self->last_heard),
                     (unsigned long long)self->snap->version);
        }
        int64_t until = self->last_heard + 3 * hb - now;
        if (!self->stale && until >= 0 && until < wait)
            wait = until + 1;
    }
    int want = !self->snap || self->stale;
    if (want && !self->request_open && now >= self->next_request)
        s_request(self);
    if (want && !self->request_open) {
        int64_t until = self->next_request - now;
        if (until < wait)
            wait = until < 0 ? 0 : until;
    }
    return wait;
}

const Xgw__V1__CertSnapshot *
xgw_cert_client_snapshot(const xgw_cert_client_t *self)
{
    return self ? self->snap : NULL;
}

int
xgw_cert_client_stale(const xgw_cert_client_t *self)
{
    return self ? self->stale : 1;
}

const xgw_dialback_ring_t *
xgw_cert_client_dialback(const xgw_cert_client_t *self)
{
    return self ? self->ring : NULL;
}

X509_STORE *
xgw_cert_client_trust(const xgw_cert_client_t *self)
{
    return self ? self->trust : NULL;
}

const Xgw__V1__CertMeta *
xgw_cert_snapshot_find(const Xgw__V1__CertSnapshot *snap, const char *usage, const char *domain)
{
    if (!snap || !usage)
        return NULL;
    const char *id = NULL;
    for (int pass = 0; pass < 2 && !id; pass++) {
        const char *want = pass == 0 ? (domain ? domain : "") : "";
        if (pass == 0 && (!domain || !*domain))
            continue;
        for (size_t i = 0; i < snap->n_assignments; i++) {
            const Xgw__V1__CertAssignment *a = snap->assignments[i];
            if (strcmp(a->usage, usage) == 0 && strcasecmp(a->domain, want) == 0) {
                id = a->cert_id;
                break;
            }
        }
    }
    for (size_t i = 0; id && i < snap->n_certs; i++) {
        if (strcmp(snap->certs[i]->id, id) == 0)
            return snap->certs[i];
    }
    return NULL;
}
