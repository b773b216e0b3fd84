/* Test-only exports of the static inline requantization helpers in pm_requant.h (over arrays). */
#include "pm_requant.h"

void shim_srdhm(const int32_t *a, const int32_t *b, int32_t *out, int n)
{
    for (int i = 0; i < n; ++i) {
        out[i] = pm_srdhm(a[i], b[i]);
    }
}

void shim_rdbpot(const int32_t *x, const int32_t *e, int32_t *out, int n)
{
    for (int i = 0; i < n; ++i) {
        out[i] = pm_rdbpot(x[i], e[i]);
    }
}

void shim_mbqm(const int32_t *x, const int32_t *m, const int32_t *s, int32_t *out, int n)
{
    for (int i = 0; i < n; ++i) {
        out[i] = pm_mbqm(x[i], m[i], s[i]);
    }
}

void shim_sat_mul_pot(const int32_t *x, const int32_t *e, int32_t *out, int n)
{
    for (int i = 0; i < n; ++i) {
        out[i] = pm_sat_mul_pot(x[i], e[i]);
    }
}
