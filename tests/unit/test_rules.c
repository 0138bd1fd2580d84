/*
 * test_rules.c - the in-memory rule set (lib/xgw_rules.h): changes through
 * xgw_rules_apply with versions and gaps, decisions (precedence user > site
 * > global as whole policies, every partner type x direction x kind with a
 * contact answer of 0, 1 or "not known yet", deny list exact and wildcard,
 * additional domains, traffic that is not the gateway's), snapshots loaded
 * directly and through protobuf bytes, and the changes that must fail.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xgw_error.h"
#include "xgw_rules.h"

#define S_DOMAINS "example.net, Example.ORG"

/* ---- building rule sets through changes -------------------------------- */

static xgw_rules_t *
s_new(void)
{
    char err[256] = "";
    xgw_rules_t *r = xgw_rules_new(S_DOMAINS, err, sizeof err);
    if (!r)
        fail_msg("xgw_rules_new: %s", err);
    return r;
}

static uint64_t
s_next(const xgw_rules_t *r)
{
    return xgw_rules_version(r) + 1;
}

static int
s_policy_v(xgw_rules_t *r, uint64_t version, const char *name, xgw_scope_t scope, const char *site,
           bool fed, bool xmpp)
{
    Xgw__V1__ExtPolicy p = XGW__V1__EXT_POLICY__INIT;
    p.name = (char *)name;
    p.scope = (uint32_t)scope;
    p.site = (char *)site;
    p.description = "test policy";
    p.federation = fed;
    p.xmpp = xmpp;
    Xgw__V1__RuleChange c = XGW__V1__RULE_CHANGE__INIT;
    c.version = version;
    c.change_case = XGW__V1__RULE_CHANGE__CHANGE_POLICY_PUT;
    c.policy_put = &p;
    return xgw_rules_apply(r, &c, false);
}

static int
s_policy(xgw_rules_t *r, const char *name, xgw_scope_t scope, const char *site, bool fed, bool xmpp)
{
    return s_policy_v(r, s_next(r), name, scope, site, fed, xmpp);
}

static int
s_string_change(xgw_rules_t *r, Xgw__V1__RuleChange__ChangeCase which, const char *value)
{
    Xgw__V1__RuleChange c = XGW__V1__RULE_CHANGE__INIT;
    c.version = s_next(r);
    c.change_case = which;
    switch (which) {
    case XGW__V1__RULE_CHANGE__CHANGE_POLICY_DELETE:
        c.policy_delete = (char *)value;
        break;
    case XGW__V1__RULE_CHANGE__CHANGE_USER_DELETE:
        c.user_delete = (char *)value;
        break;
    case XGW__V1__RULE_CHANGE__CHANGE_PARTNER_DELETE:
        c.partner_delete = (char *)value;
        break;
    case XGW__V1__RULE_CHANGE__CHANGE_DENY_ADD:
        c.deny_add = (char *)value;
        break;
    case XGW__V1__RULE_CHANGE__CHANGE_DENY_REMOVE:
        c.deny_remove = (char *)value;
        break;
    default:
        fail_msg("not a string change");
    }
    return xgw_rules_apply(r, &c, false);
}

static int
s_policy_delete(xgw_rules_t *r, const char *name)
{
    return s_string_change(r, XGW__V1__RULE_CHANGE__CHANGE_POLICY_DELETE, name);
}

static int
s_deny_add(xgw_rules_t *r, const char *pattern)
{
    return s_string_change(r, XGW__V1__RULE_CHANGE__CHANGE_DENY_ADD, pattern);
}

static int
s_deny_remove(xgw_rules_t *r, const char *pattern)
{
    return s_string_change(r, XGW__V1__RULE_CHANGE__CHANGE_DENY_REMOVE, pattern);
}

static int
s_user(xgw_rules_t *r, const char *address, const char *site, const char *policy)
{
    Xgw__V1__SipUser u = XGW__V1__SIP_USER__INIT;
    u.address = (char *)address;
    u.site = (char *)site;
    u.policy = (char *)policy;
    Xgw__V1__RuleChange c = XGW__V1__RULE_CHANGE__INIT;
    c.version = s_next(r);
    c.change_case = XGW__V1__RULE_CHANGE__CHANGE_USER_PUT;
    c.user_put = &u;
    return xgw_rules_apply(r, &c, false);
}

/* additional: comma-separated, "" for none (split here, not validated). */
static int
s_partner(xgw_rules_t *r, uint32_t id, const char *domain, xgw_partner_type_t type,
          const char *additional)
{
    xgw_partner_t p;
    xgw_partner_defaults(&p);
    p.id = id;
    snprintf(p.domain, sizeof p.domain, "%s", domain);
    p.type = type;
    p.tls = XGW_NEG_OPTIONAL;
    p.sasl = XGW_NEG_OPTIONAL;
    p.connection_limit = id % 7;
    snprintf(p.proxy_fqdn, sizeof p.proxy_fqdn, "%s", id % 3 == 0 ? "proxy.example:5269" : "");
    snprintf(p.description, sizeof p.description, "partner %u", id);
    Xgw__V1__Partner pp;
    xgw_partner_to_proto(&p, &pp);
    char buf[1024], *items[40];
    size_t n = 0;
    snprintf(buf, sizeof buf, "%s", additional);
    for (char *s = buf; *s && n < 40;) {
        char *comma = strchr(s, ',');
        items[n++] = s;
        if (!comma)
            break;
        *comma = '\0';
        s = comma + 1;
    }
    pp.additional = items;
    pp.n_additional = n;
    Xgw__V1__RuleChange c = XGW__V1__RULE_CHANGE__INIT;
    c.version = s_next(r);
    c.change_case = XGW__V1__RULE_CHANGE__CHANGE_PARTNER_PUT;
    c.partner_put = &pp;
    return xgw_rules_apply(r, &c, false);
}

static int
s_partner_delete(xgw_rules_t *r, const char *domain)
{
    return s_string_change(r, XGW__V1__RULE_CHANGE__CHANGE_PARTNER_DELETE, domain);
}

/* Global policy with federation and xmpp on, so that partner rules show. */
static void
s_open_global(xgw_rules_t *r)
{
    assert_int_equal(s_policy(r, "global", XGW_SCOPE_GLOBAL, "", true, true), 0);
}

/* ---- the contact callback ---------------------------------------------- */

typedef struct {
    int answer; /* 0, 1, XGW_EAGAIN; or -100: answer by the table below */
    int calls;
    char user[XGW_ADDRESS_MAX + 1];
    char jid[XGW_ADDRESS_MAX + 1];
} s_contact_t;

static int
s_contact(void *ud, const char *sip_user, const char *xmpp_bare)
{
    s_contact_t *c = ud;
    c->calls++;
    snprintf(c->user, sizeof c->user, "%s", sip_user);
    snprintf(c->jid, sizeof c->jid, "%s", xmpp_bare);
    if (c->answer != -100)
        return c->answer;
    /* Deterministic "has added" from the two names. */
    unsigned h = 0;
    for (const char *p = sip_user; *p; p++)
        h = h * 31 + (unsigned char)*p;
    for (const char *p = xmpp_bare; *p; p++)
        h = h * 31 + (unsigned char)*p;
    return (h >> 3) % 3 == 0 ? 1 : 0;
}

/* Decides and checks allow/rule; returns the decision for more checks. */
static xgw_decision_t
s_expect(const xgw_rules_t *r, const char *from, const char *to, xgw_kind_t kind, bool allow,
         const char *rule)
{
    xgw_decision_t d;
    s_contact_t c = {1, 0, "", ""};
    int rc = xgw_rules_decide(r, from, to, kind, s_contact, &c, &d);
    if (rc != 0)
        fail_msg("%s -> %s: rc=%d (%s)", from, to, rc, d.detail);
    if (d.allow != allow || !d.rule || strcmp(d.rule, rule) != 0)
        fail_msg("%s -> %s (%s): want %s/%s, got %s/%s (%s)", from, to, xgw_kind_name(kind),
                 allow ? "allow" : "deny", rule, d.allow ? "allow" : "deny",
                 d.rule ? d.rule : "(null)", d.detail);
    return d;
}

/* ---- tests ------------------------------------------------------------- */

