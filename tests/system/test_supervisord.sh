#!/usr/bin/env bash
# test_supervisord.sh - the xgw process group under a real supervisord
# (deploy/supervisord.conf), scraped by a real Prometheus (deploy/prometheus.yml).
#
# Run by ctest (label "system") with XGW_BIN_DIR=<build dir> and
# XGW_SRC_DIR=<source dir>. Needs supervisor, prometheus, curl, python3
# (deploy/install-deps.sh). Binds only to 127.0.0.1, on ports moved from the
# defaults by an offset chosen so that all of them are free. Everything it
# starts (supervisord and its children, Prometheus) is stopped by pid on exit.
# XGW_KEEP_TMP=1 keeps the temporary folder.
#
# Checks, in order:
#   deploy/xgw.conf loads (-t) in every daemon; deploy/prometheus.yml,
#   deploy/xgw.conf and deploy/supervisord.conf agree on the ports
#   supervisord starts the 7 processes; `xgwctl status` reaches every service
#   every /metrics answers 200 with xgw_build_info, every /healthz 200
#   Prometheus scrapes all 7 targets as up and has their samples
#   kill -9 of an xmppd instance: supervisord restarts it and it re-registers
#   SIGTERM to a sipd instance: it exits 0 ("expected") and is restarted
#   kill -9 of the broker: restarted, every service registers again
#   deploy/xgw-stop.sh: every process stops with exit status 0 on SIGTERM
set -uo pipefail

NAME=test_supervisord
BIN=${XGW_BIN_DIR:?XGW_BIN_DIR must name the build folder}
SRC=${XGW_SRC_DIR:?XGW_SRC_DIR must name the source folder}
SUPCONF=$SRC/deploy/supervisord.conf
PASSED=0
PROM_PID=""
SUP_PID=""
CHILD_PIDS=()

T=$(mktemp -d /tmp/xgw-sys.XXXXXX) || {
    echo "$NAME: FAIL: mktemp"
    exit 1
}

log() { printf '%s: %s\n' "$NAME" "$*"; }
ok() {
    PASSED=$((PASSED + 1))
    printf '%s: ok %d - %s\n' "$NAME" "$PASSED" "$*"
}
fail() {
    printf '%s: FAIL: %s\n' "$NAME" "$*"
    dump_logs
    printf '%d passed, 1 failed\n' "$PASSED"
    exit 1
}
dump_logs() {
    local f
    for f in "$T"/log/supervisord.log "$T"/log/xgw-*.log "$T"/prometheus.log; do
        [[ -s $f ]] || continue
        echo "----- tail of ${f#"$T"/}"
        tail -n 15 "$f"
    done
}

