/*
 * test_x509.c - lib/xgw_x509: domain names (IDNA A-labels with RFC 3492
 * vectors, served-domain lists), PEM / key / PKCS#12 parsing with their
 * refusals, CSRs and self-signed certificates as certd makes them, base64,
 * and the facts (fingerprint, key strength, serverAuth).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "xgw_error.h"
#include "xgw_x509.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>

static void
s_ascii(const char *in, const char *want)
{
    char out[XGW_X509_DOMAIN_MAX], why[256];
    int rc = xgw_x509_domain_to_ascii(in, out, sizeof out, why, sizeof why);
    if (rc != 0)
        print_error("%s: %s\n", in, why);
    assert_int_equal(rc, 0);
    assert_string_equal(out, want);
}

static void
s_bad(const char *in, const char *needle)
{
    char out[XGW_X509_DOMAIN_MAX], why[256] = "";
    assert_int_equal(xgw_x509_domain_to_ascii(in, out, sizeof out, why, sizeof why), XGW_EINVAL);
    if (!strstr(why, needle))
        print_error("%s: %s\n", in, why);
    assert_non_null(strstr(why, needle));
}

static void
test_domain_to_ascii(void **state)
{
    (void)state;
    s_ascii("Example.NET", "example.net");
    s_ascii("example.net.", "example.net");
    s_ascii("localhost", "localhost");
    /* RFC 3492 and well-known IDNs (CRT-02). */
    s_ascii("b\xc3\xbc"
            "cher.example",
            "xn--bcher-kva.example");
    s_ascii("m\xc3\xbc"
            "nchen.de",
            "xn--mnchen-3ya.de");
    s_ascii("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e.jp", "xn--wgv71a119e.jp");
    s_ascii("\xe4\xbb\x96\xe4\xbb\xac\xe4\xb8\xba\xe4\xbb\x80\xe4\xb9\x88\xe4\xb8\x8d\xe8\xaf\xb4"
            "\xe4\xb8\xad\xe6\x96\x87",
            "xn--ihqwcrb4cv8a8dqg056pqjye");
    s_bad("", "empty domain");
    s_bad("a..b", "empty label");
    s_bad("a.b..", "empty label");
    s_bad("-a.example", "not a domain name");
    s_bad("a_b.example", "not a domain name");
    s_bad("exa mple.net", "not a domain name");
    s_bad("\xff\xfe.example", "not a valid internationalized");
    s_bad("\xc0\xaf.example", "not a valid internationalized"); /* overlong */
    char longlabel[80];
    memset(longlabel, 'a', 64);
    snprintf(longlabel + 64, 16, ".example");
    s_bad(longlabel, "longer than 63");
    char longname[400];
    size_t used = 0;
    for (int i = 0; i < 30; i++)
        used += (size_t)snprintf(longname + used, sizeof longname - used, "abcdefghi.");
    snprintf(longname + used, sizeof longname - used, "com");
    s_bad(longname, "longer than 253");
    assert_true(xgw_x509_is_ip_literal("192.0.2.1"));
    assert_true(xgw_x509_is_ip_literal("2001:db8::1"));
    assert_true(xgw_x509_is_ip_literal("[2001:db8::1]"));
    assert_false(xgw_x509_is_ip_literal("example.net"));
}

