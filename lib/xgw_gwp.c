/*
 * xgw_gwp.c - GWP/1 frame codec; see xgw_gwp.h and proto/GWP.md.
 */
#include "xgw_gwp.h"
#include "xgw_error.h"

#include <openssl/rand.h>
#include <string.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

static const char s_sig_client[] = "GWPC01";
static const char s_sig_worker[] = "GWPW01";
#define S_SIG_LEN 6

/* Wire bytes per side; 0 means the command does not exist on that side. */
static uint8_t
s_wire_byte(xgw_gwp_side_t side, xgw_gwp_cmd_t cmd)
{
    if (side == XGW_GWP_CLIENT) {
        switch (cmd) {
        case XGW_GWP_REQUEST:
            return 0x01;
        case XGW_GWP_FINAL:
            return 0x03;
        case XGW_GWP_HEARTBEAT:
            return 0x04;
        default:
            return 0;
        }
    }
    switch (cmd) {
    case XGW_GWP_READY:
        return 0x01;
    case XGW_GWP_REQUEST:
        return 0x02;
    case XGW_GWP_FINAL:
        return 0x04;
    case XGW_GWP_HEARTBEAT:
        return 0x05;
    case XGW_GWP_DISCONNECT:
        return 0x06;
    case XGW_GWP_CREDIT:
        return 0x07;
    default:
        return 0;
    }
}

static int
s_cmd_from_wire(xgw_gwp_side_t side, uint8_t byte, xgw_gwp_cmd_t *cmd)
{
    for (int c = XGW_GWP_REQUEST; c <= XGW_GWP_CREDIT; c++) {
        uint8_t w = s_wire_byte(side, (xgw_gwp_cmd_t)c);
        if (w != 0 && w == byte) {
            *cmd = (xgw_gwp_cmd_t)c;
            return 0;
        }
    }
    return XGW_EPROTO;
}

/* Frames each command has, signature and command byte included. */
static size_t
s_frame_count(xgw_gwp_cmd_t cmd)
{
    switch (cmd) {
    case XGW_GWP_REQUEST:
        return 7;
    case XGW_GWP_FINAL:
        return 6;
    case XGW_GWP_READY:
        return 5;
    case XGW_GWP_CREDIT:
        return 3;
    default:
        return 2;
    }
}

static int
s_service_ok(const uint8_t *p, size_t n)
{
    if (n == 0)
        return XGW_EINVAL;
    if (n > XGW_GWP_SERVICE_MAX)
        return XGW_ETOOBIG;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        int ok =
            (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok)
            return XGW_EINVAL;
    }
    return 0;
}

static int
s_printable_ok(const uint8_t *p, size_t n, size_t min, size_t max)
{
    if (n > max)
        return XGW_ETOOBIG;
    if (n < min)
        return XGW_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x21 || p[i] > 0x7e)
            return XGW_EINVAL;
    }
    return 0;
}

