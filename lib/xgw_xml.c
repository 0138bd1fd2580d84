/*
 * xgw_xml.c - XMPP stream reader, whole-document reader and writer on expat;
 * see xgw_xml.h.
 *
 * One reader structure serves both modes. Expat runs with namespace
 * processing and triplets (names arrive as "uri\1local\1prefix"). Trees are
 * built in an arena; the text of the open elements lives in one scratch
 * buffer used as a stack (an element's text is the top segment while it is
 * the innermost open element; a child's segment is copied to the arena and
 * popped when it ends), so text costs one copy and no per-node buffer.
 *
 * Size accounting works on expat's byte indexes: the start of the current
 * stanza (or, between stanzas, the end of the last event) is remembered,
 * and input is handed to expat in slices so that the bytes held since then
 * are checked as they arrive, whatever the caller's read size.
 */
#include "xgw_xml.h"
#include "xgw_error.h"

#include <expat.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_SEP '\x01'                /* expat's namespace separator: never in XML */
#define S_SLICE ((size_t)16 * 1024) /* bytes handed to expat per call */
#define S_TEXT_KEEP ((size_t)64 * 1024)
#define S_NS_CACHE 4

/* Expat 2.6 (and distributions that backported it) defers re-parsing an
 * unfinished token until the buffer doubled: a stanza whose last bytes
 * arrive in a small read would wait for more input, which an XMPP stream
 * cannot afford. The symbol is weak so that older expat still links; its
 * quadratic case is bounded by max_tag instead. */
extern XML_Bool XML_SetReparseDeferralEnabled(XML_Parser parser, XML_Bool enabled)
    __attribute__((weak));

/* Expat 2.4's billion-laughs bounds, declared by expat.h only when the
 * application defines XML_DTD; weak for the same reason. */
extern XML_Bool XML_SetBillionLaughsAttackProtectionMaximumAmplification(XML_Parser parser,
                                                                         float factor)
    __attribute__((weak));
extern XML_Bool XML_SetBillionLaughsAttackProtectionActivationThreshold(XML_Parser parser,
                                                                        unsigned long long bytes)
    __attribute__((weak));

static char s_empty[1];

typedef struct s_node {
    xgw_xml_node_t pub;  /* first: a node pointer is an s_node pointer */
    struct s_node *last; /* last child, for appending */
    size_t text_start;   /* offset of this element's text in the scratch */
} s_node_t;

typedef struct {
    const char *s;
    size_t len;
} s_str_t;

struct xgw_xml_stream {
    XML_Parser p;
    bool doc; /* parse_doc mode: no stream rules, tree in the caller's arena */
    xgw_xml_limits_t lim;
    xgw_xml_stream_cbs_t cbs;
    void *ud;

    xgw_arena_t *arena;     /* tree (stanza arena, or the caller's) */
    xgw_arena_t *hdr_arena; /* stream header, lives until reset */
    xgw_xml_node_t *header;
    xgw_xml_node_t *root; /* doc mode */

    s_node_t *cur; /* innermost open element of the tree, NULL outside */
    size_t level;  /* open elements, the stream root included */

    /* Byte indexes in this parser's input. */
    long long fed;          /* bytes handed to expat */
    long long stanza_start; /* '<' of the open stanza, -1 when none */
    long long last_end;     /* end of the last event expat reported */

    char *txt; /* scratch: text of the open elements, as a stack */
    size_t txt_len;
    size_t txt_cap;

    const char **dpfx; /* namespace declarations waiting for their element */
    const char **duri;
    size_t n_decl;
    size_t cap_decl;

    s_str_t ns_cache[S_NS_CACHE]; /* namespace URIs already in the arena */
    size_t ns_next;

    xgw_xml_err_t err;
    bool stopped;
    bool closed;
    bool in_feed;
    size_t total;
    char detail[160];
};

/* ------------------------------------------------------------------ */
/* UTF-8                                                               */

/* Length of the valid UTF-8 sequence at p (n bytes available), 0 when the
 * bytes are not UTF-8 (overlong, surrogate, out of range, bad
 * continuation), -1 when n ends inside a sequence that could still be
 * valid. */
static int
s_utf8_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    int need;
    unsigned char lo = 0x80, hi = 0xBF; /* bounds of the second byte */
    if (c < 0x80)
        return 1;
    if (c < 0xC2)
        return 0;
    if (c < 0xE0) {
        need = 2;
    } else if (c < 0xF0) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c < 0xF5) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    for (int i = 1; i < need; i++) {
        if ((size_t)i >= n)
            return -1;
        unsigned char b = p[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF))
            return 0;
    }
    return need;
}

/* 1 for bytes that need a look in text, 2 more in attribute values. */
static const unsigned char s_special[256] = {
    [0x00 ... 0x1F] = 1, ['&'] = 1,  ['<'] = 1,           ['>'] = 1,
    ['"'] = 2,           ['\''] = 2, [0x80 ... 0xFF] = 1,
};

/* Checks one non-ASCII sequence for the writer: UTF-8 and an XML 1.0
 * character (U+FFFE and U+FFFF are not). Returns its length or 0. */
static int
s_xml_seq(const unsigned char *p, size_t n)
{
    int k = s_utf8_len(p, n);
    if (k <= 0)
        return 0;
    if (k == 3 && p[0] == 0xEF && p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF))
        return 0;
    return k;
}

bool
xgw_xml_chars_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    if (!s)
        return len == 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c >= 0x20 && c < 0x80) {
            i++;
            continue;
        }
        if (c < 0x20) {
            if (c != '\t' && c != '\n' && c != '\r')
                return false;
            i++;
            continue;
        }
        int k = s_xml_seq(p + i, len - i);
        if (k == 0)
            return false;
        i += (size_t)k;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */

const char *
xgw_xml_err_condition(xgw_xml_err_t err)
{
    switch (err) {
    case XGW_XML_OK:
        return "";
    case XGW_XML_ERR_SYNTAX:
        return "not-well-formed";
    case XGW_XML_ERR_RESTRICTED:
        return "restricted-xml";
    case XGW_XML_ERR_TOO_BIG:
    case XGW_XML_ERR_TOO_DEEP:
        return "policy-violation";
    case XGW_XML_ERR_NAMESPACE:
        return "invalid-namespace";
    case XGW_XML_ERR_ENCODING:
        return "unsupported-encoding";
    case XGW_XML_ERR_NOMEM:
        return "internal-server-error";
    }
    return "undefined-condition";
}

