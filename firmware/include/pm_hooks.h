/**
 * @file pm_hooks.h
 * @brief Per-layer hooks that generated model code calls around every layer.
 *
 * Whatever links a generated model defines both: the on-device harness (per-layer counts and
 * output checksums) and the host runner (per-layer dumps). They must not change the output.
 */
#ifndef PM_HOOKS_H
#define PM_HOOKS_H

#include <stdint.h>

/** @brief Called immediately before layer @p index runs. */
void pm_hook_layer_begin(int index);

/**
 * @brief Called immediately after layer @p index has written its output.
 * @param index  layer index, as in manifest.json's "layers".
 * @param output the layer's output tensor in the arena.
 * @param bytes  size of that output in bytes.
 */
void pm_hook_layer_end(int index, const int8_t *output, uint32_t bytes);

#endif /* PM_HOOKS_H */
