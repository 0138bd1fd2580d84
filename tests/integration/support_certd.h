/*
 * support_certd.h - the real xgw-broker and xgw-certd on ipc:// in a
 * temporary directory, and the real xgwctl run against them with its
 * stdout, stderr and exit code captured. Used by test_certd_*.c.
 */
#ifndef XGW_SUPPORT_CERTD_H
#define XGW_SUPPORT_CERTD_H

#include <stddef.h>
#include <sys/types.h>

typedef struct {
    char dir[256];
    char conf[320];
    char data[320];
    char broker_log[320];
    char certd_log[320];
    pid_t broker;
    pid_t certd;
    int certd_starts; /* how many times certd was started */
    int failed;       /* a shutdown check failed: keep the directory */
} xc_env_t;

typedef struct {
    int code; /* exit code, or -1 if it did not exit normally */
    char *out;
    char *err;
} xc_run_t;

/* Makes a temporary directory and a config file there ([common] on ipc://
 * in it, domains "example.net, example.org", a 200 ms heartbeat;
 * extra_certd is appended to [certd], may be NULL), writes a "system" CA
 * file with one unrelated CA, and starts the broker and certd. Returns 0
 * when certd serves, -1 otherwise. */
int xc_start(xc_env_t *e, const char *extra_certd);

/* Starts certd again (after it was stopped or killed). Returns 0 when it
 * serves (its log shows one more "event=serving"). */
int xc_start_certd(xc_env_t *e);

/* Stops certd with SIGTERM: returns 0 if it exited 0 and its log holds no
 * sanitizer report (leaks included), -1 otherwise. Tests call it in their
 * last case (cmocka does not fail a run on a failed group teardown). */
int xc_shutdown_certd(xc_env_t *e);

/* xc_shutdown_certd if certd still runs, then kills every other process
 * started and removes the directory (unless XGW_KEEP_TMP is set or
 * something failed). Returns 0, or -1 when certd misbehaved. */
int xc_stop(xc_env_t *e);

/* Runs xgwctl -c CONF followed by the NULL-terminated arguments. Fills *r
 * (free with xc_run_free) and returns the exit code. */
int xc_ctl(xc_env_t *e, xc_run_t *r, ...);

/* Frees the captured output. */
void xc_run_free(xc_run_t *r);

/* Runs a shell command; returns its exit status and, when out is not NULL,
 * its stdout (malloc'd, caller frees). */
int xc_sh(const char *cmd, char **out);

/* A digest of every name, mode and file content under <data>/certs. */
void xc_tree(const xc_env_t *e, char *out, size_t len);

/* The port certd's TLS probe listens on (from its log), or -1. */
int xc_probe_port(const xc_env_t *e);

#endif
