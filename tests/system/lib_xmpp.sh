# lib_xmpp.sh - helpers shared by tests/system/test_xmpp_*.sh (sourced, not
# run: ctest only registers test_*.sh). Built on lib_policy.sh (ok/bad/x,
# pt_start, pt_finish, the temp dir $T and the config $CONF), to which it adds
# the real peers of the XMPP edge tests, all on loopback:
#
#   xt_init                      lock, pt_init, trap; $T/ca $T/dns ...
#   xt_dns_record LINE...        dnsmasq config lines (host-record=, srv-host=)
#   xt_dns_start / xt_dns_restart   dnsmasq on $XT_DNS_IP:53, answers only *.test
#   xt_ca_init                   test CA ($T/ca/ca.pem) + an unrelated CA
#   xt_cert DOMAIN [ca|self|other]  leaf certificate $T/ca/DOMAIN.{pem,key}
#   xt_prosody_start NAME DOMAIN IP MODE   MODE: dialback | tls | external
#   xt_prosody_user NAME USER PASSWORD
#   xt_prosody_s2s NAME          prints `s2s:show()` of the instance
#   xt_client_bg ID SERVER JID PW STEP...   c2s client in the background
#   xt_client_wait ID [SECS]     its exit status (0: every step passed)
#   xt_client ID SERVER JID PW STEP...      same, in the foreground
#   xt_gw_config / xt_gw_start   the xgw group (broker, policyd, certd,
#                                xmppd, the SIP-side test worker)
#   xt_finish                    stop all (daemons must exit 0), no sanitizer
#                                report in any log, summary
#
# Addresses (one per server, all 127.0.0.x): the DNS server, the gateway,
# two Prosody instances, ejabberd and the raw peer. Tests of the two build
# trees must not run at once on these addresses, so xt_init takes a lock
# (/tmp/xgw-xmpp-tests.lock.d, see xt_lock) for the whole test.
#
# DNS never leaves the machine: dnsmasq runs with no-resolv and answers only
# what the test declares (anything else: REFUSED); Prosody's libunbound reads a
# resolv.conf naming that dnsmasq and nothing else; xmppd gets dns_servers.
# Nothing here touches /etc/hosts.
#
# Everything started here is stopped by its own pid at exit.
#
# "COND && ok ... || bad ...": ok always returns 0, so bad runs only when
# COND fails.
# shellcheck shell=bash disable=SC2015

# shellcheck source=lib_policy.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_policy.sh"

