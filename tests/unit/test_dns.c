/*
 * test_dns.c - the pure parts of lib/xgw_dns: domain and host:port parsing,
 * the SRV decision table of RFC 6120 §3.2 / XEP-0368 (what "." and a
 * missing or failed answer mean), RFC 2782 ordering with a seeded
 * generator, candidate building, option checks, and the lookups that need
 * no DNS (IP literals), which also show the delivery, cancel and cap rules.
 * Lookups through a real DNS server are in tests/integration/test_dns.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "xgw_dns.h"
#include "xgw_error.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

/* ---- domain and host:port ---------------------------------------------- */

static void
test_domain_normalize(void **state)
{
    (void)state;
    char out[XGW_DNS_NAME_MAX];
    assert_int_equal(xgw_dns_domain_normalize("Example.COM.", out, sizeof out), 0);
    assert_string_equal(out, "example.com");
    assert_int_equal(xgw_dns_domain_normalize("xn--bcher-kva.example", out, sizeof out), 0);
    assert_string_equal(out, "xn--bcher-kva.example");
    assert_int_equal(xgw_dns_domain_normalize("localhost", out, sizeof out), 0);

    const char *bad[] = {"",
                         ".",
                         "..",
                         "a..b",
                         ".a",
                         "a b.test",
                         "ex_ample.com",
                         "b\xc3\xbc"
                         "cher.example",
                         "1.2.3.4",
                         "a.b.c.123",
                         "host:5269",
                         "[::1]",
                         "a.test..",
                         "a/b.test"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = xgw_dns_domain_normalize(bad[i], out, sizeof out);
        if (rc != XGW_EINVAL)
            fail_msg("'%s' gave %d, want XGW_EINVAL", bad[i], rc);
    }
    /* Label of 63 is fine, 64 is not; a name of 253 is fine, 254 is not. */
    char name[300];
    memset(name, 'a', 63);
    memcpy(name + 63, ".test", 6);
    assert_int_equal(xgw_dns_domain_normalize(name, out, sizeof out), 0);
    memset(name, 'a', 64);
    memcpy(name + 64, ".test", 6);
    assert_int_equal(xgw_dns_domain_normalize(name, out, sizeof out), XGW_EINVAL);
    size_t len = 0;
    while (len + 50 < 253) {
        memset(name + len, 'b', 49);
        name[len + 49] = '.';
        len += 50;
    }
    memset(name + len, 'c', 253 - len);
    name[253] = '\0';
    assert_int_equal(xgw_dns_domain_normalize(name, out, sizeof out), 0);
    assert_int_equal(strlen(out), 253);
    name[253] = 'c';
    name[254] = '\0';
    assert_int_equal(xgw_dns_domain_normalize(name, out, sizeof out), XGW_EINVAL);
    /* A trailing dot does not count against the length. */
    name[253] = '.';
    assert_int_equal(xgw_dns_domain_normalize(name, out, sizeof out), 0);

    assert_int_equal(xgw_dns_domain_normalize("example.com", out, 11), XGW_ERANGE);
    assert_int_equal(xgw_dns_domain_normalize("example.com", out, 12), 0);
    assert_int_equal(xgw_dns_domain_normalize(NULL, out, sizeof out), XGW_EINVAL);
}

