/* pm_conv2d_packed4_s8 on packed 4-bit activations (pm_act4.h), one output row per call of the packed
 * body (pm_act4_conv.h); a packed output row is computed into scratch and packed out. A row's writes
 * land after all of its reads: the planner's row overlap rule. */
#include "pm_act4_conv.h"

int32_t pm_conv2d_packed4_a4_scratch_size(const pm_conv_a4_params_t *p)
{
    const pm_conv_packed_params_t *c = &p->conv;
    return (int32_t)(pm_a4_rows_bytes(c, p->input_packed, p->input_channels) +
                     (p->output_packed ? (size_t)c->output.w * c->output.c : 0));
}

int pm_conv2d_packed4_a4(const pm_conv_a4_params_t *p, const int8_t *input, int8_t *scratch, int8_t *output)
{
    if (p == NULL || scratch == NULL || ((uintptr_t)scratch & 3u) != 0) {
        return PM_ERR_ARG;
    }
    const pm_conv_packed_params_t *c = &p->conv;
    int status = pm_packed_check(c, input, output);
    if (status == PM_OK) {
        status = pm_a4_check(c, p->input_packed, p->input_channels, p->output_packed);
    }
    if (status != PM_OK) {
        return status;
    }
    const size_t out_row = (size_t)c->output.w * c->output.c;
    int8_t *const row_out = scratch + pm_a4_rows_bytes(c, p->input_packed, p->input_channels);
    pm_conv_packed_params_t s = *c;
    s.input.n = 1;
    s.output.n = 1;
    s.output.h = 1;
    for (int32_t b = 0; b < c->output.n; ++b) {
        for (int32_t oy = 0; oy < c->output.h; ++oy) {
            const int8_t *src = pm_a4_rows(c, p->input_packed, p->input_low, p->input_channels, input, b, oy,
                                           scratch, &s);
            const size_t o = ((size_t)b * c->output.h + oy) * out_row;
            int8_t *const dst = p->output_packed ? row_out : output + o;
            PM_PACKED_DISPATCH_W(&s, src, dst, PM_W4);
            if (p->output_packed) {
                pm_a4_pack(row_out, out_row, p->output_low, output + o / 2);
            }
        }
    }
    return PM_OK;
}
