/*
 * policy_admin.c - policyd's administrative verbs; see policy_admin.h.
 *
 * Objects and verbs (options without their leading dashes):
 *   policy  new NAME --scope S [--description T] [--federation B] [--xmpp B]
 *                    [--public-cloud B] [--outside B]
 *           set NAME [same but --scope]   show [NAME]   remove NAME
 *           grant USER NAME | grant USER --none        effective USER
 *   user    set USER --site S   show [USER]   remove USER
 *   partner add DOMAIN [--type T] [--tls M] [--sasl M] [--dialback B]
 *               [--keepalive B] [--proxy-fqdn H[:P]] [--additional-domains L]
 *               [--connection-limit N] [--description T]
 *           set DOMAIN [same]   show [DOMAIN]   remove DOMAIN
 *   deny    add PATTERN   remove PATTERN   show
 *   gateway show   set [--connection-limit N] [--partner-connection-limit N]
 *               [--keepalive-interval S] [--stream-establishment-timeout S]
 *               [--stream-inactivity-timeout S] [--subscription-refresh-interval S]
 *               [--log-message-bodies B] [--dialback-secret-ref NAME]
 *   contact show [USER]   set USER JID [--sip-added B] [--xmpp-subscribed B]
 *           remove USER JID
 */
#include "policy_admin.h"
#include "xgw_admin_verbs.h"
#include "xgw_error.h"
#include "xgw_log.h"
#include "xgw_metrics.h"

#include <czmq.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_WARN 4

typedef struct {
    policy_admin_t *a;
    const Xgw__V1__AdminRequest *req;
    Xgw__V1__AdminReply *reply;
    xgw_arena_t *arena;
    FILE *text;
    char *text_buf;
    size_t text_len;
    FILE *json;
    char *json_buf;
    size_t json_len;
    char *warn[S_MAX_WARN];
    size_t n_warn;
    char message[512];
    int changed; /* a change was committed (or would be, on a dry run) */
} s_op_t;

/* ---- reply helpers ----------------------------------------------------- */

static int
s_fail(s_op_t *op, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(op->message, sizeof op->message, fmt, ap);
    va_end(ap);
    return code;
}

static void
s_warn(s_op_t *op, const char *fmt, ...)
{
    if (op->n_warn >= S_MAX_WARN)
        return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    op->warn[op->n_warn++] = xgw_arena_strdup(op->arena, buf);
}

static void
s_js(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static const char *
s_onoff(bool b)
{
    return b ? "on" : "off";
}

static const char *
s_opt(const s_op_t *op, const char *name)
{
    for (size_t i = 0; i < op->req->n_options; i++) {
        if (strcmp(op->req->options[i]->key, name) == 0)
            return op->req->options[i]->value ? op->req->options[i]->value : "";
    }
    return NULL;
}

static const char *
s_arg(const s_op_t *op, size_t i)
{
    return i < op->req->n_args ? op->req->args[i] : NULL;
}

/* ---- commit ------------------------------------------------------------ */

static xgw_series_t *
s_store_latency(void)
{
    static const double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                    0.05,   0.1,   0.25,   0.5,   1,    2.5};
    static xgw_series_t *s;
    if (!s) {
        xgw_family_t *f = xgw_metrics_histogram("xgw_policy_store_seconds",
                                                "Time to commit one change to the policy store.",
                                                NULL, bounds, sizeof bounds / sizeof bounds[0]);
        s = xgw_family_series(f);
    }
    return s;
}

/* Writes the change, applies it in memory, publishes it. */
static int
s_commit(s_op_t *op, Xgw__V1__RuleChange *c)
{
    op->changed = 1;
    if (op->req->dry_run)
        return 0;
    policy_admin_t *a = op->a;
    c->version = policy_store_version(a->store) + 1;
    int64_t t0 = zclock_usecs();
    int rc = policy_store_commit(a->store, c);
    xgw_series_observe(s_store_latency(), (double)(zclock_usecs() - t0) / 1e6);
    if (rc != 0)
        return s_fail(op, 1, "the policy store refused the change (%s); nothing changed",
                      xgw_strerror(rc));
    rc = xgw_rules_apply(a->rules, c, false);
    if (rc != 0) {
        /* Cannot happen after validation; if it does, the store is the
         * truth: rebuild the rules from it. */
        xgw_error("rules_apply_failed", "version=%llu error=\"%s\"", (unsigned long long)c->version,
                  xgw_strerror(rc));
        policy_store_load(a->store, a->rules);
    }
    if (a->publish_change)
        a->publish_change(a->ud, c);
    return 0;
}

/* Commits a change that names one object (a delete, a deny entry) and, when
 * it is done, says so with done_fmt (one %s: the key). */
static int
s_commit_key(s_op_t *op, Xgw__V1__RuleChange__ChangeCase which, const char *key,
             const char *done_fmt)
{
    Xgw__V1__RuleChange c = XGW__V1__RULE_CHANGE__INIT;
    c.change_case = which;
    char *k = (char *)key;
    switch (which) {
    case XGW__V1__RULE_CHANGE__CHANGE_POLICY_DELETE:
        c.policy_delete = k;
        break;
    case XGW__V1__RULE_CHANGE__CHANGE_USER_DELETE:
        c.user_delete = k;
        break;
    case XGW__V1__RULE_CHANGE__CHANGE_PARTNER_DELETE:
        c.partner_delete = k;
        break;
    case XGW__V1__RULE_CHANGE__CHANGE_DENY_ADD:
        c.deny_add = k;
        break;
    case XGW__V1__RULE_CHANGE__CHANGE_DENY_REMOVE:
        c.deny_remove = k;
        break;
    default:
        return s_fail(op, 1, "internal error: change %d does not name one object", (int)which);
    }
    int rc = s_commit(op, &c);
    if (rc == 0 && done_fmt)
        s_fail(op, 0, done_fmt, key);
    return rc;
}

/* ---- value parsing shared by verbs --------------------------------------- */

static int
s_switch_opt(s_op_t *op, const char *name, bool *out)
{
    const char *v = s_opt(op, name);
    if (!v)
        return 0;
    char err[256];
    if (xgw_parse_switch(v, out, err, sizeof err) != 0)
        return s_fail(op, 2, "--%s: %s", name, err);
    return 0;
}

