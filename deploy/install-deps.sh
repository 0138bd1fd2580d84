#!/usr/bin/env bash
# install-deps.sh - install what xgw needs to build, run and test, on Debian 12.
#
# Run as root. Idempotent and fast on re-runs: it asks dpkg which packages
# are missing and runs apt-get (update, then install) only for those.
#
# It also creates /usr/sbin/policy-rc.d ("exit 101") if there is none, so
# that installing supervisor and prometheus does not start their system
# services (xgw runs its own supervisord and the tests their own Prometheus).
# The file is left in place afterwards: remove it if this machine should let
# package installs start services again.
set -euo pipefail

PACKAGES=(
    # build
    build-essential cmake pkg-config
    libczmq-dev libzmq3-dev libprotobuf-c-dev protobuf-c-compiler
    libstrophe-dev libsofia-sip-ua-dev libssl-dev libexpat1-dev
    libc-ares-dev libsqlite3-dev
    # tests
    libcmocka-dev sqlite3 clang-format clang libclang-rt-14-dev
    # real peers the edge tests start on loopback (XMPP, SIP, DNS)
    prosody lua-unbound ejabberd sip-tester kamailio dnsmasq-base
    python3-slixmpp
    # run, operate, test the process group
    supervisor prometheus curl python3 openssl
)

log() { printf 'install-deps: %s\n' "$*"; }

missing=()
for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    # "ii " = installed; anything else (absent, half-installed, rc) counts as missing
    [[ $status == ii* ]] || missing+=("$p")
done

is_root=0
[[ $(id -u) -eq 0 ]] && is_root=1

if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    if ((is_root)); then
        printf '#!/bin/sh\n# Written by xgw deploy/install-deps.sh: package installs start no services.\nexit 101\n' \
            >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        log "created /usr/sbin/policy-rc.d (exit 101): package installs will not start services"
    elif ((${#missing[@]})); then
        : # the root check below fails anyway
    else
        log "note: /usr/sbin/policy-rc.d is absent (creating it needs root)"
    fi
fi

if ((${#missing[@]} == 0)); then
    log "all ${#PACKAGES[@]} packages are installed"
    exit 0
fi

if ((!is_root)); then
    log "missing packages: ${missing[*]}" >&2
    log "run this script as root to install them" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
log "installing: ${missing[*]}"
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"

still=()
for p in "${missing[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    [[ $status == ii* ]] || still+=("$p")
done
if ((${#still[@]})); then
    log "still missing after apt-get install: ${still[*]}" >&2
    exit 1
fi
log "installed ${#missing[@]} package(s)"
