# shellcheck shell=bash
# lib_e2e.sh - helpers shared by tests/system/test_e2e_*.sh (sourced, not
# run). The whole federation path with real peers on each side:
#
#   sipp (SIP users) <-> xgw-sipd <-> broker <-> xgw-xmppd <-> Prosody <-> c2s client
#                         policyd, certd
#
# Built on lib_xmpp.sh (dnsmasq, Prosody, test CA, ok/bad, $T, $CONF; used
# read-only: this file only overrides its addresses and its config writer)
# and on lib_policy.sh beneath it.
#
#   e2e_init                       lock, temp dir, trap; checks the tools
#   e2e_dns_start [LINE...]        dnsmasq: xmpp.test, other.test, sip.test (+ LINEs)
#   e2e_gw_start                   broker, policyd, certd, xmppd, sipd; global
#                                  policy federation+xmpp on; certificates
#   e2e_partner DOMAIN [MODE] [opts]   partner (default MODE dialback,
#                                  type federated) + wait until both edges have it
#   e2e_wait_edges [SECS]          both edges decide with policyd's version
#   e2e_ctl DESC ARGS...           an xgwctl change that must work, in force on both edges
#   e2e_config                     rewrite $CONF (after E2E_SIPD_* / XT_XMPPD_EXTRA)
#   e2e_prosody_start [NAME DOMAIN IP]   Prosody (dialback mode), users
#                                  juliet, nurse, tybalt (password pw)
#   e2e_xmpp_start ID JID [PW] [SERVER] [RESOURCE]   tests/e2e/xmpp_client.py, background
#   e2e_xmpp ID COMMAND            one client command, waits for its "done"
#   e2e_q TEXT                     TEXT quoted as one word of a client command
#   e2e_xmpp_expect DESC ID [--wait S] [--since N] COND...   ok/bad
#   e2e_xmpp_none DESC ID SECS [--since N] COND...           ok/bad
#   e2e_xmpp_mark ID               records so far (for --since)
#   e2e_json_field FIELD           a field of the last match ($E2E_LAST)
#   e2e_uas_start NAME CODE [SCENARIO]   sipp UAS (romeo's phone) on $E2E_UAS_IP:5060
#   e2e_uas_stop NAME
#   e2e_uac_bg NAME SCENARIO [sipp args]   a sipp UAC scenario in the background
#   e2e_sipp_wait NAME [SECS] / e2e_check_sipp DESC NAME [SECS]
#   e2e_uac NAME EXPECT FROM RURI BODY [-H "Name: value"]... [--ctype T]
#           [--callid ID] [--to URI] [--from-ip IP] [--target H:P]   one MESSAGE;
#                                  RC, E2E_UAC_MS (send -> final response)
#   e2e_check_uac DESC NAME EXPECT FROM RURI BODY [options]   the same, ok/bad
#   e2e_sip_expect DESC FILE [--wait S] [--dir D] COND...   sip_trace.py match
#   e2e_kamailio_start             Kamailio registrar/proxy for sip.test on .208,
#                                  romeo's phone registered
#   e2e_log_expect DESC FILE REGEX [SECS]                   a log line matches
#   e2e_finish                     SIGTERM to every daemon: each must exit 0, no
#                                  sanitizer report in any log; then the summary
#
# Addresses (127.0.0.200-.209, apart from the other suites): dnsmasq .200,
# xmppd s2s + metrics .201, Prosody xmpp.test .202, Prosody other.test .203,
# sipd .204, the SIP users' side (sipp UAC, the trusted proxy) .205, romeo's
# phone (sipp UAS) .206, Kamailio .208, an address nothing listens on .209.
# The two build trees must not run e2e tests at once: e2e_init holds
# /tmp/xgw-e2e-tests.lock for the whole test.

# shellcheck source=lib_xmpp.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_xmpp.sh"

E2E_DIR=$SRC/tests/e2e
SIPP=${SIPP:-$(command -v sipp || echo /usr/bin/sipp)}