static int
s_rc(xgw_xml_err_t err)
{
    switch (err) {
    case XGW_XML_OK:
        return 0;
    case XGW_XML_ERR_TOO_BIG:
        return XGW_ETOOBIG;
    case XGW_XML_ERR_TOO_DEEP:
        return XGW_ERANGE;
    case XGW_XML_ERR_NOMEM:
        return XGW_ENOMEM;
    default:
        return XGW_EPROTO;
    }
}

/* Records the first refusal and stops expat (from a handler or between
 * slices). */
static bool
s_halted(const xgw_xml_stream_t *self)
{
    return self->err != XGW_XML_OK || self->stopped;
}

static void
s_fail(xgw_xml_stream_t *self, xgw_xml_err_t err, const char *what)
{
    if (self->err != XGW_XML_OK || self->stopped)
        return;
    self->err = err;
    snprintf(self->detail, sizeof self->detail, "line %lu col %lu: %s",
             (unsigned long)XML_GetCurrentLineNumber(self->p),
             (unsigned long)XML_GetCurrentColumnNumber(self->p) + 1, what);
    XML_StopParser(self->p, XML_FALSE);
}

/* Expat's refusal -> our kind. Invalid tokens are looked at: bytes that are
 * not UTF-8 are an encoding problem (RFC 6120 11.6), anything else
 * (a control character, a stray '<') is not well-formed. */
static xgw_xml_err_t
s_classify(xgw_xml_stream_t *self, enum XML_Error code)
{
    switch (code) {
    case XML_ERROR_NO_MEMORY:
        return XGW_XML_ERR_NOMEM;
    case XML_ERROR_UNKNOWN_ENCODING:
    case XML_ERROR_INCORRECT_ENCODING:
    case XML_ERROR_PARTIAL_CHAR:
        return XGW_XML_ERR_ENCODING;
    case XML_ERROR_UNDEFINED_ENTITY:
    case XML_ERROR_RECURSIVE_ENTITY_REF:
    case XML_ERROR_ASYNC_ENTITY:
    case XML_ERROR_BINARY_ENTITY_REF:
    case XML_ERROR_ATTRIBUTE_EXTERNAL_ENTITY_REF:
    case XML_ERROR_EXTERNAL_ENTITY_HANDLING:
    case XML_ERROR_PARAM_ENTITY_REF:
    case XML_ERROR_ENTITY_DECLARED_IN_PE:
    case XML_ERROR_NOT_STANDALONE:
    case XML_ERROR_FEATURE_REQUIRES_XML_DTD:
    case XML_ERROR_CANT_CHANGE_FEATURE_ONCE_PARSING:
#if XML_MAJOR_VERSION > 2 || (XML_MAJOR_VERSION == 2 && XML_MINOR_VERSION >= 4)
    case XML_ERROR_AMPLIFICATION_LIMIT_BREACH:
#endif
        return XGW_XML_ERR_RESTRICTED;
    case XML_ERROR_INVALID_TOKEN: {
        int off = 0, size = 0;
        const char *buf = XML_GetInputContext(self->p, &off, &size);
        if (buf && off >= 0 && off < size) {
            const unsigned char *b = (const unsigned char *)buf + off;
            if (b[0] >= 0x80 && s_utf8_len(b, (size_t)(size - off)) == 0)
                return XGW_XML_ERR_ENCODING;
        }
        return XGW_XML_ERR_SYNTAX;
    }
    default:
        return XGW_XML_ERR_SYNTAX;
    }
}

/* ------------------------------------------------------------------ */
/* Tree building                                                       */

#define S_LIT(x)                                                                                   \
    {                                                                                              \
        x, sizeof(x) - 1                                                                           \
    }

/* Namespace URIs that need no copy. */
static const s_str_t s_known_ns[] = {
    S_LIT(XGW_XML_NS_SERVER),
    S_LIT(XGW_XML_NS_CLIENT),
    S_LIT(XGW_XML_NS_STREAM),
    S_LIT(XGW_XML_NS_XML),
    S_LIT("jabber:server:dialback"),
    S_LIT("urn:ietf:params:xml:ns:xmpp-stanzas"),
    S_LIT("urn:ietf:params:xml:ns:xmpp-streams"),
    S_LIT("urn:ietf:params:xml:ns:xmpp-tls"),
    S_LIT("urn:ietf:params:xml:ns:xmpp-sasl"),
    S_LIT("urn:ietf:params:xml:ns:pidf"),
    S_LIT("jabber:component:accept"),
};

/* Local and attribute names that need no copy. */
static const s_str_t s_known_names[] = {
    S_LIT("message"), S_LIT("presence"), S_LIT("iq"),     S_LIT("body"),     S_LIT("subject"),
    S_LIT("thread"),  S_LIT("show"),     S_LIT("status"), S_LIT("priority"), S_LIT("error"),
    S_LIT("to"),      S_LIT("from"),     S_LIT("id"),     S_LIT("type"),     S_LIT("lang"),
    S_LIT("version"), S_LIT("result"),   S_LIT("verify"), S_LIT("text"),     S_LIT("query"),
    S_LIT("x"),
};

static const char *
s_known(const s_str_t *tab, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (tab[i].len == len && tab[i].s[0] == s[0] && memcmp(tab[i].s, s, len) == 0)
            return tab[i].s;
    return NULL;
}

