/*
 * xgw_dns.c - s2s candidate resolution on c-ares; see xgw_dns.h.
 *
 * A lookup runs in stages: the two SRV questions, then one address lookup
 * (ares_getaddrinfo, which also reads /etc/hosts) per target in the order
 * chosen, then the candidate list. Each c-ares question carries a pointer
 * into its lookup, so a lookup lives until its last question has come back,
 * even after it was answered early (deadline), cancelled or its resolver is
 * being destroyed: c-ares 1.18 can only cancel every question of a channel
 * at once. Such a lookup is "detached": it only waits for its questions.
 *
 * Lookups are on one of three lists: active (asking; sorted by deadline,
 * because every lookup gets the same budget from a monotonic clock),
 * ready (answer built, waiting for delivery from process/tick) and
 * detached.
 */
#include "xgw_dns.h"
#include "xgw_error.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ctype.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define S_DEF_TIMEOUT_MS 2000
#define S_DEF_TRIES 2
#define S_DEF_LOOKUP_TIMEOUT_MS 10000
#define S_DEF_MAX_CANDIDATES 16
#define S_DEF_MAX_PENDING 1024
#define S_MAX_TIMEOUT_MS 600000
#define S_MAX_TRIES 10
#define S_SERVERS_MAX 512 /* length of opts.servers */

typedef enum { S_KIND_XMPP, S_KIND_HOST } s_kind_t;
typedef enum { S_STAGE_SRV, S_STAGE_ADDR } s_stage_t;

typedef struct s_lookup s_lookup_t;
typedef struct s_list s_list_t;

struct s_list {
    s_lookup_t *head, *tail;
    size_t n;
};

/* The argument of one c-ares question. */
typedef struct {
    s_lookup_t *lk;
    size_t slot; /* SRV stage: 0 = xmpps, 1 = xmpp; address stage: target index */
} s_ref_t;

typedef struct {
    xgw_dns_srv_t srv;
    s_ref_t ref;
    bool done;
    int status;
    struct ares_addrinfo *ai;
    bool has_literal; /* the target is an IP address: no question asked */
    struct sockaddr_storage literal;
} s_target_t;

struct s_lookup {
    s_lookup_t *prev, *next;
    s_list_t *list; /* the list it is on, or NULL */
    xgw_dns_t *owner;
    uint64_t id;
    s_kind_t kind;
    s_stage_t stage;
    bool detached;   /* answered or dropped: only waits for its questions */
    bool delivering; /* its callback is running */
    int pending;     /* c-ares questions not yet back */
    int starting;    /* > 0 while questions are being sent */
    int64_t deadline_ms;
    xgw_dns_cb cb;
    void *ud;
    char domain[XGW_DNS_NAME_MAX];
    /* SRV stage */
    s_ref_t srv_ref[2];
    int srv_status[2];
    xgw_dns_srv_t *srv[2];
    size_t nsrv[2];
    /* address stage */
    s_target_t *targets;
    size_t ntargets;
    /* result */
    int status;
    xgw_dns_source_t source;
    xgw_dns_candidate_t *cands;
    size_t ncands;
};

struct xgw_dns {
    ares_channel channel;
    xgw_dns_opts_t opts;
    char servers[S_SERVERS_MAX];
    s_list_t active, ready, detached;
    size_t held; /* lookups on any list */
    uint64_t next_id;
    uint64_t rng;
    xgw_dns_stats_t stats;
};

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */

static int64_t
s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* splitmix64: small, seedable, good enough to spread load over SRV weights. */
static uint64_t
s_rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void
s_err(char *err, size_t err_size, const char *msg, const char *detail)
{
    if (err && err_size > 0)
        snprintf(err, err_size, "%s%s%s", msg, detail ? ": " : "", detail ? detail : "");
}

static void
s_list_push(s_list_t *list, s_lookup_t *lk)
{
    lk->prev = list->tail;
    lk->next = NULL;
    if (list->tail)
        list->tail->next = lk;
    else
        list->head = lk;
    list->tail = lk;
    list->n++;
    lk->list = list;
}

static void
s_list_remove(s_lookup_t *lk)
{
    s_list_t *list = lk->list;
    if (!list)
        return;
    if (lk->prev)
        lk->prev->next = lk->next;
    else
        list->head = lk->next;
    if (lk->next)
        lk->next->prev = lk->prev;
    else
        list->tail = lk->prev;
    list->n--;
    lk->prev = lk->next = NULL;
    lk->list = NULL;
}

/* Maps a c-ares status to ours. Only NXDOMAIN and NODATA mean "no answer". */
static int
s_map_ares(int status)
{
    switch (status) {
    case ARES_SUCCESS:
        return 0;
    case ARES_ENOTFOUND:
    case ARES_ENODATA:
        return XGW_ENOENT;
    case ARES_ETIMEOUT:
        return XGW_ETIMEDOUT;
    case ARES_ENOMEM:
        return XGW_ENOMEM;
    case ARES_EBADNAME:
        return XGW_EINVAL;
    default:
        return XGW_EIO;
    }
}

static bool
s_is_root(const char *name)
{
    return name[0] == '\0' || (name[0] == '.' && name[1] == '\0');
}

/* ------------------------------------------------------------------------ */
/* Pure functions                                                            */

