/*
 * test_config.c - unit tests for lib/xgw_config.c (the configuration table,
 * the INI loader, --set overrides, SIGHUP reload and the dump).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "xgw_config.h"
#include "xgw_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAME "t.conf"

/* Returns the dump of *s as a heap string; the caller frees it. */
static char *
s_dump(const xgw_settings_t *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    xgw_config_dump(s, f);
    assert_int_equal(fclose(f), 0);
    assert_non_null(buf);
    return buf;
}

static void
s_assert_same(const xgw_settings_t *a, const xgw_settings_t *b)
{
    char *da = s_dump(a);
    char *db = s_dump(b);
    assert_string_equal(da, db);
    free(da);
    free(db);
}

static void
s_assert_defaults(const xgw_settings_t *s)
{
    xgw_settings_t d;
    assert_int_equal(xgw_config_defaults(&d), 0);
    s_assert_same(s, &d);
}

/* Loads text on top of the defaults, expects rc and the exact message, and
 * checks that the settings did not change. */
static void
s_expect_error(const char *text, int rc, const char *message)
{
    xgw_settings_t s;
    char err[1024];
    assert_int_equal(xgw_config_defaults(&s), 0);
    memset(err, 'X', sizeof err);
    int got = xgw_config_load_string(&s, text, NAME, err, sizeof err);
    if (got != rc || strcmp(err, message) != 0)
        print_error("text:\n%s\nrc %d (want %d), err: %s\nwant: %s\n", text, got, rc, err, message);
    assert_int_equal(got, rc);
    assert_string_equal(err, message);
    s_assert_defaults(&s);
}

/* "[section]\nkey = value\n" must fail with "t.conf:2: [section] key: reason". */
static void
s_expect_value_error(const char *section, const char *key, const char *value, int rc,
                     const char *reason)
{
    char text[8192];
    char message[1024];
    snprintf(text, sizeof text, "[%s]\n%s = %s\n", section, key, value);
    snprintf(message, sizeof message, NAME ":2: [%s] %s: %s", section, key, reason);
    s_expect_error(text, rc, message);
}

/* Loads "[section]\nkey = value\n" on top of the defaults into *s; must pass. */
static void
s_load_value(xgw_settings_t *s, const char *section, const char *key, const char *value)
{
    char text[8192];
    char err[512] = "";
    snprintf(text, sizeof text, "[%s]\n%s = %s\n", section, key, value);
    assert_int_equal(xgw_config_defaults(s), 0);
    int rc = xgw_config_load_string(s, text, NAME, err, sizeof err);
    if (rc != 0)
        print_error("%s.%s = %s: %s\n", section, key, value, err);
    assert_int_equal(rc, 0);
    assert_string_equal(err, "");
}

static void
test_defaults(void **state)
{
    (void)state;
    xgw_settings_t s;
    memset(&s, 0x5a, sizeof s);
    assert_int_equal(xgw_config_defaults(&s), 0);
    assert_string_equal(s.common.broker_frontend, "ipc:///run/xgw/frontend.ipc");
    assert_string_equal(s.common.broker_backend, "ipc:///run/xgw/backend.ipc");
    assert_string_equal(s.common.data_dir, "/var/lib/xgw");
    assert_string_equal(s.common.run_dir, "/run/xgw");
    assert_string_equal(s.common.log_level, "info");
    assert_true(s.common.log_timestamps);
    assert_int_equal(s.common.heartbeat_interval_ms, 1000);
    assert_int_equal(s.common.heartbeat_liveness, 3);
    assert_int_equal(s.common.request_timeout_ms, 10000);
    assert_int_equal(s.common.retry_interval_ms, 1000);
    assert_int_equal(s.common.max_body, 1024 * 1024);
    assert_int_equal(s.common.dedup_ttl_ms, 600000);
    assert_int_equal(s.common.dedup_max, 100000);
    assert_int_equal(s.common.drain_timeout_ms, 10000);
    assert_string_equal(s.common.metrics_listen, "127.0.0.1");
    assert_int_equal(s.broker.metrics_port, 9100);
    assert_int_equal(s.broker.queue_max, 10000);
    assert_int_equal(s.broker.expiry_check_interval_ms, 100);
    assert_int_equal(s.broker.sndhwm, 100000);
    assert_int_equal(s.xmppd.metrics_port, 9110);
    assert_int_equal(s.xmppd.credit, 256);
    assert_int_equal(s.sipd.metrics_port, 9130);
    assert_int_equal(s.sipd.credit, 64);
    assert_int_equal(s.policyd.metrics_port, 9150);
    assert_int_equal(s.policyd.credit, 128);
    assert_int_equal(s.certd.metrics_port, 9160);
    assert_int_equal(s.certd.credit, 64);
    assert_int_equal(s.xgwctl.timeout_ms, 5000);

    /* Unused bytes are zeroed: two default structs are byte-identical. */
    xgw_settings_t t;
    memset(&t, 0xa5, sizeof t);
    assert_int_equal(xgw_config_defaults(&t), 0);
    assert_memory_equal(&s, &t, sizeof s);
    assert_int_equal(xgw_config_defaults(NULL), XGW_EINVAL);
}

static void
test_key_table(void **state)
{
    (void)state;
    size_t n = xgw_config_key_count();
    assert_int_equal(n, 59);
    for (size_t i = 0; i < n; i++) {
        const char *sec = NULL;
        const char *key = NULL;
        const char *help = NULL;
        assert_int_equal(xgw_config_key_info(i, &sec, &key, &help), 0);
        assert_non_null(sec);
        assert_non_null(key);
        assert_non_null(help);
        assert_true(strlen(help) > 10);
        /* Declared once: no other row has the same section and key. */
        for (size_t j = 0; j < i; j++) {
            const char *sec2 = NULL;
            const char *key2 = NULL;
            assert_int_equal(xgw_config_key_info(j, &sec2, &key2, NULL), 0);
            assert_false(strcmp(sec, sec2) == 0 && strcmp(key, key2) == 0);
        }
    }
    const char *sec = "untouched";
    assert_int_equal(xgw_config_key_info(n, &sec, NULL, NULL), XGW_ERANGE);
    assert_string_equal(sec, "untouched");
    assert_int_equal(xgw_config_key_info(0, NULL, NULL, NULL), 0);
}