static void
test_parse_hostport(void **state)
{
    (void)state;
    char host[XGW_DNS_NAME_MAX];
    uint16_t port = 0;
    assert_int_equal(xgw_dns_parse_hostport("XMPP.Example.net", 5269, host, sizeof host, &port), 0);
    assert_string_equal(host, "xmpp.example.net");
    assert_int_equal(port, 5269);
    assert_int_equal(
        xgw_dns_parse_hostport("xmpp.example.net:5270", 5269, host, sizeof host, &port), 0);
    assert_string_equal(host, "xmpp.example.net");
    assert_int_equal(port, 5270);
    assert_int_equal(xgw_dns_parse_hostport("10.0.0.1:65535", 5269, host, sizeof host, &port), 0);
    assert_string_equal(host, "10.0.0.1");
    assert_int_equal(port, 65535);
    assert_int_equal(xgw_dns_parse_hostport("[::1]:5270", 5269, host, sizeof host, &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 5270);
    assert_int_equal(xgw_dns_parse_hostport("[2001:db8::1]", 5269, host, sizeof host, &port), 0);
    assert_string_equal(host, "2001:db8::1");
    assert_int_equal(port, 5269);
    assert_int_equal(xgw_dns_parse_hostport("2001:db8::2", 1, host, sizeof host, &port), 0);
    assert_string_equal(host, "2001:db8::2");
    assert_int_equal(port, 1);

    const char *bad[] = {"",           "host:",         "host:0",        "host:65536",
                         "host:12a",   "host:+5",       "host:-1",       "host:123456",
                         ":5269",      "[::1",          "[::1]x",        "[::1]:",
                         "[1.2.3.4]",  "[host.test]:5", "a..b:1",        "host:5269:1",
                         "1.2.3.4:x",  "bad_host:5",    "2001:db8::zz",  "host.test:5 ",
                         " host.test", "[]:5269",       "999.1.1.1:5269"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        port = 7;
        int rc = xgw_dns_parse_hostport(bad[i], 5269, host, sizeof host, &port);
        if (rc != XGW_EINVAL)
            fail_msg("'%s' gave %d, want XGW_EINVAL", bad[i], rc);
        assert_int_equal(port, 7); /* untouched on error */
    }
    /* Port 0 as the default is not a port either. */
    assert_int_equal(xgw_dns_parse_hostport("host.test", 0, host, sizeof host, &port), XGW_EINVAL);
    assert_int_equal(xgw_dns_parse_hostport("host.test", 1, host, 5, &port), XGW_ERANGE);
    assert_int_equal(xgw_dns_parse_hostport("10.0.0.1", 1, host, 8, &port), XGW_ERANGE);
}

/* ---- the SRV decision table -------------------------------------------- */

static xgw_dns_srv_t
s_rec(const char *target, uint16_t prio, uint16_t weight, uint16_t port)
{
    xgw_dns_srv_t r;
    memset(&r, 0, sizeof r);
    snprintf(r.target, sizeof r.target, "%s", target);
    r.priority = prio;
    r.weight = weight;
    r.port = port;
    return r;
}

static xgw_dns_srv_answer_t
s_ans(int status, const xgw_dns_srv_t *recs, size_t n)
{
    xgw_dns_srv_answer_t a = {status, recs, n};
    return a;
}

static void
test_plan_records(void **state)
{
    (void)state;
    xgw_dns_srv_t tls[2] = {s_rec("tls1.test", 5, 0, 5223), s_rec("tls2.test", 5, 0, 5224)};
    xgw_dns_srv_t plain[2] = {s_rec("x1.test", 10, 0, 5269), s_rec("x2.test", 20, 0, 5270)};
    tls[0].direct_tls = false; /* the service decides, not the field */
    plain[1].direct_tls = true;
    xgw_dns_srv_t out[8];
    size_t n = 99;

    /* Only _xmpp-server: STARTTLS candidates. */
    xgw_dns_srv_answer_t s = s_ans(XGW_ENOENT, NULL, 0), p = s_ans(0, plain, 2);
    assert_int_equal(xgw_dns_srv_plan(&s, &p, out, 8, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(out[0].target, "x1.test");
    assert_false(out[0].direct_tls);
    assert_false(out[1].direct_tls);

    /* Both: merged, xmpps marked direct TLS. */
    s = s_ans(0, tls, 2);
    assert_int_equal(xgw_dns_srv_plan(&s, &p, out, 8, &n), 0);
    assert_int_equal(n, 4);
    size_t ntls = 0;
    for (size_t i = 0; i < n; i++) {
        bool is_tls = strncmp(out[i].target, "tls", 3) == 0;
        assert_int_equal(out[i].direct_tls, is_tls);
        ntls += is_tls;
    }
    assert_int_equal(ntls, 2);

    /* Only _xmpps-server. */
    p = s_ans(XGW_ENOENT, NULL, 0);
    assert_int_equal(xgw_dns_srv_plan(&s, &p, out, 8, &n), 0);
    assert_int_equal(n, 2);
    assert_true(out[0].direct_tls && out[1].direct_tls);

    /* A NULL answer is "not asked" = none. */
    p = s_ans(0, plain, 2);
    assert_int_equal(xgw_dns_srv_plan(NULL, &p, out, 8, &n), 0);
    assert_int_equal(n, 2);

    /* max truncates; 0 room is an error, not a silent fallback. */
    s = s_ans(0, tls, 2);
    assert_int_equal(xgw_dns_srv_plan(&s, &p, out, 3, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(xgw_dns_srv_plan(&s, &p, out, 0, &n), XGW_ERANGE);
}

static void
test_plan_dot(void **state)
{
    (void)state;
    xgw_dns_srv_t dot[1] = {s_rec(".", 0, 0, 0)};
    xgw_dns_srv_t root[1] = {s_rec("", 0, 0, 1)}; /* how c-ares and dnsmasq show "." */
    xgw_dns_srv_t plain[1] = {s_rec("x1.test", 10, 0, 5269)};
    xgw_dns_srv_t tls[1] = {s_rec("tls.test", 10, 0, 5223)};
    xgw_dns_srv_t out[8];
    size_t n = 99;
    xgw_dns_srv_answer_t none = s_ans(XGW_ENOENT, NULL, 0);

    /* xmpps "." leaves the STARTTLS records. */
    xgw_dns_srv_answer_t s = s_ans(0, dot, 1), p = s_ans(0, plain, 1);
    assert_int_equal(xgw_dns_srv_plan(&s, &p, out, 8, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].target, "x1.test");
    assert_false(out[0].direct_tls);

    /* xmpp "." with xmpps records: direct TLS only. */
    s = s_ans(0, tls, 1);
    p = s_ans(0, root, 1);
    assert_int_equal(xgw_dns_srv_plan(&s, &p, out, 8, &n), 0);
    assert_int_equal(n, 1);
    assert_true(out[0].direct_tls);

    /* Both ".": no service, and no fallback. */
    s = s_ans(0, dot, 1);
    p = s_ans(0, root, 1);
    n = 99;
    assert_int_equal(xgw_dns_srv_plan(&s, &p, out, 8, &n), XGW_ENOENT);
    assert_int_equal(n, 0);
    /* "." on one side and no SRV on the other: still no fallback
     * (RFC 2782 for xmpp, XEP-0368 §5 for xmpps). */
    assert_int_equal(xgw_dns_srv_plan(&s, &none, out, 8, &n), XGW_ENOENT);
    assert_int_equal(xgw_dns_srv_plan(&none, &p, out, 8, &n), XGW_ENOENT);

    /* "." among real records is ignored, the others are used. */
    xgw_dns_srv_t mixed[3] = {s_rec(".", 0, 0, 0), s_rec("x1.test", 10, 0, 5269),
                              s_rec("x2.test", 10, 0, 0)};
    p = s_ans(0, mixed, 3);
    assert_int_equal(xgw_dns_srv_plan(&none, &p, out, 8, &n), 0);
    assert_int_equal(n, 1); /* the port-0 record is unusable too */
    assert_string_equal(out[0].target, "x1.test");

    /* SRV records exist but none is usable: no fallback either. */
    xgw_dns_srv_t port0[1] = {s_rec("x1.test", 10, 0, 0)};
    p = s_ans(0, port0, 1);
    assert_int_equal(xgw_dns_srv_plan(&none, &p, out, 8, &n), XGW_ENOENT);
}

static void
test_plan_fallback_and_failures(void **state)
{
    (void)state;
    xgw_dns_srv_t plain[1] = {s_rec("x1.test", 10, 0, 5269)};
    xgw_dns_srv_t dot[1] = {s_rec(".", 0, 0, 0)};
    xgw_dns_srv_t out[8];
    size_t n = 99;
    xgw_dns_srv_answer_t none = s_ans(XGW_ENOENT, NULL, 0);
    xgw_dns_srv_answer_t empty = s_ans(0, NULL, 0); /* NOERROR, nothing */
    xgw_dns_srv_answer_t tmo = s_ans(XGW_ETIMEDOUT, NULL, 0);
    xgw_dns_srv_answer_t sf = s_ans(XGW_EIO, NULL, 0);
    xgw_dns_srv_answer_t nomem = s_ans(XGW_ENOMEM, NULL, 0);
    xgw_dns_srv_answer_t odd = s_ans(XGW_EINVAL, NULL, 0);

    /* Only NXDOMAIN/NODATA on both sides falls back. */
    assert_int_equal(xgw_dns_srv_plan(&none, &none, out, 8, &n), XGW_DNS_FALLBACK);
    assert_int_equal(n, 0);
    assert_int_equal(xgw_dns_srv_plan(&empty, &none, out, 8, &n), XGW_DNS_FALLBACK);

    /* A timeout or SERVFAIL is not "no answer". */
    assert_int_equal(xgw_dns_srv_plan(&none, &tmo, out, 8, &n), XGW_ETIMEDOUT);
    assert_int_equal(xgw_dns_srv_plan(&tmo, &none, out, 8, &n), XGW_ETIMEDOUT);
    assert_int_equal(xgw_dns_srv_plan(&none, &sf, out, 8, &n), XGW_EIO);
    assert_int_equal(xgw_dns_srv_plan(&sf, &none, out, 8, &n), XGW_EIO);
    assert_int_equal(xgw_dns_srv_plan(&none, &nomem, out, 8, &n), XGW_ENOMEM);
    assert_int_equal(xgw_dns_srv_plan(&none, &odd, out, 8, &n), XGW_EIO);
    /* The STARTTLS side's failure is reported first. */
    assert_int_equal(xgw_dns_srv_plan(&sf, &tmo, out, 8, &n), XGW_ETIMEDOUT);
    assert_int_equal(xgw_dns_srv_plan(&tmo, &sf, out, 8, &n), XGW_EIO);
    /* A failure beside a "." stays a failure (the lost answer may have
     * held records): the caller retries instead of giving up for good. */
    xgw_dns_srv_answer_t d = s_ans(0, dot, 1);
    assert_int_equal(xgw_dns_srv_plan(&sf, &d, out, 8, &n), XGW_EIO);

    /* Records on one side win over a failure on the other. */
    xgw_dns_srv_answer_t p = s_ans(0, plain, 1);
    assert_int_equal(xgw_dns_srv_plan(&tmo, &p, out, 8, &n), 0);
    assert_int_equal(n, 1);
    assert_false(out[0].direct_tls);
    assert_int_equal(xgw_dns_srv_plan(&p, &sf, out, 8, &n), 0);
    assert_true(out[0].direct_tls);
}

/* ---- RFC 2782 ordering ------------------------------------------------- */

static void
test_order_priority(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 200; seed++) {
        xgw_dns_srv_t r[6] = {s_rec("p30", 30, 5, 1), s_rec("p10a", 10, 1, 1),
                              s_rec("p20", 20, 0, 1), s_rec("p10b", 10, 50, 1),
                              s_rec("p0", 0, 7, 1),   s_rec("p65535", 65535, 1, 1)};
        uint64_t rng = seed;
        xgw_dns_srv_order(r, 6, XGW_DNS_PREFER_NONE, &rng);
        for (size_t i = 1; i < 6; i++)
            assert_true(r[i - 1].priority <= r[i].priority);
        assert_string_equal(r[0].target, "p0");
        assert_string_equal(r[5].target, "p65535");
    }
    /* Nothing to do for 0 or 1 records; NULL is harmless. */
    uint64_t rng = 1;
    xgw_dns_srv_t one = s_rec("a", 1, 1, 1);
    xgw_dns_srv_order(&one, 1, XGW_DNS_PREFER_NONE, &rng);
    assert_string_equal(one.target, "a");
    xgw_dns_srv_order(NULL, 0, XGW_DNS_PREFER_NONE, &rng);
}

/* How often target is first over runs orderings of recs (n records). */
static int
s_first_count(const xgw_dns_srv_t *recs, size_t n, xgw_dns_prefer_t prefer, const char *target,
              int runs, uint64_t seed)
{
    int hits = 0;
    uint64_t rng = seed;
    for (int i = 0; i < runs; i++) {
        xgw_dns_srv_t r[8];
        memcpy(r, recs, n * sizeof *recs);
        xgw_dns_srv_order(r, n, prefer, &rng);
        if (strcmp(r[0].target, target) == 0)
            hits++;
    }
    return hits;
}

static void
test_order_weights(void **state)
{
    (void)state;
    const int runs = 20000;
    /* RFC 2782 as written: r uniform in [0, sum] (inclusive), the first
     * record whose running sum is >= r. light(1), heavy(3): r in {0, 1}
     * picks light, r in {2, 3, 4} heavy, so heavy first 3/5 of the time. */
    xgw_dns_srv_t w13[2] = {s_rec("light", 10, 1, 1), s_rec("heavy", 10, 3, 1)};
    int heavy = s_first_count(w13, 2, XGW_DNS_PREFER_NONE, "heavy", runs, 42);
    assert_in_range(heavy, runs * 3 / 5 - 500, runs * 3 / 5 + 500);

    /* A weight-0 record among others is first only when r == 0: 1/11. */
    xgw_dns_srv_t w0[2] = {s_rec("heavy", 10, 10, 1), s_rec("zero", 10, 0, 1)};
    int zero = s_first_count(w0, 2, XGW_DNS_PREFER_NONE, "zero", runs, 7);
    assert_in_range(zero, runs / 11 - 300, runs / 11 + 300);

    /* Equal weights: r in [0, 5] picks a, [6, 10] b: 6/11 against 5/11. */
    xgw_dns_srv_t eq[2] = {s_rec("a", 10, 5, 1), s_rec("b", 10, 5, 1)};
    int a = s_first_count(eq, 2, XGW_DNS_PREFER_NONE, "a", runs, 9);
    assert_in_range(a, runs * 6 / 11 - 500, runs * 6 / 11 + 500);

    /* All weights 0: the order given is kept. */
    xgw_dns_srv_t z[3] = {s_rec("a", 1, 0, 1), s_rec("b", 1, 0, 1), s_rec("c", 1, 0, 1)};
    uint64_t rng = 3;
    xgw_dns_srv_order(z, 3, XGW_DNS_PREFER_NONE, &rng);
    assert_string_equal(z[0].target, "a");
    assert_string_equal(z[1].target, "b");
    assert_string_equal(z[2].target, "c");

    /* A heavy record in a worse priority never comes first. */
    xgw_dns_srv_t pr[2] = {s_rec("best", 1, 0, 1), s_rec("worse", 2, 65535, 1)};
    assert_int_equal(s_first_count(pr, 2, XGW_DNS_PREFER_NONE, "best", 1000, 5), 1000);
}

static void
test_order_seeded(void **state)
{
    (void)state;
    xgw_dns_srv_t base[5] = {s_rec("a", 10, 10, 1), s_rec("b", 10, 20, 1), s_rec("c", 10, 30, 1),
                             s_rec("d", 10, 40, 1), s_rec("e", 10, 50, 1)};
    xgw_dns_srv_t r1[5], r2[5];
    memcpy(r1, base, sizeof base);
    memcpy(r2, base, sizeof base);
    uint64_t s1 = 12345, s2 = 12345;
    xgw_dns_srv_order(r1, 5, XGW_DNS_PREFER_NONE, &s1);
    xgw_dns_srv_order(r2, 5, XGW_DNS_PREFER_NONE, &s2);
    for (int i = 0; i < 5; i++)
        assert_string_equal(r1[i].target, r2[i].target);
    assert_int_equal(s1, s2);
    assert_int_not_equal(s1, 12345); /* the state advanced */

    /* Different seeds give different orders (a permutation each time). */
    int differs = 0;
    for (uint64_t seed = 1; seed <= 50; seed++) {
        xgw_dns_srv_t r[5];
        memcpy(r, base, sizeof base);
        uint64_t s = seed;
        xgw_dns_srv_order(r, 5, XGW_DNS_PREFER_NONE, &s);
        int seen = 0;
        for (int i = 0; i < 5; i++)
            seen |= 1 << (r[i].target[0] - 'a');
        assert_int_equal(seen, 0x1f);
        if (memcmp(r, r1, sizeof r) != 0)
            differs++;
    }
    assert_true(differs > 10);
}

static void
test_order_prefer(void **state)
{
    (void)state;
    xgw_dns_srv_t recs[4] = {s_rec("plain10", 10, 1, 1), s_rec("tls10", 10, 1, 1),
                             s_rec("plain5", 5, 1, 1), s_rec("tls20", 20, 1, 1)};
    recs[1].direct_tls = true;
    recs[3].direct_tls = true;
    for (uint64_t seed = 1; seed <= 100; seed++) {
        xgw_dns_srv_t r[4];
        memcpy(r, recs, sizeof recs);
        uint64_t rng = seed;
        xgw_dns_srv_order(r, 4, XGW_DNS_PREFER_DIRECT_TLS, &rng);
        /* Priority still rules; the preference only orders inside it. */
        assert_string_equal(r[0].target, "plain5");
        assert_string_equal(r[1].target, "tls10");
        assert_string_equal(r[2].target, "plain10");
        assert_string_equal(r[3].target, "tls20");
        memcpy(r, recs, sizeof recs);
        xgw_dns_srv_order(r, 4, XGW_DNS_PREFER_STARTTLS, &rng);
        assert_string_equal(r[1].target, "plain10");
        assert_string_equal(r[2].target, "tls10");
    }
    /* No preference mixes the two kinds (XEP-0368 §3). */
    int tls_first = s_first_count(recs, 2, XGW_DNS_PREFER_NONE, "tls10", 10000, 77);
    assert_in_range(tls_first, 2500, 4200); /* r in [0,2]: 1/3 */
}

/* ---- candidates --------------------------------------------------------- */

static struct sockaddr_in
s_v4(const char *ip, uint16_t port)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    assert_int_equal(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
    return sin;
}

static void
test_candidates(void **state)
{
    (void)state;
    xgw_dns_candidate_t list[3];
    size_t n = 0;
    xgw_dns_srv_t srv = s_rec("xmpp.hosting.test", 10, 7, 5270);
    struct sockaddr_in a = s_v4("192.0.2.1", 9); /* the sockaddr's port is ignored */
    assert_int_equal(xgw_dns_candidate_add(list, &n, 3, &srv, (struct sockaddr *)&a), 0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].host, "xmpp.hosting.test");
    assert_string_equal(list[0].ip, "192.0.2.1");
    assert_int_equal(list[0].port, 5270);
    assert_int_equal(list[0].priority, 10);
    assert_int_equal(list[0].weight, 7);
    assert_false(list[0].direct_tls);
    assert_int_equal(list[0].family, AF_INET);
    assert_int_equal(list[0].addrlen, sizeof(struct sockaddr_in));
    const struct sockaddr_in *got = (const struct sockaddr_in *)&list[0].addr;
    assert_int_equal(ntohs(got->sin_port), 5270);

    /* The same address, port and kind again: a duplicate. */
    assert_int_equal(xgw_dns_candidate_add(list, &n, 3, &srv, (struct sockaddr *)&a), XGW_EEXIST);
    assert_int_equal(n, 1);
    /* Same address, direct TLS: a different way in, kept. */
    srv.direct_tls = true;
    assert_int_equal(xgw_dns_candidate_add(list, &n, 3, &srv, (struct sockaddr *)&a), 0);
    assert_true(list[1].direct_tls);

    struct sockaddr_in6 b;
    memset(&b, 0, sizeof b);
    b.sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, "2001:db8::5", &b.sin6_addr), 1);
    srv.port = 5269;
    assert_int_equal(xgw_dns_candidate_add(list, &n, 3, &srv, (struct sockaddr *)&b), 0);
    assert_string_equal(list[2].ip, "2001:db8::5");
    assert_int_equal(list[2].family, AF_INET6);
    assert_int_equal(ntohs(((const struct sockaddr_in6 *)&list[2].addr)->sin6_port), 5269);

    /* Full. */
    struct sockaddr_in c = s_v4("192.0.2.3", 1);
    assert_int_equal(xgw_dns_candidate_add(list, &n, 3, &srv, (struct sockaddr *)&c), XGW_ERANGE);
    assert_int_equal(n, 3);

    /* Another family. */
    struct sockaddr_un un;
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    n = 0;
    assert_int_equal(xgw_dns_candidate_add(list, &n, 3, &srv, (struct sockaddr *)&un), XGW_EINVAL);
    assert_int_equal(n, 0);
}

/* ---- options ------------------------------------------------------------ */

static void
test_opts_check(void **state)
{
    (void)state;
    char err[200];
    xgw_dns_opts_t o;
    memset(&o, 0, sizeof o);
    assert_int_equal(xgw_dns_opts_check(&o, err, sizeof err), 0);
    assert_int_equal(xgw_dns_opts_check(NULL, err, sizeof err), 0);
    o.servers = " 127.0.0.53:5353, [::1]:53,10.0.0.1 ";
    assert_int_equal(xgw_dns_opts_check(&o, err, sizeof err), 0);

    const char *bad_servers[] = {"dns.example",
                                 "127.0.0.1:0",
                                 "127.0.0.1:99999",
                                 "1.2.3.4:53x",
                                 "[::1",
                                 "::1:53:x",
                                 "127.0.0.1;5.6",
                                 "1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5,6.6."
                                 "6.6,7.7.7.7,8.8.8.8,9.9.9.9"};
    for (size_t i = 0; i < sizeof bad_servers / sizeof bad_servers[0]; i++) {
        o.servers = bad_servers[i];
        err[0] = '\0';
        if (xgw_dns_opts_check(&o, err, sizeof err) != XGW_EINVAL)
            fail_msg("servers '%s' accepted", bad_servers[i]);
        assert_non_null(strstr(err, "dns servers"));
        assert_null(xgw_dns_new(&o));
    }
    o.servers = NULL;

    xgw_dns_opts_t b = o;
    b.timeout_ms = -1;
    assert_int_equal(xgw_dns_opts_check(&b, err, sizeof err), XGW_EINVAL);
    assert_non_null(strstr(err, "timeout"));
    b = o;
    b.lookup_timeout_ms = 600001;
    assert_int_equal(xgw_dns_opts_check(&b, err, sizeof err), XGW_EINVAL);
    b = o;
    b.tries = 11;
    assert_int_equal(xgw_dns_opts_check(&b, err, sizeof err), XGW_EINVAL);
    assert_non_null(strstr(err, "tries"));
    b = o;
    b.max_candidates = XGW_DNS_MAX_CANDIDATES + 1;
    assert_int_equal(xgw_dns_opts_check(&b, err, sizeof err), XGW_EINVAL);
    b = o;
    b.family = AF_UNIX;
    assert_int_equal(xgw_dns_opts_check(&b, err, sizeof err), XGW_EINVAL);
    assert_null(xgw_dns_new(&b));
    b = o;
    b.prefer = (xgw_dns_prefer_t)7;
    assert_int_equal(xgw_dns_opts_check(&b, err, sizeof err), XGW_EINVAL);
}

/* ---- lookups without DNS (IP literals) ---------------------------------- */

typedef struct {
    int calls;
    uint64_t id;
    xgw_dns_result_t res;
    xgw_dns_candidate_t cand[4];
    char domain[XGW_DNS_NAME_MAX];
} s_got_t;

static void
s_cb(void *ud, uint64_t id, const xgw_dns_result_t *res)
{
    s_got_t *g = ud;
    g->calls++;
    g->id = id;
    g->res = *res;
    snprintf(g->domain, sizeof g->domain, "%s", res->domain);
    for (size_t i = 0; i < res->count && i < 4; i++)
        g->cand[i] = res->candidates[i];
}

static xgw_dns_t *
s_new_offline(size_t max_pending)
{
    /* A server that is never asked: these lookups need no DNS. */
    xgw_dns_opts_t o;
    memset(&o, 0, sizeof o);
    o.servers = "127.0.0.1:9";
    o.max_pending = max_pending;
    o.rng_seed = 1;
    xgw_dns_t *dns = xgw_dns_new(&o);
    assert_non_null(dns);
    return dns;
}

static void
test_literals(void **state)
{
    (void)state;
    xgw_dns_t *dns = s_new_offline(0);
    s_got_t g4, g6, gh;
    memset(&g4, 0, sizeof g4);
    memset(&g6, 0, sizeof g6);
    memset(&gh, 0, sizeof gh);
    uint64_t id4 = 0, id6 = 0, idh = 0;
    assert_int_equal(xgw_dns_resolve_xmpp(dns, "192.0.2.7", s_cb, &g4, &id4), 0);
    assert_int_equal(xgw_dns_resolve_xmpp(dns, "[2001:db8::7]", s_cb, &g6, &id6), 0);
    assert_int_equal(xgw_dns_resolve_host(dns, "[2001:db8::9]", 5270, true, s_cb, &gh, &idh), 0);
    assert_true(id4 > 0 && id6 > id4 && idh > id6);
    /* Never called from inside resolve; the loop is told to come back now. */
    assert_int_equal(g4.calls + g6.calls + gh.calls, 0);
    assert_int_equal(xgw_dns_timeout_ms(dns), 0);
    xgw_dns_tick(dns);
    assert_int_equal(g4.calls, 1);
    assert_int_equal(g4.id, id4);
    assert_int_equal(g4.res.status, 0);
    assert_int_equal(g4.res.source, XGW_DNS_SRC_LITERAL);
    assert_int_equal(g4.res.count, 1);
    assert_string_equal(g4.cand[0].ip, "192.0.2.7");
    assert_int_equal(g4.cand[0].port, 5269);
    assert_false(g4.cand[0].direct_tls);
    assert_string_equal(g4.domain, "192.0.2.7");
    assert_int_equal(g6.calls, 1);
    assert_string_equal(g6.cand[0].ip, "2001:db8::7");
    assert_int_equal(g6.cand[0].family, AF_INET6);
    assert_int_equal(gh.calls, 1);
    assert_int_equal(gh.res.source, XGW_DNS_SRC_STATIC);
    assert_int_equal(gh.cand[0].port, 5270);
    assert_true(gh.cand[0].direct_tls);
    /* Nothing left: no wake-up needed, and a late cancel finds nothing. */
    assert_int_equal(xgw_dns_timeout_ms(dns), -1);
    assert_int_equal(xgw_dns_cancel(dns, id4), XGW_ENOENT);
    xgw_dns_tick(dns);
    assert_int_equal(g4.calls, 1);

    xgw_dns_stats_t st;
    xgw_dns_stats(dns, &st);
    assert_int_equal(st.lookups, 3);
    assert_int_equal(st.ok, 3);
    assert_int_equal(st.queries, 0);
    assert_int_equal(st.pending, 0);
    xgw_dns_destroy(&dns);
    assert_null(dns);
    xgw_dns_destroy(&dns); /* idempotent */
}

static void
test_bad_requests(void **state)
{
    (void)state;
    xgw_dns_t *dns = s_new_offline(0);
    s_got_t g;
    memset(&g, 0, sizeof g);
    uint64_t id = 77;
    const char *bad[] = {"", "a..b", "bad_domain.test", "[::1", "[1.2.3.4]", "b\xc3\xbc.test"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(xgw_dns_resolve_xmpp(dns, bad[i], s_cb, &g, &id), XGW_EINVAL);
    assert_int_equal(xgw_dns_resolve_xmpp(dns, NULL, s_cb, &g, &id), XGW_EINVAL);
    assert_int_equal(xgw_dns_resolve_xmpp(dns, "ok.test", NULL, &g, &id), XGW_EINVAL);
    assert_int_equal(xgw_dns_resolve_host(dns, "h.test", 0, false, s_cb, &g, &id), XGW_EINVAL);
    assert_int_equal(xgw_dns_resolve_host(dns, "h.test:5270", 5269, false, s_cb, &g, &id),
                     XGW_EINVAL);
    assert_int_equal(xgw_dns_resolve_host(dns, "bad host", 5269, false, s_cb, &g, &id), XGW_EINVAL);
    assert_int_equal(id, 77); /* untouched */
    xgw_dns_tick(dns);
    assert_int_equal(g.calls, 0);
    xgw_dns_stats_t st;
    xgw_dns_stats(dns, &st);
    assert_int_equal(st.lookups, 0);
    assert_int_equal(xgw_dns_cancel(dns, 0), XGW_ENOENT);
    assert_int_equal(xgw_dns_cancel(dns, 12345), XGW_ENOENT);
    xgw_dns_destroy(&dns);
}

static void
test_cancel_cap_destroy(void **state)
{
    (void)state;
    xgw_dns_t *dns = s_new_offline(2);
    s_got_t a, b, c;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    memset(&c, 0, sizeof c);
    uint64_t ida = 0, idb = 0, idc = 0;
    assert_int_equal(xgw_dns_resolve_xmpp(dns, "192.0.2.1", s_cb, &a, &ida), 0);
    assert_int_equal(xgw_dns_resolve_xmpp(dns, "192.0.2.2", s_cb, &b, &idb), 0);
    /* The cap: a third lookup is refused, and counted. */
    assert_int_equal(xgw_dns_resolve_xmpp(dns, "192.0.2.3", s_cb, &c, &idc), XGW_EAGAIN);
    assert_int_equal(idc, 0);
    /* Cancel: no callback ever, and room again. */
    assert_int_equal(xgw_dns_cancel(dns, ida), 0);
    assert_int_equal(xgw_dns_cancel(dns, ida), XGW_ENOENT);
    assert_int_equal(xgw_dns_resolve_xmpp(dns, "192.0.2.3", s_cb, &c, &idc), 0);
    xgw_dns_tick(dns);
    assert_int_equal(a.calls, 0);
    assert_int_equal(b.calls, 1);
    assert_int_equal(c.calls, 1);
    xgw_dns_stats_t st;
    xgw_dns_stats(dns, &st);
    assert_int_equal(st.lookups, 3);
    assert_int_equal(st.ok, 2);
    assert_int_equal(st.cancelled, 1);
    assert_int_equal(st.rejected, 1);
    /* Destroy with a lookup waiting: its callback is not called. */
    memset(&a, 0, sizeof a);
    assert_int_equal(xgw_dns_resolve_xmpp(dns, "192.0.2.4", s_cb, &a, &ida), 0);
    xgw_dns_destroy(&dns);
    assert_int_equal(a.calls, 0);
}

/* A callback may start and cancel lookups: the new one is delivered on the
 * next turn, not in the same delivery run. */
typedef struct {
    xgw_dns_t *dns;
    int calls;
    uint64_t child;
    s_got_t got;
} s_chain_t;

static void
s_chain_cb(void *ud, uint64_t id, const xgw_dns_result_t *res)
{
    (void)id;
    (void)res;
    s_chain_t *c = ud;
    c->calls++;
    if (c->calls == 1)
        assert_int_equal(xgw_dns_resolve_xmpp(c->dns, "192.0.2.10", s_cb, &c->got, &c->child), 0);
}

static void
test_callback_reentry(void **state)
{
    (void)state;
    s_chain_t c;
    memset(&c, 0, sizeof c);
    c.dns = s_new_offline(0);
    assert_int_equal(xgw_dns_resolve_xmpp(c.dns, "192.0.2.9", s_chain_cb, &c, NULL), 0);
    xgw_dns_tick(c.dns);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.got.calls, 0);
    assert_int_equal(xgw_dns_timeout_ms(c.dns), 0);
    xgw_dns_tick(c.dns);
    assert_int_equal(c.got.calls, 1);
    assert_string_equal(c.got.cand[0].ip, "192.0.2.10");
    xgw_dns_destroy(&c.dns);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_domain_normalize),
        cmocka_unit_test(test_parse_hostport),
        cmocka_unit_test(test_plan_records),
        cmocka_unit_test(test_plan_dot),
        cmocka_unit_test(test_plan_fallback_and_failures),
        cmocka_unit_test(test_order_priority),
        cmocka_unit_test(test_order_weights),
        cmocka_unit_test(test_order_seeded),
        cmocka_unit_test(test_order_prefer),
        cmocka_unit_test(test_candidates),
        cmocka_unit_test(test_opts_check),
        cmocka_unit_test(test_literals),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_cancel_cap_destroy),
        cmocka_unit_test(test_callback_reentry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
