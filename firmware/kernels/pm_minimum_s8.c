/* TFLM's int8 MINIMUM: raw values compared, no rescaling (the converter gives inputs and output one
 * quantization; TFLM does not check it, neither does pixmcu). */
#include "pm_broadcast.h"

int pm_minimum_s8(const pm_binary_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    return pm_extremum_s8(p, input1, input2, output, 0);
}
