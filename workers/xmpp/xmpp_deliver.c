/*
 * xmpp_deliver.c - stanzas from authenticated inbound streams on their way
 * to the SIP side: the policy decision (the edge's replica, asynchronous
 * when contact state must be fetched), then a Deliver to service "sip".
 *
 * Order: at most one stanza per conversation (bare from, bare to) is being
 * decided or is in flight to the SIP side at a time (DESIGN.md "Order"),
 * so a conversation keeps its order across decisions, retries and sipd
 * restarts. Waiting stanzas are bounded per conversation and in all; the
 * excess bounces <resource-constraint/> (ROB-07).
 *
 * A denial is silent towards the remote side: the stanza error or
 * presence answer is the one a non-existent user would get (lib/xgw_stanza
 * ERR-08 rules), and the denial goes to the audit log with its rule. A
 * failure on the SIP side is answered per the RFC 7247 tables, also by
 * lib/xgw_stanza.
 */
#include "xmppd.h"

#include "xgw_audit.h"
#include "xgw_error.h"
#include "xgw_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_TOTAL 10000
#define S_MAX_PER_CONV 256
#define S_JID_MAX 3072 /* localpart + domain + resource, 1023 bytes each */

typedef struct s_conv s_conv_t;

typedef struct s_item {
    struct s_item *next;                /* in its conversation */
    struct s_item *all_prev, *all_next; /* every item, for shutdown */
    s_conv_t *conv;
    uint8_t *packed; /* the Deliver */
    size_t len;
    xgw_kind_t kind;
    char *from; /* JIDs as in the Deliver (heap) */
    char *to;
} s_item_t;

struct s_conv {
    char key[2 * S_JID_MAX + 2];
    s_item_t *head, *tail;
    size_t n;
    bool busy;    /* head is being decided or is in flight */
    bool in_next; /* inside s_next: it continues the queue itself */
};

struct xdel {
    xgw_strmap_t *convs;
    s_item_t *all;
    size_t total;
    xgw_xml_writer_t w; /* bounces (the process writer may be in use up the stack) */
};

int
xdel_init(xmppd_t *x)
{
    x->del = calloc(1, sizeof *x->del);
    if (!x->del)
        return XGW_ENOMEM;
    x->del->convs = xgw_strmap_new();
    if (!x->del->convs)
        return XGW_ENOMEM;
    xgw_xml_writer_init(&x->del->w, (size_t)x->settings->xmppd.max_stanza + 4096);
    return 0;
}

static void
s_free_conv(void *ud, const char *key, void *value)
{
    (void)ud;
    (void)key;
    free(value);
}

void
xdel_fini(xmppd_t *x)
{
    struct xdel *d = x->del;
    if (!d)
        return;
    /* Decisions and sends still pending belong to a runtime that is gone;
     * their callbacks never run. */
    while (d->all) {
        s_item_t *it = d->all;
        d->all = it->all_next;
        free(it->packed);
        free(it->from);
        free(it->to);
        free(it);
    }
    xgw_strmap_each(d->convs, s_free_conv, NULL);
    xgw_strmap_destroy(&d->convs);
    xgw_xml_writer_fini(&d->w);
    free(d);
    x->del = NULL;
}

bool
xdel_idle(const xmppd_t *x)
{
    return !x->del || x->del->total == 0;
}

static void
s_bare(const char *jid, char *out, size_t outlen)
{
    size_t n = strcspn(jid, "/");
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, jid, n);
    out[n] = '\0';
}

/* Writes the error answer for a Deliver that did not reach the SIP user
 * and queues it on our outbound stream to the sender's domain. */
static void
s_bounce(xmppd_t *x, const Xgw__V1__Deliver *d, const Xgw__V1__DeliverResult *res)
{
    struct xdel *del = x->del;
    const char *from = NULL, *to = NULL;
    if (d->kind_case == XGW__V1__DELIVER__KIND_MESSAGE) {
        from = d->message->from;
        to = d->message->to;
    } else if (d->kind_case == XGW__V1__DELIVER__KIND_PRESENCE) {
        from = d->presence->from;
        to = d->presence->to;
    } else if (d->kind_case == XGW__V1__DELIVER__KIND_SUBSCRIPTION) {
        from = d->subscription->from;
        to = d->subscription->to;
    }
    char local[XGW_DOMAIN_MAX + 1], remote[XGW_DOMAIN_MAX + 1];
    if (!from || !to || xmppd_jid_domain(to, local, sizeof local) != 0 ||
        xmppd_jid_domain(from, remote, sizeof remote) != 0)
        return;
    xgw_stanza_out_ctx_t ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.local_domain = local;
    ctx.remote_domain = remote;
    ctx.counter = ++x->out_counter;
    ctx.privacy = XGW_STANZA_PRIVACY_MASK;
    xgw_xml_writer_clear(&del->w);
    int rc = xgw_stanza_write_deliver_error(&del->w, d, res, &ctx);
    if (rc == 0)
        xroute_send_raw(x, local, remote, del->w.buf, del->w.len);
    else if (rc < 0)
        xgw_warn("bounce_failed", "local=%s remote=%s reason=%s", local, remote, xgw_strerror(rc));
}

