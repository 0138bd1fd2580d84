/*
 * xmpp_metrics.c - the Prometheus families of the s2s engine (names and
 * labels are listed in workers/xmpp/README.md). Label values are small
 * fixed sets (directions, auth methods, RFC 6120 conditions, partner ids),
 * never domains, so the series count stays bounded.
 */
#include "xmppd.h"

#include <stdio.h>
#include <string.h>

static const char *const s_kinds[5] = {"message", "presence", "iq", "refused", "other"};

static int
s_kind_index(const char *kind)
{
    for (int i = 0; i < 5; i++) {
        if (strcmp(kind, s_kinds[i]) == 0)
            return i;
    }
    return -1;
}

void
xmet_init(xmppd_t *x)
{
    xmppd_metrics_t *m = &x->m;
    m->streams = xgw_metrics_gauge("xgw_xmpp_streams",
                                   "Open s2s streams, by direction and authentication method "
                                   "(none while negotiating).",
                                   "direction,auth");
    m->streams_total = xgw_metrics_counter(
        "xgw_xmpp_streams_authenticated_total",
        "s2s streams that authenticated, by direction and method.", "direction,auth");
    m->stanzas = xgw_metrics_counter("xgw_xmpp_stanzas_total",
                                     "Stanzas read from (in) or written to (out) s2s streams, "
                                     "by element name.",
                                     "direction,kind");
    m->stream_errors = xgw_metrics_counter("xgw_xmpp_stream_errors_total",
                                           "Stream errors sent or received, by RFC 6120 condition.",
                                           "side,condition");
    m->tls = xgw_metrics_counter("xgw_xmpp_tls_handshakes_total",
                                 "TLS handshakes on s2s streams, by direction and result.",
                                 "direction,result");
    m->dns = xgw_metrics_counter("xgw_xmpp_dns_lookups_total",
                                 "Lookups of a remote server's address (SRV or a static "
                                 "route), by result.",
                                 "result");
    xgw_family_t *b = xgw_metrics_counter("xgw_xmpp_bytes_total",
                                          "Bytes read and written on s2s sockets.", "direction");
    m->bytes_in = xgw_family_series(b, "in");
    m->bytes_out = xgw_family_series(b, "out");
    m->queue =
        xgw_metrics_gauge("xgw_xmpp_outbound_queue_depth",
                          "Stanzas waiting for an outbound stream, by partner id.", "partner");
    m->dialback = xgw_metrics_counter(
        "xgw_xmpp_dialback_total",
        "Dialback outcomes by role (receiving, authoritative, originating) and result.",
        "role,result");
    m->refused = xgw_metrics_counter("xgw_xmpp_connections_refused_total",
                                     "Inbound connections or streams refused before any "
                                     "stanza, by reason.",
                                     "reason");
    m->deliver = xgw_metrics_counter("xgw_xmpp_deliveries_total",
                                     "Deliver requests from the SIP side, by outcome.", "result");
    m->held = xgw_family_series(
        xgw_metrics_gauge("xgw_xmpp_inbound_held",
                          "Stanzas read from XMPP and not yet handed to the SIP side.", NULL));
    m->held_bytes = xgw_family_series(xgw_metrics_gauge(
        "xgw_xmpp_inbound_held_bytes", "Packed size of the stanzas held (inbound_held).", NULL));
    m->held_peak = xgw_family_series(
        xgw_metrics_gauge("xgw_xmpp_inbound_held_peak",
                          "Most stanzas held at once since the process started.", NULL));
    m->stream_held_peak = xgw_family_series(
        xgw_metrics_gauge("xgw_xmpp_stream_held_peak",
                          "Most stanzas one stream held at once since the process started "
                          "(bounded by the per-stream back-pressure limit).",
                          NULL));
    m->paused = xgw_family_series(xgw_metrics_gauge(
        "xgw_xmpp_streams_paused",
        "Inbound streams (or the component link) not being read: back-pressure.", NULL));
    for (int i = 0; i < 5; i++) {
        m->stanza_series[0][i] = xgw_family_series(m->stanzas, "in", s_kinds[i]);
        m->stanza_series[1][i] = xgw_family_series(m->stanzas, "out", s_kinds[i]);
    }
    m->handed = xgw_family_series(m->deliver, "handed_to_sip");
    m->delivered = xgw_family_series(m->deliver, "delivered");
    m->pauses = xgw_family_series(
        xgw_metrics_counter("xgw_xmpp_stream_pauses_total",
                            "Times an inbound stream (or the component link) stopped being read "
                            "because its stanzas waited for the SIP side.",
                            NULL));
}

