#!/usr/bin/env bash
# test_e2e_message_details.sh - step 3 of the end-to-end suite: what a
# message carries across the whole gateway, both ways, and the errors that
# come back (real Prosody, real sipp, the whole xgw group).
#
# SIP -> XMPP (sipp -> sipd -> xmppd -> Prosody -> juliet's client):
#   a Unicode body arrives byte for byte; Subject -> <subject/>, Call-ID ->
#   <thread/>, Content-Language -> xml:lang (IM-03); From ;gr= -> resource
#   (ADR-04); percent-encoded and XEP-0106 localparts (ADR-01/02:
#   sip:f%C3%BC -> fü, sip:o'malley -> o\27malley, sip:a%40b -> a\40b);
#   a partner domain with no DNS -> 404 (remote-server-not-found), one that
#   resolves but does not answer -> 408 (remote-server-timeout) (ERR-06).
# XMPP -> SIP (juliet -> Prosody -> xmppd -> sipd -> romeo's sipp UAS):
#   a Unicode body and a Unicode resource (gr=K%C3%BCche, ADR-04);
#   <subject/> -> Subject, <thread/> -> Call-ID, xml:lang ->
#   Content-Language (IM-04); replies to the escaped JIDs reach the SIP
#   users they came from (ADR-03: o\27malley -> sip:o'malley, a\40b ->
#   sip:a%40b, fü -> sip:f%C3%BC); a full JID becomes ;gr= in the
#   Request-URI; the SIP user's error answers come back to juliet as error
#   stanzas with her id: 404 -> <service-unavailable/> (ERR-08 privacy
#   default), 480 -> <recipient-unavailable/> (wait), 500 ->
#   <internal-server-error/> (cancel) (ERR-01/02).
# "COND && ok ... || bad ...": ok always returns 0.
# shellcheck disable=SC2015,SC2119
set -uo pipefail
NAME=test_e2e_message_details
# shellcheck source=lib_e2e.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_e2e.sh"

e2e_init
# gone.test is a partner without any DNS record; late.test resolves to an
# address where nothing listens.
e2e_dns_start "host-record=late.test,127.0.0.209"
e2e_gw_start
e2e_partner "$E2E_XD" dialback
e2e_partner gone.test dialback
e2e_partner late.test dialback
e2e_prosody_start
e2e_uas_start romeo 200
e2e_xmpp_start juliet "juliet@$E2E_XD"
e2e_xmpp juliet presence

ROMEO="sip:romeo@$E2E_SD"
JULIET="sip:juliet@$E2E_XD"
n=0
UNI="Grüße aus Verona — ✓ 日本語 🌹 <&> \"quoted\""

# ---- SIP -> XMPP --------------------------------------------------------------
e2e_check_uac "a MESSAGE with a Unicode body, Subject, Content-Language, GRUU is accepted" u1 200 \
    "$ROMEO;gr=orchard" "$JULIET" "$UNI" -H "Subject: Über the wall" \
    -H "Content-Language: it" --callid "thread-verona-1@sip.test"
e2e_xmpp_expect "juliet gets the Unicode body byte for byte" juliet kind=message "body=$UNI"
e2e_xmpp_expect "From ;gr=orchard became the resource (ADR-04)" juliet kind=message \
    "from=romeo@$E2E_SD/orchard" "body=$UNI"
e2e_xmpp_expect "Subject -> <subject/>, Call-ID -> <thread/>, Content-Language -> xml:lang (IM-03)" \
    juliet kind=message "body=$UNI" "subject=Über the wall" "thread=thread-verona-1@sip.test" lang=it

for spec in "sip:f%C3%BC@$E2E_SD|fü@$E2E_SD|ADR-01 percent-decoded UTF-8" \
    "sip:o'malley@$E2E_SD|o\\27malley@$E2E_SD|ADR-02 ' escaped" \
    "sip:a%40b@$E2E_SD|a\\40b@$E2E_SD|ADR-02 %40 escaped"; do
    IFS='|' read -r uri jid why <<<"$spec"
    n=$((n + 1))
    e2e_check_uac "MESSAGE from $uri is accepted" "e$n" 200 "$uri" "$JULIET" "from $uri"
    e2e_xmpp_expect "juliet sees it from $jid ($why)" juliet kind=message "from=$jid" \
        "body=from $uri"
