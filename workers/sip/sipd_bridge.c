/*
 * sipd_bridge.c - between the edge runtime (GWP) and the SIP half.
 *
 * SIP to XMPP (an incoming MESSAGE): back-pressure check, policy decision
 * (kind message), Deliver{message} to "xmpp" with the remote domain as
 * affinity and a deadline inside answer_timeout; the SIP transaction is
 * answered when the Deliver is: 200 OK when the XMPP side has the stanza
 * (a 2xx means the gateway has it: RFC 3428 allows 200 or 202, IM-07; we
 * answer 200 because delivery to the remote server did happen), the
 * RFC 7247 Table 2 code of the XMPP condition otherwise, 408 when no answer
 * came in time (ERR-07), 503 + Retry-After when the gateway is congested.
 *
 * XMPP to SIP (a Deliver from "xmpp"): the request is held until the SIP
 * final response to the MESSAGE arrives: 2xx gives 200; any other final
 * response gives 502 with DeliverResult{condition and type from RFC 7247
 * Table 3, sip_status, reason phrase} (lib/xgw_errmap.h). The xmpp edge already made the
 * policy decision for this direction (its inbound check), so sipd does not
 * decide again.
 */
#include "sipd.h"

#include "xgw_addr.h"
#include "xgw_audit.h"
#include "xgw_errmap.h"
#include "xgw_error.h"
#include "xgw_gwp.h"
#include "xgw_log.h"
#include "xgw_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_RETRY_AFTER_S 5
/* The Deliver's deadline is this much before answer_timeout, so the
 * runtime's own 504 (deadline + its grace) still comes in time. */
#define S_DEADLINE_MARGIN_MS 500

static xgw_series_t *s_m_in_flight_in, *s_m_in_flight_out;

/* ------------------------------------------------------------------ */
/* SIP to XMPP: MESSAGE                                                */

typedef struct {
    sipd_t *d;
    sip_txn_t *txn;
    bool to_bare; /* the target JID has no resource (Table 2 notes 1, 2) */
    char from[XGW_JID_MAX + 1];
    char to[XGW_JID_MAX + 1];
    char domain[XGW_JID_DOMAIN_MAX + 1];
    char subject[256];
    char thread[256];
    char lang[64];
    char *body; /* NUL-terminated copy */
} s_in_msg_t;

static void
s_in_free(s_in_msg_t *m)
{
    if (!m)
        return;
    m->d->in_flight_in--;
    xgw_series_set(s_m_in_flight_in, (double)m->d->in_flight_in);
    free(m->body);
    free(m);
}

static void
s_in_answer(s_in_msg_t *m, int status, const char *phrase, int retry_after_s)
{
    sip_txn_answer(&m->txn, status, phrase, retry_after_s);
    s_in_free(m);
}

static void
s_in_sent(void *ud, void *cookie, uint16_t status, const Xgw__V1__DeliverResult *res)
{
    (void)ud;
    s_in_msg_t *m = cookie;
    if (status == 200) {
        s_in_answer(m, 200, "OK", 0);
    } else if (res && res->condition && res->condition[0]) {
        int code = xgw_errmap_xmpp_to_sip(res->condition, m->to_bare ? XGW_ERRMAP_BARE : 0);
        xgw_info("sip_message_failed", "to_domain=%s condition=%s status=%d", m->domain,
                 res->condition, code);
        s_in_answer(m, code, NULL, 0);
    } else if (status == 504) {
        /* Nobody answered by the deadline (ERR-07): remote-server-timeout. */
        xgw_info("sip_message_failed", "to_domain=%s condition=timeout status=408", m->domain);
        s_in_answer(m, 408, NULL, 0);
    } else if (status == 503) {
        s_in_answer(m, 503, "Gateway Congested", S_RETRY_AFTER_S);
    } else {
        xgw_info("sip_message_failed", "to_domain=%s gwp_status=%u status=500", m->domain, status);
        s_in_answer(m, 500, NULL, 0);
    }
}

