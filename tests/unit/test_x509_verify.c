/*
 * test_x509_verify.c - the peer validation library against certificates
 * issued in the test by a test CA (support_cert.c): every case of issue 4
 * and rules CRT-01..CRT-07, each with its expected verdict and reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../integration/support_cert.h"
#include "xgw_metrics.h"
#include "xgw_x509.h"
#include "xgw_x509_verify.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../integration/support_cert.c"

#define S_DAY 86400

typedef struct {
    int64_t now;
    xt_cert_t root;            /* trusted anchor */
    xt_cert_t inter;           /* CA:TRUE intermediate under root */
    xt_cert_t badint;          /* CA:FALSE "intermediate" under root */
    xt_cert_t rogue;           /* an untrusted root */
    X509_STORE *trust;         /* holds root only */
    STACK_OF(X509) * chain;    /* [inter] */
    STACK_OF(X509) * badchain; /* [badint] */
} s_pki_t;

static s_pki_t s_pki;

static int
s_setup(void **state)
{
    (void)state;
    s_pki.now = (int64_t)time(NULL);
    int64_t now = s_pki.now;
    xt_cert_spec_t root = {.rsa_bits = 2048,
                           .cn = "xgw Test Root CA",
                           .ca = 1,
                           .not_before = now - S_DAY,
                           .not_after = now + 3650 * S_DAY};
    if (xt_cert_make(&root, NULL, &s_pki.root) != 0)
        return -1;
    xt_cert_spec_t inter = {.cn = "xgw Test Issuing CA",
                            .ca = 1,
                            .not_before = now - S_DAY,
                            .not_after = now + 1000 * S_DAY};
    if (xt_cert_make(&inter, &s_pki.root, &s_pki.inter) != 0)
        return -1;
    xt_cert_spec_t badint = {
        .cn = "not a CA", .ca = 0, .not_before = now - S_DAY, .not_after = now + 1000 * S_DAY};
    if (xt_cert_make(&badint, &s_pki.root, &s_pki.badint) != 0)
        return -1;
    xt_cert_spec_t rogue = {
        .cn = "Rogue Root", .ca = 1, .not_before = now - S_DAY, .not_after = now + 1000 * S_DAY};
    if (xt_cert_make(&rogue, NULL, &s_pki.rogue) != 0)
        return -1;
    s_pki.trust = X509_STORE_new();
    X509_STORE_add_cert(s_pki.trust, s_pki.root.cert);
    s_pki.chain = sk_X509_new_null();
    sk_X509_push(s_pki.chain, s_pki.inter.cert);
    s_pki.badchain = sk_X509_new_null();
    sk_X509_push(s_pki.badchain, s_pki.badint.cert);
    return 0;
}

static int
s_teardown(void **state)
{
    (void)state;
    sk_X509_free(s_pki.chain);
    sk_X509_free(s_pki.badchain);
    X509_STORE_free(s_pki.trust);
    xt_cert_free(&s_pki.root);
    xt_cert_free(&s_pki.inter);
    xt_cert_free(&s_pki.badint);
    xt_cert_free(&s_pki.rogue);
    return 0;
}

/* A leaf under the intermediate, valid now, serverAuth + clientAuth,
 * unless the spec says otherwise. */
static xt_cert_spec_t
s_leaf(const char *cn, const char *san)
{
    xt_cert_spec_t s = {.cn = cn,
                        .san = san,
                        .eku = "serverAuth,clientAuth",
                        .not_before = s_pki.now - S_DAY,
                        .not_after = s_pki.now + 90 * S_DAY};
    return s;
}

/* Issues spec under issuer and verifies it for domain. */
static xgw_x509_verdict_t
s_judge(const xt_cert_spec_t *spec, const xt_cert_t *issuer, STACK_OF(X509) * chain,
        const char *domain, char *reason, size_t len)
{
    xt_cert_t c;
    assert_int_equal(xt_cert_make(spec, issuer, &c), 0);
    xgw_x509_verdict_t v =
        xgw_x509_verify_peer(c.cert, chain, s_pki.trust, domain, s_pki.now, reason, len);
    xt_cert_free(&c);
    return v;
}

#define S_EXPECT(spec, domain, verdict, needle)                                                    \
    do {                                                                                           \
        char r_[1024];                                                                             \
        xt_cert_spec_t sp_ = (spec);                                                               \
        xgw_x509_verdict_t v_ = s_judge(&sp_, &s_pki.inter, s_pki.chain, domain, r_, sizeof r_);   \
        if (v_ != (verdict) || !strstr(r_, needle))                                                \
            print_error("domain %s: got %s \"%s\", want %s \"%s\"\n", domain,                      \
                        xgw_x509_verdict_name(v_), r_, xgw_x509_verdict_name(verdict), needle);    \
        assert_int_equal(v_, verdict);                                                             \
        assert_non_null(strstr(r_, needle));                                                       \
    } while (0)

