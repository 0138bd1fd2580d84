/*
 * xgw_stanza.c - XMPP stanzas <-> Deliver; see xgw_stanza.h for the rules.
 */
#include "xgw_stanza.h"

#include "xgw_addr.h"
#include "xgw_errmap.h"
#include "xgw_error.h"
#include "xgw_xml.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One canonical JID (stack buffer: a JID is at most XGW_JID_MAX octets). */
typedef struct {
    char jid[XGW_JID_MAX + 1];
    char domain[XGW_JID_DOMAIN_MAX + 1];
    bool has_local;
    bool has_resource;
} s_jid_t;

/* A stanza's two addresses. */
typedef struct {
    s_jid_t from;
    s_jid_t to;
} s_pair_t;

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

static bool
s_empty(const char *s)
{
    return !s || !*s;
}

static const char *
s_or_empty(const char *s)
{
    return s ? s : "";
}

static char *
s_dup(xgw_arena_t *arena, const char *s)
{
    return xgw_arena_strdup(arena, s ? s : "");
}

/* ASCII case-insensitive equality: language tags (RFC 5646 2.1.1). */
static bool
s_lang_eq(const char *a, const char *b)
{
    return strcasecmp(s_or_empty(a), s_or_empty(b)) == 0;
}

/* A language tag as far as a header can carry it: 1..64 letters, digits and
 * hyphens. The full RFC 5646 grammar is not needed to keep a header sane. */
static bool
s_lang_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > XGW_STANZA_LANG_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return false;
    }
    return true;
}

/* A language the SIP side can put into Content-Language, or "": a
 * malformed tag ("en_US") is metadata we drop rather than a reason to
 * refuse the user's text. */
static const char *
s_usable_lang(const char *lang)
{
    return s_empty(lang) || !s_lang_ok(lang) ? "" : lang;
}

/* Deliver strings come from protobuf, which checks neither UTF-8 nor the
 * XML character rules (IM-09): the writer's own test decides. */
static bool
s_str_ok(const char *s)
{
    return !s || xgw_xml_chars_valid(s, strlen(s));
}

static size_t
s_limit(size_t v, size_t dflt)
{
    return v ? v : dflt;
}

/* Text of an element ("" when it has none). */
static const char *
s_text(const xgw_xml_node_t *n)
{
    return n && n->text ? n->text : "";
}

static size_t
s_text_len(const xgw_xml_node_t *n)
{
    return n && n->text ? n->text_len : 0;
}

/* Parses and canonicalizes a JID. Returns 0 or the xgw_addr code. */
static int
s_jid_parse(const char *raw, s_jid_t *j)
{
    int rc = xgw_addr_jid_normalize(raw, j->jid, sizeof j->jid, NULL);
    if (rc != 0)
        return rc;
    xgw_jid_parts_t parts;
    rc = xgw_addr_jid_split(j->jid, &parts, NULL);
    if (rc != 0)
        return rc;
    if (parts.domain_len >= sizeof j->domain)
        return XGW_EINVAL;
    memcpy(j->domain, parts.domain, parts.domain_len);
    j->domain[parts.domain_len] = '\0';
    j->has_local = parts.local_len > 0;
    j->has_resource = parts.resource_len > 0;
    return 0;
}

/* The bare form of a canonical JID, in place. */
static void
s_jid_make_bare(s_jid_t *j)
{
    if (!j->has_resource)
        return;
    char *slash = strchr(j->jid, '/');
    if (slash)
        *slash = '\0';
    j->has_resource = false;
}

/* Normalized domain of a plain domain or JID; 0 or a negative code. */
static int
s_domain_norm(const char *in, char *out, size_t outlen)
{
    return xgw_addr_jid_domain(in, out, outlen, NULL);
}

/* ------------------------------------------------------------------ */
/* Stanza errors                                                       */

static bool
s_error_type_ok(const char *t)
{
    return t && (strcmp(t, "auth") == 0 || strcmp(t, "cancel") == 0 || strcmp(t, "continue") == 0 ||
                 strcmp(t, "modify") == 0 || strcmp(t, "wait") == 0);
}

/* ------------------------------------------------------------------ */
/* Inbound                                                             */

typedef struct {
    const xgw_stanza_in_ctx_t *ctx;
    xgw_arena_t *arena;
    xgw_stanza_in_t *out;
    const char *content_ns;
    const char *lang; /* the stanza's effective xml:lang, "" for none */
} s_in_t;

static int
s_decide(s_in_t *in, xgw_stanza_action_t action, const char *condition, const char *reason)
{
    in->out->action = action;
    in->out->condition = condition;
    in->out->error_type = action == XGW_STANZA_BOUNCE ? xgw_errmap_condition_type(condition) : NULL;
    in->out->reason = reason;
    return 0;
}

/* A stanza error goes back, unless the stanza was itself an error. */
static int
s_bounce(s_in_t *in, const char *condition, const char *reason)
{
    if (strcmp(in->out->type, "error") == 0)
        return s_decide(in, XGW_STANZA_IGNORE, NULL, "error-stanza");
    return s_decide(in, XGW_STANZA_BOUNCE, condition, reason);
}