/* A denial that says "cannot decide now" rather than "no": the replica
 * has no rule set yet, or policyd did not answer for the contact state. */
static bool
s_denial_temporary(const xgw_decision_t *dec)
{
    return dec->rule && (strcmp(dec->rule, "rules_not_loaded") == 0 ||
                         strcmp(dec->rule, "contact_state_unavailable") == 0);
}

static void
s_in_decided(void *ud, void *cookie, const xgw_decision_t *dec)
{
    sipd_t *d = ud;
    s_in_msg_t *m = cookie;
    if (!dec->allow) {
        /* Both addresses local (or both remote): not traffic for this
         * gateway, so the target does not exist here (ROB-11). No rule set
         * yet, or policyd could not answer: the refusal is temporary. */
        bool not_ours = dec->rule && strcmp(dec->rule, "not_gateway_traffic") == 0;
        xgw_info("sip_message_denied", "rule=%s to_domain=%s", dec->rule ? dec->rule : "?",
                 m->domain);
        if (s_denial_temporary(dec)) {
            s_in_answer(m, 503, "Policy Not Available", S_RETRY_AFTER_S);
            return;
        }
        if (!not_ours)
            xgw_audit_denial(dec, XGW_KIND_MESSAGE, d->daemon.instance_name);
        s_in_answer(m, not_ours ? 404 : 403, not_ours ? NULL : "Forbidden By Policy", 0);
        return;
    }
    Xgw__V1__ImMessage im = XGW__V1__IM_MESSAGE__INIT;
    im.from = m->from;
    im.to = m->to;
    im.body = m->body;
    im.subject = m->subject;
    im.thread = m->thread;
    im.lang = m->lang;
    Xgw__V1__Deliver dl = XGW__V1__DELIVER__INIT;
    dl.kind_case = XGW__V1__DELIVER__KIND_MESSAGE;
    dl.message = &im;
    dl.origin_instance = d->daemon.instance_name;
    int64_t deadline =
        xgw_gwp_now_ms() + d->daemon.settings.sipd.answer_timeout_ms - S_DEADLINE_MARGIN_MS;
    int rc = xgw_edge_rt_send(d->rt, "xmpp", m->domain, deadline, &dl, s_in_sent, d, m);
    if (rc == XGW_EAGAIN) {
        s_in_answer(m, 503, "Gateway Congested", S_RETRY_AFTER_S);
    } else if (rc != 0) {
        xgw_warn("sip_message_send_failed", "rc=%s", xgw_strerror(rc));
        s_in_answer(m, 500, NULL, 0);
    }
}

static void
s_message_in(void *ud, sip_txn_t *txn, const sip_im_t *im)
{
    sipd_t *d = ud;
    if (xgw_edge_rt_congested(d->rt) || xgw_edge_rt_stopping(d->rt)) {
        sip_txn_answer(&txn, 503, "Gateway Congested", S_RETRY_AFTER_S);
        return;
    }
    s_in_msg_t *m = calloc(1, sizeof *m);
    char *body = malloc(im->body_len + 1);
    if (!m || !body) {
        free(m);
        free(body);
        sip_txn_answer(&txn, 500, NULL, 0);
        return;
    }
    memcpy(body, im->body, im->body_len);
    body[im->body_len] = '\0';
    m->d = d;
    m->txn = txn;
    m->body = body;
    d->in_flight_in++;
    xgw_series_set(s_m_in_flight_in, (double)d->in_flight_in);
    snprintf(m->from, sizeof m->from, "%s", im->from);
    snprintf(m->to, sizeof m->to, "%s", im->to);
    snprintf(m->subject, sizeof m->subject, "%s", im->subject ? im->subject : "");
    snprintf(m->thread, sizeof m->thread, "%s", im->thread ? im->thread : "");
    snprintf(m->lang, sizeof m->lang, "%s", im->lang ? im->lang : "");
    m->to_bare = strchr(m->to, '/') == NULL;

    char from_bare[XGW_JID_MAX + 1], to_bare[XGW_JID_MAX + 1];
    if (xgw_addr_jid_domain(m->to, m->domain, sizeof m->domain, NULL) != 0 ||
        xgw_addr_jid_bare(m->from, from_bare, sizeof from_bare, NULL) != 0 ||
        xgw_addr_jid_bare(m->to, to_bare, sizeof to_bare, NULL) != 0) {
        s_in_answer(m, 400, NULL, 0);
        return;
    }
    char from_addr[XGW_JID_MAX + 8], to_addr[XGW_JID_MAX + 8];
    snprintf(from_addr, sizeof from_addr, "sip:%s", from_bare);
    snprintf(to_addr, sizeof to_addr, "xmpp:%s", to_bare);
    int rc = xgw_edge_rt_decide(d->rt, from_addr, to_addr, XGW_KIND_MESSAGE, s_in_decided, d, m);
    if (rc != 0) {
        /* XGW_EINVAL: an address the rules cannot parse. */
        xgw_info("sip_message_refused", "what=decide rc=%s", xgw_strerror(rc));
        s_in_answer(m, rc == XGW_EINVAL ? 400 : 500, NULL, 0);
    }
}

