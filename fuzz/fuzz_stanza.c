/*
 * fuzz_stanza.c - libFuzzer target for lib/xgw_stanza: the input is parsed
 * as one document with xgw_xml_parse_doc; the root and (when the root is a
 * wrapper such as <stream:stream xmlns='jabber:server'>) each of its first
 * children go through the inbound translation with a fixed domain pair
 * (peer example.com, served example.net). What comes out is checked:
 *  - a Deliver packs with protobuf-c and unpacks to the same size;
 *  - the Deliver is written back with the outbound translation (as the
 *    peer would write it), and that stanza, read again, gives the same
 *    fields (the round trip the unit tests check on chosen inputs);
 *  - the SIP side's refusal of it produces an error stanza or silence;
 *  - answers and bounces can always be written.
 * A broken invariant aborts, so the fuzzer reports it like a crash.
 */
#include "xgw_arena.h"
#include "xgw_error.h"
#include "xgw_stanza.h"
#include "xgw_xml.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define S_MAX_CHILDREN 16
#define S_WRITER_MAX (1024 * 1024)

static bool
s_served(void *ud, const char *domain)
{
    (void)ud;
    return strcmp(domain, "example.net") == 0 || strcmp(domain, "sip.example.net") == 0;
}

static void
s_check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_stanza: invariant broken: %s\n", what);
        abort();
    }
}

static bool
s_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* The Deliver read back from our own output must carry the same fields. */
static void
s_compare(const Xgw__V1__Deliver *a, const Xgw__V1__Deliver *b)
{
    s_check(a->kind_case == b->kind_case, "round trip: kind");
    switch (a->kind_case) {
    case XGW__V1__DELIVER__KIND_MESSAGE: {
        const Xgw__V1__ImMessage *x = a->message, *y = b->message;
        s_check(s_eq(x->from, y->from) && s_eq(x->to, y->to), "round trip: message addresses");
        s_check(s_eq(x->body, y->body), "round trip: body");
        s_check(s_eq(x->subject, y->subject), "round trip: subject");
        s_check(s_eq(x->thread, y->thread), "round trip: thread");
        s_check(s_eq(x->lang, y->lang), "round trip: lang");
        if (x->id && x->id[0]) /* without one the writer makes one up */
            s_check(s_eq(x->id, y->id), "round trip: id");
        break;
    }
    case XGW__V1__DELIVER__KIND_PRESENCE: {
        const Xgw__V1__PresenceInfo *x = a->presence, *y = b->presence;
        s_check(s_eq(x->from, y->from) && s_eq(x->to, y->to), "round trip: presence addresses");
        s_check(x->available == y->available && x->probe == y->probe, "round trip: type");
        s_check(s_eq(x->show, y->show), "round trip: show");
        s_check(s_eq(x->status, y->status), "round trip: status");
        s_check(x->priority == y->priority, "round trip: priority");
        if (x->status && x->status[0])
            s_check(s_eq(x->lang, y->lang), "round trip: status lang");
        break;
    }
    case XGW__V1__DELIVER__KIND_SUBSCRIPTION:
        s_check(a->subscription->op == b->subscription->op, "round trip: op");
        s_check(s_eq(a->subscription->from, b->subscription->from) &&
                    s_eq(a->subscription->to, b->subscription->to),
                "round trip: subscription addresses");
        break;
    default:
        s_check(false, "deliver without kind");
    }
}

static void
s_pack(const Xgw__V1__Deliver *d)
{
    size_t n = xgw__v1__deliver__get_packed_size(d);
    uint8_t *buf = malloc(n ? n : 1);
    s_check(buf != NULL, "malloc");
    s_check(xgw__v1__deliver__pack(d, buf) == n, "pack size");
    Xgw__V1__Deliver *u = xgw__v1__deliver__unpack(NULL, n, buf);
    s_check(u != NULL, "unpack");
    s_check(xgw__v1__deliver__get_packed_size(u) == n, "repacked size");
    xgw__v1__deliver__free_unpacked(u, NULL);
    free(buf);
}

