/*
 * test_http.c - the /metrics and /healthz server thread, over real sockets.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "xgw_http.h"
#include "xgw_metrics.h"

static atomic_int s_healthy = 1;

static int
s_health(void *ud, char *reason, size_t reason_len)
{
    (void)ud;
    if (atomic_load(&s_healthy))
        return 0;
    snprintf(reason, reason_len, "broker down\nforged=1");
    return 1;
}

static int64_t
s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int
s_count_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    const struct dirent *e;
    for (e = readdir(d); e; e = readdir(d)) {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(d);
    return n - (strcmp(path, "/proc/self/fd") == 0 ? 1 : 0); /* the DIR's own fd */
}

/* Blocking client socket connected to 127.0.0.1:port with a 5 s receive
 * timeout. */
static int
s_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void
s_send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        assert_true(n > 0);
        buf += n;
        len -= (size_t)n;
    }
}

/* Reads until EOF. Returns the length (NUL-terminated in buf), or -1 on a
 * read error or timeout. */
static ssize_t
s_read_all(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    for (;;) {
        if (len + 1 >= cap)
            return -1;
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n == 0)
            break;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return (ssize_t)len;
}

struct s_resp {
    int status;
    char *raw; /* whole response, malloc'd */
    size_t len;
    const char *body;
    long content_length;
};

static void
s_resp_free(struct s_resp *r)
{
    free(r->raw);
    memset(r, 0, sizeof *r);
}

static void
s_parse_response(struct s_resp *r)
{
    assert_true(r->len > 12);
    assert_memory_equal(r->raw, "HTTP/1.0 ", 9);
    char *end = NULL;
    r->status = (int)strtol(r->raw + 9, &end, 10);
    assert_ptr_equal(end, r->raw + 12);
    char *sep = strstr(r->raw, "\r\n\r\n");
    assert_non_null(sep);
    r->body = sep + 4;
    const char *cl = strstr(r->raw, "\r\nContent-Length: ");
    assert_non_null(cl);
    assert_true(cl < sep);
    r->content_length = strtol(cl + 18, NULL, 10);
    const char *conn = strstr(r->raw, "\r\nConnection: close\r\n");
    assert_non_null(conn);
    assert_true(conn < sep);
}

/* Sends req on a new connection, reads the response until the server
 * closes. */
static struct s_resp
s_request(int port, const char *req, size_t reqlen)
{
    struct s_resp r = {0};
    size_t cap = 4 * 1024 * 1024;
    r.raw = malloc(cap);
    assert_non_null(r.raw);
    int fd = s_connect(port);
    s_send_all(fd, req, reqlen);
    ssize_t n = s_read_all(fd, r.raw, cap);
    close(fd);
    assert_true(n > 0);
    r.len = (size_t)n;
    s_parse_response(&r);
    return r;
}

static struct s_resp
s_get(int port, const char *method, const char *path)
{
    char req[256];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: t\r\n\r\n",
                     method, path);
    assert_true(n > 0 && (size_t)n < sizeof req);
    return s_request(port, req, (size_t)n);
}

static int
s_setup(void **state)
{
    xgw_metrics_reset();
    atomic_store(&s_healthy, 1);
    xgw_http_t *http = xgw_http_new("127.0.0.1", 0, s_health, NULL);
    assert_non_null(http);
    assert_true(xgw_http_port(http) > 0);
    *state = http;
    return 0;
}

static int
s_teardown(void **state)
{
    xgw_http_t *http = *state;
    xgw_http_destroy(&http);
    assert_null(http);
    xgw_metrics_reset();
    return 0;
}

static int
s_port(void **state)
{
    return xgw_http_port((const xgw_http_t *)*state);
}

