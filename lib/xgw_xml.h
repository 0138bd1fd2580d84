/*
 * xgw_xml.h - XML for XMPP streams and for PIDF documents.
 *
 * Two readers on expat (namespace-aware) and one writer:
 *  - xgw_xml_stream_t: an incremental reader for an XMPP stream. It reports
 *    the stream header (<stream:stream> with its attributes), then each
 *    top-level child (a stanza, or <features/>, <starttls/>, <db:result/>...)
 *    as a small tree, then the close tag. Hard limits protect the process
 *    from a hostile peer: no DOCTYPE (so no entity definitions and no
 *    entity expansion), no processing instructions, bounded element depth,
 *    bounded stanza size, bounded attribute count; input must be UTF-8.
 *  - xgw_xml_parse_doc: a whole document (PIDF bodies) into the same tree,
 *    with the same limits.
 *  - xgw_xml_writer_t: a bounded output buffer with escaping, used to build
 *    stanzas and PIDF documents and to re-serialize received trees.
 *
 * Trees live in an xgw_arena: nothing in them is freed one by one.
 */
#ifndef XGW_XML_H
#define XGW_XML_H

#include "xgw_arena.h"

#include <stdbool.h>
#include <stddef.h>

#define XGW_XML_NS_STREAM "http://etherx.jabber.org/streams"
#define XGW_XML_NS_SERVER "jabber:server"
#define XGW_XML_NS_CLIENT "jabber:client"
#define XGW_XML_NS_XML "http://www.w3.org/XML/1998/namespace"

typedef struct {
    const char *ns;    /* namespace URI of the attribute, "" for none */
    const char *name;  /* local name */
    const char *value; /* decoded value (UTF-8) */
    /* The prefix as written ("" for none; "xml" for xml:lang), so
     * that a re-serialized tree keeps it. The writer makes one up when it
     * is NULL or "" on an attribute in a namespace other than XML's. */
    const char *prefix;
} xgw_xml_attr_t;

typedef struct xgw_xml_node xgw_xml_node_t;

struct xgw_xml_node {
    const char *ns;     /* namespace URI, "" for none */
    const char *name;   /* local name */
    const char *prefix; /* prefix as written ("" for the default namespace);
                           kept so that <db:result/> can be written back */
    xgw_xml_attr_t *attrs;
    size_t n_attrs;
    /* Namespace declarations made on this element (xmlns / xmlns:p), in
     * document order: the stream header's declare jabber:server, db, ... */
    const char **decl_prefixes; /* "" for the default namespace */
    const char **decl_uris;
    size_t n_decls;
    char *text; /* character data directly inside (concatenated), NUL-ended */
    size_t text_len;
    xgw_xml_node_t *parent;
    xgw_xml_node_t *children; /* first child element */
    xgw_xml_node_t *next;     /* next sibling element */
    /* Where this element sits in its parent's text (the parent's
     * text_len when this element began), so that mixed content
     * ("a<b/>c") is written back in order. 0 for a top element. */
    size_t text_pos;
};

typedef struct {
    size_t max_stanza; /* bytes of one top-level child (default 256 KiB) */
    size_t max_depth;  /* element depth inside a stanza (default 64) */
    size_t max_attrs;  /* attributes per element (default 64) */
    /* Bytes of one tag (a start tag with its attributes, the stream
     * header included), default 16 KiB. Expat re-scans an unfinished tag
     * each time bytes arrive, so a tag trickled in one byte at a time costs
     * its size squared: this bound keeps that cost small. Over it ->
     * XGW_XML_ERR_TOO_BIG. */
    size_t max_tag;
} xgw_xml_limits_t;

/* Any field left 0 is taken as its default, so a caller that fills only
 * some fields (or a struct from an older version) gets sane bounds.
 * Namespace declarations count against max_attrs separately from the
 * attributes (each may reach it). */

/* Fills lim with the defaults above. */
void xgw_xml_limits_default(xgw_xml_limits_t *lim);

