/*
 * policy_store.c - SQLite store of policyd; see policy_store.h.
 */
#include "policy_store.h"
#include "xgw_error.h"
#include "xgw_log.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct policy_store {
    sqlite3 *db;
    uint64_t version;
    sqlite3_stmt *contact_get;
    sqlite3_stmt *contact_put;
    sqlite3_stmt *contact_del;
};

/* Migrations: entry i takes the schema from version i to i + 1. Append
 * only; never edit a released step. */
static const char *const s_migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE policies(name TEXT PRIMARY KEY, scope INTEGER NOT NULL,"
    " site TEXT NOT NULL DEFAULT '', description TEXT NOT NULL DEFAULT '',"
    " federation INTEGER NOT NULL, xmpp INTEGER NOT NULL, public_cloud INTEGER NOT NULL,"
    " outside INTEGER NOT NULL);"
    "CREATE UNIQUE INDEX policies_one_per_site ON policies(site) WHERE scope = 1;"
    "CREATE TABLE users(address TEXT PRIMARY KEY, site TEXT NOT NULL DEFAULT '',"
    " policy TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE partners(domain TEXT PRIMARY KEY, id INTEGER NOT NULL UNIQUE,"
    " type INTEGER NOT NULL, tls INTEGER NOT NULL, sasl INTEGER NOT NULL,"
    " dialback INTEGER NOT NULL, keepalive INTEGER NOT NULL, proxy_fqdn TEXT NOT NULL,"
    " connection_limit INTEGER NOT NULL, description TEXT NOT NULL);"
    "CREATE TABLE partner_domains(domain TEXT PRIMARY KEY, partner TEXT NOT NULL"
    " REFERENCES partners(domain) ON DELETE CASCADE, position INTEGER NOT NULL);"
    "CREATE TABLE deny(pattern TEXT PRIMARY KEY);"
    "CREATE TABLE gateway(id INTEGER PRIMARY KEY CHECK (id = 1),"
    " connection_limit INTEGER NOT NULL, partner_connection_limit INTEGER NOT NULL,"
    " keepalive_interval_s INTEGER NOT NULL, stream_establishment_timeout_s INTEGER NOT NULL,"
    " stream_inactivity_timeout_s INTEGER NOT NULL,"
    " subscription_refresh_interval_s INTEGER NOT NULL, log_message_bodies INTEGER NOT NULL,"
    " dialback_secret_ref TEXT NOT NULL);"
    "INSERT INTO gateway VALUES(1, 1000, 20, 300, 60, 600, 28800, 0, '');"
    "INSERT INTO policies VALUES('global', 0, '', '', 0, 0, 0, 0);"
    "CREATE TABLE contacts(sip_user TEXT NOT NULL, xmpp_jid TEXT NOT NULL,"
    " sip_added INTEGER NOT NULL, xmpp_subscribed INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL, PRIMARY KEY(sip_user, xmpp_jid));"
    "INSERT INTO meta VALUES('ruleset_version', '0');",
};

#define S_N_MIGRATIONS (sizeof s_migrations / sizeof s_migrations[0])

static int
s_exec(policy_store_t *self, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(self->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        xgw_error("store_sql_failed", "error=\"%s\"", msg ? msg : "?");
        sqlite3_free(msg);
        return XGW_EIO;
    }
    return 0;
}

static int
s_user_version(policy_store_t *self, int *out)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(self->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return XGW_EIO;
    int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : XGW_EIO;
    *out = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc;
}

static int
s_migrate(policy_store_t *self, char *err, size_t errlen)
{
    int have = 0;
    if (s_user_version(self, &have) != 0) {
        snprintf(err, errlen, "cannot read the schema version: %s", sqlite3_errmsg(self->db));
        return XGW_EIO;
    }
    if (have > (int)S_N_MIGRATIONS) {
        snprintf(err, errlen,
                 "the store has schema %d, newer than this policyd (%zu): refusing to touch it",
                 have, S_N_MIGRATIONS);
        return XGW_EINVAL;
    }
    for (int v = have; v < (int)S_N_MIGRATIONS; v++) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d;", v + 1);
        if (s_exec(self, "BEGIN IMMEDIATE") != 0 || s_exec(self, s_migrations[v]) != 0 ||
            s_exec(self, pragma) != 0 || s_exec(self, "COMMIT") != 0) {
            s_exec(self, "ROLLBACK");
            snprintf(err, errlen, "schema migration %d -> %d failed: %s", v, v + 1,
                     sqlite3_errmsg(self->db));
            return XGW_EIO;
        }
        xgw_info("store_migrated", "schema=%d", v + 1);
    }
    return 0;
}

