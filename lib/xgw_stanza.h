/*
 * xgw_stanza.h - XMPP stanzas <-> the edge hand-off (proto/xgw/v1/im.proto),
 * and the checks that decide whether a stanza from a peer may be accepted.
 *
 * Inbound (XMPP -> gateway): xgw_stanza_inbound looks at one top-level
 * element read from an authenticated stream and says what the caller
 * (xmppd) does with it: hand a Deliver to the SIP side, ignore it, answer it
 * locally (iq ping / disco#info / iq errors), bounce a stanza error, or close
 * the stream with a stream error. Nothing is written; the caller writes
 * answers and bounces with xgw_stanza_write_answer.
 *
 * The checks, in order (checklist S2S-10, S2S-11, ROB-04, ADR-05):
 *  1. no authenticated remote domain                -> stream <not-authorized/>
 *  2. a prefixed content element (<foo:message>)     -> <bad-namespace-prefix/>
 *     message/presence/iq in another namespace      -> <invalid-namespace/>
 *     any other first-level element                  -> <unsupported-stanza-type/>
 *  3. 'to' or 'from' missing or empty                -> <improper-addressing/>
 *  4. 'from' not a JID of the authenticated domain   -> <invalid-from/>
 *     (a malformed 'from' included: there is nobody to bounce to)
 *  5. 'to' domain malformed, not served, or not the  -> <host-unknown/>
 *     stream's verified target when one is given
 *  6. 'to' local/resource part malformed or too long -> stanza <jid-malformed/>
 * Stream-level elements (db:result, db:verify, starttls, auth, features)
 * are the stream layer's; whatever else reaches this module and is not
 * message/presence/iq gets unsupported-stanza-type.
 * A stanza error is never sent in answer to a stanza of type 'error' (RFC
 * 6120 8.3.1): such stanzas are ignored whatever they hold.
 *
 * Mapping (checklist IM, PRS, SUB, ROB-05):
 *  - <message> with a non-empty <body> to a user JID -> Deliver.message. The
 *    body is the one whose language matches the stanza's (the stanza's
 *    xml:lang, else the stream's), else the first; never a concatenation
 *    (IM-04). <subject> is chosen the same way (preferring the body's
 *    language); <thread> is the first one. type: chat/normal/headline are
 *    kept, a missing or unknown type is "normal" (RFC 6121 5.2.2).
 *    type='error' and body-less messages (chat states, receipts) are ignored
 *    (IM-11); type='groupchat' and messages with a body to the bare domain
 *    bounce <service-unavailable/>.
 *  - <presence/> (no type), 'unavailable', 'probe' to a user JID ->
 *    Deliver.presence; to is the bare JID; a probe's from is bare. <show/>
 *    outside away/chat/dnd/xa is dropped (PRS-04); a <priority/> that is
 *    not an integer in -128..127 is taken as absent (presence is a
 *    broadcast: bouncing it helps nobody). <status/> is chosen like a body.
 *  - 'subscribe', 'subscribed', 'unsubscribe', 'unsubscribed' to a user JID
 *    -> Deliver.subscription with both JIDs bare (ADR-10).
 *  - presence type='error' and presence to the bare domain are ignored; an
 *    unknown presence type bounces <bad-request/>.
 *  - <iq> get/set needs an id and exactly one child, else <bad-request/>. To
 *    the domain: urn:xmpp:ping is answered with a result (S2S-18),
 *    disco#info (no node) with our identity and features, anything else
 *    <service-unavailable/> (ROB-05). To a user JID: <service-unavailable/>
 *    (the same answer for every user, so nothing tells who exists). iq
 *    result/error are ignored; the envelope (id, from) is in the result so
 *    the caller can match its own pings.
 *  - unknown child elements and children in other namespaces are ignored
 *    (ROB-05).
 *
 * Sizes (ROB-06). The stream reader bounds the whole stanza; this module
 * bounds the fields the SIP side puts into headers. A field over its limit
 * is refused, never truncated (a cut subject or thread would silently change
 * what the user sees or break correlation): the stanza bounces
 * <policy-violation/> (type modify). Limits (bytes; 0 in the context means
 * the default): body XGW_STANZA_BODY_MAX (only the stanza bound), subject
 * 1024, thread 256, id 256, status 1024. An xml:lang that is not 1..64
 * letters, digits and '-' ("en_US") is dropped (lang ""), not refused: it
 * is metadata, and refusing the user's text for it would help nobody.
 * Presence carries a lang only with a status.
 *
 * Addresses in every Deliver are canonical JIDs (xgw_addr_jid_normalize:
 * case-folded localpart, A-label domain without trailing dot).
 *
 * Memory: everything a result points to is copied into the caller's arena;
 * the stanza tree may go away once xgw_stanza_inbound returns. No globals,
 * no heap besides the arena and the caller's writer. Single-threaded use per
 * arena/writer.
 */
#ifndef XGW_STANZA_H
#define XGW_STANZA_H

