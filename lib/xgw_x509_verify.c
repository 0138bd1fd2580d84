/*
 * xgw_x509_verify.c - peer certificate validation; see xgw_x509_verify.h.
 */
#include "xgw_x509_verify.h"
#include "xgw_error.h"
#include "xgw_metrics.h"
#include "xgw_x509.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>
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

const char *
xgw_x509_verdict_name(xgw_x509_verdict_t v)
{
    static const char *const names[] = {
        [XGW_X509_VALID] = "valid",
        [XGW_X509_NAME_MISMATCH] = "name_mismatch",
        [XGW_X509_EXPIRED] = "expired",
        [XGW_X509_NOT_YET_VALID] = "not_yet_valid",
        [XGW_X509_UNTRUSTED] = "untrusted",
        [XGW_X509_BAD_CA] = "bad_ca",
        [XGW_X509_BAD_USAGE] = "bad_usage",
        [XGW_X509_WEAK_KEY] = "weak_key",
        [XGW_X509_BAD_SIGNATURE] = "bad_signature",
        [XGW_X509_INVALID] = "invalid",
    };
    if ((int)v < 0 || v >= XGW_X509_VERDICT_COUNT)
        return "invalid";
    return names[v];
}

const char *
xgw_x509_match_name(xgw_x509_match_t m)
{
    switch (m) {
    case XGW_X509_BY_DNS_ID:
        return "dns-id";
    case XGW_X509_BY_SRV_ID:
        return "srv-id";
    case XGW_X509_BY_XMPPADDR:
        return "xmppaddr";
    case XGW_X509_BY_CN:
        return "cn";
    case XGW_X509_BY_NONE:
        break;
    }
    return "none";
}

/* Compares a presented DNS name (lower-case ASCII, possibly with a
 * wildcard) with the reference (lower-case ASCII). */
static int
s_dns_match(const char *presented, const char *ref)
{
    char p[XGW_X509_DOMAIN_MAX];
    size_t n = strlen(presented);
    if (n == 0 || n >= sizeof p)
        return 0;
    memcpy(p, presented, n + 1);
    if (p[n - 1] == '.')
        p[--n] = '\0';
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)p[i] >= 0x80)
            return 0; /* DNS-IDs are A-labels; raw UTF-8 never matches */
    }
    const char *star = strchr(p, '*');
    if (!star)
        return strcmp(p, ref) == 0;
    /* Only "*." as the whole left-most label, one '*', and at least two
     * labels after it. */
    if (star != p || p[1] != '.' || strchr(p + 1, '*'))
        return 0;
    const char *rest = p + 2;
    if (!strchr(rest, '.'))
        return 0;
    const char *dot = strchr(ref, '.');
    if (!dot || dot == ref)
        return 0; /* the wildcard must cover one non-empty label */
    return strcmp(dot + 1, rest) == 0;
}

/* Builds a short list of what the certificate names, for reasons. */
static void
s_presented(const xgw_x509_names_t *nm, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    const struct {
        const xgw_strv_t *sv;
        const char *kind;
    } lists[] = {{&nm->dns, "DNS-ID"}, {&nm->srv, "SRV-ID"}, {&nm->xmpp, "XmppAddr"}};
    for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++) {
        for (size_t i = 0; i < lists[l].sv->n && o + 1 < len; i++) {
            int w = snprintf(buf + o, len - o, "%s%s %s", o ? ", " : "", lists[l].kind,
                             lists[l].sv->v[i]);
            if (w < 0)
                return;
            o += (size_t)w < len - o ? (size_t)w : len - o - 1;
        }
    }
}

