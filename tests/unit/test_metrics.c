/*
 * test_metrics.c - registry, text rendering, concurrency and procfs metrics.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "xgw_error.h"
#include "xgw_metrics.h"
#include "xgw_procfs.h"

static int
s_setup(void **state)
{
    (void)state;
    xgw_metrics_reset();
    return 0;
}

static char *
s_render(void)
{
    size_t len = 0;
    char *text = xgw_metrics_render(&len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    if (len > 0)
        assert_int_equal(text[len - 1], '\n');
    return text;
}

static size_t
s_count_substr(const char *hay, const char *needle)
{
    size_t n = 0;
    size_t nl = strlen(needle);
    for (const char *p = strstr(hay, needle); p; p = strstr(p + nl, needle))
        n++;
    return n;
}

static void
test_empty_registry(void **state)
{
    (void)state;
    size_t len = 99;
    char *text = xgw_metrics_render(&len);
    assert_non_null(text);
    assert_int_equal(len, 0);
    assert_string_equal(text, "");
    free(text);
}

static void
test_render_exact(void **state)
{
    (void)state;
    xgw_family_t *c =
        xgw_metrics_counter("t_requests_total", "Requests handled.", "service,outcome");
    xgw_family_t *g =
        xgw_metrics_gauge("t_temperature", "Temp \\ with \"quotes\"\nand a newline", NULL);
    const double bounds[] = {0.125, 0.5, 1};
    xgw_family_t *h = xgw_metrics_histogram("t_latency_seconds", "Latency.", "svc", bounds, 3);
    xgw_family_t *h0 = xgw_metrics_histogram("t_sizes", NULL, NULL, NULL, 0);
    xgw_family_t *cf = xgw_metrics_counter_double("t_cpu_seconds_total", "CPU.", NULL);
    assert_non_null(c);
    assert_non_null(g);
    assert_non_null(h);
    assert_non_null(h0);
    assert_non_null(cf);

    xgw_series_add(xgw_family_series(c, "sip", "ok"), 3);
    xgw_series_inc(xgw_family_series(c, "xmpp", "busy"));
    xgw_series_inc(xgw_family_series(c, "sip", "ok"));
    xgw_series_set(xgw_family_series(g), 21.5);
    xgw_series_t *hs = xgw_family_series(h, "a");
    xgw_series_observe(hs, 0.0625);
    xgw_series_observe(hs, 0.125);
    xgw_series_observe(hs, 0.25);
    xgw_series_observe(hs, 2);
    xgw_series_observe(xgw_family_series(h0), 7);
    xgw_series_set(xgw_family_series(cf), 1.25);

    const char *want = "# HELP t_requests_total Requests handled.\n"
                       "# TYPE t_requests_total counter\n"
                       "t_requests_total{service=\"sip\",outcome=\"ok\"} 4\n"
                       "t_requests_total{service=\"xmpp\",outcome=\"busy\"} 1\n"
                       "# HELP t_temperature Temp \\\\ with \"quotes\"\\nand a newline\n"
                       "# TYPE t_temperature gauge\n"
                       "t_temperature 21.5\n"
                       "# HELP t_latency_seconds Latency.\n"
                       "# TYPE t_latency_seconds histogram\n"
                       "t_latency_seconds_bucket{svc=\"a\",le=\"0.125\"} 2\n"
                       "t_latency_seconds_bucket{svc=\"a\",le=\"0.5\"} 3\n"
                       "t_latency_seconds_bucket{svc=\"a\",le=\"1\"} 3\n"
                       "t_latency_seconds_bucket{svc=\"a\",le=\"+Inf\"} 4\n"
                       "t_latency_seconds_sum{svc=\"a\"} 2.4375\n"
                       "t_latency_seconds_count{svc=\"a\"} 4\n"
                       "# HELP t_sizes \n"
                       "# TYPE t_sizes histogram\n"
                       "t_sizes_bucket{le=\"+Inf\"} 1\n"
                       "t_sizes_sum 7\n"
                       "t_sizes_count 1\n"
                       "# HELP t_cpu_seconds_total CPU.\n"
                       "# TYPE t_cpu_seconds_total counter\n"
                       "t_cpu_seconds_total 1.25\n";
    char *text = s_render();
    assert_string_equal(text, want);
    free(text);

    assert_int_equal(xgw_series_count(xgw_family_series(c, "sip", "ok")), 4);
    assert_int_equal(xgw_series_count(hs), 4);
    assert_true(xgw_series_value(hs) == 2.4375);
    assert_true(xgw_series_value(xgw_family_series(g)) == 21.5);
}

static void
test_unlabelled_renders_zero(void **state)
{
    (void)state;
    assert_non_null(xgw_metrics_counter("t_zero_total", "Zero.", NULL));
    assert_non_null(xgw_metrics_gauge("t_labelled", "No series yet.", "a"));
    char *text = s_render();
    assert_string_equal(text, "# HELP t_zero_total Zero.\n"
                              "# TYPE t_zero_total counter\n"
                              "t_zero_total 0\n"
                              "# HELP t_labelled No series yet.\n"
                              "# TYPE t_labelled gauge\n");
    free(text);
}

static void
test_number_formatting(void **state)
{
    (void)state;
    xgw_family_t *g = xgw_metrics_gauge("t_num", "n", "k");
    xgw_family_t *c = xgw_metrics_counter("t_big_total", "b", NULL);
    assert_non_null(g);
    assert_non_null(c);
    const struct {
        const char *k;
        double v;
    } cases[] = {
        {"a", 0.1},     {"b", 1e-7},     {"c", 1e20},      {"d", 123456789012.0},
        {"e", -2.5},    {"f", INFINITY}, {"g", -INFINITY}, {"h", NAN},
        {"i", 1.0 / 3}, {"j", -0.0},     {"k", 0.1 + 0.2}, {"l", 1e17},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        xgw_series_set(xgw_family_series(g, cases[i].k), cases[i].v);
    xgw_series_add(xgw_family_series(c), UINT64_MAX);

    char *text = s_render();
    assert_string_equal(text, "# HELP t_num n\n"
                              "# TYPE t_num gauge\n"
                              "t_num{k=\"a\"} 0.1\n"
                              "t_num{k=\"b\"} 1e-07\n"
                              "t_num{k=\"c\"} 1e+20\n"
                              "t_num{k=\"d\"} 123456789012\n"
                              "t_num{k=\"e\"} -2.5\n"
                              "t_num{k=\"f\"} +Inf\n"
                              "t_num{k=\"g\"} -Inf\n"
                              "t_num{k=\"h\"} NaN\n"
                              "t_num{k=\"i\"} 0.3333333333333333\n"
                              "t_num{k=\"j\"} 0\n"
                              "t_num{k=\"k\"} 0.30000000000000004\n"
                              "t_num{k=\"l\"} 100000000000000000\n"
                              "# HELP t_big_total b\n"
                              "# TYPE t_big_total counter\n"
                              "t_big_total 18446744073709551615\n");
    free(text);
}

static void
test_label_escaping(void **state)
{
    (void)state;
    xgw_family_t *f = xgw_metrics_counter("t_esc_total", "Escapes.", "v");
    assert_non_null(f);
    xgw_series_inc(xgw_family_series(f, "a\\b\"c\nd"));
    xgw_series_inc(xgw_family_series(f, (const char *)NULL)); /* NULL counts as "" */
    xgw_series_inc(xgw_family_series(f, ""));
    char *text = s_render();
    assert_string_equal(text, "# HELP t_esc_total Escapes.\n"
                              "# TYPE t_esc_total counter\n"
                              "t_esc_total{v=\"a\\\\b\\\"c\\nd\"} 1\n"
                              "t_esc_total{v=\"\"} 2\n");
    free(text);
}

