#!/usr/bin/env bash
# test_xmpp_dns.sh - how xgw-xmppd finds a remote server (issue 5; checklist
# S2S-01 cases a-d), with dnsmasq on 127.0.0.170 as its only DNS server
# (xmppd.dns_servers) and the scripted raw peer listening as the remote
# servers on 127.0.0.175 (port 5269, and 5270 for the SRV target).
#
#   (a) SRV present: _xmpp-server._tcp.srv.test -> xmpp.srv.test:5270: the
#       gateway connects to 5270 (not to srv.test's A record on 5269), opens
#       a stream to srv.test, and the message arrives there; status=200
#   (b) SRV '.': _xmpp-server._tcp.dot.test has the target '.': no
#       connection at all (not even to dot.test's A record), and the sender
#       gets remote-server-not-found
#   (c) no SRV: nosrv.test's A record on 5269 (the fallback) gets the stream
#       and the message; status=200
#   (d) SRV exists, its port is closed: no fallback to closed.test's A
#       record on 5269, and the sender gets remote-server-timeout
#   for each domain, the gateway asked dnsmasq for both _xmpps-server and
#   _xmpp-server (XEP-0368)
# "COND && ok ... || bad ...": ok always returns 0.
# shellcheck disable=SC2015
set -uo pipefail
NAME=test_xmpp_dns
# shellcheck source=lib_xmpp.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_xmpp.sh"

xt_init
xt_dns_record "host-record=$XT_GW_DOMAIN,$XT_GW_IP" \
    "host-record=srv.test,$XT_RAW_IP" "host-record=xmpp.srv.test,$XT_RAW_IP" \
    "srv-host=_xmpp-server._tcp.srv.test,xmpp.srv.test,5270,0,5" \
    "host-record=dot.test,$XT_RAW_IP" "srv-host=_xmpp-server._tcp.dot.test" \
    "host-record=nosrv.test,$XT_RAW_IP" \
    "host-record=closed.test,$XT_RAW_IP" "srv-host=_xmpp-server._tcp.closed.test,closed.test,5271,0,5"
xt_dns_start
xt_dns_check "fixture: SRV of srv.test" _xmpp-server._tcp.srv.test SRV \
    "rcode=NOERROR answers=1 | SRV 0 5 5270 xmpp.srv.test."
xt_dns_check "fixture: SRV '.' of dot.test" _xmpp-server._tcp.dot.test SRV \
    "rcode=NOERROR answers=1 | SRV 0 0 1 ."
xt_dns_check "fixture: no SRV for nosrv.test" _xmpp-server._tcp.nosrv.test SRV \
    "rcode=NXDOMAIN answers=0"
xt_dns_check "fixture: SRV of closed.test" _xmpp-server._tcp.closed.test SRV \
    "rcode=NOERROR answers=1 | SRV 0 5 5271 closed.test."
xt_port_free "$XT_RAW_IP" 5271 || xt_fatal "$XT_RAW_IP:5271 is closed" "something listens there"
xt_ca_init
xt_gw_start
for d in srv.test dot.test nosrv.test closed.test; do xt_partner "$d" dialback; done
pt_wait_edge_version 5 || xt_fatal "the edge has the partners" "version $(ruleset_version --edge xmpp)"

# The remote servers: one raw peer on each port, serving any domain.
for port in 5269 5270; do
    xt_port_free "$XT_RAW_IP" "$port" || xt_fatal "$XT_RAW_IP:$port is free" "something listens there"
done
xt_raw_bg l5269 --listen "$XT_RAW_IP:5269" --duration 100
xt_raw_bg l5270 --listen "$XT_RAW_IP:5270" --duration 100
xt_wait_port "$XT_RAW_IP" 5269 5 && xt_wait_port "$XT_RAW_IP" 5270 5 ||
    xt_fatal "the raw peers listen on $XT_RAW_IP:5269 and :5270" "$(cat "$T"/raw-l52*.out)"
# (the probe connections of xt_wait_port are not streams: they send no header)

# streams_to PORT DOMAIN: how many streams to DOMAIN the listener on PORT saw.
streams_to() { grep -cE "listener#[0-9]+ recv header .*to=$2( |$)" "$T/raw-l$1.out"; }
# message_at PORT BODY: 0 when the listener on PORT received a message with BODY.
message_at() { grep -qF ">$2</" "$T/raw-l$1.out"; }

