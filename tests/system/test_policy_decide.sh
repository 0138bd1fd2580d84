#!/usr/bin/env bash
# test_policy_decide.sh - policy decisions (issue 3) through the real xgwctl
# against a real xgw-broker, xgw-policyd (SQLite store) and xgw-xmppd edge,
# all on ipc:// in a temporary folder.
#
# Checks:
#   precedence: global / site / user policy; granted, revoked (grant --none),
#     site policy removed (fall back to global); whole-policy selection;
#     rules policy_federation_off and policy_xmpp_off; --json output
#   every PartnerType x direction x kind cell (federated, public-verified,
#     public-unverified; inbound, outbound; message, subscribe, presence,
#     probe), public-unverified inbound before / after `contact set
#     --sip-added on` and after `--sip-added off`; strip-status-note
#   deny list (exact, "*.wild" matches a subdomain but not the bare domain,
#     wins over the partner list), non-partner domain, additional domain,
#     both addresses local or both remote (not_gateway_traffic)
#   the same decisions on the edge (`decide --edge xmpp`), once its replica
#     has policyd's version
# "COND && ok ... || bad ...": ok always returns 0, so bad runs only when COND fails.
# shellcheck disable=SC2015
set -uo pipefail
NAME=test_policy_decide
# shellcheck source=lib_policy.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_policy.sh"

pt_init
pt_start_group edge

# ---- setup: partners -----------------------------------------------------------
check_ok "partner fed.example (federated, additional chat.fed.example)" \
    partner add fed.example --type federated --dialback off --additional-domains chat.fed.example
check_ok "partner pv.example (public-verified)" \
    partner add pv.example --type public-verified --dialback off
check_ok "partner pu.example (public-unverified, the default type)" \
    partner add pu.example --dialback off
x --json partner show pu.example
[[ $RC == 0 && $OUT == *'"type":"public-unverified"'* ]] &&
    ok "partner type defaults to public-unverified" ||
    bad "partner type defaults to public-unverified" "xgwctl --json partner show pu.example" \
        '"type":"public-unverified"' "exit $RC: $OUT $ERR"

IN_FED=(--from xmpp:x@fed.example --to sip:alice@example.net)

# ---- precedence matrix -----------------------------------------------------------
# alice: no user entry (global). bob: site paris. carol: site paris.
# dave: site lyon.
check_decide "global default (federation off): denied" DENY policy_federation_off global no \
    "${IN_FED[@]}" --kind message
check_ok "global: federation on" policy set global --federation on
check_decide "global federation on, xmpp off: policy_xmpp_off" DENY policy_xmpp_off global no \
    "${IN_FED[@]}" --kind message
check_ok "global: xmpp on" policy set global --xmpp on
check_decide "global federation+xmpp on: allowed" ALLOW allowed global no \
    "${IN_FED[@]}" --kind message
check_decide_json "global allowed (--json)" \
    'd["allow"] is True and d["rule"] == "allowed" and d["policy"] == "global" and d["policy_source"] == "global" and d["direction"] == "inbound" and d["partner"] == "fed.example" and d["local_user"] == "alice@example.net" and d["remote"] == "x@fed.example" and d["strip_status_note"] is False' \
    "${IN_FED[@]}" --kind message

check_ok "site policy sitePar (federation off) for site paris" \
    policy new sitePar --scope site:paris --description "Paris office"
check_ok "bob in site paris" user set sip:bob@example.net --site paris
check_ok "carol in site paris" user set carol@example.net --site paris
check_decide "site policy beats global (whole policy, no merge)" DENY policy_federation_off \
    site:paris no --from xmpp:x@fed.example --to sip:bob@example.net --kind message
check_decide_json "site policy decision (--json)" \
    'd["allow"] is False and d["rule"] == "policy_federation_off" and d["policy"] == "sitePar" and d["policy_source"] == "site:paris"' \
    --from sip:bob@example.net --to xmpp:x@fed.example --kind message
check_decide "a user without a site still gets global" ALLOW allowed global no \
    "${IN_FED[@]}" --kind subscribe

check_ok "user policy tagOn (federation+xmpp on)" \
    policy new tagOn --scope user --federation on --xmpp on
check_decide "user policy created but not granted: bob still on the site policy" DENY \
    policy_federation_off site:paris no --from xmpp:x@fed.example --to sip:bob@example.net \
    --kind message
check_ok "grant tagOn to bob" policy grant bob@example.net tagOn
check_decide "granted user policy beats the site policy" ALLOW allowed user no \
    --from xmpp:x@fed.example --to sip:bob@example.net --kind message