# --- cleanup: everything by pid ------------------------------------------------
alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; }
wait_gone() { # pid seconds
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        alive "$1" || return 0
        sleep 0.1
    done
    return 1
}
cleanup() {
    local p
    if alive "$SUP_PID"; then
        supervisorctl -c "$SUPCONF" shutdown >/dev/null 2>&1
        wait_gone "$SUP_PID" 40 || kill -KILL "$SUP_PID" 2>/dev/null
    fi
    # processes supervisord ran (restarted ones included), if any outlived it
    if [[ -f $T/log/supervisord.log ]]; then
        while read -r p; do CHILD_PIDS+=("$p"); done < <(
            sed -n "s/.*spawned: '[^']*' with pid \([0-9]*\).*/\1/p" "$T/log/supervisord.log")
    fi
    for p in "${CHILD_PIDS[@]}"; do
        if alive "$p" && tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "xgw-"; then
            kill -KILL "$p" 2>/dev/null
        fi
    done
    if alive "$PROM_PID"; then
        kill -TERM "$PROM_PID" 2>/dev/null
        wait_gone "$PROM_PID" 15 || kill -KILL "$PROM_PID" 2>/dev/null
    fi
    if [[ ${XGW_KEEP_TMP:-0} == 1 ]]; then
        log "kept $T"
    else
        rm -rf "$T"
    fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- prerequisites ----------------------------------------------------------------
for tool in supervisord supervisorctl prometheus curl python3; do
    command -v "$tool" >/dev/null || fail "$tool is not installed (run deploy/install-deps.sh as root)"
done
for b in xgw-broker xgw-xmppd xgw-sipd xgw-policyd xgw-certd xgwctl; do
    [[ -x $BIN/$b ]] || fail "$BIN/$b is missing; build first"
done

# --- shipped files ------------------------------------------------------------------
for b in xgw-broker xgw-xmppd xgw-sipd xgw-policyd xgw-certd; do
    out=$("$BIN/$b" -c "$SRC/deploy/xgw.conf" -t 2>&1) || fail "$b -t rejects deploy/xgw.conf: $out"
done
ok "deploy/xgw.conf passes -t in every daemon"

if command -v promtool >/dev/null; then
    out=$(promtool check config "$SRC/deploy/prometheus.yml" 2>&1) ||
        fail "promtool rejects deploy/prometheus.yml: $out"
fi

# Ports: defaults from deploy/xgw.conf, instances from deploy/supervisord.conf;
# deploy/prometheus.yml must list exactly those. Then pick an offset that
# makes every port (and Prometheus's own) free on 127.0.0.1, and write the
# test's xgw.conf and prometheus.yml. Prints "proc instance port" lines and
# finally "prometheus 0 port".
python3 - "$SRC" "$T" >"$T/ports" 2>"$T/ports.err" <<'EOF' || fail "port setup: $(cat "$T/ports.err")"
import re, socket, sys
src, tmp = sys.argv[1], sys.argv[2]

def sections(path, comment_defaults):
    out, sec = {}, None
    for line in open(path):
        m = re.match(r'\s*\[([^\]]+)\]\s*$', line)
        if m:
            sec = m.group(1); out.setdefault(sec, {}); continue
        pat = r'\s*(#\s*)?([a-z_]+)\s*=\s*(.*?)\s*$' if comment_defaults else r'\s*([a-z_]+)\s*=\s*(.*?)\s*$'
        m = re.match(pat, line)
        if not m or sec is None:
            continue
        if comment_defaults:
            commented, key, val = m.group(1) is not None, m.group(2), m.group(3)
            val = re.sub(r'\s+#.*$', '', val).strip('"')
            # an active line wins over the commented default
            if not commented or key not in out[sec]:
                out[sec][key] = val
        else:
            out[sec][m.group(1)] = m.group(2)
    return out

conf = sections(f'{src}/deploy/xgw.conf', True)
sup = sections(f'{src}/deploy/supervisord.conf', False)
procs = ['broker', 'policyd', 'certd', 'xmppd', 'sipd']
expected = []  # (proc, instance, default port)
for p in procs:
    base = int(conf.get(p, {}).get('metrics_port', '0'))
    if base <= 0:
        sys.exit(f'deploy/xgw.conf: [{p}] metrics_port is not set')
    prog = sup.get(f'program:xgw-{p}')
    if prog is None:
        sys.exit(f'deploy/supervisord.conf has no [program:xgw-{p}]')
    for i in range(int(prog.get('numprocs', '1'))):
        expected.append((p, i, base + i))
group = sup.get('group:xgw', {}).get('programs', '')
if sorted(x.strip() for x in group.split(',')) != sorted(f'xgw-{p}' for p in procs):
    sys.exit(f'deploy/supervisord.conf [group:xgw] programs={group}')

prom = open(f'{src}/deploy/prometheus.yml').read()
targets = [int(x) for x in re.findall(r"127\.0\.0\.1:(\d+)", prom)]
if sorted(targets) != sorted(e[2] for e in expected):
    sys.exit(f'deploy/prometheus.yml targets {sorted(targets)} != ports of deploy/xgw.conf '
             f'and supervisord.conf numprocs {sorted(e[2] for e in expected)}')

def free(port):
    s = socket.socket()
    try:
        s.bind(('127.0.0.1', port)); return True
    except OSError:
        return False
    finally:
        s.close()

offset = None
for off in range(10000, 50001, 250):
    ports = [e[2] + off for e in expected] + [9090 + off]
    if all(0 < p < 65536 and free(p) for p in ports):
        offset = off; break
if offset is None:
    sys.exit('no free port range found')

# The test's config: deploy/xgw.conf with every path or ipc:// endpoint under
# /run/xgw or /var/lib/xgw moved into the temporary folder, the metrics ports
# moved by the offset and metrics bound to 127.0.0.1 (a commented-out default
# is uncommented unless its section already sets the key).
active, sec = set(), None
for line in open(f'{src}/deploy/xgw.conf'):
    m = re.match(r'\s*\[([^\]]+)\]', line)
    if m:
        sec = m.group(1)
    m = re.match(r'\s*([a-z_]+)\s*=', line)
    if m and sec:
        active.add((sec, m.group(1)))
out, sec, done = ['# written by tests/system/test_supervisord.sh from deploy/xgw.conf\n'], None, set()
for line in open(f'{src}/deploy/xgw.conf'):
    m = re.match(r'\s*\[([^\]]+)\]', line)
    if m:
        sec = m.group(1); out.append(line); continue
    m = re.match(r'\s*([#;]\s*)?([a-z_]+)\s*=\s*(.*?)\s*$', line)
    if not m or sec is None:
        out.append(line); continue
    commented, key, val = m.group(1) is not None, m.group(2), m.group(3)
    if (sec, key) in done or (commented and (sec, key) in active):
        out.append(line); continue
    if key == 'metrics_port':
        base = int(re.sub(r'\s+#.*$', '', val))
        out.append(f'metrics_port = {base + offset}\n')
    elif sec == 'common' and key == 'metrics_listen':
        out.append('metrics_listen = "127.0.0.1"\n')
    elif '/run/xgw' in val or '/var/lib/xgw' in val:
        out.append(f'{key} = ' + val.replace('/var/lib/xgw', f'{tmp}/data').replace('/run/xgw', tmp) + '\n')
    else:
        out.append(line); continue
    done.add((sec, key))
open(f'{tmp}/xgw.conf', 'w').write(''.join(out))
left = [l for l in out if re.match(r'\s*[a-z_]+\s*=', l) and ('/run/xgw' in l or '/var/lib/xgw' in l)]
if left:
    sys.exit(f'test config still points outside the temporary folder: {left}')

test_prom = re.sub(r"127\.0\.0\.1:(\d+)", lambda m: f'127.0.0.1:{int(m.group(1)) + offset}', prom)
for key in ('scrape_interval', 'scrape_timeout', 'evaluation_interval'):
    test_prom = re.sub(rf'({key}:\s*)\S+', r'\g<1>1s', test_prom)
open(f'{tmp}/prometheus.yml', 'w').write(test_prom)

for p, i, port in expected:
    print(p, i, port + offset)
print('prometheus', 0, 9090 + offset)
EOF
mapfile -t PORT_LINES <"$T/ports"
N_PROCS=$((${#PORT_LINES[@]} - 1))
PROM_PORT=$(awk '$1 == "prometheus" { print $3 }' "$T/ports")
((N_PROCS == 7)) || fail "expected 7 processes from the deploy files, found $N_PROCS"
ok "deploy/prometheus.yml, deploy/xgw.conf and deploy/supervisord.conf agree on 7 metrics ports"
log "ports: $(awk '{ printf "%s.%s=%s ", $1, $2, $3 }' "$T/ports")"

port_of() { awk -v p="$1" -v i="$2" '$1 == p && $2 == i { print $3 }' "$T/ports"; }
# supervisord process name of "proc instance"
sup_name() {
    local n
    n=$(awk -v s="[program:xgw-$1]" '$0 == s { f = 1; next } /^\[/ { f = 0 } f && /^numprocs=/ { split($0, a, "="); print a[2] }' "$SUPCONF")
    if [[ ${n:-1} -gt 1 ]]; then printf 'xgw:xgw-%s_%02d' "$1" "$2"; else printf 'xgw:xgw-%s' "$1"; fi
}

# --- supervisord ---------------------------------------------------------------------
mkdir -p "$T/log" "$T/data"
export XGW_BIN=$BIN XGW_CONF=$T/xgw.conf XGW_RUN=$T
XGW_USER=$(id -un)
export XGW_USER
sctl() { supervisorctl -c "$SUPCONF" "$@"; }
xgwctl() { "$BIN/xgwctl" -c "$T/xgw.conf" "$@"; }

"$BIN/xgw-broker" -c "$T/xgw.conf" -t >/dev/null 2>&1 || fail "the test config does not load"
supervisord -c "$SUPCONF" >"$T/supervisord.out" 2>&1 || fail "supervisord did not start: $(cat "$T/supervisord.out")"
for ((i = 0; i < 100; i++)); do
    SUP_PID=$(cat "$T/supervisord.pid" 2>/dev/null) && alive "$SUP_PID" && break
    SUP_PID=""
    sleep 0.1
done
[[ -n $SUP_PID ]] || fail "supervisord wrote no pidfile"
log "supervisord pid $SUP_PID"

# all_running: every process of the group in RUNNING
all_running() {
    local n
    n=$(sctl status 2>/dev/null | awk '$1 ~ /^xgw:/ && $2 == "RUNNING"' | wc -l)
    ((n == N_PROCS))
}
deadline=$((SECONDS + 30))
until all_running && xgwctl --set xgwctl.timeout=2s status >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "group not up within 30 s: $(sctl status 2>&1 | tr '\n' ';') xgwctl: $(xgwctl --set xgwctl.timeout=1s status 2>&1 | tr '\n' ';')"
    sleep 0.5
done
ok "supervisord runs all $N_PROCS processes and \`xgwctl status\` exits 0"
xgwctl status | sed "s/^/$NAME:   /"
json=$(xgwctl --json status) || fail "xgwctl --json status failed"
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert len(d)==4 and all(x["status"] in (200, "up") for x in d), d' "$json" ||
    fail "xgwctl --json status: $json"
ok "xgwctl --json status lists 4 services, all up"

# The broker's xgw_broker_workers lines of one service.
broker_workers_lines() {
    curl -s --max-time 3 "http://127.0.0.1:$(port_of broker 0)/metrics" |
        grep "^xgw_broker_workers{service=\"$1\"" | tr '\n' ' '
}
# wait_workers SERVICE N SECONDS: until the broker counts N live (ready or
# busy) workers of SERVICE.
wait_workers() {
    local deadline=$((SECONDS + $3)) n
    while :; do
        n=$(broker_workers_lines "$1" | grep -oE 'state="(ready|busy)"} [0-9]+' | awk '{ s += $2 } END { print s + 0 }')
        [[ $n == "$2" ]] && return 0
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}

# --- /metrics and /healthz ------------------------------------------------------------
for line in "${PORT_LINES[@]}"; do
    read -r proc inst port <<<"$line"
    [[ $proc == prometheus ]] && continue
    code=$(curl -s -o "$T/body" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/metrics")
    [[ $code == 200 ]] || fail "$proc.$inst: GET :$port/metrics answered $code"
    grep -q "^xgw_build_info{.*process=\"$proc\",instance=\"$inst\"} 1$" "$T/body" ||
        fail "$proc.$inst: /metrics on :$port has no xgw_build_info for process=$proc instance=$inst"
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/healthz")
    [[ $code == 200 ]] || fail "$proc.$inst: GET :$port/healthz answered $code"
done
wait_workers xmpp 2 10 || fail "broker /metrics does not show 2 live xmpp workers: $(broker_workers_lines xmpp)"
ok "every /metrics answers 200 with its xgw_build_info, every /healthz 200"

# --- Prometheus ---------------------------------------------------------------------------
prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prom" \
    --web.listen-address="127.0.0.1:$PROM_PORT" >"$T/prometheus.log" 2>&1 &
PROM_PID=$!
log "prometheus pid $PROM_PID on 127.0.0.1:$PROM_PORT"
PROM=http://127.0.0.1:$PROM_PORT

# targets_up: prints "<up> <total>" of the active targets
targets_up() {
    curl -s --max-time 3 "$PROM/api/v1/targets" | python3 -c '
import json, sys
t = json.load(sys.stdin)["data"]["activeTargets"]
print(sum(1 for x in t if x["health"] == "up"), len(t))' 2>/dev/null
}
deadline=$((SECONDS + 60))
while :; do
    alive "$PROM_PID" || fail "prometheus exited"
    read -r up total <<<"$(targets_up)"
    [[ ${up:-0} == "$N_PROCS" && ${total:-0} == "$N_PROCS" ]] && break
    ((SECONDS < deadline)) || fail "Prometheus: ${up:-?} of ${total:-?} targets up after 60 s: $(curl -s "$PROM/api/v1/targets")"
    sleep 1
done
ok "Prometheus scrapes $up of $total targets, all \"health\":\"up\""

# query EXPR: prints the number of series and the sum of their values
query() {
    curl -s --max-time 3 -G "$PROM/api/v1/query" --data-urlencode "query=$1" | python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(len(r), sum(float(x["value"][1]) for x in r))' 2>/dev/null
}
deadline=$((SECONDS + 30))
while :; do
    read -r n_up sum_up <<<"$(query 'up{job=~"xgw-.*"}')"
    read -r n_bi _ <<<"$(query 'xgw_build_info')"
    read -r _ workers <<<"$(query 'sum(xgw_broker_workers{state=~"ready|busy"})')"
    [[ ${n_up:-0} == "$N_PROCS" && ${sum_up%.*} == "$N_PROCS" && ${n_bi:-0} == "$N_PROCS" && ${workers%.*} == 6 ]] && break
    ((SECONDS < deadline)) || fail "Prometheus queries: up series=${n_up:-?} sum=${sum_up:-?}, xgw_build_info series=${n_bi:-?}, live workers=${workers:-?} (want 7, 7, 7, 6)"
    sleep 1
done
ok "Prometheus has the data: up=1 for 7 series, 7 xgw_build_info, sum(xgw_broker_workers{state=~\"ready|busy\"})=6"

# --- kill -9 of an xmppd instance -------------------------------------------------------
X0=$(sup_name xmppd 0)
XPORT=$(port_of xmppd 0)
old=$(sctl pid "$X0")
[[ $old =~ ^[0-9]+$ && $old != 0 ]] || fail "no pid for $X0: $old"
kill -KILL "$old"
deadline=$((SECONDS + 20))
while :; do
    new=$(sctl pid "$X0" 2>/dev/null)
    if [[ $new =~ ^[0-9]+$ && $new != 0 && $new != "$old" ]] &&
        sctl status "$X0" | grep -q RUNNING &&
        [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$XPORT/healthz") == 200 ]] &&
        [[ $(grep -c 'event=worker_ready service=xmpp instance=xmppd.00' "$T/log/xgw-broker.log") -ge 2 ]]; then
        break
    fi
    ((SECONDS < deadline)) || fail "$X0 not restarted and re-registered within 20 s (pid $old -> ${new:-?}): $(sctl status "$X0")"
    sleep 0.5
done
grep -q "exited: ${X0#xgw:} (terminated by SIGKILL; not expected)" "$T/log/supervisord.log" ||
    fail "supervisord log has no 'exited: ${X0#xgw:} (terminated by SIGKILL; not expected)'"
xgwctl ping xmpp >/dev/null || fail "xgwctl ping xmpp fails after the restart"
wait_workers xmpp 2 15 || fail "broker does not count 2 live xmpp workers again: $(broker_workers_lines xmpp)"
ok "kill -9 $X0 (pid $old): supervisord restarted it (pid $new), it re-registered as xmppd.00, xgwctl ping xmpp ok"

# --- SIGTERM to one sipd instance, outside supervisorctl ----------------------------------
S1=$(sup_name sipd 1)
old=$(sctl pid "$S1")
[[ $old =~ ^[0-9]+$ && $old != 0 ]] || fail "no pid for $S1: $old"
kill -TERM "$old"
deadline=$((SECONDS + 20))
until grep -q "exited: ${S1#xgw:} (exit status 0; expected)" "$T/log/supervisord.log"; do
    ((SECONDS < deadline)) || fail "no 'exited: ${S1#xgw:} (exit status 0; expected)' in the supervisord log after SIGTERM"
    sleep 0.2
done
deadline=$((SECONDS + 20))
until new=$(sctl pid "$S1") && [[ $new =~ ^[0-9]+$ && $new != 0 && $new != "$old" ]] &&
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$(port_of sipd 1)/healthz") == 200 ]]; do
    ((SECONDS < deadline)) || fail "$S1 not restarted after its SIGTERM exit"
    sleep 0.5
done
grep -q 'event=stopped reason=signal' "$T/log/xgw-sipd_01.log" || fail "sipd.01 did not log event=stopped reason=signal"
ok "SIGTERM to $S1: drained, exit status 0 (expected), restarted (pid $new)"

# --- kill -9 of the broker ---------------------------------------------------------------------
B=$(sup_name broker 0)
old=$(sctl pid "$B")
[[ $old =~ ^[0-9]+$ && $old != 0 ]] || fail "no pid for $B: $old"
kill -KILL "$old"
sleep 0.5
deadline=$((SECONDS + 30))
until new=$(sctl pid "$B") && [[ $new =~ ^[0-9]+$ && $new != 0 && $new != "$old" ]] &&
    xgwctl --set xgwctl.timeout=2s status >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "after kill -9 of the broker, xgwctl status does not succeed within 30 s: $(xgwctl --set xgwctl.timeout=1s status 2>&1 | tr '\n' ';')"
    sleep 0.5
done
for svc in xmpp sip; do
    wait_workers $svc 2 15 || fail "the restarted broker does not count 2 live $svc workers: $(broker_workers_lines $svc)"
done
for svc in policy cert; do
    wait_workers $svc 1 15 || fail "the restarted broker does not count 1 live $svc worker: $(broker_workers_lines $svc)"
done
ok "kill -9 of the broker (pid $old): restarted (pid $new), all workers registered again"

# --- stop: every process exits 0 on SIGTERM ---------------------------------------------------
before=$(wc -l <"$T/log/supervisord.log")
mapfile -t LAST_PIDS < <(sctl pid all 2>/dev/null)
out=$(XGW_RUN_DIR=$T bash "$SRC/deploy/xgw-stop.sh" 2>&1) || fail "deploy/xgw-stop.sh failed: $out"
printf '%s\n' "$out" | sed "s/^/$NAME:   /"
alive "$SUP_PID" && fail "supervisord (pid $SUP_PID) still running after xgw-stop.sh"
for p in "${LAST_PIDS[@]}"; do
    [[ $p =~ ^[0-9]+$ && $p != 0 ]] || continue
    alive "$p" && fail "process $p still running after xgw-stop.sh"
done
tail -n +"$((before + 1))" "$T/log/supervisord.log" >"$T/stop.log"
for line in "${PORT_LINES[@]}"; do
    read -r proc inst port <<<"$line"
    [[ $proc == prometheus ]] && continue
    n=$(sup_name "$proc" "$inst")
    n=${n#xgw:}
    grep -q "stopped: $n (exit status 0)" "$T/stop.log" ||
        fail "$n did not exit 0 on SIGTERM: $(grep "$n" "$T/stop.log" | tr '\n' ';')"
done
grep -q 'SIGKILL' "$T/stop.log" && fail "supervisord had to SIGKILL a process: $(grep SIGKILL "$T/stop.log")"
ok "deploy/xgw-stop.sh: all $N_PROCS processes exited 0 on SIGTERM, supervisord gone"

log "summary: supervisord group of $N_PROCS processes, metrics + healthz, Prometheus $N_PROCS/$N_PROCS up, restart after kill -9 (xmppd, broker) and SIGTERM (sipd), clean stop"
printf '%d passed, 0 failed\n' "$PASSED"
