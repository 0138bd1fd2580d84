/*
 * test_xmppd_federation.c - xgw-xmppd against itself: two complete gateway
 * groups (broker, policyd, certd, xmppd each), A serving a.test on
 * 127.0.0.183 and B serving b.test on 127.0.0.184, federating over real
 * sockets. Each lists the other as a partner with a static route
 * (proxy_fqdn), so no DNS is involved.
 *
 * A stanza crosses: the test sends a Deliver to service "xmpp" through A's
 * broker (as sipd would) and receives it as service "sip" on B's broker
 * (a worker inside this test), in three modes:
 *   1. dialback over plain TCP (tls not-supported);
 *   2. STARTTLS + dialback (tls required, sasl not-supported) with the
 *      self-signed certificates certd makes on first run;
 *   3. STARTTLS + SASL EXTERNAL (tls and sasl required, dialback off) with
 *      certificates from a test CA that both sides trust.
 * Each mode is checked in the logs of both xmppd processes (the auth
 * method of both streams) besides the delivery itself.
 *
 * Failure paths through the same processes: a Deliver to a domain that is
 * not a partner (403), to a partner whose server is not there (504
 * remote-server-timeout), a raw peer that claims a.test with a forged
 * dialback key (B asks A, the authoritative server, and answers invalid:
 * S2S-12/14), a raw peer sending a stanza before authenticating (S2S-10),
 * a stream to a domain that is not served (S2S-03), an unsolicited
 * db:result type='valid' (S2S-15), and a peer domain that is not a partner
 * (refused at stream level). Both xmppd processes must exit 0 on SIGTERM
 * with no sanitizer report.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support_cert.h"
#include "support_certd.h"
#include "support_dnsmasq.h"
#include "support_proc.h"

#include "xgw_client.h"
#include "xgw_error.h"
#include "xgw_worker.h"
#include "xgw/v1/gwp.pb-c.h"
#include "xgw/v1/im.pb-c.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

typedef struct {
    const char *domain;
    const char *ip;
    int port;
    int tls_port;     /* direct TLS listener (XEP-0368) */
    int metrics_port; /* xmppd's /metrics */
    xc_env_t env;     /* dir, conf, broker/certd logs and pids (support_certd) */
    char policyd_log[320];
    char xmppd_log[320];
    pid_t policyd;
    pid_t xmppd;
    int xmppd_starts;
    xgw_client_t *client;
    xgw_worker_t *sip;
} s_side_t;

static s_side_t s_a = {.domain = "a.test", .ip = "127.0.0.183"};
static s_side_t s_b = {.domain = "b.test", .ip = "127.0.0.184"};
static const char *s_raw_ip = "127.0.0.185";
static xt_dnsmasq_t s_dns; /* SRV for the direct TLS case, on 127.0.0.186 */
static int s_raw_port;     /* the raw peer as raw.test's authoritative server */
static char s_raw_route[64];
static char s_top[128];
static int s_failed;

/* ------------------------------------------------------------------ */
/* Processes                                                           */

static int
s_ctl(s_side_t *s, ...)
{
    char *argv[32];
    int n = 0;
    va_list ap;
    va_start(ap, s);
    for (const char *a = va_arg(ap, const char *); a && n < 30; a = va_arg(ap, const char *))
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    char cmd[2048];
    int off = snprintf(cmd, sizeof cmd, "'%s' -c '%s'", xt_bin("xgwctl"), s->env.conf);
    for (int i = 0; i < n && off < (int)sizeof cmd; i++)
        off += snprintf(cmd + off, sizeof cmd - (size_t)off, " '%s'", argv[i]);
    char *out = NULL;
    int rc = xc_sh(cmd, &out);
    if (rc != 0)
        fprintf(stderr, "xgwctl failed (%d): %s\n%s\n", rc, cmd, out ? out : "");
    free(out);
    return rc;
}

/* Runs xgwctl; its stdout into out (truncated to len). */
static void
s_ctl_out(s_side_t *s, const char *args, char *out, size_t len)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' -c '%s' %s", xt_bin("xgwctl"), s->env.conf, args);
    char *text = NULL;
    (void)xc_sh(cmd, &text);
    snprintf(out, len, "%s", text ? text : "");
    free(text);
}

static int
s_start_xmppd(s_side_t *s)
{
    int before = xt_count_lines(s->xmppd_log, "event=ruleset_loaded");
    int tls_before = xt_count_lines(s->xmppd_log, "event=tls_reloaded");
    char *argv[] = {(char *)xt_bin("xgw-xmppd"), "-c", s->env.conf, NULL};
    s->xmppd = xt_spawn(argv, s->xmppd_log);
    if (s->xmppd < 0)
        return -1;
    s->xmppd_starts++;
    if (xt_wait_lines(s->xmppd_log, "event=ruleset_loaded", before + 1, 20000) != 0 ||
        xt_wait_lines(s->xmppd_log, "event=tls_reloaded", tls_before + 1, 20000) != 0 ||
        xt_wait_lines(s->xmppd_log, "event=xmpp_listening", s->xmppd_starts, 20000) != 0)
        return -1;
    return 0;
}

/* SIGTERM: xmppd must drain and exit 0 with a clean log. */
static int
s_stop_xmppd(s_side_t *s)
{
    if (s->xmppd <= 0)
        return 0;
    xt_signal(s->xmppd, SIGTERM);
    int status = xt_wait(s->xmppd, 20000);
    s->xmppd = 0;
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "xmppd %s did not exit 0 on SIGTERM (status %d)\n", s->domain, status);
        return -1;
    }
    static const char *const reports[] = {"AddressSanitizer", "LeakSanitizer", "runtime error:"};
    for (size_t i = 0; i < sizeof reports / sizeof reports[0]; i++) {
        if (xt_count_lines(s->xmppd_log, reports[i]) > 0) {
            fprintf(stderr, "xmppd log %s holds a sanitizer report\n", s->xmppd_log);
            return -1;
        }
    }
    return 0;
}

