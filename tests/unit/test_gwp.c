/*
 * test_gwp.c - GWP/1 frame codec (xgw_gwp) and its socket layer (xgw_gwp_io):
 * round trips of every command on both sides, the exact header bytes, every
 * rejection with its exact code (frame counts, signature, command, headers
 * cut short or with bytes left over, length prefixes that overrun, field
 * content), validate, msg_id helpers, and real DEALER/ROUTER sockets.
 *
 * Headers are built here byte by byte from the layout in proto/GWP.md, not
 * with the codec, so that the codec's encoder and decoder are each checked
 * against the specification and not only against each other. Every header
 * handed to the decoder sits in a heap block of exactly its size, so an
 * ASan build catches any read past its end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#include "xgw_error.h"
#include "xgw_gwp.h"
#include "xgw_gwp_io.h"

#define S_MAX_BODY 1024
#define S_SIG_LEN 6
#define S_FIXED_LEN 7 /* signature + command byte */

static const uint8_t s_client_id[] = {0x00, 0x6b, 0x8b, 0x45, 0x67}; /* ROUTER ids are binary */

/* ---- the layout of proto/GWP.md ----------------------------------------- */

typedef enum {
    S_F_END = 0, /* ends a kind's field list */
    S_F_MSGID,
    S_F_DEADLINE,
    S_F_STATUS,
    S_F_CREDIT,
    S_F_SERVICE,
    S_F_AFFINITY,
    S_F_INSTANCE,
    S_F_CLIENT,
} s_field_t;

#define S_MAX_FIELDS 4

typedef struct {
    xgw_gwp_side_t side;
    xgw_gwp_cmd_t cmd;
    uint8_t byte; /* the command byte on the wire */
    int frames;   /* 2 for REQUEST/FINAL (header + body), 1 otherwise */
    s_field_t fields[S_MAX_FIELDS + 1];
} s_kind_t;

static const s_kind_t s_kinds[] = {
    {XGW_GWP_CLIENT,
     XGW_GWP_REQUEST,
     0x01,
     2,
     {S_F_MSGID, S_F_DEADLINE, S_F_SERVICE, S_F_AFFINITY}},
    {XGW_GWP_CLIENT, XGW_GWP_FINAL, 0x03, 2, {S_F_MSGID, S_F_STATUS, S_F_SERVICE}},
    {XGW_GWP_CLIENT, XGW_GWP_HEARTBEAT, 0x04, 1, {S_F_END}},
    {XGW_GWP_WORKER, XGW_GWP_READY, 0x01, 1, {S_F_CREDIT, S_F_SERVICE, S_F_INSTANCE}},
    {XGW_GWP_WORKER, XGW_GWP_REQUEST, 0x02, 2, {S_F_MSGID, S_F_DEADLINE, S_F_CLIENT, S_F_AFFINITY}},
    {XGW_GWP_WORKER, XGW_GWP_FINAL, 0x04, 2, {S_F_MSGID, S_F_STATUS, S_F_CLIENT}},
    {XGW_GWP_WORKER, XGW_GWP_HEARTBEAT, 0x05, 1, {S_F_END}},
    {XGW_GWP_WORKER, XGW_GWP_DISCONNECT, 0x06, 1, {S_F_END}},
    {XGW_GWP_WORKER, XGW_GWP_CREDIT, 0x07, 1, {S_F_CREDIT}},
};
#define S_NKINDS (sizeof s_kinds / sizeof s_kinds[0])

static const s_kind_t *
s_kind(xgw_gwp_side_t side, xgw_gwp_cmd_t cmd)
{
    for (size_t k = 0; k < S_NKINDS; k++) {
        if (s_kinds[k].side == side && s_kinds[k].cmd == cmd)
            return &s_kinds[k];
    }
    fail_msg("no kind %d/%d", side, cmd);
    return NULL;
}

static int
s_has_field(const s_kind_t *kind, s_field_t field)
{
    for (int i = 0; kind->fields[i] != S_F_END; i++) {
        if (kind->fields[i] == field)
            return 1;
    }
    return 0;
}

static int
s_is_string(s_field_t field)
{
    return field == S_F_SERVICE || field == S_F_AFFINITY || field == S_F_INSTANCE ||
           field == S_F_CLIENT;
}

/* ---- templates ----------------------------------------------------------- */

static void
s_msgid(uint8_t id[XGW_GWP_MSGID_LEN])
{
    for (int i = 0; i < XGW_GWP_MSGID_LEN; i++)
        id[i] = (uint8_t)(0xf0 + i);
}

/* A valid command of each kind with every field it carries set. */
static void
s_template(xgw_gwp_t *m, xgw_gwp_side_t side, xgw_gwp_cmd_t cmd)
{
    memset(m, 0, sizeof *m);
    m->side = side;
    m->cmd = cmd;
    switch (cmd) {
    case XGW_GWP_REQUEST:
        if (side == XGW_GWP_CLIENT)
            memcpy(m->service, "xmpp.out-1_a", sizeof "xmpp.out-1_a");
        else
            m->client = (xgw_gwp_view_t){s_client_id, sizeof s_client_id};
        s_msgid(m->msg_id);
        memcpy(m->affinity, "alice@example.net", sizeof "alice@example.net");
        m->deadline_ms = 1700000000123LL;
        m->body = (xgw_gwp_view_t){(const uint8_t *)"hello\0body", 10};
        break;
    case XGW_GWP_FINAL:
        if (side == XGW_GWP_CLIENT)
            memcpy(m->service, "sip.in", sizeof "sip.in");
        else
            m->client = (xgw_gwp_view_t){s_client_id, sizeof s_client_id};
        s_msgid(m->msg_id);
        m->status = 403;
        m->body = (xgw_gwp_view_t){(const uint8_t *)"refused", 7};
        break;
    case XGW_GWP_READY:
        memcpy(m->service, "policy", sizeof "policy");
        m->credit = 250;
        memcpy(m->instance, "policyd.01", sizeof "policyd.01");
        break;
    case XGW_GWP_CREDIT:
        m->credit = 0x01020304 % (XGW_GWP_CREDIT_MAX + 1);
        break;
    default:
        break;
    }
}

/* ---- building headers by hand -------------------------------------------- */

typedef struct {
    uint8_t b[1024];
    size_t n;
} s_buf_t;

static void
s_put(s_buf_t *h, const void *p, size_t n)
{
    assert_true(h->n + n <= sizeof h->b);
    if (n > 0)
        memcpy(h->b + h->n, p, n);
    h->n += n;
}

