/*
 * xgw_audit.h - the audit log of policy denials: one logfmt line per
 * denial, with the rule that decided it, never a message body. Several
 * processes may append to the same file: each line is one write() on an
 * O_APPEND descriptor, which the kernel keeps whole.
 */
#ifndef XGW_AUDIT_H
#define XGW_AUDIT_H

#include "xgw_rules.h"

/* Opens path for appending (created 0640). "" or NULL: lines go to the
 * process log (stderr) only. Returns 0 or XGW_EIO (logged); on failure the
 * audit falls back to stderr so no denial goes unrecorded. */
int xgw_audit_open(const char *path);

/* Closes the file (for tests and shutdown). */
void xgw_audit_close(void);

/* Writes the line for a denial: ts, proc, decision fields, kind, actor.
 * Also counts xgw_policy_audit_lines_total. No-op for an allow. */
void xgw_audit_denial(const xgw_decision_t *d, xgw_kind_t kind, const char *decided_by);

#endif
