#!/usr/bin/env bash
# xgw-stop.sh - stop the group started by deploy/xgw-run.sh.
#
# Stops in three steps so that the broker outlives the edges' drain: the
# edges (xmppd, sipd), then policyd and certd, then the broker, each step
# with `supervisorctl stop` (SIGTERM; each process drains and exits 0), then
# `supervisorctl shutdown` ends supervisord. (Within one [group:xgw],
# supervisord's own stop/shutdown sends every SIGTERM at once: priority only
# orders the signals, it does not wait in between.) Waits until supervisord
# is gone. XGW_RUN_DIR selects the run folder as for xgw-run.sh (default
# run/). Nothing to stop is not an error.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN=${XGW_RUN_DIR:-$SRC/run}
case $RUN in /*) ;; *) RUN=$PWD/$RUN ;; esac
export XGW_RUN=$RUN XGW_BIN=$SRC/build XGW_CONF=$RUN/xgw.conf
XGW_USER=$(id -un)
export XGW_USER

pid=$(cat "$RUN/supervisord.pid" 2>/dev/null || true)
if ! [[ $pid =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null ||
    ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q supervisord; then
    echo "xgw-stop: xgw is not running (no live supervisord for $RUN)"
    exit 0
fi

sctl() { supervisorctl -c "$SRC/deploy/supervisord.conf" "$@"; }
# stop_parallel NAME...: stop these processes at the same time, wait for all
stop_parallel() {
    local name pids=()
    for name in "$@"; do
        sctl stop "$name" | sed 's/^/xgw-stop:   /' &
        pids+=($!)
    done
    wait "${pids[@]}" || true
}

echo "xgw-stop: stopping the xgw group (supervisord pid $pid)"
mapfile -t procs < <(sctl status 2>/dev/null | awk '$1 ~ /^xgw:/ { print $1 }')
edges=() services=() broker=()
for p in "${procs[@]}"; do
    case $p in
        xgw:xgw-xmppd* | xgw:xgw-sipd*) edges+=("$p") ;;
        xgw:xgw-broker) broker+=("$p") ;;
        *) services+=("$p") ;;
    esac
done
((${#edges[@]})) && stop_parallel "${edges[@]}"
((${#services[@]})) && stop_parallel "${services[@]}"
((${#broker[@]})) && stop_parallel "${broker[@]}"
sctl shutdown >/dev/null || true
for ((i = 0; i < 900; i++)); do # 15 s stopwaitsecs per priority level, 3 levels
    if ! kill -0 "$pid" 2>/dev/null; then
        # what supervisord logged for the processes since its last start
        awk '/supervisord started with pid/ { n = 0 } /stopped: |exited: / { l[++n] = $0 }
             END { for (i = 1; i <= n; i++) print "xgw-stop:   " l[i] }' \
            "$RUN/log/supervisord.log" 2>/dev/null || true
        echo "xgw-stop: stopped"
        exit 0
    fi
    sleep 0.1
done
echo "xgw-stop: supervisord (pid $pid) is still running after 90 s" >&2
exit 1
