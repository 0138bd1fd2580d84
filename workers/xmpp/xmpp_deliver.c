/*
 * xmpp_deliver.c - stanzas from authenticated inbound streams (or the
 * component link) on their way to the SIP side: the policy decision (the
 * edge's replica, asynchronous when contact state must be fetched), then a
 * Deliver to service "sip".
 *
 * Order: at most one stanza per conversation (bare from, bare to) is being
 * decided or is in flight to the SIP side at a time (DESIGN.md "Order"),
 * so a conversation keeps its order across decisions, retries and sipd
 * restarts.
 *
 * Back-pressure (DESIGN.md: never buffer without bound, stop reading):
 * a stanza that cannot go at once - its conversation has one in flight, or
 * the broker client has too many requests outstanding - is held, and
 * counted on the source it came from (xsrc_t: a stream, the component
 * link); a source at its bound
 * stops being read, so TCP pushes back on the peer. Nothing is bounced
 * because the SIP side is slow. Conversations whose next stanza is allowed
 * but found the client full wait in a FIFO and go when answers free room
 * (xdel_pump, after every runtime pass).
 *
 * Each stanza is packed once, as the xgw.v1.Request the broker carries,
 * in the same allocation as its item; bounces (rare) unpack it again.
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

#define S_JID_MAX 3072 /* localpart + domain + resource, 1023 bytes each */

typedef struct s_conv s_conv_t;

typedef struct s_item {
    struct s_item *next;                /* in its conversation */
    struct s_item *all_prev, *all_next; /* every item, for shutdown */
    s_conv_t *conv;
    xsrc_t *src;  /* the source it counts on while held; NULL when none */
    bool held;    /* not handed to the SIP side yet (counted in del->held) */
    bool decided; /* allowed: it waits only for room at the broker client */
    xgw_kind_t kind;
    const char *from; /* JIDs as in the Deliver (in data) */
    const char *to;
    const uint8_t *packed; /* the xgw.v1.Request (in data) */
    size_t len;
    char data[]; /* from, to, packed */
} s_item_t;

struct s_conv {
    s_item_t *head, *tail;
    s_conv_t *wait_next;
    bool busy;    /* head is being decided or is in flight */
    bool waiting; /* on the wait list: its head is allowed, the client was full */
    bool in_next; /* inside s_next: it continues the queue itself */
    char key[];
};