int
xgw_dns_domain_normalize(const char *in, char *out, size_t out_size)
{
    if (!in || !out)
        return XGW_EINVAL;
    size_t len = strlen(in);
    if (len > 0 && in[len - 1] == '.')
        len--;
    if (len == 0 || len > 253)
        return XGW_EINVAL;
    size_t label = 0;
    bool label_digits = true; /* the current label is all digits */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '.') {
            if (label == 0)
                return XGW_EINVAL;
            label = 0;
            label_digits = true;
            continue;
        }
        if (c >= 0x80 || !(isalnum(c) || c == '-'))
            return XGW_EINVAL;
        if (!isdigit(c))
            label_digits = false;
        if (++label > 63)
            return XGW_EINVAL;
    }
    /* "a." stripped already; "a..", ".a" caught above; an all-digit last
     * label is an IP address, not a name (RFC 3696 §2). */
    if (label == 0 || label_digits)
        return XGW_EINVAL;
    if (out_size <= len)
        return XGW_ERANGE;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[len] = '\0';
    return 0;
}

static int
s_parse_port(const char *s, size_t len, uint16_t *port)
{
    if (len == 0 || len > 5)
        return XGW_EINVAL;
    unsigned long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return XGW_EINVAL;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return XGW_EINVAL;
    *port = (uint16_t)v;
    return 0;
}

/* Copies len bytes of s into out if they are an IP address of family. */
static int
s_copy_ip(const char *s, size_t len, int family, char *out, size_t out_size)
{
    char buf[XGW_DNS_IP_MAX];
    unsigned char bin[sizeof(struct in6_addr)];
    if (len == 0 || len >= sizeof buf)
        return XGW_EINVAL;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (inet_pton(family, buf, bin) != 1)
        return XGW_EINVAL;
    if (out_size <= len)
        return XGW_ERANGE;
    memcpy(out, buf, len + 1);
    return 0;
}

int
xgw_dns_parse_hostport(const char *in, uint16_t default_port, char *host, size_t host_size,
                       uint16_t *port)
{
    if (!in || !host || !port || in[0] == '\0')
        return XGW_EINVAL;
    size_t len = strlen(in);
    uint16_t p = default_port;
    if (in[0] == '[') {
        const char *close = strchr(in, ']');
        if (!close)
            return XGW_EINVAL;
        const char *rest = close + 1;
        if (rest[0] != '\0') {
            if (rest[0] != ':' || s_parse_port(rest + 1, strlen(rest + 1), &p) != 0)
                return XGW_EINVAL;
        }
        int rc = s_copy_ip(in + 1, (size_t)(close - in - 1), AF_INET6, host, host_size);
        if (rc != 0)
            return rc;
    } else {
        const char *colon = strchr(in, ':');
        if (colon && strchr(colon + 1, ':')) {
            /* Two colons or more: only a bare IPv6 address, without a port. */
            int rc = s_copy_ip(in, len, AF_INET6, host, host_size);
            if (rc != 0)
                return rc;
        } else {
            size_t hlen = colon ? (size_t)(colon - in) : len;
            if (colon && s_parse_port(colon + 1, strlen(colon + 1), &p) != 0)
                return XGW_EINVAL;
            char name[XGW_DNS_NAME_MAX + 1];
            if (hlen == 0 || hlen >= sizeof name)
                return XGW_EINVAL;
            memcpy(name, in, hlen);
            name[hlen] = '\0';
            int rc = s_copy_ip(name, hlen, AF_INET, host, host_size);
            if (rc == XGW_EINVAL)
                rc = xgw_dns_domain_normalize(name, host, host_size);
            if (rc != 0)
                return rc;
        }
    }
    if (p == 0)
        return XGW_EINVAL;
    *port = p;
    return 0;
}

typedef enum { S_ANS_RECORDS, S_ANS_DOT, S_ANS_NONE, S_ANS_FAIL } s_ans_class_t;

static bool
s_srv_usable(const xgw_dns_srv_t *r)
{
    return !s_is_root(r->target) && r->port != 0;
}

static s_ans_class_t
s_classify(const xgw_dns_srv_answer_t *a)
{
    if (!a || a->status == XGW_ENOENT)
        return S_ANS_NONE;
    if (a->status < 0)
        return S_ANS_FAIL;
    if (a->count == 0 || !a->records)
        return S_ANS_NONE;
    for (size_t i = 0; i < a->count; i++) {
        if (s_srv_usable(&a->records[i]))
            return S_ANS_RECORDS;
    }
    /* A single "." (RFC 2782), or records none of which can be used: SRV
     * exists and offers nothing, which must not turn into the fallback. */
    return S_ANS_DOT;
}

static int
s_fail_code(int status)
{
    return (status == XGW_ETIMEDOUT || status == XGW_ENOMEM) ? status : XGW_EIO;
}

int
xgw_dns_srv_plan(const xgw_dns_srv_answer_t *xmpps, const xgw_dns_srv_answer_t *xmpp,
                 xgw_dns_srv_t *out, size_t max, size_t *count)
{
    if (count)
        *count = 0;
    s_ans_class_t cs = s_classify(xmpps);
    s_ans_class_t cp = s_classify(xmpp);
    if (cs == S_ANS_RECORDS || cp == S_ANS_RECORDS) {
        size_t n = 0;
        const xgw_dns_srv_answer_t *ans[2] = {xmpps, xmpp};
        s_ans_class_t cls[2] = {cs, cp};
        for (int k = 0; k < 2; k++) {
            if (cls[k] != S_ANS_RECORDS)
                continue;
            for (size_t i = 0; i < ans[k]->count && n < max; i++) {
                if (!s_srv_usable(&ans[k]->records[i]))
                    continue;
                if (out) {
                    out[n] = ans[k]->records[i];
                    out[n].direct_tls = (k == 0);
                }
                n++;
            }
        }
        if (n == 0)
            return XGW_ERANGE; /* max == 0 */
        if (count)
            *count = n;
        return 0;
    }
    /* A failed lookup might have hidden records or a "." that forbid the
     * fallback: report it rather than guess (Prosody does the same). */
    if (cp == S_ANS_FAIL)
        return s_fail_code(xmpp->status);
    if (cs == S_ANS_FAIL)
        return s_fail_code(xmpps->status);
    if (cs == S_ANS_DOT || cp == S_ANS_DOT)
        return XGW_ENOENT;
    return XGW_DNS_FALLBACK;
}

