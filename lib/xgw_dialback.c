/*
 * xgw_dialback.c - dialback keys and the shared keyring; see
 * xgw_dialback.h.
 */
#include "xgw_dialback.h"
#include "xgw_cert_fs.h"
#include "xgw_error.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

typedef struct {
    uint8_t *bytes; /* NULL when absent */
    size_t len;
    int64_t when; /* current: created; previous: expires */
} s_secret_t;

struct xgw_dialback_ring {
    uint64_t version;
    s_secret_t current;
    s_secret_t previous;
};

static void
s_hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int
xgw_dialback_key(const uint8_t *secret, size_t len, const char *receiving, const char *originating,
                 const char *stream_id, char out[XGW_DIALBACK_KEY_HEX + 1])
{
    if (!secret || len == 0 || !receiving || !originating || !stream_id || !out)
        return XGW_EINVAL;
    uint8_t digest[SHA256_DIGEST_LENGTH];
    char hexkey[2 * SHA256_DIGEST_LENGTH + 1];
    SHA256(secret, len, digest);
    s_hex(digest, sizeof digest, hexkey);

    size_t mlen = strlen(receiving) + strlen(originating) + strlen(stream_id) + 3;
    char *msg = malloc(mlen);
    if (!msg)
        return XGW_ENOMEM;
    snprintf(msg, mlen, "%s %s %s", receiving, originating, stream_id);
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    uint8_t *r = HMAC(EVP_sha256(), hexkey, (int)strlen(hexkey), (const uint8_t *)msg, strlen(msg),
                      mac, &maclen);
    free(msg);
    OPENSSL_cleanse(digest, sizeof digest);
    OPENSSL_cleanse(hexkey, sizeof hexkey);
    if (!r || maclen != 32)
        return XGW_ERROR;
    s_hex(mac, maclen, out);
    return 0;
}

static void
s_secret_clear(s_secret_t *s)
{
    if (s->bytes)
        OPENSSL_clear_free(s->bytes, s->len);
    memset(s, 0, sizeof *s);
}

static int
s_secret_set(s_secret_t *s, const uint8_t *bytes, size_t len, int64_t when)
{
    uint8_t *copy = OPENSSL_malloc(len);
    if (!copy)
        return XGW_ENOMEM;
    memcpy(copy, bytes, len);
    s_secret_clear(s);
    s->bytes = copy;
    s->len = len;
    s->when = when;
    return 0;
}

xgw_dialback_ring_t *
xgw_dialback_ring_new(void)
{
    return calloc(1, sizeof(xgw_dialback_ring_t));
}

void
xgw_dialback_ring_destroy(xgw_dialback_ring_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    xgw_dialback_ring_t *self = *self_p;
    s_secret_clear(&self->current);
    s_secret_clear(&self->previous);
    free(self);
    *self_p = NULL;
}

static int
s_unhex(const char *hex, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n / 2; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = (char)tolower((unsigned char)hex[2 * i + (size_t)k]);
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0)
                return XGW_EINVAL;
            v = v * 16 + d;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}

/* Parses "<when> <hex>" into s. */
static int
s_parse_secret(char *rest, s_secret_t *s)
{
    char *end = NULL;
    long long when = strtoll(rest, &end, 10);
    if (end == rest || *end != ' ')
        return XGW_EINVAL;
    char *hex = end + 1;
    size_t n = strcspn(hex, " \r\n");
    if (n == 0 || n % 2 != 0 || n / 2 > XGW_DIALBACK_SECRET_MAX)
        return XGW_EINVAL;
    uint8_t buf[XGW_DIALBACK_SECRET_MAX];
    int rc = s_unhex(hex, n, buf);
    if (rc == 0)
        rc = s_secret_set(s, buf, n / 2, (int64_t)when);
    OPENSSL_cleanse(buf, sizeof buf);
    return rc;
}

int
xgw_dialback_ring_load(const char *path, xgw_dialback_ring_t **out)
{
    if (!out)
        return XGW_EINVAL;
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc = xgw_cert_fs_read(path, 16384, &text, &len);
    if (rc != 0)
        return rc;
    xgw_dialback_ring_t *r = xgw_dialback_ring_new();
    if (!r) {
        xgw_cert_fs_free_secret(text, len + 1);
        return XGW_ENOMEM;
    }
    int seen_version = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line && rc == 0;
         line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#' || line[0] == '\0')
            continue;
        if (strncmp(line, "version ", 8) == 0) {
            char *end = NULL;
            unsigned long long v = strtoull(line + 8, &end, 10);
            if (end == line + 8)
                rc = XGW_EINVAL;
            r->version = (uint64_t)v;
            seen_version = 1;
        } else if (strncmp(line, "current ", 8) == 0) {
            rc = s_parse_secret(line + 8, &r->current);
        } else if (strncmp(line, "previous ", 9) == 0) {
            rc = s_parse_secret(line + 9, &r->previous);
        } else {
            rc = XGW_EINVAL;
        }
    }
    xgw_cert_fs_free_secret(text, len + 1);
    if (rc == 0 && (!seen_version || !r->current.bytes))
        rc = XGW_EINVAL;
    if (rc != 0) {
        xgw_dialback_ring_destroy(&r);
        return rc;
    }
    *out = r;
    return 0;
}

