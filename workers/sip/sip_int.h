/*
 * sip_int.h - internals shared by the sofia-sip units of xgw-sipd
 * (sip_stack.c, sip_in.c, sip_out.c, sip_subs.c). Includes sofia headers:
 * never include it from a unit that sees czmq or the edge runtime.
 *
 * Memory: the stack's su_home_t owns the copied options; each held
 * transaction and each outgoing request context is malloc'd by the unit
 * that made it and freed by it (never mixed with su_home memory). NUA
 * handles are reference-counted by sofia; a unit that creates one destroys
 * it with nua_handle_destroy when its context goes.
 */
#ifndef SIP_INT_H
#define SIP_INT_H

/* Sofia's typed "magic" pointers, before its headers. */
#define SU_ROOT_MAGIC_T struct sip_stack
#define SU_WAKEUP_ARG_T struct sip_stack
#define SU_TIMER_ARG_T struct sip_stack
#define NUA_MAGIC_T struct sip_stack
#define NUA_HMAGIC_T struct sip_hctx

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/nua.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_tag.h>
#include <sofia-sip/su_tagarg.h>
#include <sofia-sip/su_wait.h>
#include <sofia-sip/url.h>

#include "sip_stack.h"
#include "xgw_metrics.h"

#define SIP_MAX_WATCH 8

/* What a NUA handle is used for (its hmagic). */
typedef enum {
    SIP_H_OUT_MESSAGE = 1, /* sip_out.c: an outgoing MESSAGE */
    SIP_H_SUB_OUT = 2,     /* sip_subs.c: our SUBSCRIBE to a SIP presentity */
    SIP_H_SUB_IN = 3,      /* sip_subs.c: a SIP watcher's subscription to us */
    SIP_H_FETCH = 4,       /* sip_subs.c: a fetch (SUBSCRIBE Expires: 0) for a probe */
} sip_hkind_t;

/* Common head of every handle context; the unit that owns the kind casts. */
typedef struct sip_hctx {
    sip_hkind_t kind;
} sip_hctx_t;

struct sip_txn {
    sip_stack_t *stack;
    nua_handle_t *nh;
    nua_saved_event_t saved[1];
    struct sip_txn *prev, *next; /* the stack's list of held transactions */
    int64_t held_since_ms;       /* monotonic */
};

struct sip_stack {
    su_home_t home[1];
    su_root_t *root;
    nua_t *nua;
    sip_hooks_t hooks;
    xgw_cidr_set_t trusted;
    char *sip_url, *sips_url, *outbound_proxy, *cert_dir, *user_agent, *store_path;
    char *route; /* "<outbound_proxy;lr>" or NULL */
    size_t max_message_body;
    uint32_t subscribe_expires_s;
    bool refusing;
    bool shutdown_done;
    int watch_fd[SIP_MAX_WATCH];
    su_wait_t watch[SIP_MAX_WATCH];
    int watch_index[SIP_MAX_WATCH];
    size_t n_watch;
    struct sip_txn *held; /* list head */
    size_t n_held;
    size_t out_in_flight;
    struct sip_out *outs;         /* sip_out.c: MESSAGEs without a final response */
    struct xgw_strmap *out_dests; /* sip_out.c: To URI -> FIFO of MESSAGEs (IM-10) */
    struct sip_subs *subs;        /* sip_subs.c */
    /* metrics, looked up once */
    xgw_family_t *m_requests; /* direction, method, class */
    xgw_series_t *m_parse_errors;
    xgw_series_t *m_backpressure;
    xgw_series_t *m_untrusted;
};

/* Counts one request or response on sipd's SIP side. direction: "in" or
 * "out"; status 0 counts the request itself ("class" = "request"). */
void sip_count(sip_stack_t *self, const char *direction, const char *method, int status);

/* True when the request of the current event (or saved event msg) comes
 * from a trusted peer. Logs the refused address once per call. */
bool sip_peer_trusted(sip_stack_t *self, msg_t *msg);

/* Formats a URL into buf as text ("sip:user@host;params"). Returns 0 or
 * XGW_ERANGE (buf holds ""). */
int sip_url_text(const url_t *url, char *buf, size_t len);

/* Maps a URL to a JID (xgw_addr). On failure returns the SIP status to
 * answer (400/403/404/416/...) and sets *why_name for the log. */
int sip_url_to_jid(const url_t *url, unsigned flags, char *jid, size_t len, const char **why_name);

/* Answers an incoming request of the current event at once. */
void sip_respond_now(sip_stack_t *self, nua_handle_t *nh, int status, const char *phrase,
                     int retry_after_s, tag_type_t tag, tag_value_t value, ...);

/* sip_in.c */
void sip_in_message(sip_stack_t *self, nua_handle_t *nh, const sip_t *sip);
void sip_in_refuse_all(sip_stack_t *self);

/* sip_out.c */
void sip_out_on_response(sip_stack_t *self, nua_handle_t *nh, sip_hctx_t *hctx, int status,
                         const char *phrase, const sip_t *sip);
/* Reports 503 for every MESSAGE still without a final response (shutdown). */
void sip_out_abort_all(sip_stack_t *self);

/* Monotonic milliseconds. */
int64_t sip_now_ms(void);

/* sip_subs.c (later stages): dispatch of subscription events. Returns true
 * when the event was one of its handles'. */
bool sip_subs_event(sip_stack_t *self, nua_event_t event, int status, const char *phrase,
                    nua_handle_t *nh, sip_hctx_t *hctx, const sip_t *sip, tagi_t tags[]);
int sip_subs_init(sip_stack_t *self);
void sip_subs_fini(sip_stack_t *self);

#endif
