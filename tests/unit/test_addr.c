/*
 * test_addr.c - SIP URI <-> JID mapping (lib/xgw_addr.h): every address
 * vector of checklist section 9 in both directions with round trips, the
 * ADR-01..10 test cases, name-addr forms, JID checks, and each kind of bad
 * input (empty user, no '@', bad escapes, invalid UTF-8, over-long parts,
 * control characters, small buffers), plus a deterministic fuzz loop that
 * checks the mapping is stable (SIP -> JID -> SIP -> JID gives the same JID).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "xgw_addr.h"
#include "xgw_error.h"

static char s_jid[XGW_JID_MAX + 1];
static char s_uri[XGW_SIP_URI_MAX + 1];

/* SIP -> JID must succeed with exactly want. */
static void
s_s2x(const char *uri, unsigned flags, const char *want)
{
    xgw_addr_why_t why = XGW_ADDR_BUFFER;
    int rc = xgw_addr_sip_to_jid(uri, flags, s_jid, sizeof s_jid, &why);
    if (rc != 0 || strcmp(s_jid, want) != 0)
        fail_msg("sip_to_jid(%s): rc=%d why=%s got \"%s\" want \"%s\"", uri, rc,
                 xgw_addr_why_name(why), s_jid, want);
    assert_int_equal(why, XGW_ADDR_OK);
}

/* SIP -> JID must fail with code and reason. */
static void
s_s2x_bad(const char *uri, int code, xgw_addr_why_t want_why)
{
    xgw_addr_why_t why = XGW_ADDR_OK;
    memcpy(s_jid, "sentinel", 9);
    int rc = xgw_addr_sip_to_jid(uri, 0, s_jid, sizeof s_jid, &why);
    if (rc != code || why != want_why)
        fail_msg("sip_to_jid(%s): rc=%d why=%s, want rc=%d why=%s (out \"%s\")", uri, rc,
                 xgw_addr_why_name(why), code, xgw_addr_why_name(want_why), s_jid);
    assert_string_equal(s_jid, "");
}

static void
s_x2s(const char *jid, xgw_addr_scheme_t scheme, unsigned flags, const char *want)
{
    xgw_addr_why_t why = XGW_ADDR_BUFFER;
    int rc = xgw_addr_jid_to_sip(jid, scheme, flags, s_uri, sizeof s_uri, &why);
    if (rc != 0 || strcmp(s_uri, want) != 0)
        fail_msg("jid_to_sip(%s): rc=%d why=%s got \"%s\" want \"%s\"", jid, rc,
                 xgw_addr_why_name(why), s_uri, want);
    assert_int_equal(why, XGW_ADDR_OK);
}

static void
s_x2s_bad(const char *jid, int code, xgw_addr_why_t want_why)
{
    xgw_addr_why_t why = XGW_ADDR_OK;
    memcpy(s_uri, "sentinel", 9);
    int rc = xgw_addr_jid_to_sip(jid, XGW_ADDR_SCHEME_SIP, 0, s_uri, sizeof s_uri, &why);
    if (rc != code || why != want_why)
        fail_msg("jid_to_sip(%s): rc=%d why=%s, want rc=%d why=%s", jid, rc, xgw_addr_why_name(why),
                 code, xgw_addr_why_name(want_why));
    assert_string_equal(s_uri, "");
}

/* ---- section 9 ---------------------------------------------------------- */

/* Vectors that start on the SIP side: input, JID, and the URI it maps back
 * to (the canonical spelling). */
static const struct {
    const char *sip;
    const char *jid;
    const char *back;
} s_sip_vectors[] = {
    {"sip:f%C3%BC@sip.example", "f\xc3\xbc@sip.example", "sip:f%C3%BC@sip.example"},
    {"sip:o'malley@sip.example", "o\\27malley@sip.example", "sip:o'malley@sip.example"},
    {"sip:foo@sip.example;gr=bar", "foo@sip.example/bar", "sip:foo@sip.example;gr=bar"},
    {"sip:a%40b@example.net", "a\\40b@example.net", "sip:a%40b@example.net"},
    {"sip:a%20b@example.net", "a\\20b@example.net", "sip:a%20b@example.net"},
    {"sip:x%3Cy%3E%22z%22@example.net", "x\\3cy\\3e\\22z\\22@example.net",
     "sip:x%3Cy%3E%22z%22@example.net"},
    {"sip:c%5C27x@example.net", "c\\5c27x@example.net", "sip:c%5C27x@example.net"},
    {"sip:foob%5C41r@example.com", "foob\\41r@example.com", "sip:foob%5C41r@example.com"},
    {"sip:romeo@example.net;gr=urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
     "romeo@example.net/urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
     "sip:romeo@example.net;gr=urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"},
    {"sip:here%27s_a_wild_%26_%2Fcr%zy%2F_address@example.com",
     "here\\27s_a_wild_\\26_\\2fcr%zy\\2f_address@example.com",
     "sip:here's_a_wild_&_/cr%25zy/_address@example.com"},
};

/* Vectors that start on the XMPP side: JID and URI. */
static const struct {
    const char *jid;
    const char *sip;
} s_jid_vectors[] = {
    {"m\\26m@xmpp.example", "sip:m&m@xmpp.example"},
    {"tsch\xc3\xbcss@xmpp.example", "sip:tsch%C3%BCss@xmpp.example"},
    {"baz@xmpp.example/qux", "sip:baz@xmpp.example;gr=qux"},
    {"juliet@example.com/K\xc3\xbc"
     "che",
     "sip:juliet@example.com;gr=K%C3%BCche"},
    {"romeo@example.net/urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
     "sip:romeo@example.net;gr=urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"},
    {"a\\20b@example.net", "sip:a%20b@example.net"},
    {"c\\5c27x@example.net", "sip:c%5C27x@example.net"},
    {"foob\\41r@example.com", "sip:foob%5C41r@example.com"},
};

