/*
 * sip_in.c - incoming MESSAGE: the SIP checks, then a held transaction for
 * the GWP half (sip_stack.h "message_in"), answered with sip_txn_answer.
 *
 * Order of the checks, each with the response it gives:
 *   draining / refusing                 503 + Retry-After
 *   source address not trusted          403 (the From is not believed)
 *   Max-Forwards: 0                     483 (ROB-10)
 *   sips: Request-URI or To             403 (ADR-08, xgw_addr's choice)
 *   Content-Type not text/plain         415 + Accept: text/plain (IM-09)
 *   charset other than UTF-8/US-ASCII   415 + Accept
 *   body larger than max_message_body   413
 *   empty body, invalid UTF-8, or a
 *   character XML 1.0 cannot carry      400 (IM-09: never reaches a stream)
 *   Request-URI / From not mappable     xgw_addr_why_sip_status (400/404/416)
 */
#include "sip_int.h"

#include "xgw_addr.h"
#include "xgw_log.h"
#include "xgw_xml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_RETRY_AFTER_S 5

static void
s_link(sip_stack_t *self, sip_txn_t *t)
{
    t->next = self->held;
    t->prev = NULL;
    if (self->held)
        self->held->prev = t;
    self->held = t;
    self->n_held++;
}

static void
s_unlink(sip_stack_t *self, sip_txn_t *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        self->held = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
    self->n_held--;
}

/* Answers at once and frees the handle nua made for the request. */
static void
s_refuse(sip_stack_t *self, nua_handle_t *nh, int status, const char *phrase, int retry_after_s)
{
    if (status == 415)
        sip_respond_now(self, nh, status, phrase, 0, SIPTAG_ACCEPT_STR("text/plain"), TAG_END());
    else
        sip_respond_now(self, nh, status, phrase, retry_after_s, TAG_END());
    if (status == 503)
        xgw_series_inc(self->m_backpressure);
    sip_count(self, "in", "MESSAGE", status);
    nua_handle_destroy(nh);
}

/* text/plain with no charset, or UTF-8 / US-ASCII. */
static int
s_content_type_status(const sip_content_type_t *ct)
{
    if (!ct || !ct->c_type || strcasecmp(ct->c_type, "text/plain") != 0)
        return 415;
    const char *cs = msg_params_find(ct->c_params, "charset=");
    if (!cs)
        return 0;
    size_t n = strlen(cs);
    if (n >= 2 && cs[0] == '"' && cs[n - 1] == '"') {
        cs++;
        n -= 2;
    }
    if ((n == 5 && strncasecmp(cs, "utf-8", 5) == 0) ||
        (n == 8 && strncasecmp(cs, "us-ascii", 8) == 0))
        return 0;
    return 415;
}

