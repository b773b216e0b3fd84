/* Harness-internal: the model's I/O buffers and the two ways of feeding them. */
#ifndef PM_HARNESS_H
#define PM_HARNESS_H

#include <stdint.h>

#include "pm_model.h"

extern int8_t pm_input[PM_MODEL_INPUT_BYTES];
extern int8_t pm_output[PM_MODEL_OUTPUT_BYTES];

/* Serve the serial protocol forever (BYE ends the program on QEMU). */
void pm_serve(int init_status) __attribute__((noreturn));

/* Bulk mode (semihosting files); returns the exit status. */
int pm_bulk_requested(void);
int pm_bulk_run(int init_status);

#endif /* PM_HARNESS_H */
