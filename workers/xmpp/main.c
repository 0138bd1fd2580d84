/*
 * xgw-xmppd - the XMPP edge. This is the process frame: it registers as the
 * "xmpp" service, answers status requests and keeps the policy replica
 * (local decisions: xgwctl decide --edge xmpp). The s2s stream layer and the
 * component link arrive with the XMPP edge work (issue: native s2s).
 */
#include "xgw_edge_main.h"

static void
s_pick(xgw_service_def_t *def, const xgw_settings_t *s)
{
    def->credit = s->xmppd.credit;
    def->metrics_port = s->xmppd.metrics_port;
}

int
main(int argc, char **argv)
{
    return xgw_edge_main("xmppd", "xmpp", argc, argv, s_pick);
}
