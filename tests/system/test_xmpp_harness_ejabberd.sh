#!/usr/bin/env bash
# test_xmpp_harness_ejabberd.sh - proves the ejabberd part of the interop
# harness (lib_xmpp.sh, tests/xmpp/ejabberd.yml.in) before the xmppd test
# relies on it: a real ejabberd 23.01 (Debian package ejabberd) on loopback
# federates with a real Prosody 0.12 over STARTTLS + dialback.
#
#   ejabberd starts as a child with no Erlang distribution: it listens on its
#     own address only (5222, 5269) and nothing listens on epmd's 4369
#   ej.test -> pa.test and pa.test -> ej.test: a chat message and a directed
#     presence cross each way; ejabberd resolved pa.test through the test's
#     dnsmasq, SRV and A (its queries are in dnsmasq's log: nothing went to
#     the host's resolver)
#   Prosody's s2s:show() rows with ej.test: TLS, dialback completed (no SASL)
# "COND && ok ... || bad ...": ok always returns 0.
# shellcheck disable=SC2015
set -uo pipefail
NAME=test_xmpp_harness_ejabberd
# shellcheck source=lib_xmpp.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_xmpp.sh"

if ! xt_ejabberd_available; then
    echo "$NAME: ejabberd is not installed (apt-get install ejabberd; tests/xmpp/README.md)"
    echo "0 passed, 1 failed"
    exit 1
fi
xt_init
xt_dns_record "host-record=pa.test,$XT_PA_IP" "host-record=ej.test,$XT_EJ_IP"
xt_dns_start
xt_ca_init

xt_ejabberd_start ej ej.test "$XT_EJ_IP" tls
xt_prosody_start a pa.test "$XT_PA_IP" tls
xt_prosody_user a alice pw
listening=$(ss -ltnH 2>/dev/null | awk '{print $4}' | grep -E '(:4369$)|^(0\.0\.0\.0|\*|\[::\]):(5222|5269)$' | paste -sd' ')
[[ -z $listening ]] && ok "ejabberd listens only on $XT_EJ_IP (no epmd, no wildcard)" ||
    bad "ejabberd listens only on its loopback address" "ss -ltn" "no :4369, no 0.0.0.0:5222/5269" \
        "$listening"

xt_client_bg bob "$XT_EJ_IP:5222" bob@ej.test pw presence \
    "expect-message alice@pa.test from prosody to ejabberd 20" "expect-presence alice@pa.test 20" \
    "message alice@pa.test from ejabberd to prosody" "dpresence alice@pa.test away"
xt_client_bg alice "$XT_PA_IP:5222" alice@pa.test pw presence \
    "message bob@ej.test from prosody to ejabberd" "dpresence bob@ej.test" \
    "expect-message bob@ej.test from ejabberd to prosody 20" "expect-presence bob@ej.test 20"
xt_check_client "pa.test -> ej.test: message and presence arrive at ejabberd's user" bob 40
xt_check_client "ej.test -> pa.test: message and presence arrive at Prosody's user" alice 40

# SRV through Erlang's resolver (inetrc), A through getaddrinfo (the mount
# namespace's resolv.conf): Prosody never asks for its own name.
grep -q "query\[SRV\] _xmpp-server._tcp.pa.test" "$T/dns/dnsmasq.log" &&
    grep -q "query\[A\] pa.test" "$T/dns/dnsmasq.log" &&
    ok "ejabberd asked the test's dnsmasq for pa.test (SRV and A)" ||
    bad "ejabberd resolves through the test's dnsmasq" "grep dnsmasq.log" \
        "query[SRV] _xmpp-server._tcp.pa.test, query[A] pa.test" \
        "$(grep -c query "$T/dns/dnsmasq.log") queries"
# Outbound, Prosody tries SASL EXTERNAL first (ejabberd's self-signed
# certificate fails it) and then completes dialback.
for dir in '-->' '<--'; do
    row=$(xt_prosody_s2s a | grep -F "| $dir " | grep -F " ej.test " | head -n 1 | tr -s ' ')
    if [[ $dir == '-->' ]]; then want='\| TLSv1\.[23] \| (Failed )?\| Completed'; else
        want='\| TLSv1\.[23] \| \| (Not used|Completed)'
    fi
    [[ $row =~ $want ]] && ok "Prosody's stream $dir ej.test: $row" ||
        bad "Prosody's stream $dir ej.test is TLS + dialback" "prosodyctl shell s2s:show()" \
            "$want" "${row:-no row}"
done
grep -Eq "pa.test.*(dialback|Dialback)|(dialback|Dialback).*pa.test" "$T/ej/ejabberd.log" &&
    ok "ejabberd's log shows dialback with pa.test" ||
    bad "ejabberd authenticated pa.test with dialback" "grep ejabberd.log" "dialback ... pa.test" \
        "$(grep -c . "$T/ej/ejabberd.log") lines, none about dialback"
xt_ejabberd_stop ej
log "done in $(xt_elapsed) s"
xt_finish
