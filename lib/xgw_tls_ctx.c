/*
 * xgw_tls_ctx.c - TLS contexts from certd's published metadata; see
 * xgw_tls_ctx.h.
 */
#include "xgw_tls_ctx.h"
#include "xgw_error.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>

#define S_CIPHERS_12                                                                               \
    "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL:!MD5:!RC4:!3DES:!DES:"      \
    "!EXP:!PSK:!SRP:!DSS"

typedef struct {
    char domain[256]; /* "" = default */
    char id[16];
    SSL_CTX *ctx; /* one reference per entry */
} s_slot_t;

typedef struct {
    s_slot_t *slots;
    size_t n;
} s_set_t;

struct xgw_tls {
    char usage[8];
    uint64_t generation;
    uint64_t version;
    int applied;
    s_set_t set;
};

static int s_id_index = -1;
static pthread_once_t s_once = PTHREAD_ONCE_INIT;

static void
s_free_id(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    free(ptr);
}

static void
s_init_index(void)
{
    s_id_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, s_free_id);
}

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

static void
s_set_free(s_set_t *set)
{
    for (size_t i = 0; i < set->n; i++)
        SSL_CTX_free(set->slots[i].ctx);
    free(set->slots);
    set->slots = NULL;
    set->n = 0;
}

xgw_tls_t *
xgw_tls_new(const char *usage)
{
    if (!usage || (strcmp(usage, "xmpp") != 0 && strcmp(usage, "sip") != 0))
        return NULL;
    pthread_once(&s_once, s_init_index);
    if (s_id_index < 0)
        return NULL;
    xgw_tls_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    snprintf(self->usage, sizeof self->usage, "%s", usage);
    return self;
}

void
xgw_tls_destroy(xgw_tls_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_set_free(&(*self_p)->set);
    free(*self_p);
    *self_p = NULL;
}

static const s_slot_t *
s_find(const s_set_t *set, const char *domain)
{
    for (size_t i = 0; domain && *domain && i < set->n; i++) {
        if (strcasecmp(set->slots[i].domain, domain) == 0)
            return &set->slots[i];
    }
    for (size_t i = 0; i < set->n; i++) {
        if (set->slots[i].domain[0] == '\0')
            return &set->slots[i];
    }
    return NULL;
}

static int
s_sni(SSL *ssl, int *alert, void *arg)
{
    (void)alert;
    xgw_tls_t *self = arg;
    /* OpenSSL also runs this callback on a client after ServerHello, where
     * the name is the one we sent (the remote domain): swapping contexts
     * there would replace our own client certificate with the default
     * one, and the peer would refuse SASL EXTERNAL. */
    if (!SSL_is_server(ssl))
        return SSL_TLSEXT_ERR_OK;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    /* No SNI (Prosody 0.12 sends none on s2s STARTTLS): keep the context
     * the caller chose from the stream's 'to' (CRT-10); the default one
     * would present the wrong certificate. */
    if (!name || !*name)
        return SSL_TLSEXT_ERR_OK;
    SSL_CTX *want = xgw_tls_ctx_for(self, name);
    if (want && want != SSL_get_SSL_CTX(ssl))
        SSL_set_SSL_CTX(ssl, want);
    return SSL_TLSEXT_ERR_OK;
}

static int
s_verify_any(int ok, X509_STORE_CTX *ctx)
{
    (void)ok;
    (void)ctx;
    return 1; /* judged after the handshake, against the stream's domain */
}

static int
s_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
       unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    static const unsigned char want[] = "\x0bxmpp-server";
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, want, sizeof want - 1, in, inlen) ==
        OPENSSL_NPN_NEGOTIATED) {
        *out = sel;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

static SSL_CTX *
s_build(xgw_tls_t *self, const Xgw__V1__CertMeta *m, char *why, size_t whylen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    char *id = strdup(m->id ? m->id : "");
    if (!ctx || !id) {
        SSL_CTX_free(ctx);
        free(id);
        s_why(why, whylen, "out of memory");
        return NULL;
    }
    SSL_CTX_set_ex_data(ctx, s_id_index, id);
    int ok = SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1;
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_security_level(ctx, 2);
    ok = ok && SSL_CTX_set_cipher_list(ctx, S_CIPHERS_12) == 1;
    ok = ok && SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"xgw", 3) == 1;
    if (!ok) {
        s_why(why, whylen, "cannot set the TLS parameters");
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, m->chain_path) != 1) {
        s_why(why, whylen, "certificate %s: cannot load %s", m->id, m->chain_path);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, m->key_path, SSL_FILETYPE_PEM) != 1) {
        s_why(why, whylen, "certificate %s: cannot load its key %s", m->id, m->key_path);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        s_why(why, whylen, "certificate %s: the key does not match", m->id);
        goto fail;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, s_verify_any);
    SSL_CTX_set_tlsext_servername_callback(ctx, s_sni);
    SSL_CTX_set_tlsext_servername_arg(ctx, self);
    if (strcmp(self->usage, "xmpp") == 0)
        SSL_CTX_set_alpn_select_cb(ctx, s_alpn, NULL);
    ERR_clear_error();
    return ctx;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