static void
test_load_full_file(void **state)
{
    (void)state;
    const char *text = "# xgw test file\n"
                       "; a semicolon comment\n"
                       "\n"
                       "[common]\n"
                       "broker_frontend = tcp://10.0.0.5:5555   # trailing comment\n"
                       "\tbroker_backend=tcp://10.0.0.5:5556\r\n"
                       "data_dir = \"/srv/xgw data # not a comment\"  # but this is\n"
                       "run_dir = /tmp/xgw#1\n"
                       "log_level = debug\n"
                       "log_timestamps = off\n"
                       "heartbeat_interval = 2500ms\n"
                       "heartbeat_liveness = 5\n"
                       "request_timeout = 2m\n"
                       "retry_interval = 250ms\n"
                       "max_body = 64KiB\n"
                       "dedup_ttl = 1h\n"
                       "dedup_max = 5000\n"
                       "drain_timeout = 0ms\n"
                       "metrics_listen = \"::1\"\n"
                       "  [ broker ]   # spaces inside the brackets are trimmed\n"
                       "metrics_port = 0\n"
                       "queue_max = 42\n"
                       "expiry_check_interval = 10ms\n"
                       "sndhwm = 1000\n"
                       "[xmppd]\n"
                       "metrics_port = 19110\n"
                       "credit = 1\n"
                       "[sipd]\n"
                       "metrics_port = 19130\n"
                       "credit = 100000\n"
                       "[policyd]\n"
                       "metrics_port = 19150\n"
                       "credit = 7\n"
                       "[certd]\n"
                       "metrics_port = 65535\n"
                       "credit = 8\n"
                       "[xgwctl]\n"
                       "timeout = 100ms";
    xgw_settings_t s;
    char err[256] = "junk";
    assert_int_equal(xgw_config_defaults(&s), 0);
    assert_int_equal(xgw_config_load_string(&s, text, NAME, err, sizeof err), 0);
    assert_string_equal(err, "");
    assert_string_equal(s.common.broker_frontend, "tcp://10.0.0.5:5555");
    assert_string_equal(s.common.broker_backend, "tcp://10.0.0.5:5556");
    assert_string_equal(s.common.data_dir, "/srv/xgw data # not a comment");
    assert_string_equal(s.common.run_dir, "/tmp/xgw#1");
    assert_string_equal(s.common.log_level, "debug");
    assert_false(s.common.log_timestamps);
    assert_int_equal(s.common.heartbeat_interval_ms, 2500);
    assert_int_equal(s.common.heartbeat_liveness, 5);
    assert_int_equal(s.common.request_timeout_ms, 120000);
    assert_int_equal(s.common.retry_interval_ms, 250);
    assert_int_equal(s.common.max_body, 65536);
    assert_int_equal(s.common.dedup_ttl_ms, 3600000);
    assert_int_equal(s.common.dedup_max, 5000);
    assert_int_equal(s.common.drain_timeout_ms, 0);
    assert_string_equal(s.common.metrics_listen, "::1");
    assert_int_equal(s.broker.metrics_port, 0);
    assert_int_equal(s.broker.queue_max, 42);
    assert_int_equal(s.broker.expiry_check_interval_ms, 10);
    assert_int_equal(s.broker.sndhwm, 1000);
    assert_int_equal(s.xmppd.metrics_port, 19110);
    assert_int_equal(s.xmppd.credit, 1);
    assert_int_equal(s.sipd.metrics_port, 19130);
    assert_int_equal(s.sipd.credit, 100000);
    assert_int_equal(s.policyd.metrics_port, 19150);
    assert_int_equal(s.policyd.credit, 7);
    assert_int_equal(s.certd.metrics_port, 65535);
    assert_int_equal(s.certd.credit, 8);
    assert_int_equal(s.xgwctl.timeout_ms, 100);

    /* A second file applies on top of the first; untouched keys stay. */
    assert_int_equal(
        xgw_config_load_string(&s, "[broker]\nqueue_max = 43\n", "second", err, sizeof err), 0);
    assert_int_equal(s.broker.queue_max, 43);
    assert_int_equal(s.broker.sndhwm, 1000);

    /* An empty text and a comment-only text change nothing. */
    xgw_settings_t d;
    assert_int_equal(xgw_config_defaults(&d), 0);
    assert_int_equal(xgw_config_load_string(&d, "", NULL, err, sizeof err), 0);
    assert_int_equal(xgw_config_load_string(&d, "# only\n\n  ; comments\n", NULL, err, sizeof err),
                     0);
    s_assert_defaults(&d);
}

