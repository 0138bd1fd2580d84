/*
 * xgw_metrics.c - Prometheus registry and text rendering; see xgw_metrics.h.
 *
 * Concurrency model:
 * - s_lock protects the family list, the collector list and series creation.
 * - A family's series live in a fixed array; a new series is written to its
 *   slot first and then published by a release store of nseries, so readers
 *   (lookups and the renderer) scan series[0 .. nseries) without the lock.
 * - Values are _Atomic uint64_t: integer counters directly, doubles (gauges,
 *   double counters, histogram sums) as their bit pattern, updated by CAS.
 * - Histogram buckets are per-bucket (not cumulative) counts; the renderer
 *   sums them, and the histogram count is that same sum, so _count always
 *   equals the +Inf bucket.
 */
#include "xgw_metrics.h"
#include "xgw_error.h"
#include "xgw_log.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef enum {
    S_COUNTER = 0, /* uint64 integer */
    S_COUNTER_F,   /* double, # TYPE counter */
    S_GAUGE,       /* double */
    S_HISTOGRAM,
} s_kind_t;

static const char *const s_kind_type[] = {"counter", "counter", "gauge", "histogram"};

struct xgw_series {
    xgw_family_t *family;
    uint64_t hash;
    char *values[XGW_METRICS_MAX_LABELS];
    _Atomic uint64_t value;     /* counter count, or double bits */
    _Atomic uint64_t sum;       /* histogram sum (double bits) */
    _Atomic uint64_t buckets[]; /* histogram: nbounds + 1 entries, last is +Inf */
};

struct xgw_family {
    char *name;
    char *help;
    s_kind_t kind;
    size_t nlabels;
    char *labels[XGW_METRICS_MAX_LABELS];
    double bounds[XGW_METRICS_MAX_BOUNDS];
    size_t nbounds;
    /* series[0 .. nseries) are distinct tuples in creation order. Once the
     * family is full, 'overflow' is set (it is series[MAX] unless an
     * all-"other" tuple already existed) and no series is ever added again. */
    _Atomic size_t nseries;
    xgw_series_t *series[XGW_METRICS_MAX_SERIES + 1];
    _Atomic(xgw_series_t *) overflow;
};

struct s_collector {
    xgw_collector_fn fn;
    void *ud;
};

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static xgw_family_t **s_families = NULL; /* registration order */
static size_t s_nfamilies = 0;
static size_t s_families_cap = 0;
static struct s_collector s_collectors[XGW_METRICS_MAX_COLLECTORS];
static size_t s_ncollectors = 0;
static _Atomic uint64_t s_start_bits = 0;

/* ---- small helpers ---------------------------------------------------- */

