/*
 * xgw_daemon.c - process frame shared by every xgw daemon; see xgw_daemon.h.
 */
#include "xgw_daemon.h"
#include "xgw_error.h"
#include "xgw_log.h"
#include "xgw_metrics.h"
#include "xgw_procfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

volatile sig_atomic_t xgw_daemon_stop = 0;
volatile sig_atomic_t xgw_daemon_reload_requested = 0;

static void
s_on_stop(int sig)
{
    (void)sig;
    xgw_daemon_stop = 1;
}

static void
s_on_hup(int sig)
{
    (void)sig;
    xgw_daemon_reload_requested = 1;
}

static void
s_usage(const char *process, FILE *out)
{
    fprintf(out,
            "usage: xgw-%s [-c FILE] [-t] [--instance N] [--set section.key=value]...\n"
            "  -c FILE         config file for the whole group (default: built-in defaults)\n"
            "  -t              check the config and exit (0 if valid, 2 if not)\n"
            "  -v              with -t: print every key with its value\n"
            "  --instance N    instance number (supervisord process_num); metrics port is\n"
            "                  the section's metrics_port + N\n"
            "  --set S.K=V     override one key after the file is read\n"
            "  -V, --version   print the version\n",
            process);
}

static int
s_parse_int(const char *text, int min, int max, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
        return XGW_EINVAL;
    *out = (int)v;
    return 0;
}

int
xgw_daemon_load_settings(const char *path, const char *const *sets, int n_sets, xgw_settings_t *out,
                         char *err, size_t errlen)
{
    xgw_settings_t s;
    xgw_config_defaults(&s);
    if (path && *path) {
        int rc = xgw_config_load_file(&s, path, err, errlen);
        if (rc != 0)
            return rc;
    }
    for (int i = 0; i < n_sets; i++) {
        int rc = xgw_config_set(&s, sets[i], err, errlen);
        if (rc != 0)
            return rc;
    }
    *out = s;
    return 0;
}

int
xgw_daemon_init(xgw_daemon_t *d, const char *process, int argc, char **argv)
{
    memset(d, 0, sizeof *d);
    d->process = process;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_next = i + 1 < argc;
        if (strcmp(a, "-c") == 0 && has_next) {
            snprintf(d->config_path, sizeof d->config_path, "%s", argv[++i]);
        } else if (strcmp(a, "-t") == 0) {
            d->check_only = 1;
        } else if (strcmp(a, "-v") == 0) {
            d->verbose = 1;
        } else if ((strcmp(a, "--instance") == 0 || strcmp(a, "-i") == 0) && has_next) {
            if (s_parse_int(argv[++i], 0, 99, &d->instance) != 0) {
                fprintf(stderr, "xgw-%s: --instance needs a number from 0 to 99, not \"%s\"\n",
                        process, argv[i]);
                return XGW_DAEMON_EXIT_USAGE;
            }
        } else if (strcmp(a, "--set") == 0 && has_next) {
            if (d->n_sets >= XGW_DAEMON_MAX_SETS) {
                fprintf(stderr, "xgw-%s: at most %d --set options\n", process, XGW_DAEMON_MAX_SETS);
                return XGW_DAEMON_EXIT_USAGE;
            }
            d->sets[d->n_sets++] = argv[++i];
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            s_usage(process, stdout);
            return XGW_DAEMON_EXIT_OK;
        } else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
            printf("xgw-%s %s\n", process, XGW_VERSION);
            return XGW_DAEMON_EXIT_OK;
        } else {
            fprintf(stderr, "xgw-%s: unknown or incomplete option \"%s\"\n", process, a);
            s_usage(process, stderr);
            return XGW_DAEMON_EXIT_USAGE;
        }
    }
    snprintf(d->instance_name, sizeof d->instance_name, "%s.%02d", process, d->instance);

    char err[512];
    if (xgw_daemon_load_settings(d->config_path, d->sets, d->n_sets, &d->settings, err,
                                 sizeof err) != 0) {
        fprintf(stderr, "xgw-%s: %s\n", process, err);
        return XGW_DAEMON_EXIT_USAGE;
    }
    if (d->check_only) {
        if (d->verbose)
            xgw_config_dump(&d->settings, stdout);
        printf("xgw-%s: config %s ok\n", process,
               d->config_path[0] ? d->config_path : "(built-in defaults)");
        return XGW_DAEMON_EXIT_OK;
    }
    return XGW_DAEMON_RUN;
}

static void
s_apply_log_level(const xgw_settings_t *s)
{
    xgw_log_level_t level = XGW_LOG_INFO;
    if (xgw_log_level_parse(s->common.log_level, &level) == 0)
        xgw_log_set_level(level);
    xgw_log_set_timestamps(s->common.log_timestamps);
}

int
xgw_daemon_start(xgw_daemon_t *d, int64_t metrics_port_base, xgw_health_fn health, void *health_ud)
{
    xgw_log_init(d->process, d->instance);
    s_apply_log_level(&d->settings);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = s_on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = s_on_hup;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* ipc:// endpoints live in run_dir and the stores in data_dir: make
     * them on a fresh machine instead of failing to bind. */
    if (xgw_daemon_mkdirs(d->settings.common.run_dir, 0750) != 0 ||
        xgw_daemon_mkdirs(d->settings.common.data_dir, 0750) != 0) {
        xgw_error("dir_create_failed", "run_dir=\"%s\" data_dir=\"%s\" error=\"%s\"",
                  d->settings.common.run_dir, d->settings.common.data_dir, strerror(errno));
        return XGW_EIO;
    }
    xgw_metrics_build_info(d->process, d->instance, XGW_VERSION);
    xgw_procfs_register();
    if (metrics_port_base > 0) {
        int port = (int)metrics_port_base + d->instance;
        d->http = xgw_http_new(d->settings.common.metrics_listen, port, health, health_ud);
        if (!d->http) {
            xgw_error("metrics_bind_failed", "listen=%s port=%d", d->settings.common.metrics_listen,
                      port);
            return XGW_EIO;
        }
        d->metrics_port = xgw_http_port(d->http);
    }
    xgw_info("started", "version=%s config=\"%s\" metrics_port=%d", XGW_VERSION,
             d->config_path[0] ? d->config_path : "(defaults)", d->metrics_port);
    return 0;
}

int
xgw_daemon_reload(xgw_daemon_t *d)
{
    xgw_settings_t fresh;
    char err[512];
    if (xgw_daemon_load_settings(d->config_path, d->sets, d->n_sets, &fresh, err, sizeof err) !=
        0) {
        xgw_error("reload_failed", "reason=\"%s\"", err);
        return XGW_EINVAL;
    }
    char changed[512] = "";
    int n = xgw_config_apply_reloadable(&d->settings, &fresh, changed, sizeof changed);
    s_apply_log_level(&d->settings);
    if (n > 0)
        xgw_warn("reload_partial", "restart_needed_for=\"%s\"", changed);
    xgw_info("reloaded", "log_level=%s", d->settings.common.log_level);
    return 0;
}

int
xgw_daemon_mkdirs(const char *path, unsigned mode)
{
    char buf[XGW_CONFIG_PATH_MAX];
    if (!path || !*path || strlen(path) >= sizeof buf)
        return XGW_EINVAL;
    memcpy(buf, path, strlen(path) + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, mode) != 0 && errno != EEXIST)
                return XGW_EIO;
            *p = '/';
        }
    }
    if (mkdir(buf, mode) != 0 && errno != EEXIST)
        return XGW_EIO;
    return 0;
}

void
xgw_daemon_fini(xgw_daemon_t *d)
{
    xgw_http_destroy(&d->http);
}
