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
};

typedef struct {
    size_t max_stanza; /* bytes of one top-level child (default 256 KiB) */
    size_t max_depth;  /* element depth inside a stanza (default 64) */
    size_t max_attrs;  /* attributes per element (default 64) */
} xgw_xml_limits_t;

/* Fills lim with the defaults above. */
void xgw_xml_limits_default(xgw_xml_limits_t *lim);

/* Why a stream or document was refused. The condition strings are the
 * RFC 6120 section 4.9.3 stream error conditions the caller sends. */
typedef enum {
    XGW_XML_OK = 0,
    XGW_XML_ERR_SYNTAX,      /* not-well-formed */
    XGW_XML_ERR_RESTRICTED,  /* restricted-xml: DOCTYPE, PI, comment, entity */
    XGW_XML_ERR_TOO_BIG,     /* policy-violation: a stanza over max_stanza */
    XGW_XML_ERR_TOO_DEEP,    /* policy-violation: depth or attribute count */
    XGW_XML_ERR_NAMESPACE,   /* invalid-namespace: root is not stream:stream */
    XGW_XML_ERR_ENCODING,    /* unsupported-encoding: not UTF-8 */
    XGW_XML_ERR_NOMEM,       /* internal-server-error */
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

/* Creates a reader. lim may be NULL for defaults. Returns NULL on
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

/* Called from a callback: stop consuming input after the current element. */
void xgw_xml_stream_stop(xgw_xml_stream_t *self);

/* Starts over for a new stream on the same connection (stream restart after
 * TLS or SASL, RFC 6120 4.3.3). Returns 0 or XGW_ENOMEM. */
int xgw_xml_stream_reset(xgw_xml_stream_t *self);

/* Why the last feed failed (XGW_XML_OK if it did not), and a short detail
 * for the log ("line 3: mismatched tag"). */
xgw_xml_err_t xgw_xml_stream_error(const xgw_xml_stream_t *self);
const char *xgw_xml_stream_error_detail(const xgw_xml_stream_t *self);

/* Bytes consumed since creation (for the metrics' bytes_in). */
size_t xgw_xml_stream_bytes(const xgw_xml_stream_t *self);

/* ------------------------------------------------------------------ */
/* Whole documents                                                     */

/* Parses a complete document of len bytes into a tree allocated in arena.
 * Returns the root, or NULL with *err set (never NULL err). */
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
} xgw_xml_writer_t;

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

/* Returns 0 when everything fit, XGW_ETOOBIG or XGW_ENOMEM otherwise. */
int xgw_xml_writer_status(const xgw_xml_writer_t *w);

#endif