/* Why a stream or document was refused. The condition strings are the
 * RFC 6120 section 4.9.3 stream error conditions the caller sends. */
typedef enum {
    XGW_XML_OK = 0,
    XGW_XML_ERR_SYNTAX,     /* not-well-formed */
    XGW_XML_ERR_RESTRICTED, /* restricted-xml: DOCTYPE, PI, comment, entity */
    XGW_XML_ERR_TOO_BIG,    /* policy-violation: a stanza over max_stanza */
    XGW_XML_ERR_TOO_DEEP,   /* policy-violation: depth or attribute count */
    XGW_XML_ERR_NAMESPACE,  /* invalid-namespace: root is not stream:stream */
    XGW_XML_ERR_ENCODING,   /* unsupported-encoding: not UTF-8 */
    XGW_XML_ERR_NOMEM,      /* internal-server-error */
} xgw_xml_err_t;

/* The RFC 6120 stream error condition for err ("not-well-formed", ...). */
const char *xgw_xml_err_condition(xgw_xml_err_t err);

/* ------------------------------------------------------------------ */
/* Stream reader                                                       */

typedef struct xgw_xml_stream xgw_xml_stream_t;

typedef struct {
    /* The root element opened: header is <stream:stream> with attributes
     * and namespace declarations, no children. */
    void (*on_open)(void *ud, const xgw_xml_node_t *header);
    /* One complete top-level child. The tree is valid only during the
     * call (its arena is reset afterwards). */
    void (*on_stanza)(void *ud, const xgw_xml_node_t *stanza);
    /* </stream:stream> was read. */
    void (*on_close)(void *ud);
} xgw_xml_stream_cbs_t;
/* Any callback may be NULL. A callback may call xgw_xml_stream_stop and the
 * read-only functions; feed and reset return XGW_EINVAL there, and destroy
 * must not be called from one. */

/* Creates a reader. lim may be NULL for defaults (it is copied). Returns NULL on
 * allocation failure. The caller owns it. */
xgw_xml_stream_t *xgw_xml_stream_new(const xgw_xml_limits_t *lim, const xgw_xml_stream_cbs_t *cbs,
                                     void *ud);

/* Frees the reader; nulls *self_p. Idempotent. */
void xgw_xml_stream_destroy(xgw_xml_stream_t **self_p);

/* Feeds bytes. Callbacks run from inside this call. Returns 0 when all
 * bytes were consumed, 1 when a callback called xgw_xml_stream_stop (the
 * rest of data is discarded: after <starttls/> or SASL <success/> nothing
 * that followed in the same read may be used), or a negative XGW_E* code
 * after a refusal: xgw_xml_stream_error tells which. After a refusal or a
 * stop, only xgw_xml_stream_reset makes the reader usable again. */
int xgw_xml_stream_feed(xgw_xml_stream_t *self, const char *data, size_t len);
/* Return codes of feed after a refusal: XGW_ETOOBIG (TOO_BIG), XGW_ERANGE
 * (TOO_DEEP), XGW_ENOMEM (NOMEM), XGW_EPROTO (every other condition); the
 * same code again for every later feed until reset. Misuse returns
 * XGW_EINVAL without changing the state: NULL self, NULL data with len > 0,
 * a feed from inside a callback, or a feed after a stop.
 * Nothing is buffered beyond what expat holds for an unfinished token, and
 * a stanza is refused as soon as the bytes seen since its '<' exceed
 * max_stanza (an endless stanza never grows memory past that).
 * Restricted XML (RFC 6120 11.1) is refused: DOCTYPE, comments, PIs,
 * entity references other than the five predefined ones (RESTRICTED);
 * character data other than whitespace between stanzas, unbound prefixes
 * and anything expat finds not well-formed (SYNTAX); an XML declaration
 * naming another encoding than UTF-8, and bytes that are not UTF-8
 * (ENCODING); a root other than {XGW_XML_NS_STREAM}stream (NAMESPACE).
 * The content namespace of the header (jabber:server...) is the caller's
 * to check, from header->decl_*. */

