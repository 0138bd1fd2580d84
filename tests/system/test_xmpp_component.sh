#!/usr/bin/env bash
# test_xmpp_component.sh - xgw-xmppd in component mode (issue 5 item 6): an
# XEP-0114 component of a real Prosody 0.12 that federates for it.
#
#   Prosody serves pa.test (c2s users juliet, carol) and knows the
#   component gw.test; xmppd runs with mode = component, component_connect
#   = Prosody's component port, component_domain = gw.test and a secret file.
#   - a wrong secret: xmppd logs event=component_handshake_refused with
#     condition=not-authorized, counts
#     xgw_xmpp_component_failures_total{reason="refused"}, keeps retrying
#     (the counter grows), a Deliver meanwhile gets 503; the secret appears
#     in no log;
#   - the secret file fixed (no restart): the link comes up
#     (event=component_ready, xgw_xmpp_component_up 1,
#     xgw_xmpp_streams{direction="component"} 1);
#   - XMPP -> SIP: juliet's chat message and directed presence to
#     romeo@gw.test reach the SIP side (xgw-testsip logs the Deliver);
#   - SIP -> XMPP: a Deliver to "xmpp" from romeo@gw.test is answered 200
#     and reaches juliet's client;
#   - Prosody restarts: xmppd sees the link go (component_lost,
#     component_up 0), answers a Deliver 503, reconnects by itself and
#     delivers again;
#   - xmppd exits 0 on SIGTERM (xt_finish).
# "COND && ok ... || bad ...": ok always returns 0.
# shellcheck disable=SC2015
set -uo pipefail
NAME=test_xmpp_component
# shellcheck source=lib_xmpp.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_xmpp.sh"

GW=$XT_GW_DOMAIN
SECRET=right-component-secret-4711
WRONG=wrong-component-secret-0815

# metric_wait REGEX ge|eq VALUE SECS: 0 once xmppd's metric is >= / == VALUE.
metric_wait() {
    local re=$1 op=$2 want=$3 secs=$4 deadline v
    deadline=$(($(now_ms) + secs * 1000))
    while (($(now_ms) < deadline)); do
        v=$(xt_metric "$re")
        case $op in
        ge) ((v >= want)) && return 0 ;;
        eq) ((v == want)) && return 0 ;;
        esac
        sleep 0.2
    done
    return 1
}

# Prosody with the component gw.test (component settings before the
# VirtualHost: the Component section ends where the VirtualHost starts).
start_prosody() {
    xt_prosody_start a pa.test "$XT_PA_IP" dialback \
        "component_ports = { 5347 }" "component_interfaces = { \"$XT_PA_IP\" }" \
        "Component \"$GW\"" "    component_secret = \"$SECRET\""
    xt_wait_port "$XT_PA_IP" 5347 10 || xt_fatal "prosody listens for components on $XT_PA_IP:5347" \
        "$(tail -n 5 "$T/a/prosody.log")"
}

xt_init
printf '%s\n' "$WRONG" >"$T/component.secret"
chmod 600 "$T/component.secret"
XT_XMPPD_EXTRA=("mode = component" "component_connect = \"$XT_PA_IP:5347\""
    "component_domain = \"$GW\"" "component_secret_file = \"$T/component.secret\"")
xt_gw_config
start_prosody
xt_prosody_user a juliet pw
xt_prosody_user a carol pw
XT_GW_NO_LISTEN=1 xt_gw_start
xt_partner pa.test dialback
pt_wait_edge_version 5 || xt_fatal "the edge has partner pa.test" "$(ruleset_version --edge xmpp)"
! grep -qE 'event=xmpp_listening' "$T/xmppd.log" &&
    ok "component mode: xmppd listens for no s2s stream" ||
    bad "component mode: no s2s listener" "grep xmpp_listening xmppd.log" "none" \
        "$(grep -m1 xmpp_listening "$T/xmppd.log")"

# ---- a wrong secret ----------------------------------------------------------------
xt_log_wait "$T/xmppd.log" 'event=component_handshake_refused .*condition=not-authorized' 10 &&
    ok "wrong secret: $(grep -m1 -E 'event=component_handshake_refused' "$T/xmppd.log" | sed 's/.*event=/event=/')" ||
    bad "wrong secret: a clear log line" "grep xmppd.log" \
        "event=component_handshake_refused condition=not-authorized" \
        "$(grep -E 'component' "$T/xmppd.log" | tail -n 3 | sed 's/.*event=/event=/' | paste -sd'|')"
metric_wait 'xgw_xmpp_component_failures_total\{reason="refused"\}' ge 2 10 &&
    ok "wrong secret: xmppd keeps retrying (component_failures_total{reason=\"refused\"} = $(xt_metric 'xgw_xmpp_component_failures_total\{reason="refused"\}'))" ||
    bad "wrong secret: counted and retried" "curl /metrics" \
        'xgw_xmpp_component_failures_total{reason="refused"} >= 2' \
        "$(xt_metric_lines xgw_xmpp_component_failures_total)"
[[ $(xt_metric 'xgw_xmpp_component_up') == 0 ]] && ok "wrong secret: xgw_xmpp_component_up 0" ||
    bad "wrong secret: the link is down" "curl /metrics" "xgw_xmpp_component_up 0" \
        "$(xt_metric_lines xgw_xmpp_component_up)"
xt_sip_send message "romeo@$GW" juliet@pa.test --body "not while the link is down"
[[ $OUT == status=503* ]] && ok "link down: a Deliver is answered $OUT" ||
    bad "link down: a Deliver gets 503 (sipd answers 503 + Retry-After)" "xgw-testsip send" \
        "status=503" "exit $RC: $OUT"

