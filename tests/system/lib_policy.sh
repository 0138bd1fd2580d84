# lib_policy.sh - helpers shared by tests/system/test_policy_*.sh (sourced,
# not run: its name does not start with test_, so ctest does not register it).
#
# A test script sets NAME, sources this file, then:
#   pt_init                      temp dir $T, config $CONF, trap on EXIT
#   pt_start broker|policyd|xmppd   start one daemon in the background (pid kept)
#   pt_wait_ping policy|xmpp [s]    wait until `xgwctl ping SERVICE` exits 0
#   pt_wait_replica [s]          wait until the edge answers `decide --edge xmpp`
#   x ARGS...                    run xgwctl -c $CONF ARGS: sets RC, OUT, ERR
#   ok / bad / check_*           count checks; pt_finish prints the summary
#
# Everything runs on ipc:// inside $T (metrics disabled: port 0), so nothing
# binds a network port. Only the daemons started here are ever signalled,
# each by its own pid. XGW_KEEP_TMP=1 keeps the temp dir for a post-mortem.

BIN=${XGW_BIN_DIR:?XGW_BIN_DIR must name the build folder}
XGWCTL=$BIN/xgwctl
PASSED=0
FAILED=0
T=""
CONF=""
declare -A PT_PID=()
# The last daemon log lines are printed once, on the first failure.
PT_DUMPED=0

log() { printf '%s: %s\n' "${NAME:-test}" "$*"; }

ok() {
    PASSED=$((PASSED + 1))
    printf '%s: ok %d - %s\n' "${NAME:-test}" "$((PASSED + FAILED))" "$*"
}

# bad DESCRIPTION COMMAND EXPECTED ACTUAL
bad() {
    FAILED=$((FAILED + 1))
    printf '%s: FAIL %d - %s\n' "${NAME:-test}" "$((PASSED + FAILED))" "$1"
    printf '    command:  %s\n' "$2"
    printf '    expected: %s\n' "$3"
    printf '    actual:   %s\n' "$4"
    if [[ $PT_DUMPED == 0 ]]; then
        PT_DUMPED=1
        pt_dump_logs
    fi
}

pt_dump_logs() {
    local f
    for f in "$T"/*.log; do
        [[ -s $f ]] || continue
        echo "    ----- last lines of ${f##*/}"
        tail -n 8 "$f" | sed 's/^/    /'
    done
}

# Prints the summary line CI reads and exits 1 if any check failed.
pt_finish() {
    printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
    [[ $FAILED == 0 ]]
    exit $?
}

# Milliseconds on the wall clock.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ---- daemons ------------------------------------------------------------------

pt_alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

# pt_stop NAME [SIGNAL]: signal the daemon we started and reap it (5 s for
# TERM, then KILL). Its stderr goes nowhere: nothing in it writes there but
# bash's own job notice.
pt_stop() {
    local name=$1 sig=${2:-TERM} pid=${PT_PID[$1]:-} i
    [[ -n $pid ]] || return 0
    if pt_alive "$pid"; then
        kill "-$sig" "$pid" 2>/dev/null
        for ((i = 0; i < 50; i++)); do
            pt_alive "$pid" || break
            sleep 0.1
        done
        pt_alive "$pid" && kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid"
    unset "PT_PID[$name]"
    return 0
} 2>/dev/null # (bash's "Killed" job notice)

pt_cleanup() {
    local name
    # Edges first, then policyd, then the broker.
    for name in xmppd policyd broker; do
        [[ -n ${PT_PID[$name]:-} ]] && pt_stop "$name" TERM
    done
    for name in "${!PT_PID[@]}"; do pt_stop "$name" KILL; done
    if [[ -n $T && -d $T ]]; then
        if [[ ${XGW_KEEP_TMP:-0} == 1 ]]; then
            echo "${NAME:-test}: kept $T"
        else
            rm -rf "$T"
        fi
    fi
}