static void
test_section9_sip_side(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_sip_vectors / sizeof s_sip_vectors[0]; i++) {
        s_s2x(s_sip_vectors[i].sip, 0, s_sip_vectors[i].jid);
        s_x2s(s_sip_vectors[i].jid, XGW_ADDR_SCHEME_SIP, 0, s_sip_vectors[i].back);
        /* The canonical URI maps to the identical JID again. */
        s_s2x(s_sip_vectors[i].back, 0, s_sip_vectors[i].jid);
    }
}

static void
test_section9_jid_side(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_jid_vectors / sizeof s_jid_vectors[0]; i++) {
        s_x2s(s_jid_vectors[i].jid, XGW_ADDR_SCHEME_SIP, 0, s_jid_vectors[i].sip);
        s_s2x(s_jid_vectors[i].sip, 0, s_jid_vectors[i].jid);
    }
}

/* ---- ADR-01 / ADR-02 ---------------------------------------------------- */

static void
test_adr01_decode_utf8(void **state)
{
    (void)state;
    /* Raw octets C3 BC in the JID, never the %-form. */
    s_s2x("sip:f%C3%BC@example.net", 0, "f\xc3\xbc@example.net");
    assert_null(strstr(s_jid, "%"));
    /* Lower-case hex in the URI decodes the same. */
    s_s2x("sip:f%c3%bc@example.net", 0, "f\xc3\xbc@example.net");
    /* Raw UTF-8 in the URI (some UAs send it) is accepted as the same. */
    s_s2x("sip:f\xc3\xbc@example.net", 0, "f\xc3\xbc@example.net");
    /* Split at the first '@': a second one is part of the host, refused. */
    s_s2x_bad("sip:a@b@example.net", XGW_EINVAL, XGW_ADDR_DOMAIN);
    /* Invalid UTF-8 after decoding: lone lead byte, stray continuation,
     * overlong '/', surrogate, beyond U+10FFFF, 0xFF. */
    s_s2x_bad("sip:f%C3@example.net", XGW_EINVAL, XGW_ADDR_ENCODING);
    s_s2x_bad("sip:f%BC@example.net", XGW_EINVAL, XGW_ADDR_ENCODING);
    s_s2x_bad("sip:%C0%AF@example.net", XGW_EINVAL, XGW_ADDR_ENCODING);
    s_s2x_bad("sip:%ED%A0%80@example.net", XGW_EINVAL, XGW_ADDR_ENCODING);
    s_s2x_bad("sip:%F4%90%80%80@example.net", XGW_EINVAL, XGW_ADDR_ENCODING);
    s_s2x_bad("sip:%FF@example.net", XGW_EINVAL, XGW_ADDR_ENCODING);
    s_s2x_bad("sip:f\xc3@example.net", XGW_EINVAL, XGW_ADDR_ENCODING);
    /* NUL and control characters, escaped or raw. */
    s_s2x_bad("sip:a%00b@example.net", XGW_EINVAL, XGW_ADDR_ENCODING);
    s_s2x_bad("sip:a%0Ab@example.net", XGW_EINVAL, XGW_ADDR_ENCODING);
    s_s2x_bad("sip:a%7Fb@example.net", XGW_EINVAL, XGW_ADDR_ENCODING);
    s_s2x_bad("sip:a%C2%85b@example.net", XGW_EINVAL, XGW_ADDR_ENCODING); /* C1 NEL */
    s_s2x_bad("sip:a\rb@example.net", XGW_EINVAL, XGW_ADDR_ENCODING);
    s_s2x_bad("<sip:ab@example.net>\r\nX: y", XGW_EINVAL, XGW_ADDR_ENCODING);
    /* Non-ASCII spaces are not allowed in a localpart (PRECIS). */
    s_s2x_bad("sip:a%C2%A0b@example.net", XGW_EINVAL, XGW_ADDR_ENCODING);
    s_s2x_bad("sip:a%E3%80%80b@example.net", XGW_EINVAL, XGW_ADDR_ENCODING);
}

static void
test_adr02_escaping(void **state)
{
    (void)state;
    /* Each disallowed character becomes lower-case \hexhex. */
    static const struct {
        const char *pct;
        const char *esc;
    } chars[] = {
        {"%20", "\\20"}, {"%22", "\\22"}, {"%26", "\\26"}, {"%27", "\\27"}, {"%2F", "\\2f"},
        {"%3A", "\\3a"}, {"%3C", "\\3c"}, {"%3E", "\\3e"}, {"%40", "\\40"},
    };
    for (size_t i = 0; i < sizeof chars / sizeof chars[0]; i++) {
        char uri[64], want[64];
        snprintf(uri, sizeof uri, "sip:x%sy@example.net", chars[i].pct);
        snprintf(want, sizeof want, "x%sy@example.net", chars[i].esc);
        s_s2x(uri, 0, want);
    }
    /* Raw & ' / in the user part (allowed there) are escaped too. */
    s_s2x("sip:m&m@example.net", 0, "m\\26m@example.net");
    s_s2x("sip:a/b@example.net", 0, "a\\2fb@example.net");
    /* A backslash beginning each of the ten codes becomes \5c. */
    static const char *const codes[] = {"20", "22", "26", "27", "2f", "3a", "3c", "3e", "40", "5c"};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        char uri[64], want[64];
        snprintf(uri, sizeof uri, "sip:c%%5C%sx@example.net", codes[i]);
        snprintf(want, sizeof want, "c\\5c%sx@example.net", codes[i]);
        s_s2x(uri, 0, want);
    }
    /* Partial or unknown sequences pass through unchanged. */
    s_s2x("sip:foob%5C41r@example.com", 0, "foob\\41r@example.com");
    s_s2x("sip:a%5C@example.com", 0, "a\\@example.com");
    s_s2x("sip:a%5C2@example.com", 0, "a\\2@example.com");
    s_s2x("sip:a%5Cg0@example.com", 0, "a\\g0@example.com");
    /* An upper-case code is folded first, so it is a code and escaped. */
    s_s2x("sip:a%5C2Fb@example.com", 0, "a\\5c2fb@example.com");
    /* Begins or ends with \20: refused. */
    s_s2x_bad("sip:%20a@example.net", XGW_EINVAL, XGW_ADDR_SPACE_EDGE);
    s_s2x_bad("sip:a%20@example.net", XGW_EINVAL, XGW_ADDR_SPACE_EDGE);
    s_s2x_bad("sip:%20@example.net", XGW_EINVAL, XGW_ADDR_SPACE_EDGE);
    assert_int_equal(xgw_addr_why_sip_status(XGW_ADDR_SPACE_EDGE), 400);
    /* '%' not followed by two hex digits is literal (the "cr%zy" rule). */
    s_s2x("sip:a%zy@example.net", 0, "a%zy@example.net");
    s_s2x("sip:a%4@example.net", 0, "a%4@example.net");
    s_s2x("sip:a%@example.net", 0, "a%@example.net");
    s_x2s("a%4@example.net", XGW_ADDR_SCHEME_SIP, 0, "sip:a%254@example.net");
}

