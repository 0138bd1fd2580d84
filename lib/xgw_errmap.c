/*
 * xgw_errmap.c - RFC 7247 error mapping tables; see xgw_errmap.h.
 *
 * One table per direction. The condition table (XMPP to SIP) also holds
 * each condition's RFC 6120 default type, so that the type given with a
 * SIP-to-XMPP mapping is declared once, with its condition.
 */
#include "xgw_errmap.h"
#include "xgw_error.h"

#include <stddef.h>
#include <string.h>

/* Checklist 8.1 (RFC 7247 Table 2) with the RFC 6120 8.3.3 types. */
typedef struct {
    const char *name;
    const char *type;
    int sip_full;    /* the failed request was for a full JID */
    int sip_bare;    /* ... for a bare JID (note 2, note 1) */
    int sip_address; /* <gone/> with a new address (note 3); 0: as sip_full */
} s_cond_t;

static const s_cond_t s_conds[] = {
    {"bad-request", "modify", 400, 400, 0},
    {"conflict", "cancel", 400, 400, 0},
    {"feature-not-implemented", "cancel", 405, 501, 0},
    {"forbidden", "auth", 403, 603, 0},
    {"gone", "cancel", 410, 410, 301},
    {"internal-server-error", "cancel", 500, 500, 0},
    {"item-not-found", "cancel", 404, 604, 0},
    {"jid-malformed", "modify", 400, 400, 0},
    {"not-acceptable", "modify", 406, 606, 0},
    {"not-allowed", "cancel", 403, 403, 0},
    {"not-authorized", "auth", 401, 401, 0},
    {"policy-violation", "modify", 403, 403, 0},
    {"recipient-unavailable", "wait", 480, 600, 0},
    {"redirect", "modify", 302, 302, 0},
    {"registration-required", "auth", 407, 407, 0},
    {"remote-server-not-found", "cancel", 404, 404, 0}, /* ERR-06 */
    {"remote-server-timeout", "wait", 408, 408, 0},
    {"resource-constraint", "wait", 500, 500, 0},
    {"service-unavailable", "cancel", 403, 403, 0}, /* ERR-05: never 503 */
    {"subscription-required", "auth", 400, 400, 0},
    {"undefined-condition", "cancel", 400, 400, 0},
    {"unexpected-request", "wait", 400, 400, 0}, /* 491 is for INVITE glare */
};

/* Checklist 8.2 (RFC 7247 Table 3). A row covers codes lo..hi; the class
 * defaults come last so that the first match is the most specific. */
typedef struct {
    int lo, hi;
    const char *condition;
    bool with_address;
} s_code_t;

static const s_code_t s_codes[] = {
    {300, 300, "redirect", true},
    {301, 301, "gone", true}, /* n1: with the new address */
    {302, 302, "redirect", true},
    {305, 305, "redirect", true},
    {380, 380, "not-acceptable", false},
    {400, 400, "bad-request", false},
    {401, 401, "not-authorized", false},
    {402, 402, "bad-request", false}, /* n2: payment-required is gone */
    {403, 403, "forbidden", false},
    {404, 404, "item-not-found", false},
    {405, 405, "feature-not-implemented", false},
    {406, 406, "not-acceptable", false},
    {407, 407, "registration-required", false},
    {408, 408, "remote-server-timeout", false},
    {410, 410, "gone", false}, /* n1: without an address */
    {413, 413, "policy-violation", false},
    {414, 414, "policy-violation", false},
    {415, 415, "not-acceptable", false},
    {416, 416, "not-acceptable", false},
    {420, 420, "feature-not-implemented", false},
    {421, 421, "not-acceptable", false},
    {423, 423, "resource-constraint", false},
    {430, 430, "recipient-unavailable", false},
    {439, 439, "feature-not-implemented", false},
    {440, 440, "policy-violation", false},
    {480, 480, "recipient-unavailable", false},
    {481, 481, "item-not-found", false},
    {482, 482, "not-acceptable", false},
    {483, 483, "not-acceptable", false},
    {484, 484, "item-not-found", false},
    {485, 485, "item-not-found", false},
    {486, 486, "recipient-unavailable", false},
    {487, 487, "recipient-unavailable", false},
    {488, 488, "not-acceptable", false},
    {489, 489, "policy-violation", false},
    {491, 491, "unexpected-request", false},
    {493, 493, "bad-request", false},
    {500, 500, "internal-server-error", false},
    {501, 501, "feature-not-implemented", false},
    {502, 502, "remote-server-not-found", false},
    {503, 503, "internal-server-error", false}, /* n9 */
    {504, 504, "remote-server-timeout", false},
    {505, 505, "not-acceptable", false},
    {513, 513, "policy-violation", false},
    {600, 600, "recipient-unavailable", false},
    {603, 603, "recipient-unavailable", false},
    {604, 604, "item-not-found", false},
    {606, 606, "not-acceptable", false},
    /* Class defaults (ERR-01). */
    {300, 399, "redirect", true},
    {400, 499, "bad-request", false},
    {500, 599, "internal-server-error", false},
    {600, 699, "recipient-unavailable", false},
};

/* ERR-09: presence error answering the gateway's subscribe. */
static const struct {
    const char *condition;
    const char *reason;
} s_sub_reasons[] = {
    {"item-not-found", "noresource"}, {"remote-server-not-found", "noresource"},
    {"gone", "noresource"},           {"forbidden", "rejected"},
    {"not-authorized", "rejected"},
};

