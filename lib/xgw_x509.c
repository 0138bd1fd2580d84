/*
 * xgw_x509.c - X.509 helpers; see xgw_x509.h.
 */
#include "xgw_x509.h"
#include "xgw_error.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

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

/* ---- strv ------------------------------------------------------------ */

int
xgw_strv_add(xgw_strv_t *sv, const char *s)
{
    char **nv = realloc(sv->v, (sv->n + 1) * sizeof *nv);
    if (!nv)
        return XGW_ENOMEM;
    sv->v = nv;
    nv[sv->n] = strdup(s ? s : "");
    if (!nv[sv->n])
        return XGW_ENOMEM;
    sv->n++;
    return 0;
}

int
xgw_strv_has(const xgw_strv_t *sv, const char *s)
{
    for (size_t i = 0; i < sv->n; i++) {
        if (strcmp(sv->v[i], s) == 0)
            return 1;
    }
    return 0;
}

void
xgw_x509_strv_free(xgw_strv_t *sv)
{
    if (!sv)
        return;
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    sv->v = NULL;
    sv->n = 0;
}

/* ---- Punycode (RFC 3492, encoder only) ---------------------------------- */

enum { P_BASE = 36, P_TMIN = 1, P_TMAX = 26, P_SKEW = 38, P_DAMP = 700 };

static uint32_t
s_adapt(uint32_t delta, uint32_t numpoints, int first)
{
    delta = first ? delta / P_DAMP : delta / 2;
    delta += delta / numpoints;
    uint32_t k = 0;
    while (delta > ((P_BASE - P_TMIN) * P_TMAX) / 2) {
        delta /= P_BASE - P_TMIN;
        k += P_BASE;
    }
    return k + (((P_BASE - P_TMIN + 1) * delta) / (delta + P_SKEW));
}

static char
s_digit(uint32_t d)
{
    return (char)(d < 26 ? 'a' + d : '0' + (d - 26));
}

/* Decodes UTF-8 into code points. Returns the count, or -1 when invalid. */
static int
s_utf8_decode(const char *s, size_t len, uint32_t *cp, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        uint32_t v;
        size_t extra;
        if (c < 0x80) {
            v = c;
            extra = 0;
        } else if ((c & 0xe0) == 0xc0) {
            v = c & 0x1f;
            extra = 1;
        } else if ((c & 0xf0) == 0xe0) {
            v = c & 0x0f;
            extra = 2;
        } else if ((c & 0xf8) == 0xf0) {
            v = c & 0x07;
            extra = 3;
        } else {
            return -1;
        }
        if (extra > 0 && i + extra >= len)
            return -1;
        for (size_t k = 1; k <= extra; k++) {
            unsigned char cc = (unsigned char)s[i + k];
            if ((cc & 0xc0) != 0x80)
                return -1;
            v = (v << 6) | (cc & 0x3f);
        }
        static const uint32_t min_for[] = {0, 0x80, 0x800, 0x10000};
        if (v < min_for[extra] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
            return -1; /* overlong, out of range, or a surrogate */
        if (n >= max)
            return -1;
        cp[n++] = v;
        i += extra + 1;
    }
    return (int)n;
}

