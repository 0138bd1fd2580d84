#!/usr/bin/env bash
# demo.sh - xgw end to end in one command: a SIP user and an XMPP user on a
# federated server exchange messages and presence through the gateway, and
# the transcript shows each step as it crosses.
#
# Run as root from the source tree after the quick start's build
# (deploy/xgw-run.sh, or cmake --build build):
#
#   deploy/demo.sh            run the demo, then keep everything up until Enter
#   deploy/demo.sh --check    the same without waiting; exit 0 only when every
#                             step succeeded (tests/system/test_e2e_demo.sh)
#   options: --bin DIR (binaries, default build/ or $XGW_BIN_DIR), --keep
#            (keep the demo folder and its logs), --quiet (summary only)
#
# What it starts, each process a child of this script on its own loopback
# address, stopped by its pid at the end:
#   127.0.0.210  dnsmasq: the demo's names (nothing is forwarded off the host)
#   127.0.0.211  the xgw group: broker, policyd, certd, xmppd (s2s on :5269),
#                sipd; serves the SIP domain verona.test
#   127.0.0.212  Prosody for the XMPP domain capulet.test, user juliet
#   127.0.0.213  sipd's SIP listener (:5060)
#   127.0.0.214  the SIP users' side: romeo@verona.test's requests (sipp)
#   127.0.0.215  romeo's phone (sipp), sipd's outbound proxy
# and juliet's XMPP client (tests/e2e/xmpp_client.py, python3-slixmpp).
# The administrator's part is done with xgwctl: partner capulet.test,
# global policy with federation and XMPP on.
#
# Needs: prosody, lua-unbound, dnsmasq-base, sip-tester (sipp),
# python3-slixmpp (deploy/install-deps.sh installs them all).
set -uo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${XGW_BIN_DIR:-$SRC/build}
MODE=interactive
KEEP=0
QUIET=0
usage() {
    sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -uo/d' -e 's/^# \{0,1\}//'
    exit "${1:-0}"
}
while [[ $# -gt 0 ]]; do
    case $1 in
    --check) MODE=check ;;
    --keep) KEEP=1 ;;
    --quiet) QUIET=1 ;;
    --bin)
        [[ $# -ge 2 ]] || usage 2
        BIN=$2
        shift
        ;;
    -h | --help) usage 0 ;;
    *)
        echo "demo.sh: unknown option $1" >&2
        usage 2 >&2
        ;;
    esac
    shift
done

PY=/usr/bin/python3 # Debian's python: python3-slixmpp lives there
E2E=$SRC/tests/e2e
DEMO=$SRC/deploy/demo
SIPP=$(command -v sipp || echo /usr/bin/sipp)
PROSODY=/usr/bin/prosody
PROSODYCTL=/usr/bin/prosodyctl
DNSMASQ=/usr/sbin/dnsmasq
LOCK=/tmp/xgw-demo.lock

DNS_IP=127.0.0.210
GW_IP=127.0.0.211
XMPP_IP=127.0.0.212
SIPD_IP=127.0.0.213
USERS_IP=127.0.0.214
PHONE_IP=127.0.0.215
SD=verona.test   # the SIP domain the gateway serves
XD=capulet.test  # the federated XMPP domain
ROMEO=romeo@$SD  # SIP user (sipp)
JULIET=juliet@$XD # XMPP user (slixmpp client on Prosody)

D=""
FAILS=0
STEPS=0
UAC_PORT=5100
declare -A PID=()
T0=$(date +%s%N)

# ---- output -----------------------------------------------------------------------