/* Moves recs[from] to recs[to] (to <= from), shifting the ones between
 * right, so that the order of the others is kept. */
static void
s_move(xgw_dns_srv_t *recs, size_t from, size_t to)
{
    if (from == to)
        return;
    xgw_dns_srv_t tmp = recs[from];
    memmove(&recs[to + 1], &recs[to], (from - to) * sizeof *recs);
    recs[to] = tmp;
}

static int
s_rank(const xgw_dns_srv_t *r, xgw_dns_prefer_t prefer)
{
    if (prefer == XGW_DNS_PREFER_DIRECT_TLS)
        return r->direct_tls ? 0 : 1;
    if (prefer == XGW_DNS_PREFER_STARTTLS)
        return r->direct_tls ? 1 : 0;
    return 0;
}

static bool
s_before(const xgw_dns_srv_t *a, const xgw_dns_srv_t *b, xgw_dns_prefer_t prefer)
{
    if (a->priority != b->priority)
        return a->priority < b->priority;
    return s_rank(a, prefer) < s_rank(b, prefer);
}

void
xgw_dns_srv_order(xgw_dns_srv_t *recs, size_t n, xgw_dns_prefer_t prefer, uint64_t *rng)
{
    if (!recs || n < 2 || !rng)
        return;
    /* Stable insertion sort by (priority, preferred kind); n is small. */
    for (size_t i = 1; i < n; i++) {
        size_t j = i;
        while (j > 0 && s_before(&recs[i], &recs[j - 1], prefer))
            j--;
        s_move(recs, i, j);
    }
    size_t g = 0;
    while (g < n) {
        size_t e = g + 1;
        while (e < n && recs[e].priority == recs[g].priority &&
               s_rank(&recs[e], prefer) == s_rank(&recs[g], prefer))
            e++;
        /* RFC 2782: weight-0 records first in the unordered list, so they
         * are picked only when the random number is 0. */
        size_t pos = g;
        for (size_t k = g; k < e; k++) {
            if (recs[k].weight == 0)
                s_move(recs, k, pos++);
        }
        for (size_t i = g; i + 1 < e; i++) {
            uint64_t sum = 0;
            for (size_t k = i; k < e; k++)
                sum += recs[k].weight;
            uint64_t r = s_rng_next(rng) % (sum + 1);
            uint64_t run = 0;
            size_t pick = e - 1;
            for (size_t k = i; k < e; k++) {
                run += recs[k].weight;
                if (run >= r) {
                    pick = k;
                    break;
                }
            }
            s_move(recs, pick, i);
        }
        g = e;
    }
}

int
xgw_dns_candidate_add(xgw_dns_candidate_t *list, size_t *count, size_t max,
                      const xgw_dns_srv_t *srv, const struct sockaddr *sa)
{
    if (!list || !count || !srv || !sa)
        return XGW_EINVAL;
    xgw_dns_candidate_t c;
    memset(&c, 0, sizeof c);
    const void *bin;
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in sin;
        memcpy(&sin, sa, sizeof sin);
        sin.sin_port = htons(srv->port);
        memcpy(&c.addr, &sin, sizeof sin);
        c.addrlen = sizeof sin;
        bin = &((const struct sockaddr_in *)(const void *)&c.addr)->sin_addr;
    } else if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 sin6;
        memcpy(&sin6, sa, sizeof sin6);
        sin6.sin6_port = htons(srv->port);
        memcpy(&c.addr, &sin6, sizeof sin6);
        c.addrlen = sizeof sin6;
        bin = &((const struct sockaddr_in6 *)(const void *)&c.addr)->sin6_addr;
    } else {
        return XGW_EINVAL;
    }
    c.family = sa->sa_family;
    if (!inet_ntop(c.family, bin, c.ip, sizeof c.ip))
        return XGW_EINVAL;
    for (size_t i = 0; i < *count; i++) {
        const xgw_dns_candidate_t *o = &list[i];
        if (o->family == c.family && o->port == srv->port && o->direct_tls == srv->direct_tls &&
            strcmp(o->ip, c.ip) == 0)
            return XGW_EEXIST;
    }
    if (*count >= max)
        return XGW_ERANGE;
    snprintf(c.host, sizeof c.host, "%s", srv->target);
    c.port = srv->port;
    c.direct_tls = srv->direct_tls;
    c.priority = srv->priority;
    c.weight = srv->weight;
    list[(*count)++] = c;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Options                                                                   */

/* Parses "ip[:port],[ip6]:port,..." into nodes (chained). Returns the number
 * of servers, or XGW_EINVAL with a message. */
static int
s_parse_servers(const char *csv, struct ares_addr_port_node *nodes, size_t max, char *err,
                size_t err_size)
{
    size_t n = 0;
    const char *p = csv;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *end = p;
        while (*end && *end != ',' && *end != ' ' && *end != '\t')
            end++;
        char item[80];
        size_t len = (size_t)(end - p);
        if (len >= sizeof item) {
            s_err(err, err_size, "dns servers: entry too long", NULL);
            return XGW_EINVAL;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (n >= max) {
            s_err(err, err_size, "dns servers: too many (at most 8)", NULL);
            return XGW_EINVAL;
        }
        char ip[XGW_DNS_IP_MAX];
        uint16_t port = 0;
        struct ares_addr_port_node *node = &nodes[n];
        memset(node, 0, sizeof *node);
        if (xgw_dns_parse_hostport(item, 53, ip, sizeof ip, &port) != 0) {
            s_err(err, err_size, "dns servers: not an IP address with optional port", item);
            return XGW_EINVAL;
        }
        if (inet_pton(AF_INET, ip, &node->addr.addr4) == 1) {
            node->family = AF_INET;
        } else if (inet_pton(AF_INET6, ip, &node->addr.addr6) == 1) {
            node->family = AF_INET6;
        } else {
            s_err(err, err_size, "dns servers: a server must be an IP address, not a name", item);
            return XGW_EINVAL;
        }
        node->udp_port = port;
        node->tcp_port = port;
        if (n > 0)
            nodes[n - 1].next = node;
        n++;
        p = end;
    }
    return (int)n;
}

