/*
 * test_cert_store.c - certd's store (lib/xgw_cert_store.c) on a temporary
 * data directory: every operation's success and refusals, file modes,
 * atomicity (a refused operation leaves every file as it was), check
 * findings in words, dialback rotation, persistence across a reopen, and
 * the published snapshot.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../integration/support_cert.h"
#include "xgw_cert_fs.h"
#include "xgw_cert_store.h"
#include "xgw_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "../integration/support_cert.c"

#define S_DAY 86400

typedef struct {
    char dir[128];
    char sysca[256];
    xgw_cert_store_opts_t opts;
    xgw_cert_store_t *st;
    int64_t now;
    xt_cert_t ca;
} s_env_t;

static int
s_setup(void **state)
{
    s_env_t *e = calloc(1, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "/tmp/xgw-store-XXXXXX");
    if (!mkdtemp(e->dir))
        return -1;
    e->now = (int64_t)time(NULL);
    xt_cert_spec_t ca = {.cn = "Store Test CA",
                         .ca = 1,
                         .not_before = e->now - S_DAY,
                         .not_after = e->now + 3650 * S_DAY};
    if (xt_cert_make(&ca, NULL, &e->ca) != 0)
        return -1;
    /* A "system" CA file holding one unrelated CA. */
    xt_cert_t other;
    xt_cert_spec_t os = {.cn = "System CA",
                         .ca = 1,
                         .not_before = e->now - S_DAY,
                         .not_after = e->now + 3650 * S_DAY};
    if (xt_cert_make(&os, NULL, &other) != 0)
        return -1;
    snprintf(e->sysca, sizeof e->sysca, "%s/system-ca.pem", e->dir);
    xt_cert_write(&other, e->sysca, NULL, NULL);
    xt_cert_free(&other);
    e->opts.data_dir = e->dir;
    e->opts.served_domains = "example.net, Example.ORG";
    e->opts.system_ca_file = e->sysca;
    e->opts.dialback_secret_file = "";
    e->opts.dialback_overlap_s = 600;
    char why[512];
    xgw_cert_notes_t notes = {0};
    e->st = xgw_cert_store_open(&e->opts, e->now, &notes, why, sizeof why);
    if (!e->st) {
        fprintf(stderr, "open: %s\n", why);
        return -1;
    }
    *state = e;
    return 0;
}

static int
s_teardown(void **state)
{
    s_env_t *e = *state;
    xgw_cert_store_destroy(&e->st);
    xt_cert_free(&e->ca);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", e->dir);
    free(e);
    return 0;
}

/* A digest of every name, mode and content under the store directory. */
static void
s_tree(const s_env_t *e, char *out, size_t len)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd,
             "cd '%s/certs' && (find . -printf '%%P %%m\\n' | LC_ALL=C sort; "
             "find . -type f | LC_ALL=C sort | xargs cat) | sha256sum",
             e->dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(out, (int)len, p));
    pclose(p);
}

static int
s_mode(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    return (int)(st.st_mode & 0777);
}

/* Issues a certificate from the test CA and writes cert/key PEM text into
 * malloc'd strings. */
static void
s_issue(const s_env_t *e, xt_cert_spec_t sp, char **cert_pem, char **key_pem, xt_cert_t *keep)
{
    xt_cert_t c;
    assert_int_equal(xt_cert_make(&sp, &e->ca, &c), 0);
    char p1[256], p2[256];
    snprintf(p1, sizeof p1, "%s/tmp-cert.pem", e->dir);
    snprintf(p2, sizeof p2, "%s/tmp-key.pem", e->dir);
    assert_int_equal(xt_cert_write(&c, p1, key_pem ? p2 : NULL, NULL), 0);
    *cert_pem = xt_read_text(p1);
    if (key_pem)
        *key_pem = xt_read_text(p2);
    unlink(p1);
    unlink(p2);
    if (keep)
        *keep = c;
    else
        xt_cert_free(&c);
}

static xt_cert_spec_t
s_spec(const s_env_t *e, const char *san)
{
    xt_cert_spec_t sp = {.rsa_bits = 2048,
                         .cn = "example.net",
                         .san = san,
                         .eku = "serverAuth",
                         .not_before = e->now - S_DAY,
                         .not_after = e->now + 90 * S_DAY};
    return sp;
}

