/*
 * xgw_config.c - table-driven configuration; see xgw_config.h.
 *
 * Each key is one row of s_keys (modelled on Redis config.c): section, name,
 * type, offset and size of its field in xgw_settings_t, default (as text,
 * parsed by the same code as file values), bounds, reloadable flag, help.
 * The loader, the dumper and xgw_config_apply_reloadable only walk the table.
 */
#include "xgw_config.h"
#include "xgw_cidr.h"
#include "xgw_dns.h"
#include "xgw_error.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_LINE_MAX 4096
#define S_FILE_MAX (1024 * 1024)
#define S_WHY_MAX 512

typedef enum {
    CFG_STRING,
    CFG_INT,
    CFG_BOOL,
    CFG_DURATION,
    CFG_ENUM,
    CFG_SIZE,
} cfg_type_t;

struct cfg_key {
    const char *section;
    const char *name;
    cfg_type_t type;
    size_t offset;              /* of the field in xgw_settings_t */
    size_t size;                /* of the field (char arrays: including NUL) */
    const char *def;            /* default, as text */
    int64_t min;                /* INT, DURATION (ms), SIZE (bytes): inclusive */
    int64_t max;                /* STRING, ENUM: min is the minimum length */
    bool reloadable;            /* SIGHUP copies it into the live settings */
    const char *const *choices; /* ENUM: NULL-terminated list */
    const char *help;
    /* STRING: a deeper check of the value (a list's syntax), so that -t
     * refuses what the process would refuse at start. 0 or XGW_EINVAL with
     * the reason in why. */
    int (*check)(const char *value, char *why, size_t whylen);
};

/* Field helpers. The _Generic term is compile-time only: it fails to compile
 * when a row's type does not match the field it points at. */
#define S_FIELD(sec, field) (((xgw_settings_t *)0)->sec.field)
#define S_OFF_I64(sec, field)                                                                      \
    (offsetof(xgw_settings_t, sec.field) + 0 * sizeof(_Generic(S_FIELD(sec, field), int64_t : 1)))
#define S_OFF_BOOL(sec, field)                                                                     \
    (offsetof(xgw_settings_t, sec.field) + 0 * sizeof(_Generic(S_FIELD(sec, field), bool : 1)))
#define S_OFF_CHARS(sec, field)                                                                    \
    (offsetof(xgw_settings_t, sec.field) +                                                         \
     0 * sizeof(_Generic(&S_FIELD(sec, field)[0], char * : 1)))

#define S_ROW(sec, key, t, off, sz, dv, lo, hi, rl, ch, hp)                                        \
    {                                                                                              \
        .section = #sec, .name = #key, .type = t, .offset = off, .size = sz, .def = dv, .min = lo, \
        .max = hi, .reloadable = rl, .choices = ch, .help = hp                                     \
    }
#define S_STRING(sec, key, def, minlen, rl, help)                                                  \
    S_ROW(sec, key, CFG_STRING, S_OFF_CHARS(sec, key), sizeof S_FIELD(sec, key), def, minlen,      \
          (int64_t)sizeof S_FIELD(sec, key) - 1, rl, NULL, help)
#define S_STRING_CHECKED(sec, key, dv, minlen, rl, chk, hp)                                        \
    {                                                                                              \
        .section = #sec, .name = #key, .type = CFG_STRING, .offset = S_OFF_CHARS(sec, key),        \
        .size = sizeof S_FIELD(sec, key), .def = dv, .min = minlen,                                \
        .max = (int64_t)sizeof S_FIELD(sec, key) - 1, .reloadable = rl, .help = hp, .check = chk   \
    }
#define S_ENUM(sec, key, choices, def, rl, help)                                                   \
    S_ROW(sec, key, CFG_ENUM, S_OFF_CHARS(sec, key), sizeof S_FIELD(sec, key), def, 1,             \
          (int64_t)sizeof S_FIELD(sec, key) - 1, rl, choices, help)
#define S_INT(sec, key, def, lo, hi, rl, help)                                                     \
    S_ROW(sec, key, CFG_INT, S_OFF_I64(sec, key), sizeof(int64_t), def, lo, hi, rl, NULL, help)
#define S_BOOL(sec, key, def, rl, help)                                                            \
    S_ROW(sec, key, CFG_BOOL, S_OFF_BOOL(sec, key), sizeof(bool), def, 0, 1, rl, NULL, help)