static void
test_string_values(void **state)
{
    (void)state;
    xgw_settings_t s;
    s_load_value(&s, "common", "data_dir", "\"a \\\"quoted\\\" \\\\ value # kept\"");
    assert_string_equal(s.common.data_dir, "a \"quoted\" \\ value # kept");
    s_load_value(&s, "common", "data_dir", "  /with/inner space  ");
    assert_string_equal(s.common.data_dir, "/with/inner space");
    s_load_value(&s, "common", "data_dir", "\"  padded  \"");
    assert_string_equal(s.common.data_dir, "  padded  ");
    s_load_value(&s, "common", "data_dir", "\"tab\tinside\"");
    assert_string_equal(s.common.data_dir, "tab\tinside");

    /* 255 bytes fit a 256-byte field; 256 do not. */
    char v[300];
    memset(v, 'd', 255);
    v[255] = '\0';
    s_load_value(&s, "common", "data_dir", v);
    assert_int_equal(strlen(s.common.data_dir), 255);
    v[255] = 'd';
    v[256] = '\0';
    s_expect_value_error("common", "data_dir", v, XGW_ETOOBIG,
                         "value is 256 bytes, longer than the maximum 255");
    memset(v, '1', 64);
    v[64] = '\0';
    s_expect_value_error("common", "metrics_listen", v, XGW_ETOOBIG,
                         "value is 64 bytes, longer than the maximum 63");

    s_expect_value_error("common", "data_dir", "", XGW_EINVAL, "value must not be empty");
    s_expect_value_error("common", "data_dir", "\"\"", XGW_EINVAL, "value must not be empty");
    s_expect_value_error("common", "data_dir", "# only a comment", XGW_EINVAL,
                         "value must not be empty");
    s_expect_value_error("common", "data_dir", "\"/never/closed", XGW_EINVAL,
                         "unterminated quoted value (missing closing \")");
    s_expect_value_error("common", "data_dir", "\"/ends/in/backslash\\", XGW_EINVAL,
                         "unterminated quoted value (missing closing \")");
    s_expect_value_error("common", "data_dir", "\"a\\nb\"", XGW_EINVAL,
                         "unknown escape \"\\n\" in quoted value (only \\\" and \\\\)");
    s_expect_value_error("common", "data_dir", "\"a\" b", XGW_EINVAL,
                         "unexpected text after the closing quote");
    s_expect_value_error("common", "data_dir", "\"a\x01\"", XGW_EINVAL,
                         "value contains a control character (byte 2)");
}

static void
test_int_values(void **state)
{
    (void)state;
    xgw_settings_t s;
    s_load_value(&s, "broker", "queue_max", "1");
    assert_int_equal(s.broker.queue_max, 1);
    s_load_value(&s, "broker", "queue_max", "1000000");
    assert_int_equal(s.broker.queue_max, 1000000);
    s_load_value(&s, "broker", "queue_max", "+77");
    assert_int_equal(s.broker.queue_max, 77);
    s_load_value(&s, "broker", "queue_max", "\"78\"");
    assert_int_equal(s.broker.queue_max, 78);
    s_load_value(&s, "broker", "metrics_port", "0");
    assert_int_equal(s.broker.metrics_port, 0);
    s_load_value(&s, "common", "heartbeat_liveness", "20");
    assert_int_equal(s.common.heartbeat_liveness, 20);

    s_expect_value_error("broker", "queue_max", "abc", XGW_EINVAL, "\"abc\" is not an integer");
    s_expect_value_error("broker", "queue_max", "12abc", XGW_EINVAL, "\"12abc\" is not an integer");
    s_expect_value_error("broker", "queue_max", "1.5", XGW_EINVAL, "\"1.5\" is not an integer");
    s_expect_value_error("broker", "queue_max", "0x10", XGW_EINVAL, "\"0x10\" is not an integer");
    s_expect_value_error("broker", "queue_max", "", XGW_EINVAL, "\"\" is not an integer");
    s_expect_value_error("broker", "queue_max", "0", XGW_ERANGE, "0 is below the minimum 1");
    s_expect_value_error("broker", "queue_max", "-1", XGW_ERANGE, "-1 is below the minimum 1");
    s_expect_value_error("broker", "queue_max", "1000001", XGW_ERANGE,
                         "1000001 is above the maximum 1000000");
    s_expect_value_error("xmppd", "metrics_port", "65536", XGW_ERANGE,
                         "65536 is above the maximum 65535");
    s_expect_value_error("common", "heartbeat_liveness", "1", XGW_ERANGE,
                         "1 is below the minimum 2");
    /* Lists with a syntax of their own are checked as the process would. */
    s_expect_value_error("sipd", "trusted_peers", "10.0.0.300", XGW_EINVAL,
                         "not an IPv4 or IPv6 address: \"10.0.0.300\"");
    s_expect_value_error("xmppd", "dns_servers", "dns.example", XGW_EINVAL,
                         "dns servers: a server must be an IP address, not a name: dns.example");
    xgw_settings_t ok;
    s_load_value(&ok, "sipd", "trusted_peers", "127.0.0.0/8, ::1");
    s_load_value(&ok, "xmppd", "dns_servers", "127.0.0.53:5353,[::1]:53");
    s_expect_value_error("broker", "queue_max", "99999999999999999999", XGW_ERANGE,
                         "99999999999999999999 is out of range");
}

static void
test_bool_values(void **state)
{
    (void)state;
    static const char *const yes[] = {"on", "true", "yes", "1", "ON", "True", "YES"};
    static const char *const no[] = {"off", "false", "no", "0", "Off", "FALSE", "No"};
    xgw_settings_t s;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        s_load_value(&s, "common", "log_timestamps", "off");
        assert_false(s.common.log_timestamps);
        assert_int_equal(xgw_config_load_string(&s, "[common]\nlog_timestamps=x\n", NAME, NULL, 0),
                         XGW_EINVAL);
        char text[64];
        snprintf(text, sizeof text, "[common]\nlog_timestamps = %s\n", yes[i]);
        assert_int_equal(xgw_config_load_string(&s, text, NAME, NULL, 0), 0);
        assert_true(s.common.log_timestamps);
        snprintf(text, sizeof text, "[common]\nlog_timestamps = %s\n", no[i]);
        assert_int_equal(xgw_config_load_string(&s, text, NAME, NULL, 0), 0);
        assert_false(s.common.log_timestamps);
    }
    s_expect_value_error("common", "log_timestamps", "maybe", XGW_EINVAL,
                         "\"maybe\" is not a boolean (on, off, true, false, yes, no, 1, 0)");
    s_expect_value_error("common", "log_timestamps", "2", XGW_EINVAL,
                         "\"2\" is not a boolean (on, off, true, false, yes, no, 1, 0)");
    s_expect_value_error("common", "log_timestamps", "", XGW_EINVAL,
                         "\"\" is not a boolean (on, off, true, false, yes, no, 1, 0)");
}