# lib_xmpp.sh's addresses, moved to this suite's block (its functions read
# the variables when they run).
XT_DNS_IP=127.0.0.200
XT_GW_IP=127.0.0.201
XT_PA_IP=127.0.0.202
XT_PB_IP=127.0.0.203
XT_LOCK=/tmp/xgw-e2e-tests.lock
XT_GW_DOMAIN=sip.test
XT_GW_METRICS_PORT=19481
E2E_SIPD_IP=127.0.0.204
E2E_UAC_IP=127.0.0.205
E2E_UAS_IP=127.0.0.206
E2E_KAM_IP=127.0.0.208
E2E_SIPD_METRICS_PORT=19482

E2E_SD=$XT_GW_DOMAIN # the SIP domain the gateway serves
E2E_XD=xmpp.test     # the partner's XMPP domain (Prosody "x")
E2E_OD=other.test    # a second XMPP domain (Prosody "o")

E2E_UAS_PORT=5060
E2E_UAC_NEXT_PORT=5100
E2E_SIPD_EXTRA=() # extra [sipd] lines a test sets before e2e_init
# E2E_SIPD_PROXY, E2E_SIPD_TRUSTED: sipd's outbound_proxy and trusted_peers
# (default: romeo's phone; the UAC, phone and Kamailio addresses).
declare -A E2E_XN=() # client ID -> commands sent

# ---- set-up and tear-down -----------------------------------------------------

e2e_init() {
    xt_need "$SIPP"
    xt_init
    trap e2e_cleanup EXIT
    mkdir -p "$T/sip"
    /usr/bin/python3 -c 'import slixmpp' 2>/dev/null ||
        xt_fatal "python3-slixmpp is installed (deploy/install-deps.sh)" \
            "/usr/bin/python3 cannot import slixmpp"
}

e2e_cleanup() {
    local name
    for name in "${!PT_PID[@]}"; do
        [[ $name == sipp.* || $name == client.* ]] && pt_stop "$name" KILL
    done
    [[ -n ${PT_PID[kamailio]:-} ]] && pt_stop kamailio TERM
    # sipd drains on TERM; lib_policy's cleanup would only KILL it.
    [[ -n ${PT_PID[sipd]:-} ]] && pt_stop sipd TERM
    xt_cleanup
}

# The config of the whole group: lib_xmpp.sh's plus the SIP edge.
pt_write_config() {
    local l
    {
        cat <<CONF
[common]
broker_frontend = "ipc://$T/f"
broker_backend = "ipc://$T/b"
data_dir = "$T/data"
run_dir = "$T"
policy_updates = "ipc://$T/pu"
policy_snapshot = "ipc://$T/ps"
cert_updates = "ipc://$T/cu"
domains = "$E2E_SD"
heartbeat_interval = 200ms
retry_interval = 200ms
drain_timeout = 3s
metrics_listen = "$XT_GW_IP"
log_level = ${XT_LOG_LEVEL:-debug}
[broker]
metrics_port = 0
[policyd]
metrics_port = 0
[certd]
metrics_port = 0
publish_interval = 500ms
system_ca_file = ""
[xgwctl]
timeout = 10s
[xmppd]
metrics_port = $XT_GW_METRICS_PORT
s2s_listen = "$XT_GW_IP:5269"
dns_servers = "$XT_DNS_IP"
dns_timeout = 2s
tls_handshake_timeout = 3s
CONF
        for l in "${XT_XMPPD_EXTRA[@]}"; do echo "$l"; done
        cat <<CONF
[sipd]
metrics_port = $E2E_SIPD_METRICS_PORT
sip_url = "sip:$E2E_SIPD_IP:5060"
outbound_proxy = "${E2E_SIPD_PROXY:-sip:$E2E_UAS_IP:$E2E_UAS_PORT}"
trusted_peers = "${E2E_SIPD_TRUSTED:-$E2E_UAC_IP,$E2E_UAS_IP,$E2E_KAM_IP}"
answer_timeout = 10s
CONF
        for l in "${E2E_SIPD_EXTRA[@]}"; do echo "$l"; done
    } >"$CONF"
}

