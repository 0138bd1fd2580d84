/*
 * xgw_audit.c - append-only audit of policy denials; see xgw_audit.h.
 */
#include "xgw_audit.h"
#include "xgw_error.h"
#include "xgw_log.h"
#include "xgw_metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int s_fd = -1;
static xgw_series_t *s_lines;

int
xgw_audit_open(const char *path)
{
    xgw_audit_close();
    xgw_family_t *f = xgw_metrics_counter("xgw_policy_audit_lines_total",
                                          "Denials written to the audit log.", NULL);
    s_lines = xgw_family_series(f);
    if (!path || !*path)
        return 0;
    s_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (s_fd < 0) {
        xgw_error("audit_open_failed", "path=\"%s\" error=\"%s\"", path, strerror(errno));
        return XGW_EIO;
    }
    return 0;
}

void
xgw_audit_close(void)
{
    if (s_fd >= 0)
        close(s_fd);
    s_fd = -1;
}

/* Copies v into out with characters that would break a logfmt value
 * (space, quote, control) replaced by '?'. */
static const char *
s_clean(const char *v, char *out, size_t outlen)
{
    size_t i = 0;
    for (; v && v[i] && i + 1 < outlen; i++) {
        unsigned char c = (unsigned char)v[i];
        out[i] = (c <= 0x20 || c == '"' || c == 0x7f) ? '?' : (char)c;
    }
    out[i] = '\0';
    return out;
}

void
xgw_audit_denial(const xgw_decision_t *d, xgw_kind_t kind, const char *decided_by)
{
    if (d->allow)
        return;
    char local[XGW_ADDRESS_MAX + 1], remote[XGW_ADDRESS_MAX + 1], detail[sizeof d->detail];
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line,
                     "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ event=policy_denied by=%s rule=%s "
                     "detail=%s kind=%s direction=%s local=%s remote=%s policy=%s source=%s\n",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000L, decided_by ? decided_by : "-", d->rule ? d->rule : "-",
                     s_clean(d->detail, detail, sizeof detail), xgw_kind_name(kind),
                     d->direction == XGW_DIR_INBOUND ? "inbound" : "outbound",
                     s_clean(d->local_user, local, sizeof local),
                     s_clean(d->remote, remote, sizeof remote), d->policy ? d->policy->name : "-",
                     d->policy_source[0] ? d->policy_source : "-");
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (len == sizeof line - 1)
        line[len - 1] = '\n';
    if (s_fd >= 0 && write(s_fd, line, len) == (ssize_t)len) {
        xgw_series_inc(s_lines);
        return;
    }
    /* No file (or it failed): the denial still gets recorded, in the log. */
    line[len - 1] = '\0';
    xgw_warn("audit", "%s", line + 25);
    xgw_series_inc(s_lines);
}
