/*
 * xgw_addr.c - SIP URI <-> JID mapping; see xgw_addr.h for the rules.
 *
 * Everything works on (pointer, length) slices of the caller's string and
 * on fixed buffers on the stack sized by the ADR-05 limits, so a hostile
 * address costs at most a few kilobytes of stack and one linear pass.
 */
#include "xgw_addr.h"
#include "xgw_error.h"
#include "xgw_x509.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

/* An output buffer that records overflow instead of writing past cap. */
typedef struct {
    char *buf;
    size_t cap; /* bytes including the NUL */
    size_t len;
    bool over;
} s_out_t;

static void
s_out_init(s_out_t *o, char *buf, size_t cap)
{
    o->buf = buf;
    o->cap = cap;
    o->len = 0;
    o->over = buf == NULL || cap == 0;
}

static void
s_put(s_out_t *o, const char *s, size_t n)
{
    if (o->over || n >= o->cap - o->len) {
        o->over = true;
        return;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void
s_putc(s_out_t *o, char c)
{
    s_put(o, &c, 1);
}

static int
s_code_of(xgw_addr_why_t w)
{
    switch (w) {
    case XGW_ADDR_OK:
        return 0;
    case XGW_ADDR_TOO_LONG:
        return XGW_ETOOBIG;
    case XGW_ADDR_SIPS:
        return XGW_EPROTO;
    case XGW_ADDR_BUFFER:
        return XGW_ERANGE;
    default:
        return XGW_EINVAL;
    }
}

/* Records the reason, clears the output and returns the matching code. */
static int
s_fail(xgw_addr_why_t *why, xgw_addr_why_t w, char *out, size_t outlen)
{
    if (why)
        *why = w;
    if (out && outlen > 0)
        out[0] = '\0';
    return s_code_of(w);
}

/* ---- UTF-8 and characters ------------------------------------------- */

/* Decodes one strict UTF-8 sequence (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF). Returns its length, 0 if invalid. */
static size_t
s_utf8_next(const unsigned char *p, size_t n, uint32_t *cp)
{
    unsigned char c = p[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        v = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        v = c & 0x0f;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        v = c & 0x07;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        unsigned char b = p[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf))
            return 0;
        v = (v << 6) | (b & 0x3f);
    }
    *cp = v;
    return len;
}

/* C0, DEL, C1 and the two non-characters XML cannot carry. */
static bool
s_cp_control(uint32_t c)
{
    return c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f) || c == 0xfffe || c == 0xffff;
}

/* Unicode space separators (category Zs): PRECIS IdentifierClass refuses
 * them in a localpart. */
static bool
s_cp_space(uint32_t c)
{
    return c == 0x20 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
           c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

/* Checks n bytes are valid UTF-8 without control characters. */
static bool
s_text_ok(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = s_utf8_next(p + i, n - i, &cp);
        if (l == 0 || s_cp_control(cp))
            return false;
        i += l;
    }
    return true;
}

/* Lower case of the capitals this module folds (see the header). Every
 * mapping keeps the UTF-8 length, so folding works in place. */
static uint32_t
s_lower(uint32_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c + 32;
    if (c < 0xc0)
        return c;
    if (c <= 0xde)
        return c == 0xd7 ? c : c + 32; /* Latin-1, not the multiplication sign */
    if ((c >= 0x100 && c <= 0x12f) || (c >= 0x132 && c <= 0x137) || (c >= 0x14a && c <= 0x177))
        return c | 1; /* Latin Extended-A pairs: capital even, small odd */
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e))
        return (c & 1) ? c + 1 : c; /* pairs: capital odd, small even */
    if (c == 0x178)
        return 0xff; /* Y with diaeresis */
    if (c >= 0x391 && c <= 0x3ab && c != 0x3a2)
        return c + 32; /* Greek */
    if (c >= 0x400 && c <= 0x40f)
        return c + 80; /* Cyrillic with marks */
    if (c >= 0x410 && c <= 0x42f)
        return c + 32; /* basic Cyrillic */
    return c;
}

