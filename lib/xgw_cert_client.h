/*
 * xgw_cert_client.h - the edge's side of certd's publication (Clone
 * pattern): subscribes to common.cert_updates, asks the "cert" service for
 * the current snapshot through the broker, and keeps the newest CertSnapshot
 * (cert.proto), with the dialback keyring and the peer trust store loaded
 * from the files it names.
 *
 * Every publication carries the whole state; a snapshot replaces the held
 * one when its generation differs (certd's store was recreated) or its
 * version is higher, so order and loss do not matter. certd re-publishes
 * every heartbeat_ms; with nothing heard for 3 heartbeats the client is
 * "stale" (it keeps the last state: the files stay valid) and asks for a
 * snapshot again until certd answers.
 *
 * Usage in an edge's loop:
 *     xgw_cert_client_t *cc = xgw_cert_client_new(&settings);
 *     n = xgw_cert_client_poll_items(cc, items + k, max - k);   // add to zmq_poll
 *     wait = min(wait, xgw_cert_client_tick(cc));
 *     ... after zmq_poll:
 *     if (xgw_cert_client_process(cc) == 1) reload TLS (xgw_tls_apply) ...
 *
 * Single-threaded: use it from the thread that created it. No czmq types in
 * this header (xgw-sipd keeps czmq and sofia-sip headers apart).
 */
#ifndef XGW_CERT_CLIENT_H
#define XGW_CERT_CLIENT_H

#include "xgw_config.h"
#include "xgw_dialback.h"

#include "xgw/v1/cert.pb-c.h"

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

typedef struct xgw_cert_client xgw_cert_client_t;

/* Connects a SUB socket to s->common.cert_updates and a GWP client to
 * s->common.broker_frontend, and asks for a snapshot. s is read now and not
 * kept. Returns the client (caller owns it) or NULL when a socket cannot be
 * created. */
xgw_cert_client_t *xgw_cert_client_new(const xgw_settings_t *s);

/* Closes the sockets and frees everything; nulls *self_p. Idempotent. */
void xgw_cert_client_destroy(xgw_cert_client_t **self_p);

/* Fills up to max poll items (ZMQ_POLLIN on the SUB and the GWP socket).
 * Returns how many (2, or fewer when max is smaller). */
size_t xgw_cert_client_poll_items(xgw_cert_client_t *self, zmq_pollitem_t *items, size_t max);

/* Reads whatever arrived, without blocking. Returns 1 when a newer snapshot
 * was applied (dialback keyring and trust store reloaded as needed), 0
 * otherwise. */
int xgw_cert_client_process(xgw_cert_client_t *self);

/* Time-driven work: the snapshot request and its retries, staleness,
 * heartbeats of the GWP client. Returns ms until it wants to run again. */
int64_t xgw_cert_client_tick(xgw_cert_client_t *self);

/* The newest snapshot, or NULL before the first one. Borrowed: valid until
 * the next xgw_cert_client_process call. */
const Xgw__V1__CertSnapshot *xgw_cert_client_snapshot(const xgw_cert_client_t *self);

/* 1 when nothing has been heard from certd for 3 heartbeats. */
int xgw_cert_client_stale(const xgw_cert_client_t *self);

/* The dialback keyring named by the snapshot (NULL before it is loaded).
 * Borrowed, replaced by xgw_cert_client_process. */
const xgw_dialback_ring_t *xgw_cert_client_dialback(const xgw_cert_client_t *self);

/* The trust store named by the snapshot (NULL before it is loaded).
 * Borrowed, replaced by xgw_cert_client_process; take X509_STORE_up_ref to
 * keep one across that call. */
X509_STORE *xgw_cert_client_trust(const xgw_cert_client_t *self);

/* The certificate a TLS server of usage presents for domain in snap: the
 * domain's assignment, else the default one; NULL when none. Borrowed from
 * snap. */
const Xgw__V1__CertMeta *xgw_cert_snapshot_find(const Xgw__V1__CertSnapshot *snap,
                                                const char *usage, const char *domain);

#endif