xgw_x509_match_t
xgw_x509_match_domain(X509 *leaf, const char *domain, char *why, size_t whylen)
{
    char ref[XGW_X509_DOMAIN_MAX];
    char sub[256];
    if (!leaf) {
        s_why(why, whylen, "no certificate");
        return XGW_X509_BY_NONE;
    }
    if (!domain || xgw_x509_is_ip_literal(domain)) {
        s_why(why, whylen, "the reference identity must be the XMPP domain, not an IP address");
        return XGW_X509_BY_NONE;
    }
    if (xgw_x509_domain_to_ascii(domain, ref, sizeof ref, sub, sizeof sub) != 0) {
        s_why(why, whylen, "bad reference domain: %s", sub);
        return XGW_X509_BY_NONE;
    }
    xgw_x509_names_t nm;
    if (xgw_x509_names_get(leaf, &nm) != 0) {
        s_why(why, whylen, "cannot read the certificate's names");
        return XGW_X509_BY_NONE;
    }
    xgw_x509_match_t m = XGW_X509_BY_NONE;
    for (size_t i = 0; i < nm.dns.n && m == XGW_X509_BY_NONE; i++) {
        if (s_dns_match(nm.dns.v[i], ref))
            m = XGW_X509_BY_DNS_ID;
    }
    for (size_t i = 0; i < nm.srv.n && m == XGW_X509_BY_NONE; i++) {
        const char *v = nm.srv.v[i];
        const char *dot = strchr(v, '.');
        if (!dot || (size_t)(dot - v) != strlen("_xmpp-server") ||
            strncasecmp(v, "_xmpp-server", (size_t)(dot - v)) != 0)
            continue;
        char name[XGW_X509_DOMAIN_MAX];
        if (xgw_x509_domain_to_ascii(dot + 1, name, sizeof name, NULL, 0) == 0 &&
            strcmp(name, ref) == 0)
            m = XGW_X509_BY_SRV_ID;
    }
    for (size_t i = 0; i < nm.xmpp.n && m == XGW_X509_BY_NONE; i++) {
        const char *v = nm.xmpp.v[i];
        char name[XGW_X509_DOMAIN_MAX];
        if (strpbrk(v, "@/"))
            continue; /* a user or resource JID is not a server identity */
        if (xgw_x509_domain_to_ascii(v, name, sizeof name, NULL, 0) == 0 && strcmp(name, ref) == 0)
            m = XGW_X509_BY_XMPPADDR;
    }
    if (m == XGW_X509_BY_NONE && !nm.has_san && nm.cn) {
        char cn[XGW_X509_DOMAIN_MAX];
        size_t cl = strlen(nm.cn);
        int ok = cl < sizeof cn;
        for (size_t i = 0; ok && i < cl; i++) {
            char c = nm.cn[i];
            cn[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        }
        if (ok) {
            cn[cl] = '\0';
            if (s_dns_match(cn, ref))
                m = XGW_X509_BY_CN;
        }
    }
    if (m == XGW_X509_BY_NONE) {
        char list[512];
        s_presented(&nm, list, sizeof list);
        if (!nm.has_san)
            s_why(why, whylen, "the certificate has no subjectAltName and its CN (%s) is not %s",
                  nm.cn ? nm.cn : "none", ref);
        else if (nm.cn && list[0])
            s_why(why, whylen,
                  "the certificate does not name %s (it names %s; its CN %s is not used because "
                  "it has subjectAltNames)",
                  ref, list, nm.cn);
        else if (list[0])
            s_why(why, whylen, "the certificate does not name %s (it names %s)", ref, list);
        else
            s_why(why, whylen,
                  "the certificate does not name %s (it has subjectAltNames, none of them a "
                  "DNS-ID, SRV-ID or XmppAddr)",
                  ref);
    }
    xgw_x509_names_free(&nm);
    return m;
}

static void
s_count(xgw_x509_verdict_t v)
{
    xgw_family_t *f = xgw_metrics_counter("xgw_cert_validations_total",
                                          "Peer certificate validations, by verdict.", "verdict");
    xgw_series_inc(xgw_family_series(f, xgw_x509_verdict_name(v)));
}

static xgw_x509_verdict_t
s_done(xgw_x509_verdict_t v)
{
    s_count(v);
    return v;
}

/* Describes the certificate at depth d for reasons. */
static const char *
s_depth_name(int d)
{
    return d == 0 ? "the certificate" : d == 1 ? "its issuer" : "a CA certificate of its chain";
}

static xgw_x509_verdict_t
s_map_error(int err, int depth, X509 *cur, char *reason, size_t len)
{
    char when[40] = "";
    switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
        xgw_x509_time_format(xgw_x509_not_after(cur), when, sizeof when);
        s_why(reason, len, "%s expired at %s", s_depth_name(depth), when);
        return XGW_X509_EXPIRED;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        xgw_x509_time_format(xgw_x509_not_before(cur), when, sizeof when);
        s_why(reason, len, "%s is not valid before %s", s_depth_name(depth), when);
        return XGW_X509_NOT_YET_VALID;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        s_why(reason, len, "unknown CA: no chain from %s to a trusted anchor", s_depth_name(depth));
        return XGW_X509_UNTRUSTED;
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        s_why(reason, len, "the certificate is self-signed and not a trusted anchor");
        return XGW_X509_UNTRUSTED;
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        s_why(reason, len, "the chain ends in a self-signed CA that is not trusted");
        return XGW_X509_UNTRUSTED;
    case X509_V_ERR_CERT_UNTRUSTED:
    case X509_V_ERR_CERT_REJECTED:
        s_why(reason, len, "the anchor of the chain is not trusted for this use");
        return XGW_X509_UNTRUSTED;
    case X509_V_ERR_INVALID_CA:
        s_why(reason, len, "%s is used as a CA but is not one (basicConstraints CA:TRUE missing)",
              s_depth_name(depth));
        return XGW_X509_BAD_CA;
    case X509_V_ERR_PATH_LENGTH_EXCEEDED:
        s_why(reason, len, "the chain is longer than a CA's pathLenConstraint allows");
        return XGW_X509_BAD_CA;
    case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
        s_why(reason, len, "%s issues certificates without the keyCertSign key usage",
              s_depth_name(depth));
        return XGW_X509_BAD_CA;
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        s_why(reason, len, "the signature on %s does not verify", s_depth_name(depth));
        return XGW_X509_BAD_SIGNATURE;
    case X509_V_ERR_EE_KEY_TOO_SMALL:
    case X509_V_ERR_CA_KEY_TOO_SMALL:
        s_why(reason, len, "%s has a key that is too small", s_depth_name(depth));
        return XGW_X509_WEAK_KEY;
    case X509_V_ERR_CA_MD_TOO_WEAK:
        s_why(reason, len, "%s is signed with a weak digest", s_depth_name(depth));
        return XGW_X509_WEAK_KEY;
    default:
        break;
    }
    s_why(reason, len, "chain does not verify: %s (depth %d)", X509_verify_cert_error_string(err),
          depth);
    return XGW_X509_UNTRUSTED;
}

