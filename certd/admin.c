/*
 * admin.c - certd's side of `xgwctl cert ...`: AdminRequest objects "cert"
 * (request, import, self-signed, assign, unassign, show, remove, check),
 * "trust" (add, remove, show), "dialback" (show, rotate) and "curve"
 * (show). Every rule about the values lives here (and in the store), once;
 * xgwctl only maps its command line. Replies: code 0 done, 1 runtime
 * failure (or problems found by check), 2 invalid request (nothing
 * changed); message is one line, text the human output, json the same as a
 * JSON document. Option values (PEM, passwords) are never logged.
 */
#include "certd.h"
#include "xgw_curve.h"
#include "xgw_error.h"
#include "xgw_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_OK 0
#define S_RUNTIME 1
#define S_INVALID 2

/* Everything a handler produces, written with stdio into memory. */
typedef struct {
    int code;
    char message[1024];
    xgw_cert_notes_t warnings;
    char *text;
    size_t text_len;
    FILE *t; /* text */
    char *json;
    size_t json_len;
    FILE *j; /* json */
} s_out_t;

static void s_msg(s_out_t *o, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
s_msg(s_out_t *o, int code, const char *fmt, ...)
{
    o->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->message, sizeof o->message, fmt, ap);
    va_end(ap);
}

/* JSON string literal. */
static void
s_js(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static int64_t
s_now(void)
{
    return (int64_t)time(NULL);
}

/* ---- Options ------------------------------------------------------------------ */

/* The value of option name (the last one), or NULL when absent. */
static const char *
s_opt(const Xgw__V1__AdminRequest *req, const char *name)
{
    const char *v = NULL;
    for (size_t i = 0; i < req->n_options; i++) {
        if (req->options[i]->key && strcmp(req->options[i]->key, name) == 0)
            v = req->options[i]->value ? req->options[i]->value : "";
    }
    return v;
}

/* Refuses options not in allowed (NULL-terminated; a trailing '*' marks a
 * repeatable one) and repeats of the others. */
static int
s_check_opts(const Xgw__V1__AdminRequest *req, const char *const *allowed, s_out_t *o)
{
    for (size_t i = 0; i < req->n_options; i++) {
        const char *k = req->options[i]->key ? req->options[i]->key : "";
        int ok = 0, multi = 0;
        for (size_t a = 0; allowed[a]; a++) {
            size_t n = strlen(allowed[a]);
            int m = n > 0 && allowed[a][n - 1] == '*';
            if (strncmp(allowed[a], k, n - (size_t)m) == 0 && strlen(k) == n - (size_t)m) {
                ok = 1;
                multi = m;
            }
        }
        if (!ok) {
            s_msg(o, S_INVALID, "unknown option --%s for %s %s", k, req->object, req->verb);
            return -1;
        }
        for (size_t j = 0; !multi && j < i; j++) {
            if (strcmp(req->options[j]->key ? req->options[j]->key : "", k) == 0) {
                s_msg(o, S_INVALID, "--%s given twice", k);
                return -1;
            }
        }
    }
    return 0;
}

static int
s_check_args(const Xgw__V1__AdminRequest *req, size_t min, size_t max, const char *usage,
             s_out_t *o)
{
    if (req->n_args < min || req->n_args > max) {
        s_msg(o, S_INVALID, "usage: xgwctl %s", usage);
        return -1;
    }
    return 0;
}

static void
s_collect(const Xgw__V1__AdminRequest *req, const char *name, xgw_strv_t *out)
{
    for (size_t i = 0; i < req->n_options; i++) {
        if (req->options[i]->key && strcmp(req->options[i]->key, name) == 0)
            xgw_strv_add(out, req->options[i]->value ? req->options[i]->value : "");
    }
}

static void
s_warn_all(s_out_t *o, const xgw_cert_notes_t *notes)
{
    for (size_t i = 0; i < notes->n; i++)
        xgw_cert_note(&o->warnings, "%s", notes->text[i]);
}

/* ---- Entry output -------------------------------------------------------------- */

static void
s_assigned_list(const xgw_cert_store_t *st, const char *id, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    size_t n = xgw_cert_store_assignment_count(st);
    for (size_t i = 0; i < n; i++) {
        const char *usage, *domain, *aid;
        xgw_cert_store_assignment(st, i, &usage, &domain, &aid);
        if (strcmp(aid, id) != 0)
            continue;
        int w = snprintf(buf + used, len - used, "%s%s:%s", used ? " " : "", usage,
                         domain[0] ? domain : "*");
        if (w < 0 || (size_t)w >= len - used)
            break;
        used += (size_t)w;
    }
    if (!buf[0])
        snprintf(buf, len, "-");
}

static void
s_join_dns(const xgw_cert_entry_t *e, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < e->dns.n; i++) {
        int w = snprintf(buf + used, len - used, "%s%s", i ? "," : "", e->dns.v[i]);
        if (w < 0 || (size_t)w >= len - used)
            break;
        used += (size_t)w;
    }
}

