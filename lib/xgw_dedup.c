/*
 * xgw_dedup.c - msg_id de-duplication cache; see xgw_dedup.h.
 */
#include "xgw_dedup.h"
#include "xgw_error.h"

#include <czmq.h>

typedef struct {
    char key[33];
    int state;
    uint16_t status;
    uint8_t *body;
    size_t body_len;
    int64_t expires_ms;
    void *handle; /* position in the age list */
} s_entry_t;

struct xgw_dedup {
    zhashx_t *by_id;  /* key hex -> s_entry_t (owned) */
    zlistx_t *by_age; /* s_entry_t (borrowed), oldest first */
    size_t max;
    int64_t ttl_ms;
};

static void
s_entry_free(void **item)
{
    s_entry_t *e = *item;
    if (e) {
        free(e->body);
        free(e);
        *item = NULL;
    }
}

xgw_dedup_t *
xgw_dedup_new(size_t max, int64_t ttl_ms)
{
    xgw_dedup_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->by_id = zhashx_new();
    self->by_age = zlistx_new();
    if (!self->by_id || !self->by_age) {
        xgw_dedup_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->by_id, s_entry_free);
    self->max = max > 0 ? max : 1;
    self->ttl_ms = ttl_ms;
    return self;
}

void
xgw_dedup_destroy(xgw_dedup_t **self_p)
{
    if (self_p && *self_p) {
        xgw_dedup_t *self = *self_p;
        zlistx_destroy(&self->by_age);
        zhashx_destroy(&self->by_id);
        free(self);
        *self_p = NULL;
    }
}

static void
s_remove(xgw_dedup_t *self, s_entry_t *e)
{
    char key[33];
    memcpy(key, e->key, sizeof key);
    zlistx_delete(self->by_age, e->handle);
    zhashx_delete(self->by_id, key); /* frees e */
}

void
xgw_dedup_expire(xgw_dedup_t *self, int64_t now_ms)
{
    s_entry_t *e = zlistx_first(self->by_age);
    while (e && (e->expires_ms <= now_ms || zlistx_size(self->by_age) > self->max)) {
        s_remove(self, e);
        e = zlistx_first(self->by_age);
    }
}

int
xgw_dedup_begin(xgw_dedup_t *self, const uint8_t id[XGW_GWP_MSGID_LEN], int64_t now_ms,
                uint16_t *status, const uint8_t **body, size_t *body_len)
{
    char key[33];
    xgw_gwp_msgid_hex(id, key);
    s_entry_t *e = zhashx_lookup(self->by_id, key);
    if (e && e->expires_ms > now_ms) {
        if (e->state == XGW_DEDUP_DONE) {
            *status = e->status;
            *body = e->body;
            *body_len = e->body_len;
        }
        return e->state;
    }
    if (e)
        s_remove(self, e);
    e = calloc(1, sizeof *e);
    if (!e)
        return XGW_ENOMEM;
    memcpy(e->key, key, sizeof key);
    e->state = XGW_DEDUP_IN_PROGRESS;
    e->expires_ms = now_ms + self->ttl_ms;
    e->handle = zlistx_add_end(self->by_age, e);
    zhashx_insert(self->by_id, key, e);
    xgw_dedup_expire(self, now_ms);
    return XGW_DEDUP_NEW;
}

int
xgw_dedup_finish(xgw_dedup_t *self, const uint8_t id[XGW_GWP_MSGID_LEN], int64_t now_ms,
                 uint16_t status, const uint8_t *body, size_t body_len)
{
    char key[33];
    xgw_gwp_msgid_hex(id, key);
    s_entry_t *e = zhashx_lookup(self->by_id, key);
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e)
            return XGW_ENOMEM;
        memcpy(e->key, key, sizeof key);
        e->handle = zlistx_add_end(self->by_age, e);
        zhashx_insert(self->by_id, key, e);
    }
    uint8_t *copy = NULL;
    if (body_len > 0) {
        copy = malloc(body_len);
        if (!copy) {
            s_remove(self, e);
            return XGW_ENOMEM;
        }
        memcpy(copy, body, body_len);
    }
    free(e->body);
    e->body = copy;
    e->body_len = body_len;
    e->status = status;
    e->state = XGW_DEDUP_DONE;
    e->expires_ms = now_ms + self->ttl_ms;
    xgw_dedup_expire(self, now_ms);
    return 0;
}

void
xgw_dedup_forget(xgw_dedup_t *self, const uint8_t id[XGW_GWP_MSGID_LEN])
{
    char key[33];
    xgw_gwp_msgid_hex(id, key);
    s_entry_t *e = zhashx_lookup(self->by_id, key);
    if (e)
        s_remove(self, e);
}

size_t
xgw_dedup_size(const xgw_dedup_t *self)
{
    return zlistx_size(self->by_age);
}