static void
s_bounce_item(xmppd_t *x, const s_item_t *it, const char *condition, const char *type,
              uint32_t sip_status)
{
    Xgw__V1__Deliver *d = xgw__v1__deliver__unpack(NULL, it->len, it->packed);
    if (!d)
        return;
    Xgw__V1__DeliverResult res = XGW__V1__DELIVER_RESULT__INIT;
    res.condition = (char *)condition;
    res.error_type = (char *)(type ? type : "");
    res.sip_status = sip_status;
    res.text = "";
    s_bounce(x, d, &res);
    xgw__v1__deliver__free_unpacked(d, NULL);
}

static void s_next(xmppd_t *x, s_conv_t *conv);

/* The head of its conversation is finished: free it, start the next. */
static void
s_done(xmppd_t *x, s_item_t *it)
{
    struct xdel *del = x->del;
    s_conv_t *conv = it->conv;
    conv->head = it->next;
    if (!conv->head)
        conv->tail = NULL;
    conv->n--;
    conv->busy = false;
    if (it->all_prev)
        it->all_prev->all_next = it->all_next;
    else
        del->all = it->all_next;
    if (it->all_next)
        it->all_next->all_prev = it->all_prev;
    del->total--;
    free(it->packed);
    free(it->from);
    free(it->to);
    free(it);
    if (!conv->in_next)
        s_next(x, conv);
}

static void
s_sent(void *ud, void *cookie, uint16_t status, const Xgw__V1__DeliverResult *result)
{
    xmppd_t *x = ud;
    s_item_t *it = cookie;
    if (status == 200) {
        xmet_deliver(x, "handed_to_sip");
    } else {
        xgw_info("inbound_not_delivered", "from_domain=%s status=%u condition=%s",
                 strchr(it->from, '@') ? strchr(it->from, '@') + 1 : it->from, status,
                 result && result->condition ? result->condition : "-");
        xmet_deliver(x, "sip_failed");
        if (result) {
            Xgw__V1__Deliver *d = xgw__v1__deliver__unpack(NULL, it->len, it->packed);
            if (d) {
                s_bounce(x, d, result);
                xgw__v1__deliver__free_unpacked(d, NULL);
            }
        } else {
            /* The broker or the client gave up: nobody on the SIP side
             * answered in time. */
            s_bounce_item(x, it, status == 504 ? "remote-server-timeout" : "internal-server-error",
                          NULL, 0);
        }
    }
    s_done(x, it);
}

static void
s_decided(void *ud, void *cookie, const xgw_decision_t *out)
{
    xmppd_t *x = ud;
    s_item_t *it = cookie;
    if (!out->allow) {
        xgw_audit_denial(out, it->kind, x->daemon->instance_name);
        xmet_deliver(x, "policy_denied");
        /* What a user who does not exist would cause (ERR-08). */
        s_bounce_item(x, it, "service-unavailable", "cancel", 0);
        s_done(x, it);
        return;
    }
    Xgw__V1__Deliver *d = xgw__v1__deliver__unpack(NULL, it->len, it->packed);
    if (!d) {
        s_done(x, it);
        return;
    }
    /* Affinity (im.proto): messages go to any sipd; presence and
     * subscriptions to the sipd of the subscription dialog. */
    char affinity[XGW_GWP_AFFINITY_MAX + 1] = "";
    if (it->kind != XGW_KIND_MESSAGE) {
        char bf[S_JID_MAX], bt[S_JID_MAX];
        s_bare(it->from, bf, sizeof bf);
        s_bare(it->to, bt, sizeof bt);
        int n = snprintf(affinity, sizeof affinity, "%s|%s", bt, bf);
        if (n < 0 || (size_t)n >= sizeof affinity)
            affinity[0] = '\0'; /* too long for a key: any sipd */
    }
    int rc = xgw_edge_rt_send(x->rt, "sip", affinity[0] ? affinity : NULL, 0, d, s_sent, x, it);
    xgw__v1__deliver__free_unpacked(d, NULL);
    if (rc != 0) {
        xmet_deliver(x, rc == XGW_EAGAIN ? "backpressure" : "send_failed");
        s_bounce_item(x, it, rc == XGW_EAGAIN ? "resource-constraint" : "internal-server-error",
                      rc == XGW_EAGAIN ? "wait" : "cancel", 0);
        s_done(x, it);
    }
}