static inline uint64_t
s_d2u(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static inline double
s_u2d(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static void
s_atomic_add_double(_Atomic uint64_t *cell, double d)
{
    uint64_t old = atomic_load_explicit(cell, memory_order_relaxed);
    for (;;) {
        uint64_t next = s_d2u(s_u2d(old) + d);
        if (atomic_compare_exchange_weak_explicit(cell, &old, next, memory_order_relaxed,
                                                  memory_order_relaxed))
            return;
    }
}

static char *
s_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    return p;
}

static bool
s_valid_metric_name(const char *s)
{
    if (!s || !*s)
        return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

/* Label names are stricter than metric names: no ':' and no "__" prefix
 * (reserved by Prometheus). */
static bool
s_valid_label_name(const char *s, size_t len)
{
    if (len == 0)
        return false;
    if (len >= 2 && s[0] == '_' && s[1] == '_')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static uint64_t
s_hash_values(const char *const *values, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        const char *v = values[i] ? values[i] : "";
        for (; *v; v++) {
            h ^= (unsigned char)*v;
            h *= 1099511628211ULL;
        }
        h ^= 0xff; /* separator, so ("ab","") != ("a","b") */
        h *= 1099511628211ULL;
    }
    return h;
}

/* ---- families ----------------------------------------------------------- */

static void
s_series_free(xgw_series_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < XGW_METRICS_MAX_LABELS; i++)
        free(s->values[i]);
    free(s);
}

static void
s_family_free(xgw_family_t *f)
{
    if (!f)
        return;
    size_t n = atomic_load(&f->nseries);
    for (size_t i = 0; i < n; i++)
        s_series_free(f->series[i]);
    for (size_t i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    free(f->name);
    free(f->help);
    free(f);
}

/* Splits "a, b,c" into f->labels. Returns 0 or XGW_EINVAL / XGW_ENOMEM. */
static int
s_parse_labels(xgw_family_t *f, const char *labels)
{
    f->nlabels = 0;
    if (!labels)
        return 0;
    const char *p = labels;
    while (*p == ' ')
        p++;
    if (!*p)
        return 0;
    for (;;) {
        while (*p == ' ')
            p++;
        const char *start = p;
        while (*p && *p != ',' && *p != ' ')
            p++;
        size_t len = (size_t)(p - start);
        while (*p == ' ')
            p++;
        if (*p && *p != ',')
            return XGW_EINVAL;
        if (!s_valid_label_name(start, len) || f->nlabels >= XGW_METRICS_MAX_LABELS)
            return XGW_EINVAL;
        if (f->kind == S_HISTOGRAM && len == 2 && memcmp(start, "le", 2) == 0)
            return XGW_EINVAL;
        for (size_t i = 0; i < f->nlabels; i++) {
            if (strlen(f->labels[i]) == len && memcmp(f->labels[i], start, len) == 0)
                return XGW_EINVAL;
        }
        char *copy = malloc(len + 1);
        if (!copy)
            return XGW_ENOMEM;
        memcpy(copy, start, len);
        copy[len] = '\0';
        f->labels[f->nlabels++] = copy;
        if (!*p)
            return 0;
        p++; /* ',' */
    }
}

static bool
s_family_same_shape(const xgw_family_t *a, const xgw_family_t *b)
{
    if (a->kind != b->kind || a->nlabels != b->nlabels || a->nbounds != b->nbounds)
        return false;
    for (size_t i = 0; i < a->nlabels; i++) {
        if (strcmp(a->labels[i], b->labels[i]) != 0)
            return false;
    }
    for (size_t i = 0; i < a->nbounds; i++) {
        if (a->bounds[i] != b->bounds[i])
            return false;
    }
    return true;
}

/* Allocates a series for f with the given values. Caller holds s_lock. */
static xgw_series_t *
s_series_new(xgw_family_t *f, const char *const *values, uint64_t hash)
{
    size_t nb = f->kind == S_HISTOGRAM ? f->nbounds + 1 : 0;
    xgw_series_t *s = calloc(1, sizeof *s + nb * sizeof s->buckets[0]);
    if (!s)
        return NULL;
    s->family = f;
    s->hash = hash;
    atomic_init(&s->value, 0);
    atomic_init(&s->sum, s_d2u(0.0));
    for (size_t i = 0; i < nb; i++)
        atomic_init(&s->buckets[i], 0);
    for (size_t i = 0; i < f->nlabels; i++) {
        s->values[i] = s_strdup(values[i] ? values[i] : "");
        if (!s->values[i]) {
            s_series_free(s);
            return NULL;
        }
    }
    return s;
}

static xgw_series_t *
s_lookup(xgw_family_t *f, const char *const *values, uint64_t hash, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        xgw_series_t *s = f->series[i];
        if (s->hash != hash)
            continue;
        size_t k = 0;
        while (k < f->nlabels && strcmp(s->values[k], values[k] ? values[k] : "") == 0)
            k++;
        if (k == f->nlabels)
            return s;
    }
    return NULL;
}

/* Returns the overflow series, creating it if needed. Caller holds s_lock.
 * NULL only if out of memory before it ever existed. */
static xgw_series_t *
s_overflow_locked(xgw_family_t *f)
{
    xgw_series_t *s = atomic_load_explicit(&f->overflow, memory_order_relaxed);
    if (s)
        return s;
    size_t n = atomic_load_explicit(&f->nseries, memory_order_relaxed);
    const char *other[XGW_METRICS_MAX_LABELS] = {"other", "other", "other", "other"};
    uint64_t h = s_hash_values(other, f->nlabels);
    s = s_lookup(f, other, h, 0, n);
    if (!s) {
        s = s_series_new(f, other, h);
        if (!s)
            return NULL;
        f->series[n] = s; /* n <= MAX: the array has one spare slot */
        atomic_store_explicit(&f->nseries, n + 1, memory_order_release);
    }
    atomic_store_explicit(&f->overflow, s, memory_order_release);
    xgw_warn("metrics_overflow", "metric=%s max_series=%d", f->name, XGW_METRICS_MAX_SERIES);
    return s;
}

static xgw_family_t *
s_register(s_kind_t kind, const char *name, const char *help, const char *labels,
           const double *bounds, size_t nbounds)
{
    if (!s_valid_metric_name(name)) {
        xgw_error("metrics_bad_name", "metric=\"%s\"", name ? name : "(null)");
        return NULL;
    }
    if (kind == S_HISTOGRAM) {
        if (nbounds > 0 && !bounds)
            return NULL;
        if (nbounds > 0 && isinf(bounds[nbounds - 1]) && bounds[nbounds - 1] > 0)
            nbounds--;
        if (nbounds > XGW_METRICS_MAX_BOUNDS) {
            xgw_error("metrics_bad_bounds", "metric=%s reason=too_many", name);
            return NULL;
        }
        for (size_t i = 0; i < nbounds; i++) {
            if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1]))) {
                xgw_error("metrics_bad_bounds", "metric=%s reason=not_increasing", name);
                return NULL;
            }
        }
    } else {
        nbounds = 0;
    }

    xgw_family_t *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->kind = kind;
    atomic_init(&f->nseries, 0);
    atomic_init(&f->overflow, NULL);
    f->nbounds = nbounds;
    for (size_t i = 0; i < nbounds; i++)
        f->bounds[i] = bounds[i];
    int rc = s_parse_labels(f, labels);
    if (rc != 0) {
        if (rc == XGW_EINVAL)
            xgw_error("metrics_bad_labels", "metric=%s labels=\"%s\"", name, labels);
        s_family_free(f);
        return NULL;
    }
    f->name = s_strdup(name);
    f->help = s_strdup(help ? help : "");
    if (!f->name || !f->help) {
        s_family_free(f);
        return NULL;
    }

    pthread_mutex_lock(&s_lock);
    xgw_family_t *result = NULL;
    for (size_t i = 0; i < s_nfamilies; i++) {
        if (strcmp(s_families[i]->name, name) == 0) {
            if (s_family_same_shape(s_families[i], f))
                result = s_families[i];
            else
                xgw_error("metrics_conflict", "metric=%s", name);
            pthread_mutex_unlock(&s_lock);
            s_family_free(f);
            return result;
        }
    }
    if (s_nfamilies == s_families_cap) {
        size_t cap = s_families_cap ? s_families_cap * 2 : 32;
        xgw_family_t **grown = realloc(s_families, cap * sizeof *grown);
        if (!grown)
            goto fail;
        s_families = grown;
        s_families_cap = cap;
    }
    if (f->nlabels == 0) {
        xgw_series_t *s = s_series_new(f, NULL, s_hash_values(NULL, 0));
        if (!s)
            goto fail;
        f->series[0] = s;
        atomic_store_explicit(&f->nseries, 1, memory_order_release);
    }
    s_families[s_nfamilies++] = f;
    pthread_mutex_unlock(&s_lock);
    return f;

