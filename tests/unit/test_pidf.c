/*
 * test_pidf.c - PIDF build and parse (lib/xgw_pidf.h) with the RFC 7248
 * mapping: build -> parse round trips, the exact document for the PRS-04
 * example, tuple ids (PRS-02), priorities (PRS-05), hand-written documents
 * in the style of RFC 3863, baresip, Kamailio and OCS/Lync (RPID,
 * data-model persons, several tuples, namespaces under various prefixes,
 * PRS-06), the several-tuple rule, and malformed input (not XML, wrong
 * root, restricted XML, missing parts, over-size, truncations and byte
 * flips of a good document).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xgw_arena.h"
#include "xgw_error.h"
#include "xgw_pidf.h"
#include "xgw_xml.h"

static xgw_arena_t *s_arena;

static int
s_setup(void **state)
{
    (void)state;
    s_arena = xgw_arena_new(8192);
    return s_arena ? 0 : -1;
}

static int
s_teardown(void **state)
{
    (void)state;
    xgw_arena_destroy(&s_arena);
    return 0;
}

/* Parses a NUL-terminated document; asserts the return code. */
static void
s_parse_rc(const char *doc, int want, xgw_pidf_t *out)
{
    xgw_arena_reset(s_arena);
    int rc = xgw_pidf_parse(doc, strlen(doc), s_arena, out);
    if (rc != want)
        fail_msg("parse: rc %d (%s), want %d, doc: %.200s", rc, xgw_strerror(rc), want, doc);
    if (rc != 0) {
        assert_null(out->entity);
        assert_int_equal(out->n_tuples, 0);
        assert_int_equal(out->best, -1);
    }
}

/* Builds p into w (cleared first); asserts success. */
static const char *
s_build(const xgw_pidf_t *p, xgw_xml_writer_t *w)
{
    xgw_xml_writer_clear(w);
    int rc = xgw_pidf_build(p, w);
    if (rc != 0)
        fail_msg("build: rc %d", rc);
    return w->buf;
}

/* ---- build ------------------------------------------------------------- */

static void
test_build_prs04_exact(void **state)
{
    (void)state;
    xgw_pidf_tuple_t t = {.resource = "balcony",
                          .basic = XGW_PIDF_BASIC_OPEN,
                          .show = XGW_PIDF_SHOW_DND,
                          .note = "In a meeting",
                          .note_lang = "en"};
    xgw_pidf_t p = {.entity = "pres:juliet@example.com", .tuples = &t, .n_tuples = 1};
    xgw_xml_writer_t w;
    xgw_xml_writer_init(&w, 65536);
    const char *doc = s_build(&p, &w);
    assert_string_equal(doc, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                             "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\""
                             " xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\""
                             " xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\""
                             " entity=\"pres:juliet@example.com\">"
                             "<tuple id=\"ID-balcony\"><status><basic>open</basic>"
                             "<show xmlns=\"jabber:client\">dnd</show></status>"
                             "<note xml:lang=\"en\">In a meeting</note></tuple>"
                             "<dm:person id=\"person\"><rpid:activities><rpid:busy/>"
                             "</rpid:activities></dm:person></presence>");
    /* Available without show: no show element, no person. */
    t.show = XGW_PIDF_SHOW_NONE;
    t.note = NULL;
    t.note_lang = NULL;
    doc = s_build(&p, &w);
    assert_string_equal(doc, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                             "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\""
                             " entity=\"pres:juliet@example.com\">"
                             "<tuple id=\"ID-balcony\"><status><basic>open</basic></status>"
                             "</tuple></presence>");
    xgw_xml_writer_fini(&w);
}

static void
test_build_show_rpid(void **state)
{
    (void)state;
    static const struct {
        xgw_pidf_show_t show;
        const char *show_el;  /* expected jabber:client show or NULL */
        const char *activity; /* expected RPID activity or NULL */
    } cases[] = {
        {XGW_PIDF_SHOW_NONE, NULL, NULL},
        {XGW_PIDF_SHOW_CHAT, ">chat</show>", NULL},
        {XGW_PIDF_SHOW_AWAY, ">away</show>", "<rpid:away/>"},
        {XGW_PIDF_SHOW_XA, ">xa</show>", "<rpid:away/>"},
        {XGW_PIDF_SHOW_DND, ">dnd</show>", "<rpid:busy/>"},
    };
    xgw_xml_writer_t w;
    xgw_xml_writer_init(&w, 65536);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        xgw_pidf_tuple_t t = {.resource = "r", .basic = XGW_PIDF_BASIC_OPEN, .show = cases[i].show};
        xgw_pidf_t p = {.entity = "pres:a@example.com", .tuples = &t, .n_tuples = 1};
        const char *doc = s_build(&p, &w);
        if (cases[i].show_el)
            assert_non_null(strstr(doc, cases[i].show_el));
        else
            assert_null(strstr(doc, "<show"));
        if (cases[i].activity)
            assert_non_null(strstr(doc, cases[i].activity));
        else
            assert_null(strstr(doc, "person"));
        /* And it reads back as the same show. */
        xgw_pidf_t back;
        s_parse_rc(doc, 0, &back);
        assert_int_equal(back.show, cases[i].show);
        /* A closed tuple carries no show at all. */
        t.basic = XGW_PIDF_BASIC_CLOSED;
        doc = s_build(&p, &w);
        assert_null(strstr(doc, "<show"));
        assert_null(strstr(doc, "rpid"));
        assert_non_null(strstr(doc, "<basic>closed</basic>"));
    }
    xgw_xml_writer_fini(&w);
}

