#!/usr/bin/env bash
# test_xmpp_prosody_notls.sh - a partner setting that demands TLS, against a
# real Prosody 0.12 that offers none (tls not loaded, dialback only): the
# gateway never falls back to plaintext (issue 5; checklist S2S-05, S2S-19),
# fails in both directions, and says so in its log and metrics.
#
#   partner pa.test: --tls required --sasl not-supported --dialback on
#   the gateway dials Prosody: the Deliver fails (status 504,
#     remote-server-timeout), bob's client gets nothing; xmppd logs
#     event=outbound_setup_failed (or outbound_failed) for pa.test with a
#     reason that names TLS, and event=outbound_failed status=504, and
#     xgw_xmpp_deliveries_total{result="remote-server-timeout"} counts it; no
#     stanza was written in plaintext (xmpp_stanzas_total out stays 0)
#   Prosody dials the gateway: the gateway offers only <starttls><required/>;
#     Prosody's dialback is refused with <policy-violation/>: xmppd logs
#     event=stream_refused reason=tls-required for pa.test,
#     xgw_xmpp_connections_refused_total{reason="tls-required"} counts it,
#     carol gets an error back and nothing reaches the SIP side
# "COND && ok ... || bad ...": ok always returns 0.
# shellcheck disable=SC2015
set -uo pipefail
NAME=test_xmpp_prosody_notls
# shellcheck source=lib_xmpp.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_xmpp.sh"

xt_init
xt_dns_record "host-record=pa.test,$XT_PA_IP" "host-record=$XT_GW_DOMAIN,$XT_GW_IP"
xt_dns_start
xt_ca_init
xt_gw_start
xt_partner pa.test tls
pt_wait_edge_version 5 || xt_fatal "the edge has partner pa.test" "$(ruleset_version --edge xmpp)"
xt_prosody_start a pa.test "$XT_PA_IP" dialback
xt_prosody_user a bob pw
xt_prosody_user a carol pw

# The gateway dials Prosody.
xt_client_bg bob "$XT_PA_IP:5222" bob@pa.test pw presence "expect-nothing $XT_GW_DOMAIN 8"
failed0=$(xt_metric 'xgw_xmpp_deliveries_total\{[^}]*result="remote-server-timeout"')
xt_sip_send message "alice@$XT_GW_DOMAIN" bob@pa.test --body "must not cross in plaintext"
[[ $OUT == status=504* && $OUT == *'condition="remote-server-timeout"'* ]] &&
    ok "gateway -> pa.test: the Deliver fails: $OUT" ||
    bad "gateway -> pa.test: the Deliver fails with remote-server-timeout" "xgw-testsip send" \
        'status=504 condition="remote-server-timeout"' "$OUT"
# The reason must name TLS: "peer-stream-error" alone does not tell the
# operator that the partner demands TLS the peer does not offer.
WHY='event=outbound_(setup_)?failed .*remote=pa\.test .*reason="?[a-z-]*tls'
xt_log_wait "$T/xmppd.log" "$WHY" 5 &&
    ok "xmppd logs: $(grep -m1 -E "$WHY" "$T/xmppd.log" | sed 's/.*event=/event=/')" ||
    bad "xmppd logs that pa.test offers no TLS" "grep xmppd.log" \
        "event=outbound_setup_failed (or outbound_failed) remote=pa.test reason=...tls..." \
        "$(grep -E 'remote=pa\.test' "$T/xmppd.log" | grep -v lvl=debug | tail -n 3 | sed 's/.*event=/event=/' | paste -sd'|')"
grep -qE 'event=outbound_failed .*remote=pa\.test .*status=504 condition=remote-server-timeout' "$T/xmppd.log" &&
    ok "xmppd logs event=outbound_failed status=504 for pa.test" ||
    bad "xmppd logs the failed route" "grep xmppd.log" "event=outbound_failed remote=pa.test status=504" \
        "$(grep -E 'event=outbound_failed' "$T/xmppd.log" | tail -n 1)"
failed1=$(xt_metric 'xgw_xmpp_deliveries_total\{[^}]*result="remote-server-timeout"')
((failed1 == failed0 + 1)) &&
    ok "xgw_xmpp_deliveries_total{result=\"remote-server-timeout\"} went from $failed0 to $failed1" ||
    bad "the failed delivery is counted" "curl /metrics" \
        "xgw_xmpp_deliveries_total{result=\"remote-server-timeout\"} = $((failed0 + 1))" \
        "$failed1; $(xt_metric_lines xgw_xmpp_deliveries_total)"
out=$(xt_metric 'xgw_xmpp_stanzas_total\{[^}]*direction="out"')
[[ $out == 0 ]] && ok "no stanza was written to pa.test (xgw_xmpp_stanzas_total{direction=\"out\"} = 0)" ||
    bad "no stanza is written in plaintext" "curl /metrics" "xgw_xmpp_stanzas_total{direction=out} 0" "$out"
xt_check_client "gateway -> pa.test: bob's client got nothing from $XT_GW_DOMAIN" bob 30

# Prosody dials the gateway.
refused0=$(xt_metric 'xgw_xmpp_connections_refused_total\{[^}]*reason="tls-required"')
xt_client carol "$XT_PA_IP:5222" carol@pa.test pw presence \
    "message alice@$XT_GW_DOMAIN must not cross either" "wait 6"
grep -qE "recv message from=alice@$XT_GW_DOMAIN .*type=error" "$T/clients/carol.out" &&
    ok "pa.test -> gateway: carol gets an error back" ||
    bad "pa.test -> gateway: carol gets an error back" "xmpp_c2s.py carol" "recv message ... type=error" \
        "$(paste -sd'|' "$T/clients/carol.out")"
xt_log_wait "$T/xmppd.log" 'event=stream_refused .*remote=pa\.test .*reason=tls-required' 5 &&
    ok "xmppd logs: $(grep -m1 -E 'event=stream_refused .*remote=pa\.test .*reason=tls-required' "$T/xmppd.log" | sed 's/.*event=/event=/')" ||
    bad "xmppd logs the refused inbound stream" "grep xmppd.log" \
        "event=stream_refused remote=pa.test reason=tls-required" \
        "$(grep -E 'event=stream_(refused|error) ' "$T/xmppd.log" | tail -n 2 | sed 's/.*event=/event=/' | paste -sd'|')"
refused1=$(xt_metric 'xgw_xmpp_connections_refused_total\{[^}]*reason="tls-required"')
((refused1 > refused0)) &&
    ok "xgw_xmpp_connections_refused_total{reason=\"tls-required\"} went from $refused0 to $refused1" ||
    bad "the refused stream is counted" "curl /metrics" \
        "xgw_xmpp_connections_refused_total{reason=\"tls-required\"} > $refused0" \
        "$refused1; $(xt_metric_lines xgw_xmpp_connections_refused_total)"
n=$(xt_sip_count '^deliver ')
[[ $n == 0 ]] && ok "nothing reached the SIP side" ||
    bad "nothing reached the SIP side" "cat sip.log" "no Deliver" "$n: $(head -n 2 "$T/sip.log")"
log "done in $(xt_elapsed) s"
xt_finish