static void
test_reregistration(void **state)
{
    (void)state;
    const double b1[] = {1, 2};
    const double b2[] = {1, 3};
    const double b3[] = {1, 2, INFINITY};
    xgw_family_t *c = xgw_metrics_counter("t_re_total", "x", "a,b");
    assert_non_null(c);
    assert_ptr_equal(xgw_metrics_counter("t_re_total", "other help", "a,b"), c);
    assert_ptr_equal(xgw_metrics_counter("t_re_total", "x", " a , b "), c);
    assert_null(xgw_metrics_counter("t_re_total", "x", "a"));
    assert_null(xgw_metrics_counter("t_re_total", "x", "b,a"));
    assert_null(xgw_metrics_gauge("t_re_total", "x", "a,b"));
    assert_null(xgw_metrics_counter_double("t_re_total", "x", "a,b"));
    assert_null(xgw_metrics_histogram("t_re_total", "x", "a,b", b1, 2));

    xgw_family_t *h = xgw_metrics_histogram("t_re_hist", "h", NULL, b1, 2);
    assert_non_null(h);
    assert_ptr_equal(xgw_metrics_histogram("t_re_hist", "h", NULL, b1, 2), h);
    assert_ptr_equal(xgw_metrics_histogram("t_re_hist", "h", NULL, b3, 3), h); /* +Inf dropped */
    assert_null(xgw_metrics_histogram("t_re_hist", "h", NULL, b2, 2));
    assert_null(xgw_metrics_histogram("t_re_hist", "h", NULL, b1, 1));

    /* The series survive re-registration and stay the same pointers. */
    xgw_series_t *s = xgw_family_series(c, "1", "2");
    assert_ptr_equal(xgw_family_series(xgw_metrics_counter("t_re_total", "x", "a,b"), "1", "2"), s);

    char *text = s_render();
    assert_int_equal(s_count_substr(text, "# TYPE t_re_total"), 1);
    assert_int_equal(s_count_substr(text, "# TYPE t_re_hist"), 1);
    free(text);
}

