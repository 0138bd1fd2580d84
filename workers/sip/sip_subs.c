/*
 * sip_subs.c - presence subscriptions (RFC 6665, RFC 3856) in both
 * directions, on NUA's notifier and subscriber usages.
 *
 * SIP watcher -> XMPP contact ("in", SUB-08..11): an initial SUBSCRIBE is
 * answered 200 at once (never 202, never waiting for the XMPP user), with
 * Expires no longer than asked (NUTAG_SUB_EXPIRES caps it at 3600), then a
 * NOTIFY pending with no body; the GWP half passes the subscribe to XMPP
 * (hooks.watcher_op). subscribed -> NOTIFY active (PIDF when presence is
 * known, else no body); unsubscribed -> NOTIFY terminated;reason=rejected
 * and the dialog ends. Refreshes are answered by NUA with a NOTIFY of the
 * last state. Expires: 0 or expiry ends the dialog with NOTIFY
 * terminated;reason=timeout, and we apply SUB-11 choice (b): the XMPP
 * subscription stays, the XMPP contact is told the SIP user is
 * unavailable (hooks.watcher_op UNSUBSCRIBE; the bridge sends presence
 * unavailable, not an XMPP unsubscribe), since a SIP client ends its
 * subscriptions each time it goes offline. A SUBSCRIBE with Expires: 0 and
 * no dialog (a poll, PRS-13) gets 200, NOTIFY terminated;reason=timeout
 * and a probe to XMPP. Accept without application/pidf+xml -> 406.
 * Presence NOTIFYs are sent at most once per 5 s per dialog; changes in
 * between are coalesced and the last state wins (PRS-08). State changes
 * (active, terminated) and the first presence after the approval go at
 * once. A contact known to have no resource online is one closed tuple
 * with id "account"; each resource is a tuple "ID-<resource>" (PRS-02),
 * closed once it went offline, until the account does (PRS-07).
 *
 * XMPP watcher -> SIP presentity ("out", SUB-01..07): SUBSCRIBE with Event
 * presence, Accept application/pidf+xml, Expires subscribe_expires, From
 * the watcher's bare JID as a SIP URI, a new Call-ID; NUA refreshes it
 * in-dialog before expiry. The first NOTIFY active gives SUBSCRIBED, then
 * the presence of each tuple; later NOTIFYs give presence, plus
 * unavailable for tuples that disappeared (PRS-07); pending gives nothing;
 * terminated;reason=rejected|noresource gives UNSUBSCRIBED. A NOTIFY whose
 * PIDF cannot be parsed changes nothing and is counted
 * (xgw_sip_pidf_errors_total), but it is answered 200: NUA's subscriber
 * usage answers the NOTIFYs of its subscriptions itself before the
 * application sees them (sofia-sip 1.12.11 has no hook for that), so the
 * 400 that RFC 3261 would allow cannot be sent. 403, 489, 603 to a
 * SUBSCRIBE or refresh give UNSUBSCRIBED and end it (SUB-03); other
 * failures of an established subscription, and terminated with
 * deactivated/timeout/probation/giveup, make a new subscription (new
 * Call-ID and From tag) after a back-off of 2, 4, 8 ... 300 s (SUB-04); an
 * initial SUBSCRIBE that fails is given up and reported to the caller.
 * A 2xx without any NOTIFY within Timer N (32 s) counts as a failure too
 * (SUB-05).
 * The record of each one is kept in sip_store so a restarted sipd
 * subscribes again (paced, once the rule set is loaded).
 *
 * XMPP probe of a SIP user (PRS-11, PRS-12): a fetch, SUBSCRIBE Expires: 0
 * outside any dialog; its NOTIFY gives presence to the prober (available
 * per open tuple, else unavailable from the bare JID); 403/603 give
 * unsubscribed, other failures nothing, never cached presence.
 */
#include "sip_int.h"

#include "sip_store.h"
#include "xgw_addr.h"
#include "xgw_arena.h"
#include "xgw_error.h"
#include "xgw_log.h"
#include "xgw_pidf.h"
#include "xgw_strmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define S_RES_MAX 16
#define S_BACKOFF_MAX_S 300
#define S_TIMER_N_MS 32000 /* RFC 6665 Timer N: 64 * T1 */
#define S_RECORD_TTL_S (7 * 86400)
#define S_NOTIFY_MAX (16 * 1024)
/* PRS-08 (RFC 3856 6.10): at most one presence NOTIFY per watcher dialog
 * this often; changes in between are coalesced and the last state wins. */
#define S_NOTIFY_GAP_MS 5000

/* One resource of an XMPP contact, as last reported (for full-state PIDF). */
typedef struct {
    char *resource; /* NULL for the bare JID */
    bool available;
    char show[8];
    char *status;
    char lang[40];
    int priority;
} s_res_t;

typedef struct {
    sip_hctx_t h; /* SIP_H_SUB_IN */
    sip_stack_t *stack;
    nua_handle_t *nh;
    char *key; /* "watcher|contact" */
    char *watcher, *contact;
    bool active;
    bool ending; /* NOTIFY terminated sent: free on its response */
    s_res_t res[S_RES_MAX];
    size_t n_res;
    bool offline;             /* the contact is known to have no resource online */
    bool presence_sent;       /* a NOTIFY with presence went out since approval */
    int64_t last_notify_ms;   /* monotonic; PRS-08 */
    su_timer_t *notify_timer; /* a coalesced presence NOTIFY is due */
} s_in_t;

typedef struct {
    sip_hctx_t h; /* SIP_H_SUB_OUT */
    sip_stack_t *stack;
    nua_handle_t *nh;
    char *key; /* "watcher|presentity" */
    char *watcher, *presentity;
    void *sub_cookie;   /* GWP request waiting for the SUBSCRIBE's answer */
    void *unsub_cookie; /* ... for the unsubscribe's */
    bool established;   /* a 2xx was seen once */
    bool restored;      /* read from the store at start: retry, never give up */
    bool approved;      /* the first active NOTIFY was seen */
    bool unsubscribing;
    int backoff_s;
    su_timer_t *retry;
    su_timer_t *timer_n;     /* SUB-05: a NOTIFY must follow the 2xx in 32 s */
    bool notified;           /* a NOTIFY came in this dialog */
    char *tuples[S_RES_MAX]; /* resources reported available */
    size_t n_tuples;
} s_out_t;

/* Restored subscriptions are started this many per tick of this many ms
 * (200 per second): a restart must not burst thousands of SUBSCRIBEs at
 * the SIP side at once. */
#define S_RESTORE_BATCH 10
#define S_RESTORE_TICK_MS 50

struct sip_subs {
    xgw_strmap_t *in;
    xgw_strmap_t *out;
    sip_store_t *store;
    s_out_t **restore; /* read from the store, not started yet (NULL: gone) */
    size_t n_restore, i_restore;
    su_timer_t *restore_timer;
    struct s_fetch *fetches; /* fetches waiting for their NOTIFY */
    xgw_arena_t *arena;
    xgw_series_t *m_in_pending, *m_in_active, *m_out_pending, *m_out_active;
    xgw_series_t *m_pidf_errors;
};

