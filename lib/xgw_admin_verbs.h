/*
 * xgw_admin_verbs.h - the table of administrative verbs of the policy
 * service: object, verb, how many positional arguments, which options (and
 * which of them are flags without a value), usage text. xgwctl uses it to
 * refuse a malformed command line before sending anything; policyd uses the
 * same table to check every request it receives (the web panel's too).
 */
#ifndef XGW_ADMIN_VERBS_H
#define XGW_ADMIN_VERBS_H

#include <stddef.h>

typedef struct {
    const char *object;
    const char *verb;
    int min_args;
    int max_args;
    const char *options; /* comma-separated option names (without "--") */
    const char *flags;   /* the subset of options that take no value */
    const char *usage;
} xgw_admin_verb_t;

/* The table, ended by an entry with a NULL object. */
extern const xgw_admin_verb_t xgw_policy_verbs[];

/* Finds object+verb. Returns the entry, or NULL with *object_known set to
 * whether the object exists at all. */
const xgw_admin_verb_t *xgw_admin_verb_find(const char *object, const char *verb,
                                            int *object_known);

/* Non-zero when name is in the comma-separated list. */
int xgw_admin_listed(const char *list, const char *name);

#endif
