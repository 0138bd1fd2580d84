/*
 * support.h - what every benchmark program prints about the run. Process
 * helpers come from tests/integration/support_proc.h (xt_spawn, xt_stop,
 * xt_count_lines), shared with the integration tests.
 */
#ifndef XGW_BENCH_SUPPORT_H
#define XGW_BENCH_SUPPORT_H

/* Prints "# <program> <version>", the UTC date and the machine (nproc, CPU
 * model, kernel) as comment lines on stdout, so every figure carries the
 * machine it was measured on. */
void xb_print_machine(const char *program);

#endif
