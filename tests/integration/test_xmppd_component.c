/*
 * test_xmppd_component.c - xgw-xmppd in component mode (xmppd.mode =
 * component) against a component listener played by this test, so that
 * the server's side can misbehave on purpose: refuse the handshake, flood,
 * stop reading. (Interop with a real Prosody: tests/system/
 * test_xmpp_component.sh.)
 *
 * One group (broker, policyd, xmppd; no certd: the XMPP server federates)
 * serves gw.test; xmppd connects to 127.0.0.193 as component gw.test.
 * Cases, in order, on the same processes:
 *  1. a wrong secret: the test answers the handshake with
 *     <not-authorized/>; xmppd logs event=component_handshake_refused,
 *     counts xgw_xmpp_component_failures_total{reason="refused"} and
 *     retries; once the secret file is fixed the next attempt is accepted
 *     (no restart);
 *  2. both ways: a message from juliet@peer.test reaches the "sip" worker
 *     as a Deliver; a Deliver to "xmpp" is answered 200 and arrives as a
 *     <message/> in jabber:component:accept from romeo@gw.test; an iq ping
 *     to gw.test gets its result; a stanza to a domain that is not served
 *     and one without 'from' are dropped while the link stays up;
 *  3. a flood over many conversations while the SIP side answers slowly:
 *     every stanza arrives once and in order, nothing is bounced, the link
 *     was paused and never held more than 64 stanzas, the test's sends
 *     blocked (TCP push-back);
 *  4. the server stops reading: Deliver requests are answered 503
 *     resource-constraint once xmppd's buffer for the link is full, and the
 *     ones answered 200 all arrive when the server reads again;
 *  5. the server goes away: Deliver requests get 503, and the link comes
 *     back when the server is there again.
 * xmppd must exit 0 on SIGTERM with a clean log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support_certd.h"
#include "support_proc.h"

#include "xgw_client.h"
#include "xgw_error.h"
#include "xgw_gwp.h"
#include "xgw_worker.h"
#include "xgw_xml.h"
#include "xgw/v1/gwp.pb-c.h"
#include "xgw/v1/im.pb-c.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#define S_SERVER_IP "127.0.0.193"
#define S_METRICS_IP "127.0.0.194"
#define S_GW "gw.test"
#define S_PEER "peer.test"
#define S_SECRET "the-right-component-secret"
#define S_NS_COMPONENT "jabber:component:accept"

#define S_CONVS 300   /* flood: conversations */
#define S_PER_CONV 20 /* flood: stanzas per conversation */
#define S_FLOOD (S_CONVS * S_PER_CONV)
#define S_SIP_RATE 4000
#define S_HELD_MAX 64 /* XMPPD_HELD_MAX */

static char s_top[128];
static char s_conf[200];
static char s_secret_file[200];
static char s_broker_log[200];
static char s_policyd_log[200];
static char s_xmppd_log[200];
static pid_t s_xmppd;
static int s_metrics_port;
static int s_port; /* the component listener's */
static int s_listen_fd = -1;
static int s_failed;
static xgw_worker_t *s_sip;
static xgw_client_t *s_client;

/* The server side of the link. */
typedef struct {
    int fd;
    xgw_xml_stream_t *xml;
    char id[40];
    bool header_seen;
    bool handshake_ok;
    bool handshake_seen;
    bool closed;
    char *out;
    size_t out_len, out_off, out_cap;
    bool reading; /* false: the test does not read (case 4) */
    /* What arrived from xmppd after the handshake. */
    int messages;
    int errors;
    int iq_results;
    int bad_ns;
    char last_from[128];
    char last_body[128];
    uint64_t blocked;
} s_srv_t;

static s_srv_t s_srv;

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

static int
s_ctl(const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' -c '%s' %s", xt_bin("xgwctl"), s_conf, args);
    char *out = NULL;
    int rc = xc_sh(cmd, &out);
    if (rc != 0)
        fprintf(stderr, "xgwctl failed (%d): %s\n%s\n", rc, cmd, out ? out : "");
    free(out);
    return rc;
}

