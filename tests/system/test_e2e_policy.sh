#!/usr/bin/env bash
# test_e2e_policy.sh - step 4 of the end-to-end suite: the administrator's
# rules decide what crosses, with real peers on both sides (two Prosody
# domains, sipp users, the whole xgw group), changed live with xgwctl.
#
#   non-partner domain (other.test): romeo's MESSAGE gets 403 and no s2s
#     connection is attempted; tybalt's message to romeo is refused at stream
#     level (unknown-partner) and never reaches SIP;
#   deny list: other.test made a partner, then denied: the same, the live
#     stream is closed at the change, and removing the entry lets messages
#     cross again;
#   policy sources: global off denies both ways (juliet gets a plain
#     <service-unavailable/>, like for a user that does not exist); a site
#     policy allows romeo (site verona) while benvolio stays denied; a user
#     policy denies romeo despite his site; a user policy allows mercutio
#     despite global off; xmppd's denials in the audit log with rule, policy
#     and source, sipd's in its log (sipd's audit lines:
#     pending_e2e_policy_sip_audit.sh);
#   PartnerType public-unverified: juliet cannot reach romeo until romeo has
#     added her (contact sip-added, set by xgwctl), romeo can always write to
#     juliet; benvolio adds her the way a SIP client does (a SUBSCRIBE to her
#     presence), and then her messages reach him.
# Denials are silent to the remote: the error juliet gets is the same as for
# a SIP user that does not exist, and carries no text.
# "COND && ok ... || bad ...": ok always returns 0.
# shellcheck disable=SC2015,SC2119
set -uo pipefail
NAME=test_e2e_policy
# shellcheck source=lib_e2e.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_e2e.sh"

e2e_init
e2e_dns_start
e2e_gw_start
e2e_partner "$E2E_XD" dialback
e2e_prosody_start x "$E2E_XD" "$XT_PA_IP"
e2e_prosody_start o "$E2E_OD" "$XT_PB_IP"
e2e_uas_start romeo 200
e2e_xmpp_start juliet "juliet@$E2E_XD"
e2e_xmpp juliet presence
e2e_xmpp_start tybalt "tybalt@$E2E_OD" pw "$XT_PB_IP:5222"
e2e_xmpp tybalt presence
AUDIT=$T/data/audit.log
n=0

# sip_to NAME EXPECT FROM_USER TO_JID BODY: a MESSAGE from FROM_USER@sip.test.
sip_to() {
    e2e_check_uac "$1: sip:$3@$E2E_SD -> $4 gets $2" "s$((++n))" "$2" "sip:$3@$E2E_SD" "sip:$4" "$5"
}

# xmpp_to_sip DESC CLIENT TO_USER BODY allow|deny: the client's message
# reaches romeo's phone (allow), or not, with an error back to the sender
# that is the one of a user that does not exist (deny).
xmpp_to_sip() {
    local desc=$1 id=$2 to=$3 body=$4 want=$5 mid
    mid=m$((++n))
    e2e_xmpp "$id" "message to=$to@$E2E_SD 'body=$body' id=$mid"
    if [[ $want == allow ]]; then
        e2e_sip_expect "$desc: reaches the SIP side" romeo method=MESSAGE "body=$body"
    else
        e2e_xmpp_expect "$desc: the sender gets <service-unavailable/> without text" "$id" \
            kind=message type=error "id=$mid" error=service-unavailable no:error_text
        e2e_sip_expect "$desc: nothing reaches the SIP side" romeo --none --wait 0.5 \
            method=MESSAGE "body=$body"
    fi
}

# audit_has DESC REGEX: a line of the audit log matches.
audit_has() {
    if xt_log_wait "$AUDIT" "$2" 5; then
        ok "audit: $1"
    else
        bad "audit: $1" "grep -E '$2' data/audit.log" "a matching line" \
            "$(tail -n 3 "$AUDIT" 2>/dev/null | cut -c1-300 | paste -sd'|')"
    fi
}

# ---- baseline ----------------------------------------------------------------
sip_to "baseline" 200 romeo "juliet@$E2E_XD" "baseline to juliet"
e2e_xmpp_expect "baseline: juliet gets it" juliet kind=message "body=baseline to juliet"
xmpp_to_sip "baseline: juliet -> romeo" juliet romeo "baseline to romeo" allow

