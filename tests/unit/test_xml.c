/*
 * test_xml.c - the XML layer: the XMPP stream reader (header, stanzas,
 * namespaces and prefixes, the same events whether fed at once or byte by
 * byte, stop and restart), every refusal with its RFC 6120 condition
 * (not-well-formed, restricted-xml, policy-violation, invalid-namespace,
 * unsupported-encoding), the size and depth bounds checked as bytes arrive
 * (a 10 MiB stanza fails near max_stanza), the writer's escaping and
 * limits, round trips parse -> write -> parse, and PIDF documents.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xgw_arena.h"
#include "xgw_error.h"
#include "xgw_xml.h"

#define S_HEADER                                                                                   \
    "<?xml version='1.0'?>"                                                                        \
    "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'"         \
    " xmlns:db='jabber:server:dialback' to='example.net' from='partner.example'"                   \
    " version='1.0' xml:lang='en'>"

#define S_MESSAGE                                                                                  \
    "<message from='juliet@partner.example/balcony' to='romeo@example.net' type='chat'"            \
    " id='m1' xml:lang='en'><body>Hello &amp; &lt;world&gt; &#x263A;</body>"                       \
    "<x xmlns='urn:x:unknown' a='1'/></message>"

#define S_DBRESULT "<db:result from='partner.example' to='example.net'>b4835385f37f</db:result>"

static const char s_stream[] =
    S_HEADER S_MESSAGE " \n\t " S_DBRESULT "\n"
                       "<presence from='juliet@partner.example/balcony'"
                       " to='romeo@example.net'><show>away</show>"
                       "<status xml:lang='fr'>Au balcon</status></presence>"
                       " </stream:stream>";

/* ------------------------------------------------------------------ */
/* A recorder: every event as text, stanzas re-serialized.             */

typedef struct {
    char log[16384];
    size_t len;
    int n_open, n_stanza, n_close;
    xgw_xml_stream_t *rd;
    int stop_at; /* stop after this stanza number (1-based), 0 never */
    const char *stop_name;
    int reset_rc; /* what a reset from inside a callback returned */
    int feed_rc;  /* what a feed from inside a callback returned */
} s_rec_t;

static void
s_logf(s_rec_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->log + r->len, sizeof r->log - r->len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof r->log - r->len);
    r->len += (size_t)n;
}

static void
s_on_open(void *ud, const xgw_xml_node_t *h)
{
    s_rec_t *r = ud;
    r->n_open++;
    s_logf(r, "open{%s}%s:%s", h->ns, h->prefix, h->name);
    for (size_t i = 0; i < h->n_decls; i++)
        s_logf(r, " decl[%s]=%s", h->decl_prefixes[i], h->decl_uris[i]);
    for (size_t i = 0; i < h->n_attrs; i++)
        s_logf(r, " {%s}%s=%s", h->attrs[i].ns, h->attrs[i].name, h->attrs[i].value);
    s_logf(r, "\n");
    r->reset_rc = xgw_xml_stream_reset(r->rd);
    r->feed_rc = xgw_xml_stream_feed(r->rd, "<x/>", 4);
}

static void
s_on_stanza(void *ud, const xgw_xml_node_t *st)
{
    s_rec_t *r = ud;
    r->n_stanza++;
    assert_null(st->parent);
    xgw_xml_writer_t w;
    xgw_xml_writer_init(&w, 65536);
    xgw_xml_write_node(&w, st, XGW_XML_NS_SERVER);
    assert_int_equal(xgw_xml_writer_status(&w), 0);
    s_logf(r, "stanza %s\n", w.buf);
    xgw_xml_writer_fini(&w);
    if (r->stop_at == r->n_stanza || (r->stop_name && strcmp(st->name, r->stop_name) == 0))
        xgw_xml_stream_stop(r->rd);
}

static void
s_on_close(void *ud)
{
    s_rec_t *r = ud;
    r->n_close++;
    s_logf(r, "close\n");
}

static const xgw_xml_stream_cbs_t s_cbs = {s_on_open, s_on_stanza, s_on_close};

static xgw_xml_stream_t *
s_reader(s_rec_t *r, const xgw_xml_limits_t *lim)
{
    memset(r, 0, sizeof *r);
    r->rd = xgw_xml_stream_new(lim, &s_cbs, r);
    assert_non_null(r->rd);
    return r->rd;
}

/* Feeds data in pieces of step bytes (0: at once); returns the first
 * non-zero feed result, 0 when every feed returned 0. */
static int
s_feed(xgw_xml_stream_t *rd, const char *data, size_t len, size_t step)
{
    if (step == 0)
        step = len ? len : 1;
    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step;
        int rc = xgw_xml_stream_feed(rd, data + off, n);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static const char s_expected_log[] =
    "open{http://etherx.jabber.org/streams}stream:stream"
    " decl[]=jabber:server decl[stream]=http://etherx.jabber.org/streams"
    " decl[db]=jabber:server:dialback {}to=example.net {}from=partner.example {}version=1.0"
    " {http://www.w3.org/XML/1998/namespace}lang=en\n"
    "stanza <message from=\"juliet@partner.example/balcony\" to=\"romeo@example.net\""
    " type=\"chat\" id=\"m1\" xml:lang=\"en\"><body>Hello &amp; &lt;world&gt; \xE2\x98\xBA</body>"
    "<x xmlns=\"urn:x:unknown\" a=\"1\"/></message>\n"
    "stanza <db:result xmlns:db=\"jabber:server:dialback\" from=\"partner.example\""
    " to=\"example.net\">b4835385f37f</db:result>\n"
    "stanza <presence from=\"juliet@partner.example/balcony\" to=\"romeo@example.net\">"
    "<show>away</show><status xml:lang=\"fr\">Au balcon</status></presence>\n"
    "close\n";

/* ------------------------------------------------------------------ */
/* Stream reader                                                       */

static void
test_stream_one_buffer(void **state)
{
    (void)state;
    s_rec_t r;
    xgw_xml_stream_t *rd = s_reader(&r, NULL);
    assert_null(xgw_xml_stream_header(rd));
    assert_int_equal(xgw_xml_stream_feed(rd, s_stream, strlen(s_stream)), 0);
    assert_string_equal(r.log, s_expected_log);
    assert_int_equal(r.n_open, 1);
    assert_int_equal(r.n_stanza, 3);
    assert_int_equal(r.n_close, 1);
    /* Callbacks may not reset or feed. */
    assert_int_equal(r.reset_rc, XGW_EINVAL);
    assert_int_equal(r.feed_rc, XGW_EINVAL);
    assert_int_equal(xgw_xml_stream_error(rd), XGW_XML_OK);
    assert_string_equal(xgw_xml_stream_error_detail(rd), "");
    assert_int_equal(xgw_xml_stream_bytes(rd), strlen(s_stream));

    const xgw_xml_node_t *h = xgw_xml_stream_header(rd);
    assert_non_null(h);
    assert_string_equal(xgw_xml_attr(h, "to"), "example.net");
    assert_string_equal(xgw_xml_attr_ns(h, XGW_XML_NS_XML, "lang"), "en");
    assert_null(xgw_xml_attr(h, "lang")); /* xml:lang is namespaced */
    assert_null(xgw_xml_attr(h, "id"));
    assert_int_equal(h->n_decls, 3);
    assert_string_equal(h->prefix, "stream");

    /* Whitespace after the close is fine, anything else is not. */
    assert_int_equal(xgw_xml_stream_feed(rd, " \r\n", 3), 0);
    assert_int_equal(xgw_xml_stream_feed(rd, "<x/>", 4), XGW_EPROTO);
    assert_int_equal(xgw_xml_stream_error(rd), XGW_XML_ERR_SYNTAX);
    xgw_xml_stream_destroy(&rd);
    assert_null(rd);
    xgw_xml_stream_destroy(&rd);
}

static void
test_stream_byte_by_byte(void **state)
{
    (void)state;
    size_t steps[] = {1, 2, 3, 7, 64, 1000};
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        s_rec_t r;
        xgw_xml_stream_t *rd = s_reader(&r, NULL);
        assert_int_equal(s_feed(rd, s_stream, strlen(s_stream), steps[i]), 0);
        assert_string_equal(r.log, s_expected_log);
        assert_int_equal(xgw_xml_stream_bytes(rd), strlen(s_stream));
        xgw_xml_stream_destroy(&rd);
    }
}

