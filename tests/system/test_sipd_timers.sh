#!/usr/bin/env bash
# test_sipd_timers.sh - SUB-05 (RFC 6665 Timer N): a SIP presence server
# that answers the gateway's SUBSCRIBE 200 and never sends a NOTIFY. After
# 32 s the gateway counts the subscription as failed and subscribes again
# in a new dialog (new Call-ID), after its back-off; the XMPP watcher is
# never told "subscribed" (no NOTIFY active came). Takes about 40 s.
# "COND && ok ... || bad ...": ok always returns 0, so bad runs only when COND fails.
# shellcheck disable=SC2015
set -uo pipefail
NAME=test_sipd_timers
# shellcheck source=lib_sip.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_sip.sh"

st_init
st_start_core
st_start_fake
st_start_sipd --set sipd.subscribe_expires=1h

UAS_CALLS=2
st_scen silent uas_subscribe_silent.xml
st_uas_run silent
UAS_CALLS=1
st_send --affinity "alice@example.net|quiet@partner.example" sub SUBSCRIBE quiet@partner.example \
    alice@example.net
[[ $OUT == status=200* ]] && ok "SUBSCRIBE answered 200 (the Deliver too)" ||
    bad "first SUBSCRIBE" "xgw-xmppfake send sub SUBSCRIBE" "status=200" "$OUT"
# Wait for the new dialog's SUBSCRIBE (Timer N 32 s + back-off 2 s).
deadline=$(($(now_ms) + 45000))
while (($(now_ms) < deadline)); do
    (($(grep -ac '^SUBSCRIBE sip' "$T/silent.msg" 2>/dev/null || echo 0) >= 3)) && break
    sleep 0.5
done
# Received SUBSCRIBEs (not their retransmissions): time, Call-ID, Expires.
/usr/bin/python3 - "$T/silent.msg" >"$T/subs.txt" <<'PY'
import re, sys, datetime
ts, rx, seen, cur = None, False, set(), None
for line in open(sys.argv[1], errors="replace"):
    line = line.rstrip("\r\n")
    m = re.match(r"-+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)", line)
    if m:
        ts = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f")
        continue
    if "message received" in line:
        rx, cur = True, None
        continue
    if "message sent" in line:
        rx, cur = False, None
        continue
    if rx and line.startswith("SUBSCRIBE sip:"):
        cur = {"t": ts}
    elif cur is not None and line.startswith("Call-ID:"):
        cur["cid"] = line.split(":", 1)[1].strip()
    elif cur is not None and line.startswith("CSeq:"):
        cur["cseq"] = line.split(":", 1)[1].strip()
    elif cur is not None and line.startswith("Expires:"):
        cur["exp"] = line.split(":", 1)[1].strip()
        key = (cur.get("cid"), cur.get("cseq"))
        if key not in seen:
            seen.add(key)
            print(int(cur["t"].timestamp() * 1000), cur.get("cid"), cur["exp"])
        cur = None
PY
mapfile -t SUBS <"$T/subs.txt"
read -r t1 c1 e1 <<<"${SUBS[0]:-}"
read -r t2 c2 e2 <<<"${SUBS[1]:-}"
read -r t3 c3 e3 <<<"${SUBS[2]:-}"
[[ ${#SUBS[@]} == 3 && $e1 == 3600 ]] && ok "three SUBSCRIBEs: subscribe, end after Timer N, new subscribe" ||
    bad "SUBSCRIBEs seen" "silent.msg" "3" "${#SUBS[@]}: ${SUBS[*]}"
[[ $c2 == "$c1" && $e2 == 0 && $((t2 - t1)) -ge 32000 ]] &&
    ok "after $((t2 - t1)) ms without a NOTIFY the dialog is ended (Expires: 0, SUB-05)" ||
    bad "Timer N end" "silent.msg" "same Call-ID, Expires 0, >= 32000 ms" "$c1/$c2 exp=$e2 $((t2 - t1)) ms"
[[ -n $c3 && $c3 != "$c1" && $e3 == 3600 && $((t3 - t2)) -ge 1500 ]] &&
    ok "then a new dialog (new Call-ID) after the back-off ($((t3 - t2)) ms) (SUB-04)" ||
    bad "new dialog" "silent.msg" "other Call-ID, Expires 3600, >= 1500 ms later" "$c3 exp=$e3 $((t3 - t2)) ms"
# The second call would wait for an un-SUBSCRIBE that never comes.
st_uas_kill silent
grep -q "event=sip_subscription_no_notify" "$T/sipd.log" && ok "sipd logged the missing NOTIFY" ||
    bad "log line" "grep sipd.log" "event=sip_subscription_no_notify" "$(tail -n 3 "$T/sipd.log")"
[[ $(st_count "$FAKE_LOG" 'op=SUBSCRIBED from="alice@example.net" to="quiet@partner.example"') == 0 ]] &&
    ok "no subscribed to XMPP without a NOTIFY active (SUB-02, SUB-05)" ||
    bad "nothing to XMPP" "grep fake.log" "no SUBSCRIBED" "$(grep quiet "$FAKE_LOG")"

pid=${PT_PID[sipd]}
kill -TERM "$pid"
wait "$pid"
rc=$?
unset "PT_PID[sipd]"
[[ $rc == 0 ]] && ok "sipd exits 0 after SIGTERM" || bad "sipd exit status" "kill -TERM" "0" "$rc"
pt_finish
