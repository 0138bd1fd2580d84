/*
 * test_certd_cli.c - every `xgwctl cert` operation against the real
 * xgw-broker and xgw-certd on ipc:// in a temporary directory, run as the
 * real xgwctl binary: one success and at least one bad-input case each
 * (not a certificate, key does not match, expired on import, wrong
 * password, garbage PEM, unknown id, remove while assigned, ...), with the
 * exit code, the words of the output, and the store unchanged after every
 * refusal. Certificates come from a test CA made in the test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support_cert.h"
#include "support_certd.h"
#include "support_proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <openssl/pem.h>

#define S_DAY 86400

static xc_env_t s_env;
static xt_cert_t s_ca;
static int64_t s_now;

/* Paths of the input files the tests use. */
static char s_path[32][400];
enum {
    P_CA,
    P_GOOD,
    P_GOOD_KEY,
    P_OTHER_KEY,
    P_EXPIRED,
    P_EXPIRED_KEY,
    P_WEAK,
    P_WEAK_KEY,
    P_CLIENT,
    P_CLIENT_KEY,
    P_P12,
    P_PW,
    P_BADPW,
    P_GARBAGE,
    P_CSR,
    P_SIGNED,
    P_TEXT,
    P_MISSING,
    P_COUNT
};

static void
s_file(int which, const char *name)
{
    snprintf(s_path[which], sizeof s_path[which], "%s/%s", s_env.dir, name);
}

static void
s_issue(int cert, int key, xt_cert_spec_t sp)
{
    xt_cert_t c;
    assert_int_equal(xt_cert_make(&sp, &s_ca, &c), 0);
    assert_int_equal(xt_cert_write(&c, s_path[cert], key >= 0 ? s_path[key] : NULL, NULL), 0);
    xt_cert_free(&c);
}

static xt_cert_spec_t
s_spec(const char *san)
{
    xt_cert_spec_t sp = {.rsa_bits = 2048,
                         .cn = "example.net",
                         .san = san,
                         .eku = "serverAuth",
                         .not_before = s_now - S_DAY,
                         .not_after = s_now + 200 * S_DAY};
    return sp;
}

static int s_metrics_port;

/* A TCP port free right now on 127.0.0.1. */
static int
s_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int
s_setup(void **state)
{
    (void)state;
    s_metrics_port = s_free_port();
    char extra[64];
    snprintf(extra, sizeof extra, "metrics_port = %d", s_metrics_port);
    if (s_metrics_port <= 0 || xc_start(&s_env, extra) != 0)
        return -1;
    s_now = (int64_t)time(NULL);
    xt_cert_spec_t ca = {.cn = "CLI Test CA",
                         .ca = 1,
                         .not_before = s_now - S_DAY,
                         .not_after = s_now + 3650 * S_DAY};
    if (xt_cert_make(&ca, NULL, &s_ca) != 0)
        return -1;
    const char *names[P_COUNT] = {
        "ca.pem",    "good.pem",    "good.key",   "other.key",  "expired.pem", "expired.key",
        "weak.pem",  "weak.key",    "client.pem", "client.key", "good.p12",    "pw.txt",
        "badpw.txt", "garbage.pem", "req.csr",    "signed.pem", "text.txt",    "missing.pem"};
    for (int i = 0; i < P_COUNT; i++)
        s_file(i, names[i]);
    xt_cert_write(&s_ca, s_path[P_CA], NULL, NULL);
    return 0;
}

static int
s_teardown(void **state)
{
    (void)state;
    xt_cert_free(&s_ca);
    return xc_stop(&s_env);
}

/* Runs xgwctl; checks the exit code and that the needles occur in stdout
 * and stderr (NULL: not checked). */
#define S_CTL(code, out_needle, err_needle, ...)                                                   \
    do {                                                                                           \
        xc_run_t r_;                                                                               \
        int c_ = xc_ctl(&s_env, &r_, __VA_ARGS__, NULL);                                           \
        const char *on_ = (out_needle), *en_ = (err_needle);                                       \
        if (c_ != (code) || (on_ && !strstr(r_.out, on_)) || (en_ && !strstr(r_.err, en_)))        \
            print_error("exit %d (want %d)\nstdout: %s\nstderr: %s\n", c_, (code), r_.out,         \
                        r_.err);                                                                   \
        assert_int_equal(c_, (code));                                                              \
        if (on_)                                                                                   \
            assert_non_null(strstr(r_.out, on_));                                                  \
        if (en_)                                                                                   \
            assert_non_null(strstr(r_.err, en_));                                                  \
        snprintf(s_last, sizeof s_last, "%s", r_.out);                                             \
        xc_run_free(&r_);                                                                          \
    } while (0)

