/*
 * xmppd.h - what the files of xgw-xmppd share: the process context, one
 * s2s connection (xconn), the outbound routes, and the functions the
 * modules call on each other. The design, config keys, log events and
 * metrics are in workers/xmpp/README.md.
 *
 * Everything runs on one thread, the epoll loop of xmppd_main.c. Objects
 * are never freed from inside a callback: a connection that ends is marked
 * dead and freed by xmppd_reap at the end of the loop turn, so a pointer
 * held across a call into another module stays valid for that turn.
 */
#ifndef XGW_XMPPD_H
#define XGW_XMPPD_H

#include "xgw_cert_client.h"
#include "xgw_daemon.h"
#include "xgw_dialback.h"
#include "xgw_dns.h"
#include "xgw_edge_rt.h"
#include "xgw_errmap.h"
#include "xgw_metrics.h"
#include "xgw_policy_model.h"
#include "xgw_rules.h"
#include "xgw_stanza.h"
#include "xgw_strmap.h"
#include "xgw_tls_ctx.h"
#include "xgw_worker.h"
#include "xgw_x509.h"
#include "xgw_x509_verify.h"
#include "xgw_xml.h"

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define XMPPD_NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define XMPPD_NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define XMPPD_NS_STREAM_ERR "urn:ietf:params:xml:ns:xmpp-streams"
#define XMPPD_NS_DIALBACK "jabber:server:dialback"
#define XMPPD_NS_DB_FEATURE "urn:xmpp:features:dialback"

#define XMPPD_ID_LEN 32     /* hex digits of a stream id: 128 random bits (S2S-02) */
#define XMPPD_MAX_PAIRS 16  /* dialback domain pairs on one inbound stream */
#define XMPPD_MAX_VERIFY 64 /* db:verify waiting on one outbound stream */
#define XMPPD_CLOSE_LINGER_MS 2000
#define XMPPD_SASL_MAX_FAILURES 2
#define XMPPD_READ_CHUNK 16384

/* Back-pressure on inbound streams (README "Back-pressure"): stanzas read
 * from a stream and not yet handed to the SIP side are held, at most this
 * many (or bytes) per stream; a stream at its bound is not read (EPOLLIN
 * off, the unread input stays in its buffer) until half of them are gone.
 * The process-wide bounds pause every stream that holds stanzas. */
#define XMPPD_HELD_MAX 64
#define XMPPD_HELD_BYTES_MAX ((size_t)512 * 1024)
#define XMPPD_HELD_ALL_MAX 16384
#define XMPPD_HELD_ALL_BYTES_MAX ((size_t)64 * 1024 * 1024)
/* Fewest bytes a stanza that is held can take on the wire
 * ("<presence to='a@b' from='c'/>" is 29): how far the reader may run
 * ahead when a stream has room for few more stanzas. */
#define XMPPD_STANZA_MIN_BYTES 24

/* What an epoll registration points at: every watched object starts with
 * one of these. */
typedef enum {
    XW_CONN = 1,
    XW_LISTEN,
    XW_LISTEN_TLS,
    XW_RT,
    XW_CERTS,
    XW_DNS,
    XW_COMP,
} xwatch_kind_t;

typedef struct {
    int kind;
    int fd;
} xwatch_t;

#define XMPPD_MAX_DNS_FDS 32

typedef struct xmppd xmppd_t;
typedef struct xconn xconn_t;
typedef struct xsrc xsrc_t;

/* Where inbound stanzas come from (an s2s stream, the component link), for
 * back-pressure: the stanzas it holds, and whether it is read. */
struct xsrc {
    xmppd_t *x;
    size_t held;       /* stanzas waiting for the SIP side (xmpp_deliver.c) */
    size_t held_bytes; /* their packed sizes */
    size_t held_peak;
    bool gated;  /* its stanzas count (an authenticated inbound stream, the link) */
    bool paused; /* not read until its held stanzas go */
    /* It may be read again (called from anywhere, also from inside its own
     * reader callbacks: it only schedules the read). */
    void (*on_resume)(xsrc_t *src);
};
typedef struct xroute xroute_t;
typedef struct xqitem xqitem_t;