/* Writes d as example.com would and reads it back as example.net. */
static void
s_round_trip(const Xgw__V1__Deliver *d, const xgw_stanza_in_ctx_t *ctx, xgw_arena_t *arena)
{
    xgw_xml_writer_t w;
    xgw_xml_writer_init(&w, S_WRITER_MAX);
    xgw_xml_raw(&w, "<s xmlns='jabber:server'>", strlen("<s xmlns='jabber:server'>"));
    /* The stanza may be for any served domain: only the sender's is fixed. */
    xgw_stanza_out_ctx_t peer = {.local_domain = "example.com"};
    int rc = xgw_stanza_write_deliver(&w, d, &peer);
    s_check(rc == 0, "a Deliver made from a stanza can be written");
    xgw_xml_raw(&w, "</s>", 4);
    s_check(xgw_xml_writer_status(&w) == 0, "writer");

    xgw_xml_err_t err;
    xgw_xml_node_t *root = xgw_xml_parse_doc(w.buf, w.len, NULL, arena, &err);
    s_check(root && root->children, "our own stanza parses");
    xgw_stanza_in_t again;
    s_check(xgw_stanza_inbound(root->children, ctx, arena, &again) == 0, "inbound again");
    s_check(again.action == XGW_STANZA_DELIVER, "our own stanza is delivered");
    s_compare(d, again.deliver);
    xgw_xml_writer_fini(&w);
}

static void
s_one(const xgw_xml_node_t *st, const xgw_stanza_in_ctx_t *ctx, xgw_arena_t *arena)
{
    xgw_stanza_in_t res;
    int rc = xgw_stanza_inbound(st, ctx, arena, &res);
    if (rc != 0) {
        s_check(rc == XGW_ENOMEM, "inbound fails only for memory");
        return;
    }
    s_check(res.reason != NULL, "reason set");
    xgw_xml_writer_t w;
    xgw_xml_writer_init(&w, S_WRITER_MAX);
    switch (res.action) {
    case XGW_STANZA_DELIVER: {
        s_check(res.deliver != NULL, "deliver set");
        s_pack(res.deliver);
        s_round_trip(res.deliver, ctx, arena);
        Xgw__V1__DeliverResult r = XGW__V1__DELIVER_RESULT__INIT;
        r.condition = "item-not-found";
        r.sip_status = 404;
        r.text = "Not Found";
        xgw_stanza_out_ctx_t oc = {.remote_domain = "example.com"};
        rc = xgw_stanza_write_deliver_error(&w, res.deliver, &r, &oc);
        s_check(rc == 0 || rc == 1, "deliver error written or silent");
        break;
    }
    case XGW_STANZA_ANSWER:
    case XGW_STANZA_BOUNCE:
        rc = xgw_stanza_write_answer(&w, &res);
        s_check(rc == 0, "answer or bounce written");
        break;
    case XGW_STANZA_STREAM_ERROR:
        s_check(res.condition != NULL, "stream error condition");
        break;
    case XGW_STANZA_IGNORE:
        break;
    }
    xgw_xml_writer_fini(&w);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xgw_arena_t *arena = xgw_arena_new(0);
    if (!arena)
        return 0;
    xgw_stanza_in_ctx_t ctx = {
        .remote_domain = "example.com", .served = s_served, .origin_instance = "xmppd.00"};
    xgw_xml_err_t err;
    xgw_xml_node_t *root = xgw_xml_parse_doc((const char *)data, size, NULL, arena, &err);
    if (root) {
        s_one(root, &ctx, arena);
        size_t n = 0;
        for (const xgw_xml_node_t *c = root->children; c && n < S_MAX_CHILDREN; c = c->next, n++)
            s_one(c, &ctx, arena);
    }
    xgw_arena_destroy(&arena);
    return 0;
}
