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

/* Value for key, or NULL. */
void *xgw_strmap_get(const xgw_strmap_t *self, const char *key);

/* Same with a key that is not NUL-terminated. */
void *xgw_strmap_getn(const xgw_strmap_t *self, const char *key, size_t len);

/* Removes key; returns its value, or NULL if absent. */
void *xgw_strmap_remove(xgw_strmap_t *self, const char *key);

size_t xgw_strmap_size(const xgw_strmap_t *self);

/* Calls fn for every entry, in no particular order. The map must not change
 * during the walk. */
void xgw_strmap_each(const xgw_strmap_t *self, void (*fn)(void *ud, const char *key, void *value),
                     void *ud);

#endif