static void
s_next(xmppd_t *x, s_conv_t *conv)
{
    if (conv->in_next)
        return;
    conv->in_next = true;
    while (conv->head && !conv->busy) {
        s_item_t *it = conv->head;
        conv->busy = true;
        /* The callback may run before this returns (a local decision). */
        int rc = xgw_edge_rt_decide(x->rt, it->from, it->to, it->kind, s_decided, x, it);
        if (rc != 0) {
            xmet_deliver(x, "policy_failed");
            s_bounce_item(x, it, "service-unavailable", "cancel", 0);
            s_done(x, it);
        }
    }
    conv->in_next = false;
    if (!conv->head) {
        (void)xgw_strmap_remove(x->del->convs, conv->key);
        free(conv);
    }
}

void
xdel_inbound(xmppd_t *x, const xgw_stanza_in_t *in)
{
    struct xdel *del = x->del;
    const Xgw__V1__Deliver *d = in->deliver;
    const char *from = NULL, *to = NULL;
    xgw_kind_t kind = XGW_KIND_MESSAGE;
    switch (d->kind_case) {
    case XGW__V1__DELIVER__KIND_MESSAGE:
        from = d->message->from;
        to = d->message->to;
        break;
    case XGW__V1__DELIVER__KIND_PRESENCE:
        from = d->presence->from;
        to = d->presence->to;
        kind = d->presence->probe ? XGW_KIND_PROBE : XGW_KIND_PRESENCE;
        break;
    case XGW__V1__DELIVER__KIND_SUBSCRIPTION:
        from = d->subscription->from;
        to = d->subscription->to;
        kind = XGW_KIND_SUBSCRIBE;
        break;
    default:
        return;
    }
    if (!from || !to || strlen(from) >= S_JID_MAX || strlen(to) >= S_JID_MAX)
        return;
    char key[2 * S_JID_MAX + 2], bf[S_JID_MAX], bt[S_JID_MAX];
    s_bare(from, bf, sizeof bf);
    s_bare(to, bt, sizeof bt);
    snprintf(key, sizeof key, "%s|%s", bf, bt);
    s_conv_t *conv = xgw_strmap_get(del->convs, key);
    if (del->total >= S_MAX_TOTAL || (conv && conv->n >= S_MAX_PER_CONV)) {
        xmet_deliver(x, "inbound_overflow");
        Xgw__V1__DeliverResult res = XGW__V1__DELIVER_RESULT__INIT;
        res.condition = "resource-constraint";
        res.error_type = "wait";
        res.text = "";
        s_bounce(x, d, &res);
        return;
    }
    s_item_t *it = calloc(1, sizeof *it);
    size_t len = xgw__v1__deliver__get_packed_size(d);
    uint8_t *packed = it ? malloc(len ? len : 1) : NULL;
    char *f = it ? strdup(from) : NULL, *t = it ? strdup(to) : NULL;
    if (!it || !packed || !f || !t) {
        free(packed);
        free(f);
        free(t);
        free(it);
        return;
    }
    xgw__v1__deliver__pack(d, packed);
    it->packed = packed;
    it->len = len;
    it->kind = kind;
    it->from = f;
    it->to = t;
    if (!conv) {
        conv = calloc(1, sizeof *conv);
        if (!conv || xgw_strmap_put(del->convs, key, conv) != 0) {
            free(conv);
            free(packed);
            free(f);
            free(t);
            free(it);
            return;
        }
        snprintf(conv->key, sizeof conv->key, "%s", key);
    }
    it->conv = conv;
    if (conv->tail)
        conv->tail->next = it;
    else
        conv->head = it;
    conv->tail = it;
    conv->n++;
    it->all_next = del->all;
    if (del->all)
        del->all->all_prev = it;
    del->all = it;
    del->total++;
    if (!conv->busy)
        s_next(x, conv);
}
