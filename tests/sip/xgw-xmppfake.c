/*
 * xgw-xmppfake - plays the "xmpp" side of the gateway for the sipd tests:
 * a real GWP worker and client, through a real xgw-broker.
 *
 *   xgw-xmppfake serve --backend EP --log FILE [--instance NAME] [--heartbeat-ms H]
 *       Registers as service "xmpp". Every Deliver it receives is appended
 *       to FILE as one line ("deliver kind=message from=\"...\" ...") and
 *       answered. A message body may steer the answer (for the tests only):
 *         "answer=NNN"       answer status NNN (default 200)
 *         "cond=NAME"        with DeliverResult{condition NAME}
 *         "delay=MS"         answer MS milliseconds later
 *         "noanswer"         never answer (the sender's deadline fires)
 *       Presence and subscription Delivers are answered 200, except a
 *       subscription to "fail-COND@..." (404 with condition COND).
 *
 *   xgw-xmppfake send --frontend EP [--affinity A] [--timeout-ms T] KIND ARGS...
 *       Sends one Deliver to service "sip" and prints its answer as
 *       "status=NNN condition=X type=Y sip_status=Z text=\"...\"". KIND:
 *         message FROM TO BODY [SUBJECT [THREAD [LANG]]]
 *         presence FROM TO available|unavailable|probe [SHOW [STATUS]]
 *         sub SUBSCRIBE|SUBSCRIBED|UNSUBSCRIBE|UNSUBSCRIBED FROM TO
 *       Exit 0 when an answer (of any status) came, 1 on timeout/failure,
 *       2 on usage errors.
 */
#include "xgw_client.h"
#include "xgw_error.h"
#include "xgw_gwp.h"
#include "xgw_log.h"
#include "xgw_worker.h"

#include "xgw/v1/gwp.pb-c.h"
#include "xgw/v1/im.pb-c.h"

#include <czmq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_HELD 1024

static volatile sig_atomic_t s_stop;

static void
s_on_term(int sig)
{
    (void)sig;
    s_stop = 1;
}

static long
s_num(const char *text)
{
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (!end || *end != '\0' || v < 0) {
        fprintf(stderr, "xgw-xmppfake: bad number \"%s\"\n", text);
        exit(2);
    }
    return v;
}

/* Writes s to f as a quoted logfmt value (", \ and control bytes escaped). */
static void
s_put_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* ------------------------------------------------------------------ */
/* serve                                                               */

typedef struct {
    xgw_request_t *req;
    int64_t due_ms;
    uint16_t status;
    char cond[64];
} s_held_t;

static void
s_reply(xgw_worker_t *w, xgw_request_t **req_p, uint16_t status, const char *cond)
{
    Xgw__V1__Reply reply = XGW__V1__REPLY__INIT;
    Xgw__V1__DeliverResult res = XGW__V1__DELIVER_RESULT__INIT;
    reply.status = status;
    reply.reason = "";
    if (cond && cond[0]) {
        res.condition = (char *)cond;
        res.error_type = "cancel";
        res.text = "xmppfake";
        reply.payload_case = XGW__V1__REPLY__PAYLOAD_DELIVER_RESULT;
        reply.deliver_result = &res;
    }
    uint8_t buf[512];
    size_t len = xgw__v1__reply__get_packed_size(&reply);
    if (len > sizeof buf)
        len = 0;
    else
        xgw__v1__reply__pack(&reply, buf);
    xgw_worker_reply(w, req_p, status, buf, len);
}

/* Parses the steering words of a message body. */
static void
s_steer(const char *body, uint16_t *status, char *cond, size_t condlen, long *delay, int *noanswer)
{
    const char *p = strstr(body, "answer=");
    if (p) {
        long v = strtol(p + 7, NULL, 10);
        if (v >= 100 && v <= 699)
            *status = (uint16_t)v;
    }
    p = strstr(body, "cond=");
    if (p) {
        size_t n = strcspn(p + 5, " \t\r\n");
        if (n >= condlen)
            n = condlen - 1;
        memcpy(cond, p + 5, n);
        cond[n] = '\0';
    }
    p = strstr(body, "delay=");
    if (p)
        *delay = strtol(p + 6, NULL, 10);
    if (strstr(body, "noanswer"))
        *noanswer = 1;
}

static const char *
s_op_name(int op)
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
        return "?";
    }
}