/* ------------------------------------------------------------------ */
/* XMPP to SIP                                                         */

static void
s_answer_condition(sipd_t *d, xgw_request_t **req_p, uint16_t status, const char *cond,
                   const char *type, uint32_t sip_status, const char *text)
{
    Xgw__V1__DeliverResult r = XGW__V1__DELIVER_RESULT__INIT;
    r.condition = (char *)cond;
    r.error_type = (char *)type;
    r.sip_status = sip_status;
    r.text = (char *)(text ? text : "");
    xgw_edge_rt_answer(d->rt, req_p, status, &r);
}

static void
s_message_out_done(void *ud, void *cookie, int status, const char *phrase)
{
    sipd_t *d = ud;
    xgw_request_t *req = cookie;
    d->in_flight_out--;
    xgw_series_set(s_m_in_flight_out, (double)d->in_flight_out);
    if (status >= 200 && status < 300) {
        xgw_edge_rt_answer(d->rt, &req, 200, NULL);
        return;
    }
    xgw_errmap_xmpp_t x;
    if (xgw_errmap_sip_to_xmpp(status, 0, &x) != 0) {
        x.condition = "internal-server-error";
        x.type = "cancel";
    }
    s_answer_condition(d, &req, 502, x.condition, x.type, (uint32_t)status, phrase);
}

static void
s_deliver_message(sipd_t *d, xgw_request_t **req_p, const Xgw__V1__ImMessage *m)
{
    if (!m || !m->body || !m->body[0]) {
        /* IM-11: nothing that carries no text becomes a MESSAGE. */
        s_answer_condition(d, req_p, 400, "bad-request", "modify", 0, "no body");
        return;
    }
    sip_im_t im = {
        .from = m->from,
        .to = m->to,
        .body = m->body,
        .body_len = strlen(m->body),
        .subject = m->subject,
        .thread = m->thread,
        .lang = m->lang,
        .id = m->id,
        .max_forwards = -1,
    };
    int rc = sip_out_message(d->sip, &im, *req_p);
    if (rc == XGW_EINVAL) {
        s_answer_condition(d, req_p, 400, "jid-malformed", "modify", 0, "address not mappable");
        return;
    }
    if (rc == XGW_EAGAIN) {
        /* Too many MESSAGEs already wait for this SIP user (IM-10). */
        s_answer_condition(d, req_p, 503, "resource-constraint", "wait", 0,
                           "too many messages queued for this user");
        return;
    }
    if (rc != 0) {
        s_answer_condition(d, req_p, 500, "internal-server-error", "cancel", 0, "out of memory");
        return;
    }
    d->in_flight_out++;
    xgw_series_set(s_m_in_flight_out, (double)d->in_flight_out);
    *req_p = NULL; /* held until the SIP final response */
}

