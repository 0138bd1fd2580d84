/*
 * xgw_dns.h - the non-blocking resolver of the XMPP edge, on c-ares.
 *
 * It answers one question: "where do I connect to reach the XMPP server of
 * DOMAIN?" (RFC 6120 §3.2, XEP-0368, checklist S2S-01), or, for a partner
 * with a static route (proxy_fqdn), "what are the addresses of HOST?". The
 * answer is an ordered list of candidates (address, port, direct TLS or
 * STARTTLS) that the edge tries one after the other; connecting is the edge's
 * job, not this module's.
 *
 * Rules implemented (the decision is xgw_dns_srv_plan, a pure function):
 *  - both `_xmpps-server._tcp.D` (direct TLS) and `_xmpp-server._tcp.D`
 *    (STARTTLS) are asked; their records are merged and ordered as one set
 *    by RFC 2782 (priority, then weighted random), as XEP-0368 §3 asks
 *    (SHOULD). XEP-0368 lets an implementation prefer one kind: opts.prefer
 *    does that, inside a priority only.
 *  - a service whose only record has the target "." is decidedly not
 *    offered (RFC 2782). xmpps "." leaves the xmpp records; both "." (or
 *    "." and no records) gives XGW_ENOENT and never an A/AAAA fallback
 *    (XEP-0368 §5).
 *  - A/AAAA of D on port 5269 (STARTTLS) only when BOTH services had no
 *    SRV answer at all: NXDOMAIN or NODATA.
 *  - SERVFAIL, REFUSED, connection refused or a timeout is not "no
 *    answer": it is an error (XGW_EIO, XGW_ETIMEDOUT) and never leads to
 *    the A/AAAA fallback, because the missing answer may have held records
 *    or a "." that forbid it. Prosody (libunbound) behaves the same way
 *    (testbed-notes.md). When one service failed but the other gave
 *    records, those records are used: a partial but certain answer beats
 *    none.
 *  - when SRV records exist but none of their targets resolves, the result
 *    is an error too (never the A fallback). The edge must likewise never
 *    fall back to A/AAAA when every SRV candidate fails to connect.
 *
 * Event loop (single thread, no blocking call): c-ares reports each socket
 * it opens, changes or closes through opts.sock_cb (ARES_OPT_SOCK_STATE_CB),
 * which maps directly onto epoll_ctl ADD/MOD/DEL. The loop calls
 * xgw_dns_process(fd, readable, writable) when a watched fd is ready, and
 * waits at most xgw_dns_timeout_ms(); when that time has passed it calls
 * xgw_dns_tick(). sock_cb can run inside any xgw_dns_* call (a query opens
 * its socket when it is sent) and must not call back into this object.
 * xgw_dns_fds/xgw_dns_wait are a poll()-style alternative for tools and
 * tests.
 *
 * Result callbacks are never called from inside xgw_dns_resolve_*: even an
 * answer known at once (an IP literal, a name in /etc/hosts) is delivered
 * from the next xgw_dns_process/xgw_dns_tick, so the caller can store the
 * lookup id before its callback runs. xgw_dns_timeout_ms() returns 0 while
 * a delivery waits.
 *
 * Time: each DNS query gets opts.timeout_ms per try and opts.tries tries
 * (c-ares doubles the per-try timeout on each round over the servers); the
 * whole lookup (SRV, then A/AAAA of every target) has opts.lookup_timeout_ms.
 * At that deadline the callback gets the candidates found so far (targets in
 * order whose addresses are known), or XGW_ETIMEDOUT if there are none.
 *
 * Cancellation: xgw_dns_cancel(id) drops a lookup; its callback is never
 * called. xgw_dns_destroy does the same for every pending lookup (no
 * callback at all), so the owner of a pending lookup's ud releases it
 * itself. DNS queries already on the wire finish in the background (c-ares
 * cannot cancel one query) and are counted against opts.max_pending until
 * they do.
 *
 * /etc/hosts is consulted before DNS for A/AAAA (c-ares lookups "fb"),
 * unless opts.no_hosts; SRV comes from DNS only. Search domains from
 * resolv.conf are never appended: every name is absolute.
 */
