/*
 * xgw-sipd - the SIP edge. This is the process frame: it registers as the
 * "sip" service, answers status requests and keeps the policy replica
 * (local decisions: xgwctl decide --edge sip). The sofia-sip stack
 * arrives with the SIP edge work.
 */
#include "xgw_edge_main.h"

static void
s_pick(xgw_service_def_t *def, const xgw_settings_t *s)
{
    def->credit = s->sipd.credit;
    def->metrics_port = s->sipd.metrics_port;
}

int
main(int argc, char **argv)
{
    return xgw_edge_main("sipd", "sip", argc, argv, s_pick);
}
