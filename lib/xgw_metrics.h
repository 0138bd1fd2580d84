/*
 * xgw_metrics.h - process-global Prometheus metrics registry.
 *
 * A family is one metric name with a type, a help text and up to
 * XGW_METRICS_MAX_LABELS label names. A series is one tuple of label values
 * within a family. Families are registered at start-up (or lazily: the
 * registry is protected by a mutex); series are created on demand and then
 * updated lock-free with C11 atomics from any thread. xgw_metrics_render()
 * may run in another thread (the HTTP thread) while updates go on.
 *
 * Neither families nor series are ever freed while the process runs (except
 * by xgw_metrics_reset(), which is for tests), so the pointers returned here
 * may be cached in static variables and used from any thread.
 *
 * Cardinality guard: a family holds at most XGW_METRICS_MAX_SERIES series.
 * Once full, every new label tuple maps to one overflow series whose label
 * values are all "other", and a warning is logged once for that family.
 *
 * Plain libc + pthreads + stdatomic; no czmq here (xgw-sipd includes this
 * from units that must not see czmq headers).
 */
#ifndef XGW_METRICS_H
#define XGW_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define XGW_METRICS_MAX_LABELS 4
#define XGW_METRICS_MAX_SERIES 256
#define XGW_METRICS_MAX_BOUNDS 64
#define XGW_METRICS_MAX_COLLECTORS 32

typedef struct xgw_family xgw_family_t; /* one metric name */
typedef struct xgw_series xgw_series_t; /* one label-value tuple; stable for process lifetime */

/* Registers (or finds) a counter family. 'name' must match
 * [a-zA-Z_:][a-zA-Z0-9_:]*; 'labels' is NULL, "" or a comma-separated list of
 * up to XGW_METRICS_MAX_LABELS distinct label names matching
 * [a-zA-Z_][a-zA-Z0-9_]* (not starting with "__"). 'help' may be NULL.
 * All strings are copied.
 *
 * Registering a name again with the same type, labels (and bounds, for
 * histograms) returns the existing family; the new help text is ignored.
 * Returns NULL, logging why, on an invalid name or label list, on a
 * conflicting re-registration, or when out of memory. The returned family is
 * owned by the registry: never free it. A family without labels gets its
 * single series at registration, so it renders as 0 before any update. */
xgw_family_t *xgw_metrics_counter(const char *name, const char *help, const char *labels);

/* Like xgw_metrics_counter(), but the series hold a double instead of an
 * integer (# TYPE still says counter). Meant for values sampled from outside,
 * such as process_cpu_seconds_total: update with xgw_series_set() or
 * xgw_series_gauge_add(). A double counter and an integer counter of the same
 * name conflict. */
xgw_family_t *xgw_metrics_counter_double(const char *name, const char *help, const char *labels);

/* Registers (or finds) a gauge family (double values). Same contract as
 * xgw_metrics_counter(). */
xgw_family_t *xgw_metrics_gauge(const char *name, const char *help, const char *labels);

/* Registers (or finds) a histogram family. 'bounds' are the bucket upper
 * bounds, finite and strictly increasing, at most XGW_METRICS_MAX_BOUNDS of
 * them (copied; a trailing +Inf is accepted and dropped since the +Inf bucket
 * is always rendered). nbounds may be 0 (only the +Inf bucket). "le" is not a
 * valid label name here. Same contract as xgw_metrics_counter() otherwise;
 * re-registration must also repeat the same bounds. */
xgw_family_t *xgw_metrics_histogram(const char *name, const char *help, const char *labels,
                                    const double *bounds, size_t nbounds);

/* Returns the series of 'f' for the given label values (const char *, exactly
 * as many as the family has labels; a NULL value counts as ""). The values are
 * copied. The series is owned by the registry and lives as long as the
 * process: callers should look it up once and cache it.
 * When the family already holds XGW_METRICS_MAX_SERIES series, a new tuple
 * gets the overflow series (all values "other"). NULL family -> NULL; NULL
 * otherwise only when out of memory (the update functions accept NULL). */
xgw_series_t *xgw_family_series(xgw_family_t *f, ...);

/* Same as xgw_family_series() with the values in an array of n entries.
 * Returns NULL when f is NULL or n differs from the family's label count
 * (logged: that is a programming error). */
xgw_series_t *xgw_family_series_v(xgw_family_t *f, const char *const *values, size_t n);

/* Updates. All are lock-free, callable from any thread and no-ops on NULL.
 * xgw_series_inc/add: integer counter += n; on a double counter or a gauge
 *   they add n as a double; no-op on histograms.
 * xgw_series_set: gauge or double counter = v; no-op on other types.
 * xgw_series_gauge_add: gauge or double counter += d; no-op otherwise.
 * xgw_series_observe: histogram only. NaN lands in the +Inf bucket. */
void xgw_series_inc(xgw_series_t *s);
void xgw_series_add(xgw_series_t *s, uint64_t n);
void xgw_series_set(xgw_series_t *s, double v);
void xgw_series_gauge_add(xgw_series_t *s, double d);
void xgw_series_observe(xgw_series_t *s, double v);

/* Reads, mostly for tests. xgw_series_count: integer counter value,
 * histogram observation count, or a double counter/gauge truncated to an
 * integer (negative and NaN -> 0). xgw_series_value: gauge or double counter
 * value, integer counter value as a double, histogram sum. NULL -> 0. */
uint64_t xgw_series_count(const xgw_series_t *s);
double xgw_series_value(const xgw_series_t *s);

/* A collector runs at render time, in the rendering thread, before any family
 * is rendered; it typically samples something and sets gauges. Collectors run
 * without the registry lock held, so they may register families and create
 * series. 'ud' is borrowed and must outlive the registration.
 * Returns 0, XGW_EINVAL if fn is NULL, XGW_EEXIST if the same (fn, ud) pair is
 * already registered (nothing changes), XGW_ERANGE when
 * XGW_METRICS_MAX_COLLECTORS are registered. */
typedef void (*xgw_collector_fn)(void *ud);
int xgw_metrics_add_collector(xgw_collector_fn fn, void *ud);

/* Runs the collectors, then renders every family in Prometheus text format
 * 0.0.4: "# HELP", "# TYPE" and the samples, families in registration order
 * and series in creation order; histograms as cumulative _bucket{le="..."}
 * lines ending with le="+Inf", then _sum and _count (_count always equals the
 * +Inf bucket). Every line ends in '\n'. Integer counters print as integers;
 * doubles print in the shortest form that reads back exactly (integral values
 * without exponent), and as +Inf, -Inf, NaN.
 * Returns a malloc'd NUL-terminated buffer that the caller frees, with its
 * length (without the NUL) in *len if len is not NULL; NULL on allocation
 * failure. Thread-safe against updates and registrations. */
char *xgw_metrics_render(size_t *len);

/* Registers the gauge xgw_build_info{version,process,instance} = 1 and
 * records the process start time (see xgw_metrics_start_time()). Call once at
 * start-up; NULL strings render as "unknown". Returns 0, or XGW_ENOMEM when
 * the family or series could not be created. */
int xgw_metrics_build_info(const char *process, int instance, const char *version);

/* Wall-clock time (seconds since the epoch) recorded by the first
 * xgw_metrics_build_info() call, or 0 if it was never called. */
double xgw_metrics_start_time(void);

/* For tests only: drops every family, series and collector; every pointer
 * handed out before becomes invalid. Not thread-safe against concurrent
 * updates or renders. */
void xgw_metrics_reset(void);

#endif
