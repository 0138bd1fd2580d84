/*
 * test_errmap.c - RFC 7247 error mapping (lib/xgw_errmap.h): every row of
 * checklist tables 8.1 and 8.2 (typed in again here from the checklist, not
 * copied from the module), the class fall-backs, the ERR-03/04/05/08/09
 * rules, unknown inputs and the reason phrases.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "xgw_errmap.h"
#include "xgw_error.h"

/* Checklist 8.1: condition, code for a full JID, code for a bare JID. */
static const struct {
    const char *cond;
    int full, bare;
    const char *type; /* RFC 6120 8.3.3 default */
} s_t81[] = {
    {"bad-request", 400, 400, "modify"},
    {"conflict", 400, 400, "cancel"},
    {"feature-not-implemented", 405, 501, "cancel"},
    {"forbidden", 403, 603, "auth"},
    {"gone", 410, 410, "cancel"},
    {"internal-server-error", 500, 500, "cancel"},
    {"item-not-found", 404, 604, "cancel"},
    {"jid-malformed", 400, 400, "modify"},
    {"not-acceptable", 406, 606, "modify"},
    {"not-allowed", 403, 403, "cancel"},
    {"not-authorized", 401, 401, "auth"},
    {"policy-violation", 403, 403, "modify"},
    {"recipient-unavailable", 480, 600, "wait"},
    {"redirect", 302, 302, "modify"},
    {"registration-required", 407, 407, "auth"},
    {"remote-server-not-found", 404, 404, "cancel"},
    {"remote-server-timeout", 408, 408, "wait"},
    {"resource-constraint", 500, 500, "wait"},
    {"service-unavailable", 403, 403, "cancel"},
    {"subscription-required", 400, 400, "auth"},
    {"undefined-condition", 400, 400, "cancel"},
    {"unexpected-request", 400, 400, "wait"},
};

/* Checklist 8.2, every listed code. */
static const struct {
    int code;
    const char *cond;
    const char *type;
} s_t82[] = {
    {300, "redirect", "modify"},
    {301, "gone", "cancel"},
    {302, "redirect", "modify"},
    {305, "redirect", "modify"},
    {380, "not-acceptable", "modify"},
    {400, "bad-request", "modify"},
    {401, "not-authorized", "auth"},
    {402, "bad-request", "modify"},
    {403, "forbidden", "auth"},
    {404, "item-not-found", "cancel"},
    {405, "feature-not-implemented", "cancel"},
    {406, "not-acceptable", "modify"},
    {407, "registration-required", "auth"},
    {408, "remote-server-timeout", "wait"},
    {410, "gone", "cancel"},
    {413, "policy-violation", "modify"},
    {414, "policy-violation", "modify"},
    {415, "not-acceptable", "modify"},
    {416, "not-acceptable", "modify"},
    {420, "feature-not-implemented", "cancel"},
    {421, "not-acceptable", "modify"},
    {423, "resource-constraint", "wait"},
    {430, "recipient-unavailable", "wait"},
    {439, "feature-not-implemented", "cancel"},
    {440, "policy-violation", "modify"},
    {480, "recipient-unavailable", "wait"},
    {481, "item-not-found", "cancel"},
    {482, "not-acceptable", "modify"},
    {483, "not-acceptable", "modify"},
    {484, "item-not-found", "cancel"},
    {485, "item-not-found", "cancel"},
    {486, "recipient-unavailable", "wait"},
    {487, "recipient-unavailable", "wait"},
    {488, "not-acceptable", "modify"},
    {489, "policy-violation", "modify"},
    {491, "unexpected-request", "wait"},
    {493, "bad-request", "modify"},
    {500, "internal-server-error", "cancel"},
    {501, "feature-not-implemented", "cancel"},
    {502, "remote-server-not-found", "cancel"},
    {503, "internal-server-error", "cancel"},
    {504, "remote-server-timeout", "wait"},
    {505, "not-acceptable", "modify"},
    {513, "policy-violation", "modify"},
    {600, "recipient-unavailable", "wait"},
    {603, "recipient-unavailable", "wait"},
    {604, "item-not-found", "cancel"},
    {606, "not-acceptable", "modify"},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void
test_table_8_1(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(s_t81); i++) {
        int full = xgw_errmap_xmpp_to_sip(s_t81[i].cond, 0);
        int bare = xgw_errmap_xmpp_to_sip(s_t81[i].cond, XGW_ERRMAP_BARE);
        if (full != s_t81[i].full || bare != s_t81[i].bare)
            fail_msg("%s: full %d bare %d, want %d %d", s_t81[i].cond, full, bare, s_t81[i].full,
                     s_t81[i].bare);
        assert_true(xgw_errmap_condition_known(s_t81[i].cond));
        assert_string_equal(xgw_errmap_condition_type(s_t81[i].cond), s_t81[i].type);
    }
    /* 22 conditions, all in the table above. */
    assert_int_equal(N(s_t81), 22);
}