static char *
s_key(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *k = malloc(la + lb + 2);
    if (!k)
        return NULL;
    memcpy(k, a, la);
    k[la] = '|';
    memcpy(k + la + 1, b, lb + 1);
    return k;
}

static int64_t
s_unix_now(void)
{
    return (int64_t)time(NULL);
}

/* Gauges of subscriptions by side and state. */
static void
s_count_cb(void *ud, const char *key, void *value)
{
    (void)key;
    size_t *counts = ud;
    const sip_hctx_t *h = value;
    if (h->kind == SIP_H_SUB_IN)
        counts[((const s_in_t *)value)->active ? 1 : 0]++;
    else
        counts[2 + (((const s_out_t *)value)->approved ? 1 : 0)]++;
}

static void
s_gauges(sip_stack_t *self)
{
    struct sip_subs *ss = self->subs;
    size_t c[4] = {0, 0, 0, 0};
    xgw_strmap_each(ss->in, s_count_cb, c);
    xgw_strmap_each(ss->out, s_count_cb, c);
    xgw_series_set(ss->m_in_pending, (double)c[0]);
    xgw_series_set(ss->m_in_active, (double)c[1]);
    xgw_series_set(ss->m_out_pending, (double)c[2]);
    xgw_series_set(ss->m_out_active, (double)c[3]);
}

/* "<sip:...>" for a bare JID (malloc'd), or NULL. */
static char *
s_name_addr(const char *jid)
{
    char *out = malloc(XGW_SIP_URI_MAX + 3);
    if (!out)
        return NULL;
    out[0] = '<';
    if (xgw_addr_jid_to_sip(jid, XGW_ADDR_SCHEME_SIP, XGW_ADDR_BARE, out + 1, XGW_SIP_URI_MAX + 1,
                            NULL) != 0) {
        free(out);
        return NULL;
    }
    size_t n = strlen(out);
    out[n] = '>';
    out[n + 1] = '\0';
    return out;
}

/* ------------------------------------------------------------------ */
/* SIP watchers (in)                                                   */

static void
s_in_free(sip_stack_t *self, s_in_t *s)
{
    xgw_strmap_remove(self->subs->in, s->key);
    if (s->notify_timer)
        su_timer_destroy(s->notify_timer);
    if (s->nh) {
        nua_handle_bind(s->nh, NULL);
        nua_handle_destroy(s->nh);
    }
    for (size_t i = 0; i < s->n_res; i++) {
        free(s->res[i].resource);
        free(s->res[i].status);
    }
    free(s->key);
    free(s->watcher);
    free(s->contact);
    free(s);
    s_gauges(self);
}

/* Writes the PIDF of everything known about s->contact into a malloc'd
 * string; NULL when nothing is known or it cannot be written. */
static char *
s_in_pidf(s_in_t *s)
{
    if (s->n_res == 0 && !s->offline)
        return NULL; /* nothing known: no body (SUB-09) */
    char entity[XGW_SIP_URI_MAX + 1];
    if (xgw_addr_jid_to_sip(s->contact, XGW_ADDR_SCHEME_PRES, XGW_ADDR_BARE, entity, sizeof entity,
                            NULL) != 0)
        return NULL;
    xgw_pidf_tuple_t tuples[S_RES_MAX];
    char contacts[S_RES_MAX][320];
    memset(tuples, 0, sizeof tuples);
    for (size_t i = 0; i < s->n_res; i++) {
        const s_res_t *r = &s->res[i];
        xgw_pidf_tuple_t *t = &tuples[i];
        t->resource = r->resource;
        t->basic = r->available ? XGW_PIDF_BASIC_OPEN : XGW_PIDF_BASIC_CLOSED;
        t->show = xgw_pidf_show_from_name(r->show);
        t->note = r->status && r->status[0] ? r->status : NULL;
        t->note_lang = r->lang[0] ? r->lang : NULL;
        if (r->available && r->priority >= 0) {
            /* PRS-05: the priority rides on <contact priority>. */
            char jid[XGW_JID_MAX + 1];
            snprintf(jid, sizeof jid, "%s%s%s", s->contact, r->resource ? "/" : "",
                     r->resource ? r->resource : "");
            if (xgw_addr_jid_to_sip(jid, XGW_ADDR_SCHEME_SIP, 0, contacts[i], sizeof contacts[i],
                                    NULL) == 0) {
                t->contact = contacts[i];
                t->has_priority = true;
                t->priority = r->priority;
            }
        }
    }
    xgw_pidf_t p;
    memset(&p, 0, sizeof p);
    if (s->n_res == 0) {
        /* No resource online: one closed tuple for the account, with an id
         * no resource can have (theirs all start with "ID-"), so it is
         * never taken for an empty resource (PRS-02). */
        tuples[0].id = "account";
        tuples[0].basic = XGW_PIDF_BASIC_CLOSED;
    }
    p.entity = entity;
    p.tuples = tuples;
    p.n_tuples = s->n_res ? s->n_res : 1;
    p.best = -1;
    xgw_xml_writer_t w;
    xgw_xml_writer_init(&w, S_NOTIFY_MAX);
    char *doc = NULL;
    if (xgw_pidf_build(&p, &w) == 0 && xgw_xml_writer_status(&w) == 0 && w.buf)
        doc = strdup(w.buf);
    else
        xgw_warn("sip_pidf_build_failed", "contact_domain=%s", strchr(s->contact, '@') + 1);
    xgw_xml_writer_fini(&w);
    return doc;
}

/* NOTIFY active with the current state (SUB-09, PRS-07). */
static void
s_in_notify_now(s_in_t *s)
{
    s->last_notify_ms = sip_now_ms();
    char *doc = s_in_pidf(s);
    nua_notify(s->nh, NUTAG_SUBSTATE(nua_substate_active), SIPTAG_EVENT_STR("presence"),
               TAG_IF(doc, SIPTAG_CONTENT_TYPE_STR(XGW_PIDF_CONTENT_TYPE)),
               TAG_IF(doc, SIPTAG_PAYLOAD_STR(doc)), TAG_END());
    sip_count(s->stack, "out", "NOTIFY", 0);
    free(doc);
}

/* The timer of a coalesced NOTIFY. Its argument is the subscription
 * (sofia types the argument as the stack; the pointer is converted back). */
static void
s_in_notify_due(sip_stack_t *self, su_timer_t *t, sip_stack_t *arg)
{
    (void)self;
    (void)t;
    s_in_t *s = (s_in_t *)(void *)arg;
    if (!s->ending && s->active)
        s_in_notify_now(s);
}

/* A presence change: NOTIFY now, or at the end of the PRS-08 gap with the
 * state of then. */