static void
test_build_round_trip(void **state)
{
    (void)state;
    xgw_pidf_tuple_t t[3] = {
        {.resource = "balcony",
         .basic = XGW_PIDF_BASIC_OPEN,
         .show = XGW_PIDF_SHOW_AWAY,
         .note = "Out <back> at 5 & \"later\" 'ok'",
         .note_lang = "en-GB",
         .has_priority = true,
         .priority = 5,
         .contact = "sip:juliet@example.com;gr=balcony"},
        {.resource = "K\xc3\xbc"
                     "che",
         .basic = XGW_PIDF_BASIC_OPEN,
         .show = XGW_PIDF_SHOW_CHAT,
         .has_priority = true,
         .priority = 10,
         .contact = "sip:juliet@example.com;gr=K%C3%BCche"},
        {.resource = "1 phone:x/\xc3\xbc", .basic = XGW_PIDF_BASIC_CLOSED},
    };
    xgw_pidf_t p = {.entity = "pres:juliet@example.com", .tuples = t, .n_tuples = 3};
    xgw_xml_writer_t w;
    xgw_xml_writer_init(&w, 65536);
    const char *doc = s_build(&p, &w);
    xgw_pidf_t back;
    s_parse_rc(doc, 0, &back);
    assert_string_equal(back.entity, "pres:juliet@example.com");
    assert_int_equal(back.n_tuples, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(back.tuples[i].resource, t[i].resource);
        assert_int_equal(back.tuples[i].basic, t[i].basic);
        assert_int_equal(back.tuples[i].show, t[i].show);
        assert_int_equal(back.tuples[i].has_priority, t[i].has_priority);
        if (t[i].has_priority)
            assert_int_equal(back.tuples[i].priority, t[i].priority);
    }
    assert_string_equal(back.tuples[0].note, t[0].note);
    assert_string_equal(back.tuples[0].note_lang, "en-GB");
    assert_string_equal(back.tuples[0].contact, t[0].contact);
    assert_null(back.tuples[1].note);
    assert_null(back.tuples[2].note);
    assert_null(back.tuples[2].contact);
    /* The most available: both open, priority 10 beats 5. */
    assert_int_equal(back.best, 1);
    assert_int_equal(back.basic, XGW_PIDF_BASIC_OPEN);
    assert_int_equal(back.show, XGW_PIDF_SHOW_CHAT);
    assert_int_equal(back.priority, 10);
    /* The person activity follows the most available tuple (chat: none). */
    assert_null(strstr(doc, "person"));
    xgw_xml_writer_fini(&w);
}

static void
test_build_summary_only(void **state)
{
    (void)state;
    /* No tuples: one tuple for the bare JID, id "ID-". */
    xgw_pidf_t p = {.entity = "pres:juliet@example.com",
                    .basic = XGW_PIDF_BASIC_CLOSED,
                    .note = "gone fishing",
                    .note_lang = "en"};
    xgw_xml_writer_t w;
    xgw_xml_writer_init(&w, 65536);
    const char *doc = s_build(&p, &w);
    assert_non_null(strstr(doc, "<tuple id=\"ID-\">"));
    xgw_pidf_t back;
    s_parse_rc(doc, 0, &back);
    assert_int_equal(back.n_tuples, 1);
    assert_null(back.tuples[0].resource);
    assert_int_equal(back.basic, XGW_PIDF_BASIC_CLOSED);
    assert_string_equal(back.note, "gone fishing");
    assert_string_equal(back.note_lang, "en");
    xgw_xml_writer_fini(&w);
}

static void
test_tuple_ids_prs02(void **state)
{
    (void)state;
    char id[4096];
    assert_int_equal(xgw_pidf_tuple_id("1 phone:x/\xc3\xbc", id, sizeof id), 0);
    assert_string_equal(id, "ID-1_20phone_3Ax_2F_C3_BC");
    assert_int_equal(xgw_pidf_tuple_id("balcony", id, sizeof id), 0);
    assert_string_equal(id, "ID-balcony");
    /* '_' itself is escaped, so two resources never share an id. */
    char id2[64];
    assert_int_equal(xgw_pidf_tuple_id("a_20b", id, sizeof id), 0);
    assert_int_equal(xgw_pidf_tuple_id("a b", id2, sizeof id2), 0);
    assert_string_equal(id, "ID-a_5F20b");
    assert_string_equal(id2, "ID-a_20b");
    assert_int_equal(xgw_pidf_tuple_id(NULL, id, sizeof id), 0);
    assert_string_equal(id, "ID-");
    assert_int_equal(xgw_pidf_tuple_id("", id, sizeof id), XGW_EINVAL);
    assert_int_equal(xgw_pidf_tuple_id("abc", id2, 6), XGW_ERANGE);
    assert_string_equal(id2, "");
    assert_int_equal(xgw_pidf_tuple_id("abc", id2, 7), 0);
    /* Stable across builds, and different resources give different ids. */
    xgw_pidf_tuple_t t[2] = {{.resource = "1 phone:x/\xc3\xbc", .basic = XGW_PIDF_BASIC_OPEN},
                             {.resource = "1 phone:x/\xc3\xbd", .basic = XGW_PIDF_BASIC_OPEN}};
    xgw_pidf_t p = {.entity = "pres:a@example.com", .tuples = t, .n_tuples = 2};
    xgw_xml_writer_t w;
    xgw_xml_writer_init(&w, 65536);
    char first[4096];
    snprintf(first, sizeof first, "%s", s_build(&p, &w));
    assert_string_equal(s_build(&p, &w), first);
    assert_non_null(strstr(first, "id=\"ID-1_20phone_3Ax_2F_C3_BC\""));
    assert_non_null(strstr(first, "id=\"ID-1_20phone_3Ax_2F_C3_BD\""));
    xgw_xml_writer_fini(&w);
}