static void
test_new_empty(void **state)
{
    (void)state;
    xgw_rules_t *r = s_new();
    assert_int_equal(xgw_rules_version(r), 0);
    const xgw_ext_policy_t *g = xgw_rules_policy(r, "global");
    assert_non_null(g);
    assert_int_equal(g->scope, XGW_SCOPE_GLOBAL);
    assert_false(g->federation);
    assert_false(g->xmpp);
    assert_int_equal(xgw_rules_gateway(r)->connection_limit, 1000);
    assert_int_equal(xgw_rules_gateway(r)->partner_connection_limit, 20);
    assert_true(xgw_rules_serves(r, "example.net"));
    assert_true(xgw_rules_serves(r, "example.org")); /* normalized from the list */
    assert_false(xgw_rules_serves(r, "example.com"));
    assert_int_equal(xgw_rules_count_users(r), 0);
    assert_int_equal(xgw_rules_count_partners(r), 0);
    char src[XGW_NAME_MAX + 8];
    assert_ptr_equal(xgw_rules_effective(r, "nobody@example.net", src), g);
    assert_string_equal(src, "global");
    /* Empty set: everything is denied, by the first rule that applies. */
    s_expect(r, "sip:alice@example.net", "xmpp:juliet@capulet.example", XGW_KIND_MESSAGE, false,
             "not_a_partner");
    xgw_rules_destroy(&r);
    assert_null(r);
    xgw_rules_destroy(&r);

    char err[256] = "";
    assert_null(xgw_rules_new("", err, sizeof err));
    assert_true(err[0] != '\0');
    err[0] = '\0';
    assert_null(xgw_rules_new("example.net,bad_domain", err, sizeof err));
    assert_true(err[0] != '\0');
}

static void
test_versions_and_gaps(void **state)
{
    (void)state;
    xgw_rules_t *r = s_new();
    assert_int_equal(s_policy_v(r, 1, "U1", XGW_SCOPE_USER, "", true, true), 0);
    assert_int_equal(xgw_rules_version(r), 1);
    assert_int_equal(s_policy_v(r, 2, "U2", XGW_SCOPE_USER, "", true, false), 0);
    assert_int_equal(xgw_rules_version(r), 2);

    /* A gap, a replay and a repeat: XGW_ERANGE and nothing applied. */
    assert_int_equal(s_policy_v(r, 4, "U4", XGW_SCOPE_USER, "", true, true), XGW_ERANGE);
    assert_null(xgw_rules_policy(r, "U4"));
    assert_int_equal(s_policy_v(r, 2, "U1", XGW_SCOPE_USER, "", false, false), XGW_ERANGE);
    assert_true(xgw_rules_policy(r, "U1")->federation);
    assert_int_equal(s_policy_v(r, 1, "U9", XGW_SCOPE_USER, "", true, true), XGW_ERANGE);
    assert_int_equal(s_policy_v(r, 0, "U9", XGW_SCOPE_USER, "", true, true), XGW_ERANGE);
    assert_int_equal(s_policy_v(r, UINT64_MAX, "U9", XGW_SCOPE_USER, "", true, true), XGW_ERANGE);
    assert_null(xgw_rules_policy(r, "U9"));
    assert_int_equal(xgw_rules_version(r), 2);

    /* Every kind of change with a gap is refused before it is looked at. */
    Xgw__V1__RuleChange c = XGW__V1__RULE_CHANGE__INIT;
    c.version = 5;
    c.change_case = XGW__V1__RULE_CHANGE__CHANGE_DENY_ADD;
    c.deny_add = "spam.example";
    assert_int_equal(xgw_rules_apply(r, &c, false), XGW_ERANGE);
    assert_false(xgw_rules_deny_has(r, "spam.example"));

    /* A change that contradicts the set: refused, version unchanged. */
    assert_int_equal(s_user(r, "alice@example.net", "", "NoSuchPolicy"), XGW_EINVAL);
    assert_int_equal(xgw_rules_version(r), 2);
    assert_int_equal(xgw_rules_count_users(r), 0);
    /* An empty change. */
    Xgw__V1__RuleChange empty = XGW__V1__RULE_CHANGE__INIT;
    empty.version = 3;
    assert_int_equal(xgw_rules_apply(r, &empty, false), XGW_EINVAL);
    assert_int_equal(xgw_rules_version(r), 2);

    /* Continues at 3. */
    assert_int_equal(s_policy_v(r, 3, "U3", XGW_SCOPE_USER, "", true, true), 0);
    assert_int_equal(xgw_rules_version(r), 3);

    /* force (policyd replaying its store): no version check; the version
     * only moves forward. */
    c.version = 10;
    assert_int_equal(xgw_rules_apply(r, &c, true), 0);
    assert_true(xgw_rules_deny_has(r, "spam.example"));
    assert_int_equal(xgw_rules_version(r), 10);
    c.version = 7;
    c.deny_add = "other.example";
    assert_int_equal(xgw_rules_apply(r, &c, true), 0);
    assert_true(xgw_rules_deny_has(r, "other.example"));
    assert_int_equal(xgw_rules_version(r), 10);
    xgw_rules_destroy(&r);
}

static void
test_precedence(void **state)
{
    (void)state;
    xgw_rules_t *r = s_new();
    assert_int_equal(s_partner(r, 1, "f.example", XGW_PARTNER_FEDERATED, ""), 0);
    const char *to = "xmpp:juliet@f.example";
    xgw_decision_t d;

    /* Global off (the default): denied by the global policy. */
    d = s_expect(r, "sip:alice@example.net", to, XGW_KIND_MESSAGE, false, "policy_federation_off");
    assert_string_equal(d.policy_source, "global");
    assert_string_equal(d.policy->name, "global");
    assert_string_equal(d.detail, "global");

    /* Global federation on, xmpp off. */
    assert_int_equal(s_policy(r, "global", XGW_SCOPE_GLOBAL, "", true, false), 0);
    d = s_expect(r, "sip:alice@example.net", to, XGW_KIND_MESSAGE, false, "policy_xmpp_off");
    assert_string_equal(d.policy_source, "global");

    /* Global fully on. */
    s_open_global(r);
    d = s_expect(r, "sip:alice@example.net", to, XGW_KIND_MESSAGE, true, "allowed");
    assert_string_equal(d.policy_source, "global");

    /* Site S1's policy has xmpp off: its users are denied although the
     * global policy allows (whole policy, no merge). */
    assert_int_equal(s_policy(r, "S1pol", XGW_SCOPE_SITE, "S1", true, false), 0);
    assert_int_equal(s_user(r, "alice@example.net", "S1", ""), 0);
    d = s_expect(r, "sip:alice@example.net", to, XGW_KIND_MESSAGE, false, "policy_xmpp_off");
    assert_string_equal(d.policy_source, "site:S1");
    assert_string_equal(d.policy->name, "S1pol");
    assert_string_equal(d.detail, "S1pol");
    /* A user of another site without a policy, and a user without entry,
     * fall back to global. */
    assert_int_equal(s_user(r, "bob@example.net", "S2", ""), 0);
    d = s_expect(r, "sip:bob@example.net", to, XGW_KIND_MESSAGE, true, "allowed");
    assert_string_equal(d.policy_source, "global");
    d = s_expect(r, "sip:carol@example.net", to, XGW_KIND_MESSAGE, true, "allowed");
    assert_string_equal(d.policy_source, "global");

    /* A user policy granted to alice beats her site. */
    assert_int_equal(s_policy(r, "Open", XGW_SCOPE_USER, "", true, true), 0);
    assert_int_equal(s_user(r, "alice@example.net", "S1", "Open"), 0);
    d = s_expect(r, "sip:alice@example.net", to, XGW_KIND_MESSAGE, true, "allowed");
    assert_string_equal(d.policy_source, "user");
    assert_string_equal(d.policy->name, "Open");
    assert_int_equal(xgw_rules_policy_grants(r, "Open"), 1);

    /* A closed user policy beats an open site and an open global. */
    assert_int_equal(s_policy(r, "S2pol", XGW_SCOPE_SITE, "S2", true, true), 0);
    assert_int_equal(s_policy(r, "Closed", XGW_SCOPE_USER, "", false, false), 0);
    assert_int_equal(s_user(r, "bob@example.net", "S2", "Closed"), 0);
    d = s_expect(r, "sip:bob@example.net", to, XGW_KIND_MESSAGE, false, "policy_federation_off");
    assert_string_equal(d.policy_source, "user");
    assert_string_equal(d.detail, "Closed");
    /* Revoked: the site's policy again. */
    assert_int_equal(s_user(r, "bob@example.net", "S2", ""), 0);
    d = s_expect(r, "sip:bob@example.net", to, XGW_KIND_MESSAGE, true, "allowed");
    assert_string_equal(d.policy_source, "site:S2");
    assert_int_equal(xgw_rules_policy_grants(r, "Closed"), 0);

    /* A user policy with federation on and xmpp off beats everything too. */
    assert_int_equal(s_policy(r, "FedOnly", XGW_SCOPE_USER, "", true, false), 0);
    assert_int_equal(s_user(r, "carol@example.net", "", "FedOnly"), 0);
    s_expect(r, "sip:carol@example.net", to, XGW_KIND_MESSAGE, false, "policy_xmpp_off");

    /* Changing a policy in place changes the decision. */
    assert_int_equal(s_policy(r, "FedOnly", XGW_SCOPE_USER, "", true, true), 0);
    s_expect(r, "sip:carol@example.net", to, XGW_KIND_MESSAGE, true, "allowed");

    /* The site policy removed: its users fall back to global. */
    assert_int_equal(s_user(r, "alice@example.net", "S1", ""), 0);
    s_expect(r, "sip:alice@example.net", to, XGW_KIND_MESSAGE, false, "policy_xmpp_off");
    assert_int_equal(s_policy_delete(r, "S1pol"), 0);
    d = s_expect(r, "sip:alice@example.net", to, XGW_KIND_MESSAGE, true, "allowed");
    assert_string_equal(d.policy_source, "global");
    assert_null(xgw_rules_site_policy(r, "S1"));
    /* A new policy for the site applies to its users at once. */
    assert_int_equal(s_policy(r, "S1new", XGW_SCOPE_SITE, "S1", false, false), 0);
    d = s_expect(r, "sip:alice@example.net", to, XGW_KIND_MESSAGE, false, "policy_federation_off");
    assert_string_equal(d.policy_source, "site:S1");

    /* Moving a user to another site. */
    assert_int_equal(s_user(r, "alice@example.net", "S2", ""), 0);
    d = s_expect(r, "sip:alice@example.net", to, XGW_KIND_MESSAGE, true, "allowed");
    assert_string_equal(d.policy_source, "site:S2");

    /* The user's entry removed: global. */
    assert_int_equal(
        s_string_change(r, XGW__V1__RULE_CHANGE__CHANGE_USER_DELETE, "alice@example.net"), 0);
    d = s_expect(r, "sip:alice@example.net", to, XGW_KIND_MESSAGE, true, "allowed");
    assert_string_equal(d.policy_source, "global");
    const char *site = NULL, *policy = NULL;
    assert_int_equal(xgw_rules_user(r, "alice@example.net", &site, &policy), XGW_ENOENT);
    assert_int_equal(xgw_rules_user(r, "bob@example.net", &site, &policy), 0);
    assert_string_equal(site, "S2");
    assert_string_equal(policy, "");

    /* The same holds for the inbound direction. */
    d = s_expect(r, "xmpp:juliet@f.example/r", "sip:bob@example.net", XGW_KIND_SUBSCRIBE, true,
                 "allowed");
    assert_string_equal(d.policy_source, "site:S2");
    assert_int_equal(d.direction, XGW_DIR_INBOUND);

    /* xgw_rules_effective agrees. */
    char src[XGW_NAME_MAX + 8];
    assert_string_equal(xgw_rules_effective(r, "bob@example.net", src)->name, "S2pol");
    assert_string_equal(src, "site:S2");
    assert_string_equal(xgw_rules_effective(r, "carol@example.net", src)->name, "FedOnly");
    assert_string_equal(src, "user");
    assert_string_equal(xgw_rules_effective(r, "zed@example.net", src)->name, "global");
    assert_string_equal(src, "global");
    xgw_rules_destroy(&r);
}