static void
test_metrics_endpoint(void **state)
{
    xgw_series_add(xgw_family_series(xgw_metrics_counter("t_http_hits_total", "Hits.", NULL)), 7);
    struct s_resp r = s_get(s_port(state), "GET", "/metrics");
    assert_int_equal(r.status, 200);
    assert_non_null(
        strstr(r.raw, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    assert_non_null(strstr(r.body, "# TYPE t_http_hits_total counter\nt_http_hits_total 7\n"));
    assert_int_equal(r.content_length, (long)strlen(r.body));
    s_resp_free(&r);

    /* Query strings are ignored; the request counter saw the first scrape. */
    r = s_get(s_port(state), "GET", "/metrics?x=1");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "xgw_http_requests_total{path=\"metrics\",code=\"200\"} 1\n"));
    s_resp_free(&r);

    /* HEAD: same headers, no body. */
    r = s_get(s_port(state), "HEAD", "/metrics");
    assert_int_equal(r.status, 200);
    assert_true(r.content_length > 0);
    assert_string_equal(r.body, "");
    s_resp_free(&r);

    xgw_family_t *req = xgw_metrics_counter("xgw_http_requests_total", NULL, "path,code");
    assert_int_equal(xgw_series_count(xgw_family_series(req, "metrics", "200")), 3);
}

static void
test_healthz(void **state)
{
    struct s_resp r = s_get(s_port(state), "GET", "/healthz");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");
    assert_int_equal(r.content_length, 3);
    s_resp_free(&r);

    atomic_store(&s_healthy, 0);
    r = s_get(s_port(state), "GET", "/healthz");
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "unhealthy: broker down?forged=1\n");
    s_resp_free(&r);

    xgw_family_t *req = xgw_metrics_counter("xgw_http_requests_total", NULL, "path,code");
    assert_int_equal(xgw_series_count(xgw_family_series(req, "healthz", "200")), 1);
    assert_int_equal(xgw_series_count(xgw_family_series(req, "healthz", "503")), 1);
}

static void
test_not_found_and_methods(void **state)
{
    struct s_resp r = s_get(s_port(state), "GET", "/nope");
    assert_int_equal(r.status, 404);
    s_resp_free(&r);
    r = s_get(s_port(state), "GET", "/metricsx");
    assert_int_equal(r.status, 404);
    s_resp_free(&r);

    const char post[] = "POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
    r = s_request(s_port(state), post, sizeof post - 1);
    assert_int_equal(r.status, 405);
    assert_non_null(strstr(r.raw, "\r\nAllow: GET, HEAD\r\n"));
    s_resp_free(&r);

    r = s_get(s_port(state), "DELETE", "/healthz");
    assert_int_equal(r.status, 405);
    s_resp_free(&r);

    const char garbage[] = "this is not http\r\n\r\n";
    r = s_request(s_port(state), garbage, sizeof garbage - 1);
    assert_int_equal(r.status, 400);
    s_resp_free(&r);

    const char http2[] = "GET /metrics HTTP/2.0\r\n\r\n";
    r = s_request(s_port(state), http2, sizeof http2 - 1);
    assert_int_equal(r.status, 400);
    s_resp_free(&r);

    /* Bare LF line ends are accepted. */
    const char lf[] = "GET /healthz HTTP/1.0\n\n";
    r = s_request(s_port(state), lf, sizeof lf - 1);
    assert_int_equal(r.status, 200);
    s_resp_free(&r);

    xgw_family_t *req = xgw_metrics_counter("xgw_http_requests_total", NULL, "path,code");
    assert_int_equal(xgw_series_count(xgw_family_series(req, "other", "404")), 2);
    assert_int_equal(xgw_series_count(xgw_family_series(req, "metrics", "405")), 1);
    assert_int_equal(xgw_series_count(xgw_family_series(req, "healthz", "405")), 1);
    assert_int_equal(xgw_series_count(xgw_family_series(req, "other", "400")), 2);
}