static void
test_invalid_names(void **state)
{
    (void)state;
    const double inc[] = {1, 0.5};
    const double nan_b[] = {NAN};
    assert_null(xgw_metrics_counter(NULL, "x", NULL));
    assert_null(xgw_metrics_counter("", "x", NULL));
    assert_null(xgw_metrics_counter("1abc", "x", NULL));
    assert_null(xgw_metrics_counter("a-b", "x", NULL));
    assert_null(xgw_metrics_counter("a b", "x", NULL));
    assert_null(xgw_metrics_counter("caf\xc3\xa9", "x", NULL));
    assert_null(xgw_metrics_counter("t_ok", "x", "a,,b"));
    assert_null(xgw_metrics_counter("t_ok", "x", "a,"));
    assert_null(xgw_metrics_counter("t_ok", "x", "a,a"));
    assert_null(xgw_metrics_counter("t_ok", "x", "1x"));
    assert_null(xgw_metrics_counter("t_ok", "x", "__x"));
    assert_null(xgw_metrics_counter("t_ok", "x", "a:b"));
    assert_null(xgw_metrics_counter("t_ok", "x", "a b"));
    assert_null(xgw_metrics_counter("t_ok", "x", "a,b,c,d,e"));
    assert_null(xgw_metrics_histogram("t_ok", "x", "le", NULL, 0));
    assert_null(xgw_metrics_histogram("t_ok", "x", NULL, inc, 2));
    assert_null(xgw_metrics_histogram("t_ok", "x", NULL, nan_b, 1));
    assert_null(xgw_metrics_histogram("t_ok", "x", NULL, NULL, 2));
    /* Failed registrations leave nothing behind. */
    char *text = s_render();
    assert_string_equal(text, "");
    free(text);

    /* Valid edge cases. */
    assert_non_null(xgw_metrics_counter("ns:sub_total", "x", "a,b,c,d"));
    assert_non_null(xgw_metrics_gauge("_x", "x", ""));
    assert_non_null(xgw_metrics_counter("t_le_ok", "x", "le")); /* only reserved on histograms */
}

