/*
 * xgw-sipd - the SIP edge. This is the process frame: it registers as the
 * "sip" service and answers status requests. The sofia-sip stack
 * arrives with the SIP edge work.
 */
#include "xgw_service.h"

static void
s_pick(xgw_service_def_t *def, const xgw_settings_t *s)
{
    def->credit = s->sipd.credit;
    def->metrics_port = s->sipd.metrics_port;
}

int
main(int argc, char **argv)
{
    xgw_service_def_t def = {.process = "sipd", .service = "sip"};
    return xgw_service_main(&def, argc, argv, s_pick);
}