static const char *
s_copy(xgw_arena_t *a, const char *s, size_t len)
{
    if (len == 0)
        return s_empty;
    char *p = xgw_arena_alloc(a, len + 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

static const char *
s_name(xgw_arena_t *a, const char *s, size_t len)
{
    const char *k =
        len ? s_known(s_known_names, sizeof s_known_names / sizeof *s_known_names, s, len) : NULL;
    return k ? k : s_copy(a, s, len);
}

/* Namespace URIs repeat within a stanza: reuse a copy already made. The
 * cache holds pointers into self->arena only (it is cleared with it). */
static const char *
s_ns(xgw_xml_stream_t *self, xgw_arena_t *a, const char *s, size_t len)
{
    if (len == 0)
        return s_empty;
    const char *k = s_known(s_known_ns, sizeof s_known_ns / sizeof *s_known_ns, s, len);
    if (k)
        return k;
    if (a != self->arena)
        return s_copy(a, s, len);
    for (size_t i = 0; i < S_NS_CACHE; i++)
        if (self->ns_cache[i].len == len && memcmp(self->ns_cache[i].s, s, len) == 0)
            return self->ns_cache[i].s;
    const char *c = s_copy(a, s, len);
    if (c) {
        self->ns_cache[self->ns_next].s = c;
        self->ns_cache[self->ns_next].len = len;
        self->ns_next = (self->ns_next + 1) % S_NS_CACHE;
    }
    return c;
}

static void
s_arena_reset(xgw_xml_stream_t *self)
{
    xgw_arena_reset(self->arena);
    memset(self->ns_cache, 0, sizeof self->ns_cache);
    self->ns_next = 0;
}

/* Splits an expat name "uri\1local[\1prefix]" or "local". */
static void
s_split(const char *name, s_str_t *ns, s_str_t *local, s_str_t *prefix)
{
    const char *a = strchr(name, S_SEP);
    if (!a) {
        ns->s = local->s = prefix->s = "";
        ns->len = prefix->len = 0;
        local->s = name;
        local->len = strlen(name);
        return;
    }
    ns->s = name;
    ns->len = (size_t)(a - name);
    local->s = a + 1;
    const char *b = strchr(local->s, S_SEP);
    if (b) {
        local->len = (size_t)(b - local->s);
        prefix->s = b + 1;
        prefix->len = strlen(prefix->s);
    } else {
        local->len = strlen(local->s);
        prefix->s = "";
        prefix->len = 0;
    }
}

static xgw_arena_t *
s_tree_arena(const xgw_xml_stream_t *self)
{
    return (!self->doc && self->level == 0) ? self->hdr_arena : self->arena;
}

/* End of the event being reported; kept so that the bytes expat holds for
 * an unfinished token are known between slices. */
static long long
s_mark(xgw_xml_stream_t *self)
{
    long long end = (long long)XML_GetCurrentByteIndex(self->p) + XML_GetCurrentByteCount(self->p);
    if (end > self->last_end)
        self->last_end = end;
    return end;
}

/* Builds an element node (attributes, pending declarations) in a. */
static s_node_t *
s_make_node(xgw_xml_stream_t *self, xgw_arena_t *a, const char *name, const char **atts,
            size_t n_atts)
{
    s_node_t *n = xgw_arena_alloc(a, sizeof *n);
    if (!n)
        return NULL;
    s_str_t ns, local, prefix;
    s_split(name, &ns, &local, &prefix);
    n->pub.ns = s_ns(self, a, ns.s, ns.len);
    n->pub.name = s_name(a, local.s, local.len);
    n->pub.prefix = s_copy(a, prefix.s, prefix.len);
    n->pub.text = s_empty;
    if (!n->pub.ns || !n->pub.name || !n->pub.prefix)
        return NULL;
    if (n_atts) {
        xgw_xml_attr_t *at = xgw_arena_alloc(a, n_atts * sizeof *at);
        if (!at)
            return NULL;
        for (size_t i = 0; i < n_atts; i++) {
            s_split(atts[2 * i], &ns, &local, &prefix);
            at[i].ns = s_ns(self, a, ns.s, ns.len);
            at[i].name = s_name(a, local.s, local.len);
            at[i].prefix = prefix.len == 3 && memcmp(prefix.s, "xml", 3) == 0
                               ? "xml"
                               : s_copy(a, prefix.s, prefix.len);
            at[i].value = s_copy(a, atts[2 * i + 1], strlen(atts[2 * i + 1]));
            if (!at[i].ns || !at[i].name || !at[i].prefix || !at[i].value)
                return NULL;
        }
        n->pub.attrs = at;
        n->pub.n_attrs = n_atts;
    }
    if (self->n_decl) {
        const char **pf = xgw_arena_alloc(a, 2 * self->n_decl * sizeof *pf);
        if (!pf)
            return NULL;
        memcpy(pf, self->dpfx, self->n_decl * sizeof *pf);
        memcpy(pf + self->n_decl, self->duri, self->n_decl * sizeof *pf);
        n->pub.decl_prefixes = pf;
        n->pub.decl_uris = pf + self->n_decl;
        n->pub.n_decls = self->n_decl;
        self->n_decl = 0;
    }
    return n;
}

static void XMLCALL
s_on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    xgw_xml_stream_t *self = ud;
    if (s_halted(self))
        return;
    long long start = (long long)XML_GetCurrentByteIndex(self->p);
    long long end = s_mark(self);
    if ((size_t)(end - start) > self->lim.max_tag) {
        s_fail(self, XGW_XML_ERR_TOO_BIG, "tag over max_tag");
        return;
    }
    size_t n_atts = 0;
    while (atts[2 * n_atts])
        n_atts++;
    if (n_atts > self->lim.max_attrs) {
        s_fail(self, XGW_XML_ERR_TOO_DEEP, "too many attributes");
        return;
    }

    if (!self->doc && self->level == 0) {
        /* The stream header. */
        s_str_t ns, local, prefix;
        s_split(name, &ns, &local, &prefix);
        if (ns.len != strlen(XGW_XML_NS_STREAM) || memcmp(ns.s, XGW_XML_NS_STREAM, ns.len) != 0 ||
            local.len != 6 || memcmp(local.s, "stream", 6) != 0) {
            s_fail(self, XGW_XML_ERR_NAMESPACE, "root is not {" XGW_XML_NS_STREAM "}stream");
            return;
        }
        s_node_t *h = s_make_node(self, self->hdr_arena, name, atts, n_atts);
        if (!h) {
            s_fail(self, XGW_XML_ERR_NOMEM, "out of memory");
            return;
        }
        self->header = &h->pub;
        self->level = 1;
        if (self->cbs.on_open)
            self->cbs.on_open(self->ud, self->header);
        return;
    }

    size_t depth = self->doc ? self->level + 1 : self->level; /* of the new element */
    if (depth > self->lim.max_depth) {
        s_fail(self, XGW_XML_ERR_TOO_DEEP, "element depth over max_depth");
        return;
    }
    if (!self->doc && self->level == 1)
        self->stanza_start = start;
    else if (!self->doc && (size_t)(end - self->stanza_start) > self->lim.max_stanza) {
        s_fail(self, XGW_XML_ERR_TOO_BIG, "stanza over max_stanza");
        return;
    }
    s_node_t *n = s_make_node(self, self->arena, name, atts, n_atts);
    if (!n) {
        s_fail(self, XGW_XML_ERR_NOMEM, "out of memory");
        return;
    }
    s_node_t *parent = self->cur;
    if (parent) {
        n->pub.parent = &parent->pub;
        n->pub.text_pos = self->txt_len - parent->text_start;
        if (parent->last)
            parent->last->pub.next = &n->pub;
        else
            parent->pub.children = &n->pub;
        parent->last = n;
    } else if (self->doc) {
        self->root = &n->pub;
    }
    n->text_start = self->txt_len;
    self->cur = n;
    self->level++;
}

static void XMLCALL
s_on_end(void *ud, const XML_Char *name)
{
    (void)name;
    xgw_xml_stream_t *self = ud;
    if (s_halted(self))
        return;
    long long end = s_mark(self);
    if (!self->doc && self->level == 1) {
        self->level = 0;
        self->closed = true;
        if (self->cbs.on_close)
            self->cbs.on_close(self->ud);
        return;
    }
    s_node_t *n = self->cur;
    if (!n)
        return; /* cannot happen: expat matches tags */
    size_t tl = self->txt_len - n->text_start;
    if (tl) {
        char *t = xgw_arena_alloc(self->arena, tl + 1);
        if (!t) {
            s_fail(self, XGW_XML_ERR_NOMEM, "out of memory");
            return;
        }
        memcpy(t, self->txt + n->text_start, tl);
        t[tl] = '\0';
        n->pub.text = t;
        n->pub.text_len = tl;
        self->txt_len = n->text_start;
    }
    self->cur = (s_node_t *)n->pub.parent;
    self->level--;
    if (self->doc || self->level != 1)
        return;

    /* A stanza is complete. */
    if ((size_t)(end - self->stanza_start) > self->lim.max_stanza) {
        s_fail(self, XGW_XML_ERR_TOO_BIG, "stanza over max_stanza");
        return;
    }
    if (self->cbs.on_stanza)
        self->cbs.on_stanza(self->ud, &n->pub);
    s_arena_reset(self);
    self->stanza_start = -1;
    self->txt_len = 0;
    if (self->txt_cap > S_TEXT_KEEP) {
        /* A big stanza went by: do not keep its buffer for the stream's life. */
        free(self->txt);
        self->txt = NULL;
        self->txt_cap = 0;
    }
}

static bool
s_all_space(const char *s, int len)
{
    for (int i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return false;
    return true;
}

static void XMLCALL
s_on_text(void *ud, const XML_Char *s, int len)
{
    xgw_xml_stream_t *self = ud;
    if (s_halted(self) || len <= 0)
        return;
    s_mark(self);
    if (!self->cur) {
        /* Between stanzas: keepalives only (RFC 6120 4.6.1, 11.2). */
        if (!s_all_space(s, len))
            s_fail(self, XGW_XML_ERR_SYNTAX, "character data at stream level");
        return;
    }
    size_t n = (size_t)len;
    if (self->txt_len + n > self->lim.max_stanza) {
        /* Text is never longer than the bytes it came from. */
        s_fail(self, XGW_XML_ERR_TOO_BIG,
               self->doc ? "document over max_stanza" : "stanza over max_stanza");
        return;
    }
    if (self->txt_len + n > self->txt_cap) {
        size_t cap = self->txt_cap ? self->txt_cap : 256;
        while (cap < self->txt_len + n)
            cap *= 2;
        char *t = realloc(self->txt, cap);
        if (!t) {
            s_fail(self, XGW_XML_ERR_NOMEM, "out of memory");
            return;
        }
        self->txt = t;
        self->txt_cap = cap;
    }
    memcpy(self->txt + self->txt_len, s, n);
    self->txt_len += n;
}

static void XMLCALL
s_on_ns(void *ud, const XML_Char *prefix, const XML_Char *uri)
{
    xgw_xml_stream_t *self = ud;
    if (s_halted(self))
        return;
    if (self->n_decl >= self->lim.max_attrs) {
        s_fail(self, XGW_XML_ERR_TOO_DEEP, "too many namespace declarations");
        return;
    }
    if (self->n_decl == self->cap_decl) {
        size_t cap = self->cap_decl ? 2 * self->cap_decl : 8;
        const char **a = realloc(self->dpfx, cap * sizeof *a);
        if (!a) {
            s_fail(self, XGW_XML_ERR_NOMEM, "out of memory");
            return;
        }
        self->dpfx = a;
        const char **b = realloc(self->duri, cap * sizeof *b);
        if (!b) {
            s_fail(self, XGW_XML_ERR_NOMEM, "out of memory");
            return;
        }
        self->duri = b;
        self->cap_decl = cap;
    }
    /* Declarations come just before the start handler of their element,
     * which is built in the same arena. */
    xgw_arena_t *a = s_tree_arena(self);
    const char *p = s_copy(a, prefix ? prefix : "", prefix ? strlen(prefix) : 0);
    const char *u = uri ? s_ns(self, a, uri, strlen(uri)) : s_empty;
    if (!p || !u) {
        s_fail(self, XGW_XML_ERR_NOMEM, "out of memory");
        return;
    }
    self->dpfx[self->n_decl] = p;
    self->duri[self->n_decl] = u;
    self->n_decl++;
}

static void XMLCALL
s_on_xmldecl(void *ud, const XML_Char *version, const XML_Char *encoding, int standalone)
{
    (void)version;
    (void)standalone; /* ignored (checklist ROB-02) */
    xgw_xml_stream_t *self = ud;
    if (s_halted(self))
        return;
    s_mark(self);
    if (encoding && strcasecmp(encoding, "UTF-8") != 0)
        s_fail(self, XGW_XML_ERR_ENCODING, "encoding other than UTF-8 declared");
}

static void XMLCALL
s_on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
             int has_internal)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal;
    s_fail(ud, XGW_XML_ERR_RESTRICTED, "DOCTYPE");
}

