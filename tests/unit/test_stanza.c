/*
 * test_stanza.c - stanza <-> Deliver translation and stanza authorization:
 * real stanza text parsed with xgw_xml_parse_doc, then judged by
 * xgw_stanza_inbound; Delivers written with xgw_stanza_write_deliver and
 * parsed back. Checklist rows: IM-01..04, IM-11, PRS-01/04/05, SUB/ADR-10,
 * S2S-10, S2S-11, S2S-18, ROB-04..06, ERR-02/08, PRS-12, SUB-03.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xgw_error.h"
#include "xgw_stanza.h"

/* Peer example.com (RFC 7247's XMPP side), we serve example.net (SIP
 * side) and sip.example.net. */
#define S_REMOTE "example.com"
#define S_LOCAL "example.net"

typedef struct {
    xgw_arena_t *arena;
    xgw_stanza_in_ctx_t ctx;
    xgw_stanza_in_t res;
    xgw_xml_writer_t w;
} s_fix_t;

static bool
s_served(void *ud, const char *domain)
{
    (void)ud;
    return strcmp(domain, "example.net") == 0 || strcmp(domain, "sip.example.net") == 0;
}

static int
s_setup(void **state)
{
    s_fix_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->arena = xgw_arena_new(0);
    assert_non_null(f->arena);
    f->ctx.remote_domain = S_REMOTE;
    f->ctx.served = s_served;
    f->ctx.origin_instance = "xmppd.00";
    xgw_xml_writer_init(&f->w, 64 * 1024);
    *state = f;
    return 0;
}

static int
s_teardown(void **state)
{
    s_fix_t *f = *state;
    xgw_xml_writer_fini(&f->w);
    xgw_arena_destroy(&f->arena);
    free(f);
    return 0;
}

/* Parses xml; a stanza without its own xmlns gets the stream's default
 * (jabber:server) by being read inside a stream wrapper, as the stream
 * reader would see it. */
static const xgw_xml_node_t *
s_parse_in(s_fix_t *f, const char *xml, const char *default_ns)
{
    size_t n = strlen(xml) + 256;
    char *doc = xgw_arena_alloc(f->arena, n);
    assert_non_null(doc);
    snprintf(doc, n,
             "<stream:stream xmlns='%s' xmlns:stream='http://etherx.jabber.org/streams'>%s"
             "</stream:stream>",
             default_ns, xml);
    xgw_xml_err_t err = XGW_XML_OK;
    xgw_xml_node_t *root = xgw_xml_parse_doc(doc, strlen(doc), NULL, f->arena, &err);
    if (!root)
        fail_msg("parse failed (%d) for %s", (int)err, xml);
    assert_non_null(root->children);
    return root->children;
}

static const xgw_xml_node_t *
s_parse(s_fix_t *f, const char *xml)
{
    return s_parse_in(f, xml, XGW_XML_NS_SERVER);
}

/* Runs the inbound translation on stanza text. */
static xgw_stanza_in_t *
s_in(s_fix_t *f, const char *xml)
{
    assert_int_equal(xgw_stanza_inbound(s_parse(f, xml), &f->ctx, f->arena, &f->res), 0);
    assert_non_null(f->res.reason);
    return &f->res;
}

static void
s_expect_stream_error(s_fix_t *f, const char *xml, const char *condition)
{
    xgw_stanza_in_t *r = s_in(f, xml);
    if (r->action != XGW_STANZA_STREAM_ERROR)
        fail_msg("expected stream error %s, got action %d (%s) for %s", condition, r->action,
                 r->reason, xml);
    assert_string_equal(r->condition, condition);
    assert_null(r->deliver);
}

static void
s_expect_bounce(s_fix_t *f, const char *xml, const char *condition, const char *type)
{
    xgw_stanza_in_t *r = s_in(f, xml);
    if (r->action != XGW_STANZA_BOUNCE)
        fail_msg("expected bounce %s, got action %d (%s) for %s", condition, r->action, r->reason,
                 xml);
    assert_string_equal(r->condition, condition);
    assert_string_equal(r->error_type, type);
    assert_null(r->deliver);
}

static void
s_expect_ignore(s_fix_t *f, const char *xml)
{
    xgw_stanza_in_t *r = s_in(f, xml);
    if (r->action != XGW_STANZA_IGNORE)
        fail_msg("expected ignore, got action %d (%s) for %s", r->action, r->reason, xml);
    assert_null(r->deliver);
}

static Xgw__V1__ImMessage *
s_expect_message(s_fix_t *f, const char *xml)
{
    xgw_stanza_in_t *r = s_in(f, xml);
    if (r->action != XGW_STANZA_DELIVER)
        fail_msg("expected deliver, got action %d (%s) for %s", r->action, r->reason, xml);
    assert_int_equal(r->deliver->kind_case, XGW__V1__DELIVER__KIND_MESSAGE);
    assert_string_equal(r->deliver->origin_instance, "xmppd.00");
    return r->deliver->message;
}

static Xgw__V1__PresenceInfo *
s_expect_presence(s_fix_t *f, const char *xml)
{
    xgw_stanza_in_t *r = s_in(f, xml);
    if (r->action != XGW_STANZA_DELIVER)
        fail_msg("expected deliver, got action %d (%s) for %s", r->action, r->reason, xml);
    assert_int_equal(r->deliver->kind_case, XGW__V1__DELIVER__KIND_PRESENCE);
    return r->deliver->presence;
}

static Xgw__V1__SubscriptionOp *
s_expect_sub(s_fix_t *f, const char *xml)
{
    xgw_stanza_in_t *r = s_in(f, xml);
    if (r->action != XGW_STANZA_DELIVER)
        fail_msg("expected deliver, got action %d (%s) for %s", r->action, r->reason, xml);
    assert_int_equal(r->deliver->kind_case, XGW__V1__DELIVER__KIND_SUBSCRIPTION);
    return r->deliver->subscription;
}

/* Parses what the writer holds (one stanza) back into a tree. */
static const xgw_xml_node_t *
s_parse_out(s_fix_t *f)
{
    assert_non_null(f->w.buf);
    char *copy = xgw_arena_alloc(f->arena, f->w.len + 1);
    assert_non_null(copy);
    memcpy(copy, f->w.buf, f->w.len);
    copy[f->w.len] = '\0';
    return s_parse(f, copy);
}

/* Every attribute value in an attribute without namespace, NULL-safe. */
static void
s_attr_eq(const xgw_xml_node_t *n, const char *name, const char *want)
{
    const char *v = xgw_xml_attr(n, name);
    if (!want) {
        if (v)
            fail_msg("attribute %s should be absent, is '%s'", name, v);
        return;
    }
    if (!v)
        fail_msg("attribute %s missing (want '%s')", name, want);
    assert_string_equal(v, want);
}

/* The defined condition inside <error/>, and its type. */
static void
s_error_eq(const xgw_xml_node_t *st, const char *condition, const char *type)
{
    s_attr_eq(st, "type", "error");
    const xgw_xml_node_t *e = xgw_xml_child(st, XGW_XML_NS_SERVER, "error");
    assert_non_null(e);
    s_attr_eq(e, "type", type);
    const xgw_xml_node_t *c = xgw_xml_child(e, XGW_STANZA_NS_STANZAS, condition);
    if (!c)
        fail_msg("no <%s/> in the error", condition);
}

/* ------------------------------------------------------------------ */
/* Inbound messages                                                    */

static void
test_message_im04_example(void **state)
{
    s_fix_t *f = *state;
    /* RFC 7572 Example 1 plus subject, thread and xml:lang (IM-04). */
    Xgw__V1__ImMessage *m = s_expect_message(
        f, "<message from='juliet@example.com/yn0cl4bnw0yr3vym' to='romeo@example.net' "
           "type='chat' id='hr7gs1' xml:lang='en'>"
           "<subject>Hi</subject><body>Art thou not Romeo, and a Montague?</body>"
           "<thread>e0ffe42b28561960c6b12b944a092794b9683a38</thread></message>");
    assert_string_equal(m->from, "juliet@example.com/yn0cl4bnw0yr3vym");
    assert_string_equal(m->to, "romeo@example.net");
    assert_string_equal(m->body, "Art thou not Romeo, and a Montague?");
    assert_string_equal(m->subject, "Hi");
    assert_string_equal(m->thread, "e0ffe42b28561960c6b12b944a092794b9683a38");
    assert_string_equal(m->lang, "en");
    assert_string_equal(m->id, "hr7gs1");
    assert_string_equal(m->type, "chat");
    assert_int_equal(f->res.action, XGW_STANZA_DELIVER);
    assert_string_equal(f->res.name, "message");
    /* Entities are decoded, whitespace kept. */
    m = s_expect_message(f, "<message from='juliet@example.com' to='romeo@example.net'>"
                            "<body> a &amp; b &lt;c&gt;\n</body></message>");
    assert_string_equal(m->body, " a & b <c>\n");
    assert_string_equal(m->type, "normal"); /* no type: normal (RFC 6121 5.2.2) */
    assert_string_equal(m->lang, "");
    assert_string_equal(m->subject, "");
    assert_string_equal(m->thread, "");
    assert_string_equal(m->id, "");
}