/* ---- ADR-03 --------------------------------------------------------------- */

static void
test_adr03_unescape_encode(void **state)
{
    (void)state;
    s_x2s("m\\26m@example.com", XGW_ADDR_SCHEME_SIP, 0, "sip:m&m@example.com");
    s_x2s("a\\20b@example.net", XGW_ADDR_SCHEME_SIP, 0, "sip:a%20b@example.net");
    /* One pass only: c\5c27x is c\27x, never c'x. */
    s_x2s("c\\5c27x@example.net", XGW_ADDR_SCHEME_SIP, 0, "sip:c%5C27x@example.net");
    s_x2s("c\\5c5c27x@example.net", XGW_ADDR_SCHEME_SIP, 0, "sip:c%5C5c27x@example.net");
    /* Every escape code unescapes to its character. */
    s_x2s("a\\22\\26\\27\\2f\\3a\\3c\\3e\\40\\5cz@example.net", XGW_ADDR_SCHEME_SIP, 0,
          "sip:a%22&'/%3A%3C%3E%40%5Cz@example.net");
    /* ADR-03 list: # % [ \ ] ^ ` { | } encoded, upper-case hex. */
    s_x2s("a#%[\\]^`{|}b@example.net", XGW_ADDR_SCHEME_SIP, 0,
          "sip:a%23%25%5B%5C%5D%5E%60%7B%7C%7Db@example.net");
    /* The rest of the RFC 3261 user set stays as it is. */
    s_x2s("a-_.!~*()=+$,;?b@example.net", XGW_ADDR_SCHEME_SIP, 0,
          "sip:a-_.!~*()=+$,;?b@example.net");
    /* A localpart beginning or ending with \20 is not a valid escaped one. */
    s_x2s_bad("\\20a@example.net", XGW_EINVAL, XGW_ADDR_SPACE_EDGE);
    s_x2s_bad("a\\20@example.net", XGW_EINVAL, XGW_ADDR_SPACE_EDGE);
}

/* ---- ADR-04 / ADR-10 ---------------------------------------------------- */

static void
test_adr04_gruu(void **state)
{
    (void)state;
    s_s2x("<sip:romeo@example.net;gr=orchard>", 0, "romeo@example.net/orchard");
    s_s2x("\"Romeo\" <sip:romeo@example.net;gr=orchard>;tag=887s", 0, "romeo@example.net/orchard");
    /* Temporary GRUU: gr without a value is dropped. */
    s_s2x("sip:x@example.net;gr", 0, "x@example.net");
    s_s2x("<sip:tgruu.7hs==jd7vnzga5w7fajsc7-ajd6fabz0f8g5@example.net;gr>", 0,
          "tgruu.7hs==jd7vnzga5w7fajsc7-ajd6fabz0f8g5@example.net");
    /* gr outside the brackets, as the RFC 7248 examples write it. */
    s_s2x("<sip:juliet@example.com>;gr=balcony", 0, "juliet@example.com/balcony");
    /* Inside wins over outside. */
    s_s2x("<sip:juliet@example.com;gr=in>;gr=out", 0, "juliet@example.com/in");
    /* Other parameters around gr, parameter names case-insensitive. */
    s_s2x("sip:juliet@example.com;transport=tcp;GR=balcony;lr", 0, "juliet@example.com/balcony");
    /* A percent-encoded gr value is decoded. */
    s_s2x("sip:juliet@example.com;gr=K%C3%BCche", 0,
          "juliet@example.com/K\xc3\xbc"
          "che");
    /* gr= with no characters, or a bad one, is refused. */
    s_s2x_bad("sip:juliet@example.com;gr=", XGW_EINVAL, XGW_ADDR_RESOURCE);
    s_s2x_bad("sip:juliet@example.com;gr=a%00b", XGW_EINVAL, XGW_ADDR_RESOURCE);
    s_s2x_bad("sip:juliet@example.com;gr=%FF", XGW_EINVAL, XGW_ADDR_RESOURCE);
    /* The resourcepart keeps its case. */
    s_s2x("sip:Juliet@example.com;gr=Balcony", 0, "juliet@example.com/Balcony");
    /* XMPP to SIP: ; = ? , space and non-ASCII are encoded in gr. */
    s_x2s("juliet@example.com/a;b=c?d,e f", XGW_ADDR_SCHEME_SIP, 0,
          "sip:juliet@example.com;gr=a%3Bb%3Dc%3Fd%2Ce%20f");
    s_s2x("sip:juliet@example.com;gr=a%3Bb%3Dc%3Fd%2Ce%20f", 0, "juliet@example.com/a;b=c?d,e f");
    /* paramchar kept: [ ] / : & + $ and the marks. */
    s_x2s("j@example.com/[x]/:&+$-_.!~*'()", XGW_ADDR_SCHEME_SIP, 0,
          "sip:j@example.com;gr=[x]/:&+$-_.!~*'()");
    /* A resource may hold '/' and '@'. */
    s_x2s("j@example.com/a/b@c", XGW_ADDR_SCHEME_SIP, 0, "sip:j@example.com;gr=a/b%40c");
    s_s2x("sip:j@example.com;gr=a/b%40c", 0, "j@example.com/a/b@c");
}

