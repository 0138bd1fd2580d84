/*
 * xgw_cert_store.c - certd's certificate store; see xgw_cert_store.h.
 */
#include "xgw_cert_store.h"
#include "xgw_cert_fs.h"
#include "xgw_error.h"
#include "xgw_x509_verify.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#define S_BASE 320  /* <data_dir>/certs (data_dir is at most 255) */
#define S_DIR 512   /* files and directories of the store */
#define S_PATH 1024 /* a file in them */
#define S_SYSTEM_CA_MAX (16 * 1024 * 1024)

typedef struct {
    char usage[8];
    char domain[XGW_X509_DOMAIN_MAX]; /* "" = default */
    char id[XGW_CERT_ID_LEN + 1];
} s_assign_t;

struct xgw_cert_store {
    char dir[S_BASE];
    char anchors_dir[S_DIR];
    char trust_path[S_DIR];
    char dialback_path[S_DIR];
    char sip_dir[S_DIR];
    char system_ca[S_DIR];
    char secret_file[S_DIR];
    int64_t overlap_s;
    xgw_strv_t domains;
    uint64_t generation;
    uint64_t version;
    uint64_t trust_version;
    xgw_cert_entry_t *entries;
    size_t n_entries;
    s_assign_t *assign;
    size_t n_assign;
    xgw_cert_anchor_t *anchors;
    size_t n_anchors;
    size_t system_ca_count;
    X509_STORE *trust;
    xgw_dialback_ring_t *ring;
    char sip_id[XGW_CERT_ID_LEN + 1]; /* what sip-tls/agent.pem holds */
};

static const char *const s_usages[] = {"xmpp", "sip"};

static void s_why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
s_why(char *why, size_t whylen, const char *fmt, ...)
{
    if (!why || whylen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

void
xgw_cert_note(xgw_cert_notes_t *notes, const char *fmt, ...)
{
    if (!notes || notes->n >= XGW_CERT_NOTES_MAX)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(notes->text[notes->n], XGW_CERT_NOTE_LEN, fmt, ap);
    va_end(ap);
    notes->n++;
}

static int
s_join(char *buf, size_t len, const char *a, const char *b)
{
    int n = snprintf(buf, len, "%s/%s", a, b);
    return n < 0 || (size_t)n >= len ? XGW_ERANGE : 0;
}

void
xgw_cert_store_path(const xgw_cert_store_t *self, const char *id, const char *file, char *buf,
                    size_t len)
{
    snprintf(buf, len, "%s/%s/%s", self->dir, id, file);
}

static int
s_valid_id(const char *id, size_t len)
{
    if (!id || strlen(id) != len)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return 0;
    }
    return 1;
}

static int
s_usage_ok(const char *u)
{
    return u && (strcmp(u, "xmpp") == 0 || strcmp(u, "sip") == 0);
}

/* ---- Entries ---------------------------------------------------------------- */

static void
s_entry_free(xgw_cert_entry_t *e)
{
    X509_free(e->leaf);
    sk_X509_pop_free(e->chain, X509_free);
    X509_REQ_free(e->csr);
    xgw_x509_strv_free(&e->dns);
    memset(e, 0, sizeof *e);
}

/* Fills the derived fields of e from leaf (borrowed; e takes new
 * references to leaf and chain). */
static int
s_entry_set_cert(xgw_cert_entry_t *e, X509 *leaf, STACK_OF(X509) * chain)
{
    xgw_x509_names_t nm;
    if (xgw_x509_names_get(leaf, &nm) != 0)
        return XGW_ENOMEM;
    STACK_OF(X509) *copy = chain ? X509_chain_up_ref(chain) : sk_X509_new_null();
    if (!copy) {
        xgw_x509_names_free(&nm);
        return XGW_ENOMEM;
    }
    X509_up_ref(leaf);
    X509_free(e->leaf);
    sk_X509_pop_free(e->chain, X509_free);
    xgw_x509_strv_free(&e->dns);
    e->leaf = leaf;
    e->chain = copy;
    e->dns = nm.dns;
    memset(&nm.dns, 0, sizeof nm.dns);
    xgw_x509_names_free(&nm);
    xgw_x509_fingerprint(leaf, e->fpr);
    e->not_before = xgw_x509_not_before(leaf);
    e->not_after = xgw_x509_not_after(leaf);
    xgw_x509_subject(leaf, e->subject, sizeof e->subject);
    xgw_x509_key_describe(X509_get0_pubkey(leaf), e->key_type, sizeof e->key_type);
    e->self_signed = xgw_x509_is_self_signed(leaf);
    e->pending = 0;
    return 0;
}

/* DNS SANs requested in a CSR. */
static int
s_csr_dns(X509_REQ *req, xgw_strv_t *out)
{
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
    GENERAL_NAMES *gens = exts ? X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL) : NULL;
    int rc = 0;
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens) && rc == 0; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type != GEN_DNS)
            continue;
        const ASN1_IA5STRING *s = g->d.dNSName;
        char buf[XGW_X509_DOMAIN_MAX];
        int n = ASN1_STRING_length(s);
        if (n <= 0 || (size_t)n >= sizeof buf)
            continue;
        memcpy(buf, ASN1_STRING_get0_data(s), (size_t)n);
        buf[n] = '\0';
        rc = xgw_strv_add(out, buf);
    }
    GENERAL_NAMES_free(gens);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return rc;
}

/* Reads key=value lines of a small file into the given fields. */
static int
s_read_kv(const char *path, const char *const *keys, char **vals, const size_t *lens, size_t n)
{
    char *text = NULL;
    if (xgw_cert_fs_read(path, 65536, &text, NULL) != 0)
        return XGW_EIO;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        for (size_t i = 0; i < n; i++) {
            if (strcmp(line, keys[i]) == 0)
                snprintf(vals[i], lens[i], "%s", eq + 1);
        }
    }
    free(text);
    return 0;
}

static int
s_load_entry(xgw_cert_store_t *self, const char *id, xgw_cert_entry_t *e, char *why, size_t whylen)
{
    memset(e, 0, sizeof *e);
    snprintf(e->id, sizeof e->id, "%s", id);
    char path[S_PATH];
    char state[16] = "", created[32] = "0";
    const char *keys[] = {"state", "origin", "created", "key_type"};
    char *vals[] = {state, e->origin, created, e->key_type};
    const size_t lens[] = {sizeof state, sizeof e->origin, sizeof created, sizeof e->key_type};
    xgw_cert_store_path(self, id, "meta", path, sizeof path);
    if (s_read_kv(path, keys, vals, lens, 4) != 0) {
        s_why(why, whylen, "entry %s: cannot read %s", id, path);
        return XGW_EIO;
    }
    e->created = strtoll(created, NULL, 10);
    xgw_cert_store_path(self, id, "key.pem", path, sizeof path);
    if (!xgw_cert_fs_exists(path)) {
        s_why(why, whylen, "entry %s: its private key file is missing", id);
        return XGW_EIO;
    }
    char *text = NULL;
    size_t len = 0;
    char sub[256];
    xgw_cert_store_path(self, id, "request.csr", path, sizeof path);
    if (xgw_cert_fs_read(path, XGW_X509_MAX_INPUT, &text, &len) == 0) {
        BIO *b = BIO_new_mem_buf(text, (int)len);
        e->csr = b ? PEM_read_bio_X509_REQ(b, NULL, NULL, NULL) : NULL;
        BIO_free(b);
        free(text);
        ERR_clear_error();
    }
    xgw_cert_store_path(self, id, "chain.pem", path, sizeof path);
    if (xgw_cert_fs_read(path, XGW_X509_MAX_INPUT, &text, &len) == 0) {
        /* chain.pem present: active, even if a crash left meta saying pending. */
        STACK_OF(X509) *sk = NULL;
        int rc = xgw_x509_parse_chain(text, len, &sk, sub, sizeof sub);
        free(text);
        if (rc != 0) {
            s_why(why, whylen, "entry %s: chain.pem: %s", id, sub);
            s_entry_free(e);
            return XGW_EINVAL;
        }
        X509 *leaf = sk_X509_shift(sk);
        rc = s_entry_set_cert(e, leaf, sk);
        X509_free(leaf);
        sk_X509_pop_free(sk, X509_free);
        if (rc != 0) {
            s_entry_free(e);
            return rc;
        }
        return 0;
    }
    if (!e->csr) {
        s_why(why, whylen, "entry %s: neither chain.pem nor request.csr", id);
        s_entry_free(e);
        return XGW_EINVAL;
    }
    e->pending = 1;
    xgw_x509_key_describe(X509_REQ_get0_pubkey(e->csr), e->key_type, sizeof e->key_type);
    X509_NAME_oneline(X509_REQ_get_subject_name(e->csr), e->subject, (int)sizeof e->subject);
    return s_csr_dns(e->csr, &e->dns);
}

static int
s_entry_cmp(const void *a, const void *b)
{
    const xgw_cert_entry_t *x = a, *y = b;
    if (x->created != y->created)
        return x->created < y->created ? -1 : 1;
    return strcmp(x->id, y->id);
}

static int
s_load_entries(xgw_cert_store_t *self, xgw_cert_notes_t *notes)
{
    DIR *d = opendir(self->dir);
    if (!d)
        return XGW_EIO;
    for (;;) {
        struct dirent *de = readdir(d);
        if (!de)
            break;
        if (!s_valid_id(de->d_name, XGW_CERT_ID_LEN))
            continue;
        xgw_cert_entry_t e;
        char why[512];
        if (s_load_entry(self, de->d_name, &e, why, sizeof why) != 0) {
            xgw_cert_note(notes, "skipped damaged store entry: %s", why);
            continue;
        }
        xgw_cert_entry_t *ne = realloc(self->entries, (self->n_entries + 1) * sizeof *ne);
        if (!ne) {
            s_entry_free(&e);
            closedir(d);
            return XGW_ENOMEM;
        }
        self->entries = ne;
        self->entries[self->n_entries++] = e;
    }
    closedir(d);
    if (self->n_entries > 1)
        qsort(self->entries, self->n_entries, sizeof self->entries[0], s_entry_cmp);
    return 0;
}

