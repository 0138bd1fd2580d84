/*
 * bench_policy.c - policy decision figures (issue 3, "Bench").
 *
 * (a) Local decisions on one core, as an edge makes them: a rule set of
 *     10,000 partners and 100,000 users (site and user policies, the three
 *     partner types, additional domains, exact and wildcard deny entries)
 *     built through xgw_rules_apply, then xgw_rules_decide over a fixed
 *     mix of queries (allowed and denied, inbound and outbound, addresses
 *     drawn from the loaded sets with a fixed seed; the contact question is
 *     answered from a small in-memory table). Prints decisions/s, ns per
 *     decision, the rule set's resident memory (VmRSS before/after loading)
 *     and the time to build, pack, unpack and load a snapshot of it.
 *     Target: at least 2,000,000 decisions/s.
 * (b) policyd round trips for contact-state questions: starts the real
 *     xgw-broker and xgw-policyd ($XGW_BIN_DIR, else next to this binary's
 *     directory: build/bench/../) on ipc:// in a temporary directory, stores
 *     1,000 contacts, then sends ContactRequest "get" through xgw_client
 *     with 100 outstanding; prints round trips/s and p50/p99 latency.
 *
 * Usage: xgw-bench-policy [--short] [--seconds N] [--local-only | --policyd-only]
 * --short runs each part for 1 s. Exits 1 only when something fails (a
 * daemon does not start, a request is lost or answered wrongly, a reloaded
 * snapshot decides differently), never because of speed.
 */
#include "support.h"
#include "support_proc.h"
#include "xgw_client.h"
#include "xgw_error.h"
#include "xgw_gwp.h"
#include "xgw_rules.h"

#include "xgw/v1/gwp.pb-c.h"

#include <czmq.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define S_PARTNERS 10000
#define S_USERS 100000
#define S_SITES 60 /* sites 50..59 have no site policy */
#define S_SITE_POLICIES 50
#define S_USER_POLICIES 20
#define S_QUERIES 65536 /* power of two */
#define S_CONTACTS 1000
#define S_WINDOW 100
#define S_DEADLINE_MS 30000

/* ---- helpers ------------------------------------------------------------ */

static int64_t
s_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* xorshift64*, fixed seed: the same queries on every run. */
static uint64_t
s_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* VmRSS of this process in KiB, or -1. */
static long
s_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

/* ---- (a) building the rule set ----------------------------------------- */

typedef struct {
    xgw_rules_t *r;
    int failed;
} s_builder_t;

static void
s_apply(s_builder_t *b, Xgw__V1__RuleChange *c)
{
    c->version = xgw_rules_version(b->r) + 1;
    int rc = xgw_rules_apply(b->r, c, false);
    if (rc != 0 && !b->failed) {
        fprintf(stderr, "bench: change %llu refused: %s\n", (unsigned long long)c->version,
                xgw_strerror(rc));
        b->failed = 1;
    }
}

static void
s_put_policy(s_builder_t *b, const char *name, xgw_scope_t scope, const char *site, bool fed,
             bool xmpp)
{
    Xgw__V1__ExtPolicy p = XGW__V1__EXT_POLICY__INIT;
    p.name = (char *)name;
    p.scope = (uint32_t)scope;
    p.site = (char *)site;
    p.federation = fed;
    p.xmpp = xmpp;
    Xgw__V1__RuleChange c = XGW__V1__RULE_CHANGE__INIT;
    c.change_case = XGW__V1__RULE_CHANGE__CHANGE_POLICY_PUT;
    c.policy_put = &p;
    s_apply(b, &c);
}

static void
s_put_deny(s_builder_t *b, const char *pattern)
{
    Xgw__V1__RuleChange c = XGW__V1__RULE_CHANGE__INIT;
    c.change_case = XGW__V1__RULE_CHANGE__CHANGE_DENY_ADD;
    c.deny_add = (char *)pattern;
    s_apply(b, &c);
}

