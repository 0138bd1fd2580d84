/*
 * fuzz_xml_stream.c - libFuzzer target for the XMPP stream reader.
 *
 * The input is fed twice: at once, and in pieces whose sizes come from its
 * first bytes. Each stanza's tree is walked with the accessors and written
 * back with the writer; the output must parse again (xgw_xml_parse_doc) to
 * the same tree and write to the same bytes. Both feedings must report the
 * same stanzas and the same outcome. Any difference aborts.
 */
#include "xgw_arena.h"
#include "xgw_error.h"
#include "xgw_xml.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define S_CHECK(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const xgw_xml_limits_t s_lim = {
    .max_stanza = 64 * 1024, .max_depth = 32, .max_attrs = 16, .max_tag = 8 * 1024};

typedef struct {
    xgw_xml_stream_t *rd;
    uint64_t hash; /* FNV-1a over every event */
    int n_stanza;
    int stop_at; /* stop after this many stanzas (0: never) */
} s_run_t;

static void
s_hash(s_run_t *r, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        r->hash ^= b[i];
        r->hash *= 0x100000001b3ULL;
    }
}

/* Same names, namespaces, prefixes, attributes, text and shape. */
static void
s_same_tree(const xgw_xml_node_t *a, const xgw_xml_node_t *b)
{
    const xgw_xml_node_t *top = a;
    for (;;) {
        S_CHECK(strcmp(a->ns, b->ns) == 0);
        S_CHECK(strcmp(a->name, b->name) == 0);
        S_CHECK(strcmp(a->prefix, b->prefix) == 0);
        S_CHECK(a->text_len == b->text_len && memcmp(a->text, b->text, a->text_len) == 0);
        S_CHECK(a->text[a->text_len] == '\0');
        S_CHECK(a->text_pos == b->text_pos);
        S_CHECK(a->n_attrs == b->n_attrs);
        for (size_t i = 0; i < a->n_attrs; i++) {
            S_CHECK(strcmp(a->attrs[i].ns, b->attrs[i].ns) == 0);
            S_CHECK(strcmp(a->attrs[i].name, b->attrs[i].name) == 0);
            S_CHECK(strcmp(a->attrs[i].value, b->attrs[i].value) == 0);
            S_CHECK(strcmp(a->attrs[i].prefix, b->attrs[i].prefix) == 0);
        }
        if (a->children) {
            S_CHECK(b->children != NULL);
            a = a->children;
            b = b->children;
            continue;
        }
        S_CHECK(b->children == NULL);
        for (;;) {
            if (a == top)
                return;
            if (a->next) {
                S_CHECK(b->next != NULL);
                a = a->next;
                b = b->next;
                break;
            }
            S_CHECK(b->next == NULL);
            a = a->parent;
            b = b->parent;
        }
    }
}

/* Walks the tree with the accessors (what the stanza code will do). */
static size_t
s_touch(const xgw_xml_node_t *n)
{
    size_t sum = 0;
    sum += xgw_xml_attr(n, "to") != NULL;
    sum += xgw_xml_attr(n, "from") != NULL;
    sum += xgw_xml_attr_ns(n, XGW_XML_NS_XML, "lang") != NULL;
    const char *body = xgw_xml_child_text(n, NULL, "body");
    if (body)
        sum += strlen(body);
    for (const xgw_xml_node_t *c = xgw_xml_child(n, NULL, NULL); c; c = c->next) {
        S_CHECK(c->parent == n);
        for (const xgw_xml_node_t *d = c; d; d = xgw_xml_next(d))
            S_CHECK(strcmp(d->name, c->name) == 0);
        S_CHECK(xgw_xml_child(n, c->ns, c->name) != NULL);
    }
    return sum;
}

/* Writes the tree standalone, parses it back and compares; hashes the
 * output in the stream's context. */
static void
s_round_trip(s_run_t *r, const xgw_xml_node_t *n)
{
    xgw_xml_writer_t w;
    xgw_xml_writer_init(&w, 1 << 20);
    xgw_xml_write_node(&w, n, "");
    S_CHECK(xgw_xml_writer_status(&w) == 0); /* received text is always writable */

    xgw_arena_t *a = xgw_arena_new(4096);
    S_CHECK(a != NULL);
    xgw_xml_limits_t lim = s_lim;
    lim.max_stanza = 1 << 20; /* escaping makes the output longer */
    lim.max_tag = 1 << 20;
    lim.max_attrs = 2 * s_lim.max_attrs + 2; /* declarations the writer added */
    xgw_xml_err_t err;
    xgw_xml_node_t *again = xgw_xml_parse_doc(w.buf, w.len, &lim, a, &err);
    if (!again) {
        fprintf(stderr, "reparse: %s\n%.*s\n", xgw_xml_err_condition(err), (int)w.len, w.buf);
        abort();
    }
    s_same_tree(n, again);
    xgw_xml_writer_t w2;
    xgw_xml_writer_init(&w2, 1 << 20);
    xgw_xml_write_node(&w2, again, "");
    S_CHECK(w2.len == w.len && memcmp(w.buf, w2.buf, w.len) == 0);
    xgw_xml_writer_fini(&w2);
    xgw_arena_destroy(&a);

    xgw_xml_writer_clear(&w);
    xgw_xml_write_node(&w, n, XGW_XML_NS_SERVER);
    S_CHECK(xgw_xml_writer_status(&w) == 0);
    s_hash(r, w.buf, w.len);
    xgw_xml_writer_fini(&w);
}