static void
s_copy_str(char *dst, const uint8_t *src, size_t n)
{
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static uint64_t
s_get_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

static void
s_put_be(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = n; i > 0; i--) {
        p[i - 1] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

int
xgw_gwp_decode(xgw_gwp_side_t side, const xgw_gwp_view_t *frames, size_t n, size_t max_body,
               xgw_gwp_t *out)
{
    const char *sig = side == XGW_GWP_CLIENT ? s_sig_client : s_sig_worker;
    if (n < 2)
        return XGW_ETRUNC;
    if (frames[0].size != S_SIG_LEN || memcmp(frames[0].data, sig, S_SIG_LEN) != 0)
        return XGW_EPROTO;
    if (frames[1].size != 1)
        return XGW_EPROTO;

    memset(out, 0, sizeof *out);
    out->side = side;
    int rc = s_cmd_from_wire(side, frames[1].data[0], &out->cmd);
    if (rc != 0)
        return rc;
    size_t want = s_frame_count(out->cmd);
    if (n < want)
        return XGW_ETRUNC;
    if (n > want)
        return XGW_EPROTO;

    const xgw_gwp_view_t *f = frames;
    switch (out->cmd) {
    case XGW_GWP_REQUEST:
        if (side == XGW_GWP_CLIENT) {
            rc = s_service_ok(f[2].data, f[2].size);
            if (rc != 0)
                return rc;
            s_copy_str(out->service, f[2].data, f[2].size);
        } else {
            /* ROUTER routing ids are binary; only the size is checked. */
            if (f[2].size > XGW_GWP_ADDRESS_MAX)
                return XGW_ETOOBIG;
            if (f[2].size == 0)
                return XGW_EINVAL;
            out->client = f[2];
        }
        if (f[3].size != XGW_GWP_MSGID_LEN)
            return f[3].size > XGW_GWP_MSGID_LEN ? XGW_ETOOBIG : XGW_EINVAL;
        memcpy(out->msg_id, f[3].data, XGW_GWP_MSGID_LEN);
        rc = s_printable_ok(f[4].data, f[4].size, 0, XGW_GWP_AFFINITY_MAX);
        if (rc != 0)
            return rc;
        s_copy_str(out->affinity, f[4].data, f[4].size);
        if (f[5].size != 8)
            return f[5].size > 8 ? XGW_ETOOBIG : XGW_EINVAL;
        out->deadline_ms = (int64_t)s_get_be(f[5].data, 8);
        if (out->deadline_ms < 0)
            return XGW_EINVAL;
        if (f[6].size > max_body)
            return XGW_ETOOBIG;
        out->body = f[6];
        return 0;
    case XGW_GWP_FINAL:
        if (side == XGW_GWP_CLIENT) {
            rc = s_service_ok(f[2].data, f[2].size);
            if (rc != 0)
                return rc;
            s_copy_str(out->service, f[2].data, f[2].size);
        } else {
            if (f[2].size == 0)
                return XGW_EINVAL;
            if (f[2].size > XGW_GWP_ADDRESS_MAX)
                return XGW_ETOOBIG;
            out->client = f[2];
        }
        if (f[3].size != XGW_GWP_MSGID_LEN)
            return f[3].size > XGW_GWP_MSGID_LEN ? XGW_ETOOBIG : XGW_EINVAL;
        memcpy(out->msg_id, f[3].data, XGW_GWP_MSGID_LEN);
        if (f[4].size != 2)
            return f[4].size > 2 ? XGW_ETOOBIG : XGW_EINVAL;
        out->status = (uint16_t)s_get_be(f[4].data, 2);
        if (out->status < 100 || out->status > 699)
            return XGW_EINVAL;
        if (f[5].size > max_body)
            return XGW_ETOOBIG;
        out->body = f[5];
        return 0;
    case XGW_GWP_READY:
        rc = s_service_ok(f[2].data, f[2].size);
        if (rc != 0)
            return rc;
        s_copy_str(out->service, f[2].data, f[2].size);
        if (f[3].size != 4)
            return f[3].size > 4 ? XGW_ETOOBIG : XGW_EINVAL;
        out->credit = (uint32_t)s_get_be(f[3].data, 4);
        if (out->credit > XGW_GWP_CREDIT_MAX)
            return XGW_ERANGE;
        rc = s_printable_ok(f[4].data, f[4].size, 1, XGW_GWP_INSTANCE_MAX);
        if (rc != 0)
            return rc;
        s_copy_str(out->instance, f[4].data, f[4].size);
        return 0;
    case XGW_GWP_CREDIT:
        if (f[2].size != 4)
            return f[2].size > 4 ? XGW_ETOOBIG : XGW_EINVAL;
        out->credit = (uint32_t)s_get_be(f[2].data, 4);
        if (out->credit > XGW_GWP_CREDIT_MAX)
            return XGW_ERANGE;
        return 0;
    default: /* HEARTBEAT, DISCONNECT: nothing more */
        return 0;
    }
}

int
xgw_gwp_validate(const xgw_gwp_t *m, size_t max_body)
{
    xgw_gwp_view_t frames[XGW_GWP_MAX_FRAMES];
    uint8_t scratch[16];
    int n = xgw_gwp_frames(m, scratch, frames);
    if (n < 0)
        return n;
    xgw_gwp_t check;
    return xgw_gwp_decode(m->side, frames, (size_t)n, max_body, &check);
}

int
xgw_gwp_frames(const xgw_gwp_t *m, uint8_t scratch[16], xgw_gwp_view_t *frames)
{
    uint8_t byte = s_wire_byte(m->side, m->cmd);
    if (byte == 0)
        return XGW_EPROTO;
    /* scratch layout: [0] command byte, [1..8] deadline or [1..2] status or
     * [1..4] credit. */
    scratch[0] = byte;
    frames[0].data = (const uint8_t *)(m->side == XGW_GWP_CLIENT ? s_sig_client : s_sig_worker);
    frames[0].size = S_SIG_LEN;
    frames[1].data = scratch;
    frames[1].size = 1;
    int worker = m->side == XGW_GWP_WORKER;
    xgw_gwp_view_t route;
    if (worker) {
        route = m->client;
    } else {
        route.data = (const uint8_t *)m->service;
        route.size = strlen(m->service);
    }
    switch (m->cmd) {
    case XGW_GWP_REQUEST:
        frames[2] = route;
        frames[3].data = m->msg_id;
        frames[3].size = XGW_GWP_MSGID_LEN;
        frames[4].data = (const uint8_t *)m->affinity;
        frames[4].size = strlen(m->affinity);
        s_put_be(scratch + 1, (uint64_t)m->deadline_ms, 8);
        frames[5].data = scratch + 1;
        frames[5].size = 8;
        frames[6] = m->body;
        return 7;
    case XGW_GWP_FINAL:
        frames[2] = route;
        frames[3].data = m->msg_id;
        frames[3].size = XGW_GWP_MSGID_LEN;
        s_put_be(scratch + 1, m->status, 2);
        frames[4].data = scratch + 1;
        frames[4].size = 2;
        frames[5] = m->body;
        return 6;
    case XGW_GWP_READY:
        frames[2].data = (const uint8_t *)m->service;
        frames[2].size = strlen(m->service);
        s_put_be(scratch + 1, m->credit, 4);
        frames[3].data = scratch + 1;
        frames[3].size = 4;
        frames[4].data = (const uint8_t *)m->instance;
        frames[4].size = strlen(m->instance);
        return 5;
    case XGW_GWP_CREDIT:
        s_put_be(scratch + 1, m->credit, 4);
        frames[2].data = scratch + 1;
        frames[2].size = 4;
        return 3;
    default:
        return 2;
    }
}

const char *
xgw_gwp_cmd_name(xgw_gwp_cmd_t cmd)
{
    switch (cmd) {
    case XGW_GWP_REQUEST:
        return "REQUEST";
    case XGW_GWP_FINAL:
        return "FINAL";
    case XGW_GWP_HEARTBEAT:
        return "HEARTBEAT";
    case XGW_GWP_READY:
        return "READY";
    case XGW_GWP_DISCONNECT:
        return "DISCONNECT";
    case XGW_GWP_CREDIT:
        return "CREDIT";
    }
    return "UNKNOWN";
}

void
xgw_gwp_msgid_hex(const uint8_t id[XGW_GWP_MSGID_LEN], char out[33])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < XGW_GWP_MSGID_LEN; i++) {
        out[2 * i] = hex[id[i] >> 4];
        out[2 * i + 1] = hex[id[i] & 0xf];
    }
    out[32] = '\0';
}