/* Partner k: type k % 3; every fifth has two additional domains. */
static int
s_has_additional(int k)
{
    return k % 5 == 1;
}

/* Partners whose primary domain is denied exactly; spam wildcards. */
static int
s_partner_denied(int k)
{
    return k % 50 == 7;
}

#define S_SPAM_DOMAINS 500
#define S_BAD_DOMAINS 300

static xgw_rules_t *
s_build(const char *domains)
{
    char err[256] = "";
    s_builder_t b = {xgw_rules_new(domains, err, sizeof err), 0};
    if (!b.r) {
        fprintf(stderr, "bench: xgw_rules_new: %s\n", err);
        return NULL;
    }
    s_put_policy(&b, "global", XGW_SCOPE_GLOBAL, "", true, true);
    char name[64], site[64], dom[64], add0[64], add1[64];
    for (int s = 0; s < S_SITE_POLICIES; s++) {
        snprintf(name, sizeof name, "sitepol%d", s);
        snprintf(site, sizeof site, "site%d", s);
        s_put_policy(&b, name, XGW_SCOPE_SITE, site, s % 10 != 8, s % 10 < 8);
    }
    for (int u = 0; u < S_USER_POLICIES; u++) {
        snprintf(name, sizeof name, "userpol%d", u);
        s_put_policy(&b, name, XGW_SCOPE_USER, "", u % 4 != 3, u % 4 != 3);
    }
    for (int k = 0; k < S_PARTNERS; k++) {
        xgw_partner_t p;
        xgw_partner_defaults(&p);
        p.id = (uint32_t)k + 1;
        snprintf(p.domain, sizeof p.domain, "p%d.example", k);
        p.type = (xgw_partner_type_t)(k % 3);
        p.tls = XGW_NEG_REQUIRED;
        p.sasl = k % 2 ? XGW_NEG_OPTIONAL : XGW_NEG_REQUIRED;
        Xgw__V1__Partner pp;
        xgw_partner_to_proto(&p, &pp);
        char *add[2] = {add0, add1};
        if (s_has_additional(k)) {
            snprintf(add0, sizeof add0, "a%d.example", k);
            snprintf(add1, sizeof add1, "b%d.example", k);
            pp.additional = add;
            pp.n_additional = 2;
        }
        Xgw__V1__RuleChange c = XGW__V1__RULE_CHANGE__INIT;
        c.change_case = XGW__V1__RULE_CHANGE__CHANGE_PARTNER_PUT;
        c.partner_put = &pp;
        s_apply(&b, &c);
    }
    for (int n = 0; n < S_USERS; n++) {
        char addr[64], pol[64];
        snprintf(addr, sizeof addr, "u%d@example.net", n);
        snprintf(site, sizeof site, "site%d", n % S_SITES);
        pol[0] = '\0';
        if (n % 10 == 0)
            snprintf(pol, sizeof pol, "userpol%d", (n / 10) % S_USER_POLICIES);
        Xgw__V1__SipUser u = XGW__V1__SIP_USER__INIT;
        u.address = addr;
        u.site = site;
        u.policy = pol;
        Xgw__V1__RuleChange c = XGW__V1__RULE_CHANGE__INIT;
        c.change_case = XGW__V1__RULE_CHANGE__CHANGE_USER_PUT;
        c.user_put = &u;
        s_apply(&b, &c);
    }
    for (int k = 0; k < S_PARTNERS; k++) {
        if (s_partner_denied(k)) {
            snprintf(dom, sizeof dom, "p%d.example", k);
            s_put_deny(&b, dom);
        }
    }
    for (int k = 0; k < S_SPAM_DOMAINS; k++) {
        snprintf(dom, sizeof dom, "*.spam%d.example", k);
        s_put_deny(&b, dom);
    }
    for (int k = 0; k < S_BAD_DOMAINS; k++) {
        snprintf(dom, sizeof dom, "bad%d.example", k);
        s_put_deny(&b, dom);
    }
    if (b.failed)
        xgw_rules_destroy(&b.r);
    return b.r;
}