static void
test_adr10_bare(void **state)
{
    (void)state;
    s_s2x("<sip:romeo@example.net;gr=orchard>", XGW_ADDR_BARE, "romeo@example.net");
    s_s2x("<sip:romeo@example.net>;gr=orchard", XGW_ADDR_BARE, "romeo@example.net");
    s_x2s("juliet@example.com/balcony", XGW_ADDR_SCHEME_SIP, XGW_ADDR_BARE,
          "sip:juliet@example.com");
    /* BARE also ignores a broken gr (it is not used). */
    s_s2x("sip:juliet@example.com;gr=", XGW_ADDR_BARE, "juliet@example.com");
}

/* ---- ADR-05 --------------------------------------------------------------- */

static void
test_adr05_lengths(void **state)
{
    (void)state;
    static char uri[8192], want[4096], jid[4096];
    /* 341 x EURO SIGN = 1023 octets: accepted. */
    size_t o = (size_t)snprintf(uri, sizeof uri, "sip:");
    size_t w = 0;
    for (int i = 0; i < 341; i++) {
        o += (size_t)snprintf(uri + o, sizeof uri - o, "%%E2%%82%%AC");
        memcpy(want + w, "\xe2\x82\xac", 3);
        w += 3;
    }
    snprintf(uri + o, sizeof uri - o, "@example.net");
    snprintf(want + w, sizeof want - w, "@example.net");
    s_s2x(uri, 0, want);
    s_x2s(want, XGW_ADDR_SCHEME_SIP, 0, uri);
    /* 342 of them = 1026 octets: refused, ETOOBIG. */
    o = (size_t)snprintf(uri, sizeof uri, "sip:");
    for (int i = 0; i < 342; i++)
        o += (size_t)snprintf(uri + o, sizeof uri - o, "%%E2%%82%%AC");
    snprintf(uri + o, sizeof uri - o, "@example.net");
    s_s2x_bad(uri, XGW_ETOOBIG, XGW_ADDR_TOO_LONG);
    assert_int_equal(xgw_addr_why_sip_status(XGW_ADDR_TOO_LONG), 400);
    /* The limit applies after escaping: 341 x %40 = 1023 octets "\40". */
    o = (size_t)snprintf(uri, sizeof uri, "sip:");
    for (int i = 0; i < 341; i++)
        o += (size_t)snprintf(uri + o, sizeof uri - o, "%%40");
    snprintf(uri + o, sizeof uri - o, "@example.net");
    assert_int_equal(xgw_addr_sip_to_jid(uri, 0, s_jid, sizeof s_jid, NULL), 0);
    assert_int_equal(strlen(s_jid), 1023 + strlen("@example.net"));
    snprintf(uri + o, sizeof uri - o, "%%40@example.net"); /* 342 */
    s_s2x_bad(uri, XGW_ETOOBIG, XGW_ADDR_TOO_LONG);
    /* A raw user part far too long is refused before decoding. */
    memset(uri, 'a', 5000);
    memcpy(uri, "sip:", 4);
    snprintf(uri + 5000, sizeof uri - 5000, "@example.net");
    s_s2x_bad(uri, XGW_ETOOBIG, XGW_ADDR_TOO_LONG);

    /* JID side: localpart and resourcepart 1023 ok, 1024 refused. */
    memset(jid, 'a', 1023);
    snprintf(jid + 1023, sizeof jid - 1023, "@example.com/");
    memset(jid + 1023 + 13, 'r', 1023);
    jid[1023 + 13 + 1023] = '\0';
    assert_int_equal(strlen(jid), 1023 + 13 + 1023);
    assert_int_equal(xgw_addr_jid_split(jid, NULL, NULL), 0);
    assert_int_equal(xgw_addr_jid_to_sip(jid, XGW_ADDR_SCHEME_SIP, 0, s_uri, sizeof s_uri, NULL),
                     0);
    assert_int_equal(xgw_addr_sip_to_jid(s_uri, 0, s_jid, sizeof s_jid, NULL), 0);
    assert_string_equal(s_jid, jid);
    memset(jid, 'a', 1024);
    snprintf(jid + 1024, sizeof jid - 1024, "@example.com");
    s_x2s_bad(jid, XGW_ETOOBIG, XGW_ADDR_TOO_LONG);
    xgw_addr_why_t why;
    assert_int_equal(xgw_addr_jid_split(jid, NULL, &why), XGW_ETOOBIG);
    assert_int_equal(why, XGW_ADDR_TOO_LONG);
    snprintf(jid, sizeof jid, "a@example.com/");
    memset(jid + 14, 'r', 1024);
    jid[14 + 1024] = '\0';
    assert_int_equal(xgw_addr_jid_split(jid, NULL, &why), XGW_ETOOBIG);
    assert_int_equal(why, XGW_ADDR_TOO_LONG);
    /* gr over 1023 octets once decoded. */
    o = (size_t)snprintf(uri, sizeof uri, "sip:a@example.com;gr=");
    memset(uri + o, 'g', 1024);
    uri[o + 1024] = '\0';
    s_s2x_bad(uri, XGW_ETOOBIG, XGW_ADDR_TOO_LONG);
    /* Empty parts. */
    s_s2x_bad("sip:@example.net", XGW_EINVAL, XGW_ADDR_NO_USER);
    s_x2s_bad("@example.net", XGW_EINVAL, XGW_ADDR_NO_USER);
    s_x2s_bad("a@", XGW_EINVAL, XGW_ADDR_DOMAIN);
    s_x2s_bad("a@example.net/", XGW_EINVAL, XGW_ADDR_RESOURCE);
    s_x2s_bad("", XGW_EINVAL, XGW_ADDR_SYNTAX);
    s_x2s_bad(NULL, XGW_EINVAL, XGW_ADDR_SYNTAX);
    /* Domains: over 253 characters, a label over 63. */
    memset(jid, 0, sizeof jid);
    memcpy(jid, "a@", 2);
    for (int i = 0; i < 64; i++)
        memcpy(jid + 2 + i * 4, "abc.", 4);
    memcpy(jid + 2 + 64 * 4, "com", 4);
    s_x2s_bad(jid, XGW_EINVAL, XGW_ADDR_DOMAIN);
    memset(jid + 2, 'x', 64);
    memcpy(jid + 66, ".com", 5);
    s_x2s_bad(jid, XGW_EINVAL, XGW_ADDR_DOMAIN);
    memset(jid + 2, 'x', 1100);
    jid[1102] = '\0';
    s_x2s_bad(jid, XGW_ETOOBIG, XGW_ADDR_TOO_LONG);
}

