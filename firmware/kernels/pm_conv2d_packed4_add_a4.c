/* pm_conv2d_packed4_add_s8 on packed 4-bit tensors (pm_act4.h), one output row per call (pm_act4_conv.h):
 * the residual row is unpacked into scratch before the row is written, so the sum may be stored over the
 * residual even where it is stored smaller (a packed sum over an int8 residual). */
#include "pm_act4_conv.h"

static size_t pm_a4_res_bytes(const pm_conv_add_a4_params_t *p)
{
    return p->residual_packed ? pm_a4_round4((size_t)p->add.conv.output.w * p->add.conv.output.c) : 0;
}

int32_t pm_conv2d_packed4_add_a4_scratch_size(const pm_conv_add_a4_params_t *p)
{
    const pm_conv_packed_params_t *c = &p->add.conv;
    return (int32_t)(pm_a4_rows_bytes(c, p->input_packed, p->input_channels) + pm_a4_res_bytes(p) +
                     (p->output_packed ? (size_t)c->output.w * c->output.c : 0));
}

int pm_conv2d_packed4_add_a4(const pm_conv_add_a4_params_t *p, const int8_t *input, const int8_t *residual,
                             int8_t *scratch, int8_t *output)
{
    if (p == NULL || residual == NULL || scratch == NULL || ((uintptr_t)scratch & 3u) != 0) {
        return PM_ERR_ARG;
    }
    const pm_conv_packed_params_t *c = &p->add.conv;
    int status = pm_packed_check(c, input, output);
    if (status == PM_OK) {
        status = pm_a4_check(c, p->input_packed, p->input_channels, p->output_packed);
    }
    if (status == PM_OK && p->residual_packed && c->output.c % 2 != 0) {
        status = PM_ERR_SHAPE;
    }
    if (status != PM_OK) {
        return status;
    }
    const size_t out_row = (size_t)c->output.w * c->output.c;
    int8_t *const res_row = scratch + pm_a4_rows_bytes(c, p->input_packed, p->input_channels);
    int8_t *const row_out = res_row + pm_a4_res_bytes(p);
    pm_conv_packed_add_params_t s = p->add;
    s.conv.input.n = 1;
    s.conv.output.n = 1;
    s.conv.output.h = 1;
    for (int32_t b = 0; b < c->output.n; ++b) {
        for (int32_t oy = 0; oy < c->output.h; ++oy) {
            const int8_t *src = pm_a4_rows(c, p->input_packed, p->input_low, p->input_channels, input, b, oy,
                                           scratch, &s.conv);
            const size_t o = ((size_t)b * c->output.h + oy) * out_row;
            const int8_t *res = residual + o;
            if (p->residual_packed) {
                pm_a4_unpack(residual + o / 2, out_row, p->residual_low, res_row);
                res = res_row;
            }
            int8_t *const dst = p->output_packed ? row_out : output + o;
            status = pm_packed_add_run(&s, src, res, dst, PM_W4);
            if (status != PM_OK) {
                return status;
            }
            if (p->output_packed) {
                pm_a4_pack(row_out, out_row, p->output_low, output + o / 2);
            }
        }
    }
    return PM_OK;
}
