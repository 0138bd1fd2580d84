/*
 * xgw_pidf.c - PIDF build and parse with the RFC 7248 mapping; see
 * xgw_pidf.h for the rules.
 *
 * Parsing goes through xgw_xml_parse_doc (expat, no DTD, no entities,
 * bounded size and depth), so this file only walks a finished tree; every
 * string it returns lives in the caller's arena.
 */
#include "xgw_pidf.h"
#include "xgw_addr.h"
#include "xgw_error.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define S_PERSON_ID "person" /* never "ID-...", so never a tuple's id */
#define S_ID_MAX (3 + 3 * XGW_JID_PART_MAX + 1)

/* ---- small text helpers ------------------------------------------------ */

static bool
s_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trims XML white space; returns the start and sets *n. */
static const char *
s_trim(const char *s, size_t *n)
{
    if (!s) {
        *n = 0;
        return "";
    }
    size_t len = strlen(s);
    while (len > 0 && s_ws(*s)) {
        s++;
        len--;
    }
    while (len > 0 && s_ws(s[len - 1]))
        len--;
    *n = len;
    return s;
}

static bool
s_eq(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* Length of s[0..n) cut to at most max octets at a character boundary. */
static size_t
s_cut(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    size_t len = max;
    while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
        len--;
    return len;
}

/* Copies s[0..n) into the arena, NUL-terminated. */
static char *
s_dup(xgw_arena_t *arena, const char *s, size_t n)
{
    char *d = xgw_arena_alloc(arena, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* A resourcepart: 1..1023 octets of UTF-8 without control characters. */
static bool
s_resource_ok(const char *s, size_t n)
{
    if (n == 0 || n > XGW_JID_PART_MAX || !xgw_xml_chars_valid(s, n))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return false;
        if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] <= 0x9f)
            return false; /* C1 controls U+0080..U+009F */
    }
    return true;
}

static bool
s_ncname(const char *s)
{
    if (!s || !*s)
        return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        bool other = (c >= '0' && c <= '9') || c == '.' || c == '-';
        if (!letter && !(i > 0 && other))
            return false;
    }
    return true;
}

/* A language tag as xml:lang carries it (RFC 5646 characters, bounded). */
static bool
s_lang_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 35 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return false;
    }
    return true;
}

/* ---- show ---------------------------------------------------------------- */

static const char *const s_show_names[] = {NULL, "chat", "away", "xa", "dnd"};

const char *
xgw_pidf_show_name(xgw_pidf_show_t show)
{
    if ((unsigned)show >= sizeof s_show_names / sizeof s_show_names[0])
        return NULL;
    return s_show_names[show];
}

static xgw_pidf_show_t
s_show_exact(const char *s, size_t n)
{
    for (size_t i = 1; i < sizeof s_show_names / sizeof s_show_names[0]; i++) {
        if (s_eq(s, n, s_show_names[i]))
            return (xgw_pidf_show_t)i;
    }
    return XGW_PIDF_SHOW_NONE;
}

xgw_pidf_show_t
xgw_pidf_show_from_name(const char *name)
{
    return name ? s_show_exact(name, strlen(name)) : XGW_PIDF_SHOW_NONE;
}

/* Checklist 8.4, SIP to XMPP: RPID activity words. */
static const struct {
    const char *word;
    xgw_pidf_show_t show;
} s_activities[] = {
    {"busy", XGW_PIDF_SHOW_DND},
    {"meeting", XGW_PIDF_SHOW_DND},
    {"on-the-phone", XGW_PIDF_SHOW_DND},
    {"presentation", XGW_PIDF_SHOW_DND},
    {"performance", XGW_PIDF_SHOW_DND},
    {"appointment", XGW_PIDF_SHOW_DND},
    {"away", XGW_PIDF_SHOW_AWAY},
    {"meal", XGW_PIDF_SHOW_AWAY},
    {"breakfast", XGW_PIDF_SHOW_AWAY},
    {"lunch", XGW_PIDF_SHOW_AWAY},
    {"dinner", XGW_PIDF_SHOW_AWAY},
    {"shopping", XGW_PIDF_SHOW_AWAY},
    {"in-transit", XGW_PIDF_SHOW_AWAY},
    {"vacation", XGW_PIDF_SHOW_XA},
    {"holiday", XGW_PIDF_SHOW_XA},
    {"sleeping", XGW_PIDF_SHOW_XA},
    {"permanent-absence", XGW_PIDF_SHOW_XA},
};

