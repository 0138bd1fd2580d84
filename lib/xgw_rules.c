/*
 * xgw_rules.c - rule set and decisions; see xgw_rules.h.
 *
 * Rule ids a decision can carry (stable: tests, audit lines and dashboards
 * use them):
 *   allowed                      every check passed
 *   deny_list                    the remote domain matches a deny pattern
 *   not_a_partner                the remote domain is no partner's domain
 *   policy_federation_off        the SIP user's effective policy has federation off
 *   policy_xmpp_off              ... has xmpp off
 *   public_unverified_not_added  public-unverified partner, inbound, and the
 *                                SIP user has not added the XMPP user
 *   not_gateway_traffic          both or neither address is in a served domain
 */
#include "xgw_rules.h"
#include "xgw_error.h"
#include "xgw_strmap.h"
#include "xgw_x509.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    xgw_ext_policy_t p;
    size_t granted; /* users holding it as their user policy */
} s_policy_t;

typedef struct {
    s_policy_t *policy; /* the site's policy, or NULL */
    size_t users;
    char name[XGW_NAME_MAX + 1];
} s_site_t;

typedef struct {
    s_site_t *site;      /* NULL = none */
    s_policy_t *granted; /* NULL = none */
} s_user_t;

typedef struct {
    xgw_partner_t p;
    char **additional;
    size_t n_additional;
} s_partner_t;

struct xgw_rules {
    uint64_t version;
    xgw_strmap_t *policies; /* name -> s_policy_t (owned) */
    xgw_strmap_t *sites;    /* name -> s_site_t (owned) */
    xgw_strmap_t *users;    /* address -> s_user_t (owned) */
    xgw_strmap_t *partners; /* primary domain -> s_partner_t (owned) */
    xgw_strmap_t *pdomains; /* primary or additional domain -> s_partner_t (borrowed) */
    xgw_strmap_t *deny;     /* pattern -> (void *)1 */
    xgw_strmap_t *served;   /* domain -> (void *)1 */
    s_policy_t *global;
    xgw_gateway_t gateway;
};

static void *const s_present = (void *)1;

/* ---- helpers ----------------------------------------------------------- */

static void
s_free_value(void *ud, const char *key, void *value)
{
    (void)ud;
    (void)key;
    free(value);
}

static void
s_free_partner(void *ud, const char *key, void *value)
{
    (void)ud;
    (void)key;
    s_partner_t *sp = value;
    for (size_t i = 0; i < sp->n_additional; i++)
        free(sp->additional[i]);
    free(sp->additional);
    free(sp);
}

static void
s_clear(xgw_rules_t *self)
{
    if (self->policies)
        xgw_strmap_each(self->policies, s_free_value, NULL);
    if (self->sites)
        xgw_strmap_each(self->sites, s_free_value, NULL);
    if (self->partners)
        xgw_strmap_each(self->partners, s_free_partner, NULL);
    xgw_strmap_destroy(&self->policies);
    xgw_strmap_destroy(&self->sites);
    xgw_strmap_destroy(&self->users);
    xgw_strmap_destroy(&self->partners);
    xgw_strmap_destroy(&self->pdomains);
    xgw_strmap_destroy(&self->deny);
    self->global = NULL;
}

/* Fresh empty tables with the default global policy. */
static int
s_init_tables(xgw_rules_t *self)
{
    self->policies = xgw_strmap_new();
    self->sites = xgw_strmap_new();
    self->users = xgw_strmap_new();
    self->partners = xgw_strmap_new();
    self->pdomains = xgw_strmap_new();
    self->deny = xgw_strmap_new();
    self->global = calloc(1, sizeof *self->global);
    if (!self->policies || !self->sites || !self->users || !self->partners || !self->pdomains ||
        !self->deny || !self->global) {
        free(self->global);
        self->global = NULL;
        return XGW_ENOMEM;
    }
    xgw_ext_policy_defaults(&self->global->p);
    self->global->p.scope = XGW_SCOPE_GLOBAL;
    snprintf(self->global->p.name, sizeof self->global->p.name, "global");
    if (xgw_strmap_put(self->policies, "global", self->global) != 0) {
        free(self->global);
        self->global = NULL;
        return XGW_ENOMEM;
    }
    xgw_gateway_defaults(&self->gateway);
    self->version = 0;
    return 0;
}

/* Lower-cases the domain of "x@domain" or of "domain" into buf. */
static const char *
s_lower(const char *in, size_t len, char *buf, size_t buflen)
{
    if (len >= buflen)
        len = buflen - 1;
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)tolower((unsigned char)in[i]);
    buf[len] = '\0';
    return buf;
}

static s_site_t *
s_site_get(xgw_rules_t *self, const char *name)
{
    s_site_t *site = xgw_strmap_get(self->sites, name);
    if (site)
        return site;
    site = calloc(1, sizeof *site);
    if (!site)
        return NULL;
    snprintf(site->name, sizeof site->name, "%s", name);
    if (xgw_strmap_put(self->sites, name, site) != 0) {
        free(site);
        return NULL;
    }
    return site;
}