static void
s_json_entry(FILE *j, const xgw_cert_store_t *st, const xgw_cert_entry_t *e, int64_t now)
{
    char nb[40] = "", na[40] = "", created[40], path[1200];
    xgw_x509_time_format(e->created, created, sizeof created);
    fprintf(j, "{\"id\":");
    s_js(j, e->id);
    fprintf(j, ",\"state\":");
    s_js(j, xgw_cert_store_state(e, now));
    fprintf(j, ",\"origin\":");
    s_js(j, e->origin);
    fprintf(j, ",\"created\":");
    s_js(j, created);
    fprintf(j, ",\"subject\":");
    s_js(j, e->subject);
    fprintf(j, ",\"key_type\":");
    s_js(j, e->key_type);
    fprintf(j, ",\"domains\":[");
    for (size_t i = 0; i < e->dns.n; i++) {
        fprintf(j, i ? "," : "");
        s_js(j, e->dns.v[i]);
    }
    fprintf(j, "]");
    if (!e->pending) {
        xgw_x509_time_format(e->not_before, nb, sizeof nb);
        xgw_x509_time_format(e->not_after, na, sizeof na);
        fprintf(j, ",\"fingerprint_sha256\":");
        s_js(j, e->fpr);
        fprintf(j, ",\"not_before\":");
        s_js(j, nb);
        fprintf(j, ",\"not_after\":");
        s_js(j, na);
        fprintf(j, ",\"not_after_unix\":%lld,\"self_signed\":%s,\"chain_length\":%d",
                (long long)e->not_after, e->self_signed ? "true" : "false",
                1 + (e->chain ? sk_X509_num(e->chain) : 0));
        xgw_cert_store_path(st, e->id, "chain.pem", path, sizeof path);
        fprintf(j, ",\"chain_path\":");
        s_js(j, path);
    }
    xgw_cert_store_path(st, e->id, "key.pem", path, sizeof path);
    fprintf(j, ",\"key_path\":");
    s_js(j, path);
    fprintf(j, ",\"assigned\":[");
    size_t n = xgw_cert_store_assignment_count(st);
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        const char *usage, *domain, *aid;
        xgw_cert_store_assignment(st, i, &usage, &domain, &aid);
        if (strcmp(aid, e->id) != 0)
            continue;
        fprintf(j, "%s{\"usage\":", first ? "" : ",");
        s_js(j, usage);
        fprintf(j, ",\"domain\":");
        s_js(j, domain);
        fprintf(j, "}");
        first = 0;
    }
    fprintf(j, "]}");
}

static void
s_text_entry(FILE *t, const xgw_cert_store_t *st, const xgw_cert_entry_t *e, int64_t now)
{
    char buf[1024], when[40], path[1200];
    fprintf(t, "id:           %s\n", e->id);
    fprintf(t, "state:        %s\n", xgw_cert_store_state(e, now));
    xgw_x509_time_format(e->created, when, sizeof when);
    fprintf(t, "origin:       %s (%s)\n", e->origin, when);
    fprintf(t, "subject:      %s\n", e->subject);
    s_join_dns(e, buf, sizeof buf);
    fprintf(t, "dns names:    %s\n", buf[0] ? buf : "-");
    fprintf(t, "key:          %s\n", e->key_type);
    if (e->pending) {
        xgw_cert_store_path(st, e->id, "request.csr", path, sizeof path);
        fprintf(t, "request:      %s\n", path);
        fprintf(t, "next step:    have a CA sign it, then xgwctl cert import --cert SIGNED.pem\n");
    } else {
        fprintf(t, "fingerprint:  SHA256 %s\n", e->fpr);
        xgw_x509_time_format(e->not_before, when, sizeof when);
        fprintf(t, "not before:   %s\n", when);
        xgw_x509_time_format(e->not_after, when, sizeof when);
        fprintf(t, "not after:    %s (%lld days left)\n", when,
                (long long)((e->not_after - now) / 86400));
        fprintf(t, "self-signed:  %s\n", e->self_signed ? "yes" : "no");
        int n = e->chain ? sk_X509_num(e->chain) : 0;
        fprintf(t, "chain:        leaf + %d intermediate%s\n", n, n == 1 ? "" : "s");
        for (int i = 0; i < n; i++) {
            char subj[256];
            xgw_x509_subject(sk_X509_value(e->chain, i), subj, sizeof subj);
            fprintf(t, "              %s\n", subj);
        }
        xgw_cert_store_path(st, e->id, "chain.pem", path, sizeof path);
        fprintf(t, "chain file:   %s\n", path);
    }
    xgw_cert_store_path(st, e->id, "key.pem", path, sizeof path);
    fprintf(t, "key file:     %s (mode 0600, never leaves certd's host)\n", path);
    s_assigned_list(st, e->id, buf, sizeof buf);
    fprintf(t, "assigned:     %s\n", buf);
}

/* ---- cert ------------------------------------------------------------------------ */

