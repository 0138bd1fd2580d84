/*
 * test_policy_model.c - the value rules of the policy model
 * (lib/xgw_policy_model.h): domains, deny patterns, SIP and XMPP addresses,
 * names, descriptions, proxies, domain lists, switches, types, negotiation,
 * scopes, numbers, the policy cross-field rules and the 18-cell
 * TLS/SASL/dialback table (reference b.1, with the issue's rule that SASL
 * without TLS is refused).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "xgw_error.h"
#include "xgw_policy_model.h"

#define S_SENTINEL "\x01untouched"

/* A string of n copies of c followed by suffix, in buf. */
static const char *
s_rep(char *buf, size_t len, char c, size_t n, const char *suffix)
{
    size_t sl = strlen(suffix);
    assert_true(n + sl < len);
    memset(buf, c, n);
    memcpy(buf + n, suffix, sl + 1);
    return buf;
}

/* A domain of exactly total characters made of labels of at most 63. */
static const char *
s_domain_of(char *buf, size_t len, size_t total)
{
    assert_true(total < len);
    size_t i = 0;
    while (i < total) {
        size_t label = total - i > 63 ? 63 : total - i;
        if (total - i > 63 && total - i - 63 == 1)
            label = 61; /* never leave a lone trailing dot */
        memset(buf + i, 'a' + (char)((i / 64) % 26), label);
        i += label;
        if (i < total)
            buf[i++] = '.';
    }
    buf[total] = '\0';
    return buf;
}

/* ---- domains ---------------------------------------------------------- */

static void
s_dom_ok(const char *in, const char *want)
{
    char out[XGW_DOMAIN_MAX + 1] = S_SENTINEL, err[256] = "";
    int rc = xgw_domain_normalize(in, out, err, sizeof err);
    if (rc != 0)
        fail_msg("domain \"%s\" refused: %s", in, err);
    assert_string_equal(out, want);
}

static void
s_dom_bad(const char *in, int want_rc, const char *err_has)
{
    char out[XGW_DOMAIN_MAX + 1] = S_SENTINEL, err[512] = "";
    int rc = xgw_domain_normalize(in, out, err, sizeof err);
    if (rc == 0)
        fail_msg("domain \"%s\" accepted as \"%s\"", in ? in : "(null)", out);
    if (want_rc)
        assert_int_equal(rc, want_rc);
    assert_true(err[0] != '\0');
    if (err_has && !strstr(err, err_has))
        fail_msg("domain \"%s\": reason \"%s\" lacks \"%s\"", in ? in : "(null)", err, err_has);
    assert_string_equal(out, S_SENTINEL); /* nothing written on failure */
}

static void
test_domain_normalize(void **state)
{
    (void)state;
    s_dom_ok("example.com", "example.com");
    s_dom_ok("Example.COM", "example.com");
    s_dom_ok("EXAMPLE.com.", "example.com"); /* one trailing dot dropped */
    s_dom_ok("a.b.c.d.example", "a.b.c.d.example");
    s_dom_ok("a-b.example", "a-b.example");
    s_dom_ok("a--b.example", "a--b.example");
    s_dom_ok("xn--bcher-kva.example", "xn--bcher-kva.example");
    s_dom_ok("0.example", "0.example");
    s_dom_ok("a.b", "a.b");

    s_dom_bad("", XGW_EINVAL, "empty");
    s_dom_bad(NULL, XGW_EINVAL, "empty");
    s_dom_bad(".", XGW_EINVAL, NULL);
    s_dom_bad("example.com..", XGW_EINVAL, "empty label");
    s_dom_bad("a..example", XGW_EINVAL, "empty label");
    s_dom_bad(".example.com", XGW_EINVAL, "empty label");
    s_dom_bad("localhost", XGW_EINVAL, "two labels");
    s_dom_bad("localhost.", XGW_EINVAL, "two labels");
    s_dom_bad("-a.example", XGW_EINVAL, "'-'");
    s_dom_bad("a-.example", XGW_EINVAL, "'-'");
    s_dom_bad("a.-example", XGW_EINVAL, "'-'");
    s_dom_bad("a.example-", XGW_EINVAL, "'-'");
    s_dom_bad("a_b.example", XGW_EINVAL, NULL);
    s_dom_bad("_xmpp-server._tcp.example", XGW_EINVAL, NULL);
    s_dom_bad("a b.example", XGW_EINVAL, NULL);
    s_dom_bad("a.example:5269", XGW_EINVAL, NULL);
    s_dom_bad("user@a.example", XGW_EINVAL, NULL);
    s_dom_bad("*.example", XGW_EINVAL, NULL);
    /* IDN in U-label form: refused with the hint to use the A-label. */
    s_dom_bad("b\xc3\xbc"
              "cher.example",
              XGW_EINVAL, "xn--");
    s_dom_bad("b\xc3\xbc"
              "cher.example",
              XGW_EINVAL, "A-label");
    s_dom_bad("example.\xe4\xb8\xad\xe5\x9b\xbd", XGW_EINVAL, "xn--");

    /* Labels: 63 fine, 64 refused. */
    char buf[400], lab[80];
    snprintf(buf, sizeof buf, "%s.example", s_rep(lab, sizeof lab, 'x', 63, ""));
    s_dom_ok(buf, buf);
    snprintf(buf, sizeof buf, "%s.example", s_rep(lab, sizeof lab, 'x', 64, ""));
    s_dom_bad(buf, 0, "63");
    snprintf(buf, sizeof buf, "example.%s", s_rep(lab, sizeof lab, 'y', 64, ""));
    s_dom_bad(buf, 0, "63");

    /* Total: 253 fine (with or without the trailing dot), 254 refused. */
    char d253[300], d254[300], d253dot[300];
    s_domain_of(d253, sizeof d253, 253);
    assert_int_equal(strlen(d253), 253);
    s_dom_ok(d253, d253);
    memcpy(d253dot, d253, 253);
    d253dot[253] = '.';
    d253dot[254] = '\0';
    s_dom_ok(d253dot, d253);
    s_domain_of(d254, sizeof d254, 254);
    assert_int_equal(strlen(d254), 254);
    s_dom_bad(d254, XGW_ETOOBIG, "253");
    char big[2000];
    s_rep(big, sizeof big, 'a', 1500, ".example");
    s_dom_bad(big, 0, NULL);
}

