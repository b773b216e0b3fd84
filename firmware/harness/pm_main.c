/* Entry point of the on-device harness: bring the board up, initialise the model, then serve the
 * serial protocol (or, on QEMU when asked on the semihosting command line, run the bulk files). */
#include "pm_board_config.h"
#include "pm_harness.h"
#include "pm_port.h"

int8_t pm_input[PM_MODEL_INPUT_BYTES] __attribute__((aligned(16)));
int8_t pm_output[PM_MODEL_OUTPUT_BYTES] __attribute__((aligned(16)));

int main(void)
{
    pm_port_init();
    int init_status = pm_model_init();
#if PM_HAVE_SEMIHOSTING
    if (pm_bulk_requested()) {
        pm_port_exit(pm_bulk_run(init_status));
    }
#endif
    pm_serve(init_status);
}