static void XMLCALL
s_on_comment(void *ud, const XML_Char *data)
{
    (void)data;
    s_fail(ud, XGW_XML_ERR_RESTRICTED, "comment");
}

static void XMLCALL
s_on_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
    (void)target;
    (void)data;
    s_fail(ud, XGW_XML_ERR_RESTRICTED, "processing instruction");
}

static void XMLCALL
s_on_entity(void *ud, const XML_Char *name, int is_pe, const XML_Char *value, int value_len,
            const XML_Char *base, const XML_Char *sysid, const XML_Char *pubid,
            const XML_Char *notation)
{
    (void)name;
    (void)is_pe;
    (void)value;
    (void)value_len;
    (void)base;
    (void)sysid;
    (void)pubid;
    (void)notation;
    s_fail(ud, XGW_XML_ERR_RESTRICTED, "entity declaration");
}

static void XMLCALL
s_on_skipped(void *ud, const XML_Char *name, int is_pe)
{
    (void)name;
    (void)is_pe;
    s_fail(ud, XGW_XML_ERR_RESTRICTED, "entity reference");
}

static int XMLCALL
s_on_extent(XML_Parser p, const XML_Char *context, const XML_Char *base, const XML_Char *sysid,
            const XML_Char *pubid)
{
    (void)context;
    (void)base;
    (void)sysid;
    (void)pubid;
    /* Never reached without a DOCTYPE; refuse rather than read anything. */
    s_fail(XML_GetUserData(p), XGW_XML_ERR_RESTRICTED, "external entity");
    return XML_STATUS_ERROR;
}

