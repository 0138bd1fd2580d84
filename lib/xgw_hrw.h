/*
 * xgw_hrw.h - rendezvous (highest random weight) hashing.
 *
 * Maps an affinity key to one of a set of nodes so that removing a node moves
 * only the keys it held, and adding one takes an even share from every other.
 * The hash is our own fixed function (FNV-1a 64 over key, 0x00, node, then a
 * splitmix64 finaliser): it must never change, or live affinity (SIP dialogs,
 * s2s streams) would move on upgrade.
 */
#ifndef XGW_HRW_H
#define XGW_HRW_H

#include <stddef.h>
#include <stdint.h>

/* Weight of (key, node). Pure function. */
uint64_t xgw_hrw_weight(const char *key, const char *node);

/* Index of the node with the highest weight for key, ties broken by the
 * lower index; -1 if n == 0. nodes are borrowed. */
int xgw_hrw_pick(const char *key, const char *const *nodes, size_t n);

#endif
