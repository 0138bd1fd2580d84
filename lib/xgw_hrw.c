/*
 * xgw_hrw.c - rendezvous hashing; see xgw_hrw.h.
 */
#include "xgw_hrw.h"

static uint64_t
s_fnv1a(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static uint64_t
s_mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t
xgw_hrw_weight(const char *key, const char *node)
{
    uint64_t h = s_fnv1a(0xcbf29ce484222325ULL, key);
    h ^= 0;
    h *= 0x100000001b3ULL; /* separator so ("ab","c") != ("a","bc") */
    h = s_fnv1a(h, node);
    return s_mix(h);
}

int
xgw_hrw_pick(const char *key, const char *const *nodes, size_t n)
{
    int best = -1;
    uint64_t best_w = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t w = xgw_hrw_weight(key, nodes[i]);
        if (best < 0 || w > best_w) {
            best = (int)i;
            best_w = w;
        }
    }
    return best;
}