static void
test_stream_tree(void **state)
{
    (void)state;
    xgw_arena_t *a = xgw_arena_new(4096);
    xgw_xml_err_t err;
    const char *doc = "<message xmlns='jabber:server' xmlns:e='urn:e' to='x' e:k='v'>"
                      "<body>one</body><e:thing>t</e:thing><body xml:lang='cs'>dva</body>"
                      "<body>three</body>text<!-- no --></message>";
    /* A comment is restricted even in a document. */
    assert_null(xgw_xml_parse_doc(doc, strlen(doc), NULL, a, &err));
    assert_int_equal(err, XGW_XML_ERR_RESTRICTED);

    doc = "<message xmlns='jabber:server' xmlns:e='urn:e' to='x' e:k='v'>"
          "<body>one</body><e:thing>t</e:thing><body xml:lang='cs'>dva</body>"
          "<body>three</body>te<![CDATA[<x>&]]>xt</message>";
    xgw_xml_node_t *m = xgw_xml_parse_doc(doc, strlen(doc), NULL, a, &err);
    assert_non_null(m);
    assert_int_equal(err, XGW_XML_OK);
    assert_string_equal(m->ns, "jabber:server");
    assert_string_equal(m->text, "te<x>&xt");
    assert_int_equal(m->text_len, 8);
    assert_string_equal(xgw_xml_attr(m, "to"), "x");
    assert_null(xgw_xml_attr(m, "k"));
    assert_string_equal(xgw_xml_attr_ns(m, "urn:e", "k"), "v");
    assert_string_equal(m->attrs[1].prefix, "e");
    const xgw_xml_node_t *b = xgw_xml_child(m, XGW_XML_NS_SERVER, "body");
    assert_non_null(b);
    assert_string_equal(b->text, "one");
    assert_ptr_equal(b->parent, m);
    b = xgw_xml_next(b);
    assert_non_null(b);
    assert_string_equal(b->text, "dva");
    assert_string_equal(xgw_xml_attr_ns(b, XGW_XML_NS_XML, "lang"), "cs");
    b = xgw_xml_next(b);
    assert_string_equal(b->text, "three");
    assert_null(xgw_xml_next(b));
    assert_null(xgw_xml_child(m, "urn:other", "body"));
    assert_non_null(xgw_xml_child(m, NULL, "thing"));
    assert_string_equal(xgw_xml_child(m, NULL, "thing")->prefix, "e");
    assert_string_equal(xgw_xml_child_text(m, "urn:e", "thing"), "t");
    assert_null(xgw_xml_child_text(m, NULL, "absent"));
    assert_ptr_equal(xgw_xml_child(m, NULL, NULL), m->children);
    assert_null(xgw_xml_child(NULL, NULL, "x"));
    assert_null(xgw_xml_attr(NULL, "x"));
    /* Empty elements have "" text, never NULL. */
    doc = "<a><b/></a>";
    m = xgw_xml_parse_doc(doc, strlen(doc), NULL, a, &err);
    assert_non_null(m);
    assert_string_equal(xgw_xml_child_text(m, NULL, "b"), "");
    assert_string_equal(m->ns, "");
    xgw_arena_destroy(&a);
}

/* After <starttls/> (or SASL <success/>) nothing that followed in the same
 * read may be used; the stream restarts with a new header. */
static void
test_stream_stop_restart(void **state)
{
    (void)state;
    s_rec_t r;
    xgw_xml_stream_t *rd = s_reader(&r, NULL);
    r.stop_name = "starttls";
    const char in[] = S_HEADER "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
                               "<message><body>injected</body></message>";
    assert_int_equal(xgw_xml_stream_feed(rd, in, strlen(in)), 1);
    assert_int_equal(r.n_stanza, 1);
    assert_int_equal(xgw_xml_stream_error(rd), XGW_XML_OK);
    /* Refused until reset, and nothing more is delivered. */
    assert_int_equal(xgw_xml_stream_feed(rd, "<a/>", 4), XGW_EINVAL);
    assert_int_equal(r.n_stanza, 1);
    assert_int_equal(xgw_xml_stream_bytes(rd), strlen(in));

    assert_int_equal(xgw_xml_stream_reset(rd), 0);
    assert_null(xgw_xml_stream_header(rd));
    r.stop_name = NULL;
    r.len = 0;
    r.log[0] = '\0';
    r.n_open = r.n_stanza = r.n_close = 0;
    /* The new stream may begin with an XML declaration again. */
    assert_int_equal(s_feed(rd, s_stream, strlen(s_stream), 5), 0);
    assert_string_equal(r.log, s_expected_log);
    assert_int_equal(xgw_xml_stream_bytes(rd), strlen(in) + strlen(s_stream));

    /* Stop at the first stanza of a buffer holding three. */
    assert_int_equal(xgw_xml_stream_reset(rd), 0);
    r.n_stanza = 0;
    r.stop_at = 1;
    assert_int_equal(xgw_xml_stream_feed(rd, s_stream, strlen(s_stream)), 1);
    assert_int_equal(r.n_stanza, 1);

    /* A reset after a refusal works too. */
    assert_int_equal(xgw_xml_stream_reset(rd), 0);
    r.stop_at = 0;
    assert_int_equal(xgw_xml_stream_feed(rd, "<bad", 4), 0);
    assert_int_equal(xgw_xml_stream_feed(rd, "/>", 2), XGW_EPROTO);
    assert_int_equal(xgw_xml_stream_error(rd), XGW_XML_ERR_NAMESPACE);
    assert_int_equal(xgw_xml_stream_reset(rd), 0);
    assert_int_equal(xgw_xml_stream_error(rd), XGW_XML_OK);
    assert_int_equal(xgw_xml_stream_feed(rd, S_HEADER, strlen(S_HEADER)), 0);
    assert_non_null(xgw_xml_stream_header(rd));

    /* Stop outside a feed: the next feed is refused. */
    xgw_xml_stream_stop(rd);
    assert_int_equal(xgw_xml_stream_feed(rd, " ", 1), XGW_EINVAL);
    xgw_xml_stream_destroy(&rd);
}