static void
test_null_safety_and_types(void **state)
{
    (void)state;
    assert_null(xgw_family_series(NULL));
    assert_null(xgw_family_series_v(NULL, NULL, 0));
    xgw_series_inc(NULL);
    xgw_series_add(NULL, 5);
    xgw_series_set(NULL, 1);
    xgw_series_gauge_add(NULL, 1);
    xgw_series_observe(NULL, 1);
    assert_int_equal(xgw_series_count(NULL), 0);
    assert_true(xgw_series_value(NULL) == 0);

    xgw_family_t *c = xgw_metrics_counter("t_types_total", "x", "a");
    const char *vals[] = {"x", "y"};
    assert_null(xgw_family_series_v(c, vals, 2)); /* wrong arity */
    assert_null(xgw_family_series_v(c, vals, 0));
    xgw_series_t *cs = xgw_family_series_v(c, vals, 1);
    assert_ptr_equal(cs, xgw_family_series(c, "x"));
    xgw_series_set(cs, 42);     /* no-op on integer counters */
    xgw_series_observe(cs, 42); /* no-op */
    xgw_series_inc(cs);
    assert_int_equal(xgw_series_count(cs), 1);
    assert_true(xgw_series_value(cs) == 1.0);

    xgw_series_t *gs = xgw_family_series(xgw_metrics_gauge("t_types_g", "x", NULL));
    xgw_series_set(gs, 2.5);
    xgw_series_gauge_add(gs, -1);
    xgw_series_inc(gs);
    xgw_series_observe(gs, 100); /* no-op */
    assert_true(xgw_series_value(gs) == 2.5);
    assert_int_equal(xgw_series_count(gs), 2);
    xgw_series_set(gs, -3);
    assert_int_equal(xgw_series_count(gs), 0);

    const double b[] = {1};
    xgw_series_t *hs = xgw_family_series(xgw_metrics_histogram("t_types_h", "x", NULL, b, 1));
    xgw_series_inc(hs); /* no-op */
    xgw_series_set(hs, 5);
    xgw_series_observe(hs, NAN);
    assert_int_equal(xgw_series_count(hs), 1);
    char *text = s_render();
    assert_non_null(strstr(text, "t_types_h_bucket{le=\"1\"} 0\n"
                                 "t_types_h_bucket{le=\"+Inf\"} 1\n"
                                 "t_types_h_sum NaN\n"
                                 "t_types_h_count 1\n"));
    free(text);
}

static void
test_overflow_series(void **state)
{
    (void)state;
    xgw_family_t *f = xgw_metrics_counter("t_card_total", "Cardinality.", "id,kind");
    assert_non_null(f);
    xgw_series_t *seen[XGW_METRICS_MAX_SERIES];
    char id[16];
    for (int i = 0; i < XGW_METRICS_MAX_SERIES; i++) {
        snprintf(id, sizeof id, "%d", i);
        seen[i] = xgw_family_series(f, id, "k");
        assert_non_null(seen[i]);
        for (int k = 0; k < i; k++)
            assert_ptr_not_equal(seen[k], seen[i]);
        xgw_series_inc(seen[i]);
    }
    xgw_series_t *overflow = NULL;
    for (int i = XGW_METRICS_MAX_SERIES; i < 300; i++) {
        snprintf(id, sizeof id, "%d", i);
        xgw_series_t *s = xgw_family_series(f, id, "k");
        assert_non_null(s);
        if (!overflow)
            overflow = s;
        assert_ptr_equal(s, overflow);
        for (int k = 0; k < XGW_METRICS_MAX_SERIES; k++)
            assert_ptr_not_equal(seen[k], s);
        xgw_series_inc(s);
    }
    /* Existing series still resolve to themselves. */
    assert_ptr_equal(xgw_family_series(f, "7", "k"), seen[7]);
    assert_int_equal(xgw_series_count(overflow), 300 - XGW_METRICS_MAX_SERIES);

    char *text = s_render();
    assert_int_equal(s_count_substr(text, "\nt_card_total{"), XGW_METRICS_MAX_SERIES + 1);
    assert_non_null(strstr(text, "t_card_total{id=\"other\",kind=\"other\"} 44\n"));
    assert_non_null(strstr(text, "t_card_total{id=\"255\",kind=\"k\"} 1\n"));
    assert_null(strstr(text, "id=\"256\""));
    free(text);
}