/* Duration keys are stored in the field named <key>_ms. */
#define S_DURATION(sec, key, def, lo, hi, rl, help)                                                \
    S_ROW(sec, key, CFG_DURATION, S_OFF_I64(sec, key##_ms), sizeof(int64_t), def, lo, hi, rl,      \
          NULL, help)
#define S_SIZE(sec, key, def, lo, hi, rl, help)                                                    \
    S_ROW(sec, key, CFG_SIZE, S_OFF_I64(sec, key), sizeof(int64_t), def, lo, hi, rl, NULL, help)

#define S_MS(n) ((int64_t)(n))
#define S_SEC(n) ((int64_t)(n)*1000)
#define S_MIN(n) ((int64_t)(n)*60 * 1000)
#define S_HOUR(n) ((int64_t)(n)*3600 * 1000)
#define S_KIB(n) ((int64_t)(n)*1024)
#define S_MIB(n) ((int64_t)(n)*1024 * 1024)

#define S_RELOAD true
#define S_RESTART false

static int
s_check_cidr_list(const char *value, char *why, size_t whylen)
{
    xgw_cidr_set_t set;
    return xgw_cidr_parse(value, &set, why, whylen) == 0 ? 0 : XGW_EINVAL;
}

static int
s_check_dns_servers(const char *value, char *why, size_t whylen)
{
    xgw_dns_opts_t o;
    memset(&o, 0, sizeof o);
    o.servers = value;
    return xgw_dns_opts_check(&o, why, whylen) == 0 ? 0 : XGW_EINVAL;
}

static const char *const s_sections[] = {
    "common", "broker", "xmppd", "sipd", "policyd", "certd", "xgwctl", NULL,
};

static const char *const s_log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const s_xmppd_modes[] = {"s2s", "component", NULL};

static const struct cfg_key s_keys[] = {
    /* [common]: read by every process. */
    S_STRING(common, broker_frontend, "ipc:///run/xgw/frontend.ipc", 1, S_RESTART,
             "ZeroMQ endpoint of the broker's frontend (clients: edges, xgwctl); the broker "
             "binds it, the others connect"),
    S_STRING(common, broker_backend, "ipc:///run/xgw/backend.ipc", 1, S_RESTART,
             "ZeroMQ endpoint of the broker's backend; the broker binds it, workers connect"),
    S_STRING(common, data_dir, "/var/lib/xgw", 1, S_RESTART,
             "directory for persistent state (policy database, certificates, keys)"),
    S_STRING(common, run_dir, "/run/xgw", 1, S_RESTART,
             "directory for runtime files such as ipc:// sockets"),
    S_ENUM(common, log_level, s_log_levels, "info", S_RELOAD,
           "lowest level of the log lines written to stderr"),
    S_BOOL(common, log_timestamps, "on", S_RELOAD,
           "start every log line with ts=; turn off when the log collector stamps lines itself"),
    S_DURATION(common, heartbeat_interval, "1000ms", S_MS(50), S_SEC(60), S_RESTART,
               "interval between heartbeats exchanged by the broker and its peers"),
    S_INT(common, heartbeat_liveness, "3", 2, 20, S_RESTART,
          "heartbeats missed in a row before a peer is declared dead"),
    S_DURATION(common, request_timeout, "10s", S_MS(100), S_MIN(10), S_RESTART,
               "default deadline of a request through the broker, counted from the first send"),
    S_DURATION(common, retry_interval, "1s", S_MS(50), S_SEC(60), S_RESTART,
               "wait before a client's first retry; doubles after each retry, until the deadline"),
    S_SIZE(common, max_body, "1MiB", S_KIB(1), S_MIB(64), S_RESTART,
           "largest request or reply body accepted on the wire"),
    S_DURATION(common, dedup_ttl, "10m", S_SEC(1), S_HOUR(24), S_RESTART,
               "how long a receiver remembers a msg_id to drop duplicates"),
    S_INT(common, dedup_max, "100000", 100, 10000000, S_RESTART,
          "most msg_ids remembered for de-duplication per process; the oldest go first"),
    S_DURATION(common, drain_timeout, "10s", S_MS(0), S_MIN(5), S_RESTART,
               "on SIGTERM, how long a process may finish work in flight before exiting"),
    S_STRING(common, metrics_listen, "127.0.0.1", 1, S_RESTART,
             "address the Prometheus /metrics HTTP listeners bind"),
    S_STRING(common, domains, "example.net", 1, S_RESTART,
             "the domains the gateway serves (its SIP users' domains, which are also its XMPP "
             "domains), comma-separated"),
    S_STRING(common, policy_updates, "ipc:///run/xgw/policy-updates.ipc", 1, S_RESTART,
             "ZeroMQ endpoint where policyd publishes rule-set changes; edges subscribe"),
    S_STRING(common, policy_snapshot, "ipc:///run/xgw/policy-snapshot.ipc", 1, S_RESTART,
             "ZeroMQ endpoint where policyd serves whole rule-set snapshots to edges"),
    S_STRING(common, audit_log, "", 0, S_RESTART,
             "file that policy denials are appended to (one logfmt line each); empty means "
             "<data_dir>/audit.log"),
    S_STRING(common, cert_updates, "ipc:///run/xgw/cert-updates.ipc", 1, S_RESTART,
             "ZeroMQ endpoint where certd publishes certificate metadata and the dialback "
             "secret version; edges subscribe"),

    /* [broker] */
    S_INT(broker, metrics_port, "9100", 0, 65535, S_RESTART,
          "Prometheus port of the broker; 0 disables metrics"),
    S_INT(broker, queue_max, "10000", 1, 1000000, S_RELOAD,
          "most requests queued per service while no worker has credit; more are refused"),
    S_DURATION(broker, expiry_check_interval, "100ms", S_MS(10), S_SEC(10), S_RESTART,
               "how often the broker drops queued requests whose deadline passed"),
    S_INT(broker, sndhwm, "100000", 1000, 10000000, S_RESTART,
          "ZeroMQ send high-water mark (messages) of the broker's ROUTER sockets"),

    /* Worker sections: instance N serves metrics on metrics_port + N. */
    S_INT(xmppd, metrics_port, "9110", 0, 65535, S_RESTART,
          "Prometheus port of xmppd instance 0; instance N uses metrics_port + N; 0 disables"),
    S_INT(xmppd, credit, "256", 1, 100000, S_RESTART,
          "requests one xmppd instance takes from the broker at a time"),
    S_ENUM(xmppd, mode, s_xmppd_modes, "s2s", S_RESTART,
           "s2s: xmppd federates itself (listens, dials out); component: it is an XEP-0114 "
           "component of a local XMPP server that federates for it"),
    S_STRING(xmppd, s2s_listen, "127.0.0.1:5269", 0, S_RESTART,
             "HOST:PORT of the server-to-server listener (shared by every xmppd instance with "
             "SO_REUSEPORT); empty disables inbound streams"),
    S_STRING(xmppd, direct_tls_listen, "", 0, S_RESTART,
             "HOST:PORT of the direct-TLS (XEP-0368) s2s listener; empty disables it"),
    S_STRING_CHECKED(
        xmppd, dns_servers, "", 0, S_RESTART, s_check_dns_servers,
        "DNS servers for SRV and address lookups, IP[:PORT] comma-separated ([v6]:port), "
        "at most 8; empty means the system's resolv.conf"),
    S_DURATION(xmppd, dns_timeout, "5s", S_MS(100), S_MIN(1), S_RESTART,
               "how long one DNS lookup may take before the domain counts as unreachable"),
    S_DURATION(xmppd, tls_handshake_timeout, "10s", S_MS(100), S_MIN(5), S_RESTART,
               "how long a TLS handshake on an s2s stream may take"),
    S_SIZE(xmppd, max_stanza, "256KiB", S_KIB(4), S_MIB(16), S_RESTART,
           "largest stanza accepted from a peer; a larger one is a policy-violation stream "
           "error"),
    S_INT(xmppd, outbound_queue_max, "1000", 1, 1000000, S_RESTART,
          "stanzas held per remote domain while its outbound stream is being set up; more "
          "are refused (the SIP side sees 503)"),
    S_STRING(xmppd, component_connect, "127.0.0.1:5347", 0, S_RESTART,
             "component mode: HOST:PORT of the XMPP server's component listener"),
    S_STRING(xmppd, component_domain, "", 0, S_RESTART,
             "component mode: the component's JID (the served domain as the XMPP server knows "
             "it); empty means the first of common.domains"),
    S_STRING(xmppd, component_secret_file, "", 0, S_RESTART,
             "component mode: file holding the component's shared secret (never put the secret "
             "itself in this file)"),
    S_INT(sipd, metrics_port, "9130", 0, 65535, S_RESTART,
          "Prometheus port of sipd instance 0; instance N uses metrics_port + N; 0 disables"),
    S_INT(sipd, credit, "64", 1, 100000, S_RESTART,
          "requests one sipd instance takes from the broker at a time"),
    S_STRING(sipd, sip_url, "sip:127.0.0.1:5060", 1, S_RESTART,
             "where sipd instance 0 listens for SIP over UDP and TCP (sofia-sip URL, e.g. "
             "sip:10.0.0.5:5060); instance N listens on that port + N"),
    S_STRING(sipd, sips_url, "", 0, S_RESTART,
             "where sipd instance 0 listens for SIP over TLS (e.g. sips:10.0.0.5:5061; instance N "
             "on that port + N); empty disables TLS"),
    S_STRING(sipd, outbound_proxy, "", 0, S_RESTART,
             "the SIP next hop every request from the gateway goes to (SIP URI with its "
             "transport, e.g. sip:10.0.0.2:5060;transport=tcp); empty sends by Request-URI"),
    S_STRING_CHECKED(
        sipd, trusted_peers, "127.0.0.1", 0, S_RESTART, s_check_cidr_list,
        "addresses or networks (CIDR) whose SIP requests are accepted, comma-separated; "
        "anything else gets 403"),
    S_STRING(sipd, trusted_tls_hosts, "", 0, S_RESTART,
             "host names that a TLS peer's certificate may carry to be trusted, comma-separated"),
    S_SIZE(sipd, max_message_body, "64KiB", S_KIB(1), S_MIB(1), S_RESTART,
           "largest MESSAGE body accepted from SIP; larger ones get 413"),
    S_DURATION(sipd, answer_timeout, "30s", S_SEC(1), S_SEC(31), S_RESTART,
               "an incoming MESSAGE is answered by then at the latest (408 if the XMPP side has "
               "not taken it), inside the 32 s SIP transaction budget"),
    S_DURATION(sipd, subscribe_expires, "1h", S_MIN(1), S_HOUR(24), S_RESTART,
               "Expires of the SUBSCRIBEs the gateway sends to SIP users; refreshed before "
               "expiry"),
    S_INT(policyd, metrics_port, "9150", 0, 65535, S_RESTART,
          "Prometheus port of policyd instance 0; instance N uses metrics_port + N; 0 disables"),
    S_STRING(policyd, database, "", 0, S_RESTART,
             "SQLite file of the policy store; empty means <data_dir>/policy.db"),
    S_INT(policyd, credit, "128", 1, 100000, S_RESTART,
          "requests one policyd instance takes from the broker at a time"),
    S_INT(certd, metrics_port, "9160", 0, 65535, S_RESTART,
          "Prometheus port of certd instance 0; instance N uses metrics_port + N; 0 disables"),
    S_INT(certd, credit, "64", 1, 100000, S_RESTART,
          "requests one certd instance takes from the broker at a time"),
    S_DURATION(certd, publish_interval, "2s", S_MS(100), S_MIN(1), S_RESTART,
               "how often certd re-publishes its certificate metadata as a heartbeat (changes "
               "are published at once)"),
    S_DURATION(certd, dialback_overlap, "1h", S_SEC(0), S_HOUR(168), S_RESTART,
               "after a dialback secret rotation, how long keys made with the previous secret "
               "still verify"),
    S_STRING(certd, dialback_secret_file, "", 0, S_RESTART,
             "file holding the dialback secret (passphrase); empty means certd generates a "
             "random secret and keeps it in its store"),
    S_STRING(certd, system_ca_file, "/etc/ssl/certs/ca-certificates.crt", 0, S_RESTART,
             "system CA bundle included in the trust store used to judge peers; empty means "
             "only the anchors added with xgwctl cert trust add"),
    S_DURATION(certd, expiry_warning, "720h", S_SEC(0), S_HOUR(24 * 366), S_RESTART,
               "xgwctl cert check warns about a certificate that expires within this time"),
    S_STRING(certd, tls_probe, "", 0, S_RESTART,
             "HOST:PORT of a TLS listener that presents exactly what the edges present (for "
             "openssl s_client checks); empty disables it"),

    /* [xgwctl] */
    S_DURATION(xgwctl, timeout, "5s", S_MS(100), S_MIN(10), S_RESTART,
               "how long xgwctl waits for a reply before giving up"),
};

#define S_KEY_COUNT (sizeof s_keys / sizeof s_keys[0])

/* State of one load: the private copy and what has been seen so far. */
struct cfg_parse {
    const char *name; /* FILE in messages */
    xgw_settings_t tmp;
    int section;           /* index into s_sections; -1 none yet, -2 unknown */
    int seen[S_KEY_COUNT]; /* line that set each key, 0 if not set */
    int rc;                /* first error, 0 if none */
    char *err;
    size_t errlen;
};

static void s_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void s_fail(struct cfg_parse *p, int line, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
s_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Records the first error of a load as "NAME:LINE: reason"; later errors are
 * checked but not reported. */
static void
s_fail(struct cfg_parse *p, int line, int rc, const char *fmt, ...)
{
    if (p->rc != 0)
        return;
    p->rc = rc;
    if (!p->err || p->errlen == 0)
        return;
    int n = snprintf(p->err, p->errlen, "%s:%d: ", p->name, line);
    if (n < 0 || (size_t)n >= p->errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

static bool
s_is_space(char c)
{
    return c == ' ' || c == '\t';
}

static bool
s_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Trims spaces and tabs at both ends of the mutable string t in place. */
static char *
s_trim(char *t)
{
    while (s_is_space(*t))
        t++;
    size_t n = strlen(t);
    while (n > 0 && s_is_space(t[n - 1]))
        n--;
    t[n] = '\0';
    return t;
}

static int
s_section_index(const char *name)
{
    for (int i = 0; s_sections[i]; i++) {
        if (strcmp(s_sections[i], name) == 0)
            return i;
    }
    return -1;
}

static const struct cfg_key *
s_key_find(const char *section, const char *name, size_t *idx)
{
    for (size_t i = 0; i < S_KEY_COUNT; i++) {
        if (strcmp(s_keys[i].section, section) == 0 && strcmp(s_keys[i].name, name) == 0) {
            if (idx)
                *idx = i;
            return &s_keys[i];
        }
    }
    return NULL;
}

/* Formats a duration in the largest unit that divides it exactly. */
static void
s_format_duration(int64_t ms, char *buf, size_t len)
{
    if (ms != 0 && ms % S_HOUR(1) == 0)
        snprintf(buf, len, "%" PRId64 "h", ms / S_HOUR(1));
    else if (ms != 0 && ms % S_MIN(1) == 0)
        snprintf(buf, len, "%" PRId64 "m", ms / S_MIN(1));
    else if (ms != 0 && ms % S_SEC(1) == 0)
        snprintf(buf, len, "%" PRId64 "s", ms / S_SEC(1));
    else
        snprintf(buf, len, "%" PRId64 "ms", ms);
}

static void
s_format_size(int64_t bytes, char *buf, size_t len)
{
    if (bytes != 0 && bytes % S_MIB(1024) == 0)
        snprintf(buf, len, "%" PRId64 "GiB", bytes / S_MIB(1024));
    else if (bytes != 0 && bytes % S_MIB(1) == 0)
        snprintf(buf, len, "%" PRId64 "MiB", bytes / S_MIB(1));
    else if (bytes != 0 && bytes % S_KIB(1) == 0)
        snprintf(buf, len, "%" PRId64 "KiB", bytes / S_KIB(1));
    else
        snprintf(buf, len, "%" PRId64 "B", bytes);
}

static void
s_format_bound(const struct cfg_key *k, int64_t v, char *buf, size_t len)
{
    if (k->type == CFG_DURATION)
        s_format_duration(v, buf, len);
    else if (k->type == CFG_SIZE)
        s_format_size(v, buf, len);
    else
        snprintf(buf, len, "%" PRId64, v);
}

/* Checks v against the key's inclusive bounds; 'text' is the value as
 * written, for the message. */
static int
s_check_bounds(const struct cfg_key *k, int64_t v, const char *text, char *why, size_t whylen)
{
    char bound[32];
    if (v < k->min) {
        s_format_bound(k, k->min, bound, sizeof bound);
        s_errf(why, whylen, "%s is below the minimum %s", text, bound);
        return XGW_ERANGE;
    }
    if (v > k->max) {
        s_format_bound(k, k->max, bound, sizeof bound);
        s_errf(why, whylen, "%s is above the maximum %s", text, bound);
        return XGW_ERANGE;
    }
    return 0;
}

static int
s_parse_string(const struct cfg_key *k, const char *v, char *field, char *why, size_t whylen)
{
    size_t len = strlen(v);
    if (len > k->size - 1) {
        s_errf(why, whylen, "value is %zu bytes, longer than the maximum %zu", len, k->size - 1);
        return XGW_ETOOBIG;
    }
    if ((int64_t)len < k->min) {
        if (len == 0)
            s_errf(why, whylen, "value must not be empty");
        else
            s_errf(why, whylen, "value is %zu bytes, shorter than the minimum %" PRId64, len,
                   k->min);
        return XGW_EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            s_errf(why, whylen, "value contains a control character (byte %zu)", i + 1);
            return XGW_EINVAL;
        }
    }
    if (k->check && len > 0 && k->check(v, why, whylen) != 0)
        return XGW_EINVAL;
    memset(field, 0, k->size);
    memcpy(field, v, len);
    return 0;
}

static int
s_parse_int(const struct cfg_key *k, const char *v, int64_t *field, char *why, size_t whylen)
{
    if (!(s_is_digit(v[0]) || ((v[0] == '-' || v[0] == '+') && s_is_digit(v[1])))) {
        s_errf(why, whylen, "\"%s\" is not an integer", v);
        return XGW_EINVAL;
    }
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (end == v || *end != '\0') {
        s_errf(why, whylen, "\"%s\" is not an integer", v);
        return XGW_EINVAL;
    }
    if (errno == ERANGE) {
        s_errf(why, whylen, "%s is out of range", v);
        return XGW_ERANGE;
    }
    int rc = s_check_bounds(k, (int64_t)n, v, why, whylen);
    if (rc < 0)
        return rc;
    *field = (int64_t)n;
    return 0;
}

static int
s_parse_bool(const char *v, bool *field, char *why, size_t whylen)
{
    static const char *const yes[] = {"on", "true", "yes", "1"};
    static const char *const no[] = {"off", "false", "no", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *field = true;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *field = false;
            return 0;
        }
    }
    s_errf(why, whylen, "\"%s\" is not a boolean (on, off, true, false, yes, no, 1, 0)", v);
    return XGW_EINVAL;
}

struct cfg_unit {
    const char *name;
    int64_t mult;
};

static const struct cfg_unit s_duration_units[] = {
    {"ms", 1}, {"s", S_SEC(1)}, {"m", S_MIN(1)}, {"h", S_HOUR(1)}, {NULL, 0},
};

static const struct cfg_unit s_size_units[] = {
    {"", 1}, {"B", 1}, {"KiB", S_KIB(1)}, {"MiB", S_MIB(1)}, {"GiB", S_MIB(1024)}, {NULL, 0},
};

/* Parses "<digits>[spaces]<unit>" for durations and sizes. */
static int
s_parse_scaled(const struct cfg_key *k, const char *v, int64_t *field, char *why, size_t whylen)
{
    bool dur = k->type == CFG_DURATION;
    const char *units = dur ? "ms, s, m, h" : "B, KiB, MiB, GiB";
    if (!s_is_digit(v[0])) {
        s_errf(why, whylen, "\"%s\" is not a %s (a non-negative integer%s, e.g. \"%s\")", v,
               dur ? "duration" : "size", dur ? " with a unit ms, s, m or h" : " of bytes",
               dur ? "10s" : "64KiB");
        return XGW_EINVAL;
    }
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno == ERANGE) {
        s_errf(why, whylen, "\"%s\" is too large", v);
        return XGW_ERANGE;
    }
    const char *u = end;
    while (s_is_space(*u))
        u++;
    if (dur && *u == '\0') {
        s_errf(why, whylen, "\"%s\" needs a unit (%s)", v, units);
        return XGW_EINVAL;
    }
    const struct cfg_unit *unit = dur ? s_duration_units : s_size_units;
    while (unit->name && strcmp(unit->name, u) != 0)
        unit++;
    if (!unit->name) {
        s_errf(why, whylen, "\"%s\" has an unknown unit \"%s\" (use %s)", v, u, units);
        return XGW_EINVAL;
    }
    if ((int64_t)n > INT64_MAX / unit->mult) {
        s_errf(why, whylen, "\"%s\" is too large", v);
        return XGW_ERANGE;
    }
    int64_t value = (int64_t)n * unit->mult;
    int rc = s_check_bounds(k, value, v, why, whylen);
    if (rc < 0)
        return rc;
    *field = value;
    return 0;
}

static int
s_parse_enum(const struct cfg_key *k, const char *v, char *field, char *why, size_t whylen)
{
    for (size_t i = 0; k->choices[i]; i++) {
        if (strcasecmp(v, k->choices[i]) == 0) {
            size_t len = strlen(k->choices[i]);
            memset(field, 0, k->size);
            memcpy(field, k->choices[i], len < k->size ? len : k->size - 1);
            return 0;
        }
    }
    char list[256];
    size_t used = 0;
    list[0] = '\0';
    for (size_t i = 0; k->choices[i] && used < sizeof list; i++) {
        int n = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", k->choices[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    s_errf(why, whylen, "\"%s\" is not one of %s", v, list);
    return XGW_EINVAL;
}

/* Parses the text v (already unquoted) as the value of k and stores it in
 * the settings struct at base. On failure stores nothing and writes the
 * reason into why. */
static int
s_parse_value(const struct cfg_key *k, const char *v, xgw_settings_t *base, char *why,
              size_t whylen)
{
    char *field = (char *)base + k->offset;
    switch (k->type) {
    case CFG_STRING:
        return s_parse_string(k, v, field, why, whylen);
    case CFG_INT:
        return s_parse_int(k, v, (int64_t *)(void *)field, why, whylen);
    case CFG_BOOL:
        return s_parse_bool(v, (bool *)(void *)field, why, whylen);
    case CFG_DURATION:
    case CFG_SIZE:
        return s_parse_scaled(k, v, (int64_t *)(void *)field, why, whylen);
    case CFG_ENUM:
        return s_parse_enum(k, v, field, why, whylen);
    }
    s_errf(why, whylen, "bad type in the key table");
    return XGW_EINVAL;
}

/* Turns the raw value text v (left-trimmed, mutable) into the value in place.
 * A quoted value loses its quotes and escapes; after the closing quote only
 * whitespace (and, if allow_comment, a '#' comment) may follow. An unquoted
 * value ends at a '#' that follows whitespace when allow_comment is set, and
 * is right-trimmed. */
static int
s_unquote(char *v, bool allow_comment, char *why, size_t whylen)
{
    if (*v != '"') {
        if (allow_comment) {
            for (char *c = v; *c; c++) {
                if (*c == '#' && (c == v || s_is_space(c[-1]))) {
                    *c = '\0';
                    break;
                }
            }
        }
        size_t n = strlen(v);
        while (n > 0 && s_is_space(v[n - 1]))
            n--;
        v[n] = '\0';
        return 0;
    }
    char *r = v + 1;
    char *w = v;
    for (;;) {
        if (*r == '\0') {
            s_errf(why, whylen, "unterminated quoted value (missing closing \")");
            return XGW_EINVAL;
        }
        if (*r == '"')
            break;
        if (*r == '\\') {
            if (r[1] == '"' || r[1] == '\\') {
                *w++ = r[1];
                r += 2;
                continue;
            }
            if (r[1] == '\0') {
                s_errf(why, whylen, "unterminated quoted value (missing closing \")");
                return XGW_EINVAL;
            }
            s_errf(why, whylen, "unknown escape \"\\%c\" in quoted value (only \\\" and \\\\)",
                   r[1]);
            return XGW_EINVAL;
        }
        *w++ = *r++;
    }
    r++; /* past the closing quote; w is at or before it */
    *w = '\0';
    while (s_is_space(*r))
        r++;
    if (*r != '\0' && !(allow_comment && *r == '#')) {
        s_errf(why, whylen, "unexpected text after the closing quote");
        return XGW_EINVAL;
    }
    return 0;
}

static void
s_parse_section(struct cfg_parse *p, int line, char *t)
{
    char *close = strchr(t, ']');
    if (!close) {
        s_fail(p, line, XGW_EINVAL, "missing \"]\" in section header");
        p->section = -2;
        return;
    }
    *close = '\0';
    char *rest = s_trim(close + 1);
    if (*rest != '\0' && *rest != '#' && *rest != ';') {
        s_fail(p, line, XGW_EINVAL, "unexpected text \"%s\" after section header", rest);
        p->section = -2;
        return;
    }
    char *name = s_trim(t + 1);
    p->section = s_section_index(name);
    if (p->section < 0) {
        s_fail(p, line, XGW_EINVAL, "unknown section [%s]", name);
        p->section = -2;
    }
}

static void
s_parse_line(struct cfg_parse *p, int line, char *text)
{
    char *t = s_trim(text);
    if (*t == '\0' || *t == '#' || *t == ';')
        return;
    if (*t == '[') {
        s_parse_section(p, line, t);
        return;
    }
    char *eq = strchr(t, '=');
    if (!eq) {
        s_fail(p, line, XGW_EINVAL, "expected \"key = value\", \"[section]\" or a comment");
        return;
    }
    *eq = '\0';
    char *key = s_trim(t);
    if (*key == '\0') {
        s_fail(p, line, XGW_EINVAL, "missing key before \"=\"");
        return;
    }
    if (p->section == -1) {
        s_fail(p, line, XGW_EINVAL, "key \"%s\" is outside any section (add a [section] above it)",
               key);
        return;
    }
    if (p->section < 0)
        return; /* inside an unknown section: already reported */
    const char *section = s_sections[p->section];
    size_t idx = 0;
    const struct cfg_key *k = s_key_find(section, key, &idx);
    if (!k) {
        s_fail(p, line, XGW_EINVAL, "unknown key \"%s\" in section [%s]", key, section);
        return;
    }
    if (p->seen[idx] != 0) {
        s_fail(p, line, XGW_EINVAL, "duplicate key \"%s\" in section [%s] (first set on line %d)",
               key, section, p->seen[idx]);
        return;
    }
    p->seen[idx] = line;

    char why[S_WHY_MAX];
    char *v = eq + 1;
    while (s_is_space(*v))
        v++;
    int rc = s_unquote(v, true, why, sizeof why);
    if (rc == 0)
        rc = s_parse_value(k, v, &p->tmp, why, sizeof why);
    if (rc < 0)
        s_fail(p, line, rc, "[%s] %s: %s", section, key, why);
}

/* Parses len bytes of text (need not be NUL-terminated) on top of *s. */
static int
s_load_text(xgw_settings_t *s, const char *text, size_t len, const char *name, char *err,
            size_t errlen)
{
    struct cfg_parse p;
    memset(&p, 0, sizeof p);
    p.name = name;
    p.tmp = *s;
    p.section = -1;
    p.err = err;
    p.errlen = errlen;
    if (err && errlen > 0)
        err[0] = '\0';

    if (len > S_FILE_MAX) {
        s_errf(err, errlen, "%s: file is larger than 1 MiB (%zu bytes)", name, len);
        return XGW_ETOOBIG;
    }
    size_t pos = 0;
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        pos = 3; /* UTF-8 byte order mark */

    char buf[S_LINE_MAX + 1];
    int line = 0;
    while (pos < len) {
        line++;
        const char *start = text + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - start) : len - pos;
        pos += n + (nl ? 1 : 0);
        if (n > 0 && start[n - 1] == '\r')
            n--;
        if (n > S_LINE_MAX) {
            s_fail(&p, line, XGW_ETOOBIG, "line is longer than %d bytes", S_LINE_MAX);
            continue;
        }
        if (memchr(start, '\0', n)) {
            s_fail(&p, line, XGW_EINVAL, "line contains a NUL byte");
            continue;
        }
        memcpy(buf, start, n);
        buf[n] = '\0';
        s_parse_line(&p, line, buf);
    }
    if (p.rc == 0)
        *s = p.tmp;
    return p.rc;
}