# ---- a domain that is not a partner -------------------------------------------
sip_to "non-partner" 403 romeo "tybalt@$E2E_OD" "to a stranger"
n_conn=$(e2e_count xmppd.log "event=outbound_connecting .*remote=$E2E_OD")
[[ $n_conn == 0 ]] && ok "non-partner: no s2s connection to $E2E_OD was attempted" ||
    bad "non-partner: no connection attempt" "grep outbound_connecting xmppd.log" 0 "$n_conn"
e2e_xmpp_none "non-partner: tybalt got nothing" tybalt 0.5 kind=message "body=to a stranger"
e2e_log_expect "non-partner: sipd logs the denial (rule not_a_partner)" sipd.log \
    "event=sip_message_denied rule=not_a_partner to_domain=$E2E_OD"
e2e_xmpp tybalt "message to=romeo@$E2E_SD 'body=from a stranger' id=t1"
e2e_log_expect "non-partner: xmppd refuses $E2E_OD's stream (unknown-partner)" xmppd.log \
    "event=stream_refused .*remote=$E2E_OD .*reason=unknown-partner"
e2e_xmpp_expect "non-partner: tybalt's server bounces his message" tybalt kind=message \
    type=error id=t1
[[ $(e2e_json_field error) != item-not-found ]] &&
    ok "non-partner: the bounce does not say whether romeo exists ($(e2e_json_field error))" ||
    bad "non-partner: the bounce does not reveal romeo" "tybalt's error" "not item-not-found" \
        "$E2E_LAST"
e2e_sip_expect "non-partner: nothing from tybalt reaches SIP" romeo --none --wait 0.5 \
    method=MESSAGE "body=from a stranger"

# ---- the deny list ------------------------------------------------------------
e2e_partner "$E2E_OD" dialback
sip_to "partner $E2E_OD" 200 romeo "tybalt@$E2E_OD" "now we may talk"
e2e_xmpp_expect "partner $E2E_OD: tybalt gets it" tybalt kind=message "body=now we may talk"
e2e_ctl "deny other.test" deny add "$E2E_OD"
e2e_log_expect "deny: the live stream with $E2E_OD is closed at the change" xmppd.log \
    "event=stream_policy_closed .*remote=$E2E_OD"
sip_to "denied" 403 romeo "tybalt@$E2E_OD" "denied now"
e2e_log_expect "denied: sipd logs the denial (rule deny_list)" sipd.log \
    "event=sip_message_denied rule=deny_list to_domain=$E2E_OD"
mark=$(e2e_xmpp_mark tybalt)
e2e_xmpp tybalt "message to=romeo@$E2E_SD 'body=from a denied domain' id=t2"
e2e_log_expect "denied: xmppd refuses $E2E_OD's new stream (denied)" xmppd.log \
    "event=stream_refused .*remote=$E2E_OD .*reason=denied"
e2e_sip_expect "denied: nothing from tybalt reaches SIP" romeo --none --wait 1 \
    method=MESSAGE "body=from a denied domain"
e2e_ctl "remove other.test from the deny list" deny remove "$E2E_OD"
sip_to "deny entry removed" 200 romeo "tybalt@$E2E_OD" "friends again"
e2e_xmpp_expect "deny entry removed: tybalt gets it" tybalt --since "$mark" kind=message \
    "body=friends again"
e2e_xmpp tybalt "message to=romeo@$E2E_SD 'body=tybalt writes again' id=t3"
e2e_sip_expect "deny entry removed: tybalt's message reaches SIP" romeo method=MESSAGE \
    "body=tybalt writes again"

# ---- policy sources -------------------------------------------------------------
e2e_ctl "global policy: federation and xmpp off" policy set global --federation off --xmpp off
sip_to "global off" 403 romeo "juliet@$E2E_XD" "global off"
xmpp_to_sip "global off: juliet -> romeo" juliet romeo "global off to romeo" deny
e2e_log_expect "global off: sipd logs the denial (rule policy_federation_off)" sipd.log \
    "event=sip_message_denied rule=policy_federation_off to_domain=$E2E_XD"
audit_has "global off, XMPP side, source=global" \
    "event=policy_denied by=xmppd\.[0-9]+ .*direction=inbound .*local=[^ ]*romeo@$E2E_SD .*source=global"

