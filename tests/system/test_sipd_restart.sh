#!/usr/bin/env bash
# test_sipd_restart.sh - subscriptions survive sipd being killed with
# SIGKILL: 100 XMPP watchers subscribe to a SIP user through sipd (a sipp
# presence server accepts them), sipd records them in data_dir/sipd.00.db,
# is killed -9 and started again with the same instance name; it reads the
# records and subscribes again (new dialogs), and the presence server sees
# all 100 SUBSCRIBEs again and the XMPP side gets their state again.
# "COND && ok ... || bad ...": ok always returns 0, so bad runs only when COND fails.
# shellcheck disable=SC2015
set -uo pipefail
NAME=test_sipd_restart
# shellcheck source=lib_sip.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_sip.sh"

N=100
st_init
st_start_core
st_start_fake
st_start_sipd --set sipd.subscribe_expires=1h

DB=$T/data/sipd.00.db
rows() {
    /usr/bin/python3 -c 'import sqlite3,sys
print(sqlite3.connect(sys.argv[1]).execute("select count(*) from out_subs").fetchone()[0])' "$DB" 2>/dev/null
}

UAS_CALLS=$N
st_scen acc1 uas_presence_accept.xml
st_uas_run acc1
for ((i = 1; i <= N; i++)); do
    st_send --affinity "alice@example.net|w$i@partner.example" sub SUBSCRIBE "w$i@partner.example" \
        alice@example.net
    [[ $OUT == status=200* ]] || bad "subscribe w$i" "xgw-xmppfake send sub SUBSCRIBE" "status=200" "$OUT"
done
st_uas_wait acc1
[[ $RC == 0 ]] && ok "$N subscriptions accepted by the presence server" ||
    bad "$N subscriptions" "sipp uas_presence_accept.xml -m $N" "exit 0" "exit $RC: $(tail -n 3 "$T/acc1.err" 2>/dev/null)"
st_wait_log "$FAKE_LOG" 'op=SUBSCRIBED from="alice@example.net"' "$N" 10 &&
    ok "$N SUBSCRIBED reached the XMPP side" ||
    bad "$N SUBSCRIBED" "grep fake.log" "$N" "$(st_count "$FAKE_LOG" 'op=SUBSCRIBED')"
[[ $(rows) == "$N" ]] && ok "$N records in $DB" || bad "records before the kill" "sqlite3" "$N" "$(rows)"

pid=${PT_PID[sipd]}
kill -KILL "$pid"
wait "$pid" 2>/dev/null
unset "PT_PID[sipd]"
ok "sipd killed with SIGKILL"
[[ $(rows) == "$N" ]] && ok "the records survived the kill" || bad "records after the kill" "sqlite3" "$N" "$(rows)"

st_scen acc2 uas_presence_accept.xml
st_uas_run acc2
st_start_sipd --set sipd.subscribe_expires=1h
st_uas_wait acc2
[[ $RC == 0 ]] && ok "after the restart the presence server got $N SUBSCRIBEs again" ||
    bad "re-subscribed after restart" "sipp uas_presence_accept.xml -m $N" "exit 0" \
        "exit $RC: $(grep -c '^SUBSCRIBE sip' "$T/acc2.msg" 2>/dev/null) SUBSCRIBEs; $(tail -n 2 "$T/acc2.err" 2>/dev/null)"
grep -q "event=sip_subscriptions_restored count=$N " "$T/sipd.log" &&
    ok "sipd logged count=$N restored" ||
    bad "restored count logged" "grep sipd.log" "count=$N" "$(grep restored "$T/sipd.log" | tail -n 1)"
st_wait_log "$FAKE_LOG" 'op=SUBSCRIBED from="alice@example.net"' $((2 * N)) 10 &&
    ok "every watcher got its subscription state again" ||
    bad "state after restart" "grep fake.log" "$((2 * N)) SUBSCRIBED" "$(st_count "$FAKE_LOG" 'op=SUBSCRIBED')"
w=$(grep -F 'op=SUBSCRIBED from="alice@example.net"' "$FAKE_LOG" | grep -o 'to="w[0-9]*@' | sort -u | wc -l)
[[ $w == "$N" ]] && ok "all $N watchers are covered" || bad "distinct watchers" "grep fake.log" "$N" "$w"
[[ $(rows) == "$N" ]] && ok "still $N records" || bad "records after the restart" "sqlite3" "$N" "$(rows)"

pid=${PT_PID[sipd]}
kill -TERM "$pid"
wait "$pid"
rc=$?
unset "PT_PID[sipd]"
[[ $rc == 0 ]] && ok "sipd exits 0 after SIGTERM" || bad "sipd exit status" "kill -TERM" "0" "$rc"
pt_finish