/* ------------------------------------------------------------------ */
/* Subscriptions and presence, SIP to XMPP                             */

/* One subscription operation or presence on its way to "xmpp", after the
 * policy decision (strip-status-note applies to presence). */
typedef struct {
    sipd_t *d;
    xgw_kind_t kind;
    bool is_presence;
    Xgw__V1__SubscriptionOp__Op op;
    uint32_t expires_s;
    bool available, probe;
    int priority;
    bool watcher_subscribe; /* a SIP watcher's SUBSCRIBE: end its dialog on failure */
    char from[XGW_JID_MAX + 1];
    char to[XGW_JID_MAX + 1];
    char domain[XGW_JID_DOMAIN_MAX + 1];
    char show[8];
    char lang[40];
    char *status;
} s_fwd_t;

static void
s_fwd_free(s_fwd_t *f)
{
    free(f->status);
    free(f);
}

/* The SIP watcher's subscription could not be passed on: end its dialog
 * with the ERR-09 reason. */
static void
s_fwd_failed(s_fwd_t *f, const char *condition, const char *type)
{
    if (!f->watcher_subscribe)
        return;
    const char *reason = xgw_errmap_subscription_reason(condition, type);
    sip_subs_in_end(f->d->sip, f->from, f->to, reason, strcmp(reason, "probation") == 0 ? 60 : 0);
}

static void
s_fwd_sent(void *ud, void *cookie, uint16_t status, const Xgw__V1__DeliverResult *res)
{
    (void)ud;
    s_fwd_t *f = cookie;
    if (status != 200) {
        const char *cond = res && res->condition && res->condition[0] ? res->condition
                           : status == 504                            ? "remote-server-timeout"
                                                                      : "internal-server-error";
        const char *type = res && res->error_type && res->error_type[0] ? res->error_type : NULL;
        xgw_info("sip_handoff_failed", "kind=%s to_domain=%s status=%u condition=%s",
                 f->is_presence ? "presence" : "subscription", f->domain, status, cond);
        s_fwd_failed(f, cond, type);
    }
    s_fwd_free(f);
}

static void
s_fwd_decided(void *ud, void *cookie, const xgw_decision_t *dec)
{
    sipd_t *d = ud;
    s_fwd_t *f = cookie;
    if (!dec->allow) {
        xgw_info("sip_subscription_denied", "rule=%s to_domain=%s", dec->rule ? dec->rule : "?",
                 f->domain);
        if (s_denial_temporary(dec)) {
            /* ERR-09: a wait-type condition gives probation;retry-after. */
            s_fwd_failed(f, "resource-constraint", "wait");
        } else {
            if (!dec->rule || strcmp(dec->rule, "not_gateway_traffic") != 0)
                xgw_audit_denial(dec, f->kind, d->daemon.instance_name);
            s_fwd_failed(f, "forbidden", "auth");
        }
        s_fwd_free(f);
        return;
    }
    Xgw__V1__Deliver dl = XGW__V1__DELIVER__INIT;
    Xgw__V1__PresenceInfo p = XGW__V1__PRESENCE_INFO__INIT;
    Xgw__V1__SubscriptionOp so = XGW__V1__SUBSCRIPTION_OP__INIT;
    dl.origin_instance = d->daemon.instance_name;
    if (f->is_presence) {
        p.from = f->from;
        p.to = f->to;
        p.available = f->available;
        p.probe = f->probe;
        p.show = f->show;
        p.status = f->status && !dec->strip_status_note ? f->status : "";
        p.priority = f->priority;
        p.lang = f->lang;
        dl.kind_case = XGW__V1__DELIVER__KIND_PRESENCE;
        dl.presence = &p;
    } else {
        so.from = f->from;
        so.to = f->to;
        so.op = f->op;
        so.expires_s = f->expires_s;
        dl.kind_case = XGW__V1__DELIVER__KIND_SUBSCRIPTION;
        dl.subscription = &so;
        if (f->watcher_subscribe)
            xgw_edge_rt_contact_put(d->rt, f->from, f->to, true);
    }
    int rc = xgw_edge_rt_send(d->rt, "xmpp", f->domain, 0, &dl, s_fwd_sent, d, f);
    if (rc != 0) {
        xgw_warn("sip_handoff_failed", "kind=%s rc=%s",
                 f->is_presence ? "presence" : "subscription", xgw_strerror(rc));
        s_fwd_failed(f, rc == XGW_EAGAIN ? "resource-constraint" : "internal-server-error", NULL);
        s_fwd_free(f);
    }
}

