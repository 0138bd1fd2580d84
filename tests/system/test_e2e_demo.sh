#!/usr/bin/env bash
# test_e2e_demo.sh - deploy/demo.sh as a smoke test: `demo.sh --check` with
# this build tree's binaries must run every step (a message and a presence
# change crossing both ways between a SIP user and a Prosody user through the
# whole xgw group), exit 0, print the transcript lines that say so, and leave
# no process and no folder of its own behind.
# "COND && ok ... || bad ...": ok always returns 0.
# shellcheck disable=SC2015,SC2119
set -uo pipefail
NAME=test_e2e_demo
BIN=${XGW_BIN_DIR:?XGW_BIN_DIR must name the build folder}
SRC=${XGW_SRC_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PASSED=0
FAILED=0
ok() {
    PASSED=$((PASSED + 1))
    printf '%s: ok %d - %s\n' "$NAME" "$((PASSED + FAILED))" "$*"
}
bad() {
    FAILED=$((FAILED + 1))
    printf '%s: FAIL %d - %s\n    expected: %s\n    actual:   %s\n' "$NAME" "$((PASSED + FAILED))" \
        "$1" "$2" "$3"
}

out=$(timeout 150 bash "$SRC/deploy/demo.sh" --check --bin "$BIN" </dev/null 2>&1)
rc=$?
[[ $rc == 0 ]] && ok "demo.sh --check exits 0" ||
    bad "demo.sh --check exits 0" "exit 0" "exit $rc; transcript:
    | ${out//$'\n'/$'\n'    | }"
for want in "romeo's MESSAGE answered: SIP/2.0 200" "juliet (XMPP) received <message from='romeo@verona.test'" \
    "romeo's phone (SIP) received MESSAGE sip:romeo@verona.test" \
    "juliet got <presence type='subscribed' from='romeo@verona.test'/>" \
    "romeo's change -> juliet got <presence from='romeo@verona.test/desk'> show away" \
    "romeo got NOTIFY: ID-balcony open show=away note=\"on the balcony\"" "demo complete: 10 steps OK"; do
    grep -qF -- "$want" <<<"$out" && ok "transcript: $want" || bad "transcript has: $want" "$want" \
        "$(grep -E 'FAIL|demo' <<<"$out" | tail -n 3 | paste -sd'|')"
done
dir=$(sed -n 's/.* folder \(\/tmp\/xgw-demo\.[A-Za-z0-9]*\).*/\1/p' <<<"$out" | head -n 1)
[[ -n $dir ]] && ok "the transcript names the demo folder ($dir)" ||
    bad "the transcript names the demo folder" "folder /tmp/xgw-demo.XXXXXX" "$(head -n 1 <<<"$out")"
if [[ -n $dir ]]; then
    [[ ! -e $dir ]] && ok "the demo folder is gone" || bad "the demo folder is gone" "no $dir" "it exists"
    left=$(pgrep -af -- "$dir")
    [[ -z $left ]] && ok "no process of the demo is left" ||
        bad "no process of the demo is left" "none" "$left"
fi
printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
[[ $FAILED == 0 ]]