void
sip_in_message(sip_stack_t *self, nua_handle_t *nh, const sip_t *sip)
{
    msg_t *msg = nua_current_request(self->nua);
    if (!sip || !sip->sip_request || !sip->sip_from || !sip->sip_to) {
        xgw_series_inc(self->m_parse_errors);
        s_refuse(self, nh, 400, NULL, 0);
        return;
    }
    if (self->refusing) {
        s_refuse(self, nh, 503, "Draining", S_RETRY_AFTER_S);
        return;
    }
    if (!sip_peer_trusted(self, msg)) {
        s_refuse(self, nh, 403, "Untrusted Source", 0);
        return;
    }
    if (sip->sip_max_forwards && sip->sip_max_forwards->mf_count == 0) {
        s_refuse(self, nh, 483, NULL, 0);
        return;
    }
    const url_t *ruri = sip->sip_request->rq_url;
    if (ruri->url_type == url_sips || sip->sip_to->a_url->url_type == url_sips) {
        s_refuse(self, nh, 403, "SIPS Not Routed To XMPP", 0);
        return;
    }
    int st = s_content_type_status(sip->sip_content_type);
    if (st) {
        s_refuse(self, nh, st, NULL, 0);
        return;
    }
    const sip_payload_t *pl = sip->sip_payload;
    size_t len = pl ? pl->pl_len : 0;
    if (len > self->max_message_body) {
        s_refuse(self, nh, 413, NULL, 0);
        return;
    }
    if (len == 0 || !xgw_xml_chars_valid(pl->pl_data, len)) {
        xgw_series_inc(self->m_parse_errors);
        s_refuse(self, nh, 400, len ? "Body Not Valid UTF-8 Text" : "Empty Body", 0);
        return;
    }
    char to[XGW_JID_MAX + 1], from[XGW_JID_MAX + 1];
    const char *why = "";
    /* IM-01: "to" is the Request-URI. */
    st = sip_url_to_jid(ruri, 0, to, sizeof to, &why);
    if (st) {
        xgw_info("sip_message_refused", "what=request_uri why=%s status=%d", why, st);
        xgw_series_inc(self->m_parse_errors);
        s_refuse(self, nh, st, NULL, 0);
        return;
    }
    st = sip_url_to_jid(sip->sip_from->a_url, 0, from, sizeof from, &why);
    if (st) {
        xgw_info("sip_message_refused", "what=from why=%s status=%d", why, st);
        xgw_series_inc(self->m_parse_errors);
        /* A From that cannot be mapped is the sender's fault whatever the
         * reason (sips: included). */
        s_refuse(self, nh, st == 403 || st == 416 ? st : 400, NULL, 0);
        return;
    }

    sip_txn_t *txn = calloc(1, sizeof *txn);
    if (!txn) {
        s_refuse(self, nh, 500, NULL, 0);
        return;
    }
    txn->stack = self;
    txn->nh = nh;
    txn->held_since_ms = sip_now_ms();
    nua_save_event(self->nua, txn->saved);
    s_link(self, txn);

    /* The body is not NUL-terminated in the message buffer. */
    char *body = malloc(len + 1);
    char subject[256] = "", lang[64] = "";
    if (!body) {
        sip_txn_answer(&txn, 500, NULL, 0);
        return;
    }
    memcpy(body, pl->pl_data, len);
    body[len] = '\0';
    if (sip->sip_subject && sip->sip_subject->g_value)
        snprintf(subject, sizeof subject, "%s", sip->sip_subject->g_value);
    if (sip->sip_content_language && sip->sip_content_language->k_items &&
        sip->sip_content_language->k_items[0])
        snprintf(lang, sizeof lang, "%s", sip->sip_content_language->k_items[0]);
    sip_im_t im = {
        .from = from,
        .to = to,
        .body = body,
        .body_len = len,
        .subject = subject,
        .thread = sip->sip_call_id ? sip->sip_call_id->i_id : "",
        .lang = lang,
        .id = "",
        .max_forwards = sip->sip_max_forwards ? (int)sip->sip_max_forwards->mf_count - 1 : 69,
    };
    self->hooks.message_in(self->hooks.ud, txn, &im);
    free(body);
}

void
sip_txn_answer(sip_txn_t **txn_p, int status, const char *phrase, int retry_after_s)
{
    if (!txn_p || !*txn_p)
        return;
    sip_txn_t *t = *txn_p;
    sip_stack_t *self = t->stack;
    char ra[24] = "";
    if (retry_after_s > 0)
        snprintf(ra, sizeof ra, "%d", retry_after_s);
    nua_respond(t->nh, status, phrase ? phrase : sip_status_phrase(status),
                NUTAG_WITH_SAVED(t->saved), TAG_IF(ra[0], SIPTAG_RETRY_AFTER_STR(ra)),
                TAG_IF(status == 415, SIPTAG_ACCEPT_STR("text/plain")), TAG_END());
    if (status == 503)
        xgw_series_inc(self->m_backpressure);
    sip_count(self, "in", "MESSAGE", status);
    nua_destroy_event(t->saved);
    nua_handle_destroy(t->nh);
    s_unlink(self, t);
    free(t);
    *txn_p = NULL;
}

void
sip_in_refuse_all(sip_stack_t *self)
{
    while (self->held) {
        sip_txn_t *t = self->held;
        sip_txn_answer(&t, 503, "Shutting Down", S_RETRY_AFTER_S);
    }
}