/* ---- (a) queries and the contact table --------------------------------- */

typedef struct {
    const char *from;
    const char *to;
    xgw_kind_t kind;
} s_query_t;

typedef struct {
    s_query_t *q;
    char *pool;
    size_t used, cap;
} s_queries_t;

static const char *
s_pool_add(s_queries_t *qs, const char *fmt, int a, int b)
{
    char buf[128];
    int n = snprintf(buf, sizeof buf, fmt, a, b);
    if (n < 0 || qs->used + (size_t)n + 1 > qs->cap)
        return NULL;
    char *out = qs->pool + qs->used;
    memcpy(out, buf, (size_t)n + 1);
    qs->used += (size_t)n + 1;
    return out;
}

/* The mix: local users drawn from the 100,000 (5% unknown ones); remote
 * domains: 70% a partner's primary domain, 10% an additional domain, 8% a
 * domain on the deny list (exact or under a wildcard), 7% no partner, 5%
 * both addresses local. Half inbound, half outbound; all four kinds. */
static int
s_make_queries(s_queries_t *qs, int nusers, int npartners)
{
    qs->used = 0;
    if (!qs->q)
        qs->q = calloc(S_QUERIES, sizeof *qs->q);
    qs->cap = (size_t)S_QUERIES * 96;
    if (!qs->pool)
        qs->pool = malloc(qs->cap);
    if (!qs->q || !qs->pool)
        return -1;
    uint64_t seed = 0x5eed5eed12345678ULL;
    for (int i = 0; i < S_QUERIES; i++) {
        uint64_t r = s_rand(&seed);
        int user = (int)(r % (uint64_t)nusers);
        if ((r >> 20) % 100 < 5)
            user += S_USERS; /* not in the table: global policy */
        int contact = (int)((r >> 28) % 5000);
        int k = (int)((r >> 40) % (uint64_t)npartners);
        unsigned pick = (unsigned)((r >> 54) % 100);
        const char *local = s_pool_add(qs, "sip:u%d@example.net", user, 0);
        const char *remote;
        if (pick < 70) {
            remote = s_pool_add(qs, "xmpp:c%d@p%d.example/res", contact, k);
        } else if (pick < 80) {
            k = k - k % 5 + 1;
            if (k >= npartners)
                k -= 5;
            remote = s_pool_add(qs, (r & 1) ? "c%d@a%d.example" : "c%d@b%d.example", contact, k);
        } else if (pick < 83) {
            remote = s_pool_add(qs, "c%d@p%d.example", contact, k - k % 50 + 7);
        } else if (pick < 86) {
            remote = s_pool_add(qs, "c%d@x.spam%d.example", contact, k % S_SPAM_DOMAINS);
        } else if (pick < 88) {
            remote = s_pool_add(qs, "c%d@bad%d.example", contact, k % S_BAD_DOMAINS);
        } else if (pick < 95) {
            remote = s_pool_add(qs, "c%d@other%d.example", contact, k);
        } else {
            remote = s_pool_add(qs, "sip:c%d@example.net", contact, 0);
        }
        if (!local || !remote)
            return -1;
        int inbound = (int)((r >> 8) & 1);
        qs->q[i].from = inbound ? remote : local;
        qs->q[i].to = inbound ? local : remote;
        qs->q[i].kind = (xgw_kind_t)((r >> 10) & 3);
    }
    return 0;
}

/* "Has U added X?": a 4 KiB table indexed by a hash of both names. */
static unsigned char s_added[4096];