static int
s_user_arg(s_op_t *op, const char *text, char *out)
{
    char err[256];
    if (xgw_sip_address_normalize(text, out, err, sizeof err) != 0)
        return s_fail(op, 2, "%s", err);
    return 0;
}

/* ---- policy ------------------------------------------------------------ */

static void
s_policy_text(FILE *f, const xgw_ext_policy_t *p)
{
    char scope[XGW_NAME_MAX + 8];
    if (p->scope == XGW_SCOPE_SITE)
        snprintf(scope, sizeof scope, "site:%s", p->site);
    else
        snprintf(scope, sizeof scope, "%s", xgw_scope_name(p->scope));
    fprintf(f, "%-20s %-16s federation=%-3s xmpp=%-3s public-cloud=%-3s outside=%-3s %s\n", p->name,
            scope, s_onoff(p->federation), s_onoff(p->xmpp), s_onoff(p->public_cloud),
            s_onoff(p->outside), p->description);
}

static void
s_policy_json(FILE *f, const xgw_ext_policy_t *p)
{
    fprintf(f, "{\"name\":");
    s_js(f, p->name);
    fprintf(f, ",\"scope\":\"%s\",\"site\":", xgw_scope_name(p->scope));
    s_js(f, p->site);
    fprintf(f, ",\"description\":");
    s_js(f, p->description);
    fprintf(f, ",\"federation\":%s,\"xmpp\":%s,\"public_cloud\":%s,\"outside\":%s}",
            p->federation ? "true" : "false", p->xmpp ? "true" : "false",
            p->public_cloud ? "true" : "false", p->outside ? "true" : "false");
}

/* Applies the switch and description options to p. */
static int
s_policy_options(s_op_t *op, xgw_ext_policy_t *p)
{
    if (s_switch_opt(op, "federation", &p->federation) || s_switch_opt(op, "xmpp", &p->xmpp) ||
        s_switch_opt(op, "public-cloud", &p->public_cloud) ||
        s_switch_opt(op, "outside", &p->outside))
        return 2;
    const char *d = s_opt(op, "description");
    if (d) {
        char err[256];
        if (xgw_description_check(d, err, sizeof err) != 0)
            return s_fail(op, 2, "--description: %s", err);
        snprintf(p->description, sizeof p->description, "%s", d);
    }
    char err[256];
    if (xgw_ext_policy_check(p, err, sizeof err) != 0)
        return s_fail(op, 2, "%s", err);
    return 0;
}

static int
s_policy_put(s_op_t *op, const xgw_ext_policy_t *p)
{
    Xgw__V1__RuleChange c = XGW__V1__RULE_CHANGE__INIT;
    Xgw__V1__ExtPolicy pp;
    xgw_policy_to_proto(p, &pp);
    c.change_case = XGW__V1__RULE_CHANGE__CHANGE_POLICY_PUT;
    c.policy_put = &pp;
    return s_commit(op, &c);
}

static int
s_policy_new(s_op_t *op)
{
    const char *name = s_arg(op, 0);
    char err[256];
    if (xgw_name_check("policy", name, err, sizeof err) != 0)
        return s_fail(op, 2, "%s", err);
    if (xgw_rules_policy(op->a->rules, name))
        return s_fail(op, 2, "policy %s exists (change it with policy set)", name);
    const char *scope = s_opt(op, "scope");
    if (!scope)
        return s_fail(op, 2, "--scope is required (global, site:NAME, user)");
    xgw_ext_policy_t p;
    xgw_ext_policy_defaults(&p);
    snprintf(p.name, sizeof p.name, "%s", name);
    if (xgw_parse_scope(scope, &p.scope, p.site, err, sizeof err) != 0)
        return s_fail(op, 2, "--scope: %s", err);
    if (p.scope == XGW_SCOPE_GLOBAL)
        return s_fail(op, 2, "the global policy always exists; change it with policy set global");
    if (p.scope == XGW_SCOPE_SITE) {
        const xgw_ext_policy_t *other = xgw_rules_site_policy(op->a->rules, p.site);
        if (other)
            return s_fail(op, 2, "site %s already has policy %s (one policy per site)", p.site,
                          other->name);
    }
    int rc = s_policy_options(op, &p);
    if (rc != 0)
        return rc;
    rc = s_policy_put(op, &p);
    if (rc == 0) {
        s_fail(op, 0, "policy %s created", p.name);
        s_policy_text(op->text, &p);
        s_policy_json(op->json, &p);
    }
    return rc;
}

static int
s_policy_set(s_op_t *op)
{
    const char *name = s_arg(op, 0);
    const xgw_ext_policy_t *cur = xgw_rules_policy(op->a->rules, name);
    if (!cur)
        return s_fail(op, 2, "no policy named %s", name);
    if (op->req->n_options == 0)
        return s_fail(op, 2, "nothing to change: give at least one option");
    xgw_ext_policy_t p = *cur;
    int rc = s_policy_options(op, &p);
    if (rc != 0)
        return rc;
    rc = s_policy_put(op, &p);
    if (rc == 0) {
        s_fail(op, 0, "policy %s changed", p.name);
        s_policy_text(op->text, &p);
        s_policy_json(op->json, &p);
    }
    return rc;
}

typedef struct {
    const xgw_ext_policy_t *items[4096];
    size_t n;
} s_policy_list_t;

static void
s_collect_policy(void *ud, const xgw_ext_policy_t *p)
{
    s_policy_list_t *l = ud;
    if (l->n < sizeof l->items / sizeof l->items[0])
        l->items[l->n++] = p;
}

static int
s_cmp_policy(const void *a, const void *b)
{
    const xgw_ext_policy_t *pa = *(const xgw_ext_policy_t *const *)a;
    const xgw_ext_policy_t *pb = *(const xgw_ext_policy_t *const *)b;
    if (pa->scope != pb->scope)
        return (int)pa->scope - (int)pb->scope;
    return strcmp(pa->name, pb->name);
}