/* Encodes the label (UTF-8, len bytes) as "xn--..." into out. */
static int
s_punycode_label(const char *label, size_t len, char *out, size_t outlen)
{
    uint32_t cp[64];
    int count = s_utf8_decode(label, len, cp, sizeof cp / sizeof cp[0]);
    if (count <= 0)
        return XGW_EINVAL;
    size_t o = 0;
    if (outlen < 5)
        return XGW_ERANGE;
    memcpy(out, "xn--", 4);
    o = 4;
    uint32_t b = 0;
    for (int i = 0; i < count; i++) {
        if (cp[i] < 0x80) {
            if (o + 1 >= outlen)
                return XGW_ERANGE;
            out[o++] = (char)cp[i];
            b++;
        }
    }
    uint32_t h = b;
    if (b > 0) {
        if (o + 1 >= outlen)
            return XGW_ERANGE;
        out[o++] = '-';
    }
    uint32_t n = 0x80, delta = 0, bias = 72;
    while (h < (uint32_t)count) {
        uint32_t m = UINT32_MAX;
        for (int i = 0; i < count; i++) {
            if (cp[i] >= n && cp[i] < m)
                m = cp[i];
        }
        if ((uint64_t)(m - n) * (h + 1) + delta > UINT32_MAX)
            return XGW_ERANGE;
        delta += (m - n) * (h + 1);
        n = m;
        for (int i = 0; i < count; i++) {
            if (cp[i] < n)
                delta++;
            if (cp[i] != n)
                continue;
            uint32_t q = delta;
            for (uint32_t k = P_BASE;; k += P_BASE) {
                uint32_t t = k <= bias ? P_TMIN : k >= bias + P_TMAX ? P_TMAX : k - bias;
                if (q < t)
                    break;
                if (o + 1 >= outlen)
                    return XGW_ERANGE;
                out[o++] = s_digit(t + (q - t) % (P_BASE - t));
                q = (q - t) / (P_BASE - t);
            }
            if (o + 1 >= outlen)
                return XGW_ERANGE;
            out[o++] = s_digit(q);
            bias = s_adapt(delta, h + 1, h == b);
            delta = 0;
            h++;
        }
        delta++;
        n++;
    }
    out[o] = '\0';
    return 0;
}

/* ---- Domain names ------------------------------------------------------ */

