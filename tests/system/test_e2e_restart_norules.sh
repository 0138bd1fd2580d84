#!/usr/bin/env bash
# test_e2e_restart_norules.sh - an edge that restarts takes no work before it
# holds a rule set: policyd is stopped (SIGSTOP) while xmppd restarts, and a
# Deliver that waited in the broker while xmppd was dead must still be
# delivered once policyd answers (lib/xgw_edge_rt.c registers with credit 0
# until the first rule set; the broker keeps the request meanwhile). Also
# checked: an edge started while policyd does not answer keeps its event
# loop running (lib/xgw_rules_client.c never blocks), and sipd answers a
# MESSAGE that arrives before its first rule set with a temporary 503, not
# 403 (the second half: 200 or 503).
# "COND && ok ... || bad ...": ok always returns 0.
# shellcheck disable=SC2015,SC2119
set -uo pipefail
NAME=test_e2e_restart_norules
# shellcheck source=lib_e2e.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_e2e.sh"

e2e_init
e2e_dns_start
e2e_gw_start
e2e_partner "$E2E_XD" dialback
e2e_prosody_start
e2e_xmpp_start juliet "juliet@$E2E_XD"
e2e_xmpp juliet presence
ROMEO="sip:romeo@$E2E_SD"
JULIET="sip:juliet@$E2E_XD"
e2e_check_uac "before: romeo -> juliet" m0 200 "$ROMEO" "$JULIET" "before the restart"

kill9() {
    kill -KILL "${PT_PID[$1]}" 2>/dev/null
    wait "${PT_PID[$1]}" 2>/dev/null
    unset "PT_PID[$1]"
}

# xmppd restarts while policyd does not answer.
kill9 xmppd
E2E_V_HEADERS="" E2E_V_EXPECT=200 E2E_V_FROM=$ROMEO E2E_V_RURI=$JULIET E2E_V_TO=$JULIET \
    E2E_V_CTYPE="text/plain;charset=UTF-8" E2E_V_BODY="held across xmppd's restart" \
    e2e_uac_bg x1 uac_message.xml -timeout 40 -timeout_error
sleep 0.5
kill -STOP "${PT_PID[policyd]}"
pt_start xmppd
xt_log_wait "$T/xmppd.log" "event=serving .*" 20
sleep 2
kill -CONT "${PT_PID[policyd]}"
e2e_check_sipp "the MESSAGE held while xmppd was dead gets 200 once xmppd has its rules" x1 30
e2e_xmpp_expect "juliet gets it" juliet kind=message "body=held across xmppd's restart"
n=$(e2e_count xmppd.log "event=deliver_refused .*reason=no-rules")
[[ $n == 0 ]] && ok "xmppd refused nothing for want of rules" ||
    bad "xmppd refused nothing for want of rules" "grep deliver_refused xmppd.log" 0 \
        "$n: $(grep -m1 'reason=no-rules' "$T/xmppd.log" | cut -c1-200)"
e2e_wait_edges 20 || xt_fatal "both edges hold policyd's rule set again" "$(e2e_version --edge xmpp)"

# sipd restarts while policyd does not answer.
kill9 sipd
kill -STOP "${PT_PID[policyd]}"
pt_start sipd
xt_log_wait "$T/sipd.log" "event=sip_listening" 20
sleep 0.5
e2e_uac m1 200 "$ROMEO" "$JULIET" "to a sipd without rules"
st=$(e2e_uac_status m1)
kill -CONT "${PT_PID[policyd]}"
[[ $RC == 0 || $st =~ ^SIP/2\.0\ 503 ]] &&
    ok "a MESSAGE to a sipd without rules gets 200 or a temporary 503 ($st)" ||
    bad "a sipd without rules answers with a temporary error" "sipp MESSAGE" \
        "200 or 503 + Retry-After" "$st"
e2e_wait_edges 20 || xt_fatal "both edges hold policyd's rule set again" "$(e2e_version --edge sip)"
e2e_finish