/* from: the SIP user, to: the XMPP user (bare JIDs for subscriptions). */
static void
s_fwd(sipd_t *d, s_fwd_t *f)
{
    char from_bare[XGW_JID_MAX + 1], to_bare[XGW_JID_MAX + 1];
    if (xgw_addr_jid_bare(f->from, from_bare, sizeof from_bare, NULL) != 0 ||
        xgw_addr_jid_bare(f->to, to_bare, sizeof to_bare, NULL) != 0 ||
        xgw_addr_jid_domain(f->to, f->domain, sizeof f->domain, NULL) != 0) {
        s_fwd_failed(f, "jid-malformed", "modify");
        s_fwd_free(f);
        return;
    }
    if (!f->is_presence && (f->op == XGW__V1__SUBSCRIPTION_OP__OP__UNSUBSCRIBE ||
                            f->op == XGW__V1__SUBSCRIPTION_OP__OP__UNSUBSCRIBED)) {
        /* The end of a subscription is always passed on, also when the
         * policy now forbids the pair (that is often why it ends): it
         * tells the other side nothing but that the subscription ended. */
        xgw_decision_t allow;
        memset(&allow, 0, sizeof allow);
        allow.allow = true;
        allow.rule = "subscription_end";
        s_fwd_decided(d, f, &allow);
        return;
    }
    char from_addr[XGW_JID_MAX + 8], to_addr[XGW_JID_MAX + 8];
    snprintf(from_addr, sizeof from_addr, "sip:%s", from_bare);
    snprintf(to_addr, sizeof to_addr, "xmpp:%s", to_bare);
    int rc = xgw_edge_rt_decide(d->rt, from_addr, to_addr, f->kind, s_fwd_decided, d, f);
    if (rc != 0) {
        s_fwd_failed(f, "jid-malformed", "modify");
        s_fwd_free(f);
    }
}

static s_fwd_t *
s_fwd_new(sipd_t *d, const char *from, const char *to)
{
    s_fwd_t *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->d = d;
    snprintf(f->from, sizeof f->from, "%s", from);
    snprintf(f->to, sizeof f->to, "%s", to);
    return f;
}

static void
s_watcher_op(void *ud, const char *watcher, const char *contact, sip_sub_op_t op,
             uint32_t expires_s)
{
    sipd_t *d = ud;
    s_fwd_t *f = s_fwd_new(d, watcher, contact);
    if (!f)
        return;
    if (op == SIP_SUB_SUBSCRIBE && expires_s > 0) {
        f->kind = XGW_KIND_SUBSCRIBE;
        f->op = XGW__V1__SUBSCRIPTION_OP__OP__SUBSCRIBE;
        f->expires_s = expires_s;
        f->watcher_subscribe = true;
    } else if (op == SIP_SUB_SUBSCRIBE) {
        /* A poll (PRS-13): ask the contact's server for the state. */
        f->kind = XGW_KIND_PROBE;
        f->is_presence = true;
        f->probe = true;
    } else {
        /* SUB-11 choice (b): the XMPP subscription stays; the contact
         * learns that the SIP user went away. */
        f->kind = XGW_KIND_PRESENCE;
        f->is_presence = true;
        f->available = false;
    }
    s_fwd(d, f);
}