# e2e_dns_start [LINE...]: the test's names; any extra dnsmasq lines.
e2e_dns_start() {
    xt_dns_record "host-record=$E2E_XD,$XT_PA_IP" "host-record=$E2E_OD,$XT_PB_IP" \
        "host-record=$E2E_SD,$XT_GW_IP" "$@"
    xt_dns_start
}

# e2e_start_proc broker|policyd|certd|xmppd|sipd: one daemon, log $T/NAME.log.
e2e_start_proc() { pt_start "$1"; }

# e2e_gw_start: the gateway group; fails the test at once when a step fails.
e2e_gw_start() {
    local svc id
    xt_need "$BIN/xgw-certd" "$BIN/xgw-broker" "$BIN/xgw-policyd" "$BIN/xgw-xmppd" "$BIN/xgw-sipd"
    xt_port_free "$XT_GW_IP" 5269 || xt_fatal "$XT_GW_IP:5269 is free" "something listens there"
    xt_port_free "$E2E_SIPD_IP" 5060 || xt_fatal "$E2E_SIPD_IP:5060 is free" "something listens there"
    pt_start broker
    pt_start policyd
    pt_start certd
    for svc in policy cert; do
        pt_wait_ping "$svc" 30 || xt_fatal "$svc answers ping" "exit $RC: $ERR"
    done
    x policy set global --federation on --xmpp on
    [[ $RC == 0 ]] || xt_fatal "xgwctl policy set global --federation on --xmpp on" "$ERR"
    [[ -f $T/ca/ca.pem ]] || xt_ca_init
    [[ -f $T/ca/$E2E_SD.pem ]] || xt_cert "$E2E_SD" ca
    x cert trust add "$T/ca/ca.pem"
    [[ $RC == 0 ]] || xt_fatal "xgwctl cert trust add (test CA)" "$OUT $ERR"
    x cert import --cert "$T/ca/$E2E_SD.pem" --key "$T/ca/$E2E_SD.key"
    [[ $RC == 0 ]] || xt_fatal "xgwctl cert import ($E2E_SD)" "$OUT $ERR"
    id=$(grep -oE '\b[0-9a-f]{8}\b' <<<"$OUT" | head -n 1)
    x cert assign "$id" --usage xmpp --domain "$E2E_SD"
    [[ $RC == 0 ]] || xt_fatal "xgwctl cert assign $id --usage xmpp" "$OUT $ERR"
    pt_start xmppd
    pt_start sipd
    pt_wait_ping xmpp 30 || xt_fatal "xmppd answers ping" "exit $RC: $OUT $ERR"
    pt_wait_ping sip 30 || xt_fatal "sipd answers ping" "exit $RC: $OUT $ERR"
    e2e_wait_edges 30 || xt_fatal "both edges hold policyd's rule set" \
        "policyd $(e2e_version) xmpp $(e2e_version --edge xmpp) sip $(e2e_version --edge sip)"
    xt_wait_port "$XT_GW_IP" 5269 10 || xt_fatal "xmppd listens on $XT_GW_IP:5269" \
        "$(tail -n 5 "$T/xmppd.log")"
    xt_wait_port "$E2E_SIPD_IP" 5060 10 || xt_fatal "sipd listens on $E2E_SIPD_IP:5060" \
        "$(tail -n 5 "$T/sipd.log")"
}

# e2e_version [--edge xmpp|sip]: the rule-set version that answers.
e2e_version() {
    xq decide "$@" --from "sip:probe@$E2E_SD" --to xmpp:probe@probe.test --kind message
    [[ $RC == 0 ]] || return 1
    sed -n 's/.* version=\([0-9]*\) .*/\1/p' <<<"$OUT"
}

# e2e_wait_edges [SECS]: both edges decide with policyd's current version.
e2e_wait_edges() {
    local secs=${1:-10} deadline want a b
    deadline=$(($(now_ms) + secs * 1000))
    while (($(now_ms) < deadline)); do
        want=$(e2e_version) || want=""
        a=$(e2e_version --edge xmpp) || a=""
        b=$(e2e_version --edge sip) || b=""
        [[ -n $want && $a == "$want" && $b == "$want" ]] && return 0
        sleep 0.1
    done
    return 1
}