static void
test_message_body_language(void **state)
{
    s_fix_t *f = *state;
    const char *two = "<message from='juliet@example.com' to='romeo@example.net' xml:lang='%s'>"
                      "<subject xml:lang='cs'>Ahoj</subject><subject>Hello</subject>"
                      "<body>Wherefore art thou?</body>"
                      "<body xml:lang='cs'>Pro&#x10D; jsi?</body></message>";
    char xml[512];
    /* IM-04: two bodies (en, cs), stanza en: only the English text. */
    snprintf(xml, sizeof xml, two, "en");
    Xgw__V1__ImMessage *m = s_expect_message(f, xml);
    assert_string_equal(m->body, "Wherefore art thou?");
    assert_string_equal(m->lang, "en");
    assert_string_equal(m->subject, "Hello");
    assert_null(strstr(m->body, "jsi"));
    /* Both labelled, stanza in Czech: the Czech body and subject. (An
     * unlabelled body would inherit the stanza's language.) */
    const char *labelled = "<message from='juliet@example.com' to='romeo@example.net' "
                           "xml:lang='%s'><subject xml:lang='en'>Hello</subject>"
                           "<subject xml:lang='cs'>Ahoj</subject>"
                           "<body xml:lang='en'>Wherefore art thou?</body>"
                           "<body xml:lang='cs'>Pro&#x10D; jsi?</body></message>";
    snprintf(xml, sizeof xml, labelled, "cs");
    m = s_expect_message(f, xml);
    assert_string_equal(m->body, "Pro\xc4\x8d jsi?");
    assert_string_equal(m->lang, "cs");
    assert_string_equal(m->subject, "Ahoj");
    /* Case does not matter in language tags. */
    snprintf(xml, sizeof xml, labelled, "CS");
    m = s_expect_message(f, xml);
    assert_string_equal(m->body, "Pro\xc4\x8d jsi?");
    snprintf(xml, sizeof xml, labelled, "en");
    m = s_expect_message(f, xml);
    assert_string_equal(m->body, "Wherefore art thou?");
    assert_string_equal(m->subject, "Hello");
    /* No body in the stanza's language: the first body, with its own
     * language. */
    m = s_expect_message(f, "<message from='juliet@example.com' to='romeo@example.net' "
                            "xml:lang='de'><body xml:lang='fr'>Bonjour</body>"
                            "<body xml:lang='it'>Ciao</body></message>");
    assert_string_equal(m->body, "Bonjour");
    assert_string_equal(m->lang, "fr");
    /* The stream's xml:lang is inherited when the stanza has none. */
    f->ctx.stream_lang = "it";
    m = s_expect_message(f, "<message from='juliet@example.com' to='romeo@example.net'>"
                            "<body xml:lang='fr'>Bonjour</body>"
                            "<body xml:lang='it'>Ciao</body></message>");
    assert_string_equal(m->body, "Ciao");
    assert_string_equal(m->lang, "it");
    f->ctx.stream_lang = NULL;
    /* A malformed language is dropped, never copied into a header; the
     * text still goes. */
    m = s_expect_message(f, "<message from='juliet@example.com' to='romeo@example.net' "
                            "xml:lang='en_US'><body>x</body></message>");
    assert_string_equal(m->lang, "");
    assert_string_equal(m->body, "x");
    memset(xml, 0, sizeof xml);
    snprintf(xml, sizeof xml,
             "<message from='juliet@example.com' to='romeo@example.net' xml:lang='%065d'>"
             "<body>x</body></message>",
             0);
    assert_string_equal(s_expect_message(f, xml)->lang, "");
    snprintf(xml, sizeof xml,
             "<message from='juliet@example.com' to='romeo@example.net' xml:lang='%064d'>"
             "<body>x</body></message>",
             0);
    assert_int_equal(strlen(s_expect_message(f, xml)->lang), 64);
}

static void
test_message_types(void **state)
{
    s_fix_t *f = *state;
    const char *fmt = "<message from='juliet@example.com/b' to='romeo@example.net' type='%s'>"
                      "<body>x</body></message>";
    char xml[256];
    snprintf(xml, sizeof xml, fmt, "normal");
    assert_string_equal(s_expect_message(f, xml)->type, "normal");
    snprintf(xml, sizeof xml, fmt, "headline");
    assert_string_equal(s_expect_message(f, xml)->type, "headline");
    snprintf(xml, sizeof xml, fmt, "bogus");
    assert_string_equal(s_expect_message(f, xml)->type, "normal");
    snprintf(xml, sizeof xml, fmt, "groupchat");
    s_expect_bounce(f, xml, "service-unavailable", "cancel");
    /* IM-11: an error is consumed, never answered, whatever it holds. */
    snprintf(xml, sizeof xml, fmt, "error");
    s_expect_ignore(f, xml);
    assert_string_equal(f->res.reason, "error-stanza");
    s_expect_ignore(f, "<message from='juliet@example.com' to='romeo@example.net' type='error' "
                       "id='e1'><error type='cancel'><item-not-found "
                       "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>");
    /* An error to a malformed address is not bounced either. */
    s_expect_ignore(f, "<message from='juliet@example.com' to='@example.net' type='error'/>");
}

static void
test_message_without_text(void **state)
{
    s_fix_t *f = *state;
    /* IM-11: chat states, receipts, empty bodies: no text MESSAGE. */
    s_expect_ignore(f, "<message from='juliet@example.com/b' to='romeo@example.net' type='chat'>"
                       "<composing xmlns='http://jabber.org/protocol/chatstates'/></message>");
    assert_string_equal(f->res.reason, "no-body");
    s_expect_ignore(f, "<message from='juliet@example.com/b' to='romeo@example.net' id='r1'>"
                       "<received xmlns='urn:xmpp:receipts' id='m1'/></message>");
    s_expect_ignore(f, "<message from='juliet@example.com' to='romeo@example.net'><body/>"
                       "</message>");
    s_expect_ignore(f, "<message from='juliet@example.com' to='romeo@example.net' "
                       "type='headline'><subject>news</subject></message>");
    /* A body in another namespace is an extension, not the body. */
    s_expect_ignore(f, "<message from='juliet@example.com' to='romeo@example.net'>"
                       "<body xmlns='urn:x:other'>not a body</body></message>");
    /* Without body, even to the domain: nothing to say. */
    s_expect_ignore(f, "<message from='juliet@example.com' to='example.net'/>");
    /* With a body to the domain: nobody there. */
    s_expect_bounce(f,
                    "<message from='juliet@example.com' to='example.net'><body>hi</body>"
                    "</message>",
                    "service-unavailable", "cancel");
}

static void
test_unknown_children_ignored(void **state)
{
    s_fix_t *f = *state;
    /* ROB-05: unknown extensions are ignored, the body still goes. */
    Xgw__V1__ImMessage *m =
        s_expect_message(f, "<message from='juliet@example.com/b' to='romeo@example.net' id='u1'>"
                            "<x xmlns='urn:x:unknown'><body>inner</body><deep><deeper/></deep></x>"
                            "<html xmlns='http://jabber.org/protocol/xhtml-im'><body "
                            "xmlns='http://www.w3.org/1999/xhtml'><p>rich</p></body></html>"
                            "<active xmlns='http://jabber.org/protocol/chatstates'/>"
                            "<body>plain</body><unknown-child/></message>");
    assert_string_equal(m->body, "plain");
    assert_string_equal(m->id, "u1");
}

/* ------------------------------------------------------------------ */
/* Addressing and authorization                                        */

static void
test_not_authenticated(void **state)
{
    s_fix_t *f = *state;
    /* S2S-10: before SASL or dialback nothing is processed. */
    f->ctx.remote_domain = NULL;
    s_expect_stream_error(f,
                          "<message from='juliet@example.com' to='romeo@example.net'>"
                          "<body>x</body></message>",
                          "not-authorized");
    f->ctx.remote_domain = "";
    s_expect_stream_error(f, "<presence from='juliet@example.com' to='romeo@example.net'/>",
                          "not-authorized");
}

