/* Arm semihosting over BKPT 0xAB (M profile). QEMU runs with target=native so files are the host's. */
#include <string.h>

#include "pm_semihost.h"

enum {
    SYS_OPEN = 0x01,
    SYS_CLOSE = 0x02,
    SYS_WRITE = 0x05,
    SYS_READ = 0x06,
    SYS_GET_CMDLINE = 0x15,
    SYS_EXIT_EXTENDED = 0x20,
};

static int call(int op, void *arg)
{
    register int r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = arg;
    __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

int pm_semihost_open(const char *path, int mode)
{
    uint32_t args[3] = {(uint32_t)(uintptr_t)path, (uint32_t)mode, (uint32_t)strlen(path)};
    return call(SYS_OPEN, args);
}

int pm_semihost_read(int handle, void *buf, size_t len)
{
    uint32_t args[3] = {(uint32_t)handle, (uint32_t)(uintptr_t)buf, (uint32_t)len};
    int left = call(SYS_READ, args); /* returns the number of bytes NOT read */
    if (left < 0 || (size_t)left > len) {
        return -1;
    }
    return (int)(len - (size_t)left);
}

int pm_semihost_write(int handle, const void *buf, size_t len)
{
    uint32_t args[3] = {(uint32_t)handle, (uint32_t)(uintptr_t)buf, (uint32_t)len};
    return call(SYS_WRITE, args) == 0 ? 0 : -1;
}

void pm_semihost_close(int handle)
{
    uint32_t args[1] = {(uint32_t)handle};
    (void)call(SYS_CLOSE, args);
}

int pm_semihost_cmdline(char *buf, size_t size)
{
    uint32_t args[2] = {(uint32_t)(uintptr_t)buf, (uint32_t)size};
    if (size == 0) {
        return -1;
    }
    buf[0] = '\0';
    return call(SYS_GET_CMDLINE, args) == 0 ? 0 : -1;
}

void pm_semihost_exit(int status)
{
    /* ADP_Stopped_ApplicationExit with a status: QEMU exits with it. */
    uint32_t args[2] = {0x20026u, (uint32_t)status};
    (void)call(SYS_EXIT_EXTENDED, args);
    for (;;) {
    }
}
