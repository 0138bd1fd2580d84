/*
 * policy_publish.c - rule-set publication; see policy_publish.h.
 */
#include "policy_publish.h"
#include "xgw_error.h"
#include "xgw_log.h"
#include "xgw_metrics.h"

#include <czmq.h>

#define S_HUGZ_MS 1000

struct policy_publish {
    zsock_t *pub;
    zsock_t *snap;
    const xgw_rules_t *rules;
    int64_t next_hugz;
    xgw_series_t *m_changes, *m_snapshots;
};

policy_publish_t *
policy_publish_new(const char *updates, const char *snapshot, const xgw_rules_t *rules)
{
    policy_publish_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->rules = rules;
    self->pub = zsock_new(ZMQ_PUB);
    self->snap = zsock_new(ZMQ_ROUTER);
    if (!self->pub || !self->snap)
        goto fail;
    /* A slow subscriber must not make policyd buffer without bound: it
     * loses changes past the HWM, sees the gap, and fetches a snapshot. */
    zsock_set_sndhwm(self->pub, 10000);
    zsock_set_linger(self->pub, 0);
    zsock_set_linger(self->snap, 0);
    zsock_set_router_mandatory(self->snap, 1);
    if (zsock_bind(self->pub, "%s", updates) < 0) {
        xgw_error("bind_failed", "endpoint=\"%s\" error=\"%s\"", updates, zmq_strerror(errno));
        goto fail;
    }
    if (zsock_bind(self->snap, "%s", snapshot) < 0) {
        xgw_error("bind_failed", "endpoint=\"%s\" error=\"%s\"", snapshot, zmq_strerror(errno));
        goto fail;
    }
    xgw_family_t *f = xgw_metrics_counter("xgw_policy_published_total",
                                          "Rule-set changes and snapshots sent to edges.", "what");
    self->m_changes = xgw_family_series(f, "change");
    self->m_snapshots = xgw_family_series(f, "snapshot");
    self->next_hugz = zclock_mono();
    return self;
fail:
    policy_publish_destroy(&self);
    return NULL;
}

void
policy_publish_destroy(policy_publish_t **self_p)
{
    if (self_p && *self_p) {
        zsock_destroy(&(*self_p)->pub);
        zsock_destroy(&(*self_p)->snap);
        free(*self_p);
        *self_p = NULL;
    }
}

void *
policy_publish_snapshot_socket(policy_publish_t *self)
{
    return zsock_resolve(self->snap);
}

static void
s_send2(zsock_t *sock, const char *topic, const void *data, size_t len)
{
    zmsg_t *m = zmsg_new();
    zmsg_addstr(m, topic);
    zmsg_addmem(m, data, len);
    if (zmsg_send(&m, sock) != 0)
        zmsg_destroy(&m);
}

void
policy_publish_serve_snapshots(policy_publish_t *self)
{
    void *h = zsock_resolve(self->snap);
    for (;;) {
        zmq_pollitem_t it = {h, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 0) <= 0)
            return;
        zmsg_t *req = zmsg_recv(self->snap);
        if (!req)
            return;
        zframe_t *id = zmsg_pop(req);
        char *what = zmsg_popstr(req);
        zmsg_t *rep = zmsg_new();
        zmsg_append(rep, &id);
        if (what && strcmp(what, "snapshot") == 0) {
            Xgw__V1__RuleSet *snap = xgw_rules_snapshot(self->rules);
            size_t len = snap ? xgw__v1__rule_set__get_packed_size(snap) : 0;
            uint8_t *buf = snap ? malloc(len ? len : 1) : NULL;
            if (buf) {
                xgw__v1__rule_set__pack(snap, buf);
                zmsg_addstr(rep, "snapshot");
                zmsg_addmem(rep, buf, len);
                xgw_series_inc(self->m_snapshots);
            } else {
                zmsg_addstr(rep, "error");
            }
            free(buf);
            xgw_rules_snapshot_free(&snap);
        } else {
            zmsg_addstr(rep, "error");
        }
        zstr_free(&what);
        zmsg_destroy(&req);
        if (zmsg_send(&rep, self->snap) != 0)
            zmsg_destroy(&rep); /* requester gone: it will ask again */
    }
}

void
policy_publish_change(policy_publish_t *self, const Xgw__V1__RuleChange *change)
{
    size_t len = xgw__v1__rule_change__get_packed_size(change);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return; /* subscribers see the gap at the next change or heartbeat */
    xgw__v1__rule_change__pack(change, buf);
    s_send2(self->pub, "rules", buf, len);
    free(buf);
    xgw_series_inc(self->m_changes);
}

void
policy_publish_contact(policy_publish_t *self, const Xgw__V1__ContactState *state)
{
    size_t len = xgw__v1__contact_state__get_packed_size(state);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return;
    xgw__v1__contact_state__pack(state, buf);
    s_send2(self->pub, "contact", buf, len);
    free(buf);
}

int64_t
policy_publish_tick(policy_publish_t *self)
{
    int64_t now = zclock_mono();
    if (now >= self->next_hugz) {
        uint8_t v[8];
        uint64_t ver = xgw_rules_version(self->rules);
        for (int i = 7; i >= 0; i--) {
            v[i] = (uint8_t)(ver & 0xff);
            ver >>= 8;
        }
        s_send2(self->pub, "hugz", v, sizeof v);
        self->next_hugz = now + S_HUGZ_MS;
    }
    return self->next_hugz - now;
}