static void
test_addressing(void **state)
{
    s_fix_t *f = *state;
    /* S2S-11: missing or empty to/from. */
    s_expect_stream_error(f, "<message to='romeo@example.net'><body>x</body></message>",
                          "improper-addressing");
    s_expect_stream_error(f, "<message from='juliet@example.com'><body>x</body></message>",
                          "improper-addressing");
    s_expect_stream_error(f, "<presence from='' to='romeo@example.net'/>", "improper-addressing");
    s_expect_stream_error(f,
                          "<iq from='juliet@example.com' type='get' id='1'><ping "
                          "xmlns='urn:xmpp:ping'/></iq>",
                          "improper-addressing");
    /* The checklist's vector: authenticated as example.com, from
     * example.org. */
    s_expect_stream_error(f,
                          "<message from='eve@example.org' to='romeo@example.net'>"
                          "<body>x</body></message>",
                          "invalid-from");
    /* A subdomain is another domain. */
    s_expect_stream_error(f, "<presence from='eve@evil.example.com' to='romeo@example.net'/>",
                          "invalid-from");
    /* Malformed from: nobody to bounce to. */
    s_expect_stream_error(f, "<presence from='a b@example.com' to='romeo@example.net'/>",
                          "invalid-from");
    s_expect_stream_error(f, "<presence from='juliet@' to='romeo@example.net'/>", "invalid-from");
    /* Not served. */
    s_expect_stream_error(f,
                          "<message from='juliet@example.com' to='romeo@nothere.example'>"
                          "<body>x</body></message>",
                          "host-unknown");
    s_expect_stream_error(f, "<presence from='juliet@example.com' to='romeo@bad_domain!'/>",
                          "host-unknown");
    /* A served domain, but not the stream's verified target. */
    f->ctx.local_domain = "sip.example.net";
    s_expect_stream_error(f, "<presence from='juliet@example.com' to='romeo@example.net'/>",
                          "host-unknown");
    assert_string_equal(s_expect_presence(f, "<presence from='juliet@example.com' "
                                             "to='romeo@SIP.example.net'/>")
                            ->to,
                        "romeo@sip.example.net");
    f->ctx.local_domain = NULL;
    /* ADR-06 / ADR-07: case and trailing dots; canonical JIDs come out. */
    Xgw__V1__ImMessage *m = s_expect_message(f, "<message from='Juliet@Example.COM./Balcony' "
                                                "to='Romeo@EXAMPLE.NET.'><body>x</body></message>");
    assert_string_equal(m->from, "juliet@example.com/Balcony");
    assert_string_equal(m->to, "romeo@example.net");
    assert_string_equal(f->res.from, "juliet@example.com/Balcony");
    assert_string_equal(f->res.to, "romeo@example.net");
    /* The peer's domain as configured may carry case or a dot too. */
    f->ctx.remote_domain = "Example.Com.";
    s_expect_message(f, "<message from='juliet@example.com' to='romeo@example.net'>"
                        "<body>x</body></message>");
}

static void
test_namespaces(void **state)
{
    s_fix_t *f = *state;
    /* ROB-04: first-level elements in unknown namespaces. */
    s_expect_stream_error(f,
                          "<ns1:foo xmlns:ns1='urn:x' from='juliet@example.com' "
                          "to='romeo@example.net'/>",
                          "unsupported-stanza-type");
    assert_null(f->res.name);
    s_expect_stream_error(f, "<foo from='juliet@example.com' to='romeo@example.net'/>",
                          "unsupported-stanza-type");
    /* A prefixed content namespace. */
    s_expect_stream_error(f,
                          "<foo:message xmlns:foo='jabber:server' from='juliet@example.com' "
                          "to='romeo@example.net'><foo:body>x</foo:body></foo:message>",
                          "bad-namespace-prefix");
    /* S2S-04: a content namespace other than jabber:server. */
    s_expect_stream_error(f,
                          "<message xmlns='jabber:client' from='juliet@example.com' "
                          "to='romeo@example.net'><body>x</body></message>",
                          "invalid-namespace");
    s_expect_stream_error(f,
                          "<presence xmlns='urn:x' from='juliet@example.com' "
                          "to='romeo@example.net'/>",
                          "invalid-namespace");
    /* A component link speaks jabber:component:accept. */
    f->ctx.content_ns = XGW_STANZA_NS_COMPONENT;
    const xgw_xml_node_t *st = s_parse_in(f,
                                          "<message from='juliet@example.com' "
                                          "to='romeo@example.net'><body>c</body></message>",
                                          XGW_STANZA_NS_COMPONENT);
    assert_int_equal(xgw_stanza_inbound(st, &f->ctx, f->arena, &f->res), 0);
    assert_int_equal(f->res.action, XGW_STANZA_DELIVER);
    assert_string_equal(f->res.deliver->message->body, "c");
    s_expect_stream_error(f,
                          "<message from='juliet@example.com' to='romeo@example.net'>"
                          "<body>x</body></message>",
                          "invalid-namespace");
}

static void
test_jid_malformed(void **state)
{
    s_fix_t *f = *state;
    /* ADR-05: a 1024-octet localpart bounces jid-malformed; 1023 goes. */
    char local[1025];
    memset(local, 'a', 1024);
    local[1024] = '\0';
    char xml[1400];
    snprintf(xml, sizeof xml,
             "<message from='juliet@example.com/b' to='%s@example.net' id='long'>"
             "<body>x</body></message>",
             local);
    s_expect_bounce(f, xml, "jid-malformed", "modify");
    /* The bounce speaks for the domain: the address itself is unusable. */
    assert_string_equal(f->res.reply_from, "example.net");
    assert_int_equal(xgw_stanza_write_answer(&f->w, &f->res), 0);
    const xgw_xml_node_t *err = s_parse_out(f);
    assert_string_equal(err->name, "message");
    s_attr_eq(err, "from", "example.net");
    s_attr_eq(err, "to", "juliet@example.com/b");
    s_attr_eq(err, "id", "long");
    s_error_eq(err, "jid-malformed", "modify");

    local[1023] = '\0';
    snprintf(xml, sizeof xml,
             "<message from='juliet@example.com' to='%s@example.net'><body>x</body></message>",
             local);
    assert_int_equal(strlen(s_expect_message(f, xml)->to), 1023 + strlen("@example.net"));

    s_expect_bounce(f,
                    "<message from='juliet@example.com' to='@example.net'><body>x</body>"
                    "</message>",
                    "jid-malformed", "modify");
    s_expect_bounce(f, "<presence from='juliet@example.com' to='ro&lt;meo@example.net'/>",
                    "jid-malformed", "modify");
    s_expect_bounce(f,
                    "<presence from='juliet@example.com' to='romeo@example.net/' "
                    "type='subscribe'/>",
                    "jid-malformed", "modify");
}

/* ------------------------------------------------------------------ */
/* Presence and subscriptions                                          */

static void
test_presence(void **state)
{
    s_fix_t *f = *state;
    /* PRS-01/03/04: available with show, status, priority. */
    Xgw__V1__PresenceInfo *p = s_expect_presence(
        f, "<presence from='juliet@example.com/balcony' to='romeo@example.net/orchard' "
           "xml:lang='en'><show>dnd</show><status>In a meeting</status>"
           "<status xml:lang='cs'>Na sch&#x16F;zi</status><priority>5</priority>"
           "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v'/>"
           "</presence>");
    assert_true(p->available);
    assert_false(p->probe);
    assert_string_equal(p->from, "juliet@example.com/balcony");
    assert_string_equal(p->to, "romeo@example.net"); /* bare */
    assert_string_equal(p->show, "dnd");
    assert_string_equal(p->status, "In a meeting");
    assert_string_equal(p->lang, "en");
    assert_int_equal(p->priority, 5);
    /* PRS-04: no show outside the four values; PRS-05 input side:
     * priority outside -128..127 or not a number is absent. */
    p = s_expect_presence(f, "<presence from='juliet@example.com/b' to='romeo@example.net'>"
                             "<show>busy</show><priority>200</priority></presence>");
    assert_string_equal(p->show, "");
    assert_int_equal(p->priority, 0);
    /* No status: no language either, whatever the stanza says. */
    p = s_expect_presence(f, "<presence from='juliet@example.com/b' to='romeo@example.net' "
                             "xml:lang='en'/>");
    assert_string_equal(p->lang, "");
    p = s_expect_presence(f, "<presence from='juliet@example.com/b' to='romeo@example.net' "
                             "xml:lang='cs'><status xml:lang='bad lang'>x</status></presence>");
    assert_string_equal(p->lang, "");
    assert_string_equal(p->status, "x");
    p = s_expect_presence(f, "<presence from='juliet@example.com/b' to='romeo@example.net'>"
                             "<show>away</show><priority>-128</priority></presence>");
    assert_string_equal(p->show, "away");
    assert_int_equal(p->priority, -128);
    p = s_expect_presence(f, "<presence from='juliet@example.com/b' to='romeo@example.net'>"
                             "<priority>1x</priority></presence>");
    assert_int_equal(p->priority, 0);
    /* unavailable keeps its status, drops show. */
    p = s_expect_presence(f, "<presence from='juliet@example.com/b' to='romeo@example.net' "
                             "type='unavailable'><show>xa</show><status>gone</status></presence>");
    assert_false(p->available);
    assert_false(p->probe);
    assert_string_equal(p->status, "gone");
    assert_string_equal(p->show, "");
    /* A probe goes bare to bare. */
    p = s_expect_presence(f, "<presence from='juliet@example.com/b' to='romeo@example.net/x' "
                             "type='probe'/>");
    assert_true(p->probe);
    assert_false(p->available);
    assert_string_equal(p->from, "juliet@example.com");
    assert_string_equal(p->to, "romeo@example.net");
    assert_string_equal(f->res.reason, "probe");
    /* Errors are consumed, presence to the server is not for a user. */
    s_expect_ignore(f, "<presence from='juliet@example.com' to='romeo@example.net' "
                       "type='error'/>");
    s_expect_ignore(f, "<presence from='juliet@example.com/b' to='example.net'/>");
    s_expect_ignore(f, "<presence from='juliet@example.com/b' to='example.net' type='probe'/>");
    s_expect_bounce(f, "<presence from='juliet@example.com' to='romeo@example.net' type='x'/>",
                    "bad-request", "modify");
}