static void
test_duration_values(void **state)
{
    (void)state;
    xgw_settings_t s;
    s_load_value(&s, "common", "heartbeat_interval", "50ms");
    assert_int_equal(s.common.heartbeat_interval_ms, 50);
    s_load_value(&s, "common", "heartbeat_interval", "60s");
    assert_int_equal(s.common.heartbeat_interval_ms, 60000);
    s_load_value(&s, "common", "heartbeat_interval", "1m");
    assert_int_equal(s.common.heartbeat_interval_ms, 60000);
    s_load_value(&s, "common", "heartbeat_interval", "2 s");
    assert_int_equal(s.common.heartbeat_interval_ms, 2000);
    s_load_value(&s, "common", "dedup_ttl", "24h");
    assert_int_equal(s.common.dedup_ttl_ms, 86400000);
    s_load_value(&s, "common", "drain_timeout", "0s");
    assert_int_equal(s.common.drain_timeout_ms, 0);
    s_load_value(&s, "xgwctl", "timeout", "10m");
    assert_int_equal(s.xgwctl.timeout_ms, 600000);

    s_expect_value_error("common", "heartbeat_interval", "5", XGW_EINVAL,
                         "\"5\" needs a unit (ms, s, m, h)");
    s_expect_value_error("common", "heartbeat_interval", "5x", XGW_EINVAL,
                         "\"5x\" has an unknown unit \"x\" (use ms, s, m, h)");
    s_expect_value_error("common", "heartbeat_interval", "5d", XGW_EINVAL,
                         "\"5d\" has an unknown unit \"d\" (use ms, s, m, h)");
    s_expect_value_error("common", "heartbeat_interval", "5S", XGW_EINVAL,
                         "\"5S\" has an unknown unit \"S\" (use ms, s, m, h)");
    s_expect_value_error("common", "heartbeat_interval", "1.5s", XGW_EINVAL,
                         "\"1.5s\" has an unknown unit \".5s\" (use ms, s, m, h)");
    s_expect_value_error("common", "heartbeat_interval", "s", XGW_EINVAL,
                         "\"s\" is not a duration (a non-negative integer with a unit ms, s, "
                         "m or h, e.g. \"10s\")");
    s_expect_value_error("common", "heartbeat_interval", "-5s", XGW_EINVAL,
                         "\"-5s\" is not a duration (a non-negative integer with a unit ms, s, "
                         "m or h, e.g. \"10s\")");
    s_expect_value_error("common", "heartbeat_interval", "49ms", XGW_ERANGE,
                         "49ms is below the minimum 50ms");
    s_expect_value_error("common", "heartbeat_interval", "60001ms", XGW_ERANGE,
                         "60001ms is above the maximum 1m");
    s_expect_value_error("common", "request_timeout", "11m", XGW_ERANGE,
                         "11m is above the maximum 10m");
    s_expect_value_error("common", "dedup_ttl", "25h", XGW_ERANGE, "25h is above the maximum 24h");
    /* Overflow: in strtoll, and in the unit multiplication. */
    s_expect_value_error("common", "dedup_ttl", "99999999999999999999h", XGW_ERANGE,
                         "\"99999999999999999999h\" is too large");
    s_expect_value_error("common", "dedup_ttl", "9999999999999999h", XGW_ERANGE,
                         "\"9999999999999999h\" is too large");
    s_expect_value_error("common", "dedup_ttl", "9223372036854775807m", XGW_ERANGE,
                         "\"9223372036854775807m\" is too large");
    /* No overflow, just above the bound. */
    s_expect_value_error("common", "dedup_ttl", "9223372036854775807ms", XGW_ERANGE,
                         "9223372036854775807ms is above the maximum 24h");
}

static void
test_size_values(void **state)
{
    (void)state;
    xgw_settings_t s;
    s_load_value(&s, "common", "max_body", "1024");
    assert_int_equal(s.common.max_body, 1024);
    s_load_value(&s, "common", "max_body", "2000B");
    assert_int_equal(s.common.max_body, 2000);
    s_load_value(&s, "common", "max_body", "3KiB");
    assert_int_equal(s.common.max_body, 3072);
    s_load_value(&s, "common", "max_body", "2 MiB");
    assert_int_equal(s.common.max_body, 2 * 1024 * 1024);
    s_load_value(&s, "common", "max_body", "64MiB");
    assert_int_equal(s.common.max_body, 64 * 1024 * 1024);

    s_expect_value_error("common", "max_body", "12XB", XGW_EINVAL,
                         "\"12XB\" has an unknown unit \"XB\" (use B, KiB, MiB, GiB)");
    s_expect_value_error("common", "max_body", "12KB", XGW_EINVAL,
                         "\"12KB\" has an unknown unit \"KB\" (use B, KiB, MiB, GiB)");
    s_expect_value_error("common", "max_body", "big", XGW_EINVAL,
                         "\"big\" is not a size (a non-negative integer of bytes, e.g. "
                         "\"64KiB\")");
    s_expect_value_error("common", "max_body", "1023", XGW_ERANGE,
                         "1023 is below the minimum 1KiB");
    s_expect_value_error("common", "max_body", "1GiB", XGW_ERANGE,
                         "1GiB is above the maximum 64MiB");
    s_expect_value_error("common", "max_body", "67108865B", XGW_ERANGE,
                         "67108865B is above the maximum 64MiB");
    s_expect_value_error("common", "max_body", "9999999999999GiB", XGW_ERANGE,
                         "\"9999999999999GiB\" is too large");
    s_expect_value_error("common", "max_body", "99999999999999999999", XGW_ERANGE,
                         "\"99999999999999999999\" is too large");
}

