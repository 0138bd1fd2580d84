/*
 * test_gwp.c - GWP/1 frame codec (xgw_gwp) and its socket layer (xgw_gwp_io):
 * round trips of every command on both sides, every rejection with its exact
 * code, validate, msg_id helpers, and real DEALER/ROUTER sockets.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <czmq.h>
#include <string.h>

#include "xgw_error.h"
#include "xgw_gwp.h"
#include "xgw_gwp_io.h"

#define S_MAX_BODY 1024

static const uint8_t s_client_id[] = {0x00, 0x6b, 0x8b, 0x45, 0x67}; /* ROUTER ids are binary */

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

typedef struct {
    xgw_gwp_side_t side;
    xgw_gwp_cmd_t cmd;
    int frames;
} s_kind_t;

static const s_kind_t s_kinds[] = {
    {XGW_GWP_CLIENT, XGW_GWP_REQUEST, 7},   {XGW_GWP_CLIENT, XGW_GWP_FINAL, 6},
    {XGW_GWP_CLIENT, XGW_GWP_HEARTBEAT, 2}, {XGW_GWP_WORKER, XGW_GWP_READY, 5},
    {XGW_GWP_WORKER, XGW_GWP_REQUEST, 7},   {XGW_GWP_WORKER, XGW_GWP_FINAL, 6},
    {XGW_GWP_WORKER, XGW_GWP_HEARTBEAT, 2}, {XGW_GWP_WORKER, XGW_GWP_DISCONNECT, 2},
    {XGW_GWP_WORKER, XGW_GWP_CREDIT, 3},
};
#define S_NKINDS (sizeof s_kinds / sizeof s_kinds[0])

/* Encodes a template into frames (room for extras after it). */
typedef struct {
    xgw_gwp_t m;
    uint8_t scratch[16];
    xgw_gwp_view_t f[16];
    int n;
} s_enc_t;

static void
s_encode(s_enc_t *e, xgw_gwp_side_t side, xgw_gwp_cmd_t cmd)
{
    memset(e, 0, sizeof *e);
    s_template(&e->m, side, cmd);
    e->n = xgw_gwp_frames(&e->m, e->scratch, e->f);
    assert_true(e->n >= 2);
}