#define S_REFUSED(expr, needle)                                                                    \
    do {                                                                                           \
        char before_[128], after_[128];                                                            \
        uint64_t v_ = xgw_cert_store_version(e->st);                                               \
        size_t n_ = xgw_cert_store_count(e->st);                                                   \
        s_tree(e, before_, sizeof before_);                                                        \
        why[0] = '\0';                                                                             \
        int rc_ = (expr);                                                                          \
        if (rc_ == 0 || !strstr(why, needle))                                                      \
            print_error("rc %d why \"%s\", want \"%s\"\n", rc_, why, needle);                      \
        assert_true(rc_ < 0);                                                                      \
        assert_non_null(strstr(why, needle));                                                      \
        s_tree(e, after_, sizeof after_);                                                          \
        assert_string_equal(before_, after_);                                                      \
        assert_int_equal(xgw_cert_store_version(e->st), v_);                                       \
        assert_int_equal(xgw_cert_store_count(e->st), n_);                                         \
    } while (0)

static void
test_open_layout(void **state)
{
    s_env_t *e = *state;
    char p[512];
    snprintf(p, sizeof p, "%s/certs", e->dir);
    assert_int_equal(s_mode(p), 0750);
    snprintf(p, sizeof p, "%s/certs/dialback", e->dir);
    assert_int_equal(s_mode(p), 0600);
    assert_string_equal(xgw_cert_store_dialback_path(e->st), p);
    assert_int_equal(xgw_dialback_ring_version(xgw_cert_store_dialback(e->st)), 1);
    assert_int_equal(xgw_cert_store_version(e->st), 1);
    assert_int_equal(xgw_cert_store_count(e->st), 0);
    assert_int_equal(xgw_cert_store_system_ca_count(e->st), 1);
    const xgw_strv_t *d = xgw_cert_store_domains(e->st);
    assert_int_equal(d->n, 2);
    assert_string_equal(d->v[1], "example.org");
    char *bundle = xt_read_text(xgw_cert_store_trust_path(e->st));
    assert_non_null(bundle);
    assert_non_null(strstr(bundle, "BEGIN CERTIFICATE"));
    free(bundle);

    /* A bad domain list refuses to open. */
    xgw_cert_store_opts_t o = e->opts;
    o.served_domains = "example.net,,x";
    char why[256];
    assert_null(xgw_cert_store_open(&o, e->now, NULL, why, sizeof why));
    assert_non_null(strstr(why, "common.domains: empty item"));
    o.served_domains = "exa mple.net";
    assert_null(xgw_cert_store_open(&o, e->now, NULL, why, sizeof why));
    assert_non_null(strstr(why, "not a domain name"));
}

static void
test_self_signed(void **state)
{
    s_env_t *e = *state;
    char id[XGW_CERT_ID_LEN + 1], why[512];
    xgw_cert_notes_t notes = {0};
    xgw_strv_t sans = {0};
    xgw_strv_add(&sans, "xmpp.example.net");
    assert_int_equal(xgw_cert_store_self_signed(e->st, "Example.NET", &sans, "p256", 30,
                                                "self-signed", e->now, id, &notes, why, sizeof why),
                     0);
    xgw_x509_strv_free(&sans);
    const xgw_cert_entry_t *c = xgw_cert_store_find(e->st, id);
    assert_non_null(c);
    assert_false(c->pending);
    assert_true(c->self_signed);
    assert_string_equal(c->key_type, "p256");
    assert_int_equal(c->dns.n, 2);
    assert_string_equal(c->dns.v[0], "example.net");
    assert_true(c->not_after - e->now > 29 * S_DAY && c->not_after - e->now <= 30 * S_DAY);
    char p[512];
    xgw_cert_store_path(e->st, id, "key.pem", p, sizeof p);
    assert_int_equal(s_mode(p), 0600);
    xgw_cert_store_path(e->st, id, "chain.pem", p, sizeof p);
    assert_int_equal(s_mode(p), 0644);
    assert_int_equal(xgw_cert_store_version(e->st), 2);

    S_REFUSED(xgw_cert_store_self_signed(e->st, "example.net", NULL, NULL, 0, NULL, e->now, id,
                                         NULL, why, sizeof why),
              "--days 0");
    S_REFUSED(xgw_cert_store_self_signed(e->st, "example.net", NULL, "dsa1024", 30, NULL, e->now,
                                         id, NULL, why, sizeof why),
              "--key dsa1024");
    S_REFUSED(xgw_cert_store_self_signed(e->st, "bad_name.example", NULL, NULL, 30, NULL, e->now,
                                         id, NULL, why, sizeof why),
              "--domain");
    S_REFUSED(xgw_cert_store_self_signed(e->st, "", NULL, NULL, 30, NULL, e->now, id, NULL, why,
                                         sizeof why),
              "--domain is required");
}

