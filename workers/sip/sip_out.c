/*
 * sip_out.c - outgoing MESSAGE (XMPP to SIP, RFC 7572 section 4): one NUA
 * handle per request, so every MESSAGE has a new From tag, CSeq and branch;
 * no Contact (NUA adds one to MESSAGE only in "win messenger" mode, which
 * is off); Max-Forwards from the stanza's hop budget or 70 (nta's default).
 * The request goes to the outbound proxy when one is configured (NUTAG_PROXY
 * at stack creation), with the SIP user's URI as Request-URI and To.
 */
#include "sip_int.h"

#include "xgw_addr.h"
#include "xgw_error.h"
#include "xgw_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sip_out {
    sip_hctx_t h; /* first: NUA's hmagic points here */
    sip_stack_t *stack;
    nua_handle_t *nh;
    void *cookie;
    struct sip_out *prev, *next;
} s_out_t;

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

int
sip_out_message(sip_stack_t *self, const sip_im_t *im, void *cookie)
{
    /* name-addr form: angle brackets keep ;gr= a URI parameter (ADR-04,
     * checklist 13.6); without them it would be a header parameter. */
    char *to = malloc(XGW_SIP_URI_MAX + 3);
    char *from = malloc(XGW_SIP_URI_MAX + 3);
    char *body = NULL;
    s_out_t *o = NULL;
    int rc = XGW_ENOMEM;
    xgw_addr_why_t why = XGW_ADDR_OK;
    if (!to || !from)
        goto done;
    rc = XGW_EINVAL;
    if (s_name_addr(im->to, to, &why) != 0) {
        xgw_info("sip_out_refused", "what=to why=%s", xgw_addr_why_name(why));
        goto done;
    }
    if (s_name_addr(im->from, from, &why) != 0) {
        xgw_info("sip_out_refused", "what=from why=%s", xgw_addr_why_name(why));
        goto done;
    }
    rc = XGW_ENOMEM;
    body = malloc(im->body_len + 1);
    o = calloc(1, sizeof *o);
    if (!body || !o)
        goto done;
    memcpy(body, im->body, im->body_len);
    body[im->body_len] = '\0';
    char callid[160] = "", mf[16] = "";
    if (im->thread && im->thread[0])
        s_thread_callid(im->thread, callid, sizeof callid);
    if (im->max_forwards >= 0 && im->max_forwards < 70)
        snprintf(mf, sizeof mf, "%d", im->max_forwards);
    o->h.kind = SIP_H_OUT_MESSAGE;
    o->stack = self;
    o->cookie = cookie;
    o->nh = nua_handle(self->nua, &o->h, SIPTAG_TO_STR(to), SIPTAG_FROM_STR(from),
                       TAG_IF(callid[0], SIPTAG_CALL_ID_STR(callid)), TAG_END());
    if (!o->nh)
        goto done;
    nua_message(o->nh, TAG_IF(self->route, SIPTAG_ROUTE_STR(self->route)),
                SIPTAG_CONTENT_TYPE_STR("text/plain;charset=UTF-8"), SIPTAG_PAYLOAD_STR(body),
                TAG_IF(im->subject && im->subject[0], SIPTAG_SUBJECT_STR(im->subject)),
                TAG_IF(im->lang && im->lang[0], SIPTAG_CONTENT_LANGUAGE_STR(im->lang)),
                TAG_IF(mf[0], SIPTAG_MAX_FORWARDS_STR(mf)), TAG_END());
    s_link(self, o);
    self->out_in_flight++;
    sip_count(self, "out", "MESSAGE", 0);
    o = NULL;
    rc = 0;
done:
    free(o);
    free(body);
    free(to);
    free(from);
    return rc;
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
    nua_handle_bind(nh, NULL);
    nua_handle_destroy(nh);
    free(o);
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
        free(o);
        self->hooks.message_out_done(self->hooks.ud, cookie, 503, "Shutting Down");
    }
}
