/*
 * xgw_x509.h - X.509 building blocks for certd and the edges (libcrypto
 * only): domain names (IDNA A-labels, served-domain lists), the names a
 * certificate presents, PEM / PKCS#12 parsing with reasons fit for an
 * operator, key generation, CSRs and self-signed certificates, and the facts
 * `xgwctl cert show` prints (fingerprint, validity, key type).
 *
 * Reasons: functions that refuse input write one line in plain words into
 * why (NUL-terminated, truncated to whylen; why may be NULL). They never put
 * key material into it.
 *
 * Thread safety: no state is kept between calls.
 */
#ifndef XGW_X509_H
#define XGW_X509_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define XGW_X509_DOMAIN_MAX 254   /* 253 characters + NUL */
#define XGW_X509_FPR_LEN 96       /* "AB:CD:..." for SHA-256, with NUL */
#define XGW_X509_MAX_INPUT 262144 /* largest PEM / PKCS#12 input accepted */
#define XGW_X509_MAX_SANS 100     /* SANs per certificate we issue or request */

/* Key types certd generates. */
typedef enum {
    XGW_KEY_RSA2048 = 0,
    XGW_KEY_RSA3072 = 1,
    XGW_KEY_P256 = 2,
} xgw_key_type_t;

/* ---- Domain names ---------------------------------------------------- */

/* Converts a domain name to its comparable ASCII form: lower-cases ASCII
 * letters, converts U-labels (UTF-8) to A-labels ("xn--" + Punycode, RFC
 * 3492), drops one trailing dot, and checks the result is a host name
 * (labels of 1..63 letters, digits and hyphens, not starting or ending with
 * a hyphen, 253 characters in all). Non-ASCII labels are encoded as given:
 * the caller supplies them in the NFC, lower-case form IDNA2008 requires.
 * Writes out (outlen >= XGW_X509_DOMAIN_MAX suffices). Returns 0 or
 * XGW_EINVAL (why says what is wrong). */
int xgw_x509_domain_to_ascii(const char *in, char *out, size_t outlen, char *why, size_t whylen);

/* Returns 1 if s is an IPv4 or IPv6 address literal (never a reference
 * identity for XMPP, CRT-01). */
int xgw_x509_is_ip_literal(const char *s);

/* A list of strings. Owned by whoever filled it; free with
 * xgw_x509_strv_free. */
typedef struct {
    char **v;
    size_t n;
} xgw_strv_t;

/* Appends a copy of s. Returns 0 or XGW_ENOMEM. */
int xgw_strv_add(xgw_strv_t *sv, const char *s);

/* Returns 1 if sv holds s (exact, case-sensitive). */
int xgw_strv_has(const xgw_strv_t *sv, const char *s);

/* Frees every string and the array; leaves sv empty. */
void xgw_x509_strv_free(xgw_strv_t *sv);

/* Parses a comma-separated list of domains (common.domains): each is
 * trimmed and converted with xgw_x509_domain_to_ascii; empty items,
 * duplicates and an empty list are errors. Fills *out (caller frees with
 * xgw_x509_strv_free; empty on failure). Returns 0 or XGW_EINVAL. */
int xgw_x509_domains_parse(const char *list, xgw_strv_t *out, char *why, size_t whylen);

/* ---- Names a certificate presents ---------------------------------- */

typedef struct {
    xgw_strv_t dns;  /* DNS-IDs, lower-cased as presented */
    xgw_strv_t srv;  /* SRVName otherNames (id-on-dnsSRV), as presented */
    xgw_strv_t xmpp; /* XmppAddr otherNames (id-on-xmppAddr), UTF-8 */
    size_t n_uri;    /* URI SANs (count only) */
    size_t n_other;  /* other SAN entries, and DNS-IDs with NUL bytes */
    int has_san;     /* subjectAltName present with at least one entry */
    char *cn;        /* the last subject CN as UTF-8, or NULL */
} xgw_x509_names_t;

/* Collects the presented identifiers of x into *out (zeroed first). Returns
 * 0 or XGW_ENOMEM (out is then empty). Free with xgw_x509_names_free. */
int xgw_x509_names_get(X509 *x, xgw_x509_names_t *out);

/* Frees what xgw_x509_names_get filled; leaves *n zeroed. */
void xgw_x509_names_free(xgw_x509_names_t *n);

/* ---- Parsing ------------------------------------------------------- */

/* Parses every CERTIFICATE block of the PEM text (len bytes, need not be
 * NUL-terminated). Text outside PEM blocks is ignored; a damaged block is
 * an error. On success returns 0 and *out holds at least one certificate,
 * leaf first (caller frees with OSSL_STACK_OF_X509_free-equivalent
 * sk_X509_pop_free(*out, X509_free)). On failure returns XGW_EINVAL with a
 * reason ("no PEM certificate found", "damaged PEM block", ...) and *out
 * NULL. */