static xgw_pidf_show_t
s_activity(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof s_activities / sizeof s_activities[0]; i++) {
        if (s_eq(s, n, s_activities[i].word))
            return s_activities[i].show;
    }
    return XGW_PIDF_SHOW_NONE;
}

/* RPID <activities> (RFC 4480: one empty element per activity) or the
 * draft's <activities><activity>word</activity>, directly under node. */
static xgw_pidf_show_t
s_show_activities(const xgw_xml_node_t *node)
{
    const xgw_xml_node_t *acts = xgw_xml_child(node, XGW_PIDF_NS_RPID, "activities");
    for (; acts; acts = xgw_xml_next(acts)) {
        for (const xgw_xml_node_t *a = acts->children; a; a = a->next) {
            if (strcmp(a->ns, XGW_PIDF_NS_RPID) != 0)
                continue;
            xgw_pidf_show_t sh = s_activity(a->name, strlen(a->name));
            if (sh != XGW_PIDF_SHOW_NONE)
                return sh;
        }
    }
    acts = xgw_xml_child(node, XGW_PIDF_NS_RPID_DRAFT, "activities");
    for (; acts; acts = xgw_xml_next(acts)) {
        const xgw_xml_node_t *a = xgw_xml_child(acts, XGW_PIDF_NS_RPID_DRAFT, "activity");
        for (; a; a = xgw_xml_next(a)) {
            size_t n;
            const char *t = s_trim(a->text, &n);
            xgw_pidf_show_t sh = s_activity(t, n);
            if (sh != XGW_PIDF_SHOW_NONE)
                return sh;
        }
    }
    return XGW_PIDF_SHOW_NONE;
}

/* ---- priority ------------------------------------------------------------ */

int
xgw_pidf_priority_format(int priority, char *out, size_t outlen)
{
    if (!out || outlen < XGW_PIDF_PRIORITY_LEN || priority < 0 || priority > 127) {
        if (out && outlen > 0)
            out[0] = '\0';
        return XGW_ERANGE;
    }
    int v = priority * 1000 / 127; /* floor: one-to-one on 0..127 */
    if (v == 0 || v == 1000) {
        snprintf(out, outlen, "%d", v / 1000);
        return 0;
    }
    snprintf(out, outlen, "0.%03d", v);
    size_t n = strlen(out);
    while (out[n - 1] == '0')
        out[--n] = '\0';
    return 0;
}

int
xgw_pidf_priority_parse(const char *q, int *priority)
{
    size_t n;
    const char *s = s_trim(q, &n);
    if (n == 0 || (s[0] != '0' && s[0] != '1') || !priority)
        return XGW_EINVAL;
    int v = (s[0] - '0') * 1000;
    if (n > 1) {
        if (s[1] != '.' || n > 5)
            return XGW_EINVAL;
        int scale = 100;
        for (size_t i = 2; i < n; i++) {
            if (s[i] < '0' || s[i] > '9' || (s[0] == '1' && s[i] != '0'))
                return XGW_EINVAL;
            v += (s[i] - '0') * scale;
            scale /= 10;
        }
    }
    *priority = (127 * v + 999) / 1000; /* the smallest p reaching q */
    return 0;
}

/* ---- tuple ids ----------------------------------------------------------- */

int
xgw_pidf_tuple_id(const char *resource, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!out || outlen == 0)
        return XGW_ERANGE;
    out[0] = '\0';
    if (resource && !*resource)
        return XGW_EINVAL;
    size_t o = 0;
    if (outlen < 4)
        return XGW_ERANGE;
    memcpy(out, "ID-", 3);
    o = 3;
    for (const char *p = resource ? resource : ""; *p; p++) {
        unsigned char c = (unsigned char)*p;
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.';
        size_t need = keep ? 1 : 3;
        if (o + need >= outlen) {
            out[0] = '\0';
            return XGW_ERANGE;
        }
        if (keep) {
            out[o++] = (char)c;
        } else {
            out[o++] = '_';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 0xf];
        }
    }
    out[o] = '\0';
    return 0;
}

static int
s_hexdigit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes an id made by xgw_pidf_tuple_id ("ID-" already skipped) into
 * out (cap bytes). Returns the length, or -1 when it is not of that form. */
