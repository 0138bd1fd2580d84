#!/usr/bin/env bash
# test_e2e_restart.sh - step 6 of the end-to-end suite: every process kind of
# the gateway is killed with SIGKILL in the middle of traffic (the test plays
# supervisord: it starts the process again at once), and nothing accepted is
# lost, with real peers on both sides.
#
#   xmppd: while it is dead Prosody cannot deliver to sip.test (juliet's
#     message bounces with an error); once it is back, messages cross both
#     ways again (Prosody reconnects), once each (a MESSAGE held across its
#     restart: pending_e2e_restart_norules.sh);
#   sipd: juliet's message sent while sipd is dead is held (xmppd/broker)
#     and reaches romeo's phone once sipd is back, once, and juliet gets no
#     error; romeo's MESSAGE (UDP retransmissions) gets 200 from the new sipd;
#   broker: both directions sent while the broker is dead arrive once it is
#     back (clients retry with the same msg_id);
#   policyd, certd: messages keep crossing while they are dead (the edges
#     decide on their replicas, the streams keep their keys), and a policy
#     change after policyd's restart is in force on both edges;
#   sipd's subscriptions: juliet's subscription to romeo (a SIP dialog the
#     gateway holds, recorded in data_dir/sipd.00.db) is re-established by the
#     restarted sipd from its store: romeo's phone gets a new SUBSCRIBE (new
#     Call-ID) and juliet the presence that comes through the new dialog.
# "COND && ok ... || bad ...": ok always returns 0.
# shellcheck disable=SC2015,SC2119
set -uo pipefail
NAME=test_e2e_restart
# shellcheck source=lib_e2e.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_e2e.sh"

e2e_init
e2e_dns_start
e2e_gw_start
e2e_partner "$E2E_XD" dialback
e2e_prosody_start
e2e_uas_start romeo 200
e2e_xmpp_start juliet "juliet@$E2E_XD"
e2e_xmpp juliet presence
ROMEO="sip:romeo@$E2E_SD"
JULIET="sip:juliet@$E2E_XD"
n=0

# kill9 NAME: SIGKILL, reaped.
kill9() {
    local pid=${PT_PID[$1]}
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    unset "PT_PID[$1]"
}

# restart NAME: start it again and wait until it serves.
restart() {
    local svc=$1
    pt_start "$1"
    case $1 in
    xmppd) svc=xmpp ;;
    sipd) svc=sip ;;
    policyd) svc=policy ;;
    certd) svc=cert ;;
    broker) svc=policy ;;
    esac
    pt_wait_ping "$svc" 30 || xt_fatal "$1 serves again after its restart" "$(tail -n 3 "$T/$1.log")"
}

# uac_bg NAME BODY: romeo's MESSAGE to juliet in the background (sipp keeps
# retransmitting over UDP until it gets a final response).
uac_bg() {
    E2E_V_HEADERS="" E2E_V_EXPECT=200 E2E_V_FROM=$ROMEO E2E_V_RURI=$JULIET E2E_V_TO=$JULIET \
        E2E_V_CTYPE="text/plain;charset=UTF-8" E2E_V_BODY=$2 e2e_uac_bg "$1" uac_message.xml \
        -timeout 40 -timeout_error
}

# both_ways TAG: a message each way crosses now.
both_ways() {
    e2e_check_uac "$1: romeo -> juliet" "bw$((++n))" 200 "$ROMEO" "$JULIET" "$1 to juliet"
    e2e_xmpp_expect "$1: juliet gets it" juliet kind=message "body=$1 to juliet"
    e2e_xmpp juliet "message to=romeo@$E2E_SD $(e2e_q "body=$1 to romeo")"
    e2e_sip_expect "$1: romeo gets juliet's" romeo --wait 30 method=MESSAGE "body=$1 to romeo"
}

# once TAG: each of the two messages of TAG arrived exactly once.
once() {
    local a b
    a=$("$PY" "$E2E_DIR/xmpp_client.py" match --log "$T/clients/juliet/log.jsonl" --count 2 \
        kind=message "body=$1 to juliet" >/dev/null 2>&1 && echo 2+ || echo 1)
    b=$("$PY" "$E2E_DIR/sip_trace.py" show --file "$T/sip/romeo.msg" method=MESSAGE \
        "body=$1 to romeo" | wc -l)
    [[ $a == 1 && $b == 1 ]] && ok "$1: no duplicate on either side" ||
        bad "$1: no duplicate" "count the messages" "1 at juliet, 1 at romeo" \
            "juliet: $a, romeo: $b"
}

both_ways "before any kill"

# ---- xmppd ---------------------------------------------------------------------
# (A message sent while xmppd is dead is refused by the restarted xmppd when it
# arrives before xmppd's rule set: pending_e2e_restart_norules.sh. Here the
# traffic resumes once xmppd holds its rules.)
kill9 xmppd
e2e_xmpp juliet "message to=romeo@$E2E_SD 'body=while xmppd is dead' id=x0"
e2e_xmpp_expect "xmppd killed: Prosody cannot reach sip.test, juliet's message bounces" juliet \
    kind=message type=error id=x0
restart xmppd
e2e_wait_edges 20 || xt_fatal "the restarted xmppd holds its rules" "$(e2e_version --edge xmpp)"
both_ways "after xmppd's restart"
once "after xmppd's restart"

