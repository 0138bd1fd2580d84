/*
 * test_strmap.c - the open-addressing string map: put/get/replace/remove,
 * getn with keys that are not NUL-terminated, growth through many resizes,
 * backward-shift deletion, each(), and a long random run cross-checked
 * against a plain array indexed by key number.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xgw_error.h"
#include "xgw_strmap.h"

/* Non-NULL pointer values that stand for numbers. */
#define S_VAL(n) ((void *)(uintptr_t)((n) + 1))
#define S_NUM(p) ((size_t)(uintptr_t)(p)-1)

static void
s_key(char *buf, size_t len, size_t n)
{
    snprintf(buf, len, "key-%zu.example", n);
}

/* xorshift64*: deterministic across platforms. */
static uint64_t
s_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dULL;
}

static void
test_put_get_replace_remove(void **state)
{
    (void)state;
    xgw_strmap_t *m = xgw_strmap_new();
    assert_non_null(m);
    assert_int_equal(xgw_strmap_size(m), 0);
    assert_null(xgw_strmap_get(m, "absent"));
    assert_null(xgw_strmap_remove(m, "absent"));

    int a = 1, b = 2, c = 3;
    assert_int_equal(xgw_strmap_put(m, "alpha", &a), 0);
    assert_int_equal(xgw_strmap_put(m, "beta", &b), 0);
    assert_int_equal(xgw_strmap_size(m), 2);
    assert_ptr_equal(xgw_strmap_get(m, "alpha"), &a);
    assert_ptr_equal(xgw_strmap_get(m, "beta"), &b);
    assert_null(xgw_strmap_get(m, "gamma"));
    assert_null(xgw_strmap_get(m, "alph"));
    assert_null(xgw_strmap_get(m, "alphaa"));
    assert_null(xgw_strmap_get(m, "ALPHA")); /* keys are case-sensitive */

    /* Replace keeps the size. */
    assert_int_equal(xgw_strmap_put(m, "alpha", &c), 0);
    assert_int_equal(xgw_strmap_size(m), 2);
    assert_ptr_equal(xgw_strmap_get(m, "alpha"), &c);

    /* The map copies keys: the caller's buffer may change afterwards. */
    char buf[16];
    snprintf(buf, sizeof buf, "gamma");
    assert_int_equal(xgw_strmap_put(m, buf, &a), 0);
    snprintf(buf, sizeof buf, "zzzzz");
    assert_ptr_equal(xgw_strmap_get(m, "gamma"), &a);
    assert_null(xgw_strmap_get(m, "zzzzz"));

    /* The empty string is a key like any other. */
    assert_int_equal(xgw_strmap_put(m, "", &b), 0);
    assert_ptr_equal(xgw_strmap_get(m, ""), &b);
    assert_int_equal(xgw_strmap_size(m), 4);

    assert_ptr_equal(xgw_strmap_remove(m, "alpha"), &c);
    assert_null(xgw_strmap_get(m, "alpha"));
    assert_null(xgw_strmap_remove(m, "alpha"));
    assert_int_equal(xgw_strmap_size(m), 3);
    assert_ptr_equal(xgw_strmap_remove(m, ""), &b);
    assert_ptr_equal(xgw_strmap_get(m, "beta"), &b);
    assert_ptr_equal(xgw_strmap_get(m, "gamma"), &a);
    assert_int_equal(xgw_strmap_size(m), 2);

    /* Re-insert after removal. */
    assert_int_equal(xgw_strmap_put(m, "alpha", &a), 0);
    assert_ptr_equal(xgw_strmap_get(m, "alpha"), &a);
    assert_int_equal(xgw_strmap_size(m), 3);

    xgw_strmap_destroy(&m);
    assert_null(m);
    xgw_strmap_destroy(&m); /* idempotent */
    xgw_strmap_destroy(NULL);
}