typedef enum {
    XCONN_IN = 0,
    XCONN_OUT = 1,
} xconn_dir_t;

/* How a partner lets a stream authenticate (from its sasl/dialback
 * settings, the Lync matrix): PKIX only, PKIX or dialback, dialback only. */
typedef enum {
    XMPPD_AUTH_PKIX_ONLY = 0,
    XMPPD_AUTH_PKIX_OR_DIALBACK = 1,
    XMPPD_AUTH_DIALBACK_ONLY = 2,
} xmppd_auth_mode_t;

/* Transport states of a connection. */
typedef enum {
    XT_CONNECTING = 0, /* outbound TCP connect in progress */
    XT_PLAIN,          /* TCP, no TLS (yet) */
    XT_TLS_HANDSHAKE,  /* SSL_accept / SSL_connect in progress */
    XT_TLS,            /* TLS established */
} xconn_transport_t;

/* Stream states (both directions). */
typedef enum {
    XS_WAIT_HEADER = 0, /* waiting for the peer's stream header */
    XS_OPEN,            /* headers exchanged: negotiating or authenticated */
    XS_CLOSING,         /* we sent our close (or an error); lingering */
} xconn_stream_t;

/* Outbound negotiation steps. */
typedef enum {
    XO_FEATURES = 0, /* waiting for <stream:features/> (1.0) */
    XO_STARTTLS,     /* sent <starttls/>, waiting for <proceed/> */
    XO_SASL,         /* sent <auth mechanism='EXTERNAL'/> */
    XO_DIALBACK,     /* sent <db:result/>, waiting for the verdict */
    XO_READY,        /* authenticated: stanzas flow */
} xout_step_t;

/* One dialback domain pair on an inbound stream (receiving server role). */
typedef struct {
    char remote[XGW_DOMAIN_MAX + 1]; /* originating domain (db:result from) */
    char local[XGW_DOMAIN_MAX + 1];  /* our domain (db:result to) */
    int state;                       /* 0 pending, 1 valid */
} xin_pair_t;

/* One db:verify sent on an outbound stream for an inbound stream. */
typedef struct {
    char remote[XGW_DOMAIN_MAX + 1]; /* originating domain being verified (verify 'to') */
    char local[XGW_DOMAIN_MAX + 1];  /* our receiving domain (verify 'from') */
    char id[XMPPD_ID_LEN + 1];       /* the inbound stream's id */
    char key[XGW_DIALBACK_KEY_HEX + 1];
    uint64_t in_conn; /* inbound connection waiting for the answer */
    int64_t deadline; /* mono ms */
    bool sent;
} xverify_t;

struct xconn {
    xwatch_t w; /* first: the epoll pointer */
    xmppd_t *x;
    uint64_t id;
    xconn_dir_t dir;
    int fd;
    uint32_t events; /* registered epoll events */
    xconn_t *next, *prev;
    xconn_t *dead_next;
    bool dead;
    bool listed_pending; /* on the read-more list */

    /* Transport. */
    xconn_transport_t transport;
    SSL *ssl;
    bool tls_server;          /* SSL_accept side */
    bool tls_after_flush;     /* inbound STARTTLS: handshake once <proceed/> is out */
    bool close_after_flush;   /* close TCP once the buffer is out */
    bool want_write_for_read; /* SSL_read needs the socket writable */
    int64_t tls_deadline;     /* mono ms */
    char peer_ip[XGW_DNS_IP_MAX];
    uint16_t peer_port;
    char *wbuf; /* pending output [woff, wlen) */
    size_t wlen, woff, wcap;
    uint64_t out_queued;  /* bytes ever appended */
    uint64_t out_flushed; /* bytes ever written to the socket */
    uint64_t bytes_in;
    /* Input read but not fed to the XML reader because the stream was
     * paused in the middle of a read (heap, only while it holds bytes). */
    char *pend;
    size_t pend_len, pend_off;
    xsrc_t src; /* back-pressure; src.paused: EPOLLIN removed */

    /* Timers (mono ms; 0 = off). */
    int64_t created;
    int64_t establish_deadline;
    int64_t last_read;
    int64_t last_write;
    int64_t close_deadline;