/* Case-folds n bytes of valid UTF-8 in place. */
static void
s_fold(char *s, size_t n)
{
    unsigned char *p = (unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = s_utf8_next(p + i, n - i, &cp);
        if (l == 0)
            return; /* callers validate first; never reached */
        uint32_t lc = s_lower(cp);
        if (lc != cp) {
            if (l == 1) {
                p[i] = (unsigned char)lc;
            } else {
                p[i] = (unsigned char)(0xc0 | (lc >> 6));
                p[i + 1] = (unsigned char)(0x80 | (lc & 0x3f));
            }
        }
        i += l;
    }
}

static int
s_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* ---- XEP-0106 ---------------------------------------------------------- */

/* The ten escape codes, lower-case hex as XEP-0106 writes them. */
static const char s_codes[][3] = {"20", "22", "26", "27", "2f", "3a", "3c", "3e", "40", "5c"};

/* True when p (rem bytes) starts with one of the ten escape sequences. */
static bool
s_is_escape(const char *p, size_t rem)
{
    if (rem < 3 || p[0] != '\\')
        return false;
    for (size_t i = 0; i < sizeof s_codes / sizeof s_codes[0]; i++) {
        if (p[1] == s_codes[i][0] && p[2] == s_codes[i][1])
            return true;
    }
    return false;
}

/* Characters a localpart may not hold (RFC 7622 3.3.1) and that XEP-0106
 * escapes. */
static bool
s_must_escape(unsigned char c)
{
    return c == ' ' || c == '"' || c == '&' || c == '\'' || c == '/' || c == ':' || c == '<' ||
           c == '>' || c == '@';
}

/* Escapes a decoded, folded user part into a localpart. */
static xgw_addr_why_t
s_escape(const char *in, size_t n, char *out, size_t cap, size_t *olen)
{
    static const char hex[] = "0123456789abcdef";
    if (n > 0 && (in[0] == ' ' || in[n - 1] == ' '))
        return XGW_ADDR_SPACE_EDGE;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        char seq[3];
        size_t sl = 1;
        seq[0] = (char)c;
        if (s_must_escape(c) || (c == '\\' && s_is_escape(in + i, n - i))) {
            seq[0] = '\\';
            seq[1] = hex[c >> 4];
            seq[2] = hex[c & 0xf];
            sl = 3;
        }
        if (o + sl > XGW_JID_PART_MAX || o + sl >= cap)
            return XGW_ADDR_TOO_LONG;
        memcpy(out + o, seq, sl);
        o += sl;
    }
    out[o] = '\0';
    *olen = o;
    return XGW_ADDR_OK;
}

/* One left-to-right unescaping pass (ADR-03): never repeated. out holds at
 * least n + 1 bytes. */
static size_t
s_unescape(const char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (s_is_escape(in + i, n - i)) {
            out[o++] = (char)(s_hexval(in[i + 1]) * 16 + s_hexval(in[i + 2]));
            i += 3;
        } else {
            out[o++] = in[i++];
        }
    }
    out[o] = '\0';
    return o;
}

/* ---- percent-encoding ------------------------------------------------ */

static bool
s_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 3261 user = unreserved / user-unreserved (escaped aside). */
static bool
s_user_char(unsigned char c)
{
    return s_alnum(c) || (c != '\0' && strchr("-_.!~*'()&=+$,;?/", c) != NULL);
}

/* RFC 3261 paramchar = param-unreserved / unreserved (escaped aside). */
static bool
s_param_char(unsigned char c)
{
    return s_alnum(c) || (c != '\0' && strchr("-_.!~*'()[]/:&+$", c) != NULL);
}

static void
s_pct_encode(s_out_t *o, const char *s, size_t n, bool (*keep)(unsigned char))
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (keep(c)) {
            s_putc(o, (char)c);
        } else {
            char seq[3] = {'%', hex[c >> 4], hex[c & 0xf]};
            s_put(o, seq, 3);
        }
    }
}