static int
s_read_version(policy_store_t *self)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(self->db, "SELECT value FROM meta WHERE key='ruleset_version'", -1, &st,
                           NULL) != SQLITE_OK)
        return XGW_EIO;
    int rc = XGW_EIO;
    if (sqlite3_step(st) == SQLITE_ROW) {
        self->version = (uint64_t)sqlite3_column_int64(st, 0);
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

policy_store_t *
policy_store_open(const char *path, char *err, size_t errlen)
{
    policy_store_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (sqlite3_open_v2(path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path,
                 self->db ? sqlite3_errmsg(self->db) : "out of memory");
        policy_store_close(&self);
        return NULL;
    }
    sqlite3_busy_timeout(self->db, 5000);
    /* WAL: readers never block the writer; FULL: an acknowledged change
     * survives power loss too, and admin changes are rare enough to pay. */
    if (s_exec(self, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     " PRAGMA foreign_keys=ON;") != 0 ||
        s_migrate(self, err, errlen) != 0 || s_read_version(self) != 0) {
        if (!err[0])
            snprintf(err, errlen, "cannot prepare %s: %s", path, sqlite3_errmsg(self->db));
        policy_store_close(&self);
        return NULL;
    }
    const char *sql_get = "SELECT sip_added, xmpp_subscribed, updated_ms FROM contacts"
                          " WHERE sip_user=?1 AND xmpp_jid=?2";
    const char *sql_put = "INSERT OR REPLACE INTO contacts VALUES(?1, ?2, ?3, ?4, ?5)";
    const char *sql_del = "DELETE FROM contacts WHERE sip_user=?1 AND xmpp_jid=?2";
    if (sqlite3_prepare_v2(self->db, sql_get, -1, &self->contact_get, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(self->db, sql_put, -1, &self->contact_put, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(self->db, sql_del, -1, &self->contact_del, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot prepare statements: %s", sqlite3_errmsg(self->db));
        policy_store_close(&self);
        return NULL;
    }
    return self;
}

void
policy_store_close(policy_store_t **self_p)
{
    if (self_p && *self_p) {
        policy_store_t *self = *self_p;
        sqlite3_finalize(self->contact_get);
        sqlite3_finalize(self->contact_put);
        sqlite3_finalize(self->contact_del);
        sqlite3_close(self->db);
        free(self);
        *self_p = NULL;
    }
}

uint64_t
policy_store_version(const policy_store_t *self)
{
    return self->version;
}

/* ---- loading ----------------------------------------------------------- */

static char *
s_dup(const unsigned char *text)
{
    const char *t = text ? (const char *)text : "";
    size_t n = strlen(t);
    char *p = malloc(n + 1);
    if (p)
        memcpy(p, t, n + 1);
    return p;
}

/* A RuleSet read from the tables, with every string heap-allocated. */
typedef struct {
    Xgw__V1__RuleSet set;
    Xgw__V1__Gateway gateway;
} s_loaded_t;

static void
s_loaded_free(s_loaded_t *l)
{
    Xgw__V1__RuleSet *s = &l->set;
    for (size_t i = 0; i < s->n_policies; i++) {
        free(s->policies[i]->name);
        free(s->policies[i]->site);
        free(s->policies[i]->description);
        free(s->policies[i]);
    }
    free(s->policies);
    for (size_t i = 0; i < s->n_users; i++) {
        free(s->users[i]->address);
        free(s->users[i]->site);
        free(s->users[i]->policy);
        free(s->users[i]);
    }
    free(s->users);
    for (size_t i = 0; i < s->n_partners; i++) {
        Xgw__V1__Partner *p = s->partners[i];
        for (size_t k = 0; k < p->n_additional; k++)
            free(p->additional[k]);
        free(p->additional);
        free(p->domain);
        free(p->proxy_fqdn);
        free(p->description);
        free(p);
    }
    free(s->partners);
    for (size_t i = 0; i < s->n_deny; i++)
        free(s->deny[i]);
    free(s->deny);
    free(l->gateway.dialback_secret_ref);
}

/* Grows *array (of pointers) to hold n + 1 entries. */
static int
s_grow(void ***array, size_t n, size_t *cap)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 64;
    void **na = realloc(*array, ncap * sizeof *na);
    if (!na)
        return XGW_ENOMEM;
    *array = na;
    *cap = ncap;
    return 0;
}

static int
s_load_tables(policy_store_t *self, s_loaded_t *l)
{
    Xgw__V1__RuleSet *s = &l->set;
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc = 0;

    /* Policies: every one before any user (users name user policies). */
    sqlite3_prepare_v2(self->db,
                       "SELECT name, scope, site, description, federation, xmpp, public_cloud,"
                       " outside FROM policies ORDER BY scope, name",
                       -1, &st, NULL);
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        rc = s_grow((void ***)&s->policies, s->n_policies, &cap);
        Xgw__V1__ExtPolicy *p = rc == 0 ? calloc(1, sizeof *p) : NULL;
        if (!p) {
            rc = XGW_ENOMEM;
            break;
        }
        xgw__v1__ext_policy__init(p);
        s->policies[s->n_policies++] = p;
        p->name = s_dup(sqlite3_column_text(st, 0));
        p->scope = (uint32_t)sqlite3_column_int(st, 1);
        p->site = s_dup(sqlite3_column_text(st, 2));
        p->description = s_dup(sqlite3_column_text(st, 3));
        p->federation = sqlite3_column_int(st, 4) != 0;
        p->xmpp = sqlite3_column_int(st, 5) != 0;
        p->public_cloud = sqlite3_column_int(st, 6) != 0;
        p->outside = sqlite3_column_int(st, 7) != 0;
        if (!p->name || !p->site || !p->description)
            rc = XGW_ENOMEM;
    }
    sqlite3_finalize(st);

    cap = 0;
    sqlite3_prepare_v2(self->db, "SELECT address, site, policy FROM users", -1, &st, NULL);
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        rc = s_grow((void ***)&s->users, s->n_users, &cap);
        Xgw__V1__SipUser *u = rc == 0 ? calloc(1, sizeof *u) : NULL;
        if (!u) {
            rc = XGW_ENOMEM;
            break;
        }
        xgw__v1__sip_user__init(u);
        s->users[s->n_users++] = u;
        u->address = s_dup(sqlite3_column_text(st, 0));
        u->site = s_dup(sqlite3_column_text(st, 1));
        u->policy = s_dup(sqlite3_column_text(st, 2));
        if (!u->address || !u->site || !u->policy)
            rc = XGW_ENOMEM;
    }
    sqlite3_finalize(st);

    cap = 0;
    sqlite3_prepare_v2(self->db,
                       "SELECT domain, id, type, tls, sasl, dialback, keepalive, proxy_fqdn,"
                       " connection_limit, description FROM partners",
                       -1, &st, NULL);
    sqlite3_stmt *ad = NULL;
    sqlite3_prepare_v2(self->db,
                       "SELECT domain FROM partner_domains WHERE partner=?1 ORDER BY position", -1,
                       &ad, NULL);
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        rc = s_grow((void ***)&s->partners, s->n_partners, &cap);
        Xgw__V1__Partner *p = rc == 0 ? calloc(1, sizeof *p) : NULL;
        if (!p) {
            rc = XGW_ENOMEM;
            break;
        }
        xgw__v1__partner__init(p);
        s->partners[s->n_partners++] = p;
        p->domain = s_dup(sqlite3_column_text(st, 0));
        p->id = (uint32_t)sqlite3_column_int64(st, 1);
        p->type = (uint32_t)sqlite3_column_int(st, 2);
        p->tls = (uint32_t)sqlite3_column_int(st, 3);
        p->sasl = (uint32_t)sqlite3_column_int(st, 4);
        p->dialback = sqlite3_column_int(st, 5) != 0;
        p->keepalive = sqlite3_column_int(st, 6) != 0;
        p->proxy_fqdn = s_dup(sqlite3_column_text(st, 7));
        p->connection_limit = (uint32_t)sqlite3_column_int64(st, 8);
        p->description = s_dup(sqlite3_column_text(st, 9));
        if (!p->domain || !p->proxy_fqdn || !p->description) {
            rc = XGW_ENOMEM;
            break;
        }
        size_t acap = 0;
        sqlite3_reset(ad);
        sqlite3_bind_text(ad, 1, p->domain, -1, SQLITE_STATIC);
        while (rc == 0 && sqlite3_step(ad) == SQLITE_ROW) {
            rc = s_grow((void ***)&p->additional, p->n_additional, &acap);
            char *d = rc == 0 ? s_dup(sqlite3_column_text(ad, 0)) : NULL;
            if (!d)
                rc = XGW_ENOMEM;
            else
                p->additional[p->n_additional++] = d;
        }
    }
    sqlite3_finalize(ad);
    sqlite3_finalize(st);

    cap = 0;
    sqlite3_prepare_v2(self->db, "SELECT pattern FROM deny", -1, &st, NULL);
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        rc = s_grow((void ***)&s->deny, s->n_deny, &cap);
        char *d = rc == 0 ? s_dup(sqlite3_column_text(st, 0)) : NULL;
        if (!d)
            rc = XGW_ENOMEM;
        else
            s->deny[s->n_deny++] = d;
    }
    sqlite3_finalize(st);

    sqlite3_prepare_v2(self->db,
                       "SELECT connection_limit, partner_connection_limit, keepalive_interval_s,"
                       " stream_establishment_timeout_s, stream_inactivity_timeout_s,"
                       " subscription_refresh_interval_s, log_message_bodies,"
                       " dialback_secret_ref FROM gateway WHERE id=1",
                       -1, &st, NULL);
    xgw__v1__gateway__init(&l->gateway);
    if (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        Xgw__V1__Gateway *g = &l->gateway;
        g->connection_limit = (uint32_t)sqlite3_column_int64(st, 0);
        g->partner_connection_limit = (uint32_t)sqlite3_column_int64(st, 1);
        g->keepalive_interval_s = (uint32_t)sqlite3_column_int64(st, 2);
        g->stream_establishment_timeout_s = (uint32_t)sqlite3_column_int64(st, 3);
        g->stream_inactivity_timeout_s = (uint32_t)sqlite3_column_int64(st, 4);
        g->subscription_refresh_interval_s = (uint32_t)sqlite3_column_int64(st, 5);
        g->log_message_bodies = sqlite3_column_int(st, 6) != 0;
        g->dialback_secret_ref = s_dup(sqlite3_column_text(st, 7));
        s->gateway = g;
    } else if (rc == 0) {
        rc = XGW_EIO;
    }
    sqlite3_finalize(st);
    s->version = self->version;
    return rc;
}