static void
s_presentity_op(void *ud, const char *from, const char *to, sip_sub_op_t op)
{
    sipd_t *d = ud;
    s_fwd_t *f = s_fwd_new(d, from, to);
    if (!f)
        return;
    f->kind = XGW_KIND_SUBSCRIBE;
    f->op = op == SIP_SUB_SUBSCRIBED ? XGW__V1__SUBSCRIPTION_OP__OP__SUBSCRIBED
                                     : XGW__V1__SUBSCRIPTION_OP__OP__UNSUBSCRIBED;
    s_fwd(d, f);
}

static void
s_presentity_presence(void *ud, const sip_presence_t *p)
{
    sipd_t *d = ud;
    s_fwd_t *f = s_fwd_new(d, p->from, p->to);
    if (!f)
        return;
    f->kind = XGW_KIND_PRESENCE;
    f->is_presence = true;
    f->available = p->available;
    f->priority = p->priority;
    snprintf(f->show, sizeof f->show, "%s", p->show ? p->show : "");
    snprintf(f->lang, sizeof f->lang, "%s", p->lang ? p->lang : "");
    f->status = p->status && p->status[0] ? strdup(p->status) : NULL;
    s_fwd(d, f);
}

/* ------------------------------------------------------------------ */
/* Rule-set changes: live subscriptions are decided again              */

/* One live subscription to decide again. */
typedef struct {
    sipd_t *d;
    int side; /* 0: SIP watcher -> XMPP contact; 1: XMPP watcher -> SIP user */
    char sip_user[XGW_JID_MAX + 1];
    char xmpp[XGW_JID_MAX + 1];
} s_recheck_t;

typedef struct {
    s_recheck_t **items;
    size_t n, cap;
    sipd_t *d;
} s_recheck_list_t;

static void
s_recheck_collect(void *ud, int side, const char *sip_user, const char *xmpp)
{
    s_recheck_list_t *l = ud;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        s_recheck_t **grown = realloc(l->items, cap * sizeof *grown);
        if (!grown)
            return;
        l->items = grown;
        l->cap = cap;
    }
    s_recheck_t *r = calloc(1, sizeof *r);
    if (!r)
        return;
    r->d = l->d;
    r->side = side;
    snprintf(r->sip_user, sizeof r->sip_user, "%s", sip_user);
    snprintf(r->xmpp, sizeof r->xmpp, "%s", xmpp);
    l->items[l->n++] = r;
}

static void
s_recheck_decided(void *ud, void *cookie, const xgw_decision_t *dec)
{
    sipd_t *d = ud;
    s_recheck_t *r = cookie;
    if (dec->allow || s_denial_temporary(dec)) {
        free(r);
        return;
    }
    xgw_info("sip_subscription_revoked", "rule=%s side=%s", dec->rule ? dec->rule : "?",
             r->side == 0 ? "watcher" : "presentity");
    xgw_audit_denial(dec, XGW_KIND_SUBSCRIBE, d->daemon.instance_name);
    if (r->side == 0) {
        /* The SIP watcher's dialog ends; the XMPP contact learns that the
         * subscription ended (an unsubscribe), nothing more. */
        if (sip_subs_in_end(d->sip, r->sip_user, r->xmpp, "rejected", 0) == 0) {
            s_fwd_t *f = s_fwd_new(d, r->sip_user, r->xmpp);
            if (f) {
                f->kind = XGW_KIND_SUBSCRIBE;
                f->op = XGW__V1__SUBSCRIPTION_OP__OP__UNSUBSCRIBE;
                s_fwd(d, f);
            }
        }
    } else {
        /* SUBSCRIBE Expires: 0 in the gateway's dialog, unsubscribed to
         * the XMPP watcher (sip_subs_unsubscribe does both). */
        (void)sip_subs_unsubscribe(d->sip, r->xmpp, r->sip_user, NULL);
    }
    free(r);
}