/* ---- ADR-06 / ADR-07 ---------------------------------------------------- */

static void
test_adr06_domains(void **state)
{
    (void)state;
    char out[XGW_JID_MAX + 1];
    assert_int_equal(xgw_addr_jid_normalize("romeo@EXAMPLE.NET.", out, sizeof out, NULL), 0);
    assert_string_equal(out, "romeo@example.net");
    assert_int_equal(xgw_addr_jid_domain("romeo@EXAMPLE.NET./x", out, sizeof out, NULL), 0);
    assert_string_equal(out, "example.net");
    /* A U-label becomes its A-label, upper case folded first. */
    s_x2s("romeo@m\xc3\xbcnchen.example", XGW_ADDR_SCHEME_SIP, 0,
          "sip:romeo@xn--mnchen-3ya.example");
    s_x2s("romeo@M\xc3\x9cNCHEN.example", XGW_ADDR_SCHEME_SIP, 0,
          "sip:romeo@xn--mnchen-3ya.example");
    assert_int_equal(xgw_addr_jid_normalize("romeo@xn--MNCHEN-3ya.example", out, sizeof out, NULL),
                     0);
    assert_string_equal(out, "romeo@xn--mnchen-3ya.example");
    /* SIP host: case, trailing dot and port. */
    s_s2x("sip:romeo@Example.NET.:5061;transport=tls", 0, "romeo@example.net");
    s_s2x("sip:romeo@192.0.2.7:5060", 0, "romeo@192.0.2.7");
    s_s2x("sip:romeo@[2001:DB8::1]:5060", 0, "romeo@[2001:db8::1]");
    s_x2s("romeo@[2001:db8::1]", XGW_ADDR_SCHEME_SIP, 0, "sip:romeo@[2001:db8::1]");
    /* Bad hosts and ports. */
    s_s2x_bad("sip:romeo@", XGW_EINVAL, XGW_ADDR_DOMAIN);
    s_s2x_bad("sip:romeo@exa_mple.net", XGW_EINVAL, XGW_ADDR_DOMAIN);
    s_s2x_bad("sip:romeo@example..net", XGW_EINVAL, XGW_ADDR_DOMAIN);
    s_s2x_bad("sip:romeo@[2001:db8::1", XGW_EINVAL, XGW_ADDR_DOMAIN);
    s_s2x_bad("sip:romeo@[zz::1]", XGW_EINVAL, XGW_ADDR_DOMAIN);
    s_s2x_bad("sip:romeo@[192.0.2.1]", XGW_EINVAL, XGW_ADDR_DOMAIN);
    s_s2x_bad("sip:romeo@example.net:", XGW_EINVAL, XGW_ADDR_SYNTAX);
    s_s2x_bad("sip:romeo@example.net:70000", XGW_EINVAL, XGW_ADDR_SYNTAX);
    s_s2x_bad("sip:romeo@example.net:50a", XGW_EINVAL, XGW_ADDR_SYNTAX);
    s_s2x_bad("sip:romeo@[::1]x", XGW_EINVAL, XGW_ADDR_SYNTAX);
    s_x2s_bad("romeo@exa mple.net", XGW_EINVAL, XGW_ADDR_DOMAIN);
    s_x2s_bad("romeo@ex\xc3"
              "ample.net",
              XGW_EINVAL, XGW_ADDR_DOMAIN);
}

static void
test_adr07_case(void **state)
{
    (void)state;
    /* All case variants of a JID map to one SIP user. */
    s_x2s("Romeo@example.net", XGW_ADDR_SCHEME_SIP, 0, "sip:romeo@example.net");
    s_x2s("ROMEO@example.net", XGW_ADDR_SCHEME_SIP, 0, "sip:romeo@example.net");
    s_x2s("romeo@example.net", XGW_ADDR_SCHEME_SIP, 0, "sip:romeo@example.net");
    /* The same SIP user always gives the same JID. */
    s_s2x("sip:Romeo@example.net", 0, "romeo@example.net");
    s_s2x("sip:Romeo@example.net", 0, "romeo@example.net");
    /* Non-ASCII capitals in the folded ranges. */
    s_s2x("sip:%C3%9Cber@example.net", 0,
          "\xc3\xbc"
          "ber@example.net"); /* U-umlaut */
    s_x2s("\xc3\x9c"
          "ber@example.net",
          XGW_ADDR_SCHEME_SIP, 0, "sip:%C3%BCber@example.net");
    s_s2x("sip:%C5%81%C3%93D%C5%B9@example.net", 0,
          "\xc5\x82\xc3\xb3"
          "d\xc5\xba@example.net");                                           /* Polish LODZ */
    s_s2x("sip:%CE%A3%CE%A9@example.net", 0, "\xcf\x83\xcf\x89@example.net"); /* Greek */
    s_s2x("sip:%D0%98%D0%81@example.net", 0, "\xd0\xb8\xd1\x91@example.net"); /* Cyrillic */
    s_s2x("sip:%C5%B8@example.net", 0, "\xc3\xbf@example.net");               /* Y-diaeresis */
    s_s2x("sip:%C5%A0%C4%80@example.net", 0,
          "\xc5\xa1\xc4\x81@example.net"); /* S-caron, A-macron */
    s_s2x("sip:%C5%A1%C4%81@example.net", 0, "\xc5\xa1\xc4\x81@example.net"); /* already small */
    /* The multiplication sign is not a capital. */
    s_s2x("sip:a%C3%97b@example.net", 0,
          "a\xc3\x97"
          "b@example.net");
    /* Normalized JIDs compare equal across case. */
    char a[XGW_JID_MAX + 1], b[XGW_JID_MAX + 1];
    assert_int_equal(xgw_addr_jid_normalize("ROMEO@Example.Net/Orchard", a, sizeof a, NULL), 0);
    assert_int_equal(xgw_addr_jid_normalize("romeo@example.net/Orchard", b, sizeof b, NULL), 0);
    assert_string_equal(a, b);
    assert_string_equal(a, "romeo@example.net/Orchard");
    assert_int_equal(xgw_addr_jid_normalize("romeo@example.net/orchard", b, sizeof b, NULL), 0);
    assert_string_not_equal(a, b); /* resources are case-sensitive */
}

