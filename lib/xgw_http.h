/*
 * xgw_http.h - tiny HTTP/1.0 server thread for /metrics and /healthz.
 *
 * One thread per server, poll()-based, non-blocking sockets. It answers
 *   GET|HEAD /metrics  -> 200, text/plain; version=0.0.4 (xgw_metrics_render())
 *   GET|HEAD /healthz  -> 200 "ok\n" or 503 "unhealthy: <reason>\n"
 *   other paths        -> 404; other methods -> 405 (Allow: GET, HEAD)
 *   bad request head   -> 400; head over 4 KiB -> 431
 * always with Content-Length and "Connection: close", then closes. At most
 * XGW_HTTP_MAX_CONNS connections at once (more are accepted and closed at
 * once); each must send its full request head within 2 s or is dropped.
 * Every response is counted in xgw_http_requests_total{path,code}, path being
 * metrics|healthz|other.
 *
 * The thread starts with every signal blocked, so signal handling (or
 * signalfd) stays with the process's main thread. No czmq here.
 */
#ifndef XGW_HTTP_H
#define XGW_HTTP_H

#include <stddef.h>

#define XGW_HTTP_MAX_CONNS 64
#define XGW_HTTP_MAX_HEAD 4096
#define XGW_HTTP_HEAD_TIMEOUT_MS 2000

typedef struct xgw_http xgw_http_t;

/* Health probe, called in the HTTP thread (so it must be thread-safe with
 * respect to whatever it reads). Returns 0 when healthy; otherwise fills
 * 'reason' (a NUL-terminated string of at most reason_len - 1 bytes; the
 * buffer is owned by the server) and returns non-zero. */
typedef int (*xgw_health_fn)(void *ud, char *reason, size_t reason_len);

/* Binds addr:port (port 0 = ephemeral; addr must be a literal IPv4 or IPv6
 * address, such as "127.0.0.1" or "::1") and starts the serving thread.
 * 'health' may be NULL (always healthy); 'health_ud' is borrowed and must
 * outlive the server. Also registers xgw_http_requests_total.
 * Returns a server the caller owns and frees with xgw_http_destroy(), or NULL
 * (and logs why) on a bad address, a bind/listen failure or out of memory;
 * nothing is left open on failure. */
xgw_http_t *xgw_http_new(const char *addr, int port, xgw_health_fn health, void *health_ud);

/* Returns the port actually bound (useful with port 0), or -1 if self is
 * NULL. */
int xgw_http_port(const xgw_http_t *self);

/* Stops the thread (joins it), closes the listening socket and every
 * connection, frees the server and sets *self_p to NULL. Idempotent: no-op
 * when self_p or *self_p is NULL. */
void xgw_http_destroy(xgw_http_t **self_p);

#endif
