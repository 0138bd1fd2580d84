#!/usr/bin/env bash
# test_sipd_subscribe.sh - presence subscriptions through xgw-sipd both
# ways, with real sipp peers, a real broker and policyd, and xgw-xmppfake
# as the "xmpp" edge.
#
# SIP watcher -> XMPP contact (sipp UAC):
#   200 at once with Expires capped at 3600, NOTIFY pending (SUB-08, SUB-10);
#   Deliver{subscription SUBSCRIBE} (affinity = remote domain); XMPP
#   subscribed -> NOTIFY active; XMPP presence -> NOTIFY with PIDF (entity
#   pres:, tuple ID-<resource>, jabber:client show, note); refresh -> 200 +
#   NOTIFY; Expires: 0 -> NOTIFY terminated;reason=timeout and, SUB-11
#   choice (b), presence unavailable to XMPP; XMPP unsubscribed -> NOTIFY
#   terminated;reason=rejected; an XMPP error -> terminated;reason=noresource
#   (ERR-09); policy denial -> rejected and nothing to XMPP; a poll
#   (Expires: 0) -> 200 + terminated;reason=timeout + a probe to XMPP;
#   Event: dialog -> 489, Accept: text/plain -> 406, untrusted source -> 403,
#   sips: -> 403, a NOTIFY outside any dialog -> 481.
# XMPP watcher -> SIP presentity (sipp UAS as presence server):
#   SUBSCRIBE with Event presence, Accept PIDF, Expires, From without GRUU,
#   through the outbound proxy; the Deliver is answered 200; NOTIFY active
#   -> SUBSCRIBED then presence (with the note), closed -> unavailable, a
#   malformed PIDF -> no presence (counted in xgw_sip_pidf_errors_total),
#   terminated;reason=rejected -> UNSUBSCRIBED; 403 -> 502 forbidden and
#   UNSUBSCRIBED (SUB-03); 404 -> 502 item-not-found and nothing else
#   (ERR-08); a repeated subscribe makes no second dialog (SUB-14); the
#   subscription is recorded in the instance's SQLite file and forgotten on
#   unsubscribe, which is an in-dialog SUBSCRIBE Expires: 0 (SUB-07);
#   an XMPP probe -> a fetch whose NOTIFY gives presence (PRS-11), a refused
#   fetch -> unsubscribed and no presence (PRS-12).
# Tightening a user's policy ends that user's live subscriptions both ways
# (NOTIFY terminated;reason=rejected, SUBSCRIBE Expires: 0, unsubscribe and
# unsubscribed to XMPP) and audits them.
# "COND && ok ... || bad ...": ok always returns 0, so bad runs only when COND fails.
# shellcheck disable=SC2015
set -uo pipefail
NAME=test_sipd_subscribe
# shellcheck source=lib_sip.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_sip.sh"

st_init
MPORT=$(st_free_port)
st_start_core
st_start_fake
st_start_sipd --set "sipd.metrics_port=$MPORT"

ALICE=sip:alice@example.net
AFF="alice@example.net|bob@partner.example"

# fake_line TEXT...: the last fake.log line containing every TEXT.
fake_line() {
    local l
    l=$(cat "$FAKE_LOG")
    for t in "$@"; do l=$(grep -F -- "$t" <<<"$l"); done
    tail -n 1 <<<"$l"
}

# ---- SIP watcher -> XMPP contact -------------------------------------------
st_scen w1 uac_subscribe.xml FROM "$ALICE" RURI sip:bob@partner.example
st_run_uac w1 &
W1=$!
st_wait_log "$FAKE_LOG" 'op=SUBSCRIBE from="alice@example.net" to="bob@partner.example"' 1 10 &&
    ok "SIP SUBSCRIBE -> Deliver{subscription SUBSCRIBE}" ||
    bad "SIP SUBSCRIBE reaches XMPP" "grep fake.log" "op=SUBSCRIBE alice -> bob" "$(cat "$FAKE_LOG")"
l=$(fake_line 'op=SUBSCRIBE from="alice@example.net"')
[[ $l == *'affinity="partner.example"'* && $l == *'expires=3600'* ]] &&
    ok "subscribe Deliver: affinity = remote domain, expires = granted (3600 for 86400 asked)" ||
    bad "subscribe Deliver fields" "grep fake.log" 'affinity="partner.example" expires=3600' "$l"