static void
test_domains_parse(void **state)
{
    (void)state;
    xgw_strv_t sv;
    char why[256];
    assert_int_equal(xgw_x509_domains_parse(" example.net ,Example.ORG,b\xc3\xbc"
                                            "cher.example",
                                            &sv, why, sizeof why),
                     0);
    assert_int_equal(sv.n, 3);
    assert_string_equal(sv.v[0], "example.net");
    assert_string_equal(sv.v[1], "example.org");
    assert_string_equal(sv.v[2], "xn--bcher-kva.example");
    assert_true(xgw_strv_has(&sv, "example.org"));
    xgw_x509_strv_free(&sv);
    assert_int_equal(sv.n, 0);
    assert_int_equal(xgw_x509_domains_parse("", &sv, why, sizeof why), XGW_EINVAL);
    assert_non_null(strstr(why, "empty item"));
    assert_int_equal(xgw_x509_domains_parse("a.example,A.example", &sv, why, sizeof why),
                     XGW_EINVAL);
    assert_non_null(strstr(why, "listed twice"));
    assert_int_equal(xgw_x509_domains_parse("a.example,bad domain", &sv, why, sizeof why),
                     XGW_EINVAL);
    assert_int_equal(sv.n, 0);
}

static void
test_make_and_parse(void **state)
{
    (void)state;
    int64_t now = (int64_t)time(NULL);
    xgw_key_type_t kt;
    assert_int_equal(xgw_x509_key_type_parse("p256", &kt), 0);
    assert_int_equal(xgw_x509_key_type_parse("rsa1024", &kt), XGW_EINVAL);
    EVP_PKEY *k = xgw_x509_key_new(XGW_KEY_P256);
    assert_non_null(k);
    char kd[32];
    xgw_x509_key_describe(k, kd, sizeof kd);
    assert_string_equal(kd, "p256");
    assert_true(xgw_x509_key_strong(k));

    xgw_strv_t sans = {0};
    xgw_strv_add(&sans, "example.net");
    xgw_strv_add(&sans, "example.org");
    X509 *x = xgw_x509_self_signed_new(k, "example.net", &sans, now, 10);
    assert_non_null(x);
    assert_true(xgw_x509_is_self_signed(x));
    assert_true(xgw_x509_has_server_auth(x));
    assert_true(xgw_x509_key_matches(x, k));
    assert_true(xgw_x509_not_before(x) <= now);
    assert_int_equal(xgw_x509_not_after(x), now + 10 * 86400);
    assert_int_equal(X509_check_ca(x), 0);
    xgw_x509_names_t nm;
    assert_int_equal(xgw_x509_names_get(x, &nm), 0);
    assert_int_equal(nm.dns.n, 2);
    assert_string_equal(nm.cn, "example.net");
    xgw_x509_names_free(&nm);
    char fpr[XGW_X509_FPR_LEN];
    xgw_x509_fingerprint(x, fpr);
    assert_int_equal(strlen(fpr), 95);
    assert_int_equal(fpr[2], ':');
    /* Bad inputs to the makers. */
    xgw_strv_t empty = {0};
    assert_null(xgw_x509_self_signed_new(k, "x", &empty, now, 10));
    assert_null(xgw_x509_self_signed_new(k, "x", &sans, now, 0));
    xgw_strv_t bad = {0};
    xgw_strv_add(&bad, "a,DNS:evil.example");
    assert_null(xgw_x509_self_signed_new(k, "x", &bad, now, 10));
    assert_null(xgw_x509_csr_new(k, "x", &bad));
    xgw_x509_strv_free(&bad);

    /* PEM round trip, leaf + "chain". */
    char *pem = xgw_x509_chain_pem(x, NULL);
    assert_non_null(pem);
    size_t two_len = 2 * strlen(pem) + 32;
    char *two = malloc(two_len);
    snprintf(two, two_len, "leading text\n%s%s", pem, pem);
    STACK_OF(X509) *sk = NULL;
    char why[256];
    assert_int_equal(xgw_x509_parse_chain(two, strlen(two), &sk, why, sizeof why), 0);
    assert_int_equal(sk_X509_num(sk), 2);
    sk_X509_pop_free(sk, X509_free);
    free(two);
    assert_int_equal(xgw_x509_parse_chain("", 0, &sk, why, sizeof why), XGW_EINVAL);
    assert_int_equal(xgw_x509_parse_chain("\x30\x82\x00\x01", 4, &sk, why, sizeof why), XGW_EINVAL);
    assert_non_null(strstr(why, "not PEM text"));

    /* Key PEM, CSR. */
    char *kpem = xgw_x509_key_pem(k);
    assert_non_null(kpem);
    EVP_PKEY *back = xgw_x509_parse_key(kpem, strlen(kpem), why, sizeof why);
    assert_non_null(back);
    assert_true(xgw_x509_key_matches(x, back));
    EVP_PKEY_free(back);
    assert_null(xgw_x509_parse_key(pem, strlen(pem), why, sizeof why));
    assert_non_null(strstr(why, "no PEM private key"));
    const char *enc = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n"
                      "-----END ENCRYPTED PRIVATE KEY-----\n";
    assert_null(xgw_x509_parse_key(enc, strlen(enc), why, sizeof why));
    assert_non_null(strstr(why, "encrypted"));
    X509_REQ *req = xgw_x509_csr_new(k, "example.net", &sans);
    assert_non_null(req);
    assert_int_equal(X509_REQ_verify(req, k), 1);
    char *csr = xgw_x509_csr_pem(req);
    assert_non_null(strstr(csr, "BEGIN CERTIFICATE REQUEST"));
    assert_int_equal(xgw_x509_parse_chain(csr, strlen(csr), &sk, why, sizeof why), XGW_EINVAL);
    assert_non_null(strstr(why, "certificate request"));

    /* PKCS#12 with a password. */
    PKCS12 *p12 = PKCS12_create("pw", "t", k, x, NULL, 0, 0, 0, 0, 0);
    assert_non_null(p12);
    unsigned char *der = NULL;
    int dlen = i2d_PKCS12(p12, &der);
    PKCS12_free(p12);
    EVP_PKEY *pk = NULL;
    X509 *px = NULL;
    STACK_OF(X509) *pc = NULL;
    assert_int_equal(
        xgw_x509_parse_pkcs12(der, (size_t)dlen, "wrong", &pk, &px, &pc, why, sizeof why),
        XGW_EINVAL);
    assert_non_null(strstr(why, "wrong password"));
    assert_null(pk);
    assert_int_equal(xgw_x509_parse_pkcs12(der, (size_t)dlen, "pw", &pk, &px, &pc, why, sizeof why),
                     0);
    assert_true(xgw_x509_key_matches(px, pk));
    assert_int_equal(sk_X509_num(pc), 0);
    EVP_PKEY_free(pk);
    X509_free(px);
    sk_X509_pop_free(pc, X509_free);
    OPENSSL_free(der);

    /* Base64 both ways. */
    const uint8_t bytes[] = {0, 1, 2, 250, 251, 252, 253};
    char *b64 = xgw_x509_base64_encode(bytes, sizeof bytes);
    size_t blen = 0;
    uint8_t *dec = xgw_x509_base64_decode(b64, &blen);
    assert_int_equal(blen, sizeof bytes);
    assert_memory_equal(dec, bytes, sizeof bytes);
    free(dec);
    free(b64);
    assert_null(xgw_x509_base64_decode("not base64!", &blen));
    assert_null(xgw_x509_base64_decode("abc", &blen));

    char when[40];
    xgw_x509_time_format(0, when, sizeof when);
    assert_string_equal(when, "1970-01-01T00:00:00Z");

    free(csr);
    X509_REQ_free(req);
    free(kpem);
    free(pem);
    X509_free(x);
    EVP_PKEY_free(k);
    xgw_x509_strv_free(&sans);

    /* RSA keys and weak ones. */
    EVP_PKEY *rsa = EVP_RSA_gen(1024);
    xgw_x509_key_describe(rsa, kd, sizeof kd);
    assert_string_equal(kd, "rsa1024");
    assert_false(xgw_x509_key_strong(rsa));
    EVP_PKEY_free(rsa);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_domain_to_ascii),
        cmocka_unit_test(test_domains_parse),
        cmocka_unit_test(test_make_and_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
