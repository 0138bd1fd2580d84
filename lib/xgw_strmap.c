/*
 * xgw_strmap.c - open-addressing string map; see xgw_strmap.h.
 *
 * Deletion uses backward-shift (no tombstones), so lookups stay short after
 * many removals.
 */
#include "xgw_strmap.h"
#include "xgw_error.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char *key; /* NULL = empty slot */
    size_t len;
    uint64_t hash;
    void *value;
} s_slot_t;

struct xgw_strmap {
    s_slot_t *slots;
    size_t cap; /* power of two */
    size_t size;
};

static uint64_t
s_hash(const char *key, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)key[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

xgw_strmap_t *
xgw_strmap_new(void)
{
    xgw_strmap_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cap = 16;
    self->slots = calloc(self->cap, sizeof *self->slots);
    if (!self->slots) {
        free(self);
        return NULL;
    }
    return self;
}

void
xgw_strmap_destroy(xgw_strmap_t **self_p)
{
    if (self_p && *self_p) {
        xgw_strmap_t *self = *self_p;
        for (size_t i = 0; i < self->cap; i++)
            free(self->slots[i].key);
        free(self->slots);
        free(self);
        *self_p = NULL;
    }
}

static s_slot_t *
s_find(const xgw_strmap_t *self, const char *key, size_t len, uint64_t h)
{
    size_t mask = self->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        s_slot_t *s = &self->slots[i];
        if (!s->key)
            return s;
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
            return s;
    }
}

static int
s_grow(xgw_strmap_t *self)
{
    size_t ncap = self->cap * 2;
    s_slot_t *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return XGW_ENOMEM;
    for (size_t i = 0; i < self->cap; i++) {
        s_slot_t *s = &self->slots[i];
        if (!s->key)
            continue;
        size_t j = (size_t)s->hash & (ncap - 1);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    free(self->slots);
    self->slots = ns;
    self->cap = ncap;
    return 0;
}

int
xgw_strmap_put(xgw_strmap_t *self, const char *key, void *value)
{
    size_t len = strlen(key);
    uint64_t h = s_hash(key, len);
    s_slot_t *s = s_find(self, key, len, h);
    if (s->key) {
        s->value = value;
        return 0;
    }
    /* Keep the load factor under 1/2 so probes stay short. */
    if ((self->size + 1) * 2 > self->cap) {
        if (s_grow(self) != 0)
            return XGW_ENOMEM;
        s = s_find(self, key, len, h);
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return XGW_ENOMEM;
    memcpy(copy, key, len + 1);
    s->key = copy;
    s->len = len;
    s->hash = h;
    s->value = value;
    self->size++;
    return 0;
}

void *
xgw_strmap_getn(const xgw_strmap_t *self, const char *key, size_t len)
{
    s_slot_t *s = s_find(self, key, len, s_hash(key, len));
    return s->key ? s->value : NULL;
}

void *
xgw_strmap_get(const xgw_strmap_t *self, const char *key)
{
    return xgw_strmap_getn(self, key, strlen(key));
}

void *
xgw_strmap_remove(xgw_strmap_t *self, const char *key)
{
    size_t len = strlen(key);
    s_slot_t *s = s_find(self, key, len, s_hash(key, len));
    if (!s->key)
        return NULL;
    void *value = s->value;
    free(s->key);
    s->key = NULL;
    self->size--;
    /* Backward-shift: move later members of the probe run into the hole. */
    size_t mask = self->cap - 1;
    size_t hole = (size_t)(s - self->slots);
    for (size_t i = (hole + 1) & mask; self->slots[i].key; i = (i + 1) & mask) {
        size_t home = (size_t)self->slots[i].hash & mask;
        /* Move it if its home is not in (hole, i] (cyclically). */
        int in_range = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (!in_range) {
            self->slots[hole] = self->slots[i];
            self->slots[i].key = NULL;
            hole = i;
        }
    }
    return value;
}

size_t
xgw_strmap_size(const xgw_strmap_t *self)
{
    return self->size;
}

void
xgw_strmap_each(const xgw_strmap_t *self, void (*fn)(void *ud, const char *key, void *value),
                void *ud)
{
    for (size_t i = 0; i < self->cap; i++) {
        if (self->slots[i].key)
            fn(ud, self->slots[i].key, self->slots[i].value);
    }
}
