/*
 * cmd_policy.c - xgwctl policy | user | partner | deny | gateway | contact
 * (administrative commands of policyd) and xgwctl decide.
 *
 * The command line is checked against the shared verb table
 * (lib/xgw_admin_verbs.c) before anything is sent, so a typo is a usage
 * error (exit 2) even when policyd is down; the values themselves are judged
 * by policyd, the single place their rules live.
 */
#include "xgw_admin_verbs.h"
#include "xgwctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_ARGS 8
#define S_MAX_OPTS 24

static int
s_print_reply(xgwctl_t *ctl, const Xgw__V1__AdminReply *ar)
{
    for (size_t i = 0; ar->code == 0 && i < ar->n_warnings; i++)
        fprintf(stderr, "xgwctl: warning: %s\n", ar->warnings[i]);
    if (ar->code != 0) {
        fprintf(stderr, "xgwctl: %s\n", ar->message);
        return ar->code == 2 ? XGWCTL_USAGE : XGWCTL_RUNTIME;
    }
    if (ctl->json) {
        if (ar->json && *ar->json)
            printf("%s\n", ar->json);
        else {
            printf("{\"ok\":true,\"message\":");
            xgwctl_json_string(stdout, ar->message);
            printf("}\n");
        }
        return XGWCTL_OK;
    }
    if (ar->message && *ar->message)
        printf("%s\n", ar->message);
    if (ar->text && *ar->text)
        fputs(ar->text, stdout);
    return XGWCTL_OK;
}

/* argv: OBJECT VERB [ARGS] [--opt value | --flag]... [--dry-run] */
static int
s_cmd_admin(xgwctl_t *ctl, int argc, char **argv)
{
    const char *object = argv[0];
    if (argc < 2) {
        int known = 0;
        xgw_admin_verb_find(object, NULL, &known);
        fprintf(stderr, "xgwctl: %s needs a command; one of:\n", object);
        for (const xgw_admin_verb_t *v = xgw_policy_verbs; v->object; v++) {
            if (strcmp(v->object, object) == 0)
                fprintf(stderr, "  xgwctl %s\n", v->usage);
        }
        return XGWCTL_USAGE;
    }
    int known = 0;
    const xgw_admin_verb_t *v = xgw_admin_verb_find(object, argv[1], &known);
    if (!v)
        return xgwctl_usage_error("unknown command \"%s %s\" (see xgwctl %s)", object, argv[1],
                                  object);

    Xgw__V1__AdminRequest req = XGW__V1__ADMIN_REQUEST__INIT;
    char *args[S_MAX_ARGS];
    Xgw__V1__Option opts[S_MAX_OPTS];
    Xgw__V1__Option *optp[S_MAX_OPTS];
    char names[S_MAX_OPTS][64]; /* option names without "--": no heap to leak */
    size_t n_args = 0, n_opts = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (n_args >= S_MAX_ARGS || (int)n_args >= v->max_args)
                return xgwctl_usage_error("unexpected argument \"%s\"; usage: xgwctl %s", a,
                                          v->usage);
            args[n_args++] = (char *)a;
            continue;
        }
        char name[64];
        const char *eq = strchr(a + 2, '=');
        size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (nl >= sizeof name)
            return xgwctl_usage_error("unknown option \"%s\"", a);
        memcpy(name, a + 2, nl);
        name[nl] = '\0';
        if (strcmp(name, "dry-run") == 0 && !eq) {
            req.dry_run = 1;
            continue;
        }
        if (strcmp(name, "json") == 0 && !eq) {
            ctl->json = 1;
            continue;
        }
        if (!xgw_admin_listed(v->options, name))
            return xgwctl_usage_error("unknown option --%s for %s %s; usage: xgwctl %s", name,
                                      object, v->verb, v->usage);
        const char *value = "";
        if (xgw_admin_listed(v->flags, name)) {
            if (eq)
                return xgwctl_usage_error("--%s takes no value", name);
        } else if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            return xgwctl_usage_error("--%s needs a value", name);
        }
        for (size_t k = 0; k < n_opts; k++) {
            if (strcmp(opts[k].key, name) == 0)
                return xgwctl_usage_error("option --%s given twice", name);
        }
        if (n_opts >= S_MAX_OPTS)
            return xgwctl_usage_error("too many options");
        xgw__v1__option__init(&opts[n_opts]);
        memcpy(names[n_opts], name, nl + 1);
        opts[n_opts].key = names[n_opts];
        opts[n_opts].value = (char *)value;
        optp[n_opts] = &opts[n_opts];
        n_opts++;
    }
    int rc = XGWCTL_OK;
    if ((int)n_args < v->min_args)
        return xgwctl_usage_error("missing argument; usage: xgwctl %s", v->usage);
    req.object = (char *)object;
    req.verb = (char *)v->verb;
    req.args = args;
    req.n_args = n_args;
    req.options = optp;
    req.n_options = n_opts;
    req.actor = getenv("SUDO_USER") ? getenv("SUDO_USER") : getenv("USER");

    Xgw__V1__Request r = XGW__V1__REQUEST__INIT;
    r.schema = 1;
    r.payload_case = XGW__V1__REQUEST__PAYLOAD_ADMIN;
    r.admin = &req;
    Xgw__V1__Reply *rep = NULL;
    uint16_t status = 0;
    rc = xgwctl_call(ctl, "policy", &r, &rep, &status);
    if (rc == XGWCTL_OK) {
        if (status == 200 && rep && rep->payload_case == XGW__V1__REPLY__PAYLOAD_ADMIN) {
            rc = s_print_reply(ctl, rep->admin);
        } else {
            fprintf(stderr, "xgwctl: policyd answered %u %s\n", status,
                    rep && rep->reason ? rep->reason : "");
            rc = XGWCTL_RUNTIME;
        }
    }
    if (rep)
        xgw__v1__reply__free_unpacked(rep, NULL);
    return rc;
}