static int
s_side_start(s_side_t *s, const s_side_t *peer)
{
    xc_env_t *e = &s->env;
    memset(e, 0, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "%s/%s", s_top, s->domain);
    if (mkdir(e->dir, 0700) != 0)
        return -1;
    snprintf(e->conf, sizeof e->conf, "%s/xgw.conf", e->dir);
    snprintf(e->data, sizeof e->data, "%s/data", e->dir);
    snprintf(e->broker_log, sizeof e->broker_log, "%s/broker.log", e->dir);
    snprintf(e->certd_log, sizeof e->certd_log, "%s/certd.log", e->dir);
    snprintf(s->policyd_log, sizeof s->policyd_log, "%s/policyd.log", e->dir);
    snprintf(s->xmppd_log, sizeof s->xmppd_log, "%s/xmppd.log", e->dir);
    FILE *f = fopen(e->conf, "w");
    if (!f)
        return -1;
    fprintf(f,
            "[common]\n"
            "broker_frontend = \"ipc://%s/front\"\n"
            "broker_backend = \"ipc://%s/back\"\n"
            "cert_updates = \"ipc://%s/cert-updates\"\n"
            "policy_updates = \"ipc://%s/policy-updates\"\n"
            "policy_snapshot = \"ipc://%s/policy-snapshot\"\n"
            "data_dir = \"%s\"\n"
            "run_dir = \"%s\"\n"
            "domains = \"%s\"\n"
            "heartbeat_interval = 200ms\n"
            "retry_interval = 200ms\n"
            "request_timeout = 20s\n"
            "log_level = debug\n"
            "[broker]\nmetrics_port = 0\n"
            "[policyd]\nmetrics_port = 0\n"
            "[certd]\nmetrics_port = 0\npublish_interval = 300ms\n"
            "[xmppd]\nmetrics_port = %d\ns2s_listen = \"%s:%d\"\n"
            "direct_tls_listen = \"%s:%d\"\n"
            "tls_handshake_timeout = 5s\n"
            "dns_servers = \"%s\"\n"
            "[xgwctl]\ntimeout = 10s\n",
            e->dir, e->dir, e->dir, e->dir, e->dir, e->data, e->dir, s->domain, s->metrics_port,
            s->ip, s->port, s->ip, s->tls_port, s_dns.server);
    if (fclose(f) != 0)
        return -1;
    char *bargv[] = {(char *)xt_bin("xgw-broker"), "-c", e->conf, NULL};
    e->broker = xt_spawn(bargv, e->broker_log);
    char *pargv[] = {(char *)xt_bin("xgw-policyd"), "-c", e->conf, NULL};
    s->policyd = xt_spawn(pargv, s->policyd_log);
    if (e->broker < 0 || s->policyd < 0 || xc_start_certd(e) != 0)
        return -1;
    if (xt_wait_lines(s->policyd_log, "event=serving", 1, 20000) != 0)
        return -1;
    char route[64];
    snprintf(route, sizeof route, "%s:%d", peer->ip, peer->port);
    if (s_ctl(s, "policy", "set", "global", "--federation", "on", "--xmpp", "on", NULL) != 0 ||
        s_ctl(s, "partner", "add", peer->domain, "--type", "federated", "--tls", "not-supported",
              "--sasl", "not-supported", "--dialback", "on", "--proxy-fqdn", route, NULL) != 0 ||
        s_ctl(s, "partner", "add", "down.test", "--type", "federated", "--tls", "not-supported",
              "--sasl", "not-supported", "--dialback", "on", "--proxy-fqdn", "127.0.0.186:9",
              NULL) != 0 ||
        s_ctl(s, "partner", "add", "raw.test", "--type", "federated", "--tls", "not-supported",
              "--sasl", "not-supported", "--dialback", "on", "--proxy-fqdn", s_raw_route,
              NULL) != 0)
        return -1;
    /* GWP ends of the test: a client that plays sipd towards "xmpp", and
     * the "sip" service that xmppd hands inbound stanzas to. */
    char ep[400];
    snprintf(ep, sizeof ep, "ipc://%s/front", e->dir);
    xgw_client_opts_t co;
    xgw_client_opts_default(&co);
    co.heartbeat_ms = 200;
    co.retry_ms = 200;
    s->client = xgw_client_new(ep, &co);
    snprintf(ep, sizeof ep, "ipc://%s/back", e->dir);
    xgw_worker_opts_t wo;
    xgw_worker_opts_default(&wo);
    wo.heartbeat_ms = 200;
    char inst[32];
    snprintf(inst, sizeof inst, "sipd.%s", s->domain);
    s->sip = xgw_worker_new(ep, "sip", inst, 16, &wo);
    if (!s->client || !s->sip)
        return -1;
    return s_start_xmppd(s);
}

static int
s_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    snprintf(s_top, sizeof s_top, "%s", xt_tmpdir());
    /* Below the ephemeral range (32768+), so no outgoing socket holds them. */
    int base = 20000 + (int)(getpid() % 1500) * 8;
    s_a.port = base;
    s_b.port = base + 1;
    s_a.tls_port = base + 2;
    s_b.tls_port = base + 3;
    s_a.metrics_port = base + 4;
    s_b.metrics_port = base + 5;
    s_raw_port = base + 6;
    snprintf(s_raw_route, sizeof s_raw_route, "%s:%d", s_raw_ip, s_raw_port);
    /* b.test offers only direct TLS through SRV (XEP-0368); used once the
     * partner's static route is removed. */
    char records[512];
    snprintf(records, sizeof records,
             "srv-host=_xmpps-server._tcp.b.test,xb.test,%d,0,5\n"
             "host-record=xb.test,%s\n",
             s_b.tls_port, s_b.ip);
    if (xt_dnsmasq_start(&s_dns, "127.0.0.186", records) != 0) {
        s_failed = 1;
        return -1;
    }
    if (s_side_start(&s_a, &s_b) != 0 || s_side_start(&s_b, &s_a) != 0) {
        fprintf(stderr, "setup failed; logs in %s\n", s_top);
        s_failed = 1;
        return -1;
    }
    return 0;
}

