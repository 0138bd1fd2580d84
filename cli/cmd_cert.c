/*
 * cmd_cert.c - xgwctl cert ...: maps the command line onto an AdminRequest
 * to the "cert" service (xgw-certd), prints the reply and exits with its
 * code. certd validates every value; here only the command line itself is
 * checked (unknown options, missing values, unreadable files), which exits
 * 2 with one line on stderr.
 *
 *   xgwctl cert request --domain D [--san N]... [--key rsa2048|rsa3072|p256]
 *                       [--no-served-domains] --out FILE.csr
 *   xgwctl cert import --cert FILE [--key FILE] [--chain FILE]
 *   xgwctl cert import --pkcs12 FILE --password-file F
 *   xgwctl cert self-signed --domain D [--san N]... [--key T] [--days N]
 *   xgwctl cert assign ID --usage xmpp|sip [--domain D]
 *   xgwctl cert unassign --usage xmpp|sip [--domain D]
 *   xgwctl cert show [ID]
 *   xgwctl cert remove ID
 *   xgwctl cert check
 *   xgwctl cert trust add FILE | trust remove FILE|ID | trust show
 *   xgwctl cert dialback show | dialback rotate
 *   xgwctl cert curve show
 *
 * Files are read here and their contents sent as option values: PEM as
 * text, PKCS#12 as base64, the password file's first line as "password"
 * (never on the command line, never printed). Private keys given with --key
 * travel to certd over the local ipc:// socket once, and are stored there
 * (mode 0600); certd never sends a key back.
 */
#include "xgwctl.h"
#include "xgw_x509.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#define S_MAX_OPTS 64
#define S_FILE_MAX (256 * 1024)

typedef enum {
    S_VALUE,    /* --name VALUE, sent as is */
    S_MULTI,    /* same, may repeat */
    S_FLAG,     /* --name, sent with value "" */
    S_PEM,      /* --name FILE: the file's text is sent */
    S_B64,      /* --name FILE: the file's bytes are sent base64 */
    S_PASSWORD, /* --name FILE: its first line is sent as "password" */
    S_OUT,      /* --name FILE: local output, not sent */
} s_kind_t;

typedef struct {
    const char *name;
    s_kind_t kind;
} s_optspec_t;

typedef struct {
    const char *object; /* AdminRequest object */
    const char *verb;   /* AdminRequest verb */
    const char *usage;
    const s_optspec_t *opts; /* {NULL} terminated */
    int positional_file;     /* trust add/remove: the argument may be a PEM file */
} s_verb_t;

static const s_optspec_t s_no_opts[] = {{NULL, S_VALUE}};
static const s_optspec_t s_request_opts[] = {{"domain", S_VALUE}, {"san", S_MULTI},
                                             {"key", S_VALUE},    {"no-served-domains", S_FLAG},
                                             {"out", S_OUT},      {NULL, S_VALUE}};
static const s_optspec_t s_import_opts[] = {{"cert", S_PEM},
                                            {"key", S_PEM},
                                            {"chain", S_PEM},
                                            {"pkcs12", S_B64},
                                            {"password-file", S_PASSWORD},
                                            {NULL, S_VALUE}};
static const s_optspec_t s_self_opts[] = {
    {"domain", S_VALUE}, {"san", S_MULTI}, {"key", S_VALUE}, {"days", S_VALUE}, {NULL, S_VALUE}};
static const s_optspec_t s_assign_opts[] = {
    {"usage", S_VALUE}, {"domain", S_VALUE}, {NULL, S_VALUE}};

static const s_verb_t s_verbs[] = {
    {"cert", "request",
     "cert request --domain D [--san N]... [--key rsa2048|rsa3072|p256] --out FILE.csr",
     s_request_opts, 0},
    {"cert", "import",
     "cert import --cert FILE [--key FILE] [--chain FILE] | --pkcs12 FILE --password-file F",
     s_import_opts, 0},
    {"cert", "self-signed", "cert self-signed --domain D [--san N]... [--key T] [--days N]",
     s_self_opts, 0},
    {"cert", "assign", "cert assign ID --usage xmpp|sip [--domain D]", s_assign_opts, 0},
    {"cert", "unassign", "cert unassign --usage xmpp|sip [--domain D]", s_assign_opts, 0},
    {"cert", "show", "cert show [ID]", s_no_opts, 0},
    {"cert", "remove", "cert remove ID", s_no_opts, 0},
    {"cert", "check", "cert check", s_no_opts, 0},
    {"trust", "add", "cert trust add FILE", s_no_opts, 1},
    {"trust", "remove", "cert trust remove FILE|ID", s_no_opts, 1},
    {"trust", "show", "cert trust show", s_no_opts, 0},
    {"dialback", "show", "cert dialback show", s_no_opts, 0},
    {"dialback", "rotate", "cert dialback rotate", s_no_opts, 0},
    {"curve", "show", "cert curve show", s_no_opts, 0},
};

