/*
 * xgw_rules_client.c - edge-side rule-set replica; see xgw_rules_client.h.
 */
#include "xgw_rules_client.h"
#include "xgw_error.h"
#include "xgw_log.h"
#include "xgw_metrics.h"
#include "xgw_strmap.h"

#include <czmq.h>

#define S_PENDING_MAX 10000      /* changes buffered while a snapshot is on its way */
#define S_SNAPSHOT_RETRY_MS 1000 /* ask again when no snapshot came */
#define S_SILENT_MS 3500         /* no heartbeat for this long: warn (rules stay) */
#define S_CONTACT_MAX 100000
#define S_CONTACT_TTL_MS 60000

typedef struct {
    int added;
    int64_t expires;
} s_contact_t;

struct xgw_rules_client {
    zsock_t *sub;
    zsock_t *snap;
    xgw_rules_t *rules;
    int have_snapshot;
    int waiting;          /* a snapshot request is out */
    int64_t next_request; /* monotonic ms */
    int64_t last_heard;
    int silent_logged;
    zlistx_t *pending; /* zframe_t copies of RuleChange, while waiting */
    xgw_strmap_t *contacts;
    void (*on_change)(void *ud, uint64_t version);
    void *on_change_ud;
    xgw_series_t *m_version, *m_snapshots, *m_gaps;
};

static void
s_frame_free(void **item)
{
    zframe_t *f = *item;
    zframe_destroy(&f);
    *item = NULL;
}

xgw_rules_client_t *
xgw_rules_client_new(const char *updates, const char *snapshot, const char *domains, char *err,
                     size_t errlen)
{
    xgw_rules_client_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->rules = xgw_rules_new(domains, err, errlen);
    self->pending = zlistx_new();
    self->contacts = xgw_strmap_new();
    self->sub = zsock_new(ZMQ_SUB);
    self->snap = zsock_new(ZMQ_DEALER);
    if (!self->rules || !self->pending || !self->contacts || !self->sub || !self->snap)
        goto fail;
    zlistx_set_destructor(self->pending, s_frame_free);
    zsock_set_subscribe(self->sub, "rules");
    zsock_set_subscribe(self->sub, "contact");
    zsock_set_subscribe(self->sub, "hugz");
    zsock_set_rcvhwm(self->sub, 100000);
    zsock_set_immediate(self->snap, 1);
    /* With IMMEDIATE and no completed connection a blocking send waits
     * forever, freezing the edge's whole loop while policyd is down: fail
     * at once instead and let the tick retry. */
    zsock_set_sndtimeo(self->snap, 0);
    zsock_set_linger(self->snap, 0);
    zsock_set_linger(self->sub, 0);
    if (zsock_connect(self->sub, "%s", updates) != 0 ||
        zsock_connect(self->snap, "%s", snapshot) != 0) {
        snprintf(err, errlen, "cannot connect to %s / %s", updates, snapshot);
        goto fail;
    }
    self->m_version = xgw_family_series(xgw_metrics_gauge(
        "xgw_policy_ruleset_version", "Version of the rule set in force here.", NULL));
    xgw_family_t *f = xgw_metrics_counter("xgw_policy_replica_events_total",
                                          "Rule-set replica events (snapshot, gap).", "event");
    self->m_snapshots = xgw_family_series(f, "snapshot");
    self->m_gaps = xgw_family_series(f, "gap");
    self->last_heard = zclock_mono();
    self->next_request = 0;
    return self;
fail:
    xgw_rules_client_destroy(&self);
    return NULL;
}

static void
s_free_contact(void *ud, const char *key, void *value)
{
    (void)ud;
    (void)key;
    free(value);
}

void
xgw_rules_client_destroy(xgw_rules_client_t **self_p)
{
    if (self_p && *self_p) {
        xgw_rules_client_t *self = *self_p;
        zsock_destroy(&self->sub);
        zsock_destroy(&self->snap);
        xgw_rules_destroy(&self->rules);
        zlistx_destroy(&self->pending);
        if (self->contacts)
            xgw_strmap_each(self->contacts, s_free_contact, NULL);
        xgw_strmap_destroy(&self->contacts);
        free(self);
        *self_p = NULL;
    }
}

size_t
xgw_rules_client_items(xgw_rules_client_t *self, zmq_pollitem_t *items, size_t max)
{
    if (max < 2)
        return 0;
    items[0] = (zmq_pollitem_t){zsock_resolve(self->sub), 0, ZMQ_POLLIN, 0};
    items[1] = (zmq_pollitem_t){zsock_resolve(self->snap), 0, ZMQ_POLLIN, 0};
    return 2;
}