static long
s_id_decode(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; s[i]; o++) {
        if (o + 1 >= cap)
            return -1;
        if (s[i] == '_') {
            if (!s[i + 1] || !s[i + 2] || s_hexdigit(s[i + 1]) < 0 || s_hexdigit(s[i + 2]) < 0)
                return -1;
            out[o] = (char)(s_hexdigit(s[i + 1]) * 16 + s_hexdigit(s[i + 2]));
            i += 3;
        } else {
            out[o] = s[i++];
        }
    }
    out[o] = '\0';
    return (long)o;
}

/* The resource of a parsed tuple (see the header). *res is NULL when none
 * fits. Returns 0 or XGW_ENOMEM. */
static int
s_tuple_resource(xgw_arena_t *arena, const char *contact, const char *id, const char **res)
{
    *res = NULL;
    if (contact) {
        char jid[XGW_JID_MAX + 1];
        if (xgw_addr_sip_to_jid(contact, 0, jid, sizeof jid, NULL) == 0) {
            const char *slash = strchr(jid, '/');
            if (slash) {
                *res = xgw_arena_strdup(arena, slash + 1);
                return *res ? 0 : XGW_ENOMEM;
            }
        }
    }
    if (strncmp(id, "ID-", 3) == 0) {
        if (id[3] == '\0')
            return 0; /* the bare JID's tuple */
        char buf[XGW_JID_PART_MAX + 1];
        long n = s_id_decode(id + 3, buf, sizeof buf);
        if (n > 0 && s_resource_ok(buf, (size_t)n)) {
            *res = s_dup(arena, buf, (size_t)n);
            return *res ? 0 : XGW_ENOMEM;
        }
    }
    if (s_resource_ok(id, strlen(id)))
        *res = id; /* lives in the tree, in the arena */
    return 0;
}

/* ---- parse ------------------------------------------------------------- */

/* xml:lang in force at node (it is inherited, XML 1.0 2.12). */
static const char *
s_lang(const xgw_xml_node_t *node)
{
    for (; node; node = node->parent) {
        const char *l = xgw_xml_attr_ns(node, XGW_XML_NS_XML, "lang");
        if (l)
            return *l ? l : NULL; /* xml:lang="" switches it off */
    }
    return NULL;
}

/* The note of an element (trimmed, cut), with its language. */
static int
s_note(xgw_arena_t *arena, const xgw_xml_node_t *note, const char **text, const char **lang)
{
    *text = NULL;
    *lang = NULL;
    if (!note)
        return 0;
    size_t n;
    const char *t = s_trim(note->text, &n);
    if (n == 0)
        return 0;
    *text = s_dup(arena, t, s_cut(t, n, XGW_PIDF_NOTE_MAX));
    if (!*text)
        return XGW_ENOMEM;
    *lang = s_lang(note);
    return 0;
}

static int
s_rank_show(xgw_pidf_show_t s)
{
    static const int rank[] = {3, 4, 2, 1, 0}; /* none, chat, away, xa, dnd */
    return (unsigned)s < sizeof rank / sizeof rank[0] ? rank[s] : 0;
}

/* True when a is more available than b. */
static bool
s_better(const xgw_pidf_tuple_t *a, const xgw_pidf_tuple_t *b)
{
    static const int basic_rank[] = {0, 2, 1}; /* unknown, open, closed */
    int ba = basic_rank[a->basic], bb = basic_rank[b->basic];
    if (ba != bb)
        return ba > bb;
    int pa = a->has_priority ? a->priority : 0, pb = b->has_priority ? b->priority : 0;
    if (pa != pb)
        return pa > pb;
    return s_rank_show(a->show) > s_rank_show(b->show);
}

static int
s_best(const xgw_pidf_tuple_t *t, size_t n)
{
    int best = -1;
    for (size_t i = 0; i < n; i++) {
        if (best < 0 || s_better(&t[i], &t[best]))
            best = (int)i;
    }
    return best;
}

typedef struct {
    xgw_arena_t *arena;
    xgw_pidf_show_t person_show;
    const char *fallback_note, *fallback_lang;
} s_ctx_t;