# ---- the secret fixed: no restart needed -----------------------------------------------
printf '%s\n' "$SECRET" >"$T/component.secret"
xt_log_wait "$T/xmppd.log" "event=component_ready domain=$(xt_re "$GW")" 40 &&
    ok "secret fixed: the link comes up without a restart" ||
    bad "secret fixed: the link comes up" "grep component_ready xmppd.log" "event=component_ready" \
        "$(grep -E 'component' "$T/xmppd.log" | tail -n 3 | sed 's/.*event=/event=/' | paste -sd'|')"
[[ $(xt_metric 'xgw_xmpp_component_up') == 1 &&
    $(xt_metric 'xgw_xmpp_streams\{direction="component"') == 1 ]] &&
    ok "xgw_xmpp_component_up 1 and xgw_xmpp_streams{direction=\"component\"} 1" ||
    bad "the link is counted" "curl /metrics" 'component_up 1, streams{direction="component"} 1' \
        "$(xt_metric_lines xgw_xmpp_component_up) $(xt_metric_lines xgw_xmpp_streams)"
n=$(grep -lE "$SECRET|$WRONG" "$T"/*.log "$T"/a/*.log 2>/dev/null | wc -l)
[[ $n == 0 ]] && ok "the secret appears in no log" ||
    bad "the secret appears in no log" "grep -l SECRET logs" "no file" \
        "$(grep -lE "$SECRET|$WRONG" "$T"/*.log "$T"/a/*.log | paste -sd' ')"

# ---- XMPP -> SIP ---------------------------------------------------------------------------
xt_client juliet "$XT_PA_IP:5222" juliet@pa.test pw presence \
    "message romeo@$GW wherefore art thou" "dpresence romeo@$GW away" "wait 1"
xt_check_deliver "pa.test -> component: juliet's message reaches the SIP side" message \
    juliet@pa.test "romeo@$GW" type=chat body="wherefore art thou"
xt_check_deliver "pa.test -> component: juliet's presence reaches the SIP side" presence \
    juliet@pa.test "romeo@$GW" raw:available=1 show=away
n=$(xt_sip_count '^deliver kind=message')
[[ $n == 1 ]] && ok "exactly one message reached the SIP side" ||
    bad "exactly one message reached the SIP side" "grep -c kind=message sip.log" 1 "$n"

# ---- SIP -> XMPP ---------------------------------------------------------------------------
xt_client_bg carol "$XT_PA_IP:5222" carol@pa.test pw presence \
    "expect-message romeo@$GW by any other name 30"
xt_sip_send message "romeo@$GW" carol@pa.test --body "by any other name"
[[ $RC == 0 && $OUT == "status=200" ]] && ok "component -> pa.test: the Deliver is accepted (status=200)" ||
    bad "component -> pa.test: the Deliver is accepted" "xgw-testsip send" "status=200" "exit $RC: $OUT"
xt_check_client "component -> pa.test: carol's client got romeo's message" carol 40
in=$(xt_metric 'xgw_xmpp_stanzas_total\{direction="in"')
out=$(xt_metric 'xgw_xmpp_stanzas_total\{direction="out"')
((in >= 2 && out >= 1)) && ok "xgw_xmpp_stanzas_total counts in=$in out=$out" ||
    bad "stanzas are counted" "curl /metrics" "in >= 2, out >= 1" \
        "$(xt_metric_lines xgw_xmpp_stanzas_total)"

# ---- Prosody restarts ----------------------------------------------------------------------
xt_prosody_stop a
xt_log_wait "$T/xmppd.log" 'event=component_lost ' 10 &&
    ok "Prosody stopped: $(grep -m1 -E 'event=component_lost ' "$T/xmppd.log" | sed 's/.*event=/event=/' | cut -c1-160)" ||
    bad "Prosody stopped: xmppd sees the link go" "grep component_lost xmppd.log" "event=component_lost" \
        "$(grep -E 'component' "$T/xmppd.log" | tail -n 3 | sed 's/.*event=/event=/' | paste -sd'|')"
xt_sip_send message "romeo@$GW" carol@pa.test --body "nobody there"
[[ $OUT == status=503* ]] && ok "Prosody down: a Deliver is answered $OUT" ||
    bad "Prosody down: a Deliver gets 503" "xgw-testsip send" "status=503" "exit $RC: $OUT"
start_prosody
metric_wait 'xgw_xmpp_component_up' eq 1 40 &&
    ok "Prosody back: xmppd reconnected by itself ($(grep -c 'event=component_ready' "$T/xmppd.log") component_ready lines)" ||
    bad "Prosody back: the link comes back" "curl /metrics" "xgw_xmpp_component_up 1" \
        "$(grep -E 'component' "$T/xmppd.log" | tail -n 3 | sed 's/.*event=/event=/' | paste -sd'|')"
xt_client_bg carol2 "$XT_PA_IP:5222" carol@pa.test pw presence \
    "expect-message romeo@$GW after the restart 30"
xt_sip_send message "romeo@$GW" carol@pa.test --body "after the restart"
[[ $RC == 0 && $OUT == "status=200" ]] && ok "after the restart: the Deliver is accepted (status=200)" ||
    bad "after the restart: the Deliver is accepted" "xgw-testsip send" "status=200" "exit $RC: $OUT"
xt_check_client "after the restart: carol's client got the message" carol2 40

log "done in $(xt_elapsed) s"
xt_finish