# Writes the configuration (everything on ipc:// under $T).
pt_write_config() {
    cat >"$CONF" <<EOF
[common]
broker_frontend = "ipc://$T/f"
broker_backend = "ipc://$T/b"
data_dir = "$T/data"
run_dir = "$T"
policy_updates = "ipc://$T/pu"
policy_snapshot = "ipc://$T/ps"
domains = "example.net"
heartbeat_interval = 200ms
[broker]
metrics_port = 0
[policyd]
metrics_port = 0
[xmppd]
metrics_port = 0
[sipd]
metrics_port = 0
EOF
}

pt_init() {
    local b
    for b in xgw-broker xgw-policyd xgw-xmppd xgwctl; do
        if [[ ! -x $BIN/$b ]]; then
            echo "${NAME:-test}: $BIN/$b is missing (build first)"
            echo "0 passed, 1 failed"
            exit 1
        fi
    done
    command -v python3 >/dev/null || {
        echo "${NAME:-test}: python3 is needed"
        echo "0 passed, 1 failed"
        exit 1
    }
    T=$(mktemp -d /tmp/xgw-pt.XXXXXX) || {
        echo "${NAME:-test}: mktemp failed"
        echo "0 passed, 1 failed"
        exit 1
    }
    trap pt_cleanup EXIT
    trap 'exit 130' INT TERM
    CONF=$T/xgw.conf
    mkdir -p "$T/data"
    pt_write_config
}

# pt_start broker|policyd|xmppd: stderr (the daemon's log) appended to $T/NAME.log.
pt_start() {
    local name=$1
    "$BIN/xgw-$name" -c "$CONF" >>"$T/$name.log" 2>&1 &
    PT_PID[$name]=$!
}

# Every xgwctl call of the tests goes through x: RC, OUT, ERR.
x() {
    "$XGWCTL" -c "$CONF" "$@" >"$T/ctl.out" 2>"$T/ctl.err"
    RC=$?
    OUT=$(<"$T/ctl.out")
    ERR=$(<"$T/ctl.err")
}

# Same with a short reply timeout, for polling loops.
xq() { x --set xgwctl.timeout=700ms "$@"; }

# pt_wait_ping SERVICE [SECONDS]: 0 once `xgwctl ping SERVICE` exits 0.
pt_wait_ping() {
    local svc=$1 secs=${2:-20} deadline
    deadline=$(($(now_ms) + secs * 1000))
    while (($(now_ms) < deadline)); do
        xq ping "$svc"
        [[ $RC == 0 ]] && return 0
        sleep 0.1
    done
    return 1
}

# pt_wait_replica [SECONDS]: 0 once the xmpp edge decides locally (its
# replica holds a snapshot).
pt_wait_replica() {
    local secs=${1:-20} deadline
    deadline=$(($(now_ms) + secs * 1000))
    while (($(now_ms) < deadline)); do
        xq decide --edge xmpp --from sip:probe@example.net --to xmpp:probe@probe.example \
            --kind message
        [[ $RC == 0 ]] && return 0
        sleep 0.1
    done
    return 1
}

# pt_start_group core|edge: starts broker + policyd (+ xmppd for "edge") and
# waits until they answer.
pt_start_group() {
    pt_start broker
    pt_start policyd
    [[ ${1:-} == edge ]] && pt_start xmppd
    if ! pt_wait_ping policy 30; then
        bad "policyd answers ping" "xgwctl ping policy" "exit 0" "exit $RC: $ERR"
        pt_finish
    fi
    if [[ ${1:-} == edge ]]; then
        if ! pt_wait_ping xmpp 30 || ! pt_wait_replica 30; then
            bad "xmppd answers and holds a rule set" "xgwctl decide --edge xmpp ..." "exit 0" \
                "exit $RC: $OUT $ERR"
            pt_finish
        fi
    fi
}

# ---- checks -------------------------------------------------------------------

# The rule-set version policyd (or the edge, with "--edge xmpp") decides with.
# Echoes the number, or nothing.
ruleset_version() {
    xq decide "$@" --from sip:probe@example.net --to xmpp:probe@probe.example --kind message
    [[ $RC == 0 ]] || return 1
    sed -n 's/.* version=\([0-9]*\) .*/\1/p' <<<"$OUT"
}

