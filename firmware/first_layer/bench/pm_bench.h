/* Bench-only support: semihosting exit/file write and the region markers the pm_count plugin sees. */
#ifndef PM_BENCH_H
#define PM_BENCH_H

#include <stdint.h>

/* Reserved Thumb-2 hints (NOPs on silicon and in QEMU) that open and close a counted region. The
 * memory clobber keeps the compiler from moving loads and stores of the kernel across them. */
#if defined(__arm__)
#define PM_BENCH_START() __asm volatile(".inst.w 0xf3af8030" ::: "memory")
#define PM_BENCH_STOP() __asm volatile(".inst.w 0xf3af8031" ::: "memory")
#else
/* Host builds (sanitizer tests) run the same generated main without markers. */
#define PM_BENCH_START() ((void)0)
#define PM_BENCH_STOP() ((void)0)
#endif

int pm_bench_write_file(const char *path, const void *buf, uint32_t len);
void pm_bench_exit(int status) __attribute__((noreturn));

#endif