static int
s_teardown(void **state)
{
    (void)state;
    s_side_t *sides[2] = {&s_a, &s_b};
    for (int i = 0; i < 2; i++) {
        xgw_client_destroy(&sides[i]->client);
        xgw_worker_destroy(&sides[i]->sip);
        if (s_stop_xmppd(sides[i]) != 0)
            s_failed = 1;
        if (xc_shutdown_certd(&sides[i]->env) != 0)
            s_failed = 1;
    }
    (void)xt_dnsmasq_stop(&s_dns);
    xt_cleanup();
    if (!s_failed && !getenv("XGW_KEEP_TMP")) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_top);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", s_top);
    } else {
        fprintf(stderr, "logs kept in %s\n", s_top);
    }
    return s_failed ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* GWP ends                                                            */

typedef struct {
    uint16_t status;
    char condition[64];
} s_answer_t;

/* Sends a message Deliver to service "xmpp" of side s (affinity: the
 * remote domain) and waits for its answer. */
static void
s_send_message(s_side_t *s, const char *from, const char *to, const char *body, s_answer_t *ans)
{
    Xgw__V1__ImMessage m = XGW__V1__IM_MESSAGE__INIT;
    m.from = (char *)from;
    m.to = (char *)to;
    m.body = (char *)body;
    m.id = "t1";
    Xgw__V1__Deliver d = XGW__V1__DELIVER__INIT;
    d.kind_case = XGW__V1__DELIVER__KIND_MESSAGE;
    d.message = &m;
    Xgw__V1__Request r = XGW__V1__REQUEST__INIT;
    r.schema = 1;
    r.payload_case = XGW__V1__REQUEST__PAYLOAD_DELIVER;
    r.deliver = &d;
    uint8_t buf[4096];
    size_t len = xgw__v1__request__get_packed_size(&r);
    assert_true(len <= sizeof buf);
    xgw__v1__request__pack(&r, buf);
    const char *at = strchr(to, '@');
    char affinity[64];
    snprintf(affinity, sizeof affinity, "%s", at ? at + 1 : to);
    int64_t deadline = xgw_gwp_now_ms() + 30000;
    assert_int_equal(xgw_client_send(s->client, "xmpp", affinity, deadline, buf, len, NULL, NULL),
                     0);
    xgw_reply_t *rep = NULL;
    assert_int_equal(xgw_client_wait(s->client, 35000, &rep), 0);
    ans->status = rep->status;
    ans->condition[0] = '\0';
    if (rep->body_len) {
        Xgw__V1__Reply *rb = xgw__v1__reply__unpack(NULL, rep->body_len, rep->body);
        if (rb && rb->payload_case == XGW__V1__REPLY__PAYLOAD_DELIVER_RESULT &&
            rb->deliver_result->condition)
            snprintf(ans->condition, sizeof ans->condition, "%s", rb->deliver_result->condition);
        if (rb)
            xgw__v1__reply__free_unpacked(rb, NULL);
    }
    xgw_reply_destroy(&rep);
}

typedef struct {
    char from[128];
    char to[128];
    char body[256];
} s_got_t;

/* Waits up to ms for a Deliver on side s's "sip" service; answers it 200.
 * Returns 0 with *got filled, or -1. */
static int
s_recv_sip(s_side_t *s, int ms, s_got_t *got)
{
    int64_t end = xgw_gwp_now_ms() + ms;
    while (xgw_gwp_now_ms() < end) {
        xgw_request_t *req = NULL;
        if (xgw_worker_recv(s->sip, &req) == 0) {
            Xgw__V1__Request *in = xgw__v1__request__unpack(NULL, req->body_len, req->body);
            int ok = in && in->payload_case == XGW__V1__REQUEST__PAYLOAD_DELIVER &&
                     in->deliver->kind_case == XGW__V1__DELIVER__KIND_MESSAGE;
            if (ok) {
                snprintf(got->from, sizeof got->from, "%s", in->deliver->message->from);
                snprintf(got->to, sizeof got->to, "%s", in->deliver->message->to);
                snprintf(got->body, sizeof got->body, "%s", in->deliver->message->body);
            }
            if (in)
                xgw__v1__request__free_unpacked(in, NULL);
            (void)xgw_worker_reply(s->sip, &req, 200, NULL, 0);
            if (ok)
                return 0;
            continue;
        }
        (void)xgw_worker_tick(s->sip);
        zmq_pollitem_t it = {xgw_worker_socket(s->sip), 0, ZMQ_POLLIN, 0};
        (void)zmq_poll(&it, 1, 50);
    }
    return -1;
}

/* Keeps both sides' "sip" workers alive while waiting for something else. */
static void
s_tick_workers(void)
{
    (void)xgw_worker_tick(s_a.sip);
    (void)xgw_worker_tick(s_b.sip);
}