# ---- sipd ------------------------------------------------------------------------
kill9 sipd
e2e_xmpp juliet "message to=romeo@$E2E_SD 'body=while sipd is dead to romeo' id=s1"
uac_bg s2 "while sipd is dead to juliet"
sleep 1
restart sipd
e2e_sip_expect "sipd killed: juliet's message held meanwhile reaches romeo" romeo --wait 20 \
    method=MESSAGE "body=while sipd is dead to romeo"
e2e_check_sipp "sipd killed: romeo's retransmitted MESSAGE gets 200 from the new sipd" s2 40
e2e_xmpp_expect "sipd killed: juliet gets romeo's message" juliet kind=message \
    "body=while sipd is dead to juliet"
c=$("$PY" "$E2E_DIR/sip_trace.py" show --file "$T/sip/romeo.msg" method=MESSAGE \
    "body=while sipd is dead to romeo" | wc -l)
[[ $c == 1 ]] && ok "sipd killed: the held message reached romeo once" ||
    bad "sipd killed: the held message reached romeo once" "romeo.msg" 1 "$c"
e2e_xmpp_none "sipd killed: juliet got no error for it" juliet 0.5 type=error id=s1
both_ways "after sipd's restart"
once "after sipd's restart"

# ---- broker ----------------------------------------------------------------------
kill9 broker
uac_bg b1 "while the broker is dead to juliet"
e2e_xmpp juliet "message to=romeo@$E2E_SD 'body=while the broker is dead to romeo' id=b2"
sleep 1
restart broker
e2e_check_sipp "broker killed: romeo's MESSAGE gets 200 after the broker's restart" b1 30
e2e_xmpp_expect "broker killed: juliet gets it" juliet kind=message \
    "body=while the broker is dead to juliet"
e2e_sip_expect "broker killed: juliet's message reaches romeo" romeo --wait 20 method=MESSAGE \
    "body=while the broker is dead to romeo"
e2e_xmpp_none "broker killed: juliet got no error" juliet 0.5 type=error id=b2
both_ways "after the broker's restart"
once "after the broker's restart"

# ---- policyd and certd: the edges go on without them -----------------------------
kill9 policyd
both_ways "while policyd is dead"
restart policyd
e2e_ctl "after policyd's restart: a policy change reaches both edges" \
    deny add "*.spam.test"
x decide --edge sip --from "$ROMEO" --to xmpp:x@a.spam.test --kind message
[[ $OUT == DENY* ]] && ok "after policyd's restart: sipd's replica has the new deny entry" ||
    bad "sipd's replica after policyd's restart" "xgwctl decide --edge sip ... a.spam.test" "DENY ..." \
        "exit $RC: $OUT $ERR"
kill9 certd
both_ways "while certd is dead"
restart certd
both_ways "after certd's restart"

# ---- sipd's held subscriptions survive its kill -9 ---------------------------------
e2e_uas_stop romeo
E2E_V_NOTE1=online e2e_uas_start pres - "$E2E_DIR/uas_presentity_once.xml" -m 2
mark=$(e2e_xmpp_mark juliet)
e2e_xmpp juliet "subscribe to=romeo@$E2E_SD"
e2e_xmpp_expect "juliet's subscription to romeo: subscribed" juliet --since "$mark" \
    kind=presence type=subscribed "from=romeo@$E2E_SD"
e2e_xmpp_expect "juliet's subscription to romeo: his presence through dialog 1" juliet \
    --since "$mark" kind=presence no:type "from=romeo@$E2E_SD/desk" "status=online, dialog 1"
rows=$("$PY" -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print(c.execute("select count(*) from out_subs where watcher=? and presentity=?", (sys.argv[2], sys.argv[3])).fetchone()[0])' \
    "$T/data/sipd.00.db" "juliet@$E2E_XD" "romeo@$E2E_SD" 2>&1)
[[ $rows == 1 ]] && ok "sipd recorded the subscription (data_dir/sipd.00.db)" ||
    bad "sipd recorded the subscription" "sqlite3 sipd.00.db out_subs" 1 "$rows"
kill9 sipd
restart sipd
e2e_log_expect "the restarted sipd restores it" sipd.log "event=sip_subscriptions_restored count=1"
e2e_sip_expect "romeo's phone gets a new SUBSCRIBE for juliet" pres --count 2 method=SUBSCRIBE \
    "From~=^<sip:juliet@$E2E_XD>;tag="
cids=$("$PY" "$E2E_DIR/sip_trace.py" show --file "$T/sip/pres.msg" method=SUBSCRIBE |
    "$PY" -c 'import json, sys
print(len({dict(json.loads(l)["headers"])["call-id"] for l in sys.stdin}))')
[[ $cids == 2 ]] && ok "the restored subscription is a new dialog (new Call-ID)" ||
    bad "a new dialog after the restart" "Call-IDs of the SUBSCRIBEs" 2 "$cids"
e2e_xmpp_expect "juliet gets romeo's presence through the new dialog" juliet --since "$mark" \
    kind=presence no:type "from=romeo@$E2E_SD/desk" "status=online, dialog 2"
e2e_check_sipp "romeo's phone: both subscriptions as scripted" pres 10
e2e_finish
