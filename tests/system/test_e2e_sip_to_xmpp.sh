#!/usr/bin/env bash
# test_e2e_sip_to_xmpp.sh - step 1 of the end-to-end suite: a SIP MESSAGE
# crosses the whole gateway to a real XMPP user.
#
#   sipp (romeo@sip.test, from the trusted SIP side) -> xgw-sipd -> broker
#   -> xgw-xmppd -> (s2s, dialback over plain TCP, found through the test's
#   dnsmasq) -> Prosody xmpp.test -> juliet's c2s client
#
# Checks: the MESSAGE gets 200, juliet's client gets the body from
# romeo@sip.test (no type, IM-02); the 200 came only after xmppd's outbound
# stream to xmpp.test was authenticated (so a 2xx means the XMPP side has
# it); Prosody authenticated the gateway by dialback (s2s:show()); a second
# MESSAGE reuses the stream; with Prosody stopped the next MESSAGE gets an
# error response, not 200.
# "COND && ok ... || bad ...": ok always returns 0.
# shellcheck disable=SC2015,SC2119
set -uo pipefail
NAME=test_e2e_sip_to_xmpp
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

e2e_check_uac "romeo's MESSAGE to juliet@$E2E_XD is accepted" m1 200 "$ROMEO" "$JULIET" \
    "hello juliet, from SIP"
e2e_xmpp_expect "juliet's client receives the body from romeo@$E2E_SD (no type: IM-02)" juliet \
    kind=message "from=romeo@$E2E_SD" "to=juliet@$E2E_XD" "body=hello juliet, from SIP" no:type

# The 200 waited for the XMPP side: it came after the outbound stream was
# authenticated (the first message had to wait for DNS, TCP and dialback).
ready_ms=$(e2e_log_ms xmppd.log "event=outbound_ready .*remote=$E2E_XD")
ok_ms=$("$PY" "$E2E_DIR/sip_trace.py" match --file "$T/sip/m1.msg" --json status=200 |
    "$PY" -c 'import json,sys,datetime; d=json.load(sys.stdin); print(int(datetime.datetime.strptime(d["ts"], "%Y-%m-%d %H:%M:%S.%f").timestamp()*1000))')
[[ -n $ready_ms && -n $ok_ms ]] && ((ok_ms >= ready_ms)) &&
    ok "the 200 came after xmppd's stream to $E2E_XD was authenticated ($((ok_ms - ready_ms)) ms later)" ||
    bad "the 200 waits for the XMPP side" "xmppd.log outbound_ready vs sipp's 200" \
        "200 at or after outbound_ready" "outbound_ready=${ready_ms:-none} 200=${ok_ms:-none}"
e2e_log_expect "xmppd authenticated its stream to $E2E_XD by dialback" xmppd.log \
    "event=stream_authenticated .*dir=out .*remote=$E2E_XD .*auth=dialback|event=outbound_ready .*remote=$E2E_XD .*auth=dialback"
row=$(xt_prosody_row x "$E2E_SD" '<--')
[[ $row =~ \|\ insecure\ \| ]] &&
    xt_prosody_log x "connection $E2E_SD->$E2E_XD is now authenticated for $E2E_SD" &&
    ok "Prosody authenticated the stream from $E2E_SD by dialback over plain TCP ($row)" ||
    bad "Prosody authenticated $E2E_SD by dialback over plain TCP" \
        "s2s:show() and prosody.log" "insecure, 'connection $E2E_SD->$E2E_XD is now authenticated'" \
        "${row:-no row}"

# A second message on the same stream, faster than the first.
e2e_check_uac "a second MESSAGE is accepted" m2 200 "$ROMEO" "$JULIET" "second message"
e2e_xmpp_expect "juliet receives the second message" juliet kind=message \
    "from=romeo@$E2E_SD" "body=second message"
n=$(e2e_count xmppd.log "event=outbound_connecting .*remote=$E2E_XD")
[[ $n == 1 ]] && ok "one outbound connection to $E2E_XD carried both messages" ||
    bad "one outbound connection to $E2E_XD" "grep -c outbound_connecting xmppd.log" 1 "$n"

# No 200 without the XMPP side: Prosody gone, the MESSAGE fails.
xt_prosody_stop x
e2e_uac m3 200 "$ROMEO" "$JULIET" "nobody is there"
st=$(e2e_uac_status m3)
[[ $RC != 0 && $st =~ ^SIP/2\.0\ [4-6][0-9][0-9] ]] &&
    ok "with $E2E_XD down the MESSAGE gets an error response ($st), not 200" ||
    bad "with $E2E_XD down the MESSAGE fails" "sipp MESSAGE to juliet (Prosody stopped)" \
        "a 4xx-6xx final response" "sipp exit $RC, $st"
e2e_finish