static int
s_contact(void *ud, const char *sip_user, const char *xmpp_bare)
{
    (void)ud;
    uint32_t h = 2166136261u;
    for (const char *p = sip_user; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    for (const char *p = xmpp_bare; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return s_added[h & 4095];
}

/* ---- (a) the run ------------------------------------------------------- */

/* Decides the queries round and round for seconds; prints the rate. */
static void
s_timed(const xgw_rules_t *r, const s_queries_t *qs, double seconds, int pinned, const char *what)
{
    uint64_t n = 0, allow_sum = 0;
    int64_t start = s_now_ns(), limit = (int64_t)(seconds * 1e9), elapsed = 0;
    do {
        for (int k = 0; k < 4096; k++) {
            const s_query_t *q = &qs->q[(n + (uint64_t)k) & (S_QUERIES - 1)];
            xgw_decision_t d;
            if (xgw_rules_decide(r, q->from, q->to, q->kind, s_contact, NULL, &d) == 0)
                allow_sum += d.allow;
        }
        n += 4096;
        elapsed = s_now_ns() - start;
    } while (elapsed < limit);
    double per_s = (double)n / ((double)elapsed / 1e9);
    printf("decisions (%s): %llu in %.2f s on %s: %.0f decisions/s, %.1f ns/decision "
           "(target 2,000,000/s: %s) [allowed %llu]\n",
           what, (unsigned long long)n, (double)elapsed / 1e9,
           pinned ? "one pinned core" : "one thread", per_s, (double)elapsed / (double)n,
           per_s >= 2e6 ? "met" : "NOT met", (unsigned long long)allow_sum);
}

typedef struct {
    const char *rule;
    uint64_t count;
} s_tally_t;

static int
s_local(double seconds)
{
    printf("\n## (a) local decisions, one core\n");
    cpu_set_t old, one;
    int pinned = sched_getaffinity(0, sizeof old, &old) == 0;
    if (pinned) {
        CPU_ZERO(&one);
        for (int c = 0; c < CPU_SETSIZE; c++) {
            if (CPU_ISSET(c, &old)) {
                CPU_SET(c, &one);
                break;
            }
        }
        pinned = sched_setaffinity(0, sizeof one, &one) == 0;
    }
    uint64_t seed = 42;
    for (size_t i = 0; i < sizeof s_added; i++)
        s_added[i] = (unsigned char)(s_rand(&seed) & 1);

    long rss0 = s_rss_kib();
    int64_t t0 = s_now_ns();
    xgw_rules_t *r = s_build("example.net");
    int64_t t1 = s_now_ns();
    long rss1 = s_rss_kib();
    if (!r)
        return 1;
    printf("rule set: %zu partners, %zu users, version %llu, built through xgw_rules_apply in "
           "%.0f ms\n",
           xgw_rules_count_partners(r), xgw_rules_count_users(r),
           (unsigned long long)xgw_rules_version(r), (double)(t1 - t0) / 1e6);
    printf("rss: %ld KiB before, %ld KiB after loading: rule set ~%.1f MiB\n", rss0, rss1,
           (double)(rss1 - rss0) / 1024.0);

    s_queries_t qs = {0};
    if (s_make_queries(&qs, S_USERS, S_PARTNERS) != 0) {
        fprintf(stderr, "bench: out of memory for queries\n");
        return 1;
    }
    /* Warm up, and tally the mix once. */
    s_tally_t tally[16];
    size_t ntally = 0;
    uint64_t allowed = 0, eagain = 0, einval = 0;
    for (int i = 0; i < S_QUERIES; i++) {
        xgw_decision_t d;
        int rc = xgw_rules_decide(r, qs.q[i].from, qs.q[i].to, qs.q[i].kind, s_contact, NULL, &d);
        if (rc == XGW_EAGAIN) {
            eagain++;
            continue;
        }
        if (rc != 0) {
            einval++;
            continue;
        }
        allowed += d.allow;
        size_t t = 0;
        while (t < ntally && strcmp(tally[t].rule, d.rule) != 0)
            t++;
        if (t == ntally && ntally < 16)
            tally[ntally++] = (s_tally_t){d.rule, 0};
        if (t < 16)
            tally[t].count++;
    }
    printf("query mix (%d distinct queries, fixed seed): %.1f%% allowed;", S_QUERIES,
           100.0 * (double)allowed / S_QUERIES);
    for (size_t t = 0; t < ntally; t++)
        printf(" %s=%.1f%%", tally[t].rule, 100.0 * (double)tally[t].count / S_QUERIES);
    printf("\n");
    int failed = einval != 0 || eagain != 0;
    if (failed)
        fprintf(stderr, "bench: %llu queries could not be decided, %llu asked again\n",
                (unsigned long long)einval, (unsigned long long)eagain);

    /* Timed run over every loaded user and partner (the figure that counts),
     * then over a small hot set that stays in the caches, for comparison. */
    s_timed(r, &qs, seconds, pinned, "all 100,000 users x 10,000 partners");
    if (s_make_queries(&qs, 1000, 100) != 0)
        return 1;
    s_timed(r, &qs, seconds, pinned, "hot set: 1,000 users x 100 partners");
    if (s_make_queries(&qs, S_USERS, S_PARTNERS) != 0)
        return 1;

    /* Snapshot: build, pack, unpack, load into a fresh set. */
    int64_t s0 = s_now_ns();
    Xgw__V1__RuleSet *snap = xgw_rules_snapshot(r);
    int64_t s1 = s_now_ns();
    size_t len = snap ? xgw__v1__rule_set__get_packed_size(snap) : 0;
    uint8_t *buf = malloc(len ? len : 1);
    if (!snap || !buf) {
        fprintf(stderr, "bench: snapshot failed\n");
        return 1;
    }
    xgw__v1__rule_set__pack(snap, buf);
    int64_t s2 = s_now_ns();
    xgw_rules_snapshot_free(&snap);
    Xgw__V1__RuleSet *un = xgw__v1__rule_set__unpack(NULL, len, buf);
    int64_t s3 = s_now_ns();
    char err[256];
    xgw_rules_t *copy = xgw_rules_new("example.net", err, sizeof err);
    int rc = un && copy ? xgw_rules_load(copy, un) : XGW_ENOMEM;
    int64_t s4 = s_now_ns();
    if (un)
        xgw__v1__rule_set__free_unpacked(un, NULL);
    free(buf);
    printf("snapshot: %.1f MiB packed; build %.1f ms, pack %.1f ms, unpack %.1f ms, load %.1f ms, "
           "total %.1f ms\n",
           (double)len / 1048576.0, (double)(s1 - s0) / 1e6, (double)(s2 - s1) / 1e6,
           (double)(s3 - s2) / 1e6, (double)(s4 - s3) / 1e6, (double)(s4 - s0) / 1e6);
    if (rc != 0 || xgw_rules_version(copy) != xgw_rules_version(r)) {
        fprintf(stderr, "bench: snapshot load failed (%s)\n", xgw_strerror(rc));
        failed = 1;
    } else {
        for (int i = 0; i < S_QUERIES; i++) {
            xgw_decision_t a, b;
            int ra =
                xgw_rules_decide(r, qs.q[i].from, qs.q[i].to, qs.q[i].kind, s_contact, NULL, &a);
            int rb =
                xgw_rules_decide(copy, qs.q[i].from, qs.q[i].to, qs.q[i].kind, s_contact, NULL, &b);
            if (ra != rb || (ra == 0 && (a.allow != b.allow || strcmp(a.rule, b.rule) != 0))) {
                fprintf(stderr, "bench: the reloaded rule set decides %s -> %s differently\n",
                        qs.q[i].from, qs.q[i].to);
                failed = 1;
                break;
            }
        }
    }
    xgw_rules_destroy(&copy);
    xgw_rules_destroy(&r);
    free(qs.q);
    free(qs.pool);
    if (pinned)
        sched_setaffinity(0, sizeof old, &old);
    return failed;
}

/* ---- (b) policyd round trips ------------------------------------------- */

typedef struct {
    char dir[128];
    char conf[192];
    char front[192];
    char broker_bin[PATH_MAX + 32];
    char policyd_bin[PATH_MAX + 32];
    char broker_log[192];
    char policyd_log[192];
    pid_t broker, policyd;
} s_env_t;

static int
s_find_bins(s_env_t *e)
{
    const char *env = getenv("XGW_BIN_DIR");
    char dir[PATH_MAX];
    if (env) {
        snprintf(dir, sizeof dir, "%s", env);
    } else {
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0)
            return -1;
        self[n] = '\0';
        snprintf(dir, sizeof dir, "%s/..", dirname(self));
    }
    snprintf(e->broker_bin, sizeof e->broker_bin, "%s/xgw-broker", dir);
    snprintf(e->policyd_bin, sizeof e->policyd_bin, "%s/xgw-policyd", dir);
    if (access(e->broker_bin, X_OK) != 0 || access(e->policyd_bin, X_OK) != 0) {
        fprintf(stderr, "bench: %s or %s not found (set XGW_BIN_DIR)\n", e->broker_bin,
                e->policyd_bin);
        return -1;
    }
    return 0;
}

static int
s_start_daemons(s_env_t *e)
{
    snprintf(e->dir, sizeof e->dir, "/tmp/xgw-bench-policy.XXXXXX");
    if (!mkdtemp(e->dir)) {
        fprintf(stderr, "bench: mkdtemp failed\n");
        return -1;
    }
    snprintf(e->conf, sizeof e->conf, "%s/x.conf", e->dir);
    snprintf(e->front, sizeof e->front, "ipc://%s/f", e->dir);
    snprintf(e->broker_log, sizeof e->broker_log, "%s/broker.log", e->dir);
    snprintf(e->policyd_log, sizeof e->policyd_log, "%s/policyd.log", e->dir);
    FILE *f = fopen(e->conf, "w");
    if (!f)
        return -1;
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
    char *bargv[] = {e->broker_bin, "-c", e->conf, NULL};
    char *pargv[] = {e->policyd_bin, "-c", e->conf, NULL};
    e->broker = xt_spawn(bargv, e->broker_log);
    e->policyd = xt_spawn(pargv, e->policyd_log);
    if (e->broker <= 0 || e->policyd <= 0)
        return -1;
    for (int i = 0; i < 1000; i++) {
        if (xt_count_lines(e->broker_log, "event=worker_ready") > 0 &&
            xt_count_lines(e->policyd_log, "event=serving") > 0)
            return 0;
        usleep(10000);
    }
    fprintf(stderr, "bench: policyd did not register with the broker (logs in %s)\n", e->dir);
    return -1;
}

static void
s_stop_daemons(s_env_t *e, int keep)
{
    xt_stop(e->policyd, 5000);
    xt_stop(e->broker, 5000);
    if (e->dir[0] && !keep) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench: could not remove %s\n", e->dir);
    }
}