# e2e_ctl DESCRIPTION ARGS...: an xgwctl change that must succeed, then both
# edges must have it. A set-up step: the test stops when it fails.
e2e_ctl() {
    local desc=$1
    shift
    x "$@"
    [[ $RC == 0 ]] || xt_fatal "$desc (xgwctl $*)" "exit $RC: $OUT $ERR"
    e2e_wait_edges 10 || xt_fatal "$desc: both edges have the change" \
        "policyd $(e2e_version) xmpp $(e2e_version --edge xmpp) sip $(e2e_version --edge sip)"
}

# e2e_partner DOMAIN [MODE] [partner add options...]: a federated partner
# (xt_partner's modes; default dialback) in force on both edges.
e2e_partner() {
    local d=$1 mode=${2:-dialback}
    shift
    [[ $# -gt 0 ]] && shift
    xt_partner "$d" "$mode" "$@"
    e2e_wait_edges 10 || xt_fatal "both edges have partner $d" "$(e2e_version --edge sip)"
}

# e2e_prosody_start [NAME DOMAIN IP]: a dialback-mode Prosody (default the
# partner xmpp.test) with users juliet, nurse and tybalt (password pw).
e2e_prosody_start() {
    local name=${1:-x} domain=${2:-$E2E_XD} ip=${3:-$XT_PA_IP} u
    xt_prosody_start "$name" "$domain" "$ip" dialback
    for u in juliet nurse tybalt; do xt_prosody_user "$name" "$u" pw; done
}

# ---- XMPP clients -----------------------------------------------------------------

# e2e_xmpp_start ID JID [PASSWORD] [SERVER] [RESOURCE]: a logged-in client
# in the background (resource default ID); its records in
# $T/clients/ID/log.jsonl.
e2e_xmpp_start() {
    local id=$1 jid=$2 pw=${3:-pw} server=${4:-$XT_PA_IP:5222} res=${5:-$1} dir=$T/clients/$1 i
    mkdir -p "$dir"
    rm -f "$dir/ready"
    : >"$dir/cmd"
    E2E_XN[$id]=0
    "$PY" "$E2E_DIR/xmpp_client.py" run --server "$server" --jid "$jid" --password "$pw" \
        --resource "$res" --dir "$dir" >"$dir/out" 2>&1 &
    PT_PID[client.$id]=$!
    for ((i = 0; i < 200; i++)); do
        [[ -f $dir/ready ]] && return 0
        pt_alive "${PT_PID[client.$id]}" || break
        sleep 0.1
    done
    xt_fatal "client $id ($jid) logs in at $server" "$(tail -n 3 "$dir/out")"
}

# e2e_xmpp ID COMMAND: appends COMMAND (xmpp_client.py's syntax) and waits
# until the client acknowledges it; a refused command stops the test.
e2e_xmpp() {
    local id=$1 cmd=$2 dir=$T/clients/$1 n out
    n=$((${E2E_XN[$id]:-0} + 1))
    E2E_XN[$id]=$n
    printf '%s\n' "$cmd" >>"$dir/cmd"
    out=$("$PY" "$E2E_DIR/xmpp_client.py" match --log "$dir/log.jsonl" --wait 10 \
        kind=done "n=$n" 2>&1) || xt_fatal "client $id runs: $cmd" "$out"
    [[ $out == *'"error"'* ]] && xt_fatal "client $id accepts: $cmd" "$out"
    return 0
}

# e2e_q TEXT: TEXT as one shlex word for a client command (any quotes in it).
e2e_q() { printf "'%s'" "${1//\'/\'\"\'\"\'}"; }

# e2e_xmpp_mark ID: how many records the client has written so far.
e2e_xmpp_mark() { wc -l <"$T/clients/$1/log.jsonl" 2>/dev/null | tr -d ' ' || echo 0; }

# e2e_xmpp_expect DESC ID [--wait S] [--since N] [--count N] COND...: a
# received stanza matches (xmpp_client.py match); default wait 20 s.
e2e_xmpp_expect() {
    local desc=$1 id=$2 out wait=20 opts=()
    shift 2
    while [[ $# -gt 0 && $1 == --* ]]; do
        case $1 in
        --wait) wait=$2 ;;
        *) opts+=("$1" "$2") ;;
        esac
        shift 2
    done
    if out=$("$PY" "$E2E_DIR/xmpp_client.py" match --log "$T/clients/$id/log.jsonl" \
        --wait "$wait" "${opts[@]}" dir=recv "$@" 2>&1); then
        ok "$desc"
        E2E_LAST=$out
        return 0
    fi
    bad "$desc" "match $id's stanzas: $*" "a matching stanza within $wait s" \
        "$(cut -c1-300 <<<"$out" | paste -sd'|')"
    E2E_LAST=""
    return 1
}

# e2e_xmpp_none DESC ID SECS [--since N] COND...: no such stanza for SECS.
e2e_xmpp_none() {
    local desc=$1 id=$2 secs=$3 out opts=()
    shift 3
    if [[ ${1:-} == --since ]]; then
        opts=(--since "$2")
        shift 2
    fi
    if out=$("$PY" "$E2E_DIR/xmpp_client.py" match --log "$T/clients/$id/log.jsonl" \
        --wait "$secs" --none "${opts[@]}" dir=recv "$@" 2>&1); then
        ok "$desc"
        return 0
    fi
    bad "$desc" "match --none $id's stanzas: $*" "nothing for $secs s" "$out"
    return 1
}

# e2e_json_field FIELD: FIELD of the JSON object in $E2E_LAST.
e2e_json_field() {
    "$PY" -c 'import json,sys; d=json.loads(sys.stdin.read()); v=d.get(sys.argv[1]); print("" if v is None else v)' \
        "$1" <<<"$E2E_LAST" 2>/dev/null
}

# ---- SIP side (sipp) --------------------------------------------------------------

# e2e_fill TEMPLATE OUT: replaces __NAME__ with $E2E_V_NAME for every
# placeholder; a line that is only __HEADERS__ becomes $E2E_V_HEADERS (zero
# or more lines). Values are taken verbatim (awk ENVIRON: no escapes).
# __ENTITY__ (a PIDF entity) defaults to pres:romeo@$E2E_SD.
e2e_fill() {
    # shellcheck disable=SC2016 # (awk's own $0, not the shell's)
    env E2E_V_HEADERS="${E2E_V_HEADERS:-}" E2E_V_ENTITY="${E2E_V_ENTITY:-pres:romeo@$E2E_SD}" awk '
        $0 == "__HEADERS__" { if (ENVIRON["E2E_V_HEADERS"] != "") print ENVIRON["E2E_V_HEADERS"]; next }
        {
            out = ""
            line = $0
            while (match(line, /__[A-Z0-9]+(_[A-Z0-9]+)*__/)) {
                key = "E2E_V_" substr(line, RSTART + 2, RLENGTH - 4)
                out = out substr(line, 1, RSTART - 1) ENVIRON[key]
                line = substr(line, RSTART + RLENGTH)
            }
            print out line
        }' "$1" >"$2"
}

# e2e_uas_start NAME CODE [SCENARIO] [sipp args...]: romeo's phone: a sipp
# UAS on $E2E_UAS_IP:$E2E_UAS_PORT answering every request of the scenario
# (default tests/e2e/uas_user.xml: MESSAGE -> CODE) until stopped; its
# trace in $T/sip/NAME.msg.
e2e_uas_start() {
    local name=$1 code=$2 scen=${3:-$E2E_DIR/uas_user.xml}
    shift 2
    [[ $# -gt 0 ]] && shift
    E2E_V_CODE=$code e2e_fill "$scen" "$T/sip/$name.xml"
    "$SIPP" -sf "$T/sip/$name.xml" -i "$E2E_UAS_IP" -p "$E2E_UAS_PORT" -nostdin \
        -default_behaviors -bye -trace_msg -message_file "$T/sip/$name.msg" -trace_err \
        -error_file "$T/sip/$name.err" "$@" >"$T/sip/$name.out" 2>&1 </dev/null &
    PT_PID[sipp.$name]=$!
    sleep 0.3
    pt_alive "${PT_PID[sipp.$name]}" ||
        xt_fatal "sipp UAS $name runs on $E2E_UAS_IP:$E2E_UAS_PORT" "$(tail -n 3 "$T/sip/$name.out")"
}

e2e_uas_stop() { pt_stop "sipp.$1" KILL; }

# e2e_uac NAME EXPECT FROM RURI BODY [options]: one MESSAGE from the SIP side
# to sipd, the final response must be EXPECT. Options: -H "Name: value"
# (extra header, repeatable), --ctype TYPE (default text/plain;charset=UTF-8),
# --callid ID, --to URI (default RURI), --from-ip IP (default $E2E_UAC_IP),
# --target HOST:PORT (where sipp sends it; default sipd).
# Sets RC (0 when the final response was EXPECT) and E2E_UAC_MS.
e2e_uac() {
    local name=$1 expect=$2 from=$3 ruri=$4 body=$5 headers="" ctype="text/plain;charset=UTF-8"
    local to=$4 ip=$E2E_UAC_IP cid="" port t0 target=$E2E_SIPD_IP:5060
    shift 5
    while [[ $# -gt 0 ]]; do
        case $1 in
        -H) headers+="${headers:+$'\n'}      $2" ;;
        --ctype) ctype=$2 ;;
        --callid) cid=$2 ;;
        --to) to=$2 ;;
        --from-ip) ip=$2 ;;
        --target) target=$2 ;;
        *) xt_fatal "e2e_uac: option" "unknown option $1" ;;
        esac
        shift 2
    done
    E2E_V_HEADERS=$headers E2E_V_EXPECT=$expect E2E_V_FROM=$from E2E_V_RURI=$ruri \
        E2E_V_TO=$to E2E_V_CTYPE=$ctype E2E_V_BODY=$body \
        e2e_fill "$E2E_DIR/uac_message.xml" "$T/sip/$name.xml"
    port=$E2E_UAC_NEXT_PORT
    E2E_UAC_NEXT_PORT=$((port + 1))
    local extra=()
    [[ -n $cid ]] && extra=(-cid_str "$cid")
    t0=$(now_ms)
    timeout 45 "$SIPP" -sf "$T/sip/$name.xml" -m 1 -i "$ip" -p "$port" -nostdin \
        -timeout 40 -timeout_error -trace_msg -message_file "$T/sip/$name.msg" -trace_err \
        -error_file "$T/sip/$name.err" "${extra[@]}" "$target" \
        >"$T/sip/$name.out" 2>&1 </dev/null
    RC=$?
    E2E_UAC_MS=$(($(now_ms) - t0))
    return $RC
}