static void
test_partner_type_matrix(void **state)
{
    (void)state;
    xgw_rules_t *r = s_new();
    s_open_global(r);
    static const struct {
        const char *domain;
        xgw_partner_type_t type;
    } partners[] = {
        {"fed.example", XGW_PARTNER_FEDERATED},
        {"pv.example", XGW_PARTNER_PUBLIC_VERIFIED},
        {"pu.example", XGW_PARTNER_PUBLIC_UNVERIFIED},
    };
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(s_partner(r, i + 1, partners[i].domain, partners[i].type, ""), 0);
    static const int answers[] = {0, 1, XGW_EAGAIN};
    int cells = 0;
    for (size_t p = 0; p < 3; p++) {
        for (int dir = 0; dir < 2; dir++) {
            for (int kind = 0; kind < 4; kind++) {
                for (size_t a = 0; a < 3; a++) {
                    char local[64] = "sip:alice@example.net";
                    char remote[128];
                    snprintf(remote, sizeof remote, "xmpp:Juliet@%s/balcony", partners[p].domain);
                    const char *from = dir == XGW_DIR_INBOUND ? remote : local;
                    const char *to = dir == XGW_DIR_INBOUND ? local : remote;
                    s_contact_t c = {answers[a], 0, "", ""};
                    xgw_decision_t d;
                    int rc = xgw_rules_decide(r, from, to, (xgw_kind_t)kind, s_contact, &c, &d);
                    bool pu = partners[p].type == XGW_PARTNER_PUBLIC_UNVERIFIED;
                    bool asks = pu && dir == XGW_DIR_INBOUND;
                    assert_int_equal(c.calls, asks ? 1 : 0);
                    if (asks) {
                        assert_string_equal(c.user, "alice@example.net");
                        char jid[128];
                        snprintf(jid, sizeof jid, "Juliet@%s", partners[p].domain);
                        assert_string_equal(c.jid, jid);
                    }
                    cells++;
                    if (asks && answers[a] == XGW_EAGAIN) {
                        assert_int_equal(rc, XGW_EAGAIN);
                        continue;
                    }
                    assert_int_equal(rc, 0);
                    bool allow = !asks || answers[a] == 1;
                    if (d.allow != allow)
                        fail_msg("%s %s %s contact=%d: want %s, got %s (%s)",
                                 xgw_partner_type_name(partners[p].type),
                                 dir == XGW_DIR_INBOUND ? "inbound" : "outbound",
                                 xgw_kind_name((xgw_kind_t)kind), answers[a],
                                 allow ? "allow" : "deny", d.allow ? "allow" : "deny", d.rule);
                    assert_string_equal(d.rule, allow ? "allowed" : "public_unverified_not_added");
                    assert_string_equal(d.detail, allow ? xgw_partner_type_name(partners[p].type)
                                                        : partners[p].domain);
                    assert_int_equal(d.direction, dir);
                    assert_string_equal(d.local_user, "alice@example.net");
                    char bare[128];
                    snprintf(bare, sizeof bare, "Juliet@%s", partners[p].domain);
                    assert_string_equal(d.remote, bare);
                    assert_non_null(d.partner);
                    assert_string_equal(d.partner->domain, partners[p].domain);
                    assert_int_equal(d.partner->type, partners[p].type);
                    assert_int_equal(d.strip_status_note,
                                     partners[p].type != XGW_PARTNER_FEDERATED);
                    assert_non_null(d.policy);
                    assert_string_equal(d.policy_source, "global");
                }
            }
        }
    }
    assert_int_equal(cells, 3 * 2 * 4 * 3);

    /* No contact callback at all: a public-unverified partner cannot reach
     * the SIP user. */
    xgw_decision_t d;
    assert_int_equal(xgw_rules_decide(r, "juliet@pu.example", "alice@example.net", XGW_KIND_MESSAGE,
                                      NULL, NULL, &d),
                     0);
    assert_false(d.allow);
    assert_string_equal(d.rule, "public_unverified_not_added");
    /* Any other answer than 1 counts as "not added". */
    s_contact_t odd = {7, 0, "", ""};
    assert_int_equal(xgw_rules_decide(r, "juliet@pu.example", "alice@example.net", XGW_KIND_MESSAGE,
                                      s_contact, &odd, &d),
                     0);
    assert_false(d.allow);

    /* Changing the partner's type in place: the pointer in an old decision
     * stays valid and shows the new settings. */
    assert_int_equal(xgw_rules_decide(r, "alice@example.net", "juliet@pu.example", XGW_KIND_MESSAGE,
                                      NULL, NULL, &d),
                     0);
    const xgw_partner_t *before = d.partner;
    assert_int_equal(s_partner(r, 3, "pu.example", XGW_PARTNER_FEDERATED, ""), 0);
    assert_ptr_equal(xgw_rules_partner_for(r, "pu.example"), before);
    assert_int_equal(before->type, XGW_PARTNER_FEDERATED);
    d = s_expect(r, "juliet@pu.example", "alice@example.net", XGW_KIND_MESSAGE, true, "allowed");
    assert_false(d.strip_status_note);
    xgw_rules_destroy(&r);
}

