/*
 * xgw_procfs.c - process_* metrics from /proc/self; see xgw_procfs.h.
 */
#include "xgw_procfs.h"
#include "xgw_error.h"
#include "xgw_log.h"
#include "xgw_metrics.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* The fields of /proc/self/stat we use, numbered as in proc(5). */
#define S_F_UTIME 14
#define S_F_STIME 15
#define S_F_THREADS 20
#define S_F_STARTTIME 22
#define S_F_VSIZE 23
#define S_F_RSS 24

struct s_procfs {
    xgw_series_t *cpu;
    xgw_series_t *rss;
    xgw_series_t *vsize;
    xgw_series_t *open_fds;
    xgw_series_t *max_fds;
    xgw_series_t *start_time;
    xgw_series_t *threads;
};

static struct s_procfs s_pf;
static _Atomic uint64_t s_btime = 0; /* /proc/stat btime, cached; 0 = unknown */
static atomic_bool s_failure_logged = false;

static void
s_log_failure(const char *what, int err)
{
    if (!atomic_exchange(&s_failure_logged, true))
        xgw_debug("procfs_read_failed", "what=%s errno=%d", what, err);
}

/* Reads a small file fully into buf (NUL-terminated). Returns the length or
 * -1 (errno set). Stops at sizeof buf - 1 bytes. */
static ssize_t
s_read_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    while (len + 1 < cap) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

/* Parses one unsigned decimal token starting at *p (leading spaces skipped),
 * advancing *p past it. Returns 0 or XGW_EINVAL. */
static int
s_next_u64(const char **p, unsigned long long *out)
{
    const char *s = *p;
    while (*s == ' ')
        s++;
    if (*s < '0' || *s > '9')
        return XGW_EINVAL;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || (*end != ' ' && *end != '\n' && *end != '\0'))
        return XGW_EINVAL;
    *out = v;
    *p = end;
    return 0;
}

/* Skips one space-separated token (any content). Returns 0 or XGW_EINVAL. */
static int
s_skip_token(const char **p)
{
    const char *s = *p;
    while (*s == ' ')
        s++;
    if (*s == '\0' || *s == '\n')
        return XGW_EINVAL;
    while (*s && *s != ' ' && *s != '\n')
        s++;
    *p = s;
    return 0;
}

/* The comm field (2) may hold spaces and ')', so parsing starts after the
 * LAST ')'; the next token is field 3. */
int
xgw__procfs_parse_stat(const char *text, xgw_procfs_stat_t *st)
{
    const char *p = text ? strrchr(text, ')') : NULL;
    if (!p || !st)
        return XGW_EINVAL;
    p++;
    for (int field = 3; field <= S_F_RSS; field++) {
        unsigned long long v = 0;
        int rc;
        switch (field) {
        case S_F_UTIME:
        case S_F_STIME:
        case S_F_THREADS:
        case S_F_STARTTIME:
        case S_F_VSIZE:
        case S_F_RSS:
            rc = s_next_u64(&p, &v);
            break;
        default:
            rc = s_skip_token(&p);
            break;
        }
        if (rc != 0)
            return rc;
        switch (field) {
        case S_F_UTIME:
            st->utime = v;
            break;
        case S_F_STIME:
            st->stime = v;
            break;
        case S_F_THREADS:
            st->threads = v;
            break;
        case S_F_STARTTIME:
            st->starttime = v;
            break;
        case S_F_VSIZE:
            st->vsize = v;
            break;
        case S_F_RSS:
            st->rss = v;
            break;
        default:
            break;
        }
    }
    return 0;
}

/* Returns the boot time from the "btime" line of /proc/stat, or 0. That file
 * has very long lines on big machines, hence getline(). */
