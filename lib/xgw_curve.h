/*
 * xgw_curve.h - CURVE key pairs for tcp:// links between hosts (czmq zcert
 * format), kept by certd under <data_dir>/curve:
 *
 *   curve/                  0700
 *     broker.key            public certificate of the broker (the server)
 *     broker.key_secret     its secret certificate, 0600
 *     <proc>.key            public certificate of each client process
 *     <proc>.key_secret     0600
 *     clients/              0755: the public certificates of allowed
 *                           clients; the broker's zauth actor reads this
 *                           directory ("CURVE", dir)
 *
 * Processes: broker (server); xmppd, sipd, policyd, certd, xgwctl
 * (clients). Files are written to a temporary name and renamed, so zauth
 * never reads a half-written certificate. The broker does not use CURVE
 * yet (single host, ipc://).
 */
#ifndef XGW_CURVE_H
#define XGW_CURVE_H

#include <stddef.h>

#define XGW_CURVE_KEY_Z85 41 /* Z85 public key and NUL */

/* The process names that get a key pair, "broker" first; NULL-terminated. */
extern const char *const xgw_curve_names[];

/* Creates dir, dir/clients and every missing key pair, and makes
 * clients/ hold exactly the public certificates of the client processes.
 * Existing pairs are kept. Returns the number of pairs created (>= 0), or a
 * negative code with why. */
int xgw_curve_ensure(const char *dir, char *why, size_t whylen);

/* Reads the Z85 public key of name's certificate in dir into out. Returns 0,
 * XGW_ENOENT or XGW_EINVAL. */
int xgw_curve_public(const char *dir, const char *name, char out[XGW_CURVE_KEY_Z85]);

/* Returns 1 if name's public certificate is in dir/clients (allowed). */
int xgw_curve_allowed(const char *dir, const char *name);

#endif