/* ---- deny patterns ---------------------------------------------------- */

static void
s_deny_ok(const char *in, const char *want)
{
    char out[XGW_DOMAIN_MAX + 3] = S_SENTINEL, err[256] = "";
    int rc = xgw_deny_pattern_normalize(in, out, err, sizeof err);
    if (rc != 0)
        fail_msg("deny pattern \"%s\" refused: %s", in, err);
    assert_string_equal(out, want);
}

static void
s_deny_bad(const char *in)
{
    char out[XGW_DOMAIN_MAX + 3] = S_SENTINEL, err[256] = "";
    int rc = xgw_deny_pattern_normalize(in, out, err, sizeof err);
    if (rc == 0)
        fail_msg("deny pattern \"%s\" accepted as \"%s\"", in ? in : "(null)", out);
    assert_true(err[0] != '\0');
    assert_string_equal(out, S_SENTINEL);
}

static void
test_deny_pattern(void **state)
{
    (void)state;
    s_deny_ok("spam.example", "spam.example");
    s_deny_ok("Spam.Example.", "spam.example");
    s_deny_ok("*.spam.example", "*.spam.example");
    s_deny_ok("*.SPAM.example.", "*.spam.example");
    s_deny_ok("*.a.b.c.example", "*.a.b.c.example");

    s_deny_bad("*");
    s_deny_bad("*.");
    s_deny_bad("a.*.spam.example");
    s_deny_bad("spam.*");
    s_deny_bad("*.*.spam.example");
    s_deny_bad("**.spam.example");
    s_deny_bad("*spam.example");
    s_deny_bad("* .spam.example");
    s_deny_bad("");
    s_deny_bad(NULL);
    s_deny_bad("*.bad_name.example");

    /* "*." + a domain of 253 characters still fits the output buffer. */
    char d[300], pat[310], want[310];
    s_domain_of(d, sizeof d, 253);
    snprintf(pat, sizeof pat, "*.%s", d);
    snprintf(want, sizeof want, "*.%s", d);
    s_deny_ok(pat, want);
}

/* ---- SIP addresses ---------------------------------------------------- */

static void
s_sip_ok(const char *in, const char *want)
{
    char out[XGW_ADDRESS_MAX + 1] = S_SENTINEL, err[256] = "";
    int rc = xgw_sip_address_normalize(in, out, err, sizeof err);
    if (rc != 0)
        fail_msg("SIP address \"%s\" refused: %s", in, err);
    assert_string_equal(out, want);
}

static void
s_sip_bad(const char *in, int want_rc)
{
    char out[XGW_ADDRESS_MAX + 1] = S_SENTINEL, err[256] = "";
    int rc = xgw_sip_address_normalize(in, out, err, sizeof err);
    if (rc == 0)
        fail_msg("SIP address \"%s\" accepted as \"%s\"", in ? in : "(null)", out);
    if (want_rc)
        assert_int_equal(rc, want_rc);
    assert_true(err[0] != '\0');
    assert_string_equal(out, S_SENTINEL);
}

static void
test_sip_address(void **state)
{
    (void)state;
    s_sip_ok("sip:alice@example.net", "alice@example.net");
    s_sip_ok("sips:alice@example.net", "alice@example.net");
    s_sip_ok("SIP:alice@Example.NET", "alice@example.net");
    s_sip_ok("Sips:alice@example.net", "alice@example.net");
    s_sip_ok("alice@example.net", "alice@example.net");
    s_sip_ok("alice@example.net.", "alice@example.net");
    s_sip_ok("Alice.Smith@example.net", "Alice.Smith@example.net"); /* user part kept */
    s_sip_ok("a-b_c.d!e~f*g'h(i)j&k=l+m$n,o;p?q/r%20s@example.net",
             "a-b_c.d!e~f*g'h(i)j&k=l+m$n,o;p?q/r%20s@example.net");

    s_sip_bad("", XGW_EINVAL);
    s_sip_bad(NULL, XGW_EINVAL);
    s_sip_bad("sip:", XGW_EINVAL);
    s_sip_bad("alice", XGW_EINVAL);
    s_sip_bad("sip:alice", XGW_EINVAL);
    s_sip_bad("sip:alice.example.net", XGW_EINVAL);
    s_sip_bad("@example.net", XGW_EINVAL);
    s_sip_bad("sip:@example.net", XGW_EINVAL);
    s_sip_bad("alice@", XGW_EINVAL);
    s_sip_bad("alice@localhost", XGW_EINVAL);
    s_sip_bad("al ice@example.net", XGW_EINVAL);
    s_sip_bad("al<ice@example.net", XGW_EINVAL);
    s_sip_bad("al\"ice@example.net", XGW_EINVAL);
    s_sip_bad("al:ice@example.net", XGW_EINVAL);
    s_sip_bad("al\tice@example.net", XGW_EINVAL);
    s_sip_bad("al\xc3\xa9@example.net", XGW_EINVAL);
    s_sip_bad("alice@exa_mple.net", XGW_EINVAL);
    s_sip_bad("alice@b\xc3\xbc"
              "cher.example",
              XGW_EINVAL);
    s_sip_bad("alice@bob@example.net", XGW_EINVAL);
    s_sip_bad("xmpp:alice@example.net", XGW_EINVAL);
    s_sip_bad("tel:+1555@example.net", XGW_EINVAL);

    /* User part: 64 characters fine, 65 too long. */
    char user[100], addr[200];
    snprintf(addr, sizeof addr, "sip:%s@example.net", s_rep(user, sizeof user, 'u', 64, ""));
    char want[200];
    snprintf(want, sizeof want, "%s@example.net", user);
    s_sip_ok(addr, want);
    snprintf(addr, sizeof addr, "sip:%s@example.net", s_rep(user, sizeof user, 'u', 65, ""));
    s_sip_bad(addr, XGW_ETOOBIG);

    /* Longest address: 64-char user and 253-char domain. */
    char d[300], longest[420], lwant[420];
    s_domain_of(d, sizeof d, 253);
    s_rep(user, sizeof user, 'u', 64, "");
    snprintf(longest, sizeof longest, "sips:%s@%s", user, d);
    snprintf(lwant, sizeof lwant, "%s@%s", user, d);
    assert_int_equal(strlen(lwant), XGW_ADDRESS_MAX);
    s_sip_ok(longest, lwant);
}