static int
s_ldh_label_ok(const char *l, size_t n)
{
    if (n == 0 || n > 63 || l[0] == '-' || l[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = l[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return 0;
    }
    return 1;
}

int
xgw_x509_domain_to_ascii(const char *in, char *out, size_t outlen, char *why, size_t whylen)
{
    if (!in || !out || outlen == 0) {
        s_why(why, whylen, "no domain given");
        return XGW_EINVAL;
    }
    size_t len = strlen(in);
    if (len > 0 && in[len - 1] == '.')
        len--;
    if (len == 0) {
        s_why(why, whylen, "empty domain name");
        return XGW_EINVAL;
    }
    if (len > 1024) {
        s_why(why, whylen, "domain name is too long");
        return XGW_EINVAL;
    }
    size_t o = 0;
    size_t start = 0;
    while (start <= len) {
        size_t end = start;
        while (end < len && in[end] != '.')
            end++;
        const char *label = in + start;
        size_t n = end - start;
        int ascii = 1;
        for (size_t i = 0; i < n; i++) {
            if ((unsigned char)label[i] >= 0x80)
                ascii = 0;
        }
        char buf[128];
        if (ascii) {
            if (n >= sizeof buf) {
                s_why(why, whylen, "label \"%.*s...\" is longer than 63 characters", 20, label);
                return XGW_EINVAL;
            }
            for (size_t i = 0; i < n; i++)
                buf[i] = (char)tolower((unsigned char)label[i]);
            buf[n] = '\0';
        } else if (s_punycode_label(label, n, buf, sizeof buf) != 0) {
            s_why(why, whylen, "\"%s\" is not a valid internationalized domain name", in);
            return XGW_EINVAL;
        }
        size_t bl = strlen(buf);
        if (!s_ldh_label_ok(buf, bl)) {
            if (bl == 0)
                s_why(why, whylen, "\"%s\" has an empty label", in);
            else if (bl > 63)
                s_why(why, whylen, "\"%s\" has a label longer than 63 characters", in);
            else
                s_why(why, whylen,
                      "\"%s\" is not a domain name (labels are letters, digits and inner "
                      "hyphens)",
                      in);
            return XGW_EINVAL;
        }
        if (o + bl + 2 > outlen || o + bl > 253) {
            s_why(why, whylen, "domain name is longer than 253 characters");
            return XGW_EINVAL;
        }
        if (o > 0)
            out[o++] = '.';
        memcpy(out + o, buf, bl);
        o += bl;
        out[o] = '\0';
        if (end >= len)
            break;
        start = end + 1;
        if (start == len) {
            s_why(why, whylen, "\"%s\" has an empty label", in);
            return XGW_EINVAL;
        }
    }
    return 0;
}

int
xgw_x509_is_ip_literal(const char *s)
{
    unsigned char buf[16];
    if (!s)
        return 0;
    if (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1)
        return 1;
    if (s[0] == '[')
        return 1; /* bracketed IPv6 */
    return 0;
}

int
xgw_x509_domains_parse(const char *list, xgw_strv_t *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    if (!list) {
        s_why(why, whylen, "no domain list");
        return XGW_EINVAL;
    }
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        while (n > 0 && isspace((unsigned char)*p)) {
            p++;
            n--;
        }
        while (n > 0 && isspace((unsigned char)p[n - 1]))
            n--;
        char item[512];
        char ascii[XGW_X509_DOMAIN_MAX];
        char sub[256];
        if (n == 0) {
            s_why(why, whylen, "empty item in the domain list \"%s\"", list);
            goto fail;
        }
        if (n >= sizeof item) {
            s_why(why, whylen, "domain name is too long");
            goto fail;
        }
        memcpy(item, p, n);
        item[n] = '\0';
        if (xgw_x509_domain_to_ascii(item, ascii, sizeof ascii, sub, sizeof sub) != 0) {
            s_why(why, whylen, "%s", sub);
            goto fail;
        }
        if (xgw_strv_has(out, ascii)) {
            s_why(why, whylen, "domain \"%s\" is listed twice", ascii);
            goto fail;
        }
        if (xgw_strv_add(out, ascii) != 0) {
            s_why(why, whylen, "out of memory");
            goto fail;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
fail:
    xgw_x509_strv_free(out);
    return XGW_EINVAL;
}

/* ---- Names ------------------------------------------------------------ */

/* Copies an ASN1 string into a new C string; NULL if it holds a NUL byte. */
static char *
s_asn1_cstr(const ASN1_STRING *a, int lower)
{
    int len = ASN1_STRING_length(a);
    const unsigned char *d = ASN1_STRING_get0_data(a);
    if (len < 0 || !d || memchr(d, '\0', (size_t)len))
        return NULL;
    char *s = malloc((size_t)len + 1);
    if (!s)
        return NULL;
    for (int i = 0; i < len; i++)
        s[i] = (char)(lower ? tolower(d[i]) : d[i]);
    s[len] = '\0';
    return s;
}

static int
s_add_owned(xgw_strv_t *sv, char *s)
{
    int rc = xgw_strv_add(sv, s);
    free(s);
    return rc;
}

int
xgw_x509_names_get(X509 *x, xgw_x509_names_t *out)
{
    memset(out, 0, sizeof *out);
    if (!x)
        return XGW_EINVAL;
    int rc = 0;
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens) && rc == 0; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        out->has_san = 1;
        if (g->type == GEN_DNS) {
            char *s = s_asn1_cstr(g->d.dNSName, 1);
            if (s)
                rc = s_add_owned(&out->dns, s);
            else
                out->n_other++;
        } else if (g->type == GEN_URI) {
            out->n_uri++;
        } else if (g->type == GEN_OTHERNAME) {
            int nid = OBJ_obj2nid(g->d.otherName->type_id);
            const ASN1_TYPE *v = g->d.otherName->value;
            char *s = NULL;
            if (nid == NID_SRVName && v && v->type == V_ASN1_IA5STRING)
                s = s_asn1_cstr(v->value.ia5string, 0);
            else if (nid == NID_XmppAddr && v && v->type == V_ASN1_UTF8STRING)
                s = s_asn1_cstr(v->value.utf8string, 0);
            if (s)
                rc = s_add_owned(nid == NID_SRVName ? &out->srv : &out->xmpp, s);
            else
                out->n_other++;
        } else {
            out->n_other++;
        }
    }
    GENERAL_NAMES_free(gens);

    const X509_NAME *subj = X509_get_subject_name(x);
    int last = -1;
    for (;;) {
        int next = X509_NAME_get_index_by_NID(subj, NID_commonName, last);
        if (next < 0)
            break;
        last = next;
    }
    if (rc == 0 && last >= 0) {
        const ASN1_STRING *a = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, last));
        unsigned char *utf8 = NULL;
        int n = ASN1_STRING_to_UTF8(&utf8, a);
        if (n >= 0 && utf8 && !memchr(utf8, '\0', (size_t)n)) {
            out->cn = malloc((size_t)n + 1);
            if (out->cn) {
                memcpy(out->cn, utf8, (size_t)n);
                out->cn[n] = '\0';
            } else {
                rc = XGW_ENOMEM;
            }
        }
        OPENSSL_free(utf8);
    }
    if (rc != 0)
        xgw_x509_names_free(out);
    return rc;
}