/* A message from A's user to B's user crosses; then one the other way. */
static void
s_cross(const char *mode_auth)
{
    s_answer_t ans;
    s_got_t got;
    int a_auth = xt_count_lines(s_a.xmppd_log, mode_auth);
    int b_auth = xt_count_lines(s_b.xmppd_log, mode_auth);
    for (int i = 0; i < 20; i++) {
        s_tick_workers();
        usleep(20000);
    }
    s_send_message(&s_a, "romeo@a.test/orchard", "juliet@b.test", "hello juliet", &ans);
    if (ans.status != 200)
        fprintf(stderr, "A answered %u %s (logs in %s)\n", ans.status, ans.condition, s_top);
    assert_int_equal(ans.status, 200);
    assert_int_equal(s_recv_sip(&s_b, 20000, &got), 0);
    assert_string_equal(got.from, "romeo@a.test/orchard");
    assert_string_equal(got.to, "juliet@b.test");
    assert_string_equal(got.body, "hello juliet");

    s_send_message(&s_b, "juliet@b.test/balcony", "romeo@a.test", "hello romeo", &ans);
    assert_int_equal(ans.status, 200);
    assert_int_equal(s_recv_sip(&s_a, 20000, &got), 0);
    assert_string_equal(got.from, "juliet@b.test/balcony");
    assert_string_equal(got.body, "hello romeo");
    /* Both directions authenticated the way the mode says: A's outbound
     * and inbound streams, and B's. */
    assert_true(xt_count_lines(s_a.xmppd_log, mode_auth) >= a_auth + 2);
    assert_true(xt_count_lines(s_b.xmppd_log, mode_auth) >= b_auth + 2);
}

static void
s_restart_both(void)
{
    assert_int_equal(s_stop_xmppd(&s_a), 0);
    assert_int_equal(s_stop_xmppd(&s_b), 0);
    assert_int_equal(s_start_xmppd(&s_a), 0);
    assert_int_equal(s_start_xmppd(&s_b), 0);
}

/* ------------------------------------------------------------------ */
/* Raw peer                                                            */

static int
s_raw_connect(const s_side_t *to)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in src = {.sin_family = AF_INET};
    inet_pton(AF_INET, s_raw_ip, &src.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&src, sizeof src), 0);
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)to->port)};
    inet_pton(AF_INET, to->ip, &dst.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&dst, sizeof dst), 0);
    return fd;
}