/* ---- XMPP addresses --------------------------------------------------- */

static void
s_xmpp_ok(const char *in, const char *want)
{
    char out[XGW_ADDRESS_MAX + 1] = S_SENTINEL, err[256] = "";
    int rc = xgw_xmpp_address_normalize(in, out, err, sizeof err);
    if (rc != 0)
        fail_msg("XMPP address \"%s\" refused: %s", in, err);
    assert_string_equal(out, want);
}

static void
s_xmpp_bad(const char *in, int want_rc)
{
    char out[XGW_ADDRESS_MAX + 1] = S_SENTINEL, err[256] = "";
    int rc = xgw_xmpp_address_normalize(in, out, err, sizeof err);
    if (rc == 0)
        fail_msg("XMPP address \"%s\" accepted as \"%s\"", in ? in : "(null)", out);
    if (want_rc)
        assert_int_equal(rc, want_rc);
    assert_true(err[0] != '\0');
    assert_string_equal(out, S_SENTINEL);
}

static void
test_xmpp_address(void **state)
{
    (void)state;
    s_xmpp_ok("juliet@capulet.example", "juliet@capulet.example");
    s_xmpp_ok("xmpp:juliet@capulet.example", "juliet@capulet.example");
    s_xmpp_ok("XMPP:juliet@capulet.example", "juliet@capulet.example");
    s_xmpp_ok("juliet@Capulet.EXAMPLE", "juliet@capulet.example");
    s_xmpp_ok("Juliet@capulet.example", "Juliet@capulet.example"); /* localpart kept */
    s_xmpp_ok("juliet@capulet.example/balcony", "juliet@capulet.example");
    s_xmpp_ok("juliet@Capulet.Example/Balcony/with@odd:chars", "juliet@capulet.example");
    s_xmpp_ok("juliet@capulet.example/", "juliet@capulet.example");
    s_xmpp_ok("j\xc3\xbcliet@capulet.example", "j\xc3\xbcliet@capulet.example");
    s_xmpp_ok("a.b-c_d+e@capulet.example", "a.b-c_d+e@capulet.example");

    s_xmpp_bad("", XGW_EINVAL);
    s_xmpp_bad(NULL, XGW_EINVAL);
    s_xmpp_bad("capulet.example", XGW_EINVAL);
    s_xmpp_bad("@capulet.example", XGW_EINVAL);
    s_xmpp_bad("xmpp:@capulet.example", XGW_EINVAL);
    s_xmpp_bad("juliet@", XGW_EINVAL);
    s_xmpp_bad("juliet@/res", XGW_EINVAL);
    s_xmpp_bad("juliet@capulet", XGW_EINVAL);
    /* RFC 7622 localpart: no spaces, controls, " & ' / : < > @. */
    static const char *const forbidden[] = {
        "ju liet@capulet.example",    "ju\"liet@capulet.example", "ju&liet@capulet.example",
        "ju'liet@capulet.example",    "ju:liet@capulet.example",  "ju<liet@capulet.example",
        "ju>liet@capulet.example",    "ju/liet@capulet.example",  "ju\x01liet@capulet.example",
        "ju\x7fliet@capulet.example", "ju\tliet@capulet.example",
    };
    for (size_t i = 0; i < sizeof forbidden / sizeof forbidden[0]; i++)
        s_xmpp_bad(forbidden[i], XGW_EINVAL);
    s_xmpp_bad("juliet@bob@capulet.example", XGW_EINVAL);
    s_xmpp_bad("juliet@capu_let.example", XGW_EINVAL);
    s_xmpp_bad("juliet@b\xc3\xbc"
               "cher.example",
               XGW_EINVAL);

    /* Length: the bare JID must fit XGW_ADDRESS_MAX. */
    char local[1200], addr[1400];
    s_rep(local, sizeof local, 'l', 300, "");
    snprintf(addr, sizeof addr, "%s@x.example", local);
    s_xmpp_ok(addr, addr);
    s_rep(local, sizeof local, 'l', 310, "");
    snprintf(addr, sizeof addr, "%s@x.example/r", local);
    s_xmpp_bad(addr, XGW_ETOOBIG);
    s_rep(local, sizeof local, 'l', 1100, "");
    snprintf(addr, sizeof addr, "%s@x.example", local);
    s_xmpp_bad(addr, XGW_ETOOBIG);
    char d[300];
    s_domain_of(d, sizeof d, 254);
    snprintf(addr, sizeof addr, "j@%s", d);
    s_xmpp_bad(addr, 0);
}

/* ---- names and descriptions ------------------------------------------- */

static void
test_name_check(void **state)
{
    (void)state;
    char err[256], buf[100];
    assert_int_equal(xgw_name_check("policy", "a", err, sizeof err), 0);
    assert_int_equal(xgw_name_check("policy", "Allow-XMPP_2.0", err, sizeof err), 0);
    assert_int_equal(xgw_name_check("policy", s_rep(buf, sizeof buf, 'n', 64, ""), err, sizeof err),
                     0);
    err[0] = '\0';
    assert_int_equal(xgw_name_check("policy", s_rep(buf, sizeof buf, 'n', 65, ""), err, sizeof err),
                     XGW_ETOOBIG);
    assert_non_null(strstr(err, "policy"));
    err[0] = '\0';
    assert_int_equal(xgw_name_check("site", "", err, sizeof err), XGW_EINVAL);
    assert_non_null(strstr(err, "site"));
    assert_int_equal(xgw_name_check("site", NULL, err, sizeof err), XGW_EINVAL);
    static const char *const bad[] = {"a b", "a/b",         "a:b",  "a@b",    "a,b",
                                      "a*",  "caf\xc3\xa9", "a\tb", "site:x", "\"q\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (xgw_name_check("policy", bad[i], err, sizeof err) != XGW_EINVAL)
            fail_msg("name \"%s\" accepted", bad[i]);
        assert_true(err[0] != '\0');
    }
    /* A tiny err buffer is respected (truncated, terminated). */
    char tiny[8];
    memset(tiny, 'z', sizeof tiny);
    assert_int_equal(xgw_name_check("policy", "a b", tiny, sizeof tiny), XGW_EINVAL);
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
    assert_int_equal(xgw_name_check("policy", "a b", NULL, 0), XGW_EINVAL);
}