fail:
    pthread_mutex_unlock(&s_lock);
    s_family_free(f);
    return NULL;
}

xgw_family_t *
xgw_metrics_counter(const char *name, const char *help, const char *labels)
{
    return s_register(S_COUNTER, name, help, labels, NULL, 0);
}

xgw_family_t *
xgw_metrics_counter_double(const char *name, const char *help, const char *labels)
{
    return s_register(S_COUNTER_F, name, help, labels, NULL, 0);
}

xgw_family_t *
xgw_metrics_gauge(const char *name, const char *help, const char *labels)
{
    return s_register(S_GAUGE, name, help, labels, NULL, 0);
}

xgw_family_t *
xgw_metrics_histogram(const char *name, const char *help, const char *labels, const double *bounds,
                      size_t nbounds)
{
    return s_register(S_HISTOGRAM, name, help, labels, bounds, nbounds);
}

/* ---- series ------------------------------------------------------------- */

xgw_series_t *
xgw_family_series_v(xgw_family_t *f, const char *const *values, size_t n)
{
    if (!f)
        return NULL;
    if (n != f->nlabels || (n > 0 && !values)) {
        xgw_error("metrics_label_count", "metric=%s want=%zu got=%zu", f->name, f->nlabels, n);
        return NULL;
    }
    uint64_t h = s_hash_values(values, n);
    size_t seen = atomic_load_explicit(&f->nseries, memory_order_acquire);
    xgw_series_t *s = s_lookup(f, values, h, 0, seen);
    if (s)
        return s;
    s = atomic_load_explicit(&f->overflow, memory_order_acquire);
    if (s)
        return s; /* full: no new series ever, so no lock needed */

    pthread_mutex_lock(&s_lock);
    size_t now = atomic_load_explicit(&f->nseries, memory_order_relaxed);
    s = s_lookup(f, values, h, seen, now);
    if (!s && now < XGW_METRICS_MAX_SERIES) {
        s = s_series_new(f, values, h);
        if (s) {
            f->series[now] = s;
            atomic_store_explicit(&f->nseries, now + 1, memory_order_release);
        }
    } else if (!s) {
        s = s_overflow_locked(f);
    }
    pthread_mutex_unlock(&s_lock);
    return s;
}