static double
s_metric(const char *name)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s_metrics_port)};
    inet_pton(AF_INET, S_METRICS_IP, &a.sin_addr);
    struct timeval tv = {.tv_sec = 3};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    const char *req = "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n";
    if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0) {
        close(fd);
        return -1;
    }
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return -1;
    }
    for (;;) {
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len + 1 >= cap)
            break;
    }
    close(fd);
    buf[len] = '\0';
    double sum = 0;
    size_t nl = strlen(name);
    for (char *line = buf; line && *line;) {
        char *end = strchr(line, '\n');
        if (end)
            *end = '\0';
        if (strncmp(line, name, nl) == 0 &&
            (strchr(name, '{') || line[nl] == ' ' || line[nl] == '{')) {
            const char *sp = strrchr(line, ' ');
            if (sp)
                sum += strtod(sp + 1, NULL);
        }
        line = end ? end + 1 : NULL;
    }
    free(buf);
    return sum;
}

static void
s_write_secret(const char *secret)
{
    char tmp[220];
    snprintf(tmp, sizeof tmp, "%s.tmp", s_secret_file);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", secret);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, s_secret_file), 0);
}

/* ------------------------------------------------------------------ */
/* The component listener                                              */

static void
s_srv_queue(const char *data, size_t len)
{
    s_srv_t *v = &s_srv;
    if (v->out_off > 0 && v->out_off == v->out_len)
        v->out_off = v->out_len = 0;
    if (v->out_len + len > v->out_cap) {
        size_t cap = v->out_cap ? v->out_cap : 8192;
        while (cap < v->out_len + len)
            cap *= 2;
        char *p = realloc(v->out, cap);
        assert_non_null(p);
        v->out = p;
        v->out_cap = cap;
    }
    memcpy(v->out + v->out_len, data, len);
    v->out_len += len;
}

static void
s_srv_queue_str(const char *s)
{
    s_srv_queue(s, strlen(s));
}

static void
s_srv_flush(void)
{
    s_srv_t *v = &s_srv;
    while (v->fd >= 0 && v->out_off < v->out_len) {
        ssize_t n = send(v->fd, v->out + v->out_off, v->out_len - v->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                v->blocked++;
            return;
        }
        v->out_off += (size_t)n;
    }
}