static void
s_in_notify_presence(s_in_t *s)
{
    int64_t since = sip_now_ms() - s->last_notify_ms;
    /* The first presence after the approval completes the initial state
     * (the approval's NOTIFY may have had none): it goes at once. */
    if (since >= S_NOTIFY_GAP_MS || !s->presence_sent) {
        s->presence_sent = true;
        s_in_notify_now(s);
        return;
    }
    if (!s->notify_timer)
        s->notify_timer = su_timer_create(su_root_task(s->stack->root), S_NOTIFY_GAP_MS);
    if (!s->notify_timer) {
        s_in_notify_now(s);
        return;
    }
    if (su_timer_is_set(s->notify_timer))
        return; /* already due: it will carry this state too */
    su_timer_set_interval(s->notify_timer, s_in_notify_due, (sip_stack_t *)(void *)s,
                          (su_duration_t)(S_NOTIFY_GAP_MS - since));
}

static bool
s_accepts_pidf(const sip_accept_t *ac)
{
    if (!ac)
        return true; /* absent: application/pidf+xml is the default (RFC 3856) */
    for (; ac; ac = ac->ac_next) {
        if (!ac->ac_type)
            continue;
        if (strcasecmp(ac->ac_type, XGW_PIDF_CONTENT_TYPE) == 0 ||
            strcasecmp(ac->ac_type, "application/*") == 0 || strcmp(ac->ac_type, "*/*") == 0)
            return true;
    }
    return false;
}

static void
s_refuse_subscribe(sip_stack_t *self, nua_handle_t *nh, int status, const char *phrase,
                   int retry_after_s)
{
    if (status == 489)
        sip_respond_now(self, nh, status, phrase, 0, SIPTAG_ALLOW_EVENTS_STR("presence"),
                        TAG_END());
    else if (status == 406)
        sip_respond_now(self, nh, status, phrase, 0, SIPTAG_ACCEPT_STR(XGW_PIDF_CONTENT_TYPE),
                        TAG_END());
    else
        sip_respond_now(self, nh, status, phrase, retry_after_s, TAG_END());
    if (status == 503)
        xgw_series_inc(self->m_backpressure);
    sip_count(self, "in", "SUBSCRIBE", status);
    nua_handle_destroy(nh);
}

/* An initial SUBSCRIBE (the handle is new, made by NUA). */
static void
s_in_initial(sip_stack_t *self, nua_handle_t *nh, const sip_t *sip)
{
    msg_t *msg = nua_current_request(self->nua);
    if (!sip || !sip->sip_request || !sip->sip_from || !sip->sip_to) {
        s_refuse_subscribe(self, nh, 400, NULL, 0);
        return;
    }
    if (self->refusing) {
        s_refuse_subscribe(self, nh, 503, "Draining", 5);
        return;
    }
    if (!sip_peer_trusted(self, msg)) {
        s_refuse_subscribe(self, nh, 403, "Untrusted Source", 0);
        return;
    }
    if (!sip->sip_event || strcmp(sip->sip_event->o_type, "presence") != 0) {
        s_refuse_subscribe(self, nh, 489, NULL, 0);
        return;
    }
    if (!s_accepts_pidf(sip->sip_accept)) {
        s_refuse_subscribe(self, nh, 406, NULL, 0);
        return;
    }
    const url_t *ruri = sip->sip_request->rq_url;
    if (ruri->url_type == url_sips || sip->sip_to->a_url->url_type == url_sips) {
        s_refuse_subscribe(self, nh, 403, "SIPS Not Routed To XMPP", 0);
        return;
    }
    char watcher[XGW_JID_MAX + 1], contact[XGW_JID_MAX + 1];
    const char *why = "";
    int st = sip_url_to_jid(ruri, XGW_ADDR_BARE, contact, sizeof contact, &why);
    if (st == 0)
        st = sip_url_to_jid(sip->sip_from->a_url, XGW_ADDR_BARE, watcher, sizeof watcher, &why);
    if (st) {
        xgw_info("sip_subscribe_refused", "why=%s status=%d", why, st);
        xgw_series_inc(self->m_parse_errors);
        s_refuse_subscribe(self, nh, st, NULL, 0);
        return;
    }
    uint32_t expires = 3600;
    if (sip->sip_expires && sip->sip_expires->ex_delta < expires)
        expires = (uint32_t)sip->sip_expires->ex_delta;
    if (expires == 0) {
        /* A poll (PRS-13): the state now, then the end of it. */
        sip_respond_now(self, nh, 200, NULL, 0, TAG_END());
        nua_notify(nh, SIPTAG_SUBSCRIPTION_STATE_STR("terminated;reason=timeout"),
                   SIPTAG_EVENT_STR("presence"), TAG_END());
        sip_count(self, "in", "SUBSCRIBE", 200);
        self->hooks.watcher_op(self->hooks.ud, watcher, contact, SIP_SUB_SUBSCRIBE, 0);
        /* The handle goes when NUA reports the NOTIFY's answer. */
        return;
    }
    char *key = s_key(watcher, contact);
    s_in_t *s = calloc(1, sizeof *s);
    if (!key || !s) {
        free(key);
        free(s);
        s_refuse_subscribe(self, nh, 500, NULL, 0);
        return;
    }
    /* A watcher that subscribes again in a new dialog (its UA restarted):
     * the new dialog replaces the old one. */
    s_in_t *old = xgw_strmap_get(self->subs->in, key);
    if (old)
        s_in_free(self, old);
    s->h.kind = SIP_H_SUB_IN;
    s->stack = self;
    s->nh = nh;
    s->key = key;
    s->watcher = strdup(watcher);
    s->contact = strdup(contact);
    if (!s->watcher || !s->contact || xgw_strmap_put(self->subs->in, key, s) != 0) {
        s->nh = NULL;
        xgw_strmap_remove(self->subs->in, key);
        free(s->watcher);
        free(s->contact);
        free(key);
        free(s);
        s_refuse_subscribe(self, nh, 500, NULL, 0);
        return;
    }
    nua_handle_bind(nh, &s->h);
    /* SUB-08: 200 at once, then NOTIFY pending with no body. */
    sip_respond_now(self, nh, 200, NULL, 0, TAG_END());
    nua_notify(nh, NUTAG_SUBSTATE(nua_substate_pending), SIPTAG_EVENT_STR("presence"), TAG_END());
    sip_count(self, "in", "SUBSCRIBE", 200);
    sip_count(self, "out", "NOTIFY", 0);
    s_gauges(self);
    xgw_info("sip_watcher_subscribed", "contact_domain=%s expires=%u", strchr(contact, '@') + 1,
             expires);
    self->hooks.watcher_op(self->hooks.ud, watcher, contact, SIP_SUB_SUBSCRIBE, expires);
}