/* Sends one ContactRequest; cookie is returned with the reply. */
static int
s_send_contact(xgw_client_t *c, const char *verb, int i, void *cookie)
{
    char user[64], jid[64];
    snprintf(user, sizeof user, "sip:u%d@example.net", i % 500);
    snprintf(jid, sizeof jid, "c%d@p%d.example", i, i % 97);
    Xgw__V1__ContactState cs = XGW__V1__CONTACT_STATE__INIT;
    cs.sip_user = user;
    cs.xmpp_jid = jid;
    cs.sip_added = i % 2 == 0;
    Xgw__V1__ContactRequest cr = XGW__V1__CONTACT_REQUEST__INIT;
    cr.verb = (char *)verb;
    cr.state = &cs;
    Xgw__V1__PolicyRequest pr = XGW__V1__POLICY_REQUEST__INIT;
    pr.op_case = XGW__V1__POLICY_REQUEST__OP_CONTACT;
    pr.contact = &cr;
    Xgw__V1__Request r = XGW__V1__REQUEST__INIT;
    r.schema = 1;
    r.payload_case = XGW__V1__REQUEST__PAYLOAD_POLICY;
    r.policy = &pr;
    uint8_t buf[512];
    size_t len = xgw__v1__request__get_packed_size(&r);
    if (len > sizeof buf)
        return XGW_ETOOBIG;
    xgw__v1__request__pack(&r, buf);
    return xgw_client_send(c, "policy", NULL, xgw_gwp_now_ms() + S_DEADLINE_MS, buf, len, cookie,
                           NULL);
}

