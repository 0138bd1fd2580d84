/*
 * xgw_edge_rt.c - the runtime of an edge process; see xgw_edge_rt.h.
 */
#include "xgw_edge_rt.h"
#include "xgw_client.h"
#include "xgw_edge_policy.h"
#include "xgw_error.h"
#include "xgw_log.h"
#include "xgw_metrics.h"
#include "xgw_rules_client.h"
#include "xgw_service.h"

#include <czmq.h>

/* Sent requests beyond this many make the edge stop taking input: the
 * other edge (or the broker) is not keeping up, and TCP or a SIP 503 should
 * push back on the peer instead of this process buffering. */
#define S_HIGH_WATER 2048

/* Contact lookups share the client with Deliver requests; they are
 * small and must not wait behind a congested edge for long. */
#define S_CONTACT_DEADLINE_MS 2000

typedef enum {
    S_SENT_DELIVER,
    S_SENT_CONTACT,
} s_sent_kind_t;

/* One decision waiting for contact state from policyd. */
typedef struct {
    char from[XGW_ADDRESS_MAX + 1];
    char to[XGW_ADDRESS_MAX + 1];
    xgw_kind_t kind;
    xgw_edge_decided_fn cb;
    void *ud;
    void *cookie;
    char sip_user[XGW_ADDRESS_MAX + 1]; /* the pair that was not cached */
    char xmpp_bare[XGW_ADDRESS_MAX + 1];
} s_pending_decision_t;

/* The cookie of every request sent through the client. */
typedef struct {
    s_sent_kind_t kind;
    xgw_edge_sent_fn cb;
    void *ud;
    void *cookie;
    s_pending_decision_t *decision; /* S_SENT_CONTACT */
} s_sent_t;

struct xgw_edge_rt {
    xgw_edge_rt_def_t def;
    xgw_daemon_t *daemon;
    xgw_worker_t *worker;
    xgw_client_t *client;
    xgw_edge_policy_t *policy;
    xgw_arena_t *arena;
    int64_t started_mono;
    bool draining;
    bool credited; /* the worker's credit was opened (first rule set) */
    int64_t drain_deadline;
    /* Set by the non-blocking contact function when a pair is not cached. */
    char miss_sip[XGW_ADDRESS_MAX + 1];
    char miss_xmpp[XGW_ADDRESS_MAX + 1];
    bool missed;
    /* Pairs policyd could not answer for: fail closed, once. */
    const char *force_sip;
    const char *force_xmpp;
    xgw_series_t *m_ok, *m_client_error, *m_server_error;
    xgw_series_t *m_sent, *m_sent_failed, *m_backpressure;
    xgw_series_t *m_contact_lookups;
};

static int
s_health(void *ud, char *reason, size_t reason_len)
{
    xgw_edge_rt_t *self = ud;
    /* Metrics thread: reads only; a stale answer is fine. */
    if (!self->worker || !xgw_worker_connected(self->worker)) {
        snprintf(reason, reason_len, "not registered with the broker");
        return -1;
    }
    if (!xgw_edge_policy_rules(self->policy)) {
        snprintf(reason, reason_len, "no rule set from policyd yet");
        return -1;
    }
    return 0;
}

static void
s_rules_changed(void *ud, uint64_t version)
{
    xgw_edge_rt_t *self = ud;
    (void)version;
    const xgw_rules_t *rules = xgw_edge_policy_rules(self->policy);
    if (rules && !self->credited && !self->draining && self->worker) {
        /* Registered with credit 0 until now: work that waited for this
         * edge (after a restart, say) must not meet it before its rules,
         * where it could only be refused. */
        self->credited = true;
        (void)xgw_worker_set_credit(self->worker, (uint32_t)self->def.credit);
        xgw_info("taking_work", "credit=%lld", (long long)self->def.credit);
    }
    if (rules && self->def.on_rules_changed)
        self->def.on_rules_changed(self->def.ud, rules);
}