int
xgw_config_defaults(xgw_settings_t *s)
{
    if (!s)
        return XGW_EINVAL;
    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < S_KEY_COUNT; i++) {
        const struct cfg_key *k = &s_keys[i];
        char why[S_WHY_MAX];
        for (size_t c = 0; k->type == CFG_ENUM && k->choices[c]; c++) {
            if (strlen(k->choices[c]) >= k->size) {
                fprintf(stderr, "xgw_config: choice \"%s\" of %s.%s does not fit its field\n",
                        k->choices[c], k->section, k->name);
                abort();
            }
        }
        int rc = s_parse_value(k, k->def, s, why, sizeof why);
        if (rc < 0) {
            fprintf(stderr, "xgw_config: bad default for %s.%s: %s\n", k->section, k->name, why);
            abort();
        }
    }
    return 0;
}

int
xgw_config_load_string(xgw_settings_t *s, const char *text, const char *name, char *err,
                       size_t errlen)
{
    if (!name)
        name = "<string>";
    if (!s || !text) {
        s_errf(err, errlen, "%s: no settings or no text given", name);
        return XGW_EINVAL;
    }
    return s_load_text(s, text, strlen(text), name, err, errlen);
}

int
xgw_config_load_file(xgw_settings_t *s, const char *path, char *err, size_t errlen)
{
    if (!s || !path) {
        s_errf(err, errlen, "%s: no settings or no path given", path ? path : "<null>");
        return XGW_EINVAL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        s_errf(err, errlen, "%s: cannot open: %s", path, strerror(e));
        return e == ENOENT ? XGW_ENOENT : XGW_EIO;
    }
    /* One byte more than the limit tells "too large" from "exactly 1 MiB". */
    char *buf = malloc(S_FILE_MAX + 1);
    if (!buf) {
        fclose(f);
        s_errf(err, errlen, "%s: out of memory", path);
        return XGW_ENOMEM;
    }
    size_t n = fread(buf, 1, S_FILE_MAX + 1, f);
    int rc = 0;
    if (ferror(f)) {
        s_errf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        rc = XGW_EIO;
    } else if (n > S_FILE_MAX) {
        s_errf(err, errlen, "%s: file is larger than 1 MiB", path);
        rc = XGW_ETOOBIG;
    } else {
        rc = s_load_text(s, buf, n, path, err, errlen);
    }
    free(buf);
    fclose(f);
    return rc;
}