xgw_series_t *
xgw_family_series(xgw_family_t *f, ...)
{
    if (!f)
        return NULL;
    const char *values[XGW_METRICS_MAX_LABELS] = {NULL};
    va_list ap;
    va_start(ap, f);
    for (size_t i = 0; i < f->nlabels; i++)
        values[i] = va_arg(ap, const char *);
    va_end(ap);
    return xgw_family_series_v(f, values, f->nlabels);
}

void
xgw_series_add(xgw_series_t *s, uint64_t n)
{
    if (!s)
        return;
    switch (s->family->kind) {
    case S_COUNTER:
        atomic_fetch_add_explicit(&s->value, n, memory_order_relaxed);
        break;
    case S_COUNTER_F:
    case S_GAUGE:
        s_atomic_add_double(&s->value, (double)n);
        break;
    case S_HISTOGRAM:
        break;
    }
}

void
xgw_series_inc(xgw_series_t *s)
{
    xgw_series_add(s, 1);
}

void
xgw_series_set(xgw_series_t *s, double v)
{
    if (!s || (s->family->kind != S_GAUGE && s->family->kind != S_COUNTER_F))
        return;
    atomic_store_explicit(&s->value, s_d2u(v), memory_order_relaxed);
}

void
xgw_series_gauge_add(xgw_series_t *s, double d)
{
    if (!s || (s->family->kind != S_GAUGE && s->family->kind != S_COUNTER_F))
        return;
    s_atomic_add_double(&s->value, d);
}

void
xgw_series_observe(xgw_series_t *s, double v)
{
    if (!s || s->family->kind != S_HISTOGRAM)
        return;
    const xgw_family_t *f = s->family;
    size_t i = 0;
    while (i < f->nbounds && !(v <= f->bounds[i]))
        i++;
    atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
    s_atomic_add_double(&s->sum, v);
}

uint64_t
xgw_series_count(const xgw_series_t *s)
{
    if (!s)
        return 0;
    switch (s->family->kind) {
    case S_COUNTER:
        return atomic_load_explicit(&s->value, memory_order_relaxed);
    case S_HISTOGRAM: {
        uint64_t total = 0;
        for (size_t i = 0; i <= s->family->nbounds; i++)
            total += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
        return total;
    }
    case S_COUNTER_F:
    case S_GAUGE: {
        double d = s_u2d(atomic_load_explicit(&s->value, memory_order_relaxed));
        if (!(d > 0))
            return 0;
        if (d >= 18446744073709551615.0)
            return UINT64_MAX;
        return (uint64_t)d;
    }
    }
    return 0;
}

double
xgw_series_value(const xgw_series_t *s)
{
    if (!s)
        return 0;
    switch (s->family->kind) {
    case S_COUNTER:
        return (double)atomic_load_explicit(&s->value, memory_order_relaxed);
    case S_HISTOGRAM:
        return s_u2d(atomic_load_explicit(&s->sum, memory_order_relaxed));
    case S_COUNTER_F:
    case S_GAUGE:
        return s_u2d(atomic_load_explicit(&s->value, memory_order_relaxed));
    }
    return 0;
}

/* ---- collectors ------------------------------------------------------- */

