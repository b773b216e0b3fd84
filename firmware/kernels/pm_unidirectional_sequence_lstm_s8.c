/* TFLM's integer LSTM (int8 input, weights and hidden state, int16 cell state), batch 1. A unit's four
 * gates need only its own weight rows and the previous hidden state, and its cell update only its own
 * cell value: so each unit is finished before the next, its new hidden value written to the step's
 * output row, which becomes the hidden state once the step is done. No scratch buffer. */
#include <string.h>

#include "pm_kernels.h"
#include "pm_requant.h"

enum { GATE_INPUT, GATE_FORGET, GATE_CELL, GATE_OUTPUT, GATES };

static int16_t clamp16(int32_t v)
{
    return (int16_t)pm_clamp(v, INT16_MIN, INT16_MAX);
}

/* One gate FC into Q3.12: TFLM's int8 FULLY_CONNECTED with an int16 output. */
static int32_t fc16(const int8_t *w, const int8_t *v, int32_t n, int32_t offset, int32_t bias, int32_t m,
                    int32_t s)
{
    int32_t acc = 0;
    for (int32_t k = 0; k < n; ++k) {
        acc = pm_add_wrap(acc, (int32_t)w[k] * ((int32_t)v[k] + offset));
    }
    return clamp16(pm_mbqm(pm_add_wrap(acc, bias), m, s));
}

static int16_t sigmoid_like(const pm_lstm_params_t *p, int16_t x, int32_t multiplier, int32_t shift, int tanh)
{
    const pm_sigmoid16_params_t sp = {1, multiplier, shift, p->table};
    int16_t y = 0;
    (void)(tanh ? pm_tanh_s16(&sp, &x, &y) : pm_logistic_s16(&sp, &x, &y));
    return y;
}

int pm_unidirectional_sequence_lstm_s8(const pm_lstm_params_t *p, const int8_t *input, int8_t *hidden,
                                        int16_t *cell, int8_t *output)
{
    if (p == NULL || p->input_weights == NULL || p->recurrent_weights == NULL || p->bias == NULL ||
        p->gate_requant == NULL || p->table == NULL || input == NULL || hidden == NULL || cell == NULL ||
        output == NULL || p->steps <= 0 || p->input_size <= 0 || p->units <= 0) {
        return PM_ERR_ARG;
    }
    const int32_t n_in = p->input_size, units = p->units;
    const int32_t *rq = p->gate_requant; /* per gate: input m, s, recurrent m, s */
    for (int32_t t = 0; t < p->steps; ++t) {
        const int8_t *x = input + t * n_in;
        int8_t *h_out = output + t * units;
        for (int32_t u = 0; u < units; ++u) {
            int16_t g[GATES];
            for (int32_t k = 0; k < GATES; ++k) {
                const int32_t a = fc16(p->input_weights + (k * units + u) * n_in, x, n_in, p->input_offset,
                                       p->bias[k * units + u], rq[4 * k], rq[4 * k + 1]);
                const int32_t b = fc16(p->recurrent_weights + (k * units + u) * units, hidden, units,
                                       -p->hidden_zero_point, 0, rq[4 * k + 2], rq[4 * k + 3]);
                g[k] = sigmoid_like(p, clamp16(a + b), 3, 0, k == GATE_CELL); /* Q3.12 -> Q0.15 */
            }
            const int32_t kept = clamp16(pm_mbqm((int32_t)g[GATE_FORGET] * cell[u], p->forget_multiplier,
                                                 p->forget_shift));
            const int32_t added = clamp16(pm_mbqm((int32_t)g[GATE_INPUT] * g[GATE_CELL], p->input_mul_multiplier,
                                                  p->input_mul_shift));
            int32_t c = clamp16(kept + added);
            if (p->cell_clip > 0) {
                c = pm_clamp(c, -p->cell_clip, p->cell_clip);
            }
            cell[u] = (int16_t)c;
            const int16_t tc = sigmoid_like(p, (int16_t)c, p->tanh_multiplier, p->tanh_shift, 1);
            const int32_t h = pm_mbqm((int32_t)tc * g[GATE_OUTPUT], p->output_multiplier, p->output_shift) +
                              p->hidden_zero_point;
            h_out[u] = (int8_t)pm_clamp(h, INT8_MIN, INT8_MAX);
        }
        memcpy(hidden, h_out, (size_t)units);
    }
    return PM_OK;
}
