/*
 * xgw_arena.h - a bump allocator for per-request scratch memory: a handler
 * builds its reply (protobuf structs, strings) in the arena, the loop packs
 * the reply and resets the arena. Nothing to free one by one, nothing leaks.
 */
#ifndef XGW_ARENA_H
#define XGW_ARENA_H

#include <stddef.h>

typedef struct xgw_arena xgw_arena_t;

/* Creates an arena whose blocks are block_size bytes (larger requests get a
 * block of their own). Returns NULL on allocation failure. */
xgw_arena_t *xgw_arena_new(size_t block_size);

/* Frees every block; nulls *self_p. Idempotent. */
void xgw_arena_destroy(xgw_arena_t **self_p);

/* Returns size bytes of zeroed memory aligned for any type, owned by the
 * arena until the next reset. NULL on allocation failure. */
void *xgw_arena_alloc(xgw_arena_t *self, size_t size);

/* Copies s (NULL gives "") into the arena. NULL on allocation failure. */
char *xgw_arena_strdup(xgw_arena_t *self, const char *s);

/* Formats into the arena (vsnprintf rules). NULL on failure. */
char *xgw_arena_printf(xgw_arena_t *self, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Releases everything allocated since creation; keeps the first block. */
void xgw_arena_reset(xgw_arena_t *self);

#endif