static int
s_cmd_decide(xgwctl_t *ctl, int argc, char **argv)
{
    const char *from = NULL, *to = NULL, *kind = NULL, *edge = NULL;
    int audit = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = strcmp(a, "--from") == 0   ? &from
                            : strcmp(a, "--to") == 0   ? &to
                            : strcmp(a, "--kind") == 0 ? &kind
                            : strcmp(a, "--edge") == 0 ? &edge
                                                       : NULL;
        if (strcmp(a, "--audit") == 0) {
            audit = 1;
            continue;
        }
        if (strcmp(a, "--json") == 0) {
            ctl->json = 1;
            continue;
        }
        if (!slot)
            return xgwctl_usage_error("unknown option \"%s\"; usage: xgwctl decide --from URI "
                                      "--to URI --kind message|subscribe|presence|probe "
                                      "[--edge xmpp|sip] [--audit]",
                                      a);
        if (i + 1 >= argc)
            return xgwctl_usage_error("%s needs a value", a);
        if (*slot)
            return xgwctl_usage_error("%s given twice", a);
        *slot = argv[++i];
    }
    if (!from || !to || !kind)
        return xgwctl_usage_error("decide needs --from, --to and --kind");
    if (strcmp(kind, "message") != 0 && strcmp(kind, "subscribe") != 0 &&
        strcmp(kind, "presence") != 0 && strcmp(kind, "probe") != 0)
        return xgwctl_usage_error("--kind \"%s\" is not message, subscribe, presence or probe",
                                  kind);
    const char *service = "policy";
    if (edge) {
        if (strcmp(edge, "xmpp") != 0 && strcmp(edge, "sip") != 0)
            return xgwctl_usage_error("--edge \"%s\" is not xmpp or sip", edge);
        service = edge;
    }
    Xgw__V1__DecideRequest dq = XGW__V1__DECIDE_REQUEST__INIT;
    dq.from = (char *)from;
    dq.to = (char *)to;
    dq.kind = (char *)kind;
    dq.audit = audit;
    Xgw__V1__PolicyRequest pq = XGW__V1__POLICY_REQUEST__INIT;
    pq.op_case = XGW__V1__POLICY_REQUEST__OP_DECIDE;
    pq.decide = &dq;
    Xgw__V1__Request r = XGW__V1__REQUEST__INIT;
    r.schema = 1;
    r.payload_case = XGW__V1__REQUEST__PAYLOAD_POLICY;
    r.policy = &pq;
    Xgw__V1__Reply *rep = NULL;
    uint16_t status = 0;
    int rc = xgwctl_call(ctl, service, &r, &rep, &status);
    if (rc != XGWCTL_OK)
        return rc;
    if (status == 400) {
        rc = xgwctl_usage_error("%s", rep && rep->reason ? rep->reason : "invalid request");
    } else if (status != 200 || !rep || rep->payload_case != XGW__V1__REPLY__PAYLOAD_POLICY ||
               rep->policy->result_case != XGW__V1__POLICY_REPLY__RESULT_DECISION) {
        fprintf(stderr, "xgwctl: %s answered %u %s\n", service, status,
                rep && rep->reason ? rep->reason : "");
        rc = XGWCTL_RUNTIME;
    } else {
        const Xgw__V1__Decision *d = rep->policy->decision;
        if (ctl->json) {
            printf("{\"allow\":%s,\"rule\":", d->allow ? "true" : "false");
            xgwctl_json_string(stdout, d->rule);
            printf(",\"detail\":");
            xgwctl_json_string(stdout, d->detail);
            printf(",\"direction\":");
            xgwctl_json_string(stdout, d->direction);
            printf(",\"local_user\":");
            xgwctl_json_string(stdout, d->local_user);
            printf(",\"remote\":");
            xgwctl_json_string(stdout, d->remote);
            printf(",\"policy\":");
            xgwctl_json_string(stdout, d->policy);
            printf(",\"policy_source\":");
            xgwctl_json_string(stdout, d->policy_source);
            printf(",\"partner\":");
            xgwctl_json_string(stdout, d->partner ? d->partner->domain : "");
            printf(",\"partner_id\":%u", d->partner ? d->partner->id : 0);
            printf(",\"strip_status_note\":%s,\"ruleset_version\":%llu,\"decided_by\":",
                   d->strip_status_note ? "true" : "false", (unsigned long long)d->ruleset_version);
            xgwctl_json_string(stdout, d->decided_by);
            printf("}\n");
        } else {
            printf("%s rule=%s detail=%s direction=%s local=%s remote=%s policy=%s source=%s "
                   "partner=%s strip-status-note=%s version=%llu by=%s\n",
                   d->allow ? "ALLOW" : "DENY", d->rule, *d->detail ? d->detail : "-", d->direction,
                   d->local_user, d->remote, *d->policy ? d->policy : "-",
                   *d->policy_source ? d->policy_source : "-",
                   d->partner ? d->partner->domain : "-", d->strip_status_note ? "yes" : "no",
                   (unsigned long long)d->ruleset_version, d->decided_by);
        }
    }
    if (rep)
        xgw__v1__reply__free_unpacked(rep, NULL);
    return rc;
}

const xgwctl_cmd_t xgwctl_policy_cmds[] = {
    {"policy", "external access policies: new, set, show, remove, grant, effective", s_cmd_admin},
    {"user", "SIP users' sites: set, show, remove", s_cmd_admin},
    {"partner", "XMPP federated partners: add, set, show, remove", s_cmd_admin},
    {"deny", "deny list of domains: add, remove, show", s_cmd_admin},
    {"gateway", "gateway settings: show, set", s_cmd_admin},
    {"contact", "contact state (who added whom): show, set, remove", s_cmd_admin},
    {"decide", "--from URI --to URI --kind K: dry-run a policy decision", s_cmd_decide},
    {NULL, NULL, NULL},
};