int
xgw_dns_opts_check(const xgw_dns_opts_t *opts, char *err, size_t err_size)
{
    if (!opts)
        return 0;
    if (opts->timeout_ms < 0 || opts->timeout_ms > S_MAX_TIMEOUT_MS) {
        s_err(err, err_size, "dns timeout out of range (1 ms to 600 s)", NULL);
        return XGW_EINVAL;
    }
    if (opts->lookup_timeout_ms < 0 || opts->lookup_timeout_ms > S_MAX_TIMEOUT_MS) {
        s_err(err, err_size, "dns lookup timeout out of range (1 ms to 600 s)", NULL);
        return XGW_EINVAL;
    }
    if (opts->tries < 0 || opts->tries > S_MAX_TRIES) {
        s_err(err, err_size, "dns tries out of range (1 to 10)", NULL);
        return XGW_EINVAL;
    }
    if (opts->max_candidates > XGW_DNS_MAX_CANDIDATES) {
        s_err(err, err_size, "dns max candidates out of range (1 to 64)", NULL);
        return XGW_EINVAL;
    }
    if (opts->family != AF_UNSPEC && opts->family != AF_INET && opts->family != AF_INET6) {
        s_err(err, err_size, "dns family must be unspecified, IPv4 or IPv6", NULL);
        return XGW_EINVAL;
    }
    if (opts->prefer != XGW_DNS_PREFER_NONE && opts->prefer != XGW_DNS_PREFER_DIRECT_TLS &&
        opts->prefer != XGW_DNS_PREFER_STARTTLS) {
        s_err(err, err_size, "dns prefer: unknown value", NULL);
        return XGW_EINVAL;
    }
    if (opts->servers) {
        if (strlen(opts->servers) >= S_SERVERS_MAX) {
            s_err(err, err_size, "dns servers: list too long", NULL);
            return XGW_EINVAL;
        }
        struct ares_addr_port_node nodes[XGW_DNS_MAX_SERVERS];
        int n = s_parse_servers(opts->servers, nodes, XGW_DNS_MAX_SERVERS, err, err_size);
        if (n < 0)
            return n;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Lookups                                                                   */

static void
s_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    xgw_dns_t *self = data;
    if (self->opts.sock_cb)
        self->opts.sock_cb(self->opts.sock_ud, fd, readable != 0, writable != 0);
}

static void
s_lookup_free(xgw_dns_t *self, s_lookup_t *lk)
{
    s_list_remove(lk);
    for (size_t i = 0; i < lk->ntargets; i++) {
        if (lk->targets[i].ai)
            ares_freeaddrinfo(lk->targets[i].ai);
    }
    free(lk->targets);
    free(lk->srv[0]);
    free(lk->srv[1]);
    free(lk->cands);
    self->held--;
    free(lk);
}

/* Takes lk off the active/ready lists; frees it unless questions are out. */
static void
s_detach(xgw_dns_t *self, s_lookup_t *lk)
{
    s_list_remove(lk);
    lk->detached = true;
    if (lk->pending == 0 && !lk->delivering)
        s_lookup_free(self, lk);
    else
        s_list_push(&self->detached, lk);
}

/* The answer is known: queue it for delivery. */
static void
s_finish(s_lookup_t *lk, int status)
{
    lk->status = status;
    s_list_remove(lk);
    s_list_push(&lk->owner->ready, lk);
}

/* Builds the candidate list from the targets answered so far, in order. */
static void
s_build(s_lookup_t *lk)
{
    xgw_dns_t *self = lk->owner;
    size_t max = self->opts.max_candidates;
    if (!lk->cands)
        lk->cands = calloc(max, sizeof *lk->cands);
    if (!lk->cands) {
        s_finish(lk, XGW_ENOMEM);
        return;
    }
    lk->ncands = 0;
    bool timeout = false, ioerr = false, nomem = false;
    for (size_t i = 0; i < lk->ntargets; i++) {
        s_target_t *t = &lk->targets[i];
        if (!t->done) {
            timeout = true;
            continue;
        }
        if (t->status == XGW_ETIMEDOUT)
            timeout = true;
        else if (t->status == XGW_ENOMEM)
            nomem = true;
        else if (t->status != 0 && t->status != XGW_ENOENT && t->status != XGW_EINVAL)
            ioerr = true;
        if (t->has_literal)
            xgw_dns_candidate_add(lk->cands, &lk->ncands, max, &t->srv,
                                  (const struct sockaddr *)&t->literal);
        if (!t->ai)
            continue;
        for (struct ares_addrinfo_node *n = t->ai->nodes; n; n = n->ai_next) {
            if (!n->ai_addr)
                continue;
            int rc = xgw_dns_candidate_add(lk->cands, &lk->ncands, max, &t->srv, n->ai_addr);
            if (rc == XGW_ERANGE)
                break;
        }
    }
    int status = 0;
    if (lk->ncands == 0)
        status = timeout ? XGW_ETIMEDOUT : ioerr ? XGW_EIO : nomem ? XGW_ENOMEM : XGW_ENOENT;
    s_finish(lk, status);
}

static void s_advance(s_lookup_t *lk);

static void
s_on_addr(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    (void)timeouts;
    s_ref_t *ref = arg;
    s_lookup_t *lk = ref->lk;
    lk->pending--;
    s_target_t *t = &lk->targets[ref->slot];
    if (!lk->detached && lk->list != &lk->owner->ready && !t->done && status != ARES_EDESTRUCTION) {
        t->done = true;
        t->status = s_map_ares(status);
        t->ai = res;
        res = NULL;
    }
    if (res)
        ares_freeaddrinfo(res);
    s_advance(lk);
}

/* Returns 1 and fills ss when name is an IP address of an allowed family,
 * -1 when it is an address of the other family, 0 when it is a name. */
static int
s_sockaddr_literal(const char *name, int family, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, name, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        return family == AF_INET6 ? -1 : 1;
    }
    if (inet_pton(AF_INET6, name, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        return family == AF_INET ? -1 : 1;
    }
    return 0;
}

/* Starts the address lookups of every target; the answers may come back
 * at once (hosts file), so the stage only advances after the loop. */
static void
s_start_targets(s_lookup_t *lk)
{
    xgw_dns_t *self = lk->owner;
    struct ares_addrinfo_hints hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = self->opts.family;
    hints.ai_socktype = SOCK_STREAM;
    lk->stage = S_STAGE_ADDR;
    lk->starting++;
    for (size_t i = 0; i < lk->ntargets; i++) {
        s_target_t *t = &lk->targets[i];
        t->ref.lk = lk;
        t->ref.slot = i;
        /* RFC 2782 wants a name, but an address is unambiguous; c-ares 1.18
         * mishandles IPv4 literals with AF_UNSPEC, so answer them here. */
        int lit = s_sockaddr_literal(t->srv.target, self->opts.family, &t->literal);
        if (lit != 0) {
            t->has_literal = lit > 0;
            t->status = lit > 0 ? 0 : XGW_ENOENT;
            t->done = true;
            continue;
        }
        lk->pending++;
        self->stats.queries++;
        ares_getaddrinfo(self->channel, t->srv.target, NULL, &hints, s_on_addr, &t->ref);
    }
    lk->starting--;
    s_advance(lk);
}

/* The SRV answers are in: decide, order, then ask for the targets. */
static void
s_srv_done(s_lookup_t *lk)
{
    xgw_dns_t *self = lk->owner;
    xgw_dns_srv_answer_t ans[2];
    for (int k = 0; k < 2; k++) {
        ans[k].status = lk->srv_status[k];
        ans[k].records = lk->srv[k];
        ans[k].count = lk->nsrv[k];
    }
    xgw_dns_srv_t merged[2 * XGW_DNS_MAX_SRV];
    size_t n = 0;
    int rc = xgw_dns_srv_plan(&ans[0], &ans[1], merged, 2 * XGW_DNS_MAX_SRV, &n);
    if (rc < 0) {
        s_finish(lk, rc);
        return;
    }
    if (rc == XGW_DNS_FALLBACK) {
        lk->source = XGW_DNS_SRC_FALLBACK;
        memset(merged, 0, sizeof merged[0]);
        snprintf(merged[0].target, sizeof merged[0].target, "%s", lk->domain);
        merged[0].port = XGW_DNS_XMPP_PORT;
        n = 1;
    } else {
        lk->source = XGW_DNS_SRC_SRV;
        xgw_dns_srv_order(merged, n, self->opts.prefer, &self->rng);
        /* Every target gives one candidate or more, so more targets than
         * candidates would never be used. */
        if (n > self->opts.max_candidates)
            n = self->opts.max_candidates;
    }
    lk->targets = calloc(n, sizeof *lk->targets);
    if (!lk->targets) {
        s_finish(lk, XGW_ENOMEM);
        return;
    }
    lk->ntargets = n;
    for (size_t i = 0; i < n; i++)
        lk->targets[i].srv = merged[i];
    s_start_targets(lk);
}

/* Moves lk on when nothing is outstanding; frees a detached lookup whose
 * last question came back. */
static void
s_advance(s_lookup_t *lk)
{
    xgw_dns_t *self = lk->owner;
    if (lk->detached) {
        if (lk->pending == 0 && !lk->delivering)
            s_lookup_free(self, lk);
        return;
    }
    if (lk->starting > 0 || lk->pending > 0 || lk->list != &self->active)
        return;
    if (lk->stage == S_STAGE_SRV)
        s_srv_done(lk);
    else
        s_build(lk);
}

static void
s_on_srv(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    (void)timeouts;
    s_ref_t *ref = arg;
    s_lookup_t *lk = ref->lk;
    lk->pending--;
    if (lk->detached || lk->list != &lk->owner->active || status == ARES_EDESTRUCTION) {
        s_advance(lk);
        return;
    }
    size_t k = ref->slot;
    lk->srv_status[k] = s_map_ares(status);
    if (status == ARES_SUCCESS) {
        struct ares_srv_reply *reply = NULL;
        int prc = ares_parse_srv_reply(abuf, alen, &reply);
        if (prc == ARES_SUCCESS) {
            size_t n = 0;
            for (struct ares_srv_reply *r = reply; r; r = r->next)
                n++;
            if (n > XGW_DNS_MAX_SRV)
                n = XGW_DNS_MAX_SRV;
            lk->srv[k] = calloc(n ? n : 1, sizeof *lk->srv[k]);
            if (!lk->srv[k]) {
                lk->srv_status[k] = XGW_ENOMEM;
            } else {
                size_t i = 0;
                for (struct ares_srv_reply *r = reply; r && i < n; r = r->next) {
                    size_t tlen = r->host ? strlen(r->host) : 0;
                    if (tlen >= XGW_DNS_NAME_MAX)
                        continue; /* not a valid name: unusable */
                    xgw_dns_srv_t *s = &lk->srv[k][i++];
                    for (size_t c = 0; c < tlen; c++)
                        s->target[c] = (char)tolower((unsigned char)r->host[c]);
                    s->target[tlen] = '\0';
                    s->priority = r->priority;
                    s->weight = r->weight;
                    s->port = r->port;
                    s->direct_tls = (k == 0);
                }
                lk->nsrv[k] = i;
            }
        } else {
            /* NOERROR with answers but no SRV among them (a CNAME only) is
             * NODATA; anything unparseable is a bad answer. */
            lk->srv_status[k] = prc == ARES_ENODATA ? XGW_ENOENT : XGW_EIO;
        }
        if (reply)
            ares_free_data(reply);
    }
    s_advance(lk);
}

static s_lookup_t *
s_lookup_new(xgw_dns_t *self, s_kind_t kind, const char *name, xgw_dns_cb cb, void *ud)
{
    s_lookup_t *lk = calloc(1, sizeof *lk);
    if (!lk)
        return NULL;
    lk->owner = self;
    lk->id = ++self->next_id;
    lk->kind = kind;
    lk->cb = cb;
    lk->ud = ud;
    lk->deadline_ms = s_now_ms() + self->opts.lookup_timeout_ms;
    snprintf(lk->domain, sizeof lk->domain, "%s", name);
    self->held++;
    self->stats.lookups++;
    return lk;
}

static int
s_admit(xgw_dns_t *self, xgw_dns_cb cb)
{
    if (!self || !cb)
        return XGW_EINVAL;
    if (self->held >= self->opts.max_pending) {
        self->stats.rejected++;
        return XGW_EAGAIN;
    }
    return 0;
}

/* An IP literal: the answer is known now; deliver it from the next tick. */
static int
s_literal(xgw_dns_t *self, s_lookup_t *lk, const char *ip, uint16_t port, bool direct_tls)
{
    union {
        struct sockaddr sa;
        struct sockaddr_in sin;
        struct sockaddr_in6 sin6;
    } u;
    memset(&u, 0, sizeof u);
    if (inet_pton(AF_INET, ip, &u.sin.sin_addr) == 1)
        u.sin.sin_family = AF_INET;
    else if (inet_pton(AF_INET6, ip, &u.sin6.sin6_addr) == 1)
        u.sin6.sin6_family = AF_INET6;
    else
        return XGW_EINVAL;
    lk->cands = calloc(1, sizeof *lk->cands);
    if (!lk->cands)
        return XGW_ENOMEM;
    xgw_dns_srv_t srv;
    memset(&srv, 0, sizeof srv);
    snprintf(srv.target, sizeof srv.target, "%s", ip);
    srv.port = port;
    srv.direct_tls = direct_tls;
    int rc = xgw_dns_candidate_add(lk->cands, &lk->ncands, 1, &srv, &u.sa);
    if (rc != 0)
        return rc;
    s_list_push(&self->ready, lk);
    return 0;
}

/* Is s an IPv4 address or a bracketed IPv6 one? Copies the bare address. */
static bool
s_ip_literal(const char *s, char *ip, size_t ip_size)
{
    size_t len = strlen(s);
    if (len > 2 && s[0] == '[' && s[len - 1] == ']')
        return s_copy_ip(s + 1, len - 2, AF_INET6, ip, ip_size) == 0;
    return s_copy_ip(s, len, AF_INET, ip, ip_size) == 0;
}

int
xgw_dns_resolve_xmpp(xgw_dns_t *self, const char *domain, xgw_dns_cb cb, void *ud, uint64_t *id)
{
    int rc = s_admit(self, cb);
    if (rc != 0)
        return rc;
    if (!domain)
        return XGW_EINVAL;
    char name[XGW_DNS_NAME_MAX];
    char ip[XGW_DNS_IP_MAX];
    bool literal = s_ip_literal(domain, ip, sizeof ip);
    if (literal)
        snprintf(name, sizeof name, "%s", domain);
    else if (xgw_dns_domain_normalize(domain, name, sizeof name) != 0)
        return XGW_EINVAL;
    s_lookup_t *lk = s_lookup_new(self, S_KIND_XMPP, name, cb, ud);
    if (!lk)
        return XGW_ENOMEM;
    if (literal) {
        lk->source = XGW_DNS_SRC_LITERAL;
        rc = s_literal(self, lk, ip, XGW_DNS_XMPP_PORT, false);
        if (rc != 0) {
            self->stats.lookups--;
            s_lookup_free(self, lk);
            return rc;
        }
    } else {
        s_list_push(&self->active, lk);
        char qname[XGW_DNS_NAME_MAX + 32];
        static const char *const services[2] = {"_xmpps-server._tcp.", "_xmpp-server._tcp."};
        lk->stage = S_STAGE_SRV;
        lk->starting++;
        for (size_t k = 0; k < 2; k++) {
            lk->srv_ref[k].lk = lk;
            lk->srv_ref[k].slot = k;
            snprintf(qname, sizeof qname, "%s%s", services[k], lk->domain);
            lk->pending++;
            self->stats.queries++;
            ares_query(self->channel, qname, ns_c_in, ns_t_srv, s_on_srv, &lk->srv_ref[k]);
        }
        lk->starting--;
        s_advance(lk);
    }
    if (id)
        *id = lk->id;
    return 0;
}

int
xgw_dns_resolve_host(xgw_dns_t *self, const char *host, uint16_t port, bool direct_tls,
                     xgw_dns_cb cb, void *ud, uint64_t *id)
{
    int rc = s_admit(self, cb);
    if (rc != 0)
        return rc;
    if (!host || port == 0)
        return XGW_EINVAL;
    char name[XGW_DNS_NAME_MAX];
    uint16_t ignored = 0;
    /* The host alone: a port inside it would be ambiguous with the argument. */
    if (xgw_dns_parse_hostport(host, port, name, sizeof name, &ignored) != 0 || ignored != port)
        return XGW_EINVAL;
    s_lookup_t *lk = s_lookup_new(self, S_KIND_HOST, name, cb, ud);
    if (!lk)
        return XGW_ENOMEM;
    lk->source = XGW_DNS_SRC_STATIC;
    unsigned char bin[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, name, bin) == 1 || inet_pton(AF_INET6, name, bin) == 1) {
        rc = s_literal(self, lk, name, port, direct_tls);
        if (rc != 0) {
            self->stats.lookups--;
            s_lookup_free(self, lk);
            return rc;
        }
    } else {
        lk->targets = calloc(1, sizeof *lk->targets);
        if (!lk->targets) {
            self->stats.lookups--;
            s_lookup_free(self, lk);
            return XGW_ENOMEM;
        }
        lk->ntargets = 1;
        snprintf(lk->targets[0].srv.target, sizeof lk->targets[0].srv.target, "%s", name);
        lk->targets[0].srv.port = port;
        lk->targets[0].srv.direct_tls = direct_tls;
        s_list_push(&self->active, lk);
        s_start_targets(lk);
    }
    if (id)
        *id = lk->id;
    return 0;
}