static void
test_priority_prs05(void **state)
{
    (void)state;
    char q[XGW_PIDF_PRIORITY_LEN];
    assert_int_equal(xgw_pidf_priority_format(0, q, sizeof q), 0);
    assert_string_equal(q, "0");
    assert_int_equal(xgw_pidf_priority_format(1, q, sizeof q), 0);
    assert_string_equal(q, "0.007");
    assert_int_equal(xgw_pidf_priority_format(126, q, sizeof q), 0);
    assert_string_equal(q, "0.992");
    assert_int_equal(xgw_pidf_priority_format(127, q, sizeof q), 0);
    assert_string_equal(q, "1");
    assert_int_equal(xgw_pidf_priority_format(-5, q, sizeof q), XGW_ERANGE);
    assert_int_equal(xgw_pidf_priority_format(128, q, sizeof q), XGW_ERANGE);
    assert_int_equal(xgw_pidf_priority_format(5, q, 3), XGW_ERANGE);
    /* One-to-one, at most 3 decimals, and exact round trips. */
    char seen[128][XGW_PIDF_PRIORITY_LEN];
    for (int p = 0; p <= 127; p++) {
        assert_int_equal(xgw_pidf_priority_format(p, seen[p], sizeof seen[p]), 0);
        const char *dot = strchr(seen[p], '.');
        assert_true(!dot || strlen(dot + 1) <= 3);
        for (int k = 0; k < p; k++)
            assert_string_not_equal(seen[k], seen[p]);
        int back = -1;
        assert_int_equal(xgw_pidf_priority_parse(seen[p], &back), 0);
        assert_int_equal(back, p);
    }
    /* Foreign qvalues. */
    static const struct {
        const char *q;
        int p;
    } ok[] = {{"0.8", 102}, {"0.5", 64},  {"1.0", 127}, {"1.000", 127}, {" 0.25 ", 32},
              {"0.", 0},    {"0.000", 0}, {"1", 127},   {"0.001", 1}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int p = -1;
        assert_int_equal(xgw_pidf_priority_parse(ok[i].q, &p), 0);
        assert_int_equal(p, ok[i].p);
    }
    static const char *const bad[] = {"",    "2",  "1.001", "0.1234", "-0.5",
                                      "abc", ".5", "0,5",   "0.5x",   "01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int p = 77;
        assert_int_equal(xgw_pidf_priority_parse(bad[i], &p), XGW_EINVAL);
        assert_int_equal(p, 77);
    }
    assert_int_equal(xgw_pidf_priority_parse(NULL, &(int){0}), XGW_EINVAL);

    /* In documents: negative priority gives no attribute; no contact, no
     * priority either. */
    xgw_pidf_tuple_t t = {.resource = "r",
                          .basic = XGW_PIDF_BASIC_OPEN,
                          .has_priority = true,
                          .priority = -5,
                          .contact = "sip:a@example.com"};
    xgw_pidf_t p = {.entity = "pres:a@example.com", .tuples = &t, .n_tuples = 1};
    xgw_xml_writer_t w;
    xgw_xml_writer_init(&w, 65536);
    const char *doc = s_build(&p, &w);
    assert_non_null(strstr(doc, "<contact>sip:a@example.com</contact>"));
    t.priority = 1;
    doc = s_build(&p, &w);
    assert_non_null(strstr(doc, "<contact priority=\"0.007\">"));
    t.contact = NULL;
    doc = s_build(&p, &w);
    assert_null(strstr(doc, "priority"));
    assert_null(strstr(doc, "contact"));
    xgw_xml_writer_fini(&w);
}

static void
test_build_notes(void **state)
{
    (void)state;
    xgw_xml_writer_t w;
    xgw_xml_writer_init(&w, 65536);
    /* A note over the limit is cut at a character boundary: "a" then
     * e-acutes, so octet 1024 is the second half of one and the cut backs
     * off to 1023. */
    char note[3000];
    note[0] = 'a';
    for (size_t i = 0; i < 1000; i++)
        memcpy(note + 1 + i * 2, "\xc3\xa9", 2);
    note[2001] = '\0';
    xgw_pidf_tuple_t t = {.resource = "r", .basic = XGW_PIDF_BASIC_OPEN, .note = note};
    xgw_pidf_t p = {.entity = "pres:a@example.com", .tuples = &t, .n_tuples = 1};
    const char *doc = s_build(&p, &w);
    xgw_pidf_t back;
    s_parse_rc(doc, 0, &back);
    assert_int_equal(strlen(back.note), XGW_PIDF_NOTE_MAX - 1);
    assert_memory_equal(back.note, note, XGW_PIDF_NOTE_MAX - 1);
    /* A note of exactly the limit is kept whole. */
    memset(note, 'n', XGW_PIDF_NOTE_MAX);
    note[XGW_PIDF_NOTE_MAX] = '\0';
    doc = s_build(&p, &w);
    s_parse_rc(doc, 0, &back);
    assert_int_equal(strlen(back.note), XGW_PIDF_NOTE_MAX);
    /* An empty note is no note. */
    t.note = "";
    doc = s_build(&p, &w);
    assert_null(strstr(doc, "<note"));
    xgw_xml_writer_fini(&w);
}