static int
s_policy_show(s_op_t *op)
{
    const char *name = s_arg(op, 0);
    if (name) {
        const xgw_ext_policy_t *p = xgw_rules_policy(op->a->rules, name);
        if (!p)
            return s_fail(op, 2, "no policy named %s", name);
        s_policy_text(op->text, p);
        s_policy_json(op->json, p);
        return 0;
    }
    s_policy_list_t *l = calloc(1, sizeof *l);
    if (!l)
        return s_fail(op, 1, "out of memory");
    xgw_rules_each_policy(op->a->rules, s_collect_policy, l);
    qsort(l->items, l->n, sizeof l->items[0], s_cmp_policy);
    fprintf(op->json, "[");
    for (size_t i = 0; i < l->n; i++) {
        s_policy_text(op->text, l->items[i]);
        if (i)
            fprintf(op->json, ",");
        s_policy_json(op->json, l->items[i]);
    }
    fprintf(op->json, "]");
    free(l);
    return 0;
}

static int
s_policy_remove(s_op_t *op)
{
    const char *name = s_arg(op, 0);
    const xgw_ext_policy_t *cur = xgw_rules_policy(op->a->rules, name);
    if (!cur)
        return s_fail(op, 2, "no policy named %s", name);
    if (cur->scope == XGW_SCOPE_GLOBAL) {
        xgw_ext_policy_t g;
        xgw_ext_policy_defaults(&g);
        g.scope = XGW_SCOPE_GLOBAL;
        snprintf(g.name, sizeof g.name, "global");
        int rc = s_policy_put(op, &g);
        if (rc == 0)
            s_fail(op, 0, "the global policy cannot be removed; it was reset to its defaults");
        return rc;
    }
    size_t grants = xgw_rules_policy_grants(op->a->rules, name);
    if (grants > 0)
        return s_fail(op, 2,
                      "policy %s is granted to %zu user(s); revoke it first (xgwctl policy "
                      "grant USER --none)",
                      name, grants);
    return s_commit_key(op, XGW__V1__RULE_CHANGE__CHANGE_POLICY_DELETE, name, "policy %s removed");
}

/* Writes the user's entry (or removes it when it holds nothing). */
static int
s_user_put(s_op_t *op, const char *address, const char *site, const char *policy)
{
    Xgw__V1__RuleChange c = XGW__V1__RULE_CHANGE__INIT;
    Xgw__V1__SipUser u = XGW__V1__SIP_USER__INIT;
    const char *cur_site, *cur_policy;
    int exists = xgw_rules_user(op->a->rules, address, &cur_site, &cur_policy) == 0;
    if (!*site && !*policy) {
        if (!exists)
            return 0;
        return s_commit_key(op, XGW__V1__RULE_CHANGE__CHANGE_USER_DELETE, address, NULL);
    }
    u.address = (char *)address;
    u.site = (char *)site;
    u.policy = (char *)policy;
    c.change_case = XGW__V1__RULE_CHANGE__CHANGE_USER_PUT;
    c.user_put = &u;
    return s_commit(op, &c);
}

static int
s_policy_grant(s_op_t *op)
{
    char user[XGW_ADDRESS_MAX + 1];
    if (s_user_arg(op, s_arg(op, 0), user) != 0)
        return 2;
    const char *name = s_arg(op, 1);
    int none = s_opt(op, "none") != NULL;
    if (none == (name != NULL))
        return s_fail(op, 2, "give either a policy name or --none");
    const char *site = "", *cur_policy = "";
    xgw_rules_user(op->a->rules, user, &site, &cur_policy);
    char site_copy[XGW_NAME_MAX + 1];
    snprintf(site_copy, sizeof site_copy, "%s", site);
    if (name) {
        const xgw_ext_policy_t *p = xgw_rules_policy(op->a->rules, name);
        if (!p)
            return s_fail(op, 2, "no policy named %s", name);
        if (p->scope != XGW_SCOPE_USER)
            return s_fail(op, 2,
                          "policy %s is a %s policy; only user policies are granted (site "
                          "policies apply to the site's users by themselves)",
                          name, xgw_scope_name(p->scope));
    }
    int rc = s_user_put(op, user, site_copy, name ? name : "");
    if (rc == 0)
        s_fail(op, 0, none ? "user %s: granted policy revoked" : "user %s: granted policy %s", user,
               name ? name : "");
    return rc;
}

static int
s_policy_effective(s_op_t *op)
{
    char user[XGW_ADDRESS_MAX + 1];
    if (s_user_arg(op, s_arg(op, 0), user) != 0)
        return 2;
    char source[XGW_NAME_MAX + 8];
    const xgw_ext_policy_t *p = xgw_rules_effective(op->a->rules, user, source);
    fprintf(op->text, "%s: policy %s (from %s)\n", user, p->name, source);
    s_policy_text(op->text, p);
    fprintf(op->json, "{\"user\":");
    s_js(op->json, user);
    fprintf(op->json, ",\"source\":");
    s_js(op->json, source);
    fprintf(op->json, ",\"policy\":");
    s_policy_json(op->json, p);
    fprintf(op->json, "}");
    return 0;
}

/* ---- user -------------------------------------------------------------- */

static int
s_user_set(s_op_t *op)
{
    char user[XGW_ADDRESS_MAX + 1];
    if (s_user_arg(op, s_arg(op, 0), user) != 0)
        return 2;
    const char *site = s_opt(op, "site");
    if (!site)
        return s_fail(op, 2, "--site is required (use --site none to clear it)");
    if (strcmp(site, "none") == 0)
        site = "";
    char err[256];
    if (*site && xgw_name_check("site", site, err, sizeof err) != 0)
        return s_fail(op, 2, "--site: %s", err);
    const char *cur_site = "", *policy = "";
    xgw_rules_user(op->a->rules, user, &cur_site, &policy);
    char policy_copy[XGW_NAME_MAX + 1];
    snprintf(policy_copy, sizeof policy_copy, "%s", policy);
    int rc = s_user_put(op, user, site, policy_copy);
    if (rc == 0)
        s_fail(op, 0, *site ? "user %s: site %s" : "user %s: no site", user, site);
    return rc;
}

typedef struct {
    char (*addr)[XGW_ADDRESS_MAX + 1];
    size_t n, cap;
} s_user_list_t;

static void
s_collect_user(void *ud, const char *address, const char *site, const char *policy)
{
    (void)site;
    (void)policy;
    s_user_list_t *l = ud;
    if (l->n < l->cap)
        snprintf(l->addr[l->n++], XGW_ADDRESS_MAX + 1, "%s", address);
}

