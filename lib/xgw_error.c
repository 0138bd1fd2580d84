/*
 * xgw_error.c - names for XGW_E* codes.
 */
#include "xgw_error.h"

const char *
xgw_strerror(int code)
{
    switch (code) {
    case XGW_OK:
        return "ok";
    case XGW_ERROR:
        return "error";
    case XGW_EAGAIN:
        return "try again";
    case XGW_EINVAL:
        return "invalid argument";
    case XGW_ERANGE:
        return "out of range";
    case XGW_ENOMEM:
        return "out of memory";
    case XGW_EIO:
        return "i/o error";
    case XGW_ENOENT:
        return "not found";
    case XGW_ETRUNC:
        return "truncated";
    case XGW_ETOOBIG:
        return "too big";
    case XGW_EPROTO:
        return "protocol error";
    case XGW_EEXIST:
        return "already exists";
    case XGW_ETIMEDOUT:
        return "timed out";
    case XGW_ENOTCONN:
        return "not connected";
    case XGW_ECANCELED:
        return "cancelled";
    }
    return "unknown error";
}