int
policy_store_load(policy_store_t *self, xgw_rules_t *rules)
{
    s_loaded_t l;
    memset(&l, 0, sizeof l);
    xgw__v1__rule_set__init(&l.set);
    int rc = s_load_tables(self, &l);
    if (rc == 0)
        rc = xgw_rules_load(rules, &l.set);
    s_loaded_free(&l);
    return rc;
}

/* ---- writing ----------------------------------------------------------- */

static int
s_step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : XGW_EIO;
}

static sqlite3_stmt *
s_prep(policy_store_t *self, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(self->db, sql, -1, &st, NULL) != SQLITE_OK) {
        xgw_error("store_prepare_failed", "error=\"%s\"", sqlite3_errmsg(self->db));
        return NULL;
    }
    return st;
}

static int
s_write_change(policy_store_t *self, const Xgw__V1__RuleChange *c)
{
    sqlite3_stmt *st = NULL;
    switch (c->change_case) {
    case XGW__V1__RULE_CHANGE__CHANGE_POLICY_PUT: {
        const Xgw__V1__ExtPolicy *p = c->policy_put;
        st = s_prep(self, "INSERT OR REPLACE INTO policies VALUES(?1,?2,?3,?4,?5,?6,?7,?8)");
        if (!st)
            return XGW_EIO;
        sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, (int)p->scope);
        sqlite3_bind_text(st, 3, p->site ? p->site : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, p->description ? p->description : "", -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 5, p->federation);
        sqlite3_bind_int(st, 6, p->xmpp);
        sqlite3_bind_int(st, 7, p->public_cloud);
        sqlite3_bind_int(st, 8, p->outside);
        return s_step_done(st);
    }
    case XGW__V1__RULE_CHANGE__CHANGE_POLICY_DELETE:
        st = s_prep(self, "DELETE FROM policies WHERE name=?1");
        if (!st)
            return XGW_EIO;
        sqlite3_bind_text(st, 1, c->policy_delete, -1, SQLITE_STATIC);
        return s_step_done(st);
    case XGW__V1__RULE_CHANGE__CHANGE_USER_PUT: {
        const Xgw__V1__SipUser *u = c->user_put;
        st = s_prep(self, "INSERT OR REPLACE INTO users VALUES(?1,?2,?3)");
        if (!st)
            return XGW_EIO;
        sqlite3_bind_text(st, 1, u->address, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, u->site ? u->site : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, u->policy ? u->policy : "", -1, SQLITE_STATIC);
        return s_step_done(st);
    }
    case XGW__V1__RULE_CHANGE__CHANGE_USER_DELETE:
        st = s_prep(self, "DELETE FROM users WHERE address=?1");
        if (!st)
            return XGW_EIO;
        sqlite3_bind_text(st, 1, c->user_delete, -1, SQLITE_STATIC);
        return s_step_done(st);
    case XGW__V1__RULE_CHANGE__CHANGE_PARTNER_PUT: {
        const Xgw__V1__Partner *p = c->partner_put;
        st = s_prep(self, "DELETE FROM partner_domains WHERE partner=?1");
        if (!st)
            return XGW_EIO;
        sqlite3_bind_text(st, 1, p->domain, -1, SQLITE_STATIC);
        if (s_step_done(st) != 0)
            return XGW_EIO;
        st = s_prep(self, "INSERT INTO partners VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)"
                          " ON CONFLICT(domain) DO UPDATE SET id=?2, type=?3, tls=?4, sasl=?5,"
                          " dialback=?6, keepalive=?7, proxy_fqdn=?8, connection_limit=?9,"
                          " description=?10");
        if (!st)
            return XGW_EIO;
        sqlite3_bind_text(st, 1, p->domain, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, p->id);
        sqlite3_bind_int(st, 3, (int)p->type);
        sqlite3_bind_int(st, 4, (int)p->tls);
        sqlite3_bind_int(st, 5, (int)p->sasl);
        sqlite3_bind_int(st, 6, p->dialback);
        sqlite3_bind_int(st, 7, p->keepalive);
        sqlite3_bind_text(st, 8, p->proxy_fqdn ? p->proxy_fqdn : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 9, p->connection_limit);
        sqlite3_bind_text(st, 10, p->description ? p->description : "", -1, SQLITE_STATIC);
        if (s_step_done(st) != 0)
            return XGW_EIO;
        for (size_t i = 0; i < p->n_additional; i++) {
            st = s_prep(self, "INSERT INTO partner_domains VALUES(?1,?2,?3)");
            if (!st)
                return XGW_EIO;
            sqlite3_bind_text(st, 1, p->additional[i], -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, p->domain, -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 3, (int)i);
            if (s_step_done(st) != 0)
                return XGW_EIO;
        }
        return 0;
    }
    case XGW__V1__RULE_CHANGE__CHANGE_PARTNER_DELETE:
        st = s_prep(self, "DELETE FROM partners WHERE domain=?1");
        if (!st)
            return XGW_EIO;
        sqlite3_bind_text(st, 1, c->partner_delete, -1, SQLITE_STATIC);
        return s_step_done(st);
    case XGW__V1__RULE_CHANGE__CHANGE_DENY_ADD:
        st = s_prep(self, "INSERT OR IGNORE INTO deny VALUES(?1)");
        if (!st)
            return XGW_EIO;
        sqlite3_bind_text(st, 1, c->deny_add, -1, SQLITE_STATIC);
        return s_step_done(st);
    case XGW__V1__RULE_CHANGE__CHANGE_DENY_REMOVE:
        st = s_prep(self, "DELETE FROM deny WHERE pattern=?1");
        if (!st)
            return XGW_EIO;
        sqlite3_bind_text(st, 1, c->deny_remove, -1, SQLITE_STATIC);
        return s_step_done(st);
    case XGW__V1__RULE_CHANGE__CHANGE_GATEWAY_PUT: {
        const Xgw__V1__Gateway *g = c->gateway_put;
        st = s_prep(self, "UPDATE gateway SET connection_limit=?1, partner_connection_limit=?2,"
                          " keepalive_interval_s=?3, stream_establishment_timeout_s=?4,"
                          " stream_inactivity_timeout_s=?5, subscription_refresh_interval_s=?6,"
                          " log_message_bodies=?7, dialback_secret_ref=?8 WHERE id=1");
        if (!st)
            return XGW_EIO;
        sqlite3_bind_int64(st, 1, g->connection_limit);
        sqlite3_bind_int64(st, 2, g->partner_connection_limit);
        sqlite3_bind_int64(st, 3, g->keepalive_interval_s);
        sqlite3_bind_int64(st, 4, g->stream_establishment_timeout_s);
        sqlite3_bind_int64(st, 5, g->stream_inactivity_timeout_s);
        sqlite3_bind_int64(st, 6, g->subscription_refresh_interval_s);
        sqlite3_bind_int(st, 7, g->log_message_bodies);
        sqlite3_bind_text(st, 8, g->dialback_secret_ref ? g->dialback_secret_ref : "", -1,
                          SQLITE_STATIC);
        return s_step_done(st);
    }
    default:
        return XGW_EINVAL;
    }
}