static void
s_put_be(s_buf_t *h, uint64_t v, size_t n)
{
    uint8_t tmp[8];
    for (size_t i = n; i > 0; i--) {
        tmp[i - 1] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
    s_put(h, tmp, n);
}

/* A string field: the length byte, then the bytes. */
static void
s_put_str(s_buf_t *h, const void *p, size_t n)
{
    assert_true(n <= 255);
    uint8_t len = (uint8_t)n;
    s_put(h, &len, 1);
    s_put(h, p, n);
}

/* The wire form of one field of m. */
static void
s_put_field(s_buf_t *h, const xgw_gwp_t *m, s_field_t field)
{
    switch (field) {
    case S_F_MSGID:
        s_put(h, m->msg_id, XGW_GWP_MSGID_LEN);
        break;
    case S_F_DEADLINE:
        s_put_be(h, (uint64_t)m->deadline_ms, 8);
        break;
    case S_F_STATUS:
        s_put_be(h, m->status, 2);
        break;
    case S_F_CREDIT:
        s_put_be(h, m->credit, 4);
        break;
    case S_F_SERVICE:
        s_put_str(h, m->service, strlen(m->service));
        break;
    case S_F_AFFINITY:
        s_put_str(h, m->affinity, strlen(m->affinity));
        break;
    case S_F_INSTANCE:
        s_put_str(h, m->instance, strlen(m->instance));
        break;
    case S_F_CLIENT:
        s_put_str(h, m->client.data, m->client.size);
        break;
    case S_F_END:
        break;
    }
}

/* A message built by hand: the header, the offset where each field starts
 * (at[i] for kind->fields[i], at[nfields] = end of header) and the frames. */
typedef struct {
    const s_kind_t *kind;
    xgw_gwp_t m;
    s_buf_t h;
    size_t at[S_MAX_FIELDS + 1];
    int nfields;
    xgw_gwp_view_t f[8];
    size_t n;
} s_raw_t;

/* Builds kind's header from m; field `over` (S_F_END for none) is written as
 * the given wire bytes instead (for a string field: length byte included). */
static void
s_raw_build_m(s_raw_t *r, const xgw_gwp_t *m, s_field_t over, const void *wire, size_t wire_len)
{
    memset(r, 0, sizeof *r);
    r->kind = s_kind(m->side, m->cmd);
    r->m = *m;
    s_put(&r->h, m->side == XGW_GWP_CLIENT ? "GWPC01" : "GWPW01", S_SIG_LEN);
    s_put(&r->h, &r->kind->byte, 1);
    int i = 0;
    for (; r->kind->fields[i] != S_F_END; i++) {
        r->at[i] = r->h.n;
        if (r->kind->fields[i] == over)
            s_put(&r->h, wire, wire_len);
        else
            s_put_field(&r->h, m, r->kind->fields[i]);
    }
    r->at[i] = r->h.n;
    r->nfields = i;
    assert_true(over == S_F_END || s_has_field(r->kind, over));
    r->f[0] = (xgw_gwp_view_t){r->h.b, r->h.n};
    r->n = 1;
    if (r->kind->frames == 2)
        r->f[r->n++] = m->body;
}

static void
s_raw_build(s_raw_t *r, xgw_gwp_side_t side, xgw_gwp_cmd_t cmd, s_field_t over, const void *wire,
            size_t wire_len)
{
    xgw_gwp_t m;
    s_template(&m, side, cmd);
    s_raw_build_m(r, &m, over, wire, wire_len);
}

/* Where field starts in r's header. */
static size_t
s_raw_at(const s_raw_t *r, s_field_t field)
{
    for (int i = 0; i < r->nfields; i++) {
        if (r->kind->fields[i] == field)
            return r->at[i];
    }
    fail_msg("field %d not in kind", field);
    return 0;
}

/* Decodes frames f[0..n) after copying each into a heap block of exactly
 * its size (ASan then sees any read past a frame). out may be NULL. */
static int
s_decode_exact(xgw_gwp_side_t side, const xgw_gwp_view_t *f, size_t n, size_t max_body,
               xgw_gwp_t *out)
{
    xgw_gwp_view_t copy[8];
    uint8_t *blocks[8];
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++) {
        blocks[i] = malloc(f[i].size > 0 ? f[i].size : 1);
        assert_non_null(blocks[i]);
        if (f[i].size > 0)
            memcpy(blocks[i], f[i].data, f[i].size);
        copy[i] = (xgw_gwp_view_t){blocks[i], f[i].size};
    }
    xgw_gwp_t tmp;
    xgw_gwp_t *o = out ? out : &tmp;
    memset(o, 0x5a, sizeof *o);
    int rc = xgw_gwp_decode(side, copy, n, max_body, o);
    if (rc == 0 && out) {
        /* Repoint the borrowed views at the caller's frames. */
        for (size_t i = 0; i < n; i++) {
            if (out->body.size > 0 && out->body.data >= copy[i].data &&
                out->body.data < copy[i].data + copy[i].size)
                out->body.data = f[i].data + (out->body.data - copy[i].data);
            if (out->client.size > 0 && out->client.data >= copy[i].data &&
                out->client.data < copy[i].data + copy[i].size)
                out->client.data = f[i].data + (out->client.data - copy[i].data);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(blocks[i]);
    return rc;
}

static int
s_raw_decode(const s_raw_t *r)
{
    return s_decode_exact(r->m.side, r->f, r->n, S_MAX_BODY, NULL);
}

/* Decodes r with its header cut to hlen bytes. */
static int
s_raw_decode_cut(const s_raw_t *r, size_t hlen)
{
    xgw_gwp_view_t f[8];
    memcpy(f, r->f, sizeof f);
    assert_true(hlen <= f[0].size);
    f[0].size = hlen;
    return s_decode_exact(r->m.side, f, r->n, S_MAX_BODY, NULL);
}

/* Template of (side, cmd) with one field replaced by raw wire bytes. */
static int
s_with(xgw_gwp_side_t side, xgw_gwp_cmd_t cmd, s_field_t field, const void *wire, size_t len)
{
    s_raw_t r;
    s_raw_build(&r, side, cmd, field, wire, len);
    return s_raw_decode(&r);
}

/* Template of (side, cmd) with string field replaced by (p, n), length
 * prefixed. */
static int
s_with_str(xgw_gwp_side_t side, xgw_gwp_cmd_t cmd, s_field_t field, const void *p, size_t n)
{
    s_buf_t w = {.n = 0};
    s_put_str(&w, p, n);
    return s_with(side, cmd, field, w.b, w.n);
}

/* Template of (side, cmd) with a string field whose length byte says
 * `announced` while only `present` bytes follow, and the header ending
 * there: whatever fields came before it, then the short string. */
static int
s_with_short_str(xgw_gwp_side_t side, xgw_gwp_cmd_t cmd, s_field_t field, uint8_t announced,
                 size_t present)
{
    uint8_t wire[256];
    memset(wire, 'a', sizeof wire);
    wire[0] = announced;
    s_raw_t r;
    s_raw_build(&r, side, cmd, field, wire, 1 + present);
    return s_raw_decode_cut(&r, s_raw_at(&r, field) + 1 + present);
}

/* Encodes with the codec. */
typedef struct {
    xgw_gwp_t m;
    uint8_t scratch[XGW_GWP_HEADER_MAX];
    xgw_gwp_view_t f[XGW_GWP_MAX_FRAMES];
    int n;
} s_enc_t;

static void
s_encode_m(s_enc_t *e, const xgw_gwp_t *m)
{
    memset(e, 0, sizeof *e);
    e->m = *m;
    e->n = xgw_gwp_frames(&e->m, e->scratch, e->f);
    assert_in_range(e->n, 1, XGW_GWP_MAX_FRAMES);
}

static void
s_encode(s_enc_t *e, xgw_gwp_side_t side, xgw_gwp_cmd_t cmd)
{
    xgw_gwp_t m;
    s_template(&m, side, cmd);
    s_encode_m(e, &m);
}

static void
s_assert_same(const xgw_gwp_t *a, const xgw_gwp_t *b)
{
    assert_int_equal(a->side, b->side);
    assert_int_equal(a->cmd, b->cmd);
    assert_string_equal(a->service, b->service);
    assert_memory_equal(a->msg_id, b->msg_id, XGW_GWP_MSGID_LEN);
    assert_string_equal(a->affinity, b->affinity);
    assert_true(a->deadline_ms == b->deadline_ms);
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->credit, b->credit);
    assert_string_equal(a->instance, b->instance);
    assert_int_equal(a->client.size, b->client.size);
    if (a->client.size > 0)
        assert_memory_equal(a->client.data, b->client.data, a->client.size);
    assert_int_equal(a->body.size, b->body.size);
    if (a->body.size > 0)
        assert_memory_equal(a->body.data, b->body.data, a->body.size);
}

/* The codec's header for m equals the hand-built one, and its body frame is
 * m's body itself. */
static void
s_assert_encodes_as(const xgw_gwp_t *m, const s_raw_t *r)
{
    s_enc_t e;
    s_encode_m(&e, m);
    assert_int_equal(e.n, r->kind->frames);
    assert_ptr_equal(e.f[0].data, e.scratch); /* built in scratch */
    assert_true(e.f[0].size <= XGW_GWP_HEADER_MAX);
    assert_int_equal(e.f[0].size, r->h.n);
    assert_memory_equal(e.f[0].data, r->h.b, r->h.n);
    if (e.n == 2) {
        assert_ptr_equal(e.f[1].data, e.m.body.data); /* a view, not a copy */
        assert_int_equal(e.f[1].size, m->body.size);
    }
}

/* ---- round trips --------------------------------------------------------- */

static void
test_round_trip_all(void **state)
{
    (void)state;
    for (size_t k = 0; k < S_NKINDS; k++) {
        s_raw_t r;
        s_raw_build(&r, s_kinds[k].side, s_kinds[k].cmd, S_F_END, NULL, 0);
        s_assert_encodes_as(&r.m, &r);

        /* The codec's frames decode to the template ... */
        s_enc_t e;
        s_encode(&e, s_kinds[k].side, s_kinds[k].cmd);
        xgw_gwp_t out;
        memset(&out, 0x5a, sizeof out);
        assert_int_equal(xgw_gwp_decode(e.m.side, e.f, (size_t)e.n, S_MAX_BODY, &out), 0);
        s_assert_same(&e.m, &out);
        /* ... borrowing the body frame and the client id from the header. */
        if (e.n == 2) {
            assert_ptr_equal(out.body.data, e.f[1].data);
            assert_int_equal(out.body.size, e.f[1].size);
        }
        if (s_has_field(&s_kinds[k], S_F_CLIENT))
            assert_ptr_equal(out.client.data, e.f[0].data + s_raw_at(&r, S_F_CLIENT) + 1);

        /* So do the hand-built ones. */
        memset(&out, 0x5a, sizeof out);
        assert_int_equal(s_decode_exact(r.m.side, r.f, r.n, S_MAX_BODY, &out), 0);
        s_assert_same(&r.m, &out);
        if (s_has_field(&s_kinds[k], S_F_CLIENT))
            assert_ptr_equal(out.client.data, r.h.b + s_raw_at(&r, S_F_CLIENT) + 1);
        if (r.n == 2)
            assert_ptr_equal(out.body.data, r.f[1].data);

        assert_int_equal(xgw_gwp_validate(&e.m, S_MAX_BODY), 0);
    }
}

static void
test_wire_bytes(void **state)
{
    (void)state;
    /* The command bytes of proto/GWP.md, at offset 6 of the header. */
    static const struct {
        xgw_gwp_side_t side;
        xgw_gwp_cmd_t cmd;
        uint8_t byte;
        int frames;
    } bytes[] = {
        {XGW_GWP_CLIENT, XGW_GWP_REQUEST, 0x01, 2},   {XGW_GWP_CLIENT, XGW_GWP_FINAL, 0x03, 2},
        {XGW_GWP_CLIENT, XGW_GWP_HEARTBEAT, 0x04, 1}, {XGW_GWP_WORKER, XGW_GWP_READY, 0x01, 1},
        {XGW_GWP_WORKER, XGW_GWP_REQUEST, 0x02, 2},   {XGW_GWP_WORKER, XGW_GWP_FINAL, 0x04, 2},
        {XGW_GWP_WORKER, XGW_GWP_HEARTBEAT, 0x05, 1}, {XGW_GWP_WORKER, XGW_GWP_DISCONNECT, 0x06, 1},
        {XGW_GWP_WORKER, XGW_GWP_CREDIT, 0x07, 1},
    };
    for (size_t i = 0; i < sizeof bytes / sizeof bytes[0]; i++) {
        s_enc_t e;
        s_encode(&e, bytes[i].side, bytes[i].cmd);
        assert_int_equal(e.n, bytes[i].frames);
        assert_true(e.f[0].size >= S_FIXED_LEN);
        assert_memory_equal(e.f[0].data, bytes[i].side == XGW_GWP_CLIENT ? "GWPC01" : "GWPW01",
                            S_SIG_LEN);
        assert_int_equal(e.f[0].data[6], bytes[i].byte);
    }
}

/* Literal headers, written out from proto/GWP.md. */
#define S_ID16 "\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9\xfa\xfb\xfc\xfd\xfe\xff"

static void
s_assert_header(const xgw_gwp_t *m, const char *want, size_t want_len)
{
    s_enc_t e;
    s_encode_m(&e, m);
    assert_int_equal(e.f[0].size, want_len);
    assert_memory_equal(e.f[0].data, want, want_len);
    xgw_gwp_view_t f[2] = {{(const uint8_t *)want, want_len}, m->body};
    xgw_gwp_t out;
    assert_int_equal(s_decode_exact(m->side, f, (size_t)e.n, S_MAX_BODY, &out), 0);
    s_assert_same(m, &out);
}

static void
test_field_encoding(void **state)
{
    (void)state;
    xgw_gwp_t m;

    s_template(&m, XGW_GWP_CLIENT, XGW_GWP_REQUEST);
    m.deadline_ms = 0x0102030405060708LL;
    static const char creq[] = "GWPC01\x01" S_ID16 "\x01\x02\x03\x04\x05\x06\x07\x08"
                               "\x0c"
                               "xmpp.out-1_a"
                               "\x11"
                               "alice@example.net";
    s_assert_header(&m, creq, sizeof creq - 1);

    s_template(&m, XGW_GWP_CLIENT, XGW_GWP_FINAL);
    static const char cfin[] = "GWPC01\x03" S_ID16 "\x01\x93" /* 403 */
                               "\x06"
                               "sip.in";
    s_assert_header(&m, cfin, sizeof cfin - 1);

    s_template(&m, XGW_GWP_CLIENT, XGW_GWP_HEARTBEAT);
    s_assert_header(&m, "GWPC01\x04", 7);

    s_template(&m, XGW_GWP_WORKER, XGW_GWP_READY);
    m.credit = 1000000; /* 0x000f4240 */
    static const char ready[] = "GWPW01\x01\x00\x0f\x42\x40"
                                "\x06"
                                "policy"
                                "\x0a"
                                "policyd.01";
    s_assert_header(&m, ready, sizeof ready - 1);

    s_template(&m, XGW_GWP_WORKER, XGW_GWP_REQUEST);
    m.affinity[0] = '\0';
    m.deadline_ms = 0x7f00000000000001LL;
    static const char wreq[] = "GWPW01\x02" S_ID16 "\x7f\x00\x00\x00\x00\x00\x00\x01"
                               "\x05\x00\x6b\x8b\x45\x67"
                               "\x00"; /* empty affinity */
    s_assert_header(&m, wreq, sizeof wreq - 1);

    s_template(&m, XGW_GWP_WORKER, XGW_GWP_FINAL);
    m.status = 0x1f4; /* 500 */
    static const char wfin[] = "GWPW01\x04" S_ID16 "\x01\xf4\x05\x00\x6b\x8b\x45\x67";
    s_assert_header(&m, wfin, sizeof wfin - 1);

    s_template(&m, XGW_GWP_WORKER, XGW_GWP_HEARTBEAT);
    s_assert_header(&m, "GWPW01\x05", 7);
    s_template(&m, XGW_GWP_WORKER, XGW_GWP_DISCONNECT);
    s_assert_header(&m, "GWPW01\x06", 7);

    s_template(&m, XGW_GWP_WORKER, XGW_GWP_CREDIT);
    m.credit = 0x000a0b0c;
    s_assert_header(&m, "GWPW01\x07\x00\x0a\x0b\x0c", 11);
}

static void
test_empty_fields_ok(void **state)
{
    (void)state;
    /* Empty affinity and empty body are valid; the body frame is still
     * there, empty. */
    xgw_gwp_t m;
    s_template(&m, XGW_GWP_CLIENT, XGW_GWP_REQUEST);
    m.affinity[0] = '\0';
    m.body = (xgw_gwp_view_t){NULL, 0};
    m.deadline_ms = 0;
    s_raw_t r;
    s_raw_build_m(&r, &m, S_F_END, NULL, 0);
    s_assert_encodes_as(&m, &r);
    assert_int_equal(r.h.b[r.h.n - 1], 0); /* affinity length 0, last byte */
    xgw_gwp_t out;
    assert_int_equal(s_decode_exact(XGW_GWP_CLIENT, r.f, 2, S_MAX_BODY, &out), 0);
    assert_string_equal(out.affinity, "");
    assert_int_equal(out.body.size, 0);
    assert_true(out.deadline_ms == 0);
    s_enc_t e;
    s_encode_m(&e, &m);
    assert_int_equal(e.n, 2);
    assert_int_equal(e.f[1].size, 0);

    s_template(&m, XGW_GWP_WORKER, XGW_GWP_FINAL);
    m.body = (xgw_gwp_view_t){NULL, 0};
    s_raw_build_m(&r, &m, S_F_END, NULL, 0);
    s_assert_encodes_as(&m, &r);
    assert_int_equal(s_decode_exact(XGW_GWP_WORKER, r.f, 2, S_MAX_BODY, &out), 0);
    assert_int_equal(out.body.size, 0);

    /* Credit 0 (drain) and the largest deadline. */
    s_template(&m, XGW_GWP_WORKER, XGW_GWP_CREDIT);
    m.credit = 0;
    s_raw_build_m(&r, &m, S_F_END, NULL, 0);
    s_assert_encodes_as(&m, &r);
    assert_int_equal(s_decode_exact(XGW_GWP_WORKER, r.f, 1, S_MAX_BODY, &out), 0);
    assert_int_equal(out.credit, 0);
    s_template(&m, XGW_GWP_WORKER, XGW_GWP_REQUEST);
    m.deadline_ms = INT64_MAX;
    s_raw_build_m(&r, &m, S_F_END, NULL, 0);
    s_assert_encodes_as(&m, &r);
    assert_int_equal(s_decode_exact(XGW_GWP_WORKER, r.f, 2, S_MAX_BODY, &out), 0);
    assert_true(out.deadline_ms == INT64_MAX);
}

/* The longest headers fit XGW_GWP_HEADER_MAX, and the encoder writes nothing
 * past it. */
static void
test_header_max(void **state)
{
    (void)state;
    static uint8_t id[XGW_GWP_ADDRESS_MAX];
    memset(id, 0xc3, sizeof id);
    xgw_gwp_t m;
    s_template(&m, XGW_GWP_WORKER, XGW_GWP_REQUEST);
    m.client = (xgw_gwp_view_t){id, XGW_GWP_ADDRESS_MAX};
    memset(m.affinity, '~', XGW_GWP_AFFINITY_MAX);
    m.affinity[XGW_GWP_AFFINITY_MAX] = '\0';
    s_raw_t r;
    s_raw_build_m(&r, &m, S_F_END, NULL, 0);
    assert_int_equal(r.h.n, S_FIXED_LEN + 16 + 8 + 1 + 255 + 1 + 255);
    assert_true(r.h.n <= XGW_GWP_HEADER_MAX);
    s_assert_encodes_as(&m, &r);

    /* Scratch of exactly XGW_GWP_HEADER_MAX bytes on the heap (ASan). */
    uint8_t *scratch = malloc(XGW_GWP_HEADER_MAX);
    assert_non_null(scratch);
    xgw_gwp_view_t f[XGW_GWP_MAX_FRAMES];
    assert_int_equal(xgw_gwp_frames(&m, scratch, f), 2);
    assert_int_equal(f[0].size, r.h.n);
    assert_memory_equal(f[0].data, r.h.b, r.h.n);
    xgw_gwp_t out;
    assert_int_equal(s_decode_exact(XGW_GWP_WORKER, f, 2, S_MAX_BODY, &out), 0);
    assert_int_equal(out.client.size, XGW_GWP_ADDRESS_MAX);
    assert_int_equal(strlen(out.affinity), XGW_GWP_AFFINITY_MAX);
    free(scratch);

    /* The same with a guard zone after the scratch (non-ASan builds). */
    static uint8_t guarded[XGW_GWP_HEADER_MAX + 64];
    memset(guarded, 0xa5, sizeof guarded);
    assert_int_equal(xgw_gwp_frames(&m, guarded, f), 2);
    for (size_t i = XGW_GWP_HEADER_MAX; i < sizeof guarded; i++)
        assert_int_equal(guarded[i], 0xa5);

    /* The client side's longest, and READY's. */
    s_template(&m, XGW_GWP_CLIENT, XGW_GWP_REQUEST);
    memset(m.service, 'z', XGW_GWP_SERVICE_MAX);
    m.service[XGW_GWP_SERVICE_MAX] = '\0';
    memset(m.affinity, '!', XGW_GWP_AFFINITY_MAX);
    m.affinity[XGW_GWP_AFFINITY_MAX] = '\0';
    s_raw_build_m(&r, &m, S_F_END, NULL, 0);
    assert_int_equal(r.h.n, S_FIXED_LEN + 16 + 8 + 1 + 32 + 1 + 255);
    s_assert_encodes_as(&m, &r);
    assert_int_equal(s_raw_decode(&r), 0);
    s_template(&m, XGW_GWP_WORKER, XGW_GWP_READY);
    memset(m.service, 'z', XGW_GWP_SERVICE_MAX);
    m.service[XGW_GWP_SERVICE_MAX] = '\0';
    memset(m.instance, 'I', XGW_GWP_INSTANCE_MAX);
    m.instance[XGW_GWP_INSTANCE_MAX] = '\0';
    s_raw_build_m(&r, &m, S_F_END, NULL, 0);
    assert_int_equal(r.h.n, S_FIXED_LEN + 4 + 1 + 32 + 1 + 64);
    s_assert_encodes_as(&m, &r);
    assert_int_equal(s_raw_decode(&r), 0);
}

/* ---- frame counts ------------------------------------------------------- */

static void
test_truncated_frames(void **state)
{
    (void)state;
    for (size_t k = 0; k < S_NKINDS; k++) {
        s_raw_t r;
        s_raw_build(&r, s_kinds[k].side, s_kinds[k].cmd, S_F_END, NULL, 0);
        xgw_gwp_t out;
        /* No frames at all. */
        assert_int_equal(xgw_gwp_decode(r.m.side, r.f, 0, S_MAX_BODY, &out), XGW_ETRUNC);
        /* REQUEST/FINAL: a whole, valid header without its body frame. */
        for (size_t n = 1; n < r.n; n++) {
            int rc = s_decode_exact(r.m.side, r.f, n, S_MAX_BODY, NULL);
            if (rc != XGW_ETRUNC)
                fail_msg("kind %zu with %zu of %zu frames: %d", k, n, r.n, rc);
        }
    }
}

static void
test_extra_frames(void **state)
{
    (void)state;
    for (size_t k = 0; k < S_NKINDS; k++) {
        s_raw_t r;
        s_raw_build(&r, s_kinds[k].side, s_kinds[k].cmd, S_F_END, NULL, 0);
        for (size_t extra = 1; extra + r.n <= 8; extra++) {
            xgw_gwp_view_t f[8];
            memcpy(f, r.f, sizeof f);
            for (size_t i = 0; i < extra; i++)
                f[r.n + i] = (xgw_gwp_view_t){(const uint8_t *)"x", 1};
            int rc = s_decode_exact(r.m.side, f, r.n + extra, S_MAX_BODY, NULL);
            if (rc != XGW_EPROTO)
                fail_msg("kind %zu with %zu extra frames: %d", k, extra, rc);
            /* An empty extra frame is still a frame too many. */
            for (size_t i = 0; i < extra; i++)
                f[r.n + i] = (xgw_gwp_view_t){NULL, 0};
            rc = s_decode_exact(r.m.side, f, r.n + extra, S_MAX_BODY, NULL);
            if (rc != XGW_EPROTO)
                fail_msg("kind %zu with %zu empty extra frames: %d", k, extra, rc);
        }
    }
}

/* ---- headers cut short or too long --------------------------------------- */

static void
test_short_header(void **state)
{
    (void)state;
    /* Shorter than signature + command: truncated, whatever the bytes. */
    for (size_t k = 0; k < S_NKINDS; k++) {
        s_raw_t r;
        s_raw_build(&r, s_kinds[k].side, s_kinds[k].cmd, S_F_END, NULL, 0);
        for (size_t len = 0; len < S_FIXED_LEN; len++) {
            int rc = s_raw_decode_cut(&r, len);
            if (rc != XGW_ETRUNC)
                fail_msg("kind %zu with a header of %zu bytes: %d", k, len, rc);
        }
    }
    const char *junk[] = {"", "X", "GWP", "GWPC0", "GWPC01", "MDPC01", "\x04\x04\x04"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        xgw_gwp_view_t f = {(const uint8_t *)junk[i], strlen(junk[i])};
        assert_int_equal(s_decode_exact(XGW_GWP_CLIENT, &f, 1, S_MAX_BODY, NULL), XGW_ETRUNC);
        assert_int_equal(s_decode_exact(XGW_GWP_WORKER, &f, 1, S_MAX_BODY, NULL), XGW_ETRUNC);
    }
}

/* Every cut inside the fields: the header ends before a fixed field, inside
 * one, before a length byte, or before the bytes a length byte announces. */
static void
test_truncated_header(void **state)
{
    (void)state;
    for (size_t k = 0; k < S_NKINDS; k++) {
        s_raw_t r;
        s_raw_build(&r, s_kinds[k].side, s_kinds[k].cmd, S_F_END, NULL, 0);
        for (size_t len = S_FIXED_LEN; len < r.h.n; len++) {
            int rc = s_raw_decode_cut(&r, len);
            if (rc != XGW_ETRUNC)
                fail_msg("kind %zu, header cut to %zu of %zu bytes: %d", k, len, r.h.n, rc);
            /* Without the body frame as well: still truncated. */
            if (r.n == 2) {
                xgw_gwp_view_t f = {r.h.b, len};
                rc = s_decode_exact(r.m.side, &f, 1, S_MAX_BODY, NULL);
                if (rc != XGW_ETRUNC)
                    fail_msg("kind %zu, header cut to %zu, no body: %d", k, len, rc);
            }
        }
    }
}

/* A length byte that announces more than the header still holds. */
static void
test_length_overrun(void **state)
{
    (void)state;
    for (size_t k = 0; k < S_NKINDS; k++) {
        const s_kind_t *kind = &s_kinds[k];
        for (int i = 0; kind->fields[i] != S_F_END; i++) {
            s_field_t fl = kind->fields[i];
            if (!s_is_string(fl))
                continue;
            /* Service names stop at 32; a longer length byte is ETOOBIG
             * (test_service), so stay within it here. */
            uint8_t top = fl == S_F_SERVICE ? XGW_GWP_SERVICE_MAX : 255;
            if (fl == S_F_INSTANCE)
                top = XGW_GWP_INSTANCE_MAX;
            const struct {
                uint8_t announced;
                size_t present;
            } cases[] = {{1, 0}, {2, 1}, {top, 0}, {top, (size_t)top - 1}, {10, 9}};
            for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
                int rc = s_with_short_str(kind->side, kind->cmd, fl, cases[c].announced,
                                          cases[c].present);
                if (rc != XGW_ETRUNC)
                    fail_msg("kind %zu field %d: length %u with %zu bytes: %d", k, fl,
                             cases[c].announced, cases[c].present, rc);
            }
            /* The same string complete is fine (affinity 'a'*n, service
             * 'a'*n, instance 'a'*n, client 'a'*n). */
            assert_int_equal(s_with_short_str(kind->side, kind->cmd, fl, 10, 10),
                             kind->fields[i + 1] == S_F_END ? 0 : XGW_ETRUNC);
        }
    }
}