static xgw_cert_entry_t *
s_find(const xgw_cert_store_t *self, const char *id)
{
    for (size_t i = 0; id && i < self->n_entries; i++) {
        if (strcmp(self->entries[i].id, id) == 0)
            return &self->entries[i];
    }
    return NULL;
}

static int
s_append_entry(xgw_cert_store_t *self, xgw_cert_entry_t *e)
{
    xgw_cert_entry_t *ne = realloc(self->entries, (self->n_entries + 1) * sizeof *ne);
    if (!ne)
        return XGW_ENOMEM;
    self->entries = ne;
    self->entries[self->n_entries++] = *e;
    memset(e, 0, sizeof *e);
    return 0;
}

/* ---- State file and versions --------------------------------------------------- */

static int
s_save_state(const xgw_cert_store_t *self)
{
    char text[256];
    int n = snprintf(text, sizeof text,
                     "generation=%016" PRIx64 "\nversion=%" PRIu64 "\ntrust_version=%" PRIu64 "\n",
                     self->generation, self->version, self->trust_version);
    char path[S_PATH];
    s_join(path, sizeof path, self->dir, "store");
    return xgw_cert_fs_write(path, text, (size_t)n, 0640);
}

static int
s_bump(xgw_cert_store_t *self)
{
    self->version++;
    return s_save_state(self);
}

static int
s_load_state(xgw_cert_store_t *self)
{
    char path[S_PATH];
    s_join(path, sizeof path, self->dir, "store");
    char gen[32] = "", ver[32] = "0", tver[32] = "0";
    const char *keys[] = {"generation", "version", "trust_version"};
    char *vals[] = {gen, ver, tver};
    const size_t lens[] = {sizeof gen, sizeof ver, sizeof tver};
    if (xgw_cert_fs_exists(path) && s_read_kv(path, keys, vals, lens, 3) == 0 && gen[0]) {
        self->generation = strtoull(gen, NULL, 16);
        self->version = strtoull(ver, NULL, 10);
        self->trust_version = strtoull(tver, NULL, 10);
        return 0;
    }
    uint8_t rnd[8];
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        return XGW_EIO;
    self->generation = 0;
    for (size_t i = 0; i < sizeof rnd; i++)
        self->generation = (self->generation << 8) | rnd[i];
    if (self->generation == 0)
        self->generation = 1;
    self->version = 0;
    self->trust_version = 1;
    return s_save_state(self);
}

/* ---- Assignments ----------------------------------------------------------------- */

static int
s_save_assignments(const xgw_cert_store_t *self, const s_assign_t *list, size_t n)
{
    size_t cap = 128 + n * (XGW_X509_DOMAIN_MAX + 32);
    char *text = malloc(cap);
    if (!text)
        return XGW_ENOMEM;
    size_t used = 0;
    int w = snprintf(text, cap, "# usage domain certificate (domain * = default)\n");
    used = (size_t)w;
    for (size_t i = 0; i < n; i++) {
        w = snprintf(text + used, cap - used, "%s %s %s\n", list[i].usage,
                     list[i].domain[0] ? list[i].domain : "*", list[i].id);
        if (w < 0 || (size_t)w >= cap - used) {
            free(text);
            return XGW_ERANGE;
        }
        used += (size_t)w;
    }
    char path[S_PATH];
    s_join(path, sizeof path, self->dir, "assignments");
    int rc = xgw_cert_fs_write(path, text, used, 0640);
    free(text);
    return rc;
}

static int
s_load_assignments(xgw_cert_store_t *self, xgw_cert_notes_t *notes)
{
    char path[S_PATH];
    s_join(path, sizeof path, self->dir, "assignments");
    char *text = NULL;
    int rc = xgw_cert_fs_read(path, 1024 * 1024, &text, NULL);
    if (rc == XGW_ENOENT)
        return 0;
    if (rc != 0)
        return rc;
    int dropped = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *save2 = NULL;
        char *usage = strtok_r(line, " ", &save2);
        char *domain = usage ? strtok_r(NULL, " ", &save2) : NULL;
        char *id = domain ? strtok_r(NULL, " ", &save2) : NULL;
        if (!id || !s_usage_ok(usage) || !s_valid_id(id, XGW_CERT_ID_LEN))
            continue;
        const xgw_cert_entry_t *e = s_find(self, id);
        if (!e || e->pending) {
            xgw_cert_note(notes, "dropped the %s assignment for %s: certificate %s is missing",
                          usage, domain, id);
            dropped++;
            continue;
        }
        s_assign_t *na = realloc(self->assign, (self->n_assign + 1) * sizeof *na);
        if (!na) {
            free(text);
            return XGW_ENOMEM;
        }
        self->assign = na;
        s_assign_t *a = &self->assign[self->n_assign++];
        memset(a, 0, sizeof *a);
        snprintf(a->usage, sizeof a->usage, "%s", usage);
        snprintf(a->domain, sizeof a->domain, "%s", strcmp(domain, "*") == 0 ? "" : domain);
        snprintf(a->id, sizeof a->id, "%s", id);
    }
    free(text);
    if (dropped)
        return s_save_assignments(self, self->assign, self->n_assign);
    return 0;
}

static s_assign_t *
s_assignment(const xgw_cert_store_t *self, const char *usage, const char *domain)
{
    for (size_t i = 0; i < self->n_assign; i++) {
        if (strcmp(self->assign[i].usage, usage) == 0 &&
            strcmp(self->assign[i].domain, domain ? domain : "") == 0)
            return &self->assign[i];
    }
    return NULL;
}

/* ---- Trust -------------------------------------------------------------------------- */