check_decide_json "granted user policy (--json)" \
    'd["allow"] is True and d["policy"] == "tagOn" and d["policy_source"] == "user" and d["direction"] == "outbound"' \
    --from sip:bob@example.net --to xmpp:x@fed.example --kind presence

check_ok "user policy fedOnly (federation on, xmpp off)" \
    policy new fedOnly --scope user --federation on --xmpp off
check_ok "grant fedOnly to carol" policy grant sip:carol@example.net fedOnly
check_decide "user policy with federation on, xmpp off: policy_xmpp_off" DENY policy_xmpp_off \
    user no --from xmpp:x@fed.example --to sip:carol@example.net --kind message
x policy effective carol@example.net
[[ $RC == 0 && $OUT == *"policy fedOnly (from user)"* ]] && ok "policy effective carol: fedOnly" ||
    bad "policy effective carol: fedOnly" "xgwctl policy effective carol@example.net" \
        "policy fedOnly (from user)" "exit $RC: $OUT $ERR"

check_ok "revoke bob's grant (--none)" policy grant bob@example.net --none
check_decide "revoked: bob falls back to the site policy" DENY policy_federation_off site:paris \
    no --from xmpp:x@fed.example --to sip:bob@example.net --kind message

check_ok "remove the site policy sitePar" policy remove sitePar
check_decide "site policy removed: bob falls back to global" ALLOW allowed global no \
    --from xmpp:x@fed.example --to sip:bob@example.net --kind message
x --json policy effective bob@example.net
res=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["source"], d["policy"]["name"])' \
    <<<"$OUT" 2>&1)
[[ $RC == 0 && $res == "global global" ]] && ok "policy effective bob (--json): global" ||
    bad "policy effective bob (--json): global" "xgwctl --json policy effective bob@example.net" \
        "source global, policy global" "exit $RC: $res"
check_decide "carol keeps her granted policy after the site policy went" DENY policy_xmpp_off \
    user no --from xmpp:x@fed.example --to sip:carol@example.net --kind message

check_ok "site policy siteLyon (federation+xmpp on)" \
    policy new siteLyon --scope site:lyon --federation on --xmpp on
check_ok "dave in site lyon" user set dave@example.net --site lyon
check_ok "global: federation and xmpp off" policy set global --xmpp off --federation off
check_decide "global with federation off: policy_federation_off" DENY policy_federation_off \
    global no "${IN_FED[@]}" --kind message
check_decide "site policy allows although global denies" ALLOW allowed site:lyon no \
    --from xmpp:x@fed.example --to sip:dave@example.net --kind message
check_ok "siteLyon: xmpp off" policy set siteLyon --xmpp off
check_decide "site policy with federation on, xmpp off: policy_xmpp_off" DENY policy_xmpp_off \
    site:lyon no --from sip:dave@example.net --to xmpp:x@fed.example --kind subscribe
check_ok "global: federation and xmpp on again" policy set global --federation on --xmpp on

