#!/usr/bin/env bash
# test_sipd_badinput.sh - malformed and hostile SIP against xgw-sipd while a
# sipp UAC keeps a good MESSAGE flow going (ROB-08..11), through a real
# broker, policyd and xgw-xmppfake as the "xmpp" edge.
#
# tests/sip/badsip.py sends raw datagrams (and two TCP streams) and reports
# the status that came back (or none). Expected:
#   400: body shorter than Content-Length, negative / non-numeric / huge
#        Content-Length, duplicated From / Call-ID / CSeq, no Call-ID / CSeq /
#        From, CSeq method not the request's, TCP without Content-Length;
#   400 or dropped: truncated request, no Via, binary garbage, a request
#        line alone, a 100 KiB header over TCP (over the size bound);
#   405 (INVITE), 501 (unknown method), 420 (unknown Require), 483
#        (Max-Forwards 0); a 60 KB header that is otherwise valid is served;
#   a MESSAGE sent three times gets three 200s and makes one stanza; a
#        merged copy (other branch) gets 482 and makes none (ROB-09).
# Nothing refused reaches the XMPP side; the good flow loses no call; sipd
# is alive after it all and exits 0 on SIGTERM. A second instance without a
# rule set (policyd stopped) answers 503 + Retry-After on sip_url's port + 1.
# "COND && ok ... || bad ...": ok always returns 0, so bad runs only when COND fails.
# shellcheck disable=SC2015
set -uo pipefail
NAME=test_sipd_badinput
# shellcheck source=lib_sip.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_sip.sh"

st_init
st_start_core
st_start_fake
# Requests are bounded to max_message_body + 16 KiB of headers (80 KiB).
st_start_sipd --set sipd.max_message_body=64KiB

# The good flow: 60 MESSAGEs at 10 per second from another port.
GOOD_PORT=$(st_free_port)
st_scen good uac_message.xml FROM sip:alice@example.net RURI sip:bob@partner.example \
    CTYPE text/plain MF 70 BODY "good flow answer=200" EXPECT 200 CHECKS ""
timeout 60 "$SIPP" -sf "$T/good.xml" -m 60 -r 10 -l 20 -i 127.0.0.1 -p "$GOOD_PORT" -nostdin \
    -timeout 50 -timeout_error -trace_err -error_file "$T/good.err" "127.0.0.1:$SIPD_PORT" \
    >"$T/good.out" 2>&1 </dev/null &
GOOD=$!
sleep 0.5

/usr/bin/python3 "$SIPDIR/badsip.py" 127.0.0.1 "$SIPD_PORT" >"$T/bad.out" 2>"$T/bad.err"
declare -A GOT=()
while read -r name status; do GOT[$name]=$status; done <"$T/bad.out"

expect() { # expect CASE ALLOWED... (a status or "none")
    local name=$1 got=${GOT[$1]:-missing} a
    shift
    for a in "$@"; do
        if [[ $got == "$a" ]]; then
            ok "$name: $got"
            return
        fi
    done
    bad "$name" "badsip.py 127.0.0.1 $SIPD_PORT $name" "$*" "$got"
}
for c in short_body negative_length alpha_length huge_length two_from two_call_id two_cseq \
    no_call_id no_cseq no_from bad_cseq_method tcp_no_length; do
    expect "$c" 400
done
for c in truncated no_via garbage bad_request_line; do
    expect "$c" 400 none
done
expect huge_tcp_header 400 413 none
expect invite 405
expect unknown_method 501
expect require_unknown 420
expect max_forwards_zero 483
expect big_udp_header 200
expect retransmit3 200,200,200
expect merged 200,482

sleep 0.3
n=$(st_count "$FAKE_LOG" 'body="retransmitted once')
[[ $n == 1 ]] && ok "a retransmitted MESSAGE makes one stanza" ||
    bad "retransmission absorbed" "grep fake.log" "1" "$n"
n=$(st_count "$FAKE_LOG" 'body="merged copy')
[[ $n == 1 ]] && ok "a merged copy makes no second stanza" ||
    bad "merged request" "grep fake.log" "1" "$n"
n=$(st_count "$FAKE_LOG" 'body="hello')
[[ $n == 1 ]] && ok "no refused request reached XMPP (only the valid 60 KB one)" ||
    bad "refused requests stay out of XMPP" "grep -c 'body=\"hello' fake.log" "1" "$n"

wait "$GOOD" && ok "the parallel good flow: 60 of 60 MESSAGEs answered 200" ||
    bad "good flow during the bad input" "sipp -m 60 -r 10" "exit 0" \
        "exit $?: $(grep -E 'Successful call|Failed call' "$T/good.out" | tail -n 2 | tr -s ' ')"
n=$(st_count "$FAKE_LOG" 'body="good flow')
[[ $n -ge 60 ]] && ok "the good flow reached XMPP ($n stanzas)" ||
    bad "good flow delivered" "grep fake.log" ">= 60" "$n"

# A second instance started while policyd cannot answer has no rule set:
# it still serves SIP, and its refusals are temporary (503 + Retry-After),
# not a policy's 403.
kill -STOP "${PT_PID[policyd]}"
"$BIN/xgw-sipd" -c "$CONF" --instance 1 --set "sipd.sip_url=sip:127.0.0.1:$SIPD_PORT" \
    --set "sipd.outbound_proxy=sip:127.0.0.1:$UAS_PORT" --set sipd.trusted_peers=127.0.0.1 \
    >>"$T/sipd1.log" 2>&1 &
PT_PID[sipd1]=$!
st_wait_log "$T/sipd1.log" "event=sip_listening" 1 10
sleep 1.5 # past the first snapshot retry, which used to block the loop
UAC_TARGET="127.0.0.1:$((SIPD_PORT + 1))"
st_uac norules 503 sip:alice@example.net sip:bob@partner.example text/plain 70 "no rules yet"
UAC_TARGET=""
resp=$(awk '/message received/ {buf=""; on=1; next} /^-----/ {on=0} on {buf = buf $0 "\n"} END {printf "%s", buf}' \
    "$T/norules.msg" | tr -d '\r')
[[ $RC == 0 && $(grep -a '^Retry-After: ' <<<"$resp") =~ ^Retry-After:\ [1-9] ]] &&
    ok "no rule set yet (instance 1, on port + 1): 503 with Retry-After" ||
    bad "no rule set yet" "sipp -> sipd --instance 1" "503 + Retry-After" "$(st_last_status norules)"
kill -CONT "${PT_PID[policyd]}"
pt_stop sipd1 TERM

pid=${PT_PID[sipd]}
pt_alive "$pid" && ok "sipd is still running" || bad "sipd alive" "kill -0" "running" "gone"
st_uac after 200 sip:alice@example.net sip:bob@partner.example text/plain 70 "after answer=200"
[[ $RC == 0 ]] && ok "sipd still serves after the bad input" ||
    bad "sipd serves after the bad input" "sipp uac_message.xml" "200" "$(st_last_status after)"
if grep -qa 'AddressSanitizer\|runtime error' "$T/sipd.log"; then
    bad "no sanitizer report" "grep sipd.log" "none" "$(grep -a -m 3 'AddressSanitizer\|runtime error' "$T/sipd.log")"
else
    ok "no sanitizer report in sipd's log"
fi
kill -TERM "$pid"
wait "$pid"
rc=$?
unset "PT_PID[sipd]"
[[ $rc == 0 ]] && ok "sipd exits 0 after SIGTERM" || bad "sipd exit status" "kill -TERM" "0" "$rc"
pt_finish
