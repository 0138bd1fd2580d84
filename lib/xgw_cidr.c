/*
 * xgw_cidr.c - address/network sets; see xgw_cidr.h.
 */
#include "xgw_cidr.h"
#include "xgw_error.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Longest entry text: an IPv6 address with an embedded IPv4 and "/128". */
#define S_ENTRY_MAX (INET6_ADDRSTRLEN + 5)

static const uint8_t s_v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Fills addr/family from text; 0 or XGW_EINVAL. */
static int
s_parse_addr(const char *text, uint8_t addr[16], uint8_t *family)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, text, &a4) == 1) {
        memset(addr, 0, 16);
        memcpy(addr, &a4, 4);
        *family = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, text, &a6) == 1) {
        memcpy(addr, &a6, 16);
        *family = 6;
        return 0;
    }
    return XGW_EINVAL;
}

/* True when the first prefix bits of a and b are equal. */
static bool
s_prefix_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
    unsigned full = prefix / 8, rest = prefix % 8;
    if (full && memcmp(a, b, full) != 0)
        return false;
    if (rest) {
        uint8_t mask = (uint8_t)(0xffu << (8 - rest));
        if ((a[full] & mask) != (b[full] & mask))
            return false;
    }
    return true;
}

/* True when bits from prefix on are all zero (a well-formed network). */
static bool
s_host_bits_clear(const uint8_t *a, unsigned prefix, unsigned bits)
{
    for (unsigned i = prefix; i < bits; i++)
        if (a[i / 8] & (0x80u >> (i % 8)))
            return false;
    return true;
}

static int
s_parse_entry(const char *text, xgw_cidr_entry_t *e, char *err, size_t errlen)
{
    char buf[S_ENTRY_MAX + 1];
    size_t len = strlen(text);
    if (len > S_ENTRY_MAX) {
        snprintf(err, errlen, "entry too long: \"%.40s...\"", text);
        return XGW_EINVAL;
    }
    memcpy(buf, text, len + 1);
    char *slash = strchr(buf, '/');
    long prefix = -1;
    if (slash) {
        *slash = '\0';
        const char *p = slash + 1;
        char *end = NULL;
        if (!isdigit((unsigned char)*p)) {
            snprintf(err, errlen, "bad prefix length in \"%s\"", text);
            return XGW_EINVAL;
        }
        errno = 0;
        prefix = strtol(p, &end, 10);
        if (errno || !end || *end != '\0' || end - p > 3) {
            snprintf(err, errlen, "bad prefix length in \"%s\"", text);
            return XGW_EINVAL;
        }
    }
    if (s_parse_addr(buf, e->addr, &e->family) != 0) {
        snprintf(err, errlen, "not an IPv4 or IPv6 address: \"%s\"", text);
        return XGW_EINVAL;
    }
    unsigned bits = e->family == 4 ? 32 : 128;
    if (prefix < 0)
        prefix = bits;
    if (prefix > (long)bits) {
        snprintf(err, errlen, "prefix length above %u in \"%s\"", bits, text);
        return XGW_EINVAL;
    }
    e->prefix = (uint8_t)prefix;
    if (!s_host_bits_clear(e->addr, e->prefix, bits)) {
        snprintf(err, errlen, "host bits set below the prefix in \"%s\"", text);
        return XGW_EINVAL;
    }
    return 0;
}

int
xgw_cidr_parse(const char *list, xgw_cidr_set_t *out, char *err, size_t errlen)
{
    char dummy[1];
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    out->n = 0;
    if (!list)
        return 0;
    const char *p = list;
    bool want_entry = false; /* a comma was seen: an entry must follow */
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0') {
            if (want_entry) {
                snprintf(err, errlen, "empty entry at the end of the list");
                out->n = 0;
                return XGW_EINVAL;
            }
            return 0;
        }
        if (*p == ',') {
            snprintf(err, errlen, "empty entry in the list");
            out->n = 0;
            return XGW_EINVAL;
        }
        const char *start = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        char text[S_ENTRY_MAX + 2];
        size_t len = (size_t)(p - start);
        if (len > S_ENTRY_MAX) {
            snprintf(err, errlen, "entry too long: \"%.40s...\"", start);
            out->n = 0;
            return XGW_EINVAL;
        }
        memcpy(text, start, len);
        text[len] = '\0';
        if (out->n == XGW_CIDR_MAX) {
            snprintf(err, errlen, "more than %d entries", XGW_CIDR_MAX);
            out->n = 0;
            return XGW_ERANGE;
        }
        int rc = s_parse_entry(text, &out->e[out->n], err, errlen);
        if (rc != 0) {
            out->n = 0;
            return rc;
        }
        out->n++;
        while (*p == ' ' || *p == '\t')
            p++;
        want_entry = false;
        if (*p == ',') {
            p++;
            want_entry = true;
        }
    }
}

static bool
s_match(const xgw_cidr_set_t *set, const uint8_t addr[16], uint8_t family)
{
    /* An IPv4-mapped IPv6 address is the IPv4 peer it stands for. */
    uint8_t v4[16];
    if (family == 6 && memcmp(addr, s_v4_mapped, sizeof s_v4_mapped) == 0) {
        memset(v4, 0, sizeof v4);
        memcpy(v4, addr + 12, 4);
        addr = v4;
        family = 4;
    }
    for (size_t i = 0; i < set->n; i++) {
        const xgw_cidr_entry_t *e = &set->e[i];
        if (e->family == family && s_prefix_equal(e->addr, addr, e->prefix))
            return true;
    }
    return false;
}

bool
xgw_cidr_match_text(const xgw_cidr_set_t *set, const char *text)
{
    uint8_t addr[16], family;
    if (!set || !text || s_parse_addr(text, addr, &family) != 0)
        return false;
    return s_match(set, addr, family);
}

bool
xgw_cidr_match_sa(const xgw_cidr_set_t *set, const struct sockaddr *sa)
{
    uint8_t addr[16] = {0};
    if (!set || !sa)
        return false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        memcpy(addr, &in->sin_addr, 4);
        return s_match(set, addr, 4);
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        memcpy(addr, &in6->sin6_addr, 16);
        return s_match(set, addr, 6);
    }
    return false;
}
