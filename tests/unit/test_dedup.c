/*
 * test_dedup.c - msg_id de-duplication cache: states, TTL, size bound,
 * forget, finish of unknown ids, ownership of cached bodies.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "xgw_dedup.h"
#include "xgw_error.h"

/* A deterministic msg_id from a number. */
static void
s_id(uint8_t id[XGW_GWP_MSGID_LEN], uint32_t n)
{
    memset(id, 0xa5, XGW_GWP_MSGID_LEN);
    id[0] = (uint8_t)(n >> 24);
    id[1] = (uint8_t)(n >> 16);
    id[2] = (uint8_t)(n >> 8);
    id[3] = (uint8_t)n;
}

/* begin() without caring about the cached answer. */
static int
s_begin(xgw_dedup_t *d, uint32_t n, int64_t now)
{
    uint8_t id[XGW_GWP_MSGID_LEN];
    s_id(id, n);
    uint16_t status = 0;
    const uint8_t *body = NULL;
    size_t len = 0;
    return xgw_dedup_begin(d, id, now, &status, &body, &len);
}

static void
test_new_in_progress_done(void **state)
{
    (void)state;
    xgw_dedup_t *d = xgw_dedup_new(1000, 60000);
    assert_non_null(d);
    assert_int_equal(xgw_dedup_size(d), 0);

    uint8_t id[XGW_GWP_MSGID_LEN];
    s_id(id, 1);
    uint16_t status = 0;
    const uint8_t *body = NULL;
    size_t len = 0;
    assert_int_equal(xgw_dedup_begin(d, id, 1000, &status, &body, &len), XGW_DEDUP_NEW);
    assert_int_equal(xgw_dedup_size(d), 1);
    assert_int_equal(xgw_dedup_begin(d, id, 1001, &status, &body, &len), XGW_DEDUP_IN_PROGRESS);
    assert_int_equal(xgw_dedup_size(d), 1);

    const char answer[] = "the answer";
    assert_int_equal(xgw_dedup_finish(d, id, 1002, 200, (const uint8_t *)answer, sizeof answer), 0);
    assert_int_equal(xgw_dedup_begin(d, id, 1003, &status, &body, &len), XGW_DEDUP_DONE);
    assert_int_equal(status, 200);
    assert_int_equal(len, sizeof answer);
    assert_non_null(body);
    assert_memory_equal(body, answer, sizeof answer);
    /* Asked again: same answer. */
    status = 0;
    assert_int_equal(xgw_dedup_begin(d, id, 1004, &status, &body, &len), XGW_DEDUP_DONE);
    assert_int_equal(status, 200);
    assert_int_equal(xgw_dedup_size(d), 1);

    /* Another id is independent. */
    assert_int_equal(s_begin(d, 2, 1005), XGW_DEDUP_NEW);
    assert_int_equal(xgw_dedup_size(d), 2);

    xgw_dedup_destroy(&d);
    assert_null(d);
    xgw_dedup_destroy(&d); /* idempotent */
    xgw_dedup_destroy(NULL);
}

static void
test_empty_body(void **state)
{
    (void)state;
    xgw_dedup_t *d = xgw_dedup_new(10, 60000);
    assert_non_null(d);
    uint8_t id[XGW_GWP_MSGID_LEN];
    s_id(id, 7);
    assert_int_equal(s_begin(d, 7, 0), XGW_DEDUP_NEW);
    assert_int_equal(xgw_dedup_finish(d, id, 1, 404, NULL, 0), 0);
    uint16_t status = 0;
    const uint8_t *body = (const uint8_t *)"x";
    size_t len = 99;
    assert_int_equal(xgw_dedup_begin(d, id, 2, &status, &body, &len), XGW_DEDUP_DONE);
    assert_int_equal(status, 404);
    assert_int_equal(len, 0);
    assert_null(body);
    xgw_dedup_destroy(&d);
}

static void
test_ttl_expiry(void **state)
{
    (void)state;
    const int64_t ttl = 5000;
    xgw_dedup_t *d = xgw_dedup_new(1000, ttl);
    assert_non_null(d);
    uint8_t id[XGW_GWP_MSGID_LEN];
    s_id(id, 42);

    /* In progress: still known just before the TTL, new after it. */
    assert_int_equal(s_begin(d, 42, 10000), XGW_DEDUP_NEW);
    assert_int_equal(s_begin(d, 42, 10000 + ttl - 1), XGW_DEDUP_IN_PROGRESS);
    assert_int_equal(s_begin(d, 42, 10000 + ttl + 1), XGW_DEDUP_NEW);

    /* Done: the TTL counts from finish. */
    int64_t t0 = 10000 + ttl + 1;
    assert_int_equal(xgw_dedup_finish(d, id, t0 + 100, 200, (const uint8_t *)"ok", 2), 0);
    assert_int_equal(s_begin(d, 42, t0 + 100 + ttl - 1), XGW_DEDUP_DONE);
    assert_int_equal(s_begin(d, 42, t0 + 100 + ttl + 1), XGW_DEDUP_NEW);

    /* expire() drops expired entries. */
    assert_int_equal(s_begin(d, 43, 50000), XGW_DEDUP_NEW);
    assert_int_equal(s_begin(d, 44, 50000), XGW_DEDUP_NEW);
    assert_true(xgw_dedup_size(d) >= 2);
    xgw_dedup_expire(d, 50000 + ttl + 1);
    assert_int_equal(xgw_dedup_size(d), 0);
    xgw_dedup_destroy(&d);
}