/* Bytes after the last field. */
static void
test_trailing_bytes(void **state)
{
    (void)state;
    static const uint8_t tails[][4] = {{0x00}, {'x'}, {0xff}, {0x00, 0x00}, {0x04, 0x04, 0x04}};
    static const size_t tail_len[] = {1, 1, 1, 2, 3};
    for (size_t k = 0; k < S_NKINDS; k++) {
        for (size_t t = 0; t < sizeof tail_len / sizeof tail_len[0]; t++) {
            s_raw_t r;
            s_raw_build(&r, s_kinds[k].side, s_kinds[k].cmd, S_F_END, NULL, 0);
            s_put(&r.h, tails[t], tail_len[t]);
            r.f[0].size = r.h.n;
            int rc = s_raw_decode(&r);
            if (rc != XGW_EPROTO)
                fail_msg("kind %zu with %zu trailing bytes: %d", k, tail_len[t], rc);
        }
        /* Many: the header padded up to its maximum size and beyond. */
        s_raw_t r;
        s_raw_build(&r, s_kinds[k].side, s_kinds[k].cmd, S_F_END, NULL, 0);
        static uint8_t pad[600];
        s_put(&r.h, pad, sizeof pad);
        r.f[0].size = r.h.n;
        assert_int_equal(s_raw_decode(&r), XGW_EPROTO);
    }

    /* A string shorter than the rest of the header: the leftover is extra.
     * Affinity "ali" announced while "alice@example.net" follows. */
    s_raw_t r;
    s_raw_build(&r, XGW_GWP_CLIENT, XGW_GWP_REQUEST, S_F_END, NULL, 0);
    r.h.b[s_raw_at(&r, S_F_AFFINITY)] = 3;
    assert_int_equal(s_raw_decode(&r), XGW_EPROTO);
    /* A command without fields sent with the fields of another: the
     * REQUEST header relabelled HEARTBEAT (and without its body). */
    s_raw_build(&r, XGW_GWP_CLIENT, XGW_GWP_REQUEST, S_F_END, NULL, 0);
    r.h.b[6] = 0x04;
    assert_int_equal(s_decode_exact(XGW_GWP_CLIENT, r.f, 1, S_MAX_BODY, NULL), XGW_EPROTO);
    /* CREDIT with a 5-byte credit, READY's fields on a CREDIT. */
    const uint8_t c5[5] = {0, 0, 0, 1, 0};
    assert_int_equal(s_with(XGW_GWP_WORKER, XGW_GWP_CREDIT, S_F_CREDIT, c5, 5), XGW_EPROTO);
    s_raw_build(&r, XGW_GWP_WORKER, XGW_GWP_READY, S_F_END, NULL, 0);
    r.h.b[6] = 0x07;
    assert_int_equal(s_raw_decode(&r), XGW_EPROTO);
}

