#!/usr/bin/env bash
# test_policy_badinput.sh - malformed xgwctl invocations (issue 3: "bad input
# gets a precise message and changes nothing") against a real xgw-broker and
# xgw-policyd (SQLite store), on ipc:// in a temporary folder.
#
# Each row of the table: exit code 2, one line on stderr containing the
# expected fragment, nothing on stdout. After the whole table the store is
# byte-identical (`--json` policy/partner/deny/gateway/user/contact show)
# and the rule-set version has not moved (nothing was committed).
# Then the broker is stopped: usage errors still exit 2 (xgwctl judges them
# alone), a valid command exits 1 (runtime failure).
# "COND && ok ... || bad ...": ok always returns 0, so bad runs only when COND fails.
# shellcheck disable=SC2015
set -uo pipefail
NAME=test_policy_badinput
# shellcheck source=lib_policy.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_policy.sh"

pt_init
pt_start_group core

# ---- a store with one of everything ---------------------------------------------
check_ok "setup: global federation+xmpp on" policy set global --federation on --xmpp on
check_ok "setup: site policy siteP" policy new siteP --scope site:paris --federation on --xmpp on
check_ok "setup: user policy tagA" policy new tagA --scope user --federation on --description "a tag"
check_ok "setup: bob in paris" user set bob@example.net --site paris
check_ok "setup: grant tagA to bob" policy grant bob@example.net tagA
check_ok "setup: partner other.example" \
    partner add other.example --type federated --dialback off --additional-domains sub.other.example
check_ok "setup: partner second.example" partner add second.example --tls optional --sasl optional
check_ok "setup: deny evil.example" deny add evil.example
check_ok "setup: deny *.bad.example" deny add '*.bad.example'
check_ok "setup: gateway connection limit 500" gateway set --connection-limit 500
check_ok "setup: contact" contact set bob@example.net x@other.example --sip-added on

SHOWS=("policy show" "partner show" "deny show" "gateway show" "user show" "contact show")
snapshot() {
    local s out=""
    for s in "${SHOWS[@]}"; do
        # shellcheck disable=SC2086
        x --json $s
        out+="== $s (exit $RC)"$'\n'"$OUT"$'\n'"$ERR"$'\n'
    done
    printf '%s' "$out"
}
BEFORE=$(snapshot)
VERSION_BEFORE=$(ruleset_version)
for s in "${SHOWS[@]}"; do
    [[ $BEFORE == *"== $s (exit 0)"* ]] || bad "snapshot: $s" "xgwctl --json $s" "exit 0" "$BEFORE"
done

L63=$(printf 'a%.0s' {1..63})
L64=$(printf 'a%.0s' {1..64})
D253=$L63.$(printf 'b%.0s' {1..63}).$(printf 'c%.0s' {1..63}).$(printf 'd%.0s' {1..61})
D254=$L63.$(printf 'b%.0s' {1..63}).$(printf 'c%.0s' {1..63}).$(printf 'd%.0s' {1..62})
N65=$(printf 'p%.0s' {1..65})
DESC257=$(printf 'd%.0s' {1..257})
BADUTF8=$(printf 'caf\xe9 \xff')

