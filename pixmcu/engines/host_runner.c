/* Host runner for generated models: runs pm_model_invoke over a file of inputs.
 *
 * usage: host_runner INPUT_BYTES OUTPUT_BYTES INPUTS N OUTPUTS [LAYERS]
 *   INPUTS  N * INPUT_BYTES raw input values (the model's PM_MODEL_INPUT_BYTES)
 *   OUTPUTS receives N * OUTPUT_BYTES raw output values (PM_MODEL_OUTPUT_BYTES)
 *   LAYERS  (optional) receives every layer's output bytes, layer after layer, sample after sample
 * Exit status: 0 on success, 2 on bad usage or I/O, 3 when the model returns an error.
 * The sizes come from the command line, not the generated pm_model.h, so one compiled runner serves
 * every model (pixmcu/engines/host_c.py caches it); the buffers are exactly that long, so ASan sees
 * any read or write past the model's input or output.
 */
#include <stdio.h>
#include <stdlib.h>

#include "pm_hooks.h"

/* The generic entry points of every generated model (docs/contracts.md). */
int pm_model_init(void);
int pm_model_invoke(const int8_t *input, int8_t *output);

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
    if (argc != 6 && argc != 7) {
        fprintf(stderr, "usage: %s INPUT_BYTES OUTPUT_BYTES INPUTS N OUTPUTS [LAYERS]\n", argv[0]);
        return 2;
    }
    const long in_bytes = strtol(argv[1], NULL, 10);
    const long out_bytes = strtol(argv[2], NULL, 10);
    const long n = strtol(argv[4], NULL, 10);
    FILE *in = fopen(argv[3], "rb");
    FILE *out = fopen(argv[5], "wb");
    if (in == NULL || out == NULL || n < 0 || in_bytes < 1 || out_bytes < 1) {
        fprintf(stderr, "host_runner: cannot open files\n");
        return 2;
    }
    if (argc == 7) {
        layer_file = fopen(argv[6], "wb");
        if (layer_file == NULL) {
            fprintf(stderr, "host_runner: cannot open %s\n", argv[6]);
            return 2;
        }
    }
    int8_t *x = malloc((size_t)in_bytes);
    int8_t *y = malloc((size_t)out_bytes);
    if (x == NULL || y == NULL) {
        return 2;
    }
    int status = pm_model_init();
    if (status != 0) {
        fprintf(stderr, "host_runner: init failed with %d\n", status);
        return 3;
    }
    for (long i = 0; i < n; ++i) {
        if (fread(x, 1, (size_t)in_bytes, in) != (size_t)in_bytes) {
            fprintf(stderr, "host_runner: short input at sample %ld\n", i);
            return 2;
        }
        status = pm_model_invoke(x, y);
        if (status != 0) {
            fprintf(stderr, "host_runner: invoke failed with %d at sample %ld\n", status, i);
            return 3;
        }
        if (fwrite(y, 1, (size_t)out_bytes, out) != (size_t)out_bytes) {
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