/* 1 when the reply is a contact answer with status 200 (or 404 when allowed). */
static int
s_reply_ok(const xgw_reply_t *rep, int allow_404, int *found)
{
    /* The GWP status of the FINAL repeats Reply.status. */
    if ((rep->status != 200 && !(allow_404 && rep->status == 404)) || !rep->body)
        return 0;
    Xgw__V1__Reply *r = xgw__v1__reply__unpack(NULL, rep->body_len, rep->body);
    if (!r)
        return 0;
    int ok = r->payload_case == XGW__V1__REPLY__PAYLOAD_POLICY && r->policy &&
             r->policy->result_case == XGW__V1__POLICY_REPLY__RESULT_CONTACT &&
             (r->status == 200 || (allow_404 && r->status == 404));
    if (found)
        *found = r->status == 200;
    xgw__v1__reply__free_unpacked(r, NULL);
    return ok;
}

static int
s_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

typedef struct {
    int64_t *sent_at; /* by request number */
    int64_t *lat;
    size_t cap, nlat;
} s_lat_t;

static int
s_lat_grow(s_lat_t *l, size_t need)
{
    if (need <= l->cap)
        return 0;
    size_t ncap = l->cap ? l->cap * 2 : 65536;
    while (ncap < need)
        ncap *= 2;
    int64_t *a = realloc(l->sent_at, ncap * sizeof *a);
    if (!a)
        return -1;
    l->sent_at = a;
    int64_t *b = realloc(l->lat, ncap * sizeof *b);
    if (!b)
        return -1;
    l->lat = b;
    l->cap = ncap;
    return 0;
}