/* Reason phrases (RFC 3261 section 21 and the RFCs that added codes). */
static const struct {
    int code;
    const char *phrase;
} s_phrases[] = {
    {100, "Trying"},
    {180, "Ringing"},
    {181, "Call Is Being Forwarded"},
    {182, "Queued"},
    {183, "Session Progress"},
    {199, "Early Dialog Terminated"},
    {200, "OK"},
    {202, "Accepted"},
    {204, "No Notification"},
    {300, "Multiple Choices"},
    {301, "Moved Permanently"},
    {302, "Moved Temporarily"},
    {305, "Use Proxy"},
    {380, "Alternative Service"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {402, "Payment Required"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {407, "Proxy Authentication Required"},
    {408, "Request Timeout"},
    {410, "Gone"},
    {412, "Conditional Request Failed"},
    {413, "Request Entity Too Large"},
    {414, "Request-URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Unsupported URI Scheme"},
    {417, "Unknown Resource-Priority"},
    {420, "Bad Extension"},
    {421, "Extension Required"},
    {422, "Session Interval Too Small"},
    {423, "Interval Too Brief"},
    {428, "Use Identity Header"},
    {429, "Provide Referrer Identity"},
    {430, "Flow Failed"},
    {433, "Anonymity Disallowed"},
    {436, "Bad Identity-Info"},
    {437, "Unsupported Certificate"},
    {438, "Invalid Identity Header"},
    {439, "First Hop Lacks Outbound Support"},
    {440, "Max-Breadth Exceeded"},
    {469, "Bad Info Package"},
    {470, "Consent Needed"},
    {480, "Temporarily Unavailable"},
    {481, "Call/Transaction Does Not Exist"},
    {482, "Loop Detected"},
    {483, "Too Many Hops"},
    {484, "Address Incomplete"},
    {485, "Ambiguous"},
    {486, "Busy Here"},
    {487, "Request Terminated"},
    {488, "Not Acceptable Here"},
    {489, "Bad Event"},
    {491, "Request Pending"},
    {493, "Undecipherable"},
    {494, "Security Agreement Required"},
    {500, "Server Internal Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Server Time-out"},
    {505, "Version Not Supported"},
    {513, "Message Too Large"},
    {580, "Precondition Failure"},
    {600, "Busy Everywhere"},
    {603, "Decline"},
    {604, "Does Not Exist Anywhere"},
    {606, "Not Acceptable"},
    {607, "Unwanted"},
};

#define S_COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const s_cond_t *
s_cond(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < S_COUNT(s_conds); i++) {
        if (strcmp(s_conds[i].name, name) == 0)
            return &s_conds[i];
    }
    return NULL;
}

int
xgw_errmap_xmpp_to_sip(const char *condition, unsigned flags)
{
    const s_cond_t *c = s_cond(condition);
    if (!c)
        c = s_cond("undefined-condition"); /* RFC 6120 8.3.2 */
    if ((flags & XGW_ERRMAP_GONE_ADDRESS) && c->sip_address)
        return c->sip_address;
    return (flags & XGW_ERRMAP_BARE) ? c->sip_bare : c->sip_full;
}

int
xgw_errmap_sip_to_xmpp(int code, unsigned flags, xgw_errmap_xmpp_t *out)
{
    memset(out, 0, sizeof *out);
    if (code < 100 || code > 699)
        return XGW_EINVAL;
    if (code < 300)
        return XGW_ENOENT; /* provisional and success: no error stanza */
    for (size_t i = 0; i < S_COUNT(s_codes); i++) {
        const s_code_t *r = &s_codes[i];
        if (code < r->lo || code > r->hi)
            continue;
        out->condition = r->condition;
        out->with_address = r->with_address;
        out->by_class = r->lo != r->hi;
        if ((flags & XGW_ERRMAP_PRIVACY) && (code == 404 || code == 604))
            out->condition = "service-unavailable";
        out->type = s_cond(out->condition)->type;
        return 0;
    }
    return XGW_EINVAL; /* not reached: the class rows cover 300..699 */
}

bool
xgw_errmap_condition_known(const char *condition)
{
    return s_cond(condition) != NULL;
}

const char *
xgw_errmap_condition_type(const char *condition)
{
    const s_cond_t *c = s_cond(condition);
    return c ? c->type : NULL;
}

const char *
xgw_errmap_reason_phrase(int code)
{
    for (size_t i = 0; i < S_COUNT(s_phrases); i++) {
        if (s_phrases[i].code == code)
            return s_phrases[i].phrase;
    }
    static const char *const classes[] = {"Provisional",  "Success",      "Redirection",
                                          "Client Error", "Server Error", "Global Failure"};
    if (code < 100 || code > 699)
        return "Unknown";
    return classes[code / 100 - 1];
}

const char *
xgw_errmap_subscription_reason(const char *condition, const char *type)
{
    if (condition) {
        for (size_t i = 0; i < S_COUNT(s_sub_reasons); i++) {
            if (strcmp(s_sub_reasons[i].condition, condition) == 0)
                return s_sub_reasons[i].reason;
        }
    }
    if (!type)
        type = xgw_errmap_condition_type(condition);
    if (type && strcmp(type, "wait") == 0)
        return "probation";
    return "rejected";
}