# send_case DOMAIN BODY: a message from alice@gw.test to bob@DOMAIN.
send_case() { xt_sip_send message "alice@$XT_GW_DOMAIN" "bob@$1" --body "$2" --timeout-ms 25000; }

# (a)
send_case srv.test "via srv"
[[ $OUT == "status=200" ]] && ok "(a) SRV present: the message is accepted (status=200)" ||
    bad "(a) SRV present: the message is accepted" "xgw-testsip send ... bob@srv.test" "status=200" "$OUT"
[[ $(streams_to 5270 srv.test) -ge 1 ]] && message_at 5270 "via srv" &&
    ok "(a) SRV present: the stream went to the SRV target's port 5270 and carried the message" ||
    bad "(a) SRV present: the stream goes to xmpp.srv.test:5270" "raw peer on :5270" \
        "a stream to srv.test carrying 'via srv'" "$(grep -E 'header|message' "$T/raw-l5270.out" | tail -n 3 | paste -sd'|')"
n=$(streams_to 5269 srv.test)
[[ $n == 0 ]] && ok "(a) SRV present: nothing went to srv.test's A record on 5269" ||
    bad "(a) SRV present: no stream to the A record" "raw peer on :5269" "0 streams to srv.test" "$n"

# (b)
send_case dot.test "via dot"
[[ $OUT == status=* && $OUT != status=200 && $OUT == *'condition="remote-server-not-found"'* ]] &&
    ok "(b) SRV '.': refused with remote-server-not-found ($OUT)" ||
    bad "(b) SRV '.': refused with remote-server-not-found" "xgw-testsip send ... bob@dot.test" \
        'status=4xx/5xx condition="remote-server-not-found"' "$OUT"
n=$(($(streams_to 5269 dot.test) + $(streams_to 5270 dot.test)))
[[ $n == 0 ]] && ok "(b) SRV '.': no connection at all (no A fallback)" ||
    bad "(b) SRV '.': no connection" "raw peers" "0 streams to dot.test" "$n"

# (c)
send_case nosrv.test "via a"
[[ $OUT == "status=200" ]] && ok "(c) no SRV: the message is accepted (status=200)" ||
    bad "(c) no SRV: the message is accepted" "xgw-testsip send ... bob@nosrv.test" "status=200" "$OUT"
[[ $(streams_to 5269 nosrv.test) -ge 1 ]] && message_at 5269 "via a" &&
    ok "(c) no SRV: the stream went to nosrv.test's A record on 5269 and carried the message" ||
    bad "(c) no SRV: A fallback on 5269" "raw peer on :5269" "a stream to nosrv.test carrying 'via a'" \
        "$(grep -E 'header|message' "$T/raw-l5269.out" | tail -n 3 | paste -sd'|')"

# (d)
send_case closed.test "via closed"
[[ $OUT == status=* && $OUT != status=200 && $OUT == *'condition="remote-server-timeout"'* ]] &&
    ok "(d) SRV to a closed port: refused with remote-server-timeout ($OUT)" ||
    bad "(d) SRV to a closed port: refused with remote-server-timeout" \
        "xgw-testsip send ... bob@closed.test" 'status=4xx/5xx condition="remote-server-timeout"' "$OUT"
n=$(streams_to 5269 closed.test)
[[ $n == 0 ]] && ok "(d) SRV to a closed port: no fallback to closed.test's A record on 5269" ||
    bad "(d) no A fallback when the SRV target is down" "raw peer on :5269" "0 streams to closed.test" "$n"

# XEP-0368: both services asked, for every domain dialled.
for d in srv.test dot.test nosrv.test closed.test; do
    grep -q "query\[SRV\] _xmpps-server._tcp.$d from" "$T/dns/dnsmasq.log" &&
        grep -q "query\[SRV\] _xmpp-server._tcp.$d from" "$T/dns/dnsmasq.log" &&
        ok "$d: xmppd asked dnsmasq for _xmpps-server and _xmpp-server" ||
        bad "$d: both SRV services looked up" "grep dnsmasq.log" \
            "query[SRV] _xmpps-server._tcp.$d and _xmpp-server._tcp.$d" \
            "$(grep -F "$d" "$T/dns/dnsmasq.log" | grep query | sed 's/.*query/query/' | paste -sd'|')"
done
log "done in $(xt_elapsed) s"
xt_finish