/* Runs verb with a window of S_WINDOW, for total requests or for seconds
 * (total == 0). Returns the number of bad answers; fills l with latencies. */
static long
s_drive(xgw_client_t *c, const char *verb, long total, double seconds, s_lat_t *l, long *done,
        long *found_out, double *elapsed_s)
{
    long sent = 0, answered = 0, bad = 0, found = 0;
    int64_t start = s_now_ns(), limit = (int64_t)(seconds * 1e9);
    int64_t hard = start + limit + (int64_t)S_DEADLINE_MS * 1000000LL;
    l->nlat = 0;
    for (;;) {
        int64_t now = s_now_ns();
        int sending = total ? sent < total : now - start < limit;
        if (!sending && answered == sent)
            break;
        if (now > hard) {
            bad += sent - answered;
            break;
        }
        while (sending && (int)xgw_client_outstanding(c) < S_WINDOW) {
            if (s_lat_grow(l, (size_t)sent + 1) != 0)
                return -1;
            l->sent_at[sent] = s_now_ns();
            if (s_send_contact(c, verb, (int)(sent % (2 * S_CONTACTS)),
                               (void *)(uintptr_t)(sent + 1)) != 0)
                return -1;
            sent++;
            sending = total ? sent < total : s_now_ns() - start < limit;
        }
        int64_t wait = xgw_client_tick(c);
        if (wait > 5)
            wait = 5;
        zmq_pollitem_t item = {xgw_client_socket(c), 0, ZMQ_POLLIN, 0};
        if (xgw_client_outstanding(c) > 0)
            zmq_poll(&item, 1, (long)wait);
        xgw_reply_t *rep = NULL;
        while (xgw_client_recv(c, &rep) == 0) {
            size_t i = (size_t)(uintptr_t)rep->user - 1;
            int64_t t = s_now_ns();
            int f = 0;
            if (i < (size_t)sent)
                l->lat[l->nlat++] = t - l->sent_at[i];
            if (!s_reply_ok(rep, strcmp(verb, "get") == 0, &f))
                bad++;
            found += f;
            answered++;
            xgw_reply_destroy(&rep);
        }
    }
    *done = answered;
    *found_out = found;
    *elapsed_s = (double)(s_now_ns() - start) / 1e9;
    return bad;
}

