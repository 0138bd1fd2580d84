#!/usr/bin/env bash
# xgw-run.sh - build xgw and run the whole process group on this host.
#
#   deploy/xgw-run.sh [--restart]
#
# 1. deploy/install-deps.sh (Debian 12, root; fast when nothing is missing);
# 2. cmake -S . -B build && cmake --build build  (RelWithDebInfo by default);
# 3. a runtime folder, run/ (XGW_RUN_DIR overrides), holding:
#      xgw.conf        deploy/xgw.conf (or the file XGW_CONF_SRC names) with
#                      data_dir, run_dir and the broker's ipc:// endpoints
#                      moved under the runtime folder; regenerated each run,
#                      so change XGW_CONF_SRC's file, not this one
#      data/           the stores: policy.db (policyd), certs/ (certd, which
#                      makes a self-signed certificate for the served
#                      domains - XGW_DOMAIN, comma-separated, else
#                      common.domains of the template - on its first start)
#      log/            supervisord's and every process's log
#      supervisord.pid, supervisor.sock, frontend.ipc, backend.ipc
# 4. supervisord -c deploy/supervisord.conf (daemonized), then waits until
#    `xgwctl status` reaches every service (30 s at most) and prints where
#    things are. Stop it all with deploy/xgw-stop.sh.
#
# Safe to run again: if the group is already running from this run folder and
# nothing was rebuilt or changed since it started, it says so and prints the
# same information; if a binary, deploy/supervisord.conf or the generated
# config changed (or with --restart), it stops the group cleanly and starts
# it again.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESTART=0
for arg in "$@"; do
    case $arg in
        --restart) RESTART=1 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "xgw-run: unknown argument \"$arg\" (try --help)" >&2
            exit 2
            ;;
    esac
done

say() { printf 'xgw-run: %s\n' "$*"; }
die() {
    printf 'xgw-run: error: %s\n' "$*" >&2
    exit 1
}

# ---- paths and the environment deploy/supervisord.conf expands -------------
CALLER_PWD=$PWD
cd "$SRC"
RUN=${XGW_RUN_DIR:-$SRC/run}
case $RUN in /*) ;; *) RUN=$CALLER_PWD/$RUN ;; esac
CONF_SRC=${XGW_CONF_SRC:-$SRC/deploy/xgw.conf}
case $CONF_SRC in /*) ;; *) CONF_SRC=$CALLER_PWD/$CONF_SRC ;; esac
[[ -r $CONF_SRC ]] || die "cannot read the config template $CONF_SRC (XGW_CONF_SRC)"
export XGW_BIN=$SRC/build
export XGW_RUN=$RUN
export XGW_CONF=$RUN/xgw.conf
XGW_USER=$(id -un)
export XGW_USER
SUPCONF=$SRC/deploy/supervisord.conf

# supervisord splits command lines on whitespace, the config quotes strings,
# and unix socket paths are limited to 107 bytes.
for p in "$SRC" "$RUN"; do
    [[ $p =~ ^[A-Za-z0-9_./+@:=,-]+$ ]] ||
        die "path \"$p\" contains spaces, quotes or other characters the config cannot carry"
done
((${#RUN} <= 80)) || die "run folder path is too long for ipc:// sockets (max 80 bytes): $RUN"

show() { # a path as the user should type it: relative when inside the tree
    case $1 in "$SRC"/*) printf '%s' "${1#"$SRC"/}" ;; *) printf '%s' "$1" ;; esac
}
sctl() { supervisorctl -c "$SUPCONF" "$@"; }
supervisord_pid() { # pid of this run folder's supervisord, if alive
    local pid
    pid=$(cat "$RUN/supervisord.pid" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q supervisord || return 1
    printf '%s\n' "$pid"
}

# conf KEY SECTION [FILE]: the value the processes will use - the active line
# in SECTION, else the default its commented-out line documents. FILE
# defaults to the generated config.
conf() {
    awk -v sec="[$2]" -v key="$1" '
        /^[ \t]*\[/ { insec = ($1 == sec); next }
        !insec { next }
        $0 ~ ("^[ \t]*" key "[ \t]*=") && act == "" { sub(/^[^=]*=[ \t]*/, ""); act = $0 }
        $0 ~ ("^[ \t]*#[ \t]*" key "[ \t]*=") && def == "" { sub(/^[^=]*=[ \t]*/, ""); def = $0 }
        END {
            v = (act != "") ? act : def
            sub(/[ \t]+#.*$/, "", v); gsub(/^"|"$/, "", v); print v
        }' "${3:-$XGW_CONF}"
}