void
xgw_x509_names_free(xgw_x509_names_t *n)
{
    if (!n)
        return;
    xgw_x509_strv_free(&n->dns);
    xgw_x509_strv_free(&n->srv);
    xgw_x509_strv_free(&n->xmpp);
    free(n->cn);
    memset(n, 0, sizeof *n);
}

/* ---- Parsing ---------------------------------------------------------- */

static int
s_is_text(const char *p, size_t len)
{
    return len > 0 && !memchr(p, '\0', len);
}

int
xgw_x509_parse_chain(const char *pem, size_t len, STACK_OF(X509) * *out, char *why, size_t whylen)
{
    *out = NULL;
    if (!pem || len == 0) {
        s_why(why, whylen, "empty input: no PEM certificate found");
        return XGW_EINVAL;
    }
    if (len > XGW_X509_MAX_INPUT) {
        s_why(why, whylen, "input is larger than %d bytes", XGW_X509_MAX_INPUT);
        return XGW_EINVAL;
    }
    if (!s_is_text(pem, len)) {
        s_why(why, whylen, "not PEM text (binary data; convert DER with openssl x509 -inform der)");
        return XGW_EINVAL;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    STACK_OF(X509) *sk = sk_X509_new_null();
    if (!bio || !sk) {
        BIO_free(bio);
        sk_X509_free(sk);
        s_why(why, whylen, "out of memory");
        return XGW_ENOMEM;
    }
    ERR_clear_error();
    int rc = 0;
    for (;;) {
        X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (!x) {
            unsigned long e = ERR_peek_last_error();
            if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
                break; /* no more blocks */
            s_why(why, whylen, "damaged PEM certificate block (certificate %d): %s",
                  sk_X509_num(sk) + 1,
                  ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "");
            rc = XGW_EINVAL;
            break;
        }
        if (!sk_X509_push(sk, x)) {
            X509_free(x);
            rc = XGW_ENOMEM;
            break;
        }
        if (sk_X509_num(sk) > 16) {
            s_why(why, whylen, "more than 16 certificates in one file");
            rc = XGW_EINVAL;
            break;
        }
    }
    ERR_clear_error();
    BIO_free(bio);
    if (rc == 0 && sk_X509_num(sk) == 0) {
        if (strstr(pem, "PRIVATE KEY-----"))
            s_why(why, whylen, "no PEM certificate found (the file holds a private key)");
        else if (strstr(pem, "CERTIFICATE REQUEST-----"))
            s_why(why, whylen, "no PEM certificate found (the file holds a certificate request)");
        else
            s_why(why, whylen, "no PEM certificate found");
        rc = XGW_EINVAL;
    }
    if (rc != 0) {
        sk_X509_pop_free(sk, X509_free);
        return rc;
    }
    *out = sk;
    return 0;
}

static int
s_no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

EVP_PKEY *
xgw_x509_parse_key(const char *pem, size_t len, char *why, size_t whylen)
{
    if (!pem || len == 0) {
        s_why(why, whylen, "empty input: no PEM private key found");
        return NULL;
    }
    if (len > XGW_X509_MAX_INPUT || !s_is_text(pem, len)) {
        s_why(why, whylen, "not a PEM private key");
        return NULL;
    }
    if (!memmem(pem, len, "-----BEGIN ", 11) || !memmem(pem, len, "PRIVATE KEY-----", 16)) {
        s_why(why, whylen, "no PEM private key found");
        return NULL;
    }
    if (memmem(pem, len, "ENCRYPTED", 9)) {
        s_why(why, whylen,
              "the private key is encrypted; decrypt it first (openssl pkey -in "
              "FILE -out PLAIN)");
        return NULL;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio) {
        s_why(why, whylen, "out of memory");
        return NULL;
    }
    ERR_clear_error();
    EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, s_no_password, NULL);
    BIO_free(bio);
    if (!k) {
        unsigned long e = ERR_peek_last_error();
        if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
            s_why(why, whylen, "no PEM private key found");
        else
            s_why(why, whylen, "damaged PEM private key");
    }
    ERR_clear_error();
    return k;
}