SRC=${XGW_SRC_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PY=/usr/bin/python3 # Debian's python: the tools use the standard library only
XT_TOOLS=$SRC/tests/tools
XT_TPL=$SRC/tests/xmpp
PROSODY=${XT_PROSODY:-/usr/bin/prosody}
PROSODYCTL=${XT_PROSODYCTL:-/usr/bin/prosodyctl}
DNSMASQ=${XT_DNSMASQ:-/usr/sbin/dnsmasq}

XT_DNS_IP=127.0.0.170
XT_GW_IP=127.0.0.171
XT_PA_IP=127.0.0.172
XT_PB_IP=127.0.0.173
XT_EJ_IP=127.0.0.174
XT_RAW_IP=127.0.0.175
XT_GOOD_IP=127.0.0.176 # a second scripted peer, the well-behaved one

XT_GW_DOMAIN=gw.test # the SIP domain the gateway serves
XT_LOCK=/tmp/xgw-xmpp-tests.lock.d

declare -A XT_PROSODY_DIR=() # NAME -> folder
declare -A XT_CLIENT_OUT=()  # ID -> output file
XT_DNS_LINES=()

# ---- set-up and tear-down -----------------------------------------------------

# xt_need FILE...: every file must be executable, else the test fails at once.
xt_need() {
    local f
    for f in "$@"; do
        if [[ ! -x $f ]]; then
            echo "${NAME:-test}: $f is missing (deploy/install-deps.sh installs the peers)"
            echo "0 passed, 1 failed"
            exit 1
        fi
    done
}

xt_init() {
    xt_need "$PY" "$PROSODY" "$PROSODYCTL" "$DNSMASQ" /usr/bin/openssl
    xt_lock
    pt_init
    trap xt_cleanup EXIT
    mkdir -p "$T/ca" "$T/dns" "$T/clients"
    XT_T0=$(now_ms)
}

# Prints the seconds since xt_init (for the test's own timing lines).
xt_elapsed() { echo "$((($(now_ms) - XT_T0) / 1000))"; }

# xt_lock: one XMPP test at a time on these addresses (the two build trees'
# ctest runs may overlap). The lock is a directory holding the owner's pid,
# so a test killed without cleanup does not block the next one: a lock whose
# owner is gone is taken over.
xt_lock() {
    local owner said=0 deadline
    deadline=$(($(date +%s) + 300))
    while ! mkdir "$XT_LOCK" 2>/dev/null; do
        # A plain file there is a flock(1) lock file of an earlier version
        # of this library (nobody waits on it any more).
        if [[ -e $XT_LOCK && ! -d $XT_LOCK ]]; then
            rm -f "$XT_LOCK"
            continue
        fi
        owner=$(cat "$XT_LOCK/pid" 2>/dev/null)
        if [[ -n $owner ]] && ! kill -0 "$owner" 2>/dev/null; then
            rm -rf "$XT_LOCK"
            continue
        fi
        if [[ $said == 0 ]]; then
            echo "${NAME:-test}: waiting for $XT_LOCK (pid ${owner:-?}: $(cat "$XT_LOCK/name" 2>/dev/null))"
            said=1
        fi
        if (($(date +%s) > deadline)); then
            echo "${NAME:-test}: $XT_LOCK still held after 300 s by pid ${owner:-?}"
            echo "0 passed, 1 failed"
            exit 1
        fi
        sleep 0.5
    done
    echo "$$" >"$XT_LOCK/pid"
    echo "${NAME:-test}" >"$XT_LOCK/name"
    XT_LOCKED=1
}

xt_unlock() {
    [[ ${XT_LOCKED:-0} == 1 && $(cat "$XT_LOCK/pid" 2>/dev/null) == "$$" ]] && rm -rf "$XT_LOCK"
    XT_LOCKED=0
}

xt_cleanup() {
    local name
    # Clients first (they hold c2s sessions), then the XMPP servers, then
    # DNS, then the gateway group and the temp dir (pt_cleanup).
    for name in "${!PT_PID[@]}"; do
        [[ $name == client.* ]] && pt_stop "$name" KILL
    done
    for name in "${!PT_PID[@]}"; do
        [[ $name == prosody.* || $name == ejabberd* || $name == rawpeer* ]] && pt_stop "$name" TERM
    done
    [[ -n ${PT_PID[dnsmasq]:-} ]] && pt_stop dnsmasq TERM
    for name in testsip certd; do
        [[ -n ${PT_PID[$name]:-} ]] && pt_stop "$name" TERM
    done
    pt_cleanup
    xt_unlock
}

# xt_stop NAME [SIGNAL]: like pt_stop, and sets XT_STATUS to the exit
# status ("" when NAME was not running).
xt_stop() {
    local name=$1 sig=${2:-TERM} pid=${PT_PID[$1]:-} i
    XT_STATUS=""
    [[ -n $pid ]] || return 0
    if pt_alive "$pid"; then
        kill "-$sig" "$pid" 2>/dev/null
        for ((i = 0; i < 100; i++)); do
            pt_alive "$pid" || break
            sleep 0.1
        done
        pt_alive "$pid" && kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    XT_STATUS=$?
    unset "PT_PID[$name]"
    return 0
}

# xt_finish: stops everything (peers first, then the gateway group, each
# daemon checked to exit 0 on SIGTERM), fails the test if any daemon log
# holds a sanitizer report, then prints the summary (pt_finish).
xt_finish() {
    local name f
    for name in "${!PT_PID[@]}"; do
        [[ $name == client.* || $name == rawpeer.* ]] && pt_stop "$name" KILL
    done
    for name in "${!PT_PID[@]}"; do
        [[ $name == prosody.* || $name == ejabberd.* ]] && pt_stop "$name" TERM
    done
    [[ -n ${PT_PID[dnsmasq]:-} ]] && pt_stop dnsmasq TERM
    for name in xmppd testsip certd policyd broker; do
        [[ -n ${PT_PID[$name]:-} ]] || continue
        xt_stop "$name" TERM
        [[ $XT_STATUS == 0 ]] || bad "$name exits 0 on SIGTERM" "kill -TERM" "exit 0" \
            "exit $XT_STATUS: $(tail -n 2 "$T/$name.log" | paste -sd'|' | cut -c1-300)"
    done
    for f in "$T"/*.log; do
        [[ -f $f ]] || continue
        if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$f"; then
            bad "no sanitizer report in ${f##*/}" "grep Sanitizer ${f##*/}" "none" \
                "$(grep -m1 -E 'AddressSanitizer|LeakSanitizer|runtime error:' "$f" | cut -c1-300)"
        fi
    done
    pt_finish
}

# Overrides lib_policy.sh's dump: also the peers' logs (they live in
# sub-folders of $T).
pt_dump_logs() {
    local f
    for f in "$T"/*.log "$T"/*/prosody.log "$T"/*/ejabberd.log "$T"/dns/dnsmasq.log \
        "$T"/clients/*.out "$T"/raw-*.out; do
        [[ -s $f ]] || continue
        echo "    ----- last lines of ${f#"$T"/}"
        tail -n "${XT_DUMP_LINES:-12}" "$f" | cut -c1-400 | sed 's/^/    /'
    done
}

# xt_fatal DESCRIPTION DETAIL: a set-up step failed; nothing after it can run.
xt_fatal() {
    bad "$1" "(set-up)" "success" "$2"
    pt_finish
}

# xt_wait_port IP PORT [SECS]: 0 once a TCP connect succeeds.
xt_wait_port() {
    local ip=$1 port=$2 secs=${3:-20} deadline
    deadline=$(($(now_ms) + secs * 1000))
    while (($(now_ms) < deadline)); do
        if (exec 3<>"/dev/tcp/$ip/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# xt_port_free IP PORT: 0 when nothing listens there.
xt_port_free() { ! (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# ---- DNS (dnsmasq) --------------------------------------------------------------

# xt_dns_record LINE...: adds dnsmasq config lines, e.g.
#   host-record=pa.test,127.0.0.172
#   srv-host=_xmpp-server._tcp.pa.test,pa.test,5269,0,5
#   srv-host=_xmpp-server._tcp.none.test          (target "." = no service)
# Takes effect at the next xt_dns_start / xt_dns_restart.
xt_dns_record() { XT_DNS_LINES+=("$@"); }

xt_dns_write() {
    local l
    {
        echo "# dnsmasq for $NAME: answers *.test from these lines, refuses the rest"
        echo "port=53"
        echo "listen-address=$XT_DNS_IP"
        echo "bind-interfaces"
        echo "no-resolv"
        echo "no-hosts"
        echo "no-poll"
        echo "no-negcache"
        echo "user=root"
        echo "local=/test/"
        echo "log-queries"
        echo "log-facility=$T/dns/dnsmasq.log"
        for l in "${XT_DNS_LINES[@]}"; do echo "$l"; done
    } >"$T/dns/dnsmasq.conf"
    echo "nameserver $XT_DNS_IP" >"$T/dns/resolv.conf"
}

xt_dns_start() {
    xt_port_free "$XT_DNS_IP" 53 || xt_fatal "$XT_DNS_IP:53 is free" "something listens there"
    xt_dns_write
    "$DNSMASQ" --keep-in-foreground --conf-file="$T/dns/dnsmasq.conf" \
        >>"$T/dns/dnsmasq.out" 2>&1 &
    PT_PID[dnsmasq]=$!
    local i
    for ((i = 0; i < 50; i++)); do
        if "$PY" "$XT_TOOLS/dnsq.py" "$XT_DNS_IP" probe.test A >/dev/null 2>&1; then
            return 0
        fi
        pt_alive "${PT_PID[dnsmasq]}" || break
        sleep 0.1
    done
    xt_fatal "dnsmasq answers on $XT_DNS_IP:53" "$(tail -n 3 "$T/dns/dnsmasq.out" "$T/dns/dnsmasq.log" 2>/dev/null)"
}

xt_dns_restart() {
    pt_stop dnsmasq TERM
    xt_dns_start
}

# xt_dns_check DESCRIPTION NAME TYPE EXPECTED: dnsq output (all lines joined
# with " | ") must equal EXPECTED; proves the DNS fixture before a test
# relies on it.
xt_dns_check() {
    local out
    out=$("$PY" "$XT_TOOLS/dnsq.py" "$XT_DNS_IP" "$2" "$3" 2>&1 | paste -sd'|' | sed 's/|/ | /g')
    if [[ $out == "$4" ]]; then
        ok "$1"
    else
        bad "$1" "dnsq.py $XT_DNS_IP $2 $3" "$4" "$out"
    fi
}

# ---- certificates ---------------------------------------------------------------

# The test CA signs the certificates peers are expected to trust; the
# "other" CA signs certificates nobody trusts.
xt_ca_init() {
    local which
    for which in ca other; do
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -keyout "$T/ca/$which.key" -out "$T/ca/$which.pem" -days 30 \
            -subj "/O=xgw tests/CN=xgw test $which CA" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" >/dev/null 2>&1 ||
            xt_fatal "openssl makes the $which CA" "$(openssl version)"
    done
}

# xt_cert DOMAIN [ca|other|self]: a leaf certificate (serverAuth only, DNS
# SAN = DOMAIN) signed by the test CA (default), the other CA, or by itself:
# $T/ca/DOMAIN.pem + .key for "ca", $T/ca/DOMAIN.BY.pem + .key otherwise.
xt_cert() {
    local d=$1 by=${2:-ca} base=$T/ca/$1
    [[ $by == ca ]] || base=$base.$by
    printf '%s\n' "subjectAltName=DNS:$d" "extendedKeyUsage=serverAuth" \
        "keyUsage=critical,digitalSignature" "basicConstraints=CA:FALSE" >"$base.ext"
    if [[ $by == self ]]; then
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -keyout "$base.key" -out "$base.pem" -days 30 -subj "/CN=$d" \
            -addext "subjectAltName=DNS:$d" -addext "extendedKeyUsage=serverAuth" \
            >/dev/null 2>&1 || xt_fatal "openssl makes a self-signed certificate for $d" "failed"
        return
    fi
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$base.key" \
        -out "$base.csr" -subj "/CN=$d" >/dev/null 2>&1 &&
        openssl x509 -req -in "$base.csr" -CA "$T/ca/$by.pem" -CAkey "$T/ca/$by.key" \
            -CAcreateserial -out "$base.pem" -days 30 -extfile "$base.ext" >/dev/null 2>&1 ||
        xt_fatal "openssl makes a certificate for $d signed by $by" "failed"
}

# ---- Prosody ----------------------------------------------------------------------

# xt_prosody_start NAME DOMAIN IP MODE [LUA-LINE...]
#   dialback  plain TCP, dialback only (tls not loaded: nothing offers STARTTLS)
#   tls       STARTTLS required + dialback; its certificate is self-signed and
#             its cafile the test CA, so no certificate is trusted either way
#             and dialback (over TLS) is what authenticates
#   external  STARTTLS + SASL EXTERNAL (s2s_secure_auth): a test-CA certificate,
#             the test CA as cafile, dialback not loaded
# LUA-LINE: extra global settings (before the VirtualHost).
xt_prosody_start() {
    local name=$1 domain=$2 ip=$3 mode=$4 dir=$T/$1 modules req secure ssl
    shift 4
    mkdir -p "$dir/data" "$dir/certs"
    case $mode in
    dialback)
        modules='"dialback"'
        req=false secure=false ssl=""
        ;;
    tls)
        [[ -f $T/ca/$domain.self.pem ]] || xt_cert "$domain" self
        modules='"tls", "dialback"'
        req=true secure=false
        ssl="ssl = { certificate = \"$T/ca/$domain.self.pem\"; key = \"$T/ca/$domain.self.key\"; cafile = \"$T/ca/ca.pem\" }"
        ;;
    external)
        [[ -f $T/ca/$domain.pem ]] || xt_cert "$domain" ca
        modules='"tls"'
        req=true secure=true
        ssl="ssl = { certificate = \"$T/ca/$domain.pem\"; key = \"$T/ca/$domain.key\"; cafile = \"$T/ca/ca.pem\" }"
        ;;
    *) xt_fatal "xt_prosody_start: mode" "unknown mode $mode" ;;
    esac
    cp "$T/dns/resolv.conf" "$dir/resolv.conf" 2>/dev/null ||
        echo "nameserver $XT_DNS_IP" >"$dir/resolv.conf"
    sed -e "s|@DIR@|$dir|g" -e "s|@IP@|$ip|g" -e "s|@DOMAIN@|$domain|g" \
        -e "s|@MODULES@|$modules|" -e "s|@S2S_REQUIRE_ENCRYPTION@|$req|" \
        -e "s|@S2S_SECURE_AUTH@|$secure|" -e "s|@LOGLEVEL@|${XT_PROSODY_LOGLEVEL:-debug}|" \
        "$XT_TPL/prosody.cfg.lua.in" >"$dir/prosody.cfg.lua.tmp"
    # Multi-line values go in with awk (sed would need escaping).
    awk -v ssl="$ssl" -v extra="$(printf '%s\n' "$@")" \
        '$0 == "@SSL@" { print ssl; print extra; next } { print }' \
        "$dir/prosody.cfg.lua.tmp" >"$dir/prosody.cfg.lua"
    rm -f "$dir/prosody.cfg.lua.tmp"
    XT_PROSODY_DIR[$name]=$dir
    for p in 5222 5269; do
        xt_port_free "$ip" "$p" || xt_fatal "$ip:$p is free for $name" "something listens there"
    done
    "$PROSODY" -F --config "$dir/prosody.cfg.lua" >>"$dir/stdout.log" 2>&1 &
    PT_PID[prosody.$name]=$!
    if ! xt_wait_port "$ip" 5269 20 || ! xt_wait_port "$ip" 5222 5; then
        xt_fatal "prosody $name listens on $ip:5269 and :5222" \
            "$(tail -n 5 "$dir/stdout.log" "$dir/prosody.log" 2>/dev/null)"
    fi
}

# xt_prosody_user NAME USER PASSWORD (works whether or not it runs).
xt_prosody_user() {
    local dir=${XT_PROSODY_DIR[$1]} domain
    domain=$(sed -n 's/^VirtualHost "\(.*\)"$/\1/p' "$dir/prosody.cfg.lua")
    "$PROSODYCTL" --config "$dir/prosody.cfg.lua" register "$2" "$domain" "$3" \
        >>"$dir/prosodyctl.log" 2>&1 ||
        xt_fatal "prosodyctl register $2@$domain" "$(tail -n 3 "$dir/prosodyctl.log")"
}

# xt_prosody_s2s NAME: the s2s sessions as Prosody's admin shell shows them.
xt_prosody_s2s() {
    local dir=${XT_PROSODY_DIR[$1]}
    echo 's2s:show()' | timeout 10 "$PROSODYCTL" --config "$dir/prosody.cfg.lua" shell 2>&1
}

xt_prosody_stop() { pt_stop "prosody.$1" TERM; }

# xt_prosody_log NAME PATTERN: 0 when Prosody's log has a line matching the
# extended regex PATTERN.
xt_prosody_log() { grep -Eq -- "$2" "${XT_PROSODY_DIR[$1]}/prosody.log"; }

# ---- ejabberd -------------------------------------------------------------------

EJABBERD_ERL=${XT_EJABBERD_ERL:-/usr/bin/erl}
EJABBERD_LIBS=/usr/lib/x86_64-linux-gnu

# xt_ejabberd_available: 0 when the ejabberd package is installed.
xt_ejabberd_available() {
    [[ -x $EJABBERD_ERL ]] && compgen -G "$EJABBERD_LIBS/ejabberd-*/ebin/ejabberd.beam" >/dev/null
}

# xt_ejabberd_start NAME DOMAIN IP [tls|dialback]: ejabberd as a child of the
# test (beam.smp keeps erl's pid), logging to $T/NAME/ejabberd.log; users log
# in as anyone (see tests/xmpp/ejabberd.yml.in).
xt_ejabberd_start() {
    local name=$1 domain=$2 ip=$3 mode=${4:-tls} dir=$T/$1 starttls
    mkdir -p "$dir/db"
    case $mode in
    tls) starttls=required ;;
    dialback) starttls=false ;;
    *) xt_fatal "xt_ejabberd_start: mode" "unknown mode $mode" ;;
    esac
    [[ -f $T/ca/$domain.self.pem ]] || xt_cert "$domain" self
    cat "$T/ca/$domain.self.pem" "$T/ca/$domain.self.key" >"$dir/cert.pem"
    sed -e "s|@DIR@|$dir|g" -e "s|@IP@|$ip|g" -e "s|@DOMAIN@|$domain|g" \
        -e "s|@CAFILE@|$T/ca/other.pem|" -e "s|@S2S_STARTTLS@|$starttls|" \
        "$XT_TPL/ejabberd.yml.in" >"$dir/ejabberd.yml"
    sed -e "s|@DNS_TUPLE@|${XT_DNS_IP//./,}|" "$XT_TPL/inetrc.in" >"$dir/inetrc"
    xt_port_free "$ip" 5269 || xt_fatal "$ip:5269 is free for $name" "something listens there"
    # ejabberd resolves SRV with inet_res (inetrc above) but A/AAAA with the
    # C library's getaddrinfo, which reads /etc/resolv.conf: it runs in a
    # mount namespace of its own where /etc/resolv.conf names the test's
    # dnsmasq and /etc/hosts holds only localhost.
    echo "nameserver $XT_DNS_IP" >"$dir/resolv.conf"
    printf '127.0.0.1 localhost\n' >"$dir/hosts"
    (
        cd "$dir" || exit 1
        export EJABBERD_CONFIG_PATH=$dir/ejabberd.yml EJABBERD_LOG_PATH=$dir/ejabberd.log \
            ERL_INETRC=$dir/inetrc ERL_LIBS=$EJABBERD_LIBS ERL_CRASH_DUMP_BYTES=0 HOME=$dir
        # shellcheck disable=SC2016 # ($1 and $2 are the inner shell's)
        exec unshare -m --propagation private /bin/sh -c \
            'mount --bind "$1/resolv.conf" /etc/resolv.conf && mount --bind "$1/hosts" /etc/hosts &&
             exec "$2" -noinput -mnesia dir "\"$1/db\"" -s ejabberd' sh "$dir" "$EJABBERD_ERL"
    ) >>"$dir/stdout.log" 2>&1 &
    PT_PID[ejabberd.$name]=$!
    XT_PROSODY_DIR[$name]=$dir
    if ! xt_wait_port "$ip" 5269 40 || ! xt_wait_port "$ip" 5222 5; then
        xt_fatal "ejabberd $name listens on $ip:5269 and :5222" \
            "$(tail -n 5 "$dir/stdout.log" "$dir/ejabberd.log" 2>/dev/null)"
    fi
}

