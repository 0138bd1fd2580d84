/*
 * xgw-testsip - the SIP side of the XMPP edge tests, without SIP.
 *
 * Serve mode: a GWP worker for service "sip" (the service xgw-sipd
 * registers) that writes one line per Deliver it receives to a file and
 * answers it, so a test sees exactly what crossed the XMPP edge towards SIP:
 *
 *   xgw-testsip [--log FILE] [--answer STATUS] [--condition C]
 *               -c CONF [daemon options]
 *
 *   deliver kind=message from="a@pa.test/r" to="alice@gw.test" type="chat"
 *       id="m1" body="hello" subject="" thread="" origin="xmppd.00"
 *   deliver kind=presence from=.. to=.. available=1 show="away" status=".."
 *       priority=0 probe=0 origin=..
 *   deliver kind=subscription from=.. to=.. op=SUBSCRIBE origin=..
 *
 * Values are quoted with \" \\ \n \r \t escapes. Every Deliver is answered
 * --answer (default 200); a non-200 answer carries a DeliverResult with
 * --condition (default service-unavailable). Ping is answered like every
 * service (xgwctl ping sip). The body is written because the file is the
 * test's evidence, not a log: the gateway itself never logs bodies.
 *
 * Send mode: a GWP client that sends one Deliver to the XMPP edge, as sipd
 * would, and prints the answer:
 *
 *   xgw-testsip send -c CONF [--service xmpp] [--affinity DOMAIN]
 *       [--timeout-ms N] --kind message|presence --from JID --to JID
 *       [--body B] [--type T] [--id I] [--available 0|1] [--show S]
 *       [--status S]
 *
 *   status=200
 *   status=404 condition="remote-server-not-found" error_type="cancel"
 *       sip_status=0 text=".."
 *
 * The affinity defaults to the domain of --to (proto/xgw/v1/im.proto). Exit
 * status: 0 when an answer arrived (whatever its status), 1 when none did
 * within the timeout, 2 on bad usage.
 */
#include "xgw_client.h"
#include "xgw_daemon.h"
#include "xgw_error.h"
#include "xgw_gwp.h"
#include "xgw_service.h"

#include "xgw/v1/gwp.pb-c.h"
#include "xgw/v1/im.pb-c.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_LINE_MAX 65536

typedef struct {
    int log_fd;
    long answer;
    const char *condition;
} s_serve_t;

static long
s_num(const char *text, long lo, long hi)
{
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (!end || end == text || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "xgw-testsip: bad number \"%s\" (%ld..%ld)\n", text, lo, hi);
        exit(2);
    }
    return v;
}

/* Appends key="value" with escapes to buf at *len; truncates at the end. */
static void
s_put(char *buf, size_t *len, size_t max, const char *key, const char *value)
{
    size_t n = *len;
    int w = snprintf(buf + n, max - n, " %s=\"", key);
    if (w < 0 || (size_t)w >= max - n) {
        *len = max - 1;
        return;
    }
    n += (size_t)w;
    for (const char *p = value ? value : ""; *p && n + 3 < max; p++) {
        char esc = 0;
        switch (*p) {
        case '"':
            esc = '"';
            break;
        case '\\':
            esc = '\\';
            break;
        case '\n':
            esc = 'n';
            break;
        case '\r':
            esc = 'r';
            break;
        case '\t':
            esc = 't';
            break;
        default:
            break;
        }
        if (esc) {
            buf[n++] = '\\';
            buf[n++] = esc;
        } else {
            buf[n++] = *p;
        }
    }
    if (n + 1 < max)
        buf[n++] = '"';
    buf[n] = '\0';
    *len = n;
}

static void
s_putf(char *buf, size_t *len, size_t max, const char *fmt, long v)
{
    int w = snprintf(buf + *len, max - *len, fmt, v);
    if (w > 0 && (size_t)w < max - *len)
        *len += (size_t)w;
}

static const char *
s_op_name(Xgw__V1__SubscriptionOp__Op op)
{
    switch (op) {
    case XGW__V1__SUBSCRIPTION_OP__OP__SUBSCRIBE:
        return "SUBSCRIBE";
    case XGW__V1__SUBSCRIPTION_OP__OP__SUBSCRIBED:
        return "SUBSCRIBED";
    case XGW__V1__SUBSCRIPTION_OP__OP__UNSUBSCRIBE:
        return "UNSUBSCRIBE";
    case XGW__V1__SUBSCRIPTION_OP__OP__UNSUBSCRIBED:
        return "UNSUBSCRIBED";
    default:
        return "UNKNOWN";
    }
}

/* One line for one Deliver; written with a single write() so lines from a
 * restarted process never interleave. */
