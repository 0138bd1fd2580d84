/*
 * xgw_cidr.h - a set of IPv4/IPv6 addresses and networks ("127.0.0.1,
 * 10.0.0.0/8, ::1, fd00::/8"), and the question "is this peer in it?".
 *
 * sipd uses it for [sipd] trusted_peers: a SIP request is only believed
 * (its From taken as the sender) when it comes from one of these. Pure: no
 * sockets, no allocation after parsing; an IPv4-mapped IPv6 peer
 * (::ffff:a.b.c.d) matches the IPv4 entries, because a dual-stack socket
 * reports IPv4 peers that way.
 */
#ifndef XGW_CIDR_H
#define XGW_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

#define XGW_CIDR_MAX 64 /* entries in one set */

typedef struct {
    uint8_t family; /* 4 or 6 */
    uint8_t prefix; /* significant bits: 0..32 or 0..128 */
    uint8_t addr[16];
} xgw_cidr_entry_t;

/* Plain value type: no heap, copy with '='. */
typedef struct {
    size_t n;
    xgw_cidr_entry_t e[XGW_CIDR_MAX];
} xgw_cidr_set_t;

/* Parses a list of addresses and networks separated by commas and/or
 * whitespace into *out (emptied first). Host bits set below the prefix
 * ("10.1.2.3/8") are an error, as is an empty entry between two commas.
 * An empty or blank list gives an empty set (matches nothing). Returns 0,
 * XGW_EINVAL with the offending entry named in err, or XGW_ERANGE when more
 * than XGW_CIDR_MAX entries are given. *out is empty on failure. */
int xgw_cidr_parse(const char *list, xgw_cidr_set_t *out, char *err, size_t errlen);

/* True when the textual address (IPv4 dotted quad or IPv6, no brackets,
 * no port) is inside one of the set's entries. False for text that is not
 * an address. */
bool xgw_cidr_match_text(const xgw_cidr_set_t *set, const char *addr);

/* True when the socket address (AF_INET or AF_INET6; other families never
 * match) is inside one of the set's entries. */
bool xgw_cidr_match_sa(const xgw_cidr_set_t *set, const struct sockaddr *sa);

#endif