static void
s_trust_id(X509 *x, char out[XGW_CERT_TRUST_ID_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    out[0] = '\0';
    if (X509_digest(x, EVP_sha256(), md, &n) != 1)
        return;
    for (unsigned int i = 0; i < XGW_CERT_TRUST_ID_LEN / 2 && i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static int
s_load_anchors(xgw_cert_store_t *self, xgw_cert_notes_t *notes)
{
    DIR *d = opendir(self->anchors_dir);
    if (!d)
        return XGW_EIO;
    for (;;) {
        struct dirent *de = readdir(d);
        if (!de)
            break;
        size_t nl = strlen(de->d_name);
        if (nl != XGW_CERT_TRUST_ID_LEN + 4 || strcmp(de->d_name + XGW_CERT_TRUST_ID_LEN, ".pem"))
            continue;
        char path[S_PATH];
        s_join(path, sizeof path, self->anchors_dir, de->d_name);
        char *text = NULL;
        size_t len = 0;
        STACK_OF(X509) *sk = NULL;
        if (xgw_cert_fs_read(path, XGW_X509_MAX_INPUT, &text, &len) != 0 ||
            xgw_x509_parse_chain(text, len, &sk, NULL, 0) != 0) {
            free(text);
            xgw_cert_note(notes, "skipped damaged trust anchor file %s", path);
            continue;
        }
        free(text);
        xgw_cert_anchor_t *na = realloc(self->anchors, (self->n_anchors + 1) * sizeof *na);
        if (!na) {
            sk_X509_pop_free(sk, X509_free);
            closedir(d);
            return XGW_ENOMEM;
        }
        self->anchors = na;
        xgw_cert_anchor_t *a = &self->anchors[self->n_anchors++];
        a->cert = sk_X509_shift(sk);
        s_trust_id(a->cert, a->id);
        sk_X509_pop_free(sk, X509_free);
    }
    closedir(d);
    return 0;
}

static size_t
s_count_certs(const char *text)
{
    size_t n = 0;
    const char *p = strstr(text, "-----BEGIN CERTIFICATE-----");
    while (p) {
        n++;
        p = strstr(p + 1, "-----BEGIN CERTIFICATE-----");
    }
    return n;
}

/* Writes trust/bundle.pem (system CA file + anchors) and sip-tls/cafile.pem,
 * and reloads the in-memory trust store. */
static int
s_write_bundle(xgw_cert_store_t *self, const xgw_cert_anchor_t *anchors, size_t n,
               xgw_cert_notes_t *notes)
{
    char *sys = NULL;
    size_t sys_len = 0;
    if (self->system_ca[0]) {
        int rc = xgw_cert_fs_read(self->system_ca, S_SYSTEM_CA_MAX, &sys, &sys_len);
        if (rc != 0) {
            xgw_cert_note(notes,
                          "cannot read the system CA file %s (%s); peers are judged by "
                          "the added anchors only",
                          self->system_ca, xgw_strerror(rc));
            sys = NULL;
            sys_len = 0;
        }
    }
    char *anchors_pem = NULL;
    size_t apem_len = 0;
    FILE *mem = open_memstream(&anchors_pem, &apem_len);
    if (!mem) {
        free(sys);
        return XGW_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        char subj[256];
        xgw_x509_subject(anchors[i].cert, subj, sizeof subj);
        fprintf(mem, "# xgw anchor %s: %s\n", anchors[i].id, subj);
        PEM_write_X509(mem, anchors[i].cert);
    }
    fclose(mem);
    size_t total = sys_len + apem_len + 2;
    char *bundle = malloc(total);
    int rc = bundle ? 0 : XGW_ENOMEM;
    size_t used = 0;
    if (rc == 0) {
        if (sys_len) {
            memcpy(bundle, sys, sys_len);
            used = sys_len;
            if (bundle[used - 1] != '\n')
                bundle[used++] = '\n';
        }
        memcpy(bundle + used, anchors_pem, apem_len);
        used += apem_len;
        rc = xgw_cert_fs_write(self->trust_path, bundle, used, 0644);
    }
    if (rc == 0) {
        char path[S_PATH];
        s_join(path, sizeof path, self->sip_dir, "cafile.pem");
        rc = xgw_cert_fs_write(path, bundle, used, 0644);
    }
    self->system_ca_count = sys ? s_count_certs(sys) : 0;
    free(sys);
    free(anchors_pem);
    free(bundle);
    if (rc != 0)
        return rc;
    X509_STORE *st = xgw_x509_trust_load(self->trust_path, NULL, 0);
    if (!st)
        st = X509_STORE_new(); /* a damaged system file: trust nothing */
    X509_STORE_free(self->trust);
    self->trust = st;
    return 0;
}

/* ---- Dialback --------------------------------------------------------------------- */

/* Reads the configured secret file: the bytes up to the end, without
 * trailing CR/LF. Caller wipes *out with xgw_cert_fs_free_secret(*out, cap). */
static int
s_read_secret_file(const char *path, char **out, size_t *len, char *why, size_t whylen)
{
    size_t n = 0;
    int rc = xgw_cert_fs_read(path, XGW_DIALBACK_SECRET_MAX, out, &n);
    if (rc != 0) {
        s_why(why, whylen, "cannot read the dialback secret file %s: %s", path,
              rc == XGW_ETOOBIG ? "larger than 1024 bytes" : xgw_strerror(rc));
        return XGW_EINVAL;
    }
    size_t cap = n + 1;
    while (n > 0 && ((*out)[n - 1] == '\n' || (*out)[n - 1] == '\r'))
        n--;
    if (n == 0) {
        xgw_cert_fs_free_secret(*out, cap);
        *out = NULL;
        s_why(why, whylen, "the dialback secret file %s is empty", path);
        return XGW_EINVAL;
    }
    *len = n;
    return 0;
}

static int
s_open_dialback(xgw_cert_store_t *self, int64_t now, char *why, size_t whylen)
{
    xgw_dialback_ring_t *ring = NULL;
    int rc = xgw_dialback_ring_load(self->dialback_path, &ring);
    if (rc != 0 && rc != XGW_ENOENT) {
        s_why(why, whylen, "the dialback keyring %s is damaged (%s); remove it to start over",
              self->dialback_path, xgw_strerror(rc));
        return rc;
    }
    if (!ring) {
        ring = xgw_dialback_ring_new();
        if (!ring)
            return XGW_ENOMEM;
    }
    int changed = 0;
    if (self->secret_file[0]) {
        char *secret = NULL;
        size_t len = 0;
        rc = s_read_secret_file(self->secret_file, &secret, &len, why, whylen);
        if (rc != 0) {
            xgw_dialback_ring_destroy(&ring);
            return rc;
        }
        if (!xgw_dialback_ring_is_current(ring, (const uint8_t *)secret, len)) {
            rc = xgw_dialback_ring_rotate(ring, (const uint8_t *)secret, len, now, self->overlap_s);
            changed = 1;
        }
        xgw_cert_fs_free_secret(secret, len + 1);
    } else if (xgw_dialback_ring_created(ring) == 0) {
        uint8_t rnd[32];
        rc = RAND_bytes(rnd, sizeof rnd) == 1 ? 0 : XGW_EIO;
        if (rc == 0)
            rc = xgw_dialback_ring_rotate(ring, rnd, sizeof rnd, now, 0);
        OPENSSL_cleanse(rnd, sizeof rnd);
        changed = 1;
    }
    if (rc == 0 && changed)
        rc = xgw_dialback_ring_save(ring, self->dialback_path);
    if (rc != 0) {
        s_why(why, whylen, "cannot write the dialback keyring %s", self->dialback_path);
        xgw_dialback_ring_destroy(&ring);
        return rc;
    }
    self->ring = ring;
    return 0;
}

int
xgw_cert_store_dialback_rotate(xgw_cert_store_t *self, int64_t now, char *why, size_t whylen)
{
    uint8_t rnd[32];
    char *secret = NULL;
    size_t len = 0;
    const uint8_t *bytes = rnd;
    if (self->secret_file[0]) {
        if (s_read_secret_file(self->secret_file, &secret, &len, why, whylen) != 0)
            return XGW_EINVAL;
        if (xgw_dialback_ring_is_current(self->ring, (const uint8_t *)secret, len)) {
            xgw_cert_fs_free_secret(secret, len + 1);
            s_why(why, whylen,
                  "the secret in %s has not changed; write the new secret there first, then "
                  "rotate",
                  self->secret_file);
            return XGW_EINVAL;
        }
        bytes = (const uint8_t *)secret;
    } else {
        if (RAND_bytes(rnd, sizeof rnd) != 1)
            return XGW_EIO;
        len = sizeof rnd;
    }
    /* Work on a copy so that a failed write leaves the live keyring alone. */
    xgw_dialback_ring_t *copy = NULL;
    int rc = xgw_dialback_ring_load(self->dialback_path, &copy);
    if (rc == 0)
        rc = xgw_dialback_ring_rotate(copy, bytes, len, now, self->overlap_s);
    if (rc == 0)
        rc = xgw_dialback_ring_save(copy, self->dialback_path);
    OPENSSL_cleanse(rnd, sizeof rnd);
    if (secret)
        xgw_cert_fs_free_secret(secret, len + 1);
    if (rc != 0) {
        xgw_dialback_ring_destroy(&copy);
        s_why(why, whylen, "cannot write the dialback keyring: %s", xgw_strerror(rc));
        return rc;
    }
    xgw_dialback_ring_destroy(&self->ring);
    self->ring = copy;
    return s_bump(self);
}

int
xgw_cert_store_dialback_tick(xgw_cert_store_t *self, int64_t now)
{
    int64_t exp = xgw_dialback_ring_previous_expires(self->ring);
    if (exp == 0 || exp > now)
        return 0;
    xgw_dialback_ring_t *copy = NULL;
    int rc = xgw_dialback_ring_load(self->dialback_path, &copy);
    if (rc == 0 && xgw_dialback_ring_expire(copy, now) == 1)
        rc = xgw_dialback_ring_save(copy, self->dialback_path);
    if (rc != 0) {
        xgw_dialback_ring_destroy(&copy);
        return rc;
    }
    xgw_dialback_ring_destroy(&self->ring);
    self->ring = copy;
    rc = s_bump(self);
    return rc == 0 ? 1 : rc;
}

/* ---- SIP TLS directory -------------------------------------------------------------- */

/* The certificate sofia-sip presents (it has no SNI): the default sip
 * assignment, else the one of the first served domain. */
static const char *
s_sip_choice(const xgw_cert_store_t *self)
{
    const s_assign_t *a = s_assignment(self, "sip", "");
    if (!a && self->domains.n > 0)
        a = s_assignment(self, "sip", self->domains.v[0]);
    return a ? a->id : NULL;
}

static int
s_write_sip_tls(xgw_cert_store_t *self)
{
    const char *id = s_sip_choice(self);
    char path[S_PATH];
    s_join(path, sizeof path, self->sip_dir, "agent.pem");
    if (!id) {
        if (xgw_cert_fs_exists(path) && unlink(path) != 0)
            return XGW_EIO;
        self->sip_id[0] = '\0';
        return 0;
    }
    if (strcmp(id, self->sip_id) == 0 && xgw_cert_fs_exists(path))
        return 0;
    const xgw_cert_entry_t *e = s_find(self, id);
    char kpath[S_PATH];
    xgw_cert_store_path(self, id, "key.pem", kpath, sizeof kpath);
    char *key = NULL;
    size_t klen = 0;
    int rc = xgw_cert_fs_read(kpath, XGW_X509_MAX_INPUT, &key, &klen);
    if (rc != 0 || !e)
        return rc ? rc : XGW_ENOENT;
    char *chain = xgw_x509_chain_pem(e->leaf, e->chain);
    size_t clen = chain ? strlen(chain) : 0;
    size_t total = klen + clen + 1;
    char *agent = chain ? malloc(total) : NULL;
    if (agent) {
        memcpy(agent, key, klen);
        memcpy(agent + klen, chain, clen);
        rc = xgw_cert_fs_write(path, agent, klen + clen, 0600);
        xgw_cert_fs_free_secret(agent, total);
    } else {
        rc = XGW_ENOMEM;
    }
    xgw_cert_fs_free_secret(key, klen + 1);
    free(chain);
    if (rc == 0)
        snprintf(self->sip_id, sizeof self->sip_id, "%s", id);
    return rc;
}

/* ---- Open / destroy --------------------------------------------------------------- */

xgw_cert_store_t *
xgw_cert_store_open(const xgw_cert_store_opts_t *opts, int64_t now, xgw_cert_notes_t *notes,
                    char *why, size_t whylen)
{
    if (!opts || !opts->data_dir || !opts->served_domains) {
        s_why(why, whylen, "missing store options");
        return NULL;
    }
    xgw_cert_store_t *self = calloc(1, sizeof *self);
    if (!self) {
        s_why(why, whylen, "out of memory");
        return NULL;
    }
    char sub[512];
    if (xgw_x509_domains_parse(opts->served_domains, &self->domains, sub, sizeof sub) != 0) {
        s_why(why, whylen, "common.domains: %s", sub);
        goto fail;
    }
    if (snprintf(self->dir, sizeof self->dir, "%s/certs", opts->data_dir) >=
        (int)sizeof self->dir) {
        s_why(why, whylen, "data_dir is too long");
        goto fail;
    }
    snprintf(self->anchors_dir, sizeof self->anchors_dir, "%s/trust/anchors", self->dir);
    snprintf(self->trust_path, sizeof self->trust_path, "%s/trust/bundle.pem", self->dir);
    snprintf(self->dialback_path, sizeof self->dialback_path, "%s/dialback", self->dir);
    snprintf(self->sip_dir, sizeof self->sip_dir, "%s/sip-tls", self->dir);
    snprintf(self->system_ca, sizeof self->system_ca, "%s",
             opts->system_ca_file ? opts->system_ca_file : "");
    snprintf(self->secret_file, sizeof self->secret_file, "%s",
             opts->dialback_secret_file ? opts->dialback_secret_file : "");
    self->overlap_s = opts->dialback_overlap_s;

    if (xgw_cert_fs_mkdirs(self->dir, 0750) != 0 ||
        xgw_cert_fs_mkdirs(self->anchors_dir, 0750) != 0 ||
        xgw_cert_fs_mkdirs(self->sip_dir, 0750) != 0) {
        s_why(why, whylen, "cannot create the store directories under %s: %s", self->dir,
              strerror(errno));
        goto fail;
    }
    if (chmod(self->dir, 0750) != 0) {
        s_why(why, whylen, "cannot set the mode of %s", self->dir);
        goto fail;
    }
    xgw_cert_fs_sweep(self->dir);
    xgw_cert_fs_sweep(self->anchors_dir);
    xgw_cert_fs_sweep(self->sip_dir);
    char trust_dir[S_PATH];
    s_join(trust_dir, sizeof trust_dir, self->dir, "trust");
    xgw_cert_fs_sweep(trust_dir);

    if (s_load_state(self) != 0) {
        s_why(why, whylen, "cannot write %s/store", self->dir);
        goto fail;
    }
    if (s_load_entries(self, notes) != 0 || s_load_assignments(self, notes) != 0 ||
        s_load_anchors(self, notes) != 0) {
        s_why(why, whylen, "cannot read the store under %s", self->dir);
        goto fail;
    }
    if (s_write_bundle(self, self->anchors, self->n_anchors, notes) != 0) {
        s_why(why, whylen, "cannot write %s", self->trust_path);
        goto fail;
    }
    if (s_open_dialback(self, now, why, whylen) != 0)
        goto fail;
    if (s_write_sip_tls(self) != 0)
        xgw_cert_note(notes, "cannot write %s/agent.pem", self->sip_dir);
    if (s_bump(self) != 0) {
        s_why(why, whylen, "cannot write %s/store", self->dir);
        goto fail;
    }
    return self;
fail:
    xgw_cert_store_destroy(&self);
    return NULL;
}

void
xgw_cert_store_destroy(xgw_cert_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    xgw_cert_store_t *self = *self_p;
    for (size_t i = 0; i < self->n_entries; i++)
        s_entry_free(&self->entries[i]);
    free(self->entries);
    for (size_t i = 0; i < self->n_anchors; i++)
        X509_free(self->anchors[i].cert);
    free(self->anchors);
    free(self->assign);
    X509_STORE_free(self->trust);
    xgw_dialback_ring_destroy(&self->ring);
    xgw_x509_strv_free(&self->domains);
    free(self);
    *self_p = NULL;
}

/* ---- Reading -------------------------------------------------------------------------- */

uint64_t
xgw_cert_store_generation(const xgw_cert_store_t *self)
{
    return self->generation;
}

uint64_t
xgw_cert_store_version(const xgw_cert_store_t *self)
{
    return self->version;
}

const xgw_strv_t *
xgw_cert_store_domains(const xgw_cert_store_t *self)
{
    return &self->domains;
}

size_t
xgw_cert_store_count(const xgw_cert_store_t *self)
{
    return self->n_entries;
}

const xgw_cert_entry_t *
xgw_cert_store_entry(const xgw_cert_store_t *self, size_t i)
{
    return i < self->n_entries ? &self->entries[i] : NULL;
}

const xgw_cert_entry_t *
xgw_cert_store_find(const xgw_cert_store_t *self, const char *id)
{
    return s_find(self, id);
}

size_t
xgw_cert_store_assignment_count(const xgw_cert_store_t *self)
{
    return self->n_assign;
}

int
xgw_cert_store_assignment(const xgw_cert_store_t *self, size_t i, const char **usage,
                          const char **domain, const char **id)
{
    if (i >= self->n_assign)
        return XGW_ERANGE;
    if (usage)
        *usage = self->assign[i].usage;
    if (domain)
        *domain = self->assign[i].domain;
    if (id)
        *id = self->assign[i].id;
    return 0;
}

const char *
xgw_cert_store_effective(const xgw_cert_store_t *self, const char *usage, const char *domain)
{
    const s_assign_t *a = domain && *domain ? s_assignment(self, usage, domain) : NULL;
    if (!a)
        a = s_assignment(self, usage, "");
    return a ? a->id : NULL;
}

int
xgw_cert_store_is_assigned(const xgw_cert_store_t *self, const char *id)
{
    for (size_t i = 0; i < self->n_assign; i++) {
        if (strcmp(self->assign[i].id, id) == 0)
            return 1;
    }
    return 0;
}

size_t
xgw_cert_store_anchor_count(const xgw_cert_store_t *self)
{
    return self->n_anchors;
}

const xgw_cert_anchor_t *
xgw_cert_store_anchor(const xgw_cert_store_t *self, size_t i)
{
    return i < self->n_anchors ? &self->anchors[i] : NULL;
}

size_t
xgw_cert_store_system_ca_count(const xgw_cert_store_t *self)
{
    return self->system_ca_count;
}

uint64_t
xgw_cert_store_trust_version(const xgw_cert_store_t *self)
{
    return self->trust_version;
}

const xgw_dialback_ring_t *
xgw_cert_store_dialback(const xgw_cert_store_t *self)
{
    return self->ring;
}

const char *
xgw_cert_store_dir(const xgw_cert_store_t *self)
{
    return self->dir;
}

const char *
xgw_cert_store_trust_path(const xgw_cert_store_t *self)
{
    return self->trust_path;
}

const char *
xgw_cert_store_dialback_path(const xgw_cert_store_t *self)
{
    return self->dialback_path;
}

const char *
xgw_cert_store_sip_tls_dir(const xgw_cert_store_t *self)
{
    return self->sip_dir;
}

const char *
xgw_cert_store_state(const xgw_cert_entry_t *e, int64_t now)
{
    if (e->pending)
        return "pending";
    if (now >= e->not_after)
        return "expired";
    if (now < e->not_before)
        return "not-yet-valid";
    return "valid";
}

/* ---- Writing entries ---------------------------------------------------------------- */

static int
s_new_id(const xgw_cert_store_t *self, char out[XGW_CERT_ID_LEN + 1])
{
    for (int tries = 0; tries < 100; tries++) {
        uint8_t r[XGW_CERT_ID_LEN / 2];
        if (RAND_bytes(r, sizeof r) != 1)
            return XGW_EIO;
        for (size_t i = 0; i < sizeof r; i++)
            snprintf(out + 2 * i, 3, "%02x", r[i]);
        char path[S_PATH];
        s_join(path, sizeof path, self->dir, out);
        if (!s_find(self, out) && !xgw_cert_fs_exists(path))
            return 0;
    }
    return XGW_EEXIST;
}

static int
s_meta_text(char *buf, size_t len, const char *state, const char *origin, int64_t created,
            const char *key_type)
{
    int n = snprintf(buf, len, "state=%s\norigin=%s\ncreated=%" PRId64 "\nkey_type=%s\n", state,
                     origin, created, key_type);
    return n < 0 || (size_t)n >= len ? -1 : n;
}

typedef struct {
    const char *name;
    const char *data;
    size_t len;
    mode_t mode;
} s_file_t;

/* Creates <store>/<id> holding files, atomically (temporary directory,
 * then rename). */
static int
s_create_entry_dir(xgw_cert_store_t *self, const char *id, const s_file_t *files, size_t n)
{
    char tmp[S_PATH], final[S_PATH];
    uint8_t r[6];
    if (RAND_bytes(r, sizeof r) != 1)
        return XGW_EIO;
    snprintf(tmp, sizeof tmp, "%s/.tmp-%02x%02x%02x%02x%02x%02x", self->dir, r[0], r[1], r[2], r[3],
             r[4], r[5]);
    s_join(final, sizeof final, self->dir, id);
    if (mkdir(tmp, 0750) != 0)
        return XGW_EIO;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char p[S_PATH + 64];
        snprintf(p, sizeof p, "%s/%s", tmp, files[i].name);
        rc = xgw_cert_fs_write(p, files[i].data, files[i].len, files[i].mode);
    }
    if (rc == 0 && rename(tmp, final) != 0)
        rc = XGW_EIO;
    if (rc != 0) {
        xgw_cert_fs_rmdir(tmp);
        return rc;
    }
    return xgw_cert_fs_sync_dir(self->dir);
}

/* Checks the names given for a new certificate or request and returns the
 * SAN list: domain first, then sans, then (include_served) the served
 * domains, without duplicates. */
static int
s_build_sans(const xgw_cert_store_t *self, const char *domain, const xgw_strv_t *sans,
             int include_served, char cn[XGW_X509_DOMAIN_MAX], xgw_strv_t *out, char *why,
             size_t whylen)
{
    char sub[256];
    memset(out, 0, sizeof *out);
    if (!domain || !*domain) {
        s_why(why, whylen, "--domain is required");
        return XGW_EINVAL;
    }
    if (xgw_x509_domain_to_ascii(domain, cn, XGW_X509_DOMAIN_MAX, sub, sizeof sub) != 0) {
        s_why(why, whylen, "--domain: %s", sub);
        return XGW_EINVAL;
    }
    if (strchr(domain, '*')) {
        s_why(why, whylen, "--domain: wildcards are not used; name each domain");
        return XGW_EINVAL;
    }
    if (xgw_strv_add(out, cn) != 0)
        return XGW_ENOMEM;
    for (size_t i = 0; sans && i < sans->n; i++) {
        char a[XGW_X509_DOMAIN_MAX];
        if (xgw_x509_domain_to_ascii(sans->v[i], a, sizeof a, sub, sizeof sub) != 0) {
            s_why(why, whylen, "--san %s: %s", sans->v[i], sub);
            xgw_x509_strv_free(out);
            return XGW_EINVAL;
        }
        if (!xgw_strv_has(out, a) && xgw_strv_add(out, a) != 0) {
            xgw_x509_strv_free(out);
            return XGW_ENOMEM;
        }
    }
    for (size_t i = 0; include_served && i < self->domains.n; i++) {
        if (!xgw_strv_has(out, self->domains.v[i]) && xgw_strv_add(out, self->domains.v[i]) != 0) {
            xgw_x509_strv_free(out);
            return XGW_ENOMEM;
        }
    }
    if (out->n > XGW_X509_MAX_SANS) {
        s_why(why, whylen, "more than %d names", XGW_X509_MAX_SANS);
        xgw_x509_strv_free(out);
        return XGW_EINVAL;
    }
    return 0;
}

static int
s_key_type(const char *key_type, xgw_key_type_t *kt, char *why, size_t whylen)
{
    if (!key_type || !*key_type) {
        *kt = XGW_KEY_RSA2048;
        return 0;
    }
    if (xgw_x509_key_type_parse(key_type, kt) != 0) {
        s_why(why, whylen, "--key %s: use rsa2048, rsa3072 or p256", key_type);
        return XGW_EINVAL;
    }
    return 0;
}

int
xgw_cert_store_request(xgw_cert_store_t *self, const char *domain, const xgw_strv_t *sans,
                       const char *key_type, int include_served, int64_t now,
                       char id_out[XGW_CERT_ID_LEN + 1], char **csr_pem, xgw_cert_notes_t *notes,
                       char *why, size_t whylen)
{
    *csr_pem = NULL;
    xgw_key_type_t kt;
    char cn[XGW_X509_DOMAIN_MAX];
    xgw_strv_t names;
    if (s_key_type(key_type, &kt, why, whylen) != 0)
        return XGW_EINVAL;
    int rc = s_build_sans(self, domain, sans, include_served, cn, &names, why, whylen);
    if (rc != 0)
        return rc;
    EVP_PKEY *k = xgw_x509_key_new(kt);
    X509_REQ *req = k ? xgw_x509_csr_new(k, cn, &names) : NULL;
    char *kpem = req ? xgw_x509_key_pem(k) : NULL;
    char *cpem = kpem ? xgw_x509_csr_pem(req) : NULL;
    char id[XGW_CERT_ID_LEN + 1];
    xgw_cert_entry_t e;
    memset(&e, 0, sizeof e);
    if (!cpem) {
        s_why(why, whylen, "cannot generate the key or the request");
        rc = XGW_ERROR;
    }
    if (rc == 0)
        rc = s_new_id(self, id);
    if (rc == 0) {
        snprintf(e.id, sizeof e.id, "%s", id);
        snprintf(e.origin, sizeof e.origin, "request");
        e.created = now;
        e.pending = 1;
        e.csr = req;
        req = NULL;
        xgw_x509_key_describe(k, e.key_type, sizeof e.key_type);
        snprintf(e.subject, sizeof e.subject, "CN=%.250s", cn);
        e.dns = names;
        memset(&names, 0, sizeof names);
        char meta[256];
        int ml = s_meta_text(meta, sizeof meta, "pending", "request", now, e.key_type);
        s_file_t files[] = {
            {"key.pem", kpem, strlen(kpem), 0600},
            {"request.csr", cpem, strlen(cpem), 0644},
            {"meta", meta, (size_t)ml, 0640},
        };
        rc = s_create_entry_dir(self, id, files, 3);
        if (rc != 0)
            s_why(why, whylen, "cannot write the store: %s", strerror(errno));
    }
    if (rc == 0)
        rc = s_append_entry(self, &e);
    if (rc == 0)
        rc = s_bump(self);
    s_entry_free(&e);
    X509_REQ_free(req);
    EVP_PKEY_free(k);
    if (kpem)
        xgw_cert_fs_free_secret(kpem, strlen(kpem) + 1);
    xgw_x509_strv_free(&names);
    if (rc != 0) {
        free(cpem);
        return rc;
    }
    for (size_t i = 0; i < self->domains.n; i++) {
        if (!include_served &&
            !xgw_strv_has(&self->entries[self->n_entries - 1].dns, self->domains.v[i]))
            xgw_cert_note(notes, "the request does not name the served domain %s",
                          self->domains.v[i]);
    }
    snprintf(id_out, XGW_CERT_ID_LEN + 1, "%s", id);
    *csr_pem = cpem;
    return 0;
}

/* Does the chain verify against the trust bundle at now? Writes the reason
 * when not. */
static int
s_chain_ok(const xgw_cert_store_t *self, X509 *leaf, STACK_OF(X509) * chain, int64_t now,
           char *reason, size_t len)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (!ctx || X509_STORE_CTX_init(ctx, self->trust, leaf, chain) != 1) {
        X509_STORE_CTX_free(ctx);
        s_why(reason, len, "out of memory");
        return 0;
    }
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), (time_t)now);
    int ok = X509_verify_cert(ctx) == 1;
    if (!ok) {
        int err = X509_STORE_CTX_get_error(ctx);
        if (err == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT)
            s_why(reason, len, "it is self-signed: peers that check certificates will refuse it");
        else
            s_why(reason, len, "its chain does not verify against the trust store: %s (depth %d)",
                  X509_verify_cert_error_string(err), X509_STORE_CTX_get_error_depth(ctx));
    }
    X509_STORE_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