static void
s_raw_send(int fd, const char *s)
{
    size_t len = strlen(s);
    assert_int_equal(send(fd, s, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Reads until want appears (returns 1), the peer closes (0) or ms pass
 * (-1). Everything read is appended to buf. */
static int
s_raw_until(int fd, const char *want, char *buf, size_t cap, size_t *len, int ms, int *closed)
{
    int64_t end = xgw_gwp_now_ms() + ms;
    while (true) {
        buf[*len] = '\0';
        if (want && strstr(buf, want))
            return 1;
        int64_t left = end - xgw_gwp_now_ms();
        if (left <= 0)
            return -1;
        s_tick_workers();
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, left > 100 ? 100 : (int)left) <= 0)
            continue;
        ssize_t n = recv(fd, buf + *len, cap - 1 - *len, 0);
        if (n <= 0) {
            if (closed)
                *closed = 1;
            buf[*len] = '\0';
            return want && strstr(buf, want) ? 1 : 0;
        }
        *len += (size_t)n;
    }
}

/* Opens a stream from raw.test-like peer claiming from to side s; returns
 * the fd with the response header and features read into buf; the stream
 * id is copied into id. */
static int
s_raw_open(const s_side_t *s, const char *from, const char *to, char *buf, size_t cap, size_t *len,
           char *id, size_t idlen)
{
    int fd = s_raw_connect(s);
    char hdr[512];
    snprintf(hdr, sizeof hdr,
             "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
             "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' "
             "from='%s' to='%s' version='1.0'>",
             from, to);
    s_raw_send(fd, hdr);
    *len = 0;
    (void)s_raw_until(fd, "</stream:features>", buf, cap, len, 5000, NULL);
    if (id) {
        id[0] = '\0';
        const char *p = strstr(buf, " id=");
        if (p) {
            char q = p[4];
            const char *start = p + 5, *stop = strchr(start, q);
            if (stop && (size_t)(stop - start) < idlen) {
                memcpy(id, start, (size_t)(stop - start));
                id[stop - start] = '\0';
            }
        }
    }
    return fd;
}

/* ------------------------------------------------------------------ */
/* Cases                                                               */

static void
test_dialback_plain(void **state)
{
    (void)state;
    s_cross("auth=dialback");
    /* No TLS was offered or used: the partners say not-supported. */
    assert_int_equal(xt_count_lines(s_a.xmppd_log, "event=tls_established"), 0);
    assert_int_equal(xt_count_lines(s_b.xmppd_log, "event=tls_established"), 0);
    /* Dialback went through the authoritative servers for real. */
    assert_true(xt_count_lines(s_a.xmppd_log, "event=dialback_verify_answered") >= 1);
    assert_true(xt_count_lines(s_b.xmppd_log, "event=dialback_verify_answered") >= 1);
    assert_true(xt_count_lines(s_b.xmppd_log, "result=valid") >= 1);
}

static void
test_not_a_partner(void **state)
{
    (void)state;
    s_answer_t ans;
    s_send_message(&s_a, "romeo@a.test", "x@c.test", "hi", &ans);
    assert_int_equal(ans.status, 403);
    assert_string_equal(ans.condition, "forbidden");
}

static void
test_partner_down(void **state)
{
    (void)state;
    s_answer_t ans;
    s_send_message(&s_a, "romeo@a.test", "x@down.test", "hi", &ans);
    assert_int_equal(ans.status, 504);
    assert_string_equal(ans.condition, "remote-server-timeout");
}

static void
test_forged_dialback_key(void **state)
{
    (void)state;
    /* A raw peer claims to be a.test towards B with a key it made up. B
     * asks a.test's authoritative server (A's xmppd, over B's own
     * outbound stream), A says invalid, B answers invalid and closes. */
    char buf[8192], id[128];
    size_t len = 0;
    int fd = s_raw_open(&s_b, "a.test", "b.test", buf, sizeof buf, &len, id, sizeof id);
    assert_non_null(strstr(buf, "urn:xmpp:features:dialback"));
    assert_true(strlen(id) >= 32);
    s_raw_send(fd, "<db:result from='a.test' to='b.test'>"
                   "0000000000000000000000000000000000000000000000000000000000000000</db:result>");
    len = 0;
    int closed = 0;
    assert_int_equal(s_raw_until(fd, "invalid", buf, sizeof buf, &len, 15000, &closed), 1);
    assert_true(strstr(buf, "type=\"invalid\"") || strstr(buf, "type='invalid'"));
    assert_non_null(strstr(buf, "<db:result"));
    /* And a stanza now is refused: nothing was authenticated. */
    (void)s_raw_until(fd, "</stream:stream>", buf, sizeof buf, &len, 5000, &closed);
    assert_non_null(strstr(buf, "</stream:stream>"));
    close(fd);
    assert_true(xt_count_lines(s_a.xmppd_log, "result=invalid") >= 1);
}

static void
test_stanza_before_auth(void **state)
{
    (void)state;
    char buf[8192];
    size_t len = 0;
    int fd = s_raw_open(&s_b, "a.test", "b.test", buf, sizeof buf, &len, NULL, 0);
    s_raw_send(fd, "<message from='romeo@a.test' to='juliet@b.test'><body>x</body></message>");
    len = 0;
    int closed = 0;
    assert_int_equal(s_raw_until(fd, "</stream:stream>", buf, sizeof buf, &len, 5000, &closed), 1);
    assert_non_null(strstr(buf, "<not-authorized"));
    close(fd);
    s_got_t got;
    assert_int_equal(s_recv_sip(&s_b, 500, &got), -1); /* nothing reached the SIP side */
}

static void
test_host_unknown(void **state)
{
    (void)state;
    char buf[8192];
    size_t len = 0;
    int fd = s_raw_open(&s_b, "a.test", "nothere.test", buf, sizeof buf, &len, NULL, 0);
    int closed = 0;
    (void)s_raw_until(fd, "</stream:stream>", buf, sizeof buf, &len, 5000, &closed);
    /* S2S-03: a header, then host-unknown, then the close. */
    const char *h = strstr(buf, "<stream:stream");
    const char *e = strstr(buf, "<host-unknown");
    const char *c = strstr(buf, "</stream:stream>");
    assert_non_null(h);
    assert_non_null(e);
    assert_non_null(c);
    assert_true(h < e && e < c);
    close(fd);
}

static void
test_unsolicited_result(void **state)
{
    (void)state;
    char buf[8192];
    size_t len = 0;
    int fd = s_raw_open(&s_b, "a.test", "b.test", buf, sizeof buf, &len, NULL, 0);
    s_raw_send(fd, "<db:result type='valid' from='a.test' to='b.test'/>"
                   "<message from='romeo@a.test' to='juliet@b.test'><body>x</body></message>");
    len = 0;
    int closed = 0;
    assert_int_equal(s_raw_until(fd, "</stream:stream>", buf, sizeof buf, &len, 5000, &closed), 1);
    assert_non_null(strstr(buf, "<not-authorized"));
    close(fd);
    s_got_t got;
    assert_int_equal(s_recv_sip(&s_b, 500, &got), -1);
}

static void
test_unknown_peer_domain(void **state)
{
    (void)state;
    char buf[8192];
    size_t len = 0;
    int fd = s_raw_open(&s_b, "evil.test", "b.test", buf, sizeof buf, &len, NULL, 0);
    int closed = 0;
    (void)s_raw_until(fd, "</stream:stream>", buf, sizeof buf, &len, 5000, &closed);
    assert_non_null(strstr(buf, "<policy-violation"));
    assert_null(strstr(buf, "<stream:features>"));
    close(fd);
}

/* The value of one sample of xmppd's /metrics ("name{labels}"), -1 when
 * absent. */
static double
s_metric(const s_side_t *s, const char *series)
{
    char cmd[256], *out = NULL;
    snprintf(cmd, sizeof cmd, "curl -s --max-time 5 http://127.0.0.1:%d/metrics", s->metrics_port);
    (void)xc_sh(cmd, &out);
    double v = -1;
    const char *p = out ? strstr(out, series) : NULL;
    if (p && p[strlen(series)] == ' ')
        v = strtod(p + strlen(series) + 1, NULL);
    free(out);
    return v;
}

static void
test_metrics(void **state)
{
    (void)state;
    assert_true(s_metric(&s_a, "xgw_xmpp_streams_authenticated_total{direction=\"out\",auth="
                               "\"dialback\"}") >= 1);
    assert_true(s_metric(&s_b, "xgw_xmpp_streams_authenticated_total{direction=\"in\",auth="
                               "\"dialback\"}") >= 1);
    assert_true(s_metric(&s_b, "xgw_xmpp_stanzas_total{direction=\"in\",kind=\"message\"}") >= 1);
    assert_true(s_metric(&s_a, "xgw_xmpp_stanzas_total{direction=\"out\",kind=\"message\"}") >= 1);
    assert_true(s_metric(&s_b, "xgw_xmpp_stream_errors_total{side=\"sent\",condition=\"host-"
                               "unknown\"}") >= 1);
    assert_true(s_metric(&s_a, "xgw_xmpp_dialback_total{role=\"authoritative\",result=\"invalid"
                               "\"}") >= 1);
    assert_true(s_metric(&s_a, "xgw_xmpp_bytes_total{direction=\"in\"}") > 0);
    assert_true(s_metric(&s_a, "xgw_xmpp_streams{direction=\"out\",auth=\"dialback\"}") >= 1);
}

static void
test_order_and_burst(void **state)
{
    (void)state;
    /* 30 messages sent without waiting arrive in order (one route, one
     * stream; the receiving side keeps one per conversation in flight). */
    enum { N = 30 };
    for (int i = 0; i < N; i++) {
        char body[32];
        snprintf(body, sizeof body, "m%02d", i);
        Xgw__V1__ImMessage m = XGW__V1__IM_MESSAGE__INIT;
        m.from = "romeo@a.test/orchard";
        m.to = "juliet@b.test";
        m.body = body;
        Xgw__V1__Deliver d = XGW__V1__DELIVER__INIT;
        d.kind_case = XGW__V1__DELIVER__KIND_MESSAGE;
        d.message = &m;
        Xgw__V1__Request r = XGW__V1__REQUEST__INIT;
        r.schema = 1;
        r.payload_case = XGW__V1__REQUEST__PAYLOAD_DELIVER;
        r.deliver = &d;
        uint8_t buf[1024];
        size_t len = xgw__v1__request__get_packed_size(&r);
        xgw__v1__request__pack(&r, buf);
        assert_int_equal(xgw_client_send(s_a.client, "xmpp", "b.test", xgw_gwp_now_ms() + 30000,
                                         buf, len, NULL, NULL),
                         0);
    }
    int ok = 0;
    for (int i = 0; i < N; i++) {
        xgw_reply_t *rep = NULL;
        assert_int_equal(xgw_client_wait(s_a.client, 30000, &rep), 0);
        ok += rep->status == 200;
        xgw_reply_destroy(&rep);
    }
    assert_int_equal(ok, N);
    for (int i = 0; i < N; i++) {
        s_got_t got;
        char want[32];
        snprintf(want, sizeof want, "m%02d", i);
        assert_int_equal(s_recv_sip(&s_b, 10000, &got), 0);
        assert_string_equal(got.body, want);
    }
}

static void
test_policy_denied_inbound(void **state)
{
    (void)state;
    /* B's users may not use XMPP: the stanza from A never reaches B's SIP
     * side, B audits the denial, and A hears the silent answer. */
    int bounced = xt_count_lines(s_a.xmppd_log, "reason=error-stanza");
    assert_int_equal(s_ctl(&s_b, "policy", "set", "global", "--xmpp", "off", NULL), 0);
    char audit[400];
    snprintf(audit, sizeof audit, "%s/audit.log", s_b.env.data);
    int before = xt_count_lines(audit, "policy_xmpp_off");
    int64_t end = xgw_gwp_now_ms() + 10000;
    s_answer_t ans;
    s_got_t got;
    /* The rule change reaches B's replica within a second or so. */
    while (xt_count_lines(audit, "policy_xmpp_off") == before && xgw_gwp_now_ms() < end) {
        s_send_message(&s_a, "romeo@a.test", "juliet@b.test", "denied?", &ans);
        assert_int_equal(ans.status, 200); /* A delivered it to B's stream */
        if (s_recv_sip(&s_b, 300, &got) == 0)
            continue; /* still allowed by the old rules */
    }
    assert_true(xt_count_lines(audit, "policy_xmpp_off") > before);
    assert_int_equal(s_recv_sip(&s_b, 500, &got), -1);
    /* The error came back to A on B's own outbound stream (A ignores
     * errors: nothing to bounce to). */
    assert_int_equal(xt_wait_lines(s_a.xmppd_log, "reason=error-stanza", bounced + 1, 5000), 0);
    assert_int_equal(s_ctl(&s_b, "policy", "set", "global", "--xmpp", "on", NULL), 0);
    /* And back: the next stanza goes through again. */
    end = xgw_gwp_now_ms() + 10000;
    int through = 0;
    while (!through && xgw_gwp_now_ms() < end) {
        s_send_message(&s_a, "romeo@a.test", "juliet@b.test", "allowed again", &ans);
        through = s_recv_sip(&s_b, 500, &got) == 0;
    }
    assert_true(through);
}

static void
test_idle_connection_closed(void **state)
{
    (void)state;
    /* ROB-07/S2S-18: a TCP connection that never opens a stream is closed
     * at the stream establishment timeout. */
    assert_int_equal(s_ctl(&s_b, "gateway", "set", "--stream-establishment-timeout", "5", NULL), 0);
    usleep(1500 * 1000); /* the change reaches B's replica */
    int fd = s_raw_connect(&s_b);
    char buf[4096];
    size_t len = 0;
    int closed = 0;
    int64_t t0 = xgw_gwp_now_ms();
    (void)s_raw_until(fd, NULL, buf, sizeof buf, &len, 12000, &closed);
    int64_t took = xgw_gwp_now_ms() - t0;
    assert_true(closed);
    assert_true(took >= 4000 && took < 12000);
    assert_non_null(strstr(buf, "<connection-timeout"));
    close(fd);
    assert_int_equal(s_ctl(&s_b, "gateway", "set", "--stream-establishment-timeout", "60", NULL),
                     0);
}

static void
test_direct_tls_listener(void **state)
{
    (void)state;
    /* XEP-0368: TLS from the first byte, ALPN xmpp-server, and then the
     * stream: no STARTTLS offered (TLS is on), dialback offered. */
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd,
             "(printf \"%%s\" \"<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
             "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' "
             "from='a.test' to='b.test' version='1.0'>\"; sleep 2) | timeout 10 openssl s_client "
             "-connect %s:%d -servername b.test -alpn xmpp-server 2>&1",
             s_b.ip, s_b.tls_port);
    (void)xc_sh(cmd, &out);
    assert_non_null(out);
    assert_non_null(strstr(out, "ALPN protocol: xmpp-server"));
    assert_non_null(strstr(out, "urn:xmpp:features:dialback"));
    assert_null(strstr(out, "<starttls"));
    free(out);
    /* TLS 1.1 is refused (S2S-07). */
    snprintf(cmd, sizeof cmd,
             "echo | timeout 10 openssl s_client -connect %s:%d -servername b.test -tls1_1 "
             "-cipher DEFAULT@SECLEVEL=0 2>&1",
             s_b.ip, s_b.tls_port);
    out = NULL;
    (void)xc_sh(cmd, &out);
    assert_non_null(out);
    assert_null(strstr(out, "urn:xmpp:features"));
    free(out);
}