int
xgw_config_set(xgw_settings_t *s, const char *assignment, char *err, size_t errlen)
{
    if (err && errlen > 0)
        err[0] = '\0';
    if (!s || !assignment) {
        s_errf(err, errlen, "no settings or no assignment given");
        return XGW_EINVAL;
    }
    size_t len = strlen(assignment);
    if (len > S_LINE_MAX) {
        s_errf(err, errlen, "assignment is longer than %d bytes", S_LINE_MAX);
        return XGW_ETOOBIG;
    }
    char buf[S_LINE_MAX + 1];
    memcpy(buf, assignment, len + 1);
    char *eq = strchr(buf, '=');
    char *dot = eq ? memchr(buf, '.', (size_t)(eq - buf)) : NULL;
    if (!eq || !dot) {
        s_errf(err, errlen, "\"%s\" is not section.key=value", assignment);
        return XGW_EINVAL;
    }
    *eq = '\0';
    *dot = '\0';
    char *section = s_trim(buf);
    char *key = s_trim(dot + 1);
    char *v = eq + 1;
    while (s_is_space(*v))
        v++;
    if (s_section_index(section) < 0) {
        s_errf(err, errlen, "unknown section [%s]", section);
        return XGW_EINVAL;
    }
    const struct cfg_key *k = s_key_find(section, key, NULL);
    if (!k) {
        s_errf(err, errlen, "unknown key \"%s\" in section [%s]", key, section);
        return XGW_EINVAL;
    }
    char why[S_WHY_MAX];
    int rc = 0;
    if (*v == '"') {
        rc = s_unquote(v, false, why, sizeof why);
    } else {
        size_t n = strlen(v);
        while (n > 0 && s_is_space(v[n - 1]))
            n--;
        v[n] = '\0';
    }
    xgw_settings_t tmp = *s;
    if (rc == 0)
        rc = s_parse_value(k, v, &tmp, why, sizeof why);
    if (rc < 0) {
        s_errf(err, errlen, "[%s] %s: %s", section, key, why);
        return rc;
    }
    *s = tmp;
    return 0;
}