# Sanity of the generated values (a wrong table would test nothing).
[[ ${#D253} == 253 && ${#D254} == 254 && ${#L64} == 64 && ${#N65} == 65 && ${#DESC257} == 257 ]] &&
    ok "generated lengths: 253, 254, 64, 65, 257" ||
    bad "generated lengths" "(test table)" "253 254 64 65 257" \
        "${#D253} ${#D254} ${#L64} ${#N65} ${#DESC257}"

ROWS=0
row() { # FRAGMENT ARGS...: exit 2 expected
    local frag=$1
    shift
    ROWS=$((ROWS + 1))
    check_fails "bad input $ROWS: $*" 2 "$frag" "$@"
}

# -- command line shape (judged by xgwctl itself)
row 'unknown option --bogus for policy show' policy show --bogus
row 'unknown option "--frob"' --frob policy show
row 'option --scope given twice' policy new z --scope user --scope user
row 'option --tls given twice' partner add q.example --tls required --tls=optional
row '--scope needs a value' policy new z --scope
row '--none takes no value' policy grant bob@example.net --none=yes
row 'unknown command "frob"' frob
row 'unknown command "policy frob"' policy frob
row 'unknown command "widget"' widget show
row 'missing argument; usage: xgwctl policy new NAME' policy new
row 'missing argument; usage: xgwctl partner add DOMAIN' partner add
row 'missing argument; usage: xgwctl contact set USER JID' contact set bob@example.net
row 'unexpected argument "b"' policy show a b
row 'unexpected argument "extra"' deny add x.example extra
row 'unknown option --site for policy new' policy new z --scope user --site paris
# -- domains
row 'domain "a..example" has an empty label' partner add a..example
row "domain \"-a.example\": a label may not start or end with '-'" partner add -a.example
row "a label may not start or end with '-'" partner add a-.example
row "domain \"a_b.example\" may only contain letters, digits, '-' and '.'" partner add a_b.example
row 'has a label longer than 63 characters' partner add "$L64.example"
row 'domain is longer than 253 characters' partner add "$D254"
row 'domain "localhost" needs at least two labels' partner add localhost
row 'is not ASCII: give an internationalized domain in its A-label (xn--) form' \
    partner add bücher.example
row 'is not ASCII' deny add bücher.example
row 'domain is empty' deny add ''
# -- policies
row 'policy name is longer than 64 characters' policy new "$N65" --scope user
row "policy name \"bad name!\" may only contain letters, digits, '.', '_' and '-'" \
    policy new 'bad name!' --scope user
row 'no policy named nope' policy set nope --xmpp on
row 'no policy named nope' policy remove nope
row 'no policy named nope' policy grant bob@example.net nope
row 'no policy named nope' policy show nope
row 'policy siteP is a site policy; only user policies are granted' \
    policy grant bob@example.net siteP
row 'policy global is a global policy; only user policies are granted' \
    policy grant bob@example.net global
row '--scope is required (global, site:NAME, user)' policy new z
row '--scope: "planet" is not a scope (global, site:NAME, user)' policy new z --scope planet
row '--scope: site name is empty' policy new z --scope site:
row 'policy tagA exists (change it with policy set)' policy new tagA --scope user
row 'policy global exists' policy new global --scope global
row 'site paris already has policy siteP (one policy per site)' \
    policy new siteQ --scope site:paris --federation on
row 'xmpp on needs federation on' policy new z --scope user --xmpp on
row 'xmpp on needs federation on' policy set global --federation off
row 'xmpp on needs federation on' policy set tagA --xmpp on --federation off
row '--federation: "maybe" is not on or off' policy new z --scope user --federation maybe
row '--outside: "" is not on or off' policy set tagA --outside=
row 'give either a policy name or --none' policy grant bob@example.net tagA --none
row 'give either a policy name or --none' policy grant bob@example.net
row 'nothing to change: give at least one option' policy set tagA
row 'policy tagA is granted to 1 user(s); revoke it first' policy remove tagA
# -- partners
row '--type: "friendly" is not a partner type (federated, public-verified, public-unverified)' \
    partner add q.example --type friendly
row '--tls: "sometimes" is not required, optional or not-supported' \
    partner add q.example --tls sometimes
row '--sasl: "Required" is not required, optional or not-supported' \
    partner add q.example --sasl Required
row '--dialback: "2" is not on or off' partner add q.example --dialback 2
row "q.example is the partner's own domain, not an additional one" \
    partner add q.example --dialback off --additional-domains q.example
row 'sub.other.example already belongs to partner other.example' \
    partner add q.example --dialback off --additional-domains sub.other.example
# With the default tls/sasl/dialback (a warned combination): the refusal is
# still the only line (no warning about a partner that was not stored).
row 'sub.other.example already belongs to partner other.example' \
    partner add q.example --additional-domains sub.other.example
row 'sub.other.example already belongs to partner other.example' \
    partner set second.example --additional-domains sub.other.example
row '--additional-domains: domain a.example is listed twice' \
    partner add q.example --additional-domains a.example,A.example
row '--additional-domains: empty entry in the domain list' \
    partner add q.example --additional-domains a.example,,b.example
row 'partner other.example exists (change it with partner set)' partner add other.example
row 'sub.other.example is an additional domain of partner other.example' \
    partner add sub.other.example
row 'no partner nope.example' partner set nope.example --type federated
row 'no partner nope.example' partner remove nope.example
row 'nothing to change: give at least one option' partner set other.example
row 'proxy "h.example:0": port 0 is outside 1..65535' partner add q.example --proxy-fqdn h.example:0
row 'proxy "h.example:70000": port 70000 is outside 1..65535' \
    partner add q.example --proxy-fqdn h.example:70000
row 'proxy "h.example:abc": port "abc" is not a whole number' \
    partner add q.example --proxy-fqdn h.example:abc
row "--proxy-fqdn: proxy: domain \"bad_host.example\" may only contain" \
    partner add q.example --proxy-fqdn bad_host.example:5269
row '--connection-limit: "-1" is not a whole number' partner add q.example --connection-limit -1
row '--connection-limit: "abc" is not a whole number' partner add q.example --connection-limit abc
row '--connection-limit: 100001 is outside 0..100000' \
    partner add q.example --connection-limit 100001
row '--description: description is longer than 256 bytes' \
    partner add q.example --description "$DESC257"
row '--description: description is not valid UTF-8' \
    partner add q.example --description "$BADUTF8"
row '--description: description is not valid UTF-8' policy set tagA --description "$(printf '\xff')"
row '--description: description has a control character' \
    policy set tagA --description "$(printf 'a\tb')"
row 'q.example: SASL needs TLS' partner add q.example --tls not-supported
row 'q.example: no usable authentication' \
    partner add q.example --sasl not-supported --dialback off
# -- gateway
row 'nothing to change: give at least one option' gateway set
row '--partner-connection-limit 600 is above the connection limit 500' \
    gateway set --partner-connection-limit 600
row '--partner-connection-limit 30 is above the connection limit 20' \
    gateway set --connection-limit 20 --partner-connection-limit 30
row '--connection-limit: 0 is outside 1..100000' gateway set --connection-limit 0
row '--keepalive-interval: 5 is outside 10..3600 seconds' gateway set --keepalive-interval 5
row '--keepalive-interval: 3601 is outside 10..3600 seconds' gateway set --keepalive-interval 3601s
row '--keepalive-interval: "5m" is not a whole number' gateway set --keepalive-interval 5m
row '--stream-inactivity-timeout: 29 is outside 30..86400 seconds' \
    gateway set --stream-inactivity-timeout 29
row '--log-message-bodies: "maybe" is not on or off' gateway set --log-message-bodies maybe
row 'unknown option --dialback for gateway set' gateway set --dialback on
# -- users and contacts
row '"bobexample.net" is not a SIP address (sip:user@domain or user@domain)' \
    user set bobexample.net --site paris
row 'is not a SIP address' policy grant sip:@example.net tagA
row 'is not a SIP address' policy effective alice
row '--site is required (use --site none to clear it)' user set bob@example.net
row "--site: site name \"a b\" may only contain" user set bob@example.net --site 'a b'
row 'no user entry for nobody@example.net' user remove nobody@example.net
row 'domain "example" needs at least two labels' user set alice@example --site paris
row 'nothing to change: give --sip-added and/or --xmpp-subscribed' \
    contact set bob@example.net x@other.example
row 'is not an XMPP address' contact set bob@example.net other.example --sip-added on
row 'no contact bob@example.net -> y@other.example' contact remove bob@example.net y@other.example
# -- deny list
row 'absent.example is not on the deny list' deny remove absent.example
row '"a.*.example": a wildcard is only allowed as a leading "*."' deny add 'a.*.example'
row 'a wildcard is only allowed as a leading "*."' deny add '*example.com'
row '*.evil.example is not on the deny list' deny remove '*.evil.example'
# -- decide
row '--kind "call" is not message, subscribe, presence or probe' \
    decide --from sip:u@example.net --to xmpp:x@other.example --kind call
row 'decide needs --from, --to and --kind' decide --from sip:u@example.net --kind message
row '--from given twice' decide --from sip:u@example.net --from sip:v@example.net
row '--edge "smtp" is not xmpp or sip' \
    decide --edge smtp --from sip:u@example.net --to xmpp:x@other.example --kind message
row 'to is not user@domain' decide --from sip:u@example.net --to xmpp:other.example --kind message

if ((ROWS >= 35)); then ok "the table has $ROWS rows (at least 35)"; else
    bad "the table has at least 35 rows" "(test table)" ">= 35" "$ROWS"
fi

# ---- nothing changed ------------------------------------------------------------------
AFTER=$(snapshot)
if [[ $AFTER == "$BEFORE" ]]; then
    ok "store byte-identical after the table (policy, partner, deny, gateway, user, contact)"
else
    bad "store byte-identical after the table" "xgwctl --json {policy,partner,deny,gateway,user,contact} show" \
        "$BEFORE" "$AFTER"
    diff <(printf '%s\n' "$BEFORE") <(printf '%s\n' "$AFTER") | sed 's/^/    /'
fi
VERSION_AFTER=$(ruleset_version)
[[ -n $VERSION_BEFORE && $VERSION_AFTER == "$VERSION_BEFORE" ]] &&
    ok "rule-set version unchanged ($VERSION_AFTER): nothing was committed" ||
    bad "rule-set version unchanged" "xgwctl decide ..." "version=$VERSION_BEFORE" \
        "version=$VERSION_AFTER"
# policyd logged every refusal (one line each, reason quoted).
refusals=$(grep -c 'event=policy_change_refused' "$T/policyd.log")
((refusals > 0)) && ok "policyd logged $refusals refusals" ||
    bad "policyd logs refusals" "grep policy_change_refused policyd.log" "> 0" "$refusals"

# The --dry-run of a valid change is accepted and changes nothing either.
x partner add dry.example --type federated --dialback off --dry-run
[[ $RC == 0 && $OUT == *"dry run"* ]] && ok "--dry-run of a valid change: exit 0, dry run" ||
    bad "--dry-run of a valid change" "xgwctl partner add dry.example ... --dry-run" \
        "exit 0, \"dry run\"" "exit $RC: $OUT $ERR"
[[ $(snapshot) == "$BEFORE" ]] && ok "store unchanged after --dry-run" ||
    bad "store unchanged after --dry-run" "xgwctl --json partner show" "$BEFORE" "$(snapshot)"

# ---- broker down ------------------------------------------------------------------------
pt_stop broker TERM
x --set xgwctl.timeout=1s policy show --bogus
[[ $RC == 2 && $ERR == *"unknown option --bogus"* ]] &&
    ok "broker down: unknown option still exits 2" ||
    bad "broker down: unknown option exits 2" "xgwctl policy show --bogus" \
        "exit 2, unknown option --bogus" "exit $RC: $ERR"
x --set xgwctl.timeout=1s --bogus policy show
[[ $RC == 2 && $ERR == *'unknown option "--bogus"'* ]] &&
    ok "broker down: unknown global option exits 2" ||
    bad "broker down: unknown global option exits 2" "xgwctl --bogus policy show" \
        "exit 2, unknown option" "exit $RC: $ERR"
x --set xgwctl.timeout=1s policy new z --scope
[[ $RC == 2 && $ERR == *"--scope needs a value"* ]] &&
    ok "broker down: missing option value exits 2" ||
    bad "broker down: missing option value exits 2" "xgwctl policy new z --scope" \
        "exit 2, --scope needs a value" "exit $RC: $ERR"
x --set xgwctl.timeout=1s decide --from sip:u@example.net --to xmpp:x@other.example --kind call
[[ $RC == 2 && $ERR == *'--kind "call"'* ]] && ok "broker down: decide with a bad kind exits 2" ||
    bad "broker down: decide with a bad kind exits 2" "xgwctl decide ... --kind call" \
        "exit 2" "exit $RC: $ERR"
t0=$(now_ms)
x --set xgwctl.timeout=1s policy show
t1=$(now_ms)
[[ $RC == 1 && $ERR == *"does not answer"* && -z $OUT ]] &&
    ok "broker down: a valid command exits 1 ($((t1 - t0)) ms): $ERR" ||
    bad "broker down: a valid command exits 1" "xgwctl policy show" \
        "exit 1, \"the broker ... does not answer\"" "exit $RC: $OUT $ERR"
x --set xgwctl.timeout=1s partner add valid.example --type federated
[[ $RC == 1 ]] && ok "broker down: a valid change exits 1" ||
    bad "broker down: a valid change exits 1" "xgwctl partner add valid.example --type federated" \
        "exit 1" "exit $RC: $OUT $ERR"

pt_finish