static void
s_cert_request(certd_t *c, const Xgw__V1__AdminRequest *req, s_out_t *o)
{
    static const char *const allowed[] = {"domain", "san*", "key", "no-served-domains", NULL};
    if (s_check_opts(req, allowed, o) != 0 ||
        s_check_args(req, 0, 0,
                     "cert request --domain D [--san N]... [--key rsa2048|rsa3072|p256] --out "
                     "FILE.csr",
                     o) != 0)
        return;
    xgw_strv_t sans = {0};
    s_collect(req, "san", &sans);
    char id[XGW_CERT_ID_LEN + 1], why[512];
    char *csr = NULL;
    xgw_cert_notes_t notes = {0};
    int rc = xgw_cert_store_request(c->store, s_opt(req, "domain"), &sans, s_opt(req, "key"),
                                    s_opt(req, "no-served-domains") == NULL, s_now(), id, &csr,
                                    &notes, why, sizeof why);
    xgw_x509_strv_free(&sans);
    if (rc != 0) {
        s_msg(o, rc == XGW_EINVAL ? S_INVALID : S_RUNTIME, "%s", why);
        return;
    }
    const xgw_cert_entry_t *e = xgw_cert_store_find(c->store, id);
    char names[1024];
    s_join_dns(e, names, sizeof names);
    s_warn_all(o, &notes);
    s_msg(o, S_OK,
          "request %s created: %s key kept in the store, CSR for %s; have a CA sign it, then "
          "xgwctl cert import --cert SIGNED.pem",
          id, e->key_type, names);
    fputs(csr, o->t);
    fprintf(o->j, "{\"id\":");
    s_js(o->j, id);
    fprintf(o->j, ",\"key_type\":");
    s_js(o->j, e->key_type);
    fprintf(o->j, ",\"domains\":[");
    for (size_t i = 0; i < e->dns.n; i++) {
        fprintf(o->j, i ? "," : "");
        s_js(o->j, e->dns.v[i]);
    }
    fprintf(o->j, "],\"csr\":");
    s_js(o->j, csr);
    fprintf(o->j, "}");
    free(csr);
}

static void
s_done_entry(certd_t *c, const char *verb, const char *id, const xgw_cert_notes_t *notes,
             s_out_t *o)
{
    const xgw_cert_entry_t *e = xgw_cert_store_find(c->store, id);
    char names[1024], when[40];
    s_join_dns(e, names, sizeof names);
    xgw_x509_time_format(e->not_after, when, sizeof when);
    s_warn_all(o, notes);
    s_msg(o, S_OK, "%s certificate %s: %s, %s, valid until %s", verb, id, names, e->key_type, when);
    fprintf(o->t, "%s\n", o->message);
    s_json_entry(o->j, c->store, e, s_now());
}

static void
s_cert_import(certd_t *c, const Xgw__V1__AdminRequest *req, s_out_t *o)
{
    static const char *const allowed[] = {"cert", "key", "chain", "pkcs12", "password", NULL};
    if (s_check_opts(req, allowed, o) != 0 ||
        s_check_args(req, 0, 0,
                     "cert import --cert FILE [--key FILE] [--chain FILE] | --pkcs12 FILE "
                     "--password-file F",
                     o) != 0)
        return;
    const char *cert = s_opt(req, "cert");
    const char *p12 = s_opt(req, "pkcs12");
    const char *password = s_opt(req, "password");
    if ((cert != NULL) == (p12 != NULL)) {
        s_msg(o, S_INVALID, "give either --cert FILE or --pkcs12 FILE");
        return;
    }
    if (p12 && (s_opt(req, "key") || s_opt(req, "chain"))) {
        s_msg(o, S_INVALID, "--key and --chain go with --cert, not with --pkcs12");
        return;
    }
    if (cert && password) {
        s_msg(o, S_INVALID, "--password-file goes with --pkcs12");
        return;
    }
    char id[XGW_CERT_ID_LEN + 1], why[512];
    xgw_cert_notes_t notes = {0};
    int rc;
    if (p12) {
        size_t len = 0;
        uint8_t *der = xgw_x509_base64_decode(p12, &len);
        if (!der) {
            s_msg(o, S_INVALID, "--pkcs12: the value is not base64 (xgwctl sends the file so)");
            return;
        }
        rc = xgw_cert_store_import_pkcs12(c->store, der, len, password, s_now(), id, &notes, why,
                                          sizeof why);
        free(der);
    } else {
        rc = xgw_cert_store_import(c->store, cert, s_opt(req, "key"), s_opt(req, "chain"), s_now(),
                                   id, &notes, why, sizeof why);
    }
    if (rc != 0) {
        s_msg(o, rc == XGW_EINVAL || rc == XGW_EEXIST ? S_INVALID : S_RUNTIME, "%s", why);
        return;
    }
    s_done_entry(c, "imported", id, &notes, o);
}