xt_ejabberd_stop() { pt_stop "ejabberd.$1" TERM; }

# ---- c2s clients ------------------------------------------------------------------

# xt_client_bg ID SERVER JID PASSWORD STEP...: starts tests/tools/xmpp_c2s.py
# in the background and waits until its session is up.
xt_client_bg() {
    local id=$1 server=$2 jid=$3 pw=$4 out=$T/clients/$1.out i
    shift 4
    rm -f "$T/clients/$id.ready"
    XT_CLIENT_OUT[$id]=$out
    "$PY" "$XT_TOOLS/xmpp_c2s.py" --server "$server" --jid "$jid" --password "$pw" \
        --resource "$id" --ready "$T/clients/$id.ready" "$@" >"$out" 2>&1 &
    PT_PID[client.$id]=$!
    for ((i = 0; i < 100; i++)); do
        [[ -f $T/clients/$id.ready ]] && return 0
        pt_alive "${PT_PID[client.$id]}" || break
        sleep 0.1
    done
    xt_fatal "client $id ($jid) logs in at $server" "$(tail -n 3 "$out")"
}

# xt_client_wait ID [SECS]: waits for the background client; returns its
# exit status (124 when it had to be killed after SECS).
xt_client_wait() {
    local id=$1 secs=${2:-60} pid=${PT_PID[client.$1]} i rc
    for ((i = 0; i < secs * 10; i++)); do
        pt_alive "$pid" || break
        sleep 0.1
    done
    if pt_alive "$pid"; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        unset "PT_PID[client.$id]"
        return 124
    fi
    wait "$pid"
    rc=$?
    unset "PT_PID[client.$id]"
    return $rc
}

