#!/usr/bin/env bash
# test_e2e_presence.sh - step 5 of the end-to-end suite: presence
# subscriptions and presence changes across the whole gateway, both ways,
# with real peers (sipp as romeo's phone, Prosody and juliet's client).
#
# SIP watcher -> XMPP contact: romeo's SUBSCRIBE to juliet@xmpp.test gets 200
#   at once and NOTIFY pending (SUB-08); juliet's client gets a bare-to-bare
#   subscribe (ADR-10); she approves -> NOTIFY active (SUB-09); her presence
#   -> NOTIFY PIDF open, then her away + status -> jabber:client show and
#   note (PRS-03/04), dnd, and unavailable -> closed (PRS-01); romeo ends the
#   subscription in the dialog (Expires: 0) and gets the final NOTIFY
#   terminated; every NOTIFY has Event: presence, a Subscription-State and
#   application/pidf+xml when it has a body (PRS-09); policyd records that
#   romeo added juliet (contact sip-added).
# XMPP watcher -> SIP presentity: juliet's subscribe to romeo@sip.test
#   becomes a SUBSCRIBE to romeo's phone (From juliet bare, no gr, Event
#   presence, Accept PIDF: SUB-01); its NOTIFY active + open PIDF -> juliet
#   gets subscribed, then available presence from romeo/desk with the note
#   as status, in that order (SUB-02); show away -> away; closed ->
#   unavailable; juliet's unsubscribe -> SUBSCRIBE Expires: 0 in the dialog
#   (SUB-07).
# "COND && ok ... || bad ...": ok always returns 0.
# shellcheck disable=SC2015,SC2119
set -uo pipefail
NAME=test_e2e_presence
# shellcheck source=lib_e2e.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_e2e.sh"

e2e_init
e2e_dns_start
e2e_gw_start
e2e_partner "$E2E_XD" dialback
e2e_prosody_start
e2e_xmpp_start juliet "juliet@$E2E_XD"
e2e_xmpp juliet presence

# ---- romeo (SIP) watches juliet (XMPP) ------------------------------------------
# The watcher unsubscribes after 8 s without a NOTIFY (longer than PRS-08's
# 5 s pacing).
E2E_V_FROM="sip:romeo@$E2E_SD" E2E_V_RURI="sip:juliet@$E2E_XD" E2E_V_QUIET=8000 \
    e2e_uac_bg watch uac_watch.xml
e2e_sip_expect "romeo's SUBSCRIBE is answered 200 at once (SUB-08)" watch --wait 3 status=200 \
    "CSeq~=SUBSCRIBE"
e2e_sip_expect "then NOTIFY pending" watch --wait 3 method=NOTIFY "Subscription-State~=^pending"
e2e_xmpp_expect "juliet gets a bare-to-bare subscribe from romeo@$E2E_SD (ADR-10)" juliet \
    kind=presence type=subscribe "from~=^romeo@$E2E_SD\$" "to~=^juliet@$E2E_XD\$"
e2e_xmpp juliet "subscribed to=romeo@$E2E_SD"
e2e_sip_expect "juliet approves: NOTIFY active (SUB-09)" watch method=NOTIFY \
    "Subscription-State~=^active;expires=[0-9]+"
e2e_sip_expect "juliet's current presence follows: her resource's tuple open" watch method=NOTIFY \
    "Subscription-State~=^active" 'body~=<tuple id="ID-juliet"><status><basic>open</basic>'
e2e_xmpp juliet "presence show=away 'status=on the balcony'"
e2e_sip_expect "juliet away: PIDF with jabber:client show away and the note (PRS-03/04)" watch \
    --wait 15 method=NOTIFY 'body~=<show xmlns="jabber:client">away</show>' "body~=on the balcony"
e2e_xmpp juliet "presence show=dnd 'status=do not disturb'"
e2e_sip_expect "juliet dnd: a NOTIFY with show dnd (at most 5 s later, PRS-08)" watch --wait 15 \
    method=NOTIFY 'body~=<show xmlns="jabber:client">dnd</show>' "body~=do not disturb"
e2e_sip_expect "PIDF entity is pres:juliet@$E2E_XD, tuple ids start with ID- (PRS-02)" watch \
    method=NOTIFY "body~=entity=.pres:juliet@$E2E_XD." 'body~=<tuple id="ID-'