static void
test_direct_tls_outbound(void **state)
{
    (void)state;
    /* Without its static route A finds b.test by SRV: only an xmpps record
     * (direct TLS, XEP-0368). A dials TLS at once with SNI b.test and ALPN
     * xmpp-server; B accepts on its direct TLS listener. */
    char route[64];
    snprintf(route, sizeof route, "%s:%d", s_b.ip, s_b.port);
    assert_int_equal(
        s_ctl(&s_a, "partner", "set", "b.test", "--proxy-fqdn", "none", "--tls", "optional", NULL),
        0);
    s_restart_both();
    int b_direct = xt_count_lines(s_b.xmppd_log, "listener=direct_tls");
    s_answer_t ans;
    s_got_t got;
    s_send_message(&s_a, "romeo@a.test", "juliet@b.test", "over xmpps", &ans);
    assert_int_equal(ans.status, 200);
    assert_int_equal(s_recv_sip(&s_b, 10000, &got), 0);
    assert_string_equal(got.body, "over xmpps");
    assert_true(xt_count_lines(s_a.xmppd_log, "remote=b.test peer=127.0.0.184") >= 1);
    assert_true(xt_count_lines(s_a.xmppd_log, "direct_tls=1") >= 1);
    assert_true(xt_count_lines(s_b.xmppd_log, "listener=direct_tls") > b_direct);
    /* A partner set to tls not-supported never dials an xmpps target. */
    assert_int_equal(s_ctl(&s_a, "partner", "set", "b.test", "--tls", "not-supported", NULL), 0);
    s_restart_both();
    s_send_message(&s_a, "romeo@a.test", "juliet@b.test", "not over xmpps", &ans);
    assert_int_equal(ans.status, 504);
    assert_true(xt_count_lines(s_a.xmppd_log, "event=outbound_candidate_skipped") >= 1);
    assert_int_equal(s_ctl(&s_a, "partner", "set", "b.test", "--proxy-fqdn", route, NULL), 0);
}

