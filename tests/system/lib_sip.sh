# shellcheck shell=bash
# lib_sip.sh - helpers shared by tests/system/test_sipd_*.sh (sourced, not
# run). Builds on lib_policy.sh (temp dir, config, daemons, xgwctl, ok/bad).
#
# A test script sets NAME, sources this file, then:
#   st_init                     pt_init + sipp/python checks, ports, dirs
#   st_start_core               broker + policyd, policy that allows
#                               alice@example.net <-> *@partner.example
#   st_start_fake               xgw-xmppfake as the "xmpp" worker (log $FAKE_LOG)
#   st_start_sipd [--set k=v]   xgw-sipd on 127.0.0.1:$SIPD_PORT, next hop
#                               127.0.0.1:$UAS_PORT; waits for its replica
#   st_uac NAME EXPECT FROM RURI CTYPE MF BODY
#                               one MESSAGE from a sipp UAC; RC=0 when the
#                               response is EXPECT and $CHECKS (sipp
#                               <action>) pass; the messages in $T/NAME.msg
#   st_scen NAME SCENARIO [KEY VALUE]...   a scenario from a template
#   st_run_uac NAME             runs it as a UAC towards sipd; RC
#   st_uas_run NAME             runs it as the SIP side, in the background
#   st_uas_start NAME CODE [SCENARIO]   a sipp UAS answering CODE, background
#   st_uas_wait NAME            waits for it; RC = its exit status
#   st_uas_kill NAME            stops it (by pid)
#   st_send ARGS...             xgw-xmppfake send ...: RC, OUT
#   st_wait_log FILE TEXT [N] [SECONDS]   N lines of FILE contain TEXT
#
# Addresses: sipd listens on 127.0.0.1 (SIP UDP+TCP); the "SIP side" (sipp)
# on 127.0.0.1 too, other ports; 127.0.0.2 is an untrusted source. Ports
# are picked free at start. Every process is stopped by its own pid.

# shellcheck source=lib_policy.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_policy.sh"