int
xgw_config_apply_reloadable(xgw_settings_t *live, const xgw_settings_t *fresh, char *changed,
                            size_t changed_len)
{
    if (changed && changed_len > 0)
        changed[0] = '\0';
    if (!live || !fresh)
        return XGW_EINVAL;
    int count = 0;
    size_t used = 0;
    for (size_t i = 0; i < S_KEY_COUNT; i++) {
        const struct cfg_key *k = &s_keys[i];
        char *a = (char *)live + k->offset;
        const char *b = (const char *)fresh + k->offset;
        if (k->reloadable) {
            memcpy(a, b, k->size);
            continue;
        }
        bool same;
        if (k->type == CFG_STRING || k->type == CFG_ENUM)
            same = strncmp(a, b, k->size) == 0;
        else
            same = memcmp(a, b, k->size) == 0;
        if (same)
            continue;
        count++;
        if (changed && changed_len > 0 && used < changed_len - 1) {
            int n = snprintf(changed + used, changed_len - used, "%s%s.%s", used ? "," : "",
                             k->section, k->name);
            if (n > 0)
                used += (size_t)n < changed_len - used ? (size_t)n : changed_len - used - 1;
        }
    }
    return count;
}

/* Writes a string value in double quotes, escaping '"' and '\'. */
static void
s_quote(const char *v, size_t max, char *buf, size_t len)
{
    size_t w = 0;
    if (len < 3) {
        if (len > 0)
            buf[0] = '\0';
        return;
    }
    buf[w++] = '"';
    for (size_t i = 0; i < max && v[i] && w + 3 < len; i++) {
        if (v[i] == '"' || v[i] == '\\')
            buf[w++] = '\\';
        buf[w++] = v[i];
    }
    buf[w++] = '"';
    buf[w] = '\0';
}

