/*
 * test_certd_publish.c - distribution of certificate metadata and the
 * dialback secret version from the real xgw-certd to lib/xgw_cert_client
 * (what every edge embeds): the first snapshot, a change reaching the
 * subscriber within a second, no key material on the wire, the dialback
 * keyring reloaded after a rotation with keys from before it verifying
 * inside the overlap window and failing after it, and a kill -9 and
 * restart of certd noticed (stale, then a newer version of the same store
 * generation).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support_certd.h"
#include "support_proc.h"
#include "xgw_cert_client.h"
#include "xgw_config.h"
#include "xgw_log.h"

#include <czmq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static xc_env_t s_env;
static xgw_settings_t s_settings;
static xgw_cert_client_t *s_cc;

static int
s_setup(void **state)
{
    (void)state;
    xgw_log_init("test", 0);
    xgw_log_set_level(XGW_LOG_WARN);
    zsys_handler_set(NULL);
    if (xc_start(&s_env, "dialback_overlap = 3s") != 0)
        return -1;
    char err[512];
    xgw_config_defaults(&s_settings);
    if (xgw_config_load_file(&s_settings, s_env.conf, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    s_cc = xgw_cert_client_new(&s_settings);
    return s_cc ? 0 : -1;
}

static int
s_teardown(void **state)
{
    (void)state;
    xgw_cert_client_destroy(&s_cc);
    return xc_stop(&s_env);
}

typedef int (*s_until_fn)(void *ud);

/* Runs the client's loop until done(ud) or timeout_ms; returns the ms it
 * took, or -1 on timeout. */
static int64_t
s_pump(int64_t timeout_ms, s_until_fn done, void *ud)
{
    int64_t start = zclock_mono();
    while (zclock_mono() - start < timeout_ms) {
        zmq_pollitem_t items[2];
        size_t n = xgw_cert_client_poll_items(s_cc, items, 2);
        int64_t wait = xgw_cert_client_tick(s_cc);
        if (wait > 20)
            wait = 20;
        zmq_poll(items, (int)n, (long)wait);
        xgw_cert_client_process(s_cc);
        if (done(ud))
            return zclock_mono() - start;
    }
    return -1;
}

static int
s_have_snapshot(void *ud)
{
    (void)ud;
    return xgw_cert_client_snapshot(s_cc) != NULL;
}

static int
s_version_above(void *ud)
{
    const Xgw__V1__CertSnapshot *s = xgw_cert_client_snapshot(s_cc);
    return s && s->version > *(uint64_t *)ud;
}

static int
s_dialback_above(void *ud)
{
    const Xgw__V1__CertSnapshot *s = xgw_cert_client_snapshot(s_cc);
    return s && s->dialback_version > *(uint64_t *)ud &&
           xgw_dialback_ring_version(xgw_cert_client_dialback(s_cc)) > *(uint64_t *)ud;
}

static int
s_is_stale(void *ud)
{
    (void)ud;
    return xgw_cert_client_stale(s_cc);
}

static int
s_ctl_ok(const char *a, const char *b, const char *c, const char *d, const char *e, const char *f,
         const char *g)
{
    xc_run_t r;
    int code = xc_ctl(&s_env, &r, a, b, c, d, e, f, g, NULL);
    if (code != 0)
        print_error("xgwctl: %s %s\n", r.out, r.err);
    xc_run_free(&r);
    return code;
}