void
sipd_bridge_on_rules_changed(void *ud, const xgw_rules_t *rules)
{
    sipd_t *d = ud;
    (void)rules;
    if (!d->sip)
        return;
    s_recheck_list_t l = {.d = d};
    sip_subs_each(d->sip, s_recheck_collect, &l);
    for (size_t i = 0; i < l.n; i++) {
        s_recheck_t *r = l.items[i];
        char sip_addr[XGW_JID_MAX + 8], xmpp_addr[XGW_JID_MAX + 8];
        snprintf(sip_addr, sizeof sip_addr, "sip:%s", r->sip_user);
        snprintf(xmpp_addr, sizeof xmpp_addr, "xmpp:%s", r->xmpp);
        /* The question asked when each one began: SUBSCRIBE, from the
         * watcher to the one watched. */
        int rc = r->side == 0 ? xgw_edge_rt_decide(d->rt, sip_addr, xmpp_addr, XGW_KIND_SUBSCRIBE,
                                                   s_recheck_decided, d, r)
                              : xgw_edge_rt_decide(d->rt, xmpp_addr, sip_addr, XGW_KIND_SUBSCRIBE,
                                                   s_recheck_decided, d, r);
        if (rc != 0)
            free(r);
    }
    free(l.items);
}

/* ------------------------------------------------------------------ */
/* Subscriptions and presence, XMPP to SIP                             */

static void
s_subscribe_done(void *ud, void *cookie, int status, const char *phrase)
{
    sipd_t *d = ud;
    xgw_request_t *req = cookie;
    if (!req)
        return; /* an unsubscribe of our own (a rule-set change) */
    d->in_flight_out--;
    xgw_series_set(s_m_in_flight_out, (double)d->in_flight_out);
    if (status >= 200 && status < 300) {
        xgw_edge_rt_answer(d->rt, &req, 200, NULL);
        return;
    }
    xgw_errmap_xmpp_t x;
    if (xgw_errmap_sip_to_xmpp(status, 0, &x) != 0) {
        x.condition = "internal-server-error";
        x.type = "cancel";
    }
    s_answer_condition(d, &req, 502, x.condition, x.type, (uint32_t)status, phrase);
}

static void
s_deliver_subscription(sipd_t *d, xgw_request_t **req_p, const Xgw__V1__SubscriptionOp *so)
{
    char from[XGW_JID_MAX + 1], to[XGW_JID_MAX + 1];
    if (!so || xgw_addr_jid_bare(so->from, from, sizeof from, NULL) != 0 ||
        xgw_addr_jid_bare(so->to, to, sizeof to, NULL) != 0) {
        s_answer_condition(d, req_p, 400, "jid-malformed", "modify", 0, "bad address");
        return;
    }
    int rc = 0;
    switch (so->op) {
    case XGW__V1__SUBSCRIPTION_OP__OP__SUBSCRIBE:
    case XGW__V1__SUBSCRIPTION_OP__OP__UNSUBSCRIBE:
        /* from: the XMPP watcher; to: the SIP user. */
        if (so->op == XGW__V1__SUBSCRIPTION_OP__OP__SUBSCRIBE)
            rc = sip_subs_subscribe(d->sip, from, to, *req_p);
        else
            rc = sip_subs_unsubscribe(d->sip, from, to, *req_p);
        if (rc == 0) {
            d->in_flight_out++;
            xgw_series_set(s_m_in_flight_out, (double)d->in_flight_out);
            *req_p = NULL; /* answered by s_subscribe_done */
        } else if (rc == XGW_EAGAIN) {
            /* The same operation is in progress: it stands for this one. */
            xgw_edge_rt_answer(d->rt, req_p, 200, NULL);
        } else if (rc == XGW_EINVAL) {
            s_answer_condition(d, req_p, 400, "jid-malformed", "modify", 0, "not mappable");
        } else {
            s_answer_condition(d, req_p, 500, "internal-server-error", "cancel", 0, "no memory");
        }
        return;
    case XGW__V1__SUBSCRIPTION_OP__OP__SUBSCRIBED:
        /* from: the XMPP contact; to: the SIP watcher. Unsolicited ones
         * are ignored (SUB-14). */
        (void)sip_subs_in_approve(d->sip, to, from);
        break;
    case XGW__V1__SUBSCRIPTION_OP__OP__UNSUBSCRIBED:
        (void)sip_subs_in_end(d->sip, to, from, "rejected", 0);
        break;
    default:
        s_answer_condition(d, req_p, 400, "bad-request", "modify", 0, "unknown operation");
        return;
    }
    xgw_edge_rt_answer(d->rt, req_p, 200, NULL);
}