/* Notes what xgwctl cert check would complain about in a new certificate. */
static void
s_import_notes(const xgw_cert_store_t *self, X509 *leaf, STACK_OF(X509) * chain, int64_t now,
               xgw_cert_notes_t *notes)
{
    char when[40], reason[512];
    if (now < xgw_x509_not_before(leaf)) {
        xgw_x509_time_format(xgw_x509_not_before(leaf), when, sizeof when);
        xgw_cert_note(notes, "the certificate is not valid before %s", when);
    }
    EVP_PKEY *pub = X509_get0_pubkey(leaf);
    if (!xgw_x509_key_strong(pub)) {
        char kd[32];
        xgw_x509_key_describe(pub, kd, sizeof kd);
        xgw_cert_note(notes, "its key (%s) is weaker than RSA 2048 or P-256", kd);
    }
    if (!xgw_x509_has_server_auth(leaf))
        xgw_cert_note(notes, "its extended key usage lacks serverAuth");
    if (!s_chain_ok(self, leaf, chain, now, reason, sizeof reason))
        xgw_cert_note(notes, "%s", reason);
    for (size_t i = 0; i < self->domains.n; i++) {
        if (xgw_x509_match_domain(leaf, self->domains.v[i], NULL, 0) != XGW_X509_BY_DNS_ID)
            xgw_cert_note(notes, "it does not name the served domain %s", self->domains.v[i]);
    }
}