# e2e_uac_bg NAME SCENARIO [sipp args...]: a one-call sipp UAC scenario of
# tests/e2e (its placeholders from E2E_V_* variables in the environment) in
# the background, from $E2E_UAC_IP to sipd (or to $E2E_TARGET, HOST:PORT);
# e2e_sipp_wait collects it.
e2e_uac_bg() {
    local name=$1 scen=$2 port
    shift 2
    e2e_fill "$E2E_DIR/$scen" "$T/sip/$name.xml"
    port=$E2E_UAC_NEXT_PORT
    E2E_UAC_NEXT_PORT=$((port + 1))
    timeout 120 "$SIPP" -sf "$T/sip/$name.xml" -m 1 -i "$E2E_UAC_IP" -p "$port" -nostdin \
        -trace_msg -message_file "$T/sip/$name.msg" -trace_err -error_file "$T/sip/$name.err" \
        "$@" "${E2E_TARGET:-$E2E_SIPD_IP:5060}" >"$T/sip/$name.out" 2>&1 </dev/null &
    PT_PID[sipp.$name]=$!
}

# e2e_sipp_wait NAME [SECS]: waits for a background sipp; RC = its exit
# status (124 when it had to be killed after SECS, default 60).
e2e_sipp_wait() {
    local name=$1 secs=${2:-60} pid=${PT_PID[sipp.$1]:-} i
    RC=1
    [[ -n $pid ]] || return 1
    for ((i = 0; i < secs * 10; i++)); do
        pt_alive "$pid" || break
        sleep 0.1
    done
    if pt_alive "$pid"; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        RC=124
    else
        wait "$pid"
        RC=$?
    fi
    unset "PT_PID[sipp.$name]"
    return "$RC"
}

