/*
 * support_cert.h - a test CA made inside the test with the OpenSSL API:
 * certificates with exactly the names, usages, constraints, keys and
 * validity a test case needs. Linked into every integration test; the unit
 * tests include support_cert.c directly.
 */
#ifndef XGW_SUPPORT_CERT_H
#define XGW_SUPPORT_CERT_H

#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

typedef struct {
    int rsa_bits;          /* 0: an EC P-256 key */
    const char *cn;        /* subject CN; NULL for none */
    const char *san;       /* X509v3 SAN text ("DNS:a,otherName:..."); NULL for none */
    const char *eku;       /* "serverAuth", "clientAuth", ...; NULL for no EKU */
    int ca;                /* 1: CA:TRUE + keyCertSign; 0: CA:FALSE */
    int64_t not_before;    /* Unix seconds */
    int64_t not_after;     /* Unix seconds */
    const EVP_PKEY *reuse; /* use this key instead of a new one (borrowed) */
} xt_cert_spec_t;

typedef struct {
    X509 *cert;
    EVP_PKEY *key;
} xt_cert_t;

/* Issues a certificate per spec, signed by issuer (NULL: self-signed).
 * Returns 0 and fills *out (free with xt_cert_free), or -1. */
int xt_cert_make(const xt_cert_spec_t *spec, const xt_cert_t *issuer, xt_cert_t *out);

/* Frees what xt_cert_make filled. */
void xt_cert_free(xt_cert_t *c);

/* Writes the certificate (and, when key_path is not NULL, the key) as PEM.
 * extra (may be NULL) is appended to the certificate file (a chain).
 * Returns 0 or -1. */
int xt_cert_write(const xt_cert_t *c, const char *cert_path, const char *key_path,
                  const xt_cert_t *extra);

/* Writes a PKCS#12 bundle of c (key + certificate) protected by password.
 * Returns 0 or -1. */
int xt_cert_write_p12(const xt_cert_t *c, const char *password, const char *path);

/* Writes text to path. Returns 0 or -1. */
int xt_write_text(const char *path, const char *text);

/* Reads a whole file into a malloc'd string (caller frees), or NULL. */
char *xt_read_text(const char *path);

/* SHA-256 fingerprint "AB:CD:..." of c's certificate into out (96 bytes). */
void xt_cert_fpr(const xt_cert_t *c, char *out);

#endif