static void
test_enum_values(void **state)
{
    (void)state;
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    xgw_settings_t s;
    for (size_t i = 0; i < 4; i++) {
        s_load_value(&s, "common", "log_level", levels[i]);
        assert_string_equal(s.common.log_level, levels[i]);
    }
    s_load_value(&s, "common", "log_level", "WARN");
    assert_string_equal(s.common.log_level, "warn");
    s_load_value(&s, "common", "log_level", "\"error\"");
    assert_string_equal(s.common.log_level, "error");
    s_expect_value_error("common", "log_level", "loud", XGW_EINVAL,
                         "\"loud\" is not one of debug, info, warn, error");
    s_expect_value_error("common", "log_level", "warning", XGW_EINVAL,
                         "\"warning\" is not one of debug, info, warn, error");
    s_expect_value_error("common", "log_level", "", XGW_EINVAL,
                         "\"\" is not one of debug, info, warn, error");
}

static void
test_syntax_errors(void **state)
{
    (void)state;
    s_expect_error("[broker]\nqueue_mx = 5\n", XGW_EINVAL,
                   NAME ":2: unknown key \"queue_mx\" in section [broker]");
    /* A key of another section is unknown here. */
    s_expect_error("[common]\nqueue_max = 5\n", XGW_EINVAL,
                   NAME ":2: unknown key \"queue_max\" in section [common]");
    s_expect_error("# c\n\n[brokr]\nqueue_max = 5\n", XGW_EINVAL,
                   NAME ":3: unknown section [brokr]");
    s_expect_error("[Broker]\n", XGW_EINVAL, NAME ":1: unknown section [Broker]");
    s_expect_error("[]\n", XGW_EINVAL, NAME ":1: unknown section []");
    s_expect_error("queue_max = 5\n[broker]\n", XGW_EINVAL,
                   NAME ":1: key \"queue_max\" is outside any section (add a [section] above it)");
    s_expect_error("[sipd]\ncredit = 1\nmetrics_port = 1\ncredit = 2\n", XGW_EINVAL,
                   NAME ":4: duplicate key \"credit\" in section [sipd] (first set on line 2)");
    /* Re-opening a section does not make a repeated key legal. */
    s_expect_error("[sipd]\ncredit = 1\n[broker]\n[sipd]\ncredit = 1\n", XGW_EINVAL,
                   NAME ":5: duplicate key \"credit\" in section [sipd] (first set on line 2)");
    s_expect_error("[broker]\nqueue_max 5\n", XGW_EINVAL,
                   NAME ":2: expected \"key = value\", \"[section]\" or a comment");
    s_expect_error("[broker]\n= 5\n", XGW_EINVAL, NAME ":2: missing key before \"=\"");
    s_expect_error("[broker\n", XGW_EINVAL, NAME ":1: missing \"]\" in section header");
    s_expect_error("[broker] x\n", XGW_EINVAL,
                   NAME ":1: unexpected text \"x\" after section header");
    /* The first error is reported, even when later lines are also wrong. */
    s_expect_error("[broker]\nqueue_max = 0\nnope = 1\n[nope]\n", XGW_ERANGE,
                   NAME ":2: [broker] queue_max: 0 is below the minimum 1");
    /* Keys inside an unknown section do not hide the section error. */
    s_expect_error("[brokr]\nqueue_mx = 1\n", XGW_EINVAL, NAME ":1: unknown section [brokr]");
    /* Line numbers count CRLF lines too. */
    s_expect_error("[broker]\r\n\r\nqueue_max = 0\r\n", XGW_ERANGE,
                   NAME ":3: [broker] queue_max: 0 is below the minimum 1");

    /* The default name, and a message truncated to errlen. */
    xgw_settings_t s;
    char err[16];
    assert_int_equal(xgw_config_defaults(&s), 0);
    assert_int_equal(xgw_config_load_string(&s, "[x]\n", NULL, err, sizeof err), XGW_EINVAL);
    assert_string_equal(err, "<string>:1: unk");
    char big[256];
    assert_int_equal(xgw_config_load_string(&s, "[x]\n", NULL, big, sizeof big), XGW_EINVAL);
    assert_string_equal(big, "<string>:1: unknown section [x]");
    assert_int_equal(xgw_config_load_string(&s, "[x]\n", NULL, NULL, 0), XGW_EINVAL);
    assert_int_equal(xgw_config_load_string(&s, NULL, NULL, big, sizeof big), XGW_EINVAL);
    assert_int_equal(xgw_config_load_string(NULL, "", NULL, big, sizeof big), XGW_EINVAL);
}

static void
test_long_lines_and_files(void **state)
{
    (void)state;
    size_t cap = 2 * 4096 + 64;
    char *text = malloc(cap);
    assert_non_null(text);

    /* 4096 bytes (plus CR LF) is the longest line allowed. */
    int n = snprintf(text, cap, "[common]\n#");
    memset(text + n, 'x', 4095);
    memcpy(text + n + 4095, "\r\n", 3);
    xgw_settings_t s;
    char err[256];
    assert_int_equal(xgw_config_defaults(&s), 0);
    assert_int_equal(xgw_config_load_string(&s, text, NAME, err, sizeof err), 0);

    /* 4097 bytes is too long, even in a comment. */
    memset(text + n, 'x', 4096);
    memcpy(text + n + 4096, "\n[common]\n", 11);
    s_expect_error(text, XGW_ETOOBIG, NAME ":2: line is longer than 4096 bytes");

    /* An over-long value line. */
    n = snprintf(text, cap, "[common]\ndata_dir = ");
    memset(text + n, 'd', 4200);
    text[n + 4200] = '\0';
    s_expect_error(text, XGW_ETOOBIG, NAME ":2: line is longer than 4096 bytes");
    free(text);

    /* 1 MiB of blank lines loads; one byte more does not. */
    size_t mib = 1024 * 1024;
    text = malloc(mib + 2);
    assert_non_null(text);
    memset(text, '\n', mib + 1);
    text[mib] = '\0';
    assert_int_equal(xgw_config_load_string(&s, text, NAME, err, sizeof err), 0);
    text[mib] = '\n';
    text[mib + 1] = '\0';
    s_expect_error(text, XGW_ETOOBIG, NAME ": file is larger than 1 MiB (1048577 bytes)");
    free(text);
}