static int
s_remote(double seconds, int keep)
{
    printf("\n## (b) policyd round trips for contact-state questions\n");
    s_env_t e;
    memset(&e, 0, sizeof e);
    if (s_find_bins(&e) != 0)
        return 1;
    int failed = 0;
    xgw_client_t *c = NULL;
    s_lat_t l = {0};
    if (s_start_daemons(&e) != 0) {
        failed = 1;
        goto done;
    }
    xgw_client_opts_t o;
    xgw_client_opts_default(&o);
    o.heartbeat_ms = 200;
    c = xgw_client_new(e.front, &o);
    if (!c) {
        failed = 1;
        goto done;
    }
    long answered = 0, found = 0;
    double el = 0;
    long bad = s_drive(c, "put", S_CONTACTS, 0, &l, &answered, &found, &el);
    printf("stored %ld contacts in %.2f s (%.0f puts/s, window %d)\n", answered, el,
           (double)answered / el, S_WINDOW);
    if (bad != 0 || answered != S_CONTACTS) {
        fprintf(stderr, "bench: %ld bad answers to contact put\n", bad);
        failed = 1;
        goto done;
    }
    bad = s_drive(c, "get", 0, seconds, &l, &answered, &found, &el);
    if (bad != 0) {
        fprintf(stderr, "bench: %ld lost or bad answers to contact get\n", bad);
        failed = 1;
    }
    if (l.nlat > 0) {
        qsort(l.lat, l.nlat, sizeof l.lat[0], s_cmp_i64);
        printf("contact get: %ld round trips in %.2f s: %.0f round trips/s, window %d, "
               "p50 %.0f us, p99 %.0f us, max %.0f us (%ld found, %ld not found)\n",
               answered, el, (double)answered / el, S_WINDOW, (double)l.lat[l.nlat / 2] / 1e3,
               (double)l.lat[l.nlat * 99 / 100] / 1e3, (double)l.lat[l.nlat - 1] / 1e3, found,
               answered - found);
    } else {
        fprintf(stderr, "bench: no contact answers\n");
        failed = 1;
    }
done:
    xgw_client_destroy(&c);
    free(l.sent_at);
    free(l.lat);
    s_stop_daemons(&e, keep || failed);
    if (failed && e.dir[0])
        fprintf(stderr, "bench: daemon logs kept in %s\n", e.dir);
    return failed;
}

/* ---- main -------------------------------------------------------------- */

static void
s_usage(void)
{
    fprintf(stderr, "usage: xgw-bench-policy [--short] [--seconds N] [--local-only | "
                    "--policyd-only] [--keep]\n");
}

int
main(int argc, char **argv)
{
    double seconds = 5;
    int local = 1, remote = 1, keep = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--short") == 0) {
            seconds = 1;
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            char *end = NULL;
            seconds = strtod(argv[++i], &end);
            if (!end || *end || seconds <= 0 || seconds > 3600) {
                s_usage();
                return 2;
            }
        } else if (strcmp(argv[i], "--local-only") == 0) {
            remote = 0;
        } else if (strcmp(argv[i], "--policyd-only") == 0) {
            local = 0;
        } else if (strcmp(argv[i], "--keep") == 0) {
            keep = 1;
        } else {
            s_usage();
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    xb_print_machine("xgw-bench-policy");
    int failed = 0;
    if (local)
        failed |= s_local(seconds);
    if (remote)
        failed |= s_remote(seconds, keep);
    fflush(stdout);
    return failed ? 1 : 0;
}