/* Effective language of a child: its own xml:lang, else the stanza's. */
static const char *
s_child_lang(const s_in_t *in, const xgw_xml_node_t *child)
{
    const char *l = xgw_xml_attr_ns(child, XGW_XML_NS_XML, "lang");
    return s_empty(l) ? in->lang : l;
}

/* Among the children (content namespace, that name) picks the one in
 * language want, else the first (IM-04). */
static const xgw_xml_node_t *
s_pick_lang(const s_in_t *in, const xgw_xml_node_t *stanza, const char *name, const char *want)
{
    const xgw_xml_node_t *first = xgw_xml_child(stanza, in->content_ns, name);
    for (const xgw_xml_node_t *c = first; c; c = xgw_xml_next(c))
        if (s_lang_eq(s_child_lang(in, c), want))
            return c;
    return first;
}

static bool
s_is_stanza_name(const char *name)
{
    return strcmp(name, "message") == 0 || strcmp(name, "presence") == 0 || strcmp(name, "iq") == 0;
}

static Xgw__V1__Deliver *
s_deliver_new(s_in_t *in)
{
    Xgw__V1__Deliver *d = xgw_arena_alloc(in->arena, sizeof *d);
    if (!d)
        return NULL;
    xgw__v1__deliver__init(d);
    d->origin_instance = s_dup(in->arena, in->ctx->origin_instance);
    if (!d->origin_instance)
        return NULL;
    return d;
}

static int
s_in_message(s_in_t *in, const xgw_xml_node_t *st, const s_jid_t *from, const s_jid_t *to)
{
    const char *type = in->out->type;
    if (strcmp(type, "error") == 0)
        return s_decide(in, XGW_STANZA_IGNORE, NULL, "error-stanza");

    const xgw_xml_node_t *body = s_pick_lang(in, st, "body", in->lang);
    if (!body || s_text_len(body) == 0)
        return s_decide(in, XGW_STANZA_IGNORE, NULL, "no-body");
    if (!to->has_local)
        return s_bounce(in, "service-unavailable", "message-to-domain");
    if (strcmp(type, "groupchat") == 0)
        return s_bounce(in, "service-unavailable", "groupchat");
    const char *norm_type = type;
    if (strcmp(type, "chat") != 0 && strcmp(type, "headline") != 0)
        norm_type = "normal"; /* RFC 6121 5.2.2: missing or unknown */

    const char *lang = s_usable_lang(s_child_lang(in, body));
    const xgw_xml_node_t *subject = s_pick_lang(in, st, "subject", lang);
    const xgw_xml_node_t *thread = xgw_xml_child(st, in->content_ns, "thread");

    const xgw_stanza_in_ctx_t *ctx = in->ctx;
    if (s_text_len(body) > s_limit(ctx->max_body, XGW_STANZA_BODY_MAX) ||
        s_text_len(subject) > s_limit(ctx->max_subject, XGW_STANZA_SUBJECT_MAX) ||
        s_text_len(thread) > s_limit(ctx->max_thread, XGW_STANZA_THREAD_MAX))
        return s_bounce(in, "policy-violation", "field-too-long");

    Xgw__V1__Deliver *d = s_deliver_new(in);
    Xgw__V1__ImMessage *m = xgw_arena_alloc(in->arena, sizeof *m);
    if (!d || !m)
        return XGW_ENOMEM;
    xgw__v1__im_message__init(m);
    m->from = s_dup(in->arena, from->jid);
    m->to = s_dup(in->arena, to->jid);
    m->body = s_dup(in->arena, s_text(body));
    m->subject = s_dup(in->arena, s_text(subject));
    m->thread = s_dup(in->arena, s_text(thread));
    m->lang = s_dup(in->arena, lang);
    m->id = s_dup(in->arena, in->out->id);
    m->type = s_dup(in->arena, norm_type);
    if (!m->from || !m->to || !m->body || !m->subject || !m->thread || !m->lang || !m->id ||
        !m->type)
        return XGW_ENOMEM;
    d->kind_case = XGW__V1__DELIVER__KIND_MESSAGE;
    d->message = m;
    in->out->deliver = d;
    return s_decide(in, XGW_STANZA_DELIVER, NULL, "message");
}

static int
s_in_subscription(s_in_t *in, s_jid_t *from, s_jid_t *to, Xgw__V1__SubscriptionOp__Op op)
{
    Xgw__V1__Deliver *d = s_deliver_new(in);
    Xgw__V1__SubscriptionOp *s = xgw_arena_alloc(in->arena, sizeof *s);
    if (!d || !s)
        return XGW_ENOMEM;
    xgw__v1__subscription_op__init(s);
    s_jid_make_bare(from); /* ADR-10 */
    s_jid_make_bare(to);
    s->from = s_dup(in->arena, from->jid);
    s->to = s_dup(in->arena, to->jid);
    s->op = op;
    if (!s->from || !s->to)
        return XGW_ENOMEM;
    d->kind_case = XGW__V1__DELIVER__KIND_SUBSCRIPTION;
    d->subscription = s;
    in->out->deliver = d;
    return s_decide(in, XGW_STANZA_DELIVER, NULL, "subscription");
}