static void
s_desc_ok(const char *in)
{
    char err[256] = "";
    if (xgw_description_check(in, err, sizeof err) != 0)
        fail_msg("description refused: %s", err);
}

static void
s_desc_bad(const char *in, int want_rc, const char *label)
{
    char err[256] = "";
    int rc = xgw_description_check(in, err, sizeof err);
    if (rc == 0)
        fail_msg("description %s accepted", label);
    if (want_rc)
        assert_int_equal(rc, want_rc);
    assert_true(err[0] != '\0');
}

static void
test_description(void **state)
{
    (void)state;
    char buf[600];
    s_desc_ok("");
    s_desc_ok(NULL);
    s_desc_ok("Partner for Fabrikam; contact ops@fabrikam.example (24/7).");
    s_desc_ok("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe4\xb8\xad"); /* 2, 3, 4-byte forms */
    s_desc_ok("\xc2\xa0\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf");
    s_desc_ok(s_rep(buf, sizeof buf, 'd', 256, ""));
    s_desc_bad(s_rep(buf, sizeof buf, 'd', 257, ""), XGW_ETOOBIG, "of 257 bytes");
    /* 128 two-byte characters = 256 bytes fine; one more byte is not. */
    buf[0] = '\0';
    for (int i = 0; i < 128; i++)
        memcpy(buf + 2 * i, "\xc3\xa9", 3);
    assert_int_equal(strlen(buf), 256);
    s_desc_ok(buf);
    memcpy(buf + 256, "x", 2);
    s_desc_bad(buf, XGW_ETOOBIG, "of 257 bytes in UTF-8");
    /* 254 ASCII + a 3-byte character = 257 bytes. */
    s_rep(buf, sizeof buf, 'd', 254, "\xe2\x82\xac");
    s_desc_bad(buf, XGW_ETOOBIG, "254 + euro");

    /* Invalid sequences. */
    s_desc_bad("\x80", XGW_EINVAL, "lone continuation");
    s_desc_bad("ab\xbf", XGW_EINVAL, "trailing continuation");
    s_desc_bad("\xc3", XGW_EINVAL, "truncated 2-byte");
    s_desc_bad("\xc3x", XGW_EINVAL, "2-byte with ASCII continuation");
    s_desc_bad("\xe2\x82", XGW_EINVAL, "truncated 3-byte");
    s_desc_bad("\xe2\x82x", XGW_EINVAL, "3-byte with bad continuation");
    s_desc_bad("\xf0\x9f\x98", XGW_EINVAL, "truncated 4-byte");
    s_desc_bad("\xff", XGW_EINVAL, "0xff");
    s_desc_bad("\xfe", XGW_EINVAL, "0xfe");
    s_desc_bad("\xf8\x88\x80\x80\x80", XGW_EINVAL, "5-byte form");
    s_desc_bad("\xc0\x80", XGW_EINVAL, "overlong NUL C0 80");
    s_desc_bad("\xc0\xaf", XGW_EINVAL, "overlong '/' C0 AF");
    s_desc_bad("\xc1\xbf", XGW_EINVAL, "overlong C1 BF");
    /* Control characters. */
    s_desc_bad("a\tb", XGW_EINVAL, "tab");
    s_desc_bad("a\nb", XGW_EINVAL, "newline");
    s_desc_bad("a\rb", XGW_EINVAL, "CR");
    s_desc_bad("\x1b[31mred", XGW_EINVAL, "escape");
    s_desc_bad("a\x7f", XGW_EINVAL, "DEL");
}

/* Well-formed-looking sequences that are not UTF-8 (RFC 3629 section 4):
 * overlong 3- and 4-byte forms, surrogates, code points above U+10FFFF. The
 * header promises "valid UTF-8". */
static void
test_description_strict_utf8(void **state)
{
    (void)state;
    s_desc_bad("\xe0\x80\x80", XGW_EINVAL, "overlong 3-byte NUL E0 80 80");
    s_desc_bad("\xe0\x9f\xbf", XGW_EINVAL, "overlong 3-byte E0 9F BF");
    s_desc_bad("\xf0\x80\x80\x80", XGW_EINVAL, "overlong 4-byte F0 80 80 80");
    s_desc_bad("\xf0\x8f\xbf\xbf", XGW_EINVAL, "overlong 4-byte F0 8F BF BF");
    s_desc_bad("\xed\xa0\x80", XGW_EINVAL, "surrogate U+D800 ED A0 80");
    s_desc_bad("\xed\xbf\xbf", XGW_EINVAL, "surrogate U+DFFF ED BF BF");
    s_desc_bad("\xf4\x90\x80\x80", XGW_EINVAL, "U+110000 F4 90 80 80");
    s_desc_bad("\xf5\x80\x80\x80", XGW_EINVAL, "lead byte F5");
    s_desc_bad("\xf7\xbf\xbf\xbf", XGW_EINVAL, "lead byte F7");
}

/* ---- proxy ------------------------------------------------------------ */

static void
s_proxy_ok(const char *in, const char *want)
{
    char out[XGW_PROXY_MAX + 1] = S_SENTINEL, err[512] = "";
    if (xgw_proxy_normalize(in, out, err, sizeof err) != 0)
        fail_msg("proxy \"%s\" refused: %s", in ? in : "(null)", err);
    assert_string_equal(out, want);
}

static void
s_proxy_bad(const char *in)
{
    char out[XGW_PROXY_MAX + 1] = S_SENTINEL, err[512] = "";
    if (xgw_proxy_normalize(in, out, err, sizeof err) == 0)
        fail_msg("proxy \"%s\" accepted as \"%s\"", in, out);
    assert_true(err[0] != '\0');
    assert_string_equal(out, S_SENTINEL);
}

