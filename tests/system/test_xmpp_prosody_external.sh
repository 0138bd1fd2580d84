#!/usr/bin/env bash
# test_xmpp_prosody_external.sh - interop of xgw-xmppd with a real Prosody 0.12
# in one s2s mode, both directions (issue 5):
#   STARTTLS + SASL EXTERNAL with test-CA certificates (partner: --tls required --sasl required --dialback off; Prosody with s2s_secure_auth = true and no dialback)
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
NAME=test_xmpp_prosody_external
# shellcheck source=lib_xmpp.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_xmpp.sh"

xt_init
xt_interop prosody external
xt_check_prosody_mode a external
xt_check_xmppd_mode pa.test external
log "done in $(xt_elapsed) s"
xt_finish
