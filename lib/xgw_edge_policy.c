/*
 * xgw_edge_policy.c - an edge's policy view; see xgw_edge_policy.h.
 */
#include "xgw_edge_policy.h"
#include "xgw_audit.h"
#include "xgw_client.h"
#include "xgw_decide.h"
#include "xgw_error.h"
#include "xgw_log.h"

#include <czmq.h>

struct xgw_edge_policy {
    xgw_rules_client_t *replica;
    xgw_client_t *client; /* to the "policy" service, made on first need */
    const xgw_daemon_t *daemon;
};

xgw_edge_policy_t *
xgw_edge_policy_new(const xgw_daemon_t *daemon)
{
    xgw_edge_policy_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->daemon = daemon;
    const xgw_settings_common_t *c = &daemon->settings.common;
    char err[256] = "";
    self->replica =
        xgw_rules_client_new(c->policy_updates, c->policy_snapshot, c->domains, err, sizeof err);
    if (!self->replica) {
        xgw_error("policy_replica_failed", "reason=\"%s\"", err);
        free(self);
        return NULL;
    }
    char audit[XGW_CONFIG_PATH_MAX + 32];
    if (c->audit_log[0])
        snprintf(audit, sizeof audit, "%s", c->audit_log);
    else
        snprintf(audit, sizeof audit, "%s/audit.log", c->data_dir);
    xgw_audit_open(audit);
    return self;
}

void
xgw_edge_policy_destroy(xgw_edge_policy_t **self_p)
{
    if (self_p && *self_p) {
        xgw_rules_client_destroy(&(*self_p)->replica);
        xgw_client_destroy(&(*self_p)->client);
        xgw_audit_close();
        free(*self_p);
        *self_p = NULL;
    }
}

size_t
xgw_edge_policy_items(xgw_edge_policy_t *self, zmq_pollitem_t *items, size_t max)
{
    return xgw_rules_client_items(self->replica, items, max);
}

void
xgw_edge_policy_readable(xgw_edge_policy_t *self)
{
    xgw_rules_client_readable(self->replica);
}

int64_t
xgw_edge_policy_tick(xgw_edge_policy_t *self)
{
    if (self->client) {
        xgw_reply_t *r = NULL;
        xgw_client_tick(self->client);
        while (xgw_client_recv(self->client, &r) == 0)
            xgw_reply_destroy(&r); /* late answers of timed-out lookups */
    }
    return xgw_rules_client_tick(self->replica);
}

xgw_rules_client_t *
xgw_edge_policy_replica(xgw_edge_policy_t *self)
{
    return self->replica;
}

const xgw_rules_t *
xgw_edge_policy_rules(xgw_edge_policy_t *self)
{
    return xgw_rules_client_rules(self->replica);
}

/* Asks policyd whether sip_user added xmpp_bare; caches the answer. */
static int
s_ask_contact(xgw_edge_policy_t *self, const char *sip_user, const char *xmpp_bare)
{
    const xgw_settings_common_t *c = &self->daemon->settings.common;
    if (!self->client) {
        xgw_client_opts_t o;
        xgw_client_opts_default(&o);
        o.heartbeat_ms = c->heartbeat_interval_ms;
        o.liveness = (int)c->heartbeat_liveness;
        o.retry_ms = c->retry_interval_ms;
        o.deadline_grace_ms = 200;
        self->client = xgw_client_new(c->broker_frontend, &o);
        if (!self->client)
            return XGW_EIO;
    }
    Xgw__V1__ContactState st = XGW__V1__CONTACT_STATE__INIT;
    st.sip_user = (char *)sip_user;
    st.xmpp_jid = (char *)xmpp_bare;
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
    uint8_t buf[1024];
    size_t len = xgw__v1__request__get_packed_size(&r);
    if (len > sizeof buf)
        return XGW_ETOOBIG;
    xgw__v1__request__pack(&r, buf);
    if (xgw_client_send(self->client, "policy", NULL, xgw_gwp_now_ms() + 2000, buf, len, NULL,
                        NULL) != 0)
        return XGW_EIO;
    xgw_reply_t *rep = NULL;
    if (xgw_client_wait(self->client, 2500, &rep) != 0)
        return XGW_ETIMEDOUT;
    int added = XGW_EIO;
    if (rep->status == 404) {
        added = 0;
    } else if (rep->status == 200) {
        Xgw__V1__Reply *pr = xgw__v1__reply__unpack(NULL, rep->body_len, rep->body);
        if (pr && pr->payload_case == XGW__V1__REPLY__PAYLOAD_POLICY &&
            pr->policy->result_case == XGW__V1__POLICY_REPLY__RESULT_CONTACT)
            added = pr->policy->contact->sip_added ? 1 : 0;
        if (pr)
            xgw__v1__reply__free_unpacked(pr, NULL);
    }
    xgw_reply_destroy(&rep);
    if (added >= 0)
        xgw_rules_client_contact_put(self->replica, sip_user, xmpp_bare, added == 1);
    return added;
}

static int
s_contact(void *ud, const char *sip_user, const char *xmpp_bare)
{
    xgw_edge_policy_t *self = ud;
    int known = xgw_rules_client_contact(self->replica, sip_user, xmpp_bare);
    if (known != XGW_EAGAIN)
        return known;
    int asked = s_ask_contact(self, sip_user, xmpp_bare);
    /* policyd unreachable: fail closed (not added). */
    return asked < 0 ? 0 : asked;
}

int
xgw_edge_policy_decide(xgw_edge_policy_t *self, const char *from, const char *to, xgw_kind_t kind,
                       xgw_decision_t *out)
{
    const xgw_rules_t *rules = xgw_rules_client_rules(self->replica);
    if (!rules) {
        memset(out, 0, sizeof *out);
        out->rule = "rules_not_loaded";
        snprintf(out->detail, sizeof out->detail, "no rule set from policyd yet");
        return 0;
    }
    return xgw_rules_decide(rules, from, to, kind, s_contact, self, out);
}

int
xgw_edge_policy_handle(xgw_edge_policy_t *self, const Xgw__V1__Request *req, Xgw__V1__Reply *reply,
                       xgw_arena_t *arena)
{
    if (req->payload_case != XGW__V1__REQUEST__PAYLOAD_POLICY ||
        req->policy->op_case != XGW__V1__POLICY_REQUEST__OP_DECIDE)
        return XGW_ENOENT;
    const xgw_rules_t *rules = xgw_rules_client_rules(self->replica);
    if (!rules) {
        reply->status = 503;
        reply->reason = "no rule set from policyd yet";
        return 0;
    }
    return xgw_decide_reply(rules, req->policy->decide, s_contact, self,
                            self->daemon->instance_name, arena, reply);
}