# Before approving, the contact's server says no resource is online (as
# Prosody does): the bare JID's unavailable.
st_send --affinity "$AFF" presence bob@partner.example alice@example.net unavailable
st_send --affinity "$AFF" sub SUBSCRIBED bob@partner.example alice@example.net
[[ $OUT == status=200* ]] && ok "XMPP subscribed accepted by sipd" ||
    bad "XMPP subscribed" "xgw-xmppfake send sub SUBSCRIBED" "status=200" "$OUT"
sleep 0.3
# Ten changes within about a second: the first at once (it completes the
# initial state), the other nine in one NOTIFY at least 5 s later, with the
# last state (PRS-08).
allok=1
for show in chat away xa chat away xa chat away xa dnd; do
    note="now $show"
    [[ $show == dnd ]] && note="on the phone"
    st_send --affinity "$AFF" presence bob@partner.example/home alice@example.net available \
        "$show" "$note"
    [[ $OUT == status=200* ]] || allok=0
done
[[ $allok == 1 ]] && ok "XMPP presence (10 changes) accepted by sipd" ||
    bad "XMPP presence" "xgw-xmppfake send presence" "status=200" "$OUT"
wait "$W1" && ok "watcher life: 200/pending, active, PIDF open, refresh, Expires 0 -> timeout" ||
    bad "watcher life (uac_subscribe.xml)" "sipp" "exit 0" "exit $?: $(tail -n 3 "$T/w1.err" 2>/dev/null)"
first=$(tr -d '\r' <"$T/w1.msg" | grep -a '<presence ' | head -n 1)
second=$(tr -d '\r' <"$T/w1.msg" | grep -a '<presence ' | sed -n 2p)
pidf=$(tr -d '\r' <"$T/w1.msg" | grep -a '<presence ' | sed -n 3p)
[[ $first == *'<tuple id="account"><status><basic>closed</basic>'* && $first != *'ID-'* ]] &&
    ok "NOTIFY active after a bare-JID unavailable: one closed tuple for the account" ||
    bad "approve NOTIFY with the contact offline" "w1.msg" 'tuple id="account" closed' "$first"
[[ $second == *'<tuple id="ID-home"><status><basic>open</basic><show xmlns="jabber:client">chat</show>'* &&
    $second != *'"account"'* ]] &&
    ok "the first presence after the approval goes at once, replacing the account tuple" ||
    bad "first presence NOTIFY" "w1.msg" "ID-home open chat only" "$second"
[[ $pidf != *'id="ID-"'* ]] && ok "once a resource is online no bare-JID tuple remains (PRS-02, PRS-07)" ||
    bad "bare-JID tuple dropped" "w1.msg" 'no tuple id="ID-"' "$pidf"
[[ $pidf == *'entity="pres:bob@partner.example"'* && $pidf == *'<tuple id="ID-home">'* &&
    $pidf == *'<basic>open</basic>'* && $pidf == *'<show xmlns="jabber:client">dnd</show>'* &&
    $pidf == *'<note>on the phone</note>'* ]] &&
    ok "NOTIFY PIDF: pres: entity, ID-resource tuple, basic, jabber:client show, note (PRS-02..04), last state of 10 (PRS-08)" ||
    bad "NOTIFY PIDF" "w1.msg" "entity/tuple/basic/show dnd/note" "$pidf"
gap=$(/usr/bin/python3 - "$T/w1.msg" <<'PY'
import re, sys, datetime
ts, notifies = None, []
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"-+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)", line)
    if m:
        ts = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f")
    elif line.startswith("NOTIFY sip:"):
        notifies.append(ts)
print(int((notifies[3] - notifies[2]).total_seconds() * 1000) if len(notifies) > 3 else -1)
PY
)
((gap >= 4500)) && ok "presence NOTIFY came ${gap} ms after the previous one (PRS-08: 5 s)" ||
    bad "PRS-08 gap" "w1.msg timestamps" ">= 4500 ms" "$gap ms"
notify=$(awk '/message received/ {on=1; next} /^-----/ {on=0} on' "$T/w1.msg" | tr -d '\r' |
    awk '/^NOTIFY /{f=1} f&&/^$/{exit} f')
[[ $notify == *$'\nEvent: presence'* && $notify == *$'\nContact: <sip:'* &&
    $notify == *$'\nMax-Forwards: '* ]] &&
    ok "NOTIFY has Event, Contact and Max-Forwards (PRS-09)" ||
    bad "NOTIFY headers" "w1.msg" "Event/Contact/Max-Forwards" "$notify"
