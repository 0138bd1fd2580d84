/*
 * xgw_procfs.h - standard process_* metrics read from /proc/self.
 *
 * Registers, in the global metrics registry (xgw_metrics.h):
 *   process_cpu_seconds_total       counter  utime+stime from /proc/self/stat
 *   process_resident_memory_bytes   gauge    rss pages * page size
 *   process_virtual_memory_bytes    gauge    vsize
 *   process_open_fds                gauge    entries of /proc/self/fd
 *   process_max_fds                 gauge    RLIMIT_NOFILE soft limit
 *   process_start_time_seconds      gauge    /proc/stat btime + starttime ticks
 *   process_threads                 gauge    num_threads
 * and a collector that refreshes them at every render (scrape), in the
 * rendering thread. Values that cannot be read keep their previous value and
 * the failure is logged once at debug level.
 */
#ifndef XGW_PROCFS_H
#define XGW_PROCFS_H

/* Registers the families and the collector. Idempotent: calling it again
 * (also after xgw_metrics_reset()) re-registers what is missing. Call it from
 * one thread at start-up, before the HTTP server runs.
 * Returns 0, or XGW_ENOMEM / XGW_ERROR when a family or the collector could
 * not be registered (details logged); the registry may then hold some of the
 * families. */
int xgw_procfs_register(void);

/* Internal, exposed for tests: the /proc/<pid>/stat fields we use. */
typedef struct {
    unsigned long long utime; /* clock ticks */
    unsigned long long stime; /* clock ticks */
    unsigned long long threads;
    unsigned long long starttime; /* clock ticks after boot */
    unsigned long long vsize;     /* bytes */
    unsigned long long rss;       /* pages */
} xgw_procfs_stat_t;

/* Internal, exposed for tests: parses the text of a /proc/<pid>/stat file
 * into *out. The comm field may contain spaces and parentheses; parsing
 * resumes after the last ')'. Returns 0, or XGW_EINVAL (out partly written)
 * on malformed text. */
int xgw__procfs_parse_stat(const char *text, xgw_procfs_stat_t *out);

#endif