/* A big unfinished start tag followed by a tiny read that completes it:
 * the stanza comes out at once (no reparse deferral). */
static void
test_stream_no_deferral(void **state)
{
    (void)state;
    s_rec_t r;
    xgw_xml_stream_t *rd = s_reader(&r, NULL);
    assert_int_equal(xgw_xml_stream_feed(rd, S_HEADER, strlen(S_HEADER)), 0);
    char big[6000];
    int n = snprintf(big, sizeof big, "<message id='");
    memset(big + n, 'x', 5000);
    n += 5000;
    big[n++] = '\'';
    assert_int_equal(xgw_xml_stream_feed(rd, big, (size_t)n), 0);
    assert_int_equal(r.n_stanza, 0);
    assert_int_equal(xgw_xml_stream_feed(rd, "/", 1), 0);
    assert_int_equal(r.n_stanza, 0);
    assert_int_equal(xgw_xml_stream_feed(rd, ">", 1), 0);
    assert_int_equal(r.n_stanza, 1);
    xgw_xml_stream_destroy(&rd);
}

/* Whitespace keepalives for a long time: fine, and nothing accumulates. */
static void
test_stream_keepalives(void **state)
{
    (void)state;
    s_rec_t r;
    xgw_xml_limits_t lim = {.max_stanza = 4096, .max_tag = 1024};
    xgw_xml_stream_t *rd = s_reader(&r, &lim);
    assert_int_equal(xgw_xml_stream_feed(rd, S_HEADER, strlen(S_HEADER)), 0);
    for (int i = 0; i < 100000; i++)
        assert_int_equal(xgw_xml_stream_feed(rd, i % 2 ? " " : "\n", 1), 0);
    assert_int_equal(xgw_xml_stream_feed(rd, "<presence/>", 11), 0);
    assert_int_equal(r.n_stanza, 1);
    /* Long text inside a stanza streams through too (no max_tag). */
    assert_int_equal(xgw_xml_stream_feed(rd, "<message><body>", 15), 0);
    for (int i = 0; i < 3000; i++)
        assert_int_equal(xgw_xml_stream_feed(rd, "y", 1), 0);
    assert_int_equal(xgw_xml_stream_feed(rd, "</body></message>", 17), 0);
    assert_int_equal(r.n_stanza, 2);
    /* A CDATA section streams too. */
    assert_int_equal(xgw_xml_stream_feed(rd, "<message><body><![CDATA[", 24), 0);
    for (int i = 0; i < 3000; i++)
        assert_int_equal(xgw_xml_stream_feed(rd, &"]a>"[i % 3], 1), 0);
    assert_int_equal(xgw_xml_stream_feed(rd, "x]]></body></message>", 21), 0);
    assert_int_equal(r.n_stanza, 3);
    /* After the close, whitespace is still fine for as long as it lasts. */
    assert_int_equal(xgw_xml_stream_feed(rd, "</stream:stream>", 16), 0);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(xgw_xml_stream_feed(rd, " ", 1), 0);
    assert_int_equal(r.n_close, 1);
    xgw_xml_stream_destroy(&rd);

    /* Before the header too, and a UTF-8 byte order mark is accepted. */
    rd = s_reader(&r, &lim);
    assert_int_equal(xgw_xml_stream_feed(rd, "\xEF\xBB\xBF", 3), 0);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(xgw_xml_stream_feed(rd, "\n", 1), 0);
    const char h[] = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>";
    assert_int_equal(xgw_xml_stream_feed(rd, h, strlen(h)), 0);
    assert_int_equal(r.n_open, 1);
    xgw_xml_stream_destroy(&rd);
}

/* ------------------------------------------------------------------ */
/* Refusals                                                            */

typedef struct {
    const char *what;
    const char *in; /* after S_HEADER unless raw */
    size_t len;     /* 0: strlen */
    bool raw;
    xgw_xml_err_t err;
    const char *condition;
    int rc;
} s_bad_t;

#define S_STR_LEN(s) (sizeof(s) - 1)

static const s_bad_t s_bad[] = {
    {"mismatched tag", "<message><body>x</message>", 0, false, XGW_XML_ERR_SYNTAX,
     "not-well-formed", XGW_EPROTO},
    {"unbound prefix", "<message><foo:body>x</foo:body></message>", 0, false, XGW_XML_ERR_SYNTAX,
     "not-well-formed", XGW_EPROTO},
    {"duplicate attribute", "<message to='a' to='b'/>", 0, false, XGW_XML_ERR_SYNTAX,
     "not-well-formed", XGW_EPROTO},
    {"text at stream level", "<presence/>hello<presence/>", 0, false, XGW_XML_ERR_SYNTAX,
     "not-well-formed", XGW_EPROTO},
    {"control character", "<message><body>a\x01</body></message>", 0, false, XGW_XML_ERR_SYNTAX,
     "not-well-formed", XGW_EPROTO},
    {"bad character reference", "<message><body>&#0;</body></message>", 0, false,
     XGW_XML_ERR_SYNTAX, "not-well-formed", XGW_EPROTO},
    {"second root", "</stream:stream><stream:stream>", 0, false, XGW_XML_ERR_SYNTAX,
     "not-well-formed", XGW_EPROTO},
    {"doctype",
     "<!DOCTYPE stream:stream SYSTEM 'http://example.com/x.dtd'>"
     "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>",
     0, true, XGW_XML_ERR_RESTRICTED, "restricted-xml", XGW_EPROTO},
    {"processing instruction", "<message><?php echo 1; ?></message>", 0, false,
     XGW_XML_ERR_RESTRICTED, "restricted-xml", XGW_EPROTO},
    {"processing instruction before the root",
     "<?xml-stylesheet href='x'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>",
     0, true, XGW_XML_ERR_RESTRICTED, "restricted-xml", XGW_EPROTO},
    {"comment in a stanza", "<message><!-- x --></message>", 0, false, XGW_XML_ERR_RESTRICTED,
     "restricted-xml", XGW_EPROTO},
    {"comment between stanzas", "<presence/><!-- x -->", 0, false, XGW_XML_ERR_RESTRICTED,
     "restricted-xml", XGW_EPROTO},
    {"undefined entity", "<message><body>&lol9;</body></message>", 0, false, XGW_XML_ERR_RESTRICTED,
     "restricted-xml", XGW_EPROTO},
    {"entity in an attribute", "<message to='&xxe;'/>", 0, false, XGW_XML_ERR_RESTRICTED,
     "restricted-xml", XGW_EPROTO},
    {"root without namespace", "<stream version='1.0'>", 0, true, XGW_XML_ERR_NAMESPACE,
     "invalid-namespace", XGW_EPROTO},
    {"root in a wrong namespace", "<stream:stream xmlns:stream='urn:wrong'>", 0, true,
     XGW_XML_ERR_NAMESPACE, "invalid-namespace", XGW_EPROTO},
    {"root with a wrong name", "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>",
     0, true, XGW_XML_ERR_NAMESPACE, "invalid-namespace", XGW_EPROTO},
    {"ISO-8859-1 declared",
     "<?xml version='1.0' encoding='ISO-8859-1'?>"
     "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>",
     0, true, XGW_XML_ERR_ENCODING, "unsupported-encoding", XGW_EPROTO},
    {"UTF-16 declared", "<?xml version='1.0' encoding='UTF-16'?>", 0, true, XGW_XML_ERR_ENCODING,
     "unsupported-encoding", XGW_EPROTO},
    {"overlong C0 AF", "<message><body>\xC0\xAF</body></message>", 0, false, XGW_XML_ERR_ENCODING,
     "unsupported-encoding", XGW_EPROTO},
    {"surrogate ED A0 80", "<message><body>\xED\xA0\x80</body></message>", 0, false,
     XGW_XML_ERR_ENCODING, "unsupported-encoding", XGW_EPROTO},
    {"byte FF", "<message to='\xFF'/>", 0, false, XGW_XML_ERR_ENCODING, "unsupported-encoding",
     XGW_EPROTO},
    {"truncated sequence", "<message><body>\xC3(</body></message>", 0, false, XGW_XML_ERR_ENCODING,
     "unsupported-encoding", XGW_EPROTO},
    {"invalid UTF-8 in a name", "<mess\xE9ge/>", 0, false, XGW_XML_ERR_ENCODING,
     "unsupported-encoding", XGW_EPROTO},
    {"UTF-16 bytes", "\xFF\xFE<\0s\0", 6, true, XGW_XML_ERR_ENCODING, "unsupported-encoding",
     XGW_EPROTO},
    {"too many attributes", "<m a0='' a1='' a2='' a3='' a4='' a5='' a6='' a7='' a8='' a9=''/>", 0,
     false, XGW_XML_ERR_TOO_DEEP, "policy-violation", XGW_ERANGE},
    {"too many declarations",
     "<m xmlns:a0='u' xmlns:a1='u' xmlns:a2='u' xmlns:a3='u' xmlns:a4='u' xmlns:a5='u'"
     " xmlns:a6='u' xmlns:a7='u' xmlns:a8='u' xmlns:a9='u'/>",
     0, false, XGW_XML_ERR_TOO_DEEP, "policy-violation", XGW_ERANGE},
    {"too deep", "<a><a><a><a><a><a><a><a><a>", 0, false, XGW_XML_ERR_TOO_DEEP, "policy-violation",
     XGW_ERANGE},
};

