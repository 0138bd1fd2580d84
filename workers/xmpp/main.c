/*
 * xgw-xmppd - the XMPP edge. This is the process frame: it registers as the
 * "xmpp" service and answers status requests. The s2s stream layer and the
 * component link arrive with the XMPP edge work (issue: native s2s).
 */
#include "xgw_service.h"

static void
s_pick(xgw_service_def_t *def, const xgw_settings_t *s)
{
    def->credit = s->xmppd.credit;
    def->metrics_port = s->xmppd.metrics_port;
}

int
main(int argc, char **argv)
{
    xgw_service_def_t def = {.process = "xmppd", .service = "xmpp"};
    return xgw_service_main(&def, argc, argv, s_pick);
}