/* ---- ADR-08 / ADR-09 ---------------------------------------------------- */

static void
test_adr08_sips(void **state)
{
    (void)state;
    s_s2x_bad("sips:juliet@example.com", XGW_EPROTO, XGW_ADDR_SIPS);
    s_s2x_bad("<SIPS:juliet@example.com>", XGW_EPROTO, XGW_ADDR_SIPS);
    s_s2x_bad("\"J\" <sips:juliet@example.com;gr=x>;tag=1", XGW_EPROTO, XGW_ADDR_SIPS);
    assert_int_equal(xgw_addr_why_sip_status(XGW_ADDR_SIPS), 403);
    assert_string_equal(xgw_addr_why_name(XGW_ADDR_SIPS), "sips");
}

static void
test_adr09_schemes(void **state)
{
    (void)state;
    s_s2x("im:juliet@example.com", 0, "juliet@example.com");
    s_s2x("pres:juliet@example.com", 0, "juliet@example.com");
    s_s2x("<IM:juliet@example.com>", 0, "juliet@example.com");
    s_s2x("SIP:juliet@example.com", 0, "juliet@example.com");
    s_x2s("juliet@example.com", XGW_ADDR_SCHEME_SIP, 0, "sip:juliet@example.com");
    s_x2s("juliet@example.com", XGW_ADDR_SCHEME_IM, 0, "im:juliet@example.com");
    s_x2s("juliet@example.com/x", XGW_ADDR_SCHEME_PRES, XGW_ADDR_BARE, "pres:juliet@example.com");
    assert_int_equal(xgw_addr_jid_to_sip("juliet@example.com", (xgw_addr_scheme_t)7, 0, s_uri,
                                         sizeof s_uri, NULL),
                     XGW_EINVAL);
    s_s2x_bad("tel:+15551234", XGW_EINVAL, XGW_ADDR_SCHEME);
    s_s2x_bad("xmpp:juliet@example.com", XGW_EINVAL, XGW_ADDR_SCHEME);
    s_s2x_bad("<http://example.com/>", XGW_EINVAL, XGW_ADDR_SCHEME);
    assert_int_equal(xgw_addr_why_sip_status(XGW_ADDR_SCHEME), 416);
}

/* ---- name-addr forms and malformed URIs ------------------------------- */

static void
test_name_addr(void **state)
{
    (void)state;
    s_s2x("Romeo <sip:romeo@example.net>", 0, "romeo@example.net");
    s_s2x("\"Romeo <the one>\" <sip:romeo@example.net>;tag=a73kszlfl", 0, "romeo@example.net");
    s_s2x("\"Say \\\"hi\\\" <x>\" <sip:romeo@example.net>", 0, "romeo@example.net");
    s_s2x("  <sip:romeo@example.net>  ", 0, "romeo@example.net");
    s_s2x("<sip:romeo@example.net;transport=tcp?subject=hi&priority=urgent>;tag=1;expires=60", 0,
          "romeo@example.net");
    s_s2x("sip:+15551234@example.net;user=phone", 0, "+15551234@example.net");
    s_s2x("sip:romeo@example.net?subject=x", 0, "romeo@example.net");
    /* A ';' and '?' may appear in the user part (RFC 3261 user-unreserved). */
    s_s2x("sip:a;b?c@example.net", 0, "a;b?c@example.net");
}

static void
test_malformed(void **state)
{
    (void)state;
    s_s2x_bad("", XGW_EINVAL, XGW_ADDR_SYNTAX);
    s_s2x_bad("   ", XGW_EINVAL, XGW_ADDR_SYNTAX);
    s_s2x_bad(NULL, XGW_EINVAL, XGW_ADDR_SYNTAX);
    s_s2x_bad("sip:example.net", XGW_EINVAL, XGW_ADDR_NO_USER);
    s_s2x_bad("<sip:example.net>", XGW_EINVAL, XGW_ADDR_NO_USER);
    s_s2x_bad("romeo@example.net", XGW_EINVAL, XGW_ADDR_SYNTAX);
    s_s2x_bad(":romeo@example.net", XGW_EINVAL, XGW_ADDR_SYNTAX);
    s_s2x_bad("1sip:romeo@example.net", XGW_EINVAL, XGW_ADDR_SYNTAX);
    s_s2x_bad("<sip:romeo@example.net", XGW_EINVAL, XGW_ADDR_SYNTAX);
    s_s2x_bad("sip:romeo@example.net>", XGW_EINVAL, XGW_ADDR_SYNTAX);
    s_s2x_bad("\"Romeo <sip:romeo@example.net>", XGW_EINVAL, XGW_ADDR_SYNTAX);
    s_s2x_bad("Romeo sip:romeo@example.net", XGW_EINVAL, XGW_ADDR_SYNTAX);
    s_s2x_bad("<sip:romeo@example.net>garbage", XGW_EINVAL, XGW_ADDR_SYNTAX);
    s_s2x_bad("<sip:romeo@example.net>;", XGW_EINVAL, XGW_ADDR_SYNTAX);
    s_s2x_bad("sip:romeo@example.net;;x", XGW_EINVAL, XGW_ADDR_SYNTAX);
    s_s2x_bad("sip:ro meo@example.net", XGW_EINVAL, XGW_ADDR_SYNTAX);
    s_s2x_bad("sip:ro\"meo@example.net", XGW_EINVAL, XGW_ADDR_SYNTAX);
    s_s2x_bad("sip:ro\tmeo@example.net", XGW_EINVAL, XGW_ADDR_ENCODING);
    s_s2x_bad("sip:romeo:secret@example.net", XGW_EINVAL, XGW_ADDR_CHAR);
    assert_int_equal(xgw_addr_why_sip_status(XGW_ADDR_NO_USER), 404);
    assert_int_equal(xgw_addr_why_sip_status(XGW_ADDR_SYNTAX), 400);
}