static int
s_cmp_str(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void
s_user_line(s_op_t *op, const char *address, int first)
{
    const char *site = "", *policy = "";
    xgw_rules_user(op->a->rules, address, &site, &policy);
    char source[XGW_NAME_MAX + 8];
    const xgw_ext_policy_t *eff = xgw_rules_effective(op->a->rules, address, source);
    fprintf(op->text, "%-40s site=%-12s granted=%-16s effective=%s (%s)\n", address,
            *site ? site : "-", *policy ? policy : "-", eff->name, source);
    fprintf(op->json, "%s{\"user\":", first ? "" : ",");
    s_js(op->json, address);
    fprintf(op->json, ",\"site\":");
    s_js(op->json, site);
    fprintf(op->json, ",\"granted\":");
    s_js(op->json, policy);
    fprintf(op->json, ",\"effective\":");
    s_js(op->json, eff->name);
    fprintf(op->json, ",\"source\":");
    s_js(op->json, source);
    fprintf(op->json, "}");
}

static int
s_user_show(s_op_t *op)
{
    if (s_arg(op, 0)) {
        char user[XGW_ADDRESS_MAX + 1];
        if (s_user_arg(op, s_arg(op, 0), user) != 0)
            return 2;
        s_user_line(op, user, 1);
        return 0;
    }
    s_user_list_t l = {NULL, 0, xgw_rules_count_users(op->a->rules)};
    l.addr = calloc(l.cap ? l.cap : 1, sizeof *l.addr);
    if (!l.addr)
        return s_fail(op, 1, "out of memory");
    xgw_rules_each_user(op->a->rules, s_collect_user, &l);
    qsort(l.addr, l.n, sizeof *l.addr, s_cmp_str);
    fprintf(op->json, "[");
    for (size_t i = 0; i < l.n; i++)
        s_user_line(op, l.addr[i], i == 0);
    fprintf(op->json, "]");
    free(l.addr);
    return 0;
}

static int
s_user_remove(s_op_t *op)
{
    char user[XGW_ADDRESS_MAX + 1];
    if (s_user_arg(op, s_arg(op, 0), user) != 0)
        return 2;
    const char *site, *policy;
    if (xgw_rules_user(op->a->rules, user, &site, &policy) != 0)
        return s_fail(op, 2, "no user entry for %s", user);
    int rc = s_user_put(op, user, "", "");
    if (rc == 0)
        s_fail(op, 0, "user %s removed (global policy applies)", user);
    return rc;
}

/* ---- partner ----------------------------------------------------------- */

static void
s_partner_text(s_op_t *op, const xgw_partner_t *p)
{
    char *const *add = NULL;
    size_t n = 0;
    xgw_rules_partner_additional(op->a->rules, p->domain, &add, &n);
    fprintf(op->text,
            "%-30s id=%u type=%s tls=%s sasl=%s dialback=%s keepalive=%s proxy=%s "
            "limit=%u additional=",
            p->domain, p->id, xgw_partner_type_name(p->type), xgw_negotiation_name(p->tls),
            xgw_negotiation_name(p->sasl), s_onoff(p->dialback), s_onoff(p->keepalive),
            p->proxy_fqdn[0] ? p->proxy_fqdn : "-", p->connection_limit);
    for (size_t i = 0; i < n; i++)
        fprintf(op->text, "%s%s", i ? "," : "", add[i]);
    fprintf(op->text, "%s %s\n", n ? "" : "-", p->description);
    fprintf(op->json, "{\"domain\":");
    s_js(op->json, p->domain);
    fprintf(op->json,
            ",\"id\":%u,\"type\":\"%s\",\"tls\":\"%s\",\"sasl\":\"%s\",\"dialback\":%s,"
            "\"keepalive\":%s,\"proxy_fqdn\":",
            p->id, xgw_partner_type_name(p->type), xgw_negotiation_name(p->tls),
            xgw_negotiation_name(p->sasl), p->dialback ? "true" : "false",
            p->keepalive ? "true" : "false");
    s_js(op->json, p->proxy_fqdn);
    fprintf(op->json, ",\"connection_limit\":%u,\"additional_domains\":[", p->connection_limit);
    for (size_t i = 0; i < n; i++) {
        fprintf(op->json, "%s", i ? "," : "");
        s_js(op->json, add[i]);
    }
    fprintf(op->json, "],\"description\":");
    s_js(op->json, p->description);
    fprintf(op->json, "}");
}

/* Reads the partner options over p (and the additional-domain list). */
static int
s_partner_options(s_op_t *op, xgw_partner_t *p, char add[][XGW_DOMAIN_MAX + 1], size_t *n_add,
                  int *add_given)
{
    char err[256];
    const char *v;
    v = s_opt(op, "type");
    if (v && xgw_parse_partner_type(v, &p->type, err, sizeof err) != 0)
        return s_fail(op, 2, "--type: %s", err);
    v = s_opt(op, "tls");
    if (v && xgw_parse_negotiation(v, &p->tls, err, sizeof err) != 0)
        return s_fail(op, 2, "--tls: %s", err);
    v = s_opt(op, "sasl");
    if (v && xgw_parse_negotiation(v, &p->sasl, err, sizeof err) != 0)
        return s_fail(op, 2, "--sasl: %s", err);
    if (s_switch_opt(op, "dialback", &p->dialback) || s_switch_opt(op, "keepalive", &p->keepalive))
        return 2;
    v = s_opt(op, "proxy-fqdn");
    if (v &&
        xgw_proxy_normalize(strcmp(v, "none") == 0 ? "" : v, p->proxy_fqdn, err, sizeof err) != 0)
        return s_fail(op, 2, "--proxy-fqdn: %s", err);
    v = s_opt(op, "connection-limit");
    if (v &&
        xgw_parse_uint(v, 0, XGW_CONNECTION_LIMIT_MAX, &p->connection_limit, err, sizeof err) != 0)
        return s_fail(op, 2, "--connection-limit: %s (0 means the gateway's per-partner limit)",
                      err);
    v = s_opt(op, "description");
    if (v) {
        if (xgw_description_check(v, err, sizeof err) != 0)
            return s_fail(op, 2, "--description: %s", err);
        snprintf(p->description, sizeof p->description, "%s", v);
    }
    v = s_opt(op, "additional-domains");
    *add_given = v != NULL;
    if (v) {
        if (xgw_domain_list_parse(strcmp(v, "none") == 0 ? "" : v, add, XGW_ADDITIONAL_DOMAINS_MAX,
                                  n_add, err, sizeof err) != 0)
            return s_fail(op, 2, "--additional-domains: %s", err);
    }
    char warn[256];
    if (xgw_partner_auth_check(p->tls, p->sasl, p->dialback, warn, sizeof warn, err, sizeof err) !=
        0)
        return s_fail(op, 2, "%s: %s", p->domain, err);
    if (warn[0])
        s_warn(op, "%s: %s", p->domain, warn);
    /* One domain, one partner. */
    for (size_t i = 0; i < *n_add; i++) {
        if (strcmp(add[i], p->domain) == 0)
            return s_fail(op, 2, "%s is the partner's own domain, not an additional one", add[i]);
        const xgw_partner_t *owner = xgw_rules_partner_for(op->a->rules, add[i]);
        if (owner && strcmp(owner->domain, p->domain) != 0)
            return s_fail(op, 2, "%s already belongs to partner %s", add[i], owner->domain);
    }
    const char *denied = xgw_rules_denied(op->a->rules, p->domain);
    if (denied)
        s_warn(op, "%s matches the deny list entry %s: the deny list wins", p->domain, denied);
    return 0;
}

static int
s_partner_put(s_op_t *op, const xgw_partner_t *p, char add[][XGW_DOMAIN_MAX + 1], size_t n_add)
{
    Xgw__V1__RuleChange c = XGW__V1__RULE_CHANGE__INIT;
    Xgw__V1__Partner pp;
    xgw_partner_to_proto(p, &pp);
    char *ptrs[XGW_ADDITIONAL_DOMAINS_MAX];
    for (size_t i = 0; i < n_add; i++)
        ptrs[i] = add[i];
    pp.additional = ptrs;
    pp.n_additional = n_add;
    c.change_case = XGW__V1__RULE_CHANGE__CHANGE_PARTNER_PUT;
    c.partner_put = &pp;
    return s_commit(op, &c);
}

static int
s_partner_add(s_op_t *op)
{
    xgw_partner_t p;
    xgw_partner_defaults(&p);
    char err[256];
    if (xgw_domain_normalize(s_arg(op, 0), p.domain, err, sizeof err) != 0)
        return s_fail(op, 2, "%s", err);
    const xgw_partner_t *owner = xgw_rules_partner_for(op->a->rules, p.domain);
    if (owner && strcmp(owner->domain, p.domain) == 0)
        return s_fail(op, 2, "partner %s exists (change it with partner set)", p.domain);
    if (owner)
        return s_fail(op, 2, "%s is an additional domain of partner %s", p.domain, owner->domain);
    char(*add)[XGW_DOMAIN_MAX + 1] = calloc(XGW_ADDITIONAL_DOMAINS_MAX, sizeof *add);
    if (!add)
        return s_fail(op, 1, "out of memory");
    size_t n_add = 0;
    int given = 0;
    int rc = s_partner_options(op, &p, add, &n_add, &given);
    if (rc == 0) {
        p.id = policy_store_next_partner_id(op->a->store);
        rc = s_partner_put(op, &p, add, n_add);
    }
    if (rc == 0) {
        s_fail(op, 0, "partner %s added", p.domain);
        const xgw_partner_t *now = xgw_rules_partner_for(op->a->rules, p.domain);
        s_partner_text(op, now && !op->req->dry_run ? now : &p);
    }
    free(add);
    return rc;
}

static int
s_partner_set(s_op_t *op)
{
    char domain[XGW_DOMAIN_MAX + 1];
    char err[256];
    if (xgw_domain_normalize(s_arg(op, 0), domain, err, sizeof err) != 0)
        return s_fail(op, 2, "%s", err);
    const xgw_partner_t *cur = xgw_rules_partner_for(op->a->rules, domain);
    if (!cur || strcmp(cur->domain, domain) != 0)
        return s_fail(op, 2, "no partner %s", domain);
    if (op->req->n_options == 0)
        return s_fail(op, 2, "nothing to change: give at least one option");
    xgw_partner_t p = *cur;
    char(*add)[XGW_DOMAIN_MAX + 1] = calloc(XGW_ADDITIONAL_DOMAINS_MAX, sizeof *add);
    if (!add)
        return s_fail(op, 1, "out of memory");
    size_t n_add = 0;
    int given = 0;
    int rc = s_partner_options(op, &p, add, &n_add, &given);
    if (rc == 0 && !given) {
        char *const *old = NULL;
        xgw_rules_partner_additional(op->a->rules, domain, &old, &n_add);
        for (size_t i = 0; i < n_add; i++)
            snprintf(add[i], XGW_DOMAIN_MAX + 1, "%s", old[i]);
    }
    if (rc == 0)
        rc = s_partner_put(op, &p, add, n_add);
    if (rc == 0) {
        s_fail(op, 0, "partner %s changed", domain);
        s_partner_text(op, xgw_rules_partner_for(op->a->rules, domain));
    }
    free(add);
    return rc;
}

typedef struct {
    const xgw_partner_t **items;
    size_t n, cap;
} s_partner_list_t;

static void
s_collect_partner(void *ud, const xgw_partner_t *p)
{
    s_partner_list_t *l = ud;
    if (l->n < l->cap)
        l->items[l->n++] = p;
}

static int
s_cmp_partner(const void *a, const void *b)
{
    return strcmp((*(const xgw_partner_t *const *)a)->domain,
                  (*(const xgw_partner_t *const *)b)->domain);
}

static int
s_partner_show(s_op_t *op)
{
    if (s_arg(op, 0)) {
        char domain[XGW_DOMAIN_MAX + 1];
        char err[256];
        if (xgw_domain_normalize(s_arg(op, 0), domain, err, sizeof err) != 0)
            return s_fail(op, 2, "%s", err);
        const xgw_partner_t *p = xgw_rules_partner_for(op->a->rules, domain);
        if (!p)
            return s_fail(op, 2, "no partner %s", domain);
        s_partner_text(op, p);
        return 0;
    }
    s_partner_list_t l = {NULL, 0, xgw_rules_count_partners(op->a->rules)};
    l.items = calloc(l.cap ? l.cap : 1, sizeof *l.items);
    if (!l.items)
        return s_fail(op, 1, "out of memory");
    xgw_rules_each_partner(op->a->rules, s_collect_partner, &l);
    qsort(l.items, l.n, sizeof *l.items, s_cmp_partner);
    fprintf(op->json, "[");
    for (size_t i = 0; i < l.n; i++) {
        if (i)
            fprintf(op->json, ",");
        s_partner_text(op, l.items[i]);
    }
    fprintf(op->json, "]");
    free(l.items);
    return 0;
}

static int
s_partner_remove(s_op_t *op)
{
    char domain[XGW_DOMAIN_MAX + 1];
    char err[256];
    if (xgw_domain_normalize(s_arg(op, 0), domain, err, sizeof err) != 0)
        return s_fail(op, 2, "%s", err);
    const xgw_partner_t *cur = xgw_rules_partner_for(op->a->rules, domain);
    if (!cur || strcmp(cur->domain, domain) != 0)
        return s_fail(op, 2, "no partner %s", domain);
    return s_commit_key(op, XGW__V1__RULE_CHANGE__CHANGE_PARTNER_DELETE, domain,
                        "partner %s removed");
}

/* ---- deny -------------------------------------------------------------- */

static int
s_deny_add(s_op_t *op)
{
    char pattern[XGW_DOMAIN_MAX + 3];
    char err[256];
    if (xgw_deny_pattern_normalize(s_arg(op, 0), pattern, err, sizeof err) != 0)
        return s_fail(op, 2, "%s", err);
    if (xgw_rules_deny_has(op->a->rules, pattern))
        return s_fail(op, 0, "%s is already on the deny list", pattern);
    return s_commit_key(op, XGW__V1__RULE_CHANGE__CHANGE_DENY_ADD, pattern,
                        "%s added to the deny list");
}

static int
s_deny_remove(s_op_t *op)
{
    char pattern[XGW_DOMAIN_MAX + 3];
    char err[256];
    if (xgw_deny_pattern_normalize(s_arg(op, 0), pattern, err, sizeof err) != 0)
        return s_fail(op, 2, "%s", err);
    if (!xgw_rules_deny_has(op->a->rules, pattern))
        return s_fail(op, 2, "%s is not on the deny list", pattern);
    return s_commit_key(op, XGW__V1__RULE_CHANGE__CHANGE_DENY_REMOVE, pattern,
                        "%s removed from the deny list");
}

typedef struct {
    char (*items)[XGW_DOMAIN_MAX + 3];
    size_t n, cap;
} s_deny_list_t;

static void
s_collect_deny(void *ud, const char *pattern)
{
    s_deny_list_t *l = ud;
    if (l->n < l->cap)
        snprintf(l->items[l->n++], XGW_DOMAIN_MAX + 3, "%s", pattern);
}

static int
s_deny_show(s_op_t *op)
{
    if (s_arg(op, 0)) {
        /* Is this domain denied, and by which entry? */
        char domain[XGW_DOMAIN_MAX + 1];
        char err[256];
        if (xgw_domain_normalize(s_arg(op, 0), domain, err, sizeof err) != 0)
            return s_fail(op, 2, "%s", err);
        const char *hit = xgw_rules_denied(op->a->rules, domain);
        fprintf(op->text, "%s: %s%s\n", domain, hit ? "denied by " : "not denied", hit ? hit : "");
        fprintf(op->json, "{\"domain\":");
        s_js(op->json, domain);
        fprintf(op->json, ",\"denied\":%s,\"pattern\":", hit ? "true" : "false");
        s_js(op->json, hit ? hit : "");
        fprintf(op->json, "}");
        return 0;
    }
    s_deny_list_t l = {NULL, 0, 100000};
    l.items = calloc(l.cap, sizeof *l.items);
    if (!l.items)
        return s_fail(op, 1, "out of memory");
    xgw_rules_each_deny(op->a->rules, s_collect_deny, &l);
    qsort(l.items, l.n, sizeof *l.items, s_cmp_str);
    fprintf(op->json, "[");
    for (size_t i = 0; i < l.n; i++) {
        fprintf(op->text, "%s\n", l.items[i]);
        if (i)
            fprintf(op->json, ",");
        s_js(op->json, l.items[i]);
    }
    fprintf(op->json, "]");
    free(l.items);
    return 0;
}

/* ---- gateway ----------------------------------------------------------- */

static void
s_gateway_out(s_op_t *op, const xgw_gateway_t *g)
{
    fprintf(op->text,
            "connection-limit              %u\n"
            "partner-connection-limit      %u\n"
            "keepalive-interval            %us\n"
            "stream-establishment-timeout  %us\n"
            "stream-inactivity-timeout     %us\n"
            "subscription-refresh-interval %us\n"
            "log-message-bodies            %s\n"
            "dialback-secret-ref           %s\n",
            g->connection_limit, g->partner_connection_limit, g->keepalive_interval_s,
            g->stream_establishment_timeout_s, g->stream_inactivity_timeout_s,
            g->subscription_refresh_interval_s, s_onoff(g->log_message_bodies),
            g->dialback_secret_ref[0] ? g->dialback_secret_ref : "-");
    fprintf(op->json,
            "{\"connection_limit\":%u,\"partner_connection_limit\":%u,"
            "\"keepalive_interval_s\":%u,\"stream_establishment_timeout_s\":%u,"
            "\"stream_inactivity_timeout_s\":%u,\"subscription_refresh_interval_s\":%u,"
            "\"log_message_bodies\":%s,\"dialback_secret_ref\":",
            g->connection_limit, g->partner_connection_limit, g->keepalive_interval_s,
            g->stream_establishment_timeout_s, g->stream_inactivity_timeout_s,
            g->subscription_refresh_interval_s, g->log_message_bodies ? "true" : "false");
    s_js(op->json, g->dialback_secret_ref);
    fprintf(op->json, "}");
}

static int
s_gateway_show(s_op_t *op)
{
    s_gateway_out(op, xgw_rules_gateway(op->a->rules));
    return 0;
}

/* Seconds, written "300" or "300s". */
static int
s_seconds_opt(s_op_t *op, const char *name, uint32_t min, uint32_t max, uint32_t *out)
{
    const char *v = s_opt(op, name);
    if (!v)
        return 0;
    char buf[32];
    size_t n = strlen(v);
    if (n > 0 && n < sizeof buf && v[n - 1] == 's') {
        memcpy(buf, v, n - 1);
        buf[n - 1] = '\0';
        v = buf;
    }
    char err[256];
    if (xgw_parse_uint(v, min, max, out, err, sizeof err) != 0)
        return s_fail(op, 2, "--%s: %s seconds", name, err);
    return 0;
}

static int
s_gateway_set(s_op_t *op)
{
    if (op->req->n_options == 0)
        return s_fail(op, 2, "nothing to change: give at least one option");
    xgw_gateway_t g = *xgw_rules_gateway(op->a->rules);
    char err[256];
    const char *v = s_opt(op, "connection-limit");
    if (v &&
        xgw_parse_uint(v, 1, XGW_CONNECTION_LIMIT_MAX, &g.connection_limit, err, sizeof err) != 0)
        return s_fail(op, 2, "--connection-limit: %s", err);
    v = s_opt(op, "partner-connection-limit");
    if (v && xgw_parse_uint(v, 1, XGW_CONNECTION_LIMIT_MAX, &g.partner_connection_limit, err,
                            sizeof err) != 0)
        return s_fail(op, 2, "--partner-connection-limit: %s", err);
    if (s_seconds_opt(op, "keepalive-interval", 10, 3600, &g.keepalive_interval_s) ||
        s_seconds_opt(op, "stream-establishment-timeout", 5, 600,
                      &g.stream_establishment_timeout_s) ||
        s_seconds_opt(op, "stream-inactivity-timeout", 30, 86400, &g.stream_inactivity_timeout_s) ||
        s_seconds_opt(op, "subscription-refresh-interval", 60, 604800,
                      &g.subscription_refresh_interval_s) ||
        s_switch_opt(op, "log-message-bodies", &g.log_message_bodies))
        return 2;
    v = s_opt(op, "dialback-secret-ref");
    if (v) {
        if (xgw_name_check("dialback secret", v, err, sizeof err) != 0)
            return s_fail(op, 2, "--dialback-secret-ref: %s", err);
        snprintf(g.dialback_secret_ref, sizeof g.dialback_secret_ref, "%s", v);
    }
    if (g.partner_connection_limit > g.connection_limit)
        return s_fail(op, 2, "--partner-connection-limit %u is above the connection limit %u",
                      g.partner_connection_limit, g.connection_limit);
    if (g.log_message_bodies)
        s_warn(op, "message bodies will be written to the logs: make sure this is lawful and "
                   "intended");
    Xgw__V1__RuleChange c = XGW__V1__RULE_CHANGE__INIT;
    Xgw__V1__Gateway gp;
    xgw_gateway_to_proto(&g, &gp);
    c.change_case = XGW__V1__RULE_CHANGE__CHANGE_GATEWAY_PUT;
    c.gateway_put = &gp;
    int rc = s_commit(op, &c);
    if (rc == 0) {
        s_fail(op, 0, "gateway settings changed");
        s_gateway_out(op, &g);
    }
    return rc;
}

/* ---- contact ----------------------------------------------------------- */

typedef struct {
    s_op_t *op;
    size_t n;
} s_contact_walk_t;

static void
s_contact_line(void *ud, const char *sip_user, const char *xmpp_jid, bool sip_added,
               bool xmpp_subscribed)
{
    s_contact_walk_t *w = ud;
    fprintf(w->op->text, "%-40s %-40s sip-added=%s xmpp-subscribed=%s\n", sip_user, xmpp_jid,
            s_onoff(sip_added), s_onoff(xmpp_subscribed));
    fprintf(w->op->json, "%s{\"sip_user\":", w->n ? "," : "");
    s_js(w->op->json, sip_user);
    fprintf(w->op->json, ",\"xmpp_jid\":");
    s_js(w->op->json, xmpp_jid);
    fprintf(w->op->json, ",\"sip_added\":%s,\"xmpp_subscribed\":%s}", sip_added ? "true" : "false",
            xmpp_subscribed ? "true" : "false");
    w->n++;
}

static int
s_contact_show(s_op_t *op)
{
    char user[XGW_ADDRESS_MAX + 1] = "";
    if (s_arg(op, 0) && s_user_arg(op, s_arg(op, 0), user) != 0)
        return 2;
    s_contact_walk_t w = {op, 0};
    fprintf(op->json, "[");
    int rc = policy_store_contacts_each(op->a->store, user, s_contact_line, &w);
    fprintf(op->json, "]");
    return rc == 0 ? 0 : s_fail(op, 1, "the policy store could not be read");
}

static int
s_contact_args(s_op_t *op, char *user, char *jid)
{
    if (s_user_arg(op, s_arg(op, 0), user) != 0)
        return 2;
    char err[256];
    if (xgw_xmpp_address_normalize(s_arg(op, 1), jid, err, sizeof err) != 0)
        return s_fail(op, 2, "%s", err);
    return 0;
}

static int
s_contact_set(s_op_t *op)
{
    char user[XGW_ADDRESS_MAX + 1], jid[XGW_ADDRESS_MAX + 1];
    if (s_contact_args(op, user, jid) != 0)
        return 2;
    bool sip_added = false, xmpp_subscribed = false;
    uint64_t updated = 0;
    policy_store_contact_get(op->a->store, user, jid, &sip_added, &xmpp_subscribed, &updated);
    if (op->req->n_options == 0)
        return s_fail(op, 2, "nothing to change: give --sip-added and/or --xmpp-subscribed");
    if (s_switch_opt(op, "sip-added", &sip_added) ||
        s_switch_opt(op, "xmpp-subscribed", &xmpp_subscribed))
        return 2;
    op->changed = 1;
    if (op->req->dry_run)
        return 0;
    uint64_t now = (uint64_t)zclock_time();
    if (policy_store_contact_put(op->a->store, user, jid, sip_added, xmpp_subscribed, now) != 0)
        return s_fail(op, 1, "the policy store refused the change; nothing changed");
    Xgw__V1__ContactState cs = XGW__V1__CONTACT_STATE__INIT;
    cs.sip_user = user;
    cs.xmpp_jid = jid;
    cs.sip_added = sip_added;
    cs.xmpp_subscribed = xmpp_subscribed;
    cs.updated_ms = now;
    if (op->a->publish_contact)
        op->a->publish_contact(op->a->ud, &cs);
    s_fail(op, 0, "contact %s -> %s: sip-added=%s xmpp-subscribed=%s", user, jid,
           s_onoff(sip_added), s_onoff(xmpp_subscribed));
    return 0;
}

static int
s_contact_remove(s_op_t *op)
{
    char user[XGW_ADDRESS_MAX + 1], jid[XGW_ADDRESS_MAX + 1];
    if (s_contact_args(op, user, jid) != 0)
        return 2;
    op->changed = 1;
    if (op->req->dry_run)
        return 0;
    int rc = policy_store_contact_delete(op->a->store, user, jid);
    if (rc == XGW_ENOENT)
        return s_fail(op, 2, "no contact %s -> %s", user, jid);
    if (rc != 0)
        return s_fail(op, 1, "the policy store refused the change; nothing changed");
    Xgw__V1__ContactState cs = XGW__V1__CONTACT_STATE__INIT;
    cs.sip_user = user;
    cs.xmpp_jid = jid;
    cs.updated_ms = (uint64_t)zclock_time();
    if (op->a->publish_contact)
        op->a->publish_contact(op->a->ud, &cs);
    s_fail(op, 0, "contact %s -> %s removed", user, jid);
    return 0;
}

/* ---- dispatch ---------------------------------------------------------- */

typedef struct {
    const char *object;
    const char *verb;
    int (*run)(s_op_t *op);
} s_run_t;

/* What each verb of the shared table (lib/xgw_admin_verbs.c) does here. */
static const s_run_t s_runs[] = {
    {"policy", "new", s_policy_new},
    {"policy", "set", s_policy_set},
    {"policy", "show", s_policy_show},
    {"policy", "remove", s_policy_remove},
    {"policy", "grant", s_policy_grant},
    {"policy", "effective", s_policy_effective},
    {"user", "set", s_user_set},
    {"user", "show", s_user_show},
    {"user", "remove", s_user_remove},
    {"partner", "add", s_partner_add},
    {"partner", "set", s_partner_set},
    {"partner", "show", s_partner_show},
    {"partner", "remove", s_partner_remove},
    {"deny", "add", s_deny_add},
    {"deny", "remove", s_deny_remove},
    {"deny", "show", s_deny_show},
    {"gateway", "show", s_gateway_show},
    {"gateway", "set", s_gateway_set},
    {"contact", "show", s_contact_show},
    {"contact", "set", s_contact_set},
    {"contact", "remove", s_contact_remove},
};

static int
s_dispatch(s_op_t *op)
{
    const Xgw__V1__AdminRequest *req = op->req;
    int object_known = 0;
    const xgw_admin_verb_t *v = xgw_admin_verb_find(req->object, req->verb, &object_known);
    if (!object_known)
        return s_fail(op, 2, "unknown object \"%s\"", req->object);
    if (!v)
        return s_fail(op, 2, "unknown command \"%s %s\"", req->object, req->verb);
    if ((int)req->n_args < v->min_args)
        return s_fail(op, 2, "missing argument: %s", v->usage);
    if ((int)req->n_args > v->max_args)
        return s_fail(op, 2, "unexpected argument \"%s\": %s", req->args[v->max_args], v->usage);
    for (size_t i = 0; i < req->n_options; i++) {
        const char *k = req->options[i]->key;
        if (!xgw_admin_listed(v->options, k))
            return s_fail(op, 2, "unknown option --%s for %s %s", k, req->object, req->verb);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(req->options[j]->key, k) == 0)
                return s_fail(op, 2, "option --%s given twice", k);
        }
    }
    for (size_t i = 0; i < sizeof s_runs / sizeof s_runs[0]; i++) {
        if (strcmp(s_runs[i].object, v->object) == 0 && strcmp(s_runs[i].verb, v->verb) == 0)
            return s_runs[i].run(op);
    }
    return s_fail(op, 1, "%s %s is not implemented", req->object, req->verb);
}

