/* Per-layer hooks that do nothing: the generated model calls pm_hook_layer_begin/end around every layer
 * (the pixmcu harness uses them to time layers and checksum outputs). Link this file into your own
 * firmware unless you define the hooks yourself. */
#include "pm_hooks.h"

void pm_hook_layer_begin(int index)
{
    (void)index;
}

void pm_hook_layer_end(int index, const int8_t *output, uint32_t bytes)
{
    (void)index;
    (void)output;
    (void)bytes;
}