st_wait_log "$FAKE_LOG" 'kind=presence from="alice@example.net" to="bob@partner.example" available=0' 1 5 &&
    ok "Expires: 0 keeps the XMPP subscription and sends unavailable (SUB-11 b)" ||
    bad "SUB-11 b" "grep fake.log" "presence available=0 alice -> bob" "$(tail -n 3 "$FAKE_LOG")"
[[ $(st_count "$FAKE_LOG" 'op=UNSUBSCRIBE') == 0 ]] && ok "no XMPP unsubscribe on SIP expiry" ||
    bad "no XMPP unsubscribe on SIP expiry" "grep fake.log" "none" "$(grep UNSUBSCRIBE "$FAKE_LOG")"

# XMPP refuses.
st_scen w2 uac_subscribe_end.xml FROM sip:carol@example.net RURI sip:bob@partner.example \
    REASON rejected
st_run_uac w2 &
W2=$!
st_wait_log "$FAKE_LOG" 'op=SUBSCRIBE from="carol@example.net"' 1 10
st_send --affinity "carol@example.net|bob@partner.example" sub UNSUBSCRIBED bob@partner.example \
    carol@example.net
wait "$W2" && ok "XMPP unsubscribed -> NOTIFY terminated;reason=rejected (SUB-09)" ||
    bad "XMPP unsubscribed" "sipp uac_subscribe_end.xml" "exit 0" "$(tail -n 3 "$T/w2.err" 2>/dev/null)"

# The XMPP side answers the subscribe with an error (ERR-09).
st_scen w3 uac_subscribe_end.xml FROM "$ALICE" RURI sip:fail-item-not-found@partner.example \
    REASON noresource
st_run_uac w3 && ok "XMPP item-not-found -> NOTIFY terminated;reason=noresource (ERR-09)" ||
    bad "ERR-09" "sipp uac_subscribe_end.xml" "exit 0" "$(tail -n 3 "$T/w3.err" 2>/dev/null)"

# Policy: not a partner.
before=$(st_count "$FAKE_LOG" "deliver ")
st_scen w4 uac_subscribe_end.xml FROM "$ALICE" RURI sip:bob@other.example REASON rejected
st_run_uac w4 && ok "policy denial -> NOTIFY terminated;reason=rejected" ||
    bad "policy denial" "sipp uac_subscribe_end.xml" "exit 0" "$(tail -n 3 "$T/w4.err" 2>/dev/null)"
[[ $(st_count "$FAKE_LOG" "deliver ") == "$before" ]] && ok "denied subscription never reached XMPP" ||
    bad "denied subscription never reached XMPP" "grep fake.log" "$before lines" "$(tail -n 2 "$FAKE_LOG")"

# A poll.
st_scen w5 uac_subscribe_poll.xml FROM "$ALICE" RURI sip:dave@partner.example
st_run_uac w5 && ok "poll: 200 then NOTIFY terminated;reason=timeout (PRS-13)" ||
    bad "poll" "sipp uac_subscribe_poll.xml" "exit 0" "$(tail -n 3 "$T/w5.err" 2>/dev/null)"
st_wait_log "$FAKE_LOG" 'kind=presence from="alice@example.net" to="dave@partner.example" available=0 probe=1' 1 5 &&
    ok "poll sends a probe to XMPP" ||
    bad "poll probe" "grep fake.log" "probe=1 alice -> dave" "$(tail -n 2 "$FAKE_LOG")"

# Refusals.
once() { # once DESC EXPECT EVENT ACCEPT [RURI]
    CASE=$((${CASE:-0} + 1))
    st_scen "once$CASE" uac_subscribe_once.xml FROM "$ALICE" RURI "${5:-sip:bob@partner.example}" \
        EVENT "$3" ACCEPT "$4" EXPECT "$2"
    st_run_uac "once$CASE" && ok "$1: $2" ||
        bad "$1" "sipp uac_subscribe_once.xml" "$2" "$(st_last_status "once$CASE")"
}
once "Event: dialog" 489 dialog ""
once "Accept: text/plain" 406 presence "Accept: text/plain"
once "sips: Request-URI" 403 presence "" sips:bob@partner.example
UAC_EXTRA=(-i 127.0.0.2)
once "untrusted source 127.0.0.2" 403 presence ""
UAC_EXTRA=()
st_scen n1 uac_notify_once.xml
st_run_uac n1 && ok "NOTIFY outside any dialog -> 481 (SUB-12)" ||
    bad "unsolicited NOTIFY" "sipp uac_notify_once.xml" "481" "$(st_last_status n1)"