void
xmet_held(xmppd_t *x)
{
    xgw_series_set(x->m.held, (double)xdel_held(x));
    xgw_series_set(x->m.held_bytes, (double)xdel_held_bytes(x));
    xgw_series_set(x->m.paused, (double)x->n_paused);
}

void
xmet_stream(xmppd_t *x, const char *direction, const char *auth, int delta)
{
    xgw_series_gauge_add(xgw_family_series(x->m.streams, direction, auth), (double)delta);
}

void
xmet_authenticated(xmppd_t *x, const char *direction, const char *auth)
{
    xgw_series_inc(xgw_family_series(x->m.streams_total, direction, auth));
}

void
xmet_stanza(xmppd_t *x, const char *direction, const char *kind)
{
    int d = strcmp(direction, "in") == 0 ? 0 : strcmp(direction, "out") == 0 ? 1 : -1;
    int k = d >= 0 ? s_kind_index(kind) : -1;
    if (k >= 0)
        xgw_series_inc(x->m.stanza_series[d][k]);
    else
        xgw_series_inc(xgw_family_series(x->m.stanzas, direction, kind));
}

/* RFC 6120 4.9.3: a peer may send anything; other names count as "other"
 * so a hostile peer cannot grow the series. */
static const char *const s_conditions[] = {
    "bad-format",
    "bad-namespace-prefix",
    "conflict",
    "connection-timeout",
    "host-gone",
    "host-unknown",
    "improper-addressing",
    "internal-server-error",
    "invalid-from",
    "invalid-namespace",
    "invalid-xml",
    "not-authorized",
    "not-well-formed",
    "policy-violation",
    "remote-connection-failed",
    "reset",
    "resource-constraint",
    "restricted-xml",
    "see-other-host",
    "system-shutdown",
    "undefined-condition",
    "unsupported-encoding",
    "unsupported-feature",
    "unsupported-stanza-type",
    "unsupported-version",
    NULL,
};

void
xmet_stream_error(xmppd_t *x, const char *side, const char *condition)
{
    const char *label = "other";
    for (size_t i = 0; condition && s_conditions[i]; i++) {
        if (strcmp(s_conditions[i], condition) == 0) {
            label = s_conditions[i];
            break;
        }
    }
    xgw_series_inc(xgw_family_series(x->m.stream_errors, side, label));
}

void
xmet_tls(xmppd_t *x, const char *direction, const char *result)
{
    xgw_series_inc(xgw_family_series(x->m.tls, direction, result));
}

void
xmet_dns(xmppd_t *x, const char *result)
{
    xgw_series_inc(xgw_family_series(x->m.dns, result));
}

void
xmet_dialback(xmppd_t *x, const char *role, const char *result)
{
    xgw_series_inc(xgw_family_series(x->m.dialback, role, result));
}

void
xmet_refused(xmppd_t *x, const char *reason)
{
    xgw_series_inc(xgw_family_series(x->m.refused, reason));
}

void
xmet_deliver(xmppd_t *x, const char *result)
{
    if (strcmp(result, "handed_to_sip") == 0)
        xgw_series_inc(x->m.handed);
    else if (strcmp(result, "delivered") == 0)
        xgw_series_inc(x->m.delivered);
    else
        xgw_series_inc(xgw_family_series(x->m.deliver, result));
}

xgw_series_t *
xmet_queue_series(xmppd_t *x, uint32_t partner_id)
{
    char id[16];
    snprintf(id, sizeof id, "%u", partner_id);
    return xgw_family_series(x->m.queue, id);
}