int xgw_x509_parse_chain(const char *pem, size_t len, STACK_OF(X509) * *out, char *why,
                         size_t whylen);

/* Parses one unencrypted PEM private key. Returns the key (caller frees with
 * EVP_PKEY_free) or NULL with a reason; encrypted keys are refused ("the
 * private key is encrypted; decrypt it first"). */
EVP_PKEY *xgw_x509_parse_key(const char *pem, size_t len, char *why, size_t whylen);

/* Opens a PKCS#12 (DER) bundle with password (NULL = empty). On success
 * returns 0 with *key, *leaf and *chain (intermediates, possibly empty) owned
 * by the caller. Returns XGW_EINVAL with a reason on a damaged bundle, a
 * wrong password ("wrong password for the PKCS#12 file"), or a bundle
 * without key or certificate; nothing is returned then. */
int xgw_x509_parse_pkcs12(const uint8_t *der, size_t len, const char *password, EVP_PKEY **key,
                          X509 **leaf, STACK_OF(X509) * *chain, char *why, size_t whylen);

/* ---- Facts --------------------------------------------------------- */

/* SHA-256 fingerprint of the DER, upper-case hex pairs joined by ':'. */
void xgw_x509_fingerprint(X509 *x, char out[XGW_X509_FPR_LEN]);

/* Validity bounds as Unix seconds (0 if unreadable). */
int64_t xgw_x509_not_before(const X509 *x);
int64_t xgw_x509_not_after(const X509 *x);

/* One-line subject ("CN=example.net, O=...") into buf. */
void xgw_x509_subject(X509 *x, char *buf, size_t len);

/* Describes the key as "rsa2048", "p256", "p384", "ed25519", ... */
void xgw_x509_key_describe(EVP_PKEY *k, char *buf, size_t len);

/* Returns 1 if the key is at least RSA 2048 bits, EC 256 bits, or
 * Ed25519/Ed448; 0 otherwise. */
int xgw_x509_key_strong(EVP_PKEY *k);

/* Returns 1 if x may serve as a TLS server certificate by its extended key
 * usage (no EKU, serverAuth, or anyExtendedKeyUsage), 0 otherwise. */
int xgw_x509_has_server_auth(X509 *x);

/* Returns 1 if x is self-issued and its signature verifies with its own
 * key. */
int xgw_x509_is_self_signed(X509 *x);

/* Returns 1 if k is the private key of x's public key. */
int xgw_x509_key_matches(X509 *x, EVP_PKEY *k);

/* ---- Making -------------------------------------------------------- */

/* Parses "rsa2048" | "rsa3072" | "p256". Returns 0 or XGW_EINVAL. */
int xgw_x509_key_type_parse(const char *s, xgw_key_type_t *out);

/* Generates a new key. Returns it (caller frees) or NULL. */
EVP_PKEY *xgw_x509_key_new(xgw_key_type_t t);

/* Builds a CSR signed by k with subject CN=cn and the DNS SANs sans (ASCII
 * host names, at least one), requesting serverAuth and clientAuth. Returns
 * it (caller frees with X509_REQ_free) or NULL. */
X509_REQ *xgw_x509_csr_new(EVP_PKEY *k, const char *cn, const xgw_strv_t *sans);

/* Builds a self-signed certificate for k: subject CN=cn, DNS SANs sans,
 * valid from now - 5 minutes for days days, CA:FALSE, serverAuth and
 * clientAuth. Returns it (caller frees) or NULL. */
X509 *xgw_x509_self_signed_new(EVP_PKEY *k, const char *cn, const xgw_strv_t *sans, int64_t now,
                               int days);

/* PEM encodings in malloc'd NUL-terminated strings (caller frees; for a key
 * use xgw_cert_fs_free_secret(p, strlen(p) + 1) so the copy is wiped).
 * NULL on failure. chain_pem writes leaf then the stack, either may be
 * NULL. */
char *xgw_x509_chain_pem(X509 *leaf, STACK_OF(X509) * chain);
char *xgw_x509_key_pem(EVP_PKEY *k);
char *xgw_x509_csr_pem(X509_REQ *req);

/* Base64 (standard alphabet, no line breaks) decode of text (whitespace
 * ignored). Returns a malloc'd buffer (caller frees) with its length in
 * *len, or NULL if the text is not base64 or too large. */
uint8_t *xgw_x509_base64_decode(const char *text, size_t *len);

/* Base64 encode; malloc'd NUL-terminated string or NULL. */
char *xgw_x509_base64_encode(const uint8_t *data, size_t len);

/* Formats Unix seconds as "2026-01-31T12:00:00Z" (gmtime_r). */
void xgw_x509_time_format(int64_t t, char *buf, size_t len);

#endif
