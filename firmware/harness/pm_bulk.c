/* Bulk mode for QEMU: read every input from a host file through semihosting and write one result
 * record per input to another, with no serial round trips. The host tails the output file, so
 * results still arrive (and survive) one by one. */
#include <string.h>

#include "pm_board_config.h"
#include "pm_frame.h"
#include "pm_harness.h"
#include "pm_measure.h"
#include "pm_port.h"

#if PM_HAVE_SEMIHOSTING
#include "pm_semihost.h"

enum { BULK_OK = 0, BULK_NO_INPUT = 10, BULK_BAD_INPUT = 11, BULK_NO_OUTPUT = 12, BULK_WRITE_FAILED = 13 };

static char cmdline[256];
static uint8_t record[PM_BULK_OUT_RECORD_SIZE + PM_LAYER_TABLE_BYTES];

int pm_bulk_requested(void)
{
    if (pm_semihost_cmdline(cmdline, sizeof cmdline) != 0) {
        return 0;
    }
    /* Match a whole space-separated word: QEMU's default command line is the kernel's path. */
    size_t n = strlen(PM_BULK_CMDLINE);
    for (const char *p = cmdline; (p = strstr(p, PM_BULK_CMDLINE)) != NULL; p += n) {
        int starts = p == cmdline || p[-1] == ' ';
        int ends = p[n] == '\0' || p[n] == ' ';
        if (starts && ends) {
            return 1;
        }
    }
    return 0;
}

int pm_bulk_run(int init_status)
{
    uint8_t header[PM_BULK_IN_HEADER_SIZE > PM_BULK_OUT_HEADER_SIZE ? PM_BULK_IN_HEADER_SIZE
                                                                     : PM_BULK_OUT_HEADER_SIZE];
    int in = pm_semihost_open(PM_BULK_IN_NAME, 1);
    if (in < 0) {
        return BULK_NO_INPUT;
    }
    if (pm_semihost_read(in, header, PM_BULK_IN_HEADER_SIZE) != (int)PM_BULK_IN_HEADER_SIZE ||
        memcmp(header + PM_BULK_IN_HEADER_MAGIC, PM_BULK_IN_MAGIC, 4) != 0 ||
        pm_get_u32(header + PM_BULK_IN_HEADER_INPUT_BYTES) != PM_MODEL_INPUT_BYTES) {
        return BULK_BAD_INPUT;
    }
    uint32_t count = pm_get_u32(header + PM_BULK_IN_HEADER_COUNT);

    int out = pm_semihost_open(PM_BULK_OUT_NAME, 5);
    if (out < 0) {
        return BULK_NO_OUTPUT;
    }
    memset(header, 0, sizeof header);
    memcpy(header + PM_BULK_OUT_HEADER_MAGIC, PM_BULK_OUT_MAGIC, 4);
    pm_put_u16(header + PM_BULK_OUT_HEADER_VERSION, PM_PROTO_VERSION);
    pm_put_u16(header + PM_BULK_OUT_HEADER_NUM_LAYERS, PM_MODEL_NUM_LAYERS);
    pm_put_u32(header + PM_BULK_OUT_HEADER_OUTPUT_BYTES, PM_MODEL_OUTPUT_BYTES);
    pm_put_u32(header + PM_BULK_OUT_HEADER_INIT_STATUS, (uint32_t)init_status);
    memcpy(header + PM_BULK_OUT_HEADER_MODEL_HASH, PM_MODEL_HASH, PM_PROTO_HASH_BYTES);
    if (pm_semihost_write(out, header, PM_BULK_OUT_HEADER_SIZE) != 0) {
        return BULK_WRITE_FAILED;
    }

    for (uint32_t i = 0; i < count; i++) {
        uint8_t index[PM_BULK_IN_RECORD_SIZE];
        if (pm_semihost_read(in, index, sizeof index) != (int)sizeof index ||
            pm_semihost_read(in, pm_input, PM_MODEL_INPUT_BYTES) != (int)PM_MODEL_INPUT_BYTES) {
            return BULK_BAD_INPUT;
        }
        uint64_t total = 0;
        int status = pm_measure_invoke(pm_input, pm_output, &total);
        pm_put_u32(record + PM_BULK_OUT_RECORD_INDEX, pm_get_u32(index + PM_BULK_IN_RECORD_INDEX));
        pm_put_u32(record + PM_BULK_OUT_RECORD_STATUS, (uint32_t)status);
        pm_put_u64(record + PM_BULK_OUT_RECORD_TOTAL, total);
        memcpy(record + PM_BULK_OUT_RECORD_SIZE, pm_measure_layer_table(), PM_LAYER_TABLE_BYTES);
        /* Output after the fixed part in a second write: a record is only complete with both. */
        if (pm_semihost_write(out, record, sizeof record) != 0 ||
            pm_semihost_write(out, pm_output, PM_MODEL_OUTPUT_BYTES) != 0) {
            return BULK_WRITE_FAILED;
        }
    }
    pm_semihost_close(out);
    pm_semihost_close(in);
    return BULK_OK;
}
#endif /* PM_HAVE_SEMIHOSTING */