int
xgw_metrics_add_collector(xgw_collector_fn fn, void *ud)
{
    if (!fn)
        return XGW_EINVAL;
    int rc = 0;
    pthread_mutex_lock(&s_lock);
    for (size_t i = 0; i < s_ncollectors; i++) {
        if (s_collectors[i].fn == fn && s_collectors[i].ud == ud) {
            rc = XGW_EEXIST;
            break;
        }
    }
    if (rc == 0 && s_ncollectors >= XGW_METRICS_MAX_COLLECTORS)
        rc = XGW_ERANGE;
    if (rc == 0) {
        s_collectors[s_ncollectors].fn = fn;
        s_collectors[s_ncollectors].ud = ud;
        s_ncollectors++;
    }
    pthread_mutex_unlock(&s_lock);
    return rc;
}

/* ---- rendering -------------------------------------------------------- */

struct s_buf {
    char *p;
    size_t len;
    size_t cap;
    bool failed;
};

static void
s_buf_reserve(struct s_buf *b, size_t extra)
{
    if (b->failed)
        return;
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2) {
            b->failed = true;
            return;
        }
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = true;
        return;
    }
    b->p = p;
    b->cap = cap;
}

static void
s_buf_put(struct s_buf *b, const char *s, size_t n)
{
    s_buf_reserve(b, n);
    if (b->failed)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
s_buf_puts(struct s_buf *b, const char *s)
{
    s_buf_put(b, s, strlen(s));
}

/* Escapes '\\' and '\n', plus '"' when quote is true (label values). */
static void
s_buf_escaped(struct s_buf *b, const char *s, bool quote)
{
    const char *run = s;
    for (; *s; s++) {
        const char *rep = NULL;
        if (*s == '\\')
            rep = "\\\\";
        else if (*s == '\n')
            rep = "\\n";
        else if (quote && *s == '"')
            rep = "\\\"";
        if (rep) {
            s_buf_put(b, run, (size_t)(s - run));
            s_buf_puts(b, rep);
            run = s + 1;
        }
    }
    s_buf_put(b, run, (size_t)(s - run));
}

/* Shortest text that reads back as exactly v; integral values without
 * exponent; Prometheus spellings for the special values. */
static void
s_fmt_double(char *out, size_t outlen, double v)
{
    if (isnan(v)) {
        snprintf(out, outlen, "NaN");
    } else if (isinf(v)) {
        snprintf(out, outlen, "%s", v > 0 ? "+Inf" : "-Inf");
    } else if (v == 0) {
        snprintf(out, outlen, "0"); /* also for -0 */
    } else if (v == trunc(v) && fabs(v) < 1e18) {
        snprintf(out, outlen, "%.0f", v);
    } else {
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(out, outlen, "%.*g", prec, v);
            if (strtod(out, NULL) == v)
                break;
        }
    }
}

static void
s_buf_double(struct s_buf *b, double v)
{
    char tmp[64];
    s_fmt_double(tmp, sizeof tmp, v);
    s_buf_puts(b, tmp);
}

static void
s_buf_u64(struct s_buf *b, uint64_t v)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    s_buf_puts(b, tmp);
}

/* Writes name+suffix{labels[,le="..."]} and a space. */
static void
s_render_sample_head(struct s_buf *b, const xgw_family_t *f, const char *suffix,
                     const xgw_series_t *s, const char *le)
{
    s_buf_puts(b, f->name);
    s_buf_puts(b, suffix);
    if (f->nlabels > 0 || le) {
        s_buf_put(b, "{", 1);
        for (size_t i = 0; i < f->nlabels; i++) {
            if (i > 0)
                s_buf_put(b, ",", 1);
            s_buf_puts(b, f->labels[i]);
            s_buf_put(b, "=\"", 2);
            s_buf_escaped(b, s->values[i], true);
            s_buf_put(b, "\"", 1);
        }
        if (le) {
            if (f->nlabels > 0)
                s_buf_put(b, ",", 1);
            s_buf_puts(b, "le=\"");
            s_buf_puts(b, le);
            s_buf_put(b, "\"", 1);
        }
        s_buf_put(b, "}", 1);
    }
    s_buf_put(b, " ", 1);
}

