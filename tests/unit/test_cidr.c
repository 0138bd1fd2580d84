/*
 * test_cidr.c - address/network sets for sipd's trusted_peers: parsing
 * (single addresses, networks, IPv6, separators, every kind of bad entry),
 * matching by text and by sockaddr, prefix edges (/0, /32, /128, odd
 * lengths), IPv4-mapped IPv6 peers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "xgw_cidr.h"
#include "xgw_error.h"

static xgw_cidr_set_t s_set;
static char s_err[160];

static void
s_parse_ok(const char *list, size_t n)
{
    int rc = xgw_cidr_parse(list, &s_set, s_err, sizeof s_err);
    if (rc != 0)
        fail_msg("\"%s\": %d %s", list, rc, s_err);
    assert_int_equal(s_set.n, n);
}

static void
test_single_addresses(void **state)
{
    (void)state;
    s_parse_ok("127.0.0.1", 1);
    assert_true(xgw_cidr_match_text(&s_set, "127.0.0.1"));
    assert_false(xgw_cidr_match_text(&s_set, "127.0.0.2"));
    assert_false(xgw_cidr_match_text(&s_set, "::1"));
    assert_false(xgw_cidr_match_text(&s_set, "localhost"));
    assert_false(xgw_cidr_match_text(&s_set, ""));
    assert_false(xgw_cidr_match_text(&s_set, NULL));

    s_parse_ok("127.0.0.1, 127.0.0.5 ::1", 3);
    assert_true(xgw_cidr_match_text(&s_set, "127.0.0.5"));
    assert_true(xgw_cidr_match_text(&s_set, "::1"));
    assert_true(xgw_cidr_match_text(&s_set, "0:0:0:0:0:0:0:1"));
    assert_false(xgw_cidr_match_text(&s_set, "127.0.0.4"));
}

static void
test_networks(void **state)
{
    (void)state;
    s_parse_ok("10.0.0.0/8,192.168.4.0/22,fd00::/8", 3);
    assert_true(xgw_cidr_match_text(&s_set, "10.255.1.2"));
    assert_false(xgw_cidr_match_text(&s_set, "11.0.0.0"));
    assert_true(xgw_cidr_match_text(&s_set, "192.168.7.255"));
    assert_true(xgw_cidr_match_text(&s_set, "192.168.4.0"));
    assert_false(xgw_cidr_match_text(&s_set, "192.168.8.0"));
    assert_false(xgw_cidr_match_text(&s_set, "192.168.3.255"));
    assert_true(xgw_cidr_match_text(&s_set, "fdab::1"));
    assert_false(xgw_cidr_match_text(&s_set, "fe80::1"));

    s_parse_ok("0.0.0.0/0", 1);
    assert_true(xgw_cidr_match_text(&s_set, "8.8.8.8"));
    assert_false(xgw_cidr_match_text(&s_set, "::2"));
    s_parse_ok("::/0", 1);
    assert_true(xgw_cidr_match_text(&s_set, "2001:db8::1"));
    s_parse_ok("127.0.0.7/32 2001:db8::1/128 2001:db8:8000::/33", 3);
    assert_true(xgw_cidr_match_text(&s_set, "127.0.0.7"));
    assert_false(xgw_cidr_match_text(&s_set, "127.0.0.6"));
    assert_true(xgw_cidr_match_text(&s_set, "2001:db8::1"));
    assert_true(xgw_cidr_match_text(&s_set, "2001:db8:ffff::9"));
    assert_false(xgw_cidr_match_text(&s_set, "2001:db8:7fff::9"));
}

static void
test_empty(void **state)
{
    (void)state;
    s_parse_ok("", 0);
    assert_false(xgw_cidr_match_text(&s_set, "127.0.0.1"));
    s_parse_ok("   ", 0);
    s_parse_ok(NULL, 0);
}

static void
s_parse_bad(const char *list, int want, const char *frag)
{
    s_set.n = 3; /* must be emptied */
    int rc = xgw_cidr_parse(list, &s_set, s_err, sizeof s_err);
    if (rc != want)
        fail_msg("\"%s\": rc %d, want %d", list, rc, want);
    assert_int_equal(s_set.n, 0);
    if (!strstr(s_err, frag))
        fail_msg("\"%s\": error \"%s\" lacks \"%s\"", list, s_err, frag);
}

