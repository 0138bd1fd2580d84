/*
 * xgw-policyd - policy store and decisions (DESIGN.md "Policy model").
 *
 * Serves the "policy" service: administrative commands (AdminRequest),
 * decisions (DecideRequest) and contact state (ContactRequest). Owns the
 * SQLite store and publishes the rule set to the edges (policy_publish.h).
 * Run exactly one: it is the only writer of the store.
 */
#include "policy_admin.h"
#include "policy_publish.h"
#include "policy_store.h"
#include "xgw_audit.h"
#include "xgw_decide.h"
#include "xgw_error.h"
#include "xgw_log.h"
#include "xgw_metrics.h"
#include "xgw_service.h"

#include <czmq.h>
#include <errno.h>
#include <sys/stat.h>

typedef struct {
    xgw_daemon_t *daemon;
    policy_store_t *store;
    xgw_rules_t *rules;
    policy_publish_t *pub;
    policy_admin_t admin;
    xgw_series_t *m_version, *m_users, *m_partners;
} s_policyd_t;

static s_policyd_t s_self;

static void
s_pick(xgw_service_def_t *def, const xgw_settings_t *s)
{
    def->credit = s->policyd.credit;
    def->metrics_port = s->policyd.metrics_port;
}

static void
s_on_change(void *ud, const Xgw__V1__RuleChange *change)
{
    s_policyd_t *self = ud;
    policy_publish_change(self->pub, change);
    xgw_series_set(self->m_version, (double)xgw_rules_version(self->rules));
    xgw_series_set(self->m_users, (double)xgw_rules_count_users(self->rules));
    xgw_series_set(self->m_partners, (double)xgw_rules_count_partners(self->rules));
}

static void
s_on_contact(void *ud, const Xgw__V1__ContactState *state)
{
    s_policyd_t *self = ud;
    policy_publish_contact(self->pub, state);
}

/* Contact answers for decisions come straight from the store here. */
static int
s_contact(void *ud, const char *sip_user, const char *xmpp_bare)
{
    s_policyd_t *self = ud;
    bool added = false, subscribed = false;
    uint64_t updated = 0;
    if (policy_store_contact_get(self->store, sip_user, xmpp_bare, &added, &subscribed, &updated) !=
        0)
        return 0;
    return added ? 1 : 0;
}

static int
s_on_start(void *ud, xgw_daemon_t *daemon)
{
    s_policyd_t *self = ud;
    self->daemon = daemon;
    const xgw_settings_t *s = &daemon->settings;
    char err[512] = "";
    if (xgw_daemon_mkdirs(s->common.data_dir, 0750) != 0) {
        xgw_error("data_dir_failed", "path=\"%s\" error=\"%s\"", s->common.data_dir,
                  strerror(errno));
        return XGW_EIO;
    }
    char path[XGW_CONFIG_PATH_MAX + 32];
    if (s->policyd.database[0])
        snprintf(path, sizeof path, "%s", s->policyd.database);
    else
        snprintf(path, sizeof path, "%s/policy.db", s->common.data_dir);
    self->store = policy_store_open(path, err, sizeof err);
    if (!self->store) {
        xgw_error("store_open_failed", "path=\"%s\" reason=\"%s\"", path, err);
        return XGW_EIO;
    }
    self->rules = xgw_rules_new(s->common.domains, err, sizeof err);
    if (!self->rules) {
        xgw_error("domains_invalid", "reason=\"%s\"", err);
        return XGW_EINVAL;
    }
    if (policy_store_load(self->store, self->rules) != 0) {
        xgw_error("store_load_failed", "path=\"%s\"", path);
        return XGW_EIO;
    }
    self->pub =
        policy_publish_new(s->common.policy_updates, s->common.policy_snapshot, self->rules);
    if (!self->pub)
        return XGW_EIO;
    char audit[XGW_CONFIG_PATH_MAX + 32];
    if (s->common.audit_log[0])
        snprintf(audit, sizeof audit, "%s", s->common.audit_log);
    else
        snprintf(audit, sizeof audit, "%s/audit.log", s->common.data_dir);
    xgw_audit_open(audit);

    self->admin.store = self->store;
    self->admin.rules = self->rules;
    self->admin.publish_change = s_on_change;
    self->admin.publish_contact = s_on_contact;
    self->admin.ud = self;
    self->m_version = xgw_family_series(
        xgw_metrics_gauge("xgw_policy_ruleset_version", "Version of the rule set in force.", NULL));
    self->m_users = xgw_family_series(
        xgw_metrics_gauge("xgw_policy_users", "SIP users with a site or a granted policy.", NULL));
    self->m_partners =
        xgw_family_series(xgw_metrics_gauge("xgw_policy_partners", "XMPP allowed partners.", NULL));
    xgw_series_set(self->m_version, (double)xgw_rules_version(self->rules));
    xgw_series_set(self->m_users, (double)xgw_rules_count_users(self->rules));
    xgw_series_set(self->m_partners, (double)xgw_rules_count_partners(self->rules));
    xgw_info("store_loaded", "path=\"%s\" version=%llu users=%zu partners=%zu", path,
             (unsigned long long)xgw_rules_version(self->rules), xgw_rules_count_users(self->rules),
             xgw_rules_count_partners(self->rules));
    return 0;
}