static void XMLCALL
s_on_cdata(void *ud)
{
    xgw_xml_stream_t *self = ud;
    if (!s_halted(self))
        s_mark(self);
}

static void XMLCALL
s_on_default(void *ud, const XML_Char *s, int len)
{
    (void)s;
    (void)len;
    xgw_xml_stream_t *self = ud;
    if (!s_halted(self))
        s_mark(self);
}

static void
s_configure(xgw_xml_stream_t *self)
{
    XML_Parser p = self->p;
    XML_SetUserData(p, self);
    XML_SetReturnNSTriplet(p, XML_TRUE);
    XML_SetElementHandler(p, s_on_start, s_on_end);
    XML_SetCharacterDataHandler(p, s_on_text);
    XML_SetStartNamespaceDeclHandler(p, s_on_ns);
    XML_SetXmlDeclHandler(p, s_on_xmldecl);
    XML_SetStartDoctypeDeclHandler(p, s_on_doctype);
    XML_SetCommentHandler(p, s_on_comment);
    XML_SetProcessingInstructionHandler(p, s_on_pi);
    XML_SetEntityDeclHandler(p, s_on_entity);
    XML_SetSkippedEntityHandler(p, s_on_skipped);
    XML_SetExternalEntityRefHandler(p, s_on_extent);
    XML_SetCdataSectionHandler(p, s_on_cdata, s_on_cdata);
    XML_SetDefaultHandlerExpand(p, s_on_default);
    XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
    /* No entity can be declared (DOCTYPE is refused), so nothing should
     * amplify; a tight bound in case that ever changes. */
    if (XML_SetBillionLaughsAttackProtectionMaximumAmplification)
        XML_SetBillionLaughsAttackProtectionMaximumAmplification(p, 2.0f);
    if (XML_SetBillionLaughsAttackProtectionActivationThreshold)
        XML_SetBillionLaughsAttackProtectionActivationThreshold(p, 64 * 1024);
    if (XML_SetReparseDeferralEnabled)
        XML_SetReparseDeferralEnabled(p, XML_FALSE);
}

static void
s_state_clear(xgw_xml_stream_t *self)
{
    self->header = NULL;
    self->root = NULL;
    self->cur = NULL;
    self->level = 0;
    self->fed = 0;
    self->stanza_start = -1;
    self->last_end = 0;
    self->txt_len = 0;
    self->n_decl = 0;
    self->err = XGW_XML_OK;
    self->detail[0] = '\0';
    self->stopped = false;
    self->closed = false;
}

void
xgw_xml_limits_default(xgw_xml_limits_t *lim)
{
    if (!lim)
        return;
    lim->max_stanza = 256 * 1024;
    lim->max_depth = 64;
    lim->max_attrs = 64;
    lim->max_tag = 16 * 1024;
}

static void
s_limits(xgw_xml_limits_t *out, const xgw_xml_limits_t *in)
{
    xgw_xml_limits_default(out);
    if (!in)
        return;
    if (in->max_stanza)
        out->max_stanza = in->max_stanza;
    if (in->max_depth)
        out->max_depth = in->max_depth;
    if (in->max_attrs)
        out->max_attrs = in->max_attrs;
    if (in->max_tag)
        out->max_tag = in->max_tag;
}

/* Hands len bytes to expat in slices, checking the bytes held for the open
 * stanza (or the unfinished token) after each. Returns 0, 1 (stopped) or a
 * negative code (self->err set). */
/* Expat honours a UTF-16 byte order mark, or UTF-16 guessed from a NUL in
 * the first two bytes, even when told UTF-8; RFC 6120 11.6 allows only
 * UTF-8, so those are refused before expat sees them. */
static bool
s_utf16_start(xgw_xml_stream_t *self, const char *data, size_t len)
{
    for (size_t i = 0; i < len && self->fed + (long long)i < 2; i++) {
        unsigned char c = (unsigned char)data[i];
        if (self->fed + (long long)i == 0 && (c == 0xFE || c == 0xFF))
            return true;
        if (c == 0)
            return true;
    }
    return false;
}

static int
s_parse(xgw_xml_stream_t *self, const char *data, size_t len, bool final)
{
    size_t off = 0;
    if (self->fed < 2 && s_utf16_start(self, data, len)) {
        self->err = XGW_XML_ERR_ENCODING;
        snprintf(self->detail, sizeof self->detail, "line 1 col 1: not UTF-8 (UTF-16?)");
        return s_rc(self->err);
    }
    do {
        size_t n = len - off > S_SLICE ? S_SLICE : len - off;
        bool last = final && off + n == len;
        enum XML_Status st = XML_Parse(self->p, data + off, (int)n, last ? XML_TRUE : XML_FALSE);
        self->fed += (long long)n;
        off += n;
        if (st == XML_STATUS_ERROR) {
            if (self->err != XGW_XML_OK)
                return s_rc(self->err);
            if (self->stopped)
                return 1;
            enum XML_Error code = XML_GetErrorCode(self->p);
            self->err = s_classify(self, code);
            snprintf(self->detail, sizeof self->detail, "line %lu col %lu: %s",
                     (unsigned long)XML_GetCurrentLineNumber(self->p),
                     (unsigned long)XML_GetCurrentColumnNumber(self->p) + 1, XML_ErrorString(code));
            return s_rc(self->err);
        }
        if (self->stopped)
            return 1;
        /* What expat holds now: an unfinished token since last_end, inside
         * a stanza everything since its '<'. */
        if ((size_t)(self->fed - self->last_end) > self->lim.max_tag) {
            s_fail(self, XGW_XML_ERR_TOO_BIG, "tag over max_tag");
            return s_rc(self->err);
        }
        if (self->stanza_start >= 0 &&
            (size_t)(self->fed - self->stanza_start) > self->lim.max_stanza) {
            s_fail(self, XGW_XML_ERR_TOO_BIG, "stanza over max_stanza");
            return s_rc(self->err);
        }
    } while (off < len);
    return 0;
}

