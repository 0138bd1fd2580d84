/*
 * xgw_x509_verify.h - judging a peer server's certificate (RFC 6125 as
 * profiled by RFC 6120 §13.7 and RFC 7590): checklist rules CRT-01..CRT-07.
 *
 * The reference identity is the partner's XMPP domain (the stream 'to' we
 * send, or the peer's stream 'from'), never the SRV target or an IP
 * address (CRT-01). It matches, case-insensitively and after converting
 * U-labels to A-labels (CRT-02):
 *   - a DNS-ID, exactly, or with '*' as the entire left-most label covering
 *     exactly one label (CRT-03); partial-label wildcards ("f*.example"),
 *     wildcards elsewhere ("a.*.example") and wildcards over a public
 *     suffix-like single label ("*.com") never match;
 *   - an SRV-ID "_xmpp-server.<domain>" (service compared case-insensitively;
 *     "_xmpp-client" does not count) (CRT-04);
 *   - an XmppAddr (id-on-xmppAddr) equal to the bare domain (CRT-05);
 *   - the subject CN, only when the certificate has no subjectAltName entry
 *     of any kind (CRT-06).
 * The chain must verify to the trust store at the given time: signatures,
 * validity of every certificate, CA:TRUE on every issuer (CRT-07). The leaf
 * key must be at least RSA 2048 or EC P-256, and the leaf's extended key
 * usage must allow serverAuth (no EKU, serverAuth or anyExtendedKeyUsage).
 * A certificate with serverAuth only is accepted even when the peer
 * presents it as a TLS client (inbound s2s): public CAs stopped issuing
 * clientAuth in 2026. Revocation (CRL/OCSP) is not checked here.
 *
 * TLS versions below 1.2 are refused at the TLS layer (lib/xgw_tls_ctx.h),
 * not here.
 *
 * Every xgw_x509_verify_peer call counts one
 * xgw_cert_validations_total{verdict} in the calling process.
 */
#ifndef XGW_X509_VERIFY_H
#define XGW_X509_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

typedef enum {
    XGW_X509_VALID = 0,
    XGW_X509_NAME_MISMATCH, /* chain fine, but the certificate does not name the domain */
    XGW_X509_EXPIRED,       /* a certificate of the chain is past its notAfter */
    XGW_X509_NOT_YET_VALID, /* a certificate of the chain is before its notBefore */
    XGW_X509_UNTRUSTED,     /* no chain to an anchor of the trust store */
    XGW_X509_BAD_CA,        /* an issuer is not a CA (basicConstraints) or path too long */
    XGW_X509_BAD_USAGE,     /* the leaf is not for TLS servers (EKU / key usage) */
    XGW_X509_WEAK_KEY,      /* a key below RSA 2048 / EC 256, or a weak signature hash */
    XGW_X509_BAD_SIGNATURE, /* a signature of the chain does not verify */
    XGW_X509_INVALID,       /* no certificate, unreadable, or an unusable reference domain */
    XGW_X509_VERDICT_COUNT
} xgw_x509_verdict_t;

/* How a certificate named the domain (for logs). */
typedef enum {
    XGW_X509_BY_NONE = 0,
    XGW_X509_BY_DNS_ID,
    XGW_X509_BY_SRV_ID,
    XGW_X509_BY_XMPPADDR,
    XGW_X509_BY_CN,
} xgw_x509_match_t;

/* Static lower-case name of a verdict ("valid", "name_mismatch", ...), the
 * label value of xgw_cert_validations_total. Never NULL. */
const char *xgw_x509_verdict_name(xgw_x509_verdict_t v);

/* Static name of a match kind ("dns-id", "srv-id", "xmppaddr", "cn",
 * "none"). */
const char *xgw_x509_match_name(xgw_x509_match_t m);

/* Name check only (no chain, no time): does leaf name domain for XMPP s2s?
 * Returns how it matched, or XGW_X509_BY_NONE with a reason in why (e.g.
 * "the certificate names other.example (DNS-ID) but not example.com").
 * Borrowed arguments only; nothing is kept. */
xgw_x509_match_t xgw_x509_match_domain(X509 *leaf, const char *domain, char *why, size_t whylen);

/* Full judgement of a peer's certificate. leaf: the peer's certificate;
 * untrusted: the intermediates it sent (may be NULL); trust: anchors
 * (see xgw_x509_trust_load); domain: the reference identity (UTF-8 or
 * ASCII); now: Unix seconds. Writes one line for logs and stream errors
 * into reason (may be NULL): "valid (dns-id)" or what is wrong. All
 * arguments are borrowed; nothing is kept. */
xgw_x509_verdict_t xgw_x509_verify_peer(X509 *leaf, STACK_OF(X509) * untrusted, X509_STORE *trust,
                                        const char *domain, int64_t now, char *reason,
                                        size_t reason_len);

/* Loads a PEM bundle of trust anchors (certd's published trust_path).
 * Returns a new store (caller frees with X509_STORE_free), or NULL with a
 * reason when the file cannot be read or holds no certificate. An empty
 * file gives an empty store (no anchor: every peer is untrusted). */
X509_STORE *xgw_x509_trust_load(const char *path, char *why, size_t whylen);

#endif
