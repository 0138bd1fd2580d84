/*
 * xgw-certd - certificates and secrets: the certificate store
 * (lib/xgw_cert_store.h), the admin operations behind `xgwctl cert`
 * (admin.c), the publication of certificate metadata and the dialback
 * secret version to the edges, CURVE keys, expiry metrics, and an optional
 * TLS probe (probe.c). Design notes: certd/README.md.
 */
#include "certd.h"
#include "xgw_curve.h"
#include "xgw_error.h"
#include "xgw_log.h"
#include "xgw_service.h"

#include <czmq.h>
#include <math.h>
#include <string.h>
#include <time.h>

#define S_HOUSEKEEP_MS 1000

static certd_t s_certd;

static int64_t
s_now(void)
{
    return (int64_t)time(NULL);
}

static void
s_pick(xgw_service_def_t *def, const xgw_settings_t *s)
{
    def->credit = s->certd.credit;
    def->metrics_port = s->certd.metrics_port;
}

static void
s_publish(certd_t *c)
{
    xgw_arena_reset(c->pub_arena);
    Xgw__V1__CertSnapshot snap = XGW__V1__CERT_SNAPSHOT__INIT;
    if (xgw_cert_store_snapshot(c->store, c->pub_arena, xgw_gwp_now_ms(),
                                (uint32_t)c->settings->certd.publish_interval_ms, &snap) != 0) {
        xgw_error("publish_failed", "reason=nomem");
        return;
    }
    size_t len = xgw__v1__cert_snapshot__get_packed_size(&snap);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return;
    xgw__v1__cert_snapshot__pack(&snap, buf);
    zmsg_t *m = zmsg_new();
    zmsg_addstr(m, "cert");
    zmsg_addmem(m, buf, len);
    free(buf);
    if (zmsg_send(&m, c->pub) != 0) {
        zmsg_destroy(&m);
        xgw_warn("publish_failed", "reason=send");
    }
    if (c->published_version != snap.version)
        xgw_info("published", "version=%llu certs=%zu assignments=%zu dialback_version=%llu",
                 (unsigned long long)snap.version, snap.n_certs, snap.n_assignments,
                 (unsigned long long)snap.dialback_version);
    c->published_version = snap.version;
    c->next_publish = zclock_mono() + c->settings->certd.publish_interval_ms;
}

static int
s_known(const certd_t *c, const char *id)
{
    for (size_t i = 0; i < c->n_known; i++) {
        if (strcmp(c->known_ids[i], id) == 0)
            return 1;
    }
    return 0;
}

static void
s_metrics(certd_t *c)
{
    int64_t now = s_now();
    double valid = 0, expired = 0, future = 0, pending = 0;
    size_t n = xgw_cert_store_count(c->store);
    for (size_t i = 0; i < n; i++) {
        const xgw_cert_entry_t *e = xgw_cert_store_entry(c->store, i);
        const char *st = xgw_cert_store_state(e, now);
        if (strcmp(st, "pending") == 0) {
            pending++;
            continue;
        }
        if (strcmp(st, "valid") == 0)
            valid++;
        else if (strcmp(st, "expired") == 0)
            expired++;
        else
            future++;
        xgw_series_set(xgw_family_series(c->m_expiry, e->id), (double)e->not_after);
        if (!s_known(c, e->id)) {
            void *grown = realloc(c->known_ids, (c->n_known + 1) * sizeof c->known_ids[0]);
            if (grown) {
                c->known_ids = grown;
                snprintf(c->known_ids[c->n_known++], XGW_CERT_ID_LEN + 1, "%s", e->id);
            }
        }
    }
    /* Removed certificates: their series cannot be dropped, so they read NaN. */
    for (size_t i = 0; i < c->n_known; i++) {
        if (!xgw_cert_store_find(c->store, c->known_ids[i]))
            xgw_series_set(xgw_family_series(c->m_expiry, c->known_ids[i]), NAN);
    }
    xgw_series_set(xgw_family_series(c->m_state, "valid"), valid);
    xgw_series_set(xgw_family_series(c->m_state, "expired"), expired);
    xgw_series_set(xgw_family_series(c->m_state, "not_yet_valid"), future);
    xgw_series_set(xgw_family_series(c->m_state, "pending"), pending);
    xgw_series_set(c->m_version, (double)xgw_cert_store_version(c->store));
    xgw_series_set(c->m_dialback_version,
                   (double)xgw_dialback_ring_version(xgw_cert_store_dialback(c->store)));
}