/* Called from a callback: stop consuming input after the current element. */
void xgw_xml_stream_stop(xgw_xml_stream_t *self);

/* The stream header of the current stream (what on_open got), or
 * NULL before it was read. Borrowed; valid until reset or destroy (stanza
 * trees have parent NULL: this is where the stream's xml:lang and
 * namespace declarations are found). */
const xgw_xml_node_t *xgw_xml_stream_header(const xgw_xml_stream_t *self);

/* Starts over for a new stream on the same connection (stream restart after
 * TLS or SASL, RFC 6120 4.3.3). Returns 0 or XGW_ENOMEM. Must not be called
 * from a callback (XGW_EINVAL). */
int xgw_xml_stream_reset(xgw_xml_stream_t *self);

/* Why the last feed failed (XGW_XML_OK if it did not), and a short detail
 * for the log ("line 3: mismatched tag"). */
xgw_xml_err_t xgw_xml_stream_error(const xgw_xml_stream_t *self);
const char *xgw_xml_stream_error_detail(const xgw_xml_stream_t *self);

/* Bytes consumed since creation (for the metrics' bytes_in): every byte
 * handed to a feed that was not refused outright, including the tail a
 * stop discarded; resets do not clear it. */
size_t xgw_xml_stream_bytes(const xgw_xml_stream_t *self);

/* ------------------------------------------------------------------ */
/* Whole documents                                                     */

/* Parses a complete document of len bytes into a tree allocated in arena.
 * Returns the root, or NULL with *err set (never NULL err). The root may be
 * any element; the same restrictions and limits as the stream apply, with
 * max_stanza bounding the whole document (a longer one is TOO_BIG before
 * any parsing) and max_depth counting the root as depth 1. On failure the
 * arena may hold parts of the tree (reset it as usual). */
xgw_xml_node_t *xgw_xml_parse_doc(const char *data, size_t len, const xgw_xml_limits_t *lim,
                                  xgw_arena_t *arena, xgw_xml_err_t *err);

/* ------------------------------------------------------------------ */
/* Tree access (all borrowed pointers, NULL/"" when absent)            */

/* First child element with that namespace (NULL: any) and local name. */
const xgw_xml_node_t *xgw_xml_child(const xgw_xml_node_t *node, const char *ns, const char *name);

/* Next sibling after child with the same namespace and name. */
const xgw_xml_node_t *xgw_xml_next(const xgw_xml_node_t *child);

/* Value of the attribute with no namespace and that name, or NULL. */
const char *xgw_xml_attr(const xgw_xml_node_t *node, const char *name);

/* xgw_xml_child also takes name NULL for any name. */

/* Value of a namespaced attribute (xml:lang is
 * xgw_xml_attr_ns(n, XGW_XML_NS_XML, "lang")), or NULL. */
const char *xgw_xml_attr_ns(const xgw_xml_node_t *node, const char *ns, const char *name);

/* Text of the first child (ns, name), or NULL when there is no such child. */
const char *xgw_xml_child_text(const xgw_xml_node_t *node, const char *ns, const char *name);

/* ------------------------------------------------------------------ */
/* Writer                                                              */

/* A growable output buffer that refuses to grow beyond max bytes. */
typedef struct {
    char *buf;
    size_t len;
    size_t cap;
    size_t max;
    bool failed; /* a write did not fit or allocation failed */
    /* Why it failed (XGW_ETOOBIG, XGW_ENOMEM, XGW_EINVAL). Only
     * meaningful while failed is set: a caller that rewinds after a failure
     * (w->len = saved; w->failed = false) is usable again. */
    int err;
} xgw_xml_writer_t;