static void
s_deliver_presence(sipd_t *d, xgw_request_t **req_p, const Xgw__V1__PresenceInfo *pi)
{
    if (!pi) {
        s_answer_condition(d, req_p, 400, "bad-request", "modify", 0, "no presence");
        return;
    }
    char to[XGW_JID_MAX + 1];
    if (xgw_addr_jid_bare(pi->to, to, sizeof to, NULL) != 0) {
        s_answer_condition(d, req_p, 400, "jid-malformed", "modify", 0, "bad address");
        return;
    }
    if (pi->probe) {
        /* PRS-11: a fetch; its answer comes back as presence. The probe
         * itself is answered at once: probes get no error replies. */
        char from[XGW_JID_MAX + 1];
        int rc = xgw_addr_jid_bare(pi->from, from, sizeof from, NULL);
        if (rc == 0)
            rc = sip_subs_fetch(d->sip, from, to);
        if (rc == XGW_EINVAL)
            s_answer_condition(d, req_p, 400, "jid-malformed", "modify", 0, "not mappable");
        else
            xgw_edge_rt_answer(d->rt, req_p, 200, NULL);
        return;
    }
    sip_presence_t p = {
        .from = pi->from,
        .to = to,
        .available = pi->available,
        .show = pi->show,
        .status = pi->status,
        .lang = pi->lang,
        .priority = pi->priority,
    };
    int rc = sip_subs_in_presence(d->sip, &p);
    if (rc == XGW_EINVAL) {
        s_answer_condition(d, req_p, 400, "jid-malformed", "modify", 0, "bad address");
        return;
    }
    /* No watcher for it (XGW_ENOENT): nothing to tell anybody. */
    xgw_edge_rt_answer(d->rt, req_p, 200, NULL);
}

void
sipd_bridge_on_deliver(void *ud, xgw_request_t **req_p, const Xgw__V1__Deliver *deliver)
{
    sipd_t *d = ud;
    switch (deliver->kind_case) {
    case XGW__V1__DELIVER__KIND_MESSAGE:
        s_deliver_message(d, req_p, deliver->message);
        break;
    case XGW__V1__DELIVER__KIND_SUBSCRIPTION:
        s_deliver_subscription(d, req_p, deliver->subscription);
        break;
    case XGW__V1__DELIVER__KIND_PRESENCE:
        s_deliver_presence(d, req_p, deliver->presence);
        break;
    default:
        s_answer_condition(d, req_p, 400, "bad-request", "modify", 0, "empty Deliver");
        break;
    }
}

void
sipd_bridge_hooks(sipd_t *d, sip_hooks_t *hooks)
{
    memset(hooks, 0, sizeof *hooks);
    hooks->ud = d;
    hooks->message_in = s_message_in;
    hooks->message_out_done = s_message_out_done;
    hooks->watcher_op = s_watcher_op;
    hooks->presentity_op = s_presentity_op;
    hooks->presentity_presence = s_presentity_presence;
    hooks->subscribe_done = s_subscribe_done;
}

void
sipd_bridge_metrics(sipd_t *d)
{
    (void)d;
    xgw_family_t *f = xgw_metrics_gauge(
        "xgw_sip_in_flight",
        "SIP transactions sipd holds: in = MESSAGEs waiting for the XMPP side, out = Deliver "
        "requests waiting for a SIP final response.",
        "direction");
    s_m_in_flight_in = xgw_family_series(f, "in");
    s_m_in_flight_out = xgw_family_series(f, "out");
}