/* Limits small enough for the table: 8 attributes, depth 8. */
static const xgw_xml_limits_t s_small = {.max_stanza = 4096, .max_depth = 8, .max_attrs = 8};

static void
test_refusals(void **state)
{
    (void)state;
    char buf[1024];
    for (size_t i = 0; i < sizeof s_bad / sizeof *s_bad; i++) {
        const s_bad_t *b = &s_bad[i];
        size_t n = b->len ? b->len : strlen(b->in);
        size_t off = 0;
        if (!b->raw) {
            memcpy(buf, S_HEADER, S_STR_LEN(S_HEADER));
            off = S_STR_LEN(S_HEADER);
        }
        assert_true(off + n <= sizeof buf);
        memcpy(buf + off, b->in, n);
        n += off;
        size_t steps[] = {0, 1};
        for (size_t s = 0; s < 2; s++) {
            s_rec_t r;
            xgw_xml_stream_t *rd = s_reader(&r, &s_small);
            int rc = s_feed(rd, buf, n, steps[s]);
            if (rc != b->rc || xgw_xml_stream_error(rd) != b->err)
                fail_msg("%s (step %zu): rc %d err %d, detail '%s'", b->what, steps[s], rc,
                         (int)xgw_xml_stream_error(rd), xgw_xml_stream_error_detail(rd));
            assert_string_equal(xgw_xml_err_condition(xgw_xml_stream_error(rd)), b->condition);
            const char *d = xgw_xml_stream_error_detail(rd);
            assert_true(strncmp(d, "line ", 5) == 0);
            assert_non_null(strstr(d, " col "));
            assert_non_null(strstr(d, ": "));
            /* Refused again until reset. */
            assert_int_equal(xgw_xml_stream_feed(rd, " ", 1), b->rc);
            assert_int_equal(xgw_xml_stream_reset(rd), 0);
            assert_int_equal(xgw_xml_stream_feed(rd, S_HEADER, S_STR_LEN(S_HEADER)), 0);
            xgw_xml_stream_destroy(&rd);
        }
    }
}

static void
test_refusal_details(void **state)
{
    (void)state;
    s_rec_t r;
    xgw_xml_stream_t *rd = s_reader(&r, NULL);
    const char in[] = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>\n"
                      "<message><body>x</message>";
    assert_int_equal(xgw_xml_stream_feed(rd, in, strlen(in)), XGW_EPROTO);
    assert_string_equal(xgw_xml_stream_error_detail(rd), "line 2 col 19: mismatched tag");
    xgw_xml_stream_destroy(&rd);

    rd = s_reader(&r, NULL);
    const char in2[] = S_HEADER "<presence/> x";
    assert_int_equal(xgw_xml_stream_feed(rd, in2, strlen(in2)), XGW_EPROTO);
    assert_non_null(strstr(xgw_xml_stream_error_detail(rd), "character data at stream level"));
    xgw_xml_stream_destroy(&rd);

    assert_string_equal(xgw_xml_err_condition(XGW_XML_OK), "");
    assert_string_equal(xgw_xml_err_condition(XGW_XML_ERR_TOO_BIG), "policy-violation");
    assert_string_equal(xgw_xml_err_condition(XGW_XML_ERR_NOMEM), "internal-server-error");
}

/* A 10 MiB stanza fed in 4 KiB reads fails once max_stanza is passed,
 * whether it is text or one endless attribute. */
