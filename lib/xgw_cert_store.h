/*
 * xgw_cert_store.h - certd's certificate store on disk: gateway
 * certificates with their private keys, pending certificate requests,
 * assignments (which certificate the XMPP and SIP edges present for which
 * served domain), the trust anchors peers are judged against, and the
 * dialback keyring. xgw-certd is its only writer; edges read the files whose
 * paths certd publishes (cert.proto CertSnapshot).
 *
 * Layout under <data_dir>/certs (directories 0750 unless noted):
 *   store                  generation, version, trust_version (key=value)
 *   assignments            "usage domain|* id" lines
 *   <id>/meta              state (pending|active), origin, created, key_type
 *   <id>/key.pem           private key, 0600, never leaves this directory
 *   <id>/chain.pem         leaf then intermediates (active entries)
 *   <id>/request.csr       the CSR (pending entries, kept after import)
 *   trust/anchors/<tid>.pem  anchors added with `xgwctl cert trust add`
 *   trust/bundle.pem       system CA file + anchors: what peers are judged by
 *   dialback               dialback keyring (lib/xgw_dialback.h), 0600
 *   sip-tls/agent.pem      key + chain of the SIP certificate for sofia-sip, 0600
 *   sip-tls/cafile.pem     copy of trust/bundle.pem for sofia-sip
 * Every file is written by temporary file + fsync + rename; a new entry is
 * built in a temporary directory renamed into place. The files of an entry
 * never change once it is active, so a reader always sees a key and a chain
 * that belong together; a rotation is a new entry and a new assignment.
 *
 * Every operation validates everything before it writes anything: a refused
 * operation returns a negative code with the reason in why and leaves the
 * store (memory and disk) unchanged. Successful changes raise the store
 * version by one. Warnings (accepted, but worth telling) go to notes.
 *
 * Private keys are never copied out of the store by this API, and nothing
 * here logs.
 *
 * Not thread-safe: one owner (certd's loop).
 */
#ifndef XGW_CERT_STORE_H
#define XGW_CERT_STORE_H

#include "xgw_arena.h"
#include "xgw_dialback.h"
#include "xgw_x509.h"

#include "xgw/v1/cert.pb-c.h"

#include <stddef.h>
#include <stdint.h>

#define XGW_CERT_ID_LEN 8        /* hex digits of a certificate id */
#define XGW_CERT_TRUST_ID_LEN 16 /* hex digits of a trust anchor id */
#define XGW_CERT_NOTES_MAX 16
#define XGW_CERT_NOTE_LEN 320

/* Warnings and informational lines of one operation. */
typedef struct {
    char text[XGW_CERT_NOTES_MAX][XGW_CERT_NOTE_LEN];
    size_t n;
} xgw_cert_notes_t;