/* <priority/>: an integer in -128..127 (RFC 6121 4.7.2.3), else absent. */
static int32_t
s_priority(const xgw_xml_node_t *n)
{
    if (!n || s_text_len(n) == 0 || s_text_len(n) > 8)
        return 0;
    char *end = NULL;
    long v = strtol(n->text, &end, 10);
    if (!end || *end != '\0' || v < -128 || v > 127)
        return 0;
    return (int32_t)v;
}

static int
s_in_presence(s_in_t *in, const xgw_xml_node_t *st, s_jid_t *from, s_jid_t *to)
{
    const char *type = in->out->type;
    if (strcmp(type, "error") == 0)
        return s_decide(in, XGW_STANZA_IGNORE, NULL, "error-stanza");

    static const struct {
        const char *type;
        Xgw__V1__SubscriptionOp__Op op;
    } subs[] = {
        {"subscribe", XGW__V1__SUBSCRIPTION_OP__OP__SUBSCRIBE},
        {"subscribed", XGW__V1__SUBSCRIPTION_OP__OP__SUBSCRIBED},
        {"unsubscribe", XGW__V1__SUBSCRIPTION_OP__OP__UNSUBSCRIBE},
        {"unsubscribed", XGW__V1__SUBSCRIPTION_OP__OP__UNSUBSCRIBED},
    };
    int sub = -1;
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (strcmp(type, subs[i].type) == 0)
            sub = (int)i;
    bool probe = strcmp(type, "probe") == 0;
    bool available = type[0] == '\0';
    if (sub < 0 && !probe && !available && strcmp(type, "unavailable") != 0)
        return s_bounce(in, "bad-request", "presence-type");
    if (!to->has_local)
        return s_decide(in, XGW_STANZA_IGNORE, NULL, "presence-to-domain");
    if (sub >= 0)
        return s_in_subscription(in, from, to, subs[sub].op);

    Xgw__V1__Deliver *d = s_deliver_new(in);
    Xgw__V1__PresenceInfo *p = xgw_arena_alloc(in->arena, sizeof *p);
    if (!d || !p)
        return XGW_ENOMEM;
    xgw__v1__presence_info__init(p);
    s_jid_make_bare(to);
    if (probe) {
        s_jid_make_bare(from); /* RFC 6121 4.3.1: probes are from the bare JID */
        p->probe = 1;
    } else {
        p->available = available;
        const xgw_xml_node_t *status = s_pick_lang(in, st, "status", in->lang);
        if (s_text_len(status) > s_limit(in->ctx->max_status, XGW_STANZA_STATUS_MAX))
            return s_bounce(in, "policy-violation", "field-too-long");
        /* The language describes the status text; without one it says
         * nothing. */
        const char *lang = status ? s_usable_lang(s_child_lang(in, status)) : "";
        p->status = s_dup(in->arena, s_text(status));
        p->lang = s_dup(in->arena, lang);
        if (!p->status || !p->lang)
            return XGW_ENOMEM;
        if (available) {
            const char *show = s_text(xgw_xml_child(st, in->content_ns, "show"));
            if (strcmp(show, "away") == 0 || strcmp(show, "chat") == 0 ||
                strcmp(show, "dnd") == 0 || strcmp(show, "xa") == 0) {
                p->show = s_dup(in->arena, show);
                if (!p->show)
                    return XGW_ENOMEM;
            }
            p->priority = s_priority(xgw_xml_child(st, in->content_ns, "priority"));
        }
    }
    p->from = s_dup(in->arena, from->jid);
    p->to = s_dup(in->arena, to->jid);
    if (!p->from || !p->to)
        return XGW_ENOMEM;
    d->kind_case = XGW__V1__DELIVER__KIND_PRESENCE;
    d->presence = p;
    in->out->deliver = d;
    return s_decide(in, XGW_STANZA_DELIVER, NULL, probe ? "probe" : "presence");
}

static int
s_in_iq(s_in_t *in, const xgw_xml_node_t *st, const s_jid_t *to)
{
    const char *type = in->out->type;
    if (strcmp(type, "result") == 0 || strcmp(type, "error") == 0)
        return s_decide(in, XGW_STANZA_IGNORE, NULL, type[0] == 'r' ? "iq-result" : "iq-error");
    if (strcmp(type, "get") != 0 && strcmp(type, "set") != 0)
        return s_bounce(in, "bad-request", "iq-type");
    if (s_empty(in->out->id))
        return s_bounce(in, "bad-request", "iq-no-id");
    /* RFC 6120 8.2.3: a get or set holds exactly one payload element. */
    const xgw_xml_node_t *payload = st->children;
    if (!payload || payload->next)
        return s_bounce(in, "bad-request", "iq-payload");
    if (to->has_local)
        return s_bounce(in, "service-unavailable", "iq-to-user");
    bool get = strcmp(type, "get") == 0;
    const char *pns = s_or_empty(payload->ns);
    const char *pname = s_or_empty(payload->name);
    if (get && strcmp(pns, XGW_STANZA_NS_PING) == 0 && strcmp(pname, "ping") == 0) {
        in->out->answer = XGW_STANZA_ANSWER_PING;
        return s_decide(in, XGW_STANZA_ANSWER, NULL, "ping");
    }
    if (get && strcmp(pns, XGW_STANZA_NS_DISCO_INFO) == 0 && strcmp(pname, "query") == 0) {
        if (!s_empty(xgw_xml_attr(payload, "node")))
            return s_bounce(in, "item-not-found", "disco-node");
        in->out->answer = XGW_STANZA_ANSWER_DISCO_INFO;
        return s_decide(in, XGW_STANZA_ANSWER, NULL, "disco-info");
    }
    return s_bounce(in, "service-unavailable", "iq-unsupported");
}

