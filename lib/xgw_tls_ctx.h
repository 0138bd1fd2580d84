/*
 * xgw_tls_ctx.h - the TLS contexts an edge serves (and dials) with, built
 * from certd's published metadata (cert.proto CertSnapshot) and the store
 * files it names; used by the XMPP edge for s2s and by certd's TLS probe.
 * Needs libssl (link OpenSSL::SSL).
 *
 * - One SSL_CTX per certificate assigned to the usage ("xmpp" or "sip");
 *   the server picks it per handshake from the SNI name (else the
 *   default), and an edge that knows the stream 'to' can pick it directly
 *   with xgw_tls_ctx_for (CRT-10).
 * - TLS 1.2 or later only; no compression, no renegotiation, forward-secret
 *   AEAD suites for TLS 1.2, security level 2 (>= 112-bit) (S2S-07).
 * - The peer's certificate is requested (inbound SASL EXTERNAL) and any
 *   certificate is let through the handshake: the identity is judged
 *   afterwards with xgw_x509_verify_peer against the right domain, which
 *   the TLS layer does not know yet.
 * - For usage "xmpp" the ALPN protocol "xmpp-server" is selected when a
 *   client offers it (XEP-0368 direct TLS).
 * - Rotation without restart: xgw_tls_apply with a newer snapshot builds
 *   the new contexts (reusing those whose certificate did not change) and
 *   swaps them in; new handshakes get the new certificate, established
 *   connections keep theirs (each SSL holds a reference to its SSL_CTX).
 *
 * Single-threaded: apply and handshakes on the same thread. The xgw_tls_t
 * must outlive every SSL made from its contexts (the SNI callback uses it).
 */
#ifndef XGW_TLS_CTX_H
#define XGW_TLS_CTX_H

#include "xgw/v1/cert.pb-c.h"

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#define XGW_TLS_ALPN_XMPP "xmpp-server"

typedef struct xgw_tls xgw_tls_t;

/* A TLS context set for usage "xmpp" or "sip", empty until the first
 * xgw_tls_apply. Returns NULL for another usage or on allocation failure.
 * The caller owns it. */
xgw_tls_t *xgw_tls_new(const char *usage);

/* Frees the contexts it holds (SSL objects keep theirs alive); nulls
 * *self_p. Idempotent. */
void xgw_tls_destroy(xgw_tls_t **self_p);

/* Brings the contexts in line with snap. Returns 1 when they changed, 0 when
 * snap is the one already applied, or a negative code with why (a
 * certificate or key file could not be loaded, or does not match): the
 * previous contexts then stay in use. snap is borrowed. */
int xgw_tls_apply(xgw_tls_t *self, const Xgw__V1__CertSnapshot *snap, char *why, size_t whylen);

/* The context to accept connections with: the default certificate, with
 * the SNI callback that switches to the named domain's. NULL when no
 * certificate is assigned. Borrowed: SSL_new takes its own reference. */
SSL_CTX *xgw_tls_server_ctx(xgw_tls_t *self);

/* The context whose certificate is assigned to domain (else the default),
 * for a stream whose 'to' is known, or for dialling out as domain. NULL when
 * none. Borrowed. */
SSL_CTX *xgw_tls_ctx_for(xgw_tls_t *self, const char *domain);

/* The certificate id a context presents ("" for unknown contexts). The
 * string lives as long as the context. */
const char *xgw_tls_ctx_cert_id(const SSL_CTX *ctx);

/* Generation and version of the applied snapshot (0 before any). */
uint64_t xgw_tls_version(const xgw_tls_t *self);

#endif