/* Appends one line (dropped when full). */
void xgw_cert_note(xgw_cert_notes_t *notes, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

typedef struct {
    const char *data_dir;             /* the store is <data_dir>/certs */
    const char *served_domains;       /* common.domains */
    const char *system_ca_file;       /* certd.system_ca_file ("" = none) */
    const char *dialback_secret_file; /* certd.dialback_secret_file ("" = generated) */
    int64_t dialback_overlap_s;       /* certd.dialback_overlap */
} xgw_cert_store_opts_t;

/* One certificate or pending request. Owned by the store; valid until the
 * next call that changes the store. */
typedef struct {
    char id[XGW_CERT_ID_LEN + 1];
    int pending;     /* a CSR waiting for its certificate */
    char origin[16]; /* "request", "import", "pkcs12", "self-signed", "first-run" */
    int64_t created;
    X509 *leaf;                 /* NULL while pending */
    STACK_OF(X509) * chain;     /* intermediates (may be empty) */
    X509_REQ *csr;              /* pending entries (and imported requests) */
    xgw_strv_t dns;             /* DNS SANs (of the leaf, or requested) */
    char key_type[16];          /* "rsa2048", "p256", ... */
    char fpr[XGW_X509_FPR_LEN]; /* "" while pending */
    int64_t not_before, not_after;
    char subject[256];
    int self_signed;
} xgw_cert_entry_t;

/* One added trust anchor. */
typedef struct {
    char id[XGW_CERT_TRUST_ID_LEN + 1];
    X509 *cert;
} xgw_cert_anchor_t;

typedef struct xgw_cert_store xgw_cert_store_t;

/* Opens (creating on first use) the store: directories, generation,
 * entries, assignments, anchors, trust bundle, dialback keyring (from
 * dialback_secret_file, or random). Leftover temporary files are removed.
 * Damaged entries are skipped and reported in notes (may be NULL). Raises
 * the version once, so subscribers see a restart as a change. Returns the
 * store (caller owns it; xgw_cert_store_destroy) or NULL with why. */
xgw_cert_store_t *xgw_cert_store_open(const xgw_cert_store_opts_t *opts, int64_t now,
                                      xgw_cert_notes_t *notes, char *why, size_t whylen);

/* Frees the store; nulls *self_p. Idempotent. */
void xgw_cert_store_destroy(xgw_cert_store_t **self_p);

/* ---- Reading -------------------------------------------------------------- */

uint64_t xgw_cert_store_generation(const xgw_cert_store_t *self);
uint64_t xgw_cert_store_version(const xgw_cert_store_t *self);
/* The served domains, ASCII, in configuration order. Borrowed. */
const xgw_strv_t *xgw_cert_store_domains(const xgw_cert_store_t *self);
size_t xgw_cert_store_count(const xgw_cert_store_t *self);
/* Entry i (0 <= i < count) in creation order, or NULL. Borrowed. */
const xgw_cert_entry_t *xgw_cert_store_entry(const xgw_cert_store_t *self, size_t i);
/* Entry by id, or NULL. Borrowed. */
const xgw_cert_entry_t *xgw_cert_store_find(const xgw_cert_store_t *self, const char *id);

/* Assignment i: usage ("xmpp"|"sip"), domain ("" = default), id. Returns 0
 * or XGW_ERANGE. The strings are borrowed. */
size_t xgw_cert_store_assignment_count(const xgw_cert_store_t *self);
int xgw_cert_store_assignment(const xgw_cert_store_t *self, size_t i, const char **usage,
                              const char **domain, const char **id);
/* The id a TLS server of usage presents for domain: its own assignment,
 * else the default one; NULL when neither exists. Borrowed. */
const char *xgw_cert_store_effective(const xgw_cert_store_t *self, const char *usage,
                                     const char *domain);
/* Returns 1 if any assignment names id. */
int xgw_cert_store_is_assigned(const xgw_cert_store_t *self, const char *id);

size_t xgw_cert_store_anchor_count(const xgw_cert_store_t *self);
const xgw_cert_anchor_t *xgw_cert_store_anchor(const xgw_cert_store_t *self, size_t i);
/* Certificates in the system CA file (0 when none is configured). */
size_t xgw_cert_store_system_ca_count(const xgw_cert_store_t *self);
uint64_t xgw_cert_store_trust_version(const xgw_cert_store_t *self);

/* The dialback keyring (borrowed; never hand its secrets out). */
const xgw_dialback_ring_t *xgw_cert_store_dialback(const xgw_cert_store_t *self);

/* Absolute paths (borrowed, stable for the store's life). */
const char *xgw_cert_store_dir(const xgw_cert_store_t *self);
const char *xgw_cert_store_trust_path(const xgw_cert_store_t *self);
const char *xgw_cert_store_dialback_path(const xgw_cert_store_t *self);
const char *xgw_cert_store_sip_tls_dir(const xgw_cert_store_t *self);
/* Writes <store>/<id>/<file> into buf. */
void xgw_cert_store_path(const xgw_cert_store_t *self, const char *id, const char *file, char *buf,
                         size_t len);

/* ---- Operations ------------------------------------------------------------ */

/* Creates a pending request: a new key (kept in the store) and a CSR with
 * CN=domain and DNS SANs domain + sans + (when include_served) every served
 * domain. Returns 0 with the id in id_out and the CSR PEM in *csr_pem
 * (caller frees), or a negative code with why. */
int xgw_cert_store_request(xgw_cert_store_t *self, const char *domain, const xgw_strv_t *sans,
                           const char *key_type, int include_served, int64_t now,
                           char id_out[XGW_CERT_ID_LEN + 1], char **csr_pem,
                           xgw_cert_notes_t *notes, char *why, size_t whylen);

/* Imports a PEM certificate (cert_pem: leaf, optionally followed by
 * intermediates; chain_pem: more intermediates, may be NULL) with its key
 * (key_pem), or without a key when it answers a pending request (matched by
 * public key). Refuses what is not a certificate, damaged PEM, a key that
 * does not match, an expired certificate, and duplicates. Weak keys, a
 * missing serverAuth, a chain that does not verify and unserved names are
 * accepted with a note (xgwctl cert check reports them). */
int xgw_cert_store_import(xgw_cert_store_t *self, const char *cert_pem, const char *key_pem,
                          const char *chain_pem, int64_t now, char id_out[XGW_CERT_ID_LEN + 1],
                          xgw_cert_notes_t *notes, char *why, size_t whylen);

/* Same from a PKCS#12 bundle (DER bytes) and its password. */
int xgw_cert_store_import_pkcs12(xgw_cert_store_t *self, const uint8_t *der, size_t len,
                                 const char *password, int64_t now,
                                 char id_out[XGW_CERT_ID_LEN + 1], xgw_cert_notes_t *notes,
                                 char *why, size_t whylen);

/* Creates a self-signed certificate (CN=domain, DNS SANs domain + sans) with
 * a new key, valid for days (1..3650). origin is "self-signed" or
 * "first-run". */
int xgw_cert_store_self_signed(xgw_cert_store_t *self, const char *domain, const xgw_strv_t *sans,
                               const char *key_type, int days, const char *origin, int64_t now,
                               char id_out[XGW_CERT_ID_LEN + 1], xgw_cert_notes_t *notes, char *why,
                               size_t whylen);

/* Assigns certificate id to usage ("xmpp"|"sip") for domain (a served
 * domain) or, with domain NULL or "", as the default. Refuses pending,
 * expired and not-yet-valid certificates, unserved domains, and a
 * certificate that does not name the domain. *replaced (may be NULL) is set
 * to 1 when another certificate held the slot (a rotation). */
int xgw_cert_store_assign(xgw_cert_store_t *self, const char *id, const char *usage,
                          const char *domain, int64_t now, int *replaced, xgw_cert_notes_t *notes,
                          char *why, size_t whylen);

/* Removes the assignment of usage for domain (NULL/"" = the default). */
int xgw_cert_store_unassign(xgw_cert_store_t *self, const char *usage, const char *domain,
                            char *why, size_t whylen);

/* Deletes an entry and its key. Refused while assigned. */
int xgw_cert_store_remove(xgw_cert_store_t *self, const char *id, char *why, size_t whylen);

/* Adds every CA certificate of pem to the trust anchors. Refuses non-CA and
 * expired certificates and garbage. Already trusted ones are noted. */
int xgw_cert_store_trust_add(xgw_cert_store_t *self, const char *pem, int64_t now,
                             xgw_cert_notes_t *notes, char *why, size_t whylen);

/* Removes anchors by id, or every anchor found in pem (one of the two). */
int xgw_cert_store_trust_remove(xgw_cert_store_t *self, const char *id, const char *pem,
                                xgw_cert_notes_t *notes, char *why, size_t whylen);

/* Rotates the dialback secret: a new random one, or the content of the
 * configured secret file (refused when it did not change). The previous
 * secret keeps verifying for the overlap window. */
int xgw_cert_store_dialback_rotate(xgw_cert_store_t *self, int64_t now, char *why, size_t whylen);

/* Drops the previous dialback secret when its window has passed. Returns 1
 * if the store changed, 0 if not, negative on a write failure. */
int xgw_cert_store_dialback_tick(xgw_cert_store_t *self, int64_t now);

/* ---- Check and publication --------------------------------------------------- */

typedef enum {
    XGW_CERT_CHECK_OK = 0,
    XGW_CERT_CHECK_WARNING = 1,
    XGW_CERT_CHECK_PROBLEM = 2,
} xgw_cert_check_level_t;

/* Called once per finding: domain and usage it concerns, the certificate id
 * ("" when none), and one line in words. */
typedef void (*xgw_cert_check_fn)(void *ud, const char *domain, const char *usage, const char *id,
                                  xgw_cert_check_level_t level, const char *text);

/* For every served domain and usage: is there an assigned certificate that
 * is valid now, names the domain as a DNS SAN, has a key of at least RSA
 * 2048 / P-256, allows serverAuth, whose chain verifies against the trust
 * bundle, and whose key file is present (mode 0600) and matches? Warns when
 * it expires within warn_s. Returns the number of problems. */
int xgw_cert_store_check(xgw_cert_store_t *self, int64_t now, int64_t warn_s, xgw_cert_check_fn fn,
                         void *ud);

/* State of entry e at now: "pending", "valid", "expired", "not-yet-valid". */
const char *xgw_cert_store_state(const xgw_cert_entry_t *e, int64_t now);

/* Fills *out (initialised by the caller with XGW__V1__CERT_SNAPSHOT__INIT)
 * with the published state; everything it points to is allocated in arena.
 * Returns 0 or XGW_ENOMEM. */
int xgw_cert_store_snapshot(const xgw_cert_store_t *self, xgw_arena_t *arena, int64_t now_ms,
                            uint32_t heartbeat_ms, Xgw__V1__CertSnapshot *out);

#endif
