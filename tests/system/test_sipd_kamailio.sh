#!/usr/bin/env bash
# test_sipd_kamailio.sh - xgw-sipd behind a real Kamailio 5.6 acting as the
# SIP domain's registrar and proxy (tests/sip/kamailio.cfg), with a real
# broker, policyd and xgw-xmppfake as the "xmpp" edge.
#
# Addresses: Kamailio on 127.0.0.3, sipd on 127.0.0.1 trusting only
# 127.0.0.3 (its next hop), the SIP user alice (sipp) on 127.0.0.1.
#   alice registers with Kamailio;
#   SIP to XMPP: alice's MESSAGE to bob@partner.example goes through
#     Kamailio to sipd and is answered 200 once the XMPP side has it;
#   the same MESSAGE sent to sipd directly (not through the proxy) -> 403;
#   XMPP to SIP: a Deliver to alice goes out through Kamailio (the outbound
#     proxy, a pre-loaded Route) to her registered contact: answered 200;
#   XMPP to an unregistered user: Kamailio's 404 -> 502 item-not-found.
# "COND && ok ... || bad ...": ok always returns 0, so bad runs only when COND fails.
# shellcheck disable=SC2015
set -uo pipefail
NAME=test_sipd_kamailio
# shellcheck source=lib_sip.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_sip.sh"

KAMAILIO=$(command -v kamailio || true)
[[ -n $KAMAILIO ]] || KAMAILIO=/usr/sbin/kamailio
[[ -x $KAMAILIO ]] || st_fail_early "kamailio is needed (package kamailio)"

st_init
KAM_IP=127.0.0.3
KAM_PORT=$(st_free_port)
ALICE_PORT=$(st_free_port)
st_start_core
st_start_fake
st_start_sipd --set "sipd.outbound_proxy=sip:$KAM_IP:$KAM_PORT" --set "sipd.trusted_peers=$KAM_IP"

st_scen kam kamailio.cfg KAM_IP "$KAM_IP" KAM_PORT "$KAM_PORT" GW "sip:127.0.0.1:$SIPD_PORT"
mv "$T/kam.xml" "$T/kamailio.cfg"
mkdir -p "$T/kamrun"
# Its own session: Kamailio signals its whole process group when it stops,
# which would otherwise include this script.
setsid "$KAMAILIO" -f "$T/kamailio.cfg" -DD -E -m 64 -M 8 -Y "$T/kamrun" -w "$T" \
    >>"$T/kamailio.log" 2>&1 &
PT_PID[kamailio]=$!

# alice registers (retried until Kamailio listens).
UAC_TARGET="$KAM_IP:$KAM_PORT"
st_scen reg uac_register.xml USER alice DOMAIN example.net CONTACT_PORT "$ALICE_PORT"
for ((i = 0; i < 30; i++)); do
    timeout 5 "$SIPP" -sf "$T/reg.xml" -m 1 -i 127.0.0.1 -p "$UAC_PORT" -nostdin -timeout 2 \
        -timeout_error -trace_msg -message_file "$T/reg.msg" "$UAC_TARGET" >"$T/reg.out" 2>&1 \
        </dev/null && break
    sleep 0.3
done
grep -aq '^SIP/2.0 200' "$T/reg.msg" 2>/dev/null && ok "alice registers with Kamailio" ||
    bad "REGISTER with Kamailio" "sipp uac_register.xml" "200" "$(tail -n 5 "$T/kamailio.log")"

# ---- SIP to XMPP through Kamailio ------------------------------------------------
st_uac k1 200 sip:alice@example.net sip:bob@partner.example text/plain 70 "via kamailio answer=200"
[[ $RC == 0 ]] && ok "MESSAGE alice -> bob@partner.example through Kamailio: 200" ||
    bad "MESSAGE through Kamailio" "sipp uac_message.xml -> Kamailio" "200" "$(st_last_status k1)"
st_wait_log "$FAKE_LOG" 'body="via kamailio' 1 5 &&
    [[ $(grep -F 'body="via kamailio' "$FAKE_LOG") == *'from="alice@example.net" to="bob@partner.example"'* ]] &&
    ok "the XMPP side got it from alice@example.net" ||
    bad "Deliver through Kamailio" "grep fake.log" 'from alice to bob' "$(tail -n 2 "$FAKE_LOG")"
grep -q "kam: MESSAGE sip:bob@partner.example" "$T/kamailio.log" &&
    ok "Kamailio routed the MESSAGE (its log)" ||
    bad "Kamailio routed the MESSAGE" "grep kamailio.log" "kam: MESSAGE sip:bob@partner.example" \
        "$(grep 'kam:' "$T/kamailio.log" | tail -n 3)"

UAC_TARGET=""
st_uac k2 403 sip:alice@example.net sip:bob@partner.example text/plain 70 "around the proxy"
[[ $RC == 0 ]] && ok "the same MESSAGE straight to sipd (not via its next hop): 403" ||
    bad "untrusted direct MESSAGE" "sipp -> sipd directly" "403" "$(st_last_status k2)"

# ---- XMPP to SIP through Kamailio ------------------------------------------------
UAS_PORT=$ALICE_PORT
st_uas_start alice 200
st_send --timeout-ms 8000 message "juliet@partner.example/balcony" "alice@example.net" \
    "hello alice via kamailio"
st_uas_wait alice
[[ $OUT == status=200* && $RC == 0 ]] &&
    ok "Deliver to alice -> sipd -> Kamailio -> alice's contact: 200" ||
    bad "XMPP to SIP through Kamailio" "xgw-xmppfake send message ... alice" "status=200, UAS exit 0" \
        "$OUT (uas exit $RC)"
req=$(awk '/message received/ {on=1; next} /^-----/ {on=0} on' "$T/alice.msg" | tr -d '\r' | sed '/./,$!d')
[[ $req == "MESSAGE sip:alice@127.0.0.1:$ALICE_PORT SIP/2.0"* && $req == *"Via: SIP/2.0/UDP $KAM_IP:$KAM_PORT"* &&
    $req == *"hello alice via kamailio"* ]] &&
    ok "alice's UA got it from Kamailio, at her registered contact" ||
    bad "MESSAGE at alice" "alice.msg" "R-URI = contact, top Via = Kamailio" "$(head -n 4 <<<"$req")"

st_send --timeout-ms 8000 message "juliet@partner.example" "carol@example.net" "nobody home"
[[ $OUT == "status=502 condition=item-not-found type=cancel sip_status=404"* ]] &&
    ok "unregistered user: Kamailio 404 -> 502 item-not-found" ||
    bad "unregistered user" "xgw-xmppfake send message ... carol" "502 item-not-found 404" "$OUT"

pid=${PT_PID[sipd]}
kill -TERM "$pid"
wait "$pid"
rc=$?
unset "PT_PID[sipd]"
[[ $rc == 0 ]] && ok "sipd exits 0 after SIGTERM" || bad "sipd exit status" "kill -TERM" "0" "$rc"
pt_stop kamailio TERM
pt_finish