/* Percent-decodes n bytes into out (cap >= n + 1). A '%' not followed by
 * two hex digits stays literal (checklist section 9, "cr%zy"). The result
 * must be UTF-8 without NUL or control characters. */
static xgw_addr_why_t
s_pct_decode(const char *s, size_t n, char *out, size_t *olen)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] == '%' && i + 2 < n && s_hexval(s[i + 1]) >= 0 && s_hexval(s[i + 2]) >= 0) {
            out[o++] = (char)(s_hexval(s[i + 1]) * 16 + s_hexval(s[i + 2]));
            i += 3;
        } else {
            out[o++] = s[i++];
        }
    }
    out[o] = '\0';
    *olen = o;
    if (memchr(out, '\0', o) || !s_text_ok(out, o))
        return XGW_ADDR_ENCODING;
    return XGW_ADDR_OK;
}

/* ---- JID parts --------------------------------------------------------- */

/* A localpart as it appears in a JID (already escaped). */
static xgw_addr_why_t
s_check_local(const char *s, size_t n)
{
    if (n == 0)
        return XGW_ADDR_NO_USER;
    if (n > XGW_JID_PART_MAX)
        return XGW_ADDR_TOO_LONG;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = s_utf8_next(p + i, n - i, &cp);
        if (l == 0 || s_cp_control(cp))
            return XGW_ADDR_ENCODING;
        if (s_cp_space(cp))
            return cp == ' ' ? XGW_ADDR_CHAR : XGW_ADDR_ENCODING;
        if (cp < 0x80 && s_must_escape((unsigned char)cp))
            return XGW_ADDR_CHAR;
        i += l;
    }
    return XGW_ADDR_OK;
}

static xgw_addr_why_t
s_check_resource(const char *s, size_t n)
{
    if (n == 0)
        return XGW_ADDR_RESOURCE;
    if (n > XGW_JID_PART_MAX)
        return XGW_ADDR_TOO_LONG;
    return s_text_ok(s, n) ? XGW_ADDR_OK : XGW_ADDR_ENCODING;
}

/* Normalizes a domain slice into out (XGW_JID_DOMAIN_MAX + 1 bytes). */
static xgw_addr_why_t
s_domain_norm(const char *s, size_t n, char *out)
{
    if (n == 0)
        return XGW_ADDR_DOMAIN;
    if (n > XGW_JID_PART_MAX)
        return XGW_ADDR_TOO_LONG;
    char tmp[XGW_JID_PART_MAX + 1];
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (!s_text_ok(tmp, n))
        return XGW_ADDR_DOMAIN;
    if (tmp[0] == '[') {
        /* IPv6 literal (RFC 7622 IP-literal, RFC 3261 IPv6reference). */
        if (n < 4 || tmp[n - 1] != ']' || n - 2 > 45)
            return XGW_ADDR_DOMAIN;
        char ip[48];
        memcpy(ip, tmp + 1, n - 2);
        ip[n - 2] = '\0';
        if (!strchr(ip, ':') || !xgw_x509_is_ip_literal(ip))
            return XGW_ADDR_DOMAIN;
        for (size_t i = 0; i < n; i++)
            out[i] = (char)s_lower((unsigned char)tmp[i]);
        out[n] = '\0';
        return XGW_ADDR_OK;
    }
    s_fold(tmp, n);
    if (xgw_x509_domain_to_ascii(tmp, out, XGW_JID_DOMAIN_MAX + 1, NULL, 0) != 0)
        return XGW_ADDR_DOMAIN;
    return XGW_ADDR_OK;
}