static void
test_build_errors(void **state)
{
    (void)state;
    xgw_xml_writer_t w;
    xgw_xml_writer_init(&w, 65536);
    xgw_pidf_tuple_t good = {.resource = "r", .basic = XGW_PIDF_BASIC_OPEN};
    xgw_pidf_t p = {.entity = "pres:a@example.com", .tuples = &good, .n_tuples = 1};
    assert_int_equal(xgw_pidf_build(&p, &w), 0);
    struct {
        xgw_pidf_tuple_t t;
        const char *entity;
    } bad[] = {
        {{.resource = "r", .basic = XGW_PIDF_BASIC_OPEN}, NULL},
        {{.resource = "r", .basic = XGW_PIDF_BASIC_OPEN}, ""},
        {{.resource = "r", .basic = XGW_PIDF_BASIC_OPEN}, "pres:\x01@x"},
        {{.resource = "r", .basic = XGW_PIDF_BASIC_UNKNOWN}, NULL},
        {{.resource = "r", .basic = XGW_PIDF_BASIC_OPEN, .show = (xgw_pidf_show_t)9}, NULL},
        {{.resource = "r", .basic = XGW_PIDF_BASIC_OPEN, .has_priority = true, .priority = 128},
         NULL},
        {{.resource = "r", .basic = XGW_PIDF_BASIC_OPEN, .has_priority = true, .priority = -129},
         NULL},
        {{.id = "1abc", .basic = XGW_PIDF_BASIC_OPEN}, NULL},
        {{.id = "a b", .basic = XGW_PIDF_BASIC_OPEN}, NULL},
        {{.id = "person", .basic = XGW_PIDF_BASIC_OPEN}, NULL},
        {{.resource = "", .basic = XGW_PIDF_BASIC_OPEN}, NULL},
        {{.resource = "r\x01", .basic = XGW_PIDF_BASIC_OPEN}, NULL},
        {{.resource = "r", .basic = XGW_PIDF_BASIC_OPEN, .note = "a\x01"}, NULL},
        {{.resource = "r", .basic = XGW_PIDF_BASIC_OPEN, .note = "a\xc3"}, NULL},
        {{.resource = "r", .basic = XGW_PIDF_BASIC_OPEN, .note = "x", .note_lang = "en us"}, NULL},
        {{.resource = "r", .basic = XGW_PIDF_BASIC_OPEN, .note = "x", .note_lang = ""}, NULL},
        {{.resource = "r", .basic = XGW_PIDF_BASIC_OPEN, .contact = ""}, NULL},
        {{.resource = "r", .basic = XGW_PIDF_BASIC_OPEN, .contact = "sip:\xff"}, NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        xgw_pidf_t q = {.entity = i < 3 ? bad[i].entity : "pres:a@example.com",
                        .tuples = &bad[i].t,
                        .n_tuples = 1};
        xgw_xml_writer_clear(&w);
        int rc = xgw_pidf_build(&q, &w);
        if (rc != XGW_EINVAL)
            fail_msg("bad build #%zu: rc %d", i, rc);
        assert_int_equal(w.len, 0); /* refused before writing */
    }
    /* Two tuples, one id: by resource or by given id. */
    xgw_pidf_tuple_t dup[2] = {{.resource = "r", .basic = XGW_PIDF_BASIC_OPEN},
                               {.resource = "r", .basic = XGW_PIDF_BASIC_CLOSED}};
    xgw_pidf_t q = {.entity = "pres:a@example.com", .tuples = dup, .n_tuples = 2};
    xgw_xml_writer_clear(&w);
    assert_int_equal(xgw_pidf_build(&q, &w), XGW_EINVAL);
    dup[0].id = "ID-x";
    dup[1].resource = "x";
    xgw_xml_writer_clear(&w);
    assert_int_equal(xgw_pidf_build(&q, &w), XGW_EINVAL);
    dup[1].resource = "y";
    xgw_xml_writer_clear(&w);
    assert_int_equal(xgw_pidf_build(&q, &w), 0);
    /* Too many tuples, tuples NULL, p NULL. */
    xgw_pidf_tuple_t many[XGW_PIDF_TUPLES_MAX + 1];
    memset(many, 0, sizeof many);
    char names[XGW_PIDF_TUPLES_MAX + 1][8];
    for (size_t i = 0; i < XGW_PIDF_TUPLES_MAX + 1; i++) {
        snprintf(names[i], sizeof names[i], "r%zu", i);
        many[i].resource = names[i];
        many[i].basic = XGW_PIDF_BASIC_OPEN;
    }
    q.tuples = many;
    q.n_tuples = XGW_PIDF_TUPLES_MAX;
    xgw_xml_writer_clear(&w);
    assert_int_equal(xgw_pidf_build(&q, &w), 0);
    q.n_tuples = XGW_PIDF_TUPLES_MAX + 1;
    xgw_xml_writer_clear(&w);
    assert_int_equal(xgw_pidf_build(&q, &w), XGW_EINVAL);
    q.tuples = NULL;
    q.n_tuples = 1;
    assert_int_equal(xgw_pidf_build(&q, &w), XGW_EINVAL);
    assert_int_equal(xgw_pidf_build(NULL, &w), XGW_EINVAL);
    assert_int_equal(xgw_pidf_build(&p, NULL), XGW_EINVAL);
    xgw_xml_writer_fini(&w);
    /* A writer too small for the document. */
    xgw_xml_writer_init(&w, 64);
    assert_int_equal(xgw_pidf_build(&p, &w), XGW_ETOOBIG);
    assert_true(w.failed);
    xgw_xml_writer_fini(&w);
}

/* ---- parse: documents as others write them ------------------------------ */

/* RFC 3863 section 3.4 style: a prefixed PIDF namespace, extensions with
 * mustUnderstand, two notes, a presence-level note, timestamps. */
static const char s_rfc3863[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<impp:presence xmlns:impp=\"urn:ietf:params:xml:ns:pidf\"\n"
    "    xmlns:myex=\"http://id.example.com/presence/\"\n"
    "    xmlns:im=\"urn:ietf:params:xml:ns:pidf:im\"\n"
    "    entity=\"pres:someone@example.com\">\n"
    "  <impp:tuple id=\"bs35r9\">\n"
    "    <impp:status>\n"
    "      <impp:basic>open</impp:basic>\n"
    "      <im:im>busy</im:im>\n"
    "      <myex:location impp:mustUnderstand=\"true\">home</myex:location>\n"
    "    </impp:status>\n"
    "    <impp:contact priority=\"0.8\">im:someone@mobilecarrier.net</impp:contact>\n"
    "    <impp:note xml:lang=\"en\">Don't Disturb Please!</impp:note>\n"
    "    <impp:note xml:lang=\"fr\">Ne d\xc3\xa9rangez pas, s'il vous pla\xc3\xaet</impp:note>\n"
    "    <impp:timestamp>2001-10-27T16:49:29Z</impp:timestamp>\n"
    "  </impp:tuple>\n"
    "  <impp:tuple id=\"eg92n8\">\n"
    "    <impp:status>\n"
    "      <impp:basic>open</impp:basic>\n"
    "    </impp:status>\n"
    "    <impp:contact priority=\"1.0\">mailto:someone@example.com</impp:contact>\n"
    "  </impp:tuple>\n"
    "  <impp:note>I'll be in Tokyo next week</impp:note>\n"
    "</impp:presence>\n";

static void
test_parse_rfc3863(void **state)
{
    (void)state;
    xgw_pidf_t p;
    s_parse_rc(s_rfc3863, 0, &p);
    assert_string_equal(p.entity, "pres:someone@example.com");
    assert_int_equal(p.n_tuples, 2);
    const xgw_pidf_tuple_t *a = &p.tuples[0], *b = &p.tuples[1];
    assert_string_equal(a->id, "bs35r9");
    assert_string_equal(a->resource, "bs35r9"); /* no GRUU, no ID- form */
    assert_int_equal(a->basic, XGW_PIDF_BASIC_OPEN);
    assert_int_equal(a->show, XGW_PIDF_SHOW_NONE); /* im:im is not RPID */
    assert_string_equal(a->contact, "im:someone@mobilecarrier.net");
    assert_true(a->has_priority);
    assert_int_equal(a->priority, 102);
    assert_string_equal(a->note, "Don't Disturb Please!"); /* the first note */
    assert_string_equal(a->note_lang, "en");
    /* The second tuple has no note: the presence-level one. */
    assert_string_equal(b->note, "I'll be in Tokyo next week");
    assert_null(b->note_lang);
    assert_int_equal(b->priority, 127);
    /* Summary: priority 1.0 beats 0.8. */
    assert_int_equal(p.best, 1);
    assert_int_equal(p.basic, XGW_PIDF_BASIC_OPEN);
    assert_string_equal(p.note, "I'll be in Tokyo next week");
    assert_int_equal(p.priority, 127);
}

/* baresip style: RPID busy in a dm:person; standalone declaration. */
static const char s_baresip[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\r\n"
    "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"\r\n"
    "    xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\"\r\n"
    "    xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\"\r\n"
    "    entity=\"sip:alice@example.net\">\r\n"
    "<dm:person id=\"p4159\"><rpid:activities><rpid:busy/></rpid:activities></dm:person>\r\n"
    "<tuple id=\"t4109\"><status><basic>open</basic></status>"
    "<contact>sip:alice@example.net</contact></tuple>\r\n"
    "</presence>\r\n";

static void
test_parse_baresip(void **state)
{
    (void)state;
    xgw_pidf_t p;
    s_parse_rc(s_baresip, 0, &p);
    assert_string_equal(p.entity, "sip:alice@example.net");
    assert_int_equal(p.n_tuples, 1);
    assert_int_equal(p.basic, XGW_PIDF_BASIC_OPEN);
    assert_int_equal(p.show, XGW_PIDF_SHOW_DND); /* person busy applies */
    assert_false(p.has_priority);
    assert_string_equal(p.tuples[0].resource, "t4109");
    assert_null(p.note);
}

/* Kamailio presence aggregation style: several tuples, single quotes,
 * other prefixes (p:, d:, r:), a GRUU contact, ids in our form, the
 * person's note and activity, a CIPID extension. */
static const char s_kamailio[] =
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    "<p:presence xmlns:p='urn:ietf:params:xml:ns:pidf'"
    " xmlns:d='urn:ietf:params:xml:ns:pidf:data-model'"
    " xmlns:r='urn:ietf:params:xml:ns:pidf:rpid'"
    " xmlns:c='urn:ietf:params:xml:ns:pidf:cipid' entity='sip:bob@example.net'>\n"
    " <p:tuple id='0x7f3a2c'><p:status><p:basic>closed</p:basic></p:status></p:tuple>\n"
    " <p:tuple id='a1b2'><p:status><p:basic>open</p:basic></p:status>\n"
    "  <p:contact priority='0.5'>sip:bob@example.net;gr=urn:uuid:f81d4fae-7dec</p:contact>\n"
    "  <p:note xml:lang='de'>Am Schreibtisch</p:note></p:tuple>\n"
    " <p:tuple id='ID-my_20phone'><p:status><p:basic>open</p:basic></p:status>\n"
    "  <p:contact priority='0.5'>sip:bob@192.0.2.9:5060;transport=tcp</p:contact></p:tuple>\n"
    " <d:person id='bob'><r:activities><r:unknown/><r:on-the-phone/></r:activities>\n"
    "  <d:note>On the phone</d:note><c:display-name>Bob</c:display-name></d:person>\n"
    "</p:presence>";

static void
test_parse_kamailio(void **state)
{
    (void)state;
    xgw_pidf_t p;
    s_parse_rc(s_kamailio, 0, &p);
    assert_int_equal(p.n_tuples, 3);
    const xgw_pidf_tuple_t *t = p.tuples;
    assert_int_equal(t[0].basic, XGW_PIDF_BASIC_CLOSED);
    assert_int_equal(t[0].show, XGW_PIDF_SHOW_NONE); /* closed: no show */
    assert_string_equal(t[0].resource, "0x7f3a2c");
    /* The person's note is the fallback for tuples without one. */
    assert_string_equal(t[0].note, "On the phone");
    /* GRUU contact gives the resource. */
    assert_string_equal(t[1].resource, "urn:uuid:f81d4fae-7dec");
    assert_string_equal(t[1].note, "Am Schreibtisch");
    assert_string_equal(t[1].note_lang, "de");
    assert_int_equal(t[1].show, XGW_PIDF_SHOW_DND); /* person on-the-phone */
    /* Our id form decodes; the contact has no gr. */
    assert_string_equal(t[2].resource, "my phone");
    /* Two open tuples with equal priority and show: the first wins. */
    assert_int_equal(p.best, 1);
    assert_int_equal(p.show, XGW_PIDF_SHOW_DND);
    assert_int_equal(p.priority, 64);
}

/* OCS/Lync federation style: the draft RPID namespace in <status>, lower
 * case encoding name, vendor elements. */
static const char s_lync[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
    "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\""
    " xmlns:ep=\"urn:ietf:params:xml:ns:pidf:status:rpid-status\""
    " xmlns:ci=\"urn:ietf:params:xml:ns:pidf:cipid\""
    " xmlns:msft=\"http://schemas.microsoft.com/2002/09/sip/presence\""
    " entity=\"sip:carol@lync.example\">"
    "<tuple id=\"0\"><status><basic>open</basic>"
    "<ep:activities><ep:activity>on-the-phone</ep:activity></ep:activities></status>"
    "<contact priority=\"0.800\">sip:carol@lync.example</contact>"
    "<msft:availability aggregate=\"6500\"/></tuple>"
    "<ci:display-name>Carol</ci:display-name>"
    "</presence>";

static void
test_parse_lync(void **state)
{
    (void)state;
    xgw_pidf_t p;
    s_parse_rc(s_lync, 0, &p);
    assert_int_equal(p.n_tuples, 1);
    assert_int_equal(p.basic, XGW_PIDF_BASIC_OPEN);
    assert_int_equal(p.show, XGW_PIDF_SHOW_DND);
    assert_int_equal(p.priority, 102);
    assert_string_equal(p.tuples[0].resource, "0");
}

static void
test_parse_show_rules(void **state)
{
    (void)state;
    static const struct {
        const char *status_ext; /* inside <status> after <basic> */
        const char *person;     /* activities inside the person */
        xgw_pidf_show_t want;
    } cases[] = {
        /* jabber:client show wins over RPID. */
        {"<show xmlns='jabber:client'>xa</show>", "<r:busy/>", XGW_PIDF_SHOW_XA},
        {"<show xmlns='jabber:client'> chat </show>", NULL, XGW_PIDF_SHOW_CHAT},
        /* Unknown values are translated, never passed verbatim. */
        {"<show xmlns='jabber:client'>busy</show>", NULL, XGW_PIDF_SHOW_DND},
        {"<show xmlns='jabber:client'>meal</show>", NULL, XGW_PIDF_SHOW_AWAY},
        {"<show xmlns='jabber:client'>Away</show>", NULL, XGW_PIDF_SHOW_NONE},
        {"<show xmlns='jabber:client'>nonsense</show>", "<r:vacation/>", XGW_PIDF_SHOW_XA},
        /* A show in another namespace is not the XMPP one. */
        {"<show xmlns='urn:x'>dnd</show>", NULL, XGW_PIDF_SHOW_NONE},
        /* RPID in the status. */
        {"<r:activities><r:lunch/></r:activities>", "<r:busy/>", XGW_PIDF_SHOW_AWAY},
        /* Person activities, each group of the 8.4 table. */
        {NULL, "<r:meeting/>", XGW_PIDF_SHOW_DND},
        {NULL, "<r:presentation/>", XGW_PIDF_SHOW_DND},
        {NULL, "<r:performance/>", XGW_PIDF_SHOW_DND},
        {NULL, "<r:appointment/>", XGW_PIDF_SHOW_DND},
        {NULL, "<r:away/>", XGW_PIDF_SHOW_AWAY},
        {NULL, "<r:breakfast/>", XGW_PIDF_SHOW_AWAY},
        {NULL, "<r:dinner/>", XGW_PIDF_SHOW_AWAY},
        {NULL, "<r:shopping/>", XGW_PIDF_SHOW_AWAY},
        {NULL, "<r:in-transit/>", XGW_PIDF_SHOW_AWAY},
        {NULL, "<r:holiday/>", XGW_PIDF_SHOW_XA},
        {NULL, "<r:sleeping/>", XGW_PIDF_SHOW_XA},
        {NULL, "<r:permanent-absence/>", XGW_PIDF_SHOW_XA},
        {NULL, "<r:other>busy</r:other>", XGW_PIDF_SHOW_NONE},
        {NULL, "<r:unknown/>", XGW_PIDF_SHOW_NONE},
        {NULL, "<x:busy xmlns:x='urn:x'/>", XGW_PIDF_SHOW_NONE},
        /* The first mapped activity wins. */
        {NULL, "<r:sleeping/><r:busy/>", XGW_PIDF_SHOW_XA},
        {NULL, NULL, XGW_PIDF_SHOW_NONE},
    };
    char doc[2048];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char person[512] = "";
        if (cases[i].person)
            snprintf(person, sizeof person,
                     "<dm:person id='p'><r:activities>%s</r:activities></dm:person>",
                     cases[i].person);
        snprintf(doc, sizeof doc,
                 "<presence xmlns='urn:ietf:params:xml:ns:pidf'"
                 " xmlns:dm='urn:ietf:params:xml:ns:pidf:data-model'"
                 " xmlns:r='urn:ietf:params:xml:ns:pidf:rpid' entity='pres:a@example.com'>"
                 "<tuple id='t'><status><basic>open</basic>%s</status></tuple>%s</presence>",
                 cases[i].status_ext ? cases[i].status_ext : "", person);
        xgw_pidf_t p;
        s_parse_rc(doc, 0, &p);
        if (p.show != cases[i].want)
            fail_msg("case %zu: show %d want %d", i, p.show, cases[i].want);
    }
}

static void
test_parse_best_tuple(void **state)
{
    (void)state;
    static const struct {
        const char *tuples;
        int best;
    } cases[] = {
        /* open beats closed beats unknown, whatever the order. */
        {"<tuple id='a'><status><basic>closed</basic></status></tuple>"
         "<tuple id='b'><status><basic>open</basic></status></tuple>",
         1},
        {"<tuple id='a'><status><x:y xmlns:x='urn:x'/></status></tuple>"
         "<tuple id='b'><status><basic>closed</basic></status></tuple>",
         1},
        /* Priority: absent counts as 0. */
        {"<tuple id='a'><status><basic>open</basic></status>"
         "<contact priority='0.1'>sip:a@x</contact></tuple>"
         "<tuple id='b'><status><basic>open</basic></status>"
         "<contact priority='0.7'>sip:a@x</contact></tuple>"
         "<tuple id='c'><status><basic>open</basic></status></tuple>",
         1},
        /* Then show: chat > none > away > xa > dnd. */
        {"<tuple id='a'><status><basic>open</basic>"
         "<show xmlns='jabber:client'>dnd</show></status></tuple>"
         "<tuple id='b'><status><basic>open</basic>"
         "<show xmlns='jabber:client'>xa</show></status></tuple>"
         "<tuple id='c'><status><basic>open</basic>"
         "<show xmlns='jabber:client'>away</show></status></tuple>",
         2},
        {"<tuple id='a'><status><basic>open</basic>"
         "<show xmlns='jabber:client'>away</show></status></tuple>"
         "<tuple id='b'><status><basic>open</basic></status></tuple>"
         "<tuple id='c'><status><basic>open</basic>"
         "<show xmlns='jabber:client'>chat</show></status></tuple>",
         2},
        /* Ties: document order. */
        {"<tuple id='a'><status><basic>closed</basic></status></tuple>"
         "<tuple id='b'><status><basic>closed</basic></status></tuple>",
         0},
    };
    char doc[2048];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(doc, sizeof doc,
                 "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:a@example.com'>%s"
                 "</presence>",
                 cases[i].tuples);
        xgw_pidf_t p;
        s_parse_rc(doc, 0, &p);
        if (p.best != cases[i].best)
            fail_msg("case %zu: best %d want %d", i, p.best, cases[i].best);
        assert_int_equal(p.basic, p.tuples[p.best].basic);
        assert_int_equal(p.show, p.tuples[p.best].show);
    }
}

static void
test_parse_edge_cases(void **state)
{
    (void)state;
    xgw_pidf_t p;
    /* No tuples at all: valid, basic unknown, person show kept. */
    s_parse_rc("<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:a@example.com'"
               " xmlns:dm='urn:ietf:params:xml:ns:pidf:data-model'"
               " xmlns:r='urn:ietf:params:xml:ns:pidf:rpid'>"
               "<dm:person id='p'><r:activities><r:away/></r:activities>"
               "<dm:note xml:lang='en'>brb</dm:note></dm:person></presence>",
               0, &p);
    assert_int_equal(p.n_tuples, 0);
    assert_null(p.tuples);
    assert_int_equal(p.best, -1);
    assert_int_equal(p.basic, XGW_PIDF_BASIC_UNKNOWN);
    assert_int_equal(p.show, XGW_PIDF_SHOW_AWAY);
    assert_string_equal(p.note, "brb");
    assert_string_equal(p.note_lang, "en");
    /* Missing <basic>, an empty <status/>, another value: unknown, no error. */
    s_parse_rc("<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:a@example.com'>"
               "<tuple id='a'><status><x:y xmlns:x='urn:x'/></status></tuple>"
               "<tuple id='b'><status/></tuple>"
               "<tuple id='c'><status><basic>maybe</basic></status></tuple>"
               "<tuple id='d'><status><basic>\n  open\n</basic></status></tuple></presence>",
               0, &p);
    assert_int_equal(p.tuples[0].basic, XGW_PIDF_BASIC_UNKNOWN);
    assert_int_equal(p.tuples[1].basic, XGW_PIDF_BASIC_UNKNOWN);
    assert_int_equal(p.tuples[2].basic, XGW_PIDF_BASIC_UNKNOWN);
    assert_int_equal(p.tuples[3].basic, XGW_PIDF_BASIC_OPEN); /* white space trimmed */
    /* <basic> in another namespace is not PIDF's. */
    s_parse_rc("<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:a@example.com'>"
               "<tuple id='a'><status><basic xmlns='urn:x'>open</basic></status></tuple>"
               "</presence>",
               0, &p);
    assert_int_equal(p.basic, XGW_PIDF_BASIC_UNKNOWN);
    /* xml:lang is inherited from the root; xml:lang='' cancels it. */
    s_parse_rc("<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:a@example.com'"
               " xml:lang='cs'><tuple id='a'><status><basic>open</basic></status>"
               "<note>Ahoj</note></tuple><tuple id='b'><status><basic>open</basic></status>"
               "<note xml:lang=''>x</note></tuple></presence>",
               0, &p);
    assert_string_equal(p.tuples[0].note_lang, "cs");
    assert_null(p.tuples[1].note_lang);
    /* Entities and character references in text are decoded. */
    s_parse_rc("<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:a@example.com'>"
               "<tuple id='a'><status><basic>open</basic></status>"
               "<note>a &amp; b &lt;c&gt; &#xE9;</note></tuple></presence>",
               0, &p);
    assert_string_equal(p.note, "a & b <c> \xc3\xa9");
    /* A huge note (within the document limit) is cut, at a boundary. */
    static char doc[40000];
    size_t o = (size_t)snprintf(doc, sizeof doc,
                                "<presence xmlns='urn:ietf:params:xml:ns:pidf' "
                                "entity='pres:a@example.com'><tuple id='a'><status><basic>open"
                                "</basic></status><note>xy");
    for (int i = 0; i < 10000; i++)
        o += (size_t)snprintf(doc + o, sizeof doc - o, "\xe2\x82\xac");
    snprintf(doc + o, sizeof doc - o, "</note></tuple></presence>");
    s_parse_rc(doc, 0, &p);
    assert_int_equal(strlen(p.note), 2 + 340 * 3); /* 1024 would split a euro sign */
    assert_true(xgw_xml_chars_valid(p.note, strlen(p.note)));
    /* Ids of the "ID-" form that do not decode are used as they are. */
    s_parse_rc("<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:a@example.com'>"
               "<tuple id='ID-a_zz'><status><basic>open</basic></status></tuple>"
               "<tuple id='ID-a_00'><status><basic>open</basic></status></tuple>"
               "<tuple id='ID-_C3'><status><basic>open</basic></status></tuple>"
               "<tuple id='ID-'><status><basic>open</basic></status></tuple></presence>",
               0, &p);
    assert_string_equal(p.tuples[0].resource, "ID-a_zz");
    assert_string_equal(p.tuples[1].resource, "ID-a_00"); /* NUL is no resource */
    assert_string_equal(p.tuples[2].resource, "ID-_C3");  /* nor invalid UTF-8 */
    assert_null(p.tuples[3].resource);
    /* A broken priority is ignored, not an error. */
    s_parse_rc("<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:a@example.com'>"
               "<tuple id='a'><status><basic>open</basic></status>"
               "<contact priority='high'>sip:a@example.com</contact></tuple></presence>",
               0, &p);
    assert_false(p.has_priority);
    assert_int_equal(p.priority, 0);
    /* Exactly XGW_PIDF_TUPLES_MAX tuples is fine. */
    o = (size_t)snprintf(doc, sizeof doc,
                         "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:a@x'>");
    for (int i = 0; i < XGW_PIDF_TUPLES_MAX; i++)
        o += (size_t)snprintf(doc + o, sizeof doc - o,
                              "<tuple id='t%d'><status><basic>open</basic></status></tuple>", i);
    snprintf(doc + o, sizeof doc - o, "</presence>");
    s_parse_rc(doc, 0, &p);
    assert_int_equal(p.n_tuples, XGW_PIDF_TUPLES_MAX);
}

/* ---- parse: malformed ---------------------------------------------------- */

static void
test_parse_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "not xml at all",
        "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:a@x'>",
        "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:a@x'><tuple id='a'>"
        "<status><basic>open</basic></status></presence>",
        /* wrong root namespace, no namespace, wrong root name */
        "<presence xmlns='urn:ietf:params:xml:ns:pidf:wrong' entity='pres:a@x'/>",
        "<presence entity='pres:a@x'><tuple id='a'><status><basic>open</basic></status>"
        "</tuple></presence>",
        "<presence xmlns='jabber:client' entity='pres:a@x'/>",
        "<pidf xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:a@x'/>",
        /* no entity, empty entity */
        "<presence xmlns='urn:ietf:params:xml:ns:pidf'/>",
        "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity=''/>",
        /* tuple without id, with an empty id, without status; duplicate ids */
        "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:a@x'>"
        "<tuple><status><basic>open</basic></status></tuple></presence>",
        "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:a@x'>"
        "<tuple id=''><status><basic>open</basic></status></tuple></presence>",
        "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:a@x'>"
        "<tuple id='a'><basic>open</basic></tuple></presence>",
        "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:a@x'>"
        "<tuple id='a'><status><basic>open</basic></status></tuple>"
        "<tuple id='a'><status><basic>closed</basic></status></tuple></presence>",
        /* restricted XML: DOCTYPE with entities, comment, PI */
        "<?xml version='1.0'?><!DOCTYPE presence [<!ENTITY a 'aaaaaaaaaa'>"
        "<!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;'>]>"
        "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='&b;'/>",
        "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:a@x'><!-- c --></presence>",
        "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:a@x'><?pi x?></presence>",
        /* undeclared prefix, bad UTF-8, another encoding */
        "<p:presence entity='pres:a@x'/>",
        "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:\xc3@x'/>",
        "<?xml version='1.0' encoding='ISO-8859-1'?>"
        "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:a@x'/>",
        /* two roots, text after the root */
        "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:a@x'/><presence/>",
        "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:a@x'/>junk",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        xgw_pidf_t p;
        xgw_arena_reset(s_arena);
        int rc = xgw_pidf_parse(bad[i], strlen(bad[i]), s_arena, &p);
        if (rc != XGW_EINVAL)
            fail_msg("malformed #%zu: rc %d", i, rc);
        assert_null(p.entity);
        assert_int_equal(p.best, -1);
    }
    /* Empty and NULL input, NULL arena, NULL out. */
    xgw_pidf_t p;
    assert_int_equal(xgw_pidf_parse("", 0, s_arena, &p), XGW_EINVAL);
    assert_int_equal(xgw_pidf_parse(NULL, 10, s_arena, &p), XGW_EINVAL);
    assert_int_equal(xgw_pidf_parse(s_baresip, strlen(s_baresip), NULL, &p), XGW_EINVAL);
    assert_int_equal(xgw_pidf_parse(s_baresip, strlen(s_baresip), s_arena, NULL), XGW_EINVAL);
    /* A NUL byte inside the given length. */
    assert_int_equal(xgw_pidf_parse(s_baresip, strlen(s_baresip) + 1, s_arena, &p), XGW_EINVAL);
}