done

e2e_check_uac "to a partner with no DNS record: 404 (remote-server-not-found, ERR-06)" g1 404 \
    "$ROMEO" sip:juliet@gone.test "into the void"
e2e_check_uac "to a partner that does not answer: 408 (remote-server-timeout, ERR-06)" g2 408 \
    "$ROMEO" sip:juliet@late.test "nobody home"

# ---- XMPP -> SIP --------------------------------------------------------------
e2e_xmpp juliet "message to=romeo@$E2E_SD 'body=$UNI' 'subject=Ça va?' thread=balcony-42 lang=fr"
e2e_sip_expect "romeo gets the Unicode body byte for byte" romeo method=MESSAGE "body=$UNI"
e2e_sip_expect "<subject/> -> Subject, <thread/> -> Call-ID, xml:lang -> Content-Language (IM-04)" \
    romeo method=MESSAGE "body=$UNI" "Subject=Ça va?" Call-ID=balcony-42 Content-Language=fr

# A resource with non-ASCII characters.
e2e_xmpp_start kueche "juliet@$E2E_XD" pw "$XT_PA_IP:5222" "Küche"
e2e_xmpp kueche "message to=romeo@$E2E_SD 'body=from the kitchen'"
e2e_sip_expect "From of a Unicode resource: ;gr=K%C3%BCche inside the brackets (ADR-04)" romeo \
    method=MESSAGE "body=from the kitchen" "From~=^<sip:juliet@$E2E_XD;gr=K%C3%BCche>;tag="

for spec in "o\\27malley@$E2E_SD|sip:o'malley@$E2E_SD" "a\\40b@$E2E_SD|sip:a%40b@$E2E_SD" \
    "fü@$E2E_SD|sip:f%C3%BC@$E2E_SD"; do
    IFS='|' read -r jid uri <<<"$spec"
    e2e_xmpp juliet "message 'to=$jid' 'body=reply to $jid'"
    e2e_sip_expect "a reply to $jid goes to $uri (ADR-03)" romeo method=MESSAGE \
        "body=reply to $jid" "start=MESSAGE $uri SIP/2.0"
done
e2e_xmpp juliet "message to=romeo@$E2E_SD/orchard 'body=to the orchard'"
e2e_sip_expect "a full JID romeo@$E2E_SD/orchard becomes ;gr=orchard in the Request-URI" romeo \
    method=MESSAGE "body=to the orchard" "start~=^MESSAGE sip:romeo@$E2E_SD;gr=orchard SIP/2.0$"
e2e_xmpp_none "no error came back for any of them" juliet 1 type=error

# The SIP user's errors, back to juliet with her stanza id.
uas=romeo
for spec in "404 service-unavailable cancel" "480 recipient-unavailable wait" \
    "500 internal-server-error cancel"; do
    read -r code cond type <<<"$spec"
    e2e_uas_stop "$uas"
    uas=romeo$code
    e2e_uas_start "$uas" "$code"
    e2e_xmpp juliet "message to=romeo@$E2E_SD 'body=answer $code please' id=err-$code"
    e2e_sip_expect "romeo's phone got the MESSAGE it answers $code" "romeo$code" method=MESSAGE \
        "body=answer $code please"
    e2e_xmpp_expect "SIP $code -> juliet gets <$cond/> type $type for her id" juliet kind=message \
        type=error "id=err-$code" "error=$cond" "error_type=$type" "from=romeo@$E2E_SD"
done
e2e_xmpp_none "the 404 error text does not reveal the user (ERR-08)" juliet 0.5 \
    type=error id=err-404 error_text~=.
e2e_finish