static void
test_deny_list(void **state)
{
    (void)state;
    xgw_rules_t *r = s_new();
    s_open_global(r);
    assert_int_equal(s_partner(r, 1, "d.example", XGW_PARTNER_FEDERATED, "sub.d.example"), 0);
    assert_int_equal(s_partner(r, 2, "w.example", XGW_PARTNER_FEDERATED, "a.w.example"), 0);
    assert_int_equal(s_partner(r, 3, "x.y.w.example", XGW_PARTNER_FEDERATED, ""), 0);
    assert_int_equal(s_partner(r, 4, "ok.example", XGW_PARTNER_FEDERATED, "deny-me.example"), 0);
    const char *u = "sip:alice@example.net";
    s_expect(r, u, "j@d.example", XGW_KIND_MESSAGE, true, "allowed");

    /* Exact: the domain only, not its subdomains; wins over the partner. */
    assert_int_equal(s_deny_add(r, "d.example"), 0);
    assert_true(xgw_rules_deny_has(r, "d.example"));
    xgw_decision_t d = s_expect(r, u, "j@d.example", XGW_KIND_MESSAGE, false, "deny_list");
    assert_string_equal(d.detail, "d.example");
    assert_null(d.partner);
    assert_null(d.policy);
    s_expect(r, "j@D.Example/r", u, XGW_KIND_SUBSCRIBE, false, "deny_list");
    s_expect(r, u, "j@sub.d.example", XGW_KIND_MESSAGE, true, "allowed");
    assert_string_equal(xgw_rules_denied(r, "d.example"), "d.example");
    assert_null(xgw_rules_denied(r, "sub.d.example"));

    /* Wildcard: every name below w.example, at any depth, not w.example. */
    assert_int_equal(s_deny_add(r, "*.w.example"), 0);
    s_expect(r, u, "j@w.example", XGW_KIND_MESSAGE, true, "allowed");
    d = s_expect(r, u, "j@a.w.example", XGW_KIND_MESSAGE, false, "deny_list");
    assert_string_equal(d.detail, "*.w.example");
    d = s_expect(r, "j@x.y.w.example", u, XGW_KIND_PRESENCE, false, "deny_list");
    assert_string_equal(d.detail, "*.w.example");
    s_expect(r, u, "j@aw.example", XGW_KIND_MESSAGE, false, "not_a_partner");
    assert_string_equal(xgw_rules_denied(r, "deep.er.w.example"), "*.w.example");
    assert_null(xgw_rules_denied(r, "w.example"));
    assert_null(xgw_rules_denied(r, "xw.example"));

    /* An additional domain of an allowed partner can be denied alone. */
    assert_int_equal(s_deny_add(r, "deny-me.example"), 0);
    s_expect(r, u, "j@deny-me.example", XGW_KIND_MESSAGE, false, "deny_list");
    s_expect(r, u, "j@ok.example", XGW_KIND_MESSAGE, true, "allowed");

    /* Denied domains that are no partner: deny_list comes first. */
    assert_int_equal(s_deny_add(r, "*.spam.example"), 0);
    s_expect(r, u, "j@a.spam.example", XGW_KIND_MESSAGE, false, "deny_list");
    s_expect(r, u, "j@spam.example", XGW_KIND_MESSAGE, false, "not_a_partner");

    /* Removal restores; removing what is absent fails and changes nothing. */
    uint64_t v = xgw_rules_version(r);
    assert_int_equal(s_deny_remove(r, "*.w.example"), 0);
    s_expect(r, u, "j@a.w.example", XGW_KIND_MESSAGE, true, "allowed");
    assert_int_equal(s_deny_remove(r, "*.w.example"), XGW_EINVAL);
    assert_int_equal(xgw_rules_version(r), v + 1);
    assert_int_equal(s_deny_remove(r, "d.example"), 0);
    s_expect(r, u, "j@d.example", XGW_KIND_MESSAGE, true, "allowed");
    /* Adding twice is harmless. */
    assert_int_equal(s_deny_add(r, "d.example"), 0);
    assert_int_equal(s_deny_add(r, "d.example"), 0);
    assert_int_equal(s_deny_remove(r, "d.example"), 0);
    assert_false(xgw_rules_deny_has(r, "d.example"));
    xgw_rules_destroy(&r);
}

static void
test_additional_domains(void **state)
{
    (void)state;
    xgw_rules_t *r = s_new();
    s_open_global(r);
    assert_int_equal(
        s_partner(r, 9, "p.example", XGW_PARTNER_PUBLIC_VERIFIED, "q.example,r.example"), 0);
    const char *u = "sip:alice@example.net";
    static const char *const names[] = {"p.example", "q.example", "r.example"};
    for (size_t i = 0; i < 3; i++) {
        char to[64];
        snprintf(to, sizeof to, "j@%s", names[i]);
        xgw_decision_t d = s_expect(r, u, to, XGW_KIND_MESSAGE, true, "allowed");
        assert_string_equal(d.partner->domain, "p.example");
        assert_int_equal(d.partner->id, 9);
        assert_true(d.strip_status_note);
        assert_ptr_equal(xgw_rules_partner_for(r, names[i]), d.partner);
    }
    char *const *list = NULL;
    size_t n = 0;
    assert_int_equal(xgw_rules_partner_additional(r, "p.example", &list, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0], "q.example");
    assert_string_equal(list[1], "r.example");
    /* Only primary domains name a partner here. */
    assert_int_equal(xgw_rules_partner_additional(r, "q.example", &list, &n), XGW_ENOENT);
    assert_int_equal(xgw_rules_count_partners(r), 1);

    /* Replace the list: r.example leaves, s.example joins. */
    assert_int_equal(
        s_partner(r, 9, "p.example", XGW_PARTNER_PUBLIC_VERIFIED, "q.example,s.example"), 0);
    s_expect(r, u, "j@r.example", XGW_KIND_MESSAGE, false, "not_a_partner");
    s_expect(r, u, "j@s.example", XGW_KIND_MESSAGE, true, "allowed");
    s_expect(r, u, "j@q.example", XGW_KIND_MESSAGE, true, "allowed");
    /* r.example is free again for another partner. */
    assert_int_equal(s_partner(r, 10, "r.example", XGW_PARTNER_FEDERATED, ""), 0);
    xgw_decision_t d = s_expect(r, u, "j@r.example", XGW_KIND_MESSAGE, true, "allowed");
    assert_string_equal(d.partner->domain, "r.example");
    /* Clear the list. */
    assert_int_equal(s_partner(r, 9, "p.example", XGW_PARTNER_PUBLIC_VERIFIED, ""), 0);
    s_expect(r, u, "j@q.example", XGW_KIND_MESSAGE, false, "not_a_partner");
    assert_int_equal(xgw_rules_partner_additional(r, "p.example", &list, &n), 0);
    assert_int_equal(n, 0);
    /* Deleting the partner removes every domain it had. */
    assert_int_equal(
        s_partner(r, 9, "p.example", XGW_PARTNER_PUBLIC_VERIFIED, "q.example,s.example"), 0);
    assert_int_equal(s_partner_delete(r, "p.example"), 0);
    for (size_t i = 0; i < 2; i++)
        assert_null(xgw_rules_partner_for(r, i ? "q.example" : "p.example"));
    assert_null(xgw_rules_partner_for(r, "s.example"));
    s_expect(r, u, "j@s.example", XGW_KIND_MESSAGE, false, "not_a_partner");
    assert_int_equal(s_partner_delete(r, "p.example"), XGW_EINVAL);
    assert_int_equal(xgw_rules_count_partners(r), 1);
    xgw_rules_destroy(&r);
}

static void
test_not_gateway_traffic_and_addresses(void **state)
{
    (void)state;
    xgw_rules_t *r = s_new();
    s_open_global(r);
    assert_int_equal(s_partner(r, 1, "f.example", XGW_PARTNER_FEDERATED, ""), 0);

    /* Both served (two served domains), or neither. */
    xgw_decision_t d = s_expect(r, "sip:alice@example.net", "sip:bob@example.org", XGW_KIND_MESSAGE,
                                false, "not_gateway_traffic");
    assert_true(d.detail[0] != '\0');
    s_expect(r, "alice@example.net", "bob@EXAMPLE.NET", XGW_KIND_SUBSCRIBE, false,
             "not_gateway_traffic");
    s_expect(r, "xmpp:juliet@f.example", "xmpp:romeo@f.example", XGW_KIND_MESSAGE, false,
             "not_gateway_traffic");
    s_expect(r, "a@x.example", "b@y.example", XGW_KIND_PROBE, false, "not_gateway_traffic");

    /* Schemes, case and resources. */
    d = s_expect(r, "SIPS:alice@Example.NET", "XMPP:juliet@F.EXAMPLE/res", XGW_KIND_MESSAGE, true,
                 "allowed");
    assert_string_equal(d.local_user, "alice@example.net");
    assert_string_equal(d.remote, "juliet@f.example");
    assert_int_equal(d.direction, XGW_DIR_OUTBOUND);
    d = s_expect(r, "sip:alice@example.net;transport=tls", "juliet@f.example", XGW_KIND_MESSAGE,
                 true, "allowed");
    assert_string_equal(d.local_user, "alice@example.net");

    /* Unknown remote domain. */
    d = s_expect(r, "alice@example.net", "juliet@unknown.example", XGW_KIND_MESSAGE, false,
                 "not_a_partner");
    assert_string_equal(d.detail, "unknown.example");
    assert_null(d.partner);
    assert_null(d.policy);

    /* Addresses that cannot be parsed. */
    static const char *const bad[] = {
        "", "alice", "@example.net", "sip:", "sip:@example.net", "alice@", "xmpp:juliet@/res"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(
            xgw_rules_decide(r, bad[i], "juliet@f.example", XGW_KIND_MESSAGE, NULL, NULL, &d),
            XGW_EINVAL);
        assert_true(d.detail[0] != '\0');
        assert_int_equal(
            xgw_rules_decide(r, "alice@example.net", bad[i], XGW_KIND_MESSAGE, NULL, NULL, &d),
            XGW_EINVAL);
        assert_true(d.detail[0] != '\0');
    }

    /* Kind names. */
    static const char *const kinds[] = {"message", "subscribe", "presence", "probe"};
    for (int i = 0; i < 4; i++) {
        xgw_kind_t k = (xgw_kind_t)9;
        assert_int_equal(xgw_kind_parse(kinds[i], &k), 0);
        assert_int_equal(k, i);
        assert_string_equal(xgw_kind_name(k), kinds[i]);
    }
    xgw_kind_t k;
    assert_int_equal(xgw_kind_parse("chat", &k), XGW_EINVAL);
    assert_int_equal(xgw_kind_parse(NULL, &k), XGW_EINVAL);
    assert_string_equal(xgw_kind_name((xgw_kind_t)4), "?");
    xgw_rules_destroy(&r);
}