    /* Stream. */
    xgw_xml_stream_t *xml;
    xconn_stream_t stream;
    bool version1;                      /* the peer spoke version='1.0' */
    char stream_id[XMPPD_ID_LEN + 1];   /* inbound: ours; outbound: the peer's */
    char local[XGW_DOMAIN_MAX + 1];     /* our domain on this stream */
    char remote[XGW_DOMAIN_MAX + 1];    /* the peer's domain ("" while unknown) */
    char lang[XGW_STANZA_LANG_MAX + 1]; /* xml:lang of the peer's header */
    bool header_sent;                   /* our stream header is out */
    bool restart_pending;               /* reset the reader after this feed */
    bool in_feed;                       /* inside xgw_xml_stream_feed */
    bool close_graceful;                /* CLOSING after </stream:stream>: still reading */
    int64_t last_stanza;                /* mono ms: last stanza written (idle close) */
    int64_t cert_expiry;        /* Unix s: the authenticating certificate's notAfter (0: none) */
    const char *fail_condition; /* outbound: why, for the queue's answers */
    uint16_t fail_status;
    uint64_t stanzas_in, stanzas_out;
    const char *auth; /* "none", "sasl", "dialback" (static) */
    bool authenticated;
    bool counted_partner;     /* holds one of remote's partner connection slots */
    const char *close_reason; /* static, for the close log line */

    /* Inbound. */
    bool offered_starttls, offered_external, offered_dialback;
    bool sasl_done;
    int sasl_failures;
    bool sasl_wait_response; /* sent an empty challenge */
    bool ip_counted;         /* counted in the per-IP unauthenticated cap */
    xin_pair_t pairs[XMPPD_MAX_PAIRS];
    size_t n_pairs;

    /* Outbound. */
    xroute_t *route;
    xout_step_t step;
    bool direct_tls;
    bool peer_cert_valid;
    bool feat_starttls, feat_starttls_required, feat_external, feat_dialback;
    bool tried_external;
    bool was_ready;    /* reached XO_READY once */
    bool verify_ready; /* db:verify may be sent (negotiation settled) */
    bool tcp_failed;   /* the TCP connect failed: try the next candidate */
    char peer_id[128]; /* the stream id the peer gave us (dialback) */
};

/* A stanza for a remote domain, and the request that waits for it. */
struct xqitem {
    xqitem_t *next;
    xgw_request_t *req; /* NULL for stanzas the edge makes itself (answers) */
    const char *kind;   /* "message", "presence", "iq" (static; metrics) */
    char *xml;
    size_t len;
    uint64_t mark; /* out_queued after it was appended (in flight) */
    int64_t deadline;
};

/* The outbound stream state for one (local domain, remote domain) pair. */
struct xroute {
    xmppd_t *x;
    char key[2 * XGW_DOMAIN_MAX + 2]; /* "local|remote" */
    char local[XGW_DOMAIN_MAX + 1];
    char remote[XGW_DOMAIN_MAX + 1];
    uint32_t partner_id;
    xconn_t *conn;             /* the outbound stream, NULL while none */
    xqitem_t *q_head, *q_tail; /* waiting for the stream */
    size_t q_len;
    xqitem_t *f_head, *f_tail; /* written, waiting for the socket flush */
    uint64_t dns_id;           /* lookup in progress, 0 when none */
    xgw_dns_candidate_t *cands;
    size_t n_cands, next_cand;
    int64_t setup_deadline;
    bool failing;      /* inside a failure: do not start again */
    bool pumping;      /* inside s_pump: no nested pump */
    bool limit_hit;    /* a connect was refused by the partner connection limit */
    xverify_t *verify; /* db:verify for inbound streams (receiving role) */
    size_t n_verify, cap_verify;
    xgw_series_t *m_depth;
    size_t depth_reported; /* q_len last added to m_depth */
};