xgw_edge_rt_t *
xgw_edge_rt_new(const xgw_edge_rt_def_t *def, xgw_daemon_t *daemon)
{
    xgw_edge_rt_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->def = *def;
    self->daemon = daemon;
    self->started_mono = zclock_mono();
    self->arena = xgw_arena_new(16384);
    if (!self->arena)
        goto fail;
    zsys_handler_set(NULL); /* xgw_daemon_start installs our own handlers */
    if (xgw_daemon_start(daemon, def->metrics_port, s_health, self) != 0)
        goto fail;

    xgw_family_t *f =
        xgw_metrics_counter("xgw_service_requests_total",
                            "Requests answered by this service, by result class.", "result");
    self->m_ok = xgw_family_series(f, "ok");
    self->m_client_error = xgw_family_series(f, "client_error");
    self->m_server_error = xgw_family_series(f, "server_error");
    f = xgw_metrics_counter("xgw_edge_handoffs_total",
                            "Deliver requests this edge sent to the other edge, by outcome.",
                            "outcome");
    self->m_sent = xgw_family_series(f, "delivered");
    self->m_sent_failed = xgw_family_series(f, "failed");
    self->m_backpressure = xgw_family_series(f, "refused_backpressure");
    f = xgw_metrics_counter("xgw_edge_contact_lookups_total",
                            "Contact state fetched from policyd for a decision.", NULL);
    self->m_contact_lookups = xgw_family_series(f);

    self->policy = xgw_edge_policy_new(daemon);
    if (!self->policy)
        goto fail;
    xgw_rules_client_on_change(xgw_edge_policy_replica(self->policy), s_rules_changed, self);

    const xgw_settings_common_t *c = &daemon->settings.common;
    xgw_worker_opts_t wo;
    xgw_worker_opts_default(&wo);
    wo.heartbeat_ms = c->heartbeat_interval_ms;
    wo.liveness = (int)c->heartbeat_liveness;
    wo.max_body = (size_t)c->max_body;
    wo.dedup_max = (size_t)c->dedup_max;
    wo.dedup_ttl_ms = c->dedup_ttl_ms;
    /* Credit 0 (the broker routes around this worker) until the first rule
     * set arrives: see s_rules_changed. */
    self->worker = xgw_worker_new(c->broker_backend, def->service, daemon->instance_name, 0, &wo);
    if (!self->worker) {
        xgw_error("worker_failed", "endpoint=\"%s\"", c->broker_backend);
        goto fail;
    }
    xgw_client_opts_t co;
    xgw_client_opts_default(&co);
    co.heartbeat_ms = c->heartbeat_interval_ms;
    co.liveness = (int)c->heartbeat_liveness;
    co.retry_ms = c->retry_interval_ms;
    co.max_body = (size_t)c->max_body;
    co.deadline_grace_ms = 200;
    self->client = xgw_client_new(c->broker_frontend, &co);
    if (!self->client) {
        xgw_error("client_failed", "endpoint=\"%s\"", c->broker_frontend);
        goto fail;
    }
    xgw_info("serving", "service=%s instance=%s credit=%lld", def->service, daemon->instance_name,
             (long long)def->credit);
    return self;
fail:
    xgw_edge_rt_destroy(&self);
    return NULL;
}

void
xgw_edge_rt_destroy(xgw_edge_rt_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    xgw_edge_rt_t *self = *self_p;
    if (self->client) {
        /* Outstanding cookies are ours: answer nobody, free them. The edge
         * is going away, and its peers retry through the broker. */
        xgw_reply_t *r = NULL;
        while (xgw_client_recv(self->client, &r) == 0)
            xgw_reply_destroy(&r);
    }
    xgw_client_destroy(&self->client);
    xgw_worker_destroy(&self->worker);
    xgw_edge_policy_destroy(&self->policy);
    xgw_arena_destroy(&self->arena);
    free(self);
    *self_p = NULL;
}