static int
s_contact_request(s_policyd_t *self, const Xgw__V1__ContactRequest *req, Xgw__V1__Reply *reply,
                  xgw_arena_t *arena)
{
    const Xgw__V1__ContactState *in = req->state;
    char user[XGW_ADDRESS_MAX + 1], jid[XGW_ADDRESS_MAX + 1], err[256];
    if (!in || xgw_sip_address_normalize(in->sip_user, user, err, sizeof err) != 0 ||
        xgw_xmpp_address_normalize(in->xmpp_jid, jid, err, sizeof err) != 0) {
        reply->status = 400;
        reply->reason = xgw_arena_strdup(arena, in ? err : "contact state missing");
        return 0;
    }
    Xgw__V1__PolicyReply *pr = xgw_arena_alloc(arena, sizeof *pr);
    Xgw__V1__ContactState *out = xgw_arena_alloc(arena, sizeof *out);
    if (!pr || !out)
        return XGW_ENOMEM;
    xgw__v1__policy_reply__init(pr);
    xgw__v1__contact_state__init(out);
    out->sip_user = xgw_arena_strdup(arena, user);
    out->xmpp_jid = xgw_arena_strdup(arena, jid);
    bool added = false, subscribed = false;
    uint64_t updated = 0;
    int rc = 0;
    if (strcmp(req->verb, "get") == 0) {
        rc = policy_store_contact_get(self->store, user, jid, &added, &subscribed, &updated);
        reply->status = rc == 0 ? 200 : rc == XGW_ENOENT ? 404 : 500;
    } else if (strcmp(req->verb, "put") == 0) {
        added = in->sip_added;
        subscribed = in->xmpp_subscribed;
        updated = (uint64_t)zclock_time();
        rc = policy_store_contact_put(self->store, user, jid, added, subscribed, updated);
        reply->status = rc == 0 ? 200 : 500;
    } else if (strcmp(req->verb, "delete") == 0) {
        rc = policy_store_contact_delete(self->store, user, jid);
        updated = (uint64_t)zclock_time();
        reply->status = rc == 0 ? 200 : rc == XGW_ENOENT ? 404 : 500;
    } else {
        reply->status = 400;
        reply->reason = "contact verb must be get, put or delete";
        return 0;
    }
    out->sip_added = added;
    out->xmpp_subscribed = subscribed;
    out->updated_ms = updated;
    if (reply->status == 200 && strcmp(req->verb, "get") != 0)
        policy_publish_contact(self->pub, out);
    pr->result_case = XGW__V1__POLICY_REPLY__RESULT_CONTACT;
    pr->contact = out;
    reply->payload_case = XGW__V1__REPLY__PAYLOAD_POLICY;
    reply->policy = pr;
    return 0;
}

static int
s_handle(void *ud, const Xgw__V1__Request *req, Xgw__V1__Reply *reply, xgw_arena_t *arena)
{
    s_policyd_t *self = ud;
    if (req->payload_case == XGW__V1__REQUEST__PAYLOAD_ADMIN) {
        Xgw__V1__AdminReply *ar = xgw_arena_alloc(arena, sizeof *ar);
        if (!ar)
            return XGW_ENOMEM;
        xgw__v1__admin_reply__init(ar);
        policy_admin_handle(&self->admin, req->admin, ar, arena);
        reply->status = 200;
        reply->payload_case = XGW__V1__REPLY__PAYLOAD_ADMIN;
        reply->admin = ar;
        return 0;
    }
    if (req->payload_case != XGW__V1__REQUEST__PAYLOAD_POLICY) {
        reply->status = 501;
        reply->reason = "policyd answers admin, decide and contact requests";
        return 0;
    }
    const Xgw__V1__PolicyRequest *pq = req->policy;
    if (pq->op_case == XGW__V1__POLICY_REQUEST__OP_CONTACT)
        return s_contact_request(self, pq->contact, reply, arena);
    if (pq->op_case != XGW__V1__POLICY_REQUEST__OP_DECIDE) {
        reply->status = 400;
        reply->reason = "empty policy request";
        return 0;
    }
    return xgw_decide_reply(self->rules, pq->decide, s_contact, self, self->daemon->instance_name,
                            arena, reply);
}

static size_t
s_extra_items(void *ud, zmq_pollitem_t *items, size_t max)
{
    s_policyd_t *self = ud;
    if (max < 1)
        return 0;
    items[0].socket = policy_publish_snapshot_socket(self->pub);
    items[0].fd = 0;
    items[0].events = ZMQ_POLLIN;
    return 1;
}

static void
s_on_extra(void *ud, size_t i)
{
    s_policyd_t *self = ud;
    (void)i;
    policy_publish_serve_snapshots(self->pub);
}

static int64_t
s_on_tick(void *ud)
{
    s_policyd_t *self = ud;
    return policy_publish_tick(self->pub);
}

static void
s_on_stop(void *ud)
{
    s_policyd_t *self = ud;
    policy_publish_destroy(&self->pub);
    xgw_rules_destroy(&self->rules);
    policy_store_close(&self->store);
    xgw_audit_close();
}

int
main(int argc, char **argv)
{
    xgw_service_def_t def = {
        .process = "policyd",
        .service = "policy",
        .handler = s_handle,
        .ud = &s_self,
        .on_start = s_on_start,
        .extra_items = s_extra_items,
        .on_extra = s_on_extra,
        .on_tick = s_on_tick,
        .on_stop = s_on_stop,
    };
    return xgw_service_main(&def, argc, argv, s_pick);
}
