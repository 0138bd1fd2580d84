/*
 * test_dns.c - lib/xgw_dns against a real DNS server (dnsmasq on loopback)
 * and against servers that misbehave on purpose, for checklist S2S-01:
 *  (a) SRV for _xmpps-server and _xmpp-server: candidates in priority
 *      order, the right ports, direct TLS marked for xmpps;
 *  (b) SRV target ".": no service and no A fallback (also for xmpps "."
 *      alone), while xmpps "." beside xmpp records leaves those records;
 *  (c) no SRV (NXDOMAIN or NODATA): A/AAAA of the domain on 5269;
 *  (d) SRV to a closed port: the candidate list still comes back, without
 *      the domain's A record (connecting, and not falling back, is the
 *      edge's job);
 *  NXDOMAIN, REFUSED, SERVFAIL (a scripted server), a server that never
 *  answers (timeout within the configured time) and a closed DNS port;
 *  static routes, /etc/hosts, the candidate cap, cancellation, destroy with
 *  lookups pending, and many lookups at once.
 * Every resolver is given its servers explicitly: no question leaves the
 * machine. dnsmasq logs every query, which shows which ones were asked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support_dnsmasq.h"
#include "support_proc.h"
#include "xgw_dns.h"
#include "xgw_error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define S_DNS_ADDR "127.0.0.53"  /* dnsmasq */
#define S_STUB_ADDR "127.0.0.54" /* scripted and silent servers */

static xt_dnsmasq_t s_dm;
static uint16_t s_closed_port; /* nothing listens there on 127.0.0.74 */

static int64_t
s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the event loop a test runs: sock_cb watches, like epoll ----------- */

typedef struct {
    int fd;
    bool r, w;
} s_watch_t;

static s_watch_t s_watch[64];
static int s_nwatch;
static int s_adds, s_removes;

static void
s_sock_cb(void *ud, int fd, bool readable, bool writable)
{
    (void)ud;
    for (int i = 0; i < s_nwatch; i++) {
        if (s_watch[i].fd != fd)
            continue;
        if (!readable && !writable) {
            s_watch[i] = s_watch[--s_nwatch];
            s_removes++;
        } else {
            s_watch[i].r = readable;
            s_watch[i].w = writable;
        }
        return;
    }
    if (!readable && !writable)
        return;
    assert_true(s_nwatch < 64);
    s_watch[s_nwatch].fd = fd;
    s_watch[s_nwatch].r = readable;
    s_watch[s_nwatch].w = writable;
    s_nwatch++;
    s_adds++;
}

/* A scripted DNS server run by the same loop: answers every question with
 * the RCODE its mode gives, and counts the questions by type. */
typedef enum { S_STUB_OFF, S_STUB_SILENT, S_STUB_SERVFAIL, S_STUB_MIXED } s_stub_mode_t;
static int s_stub_fd = -1;
static s_stub_mode_t s_stub_mode;
static int s_stub_srv, s_stub_addr; /* SRV questions; A/AAAA questions */

static uint16_t
s_stub_start(s_stub_mode_t mode)
{
    s_stub_fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(s_stub_fd >= 0);
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    inet_pton(AF_INET, S_STUB_ADDR, &sin.sin_addr);
    assert_int_equal(bind(s_stub_fd, (struct sockaddr *)&sin, sizeof sin), 0);
    socklen_t len = sizeof sin;
    getsockname(s_stub_fd, (struct sockaddr *)&sin, &len);
    s_stub_mode = mode;
    s_stub_srv = s_stub_addr = 0;
    return ntohs(sin.sin_port);
}

static void
s_stub_stop(void)
{
    if (s_stub_fd >= 0)
        close(s_stub_fd);
    s_stub_fd = -1;
    s_stub_mode = S_STUB_OFF;
}

