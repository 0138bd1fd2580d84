/*
 * test_policy_store.c - persistence of policyd's SQLite store under a crash
 * (issue 3, "Persistence"): real xgw-broker and xgw-policyd processes, a
 * burst of 1,000 administrative changes sent as fast as policyd takes them
 * (about 20 outstanding), kill -9 of policyd after about 400 acknowledgements,
 * a restart, and then:
 *   - every change acknowledged with code 0 is there (partner show, deny
 *     show, user show, as JSON);
 *   - nothing appears twice, and no partner is half-written (its three
 *     additional domains all there, or the partner absent);
 *   - the store passes PRAGMA integrity_check (after the crash, before the
 *     restart, and at the end) and its tables agree with each other.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support_proc.h"
#include "xgw_client.h"
#include "xgw_error.h"

#include "xgw/v1/gwp.pb-c.h"

#include <czmq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_TOTAL 1000
#define S_WINDOW 20
#define S_KILL_AT 400
#define S_DEADLINE_MS 60000
#define S_TIMEOUT_MS 180000

typedef struct {
    char dir[256];
    char conf[320];
    char front[320];
    char db[320];
    char broker_log[320];
    char policyd_log[320];
    pid_t broker;
    pid_t policyd;
    int policyd_starts;
} s_env_t;

/* What happened to change i. */
typedef struct {
    int answered;
    uint16_t status;
    int code; /* AdminReply.code, -1 when no admin reply */
    char message[160];
} s_outcome_t;

static void
s_write_conf(s_env_t *e)
{
    FILE *f = fopen(e->conf, "w");
    assert_non_null(f);
    fprintf(f,
            "[common]\n"
            "broker_frontend = \"ipc://%s/f\"\n"
            "broker_backend = \"ipc://%s/b\"\n"
            "data_dir = \"%s/data\"\n"
            "run_dir = \"%s\"\n"
            "policy_updates = \"ipc://%s/pu\"\n"
            "policy_snapshot = \"ipc://%s/ps\"\n"
            "domains = \"example.net\"\n"
            "heartbeat_interval = 200ms\n"
            "[broker]\n"
            "metrics_port = 0\n"
            "[policyd]\n"
            "metrics_port = 0\n",
            e->dir, e->dir, e->dir, e->dir, e->dir, e->dir);
    fclose(f);
}

static int
s_setup(void **state)
{
    s_env_t *e = calloc(1, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "%s", xt_tmpdir());
    snprintf(e->conf, sizeof e->conf, "%s/x.conf", e->dir);
    snprintf(e->front, sizeof e->front, "ipc://%s/f", e->dir);
    snprintf(e->db, sizeof e->db, "%s/data/policy.db", e->dir);
    snprintf(e->broker_log, sizeof e->broker_log, "%s/broker.log", e->dir);
    snprintf(e->policyd_log, sizeof e->policyd_log, "%s/policyd.log", e->dir);
    s_write_conf(e);
    *state = e;
    return 0;
}