static int
s_parse_tuple(s_ctx_t *ctx, const xgw_xml_node_t *t, xgw_pidf_tuple_t *out)
{
    out->id = xgw_xml_attr(t, "id");
    if (!out->id || !*out->id)
        return XGW_EINVAL;
    const xgw_xml_node_t *status = xgw_xml_child(t, XGW_PIDF_NS, "status");
    if (!status)
        return XGW_EINVAL;
    size_t n;
    const char *b = s_trim(xgw_xml_child_text(status, XGW_PIDF_NS, "basic"), &n);
    out->basic = s_eq(b, n, "open")     ? XGW_PIDF_BASIC_OPEN
                 : s_eq(b, n, "closed") ? XGW_PIDF_BASIC_CLOSED
                                        : XGW_PIDF_BASIC_UNKNOWN;

    /* Show: jabber:client <show> (translated if unknown), then RPID. */
    xgw_pidf_show_t show = XGW_PIDF_SHOW_NONE;
    const xgw_xml_node_t *sh = xgw_xml_child(status, XGW_XML_NS_CLIENT, "show");
    for (; sh && show == XGW_PIDF_SHOW_NONE; sh = xgw_xml_next(sh)) {
        const char *v = s_trim(sh->text, &n);
        show = s_show_exact(v, n);
        if (show == XGW_PIDF_SHOW_NONE)
            show = s_activity(v, n);
    }
    if (show == XGW_PIDF_SHOW_NONE)
        show = s_show_activities(status);
    if (show == XGW_PIDF_SHOW_NONE)
        show = s_show_activities(t);
    if (show == XGW_PIDF_SHOW_NONE)
        show = ctx->person_show;
    out->show = out->basic == XGW_PIDF_BASIC_OPEN ? show : XGW_PIDF_SHOW_NONE;

    const xgw_xml_node_t *contact = xgw_xml_child(t, XGW_PIDF_NS, "contact");
    out->contact = NULL;
    if (contact) {
        const char *c = s_trim(contact->text, &n);
        if (n > 0) {
            out->contact = s_dup(ctx->arena, c, n);
            if (!out->contact)
                return XGW_ENOMEM;
        }
        const char *q = xgw_xml_attr(contact, "priority");
        out->has_priority = q && xgw_pidf_priority_parse(q, &out->priority) == 0;
        if (!out->has_priority)
            out->priority = 0;
    }

    int rc = s_note(ctx->arena, xgw_xml_child(t, XGW_PIDF_NS, "note"), &out->note, &out->note_lang);
    if (rc != 0)
        return rc;
    if (!out->note) {
        out->note = ctx->fallback_note;
        out->note_lang = ctx->fallback_lang;
    }
    return s_tuple_resource(ctx->arena, out->contact, out->id, &out->resource);
}

static void
s_zero(xgw_pidf_t *out)
{
    memset(out, 0, sizeof *out);
    out->best = -1;
}

static int
s_parse(const char *doc, size_t len, xgw_arena_t *arena, xgw_pidf_t *out)
{
    if (!doc || !arena || len == 0)
        return XGW_EINVAL;
    if (len > XGW_PIDF_DOC_MAX)
        return XGW_ETOOBIG;
    xgw_xml_limits_t lim;
    xgw_xml_limits_default(&lim);
    lim.max_stanza = XGW_PIDF_DOC_MAX;
    lim.max_depth = 32;
    xgw_xml_err_t xerr = XGW_XML_OK;
    const xgw_xml_node_t *root = xgw_xml_parse_doc(doc, len, &lim, arena, &xerr);
    if (!root)
        return xerr == XGW_XML_ERR_TOO_BIG ? XGW_ETOOBIG
               : xerr == XGW_XML_ERR_NOMEM ? XGW_ENOMEM
                                           : XGW_EINVAL;
    if (strcmp(root->ns, XGW_PIDF_NS) != 0 || strcmp(root->name, "presence") != 0)
        return XGW_EINVAL;
    const char *entity = xgw_xml_attr(root, "entity");
    if (!entity || !*entity)
        return XGW_EINVAL;

    s_ctx_t ctx = {.arena = arena};
    const xgw_xml_node_t *person = xgw_xml_child(root, XGW_PIDF_NS_DM, "person");
    if (person)
        ctx.person_show = s_show_activities(person);
    int rc = s_note(arena, xgw_xml_child(root, XGW_PIDF_NS, "note"), &ctx.fallback_note,
                    &ctx.fallback_lang);
    if (rc == 0 && !ctx.fallback_note && person)
        rc = s_note(arena, xgw_xml_child(person, XGW_PIDF_NS_DM, "note"), &ctx.fallback_note,
                    &ctx.fallback_lang);
    if (rc != 0)
        return rc;

    size_t n = 0;
    for (const xgw_xml_node_t *t = xgw_xml_child(root, XGW_PIDF_NS, "tuple"); t;
         t = xgw_xml_next(t))
        n++;
    if (n > XGW_PIDF_TUPLES_MAX)
        return XGW_ETOOBIG;
    xgw_pidf_tuple_t *tuples = NULL;
    if (n > 0) {
        tuples = xgw_arena_alloc(arena, n * sizeof *tuples);
        if (!tuples)
            return XGW_ENOMEM;
    }
    size_t i = 0;
    for (const xgw_xml_node_t *t = xgw_xml_child(root, XGW_PIDF_NS, "tuple"); t;
         t = xgw_xml_next(t), i++) {
        rc = s_parse_tuple(&ctx, t, &tuples[i]);
        if (rc != 0)
            return rc;
        for (size_t k = 0; k < i; k++) {
            if (strcmp(tuples[k].id, tuples[i].id) == 0)
                return XGW_EINVAL; /* xs:ID: unique in the document */
        }
    }

    out->entity = entity;
    out->tuples = tuples;
    out->n_tuples = n;
    out->best = s_best(tuples, n);
    if (out->best >= 0) {
        const xgw_pidf_tuple_t *b = &tuples[out->best];
        out->basic = b->basic;
        out->show = b->show;
        out->note = b->note;
        out->note_lang = b->note_lang;
        out->has_priority = b->has_priority;
        out->priority = b->priority;
    } else {
        out->show = ctx.person_show;
        out->note = ctx.fallback_note;
        out->note_lang = ctx.fallback_lang;
    }
    return 0;
}