static void
test_request_and_import_answer(void **state)
{
    s_env_t *e = *state;
    char id[XGW_CERT_ID_LEN + 1], id2[XGW_CERT_ID_LEN + 1], why[512];
    char *csr = NULL;
    xgw_cert_notes_t notes = {0};
    assert_int_equal(xgw_cert_store_request(e->st, "example.net", NULL, "rsa2048", 1, e->now, id,
                                            &csr, &notes, why, sizeof why),
                     0);
    assert_non_null(strstr(csr, "BEGIN CERTIFICATE REQUEST"));
    const xgw_cert_entry_t *c = xgw_cert_store_find(e->st, id);
    assert_true(c->pending);
    assert_int_equal(c->dns.n, 2); /* every served domain */
    assert_string_equal(xgw_cert_store_state(c, e->now), "pending");
    char p[512];
    xgw_cert_store_path(e->st, id, "key.pem", p, sizeof p);
    assert_int_equal(s_mode(p), 0600);

    /* The CA signs the request; importing the certificate alone completes it. */
    BIO *b = BIO_new_mem_buf(csr, -1);
    X509_REQ *req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
    BIO_free(b);
    assert_non_null(req);
    xt_cert_spec_t sp = s_spec(e, "DNS:example.net,DNS:example.org");
    sp.reuse = X509_REQ_get0_pubkey(req);
    char *cert = NULL;
    s_issue(e, sp, &cert, NULL, NULL);
    X509_REQ_free(req);
    free(csr);
    /* Without a key, a certificate that matches nothing is refused ... */
    char *other = NULL;
    s_issue(e, s_spec(e, "DNS:example.net"), &other, NULL, NULL);
    S_REFUSED(xgw_cert_store_import(e->st, other, NULL, NULL, e->now, id2, NULL, why, sizeof why),
              "no private key given");
    free(other);
    /* ... the right one completes the pending entry under the same id. */
    memset(&notes, 0, sizeof notes);
    assert_int_equal(
        xgw_cert_store_import(e->st, cert, NULL, NULL, e->now, id2, &notes, why, sizeof why), 0);
    assert_string_equal(id, id2);
    c = xgw_cert_store_find(e->st, id);
    assert_false(c->pending);
    assert_string_equal(xgw_cert_store_state(c, e->now), "valid");
    /* The CA is not trusted yet: noted, not refused. */
    int noted = 0;
    for (size_t i = 0; i < notes.n; i++)
        noted += strstr(notes.text[i], "does not verify") != NULL;
    assert_int_equal(noted, 1);
    /* Importing it again is a duplicate. */
    S_REFUSED(xgw_cert_store_import(e->st, cert, NULL, NULL, e->now, id2, NULL, why, sizeof why),
              "already in the store as");
    free(cert);
    S_REFUSED(xgw_cert_store_request(e->st, "example..net", NULL, NULL, 1, e->now, id, &csr, NULL,
                                     why, sizeof why),
              "empty label");
}

static void
test_import_refusals(void **state)
{
    s_env_t *e = *state;
    char id[XGW_CERT_ID_LEN + 1], why[512];
    char *cert = NULL, *key = NULL, *cert2 = NULL, *key2 = NULL;
    s_issue(e, s_spec(e, "DNS:example.net,DNS:example.org"), &cert, &key, NULL);
    s_issue(e, s_spec(e, "DNS:example.net"), &cert2, &key2, NULL);

    S_REFUSED(xgw_cert_store_import(e->st, "hello\n", key, NULL, e->now, id, NULL, why, sizeof why),
              "--cert: no PEM certificate found");
    S_REFUSED(xgw_cert_store_import(e->st, key, key, NULL, e->now, id, NULL, why, sizeof why),
              "the file holds a private key");
    S_REFUSED(xgw_cert_store_import(e->st,
                                    "-----BEGIN CERTIFICATE-----\nnot base64 !!\n"
                                    "-----END CERTIFICATE-----\n",
                                    key, NULL, e->now, id, NULL, why, sizeof why),
              "damaged PEM");
    S_REFUSED(xgw_cert_store_import(e->st, cert, key2, NULL, e->now, id, NULL, why, sizeof why),
              "does not match");
    S_REFUSED(
        xgw_cert_store_import(e->st, cert, "garbage", NULL, e->now, id, NULL, why, sizeof why),
        "--key: no PEM private key");
    S_REFUSED(xgw_cert_store_import(e->st, cert, key, "junk", e->now, id, NULL, why, sizeof why),
              "--chain:");
    /* Expired on import (judged at a later time). */
    S_REFUSED(xgw_cert_store_import(e->st, cert, key, NULL, e->now + 100 * S_DAY, id, NULL, why,
                                    sizeof why),
              "expired at");

    /* And the good one. */
    xgw_cert_notes_t notes = {0};
    assert_int_equal(
        xgw_cert_store_import(e->st, cert, key, NULL, e->now, id, &notes, why, sizeof why), 0);
    char p[512];
    xgw_cert_store_path(e->st, id, "key.pem", p, sizeof p);
    assert_int_equal(s_mode(p), 0600);
    free(cert);
    free(key);
    free(cert2);
    free(key2);
}