static int
s_teardown(void **state)
{
    s_env_t *e = *state;
    xt_cleanup();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
    if (!getenv("XGW_KEEP_TMP") && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", e->dir);
    free(e);
    return 0;
}

static void
s_start_broker(s_env_t *e)
{
    char *argv[] = {(char *)xt_bin("xgw-broker"), "-c", e->conf, NULL};
    e->broker = xt_spawn(argv, e->broker_log);
    assert_true(e->broker > 0);
}

/* Starts policyd and waits until the broker has it as a worker. */
static void
s_start_policyd(s_env_t *e)
{
    char *argv[] = {(char *)xt_bin("xgw-policyd"), "-c", e->conf, NULL};
    e->policyd = xt_spawn(argv, e->policyd_log);
    assert_true(e->policyd > 0);
    e->policyd_starts++;
    if (xt_wait_lines(e->policyd_log, "event=serving", e->policyd_starts, 15000) != 0 ||
        xt_wait_lines(e->broker_log, "event=worker_ready", e->policyd_starts, 15000) != 0)
        fail_msg("policyd start %d did not come up (see %s)", e->policyd_starts, e->policyd_log);
}

static xgw_client_t *
s_client(s_env_t *e)
{
    xgw_client_opts_t o;
    xgw_client_opts_default(&o);
    o.heartbeat_ms = 200;
    o.liveness = 3;
    o.retry_ms = 1000;
    xgw_client_t *c = xgw_client_new(e->front, &o);
    assert_non_null(c);
    return c;
}

/* ---- requests ---------------------------------------------------------- */

/* Sends one AdminRequest; opts is NULL or key, value, ..., NULL. */
static int
s_send_admin(xgw_client_t *c, const char *object, const char *verb, const char *arg,
             const char *const *opts, void *user)
{
    Xgw__V1__Option o[8], *op[8];
    size_t n_opts = 0;
    for (size_t i = 0; opts && opts[i] && n_opts < 8; i += 2, n_opts++) {
        xgw__v1__option__init(&o[n_opts]);
        o[n_opts].key = (char *)opts[i];
        o[n_opts].value = (char *)opts[i + 1];
        op[n_opts] = &o[n_opts];
    }
    char *args[1] = {(char *)arg};
    Xgw__V1__AdminRequest ar = XGW__V1__ADMIN_REQUEST__INIT;
    ar.object = (char *)object;
    ar.verb = (char *)verb;
    ar.args = args;
    ar.n_args = arg ? 1 : 0;
    ar.options = op;
    ar.n_options = n_opts;
    ar.actor = "test_policy_store";
    Xgw__V1__Request r = XGW__V1__REQUEST__INIT;
    r.schema = 1;
    r.payload_case = XGW__V1__REQUEST__PAYLOAD_ADMIN;
    r.admin = &ar;
    size_t len = xgw__v1__request__get_packed_size(&r);
    uint8_t *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    xgw__v1__request__pack(&r, buf);
    int rc =
        xgw_client_send(c, "policy", NULL, xgw_gwp_now_ms() + S_DEADLINE_MS, buf, len, user, NULL);
    free(buf);
    return rc;
}

/* Change i of the burst: a partner with three additional domains, a deny
 * entry, or a user's site, in turn. */
static int
s_send_change(xgw_client_t *c, int i)
{
    char name[64], add[160];
    void *user = (void *)(uintptr_t)(i + 1);
    switch (i % 3) {
    case 0: {
        snprintf(name, sizeof name, "p%d.example", i);
        snprintf(add, sizeof add, "a%d.example,b%d.example,c%d.example", i, i, i);
        const char *opts[] = {"tls", "optional", "sasl",      "optional", "additional-domains",
                              add,   "type",     "federated", NULL};
        return s_send_admin(c, "partner", "add", name, opts, user);
    }
    case 1:
        snprintf(name, sizeof name, "d%d.example", i);
        return s_send_admin(c, "deny", "add", name, NULL, user);
    default: {
        char site[32];
        snprintf(name, sizeof name, "u%d@example.net", i);
        snprintf(site, sizeof site, "s%d", i);
        const char *opts[] = {"site", site, NULL};
        return s_send_admin(c, "user", "set", name, opts, user);
    }
    }
}

/* Reads the AdminReply of a reply into out. */
static void
s_outcome(const xgw_reply_t *rep, s_outcome_t *out)
{
    out->answered++;
    out->status = rep->status;
    out->code = -1;
    out->message[0] = '\0';
    if (rep->status != 200 || !rep->body)
        return;
    Xgw__V1__Reply *r = xgw__v1__reply__unpack(NULL, rep->body_len, rep->body);
    if (!r)
        return;
    if (r->payload_case == XGW__V1__REPLY__PAYLOAD_ADMIN && r->admin) {
        out->code = r->admin->code;
        snprintf(out->message, sizeof out->message, "%s",
                 r->admin->message ? r->admin->message : "");
    }
    xgw__v1__reply__free_unpacked(r, NULL);
}

/* One request, waited for; returns the AdminReply's code and a copy of its
 * JSON (caller frees). */
static int
s_call(xgw_client_t *c, const char *object, const char *verb, const char *arg, char **json)
{
    assert_int_equal(s_send_admin(c, object, verb, arg, NULL, NULL), 0);
    xgw_reply_t *rep = NULL;
    assert_int_equal(xgw_client_wait(c, 30000, &rep), 0);
    assert_int_equal(rep->status, 200);
    Xgw__V1__Reply *r = xgw__v1__reply__unpack(NULL, rep->body_len, rep->body);
    assert_non_null(r);
    assert_int_equal(r->payload_case, XGW__V1__REPLY__PAYLOAD_ADMIN);
    int code = r->admin->code;
    if (json)
        *json = strdup(r->admin->json ? r->admin->json : "");
    xgw__v1__reply__free_unpacked(r, NULL);
    xgw_reply_destroy(&rep);
    return code;
}

/* ---- checks ------------------------------------------------------------ */

static int
s_count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Runs sqlite3 on the store with one statement; returns its output (first
 * 4 KiB, trailing newline dropped), or NULL when sqlite3 is not there. */
static char *
s_sql(const s_env_t *e, const char *sql)
{
    static int have = -1;
    if (have < 0)
        have = system("command -v sqlite3 >/dev/null 2>&1") == 0;
    if (!have)
        return NULL;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "sqlite3 '%s' \"%s\" 2>&1", e->db, sql);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char *out = calloc(1, 4096);
    assert_non_null(out);
    size_t n = fread(out, 1, 4095, p);
    pclose(p);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    return out;
}