static void
s_cert_self_signed(certd_t *c, const Xgw__V1__AdminRequest *req, s_out_t *o)
{
    static const char *const allowed[] = {"domain", "san*", "key", "days", NULL};
    if (s_check_opts(req, allowed, o) != 0 ||
        s_check_args(req, 0, 0,
                     "cert self-signed --domain D [--san N]... [--key rsa2048|rsa3072|p256] "
                     "[--days N]",
                     o) != 0)
        return;
    int days = 365;
    const char *d = s_opt(req, "days");
    if (d) {
        char *end = NULL;
        long v = strtol(d, &end, 10);
        if (!*d || *end || v < 1 || v > 3650) {
            s_msg(o, S_INVALID, "--days %s: a whole number of days from 1 to 3650", d);
            return;
        }
        days = (int)v;
    }
    xgw_strv_t sans = {0};
    s_collect(req, "san", &sans);
    char id[XGW_CERT_ID_LEN + 1], why[512];
    xgw_cert_notes_t notes = {0};
    int rc = xgw_cert_store_self_signed(c->store, s_opt(req, "domain"), &sans, s_opt(req, "key"),
                                        days, "self-signed", s_now(), id, &notes, why, sizeof why);
    xgw_x509_strv_free(&sans);
    if (rc != 0) {
        s_msg(o, rc == XGW_EINVAL ? S_INVALID : S_RUNTIME, "%s", why);
        return;
    }
    xgw_cert_note(&notes, "self-signed: peers that check certificates will refuse it; use it for "
                          "first runs and tests");
    s_done_entry(c, "created self-signed", id, &notes, o);
}

static void
s_cert_assign(certd_t *c, const Xgw__V1__AdminRequest *req, s_out_t *o)
{
    static const char *const allowed[] = {"usage", "domain", NULL};
    if (s_check_opts(req, allowed, o) != 0 ||
        s_check_args(req, 1, 1, "cert assign ID --usage xmpp|sip [--domain D]", o) != 0)
        return;
    const char *id = req->args[0];
    const char *usage = s_opt(req, "usage");
    const char *domain = s_opt(req, "domain");
    char why[512];
    xgw_cert_notes_t notes = {0};
    int replaced = 0;
    const char *before = xgw_cert_store_effective(c->store, usage ? usage : "", domain);
    char old[XGW_CERT_ID_LEN + 1] = "";
    if (before)
        snprintf(old, sizeof old, "%s", before);
    int rc = xgw_cert_store_assign(c->store, id, usage, domain, s_now(), &replaced, &notes, why,
                                   sizeof why);
    if (rc != 0) {
        s_msg(o, rc == XGW_EINVAL || rc == XGW_ENOENT ? S_INVALID : S_RUNTIME, "%s", why);
        return;
    }
    if (replaced) {
        certd_count_rotation(c, "certificate");
        xgw_info("certificate_rotated", "usage=%s domain=%s old=%s new=%s", usage,
                 domain && *domain ? domain : "*", old, id);
    }
    s_warn_all(o, &notes);
    s_msg(o, S_OK, "certificate %s now serves %s for %s%s%s%s (new streams; version %llu)", id,
          usage, domain && *domain ? domain : "every domain without its own",
          replaced ? " (was " : "", replaced ? old : "", replaced ? ")" : "",
          (unsigned long long)xgw_cert_store_version(c->store));
    fprintf(o->t, "%s\n", o->message);
    fprintf(o->j, "{\"id\":");
    s_js(o->j, id);
    fprintf(o->j, ",\"usage\":");
    s_js(o->j, usage);
    fprintf(o->j, ",\"domain\":");
    s_js(o->j, domain ? domain : "");
    fprintf(o->j, ",\"replaced\":");
    s_js(o->j, replaced ? old : "");
    fprintf(o->j, ",\"version\":%llu}", (unsigned long long)xgw_cert_store_version(c->store));
}

static void
s_cert_unassign(certd_t *c, const Xgw__V1__AdminRequest *req, s_out_t *o)
{
    static const char *const allowed[] = {"usage", "domain", NULL};
    if (s_check_opts(req, allowed, o) != 0 ||
        s_check_args(req, 0, 0, "cert unassign --usage xmpp|sip [--domain D]", o) != 0)
        return;
    const char *usage = s_opt(req, "usage");
    const char *domain = s_opt(req, "domain");
    char why[512];
    int rc = xgw_cert_store_unassign(c->store, usage, domain, why, sizeof why);
    if (rc != 0) {
        s_msg(o, rc == XGW_EINVAL || rc == XGW_ENOENT ? S_INVALID : S_RUNTIME, "%s", why);
        return;
    }
    s_msg(o, S_OK, "removed the %s assignment for %s", usage,
          domain && *domain ? domain : "the default");
    fprintf(o->t, "%s\n", o->message);
    fprintf(o->j, "{\"usage\":");
    s_js(o->j, usage);
    fprintf(o->j, ",\"domain\":");
    s_js(o->j, domain ? domain : "");
    fprintf(o->j, "}");
}