static void
test_proxy(void **state)
{
    (void)state;
    s_proxy_ok("", "");
    s_proxy_ok(NULL, "");
    s_proxy_ok("xmpp.fabrikam.example", "xmpp.fabrikam.example");
    s_proxy_ok("XMPP.Fabrikam.Example", "xmpp.fabrikam.example");
    s_proxy_ok("xmpp.fabrikam.example:5269", "xmpp.fabrikam.example:5269");
    s_proxy_ok("xmpp.fabrikam.example:1", "xmpp.fabrikam.example:1");
    s_proxy_ok("xmpp.fabrikam.example:65535", "xmpp.fabrikam.example:65535");
    s_proxy_ok("xmpp.fabrikam.example:05269", "xmpp.fabrikam.example:5269");
    s_proxy_ok("192.0.2.10", "192.0.2.10");
    s_proxy_ok("192.0.2.10:5269", "192.0.2.10:5269");
    s_proxy_ok("255.255.255.255:65535", "255.255.255.255:65535");

    s_proxy_bad("xmpp.fabrikam.example:0");
    s_proxy_bad("xmpp.fabrikam.example:65536");
    s_proxy_bad("xmpp.fabrikam.example:99999999999");
    s_proxy_bad("xmpp.fabrikam.example:");
    s_proxy_bad("xmpp.fabrikam.example:-1");
    s_proxy_bad("xmpp.fabrikam.example:+1");
    s_proxy_bad("xmpp.fabrikam.example: 1");
    s_proxy_bad("xmpp.fabrikam.example:http");
    s_proxy_bad("xmpp.fabrikam.example:1:2");
    s_proxy_bad(":5269");
    s_proxy_bad("localhost");
    s_proxy_bad("xmpp_fabrikam.example");
    s_proxy_bad("-bad.example");
    s_proxy_bad("[2001:db8::1]:5269");
    s_proxy_bad("xmpp://fabrikam.example");
    s_proxy_bad("fabrikam.example/path");
    char d[300], buf[400];
    s_domain_of(d, sizeof d, 254);
    s_proxy_bad(d);
    /* A 253-character host with a port is the longest accepted. */
    s_domain_of(d, sizeof d, 253);
    snprintf(buf, sizeof buf, "%s:65535", d);
    s_proxy_ok(buf, buf);
}

/* An IPv4 literal must be four decimal octets of 0..255. */
static void
test_proxy_ipv4_strict(void **state)
{
    (void)state;
    s_proxy_bad("1..2.3");
    s_proxy_bad("...");
    s_proxy_bad("1.2.3.");
    s_proxy_bad(".1.2.3:5269");
    s_proxy_bad("256.1.1.1");
    s_proxy_bad("999.999.999.999:5269");
}

/* ---- domain lists ----------------------------------------------------- */

static void
s_list_ok(const char *in, size_t want_n, const char *const *want)
{
    char out[XGW_ADDITIONAL_DOMAINS_MAX][XGW_DOMAIN_MAX + 1];
    size_t n = 999;
    char err[512] = "";
    if (xgw_domain_list_parse(in, out, XGW_ADDITIONAL_DOMAINS_MAX, &n, err, sizeof err) != 0)
        fail_msg("list \"%s\" refused: %s", in ? in : "(null)", err);
    assert_int_equal(n, want_n);
    for (size_t i = 0; want && i < want_n; i++)
        assert_string_equal(out[i], want[i]);
}

static void
s_list_bad(const char *in, int want_rc, const char *err_has)
{
    char out[XGW_ADDITIONAL_DOMAINS_MAX][XGW_DOMAIN_MAX + 1];
    size_t n = 999;
    char err[512] = "";
    int rc = xgw_domain_list_parse(in, out, XGW_ADDITIONAL_DOMAINS_MAX, &n, err, sizeof err);
    if (rc == 0)
        fail_msg("list \"%s\" accepted with %zu entries", in, n);
    if (want_rc)
        assert_int_equal(rc, want_rc);
    assert_int_equal(n, 999); /* untouched */
    assert_true(err[0] != '\0');
    if (err_has && !strstr(err, err_has))
        fail_msg("list \"%s\": reason \"%s\" lacks \"%s\"", in, err, err_has);
}

static void
test_domain_list(void **state)
{
    (void)state;
    s_list_ok("", 0, NULL);
    s_list_ok(NULL, 0, NULL);
    static const char *const one[] = {"a.example"};
    s_list_ok("a.example", 1, one);
    s_list_ok("A.Example.", 1, one);
    static const char *const two[] = {"a.example", "b.example"};
    s_list_ok("a.example,b.example", 2, two);
    s_list_ok("a.example, b.example", 2, two);
    s_list_ok("  a.example  ,   B.example  ", 2, two);

    s_list_bad("a.example,a.example", XGW_EINVAL, "twice");
    s_list_bad("a.example, A.EXAMPLE.", XGW_EINVAL, "twice");
    s_list_bad("a.example,,b.example", XGW_EINVAL, "empty");
    s_list_bad(",a.example", XGW_EINVAL, "empty");
    s_list_bad("a.example, ,b.example", XGW_EINVAL, "empty");
    s_list_bad(" ", XGW_EINVAL, "empty");
    s_list_bad("a.example b.example", XGW_EINVAL, NULL);
    s_list_bad("a.example;b.example", XGW_EINVAL, NULL);
    s_list_bad("a.example,bad_one.example", XGW_EINVAL, "bad_one");
    s_list_bad("a.example,localhost", XGW_EINVAL, NULL);
    s_list_bad("b\xc3\xbc"
               "cher.example",
               XGW_EINVAL, "xn--");

    /* 32 entries fine, 33 too many. */
    char buf[2000];
    size_t len = 0;
    for (int i = 0; i < 33; i++) {
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%sd%d.example", i ? "," : "", i);
        if (i == 31) {
            s_list_ok(buf, 32, NULL);
        }
    }
    s_list_bad(buf, XGW_ETOOBIG, "32");

    /* An over-long entry. */
    char d[300], big[400];
    s_domain_of(d, sizeof d, 260);
    snprintf(big, sizeof big, "a.example,%s", d);
    s_list_bad(big, 0, NULL);
}

/* An empty entry at the end is as empty as one at the start. */
static void
test_domain_list_trailing_comma(void **state)
{
    (void)state;
    s_list_bad("a.example,", XGW_EINVAL, "empty");
    s_list_bad("a.example, ", XGW_EINVAL, "empty");
}

/* ---- switches, types, negotiation, scopes, numbers -------------------- */

