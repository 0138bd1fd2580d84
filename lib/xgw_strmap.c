/*
 * xgw_strmap.c - open-addressing string map; see xgw_strmap.h.
 *
 * A slot is 16 bytes (hash, node pointer), so the probe walks a compact
 * array; the node holds the key next to the value pointer and, for
 * emplaced entries, the value itself, so a hit costs the slot line plus
 * one node line. Deletion uses backward-shift (no tombstones), so lookups
 * stay short after many removals.
 */
#include "xgw_strmap.h"
#include "xgw_error.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    void *value; /* caller's pointer, or the inline storage below */
    uint32_t len;
    uint32_t emplaced; /* value lives in this node */
    char key[];        /* len + 1 bytes, then (emplaced) padding and the value */
} s_node_t;

typedef struct {
    uint64_t hash;
    s_node_t *node; /* NULL = empty slot */
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
            free(self->slots[i].node);
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
        if (!s->node)
            return s;
        if (s->hash == h && s->node->len == len && memcmp(s->node->key, key, len) == 0)
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
        if (!s->node)
            continue;
        size_t j = (size_t)s->hash & (ncap - 1);
        while (ns[j].node)
            j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    free(self->slots);
    self->slots = ns;
    self->cap = ncap;
    return 0;
}

/* Finds key, or makes room for it: returns the slot (empty when new), or
 * NULL when the table could not grow. */
static s_slot_t *
s_slot_for(xgw_strmap_t *self, const char *key, size_t len, uint64_t h)
{
    s_slot_t *s = s_find(self, key, len, h);
    if (s->node)
        return s;
    /* Keep the load factor under 1/2 so probes stay short. */
    if ((self->size + 1) * 2 > self->cap) {
        if (s_grow(self) != 0)
            return NULL;
        s = s_find(self, key, len, h);
    }
    return s;
}

static size_t
s_value_offset(size_t len)
{
    size_t off = offsetof(s_node_t, key) + len + 1;
    size_t a = alignof(max_align_t);
    return (off + a - 1) & ~(a - 1);
}

int
xgw_strmap_put(xgw_strmap_t *self, const char *key, void *value)
{
    size_t len = strlen(key);
    if (len > UINT32_MAX)
        return XGW_EINVAL;
    uint64_t h = s_hash(key, len);
    s_slot_t *s = s_slot_for(self, key, len, h);
    if (!s)
        return XGW_ENOMEM;
    if (s->node) {
        s->node->value = value;
        return 0;
    }
    s_node_t *n = malloc(sizeof *n + len + 1);
    if (!n)
        return XGW_ENOMEM;
    n->value = value;
    n->len = (uint32_t)len;
    n->emplaced = 0;
    memcpy(n->key, key, len + 1);
    s->hash = h;
    s->node = n;
    self->size++;
    return 0;
}

void *
xgw_strmap_emplace(xgw_strmap_t *self, const char *key, size_t size, int *created)
{
    size_t len = strlen(key);
    *created = 0;
    if (len > UINT32_MAX)
        return NULL;
    uint64_t h = s_hash(key, len);
    s_slot_t *s = s_slot_for(self, key, len, h);
    if (!s)
        return NULL;
    if (s->node)
        return s->node->value;
    size_t off = s_value_offset(len);
    s_node_t *n = calloc(1, off + size);
    if (!n)
        return NULL;
    n->value = (char *)n + off;
    n->len = (uint32_t)len;
    n->emplaced = 1;
    memcpy(n->key, key, len + 1);
    s->hash = h;
    s->node = n;
    self->size++;
    *created = 1;
    return n->value;
}

void *
xgw_strmap_getn(const xgw_strmap_t *self, const char *key, size_t len)
{
    s_slot_t *s = s_find(self, key, len, s_hash(key, len));
    return s->node ? s->node->value : NULL;
}

void *
xgw_strmap_get(const xgw_strmap_t *self, const char *key)
{
    return xgw_strmap_getn(self, key, strlen(key));
}

/* Empties slot s and shifts the rest of its probe run back. */
static void
s_vacate(xgw_strmap_t *self, s_slot_t *s)
{
    free(s->node);
    s->node = NULL;
    self->size--;
    size_t mask = self->cap - 1;
    size_t hole = (size_t)(s - self->slots);
    for (size_t i = (hole + 1) & mask; self->slots[i].node; i = (i + 1) & mask) {
        size_t home = (size_t)self->slots[i].hash & mask;
        /* Move it if its home is not in (hole, i] (cyclically). */
        int in_range = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (!in_range) {
            self->slots[hole] = self->slots[i];
            self->slots[i].node = NULL;
            hole = i;
        }
    }
}

void *
xgw_strmap_remove(xgw_strmap_t *self, const char *key)
{
    size_t len = strlen(key);
    s_slot_t *s = s_find(self, key, len, s_hash(key, len));
    if (!s->node)
        return NULL;
    void *value = s->node->emplaced ? NULL : s->node->value;
    s_vacate(self, s);
    return value;
}

int
xgw_strmap_delete(xgw_strmap_t *self, const char *key)
{
    size_t len = strlen(key);
    s_slot_t *s = s_find(self, key, len, s_hash(key, len));
    if (!s->node)
        return XGW_ENOENT;
    s_vacate(self, s);
    return 0;
}

void
xgw_strmap_prefetch(const xgw_strmap_t *self, const char *key, size_t len)
{
    const s_slot_t *s = &self->slots[(size_t)s_hash(key, len) & (self->cap - 1)];
    __builtin_prefetch(s);
    /* The node is only known once the slot is in; nothing more to hint. */
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
        if (self->slots[i].node)
            fn(ud, self->slots[i].node->key, self->slots[i].node->value);
    }
}
