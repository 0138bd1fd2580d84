/*
 * xgw_log.c - logfmt lines on stderr; see xgw_log.h.
 */
#include "xgw_log.h"
#include "xgw_error.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char s_proc[32] = "xgw";
static int s_instance = 0;
static atomic_int s_level = XGW_LOG_INFO;
static atomic_int s_timestamps = 1;

static const char *const s_level_names[] = {"debug", "info", "warn", "error"};

void
xgw_log_init(const char *proc, int instance)
{
    snprintf(s_proc, sizeof s_proc, "%s", proc ? proc : "xgw");
    s_instance = instance;
}

void
xgw_log_set_level(xgw_log_level_t level)
{
    atomic_store(&s_level, (int)level);
}

void
xgw_log_set_timestamps(int on)
{
    atomic_store(&s_timestamps, on ? 1 : 0);
}

int
xgw_log_level_parse(const char *text, xgw_log_level_t *out)
{
    for (int i = 0; i < 4; i++) {
        if (text && strcmp(text, s_level_names[i]) == 0) {
            *out = (xgw_log_level_t)i;
            return 0;
        }
    }
    return XGW_EINVAL;
}

void
xgw_log(xgw_log_level_t level, const char *event, const char *fmt, ...)
{
    if ((int)level < atomic_load(&s_level) || (int)level < 0 || (int)level > 3)
        return;

    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);

    char stamp[96] = "";
    if (atomic_load(&s_timestamps))
        snprintf(stamp, sizeof stamp, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 ts.tv_nsec / 1000000L);
    int n = snprintf(line, sizeof line, "%slvl=%s proc=%s inst=%d event=%s", stamp,
                     s_level_names[level], s_proc, s_instance, event ? event : "-");
    if (n < 0)
        return;
    size_t used = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (fmt && *fmt && used + 2 < sizeof line) {
        line[used++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + used, sizeof line - used, fmt, ap);
        va_end(ap);
        if (m > 0)
            used += (size_t)m < sizeof line - used ? (size_t)m : sizeof line - used - 1;
    }
    /* Control characters would let a peer-supplied value start a new line. */
    for (size_t i = 0; i < used; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c < 0x20 || c == 0x7f)
            line[i] = '?';
    }
    const char *tail = "\n";
    if (used >= sizeof line - 1) {
        used = sizeof line - 16;
        tail = " truncated=1\n";
    }
    char out[sizeof line + 16];
    memcpy(out, line, used);
    size_t tl = strlen(tail);
    memcpy(out + used, tail, tl);
    /* One write() per line so concurrent writers (metrics thread) do not
     * interleave inside a line. */
    ssize_t w = write(STDERR_FILENO, out, used + tl);
    (void)w;
}