static s_lookup_t *
s_find(s_list_t *list, uint64_t id)
{
    for (s_lookup_t *lk = list->head; lk; lk = lk->next) {
        if (lk->id == id)
            return lk;
    }
    return NULL;
}

int
xgw_dns_cancel(xgw_dns_t *self, uint64_t id)
{
    if (!self || id == 0)
        return XGW_ENOENT;
    s_lookup_t *lk = s_find(&self->active, id);
    if (!lk)
        lk = s_find(&self->ready, id);
    if (!lk)
        return XGW_ENOENT;
    self->stats.cancelled++;
    s_detach(self, lk);
    return 0;
}

/* Ends the lookups whose deadline has passed with what they have. */
static void
s_expire(xgw_dns_t *self)
{
    int64_t now = s_now_ms();
    while (self->active.head && self->active.head->deadline_ms <= now) {
        s_lookup_t *lk = self->active.head;
        if (lk->stage == S_STAGE_SRV)
            s_finish(lk, XGW_ETIMEDOUT);
        else
            s_build(lk); /* moves it to ready */
    }
}

static void
s_count(xgw_dns_t *self, const s_lookup_t *lk)
{
    switch (lk->status) {
    case 0:
        self->stats.ok++;
        break;
    case XGW_ENOENT:
        self->stats.nxdomain++;
        break;
    case XGW_EIO:
        self->stats.servfail++;
        break;
    case XGW_ETIMEDOUT:
        self->stats.timeout++;
        break;
    default:
        self->stats.other++;
        break;
    }
    if (lk->source == XGW_DNS_SRC_FALLBACK)
        self->stats.fallback++;
}

