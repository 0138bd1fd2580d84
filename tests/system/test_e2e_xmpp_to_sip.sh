#!/usr/bin/env bash
# test_e2e_xmpp_to_sip.sh - step 2 of the end-to-end suite: an XMPP message
# crosses the whole gateway to a SIP user.
#
#   juliet's c2s client -> Prosody xmpp.test -> (s2s to sip.test, found
#   through the test's dnsmasq; dialback over plain TCP, xmppd as receiving
#   and authoritative server) -> xgw-xmppd -> broker -> xgw-sipd -> MESSAGE
#   to romeo's phone (a sipp UAS, sipd's outbound proxy)
#
# Checks: the MESSAGE reaches romeo with the exact body; Request-URI and To
# are sip:romeo@sip.test, From is juliet with her resource as ;gr= inside the
# brackets and a tag (ADR-04), no Contact, Max-Forwards 70 (IM-05),
# text/plain;charset=UTF-8, Call-ID is juliet's <thread/> (IM-04); Prosody
# authenticated the gateway by dialback (s2s:show()) and xmppd verified
# Prosody's key; three more messages arrive in order; juliet gets no error
# back.
# "COND && ok ... || bad ...": ok always returns 0.
# shellcheck disable=SC2015,SC2119
set -uo pipefail
NAME=test_e2e_xmpp_to_sip
# shellcheck source=lib_e2e.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_e2e.sh"

e2e_init
e2e_dns_start
e2e_gw_start
e2e_partner "$E2E_XD" dialback
e2e_prosody_start
e2e_uas_start romeo 200
e2e_xmpp_start juliet "juliet@$E2E_XD"
e2e_xmpp juliet presence

e2e_xmpp juliet "message to=romeo@$E2E_SD 'body=hello romeo, from XMPP' thread=t-0001"
e2e_sip_expect "romeo's phone gets juliet's MESSAGE with the exact body" romeo method=MESSAGE \
    "body=hello romeo, from XMPP"
e2e_sip_expect "Request-URI and To are sip:romeo@$E2E_SD" romeo method=MESSAGE \
    "start=MESSAGE sip:romeo@$E2E_SD SIP/2.0" "To=<sip:romeo@$E2E_SD>"
e2e_sip_expect "From is juliet with her resource as ;gr= inside the brackets, and a tag (ADR-04)" \
    romeo method=MESSAGE "From~=^<sip:juliet@$E2E_XD;gr=juliet>;tag=."
e2e_sip_expect "no Contact, Max-Forwards 70, a z9hG4bK branch (IM-05)" romeo method=MESSAGE \
    no:Contact Max-Forwards=70 "Via~=;branch=z9hG4bK"
e2e_sip_expect "Content-Type text/plain;charset=UTF-8, Call-ID = <thread/> (IM-04)" romeo \
    method=MESSAGE "Content-Type~=^text/plain; ?charset=UTF-8$" Call-ID=t-0001
row=$(xt_prosody_row x "$E2E_SD" '-->')
[[ $row =~ \|\ insecure\ \|\ \|\ Completed ]] &&
    ok "Prosody's stream to $E2E_SD: plain TCP, dialback completed ($row)" ||
    bad "Prosody authenticated its stream to $E2E_SD by dialback" "prosodyctl shell s2s:show()" \
        "| insecure | | Completed" "${row:-no row}"
e2e_log_expect "xmppd (receiving server) had Prosody's key verified by $E2E_XD: valid" xmppd.log \
    "event=dialback_verify_result .*originating=$E2E_XD .*result=valid"
e2e_log_expect "xmppd's inbound stream from $E2E_XD is authenticated by dialback" xmppd.log \
    "event=stream_authenticated .*dir=in .*remote=$E2E_XD auth=dialback"

# Three more in a row arrive in order, and juliet hears nothing back.
for i in 1 2 3; do
    e2e_xmpp juliet "message to=romeo@$E2E_SD 'body=burst $i'"
done
e2e_sip_expect "three more messages reach romeo" romeo --count 3 method=MESSAGE "body~=^burst [123]$"
order=$("$PY" "$E2E_DIR/sip_trace.py" show --file "$T/sip/romeo.msg" method=MESSAGE 'body~=^burst' |
    "$PY" -c 'import json,sys; print(" ".join(json.loads(l)["body"] for l in sys.stdin))')
[[ $order == "burst 1 burst 2 burst 3" ]] && ok "they arrive in the order juliet sent them" ||
    bad "messages keep their order" "romeo.msg" "burst 1 burst 2 burst 3" "$order"
e2e_xmpp_none "juliet gets no error stanza" juliet 1 type=error
e2e_finish