int
xgw_pidf_parse(const char *doc, size_t len, xgw_arena_t *arena, xgw_pidf_t *out)
{
    if (!out)
        return XGW_EINVAL;
    s_zero(out);
    int rc = s_parse(doc, len, arena, out);
    if (rc != 0)
        s_zero(out);
    return rc;
}

/* ---- build ------------------------------------------------------------- */

/* The id a tuple gets in the document. */
static int
s_id_of(const xgw_pidf_tuple_t *t, char *buf, size_t len)
{
    if (t->id) {
        if (!s_ncname(t->id) || strlen(t->id) >= len)
            return XGW_EINVAL;
        memcpy(buf, t->id, strlen(t->id) + 1);
        return 0;
    }
    if (t->resource && !s_resource_ok(t->resource, strlen(t->resource)))
        return XGW_EINVAL;
    return xgw_pidf_tuple_id(t->resource, buf, len) == 0 ? 0 : XGW_EINVAL;
}

static bool
s_text_ok(const char *s)
{
    return s && *s && xgw_xml_chars_valid(s, strlen(s));
}

static int
s_check_tuple(const xgw_pidf_tuple_t *t)
{
    if (t->basic != XGW_PIDF_BASIC_OPEN && t->basic != XGW_PIDF_BASIC_CLOSED)
        return XGW_EINVAL;
    if ((unsigned)t->show > XGW_PIDF_SHOW_DND)
        return XGW_EINVAL;
    if (t->has_priority && (t->priority < -128 || t->priority > 127))
        return XGW_EINVAL;
    if (t->note && *t->note && !xgw_xml_chars_valid(t->note, strlen(t->note)))
        return XGW_EINVAL;
    if (t->note_lang && !s_lang_ok(t->note_lang))
        return XGW_EINVAL;
    if (t->contact && !s_text_ok(t->contact))
        return XGW_EINVAL;
    return 0;
}

