/*
 * xgw_config.h - the one configuration file of the xgw process group.
 *
 * Every process reads the same INI-style file (-c FILE): [common] plus its own
 * section. Every key is declared exactly once, in a table in xgw_config.c,
 * with its type, default, bounds, whether SIGHUP reloads it and a help text;
 * the loader, `-t -v` (xgw_config_dump) and the docs are driven by that table.
 *
 * File syntax:
 *   [section]                 one of common broker xmppd sipd policyd certd xgwctl
 *   key = value               surrounding whitespace is trimmed
 *   key = "a # b \" \\"       double quotes keep '#' and spaces; escapes \" and \\
 *   key = value  # comment    a '#' preceded by whitespace ends an unquoted value
 *   # comment / ; comment     whole-line comments; blank lines are ignored
 * Unknown sections and keys, keys outside a section, duplicate keys, bad
 * syntax, wrong types and out-of-range values are all errors. Lines longer
 * than 4096 bytes and files larger than 1 MiB are errors.
 *
 * Value types:
 *   string    bounded char array; longer values are an error
 *   int       int64_t, decimal, bounds inclusive
 *   bool      on|off|true|false|yes|no|1|0 (case-insensitive), stored as bool
 *   duration  integer with unit ms, s, m or h (required), stored as int64_t ms
 *   size      integer bytes with optional unit B, KiB, MiB, GiB, stored int64_t
 *   enum      one of a fixed list, stored as a bounded lower-case string
 *
 * Every numeric field is int64_t. Duration fields end in _ms; size fields
 * hold bytes. The metrics port a process instance listens on is
 * <section>.metrics_port + instance number (the caller adds it; 0 disables).
 *
 * Thread safety: none of these functions keep state between calls; each one
 * touches only the structs passed to it.
 */
#ifndef XGW_CONFIG_H
#define XGW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Bytes of the char arrays below, including the terminating NUL. */
#define XGW_CONFIG_PATH_MAX 256
#define XGW_CONFIG_ADDR_MAX 64
#define XGW_CONFIG_ENUM_MAX 16
#define XGW_CONFIG_LIST_MAX 1024

typedef struct xgw_settings_common {
    char broker_frontend[XGW_CONFIG_PATH_MAX]; /* clients connect here */
    char broker_backend[XGW_CONFIG_PATH_MAX];  /* workers connect here */
    char data_dir[XGW_CONFIG_PATH_MAX];
    char run_dir[XGW_CONFIG_PATH_MAX];
    char log_level[XGW_CONFIG_ENUM_MAX]; /* debug|info|warn|error; reloadable */
    bool log_timestamps;                 /* ts= field on log lines; reloadable */
    int64_t heartbeat_interval_ms;
    int64_t heartbeat_liveness; /* missed heartbeats before a peer is dead */
    int64_t request_timeout_ms;
    int64_t retry_interval_ms; /* first client retry; doubles each time */
    int64_t max_body;          /* bytes */
    int64_t dedup_ttl_ms;
    int64_t dedup_max;
    int64_t drain_timeout_ms;
    char metrics_listen[XGW_CONFIG_ADDR_MAX];
    char domains[XGW_CONFIG_LIST_MAX];         /* served SIP/XMPP domains, comma-separated */
    char policy_updates[XGW_CONFIG_PATH_MAX];  /* policyd PUB: rule-set changes */
    char policy_snapshot[XGW_CONFIG_PATH_MAX]; /* policyd ROUTER: rule-set snapshots */
    char audit_log[XGW_CONFIG_PATH_MAX];       /* "" = <data_dir>/audit.log */
    char cert_updates[XGW_CONFIG_PATH_MAX];    /* certd PUB: certificate metadata */
} xgw_settings_common_t;

typedef struct xgw_settings_broker {
    int64_t metrics_port;
    int64_t queue_max; /* reloadable */
    int64_t expiry_check_interval_ms;
    int64_t sndhwm;
} xgw_settings_broker_t;

typedef struct xgw_settings_xmppd {
    int64_t metrics_port;
    int64_t credit;
    char mode[XGW_CONFIG_ENUM_MAX];              /* s2s | component */
    char s2s_listen[XGW_CONFIG_ADDR_MAX];        /* HOST:PORT, "" = no inbound */
    char direct_tls_listen[XGW_CONFIG_ADDR_MAX]; /* HOST:PORT (XEP-0368), "" = off */
    char dns_servers[XGW_CONFIG_LIST_MAX];       /* HOST[:PORT],... "" = resolv.conf */
    int64_t dns_timeout_ms;
    int64_t tls_handshake_timeout_ms;
    int64_t max_stanza;                          /* bytes */
    int64_t outbound_queue_max;                  /* stanzas per remote domain */
    char component_connect[XGW_CONFIG_ADDR_MAX]; /* HOST:PORT of the XMPP server */
    char component_domain[XGW_CONFIG_LIST_MAX];  /* component JID(s) */
    char component_secret_file[XGW_CONFIG_PATH_MAX];
} xgw_settings_xmppd_t;

