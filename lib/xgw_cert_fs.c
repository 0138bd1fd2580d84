/*
 * xgw_cert_fs.c - atomic file writes and small directory helpers for the
 * certificate store; see xgw_cert_fs.h.
 */
#include "xgw_cert_fs.h"
#include "xgw_error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

/* Splits path into its directory (into dir) and returns 0, or XGW_EINVAL. */
static int
s_dirname(const char *path, char *dir, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, len, ".");
        return 0;
    }
    size_t n = (size_t)(slash - path);
    if (n == 0)
        n = 1; /* "/file" */
    if (n >= len)
        return XGW_EINVAL;
    memcpy(dir, path, n);
    dir[n] = '\0';
    return 0;
}

int
xgw_cert_fs_sync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return XGW_EIO;
    int rc = fsync(fd) == 0 ? 0 : XGW_EIO;
    close(fd);
    return rc;
}

static int
s_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return XGW_EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int
xgw_cert_fs_write(const char *path, const void *data, size_t len, mode_t mode)
{
    if (!path || (!data && len > 0))
        return XGW_EINVAL;
    char dir[4096];
    char tmp[4200];
    if (s_dirname(path, dir, sizeof dir) != 0)
        return XGW_EINVAL;
    unsigned char rnd[6];
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        return XGW_EIO;
    int n = snprintf(tmp, sizeof tmp, "%s/.tmp-%02x%02x%02x%02x%02x%02x", dir, rnd[0], rnd[1],
                     rnd[2], rnd[3], rnd[4], rnd[5]);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return XGW_EINVAL;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return XGW_EIO;
    int rc = s_write_all(fd, data, len);
    /* The umask may have narrowed the mode; never widened it. Set it exactly. */
    if (rc == 0 && fchmod(fd, mode) != 0)
        rc = XGW_EIO;
    if (rc == 0 && fsync(fd) != 0)
        rc = XGW_EIO;
    if (close(fd) != 0 && rc == 0)
        rc = XGW_EIO;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = XGW_EIO;
    if (rc != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return rc;
    }
    return xgw_cert_fs_sync_dir(dir);
}

int
xgw_cert_fs_read(const char *path, size_t max, char **out, size_t *len_out)
{
    if (!out)
        return XGW_EINVAL;
    *out = NULL;
    if (!path)
        return XGW_EINVAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? XGW_ENOENT : XGW_EIO;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return XGW_EIO;
    }
    /* Read up to max + 1 bytes: one more than allowed tells "too big". */
    size_t cap = (size_t)st.st_size < max ? (size_t)st.st_size + 2 : max + 2;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return XGW_ENOMEM;
    }
    size_t used = 0;
    int rc = 0;
    while (used < cap - 1) {
        ssize_t n = read(fd, buf + used, cap - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = XGW_EIO;
            break;
        }
        if (n == 0)
            break;
        used += (size_t)n;
    }
    close(fd);
    if (rc == 0 && used > max)
        rc = XGW_ETOOBIG;
    if (rc != 0) {
        OPENSSL_clear_free(buf, cap);
        return rc;
    }
    buf[used] = '\0';
    *out = buf;
    if (len_out)
        *len_out = used;
    return 0;
}

void
xgw_cert_fs_free_secret(void *p, size_t len)
{
    if (p)
        OPENSSL_clear_free(p, len);
}

int
xgw_cert_fs_mkdirs(const char *path, mode_t mode)
{
    if (!path || !*path)
        return XGW_EINVAL;
    char buf[4096];
    size_t len = strlen(path);
    if (len >= sizeof buf)
        return XGW_EINVAL;
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST)
            return XGW_EIO;
        buf[i] = c;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return XGW_EIO;
    return 0;
}

int
xgw_cert_fs_rmdir(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT ? XGW_ENOENT : XGW_EIO;
    int rc = 0;
    for (;;) {
        struct dirent *e = readdir(d);
        if (!e)
            break;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[4200];
        int n = snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        if (n < 0 || (size_t)n >= sizeof p || unlink(p) != 0)
            rc = XGW_EIO;
    }
    closedir(d);
    if (rmdir(path) != 0)
        rc = XGW_EIO;
    char parent[4096];
    if (rc == 0 && s_dirname(path, parent, sizeof parent) == 0)
        (void)xgw_cert_fs_sync_dir(parent);
    return rc;
}

int
xgw_cert_fs_sweep(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int removed = 0;
    for (;;) {
        struct dirent *e = readdir(d);
        if (!e)
            break;
        if (strncmp(e->d_name, ".tmp-", 5) != 0)
            continue;
        char p[4200];
        int n = snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (n < 0 || (size_t)n >= sizeof p)
            continue;
        struct stat st;
        if (lstat(p, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode) ? xgw_cert_fs_rmdir(p) == 0 : unlink(p) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

int
xgw_cert_fs_exists(const char *path)
{
    struct stat st;
    return path && lstat(path, &st) == 0;
}