static void
test_authoritative_closes(void **state)
{
    (void)state;
    /* S2S-13: the raw peer claims raw.test towards B; B asks raw.test's
     * authoritative server, which is the raw peer's listener: it reads
     * B's <db:verify/> and hangs up without an answer. B must answer the
     * initiator type='error' and take none of its stanzas. */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(lfd >= 0);
    int one = 1;
    (void)setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in la = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s_raw_port)};
    inet_pton(AF_INET, s_raw_ip, &la.sin_addr);
    assert_int_equal(bind(lfd, (struct sockaddr *)&la, sizeof la), 0);
    assert_int_equal(listen(lfd, 4), 0);

    char buf[8192], abuf[8192];
    size_t len = 0, alen = 0;
    int fd = s_raw_open(&s_b, "raw.test", "b.test", buf, sizeof buf, &len, NULL, 0);
    s_raw_send(fd, "<db:result from='raw.test' to='b.test'>"
                   "1111111111111111111111111111111111111111111111111111111111111111</db:result>");
    struct pollfd p = {lfd, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 10000), 1);
    int afd = accept(lfd, NULL, NULL);
    assert_true(afd >= 0);
    /* Play the authoritative server up to the question, then vanish. */
    assert_int_equal(s_raw_until(afd, ">", abuf, sizeof abuf, &alen, 5000, NULL), 1);
    s_raw_send(afd, "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                    "xmlns:stream='http://etherx.jabber.org/streams' "
                    "xmlns:db='jabber:server:dialback' from='raw.test' to='b.test' "
                    "id='authid0001' version='1.0'><stream:features><dialback "
                    "xmlns='urn:xmpp:features:dialback'/></stream:features>");
    assert_int_equal(s_raw_until(afd, "<db:verify", abuf, sizeof abuf, &alen, 10000, NULL), 1);
    close(afd);
    close(lfd);
    len = 0;
    assert_int_equal(s_raw_until(fd, "error", buf, sizeof buf, &len, 10000, NULL), 1);
    assert_non_null(strstr(buf, "<db:result"));
    assert_true(strstr(buf, "type=\"error\"") || strstr(buf, "type='error'"));
    assert_non_null(strstr(buf, "remote-connection-failed"));
    /* Its stanzas are still refused. */
    s_raw_send(fd, "<message from='x@raw.test' to='juliet@b.test'><body>x</body></message>");
    int closed = 0;
    (void)s_raw_until(fd, "</stream:stream>", buf, sizeof buf, &len, 5000, &closed);
    assert_non_null(strstr(buf, "<not-authorized"));
    close(fd);
    s_got_t got;
    assert_int_equal(s_recv_sip(&s_b, 500, &got), -1);
}