# e2e_check_sipp DESC NAME [SECS]: the background sipp NAME ends with 0.
e2e_check_sipp() {
    if e2e_sipp_wait "$2" "${3:-60}"; then
        ok "$1"
    else
        bad "$1" "sipp scenario $2" "exit 0 (every step as scripted)" \
            "exit $RC: $(grep -av '^ *$' "$T/sip/$2.err" 2>/dev/null | tail -n 2 | cut -c1-250 | paste -sd'|')"
    fi
}

# e2e_uac_status NAME: the last final status line sipp received.
e2e_uac_status() {
    "$PY" "$E2E_DIR/sip_trace.py" match --file "$T/sip/$1.msg" 'start~=^SIP/2\.0 [2-6]' 2>/dev/null |
        sed -n 's/^received \(SIP\/2\.0 [0-9]* [^[]*\).*/\1/p'
}

# e2e_check_uac DESC NAME EXPECT FROM RURI BODY [options]: e2e_uac as a check.
e2e_check_uac() {
    local desc=$1
    shift
    if e2e_uac "$@"; then
        ok "$desc (SIP $2 in ${E2E_UAC_MS} ms)"
        return 0
    fi
    bad "$desc" "sipp MESSAGE $4 -> $5 (scenario $1)" "final response $2" \
        "sipp exit $RC, last response: $(e2e_uac_status "$1")"
    return 1
}