xgw_x509_verdict_t
xgw_x509_verify_peer(X509 *leaf, STACK_OF(X509) * untrusted, X509_STORE *trust, const char *domain,
                     int64_t now, char *reason, size_t reason_len)
{
    if (reason && reason_len > 0)
        reason[0] = '\0';
    if (!leaf) {
        s_why(reason, reason_len, "the peer presented no certificate");
        return s_done(XGW_X509_INVALID);
    }
    char ref[XGW_X509_DOMAIN_MAX];
    char sub[256];
    if (!domain || xgw_x509_is_ip_literal(domain) ||
        xgw_x509_domain_to_ascii(domain, ref, sizeof ref, sub, sizeof sub) != 0) {
        s_why(reason, reason_len, "the reference identity must be an XMPP domain name");
        return s_done(XGW_X509_INVALID);
    }
    if (!trust) {
        s_why(reason, reason_len, "no trust store");
        return s_done(XGW_X509_UNTRUSTED);
    }

    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (!ctx || X509_STORE_CTX_init(ctx, trust, leaf, untrusted) != 1) {
        X509_STORE_CTX_free(ctx);
        s_why(reason, reason_len, "out of memory");
        return s_done(XGW_X509_INVALID);
    }
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_time(param, (time_t)now);
    /* Purpose is left unset: the EKU is judged below, so that serverAuth-only
     * certificates presented by a TLS client (inbound s2s) are accepted. */
    ERR_clear_error();
    int ok = X509_verify_cert(ctx);
    xgw_x509_verdict_t v = XGW_X509_VALID;
    if (ok != 1) {
        int err = X509_STORE_CTX_get_error(ctx);
        int depth = X509_STORE_CTX_get_error_depth(ctx);
        X509 *cur = X509_STORE_CTX_get_current_cert(ctx);
        v = s_map_error(err, depth, cur ? cur : leaf, reason, reason_len);
    }
    X509_STORE_CTX_free(ctx);
    ERR_clear_error();
    if (v != XGW_X509_VALID)
        return s_done(v);

    EVP_PKEY *pub = X509_get0_pubkey(leaf);
    if (!xgw_x509_key_strong(pub)) {
        char kd[32];
        xgw_x509_key_describe(pub, kd, sizeof kd);
        s_why(reason, reason_len, "the certificate's key (%s) is weaker than RSA 2048 or EC P-256",
              kd);
        return s_done(XGW_X509_WEAK_KEY);
    }
    if (!xgw_x509_has_server_auth(leaf)) {
        s_why(reason, reason_len,
              "the certificate is not for TLS servers (its extended key usage lacks serverAuth)");
        return s_done(XGW_X509_BAD_USAGE);
    }
    uint32_t ku = X509_get_key_usage(leaf);
    if (ku != UINT32_MAX &&
        !(ku & (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT | KU_KEY_AGREEMENT))) {
        s_why(reason, reason_len, "the certificate's key usage does not allow TLS");
        return s_done(XGW_X509_BAD_USAGE);
    }
    char why[768];
    xgw_x509_match_t m = xgw_x509_match_domain(leaf, ref, why, sizeof why);
    if (m == XGW_X509_BY_NONE) {
        s_why(reason, reason_len, "%s", why);
        return s_done(XGW_X509_NAME_MISMATCH);
    }
    s_why(reason, reason_len, "valid (%s)", xgw_x509_match_name(m));
    return s_done(XGW_X509_VALID);
}