static void
test_subscriptions(void **state)
{
    s_fix_t *f = *state;
    static const struct {
        const char *type;
        Xgw__V1__SubscriptionOp__Op op;
    } cases[] = {
        {"subscribe", XGW__V1__SUBSCRIPTION_OP__OP__SUBSCRIBE},
        {"subscribed", XGW__V1__SUBSCRIPTION_OP__OP__SUBSCRIBED},
        {"unsubscribe", XGW__V1__SUBSCRIPTION_OP__OP__UNSUBSCRIBE},
        {"unsubscribed", XGW__V1__SUBSCRIPTION_OP__OP__UNSUBSCRIBED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char xml[256];
        /* ADR-10: subscribe from juliet@example.com/balcony is bare. */
        snprintf(xml, sizeof xml,
                 "<presence from='juliet@example.com/balcony' to='Romeo@example.net/orchard' "
                 "type='%s' id='s%zu'><status>ignored</status></presence>",
                 cases[i].type, i);
        Xgw__V1__SubscriptionOp *s = s_expect_sub(f, xml);
        assert_int_equal(s->op, cases[i].op);
        assert_string_equal(s->from, "juliet@example.com");
        assert_string_equal(s->to, "romeo@example.net");
        assert_int_equal(s->expires_s, 0);
        char id[8];
        snprintf(id, sizeof id, "s%zu", i);
        assert_string_equal(f->res.id, id);
    }
    /* Subscriptions to the domain itself are not for a user. */
    s_expect_ignore(f, "<presence from='juliet@example.com' to='example.net' type='subscribe'/>");
}

/* ------------------------------------------------------------------ */
/* iq                                                                  */

static void
test_iq_ping(void **state)
{
    s_fix_t *f = *state;
    /* S2S-18: a ping to the domain gets a result with the same id. */
    xgw_stanza_in_t *r = s_in(f, "<iq from='example.com' to='example.net' type='get' "
                                 "id='ping1'><ping xmlns='urn:xmpp:ping'/></iq>");
    assert_int_equal(r->action, XGW_STANZA_ANSWER);
    assert_int_equal(r->answer, XGW_STANZA_ANSWER_PING);
    assert_int_equal(xgw_stanza_write_answer(&f->w, r), 0);
    const xgw_xml_node_t *res = s_parse_out(f);
    assert_string_equal(res->name, "iq");
    s_attr_eq(res, "type", "result");
    s_attr_eq(res, "id", "ping1");
    s_attr_eq(res, "from", "example.net");
    s_attr_eq(res, "to", "example.com");
    assert_null(res->children);

    /* A ping to a SIP user: service-unavailable, as for every user. */
    xgw_xml_writer_clear(&f->w);
    s_expect_bounce(f,
                    "<iq from='juliet@example.com/b' to='romeo@example.net' type='get' "
                    "id='p2'><ping xmlns='urn:xmpp:ping'/></iq>",
                    "service-unavailable", "cancel");
    assert_int_equal(xgw_stanza_write_answer(&f->w, &f->res), 0);
    res = s_parse_out(f);
    s_attr_eq(res, "id", "p2");
    s_attr_eq(res, "from", "romeo@example.net");
    s_attr_eq(res, "to", "juliet@example.com/b");
    s_error_eq(res, "service-unavailable", "cancel");

    /* disco#info on the domain reports urn:xmpp:ping. */
    xgw_xml_writer_clear(&f->w);
    r = s_in(f, "<iq from='example.com' to='example.net' type='get' id='d1'>"
                "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
    assert_int_equal(r->action, XGW_STANZA_ANSWER);
    assert_int_equal(r->answer, XGW_STANZA_ANSWER_DISCO_INFO);
    assert_int_equal(xgw_stanza_write_answer(&f->w, r), 0);
    res = s_parse_out(f);
    s_attr_eq(res, "type", "result");
    s_attr_eq(res, "id", "d1");
    const xgw_xml_node_t *q = xgw_xml_child(res, XGW_STANZA_NS_DISCO_INFO, "query");
    assert_non_null(q);
    assert_non_null(xgw_xml_child(q, XGW_STANZA_NS_DISCO_INFO, "identity"));
    bool ping = false;
    for (const xgw_xml_node_t *c = xgw_xml_child(q, XGW_STANZA_NS_DISCO_INFO, "feature"); c;
         c = xgw_xml_next(c))
        if (xgw_xml_attr(c, "var") && strcmp(xgw_xml_attr(c, "var"), "urn:xmpp:ping") == 0)
            ping = true;
    assert_true(ping);
    s_expect_bounce(f,
                    "<iq from='example.com' to='example.net' type='get' id='d2'>"
                    "<query xmlns='http://jabber.org/protocol/disco#info' node='x'/></iq>",
                    "item-not-found", "cancel");
}

static void
test_iq_other(void **state)
{
    s_fix_t *f = *state;
    /* ROB-05: an unknown payload gets service-unavailable with the id. */
    s_expect_bounce(f,
                    "<iq from='juliet@example.com/b' to='example.net' type='get' id='u1'>"
                    "<query xmlns='urn:x'/></iq>",
                    "service-unavailable", "cancel");
    assert_string_equal(f->res.id, "u1");
    assert_int_equal(xgw_stanza_write_answer(&f->w, &f->res), 0);
    const xgw_xml_node_t *res = s_parse_out(f);
    assert_string_equal(res->name, "iq");
    s_attr_eq(res, "id", "u1");
    s_error_eq(res, "service-unavailable", "cancel");
    /* A ping as 'set' is not a ping. */
    s_expect_bounce(f,
                    "<iq from='example.com' to='example.net' type='set' id='s1'>"
                    "<ping xmlns='urn:xmpp:ping'/></iq>",
                    "service-unavailable", "cancel");
    /* Results and errors with no request are ignored; the envelope is
     * there for the caller's own pings. */
    s_expect_ignore(f, "<iq from='example.com' to='example.net' type='result' id='mine-7'/>");
    assert_string_equal(f->res.reason, "iq-result");
    assert_string_equal(f->res.id, "mine-7");
    assert_string_equal(f->res.from, "example.com");
    s_expect_ignore(f, "<iq from='example.com' to='example.net' type='error' id='mine-8'/>");
    assert_string_equal(f->res.reason, "iq-error");
    /* Schema violations: bad-request. */
    s_expect_bounce(f, "<iq from='example.com' to='example.net' type='get' id='n0'/>",
                    "bad-request", "modify");
    s_expect_bounce(f,
                    "<iq from='example.com' to='example.net' type='get' id='n2'>"
                    "<ping xmlns='urn:xmpp:ping'/><ping xmlns='urn:xmpp:ping'/></iq>",
                    "bad-request", "modify");
    s_expect_bounce(f,
                    "<iq from='example.com' to='example.net' type='get'>"
                    "<ping xmlns='urn:xmpp:ping'/></iq>",
                    "bad-request", "modify");
    s_expect_bounce(f,
                    "<iq from='example.com' to='example.net' type='poke' id='t'>"
                    "<ping xmlns='urn:xmpp:ping'/></iq>",
                    "bad-request", "modify");
    /* A bounce without id has no id attribute. */
    xgw_xml_writer_clear(&f->w);
    s_expect_bounce(f,
                    "<iq from='example.com' to='example.net' type='get'>"
                    "<ping xmlns='urn:xmpp:ping'/></iq>",
                    "bad-request", "modify");
    assert_int_equal(xgw_stanza_write_answer(&f->w, &f->res), 0);
    s_attr_eq(s_parse_out(f), "id", NULL);
    /* write_answer refuses what is neither an answer nor a bounce. */
    s_expect_ignore(f, "<iq from='example.com' to='example.net' type='result' id='x'/>");
    assert_int_equal(xgw_stanza_write_answer(&f->w, &f->res), XGW_EINVAL);
}

/* ------------------------------------------------------------------ */
/* Limits (ROB-06)                                                     */

static void
test_limits(void **state)
{
    s_fix_t *f = *state;
    static char big[2100];
    char xml[2400];
    const char *fmt_subject = "<message from='juliet@example.com' to='romeo@example.net'>"
                              "<subject>%s</subject><body>x</body></message>";
    memset(big, 's', XGW_STANZA_SUBJECT_MAX);
    big[XGW_STANZA_SUBJECT_MAX] = '\0';
    snprintf(xml, sizeof xml, fmt_subject, big);
    assert_int_equal(strlen(s_expect_message(f, xml)->subject), XGW_STANZA_SUBJECT_MAX);
    big[XGW_STANZA_SUBJECT_MAX] = 's';
    big[XGW_STANZA_SUBJECT_MAX + 1] = '\0';
    snprintf(xml, sizeof xml, fmt_subject, big);
    s_expect_bounce(f, xml, "policy-violation", "modify");

    memset(big, 't', XGW_STANZA_THREAD_MAX + 1);
    big[XGW_STANZA_THREAD_MAX + 1] = '\0';
    snprintf(xml, sizeof xml,
             "<message from='juliet@example.com' to='romeo@example.net'>"
             "<thread>%s</thread><body>x</body></message>",
             big);
    s_expect_bounce(f, xml, "policy-violation", "modify");
    big[XGW_STANZA_THREAD_MAX] = '\0';
    snprintf(xml, sizeof xml,
             "<message from='juliet@example.com' to='romeo@example.net'>"
             "<thread>%s</thread><body>x</body></message>",
             big);
    s_expect_message(f, xml);

    memset(big, 'i', XGW_STANZA_ID_MAX + 1);
    big[XGW_STANZA_ID_MAX + 1] = '\0';
    snprintf(xml, sizeof xml,
             "<message from='juliet@example.com' to='romeo@example.net' id='%s'>"
             "<body>x</body></message>",
             big);
    s_expect_bounce(f, xml, "policy-violation", "modify");
    assert_string_equal(f->res.id, big); /* echoed as received */

    memset(big, 'w', XGW_STANZA_STATUS_MAX + 1);
    big[XGW_STANZA_STATUS_MAX + 1] = '\0';
    snprintf(xml, sizeof xml,
             "<presence from='juliet@example.com' to='romeo@example.net'>"
             "<status>%s</status></presence>",
             big);
    s_expect_bounce(f, xml, "policy-violation", "modify");

    /* Configured limits win over the defaults. */
    f->ctx.max_body = 10;
    s_expect_message(f, "<message from='juliet@example.com' to='romeo@example.net'>"
                        "<body>0123456789</body></message>");
    s_expect_bounce(f,
                    "<message from='juliet@example.com' to='romeo@example.net'>"
                    "<body>0123456789A</body></message>",
                    "policy-violation", "modify");
    f->ctx.max_subject = 2;
    s_expect_bounce(f,
                    "<message from='juliet@example.com' to='romeo@example.net'>"
                    "<subject>abc</subject><body>x</body></message>",
                    "policy-violation", "modify");
    /* The 10 000-byte floor of ROB-06: a 9 999-byte body passes with the
     * defaults. */
    f->ctx.max_body = 0;
    f->ctx.max_subject = 0;
    size_t n = 9999;
    char *huge = malloc(n + 200);
    assert_non_null(huge);
    int off = snprintf(huge, 200,
                       "<message from='juliet@example.com' to='romeo@example.net'>"
                       "<body>");
    memset(huge + off, 'b', n);
    memcpy(huge + off + n, "</body></message>", sizeof "</body></message>");
    assert_int_equal(strlen(s_expect_message(f, huge)->body), n);
    free(huge);
}

/* ------------------------------------------------------------------ */
/* Outbound                                                            */

static xgw_stanza_out_ctx_t
s_out_ctx(void)
{
    xgw_stanza_out_ctx_t c = {.local_domain = S_LOCAL, .remote_domain = S_REMOTE, .counter = 42};
    return c;
}

static Xgw__V1__Deliver
s_msg_deliver(Xgw__V1__ImMessage *m)
{
    Xgw__V1__Deliver d = XGW__V1__DELIVER__INIT;
    d.kind_case = XGW__V1__DELIVER__KIND_MESSAGE;
    d.message = m;
    return d;
}

static void
test_out_message(void **state)
{
    s_fix_t *f = *state;
    xgw_stanza_out_ctx_t oc = s_out_ctx();
    /* IM-01..03: RFC 7572 Example 4 -> 5, with Subject, Content-Language
     * and Call-ID. */
    Xgw__V1__ImMessage m = XGW__V1__IM_MESSAGE__INIT;
    m.from = "romeo@example.net/dr4hcr0st3lup4c";
    m.to = "juliet@example.com";
    m.body = "Wherefore art thou, Juliet? <&'\">";
    m.subject = "Hi";
    m.thread = "a84b4c76e66710@pc33.example.net";
    m.lang = "cs";
    m.type = "chat"; /* IM-02: never written as chat */
    Xgw__V1__Deliver d = s_msg_deliver(&m);
    assert_int_equal(xgw_stanza_write_deliver(&f->w, &d, &oc), 0);
    assert_null(strstr(f->w.buf, "chat"));
    const xgw_xml_node_t *st = s_parse_out(f);
    assert_string_equal(st->name, "message");
    assert_string_equal(st->ns, XGW_XML_NS_SERVER);
    s_attr_eq(st, "type", NULL);
    s_attr_eq(st, "from", "romeo@example.net/dr4hcr0st3lup4c");
    s_attr_eq(st, "to", "juliet@example.com");
    s_attr_eq(st, "id", "xgw-2a"); /* from the counter */
    assert_string_equal(xgw_xml_attr_ns(st, XGW_XML_NS_XML, "lang"), "cs");
    assert_string_equal(xgw_xml_child_text(st, XGW_XML_NS_SERVER, "body"), m.body);
    assert_string_equal(xgw_xml_child_text(st, XGW_XML_NS_SERVER, "subject"), "Hi");
    assert_string_equal(xgw_xml_child_text(st, XGW_XML_NS_SERVER, "thread"), m.thread);

    /* type normal when asked; the Deliver's id wins over the context's. */
    xgw_xml_writer_clear(&f->w);
    m.type = "normal";
    m.id = "sip-tx-1";
    m.subject = "";
    m.thread = "";
    m.lang = "";
    oc.id = "ctx-id";
    assert_int_equal(xgw_stanza_write_deliver(&f->w, &d, &oc), 0);
    st = s_parse_out(f);
    s_attr_eq(st, "type", "normal");
    s_attr_eq(st, "id", "sip-tx-1");
    assert_null(xgw_xml_attr_ns(st, XGW_XML_NS_XML, "lang"));
    assert_null(xgw_xml_child(st, NULL, "subject"));
    assert_null(xgw_xml_child(st, NULL, "thread"));
    xgw_xml_writer_clear(&f->w);
    m.id = "";
    assert_int_equal(xgw_stanza_write_deliver(&f->w, &d, &oc), 0);
    s_attr_eq(s_parse_out(f), "id", "ctx-id");
}

static void
test_out_refusals(void **state)
{
    s_fix_t *f = *state;
    xgw_stanza_out_ctx_t oc = s_out_ctx();
    Xgw__V1__ImMessage m = XGW__V1__IM_MESSAGE__INIT;
    m.from = "romeo@example.net";
    m.to = "juliet@example.com";
    m.body = "hello";
    Xgw__V1__Deliver d = s_msg_deliver(&m);
    /* What the writer already holds survives every refusal. */
    xgw_xml_raw(&f->w, "<presence/>", 11);
    const char *keep = "<presence/>";

    m.from = "romeo@example.org"; /* S2S-17: not our side of the stream */
    assert_int_equal(xgw_stanza_write_deliver(&f->w, &d, &oc), XGW_EINVAL);
    m.from = "romeo@example.net";
    m.to = "juliet@example.org"; /* not this stream's peer */
    assert_int_equal(xgw_stanza_write_deliver(&f->w, &d, &oc), XGW_EINVAL);
    m.to = "juliet@";
    assert_int_equal(xgw_stanza_write_deliver(&f->w, &d, &oc), XGW_EINVAL);
    m.to = "juliet@example.com";
    m.body = "bell \x07 rings"; /* IM-09: never reaches the stream */
    assert_int_equal(xgw_stanza_write_deliver(&f->w, &d, &oc), XGW_EINVAL);
    m.body = "bad \xc3\x28 utf-8";
    assert_int_equal(xgw_stanza_write_deliver(&f->w, &d, &oc), XGW_EINVAL);
    m.body = "ok";
    m.subject = "nul\x01";
    assert_int_equal(xgw_stanza_write_deliver(&f->w, &d, &oc), XGW_EINVAL);
    m.subject = "";
    m.body = "";
    assert_int_equal(xgw_stanza_write_deliver(&f->w, &d, &oc), XGW_EINVAL);
    m.body = "ok";
    m.lang = "en gb";
    assert_int_equal(xgw_stanza_write_deliver(&f->w, &d, &oc), XGW_EINVAL);
    m.lang = "";
    assert_int_equal(f->w.len, strlen(keep));
    assert_string_equal(f->w.buf, keep);
    assert_false(f->w.failed);

    /* Too big for the writer: XGW_ETOOBIG, and the writer still works. */
    xgw_xml_writer_t small;
    xgw_xml_writer_init(&small, 64);
    xgw_xml_raw(&small, keep, strlen(keep));
    char body[200];
    memset(body, 'x', sizeof body - 1);
    body[sizeof body - 1] = '\0';
    m.body = body;
    assert_int_equal(xgw_stanza_write_deliver(&small, &d, &oc), XGW_ETOOBIG);
    assert_int_equal(small.len, strlen(keep));
    assert_string_equal(small.buf, keep);
    assert_int_equal(xgw_xml_writer_status(&small), 0);
    xgw_xml_writer_fini(&small);

    /* Empty or inconsistent Delivers. */
    Xgw__V1__Deliver empty = XGW__V1__DELIVER__INIT;
    assert_int_equal(xgw_stanza_write_deliver(&f->w, &empty, &oc), XGW_EINVAL);
    empty.kind_case = XGW__V1__DELIVER__KIND_PRESENCE; /* no presence attached */
    assert_int_equal(xgw_stanza_write_deliver(&f->w, &empty, &oc), XGW_EINVAL);
    assert_int_equal(xgw_stanza_write_deliver(NULL, &d, &oc), XGW_EINVAL);
    assert_int_equal(xgw_stanza_write_deliver(&f->w, NULL, &oc), XGW_EINVAL);
    assert_int_equal(xgw_stanza_write_deliver(&f->w, &d, NULL), XGW_EINVAL);
    assert_string_equal(f->w.buf, keep);
}

static void
test_out_presence(void **state)
{
    s_fix_t *f = *state;
    xgw_stanza_out_ctx_t oc = s_out_ctx();
    Xgw__V1__PresenceInfo p = XGW__V1__PRESENCE_INFO__INIT;
    p.from = "romeo@example.net/orchard";
    p.to = "juliet@example.com/balcony";
    p.available = 1;
    p.show = "dnd";
    p.status = "In a meeting";
    p.lang = "en";
    p.priority = 7;
    Xgw__V1__Deliver d = XGW__V1__DELIVER__INIT;
    d.kind_case = XGW__V1__DELIVER__KIND_PRESENCE;
    d.presence = &p;
    assert_int_equal(xgw_stanza_write_deliver(&f->w, &d, &oc), 0);
    const xgw_xml_node_t *st = s_parse_out(f);
    assert_string_equal(st->name, "presence");
    s_attr_eq(st, "type", NULL);
    s_attr_eq(st, "from", "romeo@example.net/orchard");
    s_attr_eq(st, "to", "juliet@example.com"); /* bare */
    s_attr_eq(st, "id", "xgw-2a");
    assert_string_equal(xgw_xml_attr_ns(st, XGW_XML_NS_XML, "lang"), "en");
    assert_string_equal(xgw_xml_child_text(st, XGW_XML_NS_SERVER, "show"), "dnd");
    assert_string_equal(xgw_xml_child_text(st, XGW_XML_NS_SERVER, "status"), "In a meeting");
    assert_string_equal(xgw_xml_child_text(st, XGW_XML_NS_SERVER, "priority"), "7");

    /* Policy strip_status_note: no status, and no language for it. */
    xgw_xml_writer_clear(&f->w);
    oc.strip_status = true;
    p.show = "busy"; /* PRS-04: not an XMPP value, left out */
    p.priority = 0;
    assert_int_equal(xgw_stanza_write_deliver(&f->w, &d, &oc), 0);
    assert_null(strstr(f->w.buf, "meeting"));
    st = s_parse_out(f);
    assert_null(st->children);
    assert_null(xgw_xml_attr_ns(st, XGW_XML_NS_XML, "lang"));
    oc.strip_status = false;

    /* unavailable: type, status, never show or priority. */
    xgw_xml_writer_clear(&f->w);
    p.available = 0;
    p.show = "away";
    p.priority = 3;
    p.status = "bye";
    assert_int_equal(xgw_stanza_write_deliver(&f->w, &d, &oc), 0);
    st = s_parse_out(f);
    s_attr_eq(st, "type", "unavailable");
    assert_null(xgw_xml_child(st, NULL, "show"));
    assert_null(xgw_xml_child(st, NULL, "priority"));
    assert_string_equal(xgw_xml_child_text(st, XGW_XML_NS_SERVER, "status"), "bye");

    /* probe: bare to bare, nothing inside. */
    xgw_xml_writer_clear(&f->w);
    p.probe = 1;
    assert_int_equal(xgw_stanza_write_deliver(&f->w, &d, &oc), 0);
    st = s_parse_out(f);
    s_attr_eq(st, "type", "probe");
    s_attr_eq(st, "from", "romeo@example.net");
    s_attr_eq(st, "to", "juliet@example.com");
    assert_null(st->children);

    /* priority outside -128..127 is a caller bug. */
    xgw_xml_writer_clear(&f->w);
    p.probe = 0;
    p.available = 1;
    p.priority = 128;
    assert_int_equal(xgw_stanza_write_deliver(&f->w, &d, &oc), XGW_EINVAL);
    p.priority = -129;
    assert_int_equal(xgw_stanza_write_deliver(&f->w, &d, &oc), XGW_EINVAL);
    assert_int_equal(f->w.len, 0);
}

static void
test_out_subscription(void **state)
{
    s_fix_t *f = *state;
    xgw_stanza_out_ctx_t oc = s_out_ctx();
    static const char *const types[] = {"subscribe", "subscribed", "unsubscribe", "unsubscribed"};
    Xgw__V1__SubscriptionOp s = XGW__V1__SUBSCRIPTION_OP__INIT;
    /* ADR-10: a SIP From with gr gives a bare from. */
    s.from = "romeo@example.net/orchard";
    s.to = "juliet@example.com/balcony";
    Xgw__V1__Deliver d = XGW__V1__DELIVER__INIT;
    d.kind_case = XGW__V1__DELIVER__KIND_SUBSCRIPTION;
    d.subscription = &s;
    for (int op = 0; op < 4; op++) {
        xgw_xml_writer_clear(&f->w);
        s.op = (Xgw__V1__SubscriptionOp__Op)op;
        assert_int_equal(xgw_stanza_write_deliver(&f->w, &d, &oc), 0);
        const xgw_xml_node_t *st = s_parse_out(f);
        assert_string_equal(st->name, "presence");
        s_attr_eq(st, "type", types[op]);
        s_attr_eq(st, "from", "romeo@example.net");
        s_attr_eq(st, "to", "juliet@example.com");
        s_attr_eq(st, "id", "xgw-2a");
        assert_null(st->children);
    }
    xgw_xml_writer_clear(&f->w);
    s.op = (Xgw__V1__SubscriptionOp__Op)9;
    assert_int_equal(xgw_stanza_write_deliver(&f->w, &d, &oc), XGW_EINVAL);
    assert_int_equal(f->w.len, 0);
}

/* ------------------------------------------------------------------ */
/* Round trips: Deliver -> XML -> parse -> Deliver, and through protobuf */

/* Writes d as example.com would (the peer's side of the same stream), reads
 * it back as example.net does. */
static Xgw__V1__Deliver *
s_round_trip(s_fix_t *f, const Xgw__V1__Deliver *d)
{
    xgw_stanza_out_ctx_t peer = {.local_domain = S_REMOTE, .remote_domain = S_LOCAL};
    xgw_xml_writer_clear(&f->w);
    assert_int_equal(xgw_stanza_write_deliver(&f->w, d, &peer), 0);
    const xgw_xml_node_t *st = s_parse_out(f);
    assert_int_equal(xgw_stanza_inbound(st, &f->ctx, f->arena, &f->res), 0);
    assert_int_equal(f->res.action, XGW_STANZA_DELIVER);
    Xgw__V1__Deliver *back = f->res.deliver;
    assert_int_equal(back->kind_case, d->kind_case);

    /* And through the wire format the broker carries. */
    size_t n = xgw__v1__deliver__get_packed_size(back);
    uint8_t *buf = xgw_arena_alloc(f->arena, n + 1);
    assert_non_null(buf);
    assert_int_equal(xgw__v1__deliver__pack(back, buf), n);
    Xgw__V1__Deliver *u = xgw__v1__deliver__unpack(NULL, n, buf);
    assert_non_null(u);
    assert_int_equal(u->kind_case, back->kind_case);
    if (u->kind_case == XGW__V1__DELIVER__KIND_MESSAGE)
        assert_string_equal(u->message->body, back->message->body);
    xgw__v1__deliver__free_unpacked(u, NULL);
    return back;
}

static void
test_round_trip(void **state)
{
    s_fix_t *f = *state;
    Xgw__V1__ImMessage m = XGW__V1__IM_MESSAGE__INIT;
    m.from = "juliet@example.com/balcony";
    m.to = "romeo@example.net";
    m.body = "Line one\nline two & <three> \xe2\x82\xac \xf0\x9f\x98\x80 \"q\" 'a'\r\n\ttab";
    m.subject = "S\xc3\xbc"
                "bject";
    m.thread = "call-id-1@host";
    m.lang = "de";
    m.id = "rt-1";
    m.type = "normal";
    Xgw__V1__Deliver d = s_msg_deliver(&m);
    Xgw__V1__ImMessage *b = s_round_trip(f, &d)->message;
    assert_string_equal(b->from, m.from);
    assert_string_equal(b->to, m.to);
    assert_string_equal(b->body, m.body);
    assert_string_equal(b->subject, m.subject);
    assert_string_equal(b->thread, m.thread);
    assert_string_equal(b->lang, m.lang);
    assert_string_equal(b->id, m.id);
    assert_string_equal(b->type, "normal");

    Xgw__V1__PresenceInfo p = XGW__V1__PRESENCE_INFO__INIT;
    p.from = "juliet@example.com/balcony";
    p.to = "romeo@example.net";
    p.available = 1;
    p.show = "xa";
    p.status = "Gone fishing";
    p.lang = "en";
    p.priority = -5;
    Xgw__V1__Deliver dp = XGW__V1__DELIVER__INIT;
    dp.kind_case = XGW__V1__DELIVER__KIND_PRESENCE;
    dp.presence = &p;
    Xgw__V1__PresenceInfo *bp = s_round_trip(f, &dp)->presence;
    assert_string_equal(bp->from, p.from);
    assert_string_equal(bp->to, p.to);
    assert_true(bp->available);
    assert_false(bp->probe);
    assert_string_equal(bp->show, p.show);
    assert_string_equal(bp->status, p.status);
    assert_string_equal(bp->lang, p.lang);
    assert_int_equal(bp->priority, p.priority);

    p.available = 0;
    p.show = "";
    p.priority = 0;
    bp = s_round_trip(f, &dp)->presence;
    assert_false(bp->available);
    assert_string_equal(bp->status, p.status);

    p.probe = 1;
    p.from = "juliet@example.com";
    bp = s_round_trip(f, &dp)->presence;
    assert_true(bp->probe);
    assert_string_equal(bp->from, "juliet@example.com");
    assert_string_equal(bp->to, "romeo@example.net");

    Xgw__V1__SubscriptionOp s = XGW__V1__SUBSCRIPTION_OP__INIT;
    s.from = "juliet@example.com";
    s.to = "romeo@example.net";
    Xgw__V1__Deliver ds = XGW__V1__DELIVER__INIT;
    ds.kind_case = XGW__V1__DELIVER__KIND_SUBSCRIPTION;
    ds.subscription = &s;
    for (int op = 0; op < 4; op++) {
        s.op = (Xgw__V1__SubscriptionOp__Op)op;
        Xgw__V1__SubscriptionOp *bs = s_round_trip(f, &ds)->subscription;
        assert_int_equal(bs->op, s.op);
        assert_string_equal(bs->from, s.from);
        assert_string_equal(bs->to, s.to);
    }
}

/* ------------------------------------------------------------------ */
/* Error stanzas                                                       */

/* A Deliver as an inbound message made it. */
static Xgw__V1__Deliver *
s_inbound_message(s_fix_t *f)
{
    return s_expect_message(f, "<message from='juliet@example.com/balcony' "
                               "to='romeo@example.net' id='m-42'><body>hi</body></message>")
               ? f->res.deliver
               : NULL;
}

static void
test_deliver_error_message(void **state)
{
    s_fix_t *f = *state;
    xgw_stanza_out_ctx_t oc = s_out_ctx();
    Xgw__V1__Deliver *orig = s_inbound_message(f);
    Xgw__V1__DeliverResult res = XGW__V1__DELIVER_RESULT__INIT;

    /* ERR-02: the checklist's 404 example, with privacy off. */
    res.condition = "item-not-found";
    res.error_type = "cancel";
    res.sip_status = 404;
    res.text = "No such user here";
    oc.privacy = XGW_STANZA_PRIVACY_REVEAL;
    assert_int_equal(xgw_stanza_write_deliver_error(&f->w, orig, &res, &oc), 0);
    const xgw_xml_node_t *st = s_parse_out(f);
    assert_string_equal(st->name, "message");
    s_attr_eq(st, "id", "m-42");
    s_attr_eq(st, "from", "romeo@example.net");
    s_attr_eq(st, "to", "juliet@example.com/balcony");
    s_error_eq(st, "item-not-found", "cancel");
    const xgw_xml_node_t *e = xgw_xml_child(st, XGW_XML_NS_SERVER, "error");
    assert_string_equal(xgw_xml_child_text(e, XGW_STANZA_NS_STANZAS, "text"), "No such user here");

    /* ERR-08, default: service-unavailable, without the reason phrase. */
    xgw_xml_writer_clear(&f->w);
    oc.privacy = XGW_STANZA_PRIVACY_MASK;
    assert_int_equal(xgw_stanza_write_deliver_error(&f->w, orig, &res, &oc), 0);
    st = s_parse_out(f);
    s_error_eq(st, "service-unavailable", "cancel");
    assert_null(strstr(f->w.buf, "item-not-found"));
    assert_null(strstr(f->w.buf, "No such user"));
    /* The same when only the SIP status says so (604). */
    xgw_xml_writer_clear(&f->w);
    res.condition = "";
    res.error_type = "";
    res.sip_status = 604;
    res.text = "";
    assert_int_equal(xgw_stanza_write_deliver_error(&f->w, orig, &res, &oc), 0);
    s_error_eq(s_parse_out(f), "service-unavailable", "cancel");
    /* Drop mode: nothing at all. */
    xgw_xml_writer_clear(&f->w);
    oc.privacy = XGW_STANZA_PRIVACY_DROP;
    assert_int_equal(xgw_stanza_write_deliver_error(&f->w, orig, &res, &oc), 1);
    assert_int_equal(f->w.len, 0);
    oc.privacy = XGW_STANZA_PRIVACY_MASK;

    /* Table 3 when the SIP side gave a status only; its default type. */
    res.sip_status = 486;
    assert_int_equal(xgw_stanza_write_deliver_error(&f->w, orig, &res, &oc), 0);
    s_error_eq(s_parse_out(f), "recipient-unavailable", "wait");
    xgw_xml_writer_clear(&f->w);
    res.sip_status = 599;
    assert_int_equal(xgw_stanza_write_deliver_error(&f->w, orig, &res, &oc), 0);
    s_error_eq(s_parse_out(f), "internal-server-error", "cancel");
    /* The condition given wins; a valid type given wins; a bogus one
     * falls back to the default. */
    xgw_xml_writer_clear(&f->w);
    res.condition = "policy-violation";
    res.error_type = "wait";
    res.sip_status = 0;
    assert_int_equal(xgw_stanza_write_deliver_error(&f->w, orig, &res, &oc), 0);
    s_error_eq(s_parse_out(f), "policy-violation", "wait");
    xgw_xml_writer_clear(&f->w);
    res.error_type = "sometimes";
    assert_int_equal(xgw_stanza_write_deliver_error(&f->w, orig, &res, &oc), 0);
    s_error_eq(s_parse_out(f), "policy-violation", "modify");
    /* Nothing usable at all: undefined-condition. */
    xgw_xml_writer_clear(&f->w);
    res.condition = "made-up";
    res.error_type = "";
    assert_int_equal(xgw_stanza_write_deliver_error(&f->w, orig, &res, &oc), 0);
    s_error_eq(s_parse_out(f), "undefined-condition", "cancel");
    /* A text XML cannot carry is left out, the error still goes. */
    xgw_xml_writer_clear(&f->w);
    res.condition = "forbidden";
    res.text = "bad\x01text";
    assert_int_equal(xgw_stanza_write_deliver_error(&f->w, orig, &res, &oc), 0);
    s_error_eq(s_parse_out(f), "forbidden", "auth");
    assert_null(strstr(f->w.buf, "bad"));
    /* The error goes out on the stream to the original sender's domain. */
    xgw_xml_writer_clear(&f->w);
    oc.remote_domain = "example.org";
    assert_int_equal(xgw_stanza_write_deliver_error(&f->w, orig, &res, &oc), XGW_EINVAL);
    assert_int_equal(f->w.len, 0);
}

static void
test_deliver_error_presence(void **state)
{
    s_fix_t *f = *state;
    xgw_stanza_out_ctx_t oc = s_out_ctx();
    Xgw__V1__DeliverResult res = XGW__V1__DELIVER_RESULT__INIT;

    /* PRS-12: a refused probe gets unsubscribed bare to bare, for 403 and
     * 404 alike, so nobody learns who exists. */
    s_expect_presence(f, "<presence from='juliet@example.com/b' to='romeo@example.net' "
                         "type='probe'/>");
    Xgw__V1__Deliver *probe = f->res.deliver;
    static const uint32_t refused[] = {403, 404, 603, 480};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        xgw_xml_writer_clear(&f->w);
        res.sip_status = refused[i];
        assert_int_equal(xgw_stanza_write_deliver_error(&f->w, probe, &res, &oc), 0);
        const xgw_xml_node_t *st = s_parse_out(f);
        s_attr_eq(st, "type", "unsubscribed");
        s_attr_eq(st, "from", "romeo@example.net");
        s_attr_eq(st, "to", "juliet@example.com");
    }
    /* A timeout or a server failure tells nothing: silence. */
    static const uint32_t silent[] = {408, 500, 503};
    for (size_t i = 0; i < sizeof silent / sizeof silent[0]; i++) {
        xgw_xml_writer_clear(&f->w);
        res.sip_status = silent[i];
        assert_int_equal(xgw_stanza_write_deliver_error(&f->w, probe, &res, &oc), 1);
        assert_int_equal(f->w.len, 0);
    }
    /* A policy refusal before SIP was asked. */
    res.sip_status = 0;
    res.condition = "forbidden";
    assert_int_equal(xgw_stanza_write_deliver_error(&f->w, probe, &res, &oc), 0);
    res.condition = "remote-server-timeout";
    xgw_xml_writer_clear(&f->w);
    assert_int_equal(xgw_stanza_write_deliver_error(&f->w, probe, &res, &oc), 1);

    /* Presence broadcasts never bounce. */
    s_expect_presence(f, "<presence from='juliet@example.com/b' to='romeo@example.net'/>");
    res.condition = "item-not-found";
    res.sip_status = 404;
    assert_int_equal(xgw_stanza_write_deliver_error(&f->w, f->res.deliver, &res, &oc), 1);
    assert_int_equal(f->w.len, 0);

    /* SUB-03: 403/489/603 to a subscribe -> unsubscribed. */
    s_expect_sub(f, "<presence from='juliet@example.com/b' to='romeo@example.net' "
                    "type='subscribe'/>");
    Xgw__V1__Deliver *sub = f->res.deliver;
    static const uint32_t cancel[] = {403, 489, 603};
    res.condition = "";
    for (size_t i = 0; i < sizeof cancel / sizeof cancel[0]; i++) {
        xgw_xml_writer_clear(&f->w);
        res.sip_status = cancel[i];
        assert_int_equal(xgw_stanza_write_deliver_error(&f->w, sub, &res, &oc), 0);
        const xgw_xml_node_t *st = s_parse_out(f);
        s_attr_eq(st, "type", "unsubscribed");
        s_attr_eq(st, "from", "romeo@example.net");
        s_attr_eq(st, "to", "juliet@example.com");
    }
    /* ERR-08: 404 says nothing; SUB-04: 423/481 are transient. */
    static const uint32_t quiet[] = {404, 604, 423, 481, 408, 500};
    for (size_t i = 0; i < sizeof quiet / sizeof quiet[0]; i++) {
        xgw_xml_writer_clear(&f->w);
        res.sip_status = quiet[i];
        assert_int_equal(xgw_stanza_write_deliver_error(&f->w, sub, &res, &oc), 1);
        assert_int_equal(f->w.len, 0);
    }
    /* The other operations never answer. */
    s_expect_sub(f, "<presence from='juliet@example.com' to='romeo@example.net' "
                    "type='unsubscribe'/>");
    res.sip_status = 403;
    assert_int_equal(xgw_stanza_write_deliver_error(&f->w, f->res.deliver, &res, &oc), 1);
    Xgw__V1__Deliver empty = XGW__V1__DELIVER__INIT;
    assert_int_equal(xgw_stanza_write_deliver_error(&f->w, &empty, &res, &oc), XGW_EINVAL);
}

static void
test_write_error(void **state)
{
    s_fix_t *f = *state;
    xgw_stanza_error_t e = {.name = "presence",
                            .id = "x1",
                            .from = "romeo@example.net",
                            .to = "juliet@example.com",
                            .condition = "remote-server-timeout",
                            .text = "took too long",
                            .lang = "en"};
    assert_int_equal(xgw_stanza_write_error(&f->w, &e), 0);
    const xgw_xml_node_t *st = s_parse_out(f);
    assert_string_equal(st->name, "presence");
    s_error_eq(st, "remote-server-timeout", "wait");
    const xgw_xml_node_t *t =
        xgw_xml_child(xgw_xml_child(st, XGW_XML_NS_SERVER, "error"), XGW_STANZA_NS_STANZAS, "text");
    assert_non_null(t);
    assert_string_equal(xgw_xml_attr_ns(t, XGW_XML_NS_XML, "lang"), "en");
    size_t len = f->w.len;
    /* Each kind of bad input. */
    e.name = "mesage";
    assert_int_equal(xgw_stanza_write_error(&f->w, &e), XGW_EINVAL);
    e.name = "message";
    e.condition = "not-a-condition";
    assert_int_equal(xgw_stanza_write_error(&f->w, &e), XGW_EINVAL);
    e.condition = NULL;
    assert_int_equal(xgw_stanza_write_error(&f->w, &e), XGW_EINVAL);
    e.condition = "conflict";
    e.error_type = "later";
    assert_int_equal(xgw_stanza_write_error(&f->w, &e), XGW_EINVAL);
    e.error_type = NULL;
    e.to = "";
    assert_int_equal(xgw_stanza_write_error(&f->w, &e), XGW_EINVAL);
    e.to = "juliet@example.com";
    e.from = NULL;
    assert_int_equal(xgw_stanza_write_error(&f->w, &e), XGW_EINVAL);
    e.from = "romeo@example.net";
    e.id = "ctl\x02";
    assert_int_equal(xgw_stanza_write_error(&f->w, &e), XGW_EINVAL);
    assert_int_equal(f->w.len, len);
    assert_false(f->w.failed);
}

static void
test_bad_arguments(void **state)
{
    s_fix_t *f = *state;
    const xgw_xml_node_t *st = s_parse(f, "<presence from='juliet@example.com' "
                                          "to='romeo@example.net'/>");
    assert_int_equal(xgw_stanza_inbound(NULL, &f->ctx, f->arena, &f->res), XGW_EINVAL);
    assert_int_equal(xgw_stanza_inbound(st, NULL, f->arena, &f->res), XGW_EINVAL);
    assert_int_equal(xgw_stanza_inbound(st, &f->ctx, NULL, &f->res), XGW_EINVAL);
    assert_int_equal(xgw_stanza_inbound(st, &f->ctx, f->arena, NULL), XGW_EINVAL);
    f->ctx.served = NULL;
    assert_int_equal(xgw_stanza_inbound(st, &f->ctx, f->arena, &f->res), XGW_EINVAL);
    f->ctx.served = s_served;
    f->ctx.remote_domain = "not a domain";
    assert_int_equal(xgw_stanza_inbound(st, &f->ctx, f->arena, &f->res), XGW_EINVAL);
    assert_int_equal(xgw_stanza_write_answer(NULL, &f->res), XGW_EINVAL);
    assert_int_equal(xgw_stanza_write_answer(&f->w, NULL), XGW_EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_message_im04_example, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_message_body_language, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_message_types, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_message_without_text, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_children_ignored, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_not_authenticated, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_addressing, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_namespaces, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_jid_malformed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_presence, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_subscriptions, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_iq_ping, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_iq_other, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_limits, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_out_message, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_out_refusals, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_out_presence, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_out_subscription, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_round_trip, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_deliver_error_message, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_deliver_error_presence, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_write_error, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
