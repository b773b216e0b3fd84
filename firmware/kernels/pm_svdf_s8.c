/* TFLM's int8 SVDF with an int16 state. The state holds `memory` values per filter, oldest first; one
 * call shifts it left by one element, writes each filter's new feature in its last slot, then sums
 * the time products. TFLM sums in int32 with the hardware's wrap, reproduced here without C's UB; the
 * rank reduction goes straight into the unit's accumulator (integer addition is associative mod 2^32,
 * so no scratch buffer is needed). */
#include <string.h>

#include "pm_kernels.h"
#include "pm_requant.h"

int pm_svdf_s8(const pm_svdf_params_t *p, const int8_t *input, int16_t *state, int8_t *output)
{
    if (p == NULL || p->weights_feature == NULL || p->weights_time == NULL || p->bias == NULL ||
        input == NULL || state == NULL || output == NULL || p->rank <= 0 || p->filters <= 0 ||
        p->memory <= 0 || p->filters % p->rank != 0) {
        return PM_ERR_ARG;
    }
    const int32_t n_state = p->filters * p->memory;
    memmove(state, state + 1, (size_t)(n_state - 1) * sizeof *state);
    for (int32_t f = 0; f < p->filters; ++f) {
        const int8_t *w = p->weights_feature + f * p->input_size;
        int32_t dot = 0;
        for (int32_t c = 0; c < p->input_size; ++c) {
            dot += (int32_t)w[c] * ((int32_t)input[c] + p->input_offset);
        }
        dot = pm_mbqm(dot, p->multiplier_1, p->shift_1);
        state[f * p->memory + p->memory - 1] = (int16_t)pm_clamp(dot, INT16_MIN, INT16_MAX);
    }
    const int32_t units = p->filters / p->rank;
    for (int32_t u = 0; u < units; ++u) {
        int32_t acc = p->bias[u];
        for (int32_t f = u * p->rank; f < (u + 1) * p->rank; ++f) {
            const int16_t *wt = p->weights_time + f * p->memory;
            const int16_t *s = state + f * p->memory;
            int32_t t = 0;
            for (int32_t j = 0; j < p->memory; ++j) {
                t = pm_add_wrap(t, (int32_t)wt[j] * s[j]);
            }
            acc = pm_add_wrap(acc, t);
        }
        int32_t y = pm_mbqm(acc, p->multiplier_2, p->shift_2) + p->output_offset;
        output[u] = (int8_t)pm_clamp(y, INT8_MIN, INT8_MAX);
    }
    return PM_OK;
}