static unsigned long long
s_boot_time(void)
{
    uint64_t cached = atomic_load(&s_btime);
    if (cached)
        return cached;
    FILE *fp = fopen("/proc/stat", "re");
    if (!fp) {
        s_log_failure("proc_stat", errno);
        return 0;
    }
    char *line = NULL;
    size_t cap = 0;
    unsigned long long bt = 0;
    while (getline(&line, &cap, fp) > 0) {
        if (strncmp(line, "btime ", 6) == 0) {
            const char *p = line + 6;
            if (s_next_u64(&p, &bt) != 0)
                bt = 0;
            break;
        }
    }
    free(line);
    fclose(fp);
    if (bt)
        atomic_store(&s_btime, (uint64_t)bt);
    return bt;
}

/* Counts /proc/self/fd entries, not counting the directory's own fd. */
static int
s_count_fds(long *out)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return XGW_EIO;
    int self = dirfd(d);
    long n = 0;
    const struct dirent *e;
    for (;;) {
        e = readdir(d);
        if (!e)
            break;
        if (e->d_name[0] == '.')
            continue;
        char *end = NULL;
        long fd = strtol(e->d_name, &end, 10);
        if (end && *end == '\0' && fd == self)
            continue;
        n++;
    }
    closedir(d);
    *out = n;
    return 0;
}

static void
s_collect(void *ud)
{
    const struct s_procfs *pf = ud;
    char buf[4096];
    xgw_procfs_stat_t st = {0};
    long tck = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    if (tck <= 0)
        tck = 100;
    if (page <= 0)
        page = 4096;

    if (s_read_file("/proc/self/stat", buf, sizeof buf) < 0) {
        s_log_failure("self_stat", errno);
    } else if (xgw__procfs_parse_stat(buf, &st) != 0) {
        s_log_failure("self_stat_parse", 0);
    } else {
        xgw_series_set(pf->cpu, (double)(st.utime + st.stime) / (double)tck);
        xgw_series_set(pf->rss, (double)st.rss * (double)page);
        xgw_series_set(pf->vsize, (double)st.vsize);
        xgw_series_set(pf->threads, (double)st.threads);
        unsigned long long bt = s_boot_time();
        if (bt)
            xgw_series_set(pf->start_time, (double)bt + (double)st.starttime / (double)tck);
        else if (xgw_metrics_start_time() > 0)
            xgw_series_set(pf->start_time, xgw_metrics_start_time());
    }

    long nfds = 0;
    if (s_count_fds(&nfds) == 0)
        xgw_series_set(pf->open_fds, (double)nfds);
    else
        s_log_failure("self_fd", errno);

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        xgw_series_set(pf->max_fds, (double)rl.rlim_cur);
}

static xgw_series_t *
s_one(bool is_counter, const char *name, const char *help)
{
    xgw_family_t *f = is_counter ? xgw_metrics_counter_double(name, help, NULL)
                                 : xgw_metrics_gauge(name, help, NULL);
    return xgw_family_series(f);
}

int
xgw_procfs_register(void)
{
    struct s_procfs *pf = &s_pf;
    pf->cpu = s_one(true, "process_cpu_seconds_total",
                    "Total user and system CPU time spent in seconds.");
    pf->rss = s_one(false, "process_resident_memory_bytes", "Resident memory size in bytes.");
    pf->vsize = s_one(false, "process_virtual_memory_bytes", "Virtual memory size in bytes.");
    pf->open_fds = s_one(false, "process_open_fds", "Number of open file descriptors.");
    pf->max_fds = s_one(false, "process_max_fds", "Maximum number of open file descriptors.");
    pf->start_time = s_one(false, "process_start_time_seconds",
                           "Start time of the process since unix epoch in seconds.");
    pf->threads = s_one(false, "process_threads", "Number of OS threads in the process.");
    if (!pf->cpu || !pf->rss || !pf->vsize || !pf->open_fds || !pf->max_fds || !pf->start_time ||
        !pf->threads) {
        xgw_error("procfs_register_failed", "reason=family");
        return XGW_ENOMEM;
    }
    int rc = xgw_metrics_add_collector(s_collect, pf);
    if (rc != 0 && rc != XGW_EEXIST) {
        xgw_error("procfs_register_failed", "rc=%d", rc);
        return XGW_ERROR;
    }
    return 0;
}