static void
test_switch(void **state)
{
    (void)state;
    char err[256];
    static const char *const on[] = {"on", "true", "yes"};
    static const char *const off[] = {"off", "false", "no"};
    for (size_t i = 0; i < 3; i++) {
        bool v = false;
        assert_int_equal(xgw_parse_switch(on[i], &v, err, sizeof err), 0);
        assert_true(v);
        v = true;
        assert_int_equal(xgw_parse_switch(off[i], &v, err, sizeof err), 0);
        assert_false(v);
    }
    static const char *const bad[] = {"", "1", "0", "onn", "of", "enabled", " on", "on "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bool v = true;
        err[0] = '\0';
        if (xgw_parse_switch(bad[i], &v, err, sizeof err) != XGW_EINVAL)
            fail_msg("switch \"%s\" accepted", bad[i]);
        assert_true(v); /* untouched */
        assert_non_null(strstr(err, "on or off"));
    }
    bool v = true;
    assert_int_equal(xgw_parse_switch(NULL, &v, err, sizeof err), XGW_EINVAL);
}

static void
test_types_and_negotiation(void **state)
{
    (void)state;
    char err[256];
    static const char *const types[] = {"federated", "public-verified", "public-unverified"};
    for (int i = 0; i < 3; i++) {
        xgw_partner_type_t t = (xgw_partner_type_t)99;
        assert_int_equal(xgw_parse_partner_type(types[i], &t, err, sizeof err), 0);
        assert_int_equal(t, i);
        assert_string_equal(xgw_partner_type_name(t), types[i]);
    }
    static const char *const bad_types[] = {"", "public", "publicverified", "PublicVerified2",
                                            "federated "};
    for (size_t i = 0; i < sizeof bad_types / sizeof bad_types[0]; i++) {
        xgw_partner_type_t t = XGW_PARTNER_FEDERATED;
        err[0] = '\0';
        assert_int_equal(xgw_parse_partner_type(bad_types[i], &t, err, sizeof err), XGW_EINVAL);
        assert_int_equal(t, XGW_PARTNER_FEDERATED);
        assert_non_null(strstr(err, "public-unverified")); /* lists the choices */
    }
    xgw_partner_type_t t = XGW_PARTNER_FEDERATED;
    assert_int_equal(xgw_parse_partner_type(NULL, &t, err, sizeof err), XGW_EINVAL);
    assert_string_equal(xgw_partner_type_name((xgw_partner_type_t)3), "?");

    static const char *const negs[] = {"required", "optional", "not-supported"};
    for (int i = 0; i < 3; i++) {
        xgw_negotiation_t n = (xgw_negotiation_t)99;
        assert_int_equal(xgw_parse_negotiation(negs[i], &n, err, sizeof err), 0);
        assert_int_equal(n, i);
        assert_string_equal(xgw_negotiation_name(n), negs[i]);
    }
    static const char *const bad_negs[] = {"", "notsupported", "none", "on", "require"};
    for (size_t i = 0; i < sizeof bad_negs / sizeof bad_negs[0]; i++) {
        xgw_negotiation_t n = XGW_NEG_OPTIONAL;
        err[0] = '\0';
        assert_int_equal(xgw_parse_negotiation(bad_negs[i], &n, err, sizeof err), XGW_EINVAL);
        assert_int_equal(n, XGW_NEG_OPTIONAL);
        assert_true(err[0] != '\0');
    }
    xgw_negotiation_t n = XGW_NEG_OPTIONAL;
    assert_int_equal(xgw_parse_negotiation(NULL, &n, err, sizeof err), XGW_EINVAL);
    assert_string_equal(xgw_negotiation_name((xgw_negotiation_t)7), "?");
    assert_string_equal(xgw_scope_name(XGW_SCOPE_GLOBAL), "global");
    assert_string_equal(xgw_scope_name(XGW_SCOPE_SITE), "site");
    assert_string_equal(xgw_scope_name(XGW_SCOPE_USER), "user");
    assert_string_equal(xgw_scope_name((xgw_scope_t)3), "?");
}

static void
test_scope(void **state)
{
    (void)state;
    char err[256], site[XGW_NAME_MAX + 1];
    xgw_scope_t s = XGW_SCOPE_USER;
    snprintf(site, sizeof site, "junk");
    assert_int_equal(xgw_parse_scope("global", &s, site, err, sizeof err), 0);
    assert_int_equal(s, XGW_SCOPE_GLOBAL);
    assert_string_equal(site, "");
    snprintf(site, sizeof site, "junk");
    assert_int_equal(xgw_parse_scope("user", &s, site, err, sizeof err), 0);
    assert_int_equal(s, XGW_SCOPE_USER);
    assert_string_equal(site, "");
    assert_int_equal(xgw_parse_scope("site:Redmond", &s, site, err, sizeof err), 0);
    assert_int_equal(s, XGW_SCOPE_SITE);
    assert_string_equal(site, "Redmond");
    char buf[100], text[120];
    snprintf(text, sizeof text, "site:%s", s_rep(buf, sizeof buf, 's', 64, ""));
    assert_int_equal(xgw_parse_scope(text, &s, site, err, sizeof err), 0);
    assert_string_equal(site, buf);

    static const char *const bad[] = {
        "",      "Global", "site",    "site:",         "site:a b", "site:a/b",
        "tag:x", "users",  "site :x", "site:\xc3\xa9", "global ",  "sites:x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s = XGW_SCOPE_USER;
        snprintf(site, sizeof site, "keep");
        err[0] = '\0';
        if (xgw_parse_scope(bad[i], &s, site, err, sizeof err) == 0)
            fail_msg("scope \"%s\" accepted", bad[i]);
        assert_int_equal(s, XGW_SCOPE_USER);
        assert_string_equal(site, "keep");
        assert_true(err[0] != '\0');
    }
    snprintf(text, sizeof text, "site:%s", s_rep(buf, sizeof buf, 's', 65, ""));
    assert_int_equal(xgw_parse_scope(text, &s, site, err, sizeof err), XGW_ETOOBIG);
    assert_int_equal(xgw_parse_scope(NULL, &s, site, err, sizeof err), XGW_EINVAL);
}