int
xgw_x509_parse_pkcs12(const uint8_t *der, size_t len, const char *password, EVP_PKEY **key,
                      X509 **leaf, STACK_OF(X509) * *chain, char *why, size_t whylen)
{
    *key = NULL;
    *leaf = NULL;
    *chain = NULL;
    if (!der || len == 0 || len > XGW_X509_MAX_INPUT) {
        s_why(why, whylen, "empty or oversized PKCS#12 input");
        return XGW_EINVAL;
    }
    ERR_clear_error();
    const unsigned char *p = der;
    PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)len);
    if (!p12) {
        ERR_clear_error();
        s_why(why, whylen, "not a PKCS#12 file");
        return XGW_EINVAL;
    }
    const char *pw = password ? password : "";
    if (PKCS12_mac_present(p12) && !PKCS12_verify_mac(p12, pw, -1)) {
        /* An empty password may be encoded as NULL instead of "". */
        if (*pw != '\0' || !PKCS12_verify_mac(p12, NULL, 0)) {
            PKCS12_free(p12);
            ERR_clear_error();
            s_why(why, whylen, "wrong password for the PKCS#12 file");
            return XGW_EINVAL;
        }
    }
    EVP_PKEY *k = NULL;
    X509 *x = NULL;
    STACK_OF(X509) *ca = NULL;
    int ok = PKCS12_parse(p12, pw, &k, &x, &ca);
    PKCS12_free(p12);
    ERR_clear_error();
    if (!ok) {
        s_why(why, whylen,
              "cannot read the PKCS#12 file (damaged, or an algorithm this build "
              "does not support)");
        return XGW_EINVAL;
    }
    if (!k || !x) {
        EVP_PKEY_free(k);
        X509_free(x);
        sk_X509_pop_free(ca, X509_free);
        s_why(why, whylen, "the PKCS#12 file holds no %s", !k ? "private key" : "certificate");
        return XGW_EINVAL;
    }
    if (!ca)
        ca = sk_X509_new_null();
    *key = k;
    *leaf = x;
    *chain = ca;
    return 0;
}

/* ---- Facts ------------------------------------------------------------ */