static void
test_good(void **state)
{
    (void)state;
    S_EXPECT(s_leaf("example.com", "DNS:example.com"), "example.com", XGW_X509_VALID,
             "valid (dns-id)");
    /* CRT-02: case-insensitive, and a trailing dot on the reference. */
    S_EXPECT(s_leaf("x", "DNS:EXAMPLE.COM"), "Example.Com.", XGW_X509_VALID, "dns-id");
    /* CRT-02: a U-label reference matches the A-label DNS-ID. */
    S_EXPECT(s_leaf("x", "DNS:xn--bcher-kva.example"),
             "b\xc3\xbc"
             "cher.example",
             XGW_X509_VALID, "dns-id");
}

static void
test_wrong_name(void **state)
{
    (void)state;
    S_EXPECT(s_leaf("other.example", "DNS:other.example"), "example.com", XGW_X509_NAME_MISMATCH,
             "does not name example.com (it names DNS-ID other.example");
    /* CRT-01: the SRV target's certificate does not do for the domain. */
    S_EXPECT(s_leaf("xmpp.hosting.test", "DNS:xmpp.hosting.test"), "example.com",
             XGW_X509_NAME_MISMATCH, "xmpp.hosting.test");
    /* The reference is never an IP address. */
    S_EXPECT(s_leaf("x", "DNS:example.com,IP:192.0.2.1"), "192.0.2.1", XGW_X509_INVALID,
             "XMPP domain");
}

static void
test_wildcards(void **state)
{
    (void)state;
    /* CRT-03: one left-most label, exactly. */
    S_EXPECT(s_leaf("x", "DNS:*.example.com"), "chat.example.com", XGW_X509_VALID, "dns-id");
    S_EXPECT(s_leaf("x", "DNS:*.example.com"), "example.com", XGW_X509_NAME_MISMATCH,
             "does not name example.com");
    S_EXPECT(s_leaf("x", "DNS:*.example.com"), "a.b.example.com", XGW_X509_NAME_MISMATCH,
             "does not name a.b.example.com");
    /* A wildcard at the wrong label. */
    S_EXPECT(s_leaf("x", "DNS:chat.*.example.com"), "chat.eu.example.com", XGW_X509_NAME_MISMATCH,
             "chat.*.example.com");
    /* Partial-label wildcards and wildcards inside A-labels are refused. */
    S_EXPECT(s_leaf("x", "DNS:c*.example.com"), "chat.example.com", XGW_X509_NAME_MISMATCH,
             "does not name");
    S_EXPECT(s_leaf("x", "DNS:xn--*.example.com"), "xn--bcher-kva.example.com",
             XGW_X509_NAME_MISMATCH, "does not name");
    /* Not over a single remaining label. */
    S_EXPECT(s_leaf("x", "DNS:*.com"), "example.com", XGW_X509_NAME_MISMATCH, "does not name");
}

static void
test_srv_id(void **state)
{
    (void)state;
    /* CRT-04: SRV-ID only. */
    S_EXPECT(s_leaf(NULL, "otherName:1.3.6.1.5.5.7.8.7;IA5:_xmpp-server.example.com"),
             "example.com", XGW_X509_VALID, "valid (srv-id)");
    S_EXPECT(s_leaf(NULL, "otherName:1.3.6.1.5.5.7.8.7;IA5:_XMPP-Server.example.com"),
             "example.com", XGW_X509_VALID, "srv-id");
    S_EXPECT(s_leaf(NULL, "otherName:1.3.6.1.5.5.7.8.7;IA5:_xmpp-client.example.com"),
             "example.com", XGW_X509_NAME_MISMATCH, "SRV-ID _xmpp-client.example.com");
}

static void
test_xmppaddr(void **state)
{
    (void)state;
    /* CRT-05: XmppAddr only. */
    S_EXPECT(s_leaf(NULL, "otherName:1.3.6.1.5.5.7.8.5;UTF8:example.com"), "example.com",
             XGW_X509_VALID, "valid (xmppaddr)");
    /* A user JID is not a server identity. */
    S_EXPECT(s_leaf(NULL, "otherName:1.3.6.1.5.5.7.8.5;UTF8:juliet@example.com"), "example.com",
             XGW_X509_NAME_MISMATCH, "XmppAddr juliet@example.com");
}