static void
s_digest(const char *id, const char *secret, char out[41])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_non_null(md);
    assert_int_equal(EVP_DigestInit_ex(md, EVP_sha1(), NULL), 1);
    assert_int_equal(EVP_DigestUpdate(md, id, strlen(id)), 1);
    assert_int_equal(EVP_DigestUpdate(md, secret, strlen(secret)), 1);
    assert_int_equal(EVP_DigestFinal_ex(md, d, &n), 1);
    EVP_MD_CTX_free(md);
    for (unsigned int i = 0; i < n && i < 20; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void
s_srv_open(void *ud, const xgw_xml_node_t *h)
{
    s_srv_t *v = ud;
    v->header_seen = true;
    const char *to = xgw_xml_attr(h, "to");
    bool ns_ok = false;
    for (size_t i = 0; i < h->n_decls; i++) {
        if (h->decl_prefixes[i][0] == '\0' && strcmp(h->decl_uris[i], S_NS_COMPONENT) == 0)
            ns_ok = true;
    }
    if (!ns_ok || !to || strcmp(to, S_GW) != 0)
        v->bad_ns++;
    static unsigned counter;
    snprintf(v->id, sizeof v->id, "srvid%u-%d", ++counter, (int)getpid());
    char hdr[512];
    snprintf(hdr, sizeof hdr,
             "<?xml version='1.0'?><stream:stream xmlns='" S_NS_COMPONENT "' "
             "xmlns:stream='http://etherx.jabber.org/streams' from='" S_GW "' id='%s'>",
             v->id);
    s_srv_queue_str(hdr);
}

static void
s_srv_stanza(void *ud, const xgw_xml_node_t *el)
{
    s_srv_t *v = ud;
    if (strcmp(el->name, "handshake") == 0) {
        v->handshake_seen = true;
        char want[41] = "";
        s_digest(v->id, S_SECRET, want);
        if (el->text && strcmp(el->text, want) == 0) {
            v->handshake_ok = true;
            s_srv_queue_str("<handshake/>");
        } else {
            s_srv_queue_str("<stream:error><not-authorized "
                            "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
                            "</stream:stream>");
            v->closed = true;
        }
        return;
    }
    if (strcmp(el->ns, S_NS_COMPONENT) != 0)
        v->bad_ns++;
    const char *type = xgw_xml_attr(el, "type");
    if (type && strcmp(type, "error") == 0) {
        v->errors++;
        return;
    }
    if (strcmp(el->name, "iq") == 0 && type && strcmp(type, "result") == 0) {
        v->iq_results++;
        return;
    }
    if (strcmp(el->name, "message") == 0) {
        v->messages++;
        const char *from = xgw_xml_attr(el, "from");
        snprintf(v->last_from, sizeof v->last_from, "%s", from ? from : "");
        const char *body = xgw_xml_child_text(el, NULL, "body");
        snprintf(v->last_body, sizeof v->last_body, "%.*s", 100, body ? body : "");
    }
}

static void
s_srv_close(void *ud)
{
    s_srv_t *v = ud;
    v->closed = true;
}

static const xgw_xml_stream_cbs_t s_srv_cbs = {s_srv_open, s_srv_stanza, s_srv_close};

static void
s_srv_drop(void)
{
    s_srv_t *v = &s_srv;
    if (v->fd >= 0)
        close(v->fd);
    v->fd = -1;
    xgw_xml_stream_destroy(&v->xml);
    free(v->out);
    int keep_reading = v->reading;
    memset(v, 0, sizeof *v);
    v->fd = -1;
    v->reading = keep_reading;
}

static void
s_srv_read(void)
{
    s_srv_t *v = &s_srv;
    char buf[16384];
    for (int i = 0; i < 64 && v->fd >= 0; i++) {
        ssize_t n = recv(v->fd, buf, sizeof buf, 0);
        if (n == 0) {
            v->closed = true;
            return;
        }
        if (n < 0)
            return;
        if (xgw_xml_stream_feed(v->xml, buf, (size_t)n) < 0) {
            fprintf(stderr, "bad XML from xmppd: %s\n", xgw_xml_stream_error_detail(v->xml));
            v->closed = true;
            return;
        }
    }
}

/* Takes a new connection from xmppd (the old one, if any, is dropped). */
static void
s_srv_accept(void)
{
    int fd = accept4(s_listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    s_srv_drop();
    s_srv.fd = fd;
    xgw_xml_limits_t lim;
    xgw_xml_limits_default(&lim);
    lim.max_stanza = 1 << 20;
    s_srv.xml = xgw_xml_stream_new(&lim, &s_srv_cbs, &s_srv);
    assert_non_null(s_srv.xml);
}

/* ------------------------------------------------------------------ */
/* The SIP side                                                        */

static int s_sip_got;
static int s_sip_bad;
static int s_sip_out_of_order;
static int s_next[S_CONVS];
static char s_sip_last[256];

static void
s_sip_check(const xgw_request_t *req)
{
    Xgw__V1__Request *in = xgw__v1__request__unpack(NULL, req->body_len, req->body);
    if (!in || in->payload_case != XGW__V1__REQUEST__PAYLOAD_DELIVER ||
        in->deliver->kind_case != XGW__V1__DELIVER__KIND_MESSAGE) {
        s_sip_bad++;
        if (in)
            xgw__v1__request__free_unpacked(in, NULL);
        return;
    }
    const Xgw__V1__ImMessage *m = in->deliver->message;
    snprintf(s_sip_last, sizeof s_sip_last, "%s|%s|%s", m->from, m->to, m->body);
    char *end = NULL;
    if (strncmp(m->body, "flood ", 6) == 0) {
        long c = strtol(m->body + 6, &end, 10);
        long seq = end && *end == ' ' ? strtol(end + 1, NULL, 10) : -1;
        if (c < 0 || c >= S_CONVS || seq < 0)
            s_sip_bad++;
        else if (seq != s_next[c])
            s_sip_out_of_order++;
        else
            s_next[c]++;
    }
    s_sip_got++;
    xgw__v1__request__free_unpacked(in, NULL);
}

typedef struct {
    xgw_request_t *req[256];
    size_t n;
} s_held_t;
static s_held_t s_held;

/* Takes requests (up to the credit) and answers at most budget of them. */
static int
s_sip_serve(int budget)
{
    for (;;) {
        if (s_held.n == sizeof s_held.req / sizeof s_held.req[0])
            break;
        xgw_request_t *req = NULL;
        if (xgw_worker_recv(s_sip, &req) != 0)
            break;
        s_held.req[s_held.n++] = req;
    }
    int done = 0;
    while (done < budget && s_held.n > 0) {
        xgw_request_t *req = s_held.req[0];
        memmove(s_held.req, s_held.req + 1, (s_held.n - 1) * sizeof s_held.req[0]);
        s_held.n--;
        s_sip_check(req);
        (void)xgw_worker_reply(s_sip, &req, 200, NULL, 0);
        done++;
    }
    (void)xgw_worker_tick(s_sip);
    return done;
}

/* ------------------------------------------------------------------ */
/* Loop                                                                */

static int s_answers_200;
static int s_answers_503_full;
static int s_answers_503_down;
static int s_answers_other;

static void
s_client_collect(void)
{
    (void)xgw_client_tick(s_client);
    for (;;) {
        xgw_reply_t *rep = NULL;
        if (xgw_client_recv(s_client, &rep) != 0)
            break;
        char cond[64] = "";
        if (rep->body_len) {
            Xgw__V1__Reply *rb = xgw__v1__reply__unpack(NULL, rep->body_len, rep->body);
            if (rb && rb->payload_case == XGW__V1__REPLY__PAYLOAD_DELIVER_RESULT &&
                rb->deliver_result->condition)
                snprintf(cond, sizeof cond, "%s", rb->deliver_result->condition);
            if (rb)
                xgw__v1__reply__free_unpacked(rb, NULL);
        }
        if (rep->status == 200)
            s_answers_200++;
        else if (rep->status == 503 && strcmp(cond, "resource-constraint") == 0)
            s_answers_503_full++;
        else if (rep->status == 503 && strcmp(cond, "remote-server-timeout") == 0)
            s_answers_503_down++;
        else {
            fprintf(stderr, "unexpected answer %u %s\n", rep->status, cond);
            s_answers_other++;
        }
        xgw_reply_destroy(&rep);
    }
}

/* One round: everything polled for up to ms; the SIP side answers at
 * most budget requests. */
static void
s_round(int ms, int budget)
{
    zmq_pollitem_t items[4];
    int n = 0;
    items[n++] = (zmq_pollitem_t){xgw_worker_socket(s_sip), 0, ZMQ_POLLIN, 0};
    items[n++] = (zmq_pollitem_t){xgw_client_socket(s_client), 0, ZMQ_POLLIN, 0};
    items[n++] = (zmq_pollitem_t){NULL, s_listen_fd, ZMQ_POLLIN, 0};
    if (s_srv.fd >= 0) {
        short ev = s_srv.reading ? ZMQ_POLLIN : 0;
        if (s_srv.out_off < s_srv.out_len)
            ev |= ZMQ_POLLOUT;
        items[n++] = (zmq_pollitem_t){NULL, s_srv.fd, ev, 0};
    }
    (void)zmq_poll(items, n, ms);
    if (items[2].revents & ZMQ_POLLIN)
        s_srv_accept();
    if (s_srv.fd >= 0) {
        if (s_srv.reading)
            s_srv_read();
        s_srv_flush();
        if (s_srv.closed && s_srv.out_off >= s_srv.out_len)
            s_srv_drop();
    }
    (void)s_sip_serve(budget);
    s_client_collect();
}

typedef bool (*s_cond_fn)(void);

static bool
s_until(s_cond_fn done, int ms)
{
    int64_t end = xgw_gwp_now_ms() + ms;
    while (xgw_gwp_now_ms() < end) {
        if (done())
            return true;
        s_round(20, 1000);
    }
    return done();
}

static void
s_deliver(const char *from, const char *to, const char *body)
{
    Xgw__V1__ImMessage m = XGW__V1__IM_MESSAGE__INIT;
    m.from = (char *)from;
    m.to = (char *)to;
    m.body = (char *)body;
    m.id = "d1";
    Xgw__V1__Deliver d = XGW__V1__DELIVER__INIT;
    d.kind_case = XGW__V1__DELIVER__KIND_MESSAGE;
    d.message = &m;
    Xgw__V1__Request r = XGW__V1__REQUEST__INIT;
    r.schema = 1;
    r.payload_case = XGW__V1__REQUEST__PAYLOAD_DELIVER;
    r.deliver = &d;
    size_t len = xgw__v1__request__get_packed_size(&r);
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    xgw__v1__request__pack(&r, buf);
    assert_int_equal(
        xgw_client_send(s_client, "xmpp", S_PEER, xgw_gwp_now_ms() + 30000, buf, len, NULL, NULL),
        0);
    free(buf);
}

/* ------------------------------------------------------------------ */
/* Setup                                                               */

static int
s_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    s_srv.fd = -1;
    s_srv.reading = true;
    snprintf(s_top, sizeof s_top, "%s", xt_tmpdir());
    snprintf(s_conf, sizeof s_conf, "%s/xgw.conf", s_top);
    snprintf(s_secret_file, sizeof s_secret_file, "%s/component.secret", s_top);
    snprintf(s_broker_log, sizeof s_broker_log, "%s/broker.log", s_top);
    snprintf(s_policyd_log, sizeof s_policyd_log, "%s/policyd.log", s_top);
    snprintf(s_xmppd_log, sizeof s_xmppd_log, "%s/xmppd.log", s_top);
    s_metrics_port = 22500 + (int)(getpid() % 1000);

    s_listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    /* A small receive buffer (inherited by the accepted socket), so that
     * a server that does not read pushes back on xmppd soon. */
    int rcvbuf = 16384, sndbuf = 32768, one = 1;
    (void)setsockopt(s_listen_fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    (void)setsockopt(s_listen_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    (void)setsockopt(s_listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, S_SERVER_IP, &a.sin_addr);
    if (s_listen_fd < 0 || bind(s_listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(s_listen_fd, 4) != 0)
        return -1;
    socklen_t al = sizeof a;
    getsockname(s_listen_fd, (struct sockaddr *)&a, &al);
    s_port = ntohs(a.sin_port);

    s_write_secret("a-wrong-secret");
    FILE *f = fopen(s_conf, "w");
    if (!f)
        return -1;
    fprintf(f,
            "[common]\n"
            "broker_frontend = \"ipc://%s/front\"\n"
            "broker_backend = \"ipc://%s/back\"\n"
            "cert_updates = \"ipc://%s/cert-updates\"\n"
            "policy_updates = \"ipc://%s/policy-updates\"\n"
            "policy_snapshot = \"ipc://%s/policy-snapshot\"\n"
            "data_dir = \"%s/data\"\nrun_dir = \"%s\"\n"
            "domains = \"" S_GW "\"\n"
            "heartbeat_interval = 200ms\nretry_interval = 1s\n"
            "request_timeout = 60s\n"
            "metrics_listen = \"" S_METRICS_IP "\"\n"
            "log_level = info\n"
            "[broker]\nmetrics_port = 0\nqueue_max = 100000\n"
            "[policyd]\nmetrics_port = 0\n"
            "[xmppd]\nmetrics_port = %d\nmode = component\n"
            "component_connect = \"" S_SERVER_IP ":%d\"\n"
            "component_secret_file = \"%s\"\n"
            "[xgwctl]\ntimeout = 10s\n",
            s_top, s_top, s_top, s_top, s_top, s_top, s_top, s_metrics_port, s_port, s_secret_file);
    if (fclose(f) != 0)
        return -1;
    /* (xt_bin returns a static buffer: one program at a time) */
    char *bargv[] = {(char *)xt_bin("xgw-broker"), "-c", s_conf, NULL};
    if (xt_spawn(bargv, s_broker_log) < 0)
        return -1;
    char *pargv[] = {(char *)xt_bin("xgw-policyd"), "-c", s_conf, NULL};
    if (xt_spawn(pargv, s_policyd_log) < 0 ||
        xt_wait_lines(s_policyd_log, "event=serving", 1, 20000) != 0)
        return -1;
    if (s_ctl("policy set global --federation on --xmpp on") != 0 ||
        s_ctl("partner add " S_PEER " --type federated --tls not-supported --sasl "
              "not-supported --dialback on") != 0)
        return -1;
    char ep[300];
    snprintf(ep, sizeof ep, "ipc://%s/back", s_top);
    xgw_worker_opts_t wo;
    xgw_worker_opts_default(&wo);
    wo.heartbeat_ms = 200;
    s_sip = xgw_worker_new(ep, "sip", "sipd.comp", 32, &wo);
    snprintf(ep, sizeof ep, "ipc://%s/front", s_top);
    xgw_client_opts_t co;
    xgw_client_opts_default(&co);
    co.heartbeat_ms = 200;
    s_client = xgw_client_new(ep, &co);
    if (!s_sip || !s_client)
        return -1;
    char *xargv[] = {(char *)xt_bin("xgw-xmppd"), "-c", s_conf, NULL};
    s_xmppd = xt_spawn(xargv, s_xmppd_log);
    if (s_xmppd < 0 || xt_wait_lines(s_xmppd_log, "event=ruleset_loaded", 1, 20000) != 0)
        return -1;
    return 0;
}

static int
s_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < s_held.n; i++)
        xgw_request_destroy(&s_held.req[i]);
    s_held.n = 0;
    xgw_worker_destroy(&s_sip);
    xgw_client_destroy(&s_client);
    if (s_xmppd > 0) {
        xt_signal(s_xmppd, SIGTERM);
        int status = xt_wait(s_xmppd, 20000);
        if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "xmppd did not exit 0 on SIGTERM (status %d)\n", status);
            s_failed = 1;
        }
        static const char *const reports[] = {"AddressSanitizer", "LeakSanitizer",
                                              "runtime error:"};
        for (size_t i = 0; i < 3; i++) {
            if (xt_count_lines(s_xmppd_log, reports[i]) > 0) {
                fprintf(stderr, "xmppd log holds a sanitizer report\n");
                s_failed = 1;
            }
        }
    }
    s_srv_drop();
    if (s_listen_fd >= 0)
        close(s_listen_fd);
    xt_cleanup();
    if (!s_failed && !getenv("XGW_KEEP_TMP")) {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_top);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", s_top);
    } else {
        fprintf(stderr, "logs kept in %s\n", s_top);
    }
    return s_failed ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* Cases                                                               */