static void
s_format_value(const struct cfg_key *k, const xgw_settings_t *s, char *buf, size_t len)
{
    const char *field = (const char *)s + k->offset;
    int64_t n = 0;
    if (k->type == CFG_INT || k->type == CFG_DURATION || k->type == CFG_SIZE)
        memcpy(&n, field, sizeof n);
    switch (k->type) {
    case CFG_STRING:
        s_quote(field, k->size, buf, len);
        return;
    case CFG_ENUM:
        snprintf(buf, len, "%.*s", (int)(k->size - 1), field);
        return;
    case CFG_BOOL: {
        bool b;
        memcpy(&b, field, sizeof b);
        snprintf(buf, len, "%s", b ? "on" : "off");
        return;
    }
    case CFG_INT:
    case CFG_DURATION:
    case CFG_SIZE:
        s_format_bound(k, n, buf, len);
        return;
    }
    snprintf(buf, len, "?");
}

void
xgw_config_dump(const xgw_settings_t *s, FILE *out)
{
    static const char *const type_names[] = {
        [CFG_STRING] = "string",     [CFG_INT] = "int",   [CFG_BOOL] = "bool",
        [CFG_DURATION] = "duration", [CFG_ENUM] = "enum", [CFG_SIZE] = "size",
    };
    if (!s || !out)
        return;
    xgw_settings_t d;
    xgw_config_defaults(&d);
    for (size_t i = 0; i < S_KEY_COUNT; i++) {
        const struct cfg_key *k = &s_keys[i];
        char val[2 * XGW_CONFIG_PATH_MAX + 3];
        char def[2 * XGW_CONFIG_PATH_MAX + 3];
        char bounds[128];
        char lo[32];
        char hi[32];
        s_format_value(k, s, val, sizeof val);
        s_format_value(k, &d, def, sizeof def);
        switch (k->type) {
        case CFG_STRING:
            snprintf(bounds, sizeof bounds, "%s%" PRId64 " bytes max",
                     k->min > 0 ? "non-empty, " : "", k->max);
            break;
        case CFG_ENUM: {
            size_t used = 0;
            bounds[0] = '\0';
            for (size_t c = 0; k->choices[c] && used < sizeof bounds; c++) {
                int n = snprintf(bounds + used, sizeof bounds - used, "%s%s", c ? "|" : "",
                                 k->choices[c]);
                if (n < 0)
                    break;
                used += (size_t)n;
            }
            break;
        }
        case CFG_BOOL:
            snprintf(bounds, sizeof bounds, "on|off");
            break;
        case CFG_INT:
        case CFG_DURATION:
        case CFG_SIZE:
            s_format_bound(k, k->min, lo, sizeof lo);
            s_format_bound(k, k->max, hi, sizeof hi);
            snprintf(bounds, sizeof bounds, "%s..%s", lo, hi);
            break;
        }
        fprintf(out, "%s.%s = %s  # %s, default %s, %s, %s\n", k->section, k->name, val,
                type_names[k->type], def, bounds, k->reloadable ? "reloadable" : "restart");
    }
}

size_t
xgw_config_key_count(void)
{
    return S_KEY_COUNT;
}

int
xgw_config_key_info(size_t i, const char **section, const char **key, const char **help)
{
    if (i >= S_KEY_COUNT)
        return XGW_ERANGE;
    if (section)
        *section = s_keys[i].section;
    if (key)
        *key = s_keys[i].name;
    if (help)
        *help = s_keys[i].help;
    return 0;
}
