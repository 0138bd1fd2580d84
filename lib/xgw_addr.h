/*
 * xgw_addr.h - SIP URI <-> JID mapping (RFC 7247 section 6, XEP-0106) and
 * JID checks, shared by the SIP and XMPP edges. Checklist rules ADR-01..10.
 *
 * SIP to XMPP (ADR-01, 02, 04, 05, 06, 08, 09): the scheme (sip:, im:,
 * pres:; sips: is refused) is removed, the URI is split at the first '@',
 * the user part is percent-decoded, checked as UTF-8, case-folded (below)
 * and escaped per XEP-0106: every character a localpart may not hold
 * (space " & ' / : < > @) becomes a lowercase \hexhex, and a backslash that
 * begins one of the ten escape codes becomes \5c; a localpart that would
 * begin or end with \20 is refused. A public GRUU (;gr=value, inside the
 * angle brackets, or after them as the RFC 7248 examples write it) becomes
 * the resourcepart; a temporary GRUU (;gr with no value) is dropped. A '%'
 * not followed by two hex digits is taken literally (XEP-0106's own
 * "cr%zy" example, checklist section 9).
 *
 * XMPP to SIP (ADR-03, 04, 09): the localpart is unescaped in one
 * left-to-right pass (c\5c27x gives c\27x, never c'x), then every byte the
 * RFC 3261 user rule does not allow is percent-encoded with upper-case hex
 * (& ' / stay as they are, as in the RFC 7247 examples); the resourcepart
 * becomes ;gr= inside the URI, non-paramchar bytes percent-encoded. The
 * scheme is sip: unless the caller asks for im: or pres:.
 *
 * Case (ADR-07). JID localparts are case-folded (RFC 7622
 * UsernameCaseMapped) while SIP user parts are case-sensitive; the rule here
 * is "lower case on both sides": the localpart is case-folded whenever a
 * JID is produced or read (SIP to XMPP after percent-decoding, XMPP to SIP
 * before unescaping, and in xgw_addr_jid_normalize), so Romeo@, ROMEO@ and
 * romeo@ all give sip:romeo@, and sip:Romeo@ always gives romeo@. The
 * gateway therefore reaches SIP users by their lower-case name: the served
 * SIP domain must match user names without regard to case (Lync, Kamailio
 * with case-insensitive lookups) or use lower-case names. The folding is
 * deterministic and locale-free: ASCII A-Z, Latin-1 capitals, Latin
 * Extended-A, Greek and basic Cyrillic capitals; characters of other
 * scripts are kept as they are (no full Unicode toLower, no NFC). The
 * resourcepart keeps its case (OpaqueString).
 *
 * Domains (ADR-06): a trailing dot is dropped, ASCII is lower-cased and a
 * U-label becomes its A-label ("xn--", via xgw_x509_domain_to_ascii, which
 * does not apply IDNA2008 mapping: input is expected in NFC, lower case),
 * so domains compare byte for byte; the result is a host name of at most
 * 253 characters or a bracketed IPv6 literal. Ports in SIP URIs are
 * dropped.
 *
 * Lengths (ADR-05): each JID part is 1..1023 octets (XGW_JID_PART_MAX)
 * after escaping; a JID is at most XGW_JID_MAX octets.
 *
 * Return values: 0, or XGW_EINVAL (malformed or unmappable input),
 * XGW_ETOOBIG (a part over 1023 octets), XGW_EPROTO (a sips: URI, ADR-08:
 * never routed to XMPP) or XGW_ERANGE (the output buffer is too small). The
 * optional why out-parameter tells the reason precisely; on failure the
 * output buffer holds "" (when its size is not 0). No heap is used; no state
 * is kept between calls.
 */
#ifndef XGW_ADDR_H
#define XGW_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#define XGW_JID_PART_MAX 1023  /* octets of one localpart, domainpart or resourcepart */
#define XGW_JID_MAX 3071       /* octets of a full JID, without the NUL */
#define XGW_JID_DOMAIN_MAX 253 /* a normalized domainpart (host name) */
/* A SIP URI made from a JID: "pres:" + 3 x 1023 + "@" + domain + ";gr=" +
 * 3 x 1023 octets, without the NUL. */
#define XGW_SIP_URI_MAX                                                                            \
    (5 + 3 * XGW_JID_PART_MAX + 1 + XGW_JID_DOMAIN_MAX + 4 + 3 * XGW_JID_PART_MAX)