struct xdel {
    xgw_strmap_t *convs;
    s_item_t *all;
    size_t total;      /* items, held or in flight */
    size_t held;       /* items not handed over yet */
    size_t held_bytes; /* their packed sizes */
    size_t held_peak;
    s_conv_t *wait_head, *wait_tail;
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

size_t
xdel_held(const xmppd_t *x)
{
    return x->del ? x->del->held : 0;
}

size_t
xdel_held_bytes(const xmppd_t *x)
{
    return x->del ? x->del->held_bytes : 0;
}

/* ------------------------------------------------------------------ */
/* Sources                                                             */

static bool
s_all_full(const xmppd_t *x)
{
    return xdel_held(x) >= XMPPD_HELD_ALL_MAX || xdel_held_bytes(x) >= XMPPD_HELD_ALL_BYTES_MAX;
}

bool
xsrc_full(const xsrc_t *src)
{
    return src->gated && (src->held >= XMPPD_HELD_MAX || src->held_bytes >= XMPPD_HELD_BYTES_MAX ||
                          s_all_full(src->x));
}

size_t
xsrc_feed_len(const xsrc_t *src, const char *data, size_t len)
{
    if (!src->gated)
        return len;
    if (xsrc_full(src))
        return 0;
    const xmppd_t *x = src->x;
    size_t room = XMPPD_HELD_MAX - src->held;
    if (XMPPD_HELD_ALL_MAX - xdel_held(x) < room)
        room = XMPPD_HELD_ALL_MAX - xdel_held(x);
    size_t bytes = XMPPD_HELD_BYTES_MAX - src->held_bytes;
    if (XMPPD_HELD_ALL_BYTES_MAX - xdel_held_bytes(x) < bytes)
        bytes = XMPPD_HELD_ALL_BYTES_MAX - xdel_held_bytes(x);
    /* Each complete stanza after the first in a piece takes
     * XMPPD_STANZA_MIN_BYTES or more, so a piece of (room - 1) times that,
     * cut after a '>', completes at most room - 1 + 1 stanzas. */
    size_t win = (room - 1) * XMPPD_STANZA_MIN_BYTES;
    if (win > bytes)
        win = bytes;
    if (win >= len)
        return len;
    if (win >= 256) {
        const char *gt = memrchr(data, '>', win);
        return gt ? (size_t)(gt - data) + 1 : win; /* no '>': no stanza ends in it */
    }
    /* Little room: one tag at a time (at most one stanza ends per piece;
     * text runs go in whole, so a large stanza is not fed byte by byte). */
    const char *gt = memchr(data, '>', len);
    return gt ? (size_t)(gt - data) + 1 : len;
}

void
xsrc_pause(xsrc_t *src)
{
    xmppd_t *x = src->x;
    if (src->paused)
        return;
    src->paused = true;
    x->n_paused++;
    if (s_all_full(x))
        x->held_over = true;
    xgw_series_inc(x->m.pauses);
    xmet_held(x);
}

static bool
s_can_resume(const xsrc_t *src)
{
    return !src->x->held_over && src->held <= XMPPD_HELD_MAX / 2 &&
           src->held_bytes <= XMPPD_HELD_BYTES_MAX / 2;
}

static void
s_resume(xsrc_t *src)
{
    if (!src->paused || !s_can_resume(src))
        return;
    src->paused = false;
    src->x->n_paused--;
    xmet_held(src->x);
    if (src->on_resume)
        src->on_resume(src);
}

/* The process-wide held count is back below its low mark: every source
 * paused for it (or for itself, with room now) may be read again. */
static void
s_resume_all(xmppd_t *x)
{
    x->held_over = false;
    xconn_t *next = NULL;
    for (xconn_t *c = x->conns; c; c = next) {
        next = c->next;
        s_resume(&c->src);
    }
    if (x->link_src)
        s_resume(x->link_src);
}

static void
s_hold(xsrc_t *src, size_t bytes)
{
    src->held++;
    src->held_bytes += bytes;
    if (src->held > src->held_peak) {
        src->held_peak = src->held;
        if ((double)src->held_peak > xgw_series_value(src->x->m.stream_held_peak))
            xgw_series_set(src->x->m.stream_held_peak, (double)src->held_peak);
    }
}

static void
s_unhold(xsrc_t *src, size_t bytes)
{
    if (src->held > 0)
        src->held--;
    src->held_bytes = src->held_bytes > bytes ? src->held_bytes - bytes : 0;
    s_resume(src);
}

void
xsrc_gone(xsrc_t *src)
{
    xmppd_t *x = src->x;
    if (src->paused) {
        src->paused = false;
        x->n_paused--;
        xmet_held(x);
    }
    if (src->held > 0 && x->del) {
        for (s_item_t *it = x->del->all; it; it = it->all_next) {
            if (it->src == src)
                it->src = NULL;
        }
    }
    src->held = src->held_bytes = 0;
}

/* Length of the bare part of a JID. */
static size_t
s_bare_len(const char *jid)
{
    return strcspn(jid, "/");
}

/* Writes the error answer for a Deliver that did not reach the SIP user
 * and queues it on our outbound stream to the sender's domain (component
 * mode: on the link). */
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
        xmppd_send_raw(x, local, remote, del->w.buf, del->w.len);
    else if (rc < 0)
        xgw_warn("bounce_failed", "local=%s remote=%s reason=%s", local, remote, xgw_strerror(rc));
}

/* Bounces the stanza of it with res. */
static void
s_bounce_res(xmppd_t *x, const s_item_t *it, const Xgw__V1__DeliverResult *res)
{
    Xgw__V1__Request *r = xgw__v1__request__unpack(NULL, it->len, it->packed);
    if (!r)
        return;
    if (r->payload_case == XGW__V1__REQUEST__PAYLOAD_DELIVER)
        s_bounce(x, r->deliver, res);
    xgw__v1__request__free_unpacked(r, NULL);
}

