/*
 * xgw_admin_verbs.c - the policy service's verb table; see
 * xgw_admin_verbs.h. Semantics of each verb: policyd/policy_admin.c.
 */
#include "xgw_admin_verbs.h"

#include <string.h>

#define S_POLICY_OPTS "description,federation,xmpp,public-cloud,outside"
#define S_PARTNER_OPTS                                                                             \
    "type,tls,sasl,dialback,keepalive,proxy-fqdn,additional-domains,connection-limit,"             \
    "description"
#define S_GATEWAY_OPTS                                                                             \
    "connection-limit,partner-connection-limit,keepalive-interval,"                                \
    "stream-establishment-timeout,stream-inactivity-timeout,subscription-refresh-interval,"        \
    "log-message-bodies,dialback-secret-ref"

const xgw_admin_verb_t xgw_policy_verbs[] = {
    {"policy", "new", 1, 1, "scope," S_POLICY_OPTS, "",
     "policy new NAME --scope global|site:S|user [--description T] [--federation on|off] "
     "[--xmpp on|off] [--public-cloud on|off] [--outside on|off]"},
    {"policy", "set", 1, 1, S_POLICY_OPTS, "",
     "policy set NAME [--description T] [--federation on|off] [--xmpp on|off] "
     "[--public-cloud on|off] [--outside on|off]"},
    {"policy", "show", 0, 1, "", "", "policy show [NAME]"},
    {"policy", "remove", 1, 1, "", "", "policy remove NAME"},
    {"policy", "grant", 1, 2, "none", "none", "policy grant USER NAME | policy grant USER --none"},
    {"policy", "effective", 1, 1, "", "", "policy effective USER"},
    {"user", "set", 1, 1, "site", "", "user set USER --site S|none"},
    {"user", "show", 0, 1, "", "", "user show [USER]"},
    {"user", "remove", 1, 1, "", "", "user remove USER"},
    {"partner", "add", 1, 1, S_PARTNER_OPTS, "",
     "partner add DOMAIN [--type federated|public-verified|public-unverified] "
     "[--tls M] [--sasl M] [--dialback on|off] [--keepalive on|off] [--proxy-fqdn H[:P]] "
     "[--additional-domains a,b] [--connection-limit N] [--description T]"},
    {"partner", "set", 1, 1, S_PARTNER_OPTS, "", "partner set DOMAIN [options of partner add]"},
    {"partner", "show", 0, 1, "", "", "partner show [DOMAIN]"},
    {"partner", "remove", 1, 1, "", "", "partner remove DOMAIN"},
    {"deny", "add", 1, 1, "", "", "deny add DOMAIN|*.DOMAIN"},
    {"deny", "remove", 1, 1, "", "", "deny remove DOMAIN|*.DOMAIN"},
    {"deny", "show", 0, 1, "", "", "deny show [DOMAIN]"},
    {"gateway", "show", 0, 0, "", "", "gateway show"},
    {"gateway", "set", 0, 0, S_GATEWAY_OPTS, "",
     "gateway set [--connection-limit N] [--partner-connection-limit N] "
     "[--keepalive-interval S] [--stream-establishment-timeout S] "
     "[--stream-inactivity-timeout S] [--subscription-refresh-interval S] "
     "[--log-message-bodies on|off] [--dialback-secret-ref NAME]"},
    {"contact", "show", 0, 1, "", "", "contact show [USER]"},
    {"contact", "set", 2, 2, "sip-added,xmpp-subscribed", "",
     "contact set USER JID [--sip-added on|off] [--xmpp-subscribed on|off]"},
    {"contact", "remove", 2, 2, "", "", "contact remove USER JID"},
    {NULL, NULL, 0, 0, NULL, NULL, NULL},
};

int
xgw_admin_listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

const xgw_admin_verb_t *
xgw_admin_verb_find(const char *object, const char *verb, int *object_known)
{
    *object_known = 0;
    for (const xgw_admin_verb_t *v = xgw_policy_verbs; v->object; v++) {
        if (strcmp(v->object, object) == 0) {
            *object_known = 1;
            if (verb && strcmp(v->verb, verb) == 0)
                return v;
        }
    }
    return NULL;
}