static void
test_parse_oversize(void **state)
{
    (void)state;
    xgw_pidf_t p;
    /* Over XGW_PIDF_DOC_MAX: refused before parsing. */
    size_t big = XGW_PIDF_DOC_MAX + 1;
    char *doc = malloc(big + 1);
    assert_non_null(doc);
    size_t o = (size_t)snprintf(doc, big + 1,
                                "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:a@x'>"
                                "<tuple id='a'><status><basic>open</basic></status><note>");
    memset(doc + o, 'n', big - o);
    doc[big] = '\0';
    memcpy(doc + big - 26, "</note></tuple></presence>", 26);
    xgw_arena_reset(s_arena);
    assert_int_equal(xgw_pidf_parse(doc, big, s_arena, &p), XGW_ETOOBIG);
    /* The same document one byte shorter is parsed (note cut). */
    memmove(doc + big - 27, doc + big - 26, 26);
    doc[big - 1] = '\0';
    s_parse_rc(doc, 0, &p);
    assert_int_equal(strlen(p.note), XGW_PIDF_NOTE_MAX);
    free(doc);
    /* More tuples than XGW_PIDF_TUPLES_MAX. */
    static char many[8192];
    o = (size_t)snprintf(many, sizeof many,
                         "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:a@x'>");
    for (int i = 0; i <= XGW_PIDF_TUPLES_MAX; i++)
        o += (size_t)snprintf(many + o, sizeof many - o,
                              "<tuple id='t%d'><status><basic>open</basic></status></tuple>", i);
    snprintf(many + o, sizeof many - o, "</presence>");
    s_parse_rc(many, XGW_ETOOBIG, &p);
    /* Deep nesting is refused. */
    o = (size_t)snprintf(many, sizeof many,
                         "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:a@x'>");
    for (int i = 0; i < 200; i++)
        o += (size_t)snprintf(many + o, sizeof many - o, "<x>");
    for (int i = 0; i < 200; i++)
        o += (size_t)snprintf(many + o, sizeof many - o, "</x>");
    snprintf(many + o, sizeof many - o, "</presence>");
    s_parse_rc(many, XGW_EINVAL, &p);
}

