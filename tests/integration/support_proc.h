/*
 * support_proc.h - starting, stopping and watching real processes from the
 * integration tests. Every process a test starts is recorded and stopped by
 * PID (SIGKILL) at xt_cleanup, whatever happened in the test.
 */
#ifndef XGW_SUPPORT_PROC_H
#define XGW_SUPPORT_PROC_H

#include <stddef.h>
#include <sys/types.h>

/* Path of a built program: $XGW_BIN_DIR/name, else $XGW_BIN_DIR/tests/name.
 * Returns a static buffer. */
const char *xt_bin(const char *name);

/* Starts argv (NULL-terminated) with stdout and stderr appended to log_path.
 * Returns the pid, or -1. */
pid_t xt_spawn(char *const argv[], const char *log_path);

/* Sends sig to pid. */
void xt_signal(pid_t pid, int sig);

/* Waits up to timeout_ms for pid to exit; returns its wait status, or -1 on
 * timeout (the process is still running). */
int xt_wait(pid_t pid, int timeout_ms);

/* SIGTERM, then up to timeout_ms for pid to exit, then SIGKILL. Returns the
 * wait status of a process that exited by itself, -1 when it had to be
 * killed. */
int xt_stop(pid_t pid, int timeout_ms);

/* Kills every process started with xt_spawn that is still running. */
void xt_cleanup(void);

/* Counts lines of path containing needle. */
int xt_count_lines(const char *path, const char *needle);

/* Polls until path has at least count lines containing needle. Returns 0, or
 * -1 on timeout. */
int xt_wait_lines(const char *path, const char *needle, int count, int timeout_ms);

/* Makes a fresh temporary directory; returns a static path. */
const char *xt_tmpdir(void);

#endif
