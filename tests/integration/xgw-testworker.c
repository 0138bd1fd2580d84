/*
 * xgw-testworker - a real GWP worker process for the integration tests.
 * Answers every request 200 with its instance name as the body, after an
 * optional delay, and appends each executed msg_id to a log file so tests
 * can count executions (at-least-once) across kills.
 *
 *   xgw-testworker --backend EP --service S --instance I [--credit N]
 *                  [--delay-ms D] [--log FILE] [--heartbeat-ms H]
 *                  [--liveness L] [--hang-after N]
 *
 * --hang-after N: after N answers, stop reading and heartbeating but stay
 * alive (a hung process with a live socket).
 */
#include "xgw_error.h"
#include "xgw_log.h"
#include "xgw_worker.h"

#include <czmq.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t s_stop;

static void
s_on_term(int sig)
{
    (void)sig;
    s_stop = 1;
}

static long
s_num(const char *text)
{
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (!end || *end != '\0' || v < 0) {
        fprintf(stderr, "xgw-testworker: bad number \"%s\"\n", text);
        exit(2);
    }
    return v;
}

int
main(int argc, char **argv)
{
    const char *backend = NULL, *service = "test", *instance = "testworker.00", *log = NULL;
    long credit = 100, delay_ms = 0, hb = 200, liveness = 3, hang_after = -1;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (strcmp(k, "--backend") == 0)
            backend = v;
        else if (strcmp(k, "--service") == 0)
            service = v;
        else if (strcmp(k, "--instance") == 0)
            instance = v;
        else if (strcmp(k, "--log") == 0)
            log = v;
        else if (strcmp(k, "--credit") == 0)
            credit = s_num(v);
        else if (strcmp(k, "--delay-ms") == 0)
            delay_ms = s_num(v);
        else if (strcmp(k, "--heartbeat-ms") == 0)
            hb = s_num(v);
        else if (strcmp(k, "--liveness") == 0)
            liveness = s_num(v);
        else if (strcmp(k, "--hang-after") == 0)
            hang_after = s_num(v);
        else {
            fprintf(stderr, "xgw-testworker: unknown option %s\n", k);
            return 2;
        }
    }
    if (!backend) {
        fprintf(stderr, "xgw-testworker: --backend is required\n");
        return 2;
    }
    xgw_log_init("testworker", 0);
    zsys_handler_set(NULL);
    signal(SIGTERM, s_on_term);
    signal(SIGINT, s_on_term);
    int log_fd = -1;
    if (log) {
        log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (log_fd < 0) {
            perror("open log");
            return 1;
        }
    }
    xgw_worker_opts_t o;
    xgw_worker_opts_default(&o);
    o.heartbeat_ms = hb;
    o.liveness = (int)liveness;
    xgw_worker_t *w = xgw_worker_new(backend, service, instance, (uint32_t)credit, &o);
    if (!w)
        return 1;
    long answered = 0;
    while (!s_stop) {
        int64_t wait = xgw_worker_tick(w);
        zmq_pollitem_t item = {xgw_worker_socket(w), 0, ZMQ_POLLIN, 0};
        zmq_poll(&item, 1, (long)wait);
        for (;;) {
            xgw_request_t *req = NULL;
            if (xgw_worker_recv(w, &req) != 0)
                break;
            if (delay_ms > 0) {
                struct timespec ts = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
                nanosleep(&ts, NULL);
            }
            if (log_fd >= 0) {
                char line[40];
                xgw_gwp_msgid_hex(req->msg_id, line);
                line[32] = '\n';
                ssize_t n = write(log_fd, line, 33);
                (void)n;
            }
            xgw_worker_reply(w, &req, 200, instance, strlen(instance));
            answered++;
            if (hang_after >= 0 && answered >= hang_after) {
                xgw_info("hanging", "answered=%ld", answered);
                while (!s_stop)
                    pause();
            }
            xgw_worker_tick(w);
        }
    }
    xgw_worker_destroy(&w);
    if (log_fd >= 0)
        close(log_fd);
    return 0;
}