int
policy_store_commit(policy_store_t *self, const Xgw__V1__RuleChange *change)
{
    if (change->version != self->version + 1)
        return XGW_ERANGE;
    if (change->change_case == XGW__V1__RULE_CHANGE__CHANGE__NOT_SET)
        return XGW_EINVAL;
    if (s_exec(self, "BEGIN IMMEDIATE") != 0)
        return XGW_EIO;
    int rc = s_write_change(self, change);
    if (rc == 0) {
        sqlite3_stmt *st = s_prep(self, "UPDATE meta SET value=?1 WHERE key='ruleset_version'");
        if (st) {
            sqlite3_bind_int64(st, 1, (sqlite3_int64)change->version);
            rc = s_step_done(st);
        } else {
            rc = XGW_EIO;
        }
    }
    if (rc == 0 && s_exec(self, "COMMIT") == 0) {
        self->version = change->version;
        return 0;
    }
    xgw_error("store_commit_failed", "version=%llu error=\"%s\"",
              (unsigned long long)change->version, sqlite3_errmsg(self->db));
    s_exec(self, "ROLLBACK");
    return rc == 0 ? XGW_EIO : rc;
}

uint32_t
policy_store_next_partner_id(policy_store_t *self)
{
    sqlite3_stmt *st = s_prep(self, "SELECT COALESCE(MAX(id), 0) + 1 FROM partners");
    uint32_t id = 1;
    if (st && sqlite3_step(st) == SQLITE_ROW)
        id = (uint32_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return id;
}

/* ---- contacts ---------------------------------------------------------- */

int
policy_store_contact_get(policy_store_t *self, const char *sip_user, const char *xmpp_jid,
                         bool *sip_added, bool *xmpp_subscribed, uint64_t *updated_ms)
{
    sqlite3_stmt *st = self->contact_get;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, sip_user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, xmpp_jid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *sip_added = sqlite3_column_int(st, 0) != 0;
        *xmpp_subscribed = sqlite3_column_int(st, 1) != 0;
        *updated_ms = (uint64_t)sqlite3_column_int64(st, 2);
        sqlite3_reset(st);
        return 0;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? XGW_ENOENT : XGW_EIO;
}

int
policy_store_contact_put(policy_store_t *self, const char *sip_user, const char *xmpp_jid,
                         bool sip_added, bool xmpp_subscribed, uint64_t updated_ms)
{
    sqlite3_stmt *st = self->contact_put;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, sip_user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, xmpp_jid, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, sip_added);
    sqlite3_bind_int(st, 4, xmpp_subscribed);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)updated_ms);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : XGW_EIO;
}

