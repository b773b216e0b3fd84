/* Harness-internal: run the model once with every layer timed and checksummed by the hooks. */
#ifndef PM_MEASURE_H
#define PM_MEASURE_H

#include <stdint.h>

#include "pm_model.h"
#include "pm_protocol.h"

#define PM_LAYER_TABLE_BYTES (PM_MODEL_NUM_LAYERS * PM_LAYER_RECORD_SIZE)

/* Returns pm_model_invoke's status; *total is the inference's count without the hooks' own cost. */
int pm_measure_invoke(const int8_t *input, int8_t *output, uint64_t *total);

/* PM_MODEL_NUM_LAYERS records of PM_LAYER_RECORD_SIZE bytes (count u64, crc32, bytes), as sent. */
const uint8_t *pm_measure_layer_table(void);

#endif /* PM_MEASURE_H */