elapsed() { printf '%5.1fs' "$(($(date +%s%N) - T0))e-9"; }
say() { [[ $QUIET == 1 ]] || printf '[%s] %s\n' "$(elapsed)" "$*"; }
detail() { [[ $QUIET == 1 ]] || printf '          %s\n' "$@"; }
ok() {
    STEPS=$((STEPS + 1))
    [[ $QUIET == 1 ]] || printf '[%s] OK   %s\n' "$(elapsed)" "$*"
}
fail() {
    STEPS=$((STEPS + 1))
    FAILS=$((FAILS + 1))
    printf '[%s] FAIL %s\n' "$(elapsed)" "$1"
    [[ $# -gt 1 ]] && printf '          %s\n' "${@:2}"
    return 1
}
die() {
    fail "$@"
    exit 1
}

# ---- processes --------------------------------------------------------------------

alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

# stop NAME [SIGNAL]: signal our child NAME, wait 5 s, then SIGKILL; reap it.
stop() {
    local name=$1 sig=${2:-TERM} pid=${PID[$1]:-} i
    [[ -n $pid ]] || return 0
    if alive "$pid"; then
        kill "-$sig" "$pid" 2>/dev/null
        for ((i = 0; i < 50; i++)); do
            alive "$pid" || break
            sleep 0.1
        done
        alive "$pid" && kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    unset "PID[$name]"
} 2>/dev/null

cleanup() {
    local name
    for name in "${!PID[@]}"; do
        [[ $name == sipp.* || $name == client.* ]] && stop "$name" KILL
    done
    for name in prosody dnsmasq sipd xmppd certd policyd broker; do stop "$name" TERM; done
    for name in "${!PID[@]}"; do stop "$name" KILL; done
    if [[ -n $D && -d $D ]]; then
        if [[ $KEEP == 1 ]]; then
            echo "demo.sh: kept $D (logs: $D/*.log, $D/prosody/prosody.log, $D/sip/*.msg)"
        else
            rm -rf "$D"
        fi
    fi
}

# start NAME COMMAND...: a child in the background, stderr+stdout to $D/NAME.log.
start() {
    local name=$1
    shift
    "$@" >>"$D/$name.log" 2>&1 </dev/null &
    PID[$name]=$!
}

port_free() { ! (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_for SECS COMMAND...: 0 once COMMAND succeeds.
wait_for() {
    local secs=$1 i
    shift
    for ((i = 0; i < secs * 10; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

ctl() { "$BIN/xgwctl" -c "$D/xgw.conf" "$@"; }

# admin ARGS...: an xgwctl command shown in the transcript with its output.
admin() {
    local out rc
    out=$(ctl "$@" 2>&1)
    rc=$?
    say "\$ xgwctl $*"
    [[ -n $out ]] && detail "${out//$'\n'/$'\n'          }"
    [[ $rc == 0 ]] || die "xgwctl $* failed (exit $rc)"
}

# version [--edge E]: the rule-set version that answers.
version() {
    ctl --set xgwctl.timeout=700ms decide "$@" --from "sip:probe@$SD" --to xmpp:probe@probe.test \
        --kind message 2>/dev/null | sed -n 's/.* version=\([0-9]*\) .*/\1/p'
}
edges_current() {
    local want
    want=$(version)
    [[ -n $want && $(version --edge xmpp) == "$want" && $(version --edge sip) == "$want" ]]
}

# ---- SIP side (sipp) and XMPP side (the client) ---------------------------------

# fill TEMPLATE OUT: __NAME__ placeholders from the DV_NAME environment
# variables (a line that is only __HEADERS__ becomes DV_HEADERS).
fill() {
    awk '
        $0 == "__HEADERS__" { if (ENVIRON["DV_HEADERS"] != "") print ENVIRON["DV_HEADERS"]; next }
        {
            out = ""
            line = $0
            while (match(line, /__[A-Z0-9]+(_[A-Z0-9]+)*__/)) {
                out = out substr(line, 1, RSTART - 1) ENVIRON["DV_" substr(line, RSTART + 2, RLENGTH - 4)]
                line = substr(line, RSTART + RLENGTH)
            }
            print out line
        }' "$1" >"$2"
}

# phone NAME SCENARIO [sipp args]: romeo's phone (a sipp UAS) in the background.
phone() {
    local name=$1 scen=$2
    shift 2
    fill "$scen" "$D/sip/$name.xml"
    start "sipp.$name" "$SIPP" -sf "$D/sip/$name.xml" -i "$PHONE_IP" -p 5060 -nostdin \
        -trace_msg -message_file "$D/sip/$name.msg" "$@"
    sleep 0.3
    alive "${PID[sipp.$name]}" || die "romeo's phone ($name) starts on $PHONE_IP:5060" \
        "$(tail -n 3 "$D/sipp.$name.log")"
}

# user_bg NAME SCENARIO [sipp args]: a request from romeo's side, in the background.
user_bg() {
    local name=$1 scen=$2
    shift 2
    fill "$scen" "$D/sip/$name.xml"
    UAC_PORT=$((UAC_PORT + 1))
    start "sipp.$name" timeout 60 "$SIPP" -sf "$D/sip/$name.xml" -m 1 -i "$USERS_IP" \
        -p "$UAC_PORT" -nostdin -trace_msg -message_file "$D/sip/$name.msg" "$@" "$SIPD_IP:5060"
}

# sip_seen NAME SECS COND...: prints the matching SIP message (JSON) of trace NAME.
sip_seen() {
    local name=$1 secs=$2
    shift 2
    "$PY" "$E2E/sip_trace.py" match --file "$D/sip/$name.msg" --wait "$secs" --json "$@" 2>&1
}

# json FIELD: from the JSON object on stdin (header names in lower case).
json() {
    "$PY" -c 'import json, sys
d = json.loads(sys.stdin.read())
h = dict(d.get("headers", []))
v = d.get(sys.argv[1], h.get(sys.argv[1]))
print("" if v is None else v)' "$1" 2>/dev/null
}

# juliet COMMAND: one command for juliet's client, acknowledged.
JN=0
juliet() {
    JN=$((JN + 1))
    printf '%s\n' "$1" >>"$D/juliet/cmd"
    "$PY" "$E2E/xmpp_client.py" match --log "$D/juliet/log.jsonl" --wait 10 kind=done "n=$JN" \
        >/dev/null 2>&1 || die "juliet's client runs: $1"
}

# juliet_got SECS COND...: prints the stanza juliet received that matches.
juliet_got() {
    local secs=$1
    shift
    "$PY" "$E2E/xmpp_client.py" match --log "$D/juliet/log.jsonl" --wait "$secs" dir=recv "$@" 2>&1
}

# pidf TEXT: a one-line summary of a PIDF document.
pidf() {
    "$PY" -c 'import re, sys
b = sys.stdin.read()
out = []
for t in re.findall(r"<tuple id=\"([^\"]*)\">(.*?)</tuple>", b, re.S):
    basic = re.search(r"<basic>(\w+)</basic>", t[1])
    show = re.search(r"<show[^>]*>(\w+)</show>", t[1])
    note = re.search(r"<note[^>]*>([^<]*)</note>", t[1])
    out.append("%s %s%s%s" % (t[0], basic.group(1) if basic else "?",
               " show=" + show.group(1) if show else "", " note=\"%s\"" % note.group(1) if note else ""))
print("; ".join(out) or "(no tuple)")' <<<"$1"
}

# ---- checks before anything starts ----------------------------------------------

[[ $(id -u) == 0 ]] || {
    echo "demo.sh: run as root (dnsmasq binds port 53 of $DNS_IP; Prosody runs as root)" >&2
    exit 2
}
missing=()
for f in "$BIN/xgw-broker" "$BIN/xgw-policyd" "$BIN/xgw-certd" "$BIN/xgw-xmppd" "$BIN/xgw-sipd" \
    "$BIN/xgwctl"; do
    [[ -x $f ]] || missing+=("$f (build first: deploy/xgw-run.sh or cmake --build build)")
done
for f in "$PROSODY" "$PROSODYCTL" "$DNSMASQ" "$SIPP" "$PY"; do
    [[ -x $f ]] || missing+=("$f (deploy/install-deps.sh)")
done
"$PY" -c 'import slixmpp' 2>/dev/null || missing+=("python3-slixmpp (deploy/install-deps.sh)")
if [[ ${#missing[@]} -gt 0 ]]; then
    printf 'demo.sh: missing: %s\n' "${missing[@]}" >&2
    exit 2
fi
exec 9>>"$LOCK"
flock -w 120 9 || {
    echo "demo.sh: another demo holds $LOCK" >&2
    exit 1
}
for ap in "$DNS_IP:53" "$GW_IP:5269" "$XMPP_IP:5222" "$XMPP_IP:5269" "$SIPD_IP:5060"; do
    port_free "${ap%:*}" "${ap#*:}" || {
        echo "demo.sh: $ap is in use (another demo running?)" >&2
        exit 1
    }
done
D=$(mktemp -d /tmp/xgw-demo.XXXXXX) || exit 1
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$D/data" "$D/sip" "$D/prosody/data" "$D/juliet" "$D/dns"

say "xgw demo: SIP domain $SD (the gateway's) <-> XMPP domain $XD (Prosody), folder $D"

# ---- DNS ------------------------------------------------------------------------
cat >"$D/dns/dnsmasq.conf" <<EOF
port=53
listen-address=$DNS_IP
bind-interfaces
no-resolv
no-hosts
no-poll
user=root
local=/test/
host-record=$SD,$GW_IP
host-record=$XD,$XMPP_IP
log-facility=$D/dns/dnsmasq.log
EOF
echo "nameserver $DNS_IP" >"$D/prosody/resolv.conf"
start dnsmasq "$DNSMASQ" --keep-in-foreground --conf-file="$D/dns/dnsmasq.conf"
sleep 0.2
alive "${PID[dnsmasq]}" || die "dnsmasq starts on $DNS_IP:53" "$(tail -n 3 "$D/dnsmasq.log")"
say "dnsmasq on $DNS_IP: $SD -> $GW_IP (the gateway), $XD -> $XMPP_IP (Prosody); nothing else"

# ---- the gateway --------------------------------------------------------------------
sed -e "s|@DIR@|$D|g" -e "s|@SIP_DOMAIN@|$SD|g" -e "s|@GW_IP@|$GW_IP|g" -e "s|@DNS_IP@|$DNS_IP|g" \
    -e "s|@SIPD_IP@|$SIPD_IP|g" -e "s|@PHONE_IP@|$PHONE_IP|g" -e "s|@USERS_IP@|$USERS_IP|g" \
    "$DEMO/xgw-demo.conf.in" >"$D/xgw.conf"
"$BIN/xgw-broker" -c "$D/xgw.conf" -t >/dev/null 2>"$D/config-check.log" ||
    die "the demo config is valid" "$(cat "$D/config-check.log")"
for p in broker policyd certd; do start "$p" "$BIN/xgw-$p" -c "$D/xgw.conf"; done
for s in policy cert; do
    wait_for 30 ctl --set xgwctl.timeout=700ms ping "$s" >/dev/null 2>&1 ||
        die "$s answers" "$(tail -n 3 "$D/${s}d.log")"
done
say "xgw-broker, xgw-policyd, xgw-certd running (pids ${PID[broker]} ${PID[policyd]} ${PID[certd]})"
admin policy set global --federation on --xmpp on
admin partner add "$XD" --type federated --tls not-supported --sasl not-supported --dialback on \
    --description "the demo's Prosody"
for p in xmppd sipd; do start "$p" "$BIN/xgw-$p" -c "$D/xgw.conf"; done
wait_for 30 ctl --set xgwctl.timeout=700ms ping xmpp >/dev/null 2>&1 || die "xmppd answers" "$(tail -n 3 "$D/xmppd.log")"
wait_for 30 ctl --set xgwctl.timeout=700ms ping sip >/dev/null 2>&1 || die "sipd answers" "$(tail -n 3 "$D/sipd.log")"
wait_for 30 edges_current || die "both edges hold policyd's rule set" "policyd $(version) xmpp $(version --edge xmpp) sip $(version --edge sip)"
wait_for 10 bash -c "! (exec 3<>/dev/tcp/$GW_IP/5269) 2>/dev/null && exit 1 || exit 0" ||
    die "xmppd listens on $GW_IP:5269" "$(tail -n 3 "$D/xmppd.log")"
say "xgw-xmppd (s2s $GW_IP:5269) and xgw-sipd (sip:$SIPD_IP:5060, next hop $PHONE_IP) running; both decide with the rule set:"
detail "$(ctl decide --edge sip --from "sip:$ROMEO" --to "xmpp:$JULIET" --kind message 2>&1)"

# ---- Prosody and juliet ---------------------------------------------------------------
sed -e "s|@DIR@|$D/prosody|g" -e "s|@IP@|$XMPP_IP|g" -e "s|@DOMAIN@|$XD|g" \
    "$DEMO/prosody.cfg.lua.in" >"$D/prosody/prosody.cfg.lua"
"$PROSODYCTL" --config "$D/prosody/prosody.cfg.lua" register juliet "$XD" pw \
    >>"$D/prosodyctl.log" 2>&1 || die "prosodyctl register juliet@$XD" "$(tail -n 3 "$D/prosodyctl.log")"
start prosody "$PROSODY" -F --config "$D/prosody/prosody.cfg.lua"
wait_for 20 bash -c "(exec 3<>/dev/tcp/$XMPP_IP/5222) 2>/dev/null" ||
    die "Prosody listens on $XMPP_IP:5222" "$(tail -n 3 "$D/prosody.log" "$D/prosody/prosody.log" 2>/dev/null)"
say "Prosody for $XD on $XMPP_IP (c2s 5222, s2s 5269), user juliet"
: >"$D/juliet/cmd"
start client.juliet "$PY" "$E2E/xmpp_client.py" run --server "$XMPP_IP:5222" --jid "$JULIET" \
    --password pw --resource balcony --dir "$D/juliet"
wait_for 20 test -f "$D/juliet/ready" || die "juliet's client logs in" "$(tail -n 3 "$D/client.juliet.log")"
juliet presence
say "juliet is online as $JULIET/balcony"

# ---- messages ---------------------------------------------------------------------------
say "--- messages"
DV_CODE=200 phone msg "$E2E/uas_user.xml"
BODY="Juliet, it is Romeo. Are you there?"
DV_HEADERS="      Subject: from the orchard" DV_EXPECT=200 DV_FROM="sip:$ROMEO" \
    DV_RURI="sip:$JULIET" DV_TO="sip:$JULIET" DV_CTYPE="text/plain;charset=UTF-8" DV_BODY=$BODY \
    user_bg m1 "$E2E/uac_message.xml"
say "romeo (SIP) -> MESSAGE sip:$JULIET: \"$BODY\""
if r=$(sip_seen m1 20 'start~=^SIP/2\.0 [2-6]'); then
    st=$(json start <<<"$r")
    if [[ $st == "SIP/2.0 200"* ]]; then
        ok "romeo's MESSAGE answered: $st"
    else
        fail "romeo's MESSAGE is accepted" "got: $st"
    fi
else
    fail "romeo's MESSAGE gets a final response" "$r"
fi
if r=$(juliet_got 15 kind=message "from=$ROMEO" "body=$BODY"); then
    ok "juliet (XMPP) received <message from='$(json from <<<"$r")' subject='$(json subject <<<"$r")'>: \"$(json body <<<"$r")\""
else
    fail "juliet receives romeo's message" "$r"
fi
BODY="Romeo, Romeo! Wherefore art thou Romeo?"
juliet "message to=$ROMEO 'body=$BODY'"
say "juliet (XMPP) -> <message to='$ROMEO'>: \"$BODY\""
if r=$(sip_seen msg 20 method=MESSAGE "body=$BODY"); then
    ok "romeo's phone (SIP) received $(json start <<<"$r" | cut -d' ' -f1-2)"
    detail "From: $(json from <<<"$r")" "Content-Type: $(json content-type <<<"$r")" \
        "body: \"$(json body <<<"$r")\""
else
    fail "romeo's phone receives juliet's MESSAGE" "$r"
fi
stop sipp.msg KILL

# ---- presence: juliet watches romeo ---------------------------------------------------
say "--- presence, SIP -> XMPP: juliet subscribes to romeo; romeo's phone publishes his state"
DV_NOTE1="in Verona" DV_NOTE2="under the balcony" DV_PAUSE=2000 DV_ENTITY="pres:$ROMEO" \
    phone pres "$E2E/uas_presentity.xml" -m 1
juliet "subscribe to=$ROMEO"
say "juliet -> <presence type='subscribe' to='$ROMEO'/>"
if r=$(sip_seen pres 15 method=SUBSCRIBE); then
    ok "romeo's phone got $(json start <<<"$r" | cut -d' ' -f1-2) (Event: $(json event <<<"$r"), From: $(json from <<<"$r"))"
else
    fail "romeo's phone gets a SUBSCRIBE" "$r"
fi
if r=$(juliet_got 15 kind=presence type=subscribed "from=$ROMEO"); then
    ok "juliet got <presence type='subscribed' from='$ROMEO'/>"
else
    fail "juliet's subscription is approved" "$r"
fi
if r=$(juliet_got 15 kind=presence no:type "from=$ROMEO" "status=in Verona"); then
    ok "romeo online -> juliet got <presence from='$(json from <<<"$r")'> status \"$(json status <<<"$r")\""
else
    fail "juliet sees romeo online" "$r"
fi
if r=$(juliet_got 15 kind=presence no:type "from=$ROMEO" show=away "status=under the balcony"); then
    ok "romeo's change -> juliet got <presence from='$(json from <<<"$r")'> show $(json show <<<"$r"), status \"$(json status <<<"$r")\""
else
    fail "juliet sees romeo's presence change" "$r"
fi

# ---- presence: romeo watches juliet -----------------------------------------------------
say "--- presence, XMPP -> SIP: romeo subscribes to juliet; juliet changes her state"
DV_FROM="sip:$ROMEO" DV_RURI="sip:$JULIET" DV_QUIET=30000 user_bg watch "$E2E/uac_watch.xml"
say "romeo -> SUBSCRIBE sip:$JULIET (Event: presence)"
if r=$(juliet_got 15 kind=presence type=subscribe "from=$ROMEO"); then
    ok "juliet got <presence type='subscribe' from='$(json from <<<"$r")'/>"
else
    fail "juliet gets romeo's subscription request" "$r"
fi
juliet "subscribed to=$ROMEO"
say "juliet approves: <presence type='subscribed' to='$ROMEO'/>"
if r=$(sip_seen watch 15 method=NOTIFY 'Subscription-State~=^active' 'body~=<basic>open</basic>'); then
    ok "romeo got NOTIFY ($(json subscription-state <<<"$r")): $(pidf "$(json body <<<"$r")")"
else
    fail "romeo gets juliet's presence" "$r"
fi
juliet "presence show=away 'status=on the balcony'"
say "juliet -> <presence><show>away</show><status>on the balcony</status></presence>"
if r=$(sip_seen watch 15 method=NOTIFY 'body~=<show xmlns="jabber:client">away</show>' 'body~=on the balcony'); then
    ok "romeo got NOTIFY: $(pidf "$(json body <<<"$r")")"
else
    fail "romeo sees juliet's presence change" "$r"
fi

# ---- end ------------------------------------------------------------------------------
if [[ $FAILS == 0 ]]; then
    printf '[%s] demo complete: %d steps OK\n' "$(elapsed)" "$STEPS"
else
    printf '[%s] demo FAILED: %d of %d steps failed (rerun with --keep for the logs)\n' \
        "$(elapsed)" "$FAILS" "$STEPS"
fi
if [[ $MODE == interactive && -t 0 ]]; then
    cat <<EOF

Everything is still running. Try, from another shell:
  $BIN/xgwctl -c $D/xgw.conf status
  $BIN/xgwctl -c $D/xgw.conf partner show
  $BIN/xgwctl -c $D/xgw.conf decide --from sip:$ROMEO --to xmpp:$JULIET --kind message
  curl -s http://$GW_IP:9110/metrics | grep ^xgw_xmpp     (xmppd; sipd on :9130)
  tail $D/xmppd.log $D/sipd.log
Press Enter to stop everything.
EOF
    read -r _
fi
[[ $FAILS == 0 ]]
