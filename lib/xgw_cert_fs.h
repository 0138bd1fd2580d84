/*
 * xgw_cert_fs.h - the file operations certd's store is built from: atomic
 * writes (temporary file in the same directory, fsync, rename, fsync of the
 * directory), bounded reads, directory creation and removal.
 *
 * A reader of a file written here sees either the old or the new content,
 * never a mix; after a crash, a file is either fully written or absent (a
 * leftover ".tmp-*" file is ignored and removed by xgw_cert_fs_sweep).
 */
#ifndef XGW_CERT_FS_H
#define XGW_CERT_FS_H

#include <stddef.h>
#include <sys/types.h>

/* Writes len bytes of data to path atomically with the given mode (the
 * temporary file is created with that mode, so a 0600 file is never
 * readable by others, not even briefly). Returns 0, XGW_EINVAL for bad
 * arguments, or XGW_EIO (errno kept) when a step fails; on failure the
 * previous file, if any, is untouched and the temporary file is removed. */
int xgw_cert_fs_write(const char *path, const void *data, size_t len, mode_t mode);

/* Reads the whole file at path (at most max bytes) into a malloc'd buffer
 * with a NUL appended; the caller frees it (OPENSSL_clear_free or
 * xgw_cert_fs_free_secret for secrets). *len_out (if not NULL) gets the
 * length without the NUL. Returns 0, XGW_ENOENT, XGW_ETOOBIG (file larger
 * than max) or XGW_EIO; *out is NULL on failure. */
int xgw_cert_fs_read(const char *path, size_t max, char **out, size_t *len_out);

/* Zeroes len bytes of p and frees it. NULL is fine. */
void xgw_cert_fs_free_secret(void *p, size_t len);

/* Creates path and its missing parents with mode (existing directories keep
 * theirs). Returns 0 or XGW_EIO. */
int xgw_cert_fs_mkdirs(const char *path, mode_t mode);

/* Removes the directory path and the regular files in it (not recursive
 * beyond one level). Returns 0, XGW_ENOENT or XGW_EIO. */
int xgw_cert_fs_rmdir(const char *path);

/* fsyncs the directory path (after a rename or unlink in it). Returns 0 or
 * XGW_EIO. */
int xgw_cert_fs_sync_dir(const char *path);

/* Removes leftover ".tmp-*" files and directories in dir. Returns how many
 * were removed. */
int xgw_cert_fs_sweep(const char *dir);

/* Returns 1 if path exists (any type), 0 otherwise. */
int xgw_cert_fs_exists(const char *path);

#endif