typedef struct {
    xgw_family_t *streams;       /* gauge {direction,auth} */
    xgw_family_t *streams_total; /* counter {direction,auth} authenticated */
    xgw_family_t *stanzas;       /* counter {direction,kind} */
    xgw_family_t *stream_errors; /* counter {side,condition} */
    xgw_family_t *tls;           /* counter {direction,result} */
    xgw_family_t *dns;           /* counter {result} */
    xgw_family_t *bytes;         /* counter {direction} */
    xgw_family_t *queue;         /* gauge {partner} */
    xgw_family_t *dialback;      /* counter {role,result} */
    xgw_family_t *refused;       /* counter {reason} */
    xgw_family_t *deliver;       /* counter {result} */
    xgw_series_t *bytes_in, *bytes_out;
    xgw_series_t *held, *held_bytes, *held_peak, *stream_held_peak;
    xgw_series_t *paused, *pauses;
    /* Series bumped per stanza, looked up once (xmet_init). */
    xgw_series_t *stanza_series[2][5]; /* [in, out][message, presence, iq, refused, other] */
    xgw_series_t *handed, *delivered;
} xmppd_metrics_t;

struct xmppd {
    xgw_daemon_t *daemon;
    const xgw_settings_t *settings;
    xgw_edge_rt_t *rt;
    xgw_cert_client_t *certs;
    xgw_tls_t *tls;
    xgw_dns_t *dns;
    int ep; /* epoll */
    xgw_strv_t served;
    xgw_xml_limits_t limits;
    xgw_arena_t *arena; /* per-stanza scratch */
    xgw_xml_writer_t w; /* scratch writer */
    uint64_t next_id;
    uint64_t out_counter;

    xwatch_t listen_w;
    xwatch_t tls_listen_w;
    xwatch_t rt_w[XGW_EDGE_RT_MAX_FDS];
    xwatch_t cert_w[4];
    xwatch_t dns_w[XMPPD_MAX_DNS_FDS];
    bool draining;

    xconn_t *conns; /* every live connection */
    size_t n_conns;
    size_t n_in, n_out;
    xconn_t *dead;  /* to free at the end of the turn */
    xconn_t **more; /* connections with input left (TLS buffers, unpaused) */
    size_t n_more, cap_more;
    char rbuf[XMPPD_READ_CHUNK]; /* every connection reads into it */
    size_t n_paused;             /* inbound streams not read (back-pressure) */
    xsrc_t *link_src;            /* component mode: the link's source */
    struct xcomp *comp;          /* component mode (xmpp_component.c), else NULL */
    bool held_over;              /* the process-wide held bound was reached */

    xgw_strmap_t *routes;      /* "local|remote" -> xroute_t* */
    struct xdel *del;          /* xmpp_deliver.c state */
    xgw_strmap_t *partner_use; /* remote domain -> connection count (uintptr_t) */
    xgw_strmap_t *ip_use;      /* peer IP -> unauthenticated inbound count */

    xmppd_metrics_t m;
};

/* ---- xmppd_main.c ---- */
int64_t xmppd_now(void); /* monotonic ms */
/* Registers / changes / removes fd in the epoll set; ptr is what the loop
 * gets back (an xconn_t, or a marker for the other kinds). */
int xmppd_epoll_add(xmppd_t *x, int fd, uint32_t events, void *ptr);
int xmppd_epoll_mod(xmppd_t *x, int fd, uint32_t events, void *ptr);
void xmppd_epoll_del(xmppd_t *x, int fd);
bool xmppd_serves(const xmppd_t *x, const char *domain);
/* The rule set, or NULL before the first snapshot (fail closed). */
const xgw_rules_t *xmppd_rules(xmppd_t *x);
/* The partner for domain, NULL when it is unknown or denied (why says
 * which: "unknown-partner", "denied", "no-rules"). */
const xgw_partner_t *xmppd_partner(xmppd_t *x, const char *domain, const char **why);
xmppd_auth_mode_t xmppd_auth_mode(const xgw_partner_t *p);
const xgw_gateway_t *xmppd_gateway(xmppd_t *x);
const xgw_dialback_ring_t *xmppd_ring(xmppd_t *x);
X509_STORE *xmppd_trust(xmppd_t *x);
void xmppd_random_id(char out[XMPPD_ID_LEN + 1]);
/* Queues a stanza the edge makes itself (bounces, answers) from local to
 * remote: on the s2s route, or on the component link in component mode.
 * xml is copied. */
