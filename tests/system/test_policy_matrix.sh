#!/usr/bin/env bash
# test_policy_matrix.sh - the TLS x SASL x dialback matrix of XMPP partners
# (issue 3; reference/lync-xmpp-gateway.md b.1, "Negotiation settings for
# XMPP federated partners") through the real xgwctl against a real
# xgw-broker and xgw-policyd (SQLite store), on ipc:// in a temporary folder.
#
# Each of the 18 combinations is added as pN.example and is
#   accepted: exit 0, nothing on stderr, stored as given
#   warned:   exit 0, "warning:" and the expected words on stderr, stored
#   refused:  exit 2, the expected words on stderr, nothing stored
# Expectations (the reference's matrix with the issue's rules: SASL needs
# TLS, some authentication must remain; warnings where dialback will not
# operate or where TLS optional leaves a partner without TLS unable to
# authenticate):
#   refused: tls=not-supported with sasl required|optional; sasl=not-supported
#            with dialback off
#   warned:  required/required/on, optional/required/*, optional/optional/off
#   accepted: the other 7
# Then `partner set` into a refused combination is refused and leaves the
# partner byte-identical; into an accepted or warned one it is stored.
# "COND && ok ... || bad ...": ok always returns 0, so bad runs only when COND fails.
# shellcheck disable=SC2015
set -uo pipefail
NAME=test_policy_matrix
# shellcheck source=lib_policy.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_policy.sh"

pt_init
pt_start_group core

W_BOTH="dialback will not operate when both TLS and SASL are required"
W_OPT_REQ="SASL is required but TLS is optional"
W_OPT_OPT="with TLS optional and dialback off"
R_NOTLS="SASL needs TLS"
R_NOAUTH="no usable authentication"

# tls sasl dialback | outcome | words
MATRIX=(
    "required required on|warn|$W_BOTH"
    "required required off|accept|"
    "optional required on|warn|$W_OPT_REQ"
    "optional required off|warn|$W_OPT_REQ"
    "not-supported required on|refuse|$R_NOTLS"
    "not-supported required off|refuse|$R_NOTLS"
    "required optional on|accept|"
    "required optional off|accept|"
    "optional optional on|accept|"
    "optional optional off|warn|$W_OPT_OPT"
    "not-supported optional on|refuse|$R_NOTLS"
    "not-supported optional off|refuse|$R_NOTLS"
    "required not-supported on|accept|"
    "required not-supported off|refuse|$R_NOAUTH"
    "optional not-supported on|accept|"
    "optional not-supported off|refuse|$R_NOAUTH"
    "not-supported not-supported on|accept|"
    "not-supported not-supported off|refuse|$R_NOAUTH"
)

# stored_as DOMAIN TLS SASL DIALBACK: `--json partner show` says so.
stored_as() {
    x --json partner show "$1"
    [[ $RC == 0 ]] || return 1
    local want
    want=$([[ $4 == on ]] && echo True || echo False)
    python3 -c 'import json,sys
d = json.loads(sys.stdin.read())
sys.exit(0 if (d["domain"], d["tls"], d["sasl"], d["dialback"]) == (sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "True") else 1)' \
        "$1" "$2" "$3" "$want" <<<"$OUT"
}

n=0
accepted=0
warned=0
refused=0
for row in "${MATRIX[@]}"; do
    n=$((n + 1))
    IFS='|' read -r combo outcome words <<<"$row"
    read -r tls sasl db <<<"$combo"
    dom=p$n.example
    cmd="partner add $dom --tls $tls --sasl $sasl --dialback $db"
    x partner add "$dom" --tls "$tls" --sasl "$sasl" --dialback "$db"
    case $outcome in
    accept)
        accepted=$((accepted + 1))
        if [[ $RC == 0 && -z $ERR ]] && stored_as "$dom" "$tls" "$sasl" "$db"; then
            ok "$combo: accepted without warning, stored"
        else
            bad "$combo: accepted without warning, stored" "xgwctl $cmd" \
                "exit 0, empty stderr, partner show: tls=$tls sasl=$sasl dialback=$db" \
                "exit $RC, stderr: $ERR, show: $OUT"
        fi
        ;;
    warn)
        warned=$((warned + 1))
        if [[ $RC == 0 && $ERR == *"warning: $dom: "*"$words"* ]] && stored_as "$dom" "$tls" "$sasl" "$db"; then
            ok "$combo: accepted with the warning \"$words\", stored"
        else
            bad "$combo: accepted with a warning, stored" "xgwctl $cmd" \
                "exit 0, stderr \"warning: $dom: ...$words...\", partner stored" \
                "exit $RC, stderr: $ERR, show: $OUT"
        fi
        ;;
    refuse)
        refused=$((refused + 1))
        if [[ $RC == 2 && $ERR == *"$words"* && $ERR != *warning:* && -z $OUT ]]; then
            x partner show "$dom"
            if [[ $RC == 2 && $ERR == *"no partner $dom"* ]]; then
                ok "$combo: refused (\"$words\"), nothing stored"
            else
                bad "$combo: refused, nothing stored" "xgwctl partner show $dom" \
                    "exit 2, no partner $dom" "exit $RC: $OUT $ERR"
            fi
        else
            bad "$combo: refused" "xgwctl $cmd" \
                "exit 2, stderr with \"$words\" and no warning, empty stdout" \
                "exit $RC, stderr: $ERR, stdout: $OUT"
        fi
        ;;
    esac