/* A remote domain longer than a domain can be must not be cut down to a
 * partner's (253-character) domain and treated as that partner. */
static void
test_decide_overlong_domain(void **state)
{
    (void)state;
    xgw_rules_t *r = s_new();
    s_open_global(r);
    char dom[300];
    size_t i = 0;
    for (int l = 0; l < 4; l++) {
        size_t len = l < 3 ? 63 : 61;
        memset(dom + i, 'a' + l, len);
        i += len;
        if (l < 3)
            dom[i++] = '.';
    }
    dom[i] = '\0';
    assert_int_equal(strlen(dom), 253);
    assert_int_equal(s_partner(r, 1, dom, XGW_PARTNER_FEDERATED, ""), 0);
    char ok[320], longer[320];
    snprintf(ok, sizeof ok, "j@%s", dom);
    s_expect(r, "alice@example.net", ok, XGW_KIND_MESSAGE, true, "allowed");
    snprintf(longer, sizeof longer, "j@%szz", dom);
    xgw_decision_t d;
    int rc = xgw_rules_decide(r, "alice@example.net", longer, XGW_KIND_MESSAGE, NULL, NULL, &d);
    xgw_rules_destroy(&r); /* before a failure, so that it does not leak */
    if (rc == 0 && d.allow)
        fail_msg("a %zu-character remote domain was allowed as partner %.20s...",
                 strlen(longer) - 2, dom);
}

static void
test_failing_changes(void **state)
{
    (void)state;
    xgw_rules_t *r = s_new();
    s_open_global(r);
    assert_int_equal(s_policy(r, "U", XGW_SCOPE_USER, "", true, true), 0);
    assert_int_equal(s_policy(r, "S", XGW_SCOPE_SITE, "Paris", true, true), 0);
    assert_int_equal(s_user(r, "alice@example.net", "Paris", "U"), 0);
    assert_int_equal(s_user(r, "bob@example.net", "", "U"), 0);
    assert_int_equal(xgw_rules_policy_grants(r, "U"), 2);
    uint64_t v = xgw_rules_version(r);

    /* Deleting a granted policy fails, until nobody holds it. */
    assert_int_equal(s_policy_delete(r, "U"), XGW_EINVAL);
    assert_non_null(xgw_rules_policy(r, "U"));
    assert_int_equal(xgw_rules_version(r), v);
    assert_int_equal(s_user(r, "alice@example.net", "Paris", ""), 0);
    assert_int_equal(s_policy_delete(r, "U"), XGW_EINVAL);
    assert_int_equal(
        s_string_change(r, XGW__V1__RULE_CHANGE__CHANGE_USER_DELETE, "bob@example.net"), 0);
    assert_int_equal(xgw_rules_policy_grants(r, "U"), 0);
    assert_int_equal(s_policy_delete(r, "U"), 0);
    assert_null(xgw_rules_policy(r, "U"));
    v = xgw_rules_version(r);

    /* Global cannot be deleted or renamed into another scope. */
    assert_int_equal(s_policy_delete(r, "global"), XGW_EINVAL);
    assert_int_equal(s_policy(r, "global", XGW_SCOPE_USER, "", true, true), XGW_EINVAL);
    assert_int_equal(s_policy(r, "global2", XGW_SCOPE_GLOBAL, "", true, true), XGW_EINVAL);
    assert_int_equal(s_policy_delete(r, "nope"), XGW_EINVAL);
    /* One policy per site; a policy's scope and site are fixed. */
    assert_int_equal(s_policy(r, "S-bis", XGW_SCOPE_SITE, "Paris", true, true), XGW_EINVAL);
    assert_null(xgw_rules_policy(r, "S-bis"));
    assert_string_equal(xgw_rules_site_policy(r, "Paris")->name, "S");
    assert_int_equal(s_policy(r, "S", XGW_SCOPE_SITE, "Lyon", true, true), XGW_EINVAL);
    assert_int_equal(s_policy(r, "S", XGW_SCOPE_USER, "", true, true), XGW_EINVAL);
    /* Only user policies are granted. */
    assert_int_equal(s_user(r, "carol@example.net", "", "S"), XGW_EINVAL);
    assert_int_equal(s_user(r, "carol@example.net", "", "global"), XGW_EINVAL);
    assert_int_equal(s_user(r, "carol@example.net", "", "nope"), XGW_EINVAL);
    assert_int_equal(s_user(r, "", "Paris", ""), XGW_EINVAL);
    /* Bad values in a policy. */
    assert_int_equal(s_policy(r, "X", (xgw_scope_t)3, "", true, true), XGW_EINVAL);
    char longname[80];
    memset(longname, 'n', 65);
    longname[65] = '\0';
    assert_int_equal(s_policy(r, longname, XGW_SCOPE_USER, "", true, true), XGW_EINVAL);
    assert_int_equal(s_user(r, "carol@example.net", longname, ""), XGW_EINVAL);
    assert_int_equal(xgw_rules_count_users(r), 1);
    assert_int_equal(
        s_string_change(r, XGW__V1__RULE_CHANGE__CHANGE_USER_DELETE, "nobody@example.net"),
        XGW_EINVAL);
    assert_int_equal(xgw_rules_version(r), v);
    xgw_rules_destroy(&r);
}

static void
test_partner_conflicts(void **state)
{
    (void)state;
    xgw_rules_t *r = s_new();
    s_open_global(r);
    assert_int_equal(s_partner(r, 1, "a.example", XGW_PARTNER_FEDERATED, "x.example,y.example"), 0);
    uint64_t v = xgw_rules_version(r);
    /* Another partner may not take a's domains, primary or additional. */
    assert_int_equal(s_partner(r, 2, "x.example", XGW_PARTNER_FEDERATED, ""), XGW_EINVAL);
    assert_int_equal(s_partner(r, 2, "b.example", XGW_PARTNER_FEDERATED, "z.example,y.example"),
                     XGW_EINVAL);
    assert_int_equal(s_partner(r, 2, "b.example", XGW_PARTNER_FEDERATED, "a.example"), XGW_EINVAL);
    assert_int_equal(xgw_rules_version(r), v);
    assert_null(xgw_rules_partner_for(r, "b.example"));
    assert_null(xgw_rules_partner_for(r, "z.example"));
    assert_int_equal(xgw_rules_count_partners(r), 1);
    /* a is untouched by the failed attempts. */
    assert_string_equal(xgw_rules_partner_for(r, "x.example")->domain, "a.example");
    assert_string_equal(xgw_rules_partner_for(r, "y.example")->domain, "a.example");
    char *const *list = NULL;
    size_t n = 0;
    assert_int_equal(xgw_rules_partner_additional(r, "a.example", &list, &n), 0);
    assert_int_equal(n, 2);

    /* a may keep its own domains in an update. */
    assert_int_equal(s_partner(r, 1, "a.example", XGW_PARTNER_PUBLIC_VERIFIED, "y.example"), 0);
    /* x.example is free now. */
    assert_int_equal(s_partner(r, 2, "b.example", XGW_PARTNER_FEDERATED, "x.example"), 0);
    assert_string_equal(xgw_rules_partner_for(r, "x.example")->domain, "b.example");
    /* A partner update that would take another's domain fails whole. */
    assert_int_equal(s_partner(r, 1, "a.example", XGW_PARTNER_FEDERATED, "y.example,x.example"),
                     XGW_EINVAL);
    assert_int_equal(xgw_rules_partner_for(r, "a.example")->type, XGW_PARTNER_PUBLIC_VERIFIED);
    assert_string_equal(xgw_rules_partner_for(r, "y.example")->domain, "a.example");

    /* Values out of range. */
    Xgw__V1__Partner pp = XGW__V1__PARTNER__INIT;
    pp.domain = "c.example";
    pp.type = 3;
    Xgw__V1__RuleChange c = XGW__V1__RULE_CHANGE__INIT;
    c.version = s_next(r);
    c.change_case = XGW__V1__RULE_CHANGE__CHANGE_PARTNER_PUT;
    c.partner_put = &pp;
    assert_int_equal(xgw_rules_apply(r, &c, false), XGW_EINVAL);
    pp.type = 0;
    pp.tls = 3;
    assert_int_equal(xgw_rules_apply(r, &c, false), XGW_EINVAL);
    pp.tls = 0;
    pp.sasl = 9;
    assert_int_equal(xgw_rules_apply(r, &c, false), XGW_EINVAL);
    pp.sasl = 0;
    char *many[XGW_ADDITIONAL_DOMAINS_MAX + 1];
    char names[XGW_ADDITIONAL_DOMAINS_MAX + 1][32];
    for (size_t i = 0; i <= XGW_ADDITIONAL_DOMAINS_MAX; i++) {
        snprintf(names[i], sizeof names[i], "m%zu.example", i);
        many[i] = names[i];
    }
    pp.additional = many;
    pp.n_additional = XGW_ADDITIONAL_DOMAINS_MAX + 1;
    assert_int_equal(xgw_rules_apply(r, &c, false), XGW_EINVAL);
    assert_null(xgw_rules_partner_for(r, "c.example"));
    assert_null(xgw_rules_partner_for(r, "m0.example"));
    pp.n_additional = XGW_ADDITIONAL_DOMAINS_MAX;
    assert_int_equal(xgw_rules_apply(r, &c, false), 0);
    assert_string_equal(xgw_rules_partner_for(r, "m31.example")->domain, "c.example");
    xgw_rules_destroy(&r);
}

