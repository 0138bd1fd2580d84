/*
 * sip_store.c - subscription records in SQLite; see sip_store.h.
 */
#include "sip_store.h"

#include "xgw_error.h"
#include "xgw_log.h"

#include <sqlite3.h>
#include <stdlib.h>

struct sip_store {
    sqlite3 *db;
    sqlite3_stmt *put, *del, *load, *purge;
};

static const char *s_schema = "PRAGMA journal_mode=WAL;"
                              "PRAGMA synchronous=NORMAL;"
                              "CREATE TABLE IF NOT EXISTS out_subs ("
                              " watcher TEXT NOT NULL,"
                              " presentity TEXT NOT NULL,"
                              " expires_at INTEGER NOT NULL,"
                              " PRIMARY KEY (watcher, presentity));";

static int
s_prepare(sip_store_t *self, const char *sql, sqlite3_stmt **out)
{
    if (sqlite3_prepare_v2(self->db, sql, -1, out, NULL) != SQLITE_OK) {
        xgw_error("sip_store_failed", "what=prepare err=\"%s\"", sqlite3_errmsg(self->db));
        return XGW_EIO;
    }
    return 0;
}

sip_store_t *
sip_store_open(const char *path)
{
    sip_store_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    if (sqlite3_open_v2(path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        xgw_error("sip_store_failed", "what=open path=\"%s\" err=\"%s\"", path,
                  self->db ? sqlite3_errmsg(self->db) : "out of memory");
        sip_store_close(&self);
        return NULL;
    }
    sqlite3_busy_timeout(self->db, 2000);
    char *err = NULL;
    if (sqlite3_exec(self->db, s_schema, NULL, NULL, &err) != SQLITE_OK) {
        xgw_error("sip_store_failed", "what=schema path=\"%s\" err=\"%s\"", path, err ? err : "?");
        sqlite3_free(err);
        sip_store_close(&self);
        return NULL;
    }
    if (s_prepare(self,
                  "INSERT INTO out_subs (watcher, presentity, expires_at) VALUES (?1, ?2, ?3)"
                  " ON CONFLICT (watcher, presentity) DO UPDATE SET expires_at = ?3",
                  &self->put) != 0 ||
        s_prepare(self, "DELETE FROM out_subs WHERE watcher = ?1 AND presentity = ?2",
                  &self->del) != 0 ||
        s_prepare(self,
                  "SELECT watcher, presentity, expires_at FROM out_subs WHERE expires_at > ?1",
                  &self->load) != 0 ||
        s_prepare(self, "DELETE FROM out_subs WHERE expires_at <= ?1", &self->purge) != 0) {
        sip_store_close(&self);
        return NULL;
    }
    return self;
}

void
sip_store_close(sip_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sip_store_t *self = *self_p;
    sqlite3_finalize(self->put);
    sqlite3_finalize(self->del);
    sqlite3_finalize(self->load);
    sqlite3_finalize(self->purge);
    if (self->db)
        sqlite3_close(self->db);
    free(self);
    *self_p = NULL;
}

static int
s_step_done(sip_store_t *self, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) {
        xgw_error("sip_store_failed", "what=%s err=\"%s\"", what, sqlite3_errmsg(self->db));
        return XGW_EIO;
    }
    return 0;
}

int
sip_store_put(sip_store_t *self, const char *watcher, const char *presentity, int64_t expires_at)
{
    sqlite3_bind_text(self->put, 1, watcher, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(self->put, 2, presentity, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(self->put, 3, expires_at);
    return s_step_done(self, self->put, "put");
}

int
sip_store_delete(sip_store_t *self, const char *watcher, const char *presentity)
{
    sqlite3_bind_text(self->del, 1, watcher, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(self->del, 2, presentity, -1, SQLITE_TRANSIENT);
    return s_step_done(self, self->del, "delete");
}

int
sip_store_load(sip_store_t *self, int64_t now,
               void (*fn)(void *ud, const char *watcher, const char *presentity,
                          int64_t expires_at),
               void *ud)
{
    sqlite3_bind_int64(self->purge, 1, now);
    if (s_step_done(self, self->purge, "purge") != 0)
        return XGW_EIO;
    int n = 0, rc;
    sqlite3_bind_int64(self->load, 1, now);
    for (;;) {
        rc = sqlite3_step(self->load);
        if (rc != SQLITE_ROW)
            break;
        const char *w = (const char *)sqlite3_column_text(self->load, 0);
        const char *p = (const char *)sqlite3_column_text(self->load, 1);
        if (w && p) {
            fn(ud, w, p, sqlite3_column_int64(self->load, 2));
            n++;
        }
    }
    sqlite3_reset(self->load);
    sqlite3_clear_bindings(self->load);
    if (rc != SQLITE_DONE) {
        xgw_error("sip_store_failed", "what=load err=\"%s\"", sqlite3_errmsg(self->db));
        return XGW_EIO;
    }
    return n;
}