static void
s_cert_show(certd_t *c, const Xgw__V1__AdminRequest *req, s_out_t *o)
{
    static const char *const allowed[] = {NULL};
    if (s_check_opts(req, allowed, o) != 0 || s_check_args(req, 0, 1, "cert show [ID]", o) != 0)
        return;
    int64_t now = s_now();
    if (req->n_args == 1) {
        const xgw_cert_entry_t *e = xgw_cert_store_find(c->store, req->args[0]);
        if (!e) {
            s_msg(o, S_INVALID, "no certificate %s (see xgwctl cert show)", req->args[0]);
            return;
        }
        s_text_entry(o->t, c->store, e, now);
        s_json_entry(o->j, c->store, e, now);
        s_msg(o, S_OK, "certificate %s", e->id);
        return;
    }
    size_t n = xgw_cert_store_count(c->store);
    fprintf(o->t, "%-8s  %-13s  %-7s  %-20s  %-11s  %-30s  %s\n", "ID", "STATE", "KEY", "NOT AFTER",
            "ORIGIN", "DOMAINS", "ASSIGNED");
    fprintf(o->j, "{\"version\":%llu,\"served_domains\":[",
            (unsigned long long)xgw_cert_store_version(c->store));
    const xgw_strv_t *dom = xgw_cert_store_domains(c->store);
    for (size_t i = 0; i < dom->n; i++) {
        fprintf(o->j, i ? "," : "");
        s_js(o->j, dom->v[i]);
    }
    fprintf(o->j, "],\"certificates\":[");
    for (size_t i = 0; i < n; i++) {
        const xgw_cert_entry_t *e = xgw_cert_store_entry(c->store, i);
        char names[1024], assigned[512], when[40] = "-";
        s_join_dns(e, names, sizeof names);
        s_assigned_list(c->store, e->id, assigned, sizeof assigned);
        if (!e->pending)
            xgw_x509_time_format(e->not_after, when, sizeof when);
        fprintf(o->t, "%-8s  %-13s  %-7s  %-20s  %-11s  %-30s  %s\n", e->id,
                xgw_cert_store_state(e, now), e->key_type, when, e->origin, names, assigned);
        fprintf(o->j, i ? "," : "");
        s_json_entry(o->j, c->store, e, now);
    }
    fprintf(o->j, "]}");
    s_msg(o, S_OK, "%zu certificate%s", n, n == 1 ? "" : "s");
}

static void
s_cert_remove(certd_t *c, const Xgw__V1__AdminRequest *req, s_out_t *o)
{
    static const char *const allowed[] = {NULL};
    if (s_check_opts(req, allowed, o) != 0 || s_check_args(req, 1, 1, "cert remove ID", o) != 0)
        return;
    char why[512];
    int rc = xgw_cert_store_remove(c->store, req->args[0], why, sizeof why);
    if (rc != 0) {
        s_msg(o, rc == XGW_EINVAL || rc == XGW_ENOENT ? S_INVALID : S_RUNTIME, "%s", why);
        return;
    }
    s_msg(o, S_OK, "removed certificate %s and its key", req->args[0]);
    fprintf(o->t, "%s\n", o->message);
    fprintf(o->j, "{\"removed\":");
    s_js(o->j, req->args[0]);
    fprintf(o->j, "}");
}

typedef struct {
    s_out_t *o;
    int first;
    int warnings;
} s_check_ctx_t;

static void
s_check_line(void *ud, const char *domain, const char *usage, const char *id,
             xgw_cert_check_level_t level, const char *text)
{
    s_check_ctx_t *k = ud;
    static const char *const names[] = {"ok", "warning", "PROBLEM"};
    fprintf(k->o->t, "%-24s %-5s %-8s %s\n", domain, usage, names[level], text);
    fprintf(k->o->j, "%s{\"domain\":", k->first ? "" : ",");
    s_js(k->o->j, domain);
    fprintf(k->o->j, ",\"usage\":");
    s_js(k->o->j, usage);
    fprintf(k->o->j, ",\"cert_id\":");
    s_js(k->o->j, id);
    fprintf(k->o->j, ",\"level\":");
    s_js(k->o->j, level == XGW_CERT_CHECK_PROBLEM   ? "problem"
                  : level == XGW_CERT_CHECK_WARNING ? "warning"
                                                    : "ok");
    fprintf(k->o->j, ",\"text\":");
    s_js(k->o->j, text);
    fprintf(k->o->j, "}");
    k->first = 0;
    k->warnings += level == XGW_CERT_CHECK_WARNING;
}