static void
test_overflow_reuses_existing_other(void **state)
{
    (void)state;
    xgw_family_t *f = xgw_metrics_counter("t_card2_total", "x", "id");
    xgw_series_t *other = xgw_family_series(f, "other");
    char id[16];
    for (int i = 1; i < XGW_METRICS_MAX_SERIES; i++) {
        snprintf(id, sizeof id, "%d", i);
        xgw_family_series(f, id);
    }
    assert_ptr_equal(xgw_family_series(f, "overflowing"), other);
    assert_ptr_equal(xgw_family_series(f, "again"), other);
    char *text = s_render();
    assert_int_equal(s_count_substr(text, "\nt_card2_total{"), XGW_METRICS_MAX_SERIES);
    free(text);
}

/* ---- concurrency ------------------------------------------------------ */

#define S_THREADS 4
#define S_ITERS 100000

struct s_shared {
    xgw_family_t *counter;
    xgw_family_t *gauge;
    xgw_family_t *hist;
    atomic_int done;
    int index;
};

static void *
s_worker(void *arg)
{
    struct s_shared *sh = arg;
    xgw_series_t *c = xgw_family_series(sh->counter, "shared");
    xgw_series_t *g = xgw_family_series(sh->gauge);
    xgw_series_t *h = xgw_family_series(sh->hist);
    for (int i = 0; i < S_ITERS; i++) {
        xgw_series_inc(c);
        xgw_series_gauge_add(g, 1.0);
        xgw_series_observe(h, (i % 4) * 0.5);
        if (i % 1000 == 0) {
            /* Concurrent creation of the same and of new series. */
            char id[32];
            snprintf(id, sizeof id, "n%d", i / 1000);
            xgw_series_inc(xgw_family_series(sh->counter, id));
            if (xgw_family_series(sh->counter, "shared") != c)
                return (void *)1;
        }
    }
    return NULL;
}

static void *
s_renderer(void *arg)
{
    struct s_shared *sh = arg;
    long renders = 0;
    while (!atomic_load(&sh->done)) {
        size_t len = 0;
        char *text = xgw_metrics_render(&len);
        if (!text || strlen(text) != len)
            return (void *)1;
        free(text);
        renders++;
    }
    return renders > 0 ? NULL : (void *)1;
}

static void
test_concurrent_updates(void **state)
{
    (void)state;
    const double b[] = {0.5, 1};
    struct s_shared sh = {
        .counter = xgw_metrics_counter("t_conc_total", "c", "id"),
        .gauge = xgw_metrics_gauge("t_conc_gauge", "g", NULL),
        .hist = xgw_metrics_histogram("t_conc_hist", "h", NULL, b, 2),
    };
    atomic_init(&sh.done, 0);
    pthread_t workers[S_THREADS], renderer;
    assert_int_equal(pthread_create(&renderer, NULL, s_renderer, &sh), 0);
    for (int i = 0; i < S_THREADS; i++)
        assert_int_equal(pthread_create(&workers[i], NULL, s_worker, &sh), 0);
    for (int i = 0; i < S_THREADS; i++) {
        void *rv = (void *)1;
        assert_int_equal(pthread_join(workers[i], &rv), 0);
        assert_null(rv);
    }
    atomic_store(&sh.done, 1);
    void *rv = (void *)1;
    assert_int_equal(pthread_join(renderer, &rv), 0);
    assert_null(rv);

    assert_int_equal(xgw_series_count(xgw_family_series(sh.counter, "shared")),
                     S_THREADS * S_ITERS);
    assert_true(xgw_series_value(xgw_family_series(sh.gauge)) == (double)S_THREADS * S_ITERS);
    xgw_series_t *h = xgw_family_series(sh.hist);
    assert_int_equal(xgw_series_count(h), S_THREADS * S_ITERS);
    /* Values 0, .5, 1, 1.5 in equal shares: sum = threads * iters / 4 * 3. */
    assert_true(xgw_series_value(h) == (double)S_THREADS * S_ITERS / 4 * 3);
    char *text = s_render();
    assert_non_null(strstr(text, "t_conc_hist_bucket{le=\"0.5\"} 200000\n"
                                 "t_conc_hist_bucket{le=\"1\"} 300000\n"
                                 "t_conc_hist_bucket{le=\"+Inf\"} 400000\n"
                                 "t_conc_hist_sum 300000\n"
                                 "t_conc_hist_count 400000\n"));
    /* 100 creation points per thread, shared names: n0 .. n99, 4 each. */
    assert_non_null(strstr(text, "t_conc_total{id=\"n99\"} 4\n"));
    assert_non_null(strstr(text, "t_conc_total{id=\"shared\"} 400000\n"));
    free(text);
}

