/*
 * xgw_log.h - one logfmt line per event on stderr.
 *
 * Every line: ts=<RFC 3339 UTC, ms> lvl=<level> proc=<process> inst=<n>
 * event=<name> followed by the caller's key=value pairs. supervisord captures
 * stderr, so processes never open log files themselves.
 *
 * Rules for callers: never pass message bodies, passwords or key material;
 * quote values that may contain spaces ("key=\"%s\""). Control characters in
 * the formatted line are replaced by '?' so a peer cannot forge log lines.
 */
#ifndef XGW_LOG_H
#define XGW_LOG_H

#include <stdarg.h>

typedef enum {
    XGW_LOG_DEBUG = 0,
    XGW_LOG_INFO = 1,
    XGW_LOG_WARN = 2,
    XGW_LOG_ERROR = 3,
} xgw_log_level_t;

/* Sets the process name and instance number printed on every line. The
 * strings are copied. Safe to call again (e.g. after the config is read). */
void xgw_log_init(const char *proc, int instance);

/* Lines below this level are not printed. Thread-safe (atomic). */
void xgw_log_set_level(xgw_log_level_t level);

/* Turns the ts= field on or off (common.log_timestamps; off suits a
 * supervisor that stamps lines itself). Thread-safe (atomic). */
void xgw_log_set_timestamps(int on);

/* Parses "debug" | "info" | "warn" | "error". Returns 0 and sets *out, or
 * XGW_EINVAL leaving *out unchanged. */
int xgw_log_level_parse(const char *text, xgw_log_level_t *out);

/* Writes one line. fmt may be NULL for an event with no fields. Lines longer
 * than 2 KiB are truncated and end in "truncated=1". */
void xgw_log(xgw_log_level_t level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define xgw_debug(ev, ...) xgw_log(XGW_LOG_DEBUG, ev, __VA_ARGS__)
#define xgw_info(ev, ...) xgw_log(XGW_LOG_INFO, ev, __VA_ARGS__)
#define xgw_warn(ev, ...) xgw_log(XGW_LOG_WARN, ev, __VA_ARGS__)
#define xgw_error(ev, ...) xgw_log(XGW_LOG_ERROR, ev, __VA_ARGS__)

#endif
