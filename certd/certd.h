/*
 * certd.h - what the files of xgw-certd share. See certd/README.md for the
 * design: store layout, admin protocol, publication, first run, CURVE keys,
 * metrics, the TLS probe.
 */
#ifndef XGW_CERTD_H
#define XGW_CERTD_H

#include "xgw_arena.h"
#include "xgw_cert_store.h"
#include "xgw_config.h"
#include "xgw_daemon.h"
#include "xgw_metrics.h"

#include "xgw/v1/gwp.pb-c.h"

#include <czmq.h>
#include <stdint.h>

typedef struct certd_probe certd_probe_t;

typedef struct {
    xgw_daemon_t *daemon;
    const xgw_settings_t *settings;
    xgw_cert_store_t *store;
    zsock_t *pub;           /* PUB on common.cert_updates */
    xgw_arena_t *pub_arena; /* scratch for publications */
    int64_t next_publish;   /* mono ms */
    int64_t next_housekeep; /* mono ms: dialback expiry, metrics */
    uint64_t published_version;
    char curve_dir[XGW_CONFIG_PATH_MAX + 16];
    certd_probe_t *probe;
    /* Metrics. */
    xgw_family_t *m_expiry;   /* xgw_cert_expiry_timestamp_seconds{cert_id} */
    xgw_family_t *m_state;    /* xgw_cert_certificates{state} */
    xgw_family_t *m_rotation; /* xgw_cert_rotations_total{kind} */
    xgw_series_t *m_version;
    xgw_series_t *m_dialback_version;
    char (*known_ids)[XGW_CERT_ID_LEN + 1]; /* ids that have an expiry series */
    size_t n_known;
} certd_t;

/* Handles one AdminRequest (objects "cert", "trust", "dialback", "curve")
 * and fills rep; every string it sets is allocated in arena. Returns 0 (the
 * outcome is in rep->code), or a negative code when out of memory. */
int certd_admin(certd_t *c, const Xgw__V1__AdminRequest *req, Xgw__V1__AdminReply *rep,
                xgw_arena_t *arena);

/* After a change of the store: publishes at once and refreshes metrics. */
void certd_changed(certd_t *c);

/* Counts one rotation: kind "certificate" or "dialback". */
void certd_count_rotation(certd_t *c, const char *kind);

/* Starts the TLS probe listener on s->certd.tls_probe ("HOST:PORT"; port 0
 * picks a free one, logged as probe_listening). It runs in its own thread
 * with its own subscription to certd's publication. Returns the probe (the
 * caller stops it with certd_probe_stop) or NULL with why. */
certd_probe_t *certd_probe_start(const xgw_settings_t *s, char *why, size_t whylen);

/* Stops the probe thread and frees it; nulls *probe_p. Idempotent. */
void certd_probe_stop(certd_probe_t **probe_p);

#endif
