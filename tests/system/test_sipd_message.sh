#!/usr/bin/env bash
# test_sipd_message.sh - SIP MESSAGE through xgw-sipd both ways, with real
# sipp peers, a real xgw-broker and xgw-policyd, and xgw-xmppfake playing
# the "xmpp" edge (a GWP worker and client), all on 127.0.0.1 / ipc://.
#
# SIP to XMPP (sipp UAC -> sipd -> Deliver to "xmpp"):
#   200 once the XMPP side has it; Deliver fields (from, to, subject,
#   thread = Call-ID, lang, body, affinity = remote domain, origin); the 200
#   has a To tag and no Contact; GRUU -> resource; im: Request-URI;
#   XMPP conditions -> SIP codes (RFC 7247 Table 2, 4xx for a full JID and
#   6xx for a bare one, service-unavailable never 503); no answer -> 408
#   inside answer_timeout; policy denial -> 403; own domain -> 404;
#   untrusted source -> 403; 415 + Accept (type, charset); 413; 400 for a
#   control character; 483 for Max-Forwards 0; 403 for sips:; 416 for tel:;
#   nothing refused reaches the XMPP side.
# XMPP to SIP (Deliver to "sip" -> sipd -> sipp UAS):
#   the UAS answers 200 202 404 408 480 486 500 503 603: the Deliver's answer
#   is 200 for 2xx, else 502 with the RFC 7247 Table 3 condition and the SIP
#   status; the MESSAGE has no Contact, Max-Forwards 70, a z9hG4bK branch
#   unique per request, a From tag and ;gr= inside the brackets, no To tag,
#   text/plain;charset=UTF-8, the exact body; a JID that is not mappable ->
#   400 jid-malformed; no SIP listener -> 502 internal-server-error (503);
#   one MESSAGE in flight per SIP user, later ones queued in order (IM-10).
# Metrics, then SIGTERM while a MESSAGE is held: the held one still gets its
# 200, a new one gets 503 + Retry-After, sipd exits 0.
# "COND && ok ... || bad ...": ok always returns 0, so bad runs only when COND fails.
# shellcheck disable=SC2015
set -uo pipefail
NAME=test_sipd_message
# shellcheck source=lib_sip.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_sip.sh"

st_init
MPORT=$(st_free_port)
st_start_core
st_start_fake
st_start_sipd --set sipd.answer_timeout=3s --set sipd.max_message_body=1KiB \
    --set "sipd.metrics_port=$MPORT"

ALICE="sip:alice@example.net"
BOB="sip:bob@partner.example"

# in_case DESC EXPECT FROM RURI CTYPE MF BODY: one MESSAGE, the final
# response must be EXPECT (and pass $CHECKS; sipp also gets ${UAC_EXTRA[@]}).
in_case() {
    local desc=$1 expect=$2
    shift 2
    CASE=$((${CASE:-0} + 1))
    st_uac "uac$CASE" "$expect" "$@"
    [[ $RC == 0 ]] && ok "$desc: $expect" ||
        bad "$desc" "sipp -sf uac_message.xml (From $1, R-URI $2, $3, Max-Forwards $4)" \
            "final response $expect" "sipp exit $RC, last status: $(st_last_status "uac$CASE")"
}

# The last SIP message sipp received in case N (headers and body).
last_received() {
    awk '/message received/ {buf=""; on=1; next} /^-----/ {on=0} on {buf = buf $0 "\n"} END {printf "%s", buf}' \
        "$T/uac$1.msg" | tr -d '\r'
}