static void
test_unchanged_after_failure(void **state)
{
    (void)state;
    xgw_settings_t s;
    char err[256];
    assert_int_equal(xgw_config_defaults(&s), 0);
    assert_int_equal(xgw_config_set(&s, "sipd.credit=9", err, sizeof err), 0);
    xgw_settings_t before = s;

    /* Valid changes before the error must not leak into *s. */
    const char *text = "[common]\n"
                       "log_level = debug\n"
                       "data_dir = /elsewhere\n"
                       "max_body = 2MiB\n"
                       "[sipd]\n"
                       "credit = 10\n"
                       "[broker]\n"
                       "queue_max = 5\n"
                       "sndhwm = 1\n";
    assert_int_equal(xgw_config_load_string(&s, text, NAME, err, sizeof err), XGW_ERANGE);
    assert_string_equal(err, NAME ":9: [broker] sndhwm: 1 is below the minimum 1000");
    s_assert_same(&s, &before);
    assert_int_equal(s.sipd.credit, 9);
    assert_string_equal(s.common.log_level, "info");

    /* Same with a bad line after good ones in the same section. */
    assert_int_equal(xgw_config_load_string(&s, "[broker]\nqueue_max = 5\nqueue_max = 6\n", NAME,
                                            err, sizeof err),
                     XGW_EINVAL);
    assert_int_equal(s.broker.queue_max, 10000);
    s_assert_same(&s, &before);
}

static void
test_set(void **state)
{
    (void)state;
    xgw_settings_t s;
    char err[256];
    assert_int_equal(xgw_config_defaults(&s), 0);

    assert_int_equal(xgw_config_set(&s, "broker.queue_max=5", err, sizeof err), 0);
    assert_string_equal(err, "");
    assert_int_equal(s.broker.queue_max, 5);
    assert_int_equal(xgw_config_set(&s, "  common.log_level = debug ", err, sizeof err), 0);
    assert_string_equal(s.common.log_level, "debug");
    assert_int_equal(xgw_config_set(&s, "common.data_dir=/a b # not a comment", err, sizeof err),
                     0);
    assert_string_equal(s.common.data_dir, "/a b # not a comment");
    assert_int_equal(xgw_config_set(&s, "common.data_dir=\"/q \\\"x\\\"\"", err, sizeof err), 0);
    assert_string_equal(s.common.data_dir, "/q \"x\"");
    assert_int_equal(xgw_config_set(&s, "common.broker_frontend=tcp://h:1?a=b", err, sizeof err),
                     0);
    assert_string_equal(s.common.broker_frontend, "tcp://h:1?a=b");
    assert_int_equal(xgw_config_set(&s, "xgwctl.timeout=250ms", err, sizeof err), 0);
    assert_int_equal(s.xgwctl.timeout_ms, 250);

    xgw_settings_t before = s;
    assert_int_equal(xgw_config_set(&s, "broker.nope=1", err, sizeof err), XGW_EINVAL);
    assert_string_equal(err, "unknown key \"nope\" in section [broker]");
    assert_int_equal(xgw_config_set(&s, "noequals", err, sizeof err), XGW_EINVAL);
    assert_string_equal(err, "\"noequals\" is not section.key=value");
    assert_int_equal(xgw_config_set(&s, "queue_max=5", err, sizeof err), XGW_EINVAL);
    assert_string_equal(err, "\"queue_max=5\" is not section.key=value");
    assert_int_equal(xgw_config_set(&s, "brokr.queue_max=5", err, sizeof err), XGW_EINVAL);
    assert_string_equal(err, "unknown section [brokr]");
    assert_int_equal(xgw_config_set(&s, "broker.queue_max=0", err, sizeof err), XGW_ERANGE);
    assert_string_equal(err, "[broker] queue_max: 0 is below the minimum 1");
    assert_int_equal(xgw_config_set(&s, "common.heartbeat_interval=5", err, sizeof err),
                     XGW_EINVAL);
    assert_string_equal(err, "[common] heartbeat_interval: \"5\" needs a unit (ms, s, m, h)");
    assert_int_equal(xgw_config_set(&s, "common.data_dir=\"open", err, sizeof err), XGW_EINVAL);
    assert_string_equal(err, "[common] data_dir: unterminated quoted value (missing closing \")");
    assert_int_equal(xgw_config_set(&s, "common.data_dir=\"a\" # c", err, sizeof err), XGW_EINVAL);
    assert_string_equal(err, "[common] data_dir: unexpected text after the closing quote");
    assert_int_equal(xgw_config_set(NULL, "broker.queue_max=5", err, sizeof err), XGW_EINVAL);
    assert_int_equal(xgw_config_set(&s, NULL, err, sizeof err), XGW_EINVAL);
    s_assert_same(&s, &before);
}