/* Why an address was refused. */
typedef enum {
    XGW_ADDR_OK = 0,
    XGW_ADDR_SYNTAX,     /* not a SIP URI / JID: bad brackets, quotes, port, empty */
    XGW_ADDR_SCHEME,     /* a scheme other than sip, im, pres (SIP 416) */
    XGW_ADDR_SIPS,       /* sips: is never mapped to XMPP (ADR-08) */
    XGW_ADDR_NO_USER,    /* no '@' or an empty user part / localpart */
    XGW_ADDR_ENCODING,   /* %00, invalid UTF-8, control or space characters */
    XGW_ADDR_CHAR,       /* a character the part may not hold (a URI password ':') */
    XGW_ADDR_SPACE_EDGE, /* the localpart would begin or end with \20 (XEP-0106) */
    XGW_ADDR_TOO_LONG,   /* a part over 1023 octets (ADR-05) */
    XGW_ADDR_DOMAIN,     /* not a host name (or IPv6 literal), or over 253 characters */
    XGW_ADDR_RESOURCE,   /* empty or malformed resourcepart / gr value */
    XGW_ADDR_BUFFER,     /* the caller's output buffer is too small */
} xgw_addr_why_t;

/* URI scheme for XMPP to SIP (ADR-09: sip unless the peer supports im/pres;
 * PIDF entities use pres, PRS-02). */
typedef enum {
    XGW_ADDR_SCHEME_SIP = 0,
    XGW_ADDR_SCHEME_IM = 1,
    XGW_ADDR_SCHEME_PRES = 2,
} xgw_addr_scheme_t;

/* Flag for both directions: produce the bare address (no resourcepart, no
 * ;gr=), as presence subscriptions require (ADR-10). */
#define XGW_ADDR_BARE 0x1u

/* The parts of a JID, borrowed from the string given to
 * xgw_addr_jid_split (not normalized, not NUL-terminated). local and
 * resource are NULL with length 0 when absent. */
typedef struct {
    const char *local;
    size_t local_len;
    const char *domain;
    size_t domain_len;
    const char *resource;
    size_t resource_len;
} xgw_jid_parts_t;

/* Maps a SIP, im: or pres: address as found in a Request-URI, To or From
 * (a bare URI, or a name-addr with display name and angle brackets, with
 * URI parameters and header parameters such as ;tag) to a JID written into
 * jid (jidlen bytes; XGW_JID_MAX + 1 always suffices). flags: 0 or
 * XGW_ADDR_BARE. Returns 0 or a negative code (see the top of this file);
 * *why (may be NULL) says why. */
int xgw_addr_sip_to_jid(const char *uri, unsigned flags, char *jid, size_t jidlen,
                        xgw_addr_why_t *why);

/* Maps a JID with a localpart to a SIP URI of the given scheme written into
 * uri (urilen bytes; XGW_SIP_URI_MAX + 1 always suffices). The JID is
 * checked as xgw_addr_jid_split does; a JID without localpart is
 * XGW_ADDR_NO_USER. flags: 0 or XGW_ADDR_BARE (no ;gr=). Returns 0 or a
 * negative code; *why (may be NULL) says why. */
int xgw_addr_jid_to_sip(const char *jid, xgw_addr_scheme_t scheme, unsigned flags, char *uri,
                        size_t urilen, xgw_addr_why_t *why);

/* Splits a JID (RFC 7622 section 3.1: the resourcepart starts at the first
 * '/', the localpart ends at the first '@' before it) and checks each part:
 * 1..1023 octets, valid UTF-8, no control characters; the localpart holds
 * no space and none of " & ' / : < > @; the domainpart is not empty. The
 * domain is not normalized here. Fills *parts with pointers into jid (valid
 * while jid is). Returns 0, XGW_EINVAL or XGW_ETOOBIG; *why (may be NULL)
 * says why. */
int xgw_addr_jid_split(const char *jid, xgw_jid_parts_t *parts, xgw_addr_why_t *why);

/* Writes the canonical form of a JID into out (outlen bytes; XGW_JID_MAX + 1
 * suffices): localpart case-folded, domain normalized (see above),
 * resourcepart unchanged. Two JIDs are the same address when their
 * canonical forms are equal byte for byte. Returns 0 or a negative code;
 * *why (may be NULL) says why. */
int xgw_addr_jid_normalize(const char *jid, char *out, size_t outlen, xgw_addr_why_t *why);

/* As xgw_addr_jid_normalize, without the resourcepart (the bare JID, which
 * is the domain alone for a domain JID). */
int xgw_addr_jid_bare(const char *jid, char *out, size_t outlen, xgw_addr_why_t *why);

/* Writes the normalized domainpart of a JID (or of a plain domain, as in
 * a stream header's from/to) into out (XGW_JID_DOMAIN_MAX + 1 suffices).
 * The whole JID is checked. Returns 0 or a negative code. */
int xgw_addr_jid_domain(const char *jid, char *out, size_t outlen, xgw_addr_why_t *why);

/* Static lower-case name of a reason for logs ("sips", "too-long"). Never
 * NULL. */
const char *xgw_addr_why_name(xgw_addr_why_t why);

/* The SIP final response a SIP edge sends when a Request-URI or To cannot
 * be mapped: 403 for sips: (ADR-08: a permanent refusal, so the UA does not
 * retry the same address, where 480 would invite a retry), 416 for another
 * scheme, 404 when there is no user part, 500 for XGW_ADDR_BUFFER (our
 * fault), 400 for the rest. */
int xgw_addr_why_sip_status(xgw_addr_why_t why);

#endif
