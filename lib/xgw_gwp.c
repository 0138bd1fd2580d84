/*
 * xgw_gwp.c - GWP/1 frame codec; see xgw_gwp.h and proto/GWP.md.
 */
#include "xgw_gwp.h"
#include "xgw_error.h"

#include <openssl/rand.h>
#include <stddef.h>
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

/* Frames each command has: REQUEST and FINAL carry a body frame. */
static size_t
s_frame_count(xgw_gwp_cmd_t cmd)
{
    return cmd == XGW_GWP_REQUEST || cmd == XGW_GWP_FINAL ? 2 : 1;
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

/* A cursor over the header: every read checks the bytes are there. */
typedef struct {
    const uint8_t *p;
    size_t left;
} s_reader_t;

static int
s_take(s_reader_t *r, size_t n, const uint8_t **out)
{
    if (r->left < n)
        return XGW_ETRUNC;
    *out = r->p;
    r->p += n;
    r->left -= n;
    return 0;
}

static int
s_take_uint(s_reader_t *r, size_t n, uint64_t *out)
{
    const uint8_t *p;
    int rc = s_take(r, n, &p);
    if (rc == 0)
        *out = s_get_be(p, n);
    return rc;
}

/* A length-prefixed string of at most max bytes: sets *p and *n (a view
 * into the header). The length byte is judged before the bytes are looked
 * for, so an over-long field is XGW_ETOOBIG whether or not its bytes came. */
static int
s_take_str(s_reader_t *r, size_t max, const uint8_t **p, size_t *n)
{
    const uint8_t *len;
    int rc = s_take(r, 1, &len);
    if (rc != 0)
        return rc;
    *n = len[0];
    if (*n > max)
        return XGW_ETOOBIG;
    return s_take(r, *n, p);
}

static int
s_read_service(s_reader_t *r, xgw_gwp_t *out)
{
    const uint8_t *p;
    size_t n;
    int rc = s_take_str(r, XGW_GWP_SERVICE_MAX, &p, &n);
    if (rc == 0)
        rc = s_service_ok(p, n);
    if (rc == 0) {
        memcpy(out->service, p, n);
        out->service[n] = '\0';
    }
    return rc;
}

static int
s_read_affinity(s_reader_t *r, xgw_gwp_t *out)
{
    const uint8_t *p;
    size_t n;
    int rc = s_take_str(r, XGW_GWP_AFFINITY_MAX, &p, &n);
    if (rc == 0)
        rc = s_printable_ok(p, n, 0, XGW_GWP_AFFINITY_MAX);
    if (rc == 0) {
        memcpy(out->affinity, p, n);
        out->affinity[n] = '\0';
    }
    return rc;
}

/* Worker side: the client's routing id, binary, 1..255 bytes. */
static int
s_read_client(s_reader_t *r, xgw_gwp_t *out)
{
    int rc = s_take_str(r, XGW_GWP_ADDRESS_MAX, &out->client.data, &out->client.size);
    if (rc == 0 && out->client.size == 0)
        rc = XGW_EINVAL;
    return rc;
}

static int
s_read_msgid(s_reader_t *r, xgw_gwp_t *out)
{
    const uint8_t *p;
    int rc = s_take(r, XGW_GWP_MSGID_LEN, &p);
    if (rc == 0)
        memcpy(out->msg_id, p, XGW_GWP_MSGID_LEN);
    return rc;
}

static int
s_read_deadline(s_reader_t *r, xgw_gwp_t *out)
{
    uint64_t v = 0;
    int rc = s_take_uint(r, 8, &v);
    if (rc == 0 && (int64_t)v < 0)
        rc = XGW_EINVAL;
    out->deadline_ms = (int64_t)v;
    return rc;
}

static int
s_read_status(s_reader_t *r, xgw_gwp_t *out)
{
    uint64_t v = 0;
    int rc = s_take_uint(r, 2, &v);
    if (rc == 0 && (v < 100 || v > 699))
        rc = XGW_EINVAL;
    out->status = (uint16_t)v;
    return rc;
}

static int
s_read_credit(s_reader_t *r, xgw_gwp_t *out)
{
    uint64_t v = 0;
    int rc = s_take_uint(r, 4, &v);
    if (rc == 0 && v > XGW_GWP_CREDIT_MAX)
        rc = XGW_ERANGE;
    out->credit = (uint32_t)v;
    return rc;
}

/* Reads the fields of out->cmd from the header in order. */
static int
s_read_fields(s_reader_t *r, xgw_gwp_t *out)
{
    int client = out->side == XGW_GWP_CLIENT;
    int rc = 0;
    switch (out->cmd) {
    case XGW_GWP_REQUEST:
        rc = s_read_msgid(r, out);
        if (rc == 0)
            rc = s_read_deadline(r, out);
        if (rc == 0)
            rc = client ? s_read_service(r, out) : s_read_client(r, out);
        if (rc == 0)
            rc = s_read_affinity(r, out);
        return rc;
    case XGW_GWP_FINAL:
        rc = s_read_msgid(r, out);
        if (rc == 0)
            rc = s_read_status(r, out);
        if (rc == 0)
            rc = client ? s_read_service(r, out) : s_read_client(r, out);
        return rc;
    case XGW_GWP_READY: {
        rc = s_read_credit(r, out);
        if (rc == 0)
            rc = s_read_service(r, out);
        const uint8_t *p;
        size_t n = 0;
        if (rc == 0)
            rc = s_take_str(r, XGW_GWP_INSTANCE_MAX, &p, &n);
        if (rc == 0)
            rc = s_printable_ok(p, n, 1, XGW_GWP_INSTANCE_MAX);
        if (rc == 0) {
            memcpy(out->instance, p, n);
            out->instance[n] = '\0';
        }
        return rc;
    }
    case XGW_GWP_CREDIT:
        return s_read_credit(r, out);
    default: /* HEARTBEAT, DISCONNECT: nothing more */
        return 0;
    }
}

int
xgw_gwp_decode(xgw_gwp_side_t side, const xgw_gwp_view_t *frames, size_t n, size_t max_body,
               xgw_gwp_t *out)
{
    const char *sig = side == XGW_GWP_CLIENT ? s_sig_client : s_sig_worker;
    if (n < 1 || frames[0].size < S_SIG_LEN + 1)
        return XGW_ETRUNC;
    if (memcmp(frames[0].data, sig, S_SIG_LEN) != 0)
        return XGW_EPROTO;

    memset(out, 0, offsetof(xgw_gwp_t, service));
    out->side = side;
    out->service[0] = '\0';
    out->affinity[0] = '\0';
    out->instance[0] = '\0';
    out->client.data = NULL;
    out->client.size = 0;
    out->body.data = NULL;
    out->body.size = 0;
    out->deadline_ms = 0;
    out->status = 0;
    out->credit = 0;
    memset(out->msg_id, 0, sizeof out->msg_id);
    int rc = s_cmd_from_wire(side, frames[0].data[S_SIG_LEN], &out->cmd);
    if (rc != 0)
        return rc;
    s_reader_t r = {frames[0].data + S_SIG_LEN + 1, frames[0].size - S_SIG_LEN - 1};
    rc = s_read_fields(&r, out);
    if (rc != 0)
        return rc;
    if (r.left > 0)
        return XGW_EPROTO; /* bytes after the last field */
    size_t want = s_frame_count(out->cmd);
    if (n < want)
        return XGW_ETRUNC;
    if (n > want)
        return XGW_EPROTO;
    if (want == 2) {
        if (frames[1].size > max_body)
            return XGW_ETOOBIG;
        out->body = frames[1];
    }
    return 0;
}

int
xgw_gwp_validate(const xgw_gwp_t *m, size_t max_body)
{
    xgw_gwp_view_t frames[XGW_GWP_MAX_FRAMES];
    uint8_t scratch[XGW_GWP_HEADER_MAX];
    int n = xgw_gwp_frames(m, scratch, frames);
    if (n < 0)
        return n;
    xgw_gwp_t check;
    return xgw_gwp_decode(m->side, frames, (size_t)n, max_body, &check);
}

/* A cursor for building the header; scratch is XGW_GWP_HEADER_MAX bytes,
 * which the longest header fits, so only string lengths need checks. */
typedef struct {
    uint8_t *p;
    size_t used;
} s_writer_t;

static void
s_put(s_writer_t *w, const void *data, size_t n)
{
    if (n == 0)
        return; /* data may be NULL for an empty field */
    memcpy(w->p + w->used, data, n);
    w->used += n;
}

static void
s_put_uint(s_writer_t *w, uint64_t v, size_t n)
{
    s_put_be(w->p + w->used, v, n);
    w->used += n;
}

static int
s_put_str(s_writer_t *w, const void *data, size_t n)
{
    if (n > 255)
        return XGW_ETOOBIG;
    w->p[w->used++] = (uint8_t)n;
    s_put(w, data, n);
    return 0;
}

int
xgw_gwp_frames(const xgw_gwp_t *m, uint8_t scratch[XGW_GWP_HEADER_MAX], xgw_gwp_view_t *frames)
{
    uint8_t byte = s_wire_byte(m->side, m->cmd);
    if (byte == 0)
        return XGW_EPROTO;
    s_writer_t w = {scratch, 0};
    s_put(&w, m->side == XGW_GWP_CLIENT ? s_sig_client : s_sig_worker, S_SIG_LEN);
    s_put(&w, &byte, 1);
    int client = m->side == XGW_GWP_CLIENT;
    size_t service_len = strnlen(m->service, sizeof m->service);
    int rc = 0;
    switch (m->cmd) {
    case XGW_GWP_REQUEST:
        s_put(&w, m->msg_id, XGW_GWP_MSGID_LEN);
        s_put_uint(&w, (uint64_t)m->deadline_ms, 8);
        rc = client ? s_put_str(&w, m->service, service_len)
                    : s_put_str(&w, m->client.data, m->client.size);
        if (rc == 0)
            rc = s_put_str(&w, m->affinity, strnlen(m->affinity, sizeof m->affinity));
        break;
    case XGW_GWP_FINAL:
        s_put(&w, m->msg_id, XGW_GWP_MSGID_LEN);
        s_put_uint(&w, m->status, 2);
        rc = client ? s_put_str(&w, m->service, service_len)
                    : s_put_str(&w, m->client.data, m->client.size);
        break;
    case XGW_GWP_READY:
        s_put_uint(&w, m->credit, 4);
        rc = s_put_str(&w, m->service, service_len);
        if (rc == 0)
            rc = s_put_str(&w, m->instance, strnlen(m->instance, sizeof m->instance));
        break;
    case XGW_GWP_CREDIT:
        s_put_uint(&w, m->credit, 4);
        break;
    default:
        break;
    }
    if (rc != 0)
        return rc;
    frames[0].data = scratch;
    frames[0].size = w.used;
    if (s_frame_count(m->cmd) == 1)
        return 1;
    frames[1] = m->body;
    return 2;
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
