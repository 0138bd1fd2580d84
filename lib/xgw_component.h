/*
 * xgw_component.h - the XEP-0114 component link: xgw-xmppd's alternative to
 * native s2s for sites that already run Prosody or ejabberd. The XMPP
 * server federates (TLS, SASL, dialback, DNS, certificates are its job);
 * the gateway is one of its components and exchanges stanzas with it over
 * a single link.
 *
 * Why not libstrophe's xmpp_connect_component, as first planned: Debian's
 * libstrophe 0.12.2 (with Debian's expat 2.5.0) crashes with SIGSEGV inside
 * its parser callback when the server answers the handshake with a stream
 * error (a wrong secret) - reproduced against Prosody 0.12 - and a daemon
 * must not die on a configuration mistake of its peer. The handshake is
 * small, so the link runs on our own stream reader (xgw_xml, the same one
 * the s2s streams use, with the same limits), over a non-blocking socket.
 *
 * The link is cleartext by the XEP's design, so it belongs on loopback or
 * inside a tunnel. The shared secret is read from a file and never logged;
 * the file is read again before every connection attempt, so an operator
 * who fixes a wrong secret needs no restart (a file that cannot be read
 * then keeps the secret read before, and says so in the log).
 *
 * Back-pressure: with a feed limit (xgw_component_set_feed_limit) the owner
 * decides, piece by piece, how much of the input read from the socket goes
 * to the reader;
 * what it does not take stays in the link's buffer and the socket is not
 * read (xgw_component_want_read() false, TCP pushes back on the server)
 * until xgw_component_resume.
 *
 * Event loop: watch xgw_component_fd() for input, and for output while
 * xgw_component_want_write(); call xgw_component_io after it is ready and
 * xgw_component_tick as often as it asks (connect deadline, reconnect
 * backoff, whitespace keepalive). The fd changes on reconnect: on_fd tells.
 * Single-threaded.
 */
#ifndef XGW_COMPONENT_H
#define XGW_COMPONENT_H

#include "xgw_xml.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct xgw_component xgw_component_t;

typedef struct {
    const char *server;      /* IPv4/IPv6 address of the XMPP server */
    unsigned short port;     /* its component port (Prosody: 5347) */
    const char *jid;         /* the component's domain, e.g. "sip.example.net" */
    const char *secret_file; /* file holding the shared secret (first line) */
    size_t max_queue;        /* bytes waiting for the socket before
                                xgw_component_send refuses (back-pressure) */
    size_t max_stanza;       /* largest stanza accepted from the server */
    int64_t keepalive_ms;    /* whitespace ping interval, 0 = none */
} xgw_component_opts_t;

typedef struct {
    /* The link came up (handshake accepted) or went down (why says so). */
    void (*on_state)(void *ud, bool up, const char *why);
    /* One stanza from the server (its namespace is jabber:component:accept).
     * The tree is valid during the call only. */
    void (*on_stanza)(void *ud, const xgw_xml_node_t *stanza);
    /* A new socket replaced the old one (old_fd -1 on the first connect,
     * new_fd -1 when the link is down): move the watch. */
    void (*on_fd)(void *ud, int old_fd, int new_fd);
} xgw_component_cbs_t;

/* Reads the secret and prepares the link (does not connect yet). Returns
 * NULL on failure with the reason in err (an unreadable or empty secret
 * file, a server that is not an address, allocation failure). The caller
 * owns the link. */
xgw_component_t *xgw_component_new(const xgw_component_opts_t *opts, const xgw_component_cbs_t *cbs,
                                   void *ud, char *err, size_t errlen);

/* Closes the socket and frees; the secret is wiped. Nulls *self_p.
 * Idempotent. */
void xgw_component_destroy(xgw_component_t **self_p);

/* Back-pressure (optional; without it everything read is fed): fn says
 * how many of the len > 0 bytes of input at data the reader gets now (with
 * the callbacks' ud); the rest stays buffered. 0 pauses the input until
 * xgw_component_resume. Called before every piece, also between the
 * stanzas of one read. */
typedef size_t (*xgw_component_feed_fn)(void *ud, const char *data, size_t len);
void xgw_component_set_feed_limit(xgw_component_t *self, xgw_component_feed_fn fn);

/* Starts connecting; after any failure it reconnects with a backoff of
 * 0.5 s doubling to 30 s, driven by xgw_component_tick. Returns 0. */
int xgw_component_start(xgw_component_t *self);

/* The socket (-1 while there is none) and whether to watch it for output. */
int xgw_component_fd(const xgw_component_t *self);
bool xgw_component_want_write(const xgw_component_t *self);

/* Reads and writes what the socket allows, without blocking; feeds input
 * kept from earlier reads first (call it with readable false to feed only
 * that, after xgw_component_resume). */
void xgw_component_io(xgw_component_t *self, bool readable, bool writable);

/* Input may be fed again after feed_limit said 0. Only marks it: may be
 * called from inside any callback; the kept input is fed by the next
 * xgw_component_io. */
void xgw_component_resume(xgw_component_t *self);

/* Whether to watch the socket for input (false while paused), and whether
 * input kept from an earlier read waits to be fed (not paused: call
 * xgw_component_io). */
bool xgw_component_want_read(const xgw_component_t *self);
bool xgw_component_has_input(const xgw_component_t *self);

/* Why the link went down last, as a short static token for metrics:
 * "connect" (TCP connect failed), "refused" (the server answered the
 * handshake with a stream error: a wrong secret or an unknown component
 * name), "timeout" (no handshake answer in time), "closed" (the server
 * ended the stream or the TCP connection), "io" (read/write error),
 * "protocol" (the server's XML was refused), "" before any failure. */
const char *xgw_component_down_reason(const xgw_component_t *self);

/* The condition of the stream error the server sent last ("not-authorized";
 * "" when none). Static or internal storage, valid until the next call. */
const char *xgw_component_down_condition(const xgw_component_t *self);

/* Deadlines, reconnects, keepalives; returns ms until it next wants to
 * run. */
int64_t xgw_component_tick(xgw_component_t *self);

/* Queues one serialized stanza for the server. Returns 0, XGW_ENOTCONN
 * while the link is down, XGW_EAGAIN when max_queue bytes are already
 * waiting (stop taking input until it drains). The stanza has reached the
 * socket once stats.bytes_out >= the stats.bytes_out + queued() read right
 * after this call returned 0. */
int xgw_component_send(xgw_component_t *self, const char *xml, size_t len);

/* True while the handshake is done and the link is up. */
bool xgw_component_up(const xgw_component_t *self);

/* Bytes waiting for the socket. */
size_t xgw_component_queued(const xgw_component_t *self);

/* Counters since creation. */
typedef struct {
    uint64_t connects;   /* accepted handshakes */
    uint64_t failures;   /* failed attempts and lost links */
    uint64_t stanzas_in; /* stanzas received */
    uint64_t stanzas_out;
    uint64_t bytes_in;
    uint64_t bytes_out;
} xgw_component_stats_t;
void xgw_component_stats(const xgw_component_t *self, xgw_component_stats_t *out);

#endif