static void
s_cert_check(certd_t *c, const Xgw__V1__AdminRequest *req, s_out_t *o)
{
    static const char *const allowed[] = {NULL};
    if (s_check_opts(req, allowed, o) != 0 || s_check_args(req, 0, 0, "cert check", o) != 0)
        return;
    s_check_ctx_t k = {.o = o, .first = 1};
    fprintf(o->j, "{\"findings\":[");
    int problems = xgw_cert_store_check(
        c->store, s_now(), c->settings->certd.expiry_warning_ms / 1000, s_check_line, &k);
    fprintf(o->j, "],\"problems\":%d,\"warnings\":%d}", problems, k.warnings);
    if (problems > 0) {
        fprintf(o->t, "%d problem%s, %d warning%s\n", problems, problems == 1 ? "" : "s",
                k.warnings, k.warnings == 1 ? "" : "s");
        s_msg(o, S_RUNTIME, "%d problem%s with the gateway certificates (see above)", problems,
              problems == 1 ? "" : "s");
    } else {
        fprintf(o->t, "every served domain is covered (%d warning%s)\n", k.warnings,
                k.warnings == 1 ? "" : "s");
        s_msg(o, S_OK, "every served domain is covered");
    }
}

/* ---- trust ------------------------------------------------------------------------ */

static void
s_trust(certd_t *c, const Xgw__V1__AdminRequest *req, s_out_t *o)
{
    char why[512];
    xgw_cert_notes_t notes = {0};
    const char *verb = req->verb;
    if (strcmp(verb, "show") == 0) {
        static const char *const allowed[] = {NULL};
        if (s_check_opts(req, allowed, o) != 0 || s_check_args(req, 0, 0, "cert trust show", o))
            return;
        size_t n = xgw_cert_store_anchor_count(c->store);
        fprintf(o->t, "%-16s  %-20s  %s\n", "ID", "NOT AFTER", "SUBJECT");
        fprintf(o->j, "{\"anchors\":[");
        for (size_t i = 0; i < n; i++) {
            const xgw_cert_anchor_t *a = xgw_cert_store_anchor(c->store, i);
            char subj[256], when[40];
            xgw_x509_subject(a->cert, subj, sizeof subj);
            xgw_x509_time_format(xgw_x509_not_after(a->cert), when, sizeof when);
            fprintf(o->t, "%-16s  %-20s  %s\n", a->id, when, subj);
            fprintf(o->j, "%s{\"id\":", i ? "," : "");
            s_js(o->j, a->id);
            fprintf(o->j, ",\"subject\":");
            s_js(o->j, subj);
            fprintf(o->j, ",\"not_after\":");
            s_js(o->j, when);
            fprintf(o->j, "}");
        }
        const char *sys = c->settings->certd.system_ca_file;
        size_t sysn = xgw_cert_store_system_ca_count(c->store);
        fprintf(o->t, "added anchors: %zu; system CAs: %zu%s%s%s\n", n, sysn,
                sys[0] ? " from " : "", sys, sys[0] ? "" : " (certd.system_ca_file is empty)");
        fprintf(o->t, "trust bundle: %s (version %llu)\n", xgw_cert_store_trust_path(c->store),
                (unsigned long long)xgw_cert_store_trust_version(c->store));
        fprintf(o->j, "],\"system_ca_file\":");
        s_js(o->j, sys);
        fprintf(o->j, ",\"system_cas\":%zu,\"bundle\":", sysn);
        s_js(o->j, xgw_cert_store_trust_path(c->store));
        fprintf(o->j, ",\"version\":%llu}",
                (unsigned long long)xgw_cert_store_trust_version(c->store));
        s_msg(o, S_OK, "%zu added anchor%s, %zu system CAs", n, n == 1 ? "" : "s", sysn);
        return;
    }
    if (strcmp(verb, "add") == 0) {
        static const char *const allowed[] = {"pem", NULL};
        if (s_check_opts(req, allowed, o) != 0 || s_check_args(req, 0, 0, "cert trust add FILE", o))
            return;
        const char *pem = s_opt(req, "pem");
        if (!pem) {
            s_msg(o, S_INVALID, "usage: xgwctl cert trust add FILE");
            return;
        }
        uint64_t before = xgw_cert_store_trust_version(c->store);
        int rc = xgw_cert_store_trust_add(c->store, pem, s_now(), &notes, why, sizeof why);
        if (rc != 0) {
            s_msg(o, rc == XGW_EINVAL ? S_INVALID : S_RUNTIME, "%s", why);
            return;
        }
        for (size_t i = 0; i < notes.n; i++)
            fprintf(o->t, "%s\n", notes.text[i]);
        s_msg(o, S_OK, "%s (trust version %llu)",
              before == xgw_cert_store_trust_version(c->store) ? "nothing new to trust"
                                                               : "trust store updated",
              (unsigned long long)xgw_cert_store_trust_version(c->store));
    } else if (strcmp(verb, "remove") == 0) {
        static const char *const allowed[] = {"pem", NULL};
        const char *pem = s_opt(req, "pem");
        if (s_check_opts(req, allowed, o) != 0 ||
            s_check_args(req, pem ? 0 : 1, pem ? 0 : 1, "cert trust remove FILE|ID", o))
            return;
        int rc = xgw_cert_store_trust_remove(c->store, req->n_args ? req->args[0] : NULL, pem,
                                             &notes, why, sizeof why);
        if (rc != 0) {
            s_msg(o, rc == XGW_EINVAL || rc == XGW_ENOENT ? S_INVALID : S_RUNTIME, "%s", why);
            return;
        }
        for (size_t i = 0; i < notes.n; i++)
            fprintf(o->t, "%s\n", notes.text[i]);
        s_msg(o, S_OK, "trust store updated (trust version %llu)",
              (unsigned long long)xgw_cert_store_trust_version(c->store));
    } else {
        s_msg(o, S_INVALID, "unknown verb \"trust %s\" (add, remove, show)", verb);
        return;
    }
    fprintf(o->t, "%s\n", o->message);
    fprintf(o->j, "{\"trust_version\":%llu,\"notes\":[",
            (unsigned long long)xgw_cert_store_trust_version(c->store));
    for (size_t i = 0; i < notes.n; i++) {
        fprintf(o->j, i ? "," : "");
        s_js(o->j, notes.text[i]);
    }
    fprintf(o->j, "]}");
}