static void
test_pkcs12(void **state)
{
    s_env_t *e = *state;
    char id[XGW_CERT_ID_LEN + 1], why[512];
    xt_cert_t c;
    xt_cert_spec_t sp = s_spec(e, "DNS:example.net");
    assert_int_equal(xt_cert_make(&sp, &e->ca, &c), 0);
    char path[256];
    snprintf(path, sizeof path, "%s/bundle.p12", e->dir);
    assert_int_equal(xt_cert_write_p12(&c, "s3cret", path), 0);
    FILE *f = fopen(path, "rb");
    uint8_t der[16384];
    size_t len = fread(der, 1, sizeof der, f);
    fclose(f);
    S_REFUSED(
        xgw_cert_store_import_pkcs12(e->st, der, len, "wrong", e->now, id, NULL, why, sizeof why),
        "wrong password");
    S_REFUSED(xgw_cert_store_import_pkcs12(e->st, (const uint8_t *)"garbage", 7, "s3cret", e->now,
                                           id, NULL, why, sizeof why),
              "not a PKCS#12 file");
    assert_int_equal(
        xgw_cert_store_import_pkcs12(e->st, der, len, "s3cret", e->now, id, NULL, why, sizeof why),
        0);
    const xgw_cert_entry_t *ent = xgw_cert_store_find(e->st, id);
    assert_string_equal(ent->origin, "pkcs12");
    char fpr[96];
    xt_cert_fpr(&c, fpr);
    assert_string_equal(ent->fpr, fpr);
    xt_cert_free(&c);
}

static void
test_assign_remove(void **state)
{
    s_env_t *e = *state;
    char a[XGW_CERT_ID_LEN + 1], b[XGW_CERT_ID_LEN + 1], p[XGW_CERT_ID_LEN + 1], why[512];
    char *csr = NULL;
    assert_int_equal(xgw_cert_store_self_signed(e->st, "example.net", NULL, NULL, 30, NULL, e->now,
                                                a, NULL, why, sizeof why),
                     0);
    assert_int_equal(xgw_cert_store_self_signed(e->st, "example.net", NULL, NULL, 30, NULL, e->now,
                                                b, NULL, why, sizeof why),
                     0);
    assert_int_equal(xgw_cert_store_request(e->st, "example.net", NULL, NULL, 1, e->now, p, &csr,
                                            NULL, why, sizeof why),
                     0);
    free(csr);
    int replaced = -1;
    xgw_cert_notes_t notes = {0};
    assert_int_equal(xgw_cert_store_assign(e->st, a, "xmpp", "example.net", e->now, &replaced,
                                           &notes, why, sizeof why),
                     0);
    assert_int_equal(replaced, 0);
    assert_string_equal(xgw_cert_store_effective(e->st, "xmpp", "example.net"), a);
    assert_null(xgw_cert_store_effective(e->st, "xmpp", "example.org"));
    assert_int_equal(xgw_cert_store_assign(e->st, b, "xmpp", "EXAMPLE.net", e->now, &replaced,
                                           &notes, why, sizeof why),
                     0);
    assert_int_equal(replaced, 1);
    assert_string_equal(xgw_cert_store_effective(e->st, "xmpp", "example.net"), b);
    /* Default assignment: noted that it does not name example.org. */
    memset(&notes, 0, sizeof notes);
    assert_int_equal(
        xgw_cert_store_assign(e->st, a, "sip", NULL, e->now, &replaced, &notes, why, sizeof why),
        0);
    assert_int_equal(notes.n, 1);
    assert_non_null(strstr(notes.text[0], "does not name the served domain example.org"));
    assert_string_equal(xgw_cert_store_effective(e->st, "sip", "example.org"), a);
    /* sofia-sip's directory holds key + chain, 0600. */
    char path[600];
    snprintf(path, sizeof path, "%s/agent.pem", xgw_cert_store_sip_tls_dir(e->st));
    assert_int_equal(s_mode(path), 0600);
    char *agent = xt_read_text(path);
    assert_non_null(strstr(agent, "PRIVATE KEY"));
    assert_non_null(strstr(agent, "BEGIN CERTIFICATE"));
    free(agent);

    S_REFUSED(
        xgw_cert_store_assign(e->st, "00000000", "xmpp", NULL, e->now, NULL, NULL, why, sizeof why),
        "no certificate 00000000");
    S_REFUSED(xgw_cert_store_assign(e->st, a, "smtp", NULL, e->now, NULL, NULL, why, sizeof why),
              "--usage smtp");
    S_REFUSED(xgw_cert_store_assign(e->st, p, "xmpp", NULL, e->now, NULL, NULL, why, sizeof why),
              "pending request");
    S_REFUSED(
        xgw_cert_store_assign(e->st, a, "xmpp", "example.com", e->now, NULL, NULL, why, sizeof why),
        "example.com is not a served domain (common.domains: example.net, example.org)");
    S_REFUSED(
        xgw_cert_store_assign(e->st, a, "xmpp", "example.org", e->now, NULL, NULL, why, sizeof why),
        "does not name example.org");
    S_REFUSED(xgw_cert_store_assign(e->st, a, "xmpp", NULL, e->now + 31 * S_DAY, NULL, NULL, why,
                                    sizeof why),
              "expired at");
    S_REFUSED(xgw_cert_store_remove(e->st, a, why, sizeof why),
              "is assigned (sip for the default)");
    S_REFUSED(xgw_cert_store_remove(e->st, "abcdef12", why, sizeof why), "no certificate abcdef12");
    S_REFUSED(xgw_cert_store_unassign(e->st, "xmpp", "example.org", why, sizeof why),
              "no xmpp assignment for example.org");

    assert_int_equal(xgw_cert_store_unassign(e->st, "sip", NULL, why, sizeof why), 0);
    assert_false(xgw_cert_store_is_assigned(e->st, a));
    assert_int_equal(xgw_cert_fs_exists(path), 0); /* no sip certificate left */
    size_t n = xgw_cert_store_count(e->st);
    assert_int_equal(xgw_cert_store_remove(e->st, a, why, sizeof why), 0);
    assert_int_equal(xgw_cert_store_count(e->st), n - 1);
    assert_null(xgw_cert_store_find(e->st, a));
    char dir[600];
    snprintf(dir, sizeof dir, "%s/%s", xgw_cert_store_dir(e->st), a);
    assert_int_equal(xgw_cert_fs_exists(dir), 0);
    assert_int_equal(xgw_cert_store_remove(e->st, p, why, sizeof why), 0);
}

