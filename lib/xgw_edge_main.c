/*
 * xgw_edge_main.c - edge process frame; see xgw_edge_main.h.
 */
#include "xgw_edge_main.h"
#include "xgw_edge_policy.h"
#include "xgw_error.h"

typedef struct {
    xgw_edge_policy_t *policy;
} s_edge_t;

static s_edge_t s_edge;

static int
s_on_start(void *ud, xgw_daemon_t *daemon)
{
    s_edge_t *e = ud;
    e->policy = xgw_edge_policy_new(daemon);
    return e->policy ? 0 : XGW_EIO;
}

static size_t
s_items(void *ud, zmq_pollitem_t *items, size_t max)
{
    s_edge_t *e = ud;
    return xgw_edge_policy_items(e->policy, items, max);
}

static void
s_on_extra(void *ud, size_t i)
{
    s_edge_t *e = ud;
    (void)i;
    xgw_edge_policy_readable(e->policy);
}

static int64_t
s_on_tick(void *ud)
{
    s_edge_t *e = ud;
    return xgw_edge_policy_tick(e->policy);
}

static void
s_on_stop(void *ud)
{
    s_edge_t *e = ud;
    xgw_edge_policy_destroy(&e->policy);
}

static int
s_handle(void *ud, const Xgw__V1__Request *req, Xgw__V1__Reply *reply, xgw_arena_t *arena)
{
    s_edge_t *e = ud;
    int rc = xgw_edge_policy_handle(e->policy, req, reply, arena);
    if (rc == XGW_ENOENT) {
        reply->status = 501;
        reply->reason = "this edge does not handle that request kind yet";
        return 0;
    }
    return rc;
}

int
xgw_edge_main(const char *process, const char *service, int argc, char **argv,
              void (*pick)(xgw_service_def_t *def, const xgw_settings_t *s))
{
    xgw_service_def_t def = {
        .process = process,
        .service = service,
        .handler = s_handle,
        .ud = &s_edge,
        .on_start = s_on_start,
        .extra_items = s_items,
        .on_extra = s_on_extra,
        .on_tick = s_on_tick,
        .on_stop = s_on_stop,
    };
    return xgw_service_main(&def, argc, argv, pick);
}