/* Imports leaf + chain with key (may be NULL: match a pending request or a
 * stored key). Borrows everything. */
static int
s_import(xgw_cert_store_t *self, X509 *leaf, STACK_OF(X509) * chain, EVP_PKEY *key,
         const char *origin, int64_t now, char id_out[XGW_CERT_ID_LEN + 1], xgw_cert_notes_t *notes,
         char *why, size_t whylen)
{
    char when[40], fpr[XGW_X509_FPR_LEN];
    int64_t na = xgw_x509_not_after(leaf);
    if (na <= now) {
        xgw_x509_time_format(na, when, sizeof when);
        s_why(why, whylen, "the certificate expired at %s; nothing imported", when);
        return XGW_EINVAL;
    }
    xgw_x509_fingerprint(leaf, fpr);
    for (size_t i = 0; i < self->n_entries; i++) {
        if (!self->entries[i].pending && strcmp(self->entries[i].fpr, fpr) == 0) {
            s_why(why, whylen, "this certificate is already in the store as %s",
                  self->entries[i].id);
            return XGW_EEXIST;
        }
    }
    xgw_cert_entry_t *pending = NULL;
    const xgw_cert_entry_t *same_key = NULL;
    if (key) {
        if (!xgw_x509_key_matches(leaf, key)) {
            s_why(why, whylen, "the private key does not match the certificate");
            return XGW_EINVAL;
        }
    } else {
        const EVP_PKEY *pub = X509_get0_pubkey(leaf);
        for (size_t i = 0; pub && i < self->n_entries; i++) {
            xgw_cert_entry_t *e = &self->entries[i];
            const EVP_PKEY *other = e->pending ? (e->csr ? X509_REQ_get0_pubkey(e->csr) : NULL)
                                               : (e->leaf ? X509_get0_pubkey(e->leaf) : NULL);
            if (!other || EVP_PKEY_eq(other, pub) != 1)
                continue;
            if (e->pending) {
                pending = e;
                break;
            }
            if (!same_key)
                same_key = e;
        }
        ERR_clear_error();
        if (!pending && !same_key) {
            s_why(why, whylen,
                  "no private key given (--key), and no pending request (xgwctl cert request) "
                  "or stored key matches this certificate");
            return XGW_EINVAL;
        }
    }

    xgw_cert_notes_t local;
    memset(&local, 0, sizeof local);
    s_import_notes(self, leaf, chain, now, &local);
    char *chain_pem = xgw_x509_chain_pem(leaf, chain);
    if (!chain_pem) {
        s_why(why, whylen, "out of memory");
        return XGW_ENOMEM;
    }
    int rc = 0;
    char key_type[16];
    xgw_x509_key_describe(X509_get0_pubkey(leaf), key_type, sizeof key_type);
    char meta[256];
    if (pending) {
        /* The entry's files: chain.pem first, then meta; a crash between the
         * two is repaired on load (chain.pem present means active). */
        char path[S_PATH];
        xgw_cert_store_path(self, pending->id, "chain.pem", path, sizeof path);
        int ml =
            s_meta_text(meta, sizeof meta, "active", pending->origin, pending->created, key_type);
        rc = xgw_cert_fs_write(path, chain_pem, strlen(chain_pem), 0644);
        if (rc == 0) {
            xgw_cert_store_path(self, pending->id, "meta", path, sizeof path);
            rc = xgw_cert_fs_write(path, meta, (size_t)ml, 0640);
        }
        if (rc == 0)
            rc = s_entry_set_cert(pending, leaf, chain);
        if (rc == 0)
            snprintf(id_out, XGW_CERT_ID_LEN + 1, "%s", pending->id);
    } else {
        char *kpem = NULL;
        size_t klen = 0;
        if (key) {
            kpem = xgw_x509_key_pem(key);
            klen = kpem ? strlen(kpem) : 0;
            rc = kpem ? 0 : XGW_ENOMEM;
        } else {
            char path[S_PATH];
            xgw_cert_store_path(self, same_key->id, "key.pem", path, sizeof path);
            rc = xgw_cert_fs_read(path, XGW_X509_MAX_INPUT, &kpem, &klen);
        }
        char id[XGW_CERT_ID_LEN + 1];
        xgw_cert_entry_t e;
        memset(&e, 0, sizeof e);
        if (rc == 0)
            rc = s_new_id(self, id);
        if (rc == 0) {
            int ml = s_meta_text(meta, sizeof meta, "active", origin, now, key_type);
            s_file_t files[] = {
                {"key.pem", kpem, klen, 0600},
                {"chain.pem", chain_pem, strlen(chain_pem), 0644},
                {"meta", meta, (size_t)ml, 0640},
            };
            rc = s_create_entry_dir(self, id, files, 3);
        }
        if (rc == 0) {
            snprintf(e.id, sizeof e.id, "%s", id);
            snprintf(e.origin, sizeof e.origin, "%s", origin);
            e.created = now;
            rc = s_entry_set_cert(&e, leaf, chain);
        }
        if (rc == 0)
            rc = s_append_entry(self, &e);
        s_entry_free(&e);
        if (kpem)
            xgw_cert_fs_free_secret(kpem, klen + 1);
        if (rc == 0)
            snprintf(id_out, XGW_CERT_ID_LEN + 1, "%s", id);
        if (rc == 0 && same_key)
            xgw_cert_note(notes, "the key of %s was reused (a renewal)", same_key->id);
    }
    free(chain_pem);
    if (rc != 0) {
        s_why(why, whylen, "cannot write the store: %s", xgw_strerror(rc));
        return rc;
    }
    for (size_t i = 0; i < local.n; i++)
        xgw_cert_note(notes, "%s", local.text[i]);
    return s_bump(self);
}

