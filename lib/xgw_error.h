/*
 * xgw_error.h - error codes shared by every xgw module.
 *
 * Convention (libuv): functions that can fail return int, 0 on success and a
 * negative XGW_E* code on failure. Constructors return NULL on failure.
 * XGW_EAGAIN means "nothing to do now, call again later" and is not a fault.
 */
#ifndef XGW_ERROR_H
#define XGW_ERROR_H

#define XGW_OK 0
#define XGW_ERROR -1      /* unspecified failure; details were logged */
#define XGW_EAGAIN -2     /* would block / no input yet */
#define XGW_EINVAL -3     /* invalid argument or malformed input */
#define XGW_ERANGE -4     /* value out of bounds (size, number) */
#define XGW_ENOMEM -5     /* allocation failed */
#define XGW_EIO -6        /* I/O or socket failure */
#define XGW_ENOENT -7     /* no such object (file, key, worker) */
#define XGW_ETRUNC -8     /* input truncated: fewer frames/bytes than required */
#define XGW_ETOOBIG -9    /* input larger than the configured limit */
#define XGW_EPROTO -10    /* protocol violation (bad signature, unknown command) */
#define XGW_EEXIST -11    /* object already exists */
#define XGW_ETIMEDOUT -12 /* deadline passed */
#define XGW_ENOTCONN -13  /* the link or stream is not up */
#define XGW_ECANCELED -14 /* the operation was cancelled before it completed */

/* Returns a static, human-readable name for an XGW_E* code. Never NULL. */
const char *xgw_strerror(int code);

#endif