# pt_wait_edge_version [SECONDS]: the edge decides with policyd's version.
pt_wait_edge_version() {
    local secs=${1:-5} deadline want have
    want=$(ruleset_version) || return 1
    deadline=$(($(now_ms) + secs * 1000))
    while (($(now_ms) < deadline)); do
        have=$(ruleset_version --edge xmpp)
        [[ -n $have && $have == "$want" ]] && return 0
        sleep 0.05
    done
    return 1
}

# check_ok DESCRIPTION ARGS...: the command succeeds (exit 0, no warning).
check_ok() {
    local desc=$1
    shift
    x "$@"
    if [[ $RC == 0 && $ERR != *warning:* ]]; then
        ok "$desc"
    else
        bad "$desc" "xgwctl $*" "exit 0, no warning on stderr" "exit $RC, stdout: $OUT, stderr: $ERR"
    fi
}

# check_fails DESCRIPTION EXIT FRAGMENT ARGS...: exit code EXIT and FRAGMENT
# in a one-line stderr, nothing on stdout.
check_fails() {
    local desc=$1 want=$2 frag=$3 lines
    shift 3
    x "$@"
    lines=$(printf '%s' "$ERR" | grep -c '')
    if [[ $RC == "$want" && $ERR == *"$frag"* && $lines == 1 && -z $OUT ]]; then
        ok "$desc"
    else
        bad "$desc" "xgwctl $(printf '%q ' "$@")" \
            "exit $want, one line on stderr containing \"$frag\", empty stdout" \
            "exit $RC, $lines line(s) on stderr: $ERR | stdout: $OUT"
    fi
}

# check_decide DESCRIPTION ALLOW|DENY RULE SOURCE STRIP [--edge xmpp] --from A --to B --kind K
#   SOURCE: the policy source (global, site:S, user) or "-" when no policy
#   was consulted; STRIP: yes|no|any (strip-status-note).
check_decide() {
    local desc=$1 verdict=$2 rule=$3 source=$4 strip=$5 why=""
    shift 5
    x decide "$@"
    if [[ $RC != 0 ]]; then
        why="exit $RC"
    elif [[ $OUT != "$verdict "* ]]; then
        why="does not start with $verdict"
    elif [[ " $OUT " != *" rule=$rule "* ]]; then
        why="rule is not $rule"
    elif [[ " $OUT " != *" source=$source "* ]]; then
        why="source is not $source"
    elif [[ $strip != any && " $OUT " != *" strip-status-note=$strip "* ]]; then
        why="strip-status-note is not $strip"
    elif [[ ${1:-} == --edge && " $OUT " != *" by=xmppd."* ]]; then
        why="not decided by the edge"
    fi
    if [[ -z $why ]]; then
        ok "$desc"
    else
        bad "$desc" "xgwctl decide $*" \
            "exit 0, $verdict rule=$rule source=$source strip-status-note=$strip" \
            "$why; exit $RC, stdout: $OUT, stderr: $ERR"
    fi
}

# check_decide_json DESCRIPTION PYEXPR ARGS...: `decide --json ARGS` parses
# as JSON and the python expression over d (the object) is true.
check_decide_json() {
    local desc=$1 expr=$2 res
    shift 2
    x decide --json "$@"
    if [[ $RC != 0 ]]; then
        bad "$desc" "xgwctl decide --json $*" "exit 0 and $expr" "exit $RC: $OUT $ERR"
        return
    fi
    res=$(python3 -c 'import json,sys
d = json.loads(sys.stdin.read())
print("yes" if ('"$expr"') else "no: " + json.dumps(d))' <<<"$OUT" 2>&1)
    if [[ $res == yes ]]; then
        ok "$desc"
    else
        bad "$desc" "xgwctl decide --json $*" "$expr" "$res"
    fi
}
