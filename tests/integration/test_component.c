/*
 * test_component.c - the XEP-0114 component link (lib/xgw_component.h)
 * against a real Prosody: two components of one Prosody exchange a
 * message through it; a wrong secret is refused and reported; the link
 * comes back by itself after Prosody restarts.
 */
#include "support_proc.h"
#include "xgw_component.h"
#include "xgw_error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define S_ADDR "127.0.0.61"

static char s_dir[512];
static char s_conf[600];
static char s_log[600];
static int s_port;

typedef struct {
    int fd_changes;
    int ups;
    int downs;
    char last_why[160];
    char got[4096];
    int stanzas;
} s_side_t;

static void
s_on_state(void *ud, bool up, const char *why)
{
    s_side_t *s = ud;
    if (up)
        s->ups++;
    else
        s->downs++;
    snprintf(s->last_why, sizeof s->last_why, "%s", why);
}

static void
s_on_stanza(void *ud, const xgw_xml_node_t *stanza)
{
    s_side_t *s = ud;
    s->stanzas++;
    xgw_xml_writer_t w;
    xgw_xml_writer_init(&w, sizeof s->got - 1);
    xgw_xml_write_node(&w, stanza, "jabber:component:accept");
    snprintf(s->got, sizeof s->got, "%.*s", (int)w.len, w.buf ? w.buf : "");
    xgw_xml_writer_fini(&w);
}

static void
s_on_fd(void *ud, int old_fd, int new_fd)
{
    s_side_t *s = ud;
    s->fd_changes++;
    (void)old_fd;
    (void)new_fd;
}

static const xgw_component_cbs_t s_cbs = {s_on_state, s_on_stanza, s_on_fd};

static int
s_free_port(void)
{
    /* Prosody binds itself; pick a port from the pid to keep parallel runs
     * apart, in a range nothing else of ours uses. */
    return 20000 + (int)(getpid() % 20000);
}

static void
s_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* True once something accepts TCP connections on the component port. */
static bool
s_port_open(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)s_port);
    inet_pton(AF_INET, S_ADDR, &sa.sin_addr);
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

static pid_t
s_start_prosody(void)
{
    /* The log is shared by every start in this program: wait for a new
     * activation line, then for the port itself. */
    int before = xt_count_lines(s_log, "Activated service 'component'");
    char *argv[] = {"/usr/bin/prosody", "-F", "--config", s_conf, NULL};
    pid_t pid = xt_spawn(argv, s_log);
    assert_true(pid > 0);
    for (int i = 0; i < 200; i++) {
        usleep(50 * 1000);
        if (xt_count_lines(s_log, "Activated service 'component'") > before && s_port_open())
            return pid;
    }
    fail_msg("prosody did not open its component port; see %s", s_log);
    return -1;
}

static int
s_setup(void **state)
{
    (void)state;
    if (access("/usr/bin/prosody", X_OK) != 0) {
        print_message("prosody is not installed (deploy/install-deps.sh installs it)\n");
        return -1;
    }
    snprintf(s_dir, sizeof s_dir, "%s", xt_tmpdir());
    snprintf(s_conf, sizeof s_conf, "%s/prosody.cfg.lua", s_dir);
    snprintf(s_log, sizeof s_log, "%s/prosody.log", s_dir);
    s_port = s_free_port();
    char text[4096];
    snprintf(text, sizeof text,
             "run_as_root = true\n"
             "pidfile = \"%s/prosody.pid\"\n"
             "data_path = \"%s\"\n"
             "interfaces = { \"%s\" }\n"
             "c2s_ports = { %d }\n"
             "s2s_ports = { %d }\n"
             "component_interfaces = { \"%s\" }\n"
             "component_ports = { %d }\n"
             "http_ports = { }\n"
             "https_ports = { }\n"
             "modules_enabled = { }\n"
             "modules_disabled = { \"s2s\", \"tls\", \"dialback\", \"http\" }\n"
             "log = { info = \"%s\" }\n"
             "VirtualHost \"host.test\"\n"
             "Component \"gw1.test\"\n"
             "  component_secret = \"one-secret\"\n"
             "Component \"gw2.test\"\n"
             "  component_secret = \"two-secret\"\n",
             s_dir, s_dir, S_ADDR, s_port + 1, s_port + 2, S_ADDR, s_port, s_log);
    s_write_file(s_conf, text);
    char path[600];
    snprintf(path, sizeof path, "%s/one.secret", s_dir);
    s_write_file(path, "one-secret\n");
    snprintf(path, sizeof path, "%s/two.secret", s_dir);
    s_write_file(path, "two-secret\n");
    snprintf(path, sizeof path, "%s/wrong.secret", s_dir);
    s_write_file(path, "not-the-secret\n");
    return 0;
}

static int
s_teardown(void **state)
{
    (void)state;
    xt_cleanup();
    return 0;
}

static xgw_component_t *
s_link(const char *jid, const char *secret_name, s_side_t *side)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", s_dir, secret_name);
    xgw_component_opts_t o = {S_ADDR, (unsigned short)s_port, jid, path, 65536, 0, 0};
    char err[256] = "";
    xgw_component_t *c = xgw_component_new(&o, &s_cbs, side, err, sizeof err);
    if (!c)
        fail_msg("xgw_component_new: %s", err);
    assert_int_equal(xgw_component_start(c), 0);
    return c;
}