/* Writer rules. Once failed, every write does nothing until the caller
 * clears failed. buf is NUL-terminated after every successful write (the
 * NUL is not counted in len and may take the byte after max). Text and
 * attribute values must be valid UTF-8 made of XML 1.0 characters: a
 * control character other than TAB, LF, CR, U+FFFE, U+FFFF or a byte
 * sequence that is not UTF-8 sets failed with XGW_EINVAL (refused, not
 * replaced: the caller answers with an error instead of sending altered
 * text; xgw_xml_chars_valid checks beforehand). Text escapes & < > and CR
 * (&#xD;, so it survives line-end normalisation); attribute values escape
 * & < > " ' and TAB, LF, CR (so they survive attribute normalisation).
 * Names given to open/attr_w/close/elem_text are written as they are (they
 * come from code, not from peers). */

/* Initialises w (no allocation until the first write). */
void xgw_xml_writer_init(xgw_xml_writer_t *w, size_t max);

/* Frees the buffer and zeroes w. */
void xgw_xml_writer_fini(xgw_xml_writer_t *w);

/* Forgets the contents, keeps the buffer. */
void xgw_xml_writer_clear(xgw_xml_writer_t *w);

/* Appends raw bytes (already XML). */
void xgw_xml_raw(xgw_xml_writer_t *w, const char *s, size_t len);

/* Appends "<name" (name may carry a prefix: "db:result"). */
void xgw_xml_open(xgw_xml_writer_t *w, const char *name);

/* Appends ' name="escaped value"'; does nothing when value is NULL. */
void xgw_xml_attr_w(xgw_xml_writer_t *w, const char *name, const char *value);

/* Appends ">" (start tag done) or "/>" (empty element). */
void xgw_xml_open_end(xgw_xml_writer_t *w);
void xgw_xml_open_close(xgw_xml_writer_t *w);

/* Appends escaped character data (len bytes of UTF-8). */
void xgw_xml_text_w(xgw_xml_writer_t *w, const char *s, size_t len);

/* Appends "</name>". */
void xgw_xml_close(xgw_xml_writer_t *w, const char *name);

/* Appends <name>escaped text</name>, nothing when text is NULL. */
void xgw_xml_elem_text(xgw_xml_writer_t *w, const char *name, const char *text);

/* Writes a received tree back out (stanza forwarding, logging with
 * bodies switched on). Namespace declarations are written as received;
 * the top element gets xmlns=default_ns when its namespace differs from
 * default_ns' context (pass NULL to write declarations only). */
void xgw_xml_write_node(xgw_xml_writer_t *w, const xgw_xml_node_t *node, const char *default_ns);
/* Details of xgw_xml_write_node:
 *  - default_ns is the default namespace in force where the output goes
 *    ("jabber:server" inside an s2s stream, "" for a standalone document).
 *    An unprefixed top element whose namespace differs from it gets
 *    xmlns="its namespace" (xmlns="" when it has none and default_ns is
 *    not ""). With NULL nothing is added to an unprefixed top element.
 *  - below the top, an unprefixed element whose namespace differs from the
 *    default in force in the output gets xmlns="...";
 *  - prefixed elements and attributes keep their prefix; when no
 *    declaration of it was received on the element or an ancestor inside
 *    the written tree (xmlns:db declared on the stream header), the element
 *    gets xmlns:prefix="..." so the output stands alone;
 *  - attributes in the XML namespace are written xml:name;
 *  - text and children are interleaved as received (text_pos);
 *  - iterative: no recursion whatever the depth. Every node below the top
 *    must have parent set (trees from the readers do); a wrong or NULL
 *    parent sets failed (XGW_EINVAL).
 * Round trip: parsing the output gives the same names, namespaces,
 * prefixes, attributes, text and structure (declarations may differ). */

/* True when s[0..len) is valid UTF-8 made only of XML 1.0 characters
 * (what the writer accepts in text and attribute values). */
bool xgw_xml_chars_valid(const char *s, size_t len);

/* Returns 0 when everything fit, XGW_ETOOBIG or XGW_ENOMEM otherwise. */
int xgw_xml_writer_status(const xgw_xml_writer_t *w);

#endif