/* ---- snapshots --------------------------------------------------------- */

#define S_USERS 400
#define S_PARTNERS 60

static void
s_user_name(char *buf, size_t len, int i)
{
    snprintf(buf, len, "user%d@%s", i, i % 5 == 4 ? "example.org" : "example.net");
}

/* A rule set with a bit of everything. */
static xgw_rules_t *
s_rich(void)
{
    xgw_rules_t *r = s_new();
    assert_int_equal(s_policy(r, "global", XGW_SCOPE_GLOBAL, "", true, false), 0);
    for (int s = 0; s < 4; s++) {
        char name[32], site[32];
        snprintf(name, sizeof name, "sitepol%d", s);
        snprintf(site, sizeof site, "site%d", s);
        assert_int_equal(s_policy(r, name, XGW_SCOPE_SITE, site, s != 1, s != 2), 0);
    }
    assert_int_equal(s_policy(r, "open", XGW_SCOPE_USER, "", true, true), 0);
    assert_int_equal(s_policy(r, "closed", XGW_SCOPE_USER, "", false, false), 0);
    assert_int_equal(s_policy(r, "fedonly", XGW_SCOPE_USER, "", true, false), 0);
    assert_int_equal(s_policy(r, "unused", XGW_SCOPE_USER, "", true, true), 0);
    static const char *const grants[] = {"", "open", "closed", "fedonly", "", ""};
    for (int i = 0; i < S_USERS; i++) {
        char addr[64], site[32];
        s_user_name(addr, sizeof addr, i);
        /* sites 0..5: 4 and 5 have no policy */
        snprintf(site, sizeof site, i % 7 == 6 ? "" : "site%d", i % 6);
        assert_int_equal(s_user(r, addr, site, grants[i % 6]), 0);
    }
    for (int p = 0; p < S_PARTNERS; p++) {
        char dom[64], add[256];
        snprintf(dom, sizeof dom, "p%d.example", p);
        if (p % 4 == 0)
            snprintf(add, sizeof add, "a%d.example,b%d.example,c.p%d.example", p, p, p);
        else
            add[0] = '\0';
        assert_int_equal(s_partner(r, (uint32_t)p + 1, dom, (xgw_partner_type_t)(p % 3), add), 0);
    }
    assert_int_equal(s_deny_add(r, "p7.example"), 0);
    assert_int_equal(s_deny_add(r, "*.p8.example"), 0);
    assert_int_equal(s_deny_add(r, "b12.example"), 0);
    assert_int_equal(s_deny_add(r, "evil.example"), 0);
    assert_int_equal(s_deny_add(r, "*.evil.example"), 0);
    Xgw__V1__Gateway g = XGW__V1__GATEWAY__INIT;
    g.connection_limit = 555;
    g.partner_connection_limit = 11;
    g.keepalive_interval_s = 120;
    g.stream_establishment_timeout_s = 30;
    g.stream_inactivity_timeout_s = 900;
    g.subscription_refresh_interval_s = 3600;
    g.log_message_bodies = true;
    g.dialback_secret_ref = "db-secret-1";
    Xgw__V1__RuleChange c = XGW__V1__RULE_CHANGE__INIT;
    c.version = s_next(r);
    c.change_case = XGW__V1__RULE_CHANGE__CHANGE_GATEWAY_PUT;
    c.gateway_put = &g;
    assert_int_equal(xgw_rules_apply(r, &c, false), 0);
    /* Some churn, so that the tables have holes. */
    for (int i = 0; i < S_USERS; i += 13) {
        char addr[64];
        s_user_name(addr, sizeof addr, i);
        assert_int_equal(s_string_change(r, XGW__V1__RULE_CHANGE__CHANGE_USER_DELETE, addr), 0);
    }
    assert_int_equal(s_partner_delete(r, "p59.example"), 0);
    assert_int_equal(s_policy_delete(r, "sitepol3"), 0);
    return r;
}

static void
s_same_partner(const xgw_partner_t *a, const xgw_partner_t *b)
{
    assert_int_equal(a->id, b->id);
    assert_string_equal(a->domain, b->domain);
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->tls, b->tls);
    assert_int_equal(a->sasl, b->sasl);
    assert_int_equal(a->dialback, b->dialback);
    assert_int_equal(a->keepalive, b->keepalive);
    assert_string_equal(a->proxy_fqdn, b->proxy_fqdn);
    assert_int_equal(a->connection_limit, b->connection_limit);
    assert_string_equal(a->description, b->description);
}

static void
s_same_gateway(const xgw_gateway_t *a, const xgw_gateway_t *b)
{
    assert_int_equal(a->connection_limit, b->connection_limit);
    assert_int_equal(a->partner_connection_limit, b->partner_connection_limit);
    assert_int_equal(a->keepalive_interval_s, b->keepalive_interval_s);
    assert_int_equal(a->stream_establishment_timeout_s, b->stream_establishment_timeout_s);
    assert_int_equal(a->stream_inactivity_timeout_s, b->stream_inactivity_timeout_s);
    assert_int_equal(a->subscription_refresh_interval_s, b->subscription_refresh_interval_s);
    assert_int_equal(a->log_message_bodies, b->log_message_bodies);
    assert_string_equal(a->dialback_secret_ref, b->dialback_secret_ref);
}

/* Compares every decision over a grid of local users x remote addresses x
 * direction x kind. */
static void
s_same_decisions(const xgw_rules_t *a, const xgw_rules_t *b)
{
    static const char *const remotes[] = {
        "juliet@p0.example",  "juliet@a0.example",     "juliet@c.p0.example", "j@p1.example",
        "j@p2.example",       "j@p3.example/r",        "j@p7.example",        "j@x.p8.example",
        "j@p8.example",       "j@b12.example",         "j@a12.example",       "j@evil.example",
        "j@sub.evil.example", "j@p59.example",         "j@nowhere.example",   "j@p44.example",
        "j@p45.example",      "romeo@b20.example/home"};
    size_t compared = 0, allowed = 0;
    for (int i = 0; i < S_USERS + 3; i += 3) {
        char local[64];
        s_user_name(local, sizeof local, i);
        for (size_t k = 0; k < sizeof remotes / sizeof remotes[0]; k++) {
            for (int dir = 0; dir < 2; dir++) {
                for (int kind = 0; kind < 4; kind += 3) {
                    const char *from = dir ? local : remotes[k];
                    const char *to = dir ? remotes[k] : local;
                    xgw_decision_t da, db;
                    s_contact_t ca = {-100, 0, "", ""}, cb = {-100, 0, "", ""};
                    int ra = xgw_rules_decide(a, from, to, (xgw_kind_t)kind, s_contact, &ca, &da);
                    int rb = xgw_rules_decide(b, from, to, (xgw_kind_t)kind, s_contact, &cb, &db);
                    assert_int_equal(ra, rb);
                    assert_int_equal(ra, 0);
                    if (da.allow != db.allow || strcmp(da.rule, db.rule) != 0 ||
                        strcmp(da.detail, db.detail) != 0)
                        fail_msg("%s -> %s: %s/%s(%s) vs %s/%s(%s)", from, to,
                                 da.allow ? "allow" : "deny", da.rule, da.detail,
                                 db.allow ? "allow" : "deny", db.rule, db.detail);
                    assert_string_equal(da.policy_source, db.policy_source);
                    assert_int_equal(da.policy == NULL, db.policy == NULL);
                    if (da.policy)
                        assert_string_equal(da.policy->name, db.policy->name);
                    assert_int_equal(da.partner == NULL, db.partner == NULL);
                    if (da.partner)
                        s_same_partner(da.partner, db.partner);
                    assert_int_equal(da.strip_status_note, db.strip_status_note);
                    assert_int_equal(ca.calls, cb.calls);
                    compared++;
                    allowed += da.allow;
                }
            }
        }
    }
    /* The grid must exercise both outcomes. */
    assert_true(compared > 1000);
    assert_true(allowed > 50);
    assert_true(allowed < compared);
}

typedef struct {
    char *items[S_USERS * 2];
    size_t n;
} s_strs_t;