static void
s_in_event(sip_stack_t *self, nua_event_t event, int status, nua_handle_t *nh, s_in_t *s,
           const sip_t *sip, tagi_t tags[])
{
    int substate = nua_substate_active;
    tl_gets(tags, NUTAG_SUBSTATE_REF(substate), TAG_END());
    if (event == nua_i_subscribe) {
        /* A refresh or Expires: 0 in the dialog; NUA answered it and sends
         * the NOTIFY itself. */
        sip_count(self, "in", "SUBSCRIBE", status);
        (void)sip;
        if (substate == nua_substate_terminated && !s->ending) {
            s->ending = true;
            self->hooks.watcher_op(self->hooks.ud, s->watcher, s->contact, SIP_SUB_UNSUBSCRIBE, 0);
        }
        return;
    }
    if (event == nua_r_notify) {
        if (status < 200)
            return;
        sip_count(self, "out", "NOTIFY", status);
        if (status >= 300) {
            /* SUB-13: a failed NOTIFY ends the subscription. */
            xgw_info("sip_watcher_gone", "status=%d", status);
            if (!s->ending)
                self->hooks.watcher_op(self->hooks.ud, s->watcher, s->contact, SIP_SUB_UNSUBSCRIBE,
                                       0);
            s_in_free(self, s);
            return;
        }
        if (substate == nua_substate_terminated) {
            if (!s->ending)
                self->hooks.watcher_op(self->hooks.ud, s->watcher, s->contact, SIP_SUB_UNSUBSCRIBE,
                                       0);
            s_in_free(self, s);
        }
        return;
    }
    (void)nh;
}

int
sip_subs_in_approve(sip_stack_t *self, const char *watcher, const char *contact)
{
    char *key = s_key(watcher, contact);
    s_in_t *s = key ? xgw_strmap_get(self->subs->in, key) : NULL;
    free(key);
    if (!s || s->ending)
        return XGW_ENOENT;
    s->active = true;
    /* A state change goes at once; presence after it waits its turn. */
    s_in_notify_now(s);
    s_gauges(self);
    return 0;
}

int
sip_subs_in_end(sip_stack_t *self, const char *watcher, const char *contact, const char *reason,
                int retry_after_s)
{
    char *key = s_key(watcher, contact);
    s_in_t *s = key ? xgw_strmap_get(self->subs->in, key) : NULL;
    free(key);
    if (!s || s->ending)
        return XGW_ENOENT;
    char ss[96];
    if (retry_after_s > 0)
        snprintf(ss, sizeof ss, "terminated;reason=%s;retry-after=%d", reason, retry_after_s);
    else
        snprintf(ss, sizeof ss, "terminated;reason=%s", reason);
    s->ending = true;
    nua_notify(s->nh, SIPTAG_SUBSCRIPTION_STATE_STR(ss), SIPTAG_EVENT_STR("presence"), TAG_END());
    sip_count(self, "out", "NOTIFY", 0);
    return 0;
}