static void
test_first_snapshot(void **state)
{
    (void)state;
    assert_true(s_pump(10000, s_have_snapshot, NULL) >= 0);
    const Xgw__V1__CertSnapshot *s = xgw_cert_client_snapshot(s_cc);
    assert_int_equal(s->n_served_domains, 2);
    assert_string_equal(s->served_domains[1], "example.org");
    assert_int_equal(s->n_certs, 2);
    assert_int_equal(s->heartbeat_ms, 300);
    const Xgw__V1__CertMeta *m = xgw_cert_snapshot_find(s, "xmpp", "example.org");
    assert_non_null(m);
    assert_string_equal(m->domains[0], "example.org");
    assert_string_equal(m->state, "valid");
    assert_true(m->not_after > (int64_t)time(NULL));
    assert_int_equal(strlen(m->fingerprint), 95);
    /* The edge reads the key from the store file; it is 0600. */
    struct stat st;
    assert_int_equal(stat(m->key_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(m->chain_path, &st), 0);
    /* An unknown domain falls back to the default (example.net's). */
    const Xgw__V1__CertMeta *d = xgw_cert_snapshot_find(s, "sip", "nowhere.example");
    assert_non_null(d);
    assert_string_equal(d->domains[0], "example.net");
    /* Keyring and trust store were loaded from the published paths. */
    assert_non_null(xgw_cert_client_dialback(s_cc));
    assert_non_null(xgw_cert_client_trust(s_cc));
    assert_int_equal(xgw_dialback_ring_version(xgw_cert_client_dialback(s_cc)),
                     s->dialback_version);
    /* No key material in what is published. */
    size_t len = xgw__v1__cert_snapshot__get_packed_size(s);
    uint8_t *buf = malloc(len);
    xgw__v1__cert_snapshot__pack(s, buf);
    assert_null(memmem(buf, len, "PRIVATE KEY", 11));
    free(buf);
}

static void
test_change_within_a_second(void **state)
{
    (void)state;
    assert_true(s_pump(10000, s_have_snapshot, NULL) >= 0);
    uint64_t v = xgw_cert_client_snapshot(s_cc)->version;
    xc_run_t r;
    assert_int_equal(
        xc_ctl(&s_env, &r, "cert", "self-signed", "--domain", "example.org", "--key", "p256", NULL),
        0);
    char id[9];
    snprintf(id, sizeof id, "%.8s", strstr(r.out, "certificate ") + strlen("certificate "));
    xc_run_free(&r);
    assert_true(s_pump(5000, s_version_above, &v) >= 0);
    v = xgw_cert_client_snapshot(s_cc)->version;
    int64_t t0 = zclock_mono();
    assert_int_equal(s_ctl_ok("cert", "assign", id, "--usage", "xmpp", "--domain", "example.org"),
                     0);
    int64_t took = s_pump(5000, s_version_above, &v);
    assert_true(took >= 0);
    /* From before xgwctl started to the subscriber: under a second. */
    assert_true(zclock_mono() - t0 < 1000 + 500 /* xgwctl start-up */);
    const Xgw__V1__CertMeta *m =
        xgw_cert_snapshot_find(xgw_cert_client_snapshot(s_cc), "xmpp", "example.org");
    assert_non_null(m);
    assert_string_equal(m->id, id);
    assert_string_equal(m->key_type, "p256");
}

static void
test_dialback_rotation_overlap(void **state)
{
    (void)state;
    assert_true(s_pump(10000, s_have_snapshot, NULL) >= 0);
    const xgw_dialback_ring_t *ring = xgw_cert_client_dialback(s_cc);
    char key[XGW_DIALBACK_KEY_HEX + 1];
    assert_int_equal(xgw_dialback_ring_key(ring, "remote.example", "example.net", "abc123", key),
                     0);
    uint64_t dv = xgw_cert_client_snapshot(s_cc)->dialback_version;
    assert_int_equal(s_ctl_ok("cert", "dialback", "rotate", NULL, NULL, NULL, NULL), 0);
    assert_true(s_pump(3000, s_dialback_above, &dv) >= 0);
    ring = xgw_cert_client_dialback(s_cc);
    int64_t now = (int64_t)time(NULL);
    /* Inside the window: the key made before the rotation still verifies. */
    assert_int_equal(
        xgw_dialback_ring_verify(ring, now, "remote.example", "example.net", "abc123", key), 2);
    char fresh[XGW_DIALBACK_KEY_HEX + 1];
    assert_int_equal(xgw_dialback_ring_key(ring, "remote.example", "example.net", "abc123", fresh),
                     0);
    assert_string_not_equal(fresh, key);
    /* After the 3 s window certd drops the old secret and publishes again. */
    dv = xgw_cert_client_snapshot(s_cc)->dialback_version;
    assert_true(s_pump(8000, s_dialback_above, &dv) >= 0);
    ring = xgw_cert_client_dialback(s_cc);
    assert_int_equal(xgw_dialback_ring_previous_expires(ring), 0);
    now = (int64_t)time(NULL);
    assert_int_equal(
        xgw_dialback_ring_verify(ring, now, "remote.example", "example.net", "abc123", key), 0);
    assert_int_equal(
        xgw_dialback_ring_verify(ring, now, "remote.example", "example.net", "abc123", fresh), 1);
}

static void
test_certd_restart_noticed(void **state)
{
    (void)state;
    assert_true(s_pump(10000, s_have_snapshot, NULL) >= 0);
    const Xgw__V1__CertSnapshot *s = xgw_cert_client_snapshot(s_cc);
    uint64_t gen = s->generation;
    uint64_t v = s->version;
    assert_false(xgw_cert_client_stale(s_cc));
    xt_signal(s_env.certd, SIGKILL);
    assert_true(xt_wait(s_env.certd, 5000) != -1);
    /* Silence for 3 heartbeats (3 x 300 ms): stale, the last state kept. */
    assert_true(s_pump(5000, s_is_stale, NULL) >= 0);
    assert_non_null(xgw_cert_client_snapshot(s_cc));
    assert_int_equal(xc_start_certd(&s_env), 0);
    assert_true(s_pump(10000, s_version_above, &v) >= 0);
    assert_false(xgw_cert_client_stale(s_cc));
    s = xgw_cert_client_snapshot(s_cc);
    assert_int_equal(s->generation, gen);
    assert_true(s->version > v);
    /* The restart kept the store: same certificates, same assignments. */
    assert_int_equal(s->n_certs, 3);
}

static void
test_clean_shutdown(void **state)
{
    (void)state;
    /* SIGTERM: certd drains, exits 0, and no sanitizer report in its log. */
    assert_int_equal(xc_shutdown_certd(&s_env), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_snapshot),
        cmocka_unit_test(test_change_within_a_second),
        cmocka_unit_test(test_dialback_rotation_overlap),
        cmocka_unit_test(test_certd_restart_noticed),
        cmocka_unit_test(test_clean_shutdown),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