static void
s_log_deliver(s_serve_t *self, const Xgw__V1__Deliver *d)
{
    static char line[S_LINE_MAX];
    size_t n = 0;
    const size_t max = sizeof line - 1;
    if (d->kind_case == XGW__V1__DELIVER__KIND_MESSAGE) {
        const Xgw__V1__ImMessage *m = d->message;
        n = (size_t)snprintf(line, max, "deliver kind=message");
        s_put(line, &n, max, "from", m->from);
        s_put(line, &n, max, "to", m->to);
        s_put(line, &n, max, "type", m->type);
        s_put(line, &n, max, "id", m->id);
        s_put(line, &n, max, "body", m->body);
        s_put(line, &n, max, "subject", m->subject);
        s_put(line, &n, max, "thread", m->thread);
    } else if (d->kind_case == XGW__V1__DELIVER__KIND_PRESENCE) {
        const Xgw__V1__PresenceInfo *p = d->presence;
        n = (size_t)snprintf(line, max, "deliver kind=presence");
        s_put(line, &n, max, "from", p->from);
        s_put(line, &n, max, "to", p->to);
        s_putf(line, &n, max, " available=%ld", p->available ? 1 : 0);
        s_put(line, &n, max, "show", p->show);
        s_put(line, &n, max, "status", p->status);
        s_putf(line, &n, max, " priority=%ld", (long)p->priority);
        s_putf(line, &n, max, " probe=%ld", p->probe ? 1 : 0);
    } else if (d->kind_case == XGW__V1__DELIVER__KIND_SUBSCRIPTION) {
        const Xgw__V1__SubscriptionOp *s = d->subscription;
        n = (size_t)snprintf(line, max, "deliver kind=subscription");
        s_put(line, &n, max, "from", s->from);
        s_put(line, &n, max, "to", s->to);
        s_put(line, &n, max, "op", s_op_name(s->op));
        s_putf(line, &n, max, " expires_s=%ld", (long)s->expires_s);
    } else {
        n = (size_t)snprintf(line, max, "deliver kind=none");
    }
    s_put(line, &n, max, "origin", d->origin_instance);
    line[n++] = '\n';
    if (self->log_fd >= 0) {
        ssize_t w = write(self->log_fd, line, n);
        (void)w;
    }
}

static int
s_handle(void *ud, const Xgw__V1__Request *req, Xgw__V1__Reply *reply, xgw_arena_t *arena)
{
    s_serve_t *self = ud;
    (void)arena;
    if (req->payload_case != XGW__V1__REQUEST__PAYLOAD_DELIVER) {
        reply->status = 501;
        reply->reason = "xgw-testsip handles Deliver and Ping only";
        return 0;
    }
    s_log_deliver(self, req->deliver);
    reply->status = (uint32_t)self->answer;
    reply->reason = "";
    if (self->answer != 200) {
        static Xgw__V1__DeliverResult res = XGW__V1__DELIVER_RESULT__INIT;
        res.condition = (char *)self->condition;
        res.error_type = "cancel";
        res.text = "xgw-testsip was told to refuse";
        reply->payload_case = XGW__V1__REPLY__PAYLOAD_DELIVER_RESULT;
        reply->deliver_result = &res;
    }
    return 0;
}

static void
s_pick(xgw_service_def_t *def, const xgw_settings_t *s)
{
    def->credit = s->sipd.credit;
    def->metrics_port = 0;
}

static int
s_serve(int argc, char **argv)
{
    static s_serve_t self = {-1, 200, "service-unavailable"};
    const char *log = NULL;
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (!rest)
        return 1;
    int n = 0;
    rest[n++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (strcmp(a, "--log") == 0 && has)
            log = argv[++i];
        else if (strcmp(a, "--answer") == 0 && has)
            self.answer = s_num(argv[++i], 200, 699);
        else if (strcmp(a, "--condition") == 0 && has)
            self.condition = argv[++i];
        else
            rest[n++] = argv[i];
    }
    if (log) {
        self.log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (self.log_fd < 0) {
            perror("xgw-testsip: open --log");
            free(rest);
            return 1;
        }
    }
    xgw_service_def_t def = {0};
    def.process = "testsip";
    def.service = "sip";
    def.handler = s_handle;
    def.ud = &self;
    int rc = xgw_service_main(&def, n, rest, s_pick);
    if (self.log_fd >= 0)
        close(self.log_fd);
    free(rest);
    return rc;
}

/* ---- send mode ----------------------------------------------------------- */

static void
s_print_value(const char *key, const char *v)
{
    printf(" %s=\"", key);
    for (const char *p = v ? v : ""; *p; p++) {
        if (*p == '"' || *p == '\\')
            putchar('\\');
        putchar(*p == '\n' ? ' ' : *p);
    }
    putchar('"');
}