static void
s_on_open(void *ud, const xgw_xml_node_t *h)
{
    s_run_t *r = ud;
    S_CHECK(xgw_xml_stream_header(r->rd) == h);
    S_CHECK(strcmp(h->ns, XGW_XML_NS_STREAM) == 0 && strcmp(h->name, "stream") == 0);
    S_CHECK(h->children == NULL);
    s_hash(r, "open", 4);
    xgw_xml_writer_t w;
    xgw_xml_writer_init(&w, 1 << 20);
    xgw_xml_write_node(&w, h, NULL);
    S_CHECK(xgw_xml_writer_status(&w) == 0);
    s_hash(r, w.buf, w.len);
    xgw_xml_writer_fini(&w);
}

static void
s_on_stanza(void *ud, const xgw_xml_node_t *st)
{
    s_run_t *r = ud;
    S_CHECK(st->parent == NULL);
    r->n_stanza++;
    s_touch(st);
    s_round_trip(r, st);
    if (r->stop_at && r->n_stanza == r->stop_at)
        xgw_xml_stream_stop(r->rd);
}

static void
s_on_close(void *ud)
{
    s_run_t *r = ud;
    s_hash(r, "close", 5);
}

static const xgw_xml_stream_cbs_t s_cbs = {s_on_open, s_on_stanza, s_on_close};

/* Feeds data in the given pieces; after a stop, resets and goes on with
 * what follows (a stream restart). Returns the hash of the outcome. */
static uint64_t
s_run(const uint8_t *data, size_t size, const size_t *cuts, size_t n_cuts, int stop_at)
{
    s_run_t r = {.hash = 0xcbf29ce484222325ULL, .stop_at = stop_at};
    r.rd = xgw_xml_stream_new(&s_lim, &s_cbs, &r);
    S_CHECK(r.rd != NULL);
    size_t off = 0;
    int rc = 0;
    for (size_t i = 0; i <= n_cuts && rc >= 0; i++) {
        size_t end = i < n_cuts ? cuts[i] : size;
        if (end < off)
            end = off;
        rc = xgw_xml_stream_feed(r.rd, (const char *)data + off, end - off);
        off = end;
        if (rc == 1)
            break;
    }
    if (rc < 0) {
        xgw_xml_err_t e = xgw_xml_stream_error(r.rd);
        S_CHECK(e != XGW_XML_OK);
        S_CHECK(xgw_xml_err_condition(e)[0] != '\0');
        S_CHECK(strncmp(xgw_xml_stream_error_detail(r.rd), "line ", 5) == 0);
        S_CHECK(xgw_xml_stream_feed(r.rd, " ", 1) == rc);
        int kind = 1; /* the kind may depend on the pieces: only "refused" counts */
        s_hash(&r, &kind, sizeof kind);
    } else if (rc == 1) {
        S_CHECK(xgw_xml_stream_feed(r.rd, " ", 1) == XGW_EINVAL);
        s_hash(&r, "stop", 4);
        /* Restart and feed a fresh stream: must work after any stop. */
        S_CHECK(xgw_xml_stream_reset(r.rd) == 0);
        const char again[] = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'"
                             " xmlns='jabber:server'><presence/>";
        r.stop_at = 0;
        S_CHECK(xgw_xml_stream_feed(r.rd, again, sizeof again - 1) == 0);
    }
    S_CHECK(xgw_xml_stream_bytes(r.rd) >= off);
    xgw_xml_stream_destroy(&r.rd);
    s_hash(&r, &r.n_stanza, sizeof r.n_stanza);
    return r.hash;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    /* Byte 0: stop after that many stanzas (low 2 bits, 0 never); bytes 1..3:
     * where the pieces end. */
    int stop_at = data[0] & 3;
    const uint8_t *in = data + 4;
    size_t n = size - 4;
    size_t cuts[3];
    for (size_t i = 0; i < 3; i++)
        cuts[i] = n ? (size_t)data[1 + i] * n / 255 : 0;
    /* sorted, so pieces follow each other */
    for (size_t i = 0; i < 3; i++)
        for (size_t j = i + 1; j < 3; j++)
            if (cuts[j] < cuts[i]) {
                size_t t = cuts[i];
                cuts[i] = cuts[j];
                cuts[j] = t;
            }
    uint64_t whole = s_run(in, n, NULL, 0, stop_at);
    uint64_t pieces = s_run(in, n, cuts, 3, stop_at);
    if (whole != pieces) {
        fprintf(stderr, "outcome differs between one feed and pieces at %zu %zu %zu\n", cuts[0],
                cuts[1], cuts[2]);
        abort();
    }
    /* Byte by byte for short inputs: the strictest split. */
    if (n <= 512) {
        size_t bytes[512];
        for (size_t i = 0; i < n; i++)
            bytes[i] = i + 1;
        S_CHECK(s_run(in, n, bytes, n, stop_at) == whole);
    }
    return 0;
}