static void
test_starttls_dialback(void **state)
{
    (void)state;
    /* Tightening takes effect on live streams: A's plaintext streams with
     * b.test end as soon as A's replica has the change. A stream to b.test
     * exists first (the previous case went through the SRV route). */
    s_answer_t ans;
    s_got_t got;
    s_send_message(&s_a, "romeo@a.test", "juliet@b.test", "before tightening", &ans);
    assert_int_equal(ans.status, 200);
    assert_int_equal(s_recv_sip(&s_b, 10000, &got), 0);
    int policy_closed = xt_count_lines(s_a.xmppd_log, "reason=tls-required");
    assert_int_equal(s_ctl(&s_a, "partner", "set", "b.test", "--tls", "required", NULL), 0);
    assert_int_equal(xt_wait_lines(s_a.xmppd_log, "reason=tls-required", policy_closed + 1, 5000),
                     0);
    assert_int_equal(s_ctl(&s_b, "partner", "set", "a.test", "--tls", "required", NULL), 0);
    s_restart_both();
    int a_tls = xt_count_lines(s_a.xmppd_log, "event=tls_established");
    s_cross("auth=dialback");
    /* Every stream went through TLS first: two per side at least (in, out). */
    assert_true(xt_count_lines(s_a.xmppd_log, "event=tls_established") >= a_tls + 2);
    /* Required TLS: a raw peer that tries dialback in the clear is refused. */
    char buf[8192];
    size_t len = 0;
    int fd = s_raw_open(&s_b, "a.test", "b.test", buf, sizeof buf, &len, NULL, 0);
    assert_non_null(strstr(buf, "<required/>"));
    assert_null(strstr(buf, "urn:xmpp:features:dialback"));
    s_raw_send(fd, "<db:result from='a.test' to='b.test'>abcd</db:result>");
    len = 0;
    int closed = 0;
    (void)s_raw_until(fd, "</stream:stream>", buf, sizeof buf, &len, 5000, &closed);
    assert_non_null(strstr(buf, "<policy-violation"));
    close(fd);
}

/* The id in xgwctl's "imported certificate ID" line. */
static void
s_imported_id(const char *out, char id[9])
{
    static const char tag[] = "imported certificate ";
    const char *hit = strstr(out, tag);
    size_t at = hit ? (size_t)(hit - out) + sizeof tag - 1 : 0;
    for (size_t i = 0; hit && i < 8 && out[at + i]; i++) {
        id[i] = out[at + i];
        id[i + 1] = '\0';
    }
}

static void
s_import_ca_cert(s_side_t *s, const xt_cert_t *ca, const char *capath)
{
    int64_t now = (int64_t)time(NULL);
    char san[64];
    snprintf(san, sizeof san, "DNS:%s", s->domain);
    xt_cert_spec_t ls = {.cn = s->domain,
                         .san = san,
                         .eku = "serverAuth",
                         .not_before = now - 86400,
                         .not_after = now + 90 * 86400};
    xt_cert_t leaf;
    assert_int_equal(xt_cert_make(&ls, ca, &leaf), 0);
    char certp[400], keyp[400], args[1200];
    snprintf(certp, sizeof certp, "%s/leaf.pem", s->env.dir);
    snprintf(keyp, sizeof keyp, "%s/leaf.key", s->env.dir);
    assert_int_equal(xt_cert_write(&leaf, certp, keyp, NULL), 0);
    xt_cert_free(&leaf);
    snprintf(args, sizeof args, "cert import --cert '%s' --key '%s'", certp, keyp);
    char out[4096];
    s_ctl_out(s, args, out, sizeof out);
    char id[9] = "";
    s_imported_id(out, id);
    assert_int_equal(strlen(id), 8);
    assert_int_equal(s_ctl(s, "cert", "assign", id, "--usage", "xmpp", "--domain", s->domain, NULL),
                     0);
    assert_int_equal(s_ctl(s, "cert", "trust", "add", capath, NULL), 0);
}

static void
test_starttls_sasl_external(void **state)
{
    (void)state;
    int64_t now = (int64_t)time(NULL);
    xt_cert_spec_t cs = {.cn = "Federation Test CA",
                         .ca = 1,
                         .not_before = now - 86400,
                         .not_after = now + 3650L * 86400};
    xt_cert_t ca;
    assert_int_equal(xt_cert_make(&cs, NULL, &ca), 0);
    char capath[300];
    snprintf(capath, sizeof capath, "%s/ca.pem", s_top);
    assert_int_equal(xt_cert_write(&ca, capath, NULL, NULL), 0);
    s_import_ca_cert(&s_a, &ca, capath);
    s_import_ca_cert(&s_b, &ca, capath);
    xt_cert_free(&ca);
    assert_int_equal(s_ctl(&s_a, "partner", "set", "b.test", "--tls", "required", "--sasl",
                           "required", "--dialback", "off", NULL),
                     0);
    assert_int_equal(s_ctl(&s_b, "partner", "set", "a.test", "--tls", "required", "--sasl",
                           "required", "--dialback", "off", NULL),
                     0);
    s_restart_both();
    s_cross("auth=sasl");
    /* PKIX only: a raw peer without a certificate gets no dialback after
     * STARTTLS... and before TLS, nothing but STARTTLS. */
    char buf[8192];
    size_t len = 0;
    int fd = s_raw_open(&s_b, "a.test", "b.test", buf, sizeof buf, &len, NULL, 0);
    assert_non_null(strstr(buf, "<required/>"));
    assert_null(strstr(buf, "urn:xmpp:features:dialback"));
    close(fd);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dialback_plain),         cmocka_unit_test(test_not_a_partner),
        cmocka_unit_test(test_partner_down),           cmocka_unit_test(test_forged_dialback_key),
        cmocka_unit_test(test_stanza_before_auth),     cmocka_unit_test(test_host_unknown),
        cmocka_unit_test(test_unsolicited_result),     cmocka_unit_test(test_unknown_peer_domain),
        cmocka_unit_test(test_authoritative_closes),   cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_order_and_burst),        cmocka_unit_test(test_policy_denied_inbound),
        cmocka_unit_test(test_idle_connection_closed), cmocka_unit_test(test_direct_tls_listener),
        cmocka_unit_test(test_direct_tls_outbound),    cmocka_unit_test(test_starttls_dialback),
        cmocka_unit_test(test_starttls_sasl_external),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