static void
s_handle(xgw_worker_t *w, FILE *log, xgw_request_t *req, s_held_t *held, size_t *n_held)
{
    Xgw__V1__Request *in = xgw__v1__request__unpack(NULL, req->body_len, req->body);
    if (!in || in->payload_case != XGW__V1__REQUEST__PAYLOAD_DELIVER) {
        /* Pings (xgwctl ping xmpp) and anything else: 200, empty. */
        if (in)
            xgw__v1__request__free_unpacked(in, NULL);
        xgw_worker_reply(w, &req, 200, NULL, 0);
        return;
    }
    const Xgw__V1__Deliver *d = in->deliver;
    uint16_t status = 200;
    char cond[64] = "";
    long delay = 0;
    int noanswer = 0;
    fprintf(log, "deliver affinity=");
    s_put_quoted(log, req->affinity);
    fprintf(log, " origin=");
    s_put_quoted(log, d->origin_instance);
    if (d->kind_case == XGW__V1__DELIVER__KIND_MESSAGE) {
        const Xgw__V1__ImMessage *m = d->message;
        fprintf(log, " kind=message from=");
        s_put_quoted(log, m->from);
        fprintf(log, " to=");
        s_put_quoted(log, m->to);
        fprintf(log, " subject=");
        s_put_quoted(log, m->subject);
        fprintf(log, " thread=");
        s_put_quoted(log, m->thread);
        fprintf(log, " lang=");
        s_put_quoted(log, m->lang);
        fprintf(log, " body=");
        s_put_quoted(log, m->body);
        s_steer(m->body ? m->body : "", &status, cond, sizeof cond, &delay, &noanswer);
    } else if (d->kind_case == XGW__V1__DELIVER__KIND_PRESENCE) {
        const Xgw__V1__PresenceInfo *p = d->presence;
        fprintf(log, " kind=presence from=");
        s_put_quoted(log, p->from);
        fprintf(log, " to=");
        s_put_quoted(log, p->to);
        fprintf(log, " available=%d probe=%d show=", p->available ? 1 : 0, p->probe ? 1 : 0);
        s_put_quoted(log, p->show);
        fprintf(log, " status=");
        s_put_quoted(log, p->status);
        fprintf(log, " priority=%d", (int)p->priority);
    } else if (d->kind_case == XGW__V1__DELIVER__KIND_SUBSCRIPTION) {
        const Xgw__V1__SubscriptionOp *s = d->subscription;
        fprintf(log, " kind=subscription op=%s from=", s_op_name(s->op));
        s_put_quoted(log, s->from);
        fprintf(log, " to=");
        s_put_quoted(log, s->to);
        fprintf(log, " expires=%u", s->expires_s);
        if (s->to && strncmp(s->to, "fail-", 5) == 0) {
            size_t n = strcspn(s->to + 5, "@");
            if (n >= sizeof cond)
                n = sizeof cond - 1;
            memcpy(cond, s->to + 5, n);
            cond[n] = '\0';
            status = 404;
        }
    } else {
        fprintf(log, " kind=none");
    }
    fprintf(log, "\n");
    fflush(log);
    xgw__v1__request__free_unpacked(in, NULL);
    if (noanswer) {
        xgw_request_destroy(&req);
        return;
    }
    if (delay > 0 && *n_held < S_MAX_HELD) {
        s_held_t *h = &held[(*n_held)++];
        h->req = req;
        h->due_ms = zclock_mono() + delay;
        h->status = status;
        snprintf(h->cond, sizeof h->cond, "%s", cond);
        return;
    }
    s_reply(w, &req, status, cond);
}