# e2e_sip_expect DESC FILE [--wait S] [--count N] [--dir D] [--none] COND...:
# sip_trace.py match on a sipp trace ($T/sip/FILE.msg); default wait 20 s.
e2e_sip_expect() {
    local desc=$1 file=$T/sip/$2.msg out wait=20 opts=()
    shift 2
    while [[ $# -gt 0 && $1 == --* ]]; do
        case $1 in
        --wait) wait=$2 ;;
        --none) opts+=(--none) && shift && continue ;;
        *) opts+=("$1" "$2") ;;
        esac
        shift 2
    done
    if out=$("$PY" "$E2E_DIR/sip_trace.py" match --file "$file" --wait "$wait" --json \
        "${opts[@]}" "$@" 2>&1); then
        ok "$desc"
        E2E_LAST=$out
        return 0
    fi
    bad "$desc" "sip_trace.py match ${file##*/} $*" "a matching SIP message within $wait s" \
        "$(cut -c1-300 <<<"$out" | paste -sd'|')"
    E2E_LAST=""
    return 1
}

# ---- Kamailio (the SIP domain's registrar and proxy) --------------------------------

# e2e_kamailio_start: Kamailio on $E2E_KAM_IP:5060 for $E2E_SD, routing every
# other domain to sipd; waits until it answers a REGISTER (romeo's phone,
# contact $E2E_UAS_IP:$E2E_UAS_PORT).
e2e_kamailio_start() {
    local kam i
    kam=$(command -v kamailio || echo /usr/sbin/kamailio)
    xt_need "$kam"
    E2E_V_KAM_IP=$E2E_KAM_IP E2E_V_DOMAIN=$E2E_SD E2E_V_GW="sip:$E2E_SIPD_IP:5060" \
        e2e_fill "$E2E_DIR/kamailio.cfg" "$T/kamailio.cfg"
    mkdir -p "$T/kamrun"
    # Its own session: Kamailio signals its whole process group when it
    # stops, which would otherwise include the test.
    setsid "$kam" -f "$T/kamailio.cfg" -DD -E -m 64 -M 8 -Y "$T/kamrun" -w "$T" \
        >>"$T/kamailio.log" 2>&1 &
    PT_PID[kamailio]=$!
    E2E_V_USER=romeo E2E_V_DOMAIN=$E2E_SD E2E_V_CONTACT="$E2E_UAS_IP:$E2E_UAS_PORT" \
        e2e_fill "$E2E_DIR/uac_register.xml" "$T/sip/register.xml"
    for ((i = 0; i < 30; i++)); do
        timeout 5 "$SIPP" -sf "$T/sip/register.xml" -m 1 -i "$E2E_UAS_IP" -p "$E2E_UAS_PORT" \
            -nostdin -timeout 2 -timeout_error -trace_msg -message_file "$T/sip/register.msg" \
            "$E2E_KAM_IP:5060" >"$T/sip/register.out" 2>&1 </dev/null && return 0
        pt_alive "${PT_PID[kamailio]}" || break
        sleep 0.3
    done
    xt_fatal "Kamailio runs and romeo's phone registers" "$(tail -n 5 "$T/kamailio.log")"
}