typedef struct {
    Xgw__V1__Option opts[S_MAX_OPTS];
    Xgw__V1__Option *optp[S_MAX_OPTS];
    size_t n_opts;
    char *owned[S_MAX_OPTS]; /* values read from files */
    size_t owned_len[S_MAX_OPTS];
    size_t n_owned;
    char *args[8];
    size_t n_args;
    const char *out; /* --out */
} s_req_t;

static void
s_req_free(s_req_t *r)
{
    for (size_t i = 0; i < r->n_owned; i++)
        OPENSSL_clear_free(r->owned[i], r->owned_len[i]); /* may hold a key or a password */
    r->n_owned = 0;
}

static int
s_add(s_req_t *r, const char *key, const char *value)
{
    if (r->n_opts >= S_MAX_OPTS)
        return xgwctl_usage_error("too many options");
    Xgw__V1__Option *o = &r->opts[r->n_opts];
    xgw__v1__option__init(o);
    o->key = (char *)key;
    o->value = (char *)value;
    r->optp[r->n_opts++] = o;
    return XGWCTL_OK;
}

static int
s_own(s_req_t *r, char *p, size_t len)
{
    if (r->n_owned >= S_MAX_OPTS) {
        OPENSSL_clear_free(p, len);
        return XGWCTL_USAGE;
    }
    r->owned[r->n_owned] = p;
    r->owned_len[r->n_owned++] = len;
    return XGWCTL_OK;
}

/* Reads FILE (at most S_FILE_MAX bytes). *out is malloc'd with a NUL. */
static int
s_read(const char *opt, const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return xgwctl_usage_error("--%s %s: cannot read: %s", opt, path, strerror(errno));
    char *buf = malloc(S_FILE_MAX + 2);
    if (!buf) {
        fclose(f);
        return XGWCTL_RUNTIME;
    }
    size_t n = fread(buf, 1, S_FILE_MAX + 1, f);
    int err = ferror(f);
    fclose(f);
    if (err) {
        OPENSSL_clear_free(buf, S_FILE_MAX + 2);
        return xgwctl_usage_error("--%s %s: cannot read", opt, path);
    }
    if (n > S_FILE_MAX) {
        OPENSSL_clear_free(buf, S_FILE_MAX + 2);
        return xgwctl_usage_error("--%s %s: larger than %d bytes", opt, path, S_FILE_MAX);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return XGWCTL_OK;
}

static int
s_file_option(s_req_t *r, const s_optspec_t *spec, const char *path)
{
    char *buf = NULL;
    size_t n = 0;
    int rc = s_read(spec->name, path, &buf, &n);
    if (rc != XGWCTL_OK)
        return rc;
    if (spec->kind == S_PEM) {
        if (memchr(buf, '\0', n)) {
            OPENSSL_clear_free(buf, S_FILE_MAX + 2);
            return xgwctl_usage_error("--%s %s: not a text (PEM) file", spec->name, path);
        }
        if (s_own(r, buf, S_FILE_MAX + 2) != XGWCTL_OK)
            return XGWCTL_USAGE;
        return s_add(r, spec->name, buf);
    }
    if (spec->kind == S_B64) {
        char *b64 = xgw_x509_base64_encode((const uint8_t *)buf, n);
        OPENSSL_clear_free(buf, S_FILE_MAX + 2);
        if (!b64)
            return XGWCTL_RUNTIME;
        if (s_own(r, b64, strlen(b64) + 1) != XGWCTL_OK)
            return XGWCTL_USAGE;
        return s_add(r, spec->name, b64);
    }
    /* S_PASSWORD: the first line. */
    buf[strcspn(buf, "\r\n")] = '\0';
    if (s_own(r, buf, S_FILE_MAX + 2) != XGWCTL_OK)
        return XGWCTL_USAGE;
    return s_add(r, "password", buf);
}

static int
s_parse(const s_verb_t *v, int argc, char **argv, s_req_t *r)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (r->n_args >= sizeof r->args / sizeof r->args[0])
                return xgwctl_usage_error("too many arguments; usage: xgwctl %s", v->usage);
            r->args[r->n_args++] = argv[i];
            continue;
        }
        const char *name = a + 2;
        const s_optspec_t *spec = NULL;
        for (const s_optspec_t *s = v->opts; s->name; s++) {
            if (strcmp(s->name, name) == 0)
                spec = s;
        }
        if (!spec)
            return xgwctl_usage_error("unknown option --%s; usage: xgwctl %s", name, v->usage);
        if (spec->kind != S_MULTI) {
            for (size_t k = 0; k < r->n_opts; k++) {
                if (strcmp(r->opts[k].key, spec->kind == S_PASSWORD ? "password" : name) == 0)
                    return xgwctl_usage_error("--%s given twice", name);
            }
            if (spec->kind == S_OUT && r->out)
                return xgwctl_usage_error("--%s given twice", name);
        }
        if (spec->kind == S_FLAG) {
            int rc = s_add(r, spec->name, "");
            if (rc != XGWCTL_OK)
                return rc;
            continue;
        }
        if (i + 1 >= argc)
            return xgwctl_usage_error("--%s needs a value; usage: xgwctl %s", name, v->usage);
        const char *value = argv[++i];
        int rc = XGWCTL_OK;
        switch (spec->kind) {
        case S_VALUE:
        case S_MULTI:
            rc = s_add(r, spec->name, value);
            break;
        case S_OUT:
            r->out = value;
            break;
        case S_PEM:
        case S_B64:
        case S_PASSWORD:
            rc = s_file_option(r, spec, value);
            break;
        case S_FLAG:
            break;
        }
        if (rc != XGWCTL_OK)
            return rc;
    }
    return XGWCTL_OK;
}

