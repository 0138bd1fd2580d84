/*
 * xgw_curve.c - CURVE key pairs and the allowed-clients directory; see
 * xgw_curve.h.
 */
#include "xgw_curve.h"
#include "xgw_cert_fs.h"
#include "xgw_error.h"

#include <czmq.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const xgw_curve_names[] = {"broker", "xmppd",  "sipd", "policyd",
                                       "certd",  "xgwctl", NULL};

static void s_why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
s_why(char *why, size_t whylen, const char *fmt, ...)
{
    if (!why || whylen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

/* Saves via a temporary file in dir (0700), sets mode, renames to final. */
static int
s_save(zcert_t *cert, int secret, const char *dir, const char *final, mode_t mode)
{
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s/.tmp-curve-%d", dir, (int)getpid());
    int rc = secret ? zcert_save_secret(cert, tmp) : zcert_save_public(cert, tmp);
    if (rc != 0 || chmod(tmp, mode) != 0 || rename(tmp, final) != 0) {
        unlink(tmp);
        return XGW_EIO;
    }
    return 0;
}

static int
s_same_file(const char *a, const char *b)
{
    char *x = NULL, *y = NULL;
    size_t xl = 0, yl = 0;
    int same = xgw_cert_fs_read(a, 65536, &x, &xl) == 0 &&
               xgw_cert_fs_read(b, 65536, &y, &yl) == 0 && xl == yl && memcmp(x, y, xl) == 0;
    free(x);
    free(y);
    return same;
}

int
xgw_curve_ensure(const char *dir, char *why, size_t whylen)
{
    char clients[1024];
    snprintf(clients, sizeof clients, "%s/clients", dir);
    if (xgw_cert_fs_mkdirs(dir, 0700) != 0 || chmod(dir, 0700) != 0 ||
        xgw_cert_fs_mkdirs(clients, 0755) != 0) {
        s_why(why, whylen, "cannot create %s: %s", clients, strerror(errno));
        return XGW_EIO;
    }
    int created = 0;
    for (size_t i = 0; xgw_curve_names[i]; i++) {
        const char *name = xgw_curve_names[i];
        char pub[1200], sec[1200], allowed[1200];
        snprintf(pub, sizeof pub, "%s/%s.key", dir, name);
        snprintf(sec, sizeof sec, "%s/%s.key_secret", dir, name);
        snprintf(allowed, sizeof allowed, "%s/%s.key", clients, name);
        if (!xgw_cert_fs_exists(sec) || !xgw_cert_fs_exists(pub)) {
            zcert_t *cert = zcert_new();
            if (!cert) {
                s_why(why, whylen, "cannot make a CURVE key pair");
                return XGW_ERROR;
            }
            zcert_set_meta(cert, "name", "%s", name);
            zcert_set_meta(cert, "created-by", "xgw-certd");
            int rc = s_save(cert, 1, dir, sec, 0600);
            if (rc == 0)
                rc = s_save(cert, 0, dir, pub, 0644);
            zcert_destroy(&cert);
            if (rc != 0) {
                s_why(why, whylen, "cannot write %s: %s", sec, strerror(errno));
                return rc;
            }
            created++;
        }
        if (strcmp(name, "broker") == 0)
            continue;
        if (!xgw_cert_fs_exists(allowed) || !s_same_file(pub, allowed)) {
            zcert_t *cert = zcert_load(pub);
            int rc = cert ? s_save(cert, 0, dir, allowed, 0644) : XGW_EIO;
            zcert_destroy(&cert);
            if (rc != 0) {
                s_why(why, whylen, "cannot write %s", allowed);
                return rc;
            }
        }
    }
    (void)xgw_cert_fs_sync_dir(dir);
    (void)xgw_cert_fs_sync_dir(clients);
    return created;
}

int
xgw_curve_public(const char *dir, const char *name, char out[XGW_CURVE_KEY_Z85])
{
    char pub[1200];
    snprintf(pub, sizeof pub, "%s/%s.key", dir, name);
    if (!xgw_cert_fs_exists(pub))
        return XGW_ENOENT;
    zcert_t *cert = zcert_load(pub);
    if (!cert)
        return XGW_EINVAL;
    snprintf(out, XGW_CURVE_KEY_Z85, "%s", zcert_public_txt(cert));
    zcert_destroy(&cert);
    return 0;
}

int
xgw_curve_allowed(const char *dir, const char *name)
{
    char allowed[1200];
    snprintf(allowed, sizeof allowed, "%s/clients/%s.key", dir, name);
    return xgw_cert_fs_exists(allowed);
}