static int
s_send(int argc, char **argv)
{
    const char *conf = NULL, *service = "xmpp", *affinity = NULL, *kind = NULL;
    const char *from = NULL, *to = NULL, *body = "", *type = "chat", *id = "", *show = "";
    const char *status = "";
    long timeout_ms = 20000, available = 1;
    for (int i = 2; i < argc; i++) {
        const char *k = argv[i];
        if (i + 1 >= argc) {
            fprintf(stderr, "xgw-testsip send: option %s needs a value\n", k);
            return 2;
        }
        const char *v = argv[++i];
        if (strcmp(k, "-c") == 0)
            conf = v;
        else if (strcmp(k, "--service") == 0)
            service = v;
        else if (strcmp(k, "--affinity") == 0)
            affinity = v;
        else if (strcmp(k, "--kind") == 0)
            kind = v;
        else if (strcmp(k, "--from") == 0)
            from = v;
        else if (strcmp(k, "--to") == 0)
            to = v;
        else if (strcmp(k, "--body") == 0)
            body = v;
        else if (strcmp(k, "--type") == 0)
            type = v;
        else if (strcmp(k, "--id") == 0)
            id = v;
        else if (strcmp(k, "--show") == 0)
            show = v;
        else if (strcmp(k, "--status") == 0)
            status = v;
        else if (strcmp(k, "--available") == 0)
            available = s_num(v, 0, 1);
        else if (strcmp(k, "--timeout-ms") == 0)
            timeout_ms = s_num(v, 1, 600000);
        else {
            fprintf(stderr, "xgw-testsip send: unknown option %s\n", k);
            return 2;
        }
    }
    if (!conf || !kind || !from || !to ||
        (strcmp(kind, "message") != 0 && strcmp(kind, "presence") != 0)) {
        fprintf(stderr, "xgw-testsip send: -c, --kind message|presence, --from and --to are "
                        "required\n");
        return 2;
    }
    xgw_settings_t s;
    char err[256];
    if (xgw_daemon_load_settings(conf, NULL, 0, &s, err, sizeof err) != 0) {
        fprintf(stderr, "xgw-testsip send: %s\n", err);
        return 2;
    }
    if (!affinity) {
        const char *at = strrchr(to, '@');
        affinity = at ? at + 1 : to;
        /* a bare domain JID has no '@'; strip a resource either way */
    }
    char aff[XGW_GWP_AFFINITY_MAX + 1];
    snprintf(aff, sizeof aff, "%s", affinity);
    aff[strcspn(aff, "/")] = '\0';

    Xgw__V1__ImMessage m = XGW__V1__IM_MESSAGE__INIT;
    Xgw__V1__PresenceInfo p = XGW__V1__PRESENCE_INFO__INIT;
    Xgw__V1__Deliver d = XGW__V1__DELIVER__INIT;
    d.origin_instance = "testsip.00";
    if (strcmp(kind, "message") == 0) {
        m.from = (char *)from;
        m.to = (char *)to;
        m.body = (char *)body;
        m.type = (char *)type;
        m.id = (char *)id;
        d.kind_case = XGW__V1__DELIVER__KIND_MESSAGE;
        d.message = &m;
    } else {
        p.from = (char *)from;
        p.to = (char *)to;
        p.available = available != 0;
        p.show = (char *)show;
        p.status = (char *)status;
        d.kind_case = XGW__V1__DELIVER__KIND_PRESENCE;
        d.presence = &p;
    }
    Xgw__V1__Request r = XGW__V1__REQUEST__INIT;
    r.schema = 1;
    r.payload_case = XGW__V1__REQUEST__PAYLOAD_DELIVER;
    r.deliver = &d;
    size_t len = xgw__v1__request__get_packed_size(&r);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return 1;
    xgw__v1__request__pack(&r, buf);

    xgw_client_opts_t o;
    xgw_client_opts_default(&o);
    o.heartbeat_ms = s.common.heartbeat_interval_ms;
    xgw_client_t *c = xgw_client_new(s.common.broker_frontend, &o);
    if (!c) {
        free(buf);
        fprintf(stderr, "xgw-testsip send: cannot connect to %s\n", s.common.broker_frontend);
        return 1;
    }
    int rc = xgw_client_send(c, service, aff, xgw_gwp_now_ms() + timeout_ms, buf, len, NULL, NULL);
    free(buf);
    xgw_reply_t *rep = NULL;
    if (rc == 0)
        rc = xgw_client_wait(c, timeout_ms + 2000, &rep);
    int exit_code = 1;
    if (rc == 0 && rep) {
        exit_code = 0;
        printf("status=%u", rep->status);
        Xgw__V1__Reply *body_in = NULL;
        if (rep->body_len)
            body_in = xgw__v1__reply__unpack(NULL, rep->body_len, rep->body);
        if (body_in && body_in->payload_case == XGW__V1__REPLY__PAYLOAD_DELIVER_RESULT) {
            const Xgw__V1__DeliverResult *res = body_in->deliver_result;
            s_print_value("condition", res->condition);
            s_print_value("error_type", res->error_type);
            printf(" sip_status=%u", res->sip_status);
            s_print_value("text", res->text);
        } else if (body_in && body_in->reason && body_in->reason[0]) {
            s_print_value("reason", body_in->reason);
        }
        putchar('\n');
        if (body_in)
            xgw__v1__reply__free_unpacked(body_in, NULL);
        xgw_reply_destroy(&rep);
    } else {
        printf("status=none error=\"%s\"\n", xgw_strerror(rc));
    }
    xgw_client_destroy(&c);
    return exit_code;
}

int
main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "send") == 0)
        return s_send(argc, argv);
    return s_serve(argc, argv);
}