# ---- XMPP watcher -> SIP presentity ----------------------------------------
PAFF="alice@example.net|juliet@partner.example"
st_scen p1 uas_presence.xml
st_uas_run p1
st_send --affinity "$PAFF" sub SUBSCRIBE juliet@partner.example/balcony alice@example.net
[[ $OUT == status=200* ]] && ok "XMPP subscribe -> SIP SUBSCRIBE answered 2xx -> Deliver answered 200" ||
    bad "XMPP subscribe to a SIP user" "xgw-xmppfake send sub SUBSCRIBE" "status=200" "$OUT"
st_uas_wait p1
[[ $RC == 0 ]] && ok "presence server flow: 200, NOTIFY open/closed/bad/terminated answered" ||
    bad "presence server flow" "sipp uas_presence.xml" "exit 0" "exit $RC: $(tail -n 3 "$T/p1.err" 2>/dev/null)"
sub=$(awk '/message received/ {on=1; next} /^-----/ {on=0} on' "$T/p1.msg" | tr -d '\r' |
    awk '/^SUBSCRIBE /{f=1} f&&/^$/{exit} f')
[[ $sub == "SUBSCRIBE sip:alice@example.net SIP/2.0"* && $sub == *$'\nFrom: <sip:juliet@partner.example>;tag='* &&
    $sub == *$'\nRoute: <sip:127.0.0.1:'"$UAS_PORT"';lr>'* && $sub == *$'\nExpires: 3600'* &&
    $sub == *$'\nMax-Forwards: 70'* ]] &&
    ok "SUBSCRIBE: Request-URI, From bare without gr (ADR-10), Route to the proxy, Expires (SUB-01)" ||
    bad "SUBSCRIBE headers" "p1.msg" "R-URI, From, Route, Expires 3600" "$sub"
st_wait_log "$FAKE_LOG" 'op=UNSUBSCRIBED from="alice@example.net" to="juliet@partner.example"' 1 5
seq=$(grep -F 'to="juliet@partner.example"' "$FAKE_LOG" |
    sed -E 's/.*kind=(subscription op=[A-Z]+|presence from="[^"]*" to="[^"]*" available=[01]).*/\1/')
want='subscription op=SUBSCRIBED
presence from="alice@example.net/pc" to="juliet@partner.example" available=1
presence from="alice@example.net/pc" to="juliet@partner.example" available=0
subscription op=UNSUBSCRIBED'
[[ $seq == "$want" ]] &&
    ok "to XMPP: subscribed, available, unavailable, unsubscribed - in order, nothing for the bad PIDF" ||
    bad "presence server -> XMPP sequence" "grep fake.log" "$want" "$seq"
[[ $(fake_line 'from="alice@example.net/pc"' 'available=1') == *'status="At my desk"'* ]] &&
    ok "PIDF note -> status (PRS-03)" ||
    bad "PIDF note" "grep fake.log" 'status="At my desk"' "$(fake_line 'available=1')"
M=$(curl -s "http://127.0.0.1:$MPORT/metrics")
[[ $M =~ xgw_sip_pidf_errors_total\ 1 ]] && ok "malformed PIDF counted" ||
    bad "malformed PIDF counted" "curl /metrics" "xgw_sip_pidf_errors_total 1" "$(grep pidf <<<"$M")"

for spec in "403 forbidden yes" "404 item-not-found no"; do
    read -r code cond unsub <<<"$spec"
    who="u$code@partner.example"
    st_uas_start "r$code" "$code" uas_subscribe_refuse.xml
    st_send --affinity "alice@example.net|$who" sub SUBSCRIBE "$who" alice@example.net
    st_uas_wait "r$code"
    [[ $OUT == "status=502 condition=$cond "*"sip_status=$code"* ]] &&
        ok "SIP $code to SUBSCRIBE -> 502 $cond" ||
        bad "SIP $code to SUBSCRIBE" "xgw-xmppfake send sub SUBSCRIBE" "502 $cond sip_status=$code" "$OUT"
    sleep 0.3
    n=$(st_count "$FAKE_LOG" "op=UNSUBSCRIBED from=\"alice@example.net\" to=\"$who\"")
    if [[ $unsub == yes ]]; then
        [[ $n == 1 ]] && ok "$code: XMPP unsubscribed (SUB-03)" ||
            bad "$code: XMPP unsubscribed" "grep fake.log" "1 UNSUBSCRIBED" "$n"
    else
        [[ $n == 0 ]] && ok "$code: nothing more reaches XMPP (ERR-08)" ||
            bad "$code: nothing more" "grep fake.log" "0 UNSUBSCRIBED" "$n"
    fi
