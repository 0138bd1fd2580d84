#!/usr/bin/env bash
# test_e2e_kamailio.sh - the end-to-end path with a real SIP domain in front
# of the gateway: Kamailio 5.6 is sip.test's registrar and proxy, sipd trusts
# only Kamailio and uses it as its outbound proxy.
#
#   romeo's phone (sipp UAS) registers with Kamailio;
#   romeo's MESSAGE goes to Kamailio, which routes the xmpp.test domain to
#     sipd: 200 and juliet (Prosody client) gets it;
#   the same MESSAGE sent straight to sipd (around the proxy) gets 403 and
#     never reaches juliet;
#   juliet's message goes sipd -> Kamailio (pre-loaded Route) -> romeo's
#     registered contact, with the exact body and juliet's From;
#   juliet's message to a user Kamailio does not know (tybalt@sip.test, not
#     registered) comes back to juliet as an error (<service-unavailable/>,
#     ERR-08: nothing says whether the user exists);
#   romeo subscribes to juliet through Kamailio (which record-routes the
#     dialog) and gets her presence; sipd's NOTIFYs follow the route set.
# "COND && ok ... || bad ...": ok always returns 0.
# shellcheck disable=SC2015,SC2119
set -uo pipefail
NAME=test_e2e_kamailio
# shellcheck source=lib_e2e.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_e2e.sh"

E2E_SIPD_PROXY="sip:$E2E_KAM_IP:5060"
E2E_SIPD_TRUSTED=$E2E_KAM_IP
e2e_init
e2e_dns_start
e2e_gw_start
e2e_partner "$E2E_XD" dialback
e2e_prosody_start
e2e_kamailio_start
ok "romeo's phone registered with Kamailio ($E2E_UAS_IP:$E2E_UAS_PORT)"
e2e_uas_start romeo 200
e2e_xmpp_start juliet "juliet@$E2E_XD"
e2e_xmpp juliet presence
ROMEO="sip:romeo@$E2E_SD"
JULIET="sip:juliet@$E2E_XD"

e2e_check_uac "romeo -> juliet through Kamailio" k1 200 "$ROMEO" "$JULIET" "via the proxy" \
    --target "$E2E_KAM_IP:5060"
e2e_xmpp_expect "juliet gets romeo's message" juliet kind=message "from=romeo@$E2E_SD" \
    "body=via the proxy"
e2e_log_expect "Kamailio routed it to the gateway" kamailio.log \
    "kam: MESSAGE sip:juliet@$E2E_XD from $E2E_UAC_IP"
e2e_check_uac "the same MESSAGE straight to sipd (not its trusted next hop): 403" k2 403 \
    "$ROMEO" "$JULIET" "around the proxy"
e2e_xmpp_none "juliet never gets the one that went around the proxy" juliet 1 \
    "body=around the proxy"

e2e_xmpp juliet "message to=romeo@$E2E_SD 'body=back through the proxy' id=j1"
e2e_sip_expect "juliet's message reaches romeo's registered phone through Kamailio" romeo \
    method=MESSAGE "body=back through the proxy" "From~=^<sip:juliet@$E2E_XD;gr=juliet>;tag=" \
    "start=MESSAGE sip:romeo@$E2E_UAS_IP:$E2E_UAS_PORT SIP/2.0"
e2e_log_expect "Kamailio relayed it from sipd" kamailio.log \
    "kam: MESSAGE sip:romeo@$E2E_SD from $E2E_SIPD_IP"
e2e_xmpp_none "juliet gets no error for it" juliet 0.5 type=error id=j1
e2e_xmpp juliet "message to=tybalt@$E2E_SD 'body=to nobody' id=j2"
e2e_xmpp_expect "to an unregistered SIP user: juliet gets <service-unavailable/> (ERR-08)" juliet \
    kind=message type=error id=j2 error=service-unavailable "from=tybalt@$E2E_SD"

E2E_V_FROM="$ROMEO" E2E_V_RURI="$JULIET" E2E_V_QUIET=3000 E2E_TARGET="$E2E_KAM_IP:5060" \
    e2e_uac_bg watch uac_watch.xml
e2e_xmpp_expect "romeo's SUBSCRIBE reaches juliet" juliet kind=presence type=subscribe \
    "from=romeo@$E2E_SD"
e2e_xmpp juliet "subscribed to=romeo@$E2E_SD"
e2e_sip_expect "romeo gets juliet's presence (NOTIFY active, her resource open)" watch \
    method=NOTIFY "Subscription-State~=^active" \
    'body~=<tuple id="ID-juliet"><status><basic>open</basic>'
e2e_log_expect "sipd follows Kamailio's Record-Route: the NOTIFYs pass the proxy" kamailio.log \
    "kam: NOTIFY sip:romeo@$E2E_UAC_IP:[0-9]+ from $E2E_SIPD_IP"
e2e_check_sipp "romeo's watcher: NOTIFYs answered, unsubscribed" watch 30
e2e_finish