static int
s_init(xgw_xml_stream_t *self, const xgw_xml_limits_t *lim)
{
    s_limits(&self->lim, lim);
    self->p = XML_ParserCreateNS("UTF-8", S_SEP);
    if (!self->p)
        return XGW_ENOMEM;
    s_configure(self);
    s_state_clear(self);
    return 0;
}

static void
s_fini(xgw_xml_stream_t *self)
{
    if (self->p)
        XML_ParserFree(self->p);
    free(self->txt);
    free(self->dpfx);
    free(self->duri);
}

/* ------------------------------------------------------------------ */
/* Stream reader                                                       */

xgw_xml_stream_t *
xgw_xml_stream_new(const xgw_xml_limits_t *lim, const xgw_xml_stream_cbs_t *cbs, void *ud)
{
    xgw_xml_stream_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    if (cbs)
        self->cbs = *cbs;
    self->ud = ud;
    self->arena = xgw_arena_new(8192);
    self->hdr_arena = xgw_arena_new(1024);
    if (!self->arena || !self->hdr_arena || s_init(self, lim) != 0) {
        xgw_xml_stream_destroy(&self);
        return NULL;
    }
    return self;
}

void
xgw_xml_stream_destroy(xgw_xml_stream_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    xgw_xml_stream_t *self = *self_p;
    s_fini(self);
    xgw_arena_destroy(&self->arena);
    xgw_arena_destroy(&self->hdr_arena);
    free(self);
    *self_p = NULL;
}

int
xgw_xml_stream_feed(xgw_xml_stream_t *self, const char *data, size_t len)
{
    if (!self || (!data && len) || self->in_feed)
        return XGW_EINVAL;
    if (self->err != XGW_XML_OK)
        return s_rc(self->err);
    if (self->stopped)
        return XGW_EINVAL;
    self->total += len;
    if (len == 0)
        return 0;
    self->in_feed = true;
    int rc = s_parse(self, data, len, false);
    self->in_feed = false;
    if (rc < 0 && self->stanza_start >= 0) {
        /* Drop the half-built stanza now rather than at the next reset. */
        s_arena_reset(self);
        self->cur = NULL;
    }
    return rc;
}

void
xgw_xml_stream_stop(xgw_xml_stream_t *self)
{
    if (!self || self->stopped)
        return;
    self->stopped = true;
    if (self->in_feed)
        XML_StopParser(self->p, XML_FALSE);
}

const xgw_xml_node_t *
xgw_xml_stream_header(const xgw_xml_stream_t *self)
{
    return self ? self->header : NULL;
}

int
xgw_xml_stream_reset(xgw_xml_stream_t *self)
{
    if (!self || self->in_feed)
        return XGW_EINVAL;
    s_arena_reset(self);
    xgw_arena_reset(self->hdr_arena);
    s_state_clear(self);
    if (!self->p || !XML_ParserReset(self->p, "UTF-8")) {
        if (self->p)
            XML_ParserFree(self->p);
        self->p = XML_ParserCreateNS("UTF-8", S_SEP);
        if (!self->p) {
            self->err = XGW_XML_ERR_NOMEM;
            snprintf(self->detail, sizeof self->detail, "out of memory");
            return XGW_ENOMEM;
        }
    }
    s_configure(self);
    return 0;
}

xgw_xml_err_t
xgw_xml_stream_error(const xgw_xml_stream_t *self)
{
    return self ? self->err : XGW_XML_OK;
}

const char *
xgw_xml_stream_error_detail(const xgw_xml_stream_t *self)
{
    return self ? self->detail : "";
}

size_t
xgw_xml_stream_bytes(const xgw_xml_stream_t *self)
{
    return self ? self->total : 0;
}

/* ------------------------------------------------------------------ */
/* Whole documents                                                     */

xgw_xml_node_t *
xgw_xml_parse_doc(const char *data, size_t len, const xgw_xml_limits_t *lim, xgw_arena_t *arena,
                  xgw_xml_err_t *err)
{
    xgw_xml_err_t dummy;
    if (!err)
        err = &dummy;
    if (!arena || (!data && len)) {
        *err = XGW_XML_ERR_SYNTAX;
        return NULL;
    }
    xgw_xml_stream_t self;
    memset(&self, 0, sizeof self);
    self.doc = true;
    self.arena = arena;
    if (s_init(&self, lim) != 0) {
        *err = XGW_XML_ERR_NOMEM;
        return NULL;
    }
    if (len > self.lim.max_stanza) {
        s_fini(&self);
        *err = XGW_XML_ERR_TOO_BIG;
        return NULL;
    }
    int rc = s_parse(&self, data ? data : "", len, true);
    xgw_xml_node_t *root = rc == 0 ? self.root : NULL;
    *err = self.err;
    if (!root && *err == XGW_XML_OK)
        *err = XGW_XML_ERR_SYNTAX; /* no element at all */
    s_fini(&self);
    return root;
}

/* ------------------------------------------------------------------ */
/* Tree access                                                         */

static bool
s_streq(const char *a, const char *b)
{
    return a == b || strcmp(a, b) == 0;
}

static bool
s_match(const xgw_xml_node_t *n, const char *ns, const char *name)
{
    return (!ns || s_streq(n->ns, ns)) && (!name || s_streq(n->name, name));
}

const xgw_xml_node_t *
xgw_xml_child(const xgw_xml_node_t *node, const char *ns, const char *name)
{
    if (!node)
        return NULL;
    for (const xgw_xml_node_t *c = node->children; c; c = c->next)
        if (s_match(c, ns, name))
            return c;
    return NULL;
}

const xgw_xml_node_t *
xgw_xml_next(const xgw_xml_node_t *child)
{
    if (!child)
        return NULL;
    for (const xgw_xml_node_t *c = child->next; c; c = c->next)
        if (s_match(c, child->ns, child->name))
            return c;
    return NULL;
}

const char *
xgw_xml_attr_ns(const xgw_xml_node_t *node, const char *ns, const char *name)
{
    if (!node || !name)
        return NULL;
    if (!ns)
        ns = "";
    for (size_t i = 0; i < node->n_attrs; i++)
        if (s_streq(node->attrs[i].name, name) && s_streq(node->attrs[i].ns, ns))
            return node->attrs[i].value;
    return NULL;
}