void xmppd_send_raw(xmppd_t *x, const char *local, const char *remote, const char *xml, size_t len);
/* Extracts the domain of a JID ("a@b/c" -> "b"), lower-cased, into out
 * (XGW_DOMAIN_MAX+1). Returns 0 or XGW_EINVAL when empty or too long. */
int xmppd_jid_domain(const char *jid, char *out, size_t outlen);

/* ---- xmpp_listen.c ---- */
/* Binds the listeners of the settings (SO_REUSEPORT). Returns 0 or a
 * negative code (logged). */
int xmpp_listen_start(xmppd_t *x);
void xmpp_listen_stop(xmppd_t *x);
/* Accepts what waits on listener fd (direct_tls: XEP-0368 listener). */
void xmpp_listen_accept(xmppd_t *x, int fd, bool direct_tls);

/* ---- xmpp_conn.c ---- */
xconn_t *xconn_new(xmppd_t *x, xconn_dir_t dir, int fd);
/* Drives one epoll event. */
void xconn_event(xconn_t *c, uint32_t events);
/* Reads what TLS buffered, or what arrived while reading was paused. */
void xconn_read_more(xconn_t *c);
/* Appends bytes to the output buffer and starts writing. Returns 0, or
 * XGW_ETOOBIG when the buffer bound is reached (the connection is then
 * closed: a peer that does not read is dead to us). */
int xconn_write(xconn_t *c, const char *data, size_t len);
int xconn_write_str(xconn_t *c, const char *s);
/* Bytes waiting to be written. */
size_t xconn_pending(const xconn_t *c);
/* Starts TLS on the connection (server: SSL_accept; client: SSL_connect
 * with SNI = sni, ALPN xmpp-server when alpn). With preamble (inbound
 * STARTTLS: "<proceed/>"), the preamble is written in the clear first and
 * the handshake starts right after its last byte. Returns 0 or a negative
 * code (nothing changed). */
int xconn_tls_start(xconn_t *c, SSL_CTX *ctx, bool server, const char *sni, bool alpn,
                    const char *preamble);
/* Sends a stream error and closes: <stream:error><condition/>[text]
 * </stream:error></stream:stream>. With need_header, a stream header is
 * written first (errors before the header exchange, RFC 6120 4.9.1.2). */
void xconn_stream_error(xconn_t *c, const char *condition, const char *text);
/* Sends </stream:stream> and closes after a short linger. */
void xconn_close_stream(xconn_t *c, const char *reason);
/* Closes at once (TLS handshake failure, EOF, I/O error): no closing tag. */
void xconn_abort(xconn_t *c, const char *reason);
/* Resets the XML reader for a stream restart. Returns 0 or XGW_ENOMEM. */
int xconn_restart(xconn_t *c);
/* Sets the epoll interest from the state. */
void xconn_update_events(xconn_t *c);
/* Timers: closes streams past their deadlines, sends keepalives. */
void xconn_timers(xmppd_t *x, int64_t now);
/* Frees the dead connections (end of a loop turn). */
void xmppd_reap(xmppd_t *x);
xconn_t *xconn_find(xmppd_t *x, uint64_t id);
/* Writes the stream header (ours), with a fresh id for inbound. */
void xconn_send_header(xconn_t *c, const char *from, const char *to, bool with_version);
/* Stream error from a parser refusal. */
void xconn_parser_error(xconn_t *c);
/* The stream authenticated (first time: the setup deadline and the per-IP
 * slot go, the gauge moves to auth). */
void xconn_mark_authenticated(xconn_t *c, const char *auth);
/* Changes which auth method the stream counts under in the gauge. */
void xconn_set_auth(xconn_t *c, const char *auth);
/* Judges the TLS peer's certificate against domain. Returns 1 when it is
 * valid, 0 otherwise (reason in why). */
int xconn_peer_cert_valid(xconn_t *c, const char *domain, char *why, size_t whylen);
/* Per-partner connection accounting: takes a slot for remote; returns false
 * when the partner's limit is reached. */
bool xconn_partner_take(xconn_t *c, const char *remote);