/* ---- signature and command --------------------------------------------- */

static void
test_bad_signature(void **state)
{
    (void)state;
    const char *bad[] = {"GWPC02",  "gwpc01",       "MDPC01", "GWPX01",
                         "GWPC1\0", "\0\0\0\0\0\0", "GWPW01", "GWPC01"};
    for (size_t k = 0; k < S_NKINDS; k++) {
        const char *own = s_kinds[k].side == XGW_GWP_CLIENT ? "GWPC01" : "GWPW01";
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            if (memcmp(bad[b], own, S_SIG_LEN) == 0)
                continue;
            s_raw_t r;
            s_raw_build(&r, s_kinds[k].side, s_kinds[k].cmd, S_F_END, NULL, 0);
            memcpy(r.h.b, bad[b], S_SIG_LEN);
            int rc = s_raw_decode(&r);
            if (rc != XGW_EPROTO)
                fail_msg("kind %zu with signature #%zu: %d", k, b, rc);
        }
        /* Frames encoded for one side decoded as the other. */
        s_enc_t x;
        s_encode(&x, s_kinds[k].side, s_kinds[k].cmd);
        xgw_gwp_side_t other = x.m.side == XGW_GWP_CLIENT ? XGW_GWP_WORKER : XGW_GWP_CLIENT;
        assert_int_equal(s_decode_exact(other, x.f, (size_t)x.n, S_MAX_BODY, NULL), XGW_EPROTO);
    }
    /* A seven-character signature: "GWPC01" then '1' as the command. */
    xgw_gwp_view_t f = {(const uint8_t *)"GWPC011\x04", 8};
    assert_int_equal(s_decode_exact(XGW_GWP_CLIENT, &f, 1, S_MAX_BODY, NULL), XGW_EPROTO);
}

static void
test_bad_command(void **state)
{
    (void)state;
    /* A bare 7-byte header with every command byte. */
    uint8_t h[S_FIXED_LEN];
    memcpy(h, "GWPC01", S_SIG_LEN);
    xgw_gwp_view_t f = {h, sizeof h};
    /* Client side knows 0x01, 0x03, 0x04 (0x02 PARTIAL is reserved). */
    for (int b = 0; b < 256; b++) {
        h[6] = (uint8_t)b;
        int rc = s_decode_exact(XGW_GWP_CLIENT, &f, 1, S_MAX_BODY, NULL);
        if (b == 0x01 || b == 0x03)
            assert_int_equal(rc, XGW_ETRUNC); /* known, but its fields are missing */
        else if (b == 0x04)
            assert_int_equal(rc, 0);
        else
            assert_int_equal(rc, XGW_EPROTO);
    }
    memcpy(h, "GWPW01", S_SIG_LEN);
    for (int b = 0; b < 256; b++) {
        h[6] = (uint8_t)b;
        int rc = s_decode_exact(XGW_GWP_WORKER, &f, 1, S_MAX_BODY, NULL);
        if (b == 0x01 || b == 0x02 || b == 0x04 || b == 0x07)
            assert_int_equal(rc, XGW_ETRUNC);
        else if (b == 0x05 || b == 0x06)
            assert_int_equal(rc, 0);
        else
            assert_int_equal(rc, XGW_EPROTO);
    }
    /* Unknown command bytes in otherwise whole messages. */
    for (size_t k = 0; k < S_NKINDS; k++) {
        const uint8_t unknown[] = {0x00, 0x08, 0x09, 0x10, 0x41, 0x80, 0xff};
        for (size_t u = 0; u < sizeof unknown; u++) {
            s_raw_t r;
            s_raw_build(&r, s_kinds[k].side, s_kinds[k].cmd, S_F_END, NULL, 0);
            r.h.b[6] = unknown[u];
            assert_int_equal(s_raw_decode(&r), XGW_EPROTO);
        }
        if (s_kinds[k].side == XGW_GWP_CLIENT) {
            s_raw_t r;
            s_raw_build(&r, s_kinds[k].side, s_kinds[k].cmd, S_F_END, NULL, 0);
            r.h.b[6] = 0x02; /* PARTIAL: reserved */
            assert_int_equal(s_raw_decode(&r), XGW_EPROTO);
        }
    }
}

static void
test_frames_refuses(void **state)
{
    (void)state;
    xgw_gwp_t m;
    uint8_t scratch[XGW_GWP_HEADER_MAX];
    xgw_gwp_view_t f[XGW_GWP_MAX_FRAMES];
    s_template(&m, XGW_GWP_WORKER, XGW_GWP_READY);
    m.side = XGW_GWP_CLIENT;
    assert_int_equal(xgw_gwp_frames(&m, scratch, f), XGW_EPROTO);
    m.cmd = XGW_GWP_CREDIT;
    assert_int_equal(xgw_gwp_frames(&m, scratch, f), XGW_EPROTO);
    m.cmd = XGW_GWP_DISCONNECT;
    assert_int_equal(xgw_gwp_frames(&m, scratch, f), XGW_EPROTO);
    m.cmd = (xgw_gwp_cmd_t)0;
    assert_int_equal(xgw_gwp_frames(&m, scratch, f), XGW_EPROTO);
    m.side = XGW_GWP_WORKER;
    m.cmd = (xgw_gwp_cmd_t)99;
    assert_int_equal(xgw_gwp_frames(&m, scratch, f), XGW_EPROTO);
    assert_int_equal(xgw_gwp_validate(&m, S_MAX_BODY), XGW_EPROTO);

    /* A client id too long for its length byte cannot be encoded. */
    static uint8_t id[256];
    const xgw_gwp_cmd_t cmds[] = {XGW_GWP_REQUEST, XGW_GWP_FINAL};
    for (size_t k = 0; k < 2; k++) {
        s_template(&m, XGW_GWP_WORKER, cmds[k]);
        m.client = (xgw_gwp_view_t){id, sizeof id};
        assert_int_equal(xgw_gwp_frames(&m, scratch, f), XGW_ETOOBIG);
        m.client.size = 10000;
        uint8_t *big = calloc(1, m.client.size);
        assert_non_null(big);
        m.client.data = big;
        assert_int_equal(xgw_gwp_frames(&m, scratch, f), XGW_ETOOBIG);
        free(big);
    }
}

/* ---- fields ------------------------------------------------------------ */