/* ---- collectors, build info, procfs ------------------------------------ */

static int s_collector_calls = 0;

static void
s_collector(void *ud)
{
    s_collector_calls++;
    xgw_series_set(xgw_family_series((xgw_family_t *)ud), (double)s_collector_calls);
}

static void
test_collector(void **state)
{
    (void)state;
    s_collector_calls = 0;
    xgw_family_t *g = xgw_metrics_gauge("t_collected", "c", NULL);
    assert_int_equal(xgw_metrics_add_collector(NULL, NULL), XGW_EINVAL);
    assert_int_equal(xgw_metrics_add_collector(s_collector, g), 0);
    assert_int_equal(xgw_metrics_add_collector(s_collector, g), XGW_EEXIST);
    char *text = s_render();
    assert_int_equal(s_collector_calls, 1);
    assert_non_null(strstr(text, "\nt_collected 1\n"));
    free(text);
    text = s_render();
    assert_non_null(strstr(text, "\nt_collected 2\n"));
    free(text);
    xgw_metrics_reset(); /* drops the collector as well */
    text = s_render();
    assert_int_equal(s_collector_calls, 2);
    free(text);
}

static void
test_build_info(void **state)
{
    (void)state;
    assert_int_equal(xgw_metrics_build_info("xgw-test", 3, "1.2.3"), 0);
    char *text = s_render();
    assert_string_equal(text, "# HELP xgw_build_info Build and process identity; always 1.\n"
                              "# TYPE xgw_build_info gauge\n"
                              "xgw_build_info{version=\"1.2.3\",process=\"xgw-test\","
                              "instance=\"3\"} 1\n");
    free(text);
    double start = xgw_metrics_start_time();
    double now = (double)time(NULL);
    assert_true(start > now - 60 && start <= now + 1);
}

static double
s_gauge_value(const char *name)
{
    xgw_family_t *f = xgw_metrics_gauge(name, NULL, NULL);
    assert_non_null(f);
    return xgw_series_value(xgw_family_series(f));
}

static void
s_check_procfs_values(void)
{
    char *text = s_render();
    assert_non_null(strstr(text, "# TYPE process_cpu_seconds_total counter\n"));
    assert_non_null(strstr(text, "# TYPE process_resident_memory_bytes gauge\n"));
    assert_non_null(strstr(text, "\nprocess_open_fds "));
    free(text);

    xgw_family_t *cpu = xgw_metrics_counter_double("process_cpu_seconds_total", NULL, NULL);
    assert_non_null(cpu);
    double cpu_s = xgw_series_value(xgw_family_series(cpu));
    double rss = s_gauge_value("process_resident_memory_bytes");
    double vsz = s_gauge_value("process_virtual_memory_bytes");
    double fds = s_gauge_value("process_open_fds");
    double max_fds = s_gauge_value("process_max_fds");
    double start = s_gauge_value("process_start_time_seconds");
    double threads = s_gauge_value("process_threads");
    double now = (double)time(NULL);
    assert_true(cpu_s >= 0);
    assert_true(rss > 0);
    assert_true(vsz >= rss);
    assert_true(fds >= 3); /* stdin, stdout, stderr */
    assert_true(max_fds >= fds);
    assert_true(start > now - 60 && start <= now + 1);
    assert_true(threads >= 1);
}