static void
test_trust(void **state)
{
    s_env_t *e = *state;
    char why[512];
    char path[256];
    snprintf(path, sizeof path, "%s/ca.pem", e->dir);
    xt_cert_write(&e->ca, path, NULL, NULL);
    char *ca = xt_read_text(path);
    char *leaf = NULL;
    s_issue(e, s_spec(e, "DNS:example.net"), &leaf, NULL, NULL);
    uint64_t tv = xgw_cert_store_trust_version(e->st);

    S_REFUSED(xgw_cert_store_trust_add(e->st, leaf, e->now, NULL, why, sizeof why),
              "is not a CA certificate");
    S_REFUSED(xgw_cert_store_trust_add(e->st, "garbage", e->now, NULL, why, sizeof why),
              "no PEM certificate found");
    S_REFUSED(xgw_cert_store_trust_add(e->st, ca, e->now + 4000 * S_DAY, NULL, why, sizeof why),
              "expired at");
    xgw_cert_notes_t notes = {0};
    assert_int_equal(xgw_cert_store_trust_add(e->st, ca, e->now, &notes, why, sizeof why), 0);
    assert_int_equal(xgw_cert_store_anchor_count(e->st), 1);
    assert_int_equal(xgw_cert_store_trust_version(e->st), tv + 1);
    char *bundle = xt_read_text(xgw_cert_store_trust_path(e->st));
    assert_non_null(strstr(bundle, "Store Test CA"));
    free(bundle);
    /* Again: already trusted, nothing changes. */
    memset(&notes, 0, sizeof notes);
    assert_int_equal(xgw_cert_store_trust_add(e->st, ca, e->now, &notes, why, sizeof why), 0);
    assert_non_null(strstr(notes.text[0], "already trusted"));
    assert_int_equal(xgw_cert_store_trust_version(e->st), tv + 1);

    S_REFUSED(xgw_cert_store_trust_remove(e->st, "0123456789abcdef", NULL, NULL, why, sizeof why),
              "is not an added trust anchor");
    S_REFUSED(xgw_cert_store_trust_remove(e->st, "nope", NULL, NULL, why, sizeof why),
              "neither a trust anchor id");
    char id[XGW_CERT_TRUST_ID_LEN + 1];
    snprintf(id, sizeof id, "%s", xgw_cert_store_anchor(e->st, 0)->id);
    assert_int_equal(xgw_cert_store_trust_remove(e->st, id, NULL, NULL, why, sizeof why), 0);
    assert_int_equal(xgw_cert_store_anchor_count(e->st), 0);
    /* By PEM as well. */
    assert_int_equal(xgw_cert_store_trust_add(e->st, ca, e->now, NULL, why, sizeof why), 0);
    assert_int_equal(xgw_cert_store_trust_remove(e->st, NULL, ca, NULL, why, sizeof why), 0);
    assert_int_equal(xgw_cert_store_anchor_count(e->st), 0);
    free(ca);
    free(leaf);
}