static void
test_split_request(void **state)
{
    int fd = s_connect(s_port(state));
    s_send_all(fd, "GET /hea", 8);
    s_sleep_ms(100);
    s_send_all(fd, "lthz HTTP/1.0\r\n", 15);
    s_sleep_ms(100);
    s_send_all(fd, "\r\n", 2);
    char buf[1024];
    ssize_t n = s_read_all(fd, buf, sizeof buf);
    close(fd);
    assert_true(n > 0);
    assert_memory_equal(buf, "HTTP/1.0 200 ", 13);
}

static void
test_oversize_head(void **state)
{
    size_t len = 8 * 1024;
    char *req = malloc(len);
    assert_non_null(req);
    memset(req, 'a', len);
    memcpy(req, "GET /metrics HTTP/1.1\r\nX-Pad: ", 30);
    int fd = s_connect(s_port(state));
    s_send_all(fd, req, len);
    free(req);
    char buf[1024];
    ssize_t n = s_read_all(fd, buf, sizeof buf); /* until EOF: the server closed */
    close(fd);
    assert_true(n > 12);
    assert_memory_equal(buf, "HTTP/1.0 431 ", 13);
    assert_non_null(strstr(buf, "\r\nConnection: close\r\n"));
}

static void
test_idle_client_dropped(void **state)
{
    int64_t t0 = s_now_ms();
    int idle = s_connect(s_port(state));

    /* Another client is served while the idle one waits. */
    s_sleep_ms(200);
    int64_t t1 = s_now_ms();
    struct s_resp r = s_get(s_port(state), "GET", "/metrics");
    assert_int_equal(r.status, 200);
    s_resp_free(&r);
    assert_true(s_now_ms() - t1 < 1000);

    char c;
    ssize_t n = recv(idle, &c, 1, 0); /* blocks until the server drops us */
    int64_t waited = s_now_ms() - t0;
    close(idle);
    assert_int_equal(n, 0);
    assert_true(waited >= XGW_HTTP_HEAD_TIMEOUT_MS - 100);
    assert_true(waited < XGW_HTTP_HEAD_TIMEOUT_MS + 1500);
}

static void
test_connection_cap(void **state)
{
    int fds[XGW_HTTP_MAX_CONNS];
    for (int i = 0; i < XGW_HTTP_MAX_CONNS; i++)
        fds[i] = s_connect(s_port(state));
    s_sleep_ms(200); /* let the server accept them all */
    int64_t t0 = s_now_ms();
    int extra = s_connect(s_port(state));
    char c;
    ssize_t n = recv(extra, &c, 1, 0);
    close(extra);
    assert_true(n <= 0); /* closed at once (EOF, or reset) */
    assert_true(s_now_ms() - t0 < 1000);
    for (int i = 0; i < XGW_HTTP_MAX_CONNS; i++)
        close(fds[i]);
    s_sleep_ms(100);
    /* Slots are free again. */
    struct s_resp r = s_get(s_port(state), "GET", "/healthz");
    assert_int_equal(r.status, 200);
    s_resp_free(&r);
}

static void
test_slow_reader_large_body(void **state)
{
    /* ~1 MiB of metrics text forces partial writes on the server side. */
    xgw_family_t *f = xgw_metrics_gauge("t_big", "Big.", "v");
    char value[4000];
    for (int i = 0; i < 250; i++) {
        memset(value, 'a' + i % 26, sizeof value - 1);
        snprintf(value, 16, "%03d", i);
        value[3] = '-';
        value[sizeof value - 1] = '\0';
        xgw_series_set(xgw_family_series(f, value), i);
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)s_port(state));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
    s_send_all(fd, req, sizeof req - 1);
    s_sleep_ms(300); /* the server fills our buffer and must wait for POLLOUT */

    struct s_resp r = {0};
    size_t cap = 4 * 1024 * 1024;
    r.raw = malloc(cap);
    assert_non_null(r.raw);
    size_t len = 0;
    for (;;) {
        ssize_t n = recv(fd, r.raw + len, 1000 < cap - 1 - len ? 1000 : cap - 1 - len, 0);
        assert_true(n >= 0);
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    r.raw[len] = '\0';
    r.len = len;
    s_parse_response(&r);
    assert_int_equal(r.status, 200);
    assert_true(r.content_length > 1000000);
    assert_int_equal(r.content_length, (long)strlen(r.body));
    assert_non_null(strstr(r.body, "t_big{v=\"249-"));
    s_resp_free(&r);
}

