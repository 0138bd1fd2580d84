/*
 * support_dnsmasq.h - a real DNS server for the integration tests: dnsmasq
 * (package dnsmasq-base) on a loopback address and a free port, with a
 * generated config, no upstream servers and no hosts file, so no question
 * ever leaves the machine. Started with xt_spawn and stopped by PID.
 */
#ifndef XGW_SUPPORT_DNSMASQ_H
#define XGW_SUPPORT_DNSMASQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define XT_DNSMASQ_BIN "/usr/sbin/dnsmasq"

typedef struct {
    char dir[256];  /* temporary folder holding conf and log */
    char conf[320]; /* the generated config */
    char log[320];  /* dnsmasq's stderr, with every query logged */
    char addr[64];  /* listen address */
    uint16_t port;
    char server[96]; /* "addr:port", for xgw_dns_opts_t.servers */
    pid_t pid;
} xt_dnsmasq_t;

/* Writes records (dnsmasq config lines, '\n' separated) plus the fixed
 * options to a fresh config, starts dnsmasq on addr and a free port and
 * waits up to 5 s until it answers a query. Returns 0, or -1 (it is then
 * stopped and the reason printed). */
int xt_dnsmasq_start(xt_dnsmasq_t *d, const char *addr, const char *records);

/* Stops it by PID (SIGTERM, then SIGKILL). Returns 0 when it exited by
 * itself. */
int xt_dnsmasq_stop(xt_dnsmasq_t *d);

/* A port free for both UDP and TCP on addr (there is a window before the
 * caller binds it; good enough for tests). Returns 0 on failure. */
uint16_t xt_free_port(const char *addr);

/* Sends an A question for name to addr:port over UDP and waits up to
 * timeout_ms for any answer. Returns the answer's RCODE (0-15) or -1. */
int xt_dns_probe(const char *addr, uint16_t port, const char *name, int timeout_ms);

/* Builds a DNS question for name of type qtype into buf. Returns its
 * length, or 0 when it does not fit. */
size_t xt_dns_question(uint8_t *buf, size_t size, uint16_t id, const char *name, uint16_t qtype);

/* Reads the question of a DNS message: its name (lower case, dotted) and
 * type. Returns 0 or -1 when malformed. */
int xt_dns_parse_question(const uint8_t *msg, size_t len, char *name, size_t name_size,
                          uint16_t *qtype);

#endif