# xt_client ID SERVER JID PASSWORD STEP...: runs a client to completion.
xt_client() {
    local id=$1 server=$2 jid=$3 pw=$4 out=$T/clients/$1.out
    shift 4
    XT_CLIENT_OUT[$id]=$out
    timeout 90 "$PY" "$XT_TOOLS/xmpp_c2s.py" --server "$server" --jid "$jid" --password "$pw" \
        --resource "$id" "$@" >"$out" 2>&1
}

# xt_check_client DESCRIPTION ID: the background client ID finished with 0.
xt_check_client() {
    local rc
    xt_client_wait "$2" "${3:-60}"
    rc=$?
    if [[ $rc == 0 ]]; then
        ok "$1"
    else
        bad "$1" "xmpp_c2s.py (client $2)" "exit 0 (every step passed)" \
            "exit $rc: $(tail -n 4 "${XT_CLIENT_OUT[$2]}" | paste -sd'|')"
    fi
}

# ---- the gateway group ------------------------------------------------------------

XT_GW_METRICS_PORT=19471 # xmppd's /metrics, on $XT_GW_IP
XT_XMPPD_EXTRA=()        # extra [xmppd] lines a test sets before xt_gw_config

# Overrides lib_policy.sh's config: the group of the XMPP edge tests. Every
# ZeroMQ endpoint is ipc:// in $T; xmppd listens for s2s on $XT_GW_IP:5269,
# serves /metrics on $XT_GW_IP:$XT_GW_METRICS_PORT and asks only the test's
# dnsmasq.
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
domains = "$XT_GW_DOMAIN"
heartbeat_interval = 200ms
retry_interval = 200ms
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
[sipd]
metrics_port = 0
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
    } >"$CONF"
}

