/*
 * sip_stack.c - the sofia-sip NUA stack of xgw-sipd on a single-threaded
 * su_root: listeners, the event dispatch, loop integration for the GWP
 * half's descriptors, shutdown. See sip_stack.h and sip_int.h.
 */
#include "sip_int.h"

#include "xgw_addr.h"
#include "xgw_error.h"
#include "xgw_log.h"

#include <sofia-sip/nta_tag.h>
#include <sofia-sip/tport_tag.h>
#include <sofia-sip/su_log.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* The methods sipd serves; INVITE, REGISTER and PUBLISH get 405 with it. */
#define S_ALLOW "MESSAGE, SUBSCRIBE, NOTIFY, OPTIONS"

/* Room for the headers of a request, beside its body (NTATAG_MAXSIZE). */
#define S_HEADER_ROOM (16 * 1024)

static int s_su_initialized;

/* Module logs of libsofia-sip-ua that do not fall back to su_log_default
 * (exported, not declared in the installed headers). */
extern su_log_t stun_log[];
extern su_log_t tport_log[];
extern su_log_t nta_log[];
extern su_log_t nua_log[];
extern su_log_t sresolv_log[];

/* sofia-sip's own log lines (su_log), one logfmt line each: sofia writes
 * pieces, so they are collected up to the newline. */
static char s_sofia_line[512];
static size_t s_sofia_len;

