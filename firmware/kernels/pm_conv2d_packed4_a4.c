/* pm_conv2d_packed4_s8 on packed 4-bit activations (pm_act4.h), one output row per call of the packed
 * body: the rows its windows read are unpacked into scratch (a packed input) and the row is computed
 * into scratch, then packed out (a packed output). Rows keep the planner's overlap rule simple: a row's
 * writes land after all of its reads. */
#include "pm_act4_common.h"
#include "pm_conv_packed.h"

static size_t pm_a4_round4(size_t n)
{
    return (n + 3u) & ~(size_t)3u;
}

int32_t pm_conv2d_packed4_a4_scratch_size(const pm_conv_a4_params_t *p)
{
    const pm_conv_packed_params_t *c = &p->conv;
    size_t n = 0;
    if (p->input_packed) {
        n += pm_a4_round4((size_t)c->filter.h * c->input.w * c->input.c);
    }
    if (p->output_packed) {
        n += (size_t)c->output.w * c->output.c;
    }
    return (int32_t)n;
}

int pm_conv2d_packed4_a4(const pm_conv_a4_params_t *p, const int8_t *input, int8_t *scratch, int8_t *output)
{
    if (p == NULL || scratch == NULL || ((uintptr_t)scratch & 3u) != 0) {
        return PM_ERR_ARG;
    }
    const pm_conv_packed_params_t *c = &p->conv;
    const int status = pm_packed_check(c, input, output);
    if (status != PM_OK) {
        return status;
    }
    if (p->output_packed && c->output.c % 2 != 0) {
        return PM_ERR_SHAPE;
    }
    const int32_t in_h = c->input.h, kh = c->filter.h;
    const size_t in_row = (size_t)c->input.w * c->input.c, out_row = (size_t)c->output.w * c->output.c;
    int8_t *const rows = scratch;
    int8_t *const row_out = scratch + (p->input_packed ? pm_a4_round4((size_t)kh * in_row) : 0);
    pm_conv_packed_params_t s = *c;
    s.input.n = 1;
    s.output.n = 1;
    s.output.h = 1;
    for (int32_t b = 0; b < c->output.n; ++b) {
        for (int32_t oy = 0; oy < c->output.h; ++oy) {
            const int32_t y = oy * c->stride_h - c->pad_h;
            const int32_t ya = y < 0 ? 0 : (y > in_h ? in_h : y);
            const int32_t yb = y + kh < ya ? ya : (y + kh > in_h ? in_h : y + kh);
            const size_t first = ((size_t)b * in_h + ya) * in_row, count = (size_t)(yb - ya) * in_row;
            const int8_t *src = input + first;
            if (p->input_packed) {
                pm_a4_unpack(input + first / 2, count, p->input_low, rows);
                src = rows;
            }
            s.input.h = yb - ya;
            s.pad_h = ya - y;
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