static void
test_service(void **state)
{
    (void)state;
    char big[256];
    memset(big, 'a', sizeof big);
    /* The service is in client REQUEST/FINAL and worker READY. */
    const xgw_gwp_side_t sides[] = {XGW_GWP_CLIENT, XGW_GWP_CLIENT, XGW_GWP_WORKER};
    const xgw_gwp_cmd_t cmds[] = {XGW_GWP_REQUEST, XGW_GWP_FINAL, XGW_GWP_READY};
    for (size_t k = 0; k < 3; k++) {
        xgw_gwp_side_t sd = sides[k];
        xgw_gwp_cmd_t c = cmds[k];
        assert_int_equal(s_with_str(sd, c, S_F_SERVICE, "", 0), XGW_EINVAL);
        /* Over 32: too big, with the bytes there ... */
        assert_int_equal(s_with_str(sd, c, S_F_SERVICE, big, 33), XGW_ETOOBIG);
        assert_int_equal(s_with_str(sd, c, S_F_SERVICE, big, 64), XGW_ETOOBIG);
        assert_int_equal(s_with_str(sd, c, S_F_SERVICE, big, 255), XGW_ETOOBIG);
        assert_int_equal(s_with_str(sd, c, S_F_SERVICE, big, 32), 0);
        assert_int_equal(s_with_str(sd, c, S_F_SERVICE, "a", 1), 0);
        assert_int_equal(s_with_str(sd, c, S_F_SERVICE, "az09._-", 7), 0);
        assert_int_equal(s_with_str(sd, c, S_F_SERVICE, "Xmpp", 4), XGW_EINVAL);
        assert_int_equal(s_with_str(sd, c, S_F_SERVICE, "xmpp out", 8), XGW_EINVAL);
        assert_int_equal(s_with_str(sd, c, S_F_SERVICE, "xmpp/out", 8), XGW_EINVAL);
        assert_int_equal(s_with_str(sd, c, S_F_SERVICE, "xmpp\0", 5), XGW_EINVAL);
        assert_int_equal(s_with_str(sd, c, S_F_SERVICE, "\0xmpp", 5), XGW_EINVAL);
        assert_int_equal(s_with_str(sd, c, S_F_SERVICE, "xm\xc3\xa9", 4), XGW_EINVAL);
        /* The decoded copy is NUL-terminated at the field's length. */
        xgw_gwp_t m;
        s_template(&m, sd, c);
        memset(m.service, 'a', XGW_GWP_SERVICE_MAX);
        m.service[XGW_GWP_SERVICE_MAX] = '\0';
        s_raw_t r;
        s_raw_build_m(&r, &m, S_F_END, NULL, 0);
        xgw_gwp_t out;
        assert_int_equal(s_decode_exact(sd, r.f, r.n, S_MAX_BODY, &out), 0);
        assert_int_equal(strlen(out.service), 32);
        s_assert_same(&m, &out);
    }
}

/* A length byte over the field's limit is too big whether or not the bytes
 * it announces follow: the length byte alone says so (service: "a length
 * byte over 32 -> XGW_ETOOBIG even if the bytes are there"; instance: "65+
 * -> XGW_ETOOBIG"). The header here ends inside the announced bytes. */
static void
test_length_byte_over_limit(void **state)
{
    (void)state;
    const xgw_gwp_side_t sides[] = {XGW_GWP_CLIENT, XGW_GWP_CLIENT, XGW_GWP_WORKER};
    const xgw_gwp_cmd_t cmds[] = {XGW_GWP_REQUEST, XGW_GWP_FINAL, XGW_GWP_READY};
    for (size_t k = 0; k < 3; k++) {
        assert_int_equal(s_with_short_str(sides[k], cmds[k], S_F_SERVICE, 33, 0), XGW_ETOOBIG);
        assert_int_equal(s_with_short_str(sides[k], cmds[k], S_F_SERVICE, 33, 32), XGW_ETOOBIG);
        assert_int_equal(s_with_short_str(sides[k], cmds[k], S_F_SERVICE, 255, 40), XGW_ETOOBIG);
    }
    xgw_gwp_side_t sd = XGW_GWP_WORKER;
    assert_int_equal(s_with_short_str(sd, XGW_GWP_READY, S_F_INSTANCE, 65, 0), XGW_ETOOBIG);
    assert_int_equal(s_with_short_str(sd, XGW_GWP_READY, S_F_INSTANCE, 65, 64), XGW_ETOOBIG);
    assert_int_equal(s_with_short_str(sd, XGW_GWP_READY, S_F_INSTANCE, 255, 1), XGW_ETOOBIG);
}

static void
test_client_route(void **state)
{
    (void)state;
    uint8_t id[255];
    memset(id, 0, sizeof id); /* binary ids, NULs included, are fine */
    const xgw_gwp_cmd_t cmds[] = {XGW_GWP_REQUEST, XGW_GWP_FINAL};
    for (size_t k = 0; k < 2; k++) {
        assert_int_equal(s_with_str(XGW_GWP_WORKER, cmds[k], S_F_CLIENT, id, 0), XGW_EINVAL);
        assert_int_equal(s_with_str(XGW_GWP_WORKER, cmds[k], S_F_CLIENT, id, 1), 0);
        assert_int_equal(s_with_str(XGW_GWP_WORKER, cmds[k], S_F_CLIENT, id, 255), 0);
        /* The decoded view is the bytes after the length byte. */
        xgw_gwp_t m;
        s_template(&m, XGW_GWP_WORKER, cmds[k]);
        m.client = (xgw_gwp_view_t){id, sizeof id};
        s_raw_t r;
        s_raw_build_m(&r, &m, S_F_END, NULL, 0);
        assert_int_equal(r.h.b[s_raw_at(&r, S_F_CLIENT)], 255);
        xgw_gwp_t out;
        assert_int_equal(s_decode_exact(XGW_GWP_WORKER, r.f, r.n, S_MAX_BODY, &out), 0);
        assert_int_equal(out.client.size, 255);
        assert_ptr_equal(out.client.data, r.h.b + s_raw_at(&r, S_F_CLIENT) + 1);
        assert_memory_equal(out.client.data, id, sizeof id);
    }
}

static void
test_msg_id(void **state)
{
    (void)state;
    for (size_t k = 0; k < S_NKINDS; k++) {
        if (!s_has_field(&s_kinds[k], S_F_MSGID))
            continue;
        s_raw_t r;
        s_raw_build(&r, s_kinds[k].side, s_kinds[k].cmd, S_F_END, NULL, 0);
        size_t at = s_raw_at(&r, S_F_MSGID);
        assert_int_equal(at, S_FIXED_LEN); /* the first field */
        /* Header ending inside the msg_id (the old "15 bytes") or before
         * it (the old empty frame). */
        assert_int_equal(s_raw_decode_cut(&r, at + 15), XGW_ETRUNC);
        assert_int_equal(s_raw_decode_cut(&r, at + 1), XGW_ETRUNC);
        assert_int_equal(s_raw_decode_cut(&r, at), XGW_ETRUNC);
        /* Any 16 bytes are a msg_id. */
        const uint8_t fills[] = {0x00, 0xff, 0x20};
        for (size_t i = 0; i < sizeof fills; i++) {
            xgw_gwp_t m;
            s_template(&m, s_kinds[k].side, s_kinds[k].cmd);
            memset(m.msg_id, fills[i], sizeof m.msg_id);
            s_raw_build_m(&r, &m, S_F_END, NULL, 0);
            xgw_gwp_t out;
            assert_int_equal(s_decode_exact(m.side, r.f, r.n, S_MAX_BODY, &out), 0);
            assert_memory_equal(out.msg_id, m.msg_id, XGW_GWP_MSGID_LEN);
        }
    }
}

static void
test_affinity(void **state)
{
    (void)state;
    char a[255];
    memset(a, 'k', sizeof a);
    const xgw_gwp_side_t sides[] = {XGW_GWP_CLIENT, XGW_GWP_WORKER};
    for (size_t k = 0; k < 2; k++) {
        xgw_gwp_side_t sd = sides[k];
        xgw_gwp_cmd_t c = XGW_GWP_REQUEST;
        assert_int_equal(s_with_str(sd, c, S_F_AFFINITY, a, 0), 0);
        assert_int_equal(s_with_str(sd, c, S_F_AFFINITY, a, 255), 0);
        assert_int_equal(s_with_str(sd, c, S_F_AFFINITY, "alice bob", 9), XGW_EINVAL);
        assert_int_equal(s_with_str(sd, c, S_F_AFFINITY, "alice\tbob", 9), XGW_EINVAL);
        assert_int_equal(s_with_str(sd, c, S_F_AFFINITY, "alice\nbob", 9), XGW_EINVAL);
        assert_int_equal(s_with_str(sd, c, S_F_AFFINITY, "alice\x01", 6), XGW_EINVAL);
        assert_int_equal(s_with_str(sd, c, S_F_AFFINITY, "alice\x7f", 6), XGW_EINVAL);
        assert_int_equal(s_with_str(sd, c, S_F_AFFINITY, "alice\x80", 6), XGW_EINVAL);
        assert_int_equal(s_with_str(sd, c, S_F_AFFINITY, "a\0b", 3), XGW_EINVAL);
        assert_int_equal(s_with_str(sd, c, S_F_AFFINITY, "\0", 1), XGW_EINVAL);
        assert_int_equal(s_with_str(sd, c, S_F_AFFINITY, "!~", 2), 0);
        /* The decoded copy is NUL-terminated at the field's length. */
        xgw_gwp_t m;
        s_template(&m, sd, c);
        memcpy(m.affinity, a, sizeof a);
        m.affinity[XGW_GWP_AFFINITY_MAX] = '\0';
        s_raw_t r;
        s_raw_build_m(&r, &m, S_F_END, NULL, 0);
        xgw_gwp_t out;
        assert_int_equal(s_decode_exact(sd, r.f, r.n, S_MAX_BODY, &out), 0);
        assert_int_equal(strlen(out.affinity), 255);
    }
}

