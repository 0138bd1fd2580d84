#!/usr/bin/env bash
# test_e2e_presence_bare.sh - a presence from a bare JID is about the whole
# account, not a resource (PRS-02, PRS-07). Prosody sends
# <presence from='juliet@xmpp.test' type='unavailable'/> (bare JID) to a new
# subscriber right before <presence type='subscribed'/>; that must not
# become a PIDF tuple of its own next to juliet's real resource (it did: a
# tuple id="ID-" that stayed in every later NOTIFY; fixed in sipd).
#
# What it checks: romeo subscribes to juliet, she approves and is online
# with one resource: the NOTIFY that shows her resource open has no other
# tuple, and none of the NOTIFYs has a tuple id "ID-".
# "COND && ok ... || bad ...": ok always returns 0.
# shellcheck disable=SC2015,SC2119
set -uo pipefail
NAME=test_e2e_presence_bare
# shellcheck source=lib_e2e.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_e2e.sh"

e2e_init
e2e_dns_start
e2e_gw_start
e2e_partner "$E2E_XD" dialback
e2e_prosody_start
e2e_xmpp_start juliet "juliet@$E2E_XD"
e2e_xmpp juliet presence
E2E_V_FROM="sip:romeo@$E2E_SD" E2E_V_RURI="sip:juliet@$E2E_XD" E2E_V_QUIET=3000 \
    e2e_uac_bg watch uac_watch.xml
e2e_xmpp_expect "juliet gets romeo's subscribe" juliet kind=presence type=subscribe \
    "from=romeo@$E2E_SD"
e2e_xmpp juliet "subscribed to=romeo@$E2E_SD"
e2e_sip_expect "a NOTIFY shows juliet's resource open" watch method=NOTIFY \
    'body~=<tuple id="ID-juliet"><status><basic>open</basic>'
e2e_check_sipp "romeo's watcher ends its subscription" watch 30
ids=$("$PY" "$E2E_DIR/sip_trace.py" show --file "$T/sip/watch.msg" method=NOTIFY \
    'body~=<tuple id="ID-juliet"><status><basic>open</basic>' |
    "$PY" -c 'import json, re, sys
for line in sys.stdin:
    print(" ".join(re.findall(r"<tuple id=\"([^\"]*)\"", json.loads(line)["body"])))' | sort -u |
    paste -sd'|')
[[ $ids == ID-juliet ]] && ok "the NOTIFYs with her resource open have that one tuple only (PRS-07)" ||
    bad "one tuple per resource (PRS-07)" "tuple ids of the NOTIFYs with ID-juliet open" "ID-juliet" \
        "$ids"
e2e_sip_expect "no NOTIFY has a tuple for an empty resource (id \"ID-\") (PRS-02)" watch --none \
    --wait 0 method=NOTIFY 'body~=<tuple id="ID-"'
e2e_finish
