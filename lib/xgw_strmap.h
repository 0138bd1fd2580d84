/*
 * xgw_strmap.h - string -> pointer hash map (open addressing, linear
 * probing), for the read-mostly tables on the decision path (users,
 * partner domains, policies). Keys are copied; values are borrowed.
 */
#ifndef XGW_STRMAP_H
#define XGW_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct xgw_strmap xgw_strmap_t;

/* Creates an empty map. NULL on allocation failure. */
xgw_strmap_t *xgw_strmap_new(void);

/* Frees the map and its key copies (not the values); nulls *self_p. */
void xgw_strmap_destroy(xgw_strmap_t **self_p);

/* Inserts or replaces key -> value. Returns 0 or XGW_ENOMEM (map unchanged). */
int xgw_strmap_put(xgw_strmap_t *self, const char *key, void *value);

/* Finds key, or adds it with size bytes of zeroed value storage inside the
 * map's own node (one allocation, one cache line less per lookup). Returns
 * the value storage (owned by the map, stable until the key is deleted) and
 * sets *created; NULL on allocation failure. get() returns the same
 * pointer. Delete emplaced keys with xgw_strmap_delete. */
void *xgw_strmap_emplace(xgw_strmap_t *self, const char *key, size_t size, int *created);

/* Removes key and, for an emplaced key, its value. Returns 0 or XGW_ENOENT. */
int xgw_strmap_delete(xgw_strmap_t *self, const char *key);

/* Value for key, or NULL. */
void *xgw_strmap_get(const xgw_strmap_t *self, const char *key);

/* Same with a key that is not NUL-terminated. */
void *xgw_strmap_getn(const xgw_strmap_t *self, const char *key, size_t len);

/* Removes key; returns its value (the caller's pointer given to put), or
 * NULL if absent or emplaced. */
void *xgw_strmap_remove(xgw_strmap_t *self, const char *key);

size_t xgw_strmap_size(const xgw_strmap_t *self);

/* Hints the CPU to fetch key's slot now, so that a later get() on a cold
 * table overlaps its cache miss with other work. No effect on the map. */
void xgw_strmap_prefetch(const xgw_strmap_t *self, const char *key, size_t len);

/* Calls fn for every entry, in no particular order. The map must not change
 * during the walk. */
void xgw_strmap_each(const xgw_strmap_t *self, void (*fn)(void *ud, const char *key, void *value),
                     void *ud);

#endif