done

# Probes (PRS-11, PRS-12).
st_scen f1 uas_presence_fetch.xml
st_uas_run f1
st_send --affinity "alice@example.net|prober@partner.example" presence prober@partner.example/x \
    alice@example.net probe
st_uas_wait f1
[[ $OUT == status=200* && $RC == 0 ]] && ok "XMPP probe -> fetch (SUBSCRIBE Expires: 0) answered" ||
    bad "probe -> fetch" "sipp uas_presence_fetch.xml" "status=200, exit 0" "$OUT (exit $RC)"
st_wait_log "$FAKE_LOG" 'kind=presence from="alice@example.net/phone" to="prober@partner.example" available=1' 1 5 &&
    ok "the fetch's NOTIFY -> available presence for the prober (PRS-11)" ||
    bad "fetch NOTIFY -> presence" "grep fake.log" "alice/phone available=1 -> prober" "$(tail -n 2 "$FAKE_LOG")"
st_uas_start f2 403 uas_subscribe_refuse.xml
st_send --affinity "alice@example.net|nosy@partner.example" presence nosy@partner.example \
    alice@example.net probe
st_uas_wait f2
st_wait_log "$FAKE_LOG" 'op=UNSUBSCRIBED from="alice@example.net" to="nosy@partner.example"' 1 5 &&
    [[ $(st_count "$FAKE_LOG" 'to="nosy@partner.example" available=1') == 0 ]] &&
    ok "a refused fetch -> unsubscribed, never presence (PRS-12)" ||
    bad "refused fetch" "grep fake.log" "UNSUBSCRIBED, no presence" "$(grep nosy "$FAKE_LOG")"

# Held subscription: idempotence, the store, unsubscribe in the dialog.
DB=$T/data/sipd.00.db
rows() {
    /usr/bin/python3 -c 'import sqlite3,sys
c = sqlite3.connect(sys.argv[1])
print(c.execute("select count(*) from out_subs where watcher=? and presentity=?", (sys.argv[2], sys.argv[3])).fetchone()[0])' \
        "$DB" "$1" "$2" 2>/dev/null
}
st_scen h1 uas_presence_hold.xml
st_uas_run h1
st_send --affinity "$PAFF" sub SUBSCRIBE romeo@partner.example alice@example.net
[[ $OUT == status=200* ]] && ok "held subscription established" ||
    bad "held subscription" "xgw-xmppfake send sub SUBSCRIBE" "status=200" "$OUT"
st_wait_log "$FAKE_LOG" 'op=SUBSCRIBED from="alice@example.net" to="romeo@partner.example"' 1 5
st_send --affinity "$PAFF" sub SUBSCRIBE romeo@partner.example alice@example.net
[[ $OUT == status=200* ]] && ok "a repeated subscribe is answered 200" ||
    bad "repeated subscribe" "xgw-xmppfake send sub SUBSCRIBE (again)" "status=200" "$OUT"
[[ $(rows romeo@partner.example alice@example.net) == 1 ]] &&
    ok "the subscription is recorded in data_dir/sipd.00.db" ||
    bad "subscription recorded" "sqlite3 $DB" "1 row" "$(rows romeo@partner.example alice@example.net)"
st_send --affinity "$PAFF" sub UNSUBSCRIBE romeo@partner.example alice@example.net
[[ $OUT == status=200* ]] && ok "XMPP unsubscribe answered 200" ||
    bad "XMPP unsubscribe" "xgw-xmppfake send sub UNSUBSCRIBE" "status=200" "$OUT"
st_uas_wait h1
[[ $RC == 0 ]] && ok "unsubscribe is an in-dialog SUBSCRIBE Expires: 0 (SUB-07)" ||
    bad "in-dialog unsubscribe" "sipp uas_presence_hold.xml" "exit 0" "exit $RC: $(tail -n 3 "$T/h1.err" 2>/dev/null)"
[[ $(grep -ac '^SUBSCRIBE sip' "$T/h1.msg") == 2 ]] &&
    ok "one dialog for the pair: the repeat sent no SUBSCRIBE (SUB-14)" ||
    bad "one dialog per pair" "h1.msg" "2 SUBSCRIBEs (subscribe, unsubscribe)" "$(grep -ac '^SUBSCRIBE sip' "$T/h1.msg")"