# xt_gw_config: rewrites $CONF after XT_XMPPD_EXTRA changed (xt_init wrote
# the first one through pt_init).
xt_gw_config() { pt_write_config; }

# xt_gw_start: broker, policyd, certd, the SIP-side test worker (every
# Deliver it gets goes to $T/sip.log) and xmppd; waits until each answers
# and xmppd holds a rule set; then global policy federation+xmpp on, the
# test CA as trust anchor and a test-CA certificate for gw.test assigned for
# xmpp. Fails the test at once when a step fails.
xt_gw_start() {
    local svc id
    xt_need "$BIN/xgw-certd" "$BIN/xgw-broker" "$BIN/xgw-policyd" "$BIN/xgw-xmppd" "$BIN/tests/xgw-testsip"
    xt_port_free "$XT_GW_IP" 5269 || xt_fatal "$XT_GW_IP:5269 is free" "something listens there"
    pt_start broker
    pt_start policyd
    pt_start certd
    "$BIN/tests/xgw-testsip" --log "$T/sip.log" -c "$CONF" >>"$T/testsip.log" 2>&1 &
    PT_PID[testsip]=$!
    for svc in policy cert sip; do
        pt_wait_ping "$svc" 30 || xt_fatal "$svc answers ping" "exit $RC: $ERR"
    done
    x policy set global --federation on --xmpp on
    [[ $RC == 0 ]] || xt_fatal "xgwctl policy set global --federation on --xmpp on" "$ERR"
    [[ -f $T/ca/ca.pem ]] || xt_ca_init
    [[ -f $T/ca/$XT_GW_DOMAIN.pem ]] || xt_cert "$XT_GW_DOMAIN" ca
    x cert trust add "$T/ca/ca.pem"
    [[ $RC == 0 ]] || xt_fatal "xgwctl cert trust add (test CA)" "$OUT $ERR"
    x cert import --cert "$T/ca/$XT_GW_DOMAIN.pem" --key "$T/ca/$XT_GW_DOMAIN.key"
    [[ $RC == 0 ]] || xt_fatal "xgwctl cert import (gw.test)" "$OUT $ERR"
    id=$(grep -oE '\b[0-9a-f]{8}\b' <<<"$OUT" | head -n 1)
    x cert assign "$id" --usage xmpp --domain "$XT_GW_DOMAIN"
    [[ $RC == 0 ]] || xt_fatal "xgwctl cert assign $id --usage xmpp" "$OUT $ERR"
    pt_start xmppd
    if ! pt_wait_ping xmpp 30 || ! xt_wait_replica 30; then
        xt_fatal "xmppd answers and holds a rule set" "exit $RC: $OUT $ERR"
    fi
    [[ ${XT_GW_NO_LISTEN:-0} == 1 ]] && return 0 # (the harness's own test of the group)
    xt_wait_port "$XT_GW_IP" 5269 10 || xt_fatal "xmppd listens on $XT_GW_IP:5269" \
        "$(tail -n 5 "$T/xmppd.log")"
}