/* Splits and checks; the domain is normalized into dom when dom != NULL. */
static xgw_addr_why_t
s_split(const char *jid, xgw_jid_parts_t *parts, char *dom)
{
    memset(parts, 0, sizeof *parts);
    if (!jid || !*jid)
        return XGW_ADDR_SYNTAX;
    size_t n = strlen(jid);
    const char *slash = memchr(jid, '/', n);
    size_t pre = slash ? (size_t)(slash - jid) : n;
    const char *at = memchr(jid, '@', pre);
    xgw_addr_why_t w;
    if (at) {
        parts->local = jid;
        parts->local_len = (size_t)(at - jid);
        w = s_check_local(parts->local, parts->local_len);
        if (w != XGW_ADDR_OK)
            return w;
        parts->domain = at + 1;
        parts->domain_len = pre - parts->local_len - 1;
    } else {
        parts->domain = jid;
        parts->domain_len = pre;
    }
    char scratch[XGW_JID_DOMAIN_MAX + 1];
    w = s_domain_norm(parts->domain, parts->domain_len, dom ? dom : scratch);
    if (w != XGW_ADDR_OK)
        return w;
    if (slash) {
        parts->resource = slash + 1;
        parts->resource_len = n - pre - 1;
        w = s_check_resource(parts->resource, parts->resource_len);
        if (w != XGW_ADDR_OK)
            return w;
    }
    return XGW_ADDR_OK;
}

/* ---- SIP URI parsing ------------------------------------------------- */

/* A ;name[=value] parameter list: finds the first gr. Stops at '?' or the
 * end. Returns false on a syntax error. */
static bool
s_find_gr(const char *p, const char *e, const char **gr, size_t *gr_len, bool *gr_seen,
          const char **stop)
{
    while (p < e && *p == ';') {
        p++;
        const char *name = p;
        while (p < e && *p != '=' && *p != ';' && *p != '?')
            p++;
        size_t nl = (size_t)(p - name);
        const char *val = NULL;
        size_t vl = 0;
        if (p < e && *p == '=') {
            val = ++p;
            while (p < e && *p != ';' && *p != '?')
                p++;
            vl = (size_t)(p - val);
        }
        if (nl == 0)
            return false;
        if (!*gr_seen && nl == 2 && (name[0] | 0x20) == 'g' && (name[1] | 0x20) == 'r') {
            *gr_seen = true;
            *gr = val;
            *gr_len = vl;
        }
    }
    *stop = p;
    return true;
}

static bool
s_is_ws(char c)
{
    return c == ' ' || c == '\t';
}

/* Picks the addr-spec out of a name-addr or addr-spec and the header
 * parameters after '>'. */
static xgw_addr_why_t
s_locate_uri(const char *s, const char *e, const char **us, const char **ue, const char **hp)
{
    const char *lt = NULL;
    bool quoted = false;
    for (const char *p = s; p < e; p++) {
        if (quoted) {
            if (*p == '\\' && p + 1 < e)
                p++;
            else if (*p == '"')
                quoted = false;
        } else if (*p == '"') {
            quoted = true;
        } else if (*p == '<') {
            lt = p;
            break;
        }
    }
    if (!lt) {
        if (quoted || memchr(s, '"', (size_t)(e - s)) || memchr(s, '>', (size_t)(e - s)))
            return XGW_ADDR_SYNTAX;
        *us = s;
        *ue = e;
        *hp = e;
        return XGW_ADDR_OK;
    }
    const char *gt = memchr(lt + 1, '>', (size_t)(e - lt - 1));
    if (!gt)
        return XGW_ADDR_SYNTAX;
    *us = lt + 1;
    *ue = gt;
    *hp = gt + 1;
    return XGW_ADDR_OK;
}