/* Drives both links until done() or timeout_ms. */
static bool
s_pump(xgw_component_t *a, s_side_t *sa, xgw_component_t *b, s_side_t *sb, int timeout_ms,
       bool (*done)(void))
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (done())
            return true;
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (ms > timeout_ms)
            return false;
        (void)sa;
        (void)sb;
        xgw_component_t *links[2] = {a, b};
        struct pollfd pfd[2];
        int64_t wait = 50;
        for (int i = 0; i < 2; i++) {
            pfd[i] = (struct pollfd){-1, 0, 0};
            if (!links[i])
                continue;
            int64_t w = xgw_component_tick(links[i]);
            if (w < wait)
                wait = w;
            pfd[i].fd = xgw_component_fd(links[i]);
            pfd[i].events = POLLIN;
            if (xgw_component_want_write(links[i]))
                pfd[i].events |= POLLOUT;
        }
        (void)poll(pfd, 2, (int)wait);
        for (int i = 0; i < 2; i++) {
            if (links[i] && pfd[i].fd >= 0)
                xgw_component_io(links[i], pfd[i].revents & (POLLIN | POLLHUP | POLLERR),
                                 pfd[i].revents & POLLOUT);
        }
    }
}

static s_side_t s_a, s_b;

static bool
s_both_up(void)
{
    return s_a.ups > 0 && s_b.ups > 0;
}

static bool
s_b_got_one(void)
{
    return s_b.stanzas > 0;
}

static bool
s_a_down(void)
{
    return s_a.downs > 0;
}

static bool
s_a_up_again(void)
{
    return s_a.ups >= 2;
}

static void
test_message_crosses_prosody(void **state)
{
    (void)state;
    memset(&s_a, 0, sizeof s_a);
    memset(&s_b, 0, sizeof s_b);
    pid_t pid = s_start_prosody();
    xgw_component_t *a = s_link("gw1.test", "one.secret", &s_a);
    xgw_component_t *b = s_link("gw2.test", "two.secret", &s_b);
    assert_true(s_pump(a, &s_a, b, &s_b, 10000, s_both_up));
    assert_true(xgw_component_up(a));

    const char *msg = "<message from='romeo@gw1.test' to='juliet@gw2.test' id='m1'>"
                      "<body>Wherefore art thou</body></message>";
    assert_int_equal(xgw_component_send(a, msg, strlen(msg)), 0);
    assert_true(s_pump(a, &s_a, b, &s_b, 10000, s_b_got_one));
    assert_non_null(strstr(s_b.got, "Wherefore art thou"));
    assert_non_null(strstr(s_b.got, "romeo@gw1.test"));
    assert_non_null(strstr(s_b.got, "juliet@gw2.test"));

    /* The secret never reaches Prosody's log or ours in clear. */
    assert_int_equal(xt_count_lines(s_log, "one-secret"), 0);

    /* Prosody goes away: the link reports it; it comes back by itself. */
    (void)xt_stop(pid, 5000);
    assert_true(s_pump(a, &s_a, NULL, NULL, 10000, s_a_down));
    assert_false(xgw_component_up(a));
    assert_int_equal(xgw_component_send(a, msg, strlen(msg)), XGW_ENOTCONN);
    pid = s_start_prosody();
    assert_true(s_pump(a, &s_a, NULL, NULL, 40000, s_a_up_again));
    xgw_component_destroy(&a);
    xgw_component_destroy(&b);
    assert_null(a);
    (void)xt_stop(pid, 5000);
}

static void
test_wrong_secret_refused(void **state)
{
    (void)state;
    memset(&s_a, 0, sizeof s_a);
    pid_t pid = s_start_prosody();
    xgw_component_t *a = s_link("gw1.test", "wrong.secret", &s_a);
    assert_true(s_pump(a, &s_a, NULL, NULL, 10000, s_a_down));
    assert_int_equal(s_a.ups, 0);
    assert_false(xgw_component_up(a));
    xgw_component_destroy(&a);
    (void)xt_stop(pid, 5000);
}

static void
test_bad_secret_file(void **state)
{
    (void)state;
    char err[256] = "";
    xgw_component_opts_t o = {S_ADDR, 5347, "gw1.test", "/nonexistent/secret", 1024, 0, 0};
    assert_null(xgw_component_new(&o, &s_cbs, &s_a, err, sizeof err));
    assert_non_null(strstr(err, "cannot open component secret file"));
    char path[600];
    snprintf(path, sizeof path, "%s/empty.secret", s_dir);
    s_write_file(path, "\n");
    o.secret_file = path;
    assert_null(xgw_component_new(&o, &s_cbs, &s_a, err, sizeof err));
    assert_non_null(strstr(err, "empty"));
    o.secret_file = "";
    assert_null(xgw_component_new(&o, &s_cbs, &s_a, err, sizeof err));
}

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_secret_file),
        cmocka_unit_test(test_wrong_secret_refused),
        cmocka_unit_test(test_message_crosses_prosody),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