static void
s_integrity(const s_env_t *e, const char *when)
{
    char *out = s_sql(e, "PRAGMA integrity_check");
    if (!out) {
        printf("policy_store: sqlite3 CLI not found: integrity check (%s) skipped; "
               "deploy/install-deps.sh must install the sqlite3 package\n",
               when);
        return;
    }
    printf("policy_store: integrity_check %s: %s\n", when, out);
    if (strcmp(out, "ok") != 0)
        fail_msg("PRAGMA integrity_check %s: %s", when, out);
    free(out);
}

/* The SQL output must be exactly want. */
static void
s_sql_expect(const s_env_t *e, const char *sql, const char *want)
{
    char *out = s_sql(e, sql);
    if (!out)
        return;
    if (strcmp(out, want) != 0)
        fail_msg("%s: got \"%s\", want \"%s\"", sql, out, want);
    free(out);
}

/* ---- the test ---------------------------------------------------------- */

static void
test_kill9_during_burst(void **state)
{
    s_env_t *e = *state;
    s_start_broker(e);
    s_start_policyd(e);
    xgw_client_t *c = s_client(e);

    s_outcome_t *out = calloc(S_TOTAL, sizeof *out);
    assert_non_null(out);
    int sent = 0, answered = 0, acked = 0, extra_answers = 0;
    int acked_at_kill = -1, answered_at_kill = -1;
    int64_t killed_at = 0, t0 = zclock_mono();
    int restarted = 0;
    int64_t end = t0 + S_TIMEOUT_MS;
    while (answered < S_TOTAL && zclock_mono() < end) {
        while (sent < S_TOTAL && (int)xgw_client_outstanding(c) < S_WINDOW) {
            assert_int_equal(s_send_change(c, sent), 0);
            sent++;
        }
        int64_t wait = xgw_client_tick(c);
        if (wait > 10)
            wait = 10;
        zmq_pollitem_t item = {xgw_client_socket(c), 0, ZMQ_POLLIN, 0};
        zmq_poll(&item, 1, (long)wait);
        xgw_reply_t *rep = NULL;
        while (xgw_client_recv(c, &rep) == 0) {
            size_t i = (size_t)(uintptr_t)rep->user - 1;
            assert_true(i < S_TOTAL);
            if (out[i].answered) {
                extra_answers++; /* the client promises one answer per request */
            } else {
                answered++;
                s_outcome(rep, &out[i]);
                if (out[i].code == 0)
                    acked++;
            }
            xgw_reply_destroy(&rep);
        }
        if (!killed_at && acked >= S_KILL_AT) {
            xt_signal(e->policyd, SIGKILL);
            killed_at = zclock_mono();
            acked_at_kill = acked;
            answered_at_kill = answered;
        }
        /* Restart a little later, so that the broker notices the death and
         * requests pile up meanwhile; check the crashed store first. */
        if (killed_at && !restarted && zclock_mono() - killed_at > 700) {
            assert_true(xt_wait(e->policyd, 5000) != -1);
            s_integrity(e, "after kill -9");
            s_start_policyd(e);
            restarted = 1;
        }
    }
    int64_t elapsed = zclock_mono() - t0;
    xgw_client_stats_t st;
    xgw_client_stats(c, &st);

    int by_code[4] = {0, 0, 0, 0}, other = 0, not_admin = 0;
    for (int i = 0; i < S_TOTAL; i++) {
        if (out[i].code >= 0 && out[i].code <= 2)
            by_code[out[i].code]++;
        else if (out[i].answered)
            not_admin++;
        else
            other++;
    }
    printf("policy_store: sent=%d answered=%d acked=%d (code0=%d code1=%d code2=%d "
           "no-admin-reply=%d unanswered=%d) killed after %d acks / %d answers, "
           "%.1f s, resent=%llu duplicates=%llu extra=%d\n",
           sent, answered, acked, by_code[0], by_code[1], by_code[2], not_admin, other,
           acked_at_kill, answered_at_kill, (double)elapsed / 1000.0, (unsigned long long)st.resent,
           (unsigned long long)st.duplicates, extra_answers);
    assert_true(killed_at != 0);
    assert_true(restarted);
    assert_true(acked_at_kill >= S_KILL_AT && acked_at_kill < S_TOTAL);
    assert_int_equal(answered, S_TOTAL);
    assert_int_equal(extra_answers, 0);
    /* Everything is answered by policyd itself (no 504s); only changes that
     * the first policyd committed without answering may come back as
     * "exists" (code 2) from the second. */
    for (int i = 0; i < S_TOTAL; i++) {
        if (out[i].code == 0)
            continue;
        if (out[i].code == 2 && i % 3 == 0 && strstr(out[i].message, "exists"))
            continue;
        fail_msg("change %d: status=%u code=%d message=\"%s\"", i, out[i].status, out[i].code,
                 out[i].message);
    }
    assert_true(by_code[2] <= 2 * S_WINDOW);

    /* Read everything back from the restarted policyd. */
    char *partners = NULL, *deny = NULL, *users = NULL;
    assert_int_equal(s_call(c, "partner", "show", NULL, &partners), 0);
    assert_int_equal(s_call(c, "deny", "show", NULL, &deny), 0);
    assert_int_equal(s_call(c, "user", "show", NULL, &users), 0);
    int present[3] = {0, 0, 0}, missing = 0;
    for (int i = 0; i < S_TOTAL; i++) {
        char key[128];
        int n = 0;
        switch (i % 3) {
        case 0: {
            snprintf(key, sizeof key, "{\"domain\":\"p%d.example\",", i);
            n = s_count(partners, key);
            if (n == 1) {
                /* Whole: its settings and all three additional domains. */
                const char *obj = strstr(partners, key);
                const char *close = strchr(obj, '}');
                assert_non_null(close);
                char want[256];
                snprintf(want, sizeof want,
                         "\"additional_domains\":[\"a%d.example\",\"b%d.example\","
                         "\"c%d.example\"]",
                         i, i, i);
                const char *at = strstr(obj, want);
                if (!at || at > close)
                    fail_msg("partner p%d.example is half there: %.*s", i, (int)(close - obj + 1),
                             obj);
                const char *tls = strstr(obj, "\"type\":\"federated\",\"tls\":\"optional\","
                                              "\"sasl\":\"optional\"");
                assert_true(tls && tls < close);
            }
            /* Its additional domains appear nowhere else. */
            char ad[64];
            snprintf(ad, sizeof ad, "\"b%d.example\"", i);
            assert_int_equal(s_count(partners, ad), n);
            break;
        }
        case 1:
            snprintf(key, sizeof key, "\"d%d.example\"", i);
            n = s_count(deny, key);
            break;
        default:
            snprintf(key, sizeof key, "{\"user\":\"u%d@example.net\",\"site\":\"s%d\",", i, i);
            n = s_count(users, key);
            break;
        }
        if (n > 1)
            fail_msg("change %d appears %d times (%s)", i, n, key);
        present[i % 3] += n;
        if (out[i].code == 0 && n != 1) {
            missing++;
            printf("policy_store: acknowledged change %d is missing (%s)\n", i, key);
        }
    }
    /* Nothing else is there either. */
    assert_int_equal(s_count(partners, "{\"domain\":"), present[0]);
    assert_int_equal(s_count(deny, "\""), 2 * present[1]);
    assert_int_equal(s_count(users, "{\"user\":"), present[2]);
    printf("policy_store: present partners=%d deny=%d users=%d of %d/%d/%d sent, "
           "acknowledged but missing=%d\n",
           present[0], present[1], present[2], (S_TOTAL + 2) / 3, (S_TOTAL + 1) / 3, S_TOTAL / 3,
           missing);
    assert_int_equal(missing, 0);
    free(partners);
    free(deny);
    free(users);
    xgw_client_destroy(&c);

    /* Stop policyd cleanly and look at the tables themselves. */
    xt_signal(e->policyd, SIGTERM);
    assert_true(xt_wait(e->policyd, 10000) != -1);
    s_integrity(e, "at the end");
    s_sql_expect(e, "PRAGMA foreign_key_check", "");
    char want[64];
    snprintf(want, sizeof want, "%d", present[0]);
    s_sql_expect(e, "SELECT count(*) FROM partners", want);
    snprintf(want, sizeof want, "%d", 3 * present[0]);
    s_sql_expect(e, "SELECT count(*) FROM partner_domains", want);
    s_sql_expect(e,
                 "SELECT count(*) FROM (SELECT partner FROM partner_domains GROUP BY partner"
                 " HAVING count(*) != 3)",
                 "0");
    s_sql_expect(e,
                 "SELECT count(*) FROM partner_domains d LEFT JOIN partners p"
                 " ON p.domain = d.partner WHERE p.domain IS NULL",
                 "0");
    snprintf(want, sizeof want, "%d", present[1]);
    s_sql_expect(e, "SELECT count(*) FROM deny", want);
    snprintf(want, sizeof want, "%d", present[2]);
    s_sql_expect(e, "SELECT count(*) FROM users", want);
    s_sql_expect(e, "SELECT count(DISTINCT id) = count(*) FROM partners", "1");
    /* The version on disk counts at least every change that is there. */
    char *v = s_sql(e, "SELECT value FROM meta WHERE key='ruleset_version'");
    if (v) {
        long long version = strtoll(v, NULL, 10);
        printf("policy_store: ruleset_version on disk %lld\n", version);
        assert_true(version >= present[0] + present[1] + present[2]);
        free(v);
    }
    free(out);
    /* Sanitizer builds: neither daemon reported anything. */
    assert_int_equal(xt_count_lines(e->policyd_log, "Sanitizer"), 0);
    assert_int_equal(xt_count_lines(e->policyd_log, "runtime error"), 0);
    assert_int_equal(xt_count_lines(e->broker_log, "Sanitizer"), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kill9_during_burst, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