SRC=${XGW_SRC_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SIPP=${SIPP:-$(command -v sipp || true)}
SIPDIR=$SRC/tests/sip
FAKE=""
FAKE_LOG=""
SIPD_PORT=0
UAS_PORT=0
UAC_PORT=0
declare -A ST_UAS_PID=()
UAC_EXTRA=()
UAC_TARGET="" # host:port the UACs send to; "" = sipd
CHECKS=""

# A port free on 127.0.0.1 for both UDP and TCP.
st_free_port() {
    /usr/bin/python3 - <<'EOF'
import socket
for _ in range(200):
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
    except OSError:
        t.close()
        continue
    t.close()
    u.close()
    print(port)
    break
EOF
}

st_fail_early() {
    echo "${NAME:-test}: $*"
    echo "0 passed, 1 failed"
    exit 1
}

st_init() {
    [[ -n $SIPP && -x $SIPP ]] || st_fail_early "sipp is needed (package sip-tester)"
    [[ -x /usr/bin/python3 ]] || st_fail_early "/usr/bin/python3 is needed"
    [[ -x $BIN/xgw-sipd ]] || st_fail_early "$BIN/xgw-sipd is missing (build first)"
    FAKE=$BIN/tests/xgw-xmppfake
    [[ -x $FAKE ]] || FAKE=$BIN/xgw-xmppfake
    [[ -x $FAKE ]] || st_fail_early "xgw-xmppfake is missing (build target xgw-xmppfake)"
    pt_init
    trap st_cleanup EXIT
    FAKE_LOG=$T/fake.log
    : >"$FAKE_LOG"
    SIPD_PORT=$(st_free_port)
    UAS_PORT=$(st_free_port)
    UAC_PORT=$(st_free_port)
    [[ -n $SIPD_PORT && -n $UAS_PORT && -n $UAC_PORT ]] || st_fail_early "no free ports"
}

st_cleanup() {
    local n
    for n in "${!ST_UAS_PID[@]}"; do
        kill -KILL "${ST_UAS_PID[$n]}" 2>/dev/null
        wait "${ST_UAS_PID[$n]}" 2>/dev/null
    done
    # sipd first (TERM: it drains), then the rest as lib_policy does.
    [[ -n ${PT_PID[sipd]:-} ]] && pt_stop sipd TERM
    [[ -n ${PT_PID[xmppfake]:-} ]] && pt_stop xmppfake TERM
    pt_cleanup
}

# Broker and policyd, and a policy under which alice@example.net may talk
# to partner.example (a federated partner) both ways.
st_start_core() {
    pt_start_group core
    check_ok "global policy: federation and XMPP on" policy set global --federation on --xmpp on
    check_ok "partner partner.example (federated)" \
        partner add partner.example --type federated --dialback off
}

st_start_fake() {
    "$FAKE" serve --backend "ipc://$T/b" --log "$FAKE_LOG" --heartbeat-ms 200 \
        >>"$T/xmppfake.log" 2>&1 &
    PT_PID[xmppfake]=$!
}

# st_start_sipd [--set section.key=value ...]
st_start_sipd() {
    "$BIN/xgw-sipd" -c "$CONF" --set "sipd.sip_url=sip:127.0.0.1:$SIPD_PORT" \
        --set "sipd.outbound_proxy=sip:127.0.0.1:$UAS_PORT" \
        --set "sipd.trusted_peers=127.0.0.1" "$@" >>"$T/sipd.log" 2>&1 &
    PT_PID[sipd]=$!
    if ! st_wait_sip_replica 30; then
        bad "sipd registers and holds policyd's rule set" "xgwctl decide --edge sip ..." \
            "ALLOW" "exit $RC: $OUT $ERR"
        pt_finish
    fi
}

# 0 once sipd decides alice -> partner.example with policyd's version.
st_wait_sip_replica() {
    local secs=${1:-20} deadline want
    deadline=$(($(now_ms) + secs * 1000))
    while (($(now_ms) < deadline)); do
        want=$(ruleset_version) || want=""
        xq decide --edge sip --from sip:alice@example.net --to xmpp:bob@partner.example \
            --kind message
        if [[ $RC == 0 && $OUT == ALLOW* && -n $want && " $OUT " == *" version=$want "* ]]; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# st_sed_escape TEXT: TEXT safe as the replacement of a sed s|||.
st_sed_escape() {
    local v=${1//\\/\\\\}
    v=${v//&/\\&}
    v=${v//|/\\|}
    printf '%s' "$v"
}

# st_uac NAME EXPECT FROM RURI CTYPE MF BODY: one MESSAGE from a sipp UAC on
# 127.0.0.1:$UAC_PORT; the final response must be EXPECT and pass $CHECKS
# (sipp <action> XML, optional). Extra sipp arguments in the array
# UAC_EXTRA. Sets RC (and returns it): 0 when it did.
st_uac() {
    local name=$1 expect=$2
    sed -e "s|__EXPECT__|$expect|" -e "s|__CHECKS__|$(st_sed_escape "${CHECKS:-}")|" \
        -e "s|__FROM__|$(st_sed_escape "$3")|" -e "s|__RURI__|$(st_sed_escape "$4")|" \
        -e "s|__CTYPE__|$(st_sed_escape "$5")|" -e "s|__MF__|$(st_sed_escape "$6")|" \
        -e "s|__BODY__|$(st_sed_escape "$7")|" "$SIPDIR/uac_message.xml" >"$T/$name.xml"
    timeout 40 "$SIPP" -sf "$T/$name.xml" -m 1 -i 127.0.0.1 -p "$UAC_PORT" -nostdin \
        -timeout 35 -timeout_error -trace_msg -message_file "$T/$name.msg" -trace_err \
        -error_file "$T/$name.err" "${UAC_EXTRA[@]}" "${UAC_TARGET:-127.0.0.1:$SIPD_PORT}" \
        >"$T/$name.out" 2>&1 </dev/null
    RC=$?
    return $RC
}

# st_scen NAME SCENARIO [KEY VALUE]...: $T/NAME.xml from tests/sip/SCENARIO
# with every __KEY__ replaced by VALUE.
st_scen() {
    local name=$1 scen=$2 args=(-e "")
    shift 2
    while (($# >= 2)); do
        args+=(-e "s|__${1}__|$(st_sed_escape "$2")|g")
        shift 2
    done
    sed "${args[@]}" "$SIPDIR/$scen" >"$T/$name.xml"
}

# st_run_uac NAME [PORT]: runs $T/NAME.xml as a UAC towards sipd (from
# 127.0.0.1:PORT, default $UAC_PORT; extra sipp arguments in UAC_EXTRA).
# Sets RC and returns it.
st_run_uac() {
    local name=$1 port=${2:-$UAC_PORT}
    timeout 60 "$SIPP" -sf "$T/$name.xml" -m 1 -i 127.0.0.1 -p "$port" -nostdin \
        -timeout 50 -timeout_error -trace_msg -message_file "$T/$name.msg" -trace_err \
        -error_file "$T/$name.err" "${UAC_EXTRA[@]}" "${UAC_TARGET:-127.0.0.1:$SIPD_PORT}" \
        >"$T/$name.out" 2>&1 </dev/null
    RC=$?
    return $RC
}

# st_uas_run NAME: runs $T/NAME.xml (for $UAS_CALLS calls, default 1) as the
# SIP side behind the outbound
# proxy address, in the background (st_uas_wait NAME collects it).
st_uas_run() {
    local name=$1
    "$SIPP" -sf "$T/$name.xml" -m "${UAS_CALLS:-1}" -i 127.0.0.1 -p "$UAS_PORT" -nostdin \
        -timeout 50 -timeout_error -trace_msg -message_file "$T/$name.msg" -trace_err \
        -error_file "$T/$name.err" >"$T/$name.out" 2>&1 </dev/null &
    ST_UAS_PID[$name]=$!
    sleep 0.3
}

# The status line of the last response sipp received in NAME.msg.
st_last_status() {
    grep -a '^SIP/2.0 [0-9]' "$T/$1.msg" 2>/dev/null | tail -n 1 | tr -d '\r'
}

# st_uas_start NAME CODE [SCENARIO]: answers one request with CODE.
st_uas_start() {
    st_scen "$1" "${3:-uas_message.xml}" CODE "$2"
    st_uas_run "$1"
}

st_uas_wait() {
    local pid=${ST_UAS_PID[$1]:-}
    RC=1
    [[ -n $pid ]] || return 1
    wait "$pid"
    RC=$?
    unset "ST_UAS_PID[$1]"
}

# st_uas_kill NAME: stops a UAS that is not expected to finish (sipp
# itself: st_uas_run starts it without a wrapper; its -timeout bounds it).
st_uas_kill() {
    local pid=${ST_UAS_PID[$1]:-}
    [[ -n $pid ]] || return 0
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    unset "ST_UAS_PID[$1]"
    return 0
}

# st_send ARGS...: one Deliver to "sip" through the broker.
st_send() {
    OUT=$("$FAKE" send --frontend "ipc://$T/f" "$@" 2>"$T/send.err")
    RC=$?
}

# st_wait_log FILE TEXT [COUNT] [SECONDS]
st_wait_log() {
    local file=$1 text=$2 count=${3:-1} secs=${4:-10} deadline
    deadline=$(($(now_ms) + secs * 1000))
    while (($(now_ms) < deadline)); do
        (($(grep -cF -- "$text" "$file" 2>/dev/null || true) >= count)) && return 0
        sleep 0.05
    done
    return 1
}

# st_count FILE TEXT: lines of FILE containing TEXT.
st_count() {
    local n
    n=$(grep -cF -- "$2" "$1" 2>/dev/null) || n=0
    echo "$n"
}