static void
test_bad_entries(void **state)
{
    (void)state;
    s_parse_bad("localhost", XGW_EINVAL, "not an IPv4 or IPv6 address");
    s_parse_bad("127.0.0.1,,127.0.0.2", XGW_EINVAL, "empty entry");
    s_parse_bad(",127.0.0.1", XGW_EINVAL, "empty entry");
    s_parse_bad("127.0.0.1,", XGW_EINVAL, "empty entry at the end");
    s_parse_bad("127.0.0.1/33", XGW_EINVAL, "prefix length above 32");
    s_parse_bad("::1/129", XGW_EINVAL, "prefix length above 128");
    s_parse_bad("10.1.2.3/8", XGW_EINVAL, "host bits set");
    s_parse_bad("fd00::1/8", XGW_EINVAL, "host bits set");
    s_parse_bad("10.0.0.0/", XGW_EINVAL, "bad prefix length");
    s_parse_bad("10.0.0.0/-1", XGW_EINVAL, "bad prefix length");
    s_parse_bad("10.0.0.0/8x", XGW_EINVAL, "bad prefix length");
    s_parse_bad("10.0.0.0/0008", XGW_EINVAL, "bad prefix length");
    s_parse_bad("256.0.0.1", XGW_EINVAL, "not an IPv4");
    s_parse_bad("[::1]", XGW_EINVAL, "not an IPv4");
    s_parse_bad("127.0.0.1:5060", XGW_EINVAL, "not an IPv4");
    s_parse_bad("1111:2222:3333:4444:5555:6666:7777:8888:9999:0000/12", XGW_EINVAL, "too long");

    char many[XGW_CIDR_MAX * 16 + 32] = "";
    size_t len = 0;
    for (int i = 0; i <= XGW_CIDR_MAX; i++)
        len += (size_t)snprintf(many + len, sizeof many - len, "10.0.%d.%d,", i / 250, i % 250);
    many[len - 1] = '\0';
    s_parse_bad(many, XGW_ERANGE, "more than");
    /* Exactly the maximum is fine. */
    char *last = strrchr(many, ',');
    *last = '\0';
    s_parse_ok(many, XGW_CIDR_MAX);
}

static void
test_sockaddr(void **state)
{
    (void)state;
    s_parse_ok("127.0.0.0/30 ::1", 2);
    struct sockaddr_in in = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.3", &in.sin_addr);
    assert_true(xgw_cidr_match_sa(&s_set, (struct sockaddr *)&in));
    inet_pton(AF_INET, "127.0.0.4", &in.sin_addr);
    assert_false(xgw_cidr_match_sa(&s_set, (struct sockaddr *)&in));

    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::1", &in6.sin6_addr);
    assert_true(xgw_cidr_match_sa(&s_set, (struct sockaddr *)&in6));
    /* A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d. */
    inet_pton(AF_INET6, "::ffff:127.0.0.2", &in6.sin6_addr);
    assert_true(xgw_cidr_match_sa(&s_set, (struct sockaddr *)&in6));
    assert_true(xgw_cidr_match_text(&s_set, "::ffff:127.0.0.1"));
    inet_pton(AF_INET6, "::ffff:127.0.0.9", &in6.sin6_addr);
    assert_false(xgw_cidr_match_sa(&s_set, (struct sockaddr *)&in6));

    struct sockaddr_un un = {.sun_family = AF_UNIX};
    assert_false(xgw_cidr_match_sa(&s_set, (struct sockaddr *)&un));
    assert_false(xgw_cidr_match_sa(&s_set, NULL));
    assert_false(xgw_cidr_match_sa(NULL, (struct sockaddr *)&in));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_addresses),
        cmocka_unit_test(test_networks),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_bad_entries),
        cmocka_unit_test(test_sockaddr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