static void
s_request_snapshot(xgw_rules_client_t *self, const char *why)
{
    if (!self->waiting)
        xgw_info("ruleset_snapshot_request", "reason=%s version=%llu", why,
                 (unsigned long long)xgw_rules_version(self->rules));
    self->waiting = 1;
    self->next_request = zclock_mono() + S_SNAPSHOT_RETRY_MS;
    if (zstr_send(self->snap, "snapshot") != 0)
        self->next_request = zclock_mono() + 100; /* not connected yet */
}

static void
s_changed(xgw_rules_client_t *self)
{
    xgw_series_set(self->m_version, (double)xgw_rules_version(self->rules));
    if (self->on_change)
        self->on_change(self->on_change_ud, xgw_rules_version(self->rules));
}

/* Applies one packed RuleChange. Returns 0, or XGW_ERANGE on a gap. */
static int
s_apply_packed(xgw_rules_client_t *self, const uint8_t *data, size_t len)
{
    Xgw__V1__RuleChange *c = xgw__v1__rule_change__unpack(NULL, len, data);
    if (!c) {
        xgw_warn("ruleset_bad_change", "bytes=%zu", len);
        return XGW_EINVAL;
    }
    int rc = 0;
    uint64_t have = xgw_rules_version(self->rules);
    if (c->version <= have) {
        rc = 0; /* already in the snapshot */
    } else if (c->version != have + 1) {
        rc = XGW_ERANGE;
    } else {
        rc = xgw_rules_apply(self->rules, c, false);
        if (rc != 0) {
            xgw_error("ruleset_apply_failed", "version=%llu error=\"%s\"",
                      (unsigned long long)c->version, xgw_strerror(rc));
            rc = XGW_ERANGE; /* resynchronise from a snapshot */
        }
    }
    xgw__v1__rule_change__free_unpacked(c, NULL);
    return rc;
}

static void
s_on_snapshot(xgw_rules_client_t *self, zframe_t *body)
{
    Xgw__V1__RuleSet *set = xgw__v1__rule_set__unpack(NULL, zframe_size(body), zframe_data(body));
    if (!set) {
        xgw_warn("ruleset_bad_snapshot", "bytes=%zu", zframe_size(body));
        return;
    }
    int rc = xgw_rules_load(self->rules, set);
    uint64_t version = set->version;
    xgw__v1__rule_set__free_unpacked(set, NULL);
    if (rc != 0) {
        xgw_error("ruleset_load_failed", "version=%llu", (unsigned long long)version);
        return;
    }
    self->have_snapshot = 1;
    self->waiting = 0;
    xgw_series_inc(self->m_snapshots);
    /* Changes that arrived while the snapshot was on its way. */
    int gap = 0;
    for (zframe_t *f = zlistx_first(self->pending); f && !gap; f = zlistx_next(self->pending))
        gap = s_apply_packed(self, zframe_data(f), zframe_size(f)) == XGW_ERANGE;
    zlistx_purge(self->pending);
    xgw_info("ruleset_loaded", "version=%llu users=%zu partners=%zu",
             (unsigned long long)xgw_rules_version(self->rules), xgw_rules_count_users(self->rules),
             xgw_rules_count_partners(self->rules));
    s_changed(self);
    if (gap)
        s_request_snapshot(self, "gap_after_snapshot");
}

static void
s_on_contact(xgw_rules_client_t *self, zframe_t *body)
{
    Xgw__V1__ContactState *cs =
        xgw__v1__contact_state__unpack(NULL, zframe_size(body), zframe_data(body));
    if (!cs)
        return;
    xgw_rules_client_contact_put(self, cs->sip_user, cs->xmpp_jid, cs->sip_added);
    xgw__v1__contact_state__free_unpacked(cs, NULL);
}

static void
s_read_sub(xgw_rules_client_t *self)
{
    void *h = zsock_resolve(self->sub);
    for (;;) {
        zmq_pollitem_t it = {h, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 0) <= 0)
            return;
        zmsg_t *m = zmsg_recv(self->sub);
        if (!m)
            return;
        self->last_heard = zclock_mono();
        self->silent_logged = 0;
        char *topic = zmsg_popstr(m);
        zframe_t *body = zmsg_pop(m);
        if (topic && body && strcmp(topic, "rules") == 0) {
            if (!self->have_snapshot || self->waiting) {
                if (zlistx_size(self->pending) < S_PENDING_MAX) {
                    zlistx_add_end(self->pending, body);
                    body = NULL;
                } else {
                    zlistx_purge(self->pending);
                    s_request_snapshot(self, "pending_overflow");
                }
            } else if (s_apply_packed(self, zframe_data(body), zframe_size(body)) == XGW_ERANGE) {
                xgw_series_inc(self->m_gaps);
                s_request_snapshot(self, "gap");
            } else {
                s_changed(self);
            }
        } else if (topic && body && strcmp(topic, "contact") == 0) {
            s_on_contact(self, body);
        } else if (topic && body && strcmp(topic, "hugz") == 0 && zframe_size(body) == 8) {
            uint64_t v = 0;
            for (int i = 0; i < 8; i++)
                v = (v << 8) | zframe_data(body)[i];
            /* Behind (a change was lost) or ahead (policyd restarted from
             * an older store): either way, resynchronise. */
            if (self->have_snapshot && !self->waiting && v != xgw_rules_version(self->rules)) {
                xgw_series_inc(self->m_gaps);
                s_request_snapshot(self, "heartbeat_version");
            }
        }
        zstr_free(&topic);
        zframe_destroy(&body);
        zmsg_destroy(&m);
    }
}