/* Same, for a refusal: exit 2 (or code), and the store did not change. */
#define S_REFUSED(code, err_needle, ...)                                                           \
    do {                                                                                           \
        char b_[128], a_[128];                                                                     \
        xc_tree(&s_env, b_, sizeof b_);                                                            \
        S_CTL(code, NULL, err_needle, __VA_ARGS__);                                                \
        xc_tree(&s_env, a_, sizeof a_);                                                            \
        assert_string_equal(b_, a_);                                                               \
    } while (0)

static char s_last[65536];

/* The 8-hex id after "prefix" in s_last. */
static void
s_id_after(const char *prefix, char id[9])
{
    const char *p = strstr(s_last, prefix);
    assert_non_null(p);
    p += strlen(prefix);
    memcpy(id, p, 8);
    id[8] = '\0';
    for (int i = 0; i < 8; i++)
        assert_true((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'));
}

static void
test_first_run_and_show(void **state)
{
    (void)state;
    S_CTL(0, "first-run", NULL, "cert", "show");
    assert_non_null(strstr(s_last, "xmpp:example.net xmpp:* sip:example.net sip:*"));
    assert_non_null(strstr(s_last, "xmpp:example.org sip:example.org"));
    char id[9];
    s_id_after("\n", id);
    S_CTL(0, "fingerprint:  SHA256 ", NULL, "cert", "show", id);
    assert_non_null(strstr(s_last, "self-signed:  yes"));
    assert_null(strstr(s_last, "PRIVATE KEY"));
    S_CTL(0, "\"certificates\":[", NULL, "--json", "cert", "show");
    S_REFUSED(2, "no certificate 0badc0de", "cert", "show", "0badc0de");
    S_REFUSED(2, "usage: xgwctl cert show [ID]", "cert", "show", "a", "b");
    /* The key files are 0600. */
    char p[700];
    snprintf(p, sizeof p, "%s/certs/%s/key.pem", s_env.data, id);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* First-run certificates are self-signed: check says so, in words. */
    S_CTL(1, "PROBLEM  certificate", "problems with the gateway certificates", "cert", "check");
    assert_non_null(strstr(s_last, "self-signed: peers that check certificates will refuse it"));
}

static void
test_local_usage_errors(void **state)
{
    (void)state;
    S_REFUSED(2, "unknown option --bogus", "cert", "self-signed", "--bogus", "1");
    S_REFUSED(2, "--domain needs a value", "cert", "self-signed", "--domain");
    S_REFUSED(2, "unknown command \"cert frobnicate\"", "cert", "frobnicate");
    S_REFUSED(2, "unknown command \"cert dialback bogus\"", "cert", "dialback", "bogus");
    S_REFUSED(2, "cannot read", "cert", "import", "--cert", s_path[P_MISSING]);
    S_REFUSED(2, "--out FILE.csr is required", "cert", "request", "--domain", "example.net");
    S_REFUSED(2, "usage:", "cert");
}

static void
test_self_signed(void **state)
{
    (void)state;
    S_CTL(0, "created self-signed certificate ", "self-signed: peers that check", "cert",
          "self-signed", "--domain", "example.net", "--san", "xmpp.example.net", "--key", "p256",
          "--days", "10");
    assert_non_null(strstr(s_last, "example.net,xmpp.example.net, p256"));
    S_REFUSED(2, "--days 0: a whole number of days from 1 to 3650", "cert", "self-signed",
              "--domain", "example.net", "--days", "0");
    S_REFUSED(2, "--domain is required", "cert", "self-signed", "--days", "5");
    S_REFUSED(2, "--key dsa: use rsa2048, rsa3072 or p256", "cert", "self-signed", "--domain",
              "example.net", "--key", "dsa");
    S_REFUSED(2, "--domain: \"exa mple.net\" is not a domain name", "cert", "self-signed",
              "--domain", "exa mple.net");
}

static void
test_request_and_answer(void **state)
{
    (void)state;
    S_CTL(0, "CSR written to", NULL, "cert", "request", "--domain", "example.net", "--key",
          "rsa3072", "--out", s_path[P_CSR]);
    char id[9];
    s_id_after("request ", id);
    /* The CSR carries every served domain. */
    char cmd[600], *text = NULL;
    snprintf(cmd, sizeof cmd, "openssl req -in '%s' -noout -text", s_path[P_CSR]);
    assert_int_equal(xc_sh(cmd, &text), 0);
    assert_non_null(strstr(text, "DNS:example.net, DNS:example.org"));
    assert_non_null(strstr(text, "3072 bit"));
    free(text);
    S_CTL(0, "pending", NULL, "cert", "show", id);
    S_REFUSED(2, "the file exists", "cert", "request", "--domain", "example.net", "--out",
              s_path[P_CSR]);
    S_REFUSED(2, "--key ed448: use rsa2048", "cert", "request", "--domain", "example.net", "--key",
              "ed448", "--out", s_path[P_TEXT]);
    assert_int_equal(access(s_path[P_TEXT], F_OK), -1); /* nothing written */
    S_REFUSED(2, "is a pending request", "cert", "assign", id, "--usage", "xmpp");

    /* The CA signs it; importing the certificate alone completes the request. */
    char *csr = xt_read_text(s_path[P_CSR]);
    BIO *b = BIO_new_mem_buf(csr, -1);
    X509_REQ *req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
    BIO_free(b);
    free(csr);
    assert_non_null(req);
    xt_cert_spec_t sp = s_spec("DNS:example.net,DNS:example.org");
    sp.reuse = X509_REQ_get0_pubkey(req);
    s_issue(P_SIGNED, -1, sp);
    X509_REQ_free(req);
    /* A certificate that answers no request and comes without a key: refused. */
    s_issue(P_WEAK, -1, s_spec("DNS:example.net"));
    S_REFUSED(2, "no private key given (--key), and no pending request", "cert", "import", "--cert",
              s_path[P_WEAK]);
    char want[40];
    snprintf(want, sizeof want, "imported certificate %s", id);
    S_CTL(0, want, "does not verify against the trust store", "cert", "import", "--cert",
          s_path[P_SIGNED]);
    S_CTL(0, "state:        valid", NULL, "cert", "show", id);
}

static void
test_import(void **state)
{
    (void)state;
    s_issue(P_GOOD, P_GOOD_KEY, s_spec("DNS:example.net,DNS:example.org"));
    xt_cert_spec_t other = s_spec("DNS:example.net");
    s_issue(P_TEXT, P_OTHER_KEY, other);
    xt_cert_spec_t old = s_spec("DNS:example.net");
    old.not_before = s_now - 100 * S_DAY;
    old.not_after = s_now - S_DAY;
    s_issue(P_EXPIRED, P_EXPIRED_KEY, old);
    xt_write_text(s_path[P_GARBAGE], "-----BEGIN CERTIFICATE-----\nthis is not base64 !!!\n"
                                     "-----END CERTIFICATE-----\n");

    S_REFUSED(2, "--cert: no PEM certificate found (the file holds a private key)", "cert",
              "import", "--cert", s_path[P_GOOD_KEY], "--key", s_path[P_GOOD_KEY]);
    S_REFUSED(2, "the private key does not match the certificate", "cert", "import", "--cert",
              s_path[P_GOOD], "--key", s_path[P_OTHER_KEY]);
    S_REFUSED(2, "the certificate expired at", "cert", "import", "--cert", s_path[P_EXPIRED],
              "--key", s_path[P_EXPIRED_KEY]);
    S_REFUSED(2, "--cert: damaged PEM certificate block", "cert", "import", "--cert",
              s_path[P_GARBAGE], "--key", s_path[P_GOOD_KEY]);
    S_REFUSED(2, "--key: no PEM private key found", "cert", "import", "--cert", s_path[P_GOOD],
              "--key", s_path[P_GOOD]);
    S_REFUSED(2, "give either --cert FILE or --pkcs12 FILE", "cert", "import");
    S_CTL(0, "imported certificate ", NULL, "cert", "import", "--cert", s_path[P_GOOD], "--key",
          s_path[P_GOOD_KEY]);
    S_REFUSED(2, "this certificate is already in the store as", "cert", "import", "--cert",
              s_path[P_GOOD], "--key", s_path[P_GOOD_KEY]);
    /* The key never shows up in certd's log. */
    char *key = xt_read_text(s_path[P_GOOD_KEY]);
    char *log = xt_read_text(s_env.certd_log);
    const char *b64 = strstr(key, "\n") + 1; /* first base64 line of the key */
    char line[40];
    snprintf(line, sizeof line, "%.32s", b64);
    assert_null(strstr(log, line));
    free(key);
    free(log);
}

static void
test_pkcs12(void **state)
{
    (void)state;
    xt_cert_t c;
    xt_cert_spec_t sp = s_spec("DNS:example.net,DNS:example.org");
    sp.rsa_bits = 0; /* P-256 */
    assert_int_equal(xt_cert_make(&sp, &s_ca, &c), 0);
    assert_int_equal(xt_cert_write_p12(&c, "pw-Sup3r-s3cret", s_path[P_P12]), 0);
    xt_cert_free(&c);
    xt_write_text(s_path[P_PW], "pw-Sup3r-s3cret\n");
    xt_write_text(s_path[P_BADPW], "not-the-password\n");

    S_REFUSED(2, "--pkcs12: wrong password for the PKCS#12 file", "cert", "import", "--pkcs12",
              s_path[P_P12], "--password-file", s_path[P_BADPW]);
    S_REFUSED(2, "--pkcs12: not a PKCS#12 file", "cert", "import", "--pkcs12", s_path[P_CA],
              "--password-file", s_path[P_PW]);
    S_REFUSED(2, "cannot read", "cert", "import", "--pkcs12", s_path[P_P12], "--password-file",
              s_path[P_MISSING]);
    S_REFUSED(2, "--key and --chain go with --cert", "cert", "import", "--pkcs12", s_path[P_P12],
              "--password-file", s_path[P_PW], "--key", s_path[P_GOOD_KEY]);
    S_CTL(0, "imported certificate ", NULL, "cert", "import", "--pkcs12", s_path[P_P12],
          "--password-file", s_path[P_PW]);
    assert_non_null(strstr(s_last, "p256"));
    /* The password appears in no log. */
    char *log = xt_read_text(s_env.certd_log);
    assert_null(strstr(log, "pw-Sup3r-s3cret"));
    free(log);
}

/* Imports a certificate with its key and returns its id. */
static void
s_import(int cert, int key, char id[9])
{
    S_CTL(0, "imported certificate ", NULL, "cert", "import", "--cert", s_path[cert], "--key",
          s_path[key]);
    s_id_after("imported certificate ", id);
}

static void
test_assign_unassign_remove(void **state)
{
    (void)state;
    char a[9], b[9];
    S_CTL(0, "created self-signed certificate ", NULL, "cert", "self-signed", "--domain",
          "example.org");
    s_id_after("certificate ", a);
    S_CTL(0, "created self-signed certificate ", NULL, "cert", "self-signed", "--domain",
          "example.org");
    s_id_after("certificate ", b);

    S_CTL(0, "now serves xmpp for example.org (was ", NULL, "cert", "assign", a, "--usage", "xmpp",
          "--domain", "example.org");
    S_CTL(0, "(was ", NULL, "cert", "assign", b, "--usage", "xmpp", "--domain", "example.org");
    S_REFUSED(2, "no certificate 12345678", "cert", "assign", "12345678", "--usage", "xmpp");
    S_REFUSED(2, "--usage smtp: use xmpp or sip", "cert", "assign", a, "--usage", "smtp");
    S_REFUSED(2, "example.com is not a served domain", "cert", "assign", a, "--usage", "xmpp",
              "--domain", "example.com");
    S_REFUSED(2, "does not name example.net as a DNS subjectAltName", "cert", "assign", a,
              "--usage", "sip", "--domain", "example.net");
    S_REFUSED(2, "usage: xgwctl cert assign ID", "cert", "assign", "--usage", "xmpp");

    S_REFUSED(2, "is assigned (xmpp for example.org)", "cert", "remove", b);
    S_REFUSED(2, "no certificate 87654321", "cert", "remove", "87654321");
    S_CTL(0, "removed certificate", NULL, "cert", "remove", a);
    S_CTL(0, "assigned:     xmpp:example.org", NULL, "cert", "show", b);

    S_CTL(0, "removed the xmpp assignment for example.org", NULL, "cert", "unassign", "--usage",
          "xmpp", "--domain", "example.org");
    S_REFUSED(2, "no xmpp assignment for example.org", "cert", "unassign", "--usage", "xmpp",
              "--domain", "example.org");
    S_REFUSED(2, "--usage (missing): use xmpp or sip", "cert", "unassign", "--domain",
              "example.org");
    S_CTL(0, "removed certificate", NULL, "cert", "remove", b);
}

static void
test_trust(void **state)
{
    (void)state;
    S_REFUSED(2, "is not a CA certificate (basicConstraints CA:TRUE missing)", "cert", "trust",
              "add", s_path[P_GOOD]);
    S_REFUSED(2, "damaged PEM certificate block", "cert", "trust", "add", s_path[P_GARBAGE]);
    S_REFUSED(2, "cannot read", "cert", "trust", "add", s_path[P_MISSING]);
    S_CTL(0, "trusted ", NULL, "cert", "trust", "add", s_path[P_CA]);
    S_CTL(0, "CLI Test CA", NULL, "cert", "trust", "show");
    assert_non_null(strstr(s_last, "system CAs: 1 from"));
    char tid[17];
    const char *p = strstr(s_last, "\n") + 1;
    memcpy(tid, p, 16);
    tid[16] = '\0';
    S_REFUSED(2, "is not an added trust anchor", "cert", "trust", "remove", "0000000000000000");
    S_CTL(0, "removed ", NULL, "cert", "trust", "remove", tid);
    S_CTL(0, "trusted ", NULL, "cert", "trust", "add", s_path[P_CA]);
    S_CTL(0, "removed ", NULL, "cert", "trust", "remove", s_path[P_CA]);
    S_CTL(0, "added anchors: 0", NULL, "cert", "trust", "show");
}

static void
test_check(void **state)
{
    (void)state;
    char good[9], weak[9], client[9];
    /* With the CA trusted, a good certificate for both domains clears xmpp. */
    S_CTL(0, "trusted ", NULL, "cert", "trust", "add", s_path[P_CA]);
    s_issue(P_GOOD, P_GOOD_KEY, s_spec("DNS:example.net,DNS:example.org"));
    s_import(P_GOOD, P_GOOD_KEY, good);
    xt_cert_spec_t w = s_spec("DNS:example.net,DNS:example.org");
    w.rsa_bits = 1024;
    s_issue(P_WEAK, P_WEAK_KEY, w);
    S_CTL(0, "imported certificate ", "weaker than RSA 2048 or P-256", "cert", "import", "--cert",
          s_path[P_WEAK], "--key", s_path[P_WEAK_KEY]);
    s_id_after("imported certificate ", weak);
    xt_cert_spec_t cl = s_spec("DNS:example.net,DNS:example.org");
    cl.eku = "clientAuth";
    s_issue(P_CLIENT, P_CLIENT_KEY, cl);
    S_CTL(0, "imported certificate ", "lacks serverAuth", "cert", "import", "--cert",
          s_path[P_CLIENT], "--key", s_path[P_CLIENT_KEY]);
    s_id_after("imported certificate ", client);

    for (int i = 0; i < 2; i++) {
        const char *d = i ? "example.org" : "example.net";
        S_CTL(0, "now serves", NULL, "cert", "assign", good, "--usage", "xmpp", "--domain", d);
        S_CTL(0, "now serves", NULL, "cert", "assign", good, "--usage", "sip", "--domain", d);
    }
    S_CTL(0, "every served domain is covered", NULL, "cert", "check");
    assert_null(strstr(s_last, "PROBLEM"));

    /* Each problem, in words, and a non-zero exit. */
    S_CTL(0, "now serves", NULL, "cert", "assign", weak, "--usage", "sip", "--domain",
          "example.net");
    S_CTL(0, "now serves", NULL, "cert", "assign", client, "--usage", "sip", "--domain",
          "example.org");
    S_CTL(0, "removed the xmpp assignment", NULL, "cert", "unassign", "--usage", "xmpp", "--domain",
          "example.org");
    S_CTL(1, NULL, "problems with the gateway certificates", "cert", "check");
    assert_non_null(strstr(s_last, "example.net              sip   PROBLEM  certificate"));
    assert_non_null(strstr(s_last, "has a rsa1024 key, weaker than RSA 2048 or P-256"));
    assert_non_null(strstr(s_last, "is not for TLS servers (its extended key usage lacks"));
    assert_non_null(strstr(s_last, "example.org              xmpp  PROBLEM  certificate"));
    assert_non_null(strstr(s_last, "4 problems, 0 warnings"));
    assert_non_null(strstr(s_last, "example.net              xmpp  ok       certificate"));
    /* The xmpp default still points at the first-run certificate of
     * example.net, which does not name example.org. */
    assert_non_null(strstr(s_last, "does not name example.org as a DNS subjectAltName"));
    S_CTL(1, "\"level\":\"problem\"", NULL, "--json", "cert", "check");
    S_REFUSED(2, "usage: xgwctl cert check", "cert", "check", "extra");
}

static void
test_dialback_and_curve(void **state)
{
    (void)state;
    S_CTL(0, "version:      1", NULL, "cert", "dialback", "show");
    assert_non_null(strstr(s_last, "previous:     none"));
    S_CTL(0, "version:      2", NULL, "cert", "dialback", "rotate");
    assert_non_null(strstr(s_last, "previous:     verifies until"));
    S_REFUSED(2, "usage: xgwctl cert dialback show|rotate", "cert", "dialback", "rotate", "now");
    S_CTL(0, "client, allowed", NULL, "cert", "curve", "show");
    assert_non_null(strstr(s_last, "broker    "));
    S_REFUSED(2, "unknown option --all", "cert", "curve", "show", "--all");
    char p[600];
    snprintf(p, sizeof p, "%s/curve/xmppd.key_secret", s_env.data);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(p, sizeof p, "%s/curve/clients/xmppd.key", s_env.data);
    assert_int_equal(access(p, R_OK), 0);
    snprintf(p, sizeof p, "%s/curve/clients/broker.key", s_env.data);
    assert_int_equal(access(p, F_OK), -1);
    /* The secret never appears in what certd answers or logs. */
    snprintf(p, sizeof p, "%s/certs/dialback", s_env.data);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char *ring = xt_read_text(p);
    const char *cur = strstr(ring, "\ncurrent ");
    assert_non_null(cur);
    cur = strchr(cur + 9, ' ') + 1; /* after the timestamp */
    char secret[33];
    snprintf(secret, sizeof secret, "%.32s", cur);
    S_CTL(0, "\"version\":2", NULL, "--json", "cert", "dialback", "show");
    assert_null(strstr(s_last, secret));
    char *log = xt_read_text(s_env.certd_log);
    assert_null(strstr(log, secret));
    free(log);
    free(ring);
}

/* The value of the first metrics line starting with prefix, or NAN. */
static double
s_metric(const char *text, const char *prefix)
{
    const char *p = text;
    size_t n = strlen(prefix);
    while (p && *p) {
        if (strncmp(p, prefix, n) == 0)
            return strtod(p + n, NULL);
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return -1.0;
}

static void
test_metrics(void **state)
{
    (void)state;
    char cmd[200], *text = NULL;
    snprintf(cmd, sizeof cmd, "curl -s http://127.0.0.1:%d/metrics", s_metrics_port);
    assert_int_equal(xc_sh(cmd, &text), 0);
    /* Every stored certificate's notAfter, as xgwctl shows it. */
    S_CTL(0, "\"certificates\":[", NULL, "--json", "cert", "show");
    const char *p = strstr(s_last, "\"id\":\"");
    assert_non_null(p);
    char id[9];
    snprintf(id, sizeof id, "%.8s", p + 6);
    const char *na = strstr(p, "\"not_after_unix\":");
    assert_non_null(na);
    double want = strtod(na + strlen("\"not_after_unix\":"), NULL);
    char prefix[120];
    snprintf(prefix, sizeof prefix, "xgw_cert_expiry_timestamp_seconds{cert_id=\"%s\"} ", id);
    assert_true(s_metric(text, prefix) == want);
    /* By state: nothing pending (the request was answered), some valid. */
    assert_true(s_metric(text, "xgw_cert_certificates{state=\"valid\"} ") >= 5);
    assert_true(s_metric(text, "xgw_cert_certificates{state=\"pending\"} ") == 0);
    assert_true(s_metric(text, "xgw_cert_certificates{state=\"expired\"} ") == 0);
    /* Rotations: assignments replaced, and the dialback rotation. */
    assert_true(s_metric(text, "xgw_cert_rotations_total{kind=\"certificate\"} ") >= 2);
    assert_true(s_metric(text, "xgw_cert_rotations_total{kind=\"dialback\"} ") == 1);
    assert_true(s_metric(text, "xgw_cert_dialback_version ") >= 2);
    /* No key material or secret in the metrics. */
    assert_null(strstr(text, "PRIVATE"));
    free(text);
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
        cmocka_unit_test(test_first_run_and_show),
        cmocka_unit_test(test_local_usage_errors),
        cmocka_unit_test(test_self_signed),
        cmocka_unit_test(test_request_and_answer),
        cmocka_unit_test(test_import),
        cmocka_unit_test(test_pkcs12),
        cmocka_unit_test(test_assign_unassign_remove),
        cmocka_unit_test(test_trust),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_dialback_and_curve),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_clean_shutdown),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
