/*
 * xgw_dedup.c - msg_id de-duplication cache; see xgw_dedup.h.
 *
 * msg_ids are 16 random bytes, so their first 8 bytes are already a good
 * hash. Entries sit in an open-addressing table (linear probing,
 * backward-shift deletion) and in a list ordered by last touch, oldest
 * first; each entry is one allocation with its answer body inline.
 */
#include "xgw_dedup.h"
#include "xgw_error.h"

#include <stdlib.h>
#include <string.h>

typedef struct s_entry {
    struct s_entry *prev, *next; /* touch order */
    uint8_t id[XGW_GWP_MSGID_LEN];
    int state;
    uint16_t status;
    int64_t expires_ms;
    size_t body_len;
    uint8_t body[]; /* body_len bytes */
} s_entry_t;

struct xgw_dedup {
    s_entry_t **slots;
    size_t cap; /* power of two */
    size_t size;
    size_t bytes; /* cached body bytes */
    s_entry_t *oldest, *newest;
    size_t max;
    int64_t ttl_ms;
};

static uint64_t
s_hash(const uint8_t id[XGW_GWP_MSGID_LEN])
{
    uint64_t h;
    memcpy(&h, id, sizeof h);
    return h;
}

xgw_dedup_t *
xgw_dedup_new(size_t max, int64_t ttl_ms)
{
    xgw_dedup_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cap = 1024;
    self->slots = calloc(self->cap, sizeof *self->slots);
    if (!self->slots) {
        free(self);
        return NULL;
    }
    self->max = max > 0 ? max : 1;
    self->ttl_ms = ttl_ms;
    return self;
}

void
xgw_dedup_destroy(xgw_dedup_t **self_p)
{
    if (self_p && *self_p) {
        xgw_dedup_t *self = *self_p;
        s_entry_t *e = self->oldest;
        while (e) {
            s_entry_t *next = e->next;
            free(e);
            e = next;
        }
        free(self->slots);
        free(self);
        *self_p = NULL;
    }
}

/* Slot holding id, or the empty slot where it would go. */
static size_t
s_find(const xgw_dedup_t *self, const uint8_t id[XGW_GWP_MSGID_LEN])
{
    size_t mask = self->cap - 1;
    size_t i = (size_t)s_hash(id) & mask;
    while (self->slots[i] && memcmp(self->slots[i]->id, id, XGW_GWP_MSGID_LEN) != 0)
        i = (i + 1) & mask;
    return i;
}

static void
s_unlink(xgw_dedup_t *self, s_entry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        self->oldest = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        self->newest = e->prev;
    e->prev = e->next = NULL;
}

static void
s_append(xgw_dedup_t *self, s_entry_t *e)
{
    e->prev = self->newest;
    e->next = NULL;
    if (self->newest)
        self->newest->next = e;
    else
        self->oldest = e;
    self->newest = e;
}

/* Removes the entry in slot i from the table (backward shift), the list and
 * memory. */
static void
s_remove_slot(xgw_dedup_t *self, size_t i)
{
    s_entry_t *e = self->slots[i];
    s_unlink(self, e);
    self->bytes -= e->body_len;
    self->size--;
    free(e);
    self->slots[i] = NULL;
    size_t mask = self->cap - 1;
    size_t hole = i;
    for (size_t j = (i + 1) & mask; self->slots[j]; j = (j + 1) & mask) {
        size_t home = (size_t)s_hash(self->slots[j]->id) & mask;
        int in_range = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!in_range) {
            self->slots[hole] = self->slots[j];
            self->slots[j] = NULL;
            hole = j;
        }
    }
}

static void
s_remove(xgw_dedup_t *self, s_entry_t *e)
{
    s_remove_slot(self, s_find(self, e->id));
}

static int
s_grow(xgw_dedup_t *self)
{
    size_t ncap = self->cap * 2;
    s_entry_t **ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return XGW_ENOMEM;
    for (size_t i = 0; i < self->cap; i++) {
        s_entry_t *e = self->slots[i];
        if (!e)
            continue;
        size_t j = (size_t)s_hash(e->id) & (ncap - 1);
        while (ns[j])
            j = (j + 1) & (ncap - 1);
        ns[j] = e;
    }
    free(self->slots);
    self->slots = ns;
    self->cap = ncap;
    return 0;
}

void
xgw_dedup_expire(xgw_dedup_t *self, int64_t now_ms)
{
    while (self->oldest && (self->oldest->expires_ms <= now_ms || self->size > self->max ||
                            self->bytes > XGW_DEDUP_MAX_BYTES))
        s_remove(self, self->oldest);
}

/* Inserts a new entry with room for body_len bytes; NULL on failure. */
static s_entry_t *
s_insert(xgw_dedup_t *self, const uint8_t id[XGW_GWP_MSGID_LEN], size_t body_len)
{
    if ((self->size + 1) * 2 > self->cap && s_grow(self) != 0)
        return NULL;
    s_entry_t *e = malloc(sizeof *e + body_len);
    if (!e)
        return NULL;
    memcpy(e->id, id, XGW_GWP_MSGID_LEN);
    e->body_len = body_len;
    e->status = 0;
    self->slots[s_find(self, id)] = e;
    self->size++;
    self->bytes += body_len;
    s_append(self, e);
    return e;
}

int
xgw_dedup_begin(xgw_dedup_t *self, const uint8_t id[XGW_GWP_MSGID_LEN], int64_t now_ms,
                uint16_t *status, const uint8_t **body, size_t *body_len)
{
    size_t i = s_find(self, id);
    s_entry_t *e = self->slots[i];
    if (e && e->expires_ms > now_ms) {
        if (e->state == XGW_DEDUP_DONE) {
            *status = e->status;
            *body = e->body_len ? e->body : NULL;
            *body_len = e->body_len;
        }
        return e->state;
    }
    if (e)
        s_remove_slot(self, i);
    e = s_insert(self, id, 0);
    if (!e)
        return XGW_ENOMEM;
    e->state = XGW_DEDUP_IN_PROGRESS;
    e->expires_ms = now_ms + self->ttl_ms;
    if (self->size > self->max)
        xgw_dedup_expire(self, now_ms);
    return XGW_DEDUP_NEW;
}

int
xgw_dedup_finish(xgw_dedup_t *self, const uint8_t id[XGW_GWP_MSGID_LEN], int64_t now_ms,
                 uint16_t status, const uint8_t *body, size_t body_len)
{
    size_t i = s_find(self, id);
    if (self->slots[i])
        s_remove_slot(self, i);
    if (body_len > XGW_DEDUP_MAX_BODY)
        return 0; /* not cached: a repeat is processed again */
    s_entry_t *e = s_insert(self, id, body_len);
    if (!e)
        return XGW_ENOMEM;
    if (body_len)
        memcpy(e->body, body, body_len);
    e->status = status;
    e->state = XGW_DEDUP_DONE;
    e->expires_ms = now_ms + self->ttl_ms;
    if (self->size > self->max || self->bytes > XGW_DEDUP_MAX_BYTES)
        xgw_dedup_expire(self, now_ms);
    return 0;
}

void
xgw_dedup_forget(xgw_dedup_t *self, const uint8_t id[XGW_GWP_MSGID_LEN])
{
    size_t i = s_find(self, id);
    if (self->slots[i])
        s_remove_slot(self, i);
}

size_t
xgw_dedup_size(const xgw_dedup_t *self)
{
    return self->size;
}
