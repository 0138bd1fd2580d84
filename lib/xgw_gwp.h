/*
 * xgw_gwp.h - GWP/1 frame codec (proto/GWP.md).
 *
 * Pure functions over frame views so they can be unit-tested and fuzzed
 * without sockets. A message is a header frame (signature, command, fixed
 * fields, length-prefixed strings) and, for REQUEST and FINAL, a body frame.
 * Decoding never copies the body: the decoded struct borrows from the
 * frames it was given.
 */
#ifndef XGW_GWP_H
#define XGW_GWP_H

#include <stddef.h>
#include <stdint.h>

#define XGW_GWP_SERVICE_MAX 32
#define XGW_GWP_AFFINITY_MAX 255
#define XGW_GWP_INSTANCE_MAX 64
#define XGW_GWP_ADDRESS_MAX 255
#define XGW_GWP_MSGID_LEN 16
#define XGW_GWP_CREDIT_MAX 1000000u
#define XGW_GWP_MAX_FRAMES 2 /* header, and a body for REQUEST/FINAL */
/* Longest header: signature, command, msg_id, deadline, two strings. */
#define XGW_GWP_HEADER_MAX 544 /* 543 used at most, rounded */

/* Which socket pair a message travels on. */
typedef enum {
    XGW_GWP_CLIENT = 0, /* client <-> broker frontend, signature GWPC01 */
    XGW_GWP_WORKER = 1, /* worker <-> broker backend, signature GWPW01 */
} xgw_gwp_side_t;

/* Commands; the value is not the wire byte (that depends on the side). */
typedef enum {
    XGW_GWP_REQUEST = 1,
    XGW_GWP_FINAL,
    XGW_GWP_HEARTBEAT,
    XGW_GWP_READY,      /* worker side only */
    XGW_GWP_DISCONNECT, /* worker side only */
    XGW_GWP_CREDIT,     /* worker side only */
} xgw_gwp_cmd_t;

/* A borrowed view of one frame. */
typedef struct {
    const uint8_t *data;
    size_t size;
} xgw_gwp_view_t;

/* A decoded (or to-be-encoded) command. Strings are NUL-terminated copies;
 * body and client address are borrowed views into the source frames. */
typedef struct {
    xgw_gwp_side_t side;
    xgw_gwp_cmd_t cmd;
    char service[XGW_GWP_SERVICE_MAX + 1];
    uint8_t msg_id[XGW_GWP_MSGID_LEN];
    char affinity[XGW_GWP_AFFINITY_MAX + 1]; /* "" = any worker */
    int64_t deadline_ms;                     /* Unix ms */
    uint16_t status;
    uint32_t credit;
    char instance[XGW_GWP_INSTANCE_MAX + 1];
    xgw_gwp_view_t client; /* worker-side REQUEST/FINAL: client routing id */
    xgw_gwp_view_t body;
} xgw_gwp_t;

/* Decodes n frames received on `side` into *out. max_body bounds the body
 * frame. Returns 0, or XGW_ETRUNC (too few frames), XGW_EPROTO (bad
 * signature, unknown command, too many frames), XGW_ETOOBIG (a field over its
 * limit), XGW_EINVAL (a field with bad content). On failure *out is
 * unspecified. *out borrows from frames: keep them alive while using it. */
int xgw_gwp_decode(xgw_gwp_side_t side, const xgw_gwp_view_t *frames, size_t n, size_t max_body,
                   xgw_gwp_t *out);

/* Checks that every field of m that its command carries is within the
 * GWP limits (the same rules decode applies). Returns 0 or a negative code. */
int xgw_gwp_validate(const xgw_gwp_t *m, size_t max_body);

/* Fills frames[] (at most XGW_GWP_MAX_FRAMES) for sending m: the header,
 * built in scratch, and for REQUEST/FINAL a view of m->body. Returns the
 * frame count (1 or 2), or a negative code if m cannot be encoded (a string
 * too long for its length byte, a command the side does not have). */
int xgw_gwp_frames(const xgw_gwp_t *m, uint8_t scratch[XGW_GWP_HEADER_MAX], xgw_gwp_view_t *frames);

/* Name of a command for logs ("REQUEST", ...). Never NULL. */
const char *xgw_gwp_cmd_name(xgw_gwp_cmd_t cmd);

/* Formats a msg_id as 32 lower-case hex characters plus NUL. */
void xgw_gwp_msgid_hex(const uint8_t id[XGW_GWP_MSGID_LEN], char out[33]);

/* Fills id with 16 random bytes (OpenSSL RAND_bytes). Returns 0 or XGW_ERROR. */
int xgw_gwp_msgid_new(uint8_t id[XGW_GWP_MSGID_LEN]);

/* Current Unix time in milliseconds (deadline clock). */
int64_t xgw_gwp_now_ms(void);

#endif