static void
test_too_big_early(void **state)
{
    (void)state;
    xgw_xml_limits_t lim;
    xgw_xml_limits_default(&lim);
    assert_int_equal(lim.max_stanza, 256 * 1024);
    const size_t total = 10u << 20, chunk = 4096;
    char *buf = malloc(chunk);
    assert_non_null(buf);
    memset(buf, 'a', chunk);
    const char *starts[] = {"<message><body>", "<message><body>\n", "<message id='"};
    for (size_t k = 0; k < 3; k++) {
        s_rec_t r;
        xgw_xml_stream_t *rd = s_reader(&r, NULL);
        assert_int_equal(xgw_xml_stream_feed(rd, S_HEADER, S_STR_LEN(S_HEADER)), 0);
        assert_int_equal(xgw_xml_stream_feed(rd, starts[k], strlen(starts[k])), 0);
        size_t fed = strlen(starts[k]);
        int rc = 0;
        while (fed < total) {
            rc = xgw_xml_stream_feed(rd, buf, chunk);
            fed += chunk;
            if (rc != 0)
                break;
        }
        assert_int_equal(rc, XGW_ETOOBIG);
        assert_int_equal(xgw_xml_stream_error(rd), XGW_XML_ERR_TOO_BIG);
        assert_string_equal(xgw_xml_err_condition(XGW_XML_ERR_TOO_BIG), "policy-violation");
        /* Text: right after max_stanza; an attribute: at max_tag. */
        size_t bound = k < 2 ? lim.max_stanza : lim.max_tag;
        if (fed <= bound || fed > bound + chunk)
            fail_msg("case %zu: failed after %zu bytes (bound %zu)", k, fed, bound);
        xgw_xml_stream_destroy(&rd);
    }
    free(buf);

    /* Whatever the read size, the bound is exact: max_stanza bytes pass,
     * one more does not. */
    xgw_xml_limits_t small = {.max_stanza = 100};
    char st[128];
    for (size_t size = 99; size <= 101; size++) {
        memset(st, 'z', sizeof st);
        memcpy(st, "<m>", 3);
        memcpy(st + size - 4, "</m>", 4);
        size_t steps[] = {0, 1, 7};
        for (size_t s = 0; s < 3; s++) {
            s_rec_t r;
            xgw_xml_stream_t *rd = s_reader(&r, &small);
            assert_int_equal(xgw_xml_stream_feed(rd, S_HEADER, S_STR_LEN(S_HEADER)), 0);
            int rc = s_feed(rd, st, size, steps[s]);
            assert_int_equal(rc, size <= 100 ? 0 : XGW_ETOOBIG);
            assert_int_equal(r.n_stanza, size <= 100 ? 1 : 0);
            xgw_xml_stream_destroy(&rd);
        }
    }
}

static double
s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 10,000 nested elements: refused at max_depth, quickly, in both readers. */
static void
test_deep_nesting(void **state)
{
    (void)state;
    const size_t depth = 10000;
    char *buf = malloc(depth * 3 + 1);
    assert_non_null(buf);
    for (size_t i = 0; i < depth; i++)
        memcpy(buf + 3 * i, "<a>", 3);
    buf[depth * 3] = '\0';
    double t0 = s_now();
    s_rec_t r;
    xgw_xml_stream_t *rd = s_reader(&r, NULL);
    assert_int_equal(xgw_xml_stream_feed(rd, S_HEADER, S_STR_LEN(S_HEADER)), 0);
    assert_int_equal(xgw_xml_stream_feed(rd, buf, depth * 3), XGW_ERANGE);
    assert_int_equal(xgw_xml_stream_error(rd), XGW_XML_ERR_TOO_DEEP);
    xgw_xml_stream_destroy(&rd);

    rd = s_reader(&r, NULL);
    assert_int_equal(xgw_xml_stream_feed(rd, S_HEADER, S_STR_LEN(S_HEADER)), 0);
    assert_int_equal(s_feed(rd, buf, depth * 3, 1), XGW_ERANGE);
    xgw_xml_stream_destroy(&rd);

    xgw_arena_t *a = xgw_arena_new(4096);
    xgw_xml_err_t err;
    assert_null(xgw_xml_parse_doc(buf, depth * 3, NULL, a, &err));
    assert_int_equal(err, XGW_XML_ERR_TOO_DEEP);
    /* Exactly max_depth is fine. */
    xgw_xml_limits_t lim = {.max_depth = 64};
    char doc[64 * 7 + 1];
    for (size_t i = 0; i < 64; i++)
        memcpy(doc + 3 * i, "<a>", 3);
    for (size_t i = 0; i < 64; i++)
        memcpy(doc + 64 * 3 + 4 * i, "</a>", 4);
    xgw_xml_node_t *root = xgw_xml_parse_doc(doc, 64 * 7, &lim, a, &err);
    assert_non_null(root);
    /* ... and the writer writes it back without recursion. */
    xgw_xml_writer_t w;
    xgw_xml_writer_init(&w, 4096);
    xgw_xml_write_node(&w, root, "");
    assert_int_equal(xgw_xml_writer_status(&w), 0);
    assert_int_equal(w.len, 63 * 3 + 4 + 63 * 4); /* the innermost is <a/> */
    xgw_xml_writer_fini(&w);
    xgw_arena_destroy(&a);
    free(buf);
    assert_true(s_now() - t0 < 2.0);
}

/* Billion laughs: the DOCTYPE is refused before any entity exists. */
static void
test_entity_bomb(void **state)
{
    (void)state;
    const char bomb[] =
        "<?xml version='1.0'?>\n"
        "<!DOCTYPE lolz [\n"
        " <!ENTITY lol 'lol'>\n"
        " <!ENTITY lol1 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>\n"
        " <!ENTITY lol2 '&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;'>\n"
        " <!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>\n"
        " <!ENTITY lol4 '&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;'>\n"
        " <!ENTITY lol5 '&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;'>\n"
        " <!ENTITY lol6 '&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;'>\n"
        " <!ENTITY lol7 '&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;'>\n"
        " <!ENTITY lol8 '&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;'>\n"
        " <!ENTITY lol9 '&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;'>\n"
        "]>\n"
        "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>"
        "<message><body>&lol9;</body></message>";
    double t0 = s_now();
    for (size_t step = 0; step <= 1; step++) {
        s_rec_t r;
        xgw_xml_stream_t *rd = s_reader(&r, NULL);
        assert_int_equal(s_feed(rd, bomb, strlen(bomb), step), XGW_EPROTO);
        assert_int_equal(xgw_xml_stream_error(rd), XGW_XML_ERR_RESTRICTED);
        assert_non_null(strstr(xgw_xml_stream_error_detail(rd), "DOCTYPE"));
        assert_int_equal(r.n_open, 0);
        xgw_xml_stream_destroy(&rd);
    }
    xgw_arena_t *a = xgw_arena_new(4096);
    xgw_xml_err_t err;
    assert_null(xgw_xml_parse_doc(bomb, strlen(bomb), NULL, a, &err));
    assert_int_equal(err, XGW_XML_ERR_RESTRICTED);
    /* External entity (XXE) the same way. */
    const char xxe[] = "<!DOCTYPE r [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><r>&x;</r>";
    assert_null(xgw_xml_parse_doc(xxe, strlen(xxe), NULL, a, &err));
    assert_int_equal(err, XGW_XML_ERR_RESTRICTED);
    xgw_arena_destroy(&a);
    assert_true(s_now() - t0 < 1.0);
}

/* ------------------------------------------------------------------ */
/* Writer                                                              */

