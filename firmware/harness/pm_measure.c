/* The hooks that generated code calls around every layer: per-layer counts and output CRC-32s.
 * The time spent in the hooks after a layer's end mark (the checksum) is subtracted from the total,
 * so the total is what the inference alone costs. */
#include <string.h>

#include "pm_frame.h"
#include "pm_hooks.h"
#include "pm_measure.h"
#include "pm_port.h"

static uint8_t layer_table[PM_LAYER_TABLE_BYTES];
static uint64_t layer_start;
static uint64_t hook_overhead;

void pm_hook_layer_begin(int index)
{
    (void)index;
    layer_start = pm_port_counter_read();
}

void pm_hook_layer_end(int index, const int8_t *output, uint32_t bytes)
{
    uint64_t end = pm_port_counter_read();
    if (index >= 0 && index < PM_MODEL_NUM_LAYERS) {
        uint8_t *rec = layer_table + (uint32_t)index * PM_LAYER_RECORD_SIZE;
        pm_put_u64(rec + PM_LAYER_RECORD_COUNT, end - layer_start);
        pm_put_u32(rec + PM_LAYER_RECORD_CRC, pm_crc32(0, (const uint8_t *)output, bytes));
        pm_put_u32(rec + PM_LAYER_RECORD_BYTES, bytes);
    }
    hook_overhead += pm_port_counter_read() - end;
}

int pm_measure_invoke(const int8_t *input, int8_t *output, uint64_t *total)
{
    memset(layer_table, 0, sizeof layer_table);
    hook_overhead = 0;
    pm_port_counter_restart();
    uint64_t start = pm_port_counter_read();
    int status = pm_model_invoke(input, output);
    uint64_t end = pm_port_counter_read();
    *total = end - start - hook_overhead;
    return status;
}

const uint8_t *pm_measure_layer_table(void) { return layer_table; }