int
xgw_cert_store_import(xgw_cert_store_t *self, const char *cert_pem, const char *key_pem,
                      const char *chain_pem, int64_t now, char id_out[XGW_CERT_ID_LEN + 1],
                      xgw_cert_notes_t *notes, char *why, size_t whylen)
{
    char sub[384];
    STACK_OF(X509) *sk = NULL;
    STACK_OF(X509) *more = NULL;
    EVP_PKEY *key = NULL;
    if (!cert_pem || xgw_x509_parse_chain(cert_pem, strlen(cert_pem), &sk, sub, sizeof sub) != 0) {
        s_why(why, whylen, "--cert: %s", cert_pem ? sub : "missing");
        return XGW_EINVAL;
    }
    if (chain_pem && *chain_pem &&
        xgw_x509_parse_chain(chain_pem, strlen(chain_pem), &more, sub, sizeof sub) != 0) {
        sk_X509_pop_free(sk, X509_free);
        s_why(why, whylen, "--chain: %s", sub);
        return XGW_EINVAL;
    }
    if (key_pem && *key_pem) {
        key = xgw_x509_parse_key(key_pem, strlen(key_pem), sub, sizeof sub);
        if (!key) {
            sk_X509_pop_free(sk, X509_free);
            sk_X509_pop_free(more, X509_free);
            s_why(why, whylen, "--key: %s", sub);
            return XGW_EINVAL;
        }
    }
    X509 *leaf = sk_X509_shift(sk);
    while (more && sk_X509_num(more) > 0)
        sk_X509_push(sk, sk_X509_shift(more));
    sk_X509_free(more);
    int rc = s_import(self, leaf, sk, key, "import", now, id_out, notes, why, whylen);
    X509_free(leaf);
    sk_X509_pop_free(sk, X509_free);
    EVP_PKEY_free(key);
    return rc;
}

int
xgw_cert_store_import_pkcs12(xgw_cert_store_t *self, const uint8_t *der, size_t len,
                             const char *password, int64_t now, char id_out[XGW_CERT_ID_LEN + 1],
                             xgw_cert_notes_t *notes, char *why, size_t whylen)
{
    char sub[256];
    EVP_PKEY *key = NULL;
    X509 *leaf = NULL;
    STACK_OF(X509) *chain = NULL;
    if (xgw_x509_parse_pkcs12(der, len, password, &key, &leaf, &chain, sub, sizeof sub) != 0) {
        s_why(why, whylen, "--pkcs12: %s", sub);
        return XGW_EINVAL;
    }
    int rc = s_import(self, leaf, chain, key, "pkcs12", now, id_out, notes, why, whylen);
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
    return rc;
}

int
xgw_cert_store_self_signed(xgw_cert_store_t *self, const char *domain, const xgw_strv_t *sans,
                           const char *key_type, int days, const char *origin, int64_t now,
                           char id_out[XGW_CERT_ID_LEN + 1], xgw_cert_notes_t *notes, char *why,
                           size_t whylen)
{
    xgw_key_type_t kt;
    char cn[XGW_X509_DOMAIN_MAX];
    xgw_strv_t names;
    if (days < 1 || days > 3650) {
        s_why(why, whylen, "--days %d: use 1 to 3650", days);
        return XGW_EINVAL;
    }
    if (s_key_type(key_type, &kt, why, whylen) != 0)
        return XGW_EINVAL;
    int rc = s_build_sans(self, domain, sans, 0, cn, &names, why, whylen);
    if (rc != 0)
        return rc;
    EVP_PKEY *k = xgw_x509_key_new(kt);
    X509 *x = k ? xgw_x509_self_signed_new(k, cn, &names, now, days) : NULL;
    char *kpem = x ? xgw_x509_key_pem(k) : NULL;
    char *cpem = kpem ? xgw_x509_chain_pem(x, NULL) : NULL;
    char id[XGW_CERT_ID_LEN + 1];
    xgw_cert_entry_t e;
    memset(&e, 0, sizeof e);
    if (!cpem) {
        s_why(why, whylen, "cannot generate the key or the certificate");
        rc = XGW_ERROR;
    }
    if (rc == 0)
        rc = s_new_id(self, id);
    if (rc == 0) {
        char meta[256];
        char kd[16];
        xgw_x509_key_describe(k, kd, sizeof kd);
        int ml = s_meta_text(meta, sizeof meta, "active", origin ? origin : "self-signed", now, kd);
        s_file_t files[] = {
            {"key.pem", kpem, strlen(kpem), 0600},
            {"chain.pem", cpem, strlen(cpem), 0644},
            {"meta", meta, (size_t)ml, 0640},
        };
        rc = s_create_entry_dir(self, id, files, 3);
        if (rc != 0)
            s_why(why, whylen, "cannot write the store: %s", strerror(errno));
    }
    if (rc == 0) {
        snprintf(e.id, sizeof e.id, "%s", id);
        snprintf(e.origin, sizeof e.origin, "%s", origin ? origin : "self-signed");
        e.created = now;
        rc = s_entry_set_cert(&e, x, NULL);
    }
    if (rc == 0)
        rc = s_append_entry(self, &e);
    if (rc == 0)
        rc = s_bump(self);
    s_entry_free(&e);
    X509_free(x);
    EVP_PKEY_free(k);
    if (kpem)
        xgw_cert_fs_free_secret(kpem, strlen(kpem) + 1);
    free(cpem);
    if (rc == 0) {
        snprintf(id_out, XGW_CERT_ID_LEN + 1, "%s", id);
        if (!xgw_strv_has(&self->domains, cn))
            xgw_cert_note(notes, "%s is not a served domain (common.domains)", cn);
    }
    xgw_x509_strv_free(&names);
    return rc;
}

/* ---- Assignments ------------------------------------------------------------------- */

/* Resolves a --domain argument to a served domain (ASCII). */
static int
s_served(const xgw_cert_store_t *self, const char *domain, char out[XGW_X509_DOMAIN_MAX], char *why,
         size_t whylen)
{
    char sub[256];
    if (xgw_x509_domain_to_ascii(domain, out, XGW_X509_DOMAIN_MAX, sub, sizeof sub) != 0) {
        s_why(why, whylen, "--domain: %s", sub);
        return XGW_EINVAL;
    }
    if (!xgw_strv_has(&self->domains, out)) {
        char list[512] = "";
        size_t o = 0;
        for (size_t i = 0; i < self->domains.n && o + 1 < sizeof list; i++) {
            int w = snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", self->domains.v[i]);
            if (w < 0)
                break;
            o += (size_t)w;
        }
        s_why(why, whylen, "%s is not a served domain (common.domains: %s)", out, list);
        return XGW_EINVAL;
    }
    return 0;
}

int
xgw_cert_store_assign(xgw_cert_store_t *self, const char *id, const char *usage, const char *domain,
                      int64_t now, int *replaced, xgw_cert_notes_t *notes, char *why, size_t whylen)
{
    if (replaced)
        *replaced = 0;
    if (!s_usage_ok(usage)) {
        s_why(why, whylen, "--usage %s: use xmpp or sip", usage ? usage : "(missing)");
        return XGW_EINVAL;
    }
    const xgw_cert_entry_t *e = s_find(self, id);
    if (!e) {
        s_why(why, whylen, "no certificate %s (see xgwctl cert show)", id ? id : "");
        return XGW_ENOENT;
    }
    if (e->pending) {
        s_why(why, whylen, "%s is a pending request; import the signed certificate first", id);
        return XGW_EINVAL;
    }
    char when[40];
    if (now >= e->not_after) {
        xgw_x509_time_format(e->not_after, when, sizeof when);
        s_why(why, whylen, "certificate %s expired at %s", id, when);
        return XGW_EINVAL;
    }
    if (now < e->not_before) {
        xgw_x509_time_format(e->not_before, when, sizeof when);
        s_why(why, whylen, "certificate %s is not valid before %s; assign it then", id, when);
        return XGW_EINVAL;
    }
    char d[XGW_X509_DOMAIN_MAX] = "";
    if (domain && *domain) {
        if (s_served(self, domain, d, why, whylen) != 0)
            return XGW_EINVAL;
        if (xgw_x509_match_domain(e->leaf, d, NULL, 0) != XGW_X509_BY_DNS_ID) {
            s_why(why, whylen, "certificate %s does not name %s as a DNS subjectAltName", id, d);
            return XGW_EINVAL;
        }
    }
    s_assign_t *cur = s_assignment(self, usage, d);
    if (cur && strcmp(cur->id, id) == 0) {
        xgw_cert_note(notes, "%s was already assigned", id);
        return 0;
    }
    size_t n = self->n_assign + (cur ? 0 : 1);
    s_assign_t *list = calloc(n, sizeof *list);
    if (!list)
        return XGW_ENOMEM;
    if (self->n_assign > 0)
        memcpy(list, self->assign, self->n_assign * sizeof *list);
    s_assign_t *slot = cur ? &list[cur - self->assign] : &list[n - 1];
    snprintf(slot->usage, sizeof slot->usage, "%s", usage);
    snprintf(slot->domain, sizeof slot->domain, "%s", d);
    snprintf(slot->id, sizeof slot->id, "%s", id);
    int rc = s_save_assignments(self, list, n);
    if (rc != 0) {
        free(list);
        s_why(why, whylen, "cannot write the assignments: %s", xgw_strerror(rc));
        return rc;
    }
    free(self->assign);
    self->assign = list;
    self->n_assign = n;
    if (replaced)
        *replaced = cur != NULL;
    if (!d[0]) {
        for (size_t i = 0; i < self->domains.n; i++) {
            if (xgw_x509_match_domain(e->leaf, self->domains.v[i], NULL, 0) != XGW_X509_BY_DNS_ID)
                xgw_cert_note(notes, "%s does not name the served domain %s", id,
                              self->domains.v[i]);
        }
    }
    if (s_write_sip_tls(self) != 0)
        xgw_cert_note(notes, "cannot write %s/agent.pem", self->sip_dir);
    return s_bump(self);
}

