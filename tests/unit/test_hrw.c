/*
 * test_hrw.c - rendezvous hashing: known answers, stability, minimal
 * movement on node removal and addition, balance.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "xgw_hrw.h"

#define S_KEYS 10000

/* Fills buf with the i-th test key ("user<i>@example.net"). */
static void
s_key(char *buf, size_t len, int i)
{
    snprintf(buf, len, "user%d@example.net", i);
}

/* The hash must never change (live affinity would move on upgrade). These
 * constants were computed once from the documented function (FNV-1a 64 over
 * key, 0x00, node; splitmix64 finaliser) and cross-checked with an
 * independent implementation. */
static void
test_known_answers(void **state)
{
    (void)state;
    assert_true(xgw_hrw_weight("alice@example.net", "xmppd.00") == 0x033da701488ca013ULL);
    assert_true(xgw_hrw_weight("alice@example.net", "xmppd.01") == 0x0cc051fa9b687ffeULL);
    assert_true(xgw_hrw_weight("bob@example.org", "sipd.03") == 0x95b558060805399aULL);
    assert_true(xgw_hrw_weight("", "") == 0x71b8262bb6e2e086ULL);
}

static void
test_separator(void **state)
{
    (void)state;
    /* ("ab","c") and ("a","bc") hash different bytes thanks to the 0x00. */
    assert_true(xgw_hrw_weight("ab", "c") != xgw_hrw_weight("a", "bc"));
    assert_true(xgw_hrw_weight("k", "n1") != xgw_hrw_weight("k", "n2"));
}

static void
test_stable(void **state)
{
    (void)state;
    const char *nodes[] = {"xmppd.00", "xmppd.01", "xmppd.02", "xmppd.03"};
    char key[64];
    for (int i = 0; i < 1000; i++) {
        s_key(key, sizeof key, i);
        int a = xgw_hrw_pick(key, nodes, 4);
        int b = xgw_hrw_pick(key, nodes, 4);
        assert_in_range(a, 0, 3);
        assert_int_equal(a, b);
        /* The pick is the node of highest weight. */
        uint64_t best = xgw_hrw_weight(key, nodes[a]);
        for (int j = 0; j < 4; j++)
            assert_true(xgw_hrw_weight(key, nodes[j]) <= best);
    }
    /* The pick is by name, not by position: a reordered array picks the
     * same node. */
    const char *rev[] = {"xmppd.03", "xmppd.02", "xmppd.01", "xmppd.00"};
    for (int i = 0; i < 1000; i++) {
        s_key(key, sizeof key, i);
        int a = xgw_hrw_pick(key, nodes, 4);
        int b = xgw_hrw_pick(key, rev, 4);
        assert_string_equal(nodes[a], rev[b]);
    }
}

static void
test_empty_and_single(void **state)
{
    (void)state;
    const char *one[] = {"only"};
    assert_int_equal(xgw_hrw_pick("k", NULL, 0), -1);
    assert_int_equal(xgw_hrw_pick("k", one, 0), -1);
    assert_int_equal(xgw_hrw_pick("k", one, 1), 0);
    assert_int_equal(xgw_hrw_pick("", one, 1), 0);
}

static void
test_ties_lower_index(void **state)
{
    (void)state;
    /* Equal names give equal weights: the lower index wins. */
    const char *same[] = {"n", "n", "n"};
    assert_int_equal(xgw_hrw_pick("key", same, 3), 0);
}

static void
test_remove_moves_only_its_keys(void **state)
{
    (void)state;
    const char *five[] = {"w.00", "w.01", "w.02", "w.03", "w.04"};
    const int removed = 2;
    const char *four[] = {"w.00", "w.01", "w.03", "w.04"};
    char key[64];
    int moved_from_removed = 0;
    for (int i = 0; i < S_KEYS; i++) {
        s_key(key, sizeof key, i);
        int before = xgw_hrw_pick(key, five, 5);
        int after = xgw_hrw_pick(key, four, 4);
        if (before == removed) {
            moved_from_removed++;
            continue;
        }
        /* A key on a surviving node stays on it. */
        assert_string_equal(five[before], four[after]);
    }
    /* About a fifth of the keys lived on the removed node. */
    assert_in_range(moved_from_removed, S_KEYS * 15 / 100, S_KEYS * 25 / 100);
}

static void
test_add_moves_about_a_sixth(void **state)
{
    (void)state;
    const char *five[] = {"w.00", "w.01", "w.02", "w.03", "w.04"};
    const char *six[] = {"w.00", "w.01", "w.02", "w.03", "w.04", "w.05"};
    char key[64];
    int moved = 0;
    for (int i = 0; i < S_KEYS; i++) {
        s_key(key, sizeof key, i);
        int before = xgw_hrw_pick(key, five, 5);
        int after = xgw_hrw_pick(key, six, 6);
        if (after != before) {
            /* Keys move only to the new node. */
            assert_int_equal(after, 5);
            moved++;
        }
    }
    assert_in_range(moved, S_KEYS * 12 / 100, S_KEYS * 22 / 100);
}

static void
test_distribution(void **state)
{
    (void)state;
    const char *nodes[] = {"sipd.00", "sipd.01", "sipd.02", "sipd.03"};
    const int keys = 100000;
    int count[4] = {0, 0, 0, 0};
    char key[64];
    for (int i = 0; i < keys; i++) {
        s_key(key, sizeof key, i);
        int n = xgw_hrw_pick(key, nodes, 4);
        assert_in_range(n, 0, 3);
        count[n]++;
    }
    /* Each within +-10% (relative) of the fair share of 25%. */
    for (int i = 0; i < 4; i++)
        assert_in_range(count[i], keys / 4 * 90 / 100, keys / 4 * 110 / 100);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_separator),
        cmocka_unit_test(test_stable),
        cmocka_unit_test(test_empty_and_single),
        cmocka_unit_test(test_ties_lower_index),
        cmocka_unit_test(test_remove_moves_only_its_keys),
        cmocka_unit_test(test_add_moves_about_a_sixth),
        cmocka_unit_test(test_distribution),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
