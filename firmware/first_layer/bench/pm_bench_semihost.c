/* Semihosting (BKPT 0xAB) for the bench: write result files on the host and exit with a status.
 * QEMU must run with -semihosting-config enable=on,target=native. */
#include <string.h>

#include "pm_bench.h"

static int call(int op, void *arg)
{
    register int r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = arg;
    __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

int pm_bench_write_file(const char *path, const void *buf, uint32_t len)
{
    uint32_t open_args[3] = {(uint32_t)(uintptr_t)path, 5u /* "wb" */, (uint32_t)strlen(path)};
    int h = call(0x01, open_args);
    if (h < 0) {
        return -1;
    }
    uint32_t write_args[3] = {(uint32_t)h, (uint32_t)(uintptr_t)buf, len};
    int left = call(0x05, write_args);
    uint32_t close_args[1] = {(uint32_t)h};
    (void)call(0x02, close_args);
    return left == 0 ? 0 : -1;
}

void pm_bench_exit(int status)
{
    uint32_t args[2] = {0x20026u, (uint32_t)status}; /* ADP_Stopped_ApplicationExit */
    (void)call(0x20, args);                           /* SYS_EXIT_EXTENDED */
    for (;;) {
    }
}