static void
test_gone_and_redirect(void **state)
{
    (void)state;
    /* ERR-03: <gone> with an address gives 301, empty <gone/> 410. */
    assert_int_equal(xgw_errmap_xmpp_to_sip("gone", XGW_ERRMAP_GONE_ADDRESS), 301);
    assert_int_equal(xgw_errmap_xmpp_to_sip("gone", XGW_ERRMAP_GONE_ADDRESS | XGW_ERRMAP_BARE),
                     301);
    assert_int_equal(xgw_errmap_xmpp_to_sip("gone", 0), 410);
    /* The flag means nothing for other conditions. */
    assert_int_equal(xgw_errmap_xmpp_to_sip("forbidden", XGW_ERRMAP_GONE_ADDRESS), 403);
    xgw_errmap_xmpp_t x;
    assert_int_equal(xgw_errmap_sip_to_xmpp(301, 0, &x), 0);
    assert_string_equal(x.condition, "gone");
    assert_true(x.with_address);
    assert_int_equal(xgw_errmap_sip_to_xmpp(410, 0, &x), 0);
    assert_string_equal(x.condition, "gone");
    assert_false(x.with_address);
    static const int redirects[] = {300, 302, 305, 303, 399};
    for (size_t i = 0; i < N(redirects); i++) {
        assert_int_equal(xgw_errmap_sip_to_xmpp(redirects[i], 0, &x), 0);
        assert_string_equal(x.condition, "redirect");
        assert_true(x.with_address);
    }
    assert_int_equal(xgw_errmap_sip_to_xmpp(380, 0, &x), 0);
    assert_false(x.with_address);
    assert_int_equal(xgw_errmap_sip_to_xmpp(404, 0, &x), 0);
    assert_false(x.with_address);
}

static void
test_err05_never_503(void **state)
{
    (void)state;
    assert_int_equal(xgw_errmap_xmpp_to_sip("service-unavailable", 0), 403);
    assert_int_equal(xgw_errmap_xmpp_to_sip("service-unavailable", XGW_ERRMAP_BARE), 403);
    for (size_t i = 0; i < N(s_t81); i++) {
        for (unsigned f = 0; f < 8; f++) {
            int c = xgw_errmap_xmpp_to_sip(s_t81[i].cond, f);
            assert_int_not_equal(c, 503);
            assert_true(c >= 300 && c <= 699);
        }
    }
}

static void
test_table_8_2(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(s_t82); i++) {
        xgw_errmap_xmpp_t x;
        int rc = xgw_errmap_sip_to_xmpp(s_t82[i].code, 0, &x);
        if (rc != 0 || strcmp(x.condition, s_t82[i].cond) != 0 || strcmp(x.type, s_t82[i].type))
            fail_msg("%d: rc %d %s/%s, want %s/%s", s_t82[i].code, rc,
                     x.condition ? x.condition : "-", x.type ? x.type : "-", s_t82[i].cond,
                     s_t82[i].type);
        assert_false(x.by_class);
        /* The condition has the same default type (one declaration). */
        assert_string_equal(xgw_errmap_condition_type(x.condition), x.type);
    }
}