/* ---- xmpp_in.c (inbound stream: receiving and authoritative server) ---- */
void xin_on_open(xconn_t *c, const xgw_xml_node_t *header);
void xin_on_stanza(xconn_t *c, const xgw_xml_node_t *el);
void xin_tls_done(xconn_t *c);
/* The authoritative server answered our db:verify for this inbound stream:
 * result 1 valid, 0 invalid, negative: error (condition for the
 * db:result type='error'). */
void xin_verify_result(xmppd_t *x, uint64_t in_conn, const char *remote, const char *local,
                       int result, const char *condition);

/* ---- xmpp_out.c (outbound stream: originating server) ---- */
/* Starts an outbound connection for route to candidate cand. Returns the
 * connection or NULL (route told). */
xconn_t *xout_connect(xroute_t *r, const xgw_dns_candidate_t *cand);
void xout_connected(xconn_t *c);
void xout_on_open(xconn_t *c, const xgw_xml_node_t *header);
void xout_on_stanza(xconn_t *c, const xgw_xml_node_t *el);
void xout_tls_done(xconn_t *c);
/* Negotiation is settled (TLS done or not wanted): send waiting db:verify
 * and authenticate (SASL EXTERNAL or dialback). */
void xout_authenticate(xconn_t *c);
/* Sends the db:verify entries that wait, once the stream can carry them. */
void xout_flush_verify(xconn_t *c);

/* ---- xmpp_route.c ---- */
int xroute_init(xmppd_t *x);
void xroute_fini(xmppd_t *x);
/* Held Deliver from the SIP side. */
void xroute_on_deliver(xmppd_t *x, xgw_request_t **req_p, const Xgw__V1__Deliver *d);
/* Queues a stanza the edge makes itself (iq answers, bounces) for the
 * stream local -> remote. xml is copied. */
void xroute_send_raw(xmppd_t *x, const char *local, const char *remote, const char *xml,
                     size_t len);
/* Asks remote's authoritative server whether key is valid for the inbound
 * stream in_conn (receiving server role). Returns 0, or a negative code
 * (answer the initiator with an error). */
int xroute_verify(xmppd_t *x, const char *local, const char *remote, const char *stream_id,
                  const char *key, uint64_t in_conn);
/* The route's stream is authenticated: write the queue. */
void xroute_ready(xroute_t *r);
/* The route's stream wrote bytes up to out_flushed: answer what is out. */
void xroute_flushed(xroute_t *r, uint64_t flushed);
/* The route's stream ended (c is dead). condition: why (for the queue's
 * failure answers) or NULL when it closed cleanly after use. */
void xroute_conn_closed(xroute_t *r, xconn_t *c, const char *condition, uint16_t status);
/* Setup steps past their deadline; stanzas past theirs. */
void xroute_timers(xmppd_t *x, int64_t now);
/* Drain: fail what cannot be delivered any more; true when nothing is held. */
bool xroute_idle(xmppd_t *x);
void xroute_fail_all(xmppd_t *x, const char *condition, uint16_t status);
/* The conn a route to remote would use: to add a db:verify to it. */
xroute_t *xroute_get(xmppd_t *x, const char *local, const char *remote, bool create);

/* ---- xmpp_dialback.c ---- */
/* Authoritative server: answer <db:verify/> received on an inbound stream. */
void xdb_answer_verify(xconn_t *c, const xgw_xml_node_t *el);
/* Originating server: our key for (receiving=remote, originating=local,
 * id). Returns 0 or XGW_ENOENT (no keyring yet). */
int xdb_key(xmppd_t *x, const char *remote, const char *local, const char *id,
            char out[XGW_DIALBACK_KEY_HEX + 1]);
/* Writes <db:result from=local to=remote type=...> (valid, invalid) or the
 * error form with condition. */
void xdb_send_result(xconn_t *c, const char *local, const char *remote, const char *type,
                     const char *condition);
/* Answers an outbound stream's <db:verify type=.../>. */
void xdb_on_verify_answer(xconn_t *c, const xgw_xml_node_t *el);

