#!/usr/bin/env bash
# test_e2e_policy_sip_audit.sh - sipd's policy denials are in the audit log
# (DESIGN.md "Policy model": every denial is written to an audit log with the
# rule that decided it), like xmppd's (test_e2e_policy.sh).
#
# What it checks: romeo's MESSAGEs to a domain that is not a partner, to a
# denied partner domain, and under a global policy with federation off each
# get 403 and leave one policy_denied line by=sipd.NN with the rule, the
# local SIP user, the remote JID and the policy source. Nothing XMPP-side
# is needed (the denials happen before xmppd), so no Prosody runs.
# "COND && ok ... || bad ...": ok always returns 0.
# shellcheck disable=SC2015,SC2119
set -uo pipefail
NAME=test_e2e_policy_sip_audit
# shellcheck source=lib_e2e.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_e2e.sh"

e2e_init
e2e_dns_start
e2e_gw_start
e2e_partner "$E2E_XD" dialback
AUDIT=$T/data/audit.log

# denied DESC RURI RULE SOURCE: a 403 and its audit line.
denied() {
    local desc=$1 ruri=$2 rule=$3 src=$4 pat
    e2e_check_uac "$desc: 403" "a$((++n))" 403 "sip:romeo@$E2E_SD" "$ruri" "$desc"
    pat="event=policy_denied by=sipd\.[0-9]+ rule=$rule .*kind=message direction=outbound"
    pat+=" local=[^ ]*romeo@$E2E_SD remote=[^ ]*${ruri#sip:} .*source=$src"
    if xt_log_wait "$AUDIT" "$pat" 5; then
        ok "$desc: audited by sipd with rule $rule, source $src"
    else
        bad "$desc: audited by sipd" "grep -E '$pat' data/audit.log" "one line" \
            "$(tail -n 2 "$AUDIT" 2>/dev/null | paste -sd'|') (sipd.log: $(grep -m1 sip_message_denied "$T/sipd.log" | cut -c1-200))"
    fi
}
n=0
denied "not a partner" "sip:tybalt@$E2E_OD" not_a_partner "[^ ]+"
e2e_partner "$E2E_OD" dialback
e2e_ctl "deny other.test" deny add "$E2E_OD"
denied "deny list" "sip:tybalt@$E2E_OD" deny_list "[^ ]+"
e2e_ctl "global policy off" policy set global --federation off --xmpp off
denied "global policy off" "sip:juliet@$E2E_XD" policy_federation_off global
e2e_finish