void
xgw_x509_fingerprint(X509 *x, char out[XGW_X509_FPR_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    out[0] = '\0';
    if (!x || X509_digest(x, EVP_sha256(), md, &n) != 1)
        return;
    size_t o = 0;
    for (unsigned int i = 0; i < n && o + 4 <= XGW_X509_FPR_LEN; i++) {
        snprintf(out + o, XGW_X509_FPR_LEN - o, "%s%02X", i ? ":" : "", md[i]);
        o += i ? 3 : 2;
    }
}

static int64_t
s_asn1_time(const ASN1_TIME *t)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

int64_t
xgw_x509_not_before(const X509 *x)
{
    return x ? s_asn1_time(X509_get0_notBefore(x)) : 0;
}

int64_t
xgw_x509_not_after(const X509 *x)
{
    return x ? s_asn1_time(X509_get0_notAfter(x)) : 0;
}

void
xgw_x509_subject(X509 *x, char *buf, size_t len)
{
    if (len == 0)
        return;
    buf[0] = '\0';
    BIO *b = BIO_new(BIO_s_mem());
    if (!b || !x) {
        BIO_free(b);
        return;
    }
    X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    if (n > 0 && data) {
        size_t c = (size_t)n < len - 1 ? (size_t)n : len - 1;
        memcpy(buf, data, c);
        buf[c] = '\0';
        for (size_t i = 0; i < c; i++) {
            if ((unsigned char)buf[i] < 0x20)
                buf[i] = '?';
        }
    }
    BIO_free(b);
}

void
xgw_x509_key_describe(EVP_PKEY *k, char *buf, size_t len)
{
    if (!k) {
        snprintf(buf, len, "none");
        return;
    }
    int id = EVP_PKEY_get_base_id(k);
    int bits = EVP_PKEY_get_bits(k);
    if (id == EVP_PKEY_RSA) {
        snprintf(buf, len, "rsa%d", bits);
    } else if (id == EVP_PKEY_EC) {
        char group[64] = "";
        size_t gl = 0;
        if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                           &gl) != 1)
            group[0] = '\0';
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
            snprintf(buf, len, "p256");
        else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
            snprintf(buf, len, "p384");
        else if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0)
            snprintf(buf, len, "p521");
        else
            snprintf(buf, len, "ec%d", bits);
    } else if (id == EVP_PKEY_ED25519) {
        snprintf(buf, len, "ed25519");
    } else if (id == EVP_PKEY_ED448) {
        snprintf(buf, len, "ed448");
    } else if (id == EVP_PKEY_DSA) {
        snprintf(buf, len, "dsa%d", bits);
    } else {
        snprintf(buf, len, "other%d", bits);
    }
}

int
xgw_x509_key_strong(EVP_PKEY *k)
{
    if (!k)
        return 0;
    int id = EVP_PKEY_get_base_id(k);
    int bits = EVP_PKEY_get_bits(k);
    if (id == EVP_PKEY_RSA)
        return bits >= 2048;
    if (id == EVP_PKEY_EC)
        return bits >= 256;
    return id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448;
}

int
xgw_x509_has_server_auth(X509 *x)
{
    if (!x)
        return 0;
    uint32_t flags = X509_get_extension_flags(x);
    if (flags & EXFLAG_INVALID)
        return 0;
    if (!(flags & EXFLAG_XKUSAGE))
        return 1;
    uint32_t xku = X509_get_extended_key_usage(x);
    return (xku & (XKU_SSL_SERVER | XKU_ANYEKU)) != 0;
}

int
xgw_x509_is_self_signed(X509 *x)
{
    if (!x)
        return 0;
    int r = X509_self_signed(x, 1);
    ERR_clear_error();
    return r == 1;
}

int
xgw_x509_key_matches(X509 *x, EVP_PKEY *k)
{
    if (!x || !k)
        return 0;
    const EVP_PKEY *pub = X509_get0_pubkey(x);
    int r = pub ? EVP_PKEY_eq(pub, k) : 0;
    ERR_clear_error();
    return r == 1;
}

/* ---- Making ------------------------------------------------------------ */

int
xgw_x509_key_type_parse(const char *s, xgw_key_type_t *out)
{
    if (!s)
        return XGW_EINVAL;
    if (strcmp(s, "rsa2048") == 0)
        *out = XGW_KEY_RSA2048;
    else if (strcmp(s, "rsa3072") == 0)
        *out = XGW_KEY_RSA3072;
    else if (strcmp(s, "p256") == 0)
        *out = XGW_KEY_P256;
    else
        return XGW_EINVAL;
    return 0;
}

EVP_PKEY *
xgw_x509_key_new(xgw_key_type_t t)
{
    EVP_PKEY *k = NULL;
    switch (t) {
    case XGW_KEY_RSA2048:
        k = EVP_RSA_gen(2048);
        break;
    case XGW_KEY_RSA3072:
        k = EVP_RSA_gen(3072);
        break;
    case XGW_KEY_P256:
        k = EVP_EC_gen("P-256");
        break;
    }
    ERR_clear_error();
    return k;
}