int
xgw_cert_store_unassign(xgw_cert_store_t *self, const char *usage, const char *domain, char *why,
                        size_t whylen)
{
    if (!s_usage_ok(usage)) {
        s_why(why, whylen, "--usage %s: use xmpp or sip", usage ? usage : "(missing)");
        return XGW_EINVAL;
    }
    char d[XGW_X509_DOMAIN_MAX] = "";
    if (domain && *domain && s_served(self, domain, d, why, whylen) != 0)
        return XGW_EINVAL;
    s_assign_t *cur = s_assignment(self, usage, d);
    if (!cur) {
        s_why(why, whylen, "no %s assignment for %s", usage, d[0] ? d : "the default");
        return XGW_ENOENT;
    }
    size_t idx = (size_t)(cur - self->assign);
    s_assign_t *list = calloc(self->n_assign, sizeof *list);
    if (!list)
        return XGW_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < self->n_assign; i++) {
        if (i != idx)
            list[n++] = self->assign[i];
    }
    int rc = s_save_assignments(self, list, n);
    if (rc != 0) {
        free(list);
        s_why(why, whylen, "cannot write the assignments: %s", xgw_strerror(rc));
        return rc;
    }
    free(self->assign);
    self->assign = list;
    self->n_assign = n;
    (void)s_write_sip_tls(self);
    return s_bump(self);
}

int
xgw_cert_store_remove(xgw_cert_store_t *self, const char *id, char *why, size_t whylen)
{
    xgw_cert_entry_t *e = s_find(self, id);
    if (!e) {
        s_why(why, whylen, "no certificate %s (see xgwctl cert show)", id ? id : "");
        return XGW_ENOENT;
    }
    for (size_t i = 0; i < self->n_assign; i++) {
        if (strcmp(self->assign[i].id, id) == 0) {
            s_why(why, whylen,
                  "%s is assigned (%s for %s); assign another certificate or unassign it first", id,
                  self->assign[i].usage,
                  self->assign[i].domain[0] ? self->assign[i].domain : "the default");
            return XGW_EINVAL;
        }
    }
    char path[S_PATH];
    s_join(path, sizeof path, self->dir, id);
    /* Rename first: the entry disappears atomically, then its files go. */
    char tmp[S_PATH + 32];
    snprintf(tmp, sizeof tmp, "%s/.tmp-rm-%s", self->dir, id);
    if (rename(path, tmp) != 0) {
        s_why(why, whylen, "cannot remove %s: %s", path, strerror(errno));
        return XGW_EIO;
    }
    (void)xgw_cert_fs_sync_dir(self->dir);
    (void)xgw_cert_fs_rmdir(tmp);
    size_t idx = (size_t)(e - self->entries);
    s_entry_free(e);
    memmove(&self->entries[idx], &self->entries[idx + 1],
            (self->n_entries - idx - 1) * sizeof self->entries[0]);
    self->n_entries--;
    return s_bump(self);
}

/* ---- Trust anchors ---------------------------------------------------------------- */

static const xgw_cert_anchor_t *
s_anchor(const xgw_cert_store_t *self, const char *id)
{
    for (size_t i = 0; i < self->n_anchors; i++) {
        if (strcmp(self->anchors[i].id, id) == 0)
            return &self->anchors[i];
    }
    return NULL;
}

int
xgw_cert_store_trust_add(xgw_cert_store_t *self, const char *pem, int64_t now,
                         xgw_cert_notes_t *notes, char *why, size_t whylen)
{
    char sub[384];
    STACK_OF(X509) *sk = NULL;
    if (!pem || xgw_x509_parse_chain(pem, strlen(pem), &sk, sub, sizeof sub) != 0) {
        s_why(why, whylen, "%s", pem ? sub : "no certificate given");
        return XGW_EINVAL;
    }
    int n = sk_X509_num(sk);
    /* Validate every certificate before adding any. */
    for (int i = 0; i < n; i++) {
        X509 *x = sk_X509_value(sk, i);
        char subj[256], when[40];
        xgw_x509_subject(x, subj, sizeof subj);
        if (X509_check_ca(x) < 1) {
            s_why(why, whylen,
                  "certificate %d (%s) is not a CA certificate (basicConstraints CA:TRUE "
                  "missing); nothing added",
                  i + 1, subj);
            sk_X509_pop_free(sk, X509_free);
            return XGW_EINVAL;
        }
        if (xgw_x509_not_after(x) <= now) {
            xgw_x509_time_format(xgw_x509_not_after(x), when, sizeof when);
            s_why(why, whylen, "certificate %d (%s) expired at %s; nothing added", i + 1, subj,
                  when);
            sk_X509_pop_free(sk, X509_free);
            return XGW_EINVAL;
        }
    }
    xgw_cert_anchor_t *list = calloc(self->n_anchors + (size_t)n, sizeof *list);
    if (!list) {
        sk_X509_pop_free(sk, X509_free);
        return XGW_ENOMEM;
    }
    if (self->n_anchors > 0)
        memcpy(list, self->anchors, self->n_anchors * sizeof *list);
    size_t count = self->n_anchors;
    size_t added = 0;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        X509 *x = sk_X509_value(sk, i);
        char tid[XGW_CERT_TRUST_ID_LEN + 1];
        char subj[256];
        s_trust_id(x, tid);
        xgw_x509_subject(x, subj, sizeof subj);
        int dup = 0;
        for (size_t k = 0; k < count; k++) {
            if (strcmp(list[k].id, tid) == 0)
                dup = 1;
        }
        if (dup) {
            xgw_cert_note(notes, "%s (%s) is already trusted", tid, subj);
            continue;
        }
        char *one = xgw_x509_chain_pem(x, NULL);
        char path[S_PATH + 32];
        snprintf(path, sizeof path, "%s/%s.pem", self->anchors_dir, tid);
        rc = one ? xgw_cert_fs_write(path, one, strlen(one), 0644) : XGW_ENOMEM;
        free(one);
        if (rc == 0) {
            X509_up_ref(x);
            list[count].cert = x;
            snprintf(list[count].id, sizeof list[count].id, "%s", tid);
            count++;
            added++;
            xgw_cert_note(notes, "trusted %s (%s)", tid, subj);
        }
    }
    sk_X509_pop_free(sk, X509_free);
    if (rc == 0 && added > 0)
        rc = s_write_bundle(self, list, count, notes);
    if (rc != 0) {
        /* Undo the anchor files written so far. */
        for (size_t k = self->n_anchors; k < count; k++) {
            char path[S_PATH + 32];
            snprintf(path, sizeof path, "%s/%s.pem", self->anchors_dir, list[k].id);
            unlink(path);
            X509_free(list[k].cert);
        }
        free(list);
        (void)s_write_bundle(self, self->anchors, self->n_anchors, NULL);
        s_why(why, whylen, "cannot write the trust store: %s", xgw_strerror(rc));
        return rc;
    }
    free(self->anchors);
    self->anchors = list;
    self->n_anchors = count;
    if (added == 0)
        return 0;
    self->trust_version++;
    return s_bump(self);
}

int
xgw_cert_store_trust_remove(xgw_cert_store_t *self, const char *id, const char *pem,
                            xgw_cert_notes_t *notes, char *why, size_t whylen)
{
    char ids[16][XGW_CERT_TRUST_ID_LEN + 1];
    size_t n_ids = 0;
    if (pem && *pem) {
        char sub[384];
        STACK_OF(X509) *sk = NULL;
        if (xgw_x509_parse_chain(pem, strlen(pem), &sk, sub, sizeof sub) != 0) {
            s_why(why, whylen, "%s", sub);
            return XGW_EINVAL;
        }
        for (int i = 0; i < sk_X509_num(sk) && n_ids < 16; i++)
            s_trust_id(sk_X509_value(sk, i), ids[n_ids++]);
        sk_X509_pop_free(sk, X509_free);
    } else if (id && s_valid_id(id, XGW_CERT_TRUST_ID_LEN)) {
        snprintf(ids[n_ids++], sizeof ids[0], "%s", id);
    } else {
        s_why(why, whylen, "\"%s\" is neither a trust anchor id (16 hex digits) nor a PEM file",
              id ? id : "");
        return XGW_EINVAL;
    }
    for (size_t i = 0; i < n_ids; i++) {
        if (!s_anchor(self, ids[i])) {
            s_why(why, whylen,
                  "%s is not an added trust anchor (see xgwctl cert trust show; system CAs come "
                  "from certd.system_ca_file); nothing removed",
                  ids[i]);
            return XGW_ENOENT;
        }
    }
    xgw_cert_anchor_t *list = calloc(self->n_anchors ? self->n_anchors : 1, sizeof *list);
    if (!list)
        return XGW_ENOMEM;
    size_t count = 0;
    for (size_t k = 0; k < self->n_anchors; k++) {
        int drop = 0;
        for (size_t i = 0; i < n_ids; i++) {
            if (strcmp(self->anchors[k].id, ids[i]) == 0)
                drop = 1;
        }
        if (!drop)
            list[count++] = self->anchors[k];
    }
    int rc = s_write_bundle(self, list, count, notes);
    if (rc != 0) {
        free(list);
        (void)s_write_bundle(self, self->anchors, self->n_anchors, NULL);
        s_why(why, whylen, "cannot write the trust store: %s", xgw_strerror(rc));
        return rc;
    }
    for (size_t k = 0; k < self->n_anchors; k++) {
        int drop = 0;
        for (size_t i = 0; i < n_ids; i++) {
            if (strcmp(self->anchors[k].id, ids[i]) == 0)
                drop = 1;
        }
        if (!drop)
            continue;
        char path[S_PATH + 32];
        snprintf(path, sizeof path, "%s/%s.pem", self->anchors_dir, self->anchors[k].id);
        unlink(path);
        xgw_cert_note(notes, "removed %s", self->anchors[k].id);
        X509_free(self->anchors[k].cert);
    }
    (void)xgw_cert_fs_sync_dir(self->anchors_dir);
    free(self->anchors);
    self->anchors = list;
    self->n_anchors = count;
    self->trust_version++;
    return s_bump(self);
}

