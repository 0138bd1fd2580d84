/*
 * support_proc.c - process helpers for integration tests; see support_proc.h.
 */
#include "support_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define S_MAX_PROCS 64
static pid_t s_procs[S_MAX_PROCS];
static int s_nprocs;

const char *
xt_bin(const char *name)
{
    static char path[1024];
    const char *dir = getenv("XGW_BIN_DIR");
    if (!dir)
        dir = ".";
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (access(path, X_OK) == 0)
        return path;
    snprintf(path, sizeof path, "%s/tests/%s", dir, name);
    return path;
}

pid_t
xt_spawn(char *const argv[], const char *log_path)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log_path, O_WRONLY | O_CREAT | O_APPEND,
                                     0644);
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fprintf(stderr, "spawn %s failed: %s\n", argv[0], strerror(rc));
        return -1;
    }
    if (s_nprocs < S_MAX_PROCS)
        s_procs[s_nprocs++] = pid;
    return pid;
}

void
xt_signal(pid_t pid, int sig)
{
    if (pid > 0)
        kill(pid, sig);
}

static void
s_forget(pid_t pid)
{
    for (int i = 0; i < s_nprocs; i++) {
        if (s_procs[i] == pid)
            s_procs[i] = 0;
    }
}

int
xt_wait(pid_t pid, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        int status = 0;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            s_forget(pid);
            return status;
        }
        if (r < 0 && errno == ECHILD) {
            s_forget(pid);
            return 0;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

int
xt_stop(pid_t pid, int timeout_ms)
{
    if (pid <= 0)
        return -1;
    kill(pid, SIGTERM);
    int status = xt_wait(pid, timeout_ms);
    if (status != -1)
        return status;
    kill(pid, SIGKILL);
    xt_wait(pid, 5000);
    return -1;
}

void
xt_cleanup(void)
{
    for (int i = 0; i < s_nprocs; i++) {
        if (s_procs[i] > 0) {
            kill(s_procs[i], SIGKILL);
            waitpid(s_procs[i], NULL, 0);
            s_procs[i] = 0;
        }
    }
    s_nprocs = 0;
}

int
xt_count_lines(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, needle))
            n++;
    }
    fclose(f);
    return n;
}

int
xt_wait_lines(const char *path, const char *needle, int count, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 20) {
        if (xt_count_lines(path, needle) >= count)
            return 0;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

const char *
xt_tmpdir(void)
{
    static char path[256];
    snprintf(path, sizeof path, "/tmp/xgw-it-XXXXXX");
    if (!mkdtemp(path)) {
        perror("mkdtemp");
        abort();
    }
    return path;
}