/* ---- dialback ----------------------------------------------------------------------- */

static void
s_dialback(certd_t *c, const Xgw__V1__AdminRequest *req, s_out_t *o)
{
    static const char *const allowed[] = {NULL};
    if (s_check_opts(req, allowed, o) != 0 ||
        s_check_args(req, 0, 0, "cert dialback show|rotate", o) != 0)
        return;
    char why[512];
    if (strcmp(req->verb, "rotate") == 0) {
        int rc = xgw_cert_store_dialback_rotate(c->store, s_now(), why, sizeof why);
        if (rc != 0) {
            s_msg(o, rc == XGW_EINVAL ? S_INVALID : S_RUNTIME, "%s", why);
            return;
        }
        certd_count_rotation(c, "dialback");
        xgw_info("dialback_rotated", "version=%llu",
                 (unsigned long long)xgw_dialback_ring_version(xgw_cert_store_dialback(c->store)));
    } else if (strcmp(req->verb, "show") != 0) {
        s_msg(o, S_INVALID, "unknown verb \"dialback %s\" (show, rotate)", req->verb);
        return;
    }
    const xgw_dialback_ring_t *r = xgw_cert_store_dialback(c->store);
    char created[40], expires[40] = "";
    xgw_x509_time_format(xgw_dialback_ring_created(r), created, sizeof created);
    int64_t pe = xgw_dialback_ring_previous_expires(r);
    if (pe)
        xgw_x509_time_format(pe, expires, sizeof expires);
    const char *src = c->settings->certd.dialback_secret_file;
    fprintf(o->t, "version:      %llu\n", (unsigned long long)xgw_dialback_ring_version(r));
    fprintf(o->t, "current:      since %s (%s)\n", created, src[0] ? src : "generated by certd");
    fprintf(o->t, "previous:     %s%s\n", pe ? "verifies until " : "none", expires);
    fprintf(o->t, "overlap:      %lld s\n",
            (long long)(c->settings->certd.dialback_overlap_ms / 1000));
    fprintf(o->t, "keyring file: %s (mode 0600; edges read it, the secret is never sent)\n",
            xgw_cert_store_dialback_path(c->store));
    fprintf(o->j,
            "{\"version\":%llu,\"created\":", (unsigned long long)xgw_dialback_ring_version(r));
    s_js(o->j, created);
    fprintf(o->j, ",\"previous_expires\":");
    s_js(o->j, expires);
    fprintf(o->j, ",\"source\":");
    s_js(o->j, src[0] ? src : "generated");
    fprintf(o->j, ",\"path\":");
    s_js(o->j, xgw_cert_store_dialback_path(c->store));
    fprintf(o->j, "}");
    if (strcmp(req->verb, "rotate") == 0)
        s_msg(o, S_OK, "dialback secret rotated: version %llu%s%s",
              (unsigned long long)xgw_dialback_ring_version(r),
              pe ? "; keys made with the previous secret verify until " : "", expires);
    else
        s_msg(o, S_OK, "dialback keyring version %llu",
              (unsigned long long)xgw_dialback_ring_version(r));
}

/* ---- curve ----------------------------------------------------------------------------- */

static void
s_curve(certd_t *c, const Xgw__V1__AdminRequest *req, s_out_t *o)
{
    static const char *const allowed[] = {NULL};
    if (s_check_opts(req, allowed, o) != 0 || s_check_args(req, 0, 0, "cert curve show", o) != 0)
        return;
    if (strcmp(req->verb, "show") != 0) {
        s_msg(o, S_INVALID, "unknown verb \"curve %s\" (show)", req->verb);
        return;
    }
    fprintf(o->t, "%-8s  %-40s  %s\n", "NAME", "PUBLIC KEY (Z85)", "ROLE");
    fprintf(o->j, "{\"dir\":");
    s_js(o->j, c->curve_dir);
    fprintf(o->j, ",\"keys\":[");
    for (size_t i = 0; xgw_curve_names[i]; i++) {
        const char *name = xgw_curve_names[i];
        char pub[XGW_CURVE_KEY_Z85] = "-";
        (void)xgw_curve_public(c->curve_dir, name, pub);
        const char *role = strcmp(name, "broker") == 0             ? "server"
                           : xgw_curve_allowed(c->curve_dir, name) ? "client, allowed"
                                                                   : "client, NOT allowed";
        fprintf(o->t, "%-8s  %-40s  %s\n", name, pub, role);
        fprintf(o->j, "%s{\"name\":", i ? "," : "");
        s_js(o->j, name);
        fprintf(o->j, ",\"public\":");
        s_js(o->j, pub);
        fprintf(o->j, ",\"role\":");
        s_js(o->j, role);
        fprintf(o->j, "}");
    }
    fprintf(o->j, "]}");
    fprintf(o->t, "secret keys and allowed clients: %s (the broker uses ipc:// for now)\n",
            c->curve_dir);
    s_msg(o, S_OK, "CURVE keys in %s", c->curve_dir);
}

