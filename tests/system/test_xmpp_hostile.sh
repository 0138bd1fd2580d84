#!/usr/bin/env bash
# test_xmpp_hostile.sh - hostile s2s peers against a real xgw-xmppd (issue 5,
# checklist S2S-06, S2S-10, S2S-11, ROB-01..ROB-07), with the scripted raw
# peer tests/tools/xmpp_raw_peer.py as raw.test (dialback partner; it is its
# own authoritative server on 127.0.0.175).
#
# For each case: the hostile peer runs; while it does, a fresh well-behaved
# stream (the raw peer as good.test: TCP, dialback, one message) and the
# existing stream of a real Prosody (bob@pa.test sends a message) both get
# their message to the SIP side; the hostile peer gets exactly the expected
# stream error condition (or close) within its deadline; nothing it sent
# reaches the SIP side; xmppd is still running. Cases and expectations:
#   stanza-before-auth   <not-authorized/>                       (S2S-10)
#   wrong-from           <invalid-from/> (from a domain other than the
#                        authenticated one, itself a partner)   (S2S-11)
#   entity-bomb          <restricted-xml/> (DOCTYPE, nested entities) (ROB-02)
#   entity-ref           <restricted-xml/> (&lol9; in a stanza)  (ROB-02)
#   big-stanza           <policy-violation/> (10 MiB message)    (ROB-06)
#   deep-nesting         <policy-violation/> (10,000 levels)     (ROB-06)
#   invalid-utf8         <unsupported-encoding/> (C0 AF)         (ROB-03)
#   utf8-surrogate       <unsupported-encoding/> (ED A0 80)      (ROB-03)
#   utf16-decl           <unsupported-encoding/> (encoding='UTF-16')
#   unknown-ns           ignored (the stream then carries a good message)
#                        or <unsupported-stanza-type/>           (ROB-04)
#   prefixed-stanza      ignored or <bad-namespace-prefix/> /
#                        <unsupported-stanza-type/>              (ROB-04)
#   slowloris            the header one byte a second: <connection-timeout/>
#                        at the stream establishment timeout (5 s here)
#   tls-stall            <starttls/>, <proceed/>, then no handshake: TCP
#                        closed without </stream:stream> after
#                        tls_handshake_timeout (3 s here)        (S2S-06)
#   tls-garbage          not TLS after <proceed/>: closed the same way
# and xmppd's peak memory (VmHWM) grows by less than 64 MiB over all cases.
# "COND && ok ... || bad ...": ok always returns 0.
# shellcheck disable=SC2015
set -uo pipefail
NAME=test_xmpp_hostile
# shellcheck source=lib_xmpp.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_xmpp.sh"

xt_init
for ip in "$XT_RAW_IP" "$XT_GOOD_IP"; do
    xt_port_free "$ip" 5269 || xt_fatal "$ip:5269 is free for the raw peers" "something listens there"
done
xt_dns_record "host-record=raw.test,$XT_RAW_IP" "host-record=rawtls.test,$XT_RAW_IP" \
    "host-record=other.test,$XT_RAW_IP" "host-record=good.test,$XT_GOOD_IP" \
    "host-record=pa.test,$XT_PA_IP" "host-record=$XT_GW_DOMAIN,$XT_GW_IP"
xt_dns_start
xt_ca_init
xt_gw_start
for d in raw.test good.test pa.test other.test; do xt_partner "$d" dialback; done
xt_partner rawtls.test tls
x gateway set --stream-establishment-timeout 5
[[ $RC == 0 ]] || xt_fatal "xgwctl gateway set --stream-establishment-timeout 5" "$OUT $ERR"
pt_wait_edge_version 5 || xt_fatal "the edge has the partners" "version $(ruleset_version --edge xmpp)"
xt_prosody_start a pa.test "$XT_PA_IP" dialback
xt_prosody_user a bob pw
XMPPD_PID=${PT_PID[xmppd]}
hwm() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$XMPPD_PID/status" 2>/dev/null; }

# Warm up: the Prosody stream exists before the first case.
xt_client bob-warm "$XT_PA_IP:5222" bob@pa.test pw "message alice@$XT_GW_DOMAIN warm up"
xt_sip_wait 'body="warm up"' 30 && ok "setup: Prosody's stream to the gateway carries a message" ||
    xt_fatal "Prosody's stream to the gateway carries a message" "$(tail -n 2 "$T/sip.log")"
HWM0=$(hwm)

RAW=(--connect "$XT_GW_IP:5269" --to "$XT_GW_DOMAIN" --message-to "alice@$XT_GW_DOMAIN")

