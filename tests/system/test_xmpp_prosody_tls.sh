#!/usr/bin/env bash
# test_xmpp_prosody_tls.sh - interop of xgw-xmppd with a real Prosody 0.12
# in one s2s mode, both directions (issue 5):
#   STARTTLS + dialback (partner: --tls required --sasl not-supported --dialback on; Prosody requires TLS, its certificate is self-signed, so no certificate is trusted either way and dialback authenticates)
#
#   the gateway dials Prosody: a chat message and a presence (show=away)
#     from alice@gw.test (sent as Deliver requests, as sipd would) are
#     accepted (status=200) and reach bob@pa.test's client
#   Prosody dials the gateway: bob's chat message and directed presence
#     reach the SIP side as Deliver requests (tests/integration/xgw-testsip.c
#     logs them), exactly one message
#   Prosody's s2s:show() and xmppd's log show both streams with the gateway
#     encrypted (or not) and authenticated the way the mode says
# "COND && ok ... || bad ...": ok always returns 0.
# shellcheck disable=SC2015
set -uo pipefail
NAME=test_xmpp_prosody_tls
# shellcheck source=lib_xmpp.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_xmpp.sh"

xt_init
xt_interop prosody tls
xt_check_prosody_mode a tls
xt_check_xmppd_mode pa.test tls
log "done in $(xt_elapsed) s"
xt_finish