static bool
s_refused_logged(void)
{
    return xt_count_lines(s_xmppd_log, "event=component_handshake_refused") >= 2;
}

static bool
s_link_up(void)
{
    return s_srv.handshake_ok && xt_count_lines(s_xmppd_log, "event=component_ready") > 0;
}

static void
test_wrong_secret_then_fixed(void **state)
{
    (void)state;
    s_failed = 1; /* until the case passes: keep the logs */
    assert_true(s_until(s_refused_logged, 15000));
    assert_true(xt_count_lines(s_xmppd_log, "condition=not-authorized") >= 2);
    assert_true(s_metric("xgw_xmpp_component_failures_total{reason=\"refused\"") >= 2);
    assert_true(s_metric("xgw_xmpp_component_up") == 0);
    assert_int_equal(xt_count_lines(s_xmppd_log, "a-wrong-secret"), 0);
    assert_int_equal(s_srv.bad_ns, 0);
    /* Fixed on disk: the next attempt uses it. */
    s_write_secret(S_SECRET);
    assert_true(s_until(s_link_up, 20000));
    assert_true(s_metric("xgw_xmpp_component_up") == 1);
    assert_true(s_metric("xgw_xmpp_streams{direction=\"component\"") == 1);
    assert_int_equal(xt_count_lines(s_xmppd_log, S_SECRET), 0);
    s_failed = 0;
}

