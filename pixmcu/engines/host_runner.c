/* Host runner for generated models: runs pm_model_invoke over a file of inputs.
 *
 * usage: host_runner INPUTS N OUTPUTS [LAYERS]
 *   INPUTS  N * PM_MODEL_INPUT_BYTES raw input values
 *   OUTPUTS receives N * PM_MODEL_OUTPUT_BYTES raw output values
 *   LAYERS  (optional) receives every layer's output bytes, layer after layer, sample after sample
 * Exit status: 0 on success, 2 on bad usage or I/O, 3 when the model returns an error.
 */
#include <stdio.h>
#include <stdlib.h>

#include "pm_hooks.h"
#include "pm_model.h"

static FILE *layer_file;

void pm_hook_layer_begin(int index)
{
    (void)index;
}

void pm_hook_layer_end(int index, const int8_t *output, uint32_t bytes)
{
    (void)index;
    if (layer_file != NULL && fwrite(output, 1, bytes, layer_file) != bytes) {
        fprintf(stderr, "host_runner: cannot write layer %d\n", index);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: %s INPUTS N OUTPUTS [LAYERS]\n", argv[0]);
        return 2;
    }
    const long n = strtol(argv[2], NULL, 10);
    FILE *in = fopen(argv[1], "rb");
    FILE *out = fopen(argv[3], "wb");
    if (in == NULL || out == NULL || n < 0) {
        fprintf(stderr, "host_runner: cannot open files\n");
        return 2;
    }
    if (argc == 5) {
        layer_file = fopen(argv[4], "wb");
        if (layer_file == NULL) {
            fprintf(stderr, "host_runner: cannot open %s\n", argv[4]);
            return 2;
        }
    }
    int8_t *x = malloc(PM_MODEL_INPUT_BYTES);
    int8_t *y = malloc(PM_MODEL_OUTPUT_BYTES);
    if (x == NULL || y == NULL) {
        return 2;
    }
    int status = pm_model_init();
    if (status != 0) {
        fprintf(stderr, "host_runner: init failed with %d\n", status);
        return 3;
    }
    for (long i = 0; i < n; ++i) {
        if (fread(x, 1, PM_MODEL_INPUT_BYTES, in) != (size_t)PM_MODEL_INPUT_BYTES) {
            fprintf(stderr, "host_runner: short input at sample %ld\n", i);
            return 2;
        }
        status = pm_model_invoke(x, y);
        if (status != 0) {
            fprintf(stderr, "host_runner: invoke failed with %d at sample %ld\n", status, i);
            return 3;
        }
        if (fwrite(y, 1, PM_MODEL_OUTPUT_BYTES, out) != (size_t)PM_MODEL_OUTPUT_BYTES) {
            return 2;
        }
    }
    free(x);
    free(y);
    fclose(in);
    if (fclose(out) != 0 || (layer_file != NULL && fclose(layer_file) != 0)) {
        return 2;
    }
    return 0;
}