size_t
xgw_edge_rt_fds(xgw_edge_rt_t *self, int *fds, size_t max)
{
    size_t n = 0;
    if (n < max)
        fds[n++] = xgw_worker_fd(self->worker);
    if (n < max)
        fds[n++] = xgw_client_fd(self->client);
    zmq_pollitem_t items[4];
    size_t k = xgw_edge_policy_items(self->policy, items, 4);
    for (size_t i = 0; i < k && n < max; i++) {
        int fd = -1;
        size_t fdlen = sizeof fd;
        if (items[i].socket && zmq_getsockopt(items[i].socket, ZMQ_FD, &fd, &fdlen) == 0)
            fds[n++] = fd;
        else if (!items[i].socket)
            fds[n++] = items[i].fd;
    }
    return n;
}

static void
s_count_answer(xgw_edge_rt_t *self, uint16_t code)
{
    if (code < 300)
        xgw_series_inc(self->m_ok);
    else if (code < 500)
        xgw_series_inc(self->m_client_error);
    else
        xgw_series_inc(self->m_server_error);
}

/* Packs reply and sends it as the FINAL of *req_p. */
static int
s_reply(xgw_edge_rt_t *self, xgw_request_t **req_p, Xgw__V1__Reply *reply)
{
    size_t len = xgw__v1__reply__get_packed_size(reply);
    uint8_t stackbuf[1024];
    uint8_t *buf = len <= sizeof stackbuf ? stackbuf : malloc(len);
    uint16_t code = (uint16_t)reply->status;
    if (!buf) {
        code = 500;
        len = 0;
    } else {
        xgw__v1__reply__pack(reply, buf);
    }
    s_count_answer(self, code);
    int rc = xgw_worker_reply(self->worker, req_p, code, buf, len);
    if (buf != stackbuf)
        free(buf);
    return rc;
}

static void
s_handle_request(xgw_edge_rt_t *self, xgw_request_t **req_p)
{
    Xgw__V1__Reply reply = XGW__V1__REPLY__INIT;
    Xgw__V1__Status status = XGW__V1__STATUS__INIT;
    char reason[128] = "";
    reply.reason = reason;
    xgw_request_t *req = *req_p;
    Xgw__V1__Request *in = xgw__v1__request__unpack(NULL, req->body_len, req->body);
    if (!in) {
        reply.status = 400;
        snprintf(reason, sizeof reason, "body is not an xgw.v1.Request");
    } else if (in->payload_case == XGW__V1__REQUEST__PAYLOAD_DELIVER) {
        if (self->draining) {
            /* The broker re-dispatches on a 503 with no state lost. */
            reply.status = 503;
            snprintf(reason, sizeof reason, "draining");
        } else {
            self->def.on_deliver(self->def.ud, req_p, in->deliver);
            if (!*req_p) {
                xgw__v1__request__free_unpacked(in, NULL);
                return;
            }
            reply.status = 500;
            snprintf(reason, sizeof reason, "the edge did not take the request");
        }
    } else if (in->payload_case == XGW__V1__REQUEST__PAYLOAD_PING) {
        xgw_service_fill_status(&status, self->def.process, self->daemon, self->worker,
                                self->started_mono);
        reply.status = 200;
        reply.payload_case = XGW__V1__REPLY__PAYLOAD_STATUS_INFO;
        reply.status_info = &status;
    } else {
        int rc = xgw_edge_policy_handle(self->policy, in, &reply, self->arena);
        if (rc == XGW_ENOENT) {
            reply.status = 501;
            snprintf(reason, sizeof reason, "%s does not handle this request kind",
                     self->def.service);
        } else if (rc != 0) {
            reply.status = 500;
            reply.reason = reason;
            snprintf(reason, sizeof reason, "handler failed");
        }
    }
    (void)s_reply(self, req_p, &reply);
    if (in)
        xgw__v1__request__free_unpacked(in, NULL);
    xgw_arena_reset(self->arena);
}

