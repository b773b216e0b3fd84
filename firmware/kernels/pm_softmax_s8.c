/* TFLM's int8 softmax (reference_ops::Softmax, quantized): gemmlowp fixed-point exp of the rescaled
 * differences to the row maximum, sum in Q12, reciprocal by Newton-Raphson, output in 1/256 steps.
 * pixmcu/reference/softmax.py is the executable spec; the names below follow gemmlowp's. */
#include "pm_kernels.h"
#include "pm_requant.h"

#define PM_SOFTMAX_DIFF_INT_BITS 5
#define PM_SOFTMAX_ACC_INT_BITS 12

/* Q0 in [-1/4, 0) -> exp, Q0: Taylor series around -1/8. */
static int32_t pm_exp_quarter(int32_t a)
{
    const int32_t constant_term = 1895147668;
    const int32_t constant_1_over_3 = 715827883;
    const int32_t x = pm_add_wrap(a, 1 << 28);
    const int32_t x2 = pm_srdhm(x, x);
    const int32_t x3 = pm_srdhm(x2, x);
    const int32_t x4 = pm_srdhm(x2, x2);
    const int32_t x4_over_4 = pm_sat_mul_pot(x4, -2);
    const int32_t poly =
        pm_sat_mul_pot(pm_add_wrap(pm_srdhm(pm_add_wrap(x4_over_4, x3), constant_1_over_3), x2), -1);
    return pm_add_wrap(constant_term, pm_srdhm(constant_term, pm_add_wrap(x, poly)));
}

/* Q5 input <= 0 -> exp, Q0. */
static int32_t pm_exp_on_negative_values(int32_t a)
{
    static const int32_t barrel[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int fractional_bits = 31 - PM_SOFTMAX_DIFF_INT_BITS;
    const int32_t one_quarter = (int32_t)1 << (fractional_bits - 2);
    const int32_t mask = one_quarter - 1;
    const int32_t a_mod_quarter_minus_one_quarter = pm_sub_wrap(a & mask, one_quarter);
    int32_t result = pm_exp_quarter(pm_sat_mul_pot(a_mod_quarter_minus_one_quarter, PM_SOFTMAX_DIFF_INT_BITS));
    const int32_t remainder = pm_sub_wrap(a_mod_quarter_minus_one_quarter, a);
    for (int e = -2; e <= 4; ++e) {
        if (PM_SOFTMAX_DIFF_INT_BITS > e) {
            const uint32_t bit = (uint32_t)1 << (fractional_bits + e);
            if (((uint32_t)remainder & bit) != 0u) {
                result = pm_srdhm(result, barrel[e + 2]);
            }
        }
    }
    return a == 0 ? INT32_MAX : result;
}

/* Q0 x in [0, 1) -> 1 / (1 + x), Q0. */
static int32_t pm_one_over_one_plus_x(int32_t a)
{
    /* gemmlowp RoundingHalfSum(a, One) with C's truncating division. */
    int64_t t = (int64_t)a + INT32_MAX;
    t += t >= 0 ? 1 : -1;
    const int32_t half_denominator = (int32_t)(t / 2);
    const int32_t constant_48_over_17 = 1515870810;
    const int32_t constant_neg_32_over_17 = -1010580540;
    const int32_t one_q2 = (int32_t)1 << 29;
    int32_t x = pm_add_wrap(constant_48_over_17, pm_srdhm(half_denominator, constant_neg_32_over_17));
    for (int i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = pm_srdhm(half_denominator, x);
        const int32_t one_minus = pm_sub_wrap(one_q2, half_denominator_times_x);
        x = pm_add_wrap(x, pm_sat_mul_pot(pm_srdhm(x, one_minus), 2));
    }
    return pm_sat_mul_pot(x, 1);
}

static int pm_clz32(uint32_t x)
{
    int n = 0;
    if (x == 0u) {
        return 32;
    }
    while ((x & 0x80000000u) == 0u) {
        x <<= 1;
        ++n;
    }
    return n;
}

int pm_softmax_s8(const pm_softmax_params_t *p, const int8_t *input, int8_t *output)
{
    if (p == NULL || input == NULL || output == NULL || p->depth < 1 || p->input_left_shift < 0 ||
        p->input_left_shift > 31) {
        return PM_ERR_ARG;
    }
    for (int32_t row = 0; row < p->outer; ++row) {
        const int8_t *x = input + (size_t)row * p->depth;
        int8_t *y = output + (size_t)row * p->depth;
        int32_t max_in_row = -128;
        for (int32_t i = 0; i < p->depth; ++i) {
            max_in_row = x[i] > max_in_row ? x[i] : max_in_row;
        }
        int32_t sum_of_exps = 0;
        for (int32_t i = 0; i < p->depth; ++i) {
            const int32_t diff = (int32_t)x[i] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t rescaled = pm_srdhm(pm_shl_wrap(diff, p->input_left_shift), p->input_multiplier);
                sum_of_exps = pm_add_wrap(sum_of_exps,
                                          pm_rdbpot(pm_exp_on_negative_values(rescaled), PM_SOFTMAX_ACC_INT_BITS));
            }
        }
        const int headroom_plus_one = pm_clz32((uint32_t)sum_of_exps);
        const int num_bits_over_unit = PM_SOFTMAX_ACC_INT_BITS - headroom_plus_one;
        const int32_t shifted_sum_minus_one =
            (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - ((uint32_t)1 << 31));
        const int32_t shifted_scale = pm_one_over_one_plus_x(shifted_sum_minus_one);
        const int exponent = num_bits_over_unit + 31 - 8;
        for (int32_t i = 0; i < p->depth; ++i) {
            const int32_t diff = (int32_t)x[i] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t rescaled = pm_srdhm(pm_shl_wrap(diff, p->input_left_shift), p->input_multiplier);
                const int32_t e = pm_exp_on_negative_values(rescaled);
                const int32_t unsat = pm_rdbpot(pm_srdhm(shifted_scale, e), exponent);
                y[i] = (int8_t)pm_clamp(unsat - 128, -128, 127);
            } else {
                y[i] = -128;
            }
        }
    }
    return PM_OK;
}
