#!/usr/bin/env bash
# test_xmpp_ejabberd.sh - interop of xgw-xmppd with a real ejabberd 23.01
# (Debian package ejabberd) in STARTTLS + dialback, both directions (issue 5).
# ejabberd requires STARTTLS on s2s; its certificate is self-signed and its
# ca_file a CA that signed nobody here, so neither side trusts the other's
# certificate and dialback (over TLS) authenticates; the partner is
# --tls required --sasl not-supported --dialback on. ejabberd runs as a child
# with no Erlang distribution, its DNS pointed at the test's dnsmasq
# (tests/xmpp/ejabberd.yml.in, inetrc.in, lib_xmpp.sh xt_ejabberd_start).
#
#   the gateway dials ejabberd: a chat message and a presence from
#     alice@gw.test are accepted (status=200) and reach bob@ej.test's client
#   ejabberd dials the gateway: carol's chat message and directed presence
#     reach the SIP side as Deliver requests, exactly one message
#   xmppd's log shows both streams with ej.test TLS-encrypted and
#     authenticated by dialback (stream_authenticated auth=dialback, in and
#     out), and ejabberd's log shows dialback with gw.test
# "COND && ok ... || bad ...": ok always returns 0.
# shellcheck disable=SC2015
set -uo pipefail
NAME=test_xmpp_ejabberd
# shellcheck source=lib_xmpp.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_xmpp.sh"

if ! xt_ejabberd_available; then
    echo "$NAME: ejabberd is not installed (apt-get install ejabberd; tests/xmpp/README.md)"
    echo "0 passed, 1 failed"
    exit 1
fi
xt_init
xt_interop ejabberd tls
xt_check_xmppd_mode ej.test tls
grep -Eq "dialback.*gw\.test|gw\.test.*dialback" "$T/ej/ejabberd.log" &&
    ok "ejabberd's log shows dialback with gw.test" ||
    bad "ejabberd authenticated gw.test with dialback" "grep ejabberd.log" "dialback ... gw.test" \
        "$(grep -c . "$T/ej/ejabberd.log") lines, none about dialback with gw.test"
log "done in $(xt_elapsed) s"
xt_finish
