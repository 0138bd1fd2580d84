/*
 * xgwctl.h - what the xgwctl command files share: the parsed global options,
 * the connection to the broker, and the exit-code convention.
 *
 * Exit codes: XGWCTL_OK (0) success; XGWCTL_RUNTIME (1) the broker or a
 * service could not be reached or failed; XGWCTL_USAGE (2) the command line
 * or the values in it are invalid (one line saying why on stderr), and
 * nothing was changed.
 */
#ifndef XGWCTL_H
#define XGWCTL_H

#include "xgw_client.h"
#include "xgw_config.h"
#include "xgw_daemon.h"

#include "xgw/v1/gwp.pb-c.h"

#define XGWCTL_OK 0
#define XGWCTL_RUNTIME 1
#define XGWCTL_USAGE 2

typedef struct {
    const char *config;
    const char *sets[XGW_DAEMON_MAX_SETS];
    int n_sets;
    int json;
    xgw_settings_t settings;
    xgw_client_t *client; /* connected lazily by xgwctl_call */
} xgwctl_t;

/* One command: "policy", "partner", "cert", ... argv[0] is the command's own
 * name; returns an exit code. */
typedef int (*xgwctl_cmd_fn)(xgwctl_t *ctl, int argc, char **argv);

typedef struct {
    const char *name;
    const char *summary; /* one line for the usage text */
    xgwctl_cmd_fn run;
} xgwctl_cmd_t;

/* Sends req to service and waits for the answer (up to xgwctl.timeout).
 * On success returns XGWCTL_OK and sets *reply_p (caller frees with
 * xgw__v1__reply__free_unpacked) and *status to the GWP status. Prints a
 * one-line reason and returns XGWCTL_RUNTIME when there is no answer. */
int xgwctl_call(xgwctl_t *ctl, const char *service, const Xgw__V1__Request *req,
                Xgw__V1__Reply **reply_p, uint16_t *status);

/* Prints "xgwctl: " + message to stderr; returns XGWCTL_USAGE. */
int xgwctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes s as a JSON string literal (quotes and escapes) to out. */
void xgwctl_json_string(FILE *out, const char *s);

/* The command tables of each command file. */
extern const xgwctl_cmd_t xgwctl_status_cmds[];
extern const xgwctl_cmd_t xgwctl_cert_cmds[];
extern const xgwctl_cmd_t xgwctl_policy_cmds[];

#endif