static void
test_uint(void **state)
{
    (void)state;
    char err[256];
    uint32_t v = 0;
    assert_int_equal(xgw_parse_uint("0", 0, 10, &v, err, sizeof err), 0);
    assert_int_equal(v, 0);
    assert_int_equal(xgw_parse_uint("10", 0, 10, &v, err, sizeof err), 0);
    assert_int_equal(v, 10);
    assert_int_equal(xgw_parse_uint("007", 0, 10, &v, err, sizeof err), 0);
    assert_int_equal(v, 7);
    assert_int_equal(xgw_parse_uint("4294967295", 0, UINT32_MAX, &v, err, sizeof err), 0);
    assert_int_equal(v, UINT32_MAX);
    assert_int_equal(xgw_parse_uint("5", 5, 5, &v, err, sizeof err), 0);
    assert_int_equal(v, 5);

    static const char *const bad[] = {"",
                                      "+1",
                                      "-1",
                                      "-0",
                                      " 1",
                                      "1 ",
                                      "1\n",
                                      "1a",
                                      "0x10",
                                      "1.5",
                                      "1e3",
                                      "4294967296",
                                      "18446744073709551615",
                                      "18446744073709551616",
                                      "99999999999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 12345;
        err[0] = '\0';
        if (xgw_parse_uint(bad[i], 0, UINT32_MAX, &v, err, sizeof err) == 0)
            fail_msg("number \"%s\" accepted as %u", bad[i], v);
        assert_int_equal(v, 12345);
        assert_true(err[0] != '\0');
    }
    v = 12345;
    assert_int_equal(xgw_parse_uint(NULL, 0, 10, &v, err, sizeof err), XGW_EINVAL);
    /* Range. */
    err[0] = '\0';
    assert_int_equal(xgw_parse_uint("11", 0, 10, &v, err, sizeof err), XGW_EINVAL);
    assert_non_null(strstr(err, "0..10"));
    assert_int_equal(xgw_parse_uint("0", 1, 10, &v, err, sizeof err), XGW_EINVAL);
    assert_int_equal(xgw_parse_uint("100001", 0, XGW_CONNECTION_LIMIT_MAX, &v, err, sizeof err),
                     XGW_EINVAL);
    assert_int_equal(v, 12345);
}

/* ---- defaults and cross-field rules ----------------------------------- */

static void
test_defaults(void **state)
{
    (void)state;
    xgw_ext_policy_t p;
    memset(&p, 0xff, sizeof p);
    xgw_ext_policy_defaults(&p);
    assert_false(p.federation);
    assert_false(p.xmpp);
    assert_false(p.public_cloud);
    assert_false(p.outside);
    assert_string_equal(p.name, "");
    assert_string_equal(p.description, "");

    xgw_partner_t pa;
    memset(&pa, 0xff, sizeof pa);
    xgw_partner_defaults(&pa);
    assert_int_equal(pa.type, XGW_PARTNER_PUBLIC_UNVERIFIED);
    assert_int_equal(pa.tls, XGW_NEG_REQUIRED);
    assert_int_equal(pa.sasl, XGW_NEG_REQUIRED);
    assert_true(pa.dialback);
    assert_true(pa.keepalive);
    assert_string_equal(pa.proxy_fqdn, "");
    assert_int_equal(pa.connection_limit, 0);

    xgw_gateway_t g;
    memset(&g, 0xff, sizeof g);
    xgw_gateway_defaults(&g);
    assert_int_equal(g.connection_limit, 1000);
    assert_int_equal(g.partner_connection_limit, 20);
    assert_int_equal(g.keepalive_interval_s, 300);
    assert_int_equal(g.stream_establishment_timeout_s, 60);
    assert_int_equal(g.stream_inactivity_timeout_s, 600);
    assert_int_equal(g.subscription_refresh_interval_s, 8 * 3600);
    assert_false(g.log_message_bodies);
    assert_string_equal(g.dialback_secret_ref, "");
}

static xgw_ext_policy_t
s_policy(const char *name, xgw_scope_t scope, const char *site, bool fed, bool xmpp)
{
    xgw_ext_policy_t p;
    xgw_ext_policy_defaults(&p);
    snprintf(p.name, sizeof p.name, "%s", name);
    p.scope = scope;
    snprintf(p.site, sizeof p.site, "%s", site);
    p.federation = fed;
    p.xmpp = xmpp;
    return p;
}

static void
test_ext_policy_check(void **state)
{
    (void)state;
    char err[256];
    xgw_ext_policy_t p;

    p = s_policy("global", XGW_SCOPE_GLOBAL, "", false, false);
    assert_int_equal(xgw_ext_policy_check(&p, err, sizeof err), 0);
    p = s_policy("global", XGW_SCOPE_GLOBAL, "", true, true);
    assert_int_equal(xgw_ext_policy_check(&p, err, sizeof err), 0);
    p = s_policy("AllowXmpp", XGW_SCOPE_USER, "", true, true);
    assert_int_equal(xgw_ext_policy_check(&p, err, sizeof err), 0);
    p = s_policy("FedOnly", XGW_SCOPE_USER, "", true, false);
    assert_int_equal(xgw_ext_policy_check(&p, err, sizeof err), 0);
    p = s_policy("Redmond", XGW_SCOPE_SITE, "Redmond", true, true);
    assert_int_equal(xgw_ext_policy_check(&p, err, sizeof err), 0);
    p.public_cloud = true;
    p.outside = true;
    assert_int_equal(xgw_ext_policy_check(&p, err, sizeof err), 0);

    /* xmpp on with federation off, at every scope: refused, saying why. */
    static const xgw_scope_t scopes[] = {XGW_SCOPE_GLOBAL, XGW_SCOPE_SITE, XGW_SCOPE_USER};
    static const char *const names[] = {"global", "S1", "U1"};
    for (size_t i = 0; i < 3; i++) {
        p = s_policy(names[i], scopes[i], scopes[i] == XGW_SCOPE_SITE ? "S1" : "", false, true);
        err[0] = '\0';
        assert_int_equal(xgw_ext_policy_check(&p, err, sizeof err), XGW_EINVAL);
        assert_non_null(strstr(err, "federation"));
        assert_non_null(strstr(err, "xmpp"));
    }
    /* A site policy needs its site. */
    p = s_policy("S1", XGW_SCOPE_SITE, "", true, true);
    err[0] = '\0';
    assert_int_equal(xgw_ext_policy_check(&p, err, sizeof err), XGW_EINVAL);
    assert_non_null(strstr(err, "site"));
    /* "global" is the global policy's name only, and the only global. */
    p = s_policy("global", XGW_SCOPE_USER, "", false, false);
    err[0] = '\0';
    assert_int_equal(xgw_ext_policy_check(&p, err, sizeof err), XGW_EINVAL);
    assert_non_null(strstr(err, "global"));
    p = s_policy("global", XGW_SCOPE_SITE, "S1", false, false);
    assert_int_equal(xgw_ext_policy_check(&p, err, sizeof err), XGW_EINVAL);
    p = s_policy("other", XGW_SCOPE_GLOBAL, "", false, false);
    err[0] = '\0';
    assert_int_equal(xgw_ext_policy_check(&p, err, sizeof err), XGW_EINVAL);
    assert_non_null(strstr(err, "global"));
}