typedef struct {
    char lines[32][800];
    int n;
} s_findings_t;

static void
s_collect(void *ud, const char *domain, const char *usage, const char *id,
          xgw_cert_check_level_t level, const char *text)
{
    s_findings_t *f = ud;
    (void)id;
    if (f->n < 32)
        snprintf(f->lines[f->n++], sizeof f->lines[0], "%s %s %d %s", domain, usage, (int)level,
                 text);
}

static int
s_has(const s_findings_t *f, const char *a, const char *b)
{
    for (int i = 0; i < f->n; i++) {
        if (strstr(f->lines[i], a) && (!b || strstr(f->lines[i], b)))
            return 1;
    }
    return 0;
}

static void
test_check(void **state)
{
    s_env_t *e = *state;
    char why[512], good[XGW_CERT_ID_LEN + 1], weak[XGW_CERT_ID_LEN + 1],
        client[XGW_CERT_ID_LEN + 1], self[XGW_CERT_ID_LEN + 1];
    s_findings_t f = {0};

    /* Nothing assigned: one problem per domain and usage. */
    assert_int_equal(xgw_cert_store_check(e->st, e->now, 30 * S_DAY, s_collect, &f), 4);
    assert_true(
        s_has(&f, "example.org xmpp 2 no certificate is assigned for example.org (xmpp)", NULL));

    char path[256];
    snprintf(path, sizeof path, "%s/ca.pem", e->dir);
    xt_cert_write(&e->ca, path, NULL, NULL);
    char *ca = xt_read_text(path);
    assert_int_equal(xgw_cert_store_trust_add(e->st, ca, e->now, NULL, why, sizeof why), 0);
    free(ca);

    char *cert = NULL, *key = NULL;
    s_issue(e, s_spec(e, "DNS:example.net,DNS:example.org"), &cert, &key, NULL);
    assert_int_equal(
        xgw_cert_store_import(e->st, cert, key, NULL, e->now, good, NULL, why, sizeof why), 0);
    free(cert);
    free(key);
    xt_cert_spec_t w = s_spec(e, "DNS:example.net,DNS:example.org");
    w.rsa_bits = 1024;
    s_issue(e, w, &cert, &key, NULL);
    assert_int_equal(
        xgw_cert_store_import(e->st, cert, key, NULL, e->now, weak, NULL, why, sizeof why), 0);
    free(cert);
    free(key);
    xt_cert_spec_t cl = s_spec(e, "DNS:example.net,DNS:example.org");
    cl.eku = "clientAuth";
    s_issue(e, cl, &cert, &key, NULL);
    assert_int_equal(
        xgw_cert_store_import(e->st, cert, key, NULL, e->now, client, NULL, why, sizeof why), 0);
    free(cert);
    free(key);
    assert_int_equal(xgw_cert_store_self_signed(e->st, "example.org", NULL, NULL, 10, NULL, e->now,
                                                self, NULL, why, sizeof why),
                     0);

    /* good covers both domains for xmpp; sip: weak for example.net,
     * clientAuth-only for example.org. */
    assert_int_equal(
        xgw_cert_store_assign(e->st, good, "xmpp", NULL, e->now, NULL, NULL, why, sizeof why), 0);
    assert_int_equal(xgw_cert_store_assign(e->st, weak, "sip", "example.net", e->now, NULL, NULL,
                                           why, sizeof why),
                     0);
    assert_int_equal(xgw_cert_store_assign(e->st, client, "sip", "example.org", e->now, NULL, NULL,
                                           why, sizeof why),
                     0);
    memset(&f, 0, sizeof f);
    assert_int_equal(xgw_cert_store_check(e->st, e->now, 30 * S_DAY, s_collect, &f), 2);
    assert_true(s_has(&f, "example.net xmpp 0 certificate", "valid until"));
    assert_true(s_has(&f, "example.net sip 2", "rsa1024 key, weaker than RSA 2048"));
    assert_true(s_has(&f, "example.org sip 2", "lacks serverAuth"));

    /* Expiring soon is a warning; expired is a problem. */
    memset(&f, 0, sizeof f);
    xgw_cert_store_check(e->st, e->now, 100 * S_DAY, s_collect, &f);
    assert_true(s_has(&f, "example.net xmpp 1", "renew it"));
    memset(&f, 0, sizeof f);
    xgw_cert_store_check(e->st, e->now + 91 * S_DAY, 30 * S_DAY, s_collect, &f);
    assert_true(s_has(&f, "example.net xmpp 2", "expired at"));

    /* Self-signed, and a domain the certificate does not name. */
    assert_int_equal(xgw_cert_store_assign(e->st, self, "xmpp", "example.org", e->now, NULL, NULL,
                                           why, sizeof why),
                     0);
    assert_int_equal(
        xgw_cert_store_assign(e->st, self, "sip", NULL, e->now, NULL, NULL, why, sizeof why), 0);
    assert_int_equal(xgw_cert_store_unassign(e->st, "sip", "example.net", why, sizeof why), 0);
    memset(&f, 0, sizeof f);
    xgw_cert_store_check(e->st, e->now, 0, s_collect, &f);
    assert_true(s_has(&f, "example.org xmpp 2", "self-signed: peers that check"));
    assert_true(
        s_has(&f, "example.net sip 2", "does not name example.net as a DNS subjectAltName"));

    /* A key file readable by others, and one that went missing. */
    char kp[512];
    xgw_cert_store_path(e->st, good, "key.pem", kp, sizeof kp);
    chmod(kp, 0644);
    memset(&f, 0, sizeof f);
    xgw_cert_store_check(e->st, e->now, 0, s_collect, &f);
    assert_true(s_has(&f, "example.net xmpp 2", "readable by others (mode 644)"));
    chmod(kp, 0600);
    char moved[600];
    snprintf(moved, sizeof moved, "%s.away", kp);
    rename(kp, moved);
    memset(&f, 0, sizeof f);
    xgw_cert_store_check(e->st, e->now, 0, s_collect, &f);
    assert_true(s_has(&f, "example.net xmpp 2", "missing or unreadable"));
    rename(moved, kp);
}