static bool
s_sip_has_one(void)
{
    return s_sip_got >= 1;
}

static bool
s_srv_has_message(void)
{
    return s_srv.messages >= 1 && s_answers_200 >= 1;
}

static bool
s_srv_has_iq(void)
{
    return s_srv.iq_results >= 1;
}

static void
test_both_ways(void **state)
{
    (void)state;
    s_failed = 1;
    assert_true(s_srv.handshake_ok);
    /* Dropped, the link stays: a 'to' that is not served, no 'from'. */
    s_srv_queue_str("<message from='juliet@" S_PEER "/r' to='x@elsewhere.test' type='chat'>"
                    "<body>not ours</body></message>"
                    "<message to='romeo@" S_GW "' type='chat'><body>anonymous</body></message>");
    s_srv_queue_str("<message from='juliet@" S_PEER "/balcony' to='romeo@" S_GW
                    "' type='chat' id='m1'><body>wherefore</body></message>");
    assert_true(s_until(s_sip_has_one, 10000));
    assert_int_equal(s_sip_got, 1);
    assert_string_equal(s_sip_last, "juliet@" S_PEER "/balcony|romeo@" S_GW "|wherefore");
    assert_true(xt_count_lines(s_xmppd_log, "event=stanza_refused conn=component") >= 2);
    assert_int_equal(xt_count_lines(s_xmppd_log, "event=component_lost"), 0);

    s_deliver("romeo@" S_GW "/desk", "juliet@" S_PEER, "it is the east");
    assert_true(s_until(s_srv_has_message, 10000));
    assert_int_equal(s_answers_200, 1);
    assert_string_equal(s_srv.last_from, "romeo@" S_GW "/desk");
    assert_string_equal(s_srv.last_body, "it is the east");
    assert_int_equal(s_srv.bad_ns, 0);

    s_srv_queue_str("<iq type='get' id='p1' from='juliet@" S_PEER "/r' to='" S_GW "'>"
                    "<ping xmlns='urn:xmpp:ping'/></iq>");
    assert_true(s_until(s_srv_has_iq, 10000));
    assert_int_equal(s_srv.errors, 0);
    s_failed = 0;
}