static void
test_bad_addresses(void **state)
{
    (void)state;
    xgw_http_t *h = xgw_http_new("localhost", 0, NULL, NULL);
    assert_null(h);
    assert_null(xgw_http_new(NULL, 0, NULL, NULL));
    assert_null(xgw_http_new("127.0.0.1", 70000, NULL, NULL));
    assert_null(xgw_http_new("127.0.0.1", -1, NULL, NULL));
    assert_null(xgw_http_new("999.0.0.1", 0, NULL, NULL));

    /* Port already in use. */
    xgw_http_t *a = xgw_http_new("127.0.0.1", 0, NULL, NULL);
    assert_non_null(a);
    assert_null(xgw_http_new("127.0.0.1", xgw_http_port(a), NULL, NULL));

    /* No health callback: always healthy. IPv6 literal, bracketed or not. */
    struct s_resp r = s_get(xgw_http_port(a), "GET", "/healthz");
    assert_int_equal(r.status, 200);
    s_resp_free(&r);
    xgw_http_destroy(&a);
    assert_null(a);
    xgw_http_destroy(&a); /* idempotent */
    xgw_http_destroy(NULL);
    assert_int_equal(xgw_http_port(NULL), -1);

    xgw_http_t *v6 = xgw_http_new("[::1]", 0, NULL, NULL);
    if (v6) { /* hosts without IPv6 loopback cannot bind it */
        assert_true(xgw_http_port(v6) > 0);
        xgw_http_destroy(&v6);
    }
}

static void
test_destroy_releases_everything(void **state)
{
    (void)state;
    int fds_before = s_count_dir("/proc/self/fd");
    int tasks_before = s_count_dir("/proc/self/task");
    assert_true(fds_before > 0);

    xgw_http_t *h = xgw_http_new("127.0.0.1", 0, s_health, NULL);
    assert_non_null(h);
    assert_true(s_count_dir("/proc/self/fd") > fds_before);
    assert_int_equal(s_count_dir("/proc/self/task"), tasks_before + 1);
    /* Leave connections in every state behind: idle, mid-head. */
    int idle = s_connect(xgw_http_port(h));
    int partial = s_connect(xgw_http_port(h));
    s_send_all(partial, "GET /metr", 9);
    struct s_resp r = s_get(xgw_http_port(h), "GET", "/metrics");
    assert_int_equal(r.status, 200);
    s_resp_free(&r);

    xgw_http_destroy(&h);
    assert_null(h);
    char c;
    errno = 0;
    ssize_t n = recv(idle, &c, 1, 0); /* server side closed */
    assert_true(n == 0 || (n < 0 && errno == ECONNRESET));
    errno = 0;
    n = recv(partial, &c, 1, 0);
    assert_true(n == 0 || (n < 0 && errno == ECONNRESET));
    close(idle);
    close(partial);

    assert_int_equal(s_count_dir("/proc/self/fd"), fds_before);
    /* The joined thread may linger in /proc for a moment after exiting. */
    int tasks = -1;
    for (int i = 0; i < 100; i++) {
        tasks = s_count_dir("/proc/self/task");
        if (tasks == tasks_before)
            break;
        s_sleep_ms(10);
    }
    assert_int_equal(tasks, tasks_before);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_metrics_endpoint, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_healthz, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_not_found_and_methods, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_split_request, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_oversize_head, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_idle_client_dropped, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_connection_cap, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_slow_reader_large_body, s_setup, s_teardown),
        cmocka_unit_test(test_bad_addresses),
        cmocka_unit_test(test_destroy_releases_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