/* "DNS:a,DNS:b" for the SAN extension; NULL if it does not fit. */
static char *
s_san_value(const xgw_strv_t *sans)
{
    size_t cap = 1;
    for (size_t i = 0; i < sans->n; i++)
        cap += strlen(sans->v[i]) + 5;
    char *v = malloc(cap);
    if (!v)
        return NULL;
    size_t o = 0;
    v[0] = '\0';
    for (size_t i = 0; i < sans->n; i++) {
        int n = snprintf(v + o, cap - o, "%sDNS:%s", i ? "," : "", sans->v[i]);
        if (n < 0 || (size_t)n >= cap - o) {
            free(v);
            return NULL;
        }
        o += (size_t)n;
    }
    return v;
}

static int
s_sans_ok(const xgw_strv_t *sans)
{
    if (!sans || sans->n == 0 || sans->n > XGW_X509_MAX_SANS)
        return 0;
    for (size_t i = 0; i < sans->n; i++) {
        const char *s = sans->v[i];
        size_t n = strlen(s);
        if (n == 0 || n > 253)
            return 0;
        for (size_t k = 0; k < n; k++) {
            char c = s[k];
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
                return 0;
        }
    }
    return 1;
}

static int
s_name_cn(X509_NAME *name, const char *cn)
{
    /* A CN is at most 64 characters (RFC 5280 ub-common-name). */
    char buf[65];
    snprintf(buf, sizeof buf, "%s", cn);
    return X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                      (const unsigned char *)buf, -1, -1, 0);
}

static const char *
s_key_usage(EVP_PKEY *k)
{
    return EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA ? "critical,digitalSignature,keyEncipherment"
                                                   : "critical,digitalSignature";
}

X509_REQ *
xgw_x509_csr_new(EVP_PKEY *k, const char *cn, const xgw_strv_t *sans)
{
    if (!k || !cn || !s_sans_ok(sans))
        return NULL;
    X509_REQ *req = X509_REQ_new();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    char *san = s_san_value(sans);
    X509_NAME *name = X509_NAME_new();
    int ok = req && exts && san && name;
    ok = ok && X509_REQ_set_version(req, 0) == 1;
    ok = ok && s_name_cn(name, cn) == 1 && X509_REQ_set_subject_name(req, name) == 1;
    ok = ok && X509_REQ_set_pubkey(req, k) == 1;
    const struct {
        int nid;
        const char *value;
    } ext[] = {
        {NID_subject_alt_name, san},
        {NID_key_usage, s_key_usage(k)},
        {NID_ext_key_usage, "serverAuth,clientAuth"},
    };
    for (size_t i = 0; ok && i < sizeof ext / sizeof ext[0]; i++) {
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL, ext[i].nid, ext[i].value);
        ok = e && sk_X509_EXTENSION_push(exts, e);
        if (!ok)
            X509_EXTENSION_free(e);
    }
    ok = ok && X509_REQ_add_extensions(req, exts) == 1;
    ok = ok && X509_REQ_sign(req, k, EVP_sha256()) > 0;
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_NAME_free(name);
    free(san);
    ERR_clear_error();
    if (!ok) {
        X509_REQ_free(req);
        return NULL;
    }
    return req;
}