#include "xgw_arena.h"
#include "xgw_errmap.h"
#include "xgw_xml.h"
#include "xgw/v1/im.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XGW_STANZA_NS_STANZAS XGW_ERRMAP_NS
#define XGW_STANZA_NS_PING "urn:xmpp:ping"
#define XGW_STANZA_NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define XGW_STANZA_NS_COMPONENT "jabber:component:accept"

#define XGW_STANZA_BODY_MAX ((size_t)16 * 1024 * 1024) /* the stream's bound applies */
#define XGW_STANZA_SUBJECT_MAX 1024
#define XGW_STANZA_THREAD_MAX 256
#define XGW_STANZA_ID_MAX 256
#define XGW_STANZA_STATUS_MAX 1024
#define XGW_STANZA_LANG_MAX 64

/* ------------------------------------------------------------------ */
/* Inbound                                                             */

/* Says whether domain (normalized: lower case, A-labels, no trailing dot)
 * is one the gateway serves. */
typedef bool (*xgw_stanza_served_fn)(void *ud, const char *domain);

typedef struct {
    /* The peer domain authenticated on this stream (SASL EXTERNAL or
     * dialback); NULL or "" while none is (S2S-10: not-authorized). */
    const char *remote_domain;
    /* The stream's verified local domain; when set, stanzas must be
     * addressed to it (dialback pairs). NULL: any served domain. */
    const char *local_domain;
    xgw_stanza_served_fn served; /* required */
    void *served_ud;
    /* Content namespace of the stream: NULL means jabber:server; component
     * links use XGW_STANZA_NS_COMPONENT. */
    const char *content_ns;
    /* xml:lang of the stream header (inherited by stanzas), NULL if none. */
    const char *stream_lang;
    /* Field limits in bytes, 0 = the XGW_STANZA_*_MAX default. */
    size_t max_body;
    size_t max_subject;
    size_t max_thread;
    size_t max_id;
    size_t max_status;
    /* Copied into Deliver.origin_instance ("xmppd.01"); NULL gives "". */
    const char *origin_instance;
} xgw_stanza_in_ctx_t;

typedef enum {
    XGW_STANZA_DELIVER = 0,  /* hand result.deliver to the SIP side */
    XGW_STANZA_IGNORE,       /* nothing to do (result.reason says why) */
    XGW_STANZA_ANSWER,       /* answer locally: xgw_stanza_write_answer */
    XGW_STANZA_BOUNCE,       /* stanza error back: xgw_stanza_write_answer */
    XGW_STANZA_STREAM_ERROR, /* send <stream:error> result.condition, close */
} xgw_stanza_action_t;

typedef enum {
    XGW_STANZA_ANSWER_NONE = 0,
    XGW_STANZA_ANSWER_PING,       /* <iq type='result'/> */
    XGW_STANZA_ANSWER_DISCO_INFO, /* <iq type='result'><query disco#info>... */
} xgw_stanza_answer_t;

typedef struct {
    xgw_stanza_action_t action;
    Xgw__V1__Deliver *deliver; /* DELIVER: in the arena, ready to pack */
    /* STREAM_ERROR: the RFC 6120 4.9.3 condition; BOUNCE: the 8.3.3 stanza
     * condition. NULL otherwise. Static strings. */
    const char *condition;
    const char *error_type; /* BOUNCE: "cancel", "modify", ... */
    xgw_stanza_answer_t answer;
    /* Short static reason for logs and metrics ("no-body", "iq-result");
     * never user content. Always set. */
    const char *reason;
    /* The stanza's envelope as received (arena copies; "" when absent, name
     * NULL when the element is not a stanza), for replies and for matching
     * iq results to the caller's own requests. from and to are canonical
     * when they could be parsed, else as received. */
    const char *name;
    const char *type;
    const char *id;
    const char *from;
    const char *to;
    /* The address answers and bounces come from: the canonical 'to', or
     * its domain alone when the 'to' was malformed. */
    const char *reply_from;
} xgw_stanza_in_t;

/* Decides what to do with stanza (a top-level element of an s2s or
 * component stream, or a tree from xgw_xml_parse_doc). Fills *out; every
 * pointer in it lives in arena. Returns 0 (the decision is in out), or
 * XGW_EINVAL (NULL arguments, no served predicate) or XGW_ENOMEM (the arena
 * ran out; the caller answers <internal-server-error/> or drops the
 * stanza). */
int xgw_stanza_inbound(const xgw_xml_node_t *stanza, const xgw_stanza_in_ctx_t *ctx,
                       xgw_arena_t *arena, xgw_stanza_in_t *out);

/* Writes the local answer (action ANSWER) or the stanza error (action
 * BOUNCE) for in: same element name, from/to swapped, the original id.
 * Appends to w; on failure w is left as it was. Returns 0, XGW_EINVAL
 * (another action), XGW_ETOOBIG or XGW_ENOMEM (the writer's bound). */