static void
test_max_bound(void **state)
{
    (void)state;
    xgw_dedup_t *d = xgw_dedup_new(100, 3600 * 1000);
    assert_non_null(d);
    for (uint32_t i = 0; i < 1000; i++) {
        assert_int_equal(s_begin(d, i, 1000 + i), XGW_DEDUP_NEW);
        assert_true(xgw_dedup_size(d) <= 100);
    }
    assert_true(xgw_dedup_size(d) <= 100);
    /* The newest are still known ... */
    for (uint32_t i = 990; i < 1000; i++)
        assert_int_equal(s_begin(d, i, 3000), XGW_DEDUP_IN_PROGRESS);
    /* ... and the oldest are gone. */
    assert_int_equal(s_begin(d, 0, 3000), XGW_DEDUP_NEW);
    assert_int_equal(s_begin(d, 1, 3000), XGW_DEDUP_NEW);
    assert_true(xgw_dedup_size(d) <= 100);

    /* finish() respects the bound too. */
    uint8_t id[XGW_GWP_MSGID_LEN];
    for (uint32_t i = 5000; i < 5300; i++) {
        s_id(id, i);
        assert_int_equal(xgw_dedup_finish(d, id, 4000, 200, (const uint8_t *)"b", 1), 0);
        assert_true(xgw_dedup_size(d) <= 100);
    }
    xgw_dedup_destroy(&d);
}

static void
test_forget(void **state)
{
    (void)state;
    xgw_dedup_t *d = xgw_dedup_new(10, 60000);
    assert_non_null(d);
    uint8_t id[XGW_GWP_MSGID_LEN];
    s_id(id, 5);
    assert_int_equal(s_begin(d, 5, 0), XGW_DEDUP_NEW);
    xgw_dedup_forget(d, id);
    assert_int_equal(xgw_dedup_size(d), 0);
    assert_int_equal(s_begin(d, 5, 1), XGW_DEDUP_NEW);
    /* Forgetting a finished entry and an unknown id. */
    assert_int_equal(xgw_dedup_finish(d, id, 2, 200, (const uint8_t *)"x", 1), 0);
    xgw_dedup_forget(d, id);
    assert_int_equal(s_begin(d, 5, 3), XGW_DEDUP_NEW);
    uint8_t other[XGW_GWP_MSGID_LEN];
    s_id(other, 6);
    xgw_dedup_forget(d, other);
    assert_int_equal(xgw_dedup_size(d), 1);
    xgw_dedup_destroy(&d);
}

static void
test_finish_unknown(void **state)
{
    (void)state;
    xgw_dedup_t *d = xgw_dedup_new(10, 60000);
    assert_non_null(d);
    uint8_t id[XGW_GWP_MSGID_LEN];
    s_id(id, 9);
    assert_int_equal(xgw_dedup_finish(d, id, 100, 503, (const uint8_t *)"busy", 4), 0);
    assert_int_equal(xgw_dedup_size(d), 1);
    uint16_t status = 0;
    const uint8_t *body = NULL;
    size_t len = 0;
    assert_int_equal(xgw_dedup_begin(d, id, 200, &status, &body, &len), XGW_DEDUP_DONE);
    assert_int_equal(status, 503);
    assert_int_equal(len, 4);
    assert_memory_equal(body, "busy", 4);
    /* A second finish replaces the answer. */
    assert_int_equal(xgw_dedup_finish(d, id, 300, 200, (const uint8_t *)"done!", 5), 0);
    assert_int_equal(xgw_dedup_begin(d, id, 400, &status, &body, &len), XGW_DEDUP_DONE);
    assert_int_equal(status, 200);
    assert_int_equal(len, 5);
    assert_memory_equal(body, "done!", 5);
    assert_int_equal(xgw_dedup_size(d), 1);
    xgw_dedup_destroy(&d);
}

static void
test_body_is_copied(void **state)
{
    (void)state;
    xgw_dedup_t *d = xgw_dedup_new(10, 60000);
    assert_non_null(d);
    uint8_t id[XGW_GWP_MSGID_LEN];
    s_id(id, 11);
    uint8_t buf[64];
    memset(buf, 'A', sizeof buf);
    assert_int_equal(s_begin(d, 11, 0), XGW_DEDUP_NEW);
    assert_int_equal(xgw_dedup_finish(d, id, 1, 200, buf, sizeof buf), 0);
    memset(buf, 'Z', sizeof buf); /* the caller reuses its buffer */
    uint16_t status = 0;
    const uint8_t *body = NULL;
    size_t len = 0;
    assert_int_equal(xgw_dedup_begin(d, id, 2, &status, &body, &len), XGW_DEDUP_DONE);
    assert_int_equal(len, sizeof buf);
    assert_true(body != buf);
    for (size_t i = 0; i < len; i++)
        assert_int_equal(body[i], 'A');
    xgw_dedup_destroy(&d);
}

static void
test_max_zero_is_one(void **state)
{
    (void)state;
    xgw_dedup_t *d = xgw_dedup_new(0, 60000);
    assert_non_null(d);
    assert_int_equal(s_begin(d, 1, 0), XGW_DEDUP_NEW);
    assert_int_equal(s_begin(d, 2, 0), XGW_DEDUP_NEW);
    assert_int_equal(xgw_dedup_size(d), 1);
    assert_int_equal(s_begin(d, 2, 0), XGW_DEDUP_IN_PROGRESS);
    xgw_dedup_destroy(&d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_in_progress_done),
        cmocka_unit_test(test_empty_body),
        cmocka_unit_test(test_ttl_expiry),
        cmocka_unit_test(test_max_bound),
        cmocka_unit_test(test_forget),
        cmocka_unit_test(test_finish_unknown),
        cmocka_unit_test(test_body_is_copied),
        cmocka_unit_test(test_max_zero_is_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