static void
test_writer_escaping(void **state)
{
    (void)state;
    xgw_xml_writer_t w;
    xgw_xml_writer_init(&w, 1024);
    assert_int_equal(xgw_xml_writer_status(&w), 0);
    xgw_xml_open(&w, "message");
    xgw_xml_attr_w(&w, "to", "a&b<c>d\"e'f\tg\nh\ri");
    xgw_xml_attr_w(&w, "absent", NULL);
    xgw_xml_open_end(&w);
    const char text[] = "x & y < z > w \" ' \t\n\r caf\xC3\xA9 \xF0\x9F\x98\x80";
    xgw_xml_text_w(&w, text, strlen(text));
    xgw_xml_elem_text(&w, "body", "<b>");
    xgw_xml_elem_text(&w, "skipped", NULL);
    xgw_xml_open(&w, "x");
    xgw_xml_open_close(&w);
    xgw_xml_raw(&w, "<raw/>", 6);
    xgw_xml_close(&w, "message");
    assert_int_equal(xgw_xml_writer_status(&w), 0);
    assert_string_equal(w.buf, "<message to=\"a&amp;b&lt;c&gt;d&quot;e&apos;f&#x9;g&#xA;h&#xD;i\">"
                               "x &amp; y &lt; z &gt; w \" ' \t\n&#xD; caf\xC3\xA9 "
                               "\xF0\x9F\x98\x80<body>&lt;b&gt;</body><x/><raw/></message>");
    assert_int_equal(w.len, strlen(w.buf));

    /* What the parser reads back is what was written. */
    xgw_arena_t *a = xgw_arena_new(4096);
    xgw_xml_err_t err;
    xgw_xml_node_t *n = xgw_xml_parse_doc(w.buf, w.len, NULL, a, &err);
    assert_non_null(n);
    assert_string_equal(xgw_xml_attr(n, "to"), "a&b<c>d\"e'f\tg\nh\ri");
    assert_memory_equal(n->text, text, strlen(text));
    xgw_arena_destroy(&a);

    /* Characters XML 1.0 cannot carry are refused, not replaced. */
    const char *bad[] = {"a\x01",           "\x0B",         "\x1F", "\xEF\xBF\xBE", "\xEF\xBF\xBF",
                         "\xC0\xAF",        "\xED\xA0\x80", "\xFF", "\xC3",         "\xE2\x98",
                         "\xF4\x90\x80\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_false(xgw_xml_chars_valid(bad[i], strlen(bad[i])));
        xgw_xml_writer_clear(&w);
        xgw_xml_text_w(&w, bad[i], strlen(bad[i]));
        assert_true(w.failed);
        assert_int_equal(xgw_xml_writer_status(&w), XGW_EINVAL);
        xgw_xml_writer_clear(&w);
        xgw_xml_attr_w(&w, "a", bad[i]);
        assert_int_equal(xgw_xml_writer_status(&w), XGW_EINVAL);
    }
    /* A NUL inside len bytes is a control character too. */
    xgw_xml_writer_clear(&w);
    xgw_xml_text_w(&w, "a\0b", 3);
    assert_int_equal(xgw_xml_writer_status(&w), XGW_EINVAL);
    const char good[] = "tab\there\r\n \xEF\xBF\xBD \xF4\x8F\xBF\xBF \x7F\xC2\x80";
    assert_true(xgw_xml_chars_valid(good, strlen(good)));
    assert_true(xgw_xml_chars_valid("", 0));
    assert_true(xgw_xml_chars_valid(NULL, 0));

    /* Failure is sticky until cleared or rewound. */
    xgw_xml_writer_clear(&w);
    assert_int_equal(w.len, 0);
    xgw_xml_raw(&w, "<a>", 3);
    size_t saved = w.len;
    xgw_xml_text_w(&w, "\x02", 1);
    assert_true(w.failed);
    xgw_xml_text_w(&w, "ok", 2);
    assert_int_equal(w.len, saved);
    w.len = saved;
    w.failed = false;
    assert_int_equal(xgw_xml_writer_status(&w), 0);
    xgw_xml_text_w(&w, "ok", 2);
    assert_string_equal(w.buf, "<a>ok");
    xgw_xml_writer_fini(&w);
    assert_null(w.buf);
    assert_int_equal(w.len, 0);
}

static void
test_writer_limits(void **state)
{
    (void)state;
    xgw_xml_writer_t w;
    xgw_xml_writer_init(&w, 10);
    assert_null(w.buf); /* nothing allocated yet */
    xgw_xml_raw(&w, "0123456789", 10);
    assert_int_equal(xgw_xml_writer_status(&w), 0);
    assert_int_equal(w.len, 10);
    assert_string_equal(w.buf, "0123456789");
    xgw_xml_raw(&w, "x", 1);
    assert_true(w.failed);
    assert_int_equal(xgw_xml_writer_status(&w), XGW_ETOOBIG);
    assert_int_equal(w.len, 10);
    /* Escapes count: "&" becomes 5 bytes. */
    xgw_xml_writer_clear(&w);
    assert_int_equal(xgw_xml_writer_status(&w), 0);
    xgw_xml_text_w(&w, "&&", 2);
    assert_int_equal(xgw_xml_writer_status(&w), 0);
    xgw_xml_text_w(&w, "&", 1);
    assert_int_equal(xgw_xml_writer_status(&w), XGW_ETOOBIG);
    xgw_xml_writer_fini(&w);

    /* A big output grows geometrically up to the bound. */
    xgw_xml_writer_init(&w, 1 << 20);
    for (int i = 0; i < 100000; i++)
        xgw_xml_text_w(&w, "0123456789", 10);
    assert_int_equal(xgw_xml_writer_status(&w), 0);
    assert_int_equal(w.len, 1000000);
    assert_true(w.cap <= (1 << 20) + 1);
    for (int i = 0; i < 10000; i++)
        xgw_xml_text_w(&w, "0123456789", 10);
    assert_int_equal(xgw_xml_writer_status(&w), XGW_ETOOBIG);
    assert_true(w.len <= 1 << 20);
    xgw_xml_writer_fini(&w);

    /* write_node: NULL node and hand-made trees without parents. */
    xgw_xml_writer_init(&w, 100);
    xgw_xml_write_node(&w, NULL, NULL);
    assert_int_equal(xgw_xml_writer_status(&w), XGW_EINVAL);
    xgw_xml_writer_clear(&w);
    xgw_xml_node_t child = {.ns = "", .name = "c", .prefix = "", .text = ""};
    xgw_xml_node_t top = {.ns = "", .name = "t", .prefix = "", .text = "", .children = &child};
    xgw_xml_write_node(&w, &top, NULL);
    assert_int_equal(xgw_xml_writer_status(&w), XGW_EINVAL);
    xgw_xml_writer_clear(&w);
    child.parent = &top;
    xgw_xml_attr_t at = {.ns = "urn:a", .name = "k", .value = "v"};
    child.attrs = &at;
    child.n_attrs = 1;
    xgw_xml_write_node(&w, &top, NULL);
    assert_int_equal(xgw_xml_writer_status(&w), 0);
    assert_string_equal(w.buf, "<t><c xmlns:ns0=\"urn:a\" ns0:k=\"v\"/></t>");
    xgw_xml_writer_fini(&w);
}

/* ------------------------------------------------------------------ */
/* Round trips                                                         */

/* Same names, namespaces, prefixes, attributes, text and shape; walked
 * without recursion. */