st_wait_log "$FAKE_LOG" 'op=UNSUBSCRIBED from="alice@example.net" to="romeo@partner.example"' 1 5 &&
    ok "the XMPP user gets unsubscribed back (SUB-07)" ||
    bad "SUB-07 unsubscribed" "grep fake.log" "UNSUBSCRIBED alice -> romeo" "$(grep romeo "$FAKE_LOG")"
[[ $(rows romeo@partner.example alice@example.net) == 0 ]] && ok "unsubscribe forgets the record" ||
    bad "record forgotten" "sqlite3 $DB" "0 rows" "$(rows romeo@partner.example alice@example.net)"

# Tightening the policy ends live subscriptions (DESIGN.md "Policy model"):
# eve watches (pending) an XMPP contact, and an XMPP watcher holds a
# subscription to eve; then eve's user policy turns federation off.
st_scen t1 uac_subscribe_end.xml FROM sip:eve@example.net RURI sip:bob@partner.example \
    REASON rejected
st_run_uac t1 &
T1=$!
st_wait_log "$FAKE_LOG" 'op=SUBSCRIBE from="eve@example.net"' 1 10
st_scen t2 uas_presence_hold.xml
st_uas_run t2
st_send --affinity "eve@example.net|tybalt@partner.example" sub SUBSCRIBE tybalt@partner.example \
    eve@example.net
st_wait_log "$FAKE_LOG" 'op=SUBSCRIBED from="eve@example.net" to="tybalt@partner.example"' 1 5
check_ok "user policy nofed (federation off)" policy new nofed --scope user --federation off --xmpp off
check_ok "grant nofed to eve" policy grant sip:eve@example.net nofed
wait "$T1" && ok "eve's watcher dialog ends: NOTIFY terminated;reason=rejected" ||
    bad "tightening ends the SIP watcher's subscription" "sipp uac_subscribe_end.xml" "exit 0" \
        "$(tail -n 3 "$T/t1.err" 2>/dev/null)"
st_uas_wait t2
[[ $RC == 0 ]] && ok "the gateway ends its dialog towards eve (SUBSCRIBE Expires: 0)" ||
    bad "tightening ends the gateway-held subscription" "sipp uas_presence_hold.xml" "exit 0" \
        "exit $RC: $(tail -n 3 "$T/t2.err" 2>/dev/null)"
st_wait_log "$FAKE_LOG" 'op=UNSUBSCRIBED from="eve@example.net" to="tybalt@partner.example"' 1 5 &&
    st_wait_log "$FAKE_LOG" 'op=UNSUBSCRIBE from="eve@example.net" to="bob@partner.example"' 1 5 &&
    ok "the XMPP side learns both subscriptions ended (unsubscribed, unsubscribe)" ||
    bad "XMPP side told" "grep fake.log" "UNSUBSCRIBED eve->tybalt, UNSUBSCRIBE eve->bob" \
        "$(grep 'eve@' "$FAKE_LOG")"
st_wait_log "$T/data/audit.log" "by=sipd.00 rule=policy_federation_off" 1 3 &&
    ok "the revocations are in the audit log" ||
    bad "audit of revocations" "grep audit.log" "by=sipd.00 rule=policy_federation_off" \
        "$(tail -n 3 "$T/data/audit.log" 2>/dev/null)"

M=$(curl -s "http://127.0.0.1:$MPORT/metrics")
[[ $M == *'xgw_sip_subscriptions{side="watcher",state="active"}'* &&
    $M == *'xgw_sip_transactions_total{direction="in",method="SUBSCRIBE",class="2xx"}'* &&
    $M == *'xgw_sip_transactions_total{direction="out",method="SUBSCRIBE",class="4xx"}'* ]] &&
    ok "metrics: subscriptions by side/state, SUBSCRIBE transactions" ||
    bad "subscription metrics" "curl /metrics" "xgw_sip_subscriptions, SUBSCRIBE classes" "$(grep xgw_sip <<<"$M")"

pid=${PT_PID[sipd]}
kill -TERM "$pid"
wait "$pid"
rc=$?
unset "PT_PID[sipd]"
[[ $rc == 0 ]] && ok "sipd exits 0 after SIGTERM" || bad "sipd exit status" "kill -TERM" "0" "$rc"
pt_finish