/* Delivers the results ready now (not the ones their callbacks add). */
static void
s_deliver(xgw_dns_t *self)
{
    size_t n = self->ready.n;
    while (n-- > 0 && self->ready.head) {
        s_lookup_t *lk = self->ready.head;
        s_count(self, lk);
        xgw_dns_result_t res;
        memset(&res, 0, sizeof res);
        res.status = lk->status;
        res.domain = lk->domain;
        res.source = lk->source;
        res.candidates = lk->status == 0 ? lk->cands : NULL;
        res.count = lk->status == 0 ? lk->ncands : 0;
        lk->delivering = true;
        s_detach(self, lk);
        lk->cb(lk->ud, lk->id, &res);
        lk->delivering = false;
        if (lk->pending == 0)
            s_lookup_free(self, lk);
    }
}

void
xgw_dns_process(xgw_dns_t *self, int fd, bool readable, bool writable)
{
    if (!self)
        return;
    ares_process_fd(self->channel, readable ? fd : ARES_SOCKET_BAD,
                    writable ? fd : ARES_SOCKET_BAD);
    s_expire(self);
    s_deliver(self);
}

void
xgw_dns_tick(xgw_dns_t *self)
{
    if (!self)
        return;
    ares_process_fd(self->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    s_expire(self);
    s_deliver(self);
}

int64_t
xgw_dns_timeout_ms(xgw_dns_t *self)
{
    if (!self)
        return -1;
    if (self->ready.n > 0)
        return 0;
    int64_t wait = -1;
    if (self->active.head) {
        wait = self->active.head->deadline_ms - s_now_ms();
        if (wait < 0)
            wait = 0;
    }
    struct timeval tv;
    if (ares_timeout(self->channel, NULL, &tv)) {
        /* Round up: waking a little early would spin until the time. */
        int64_t ms = (int64_t)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
        if (wait < 0 || ms < wait)
            wait = ms;
    }
    return wait;
}

size_t
xgw_dns_fds(xgw_dns_t *self, int *fds, short *events, size_t max)
{
    if (!self || !fds || !events)
        return 0;
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    int bits = ares_getsock(self->channel, socks, ARES_GETSOCK_MAXNUM);
    size_t n = 0;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM && n < max; i++) {
        /* c-ares' ARES_GETSOCK_WRITABLE shifts a signed 1 into bit 31. */
        unsigned ubits = (unsigned)bits;
        short ev = 0;
        if ((ubits >> i) & 1u)
            ev |= POLLIN;
        if ((ubits >> (i + ARES_GETSOCK_MAXNUM)) & 1u)
            ev |= POLLOUT;
        if (!ev)
            continue;
        fds[n] = socks[i];
        events[n] = ev;
        n++;
    }
    return n;
}