/* Where a JID's domainpart is (RFC 7622 3.1), for a JID whose other parts
 * may be malformed: xgw_addr refuses the whole JID then, but the stanza
 * must still be judged by its domain (host-unknown before jid-malformed). */
static int
s_raw_domain(const char *raw, char *out, size_t outlen)
{
    const char *end = strchr(raw, '/');
    if (!end)
        end = raw + strlen(raw);
    const char *start = raw;
    const char *at = memchr(raw, '@', (size_t)(end - raw));
    if (at)
        start = at + 1;
    size_t n = (size_t)(end - start);
    if (n == 0 || n > XGW_JID_DOMAIN_MAX + 1) /* +1: a trailing dot */
        return XGW_EINVAL;
    char tmp[XGW_JID_DOMAIN_MAX + 2];
    memcpy(tmp, start, n);
    tmp[n] = '\0';
    return s_domain_norm(tmp, out, outlen);
}

/* Checks 3-6 of the header: addresses. Returns 1 when the stanza may go
 * on (from and to filled), 0 when out holds the decision, or a negative
 * code. */
static int
s_in_addresses(s_in_t *in, const char *raw_from, const char *raw_to, s_jid_t *from, s_jid_t *to)
{
    const xgw_stanza_in_ctx_t *ctx = in->ctx;
    xgw_stanza_in_t *out = in->out;
    if (s_empty(raw_from) || s_empty(raw_to)) {
        s_decide(in, XGW_STANZA_STREAM_ERROR, "improper-addressing", "missing-address");
        return 0;
    }
    if (s_jid_parse(raw_from, from) != 0) {
        s_decide(in, XGW_STANZA_STREAM_ERROR, "invalid-from", "from-malformed");
        return 0;
    }
    out->from = s_dup(in->arena, from->jid);
    if (!out->from)
        return XGW_ENOMEM;
    char remote[XGW_JID_DOMAIN_MAX + 1];
    if (s_domain_norm(ctx->remote_domain, remote, sizeof remote) != 0)
        return XGW_EINVAL;
    if (strcmp(from->domain, remote) != 0) {
        s_decide(in, XGW_STANZA_STREAM_ERROR, "invalid-from", "from-domain");
        return 0;
    }

    char to_domain[XGW_JID_DOMAIN_MAX + 1];
    if (s_raw_domain(raw_to, to_domain, sizeof to_domain) != 0) {
        s_decide(in, XGW_STANZA_STREAM_ERROR, "host-unknown", "to-domain-malformed");
        return 0;
    }
    if (!ctx->served(ctx->served_ud, to_domain)) {
        s_decide(in, XGW_STANZA_STREAM_ERROR, "host-unknown", "to-domain-not-served");
        return 0;
    }
    if (!s_empty(ctx->local_domain)) {
        char local[XGW_JID_DOMAIN_MAX + 1];
        if (s_domain_norm(ctx->local_domain, local, sizeof local) != 0)
            return XGW_EINVAL;
        if (strcmp(to_domain, local) != 0) {
            s_decide(in, XGW_STANZA_STREAM_ERROR, "host-unknown", "to-domain-not-stream");
            return 0;
        }
    }
    out->reply_from = s_dup(in->arena, to_domain);
    if (!out->reply_from)
        return XGW_ENOMEM;
    if (s_jid_parse(raw_to, to) != 0) {
        s_bounce(in, "jid-malformed", "to-malformed");
        return 0;
    }
    out->to = s_dup(in->arena, to->jid);
    out->reply_from = out->to;
    if (!out->to)
        return XGW_ENOMEM;
    return 1;
}