static void
s_collect_user(void *ud, const char *address, const char *site, const char *policy)
{
    s_strs_t *s = ud;
    char buf[512];
    snprintf(buf, sizeof buf, "%s|%s|%s", address, site, policy);
    s->items[s->n++] = strdup(buf);
}

static void
s_collect_policy(void *ud, const xgw_ext_policy_t *p)
{
    s_strs_t *s = ud;
    char buf[512];
    snprintf(buf, sizeof buf, "%s|%d|%s|%s|%d%d%d%d", p->name, p->scope, p->site, p->description,
             p->federation, p->xmpp, p->public_cloud, p->outside);
    s->items[s->n++] = strdup(buf);
}

typedef struct {
    s_strs_t *out;
    const xgw_rules_t *r;
} s_partner_walk_t;

static void
s_collect_partner(void *ud, const xgw_partner_t *p)
{
    s_partner_walk_t *w = ud;
    char buf[2048];
    size_t len = (size_t)snprintf(buf, sizeof buf, "%s|%u|%d%d%d%d%d|%s|%u|%s|", p->domain, p->id,
                                  p->type, p->tls, p->sasl, p->dialback, p->keepalive,
                                  p->proxy_fqdn, p->connection_limit, p->description);
    char *const *add = NULL;
    size_t n = 0;
    assert_int_equal(xgw_rules_partner_additional(w->r, p->domain, &add, &n), 0);
    for (size_t i = 0; i < n && len < sizeof buf; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s,", add[i]);
    w->out->items[w->out->n++] = strdup(buf);
}

static void
s_collect_deny(void *ud, const char *pattern)
{
    s_strs_t *s = ud;
    s->items[s->n++] = strdup(pattern);
}

static int
s_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
s_strs_free(s_strs_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->items[i]);
    s->n = 0;
}

/* Same objects, field by field. */
static void
s_same_content(const xgw_rules_t *a, const xgw_rules_t *b)
{
    assert_int_equal(xgw_rules_version(a), xgw_rules_version(b));
    assert_int_equal(xgw_rules_count_users(a), xgw_rules_count_users(b));
    assert_int_equal(xgw_rules_count_partners(a), xgw_rules_count_partners(b));
    s_same_gateway(xgw_rules_gateway(a), xgw_rules_gateway(b));
    static s_strs_t sa, sb;
    for (int pass = 0; pass < 4; pass++) {
        const xgw_rules_t *rs[2] = {a, b};
        s_strs_t *outs[2] = {&sa, &sb};
        for (int k = 0; k < 2; k++) {
            if (pass == 0)
                xgw_rules_each_user(rs[k], s_collect_user, outs[k]);
            else if (pass == 1)
                xgw_rules_each_policy(rs[k], s_collect_policy, outs[k]);
            else if (pass == 2) {
                s_partner_walk_t w = {outs[k], rs[k]};
                xgw_rules_each_partner(rs[k], s_collect_partner, &w);
            } else {
                xgw_rules_each_deny(rs[k], s_collect_deny, outs[k]);
            }
            qsort(outs[k]->items, outs[k]->n, sizeof(char *), s_cmp);
        }
        assert_int_equal(sa.n, sb.n);
        assert_true(sa.n > 0);
        for (size_t i = 0; i < sa.n; i++)
            assert_string_equal(sa.items[i], sb.items[i]);
        s_strs_free(&sa);
        s_strs_free(&sb);
    }
    for (int s = 0; s < 6; s++) {
        char site[32];
        snprintf(site, sizeof site, "site%d", s);
        const xgw_ext_policy_t *pa = xgw_rules_site_policy(a, site);
        const xgw_ext_policy_t *pb = xgw_rules_site_policy(b, site);
        assert_int_equal(pa == NULL, pb == NULL);
        if (pa)
            assert_string_equal(pa->name, pb->name);
    }
    static const char *const names[] = {"open", "closed", "fedonly", "unused", "global"};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(xgw_rules_policy_grants(a, names[i]),
                         xgw_rules_policy_grants(b, names[i]));
}

static void
test_snapshot_round_trip(void **state)
{
    (void)state;
    xgw_rules_t *a = s_rich();
    assert_true(xgw_rules_version(a) > 400);

    /* Directly. */
    Xgw__V1__RuleSet *snap = xgw_rules_snapshot(a);
    assert_non_null(snap);
    assert_int_equal(snap->version, xgw_rules_version(a));
    assert_int_equal(snap->n_users, xgw_rules_count_users(a));
    assert_int_equal(snap->n_partners, xgw_rules_count_partners(a));
    assert_int_equal(snap->n_deny, 5);
    xgw_rules_t *b = s_new();
    assert_int_equal(xgw_rules_load(b, snap), 0);
    s_same_content(a, b);
    s_same_decisions(a, b);

    /* Through protobuf bytes. */
    size_t len = xgw__v1__rule_set__get_packed_size(snap);
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    assert_int_equal(xgw__v1__rule_set__pack(snap, buf), len);
    xgw_rules_snapshot_free(&snap);
    assert_null(snap);
    Xgw__V1__RuleSet *un = xgw__v1__rule_set__unpack(NULL, len, buf);
    assert_non_null(un);
    xgw_rules_t *c = s_new();
    /* Loading replaces whatever was there. */
    s_open_global(c);
    assert_int_equal(s_partner(c, 77, "stale.example", XGW_PARTNER_FEDERATED, "stale2.example"), 0);
    assert_int_equal(s_user(c, "stale@example.net", "nowhere", ""), 0);
    assert_int_equal(s_deny_add(c, "stale-deny.example"), 0);
    assert_int_equal(xgw_rules_load(c, un), 0);
    xgw__v1__rule_set__free_unpacked(un, NULL);
    free(buf);
    assert_null(xgw_rules_partner_for(c, "stale.example"));
    assert_null(xgw_rules_partner_for(c, "stale2.example"));
    assert_false(xgw_rules_deny_has(c, "stale-deny.example"));
    const char *site, *policy;
    assert_int_equal(xgw_rules_user(c, "stale@example.net", &site, &policy), XGW_ENOENT);
    s_same_content(a, c);
    s_same_decisions(a, c);

    /* The loaded set continues with the next version, like the original. */
    assert_int_equal(
        s_policy_v(c, xgw_rules_version(a) + 2, "late", XGW_SCOPE_USER, "", true, true),
        XGW_ERANGE);
    assert_int_equal(s_policy(a, "late", XGW_SCOPE_USER, "", true, true), 0);
    assert_int_equal(s_policy(c, "late", XGW_SCOPE_USER, "", true, true), 0);
    s_same_content(a, c);
    /* A loaded set may delete what it loaded (grant counts were rebuilt). */
    assert_int_equal(s_policy_delete(c, "open"), XGW_EINVAL);
    assert_int_equal(s_policy_delete(c, "unused"), 0);

    /* A snapshot of the loaded set loads the same again. */
    Xgw__V1__RuleSet *snap2 = xgw_rules_snapshot(b);
    xgw_rules_t *d = s_new();
    assert_int_equal(xgw_rules_load(d, snap2), 0);
    xgw_rules_snapshot_free(&snap2);
    s_same_content(b, d);
    s_same_decisions(b, d);

    xgw_rules_destroy(&a);
    xgw_rules_destroy(&b);
    xgw_rules_destroy(&c);
    xgw_rules_destroy(&d);
}

static void
test_snapshot_empty(void **state)
{
    (void)state;
    xgw_rules_t *a = s_new();
    Xgw__V1__RuleSet *snap = xgw_rules_snapshot(a);
    assert_non_null(snap);
    assert_int_equal(snap->version, 0);
    assert_int_equal(snap->n_policies, 1);
    assert_int_equal(snap->n_users, 0);
    assert_non_null(snap->gateway);
    size_t len = xgw__v1__rule_set__get_packed_size(snap);
    uint8_t buf[4096];
    assert_true(len < sizeof buf);
    xgw__v1__rule_set__pack(snap, buf);
    xgw_rules_snapshot_free(&snap);
    Xgw__V1__RuleSet *un = xgw__v1__rule_set__unpack(NULL, len, buf);
    assert_non_null(un);
    xgw_rules_t *b = s_new();
    s_open_global(b);
    assert_int_equal(xgw_rules_load(b, un), 0);
    xgw__v1__rule_set__free_unpacked(un, NULL);
    assert_int_equal(xgw_rules_version(b), 0);
    assert_false(xgw_rules_policy(b, "global")->federation);
    assert_int_equal(xgw_rules_gateway(b)->connection_limit, 1000);
    xgw_rules_destroy(&a);
    xgw_rules_destroy(&b);
}