static void
s_assert_same_tree(const xgw_xml_node_t *a, const xgw_xml_node_t *b)
{
    const xgw_xml_node_t *ta = a;
    for (;;) {
        assert_string_equal(a->ns, b->ns);
        assert_string_equal(a->name, b->name);
        assert_string_equal(a->prefix, b->prefix);
        assert_int_equal(a->text_len, b->text_len);
        assert_memory_equal(a->text, b->text, a->text_len);
        assert_int_equal(a->text_pos, b->text_pos);
        assert_int_equal(a->n_attrs, b->n_attrs);
        for (size_t i = 0; i < a->n_attrs; i++) {
            assert_string_equal(a->attrs[i].ns, b->attrs[i].ns);
            assert_string_equal(a->attrs[i].name, b->attrs[i].name);
            assert_string_equal(a->attrs[i].value, b->attrs[i].value);
            assert_string_equal(a->attrs[i].prefix, b->attrs[i].prefix);
        }
        if (a->children) {
            assert_non_null(b->children);
            a = a->children;
            b = b->children;
            continue;
        }
        assert_null(b->children);
        for (;;) {
            if (a == ta)
                return;
            if (a->next) {
                assert_non_null(b->next);
                a = a->next;
                b = b->next;
                break;
            }
            assert_null(b->next);
            a = a->parent;
            b = b->parent;
        }
    }
}

static const char *s_round[] = {
    S_MESSAGE,
    S_DBRESULT,
    "<db:verify xmlns:db='jabber:server:dialback' from='a' to='b' id='i'>k</db:verify>",
    "<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>",
    "<message><body>mixed <b>bold</b> and <i>it<u>a</u>lic</i>!</body>\n  \n</message>",
    "<message><x xmlns='urn:a'><y xmlns='urn:b'><z/></y><w/></x><q xmlns=''/></message>",
    "<message xmlns:e='urn:e' e:attr='1'><e:x e:y='2' xml:lang='de'><e:z/></e:x></message>",
    "<message><p:a xmlns:p='urn:p1'><p:a xmlns:p='urn:p2' p:k='v'/></p:a></message>",
    "<message><body>&#xD;&#x9;\r\n&#xA;<![CDATA[c]]d>]]></body></message>",
    "<presence><show>dnd</show><c xmlns='http://jabber.org/protocol/caps' hash='sha-1'"
    " node='n' ver='v='/></presence>",
    "<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
    "</stream:error>",
    /* Prefixes declared on the stream header only. */
    "<message stream:a='1' db:b='2' c='3'><db:x db:y='4'/></message>",
};

static void
s_round_on_stanza(void *ud, const xgw_xml_node_t *st)
{
    int *count = ud;
    (*count)++;
    /* Standalone ("" context): the output parses alone to the same tree. */
    xgw_xml_writer_t w;
    xgw_xml_writer_init(&w, 65536);
    xgw_xml_write_node(&w, st, "");
    assert_int_equal(xgw_xml_writer_status(&w), 0);
    xgw_arena_t *a = xgw_arena_new(4096);
    xgw_xml_err_t err;
    xgw_xml_node_t *again = xgw_xml_parse_doc(w.buf, w.len, NULL, a, &err);
    if (!again)
        fail_msg("reparse failed (%s): %s", xgw_xml_err_condition(err), w.buf);
    s_assert_same_tree(st, again);
    /* Writing the re-parsed tree gives the same bytes. */
    xgw_xml_writer_t w2;
    xgw_xml_writer_init(&w2, 65536);
    xgw_xml_write_node(&w2, again, "");
    assert_string_equal(w.buf, w2.buf);
    xgw_xml_writer_fini(&w2);
    xgw_arena_destroy(&a);
    xgw_xml_writer_fini(&w);
}

static void
test_round_trip(void **state)
{
    (void)state;
    int count = 0;
    xgw_xml_stream_cbs_t cbs = {NULL, s_round_on_stanza, NULL};
    xgw_xml_stream_t *rd = xgw_xml_stream_new(NULL, &cbs, &count);
    assert_non_null(rd);
    assert_int_equal(xgw_xml_stream_feed(rd, S_HEADER, S_STR_LEN(S_HEADER)), 0);
    for (size_t i = 0; i < sizeof s_round / sizeof *s_round; i++)
        assert_int_equal(xgw_xml_stream_feed(rd, s_round[i], strlen(s_round[i])), 0);
    assert_int_equal(count, (int)(sizeof s_round / sizeof *s_round));
    xgw_xml_stream_destroy(&rd);

    /* Exact output in the stream's context. */
    xgw_arena_t *a = xgw_arena_new(4096);
    xgw_xml_err_t err;
    const char *doc = "<message xmlns='jabber:server'><body>a<b/>c</body>"
                      "<x xmlns='urn:x'><y/></x><n xmlns=''/></message>";
    xgw_xml_node_t *m = xgw_xml_parse_doc(doc, strlen(doc), NULL, a, &err);
    assert_non_null(m);
    xgw_xml_writer_t w;
    xgw_xml_writer_init(&w, 4096);
    xgw_xml_write_node(&w, m, NULL);
    assert_string_equal(w.buf, "<message xmlns=\"jabber:server\"><body>a<b/>c</body>"
                               "<x xmlns=\"urn:x\"><y/></x><n xmlns=\"\"/></message>");
    /* The body alone, into a jabber:server context: no declaration needed. */
    xgw_xml_writer_clear(&w);
    xgw_xml_write_node(&w, m->children, XGW_XML_NS_SERVER);
    assert_string_equal(w.buf, "<body>a<b/>c</body>");
    /* Into a jabber:client context: the namespace is declared. */
    xgw_xml_writer_clear(&w);
    xgw_xml_write_node(&w, m->children, XGW_XML_NS_CLIENT);
    assert_string_equal(w.buf, "<body xmlns=\"jabber:server\">a<b/>c</body>");
    /* A no-namespace element into a namespaced context gets xmlns="". */
    xgw_xml_writer_clear(&w);
    xgw_xml_write_node(&w, m->children->next->next, XGW_XML_NS_SERVER);
    assert_string_equal(w.buf, "<n xmlns=\"\"/>");
    xgw_xml_writer_fini(&w);
    xgw_arena_destroy(&a);
}

/* ------------------------------------------------------------------ */
/* PIDF                                                                */

