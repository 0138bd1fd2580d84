/*
 * xgw_decide.c - DecideRequest -> Decision; see xgw_decide.h.
 */
#include "xgw_decide.h"
#include "xgw_audit.h"
#include "xgw_error.h"
#include "xgw_metrics.h"

#include <string.h>

static xgw_family_t *
s_family(void)
{
    static xgw_family_t *f;
    if (!f)
        f = xgw_metrics_counter("xgw_policy_decisions_total",
                                "Policy decisions by result and deciding rule.", "result,rule");
    return f;
}

int
xgw_decide_answer(const xgw_rules_t *rules, const Xgw__V1__DecideRequest *req,
                  xgw_contact_fn contact, void *contact_ud, const char *instance,
                  xgw_arena_t *arena, Xgw__V1__Decision **out, const char **reason)
{
    xgw_kind_t kind;
    if (xgw_kind_parse(req->kind, &kind) != 0) {
        *reason = "kind must be message, subscribe, presence or probe";
        return 400;
    }
    xgw_decision_t *d = xgw_arena_alloc(arena, sizeof *d);
    Xgw__V1__Decision *pd = xgw_arena_alloc(arena, sizeof *pd);
    Xgw__V1__Partner *pp = xgw_arena_alloc(arena, sizeof *pp);
    if (!d || !pd || !pp) {
        *reason = "out of memory";
        return 500;
    }
    int rc = xgw_rules_decide(rules, req->from ? req->from : "", req->to ? req->to : "", kind,
                              contact, contact_ud, d);
    if (rc == XGW_EAGAIN)
        return XGW_EAGAIN;
    if (rc != 0) {
        *reason = xgw_arena_strdup(arena, d->detail);
        return 400;
    }
    xgw_series_inc(xgw_family_series(s_family(), d->allow ? "allow" : "deny", d->rule));
    if (req->audit && !d->allow)
        xgw_audit_denial(d, kind, instance);
    xgw_decision_to_proto(d, pd, pp, xgw_rules_version(rules), instance);
    /* The proto points into d; d lives in the arena too, so both last until
     * the reply is packed. */
    pd->decided_by = xgw_arena_strdup(arena, instance);
    *out = pd;
    return 200;
}

int
xgw_decide_reply(const xgw_rules_t *rules, const Xgw__V1__DecideRequest *req,
                 xgw_contact_fn contact, void *contact_ud, const char *instance, xgw_arena_t *arena,
                 Xgw__V1__Reply *reply)
{
    Xgw__V1__Decision *d = NULL;
    const char *why = "";
    int st = xgw_decide_answer(rules, req, contact, contact_ud, instance, arena, &d, &why);
    if (st != 200) {
        reply->status = st < 0 ? 500 : (uint32_t)st;
        reply->reason = (char *)why;
        return 0;
    }
    Xgw__V1__PolicyReply *pr = xgw_arena_alloc(arena, sizeof *pr);
    if (!pr)
        return XGW_ENOMEM;
    xgw__v1__policy_reply__init(pr);
    pr->result_case = XGW__V1__POLICY_REPLY__RESULT_DECISION;
    pr->decision = d;
    reply->status = 200;
    reply->payload_case = XGW__V1__REPLY__PAYLOAD_POLICY;
    reply->policy = pr;
    return 0;
}
