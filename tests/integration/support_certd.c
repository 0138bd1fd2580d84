/*
 * support_certd.c - broker + certd + xgwctl for the certd tests; see
 * support_certd.h.
 */
#include "support_certd.h"
#include "support_cert.h"
#include "support_proc.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int
xc_start_certd(xc_env_t *e)
{
    int before = xt_count_lines(e->certd_log, "event=serving");
    char *argv[] = {(char *)xt_bin("xgw-certd"), "-c", e->conf, NULL};
    e->certd = xt_spawn(argv, e->certd_log);
    if (e->certd < 0)
        return -1;
    e->certd_starts++;
    return xt_wait_lines(e->certd_log, "event=serving", before + 1, 20000);
}

int
xc_start(xc_env_t *e, const char *extra_certd)
{
    memset(e, 0, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "%s", xt_tmpdir());
    snprintf(e->conf, sizeof e->conf, "%s/xgw.conf", e->dir);
    snprintf(e->data, sizeof e->data, "%s/data", e->dir);
    snprintf(e->broker_log, sizeof e->broker_log, "%s/broker.log", e->dir);
    snprintf(e->certd_log, sizeof e->certd_log, "%s/certd.log", e->dir);

    char sysca[300];
    snprintf(sysca, sizeof sysca, "%s/system-ca.pem", e->dir);
    int64_t now = (int64_t)time(NULL);
    xt_cert_spec_t sp = {.cn = "Unrelated System CA",
                         .ca = 1,
                         .not_before = now - 86400,
                         .not_after = now + 3650 * 86400};
    xt_cert_t ca;
    if (xt_cert_make(&sp, NULL, &ca) != 0 || xt_cert_write(&ca, sysca, NULL, NULL) != 0)
        return -1;
    xt_cert_free(&ca);

    FILE *f = fopen(e->conf, "w");
    if (!f)
        return -1;
    fprintf(f,
            "[common]\n"
            "broker_frontend = \"ipc://%s/front\"\n"
            "broker_backend = \"ipc://%s/back\"\n"
            "cert_updates = \"ipc://%s/cert-updates\"\n"
            "data_dir = \"%s\"\n"
            "run_dir = \"%s\"\n"
            "domains = \"example.net, example.org\"\n"
            "heartbeat_interval = 200ms\n"
            "retry_interval = 200ms\n"
            "log_level = debug\n"
            "[broker]\n"
            "metrics_port = 0\n"
            "[certd]\n"
            "%s"
            "publish_interval = 300ms\n"
            "system_ca_file = \"%s\"\n"
            "%s\n"
            "[xgwctl]\n"
            "timeout = 10s\n",
            e->dir, e->dir, e->dir, e->data, e->dir,
            extra_certd && strstr(extra_certd, "metrics_port") ? "" : "metrics_port = 0\n", sysca,
            extra_certd ? extra_certd : "");
    if (fclose(f) != 0)
        return -1;

    char *bargv[] = {(char *)xt_bin("xgw-broker"), "-c", e->conf, NULL};
    e->broker = xt_spawn(bargv, e->broker_log);
    if (e->broker < 0)
        return -1;
    return xc_start_certd(e);
}

int
xc_shutdown_certd(xc_env_t *e)
{
    /* Gracefully: certd must drain and exit 0, and (in sanitizer builds)
     * report nothing, leaks included. */
    int rc = 0;
    if (e->certd > 0 && kill(e->certd, 0) == 0) {
        xt_signal(e->certd, SIGTERM);
        int status = xt_wait(e->certd, 15000);
        if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "certd did not exit 0 on SIGTERM (status %d)\n", status);
            rc = -1;
        }
    }
    static const char *const reports[] = {"AddressSanitizer", "LeakSanitizer", "runtime error:"};
    for (size_t i = 0; i < sizeof reports / sizeof reports[0]; i++) {
        if (e->certd_log[0] && xt_count_lines(e->certd_log, reports[i]) > 0) {
            fprintf(stderr, "certd log %s holds a sanitizer report (%s)\n", e->certd_log,
                    reports[i]);
            rc = -1;
        }
    }
    e->certd = 0;
    if (rc != 0)
        e->failed = 1;
    return rc;
}

int
xc_stop(xc_env_t *e)
{
    int rc = xc_shutdown_certd(e) == 0 && !e->failed ? 0 : -1;
    xt_cleanup();
    if (!e->dir[0] || getenv("XGW_KEEP_TMP") || rc != 0)
        return rc; /* keep the logs of a failure */
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", e->dir);
    return rc;
}

static char *
s_slurp(const char *path)
{
    char *s = xt_read_text(path);
    if (!s) {
        s = malloc(1);
        if (s)
            s[0] = '\0';
    }
    return s;
}

int
xc_ctl(xc_env_t *e, xc_run_t *r, ...)
{
    char *argv[64];
    int n = 0;
    argv[n++] = (char *)xt_bin("xgwctl");
    static char ctl[1100];
    snprintf(ctl, sizeof ctl, "%s", argv[0]);
    argv[0] = ctl;
    argv[n++] = "-c";
    argv[n++] = e->conf;
    va_list ap;
    va_start(ap, r);
    for (;;) {
        char *a = va_arg(ap, char *);
        if (!a || n >= 63)
            break;
        argv[n++] = a;
    }
    va_end(ap);
    argv[n] = NULL;

    char out[400], err[400];
    snprintf(out, sizeof out, "%s/ctl.out", e->dir);
    snprintf(err, sizeof err, "%s/ctl.err", e->dir);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    r->code = -1;
    if (rc == 0) {
        int status = 0;
        waitpid(pid, &status, 0);
        if (WIFEXITED(status))
            r->code = WEXITSTATUS(status);
    }
    r->out = s_slurp(out);
    r->err = s_slurp(err);
    return r->code;
}

void
xc_run_free(xc_run_t *r)
{
    free(r->out);
    free(r->err);
    r->out = NULL;
    r->err = NULL;
}

int
xc_sh(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf)
            break;
        if (len + 1024 > cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, p);
        if (n == 0)
            break;
        len += n;
    }
    if (buf)
        buf[len] = '\0';
    int status = pclose(p);
    if (out)
        *out = buf;
    else
        free(buf);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void
xc_tree(const xc_env_t *e, char *out, size_t len)
{
    char cmd[800];
    snprintf(cmd, sizeof cmd,
             "cd '%s/certs' && (find . -printf '%%P %%m\\n' | LC_ALL=C sort; "
             "find . -type f | LC_ALL=C sort | xargs cat) | sha256sum",
             e->data);
    char *s = NULL;
    xc_sh(cmd, &s);
    snprintf(out, len, "%s", s ? s : "");
    free(s);
}

int
xc_probe_port(const xc_env_t *e)
{
    if (xt_wait_lines(e->certd_log, "event=probe_listening", 1, 10000) != 0)
        return -1;
    FILE *f = fopen(e->certd_log, "r");
    if (!f)
        return -1;
    char line[2048];
    int port = -1;
    while (fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "event=probe_listening");
        const char *q = p ? strstr(p, "port=") : NULL;
        if (q)
            port = (int)strtol(q + 5, NULL, 10);
    }
    fclose(f);
    return port;
}