static const char s_pidf[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"\n"
    "    xmlns:im=\"urn:ietf:params:xml:ns:pidf:im\"\n"
    "    xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\"\n"
    "    xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\"\n"
    "    entity=\"pres:someone@example.com\">\n"
    "  <tuple id=\"ID-balcony\">\n"
    "    <status>\n"
    "      <basic>open</basic>\n"
    "      <im:im>busy</im:im>\n"
    "      <show xmlns=\"jabber:client\">dnd</show>\n"
    "    </status>\n"
    "    <contact priority=\"0.8\">im:someone@mobilecarrier.net</contact>\n"
    "    <note xml:lang=\"en\">Don't Disturb Please!</note>\n"
    "    <note xml:lang=\"fr\">Ne d\xC3\xA9rangez pas, s'il vous pla\xC3\xAEt</note>\n"
    "    <timestamp>2001-10-27T16:49:29Z</timestamp>\n"
    "  </tuple>\n"
    "  <dm:person id=\"p1\"><rpid:activities><rpid:busy/></rpid:activities></dm:person>\n"
    "  <x:unknown xmlns:x=\"urn:example:unknown\" x:flag=\"1\">ignored</x:unknown>\n"
    "  <note>Presence note</note>\n"
    "</presence>\n";

#define S_PIDF "urn:ietf:params:xml:ns:pidf"

static void
test_pidf(void **state)
{
    (void)state;
    xgw_arena_t *a = xgw_arena_new(4096);
    xgw_xml_err_t err = XGW_XML_ERR_SYNTAX;
    xgw_xml_node_t *p = xgw_xml_parse_doc(s_pidf, strlen(s_pidf), NULL, a, &err);
    assert_non_null(p);
    assert_int_equal(err, XGW_XML_OK);
    assert_string_equal(p->ns, S_PIDF);
    assert_string_equal(p->name, "presence");
    assert_null(p->parent);
    assert_string_equal(xgw_xml_attr(p, "entity"), "pres:someone@example.com");
    assert_int_equal(p->n_decls, 4);
    const xgw_xml_node_t *t = xgw_xml_child(p, S_PIDF, "tuple");
    assert_non_null(t);
    assert_string_equal(xgw_xml_attr(t, "id"), "ID-balcony");
    assert_null(xgw_xml_next(t));
    const xgw_xml_node_t *st = xgw_xml_child(t, S_PIDF, "status");
    assert_string_equal(xgw_xml_child_text(st, S_PIDF, "basic"), "open");
    assert_string_equal(xgw_xml_child_text(st, "urn:ietf:params:xml:ns:pidf:im", "im"), "busy");
    assert_string_equal(xgw_xml_child_text(st, XGW_XML_NS_CLIENT, "show"), "dnd");
    assert_null(xgw_xml_child(st, S_PIDF, "show"));
    const xgw_xml_node_t *note = xgw_xml_child(t, S_PIDF, "note");
    assert_string_equal(note->text, "Don't Disturb Please!");
    assert_string_equal(xgw_xml_attr_ns(note, XGW_XML_NS_XML, "lang"), "en");
    note = xgw_xml_next(note);
    assert_string_equal(note->text, "Ne d\xC3\xA9rangez pas, s'il vous pla\xC3\xAEt");
    assert_string_equal(xgw_xml_attr_ns(note, XGW_XML_NS_XML, "lang"), "fr");
    assert_string_equal(xgw_xml_child_text(p, S_PIDF, "note"), "Presence note");
    const xgw_xml_node_t *u = xgw_xml_child(p, "urn:example:unknown", "unknown");
    assert_non_null(u);
    assert_string_equal(u->prefix, "x");
    assert_string_equal(xgw_xml_attr_ns(u, "urn:example:unknown", "flag"), "1");
    const xgw_xml_node_t *person =
        xgw_xml_child(p, "urn:ietf:params:xml:ns:pidf:data-model", "person");
    assert_non_null(xgw_xml_child(xgw_xml_child(person, NULL, "activities"),
                                  "urn:ietf:params:xml:ns:pidf:rpid", "busy"));

    /* Round trip as a standalone document. */
    xgw_xml_writer_t w;
    xgw_xml_writer_init(&w, 65536);
    xgw_xml_write_node(&w, p, "");
    assert_int_equal(xgw_xml_writer_status(&w), 0);
    xgw_xml_node_t *again = xgw_xml_parse_doc(w.buf, w.len, NULL, a, &err);
    assert_non_null(again);
    s_assert_same_tree(p, again);
    xgw_xml_writer_fini(&w);

    /* Malformed or refused PIDF bodies. */
    static const struct {
        const char *doc;
        xgw_xml_err_t err;
    } bad[] = {
        {"", XGW_XML_ERR_SYNTAX},
        {"   ", XGW_XML_ERR_SYNTAX},
        {"<?xml version='1.0'?>", XGW_XML_ERR_SYNTAX},
        {"<presence xmlns='urn:ietf:params:xml:ns:pidf'><tuple id='a'></presence>",
         XGW_XML_ERR_SYNTAX},
        {"<presence xmlns='urn:ietf:params:xml:ns:pidf'><tuple", XGW_XML_ERR_SYNTAX},
        {"<presence xmlns='urn:ietf:params:xml:ns:pidf'>", XGW_XML_ERR_SYNTAX},
        {"<presence/><presence/>", XGW_XML_ERR_SYNTAX},
        {"<presence/>junk", XGW_XML_ERR_SYNTAX},
        {"<presence><im:im>x</im:im></presence>", XGW_XML_ERR_SYNTAX},
        {"<presence>\x01</presence>", XGW_XML_ERR_SYNTAX},
        {"<?xml version='1.0' encoding='ISO-8859-1'?><presence/>", XGW_XML_ERR_ENCODING},
        {"<presence><note>caf\xE9</note></presence>", XGW_XML_ERR_ENCODING},
        {"<presence><note>caf\xC3</note></presence>", XGW_XML_ERR_ENCODING},
        {"<presence>\xC3", XGW_XML_ERR_ENCODING},
        {"<!DOCTYPE presence><presence/>", XGW_XML_ERR_RESTRICTED},
        {"<presence><!-- c --></presence>", XGW_XML_ERR_RESTRICTED},
        {"<presence/><?pi x?>", XGW_XML_ERR_RESTRICTED},
        {"<presence>&nbsp;</presence>", XGW_XML_ERR_RESTRICTED},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err = XGW_XML_OK;
        xgw_xml_node_t *n = xgw_xml_parse_doc(bad[i].doc, strlen(bad[i].doc), NULL, a, &err);
        if (n || err != bad[i].err)
            fail_msg("bad PIDF %zu: got %p err %d, want err %d", i, (void *)n, (int)err,
                     (int)bad[i].err);
    }
    /* The whole document counts against max_stanza. */
    xgw_xml_limits_t lim = {.max_stanza = strlen(s_pidf) - 1};
    assert_null(xgw_xml_parse_doc(s_pidf, strlen(s_pidf), &lim, a, &err));
    assert_int_equal(err, XGW_XML_ERR_TOO_BIG);
    lim.max_stanza = strlen(s_pidf);
    assert_non_null(xgw_xml_parse_doc(s_pidf, strlen(s_pidf), &lim, a, &err));
    lim.max_depth = 2;
    assert_null(xgw_xml_parse_doc(s_pidf, strlen(s_pidf), &lim, a, &err));
    assert_int_equal(err, XGW_XML_ERR_TOO_DEEP);
    /* NULL arguments. */
    assert_null(xgw_xml_parse_doc(NULL, 5, NULL, a, &err));
    assert_null(xgw_xml_parse_doc(s_pidf, strlen(s_pidf), NULL, NULL, &err));
    xgw_arena_destroy(&a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_one_buffer),
        cmocka_unit_test(test_stream_byte_by_byte),
        cmocka_unit_test(test_stream_tree),
        cmocka_unit_test(test_stream_stop_restart),
        cmocka_unit_test(test_stream_no_deferral),
        cmocka_unit_test(test_stream_keepalives),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_refusal_details),
        cmocka_unit_test(test_too_big_early),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_entity_bomb),
        cmocka_unit_test(test_writer_escaping),
        cmocka_unit_test(test_writer_limits),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_pidf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