size_t
xgw_dns_wait(xgw_dns_t *self, int max_ms)
{
    if (!self)
        return 0;
    int fds[ARES_GETSOCK_MAXNUM];
    short events[ARES_GETSOCK_MAXNUM];
    size_t n = xgw_dns_fds(self, fds, events, ARES_GETSOCK_MAXNUM);
    struct pollfd pfd[ARES_GETSOCK_MAXNUM];
    for (size_t i = 0; i < n; i++) {
        pfd[i].fd = fds[i];
        pfd[i].events = events[i];
        pfd[i].revents = 0;
    }
    int64_t wait = xgw_dns_timeout_ms(self);
    if (wait < 0 || wait > max_ms)
        wait = max_ms < 0 ? 0 : max_ms;
    int rc = poll(pfd, (nfds_t)n, (int)wait);
    for (size_t i = 0; rc > 0 && i < n; i++) {
        if (pfd[i].revents) {
            bool r = (pfd[i].revents & (POLLIN | POLLERR | POLLHUP)) != 0;
            bool w = (pfd[i].revents & POLLOUT) != 0;
            ares_process_fd(self->channel, r ? pfd[i].fd : ARES_SOCKET_BAD,
                            w ? pfd[i].fd : ARES_SOCKET_BAD);
        }
    }
    xgw_dns_tick(self);
    return self->held;
}