# ---- logs -------------------------------------------------------------------------

# e2e_log_expect DESC FILE REGEX [SECS]: a line of $T/FILE matches.
e2e_log_expect() {
    local desc=$1 f=$T/$2 pat=$3 secs=${4:-10}
    if xt_log_wait "$f" "$pat" "$secs"; then
        ok "$desc"
        return 0
    fi
    bad "$desc" "grep -E '$pat' ${f#"$T"/}" "a matching line within $secs s" \
        "$(tail -n 3 "$f" 2>/dev/null | cut -c1-300 | paste -sd'|')"
    return 1
}

# e2e_count FILE REGEX: lines of $T/FILE matching.
e2e_count() { grep -cE -- "$2" "$T/$1" 2>/dev/null || true; }

# e2e_log_ms FILE REGEX: the ts= of the first matching line, in epoch ms.
e2e_log_ms() {
    local ts
    ts=$(grep -m1 -E -- "$2" "$T/$1" 2>/dev/null | sed -n 's/^ts=\([^ ]*\).*/\1/p')
    [[ -n $ts ]] || return 1
    date -d "$ts" +%s%3N 2>/dev/null
}

# e2e_config: rewrites $CONF after E2E_SIPD_EXTRA or XT_XMPPD_EXTRA changed
# (e2e_init wrote the first one).
e2e_config() { pt_write_config; }

# e2e_stop_check NAME: SIGTERM to the daemon NAME; it must exit 0 within 15 s.
e2e_stop_check() {
    local name=$1 pid=${PT_PID[$1]:-} i rc
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 150; i++)); do
        pt_alive "$pid" || break
        sleep 0.1
    done
    if pt_alive "$pid"; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        unset "PT_PID[$name]"
        bad "$name exits on SIGTERM" "kill -TERM $name" "exit within 15 s" "still running: killed"
        return
    fi
    wait "$pid" 2>/dev/null
    rc=$?
    unset "PT_PID[$name]"
    if [[ $rc == 0 ]]; then
        ok "$name drains and exits 0 on SIGTERM"
    else
        bad "$name exits 0 on SIGTERM" "kill -TERM $name" "exit 0" \
            "exit $rc: $(tail -n 3 "$T/$name.log" | cut -c1-300 | paste -sd'|')"
    fi
}

# e2e_finish: the daemons stop cleanly (edges first), no sanitizer or
# runtime-error report in any log, then the summary line (exits).
e2e_finish() {
    local name f hits=""
    for name in "${!PT_PID[@]}"; do
        [[ $name == sipp.* || $name == client.* ]] && pt_stop "$name" KILL
    done
    for name in sipd xmppd certd policyd broker; do e2e_stop_check "$name"; done
    for f in "$T"/*.log; do
        grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$f" 2>/dev/null && hits+=" ${f##*/}"
    done
    if [[ -z $hits ]]; then
        ok "no sanitizer report in the daemons' logs"
    else
        bad "no sanitizer report in the daemons' logs" "grep AddressSanitizer|runtime error:" \
            "none" "found in:$hits"
    fi
    pt_finish
}