const char *
xgw_xml_attr(const xgw_xml_node_t *node, const char *name)
{
    return xgw_xml_attr_ns(node, "", name);
}

const char *
xgw_xml_child_text(const xgw_xml_node_t *node, const char *ns, const char *name)
{
    const xgw_xml_node_t *c = xgw_xml_child(node, ns, name);
    if (!c)
        return NULL;
    return c->text ? c->text : "";
}

/* ------------------------------------------------------------------ */
/* Writer                                                              */

void
xgw_xml_writer_init(xgw_xml_writer_t *w, size_t max)
{
    memset(w, 0, sizeof *w);
    w->max = max;
}

void
xgw_xml_writer_fini(xgw_xml_writer_t *w)
{
    if (!w)
        return;
    free(w->buf);
    memset(w, 0, sizeof *w);
}

void
xgw_xml_writer_clear(xgw_xml_writer_t *w)
{
    w->len = 0;
    w->failed = false;
    w->err = 0;
    if (w->buf)
        w->buf[0] = '\0';
}

int
xgw_xml_writer_status(const xgw_xml_writer_t *w)
{
    if (!w->failed)
        return 0;
    return w->err ? w->err : XGW_ETOOBIG;
}

static void
s_wfail(xgw_xml_writer_t *w, int err)
{
    w->failed = true;
    w->err = err;
}

/* Makes room for n more bytes plus the NUL. */
static bool
s_room(xgw_xml_writer_t *w, size_t n)
{
    if (w->failed)
        return false;
    if (n > w->max - w->len || w->len > w->max) {
        s_wfail(w, XGW_ETOOBIG);
        return false;
    }
    size_t need = w->len + n + 1;
    if (need > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < need)
            cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        if (cap > w->max + 1 && need <= w->max + 1)
            cap = w->max + 1;
        char *b = realloc(w->buf, cap);
        if (!b) {
            s_wfail(w, XGW_ENOMEM);
            return false;
        }
        w->buf = b;
        w->cap = cap;
    }
    return true;
}

static void
s_put(xgw_xml_writer_t *w, const char *s, size_t n)
{
    if (!s_room(w, n))
        return;
    if (n)
        memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

static void
s_puts(xgw_xml_writer_t *w, const char *s)
{
    s_put(w, s, strlen(s));
}

/* Escaped text (attr false) or attribute value (attr true). */
static void
s_escape(xgw_xml_writer_t *w, const char *s, size_t len, bool attr)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned char mask = attr ? 3 : 1;
    size_t run = 0, i = 0;
    if (w->failed)
        return;
    while (i < len) {
        unsigned char c = p[i];
        if (!(s_special[c] & mask)) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            int k = s_xml_seq(p + i, len - i);
            if (k == 0) {
                s_wfail(w, XGW_EINVAL);
                return;
            }
            i += (size_t)k;
            continue;
        }
        const char *esc;
        switch (c) {
        case '&':
            esc = "&amp;";
            break;
        case '<':
            esc = "&lt;";
            break;
        case '>':
            esc = "&gt;";
            break;
        case '"':
            esc = "&quot;";
            break;
        case '\'':
            esc = "&apos;";
            break;
        case '\r':
            esc = "&#xD;";
            break;
        case '\n':
            esc = attr ? "&#xA;" : NULL;
            break;
        case '\t':
            esc = attr ? "&#x9;" : NULL;
            break;
        default:
            s_wfail(w, XGW_EINVAL); /* a control character XML 1.0 cannot carry */
            return;
        }
        if (!esc) {
            i++;
            continue;
        }
        s_put(w, s + run, i - run);
        s_puts(w, esc);
        i++;
        run = i;
    }
    s_put(w, s + run, len - run);
}

void
xgw_xml_raw(xgw_xml_writer_t *w, const char *s, size_t len)
{
    if (s)
        s_put(w, s, len);
}

void
xgw_xml_open(xgw_xml_writer_t *w, const char *name)
{
    s_put(w, "<", 1);
    s_puts(w, name);
}

void
xgw_xml_attr_w(xgw_xml_writer_t *w, const char *name, const char *value)
{
    if (!value)
        return;
    s_put(w, " ", 1);
    s_puts(w, name);
    s_put(w, "=\"", 2);
    s_escape(w, value, strlen(value), true);
    s_put(w, "\"", 1);
}

void
xgw_xml_open_end(xgw_xml_writer_t *w)
{
    s_put(w, ">", 1);
}

void
xgw_xml_open_close(xgw_xml_writer_t *w)
{
    s_put(w, "/>", 2);
}

void
xgw_xml_text_w(xgw_xml_writer_t *w, const char *s, size_t len)
{
    if (s)
        s_escape(w, s, len, false);
}

void
xgw_xml_close(xgw_xml_writer_t *w, const char *name)
{
    s_put(w, "</", 2);
    s_puts(w, name);
    s_put(w, ">", 1);
}

void
xgw_xml_elem_text(xgw_xml_writer_t *w, const char *name, const char *text)
{
    if (!text)
        return;
    xgw_xml_open(w, name);
    xgw_xml_open_end(w);
    xgw_xml_text_w(w, text, strlen(text));
    xgw_xml_close(w, name);
}

/* --- xgw_xml_write_node --- */

static const char *
s_nz(const char *s)
{
    return s ? s : "";
}

/* The default namespace in force in the output inside n's start tag
 * (after its declarations); NULL when unknown. */
static const char *
s_default_in(const xgw_xml_node_t *n, const xgw_xml_node_t *top, const char *ctx)
{
    for (;;) {
        if (s_nz(n->prefix)[0] == '\0')
            return s_nz(n->ns); /* the writer makes it so */
        for (size_t i = 0; i < n->n_decls; i++)
            if (s_nz(n->decl_prefixes[i])[0] == '\0')
                return s_nz(n->decl_uris[i]);
        if (n == top || !n->parent)
            return ctx;
        n = n->parent;
    }
}

/* True when prefix is bound to uri by a declaration written on n or an
 * ancestor up to top. */
static bool
s_bound(const xgw_xml_node_t *n, const xgw_xml_node_t *top, const char *prefix, const char *uri)
{
    for (;;) {
        for (size_t i = 0; i < n->n_decls; i++)
            if (s_streq(s_nz(n->decl_prefixes[i]), prefix))
                return s_streq(s_nz(n->decl_uris[i]), uri);
        if (n == top || !n->parent)
            return false;
        n = n->parent;
    }
}