static void
test_getn_not_terminated(void **state)
{
    (void)state;
    xgw_strmap_t *m = xgw_strmap_new();
    assert_non_null(m);
    int a = 1, b = 2;
    assert_int_equal(xgw_strmap_put(m, "example.com", &a), 0);
    assert_int_equal(xgw_strmap_put(m, "example", &b), 0);

    /* A window into a longer buffer, with no NUL after it. */
    const char text[] = "user@example.com/resource";
    assert_ptr_equal(xgw_strmap_getn(m, text + 5, 11), &a);
    assert_ptr_equal(xgw_strmap_getn(m, text + 5, 7), &b);
    assert_null(xgw_strmap_getn(m, text + 5, 8));  /* "example." */
    assert_null(xgw_strmap_getn(m, text + 5, 12)); /* "example.com/" */
    assert_null(xgw_strmap_getn(m, text + 5, 0));

    /* A buffer that really has no terminator at all. */
    char raw[7];
    memcpy(raw, "example", 7);
    assert_ptr_equal(xgw_strmap_getn(m, raw, sizeof raw), &b);
    assert_null(xgw_strmap_getn(m, raw, 6));

    /* An embedded NUL is part of the key for getn: no match. */
    const char nul[] = "example\0com";
    assert_null(xgw_strmap_getn(m, nul, 11));

    /* Zero-length key when "" is present. */
    assert_int_equal(xgw_strmap_put(m, "", &a), 0);
    assert_ptr_equal(xgw_strmap_getn(m, text, 0), &a);
    xgw_strmap_destroy(&m);
}

static void
test_growth_100k(void **state)
{
    (void)state;
    enum { N = 100000 };
    xgw_strmap_t *m = xgw_strmap_new();
    assert_non_null(m);
    char k[64];
    for (size_t i = 0; i < N; i++) {
        s_key(k, sizeof k, i);
        assert_int_equal(xgw_strmap_put(m, k, S_VAL(i)), 0);
        assert_int_equal(xgw_strmap_size(m), i + 1);
        /* Spot-check older entries across every resize. */
        if ((i & (i + 1)) == 0) {
            for (size_t j = 0; j <= i; j += 1 + i / 64) {
                s_key(k, sizeof k, j);
                assert_ptr_equal(xgw_strmap_get(m, k), S_VAL(j));
            }
        }
    }
    for (size_t i = 0; i < N; i++) {
        s_key(k, sizeof k, i);
        assert_ptr_equal(xgw_strmap_get(m, k), S_VAL(i));
    }
    /* Misses in a full map. */
    for (size_t i = N; i < N + 1000; i++) {
        s_key(k, sizeof k, i);
        assert_null(xgw_strmap_get(m, k));
    }
    /* Replace everything: size stays. */
    for (size_t i = 0; i < N; i++) {
        s_key(k, sizeof k, i);
        assert_int_equal(xgw_strmap_put(m, k, S_VAL(i + N)), 0);
    }
    assert_int_equal(xgw_strmap_size(m), N);
    for (size_t i = 0; i < N; i += 7) {
        s_key(k, sizeof k, i);
        assert_ptr_equal(xgw_strmap_get(m, k), S_VAL(i + N));
    }
    xgw_strmap_destroy(&m);
}

static void
test_remove_backward_shift(void **state)
{
    (void)state;
    enum { N = 10000 };
    xgw_strmap_t *m = xgw_strmap_new();
    assert_non_null(m);
    char k[64];
    for (size_t i = 0; i < N; i++) {
        s_key(k, sizeof k, i);
        assert_int_equal(xgw_strmap_put(m, k, S_VAL(i)), 0);
    }
    for (size_t i = 0; i < N; i += 2) {
        s_key(k, sizeof k, i);
        assert_ptr_equal(xgw_strmap_remove(m, k), S_VAL(i));
    }
    assert_int_equal(xgw_strmap_size(m), N / 2);
    for (size_t i = 0; i < N; i++) {
        s_key(k, sizeof k, i);
        if (i % 2)
            assert_ptr_equal(xgw_strmap_get(m, k), S_VAL(i));
        else
            assert_null(xgw_strmap_get(m, k));
    }
    /* Removing the removed again changes nothing. */
    for (size_t i = 0; i < N; i += 2) {
        s_key(k, sizeof k, i);
        assert_null(xgw_strmap_remove(m, k));
    }
    assert_int_equal(xgw_strmap_size(m), N / 2);
    /* Remove the rest in reverse order, checking survivors as we go. */
    for (size_t i = N - 1; i < N; i -= 2) {
        s_key(k, sizeof k, i);
        assert_ptr_equal(xgw_strmap_remove(m, k), S_VAL(i));
        if (i >= 3 && i % 100 == 1) {
            for (size_t j = 1; j < i; j += 2) {
                s_key(k, sizeof k, j);
                assert_ptr_equal(xgw_strmap_get(m, k), S_VAL(j));
            }
        }
        if (i == 1)
            break;
    }
    assert_int_equal(xgw_strmap_size(m), 0);
    xgw_strmap_destroy(&m);
}