#ifndef XGW_DNS_H
#define XGW_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define XGW_DNS_NAME_MAX 254 /* a DNS name (253) + NUL */
#define XGW_DNS_IP_MAX 46    /* INET6_ADDRSTRLEN */
#define XGW_DNS_XMPP_PORT 5269
#define XGW_DNS_MAX_SRV 32        /* SRV records kept per service (first ones in the answer) */
#define XGW_DNS_MAX_CANDIDATES 64 /* upper bound of opts.max_candidates */
#define XGW_DNS_MAX_SERVERS 8

/* Positive return of xgw_dns_srv_plan: no SRV at all, use A/AAAA:5269. */
#define XGW_DNS_FALLBACK 1

typedef struct xgw_dns xgw_dns_t;

typedef enum {
    XGW_DNS_PREFER_NONE = 0,       /* mix xmpps and xmpp records (XEP-0368 SHOULD) */
    XGW_DNS_PREFER_DIRECT_TLS = 1, /* within a priority, xmpps records first */
    XGW_DNS_PREFER_STARTTLS = 2,   /* within a priority, xmpp records first */
} xgw_dns_prefer_t;

typedef enum {
    XGW_DNS_SRC_SRV = 0,      /* from SRV records */
    XGW_DNS_SRC_FALLBACK = 1, /* no SRV: A/AAAA of the domain on 5269 */
    XGW_DNS_SRC_STATIC = 2,   /* xgw_dns_resolve_host (a static route) */
    XGW_DNS_SRC_LITERAL = 3,  /* the domain is an IP literal */
} xgw_dns_source_t;

/* One SRV record, as used by the pure functions below. */
typedef struct {
    char target[XGW_DNS_NAME_MAX]; /* lower case, no trailing dot; "" or "." = the root */
    uint16_t priority;
    uint16_t weight;
    uint16_t port;
    bool direct_tls; /* from _xmpps-server */
} xgw_dns_srv_t;

/* The outcome of one SRV query. */
typedef struct {
    int status; /* 0: records below; XGW_ENOENT: NXDOMAIN or NODATA; XGW_ETIMEDOUT; XGW_EIO */
    const xgw_dns_srv_t *records;
    size_t count;
} xgw_dns_srv_answer_t;

/* One place to connect to. TLS (SNI, certificate checks) is about the
 * XMPP domain (result->domain, CRT-01), never about host. */
typedef struct {
    char host[XGW_DNS_NAME_MAX]; /* SRV target; the domain on fallback; the route host */
    char ip[XGW_DNS_IP_MAX];     /* numeric address, for logs */
    uint16_t port;
    bool direct_tls; /* true: TLS at connect (xmpps); false: STARTTLS */
    uint16_t priority;
    uint16_t weight;
    int family;                   /* AF_INET or AF_INET6 */
    struct sockaddr_storage addr; /* ip and port, ready for connect() */
    socklen_t addrlen;
} xgw_dns_candidate_t;

typedef struct {
    int status;         /* 0 (count >= 1) or XGW_ENOENT / XGW_ETIMEDOUT / XGW_EIO / XGW_ENOMEM */
    const char *domain; /* as asked (normalised); for resolve_host the host */
    xgw_dns_source_t source;
    const xgw_dns_candidate_t *candidates; /* in the order to try */
    size_t count;
} xgw_dns_result_t;

/* The answer of one lookup; result and everything it points to are valid only
 * during the call. The callback may start or cancel lookups; it must not
 * call xgw_dns_process, xgw_dns_tick, xgw_dns_wait or xgw_dns_destroy. */
typedef void (*xgw_dns_cb)(void *ud, uint64_t id, const xgw_dns_result_t *result);

/* c-ares wants fd watched for reading and/or writing; both false: stop
 * watching it (it is about to be closed). */
typedef void (*xgw_dns_sock_cb)(void *ud, int fd, bool readable, bool writable);

