/*
 * test_cert_files.c - the file layer under certd's store
 * (lib/xgw_cert_fs.c: atomic writes with exact modes, bounded reads,
 * leftovers swept) and the CURVE key directory (lib/xgw_curve.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "xgw_cert_fs.h"
#include "xgw_curve.h"
#include "xgw_error.h"

#include <czmq.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char s_dir[64];

static int
s_setup(void **state)
{
    (void)state;
    snprintf(s_dir, sizeof s_dir, "/tmp/xgw-files-XXXXXX");
    return mkdtemp(s_dir) ? 0 : -1;
}

static int
s_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int
s_mode(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? (int)(st.st_mode & 0777) : -1;
}

static int
s_count_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e = d ? readdir(d) : NULL; e; e = readdir(d))
        n += strncmp(e->d_name, ".tmp-", 5) == 0;
    if (d)
        closedir(d);
    return n;
}

static void
test_atomic_write(void **state)
{
    (void)state;
    char p[128];
    snprintf(p, sizeof p, "%s/key.pem", s_dir);
    mode_t old = umask(0);
    assert_int_equal(xgw_cert_fs_write(p, "secret", 6, 0600), 0);
    assert_int_equal(s_mode(p), 0600);
    umask(077);
    assert_int_equal(xgw_cert_fs_write(p, "public", 6, 0644), 0);
    assert_int_equal(s_mode(p), 0644); /* exact, whatever the umask */
    umask(old);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(xgw_cert_fs_read(p, 100, &text, &len), 0);
    assert_int_equal(len, 6);
    assert_string_equal(text, "public");
    free(text);
    assert_int_equal(xgw_cert_fs_read(p, 5, &text, &len), XGW_ETOOBIG);
    assert_null(text);
    char q[160];
    snprintf(q, sizeof q, "%s/none", s_dir);
    assert_int_equal(xgw_cert_fs_read(q, 5, &text, &len), XGW_ENOENT);
    /* A write into a missing directory fails and leaves nothing behind. */
    snprintf(q, sizeof q, "%s/missing/key.pem", s_dir);
    assert_int_equal(xgw_cert_fs_write(q, "x", 1, 0600), XGW_EIO);
    assert_int_equal(s_count_tmp(s_dir), 0);
    assert_int_equal(xgw_cert_fs_write(NULL, "x", 1, 0600), XGW_EINVAL);
    /* Leftovers of a crash are swept. */
    snprintf(q, sizeof q, "%s/.tmp-abc", s_dir);
    FILE *f = fopen(q, "w");
    fclose(f);
    snprintf(q, sizeof q, "%s/.tmp-dir", s_dir);
    mkdir(q, 0700);
    assert_int_equal(xgw_cert_fs_sweep(s_dir), 2);
    assert_int_equal(s_count_tmp(s_dir), 0);
    assert_true(xgw_cert_fs_exists(p));
    snprintf(q, sizeof q, "%s/a/b/c", s_dir);
    assert_int_equal(xgw_cert_fs_mkdirs(q, 0750), 0);
    assert_int_equal(s_mode(q), 0750);
}

static void
test_curve(void **state)
{
    (void)state;
    char dir[128], why[256], p[256];
    snprintf(dir, sizeof dir, "%s/curve", s_dir);
    assert_int_equal(xgw_curve_ensure(dir, why, sizeof why), 6);
    assert_int_equal(s_mode(dir), 0700);
    for (size_t i = 0; xgw_curve_names[i]; i++) {
        snprintf(p, sizeof p, "%s/%s.key_secret", dir, xgw_curve_names[i]);
        assert_int_equal(s_mode(p), 0600);
        char pub[XGW_CURVE_KEY_Z85];
        assert_int_equal(xgw_curve_public(dir, xgw_curve_names[i], pub), 0);
        assert_int_equal(strlen(pub), 40);
        int is_broker = strcmp(xgw_curve_names[i], "broker") == 0;
        assert_int_equal(xgw_curve_allowed(dir, xgw_curve_names[i]), !is_broker);
    }
    /* Idempotent; a client certificate deleted from clients/ comes back. */
    char before[XGW_CURVE_KEY_Z85], after[XGW_CURVE_KEY_Z85];
    assert_int_equal(xgw_curve_public(dir, "xmppd", before), 0);
    snprintf(p, sizeof p, "%s/clients/xmppd.key", dir);
    unlink(p);
    assert_false(xgw_curve_allowed(dir, "xmppd"));
    assert_int_equal(xgw_curve_ensure(dir, why, sizeof why), 0);
    assert_true(xgw_curve_allowed(dir, "xmppd"));
    assert_int_equal(xgw_curve_public(dir, "xmppd", after), 0);
    assert_string_equal(before, after);
    /* The allowed copy is the public half of the process's secret pair. */
    zcert_t *allowed = zcert_load(p);
    snprintf(p, sizeof p, "%s/xmppd.key_secret", dir);
    zcert_t *secret = zcert_load(p);
    assert_non_null(allowed);
    assert_non_null(secret);
    assert_string_equal(zcert_public_txt(allowed), zcert_public_txt(secret));
    assert_string_not_equal(zcert_secret_txt(secret), "0000000000000000000000000000000000000000");
    zcert_destroy(&allowed);
    zcert_destroy(&secret);
    assert_int_equal(xgw_curve_public(dir, "nobody", before), XGW_ENOENT);
    assert_int_equal(s_count_tmp(dir), 0);
}

int
main(void)
{
    zsys_handler_set(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_atomic_write),
        cmocka_unit_test(test_curve),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
