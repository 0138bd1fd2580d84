/*
 * test_certd_tls.c - rotation without a restart, seen through a real TLS
 * handshake: certd's TLS probe (certd/probe.c) serves with lib/xgw_tls_ctx
 * and learns about certificates only through certd's publication
 * (lib/xgw_cert_client), exactly as an XMPP edge will. openssl s_client
 * connects before and after a new certificate is assigned; the new
 * handshake gets the new certificate while certd keeps running. Also: SNI
 * picks the certificate per served domain (CRT-10), TLS below 1.2 is
 * refused and 1.2/1.3 accepted (S2S-07), ALPN xmpp-server, and a CA-issued
 * certificate verifies for the domain once assigned.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support_cert.h"
#include "support_certd.h"
#include "support_proc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static xc_env_t s_env;
static int s_port;

static int
s_setup(void **state)
{
    (void)state;
    if (xc_start(&s_env, "tls_probe = \"127.0.0.1:0\"") != 0)
        return -1;
    s_port = xc_probe_port(&s_env);
    if (s_port <= 0)
        return -1;
    /* The probe has applied its first snapshot. */
    return xt_wait_lines(s_env.certd_log, "event=probe_tls_reloaded", 1, 10000);
}

static int
s_teardown(void **state)
{
    (void)state;
    return xc_stop(&s_env);
}

/* Handshakes with the probe; returns the presented certificate's SHA-256
 * fingerprint ("" when the handshake failed). extra: more s_client
 * options. */
static void
s_presented(const char *sni, const char *extra, char *fpr, size_t len)
{
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd,
             "echo | timeout 10 openssl s_client -connect 127.0.0.1:%d %s%s %s 2>/dev/null "
             "| openssl x509 -noout -fingerprint -sha256 2>/dev/null",
             s_port, sni ? "-servername " : "-noservername", sni ? sni : "", extra ? extra : "");
    xc_sh(cmd, &out);
    const char *eq = out ? strchr(out, '=') : NULL;
    snprintf(fpr, len, "%s", eq ? eq + 1 : "");
    fpr[strcspn(fpr, "\r\n")] = '\0';
    free(out);
}

/* The fingerprint xgwctl shows for certificate id. */
static void
s_fpr_of(const char *id, char *fpr, size_t len)
{
    xc_run_t r;
    assert_int_equal(xc_ctl(&s_env, &r, "cert", "show", id, NULL), 0);
    const char *p = strstr(r.out, "fingerprint:  SHA256 ");
    assert_non_null(p);
    snprintf(fpr, len, "%s", p + strlen("fingerprint:  SHA256 "));
    fpr[strcspn(fpr, "\r\n")] = '\0';
    xc_run_free(&r);
}

/* The id of the certificate whose assignments include "usage:domain". */
static void
s_assigned(const char *slot, char id[9])
{
    xc_run_t r;
    assert_int_equal(xc_ctl(&s_env, &r, "cert", "show", NULL), 0);
    char *save = NULL;
    id[0] = '\0';
    for (char *line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char want[80];
        snprintf(want, sizeof want, " %s", slot);
        char *hit = strstr(line, want);
        if (hit && (hit[strlen(want)] == ' ' || hit[strlen(want)] == '\0')) {
            snprintf(id, 9, "%.8s", line);
            break;
        }
    }
    xc_run_free(&r);
    assert_int_equal(strlen(id), 8);
}

static void
test_sni_per_domain(void **state)
{
    (void)state;
    char net_id[9], org_id[9], net[128], org[128], want[128], none[128];
    s_assigned("xmpp:example.net", net_id);
    s_assigned("xmpp:example.org", org_id);
    s_presented("example.net", NULL, net, sizeof net);
    s_presented("example.org", NULL, org, sizeof org);
    s_fpr_of(net_id, want, sizeof want);
    assert_string_equal(net, want);
    s_fpr_of(org_id, want, sizeof want);
    assert_string_equal(org, want);
    assert_string_not_equal(net, org);
    /* No SNI, or an unserved name: the default (example.net's). */
    s_presented(NULL, NULL, none, sizeof none);
    assert_string_equal(none, net);
    s_presented("unknown.example", NULL, none, sizeof none);
    assert_string_equal(none, net);
}

static void
test_tls_versions_and_alpn(void **state)
{
    (void)state;
    char f[128];
    s_presented("example.net", "-tls1_2", f, sizeof f);
    assert_true(strlen(f) > 0);
    s_presented("example.net", "-tls1_3", f, sizeof f);
    assert_true(strlen(f) > 0);
    /* The client offers TLS 1.1 (security level 0 lets it); the probe refuses. */
    s_presented("example.net", "-tls1_1 -cipher DEFAULT@SECLEVEL=0", f, sizeof f);
    assert_string_equal(f, "");
    assert_int_equal(xt_wait_lines(s_env.certd_log, "reason=\"unsupported protocol\"", 1, 5000), 0);
    char cmd[512], *out = NULL;
    snprintf(cmd, sizeof cmd,
             "echo | timeout 10 openssl s_client -connect 127.0.0.1:%d -servername example.net "
             "-alpn xmpp-server 2>/dev/null",
             s_port);
    xc_sh(cmd, &out);
    assert_non_null(strstr(out, "ALPN protocol: xmpp-server"));
    free(out);
}