typedef struct {
    /* "127.0.0.53:5353,[::1]:53": IP addresses with optional port (default
     * 53). NULL or "": the servers of /etc/resolv.conf. Tests always pass
     * one, so DNS never leaves the machine. */
    const char *servers;
    int timeout_ms;          /* per try; 0: 2000 */
    int tries;               /* 0: 2 */
    int lookup_timeout_ms;   /* whole lookup; 0: 10000 */
    size_t max_candidates;   /* per lookup; 0: 16; at most XGW_DNS_MAX_CANDIDATES */
    size_t max_pending;      /* lookups held (including detached ones); 0: 1024 */
    int family;              /* AF_UNSPEC (0), AF_INET or AF_INET6 */
    xgw_dns_prefer_t prefer; /* see the top of this file */
    bool no_hosts;           /* do not read /etc/hosts */
    uint64_t rng_seed;       /* SRV weight selection; 0: from getrandom() */
    xgw_dns_sock_cb sock_cb; /* optional; see the top of this file */
    void *sock_ud;
} xgw_dns_opts_t;

/* Counters since xgw_dns_new, for the edge's metrics. Every accepted lookup
 * ends in exactly one of ok, nxdomain, servfail, timeout, other, cancelled. */
typedef struct {
    uint64_t lookups;   /* accepted xgw_dns_resolve_* calls */
    uint64_t ok;        /* delivered with candidates */
    uint64_t nxdomain;  /* XGW_ENOENT: no such domain, no service, "." */
    uint64_t servfail;  /* XGW_EIO: SERVFAIL, REFUSED, connection refused, bad answer */
    uint64_t timeout;   /* XGW_ETIMEDOUT */
    uint64_t other;     /* XGW_ENOMEM and the like */
    uint64_t cancelled; /* xgw_dns_cancel before delivery */
    uint64_t rejected;  /* refused at opts.max_pending */
    uint64_t fallback;  /* delivered lookups that took the A/AAAA fallback */
    uint64_t queries;   /* DNS questions started (SRV queries, address lookups) */
    uint64_t pending;   /* gauge: lookups held now */
} xgw_dns_stats_t;

/* Checks opts (the server list above all) without creating anything, so
 * that a config loader can reject a bad value with a clear message. Returns 0
 * or XGW_EINVAL with a message in err. */
int xgw_dns_opts_check(const xgw_dns_opts_t *opts, char *err, size_t err_size);

/* Creates a resolver. opts may be NULL (all defaults); it is copied (the
 * servers string too). Returns NULL when opts are invalid (see
 * xgw_dns_opts_check) or c-ares cannot start; the caller owns the resolver
 * and frees it with xgw_dns_destroy. */
xgw_dns_t *xgw_dns_new(const xgw_dns_opts_t *opts);

/* Drops every pending lookup without calling its callback, closes the
 * sockets (sock_cb is told about each, with false/false) and frees the
 * resolver; nulls *self_p. Idempotent. Must not be called from a callback. */
void xgw_dns_destroy(xgw_dns_t **self_p);

/* Starts resolving the s2s candidates of domain (an XMPP domainpart in
 * A-labels; a trailing dot is ignored; an IPv4 or [IPv6] literal gives
 * itself on 5269). cb(ud, id, result) is called exactly once, later, unless
 * the lookup is cancelled. Sets *id (may be NULL) to the lookup's id (never
 * 0). Returns 0, XGW_EINVAL for a malformed domain, XGW_EAGAIN when
 * opts.max_pending lookups are held (try later or fail the request), or
 * XGW_ENOMEM. On error cb is never called. */
int xgw_dns_resolve_xmpp(xgw_dns_t *self, const char *domain, xgw_dns_cb cb, void *ud,
                         uint64_t *id);

/* Starts resolving host (a name or an IP literal; see
 * xgw_dns_parse_hostport for "host:port" strings) for a static route: its
 * A/AAAA records on port, each candidate marked direct_tls as given, no SRV.
 * Same contract as xgw_dns_resolve_xmpp. */
int xgw_dns_resolve_host(xgw_dns_t *self, const char *host, uint16_t port, bool direct_tls,
                         xgw_dns_cb cb, void *ud, uint64_t *id);

/* Cancels lookup id: its callback will not be called. Returns 0, or
 * XGW_ENOENT when no such lookup waits (already delivered or unknown). */
