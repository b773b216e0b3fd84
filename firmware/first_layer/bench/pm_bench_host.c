/* Host stand-ins for the bench support (pm_bench.h): the generated bench main runs unchanged on the
 * build machine, under AddressSanitizer and UBSan, to check the portable kernel paths. */
#include <stdio.h>
#include <stdlib.h>

#include "pm_bench.h"

int pm_bench_write_file(const char *path, const void *buf, uint32_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        return -1;
    }
    const size_t n = fwrite(buf, 1, len, f);
    return fclose(f) == 0 && n == len ? 0 : -1;
}

void pm_bench_exit(int status)
{
    exit(status);
}