static void
s_stub_answer(void)
{
    uint8_t msg[1500];
    struct sockaddr_storage from;
    socklen_t flen = sizeof from;
    ssize_t n = recvfrom(s_stub_fd, msg, sizeof msg, MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
    if (n < 12)
        return;
    char name[300];
    uint16_t qtype = 0;
    if (xt_dns_parse_question(msg, (size_t)n, name, sizeof name, &qtype) != 0)
        return;
    if (qtype == 33)
        s_stub_srv++;
    else
        s_stub_addr++;
    int rcode = 2; /* SERVFAIL */
    if (s_stub_mode == S_STUB_MIXED && strncmp(name, "_xmpps-server.", 14) == 0)
        rcode = 3;                              /* NXDOMAIN for xmpps, SERVFAIL for xmpp */
    msg[2] = (uint8_t)(0x80 | (msg[2] & 0x79)); /* QR, keep opcode and RD */
    msg[3] = (uint8_t)(0x80 | rcode);           /* RA, RCODE */
    memset(msg + 6, 0, 6);                      /* no answer, authority, additional */
    sendto(s_stub_fd, msg, (size_t)n, 0, (struct sockaddr *)&from, flen);
}

/* Runs the loop until *calls reaches want or max_ms pass; returns the ms. */
static int64_t
s_run(xgw_dns_t *dns, const int *calls, int want, int max_ms)
{
    int64_t start = s_now_ms();
    while (*calls < want && s_now_ms() - start < max_ms) {
        struct pollfd p[66];
        int n = 0;
        for (int i = 0; i < s_nwatch; i++) {
            p[n].fd = s_watch[i].fd;
            p[n].events = (short)((s_watch[i].r ? POLLIN : 0) | (s_watch[i].w ? POLLOUT : 0));
            p[n].revents = 0;
            n++;
        }
        int stub = -1;
        if (s_stub_fd >= 0 && s_stub_mode != S_STUB_SILENT) {
            stub = n;
            p[n].fd = s_stub_fd;
            p[n].events = POLLIN;
            p[n].revents = 0;
            n++;
        }
        int64_t wait = xgw_dns_timeout_ms(dns);
        if (wait < 0 || wait > 50)
            wait = 50;
        poll(p, (nfds_t)n, (int)wait);
        for (int i = 0; i < n; i++) {
            if (!p[i].revents)
                continue;
            if (i == stub)
                s_stub_answer();
            else
                xgw_dns_process(dns, p[i].fd, (p[i].revents & (POLLIN | POLLERR | POLLHUP)) != 0,
                                (p[i].revents & POLLOUT) != 0);
        }
        xgw_dns_tick(dns);
    }
    return s_now_ms() - start;
}

/* ---- results ------------------------------------------------------------ */

typedef struct {
    int calls;
    uint64_t id;
    int status;
    xgw_dns_source_t source;
    size_t count;
    xgw_dns_candidate_t cand[XGW_DNS_MAX_CANDIDATES];
    char domain[XGW_DNS_NAME_MAX];
} s_got_t;

static bool s_in_resolve; /* set around xgw_dns_resolve_*: no callback may run then */

static void
s_cb(void *ud, uint64_t id, const xgw_dns_result_t *res)
{
    assert_false(s_in_resolve);
    s_got_t *g = ud;
    g->calls++;
    g->id = id;
    g->status = res->status;
    g->source = res->source;
    g->count = res->count;
    snprintf(g->domain, sizeof g->domain, "%s", res->domain);
    for (size_t i = 0; i < res->count && i < XGW_DNS_MAX_CANDIDATES; i++)
        g->cand[i] = res->candidates[i];
}

static xgw_dns_t *
s_new(const char *servers, int timeout_ms, int tries, int lookup_timeout_ms)
{
    s_nwatch = s_adds = s_removes = 0;
    xgw_dns_opts_t o;
    memset(&o, 0, sizeof o);
    o.servers = servers;
    o.timeout_ms = timeout_ms;
    o.tries = tries;
    o.lookup_timeout_ms = lookup_timeout_ms;
    o.rng_seed = 99;
    o.sock_cb = s_sock_cb;
    xgw_dns_t *dns = xgw_dns_new(&o);
    assert_non_null(dns);
    return dns;
}

/* Resolves domain (or host when port > 0) and runs the loop for the answer. */
static void
s_resolve(xgw_dns_t *dns, const char *name, uint16_t port, s_got_t *g, int max_ms)
{
    memset(g, 0, sizeof *g);
    uint64_t id = 0;
    s_in_resolve = true;
    int rc = port ? xgw_dns_resolve_host(dns, name, port, false, s_cb, g, &id)
                  : xgw_dns_resolve_xmpp(dns, name, s_cb, g, &id);
    s_in_resolve = false;
    assert_int_equal(rc, 0);
    assert_int_equal(g->calls, 0);
    s_run(dns, &g->calls, 1, max_ms);
    if (g->calls != 1)
        fail_msg("no answer for %s within %d ms", name, max_ms);
    assert_int_equal(g->id, id);
}

/* Lines of dnsmasq's log that show a query of type for name. */
static int
s_asked(const char *type, const char *name)
{
    char needle[300];
    snprintf(needle, sizeof needle, "query[%s] %s from", type, name);
    return xt_count_lines(s_dm.log, needle);
}

/* ---- setup -------------------------------------------------------------- */

static int
s_setup(void **state)
{
    (void)state;
    if (access(XT_DNSMASQ_BIN, X_OK) != 0) {
        fprintf(stderr, "%s is missing (package dnsmasq-base)\n", XT_DNSMASQ_BIN);
        return -1;
    }
    s_closed_port = xt_free_port("127.0.0.74");
    if (s_closed_port == 0)
        return -1;
    char records[4096];
    snprintf(records, sizeof records,
             "local=/test/\n"
             /* (a) both services, three priorities; the domain's own A
              * record must never show up */
             "host-record=xmpp1.hosting.test,127.0.0.61\n"
             "host-record=xmpp2.hosting.test,127.0.0.62\n"
             "host-record=tls.hosting.test,127.0.0.63\n"
             "host-record=srv.test,127.0.0.60\n"
             "srv-host=_xmpp-server._tcp.srv.test,xmpp2.hosting.test,5270,20,0\n"
             "srv-host=_xmpp-server._tcp.srv.test,xmpp1.hosting.test,5269,10,0\n"
             "srv-host=_xmpps-server._tcp.srv.test,tls.hosting.test,5223,5,0\n"
             /* (b) "." for both, "." for xmpps only beside xmpp records,
              * "." for xmpps and nothing for xmpp */
             "srv-host=_xmpp-server._tcp.dot.test\n"
             "srv-host=_xmpps-server._tcp.dot.test\n"
             "host-record=dot.test,127.0.0.70\n"
             "srv-host=_xmpps-server._tcp.dotxmpps.test\n"
             "srv-host=_xmpp-server._tcp.dotxmpps.test,xmpp1.hosting.test,5269,0,0\n"
             "srv-host=_xmpps-server._tcp.dotonly.test\n"
             "host-record=dotonly.test,127.0.0.71\n"
             /* (c) no SRV: NXDOMAIN, and NODATA */
             "host-record=plain.test,127.0.0.72\n"
             "txt-record=_xmpp-server._tcp.nodata.test,\"not srv\"\n"
             "txt-record=_xmpps-server._tcp.nodata.test,\"not srv\"\n"
             "host-record=nodata.test,127.0.0.73\n"
             /* (d) SRV to a closed port */
             "srv-host=_xmpp-server._tcp.closed.test,closed.hosting.test,%u,0,0\n"
             "host-record=closed.hosting.test,127.0.0.74\n"
             "host-record=closed.test,127.0.0.75\n"
             /* SRV whose target does not exist */
             "srv-host=_xmpp-server._tcp.deadtarget.test,nowhere.hosting.test,5269,0,0\n"
             "host-record=deadtarget.test,127.0.0.76\n"
             /* five targets, for the cap */
             "srv-host=_xmpp-server._tcp.many.test,m3.hosting.test,5269,3,0\n"
             "srv-host=_xmpp-server._tcp.many.test,m1.hosting.test,5269,1,0\n"
             "srv-host=_xmpp-server._tcp.many.test,m5.hosting.test,5269,5,0\n"
             "srv-host=_xmpp-server._tcp.many.test,m2.hosting.test,5269,2,0\n"
             "srv-host=_xmpp-server._tcp.many.test,m4.hosting.test,5269,4,0\n"
             "host-record=m1.hosting.test,127.0.0.81\n"
             "host-record=m2.hosting.test,127.0.0.82\n"
             "host-record=m3.hosting.test,127.0.0.83\n"
             "host-record=m4.hosting.test,127.0.0.84\n"
             "host-record=m5.hosting.test,127.0.0.85\n"
             /* a dual-stack target */
             "srv-host=_xmpp-server._tcp.dual.test,dual.hosting.test,5269,0,0\n"
             "host-record=dual.hosting.test,127.0.0.90,::1\n"
             /* a static route's host */
             "host-record=route.hosting.test,127.0.0.91\n",
             (unsigned)s_closed_port);
    return xt_dnsmasq_start(&s_dm, S_DNS_ADDR, records);
}

static int
s_teardown(void **state)
{
    (void)state;
    xt_dnsmasq_stop(&s_dm);
    xt_cleanup();
    return 0;
}

/* ---- (a) SRV present ---------------------------------------------------- */

static void
test_srv_present(void **state)
{
    (void)state;
    xgw_dns_t *dns = s_new(s_dm.server, 1000, 2, 5000);
    s_got_t g;
    s_resolve(dns, "srv.test", 0, &g, 5000);
    assert_int_equal(g.status, 0);
    assert_int_equal(g.source, XGW_DNS_SRC_SRV);
    assert_string_equal(g.domain, "srv.test");
    assert_int_equal(g.count, 3);
    /* Priority 5 (xmpps, direct TLS), then 10, then 20 (STARTTLS). */
    assert_string_equal(g.cand[0].host, "tls.hosting.test");
    assert_string_equal(g.cand[0].ip, "127.0.0.63");
    assert_int_equal(g.cand[0].port, 5223);
    assert_true(g.cand[0].direct_tls);
    assert_int_equal(g.cand[0].priority, 5);
    assert_string_equal(g.cand[1].host, "xmpp1.hosting.test");
    assert_string_equal(g.cand[1].ip, "127.0.0.61");
    assert_int_equal(g.cand[1].port, 5269);
    assert_false(g.cand[1].direct_tls);
    assert_string_equal(g.cand[2].host, "xmpp2.hosting.test");
    assert_string_equal(g.cand[2].ip, "127.0.0.62");
    assert_int_equal(g.cand[2].port, 5270);
    assert_false(g.cand[2].direct_tls);
    /* The sockaddr is ready for connect(). */
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&g.cand[2].addr;
    assert_int_equal(sin->sin_family, AF_INET);
    assert_int_equal(ntohs(sin->sin_port), 5270);
    /* Both services were asked, of our server; the domain's A was not. */
    assert_true(s_asked("SRV", "_xmpps-server._tcp.srv.test") >= 1);
    assert_true(s_asked("SRV", "_xmpp-server._tcp.srv.test") >= 1);
    assert_int_equal(s_asked("A", "srv.test"), 0);

    /* Case and a trailing dot do not matter. */
    s_resolve(dns, "SRV.Test.", 0, &g, 5000);
    assert_int_equal(g.status, 0);
    assert_int_equal(g.count, 3);
    assert_string_equal(g.domain, "srv.test");

    /* The sockets went through sock_cb. */
    assert_true(s_adds >= 1);
    xgw_dns_stats_t st;
    xgw_dns_stats(dns, &st);
    assert_int_equal(st.lookups, 2);
    assert_int_equal(st.ok, 2);
    assert_int_equal(st.fallback, 0);
    assert_int_equal(st.queries, 2 * (2 + 3)); /* 2 SRV + 3 targets, twice */
    xgw_dns_destroy(&dns);
    assert_int_equal(s_nwatch, 0); /* every socket was reported closed */
    assert_int_equal(s_adds, s_removes);
}

/* ---- (b) target "." ----------------------------------------------------- */

static void
test_srv_dot(void **state)
{
    (void)state;
    xgw_dns_t *dns = s_new(s_dm.server, 1000, 2, 5000);
    s_got_t g;
    s_resolve(dns, "dot.test", 0, &g, 5000);
    assert_int_equal(g.status, XGW_ENOENT);
    assert_int_equal(g.count, 0);
    /* No fallback: dot.test has an A record, and it was never asked. */
    assert_int_equal(s_asked("A", "dot.test"), 0);
    assert_int_equal(s_asked("AAAA", "dot.test"), 0);

    /* xmpps "." alone, no xmpp SRV: XEP-0368 forbids the fallback. */
    s_resolve(dns, "dotonly.test", 0, &g, 5000);
    assert_int_equal(g.status, XGW_ENOENT);
    assert_int_equal(s_asked("A", "dotonly.test"), 0);

    /* xmpps "." beside xmpp records: STARTTLS only. */
    s_resolve(dns, "dotxmpps.test", 0, &g, 5000);
    assert_int_equal(g.status, 0);
    assert_int_equal(g.source, XGW_DNS_SRC_SRV);
    assert_int_equal(g.count, 1);
    assert_string_equal(g.cand[0].ip, "127.0.0.61");
    assert_false(g.cand[0].direct_tls);

    xgw_dns_stats_t st;
    xgw_dns_stats(dns, &st);
    assert_int_equal(st.nxdomain, 2);
    assert_int_equal(st.ok, 1);
    xgw_dns_destroy(&dns);
}

/* ---- (c) no SRV: A/AAAA on 5269 ----------------------------------------- */

static void
test_fallback(void **state)
{
    (void)state;
    xgw_dns_t *dns = s_new(s_dm.server, 1000, 2, 5000);
    s_got_t g;
    s_resolve(dns, "plain.test", 0, &g, 5000); /* SRV NXDOMAIN */
    assert_int_equal(g.status, 0);
    assert_int_equal(g.source, XGW_DNS_SRC_FALLBACK);
    assert_int_equal(g.count, 1);
    assert_string_equal(g.cand[0].host, "plain.test");
    assert_string_equal(g.cand[0].ip, "127.0.0.72");
    assert_int_equal(g.cand[0].port, 5269);
    assert_false(g.cand[0].direct_tls);
    assert_true(s_asked("A", "plain.test") >= 1);

    s_resolve(dns, "nodata.test", 0, &g, 5000); /* SRV NODATA */
    assert_int_equal(g.status, 0);
    assert_int_equal(g.source, XGW_DNS_SRC_FALLBACK);
    assert_int_equal(g.count, 1);
    assert_string_equal(g.cand[0].ip, "127.0.0.73");
    assert_int_equal(g.cand[0].port, 5269);

    xgw_dns_stats_t st;
    xgw_dns_stats(dns, &st);
    assert_int_equal(st.fallback, 2);
    xgw_dns_destroy(&dns);
}

/* ---- (d) SRV to a closed port ------------------------------------------- */

static void
test_srv_closed_port(void **state)
{
    (void)state;
    xgw_dns_t *dns = s_new(s_dm.server, 1000, 2, 5000);
    s_got_t g;
    s_resolve(dns, "closed.test", 0, &g, 5000);
    assert_int_equal(g.status, 0);
    assert_int_equal(g.source, XGW_DNS_SRC_SRV);
    assert_int_equal(g.count, 1);
    assert_string_equal(g.cand[0].ip, "127.0.0.74");
    assert_int_equal(g.cand[0].port, s_closed_port);
    assert_int_equal(s_asked("A", "closed.test"), 0); /* 127.0.0.75 is never offered */
    /* The port really is closed: the edge's connect fails, and it must then
     * report remote-server-timeout, not try A/AAAA. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    int rc = connect(fd, (const struct sockaddr *)&g.cand[0].addr, g.cand[0].addrlen);
    int err = errno;
    close(fd);
    assert_int_equal(rc, -1);
    assert_int_equal(err, ECONNREFUSED);
    xgw_dns_destroy(&dns);
}

/* ---- names that do not resolve, and a server that refuses ------------- */

static void
test_nxdomain_refused(void **state)
{
    (void)state;
    /* A search domain from the environment (c-ares reads LOCALDOMAIN like
     * resolv.conf's "search") must not be appended to any name. */
    setenv("LOCALDOMAIN", "search.test", 1);
    xgw_dns_t *dns = s_new(s_dm.server, 1000, 2, 5000);
    unsetenv("LOCALDOMAIN");
    s_got_t g;
    s_resolve(dns, "nosuch.test", 0, &g, 5000);
    assert_int_equal(g.status, XGW_ENOENT);
    assert_int_equal(g.count, 0);
    /* SRV and A of the domain: both NXDOMAIN. */
    assert_true(s_asked("A", "nosuch.test") >= 1);

    /* SRV exists but its target does not: an error, never the fallback. */
    s_resolve(dns, "deadtarget.test", 0, &g, 5000);
    assert_int_equal(g.status, XGW_ENOENT);
    assert_true(s_asked("A", "nowhere.hosting.test") >= 1);
    assert_int_equal(s_asked("A", "deadtarget.test"), 0);

    /* Outside dnsmasq's zone it answers REFUSED: an error, not "no SRV". */
    s_resolve(dns, "outside.example", 0, &g, 5000);
    assert_int_equal(g.status, XGW_EIO);
    assert_int_equal(s_asked("A", "outside.example"), 0);

    assert_int_equal(xt_count_lines(s_dm.log, ".search.test from"), 0);

    xgw_dns_stats_t st;
    xgw_dns_stats(dns, &st);
    assert_int_equal(st.nxdomain, 2);
    assert_int_equal(st.servfail, 1);
    assert_int_equal(st.fallback, 1); /* nosuch.test tried it */
    xgw_dns_destroy(&dns);
}

/* ---- SERVFAIL from a scripted server ------------------------------------ */

static void
test_servfail(void **state)
{
    (void)state;
    char server[64];
    uint16_t port = s_stub_start(S_STUB_SERVFAIL);
    snprintf(server, sizeof server, "%s:%u", S_STUB_ADDR, (unsigned)port);
    xgw_dns_t *dns = s_new(server, 1000, 1, 5000);
    s_got_t g;
    s_resolve(dns, "example.com", 0, &g, 5000);
    assert_int_equal(g.status, XGW_EIO);
    assert_int_equal(s_stub_srv, 2);
    assert_int_equal(s_stub_addr, 0); /* no A/AAAA fallback */

    /* xmpps NXDOMAIN but xmpp SERVFAIL: still no fallback. */
    s_stub_mode = S_STUB_MIXED;
    s_stub_srv = s_stub_addr = 0;
    s_resolve(dns, "example.org", 0, &g, 5000);
    assert_int_equal(g.status, XGW_EIO);
    assert_int_equal(s_stub_srv, 2);
    assert_int_equal(s_stub_addr, 0);
    xgw_dns_stats_t st;
    xgw_dns_stats(dns, &st);
    assert_int_equal(st.servfail, 2);
    xgw_dns_destroy(&dns);
    s_stub_stop();
}

/* ---- a server that never answers, and one that is not there ------------- */

static void
test_timeout(void **state)
{
    (void)state;
    char server[64];
    uint16_t port = s_stub_start(S_STUB_SILENT);
    snprintf(server, sizeof server, "%s:%u", S_STUB_ADDR, (unsigned)port);

    /* c-ares' own timeout: one try of 200 ms. */
    xgw_dns_t *dns = s_new(server, 200, 1, 5000);
    s_got_t g;
    int64_t t0 = s_now_ms();
    s_resolve(dns, "example.com", 0, &g, 3000);
    int64_t took = s_now_ms() - t0;
    assert_int_equal(g.status, XGW_ETIMEDOUT);
    assert_in_range(took, 150, 1500);
    xgw_dns_stats_t st;
    xgw_dns_stats(dns, &st);
    assert_int_equal(st.timeout, 1);
    xgw_dns_destroy(&dns);

    /* The whole-lookup deadline, shorter than c-ares' tries (3 s + 6 s). */
    dns = s_new(server, 3000, 2, 400);
    t0 = s_now_ms();
    s_resolve(dns, "example.com", 0, &g, 3000);
    took = s_now_ms() - t0;
    assert_int_equal(g.status, XGW_ETIMEDOUT);
    assert_in_range(took, 350, 1500);
    /* The questions are still out: the lookup is held until they end. */
    xgw_dns_stats(dns, &st);
    assert_int_equal(st.timeout, 1);
    assert_true(st.pending >= 1);
    xgw_dns_destroy(&dns); /* frees them (ASan checks) */

    /* The questions did reach that server. */
    uint8_t buf[512];
    assert_true(recv(s_stub_fd, buf, sizeof buf, MSG_DONTWAIT) > 12);
    s_stub_stop();

    /* A closed DNS port (ICMP port unreachable): an error, fast. */
    uint16_t closed = xt_free_port(S_STUB_ADDR);
    snprintf(server, sizeof server, "%s:%u", S_STUB_ADDR, (unsigned)closed);
    dns = s_new(server, 2000, 2, 10000);
    t0 = s_now_ms();
    s_resolve(dns, "example.com", 0, &g, 5000);
    took = s_now_ms() - t0;
    assert_int_equal(g.status, XGW_EIO);
    assert_true(took < 1500);
    xgw_dns_destroy(&dns);
}

/* ---- static routes and /etc/hosts --------------------------------------- */

static void
test_static_route(void **state)
{
    (void)state;
    xgw_dns_t *dns = s_new(s_dm.server, 1000, 2, 5000);
    s_got_t g;
    s_resolve(dns, "route.hosting.test", 5299, &g, 5000);
    assert_int_equal(g.status, 0);
    assert_int_equal(g.source, XGW_DNS_SRC_STATIC);
    assert_int_equal(g.count, 1);
    assert_string_equal(g.cand[0].ip, "127.0.0.91");
    assert_int_equal(g.cand[0].port, 5299);
    assert_string_equal(g.cand[0].host, "route.hosting.test");
    /* No SRV for a static route. */
    assert_int_equal(s_asked("SRV", "_xmpp-server._tcp.route.hosting.test"), 0);

    /* localhost comes from /etc/hosts (or c-ares' RFC 6761 rule), never
     * from the DNS server. */
    s_resolve(dns, "localhost", 5270, &g, 5000);
    assert_int_equal(g.status, 0);
    assert_true(g.count >= 1);
    for (size_t i = 0; i < g.count; i++) {
        bool loop = strncmp(g.cand[i].ip, "127.", 4) == 0 || strcmp(g.cand[i].ip, "::1") == 0;
        assert_true(loop);
        assert_int_equal(g.cand[i].port, 5270);
    }
    assert_int_equal(s_asked("A", "localhost"), 0);

    s_resolve(dns, "nosuch.hosting.test", 5269, &g, 5000);
    assert_int_equal(g.status, XGW_ENOENT);
    xgw_dns_destroy(&dns);
}

/* ---- caps, families --------------------------------------------------------- */

static void
test_cap_and_family(void **state)
{
    (void)state;
    s_nwatch = s_adds = s_removes = 0;
    xgw_dns_opts_t o;
    memset(&o, 0, sizeof o);
    o.servers = s_dm.server;
    o.max_candidates = 2;
    o.sock_cb = s_sock_cb;
    xgw_dns_t *dns = xgw_dns_new(&o);
    assert_non_null(dns);
    s_got_t g;
    s_resolve(dns, "many.test", 0, &g, 5000);
    assert_int_equal(g.status, 0);
    assert_int_equal(g.count, 2);
    assert_string_equal(g.cand[0].ip, "127.0.0.81");
    assert_string_equal(g.cand[1].ip, "127.0.0.82");
    /* Targets beyond the cap were not even asked. */
    assert_int_equal(s_asked("A", "m5.hosting.test"), 0);
    xgw_dns_destroy(&dns);

    /* Dual stack: both families by default, in the order the host would
     * use them (RFC 6724, c-ares' sort). */
    dns = s_new(s_dm.server, 1000, 2, 5000);
    s_resolve(dns, "dual.test", 0, &g, 5000);
    assert_int_equal(g.status, 0);
    assert_int_equal(g.count, 2);
    int fam = 0;
    for (size_t i = 0; i < g.count; i++)
        fam |= g.cand[i].family == AF_INET ? 1 : g.cand[i].family == AF_INET6 ? 2 : 4;
    assert_int_equal(fam, 3);
    xgw_dns_destroy(&dns);

    /* IPv4 only. */
    memset(&o, 0, sizeof o);
    o.servers = s_dm.server;
    o.family = AF_INET;
    o.sock_cb = s_sock_cb;
    dns = xgw_dns_new(&o);
    s_resolve(dns, "dual.test", 0, &g, 5000);
    assert_int_equal(g.count, 1);
    assert_string_equal(g.cand[0].ip, "127.0.0.90");
    xgw_dns_destroy(&dns);
}

/* ---- cancel, destroy with lookups pending, many at once ----------------- */

static void
test_cancel_destroy(void **state)
{
    (void)state;
    /* Cancel against dnsmasq: the answer comes, the callback does not. */
    xgw_dns_t *dns = s_new(s_dm.server, 1000, 2, 5000);
    s_got_t a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    uint64_t ida = 0, idb = 0;
    assert_int_equal(xgw_dns_resolve_xmpp(dns, "srv.test", s_cb, &a, &ida), 0);
    assert_int_equal(xgw_dns_resolve_xmpp(dns, "plain.test", s_cb, &b, &idb), 0);
    assert_int_equal(xgw_dns_cancel(dns, ida), 0);
    s_run(dns, &b.calls, 1, 5000);
    assert_int_equal(b.calls, 1);
    int none = 0;
    s_run(dns, &none, 1, 300); /* time for srv.test's answers to arrive */
    assert_int_equal(a.calls, 0);
    xgw_dns_stats_t st;
    xgw_dns_stats(dns, &st);
    assert_int_equal(st.cancelled, 1);
    assert_int_equal(st.pending, 0); /* the cancelled lookup's questions ended */
    xgw_dns_destroy(&dns);

    /* Destroy with lookups pending on a silent server: no callback. */
    char server[64];
    uint16_t port = s_stub_start(S_STUB_SILENT);
    snprintf(server, sizeof server, "%s:%u", S_STUB_ADDR, (unsigned)port);
    dns = s_new(server, 5000, 2, 10000);
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    assert_int_equal(xgw_dns_resolve_xmpp(dns, "example.com", s_cb, &a, NULL), 0);
    assert_int_equal(xgw_dns_resolve_host(dns, "xmpp.example.com", 5269, false, s_cb, &b, NULL), 0);
    s_run(dns, &none, 1, 100);
    assert_true(s_nwatch >= 1);
    xgw_dns_destroy(&dns);
    assert_int_equal(a.calls + b.calls, 0);
    assert_int_equal(s_nwatch, 0);
    s_stub_stop();
}

static void
test_many_at_once(void **state)
{
    (void)state;
    enum { N = 300 };
    xgw_dns_t *dns = s_new(s_dm.server, 1000, 3, 10000);
    static s_got_t got[N];
    static const char *const names[] = {"srv.test", "plain.test", "dot.test", "nosuch.test",
                                        "closed.test"};
    static const int want_status[] = {0, 0, XGW_ENOENT, XGW_ENOENT, 0};
    static const size_t want_count[] = {3, 1, 0, 0, 1};
    int done = 0;
    memset(got, 0, sizeof got);
    for (int i = 0; i < N; i++)
        assert_int_equal(xgw_dns_resolve_xmpp(dns, names[i % 5], s_cb, &got[i], NULL), 0);
    int64_t deadline = s_now_ms() + 20000;
    while (done < N && s_now_ms() < deadline) {
        s_run(dns, &done, N, 50);
        done = 0;
        for (int i = 0; i < N; i++)
            done += got[i].calls;
    }
    assert_int_equal(done, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(got[i].calls, 1);
        assert_int_equal(got[i].status, want_status[i % 5]);
        assert_int_equal(got[i].count, want_count[i % 5]);
    }
    /* The poll()-style helper ends with nothing held. */
    while (xgw_dns_wait(dns, 50) > 0)
        ;
    xgw_dns_stats_t st;
    xgw_dns_stats(dns, &st);
    assert_int_equal(st.lookups, N);
    assert_int_equal(st.ok + st.nxdomain, N);
    assert_int_equal(st.pending, 0);
    xgw_dns_destroy(&dns);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_srv_present),      cmocka_unit_test(test_srv_dot),
        cmocka_unit_test(test_fallback),         cmocka_unit_test(test_srv_closed_port),
        cmocka_unit_test(test_nxdomain_refused), cmocka_unit_test(test_servfail),
        cmocka_unit_test(test_timeout),          cmocka_unit_test(test_static_route),
        cmocka_unit_test(test_cap_and_family),   cmocka_unit_test(test_cancel_destroy),
        cmocka_unit_test(test_many_at_once),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