Xgw__V1__Request *
xgw_edge_rt_request_decode(const xgw_request_t *req)
{
    Xgw__V1__Request *in = xgw__v1__request__unpack(NULL, req->body_len, req->body);
    if (in && in->payload_case != XGW__V1__REQUEST__PAYLOAD_DELIVER) {
        xgw__v1__request__free_unpacked(in, NULL);
        return NULL;
    }
    return in;
}

int
xgw_edge_rt_answer(xgw_edge_rt_t *self, xgw_request_t **req_p, uint16_t status,
                   const Xgw__V1__DeliverResult *result)
{
    if (!req_p || !*req_p)
        return XGW_EINVAL;
    Xgw__V1__Reply reply = XGW__V1__REPLY__INIT;
    reply.status = status;
    reply.reason = "";
    if (result) {
        reply.payload_case = XGW__V1__REPLY__PAYLOAD_DELIVER_RESULT;
        reply.deliver_result = (Xgw__V1__DeliverResult *)result;
        if (result->text && result->text[0])
            reply.reason = result->text;
    }
    return s_reply(self, req_p, &reply);
}

/* ------------------------------------------------------------------ */
/* Decisions                                                           */

static int
s_contact_nonblocking(void *ud, const char *sip_user, const char *xmpp_bare)
{
    xgw_edge_rt_t *self = ud;
    if (self->force_sip && strcmp(self->force_sip, sip_user) == 0 &&
        strcmp(self->force_xmpp, xmpp_bare) == 0)
        return 0;
    int known =
        xgw_rules_client_contact(xgw_edge_policy_replica(self->policy), sip_user, xmpp_bare);
    if (known != XGW_EAGAIN)
        return known;
    snprintf(self->miss_sip, sizeof self->miss_sip, "%s", sip_user);
    snprintf(self->miss_xmpp, sizeof self->miss_xmpp, "%s", xmpp_bare);
    self->missed = true;
    return XGW_EAGAIN;
}

/* Decides from the replica; XGW_EAGAIN when a contact pair is missing
 * (recorded in miss_sip/miss_xmpp). */
static int
s_decide_now(xgw_edge_rt_t *self, const char *from, const char *to, xgw_kind_t kind,
             xgw_decision_t *out)
{
    const xgw_rules_t *rules = xgw_edge_policy_rules(self->policy);
    memset(out, 0, sizeof *out);
    if (!rules) {
        out->rule = "rules_not_loaded";
        snprintf(out->detail, sizeof out->detail, "no rule set from policyd yet");
        return 0;
    }
    self->missed = false;
    return xgw_rules_decide(rules, from, to, kind, s_contact_nonblocking, self, out);
}

static int s_send_contact_lookup(xgw_edge_rt_t *self, s_pending_decision_t *pd);

int
xgw_edge_rt_decide(xgw_edge_rt_t *self, const char *from, const char *to, xgw_kind_t kind,
                   xgw_edge_decided_fn cb, void *ud, void *cookie)
{
    xgw_decision_t d;
    int rc = s_decide_now(self, from, to, kind, &d);
    if (rc == 0) {
        cb(ud, cookie, &d);
        return 0;
    }
    if (rc != XGW_EAGAIN || !self->missed)
        return rc;
    s_pending_decision_t *pd = calloc(1, sizeof *pd);
    if (!pd)
        return XGW_ENOMEM;
    snprintf(pd->from, sizeof pd->from, "%s", from);
    snprintf(pd->to, sizeof pd->to, "%s", to);
    pd->kind = kind;
    pd->cb = cb;
    pd->ud = ud;
    pd->cookie = cookie;
    snprintf(pd->sip_user, sizeof pd->sip_user, "%s", self->miss_sip);
    snprintf(pd->xmpp_bare, sizeof pd->xmpp_bare, "%s", self->miss_xmpp);
    rc = s_send_contact_lookup(self, pd);
    if (rc != 0)
        free(pd);
    return rc;
}