static void
s_bounce_item(xmppd_t *x, const s_item_t *it, const char *condition, const char *type,
              uint32_t sip_status)
{
    Xgw__V1__DeliverResult res = XGW__V1__DELIVER_RESULT__INIT;
    res.condition = (char *)condition;
    res.error_type = (char *)(type ? type : "");
    res.sip_status = sip_status;
    res.text = "";
    s_bounce_res(x, it, &res);
}

static void
s_gauges(xmppd_t *x)
{
    struct xdel *del = x->del;
    if (del->held > del->held_peak) {
        del->held_peak = del->held;
        xgw_series_set(x->m.held_peak, (double)del->held_peak);
    }
    xmet_held(x);
}

/* The item has left the held state (handed over, or finished): its stream
 * and the process may take more. */
static void
s_release(xmppd_t *x, s_item_t *it)
{
    struct xdel *del = x->del;
    if (!it->held)
        return;
    it->held = false;
    del->held--;
    del->held_bytes -= it->len;
    xsrc_t *src = it->src;
    it->src = NULL;
    if (src)
        s_unhold(src, it->len);
    if (x->held_over && del->held <= XMPPD_HELD_ALL_MAX / 2 &&
        del->held_bytes <= XMPPD_HELD_ALL_BYTES_MAX / 2)
        s_resume_all(x);
    s_gauges(x);
}

static void s_next(xmppd_t *x, s_conv_t *conv);

/* The head of its conversation is finished: free it, start the next. */
static void
s_done(xmppd_t *x, s_item_t *it)
{
    struct xdel *del = x->del;
    s_conv_t *conv = it->conv;
    s_release(x, it);
    conv->head = it->next;
    if (!conv->head)
        conv->tail = NULL;
    conv->busy = false;
    if (it->all_prev)
        it->all_prev->all_next = it->all_next;
    else
        del->all = it->all_next;
    if (it->all_next)
        it->all_next->all_prev = it->all_prev;
    del->total--;
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
        const char *at = strchr(it->from, '@');
        char dom[XGW_DOMAIN_MAX + 1];
        if (xmppd_jid_domain(at ? at + 1 : it->from, dom, sizeof dom) != 0)
            snprintf(dom, sizeof dom, "-");
        xgw_info("inbound_not_delivered", "from_domain=%s status=%u condition=%s", dom, status,
                 result && result->condition ? result->condition : "-");
        xmet_deliver(x, "sip_failed");
        if (result) {
            s_bounce_res(x, it, result);
        } else {
            /* The broker or the client gave up: nobody on the SIP side
             * answered in time. */
            s_bounce_item(x, it, status == 504 ? "remote-server-timeout" : "internal-server-error",
                          NULL, 0);
        }
    }
    s_done(x, it);
}

/* The conversation's head is allowed but cannot go now: it waits its turn
 * in the FIFO (its stream stays charged for it). */
static void
s_wait(xmppd_t *x, s_conv_t *conv)
{
    struct xdel *del = x->del;
    conv->busy = false;
    conv->waiting = true;
    conv->wait_next = NULL;
    if (del->wait_tail)
        del->wait_tail->wait_next = conv;
    else
        del->wait_head = conv;
    del->wait_tail = conv;
}

/* Hands the allowed head it to the SIP side, or makes it wait. A stanza
 * never overtakes conversations that already wait (first come, first
 * served) unless the pump itself sends it. */
static void
s_send(xmppd_t *x, s_item_t *it, bool from_pump)
{
    struct xdel *del = x->del;
    if (!from_pump && (del->wait_head || xgw_edge_rt_congested(x->rt))) {
        s_wait(x, it->conv);
        return;
    }
    /* Affinity (im.proto): messages go to any sipd; presence and
     * subscriptions to the sipd of the subscription dialog. */
    char affinity[XGW_GWP_AFFINITY_MAX + 1];
    const char *aff = NULL;
    if (it->kind != XGW_KIND_MESSAGE) {
        int bf = (int)s_bare_len(it->from), bt = (int)s_bare_len(it->to);
        int n = snprintf(affinity, sizeof affinity, "%.*s|%.*s", bt, it->to, bf, it->from);
        if (n > 0 && (size_t)n < sizeof affinity)
            aff = affinity; /* else too long for a key: any sipd */
    }
    int rc = xgw_edge_rt_send_request(x->rt, "sip", aff, 0, it->packed, it->len, s_sent, x, it);
    if (rc == 0) {
        s_release(x, it);
        return;
    }
    if (rc == XGW_EAGAIN) {
        s_wait(x, it->conv);
        return;
    }
    xmet_deliver(x, "send_failed");
    xgw_warn("inbound_send_failed", "reason=%s", xgw_strerror(rc));
    s_bounce_item(x, it, "internal-server-error", "cancel", 0);
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
    it->decided = true;
    s_send(x, it, false);
}