static void
test_rotation_without_restart(void **state)
{
    (void)state;
    char old_id[9], before[128], after[128], want[128], id[9];
    s_assigned("xmpp:example.net", old_id);
    s_presented("example.net", NULL, before, sizeof before);
    s_fpr_of(old_id, want, sizeof want);
    assert_string_equal(before, want);
    int reloads = xt_count_lines(s_env.certd_log, "event=probe_tls_reloaded");

    xc_run_t r;
    assert_int_equal(xc_ctl(&s_env, &r, "cert", "self-signed", "--domain", "example.net", "--key",
                            "p256", "--days", "30", NULL),
                     0);
    const char *p = strstr(r.out, "certificate ");
    assert_non_null(p);
    snprintf(id, sizeof id, "%.8s", p + strlen("certificate "));
    xc_run_free(&r);
    assert_int_equal(xc_ctl(&s_env, &r, "cert", "assign", id, "--usage", "xmpp", "--domain",
                            "example.net", NULL),
                     0);
    xc_run_free(&r);
    /* The listener reloads from the publication (within a second), then
     * new handshakes get the new certificate. */
    assert_int_equal(xt_wait_lines(s_env.certd_log, "event=probe_tls_reloaded", reloads + 1, 5000),
                     0);
    for (int tries = 0; tries < 50; tries++) {
        s_presented("example.net", NULL, after, sizeof after);
        if (strcmp(after, before) != 0)
            break;
        usleep(100 * 1000);
    }
    s_fpr_of(id, want, sizeof want);
    assert_string_equal(after, want);
    assert_string_not_equal(after, before);
    /* example.org is untouched. */
    char org_id[9], org[128];
    s_assigned("xmpp:example.org", org_id);
    s_presented("example.org", NULL, org, sizeof org);
    s_fpr_of(org_id, want, sizeof want);
    assert_string_equal(org, want);
    /* No restart: one certd, started once, still running. */
    assert_int_equal(s_env.certd_starts, 1);
    assert_int_equal(kill(s_env.certd, 0), 0);
    assert_int_equal(xt_count_lines(s_env.certd_log, "event=serving"), 1);
}

static void
test_ca_issued_verifies(void **state)
{
    (void)state;
    int64_t now = (int64_t)time(NULL);
    xt_cert_spec_t ca_spec = {
        .cn = "TLS Test CA", .ca = 1, .not_before = now - 86400, .not_after = now + 3650 * 86400};
    xt_cert_t ca, leaf;
    assert_int_equal(xt_cert_make(&ca_spec, NULL, &ca), 0);
    xt_cert_spec_t ls = {.cn = "example.net",
                         .san = "DNS:example.net,DNS:example.org",
                         .eku = "serverAuth",
                         .not_before = now - 86400,
                         .not_after = now + 90 * 86400};
    assert_int_equal(xt_cert_make(&ls, &ca, &leaf), 0);
    char cap[400], certp[400], keyp[400];
    snprintf(cap, sizeof cap, "%s/tls-ca.pem", s_env.dir);
    snprintf(certp, sizeof certp, "%s/tls-leaf.pem", s_env.dir);
    snprintf(keyp, sizeof keyp, "%s/tls-leaf.key", s_env.dir);
    assert_int_equal(xt_cert_write(&ca, cap, NULL, NULL), 0);
    assert_int_equal(xt_cert_write(&leaf, certp, keyp, NULL), 0);

    int reloads = xt_count_lines(s_env.certd_log, "event=probe_tls_reloaded");
    xc_run_t r;
    assert_int_equal(xc_ctl(&s_env, &r, "cert", "import", "--cert", certp, "--key", keyp, NULL), 0);
    const char *p = strstr(r.out, "imported certificate ");
    assert_non_null(p);
    char id[9];
    snprintf(id, sizeof id, "%.8s", p + strlen("imported certificate "));
    xc_run_free(&r);
    assert_int_equal(xc_ctl(&s_env, &r, "cert", "assign", id, "--usage", "xmpp", NULL), 0);
    xc_run_free(&r);
    assert_int_equal(
        xc_ctl(&s_env, &r, "cert", "unassign", "--usage", "xmpp", "--domain", "example.org", NULL),
        0);
    xc_run_free(&r);
    assert_int_equal(xt_wait_lines(s_env.certd_log, "event=probe_tls_reloaded", reloads + 1, 5000),
                     0);
    /* example.org now falls to the default, the CA-issued certificate, and a
     * client that trusts the CA verifies it for example.org. */
    char cmd[1024], *out = NULL;
    for (int tries = 0; tries < 50; tries++) {
        free(out);
        out = NULL;
        snprintf(cmd, sizeof cmd,
                 "echo | timeout 10 openssl s_client -connect 127.0.0.1:%d -servername "
                 "example.org -CAfile '%s' -verify_hostname example.org -verify_return_error "
                 "2>&1",
                 s_port, cap);
        if (xc_sh(cmd, &out) == 0 && strstr(out, "Verify return code: 0 (ok)"))
            break;
        usleep(100 * 1000);
    }
    assert_non_null(strstr(out, "Verify return code: 0 (ok)"));
    free(out);
    xt_cert_free(&ca);
    xt_cert_free(&leaf);
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
        cmocka_unit_test(test_sni_per_domain),
        cmocka_unit_test(test_tls_versions_and_alpn),
        cmocka_unit_test(test_rotation_without_restart),
        cmocka_unit_test(test_ca_issued_verifies),
        cmocka_unit_test(test_clean_shutdown),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
