/*
 * xgw_daemon.h - what every xgw process does around its own work: command
 * line (-c FILE, -t, --instance N, --set section.key=value), the config file,
 * logging, signals (SIGTERM/SIGINT drain, SIGHUP reload), the Prometheus
 * endpoint with build and process metrics.
 *
 * Usage in a main():
 *     xgw_daemon_t d;
 *     int rc = xgw_daemon_init(&d, "policyd", argc, argv);
 *     if (rc != XGW_DAEMON_RUN) return rc == XGW_DAEMON_EXIT_OK ? 0 : 2;
 *     xgw_daemon_start(&d, d.settings.policyd.metrics_port, NULL, NULL);
 *     ... loop until xgw_daemon_stop, calling xgw_daemon_reload when
 *         xgw_daemon_reload_requested is set ...
 *     xgw_daemon_fini(&d);
 */
#ifndef XGW_DAEMON_H
#define XGW_DAEMON_H

#include "xgw_config.h"
#include "xgw_http.h"

#include <signal.h>

#define XGW_DAEMON_RUN 0        /* go on and run */
#define XGW_DAEMON_EXIT_OK 1    /* -t passed, or --help/--version: exit 0 */
#define XGW_DAEMON_EXIT_USAGE 2 /* bad arguments or config: exit 2 (message printed) */

#define XGW_DAEMON_MAX_SETS 32

/* Set by the signal handlers; read by the process loops. */
extern volatile sig_atomic_t xgw_daemon_stop;
extern volatile sig_atomic_t xgw_daemon_reload_requested;

typedef struct {
    const char *process;                   /* "broker", "xmppd", ... (static string) */
    int instance;                          /* --instance N (supervisord's process_num), default 0 */
    char instance_name[64];                /* "<process>.<NN>", stable across restarts */
    char config_path[XGW_CONFIG_PATH_MAX]; /* "" = built-in defaults only */
    const char *sets[XGW_DAEMON_MAX_SETS]; /* --set arguments (borrowed argv) */
    int n_sets;
    int check_only;
    int verbose; /* -v with -t: print every key's value */
    xgw_settings_t settings;
    xgw_http_t *http;
    int metrics_port; /* bound port, 0 if disabled */
} xgw_daemon_t;

/* Parses argv and loads the config (defaults, then -c FILE, then each --set
 * in order). Prints errors as "process: FILE:LINE: reason" to stderr.
 * Returns XGW_DAEMON_RUN, XGW_DAEMON_EXIT_OK (after printing "config ok" for
 * -t) or XGW_DAEMON_EXIT_USAGE. */
int xgw_daemon_init(xgw_daemon_t *d, const char *process, int argc, char **argv);

/* Sets up logging and signal handlers, and serves metrics on
 * common.metrics_listen:(metrics_port_base + instance) unless the base is 0.
 * health may be NULL (always healthy). Returns 0, or a negative code if the
 * metrics port cannot be bound (logged). */
int xgw_daemon_start(xgw_daemon_t *d, int64_t metrics_port_base, xgw_health_fn health,
                     void *health_ud);

/* Re-reads the config for SIGHUP and applies the reloadable keys to
 * d->settings; logs which other keys changed and need a restart. On a bad
 * file keeps the running settings and logs the error. Returns 0 or a
 * negative code. */
int xgw_daemon_reload(xgw_daemon_t *d);

/* Creates path and its missing parents with mode (like mkdir -p).
 * Returns 0 or XGW_EIO (errno tells why). */
int xgw_daemon_mkdirs(const char *path, unsigned mode);

/* Stops the metrics endpoint. */
void xgw_daemon_fini(xgw_daemon_t *d);

/* Loads settings the same way init does, into *out, without touching
 * anything else (for tools such as xgwctl). */
int xgw_daemon_load_settings(const char *path, const char *const *sets, int n_sets,
                             xgw_settings_t *out, char *err, size_t errlen);

#endif