/* Copies src into dst (size n, n > 0), truncating; the decision path uses
 * this instead of snprintf, which costs more than the whole lookup. */
static void
s_copy(char *dst, size_t n, const char *src)
{
    size_t len = strlen(src);
    if (len >= n)
        len = n - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* ---- lifecycle --------------------------------------------------------- */

xgw_rules_t *
xgw_rules_new(const char *domains, char *err, size_t errlen)
{
    xgw_rules_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->served = xgw_strmap_new();
    if (!self->served || s_init_tables(self) != 0) {
        xgw_rules_destroy(&self);
        return NULL;
    }
    /* common.domains has one parser, shared with certd (IDN U-labels are
     * converted to A-labels there). */
    xgw_strv_t list = {NULL, 0};
    int rc = xgw_x509_domains_parse(domains ? domains : "", &list, err, errlen);
    for (size_t i = 0; rc == 0 && i < list.n; i++)
        rc = xgw_strmap_put(self->served, list.v[i], s_present);
    xgw_x509_strv_free(&list);
    if (rc != 0)
        xgw_rules_destroy(&self);
    return self;
}

void
xgw_rules_destroy(xgw_rules_t **self_p)
{
    if (self_p && *self_p) {
        xgw_rules_t *self = *self_p;
        s_clear(self);
        xgw_strmap_destroy(&self->served);
        free(self);
        *self_p = NULL;
    }
}

uint64_t
xgw_rules_version(const xgw_rules_t *self)
{
    return self->version;
}

/* ---- conversions ------------------------------------------------------- */

void
xgw_policy_to_proto(const xgw_ext_policy_t *p, Xgw__V1__ExtPolicy *out)
{
    xgw__v1__ext_policy__init(out);
    out->name = (char *)p->name;
    out->scope = (uint32_t)p->scope;
    out->site = (char *)p->site;
    out->description = (char *)p->description;
    out->federation = p->federation;
    out->xmpp = p->xmpp;
    out->public_cloud = p->public_cloud;
    out->outside = p->outside;
}

int
xgw_policy_from_proto(const Xgw__V1__ExtPolicy *in, xgw_ext_policy_t *out)
{
    if (!in->name || strlen(in->name) > XGW_NAME_MAX || in->scope > XGW_SCOPE_USER ||
        (in->site && strlen(in->site) > XGW_NAME_MAX) ||
        (in->description && strlen(in->description) > XGW_DESCRIPTION_MAX))
        return XGW_EINVAL;
    xgw_ext_policy_defaults(out);
    snprintf(out->name, sizeof out->name, "%s", in->name);
    out->scope = (xgw_scope_t)in->scope;
    snprintf(out->site, sizeof out->site, "%s", in->site ? in->site : "");
    snprintf(out->description, sizeof out->description, "%s",
             in->description ? in->description : "");
    out->federation = in->federation;
    out->xmpp = in->xmpp;
    out->public_cloud = in->public_cloud;
    out->outside = in->outside;
    return 0;
}

void
xgw_partner_to_proto(const xgw_partner_t *p, Xgw__V1__Partner *out)
{
    xgw__v1__partner__init(out);
    out->id = p->id;
    out->domain = (char *)p->domain;
    out->type = (uint32_t)p->type;
    out->tls = (uint32_t)p->tls;
    out->sasl = (uint32_t)p->sasl;
    out->dialback = p->dialback;
    out->keepalive = p->keepalive;
    out->proxy_fqdn = (char *)p->proxy_fqdn;
    out->connection_limit = p->connection_limit;
    out->description = (char *)p->description;
}

int
xgw_partner_from_proto(const Xgw__V1__Partner *in, xgw_partner_t *out)
{
    if (!in->domain || strlen(in->domain) > XGW_DOMAIN_MAX || in->type > 2 || in->tls > 2 ||
        in->sasl > 2 || (in->proxy_fqdn && strlen(in->proxy_fqdn) > XGW_PROXY_MAX) ||
        (in->description && strlen(in->description) > XGW_DESCRIPTION_MAX))
        return XGW_EINVAL;
    xgw_partner_defaults(out);
    out->id = in->id;
    snprintf(out->domain, sizeof out->domain, "%s", in->domain);
    out->type = (xgw_partner_type_t)in->type;
    out->tls = (xgw_negotiation_t)in->tls;
    out->sasl = (xgw_negotiation_t)in->sasl;
    out->dialback = in->dialback;
    out->keepalive = in->keepalive;
    snprintf(out->proxy_fqdn, sizeof out->proxy_fqdn, "%s", in->proxy_fqdn ? in->proxy_fqdn : "");
    out->connection_limit = in->connection_limit;
    snprintf(out->description, sizeof out->description, "%s",
             in->description ? in->description : "");
    return 0;
}

void
xgw_gateway_to_proto(const xgw_gateway_t *g, Xgw__V1__Gateway *out)
{
    xgw__v1__gateway__init(out);
    out->connection_limit = g->connection_limit;
    out->partner_connection_limit = g->partner_connection_limit;
    out->keepalive_interval_s = g->keepalive_interval_s;
    out->stream_establishment_timeout_s = g->stream_establishment_timeout_s;
    out->stream_inactivity_timeout_s = g->stream_inactivity_timeout_s;
    out->subscription_refresh_interval_s = g->subscription_refresh_interval_s;
    out->log_message_bodies = g->log_message_bodies;
    out->dialback_secret_ref = (char *)g->dialback_secret_ref;
}

void
xgw_gateway_from_proto(const Xgw__V1__Gateway *in, xgw_gateway_t *out)
{
    xgw_gateway_defaults(out);
    out->connection_limit = in->connection_limit;
    out->partner_connection_limit = in->partner_connection_limit;
    out->keepalive_interval_s = in->keepalive_interval_s;
    out->stream_establishment_timeout_s = in->stream_establishment_timeout_s;
    out->stream_inactivity_timeout_s = in->stream_inactivity_timeout_s;
    out->subscription_refresh_interval_s = in->subscription_refresh_interval_s;
    out->log_message_bodies = in->log_message_bodies;
    snprintf(out->dialback_secret_ref, sizeof out->dialback_secret_ref, "%s",
             in->dialback_secret_ref ? in->dialback_secret_ref : "");
}

/* ---- changes ----------------------------------------------------------- */

static int
s_policy_put(xgw_rules_t *self, const Xgw__V1__ExtPolicy *in)
{
    xgw_ext_policy_t p;
    if (xgw_policy_from_proto(in, &p) != 0)
        return XGW_EINVAL;
    s_policy_t *cur = xgw_strmap_get(self->policies, p.name);
    if (cur) {
        /* Scope and site are part of a policy's identity. */
        if (cur->p.scope != p.scope || strcmp(cur->p.site, p.site) != 0)
            return XGW_EINVAL;
        cur->p = p;
        return 0;
    }
    if (p.scope == XGW_SCOPE_GLOBAL)
        return XGW_EINVAL; /* global always exists */
    s_site_t *site = NULL;
    if (p.scope == XGW_SCOPE_SITE) {
        site = s_site_get(self, p.site);
        if (!site)
            return XGW_ENOMEM;
        if (site->policy)
            return XGW_EINVAL; /* one policy per site */
    }
    cur = calloc(1, sizeof *cur);
    if (!cur)
        return XGW_ENOMEM;
    cur->p = p;
    if (xgw_strmap_put(self->policies, p.name, cur) != 0) {
        free(cur);
        return XGW_ENOMEM;
    }
    if (site)
        site->policy = cur;
    return 0;
}

static int
s_policy_delete(xgw_rules_t *self, const char *name)
{
    s_policy_t *cur = xgw_strmap_get(self->policies, name);
    if (!cur || cur == self->global || cur->granted > 0)
        return XGW_EINVAL;
    if (cur->p.scope == XGW_SCOPE_SITE) {
        s_site_t *site = xgw_strmap_get(self->sites, cur->p.site);
        if (site)
            site->policy = NULL;
    }
    xgw_strmap_remove(self->policies, name);
    free(cur);
    return 0;
}

static void
s_user_detach(s_user_t *u)
{
    if (u->site)
        u->site->users--;
    if (u->granted)
        u->granted->granted--;
    u->site = NULL;
    u->granted = NULL;
}

static int
s_user_put(xgw_rules_t *self, const Xgw__V1__SipUser *in)
{
    if (!in->address || !*in->address || strlen(in->address) > XGW_ADDRESS_MAX)
        return XGW_EINVAL;
    s_policy_t *granted = NULL;
    if (in->policy && *in->policy) {
        granted = xgw_strmap_get(self->policies, in->policy);
        if (!granted || granted->p.scope != XGW_SCOPE_USER)
            return XGW_EINVAL;
    }
    s_site_t *site = NULL;
    if (in->site && *in->site) {
        if (strlen(in->site) > XGW_NAME_MAX)
            return XGW_EINVAL;
        site = s_site_get(self, in->site);
        if (!site)
            return XGW_ENOMEM;
    }
    /* Users are the biggest table: their entries live inside the map's
     * nodes (one cache line less per decision). */
    int created = 0;
    s_user_t *u = xgw_strmap_emplace(self->users, in->address, sizeof *u, &created);
    if (!u)
        return XGW_ENOMEM;
    if (!created)
        s_user_detach(u);
    u->site = site;
    u->granted = granted;
    if (site)
        site->users++;
    if (granted)
        granted->granted++;
    return 0;
}

static int
s_user_delete(xgw_rules_t *self, const char *address)
{
    s_user_t *u = xgw_strmap_get(self->users, address);
    if (!u)
        return XGW_EINVAL;
    s_user_detach(u);
    return xgw_strmap_delete(self->users, address) == 0 ? 0 : XGW_EINVAL;
}

static void
s_partner_unindex(xgw_rules_t *self, s_partner_t *sp)
{
    xgw_strmap_remove(self->pdomains, sp->p.domain);
    for (size_t i = 0; i < sp->n_additional; i++) {
        xgw_strmap_remove(self->pdomains, sp->additional[i]);
        free(sp->additional[i]);
    }
    free(sp->additional);
    sp->additional = NULL;
    sp->n_additional = 0;
}

static int
s_partner_put(xgw_rules_t *self, const Xgw__V1__Partner *in)
{
    xgw_partner_t p;
    if (xgw_partner_from_proto(in, &p) != 0 || in->n_additional > XGW_ADDITIONAL_DOMAINS_MAX)
        return XGW_EINVAL;
    s_partner_t *sp = xgw_strmap_get(self->partners, p.domain);
    /* Every domain must be free or already this partner's. */
    for (size_t i = 0; i < in->n_additional; i++) {
        s_partner_t *owner = xgw_strmap_get(self->pdomains, in->additional[i]);
        if (owner && owner != sp)
            return XGW_EINVAL;
    }
    s_partner_t *owner = xgw_strmap_get(self->pdomains, p.domain);
    if (owner && owner != sp)
        return XGW_EINVAL;
    char **add = NULL;
    if (in->n_additional > 0) {
        add = calloc(in->n_additional, sizeof *add);
        if (!add)
            return XGW_ENOMEM;
        for (size_t i = 0; i < in->n_additional; i++) {
            size_t n = strlen(in->additional[i]);
            add[i] = malloc(n + 1);
            if (!add[i] || n > XGW_DOMAIN_MAX) {
                int rc = add[i] ? XGW_EINVAL : XGW_ENOMEM;
                for (size_t k = 0; k <= i; k++)
                    free(add[k]);
                free(add);
                return rc;
            }
            memcpy(add[i], in->additional[i], n + 1);
        }
    }
    if (!sp) {
        sp = calloc(1, sizeof *sp);
        if (!sp || xgw_strmap_put(self->partners, p.domain, sp) != 0) {
            free(sp);
            for (size_t k = 0; k < in->n_additional; k++)
                free(add[k]);
            free(add);
            return XGW_ENOMEM;
        }
    } else {
        s_partner_unindex(self, sp);
    }
    sp->p = p;
    sp->additional = add;
    sp->n_additional = in->n_additional;
    int rc = xgw_strmap_put(self->pdomains, sp->p.domain, sp);
    for (size_t i = 0; i < sp->n_additional && rc == 0; i++)
        rc = xgw_strmap_put(self->pdomains, sp->additional[i], sp);
    return rc;
}

static int
s_partner_delete(xgw_rules_t *self, const char *domain)
{
    s_partner_t *sp = xgw_strmap_remove(self->partners, domain);
    if (!sp)
        return XGW_EINVAL;
    s_partner_unindex(self, sp);
    free(sp);
    return 0;
}

int
xgw_rules_apply(xgw_rules_t *self, const Xgw__V1__RuleChange *c, bool force)
{
    if (!force && c->version != self->version + 1)
        return XGW_ERANGE;
    int rc;
    switch (c->change_case) {
    case XGW__V1__RULE_CHANGE__CHANGE_POLICY_PUT:
        rc = s_policy_put(self, c->policy_put);
        break;
    case XGW__V1__RULE_CHANGE__CHANGE_POLICY_DELETE:
        rc = s_policy_delete(self, c->policy_delete);
        break;
    case XGW__V1__RULE_CHANGE__CHANGE_USER_PUT:
        rc = s_user_put(self, c->user_put);
        break;
    case XGW__V1__RULE_CHANGE__CHANGE_USER_DELETE:
        rc = s_user_delete(self, c->user_delete);
        break;
    case XGW__V1__RULE_CHANGE__CHANGE_PARTNER_PUT:
        rc = s_partner_put(self, c->partner_put);
        break;
    case XGW__V1__RULE_CHANGE__CHANGE_PARTNER_DELETE:
        rc = s_partner_delete(self, c->partner_delete);
        break;
    case XGW__V1__RULE_CHANGE__CHANGE_DENY_ADD:
        rc = xgw_strmap_put(self->deny, c->deny_add, s_present);
        break;
    case XGW__V1__RULE_CHANGE__CHANGE_DENY_REMOVE:
        rc = xgw_strmap_remove(self->deny, c->deny_remove) ? 0 : XGW_EINVAL;
        break;
    case XGW__V1__RULE_CHANGE__CHANGE_GATEWAY_PUT:
        xgw_gateway_from_proto(c->gateway_put, &self->gateway);
        rc = 0;
        break;
    default:
        rc = XGW_EINVAL;
        break;
    }
    if (rc == 0 && c->version > self->version)
        self->version = c->version;
    return rc;
}

int
xgw_rules_load(xgw_rules_t *self, const Xgw__V1__RuleSet *snap)
{
    s_clear(self);
    int rc = s_init_tables(self);
    for (size_t i = 0; rc == 0 && i < snap->n_policies; i++) {
        const Xgw__V1__ExtPolicy *p = snap->policies[i];
        if (p->scope == XGW_SCOPE_GLOBAL) {
            xgw_ext_policy_t g;
            rc = xgw_policy_from_proto(p, &g);
            if (rc == 0)
                self->global->p = g;
        } else {
            rc = s_policy_put(self, p);
        }
    }
    for (size_t i = 0; rc == 0 && i < snap->n_users; i++)
        rc = s_user_put(self, snap->users[i]);
    for (size_t i = 0; rc == 0 && i < snap->n_partners; i++)
        rc = s_partner_put(self, snap->partners[i]);
    for (size_t i = 0; rc == 0 && i < snap->n_deny; i++)
        rc = xgw_strmap_put(self->deny, snap->deny[i], s_present);
    if (rc == 0 && snap->gateway)
        xgw_gateway_from_proto(snap->gateway, &self->gateway);
    if (rc != 0) {
        s_clear(self);
        s_init_tables(self);
        return rc;
    }
    self->version = snap->version;
    return 0;
}

/* ---- snapshot ---------------------------------------------------------- */

typedef struct {
    Xgw__V1__RuleSet *snap;
    Xgw__V1__ExtPolicy *pol_buf;
    Xgw__V1__SipUser *user_buf;
    Xgw__V1__Partner *part_buf;
    int failed;
} s_snap_ctx_t;

static void
s_snap_policy(void *ud, const char *key, void *value)
{
    (void)key;
    s_snap_ctx_t *ctx = ud;
    s_policy_t *p = value;
    size_t i = ctx->snap->n_policies;
    xgw_policy_to_proto(&p->p, &ctx->pol_buf[i]);
    ctx->snap->policies[i] = &ctx->pol_buf[i];
    ctx->snap->n_policies++;
}

static void
s_snap_user(void *ud, const char *key, void *value)
{
    s_snap_ctx_t *ctx = ud;
    s_user_t *u = value;
    size_t i = ctx->snap->n_users;
    Xgw__V1__SipUser *out = &ctx->user_buf[i];
    xgw__v1__sip_user__init(out);
    out->address = (char *)key;
    out->site = u->site ? u->site->name : "";
    out->policy = u->granted ? u->granted->p.name : "";
    ctx->snap->users[i] = out;
    ctx->snap->n_users++;
}

static void
s_snap_partner(void *ud, const char *key, void *value)
{
    (void)key;
    s_snap_ctx_t *ctx = ud;
    s_partner_t *sp = value;
    size_t i = ctx->snap->n_partners;
    xgw_partner_to_proto(&sp->p, &ctx->part_buf[i]);
    ctx->part_buf[i].additional = sp->additional;
    ctx->part_buf[i].n_additional = sp->n_additional;
    ctx->snap->partners[i] = &ctx->part_buf[i];
    ctx->snap->n_partners++;
}

static void
s_snap_deny(void *ud, const char *key, void *value)
{
    (void)value;
    s_snap_ctx_t *ctx = ud;
    ctx->snap->deny[ctx->snap->n_deny++] = (char *)key;
}

/* One allocation holds the message, its arrays and their elements, so
 * xgw_rules_snapshot_free is a single free(). */
Xgw__V1__RuleSet *
xgw_rules_snapshot(const xgw_rules_t *self)
{
    size_t np = xgw_strmap_size(self->policies), nu = xgw_strmap_size(self->users);
    size_t nr = xgw_strmap_size(self->partners), nd = xgw_strmap_size(self->deny);
    size_t size = sizeof(Xgw__V1__RuleSet) + sizeof(Xgw__V1__Gateway) +
                  np * (sizeof(void *) + sizeof(Xgw__V1__ExtPolicy)) +
                  nu * (sizeof(void *) + sizeof(Xgw__V1__SipUser)) +
                  nr * (sizeof(void *) + sizeof(Xgw__V1__Partner)) + nd * sizeof(char *);
    unsigned char *mem = calloc(1, size);
    if (!mem)
        return NULL;
    unsigned char *p = mem;
    Xgw__V1__RuleSet *snap = (Xgw__V1__RuleSet *)p;
    p += sizeof *snap;
    Xgw__V1__Gateway *gw = (Xgw__V1__Gateway *)p;
    p += sizeof *gw;
    s_snap_ctx_t ctx = {snap, NULL, NULL, NULL, 0};
    ctx.pol_buf = (Xgw__V1__ExtPolicy *)p;
    p += np * sizeof(Xgw__V1__ExtPolicy);
    ctx.user_buf = (Xgw__V1__SipUser *)p;
    p += nu * sizeof(Xgw__V1__SipUser);
    ctx.part_buf = (Xgw__V1__Partner *)p;
    p += nr * sizeof(Xgw__V1__Partner);
    xgw__v1__rule_set__init(snap);
    snap->policies = (Xgw__V1__ExtPolicy **)p;
    p += np * sizeof(void *);
    snap->users = (Xgw__V1__SipUser **)p;
    p += nu * sizeof(void *);
    snap->partners = (Xgw__V1__Partner **)p;
    p += nr * sizeof(void *);
    snap->deny = (char **)p;
    snap->version = self->version;
    /* Every policy before any user: users refer to user policies, so those
     * must exist first when the snapshot is loaded. */
    xgw_strmap_each(self->policies, s_snap_policy, &ctx);
    xgw_strmap_each(self->users, s_snap_user, &ctx);
    xgw_strmap_each(self->partners, s_snap_partner, &ctx);
    xgw_strmap_each(self->deny, s_snap_deny, &ctx);
    xgw_gateway_to_proto(&self->gateway, gw);
    snap->gateway = gw;
    return snap;
}

void
xgw_rules_snapshot_free(Xgw__V1__RuleSet **snap_p)
{
    if (snap_p && *snap_p) {
        free(*snap_p);
        *snap_p = NULL;
    }
}

/* ---- lookups ----------------------------------------------------------- */

const xgw_ext_policy_t *
xgw_rules_policy(const xgw_rules_t *self, const char *name)
{
    s_policy_t *p = xgw_strmap_get(self->policies, name);
    return p ? &p->p : NULL;
}

const xgw_partner_t *
xgw_rules_partner_for(const xgw_rules_t *self, const char *domain)
{
    s_partner_t *sp = xgw_strmap_get(self->pdomains, domain);
    return sp ? &sp->p : NULL;
}

const xgw_gateway_t *
xgw_rules_gateway(const xgw_rules_t *self)
{
    return &self->gateway;
}

int
xgw_rules_serves(const xgw_rules_t *self, const char *domain)
{
    return xgw_strmap_get(self->served, domain) != NULL;
}

int
xgw_rules_deny_has(const xgw_rules_t *self, const char *pattern)
{
    return xgw_strmap_get(self->deny, pattern) != NULL;
}

const char *
xgw_rules_denied(const xgw_rules_t *self, const char *domain)
{
    if (xgw_strmap_size(self->deny) == 0)
        return NULL;
    static __thread char hit[XGW_DOMAIN_MAX + 3];
    size_t len = strlen(domain);
    if (len > XGW_DOMAIN_MAX)
        return NULL;
    if (xgw_strmap_getn(self->deny, domain, len)) {
        memcpy(hit, domain, len + 1);
        return hit;
    }
    /* "*.example.com" denies every name below example.com. */
    char pattern[XGW_DOMAIN_MAX + 3];
    pattern[0] = '*';
    for (const char *dot = strchr(domain, '.'); dot; dot = strchr(dot + 1, '.')) {
        size_t rest = len - (size_t)(dot - domain);
        memcpy(pattern + 1, dot, rest + 1);
        if (xgw_strmap_getn(self->deny, pattern, rest + 1)) {
            memcpy(hit, pattern, rest + 2);
            return hit;
        }
    }
    return NULL;
}

int
xgw_rules_partner_additional(const xgw_rules_t *self, const char *domain, char *const **list,
                             size_t *n)
{
    s_partner_t *sp = xgw_strmap_get(self->partners, domain);
    if (!sp)
        return XGW_ENOENT;
    *list = sp->additional;
    *n = sp->n_additional;
    return 0;
}

size_t
xgw_rules_count_users(const xgw_rules_t *self)
{
    return xgw_strmap_size(self->users);
}

size_t
xgw_rules_count_partners(const xgw_rules_t *self)
{
    return xgw_strmap_size(self->partners);
}

const xgw_ext_policy_t *
xgw_rules_effective(const xgw_rules_t *self, const char *sip_user, char *source)
{
    s_user_t *u = xgw_strmap_get(self->users, sip_user);
    if (u && u->granted) {
        s_copy(source, XGW_NAME_MAX + 8, "user");
        return &u->granted->p;
    }
    if (u && u->site && u->site->policy) {
        memcpy(source, "site:", 5);
        s_copy(source + 5, XGW_NAME_MAX + 3, u->site->name);
        return &u->site->policy->p;
    }
    s_copy(source, XGW_NAME_MAX + 8, "global");
    return &self->global->p;
}

/* ---- decisions --------------------------------------------------------- */

static const char *const s_kinds[] = {"message", "subscribe", "presence", "probe"};

int
xgw_kind_parse(const char *text, xgw_kind_t *out)
{
    for (int i = 0; i < 4; i++) {
        if (text && strcmp(text, s_kinds[i]) == 0) {
            *out = (xgw_kind_t)i;
            return 0;
        }
    }
    return XGW_EINVAL;
}

const char *
xgw_kind_name(xgw_kind_t kind)
{
    return (unsigned)kind < 4 ? s_kinds[kind] : "?";
}

/* Splits an address into bare "local@domain" (domain lower-cased) and a
 * pointer to its domain inside bare. Drops a scheme and an XMPP resource. */
static int
s_bare(const char *in, char *bare, const char **domain)
{
    const char *p = in;
    char c0 = (char)(in[0] | 0x20);
    if (c0 == 's' && strncasecmp(p, "sip:", 4) == 0)
        p += 4;
    else if (c0 == 's' && strncasecmp(p, "sips:", 5) == 0)
        p += 5;
    else if (c0 == 'x' && strncasecmp(p, "xmpp:", 5) == 0)
        p += 5;
    const char *at = strchr(p, '@');
    if (!at || at == p)
        return XGW_EINVAL;
    size_t ll = (size_t)(at - p);
    const char *d = at + 1;
    size_t dl = strcspn(d, "/;?>");
    /* Never truncate: a cut-down domain could match a partner it is not. */
    if (dl == 0 || dl > XGW_DOMAIN_MAX || ll + 1 + dl > XGW_ADDRESS_MAX)
        return XGW_EINVAL;
    memcpy(bare, p, ll);
    bare[ll] = '@';
    s_lower(d, dl, bare + ll + 1, XGW_DOMAIN_MAX + 1);
    *domain = bare + ll + 1;
    return 0;
}

static int
s_deny(xgw_decision_t *out, const char *rule, const char *detail)
{
    out->allow = false;
    out->rule = rule;
    s_copy(out->detail, sizeof out->detail, detail ? detail : "");
    return 0;
}

int
xgw_rules_decide(const xgw_rules_t *self, const char *from, const char *to, xgw_kind_t kind,
                 xgw_contact_fn contact, void *contact_ud, xgw_decision_t *out)
{
    /* Clear the fields, not the whole struct: it is mostly buffers. */
    out->allow = false;
    out->rule = NULL;
    out->detail[0] = '\0';
    out->direction = XGW_DIR_INBOUND;
    out->local_user[0] = '\0';
    out->remote[0] = '\0';
    out->policy = NULL;
    out->policy_source[0] = '\0';
    out->partner = NULL;
    out->strip_status_note = false;
    char a[XGW_ADDRESS_MAX + 1], b[XGW_ADDRESS_MAX + 1];
    const char *ad = NULL, *bd = NULL;
    if (s_bare(from, a, &ad) != 0) {
        snprintf(out->detail, sizeof out->detail, "from is not user@domain");
        return XGW_EINVAL;
    }
    if (s_bare(to, b, &bd) != 0) {
        snprintf(out->detail, sizeof out->detail, "to is not user@domain");
        return XGW_EINVAL;
    }
    int a_local = xgw_rules_serves(self, ad), b_local = xgw_rules_serves(self, bd);
    if (a_local == b_local) {
        s_copy(out->local_user, sizeof out->local_user, a);
        s_copy(out->remote, sizeof out->remote, b);
        return s_deny(out, "not_gateway_traffic",
                      a_local ? "both addresses are in served domains"
                              : "neither address is in a served domain");
    }
    out->direction = a_local ? XGW_DIR_OUTBOUND : XGW_DIR_INBOUND;
    const char *local = a_local ? a : b;
    const char *remote = a_local ? b : a;
    const char *rdomain = a_local ? bd : ad;
    /* The user and partner tables are the big, cold ones: start both
     * fetches now so their cache misses overlap. */
    xgw_strmap_prefetch(self->users, local, strlen(local));
    xgw_strmap_prefetch(self->pdomains, rdomain, strlen(rdomain));
    memcpy(out->local_user, local, strlen(local) + 1);
    memcpy(out->remote, remote, strlen(remote) + 1);

    const char *pattern = xgw_rules_denied(self, rdomain);
    if (pattern)
        return s_deny(out, "deny_list", pattern);
    const s_partner_t *sp = xgw_strmap_get(self->pdomains, rdomain);
    if (!sp)
        return s_deny(out, "not_a_partner", rdomain);
    out->partner = &sp->p;
    out->strip_status_note = sp->p.type != XGW_PARTNER_FEDERATED;

    out->policy = xgw_rules_effective(self, local, out->policy_source);
    if (!out->policy->federation)
        return s_deny(out, "policy_federation_off", out->policy->name);
    if (!out->policy->xmpp)
        return s_deny(out, "policy_xmpp_off", out->policy->name);

    /* Public-unverified partners reach a SIP user only after the user added
     * them (Lync's PartnerType matrix); the SIP user may always initiate. */
    if (out->direction == XGW_DIR_INBOUND && sp->p.type == XGW_PARTNER_PUBLIC_UNVERIFIED) {
        int added = contact ? contact(contact_ud, local, remote) : 0;
        if (added == XGW_EAGAIN)
            return XGW_EAGAIN;
        if (added != 1)
            return s_deny(out, "public_unverified_not_added", sp->p.domain);
    }
    out->allow = true;
    out->rule = "allowed";
    s_copy(out->detail, sizeof out->detail, xgw_partner_type_name(sp->p.type));
    (void)kind; /* every kind follows the same rules today; kept for audit and future rules */
    return 0;
}

void
xgw_decision_to_proto(const xgw_decision_t *d, Xgw__V1__Decision *out,
                      Xgw__V1__Partner *partner_buf, uint64_t version, const char *decided_by)
{
    xgw__v1__decision__init(out);
    out->allow = d->allow;
    out->rule = (char *)(d->rule ? d->rule : "");
    out->detail = (char *)d->detail;
    out->direction = d->direction == XGW_DIR_INBOUND ? "inbound" : "outbound";
    out->local_user = (char *)d->local_user;
    out->remote = (char *)d->remote;
    out->policy = (char *)(d->policy ? d->policy->name : "");
    out->policy_source = (char *)d->policy_source;
    if (d->partner) {
        xgw_partner_to_proto(d->partner, partner_buf);
        out->partner = partner_buf;
    }
    out->strip_status_note = d->strip_status_note;
    out->ruleset_version = version;
    out->decided_by = (char *)(decided_by ? decided_by : "");
}

size_t
xgw_rules_policy_grants(const xgw_rules_t *self, const char *name)
{
    s_policy_t *p = xgw_strmap_get(self->policies, name);
    return p ? p->granted : 0;
}

const xgw_ext_policy_t *
xgw_rules_site_policy(const xgw_rules_t *self, const char *site)
{
    s_site_t *s = xgw_strmap_get(self->sites, site);
    return s && s->policy ? &s->policy->p : NULL;
}

int
xgw_rules_user(const xgw_rules_t *self, const char *address, const char **site, const char **policy)
{
    s_user_t *u = xgw_strmap_get(self->users, address);
    if (!u)
        return XGW_ENOENT;
    *site = u->site ? u->site->name : "";
    *policy = u->granted ? u->granted->p.name : "";
    return 0;
}

typedef struct {
    void *fn;
    void *ud;
} s_each_t;

static void
s_each_policy(void *ud, const char *key, void *value)
{
    (void)key;
    s_each_t *e = ud;
    ((void (*)(void *, const xgw_ext_policy_t *))e->fn)(e->ud, &((s_policy_t *)value)->p);
}

void
xgw_rules_each_policy(const xgw_rules_t *self, void (*fn)(void *ud, const xgw_ext_policy_t *p),
                      void *ud)
{
    s_each_t e = {(void *)fn, ud};
    xgw_strmap_each(self->policies, s_each_policy, &e);
}

static void
s_each_user(void *ud, const char *key, void *value)
{
    s_each_t *e = ud;
    s_user_t *u = value;
    ((void (*)(void *, const char *, const char *, const char *))e->fn)(
        e->ud, key, u->site ? u->site->name : "", u->granted ? u->granted->p.name : "");
}

void
xgw_rules_each_user(const xgw_rules_t *self,
                    void (*fn)(void *ud, const char *address, const char *site, const char *policy),
                    void *ud)
{
    s_each_t e = {(void *)fn, ud};
    xgw_strmap_each(self->users, s_each_user, &e);
}

static void
s_each_partner(void *ud, const char *key, void *value)
{
    (void)key;
    s_each_t *e = ud;
    ((void (*)(void *, const xgw_partner_t *))e->fn)(e->ud, &((s_partner_t *)value)->p);
}

void
xgw_rules_each_partner(const xgw_rules_t *self, void (*fn)(void *ud, const xgw_partner_t *p),
                       void *ud)
{
    s_each_t e = {(void *)fn, ud};
    xgw_strmap_each(self->partners, s_each_partner, &e);
}

static void
s_each_deny(void *ud, const char *key, void *value)
{
    (void)value;
    s_each_t *e = ud;
    ((void (*)(void *, const char *))e->fn)(e->ud, key);
}

void
xgw_rules_each_deny(const xgw_rules_t *self, void (*fn)(void *ud, const char *pattern), void *ud)
{
    s_each_t e = {(void *)fn, ud};
    xgw_strmap_each(self->deny, s_each_deny, &e);
}