/* The contact answer arrived (added: 1/0, or negative when policyd could
 * not say): decide again and report. */
static void
s_decision_resume(xgw_edge_rt_t *self, s_pending_decision_t *pd, int added)
{
    if (added >= 0) {
        xgw_rules_client_contact_put(xgw_edge_policy_replica(self->policy), pd->sip_user,
                                     pd->xmpp_bare, added == 1);
    } else {
        /* Fail closed for this pair only, without caching a guess. */
        self->force_sip = pd->sip_user;
        self->force_xmpp = pd->xmpp_bare;
    }
    xgw_decision_t d;
    int rc = s_decide_now(self, pd->from, pd->to, pd->kind, &d);
    self->force_sip = NULL;
    self->force_xmpp = NULL;
    if (rc != 0) {
        /* Still missing (the cache evicted it, or a second pair): deny
         * rather than loop. */
        memset(&d, 0, sizeof d);
        d.rule = "contact_state_unavailable";
        snprintf(d.detail, sizeof d.detail, "policyd did not answer for the contact");
    }
    pd->cb(pd->ud, pd->cookie, &d);
    free(pd);
}

static int
s_send_contact_lookup(xgw_edge_rt_t *self, s_pending_decision_t *pd)
{
    Xgw__V1__ContactState st = XGW__V1__CONTACT_STATE__INIT;
    st.sip_user = pd->sip_user;
    st.xmpp_jid = pd->xmpp_bare;
    Xgw__V1__ContactRequest cr = XGW__V1__CONTACT_REQUEST__INIT;
    cr.verb = "get";
    cr.state = &st;
    Xgw__V1__PolicyRequest pq = XGW__V1__POLICY_REQUEST__INIT;
    pq.op_case = XGW__V1__POLICY_REQUEST__OP_CONTACT;
    pq.contact = &cr;
    Xgw__V1__Request r = XGW__V1__REQUEST__INIT;
    r.schema = 1;
    r.payload_case = XGW__V1__REQUEST__PAYLOAD_POLICY;
    r.policy = &pq;
    uint8_t buf[2 * XGW_ADDRESS_MAX + 128];
    size_t len = xgw__v1__request__get_packed_size(&r);
    if (len > sizeof buf)
        return XGW_ETOOBIG;
    xgw__v1__request__pack(&r, buf);
    s_sent_t *sent = calloc(1, sizeof *sent);
    if (!sent)
        return XGW_ENOMEM;
    sent->kind = S_SENT_CONTACT;
    sent->decision = pd;
    int rc = xgw_client_send(self->client, "policy", NULL, xgw_gwp_now_ms() + S_CONTACT_DEADLINE_MS,
                             buf, len, sent, NULL);
    if (rc != 0) {
        free(sent);
        return rc;
    }
    xgw_series_inc(self->m_contact_lookups);
    return 0;
}

void
xgw_edge_rt_contact_put(xgw_edge_rt_t *self, const char *sip_user, const char *xmpp_bare,
                        bool added)
{
    xgw_rules_client_contact_put(xgw_edge_policy_replica(self->policy), sip_user, xmpp_bare, added);
    Xgw__V1__ContactState st = XGW__V1__CONTACT_STATE__INIT;
    st.sip_user = (char *)sip_user;
    st.xmpp_jid = (char *)xmpp_bare;
    st.sip_added = added;
    Xgw__V1__ContactRequest cr = XGW__V1__CONTACT_REQUEST__INIT;
    cr.verb = "put";
    cr.state = &st;
    Xgw__V1__PolicyRequest pq = XGW__V1__POLICY_REQUEST__INIT;
    pq.op_case = XGW__V1__POLICY_REQUEST__OP_CONTACT;
    pq.contact = &cr;
    Xgw__V1__Request r = XGW__V1__REQUEST__INIT;
    r.schema = 1;
    r.payload_case = XGW__V1__REQUEST__PAYLOAD_POLICY;
    r.policy = &pq;
    uint8_t buf[2 * XGW_ADDRESS_MAX + 128];
    size_t len = xgw__v1__request__get_packed_size(&r);
    if (len > sizeof buf)
        return;
    xgw__v1__request__pack(&r, buf);
    const xgw_settings_common_t *c = &self->daemon->settings.common;
    if (xgw_client_send(self->client, "policy", NULL, xgw_gwp_now_ms() + c->request_timeout_ms, buf,
                        len, NULL, NULL) != 0)
        xgw_warn("contact_put_failed", "reason=backpressure");
}