/* ---- JID helpers -------------------------------------------------------- */

static void
test_jid_split(void **state)
{
    (void)state;
    xgw_jid_parts_t p;
    xgw_addr_why_t why;
    assert_int_equal(xgw_addr_jid_split("juliet@example.com/balcony/a@b", &p, &why), 0);
    assert_int_equal(why, XGW_ADDR_OK);
    assert_int_equal(p.local_len, 6);
    assert_memory_equal(p.local, "juliet", 6);
    assert_int_equal(p.domain_len, 11);
    assert_memory_equal(p.domain, "example.com", 11);
    assert_int_equal(p.resource_len, 11);
    assert_memory_equal(p.resource, "balcony/a@b", 11);
    /* Domain JIDs, with and without a resource; the domain is not
     * normalized by split. */
    assert_int_equal(xgw_addr_jid_split("Example.COM", &p, NULL), 0);
    assert_null(p.local);
    assert_null(p.resource);
    assert_memory_equal(p.domain, "Example.COM", 11);
    assert_int_equal(xgw_addr_jid_split("example.com/x@y", &p, NULL), 0);
    assert_null(p.local);
    assert_int_equal(p.resource_len, 3);
    /* Resource with a space is fine (OpaqueString), a control is not. */
    assert_int_equal(xgw_addr_jid_split("a@example.com/my phone", &p, NULL), 0);
    static const struct {
        const char *jid;
        int rc;
        xgw_addr_why_t why;
    } bad[] = {
        {"", XGW_EINVAL, XGW_ADDR_SYNTAX},
        {"@example.com", XGW_EINVAL, XGW_ADDR_NO_USER},
        {"a@", XGW_EINVAL, XGW_ADDR_DOMAIN},
        {"a@/r", XGW_EINVAL, XGW_ADDR_DOMAIN},
        {"/r", XGW_EINVAL, XGW_ADDR_DOMAIN},
        {"a@example.com/", XGW_EINVAL, XGW_ADDR_RESOURCE},
        {"o'malley@example.com", XGW_EINVAL, XGW_ADDR_CHAR},
        {"a b@example.com", XGW_EINVAL, XGW_ADDR_CHAR},
        {"a\"b@example.com", XGW_EINVAL, XGW_ADDR_CHAR},
        {"a&b@example.com", XGW_EINVAL, XGW_ADDR_CHAR},
        {"a:b@example.com", XGW_EINVAL, XGW_ADDR_CHAR},
        {"a<b@example.com", XGW_EINVAL, XGW_ADDR_CHAR},
        {"a>b@example.com", XGW_EINVAL, XGW_ADDR_CHAR},
        {"a\x01"
         "b@example.com",
         XGW_EINVAL, XGW_ADDR_ENCODING},
        {"a\x7f"
         "b@example.com",
         XGW_EINVAL, XGW_ADDR_ENCODING},
        {"a\xc3@example.com", XGW_EINVAL, XGW_ADDR_ENCODING},
        {"a\xc2\xa0"
         "b@example.com",
         XGW_EINVAL, XGW_ADDR_ENCODING},
        {"a@example.com/r\x0a", XGW_EINVAL, XGW_ADDR_ENCODING},
        {"a@example.com/\xff", XGW_EINVAL, XGW_ADDR_ENCODING},
        {"a@exa mple.com", XGW_EINVAL, XGW_ADDR_DOMAIN},
        {"a@-example.com", XGW_EINVAL, XGW_ADDR_DOMAIN},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&p, 0x55, sizeof p);
        int rc = xgw_addr_jid_split(bad[i].jid, &p, &why);
        if (rc != bad[i].rc || why != bad[i].why)
            fail_msg("jid_split(#%zu): rc=%d why=%s want %s", i, rc, xgw_addr_why_name(why),
                     xgw_addr_why_name(bad[i].why));
        assert_null(p.domain); /* parts cleared on failure */
    }
    assert_int_equal(xgw_addr_jid_split(NULL, &p, &why), XGW_EINVAL);
}