static int
s_serve(int argc, char **argv)
{
    const char *backend = NULL, *log_path = NULL, *instance = "xmppd.00";
    long hb = 200;
    for (int i = 0; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--backend") == 0)
            backend = argv[i + 1];
        else if (strcmp(argv[i], "--log") == 0)
            log_path = argv[i + 1];
        else if (strcmp(argv[i], "--instance") == 0)
            instance = argv[i + 1];
        else if (strcmp(argv[i], "--heartbeat-ms") == 0)
            hb = s_num(argv[i + 1]);
        else {
            fprintf(stderr, "xgw-xmppfake: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!backend || !log_path) {
        fprintf(stderr, "xgw-xmppfake serve: --backend and --log are required\n");
        return 2;
    }
    FILE *log = fopen(log_path, "a");
    if (!log) {
        perror("xgw-xmppfake: log");
        return 1;
    }
    xgw_worker_opts_t o;
    xgw_worker_opts_default(&o);
    o.heartbeat_ms = hb;
    xgw_worker_t *w = xgw_worker_new(backend, "xmpp", instance, 100, &o);
    if (!w) {
        fclose(log);
        return 1;
    }
    static s_held_t held[S_MAX_HELD];
    size_t n_held = 0;
    while (!s_stop) {
        int64_t wait = xgw_worker_tick(w);
        if (wait > 50)
            wait = 50;
        zmq_pollitem_t item = {xgw_worker_socket(w), 0, ZMQ_POLLIN, 0};
        zmq_poll(&item, 1, (long)wait);
        for (;;) {
            xgw_request_t *req = NULL;
            if (xgw_worker_recv(w, &req) != 0)
                break;
            s_handle(w, log, req, held, &n_held);
        }
        int64_t now = zclock_mono();
        for (size_t i = 0; i < n_held;) {
            if (held[i].due_ms <= now) {
                s_reply(w, &held[i].req, held[i].status, held[i].cond);
                held[i] = held[--n_held];
            } else {
                i++;
            }
        }
    }
    for (size_t i = 0; i < n_held; i++)
        xgw_request_destroy(&held[i].req);
    xgw_worker_destroy(&w);
    fclose(log);
    return 0;
}

/* ------------------------------------------------------------------ */
/* send                                                                */

static int
s_op_parse(const char *s)
{
    if (strcmp(s, "SUBSCRIBE") == 0)
        return XGW__V1__SUBSCRIPTION_OP__OP__SUBSCRIBE;
    if (strcmp(s, "SUBSCRIBED") == 0)
        return XGW__V1__SUBSCRIPTION_OP__OP__SUBSCRIBED;
    if (strcmp(s, "UNSUBSCRIBE") == 0)
        return XGW__V1__SUBSCRIPTION_OP__OP__UNSUBSCRIBE;
    if (strcmp(s, "UNSUBSCRIBED") == 0)
        return XGW__V1__SUBSCRIPTION_OP__OP__UNSUBSCRIBED;
    return -1;
}

static int
s_send(int argc, char **argv)
{
    const char *frontend = NULL, *affinity = "";
    long timeout = 10000;
    int i = 0;
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (strcmp(argv[i], "--frontend") == 0)
            frontend = argv[i + 1];
        else if (strcmp(argv[i], "--affinity") == 0)
            affinity = argv[i + 1];
        else if (strcmp(argv[i], "--timeout-ms") == 0)
            timeout = s_num(argv[i + 1]);
        else {
            fprintf(stderr, "xgw-xmppfake: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!frontend || i >= argc) {
        fprintf(stderr, "xgw-xmppfake send: --frontend and a kind are required\n");
        return 2;
    }
    const char *kind = argv[i++];
    int nargs = argc - i;
    char **a = argv + i;
    Xgw__V1__Deliver d = XGW__V1__DELIVER__INIT;
    Xgw__V1__ImMessage m = XGW__V1__IM_MESSAGE__INIT;
    Xgw__V1__PresenceInfo p = XGW__V1__PRESENCE_INFO__INIT;
    Xgw__V1__SubscriptionOp s = XGW__V1__SUBSCRIPTION_OP__INIT;
    d.origin_instance = "xmppfake";
    if (strcmp(kind, "message") == 0 && nargs >= 3) {
        m.from = a[0];
        m.to = a[1];
        m.body = a[2];
        if (nargs > 3)
            m.subject = a[3];
        if (nargs > 4)
            m.thread = a[4];
        if (nargs > 5)
            m.lang = a[5];
        m.type = "chat";
        d.kind_case = XGW__V1__DELIVER__KIND_MESSAGE;
        d.message = &m;
    } else if (strcmp(kind, "presence") == 0 && nargs >= 3) {
        p.from = a[0];
        p.to = a[1];
        p.available = strcmp(a[2], "available") == 0;
        p.probe = strcmp(a[2], "probe") == 0;
        if (nargs > 3)
            p.show = a[3];
        if (nargs > 4)
            p.status = a[4];
        d.kind_case = XGW__V1__DELIVER__KIND_PRESENCE;
        d.presence = &p;
    } else if (strcmp(kind, "sub") == 0 && nargs >= 3 && s_op_parse(a[0]) >= 0) {
        s.op = s_op_parse(a[0]);
        s.from = a[1];
        s.to = a[2];
        d.kind_case = XGW__V1__DELIVER__KIND_SUBSCRIPTION;
        d.subscription = &s;
    } else {
        fprintf(stderr, "xgw-xmppfake send: bad kind or arguments\n");
        return 2;
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
    xgw_client_t *c = xgw_client_new(frontend, NULL);
    if (!c) {
        free(buf);
        return 1;
    }
    int rc = xgw_client_send(c, "sip", affinity, xgw_gwp_now_ms() + timeout, buf, len, NULL, NULL);
    free(buf);
    xgw_reply_t *rep = NULL;
    if (rc == 0)
        rc = xgw_client_wait(c, timeout + 2000, &rep);
    if (rc != 0) {
        printf("status=none error=%s\n", xgw_strerror(rc));
        xgw_client_destroy(&c);
        return 1;
    }
    Xgw__V1__Reply *body =
        rep->body_len ? xgw__v1__reply__unpack(NULL, rep->body_len, rep->body) : NULL;
    const Xgw__V1__DeliverResult *res = NULL;
    if (body && body->payload_case == XGW__V1__REPLY__PAYLOAD_DELIVER_RESULT)
        res = body->deliver_result;
    printf("status=%u condition=%s type=%s sip_status=%u text=", rep->status,
           res && res->condition[0] ? res->condition : "-",
           res && res->error_type[0] ? res->error_type : "-", res ? res->sip_status : 0);
    s_put_quoted(stdout, res ? res->text : "");
    printf("\n");
    if (body)
        xgw__v1__reply__free_unpacked(body, NULL);
    xgw_reply_destroy(&rep);
    xgw_client_destroy(&c);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: xgw-xmppfake serve|send ...\n");
        return 2;
    }
    xgw_log_init("xmppfake", 0);
    zsys_handler_set(NULL);
    signal(SIGTERM, s_on_term);
    signal(SIGINT, s_on_term);
    if (strcmp(argv[1], "serve") == 0)
        return s_serve(argc - 2, argv + 2);
    if (strcmp(argv[1], "send") == 0)
        return s_send(argc - 2, argv + 2);
    fprintf(stderr, "usage: xgw-xmppfake serve|send ...\n");
    return 2;
}