/* ------------------------------------------------------------------ */
/* Sending                                                             */

int
xgw_edge_rt_send_request(xgw_edge_rt_t *self, const char *service, const char *affinity,
                         int64_t deadline_ms, const uint8_t *request, size_t len,
                         xgw_edge_sent_fn cb, void *ud, void *cookie)
{
    if (!request || len == 0)
        return XGW_EINVAL;
    if (xgw_client_outstanding(self->client) >= S_HIGH_WATER) {
        xgw_series_inc(self->m_backpressure);
        return XGW_EAGAIN;
    }
    s_sent_t *sent = calloc(1, sizeof *sent);
    if (!sent)
        return XGW_ENOMEM;
    sent->kind = S_SENT_DELIVER;
    sent->cb = cb;
    sent->ud = ud;
    sent->cookie = cookie;
    if (deadline_ms <= 0)
        deadline_ms = xgw_gwp_now_ms() + self->daemon->settings.common.request_timeout_ms;
    int rc =
        xgw_client_send(self->client, service, affinity, deadline_ms, request, len, sent, NULL);
    if (rc != 0) {
        free(sent);
        if (rc == XGW_EAGAIN)
            xgw_series_inc(self->m_backpressure);
    }
    return rc;
}

int
xgw_edge_rt_send(xgw_edge_rt_t *self, const char *service, const char *affinity,
                 int64_t deadline_ms, const Xgw__V1__Deliver *deliver, xgw_edge_sent_fn cb,
                 void *ud, void *cookie)
{
    if (xgw_client_outstanding(self->client) >= S_HIGH_WATER) {
        xgw_series_inc(self->m_backpressure);
        return XGW_EAGAIN;
    }
    Xgw__V1__Request r = XGW__V1__REQUEST__INIT;
    r.schema = 1;
    r.payload_case = XGW__V1__REQUEST__PAYLOAD_DELIVER;
    r.deliver = (Xgw__V1__Deliver *)deliver;
    size_t len = xgw__v1__request__get_packed_size(&r);
    uint8_t stackbuf[2048];
    uint8_t *buf = len <= sizeof stackbuf ? stackbuf : malloc(len);
    if (!buf)
        return XGW_ENOMEM;
    xgw__v1__request__pack(&r, buf);
    int rc =
        xgw_edge_rt_send_request(self, service, affinity, deadline_ms, buf, len, cb, ud, cookie);
    if (buf != stackbuf)
        free(buf);
    return rc;
}