# ---- SIP to XMPP -----------------------------------------------------------
in_case "MESSAGE to a partner user" 200 "$ALICE" "$BOB" text/plain 70 "hello from sip answer=200"
st_wait_log "$FAKE_LOG" 'body="hello from sip' 1 5
line=$(grep -F 'body="hello from sip' "$FAKE_LOG" | tail -n 1)
[[ $line == *'kind=message from="alice@example.net" to="bob@partner.example" subject="sipp test"'* &&
    $line == *'affinity="partner.example" origin="sipd.00"'* && $line == *'lang="en"'* &&
    $line =~ thread=\"1-[0-9]+@127\.0\.0\.1\" ]] &&
    ok "Deliver{message}: from, to, subject, thread = Call-ID, lang, affinity, origin" ||
    bad "Deliver{message} fields" "grep fake.log" \
        'from/to/subject/lang/thread/affinity/origin as sent' "$line"
resp=$(last_received "$CASE")
[[ $resp == *"SIP/2.0 200 OK"* && $resp =~ To:\ \<sip:bob@partner\.example\>\;tag= &&
    $resp != *$'\nContact:'* && $resp != *$'\nm:'* ]] &&
    ok "the 200 has a To tag and no Contact (IM-07)" ||
    bad "the 200 has a To tag and no Contact" "sipp trace" "To ...;tag=, no Contact" "$resp"

in_case "GRUU in From" 200 "sip:alice@example.net;gr=desk" "$BOB" text/plain 70 "gruu answer=200"
st_wait_log "$FAKE_LOG" 'body="gruu' 1 5 &&
    [[ $(grep -F 'body="gruu' "$FAKE_LOG") == *'from="alice@example.net/desk"'* ]] &&
    ok "From ;gr=desk becomes the resource (ADR-04)" ||
    bad "From ;gr=desk becomes the resource" "grep fake.log" 'from="alice@example.net/desk"' \
        "$(grep -F 'body="gruu' "$FAKE_LOG")"

in_case "im: Request-URI (ADR-09)" 200 "$ALICE" im:bob@partner.example text/plain 70 "im scheme"
st_wait_log "$FAKE_LOG" 'body="im scheme' 1 5 &&
    [[ $(grep -F 'body="im scheme' "$FAKE_LOG") == *'to="bob@partner.example"'* ]] &&
    ok "im: maps like sip:" ||
    bad "im: maps like sip:" "grep fake.log" 'to="bob@partner.example"' \
        "$(grep -F 'body="im scheme' "$FAKE_LOG")"

in_case "charset=UTF-8 and a non-ASCII body" 200 \
    "$ALICE" "$BOB" "text/plain; charset=UTF-8" 70 "caf$(printf '\xc3\xa9') utf8"
st_wait_log "$FAKE_LOG" "body=\"caf$(printf '\xc3\xa9') utf8" 1 5 &&
    ok "UTF-8 body reaches the XMPP side intact" ||
    bad "UTF-8 body intact" "grep fake.log" "body=\"café utf8" "$(tail -n 1 "$FAKE_LOG")"

# XMPP conditions -> SIP (Table 2): bare target -> 6xx, full target -> 4xx.
GR_BOB="sip:bob@partner.example;gr=balcony"
for spec in "item-not-found 604 404" "forbidden 603 403" "recipient-unavailable 600 480" \
    "service-unavailable 403 403" "remote-server-not-found 404 404" \
    "remote-server-timeout 408 408" "feature-not-implemented 501 405" \
    "policy-violation 403 403" "internal-server-error 500 500"; do
    read -r cond bare full <<<"$spec"
    in_case "XMPP <$cond/> for a bare JID" "$bare" "$ALICE" "$BOB" text/plain 70 "x answer=404 cond=$cond"
    in_case "XMPP <$cond/> for a full JID" "$full" "$ALICE" "$GR_BOB" text/plain 70 "x answer=404 cond=$cond"
done

t0=$(now_ms)
in_case "XMPP side never answers (answer_timeout 3s)" 408 "$ALICE" "$BOB" text/plain 70 "late noanswer"
el=$(($(now_ms) - t0))
((el >= 2000 && el < 6000)) && ok "408 came inside answer_timeout (${el} ms)" ||
    bad "408 inside answer_timeout" "timing" "2000..6000 ms" "$el ms"

before=$(st_count "$FAKE_LOG" "deliver ")
in_case "not a partner domain: policy" 403 "$ALICE" sip:bob@other.example text/plain 70 denied
AUDIT=$T/data/audit.log
st_wait_log "$AUDIT" "by=sipd.00 rule=not_a_partner" 1 3 &&
    [[ $(grep -F "by=sipd.00 rule=not_a_partner" "$AUDIT") == *"kind=message direction=outbound local=alice@example.net remote=bob@other.example"* ]] &&
    ok "the SIP-side denial is in the audit log with its rule" ||
    bad "audit line for the denial" "grep $AUDIT" "policy_denied by=sipd.00 rule=not_a_partner ..." \
        "$(cat "$AUDIT" 2>/dev/null)"
in_case "both addresses served here" 404 "$ALICE" sip:carol@example.net text/plain 70 "own domain"
UAC_EXTRA=(-i 127.0.0.2)
in_case "untrusted source 127.0.0.2" 403 "$ALICE" "$BOB" text/plain 70 untrusted
UAC_EXTRA=()
in_case "application/octet-stream" 415 "$ALICE" "$BOB" application/octet-stream 70 binary
resp=$(last_received "$CASE")
[[ $resp == *$'\nAccept: text/plain'* ]] && ok "415 carries Accept: text/plain (IM-09)" ||
    bad "415 carries Accept: text/plain" "sipp trace" "Accept: text/plain" "$resp"
in_case "charset=ISO-8859-1" 415 "$ALICE" "$BOB" "text/plain;charset=ISO-8859-1" 70 latin1
in_case "body over max_message_body (1 KiB)" 413 "$ALICE" "$BOB" text/plain 70 "$(printf 'x%.0s' {1..1100})"
in_case "control character in the body" 400 "$ALICE" "$BOB" text/plain 70 "bad$(printf '\x01')char"
in_case "Max-Forwards: 0" 483 "$ALICE" "$BOB" text/plain 0 "no hops left"
in_case "sips: Request-URI (ADR-08)" 403 "$ALICE" sips:bob@partner.example text/plain 70 secure
in_case "tel: Request-URI" 416 "$ALICE" tel:+4912345 text/plain 70 telephone
in_case "sips: From" 403 sips:alice@example.net "$BOB" text/plain 70 "secure from"
sleep 0.3
after=$(st_count "$FAKE_LOG" "deliver ")
[[ $after == "$before" ]] && ok "no refused MESSAGE reached the XMPP side" ||
    bad "no refused MESSAGE reached the XMPP side" "grep -c deliver fake.log" "$before" "$after"

# ---- XMPP to SIP -----------------------------------------------------------
declare -A WANT=([200]="status=200 condition=-" [202]="status=200 condition=-"
    [404]="status=502 condition=item-not-found type=cancel sip_status=404"
    [408]="status=502 condition=remote-server-timeout type=wait sip_status=408"
    [480]="status=502 condition=recipient-unavailable type=wait sip_status=480"
    [486]="status=502 condition=recipient-unavailable type=wait sip_status=486"
    [500]="status=502 condition=internal-server-error type=cancel sip_status=500"
    [503]="status=502 condition=internal-server-error type=cancel sip_status=503"
    [603]="status=502 condition=recipient-unavailable type=wait sip_status=603")
for code in 200 202 404 408 480 486 500 503 603; do
    st_uas_start "uas$code" "$code"
    st_send --timeout-ms 8000 message "juliet@partner.example/balcony" "alice@example.net" \
        "to sip $code" "greeting" "thread-$code" "en"
    st_uas_wait "uas$code"
    [[ $OUT == "${WANT[$code]}"* ]] && ok "SIP $code -> ${WANT[$code]}" ||
        bad "SIP $code mapped in the Deliver answer" "xgw-xmppfake send message ..." \
            "${WANT[$code]}" "$OUT (uas exit $RC)"
done

msg=$(awk '/message received/ {on=1; next} /^-----/ {on=0} on' "$T/uas200.msg" | tr -d '\r' |
    sed '/./,$!d')
head=${msg%%$'\n\n'*}
body=${msg#*$'\n\n'}
body=${body%$'\n'}
chk() { # chk DESC CONDITION-RESULT
    [[ $2 == 0 ]] && ok "MESSAGE to SIP: $1" || bad "MESSAGE to SIP: $1" "uas200.msg" "$1" "$head"
}
[[ $head == "MESSAGE sip:alice@example.net SIP/2.0"* ]]
chk "Request-URI is the SIP user" $?
[[ $head != *$'\nContact:'* && $head != *$'\nm:'* ]]
chk "no Contact (IM-05)" $?
[[ $head == *$'\nMax-Forwards: 70'* ]]
chk "Max-Forwards: 70" $?
[[ $head =~ Via:\ SIP/2.0/UDP\ [^$'\n']*branch=z9hG4bK ]]
chk "Via branch starts with z9hG4bK" $?
[[ $head == *$'\nFrom: <sip:juliet@partner.example;gr=balcony>;tag='* ]]
chk "From has ;gr= inside the brackets and a tag (ADR-04)" $?
to_line=$(grep -a '^To: ' <<<"$head")
[[ $to_line == "To: <sip:alice@example.net>" ]]
chk "To has no tag" $?
[[ $head == *$'\nContent-Type: text/plain;charset=UTF-8'* ]]
chk "Content-Type text/plain;charset=UTF-8" $?
[[ $head == *$'\nSubject: greeting'* && $head == *$'\nContent-Language: en'* ]]
chk "Subject and Content-Language (IM-04)" $?
[[ $head == *$'\nCall-ID: thread-200'* ]]
chk "Call-ID is the <thread/> (IM-03)" $?
[[ $body == "to sip 200" ]]
chk "body is exactly the stanza body" $?
# Each UAS trace holds one MESSAGE and its answer (same branch and tag).
nb=$(cat "$T"/uas*.msg | tr -d '\r' | grep -a '^Via: ' | grep -o 'branch=[^;]*' | sort -u | wc -l)
nt=$(cat "$T"/uas*.msg | tr -d '\r' | grep -a '^From: ' | grep -o 'tag=[^;]*' | sort -u | wc -l)
[[ $nb == 9 && $nt == 9 ]] && ok "every MESSAGE had its own branch and From tag" ||
    bad "unique branch and From tag per MESSAGE" "uas*.msg" "9 branches, 9 tags" \
        "$nb branches, $nt tags"

# IM-10: three MESSAGEs for one SIP user, the first answered after 1.5 s:
# the second leaves only after that answer, and the order is kept.
UAS_CALLS=3
st_scen slow uas_message_slow.xml DELAY 1500
st_uas_run slow
UAS_CALLS=1
for i in 1 2 3; do
    "$FAKE" send --frontend "ipc://$T/f" --timeout-ms 15000 message juliet@partner.example \
        alice@example.net "in order $i" >"$T/slow$i.out" 2>&1 &
    SLOW[i]=$!
    sleep 0.15
done
for i in 1 2 3; do wait "${SLOW[i]}"; done
st_uas_wait slow
seq=$(tr -d '\r' <"$T/slow.msg" | grep -aE '^(MESSAGE sip|SIP/2.0 200|in order)' |
    sed -E 's/^MESSAGE sip.*/M/; s/^SIP.*/A/; s/^in order (.)/\1/' | tr -d '\n' |
    sed -E 's/(M[0-9])(\1)+/\1/g')  # UDP retransmissions of a held one
[[ $seq == M1AM2AM3A && $(cat "$T"/slow[123].out) == *status=200*status=200*status=200* ]] &&
    ok "one MESSAGE in flight per SIP user, in order (IM-10)" ||
    bad "IM-10 per-destination order" "uas_message_slow.xml trace" "M1AM2AM3A (each answered)" \
        "$seq / $(cat "$T"/slow[123].out | tr '\n' ' ')"

st_send --timeout-ms 5000 message "juliet@partner.example" "@@not a jid" "x"
[[ $OUT == "status=400 condition=jid-malformed"* ]] && ok "unmappable JID -> 400 jid-malformed" ||
    bad "unmappable JID" "xgw-xmppfake send message ... @@not a jid" "status=400 condition=jid-malformed" "$OUT"
st_send --timeout-ms 8000 message "juliet@partner.example" "alice@example.net" "nobody listens"
[[ $OUT == "status=502 condition=internal-server-error type=cancel sip_status=503"* ]] &&
    ok "no SIP listener: 502 internal-server-error (transport 503, ERR-07)" ||
    bad "no SIP listener" "xgw-xmppfake send (no UAS)" "status=502 ... sip_status=503" "$OUT"

# ---- metrics ---------------------------------------------------------------
M=$(curl -s "http://127.0.0.1:$MPORT/metrics")
[[ $M == *'xgw_sip_transactions_total{direction="in",method="MESSAGE",class="2xx"}'* &&
    $M == *'xgw_sip_transactions_total{direction="out",method="MESSAGE",class="5xx"}'* &&
    $M =~ xgw_sip_untrusted_total\ [1-9] && $M == *'xgw_sip_in_flight{direction="in"} 0'* ]] &&
    ok "metrics: transactions by direction/method/class, untrusted, in flight" ||
    bad "sipd metrics" "curl /metrics" "xgw_sip_* series" "$(grep xgw_sip <<<"$M")"

# ---- drain -----------------------------------------------------------------
st_uac held 200 "$ALICE" "$BOB" text/plain 70 "slow answer=200 delay=1500" &
HELD=$!
st_wait_log "$FAKE_LOG" 'body="slow' 1 5
kill -TERM "${PT_PID[sipd]}"
sleep 0.3
UAC_PORT=$(st_free_port)
in_case "new MESSAGE while draining" 503 "$ALICE" "$BOB" text/plain 70 "during drain"
resp=$(last_received "$CASE")
[[ $(grep -a '^Retry-After: ' <<<"$resp") =~ ^Retry-After:\ [1-9] ]] && ok "the 503 carries Retry-After" ||
    bad "the 503 carries Retry-After" "sipp trace" "Retry-After: N" "$resp"
wait "$HELD" && ok "the MESSAGE held at SIGTERM still got its 200" ||
    bad "held MESSAGE answered during drain" "sipp (held)" "200" "$(st_last_status held)"
pid=${PT_PID[sipd]}
for ((i = 0; i < 100; i++)); do
    pt_alive "$pid" || break
    sleep 0.1
done
wait "$pid"
rc=$?
unset "PT_PID[sipd]"
[[ $rc == 0 ]] && ok "sipd exits 0 after SIGTERM" || bad "sipd exit status" "kill -TERM" "0" "$rc"
pt_finish
