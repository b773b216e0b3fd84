/* Thin adapter from the code generator's calling convention (params struct, input, scratch, output;
 * an int status) to pm_first_folded_s16 (one file per variant, so a model links only the kernel it calls). */
#include <stddef.h>

#include "pm_first_layer.h"

#define PM_FIRST_OK 0
#define PM_FIRST_ERR_ARG (-1)

int pm_first_folded_s16_layer(const pm_first_params_t *p, const uint8_t *pixels, void *scratch, int8_t *out)
{
    (void)scratch;
    if (p == NULL || pixels == NULL || out == NULL || p->table16 == NULL) {
        return PM_FIRST_ERR_ARG;
    }
    pm_first_folded_s16(&p->geom, pixels, p->table16, p->widen_every, p->lane_bias, &p->rq, out);
    return PM_FIRST_OK;
}