static int s_flood_seq[S_CONVS];

static void
test_flood_backpressure(void **state)
{
    (void)state;
    s_failed = 1;
    int base = s_sip_got;
    /* Write everything we can; the SIP side answers S_SIP_RATE per second. */
    static char st[4096];
    static char fill[2049];
    memset(fill, 'x', sizeof fill - 1);
    int conv = 0, sent = 0;
    int64_t t0 = xgw_gwp_now_ms(), end = t0 + 60000;
    int answered = 0;
    while (s_sip_got < base + S_FLOOD && xgw_gwp_now_ms() < end && s_sip_out_of_order == 0) {
        while (sent < S_FLOOD && s_srv.out_len - s_srv.out_off < 256 * 1024) {
            int c = conv;
            conv = (conv + 1) % S_CONVS;
            int n = snprintf(st, sizeof st,
                             "<message from='u%d@" S_PEER "/r' to='r%d@" S_GW "' type='chat'>"
                             "<body>flood %d %d %s</body></message>",
                             c, c, c, s_flood_seq[c]++, fill);
            s_srv_queue(st, (size_t)n);
            sent++;
        }
        s_srv_flush();
        /* The SIP side says nothing for the first second: the link must
         * fill its bound and pause, whatever the machine's speed. */
        int64_t now = xgw_gwp_now_ms();
        int allowed = now - t0 < 1000 ? 0 : (int)((now - t0 - 1000) * S_SIP_RATE / 1000) - answered;
        s_round(2, 0);
        if (allowed > 0)
            answered += s_sip_serve(allowed);
    }
    for (int i = 0; i < 25; i++)
        s_round(20, 1000);
    double pauses = s_metric("xgw_xmpp_stream_pauses_total");
    double peak = s_metric("xgw_xmpp_stream_held_peak");
    fprintf(stderr,
            "flood: %d sent, %d delivered (out of order %d, bad %d), %d bounces, sends blocked "
            "%llu times, %.0f pauses, held peak %.0f\n",
            sent, s_sip_got - base, s_sip_out_of_order, s_sip_bad, s_srv.errors,
            (unsigned long long)s_srv.blocked, pauses, peak);
    assert_int_equal(sent, S_FLOOD);
    assert_int_equal(s_sip_out_of_order, 0);
    assert_int_equal(s_sip_bad, 0);
    assert_int_equal(s_sip_got - base, S_FLOOD);
    for (int c = 0; c < S_CONVS; c++)
        assert_int_equal(s_next[c], S_PER_CONV);
    assert_int_equal(s_srv.errors, 0);
    assert_true(pauses > 0);
    assert_true(peak > 0 && peak <= S_HELD_MAX);
    assert_true(s_srv.blocked > 0);
    assert_true(s_metric("xgw_xmpp_inbound_held") == 0);
    assert_true(s_metric("xgw_xmpp_streams_paused") == 0);
    assert_int_equal(xt_count_lines(s_xmppd_log, "event=component_lost"), 0);
    s_failed = 0;
}