# ---- PartnerType x direction x kind ---------------------------------------------
KINDS=(message subscribe presence probe)
for kind in "${KINDS[@]}"; do
    for t in fed:federated:no pv:public-verified:yes pu:public-unverified:yes; do
        d=${t%%:*}
        rest=${t#*:}
        type=${rest%%:*}
        strip=${rest#*:}
        check_decide "$type outbound $kind: allowed" ALLOW allowed global "$strip" \
            --from sip:alice@example.net --to "xmpp:x@$d.example" --kind "$kind"
        if [[ $d == pu ]]; then
            check_decide "$type inbound $kind, not added: denied" DENY \
                public_unverified_not_added global "$strip" \
                --from "xmpp:x@$d.example" --to sip:alice@example.net --kind "$kind"
        else
            check_decide "$type inbound $kind, not added: allowed" ALLOW allowed global \
                "$strip" --from "xmpp:x@$d.example" --to sip:alice@example.net --kind "$kind"
        fi
    done
done
check_decide_json "public-verified inbound (--json): allowed, status note stripped" \
    'd["allow"] is True and d["detail"] == "public-verified" and d["strip_status_note"] is True' \
    --from xmpp:x@pv.example --to sip:alice@example.net --kind presence
check_decide_json "public-unverified inbound (--json): denied, status note stripped" \
    'd["allow"] is False and d["rule"] == "public_unverified_not_added" and d["partner"] == "pu.example" and d["strip_status_note"] is True' \
    --from xmpp:x@pu.example --to sip:alice@example.net --kind subscribe

check_ok "alice adds x@pu.example (contact set --sip-added on)" \
    contact set sip:alice@example.net xmpp:x@pu.example --sip-added on
for kind in "${KINDS[@]}"; do
    check_decide "public-unverified inbound $kind after the SIP user added them: allowed" ALLOW \
        allowed global yes --from xmpp:x@pu.example --to sip:alice@example.net --kind "$kind"
done
check_decide "the contact is per XMPP user: y@pu.example still denied" DENY \
    public_unverified_not_added global yes \
    --from xmpp:y@pu.example --to sip:alice@example.net --kind message
check_decide "the contact is per SIP user: bob still denied" DENY public_unverified_not_added \
    global yes --from xmpp:x@pu.example --to sip:bob@example.net --kind message
check_decide "a resource in the XMPP address does not matter" ALLOW allowed global yes \
    --from xmpp:x@pu.example/phone --to sip:alice@example.net --kind message
check_ok "contact set --sip-added off" \
    contact set alice@example.net x@pu.example --sip-added off
for kind in "${KINDS[@]}"; do
    check_decide "public-unverified inbound $kind after --sip-added off: denied" DENY \
        public_unverified_not_added global yes \
        --from xmpp:x@pu.example --to sip:alice@example.net --kind "$kind"
done
check_ok "contact set --sip-added on again (for the edge checks)" \
    contact set alice@example.net x@pu.example --sip-added on

# ---- deny list, partners' domains, addresses -----------------------------------
check_decide "an additional domain of a partner counts as the partner" ALLOW allowed global no \
    --from xmpp:x@chat.fed.example --to sip:alice@example.net --kind message
check_decide_json "additional domain (--json): partner is the primary domain" \
    'd["allow"] is True and d["partner"] == "fed.example" and d["remote"] == "x@chat.fed.example"' \
    --from sip:alice@example.net --to xmpp:x@chat.fed.example --kind message
check_decide "a sibling of the additional domain is not a partner" DENY not_a_partner - no \
    --from xmpp:x@other.fed.example --to sip:alice@example.net --kind message
check_decide "a non-partner domain: not_a_partner" DENY not_a_partner - no \
    --from xmpp:x@stranger.example --to sip:alice@example.net --kind message
check_decide "non-partner, outbound: not_a_partner" DENY not_a_partner - no \
    --from sip:alice@example.net --to xmpp:x@stranger.example --kind subscribe

check_ok "partner denied.example (federated)" \
    partner add denied.example --type federated --dialback off
check_decide "denied.example allowed before the deny entry" ALLOW allowed global no \
    --from xmpp:x@denied.example --to sip:alice@example.net --kind message
check_ok "deny add denied.example" deny add denied.example
check_decide "deny list wins over the partner list (exact)" DENY deny_list - no \
    --from xmpp:x@denied.example --to sip:alice@example.net --kind message
check_decide "deny list applies outbound too" DENY deny_list - no \
    --from sip:alice@example.net --to xmpp:x@denied.example --kind message
check_decide "an exact deny entry does not cover subdomains" DENY not_a_partner - no \
    --from xmpp:x@sub.denied.example --to sip:alice@example.net --kind message

check_ok "partner wild.example with additional a.wild.example" \
    partner add wild.example --type federated --dialback off --additional-domains a.wild.example
check_decide "a.wild.example allowed before the wildcard" ALLOW allowed global no \
    --from xmpp:x@a.wild.example --to sip:alice@example.net --kind message
check_ok "deny add *.wild.example" deny add '*.wild.example'
check_decide "*.wild.example denies a.wild.example" DENY deny_list - no \
    --from xmpp:x@a.wild.example --to sip:alice@example.net --kind message
check_decide_json "wildcard denial (--json): detail names the pattern" \
    'd["allow"] is False and d["rule"] == "deny_list" and d["detail"] == "*.wild.example"' \
    --from xmpp:x@a.wild.example --to sip:alice@example.net --kind subscribe
check_decide "*.wild.example denies a deeper subdomain" DENY deny_list - no \
    --from xmpp:x@b.c.wild.example --to sip:alice@example.net --kind message
check_decide "*.wild.example does not deny wild.example itself" ALLOW allowed global no \
    --from xmpp:x@wild.example --to sip:alice@example.net --kind message
check_decide "*.wild.example does not deny notwild.example" DENY not_a_partner - no \
    --from xmpp:x@notwild.example --to sip:alice@example.net --kind message

check_decide "both addresses local: not_gateway_traffic" DENY not_gateway_traffic - no \
    --from sip:alice@example.net --to sip:bob@example.net --kind message
check_decide "both addresses remote: not_gateway_traffic" DENY not_gateway_traffic - no \
    --from xmpp:x@fed.example --to xmpp:y@pv.example --kind message
check_decide "domains compare case-insensitively" ALLOW allowed global no \
    --from xmpp:x@FED.Example --to sip:alice@EXAMPLE.NET --kind message

# ---- the same on the edge ----------------------------------------------------------
if pt_wait_edge_version 5; then
    ok "edge replica reached policyd's rule-set version $(ruleset_version)"
else
    bad "edge replica reaches policyd's version" "xgwctl decide --edge xmpp ..." \
        "version=$(ruleset_version)" "version=$(ruleset_version --edge xmpp)"
fi
E=(--edge xmpp)
check_decide "edge: global allowed" ALLOW allowed global no "${E[@]}" "${IN_FED[@]}" --kind message
check_decide "edge: granted user policy, xmpp off" DENY policy_xmpp_off user no "${E[@]}" \
    --from xmpp:x@fed.example --to sip:carol@example.net --kind message
check_decide "edge: site policy (federation on, xmpp off)" DENY policy_xmpp_off site:lyon yes \
    "${E[@]}" \
    --from sip:dave@example.net --to xmpp:x@pv.example --kind subscribe
check_decide "edge: revoked grant, removed site policy: global" ALLOW allowed global no \
    "${E[@]}" --from xmpp:x@fed.example --to sip:bob@example.net --kind probe
for kind in "${KINDS[@]}"; do
    check_decide "edge: public-verified inbound $kind" ALLOW allowed global yes "${E[@]}" \
        --from xmpp:x@pv.example --to sip:alice@example.net --kind "$kind"
    check_decide "edge: public-unverified inbound $kind, not added (bob)" DENY \
        public_unverified_not_added global yes "${E[@]}" \
        --from xmpp:x@pu.example --to sip:bob@example.net --kind "$kind"
done
check_decide "edge: public-unverified inbound, added (alice)" ALLOW allowed global yes \
    "${E[@]}" --from xmpp:x@pu.example --to sip:alice@example.net --kind message
check_decide "edge: public-unverified outbound" ALLOW allowed global yes "${E[@]}" \
    --from sip:bob@example.net --to xmpp:x@pu.example --kind subscribe
check_decide "edge: deny list (exact)" DENY deny_list - no "${E[@]}" \
    --from xmpp:x@denied.example --to sip:alice@example.net --kind message
check_decide "edge: deny list (wildcard)" DENY deny_list - no "${E[@]}" \
    --from xmpp:x@a.wild.example --to sip:alice@example.net --kind message
check_decide "edge: wildcard spares the bare domain" ALLOW allowed global no "${E[@]}" \
    --from xmpp:x@wild.example --to sip:alice@example.net --kind message
check_decide "edge: additional domain" ALLOW allowed global no "${E[@]}" \
    --from xmpp:x@chat.fed.example --to sip:alice@example.net --kind message
check_decide "edge: not a partner" DENY not_a_partner - no "${E[@]}" \
    --from xmpp:x@stranger.example --to sip:alice@example.net --kind message
check_decide "edge: not gateway traffic" DENY not_gateway_traffic - no "${E[@]}" \
    --from sip:alice@example.net --to sip:bob@example.net --kind message
check_decide_json "edge (--json): decided by xmppd with policyd's version" \
    'd["allow"] is True and d["decided_by"].startswith("xmppd.") and d["ruleset_version"] == '"$(ruleset_version)" \
    "${E[@]}" --from sip:alice@example.net --to xmpp:x@fed.example --kind message

# The contact state reaches the edge too (pushed by policyd).
check_ok "contact set --sip-added off (edge)" \
    contact set alice@example.net x@pu.example --sip-added off
deadline=$(($(now_ms) + 2000))
while (($(now_ms) < deadline)); do
    xq decide --edge xmpp --from xmpp:x@pu.example --to sip:alice@example.net --kind message
    [[ $OUT == DENY* ]] && break
    sleep 0.05
done
check_decide "edge: public-unverified inbound after --sip-added off: denied" DENY \
    public_unverified_not_added global yes "${E[@]}" \
    --from xmpp:x@pu.example --to sip:alice@example.net --kind message


# `policy remove global` resets the global policy (it always exists).
x policy remove global
[[ $RC == 0 && $OUT == *"reset to its defaults"* ]] &&
    ok "policy remove global: exit 0, reset to its defaults" ||
    bad "policy remove global resets it" "xgwctl policy remove global" \
        "exit 0, \"reset to its defaults\"" "exit $RC: $OUT $ERR"
check_decide "global reset: federation off again" DENY policy_federation_off global no \
    "${IN_FED[@]}" --kind message
pt_wait_edge_version 5
check_decide "edge: global reset" DENY policy_federation_off global no "${E[@]}" \
    "${IN_FED[@]}" --kind message

pt_finish