static void
test_apply_reloadable(void **state)
{
    (void)state;
    xgw_settings_t live;
    xgw_settings_t fresh;
    char changed[256];
    assert_int_equal(xgw_config_defaults(&live), 0);
    assert_int_equal(xgw_config_defaults(&fresh), 0);

    /* Nothing differs. */
    memset(changed, 'X', sizeof changed);
    assert_int_equal(xgw_config_apply_reloadable(&live, &fresh, changed, sizeof changed), 0);
    assert_string_equal(changed, "");

    const char *text = "[common]\n"
                       "log_level = debug\n"
                       "log_timestamps = off\n"
                       "heartbeat_interval = 2s\n"
                       "data_dir = /new\n"
                       "[broker]\n"
                       "queue_max = 5\n"
                       "[sipd]\n"
                       "credit = 10\n";
    char err[256];
    assert_int_equal(xgw_config_load_string(&fresh, text, NAME, err, sizeof err), 0);
    assert_int_equal(xgw_config_apply_reloadable(&live, &fresh, changed, sizeof changed), 3);
    assert_string_equal(changed, "common.data_dir,common.heartbeat_interval,sipd.credit");
    /* Reloadable keys were copied... */
    assert_string_equal(live.common.log_level, "debug");
    assert_false(live.common.log_timestamps);
    assert_int_equal(live.broker.queue_max, 5);
    /* ...the others kept their running values. */
    assert_string_equal(live.common.data_dir, "/var/lib/xgw");
    assert_int_equal(live.common.heartbeat_interval_ms, 1000);
    assert_int_equal(live.sipd.credit, 64);
    /* fresh is not modified. */
    assert_int_equal(fresh.sipd.credit, 10);

    /* Again: still 3 differences; no changed buffer is fine. */
    assert_int_equal(xgw_config_apply_reloadable(&live, &fresh, NULL, 0), 3);
    /* A short buffer is truncated and NUL-terminated. */
    char small[10];
    assert_int_equal(xgw_config_apply_reloadable(&live, &fresh, small, sizeof small), 3);
    assert_string_equal(small, "common.da");

    /* Reverting a reloadable key applies it back. */
    assert_int_equal(xgw_config_set(&fresh, "common.log_level=error", err, sizeof err), 0);
    assert_int_equal(xgw_config_apply_reloadable(&live, &fresh, changed, sizeof changed), 3);
    assert_string_equal(live.common.log_level, "error");

    assert_int_equal(xgw_config_apply_reloadable(NULL, &fresh, changed, sizeof changed),
                     XGW_EINVAL);
    assert_int_equal(xgw_config_apply_reloadable(&live, NULL, changed, sizeof changed), XGW_EINVAL);
}

static void
test_dump(void **state)
{
    (void)state;
    xgw_settings_t s;
    assert_int_equal(xgw_config_defaults(&s), 0);
    char *d = s_dump(&s);
    assert_non_null(strstr(d, "common.heartbeat_interval = 1s  # duration, default 1s, "
                              "50ms..1m, restart\n"));
    assert_non_null(strstr(d, "common.log_level = info  # enum, default info, "
                              "debug|info|warn|error, reloadable\n"));
    assert_non_null(strstr(d, "common.data_dir = \"/var/lib/xgw\"  # string, default "
                              "\"/var/lib/xgw\", non-empty, 255 bytes max, restart\n"));
    assert_non_null(strstr(d, "common.max_body = 1MiB  # size, default 1MiB, 1KiB..64MiB, "
                              "restart\n"));
    assert_non_null(strstr(d, "common.log_timestamps = on  # bool, default on, on|off, "
                              "reloadable\n"));
    assert_non_null(strstr(d, "broker.queue_max = 10000  # int, default 10000, 1..1000000, "
                              "reloadable\n"));
    assert_non_null(strstr(d, "xgwctl.timeout = 5s  # duration, default 5s, 100ms..10m, "
                              "restart\n"));
    /* One line per key. */
    size_t lines = 0;
    for (const char *p = d; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, xgw_config_key_count());
    free(d);

    /* Every dumped line, cut before the "  #", is a valid --set argument that
     * reproduces the value; try it with non-default values. */
    const char *text = "[common]\n"
                       "data_dir = \"/odd \\\"dir\\\" \\\\ # x\"\n"
                       "heartbeat_interval = 1500ms\n"
                       "max_body = 1025\n"
                       "log_level = warn\n"
                       "log_timestamps = no\n"
                       "[certd]\n"
                       "credit = 3\n";
    char err[256];
    assert_int_equal(xgw_config_load_string(&s, text, NAME, err, sizeof err), 0);
    d = s_dump(&s);
    assert_non_null(strstr(d, "common.heartbeat_interval = 1500ms  #"));
    assert_non_null(strstr(d, "common.max_body = 1025B  #"));
    xgw_settings_t r;
    assert_int_equal(xgw_config_defaults(&r), 0);
    size_t applied = 0;
    for (char *line = d; *line;) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = '\0';
        char *cut = strstr(line, "  # ");
        assert_non_null(cut);
        *cut = '\0';
        int rc = xgw_config_set(&r, line, err, sizeof err);
        if (rc != 0)
            print_error("%s: %s\n", line, err);
        assert_int_equal(rc, 0);
        applied++;
        line = nl + 1;
    }
    free(d);
    assert_int_equal(applied, xgw_config_key_count());
    s_assert_same(&r, &s);
    assert_string_equal(r.common.data_dir, "/odd \"dir\" \\ # x");

    xgw_config_dump(NULL, stdout); /* ignored */
}

/* Writes len bytes to a new temporary file; stores its path. */
static void
s_write_temp(char *path, size_t pathlen, const char *data, size_t len)
{
    snprintf(path, pathlen, "/tmp/xgw_test_config_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, data + done, len - done);
        assert_true(w > 0);
        done += (size_t)w;
    }
    assert_int_equal(close(fd), 0);
}