static void
test_err01_class_fallback(void **state)
{
    (void)state;
    static const struct {
        int code;
        const char *cond;
        const char *type;
    } cases[] = {
        {303, "redirect", "modify"},
        {399, "redirect", "modify"},
        {409, "bad-request", "modify"},
        {422, "bad-request", "modify"},
        {429, "bad-request", "modify"},
        {490, "bad-request", "modify"},
        {494, "bad-request", "modify"},
        {499, "bad-request", "modify"},
        {506, "internal-server-error", "cancel"},
        {580, "internal-server-error", "cancel"},
        {599, "internal-server-error", "cancel"},
        {601, "recipient-unavailable", "wait"},
        {605, "recipient-unavailable", "wait"},
        {607, "recipient-unavailable", "wait"},
        {699, "recipient-unavailable", "wait"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        xgw_errmap_xmpp_t x;
        assert_int_equal(xgw_errmap_sip_to_xmpp(cases[i].code, 0, &x), 0);
        assert_string_equal(x.condition, cases[i].cond);
        assert_string_equal(x.type, cases[i].type);
        assert_true(x.by_class);
    }
    /* 1xx and 2xx: nothing; out of range: refused, out zeroed. */
    static const int none[] = {100, 180, 183, 199, 200, 202, 204, 299};
    for (size_t i = 0; i < N(none); i++) {
        xgw_errmap_xmpp_t x;
        memset(&x, 0x5a, sizeof x);
        assert_int_equal(xgw_errmap_sip_to_xmpp(none[i], 0, &x), XGW_ENOENT);
        assert_null(x.condition);
        assert_null(x.type);
    }
    static const int bad[] = {-404, 0, 99, 700, 1000};
    for (size_t i = 0; i < N(bad); i++) {
        xgw_errmap_xmpp_t x;
        memset(&x, 0x5a, sizeof x);
        assert_int_equal(xgw_errmap_sip_to_xmpp(bad[i], 0, &x), XGW_EINVAL);
        assert_null(x.condition);
    }
}

static void
test_err08_privacy(void **state)
{
    (void)state;
    xgw_errmap_xmpp_t x;
    assert_int_equal(xgw_errmap_sip_to_xmpp(404, XGW_ERRMAP_PRIVACY, &x), 0);
    assert_string_equal(x.condition, "service-unavailable");
    assert_string_equal(x.type, "cancel");
    assert_int_equal(xgw_errmap_sip_to_xmpp(604, XGW_ERRMAP_PRIVACY, &x), 0);
    assert_string_equal(x.condition, "service-unavailable");
    /* Without the flag: Table 3. */
    assert_int_equal(xgw_errmap_sip_to_xmpp(404, 0, &x), 0);
    assert_string_equal(x.condition, "item-not-found");
    /* The flag changes nothing else. */
    for (size_t i = 0; i < N(s_t82); i++) {
        if (s_t82[i].code == 404 || s_t82[i].code == 604)
            continue;
        assert_int_equal(xgw_errmap_sip_to_xmpp(s_t82[i].code, XGW_ERRMAP_PRIVACY, &x), 0);
        assert_string_equal(x.condition, s_t82[i].cond);
    }
}

static void
test_err04_bare_full(void **state)
{
    (void)state;
    /* A MESSAGE to a malformed JID: 400. */
    assert_int_equal(xgw_errmap_xmpp_to_sip("jid-malformed", 0), 400);
    /* <forbidden/> for a bare JID 603, for a GRUU target 403. */
    assert_int_equal(xgw_errmap_xmpp_to_sip("forbidden", XGW_ERRMAP_BARE), 603);
    assert_int_equal(xgw_errmap_xmpp_to_sip("forbidden", 0), 403);
    assert_int_equal(xgw_errmap_xmpp_to_sip("feature-not-implemented", 0), 405);
    assert_int_equal(xgw_errmap_xmpp_to_sip("feature-not-implemented", XGW_ERRMAP_BARE), 501);
    /* ERR-06 conditions. */
    assert_int_equal(xgw_errmap_xmpp_to_sip("remote-server-not-found", 0), 404);
    assert_int_equal(xgw_errmap_xmpp_to_sip("remote-server-timeout", 0), 408);
    assert_int_equal(xgw_errmap_xmpp_to_sip("internal-server-error", 0), 500);
}

static void
test_unknown_conditions(void **state)
{
    (void)state;
    static const char *const unknown[] = {"payment-required",   "Forbidden",      "forbidden ", "",
                                          "urn:x:app-specific", "item-not-found/"};
    for (size_t i = 0; i < N(unknown); i++) {
        assert_false(xgw_errmap_condition_known(unknown[i]));
        assert_null(xgw_errmap_condition_type(unknown[i]));
        assert_int_equal(xgw_errmap_xmpp_to_sip(unknown[i], 0), 400);
        assert_int_equal(xgw_errmap_xmpp_to_sip(unknown[i], XGW_ERRMAP_BARE), 400);
    }
    assert_false(xgw_errmap_condition_known(NULL));
    assert_null(xgw_errmap_condition_type(NULL));
    assert_int_equal(xgw_errmap_xmpp_to_sip(NULL, 0), 400);
}

static void
test_reason_phrases(void **state)
{
    (void)state;
    assert_string_equal(xgw_errmap_reason_phrase(200), "OK");
    assert_string_equal(xgw_errmap_reason_phrase(202), "Accepted");
    assert_string_equal(xgw_errmap_reason_phrase(404), "Not Found");
    assert_string_equal(xgw_errmap_reason_phrase(416), "Unsupported URI Scheme");
    assert_string_equal(xgw_errmap_reason_phrase(481), "Call/Transaction Does Not Exist");
    assert_string_equal(xgw_errmap_reason_phrase(489), "Bad Event");
    assert_string_equal(xgw_errmap_reason_phrase(503), "Service Unavailable");
    assert_string_equal(xgw_errmap_reason_phrase(603), "Decline");
    /* Class names for codes without a registered phrase. */
    assert_string_equal(xgw_errmap_reason_phrase(150), "Provisional");
    assert_string_equal(xgw_errmap_reason_phrase(299), "Success");
    assert_string_equal(xgw_errmap_reason_phrase(399), "Redirection");
    assert_string_equal(xgw_errmap_reason_phrase(499), "Client Error");
    assert_string_equal(xgw_errmap_reason_phrase(599), "Server Error");
    assert_string_equal(xgw_errmap_reason_phrase(699), "Global Failure");
    assert_string_equal(xgw_errmap_reason_phrase(99), "Unknown");
    assert_string_equal(xgw_errmap_reason_phrase(700), "Unknown");
    assert_string_equal(xgw_errmap_reason_phrase(-1), "Unknown");
    /* Every code the gateway can produce from 8.1 has its own phrase. */
    static const char *const classes[] = {"Provisional",  "Success",      "Redirection",
                                          "Client Error", "Server Error", "Global Failure"};
    for (size_t i = 0; i < N(s_t81); i++) {
        for (unsigned f = 0; f < 4; f++) {
            int c = xgw_errmap_xmpp_to_sip(s_t81[i].cond, f);
            const char *p = xgw_errmap_reason_phrase(c);
            for (size_t k = 0; k < N(classes); k++)
                assert_string_not_equal(p, classes[k]);
        }
    }
    for (size_t i = 0; i < N(s_t82); i++)
        assert_string_not_equal(xgw_errmap_reason_phrase(s_t82[i].code),
                                classes[s_t82[i].code / 100 - 1]);
}

static void
test_err09_subscription_reason(void **state)
{
    (void)state;
    assert_string_equal(xgw_errmap_subscription_reason("item-not-found", "cancel"), "noresource");
    assert_string_equal(xgw_errmap_subscription_reason("remote-server-not-found", NULL),
                        "noresource");
    assert_string_equal(xgw_errmap_subscription_reason("gone", "modify"), "noresource");
    assert_string_equal(xgw_errmap_subscription_reason("forbidden", "auth"), "rejected");
    assert_string_equal(xgw_errmap_subscription_reason("not-authorized", NULL), "rejected");
    assert_string_equal(xgw_errmap_subscription_reason("remote-server-timeout", NULL), "probation");
    assert_string_equal(xgw_errmap_subscription_reason("resource-constraint", "wait"), "probation");
    /* The received type wins over the condition's default. */
    assert_string_equal(xgw_errmap_subscription_reason("policy-violation", "wait"), "probation");
    assert_string_equal(xgw_errmap_subscription_reason("remote-server-timeout", "cancel"),
                        "rejected");
    assert_string_equal(xgw_errmap_subscription_reason("service-unavailable", NULL), "rejected");
    assert_string_equal(xgw_errmap_subscription_reason("urn:x:unknown", NULL), "rejected");
    assert_string_equal(xgw_errmap_subscription_reason("urn:x:unknown", "wait"), "probation");
    assert_string_equal(xgw_errmap_subscription_reason(NULL, NULL), "rejected");
}

/* Every code 300..699 maps to a known condition, and mapping that
 * condition back gives a code of an error class. */
static void
test_all_codes_consistent(void **state)
{
    (void)state;
    for (int code = 300; code <= 699; code++) {
        xgw_errmap_xmpp_t x;
        assert_int_equal(xgw_errmap_sip_to_xmpp(code, 0, &x), 0);
        assert_true(xgw_errmap_condition_known(x.condition));
        assert_non_null(x.type);
        int back = xgw_errmap_xmpp_to_sip(
            x.condition, x.with_address && code == 301 ? XGW_ERRMAP_GONE_ADDRESS : 0);
        assert_true(back >= 300 && back <= 699 && back != 503);
    }
    /* Round trips that the tables make exact. */
    xgw_errmap_xmpp_t x;
    assert_int_equal(xgw_errmap_sip_to_xmpp(301, 0, &x), 0);
    assert_int_equal(xgw_errmap_xmpp_to_sip(x.condition, XGW_ERRMAP_GONE_ADDRESS), 301);
    assert_int_equal(xgw_errmap_sip_to_xmpp(408, 0, &x), 0);
    assert_int_equal(xgw_errmap_xmpp_to_sip(x.condition, 0), 408);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_8_1),
        cmocka_unit_test(test_gone_and_redirect),
        cmocka_unit_test(test_err05_never_503),
        cmocka_unit_test(test_table_8_2),
        cmocka_unit_test(test_err01_class_fallback),
        cmocka_unit_test(test_err08_privacy),
        cmocka_unit_test(test_err04_bare_full),
        cmocka_unit_test(test_unknown_conditions),
        cmocka_unit_test(test_reason_phrases),
        cmocka_unit_test(test_err09_subscription_reason),
        cmocka_unit_test(test_all_codes_consistent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