static void
test_procfs(void **state)
{
    (void)state;
    assert_int_equal(xgw_procfs_register(), 0);
    assert_int_equal(xgw_procfs_register(), 0); /* idempotent */
    s_check_procfs_values();

    /* Burn some CPU and check the counter moves forward. */
    xgw_family_t *cpu = xgw_metrics_counter_double("process_cpu_seconds_total", NULL, NULL);
    double before = xgw_series_value(xgw_family_series(cpu));
    volatile double x = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    do {
        for (int i = 0; i < 100000; i++)
            x += i * 0.5;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
    } while ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 400);
    free(s_render());
    double after = xgw_series_value(xgw_family_series(cpu));
    assert_true(after >= before + 0.2);
    assert_true(after < before + 60);

    /* A comm with spaces and parentheses must not confuse the parser. */
    char old[32] = "";
    prctl(PR_GET_NAME, old, 0, 0, 0);
    prctl(PR_SET_NAME, "a) (b c) ", 0, 0, 0);
    s_check_procfs_values();
    prctl(PR_SET_NAME, old, 0, 0, 0);
}

static void
test_procfs_parse_stat(void **state)
{
    (void)state;
    xgw_procfs_stat_t st;
    const char *text = "1234 (we) ird (name)) S 1 1234 1234 0 -1 4194560 100 0 0 0 "
                       "250 50 0 0 20 0 7 0 123456 104857600 2560 18446744073709551615 "
                       "1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0\n";
    assert_int_equal(xgw__procfs_parse_stat(text, &st), 0);
    assert_int_equal(st.utime, 250);
    assert_int_equal(st.stime, 50);
    assert_int_equal(st.threads, 7);
    assert_int_equal(st.starttime, 123456);
    assert_int_equal(st.vsize, 104857600);
    assert_int_equal(st.rss, 2560);

    assert_int_equal(xgw__procfs_parse_stat("1234 no paren S 1 2 3", &st), XGW_EINVAL);
    assert_int_equal(xgw__procfs_parse_stat("1234 (x) S 1 2 3", &st), XGW_EINVAL);
    assert_int_equal(xgw__procfs_parse_stat("1 (x) S 1 1 1 0 -1 0 0 0 0 0 abc 50 0 0 20 0 7 0 "
                                            "1 2 3\n",
                                            &st),
                     XGW_EINVAL);
    assert_int_equal(xgw__procfs_parse_stat(NULL, &st), XGW_EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_empty_registry, s_setup),
        cmocka_unit_test_setup(test_render_exact, s_setup),
        cmocka_unit_test_setup(test_unlabelled_renders_zero, s_setup),
        cmocka_unit_test_setup(test_number_formatting, s_setup),
        cmocka_unit_test_setup(test_label_escaping, s_setup),
        cmocka_unit_test_setup(test_reregistration, s_setup),
        cmocka_unit_test_setup(test_invalid_names, s_setup),
        cmocka_unit_test_setup(test_null_safety_and_types, s_setup),
        cmocka_unit_test_setup(test_overflow_series, s_setup),
        cmocka_unit_test_setup(test_overflow_reuses_existing_other, s_setup),
        cmocka_unit_test_setup(test_concurrent_updates, s_setup),
        cmocka_unit_test_setup(test_collector, s_setup),
        cmocka_unit_test_setup(test_build_info, s_setup),
        cmocka_unit_test_setup(test_procfs, s_setup),
        cmocka_unit_test_setup(test_procfs_parse_stat, s_setup),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    xgw_metrics_reset();
    return rc;
}