# hostile CASE EXPECT WITHIN [raw peer options...]
hostile() {
    local case=$1 expect=$2 within=$3 lines0 new stray
    shift 3
    lines0=$(wc -l <"$T/sip.log")
    xt_raw_bg "$case" "${RAW[@]}" --listen "$XT_RAW_IP:5269" --case "$case" --expect "$expect" \
        --within "$within" --then-body "still working after $case" "$@"
    sleep 0.3
    # A fresh stream and the existing one, while the hostile peer runs.
    xt_raw "good-$case" "${RAW[@]}" --listen "$XT_GOOD_IP:5269" --domain good.test --user carol \
        --case good --body "fresh stream during $case" --expect open --within 1
    xt_client "bob-$case" "$XT_PA_IP:5222" bob@pa.test pw \
        "message alice@$XT_GW_DOMAIN existing stream during $case"
    if xt_sip_wait "from=\"carol@good.test.* body=\"fresh stream during $case\"" 15 &&
        xt_sip_wait "from=\"bob@pa.test.* body=\"existing stream during $case\"" 15; then
        ok "$case: meanwhile a new stream and Prosody's stream get their messages through"
    else
        bad "$case: meanwhile a new stream and Prosody's stream get their messages through" \
            "xmpp_raw_peer.py --case good; xmpp_c2s.py message" "both Deliver lines in sip.log" \
            "good peer: $(xt_raw_verdict "good-$case") | sip.log: $(tail -n 2 "$T/sip.log" | paste -sd'|' | cut -c1-300)"
    fi
    xt_raw_wait "$case"
    [[ $RC == 0 ]] && ok "$case: $(xt_raw_verdict "$case")" ||
        bad "$case: the hostile peer gets $expect within $within s" \
            "xmpp_raw_peer.py --case $case --expect $expect" "verdict: ok (exit 0)" \
            "exit $RC: $(grep -E 'recv stream error|summary|verdict|setup' "$T/raw-$case.out" | sed 's/^ *[0-9.]* //' | paste -sd'|' | cut -c1-700)"
    # Nothing of the hostile peer's reached SIP: every new line is one of
    # the good messages (or the follow-up an ignored element allows).
    new=$(tail -n +"$((lines0 + 1))" "$T/sip.log")
    stray=$(grep -v -e 'body="fresh stream during' -e 'body="existing stream during' \
        -e "body=\"still working after $case\"" -e '^deliver kind=presence from="bob@pa.test' <<<"$new" |
        grep -v '^$')
    [[ -z $stray ]] && ok "$case: nothing from the hostile peer reached the SIP side" ||
        bad "$case: nothing from the hostile peer reached the SIP side" "tail sip.log" "no other Deliver" \
            "$(cut -c1-300 <<<"$stray" | paste -sd'|')"
    pt_alive "$XMPPD_PID" || xt_fatal "xmppd survives $case" "xmppd exited: $(tail -n 3 "$T/xmppd.log")"
}

hostile stanza-before-auth error:not-authorized 10
hostile wrong-from error:invalid-from 10 --spoof-domain other.test
hostile entity-bomb error:restricted-xml 10
hostile entity-ref error:restricted-xml 10
hostile big-stanza error:policy-violation 20
hostile deep-nesting error:policy-violation 10
hostile invalid-utf8 error:unsupported-encoding 10
hostile utf8-surrogate error:unsupported-encoding 10
hostile utf16-decl error:unsupported-encoding 10
hostile unknown-ns 'error-or-open:unsupported-stanza-type' 5 --then-message "alice@$XT_GW_DOMAIN"
hostile prefixed-stanza 'error-or-open:bad-namespace-prefix|unsupported-stanza-type' 5 \
    --then-message "alice@$XT_GW_DOMAIN"
hostile slowloris error:connection-timeout 12 --interval 1
hostile tls-stall close-silent 10 --domain rawtls.test
hostile tls-garbage close-silent 10 --domain rawtls.test

HWM1=$(hwm)
if [[ -n $HWM0 && -n $HWM1 ]]; then
    growth=$(((HWM1 - HWM0) / 1024))
    ((growth < 64)) && ok "xmppd's peak memory grew by $growth MiB over all cases (< 64)" ||
        bad "xmppd's peak memory stays bounded" "VmHWM of xmppd" "< 64 MiB growth" "$growth MiB"
else
    bad "xmppd's peak memory is readable" "/proc/$XMPPD_PID/status" "VmHWM" "none"
fi
log "done in $(xt_elapsed) s"
xt_finish