done
if [[ $n == 18 && $accepted == 7 && $warned == 4 && $refused == 7 ]]; then
    ok "18 combinations: 7 accepted, 4 warned, 7 refused"
else
    bad "the table covers 18 combinations" "(test table)" "18: 7/4/7" \
        "$n: $accepted/$warned/$refused"
fi

# Every combination is distinct (the table really is the full product).
uniq_rows=$(printf '%s\n' "${MATRIX[@]}" | cut -d'|' -f1 | sort -u | wc -l)
[[ $uniq_rows == 18 ]] && ok "the 18 combinations are distinct" ||
    bad "the 18 combinations are distinct" "(test table)" 18 "$uniq_rows"

x --json partner show
count=$(python3 -c 'import json,sys; print(len(json.loads(sys.stdin.read())))' <<<"$OUT" 2>&1)
[[ $RC == 0 && $count == 11 ]] && ok "11 partners stored (7 accepted + 4 warned)" ||
    bad "11 partners stored" "xgwctl --json partner show" "11 entries" "exit $RC: $count"

# The defaults (tls required, sasl required, dialback on) land on the
# "dialback will not operate" row, as the reference notes.
x partner add pdefault.example
if [[ $RC == 0 && $ERR == *"warning: pdefault.example: $W_BOTH"* ]] &&
    stored_as pdefault.example required required on; then
    ok "defaults: required/required/on, with the dialback warning"
else
    bad "defaults: required/required/on, with the dialback warning" \
        "xgwctl partner add pdefault.example" "exit 0, warning \"$W_BOTH\"" \
        "exit $RC, stderr: $ERR, show: $OUT"
fi

# ---- partner set --------------------------------------------------------------------
check_ok "pset.example optional/optional/on" \
    partner add pset.example --tls optional --sasl optional --dialback on
x --json partner show pset.example
before=$OUT

set_refused() { # DESCRIPTION WORDS OPTIONS...
    local desc=$1 words=$2
    shift 2
    x partner set pset.example "$@"
    local rc=$RC err=$ERR
    x --json partner show pset.example
    if [[ $rc == 2 && $err == *"$words"* && $RC == 0 && $OUT == "$before" ]]; then
        ok "$desc"
    else
        bad "$desc" "xgwctl partner set pset.example $*" \
            "exit 2 with \"$words\", partner unchanged: $before" \
            "exit $rc, stderr: $err, partner now: $OUT"
    fi
}
set_refused "partner set --tls not-supported (sasl optional): refused, unchanged" "$R_NOTLS" \
    --tls not-supported
set_refused "partner set --sasl not-supported --dialback off: refused, unchanged" "$R_NOAUTH" \
    --sasl not-supported --dialback off
set_refused "partner set --tls not-supported --sasl required: refused, unchanged" "$R_NOTLS" \
    --tls not-supported --sasl required
set_refused "refused set with other valid options changes none of them" "$R_NOTLS" \
    --tls not-supported --type federated --description changed --keepalive off

check_ok "partner set pdefault.example --dialback off (into required/required/off)" \
    partner set pdefault.example --dialback off
stored_as pdefault.example required required off &&
    ok "pdefault.example now required/required/off" ||
    bad "pdefault.example now required/required/off" "xgwctl --json partner show pdefault.example" \
        "tls required, sasl required, dialback off" "$OUT"
# pdefault is required/required/off: switching sasl off needs dialback.
x partner set pdefault.example --sasl not-supported
if [[ $RC == 2 && $ERR == *"$R_NOAUTH"* ]] && stored_as pdefault.example required required off; then
    ok "partner set --sasl not-supported with dialback off: refused, unchanged"
else
    bad "partner set --sasl not-supported with dialback off: refused, unchanged" \
        "xgwctl partner set pdefault.example --sasl not-supported" \
        "exit 2 with \"$R_NOAUTH\", still required/required/off" "exit $RC, stderr: $ERR; $OUT"
fi

x partner set pset.example --dialback off
if [[ $RC == 0 && $ERR == *"warning: pset.example: "*"$W_OPT_OPT"* ]] &&
    stored_as pset.example optional optional off; then
    ok "partner set into optional/optional/off: stored with a warning"
else
    bad "partner set into optional/optional/off: stored with a warning" \
        "xgwctl partner set pset.example --dialback off" "exit 0, warning \"$W_OPT_OPT\"" \
        "exit $RC, stderr: $ERR, show: $OUT"
fi
check_ok "partner set --sasl not-supported --dialback on (optional/not-supported/on)" \
    partner set pset.example --sasl not-supported --dialback on
stored_as pset.example optional not-supported on &&
    ok "pset.example now optional/not-supported/on" ||
    bad "pset.example now optional/not-supported/on" "xgwctl --json partner show pset.example" \
        "tls optional, sasl not-supported, dialback on" "$OUT"

# The matrix survives a restart of policyd (it is read back from SQLite).
x --json partner show
all_before=$OUT
pt_stop policyd TERM
pt_start policyd
if pt_wait_ping policy 30; then
    x --json partner show
    [[ $RC == 0 && $OUT == "$all_before" ]] && ok "partners identical after a policyd restart" ||
        bad "partners identical after a policyd restart" "xgwctl --json partner show" \
            "$all_before" "exit $RC: $OUT"
else
    bad "policyd answers after a restart" "xgwctl ping policy" "exit 0" "exit $RC: $ERR"
fi

pt_finish