/* ---- Dispatch ------------------------------------------------------------------------------ */

static void
s_cert(certd_t *c, const Xgw__V1__AdminRequest *req, s_out_t *o)
{
    static const struct {
        const char *verb;
        void (*fn)(certd_t *, const Xgw__V1__AdminRequest *, s_out_t *);
    } verbs[] = {
        {"request", s_cert_request},         {"import", s_cert_import},
        {"self-signed", s_cert_self_signed}, {"assign", s_cert_assign},
        {"unassign", s_cert_unassign},       {"show", s_cert_show},
        {"remove", s_cert_remove},           {"check", s_cert_check},
    };
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        if (strcmp(req->verb, verbs[i].verb) == 0) {
            verbs[i].fn(c, req, o);
            return;
        }
    }
    s_msg(o, S_INVALID,
          "unknown verb \"cert %s\" (request, import, self-signed, assign, unassign, show, "
          "remove, check, trust, dialback, curve)",
          req->verb);
}

/* object and verb as log tokens: [a-z0-9-] only, else "?". */
static const char *
s_token(const char *s)
{
    if (!*s || strlen(s) > 32)
        return "?";
    for (const char *p = s; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return "?";
    }
    return s;
}

int
certd_admin(certd_t *c, const Xgw__V1__AdminRequest *req, Xgw__V1__AdminReply *rep,
            xgw_arena_t *arena)
{
    s_out_t o;
    memset(&o, 0, sizeof o);
    o.t = open_memstream(&o.text, &o.text_len);
    o.j = open_memstream(&o.json, &o.json_len);
    if (!o.t || !o.j) {
        if (o.t)
            fclose(o.t);
        if (o.j)
            fclose(o.j);
        free(o.text);
        free(o.json);
        return XGW_ENOMEM;
    }
    const char *object = req->object ? req->object : "";
    const char *verb = req->verb ? req->verb : "";
    Xgw__V1__AdminRequest r = *req;
    r.object = (char *)object;
    r.verb = (char *)verb;
    if (req->dry_run)
        s_msg(&o, S_INVALID, "certd has no dry-run mode; nothing was done");
    else if (strcmp(object, "cert") == 0)
        s_cert(c, &r, &o);
    else if (strcmp(object, "trust") == 0)
        s_trust(c, &r, &o);
    else if (strcmp(object, "dialback") == 0)
        s_dialback(c, &r, &o);
    else if (strcmp(object, "curve") == 0)
        s_curve(c, &r, &o);
    else
        s_msg(&o, S_INVALID, "certd does not handle \"%s\" (cert, trust, dialback, curve)", object);
    fclose(o.t);
    fclose(o.j);
    if (o.code != S_OK && o.json_len == 0) {
        free(o.json);
        o.json = NULL;
        FILE *j = open_memstream(&o.json, &o.json_len);
        if (j) {
            fprintf(j, "{\"error\":");
            s_js(j, o.message);
            fprintf(j, ",\"code\":%d}", o.code);
            fclose(j);
        }
    }
    char logged[sizeof o.message];
    snprintf(logged, sizeof logged, "%s", o.message);
    for (char *p = logged; *p; p++) {
        if (*p == '"')
            *p = '\'';
    }
    xgw_log(o.code == S_OK ? XGW_LOG_INFO : XGW_LOG_WARN, "admin",
            "object=%s verb=%s args=%zu code=%d message=\"%s\"", s_token(object), s_token(verb),
            req->n_args, o.code, logged);
    rep->code = o.code;
    rep->message = xgw_arena_strdup(arena, o.message);
    rep->text = xgw_arena_strdup(arena, o.text ? o.text : "");
    rep->json = xgw_arena_strdup(arena, o.json ? o.json : "{}");
    rep->n_warnings = o.warnings.n;
    rep->warnings = xgw_arena_alloc(arena, (o.warnings.n + 1) * sizeof(char *));
    for (size_t i = 0; rep->warnings && i < o.warnings.n; i++)
        rep->warnings[i] = xgw_arena_strdup(arena, o.warnings.text[i]);
    free(o.text);
    free(o.json);
    if (!rep->message || !rep->text || !rep->json || !rep->warnings)
        return XGW_ENOMEM;
    return 0;
}
