/*
 * xgw_arena.c - bump allocator; see xgw_arena.h.
 */
#include "xgw_arena.h"

#include <stdarg.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct s_block {
    struct s_block *next;
    size_t size;
    size_t used;
    alignas(max_align_t) unsigned char data[];
} s_block_t;

struct xgw_arena {
    s_block_t *head; /* current block; older ones follow */
    size_t block_size;
};

static s_block_t *
s_block_new(size_t size)
{
    s_block_t *b = malloc(sizeof *b + size);
    if (!b)
        return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

xgw_arena_t *
xgw_arena_new(size_t block_size)
{
    xgw_arena_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->block_size = block_size ? block_size : 4096;
    self->head = s_block_new(self->block_size);
    if (!self->head) {
        free(self);
        return NULL;
    }
    return self;
}

void
xgw_arena_destroy(xgw_arena_t **self_p)
{
    if (self_p && *self_p) {
        s_block_t *b = (*self_p)->head;
        while (b) {
            s_block_t *next = b->next;
            free(b);
            b = next;
        }
        free(*self_p);
        *self_p = NULL;
    }
}

void *
xgw_arena_alloc(xgw_arena_t *self, size_t size)
{
    const size_t align = alignof(max_align_t);
    size_t need = (size + align - 1) & ~(align - 1);
    if (need < size)
        return NULL; /* overflow */
    s_block_t *b = self->head;
    if (b->size - b->used < need) {
        size_t bs = need > self->block_size ? need : self->block_size;
        s_block_t *nb = s_block_new(bs);
        if (!nb)
            return NULL;
        nb->next = self->head;
        self->head = nb;
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += need;
    memset(p, 0, size);
    return p;
}

char *
xgw_arena_strdup(xgw_arena_t *self, const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s);
    char *p = xgw_arena_alloc(self, n + 1);
    if (p)
        memcpy(p, s, n + 1);
    return p;
}

char *
xgw_arena_printf(xgw_arena_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *p = xgw_arena_alloc(self, (size_t)n + 1);
    if (!p)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void
xgw_arena_reset(xgw_arena_t *self)
{
    /* Keep the oldest block (the one made at creation), free the rest. */
    s_block_t *b = self->head;
    while (b->next) {
        s_block_t *next = b->next;
        free(b);
        b = next;
    }
    b->used = 0;
    self->head = b;
}