static bool
s_got_full(void)
{
    return s_answers_503_full > 0;
}

static int s_expect_messages;

static bool
s_all_arrived(void)
{
    return s_srv.messages >= s_expect_messages && s_client && xgw_client_outstanding(s_client) == 0;
}

static void
test_server_not_reading(void **state)
{
    (void)state;
    s_failed = 1;
    static char big[32768];
    memset(big, 'y', sizeof big - 1);
    int before200 = s_answers_200, msgs_before = s_srv.messages;
    s_srv.reading = false;
    int sent = 0;
    int64_t end = xgw_gwp_now_ms() + 30000;
    while (!s_got_full() && sent < 2000 && xgw_gwp_now_ms() < end) {
        if (xgw_client_outstanding(s_client) < 64) {
            s_deliver("romeo@" S_GW, "juliet@" S_PEER, big);
            sent++;
        }
        s_round(5, 1000);
    }
    fprintf(stderr, "not reading: %d sent, %d answered 200, %d answered 503 resource-constraint\n",
            sent, s_answers_200 - before200, s_answers_503_full);
    assert_true(s_answers_503_full > 0);
    /* Reading again: everything answered 200 (and what was still waiting)
     * arrives; nothing was answered 200 without reaching the socket. */
    s_srv.reading = true;
    s_expect_messages = msgs_before + sent - s_answers_503_full;
    assert_true(s_until(s_all_arrived, 20000));
    assert_int_equal(s_answers_200 - before200, sent - s_answers_503_full);
    assert_int_equal(s_srv.messages - msgs_before, sent - s_answers_503_full);
    assert_int_equal(s_answers_other, 0);
    s_failed = 0;
}