/* Decodes e's frames, with frame idx replaced by (data, size). */
static int
s_decode_with(s_enc_t *e, int idx, const void *data, size_t size)
{
    xgw_gwp_view_t f[16];
    memcpy(f, e->f, sizeof f);
    f[idx].data = data;
    f[idx].size = size;
    xgw_gwp_t out;
    return xgw_gwp_decode(e->m.side, f, (size_t)e->n, S_MAX_BODY, &out);
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

/* ---- round trips --------------------------------------------------------- */

static void
test_round_trip_all(void **state)
{
    (void)state;
    for (size_t k = 0; k < S_NKINDS; k++) {
        s_enc_t e;
        s_encode(&e, s_kinds[k].side, s_kinds[k].cmd);
        assert_int_equal(e.n, s_kinds[k].frames);
        assert_int_equal(e.f[0].size, 6);
        assert_memory_equal(e.f[0].data, s_kinds[k].side == XGW_GWP_CLIENT ? "GWPC01" : "GWPW01",
                            6);
        assert_int_equal(e.f[1].size, 1);
        xgw_gwp_t out;
        memset(&out, 0x5a, sizeof out);
        assert_int_equal(xgw_gwp_decode(e.m.side, e.f, (size_t)e.n, S_MAX_BODY, &out), 0);
        s_assert_same(&e.m, &out);
        /* Bodies and client ids are borrowed, not copied. */
        if (out.body.size > 0)
            assert_ptr_equal(out.body.data, e.f[e.n - 1].data);
        if (out.client.size > 0)
            assert_ptr_equal(out.client.data, e.f[2].data);
        assert_int_equal(xgw_gwp_validate(&e.m, S_MAX_BODY), 0);
    }
}

static void
test_wire_bytes(void **state)
{
    (void)state;
    /* The command bytes of proto/GWP.md. */
    static const struct {
        xgw_gwp_side_t side;
        xgw_gwp_cmd_t cmd;
        uint8_t byte;
    } bytes[] = {
        {XGW_GWP_CLIENT, XGW_GWP_REQUEST, 0x01},   {XGW_GWP_CLIENT, XGW_GWP_FINAL, 0x03},
        {XGW_GWP_CLIENT, XGW_GWP_HEARTBEAT, 0x04}, {XGW_GWP_WORKER, XGW_GWP_READY, 0x01},
        {XGW_GWP_WORKER, XGW_GWP_REQUEST, 0x02},   {XGW_GWP_WORKER, XGW_GWP_FINAL, 0x04},
        {XGW_GWP_WORKER, XGW_GWP_HEARTBEAT, 0x05}, {XGW_GWP_WORKER, XGW_GWP_DISCONNECT, 0x06},
        {XGW_GWP_WORKER, XGW_GWP_CREDIT, 0x07},
    };
    for (size_t i = 0; i < sizeof bytes / sizeof bytes[0]; i++) {
        s_enc_t e;
        s_encode(&e, bytes[i].side, bytes[i].cmd);
        assert_int_equal(e.f[1].data[0], bytes[i].byte);
    }
}

static void
test_field_encoding(void **state)
{
    (void)state;
    s_enc_t e;
    s_encode(&e, XGW_GWP_CLIENT, XGW_GWP_REQUEST);
    e.m.deadline_ms = 0x0102030405060708LL;
    e.n = xgw_gwp_frames(&e.m, e.scratch, e.f);
    static const uint8_t dl[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(e.f[5].size, 8);
    assert_memory_equal(e.f[5].data, dl, 8);
    assert_int_equal(e.f[2].size, strlen("xmpp.out-1_a"));
    assert_int_equal(e.f[3].size, XGW_GWP_MSGID_LEN);

    s_encode(&e, XGW_GWP_WORKER, XGW_GWP_FINAL);
    e.m.status = 0x1f4; /* 500 */
    e.n = xgw_gwp_frames(&e.m, e.scratch, e.f);
    assert_int_equal(e.f[4].size, 2);
    assert_int_equal(e.f[4].data[0], 0x01);
    assert_int_equal(e.f[4].data[1], 0xf4);

    s_encode(&e, XGW_GWP_WORKER, XGW_GWP_READY);
    e.m.credit = 1000000; /* 0x000f4240 */
    e.n = xgw_gwp_frames(&e.m, e.scratch, e.f);
    static const uint8_t cr[4] = {0x00, 0x0f, 0x42, 0x40};
    assert_int_equal(e.f[3].size, 4);
    assert_memory_equal(e.f[3].data, cr, 4);
}

static void
test_empty_fields_ok(void **state)
{
    (void)state;
    /* Empty affinity and empty body are valid. */
    s_enc_t e;
    s_encode(&e, XGW_GWP_CLIENT, XGW_GWP_REQUEST);
    e.m.affinity[0] = '\0';
    e.m.body = (xgw_gwp_view_t){NULL, 0};
    e.m.deadline_ms = 0;
    e.n = xgw_gwp_frames(&e.m, e.scratch, e.f);
    xgw_gwp_t out;
    assert_int_equal(xgw_gwp_decode(XGW_GWP_CLIENT, e.f, 7, S_MAX_BODY, &out), 0);
    assert_string_equal(out.affinity, "");
    assert_int_equal(out.body.size, 0);
    assert_true(out.deadline_ms == 0);

    s_encode(&e, XGW_GWP_WORKER, XGW_GWP_FINAL);
    e.m.body = (xgw_gwp_view_t){NULL, 0};
    e.n = xgw_gwp_frames(&e.m, e.scratch, e.f);
    assert_int_equal(xgw_gwp_decode(XGW_GWP_WORKER, e.f, 6, S_MAX_BODY, &out), 0);
    assert_int_equal(out.body.size, 0);

    /* Credit 0 (drain) and the largest deadline. */
    s_encode(&e, XGW_GWP_WORKER, XGW_GWP_CREDIT);
    e.m.credit = 0;
    e.n = xgw_gwp_frames(&e.m, e.scratch, e.f);
    assert_int_equal(xgw_gwp_decode(XGW_GWP_WORKER, e.f, 3, S_MAX_BODY, &out), 0);
    assert_int_equal(out.credit, 0);
    s_encode(&e, XGW_GWP_WORKER, XGW_GWP_REQUEST);
    e.m.deadline_ms = INT64_MAX;
    e.n = xgw_gwp_frames(&e.m, e.scratch, e.f);
    assert_int_equal(xgw_gwp_decode(XGW_GWP_WORKER, e.f, 7, S_MAX_BODY, &out), 0);
    assert_true(out.deadline_ms == INT64_MAX);
}

/* ---- frame counts ------------------------------------------------------- */

static void
test_truncated(void **state)
{
    (void)state;
    for (size_t k = 0; k < S_NKINDS; k++) {
        s_enc_t e;
        s_encode(&e, s_kinds[k].side, s_kinds[k].cmd);
        for (int n = 0; n < e.n; n++) {
            xgw_gwp_t out;
            int rc = xgw_gwp_decode(e.m.side, e.f, (size_t)n, S_MAX_BODY, &out);
            if (rc != XGW_ETRUNC)
                fail_msg("kind %zu with %d of %d frames: %d", k, n, e.n, rc);
        }
    }
}

static void
test_extra_frames(void **state)
{
    (void)state;
    for (size_t k = 0; k < S_NKINDS; k++) {
        s_enc_t e;
        s_encode(&e, s_kinds[k].side, s_kinds[k].cmd);
        for (int extra = 1; extra <= 16 - e.n; extra++) {
            for (int i = 0; i < extra; i++)
                e.f[e.n + i] = (xgw_gwp_view_t){(const uint8_t *)"x", 1};
            xgw_gwp_t out;
            int rc = xgw_gwp_decode(e.m.side, e.f, (size_t)(e.n + extra), S_MAX_BODY, &out);
            if (rc != XGW_EPROTO)
                fail_msg("kind %zu with %d extra frames: %d", k, extra, rc);
        }
    }
}

/* ---- signature and command --------------------------------------------- */

static void
test_bad_signature(void **state)
{
    (void)state;
    s_enc_t e;
    s_encode(&e, XGW_GWP_CLIENT, XGW_GWP_HEARTBEAT);
    assert_int_equal(s_decode_with(&e, 0, "GWPC02", 6), XGW_EPROTO);
    assert_int_equal(s_decode_with(&e, 0, "gwpc01", 6), XGW_EPROTO);
    assert_int_equal(s_decode_with(&e, 0, "GWPC0", 5), XGW_EPROTO);
    assert_int_equal(s_decode_with(&e, 0, "GWPC011", 7), XGW_EPROTO);
    assert_int_equal(s_decode_with(&e, 0, "", 0), XGW_EPROTO);
    assert_int_equal(s_decode_with(&e, 0, "MDPC01", 6), XGW_EPROTO);

    /* The other side's signature, with a command byte valid on both. */
    s_encode(&e, XGW_GWP_CLIENT, XGW_GWP_REQUEST);
    assert_int_equal(s_decode_with(&e, 0, "GWPW01", 6), XGW_EPROTO);
    s_encode(&e, XGW_GWP_WORKER, XGW_GWP_READY);
    assert_int_equal(s_decode_with(&e, 0, "GWPC01", 6), XGW_EPROTO);
    s_encode(&e, XGW_GWP_WORKER, XGW_GWP_HEARTBEAT);
    assert_int_equal(s_decode_with(&e, 0, "GWPC01", 6), XGW_EPROTO);

    /* Frames encoded for one side decoded as the other. */
    for (size_t k = 0; k < S_NKINDS; k++) {
        s_enc_t x;
        s_encode(&x, s_kinds[k].side, s_kinds[k].cmd);
        xgw_gwp_side_t other = x.m.side == XGW_GWP_CLIENT ? XGW_GWP_WORKER : XGW_GWP_CLIENT;
        xgw_gwp_t out;
        assert_int_equal(xgw_gwp_decode(other, x.f, (size_t)x.n, S_MAX_BODY, &out), XGW_EPROTO);
    }
}

static void
test_bad_command(void **state)
{
    (void)state;
    s_enc_t e;
    s_encode(&e, XGW_GWP_CLIENT, XGW_GWP_HEARTBEAT);
    /* Client side knows 0x01, 0x03, 0x04 (0x02 PARTIAL is reserved). */
    for (int b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        int rc = s_decode_with(&e, 1, &byte, 1);
        if (b == 0x01 || b == 0x03)
            assert_int_equal(rc, XGW_ETRUNC); /* known, but 2 frames are too few */
        else if (b == 0x04)
            assert_int_equal(rc, 0);
        else
            assert_int_equal(rc, XGW_EPROTO);
    }
    s_encode(&e, XGW_GWP_WORKER, XGW_GWP_HEARTBEAT);
    for (int b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        int rc = s_decode_with(&e, 1, &byte, 1);
        if (b >= 0x01 && b <= 0x07 && b != 0x03 && b != 0x05 && b != 0x06)
            assert_int_equal(rc, XGW_ETRUNC);
        else if (b == 0x05 || b == 0x06)
            assert_int_equal(rc, 0);
        else
            assert_int_equal(rc, XGW_EPROTO);
    }
    /* Command frame of 2 bytes or empty. */
    assert_int_equal(s_decode_with(&e, 1, "\x05\x00", 2), XGW_EPROTO);
    assert_int_equal(s_decode_with(&e, 1, "", 0), XGW_EPROTO);
    s_encode(&e, XGW_GWP_CLIENT, XGW_GWP_REQUEST);
    assert_int_equal(s_decode_with(&e, 1, "\x01\x01", 2), XGW_EPROTO);
}

static void
test_frames_refuses_wrong_side(void **state)
{
    (void)state;
    xgw_gwp_t m;
    uint8_t scratch[16];
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
}

/* ---- fields ------------------------------------------------------------ */

static void
test_service(void **state)
{
    (void)state;
    char big[64];
    memset(big, 'a', sizeof big);
    /* Frame 2 is the service in client REQUEST/FINAL and worker READY. */
    const s_kind_t with_service[] = {{XGW_GWP_CLIENT, XGW_GWP_REQUEST, 7},
                                     {XGW_GWP_CLIENT, XGW_GWP_FINAL, 6},
                                     {XGW_GWP_WORKER, XGW_GWP_READY, 5}};
    for (size_t k = 0; k < 3; k++) {
        s_enc_t e;
        s_encode(&e, with_service[k].side, with_service[k].cmd);
        assert_int_equal(s_decode_with(&e, 2, "", 0), XGW_EINVAL);
        assert_int_equal(s_decode_with(&e, 2, big, 33), XGW_ETOOBIG);
        assert_int_equal(s_decode_with(&e, 2, big, 64), XGW_ETOOBIG);
        assert_int_equal(s_decode_with(&e, 2, big, 32), 0);
        assert_int_equal(s_decode_with(&e, 2, "a", 1), 0);
        assert_int_equal(s_decode_with(&e, 2, "az09._-", 7), 0);
        assert_int_equal(s_decode_with(&e, 2, "Xmpp", 4), XGW_EINVAL);
        assert_int_equal(s_decode_with(&e, 2, "xmpp out", 8), XGW_EINVAL);
        assert_int_equal(s_decode_with(&e, 2, "xmpp/out", 8), XGW_EINVAL);
        assert_int_equal(s_decode_with(&e, 2, "xmpp\0", 5), XGW_EINVAL);
        assert_int_equal(s_decode_with(&e, 2, "xm\xc3\xa9", 4), XGW_EINVAL);
        /* The decoded copy is NUL-terminated at the frame's length. */
        xgw_gwp_view_t f[16];
        memcpy(f, e.f, sizeof f);
        f[2] = (xgw_gwp_view_t){(const uint8_t *)big, 32};
        xgw_gwp_t out;
        assert_int_equal(xgw_gwp_decode(e.m.side, f, (size_t)e.n, S_MAX_BODY, &out), 0);
        assert_int_equal(strlen(out.service), 32);
    }
}

static void
test_client_route(void **state)
{
    (void)state;
    uint8_t id[300];
    memset(id, 0, sizeof id); /* binary ids, NULs included, are fine */
    const xgw_gwp_cmd_t cmds[] = {XGW_GWP_REQUEST, XGW_GWP_FINAL};
    for (size_t k = 0; k < 2; k++) {
        s_enc_t e;
        s_encode(&e, XGW_GWP_WORKER, cmds[k]);
        assert_int_equal(s_decode_with(&e, 2, id, 0), XGW_EINVAL);
        assert_int_equal(s_decode_with(&e, 2, id, 1), 0);
        assert_int_equal(s_decode_with(&e, 2, id, 255), 0);
        assert_int_equal(s_decode_with(&e, 2, id, 256), XGW_ETOOBIG);
    }
}

static void
test_msg_id(void **state)
{
    (void)state;
    uint8_t id[32];
    memset(id, 0x11, sizeof id);
    for (size_t k = 0; k < S_NKINDS; k++) {
        if (s_kinds[k].cmd != XGW_GWP_REQUEST && s_kinds[k].cmd != XGW_GWP_FINAL)
            continue;
        s_enc_t e;
        s_encode(&e, s_kinds[k].side, s_kinds[k].cmd);
        assert_int_equal(s_decode_with(&e, 3, id, 15), XGW_EINVAL);
        assert_int_equal(s_decode_with(&e, 3, id, 0), XGW_EINVAL);
        assert_int_equal(s_decode_with(&e, 3, id, 17), XGW_ETOOBIG);
        assert_int_equal(s_decode_with(&e, 3, id, 32), XGW_ETOOBIG);
        assert_int_equal(s_decode_with(&e, 3, id, 16), 0);
    }
}

static void
test_affinity(void **state)
{
    (void)state;
    char a[300];
    memset(a, 'k', sizeof a);
    const xgw_gwp_side_t sides[] = {XGW_GWP_CLIENT, XGW_GWP_WORKER};
    for (size_t k = 0; k < 2; k++) {
        s_enc_t e;
        s_encode(&e, sides[k], XGW_GWP_REQUEST);
        assert_int_equal(s_decode_with(&e, 4, a, 0), 0);
        assert_int_equal(s_decode_with(&e, 4, a, 255), 0);
        assert_int_equal(s_decode_with(&e, 4, a, 256), XGW_ETOOBIG);
        assert_int_equal(s_decode_with(&e, 4, "alice bob", 9), XGW_EINVAL);
        assert_int_equal(s_decode_with(&e, 4, "alice\tbob", 9), XGW_EINVAL);
        assert_int_equal(s_decode_with(&e, 4, "alice\nbob", 9), XGW_EINVAL);
        assert_int_equal(s_decode_with(&e, 4, "alice\x01", 6), XGW_EINVAL);
        assert_int_equal(s_decode_with(&e, 4, "alice\x7f", 6), XGW_EINVAL);
        assert_int_equal(s_decode_with(&e, 4, "alice\x80", 6), XGW_EINVAL);
        assert_int_equal(s_decode_with(&e, 4, "a\0b", 3), XGW_EINVAL);
        assert_int_equal(s_decode_with(&e, 4, "!~", 2), 0);
    }
}

static void
test_deadline(void **state)
{
    (void)state;
    const uint8_t d9[9] = {0};
    const uint8_t neg[8] = {0x80, 0, 0, 0, 0, 0, 0, 1};
    const uint8_t allff[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    const uint8_t maxpos[8] = {0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    const xgw_gwp_side_t sides[] = {XGW_GWP_CLIENT, XGW_GWP_WORKER};
    for (size_t k = 0; k < 2; k++) {
        s_enc_t e;
        s_encode(&e, sides[k], XGW_GWP_REQUEST);
        assert_int_equal(s_decode_with(&e, 5, d9, 7), XGW_EINVAL);
        assert_int_equal(s_decode_with(&e, 5, d9, 0), XGW_EINVAL);
        assert_int_equal(s_decode_with(&e, 5, d9, 9), XGW_ETOOBIG);
        assert_int_equal(s_decode_with(&e, 5, neg, 8), XGW_EINVAL);
        assert_int_equal(s_decode_with(&e, 5, allff, 8), XGW_EINVAL);
        assert_int_equal(s_decode_with(&e, 5, maxpos, 8), 0);
        assert_int_equal(s_decode_with(&e, 5, d9, 8), 0);
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
    const uint8_t sff[3] = {0xff, 0xff, 0};
    const xgw_gwp_side_t sides[] = {XGW_GWP_CLIENT, XGW_GWP_WORKER};
    for (size_t k = 0; k < 2; k++) {
        s_enc_t e;
        s_encode(&e, sides[k], XGW_GWP_FINAL);
        assert_int_equal(s_decode_with(&e, 4, s99, 2), XGW_EINVAL);
        assert_int_equal(s_decode_with(&e, 4, s700, 2), XGW_EINVAL);
        assert_int_equal(s_decode_with(&e, 4, s0, 2), XGW_EINVAL);
        assert_int_equal(s_decode_with(&e, 4, sff, 2), XGW_EINVAL);
        assert_int_equal(s_decode_with(&e, 4, s100, 2), 0);
        assert_int_equal(s_decode_with(&e, 4, s699, 2), 0);
        assert_int_equal(s_decode_with(&e, 4, s100, 1), XGW_EINVAL);
        assert_int_equal(s_decode_with(&e, 4, s100, 0), XGW_EINVAL);
        assert_int_equal(s_decode_with(&e, 4, sff, 3), XGW_ETOOBIG);
    }
}

static void
test_body_limit(void **state)
{
    (void)state;
    static uint8_t body[S_MAX_BODY + 1];
    memset(body, 0xee, sizeof body);
    for (size_t k = 0; k < S_NKINDS; k++) {
        if (s_kinds[k].cmd != XGW_GWP_REQUEST && s_kinds[k].cmd != XGW_GWP_FINAL)
            continue;
        s_enc_t e;
        s_encode(&e, s_kinds[k].side, s_kinds[k].cmd);
        int last = e.n - 1;
        assert_int_equal(s_decode_with(&e, last, body, S_MAX_BODY), 0);
        assert_int_equal(s_decode_with(&e, last, body, S_MAX_BODY + 1), XGW_ETOOBIG);
        /* max_body 0 admits only empty bodies. */
        xgw_gwp_t out;
        assert_int_equal(xgw_gwp_decode(e.m.side, e.f, (size_t)e.n, 0, &out), XGW_ETOOBIG);
        e.f[last].size = 0;
        assert_int_equal(xgw_gwp_decode(e.m.side, e.f, (size_t)e.n, 0, &out), 0);
    }
}

static void
test_credit(void **state)
{
    (void)state;
    const uint8_t c_max[4] = {0x00, 0x0f, 0x42, 0x40};  /* 1,000,000 */
    const uint8_t c_over[4] = {0x00, 0x0f, 0x42, 0x41}; /* 1,000,001 */
    const uint8_t c_huge[4] = {0xff, 0xff, 0xff, 0xff};
    const uint8_t c5[5] = {0};
    /* Frame of the credit: 3 in READY, 2 in CREDIT. */
    const struct {
        xgw_gwp_cmd_t cmd;
        int idx;
    } at[] = {{XGW_GWP_READY, 3}, {XGW_GWP_CREDIT, 2}};
    for (size_t k = 0; k < 2; k++) {
        s_enc_t e;
        s_encode(&e, XGW_GWP_WORKER, at[k].cmd);
        assert_int_equal(s_decode_with(&e, at[k].idx, c_max, 4), 0);
        assert_int_equal(s_decode_with(&e, at[k].idx, c_over, 4), XGW_ERANGE);
        assert_int_equal(s_decode_with(&e, at[k].idx, c_huge, 4), XGW_ERANGE);
        assert_int_equal(s_decode_with(&e, at[k].idx, c5, 3), XGW_EINVAL);
        assert_int_equal(s_decode_with(&e, at[k].idx, c5, 0), XGW_EINVAL);
        assert_int_equal(s_decode_with(&e, at[k].idx, c5, 5), XGW_ETOOBIG);
        xgw_gwp_view_t f[16];
        memcpy(f, e.f, sizeof f);
        f[at[k].idx] = (xgw_gwp_view_t){c_max, 4};
        xgw_gwp_t out;
        assert_int_equal(xgw_gwp_decode(XGW_GWP_WORKER, f, (size_t)e.n, S_MAX_BODY, &out), 0);
        assert_int_equal(out.credit, 1000000);
    }
}

static void
test_instance(void **state)
{
    (void)state;
    char inst[80];
    memset(inst, 'i', sizeof inst);
    s_enc_t e;
    s_encode(&e, XGW_GWP_WORKER, XGW_GWP_READY);
    assert_int_equal(s_decode_with(&e, 4, "", 0), XGW_EINVAL);
    assert_int_equal(s_decode_with(&e, 4, inst, 1), 0);
    assert_int_equal(s_decode_with(&e, 4, inst, 64), 0);
    assert_int_equal(s_decode_with(&e, 4, inst, 65), XGW_ETOOBIG);
    assert_int_equal(s_decode_with(&e, 4, "xmppd 01", 8), XGW_EINVAL);
    assert_int_equal(s_decode_with(&e, 4, "xmppd\x1f", 6), XGW_EINVAL);
    assert_int_equal(s_decode_with(&e, 4, "XMPPD.01!", 9), 0);
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
    assert_int_equal(xgw_gwp_validate(&m, 5), XGW_ETOOBIG);
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

    /* DEALER -> ROUTER: a client REQUEST. */
    xgw_gwp_t m;
    s_template(&m, XGW_GWP_CLIENT, XGW_GWP_REQUEST);
    assert_int_equal(xgw_gwp_send(p.dh, NULL, &m), 0);
    s_wait_in(p.rh);
    assert_int_equal(xgw_gwp_recv(p.rh, 1, XGW_GWP_CLIENT, S_MAX_BODY, &inbox, &out), 0);
    assert_int_equal(inbox.routing_id.size, strlen("dealer-1"));
    assert_memory_equal(inbox.routing_id.data, "dealer-1", strlen("dealer-1"));
    assert_int_equal(inbox.received, 8);
    s_assert_same(&m, &out);

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
    s_assert_same(&fin, &out);
    xgw_gwp_inbox_close(&inbox);

    /* Worker side over the same pair. */
    xgw_gwp_t ready;
    s_template(&ready, XGW_GWP_WORKER, XGW_GWP_READY);
    assert_int_equal(xgw_gwp_send(p.dh, NULL, &ready), 0);
    s_wait_in(p.rh);
    assert_int_equal(xgw_gwp_recv(p.rh, 1, XGW_GWP_WORKER, S_MAX_BODY, &inbox, &out), 0);
    s_assert_same(&ready, &out);
    xgw_gwp_inbox_close(&inbox);

    /* An invalid command is refused before anything is sent. */
    ready.credit = XGW_GWP_CREDIT_MAX + 1;
    ready.side = XGW_GWP_CLIENT;
    assert_int_equal(xgw_gwp_send(p.dh, NULL, &ready), XGW_EINVAL);

    /* ROUTER_MANDATORY: an unknown peer. */
    xgw_gwp_view_t nobody = {(const uint8_t *)"nobody", 6};
    assert_int_equal(xgw_gwp_send(p.rh, &nobody, &fin), XGW_ENOENT);
    assert_int_equal(xgw_gwp_recv(p.dh, 0, XGW_GWP_CLIENT, S_MAX_BODY, &inbox, &out), XGW_EAGAIN);

    s_pair_close(&p);
}

/* Sends n raw frames of one byte each, the first being the signature. */
static void
s_send_raw(void *handle, int n)
{
    for (int i = 0; i < n; i++) {
        int flags = i + 1 < n ? ZMQ_SNDMORE : 0;
        int rc = i == 0 ? zmq_send(handle, "GWPC01", 6, flags) : zmq_send(handle, "\x04", 1, flags);
        assert_true(rc >= 0);
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

    /* Exactly one frame too many for the inbox (8 after the routing id). */
    s_send_raw(p.dh, 8);
    s_wait_in(p.rh);
    assert_int_equal(xgw_gwp_recv(p.rh, 1, XGW_GWP_CLIENT, S_MAX_BODY, &inbox, &out), XGW_EPROTO);
    xgw_gwp_inbox_close(&inbox);

    /* Truncated: a REQUEST of three frames. */
    assert_true(zmq_send(p.dh, "GWPC01", 6, ZMQ_SNDMORE) == 6);
    assert_true(zmq_send(p.dh, "\x01", 1, ZMQ_SNDMORE) == 1);
    assert_true(zmq_send(p.dh, "svc", 3, 0) == 3);
    s_wait_in(p.rh);
    assert_int_equal(xgw_gwp_recv(p.rh, 1, XGW_GWP_CLIENT, S_MAX_BODY, &inbox, &out), XGW_ETRUNC);
    assert_int_equal(inbox.routing_id.size, strlen("dealer-1"));
    xgw_gwp_inbox_close(&inbox);

    /* A well-formed HEARTBEAT still gets through afterwards. */
    s_send_raw(p.dh, 2);
    s_wait_in(p.rh);
    assert_int_equal(xgw_gwp_recv(p.rh, 1, XGW_GWP_CLIENT, S_MAX_BODY, &inbox, &out), 0);
    assert_int_equal(out.cmd, XGW_GWP_HEARTBEAT);
    xgw_gwp_inbox_close(&inbox);

    /* On the DEALER side (no routing id) too many frames are refused. */
    for (int i = 0; i < 12; i++) {
        const char *rid = "dealer-1";
        if (i == 0)
            assert_true(zmq_send(p.rh, rid, strlen(rid), ZMQ_SNDMORE) >= 0);
        assert_true(zmq_send(p.rh, i == 0 ? "GWPC01" : "\x04", i == 0 ? 6 : 1,
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
        cmocka_unit_test(test_round_trip_all),
        cmocka_unit_test(test_wire_bytes),
        cmocka_unit_test(test_field_encoding),
        cmocka_unit_test(test_empty_fields_ok),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_extra_frames),
        cmocka_unit_test(test_bad_signature),
        cmocka_unit_test(test_bad_command),
        cmocka_unit_test(test_frames_refuses_wrong_side),
        cmocka_unit_test(test_service),
        cmocka_unit_test(test_client_route),
        cmocka_unit_test(test_msg_id),
        cmocka_unit_test(test_affinity),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_credit),
        cmocka_unit_test(test_instance),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_msgid_hex),
        cmocka_unit_test(test_msgid_new),
        cmocka_unit_test(test_cmd_names),
        cmocka_unit_test(test_now_ms),
        cmocka_unit_test(test_io_round_trip),
        cmocka_unit_test(test_io_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