e2e_xmpp juliet unavailable
e2e_sip_expect "juliet offline: her resource's tuple closed (PRS-01)" watch --wait 15 method=NOTIFY \
    'body~=<tuple id="ID-juliet"><status><basic>closed</basic>'
e2e_check_sipp "romeo's watcher: every NOTIFY answered, unsubscribed in the dialog" watch 30
e2e_sip_expect "the last NOTIFY is terminated with a reason" watch method=NOTIFY \
    "Subscription-State~=^terminated;reason="
bad_notify=$("$PY" "$E2E_DIR/sip_trace.py" show --file "$T/sip/watch.msg" method=NOTIFY |
    "$PY" -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    h = dict(m["headers"])
    if h.get("event") != "presence" or not h.get("subscription-state") or \
       (m["body"] and not h.get("content-type", "").startswith("application/pidf+xml")):
        print(m["start"], h.get("event"), h.get("subscription-state"), h.get("content-type"))')
[[ -z $bad_notify ]] &&
    ok "every NOTIFY: Event presence, Subscription-State, application/pidf+xml bodies (PRS-09)" ||
    bad "NOTIFY headers (PRS-09)" "watch.msg" "Event: presence, Subscription-State, PIDF type" \
        "$bad_notify"
x contact show "romeo@$E2E_SD"
[[ $RC == 0 && $OUT == *"juliet@$E2E_XD"* ]] &&
    ok "policyd knows romeo added juliet ($(grep -F "juliet@$E2E_XD" <<<"$OUT" | tr -s ' ' | head -n 1))" ||
    bad "contact state after romeo's SUBSCRIBE" "xgwctl contact show romeo@$E2E_SD" \
        "a row for juliet@$E2E_XD" "exit $RC: $OUT $ERR"

# ---- juliet (XMPP) watches romeo (SIP) --------------------------------------------
E2E_V_NOTE1="in Verona" E2E_V_NOTE2="under the balcony" E2E_V_PAUSE=1500 \
    e2e_uas_start presentity - "$E2E_DIR/uas_presentity.xml" -m 1
mark=$(e2e_xmpp_mark juliet)
e2e_xmpp juliet presence
e2e_xmpp juliet "subscribe to=romeo@$E2E_SD"
e2e_sip_expect "juliet's subscribe: SUBSCRIBE to romeo's phone (SUB-01)" presentity --wait 20 \
    method=SUBSCRIBE "start=SUBSCRIBE sip:romeo@$E2E_SD SIP/2.0" Event=presence \
    "Accept~=application/pidf\+xml" "Expires~=^[1-9]"
e2e_sip_expect "its From is juliet's bare JID, no gr (ADR-10)" presentity method=SUBSCRIBE \
    "From~=^<sip:juliet@$E2E_XD>;tag="
e2e_xmpp_expect "romeo's NOTIFY active: juliet gets subscribed from romeo@$E2E_SD" juliet \
    --since "$mark" kind=presence type=subscribed "from~=^romeo@$E2E_SD\$"
t_sub=$(e2e_json_field t)
e2e_xmpp_expect "romeo's PIDF open: juliet gets available from romeo/desk, note as status" juliet \
    --since "$mark" kind=presence no:type "from=romeo@$E2E_SD/desk" "status=in Verona"
t_av=$(e2e_json_field t)
[[ -n $t_sub && -n $t_av ]] && "$PY" -c "import sys; sys.exit(0 if $t_sub <= $t_av else 1)" &&
    ok "subscribed came before the presence (SUB-02)" ||
    bad "subscribed before presence" "juliet's log" "t(subscribed) <= t(available)" \
        "${t_sub:-none} ${t_av:-none}"
e2e_xmpp_expect "romeo away: juliet gets show away with the new note" juliet --since "$mark" \
    kind=presence no:type "from=romeo@$E2E_SD/desk" show=away "status=under the balcony"
e2e_xmpp_expect "romeo closed: juliet gets unavailable" juliet --since "$mark" kind=presence \
    type=unavailable "from=romeo@$E2E_SD"
e2e_xmpp juliet "unsubscribe to=romeo@$E2E_SD"
e2e_check_sipp "romeo's phone: NOTIFYs answered 200, then SUBSCRIBE Expires: 0 in the dialog (SUB-07)" \
    presentity 45
e2e_sip_expect "the unsubscribe came in the dialog with Expires: 0" presentity method=SUBSCRIBE \
    "Expires~=^0$" "To~=tag=[0-9]+SIPpTag01"
e2e_finish