static int
s_append_secret(char *buf, size_t cap, size_t *used, const char *name, const s_secret_t *s)
{
    if (!s->bytes)
        return 0;
    if (*used + strlen(name) + 24 + 2 * s->len + 3 > cap)
        return XGW_ERANGE;
    int n = snprintf(buf + *used, cap - *used, "%s %" PRId64 " ", name, s->when);
    if (n < 0)
        return XGW_EIO;
    *used += (size_t)n;
    s_hex(s->bytes, s->len, buf + *used);
    *used += 2 * s->len;
    buf[(*used)++] = '\n';
    buf[*used] = '\0';
    return 0;
}

int
xgw_dialback_ring_save(const xgw_dialback_ring_t *self, const char *path)
{
    if (!self || !path || !self->current.bytes)
        return XGW_EINVAL;
    size_t cap = 256 + 2 * (self->current.len + self->previous.len) + 64;
    char *buf = OPENSSL_zalloc(cap);
    if (!buf)
        return XGW_ENOMEM;
    int n = snprintf(buf, cap,
                     "# xgw dialback keyring, written by xgw-certd. Keep it mode 0600.\n"
                     "version %" PRIu64 "\n",
                     self->version);
    size_t used = n > 0 ? (size_t)n : 0;
    int rc = s_append_secret(buf, cap, &used, "current", &self->current);
    if (rc == 0)
        rc = s_append_secret(buf, cap, &used, "previous", &self->previous);
    if (rc == 0)
        rc = xgw_cert_fs_write(path, buf, used, 0600);
    OPENSSL_clear_free(buf, cap);
    return rc;
}

int
xgw_dialback_ring_rotate(xgw_dialback_ring_t *self, const uint8_t *secret, size_t len, int64_t now,
                         int64_t overlap_s)
{
    if (!self || !secret || len == 0 || len > XGW_DIALBACK_SECRET_MAX || overlap_s < 0)
        return XGW_EINVAL;
    s_secret_t fresh = {0};
    int rc = s_secret_set(&fresh, secret, len, now);
    if (rc != 0)
        return rc;
    s_secret_clear(&self->previous);
    if (self->current.bytes && overlap_s > 0) {
        self->previous = self->current;
        self->previous.when = now + overlap_s;
    } else {
        s_secret_clear(&self->current);
    }
    self->current = fresh;
    self->version++;
    return 0;
}

int
xgw_dialback_ring_expire(xgw_dialback_ring_t *self, int64_t now)
{
    if (!self || !self->previous.bytes || self->previous.when > now)
        return 0;
    s_secret_clear(&self->previous);
    self->version++;
    return 1;
}

int
xgw_dialback_ring_key(const xgw_dialback_ring_t *self, const char *receiving,
                      const char *originating, const char *stream_id,
                      char out[XGW_DIALBACK_KEY_HEX + 1])
{
    if (!self || !self->current.bytes)
        return XGW_ENOENT;
    return xgw_dialback_key(self->current.bytes, self->current.len, receiving, originating,
                            stream_id, out);
}

/* Compares a received key with an expected lower-case key, constant time. */
static int
s_key_equal(const char *expected, const char *got)
{
    if (strlen(got) != XGW_DIALBACK_KEY_HEX)
        return 0;
    char low[XGW_DIALBACK_KEY_HEX];
    for (size_t i = 0; i < XGW_DIALBACK_KEY_HEX; i++)
        low[i] = (char)tolower((unsigned char)got[i]);
    return CRYPTO_memcmp(expected, low, XGW_DIALBACK_KEY_HEX) == 0;
}

int
xgw_dialback_ring_verify(const xgw_dialback_ring_t *self, int64_t now, const char *receiving,
                         const char *originating, const char *stream_id, const char *key)
{
    if (!self || !key)
        return 0;
    char expect[XGW_DIALBACK_KEY_HEX + 1];
    if (self->current.bytes &&
        xgw_dialback_key(self->current.bytes, self->current.len, receiving, originating, stream_id,
                         expect) == 0 &&
        s_key_equal(expect, key))
        return 1;
    if (self->previous.bytes && now < self->previous.when &&
        xgw_dialback_key(self->previous.bytes, self->previous.len, receiving, originating,
                         stream_id, expect) == 0 &&
        s_key_equal(expect, key))
        return 2;
    return 0;
}

uint64_t
xgw_dialback_ring_version(const xgw_dialback_ring_t *self)
{
    return self ? self->version : 0;
}

int64_t
xgw_dialback_ring_created(const xgw_dialback_ring_t *self)
{
    return self && self->current.bytes ? self->current.when : 0;
}

int64_t
xgw_dialback_ring_previous_expires(const xgw_dialback_ring_t *self)
{
    return self && self->previous.bytes ? self->previous.when : 0;
}

int
xgw_dialback_ring_is_current(const xgw_dialback_ring_t *self, const uint8_t *secret, size_t len)
{
    if (!self || !self->current.bytes || !secret || len != self->current.len)
        return 0;
    return CRYPTO_memcmp(self->current.bytes, secret, len) == 0;
}