/* trust add FILE / trust remove FILE|ID: a readable file becomes "pem". */
static int
s_positional_file(s_req_t *r, const char *verb)
{
    if (r->n_args != 1)
        return XGWCTL_OK; /* certd explains the usage */
    struct stat st;
    const char *arg = r->args[0];
    if (strcmp(verb, "add") == 0 || stat(arg, &st) == 0) {
        char *buf = NULL;
        size_t n = 0;
        int rc = s_read("file", arg, &buf, &n);
        if (rc != XGWCTL_OK)
            return rc;
        if (s_own(r, buf, S_FILE_MAX + 2) != XGWCTL_OK)
            return XGWCTL_USAGE;
        r->n_args = 0;
        return s_add(r, "pem", buf);
    }
    return XGWCTL_OK;
}

static int
s_write_out(const char *path, const char *text)
{
    FILE *f = fopen(path, "wx");
    if (!f) {
        fprintf(stderr, "xgwctl: cannot write %s: %s\n", path, strerror(errno));
        return XGWCTL_RUNTIME;
    }
    int ok = fputs(text, f) >= 0;
    ok = fclose(f) == 0 && ok;
    if (!ok) {
        fprintf(stderr, "xgwctl: cannot write %s\n", path);
        return XGWCTL_RUNTIME;
    }
    return XGWCTL_OK;
}