static bool
s_down_answered(void)
{
    return s_answers_503_down > 0;
}

static bool
s_up_again(void)
{
    return s_srv.handshake_ok && xt_count_lines(s_xmppd_log, "event=component_ready") >= 2;
}

static void
test_server_gone(void **state)
{
    (void)state;
    s_failed = 1;
    /* The server closes the link and refuses new ones for a while. */
    int lost = xt_count_lines(s_xmppd_log, "event=component_lost");
    s_srv_drop();
    close(s_listen_fd);
    s_listen_fd = -1;
    for (int i = 0; i < 100 && xt_count_lines(s_xmppd_log, "event=component_lost") == lost; i++)
        usleep(50000);
    assert_true(xt_count_lines(s_xmppd_log, "event=component_lost") > lost);
    s_deliver("romeo@" S_GW, "juliet@" S_PEER, "nobody home");
    int64_t end = xgw_gwp_now_ms() + 10000;
    while (!s_down_answered() && xgw_gwp_now_ms() < end) {
        (void)xgw_client_tick(s_client);
        usleep(20000);
        s_client_collect();
        (void)s_sip_serve(100);
    }
    assert_true(s_answers_503_down > 0);
    assert_true(s_metric("xgw_xmpp_component_up") == 0);
    assert_true(s_metric("xgw_xmpp_component_failures_total{reason=\"closed\"") >= 1);
    /* Back on the same address and port. */
    s_listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rcvbuf = 16384, sndbuf = 32768, one = 1;
    (void)setsockopt(s_listen_fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    (void)setsockopt(s_listen_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    (void)setsockopt(s_listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s_port)};
    inet_pton(AF_INET, S_SERVER_IP, &a.sin_addr);
    if (bind(s_listen_fd, (struct sockaddr *)&a, sizeof a) != 0)
        fail_msg("bind %s:%d: %s", S_SERVER_IP, s_port, strerror(errno));
    assert_int_equal(listen(s_listen_fd, 4), 0);
    assert_true(s_until(s_up_again, 40000));
    s_failed = 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrong_secret_then_fixed),
        cmocka_unit_test(test_both_ways),
        cmocka_unit_test(test_flood_backpressure),
        cmocka_unit_test(test_server_not_reading),
        cmocka_unit_test(test_server_gone),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
