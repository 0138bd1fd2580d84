/*
 * test_dialback.c - XEP-0185 dialback keys against the checklist's
 * known-answer vectors (section 10), and the keyring: rotation with an
 * overlap window, expiry, the file format and its mode.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "xgw_dialback.h"
#include "xgw_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    const char *secret;
    const char *receiving;
    const char *originating;
    const char *stream_id;
    const char *key;
} s_vector_t;

/* standards-checklist.md section 10. */
static const s_vector_t s_vectors[] = {
    {"s3cr3tf0rd14lb4ck", "xmpp.example.com", "example.org", "D60000229F",
     "37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe4a2686482ba5b89323075643"},
    {"s3cr3tf0rd14lb4ck", "montague.example", "capulet.example", "D60000229F",
     "b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3"},
    {"d14lb4ck43v3r", "capulet.example", "montague.example", "417GAF25",
     "225cc5aa6a071133249d25fef42ae516fc7a86c523aa1c6980a7f73e784c972d"},
};

static void
test_known_answers(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_vectors / sizeof s_vectors[0]; i++) {
        const s_vector_t *v = &s_vectors[i];
        char key[XGW_DIALBACK_KEY_HEX + 1];
        assert_int_equal(xgw_dialback_key((const uint8_t *)v->secret, strlen(v->secret),
                                          v->receiving, v->originating, v->stream_id, key),
                         0);
        assert_string_equal(key, v->key);
    }
}

static void
test_raw_digest_is_wrong(void **state)
{
    (void)state;
    /* The checklist warns that keying the HMAC with the raw digest gives
     * 4530485c...; our key must not be that. */
    char key[XGW_DIALBACK_KEY_HEX + 1];
    const char *s = "s3cr3tf0rd14lb4ck";
    assert_int_equal(xgw_dialback_key((const uint8_t *)s, strlen(s), "xmpp.example.com",
                                      "example.org", "D60000229F", key),
                     0);
    assert_true(strncmp(key, "4530485c", 8) != 0);
}

static void
test_bad_arguments(void **state)
{
    (void)state;
    char key[XGW_DIALBACK_KEY_HEX + 1];
    assert_int_equal(xgw_dialback_key(NULL, 3, "a", "b", "c", key), XGW_EINVAL);
    assert_int_equal(xgw_dialback_key((const uint8_t *)"x", 0, "a", "b", "c", key), XGW_EINVAL);
    assert_int_equal(xgw_dialback_key((const uint8_t *)"x", 1, NULL, "b", "c", key), XGW_EINVAL);
    xgw_dialback_ring_t *r = xgw_dialback_ring_new();
    assert_non_null(r);
    assert_int_equal(xgw_dialback_ring_key(r, "a", "b", "c", key), XGW_ENOENT);
    assert_int_equal(xgw_dialback_ring_verify(r, 0, "a", "b", "c", "00"), 0);
    assert_int_equal(xgw_dialback_ring_rotate(r, NULL, 1, 0, 0), XGW_EINVAL);
    xgw_dialback_ring_destroy(&r);
    assert_null(r);
    xgw_dialback_ring_destroy(&r);
}