# The replica probe of lib_policy.sh, for the gateway's domain.
xt_wait_replica() {
    local secs=${1:-20} deadline
    deadline=$(($(now_ms) + secs * 1000))
    while (($(now_ms) < deadline)); do
        xq decide --edge xmpp --from "sip:probe@$XT_GW_DOMAIN" --to xmpp:probe@probe.test \
            --kind message
        [[ $RC == 0 ]] && return 0
        sleep 0.1
    done
    return 1
}

# xt_partner DOMAIN dialback|tls|external|tls-dialback-any [partner add options...]
#   dialback  no TLS, dialback
#   tls       TLS required, dialback (no SASL)
#   external  TLS required, SASL EXTERNAL required, no dialback
xt_partner() {
    local d=$1 mode=$2
    shift 2
    case $mode in
    dialback) set -- --tls not-supported --sasl not-supported --dialback on "$@" ;;
    tls) set -- --tls required --sasl not-supported --dialback on "$@" ;;
    external) set -- --tls required --sasl required --dialback off "$@" ;;
    *) xt_fatal "xt_partner: mode" "unknown mode $mode" ;;
    esac
    x partner add "$d" --type federated "$@"
    if [[ $RC != 0 ]]; then
        x partner set "$d" --type federated "$@"
    fi
    [[ $RC == 0 ]] || xt_fatal "xgwctl partner add $d $*" "exit $RC: $OUT $ERR"
}

# xt_sip_send KIND FROM TO [send options...]: a Deliver from the SIP side to
# xmppd (xgw-testsip send); sets RC and OUT ("status=200" or
# "status=NNN condition=...").
xt_sip_send() {
    local kind=$1 from=$2 to=$3
    shift 3
    OUT=$("$BIN/tests/xgw-testsip" send -c "$CONF" --kind "$kind" --from "$from" --to "$to" "$@" \
        2>&1)
    RC=$?
    echo "send $kind $from -> $to: $OUT" >>"$T/sipsend.log"
}

# xt_sip_count PATTERN: how many Deliver lines in $T/sip.log match the
# extended regex PATTERN.
xt_sip_count() { grep -cE -- "$1" "$T/sip.log" 2>/dev/null || true; }