static void
test_load_file(void **state)
{
    (void)state;
    xgw_settings_t s;
    char err[512];
    assert_int_equal(xgw_config_defaults(&s), 0);

    const char *missing = "/nonexistent/xgw/xgw.conf";
    assert_int_equal(xgw_config_load_file(&s, missing, err, sizeof err), XGW_ENOENT);
    assert_non_null(strstr(err, "/nonexistent/xgw/xgw.conf: cannot open: "));
    s_assert_defaults(&s);

    char path[64];
    const char good[] = "[broker]\nqueue_max = 77\n[sipd]\ncredit = 5\n";
    s_write_temp(path, sizeof path, good, sizeof good - 1);
    assert_int_equal(xgw_config_load_file(&s, path, err, sizeof err), 0);
    assert_int_equal(s.broker.queue_max, 77);
    assert_int_equal(s.sipd.credit, 5);
    assert_int_equal(unlink(path), 0);

    /* The path is the FILE in messages. */
    const char bad[] = "[broker]\nqueue_max = 77\n\nsndhwm = lots\n";
    s_write_temp(path, sizeof path, bad, sizeof bad - 1);
    assert_int_equal(xgw_config_load_file(&s, path, err, sizeof err), XGW_EINVAL);
    char want[256];
    snprintf(want, sizeof want, "%s:4: [broker] sndhwm: \"lots\" is not an integer", path);
    assert_string_equal(err, want);
    assert_int_equal(unlink(path), 0);

    /* A NUL byte inside the file. */
    const char nul[] = "[broker]\nqueue_max = 1\0 2\n";
    s_write_temp(path, sizeof path, nul, sizeof nul - 1);
    assert_int_equal(xgw_config_load_file(&s, path, err, sizeof err), XGW_EINVAL);
    snprintf(want, sizeof want, "%s:2: line contains a NUL byte", path);
    assert_string_equal(err, want);
    assert_int_equal(unlink(path), 0);

    /* Larger than 1 MiB. */
    size_t big = 1024 * 1024 + 1;
    char *blank = malloc(big);
    assert_non_null(blank);
    memset(blank, '\n', big);
    s_write_temp(path, sizeof path, blank, big);
    free(blank);
    assert_int_equal(xgw_config_load_file(&s, path, err, sizeof err), XGW_ETOOBIG);
    snprintf(want, sizeof want, "%s: file is larger than 1 MiB", path);
    assert_string_equal(err, want);
    assert_int_equal(unlink(path), 0);

    /* A directory cannot be read. */
    assert_int_equal(xgw_config_load_file(&s, "/tmp", err, sizeof err), XGW_EIO);
    assert_non_null(strstr(err, "/tmp: cannot read: "));

    assert_int_equal(s.broker.queue_max, 77);
    assert_int_equal(xgw_config_load_file(&s, NULL, err, sizeof err), XGW_EINVAL);
}

static bool
s_readable(const char *path)
{
    return access(path, R_OK) == 0;
}

/* Finds deploy/xgw.conf: $XGW_SRC_DIR, then the source tree this file was
 * compiled from, then guesses relative to the working directory. */
static bool
s_find_example(char *path, size_t len)
{
    const char *src = getenv("XGW_SRC_DIR");
    if (src && *src) {
        snprintf(path, len, "%s/deploy/xgw.conf", src);
        if (s_readable(path))
            return true;
    }
    const char *self = __FILE__;
    const char *tail = strstr(self, "tests/unit/test_config.c");
    if (tail) {
        snprintf(path, len, "%.*sdeploy/xgw.conf", (int)(tail - self), self);
        if (s_readable(path))
            return true;
    }
    static const char *const guesses[] = {"../deploy/xgw.conf", "../../deploy/xgw.conf",
                                          "deploy/xgw.conf"};
    for (size_t i = 0; i < sizeof guesses / sizeof guesses[0]; i++) {
        snprintf(path, len, "%s", guesses[i]);
        if (s_readable(path))
            return true;
    }
    return false;
}

static void
test_example_config(void **state)
{
    (void)state;
    char path[4096];
    if (!s_find_example(path, sizeof path)) {
        print_message("deploy/xgw.conf not found (set XGW_SRC_DIR); skipping\n");
        skip();
    }
    xgw_settings_t s;
    char err[512] = "";
    assert_int_equal(xgw_config_defaults(&s), 0);
    int rc = xgw_config_load_file(&s, path, err, sizeof err);
    if (rc != 0)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    s_assert_defaults(&s);

    /* Uncomment every "# key = value" line: the result must set every key
     * exactly once (unknown and duplicate keys are errors) to its default. */
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *text = NULL;
    size_t textlen = 0;
    FILE *out = open_memstream(&text, &textlen);
    assert_non_null(out);
    char line[4200];
    size_t keys = 0;
    while (fgets(line, sizeof line, f)) {
        const char *p = line;
        if (strncmp(p, "# ", 2) == 0 && p[2] >= 'a' && p[2] <= 'z') {
            const char *k = p + 2;
            while ((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '_')
                k++;
            if (strncmp(k, " = ", 3) == 0) {
                p += 2;
                keys++;
            }
        }
        fputs(p, out);
    }
    assert_int_equal(fclose(f), 0);
    assert_int_equal(fclose(out), 0);
    assert_int_equal(keys, xgw_config_key_count());
    assert_int_equal(xgw_config_defaults(&s), 0);
    rc = xgw_config_load_string(&s, text, "xgw.conf (uncommented)", err, sizeof err);
    if (rc != 0)
        print_error("%s\n", err);
    free(text);
    assert_int_equal(rc, 0);
    s_assert_defaults(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_key_table),
        cmocka_unit_test(test_load_full_file),
        cmocka_unit_test(test_string_values),
        cmocka_unit_test(test_int_values),
        cmocka_unit_test(test_bool_values),
        cmocka_unit_test(test_duration_values),
        cmocka_unit_test(test_size_values),
        cmocka_unit_test(test_enum_values),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_long_lines_and_files),
        cmocka_unit_test(test_unchanged_after_failure),
        cmocka_unit_test(test_set),
        cmocka_unit_test(test_apply_reloadable),
        cmocka_unit_test(test_dump),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_example_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