/* ---- the TLS/SASL/dialback matrix ------------------------------------- */

typedef enum { S_ACCEPT, S_WARN, S_REFUSE } s_verdict_t;

typedef struct {
    xgw_negotiation_t tls, sasl;
    bool dialback;
    s_verdict_t verdict;
    const char *text_has; /* a word the warning or the reason must contain */
} s_auth_case_t;

#define R XGW_NEG_REQUIRED
#define O XGW_NEG_OPTIONAL
#define N XGW_NEG_NOT_SUPPORTED

static void
test_partner_auth_matrix(void **state)
{
    (void)state;
    /* Reference b.1 table, rows in its order. SASL needs TLS, and some
     * authentication must remain; TLS and SASL both required disables
     * dialback (warned); SASL required over optional TLS and optional/
     * optional without dialback can fail with some partners (warned). */
    static const s_auth_case_t cases[18] = {
        {R, R, true, S_WARN, "dialback"}, {R, R, false, S_ACCEPT, NULL},
        {O, R, true, S_WARN, "TLS"},      {O, R, false, S_WARN, "TLS"},
        {N, R, true, S_REFUSE, "TLS"},    {N, R, false, S_REFUSE, "TLS"},
        {R, O, true, S_ACCEPT, NULL},     {R, O, false, S_ACCEPT, NULL},
        {O, O, true, S_ACCEPT, NULL},     {O, O, false, S_WARN, "dialback"},
        {N, O, true, S_REFUSE, "TLS"},    {N, O, false, S_REFUSE, "TLS"},
        {R, N, true, S_ACCEPT, NULL},     {R, N, false, S_REFUSE, "dialback"},
        {O, N, true, S_ACCEPT, NULL},     {O, N, false, S_REFUSE, "dialback"},
        {N, N, true, S_ACCEPT, NULL},     {N, N, false, S_REFUSE, "dialback"},
    };
    int seen[3][3][2] = {{{0}}};
    int counts[3] = {0, 0, 0};
    for (size_t i = 0; i < 18; i++) {
        const s_auth_case_t *c = &cases[i];
        seen[c->tls][c->sasl][c->dialback]++;
        char warn[256], err[256];
        memset(warn, 'W', sizeof warn - 1);
        warn[sizeof warn - 1] = '\0';
        err[0] = '\0';
        int rc = xgw_partner_auth_check(c->tls, c->sasl, c->dialback, warn, sizeof warn, err,
                                        sizeof err);
        const char *label_t = xgw_negotiation_name(c->tls),
                   *label_s = xgw_negotiation_name(c->sasl);
        switch (c->verdict) {
        case S_ACCEPT:
            if (rc != 0 || warn[0] || err[0])
                fail_msg("tls=%s sasl=%s dialback=%d: want accepted, got rc=%d warn=\"%s\" "
                         "err=\"%s\"",
                         label_t, label_s, c->dialback, rc, warn, err);
            break;
        case S_WARN:
            if (rc != 0 || !warn[0] || err[0])
                fail_msg("tls=%s sasl=%s dialback=%d: want a warning, got rc=%d warn=\"%s\" "
                         "err=\"%s\"",
                         label_t, label_s, c->dialback, rc, warn, err);
            if (!strstr(warn, c->text_has))
                fail_msg("warning \"%s\" lacks \"%s\"", warn, c->text_has);
            break;
        case S_REFUSE:
            if (rc != XGW_EINVAL || warn[0] || !err[0])
                fail_msg("tls=%s sasl=%s dialback=%d: want refused, got rc=%d warn=\"%s\" "
                         "err=\"%s\"",
                         label_t, label_s, c->dialback, rc, warn, err);
            if (!strstr(err, c->text_has))
                fail_msg("reason \"%s\" lacks \"%s\"", err, c->text_has);
            break;
        }
        counts[c->verdict]++;
    }
    /* The table covers each combination exactly once. */
    for (int t = 0; t < 3; t++)
        for (int s = 0; s < 3; s++)
            for (int d = 0; d < 2; d++)
                assert_int_equal(seen[t][s][d], 1);
    assert_int_equal(counts[S_ACCEPT], 7);
    assert_int_equal(counts[S_WARN], 4);
    assert_int_equal(counts[S_REFUSE], 7);

    /* NULL warn buffer is allowed. */
    char err[256];
    assert_int_equal(xgw_partner_auth_check(R, R, true, NULL, 0, err, sizeof err), 0);
    /* The Lync defaults land on the warned row. */
    xgw_partner_t p;
    xgw_partner_defaults(&p);
    char warn[256];
    assert_int_equal(
        xgw_partner_auth_check(p.tls, p.sasl, p.dialback, warn, sizeof warn, err, sizeof err), 0);
    assert_true(warn[0] != '\0');
    /* The Google Talk recipe: TCP dialback only, accepted silently. */
    assert_int_equal(xgw_partner_auth_check(N, N, true, warn, sizeof warn, err, sizeof err), 0);
    assert_string_equal(warn, "");
}

#undef R
#undef O
#undef N

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_domain_normalize),
        cmocka_unit_test(test_deny_pattern),
        cmocka_unit_test(test_sip_address),
        cmocka_unit_test(test_xmpp_address),
        cmocka_unit_test(test_name_check),
        cmocka_unit_test(test_description),
        cmocka_unit_test(test_description_strict_utf8),
        cmocka_unit_test(test_proxy),
        cmocka_unit_test(test_proxy_ipv4_strict),
        cmocka_unit_test(test_domain_list),
        cmocka_unit_test(test_domain_list_trailing_comma),
        cmocka_unit_test(test_switch),
        cmocka_unit_test(test_types_and_negotiation),
        cmocka_unit_test(test_scope),
        cmocka_unit_test(test_uint),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_ext_policy_check),
        cmocka_unit_test(test_partner_auth_matrix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