X509 *
xgw_x509_self_signed_new(EVP_PKEY *k, const char *cn, const xgw_strv_t *sans, int64_t now, int days)
{
    if (!k || !cn || !s_sans_ok(sans) || days < 1 || days > 3650)
        return NULL;
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    char *san = s_san_value(sans);
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    int ok = x && name && san && RAND_bytes(serial, sizeof serial) == 1;
    if (ok) {
        serial[0] &= 0x7f; /* positive */
        serial[0] |= 0x01; /* and non-zero */
        bn = BN_bin2bn(serial, sizeof serial, NULL);
        ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    }
    ok = ok && X509_set_version(x, 2) == 1;
    ok = ok && s_name_cn(name, cn) == 1 && X509_set_subject_name(x, name) == 1 &&
         X509_set_issuer_name(x, name) == 1;
    time_t base = (time_t)now;
    ok = ok && X509_time_adj_ex(X509_getm_notBefore(x), 0, -300, &base);
    ok = ok && X509_time_adj_ex(X509_getm_notAfter(x), days, 0, &base);
    ok = ok && X509_set_pubkey(x, k) == 1;
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    const struct {
        int nid;
        const char *value;
    } ext[] = {
        {NID_basic_constraints, "critical,CA:FALSE"},
        {NID_key_usage, s_key_usage(k)},
        {NID_ext_key_usage, "serverAuth,clientAuth"},
        {NID_subject_key_identifier, "hash"},
        {NID_subject_alt_name, san},
    };
    for (size_t i = 0; ok && i < sizeof ext / sizeof ext[0]; i++) {
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, ext[i].nid, ext[i].value);
        ok = e && X509_add_ext(x, e, -1) == 1;
        X509_EXTENSION_free(e);
    }
    ok = ok && X509_sign(x, k, EVP_sha256()) > 0;
    BN_free(bn);
    X509_NAME_free(name);
    free(san);
    ERR_clear_error();
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static char *
s_bio_string(BIO *b)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    if (n < 0 || !data)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    memcpy(s, data, (size_t)n);
    s[n] = '\0';
    return s;
}

char *
xgw_x509_chain_pem(X509 *leaf, STACK_OF(X509) * chain)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (!b)
        return NULL;
    int ok = 1;
    if (leaf)
        ok = PEM_write_bio_X509(b, leaf) == 1;
    for (int i = 0; ok && chain && i < sk_X509_num(chain); i++)
        ok = PEM_write_bio_X509(b, sk_X509_value(chain, i)) == 1;
    char *s = ok ? s_bio_string(b) : NULL;
    BIO_free(b);
    return s;
}

char *
xgw_x509_key_pem(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_secmem());
    if (!b)
        b = BIO_new(BIO_s_mem());
    if (!b || !k) {
        BIO_free(b);
        return NULL;
    }
    char *s = NULL;
    if (PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1)
        s = s_bio_string(b);
    BIO_free(b); /* secmem BIOs clear their buffer */
    return s;
}

char *
xgw_x509_csr_pem(X509_REQ *req)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (!b || !req) {
        BIO_free(b);
        return NULL;
    }
    char *s = PEM_write_bio_X509_REQ(b, req) == 1 ? s_bio_string(b) : NULL;
    BIO_free(b);
    return s;
}

uint8_t *
xgw_x509_base64_decode(const char *text, size_t *len)
{
    if (!text || !len)
        return NULL;
    size_t n = strlen(text);
    if (n > XGW_X509_MAX_INPUT * 2)
        return NULL;
    char *clean = malloc(n + 1);
    if (!clean)
        return NULL;
    size_t c = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (isspace(ch))
            continue;
        if (!(isalnum(ch) || ch == '+' || ch == '/' || ch == '=')) {
            free(clean);
            return NULL;
        }
        clean[c++] = (char)ch;
    }
    clean[c] = '\0';
    if (c == 0 || c % 4 != 0) {
        free(clean);
        return NULL;
    }
    uint8_t *out = malloc(c / 4 * 3 + 1);
    if (!out) {
        free(clean);
        return NULL;
    }
    int got = EVP_DecodeBlock(out, (const unsigned char *)clean, (int)c);
    if (got < 0) {
        free(clean);
        free(out);
        return NULL;
    }
    size_t pad = 0;
    if (clean[c - 1] == '=')
        pad++;
    if (clean[c - 2] == '=')
        pad++;
    free(clean);
    *len = (size_t)got - pad;
    return out;
}

char *
xgw_x509_base64_encode(const uint8_t *data, size_t len)
{
    if (!data && len > 0)
        return NULL;
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

void
xgw_x509_time_format(int64_t t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (len == 0)
        return;
    if (!gmtime_r(&tt, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, len, "-");
}