e2e_ctl "site policy verona: federation and xmpp on" \
    policy new verona --scope site:verona --federation on --xmpp on
e2e_ctl "romeo lives in site verona" user set "romeo@$E2E_SD" --site verona
sip_to "site verona allows romeo" 200 romeo "juliet@$E2E_XD" "site allows"
e2e_xmpp_expect "site verona: juliet gets romeo's message" juliet kind=message "body=site allows"
xmpp_to_sip "site verona: juliet -> romeo" juliet romeo "site allows you" allow
sip_to "benvolio (no site) under global off" 403 benvolio "juliet@$E2E_XD" "benvolio denied"
xmpp_to_sip "global off: juliet -> benvolio" juliet benvolio "to benvolio" deny

e2e_ctl "user policy no-fed (federation off)" policy new no-fed --scope user --federation off --xmpp off
e2e_ctl "grant no-fed to romeo" policy grant "sip:romeo@$E2E_SD" no-fed
sip_to "user policy no-fed beats site verona" 403 romeo "juliet@$E2E_XD" "user says no"
xmpp_to_sip "user policy no-fed: juliet -> romeo" juliet romeo "user policy to romeo" deny
audit_has "romeo's denial names source=user and policy no-fed" \
    "event=policy_denied by=xmppd\.[0-9]+ .*local=[^ ]*romeo@$E2E_SD .*policy=no-fed source=user"
e2e_ctl "user policy fed-on" policy new fed-on --scope user --federation on --xmpp on
e2e_ctl "grant fed-on to mercutio" policy grant "sip:mercutio@$E2E_SD" fed-on
sip_to "user policy fed-on beats global off" 200 mercutio "juliet@$E2E_XD" "mercutio may"
e2e_xmpp_expect "fed-on: juliet gets mercutio's message" juliet kind=message \
    "from=mercutio@$E2E_SD" "body=mercutio may"
xmpp_to_sip "fed-on: juliet -> mercutio" juliet mercutio "to mercutio" allow

# ---- public-unverified partner --------------------------------------------------
e2e_ctl "global policy: federation and xmpp on again" policy set global --federation on --xmpp on
e2e_ctl "romeo: no user policy" policy grant "sip:romeo@$E2E_SD" --none
e2e_ctl "xmpp.test becomes public-unverified" partner set "$E2E_XD" --type public-unverified
xmpp_to_sip "public-unverified, romeo has not added juliet" juliet romeo "may I?" deny
audit_has "public-unverified denial" \
    "event=policy_denied by=xmppd\.[0-9]+ .*direction=inbound .*remote=[^ ]*juliet@$E2E_XD"
sip_to "public-unverified: romeo may write first" 200 romeo "juliet@$E2E_XD" "romeo writes first"
e2e_xmpp_expect "public-unverified: juliet gets romeo's message" juliet kind=message \
    "body=romeo writes first"
e2e_ctl "romeo adds juliet" contact set "romeo@$E2E_SD" "juliet@$E2E_XD" --sip-added on
xmpp_to_sip "public-unverified, romeo added juliet" juliet romeo "now I may" allow
# The way a SIP user adds a contact: his client subscribes to her presence.
xmpp_to_sip "public-unverified, benvolio has not added juliet" juliet benvolio "hello cousin" deny
E2E_V_FROM="sip:benvolio@$E2E_SD" E2E_V_RURI="sip:juliet@$E2E_XD" E2E_V_QUIET=2000 \
    e2e_uac_bg watch uac_watch.xml
e2e_xmpp_expect "benvolio's SUBSCRIBE reaches juliet" juliet kind=presence type=subscribe \
    "from=benvolio@$E2E_SD"
e2e_check_sipp "benvolio's watcher ends" watch 20
x contact show "benvolio@$E2E_SD"
[[ $OUT == *"juliet@$E2E_XD"*"sip-added=on"* ]] &&
    ok "policyd: benvolio added juliet by subscribing (contact sip-added=on)" ||
    bad "benvolio's SUBSCRIBE adds the contact" "xgwctl contact show benvolio@$E2E_SD" \
        "juliet@$E2E_XD ... sip-added=on" "exit $RC: $OUT $ERR"
xmpp_to_sip "public-unverified, benvolio subscribed to juliet" juliet benvolio "hello again" allow
e2e_finish