/* Every prefix of a good document, and single-byte changes, give a clean
 * answer (under ASan: no read past the end, no crash). */
static void
test_parse_truncated_and_flipped(void **state)
{
    (void)state;
    const char *docs[] = {s_rfc3863, s_kamailio, s_lync, s_baresip};
    for (size_t d = 0; d < sizeof docs / sizeof docs[0]; d++) {
        size_t len = strlen(docs[d]);
        char *copy = malloc(len);
        assert_non_null(copy);
        for (size_t n = 1; n < len; n++) {
            /* A copy of exactly n bytes, so reading past it is caught. */
            char *part = malloc(n);
            assert_non_null(part);
            memcpy(part, docs[d], n);
            xgw_pidf_t p;
            xgw_arena_reset(s_arena);
            int rc = xgw_pidf_parse(part, n, s_arena, &p);
            /* Only the trailing white space may go. */
            bool tail_ws = strspn(docs[d] + n, " \r\n") == len - n;
            if (tail_ws)
                assert_int_equal(rc, 0);
            else
                assert_int_equal(rc, XGW_EINVAL);
            free(part);
        }
        static const char flips[] = {'<', '>', '&', '\'', '"', '/', '\0', 'x', '\x80', '\xff'};
        for (size_t pos = 0; pos < len; pos += 3) {
            memcpy(copy, docs[d], len);
            copy[pos] = flips[pos % sizeof flips];
            xgw_pidf_t p;
            xgw_arena_reset(s_arena);
            int rc = xgw_pidf_parse(copy, len, s_arena, &p);
            assert_true(rc == 0 || rc == XGW_EINVAL);
            if (rc == 0)
                assert_non_null(p.entity);
        }
        free(copy);
    }
}