/* RAND_bytes costs about a microsecond per call, more than the rest of a
 * send: draw 4 KiB at a time per thread. A child after fork() must not
 * reuse its parent's pool, hence the fork generation. */
static atomic_uint s_fork_generation;
static pthread_once_t s_atfork_once = PTHREAD_ONCE_INIT;

static void
s_on_fork_child(void)
{
    atomic_fetch_add(&s_fork_generation, 1);
}

static void
s_register_atfork(void)
{
    pthread_atfork(NULL, NULL, s_on_fork_child);
}

int
xgw_gwp_msgid_new(uint8_t id[XGW_GWP_MSGID_LEN])
{
    static __thread uint8_t pool[4096];
    static __thread size_t used = sizeof pool;
    static __thread unsigned generation;
    pthread_once(&s_atfork_once, s_register_atfork);
    unsigned now = atomic_load(&s_fork_generation);
    if (used + XGW_GWP_MSGID_LEN > sizeof pool || generation != now) {
        if (RAND_bytes(pool, (int)sizeof pool) != 1)
            return XGW_ERROR;
        used = 0;
        generation = now;
    }
    memcpy(id, pool + used, XGW_GWP_MSGID_LEN);
    /* Do not leave used ids readable in memory longer than needed. */
    memset(pool + used, 0, XGW_GWP_MSGID_LEN);
    used += XGW_GWP_MSGID_LEN;
    return 0;
}

int64_t
xgw_gwp_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