void
xgw_dns_stats(const xgw_dns_t *self, xgw_dns_stats_t *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!self)
        return;
    *out = self->stats;
    out->pending = self->held;
}

/* ------------------------------------------------------------------------ */
/* Life cycle                                                                */

xgw_dns_t *
xgw_dns_new(const xgw_dns_opts_t *opts)
{
    xgw_dns_opts_t o;
    memset(&o, 0, sizeof o);
    if (opts)
        o = *opts;
    if (xgw_dns_opts_check(&o, NULL, 0) != 0)
        return NULL;
    if (o.timeout_ms == 0)
        o.timeout_ms = S_DEF_TIMEOUT_MS;
    if (o.tries == 0)
        o.tries = S_DEF_TRIES;
    if (o.lookup_timeout_ms == 0)
        o.lookup_timeout_ms = S_DEF_LOOKUP_TIMEOUT_MS;
    if (o.max_candidates == 0)
        o.max_candidates = S_DEF_MAX_CANDIDATES;
    if (o.max_pending == 0)
        o.max_pending = S_DEF_MAX_PENDING;

    xgw_dns_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    if (o.servers)
        snprintf(self->servers, sizeof self->servers, "%s", o.servers);
    o.servers = self->servers;
    self->opts = o;
    self->rng = o.rng_seed;
    if (self->rng == 0 && getrandom(&self->rng, sizeof self->rng, 0) != (ssize_t)sizeof self->rng)
        self->rng = (uint64_t)s_now_ms() ^ (uint64_t)(uintptr_t)self;

    if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
        free(self);
        return NULL;
    }
    struct ares_options ao;
    memset(&ao, 0, sizeof ao);
    int mask = 0;
    /* Names are absolute: no search list, no HOSTALIASES. */
    ao.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
    mask |= ARES_OPT_FLAGS;
    ao.timeout = o.timeout_ms;
    mask |= ARES_OPT_TIMEOUTMS;
    ao.tries = o.tries;
    mask |= ARES_OPT_TRIES;
    ao.ndots = 1;
    mask |= ARES_OPT_NDOTS;
    /* getaddrinfo ignores ARES_FLAG_NOSEARCH in 1.18; an empty search list
     * keeps it from asking "target.<search domain>". */
    ao.domains = NULL;
    ao.ndomains = 0;
    mask |= ARES_OPT_DOMAINS;
    ao.lookups = o.no_hosts ? "b" : "fb";
    mask |= ARES_OPT_LOOKUPS;
    ao.sock_state_cb = s_sock_state;
    ao.sock_state_cb_data = self;
    mask |= ARES_OPT_SOCK_STATE_CB;
    if (ares_init_options(&self->channel, &ao, mask) != ARES_SUCCESS) {
        ares_library_cleanup();
        free(self);
        return NULL;
    }
    if (self->servers[0]) {
        struct ares_addr_port_node nodes[XGW_DNS_MAX_SERVERS];
        int n = s_parse_servers(self->servers, nodes, XGW_DNS_MAX_SERVERS, NULL, 0);
        if (n < 0 || (n > 0 && ares_set_servers_ports(self->channel, nodes) != ARES_SUCCESS)) {
            ares_destroy(self->channel);
            ares_library_cleanup();
            free(self);
            return NULL;
        }
    }
    return self;
}

static void
s_detach_all(xgw_dns_t *self, s_list_t *list)
{
    while (list->head)
        s_detach(self, list->head);
}

void
xgw_dns_destroy(xgw_dns_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    xgw_dns_t *self = *self_p;
    s_detach_all(self, &self->active);
    s_detach_all(self, &self->ready);
    /* Calls every question back with ARES_EDESTRUCTION, which frees the
     * detached lookups, and tells sock_cb about each socket it closes. */
    ares_destroy(self->channel);
    while (self->detached.head)
        s_lookup_free(self, self->detached.head);
    ares_library_cleanup();
    free(self);
    *self_p = NULL;
}
