#!/usr/bin/env bash
# test_xmpp_harness.sh - proves the interop harness (lib_xmpp.sh) before any
# xgw test relies on it: two real Prosody 0.12 instances federate with each
# other through it, in each s2s mode the xmppd tests use, and the failure
# the "TLS demanded, none offered" test expects is visible.
#
#   DNS fixture: dnsmasq answers SRV, '.', A and NXDOMAIN as declared and
#     REFUSES everything outside *.test (nothing is forwarded)
#   dialback over plain TCP (pa.test found by A fallback, pb.test by SRV to
#     another host name): a chat message and a directed presence cross in
#     each direction; s2s:show() says "insecure" and dialback "Completed"
#   STARTTLS + dialback: the same, s2s:show() says TLS and dialback
#     "Completed", no SASL
#   STARTTLS + SASL EXTERNAL (s2s_secure_auth, test CA): the same, SASL
#     "Succeeded", dialback "Not used"
#   a Prosody that requires TLS against one that offers none: the message
#     does not cross and the sender gets an error stanza back
# "COND && ok ... || bad ...": ok always returns 0.
# shellcheck disable=SC2015
set -uo pipefail
NAME=test_xmpp_harness
# shellcheck source=lib_xmpp.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_xmpp.sh"

xt_init
xt_dns_record "host-record=pa.test,$XT_PA_IP" "host-record=xmpp.pb.test,$XT_PB_IP" \
    "srv-host=_xmpp-server._tcp.pb.test,xmpp.pb.test,5269,0,5" \
    "srv-host=_xmpp-server._tcp.none.test"
xt_dns_start
xt_ca_init

xt_dns_check "dns: SRV of pb.test" _xmpp-server._tcp.pb.test SRV \
    "rcode=NOERROR answers=1 | SRV 0 5 5269 xmpp.pb.test."
xt_dns_check "dns: no SRV for pa.test (NXDOMAIN)" _xmpp-server._tcp.pa.test SRV \
    "rcode=NXDOMAIN answers=0"
xt_dns_check "dns: A of pa.test" pa.test A "rcode=NOERROR answers=1 | A $XT_PA_IP"
xt_dns_check "dns: SRV '.' for none.test" _xmpp-server._tcp.none.test SRV \
    "rcode=NOERROR answers=1 | SRV 0 0 1 ."
xt_dns_check "dns: names outside .test are refused, never forwarded" example.com A \
    "rcode=REFUSED answers=0"

# crossing MODE: alice@pa.test and bob@pb.test exchange a chat message and
# a directed presence both ways.
crossing() {
    local mode=$1
    xt_client_bg "bob-$mode" "$XT_PB_IP:5222" bob@pb.test pw presence \
        "expect-message alice@pa.test from a to b in $mode 20" "expect-presence alice@pa.test 20" \
        "message alice@pa.test from b to a in $mode" "dpresence alice@pa.test away"
    xt_client_bg "alice-$mode" "$XT_PA_IP:5222" alice@pa.test pw presence \
        "message bob@pb.test from a to b in $mode" "dpresence bob@pb.test" \
        "expect-message bob@pb.test from b to a in $mode 20" "expect-presence bob@pb.test 20"
    xt_check_client "$mode: pa.test -> pb.test: message and presence arrive" "bob-$mode" 30
    xt_check_client "$mode: pb.test -> pa.test: message and presence arrive" "alice-$mode" 30
}

# s2s_row NAME REMOTE DIR: the s2s:show() row of instance NAME towards
# REMOTE in direction DIR (--> or <--), columns squeezed.
s2s_row() {
    xt_prosody_s2s "$1" | grep -F "| $3 " | grep -F " $2 " | head -n 1 | tr -s ' '
}

for mode in dialback tls external; do
    xt_prosody_start a pa.test "$XT_PA_IP" "$mode"
    xt_prosody_start b pb.test "$XT_PB_IP" "$mode"
    xt_prosody_user a alice pw
    xt_prosody_user b bob pw
    crossing "$mode"
    row=$(s2s_row a pb.test '-->')
    case $mode in
    dialback) want='\| insecure \| \| Completed' ;;
    tls) want='\| TLSv1\.[23] \| \| Completed' ;;
    external) want='\| TLSv1\.[23] \| Succeeded \| Not used' ;;
    esac
    [[ $row =~ $want ]] && ok "$mode: pa.test's outbound stream: $row" ||
        bad "$mode: pa.test's outbound s2s stream is authenticated as expected" \
            "prosodyctl shell s2s:show()" "$want" "${row:-no row}"
    if [[ $mode == dialback ]]; then
        grep -q "query\[SRV\] _xmpp-server._tcp.pb.test" "$T/dns/dnsmasq.log" &&
            grep -q "query\[A\] xmpp.pb.test" "$T/dns/dnsmasq.log" &&
            ok "dialback: Prosody found pb.test through the SRV record" ||
            bad "Prosody resolved pb.test by SRV" "grep dnsmasq.log" \
                "SRV query then A xmpp.pb.test" "$(grep -c query "$T/dns/dnsmasq.log") queries"
    fi
    xt_prosody_stop a
    xt_prosody_stop b
done

# The failure mode the gateway test expects to report: TLS demanded, none offered.
xt_prosody_start a pa.test "$XT_PA_IP" tls
xt_prosody_start b pb.test "$XT_PB_IP" dialback
xt_prosody_user a alice pw
xt_prosody_user b bob pw
xt_client_bg bob-notls "$XT_PB_IP:5222" bob@pb.test pw presence "expect-nothing pa.test 6"
xt_client alice-notls "$XT_PA_IP:5222" alice@pa.test pw presence \
    "message bob@pb.test must not cross" "wait 6"
grep -q "recv message from=pb.test .*error=" "$T/clients/alice-notls.out" ||
    grep -q "recv message from=bob@pb.test .*type=error" "$T/clients/alice-notls.out" &&
    ok "tls vs none: the sender gets an error stanza" ||
    bad "tls vs none: the sender gets an error stanza" "xmpp_c2s.py alice" \
        "recv message ... type=error" "$(paste -sd'|' "$T/clients/alice-notls.out")"
xt_check_client "tls vs none: nothing reaches the receiver" bob-notls 20

log "done in $(xt_elapsed) s"
xt_finish