int
sip_subs_in_presence(sip_stack_t *self, const sip_presence_t *p)
{
    char bare[XGW_JID_MAX + 1];
    if (xgw_addr_jid_bare(p->from, bare, sizeof bare, NULL) != 0)
        return XGW_EINVAL;
    char *key = s_key(p->to, bare);
    s_in_t *s = key ? xgw_strmap_get(self->subs->in, key) : NULL;
    free(key);
    if (!s || s->ending)
        return XGW_ENOENT;
    const char *slash = strchr(p->from, '/');
    const char *resource = slash ? slash + 1 : NULL;
    if (!p->available && !resource) {
        /* From the bare JID: the whole account went offline, every tuple
         * goes (PRS-07: each NOTIFY is the complete state). */
        for (size_t i = 0; i < s->n_res; i++) {
            free(s->res[i].resource);
            free(s->res[i].status);
        }
        s->n_res = 0;
        s->offline = true;
        if (s->active)
            s_in_notify_presence(s);
        return 0;
    }
    s->offline = false;
    if (resource) {
        /* A resource is online: a bare-JID entry no longer describes it. */
        for (size_t i = 0; i < s->n_res; i++)
            if (!s->res[i].resource) {
                free(s->res[i].status);
                s->res[i] = s->res[--s->n_res];
                break;
            }
    }
    s_res_t *r = NULL;
    for (size_t i = 0; i < s->n_res && !r; i++) {
        const char *have = s->res[i].resource;
        if ((!have && !resource) || (have && resource && strcmp(have, resource) == 0))
            r = &s->res[i];
    }
    if (!r) {
        if (s->n_res == S_RES_MAX) {
            /* Drop an unavailable resource to make room, else the oldest. */
            size_t victim = 0;
            for (size_t i = 0; i < s->n_res; i++)
                if (!s->res[i].available) {
                    victim = i;
                    break;
                }
            free(s->res[victim].resource);
            free(s->res[victim].status);
            s->res[victim] = s->res[--s->n_res];
        }
        r = &s->res[s->n_res++];
        memset(r, 0, sizeof *r);
        r->resource = resource ? strdup(resource) : NULL;
    }
    r->available = p->available;
    snprintf(r->show, sizeof r->show, "%s", p->show ? p->show : "");
    free(r->status);
    r->status = p->status && p->status[0] ? strdup(p->status) : NULL;
    snprintf(r->lang, sizeof r->lang, "%s", p->lang ? p->lang : "");
    r->priority = p->priority;
    if (s->active)
        s_in_notify_presence(s);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Subscriptions to SIP presentities (out)                             */

static void s_out_start(sip_stack_t *self, s_out_t *o);

static void
s_out_tuples_clear(s_out_t *o)
{
    for (size_t i = 0; i < o->n_tuples; i++)
        free(o->tuples[i]);
    o->n_tuples = 0;
}

static void
s_out_drop_handle(s_out_t *o)
{
    if (o->nh) {
        nua_handle_bind(o->nh, NULL);
        nua_handle_destroy(o->nh);
        o->nh = NULL;
    }
}

static void
s_out_free(sip_stack_t *self, s_out_t *o, bool forget)
{
    struct sip_subs *ss = self->subs;
    for (size_t i = ss->i_restore; i < ss->n_restore; i++)
        if (ss->restore[i] == o)
            ss->restore[i] = NULL;
    if (forget && self->subs->store)
        sip_store_delete(self->subs->store, o->watcher, o->presentity);
    xgw_strmap_remove(self->subs->out, o->key);
    s_out_drop_handle(o);
    if (o->retry)
        su_timer_destroy(o->retry);
    if (o->timer_n)
        su_timer_destroy(o->timer_n);
    void *c1 = o->sub_cookie, *c2 = o->unsub_cookie;
    s_out_tuples_clear(o);
    free(o->key);
    free(o->watcher);
    free(o->presentity);
    free(o);
    s_gauges(self);
    /* Requests still waiting are answered last: the hook may call back. */
    if (c1)
        self->hooks.subscribe_done(self->hooks.ud, c1, 481, "Subscription Gone");
    if (c2)
        self->hooks.subscribe_done(self->hooks.ud, c2, 200, "OK");
}

typedef struct {
    su_timer_t *t;
    s_out_t *found;
} s_find_timer_t;

static void
s_find_timer_cb(void *ud, const char *key, void *value)
{
    (void)key;
    s_find_timer_t *f = ud;
    s_out_t *o = value;
    if (o->retry == f->t)
        f->found = o;
}

static void
s_out_timer_fired(sip_stack_t *self, su_timer_t *t, sip_stack_t *arg)
{
    (void)arg;
    s_find_timer_t f = {t, NULL};
    xgw_strmap_each(self->subs->out, s_find_timer_cb, &f);
    if (!f.found)
        return;
    su_timer_destroy(f.found->retry);
    f.found->retry = NULL;
    if (f.found->unsubscribing)
        s_out_free(self, f.found, true); /* no final NOTIFY came */
    else
        s_out_start(self, f.found);
}

/* A new subscription (new dialog) after the back-off (SUB-04). */
static void
s_out_retry_later(sip_stack_t *self, s_out_t *o, int retry_after_s)
{
    s_out_drop_handle(o);
    s_out_tuples_clear(o);
    o->approved = false;
    o->notified = false;
    if (o->timer_n)
        su_timer_reset(o->timer_n);
    o->backoff_s = o->backoff_s ? o->backoff_s * 2 : 2;
    if (o->backoff_s > S_BACKOFF_MAX_S)
        o->backoff_s = S_BACKOFF_MAX_S;
    int delay = retry_after_s > o->backoff_s ? retry_after_s : o->backoff_s;
    if (!o->retry)
        o->retry = su_timer_create(su_root_task(self->root), (su_duration_t)delay * 1000);
    if (o->retry)
        su_timer_set_interval(o->retry, s_out_timer_fired, self, (su_duration_t)delay * 1000);
    xgw_info("sip_subscription_retry", "in_s=%d", delay);
    s_gauges(self);
}

/* Records (or renews) the subscription in the store. The record outlives
 * the SIP expiry on purpose: the XMPP subscription behind it is permanent
 * (a roster entry), so a sipd that was down for a while subscribes again;
 * only a record not renewed for S_RECORD_TTL_S is dropped at start. */
static void
s_out_record(sip_stack_t *self, s_out_t *o)
{
    if (self->subs->store)
        sip_store_put(self->subs->store, o->watcher, o->presentity, s_unix_now() + S_RECORD_TTL_S);
}

static void
s_out_start(sip_stack_t *self, s_out_t *o)
{
    char *to = s_name_addr(o->presentity);
    char *from = s_name_addr(o->watcher);
    char expires[16];
    snprintf(expires, sizeof expires, "%u", self->subscribe_expires_s);
    if (to && from)
        o->nh = nua_handle(self->nua, &o->h, SIPTAG_TO_STR(to), SIPTAG_FROM_STR(from), TAG_END());
    if (o->nh) {
        nua_subscribe(o->nh, TAG_IF(self->route, SIPTAG_ROUTE_STR(self->route)),
                      SIPTAG_EVENT_STR("presence"), SIPTAG_ACCEPT_STR(XGW_PIDF_CONTENT_TYPE),
                      SIPTAG_EXPIRES_STR(expires), TAG_END());
        sip_count(self, "out", "SUBSCRIBE", 0);
    }
    free(to);
    free(from);
    s_out_record(self, o);
}

static s_out_t *
s_out_new(sip_stack_t *self, const char *watcher, const char *presentity)
{
    s_out_t *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->h.kind = SIP_H_SUB_OUT;
    o->stack = self;
    o->key = s_key(watcher, presentity);
    o->watcher = strdup(watcher);
    o->presentity = strdup(presentity);
    if (!o->key || !o->watcher || !o->presentity ||
        xgw_strmap_put(self->subs->out, o->key, o) != 0) {
        free(o->key);
        free(o->watcher);
        free(o->presentity);
        free(o);
        return NULL;
    }
    return o;
}

int
sip_subs_subscribe(sip_stack_t *self, const char *watcher, const char *presentity, void *cookie)
{
    char uri[XGW_SIP_URI_MAX + 1];
    if (xgw_addr_jid_to_sip(watcher, XGW_ADDR_SCHEME_SIP, XGW_ADDR_BARE, uri, sizeof uri, NULL) !=
            0 ||
        xgw_addr_jid_to_sip(presentity, XGW_ADDR_SCHEME_SIP, XGW_ADDR_BARE, uri, sizeof uri,
                            NULL) != 0)
        return XGW_EINVAL;
    char *key = s_key(watcher, presentity);
    if (!key)
        return XGW_ENOMEM;
    s_out_t *o = xgw_strmap_get(self->subs->out, key);
    free(key);
    if (o) {
        if (o->sub_cookie || o->unsubscribing)
            return XGW_EAGAIN;
        /* SUB-14: one dialog per pair; a repeated subscribe is answered
         * as the existing subscription stands. */
        self->hooks.subscribe_done(self->hooks.ud, cookie, 200, "OK");
        return 0;
    }
    o = s_out_new(self, watcher, presentity);
    if (!o)
        return XGW_ENOMEM;
    o->sub_cookie = cookie;
    s_out_start(self, o);
    if (!o->nh) {
        o->sub_cookie = NULL;
        s_out_free(self, o, true);
        return XGW_ENOMEM;
    }
    s_gauges(self);
    return 0;
}

int
sip_subs_unsubscribe(sip_stack_t *self, const char *watcher, const char *presentity, void *cookie)
{
    char *key = s_key(watcher, presentity);
    s_out_t *o = key ? xgw_strmap_get(self->subs->out, key) : NULL;
    free(key);
    if (o && o->unsubscribing)
        return XGW_EAGAIN;
    /* SUB-07: the XMPP user is told unsubscribed (RFC 6121 3.3.3). */
    self->hooks.presentity_op(self->hooks.ud, presentity, watcher, SIP_SUB_UNSUBSCRIBED);
    if (!o) {
        if (cookie)
            self->hooks.subscribe_done(self->hooks.ud, cookie, 200, "OK");
        return 0;
    }
    if (self->subs->store)
        sip_store_delete(self->subs->store, o->watcher, o->presentity);
    if (!o->nh || !o->established) {
        /* Waiting for a retry or for the first answer: nothing to end on
         * the SIP side yet. */
        o->unsub_cookie = cookie;
        s_out_free(self, o, true);
        return 0;
    }
    o->unsubscribing = true;
    o->unsub_cookie = cookie;
    nua_unsubscribe(o->nh, SIPTAG_EVENT_STR("presence"), TAG_END());
    sip_count(self, "out", "SUBSCRIBE", 0);
    return 0;
}

static void
s_out_report_op(sip_stack_t *self, s_out_t *o, sip_sub_op_t op)
{
    self->hooks.presentity_op(self->hooks.ud, o->presentity, o->watcher, op);
}

/* Presence for one tuple. */
static void
s_out_presence(sip_stack_t *self, s_out_t *o, const char *resource, bool available,
               const xgw_pidf_tuple_t *t)
{
    char from[XGW_JID_MAX + 1];
    snprintf(from, sizeof from, "%s%s%s", o->presentity, resource ? "/" : "",
             resource ? resource : "");
    sip_presence_t p = {
        .from = from,
        .to = o->watcher,
        .available = available,
        .show = t ? xgw_pidf_show_name(t->show) : NULL,
        .status = t ? t->note : NULL,
        .lang = t ? t->note_lang : NULL,
        .priority = t && t->has_priority ? t->priority : 0,
    };
    if (!p.show)
        p.show = "";
    self->hooks.presentity_presence(self->hooks.ud, &p);
}

/* A NOTIFY body: full state (PRS-07). Returns 0 or XGW_EINVAL. */
static int
s_out_apply_pidf(sip_stack_t *self, s_out_t *o, const sip_t *sip)
{
    const sip_payload_t *pl = sip ? sip->sip_payload : NULL;
    if (!pl || pl->pl_len == 0)
        return 0; /* no body: nothing changes */
    const sip_content_type_t *ct = sip->sip_content_type;
    if (!ct || !ct->c_type || strcasecmp(ct->c_type, XGW_PIDF_CONTENT_TYPE) != 0)
        return XGW_EINVAL;
    xgw_pidf_t doc;
    xgw_arena_reset(self->subs->arena);
    if (xgw_pidf_parse(pl->pl_data, pl->pl_len, self->subs->arena, &doc) != 0) {
        xgw_series_inc(self->subs->m_pidf_errors);
        xgw_series_inc(self->m_parse_errors);
        return XGW_EINVAL;
    }
    char *now[S_RES_MAX];
    size_t n_now = 0;
    for (size_t i = 0; i < doc.n_tuples; i++) {
        const xgw_pidf_tuple_t *t = &doc.tuples[i];
        if (t->basic == XGW_PIDF_BASIC_UNKNOWN)
            continue;
        bool open = t->basic == XGW_PIDF_BASIC_OPEN;
        s_out_presence(self, o, t->resource, open, t);
        if (open && n_now < S_RES_MAX)
            now[n_now++] = t->resource ? strdup(t->resource) : strdup("");
    }
    /* Resources that were available and are gone now: unavailable. */
    for (size_t i = 0; i < o->n_tuples; i++) {
        bool still = false;
        for (size_t k = 0; k < n_now && !still; k++)
            still = now[k] && strcmp(now[k], o->tuples[i]) == 0;
        if (!still) {
            bool listed_closed = false;
            for (size_t k = 0; k < doc.n_tuples && !listed_closed; k++) {
                const char *r = doc.tuples[k].resource ? doc.tuples[k].resource : "";
                listed_closed = strcmp(r, o->tuples[i]) == 0;
            }
            if (!listed_closed)
                s_out_presence(self, o, o->tuples[i][0] ? o->tuples[i] : NULL, false, NULL);
        }
    }
    s_out_tuples_clear(o);
    for (size_t k = 0; k < n_now; k++)
        if (now[k])
            o->tuples[o->n_tuples++] = now[k];
    return 0;
}

static bool
s_reason_is(const sip_t *sip, const char *reason)
{
    const sip_subscription_state_t *ss = sip ? sip->sip_subscription_state : NULL;
    return ss && ss->ss_reason && strcasecmp(ss->ss_reason, reason) == 0;
}

static int
s_retry_after(const sip_t *sip)
{
    const sip_subscription_state_t *ss = sip ? sip->sip_subscription_state : NULL;
    if (!ss || !ss->ss_retry_after)
        return 0;
    long v = strtol(ss->ss_retry_after, NULL, 10);
    return v > 0 && v < 86400 ? (int)v : 0;
}

/* Timer N expired (SUB-05): the 2xx came but no NOTIFY; the subscription
 * failed, a new one is tried after the back-off. The argument is the
 * subscription (converted like s_in_notify_due's). */
static void
s_out_timer_n(sip_stack_t *self, su_timer_t *t, sip_stack_t *arg)
{
    (void)t;
    s_out_t *o = (s_out_t *)(void *)arg;
    if (o->notified || o->unsubscribing)
        return;
    xgw_info("sip_subscription_no_notify", "after_ms=%d", S_TIMER_N_MS);
    s_out_retry_later(self, o, 0);
}

static void
s_out_event(sip_stack_t *self, nua_event_t event, int status, const char *phrase, nua_handle_t *nh,
            s_out_t *o, const sip_t *sip, tagi_t tags[])
{
    int substate = -1;
    tl_gets(tags, NUTAG_SUBSTATE_REF(substate), TAG_END());
    if (event == nua_r_subscribe) {
        if (status < 200)
            return;
        sip_count(self, "out", "SUBSCRIBE", status);
        void *cookie = o->sub_cookie;
        o->sub_cookie = NULL;
        if (status < 300) {
            o->established = true;
            o->backoff_s = 0;
            s_out_record(self, o); /* also on each refresh NUA makes */
            if (!o->notified) {
                if (!o->timer_n)
                    o->timer_n = su_timer_create(su_root_task(self->root), S_TIMER_N_MS);
                if (o->timer_n)
                    su_timer_set(o->timer_n, s_out_timer_n, (sip_stack_t *)(void *)o);
            }
            if (cookie)
                self->hooks.subscribe_done(self->hooks.ud, cookie, status, phrase);
            return;
        }
        if (cookie)
            self->hooks.subscribe_done(self->hooks.ud, cookie, status, phrase);
        if (status == 403 || status == 489 || status == 603 || (!o->established && !o->restored)) {
            /* SUB-03: a permanent refusal; or a subscription that never
             * started (the caller was told). */
            xgw_info("sip_subscription_refused", "status=%d", status);
            if (o->established || status == 403 || status == 489 || status == 603)
                s_out_report_op(self, o, SIP_SUB_UNSUBSCRIBED);
            s_out_free(self, o, true);
            return;
        }
        s_out_retry_later(self, o, 0);
        return;
    }
    if (event == nua_r_unsubscribe) {
        if (status < 200)
            return;
        sip_count(self, "out", "SUBSCRIBE", status);
        void *cookie = o->unsub_cookie;
        o->unsub_cookie = NULL;
        if (cookie)
            self->hooks.subscribe_done(self->hooks.ud, cookie, 200, "OK");
        /* Keep the handle until the final NOTIFY (or 5 s): destroying it
         * now would make NUA end the usage with a second un-SUBSCRIBE. */
        if (status >= 300) {
            s_out_free(self, o, true);
            return;
        }
        if (!o->retry)
            o->retry = su_timer_create(su_root_task(self->root), 5000);
        if (o->retry)
            su_timer_set(o->retry, s_out_timer_fired, self);
        else
            s_out_free(self, o, true);
        return;
    }
    if (event == nua_i_notify) {
        sip_count(self, "in", "NOTIFY", 200);
        o->notified = true;
        if (o->timer_n)
            su_timer_reset(o->timer_n);
        if (o->unsubscribing) {
            if (substate == nua_substate_terminated)
                s_out_free(self, o, true);
            return;
        }
        if (substate == nua_substate_terminated) {
            if (s_reason_is(sip, "rejected") || s_reason_is(sip, "noresource")) {
                s_out_report_op(self, o, SIP_SUB_UNSUBSCRIBED);
                s_out_free(self, o, true);
            } else {
                s_out_retry_later(self, o, s_retry_after(sip));
            }
            return;
        }
        if (substate == nua_substate_active && !o->approved) {
            o->approved = true;
            s_out_report_op(self, o, SIP_SUB_SUBSCRIBED);
            s_gauges(self);
        }
        if (o->approved)
            (void)s_out_apply_pidf(self, o, sip);
        return;
    }
    (void)nh;
}

/* ------------------------------------------------------------------ */
/* Fetches for XMPP probes (PRS-11, PRS-12)                            */

#define S_FETCH_TIMEOUT_MS 35000 /* Timer N (32 s) and a little */

typedef struct s_fetch {
    sip_hctx_t h; /* SIP_H_FETCH */
    sip_stack_t *stack;
    nua_handle_t *nh;
    char *watcher, *presentity;
    su_timer_t *timer;
    struct s_fetch *next; /* the stack's list, for shutdown */
} s_fetch_t;

static void
s_fetch_free(s_fetch_t *f)
{
    for (s_fetch_t **pp = &f->stack->subs->fetches; *pp; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    }
    if (f->nh) {
        nua_handle_bind(f->nh, NULL);
        nua_handle_destroy(f->nh);
    }
    if (f->timer)
        su_timer_destroy(f->timer);
    free(f->watcher);
    free(f->presentity);
    free(f);
}

static void
s_fetch_timeout(sip_stack_t *self, su_timer_t *t, sip_stack_t *arg)
{
    (void)arg;
    for (s_fetch_t *f = self->subs->fetches; f; f = f->next) {
        if (f->timer == t) {
            xgw_info("sip_fetch_timeout", NULL);
            s_fetch_free(f);
            return;
        }
    }
}

int
sip_subs_fetch(sip_stack_t *self, const char *watcher, const char *presentity)
{
    char *to = s_name_addr(presentity);
    char *from = s_name_addr(watcher);
    s_fetch_t *f = calloc(1, sizeof *f);
    int rc = XGW_ENOMEM;
    if (!to || !from) {
        rc = XGW_EINVAL;
        goto done;
    }
    if (!f)
        goto done;
    f->h.kind = SIP_H_FETCH;
    f->stack = self;
    f->watcher = strdup(watcher);
    f->presentity = strdup(presentity);
    f->timer = su_timer_create(su_root_task(self->root), S_FETCH_TIMEOUT_MS);
    if (!f->watcher || !f->presentity || !f->timer)
        goto done;
    f->nh = nua_handle(self->nua, &f->h, SIPTAG_TO_STR(to), SIPTAG_FROM_STR(from), TAG_END());
    if (!f->nh)
        goto done;
    nua_subscribe(f->nh, TAG_IF(self->route, SIPTAG_ROUTE_STR(self->route)),
                  SIPTAG_EVENT_STR("presence"), SIPTAG_ACCEPT_STR(XGW_PIDF_CONTENT_TYPE),
                  SIPTAG_EXPIRES_STR("0"), TAG_END());
    sip_count(self, "out", "SUBSCRIBE", 0);
    su_timer_set(f->timer, s_fetch_timeout, self);
    f->next = self->subs->fetches;
    self->subs->fetches = f;
    f = NULL;
    rc = 0;
done:
    if (f)
        s_fetch_free(f);
    free(to);
    free(from);
    return rc;
}

/* The fetch's NOTIFY: presence for the prober - available from each open
 * tuple's full JID, or unavailable from the bare JID when nothing is open
 * or the body is empty (PRS-11). */
static void
s_fetch_notify(sip_stack_t *self, s_fetch_t *f, const sip_t *sip)
{
    const sip_payload_t *pl = sip ? sip->sip_payload : NULL;
    xgw_pidf_t doc;
    memset(&doc, 0, sizeof doc);
    bool parsed = false;
    if (pl && pl->pl_len > 0) {
        const sip_content_type_t *ct = sip->sip_content_type;
        xgw_arena_reset(self->subs->arena);
        if (ct && ct->c_type && strcasecmp(ct->c_type, XGW_PIDF_CONTENT_TYPE) == 0 &&
            xgw_pidf_parse(pl->pl_data, pl->pl_len, self->subs->arena, &doc) == 0) {
            parsed = true;
        } else {
            /* A body we cannot read tells nothing: no presence at all. */
            xgw_series_inc(self->subs->m_pidf_errors);
            xgw_series_inc(self->m_parse_errors);
            return;
        }
    }
    size_t open = 0;
    char from[XGW_JID_MAX + 1];
    for (size_t i = 0; parsed && i < doc.n_tuples; i++) {
        const xgw_pidf_tuple_t *t = &doc.tuples[i];
        if (t->basic != XGW_PIDF_BASIC_OPEN)
            continue;
        open++;
        snprintf(from, sizeof from, "%s%s%s", f->presentity, t->resource ? "/" : "",
                 t->resource ? t->resource : "");
        sip_presence_t p = {
            .from = from,
            .to = f->watcher,
            .available = true,
            .show = xgw_pidf_show_name(t->show) ? xgw_pidf_show_name(t->show) : "",
            .status = t->note,
            .lang = t->note_lang,
            .priority = t->has_priority ? t->priority : 0,
        };
        self->hooks.presentity_presence(self->hooks.ud, &p);
    }
    if (open == 0) {
        sip_presence_t p = {
            .from = f->presentity, .to = f->watcher, .available = false, .show = ""};
        self->hooks.presentity_presence(self->hooks.ud, &p);
    }
}

static bool
s_fetch_event(sip_stack_t *self, nua_event_t event, int status, s_fetch_t *f, const sip_t *sip)
{
    if (event == nua_r_subscribe) {
        if (status < 200)
            return true;
        sip_count(self, "out", "SUBSCRIBE", status);
        if (status >= 300) {
            /* PRS-12: never presence without the SIP side's consent; a
             * refusal becomes unsubscribed, a missing user nothing
             * (ERR-08). */
            if (status == 403 || status == 603)
                self->hooks.presentity_op(self->hooks.ud, f->presentity, f->watcher,
                                          SIP_SUB_UNSUBSCRIBED);
            s_fetch_free(f);
        }
        return true;
    }
    if (event == nua_i_notify) {
        sip_count(self, "in", "NOTIFY", 200);
        s_fetch_notify(self, f, sip);
        s_fetch_free(f);
        return true;
    }
    return false;
}

static void
s_fetch_fini(struct sip_subs *ss)
{
    while (ss->fetches)
        s_fetch_free(ss->fetches);
}

/* ------------------------------------------------------------------ */
/* Dispatch and lifetime                                               */

bool
sip_subs_event(sip_stack_t *self, nua_event_t event, int status, const char *phrase,
               nua_handle_t *nh, sip_hctx_t *hctx, const sip_t *sip, tagi_t tags[])
{
    if (event == nua_i_subscribe && !hctx) {
        s_in_initial(self, nh, sip);
        return true;
    }
    if (event == nua_r_notify && !hctx) {
        /* The NOTIFY that ended a poll (PRS-13): its handle goes now. */
        if (status >= 200)
            nua_handle_destroy(nh);
        return true;
    }
    if (event == nua_i_notify && !hctx) {
        /* No subscription of ours on this handle. */
        sip_respond_now(self, nh, 481, NULL, 0, TAG_END());
        sip_count(self, "in", "NOTIFY", 481);
        nua_handle_destroy(nh);
        return true;
    }
    if (!hctx)
        return false;
    if (hctx->kind == SIP_H_SUB_IN) {
        if (event == nua_i_subscribe || event == nua_r_notify) {
            s_in_event(self, event, status, nh, (s_in_t *)hctx, sip, tags);
            return true;
        }
        return false;
    }
    if (hctx->kind == SIP_H_FETCH)
        return s_fetch_event(self, event, status, (s_fetch_t *)hctx, sip);
    if (hctx->kind == SIP_H_SUB_OUT) {
        if (event == nua_r_subscribe || event == nua_r_unsubscribe || event == nua_i_notify) {
            s_out_event(self, event, status, phrase, nh, (s_out_t *)hctx, sip, tags);
            return true;
        }
    }
    return false;
}

static void
s_load_cb(void *ud, const char *watcher, const char *presentity, int64_t expires_at)
{
    sip_stack_t *self = ud;
    struct sip_subs *ss = self->subs;
    (void)expires_at;
    s_out_t **grown = realloc(ss->restore, (ss->n_restore + 1) * sizeof *grown);
    if (!grown)
        return;
    ss->restore = grown;
    s_out_t *o = s_out_new(self, watcher, presentity);
    if (!o)
        return;
    o->restored = true;
    ss->restore[ss->n_restore++] = o;
}

static void
s_restore_tick(sip_stack_t *self, su_timer_t *t, sip_stack_t *arg)
{
    (void)t;
    (void)arg;
    struct sip_subs *ss = self->subs;
    for (int k = 0; k < S_RESTORE_BATCH && ss->i_restore < ss->n_restore; ss->i_restore++) {
        s_out_t *o = ss->restore[ss->i_restore];
        if (!o || o->nh || o->sub_cookie)
            continue; /* gone, or the XMPP side asked again meanwhile */
        s_out_start(self, o);
        k++;
    }
    if (ss->i_restore == ss->n_restore) {
        su_timer_destroy(ss->restore_timer);
        ss->restore_timer = NULL;
        free(ss->restore);
        ss->restore = NULL;
        ss->n_restore = ss->i_restore = 0;
        xgw_info("sip_subscriptions_resumed", NULL);
    }
}

void
sip_stack_restore(sip_stack_t *self)
{
    struct sip_subs *ss = self->subs;
    if (!ss || ss->restore_timer || ss->n_restore == 0)
        return;
    ss->restore_timer = su_timer_create(su_root_task(self->root), S_RESTORE_TICK_MS);
    if (ss->restore_timer)
        su_timer_run(ss->restore_timer, s_restore_tick, self);
}

int
sip_subs_init(sip_stack_t *self)
{
    struct sip_subs *ss = calloc(1, sizeof *ss);
    if (!ss)
        return XGW_ENOMEM;
    self->subs = ss;
    ss->in = xgw_strmap_new();
    ss->out = xgw_strmap_new();
    ss->arena = xgw_arena_new(16384);
    if (!ss->in || !ss->out || !ss->arena)
        return XGW_ENOMEM;
    xgw_family_t *f = xgw_metrics_gauge(
        "xgw_sip_subscriptions",
        "Presence subscriptions sipd holds: side watcher (a SIP user subscribed to an XMPP "
        "contact) or presentity (sipd subscribed to a SIP user for an XMPP watcher), by state.",
        "side,state");
    ss->m_in_pending = xgw_family_series(f, "watcher", "pending");
    ss->m_in_active = xgw_family_series(f, "watcher", "active");
    ss->m_out_pending = xgw_family_series(f, "presentity", "pending");
    ss->m_out_active = xgw_family_series(f, "presentity", "active");
    ss->m_pidf_errors = xgw_family_series(xgw_metrics_counter(
        "xgw_sip_pidf_errors_total", "NOTIFY bodies refused as malformed PIDF.", NULL));
    if (self->store_path && self->store_path[0]) {
        ss->store = sip_store_open(self->store_path);
        if (!ss->store)
            return XGW_EIO;
        int n = sip_store_load(ss->store, s_unix_now(), s_load_cb, self);
        xgw_info("sip_subscriptions_restored", "count=%d path=\"%s\"", n, self->store_path);
    }
    s_gauges(self);
    return 0;
}

static void
s_collect(void *ud, const char *key, void *value)
{
    (void)key;
    void **list = ud;
    size_t *n = (size_t *)list[0];
    void **items = list[1];
    items[(*n)++] = value;
}

void
sip_subs_fini(sip_stack_t *self)
{
    struct sip_subs *ss = self->subs;
    if (!ss)
        return;
    s_fetch_fini(ss);
    /* Watchers' dialogs end with the process (their UAs re-subscribe);
     * the records of our subscriptions stay in the store. */
    size_t n_in = ss->in ? xgw_strmap_size(ss->in) : 0;
    size_t n_out = ss->out ? xgw_strmap_size(ss->out) : 0;
    size_t n = 0;
    void **items = calloc(n_in + n_out + 1, sizeof *items);
    if (items) {
        void *list[2] = {&n, items};
        if (ss->in)
            xgw_strmap_each(ss->in, s_collect, list);
        if (ss->out)
            xgw_strmap_each(ss->out, s_collect, list);
        for (size_t i = 0; i < n; i++) {
            sip_hctx_t *h = items[i];
            if (h->kind == SIP_H_SUB_IN)
                s_in_free(self, (s_in_t *)h);
            else
                s_out_free(self, (s_out_t *)h, false);
        }
        free(items);
    }
    if (ss->restore_timer)
        su_timer_destroy(ss->restore_timer);
    free(ss->restore);
    ss->restore = NULL;
    ss->n_restore = ss->i_restore = 0;
    xgw_strmap_destroy(&ss->in);
    xgw_strmap_destroy(&ss->out);
    xgw_arena_destroy(&ss->arena);
    sip_store_close(&ss->store);
    free(ss);
    self->subs = NULL;
}

typedef struct {
    void (*fn)(void *ud, int side, const char *sip_user, const char *xmpp);
    void *ud;
} s_each_t;

static void
s_each_cb(void *ud, const char *key, void *value)
{
    (void)key;
    s_each_t *e = ud;
    const sip_hctx_t *h = value;
    if (h->kind == SIP_H_SUB_IN) {
        const s_in_t *s = value;
        if (!s->ending)
            e->fn(e->ud, 0, s->watcher, s->contact);
    } else {
        const s_out_t *o = value;
        if (!o->unsubscribing)
            e->fn(e->ud, 1, o->presentity, o->watcher);
    }
}

void
sip_subs_each(sip_stack_t *self,
              void (*fn)(void *ud, int side, const char *sip_user, const char *xmpp), void *ud)
{
    if (!self->subs)
        return;
    s_each_t e = {fn, ud};
    xgw_strmap_each(self->subs->in, s_each_cb, &e);
    xgw_strmap_each(self->subs->out, s_each_cb, &e);
}

size_t
sip_subs_count_in(const sip_stack_t *self)
{
    return self->subs && self->subs->in ? xgw_strmap_size(self->subs->in) : 0;
}

size_t
sip_subs_count_out(const sip_stack_t *self)
{
    return self->subs && self->subs->out ? xgw_strmap_size(self->subs->out) : 0;
}