static void
test_jid_bare_domain(void **state)
{
    (void)state;
    char out[XGW_JID_MAX + 1];
    xgw_addr_why_t why;
    assert_int_equal(xgw_addr_jid_bare("Juliet@Example.com./balcony", out, sizeof out, &why), 0);
    assert_string_equal(out, "juliet@example.com");
    assert_int_equal(xgw_addr_jid_bare("example.com/x", out, sizeof out, NULL), 0);
    assert_string_equal(out, "example.com");
    assert_int_equal(xgw_addr_jid_domain("juliet@example.com/balcony", out, sizeof out, NULL), 0);
    assert_string_equal(out, "example.com");
    assert_int_equal(xgw_addr_jid_domain("EXAMPLE.com.", out, sizeof out, NULL), 0);
    assert_string_equal(out, "example.com");
    /* The whole JID is checked even when only the domain is wanted. */
    assert_int_equal(xgw_addr_jid_domain("a'b@example.com", out, sizeof out, &why), XGW_EINVAL);
    assert_int_equal(why, XGW_ADDR_CHAR);
    assert_string_equal(out, "");
    /* Small buffers: ERANGE and an empty string, never a cut address. */
    char small[8];
    assert_int_equal(xgw_addr_jid_bare("juliet@example.com", small, sizeof small, &why),
                     XGW_ERANGE);
    assert_int_equal(why, XGW_ADDR_BUFFER);
    assert_string_equal(small, "");
    assert_int_equal(xgw_addr_sip_to_jid("sip:juliet@example.com", 0, small, sizeof small, &why),
                     XGW_ERANGE);
    assert_string_equal(small, "");
    assert_int_equal(xgw_addr_jid_to_sip("juliet@example.com", XGW_ADDR_SCHEME_SIP, 0, small,
                                         sizeof small, &why),
                     XGW_ERANGE);
    assert_string_equal(small, "");
    assert_int_equal(xgw_addr_why_sip_status(XGW_ADDR_BUFFER), 500);
    /* Exactly fitting buffer works. */
    char fit[19];
    assert_int_equal(xgw_addr_jid_bare("juliet@example.com", fit, sizeof fit, NULL), 0);
    assert_string_equal(fit, "juliet@example.com");
    assert_int_equal(xgw_addr_jid_bare("juliet@example.com", fit, sizeof fit - 1, NULL),
                     XGW_ERANGE);
    assert_int_equal(xgw_addr_sip_to_jid("sip:a@b", 0, NULL, 0, NULL), XGW_ERANGE);
}

static void
test_why_names(void **state)
{
    (void)state;
    for (int w = XGW_ADDR_OK; w <= XGW_ADDR_BUFFER; w++) {
        const char *n = xgw_addr_why_name((xgw_addr_why_t)w);
        assert_non_null(n);
        assert_string_not_equal(n, "unknown");
        int st = xgw_addr_why_sip_status((xgw_addr_why_t)w);
        assert_true(w == XGW_ADDR_OK ? st == 200 : (st >= 400 && st <= 599));
    }
    assert_string_equal(xgw_addr_why_name((xgw_addr_why_t)99), "unknown");
}

/* ---- fuzz ------------------------------------------------------------- */

static uint32_t s_seed = 12345;

static uint32_t
s_rand(void)
{
    s_seed = s_seed * 1103515245u + 12345u;
    return (s_seed >> 16) & 0x7fff;
}

/* Random user parts over an alphabet that hits every branch; whatever is
 * accepted must be stable: SIP -> JID -> SIP -> JID gives the same JID,
 * and the JID passes jid_split. */
static void
test_fuzz_stable(void **state)
{
    (void)state;
    static const char *const atoms[] = {
        "a",   "Z",   "%",   "%2",       "%20",  "%40", "%5C", "%5c", "\\",  "20", "27", "2f",
        "5c",  "%C3", "%BC", "%E2",      "%82",  "%AC", "&",   "'",   "/",   ";",  "?",  "=",
        "%3A", "%00", "%7F", "\xc3\xbc", "\xff", "%25", "x",   "%22", "%3c", ".",  "~",  "#"};
    size_t n_atoms = sizeof atoms / sizeof atoms[0];
    char uri[512], jid1[XGW_JID_MAX + 1], jid2[XGW_JID_MAX + 1], back[XGW_SIP_URI_MAX + 1];
    int accepted = 0;
    for (int it = 0; it < 20000; it++) {
        size_t o = (size_t)snprintf(uri, sizeof uri, "sip:");
        int len = 1 + (int)(s_rand() % 12);
        for (int k = 0; k < len; k++)
            o += (size_t)snprintf(uri + o, sizeof uri - o, "%s", atoms[s_rand() % n_atoms]);
        snprintf(uri + o, sizeof uri - o, "@Example.net;gr=%s", atoms[s_rand() % n_atoms]);
        xgw_addr_why_t why;
        int rc = xgw_addr_sip_to_jid(uri, 0, jid1, sizeof jid1, &why);
        if (rc != 0) {
            assert_int_not_equal(why, XGW_ADDR_OK);
            assert_string_equal(jid1, "");
            continue;
        }
        accepted++;
        assert_int_equal(xgw_addr_jid_split(jid1, NULL, NULL), 0);
        rc = xgw_addr_jid_to_sip(jid1, XGW_ADDR_SCHEME_SIP, 0, back, sizeof back, &why);
        if (rc != 0)
            fail_msg("%s -> %s -> rc %d (%s)", uri, jid1, rc, xgw_addr_why_name(why));
        rc = xgw_addr_sip_to_jid(back, 0, jid2, sizeof jid2, &why);
        if (rc != 0 || strcmp(jid1, jid2) != 0)
            fail_msg("%s -> %s -> %s -> %s (rc %d)", uri, jid1, back, jid2, rc);
        /* The normalized JID is its own normal form. */
        assert_int_equal(xgw_addr_jid_normalize(jid1, jid2, sizeof jid2, NULL), 0);
        assert_string_equal(jid1, jid2);
    }
    assert_true(accepted > 1000);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_section9_sip_side),
        cmocka_unit_test(test_section9_jid_side),
        cmocka_unit_test(test_adr01_decode_utf8),
        cmocka_unit_test(test_adr02_escaping),
        cmocka_unit_test(test_adr03_unescape_encode),
        cmocka_unit_test(test_adr04_gruu),
        cmocka_unit_test(test_adr10_bare),
        cmocka_unit_test(test_adr05_lengths),
        cmocka_unit_test(test_adr06_domains),
        cmocka_unit_test(test_adr07_case),
        cmocka_unit_test(test_adr08_sips),
        cmocka_unit_test(test_adr09_schemes),
        cmocka_unit_test(test_name_addr),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_jid_split),
        cmocka_unit_test(test_jid_bare_domain),
        cmocka_unit_test(test_why_names),
        cmocka_unit_test(test_fuzz_stable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
