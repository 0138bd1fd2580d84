/*
 * xgw_pidf.h - application/pidf+xml (RFC 3863) with the RFC 7248 mapping
 * (checklist 8.3, 8.4, PRS-01..07).
 *
 * What is mapped:
 *  - <basic>open</basic> / closed: XMPP available / unavailable (PRS-01).
 *  - <note xml:lang> of a tuple: XMPP <status xml:lang> (PRS-03). Notes are
 *    cut to XGW_PIDF_NOTE_MAX octets (at a character boundary) in both
 *    directions rather than refused: presence text is informative, and a
 *    refused NOTIFY would lose the basic status too.
 *  - <show/>: carried as <show xmlns='jabber:client'> inside <status>
 *    (RFC 7248 note 7, PRS-04) and, for SIP clients that only read RPID, as
 *    RFC 4480 activities in a <dm:person> (checklist 8.4, team choice):
 *    away and xa give <rpid:away/>, dnd gives <rpid:busy/>, chat and none
 *    give no activity. Reading: a jabber:client <show> in the tuple's
 *    <status> wins; an unknown value there ("busy") is translated through
 *    the activity words below or dropped, never passed on verbatim. Then
 *    RPID activities of the tuple, then those of the first <dm:person>
 *    (which describe the presentity, so they apply to every open tuple
 *    without its own show); the draft RPID form
 *    (urn:ietf:params:xml:ns:pidf:status:rpid-status, <ep:activities>
 *    <ep:activity>busy</ep:activity>, as sent by OCS/Lync federation) is
 *    read too. Words: busy, meeting, on-the-phone, presentation,
 *    performance, appointment give dnd; away, meal, breakfast, lunch,
 *    dinner, shopping, in-transit give away; vacation, holiday, sleeping,
 *    permanent-absence give xa. The first activity that maps wins. Only
 *    open tuples have a show.
 *  - <priority/> 0..127 <-> <contact priority> 0..1 (PRS-05): p gives
 *    floor(1000 p / 127) thousandths (1 -> 0.007, 126 -> 0.992, 127 -> 1),
 *    which is one-to-one; a qvalue q maps back to the smallest p that gives
 *    at least q, so the gateway's own values round-trip exactly. Negative
 *    priorities are not mapped.
 *  - tuple id <-> resourcepart (PRS-02): "ID-" + the resource with every
 *    byte other than ASCII letters, digits, '-' and '.' written as "_XX"
 *    (upper-case hex), so ids are NCNames, stable per resource and never
 *    shared by two resources; a tuple without a resource gets "ID-".
 *    Reading, a tuple's resource is the gr of its <contact> (a public
 *    GRUU), else its id decoded when it has that form, else the id as is.
 *
 * Several tuples (PRS-07: every NOTIFY is complete state): all are
 * returned, and the summary fields of xgw_pidf_t describe the "most
 * available" one: open before closed before unknown, then the higher
 * priority (none counts as 0), then show chat, none, away, xa, dnd, then
 * document order. A tuple's note falls back to the document-level <note>,
 * then to the <dm:note> of the first <dm:person>.
 *
 * Tolerance (PRS-06, RFC 3863 4.2.3): elements and attributes in other
 * namespaces (RPID, data model, caps, vendor extensions; any prefixes) are
 * ignored, mustUnderstand included: <basic> is still read. A tuple whose
 * <status> has no <basic> (or a value other than open/closed) has basic
 * XGW_PIDF_BASIC_UNKNOWN, which is not an error. Refused with XGW_EINVAL
 * (the SIP edge answers 400): input that is not XML or is restricted XML
 * (DOCTYPE, comments, processing instructions; see xgw_xml.h), a root other
 * than {urn:ietf:params:xml:ns:pidf}presence, no entity, a tuple without id
 * or <status>, two tuples with one id. Refused with XGW_ETOOBIG: a document
 * over XGW_PIDF_DOC_MAX bytes or with more than XGW_PIDF_TUPLES_MAX tuples.
 */
#ifndef XGW_PIDF_H
#define XGW_PIDF_H

#include "xgw_arena.h"
#include "xgw_xml.h"

#include <stdbool.h>
#include <stddef.h>

#define XGW_PIDF_CONTENT_TYPE "application/pidf+xml"
#define XGW_PIDF_NS "urn:ietf:params:xml:ns:pidf"
#define XGW_PIDF_NS_DM "urn:ietf:params:xml:ns:pidf:data-model"
#define XGW_PIDF_NS_RPID "urn:ietf:params:xml:ns:pidf:rpid"
#define XGW_PIDF_NS_RPID_DRAFT "urn:ietf:params:xml:ns:pidf:status:rpid-status"

#define XGW_PIDF_DOC_MAX (64 * 1024) /* bytes of a document we read */
#define XGW_PIDF_TUPLES_MAX 32       /* tuples in one document */
#define XGW_PIDF_NOTE_MAX 1024       /* octets of a note, longer ones are cut */
#define XGW_PIDF_PRIORITY_LEN 6      /* "0.992" + NUL */