int
policy_store_contact_delete(policy_store_t *self, const char *sip_user, const char *xmpp_jid)
{
    sqlite3_stmt *st = self->contact_del;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, sip_user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, xmpp_jid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return XGW_EIO;
    return sqlite3_changes(self->db) > 0 ? 0 : XGW_ENOENT;
}

int
policy_store_contacts_each(policy_store_t *self, const char *sip_user,
                           void (*fn)(void *ud, const char *sip_user, const char *xmpp_jid,
                                      bool sip_added, bool xmpp_subscribed),
                           void *ud)
{
    sqlite3_stmt *st = s_prep(self, "SELECT sip_user, xmpp_jid, sip_added, xmpp_subscribed"
                                    " FROM contacts WHERE ?1 = '' OR sip_user = ?1"
                                    " ORDER BY sip_user, xmpp_jid");
    if (!st)
        return XGW_EIO;
    sqlite3_bind_text(st, 1, sip_user ? sip_user : "", -1, SQLITE_STATIC);
    int rc;
    for (rc = sqlite3_step(st); rc == SQLITE_ROW; rc = sqlite3_step(st))
        fn(ud, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
           sqlite3_column_int(st, 2) != 0, sqlite3_column_int(st, 3) != 0);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : XGW_EIO;
}

int
policy_store_check(policy_store_t *self)
{
    sqlite3_stmt *st = s_prep(self, "PRAGMA integrity_check");
    int ok = st && sqlite3_step(st) == SQLITE_ROW &&
             strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
    sqlite3_finalize(st);
    return ok ? 0 : XGW_EIO;
}