void
policy_admin_handle(policy_admin_t *self, const Xgw__V1__AdminRequest *req,
                    Xgw__V1__AdminReply *reply, xgw_arena_t *arena)
{
    s_op_t op;
    memset(&op, 0, sizeof op);
    op.a = self;
    op.req = req;
    op.reply = reply;
    op.arena = arena;
    op.text = open_memstream(&op.text_buf, &op.text_len);
    op.json = open_memstream(&op.json_buf, &op.json_len);
    int code = 1;
    if (!op.text || !op.json)
        s_fail(&op, 1, "out of memory");
    else
        code = s_dispatch(&op);
    if (op.text)
        fclose(op.text);
    if (op.json)
        fclose(op.json);
    if (code == 0 && op.changed && req->dry_run)
        snprintf(op.message, sizeof op.message, "dry run: the change is valid; nothing changed");
    reply->code = code;
    reply->message = xgw_arena_strdup(arena, op.message);
    reply->text = xgw_arena_strdup(arena, code == 0 ? op.text_buf : "");
    reply->json = xgw_arena_strdup(arena, code == 0 && op.json_len ? op.json_buf : "");
    if (code != 0)
        op.n_warn = 0; /* nothing was stored: a warning about it would mislead */
    reply->n_warnings = op.n_warn;
    reply->warnings = op.n_warn ? xgw_arena_alloc(arena, op.n_warn * sizeof(char *)) : NULL;
    for (size_t i = 0; reply->warnings && i < op.n_warn; i++)
        reply->warnings[i] = op.warn[i];
    free(op.text_buf);
    free(op.json_buf);
    if (code == 0 && op.changed && !req->dry_run)
        xgw_info("policy_changed", "object=%s verb=%s actor=%s version=%llu", req->object,
                 req->verb, req->actor && *req->actor ? req->actor : "-",
                 (unsigned long long)policy_store_version(self->store));
    else if (code != 0) {
        /* The reason quotes operator input: keep the logfmt value whole. */
        for (char *q = strchr(op.message, '"'); q; q = strchr(q, '"'))
            *q = '\'';
        xgw_info("policy_change_refused", "object=%s verb=%s code=%d reason=\"%s\"", req->object,
                 req->verb, code, op.message);
    }
}