X509_STORE *
xgw_x509_trust_load(const char *path, char *why, size_t whylen)
{
    if (!path || !*path) {
        s_why(why, whylen, "no trust bundle path");
        return NULL;
    }
    X509_STORE *st = X509_STORE_new();
    if (!st) {
        s_why(why, whylen, "out of memory");
        return NULL;
    }
    struct stat fst;
    if (stat(path, &fst) != 0) {
        X509_STORE_free(st);
        s_why(why, whylen, "cannot read trust anchors from %s", path);
        return NULL;
    }
    if (fst.st_size == 0)
        return st; /* no anchors configured: every peer is untrusted */
    ERR_clear_error();
    if (X509_STORE_load_file(st, path) != 1) {
        ERR_clear_error();
        X509_STORE_free(st);
        s_why(why, whylen, "cannot load trust anchors from %s", path);
        return NULL;
    }
    STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(st);
    int certs = 0;
    for (int i = 0; objs && i < sk_X509_OBJECT_num(objs); i++) {
        if (X509_OBJECT_get_type(sk_X509_OBJECT_value(objs, i)) == X509_LU_X509)
            certs++;
    }
    if (certs == 0) {
        X509_STORE_free(st);
        s_why(why, whylen, "%s holds no certificate", path);
        return NULL;
    }
    return st;
}