static void
s_read_snap(xgw_rules_client_t *self)
{
    void *h = zsock_resolve(self->snap);
    for (;;) {
        zmq_pollitem_t it = {h, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 0) <= 0)
            return;
        zmsg_t *m = zmsg_recv(self->snap);
        if (!m)
            return;
        char *what = zmsg_popstr(m);
        zframe_t *body = zmsg_pop(m);
        if (what && body && strcmp(what, "snapshot") == 0)
            s_on_snapshot(self, body);
        zstr_free(&what);
        zframe_destroy(&body);
        zmsg_destroy(&m);
    }
}

void
xgw_rules_client_readable(xgw_rules_client_t *self)
{
    s_read_snap(self);
    s_read_sub(self);
}

int64_t
xgw_rules_client_tick(xgw_rules_client_t *self)
{
    int64_t now = zclock_mono();
    if ((!self->have_snapshot || self->waiting) && now >= self->next_request)
        s_request_snapshot(self, self->have_snapshot ? "retry" : "start");
    if (now - self->last_heard > S_SILENT_MS && !self->silent_logged) {
        self->silent_logged = 1;
        xgw_warn("policy_updates_silent", "silent_ms=%lld version=%llu",
                 (long long)(now - self->last_heard),
                 (unsigned long long)xgw_rules_version(self->rules));
    }
    if (self->waiting || !self->have_snapshot) {
        int64_t wait = self->next_request - now;
        return wait < 0 ? 0 : wait;
    }
    return 1000;
}

const xgw_rules_t *
xgw_rules_client_rules(const xgw_rules_client_t *self)
{
    return self->have_snapshot ? self->rules : NULL;
}

void
xgw_rules_client_on_change(xgw_rules_client_t *self, void (*fn)(void *ud, uint64_t version),
                           void *ud)
{
    self->on_change = fn;
    self->on_change_ud = ud;
}

static void
s_contact_key(const char *sip_user, const char *xmpp_bare, char *key, size_t len)
{
    snprintf(key, len, "%s\n%s", sip_user, xmpp_bare);
}

int
xgw_rules_client_contact(xgw_rules_client_t *self, const char *sip_user, const char *xmpp_bare)
{
    if (!self->contacts)
        return XGW_EAGAIN;
    char key[2 * XGW_ADDRESS_MAX + 4];
    s_contact_key(sip_user, xmpp_bare, key, sizeof key);
    s_contact_t *c = xgw_strmap_get(self->contacts, key);
    if (!c)
        return XGW_EAGAIN;
    if (c->expires <= zclock_mono()) {
        free(xgw_strmap_remove(self->contacts, key));
        return XGW_EAGAIN;
    }
    return c->added;
}

void
xgw_rules_client_contact_put(xgw_rules_client_t *self, const char *sip_user, const char *xmpp_bare,
                             bool added)
{
    if (!self->contacts)
        self->contacts = xgw_strmap_new();
    if (!self->contacts)
        return;
    char key[2 * XGW_ADDRESS_MAX + 4];
    s_contact_key(sip_user, xmpp_bare, key, sizeof key);
    s_contact_t *c = xgw_strmap_get(self->contacts, key);
    if (!c) {
        if (xgw_strmap_size(self->contacts) >= S_CONTACT_MAX) {
            /* Full: forget everything rather than grow; answers come back
             * from policyd on demand. */
            xgw_strmap_each(self->contacts, s_free_contact, NULL);
            xgw_strmap_destroy(&self->contacts);
            self->contacts = xgw_strmap_new();
            if (!self->contacts)
                return;
        }
        c = calloc(1, sizeof *c);
        if (!c || xgw_strmap_put(self->contacts, key, c) != 0) {
            free(c);
            return;
        }
    }
    c->added = added ? 1 : 0;
    c->expires = zclock_mono() + S_CONTACT_TTL_MS;
}