# Served domains: XGW_DOMAIN (comma-separated), else the template's
# common.domains (its active line or documented default).
DOMAINS=${XGW_DOMAIN:-$(conf domains common "$CONF_SRC")}
DOMAINS=${DOMAINS// /}
[[ -n $DOMAINS ]] || DOMAINS=localhost
IFS=, read -r -a DOMAIN_LIST <<<"$DOMAINS"
for d in "${DOMAIN_LIST[@]}"; do
    [[ $d =~ ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]] || die "\"$d\" (XGW_DOMAIN or common.domains) is not a domain name"
done
DOMAIN=${DOMAIN_LIST[0]}

# ---- 1. packages ------------------------------------------------------------
bash "$SRC/deploy/install-deps.sh"

# ---- 2. build ---------------------------------------------------------------
say "building into $(show "$XGW_BIN")/"
cmake -S . -B build >/dev/null || die "cmake configure failed"
cmake --build build -j"$(nproc)" || die "build failed"
for b in xgw-broker xgw-xmppd xgw-sipd xgw-policyd xgw-certd xgwctl; do
    [[ -x $XGW_BIN/$b ]] || die "$XGW_BIN/$b was not built"
done

# ---- 3. runtime folder and config ---------------------------------------------
mkdir -p "$RUN/log" "$RUN/data"
chmod 0700 "$RUN/data"

# The generated config: the template with
#  - [common] broker_frontend, broker_backend, data_dir, run_dir and domains
#    set (the active line replaced if there is one, else the commented-out
#    default, else added at the end of [common]);
#  - every other key whose value (active, or the commented-out default) lies
#    under /run/xgw or /var/lib/xgw, such as the policy and certificate
#    update endpoints, moved under the run folder (a commented default is
#    uncommented only if the section has no active line for that key).
gen=$(mktemp "$RUN/.xgw.conf.XXXXXX")
awk -v fe="ipc://$RUN/frontend.ipc" -v be="ipc://$RUN/backend.ipc" \
    -v data="$RUN/data" -v run="$RUN" -v domains="$DOMAINS" -v src="$(show "$CONF_SRC")" '
function secname(line) { sub(/^[ \t]*\[/, "", line); sub(/\].*$/, "", line); return line }
function keyof(line) { sub(/^[ \t]*[#;]?[ \t]*/, "", line); sub(/[ \t]*=.*$/, "", line); return line }
function moved(v) { gsub("/var/lib/xgw", data, v); gsub("/run/xgw", run, v); return v }
function flush(   i) {
    for (i = 1; i <= n; i++)
        if (!(("common." keys[i]) in done)) {
            printf "%s = \"%s\"\n", keys[i], val[keys[i]]; done["common." keys[i]] = 1
        }
}
BEGIN {
    n = split("broker_frontend broker_backend data_dir run_dir domains", keys, " ")
    val["broker_frontend"] = fe; val["broker_backend"] = be
    val["data_dir"] = data;      val["run_dir"] = run; val["domains"] = domains
    for (i = 1; i <= n; i++) forced[keys[i]] = 1
}
# pass 1: which keys are set by an active line, per section
NR == FNR {
    if ($0 ~ /^[ \t]*\[/) sec = secname($0)
    else if ($0 ~ /^[ \t]*[a-z_]+[ \t]*=/) active[sec "." keyof($0)] = 1
    next
}
FNR == 1 {
    sec = ""
    print "# Generated by deploy/xgw-run.sh from " src "; edits are overwritten."
    print "# Paths and ipc:// endpoints point into the run folder, domains is set;"
    print "# everything else is as in " src "."
    print ""
}
/^[ \t]*\[/ {
    if (sec == "common") flush()
    sec = secname($0)
    seen_common = seen_common || sec == "common"
    print; next
}
/^[ \t]*[#;]?[ \t]*[a-z_]+[ \t]*=/ && sec != "" {
    k = keyof($0); id = sec "." k
    commented = ($0 ~ /^[ \t]*[#;]/)
    if (sec == "common" && (k in forced)) {
        if (!(id in done) && (!commented || !(id in active))) {
            printf "%s = \"%s\"\n", k, val[k]; done[id] = 1; next
        }
    } else if ($0 ~ /\/run\/xgw|\/var\/lib\/xgw/ && !(id in done) && (!commented || !(id in active))) {
        line = $0; sub(/^[ \t]*[#;]?[ \t]*/, "", line)
        print moved(line); done[id] = 1; next
    }
}
{ print }
END {
    if (sec == "common") flush()
    if (!seen_common) { print ""; print "[common]"; flush() }
}' "$CONF_SRC" "$CONF_SRC" >"$gen"

if ! "$XGW_BIN/xgw-broker" -c "$gen" -t >/dev/null; then
    rm -f "$gen"
    die "the generated config does not load (see above); check $(show "$CONF_SRC")"
fi
conf_changed=1
if [[ -f $XGW_CONF ]] && cmp -s "$gen" "$XGW_CONF"; then
    conf_changed=0
    rm -f "$gen"
else
    chmod 0644 "$gen"
    mv -f "$gen" "$XGW_CONF"
fi

numprocs() { # numprocs of [program:NAME] in supervisord.conf (1 if unset)
    awk -v sec="[program:$1]" '
        /^\[/ { insec = ($0 == sec); next }
        insec && /^numprocs[ \t]*=/ { sub(/^[^=]*=[ \t]*/, ""); n = $0 }
        END { print (n == "" ? 1 : n) }' "$SUPCONF"
}

# ---- 4. supervisord -----------------------------------------------------------
print_info() {
    local pid=$1 listen proc base n i ports
    listen=$(conf metrics_listen common)
    [[ -n $listen ]] || listen=127.0.0.1
    echo
    echo "xgw is running: supervisord pid $pid, run folder $(show "$RUN")/"
    echo "  metrics (Prometheus text at /metrics, liveness at /healthz):"
    for proc in broker policyd certd xmppd sipd; do
        base=$(conf metrics_port "$proc")
        n=$(numprocs "xgw-$proc")
        ports=""
        for ((i = 0; i < n; i++)); do
            if [[ $base =~ ^[0-9]+$ ]] && ((base > 0)); then
                ports+=" http://$listen:$((base + i))/metrics"
            else
                ports+=" (metrics off)"
            fi
        done
        printf '    %-8s%s\n' "$proc" "$ports"
    done
    echo "  Prometheus scrape config for these ports: deploy/prometheus.yml"
    echo "  status:     $(show "$XGW_BIN")/xgwctl -c $(show "$XGW_CONF") status"
    echo "  processes:  supervisorctl -s unix://$RUN/supervisor.sock status"
    echo "  logs:       $(show "$RUN")/log/ (supervisord.log, one file per process)"
    echo "  config:     $(show "$XGW_CONF") (generated from $(show "$CONF_SRC"))"
    echo "  certs:      $(show "$XGW_BIN")/xgwctl -c $(show "$XGW_CONF") cert show  (certd made a self-signed one for $DOMAINS; cert check says what is missing)"
    echo "  stop:       deploy/xgw-stop.sh"
}

wait_status() { # until xgwctl status exits 0, at most 30 s
    local deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)); do
        if "$XGW_BIN/xgwctl" -c "$XGW_CONF" --set xgwctl.timeout=2s status >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.5
    done
    return 1
}

stop_group() {
    local pid=$1 i
    sctl shutdown >/dev/null || true
    for ((i = 0; i < 600; i++)); do # stopwaitsecs is 15 s per priority level
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    die "supervisord (pid $pid) did not stop within 60 s"
}

if pid=$(supervisord_pid); then
    stale=""
    ((RESTART)) && stale="--restart given"
    ((conf_changed)) && stale=${stale:-"the generated config changed"}
    for f in "$XGW_BIN"/xgw-broker "$XGW_BIN"/xgw-xmppd "$XGW_BIN"/xgw-sipd \
        "$XGW_BIN"/xgw-policyd "$XGW_BIN"/xgw-certd "$SUPCONF"; do
        [[ -z $stale && $f -nt $RUN/supervisord.pid ]] && stale="$(show "$f") changed since the start"
    done
    if [[ -z $stale ]]; then
        say "xgw is already running (supervisord pid $pid) and up to date"
        if ! wait_status; then
            sctl status || true
            die "but xgwctl status does not reach every service; see $(show "$RUN")/log/"
        fi
        print_info "$pid"
        exit 0
    fi
    say "xgw is already running (supervisord pid $pid); restarting it: $stale"
    stop_group "$pid"
fi

rm -f "$RUN/supervisord.pid"
say "starting supervisord -c deploy/supervisord.conf"
supervisord -c "$SUPCONF" || die "supervisord did not start; see $(show "$RUN")/log/supervisord.log"
for ((i = 0; i < 100; i++)); do
    pid=$(supervisord_pid) && break
    sleep 0.1
done
[[ -n ${pid:-} ]] || die "supervisord did not write $RUN/supervisord.pid; see $(show "$RUN")/log/supervisord.log"

say "waiting for every service to register with the broker (xgwctl status)"
if ! wait_status; then
    echo "xgw-run: xgwctl status did not succeed within 30 s:" >&2
    "$XGW_BIN/xgwctl" -c "$XGW_CONF" --set xgwctl.timeout=1s status >&2 || true
    sctl status >&2 || true
    # the last lines of each process that is not RUNNING
    sctl status 2>/dev/null | awk '$1 ~ /^xgw:/ && $2 != "RUNNING" { sub(/^xgw:/, "", $1); print $1 }' |
        while read -r name; do
            log=$RUN/log/$name.log
            [[ -f $log ]] || continue
            echo "--- last lines of $(show "$log")" >&2
            tail -n 5 "$log" >&2
        done
    die "the group is left running for inspection; stop it with deploy/xgw-stop.sh"
fi
"$XGW_BIN/xgwctl" -c "$XGW_CONF" status
print_info "$pid"