/* ---- xmpp_deliver.c (inbound stanzas to the SIP side) ---- */
int xdel_init(xmppd_t *x);
void xdel_fini(xmppd_t *x);
/* A stanza xgw_stanza_inbound said to deliver, read from src (NULL: not
 * from a source that can be paused): policy, then the hand-off, one at a
 * time per conversation (bare from, bare to). It is held (counted on src)
 * until it is handed over; it is never bounced because the SIP side is
 * slow. */
void xdel_inbound(xmppd_t *x, xsrc_t *src, const xgw_stanza_in_t *in);
/* Hands over what waited for room at the broker client (call after the
 * runtime processed answers). */
void xdel_pump(xmppd_t *x);

/* Back-pressure on a source (xmpp_deliver.c). Before feeding input to the
 * reader: how many of len bytes at data to feed now, cut so that they
 * cannot complete more stanzas than src may still hold (all of len for a
 * source that is not gated); 0 means stop reading: call xsrc_pause and
 * keep the input. */
size_t xsrc_feed_len(const xsrc_t *src, const char *data, size_t len);
/* True when src has reached its bound (read no more before its stanzas
 * go). */
bool xsrc_full(const xsrc_t *src);
void xsrc_pause(xsrc_t *src);
/* src goes away: a paused count is dropped, its held stanzas stay queued
 * and are no longer counted on it. */
void xsrc_gone(xsrc_t *src);
/* Stanzas held (not handed over yet) in the whole process, and bytes. */
size_t xdel_held(const xmppd_t *x);
size_t xdel_held_bytes(const xmppd_t *x);
/* Nothing waits for a decision or the SIP side. */
bool xdel_idle(const xmppd_t *x);

/* ---- xmpp_component.c (xmppd.mode = component) ---- */
/* Creates the XEP-0114 link from the settings and starts connecting.
 * Returns 0, or XGW_EINVAL / XGW_ENOMEM (logged as config_invalid). */
int xcomp_setup(xmppd_t *x);
/* Answers what waits (503) and closes the link. */
void xcomp_fini(xmppd_t *x);
/* The link's socket is ready (epoll events). */
void xcomp_event(xmppd_t *x, uint32_t events);
/* Link timers (connect, reconnect backoff, keepalive); ms until the next. */
int64_t xcomp_tick(xmppd_t *x);
/* Once per loop turn: feeds input kept while paused, answers what the
 * socket took, keeps the epoll interest right. */
void xcomp_turn(xmppd_t *x);
/* A Deliver from the SIP side: written on the link, answered 200 once
 * flushed, 503 when the link is down or full. */
void xcomp_on_deliver(xmppd_t *x, xgw_request_t **req_p, const Xgw__V1__Deliver *d);
/* A stanza the edge makes itself (bounce, iq answer); dropped (logged)
 * when the link cannot take it. xml is copied. */
void xcomp_send_raw(xmppd_t *x, const char *xml, size_t len);
/* No Deliver waits for the socket. */
bool xcomp_idle(const xmppd_t *x);
/* Input kept while paused may be fed now (do not sleep in epoll). */
bool xcomp_has_input(const xmppd_t *x);
/* Answers 503 to everything that waits (drain deadline). */
void xcomp_fail_all(xmppd_t *x, const char *text);

/* ---- xmpp_metrics.c ---- */
void xmet_init(xmppd_t *x);
void xmet_stream(xmppd_t *x, const char *direction, const char *auth, int delta);
void xmet_authenticated(xmppd_t *x, const char *direction, const char *auth);
void xmet_stanza(xmppd_t *x, const char *direction, const char *kind);
void xmet_stream_error(xmppd_t *x, const char *side, const char *condition);
void xmet_tls(xmppd_t *x, const char *direction, const char *result);
void xmet_dns(xmppd_t *x, const char *result);
void xmet_dialback(xmppd_t *x, const char *role, const char *result);
void xmet_refused(xmppd_t *x, const char *reason);
void xmet_deliver(xmppd_t *x, const char *result);
/* Back-pressure gauges: held stanzas/bytes (and their peaks), streams
 * paused. */
void xmet_held(xmppd_t *x);
xgw_series_t *xmet_queue_series(xmppd_t *x, uint32_t partner_id);

#endif