static const Xgw__V1__CertMeta *
s_meta(const Xgw__V1__CertSnapshot *snap, const char *id)
{
    for (size_t i = 0; i < snap->n_certs; i++) {
        if (strcmp(snap->certs[i]->id, id) == 0)
            return snap->certs[i];
    }
    return NULL;
}

/* An already built context for id, in the new set or the old one. */
static SSL_CTX *
s_reuse(const s_set_t *a, const s_set_t *b, const char *id)
{
    const s_set_t *sets[] = {a, b};
    for (size_t s = 0; s < 2; s++) {
        for (size_t i = 0; i < sets[s]->n; i++) {
            if (strcmp(sets[s]->slots[i].id, id) == 0)
                return sets[s]->slots[i].ctx;
        }
    }
    return NULL;
}

int
xgw_tls_apply(xgw_tls_t *self, const Xgw__V1__CertSnapshot *snap, char *why, size_t whylen)
{
    if (!self || !snap)
        return XGW_EINVAL;
    if (self->applied && snap->generation == self->generation && snap->version == self->version)
        return 0;
    s_set_t fresh = {0};
    fresh.slots = calloc(snap->n_assignments + 1, sizeof *fresh.slots);
    if (!fresh.slots)
        return XGW_ENOMEM;
    for (size_t i = 0; i < snap->n_assignments; i++) {
        const Xgw__V1__CertAssignment *a = snap->assignments[i];
        if (strcmp(a->usage, self->usage) != 0)
            continue;
        const Xgw__V1__CertMeta *m = s_meta(snap, a->cert_id);
        if (!m) {
            s_why(why, whylen, "assignment of %s names unknown certificate %s", a->domain,
                  a->cert_id);
            s_set_free(&fresh);
            return XGW_EINVAL;
        }
        SSL_CTX *ctx = s_reuse(&fresh, &self->set, m->id);
        if (ctx) {
            SSL_CTX_up_ref(ctx);
        } else {
            ctx = s_build(self, m, why, whylen);
            if (!ctx) {
                s_set_free(&fresh);
                return XGW_EIO;
            }
        }
        s_slot_t *slot = &fresh.slots[fresh.n++];
        snprintf(slot->domain, sizeof slot->domain, "%s", a->domain ? a->domain : "");
        snprintf(slot->id, sizeof slot->id, "%s", m->id);
        slot->ctx = ctx;
    }
    s_set_free(&self->set);
    self->set = fresh;
    self->generation = snap->generation;
    self->version = snap->version;
    self->applied = 1;
    return 1;
}

SSL_CTX *
xgw_tls_server_ctx(xgw_tls_t *self)
{
    if (!self)
        return NULL;
    const s_slot_t *s = s_find(&self->set, NULL);
    if (!s && self->set.n > 0)
        s = &self->set.slots[0];
    return s ? s->ctx : NULL;
}

SSL_CTX *
xgw_tls_ctx_for(xgw_tls_t *self, const char *domain)
{
    if (!self)
        return NULL;
    const s_slot_t *s = s_find(&self->set, domain);
    return s ? s->ctx : xgw_tls_server_ctx(self);
}

const char *
xgw_tls_ctx_cert_id(const SSL_CTX *ctx)
{
    if (!ctx || s_id_index < 0)
        return "";
    const char *id = SSL_CTX_get_ex_data(ctx, s_id_index);
    return id ? id : "";
}

uint64_t
xgw_tls_version(const xgw_tls_t *self)
{
    return self ? self->version : 0;
}