int xgw_stanza_write_answer(xgw_xml_writer_t *w, const xgw_stanza_in_t *in);

/* ------------------------------------------------------------------ */
/* Outbound                                                            */

/* ERR-08: what a message that the SIP side could not deliver because the
 * user does not exist (item-not-found, SIP 404/604) gets. */
typedef enum {
    XGW_STANZA_PRIVACY_MASK = 0, /* <service-unavailable/>, no text (default) */
    XGW_STANZA_PRIVACY_DROP,     /* nothing at all */
    XGW_STANZA_PRIVACY_REVEAL,   /* <item-not-found/> as RFC 7247 Table 3 says */
} xgw_stanza_privacy_t;

typedef struct {
    /* The stream's domain pair: every 'from' written must be at
     * local_domain and every 'to' at remote_domain (S2S-17), else
     * XGW_EINVAL. NULL skips that check (tests, component mode where the
     * server checks). */
    const char *local_domain;
    const char *remote_domain;
    /* Stanza id when the Deliver carries none (presence, or a message with
     * an empty id): id when non-empty, else "xgw-" + counter in hex. */
    const char *id;
    uint64_t counter;
    /* Policy said strip_status_note: no <status/> in presence. */
    bool strip_status;
    xgw_stanza_privacy_t privacy;
} xgw_stanza_out_ctx_t;

/* Writes the stanza for a Deliver from the SIP side, appended to w:
 *  message: <message from to [type='normal'] id [xml:lang]><subject/>
 *           <body/><thread/></message> (IM-01..03: never type='chat'; type
 *           'normal' only when the Deliver says so);
 *  presence: <presence from to [type='unavailable'|'probe'] id [xml:lang]>
 *           <show/><status/><priority/></presence> (a probe goes bare to
 *           bare and carries nothing; show outside away/chat/dnd/xa is
 *           left out, PRS-04; priority only when not 0);
 *  subscription: <presence from=bare to=bare type='subscribe'... id/>.
 * Returns 0; XGW_EINVAL when the Deliver is empty, a JID is malformed or at
 * the wrong domain, priority is outside -128..127, or a text holds
 * characters XML 1.0 cannot carry (controls, invalid UTF-8; IM-09);
 * XGW_ETOOBIG / XGW_ENOMEM from the writer. On failure w is left as it
 * was. */
int xgw_stanza_write_deliver(xgw_xml_writer_t *w, const Xgw__V1__Deliver *d,
                             const xgw_stanza_out_ctx_t *ctx);

/* A stanza error, for xgw_stanza_write_error. */
typedef struct {
    const char *name;       /* "message", "presence" or "iq" */
    const char *id;         /* the failed stanza's id; NULL/"" writes none */
    const char *from;       /* who answers: the failed stanza's 'to' */
    const char *to;         /* the failed stanza's 'from' */
    const char *condition;  /* RFC 6120 8.3.3 condition ("item-not-found") */
    const char *error_type; /* NULL/"": the condition's default type */
    const char *text;       /* optional <text/>; left out if XML cannot carry it */
    const char *lang;       /* xml:lang of the text, optional */
} xgw_stanza_error_t;

/* Writes <name type='error' from to id><error type><condition
 * xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>[<text/>]</error></name>.
 * Returns 0; XGW_EINVAL for a name, condition or type RFC 6120 does not
 * define or missing addresses; XGW_ETOOBIG / XGW_ENOMEM. On failure w is
 * left as it was. */
int xgw_stanza_write_error(xgw_xml_writer_t *w, const xgw_stanza_error_t *e);

/* The answer to a Deliver that came from XMPP (orig) and that the SIP side
 * refused (res), per the ERR rules:
 *  message: <message type='error'> from orig.to to orig.from with orig.id,
 *    the condition of res (a defined condition, else the one for
 *    res.sip_status per RFC 7247 Table 3 via xgw_errmap, else
 *    undefined-condition), its type (res.error_type when valid, else the
 *    table's or the condition's default) and res.text;
 *    item-not-found follows ctx.privacy (ERR-08);
 *  presence probe: <presence type='unsubscribed'/> bare to bare when the
 *    SIP side refused (4xx other than 408, 6xx, or a policy refusal
 *    without a SIP status), whatever the reason, so a probe tells nothing
 *    about who exists (PRS-12); nothing otherwise;
 *  subscribe: <presence type='unsubscribed'/> for SIP 403/489/603 or a
 *    policy refusal (SUB-03); nothing otherwise (ERR-08, SUB-04);
 *  other presence and subscription operations: nothing.
 * Returns 0 when a stanza was written, 1 when the rules say stay silent
 * (nothing written), or XGW_EINVAL / XGW_ETOOBIG / XGW_ENOMEM (w left as it
 * was). */
int xgw_stanza_write_deliver_error(xgw_xml_writer_t *w, const Xgw__V1__Deliver *orig,
                                   const Xgw__V1__DeliverResult *res,
                                   const xgw_stanza_out_ctx_t *ctx);

#endif