static void
test_deadline(void **state)
{
    (void)state;
    const uint8_t zero[8] = {0};
    const uint8_t neg[8] = {0x80, 0, 0, 0, 0, 0, 0, 1};
    const uint8_t top[8] = {0x80, 0, 0, 0, 0, 0, 0, 0};
    const uint8_t allff[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    const uint8_t maxpos[8] = {0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    const xgw_gwp_side_t sides[] = {XGW_GWP_CLIENT, XGW_GWP_WORKER};
    for (size_t k = 0; k < 2; k++) {
        xgw_gwp_side_t sd = sides[k];
        xgw_gwp_cmd_t c = XGW_GWP_REQUEST;
        assert_int_equal(s_with(sd, c, S_F_DEADLINE, neg, 8), XGW_EINVAL);
        assert_int_equal(s_with(sd, c, S_F_DEADLINE, top, 8), XGW_EINVAL);
        assert_int_equal(s_with(sd, c, S_F_DEADLINE, allff, 8), XGW_EINVAL);
        assert_int_equal(s_with(sd, c, S_F_DEADLINE, maxpos, 8), 0);
        assert_int_equal(s_with(sd, c, S_F_DEADLINE, zero, 8), 0);
        /* Header ending inside the deadline (the old 7-byte and empty
         * frames). */
        s_raw_t r;
        s_raw_build(&r, sd, c, S_F_END, NULL, 0);
        size_t at = s_raw_at(&r, S_F_DEADLINE);
        assert_int_equal(at, S_FIXED_LEN + XGW_GWP_MSGID_LEN);
        assert_int_equal(s_raw_decode_cut(&r, at + 7), XGW_ETRUNC);
        assert_int_equal(s_raw_decode_cut(&r, at), XGW_ETRUNC);
        xgw_gwp_t out;
        s_raw_build(&r, sd, c, S_F_DEADLINE, maxpos, 8);
        assert_int_equal(s_decode_exact(sd, r.f, r.n, S_MAX_BODY, &out), 0);
        assert_true(out.deadline_ms == INT64_MAX);
    }
}

static void
test_status(void **state)
{
    (void)state;
    const uint8_t s99[2] = {0, 99};
    const uint8_t s100[2] = {0, 100};
    const uint8_t s699[2] = {0x02, 0xbb};
    const uint8_t s700[2] = {0x02, 0xbc};
    const uint8_t s0[2] = {0, 0};
    const uint8_t sff[2] = {0xff, 0xff};
    const uint8_t s_le[2] = {0xc8, 0x00}; /* 200 little-endian = 51200 */
    const xgw_gwp_side_t sides[] = {XGW_GWP_CLIENT, XGW_GWP_WORKER};
    for (size_t k = 0; k < 2; k++) {
        xgw_gwp_side_t sd = sides[k];
        xgw_gwp_cmd_t c = XGW_GWP_FINAL;
        assert_int_equal(s_with(sd, c, S_F_STATUS, s99, 2), XGW_EINVAL);
        assert_int_equal(s_with(sd, c, S_F_STATUS, s700, 2), XGW_EINVAL);
        assert_int_equal(s_with(sd, c, S_F_STATUS, s0, 2), XGW_EINVAL);
        assert_int_equal(s_with(sd, c, S_F_STATUS, sff, 2), XGW_EINVAL);
        assert_int_equal(s_with(sd, c, S_F_STATUS, s_le, 2), XGW_EINVAL);
        assert_int_equal(s_with(sd, c, S_F_STATUS, s100, 2), 0);
        assert_int_equal(s_with(sd, c, S_F_STATUS, s699, 2), 0);
        /* Header ending inside the status or before it. */
        s_raw_t r;
        s_raw_build(&r, sd, c, S_F_END, NULL, 0);
        size_t at = s_raw_at(&r, S_F_STATUS);
        assert_int_equal(at, S_FIXED_LEN + XGW_GWP_MSGID_LEN);
        assert_int_equal(s_raw_decode_cut(&r, at + 1), XGW_ETRUNC);
        assert_int_equal(s_raw_decode_cut(&r, at), XGW_ETRUNC);
        xgw_gwp_t out;
        s_raw_build(&r, sd, c, S_F_STATUS, s699, 2);
        assert_int_equal(s_decode_exact(sd, r.f, r.n, S_MAX_BODY, &out), 0);
        assert_int_equal(out.status, 699);
    }
}

static void
test_body_limit(void **state)
{
    (void)state;
    static uint8_t body[S_MAX_BODY + 1];
    memset(body, 0xee, sizeof body);
    for (size_t k = 0; k < S_NKINDS; k++) {
        if (s_kinds[k].frames != 2)
            continue;
        s_raw_t r;
        s_raw_build(&r, s_kinds[k].side, s_kinds[k].cmd, S_F_END, NULL, 0);
        r.f[1] = (xgw_gwp_view_t){body, S_MAX_BODY};
        assert_int_equal(s_raw_decode(&r), 0);
        r.f[1].size = S_MAX_BODY + 1;
        assert_int_equal(s_raw_decode(&r), XGW_ETOOBIG);
        /* max_body 0 admits only empty bodies. */
        r.f[1].size = 1;
        assert_int_equal(s_decode_exact(r.m.side, r.f, r.n, 0, NULL), XGW_ETOOBIG);
        r.f[1].size = 0;
        assert_int_equal(s_decode_exact(r.m.side, r.f, r.n, 0, NULL), 0);
        /* The header does not count towards max_body. */
        assert_true(r.h.n > 0);
        r.f[1].size = 1;
        assert_int_equal(s_decode_exact(r.m.side, r.f, r.n, 1, NULL), 0);
    }
}

static void
test_credit(void **state)
{
    (void)state;
    const uint8_t c_max[4] = {0x00, 0x0f, 0x42, 0x40};  /* 1,000,000 */
    const uint8_t c_over[4] = {0x00, 0x0f, 0x42, 0x41}; /* 1,000,001 */
    const uint8_t c_huge[4] = {0xff, 0xff, 0xff, 0xff};
    const uint8_t c_le[4] = {0x40, 0x42, 0x0f, 0x00}; /* 1,000,000 little-endian */
    const uint8_t c0[4] = {0};
    const xgw_gwp_cmd_t cmds[] = {XGW_GWP_READY, XGW_GWP_CREDIT};
    for (size_t k = 0; k < 2; k++) {
        xgw_gwp_side_t sd = XGW_GWP_WORKER;
        assert_int_equal(s_with(sd, cmds[k], S_F_CREDIT, c_max, 4), 0);
        assert_int_equal(s_with(sd, cmds[k], S_F_CREDIT, c0, 4), 0);
        assert_int_equal(s_with(sd, cmds[k], S_F_CREDIT, c_over, 4), XGW_ERANGE);
        assert_int_equal(s_with(sd, cmds[k], S_F_CREDIT, c_huge, 4), XGW_ERANGE);
        assert_int_equal(s_with(sd, cmds[k], S_F_CREDIT, c_le, 4), XGW_ERANGE);
        /* Header ending inside the credit (the old 3-byte and empty
         * frames). */
        s_raw_t r;
        s_raw_build(&r, sd, cmds[k], S_F_END, NULL, 0);
        size_t at = s_raw_at(&r, S_F_CREDIT);
        assert_int_equal(at, S_FIXED_LEN);
        assert_int_equal(s_raw_decode_cut(&r, at + 3), XGW_ETRUNC);
        assert_int_equal(s_raw_decode_cut(&r, at), XGW_ETRUNC);
        xgw_gwp_t out;
        s_raw_build(&r, sd, cmds[k], S_F_CREDIT, c_max, 4);
        assert_int_equal(s_decode_exact(sd, r.f, r.n, S_MAX_BODY, &out), 0);
        assert_int_equal(out.credit, 1000000);
    }
}

static void
test_instance(void **state)
{
    (void)state;
    char inst[255];
    memset(inst, 'i', sizeof inst);
    xgw_gwp_side_t sd = XGW_GWP_WORKER;
    xgw_gwp_cmd_t c = XGW_GWP_READY;
    assert_int_equal(s_with_str(sd, c, S_F_INSTANCE, "", 0), XGW_EINVAL);
    assert_int_equal(s_with_str(sd, c, S_F_INSTANCE, inst, 1), 0);
    assert_int_equal(s_with_str(sd, c, S_F_INSTANCE, inst, 64), 0);
    assert_int_equal(s_with_str(sd, c, S_F_INSTANCE, inst, 65), XGW_ETOOBIG);
    assert_int_equal(s_with_str(sd, c, S_F_INSTANCE, inst, 255), XGW_ETOOBIG);
    assert_int_equal(s_with_str(sd, c, S_F_INSTANCE, "xmppd 01", 8), XGW_EINVAL);
    assert_int_equal(s_with_str(sd, c, S_F_INSTANCE, "xmppd\x1f", 6), XGW_EINVAL);
    assert_int_equal(s_with_str(sd, c, S_F_INSTANCE, "xmppd\0", 6), XGW_EINVAL);
    assert_int_equal(s_with_str(sd, c, S_F_INSTANCE, "XMPPD.01!", 9), 0);
    xgw_gwp_t m;
    s_template(&m, sd, c);
    memcpy(m.instance, inst, XGW_GWP_INSTANCE_MAX);
    m.instance[XGW_GWP_INSTANCE_MAX] = '\0';
    s_raw_t r;
    s_raw_build_m(&r, &m, S_F_END, NULL, 0);
    xgw_gwp_t out;
    assert_int_equal(s_decode_exact(sd, r.f, r.n, S_MAX_BODY, &out), 0);
    assert_int_equal(strlen(out.instance), XGW_GWP_INSTANCE_MAX);
}

/* ---- mutations ----------------------------------------------------------- */

static uint64_t
s_rand(uint64_t *s)
{
    /* xorshift64*: deterministic, so a failure reproduces. */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

/* Random damage to valid headers: the decoder answers one of its codes,
 * never reads past the frame (ASan), and whatever it accepts re-encodes to
 * the very same bytes (one encoding per message: nothing ignored). */
static void
test_mutations(void **state)
{
    (void)state;
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    for (size_t k = 0; k < S_NKINDS; k++) {
        for (int round = 0; round < 3000; round++) {
            s_raw_t r;
            s_raw_build(&r, s_kinds[k].side, s_kinds[k].cmd, S_F_END, NULL, 0);
            int edits = 1 + (int)(s_rand(&seed) % 3);
            for (int i = 0; i < edits; i++) {
                uint64_t x = s_rand(&seed);
                if (r.h.n == 0)
                    break;
                size_t pos = (size_t)(x % r.h.n);
                switch ((x >> 32) % 4) {
                case 0: /* a random byte past the signature */
                    if (pos >= S_SIG_LEN)
                        r.h.b[pos] = (uint8_t)(x >> 40);
                    break;
                case 1: /* flip a bit */
                    r.h.b[pos] ^= (uint8_t)(1u << ((x >> 40) % 8));
                    break;
                case 2: /* cut */
                    r.h.n = pos;
                    break;
                default: /* append */
                    if (r.h.n < sizeof r.h.b)
                        r.h.b[r.h.n++] = (uint8_t)(x >> 40);
                    break;
                }
            }
            r.f[0].size = r.h.n;
            xgw_gwp_t out;
            int rc = s_decode_exact(r.m.side, r.f, r.n, S_MAX_BODY, &out);
            if (rc != 0 && rc != XGW_ETRUNC && rc != XGW_EPROTO && rc != XGW_ETOOBIG &&
                rc != XGW_EINVAL && rc != XGW_ERANGE)
                fail_msg("kind %zu round %d: code %d", k, round, rc);
            if (rc != 0)
                continue;
            if (r.h.n < S_FIXED_LEN)
                fail_msg("kind %zu round %d: %zu-byte header accepted", k, round, r.h.n);
            /* A different command byte may have come out valid: encode
             * what was decoded, with the body it was given. */
            s_enc_t e;
            s_encode_m(&e, &out);
            assert_int_equal(e.n, (int)r.n);
            if (e.f[0].size != r.h.n || memcmp(e.f[0].data, r.h.b, r.h.n) != 0)
                fail_msg("kind %zu round %d: accepted header re-encodes differently", k, round);
            assert_int_equal(xgw_gwp_validate(&out, S_MAX_BODY), 0);
        }
    }
}

/* ---- validate ---------------------------------------------------------- */

static void
test_validate(void **state)
{
    (void)state;
    xgw_gwp_t m;
    for (size_t k = 0; k < S_NKINDS; k++) {
        s_template(&m, s_kinds[k].side, s_kinds[k].cmd);
        assert_int_equal(xgw_gwp_validate(&m, S_MAX_BODY), 0);
    }
    s_template(&m, XGW_GWP_CLIENT, XGW_GWP_REQUEST);
    m.service[0] = '\0';
    assert_int_equal(xgw_gwp_validate(&m, S_MAX_BODY), XGW_EINVAL);
    s_template(&m, XGW_GWP_CLIENT, XGW_GWP_REQUEST);
    memcpy(m.service, "Upper", sizeof "Upper");
    assert_int_equal(xgw_gwp_validate(&m, S_MAX_BODY), XGW_EINVAL);
    s_template(&m, XGW_GWP_CLIENT, XGW_GWP_REQUEST);
    memset(m.service, 'a', XGW_GWP_SERVICE_MAX);
    m.service[XGW_GWP_SERVICE_MAX] = '\0';
    assert_int_equal(xgw_gwp_validate(&m, S_MAX_BODY), 0);
    s_template(&m, XGW_GWP_CLIENT, XGW_GWP_REQUEST);
    memcpy(m.affinity, "has space", sizeof "has space");
    assert_int_equal(xgw_gwp_validate(&m, S_MAX_BODY), XGW_EINVAL);
    s_template(&m, XGW_GWP_CLIENT, XGW_GWP_REQUEST);
    memset(m.affinity, 'x', XGW_GWP_AFFINITY_MAX);
    m.affinity[XGW_GWP_AFFINITY_MAX] = '\0';
    assert_int_equal(xgw_gwp_validate(&m, S_MAX_BODY), 0);
    s_template(&m, XGW_GWP_CLIENT, XGW_GWP_REQUEST);
    m.deadline_ms = -1;
    assert_int_equal(xgw_gwp_validate(&m, S_MAX_BODY), XGW_EINVAL);
    s_template(&m, XGW_GWP_CLIENT, XGW_GWP_REQUEST);
    m.deadline_ms = INT64_MIN;
    assert_int_equal(xgw_gwp_validate(&m, S_MAX_BODY), XGW_EINVAL);
    s_template(&m, XGW_GWP_CLIENT, XGW_GWP_REQUEST);
    assert_int_equal(xgw_gwp_validate(&m, 5), XGW_ETOOBIG);
    assert_int_equal(xgw_gwp_validate(&m, 10), 0);
    s_template(&m, XGW_GWP_CLIENT, XGW_GWP_FINAL);
    m.status = 99;
    assert_int_equal(xgw_gwp_validate(&m, S_MAX_BODY), XGW_EINVAL);
    m.status = 700;
    assert_int_equal(xgw_gwp_validate(&m, S_MAX_BODY), XGW_EINVAL);
    s_template(&m, XGW_GWP_WORKER, XGW_GWP_FINAL);
    m.client = (xgw_gwp_view_t){NULL, 0};
    assert_int_equal(xgw_gwp_validate(&m, S_MAX_BODY), XGW_EINVAL);
    s_template(&m, XGW_GWP_WORKER, XGW_GWP_REQUEST);
    m.client.size = 256;
    m.client.data = (const uint8_t *)calloc(1, 256);
    assert_non_null(m.client.data);
    assert_int_equal(xgw_gwp_validate(&m, S_MAX_BODY), XGW_ETOOBIG);
    m.client.size = 255;
    assert_int_equal(xgw_gwp_validate(&m, S_MAX_BODY), 0);
    free((void *)m.client.data);
    s_template(&m, XGW_GWP_WORKER, XGW_GWP_READY);
    m.credit = XGW_GWP_CREDIT_MAX + 1;
    assert_int_equal(xgw_gwp_validate(&m, S_MAX_BODY), XGW_ERANGE);
    s_template(&m, XGW_GWP_WORKER, XGW_GWP_READY);
    m.instance[0] = '\0';
    assert_int_equal(xgw_gwp_validate(&m, S_MAX_BODY), XGW_EINVAL);
    s_template(&m, XGW_GWP_WORKER, XGW_GWP_READY);
    memset(m.instance, 'i', XGW_GWP_INSTANCE_MAX);
    m.instance[XGW_GWP_INSTANCE_MAX] = '\0';
    assert_int_equal(xgw_gwp_validate(&m, S_MAX_BODY), 0);
    s_template(&m, XGW_GWP_WORKER, XGW_GWP_CREDIT);
    m.credit = UINT32_MAX;
    assert_int_equal(xgw_gwp_validate(&m, S_MAX_BODY), XGW_ERANGE);
    /* Fields a command does not carry are not looked at. */
    s_template(&m, XGW_GWP_WORKER, XGW_GWP_HEARTBEAT);
    m.credit = UINT32_MAX;
    m.status = 1;
    m.deadline_ms = -5;
    m.body = (xgw_gwp_view_t){(const uint8_t *)"ignored", 7};
    assert_int_equal(xgw_gwp_validate(&m, 0), 0);
    s_template(&m, XGW_GWP_WORKER, XGW_GWP_CREDIT);
    m.service[0] = '\0';
    m.instance[0] = '\0';
    m.client = (xgw_gwp_view_t){NULL, 0};
    assert_int_equal(xgw_gwp_validate(&m, S_MAX_BODY), 0);
}

/* ---- helpers ----------------------------------------------------------- */

static void
test_msgid_hex(void **state)
{
    (void)state;
    uint8_t id[XGW_GWP_MSGID_LEN];
    for (int i = 0; i < XGW_GWP_MSGID_LEN; i++)
        id[i] = (uint8_t)(i * 17);
    char hex[33];
    memset(hex, 'Z', sizeof hex);
    xgw_gwp_msgid_hex(id, hex);
    assert_string_equal(hex, "00112233445566778899aabbccddeeff");
    memset(id, 0, sizeof id);
    id[15] = 0x0a;
    id[0] = 0xf0;
    xgw_gwp_msgid_hex(id, hex);
    assert_string_equal(hex, "f000000000000000000000000000000a");
    assert_int_equal(strlen(hex), 32);
}

static void
test_msgid_new(void **state)
{
    (void)state;
    uint8_t a[XGW_GWP_MSGID_LEN], b[XGW_GWP_MSGID_LEN];
    assert_int_equal(xgw_gwp_msgid_new(a), 0);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(xgw_gwp_msgid_new(b), 0);
        assert_memory_not_equal(a, b, XGW_GWP_MSGID_LEN);
        memcpy(a, b, sizeof a);
    }
}

static void
test_cmd_names(void **state)
{
    (void)state;
    assert_string_equal(xgw_gwp_cmd_name(XGW_GWP_REQUEST), "REQUEST");
    assert_string_equal(xgw_gwp_cmd_name(XGW_GWP_FINAL), "FINAL");
    assert_string_equal(xgw_gwp_cmd_name(XGW_GWP_HEARTBEAT), "HEARTBEAT");
    assert_string_equal(xgw_gwp_cmd_name(XGW_GWP_READY), "READY");
    assert_string_equal(xgw_gwp_cmd_name(XGW_GWP_DISCONNECT), "DISCONNECT");
    assert_string_equal(xgw_gwp_cmd_name(XGW_GWP_CREDIT), "CREDIT");
    assert_string_equal(xgw_gwp_cmd_name((xgw_gwp_cmd_t)0), "UNKNOWN");
    assert_string_equal(xgw_gwp_cmd_name((xgw_gwp_cmd_t)77), "UNKNOWN");
}

static void
test_now_ms(void **state)
{
    (void)state;
    int64_t a = xgw_gwp_now_ms();
    assert_true(a > 1600000000000LL); /* after 2020 */
    assert_true(xgw_gwp_now_ms() >= a);
}

/* ---- sockets ----------------------------------------------------------- */

/* Waits up to 2 s for input on a libzmq socket. */
static void
s_wait_in(void *handle)
{
    zmq_pollitem_t item = {handle, 0, ZMQ_POLLIN, 0};
    assert_int_equal(zmq_poll(&item, 1, 2000), 1);
}

typedef struct {
    zsock_t *router;
    zsock_t *dealer;
    void *rh;
    void *dh;
} s_pair_t;

static void
s_pair_open(s_pair_t *p, const char *endpoint)
{
    p->router = zsock_new(ZMQ_ROUTER);
    p->dealer = zsock_new(ZMQ_DEALER);
    assert_non_null(p->router);
    assert_non_null(p->dealer);
    zsock_set_router_mandatory(p->router, 1);
    zsock_set_linger(p->router, 0);
    zsock_set_linger(p->dealer, 0);
    zsock_set_identity(p->dealer, "dealer-1");
    assert_true(zsock_bind(p->router, "%s", endpoint) == 0);
    assert_int_equal(zsock_connect(p->dealer, "%s", endpoint), 0);
    p->rh = zsock_resolve(p->router);
    p->dh = zsock_resolve(p->dealer);
}

static void
s_pair_close(s_pair_t *p)
{
    zsock_destroy(&p->dealer);
    zsock_destroy(&p->router);
}

static void
test_io_round_trip(void **state)
{
    (void)state;
    s_pair_t p;
    s_pair_open(&p, "inproc://test-gwp-io-rt");

    xgw_gwp_inbox_t inbox;
    xgw_gwp_t out;
    /* Nothing there yet. */
    assert_int_equal(xgw_gwp_recv(p.rh, 1, XGW_GWP_CLIENT, S_MAX_BODY, &inbox, &out), XGW_EAGAIN);
    assert_int_equal(inbox.count, 0);
    assert_int_equal(xgw_gwp_recv(p.dh, 0, XGW_GWP_CLIENT, S_MAX_BODY, &inbox, &out), XGW_EAGAIN);

    /* DEALER -> ROUTER: a client REQUEST, header and body. */
    xgw_gwp_t m;
    s_template(&m, XGW_GWP_CLIENT, XGW_GWP_REQUEST);
    assert_int_equal(xgw_gwp_send(p.dh, NULL, &m), 0);
    s_wait_in(p.rh);
    assert_int_equal(xgw_gwp_recv(p.rh, 1, XGW_GWP_CLIENT, S_MAX_BODY, &inbox, &out), 0);
    assert_int_equal(inbox.routing_id.size, strlen("dealer-1"));
    assert_memory_equal(inbox.routing_id.data, "dealer-1", strlen("dealer-1"));
    assert_int_equal(inbox.received, 3);
    s_assert_same(&m, &out);
    /* On the wire: exactly the hand-built header, then the body. */
    s_raw_t r;
    s_raw_build_m(&r, &m, S_F_END, NULL, 0);
    assert_int_equal(zmq_msg_size(&inbox.parts[1]), r.h.n);
    assert_memory_equal(zmq_msg_data(&inbox.parts[1]), r.h.b, r.h.n);
    assert_int_equal(zmq_msg_size(&inbox.parts[2]), m.body.size);
    assert_ptr_equal(out.body.data, zmq_msg_data(&inbox.parts[2]));

    /* ROUTER -> DEALER: the FINAL, addressed with the routing id. */
    xgw_gwp_t fin;
    s_template(&fin, XGW_GWP_CLIENT, XGW_GWP_FINAL);
    memcpy(fin.msg_id, out.msg_id, sizeof fin.msg_id);
    assert_int_equal(xgw_gwp_send(p.rh, &inbox.routing_id, &fin), 0);
    xgw_gwp_inbox_close(&inbox);
    xgw_gwp_inbox_close(&inbox); /* idempotent */
    s_wait_in(p.dh);
    assert_int_equal(xgw_gwp_recv(p.dh, 0, XGW_GWP_CLIENT, S_MAX_BODY, &inbox, &out), 0);
    assert_int_equal(inbox.routing_id.size, 0);
    assert_int_equal(inbox.received, 2);
    s_assert_same(&fin, &out);
    xgw_gwp_inbox_close(&inbox);

    /* Worker side over the same pair: READY is one frame. */
    xgw_gwp_t ready;
    s_template(&ready, XGW_GWP_WORKER, XGW_GWP_READY);
    assert_int_equal(xgw_gwp_send(p.dh, NULL, &ready), 0);
    s_wait_in(p.rh);
    assert_int_equal(xgw_gwp_recv(p.rh, 1, XGW_GWP_WORKER, S_MAX_BODY, &inbox, &out), 0);
    assert_int_equal(inbox.received, 2);
    s_assert_same(&ready, &out);
    xgw_gwp_inbox_close(&inbox);

    /* A worker REQUEST carrying the client id in its header. */
    xgw_gwp_t wreq;
    s_template(&wreq, XGW_GWP_WORKER, XGW_GWP_REQUEST);
    assert_int_equal(xgw_gwp_send(p.rh, &(xgw_gwp_view_t){(const uint8_t *)"dealer-1", 8}, &wreq),
                     0);
    s_wait_in(p.dh);
    assert_int_equal(xgw_gwp_recv(p.dh, 0, XGW_GWP_WORKER, S_MAX_BODY, &inbox, &out), 0);
    assert_int_equal(inbox.received, 2);
    s_assert_same(&wreq, &out);
    xgw_gwp_inbox_close(&inbox);

    /* An invalid command is refused before anything is sent. */
    ready.credit = XGW_GWP_CREDIT_MAX + 1;
    ready.side = XGW_GWP_CLIENT;
    assert_int_equal(xgw_gwp_send(p.dh, NULL, &ready), XGW_EINVAL);
    static uint8_t long_id[300];
    wreq.client = (xgw_gwp_view_t){long_id, sizeof long_id};
    assert_int_equal(xgw_gwp_send(p.dh, NULL, &wreq), XGW_EINVAL);
    assert_int_equal(xgw_gwp_recv(p.rh, 1, XGW_GWP_WORKER, S_MAX_BODY, &inbox, &out), XGW_EAGAIN);

    /* ROUTER_MANDATORY: an unknown peer. */
    xgw_gwp_view_t nobody = {(const uint8_t *)"nobody", 6};
    assert_int_equal(xgw_gwp_send(p.rh, &nobody, &fin), XGW_ENOENT);
    assert_int_equal(xgw_gwp_recv(p.dh, 0, XGW_GWP_CLIENT, S_MAX_BODY, &inbox, &out), XGW_EAGAIN);

    s_pair_close(&p);
}

/* Sends n raw frames: a client HEARTBEAT header, then n - 1 copies of "x". */
static void
s_send_raw(void *handle, int n)
{
    for (int i = 0; i < n; i++) {
        int flags = i + 1 < n ? ZMQ_SNDMORE : 0;
        int rc =
            i == 0 ? zmq_send(handle, "GWPC01\x04", 7, flags) : zmq_send(handle, "x", 1, flags);
        assert_true(rc >= 0);
    }
}

/* Sends the given frames as one message. */
static void
s_send_frames(void *handle, const xgw_gwp_view_t *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int flags = i + 1 < n ? ZMQ_SNDMORE : 0;
        assert_true(zmq_send(handle, f[i].data, f[i].size, flags) == (int)f[i].size);
    }
}

static void
test_io_malformed(void **state)
{
    (void)state;
    s_pair_t p;
    s_pair_open(&p, "inproc://test-gwp-io-bad");
    xgw_gwp_inbox_t inbox;
    xgw_gwp_t out;

    /* 12 frames: more than any command, more than the inbox keeps. */
    s_send_raw(p.dh, 12);
    s_wait_in(p.rh);
    assert_int_equal(xgw_gwp_recv(p.rh, 1, XGW_GWP_CLIENT, S_MAX_BODY, &inbox, &out), XGW_EPROTO);
    assert_int_equal(inbox.received, 13);
    assert_int_equal(inbox.count, XGW_GWP_IO_PARTS);
    assert_int_equal(inbox.routing_id.size, strlen("dealer-1"));
    assert_memory_equal(inbox.routing_id.data, "dealer-1", strlen("dealer-1"));
    xgw_gwp_inbox_close(&inbox);
    assert_int_equal(inbox.count, 0);
    xgw_gwp_inbox_close(&inbox);

    /* The whole message was consumed: nothing is left behind. */
    assert_int_equal(xgw_gwp_recv(p.rh, 1, XGW_GWP_CLIENT, S_MAX_BODY, &inbox, &out), XGW_EAGAIN);

    /* One frame more than any command has (fits the inbox), and exactly
     * one part more than the inbox keeps. */
    s_send_raw(p.dh, XGW_GWP_MAX_FRAMES + 1);
    s_wait_in(p.rh);
    assert_int_equal(xgw_gwp_recv(p.rh, 1, XGW_GWP_CLIENT, S_MAX_BODY, &inbox, &out), XGW_EPROTO);
    assert_int_equal(inbox.received, XGW_GWP_MAX_FRAMES + 2);
    xgw_gwp_inbox_close(&inbox);
    s_send_raw(p.dh, XGW_GWP_IO_PARTS);
    s_wait_in(p.rh);
    assert_int_equal(xgw_gwp_recv(p.rh, 1, XGW_GWP_CLIENT, S_MAX_BODY, &inbox, &out), XGW_EPROTO);
    assert_int_equal(inbox.received, XGW_GWP_IO_PARTS + 1);
    assert_int_equal(inbox.count, XGW_GWP_IO_PARTS);
    xgw_gwp_inbox_close(&inbox);

    /* Truncated: a whole REQUEST header without its body ... */
    s_raw_t r;
    s_raw_build(&r, XGW_GWP_CLIENT, XGW_GWP_REQUEST, S_F_END, NULL, 0);
    s_send_frames(p.dh, r.f, 1);
    s_wait_in(p.rh);
    assert_int_equal(xgw_gwp_recv(p.rh, 1, XGW_GWP_CLIENT, S_MAX_BODY, &inbox, &out), XGW_ETRUNC);
    assert_int_equal(inbox.routing_id.size, strlen("dealer-1"));
    xgw_gwp_inbox_close(&inbox);
    /* ... a header cut inside the msg_id, with a body ... */
    xgw_gwp_view_t cut[2] = {{r.h.b, S_FIXED_LEN + 15}, r.f[1]};
    s_send_frames(p.dh, cut, 2);
    s_wait_in(p.rh);
    assert_int_equal(xgw_gwp_recv(p.rh, 1, XGW_GWP_CLIENT, S_MAX_BODY, &inbox, &out), XGW_ETRUNC);
    xgw_gwp_inbox_close(&inbox);
    /* ... a bare signature. */
    s_send_frames(p.dh, &(xgw_gwp_view_t){(const uint8_t *)"GWPC01", 6}, 1);
    s_wait_in(p.rh);
    assert_int_equal(xgw_gwp_recv(p.rh, 1, XGW_GWP_CLIENT, S_MAX_BODY, &inbox, &out), XGW_ETRUNC);
    xgw_gwp_inbox_close(&inbox);

    /* A byte left over after the HEARTBEAT header. */
    s_send_frames(p.dh, &(xgw_gwp_view_t){(const uint8_t *)"GWPC01\x04\x00", 8}, 1);
    s_wait_in(p.rh);
    assert_int_equal(xgw_gwp_recv(p.rh, 1, XGW_GWP_CLIENT, S_MAX_BODY, &inbox, &out), XGW_EPROTO);
    xgw_gwp_inbox_close(&inbox);

    /* A well-formed HEARTBEAT still gets through afterwards. */
    s_send_raw(p.dh, 1);
    s_wait_in(p.rh);
    assert_int_equal(xgw_gwp_recv(p.rh, 1, XGW_GWP_CLIENT, S_MAX_BODY, &inbox, &out), 0);
    assert_int_equal(out.cmd, XGW_GWP_HEARTBEAT);
    xgw_gwp_inbox_close(&inbox);
    /* So does a hand-built REQUEST. */
    s_send_frames(p.dh, r.f, 2);
    s_wait_in(p.rh);
    assert_int_equal(xgw_gwp_recv(p.rh, 1, XGW_GWP_CLIENT, S_MAX_BODY, &inbox, &out), 0);
    s_assert_same(&r.m, &out);
    xgw_gwp_inbox_close(&inbox);

    /* On the DEALER side (no routing id) too many frames are refused. */
    for (int i = 0; i < 12; i++) {
        const char *rid = "dealer-1";
        if (i == 0)
            assert_true(zmq_send(p.rh, rid, strlen(rid), ZMQ_SNDMORE) >= 0);
        assert_true(zmq_send(p.rh, i == 0 ? "GWPC01\x04" : "x", i == 0 ? 7 : 1,
                             i + 1 < 12 ? ZMQ_SNDMORE : 0) >= 0);
    }
    s_wait_in(p.dh);
    assert_int_equal(xgw_gwp_recv(p.dh, 0, XGW_GWP_CLIENT, S_MAX_BODY, &inbox, &out), XGW_EPROTO);
    assert_int_equal(inbox.received, 12);
    assert_int_equal(inbox.routing_id.size, 0);
    xgw_gwp_inbox_close(&inbox);
    assert_int_equal(xgw_gwp_recv(p.dh, 0, XGW_GWP_CLIENT, S_MAX_BODY, &inbox, &out), XGW_EAGAIN);

    s_pair_close(&p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        /* round trips and encoding */
        cmocka_unit_test(test_round_trip_all),
        cmocka_unit_test(test_wire_bytes),
        cmocka_unit_test(test_field_encoding),
        cmocka_unit_test(test_empty_fields_ok),
        cmocka_unit_test(test_header_max),
        /* frame counts, headers cut short or too long */
        cmocka_unit_test(test_truncated_frames),
        cmocka_unit_test(test_extra_frames),
        cmocka_unit_test(test_short_header),
        cmocka_unit_test(test_truncated_header),
        cmocka_unit_test(test_length_overrun),
        cmocka_unit_test(test_trailing_bytes),
        /* signature and command */
        cmocka_unit_test(test_bad_signature),
        cmocka_unit_test(test_bad_command),
        cmocka_unit_test(test_frames_refuses),
        /* fields */
        cmocka_unit_test(test_service),
        cmocka_unit_test(test_length_byte_over_limit),
        cmocka_unit_test(test_client_route),
        cmocka_unit_test(test_msg_id),
        cmocka_unit_test(test_affinity),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_credit),
        cmocka_unit_test(test_instance),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_validate),
        /* helpers */
        cmocka_unit_test(test_msgid_hex),
        cmocka_unit_test(test_msgid_new),
        cmocka_unit_test(test_cmd_names),
        cmocka_unit_test(test_now_ms),
        /* sockets */
        cmocka_unit_test(test_io_round_trip),
        cmocka_unit_test(test_io_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