static void
s_write_tuple(xgw_xml_writer_t *w, const xgw_pidf_tuple_t *t, const char *id)
{
    xgw_xml_open(w, "tuple");
    xgw_xml_attr_w(w, "id", id);
    xgw_xml_open_end(w);
    xgw_xml_raw(w, "<status>", 8);
    xgw_xml_elem_text(w, "basic", t->basic == XGW_PIDF_BASIC_OPEN ? "open" : "closed");
    const char *show = xgw_pidf_show_name(t->show);
    if (show && t->basic == XGW_PIDF_BASIC_OPEN) {
        xgw_xml_open(w, "show");
        xgw_xml_attr_w(w, "xmlns", XGW_XML_NS_CLIENT);
        xgw_xml_open_end(w);
        xgw_xml_text_w(w, show, strlen(show));
        xgw_xml_close(w, "show");
    }
    xgw_xml_raw(w, "</status>", 9);
    if (t->contact) {
        char q[XGW_PIDF_PRIORITY_LEN];
        bool prio = t->has_priority && xgw_pidf_priority_format(t->priority, q, sizeof q) == 0;
        xgw_xml_open(w, "contact");
        if (prio)
            xgw_xml_attr_w(w, "priority", q);
        xgw_xml_open_end(w);
        xgw_xml_text_w(w, t->contact, strlen(t->contact));
        xgw_xml_close(w, "contact");
    }
    if (t->note && *t->note) {
        xgw_xml_open(w, "note");
        xgw_xml_attr_w(w, "xml:lang", t->note_lang);
        xgw_xml_open_end(w);
        size_t n = strlen(t->note);
        xgw_xml_text_w(w, t->note, s_cut(t->note, n, XGW_PIDF_NOTE_MAX));
        xgw_xml_close(w, "note");
    }
    xgw_xml_close(w, "tuple");
}

int
xgw_pidf_build(const xgw_pidf_t *p, xgw_xml_writer_t *w)
{
    if (!p || !w)
        return XGW_EINVAL;
    if (!s_text_ok(p->entity) || p->n_tuples > XGW_PIDF_TUPLES_MAX ||
        (p->n_tuples > 0 && !p->tuples))
        return XGW_EINVAL;
    xgw_pidf_tuple_t single = {
        .basic = p->basic,
        .show = p->show,
        .note = p->note,
        .note_lang = p->note_lang,
        .has_priority = p->has_priority,
        .priority = p->priority,
    };
    const xgw_pidf_tuple_t *tuples = p->n_tuples > 0 ? p->tuples : &single;
    size_t n = p->n_tuples > 0 ? p->n_tuples : 1;

    /* Check everything before writing a byte. */
    char id_a[S_ID_MAX], id_b[S_ID_MAX];
    for (size_t i = 0; i < n; i++) {
        int rc = s_check_tuple(&tuples[i]);
        if (rc == 0)
            rc = s_id_of(&tuples[i], id_a, sizeof id_a);
        if (rc == 0 && strcmp(id_a, S_PERSON_ID) == 0)
            rc = XGW_EINVAL;
        for (size_t k = 0; rc == 0 && k < i; k++) {
            rc = s_id_of(&tuples[k], id_b, sizeof id_b);
            if (rc == 0 && strcmp(id_a, id_b) == 0)
                rc = XGW_EINVAL;
        }
        if (rc != 0)
            return rc;
    }
    int best = s_best(tuples, n);
    xgw_pidf_show_t show =
        tuples[best].basic == XGW_PIDF_BASIC_OPEN ? tuples[best].show : XGW_PIDF_SHOW_NONE;
    const char *activity = show == XGW_PIDF_SHOW_AWAY || show == XGW_PIDF_SHOW_XA ? "rpid:away"
                           : show == XGW_PIDF_SHOW_DND                            ? "rpid:busy"
                                                                                  : NULL;

    static const char decl[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    xgw_xml_raw(w, decl, sizeof decl - 1);
    xgw_xml_open(w, "presence");
    xgw_xml_attr_w(w, "xmlns", XGW_PIDF_NS);
    if (activity) {
        xgw_xml_attr_w(w, "xmlns:dm", XGW_PIDF_NS_DM);
        xgw_xml_attr_w(w, "xmlns:rpid", XGW_PIDF_NS_RPID);
    }
    xgw_xml_attr_w(w, "entity", p->entity);
    xgw_xml_open_end(w);
    for (size_t i = 0; i < n; i++) {
        if (s_id_of(&tuples[i], id_a, sizeof id_a) != 0)
            return XGW_EINVAL; /* checked above; not reached */
        s_write_tuple(w, &tuples[i], id_a);
    }
    if (activity) {
        xgw_xml_open(w, "dm:person");
        xgw_xml_attr_w(w, "id", S_PERSON_ID);
        xgw_xml_open_end(w);
        xgw_xml_raw(w, "<rpid:activities>", 17);
        xgw_xml_open(w, activity);
        xgw_xml_open_close(w);
        xgw_xml_close(w, "rpid:activities");
        xgw_xml_close(w, "dm:person");
    }
    xgw_xml_close(w, "presence");
    if (w->failed)
        return w->err ? w->err : XGW_ETOOBIG;
    return 0;
}