typedef enum {
    XGW_PIDF_BASIC_UNKNOWN = 0,
    XGW_PIDF_BASIC_OPEN = 1,   /* XMPP available (no type) */
    XGW_PIDF_BASIC_CLOSED = 2, /* XMPP type='unavailable' */
} xgw_pidf_basic_t;

typedef enum {
    XGW_PIDF_SHOW_NONE = 0, /* available, no <show/> */
    XGW_PIDF_SHOW_CHAT = 1,
    XGW_PIDF_SHOW_AWAY = 2,
    XGW_PIDF_SHOW_XA = 3,
    XGW_PIDF_SHOW_DND = 4,
} xgw_pidf_show_t;

typedef struct {
    /* Tuple id. Parse: as received. Build: NULL derives it from resource
     * (the usual case); given, it must be an NCName. */
    const char *id;
    /* XMPP resourcepart. Parse: see the top of this file; NULL when there
     * is none (or none that is a valid resourcepart). Build: used for the
     * id; NULL for a tuple of the bare JID. */
    const char *resource;
    xgw_pidf_basic_t basic;
    xgw_pidf_show_t show;
    const char *note;      /* NULL: none */
    const char *note_lang; /* NULL: none (parse: inherited xml:lang too) */
    bool has_priority;
    int priority;        /* XMPP priority; build: -128..127, negative omitted */
    const char *contact; /* <contact> URI; build: priority is written only with it */
} xgw_pidf_tuple_t;

typedef struct {
    /* The presentity: "pres:user@domain" when the gateway builds it
     * (PRS-02; xgw_addr_jid_to_sip with XGW_ADDR_SCHEME_PRES and
     * XGW_ADDR_BARE makes it). */
    const char *entity;
    const xgw_pidf_tuple_t *tuples;
    size_t n_tuples;
    /* Summary, filled by parse from the most available tuple (best is its
     * index, -1 when there is no tuple: basic is then unknown, show and
     * note come from the document and person level). Build uses these
     * only when n_tuples is 0, to write one tuple for the bare JID. */
    int best;
    xgw_pidf_basic_t basic;
    xgw_pidf_show_t show;
    const char *note;
    const char *note_lang;
    bool has_priority;
    int priority;
} xgw_pidf_t;

/* Parses a PIDF document of len bytes into *out. Everything *out points to
 * is allocated in arena (or points into the tree there) and lives until
 * the arena is reset. Returns 0, XGW_EINVAL (malformed, see above),
 * XGW_ETOOBIG (over-size) or XGW_ENOMEM; on failure *out is zeroed with
 * best -1. Never reads past doc + len. */
int xgw_pidf_parse(const char *doc, size_t len, xgw_arena_t *arena, xgw_pidf_t *out);

/* Appends a PIDF document for p to w: XML declaration, <presence> with the
 * entity, one <tuple> per p->tuples (or one from the summary fields when
 * n_tuples is 0), each with <status><basic>, the jabber:client <show> for
 * open tuples, <contact priority> when a contact is given, <note
 * xml:lang>; then a <dm:person> with RPID activities when the most
 * available tuple's show asks for one. Returns 0, XGW_EINVAL (no entity,
 * basic unknown, show out of range, priority over 127 or under -128, a
 * given id that is not an NCName, two tuples with one id, a note_lang that
 * is not a language tag, text that is not valid UTF-8 or holds characters
 * XML cannot carry, more than XGW_PIDF_TUPLES_MAX tuples), or the writer's
 * XGW_ETOOBIG / XGW_ENOMEM. On failure the writer is left failed; the
 * caller clears it. */
int xgw_pidf_build(const xgw_pidf_t *p, xgw_xml_writer_t *w);

/* Writes the tuple id of a resource (NULL: "ID-") into out (outlen bytes;
 * 3 + 3 x 1023 + 1 always suffices). Returns 0, XGW_EINVAL (resource
 * empty) or XGW_ERANGE (out too small). */
int xgw_pidf_tuple_id(const char *resource, char *out, size_t outlen);

/* Writes the PIDF priority for an XMPP priority 0..127 into out
 * (XGW_PIDF_PRIORITY_LEN bytes suffice). Returns 0, or XGW_ERANGE for a
 * priority outside 0..127 (negative ones are not mapped) or a small out. */
int xgw_pidf_priority_format(int priority, char *out, size_t outlen);

/* Reads a PIDF qvalue ("0", "0.5", "0.992", "1.000"; spaces around are
 * allowed) into an XMPP priority 0..127. Returns 0 or XGW_EINVAL. */
int xgw_pidf_priority_parse(const char *q, int *priority);

/* "chat", "away", "xa", "dnd"; NULL for XGW_PIDF_SHOW_NONE and values out
 * of range. */
const char *xgw_pidf_show_name(xgw_pidf_show_t show);

/* The show for an XMPP <show/> value; XGW_PIDF_SHOW_NONE for NULL and for
 * anything that is not exactly chat, away, xa or dnd. */
xgw_pidf_show_t xgw_pidf_show_from_name(const char *name);

#endif