static void
test_cn(void **state)
{
    (void)state;
    /* CRT-06: CN only is accepted (per policy) ... */
    S_EXPECT(s_leaf("example.com", NULL), "example.com", XGW_X509_VALID, "valid (cn)");
    S_EXPECT(s_leaf("other.example", NULL), "example.com", XGW_X509_NAME_MISMATCH,
             "no subjectAltName and its CN (other.example) is not example.com");
    /* ... never when a SAN of any kind is present. */
    S_EXPECT(s_leaf("example.com", "DNS:other.example"), "example.com", XGW_X509_NAME_MISMATCH,
             "its CN example.com is not used");
    S_EXPECT(s_leaf("example.com", "URI:xmpp:other.example"), "example.com", XGW_X509_NAME_MISMATCH,
             "none of them a DNS-ID");
}

static void
test_validity(void **state)
{
    (void)state;
    xt_cert_spec_t expired = s_leaf("example.com", "DNS:example.com");
    expired.not_before = s_pki.now - 400 * S_DAY;
    expired.not_after = s_pki.now - 10 * S_DAY;
    S_EXPECT(expired, "example.com", XGW_X509_EXPIRED, "the certificate expired at ");
    xt_cert_spec_t future = s_leaf("example.com", "DNS:example.com");
    future.not_before = s_pki.now + 10 * S_DAY;
    future.not_after = s_pki.now + 400 * S_DAY;
    S_EXPECT(future, "example.com", XGW_X509_NOT_YET_VALID, "is not valid before");
}

static void
test_chain(void **state)
{
    (void)state;
    char r[512];
    /* Unknown CA. */
    xt_cert_spec_t sp = s_leaf("example.com", "DNS:example.com");
    assert_int_equal(s_judge(&sp, &s_pki.rogue, NULL, "example.com", r, sizeof r),
                     XGW_X509_UNTRUSTED);
    assert_non_null(strstr(r, "unknown CA"));
    /* Missing intermediate: untrusted too. */
    assert_int_equal(s_judge(&sp, &s_pki.inter, NULL, "example.com", r, sizeof r),
                     XGW_X509_UNTRUSTED);
    /* Self-signed leaf. */
    assert_int_equal(s_judge(&sp, NULL, NULL, "example.com", r, sizeof r), XGW_X509_UNTRUSTED);
    assert_non_null(strstr(r, "self-signed"));
    /* Intermediate without CA:TRUE. */
    assert_int_equal(s_judge(&sp, &s_pki.badint, s_pki.badchain, "example.com", r, sizeof r),
                     XGW_X509_BAD_CA);
    assert_non_null(strstr(r, "CA:TRUE missing"));
    /* An expired intermediate makes the chain expired. */
    xt_cert_spec_t old_ca = {.cn = "old CA",
                             .ca = 1,
                             .not_before = s_pki.now - 900 * S_DAY,
                             .not_after = s_pki.now - S_DAY};
    xt_cert_t oldint;
    assert_int_equal(xt_cert_make(&old_ca, &s_pki.root, &oldint), 0);
    STACK_OF(X509) *oc = sk_X509_new_null();
    sk_X509_push(oc, oldint.cert);
    assert_int_equal(s_judge(&sp, &oldint, oc, "example.com", r, sizeof r), XGW_X509_EXPIRED);
    assert_non_null(strstr(r, "its issuer expired"));
    sk_X509_free(oc);
    xt_cert_free(&oldint);
    /* A tampered signature. */
    xt_cert_t c;
    assert_int_equal(xt_cert_make(&sp, &s_pki.inter, &c), 0);
    X509_sign(c.cert, c.key, EVP_sha256()); /* re-signed by itself, issuer name unchanged */
    assert_int_equal(xgw_x509_verify_peer(c.cert, s_pki.chain, s_pki.trust, "example.com",
                                          s_pki.now, r, sizeof r),
                     XGW_X509_BAD_SIGNATURE);
    xt_cert_free(&c);
    /* No certificate, no trust store. */
    assert_int_equal(
        xgw_x509_verify_peer(NULL, NULL, s_pki.trust, "example.com", s_pki.now, r, sizeof r),
        XGW_X509_INVALID);
    assert_non_null(strstr(r, "no certificate"));
}

static void
test_usage(void **state)
{
    (void)state;
    xt_cert_spec_t server_only = s_leaf("example.com", "DNS:example.com");
    server_only.eku = "serverAuth";
    S_EXPECT(server_only, "example.com", XGW_X509_VALID, "valid (dns-id)");
    xt_cert_spec_t no_eku = s_leaf("example.com", "DNS:example.com");
    no_eku.eku = NULL;
    S_EXPECT(no_eku, "example.com", XGW_X509_VALID, "valid");
    xt_cert_spec_t client_only = s_leaf("example.com", "DNS:example.com");
    client_only.eku = "clientAuth";
    S_EXPECT(client_only, "example.com", XGW_X509_BAD_USAGE, "lacks serverAuth");
}