/* Checks a port: 1 to 5 digits, at most 65535. */
static bool
s_port_ok(const char *p, const char *e)
{
    size_t n = (size_t)(e - p);
    if (n == 0 || n > 5)
        return false;
    unsigned long v = 0;
    for (; p < e; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    return v <= 65535;
}

static xgw_addr_why_t
s_sip_to_jid(const char *uri, unsigned flags, s_out_t *out)
{
    if (!uri)
        return XGW_ADDR_SYNTAX;
    const char *s = uri;
    const char *e = uri + strlen(uri);
    for (const char *p = s; p < e; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return XGW_ADDR_ENCODING;
    }
    while (s < e && s_is_ws(*s))
        s++;
    while (e > s && s_is_ws(e[-1]))
        e--;
    if (s == e)
        return XGW_ADDR_SYNTAX;

    const char *us, *ue, *hp;
    xgw_addr_why_t w = s_locate_uri(s, e, &us, &ue, &hp);
    if (w != XGW_ADDR_OK)
        return w;

    /* Scheme. */
    const char *colon = memchr(us, ':', (size_t)(ue - us));
    if (!colon || colon == us)
        return XGW_ADDR_SYNTAX;
    for (const char *p = us; p < colon; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (p > us && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'));
        if (!ok)
            return XGW_ADDR_SYNTAX;
    }
    size_t sl = (size_t)(colon - us);
    if (sl == 4 && strncasecmp(us, "sips", 4) == 0)
        return XGW_ADDR_SIPS;
    if (!((sl == 3 && strncasecmp(us, "sip", 3) == 0) ||
          (sl == 2 && strncasecmp(us, "im", 2) == 0) ||
          (sl == 4 && strncasecmp(us, "pres", 4) == 0)))
        return XGW_ADDR_SCHEME;

    /* userinfo "@" hostport *( ";" param ) [ "?" headers ] */
    const char *rest = colon + 1;
    const char *at = memchr(rest, '@', (size_t)(ue - rest));
    if (!at || at == rest)
        return XGW_ADDR_NO_USER;
    for (const char *p = rest; p < at; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20)
            return c == ' ' ? XGW_ADDR_SYNTAX : XGW_ADDR_ENCODING;
        if (c == '"' || c == '<' || c == '>')
            return XGW_ADDR_SYNTAX;
        if (c == ':')
            return XGW_ADDR_CHAR; /* user:password is not mapped */
    }
    const char *host = at + 1;
    const char *hend = host;
    while (hend < ue && *hend != ';' && *hend != '?')
        hend++;
    const char *hostname_end = hend;
    if (host < hend && *host == '[') {
        const char *rb = memchr(host, ']', (size_t)(hend - host));
        if (!rb)
            return XGW_ADDR_DOMAIN;
        hostname_end = rb + 1;
        if (hostname_end < hend && (*hostname_end != ':' || !s_port_ok(hostname_end + 1, hend)))
            return XGW_ADDR_SYNTAX;
    } else {
        const char *pc = memchr(host, ':', (size_t)(hend - host));
        if (pc) {
            if (!s_port_ok(pc + 1, hend))
                return XGW_ADDR_SYNTAX;
            hostname_end = pc;
        }
    }
    const char *gr = NULL;
    size_t gr_len = 0;
    bool gr_seen = false;
    const char *stop;
    if (!s_find_gr(hend, ue, &gr, &gr_len, &gr_seen, &stop))
        return XGW_ADDR_SYNTAX;
    if (stop < ue && *stop != '?')
        return XGW_ADDR_SYNTAX;
    /* Header parameters after '>' (RFC 7248 examples put gr there). */
    const char *p = hp;
    while (p < e && s_is_ws(*p))
        p++;
    if (p < e) {
        if (!s_find_gr(p, e, &gr, &gr_len, &gr_seen, &stop) || stop != e)
            return XGW_ADDR_SYNTAX;
    }

    /* Localpart. The raw user part is at most 3 octets per decoded one. */
    size_t ul = (size_t)(at - rest);
    if (ul > 3 * XGW_JID_PART_MAX)
        return XGW_ADDR_TOO_LONG;
    char dec[3 * XGW_JID_PART_MAX + 1];
    size_t dl;
    w = s_pct_decode(rest, ul, dec, &dl);
    if (w != XGW_ADDR_OK)
        return w;
    if (dl == 0)
        return XGW_ADDR_NO_USER;
    s_fold(dec, dl);
    char local[XGW_JID_PART_MAX + 1];
    size_t ll;
    w = s_escape(dec, dl, local, sizeof local, &ll);
    if (w != XGW_ADDR_OK)
        return w;
    w = s_check_local(local, ll);
    if (w != XGW_ADDR_OK)
        return w;

    char dom[XGW_JID_DOMAIN_MAX + 1];
    w = s_domain_norm(host, (size_t)(hostname_end - host), dom);
    if (w != XGW_ADDR_OK)
        return w;

    char res[3 * XGW_JID_PART_MAX + 1];
    size_t rl = 0;
    if (gr && !(flags & XGW_ADDR_BARE)) {
        if (gr_len > 3 * XGW_JID_PART_MAX)
            return XGW_ADDR_TOO_LONG;
        w = s_pct_decode(gr, gr_len, res, &rl);
        if (w != XGW_ADDR_OK)
            return XGW_ADDR_RESOURCE;
        w = s_check_resource(res, rl);
        if (w != XGW_ADDR_OK)
            return w == XGW_ADDR_TOO_LONG ? w : XGW_ADDR_RESOURCE;
    }

    s_put(out, local, ll);
    s_putc(out, '@');
    s_put(out, dom, strlen(dom));
    if (rl > 0) {
        s_putc(out, '/');
        s_put(out, res, rl);
    }
    return out->over ? XGW_ADDR_BUFFER : XGW_ADDR_OK;
}

int
xgw_addr_sip_to_jid(const char *uri, unsigned flags, char *jid, size_t jidlen, xgw_addr_why_t *why)
{
    s_out_t o;
    s_out_init(&o, jid, jidlen);
    xgw_addr_why_t w = s_sip_to_jid(uri, flags, &o);
    if (w != XGW_ADDR_OK)
        return s_fail(why, w, jid, jidlen);
    if (why)
        *why = XGW_ADDR_OK;
    return 0;
}

/* ---- JID to SIP -------------------------------------------------------- */

static xgw_addr_why_t
s_jid_to_sip(const char *jid, xgw_addr_scheme_t scheme, unsigned flags, s_out_t *out)
{
    xgw_jid_parts_t jp;
    char dom[XGW_JID_DOMAIN_MAX + 1];
    xgw_addr_why_t w = s_split(jid, &jp, dom);
    if (w != XGW_ADDR_OK)
        return w;
    if (!jp.local)
        return XGW_ADDR_NO_USER;
    char local[XGW_JID_PART_MAX + 1];
    memcpy(local, jp.local, jp.local_len);
    local[jp.local_len] = '\0';
    s_fold(local, jp.local_len);
    if (strncmp(local, "\\20", 3) == 0 ||
        (jp.local_len >= 3 && memcmp(local + jp.local_len - 3, "\\20", 3) == 0))
        return XGW_ADDR_SPACE_EDGE;
    char user[XGW_JID_PART_MAX + 1];
    size_t ul = s_unescape(local, jp.local_len, user);

    static const char *const schemes[] = {"sip:", "im:", "pres:"};
    if ((unsigned)scheme > XGW_ADDR_SCHEME_PRES)
        return XGW_ADDR_SCHEME;
    s_put(out, schemes[scheme], strlen(schemes[scheme]));
    s_pct_encode(out, user, ul, s_user_char);
    s_putc(out, '@');
    s_put(out, dom, strlen(dom));
    if (jp.resource && !(flags & XGW_ADDR_BARE)) {
        s_put(out, ";gr=", 4);
        s_pct_encode(out, jp.resource, jp.resource_len, s_param_char);
    }
    return out->over ? XGW_ADDR_BUFFER : XGW_ADDR_OK;
}

int
xgw_addr_jid_to_sip(const char *jid, xgw_addr_scheme_t scheme, unsigned flags, char *uri,
                    size_t urilen, xgw_addr_why_t *why)
{
    s_out_t o;
    s_out_init(&o, uri, urilen);
    xgw_addr_why_t w = s_jid_to_sip(jid, scheme, flags, &o);
    if (w != XGW_ADDR_OK)
        return s_fail(why, w, uri, urilen);
    if (why)
        *why = XGW_ADDR_OK;
    return 0;
}

/* ---- JID helpers ------------------------------------------------------- */

int
xgw_addr_jid_split(const char *jid, xgw_jid_parts_t *parts, xgw_addr_why_t *why)
{
    xgw_jid_parts_t tmp;
    xgw_addr_why_t w = s_split(jid, parts ? parts : &tmp, NULL);
    if (why)
        *why = w;
    if (w != XGW_ADDR_OK && parts)
        memset(parts, 0, sizeof *parts);
    return s_code_of(w);
}

/* What of a normalized JID to write. */
typedef enum { S_FULL, S_BARE, S_DOMAIN } s_part_t;

static int
s_normalize(const char *jid, s_part_t what, char *out, size_t outlen, xgw_addr_why_t *why)
{
    xgw_jid_parts_t jp;
    char dom[XGW_JID_DOMAIN_MAX + 1];
    xgw_addr_why_t w = s_split(jid, &jp, dom);
    if (w != XGW_ADDR_OK)
        return s_fail(why, w, out, outlen);
    s_out_t o;
    s_out_init(&o, out, outlen);
    if (jp.local && what != S_DOMAIN) {
        char local[XGW_JID_PART_MAX + 1];
        memcpy(local, jp.local, jp.local_len);
        s_fold(local, jp.local_len);
        s_put(&o, local, jp.local_len);
        s_putc(&o, '@');
    }
    s_put(&o, dom, strlen(dom));
    if (jp.resource && what == S_FULL) {
        s_putc(&o, '/');
        s_put(&o, jp.resource, jp.resource_len);
    }
    if (o.over)
        return s_fail(why, XGW_ADDR_BUFFER, out, outlen);
    if (why)
        *why = XGW_ADDR_OK;
    return 0;
}

int
xgw_addr_jid_normalize(const char *jid, char *out, size_t outlen, xgw_addr_why_t *why)
{
    return s_normalize(jid, S_FULL, out, outlen, why);
}

int
xgw_addr_jid_bare(const char *jid, char *out, size_t outlen, xgw_addr_why_t *why)
{
    return s_normalize(jid, S_BARE, out, outlen, why);
}

int
xgw_addr_jid_domain(const char *jid, char *out, size_t outlen, xgw_addr_why_t *why)
{
    return s_normalize(jid, S_DOMAIN, out, outlen, why);
}

/* ---- reasons ----------------------------------------------------------- */

const char *
xgw_addr_why_name(xgw_addr_why_t why)
{
    switch (why) {
    case XGW_ADDR_OK:
        return "ok";
    case XGW_ADDR_SYNTAX:
        return "syntax";
    case XGW_ADDR_SCHEME:
        return "scheme";
    case XGW_ADDR_SIPS:
        return "sips";
    case XGW_ADDR_NO_USER:
        return "no-user";
    case XGW_ADDR_ENCODING:
        return "encoding";
    case XGW_ADDR_CHAR:
        return "character";
    case XGW_ADDR_SPACE_EDGE:
        return "space-edge";
    case XGW_ADDR_TOO_LONG:
        return "too-long";
    case XGW_ADDR_DOMAIN:
        return "domain";
    case XGW_ADDR_RESOURCE:
        return "resource";
    case XGW_ADDR_BUFFER:
        return "buffer";
    }
    return "unknown";
}

int
xgw_addr_why_sip_status(xgw_addr_why_t why)
{
    switch (why) {
    case XGW_ADDR_OK:
        return 200;
    case XGW_ADDR_SIPS:
        return 403;
    case XGW_ADDR_SCHEME:
        return 416;
    case XGW_ADDR_NO_USER:
        return 404;
    case XGW_ADDR_BUFFER:
        return 500;
    default:
        return 400;
    }
}