static void
s_on_reply(xgw_edge_rt_t *self, xgw_reply_t *rep)
{
    s_sent_t *sent = rep->user;
    if (!sent)
        return; /* fire and forget (contact puts) */
    Xgw__V1__Reply *body = NULL;
    /* A delivered Deliver needs no result (the callback gets NULL): the
     * unpack would cost an allocation per answer. */
    if (rep->body_len && !(sent->kind == S_SENT_DELIVER && rep->status == 200))
        body = xgw__v1__reply__unpack(NULL, rep->body_len, rep->body);
    if (sent->kind == S_SENT_CONTACT) {
        int added = XGW_EIO;
        if (rep->status == 404) {
            added = 0;
        } else if (rep->status == 200 && body &&
                   body->payload_case == XGW__V1__REPLY__PAYLOAD_POLICY &&
                   body->policy->result_case == XGW__V1__POLICY_REPLY__RESULT_CONTACT) {
            added = body->policy->contact->sip_added ? 1 : 0;
        } else {
            xgw_warn("contact_lookup_failed", "status=%u", rep->status);
        }
        s_decision_resume(self, sent->decision, added);
    } else {
        const Xgw__V1__DeliverResult *res = NULL;
        if (body && body->payload_case == XGW__V1__REPLY__PAYLOAD_DELIVER_RESULT)
            res = body->deliver_result;
        xgw_series_inc(rep->status == 200 ? self->m_sent : self->m_sent_failed);
        if (sent->cb)
            sent->cb(sent->ud, sent->cookie, rep->status, res);
    }
    if (body)
        xgw__v1__reply__free_unpacked(body, NULL);
    free(sent);
}

/* ------------------------------------------------------------------ */
/* Driving                                                             */

void
xgw_edge_rt_process(xgw_edge_rt_t *self)
{
    if (xgw_daemon_reload_requested) {
        xgw_daemon_reload_requested = 0;
        (void)xgw_daemon_reload(self->daemon);
    }
    xgw_edge_policy_readable(self->policy);
    for (;;) {
        xgw_request_t *req = NULL;
        if (xgw_worker_recv(self->worker, &req) != 0)
            break;
        s_handle_request(self, &req);
    }
    for (;;) {
        xgw_reply_t *rep = NULL;
        if (xgw_client_recv(self->client, &rep) != 0)
            break;
        s_on_reply(self, rep);
        xgw_reply_destroy(&rep);
    }
}

int64_t
xgw_edge_rt_tick(xgw_edge_rt_t *self)
{
    int64_t wait = xgw_worker_tick(self->worker);
    int64_t w = xgw_client_tick(self->client);
    if (w < wait)
        wait = w;
    w = xgw_edge_policy_tick(self->policy);
    if (w >= 0 && w < wait)
        wait = w;
    /* Replies made by the ticks (client deadline 504s) are collected now. */
    xgw_edge_rt_process(self);
    if (wait > 1000)
        wait = 1000;
    return wait < 0 ? 0 : wait;
}

size_t
xgw_edge_rt_outstanding(const xgw_edge_rt_t *self)
{
    return xgw_client_outstanding(self->client);
}

bool
xgw_edge_rt_congested(const xgw_edge_rt_t *self)
{
    return xgw_client_outstanding(self->client) >= S_HIGH_WATER;
}

const xgw_rules_t *
xgw_edge_rt_rules(xgw_edge_rt_t *self)
{
    return xgw_edge_policy_rules(self->policy);
}

xgw_daemon_t *
xgw_edge_rt_daemon(xgw_edge_rt_t *self)
{
    return self->daemon;
}

bool
xgw_edge_rt_stopping(const xgw_edge_rt_t *self)
{
    (void)self;
    return xgw_daemon_stop != 0;
}

void
xgw_edge_rt_drain_begin(xgw_edge_rt_t *self)
{
    if (self->draining)
        return;
    self->draining = true;
    self->drain_deadline = zclock_mono() + self->daemon->settings.common.drain_timeout_ms;
    xgw_info("draining", "in_flight=%zu outstanding=%zu", xgw_worker_in_flight(self->worker),
             xgw_client_outstanding(self->client));
    (void)xgw_worker_set_credit(self->worker, 0);
}

bool
xgw_edge_rt_drained(const xgw_edge_rt_t *self)
{
    return xgw_worker_in_flight(self->worker) == 0 && xgw_client_outstanding(self->client) == 0;
}

int64_t
xgw_edge_rt_drain_deadline(const xgw_edge_rt_t *self)
{
    return self->drain_deadline;
}