void
certd_changed(certd_t *c)
{
    s_metrics(c);
    s_publish(c);
}

void
certd_count_rotation(certd_t *c, const char *kind)
{
    xgw_series_inc(xgw_family_series(c->m_rotation, kind));
}

/* First run: a self-signed certificate for every served domain, assigned
 * for xmpp and sip, the first one also as the default. */
static int
s_first_run(certd_t *c)
{
    size_t n = xgw_cert_store_count(c->store);
    for (size_t i = 0; i < n; i++) {
        if (!xgw_cert_store_entry(c->store, i)->pending)
            return 0;
    }
    const xgw_strv_t *domains = xgw_cert_store_domains(c->store);
    for (size_t d = 0; d < domains->n; d++) {
        char id[XGW_CERT_ID_LEN + 1], why[512];
        int64_t now = s_now();
        if (xgw_cert_store_self_signed(c->store, domains->v[d], NULL, "rsa2048", 365, "first-run",
                                       now, id, NULL, why, sizeof why) != 0) {
            xgw_error("first_run_failed", "domain=%s reason=\"%s\"", domains->v[d], why);
            return -1;
        }
        for (size_t u = 0; u < 2; u++) {
            const char *usage = u == 0 ? "xmpp" : "sip";
            if (xgw_cert_store_assign(c->store, id, usage, domains->v[d], now, NULL, NULL, why,
                                      sizeof why) != 0 ||
                (d == 0 && xgw_cert_store_assign(c->store, id, usage, NULL, now, NULL, NULL, why,
                                                 sizeof why) != 0)) {
                xgw_error("first_run_failed", "domain=%s reason=\"%s\"", domains->v[d], why);
                return -1;
            }
        }
        xgw_warn("first_run_self_signed",
                 "domain=%s cert_id=%s note=\"self-signed: peers that check certificates will "
                 "refuse it; see xgwctl cert check\"",
                 domains->v[d], id);
    }
    return 0;
}

static int
s_on_start(void *ud, xgw_daemon_t *daemon)
{
    certd_t *c = ud;
    c->daemon = daemon;
    c->settings = &daemon->settings;
    const xgw_settings_t *s = c->settings;

    xgw_cert_store_opts_t o = {
        .data_dir = s->common.data_dir,
        .served_domains = s->common.domains,
        .system_ca_file = s->certd.system_ca_file,
        .dialback_secret_file = s->certd.dialback_secret_file,
        .dialback_overlap_s = s->certd.dialback_overlap_ms / 1000,
    };
    char why[512];
    xgw_cert_notes_t notes;
    memset(&notes, 0, sizeof notes);
    c->store = xgw_cert_store_open(&o, s_now(), &notes, why, sizeof why);
    for (size_t i = 0; i < notes.n; i++)
        xgw_warn("store_note", "note=\"%s\"", notes.text[i]);
    if (!c->store) {
        xgw_error("store_open_failed", "reason=\"%s\"", why);
        return -1;
    }
    if (s_first_run(c) != 0)
        return -1;

    snprintf(c->curve_dir, sizeof c->curve_dir, "%s/curve", s->common.data_dir);
    int made = xgw_curve_ensure(c->curve_dir, why, sizeof why);
    if (made < 0) {
        xgw_error("curve_failed", "reason=\"%s\"", why);
        return -1;
    }
    if (made > 0)
        xgw_info("curve_keys_created", "count=%d dir=\"%s\"", made, c->curve_dir);

    c->pub_arena = xgw_arena_new(16384);
    char ep[XGW_CONFIG_PATH_MAX + 2];
    snprintf(ep, sizeof ep, "@%s", s->common.cert_updates);
    c->pub = zsock_new_pub(ep);
    if (!c->pub_arena || !c->pub) {
        xgw_error("publish_bind_failed", "endpoint=\"%s\"", s->common.cert_updates);
        return -1;
    }

    c->m_expiry = xgw_metrics_gauge("xgw_cert_expiry_timestamp_seconds",
                                    "notAfter of each stored certificate, Unix seconds (NaN "
                                    "once removed).",
                                    "cert_id");
    c->m_state =
        xgw_metrics_gauge("xgw_cert_certificates", "Certificates in the store, by state.", "state");
    c->m_rotation = xgw_metrics_counter(
        "xgw_cert_rotations_total",
        "Assignments replaced by another certificate, and dialback secret rotations.", "kind");
    xgw_family_series(c->m_rotation, "certificate");
    xgw_family_series(c->m_rotation, "dialback");
    c->m_version = xgw_family_series(
        xgw_metrics_gauge("xgw_cert_store_version", "Version of the published store.", NULL));
    c->m_dialback_version = xgw_family_series(xgw_metrics_gauge(
        "xgw_cert_dialback_version", "Version of the dialback keyring (not the secret).", NULL));

    xgw_info("store_open", "dir=\"%s\" generation=%016llx version=%llu certs=%zu domains=\"%s\"",
             xgw_cert_store_dir(c->store), (unsigned long long)xgw_cert_store_generation(c->store),
             (unsigned long long)xgw_cert_store_version(c->store), xgw_cert_store_count(c->store),
             s->common.domains);
    certd_changed(c);
    c->next_housekeep = zclock_mono() + S_HOUSEKEEP_MS;

    if (s->certd.tls_probe[0]) {
        c->probe = certd_probe_start(s, why, sizeof why);
        if (!c->probe) {
            xgw_error("probe_failed", "reason=\"%s\"", why);
            return -1;
        }
    }
    return 0;
}

