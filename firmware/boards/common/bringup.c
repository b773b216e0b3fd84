/* Bounded waits and the clock status that pm_port_clock_hz/pm_port_status report in HELLO_ACK.
 * Ports that never call pm_clock_set (QEMU) report their nominal clock and no fallback. */
#include "pm_bringup.h"
#include "pm_port.h"
#include "pm_protocol.h"

#ifndef PM_CLOCK_FALLBACK
#define PM_CLOCK_FALLBACK 1
#endif

static uint32_t clock_hz = PM_BOARD_CLOCK_HZ;
static uint8_t status;

int pm_wait_bits(volatile uint32_t *reg, uint32_t mask, uint32_t want, uint32_t polls)
{
    for (uint32_t i = 0; i < polls; i++) {
        if ((*reg & mask) == want) {
            return 1;
        }
    }
    return 0;
}

int pm_clock_wait(volatile uint32_t *reg, uint32_t mask, uint32_t want)
{
#if PM_CLOCK_FALLBACK
    return pm_wait_bits(reg, mask, want, PM_BRINGUP_POLLS);
#else
    while ((*reg & mask) != want) {
    }
    return 1;
#endif
}

#ifdef PM_BOARD_FALLBACK_CLOCK_HZ
void pm_clock_set(uint8_t failed_step)
{
    clock_hz = failed_step ? PM_BOARD_FALLBACK_CLOCK_HZ : PM_BOARD_CLOCK_HZ;
    status = failed_step ? (uint8_t)(PM_FLAG_CLOCK_FALLBACK | failed_step << PM_CLOCK_STEP_SHIFT) : 0u;
}
#endif

uint32_t pm_port_clock_hz(void) { return clock_hz; }

uint8_t pm_port_status(void) { return status; }