static void
s_sofia_log(void *stream, char const *fmt, va_list ap)
{
    (void)stream;
    char piece[512];
    int n = vsnprintf(piece, sizeof piece, fmt, ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof piece ? (size_t)n : sizeof piece - 1;
    for (size_t i = 0; i < len; i++) {
        char c = piece[i];
        if (c == '\n' || s_sofia_len == sizeof s_sofia_line - 1) {
            s_sofia_line[s_sofia_len] = '\0';
            if (s_sofia_len > 0)
                xgw_info("sofia_log", "msg=\"%s\"", s_sofia_line);
            s_sofia_len = 0;
            if (c == '\n')
                continue;
        }
        /* Quotes would end the logfmt value; tabs are noise. */
        s_sofia_line[s_sofia_len++] = c == '"' ? '\'' : c == '\t' ? ' ' : c;
    }
}

static int64_t
s_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
sip_count(sip_stack_t *self, const char *direction, const char *method, int status)
{
    char cls[16];
    if (status <= 0)
        snprintf(cls, sizeof cls, "request");
    else
        snprintf(cls, sizeof cls, "%dxx", status / 100);
    xgw_series_inc(xgw_family_series(self->m_requests, direction, method, cls));
}

int
sip_url_text(const url_t *url, char *buf, size_t len)
{
    if (!url || len == 0)
        return XGW_EINVAL;
    /* url_e writes at most len bytes and returns the length it needed. */
    isize_t n = url_e(buf, (isize_t)len, url);
    if (n < 0 || (size_t)n >= len) {
        buf[0] = '\0';
        return XGW_ERANGE;
    }
    buf[n] = '\0';
    return 0;
}

int
sip_url_to_jid(const url_t *url, unsigned flags, char *jid, size_t len, const char **why_name)
{
    char text[XGW_SIP_URI_MAX + 1];
    xgw_addr_why_t why = XGW_ADDR_SYNTAX;
    *why_name = "too-long";
    if (sip_url_text(url, text, sizeof text) != 0)
        return 414;
    if (xgw_addr_sip_to_jid(text, flags, jid, len, &why) != 0) {
        *why_name = xgw_addr_why_name(why);
        return xgw_addr_why_sip_status(why);
    }
    *why_name = "ok";
    return 0;
}

bool
sip_peer_trusted(sip_stack_t *self, msg_t *msg)
{
    su_addrinfo_t *ai = msg ? msg_addrinfo(msg) : NULL;
    if (!ai || !ai->ai_addr)
        return false;
    if (xgw_cidr_match_sa(&self->trusted, ai->ai_addr))
        return true;
    char host[64] = "?";
    su_inet_ntop(ai->ai_addr->sa_family, SU_ADDR((su_sockaddr_t *)ai->ai_addr), host, sizeof host);
    xgw_warn("sip_untrusted_peer", "addr=%s", host);
    xgw_series_inc(self->m_untrusted);
    return false;
}

void
sip_respond_now(sip_stack_t *self, nua_handle_t *nh, int status, const char *phrase,
                int retry_after_s, tag_type_t tag, tag_value_t value, ...)
{
    ta_list ta;
    ta_start(ta, tag, value);
    char ra[24] = "";
    if (retry_after_s > 0)
        snprintf(ra, sizeof ra, "%d", retry_after_s);
    nua_respond(nh, status, phrase ? phrase : sip_status_phrase(status), NUTAG_WITH_THIS(self->nua),
                TAG_IF(ra[0], SIPTAG_RETRY_AFTER_STR(ra)), ta_tags(ta));
    ta_end(ta);
}

/* A request kind sipd does not serve: 405 with Allow (ROB-11). */
static void
s_refuse_method(sip_stack_t *self, nua_handle_t *nh, const sip_t *sip, const char *method)
{
    (void)sip;
    sip_respond_now(self, nh, 405, NULL, 0, SIPTAG_ALLOW_STR(S_ALLOW), TAG_END());
    sip_count(self, "in", method, 405);
    nua_handle_destroy(nh);
}

static void
s_nua_cb(nua_event_t event, int status, char const *phrase, nua_t *nua, sip_stack_t *self,
         nua_handle_t *nh, sip_hctx_t *hctx, sip_t const *sip, tagi_t tags[])
{
    (void)nua;
    if (sip_subs_event(self, event, status, phrase, nh, hctx, sip, tags))
        return;
    switch (event) {
    case nua_i_message:
        sip_in_message(self, nh, sip);
        break;
    case nua_r_message:
        if (hctx && hctx->kind == SIP_H_OUT_MESSAGE)
            sip_out_on_response(self, nh, hctx, status, phrase, sip);
        break;
    case nua_i_invite:
        s_refuse_method(self, nh, sip, "INVITE");
        break;
    case nua_i_register:
        s_refuse_method(self, nh, sip, "REGISTER");
        break;
    case nua_i_publish:
        s_refuse_method(self, nh, sip, "PUBLISH");
        break;
    case nua_r_shutdown:
        if (status >= 200)
            self->shutdown_done = true;
        break;
    case nua_i_error:
        xgw_warn("sip_stack_error", "status=%d phrase=\"%s\"", status, phrase ? phrase : "");
        break;
    default:
        /* An incoming request on a handle nobody owns: nua answered it
         * (or it is informational); free the handle it made. */
        if (nua_event_is_incoming_request(event) && !hctx && nh)
            nua_handle_destroy(nh);
        break;
    }
}

static int
s_on_watch(sip_stack_t *self, su_wait_t *w, sip_stack_t *arg)
{
    (void)w;
    (void)arg;
    if (self->hooks.fd_ready)
        self->hooks.fd_ready(self->hooks.ud);
    return 0;
}

sip_stack_t *
sip_stack_new(const sip_stack_opts_t *opts, const sip_hooks_t *hooks)
{
    if (!s_su_initialized) {
        if (su_init() != 0) {
            xgw_error("sip_init_failed", "what=su_init");
            return NULL;
        }
        s_su_initialized = 1;
        su_log_redirect(NULL, s_sofia_log, NULL);
        su_log_redirect(stun_log, s_sofia_log, NULL);
        su_log_redirect(tport_log, s_sofia_log, NULL);
        su_log_redirect(nta_log, s_sofia_log, NULL);
        su_log_redirect(nua_log, s_sofia_log, NULL);
        su_log_redirect(sresolv_log, s_sofia_log, NULL);
    }
    sip_stack_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    if (su_home_init(self->home) != 0) {
        free(self);
        return NULL;
    }
    self->hooks = *hooks;
    if (opts->trusted)
        self->trusted = *opts->trusted;
    self->sip_url = su_strdup(self->home, opts->sip_url ? opts->sip_url : "");
    self->sips_url = su_strdup(self->home, opts->sips_url ? opts->sips_url : "");
    self->outbound_proxy = su_strdup(self->home, opts->outbound_proxy ? opts->outbound_proxy : "");
    self->cert_dir = su_strdup(self->home, opts->cert_dir ? opts->cert_dir : "");
    self->user_agent = su_strdup(self->home, opts->user_agent ? opts->user_agent : "xgw-sipd");
    /* The outbound proxy is a pre-loaded Route (RFC 3261 8.1.2) that
     * sip_out.c and sip_subs.c put on requests outside a dialog only;
     * in-dialog requests (NOTIFY, refresh SUBSCRIBE) follow the dialog's
     * route set and remote target. nta's default proxy (NUTAG_PROXY) and
     * NUTAG_INITIAL_ROUTE would send those to the proxy too. */
    if (self->outbound_proxy[0])
        self->route = su_sprintf(self->home, "<%s%s>", self->outbound_proxy,
                                 strstr(self->outbound_proxy, ";lr") ? "" : ";lr");
    self->store_path = su_strdup(self->home, opts->store_path ? opts->store_path : "");
    self->max_message_body = opts->max_message_body;
    self->subscribe_expires_s = opts->subscribe_expires_s ? opts->subscribe_expires_s : 3600;

    self->m_requests = xgw_metrics_counter(
        "xgw_sip_transactions_total",
        "SIP transactions finished by sipd, by direction (in: requests it answered, out: "
        "requests it sent), method and response class (request: counted when sent).",
        "direction,method,class");
    self->m_parse_errors = xgw_family_series(
        xgw_metrics_counter("xgw_sip_parse_errors_total",
                            "SIP requests refused as malformed by sipd (bad addresses, bodies, "
                            "PIDF), beside what sofia-sip drops itself.",
                            NULL));
    self->m_backpressure = xgw_family_series(xgw_metrics_counter(
        "xgw_sip_backpressure_total",
        "SIP requests answered 503 with Retry-After (congestion or drain).", NULL));
    self->m_untrusted = xgw_family_series(xgw_metrics_counter(
        "xgw_sip_untrusted_total", "SIP requests refused because of their source address.", NULL));

    self->root = su_root_create(self);
    if (!self->root) {
        xgw_error("sip_init_failed", "what=su_root_create");
        goto fail;
    }
    /* One thread: nua_create would otherwise run the stack in a thread of
     * its own (architecture-notes 5.3). */
    su_root_threading(self->root, 0);
    self->nua = nua_create(self->root, s_nua_cb, self, NUTAG_URL(self->sip_url),
                           TAG_IF(self->sips_url[0], NUTAG_SIPS_URL(self->sips_url)),
                           TAG_IF(self->cert_dir[0], NUTAG_CERTIFICATE_DIR(self->cert_dir)),
                           /* Bound what one request may take (headers and all): a body of
                            * max_message_body plus room for headers; more is refused before
                            * it is parsed. Merged requests get 482 (ROB-09). No STUN on the
                            * SIP port: sofia's STUN error path leaks, and the gateway is not
                            * a STUN server. */
                           NTATAG_MAXSIZE(self->max_message_body + S_HEADER_ROOM),
                           NTATAG_MERGE_482(1), TPTAG_STUN_SERVER(0), TAG_END());
    if (!self->nua) {
        xgw_error("sip_listen_failed", "sip_url=\"%s\" sips_url=\"%s\"", self->sip_url,
                  self->sips_url);
        goto fail;
    }
    /* MESSAGE is answered by us, once the XMPP side has the stanza
     * (NUTAG_APPL_METHOD); SUBSCRIBE is an application method already. */
    nua_set_params(self->nua, NUTAG_APPL_METHOD("MESSAGE"), NUTAG_ENABLEMESSAGE(1),
                   NUTAG_ENABLEINVITE(0), SIPTAG_ALLOW_STR(S_ALLOW), SIPTAG_SUPPORTED(NULL),
                   NUTAG_ALLOW_EVENTS("presence"), NUTAG_SUB_EXPIRES(3600),
                   SIPTAG_SERVER_STR(self->user_agent), SIPTAG_USER_AGENT_STR(self->user_agent),
                   TAG_END());
    if (sip_subs_init(self) != 0)
        goto fail;
    xgw_info("sip_listening", "sip_url=\"%s\" sips_url=\"%s\" outbound_proxy=\"%s\"", self->sip_url,
             self->sips_url, self->outbound_proxy);
    return self;
fail:
    sip_stack_destroy(&self, 0);
    return NULL;
}

int
sip_stack_watch_fd(sip_stack_t *self, int fd)
{
    if (self->n_watch >= SIP_MAX_WATCH)
        return XGW_ERANGE;
    size_t i = self->n_watch;
    if (su_wait_create(&self->watch[i], fd, SU_WAIT_IN) != 0)
        return XGW_EIO;
    int idx = su_root_register(self->root, &self->watch[i], s_on_watch, self, 0);
    if (idx < 0) {
        su_wait_destroy(&self->watch[i]);
        return XGW_EIO;
    }
    self->watch_fd[i] = fd;
    self->watch_index[i] = idx;
    self->n_watch++;
    return 0;
}

int
sip_stack_step(sip_stack_t *self, int64_t timeout_ms)
{
    if (timeout_ms < 0)
        timeout_ms = 0;
    su_root_step(self->root, (su_duration_t)timeout_ms);
    return 0;
}

void
sip_stack_set_refusing(sip_stack_t *self, bool refusing)
{
    self->refusing = refusing;
}

size_t
sip_stack_held(const sip_stack_t *self)
{
    return self->n_held;
}

size_t
sip_stack_out_in_flight(const sip_stack_t *self)
{
    return self->out_in_flight;
}

void
sip_stack_destroy(sip_stack_t **self_p, int64_t timeout_ms)
{
    if (!self_p || !*self_p)
        return;
    sip_stack_t *self = *self_p;
    if (self->nua) {
        sip_in_refuse_all(self);
        sip_subs_fini(self);
        nua_shutdown(self->nua);
        int64_t until = s_mono_ms() + timeout_ms;
        while (!self->shutdown_done && s_mono_ms() < until)
            su_root_step(self->root, 50);
        /* Outgoing MESSAGEs nua gave up on: the GWP half still holds
         * their requests. */
        sip_out_abort_all(self);
        nua_destroy(self->nua);
        self->nua = NULL;
    }
    if (self->root) {
        for (size_t i = 0; i < self->n_watch; i++) {
            su_root_deregister(self->root, self->watch_index[i]);
        }
        su_root_destroy(self->root);
        self->root = NULL;
    }
    su_home_deinit(self->home);
    free(self);
    *self_p = NULL;
}

int64_t
sip_now_ms(void)
{
    return s_mono_ms();
}