int
xgw_stanza_inbound(const xgw_xml_node_t *stanza, const xgw_stanza_in_ctx_t *ctx, xgw_arena_t *arena,
                   xgw_stanza_in_t *out)
{
    if (!stanza || !ctx || !arena || !out || !ctx->served)
        return XGW_EINVAL;
    memset(out, 0, sizeof *out);
    s_in_t in = {.ctx = ctx,
                 .arena = arena,
                 .out = out,
                 .content_ns = ctx->content_ns ? ctx->content_ns : XGW_XML_NS_SERVER};
    out->type = out->id = out->from = out->to = out->reply_from = "";

    /* S2S-10: nothing is processed before the peer is authenticated. */
    if (s_empty(ctx->remote_domain))
        return s_decide(&in, XGW_STANZA_STREAM_ERROR, "not-authorized", "not-authenticated");

    /* ROB-04, S2S-04: only unprefixed message/presence/iq in the content
     * namespace are stanzas; they are never routed otherwise. */
    const char *ns = s_or_empty(stanza->ns);
    const char *name = s_or_empty(stanza->name);
    if (strcmp(ns, in.content_ns) == 0 && s_is_stanza_name(name)) {
        if (!s_empty(stanza->prefix))
            return s_decide(&in, XGW_STANZA_STREAM_ERROR, "bad-namespace-prefix", "prefixed");
    } else if (s_is_stanza_name(name)) {
        /* RFC 6120 4.9.3.10: a content namespace we do not speak. */
        return s_decide(&in, XGW_STANZA_STREAM_ERROR, "invalid-namespace", "wrong-namespace");
    } else {
        return s_decide(&in, XGW_STANZA_STREAM_ERROR, "unsupported-stanza-type", "unknown-element");
    }
    out->name = name[0] == 'm' ? "message" : name[0] == 'p' ? "presence" : "iq";

    const char *type = s_or_empty(xgw_xml_attr(stanza, "type"));
    const char *id = s_or_empty(xgw_xml_attr(stanza, "id"));
    out->type = s_dup(arena, type);
    out->id = s_dup(arena, id);
    if (!out->type || !out->id)
        return XGW_ENOMEM;

    const char *raw_from = s_or_empty(xgw_xml_attr(stanza, "from"));
    const char *raw_to = s_or_empty(xgw_xml_attr(stanza, "to"));
    out->from = s_dup(arena, raw_from);
    out->to = s_dup(arena, raw_to);
    if (!out->from || !out->to)
        return XGW_ENOMEM;
    s_pair_t pair;
    int rc = s_in_addresses(&in, raw_from, raw_to, &pair.from, &pair.to);
    if (rc <= 0)
        return rc;

    if (strlen(id) > s_limit(ctx->max_id, XGW_STANZA_ID_MAX))
        return s_bounce(&in, "policy-violation", "id-too-long");
    const char *lang = xgw_xml_attr_ns(stanza, XGW_XML_NS_XML, "lang");
    in.lang = !s_empty(lang) ? lang : s_or_empty(ctx->stream_lang);

    if (out->name[0] == 'm')
        return s_in_message(&in, stanza, &pair.from, &pair.to);
    if (out->name[0] == 'p')
        return s_in_presence(&in, stanza, &pair.from, &pair.to);
    return s_in_iq(&in, stanza, &pair.to);
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */

/* Stanzas are written whole or not at all: the caller's buffer may already
 * hold other stanzas, and half a stanza would break the stream. */
static size_t
s_begin(const xgw_xml_writer_t *w)
{
    return w->len;
}

static void
s_rewind(xgw_xml_writer_t *w, size_t mark)
{
    w->len = mark;
    w->failed = false;
    w->err = 0;
    if (w->buf)
        w->buf[mark] = '\0';
}

static int
s_end(xgw_xml_writer_t *w, size_t mark)
{
    int rc = xgw_xml_writer_status(w);
    if (rc != 0)
        s_rewind(w, mark);
    return rc;
}

static void
s_error_body(xgw_xml_writer_t *w, const char *condition, const char *type, const char *text,
             const char *lang)
{
    xgw_xml_open(w, "error");
    xgw_xml_attr_w(w, "type", type);
    xgw_xml_open_end(w);
    xgw_xml_open(w, condition);
    xgw_xml_attr_w(w, "xmlns", XGW_STANZA_NS_STANZAS);
    xgw_xml_open_close(w);
    if (!s_empty(text) && s_str_ok(text)) {
        xgw_xml_open(w, "text");
        xgw_xml_attr_w(w, "xmlns", XGW_STANZA_NS_STANZAS);
        if (!s_empty(lang) && s_lang_ok(lang))
            xgw_xml_attr_w(w, "xml:lang", lang);
        xgw_xml_open_end(w);
        xgw_xml_text_w(w, text, strlen(text));
        xgw_xml_close(w, "text");
    }
    xgw_xml_close(w, "error");
}

int
xgw_stanza_write_error(xgw_xml_writer_t *w, const xgw_stanza_error_t *e)
{
    if (!w || !e || !e->name || !s_is_stanza_name(e->name) || s_empty(e->from) || s_empty(e->to))
        return XGW_EINVAL;
    const char *dflt = xgw_errmap_condition_type(e->condition);
    if (!dflt)
        return XGW_EINVAL;
    const char *type = s_empty(e->error_type) ? dflt : e->error_type;
    if (!s_error_type_ok(type))
        return XGW_EINVAL;
    if (w->failed)
        return xgw_xml_writer_status(w);
    size_t mark = s_begin(w);
    xgw_xml_open(w, e->name);
    xgw_xml_attr_w(w, "type", "error");
    if (!s_empty(e->id))
        xgw_xml_attr_w(w, "id", e->id);
    xgw_xml_attr_w(w, "from", e->from);
    xgw_xml_attr_w(w, "to", e->to);
    xgw_xml_open_end(w);
    s_error_body(w, e->condition, type, e->text, e->lang);
    xgw_xml_close(w, e->name);
    return s_end(w, mark);
}

int
xgw_stanza_write_answer(xgw_xml_writer_t *w, const xgw_stanza_in_t *in)
{
    if (!w || !in || !in->name)
        return XGW_EINVAL;
    if (in->action == XGW_STANZA_BOUNCE) {
        xgw_stanza_error_t e = {.name = in->name,
                                .id = in->id,
                                .from = in->reply_from,
                                .to = in->from,
                                .condition = in->condition,
                                .error_type = in->error_type};
        return xgw_stanza_write_error(w, &e);
    }
    if (in->action != XGW_STANZA_ANSWER || strcmp(in->name, "iq") != 0 ||
        in->answer == XGW_STANZA_ANSWER_NONE || s_empty(in->reply_from) || s_empty(in->from))
        return XGW_EINVAL;
    if (w->failed)
        return xgw_xml_writer_status(w);
    size_t mark = s_begin(w);
    xgw_xml_open(w, "iq");
    xgw_xml_attr_w(w, "type", "result");
    xgw_xml_attr_w(w, "id", in->id);
    xgw_xml_attr_w(w, "from", in->reply_from);
    xgw_xml_attr_w(w, "to", in->from);
    if (in->answer == XGW_STANZA_ANSWER_PING) {
        xgw_xml_open_close(w);
    } else {
        xgw_xml_open_end(w);
        xgw_xml_open(w, "query");
        xgw_xml_attr_w(w, "xmlns", XGW_STANZA_NS_DISCO_INFO);
        xgw_xml_open_end(w);
        /* The gateway speaks as the SIP domain's server (checklist 0). */
        xgw_xml_open(w, "identity");
        xgw_xml_attr_w(w, "category", "server");
        xgw_xml_attr_w(w, "type", "im");
        xgw_xml_open_close(w);
        static const char *const features[] = {XGW_STANZA_NS_DISCO_INFO, XGW_STANZA_NS_PING};
        for (size_t i = 0; i < sizeof features / sizeof features[0]; i++) {
            xgw_xml_open(w, "feature");
            xgw_xml_attr_w(w, "var", features[i]);
            xgw_xml_open_close(w);
        }
        xgw_xml_close(w, "query");
        xgw_xml_close(w, "iq");
    }
    return s_end(w, mark);
}

/* The id a written stanza carries: the Deliver's, the context's, or one
 * made from the counter. */
static const char *
s_out_id(const xgw_stanza_out_ctx_t *ctx, const char *own, char *buf, size_t buflen)
{
    if (!s_empty(own))
        return own;
    if (!s_empty(ctx->id))
        return ctx->id;
    snprintf(buf, buflen, "xgw-%" PRIx64, ctx->counter);
    return buf;
}

/* Parses an outbound address and checks its domain against want (NULL:
 * any). Returns 0 or XGW_EINVAL. */
static int
s_out_jid(const char *raw, const char *want, s_jid_t *j)
{
    if (s_empty(raw) || s_jid_parse(raw, j) != 0)
        return XGW_EINVAL;
    if (!s_empty(want)) {
        char dom[XGW_JID_DOMAIN_MAX + 1];
        if (s_domain_norm(want, dom, sizeof dom) != 0 || strcmp(dom, j->domain) != 0)
            return XGW_EINVAL;
    }
    return 0;
}

static void
s_open_stanza(xgw_xml_writer_t *w, const char *name, const char *type, const char *id,
              const s_jid_t *from, const s_jid_t *to, const char *lang)
{
    xgw_xml_open(w, name);
    if (type)
        xgw_xml_attr_w(w, "type", type);
    xgw_xml_attr_w(w, "id", id);
    xgw_xml_attr_w(w, "from", from->jid);
    xgw_xml_attr_w(w, "to", to->jid);
    if (!s_empty(lang))
        xgw_xml_attr_w(w, "xml:lang", lang);
}

static int
s_write_message(xgw_xml_writer_t *w, const Xgw__V1__ImMessage *m, const xgw_stanza_out_ctx_t *ctx,
                s_jid_t *from, s_jid_t *to)
{
    if (s_out_jid(m->from, ctx->local_domain, from) != 0 ||
        s_out_jid(m->to, ctx->remote_domain, to) != 0)
        return XGW_EINVAL;
    /* Characters XML cannot carry make the writer fail with XGW_EINVAL. */
    if (s_empty(m->body) || (m->id && strlen(m->id) > XGW_STANZA_ID_MAX))
        return XGW_EINVAL;
    if (!s_empty(m->lang) && !s_lang_ok(m->lang))
        return XGW_EINVAL;
    char idbuf[32];
    const char *id = s_out_id(ctx, m->id, idbuf, sizeof idbuf);
    /* IM-02: no type, or 'normal' when the SIP side asked for it; never
     * 'chat'. */
    const char *type = m->type && strcmp(m->type, "normal") == 0 ? "normal" : NULL;
    s_open_stanza(w, "message", type, id, from, to, m->lang);
    xgw_xml_open_end(w);
    if (!s_empty(m->subject))
        xgw_xml_elem_text(w, "subject", m->subject);
    xgw_xml_elem_text(w, "body", m->body);
    if (!s_empty(m->thread))
        xgw_xml_elem_text(w, "thread", m->thread);
    xgw_xml_close(w, "message");
    return 0;
}

static int
s_write_presence(xgw_xml_writer_t *w, const Xgw__V1__PresenceInfo *p,
                 const xgw_stanza_out_ctx_t *ctx, s_jid_t *from, s_jid_t *to)
{
    if (s_out_jid(p->from, ctx->local_domain, from) != 0 ||
        s_out_jid(p->to, ctx->remote_domain, to) != 0)
        return XGW_EINVAL;
    s_jid_make_bare(to);
    char idbuf[32];
    const char *id = s_out_id(ctx, NULL, idbuf, sizeof idbuf);
    if (p->probe) {
        s_jid_make_bare(from);
        s_open_stanza(w, "presence", "probe", id, from, to, NULL);
        xgw_xml_open_close(w);
        return 0;
    }
    const char *status = ctx->strip_status ? "" : s_or_empty(p->status);
    const char *lang = s_or_empty(p->lang);
    if (!s_empty(lang) && !s_lang_ok(lang))
        return XGW_EINVAL;
    const char *show = NULL;
    if (p->available && p->show &&
        (strcmp(p->show, "away") == 0 || strcmp(p->show, "chat") == 0 ||
         strcmp(p->show, "dnd") == 0 || strcmp(p->show, "xa") == 0))
        show = p->show; /* PRS-04: anything else is left out */
    if (p->available && (p->priority < -128 || p->priority > 127))
        return XGW_EINVAL;
    bool prio = p->available && p->priority != 0;
    /* xml:lang only describes the status text; without one it says
     * nothing. */
    s_open_stanza(w, "presence", p->available ? NULL : "unavailable", id, from, to,
                  status[0] ? lang : NULL);
    if (!show && !status[0] && !prio) {
        xgw_xml_open_close(w);
        return 0;
    }
    xgw_xml_open_end(w);
    if (show)
        xgw_xml_elem_text(w, "show", show);
    if (status[0])
        xgw_xml_elem_text(w, "status", status);
    if (prio) {
        char buf[8];
        snprintf(buf, sizeof buf, "%d", (int)p->priority);
        xgw_xml_elem_text(w, "priority", buf);
    }
    xgw_xml_close(w, "presence");
    return 0;
}

static const char *
s_sub_type(Xgw__V1__SubscriptionOp__Op op)
{
    switch (op) {
    case XGW__V1__SUBSCRIPTION_OP__OP__SUBSCRIBE:
        return "subscribe";
    case XGW__V1__SUBSCRIPTION_OP__OP__SUBSCRIBED:
        return "subscribed";
    case XGW__V1__SUBSCRIPTION_OP__OP__UNSUBSCRIBE:
        return "unsubscribe";
    case XGW__V1__SUBSCRIPTION_OP__OP__UNSUBSCRIBED:
        return "unsubscribed";
    default:
        return NULL;
    }
}

/* <presence type=... from=bare to=bare id/> */
static int
s_write_sub(xgw_xml_writer_t *w, const char *type, const char *raw_from, const char *raw_to,
            const xgw_stanza_out_ctx_t *ctx, s_jid_t *from, s_jid_t *to)
{
    if (!type || s_out_jid(raw_from, ctx->local_domain, from) != 0 ||
        s_out_jid(raw_to, ctx->remote_domain, to) != 0)
        return XGW_EINVAL;
    s_jid_make_bare(from); /* ADR-10 */
    s_jid_make_bare(to);
    char idbuf[32];
    s_open_stanza(w, "presence", type, s_out_id(ctx, NULL, idbuf, sizeof idbuf), from, to, NULL);
    xgw_xml_open_close(w);
    return 0;
}

int
xgw_stanza_write_deliver(xgw_xml_writer_t *w, const Xgw__V1__Deliver *d,
                         const xgw_stanza_out_ctx_t *ctx)
{
    if (!w || !d || !ctx)
        return XGW_EINVAL;
    if (ctx->id && strlen(ctx->id) > XGW_STANZA_ID_MAX)
        return XGW_EINVAL;
    if (w->failed)
        return xgw_xml_writer_status(w);
    s_pair_t pair;
    size_t mark = s_begin(w);
    int rc;
    switch (d->kind_case) {
    case XGW__V1__DELIVER__KIND_MESSAGE:
        rc = d->message ? s_write_message(w, d->message, ctx, &pair.from, &pair.to) : XGW_EINVAL;
        break;
    case XGW__V1__DELIVER__KIND_PRESENCE:
        rc = d->presence ? s_write_presence(w, d->presence, ctx, &pair.from, &pair.to) : XGW_EINVAL;
        break;
    case XGW__V1__DELIVER__KIND_SUBSCRIPTION:
        rc = d->subscription
                 ? s_write_sub(w, s_sub_type(d->subscription->op), d->subscription->from,
                               d->subscription->to, ctx, &pair.from, &pair.to)
                 : XGW_EINVAL;
        break;
    default:
        rc = XGW_EINVAL;
        break;
    }
    if (rc != 0) {
        s_rewind(w, mark);
        return rc;
    }
    return s_end(w, mark);
}

/* A refusal by the SIP side (or by policy before SIP was asked), as
 * opposed to a failure to reach anyone. */
static bool
s_is_refusal(const Xgw__V1__DeliverResult *res, const char *condition)
{
    uint32_t st = res->sip_status;
    if (st != 0)
        return (st >= 400 && st < 500 && st != 408) || (st >= 600 && st < 700);
    return condition &&
           (strcmp(condition, "forbidden") == 0 || strcmp(condition, "not-allowed") == 0 ||
            strcmp(condition, "not-authorized") == 0 ||
            strcmp(condition, "policy-violation") == 0 ||
            strcmp(condition, "item-not-found") == 0 ||
            strcmp(condition, "service-unavailable") == 0);
}

/* The condition of a DeliverResult: its own when defined, else the one
 * RFC 7247 Table 3 gives its SIP status, else undefined-condition. The
 * type goes with it: the result's when valid, else Table 3's for a mapped
 * status, else the condition's default. */
static const char *
s_result_condition(const Xgw__V1__DeliverResult *res, const char **type)
{
    const char *given = s_error_type_ok(res->error_type) ? res->error_type : NULL;
    if (xgw_errmap_condition_known(res->condition)) {
        *type = given;
        return res->condition;
    }
    xgw_errmap_xmpp_t map;
    if (xgw_errmap_sip_to_xmpp((int)(res->sip_status > 999 ? 0 : res->sip_status), 0, &map) == 0 &&
        map.condition) {
        *type = given ? given : map.type;
        return map.condition;
    }
    *type = given;
    return "undefined-condition";
}

int
xgw_stanza_write_deliver_error(xgw_xml_writer_t *w, const Xgw__V1__Deliver *orig,
                               const Xgw__V1__DeliverResult *res, const xgw_stanza_out_ctx_t *ctx)
{
    if (!w || !orig || !res || !ctx)
        return XGW_EINVAL;
    s_pair_t pair;
    const char *type = NULL;
    const char *condition = s_result_condition(res, &type);
    switch (orig->kind_case) {
    case XGW__V1__DELIVER__KIND_MESSAGE: {
        const Xgw__V1__ImMessage *m = orig->message;
        if (!m)
            return XGW_EINVAL;
        const char *text = res->text;
        if (strcmp(condition, "item-not-found") == 0 && ctx->privacy != XGW_STANZA_PRIVACY_REVEAL) {
            if (ctx->privacy == XGW_STANZA_PRIVACY_DROP)
                return 1;
            /* ERR-08: the same answer as for anything else we will not
             * deliver, and no SIP reason phrase that could tell more. */
            condition = "service-unavailable";
            type = NULL;
            text = NULL;
        }
        /* The error goes from the user the message was for back to the
         * sender. */
        if (s_out_jid(m->to, ctx->local_domain, &pair.from) != 0 ||
            s_out_jid(m->from, ctx->remote_domain, &pair.to) != 0)
            return XGW_EINVAL;
        xgw_stanza_error_t e = {.name = "message",
                                .id = m->id,
                                .from = pair.from.jid,
                                .to = pair.to.jid,
                                .condition = condition,
                                .error_type = type,
                                .text = text};
        return xgw_stanza_write_error(w, &e);
    }
    case XGW__V1__DELIVER__KIND_PRESENCE: {
        const Xgw__V1__PresenceInfo *p = orig->presence;
        if (!p)
            return XGW_EINVAL;
        if (!p->probe || !s_is_refusal(res, condition))
            return 1;
        if (w->failed)
            return xgw_xml_writer_status(w);
        size_t mark = s_begin(w);
        int rc = s_write_sub(w, "unsubscribed", p->to, p->from, ctx, &pair.from, &pair.to);
        if (rc != 0) {
            s_rewind(w, mark);
            return rc;
        }
        return s_end(w, mark);
    }
    case XGW__V1__DELIVER__KIND_SUBSCRIPTION: {
        const Xgw__V1__SubscriptionOp *s = orig->subscription;
        if (!s)
            return XGW_EINVAL;
        if (s->op != XGW__V1__SUBSCRIPTION_OP__OP__SUBSCRIBE)
            return 1;
        uint32_t st = res->sip_status;
        bool refused = st == 403 || st == 489 || st == 603 ||
                       (st == 0 && (strcmp(condition, "forbidden") == 0 ||
                                    strcmp(condition, "not-allowed") == 0 ||
                                    strcmp(condition, "not-authorized") == 0 ||
                                    strcmp(condition, "policy-violation") == 0));
        if (!refused)
            return 1;
        if (w->failed)
            return xgw_xml_writer_status(w);
        size_t mark = s_begin(w);
        int rc = s_write_sub(w, "unsubscribed", s->to, s->from, ctx, &pair.from, &pair.to);
        if (rc != 0) {
            s_rewind(w, mark);
            return rc;
        }
        return s_end(w, mark);
    }
    default:
        return XGW_EINVAL;
    }
}