static void
test_dialback(void **state)
{
    s_env_t *e = *state;
    char why[512];
    const xgw_dialback_ring_t *r = xgw_cert_store_dialback(e->st);
    char k1[XGW_DIALBACK_KEY_HEX + 1];
    assert_int_equal(xgw_dialback_ring_key(r, "a.example", "example.net", "s1", k1), 0);
    uint64_t v = xgw_cert_store_version(e->st);
    assert_int_equal(xgw_cert_store_dialback_rotate(e->st, e->now, why, sizeof why), 0);
    assert_int_equal(xgw_cert_store_version(e->st), v + 1);
    r = xgw_cert_store_dialback(e->st);
    assert_int_equal(xgw_dialback_ring_version(r), 2);
    assert_int_equal(xgw_dialback_ring_verify(r, e->now, "a.example", "example.net", "s1", k1), 2);
    /* What an edge reads from the file says the same. */
    xgw_dialback_ring_t *edge = NULL;
    assert_int_equal(xgw_dialback_ring_load(xgw_cert_store_dialback_path(e->st), &edge), 0);
    assert_int_equal(
        xgw_dialback_ring_verify(edge, e->now + 599, "a.example", "example.net", "s1", k1), 2);
    assert_int_equal(
        xgw_dialback_ring_verify(edge, e->now + 600, "a.example", "example.net", "s1", k1), 0);
    xgw_dialback_ring_destroy(&edge);
    assert_int_equal(xgw_cert_store_dialback_tick(e->st, e->now + 10), 0);
    assert_int_equal(xgw_cert_store_dialback_tick(e->st, e->now + 600), 1);
    r = xgw_cert_store_dialback(e->st);
    assert_int_equal(xgw_dialback_ring_previous_expires(r), 0);
    assert_int_equal(xgw_dialback_ring_verify(r, e->now, "a.example", "example.net", "s1", k1), 0);
}

static void
test_dialback_secret_file(void **state)
{
    s_env_t *e = *state;
    char why[512], secret[256];
    snprintf(secret, sizeof secret, "%s/db-secret", e->dir);
    assert_int_equal(xt_write_text(secret, "s3cr3tf0rd14lb4ck\n"), 0);
    xgw_cert_store_destroy(&e->st);
    e->opts.dialback_secret_file = secret;
    e->st = xgw_cert_store_open(&e->opts, e->now, NULL, why, sizeof why);
    assert_non_null(e->st);
    char key[XGW_DIALBACK_KEY_HEX + 1];
    const xgw_dialback_ring_t *r = xgw_cert_store_dialback(e->st);
    assert_int_equal(xgw_dialback_ring_key(r, "xmpp.example.com", "example.org", "D60000229F", key),
                     0);
    assert_string_equal(key, "37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe4a2686482ba5b89323075643");
    /* Unchanged file: rotation refused. */
    S_REFUSED(xgw_cert_store_dialback_rotate(e->st, e->now, why, sizeof why), "has not changed");
    assert_int_equal(xt_write_text(secret, "d14lb4ck43v3r"), 0);
    assert_int_equal(xgw_cert_store_dialback_rotate(e->st, e->now, why, sizeof why), 0);
    r = xgw_cert_store_dialback(e->st);
    assert_int_equal(
        xgw_dialback_ring_verify(r, e->now, "xmpp.example.com", "example.org", "D60000229F", key),
        2);
    assert_int_equal(xt_write_text(secret, ""), 0);
    S_REFUSED(xgw_cert_store_dialback_rotate(e->st, e->now, why, sizeof why), "is empty");
    e->opts.dialback_secret_file = "";
}