static int64_t
s_on_tick(void *ud)
{
    certd_t *c = ud;
    int64_t now = zclock_mono();
    if (now >= c->next_housekeep) {
        int rc = xgw_cert_store_dialback_tick(c->store, s_now());
        if (rc == 1)
            xgw_info(
                "dialback_previous_expired", "version=%llu",
                (unsigned long long)xgw_dialback_ring_version(xgw_cert_store_dialback(c->store)));
        else if (rc < 0)
            xgw_error("dialback_expire_failed", "error=%s", xgw_strerror(rc));
        if (rc == 1)
            certd_changed(c);
        else
            s_metrics(c);
        c->next_housekeep = now + S_HOUSEKEEP_MS;
    }
    if (now >= c->next_publish)
        s_publish(c);
    int64_t a = c->next_publish - now;
    int64_t b = c->next_housekeep - now;
    int64_t wait = a < b ? a : b;
    return wait < 0 ? 0 : wait;
}

static int
s_handler(void *ud, const Xgw__V1__Request *req, Xgw__V1__Reply *reply, xgw_arena_t *arena)
{
    certd_t *c = ud;
    if (req->payload_case == XGW__V1__REQUEST__PAYLOAD_CERT_SNAPSHOT_REQUEST) {
        Xgw__V1__CertSnapshot *snap = xgw_arena_alloc(arena, sizeof *snap);
        if (!snap)
            return XGW_ENOMEM;
        xgw__v1__cert_snapshot__init(snap);
        if (xgw_cert_store_snapshot(c->store, arena, xgw_gwp_now_ms(),
                                    (uint32_t)c->settings->certd.publish_interval_ms, snap) != 0)
            return XGW_ENOMEM;
        reply->status = 200;
        reply->payload_case = XGW__V1__REPLY__PAYLOAD_CERT_SNAPSHOT;
        reply->cert_snapshot = snap;
        return 0;
    }
    if (req->payload_case == XGW__V1__REQUEST__PAYLOAD_ADMIN && req->admin) {
        Xgw__V1__AdminReply *rep = xgw_arena_alloc(arena, sizeof *rep);
        if (!rep)
            return XGW_ENOMEM;
        xgw__v1__admin_reply__init(rep);
        uint64_t before = xgw_cert_store_version(c->store);
        if (certd_admin(c, req->admin, rep, arena) != 0)
            return XGW_ENOMEM;
        if (xgw_cert_store_version(c->store) != before)
            certd_changed(c);
        reply->status = 200;
        reply->payload_case = XGW__V1__REPLY__PAYLOAD_ADMIN;
        reply->admin = rep;
        return 0;
    }
    reply->status = 501;
    reply->reason = "certd answers Ping, CertSnapshotRequest and AdminRequest only";
    return 0;
}

static void
s_on_stop(void *ud)
{
    certd_t *c = ud;
    certd_probe_stop(&c->probe);
    zsock_destroy(&c->pub);
    xgw_arena_destroy(&c->pub_arena);
    xgw_cert_store_destroy(&c->store);
    free(c->known_ids);
    c->known_ids = NULL;
}

int
main(int argc, char **argv)
{
    xgw_service_def_t def = {
        .process = "certd",
        .service = "cert",
        .handler = s_handler,
        .ud = &s_certd,
        .on_start = s_on_start,
        .on_tick = s_on_tick,
        .on_stop = s_on_stop,
    };
    int rc = xgw_service_main(&def, argc, argv, s_pick);
    if (s_certd.store)
        s_on_stop(&s_certd); /* start failed after the store opened */
    return rc;
}
