/* The hooks that generated code calls around every layer: per-layer counts and output CRC-32s.
 * The time spent in the hooks after a layer's end mark (the checksum) is subtracted from the total,
 * so the total is what the inference alone costs.
 *
 * Estimated-cycles builds (`pixmcu build` with markers, compiled with -DPM_CYCLE_MARKERS=1) also
 * emit the pm_count plugin's START/STOP hints (docs/cycles.md) so that the inference is cut into
 * 2N+1 consecutive regions: glue 0, layer 0, glue 1, layer 1, ..., layer N-1, glue N. Region 2i+1 is
 * layer i (from just after the begin hook's counter read to just before the end hook's); the glue
 * regions hold the rest of the inference (the invoke's own code and the hook calls) and exclude, like
 * the counted total, the end hook's bookkeeping after its counter read. The sum of all 2N+1 regions is
 * the whole inference. Generated models bracket each layer's kernel calls with the same hints
 * (templates/model.c.j2); the plugin does not nest, so the model's START restarts the layer region
 * just inside ours and the layer region is exactly the model's (its hook-call set-up falls in no
 * region). Without PM_CYCLE_MARKERS (every normal build) these markers compile to nothing, so normal
 * firmware and its counts are unchanged. */
#include <string.h>

#include "pm_frame.h"
#include "pm_hooks.h"
#include "pm_measure.h"
#include "pm_port.h"

#if defined(PM_CYCLE_MARKERS) && PM_CYCLE_MARKERS && defined(__arm__)
/* Reserved Thumb-2 hints, NOPs on silicon and in QEMU; the memory clobber keeps code from moving
 * across them. Same encodings as PM_BENCH_START/STOP (firmware/first_layer/bench/pm_bench.h). */
#define PM_MARK_START() __asm volatile(".inst.w 0xf3af8030" ::: "memory")
#define PM_MARK_STOP() __asm volatile(".inst.w 0xf3af8031" ::: "memory")
#else
#define PM_MARK_START() ((void)0)
#define PM_MARK_STOP() ((void)0)
#endif

static uint8_t layer_table[PM_LAYER_TABLE_BYTES];
static uint64_t layer_start;
static uint64_t hook_overhead;

void pm_hook_layer_begin(int index)
{
    (void)index;
    layer_start = pm_port_counter_read();
    PM_MARK_STOP();  /* glue region i ends */
    PM_MARK_START(); /* layer region i starts */
}

void pm_hook_layer_end(int index, const int8_t *output, uint32_t bytes)
{
    PM_MARK_STOP(); /* layer region i ends */
    uint64_t end = pm_port_counter_read();
    if (index >= 0 && index < PM_MODEL_NUM_LAYERS) {
        uint8_t *rec = layer_table + (uint32_t)index * PM_LAYER_RECORD_SIZE;
        pm_put_u64(rec + PM_LAYER_RECORD_COUNT, end - layer_start);
        pm_put_u32(rec + PM_LAYER_RECORD_CRC, pm_crc32(0, (const uint8_t *)output, bytes));
        pm_put_u32(rec + PM_LAYER_RECORD_BYTES, bytes);
    }
    hook_overhead += pm_port_counter_read() - end;
    PM_MARK_START(); /* glue region i+1 starts */
}

int pm_measure_invoke(const int8_t *input, int8_t *output, uint64_t *total)
{
    memset(layer_table, 0, sizeof layer_table);
    hook_overhead = 0;
    pm_port_counter_restart();
    uint64_t start = pm_port_counter_read();
    PM_MARK_START(); /* whole inference starts: glue region 0 */
    int status = pm_model_invoke(input, output);
    PM_MARK_STOP(); /* whole inference ends: glue region N */
    uint64_t end = pm_port_counter_read();
    *total = end - start - hook_overhead;
    return status;
}

const uint8_t *pm_measure_layer_table(void) { return layer_table; }