# xt_sip_wait PATTERN [SECS]: 0 once a Deliver line matches.
xt_sip_wait() {
    local pat=$1 secs=${2:-20} deadline
    deadline=$(($(now_ms) + secs * 1000))
    while (($(now_ms) < deadline)); do
        grep -qE -- "$pat" "$T/sip.log" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# xt_metric NAME_REGEX: the sum of xmppd's samples whose "name{labels}"
# matches the extended regex (0 when none).
xt_metric() {
    curl -s --max-time 3 "http://$XT_GW_IP:$XT_GW_METRICS_PORT/metrics" |
        grep -E "^($1)[ {},]" | awk '{ s += $NF } END { printf "%d\n", s }'
}

# xt_metric_lines FAMILY: xmppd's samples of FAMILY, one line (for messages).
xt_metric_lines() {
    curl -s --max-time 3 "http://$XT_GW_IP:$XT_GW_METRICS_PORT/metrics" | grep -E "^$1[ {]" |
        paste -sd' '
}

# xt_log_wait FILE PATTERN [SECS]: 0 once FILE has a line matching PATTERN.
xt_log_wait() {
    local f=$1 pat=$2 secs=${3:-10} deadline
    deadline=$(($(now_ms) + secs * 1000))
    while (($(now_ms) < deadline)); do
        grep -qE -- "$pat" "$f" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# xt_raw ID ARGS...: runs tests/tools/xmpp_raw_peer.py; output in
# $T/raw-ID.out; sets RC.
xt_raw() {
    local id=$1
    shift
    timeout 120 "$PY" "$XT_TOOLS/xmpp_raw_peer.py" "$@" >"$T/raw-$id.out" 2>&1
    RC=$?
}

# xt_raw_bg ID ARGS...: the same in the background (pid in PT_PID[rawpeer.ID]).
# No timeout(1) wrapper: the pid must be the peer's own, so that stopping it
# stops the peer (its own deadlines, --duration and --within, bound its life).
xt_raw_bg() {
    local id=$1
    shift
    "$PY" "$XT_TOOLS/xmpp_raw_peer.py" "$@" >"$T/raw-$id.out" 2>&1 &
    PT_PID[rawpeer.$id]=$!
}

# xt_raw_wait ID: waits for a background raw peer; sets RC to its status.
xt_raw_wait() {
    local pid=${PT_PID[rawpeer.$1]}
    wait "$pid"
    RC=$?
    unset "PT_PID[rawpeer.$1]"
}

# xt_raw_verdict ID: the raw peer's last line without its timestamp.
xt_raw_verdict() { tail -n 1 "$T/raw-$1.out" 2>/dev/null | sed 's/^ *[0-9.]* //'; }

# ---- interop scenario (test_xmpp_prosody_*.sh, test_xmpp_ejabberd.sh) -------------

# xt_re TEXT: TEXT with regex metacharacters escaped (for grep -E).
xt_re() { sed 's/[][\.*^$+?(){}|/]/\\&/g' <<<"$1"; }

# xt_check_deliver DESCRIPTION KIND FROM_BARE TO_BARE [FIELD=VALUE | raw:TEXT]...
# [SECS]: a Deliver line of KIND from FROM_BARE (any resource) to TO_BARE
# with each FIELD="VALUE" (quoted fields) or TEXT (e.g. raw:available=1), in
# the order xgw-testsip writes them, appears in $T/sip.log within SECS
# (default 20).
xt_check_deliver() {
    local desc=$1 kind=$2 from to pat secs=20 f
    from=$(xt_re "$3")
    to=$(xt_re "$4")
    shift 4
    pat="^deliver kind=$kind from=\"$from(/[^\"]*)?\" to=\"$to(/[^\"]*)?\""
    for f in "$@"; do
        if [[ $f =~ ^[0-9]+$ ]]; then
            secs=$f
        elif [[ $f == raw:* ]]; then
            pat+=".* $(xt_re "${f#raw:}")"
        else
            pat+=".* ${f%%=*}=\"$(xt_re "${f#*=}")\""
        fi
    done
    if xt_sip_wait "$pat" "$secs"; then
        ok "$desc"
    else
        bad "$desc" "grep -E '$pat' sip.log" "a matching Deliver within $secs s" \
            "$(tail -n 3 "$T/sip.log" 2>/dev/null | paste -sd'|' | cut -c1-600)"
    fi
}

# xt_interop KIND MODE: the interop scenario of issue 5 against one real
# server, KIND prosody (pa.test) or ejabberd (ej.test), in MODE dialback |
# tls | external (the partner's settings and the server's configuration
# agree). First the gateway dials the server: a message and a presence from
# alice@gw.test (Deliver requests, as sipd sends them) reach bob's client
# there. Then the server dials the gateway (on its own stream: no bidi):
# carol's message and directed presence reach the SIP side as Deliver
# requests. The two halves do not depend on each other. Sets XT_PEER (the
# domain) and XT_PEER_NAME for the caller's own checks.
xt_interop() {
    local kind=$1 mode=$2 ip tag n
    case $kind in
    prosody) XT_PEER=pa.test XT_PEER_NAME=a ip=$XT_PA_IP ;;
    ejabberd) XT_PEER=ej.test XT_PEER_NAME=ej ip=$XT_EJ_IP ;;
    esac
    tag="$kind/$mode"
    xt_dns_record "host-record=$XT_PEER,$ip" "host-record=$XT_GW_DOMAIN,$XT_GW_IP"
    xt_dns_start
    xt_ca_init
    xt_gw_start
    xt_partner "$XT_PEER" "$mode"
    pt_wait_edge_version 5 || xt_fatal "the edge has partner $XT_PEER" "$(ruleset_version --edge xmpp)"
    if [[ $kind == prosody ]]; then
        xt_prosody_start "$XT_PEER_NAME" "$XT_PEER" "$ip" "$mode"
        xt_prosody_user "$XT_PEER_NAME" bob pw
        xt_prosody_user "$XT_PEER_NAME" carol pw
    else
        xt_ejabberd_start "$XT_PEER_NAME" "$XT_PEER" "$ip" "$mode"
    fi

    # The gateway dials the server.
    xt_client_bg bob "$ip:5222" "bob@$XT_PEER" pw presence \
        "expect-message alice@$XT_GW_DOMAIN sip to xmpp in $tag 30" \
        "expect-presence alice@$XT_GW_DOMAIN 30"
    xt_sip_send message "alice@$XT_GW_DOMAIN" "bob@$XT_PEER" --body "sip to xmpp in $tag"
    [[ $RC == 0 && $OUT == "status=200" ]] &&
        ok "$tag: gateway -> $XT_PEER: the message is accepted (status=200)" ||
        bad "$tag: gateway -> $XT_PEER: the message is accepted" "xgw-testsip send --kind message" \
            "status=200" "exit $RC: $OUT"
    xt_sip_send presence "alice@$XT_GW_DOMAIN" "bob@$XT_PEER" --show away --status "at lunch"
    [[ $RC == 0 && $OUT == "status=200" ]] &&
        ok "$tag: gateway -> $XT_PEER: the presence is accepted (status=200)" ||
        bad "$tag: gateway -> $XT_PEER: the presence is accepted" "xgw-testsip send --kind presence" \
            "status=200" "exit $RC: $OUT"
    xt_check_client "$tag: gateway -> $XT_PEER: bob's client got alice's message and presence" bob 40

    # The server dials the gateway.
    xt_client carol "$ip:5222" "carol@$XT_PEER" pw presence \
        "message alice@$XT_GW_DOMAIN xmpp to sip in $tag" "dpresence alice@$XT_GW_DOMAIN away" \
        "wait 1"
    xt_check_deliver "$tag: $XT_PEER -> gateway: carol's message reaches the SIP side" message \
        "carol@$XT_PEER" "alice@$XT_GW_DOMAIN" type=chat body="xmpp to sip in $tag"
    xt_check_deliver "$tag: $XT_PEER -> gateway: carol's presence reaches the SIP side" presence \
        "carol@$XT_PEER" "alice@$XT_GW_DOMAIN" raw:available=1 show=away
    n=$(xt_sip_count '^deliver kind=message')
    [[ $n == 1 ]] && ok "$tag: exactly one message reached the SIP side" ||
        bad "$tag: exactly one message reached the SIP side" "grep -c 'kind=message' sip.log" 1 "$n"
}

# xt_prosody_row NAME REMOTE DIR: the s2s:show() row of Prosody instance
# NAME towards REMOTE in direction DIR (--> or <--), spaces squeezed.
xt_prosody_row() {
    xt_prosody_s2s "$1" | grep -F "| $3 " | grep -F " $2 " | head -n 1 | tr -s ' '
}

# xt_check_prosody_mode NAME MODE: both of Prosody's streams with the gateway
# are authenticated the way MODE says.
xt_check_prosody_mode() {
    local name=$1 mode=$2 dir row want
    for dir in '-->' '<--'; do
        row=$(xt_prosody_row "$name" "$XT_GW_DOMAIN" "$dir")
        case $mode/$dir in
        'dialback/-->') want='\| insecure \| \| Completed' ;;
        'dialback/<--') want='\| insecure \| \| (Not used|Completed)' ;;
        'tls/-->') want='\| TLSv1\.[23] \| (Failed )?\| Completed' ;;
        # Prosody may offer EXTERNAL to the gateway (it trusts the test CA);
        # the partner's settings make the gateway decline it.
        'tls/<--') want='\| TLSv1\.[23] \| (Offered )?\| (Not used|Completed)' ;;
        external/*) want='\| TLSv1\.[23] \| Succeeded \| Not used' ;;
        esac
        [[ $row =~ $want ]] && ok "$mode: Prosody's stream $dir $XT_GW_DOMAIN: $row" ||
            bad "$mode: Prosody's stream $dir $XT_GW_DOMAIN is authenticated by $mode" \
                "prosodyctl shell s2s:show()" "$want" "${row:-no row}"
    done
}

# xt_check_xmppd_mode REMOTE MODE: xmppd's own log agrees: in both
# directions, TLS (tls, external) or none (dialback), then authentication by
# dialback (dialback, tls) or SASL EXTERNAL (external).
xt_check_xmppd_mode() {
    local remote=$1 mode=$2 re dir auth tls_ok
    re=$(xt_re "$remote")
    case $mode in external) auth=sasl ;; *) auth=dialback ;; esac
    for dir in in out; do
        if grep -qE "event=tls_established .*dir=$dir remote=$re( |$)" "$T/xmppd.log"; then
            tls_ok=$([[ $mode != dialback ]] && echo 1 || echo 0)
        else
            tls_ok=$([[ $mode == dialback ]] && echo 1 || echo 0)
        fi
        [[ $tls_ok == 1 ]] &&
            grep -qE "event=stream_authenticated .*dir=$dir .*remote=$re auth=$auth" "$T/xmppd.log" &&
            ok "$mode: xmppd's $dir stream with $remote: $([[ $mode == dialback ]] && echo "no TLS" || echo TLS), auth=$auth" ||
            bad "$mode: xmppd's $dir stream with $remote is $mode" "grep xmppd.log" \
                "tls_established dir=$dir: $([[ $mode == dialback ]] && echo no || echo yes); stream_authenticated dir=$dir auth=$auth" \
                "$(grep -E "dir=$dir .*remote=$re( |$)" "$T/xmppd.log" | grep -E 'tls_|authenticated|refused|error' | sed 's/.*event=/event=/' | head -n 3 | paste -sd'|')"
    done
}