static void
test_load_bad_snapshot(void **state)
{
    (void)state;
    xgw_rules_t *r = s_rich();
    assert_true(xgw_rules_version(r) > 0);

    /* A user granted a policy the snapshot does not have. */
    Xgw__V1__ExtPolicy g = XGW__V1__EXT_POLICY__INIT;
    g.name = "global";
    g.scope = XGW_SCOPE_GLOBAL;
    g.federation = true;
    g.xmpp = true;
    Xgw__V1__ExtPolicy *pols[] = {&g};
    Xgw__V1__SipUser u1 = XGW__V1__SIP_USER__INIT, u2 = XGW__V1__SIP_USER__INIT;
    u1.address = "ok@example.net";
    u1.site = "s";
    u2.address = "alice@example.net";
    u2.policy = "ghost";
    Xgw__V1__SipUser *users[] = {&u1, &u2};
    Xgw__V1__Partner p = XGW__V1__PARTNER__INIT;
    p.domain = "p.example";
    Xgw__V1__Partner *parts[] = {&p};
    Xgw__V1__RuleSet snap = XGW__V1__RULE_SET__INIT;
    snap.version = 42;
    snap.policies = pols;
    snap.n_policies = 1;
    snap.users = users;
    snap.n_users = 2;
    snap.partners = parts;
    snap.n_partners = 1;
    assert_int_not_equal(xgw_rules_load(r, &snap), 0);

    /* Left empty at version 0, still serving its domains. */
    assert_int_equal(xgw_rules_version(r), 0);
    assert_int_equal(xgw_rules_count_users(r), 0);
    assert_int_equal(xgw_rules_count_partners(r), 0);
    assert_null(xgw_rules_policy(r, "open"));
    assert_false(xgw_rules_policy(r, "global")->federation);
    assert_false(xgw_rules_deny_has(r, "p7.example"));
    assert_int_equal(xgw_rules_gateway(r)->connection_limit, 1000);
    assert_true(xgw_rules_serves(r, "example.net"));
    s_expect(r, "alice@example.net", "j@p1.example", XGW_KIND_MESSAGE, false, "not_a_partner");
    /* And usable: the next change is version 1. */
    assert_int_equal(s_policy_v(r, 1, "fresh", XGW_SCOPE_USER, "", true, true), 0);

    /* Other contradictions fail the same way. */
    u2.policy = "";
    Xgw__V1__Partner q = XGW__V1__PARTNER__INIT;
    q.domain = "q.example";
    char *qadd[] = {"p.example"};
    q.additional = qadd;
    q.n_additional = 1;
    Xgw__V1__Partner *parts2[] = {&p, &q};
    snap.partners = parts2;
    snap.n_partners = 2;
    assert_int_not_equal(xgw_rules_load(r, &snap), 0);
    assert_int_equal(xgw_rules_version(r), 0);
    assert_int_equal(xgw_rules_count_partners(r), 0);
    assert_null(xgw_rules_policy(r, "fresh"));

    /* Two policies for one site. */
    Xgw__V1__ExtPolicy s1 = XGW__V1__EXT_POLICY__INIT, s2 = XGW__V1__EXT_POLICY__INIT;
    s1.name = "s1";
    s1.scope = XGW_SCOPE_SITE;
    s1.site = "Paris";
    s2.name = "s2";
    s2.scope = XGW_SCOPE_SITE;
    s2.site = "Paris";
    Xgw__V1__ExtPolicy *pols2[] = {&g, &s1, &s2};
    snap.policies = pols2;
    snap.n_policies = 3;
    snap.n_partners = 1;
    assert_int_not_equal(xgw_rules_load(r, &snap), 0);
    assert_int_equal(xgw_rules_version(r), 0);
    assert_null(xgw_rules_policy(r, "s1"));

    /* The good version of it loads. */
    snap.n_policies = 2;
    assert_int_equal(xgw_rules_load(r, &snap), 0);
    assert_int_equal(xgw_rules_version(r), 42);
    assert_int_equal(xgw_rules_count_users(r), 2);
    assert_true(xgw_rules_policy(r, "global")->federation);
    xgw_rules_destroy(&r);
}

static void
test_gateway_and_proto_conversions(void **state)
{
    (void)state;
    xgw_rules_t *r = s_new();
    Xgw__V1__Gateway g = XGW__V1__GATEWAY__INIT;
    g.connection_limit = 10;
    g.partner_connection_limit = 2;
    g.keepalive_interval_s = 11;
    g.stream_establishment_timeout_s = 12;
    g.stream_inactivity_timeout_s = 13;
    g.subscription_refresh_interval_s = 14;
    g.log_message_bodies = true;
    g.dialback_secret_ref = "ref";
    Xgw__V1__RuleChange c = XGW__V1__RULE_CHANGE__INIT;
    c.version = 1;
    c.change_case = XGW__V1__RULE_CHANGE__CHANGE_GATEWAY_PUT;
    c.gateway_put = &g;
    assert_int_equal(xgw_rules_apply(r, &c, false), 0);
    const xgw_gateway_t *gw = xgw_rules_gateway(r);
    assert_int_equal(gw->connection_limit, 10);
    assert_int_equal(gw->partner_connection_limit, 2);
    assert_int_equal(gw->keepalive_interval_s, 11);
    assert_int_equal(gw->stream_establishment_timeout_s, 12);
    assert_int_equal(gw->stream_inactivity_timeout_s, 13);
    assert_int_equal(gw->subscription_refresh_interval_s, 14);
    assert_true(gw->log_message_bodies);
    assert_string_equal(gw->dialback_secret_ref, "ref");

    /* Partner and policy conversions are lossless. */
    xgw_partner_t p, back;
    xgw_partner_defaults(&p);
    p.id = 77;
    snprintf(p.domain, sizeof p.domain, "conv.example");
    p.type = XGW_PARTNER_PUBLIC_VERIFIED;
    p.tls = XGW_NEG_OPTIONAL;
    p.sasl = XGW_NEG_NOT_SUPPORTED;
    p.dialback = true;
    p.keepalive = false;
    snprintf(p.proxy_fqdn, sizeof p.proxy_fqdn, "10.0.0.1:5269");
    p.connection_limit = 3;
    snprintf(p.description, sizeof p.description, "d\xc3\xa9sc");
    Xgw__V1__Partner pp;
    xgw_partner_to_proto(&p, &pp);
    assert_int_equal(xgw_partner_from_proto(&pp, &back), 0);
    assert_memory_equal(&p, &back, sizeof p);

    xgw_ext_policy_t e, eb;
    xgw_ext_policy_defaults(&e);
    snprintf(e.name, sizeof e.name, "n");
    e.scope = XGW_SCOPE_SITE;
    snprintf(e.site, sizeof e.site, "s");
    e.public_cloud = true;
    e.outside = true;
    Xgw__V1__ExtPolicy ep;
    xgw_policy_to_proto(&e, &ep);
    assert_int_equal(xgw_policy_from_proto(&ep, &eb), 0);
    assert_memory_equal(&e, &eb, sizeof e);
    ep.name = NULL;
    assert_int_equal(xgw_policy_from_proto(&ep, &eb), XGW_EINVAL);

    /* A decision as a protobuf message. */
    s_open_global(r);
    assert_int_equal(s_partner(r, 5, "conv.example", XGW_PARTNER_PUBLIC_VERIFIED, ""), 0);
    xgw_decision_t d = s_expect(r, "xmpp:j@conv.example/x", "sip:alice@example.net", XGW_KIND_PROBE,
                                true, "allowed");
    Xgw__V1__Decision out;
    Xgw__V1__Partner pbuf;
    xgw_decision_to_proto(&d, &out, &pbuf, 3, "policyd.00");
    assert_true(out.allow);
    assert_string_equal(out.rule, "allowed");
    assert_string_equal(out.direction, "inbound");
    assert_string_equal(out.local_user, "alice@example.net");
    assert_string_equal(out.remote, "j@conv.example");
    assert_string_equal(out.policy, "global");
    assert_string_equal(out.policy_source, "global");
    assert_ptr_equal(out.partner, &pbuf);
    assert_string_equal(out.partner->domain, "conv.example");
    assert_true(out.strip_status_note);
    assert_int_equal(out.ruleset_version, 3);
    assert_string_equal(out.decided_by, "policyd.00");
    d = s_expect(r, "alice@example.net", "j@none.example", XGW_KIND_MESSAGE, false,
                 "not_a_partner");
    xgw_decision_to_proto(&d, &out, &pbuf, 3, NULL);
    assert_null(out.partner);
    assert_string_equal(out.policy, "");
    assert_string_equal(out.direction, "outbound");
    assert_string_equal(out.decided_by, "");
    xgw_rules_destroy(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_empty),
        cmocka_unit_test(test_versions_and_gaps),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_partner_type_matrix),
        cmocka_unit_test(test_deny_list),
        cmocka_unit_test(test_additional_domains),
        cmocka_unit_test(test_not_gateway_traffic_and_addresses),
        cmocka_unit_test(test_decide_overlong_domain),
        cmocka_unit_test(test_failing_changes),
        cmocka_unit_test(test_partner_conflicts),
        cmocka_unit_test(test_snapshot_round_trip),
        cmocka_unit_test(test_snapshot_empty),
        cmocka_unit_test(test_load_bad_snapshot),
        cmocka_unit_test(test_gateway_and_proto_conversions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
