/*
 * support_cert.c - the in-test CA; see support_cert.h.
 */
#include "support_cert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

static int
s_add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!e)
        return -1;
    int ok = X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok == 1 ? 0 : -1;
}

int
xt_cert_make(const xt_cert_spec_t *spec, const xt_cert_t *issuer, xt_cert_t *out)
{
    memset(out, 0, sizeof *out);
    EVP_PKEY *key = NULL;
    if (spec->reuse) {
        key = (EVP_PKEY *)spec->reuse;
        EVP_PKEY_up_ref(key);
    } else {
        key = spec->rsa_bits ? EVP_RSA_gen((unsigned int)spec->rsa_bits) : EVP_EC_gen("P-256");
    }
    X509 *x = X509_new();
    if (!key || !x)
        goto fail;
    unsigned char serial[12];
    RAND_bytes(serial, sizeof serial);
    serial[0] &= 0x7f;
    serial[0] |= 1;
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    X509_set_version(x, 2);
    X509_NAME *name = X509_get_subject_name(x);
    if (spec->cn)
        X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                   (const unsigned char *)spec->cn, -1, -1, 0);
    else
        X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_UTF8,
                                   (const unsigned char *)"xgw tests", -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer->cert) : name);
    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)spec->not_before);
    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)spec->not_after);
    X509_set_pubkey(x, key);
    X509 *iss = issuer ? issuer->cert : x;
    if (s_add_ext(x, iss, NID_basic_constraints, spec->ca ? "critical,CA:TRUE" : "CA:FALSE") != 0)
        goto fail;
    if (s_add_ext(x, iss, NID_key_usage,
                  spec->ca ? "critical,keyCertSign,cRLSign,digitalSignature"
                           : "critical,digitalSignature,keyEncipherment") != 0)
        goto fail;
    if (s_add_ext(x, iss, NID_subject_key_identifier, "hash") != 0)
        goto fail;
    if (issuer && s_add_ext(x, iss, NID_authority_key_identifier, "keyid") != 0)
        goto fail;
    if (spec->eku && s_add_ext(x, iss, NID_ext_key_usage, spec->eku) != 0)
        goto fail;
    if (spec->san && s_add_ext(x, iss, NID_subject_alt_name, spec->san) != 0)
        goto fail;
    if (X509_sign(x, issuer ? issuer->key : key, EVP_sha256()) <= 0)
        goto fail;
    out->cert = x;
    out->key = key;
    return 0;
fail:
    ERR_print_errors_fp(stderr);
    X509_free(x);
    EVP_PKEY_free(key);
    return -1;
}

void
xt_cert_free(xt_cert_t *c)
{
    if (!c)
        return;
    X509_free(c->cert);
    EVP_PKEY_free(c->key);
    c->cert = NULL;
    c->key = NULL;
}

int
xt_cert_write(const xt_cert_t *c, const char *cert_path, const char *key_path,
              const xt_cert_t *extra)
{
    FILE *f = fopen(cert_path, "w");
    if (!f)
        return -1;
    int ok = PEM_write_X509(f, c->cert) == 1;
    if (ok && extra)
        ok = PEM_write_X509(f, extra->cert) == 1;
    ok = fclose(f) == 0 && ok;
    if (ok && key_path) {
        f = fopen(key_path, "w");
        if (!f)
            return -1;
        ok = PEM_write_PrivateKey(f, c->key, NULL, NULL, 0, NULL, NULL) == 1;
        ok = fclose(f) == 0 && ok;
    }
    return ok ? 0 : -1;
}

int
xt_cert_write_p12(const xt_cert_t *c, const char *password, const char *path)
{
    PKCS12 *p12 = PKCS12_create(password, "xgw test", c->key, c->cert, NULL, 0, 0, 0, 0, 0);
    if (!p12)
        return -1;
    FILE *f = fopen(path, "wb");
    int ok = f && i2d_PKCS12_fp(f, p12) == 1;
    if (f)
        ok = fclose(f) == 0 && ok;
    PKCS12_free(p12);
    return ok ? 0 : -1;
}

int
xt_write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int ok = fputs(text, f) >= 0;
    ok = fclose(f) == 0 && ok;
    return ok ? 0 : -1;
}

char *
xt_read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
        if (len + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    return buf;
}

void
xt_cert_fpr(const xt_cert_t *c, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    out[0] = '\0';
    X509_digest(c->cert, EVP_sha256(), md, &n);
    for (unsigned int i = 0; i < n; i++)
        snprintf(out + 3 * i - (i ? 1 : 0), 4, "%s%02X", i ? ":" : "", md[i]);
}
