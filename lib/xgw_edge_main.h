/*
 * xgw_edge_main.h - the process frame shared by the two edges until their
 * protocol stacks arrive: a GWP service with the edge policy view plugged
 * into its loop (xgw_edge_policy.h).
 */
#ifndef XGW_EDGE_MAIN_H
#define XGW_EDGE_MAIN_H

#include "xgw_service.h"

/* Runs an edge process ("xmppd"/"xmpp" or "sipd"/"sip"). */
int xgw_edge_main(const char *process, const char *service, int argc, char **argv,
                  void (*pick)(xgw_service_def_t *def, const xgw_settings_t *s));

#endif