typedef struct xgw_settings_sipd {
    int64_t metrics_port;
    int64_t credit;
    char sip_url[XGW_CONFIG_ADDR_MAX];           /* UDP+TCP listener, sofia URL */
    char sips_url[XGW_CONFIG_ADDR_MAX];          /* TLS listener, "" = off */
    char outbound_proxy[XGW_CONFIG_PATH_MAX];    /* next hop SIP URI */
    char trusted_peers[XGW_CONFIG_LIST_MAX];     /* addresses / CIDRs */
    char trusted_tls_hosts[XGW_CONFIG_LIST_MAX]; /* names in TLS peer certificates */
    int64_t max_message_body;                    /* bytes */
    int64_t answer_timeout_ms;                   /* answer an incoming MESSAGE by then */
    int64_t subscribe_expires_ms;                /* Expires of our SUBSCRIBEs */
} xgw_settings_sipd_t;

typedef struct xgw_settings_policyd {
    int64_t metrics_port;
    int64_t credit;
    char database[XGW_CONFIG_PATH_MAX]; /* "" = <data_dir>/policy.db */
} xgw_settings_policyd_t;

typedef struct xgw_settings_certd {
    int64_t metrics_port;
    int64_t credit;
    int64_t publish_interval_ms;                    /* heartbeat of the cert_updates PUB */
    int64_t dialback_overlap_ms;                    /* old dialback secret still verifies */
    char dialback_secret_file[XGW_CONFIG_PATH_MAX]; /* "" = certd generates the secret */
    char system_ca_file[XGW_CONFIG_PATH_MAX];       /* "" = no system CAs in the trust store */
    int64_t expiry_warning_ms;                      /* cert check warns this long before expiry */
    char tls_probe[XGW_CONFIG_ADDR_MAX];            /* "" = off; HOST:PORT of the TLS probe */
} xgw_settings_certd_t;

typedef struct xgw_settings_xgwctl {
    int64_t timeout_ms;
} xgw_settings_xgwctl_t;

/* Plain value type: no heap, no pointers; copy it with '='. */
typedef struct xgw_settings {
    xgw_settings_common_t common;
    xgw_settings_broker_t broker;
    xgw_settings_xmppd_t xmppd;
    xgw_settings_sipd_t sipd;
    xgw_settings_policyd_t policyd;
    xgw_settings_certd_t certd;
    xgw_settings_xgwctl_t xgwctl;
} xgw_settings_t;

/* Fills *s (owned by the caller) with every key's default value; unused
 * bytes are zeroed, so two default structs compare equal with memcmp.
 * Returns 0 (XGW_EINVAL if s is NULL). A default that does not parse is a bug in the table: the
 * function then prints it to stderr and aborts. */
int xgw_config_defaults(xgw_settings_t *s);

/* Reads the file at 'path' and applies it on top of *s (call
 * xgw_config_defaults first). The file is parsed into a private copy that is
 * committed to *s only if every line is valid.
 *
 * On success returns 0. On failure returns a negative code and leaves *s
 * unchanged: XGW_ENOENT (file missing), XGW_EIO (cannot read), XGW_ETOOBIG
 * (file over 1 MiB, line over 4096 bytes, string longer than its field),
 * XGW_ERANGE (number out of bounds or overflowing), XGW_EINVAL (anything
 * else). Every line is checked and the first error is written to err as
 * "FILE:LINE: reason" (or "FILE: reason"), NUL-terminated and truncated to
 * errlen bytes. err may be NULL or errlen 0 to skip the message. */
int xgw_config_load_file(xgw_settings_t *s, const char *path, char *err, size_t errlen);

/* Same as xgw_config_load_file, from the NUL-terminated 'text' (borrowed).
 * 'name' stands for FILE in messages ("<string>" if NULL). */
int xgw_config_load_string(xgw_settings_t *s, const char *text, const char *name, char *err,
                           size_t errlen);

/* Applies one override "section.key=value" (the argument of --set). The value
 * is taken verbatim after trimming whitespace, unless it starts with '"', in
 * which case it is parsed as a quoted file value. Same validation and return
 * codes as the file loader; on failure *s is unchanged and err holds the
 * reason without a FILE:LINE prefix. */
int xgw_config_set(xgw_settings_t *s, const char *assignment, char *err, size_t errlen);

/* For SIGHUP. 'fresh' is a complete, already-loaded settings struct (defaults
 * + file + overrides: the caller's business); 'live' is the running one.
 * Copies every reloadable key from fresh into live and leaves the other keys
 * of live alone. Returns the number of non-reloadable keys whose value differs
 * between the two (the caller logs "restart needed"); if 'changed' is not NULL
 * and changed_len > 0, writes their "section.key" names comma-separated
 * (NUL-terminated, truncated to changed_len; "" when none). Returns XGW_EINVAL
 * if live or fresh is NULL. Neither pointer is kept. */
int xgw_config_apply_reloadable(xgw_settings_t *live, const xgw_settings_t *fresh, char *changed,
                                size_t changed_len);

/* Writes one line per key, in table order, to 'out' (borrowed, not closed):
 *   section.key = value  # type, default D, bounds, reloadable|restart
 * String values are quoted so every line is a valid xgw_config_set argument. */
void xgw_config_dump(const xgw_settings_t *s, FILE *out);

/* Number of keys in the table. */
size_t xgw_config_key_count(void);

/* Describes key number i (0 <= i < xgw_config_key_count()): stores static
 * strings (never freed) into each non-NULL out pointer. Returns 0, or
 * XGW_ERANGE if i is out of range (the out pointers are then untouched). */
int xgw_config_key_info(size_t i, const char **section, const char **key, const char **help);

#endif