static void
test_reopen_and_snapshot(void **state)
{
    s_env_t *e = *state;
    char why[512], a[XGW_CERT_ID_LEN + 1], p[XGW_CERT_ID_LEN + 1];
    char *csr = NULL;
    assert_int_equal(xgw_cert_store_self_signed(e->st, "example.net", NULL, NULL, 30, "first-run",
                                                e->now, a, NULL, why, sizeof why),
                     0);
    assert_int_equal(xgw_cert_store_request(e->st, "example.org", NULL, NULL, 0, e->now, p, &csr,
                                            NULL, why, sizeof why),
                     0);
    free(csr);
    assert_int_equal(
        xgw_cert_store_assign(e->st, a, "xmpp", NULL, e->now, NULL, NULL, why, sizeof why), 0);
    uint64_t gen = xgw_cert_store_generation(e->st);
    uint64_t ver = xgw_cert_store_version(e->st);
    uint64_t dbv = xgw_dialback_ring_version(xgw_cert_store_dialback(e->st));
    xgw_cert_store_destroy(&e->st);
    /* A leftover temporary file from a crash is swept. */
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s/certs/.tmp-123456", e->dir);
    xt_write_text(tmp, "partial");
    e->st = xgw_cert_store_open(&e->opts, e->now, NULL, why, sizeof why);
    assert_non_null(e->st);
    assert_int_equal(xgw_cert_fs_exists(tmp), 0);
    assert_int_equal(xgw_cert_store_generation(e->st), gen);
    assert_int_equal(xgw_cert_store_version(e->st), ver + 1);
    assert_int_equal(xgw_dialback_ring_version(xgw_cert_store_dialback(e->st)), dbv);
    assert_int_equal(xgw_cert_store_count(e->st), 2);
    assert_true(xgw_cert_store_find(e->st, p)->pending);
    assert_string_equal(xgw_cert_store_find(e->st, a)->origin, "first-run");
    assert_string_equal(xgw_cert_store_effective(e->st, "xmpp", "example.org"), a);

    xgw_arena_t *arena = xgw_arena_new(4096);
    Xgw__V1__CertSnapshot snap = XGW__V1__CERT_SNAPSHOT__INIT;
    assert_int_equal(xgw_cert_store_snapshot(e->st, arena, e->now * 1000, 2000, &snap), 0);
    assert_int_equal(snap.generation, gen);
    assert_int_equal(snap.version, ver + 1);
    assert_int_equal(snap.n_certs, 1); /* not the pending one */
    assert_string_equal(snap.certs[0]->id, a);
    assert_string_equal(snap.certs[0]->state, "valid");
    assert_true(snap.certs[0]->self_signed);
    assert_non_null(strstr(snap.certs[0]->key_path, "/key.pem"));
    assert_int_equal(snap.n_assignments, 1);
    assert_string_equal(snap.assignments[0]->domain, "");
    assert_int_equal(snap.n_served_domains, 2);
    assert_int_equal(snap.dialback_version, dbv);
    /* The snapshot packs and unpacks, and carries no key material. */
    size_t len = xgw__v1__cert_snapshot__get_packed_size(&snap);
    uint8_t *buf = malloc(len);
    xgw__v1__cert_snapshot__pack(&snap, buf);
    assert_null(memmem(buf, len, "PRIVATE", 7));
    Xgw__V1__CertSnapshot *back = xgw__v1__cert_snapshot__unpack(NULL, len, buf);
    assert_non_null(back);
    assert_string_equal(back->certs[0]->fingerprint, xgw_cert_store_find(e->st, a)->fpr);
    xgw__v1__cert_snapshot__free_unpacked(back, NULL);
    free(buf);
    xgw_arena_destroy(&arena);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_layout, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_self_signed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_request_and_import_answer, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_import_refusals, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_pkcs12, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_assign_remove, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_trust, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_check, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_dialback, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_dialback_secret_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_reopen_and_snapshot, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
