/*
 * xgw-certd - certificates and secrets. This is the process frame: it registers as the
 * "cert" service and answers status requests. The certificate store and
 * dialback secret arrive with the certd work.
 */
#include "xgw_service.h"

static void
s_pick(xgw_service_def_t *def, const xgw_settings_t *s)
{
    def->credit = s->certd.credit;
    def->metrics_port = s->certd.metrics_port;
}

int
main(int argc, char **argv)
{
    xgw_service_def_t def = {.process = "certd", .service = "cert"};
    return xgw_service_main(&def, argc, argv, s_pick);
}