int xgw_dns_cancel(xgw_dns_t *self, uint64_t id);

/* Handles readiness of fd (one reported through sock_cb or xgw_dns_fds) and
 * delivers the results that are ready. readable: EPOLLIN, EPOLLERR or
 * EPOLLHUP (c-ares learns of errors by reading); writable: EPOLLOUT. */
void xgw_dns_process(xgw_dns_t *self, int fd, bool readable, bool writable);

/* Milliseconds until xgw_dns_tick must run: 0 when a result waits for
 * delivery, -1 when nothing is pending. */
int64_t xgw_dns_timeout_ms(xgw_dns_t *self);

/* Runs c-ares' retransmissions and timeouts, ends lookups past their
 * deadline and delivers ready results. Cheap; calling it early is harmless. */
void xgw_dns_tick(xgw_dns_t *self);

/* Fills fds[i]/events[i] (POLLIN, POLLOUT) with the sockets c-ares wants
 * watched now, at most max of them. Returns how many. For poll()-style
 * loops; an epoll loop uses sock_cb instead. */
size_t xgw_dns_fds(xgw_dns_t *self, int *fds, short *events, size_t max);

/* Blocks in poll() for at most max_ms on xgw_dns_fds, then processes and
 * ticks. For tools and tests only, never on the edge's loop. Returns the
 * number of lookups still held. */
size_t xgw_dns_wait(xgw_dns_t *self, int max_ms);

/* Copies the counters. */
void xgw_dns_stats(const xgw_dns_t *self, xgw_dns_stats_t *out);

/* ---- Pure functions (no I/O), public for the unit tests and the edge. ---- */

/* Lower-cases in into out, drops one trailing dot and checks it is a DNS
 * name of LDH labels (1-63 bytes each, 253 in all, ASCII only: convert
 * U-labels first). Returns 0, XGW_EINVAL (malformed) or XGW_ERANGE (out too
 * small). */
int xgw_dns_domain_normalize(const char *in, char *out, size_t out_size);

/* Parses a static route "host", "host:port", "1.2.3.4:port", "[v6]:port",
 * "[v6]" or a bare IPv6 address into host (normalised, no brackets) and
 * port (default_port when absent). Returns 0, XGW_EINVAL (bad host or
 * port, port 0, trailing garbage) or XGW_ERANGE (host_size too small). */
int xgw_dns_parse_hostport(const char *in, uint16_t default_port, char *host, size_t host_size,
                           uint16_t *port);

/* Decides what the two SRV answers mean (rules at the top of this file).
 * Returns 0 with the usable records of both services in out (*count >= 1,
 * not ordered yet; direct_tls set by the service, "." and port-0 records
 * left out), XGW_DNS_FALLBACK (no SRV answer: use A/AAAA of the domain on
 * 5269), XGW_ENOENT (service decidedly not available), or XGW_ETIMEDOUT /
 * XGW_EIO (a lookup failed and no records came). Records beyond max are
 * dropped. */
int xgw_dns_srv_plan(const xgw_dns_srv_answer_t *xmpps, const xgw_dns_srv_answer_t *xmpp,
                     xgw_dns_srv_t *out, size_t max, size_t *count);

/* Orders recs in place per RFC 2782: ascending priority; inside a priority
 * (and inside the preferred kind first, per prefer) by repeated weighted
 * random choice, weight-0 records rarely first. rng is the state of the
 * generator (any seed; advanced). */
void xgw_dns_srv_order(xgw_dns_srv_t *recs, size_t n, xgw_dns_prefer_t prefer, uint64_t *rng);

/* Appends the candidate (srv's target, port, kind, priority, weight at
 * address sa, an AF_INET or AF_INET6 sockaddr whose port is ignored) to
 * list[*count]. Returns 0, XGW_EEXIST when the same address, port and kind
 * is already listed (nothing added), XGW_ERANGE when *count == max, or
 * XGW_EINVAL for another family. */
int xgw_dns_candidate_add(xgw_dns_candidate_t *list, size_t *count, size_t max,
                          const xgw_dns_srv_t *srv, const struct sockaddr *sa);

#endif