/* The map's hash, copied here only to pick keys whose home slots collide
 * near the end of a 16-slot table; if the map changes its hash the test
 * still passes, it just stops forcing the wrap-around. */
static uint64_t
s_hash_copy(const char *key)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const char *p = key; *p; p++) {
        h ^= (uint8_t)*p;
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

/* Finds key numbers whose home slot in a 16-slot table is home. */
static size_t
s_keys_with_home(size_t home, size_t count, size_t *out, size_t start)
{
    char k[64];
    size_t found = 0;
    for (size_t i = start; found < count && i < start + 100000; i++) {
        s_key(k, sizeof k, i);
        if ((s_hash_copy(k) & 15) == home)
            out[found++] = i;
    }
    return found;
}

/* Probe runs that wrap around the end of the slot array (homes 14, 15 and
 * 0 in a 16-slot map, 7 entries, no resize), then removal of each member in
 * turn, in every insertion order of the groups: every other key must stay
 * reachable. */
static void
test_remove_wraparound_runs(void **state)
{
    (void)state;
    size_t keys[7];
    assert_int_equal(s_keys_with_home(14, 3, keys, 0), 3);
    assert_int_equal(s_keys_with_home(15, 2, keys + 3, 0), 2);
    assert_int_equal(s_keys_with_home(0, 2, keys + 5, 0), 2);
    static const size_t orders[][7] = {
        {0, 1, 2, 3, 4, 5, 6},
        {5, 6, 3, 4, 0, 1, 2},
        {3, 5, 0, 4, 6, 1, 2},
        {6, 5, 4, 3, 2, 1, 0},
    };
    char k[64];
    for (size_t o = 0; o < sizeof orders / sizeof orders[0]; o++) {
        for (size_t victim = 0; victim < 7; victim++) {
            xgw_strmap_t *m = xgw_strmap_new();
            assert_non_null(m);
            for (size_t i = 0; i < 7; i++) {
                size_t idx = orders[o][i];
                s_key(k, sizeof k, keys[idx]);
                assert_int_equal(xgw_strmap_put(m, k, S_VAL(idx)), 0);
            }
            s_key(k, sizeof k, keys[victim]);
            assert_ptr_equal(xgw_strmap_remove(m, k), S_VAL(victim));
            for (size_t i = 0; i < 7; i++) {
                s_key(k, sizeof k, keys[i]);
                if (i == victim)
                    assert_null(xgw_strmap_get(m, k));
                else
                    assert_ptr_equal(xgw_strmap_get(m, k), S_VAL(i));
            }
            /* Then remove the others one by one, checking each time. */
            for (size_t r = 0; r < 7; r++) {
                if (r == victim)
                    continue;
                s_key(k, sizeof k, keys[r]);
                assert_ptr_equal(xgw_strmap_remove(m, k), S_VAL(r));
                for (size_t i = r + 1; i < 7; i++) {
                    if (i == victim)
                        continue;
                    s_key(k, sizeof k, keys[i]);
                    assert_ptr_equal(xgw_strmap_get(m, k), S_VAL(i));
                }
            }
            assert_int_equal(xgw_strmap_size(m), 0);
            xgw_strmap_destroy(&m);
        }
    }
}

typedef struct {
    unsigned char *seen;
    size_t n;
    size_t calls;
    int bad;
} s_walk_t;

static void
s_visit(void *ud, const char *key, void *value)
{
    s_walk_t *w = ud;
    w->calls++;
    size_t i = S_NUM(value);
    char k[64];
    if (i >= w->n) {
        w->bad++;
        return;
    }
    s_key(k, sizeof k, i);
    if (strcmp(k, key) != 0)
        w->bad++;
    w->seen[i]++;
}

static void
test_each_visits_once(void **state)
{
    (void)state;
    enum { N = 5000 };
    xgw_strmap_t *m = xgw_strmap_new();
    assert_non_null(m);

    s_walk_t w = {calloc(N, 1), N, 0, 0};
    assert_non_null(w.seen);
    xgw_strmap_each(m, s_visit, &w); /* empty map: no calls */
    assert_int_equal(w.calls, 0);

    char k[64];
    for (size_t i = 0; i < N; i++) {
        s_key(k, sizeof k, i);
        assert_int_equal(xgw_strmap_put(m, k, S_VAL(i)), 0);
    }
    for (size_t i = 0; i < N; i += 3) {
        s_key(k, sizeof k, i);
        assert_non_null(xgw_strmap_remove(m, k));
    }
    xgw_strmap_each(m, s_visit, &w);
    assert_int_equal(w.bad, 0);
    assert_int_equal(w.calls, xgw_strmap_size(m));
    for (size_t i = 0; i < N; i++)
        assert_int_equal(w.seen[i], i % 3 == 0 ? 0 : 1);
    free(w.seen);
    xgw_strmap_destroy(&m);
}

typedef struct {
    const size_t *ref; /* ref[i] = value number + 1, 0 = absent */
    size_t n;
    size_t calls;
    int bad;
} s_check_t;

static void
s_check_visit(void *ud, const char *key, void *value)
{
    s_check_t *c = ud;
    c->calls++;
    /* Keys are "key-N.example". */
    size_t i = 0;
    const char *p = key + 4;
    while (*p >= '0' && *p <= '9')
        i = i * 10 + (size_t)(*p++ - '0');
    if (i >= c->n || c->ref[i] == 0 || c->ref[i] != (size_t)(uintptr_t)value)
        c->bad++;
}

/* 200,000 random operations, fixed seed, against an array indexed by key
 * number (the key space is small, so most operations hit: long probe runs,
 * many replaces and many removals of present keys). */
static void
test_random_vs_reference(void **state)
{
    (void)state;
    enum { KEYS = 6000, OPS = 200000 };
    size_t *ref = calloc(KEYS, sizeof *ref);
    assert_non_null(ref);
    size_t ref_size = 0;
    xgw_strmap_t *m = xgw_strmap_new();
    assert_non_null(m);
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    char k[64];
    for (size_t op = 0; op < OPS; op++) {
        uint64_t r = s_rand(&seed);
        size_t key = (size_t)(r >> 8) % KEYS;
        /* Phases: grow, mixed, shrink; so the map both grows and empties. */
        unsigned kind = (unsigned)(r & 0xff);
        size_t phase = op / (OPS / 4);
        unsigned put_share = phase == 0 ? 160 : phase == 3 ? 40 : 100;
        s_key(k, sizeof k, key);
        if (kind < put_share) {
            size_t v = (size_t)(r >> 40) + 1;
            assert_int_equal(xgw_strmap_put(m, k, (void *)(uintptr_t)v), 0);
            if (ref[key] == 0)
                ref_size++;
            ref[key] = v;
        } else if (kind < 200) {
            void *got = xgw_strmap_remove(m, k);
            assert_ptr_equal(got, (void *)(uintptr_t)ref[key]);
            if (ref[key] != 0)
                ref_size--;
            ref[key] = 0;
        } else if (kind < 230) {
            assert_ptr_equal(xgw_strmap_get(m, k), (void *)(uintptr_t)ref[key]);
        } else {
            /* getn on a window of a longer string. */
            char longer[80];
            snprintf(longer, sizeof longer, "%s#tail", k);
            assert_ptr_equal(xgw_strmap_getn(m, longer, strlen(k)), (void *)(uintptr_t)ref[key]);
        }
        assert_int_equal(xgw_strmap_size(m), ref_size);
        if (op % 20000 == 19999) {
            for (size_t i = 0; i < KEYS; i++) {
                s_key(k, sizeof k, i);
                assert_ptr_equal(xgw_strmap_get(m, k), (void *)(uintptr_t)ref[i]);
            }
            s_check_t c = {ref, KEYS, 0, 0};
            xgw_strmap_each(m, s_check_visit, &c);
            assert_int_equal(c.bad, 0);
            assert_int_equal(c.calls, ref_size);
        }
    }
    for (size_t i = 0; i < KEYS; i++) {
        s_key(k, sizeof k, i);
        assert_ptr_equal(xgw_strmap_get(m, k), (void *)(uintptr_t)ref[i]);
    }
    xgw_strmap_destroy(&m);
    free(ref);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_replace_remove),
        cmocka_unit_test(test_getn_not_terminated),
        cmocka_unit_test(test_growth_100k),
        cmocka_unit_test(test_remove_backward_shift),
        cmocka_unit_test(test_remove_wraparound_runs),
        cmocka_unit_test(test_each_visits_once),
        cmocka_unit_test(test_random_vs_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