static void
s_render_series(struct s_buf *b, const xgw_family_t *f, const xgw_series_t *s)
{
    switch (f->kind) {
    case S_COUNTER:
        s_render_sample_head(b, f, "", s, NULL);
        s_buf_u64(b, atomic_load_explicit(&s->value, memory_order_relaxed));
        s_buf_put(b, "\n", 1);
        break;
    case S_COUNTER_F:
    case S_GAUGE:
        s_render_sample_head(b, f, "", s, NULL);
        s_buf_double(b, s_u2d(atomic_load_explicit(&s->value, memory_order_relaxed)));
        s_buf_put(b, "\n", 1);
        break;
    case S_HISTOGRAM: {
        uint64_t cum = 0;
        char le[64];
        for (size_t i = 0; i <= f->nbounds; i++) {
            cum += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
            if (i < f->nbounds)
                s_fmt_double(le, sizeof le, f->bounds[i]);
            else
                snprintf(le, sizeof le, "+Inf");
            s_render_sample_head(b, f, "_bucket", s, le);
            s_buf_u64(b, cum);
            s_buf_put(b, "\n", 1);
        }
        s_render_sample_head(b, f, "_sum", s, NULL);
        s_buf_double(b, s_u2d(atomic_load_explicit(&s->sum, memory_order_relaxed)));
        s_buf_put(b, "\n", 1);
        s_render_sample_head(b, f, "_count", s, NULL);
        s_buf_u64(b, cum);
        s_buf_put(b, "\n", 1);
        break;
    }
    }
}

static void
s_render_family(struct s_buf *b, const xgw_family_t *f)
{
    s_buf_puts(b, "# HELP ");
    s_buf_puts(b, f->name);
    s_buf_put(b, " ", 1);
    s_buf_escaped(b, f->help, false);
    s_buf_puts(b, "\n# TYPE ");
    s_buf_puts(b, f->name);
    s_buf_put(b, " ", 1);
    s_buf_puts(b, s_kind_type[f->kind]);
    s_buf_put(b, "\n", 1);
    size_t n = atomic_load_explicit(&f->nseries, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        s_render_series(b, f, f->series[i]);
}

char *
xgw_metrics_render(size_t *len)
{
    struct s_collector cols[XGW_METRICS_MAX_COLLECTORS];
    size_t ncols;
    pthread_mutex_lock(&s_lock);
    ncols = s_ncollectors;
    memcpy(cols, s_collectors, ncols * sizeof cols[0]);
    pthread_mutex_unlock(&s_lock);
    for (size_t i = 0; i < ncols; i++)
        cols[i].fn(cols[i].ud);

    /* Snapshot the family list so registrations and series creation are not
     * blocked while rendering. Families are never freed (except by reset). */
    pthread_mutex_lock(&s_lock);
    size_t nf = s_nfamilies;
    xgw_family_t **fams = malloc((nf ? nf : 1) * sizeof *fams);
    if (fams && nf)
        memcpy(fams, s_families, nf * sizeof *fams);
    pthread_mutex_unlock(&s_lock);
    if (!fams)
        return NULL;

    struct s_buf b = {0};
    s_buf_reserve(&b, 0); /* an empty registry still yields "" */
    if (!b.failed)
        b.p[0] = '\0';
    for (size_t i = 0; i < nf && !b.failed; i++)
        s_render_family(&b, fams[i]);
    free(fams);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    if (len)
        *len = b.len;
    return b.p;
}

/* ---- build info / reset ----------------------------------------------- */

int
xgw_metrics_build_info(const char *process, int instance, const char *version)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t expected = 0;
    atomic_compare_exchange_strong(&s_start_bits, &expected,
                                   s_d2u((double)ts.tv_sec + (double)ts.tv_nsec / 1e9));

    xgw_family_t *f = xgw_metrics_gauge("xgw_build_info", "Build and process identity; always 1.",
                                        "version,process,instance");
    if (!f)
        return XGW_ENOMEM;
    char inst[24];
    snprintf(inst, sizeof inst, "%d", instance);
    xgw_series_t *s =
        xgw_family_series(f, version ? version : "unknown", process ? process : "unknown", inst);
    if (!s)
        return XGW_ENOMEM;
    xgw_series_set(s, 1);
    return 0;
}

double
xgw_metrics_start_time(void)
{
    return s_u2d(atomic_load(&s_start_bits));
}

void
xgw_metrics_reset(void)
{
    pthread_mutex_lock(&s_lock);
    for (size_t i = 0; i < s_nfamilies; i++)
        s_family_free(s_families[i]);
    free(s_families);
    s_families = NULL;
    s_nfamilies = 0;
    s_families_cap = 0;
    s_ncollectors = 0;
    pthread_mutex_unlock(&s_lock);
}