static void
s_write_qname(xgw_xml_writer_t *w, const char *prefix, const char *name)
{
    if (prefix && prefix[0]) {
        s_puts(w, prefix);
        s_put(w, ":", 1);
    }
    s_puts(w, s_nz(name));
}

static void
s_write_decl(xgw_xml_writer_t *w, const char *prefix, const char *uri)
{
    s_put(w, " xmlns", 6);
    if (prefix && prefix[0]) {
        s_put(w, ":", 1);
        s_puts(w, prefix);
    }
    s_put(w, "=\"", 2);
    s_escape(w, s_nz(uri), strlen(s_nz(uri)), true);
    s_put(w, "\"", 1);
}

/* The prefix an attribute is written with (a made-up one "nsI" when the
 * tree has none for a namespaced attribute). */
static const char *
s_attr_prefix(const xgw_xml_attr_t *a, size_t i, char *buf, size_t cap)
{
    if (s_streq(s_nz(a->ns), XGW_XML_NS_XML))
        return "xml";
    if (s_nz(a->ns)[0] == '\0')
        return "";
    if (a->prefix && a->prefix[0])
        return a->prefix;
    snprintf(buf, cap, "ns%zu", i);
    return buf;
}

static bool
s_declared_here(const xgw_xml_node_t *n, const char *prefix)
{
    for (size_t i = 0; i < n->n_decls; i++)
        if (s_streq(s_nz(n->decl_prefixes[i]), prefix))
            return true;
    return false;
}

/* True when a declaration for (prefix, uri) must be added on n for its
 * attribute i: not bound by received declarations, and not added already
 * on this element (for the element's name or an earlier attribute). */
static bool
s_attr_needs_decl(const xgw_xml_node_t *n, const xgw_xml_node_t *top, const char *prefix,
                  const char *uri, size_t attr_i)
{
    if (s_bound(n, top, prefix, uri) || s_declared_here(n, prefix))
        return false;
    if (s_streq(s_nz(n->prefix), prefix))
        return false;
    for (size_t j = 0; j < attr_i; j++) {
        char b[24];
        if (s_streq(s_attr_prefix(&n->attrs[j], j, b, sizeof b), prefix))
            return false;
    }
    return true;
}

static void
s_write_start(xgw_xml_writer_t *w, const xgw_xml_node_t *n, const xgw_xml_node_t *top,
              const char *ctx, bool empty)
{
    const char *prefix = s_nz(n->prefix);
    const char *ns = s_nz(n->ns);
    s_put(w, "<", 1);
    s_write_qname(w, prefix, n->name);
    const char *own_default = NULL;
    for (size_t i = 0; i < n->n_decls; i++) {
        s_write_decl(w, n->decl_prefixes[i], n->decl_uris[i]);
        if (s_nz(n->decl_prefixes[i])[0] == '\0')
            own_default = s_nz(n->decl_uris[i]);
    }
    if (prefix[0] == '\0') {
        if (!own_default) {
            const char *in_force = (n == top) ? ctx : s_default_in(n->parent, top, ctx);
            bool need =
                (n == top) ? (ctx && !s_streq(ctx, ns)) : (!in_force || !s_streq(in_force, ns));
            if (need)
                s_write_decl(w, "", ns);
        }
    } else if (!s_bound(n, top, prefix, ns) && !s_declared_here(n, prefix)) {
        s_write_decl(w, prefix, ns);
    }
    /* Declarations before attributes, so that writing the re-parsed tree
     * gives the same bytes. */
    for (size_t i = 0; i < n->n_attrs; i++) {
        const xgw_xml_attr_t *a = &n->attrs[i];
        char b[24];
        const char *ap = s_attr_prefix(a, i, b, sizeof b);
        if (ap[0] && !s_streq(ap, "xml") && s_attr_needs_decl(n, top, ap, a->ns, i))
            s_write_decl(w, ap, a->ns);
    }
    for (size_t i = 0; i < n->n_attrs; i++) {
        const xgw_xml_attr_t *a = &n->attrs[i];
        char b[24];
        const char *ap = s_attr_prefix(a, i, b, sizeof b);
        s_put(w, " ", 1);
        s_write_qname(w, ap, a->name);
        s_put(w, "=\"", 2);
        const char *v = s_nz(a->value);
        s_escape(w, v, strlen(v), true);
        s_put(w, "\"", 1);
    }
    if (empty)
        s_put(w, "/>", 2);
    else
        s_put(w, ">", 1);
}

static void
s_write_end(xgw_xml_writer_t *w, const xgw_xml_node_t *n)
{
    s_put(w, "</", 2);
    s_write_qname(w, s_nz(n->prefix), n->name);
    s_put(w, ">", 1);
}

/* The part [from, to) of n's text (clamped: hand-made trees may be off). */
static void
s_write_text(xgw_xml_writer_t *w, const xgw_xml_node_t *n, size_t from, size_t to)
{
    if (!n->text)
        return;
    if (to > n->text_len)
        to = n->text_len;
    if (from >= to)
        return;
    s_escape(w, n->text + from, to - from, false);
}

void
xgw_xml_write_node(xgw_xml_writer_t *w, const xgw_xml_node_t *node, const char *default_ns)
{
    if (!w)
        return;
    if (!node) {
        s_wfail(w, XGW_EINVAL);
        return;
    }
    const xgw_xml_node_t *top = node;
    const xgw_xml_node_t *n = top;
    while (!w->failed) {
        bool empty = n->text_len == 0 && !n->children;
        s_write_start(w, n, top, default_ns, empty);
        if (!empty) {
            if (n->children) {
                if (n->children->parent != n) {
                    s_wfail(w, XGW_EINVAL); /* the climb back would go astray */
                    return;
                }
                s_write_text(w, n, 0, n->children->text_pos);
                n = n->children;
                continue;
            }
            s_write_text(w, n, 0, n->text_len);
            s_write_end(w, n);
        }
        /* Climb until a next sibling or the top. */
        for (;;) {
            if (n == top || w->failed)
                return;
            const xgw_xml_node_t *p = n->parent;
            if (n->next) {
                if (n->next->parent != p) {
                    s_wfail(w, XGW_EINVAL);
                    return;
                }
                size_t to = n->next->text_pos < n->text_pos ? n->text_pos : n->next->text_pos;
                s_write_text(w, p, n->text_pos, to);
                n = n->next;
                break;
            }
            s_write_text(w, p, n->text_pos, p->text_len);
            s_write_end(w, p);
            n = p;
        }
    }
}