static int
s_run(xgwctl_t *ctl, const s_verb_t *v, int argc, char **argv)
{
    s_req_t r;
    memset(&r, 0, sizeof r);
    int rc = s_parse(v, argc, argv, &r);
    if (rc == XGWCTL_OK && v->positional_file)
        rc = s_positional_file(&r, v->verb);
    if (rc == XGWCTL_OK && strcmp(v->verb, "request") == 0) {
        struct stat st;
        if (!r.out)
            rc = xgwctl_usage_error("--out FILE.csr is required; usage: xgwctl %s", v->usage);
        else if (stat(r.out, &st) == 0)
            rc = xgwctl_usage_error("--out %s: the file exists; choose another name", r.out);
    }
    if (rc != XGWCTL_OK) {
        s_req_free(&r);
        return rc;
    }

    Xgw__V1__Request req = XGW__V1__REQUEST__INIT;
    Xgw__V1__AdminRequest admin = XGW__V1__ADMIN_REQUEST__INIT;
    req.schema = 1;
    req.payload_case = XGW__V1__REQUEST__PAYLOAD_ADMIN;
    req.admin = &admin;
    admin.object = (char *)v->object;
    admin.verb = (char *)v->verb;
    admin.args = r.args;
    admin.n_args = r.n_args;
    admin.options = r.optp;
    admin.n_options = r.n_opts;
    const char *user = getenv("USER");
    admin.actor = (char *)(user ? user : "");

    Xgw__V1__Reply *rep = NULL;
    uint16_t status = 0;
    rc = xgwctl_call(ctl, "cert", &req, &rep, &status);
    s_req_free(&r);
    if (rc != XGWCTL_OK)
        return rc;
    if (status != 200 || !rep || rep->payload_case != XGW__V1__REPLY__PAYLOAD_ADMIN) {
        fprintf(stderr, "xgwctl: certd answered %u%s%s\n", status,
                rep && rep->reason && *rep->reason ? ": " : "",
                rep && rep->reason ? rep->reason : "");
        if (rep)
            xgw__v1__reply__free_unpacked(rep, NULL);
        return XGWCTL_RUNTIME;
    }
    const Xgw__V1__AdminReply *a = rep->admin;
    int code = a->code >= 0 && a->code <= 2 ? a->code : XGWCTL_RUNTIME;
    for (size_t i = 0; i < a->n_warnings; i++)
        fprintf(stderr, "xgwctl: warning: %s\n", a->warnings[i]);
    int is_request = strcmp(v->verb, "request") == 0 && strcmp(v->object, "cert") == 0;
    if (code == XGWCTL_OK && is_request) {
        int w = s_write_out(r.out, a->text ? a->text : "");
        if (w != XGWCTL_OK) {
            fprintf(stderr, "xgwctl: %s\n", a->message);
            xgw__v1__reply__free_unpacked(rep, NULL);
            return w;
        }
    }
    if (ctl->json) {
        printf("%s\n", a->json && *a->json ? a->json : "{}");
    } else if (is_request) {
        if (code == XGWCTL_OK)
            printf("%s\nCSR written to %s\n", a->message, r.out);
    } else if (a->text && *a->text) {
        fputs(a->text, stdout);
    } else if (code == XGWCTL_OK && a->message && *a->message) {
        printf("%s\n", a->message);
    }
    if (code != XGWCTL_OK && a->message && *a->message)
        fprintf(stderr, "xgwctl: %s\n", a->message);
    xgw__v1__reply__free_unpacked(rep, NULL);
    return code;
}

static void
s_usage(FILE *out)
{
    fprintf(out, "usage:\n");
    for (size_t i = 0; i < sizeof s_verbs / sizeof s_verbs[0]; i++)
        fprintf(out, "  xgwctl %s\n", s_verbs[i].usage);
}

static int
s_cmd_cert(xgwctl_t *ctl, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        s_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? XGWCTL_USAGE : XGWCTL_OK;
    }
    const char *object = "cert";
    const char *verb = argv[1];
    int first = 2;
    if (strcmp(verb, "trust") == 0 || strcmp(verb, "dialback") == 0 || strcmp(verb, "curve") == 0) {
        if (argc < 3)
            return xgwctl_usage_error("usage: xgwctl cert %s %s", verb,
                                      strcmp(verb, "trust") == 0      ? "add|remove|show"
                                      : strcmp(verb, "dialback") == 0 ? "show|rotate"
                                                                      : "show");
        object = verb;
        verb = argv[2];
        first = 3;
    }
    for (size_t i = 0; i < sizeof s_verbs / sizeof s_verbs[0]; i++) {
        if (strcmp(s_verbs[i].object, object) == 0 && strcmp(s_verbs[i].verb, verb) == 0)
            return s_run(ctl, &s_verbs[i], argc - first, argv + first);
    }
    if (strcmp(object, "cert") == 0)
        return xgwctl_usage_error("unknown command \"cert %s\" (see xgwctl cert --help)", verb);
    return xgwctl_usage_error("unknown command \"cert %s %s\" (see xgwctl cert --help)", object,
                              verb);
}

const xgwctl_cmd_t xgwctl_cert_cmds[] = {
    {"cert",
     "request|import|self-signed|assign|unassign|show|remove|check|trust|dialback|curve: "
     "gateway certificates (see xgwctl cert --help)",
     s_cmd_cert},
    {NULL, NULL, NULL},
};
