/*
 * fuzz_xml_doc.c - libFuzzer target for xgw_xml_parse_doc (PIDF bodies) and
 * the writer.
 *
 * A parsed document is walked, written back standalone, parsed again and
 * compared (same tree, same bytes on a second write). The raw input is also
 * given to the writer as text and as an attribute value: the writer must
 * refuse exactly what xgw_xml_chars_valid refuses, and what it accepts must
 * read back unchanged.
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

static const xgw_xml_limits_t s_big = {
    .max_stanza = 1 << 20, .max_depth = 32, .max_attrs = 40, .max_tag = 1 << 20};

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

/* What a PIDF reader does: tuples, status/basic, notes. */
static size_t
s_touch(const xgw_xml_node_t *p)
{
    const char *pidf = "urn:ietf:params:xml:ns:pidf";
    size_t sum = 0;
    sum += xgw_xml_attr(p, "entity") != NULL;
    for (const xgw_xml_node_t *t = xgw_xml_child(p, pidf, "tuple"); t; t = xgw_xml_next(t)) {
        S_CHECK(strcmp(t->name, "tuple") == 0);
        sum += xgw_xml_attr(t, "id") != NULL;
        const xgw_xml_node_t *st = xgw_xml_child(t, pidf, "status");
        const char *basic = xgw_xml_child_text(st, pidf, "basic");
        if (basic)
            sum += strlen(basic);
        for (const xgw_xml_node_t *n = xgw_xml_child(t, pidf, "note"); n; n = xgw_xml_next(n))
            sum += xgw_xml_attr_ns(n, XGW_XML_NS_XML, "lang") != NULL;
    }
    return sum;
}

static void
s_doc(const char *in, size_t n)
{
    xgw_arena_t *a = xgw_arena_new(4096);
    S_CHECK(a != NULL);
    xgw_xml_err_t err = XGW_XML_OK;
    xgw_xml_node_t *root = xgw_xml_parse_doc(in, n, &s_lim, a, &err);
    if (!root) {
        S_CHECK(err != XGW_XML_OK);
        S_CHECK(xgw_xml_err_condition(err)[0] != '\0');
        xgw_arena_destroy(&a);
        return;
    }
    S_CHECK(err == XGW_XML_OK);
    S_CHECK(root->parent == NULL);
    s_touch(root);

    xgw_xml_writer_t w;
    xgw_xml_writer_init(&w, 1 << 20);
    xgw_xml_write_node(&w, root, "");
    S_CHECK(xgw_xml_writer_status(&w) == 0);
    xgw_xml_node_t *again = xgw_xml_parse_doc(w.buf, w.len, &s_big, a, &err);
    if (!again) {
        fprintf(stderr, "reparse: %s\n%.*s\n", xgw_xml_err_condition(err), (int)w.len, w.buf);
        abort();
    }
    s_same_tree(root, again);
    xgw_xml_writer_t w2;
    xgw_xml_writer_init(&w2, 1 << 20);
    xgw_xml_write_node(&w2, again, "");
    S_CHECK(w2.len == w.len && memcmp(w.buf, w2.buf, w.len) == 0);
    /* Other contexts must write too. */
    xgw_xml_writer_clear(&w2);
    xgw_xml_write_node(&w2, root, NULL);
    S_CHECK(xgw_xml_writer_status(&w2) == 0);
    xgw_xml_writer_clear(&w2);
    xgw_xml_write_node(&w2, root, XGW_XML_NS_SERVER);
    S_CHECK(xgw_xml_writer_status(&w2) == 0);
    /* A bound smaller than the output fails cleanly. */
    xgw_xml_writer_fini(&w2);
    xgw_xml_writer_init(&w2, w.len / 2);
    xgw_xml_write_node(&w2, root, "");
    S_CHECK(w.len / 2 >= w.len || xgw_xml_writer_status(&w2) == XGW_ETOOBIG);
    S_CHECK(w2.len <= w.len / 2);
    xgw_xml_writer_fini(&w2);
    xgw_xml_writer_fini(&w);
    xgw_arena_destroy(&a);
}

/* The raw bytes as text and as an attribute value. */
static void
s_writer(const char *in, size_t n)
{
    bool valid = xgw_xml_chars_valid(in, n);
    xgw_xml_writer_t w;
    xgw_xml_writer_init(&w, 1 << 20);
    xgw_xml_raw(&w, "<a>", 3);
    xgw_xml_text_w(&w, in, n);
    xgw_xml_raw(&w, "</a>", 4);
    S_CHECK(valid == (xgw_xml_writer_status(&w) == 0));
    S_CHECK(valid || xgw_xml_writer_status(&w) == XGW_EINVAL);
    if (!valid) {
        xgw_xml_writer_fini(&w);
        return;
    }
    xgw_arena_t *a = xgw_arena_new(4096);
    S_CHECK(a != NULL);
    xgw_xml_err_t err;
    xgw_xml_node_t *t = xgw_xml_parse_doc(w.buf, w.len, &s_big, a, &err);
    S_CHECK(t != NULL);
    S_CHECK(t->text_len == n && memcmp(t->text, in, n) == 0);

    /* Attribute values stop at the first NUL (C strings). */
    size_t vlen = strnlen(in, n);
    char *v = malloc(vlen + 1);
    S_CHECK(v != NULL);
    memcpy(v, in, vlen);
    v[vlen] = '\0';
    xgw_xml_writer_clear(&w);
    xgw_xml_open(&w, "a");
    xgw_xml_attr_w(&w, "v", v);
    xgw_xml_open_close(&w);
    S_CHECK(xgw_xml_writer_status(&w) == 0);
    t = xgw_xml_parse_doc(w.buf, w.len, &s_big, a, &err);
    S_CHECK(t != NULL);
    S_CHECK(strcmp(xgw_xml_attr(t, "v"), v) == 0);
    free(v);
    xgw_arena_destroy(&a);
    xgw_xml_writer_fini(&w);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_doc((const char *)data, size);
    if (size <= 4096)
        s_writer((const char *)data, size);
    return 0;
}
