/*
 * xgw-policyd - policy store and decisions. This is the process frame: it registers as the
 * "policy" service and answers status requests. The SQLite store and the
 * decision engine arrive with the policyd work.
 */
#include "xgw_service.h"

static void
s_pick(xgw_service_def_t *def, const xgw_settings_t *s)
{
    def->credit = s->policyd.credit;
    def->metrics_port = s->policyd.metrics_port;
}

int
main(int argc, char **argv)
{
    xgw_service_def_t def = {.process = "policyd", .service = "policy"};
    return xgw_service_main(&def, argc, argv, s_pick);
}