/* ---- Check ------------------------------------------------------------------------------ */

static int
s_check_one(xgw_cert_store_t *self, const char *domain, const char *usage, int64_t now,
            int64_t warn_s, xgw_cert_check_fn fn, void *ud)
{
    const char *id = xgw_cert_store_effective(self, usage, domain);
    char text[768], when[40];
    if (!id) {
        snprintf(text, sizeof text,
                 "no certificate is assigned for %s (%s): xgwctl cert assign ID --usage %s "
                 "--domain %s",
                 domain, usage, usage, domain);
        fn(ud, domain, usage, "", XGW_CERT_CHECK_PROBLEM, text);
        return 1;
    }
    const xgw_cert_entry_t *e = s_find(self, id);
    if (!e || e->pending) {
        snprintf(text, sizeof text, "the assigned certificate %s is missing from the store", id);
        fn(ud, domain, usage, id, XGW_CERT_CHECK_PROBLEM, text);
        return 1;
    }
    int problems = 0;
    if (now >= e->not_after) {
        xgw_x509_time_format(e->not_after, when, sizeof when);
        snprintf(text, sizeof text, "certificate %s expired at %s", id, when);
        fn(ud, domain, usage, id, XGW_CERT_CHECK_PROBLEM, text);
        problems++;
    } else if (now < e->not_before) {
        xgw_x509_time_format(e->not_before, when, sizeof when);
        snprintf(text, sizeof text, "certificate %s is not valid before %s", id, when);
        fn(ud, domain, usage, id, XGW_CERT_CHECK_PROBLEM, text);
        problems++;
    }
    if (xgw_x509_match_domain(e->leaf, domain, NULL, 0) != XGW_X509_BY_DNS_ID) {
        snprintf(text, sizeof text,
                 "certificate %s does not name %s as a DNS subjectAltName (it names %s%s)", id,
                 domain, e->dns.n ? e->dns.v[0] : "no DNS name", e->dns.n > 1 ? ", ..." : "");
        fn(ud, domain, usage, id, XGW_CERT_CHECK_PROBLEM, text);
        problems++;
    }
    EVP_PKEY *pub = X509_get0_pubkey(e->leaf);
    if (!xgw_x509_key_strong(pub)) {
        snprintf(text, sizeof text,
                 "certificate %s has a %s key, weaker than RSA 2048 or P-256: peers may refuse it",
                 id, e->key_type);
        fn(ud, domain, usage, id, XGW_CERT_CHECK_PROBLEM, text);
        problems++;
    }
    if (!xgw_x509_has_server_auth(e->leaf)) {
        snprintf(text, sizeof text,
                 "certificate %s is not for TLS servers (its extended key usage lacks "
                 "serverAuth)",
                 id);
        fn(ud, domain, usage, id, XGW_CERT_CHECK_PROBLEM, text);
        problems++;
    }
    char reason[512];
    if (!s_chain_ok(self, e->leaf, e->chain, now, reason, sizeof reason)) {
        snprintf(text, sizeof text, "certificate %s: %s", id, reason);
        fn(ud, domain, usage, id, XGW_CERT_CHECK_PROBLEM, text);
        problems++;
    }
    char path[S_PATH];
    xgw_cert_store_path(self, id, "key.pem", path, sizeof path);
    struct stat st;
    char *kpem = NULL;
    size_t klen = 0;
    if (stat(path, &st) != 0 || xgw_cert_fs_read(path, XGW_X509_MAX_INPUT, &kpem, &klen) != 0) {
        snprintf(text, sizeof text, "the private key file of %s is missing or unreadable", id);
        fn(ud, domain, usage, id, XGW_CERT_CHECK_PROBLEM, text);
        problems++;
    } else {
        EVP_PKEY *k = xgw_x509_parse_key(kpem, klen, NULL, 0);
        if (!k || !xgw_x509_key_matches(e->leaf, k)) {
            snprintf(text, sizeof text, "the private key file of %s does not match it", id);
            fn(ud, domain, usage, id, XGW_CERT_CHECK_PROBLEM, text);
            problems++;
        }
        EVP_PKEY_free(k);
        if ((st.st_mode & 077) != 0) {
            snprintf(text, sizeof text,
                     "the private key file of %s is readable by others (mode %03o)", id,
                     (unsigned)(st.st_mode & 0777));
            fn(ud, domain, usage, id, XGW_CERT_CHECK_PROBLEM, text);
            problems++;
        }
    }
    if (kpem)
        xgw_cert_fs_free_secret(kpem, klen + 1);
    if (problems == 0) {
        xgw_x509_time_format(e->not_after, when, sizeof when);
        int64_t days = (e->not_after - now) / 86400;
        if (e->not_after - now <= warn_s) {
            snprintf(text, sizeof text, "certificate %s expires at %s, in %lld days: renew it", id,
                     when, (long long)days);
            fn(ud, domain, usage, id, XGW_CERT_CHECK_WARNING, text);
        } else {
            snprintf(text, sizeof text, "certificate %s, valid until %s (%lld days)", id, when,
                     (long long)days);
            fn(ud, domain, usage, id, XGW_CERT_CHECK_OK, text);
        }
    }
    return problems;
}

int
xgw_cert_store_check(xgw_cert_store_t *self, int64_t now, int64_t warn_s, xgw_cert_check_fn fn,
                     void *ud)
{
    int problems = 0;
    for (size_t u = 0; u < sizeof s_usages / sizeof s_usages[0]; u++) {
        for (size_t i = 0; i < self->domains.n; i++)
            problems += s_check_one(self, self->domains.v[i], s_usages[u], now, warn_s, fn, ud);
    }
    return problems;
}

/* ---- Snapshot ------------------------------------------------------------------------ */

static char *
s_pathdup(xgw_arena_t *a, const xgw_cert_store_t *self, const char *id, const char *file)
{
    return xgw_arena_printf(a, "%s/%s/%s", self->dir, id, file);
}

int
xgw_cert_store_snapshot(const xgw_cert_store_t *self, xgw_arena_t *arena, int64_t now_ms,
                        uint32_t heartbeat_ms, Xgw__V1__CertSnapshot *out)
{
    int64_t now = now_ms / 1000;
    out->generation = self->generation;
    out->version = self->version;
    out->published_ms = now_ms;
    out->heartbeat_ms = heartbeat_ms;
    out->n_served_domains = self->domains.n;
    out->served_domains = xgw_arena_alloc(arena, (self->domains.n + 1) * sizeof(char *));
    if (!out->served_domains)
        return XGW_ENOMEM;
    for (size_t i = 0; i < self->domains.n; i++)
        out->served_domains[i] = self->domains.v[i];
    size_t active = 0;
    for (size_t i = 0; i < self->n_entries; i++)
        active += !self->entries[i].pending;
    out->certs = xgw_arena_alloc(arena, (active + 1) * sizeof(Xgw__V1__CertMeta *));
    if (!out->certs)
        return XGW_ENOMEM;
    out->n_certs = 0;
    for (size_t i = 0; i < self->n_entries; i++) {
        const xgw_cert_entry_t *e = &self->entries[i];
        if (e->pending)
            continue;
        Xgw__V1__CertMeta *m = xgw_arena_alloc(arena, sizeof *m);
        if (!m)
            return XGW_ENOMEM;
        xgw__v1__cert_meta__init(m);
        m->id = (char *)e->id;
        m->n_domains = e->dns.n;
        m->domains = e->dns.v;
        m->fingerprint = (char *)e->fpr;
        m->not_before = e->not_before;
        m->not_after = e->not_after;
        m->chain_path = s_pathdup(arena, self, e->id, "chain.pem");
        m->key_path = s_pathdup(arena, self, e->id, "key.pem");
        m->state = (char *)xgw_cert_store_state(e, now);
        m->key_type = (char *)e->key_type;
        m->subject = (char *)e->subject;
        m->self_signed = e->self_signed != 0;
        if (!m->chain_path || !m->key_path)
            return XGW_ENOMEM;
        out->certs[out->n_certs++] = m;
    }
    out->assignments = xgw_arena_alloc(arena, (self->n_assign + 1) * sizeof(void *));
    if (!out->assignments)
        return XGW_ENOMEM;
    out->n_assignments = self->n_assign;
    for (size_t i = 0; i < self->n_assign; i++) {
        Xgw__V1__CertAssignment *a = xgw_arena_alloc(arena, sizeof *a);
        if (!a)
            return XGW_ENOMEM;
        xgw__v1__cert_assignment__init(a);
        a->usage = (char *)self->assign[i].usage;
        a->domain = (char *)self->assign[i].domain;
        a->cert_id = (char *)self->assign[i].id;
        out->assignments[i] = a;
    }
    out->dialback_version = xgw_dialback_ring_version(self->ring);
    out->dialback_path = (char *)self->dialback_path;
    out->trust_version = self->trust_version;
    out->trust_path = (char *)self->trust_path;
    out->sip_tls_dir = (char *)self->sip_dir;
    return 0;
}