static void
test_show_names(void **state)
{
    (void)state;
    assert_null(xgw_pidf_show_name(XGW_PIDF_SHOW_NONE));
    assert_string_equal(xgw_pidf_show_name(XGW_PIDF_SHOW_CHAT), "chat");
    assert_string_equal(xgw_pidf_show_name(XGW_PIDF_SHOW_AWAY), "away");
    assert_string_equal(xgw_pidf_show_name(XGW_PIDF_SHOW_XA), "xa");
    assert_string_equal(xgw_pidf_show_name(XGW_PIDF_SHOW_DND), "dnd");
    assert_null(xgw_pidf_show_name((xgw_pidf_show_t)5));
    assert_int_equal(xgw_pidf_show_from_name("dnd"), XGW_PIDF_SHOW_DND);
    assert_int_equal(xgw_pidf_show_from_name("chat"), XGW_PIDF_SHOW_CHAT);
    assert_int_equal(xgw_pidf_show_from_name("away"), XGW_PIDF_SHOW_AWAY);
    assert_int_equal(xgw_pidf_show_from_name("xa"), XGW_PIDF_SHOW_XA);
    assert_int_equal(xgw_pidf_show_from_name("DND"), XGW_PIDF_SHOW_NONE);
    assert_int_equal(xgw_pidf_show_from_name("busy"), XGW_PIDF_SHOW_NONE);
    assert_int_equal(xgw_pidf_show_from_name(""), XGW_PIDF_SHOW_NONE);
    assert_int_equal(xgw_pidf_show_from_name(NULL), XGW_PIDF_SHOW_NONE);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_prs04_exact),
        cmocka_unit_test(test_build_show_rpid),
        cmocka_unit_test(test_build_round_trip),
        cmocka_unit_test(test_build_summary_only),
        cmocka_unit_test(test_tuple_ids_prs02),
        cmocka_unit_test(test_priority_prs05),
        cmocka_unit_test(test_build_notes),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_parse_rfc3863),
        cmocka_unit_test(test_parse_baresip),
        cmocka_unit_test(test_parse_kamailio),
        cmocka_unit_test(test_parse_lync),
        cmocka_unit_test(test_parse_show_rules),
        cmocka_unit_test(test_parse_best_tuple),
        cmocka_unit_test(test_parse_edge_cases),
        cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test(test_parse_oversize),
        cmocka_unit_test(test_parse_truncated_and_flipped),
        cmocka_unit_test(test_show_names),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