static void
s_next(xmppd_t *x, s_conv_t *conv)
{
    if (conv->in_next)
        return;
    conv->in_next = true;
    while (conv->head && !conv->busy && !conv->waiting) {
        s_item_t *it = conv->head;
        conv->busy = true;
        if (it->decided) {
            s_send(x, it, false);
            continue;
        }
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
xdel_pump(xmppd_t *x)
{
    struct xdel *del = x->del;
    while (del && del->wait_head && !xgw_edge_rt_congested(x->rt)) {
        s_conv_t *conv = del->wait_head;
        del->wait_head = conv->wait_next;
        if (!del->wait_head)
            del->wait_tail = NULL;
        conv->wait_next = NULL;
        conv->waiting = false;
        conv->busy = true;
        conv->in_next = true;
        s_send(x, conv->head, true);
        conv->in_next = false;
        if (conv->waiting)
            break; /* the client refused again */
        if (!conv->busy)
            s_next(x, conv); /* the head finished at once (refused): the next one */
    }
}

void
xdel_inbound(xmppd_t *x, xsrc_t *src, const xgw_stanza_in_t *in)
{
    struct xdel *del = x->del;
    Xgw__V1__Deliver *d = in->deliver;
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
    if (!from || !to)
        return;
    size_t fl = strlen(from), tl = strlen(to);
    if (fl >= S_JID_MAX || tl >= S_JID_MAX)
        return;
    Xgw__V1__Request r = XGW__V1__REQUEST__INIT;
    r.schema = 1;
    r.payload_case = XGW__V1__REQUEST__PAYLOAD_DELIVER;
    r.deliver = d;
    size_t len = xgw__v1__request__get_packed_size(&r);
    s_item_t *it = malloc(sizeof *it + fl + 1 + tl + 1 + len);
    if (!it) {
        xmet_deliver(x, "dropped_no_memory");
        xgw_warn("inbound_dropped", "reason=no-memory");
        return;
    }
    memset(it, 0, sizeof *it);
    char *p = it->data;
    memcpy(p, from, fl + 1);
    it->from = p;
    p += fl + 1;
    memcpy(p, to, tl + 1);
    it->to = p;
    p += tl + 1;
    xgw__v1__request__pack(&r, (uint8_t *)p);
    it->packed = (const uint8_t *)p;
    it->len = len;
    it->kind = kind;

    char key[2 * S_JID_MAX + 2];
    size_t bf = s_bare_len(from), bt = s_bare_len(to);
    memcpy(key, from, bf);
    key[bf] = '|';
    memcpy(key + bf + 1, to, bt);
    key[bf + 1 + bt] = '\0';
    s_conv_t *conv = xgw_strmap_get(del->convs, key);
    if (!conv) {
        size_t kl = bf + 1 + bt;
        conv = calloc(1, sizeof *conv + kl + 1);
        if (!conv || xgw_strmap_put(del->convs, key, conv) != 0) {
            free(conv);
            free(it);
            xmet_deliver(x, "dropped_no_memory");
            xgw_warn("inbound_dropped", "reason=no-memory");
            return;
        }
        memcpy(conv->key, key, kl + 1);
    }
    it->conv = conv;
    if (conv->tail)
        conv->tail->next = it;
    else
        conv->head = it;
    conv->tail = it;
    it->all_next = del->all;
    if (del->all)
        del->all->all_prev = it;
    del->all = it;
    del->total++;
    it->held = true;
    del->held++;
    del->held_bytes += len;
    if (src) {
        it->src = src;
        s_hold(src, len);
    }
    s_gauges(x);
    if (!conv->busy && !conv->waiting)
        s_next(x, conv);
}
