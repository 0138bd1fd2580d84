#!/usr/bin/env bash
# test_e2e_tighten.sh - step 6 of the end-to-end suite: tightening the
# policy ends live subscriptions (DESIGN.md "Policy model": tightening a
# policy takes effect on live streams and subscriptions), with real peers.
#
# romeo (SIP) watches juliet (XMPP) and juliet watches romeo (a SIP dialog
# the gateway holds towards romeo's phone); then romeo's user policy is set
# to federation off:
#   romeo's watcher gets NOTIFY terminated (no more of juliet's presence);
#   the gateway ends juliet's subscription to romeo's phone in its dialog
#     (SUBSCRIBE Expires: 0);
#   juliet is told her subscription to romeo ended (<presence
#     type='unsubscribed'/> from romeo);
#   juliet's later presence produces no NOTIFY to romeo.
# "COND && ok ... || bad ...": ok always returns 0.
# shellcheck disable=SC2015,SC2119
set -uo pipefail
NAME=test_e2e_tighten
# shellcheck source=lib_e2e.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_e2e.sh"

e2e_init
e2e_dns_start
e2e_gw_start
e2e_partner "$E2E_XD" dialback
e2e_prosody_start
e2e_xmpp_start juliet "juliet@$E2E_XD"
e2e_xmpp juliet presence

# romeo watches juliet (he never unsubscribes by himself: 60 s of quiet).
E2E_V_FROM="sip:romeo@$E2E_SD" E2E_V_RURI="sip:juliet@$E2E_XD" E2E_V_QUIET=60000 \
    e2e_uac_bg watch uac_watch.xml
e2e_xmpp_expect "romeo's subscribe reaches juliet" juliet kind=presence type=subscribe \
    "from=romeo@$E2E_SD"
e2e_xmpp juliet "subscribed to=romeo@$E2E_SD"
e2e_sip_expect "romeo's watcher: juliet's presence (NOTIFY active, open)" watch method=NOTIFY \
    "Subscription-State~=^active" 'body~=<tuple id="ID-juliet"><status><basic>open</basic>'

# juliet watches romeo (his phone keeps the dialog until the gateway ends it).
E2E_V_NOTE1="in Verona" E2E_V_NOTE2="still in Verona" E2E_V_PAUSE=200 \
    e2e_uas_start presentity - "$E2E_DIR/uas_presentity.xml" -m 1
mark=$(e2e_xmpp_mark juliet)
e2e_xmpp juliet "subscribe to=romeo@$E2E_SD"
e2e_xmpp_expect "juliet's subscription to romeo is active" juliet --since "$mark" \
    kind=presence type=subscribed "from=romeo@$E2E_SD"
e2e_xmpp_expect "juliet sees romeo's presence" juliet --since "$mark" kind=presence no:type \
    "from=romeo@$E2E_SD/desk" "status=in Verona"

# Tighten: romeo may no longer federate.
mark=$(e2e_xmpp_mark juliet)
e2e_ctl "user policy no-fed" policy new no-fed --scope user --federation off --xmpp off
e2e_ctl "grant no-fed to romeo" policy grant "sip:romeo@$E2E_SD" no-fed
e2e_sip_expect "romeo's watcher gets NOTIFY terminated" watch --wait 15 method=NOTIFY \
    "Subscription-State~=^terminated"
e2e_check_sipp "romeo's watcher: its subscription was ended by the gateway" watch 20
e2e_sip_expect "the gateway ends juliet's dialog with romeo's phone (SUBSCRIBE Expires: 0)" \
    presentity --wait 15 method=SUBSCRIBE "Expires~=^0$"
e2e_xmpp_expect "juliet is told her subscription to romeo ended (unsubscribed)" juliet \
    --since "$mark" kind=presence type=unsubscribed "from=romeo@$E2E_SD"
n=$("$PY" "$E2E_DIR/sip_trace.py" show --file "$T/sip/watch.msg" method=NOTIFY | wc -l)
e2e_xmpp juliet "presence show=away 'status=after the ban'"
sleep 6
m=$("$PY" "$E2E_DIR/sip_trace.py" show --file "$T/sip/watch.msg" method=NOTIFY | wc -l)
[[ $m == "$n" ]] && ok "juliet's later presence produces no NOTIFY to romeo" ||
    bad "no NOTIFY after the policy change" "watch.msg" "$n NOTIFYs" "$m"
e2e_finish
