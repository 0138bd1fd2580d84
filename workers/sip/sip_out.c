/*
 * sip_out.c - outgoing MESSAGE (XMPP to SIP, RFC 7572 section 4): one NUA
 * handle per request, so every MESSAGE has a new From tag, CSeq and branch;
 * no Contact (NUA adds one to MESSAGE only in "win messenger" mode, which
 * is off); Max-Forwards from the stanza's hop budget or 70 (nta's default).
 * Outside a dialog, the outbound proxy is a pre-loaded Route; the SIP
 * user's URI is the Request-URI and To. A MESSAGE over the UDP MTU goes
 * over TCP (nta's NTATAG_UDP_MTU rule, IM-08).
 *
 * IM-10 (RFC 3428 section 8): no new MESSAGE to a URI while an earlier one
 * to it is pending. Each destination (the To URI) has a FIFO; the next
 * request leaves when the previous one has its final response. A FIFO
 * holds at most S_DEST_QUEUE_MAX requests (ROB-07): beyond that
 * sip_out_message says XGW_EAGAIN and the caller refuses the request.
 */
#include "sip_int.h"

#include "xgw_addr.h"
#include "xgw_error.h"
#include "xgw_log.h"
#include "xgw_strmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_DEST_QUEUE_MAX 100

struct s_dest;

typedef struct sip_out {
    sip_hctx_t h; /* first: NUA's hmagic points here */
    sip_stack_t *stack;
    nua_handle_t *nh; /* NULL while queued */
    void *cookie;
    struct sip_out *prev, *next; /* every MESSAGE without a final response */
    struct sip_out *qnext;       /* the destination's FIFO */
    struct s_dest *dest;
    /* The request, kept until it leaves. */
    char *to, *from, *body, *subject, *lang;
    char callid[160];
    char mf[16];
} s_out_t;

/* One destination: the MESSAGE in flight and those waiting behind it. */
typedef struct s_dest {
    char *key; /* the To URI */
    s_out_t *busy;
    s_out_t *head, *tail;
    size_t n;
} s_dest_t;

static void
s_link(sip_stack_t *self, s_out_t *o)
{
    o->next = self->outs;
    if (self->outs)
        self->outs->prev = o;
    self->outs = o;
}

static void
s_unlink(sip_stack_t *self, s_out_t *o)
{
    if (o->prev)
        o->prev->next = o->next;
    else
        self->outs = o->next;
    if (o->next)
        o->next->prev = o->prev;
}

static void
s_out_free(s_out_t *o)
{
    free(o->to);
    free(o->from);
    free(o->body);
    free(o->subject);
    free(o->lang);
    free(o);
}

/* RFC 3261 "word" characters, conservatively: a <thread/> made only of
 * these (and at most one '@' between two non-empty words) can be the
 * Call-ID as it is (IM-03); anything else is hashed (IM-06). */
static bool
s_callid_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return false;
    int ats = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '@') {
            if (++ats > 1 || i == 0 || i == n - 1)
                return false;
            continue;
        }
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            continue;
        if (!strchr("-.!%*_+`'~()<>:\\\"/[]?{}", c))
            return false;
    }
    return true;
}

/* The Call-ID for a <thread/>: itself when it fits the grammar, else a
 * stable hash of it, so one thread keeps one Call-ID. */