static void
test_rotation_overlap(void **state)
{
    (void)state;
    const int64_t t0 = 1800000000;
    const int64_t overlap = 600;
    xgw_dialback_ring_t *r = xgw_dialback_ring_new();
    assert_non_null(r);
    const char *old_secret = "s3cr3tf0rd14lb4ck";
    assert_int_equal(
        xgw_dialback_ring_rotate(r, (const uint8_t *)old_secret, strlen(old_secret), t0, overlap),
        0);
    assert_int_equal(xgw_dialback_ring_version(r), 1);
    assert_int_equal(xgw_dialback_ring_previous_expires(r), 0);

    char before[XGW_DIALBACK_KEY_HEX + 1];
    assert_int_equal(
        xgw_dialback_ring_key(r, "xmpp.example.com", "example.org", "D60000229F", before), 0);
    assert_string_equal(before, s_vectors[0].key);
    assert_int_equal(
        xgw_dialback_ring_verify(r, t0, "xmpp.example.com", "example.org", "D60000229F", before),
        1);
    /* Upper-case hex is the same key. */
    char upper[XGW_DIALBACK_KEY_HEX + 1];
    for (size_t i = 0; i <= XGW_DIALBACK_KEY_HEX; i++)
        upper[i] = (char)(before[i] >= 'a' && before[i] <= 'f' ? before[i] - 32 : before[i]);
    assert_int_equal(
        xgw_dialback_ring_verify(r, t0, "xmpp.example.com", "example.org", "D60000229F", upper), 1);
    /* A tampered key, another stream id, swapped domains: invalid. */
    char tampered[XGW_DIALBACK_KEY_HEX + 1];
    memcpy(tampered, before, sizeof tampered);
    tampered[10] = tampered[10] == '0' ? '1' : '0';
    assert_int_equal(
        xgw_dialback_ring_verify(r, t0, "xmpp.example.com", "example.org", "D60000229F", tampered),
        0);
    assert_int_equal(
        xgw_dialback_ring_verify(r, t0, "xmpp.example.com", "example.org", "D60000229G", before),
        0);
    assert_int_equal(
        xgw_dialback_ring_verify(r, t0, "example.org", "xmpp.example.com", "D60000229F", before),
        0);
    assert_int_equal(
        xgw_dialback_ring_verify(r, t0, "xmpp.example.com", "example.org", "D60000229F", "37c69b"),
        0);

    /* Rotate at t1: the old key still verifies inside the window ... */
    const int64_t t1 = t0 + 100;
    const char *new_secret = "d14lb4ck43v3r";
    assert_int_equal(
        xgw_dialback_ring_rotate(r, (const uint8_t *)new_secret, strlen(new_secret), t1, overlap),
        0);
    assert_int_equal(xgw_dialback_ring_version(r), 2);
    assert_int_equal(xgw_dialback_ring_previous_expires(r), t1 + overlap);
    assert_int_equal(xgw_dialback_ring_created(r), t1);
    char after[XGW_DIALBACK_KEY_HEX + 1];
    assert_int_equal(
        xgw_dialback_ring_key(r, "xmpp.example.com", "example.org", "D60000229F", after), 0);
    assert_string_not_equal(after, before);
    assert_int_equal(
        xgw_dialback_ring_verify(r, t1, "xmpp.example.com", "example.org", "D60000229F", after), 1);
    assert_int_equal(
        xgw_dialback_ring_verify(r, t1, "xmpp.example.com", "example.org", "D60000229F", before),
        2);
    assert_int_equal(xgw_dialback_ring_verify(r, t1 + overlap - 1, "xmpp.example.com",
                                              "example.org", "D60000229F", before),
                     2);
    /* ... and fails after it, even before the expiry sweep. */
    assert_int_equal(xgw_dialback_ring_verify(r, t1 + overlap, "xmpp.example.com", "example.org",
                                              "D60000229F", before),
                     0);
    assert_int_equal(xgw_dialback_ring_expire(r, t1 + overlap - 1), 0);
    assert_int_equal(xgw_dialback_ring_expire(r, t1 + overlap), 1);
    assert_int_equal(xgw_dialback_ring_version(r), 3);
    assert_int_equal(xgw_dialback_ring_previous_expires(r), 0);
    assert_int_equal(
        xgw_dialback_ring_verify(r, t1, "xmpp.example.com", "example.org", "D60000229F", before),
        0);
    assert_int_equal(
        xgw_dialback_ring_verify(r, t1, "xmpp.example.com", "example.org", "D60000229F", after), 1);

    /* Overlap 0: the old secret is gone at once. */
    assert_int_equal(
        xgw_dialback_ring_rotate(r, (const uint8_t *)old_secret, strlen(old_secret), t1 + 1000, 0),
        0);
    assert_int_equal(xgw_dialback_ring_previous_expires(r), 0);
    assert_int_equal(xgw_dialback_ring_verify(r, t1 + 1000, "xmpp.example.com", "example.org",
                                              "D60000229F", after),
                     0);
    assert_true(xgw_dialback_ring_is_current(r, (const uint8_t *)old_secret, strlen(old_secret)));
    assert_false(xgw_dialback_ring_is_current(r, (const uint8_t *)new_secret, strlen(new_secret)));
    xgw_dialback_ring_destroy(&r);
}

static void
test_file_round_trip(void **state)
{
    (void)state;
    char dir[] = "/tmp/xgw-dialback-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/dialback", dir);

    xgw_dialback_ring_t *r = xgw_dialback_ring_new();
    const uint8_t bin[] = {0, 1, 2, 0xff, 'a', '\n', ' '};
    assert_int_equal(xgw_dialback_ring_rotate(r, bin, sizeof bin, 1000, 0), 0);
    const char *s2 = "second";
    assert_int_equal(xgw_dialback_ring_rotate(r, (const uint8_t *)s2, strlen(s2), 2000, 300), 0);
    assert_int_equal(xgw_dialback_ring_save(r, path), 0);

    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    xgw_dialback_ring_t *back = NULL;
    assert_int_equal(xgw_dialback_ring_load(path, &back), 0);
    assert_non_null(back);
    assert_int_equal(xgw_dialback_ring_version(back), 2);
    assert_int_equal(xgw_dialback_ring_created(back), 2000);
    assert_int_equal(xgw_dialback_ring_previous_expires(back), 2300);
    char k1[XGW_DIALBACK_KEY_HEX + 1], k2[XGW_DIALBACK_KEY_HEX + 1];
    assert_int_equal(xgw_dialback_key(bin, sizeof bin, "a.example", "b.example", "id1", k1), 0);
    assert_int_equal(xgw_dialback_ring_verify(back, 2100, "a.example", "b.example", "id1", k1), 2);
    assert_int_equal(xgw_dialback_ring_key(back, "a.example", "b.example", "id1", k2), 0);
    assert_int_equal(xgw_dialback_ring_verify(r, 2100, "a.example", "b.example", "id1", k2), 1);
    xgw_dialback_ring_destroy(&back);

    /* Malformed and missing files are refused. */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("version 1\ncurrent 12 zz\n", f);
    fclose(f);
    assert_int_equal(xgw_dialback_ring_load(path, &back), XGW_EINVAL);
    assert_null(back);
    f = fopen(path, "w");
    fputs("version 1\n", f);
    fclose(f);
    assert_int_equal(xgw_dialback_ring_load(path, &back), XGW_EINVAL);
    unlink(path);
    assert_int_equal(xgw_dialback_ring_load(path, &back), XGW_ENOENT);
    xgw_dialback_ring_destroy(&r);
    rmdir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),   cmocka_unit_test(test_raw_digest_is_wrong),
        cmocka_unit_test(test_bad_arguments),   cmocka_unit_test(test_rotation_overlap),
        cmocka_unit_test(test_file_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