static void
test_weak_key(void **state)
{
    (void)state;
    xt_cert_spec_t weak = s_leaf("example.com", "DNS:example.com");
    weak.rsa_bits = 1024;
    S_EXPECT(weak, "example.com", XGW_X509_WEAK_KEY, "rsa1024");
    xt_cert_spec_t ok = s_leaf("example.com", "DNS:example.com");
    ok.rsa_bits = 2048;
    S_EXPECT(ok, "example.com", XGW_X509_VALID, "valid");
}

static void
test_match_only_and_metrics(void **state)
{
    (void)state;
    xt_cert_spec_t sp = s_leaf("example.com", "DNS:example.com,DNS:example.org");
    xt_cert_t c;
    assert_int_equal(xt_cert_make(&sp, &s_pki.inter, &c), 0);
    char why[256];
    assert_int_equal(xgw_x509_match_domain(c.cert, "example.org", why, sizeof why),
                     XGW_X509_BY_DNS_ID);
    assert_int_equal(xgw_x509_match_domain(c.cert, "example.net", why, sizeof why),
                     XGW_X509_BY_NONE);
    assert_string_equal(xgw_x509_match_name(XGW_X509_BY_SRV_ID), "srv-id");
    assert_string_equal(xgw_x509_verdict_name(XGW_X509_BAD_CA), "bad_ca");
    assert_string_equal(xgw_x509_verdict_name((xgw_x509_verdict_t)99), "invalid");

    /* Each verification counts one validation by verdict. */
    xgw_family_t *f = xgw_metrics_counter("xgw_cert_validations_total", NULL, "verdict");
    xgw_series_t *valid = xgw_family_series(f, "valid");
    xgw_series_t *mismatch = xgw_family_series(f, "name_mismatch");
    uint64_t v0 = xgw_series_count(valid), m0 = xgw_series_count(mismatch);
    xgw_x509_verify_peer(c.cert, s_pki.chain, s_pki.trust, "example.com", s_pki.now, NULL, 0);
    xgw_x509_verify_peer(c.cert, s_pki.chain, s_pki.trust, "example.net", s_pki.now, NULL, 0);
    assert_int_equal(xgw_series_count(valid), v0 + 1);
    assert_int_equal(xgw_series_count(mismatch), m0 + 1);
    size_t len = 0;
    char *text = xgw_metrics_render(&len);
    assert_non_null(strstr(text, "xgw_cert_validations_total{verdict=\"valid\"}"));
    free(text);
    xt_cert_free(&c);
}

static void
test_trust_load(void **state)
{
    (void)state;
    char dir[] = "/tmp/xgw-trust-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/bundle.pem", dir);
    assert_int_equal(xt_cert_write(&s_pki.root, path, NULL, NULL), 0);
    char why[256];
    X509_STORE *st = xgw_x509_trust_load(path, why, sizeof why);
    assert_non_null(st);
    xt_cert_spec_t sp = s_leaf("example.com", "DNS:example.com");
    xt_cert_t c;
    assert_int_equal(xt_cert_make(&sp, &s_pki.inter, &c), 0);
    assert_int_equal(
        xgw_x509_verify_peer(c.cert, s_pki.chain, st, "example.com", s_pki.now, NULL, 0),
        XGW_X509_VALID);
    X509_STORE_free(st);
    /* Empty bundle: loads, trusts nothing. */
    assert_int_equal(xt_write_text(path, ""), 0);
    st = xgw_x509_trust_load(path, why, sizeof why);
    assert_non_null(st);
    assert_int_equal(
        xgw_x509_verify_peer(c.cert, s_pki.chain, st, "example.com", s_pki.now, NULL, 0),
        XGW_X509_UNTRUSTED);
    X509_STORE_free(st);
    /* Garbage and missing files: NULL with a reason. */
    assert_int_equal(xt_write_text(path, "garbage\n"), 0);
    assert_null(xgw_x509_trust_load(path, why, sizeof why));
    remove(path);
    assert_null(xgw_x509_trust_load(path, why, sizeof why));
    assert_non_null(strstr(why, path));
    xt_cert_free(&c);
    remove(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_wrong_name),
        cmocka_unit_test(test_wildcards),
        cmocka_unit_test(test_srv_id),
        cmocka_unit_test(test_xmppaddr),
        cmocka_unit_test(test_cn),
        cmocka_unit_test(test_validity),
        cmocka_unit_test(test_chain),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_weak_key),
        cmocka_unit_test(test_match_only_and_metrics),
        cmocka_unit_test(test_trust_load),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