static void
s_thread_callid(const char *thread, char *out, size_t len)
{
    if (s_callid_ok(thread)) {
        snprintf(out, len, "%s", thread);
        return;
    }
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a 64 */
    for (const unsigned char *p = (const unsigned char *)thread; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    snprintf(out, len, "xgw-thread-%016llx", (unsigned long long)h);
}

/* "<sip:...>" for a JID into out (XGW_SIP_URI_MAX + 3 bytes). */
static int
s_name_addr(const char *jid, char *out, xgw_addr_why_t *why)
{
    out[0] = '<';
    int rc = xgw_addr_jid_to_sip(jid, XGW_ADDR_SCHEME_SIP, 0, out + 1, XGW_SIP_URI_MAX + 1, why);
    if (rc != 0)
        return rc;
    size_t n = strlen(out);
    out[n] = '>';
    out[n + 1] = '\0';
    return 0;
}

/* Sends o now (its destination is idle). */
static int
s_send(sip_stack_t *self, s_out_t *o)
{
    o->nh = nua_handle(self->nua, &o->h, SIPTAG_TO_STR(o->to), SIPTAG_FROM_STR(o->from),
                       TAG_IF(o->callid[0], SIPTAG_CALL_ID_STR(o->callid)), TAG_END());
    if (!o->nh)
        return XGW_ENOMEM;
    nua_message(o->nh, TAG_IF(self->route, SIPTAG_ROUTE_STR(self->route)),
                SIPTAG_CONTENT_TYPE_STR("text/plain;charset=UTF-8"), SIPTAG_PAYLOAD_STR(o->body),
                TAG_IF(o->subject, SIPTAG_SUBJECT_STR(o->subject)),
                TAG_IF(o->lang, SIPTAG_CONTENT_LANGUAGE_STR(o->lang)),
                TAG_IF(o->mf[0], SIPTAG_MAX_FORWARDS_STR(o->mf)), TAG_END());
    o->dest->busy = o;
    sip_count(self, "out", "MESSAGE", 0);
    return 0;
}

static s_dest_t *
s_dest_get(sip_stack_t *self, const char *to)
{
    if (!self->out_dests) {
        self->out_dests = xgw_strmap_new();
        if (!self->out_dests)
            return NULL;
    }
    s_dest_t *d = xgw_strmap_get(self->out_dests, to);
    if (d)
        return d;
    d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->key = strdup(to);
    if (!d->key || xgw_strmap_put(self->out_dests, d->key, d) != 0) {
        free(d->key);
        free(d);
        return NULL;
    }
    return d;
}

static void
s_dest_release(sip_stack_t *self, s_dest_t *d)
{
    if (d->busy || d->head)
        return;
    xgw_strmap_remove(self->out_dests, d->key);
    free(d->key);
    free(d);
}

static char *
s_dup_or_null(const char *s)
{
    return s && s[0] ? strdup(s) : NULL;
}

int
sip_out_message(sip_stack_t *self, const sip_im_t *im, void *cookie)
{
    /* name-addr form: angle brackets keep ;gr= a URI parameter (ADR-04,
     * checklist 13.6); without them it would be a header parameter. */
    s_out_t *o = calloc(1, sizeof *o);
    if (!o)
        return XGW_ENOMEM;
    o->to = malloc(XGW_SIP_URI_MAX + 3);
    o->from = malloc(XGW_SIP_URI_MAX + 3);
    o->body = malloc(im->body_len + 1);
    xgw_addr_why_t why = XGW_ADDR_OK;
    int rc = XGW_ENOMEM;
    if (!o->to || !o->from || !o->body)
        goto fail;
    rc = XGW_EINVAL;
    if (s_name_addr(im->to, o->to, &why) != 0) {
        xgw_info("sip_out_refused", "what=to why=%s", xgw_addr_why_name(why));
        goto fail;
    }
    if (s_name_addr(im->from, o->from, &why) != 0) {
        xgw_info("sip_out_refused", "what=from why=%s", xgw_addr_why_name(why));
        goto fail;
    }
    memcpy(o->body, im->body, im->body_len);
    o->body[im->body_len] = '\0';
    o->subject = s_dup_or_null(im->subject);
    o->lang = s_dup_or_null(im->lang);
    if (im->thread && im->thread[0])
        s_thread_callid(im->thread, o->callid, sizeof o->callid);
    if (im->max_forwards >= 0 && im->max_forwards < 70)
        snprintf(o->mf, sizeof o->mf, "%d", im->max_forwards);
    o->h.kind = SIP_H_OUT_MESSAGE;
    o->stack = self;
    o->cookie = cookie;
    rc = XGW_ENOMEM;
    s_dest_t *d = s_dest_get(self, o->to);
    if (!d)
        goto fail;
    o->dest = d;
    if (d->busy) {
        if (d->n >= S_DEST_QUEUE_MAX) {
            xgw_info("sip_out_refused", "what=queue_full max=%d", S_DEST_QUEUE_MAX);
            rc = XGW_EAGAIN;
            goto fail;
        }
        if (d->tail)
            d->tail->qnext = o;
        else
            d->head = o;
        d->tail = o;
        d->n++;
    } else if (s_send(self, o) != 0) {
        s_dest_release(self, d);
        goto fail;
    }
    s_link(self, o);
    self->out_in_flight++;
    return 0;
fail:
    if (o->dest)
        s_dest_release(self, o->dest);
    s_out_free(o);
    return rc;
}

/* The destination's next MESSAGE leaves (IM-10); one that cannot be sent
 * is reported failed at once and the next one tried. */
static void
s_dest_next(sip_stack_t *self, s_dest_t *d)
{
    d->busy = NULL;
    while (d->head) {
        s_out_t *o = d->head;
        d->head = o->qnext;
        if (!d->head)
            d->tail = NULL;
        d->n--;
        o->qnext = NULL;
        if (s_send(self, o) == 0)
            return;
        s_unlink(self, o);
        self->out_in_flight--;
        void *cookie = o->cookie;
        s_out_free(o);
        self->hooks.message_out_done(self->hooks.ud, cookie, 500, "Internal Server Error");
    }
    s_dest_release(self, d);
}

void
sip_out_on_response(sip_stack_t *self, nua_handle_t *nh, sip_hctx_t *hctx, int status,
                    const char *phrase, const sip_t *sip)
{
    (void)sip;
    if (status < 200)
        return;
    s_out_t *o = (s_out_t *)hctx;
    s_unlink(self, o);
    self->out_in_flight--;
    sip_count(self, "out", "MESSAGE", status);
    void *cookie = o->cookie;
    s_dest_t *d = o->dest;
    nua_handle_bind(nh, NULL);
    nua_handle_destroy(nh);
    s_out_free(o);
    s_dest_next(self, d);
    self->hooks.message_out_done(self->hooks.ud, cookie, status, phrase);
}

void
sip_out_abort_all(sip_stack_t *self)
{
    while (self->outs) {
        s_out_t *o = self->outs;
        s_unlink(self, o);
        self->out_in_flight--;
        void *cookie = o->cookie;
        if (o->nh) {
            nua_handle_bind(o->nh, NULL);
            nua_handle_destroy(o->nh);
        }
        s_dest_t *d = o->dest;
        if (d) {
            /* Drop it from its destination without sending the next. */
            if (d->busy == o)
                d->busy = NULL;
            s_out_t **pp = &d->head;
            while (*pp && *pp != o)
                pp = &(*pp)->qnext;
            if (*pp) {
                *pp = o->qnext;
                d->n--;
                if (d->tail == o) {
                    d->tail = NULL;
                    for (s_out_t *q = d->head; q; q = q->qnext)
                        d->tail = q;
                }
            }
            s_dest_release(self, d);
        }
        s_out_free(o);
        self->hooks.message_out_done(self->hooks.ud, cookie, 503, "Shutting Down");
    }
    xgw_strmap_destroy(&self->out_dests);
}
